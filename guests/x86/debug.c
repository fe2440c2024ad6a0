/* debug.c — guest test: debug exceptions the CPU and L0 raise together
 * (AMD APM vol. 2 §13.1): an instruction breakpoint (DR0, DR7 R/W = 00) is
 * a #DB fault at the instruction with DR6.B0, and RF=1 in the IRET frame
 * lets the instruction run once; single-step (TF) traps after an
 * instruction L0 completes for the guest (CPUID), with DR6.BS; and a VMRUN
 * single-stepped traps after the #VMEXIT, at the instruction after it.
 */
#include "libguest.h"
#include "svm.h"

#define DR6_B0 (1ull << 0)
#define DR6_BS (1ull << 14)

static volatile unsigned db_count;
static volatile uint64_t db_rip[8], db_dr6[8];
static volatile bool set_rf, clear_tf;
static volatile uint64_t tf_stop; /* the handler clears TF at this RIP */

static uint64_t read_dr6(void)
{
    uint64_t v;
    asm volatile("mov %%dr6, %0" : "=r"(v));
    return v;
}

static void write_dr(unsigned n, uint64_t v)
{
    switch (n) {
    case 0: asm volatile("mov %0, %%dr0" : : "r"(v)); break;
    case 6: asm volatile("mov %0, %%dr6" : : "r"(v)); break;
    default: asm volatile("mov %0, %%dr7" : : "r"(v)); break;
    }
}

static void db_handler(struct ex_regs *r)
{
    unsigned i = db_count < 8 ? db_count : 7;
    db_rip[i] = r->rip;
    db_dr6[i] = read_dr6();
    db_count++;
    write_dr(6, 0xffff0ff0ull);
    if (set_rf)
        r->rflags |= X86_RFLAGS_RF;
    if (clear_tf || r->rip == tf_stop)
        r->rflags &= ~X86_RFLAGS_TF;
}

static void db_begin(bool rf, bool tf_off)
{
    db_count = 0;
    set_rf = rf;
    clear_tf = tf_off;
    write_dr(6, 0xffff0ff0ull);
    handle_exception(X86_VEC_DB, db_handler);
}

static void db_end(void)
{
    write_dr(7, 0x400);
    handle_exception(X86_VEC_DB, NULL);
}

extern char bp_insn[], bp_after[];

static void test_breakpoint(void)
{
    uint64_t rax = 0;
    db_begin(true, false);
    write_dr(0, (uint64_t)bp_insn);
    write_dr(7, 0x401); /* L0, R/W0 = 00 (execute), LEN0 = 00 */
    asm volatile("nop; bp_insn: inc %0; bp_after: nop" : "+r"(rax) : : "memory");
    db_end();
    report(db_count == 1, "DR0 on an instruction: one #DB (%u)", db_count);
    report(db_rip[0] == (uint64_t)bp_insn, "a fault: RIP at the instruction (%#lx, wanted %#lx)",
           db_rip[0], (uint64_t)bp_insn);
    report((db_dr6[0] & (DR6_B0 | DR6_BS)) == DR6_B0, "DR6.B0 set, BS clear (DR6 %#lx)", db_dr6[0]);
    report(rax == 1, "RF=1 in the frame: the instruction runs once after the IRET (rax %lu)", rax);
}

extern char bp2_insn[];

/* Executes the instruction at bp2_insn (not inlined: one label). */
__attribute__((noinline)) static void run_bp2(void)
{
    asm volatile("bp2_insn: nop" ::: "memory");
}

static void test_breakpoint_disabled(void)
{
    db_begin(false, false);
    write_dr(0, (uint64_t)bp2_insn);
    write_dr(7, 0x400); /* DR0 holds the address, L0 and G0 clear */
    run_bp2();
    write_dr(7, 0x401 | (1u << 16)); /* L0 with R/W0 = 01: a data write breakpoint */
    run_bp2();
    db_end();
    report(db_count == 0, "executing DR0's address: no #DB when disabled or a data breakpoint (%u)",
           db_count);
    db_begin(true, false); /* RF in the frame: the nop runs after the #DB */
    write_dr(0, (uint64_t)bp2_insn);
    write_dr(7, 0x401); /* the same address as an instruction breakpoint */
    run_bp2();
    db_end();
    report(db_count == 1 && db_rip[0] == (uint64_t)bp2_insn,
           "... while R/W0 = 00 there gives one (%u, RIP %#lx)", db_count, db_rip[0]);
}

extern char ss_cpuid_at[], ss_cpuid_next[];

static void test_single_step_cpuid(void)
{
    db_begin(false, true);
    asm volatile("pushfq; orq $0x100, (%%rsp); popfq\n\t"
                 "nop\n\t"
                 "ss_cpuid_at: cpuid\n\t"
                 "nop"
                 : : "a"(0), "c"(0) : "rbx", "rdx", "memory");
    db_end();
    /* The POPF that set TF traps after the instruction after it (the nop),
     * at the CPUID; the handler clears TF, so that is the only trap. */
    report(db_count == 1 && db_rip[0] == (uint64_t)ss_cpuid_at,
           "TF set by POPF: one trap, after the next instruction (%u, RIP %#lx)", db_count,
           db_rip[0]);

    db_begin(false, false);
    asm volatile("pushfq; orq $0x100, (%%rsp); popfq\n\t"
                 "cpuid\n\t"
                 "ss_cpuid_next: pushfq; andq $~0x100, (%%rsp); popfq"
                 : : "a"(0), "c"(0) : "rbx", "rdx", "memory");
    db_end();
    /* The first trap is CPUID's own, at the instruction after it. */
    report(db_count >= 1 && db_rip[0] == (uint64_t)ss_cpuid_next && (db_dr6[0] & DR6_BS),
           "single-step over CPUID (L0 completes it): #DB with DR6.BS after it (%u, RIP %#lx, "
           "DR6 %#lx)", db_count, db_rip[0], db_dr6[0]);
}

extern char ss_vmrun_at[], ss_vmrun_end[];
static void l2_body(void)
{
    for (;;)
        asm volatile("vmmcall");
}

static void test_single_step_vmrun(void)
{
    svm_setup();
    vmcb_ident_guest(vmcb, l2_body);
    uint64_t pa = (uint64_t)vmcb;
    db_begin(false, false);
    tf_stop = (uint64_t)ss_vmrun_end;
    /* TF set by POPF takes effect after the instruction after it: the nop
     * traps, then VMRUN runs single-stepped and its trap comes after the
     * #VMEXIT; TF goes at the end. */
    asm volatile("vmload %%rax\n\t"
                 "pushfq; orq $0x100, (%%rsp); popfq\n\t"
                 "nop\n\t"
                 "ss_vmrun_at: vmrun %%rax\n\t"
                 "vmsave %%rax\n\t"
                 "ss_vmrun_end: nop"
                 : "+a"(pa) : : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                   "r12", "r13", "r14", "r15", "memory");
    tf_stop = 0;
    db_end();
    report(vmcb->control.exit_code == SVM_EXIT_VMMCALL, "L2 ran to VMMCALL (exit %#x)",
           (unsigned)vmcb->control.exit_code);
    report_qemu_known(db_count == 3 && db_rip[0] == (uint64_t)ss_vmrun_at &&
               db_rip[1] == (uint64_t)ss_vmrun_at + 3 && db_rip[2] == (uint64_t)ss_vmrun_end,
           db_count == 2 && db_rip[1] == (uint64_t)ss_vmrun_end,
           "QEMU 7.2 TCG takes no single-step trap after a VMRUN's #VMEXIT",
           "traps at the VMRUN, after it (after the #VMEXIT: none in L2), after VMSAVE "
           "(%u traps: %#lx %#lx %#lx; wanted %#lx %#lx %#lx)", db_count, db_rip[0], db_rip[1],
           db_rip[2], (uint64_t)ss_vmrun_at, (uint64_t)ss_vmrun_at + 3, (uint64_t)ss_vmrun_end);
}

int main(void)
{
    run_test("instruction breakpoint", test_breakpoint);
    run_test("breakpoint disabled", test_breakpoint_disabled);
    run_test("single-step over CPUID", test_single_step_cpuid);
    if (svm_supported())
        run_test("single-step over VMRUN", test_single_step_vmrun);
    return report_summary();
}
