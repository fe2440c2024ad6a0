/* no_nested.c — run with --no-nested (tests/guest): L1 is told there is no
 * SVM, cannot set EFER.SVME, and its SVM instructions are #UD. Without
 * --no-nested the same image checks the opposite (SVM offered). */
#include "libguest.h"

int main(void)
{
    bool svm = cpuid(0x80000001).c & (1u << 2);
    report_info("CPUID reports SVM: %s", svm ? "yes" : "no");
    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_EFER),
                 "a"((uint32_t)(rdmsr(MSR_EFER) | X86_EFER_SVME)), "d"(0) : "memory");
    if (svm) {
        report(exc_vector() == -1 && (rdmsr(MSR_EFER) & X86_EFER_SVME),
               "with SVM offered, EFER.SVME can be set");
        return report_summary();
    }
    report_exc(X86_VEC_GP, 0, "--no-nested: setting EFER.SVME is #GP(0)");
    report(cpuid(0x8000000a).d == 0, "--no-nested: CPUID 8000_000A is empty");
    static uint8_t page[4096] __attribute__((aligned(4096)));
    exc_clear();
    asm volatile(ASM_TRY("vmrun %%rax") : : "a"(page) : "memory");
    report_exc(X86_VEC_UD, 0, "--no-nested: VMRUN is #UD");
    exc_clear();
    asm volatile(ASM_TRY("vmsave %%rax") : : "a"(page) : "memory");
    report_exc(X86_VEC_UD, 0, "--no-nested: VMSAVE is #UD");
    return report_summary();
}
