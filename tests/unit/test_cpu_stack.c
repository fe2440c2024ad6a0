/* test_cpu_stack.c — PUSH and POP of a 64-bit register, CALL to a
 * relative target and RET in 64-bit mode run specialised handlers
 * (src/cpu/ops_fast.c op_push_r64, op_pop_r64, op_call_abs, op_ret_r64):
 * what they store and load, PUSH RSP and POP RSP, where CALL and RET go,
 * and their faults: a stack address that is not canonical raises #SS(0),
 * one not mapped #PF, a RET to an address that is not canonical #GP(0),
 * and each leaves RSP and the destination as they were.
 *
 * Owns: a guest written per case, ending in VMMCALL; #SS, #PF and #GP
 * intercepted, so that a fault exits with the state it saw.
 * Must not: use src/hv.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *vmcb
#include "cpu_fixture.h"

#define RAM_SIZE (8ull << 20)
#define CODE_GPA 0x100000ull
#define STACK_GPA 0x300000ull
#define UNMAPPED 0x40000000ull /* above the identity-mapped RAM */

static const struct cpu_model model = CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull);

static void setup(void)
{
    rig.vmcb = rig_init_long(RAM_SIZE, &model);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
}

static void teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_stack, .init = setup, .fini = teardown);

#define VMMCALL 0x0f, 0x01, 0xd9

/* Runs code from CODE_GPA with RSP = rsp, RBX = 0x1122334455667788 and
 * R9 = 7; returns the exit code. */
static uint64_t run(const uint8_t *code, size_t len, uint64_t rsp)
{
    phys_write(CODE_GPA, code, len);
    rig.vmcb->save.rip = CODE_GPA;
    rig.vmcb->save.rsp = rsp;
    rig.cpu.gpr[3] = 0x1122334455667788ull;
    rig.cpu.gpr[9] = 7;
    uint64_t budget = 1000;
    cr_assert_eq(cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT);
    return rig.vmcb->control.exit_code;
}

/* The handlers that ran are the specialised ones: the block at the code
 * has them as its first entries (a generic handler's entry is its
 * wrapper, fn1 the handler). */
static void expect_specialised(unsigned entries)
{
    const struct block *b = &rig.cpu.blocks[0];
    for (unsigned i = 0; i < BLOCK_SETS * BLOCK_WAYS; i++, b++) {
        if (b->rip != CODE_GPA || !b->epoch)
            continue;
        for (unsigned k = 0; k < entries; k++)
            cr_assert_eq(b->insns[k].fn, b->insns[k].fn1, "entry %u is wrapped", k);
        return;
    }
    cr_assert_fail("no block at the code");
}

Test(cpu_stack, push_and_pop_move_values_and_rsp)
{
    /* push rbx; push r9; pop rcx; pop rdx; vmmcall */
    const uint8_t code[] = { 0x53, 0x41, 0x51, 0x59, 0x5a, VMMCALL };
    cr_assert_eq(run(code, sizeof(code), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(rig.cpu.gpr[1], 7);
    cr_assert_eq(rig.cpu.gpr[2], 0x1122334455667788ull);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), 0x1122334455667788ull);
    cr_assert_eq(phys_read_u64(STACK_GPA - 16), 7);
    expect_specialised(4);
}

Test(cpu_stack, push_rsp_pushes_rsp_as_it_was_and_pop_rsp_keeps_the_value)
{
    /* push rsp; pop rsp; vmmcall: RSP back where it was. */
    const uint8_t code1[] = { 0x54, 0x5c, VMMCALL };
    cr_assert_eq(run(code1, sizeof(code1), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), STACK_GPA);
    /* push rbx (a value that is an address); pop rsp: RSP is the value. */
    rig.cpu.gpr[3] = 0;
    const uint8_t code2[] = { 0x48, 0xc7, 0xc3, 0x00, 0x00, 0x20, 0x00, /* mov rbx, 0x200000 */
                              0x53, 0x5c, VMMCALL };
    cr_assert_eq(run(code2, sizeof(code2), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, 0x200000);
}

Test(cpu_stack, a_non_canonical_stack_raises_ss_and_leaves_rsp)
{
    const uint64_t rsp = 0x8000000000000008ull;
    const uint8_t push[] = { 0x53, VMMCALL }, pop[] = { 0x59, VMMCALL };
    cr_assert_eq(run(push, sizeof(push), rsp), SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    cr_assert_eq(rig.vmcb->control.exit_info_1, 0);
    cr_assert_eq(rig.vmcb->save.rsp, rsp);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA);
    rig.cpu.gpr[1] = 5;
    cr_assert_eq(run(pop, sizeof(pop), rsp), SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    cr_assert_eq(rig.vmcb->save.rsp, rsp);
    cr_assert_eq(rig.cpu.gpr[1], 5);
}

Test(cpu_stack, an_unmapped_stack_raises_pf_and_leaves_rsp)
{
    const uint8_t push[] = { 0x53, VMMCALL }, pop[] = { 0x59, VMMCALL };
    cr_assert_eq(run(push, sizeof(push), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED - 8);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    rig.cpu.gpr[1] = 5;
    cr_assert_eq(run(pop, sizeof(pop), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    cr_assert_eq(rig.cpu.gpr[1], 5);
}

/* call +5 (to ADD RAX, 1; RET), then VMMCALL after the CALL. */
static const uint8_t call_code[] = { 0xe8, 0x05, 0x00, 0x00, 0x00, VMMCALL, 0x90, 0x90,
                                     0x48, 0x83, 0xc0, 0x01, 0xc3 };

Test(cpu_stack, call_pushes_the_next_rip_and_ret_returns_to_it)
{
    rig.vmcb->save.rax = 41;
    cr_assert_eq(run(call_code, sizeof(call_code), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 5);
    cr_assert_eq(rig.vmcb->save.rax, 42);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), CODE_GPA + 5);
    expect_specialised(1); /* the CALL's block: the CALL alone */
}

Test(cpu_stack, a_call_whose_push_faults_leaves_rsp_and_rip)
{
    cr_assert_eq(run(call_code, sizeof(call_code), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED - 8);
}

Test(cpu_stack, a_ret_to_a_non_canonical_address_raises_gp_at_the_ret)
{
    /* mov rbx, 0x8000000000000000; push rbx; ret */
    const uint8_t code[] = { 0x48, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x53, 0xc3, VMMCALL };
    cr_assert_eq(run(code, sizeof(code), STACK_GPA), SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    cr_assert_eq(rig.vmcb->control.exit_info_1, 0);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 11);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA - 8);
    expect_specialised(3);
}
