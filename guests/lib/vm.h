/* vm.h — guest runtime: the runtime's own 4-level page tables. The first
 * 4 GiB are mapped 1:1: 0-4 MiB (the image, stacks, test pages) with 4 KiB
 * pages, the rest with 2 MiB pages that vm_pte() splits on demand. Every
 * entry is present, writable and user-accessible (U/S=1 at all levels, so
 * CPL3 code can run anything in the image), except page 0, which is not
 * present. EFER.NXE is set. Tests change single 4 KiB pages.
 */
#ifndef GUEST_VM_H
#define GUEST_VM_H

#include <stdint.h>

#define PAGE_SIZE 4096ull
#define LARGE_PAGE_SIZE (2ull << 20)
#define VM_4K_MAPPED_END (4ull << 20)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

void vm_init(void);

/* The leaf PTE mapping va (< 4 GiB), splitting a 2 MiB page if needed. */
uint64_t *vm_pte(const volatile void *va);
/* The PDE covering va. */
uint64_t *vm_pde(const volatile void *va);
/* *pte = (*pte | set) & ~clear, then INVLPG va. Returns the old PTE. */
uint64_t vm_set_pte_flags(const volatile void *va, uint64_t set, uint64_t clear);

/* A zeroed, 4 KiB-mapped page from a small pool (32 pages); never freed. */
void *alloc_page(void);

#endif
