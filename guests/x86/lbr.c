/* lbr.c — guest test: the last branch record (DEBUGCTL.LBR, AMD APM vol. 2
 * §13.1.1.3) and its virtualization for L2 (LBR_CTL in virt_ext, §15.23):
 * a taken branch is recorded in LastBranchFromIP/ToIP (MSRs 0x1db/0x1dc)
 * while DEBUGCTL.LBR is set and not otherwise; an exception moves the last
 * branch to LastExceptionFromIP/ToIP (0x1dd/0x1de) and is itself the last
 * branch; without LBR virtualization L2 shares L1's record, with it L2's
 * record lives in vmcb12 and L1's is kept.
 */
#include "libguest.h"
#include "svm.h"

#define DEBUGCTL 0x1d9
#define LBR_FROM 0x1db
#define LBR_TO 0x1dc
#define LEX_FROM 0x1dd
#define LEX_TO 0x1de
#define DEBUGCTL_LBR 1ull
#define LBR_CTL_ENABLE 1ull

extern char b1_from[], b1_to[], b2_from[], b2_to[], b3_from[], b3_to[], h1_from[], h1_to[],
    l2_from[], l2_to[], ud_at[];

#define BRANCH(name) asm volatile(#name "_from: jmp " #name "_to; nop; nop; " #name "_to: nop" ::: "memory")

static void test_l1(void)
{
    wrmsr(DEBUGCTL, DEBUGCTL_LBR);
    BRANCH(b1);
    wrmsr(DEBUGCTL, 0);
    report(rdmsr(LBR_FROM) == (uint64_t)b1_from && rdmsr(LBR_TO) == (uint64_t)b1_to,
           "a jmp with LBR on: from %#lx to %#lx (wanted %#lx %#lx)", rdmsr(LBR_FROM),
           rdmsr(LBR_TO), (uint64_t)b1_from, (uint64_t)b1_to);
    BRANCH(b2);
    report(rdmsr(LBR_FROM) == (uint64_t)b1_from, "with LBR off the record stays (%#lx)",
           rdmsr(LBR_FROM));

    wrmsr(DEBUGCTL, DEBUGCTL_LBR);
    BRANCH(b3);
    asm volatile(ASM_TRY("ud_at: ud2") ::: "memory");
    wrmsr(DEBUGCTL, 0);
    report(rdmsr(LEX_FROM) == (uint64_t)b3_from && rdmsr(LEX_TO) == (uint64_t)b3_to,
           "an exception keeps the branch before it in LastException* (%#lx %#lx)",
           rdmsr(LEX_FROM), rdmsr(LEX_TO));
}

static void l2_body(void)
{
    BRANCH(l2);
    wrmsr(DEBUGCTL, 0);
    for (;;)
        asm volatile("vmmcall");
}

__attribute__((noinline)) static void run_l2(bool lbrv)
{
    vmcb_ident_guest(vmcb, l2_body);
    vmcb->control.virt_ext = lbrv ? LBR_CTL_ENABLE : 0;
    vmcb->save.dbgctl = DEBUGCTL_LBR;
    wrmsr(DEBUGCTL, DEBUGCTL_LBR);
    BRANCH(h1);
    wrmsr(DEBUGCTL, lbrv ? 0 : DEBUGCTL_LBR);
    svm_vmrun();
    wrmsr(DEBUGCTL, 0);
}

static void test_nested(void)
{
    uint32_t a = 0x8000000a, b, c = 0, d;
    asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    svm_setup();

    run_l2(false);
    report(rdmsr(LBR_FROM) == (uint64_t)l2_from && rdmsr(LBR_TO) == (uint64_t)l2_to,
           "without LBR virtualization L2's branch reaches L1's record (%#lx %#lx)",
           rdmsr(LBR_FROM), rdmsr(LBR_TO));

    if (!(d & (1u << 1))) {
        report_skip("LBR virtualization not offered (CPUID 8000_000A EDX[1])");
        return;
    }
    run_l2(true);
    report(rdmsr(LBR_FROM) == (uint64_t)h1_from && rdmsr(LBR_TO) == (uint64_t)h1_to,
           "with LBR virtualization L1's record is its own (%#lx %#lx)", rdmsr(LBR_FROM),
           rdmsr(LBR_TO));
    report(vmcb->save.br_from == (uint64_t)l2_from && vmcb->save.br_to == (uint64_t)l2_to &&
               vmcb->save.dbgctl == 0,
           "... and L2's is in vmcb12 (br_from %#lx, br_to %#lx, dbgctl %#lx)", vmcb->save.br_from,
           vmcb->save.br_to, vmcb->save.dbgctl);
}

int main(void)
{
    run_test("LBR in L1", test_l1);
    if (svm_supported())
        run_test("LBR and L2", test_nested);
    return report_summary();
}
