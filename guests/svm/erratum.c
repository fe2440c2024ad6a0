/* erratum.c — the RAX erratum and L0's #GP path (SPEC-GP.md §1, §2) as
 * guests see them, one image per configuration (tests/guest runs each with
 * its knobs; all with --host-reserved=0x3000000-0xffffffffffffffff, so that
 * any RAX from 48 MiB up, legal or not, raises the erratum #GP):
 *   ERRATUM_KVM71   default semantics (kvm-7.1)
 *   ERRATUM_KVM70   --semantics=kvm-7.0
 *   ERRATUM_ARCH    --semantics=architectural (and again with --vls)
 *   ERRATUM_VISIBLE --no-gp-erratum-intercept: the #GP reaches L1
 *   ERRATUM_ADDRCHK --svme-addr-chk: a CPU without the erratum
 * Each §2.3 row ("kvm-7.0 vs kvm-7.1") is checked under both, with the
 * result each must give.
 */
#include "libguest.h"

#define RESERVED 0x3000000ull        /* --host-reserved starts here */
#define RESERVED_TESTED 0x3100000ull /* KUT-SVM-19 walks [RESERVED, this) */
#define RAM_END 0x4000000ull         /* the default 64 MiB */

#if defined(ERRATUM_KVM70)
#define SEM "kvm-7.0"
#elif defined(ERRATUM_ARCH)
#define SEM "architectural"
#else
#define SEM "kvm-7.1"
#endif

__attribute__((unused)) static uint8_t l2_stack[4096] __attribute__((aligned(16)));
__attribute__((unused)) static uint8_t page_b[4096] __attribute__((aligned(4096)));

static bool exc_was(int vec)
{
    return exc_last.vector == vec && exc_last.error_code == 0 && exc_last.count == 1;
}

/* ---- L1: every page of the reserved range (KUT-SVM-19) */

static void test_l1_vmsave_everywhere(void)
{
    uint64_t bad = 0;
    unsigned pages = 0;
    for (uint64_t pa = RESERVED; pa < RESERVED_TESTED; pa += 0x2000, pages++) {
        exc_clear();
        asm volatile(ASM_TRY("vmsave %%rax") : : "a"(pa) : "memory");
        if (exc_vector() != -1 && !bad)
            bad = pa;
    }
#if defined(ERRATUM_VISIBLE)
    report(bad == RESERVED, "KUT-SVM-19 reproduced without L0's #GP intercept: #GP at %#lx", bad);
#else
    report(bad == 0, "KUT-SVM-19 VMSAVE of %u reserved 2-page blocks: no #GP (first at %#lx)",
           pages, bad);
#endif
}

#if !defined(ERRATUM_VISIBLE)
static void l2_vmmcall(void)
{
    for (;;)
        asm volatile("vmmcall");
}

static void fresh(void (*body)(void))
{
    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, body, l2_stack + sizeof(l2_stack));
}

/* L1's VMLOAD and VMRUN of a VMCB in the reserved range work too. */
static void test_l1_vmrun_reserved(void)
{
    struct vmcb *v = (struct vmcb *)RESERVED;
    fresh(l2_vmmcall);
    memcpy(v, vmcb, sizeof(*v));
    uint64_t code = svm_vmrun_vmcb(v);
    report(code == SVM_EXIT_VMMCALL, "L1 VMLOAD/VMRUN/VMSAVE of a VMCB in the reserved range "
           "(exit 0x%lx)", code);
}

/* ---- L2's SVM instructions that raise the erratum #GP */

static uint64_t l2_rax;
static void l2_vmload(void)
{
    asm volatile("vmload %%rax" : : "a"(l2_rax) : "memory");
    asm volatile("vmmcall");
}

__attribute__((unused)) static void l2_vmsave(void)
{
    asm volatile("vmsave %%rax" : : "a"(l2_rax) : "memory");
    asm volatile("vmmcall");
}

static void test_l2_erratum_intercepted(void)
{
    fresh(l2_vmload);
    l2_rax = RESERVED;
    vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
    uint64_t code = svm_vmrun();
    report(code == SVM_EXIT_VMLOAD && vmcb->control.exit_info_1 == 0,
           "L2 VMLOAD in the reserved range, L1 intercepts it: #VMEXIT(VMLOAD) (exit 0x%lx)", code);
}

static void test_l2_erratum_not_intercepted(void)
{
    struct vmcb *src = (struct vmcb *)(RESERVED + 0x10000);
    memset(src, 0, sizeof(*src));
    src->save.kernel_gs_base = 0x1234567;
    fresh(l2_vmload);
    l2_rax = (uint64_t)src;
    vmcb_unintercept(vmcb, SVM_EXIT_VMLOAD);
    vmcb_unintercept(vmcb, SVM_EXIT_VMSAVE);
    uint64_t code = svm_vmrun();
#if defined(ERRATUM_ARCH) || defined(ERRATUM_ADDRCHK)
    /* architectural: L0 performs it for L2 after the #GP; --svme-addr-chk:
     * no erratum #GP at all, the intercept L0 keeps for L2 does the same. */
    report(code == SVM_EXIT_VMMCALL && vmcb->save.kernel_gs_base == 0x1234567,
           SEM "%s: L2 VMLOAD in the reserved range that L1 does not intercept is performed "
           "for L2 (exit 0x%lx)", (cpuid(0x8000000a).d & CPUID_SVM_SVME_ADDR_CHK) ?
           " with SVME_ADDR_CHK" : "", code);
#else
    report(code == SVM_EXIT_VMLOAD,
           SEM ": L2 VMLOAD in the reserved range reaches L1 as #VMEXIT(VMLOAD) although L1 "
           "does not intercept it (KVM's FIXME; exit 0x%lx)", code);
#endif
}

#if defined(ERRATUM_ARCH)
/* With VLS, L0 translates RAX through L1's nested tables: L2's reserved
 * page is L1's page_b. */
static void test_l2_erratum_vls(void)
{
    if (!(cpuid(0x8000000a).d & CPUID_SVM_VLS)) {
        report_skip("architectural with VLS: run with --vls");
        return;
    }
    fresh(l2_vmsave);
    l2_rax = RESERVED + 0x20000;
    memset(page_b, 0, sizeof(page_b));
    memset((void *)l2_rax, 0, 4096);
    uint64_t *pte = npt_pte(l2_rax);
    *pte = (*pte & ~0x000ffffffffff000ull) | (uint64_t)page_b;
    vmcb_unintercept(vmcb, SVM_EXIT_VMLOAD);
    vmcb_unintercept(vmcb, SVM_EXIT_VMSAVE);
    vmcb->control.virt_ext |= SVM_VIRT_EXT_VLS_ENABLE;
    uint64_t code = svm_vmrun();
    struct vmcb *b = (struct vmcb *)page_b, *r = (struct vmcb *)l2_rax;
    report(code == SVM_EXIT_VMMCALL && b->save.tr.selector == TSS_SEL && r->save.tr.selector == 0,
           "architectural with VLS: L2's VMSAVE goes through L1's nested tables (exit 0x%lx)",
           code);
    npt_ident_root();
}
#endif

/* ---- SPEC-GP.md §2.3's table, row by row */

/* L2 at CPL3: CPL3 code and data segments of L1's GDT. */
static void l2_vmload_user(void)
{
    asm volatile("vmload %%rax" : : "a"(RESERVED) : "memory");
    for (;;)
        asm volatile("vmmcall");
}

static void test_row_cpl3(void)
{
    fresh(l2_vmload_user);
    vmcb_set_user_mode(vmcb);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    uint64_t code = svm_vmrun();
#if defined(ERRATUM_KVM70)
    report(code == SVM_EXIT_VMLOAD, "2.3 row 1, kvm-7.0: L2 at CPL3 VMLOAD -> #VMEXIT to L1 "
           "(exit 0x%lx)", code);
#else
    report(code == SVM_EXIT_GP && vmcb->control.exit_info_1 == 0,
           "2.3 row 1, " SEM ": L2 at CPL3 VMLOAD -> #GP(0) into L2 (L1 intercepts it: exit 0x%lx)",
           code);
#endif
}

/* L2 in 32-bit protected mode with paging off. */
extern char l2_nopaging[];
asm(".text\n.code32\nl2_nopaging:\n\t"
    "movl $0x3000000, %eax\n\t"
    "vmload %eax\n\t"
    "1: vmmcall\n\tjmp 1b\n.code64\n");

/* VMRUN with #GP intercepted and report §2.3 row `row` for the L2 action
 * `l2`: kvm-7.0 gives L1 #VMEXIT(VMLOAD); the others inject `outcome` into
 * L2, which L1 sees as exit `want`. */
static void run_l2_row(int row, const char *l2, uint64_t want, const char *outcome)
{
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    uint64_t code = svm_vmrun();
#if defined(ERRATUM_KVM70)
    (void)want;
    (void)outcome;
    report(code == SVM_EXIT_VMLOAD, "2.3 row %d, kvm-7.0: %s -> #VMEXIT to L1 (exit 0x%lx)", row,
           l2, code);
#else
    report(code == want, "2.3 row %d, " SEM ": %s -> %s into L2 (exit 0x%lx)", row, l2, outcome,
           code);
#endif
}

static void test_row_no_paging(void)
{
    fresh(l2_vmmcall);
    vmcb_set_compat_mode(vmcb); /* the 32-bit code segment */
    vmcb->save.efer &= ~(X86_EFER_LME | X86_EFER_LMA);
    vmcb->save.cr0 &= ~X86_CR0_PG;
    vmcb->save.rip = (uint64_t)l2_nopaging;
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_UD);
    run_l2_row(2, "L2 with CR0.PG=0 VMLOAD", SVM_EXIT_UD, "#UD");
}

static void test_row_maxphyaddr(void)
{
    fresh(l2_vmload);
    l2_rax = 1ull << cpu_maxphyaddr();
    run_l2_row(3, "L2 VMLOAD of 2^MAXPHYADDR", SVM_EXIT_GP, "#GP(0)");
}

static void test_row_unbacked(void)
{
#if defined(ERRATUM_KVM70)
    exc_clear();
    asm volatile(ASM_TRY("vmload %%rax") : : "a"(RAM_END) : "memory");
    report(exc_was(X86_VEC_GP), "2.3 row 4, kvm-7.0: L1 VMLOAD of a legal page past RAM -> "
           "#GP(0) (got vector %d)", exc_vector());
#else
    report_info("2.3 row 4, " SEM ": an unbacked RAX is an emulation failure, status 8 "
                "(guests nested_end_*_unbacked)");
#endif
}

/* A 32-bit L1 (compatibility mode) with garbage in RAX[63:32]. */
uint64_t compat_rax;
asm(".text\n.globl compat_vmsave\ncompat_vmsave:\n\t"
    "movq compat_rax(%rip), %rax\n\t"
    "pushq $0x30\n\t"
    "pushq $2f\n\t"
    "lretq\n"
    ".code32\n"
    "2:\n"
    "8881:\n\tvmsave %eax\n8882:\n\t"
    ".pushsection .extable, \"a\"\n\t.balign 8\n\t.quad 8881b, 8882b\n\t.popsection\n\t"
    "ljmp $0x08, $3f\n"
    ".code64\n"
    "3:\n\tret\n");
void compat_vmsave(void);

static void test_row_compat_rax(void)
{
    static uint8_t page[4096] __attribute__((aligned(4096)));
    compat_rax = 0xdead00000000ull | (uint64_t)page;
    exc_clear();
    asm volatile("call compat_vmsave" : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
                 "r10", "r11", "memory");
#if defined(ERRATUM_KVM70)
    report(exc_was(X86_VEC_GP), "2.3 row 5, kvm-7.0: 32-bit L1 VMSAVE with RAX[63:32] set -> "
           "#GP(0) (got vector %d)", exc_vector());
#else
    report(exc_vector() == -1 && ((struct vmcb *)page)->save.tr.selector == TSS_SEL,
           "2.3 row 5, " SEM ": 32-bit L1 VMSAVE with RAX[63:32] set works (got vector %d)",
           exc_vector());
#endif
}
#endif /* !ERRATUM_VISIBLE */

/* ---- §1: the FIXME case */

static uint64_t user_vmload(uint64_t arg)
{
    asm volatile(ASM_TRY("vmload %%rax") : : "a"(RESERVED) : "memory");
    return 0;
}

static void test_cpl3(bool svme)
{
    exc_clear();
    run_in_user(user_vmload, 0, 0);
    report(exc_was(X86_VEC_GP), "1: VMLOAD at CPL3 with guest EFER.SVME=%d -> #GP(0), not #UD "
           "(got vector %d)", svme, exc_vector());
}

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    report_info("semantics " SEM ", CPUID SVME_ADDR_CHK %s",
                (cpuid(0x8000000a).d & CPUID_SVM_SVME_ADDR_CHK) ? "set" : "clear");
    test_cpl3(false);
    svm_setup();
    test_cpl3(true);
    test_l1_vmsave_everywhere();
#if !defined(ERRATUM_VISIBLE)
    test_l1_vmrun_reserved();
    test_l2_erratum_intercepted();
    test_l2_erratum_not_intercepted();
#if defined(ERRATUM_ARCH)
    test_l2_erratum_vls();
#endif
    test_row_cpl3();
    test_row_no_paging();
    test_row_maxphyaddr();
    test_row_unbacked();
    test_row_compat_rax();
#endif
    return report_summary();
}
