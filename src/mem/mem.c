/* mem.c — guest physical memory (see mem.h). */
#include "mem/mem.h"

#include <stdlib.h>
#include <sys/mman.h>

int gmem_init(struct gmem *m, uint64_t size)
{
    m->ram = NULL;
    m->code = NULL;
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
    m->ram = NULL;
    m->code = NULL;
    m->size = 0;
}
