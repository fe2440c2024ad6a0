/* test_cpu_fuse.c — a CMP and the Jcc that ends its block run as one fused
 * entry (src/cpu/ops_fast.c cmp_jcc, chosen in decode.c block_fill): for
 * every condition, both operand sizes, register and immediate forms and
 * operands at the edges of signed and unsigned ranges, the branch goes
 * where the flags of the CMP say, as SETcc after a second CMP (not fused)
 * and the flags computed here from the definition both say.
 *
 * Owns: a guest written per case: CMP; Jcc over a MOV CL, 1; CMP again;
 * SETcc DL; VMMCALL.
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

static const struct cpu_model model = CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull);

static void setup(void)
{
    rig.vmcb = rig_init_long(RAM_SIZE, &model);
}

static void teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_fuse, .init = setup, .fini = teardown);

/* The condition cc of a - b at size bytes, from CF ZF SF OF PF as the
 * definition gives them. */
static bool expected(uint64_t a, uint64_t b, unsigned size, unsigned cc)
{
    uint64_t m = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
    a &= m;
    b &= m;
    uint64_t r = (a - b) & m, top = 1ull << (8 * size - 1);
    bool cf = a < b, zf = r == 0, sf = r & top;
    bool of = ((a ^ b) & (a ^ r)) & top;
    bool pf = !__builtin_parityll(r & 0xff);
    bool v;
    switch (cc >> 1) {
    case 0: v = of; break;
    case 1: v = cf; break;
    case 2: v = zf; break;
    case 3: v = cf || zf; break;
    case 4: v = sf; break;
    case 5: v = pf; break;
    case 6: v = sf != of; break;
    default: v = zf || sf != of; break;
    }
    return v ^ (cc & 1);
}

/* The CMP of a form: 64/32-bit, RAX with RBX or with a 32-bit immediate. */
static unsigned emit_cmp(uint8_t *p, bool wide, bool imm, uint32_t imm32)
{
    unsigned n = 0;
    if (wide)
        p[n++] = 0x48;
    if (imm) {
        p[n++] = 0x3d; /* cmp rAX, imm32 */
        for (unsigned i = 0; i < 4; i++)
            p[n++] = (uint8_t)(imm32 >> (8 * i));
    } else {
        p[n++] = 0x39; /* cmp r/m, r: cmp rax, rbx */
        p[n++] = 0xd8;
    }
    return n;
}

/* Runs one case; returns (taken by Jcc, set by SETcc). */
static void run_case(bool wide, bool imm, uint64_t a, uint64_t b, unsigned cc, bool *jcc,
                     bool *setcc)
{
    uint8_t code[64];
    unsigned n = 0;
    code[n++] = 0x31, code[n++] = 0xc9; /* xor ecx, ecx */
    code[n++] = 0x31, code[n++] = 0xd2; /* xor edx, edx */
    n += emit_cmp(code + n, wide, imm, (uint32_t)b);
    code[n++] = (uint8_t)(0x70 + cc), code[n++] = 0x02; /* jcc +2 */
    code[n++] = 0xeb, code[n++] = 0x02;                 /* jmp +2 */
    code[n++] = 0xb1, code[n++] = 0x01;                 /* mov cl, 1 */
    n += emit_cmp(code + n, wide, imm, (uint32_t)b);
    code[n++] = 0x0f, code[n++] = (uint8_t)(0x90 + cc), code[n++] = 0xc2; /* setcc dl */
    code[n++] = 0x0f, code[n++] = 0x01, code[n++] = 0xd9;                /* vmmcall */
    phys_write(CODE_GPA, code, n);

    rig.vmcb->save.rip = CODE_GPA;
    rig.vmcb->save.rax = a;
    rig.cpu.gpr[3] = b;
    uint64_t budget = 1000;
    cr_assert_eq(cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT);
    cr_assert_eq(rig.vmcb->control.exit_code, SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + n - 3);
    *jcc = rig.cpu.gpr[1] & 0xff;
    *setcc = rig.cpu.gpr[2] & 0xff;
}

static const uint64_t edges[] = {
    0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x7fffffff, 0x80000000, 0xffffffff,
    0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, 0xfffffffffffffffeull,
    0xffffffffffffffffull,
};

static void check_form(bool wide, bool imm)
{
    unsigned size = wide ? 8 : 4;
    for (unsigned i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        for (unsigned j = 0; j < sizeof(edges) / sizeof(edges[0]); j++) {
            uint64_t a = edges[i], b = edges[j];
            if (imm) /* the immediate is 32 bits, sign-extended to 64 */
                b = (uint64_t)(int64_t)(int32_t)(uint32_t)b;
            for (unsigned cc = 0; cc < 16; cc++) {
                bool jcc, setcc;
                run_case(wide, imm, a, b, cc, &jcc, &setcc);
                bool want = expected(a, b, size, cc);
                cr_assert_eq(jcc, want, "%s cmp %s a=0x%llx b=0x%llx cc=%u: Jcc %s",
                             wide ? "64-bit" : "32-bit", imm ? "imm" : "reg",
                             (unsigned long long)a, (unsigned long long)b, cc,
                             jcc ? "taken" : "not taken");
                cr_assert_eq(setcc, want, "%s cmp %s a=0x%llx b=0x%llx cc=%u: SETcc %d",
                             wide ? "64-bit" : "32-bit", imm ? "imm" : "reg",
                             (unsigned long long)a, (unsigned long long)b, cc, setcc);
            }
        }
    }
}

Test(cpu_fuse, cmp_rr64_then_jcc_follows_the_flags) { check_form(true, false); }
Test(cpu_fuse, cmp_rr32_then_jcc_follows_the_flags) { check_form(false, false); }
Test(cpu_fuse, cmp_ri64_then_jcc_follows_the_flags) { check_form(true, true); }
Test(cpu_fuse, cmp_ri32_then_jcc_follows_the_flags) { check_form(false, true); }

/* The fused entry is what ran: the first block is one entry short of its
 * instructions (XOR, XOR, CMP+Jcc) and retires all four. */
Test(cpu_fuse, the_pair_is_one_entry_retiring_two)
{
    bool jcc, setcc;
    uint64_t before = rig.cpu.insns;
    run_case(true, false, 1, 2, 2 /* JB */, &jcc, &setcc);
    cr_assert(jcc && setcc);
    /* xor, xor, cmp, jb, mov cl, cmp, setb, and the VMMCALL exit uncounted */
    cr_assert_eq(rig.cpu.insns - before, 7);
    const struct block *b = &rig.cpu.blocks[0];
    bool found = false;
    for (unsigned i = 0; i < BLOCK_SETS * BLOCK_WAYS && !found; i++, b++)
        found = b->rip == CODE_GPA && b->n == 3 && b->weight == 4;
    cr_assert(found, "no block at the code with 3 entries retiring 4");
}
