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

/* The code marks: which 64-byte lines of a page hold bytes the CPU decoded
 * (a store elsewhere in the page is data beside code and costs nothing),
 * in a fixed table of at most GMEM_CODE_MAX pages, so that marking never
 * allocates and forgetting costs the table, not RAM. */
#define GMEM_CODE_SLOTS 16384u
#define GMEM_CODE_MAX (GMEM_CODE_SLOTS / 2)

struct gmem_code {
    uint64_t page;   /* GMEM_CODE_EMPTY if the slot is free */
    uint64_t lines;  /* bit n: bytes 64n..64n+63 of the page hold code */
};
#define GMEM_CODE_EMPTY UINT64_MAX

struct gmem {
    uint8_t *ram;
    uint64_t size;   /* bytes, a multiple of the page size */
    uint8_t *code;   /* one byte per page: non-zero while the page is marked */
    struct gmem_code *code_tab; /* GMEM_CODE_SLOTS, open addressing */
    uint64_t code_count;
};

enum gmem_mark {
    GMEM_MARK_OLD,   /* the page was marked already (lines added) */
    GMEM_MARK_NEW,   /* the page is newly marked */
    GMEM_MARK_FULL,  /* no room: nothing marked (forget every mark first) */
};
/* Marks lines of page (a page number) as holding decoded code. */
enum gmem_mark gmem_mark_code(struct gmem *m, uint64_t page, uint64_t lines);
/* The lines of page that hold code (0 if it is not marked). */
uint64_t gmem_code_lines(const struct gmem *m, uint64_t page);
/* Forgets page's mark. */
void gmem_unmark_code(struct gmem *m, uint64_t page);
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
