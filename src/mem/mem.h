/* mem.h — guest physical memory.
 *
 * Owns: the RAM buffer of one machine and the per-page "holds decoded code"
 * marks the CPU's decode cache uses to notice self-modifying code.
 * Must not: know about paging, the CPU or devices. Physical addresses outside
 * RAM are simply not memory (gmem_ptr returns NULL).
 */
#ifndef SVMSIM_MEM_H
#define SVMSIM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_PAGE_SHIFT 12
#define GMEM_PAGE_SIZE (1ull << GMEM_PAGE_SHIFT)

struct gmem {
    uint8_t *ram;
    uint64_t size;   /* bytes, a multiple of the page size */
    uint8_t *code;   /* one byte per page: non-zero while decoded code from it is cached */
    /* The marked pages, so that forgetting every mark costs what was marked,
     * not what RAM is (a store into code must not cost O(--mem)). */
    uint64_t *code_pages;
    uint64_t code_count, code_cap;
};

/* Marks page (a page number) as holding decoded code; returns false if it
 * already was. */
bool gmem_mark_code(struct gmem *m, uint64_t page);
/* Forgets every mark. */
void gmem_clear_code(struct gmem *m);

/* Allocates size bytes of zeroed RAM. Returns 0, or -1 (size 0, not a page
 * multiple, or no memory). */
int gmem_init(struct gmem *m, uint64_t size);
void gmem_fini(struct gmem *m);

/* Host pointer for [gpa, gpa + len), or NULL when any of it is not RAM. */
static inline uint8_t *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
    if (gpa >= m->size || len > m->size - gpa)
        return NULL;
    return m->ram + gpa;
}

static inline bool gmem_is_ram(const struct gmem *m, uint64_t gpa, uint64_t len)
{
    return gmem_ptr(m, gpa, len) != NULL;
}

#endif
