/* rdtscp.c — guest test: RDTSCP as the CPU model has it. By default
 * (image rdtscp) CPUID 8000_0001 EDX[27] is set and RDTSCP returns the TSC
 * with TSC_AUX in ECX; with --no-rdtscp (image rdtscp_off, built with
 * RDTSCP_OFF: QEMU's -cpu max,-rdtscp) the bit is clear and RDTSCP is #UD,
 * also when L1 intercepts it for L2 (the #UD comes first).
 */
#include "libguest.h"
#include "svm.h"

static bool cpuid_rdtscp(void)
{
    uint32_t a = 0x80000001, b, c = 0, d;
    asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return d & (1u << 27);
}

static void test_l1(void)
{
#ifdef RDTSCP_OFF
    report(!cpuid_rdtscp(), "CPUID 8000_0001 EDX[27] (RDTSCP) clear");
    report(TRY_INSN("rdtscp") == X86_VEC_UD, "RDTSCP is #UD");
#else
    report(cpuid_rdtscp(), "CPUID 8000_0001 EDX[27] (RDTSCP) set");
    wrmsr(0xc0000103, 0x1234); /* TSC_AUX */
    uint32_t lo, hi, aux;
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    report(aux == 0x1234, "RDTSCP returns TSC_AUX in ECX (%#x)", aux);
#endif
}

static void l2_body(void)
{
    asm volatile("rdtscp" : : : "rax", "rcx", "rdx");
    for (;;)
        asm volatile("vmmcall");
}

static void test_l2(void)
{
    svm_setup();
    vmcb_ident_guest(vmcb, l2_body);
    vmcb_intercept(vmcb, SVM_EXIT_RDTSCP);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_UD);
    uint64_t code = svm_vmrun();
#ifdef RDTSCP_OFF
    report(code == SVM_EXIT_EXCP_BASE + X86_VEC_UD,
           "L1 intercepts RDTSCP and #UD: L2's RDTSCP exits with #UD (exit %#lx)", code);
#else
    report_qemu_known(code == SVM_EXIT_RDTSCP, code == SVM_EXIT_VMMCALL,
                      "QEMU 7.2 TCG has no RDTSCP intercept",
                      "L1 intercepts RDTSCP: L2's RDTSCP exits with it (exit %#lx)", code);
#endif
}

int main(void)
{
    run_test("RDTSCP in L1", test_l1);
    if (svm_supported())
        run_test("RDTSCP in L2", test_l2);
    return report_summary();
}
