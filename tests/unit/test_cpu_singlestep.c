/* test_cpu_singlestep.c — single-stepping SYSCALL and SYSRET (src/cpu/
 * ops_branch.c op_syscall/op_sysret, src/cpu/exec.c step_one, run_blocks and
 * single_step_trap; cpu->step_tf and cpu->db_trap in src/cpu/cpu.h): the
 * trap after either is decided by the TF it leaves, as KVM's emulator
 * decides it and kvm-unit-tests' syscall test expects. A SYSCALL whose
 * SFMASK clears TF takes no #DB; a SYSRET that loads TF=1 traps right after
 * itself (#DB, DR6.BS) with the user code's RIP and CS, whether it ran one
 * instruction at a time (step_one) or as the last entry of a block (the
 * fast path).
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (4 MiB of RAM mapped
 * 1:1 by user-accessible 2 MiB pages in tables of this file's own, a GDT,
 * a 64-bit TSS for the ring-3 -> ring-0 stack switch, one 64-bit ring-0
 * VMCB with EFER.SCE and STAR/LSTAR set) and one test per behaviour. Most
 * tests intercept #DB (exit 0x41) so that the trap is seen with exact RIP,
 * CS and DR6 in the VMCB save area; one delivers it through the IDT.
 * Must not: use src/hv. Every expectation is an exact value.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *vmcb
#include "cpu_fixture.h"

/* ---- guest physical layout (linear == physical); below 0x7000 the GDT,
 * the (unused) tables of write_identity_tables and the IDT of
 * cpu_fixture.h */

#define RAM_SIZE (4ull << 20)
#define U_PML4_GPA 0x7000ull /* this file's tables: every level user-accessible */
#define U_PDPT_GPA 0x8000ull
#define U_PD_GPA 0x9000ull
#define TSS_GPA 0xa000ull
#define RSP0_TOP 0x70000ull  /* TSS.RSP0: the #DB handler's stack */
#define CODE_GPA 0x10000ull  /* where the guest starts, at CPL 0 */
#define LSTAR_GPA 0x11000ull /* the SYSCALL target */
#define DB_GPA 0x12000ull    /* the #DB handler */
#define USER_GPA 0x13000ull  /* where SYSRET goes, at CPL 3 */

#define TSS_SEL 0x18
#define SYSRET_BASE 0x18ull                 /* STAR[63:48] */
#define USER_CS ((SYSRET_BASE + 16) | 3)     /* 0x2b: 64-bit SYSRET's CS */
#define USER_SS ((SYSRET_BASE + 8) | 3)      /* 0x23 */
#define GUEST_STAR ((SYSRET_BASE << 48) | ((uint64_t)CODE64_SEL << 32))

#define EXIT_DB (SVM_EXIT_EXCP_BASE + X86_VEC_DB) /* 0x41 */
#define DR6_INIT 0xffff0ff0ull
#define DR6_BS (1ull << 14)
#define TF X86_RFLAGS_TF
#define FIXED X86_RFLAGS_FIXED

#define SYSCALL 0x0f, 0x05
#define SYSRETQ 0x48, 0x0f, 0x07

static const struct cpu_model default_model = CPU_FIXTURE_MODEL(0x300000ull, 0x30ffffull);

/* At U_PML4_GPA: RAM 1:1 with 2 MiB pages, user-accessible at every level
 * (CR4 has neither SMEP nor SMAP, so ring 0 runs there too). */
static void write_user_tables(void)
{
    const uint64_t urw = X86_PTE_P | X86_PTE_RW | X86_PTE_US;
    phys_write_u64(U_PML4_GPA, U_PDPT_GPA | urw);
    phys_write_u64(U_PDPT_GPA, U_PD_GPA | urw);
    for (uint64_t i = 0; i < RAM_SIZE >> 21; i++)
        phys_write_u64(U_PD_GPA + i * 8, (i << 21) | urw | X86_PTE_PS);
}

/* The rig: the GDT, this file's tables, a 64-bit TSS with RSP0, and one
 * VMCB (ASID 1) at CPL 0 in 64-bit mode, RIP at CODE_GPA, EFER.SCE set,
 * SYSCALL to LSTAR_GPA with CS CODE64_SEL and SYSRET to USER_CS, SFMASK 0,
 * RFLAGS with TF clear, DR6 and DR7 at their reset values. */
static void rig_setup(void)
{
    rig_init(RAM_SIZE, &default_model);
    write_gdt();
    write_user_tables();
    phys_write_u64(TSS_GPA + 4, RSP0_TOP);
    rig.vmcb = alloc_vmcb(1, U_PML4_GPA);
    struct vmcb_save_area *sa = &rig.vmcb->save;
    sa->rip = CODE_GPA;
    sa->efer |= X86_EFER_SCE;
    sa->star = GUEST_STAR;
    sa->lstar = LSTAR_GPA;
    sa->sfmask = 0;
    sa->tr.selector = TSS_SEL;
    sa->tr.attrib = VMCB_ATTR_P | 0xb; /* busy 64-bit TSS */
    sa->tr.limit = 0x67;
    sa->tr.base = TSS_GPA;
}

static void rig_teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(singlestep, .init = rig_setup, .fini = rig_teardown);

static void intercept(uint64_t exit_code)
{
    set_intercept(rig.vmcb, exit_code);
}

/* Runs until a #VMEXIT, which the test expects; the budget is large enough
 * that blocks run on the fast path whenever TF is clear. */
static void run_to_exit(void)
{
    uint64_t budget = 10000;
    cr_assert_eq(cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT,
                 "the guest ran out of budget");
}

static const struct vmcb_control_area *ctl(void)
{
    return &rig.vmcb->control;
}

static const struct vmcb_save_area *save(void)
{
    return &rig.vmcb->save;
}

static unsigned cs_dpl(void)
{
    return (save()->cs.attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
}

/* A #DB intercept exit for a single-step trap: no error code, no event in
 * delivery, NRIP reset (APM vol. 2 §15.7.1), DR6.BS set. */
static void expect_single_step_exit(uint64_t rip)
{
    cr_expect_eq(ctl()->exit_code, EXIT_DB, "exit %#llx", (unsigned long long)ctl()->exit_code);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(ctl()->next_rip, 0);
    cr_expect_eq(save()->rip, rip, "RIP %#llx", (unsigned long long)save()->rip);
    cr_expect_eq(save()->dr6, DR6_INIT | DR6_BS, "DR6 %#llx", (unsigned long long)save()->dr6);
}

/* The state right after a 64-bit SYSRET to USER_CS. */
static void expect_user_mode(void)
{
    cr_expect_eq(save()->cs.selector, USER_CS, "CS %#x", save()->cs.selector);
    cr_expect_eq(cs_dpl(), 3);
    cr_expect(save()->cs.attrib & VMCB_ATTR_L, "a 64-bit code segment");
    cr_expect_eq(save()->cpl, 3);
    cr_expect_eq(save()->ss.selector, USER_SS, "SS %#x", save()->ss.selector);
}

/* ---- SYSCALL */

Test(singlestep, syscall_whose_sfmask_clears_tf_takes_no_single_step_trap)
{
    GUEST_CODE(CODE_GPA, SYSCALL);
    GUEST_CODE(LSTAR_GPA, 0xf4); /* hlt */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rflags = FIXED | TF;
    rig.vmcb->save.sfmask = TF;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT, "exit %#llx (0x41: a #DB after the SYSCALL)",
                 (unsigned long long)ctl()->exit_code);
    cr_expect_eq(save()->rip, LSTAR_GPA);
    cr_expect_eq(save()->cs.selector, CODE64_SEL);
    cr_expect_eq(save()->cpl, 0);
    cr_expect_eq(save()->rflags & TF, 0);
    cr_expect_eq(rig.cpu.gpr[1], CODE_GPA + 2, "RCX: the return RIP");
    cr_expect_eq(rig.cpu.gpr[11], FIXED | TF, "R11: the RFLAGS SYSCALL found");
    cr_expect_eq(save()->dr6, DR6_INIT, "no DR6.BS: %#llx", (unsigned long long)save()->dr6);
}

Test(singlestep, syscall_whose_sfmask_keeps_tf_traps_at_the_first_instruction_of_lstar)
{
    GUEST_CODE(CODE_GPA, SYSCALL);
    GUEST_CODE(LSTAR_GPA, 0xf4); /* hlt: not reached */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rflags = FIXED | TF;
    rig.vmcb->save.sfmask = X86_RFLAGS_IF; /* TF not in the mask */
    run_to_exit();
    expect_single_step_exit(LSTAR_GPA);
    cr_expect_eq(save()->cs.selector, CODE64_SEL);
    cr_expect_eq(save()->cpl, 0);
    cr_expect_eq(save()->rflags & TF, TF);
    cr_expect_eq(rig.cpu.gpr[1], CODE_GPA + 2);
    cr_expect_eq(rig.cpu.insns, 1);
}

/* kvm-unit-tests' syscall test: with TF set, SYSCALL (TF masked) into a
 * handler that is only SYSRET. The one #DB comes after the SYSRET, at the
 * instruction after the SYSCALL, in user mode. The SYSRET runs with TF
 * clear, so on the fast path. */
Test(singlestep, syscall_then_sysret_traps_once_after_the_sysret_at_the_user_rip)
{
    GUEST_CODE(CODE_GPA, SYSCALL, 0x0f, 0x0b); /* syscall; ud2 */
    GUEST_CODE(LSTAR_GPA, SYSRETQ);
    intercept(EXIT_DB);
    intercept(SVM_EXIT_UD);
    rig.vmcb->save.rflags = FIXED | TF;
    rig.vmcb->save.sfmask = TF;
    run_to_exit();
    expect_single_step_exit(CODE_GPA + 2);
    expect_user_mode();
    cr_expect_eq(save()->rflags & TF, TF, "SYSRET restored TF from R11");
    cr_expect_eq(rig.cpu.insns, 2, "SYSCALL and SYSRET retired");
}

/* ---- SYSRET */

/* TF clear and a large budget: the block (three instructions, SYSRET last)
 * runs on the fast path, run_blocks. */
Test(singlestep, sysret_loading_tf_as_the_last_entry_of_a_fast_path_block_traps_after_itself)
{
    GUEST_CODE(CODE_GPA,
               0x41, 0xbb, LE32(FIXED | TF), /* mov r11d, 0x102 */
               0xb9, LE32(USER_GPA),        /* mov ecx, USER_GPA */
               SYSRETQ);
    GUEST_CODE(USER_GPA, 0x0f, 0x0b); /* ud2: not reached */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_UD);
    run_to_exit();
    expect_single_step_exit(USER_GPA);
    expect_user_mode();
    cr_expect_eq(save()->rflags & TF, TF);
    cr_expect_eq(rig.cpu.insns, 3);
}

/* TF already set: SYSRET runs alone (step_one) and traps after itself. */
Test(singlestep, sysret_single_stepped_with_tf_set_traps_after_itself_at_the_user_rip)
{
    GUEST_CODE(CODE_GPA, SYSRETQ);
    GUEST_CODE(USER_GPA, 0x0f, 0x0b); /* ud2: not reached */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_UD);
    rig.vmcb->save.rflags = FIXED | TF;
    rig.cpu.gpr[11] = FIXED | TF;
    rig.cpu.gpr[1] = USER_GPA;
    run_to_exit();
    expect_single_step_exit(USER_GPA);
    expect_user_mode();
    cr_expect_eq(rig.cpu.insns, 1);
}

Test(singlestep, sysret_loading_tf_clear_takes_no_trap_and_runs_the_user_code)
{
    GUEST_CODE(CODE_GPA, SYSRETQ);
    GUEST_CODE(USER_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_UD);
    rig.cpu.gpr[11] = FIXED;
    rig.cpu.gpr[1] = USER_GPA;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD, "exit %#llx", (unsigned long long)ctl()->exit_code);
    cr_expect_eq(save()->rip, USER_GPA);
    expect_user_mode();
    cr_expect_eq(save()->dr6, DR6_INIT);
}

/* The trap is taken once: after the #DB exit the host clears TF and runs on;
 * the user code's UD2 is the next exit, with no second #DB. */
Test(singlestep, a_fast_path_sysret_trap_leaves_nothing_pending_for_the_next_run)
{
    GUEST_CODE(CODE_GPA, SYSRETQ);
    GUEST_CODE(USER_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(EXIT_DB);
    intercept(SVM_EXIT_UD);
    rig.cpu.gpr[11] = FIXED | TF;
    rig.cpu.gpr[1] = USER_GPA;
    run_to_exit();
    expect_single_step_exit(USER_GPA);
    rig.vmcb->save.rflags &= ~TF;
    rig.vmcb->save.dr6 = DR6_INIT;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD, "exit %#llx", (unsigned long long)ctl()->exit_code);
    cr_expect_eq(save()->rip, USER_GPA);
    cr_expect_eq(save()->dr6, DR6_INIT);
}

/* Not intercepted, the #DB goes through the IDT: from CPL 3 to the ring-0
 * handler on TSS.RSP0, with the user code's RIP, CS, RFLAGS (TF set), RSP
 * and SS in the frame. */
Test(singlestep, sysret_trap_through_the_idt_pushes_the_user_frame)
{
    GUEST_CODE(CODE_GPA, SYSRETQ);
    GUEST_CODE(USER_GPA, 0x0f, 0x0b); /* ud2: not reached */
    GUEST_CODE(DB_GPA, 0xf4);         /* hlt */
    write_idt_gate(X86_VEC_DB, DB_GPA, true);
    intercept(SVM_EXIT_HLT);
    intercept(SVM_EXIT_UD);
    rig.cpu.gpr[11] = FIXED | TF;
    rig.cpu.gpr[1] = USER_GPA;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT, "exit %#llx", (unsigned long long)ctl()->exit_code);
    cr_expect_eq(save()->rip, DB_GPA);
    cr_expect_eq(save()->cs.selector, CODE64_SEL);
    cr_expect_eq(save()->cpl, 0);
    cr_expect_eq(save()->rflags & TF, 0, "the gate clears TF");
    cr_expect_eq(save()->dr6, DR6_INIT | DR6_BS, "DR6 %#llx", (unsigned long long)save()->dr6);
    cr_expect_eq(save()->rsp, RSP0_TOP - 5 * 8, "RSP %#llx", (unsigned long long)save()->rsp);
    uint64_t sp = RSP0_TOP - 5 * 8;
    cr_expect_eq(phys_read_u64(sp + 0), USER_GPA, "return RIP");
    cr_expect_eq(phys_read_u64(sp + 8), USER_CS, "CS");
    cr_expect_eq(phys_read_u64(sp + 16), FIXED | TF, "RFLAGS");
    cr_expect_eq(phys_read_u64(sp + 24), STACK_TOP, "RSP");
    cr_expect_eq(phys_read_u64(sp + 32), USER_SS, "SS");
}
