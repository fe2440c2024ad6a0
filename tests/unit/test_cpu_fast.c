/* test_cpu_fast.c — the specialised handlers of src/cpu/ops_fast.c, where
 * they decide more than the generic ones would:
 *
 * - Flags that nothing reads (fast_flags_dead, chosen in decode.c
 *   block_fill): a register instruction whose flags a later one overwrites
 *   before anything reads them runs without computing them. Whatever can
 *   see the flags sees them exact: the exit at the block's end, a fault of
 *   a memory access between the two writers, INC/DEC (which keep CF), and
 *   single-stepping, which runs each instruction alone.
 * - The stack (op_push_r64, op_pop_r64, op_call_abs, op_ret_r64): what
 *   PUSH and POP of a 64-bit register store and load, PUSH RSP and POP
 *   RSP, where CALL and RET go, and their faults: a stack address that is
 *   not canonical raises #SS(0), one not mapped #PF, a RET to an address
 *   that is not canonical #GP(0), and each leaves RSP and the destination
 *   as they were.
 *
 * Owns: a guest written per case, ending in VMMCALL; #DB, #SS, #GP and #PF
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
#define DATA_GPA 0x200000ull
#define STACK_GPA 0x300000ull
#define UNMAPPED 0x40000000ull /* above the identity-mapped RAM: #PF */

static void setup(void)
{
    struct cpu_model model = CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull);
    model.no_jit = true; /* the handlers themselves, not host code (test_cpu_jit) */
    rig.vmcb = rig_init_long(RAM_SIZE, &model);
    static const unsigned vectors[] = { X86_VEC_DB, X86_VEC_SS, X86_VEC_GP, X86_VEC_PF };
    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + vectors[i]);
}

static void teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_fast, .init = setup, .fini = teardown);

#define VMMCALL 0x0f, 0x01, 0xd9

/* ---- flags that nothing reads */

/* Encodings. */
#define ADD_RAX_RBX 0x48, 0x01, 0xd8   /* add rax, rbx */
#define SUB_RCX_RCX 0x48, 0x29, 0xc9   /* sub rcx, rcx */
#define XOR_ECX_ECX 0x31, 0xc9         /* xor ecx, ecx */
#define INC_RSI 0x48, 0xff, 0xc6       /* inc rsi */
#define SHL_RSI_1 0x48, 0xc1, 0xe6, 0x01 /* shl rsi, 1 */
#define MOV_RCX_MRDX 0x48, 0x8b, 0x0a  /* mov rcx, [rdx] */
#define MOV_MRDX_RCX 0x48, 0x89, 0x0a  /* mov [rdx], rcx */

#define ARITH (X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | \
               X86_RFLAGS_SF | X86_RFLAGS_OF)

/* Runs the code with RAX = ~0, RBX = 1 (so ADD RAX, RBX gives 0 with CF,
 * ZF, PF and AF set) and RDX = rdx; returns the exit code, the arithmetic
 * flags and RIP the exit saw in *flags and *rip. */
static uint64_t run_flags(const uint8_t *code, size_t len, uint64_t rdx, uint64_t rflags,
                    uint64_t *flags, uint64_t *rip)
{
    phys_write(CODE_GPA, code, len);
    rig.vmcb->save.rip = CODE_GPA;
    rig.vmcb->save.rax = ~0ull;
    rig.vmcb->save.rflags = X86_RFLAGS_FIXED | rflags;
    rig.cpu.gpr[3] = 1;
    rig.cpu.gpr[2] = rdx;
    rig.cpu.gpr[6] = 0x40;
    uint64_t budget = 1000;
    cr_assert_eq(cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT);
    *flags = rig.vmcb->save.rflags & ARITH;
    *rip = rig.vmcb->save.rip;
    return rig.vmcb->control.exit_code;
}

static const uint64_t add_flags = X86_RFLAGS_CF | X86_RFLAGS_ZF | X86_RFLAGS_PF | X86_RFLAGS_AF;

/* The block's end: the last writer's flags, none of the one before. */
Test(cpu_fast, the_flags_at_the_end_of_a_block_are_the_last_writer_s)
{
    const uint8_t code[] = { ADD_RAX_RBX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(f, X86_RFLAGS_ZF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
    cr_assert_eq(rig.cpu.gpr[0], 0);
}

/* A load that faults between ADD and the XOR that would overwrite its
 * flags: the fault sees ADD's, and RIP at the load. */
Test(cpu_fast, a_load_that_faults_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_RCX_MRDX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), UNMAPPED, 0, &f, &rip), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}

/* The same with a store, and with a non-canonical address (#GP). */
Test(cpu_fast, a_store_that_faults_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_MRDX_RCX, SUB_RCX_RCX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), 0x8000000000000000ull, 0, &f, &rip),
                 SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}

/* When the access does not fault, the second writer's flags are what the
 * block leaves. */
Test(cpu_fast, a_load_that_does_not_fault_leaves_the_second_writer_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_RCX_MRDX, SUB_RCX_RCX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), DATA_GPA, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(f, X86_RFLAGS_ZF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
}

/* INC keeps CF: ADD's CF lives through it to the block's end. */
Test(cpu_fast, inc_keeps_the_cf_of_the_writer_before_it)
{
    const uint8_t code[] = { ADD_RAX_RBX, INC_RSI, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.cpu.gpr[6], 0x41);
    /* INC 0x40 -> 0x41: PF set (two bits), AF clear; ADD's CF kept. */
    cr_assert_eq(f, X86_RFLAGS_CF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
}

/* ADD, INC and SHL before an XOR: all three dead, the registers still
 * right; a shift by 0 in between passes the flags on. */
Test(cpu_fast, dead_writers_still_write_their_registers)
{
    const uint8_t code[] = { ADD_RAX_RBX, INC_RSI, SHL_RSI_1, 0x48, 0xc1, 0xe6, 0x00,
                             XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.cpu.gpr[0], 0);
    cr_assert_eq(rig.cpu.gpr[6], 0x82);
    cr_assert_eq(f, X86_RFLAGS_ZF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
    /* The block's entries: ADD, INC and SHL run without their flags. */
    const struct block *b = &rig.cpu.blocks[0];
    bool found = false;
    for (unsigned i = 0; i < BLOCK_SETS * BLOCK_WAYS && !found; i++, b++) {
        if (b->rip != CODE_GPA || b->n != 6)
            continue;
        found = true;
        for (unsigned k = 0; k < 3; k++)
            cr_assert_neq(b->insns[k].fn, b->insns[k].fn1, "entry %u computes its flags", k);
        cr_assert_eq(b->insns[3].fn, b->insns[3].fn1, "the shift by 0 was changed");
        cr_assert_eq(b->insns[4].fn, b->insns[4].fn1, "the last writer lost its flags");
    }
    cr_assert(found, "no block of 6 entries at the code");
}

/* Single-stepped, each instruction runs alone with its flags: the trap
 * after ADD sees them although the XOR after it overwrites them. */
Test(cpu_fast, a_single_step_trap_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run_flags(code, sizeof(code), 0, X86_RFLAGS_TF, &f, &rip),
                 SVM_EXIT_EXCP_BASE + X86_VEC_DB);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}

/* ---- the stack */

/* Runs code from CODE_GPA with RSP = rsp, RBX = 0x1122334455667788 and
 * R9 = 7; returns the exit code. */
static uint64_t run_stack(const uint8_t *code, size_t len, uint64_t rsp)
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

Test(cpu_fast, push_and_pop_move_values_and_rsp)
{
    /* push rbx; push r9; pop rcx; pop rdx; vmmcall */
    const uint8_t code[] = { 0x53, 0x41, 0x51, 0x59, 0x5a, VMMCALL };
    cr_assert_eq(run_stack(code, sizeof(code), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(rig.cpu.gpr[1], 7);
    cr_assert_eq(rig.cpu.gpr[2], 0x1122334455667788ull);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), 0x1122334455667788ull);
    cr_assert_eq(phys_read_u64(STACK_GPA - 16), 7);
    expect_specialised(4);
}

Test(cpu_fast, push_rsp_pushes_rsp_as_it_was_and_pop_rsp_keeps_the_value)
{
    /* push rsp; pop rsp; vmmcall: RSP back where it was. */
    const uint8_t code1[] = { 0x54, 0x5c, VMMCALL };
    cr_assert_eq(run_stack(code1, sizeof(code1), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), STACK_GPA);
    /* push rbx (a value that is an address); pop rsp: RSP is the value. */
    rig.cpu.gpr[3] = 0;
    const uint8_t code2[] = { 0x48, 0xc7, 0xc3, 0x00, 0x00, 0x20, 0x00, /* mov rbx, 0x200000 */
                              0x53, 0x5c, VMMCALL };
    cr_assert_eq(run_stack(code2, sizeof(code2), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rsp, 0x200000);
}

Test(cpu_fast, a_non_canonical_stack_raises_ss_and_leaves_rsp)
{
    const uint64_t rsp = 0x8000000000000008ull;
    const uint8_t push[] = { 0x53, VMMCALL }, pop[] = { 0x59, VMMCALL };
    cr_assert_eq(run_stack(push, sizeof(push), rsp), SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    cr_assert_eq(rig.vmcb->control.exit_info_1, 0);
    cr_assert_eq(rig.vmcb->save.rsp, rsp);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA);
    rig.cpu.gpr[1] = 5;
    cr_assert_eq(run_stack(pop, sizeof(pop), rsp), SVM_EXIT_EXCP_BASE + X86_VEC_SS);
    cr_assert_eq(rig.vmcb->save.rsp, rsp);
    cr_assert_eq(rig.cpu.gpr[1], 5);
}

Test(cpu_fast, an_unmapped_stack_raises_pf_and_leaves_rsp)
{
    const uint8_t push[] = { 0x53, VMMCALL }, pop[] = { 0x59, VMMCALL };
    cr_assert_eq(run_stack(push, sizeof(push), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED - 8);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    rig.cpu.gpr[1] = 5;
    cr_assert_eq(run_stack(pop, sizeof(pop), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    cr_assert_eq(rig.cpu.gpr[1], 5);
}

/* call +5 (to ADD RAX, 1; RET), then VMMCALL after the CALL. */
static const uint8_t call_code[] = { 0xe8, 0x05, 0x00, 0x00, 0x00, VMMCALL, 0x90, 0x90,
                                     0x48, 0x83, 0xc0, 0x01, 0xc3 };

Test(cpu_fast, call_pushes_the_next_rip_and_ret_returns_to_it)
{
    rig.vmcb->save.rax = 41;
    cr_assert_eq(run_stack(call_code, sizeof(call_code), STACK_GPA), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 5);
    cr_assert_eq(rig.vmcb->save.rax, 42);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA);
    cr_assert_eq(phys_read_u64(STACK_GPA - 8), CODE_GPA + 5);
    expect_specialised(1); /* the CALL's block: the CALL alone */
}

Test(cpu_fast, a_call_whose_push_faults_leaves_rsp_and_rip)
{
    cr_assert_eq(run_stack(call_code, sizeof(call_code), UNMAPPED), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA);
    cr_assert_eq(rig.vmcb->save.rsp, UNMAPPED);
    cr_assert_eq(rig.vmcb->control.exit_info_2, UNMAPPED - 8);
}

Test(cpu_fast, a_ret_to_a_non_canonical_address_raises_gp_at_the_ret)
{
    /* mov rbx, 0x8000000000000000; push rbx; ret */
    const uint8_t code[] = { 0x48, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x53, 0xc3, VMMCALL };
    cr_assert_eq(run_stack(code, sizeof(code), STACK_GPA), SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    cr_assert_eq(rig.vmcb->control.exit_info_1, 0);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 11);
    cr_assert_eq(rig.vmcb->save.rsp, STACK_GPA - 8);
    expect_specialised(3);
}
