/* host_events.c — an L1 whose L2 counts for a while, for tests that act on
 * the machine from the host while L2 runs (tests/unit/test_machine.c):
 *   KST-EXC-01: the host queues #SS(0xdeadbeef); L1 intercepts #SS and must
 *               see #VMEXIT(0x4c) with exit_info_1 0xdeadbeef, int_state 0.
 *   KST-GPA-07: the host points the nested state at an unbacked vmcb12; L2's
 *               VMMCALL then cannot be delivered and the VM shuts down.
 * L1 reports PASS/FAIL for what it sees and exits; run alone (no host
 * action) L2 ends with VMMCALL and L1 says so.
 */
#include "libguest.h"

static uint8_t l2_stack[4096] __attribute__((aligned(16)));

static void l2_count(void)
{
    for (volatile unsigned i = 0; i < 1000000; i++)
        ;
    asm volatile("vmmcall");
}

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();
    vmcb_ident(vmcb);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    vmcb_set_guest(vmcb, l2_count, l2_stack + sizeof(l2_stack));
    uint64_t code = svm_vmrun();
    if (code == SVM_EXIT_VMMCALL) {
        report_info("L2 ran to VMMCALL: no host event");
        report(true, "L2 runs to VMMCALL without a host event");
    } else {
        report(code == SVM_EXIT_EXCP_BASE + X86_VEC_SS && vmcb->control.exit_info_1 == 0xdeadbeef &&
               vmcb->control.int_state == 0,
               "KST-EXC-01 host-queued #SS reaches L1 as #VMEXIT(0x4c) 0xdeadbeef (exit 0x%lx, "
               "info1 %#lx)", code, vmcb->control.exit_info_1);
    }
    return report_summary();
}
