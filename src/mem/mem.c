/* mem.c — guest physical memory (see mem.h). */
#include "mem/mem.h"

#include <stdlib.h>
#include <sys/mman.h>

int gmem_init(struct gmem *m, uint64_t size)
{
    m->ram = NULL;
    m->code = NULL;
    m->code_tab = NULL;
    m->code_count = 0;
    m->size = 0;
    if (size == 0 || (size & (GMEM_PAGE_SIZE - 1)) != 0)
        return -1;
    /* mmap gives zeroed pages lazily, so a large --mem costs nothing until touched. */
    void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (ram == MAP_FAILED)
        return -1;
    m->code = calloc(size >> GMEM_PAGE_SHIFT, 1);
    m->code_tab = malloc(GMEM_CODE_SLOTS * sizeof(*m->code_tab));
    if (!m->code || !m->code_tab) {
        free(m->code);
        free(m->code_tab);
        m->code = NULL;
        m->code_tab = NULL;
        munmap(ram, size);
        return -1;
    }
    for (unsigned i = 0; i < GMEM_CODE_SLOTS; i++)
        m->code_tab[i] = (struct gmem_code){ .page = GMEM_CODE_EMPTY, .lines = 0 };
    m->ram = ram;
    m->size = size;
    return 0;
}

void gmem_fini(struct gmem *m)
{
    if (m->ram)
        munmap(m->ram, m->size);
    free(m->code);
    free(m->code_tab);
    m->ram = NULL;
    m->code = NULL;
    m->code_tab = NULL;
    m->code_count = 0;
    m->size = 0;
}

static unsigned code_home(uint64_t page)
{
    return (unsigned)((page * 0x9e3779b97f4a7c15ull) >> 50) & (GMEM_CODE_SLOTS - 1);
}

/* The slot holding page, or the free slot where it would go. */
static unsigned code_find(const struct gmem *m, uint64_t page)
{
    unsigned i = code_home(page);
    while (m->code_tab[i].page != page && m->code_tab[i].page != GMEM_CODE_EMPTY)
        i = (i + 1) & (GMEM_CODE_SLOTS - 1);
    return i;
}

enum gmem_mark gmem_mark_code(struct gmem *m, uint64_t page, uint64_t lines)
{
    unsigned i = code_find(m, page);
    if (m->code_tab[i].page == page) {
        m->code_tab[i].lines |= lines;
        return GMEM_MARK_OLD;
    }
    if (m->code_count >= GMEM_CODE_MAX)
        return GMEM_MARK_FULL;
    m->code_tab[i] = (struct gmem_code){ .page = page, .lines = lines };
    m->code_count++;
    m->code[page] = 1;
    return GMEM_MARK_NEW;
}

uint64_t gmem_code_lines(const struct gmem *m, uint64_t page)
{
    if (!m->code[page])
        return 0;
    unsigned i = code_find(m, page);
    return m->code_tab[i].page == page ? m->code_tab[i].lines : 0;
}

void gmem_unmark_code(struct gmem *m, uint64_t page)
{
    unsigned i = code_find(m, page);
    if (m->code_tab[i].page != page)
        return;
    m->code[page] = 0;
    m->code_count--;
    /* Backward-shift deletion: pull later members of the run into the gap
     * when the gap lies between their home and them. */
    for (unsigned j = (i + 1) & (GMEM_CODE_SLOTS - 1);; j = (j + 1) & (GMEM_CODE_SLOTS - 1)) {
        if (m->code_tab[j].page == GMEM_CODE_EMPTY)
            break;
        unsigned h = code_home(m->code_tab[j].page);
        bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
        if (movable) {
            m->code_tab[i] = m->code_tab[j];
            i = j;
        }
    }
    m->code_tab[i] = (struct gmem_code){ .page = GMEM_CODE_EMPTY, .lines = 0 };
}

void gmem_clear_code(struct gmem *m)
{
    if (m->code_count == 0)
        return;
    for (unsigned i = 0; i < GMEM_CODE_SLOTS; i++) {
        if (m->code_tab[i].page != GMEM_CODE_EMPTY)
            m->code[m->code_tab[i].page] = 0;
        m->code_tab[i] = (struct gmem_code){ .page = GMEM_CODE_EMPTY, .lines = 0 };
    }
    m->code_count = 0;
}
