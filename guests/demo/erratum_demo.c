/* erratum_demo.c — the demo of the README's first command: the RAX erratum
 * and L0's #GP path end to end, in words.
 *
 * 1. L1 executes VMLOAD with RAX in the host-reserved range: the CPU raises
 *    #GP before the VMLOAD intercept; L0 intercepts #GP, decodes the VMLOAD
 *    and runs its VMLOAD handler; L1 sees a VMLOAD that simply worked.
 * 2. L2 does the same: L0 turns the #GP into the #VMEXIT(VMLOAD) that L1
 *    asked for.
 * 3. L2 at CPL3 does it: what L1 sees depends on the KVM version (SPEC-GP.md
 *    §2.3): kvm-7.1 gives L2 a #GP (L1 intercepts it), kvm-7.0 reflected a
 *    #VMEXIT(VMLOAD) although the instruction could never have run at CPL3.
 * Run it with --explain to see each decision, and with --semantics=kvm-7.0
 * (or `svmsim compare --semantics=kvm-7.0,kvm-7.1`) to see what changed.
 */
#include "libguest.h"

#define RESERVED 0x3000000ull /* inside --host-reserved's default range */

static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static const char *const exit_names[] = {
    [SVM_EXIT_VMLOAD] = "#VMEXIT(VMLOAD)", [SVM_EXIT_GP] = "#VMEXIT(#GP)",
    [SVM_EXIT_VMMCALL] = "#VMEXIT(VMMCALL)",
};

static const char *exit_name(uint64_t code)
{
    if (code < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[code])
        return exit_names[code];
    return "another #VMEXIT";
}

static void l2_vmload(void)
{
    asm volatile("vmload %%rax" : : "a"(RESERVED) : "memory");
    for (;;)
        asm volatile("vmmcall");
}

int main(void)
{
    printf("svmsim demo: the RAX erratum and L0's #GP intercept\n");
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();

    struct vmcb *page = (struct vmcb *)RESERVED;
    memset(page, 0, sizeof(*page));
    page->save.kernel_gs_base = 0xfeedface;
    exc_clear();
    asm volatile(ASM_TRY("vmload %%rax") : : "a"(page) : "memory");
    uint64_t kgs = rdmsr(MSR_KERNEL_GS_BASE);
    printf("1. L1: VMLOAD with RAX %#llx (host-reserved): %s, KernelGsBase now %#lx\n",
           RESERVED, exc_vector() == -1 ? "completed" : "faulted", kgs);
    report(exc_vector() == -1 && kgs == 0xfeedface, "L1's VMLOAD in the reserved range works");
    wrmsr(MSR_KERNEL_GS_BASE, 0);

    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, l2_vmload, l2_stack + sizeof(l2_stack));
    vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
    uint64_t code = svm_vmrun();
    printf("2. L2: the same VMLOAD; L1 intercepts VMLOAD and gets %s\n", exit_name(code));
    report(code == SVM_EXIT_VMLOAD, "L2's VMLOAD reaches L1 as #VMEXIT(VMLOAD)");

    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, l2_vmload, l2_stack + sizeof(l2_stack));
    vmcb_set_user_mode(vmcb);
    vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    code = svm_vmrun();
    printf("3. L2 at CPL3: the same VMLOAD; L1 gets %s (kvm-7.1: #VMEXIT(#GP), kvm-7.0: "
           "#VMEXIT(VMLOAD))\n", exit_name(code));
    report(code == SVM_EXIT_GP || code == SVM_EXIT_VMLOAD, "L2's CPL3 VMLOAD reaches L1");
    return report_summary();
}
