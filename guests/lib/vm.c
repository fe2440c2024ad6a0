/* vm.c — guest runtime: builds the runtime's page tables (see vm.h), splits
 * 2 MiB pages, edits PTEs and hands out test pages.
 */
#include "vm.h"

#include "libguest.h"

#define PT_DEFAULT (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
#define SPLIT_POOL_PAGES 8
#define TEST_POOL_PAGES 32

typedef uint64_t page_table[512];

static page_table pml4 __attribute__((aligned(4096)));
static page_table pdpt __attribute__((aligned(4096)));
static page_table pd[4] __attribute__((aligned(4096)));
static page_table pt_low[VM_4K_MAPPED_END / LARGE_PAGE_SIZE] __attribute__((aligned(4096)));
static page_table split_pool[SPLIT_POOL_PAGES] __attribute__((aligned(4096)));
static unsigned split_used;
static char test_pool[TEST_POOL_PAGES][PAGE_SIZE] __attribute__((aligned(4096)));
static unsigned test_used;

void vm_init(void)
{
    for (unsigned i = 0; i < 4; i++) {
        pdpt[i] = (uint64_t)pd[i] | PT_DEFAULT;
        for (unsigned j = 0; j < 512; j++) {
            uint64_t pa = ((uint64_t)i << 30) | ((uint64_t)j << 21);
            pd[i][j] = pa | PT_DEFAULT | X86_PTE_PS;
        }
    }
    for (unsigned t = 0; t < VM_4K_MAPPED_END / LARGE_PAGE_SIZE; t++) {
        for (unsigned k = 0; k < 512; k++)
            pt_low[t][k] = (t * LARGE_PAGE_SIZE + k * PAGE_SIZE) | PT_DEFAULT;
        pd[0][t] = (uint64_t)pt_low[t] | PT_DEFAULT;
    }
    pt_low[0][0] = 0; /* catch null pointers */
    pml4[0] = (uint64_t)pdpt | PT_DEFAULT;

    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | X86_EFER_NXE);
    write_cr3((uint64_t)pml4);
}

uint64_t *vm_pde(const volatile void *va)
{
    uint64_t a = (uint64_t)va;

    if (a >> 32) {
        printf("vm_pde: %#lx is not below 4 GiB\n", a);
        guest_exit(2);
    }
    return &pd[a >> 30][(a >> 21) & 511];
}

uint64_t *vm_pte(const volatile void *va)
{
    uint64_t *pde = vm_pde(va);
    uint64_t *pt;

    if (*pde & X86_PTE_PS) {
        uint64_t base = *pde & ~(LARGE_PAGE_SIZE - 1) & PTE_ADDR_MASK;
        uint64_t flags = *pde & (0x1full | X86_PTE_A | X86_PTE_D | X86_PTE_G | X86_PTE_NX);

        if (split_used == SPLIT_POOL_PAGES) {
            printf("vm_pte: no page left to split %p\n", (void *)va);
            guest_exit(2);
        }
        pt = split_pool[split_used++];
        for (unsigned k = 0; k < 512; k++)
            pt[k] = (base + k * PAGE_SIZE) | flags;
        *pde = (uint64_t)pt | PT_DEFAULT;
        flush_tlb();
    }
    pt = (uint64_t *)(*pde & PTE_ADDR_MASK);
    return &pt[((uint64_t)va >> 12) & 511];
}

uint64_t vm_set_pte_flags(const volatile void *va, uint64_t set, uint64_t clear)
{
    uint64_t *pte = vm_pte(va);
    uint64_t old = *pte;

    *pte = (old | set) & ~clear;
    invlpg(va);
    return old;
}

void *alloc_page(void)
{
    if (test_used == TEST_POOL_PAGES) {
        printf("alloc_page: pool exhausted\n");
        guest_exit(2);
    }
    return test_pool[test_used++];
}
