/* mem.c — guest physical memory (see mem.h). */
#include "mem/mem.h"

#include <stdlib.h>
#include <sys/mman.h>

int gmem_init(struct gmem *m, uint64_t size)
{
    m->ram = NULL;
    m->code = NULL;
    m->code_pages = NULL;
    m->code_count = m->code_cap = 0;
    m->size = 0;
    if (size == 0 || (size & (GMEM_PAGE_SIZE - 1)) != 0)
        return -1;
    /* mmap gives zeroed pages lazily, so a large --mem costs nothing until touched. */
    void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (ram == MAP_FAILED)
        return -1;
    m->code = calloc(size >> GMEM_PAGE_SHIFT, 1);
    if (!m->code) {
        munmap(ram, size);
        return -1;
    }
    m->ram = ram;
    m->size = size;
    return 0;
}

void gmem_fini(struct gmem *m)
{
    if (m->ram)
        munmap(m->ram, m->size);
    free(m->code);
    free(m->code_pages);
    m->ram = NULL;
    m->code = NULL;
    m->code_pages = NULL;
    m->code_count = m->code_cap = 0;
    m->size = 0;
}

bool gmem_mark_code(struct gmem *m, uint64_t page)
{
    if (m->code[page])
        return false;
    if (m->code_count == m->code_cap) {
        uint64_t cap = m->code_cap ? m->code_cap * 2 : 64;
        uint64_t *p = realloc(m->code_pages, cap * sizeof(*p));
        if (!p)
            return false; /* not marked: writes to it stay fast, decodes stay valid
                           * until the next flush (FIXME: no memory to track it) */
        m->code_pages = p;
        m->code_cap = cap;
    }
    m->code[page] = 1;
    m->code_pages[m->code_count++] = page;
    return true;
}

void gmem_clear_code(struct gmem *m)
{
    for (uint64_t i = 0; i < m->code_count; i++)
        m->code[m->code_pages[i]] = 0;
    m->code_count = 0;
}
