/* test_cpu_flags_dead.c — a specialised register instruction whose flags
 * a later one overwrites before anything reads them runs without computing
 * them (src/cpu/ops_fast.c fast_flags_dead, chosen in decode.c
 * block_fill). Whatever can see the flags sees them exact: the exit at
 * the block's end, a fault of a memory access between the two writers,
 * INC/DEC (which keep CF), and single-stepping, which runs each
 * instruction alone.
 *
 * Owns: a guest written per case, ending in VMMCALL; #GP, #PF and #DB
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
#define UNMAPPED 0x40000000ull /* above the identity-mapped RAM: #PF */

static const struct cpu_model model = CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull);

static void setup(void)
{
    rig.vmcb = rig_init_long(RAM_SIZE, &model);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    set_intercept(rig.vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_DB);
}

static void teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_flags_dead, .init = setup, .fini = teardown);

/* Encodings. */
#define ADD_RAX_RBX 0x48, 0x01, 0xd8   /* add rax, rbx */
#define SUB_RCX_RCX 0x48, 0x29, 0xc9   /* sub rcx, rcx */
#define XOR_ECX_ECX 0x31, 0xc9         /* xor ecx, ecx */
#define INC_RSI 0x48, 0xff, 0xc6       /* inc rsi */
#define SHL_RSI_1 0x48, 0xc1, 0xe6, 0x01 /* shl rsi, 1 */
#define MOV_RCX_MRDX 0x48, 0x8b, 0x0a  /* mov rcx, [rdx] */
#define MOV_MRDX_RCX 0x48, 0x89, 0x0a  /* mov [rdx], rcx */
#define VMMCALL 0x0f, 0x01, 0xd9

#define ARITH (X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | \
               X86_RFLAGS_SF | X86_RFLAGS_OF)

/* Runs the code with RAX = ~0, RBX = 1 (so ADD RAX, RBX gives 0 with CF,
 * ZF, PF and AF set) and RDX = rdx; returns the exit code, the arithmetic
 * flags and RIP the exit saw in *flags and *rip. */
static uint64_t run(const uint8_t *code, size_t len, uint64_t rdx, uint64_t rflags,
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
Test(cpu_flags_dead, the_flags_at_the_end_of_a_block_are_the_last_writer_s)
{
    const uint8_t code[] = { ADD_RAX_RBX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(f, X86_RFLAGS_ZF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
    cr_assert_eq(rig.cpu.gpr[0], 0);
}

/* A load that faults between ADD and the XOR that would overwrite its
 * flags: the fault sees ADD's, and RIP at the load. */
Test(cpu_flags_dead, a_load_that_faults_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_RCX_MRDX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), UNMAPPED, 0, &f, &rip), SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}

/* The same with a store, and with a non-canonical address (#GP). */
Test(cpu_flags_dead, a_store_that_faults_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_MRDX_RCX, SUB_RCX_RCX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), 0x8000000000000000ull, 0, &f, &rip),
                 SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}

/* When the access does not fault, the second writer's flags are what the
 * block leaves. */
Test(cpu_flags_dead, a_load_that_does_not_fault_leaves_the_second_writer_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, MOV_RCX_MRDX, SUB_RCX_RCX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), DATA_GPA, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(f, X86_RFLAGS_ZF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
}

/* INC keeps CF: ADD's CF lives through it to the block's end. */
Test(cpu_flags_dead, inc_keeps_the_cf_of_the_writer_before_it)
{
    const uint8_t code[] = { ADD_RAX_RBX, INC_RSI, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.cpu.gpr[6], 0x41);
    /* INC 0x40 -> 0x41: PF set (two bits), AF clear; ADD's CF kept. */
    cr_assert_eq(f, X86_RFLAGS_CF | X86_RFLAGS_PF, "flags 0x%llx", (unsigned long long)f);
}

/* ADD, INC and SHL before an XOR: all three dead, the registers still
 * right; a shift by 0 in between passes the flags on. */
Test(cpu_flags_dead, dead_writers_still_write_their_registers)
{
    const uint8_t code[] = { ADD_RAX_RBX, INC_RSI, SHL_RSI_1, 0x48, 0xc1, 0xe6, 0x00,
                             XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), 0, 0, &f, &rip), SVM_EXIT_VMMCALL);
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
Test(cpu_flags_dead, a_single_step_trap_between_two_writers_sees_the_first_one_s_flags)
{
    const uint8_t code[] = { ADD_RAX_RBX, XOR_ECX_ECX, VMMCALL };
    uint64_t f, rip;
    cr_assert_eq(run(code, sizeof(code), 0, X86_RFLAGS_TF, &f, &rip),
                 SVM_EXIT_EXCP_BASE + X86_VEC_DB);
    cr_assert_eq(rip, CODE_GPA + 3);
    cr_assert_eq(f, add_flags, "flags 0x%llx", (unsigned long long)f);
}
