/* ends.c — oracle rows whose expected outcome ends the whole run, one
 * image per row (END selects it; tests/guest checks the status and the
 * end line):
 *   END_VMRUN_UNBACKED, END_VMLOAD_UNBACKED, END_VMSAVE_UNBACKED
 *       KST-GPA-04..06: L1's VMRUN/VMLOAD/VMSAVE with RAX the first page
 *       past RAM (legal, unbacked) -> emulation failure, status 8.
 *   END_EFER_SVME   KST-EFER-01: L2 clears EFER.SVME (L1 does not intercept
 *       the WRMSR) -> the VM shuts down, status 4.
 *   END_SHUTDOWN    KST-SHUT-01: L1 does not intercept SHUTDOWN and L2
 *       triple-faults -> the VM shuts down, status 4.
 */
#include "libguest.h"

#define RAM_END 0x4000000ull /* the boot protocol's default 64 MiB */

static uint8_t l2_stack[4096] __attribute__((aligned(16)));

__attribute__((unused)) static void l2_clear_svme(void)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~X86_EFER_SVME);
    asm volatile("vmmcall");
}

__attribute__((unused)) static void l2_ud2(void)
{
    asm volatile("ud2");
}

__attribute__((unused)) static void run_l2(void (*body)(void))
{
    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, body, l2_stack + sizeof(l2_stack));
    svm_vmrun();
}

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();
    report((rdmsr(MSR_EFER) & X86_EFER_SVME) && rdmsr(MSR_VM_HSAVE_PA) != 0,
           "L1 has SVM set up; the next exit must end the run");
#if defined(END_VMRUN_UNBACKED)
    asm volatile("vmrun %%rax" : : "a"(RAM_END) : "memory");
#elif defined(END_VMLOAD_UNBACKED)
    asm volatile("vmload %%rax" : : "a"(RAM_END) : "memory");
#elif defined(END_VMSAVE_UNBACKED)
    asm volatile("vmsave %%rax" : : "a"(RAM_END) : "memory");
#elif defined(END_EFER_SVME)
    run_l2(l2_clear_svme);
#elif defined(END_SHUTDOWN)
    /* vectors 6, 11 and 8 not present: #UD -> #NP -> #DF -> shutdown */
    idt_set_present(X86_VEC_UD, false);
    idt_set_present(X86_VEC_NP, false);
    idt_set_present(X86_VEC_DF, false);
    vmcb_ident(vmcb);
    vmcb_unintercept(vmcb, SVM_EXIT_SHUTDOWN);
    vmcb_set_guest(vmcb, l2_ud2, l2_stack + sizeof(l2_stack));
    svm_vmrun();
#else
#error "END not chosen"
#endif
    report(false, "L1 resumed after the exit that should have ended the run (exit 0x%lx)",
           vmcb->control.exit_code);
    return report_summary();
}
