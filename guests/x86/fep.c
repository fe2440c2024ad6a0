/* fep.c — guest test: KVM's forced emulation prefix, `ud2; .ascii "kvm"`
 * before an instruction (kvm-unit-tests' KVM_FEP). With
 * --force-emulation-prefix (image fep) L0 emulates the instruction after
 * the prefix: it behaves as it would alone (its result, its faults with
 * RIP at it, an L1 intercept of it in L2); an ud2 not followed by "kvm" is
 * still #UD. Without the knob (image fep_off, built with FEP_OFF) the
 * prefix is a #UD at the ud2, as on hardware.
 */
#include "libguest.h"
#include "svm.h"

#define FEP "ud2; .ascii \"kvm\"; "

extern char fep_cpuid_at[], fep_gp_at[], fep_gp_insn[], l2_cpuid_at[];

static void test_prefix(void)
{
    uint32_t a = 0, b, c = 0, d;
    exc_clear();
    asm volatile(ASM_TRY("fep_cpuid_at: " FEP "cpuid")
                 : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
#ifdef FEP_OFF
    report(exc_vector() == X86_VEC_UD && exc_last.rip == (uint64_t)fep_cpuid_at,
           "without the knob the prefix is #UD at the ud2 (vector %d, RIP %#lx)", exc_vector(),
           exc_last.rip);
#else
    report(exc_vector() == -1, "prefixed CPUID: no exception (vector %d)", exc_vector());
    report(b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163,
           "prefixed CPUID leaf 0 answers AuthenticAMD (%#x %#x %#x)", b, d, c);

    /* A fault of the emulated instruction: RIP at it, after the prefix. */
    exc_clear();
    asm volatile(ASM_TRY("fep_gp_at: " FEP "fep_gp_insn: movq (%0), %%rax")
                 : : "r"(0x0000800000000000ull) : "rax", "memory");
    report(exc_vector() == X86_VEC_GP && exc_last.rip == (uint64_t)fep_gp_insn,
           "prefixed non-canonical load: #GP with RIP at the load (vector %d, RIP %#lx, wanted %#lx)",
           exc_vector(), exc_last.rip, (uint64_t)fep_gp_insn);

    /* Not the prefix: ud2 then other bytes. */
    report(TRY_INSN("ud2; .ascii \"kvx\"") == X86_VEC_UD, "ud2 followed by \"kvx\": #UD");
    report(TRY_INSN("ud2") == X86_VEC_UD, "a plain ud2: #UD");
#endif
}

#ifndef FEP_OFF
static void l2_body(void)
{
    asm volatile("l2_cpuid_at: " FEP "cpuid" : : "a"(0), "c"(0) : "rbx", "rdx", "memory");
    for (;;)
        asm volatile("vmmcall");
}

static void test_nested(void)
{
    svm_setup();
    vmcb_ident_guest(vmcb, l2_body);
    vmcb_intercept(vmcb, SVM_EXIT_CPUID);
    uint64_t code = svm_vmrun();
    report(code == SVM_EXIT_CPUID && vmcb->save.rip == (uint64_t)l2_cpuid_at + 5,
           "L2's prefixed CPUID, intercepted by L1: #VMEXIT(CPUID) at the CPUID (exit %#lx, RIP "
           "%#lx, wanted %#lx)", code, vmcb->save.rip, (uint64_t)l2_cpuid_at + 5);
    vmcb_unintercept(vmcb, SVM_EXIT_CPUID);
    vmcb_skip(vmcb, 2);
    code = svm_vmrun();
    report(code == SVM_EXIT_VMMCALL, "L2 goes on to VMMCALL (exit %#lx)", code);
}
#endif

int main(void)
{
    run_test("forced emulation prefix", test_prefix);
#ifndef FEP_OFF
    if (svm_supported())
        run_test("prefix in L2", test_nested);
#endif
    return report_summary();
}
