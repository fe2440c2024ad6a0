/* svm.c — guest runtime: the SVM harness (see svm.h). */
#include "svm.h"

#include "libguest.h"

#define PAGE_ALIGNED __attribute__((aligned(4096)))

static uint8_t hsave_page[4096] PAGE_ALIGNED;
static uint8_t host_state[4096] PAGE_ALIGNED; /* L1's VMLOAD state around VMRUN */
static struct vmcb vmcb_page PAGE_ALIGNED;
static uint8_t iopm_pages[SVM_IOPM_SIZE] PAGE_ALIGNED;
static uint8_t msrpm_pages[SVM_MSRPM_SIZE] PAGE_ALIGNED;
static uint8_t l2_stack[16384] __attribute__((aligned(16)));

struct vmcb *vmcb = &vmcb_page;
uint8_t *svm_iopm = iopm_pages;
uint8_t *svm_msrpm = msrpm_pages;
struct svm_gprs l2_regs;

static struct svm_test *current_test;

bool svm_supported(void)
{
    return cpuid(0x80000000).a >= 0x8000000a && (cpuid(0x80000001).c & (1u << 2));
}

bool npt_supported(void)
{
    return svm_supported() && (cpuid(0x8000000a).d & CPUID_SVM_NPT);
}

bool nrips_supported(void)
{
    return svm_supported() && (cpuid(0x8000000a).d & CPUID_SVM_NRIPS);
}

void svm_setup(void)
{
    wrmsr(MSR_VM_HSAVE_PA, (uint64_t)hsave_page);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | X86_EFER_SVME);
}

static inline void vmsave(void *pa)
{
    asm volatile("vmsave %%rax" : : "a"(pa) : "memory");
}

static inline void vmload(void *pa)
{
    asm volatile("vmload %%rax" : : "a"(pa) : "memory");
}

static void seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = 0xffffffff;
    s->base = 0;
}

static uint64_t read_dr(int n)
{
    uint64_t v;
    if (n == 6)
        asm volatile("mov %%dr6, %0" : "=r"(v));
    else
        asm volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

/* ---- nested page tables: identity of the first 4 GiB */

typedef uint64_t npt_table[512];
static npt_table npt_pml4 PAGE_ALIGNED;
static npt_table npt_pdpt PAGE_ALIGNED;
static npt_table npt_pd[4] PAGE_ALIGNED;
static npt_table npt_split[8] PAGE_ALIGNED;
static unsigned npt_split_used;
#define NPT_FLAGS (X86_PTE_P | X86_PTE_RW | X86_PTE_US)

uint64_t npt_ident_root(void)
{
    for (unsigned i = 0; i < 4; i++) {
        npt_pdpt[i] = (uint64_t)npt_pd[i] | NPT_FLAGS;
        for (unsigned j = 0; j < 512; j++)
            npt_pd[i][j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | NPT_FLAGS | X86_PTE_PS;
    }
    for (unsigned i = 4; i < 512; i++)
        npt_pdpt[i] = 0;
    npt_pml4[0] = (uint64_t)npt_pdpt | NPT_FLAGS;
    for (unsigned i = 1; i < 512; i++)
        npt_pml4[i] = 0;
    npt_split_used = 0;
    return (uint64_t)npt_pml4;
}

uint64_t *npt_pde(uint64_t gpa)
{
    return &npt_pd[(gpa >> 30) & 3][(gpa >> 21) & 511];
}

uint64_t *npt_pte(uint64_t gpa)
{
    uint64_t *pde = npt_pde(gpa);
    if (*pde & X86_PTE_PS) {
        if (npt_split_used == 8) {
            printf("npt_pte: no page left to split %#lx\n", gpa);
            guest_exit(2);
        }
        uint64_t *pt = npt_split[npt_split_used++];
        uint64_t base = *pde & 0x000fffffffe00000ull;
        for (unsigned k = 0; k < 512; k++)
            pt[k] = (base + k * 4096ull) | NPT_FLAGS;
        *pde = (uint64_t)pt | NPT_FLAGS;
    }
    uint64_t *pt = (uint64_t *)(*pde & 0x000ffffffffff000ull);
    return &pt[(gpa >> 12) & 511];
}

/* ---- the VMCB */

void vmcb_ident(struct vmcb *v)
{
    struct descriptor_table_ptr gdt, idt;
    memset(v, 0, sizeof(*v));
    vmsave(v);
    struct vmcb_save_area *s = &v->save;
    seg(&s->es, read_es(), 0x0c93);
    seg(&s->ss, read_ss(), 0x0c93);
    seg(&s->ds, read_ds(), 0x0c93);
    seg(&s->cs, read_cs(), 0x0a9b);
    sgdt(&gdt);
    sidt(&idt);
    s->gdtr.limit = gdt.limit;
    s->gdtr.base = gdt.base;
    s->idtr.limit = idt.limit;
    s->idtr.base = idt.base;
    s->cpl = 0;
    s->efer = rdmsr(MSR_EFER);
    s->cr0 = read_cr0();
    s->cr2 = read_cr2();
    s->cr3 = read_cr3();
    s->cr4 = read_cr4();
    s->dr6 = read_dr(6);
    s->dr7 = read_dr(7);
    s->rflags = X86_RFLAGS_FIXED;
    s->g_pat = rdmsr(MSR_IA32_CR_PAT);
    s->dbgctl = rdmsr(MSR_IA32_DEBUGCTL);

    struct vmcb_control_area *c = &v->control;
    vmcb_intercept(v, SVM_EXIT_VMRUN);
    vmcb_intercept(v, SVM_EXIT_VMMCALL);
    vmcb_intercept(v, SVM_EXIT_SHUTDOWN);
    memset(iopm_pages, 0, sizeof(iopm_pages));
    memset(msrpm_pages, 0, sizeof(msrpm_pages));
    c->iopm_base_pa = (uint64_t)iopm_pages;
    c->msrpm_base_pa = (uint64_t)msrpm_pages;
    c->asid = 1;
    c->tlb_ctl = 1; /* flush on every VMRUN: tests edit page tables in between */
    if (npt_supported()) {
        c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
        c->nested_cr3 = npt_ident_root();
    }
    memset(&l2_regs, 0, sizeof(l2_regs));
}

void vmcb_set_guest(struct vmcb *v, void (*rip)(void), void *stack_top)
{
    v->save.rip = (uint64_t)rip;
    /* As if called: RSP + 8 is 16-byte aligned at function entry. */
    v->save.rsp = ((uint64_t)stack_top & ~15ull) - 8;
}

/* ---- VMRUN */

#define SWAP_GPRS                                                              \
    "xchg %%rbx, l2_regs+0(%%rip)\n\t"                                         \
    "xchg %%rcx, l2_regs+8(%%rip)\n\t"                                         \
    "xchg %%rdx, l2_regs+16(%%rip)\n\t"                                        \
    "xchg %%rsi, l2_regs+24(%%rip)\n\t"                                        \
    "xchg %%rdi, l2_regs+32(%%rip)\n\t"                                        \
    "xchg %%rbp, l2_regs+40(%%rip)\n\t"                                        \
    "xchg %%r8, l2_regs+48(%%rip)\n\t"                                         \
    "xchg %%r9, l2_regs+56(%%rip)\n\t"                                         \
    "xchg %%r10, l2_regs+64(%%rip)\n\t"                                        \
    "xchg %%r11, l2_regs+72(%%rip)\n\t"                                        \
    "xchg %%r12, l2_regs+80(%%rip)\n\t"                                        \
    "xchg %%r13, l2_regs+88(%%rip)\n\t"                                        \
    "xchg %%r14, l2_regs+96(%%rip)\n\t"                                        \
    "xchg %%r15, l2_regs+104(%%rip)\n\t"

uint64_t svm_vmrun_vmcb(struct vmcb *v)
{
    vmsave(host_state);
    vmload(v);
    asm volatile("push %%rbp\n\t"
                 SWAP_GPRS
                 "vmrun %%rax\n\t"
                 SWAP_GPRS
                 "pop %%rbp\n\t"
                 : : "a"(v)
                 : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
                   "r14", "r15", "memory", "cc");
    vmsave(v);
    vmload(host_state);
    return v->control.exit_code;
}

/* ---- the test table */

/* L2's first instruction: the test body, then VMMCALL for as long as L1
 * resumes it. */
static void l2_main(void)
{
    if (current_test->guest)
        current_test->guest(current_test);
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

void vmcb_set_compat_mode(struct vmcb *v)
{
    seg(&v->save.cs, KERNEL_CS32, 0x0c9b);
}

void vmcb_set_user_mode(struct vmcb *v)
{
    v->save.cs.selector = USER_CS | 3;
    v->save.cs.attrib = 0x0afb;
    v->save.ss.selector = USER_DS | 3;
    v->save.ss.attrib = 0x0cf3;
    v->save.cpl = 3;
}

asm(".text\n.code32\n.globl l2_compat_vmmcall\nl2_compat_vmmcall:\n\t"
    "vmmcall\n\tjmp l2_compat_vmmcall\n.code64\n");

void vmcb_ident_guest(struct vmcb *v, void (*rip)(void))
{
    vmcb_ident(v);
    vmcb_set_guest(v, rip, l2_stack + sizeof(l2_stack));
}

void vmcb_restart_guest(struct vmcb *v)
{
    vmcb_set_guest(v, l2_main, l2_stack + sizeof(l2_stack));
}

bool default_finished(struct svm_test *t)
{
    return true;
}

bool succeeded_if_vmmcall(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL;
}

#define MAX_EXITS_PER_TEST 10000

void run_svm_tests(struct svm_test *tests, int n)
{
    for (int i = 0; i < n; i++) {
        struct svm_test *t = &tests[i];
        if (t->supported && !t->supported()) {
            report_skip("%s (not supported)", t->name);
            continue;
        }
        current_test = t;
        t->exits = 0;
        t->scratch = 0;
        vmcb_ident(vmcb);
        vmcb_set_guest(vmcb, l2_main, l2_stack + sizeof(l2_stack));
        if (t->prepare)
            t->prepare(t);
        bool (*finished)(struct svm_test *) = t->finished ? t->finished : default_finished;
        do {
            svm_vmrun();
            t->exits++;
        } while (!finished(t) && t->exits < MAX_EXITS_PER_TEST);
        bool (*succeeded)(struct svm_test *) = t->succeeded ? t->succeeded : succeeded_if_vmmcall;
        bool ok = succeeded(t);
        if (ok)
            report(true, "%s", t->name);
        else if (t->qemu_divergence)
            report_qemu_known(false, true, t->qemu_divergence, "%s (last exit 0x%lx)", t->name,
                              vmcb->control.exit_code);
        else
            report(false, "%s (last exit 0x%lx, info1 %#lx, info2 %#lx, rip %#lx)", t->name,
                   vmcb->control.exit_code, vmcb->control.exit_info_1,
                   vmcb->control.exit_info_2, vmcb->save.rip);
    }
}
