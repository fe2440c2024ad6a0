/* test_cpu_jit.c — host code for blocks (src/cpu/jit.c) against the
 * interpreter's handlers it stands in for.
 *
 * Owns: a machine on cpu_fixture.h's rig (16 MiB of RAM mapped 1:1 by
 * 2 MiB pages, one 64-bit ring-0 VMCB with VMMCALL and #PF, #GP, #SS, #UD
 * intercepted), run once with host code for every block with a covered
 * instruction (jit_min 1) and once without (no_jit), and tests that
 * compare the two runs' guest-visible outcomes exactly: random blocks of
 * the covered forms and some that are not, with every register in every
 * role, faults, page crossings and TLB misses among them; random loops of
 * blocks linked to each other, run whole and with budgets that end them
 * anywhere; and directed tests for a fault in the middle of a block, a
 * store into the running block's code, a budget ending inside a block,
 * and blocks that loop onto themselves across a new epoch or reading CF
 * first.
 * Must not: use src/hv or touch any file but this one.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *vmcb
#include "cpu_fixture.h"

#define RAM_SIZE (16ull << 20)
#define CODE_GPA 0x100000ull
#define DATA_GPA 0x200000ull /* what the operands point into */
#define DATA_SIZE 0x10000u
#define VMMCALL 0x0f, 0x01, 0xd9

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

static const uint64_t exceptions[] = { SVM_EXIT_EXCP_BASE + X86_VEC_PF,
                                       SVM_EXIT_EXCP_BASE + X86_VEC_GP,
                                       SVM_EXIT_EXCP_BASE + X86_VEC_SS,
                                       SVM_EXIT_EXCP_BASE + X86_VEC_UD };

/* A fresh machine, with host code (for blocks from one covered entry on)
 * or without. */
static void machine(bool jit)
{
    struct cpu_model model = CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull);
    model.no_jit = !jit;
    model.jit_min = 1;
    rig.vmcb = rig_init_long(RAM_SIZE, &model);
    for (unsigned i = 0; i < sizeof(exceptions) / sizeof(exceptions[0]); i++)
        set_intercept(rig.vmcb, exceptions[i]);
}

static void machine_free(void)
{
    free(rig.vmcb);
    rig_fini();
}

/* What a run left that the guest could see. */
struct outcome {
    uint64_t gpr[16];
    uint64_t rip, rflags, exit_code, info1, info2;
    uint64_t insns;
    uint8_t data[DATA_SIZE];
};

/* Runs from CODE_GPA with the registers regs and the data data until an
 * exit (or budget instructions). */
static void run(const uint64_t regs[16], const uint8_t *data, uint64_t budget,
                struct outcome *o)
{
    phys_write(DATA_GPA, data, DATA_SIZE);
    struct vmcb *v = rig.vmcb;
    v->save.rip = CODE_GPA;
    v->save.rax = regs[RAX];
    v->save.rsp = regs[RSP];
    v->save.rflags = X86_RFLAGS_FIXED;
    for (unsigned r = 0; r < 16; r++)
        rig.cpu.gpr[r] = regs[r];
    uint64_t before = rig.cpu.insns;
    enum cpu_run_result rr = cpu_run(&rig.cpu, v, rig.iopm, rig.msrpm, &budget);
    cr_assert(rr == CPU_RUN_VMEXIT || rr == CPU_RUN_BUDGET, "cpu_run returned %d", (int)rr);
    memset(o, 0, sizeof(*o));
    for (unsigned r = 0; r < 16; r++)
        o->gpr[r] = rig.cpu.gpr[r];
    o->gpr[RAX] = v->save.rax;
    o->gpr[RSP] = v->save.rsp;
    o->rip = v->save.rip;
    o->rflags = v->save.rflags;
    if (rr == CPU_RUN_VMEXIT) {
        o->exit_code = v->control.exit_code;
        o->info1 = v->control.exit_info_1;
        o->info2 = v->control.exit_info_2;
    }
    o->insns = rig.cpu.insns - before;
    phys_read(DATA_GPA, o->data, DATA_SIZE);
}

static void expect_same(const struct outcome *jit, const struct outcome *plain,
                        const char *what)
{
    for (unsigned r = 0; r < 16; r++)
        cr_expect_eq(jit->gpr[r], plain->gpr[r], "%s: r%u 0x%llx, without host code 0x%llx",
                     what, r, (unsigned long long)jit->gpr[r],
                     (unsigned long long)plain->gpr[r]);
    cr_expect_eq(jit->rip, plain->rip, "%s: RIP 0x%llx, without host code 0x%llx", what,
                 (unsigned long long)jit->rip, (unsigned long long)plain->rip);
    cr_expect_eq(jit->rflags, plain->rflags, "%s: RFLAGS 0x%llx, without host code 0x%llx",
                 what, (unsigned long long)jit->rflags, (unsigned long long)plain->rflags);
    cr_expect_eq(jit->exit_code, plain->exit_code, "%s: exit 0x%llx, without host code 0x%llx",
                 what, (unsigned long long)jit->exit_code,
                 (unsigned long long)plain->exit_code);
    cr_expect_eq(jit->info1, plain->info1, "%s: exit_info_1", what);
    cr_expect_eq(jit->info2, plain->info2, "%s: exit_info_2", what);
    cr_expect_eq(jit->insns, plain->insns, "%s: %llu instructions, without host code %llu",
                 what, (unsigned long long)jit->insns, (unsigned long long)plain->insns);
    cr_expect(memcmp(jit->data, plain->data, DATA_SIZE) == 0, "%s: data differ", what);
}

/* ---- random blocks of the covered forms */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* One memory operand in this many has a base that is anything (often a
 * #PF or #GP). */
static unsigned fault_odds = 40;

struct gen {
    uint8_t *p;
    uint64_t rip;            /* of the byte at p */
    unsigned ptr[3], idx[2]; /* registers holding data pointers, small indexes */
    uint16_t fixed;          /* those five: never written */
};

static void put(struct gen *g, unsigned v)
{
    *g->p++ = (uint8_t)v;
    g->rip++;
}

static void put32(struct gen *g, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        put(g, v >> (8 * i));
}

/* A register the block may write. */
static unsigned writable(const struct gen *g)
{
    unsigned r;
    do
        r = below(16);
    while (g->fixed >> r & 1);
    return r;
}

/* REX (W when w; R, X, B from the registers) if it is needed, then the
 * opcode bytes. */
static void rex_ops(struct gen *g, bool w, unsigned reg, unsigned index, unsigned base,
                    const uint8_t *op, unsigned nop)
{
    unsigned r = (w ? 8 : 0) | (reg >> 3) << 2 | (index >> 3) << 1 | (base >> 3);
    if (r)
        put(g, 0x40 | r);
    for (unsigned i = 0; i < nop; i++)
        put(g, op[i]);
}

static void rex_op(struct gen *g, unsigned reg, unsigned index, unsigned base, unsigned op)
{
    const uint8_t o = (uint8_t)op;
    rex_ops(g, true, reg, index, base, &o, 1);
}

/* An instruction with a memory operand (opcode bytes op, ModRM reg field
 * reg, operand size 8 when w, imm bytes of immediate after the
 * displacement, which the caller puts): a data address in one of the
 * forms the decoder gives fast_operands (base + disp, base + index *
 * scale + disp, index * scale + disp, disp alone, RIP-relative); now and
 * then one that faults (a written register as the base) or crosses a
 * page. */
static void mem_insn(struct gen *g, bool w, const uint8_t *op, unsigned nop, unsigned reg,
                     unsigned imm)
{
    unsigned base = g->ptr[below(3)], index = g->idx[below(2)];
    uint32_t disp = (uint32_t)below(0x3000) & ~7u;
    if (below(8) == 0)
        disp |= 0xffc; /* with a pointer at an 8-byte boundary: crosses into the next page */
    if (below(fault_odds) == 0)
        base = writable(g); /* anything: often a #PF or #GP */
    unsigned ss = below(4);
    switch (below(5)) {
    case 0: /* base + disp32 (RSP and R12 as the base take a SIB without an index) */
        rex_ops(g, w, reg, 0, base, op, nop);
        put(g, 0x80 | (reg & 7) << 3 | (base & 7));
        if ((base & 7) == RSP)
            put(g, 0x24);
        put32(g, disp);
        return;
    case 1: /* base + index * scale + disp32 */
        rex_ops(g, w, reg, index, base, op, nop);
        put(g, 0x84 | (reg & 7) << 3);
        put(g, ss << 6 | (index & 7) << 3 | (base & 7));
        put32(g, disp);
        return;
    case 2: /* index * scale + disp32, no base */
        rex_ops(g, w, reg, index, 0, op, nop);
        put(g, 0x04 | (reg & 7) << 3);
        put(g, ss << 6 | (index & 7) << 3 | 5);
        put32(g, (uint32_t)DATA_GPA + disp);
        return;
    case 3: /* disp32 alone */
        rex_ops(g, w, reg, 0, 0, op, nop);
        put(g, 0x04 | (reg & 7) << 3);
        put(g, 0x25);
        put32(g, (uint32_t)DATA_GPA + disp);
        return;
    default: { /* RIP-relative: from the end of the instruction */
        rex_ops(g, w, reg, 0, 0, op, nop);
        put(g, 0x05 | (reg & 7) << 3);
        uint64_t next = g->rip + 4 + imm;
        put32(g, (uint32_t)(DATA_GPA + 0x4000 + disp - next));
        return;
    }
    }
}

static void mem_operand(struct gen *g, unsigned op, unsigned reg)
{
    const uint8_t o = (uint8_t)op;
    mem_insn(g, true, &o, 1, reg, 0);
}

/* An immediate of size bytes: small or any. */
static void put_imm(struct gen *g, unsigned size)
{
    uint32_t v = below(4) ? (uint32_t)rnd() : (uint32_t)below(256) - 128;
    for (unsigned i = 0; i < size; i++)
        put(g, v >> (8 * i));
}

/* An instruction of memory and an immediate, byte (opcode byte_op),
 * dword or qword (op), ModRM reg field digit. */
static void mem_imm(struct gen *g, unsigned byte_op, unsigned op, unsigned digit)
{
    unsigned size = below(3);
    const uint8_t o = (uint8_t)(size == 0 ? byte_op : op);
    mem_insn(g, size == 2, &o, 1, digit, size == 0 ? 1 : 4);
    put_imm(g, size == 0 ? 1 : 4);
}

/* One instruction of a covered form, 64-bit (the first ten) or another
 * size; or now and then (mixed) one that is not covered. */
static void insn_mixed(struct gen *g, bool mixed)
{
    static const uint8_t alu_rr[] = { 0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85 };
    static const uint8_t alu_rm[] = { 0x03, 0x2b, 0x23, 0x0b, 0x33, 0x3b };
    static const uint8_t alu_ext[] = { 0, 5, 4, 1, 6, 7 };
    static const uint8_t shift_ext[] = { 4, 5, 7 };
    unsigned d = writable(g), s = below(4) ? below(16) : d; /* add rax, rax and the like */
    bool w = below(2);
    unsigned k = below(mixed ? 24 : 10);
    switch (k) {
    case 0: case 1: /* ALU between registers (CMP and TEST write nothing) */
        rex_op(g, s, 0, d, alu_rr[below(sizeof(alu_rr))]);
        put(g, 0xc0 | (s & 7) << 3 | (d & 7));
        return;
    case 2: { /* ALU with an imm32, or TEST's */
        unsigned a = below(7);
        uint32_t imm = below(4) ? (uint32_t)rnd() : (uint32_t)below(256) - 128;
        if (a == 6) {
            rex_op(g, 0, 0, d, 0xf7);
            put(g, 0xc0 | (d & 7));
        } else {
            rex_op(g, 0, 0, d, 0x81);
            put(g, 0xc0 | alu_ext[a] << 3 | (d & 7));
        }
        put32(g, imm);
        return;
    }
    case 3: /* shift by an immediate, 0 included */
        rex_op(g, 0, 0, d, 0xc1);
        put(g, 0xc0 | shift_ext[below(3)] << 3 | (d & 7));
        put(g, below(5) ? below(64) : below(256));
        return;
    case 4: /* MOV between registers */
        rex_op(g, s, 0, d, 0x89);
        put(g, 0xc0 | (s & 7) << 3 | (d & 7));
        return;
    case 5: /* MOV of an imm64 */
        rex_op(g, 0, 0, d, 0xb8 + (d & 7));
        for (unsigned i = 0; i < 8; i++)
            put(g, (unsigned)rnd());
        return;
    case 6: case 7: /* load */
        mem_operand(g, 0x8b, d);
        return;
    case 8: /* store */
        mem_operand(g, 0x89, s);
        return;
    case 9: /* LEA */
        mem_operand(g, 0x8d, d);
        return;
    case 10: { /* 32-bit ALU between registers, or with an imm32 */
        const uint8_t op = alu_rr[below(sizeof(alu_rr))];
        if (below(2)) {
            rex_ops(g, false, s, 0, d, &op, 1);
            put(g, 0xc0 | (s & 7) << 3 | (d & 7));
        } else {
            const uint8_t o = 0x81;
            rex_ops(g, false, 0, 0, d, &o, 1);
            put(g, 0xc0 | alu_ext[below(6)] << 3 | (d & 7));
            put_imm(g, 4);
        }
        return;
    }
    case 11: { /* 32-bit MOV, SHIFT */
        const uint8_t mov = 0x89, movi = (uint8_t)(0xb8 + (d & 7)), sh = 0xc1;
        switch (below(3)) {
        case 0:
            rex_ops(g, false, s, 0, d, &mov, 1);
            put(g, 0xc0 | (s & 7) << 3 | (d & 7));
            return;
        case 1:
            rex_ops(g, false, 0, 0, d, &movi, 1);
            put_imm(g, 4);
            return;
        default:
            rex_ops(g, false, 0, 0, d, &sh, 1);
            put(g, 0xc0 | shift_ext[below(3)] << 3 | (d & 7));
            put(g, below(5) ? below(32) : below(256));
            return;
        }
    }
    case 12: { /* 32-bit load or store, MOVZX of a byte or word */
        static const uint8_t ld[] = { 0x8b }, st[] = { 0x89 }, zb[] = { 0x0f, 0xb6 },
                             zw[] = { 0x0f, 0xb7 };
        switch (below(4)) {
        case 0: mem_insn(g, false, ld, 1, d, 0); return;
        case 1: mem_insn(g, false, st, 1, s, 0); return;
        case 2: mem_insn(g, w, zb, 2, d, 0); return;
        default: mem_insn(g, w, zw, 2, d, 0); return;
        }
    }
    case 13: /* MOV of an immediate to memory: byte, dword, qword */
        mem_imm(g, 0xc6, 0xc7, 0);
        return;
    case 14: case 15: /* CMP of memory with an immediate: byte, dword, qword */
        mem_imm(g, 0x80, 0x81, 7);
        return;
    case 16: case 17: { /* ALU with a memory source */
        const uint8_t op = alu_rm[below(sizeof(alu_rm))];
        mem_insn(g, w, &op, 1, d, 0);
        return;
    }
    case 18: case 19: { /* INC, DEC */
        const uint8_t op = 0xff;
        rex_ops(g, w, 0, 0, d, &op, 1);
        put(g, 0xc0 | below(2) << 3 | (d & 7));
        return;
    }
    case 20: { /* not covered: IMUL, BSWAP */
        static const uint8_t imul[] = { 0x0f, 0xaf };
        if (below(2)) {
            rex_ops(g, w, d, 0, s, imul, 2);
            put(g, 0xc0 | (d & 7) << 3 | (s & 7));
        } else {
            const uint8_t bs[] = { 0x0f, (uint8_t)(0xc8 + (d & 7)) };
            rex_ops(g, w, 0, 0, d, bs, 2);
        }
        return;
    }
    case 23: { /* MOVZX from a byte or word register: with a REX (SIL, DIL...) or
                * without (AH-BH, not covered) */
        const uint8_t op[] = { 0x0f, below(2) ? 0xb6 : 0xb7 };
        if (below(4))
            put(g, 0x40 | (w ? 8 : 0) | (d >> 3) << 2 | (s >> 3));
        else if (d >= 8 || s >= 8 || w)
            put(g, 0x40 | (w ? 8 : 0) | (d >> 3) << 2 | (s >> 3));
        put(g, op[0]);
        put(g, op[1]);
        put(g, 0xc0 | (d & 7) << 3 | (s & 7));
        return;
    }
    case 21: /* CF set or flipped: what INC and DEC keep */
        put(g, below(2) ? 0xf9 : 0xf5); /* stc, cmc */
        return;
    default: { /* ADC: reads CF, not covered */
        const uint8_t op = 0x11;
        rex_ops(g, w, s, 0, d, &op, 1);
        put(g, 0xc0 | (s & 7) << 3 | (d & 7));
        return;
    }
    }
}

static void insn(struct gen *g)
{
    insn_mixed(g, true);
}

/* Registers with fixed roles for a case (three data pointers, two small
 * indexes, and a loop counter when count is not 0: any of the sixteen but
 * RSP as an index or the counter), the others random; data random. */
static void gen_init(struct gen *g, uint8_t *code, uint64_t regs[16], uint8_t *data,
                     unsigned count, unsigned *counter)
{
    *g = (struct gen){ .p = code, .rip = CODE_GPA };
    unsigned perm[16];
    for (unsigned i = 0; i < 16; i++)
        perm[i] = i;
    for (unsigned i = 15; i > 0; i--) {
        unsigned j = below(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    unsigned k = 0;
    for (unsigned i = 0; i < 3; i++) {
        while (perm[k] == RSP)
            k++;
        if (i < 2)
            g->idx[i] = perm[k];
        else
            *counter = perm[k];
        perm[k++] = 0xff;
    }
    for (unsigned i = 0, j = 0; i < 3; j++)
        if (perm[j] != 0xff) {
            g->ptr[i++] = perm[j];
            perm[j] = 0xff;
        }
    for (unsigned r = 0; r < 16; r++)
        regs[r] = rnd();
    for (unsigned i = 0; i < 3; i++) {
        regs[g->ptr[i]] = DATA_GPA + (below(0x800) << 3);
        g->fixed |= (uint16_t)(1u << g->ptr[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        regs[g->idx[i]] = below(256);
        g->fixed |= (uint16_t)(1u << g->idx[i]);
    }
    if (count) {
        regs[*counter] = count;
        g->fixed |= (uint16_t)(1u << *counter);
    }
    for (unsigned i = 0; i < DATA_SIZE; i++)
        data[i] = (uint8_t)rnd();
}

static void gen_end(struct gen *g, const uint8_t *code)
{
    const uint8_t end[] = { VMMCALL };
    memcpy(g->p, end, sizeof(end));
    g->p += sizeof(end);
    phys_write(CODE_GPA, code, (size_t)(g->p - code));
}

/* The flags from an ALU operation of two registers (often one with
 * itself), 64-bit or 32-bit. */
static void flags_op(struct gen *g)
{
    static const uint8_t ops[] = { 0x01, 0x29, 0x39, 0x85, 0x31 };
    unsigned d = writable(g), s = below(2) ? d : below(16);
    const uint8_t op = ops[below(sizeof(ops))];
    rex_ops(g, below(2), s, 0, d, &op, 1);
    put(g, 0xc0 | (s & 7) << 3 | (d & 7));
}

/* A block of n instructions and a VMMCALL at CODE_GPA; regs and data to
 * start it from. */
static void random_case(unsigned n, uint64_t regs[16], uint8_t *data)
{
    static uint8_t code[64 * 15 + 3];
    struct gen g;
    unsigned counter;
    gen_init(&g, code, regs, data, 0, &counter);
    for (unsigned i = 0; i < n; i++)
        insn(&g);
    if (below(2)) /* the flags at the end */
        flags_op(&g);
    gen_end(&g, code);
}

/* Jcc rel32 with condition cc to target, or (target 0) to be patched:
 * the address of its rel32. */
static uint8_t *jcc(struct gen *g, unsigned cc, uint64_t target)
{
    put(g, 0x0f);
    put(g, 0x80 + cc);
    uint8_t *rel = g->p;
    put32(g, target ? (uint32_t)(target - (g->rip + 4)) : 0);
    return rel;
}

/* A loop at CODE_GPA run count times: a block of the forms, a Jcc on its
 * flags (or a compare's) over a second block to a third, and the loop's
 * branch on the counter; then VMMCALL. */
static void random_loop(uint64_t regs[16], uint8_t *data)
{
    static uint8_t code[32 * 15 + 64];
    struct gen g;
    unsigned counter;
    gen_init(&g, code, regs, data, 1 + below(12), &counter);
    uint64_t top = g.rip;
    for (unsigned i = 1 + below(8); i > 0; i--)
        insn(&g);
    if (below(3)) { /* else one block that loops onto itself */
        if (below(2))
            flags_op(&g);
        uint8_t *over = jcc(&g, below(16), 0);
        uint64_t from = g.rip;
        for (unsigned i = below(8); i > 0; i--)
            insn(&g);
        uint32_t rel = (uint32_t)(g.rip - from);
        memcpy(over, &rel, 4);
        for (unsigned i = below(6); i > 0; i--)
            insn(&g);
    }
    bool w = below(2);
    switch (below(4)) {
    case 0: { /* dec counter; jnz top */
        const uint8_t op = 0xff;
        rex_ops(&g, w, 0, 0, counter, &op, 1);
        put(&g, 0xc8 | (counter & 7));
        break;
    }
    case 1: { /* sub counter, 1; jnz top */
        const uint8_t op = 0x83;
        rex_ops(&g, w, 0, 0, counter, &op, 1);
        put(&g, 0xe8 | (counter & 7));
        put(&g, 1);
        break;
    }
    case 2: { /* dec counter; bswap (flags untouched, not covered); jnz: the Jcc's handler */
        unsigned r = writable(&g);
        const uint8_t op = 0xff, bs[] = { 0x0f, (uint8_t)(0xc8 + (r & 7)) };
        rex_ops(&g, w, 0, 0, counter, &op, 1);
        put(&g, 0xc8 | (counter & 7));
        rex_ops(&g, false, 0, 0, r, bs, 2);
        break;
    }
    default: { /* a memory operation between: sub counter, 1; mov to memory; test; jnz */
        const uint8_t op = 0x83, st[] = { 0x89 }, test = 0x85;
        rex_ops(&g, w, 0, 0, counter, &op, 1);
        put(&g, 0xe8 | (counter & 7));
        put(&g, 1);
        mem_insn(&g, true, st, 1, counter, 0);
        rex_ops(&g, w, counter, 0, counter, &test, 1);
        put(&g, 0xc0 | (counter & 7) << 3 | (counter & 7));
        break;
    }
    }
    jcc(&g, 5, top);
    gen_end(&g, code);
}

TestSuite(cpu_jit);

/* Each case runs twice on each machine (the first fills the TLB, so the
 * second takes the hit paths), and the runs must agree. */
Test(cpu_jit, random_blocks_of_the_covered_forms_run_as_the_handlers_run_them)
{
    enum { CASES = 300 };
    static uint8_t data[DATA_SIZE];
    static struct outcome with[2], without[2];
    uint64_t regs[16];
    uint64_t jitted = 0, faults = 0;
    for (unsigned c = 0; c < CASES; c++) {
        unsigned n = 0;
        for (int jit = 1; jit >= 0; jit--) { /* the same case for both machines */
            machine(jit);
            rng_state = 0x9e3779b97f4a7c15ull * (c + 1);
            n = 1 + below(60);
            random_case(n, regs, data);
            for (unsigned i = 0; i < 2; i++)
                run(regs, data, 100000, jit ? &with[i] : &without[i]);
            if (jit)
                jitted += rig.cpu.jitted;
            else
                cr_assert_eq(rig.cpu.jitted, 0, "no_jit made host code");
            machine_free();
        }
        char what[64];
        for (unsigned i = 0; i < 2; i++) {
            snprintf(what, sizeof(what), "case %u (%u instructions), run %u", c, n, i);
            expect_same(&with[i], &without[i], what);
        }
        faults += with[1].exit_code != SVM_EXIT_VMMCALL;
    }
    /* The cases reach what they are for: host code for most, and faults
     * in some. */
    cr_expect_geq(jitted, CASES / 2, "host code for %llu blocks", (unsigned long long)jitted);
    cr_expect_geq(faults, 10, "%llu cases faulted", (unsigned long long)faults);
    cr_expect_leq(faults, CASES / 2, "%llu cases faulted", (unsigned long long)faults);
}

/* Loops of blocks that go into each other (host code linked to host
 * code), each run to its end twice and then with budgets that end it
 * anywhere: the same as without host code, instruction for instruction. */
Test(cpu_jit, random_loops_run_as_the_handlers_run_them)
{
    enum { CASES = 200, RUNS = 4 };
    static uint8_t data[DATA_SIZE];
    static struct outcome with[RUNS], without[RUNS];
    uint64_t regs[16], budgets[RUNS];
    uint64_t jitted = 0, looped = 0;
    for (unsigned c = 0; c < CASES; c++) {
        for (int jit = 1; jit >= 0; jit--) {
            machine(jit);
            rng_state = 0x2545f4914f6cdd1dull * (c + 1);
            random_loop(regs, data);
            budgets[0] = budgets[1] = 100000;
            budgets[2] = 1 + below(40);
            budgets[3] = 1 + below(400);
            for (unsigned i = 0; i < RUNS; i++)
                run(regs, data, budgets[i], jit ? &with[i] : &without[i]);
            if (jit)
                jitted += rig.cpu.jitted;
            machine_free();
        }
        char what[80];
        for (unsigned i = 0; i < RUNS; i++) {
            snprintf(what, sizeof(what), "loop case %u, run %u (budget %llu)", c, i,
                     (unsigned long long)budgets[i]);
            expect_same(&with[i], &without[i], what);
        }
        looped += with[1].insns > 40;
    }
    cr_expect_geq(jitted, CASES, "host code for %llu blocks", (unsigned long long)jitted);
    cr_expect_geq(looped, CASES / 4, "%llu cases ran more than 40 instructions",
                  (unsigned long long)looped);
}

/* A flag writer's lazy flags wait for the loads and stores after it
 * (host code stores them only in their slow paths) when a later
 * instruction writes them all: blocks of a register ALU operation, loads,
 * stores and moves (some faulting, some writing the operation's
 * registers) and a compare, each against the handlers. A fault between
 * must see the first operation's flags. */
Test(cpu_jit, flags_waiting_for_a_fault_are_the_ones_it_sees)
{
    enum { CASES = 600 };
    static const uint8_t alu_rr[] = { 0x01, 0x29, 0x21, 0x09, 0x31 };
    static const uint8_t alu_ext[] = { 0, 5, 4, 1, 6 };
    static uint8_t code[16 * 15 + 3];
    static uint8_t data[DATA_SIZE];
    static struct outcome with, without;
    uint64_t regs[16];
    unsigned faulted = 0;
    fault_odds = 3;
    for (unsigned c = 0; c < CASES; c++) {
        for (int jit = 1; jit >= 0; jit--) {
            machine(jit);
            rng_state = 0x9e3779b97f4a7c15ull * (c + 7);
            struct gen g;
            unsigned counter;
            gen_init(&g, code, regs, data, 0, &counter);
            unsigned d = writable(&g), s = below(16);
            bool w = below(2);
            if (below(2)) { /* op d, s */
                const uint8_t op = alu_rr[below(sizeof(alu_rr))];
                rex_ops(&g, w, s, 0, d, &op, 1);
                put(&g, 0xc0 | (s & 7) << 3 | (d & 7));
            } else { /* op d, imm32 */
                const uint8_t op = 0x81;
                rex_ops(&g, w, 0, 0, d, &op, 1);
                put(&g, 0xc0 | alu_ext[below(sizeof(alu_ext))] << 3 | (d & 7));
                put_imm(&g, 4);
            }
            for (unsigned i = 1 + below(3); i > 0; i--) {
                switch (below(4)) {
                case 0: mem_operand(&g, 0x8b, below(2) ? d : writable(&g)); break; /* load */
                case 1: mem_operand(&g, 0x89, below(16)); break;                  /* store */
                case 2: { /* mov into the operation's registers, or another */
                    const uint8_t op = 0x89;
                    unsigned t = below(3) ? (below(2) ? d : s) : writable(&g);
                    if ((g.fixed >> t) & 1)
                        t = d;
                    unsigned from = below(16);
                    rex_ops(&g, true, from, 0, t, &op, 1);
                    put(&g, 0xc0 | (from & 7) << 3 | (t & 7));
                    break;
                }
                default: mem_operand(&g, 0x8b, writable(&g)); break;
                }
            }
            flags_op(&g);
            gen_end(&g, code);
            run(regs, data, 1000, jit ? &with : &without);
            machine_free();
        }
        char what[48];
        snprintf(what, sizeof(what), "waiting flags case %u", c);
        expect_same(&with, &without, what);
        faulted += with.exit_code != SVM_EXIT_VMMCALL;
    }
    fault_odds = 40;
    cr_expect_geq(faulted, CASES / 8, "%u cases faulted", faulted);
}

/* ---- directed cases */

/* A load that faults in the middle of a block with host code: the #PF is
 * at its RIP, with the registers the instructions before it wrote, and
 * nothing after it done. At CODE_GPA:
 *   00 mov rax, 1
 *   07 add rbx, rax
 *   0a mov r9, rbx
 *   0d shl r9, 4
 *   11 mov rcx, [rdx + 8]    (rdx above RAM: not present)
 *   15 mov rsi, 7
 *   1c vmmcall */
Test(cpu_jit, a_fault_inside_a_block_with_host_code_stops_it_exactly_there)
{
    for (int jit = 1; jit >= 0; jit--) {
        machine(jit);
        GUEST_CODE(CODE_GPA, 0x48, 0xc7, 0xc0, LE32(1), 0x48, 0x01, 0xc3, 0x49, 0x89, 0xd9,
                   0x49, 0xc1, 0xe1, 0x04, 0x48, 0x8b, 0x4a, 0x08, 0x48, 0xc7, 0xc6, LE32(7),
                   VMMCALL);
        uint64_t regs[16];
        for (unsigned r = 0; r < 16; r++)
            regs[r] = POISON;
        regs[RBX] = 0x10;
        regs[RDX] = RAM_SIZE + 0x1000;
        regs[RSP] = STACK_TOP;
        static uint8_t data[DATA_SIZE];
        struct outcome *o = calloc(1, sizeof(*o));
        run(regs, data, 1000, o);
        cr_expect_eq(o->exit_code, SVM_EXIT_EXCP_BASE + X86_VEC_PF, "jit %d: exit 0x%llx", jit,
                     (unsigned long long)o->exit_code);
        cr_expect_eq(o->rip, CODE_GPA + 0x11, "jit %d: #PF at 0x%llx", jit,
                     (unsigned long long)o->rip);
        cr_expect_eq(o->info2, RAM_SIZE + 0x1008);
        cr_expect_eq(o->gpr[RAX], 1);
        cr_expect_eq(o->gpr[RBX], 0x11);
        cr_expect_eq(o->gpr[9], 0x110, "jit %d: R9 0x%llx", jit, (unsigned long long)o->gpr[9]);
        cr_expect_eq(o->gpr[RCX], POISON, "the faulting load wrote RCX");
        cr_expect_eq(o->gpr[RSI], POISON, "the instruction after the fault ran");
        cr_expect_eq(o->insns, 4);
        if (jit)
            cr_expect_geq(rig.cpu.jitted, 1, "no host code for the block");
        free(o);
        machine_free();
    }
}

/* A store from host code into a later instruction of its own block: the
 * page holds code, so the store goes through the handler, which stops the
 * block; the next fetch sees the new immediate. At CODE_GPA:
 *   00 mov rcx, 0x40
 *   07 mov rbx, rdx
 *   0a mov [rdx + 0x14], rax (rdx = CODE_GPA: the next MOV's imm32)
 *   0e mov rsi, rbx
 *   11 mov rdi, 0x1111       (its imm32 at 0x14)
 *   18 vmmcall */
Test(cpu_jit, a_store_from_host_code_into_its_own_block_is_seen_by_the_next_fetch)
{
    for (int jit = 1; jit >= 0; jit--) {
        machine(jit);
        GUEST_CODE(CODE_GPA, 0x48, 0xc7, 0xc1, LE32(0x40), 0x48, 0x89, 0xd3, 0x48, 0x89, 0x42,
                   0x14, 0x48, 0x89, 0xde, 0x48, 0xc7, 0xc7, LE32(0x1111), VMMCALL);
        uint64_t regs[16];
        for (unsigned r = 0; r < 16; r++)
            regs[r] = POISON;
        regs[RDX] = CODE_GPA;
        regs[RSP] = STACK_TOP;
        static uint8_t data[DATA_SIZE];
        struct outcome *o = calloc(1, sizeof(*o));
        /* the store writes 8 bytes at 0x14: the new imm32, then VMMCALL
         * and the byte after it as they were */
        regs[RAX] = 0x22222222ull | (uint64_t)0x00d9010full << 32;
        run(regs, data, 1000, o);
        cr_expect_eq(o->exit_code, SVM_EXIT_VMMCALL, "jit %d: exit 0x%llx", jit,
                     (unsigned long long)o->exit_code);
        cr_expect_eq(o->gpr[RDI], 0x22222222, "jit %d: RDI 0x%llx: the old immediate ran", jit,
                     (unsigned long long)o->gpr[RDI]);
        cr_expect_eq(o->gpr[RSI], CODE_GPA);
        cr_expect_eq(o->insns, 5);
        free(o);
        machine_free();
    }
}

/* A budget that ends inside a block with host code: the careful path runs
 * the instructions one by one (their own handlers), exactly that many. */
Test(cpu_jit, a_budget_ending_inside_a_block_with_host_code_retires_exactly_that_many)
{
    enum { N = 40 };
    static uint8_t code[4 * N + 3];
    for (unsigned i = 0; i < N; i++)
        memcpy(&code[4 * i], (const uint8_t[]){ 0x48, 0x83, 0xc0, 0x01 }, 4); /* add rax, 1 */
    memcpy(&code[4 * N], (const uint8_t[]){ VMMCALL }, 3);
    static uint8_t data[DATA_SIZE];
    uint64_t regs[16] = { 0 };
    regs[RSP] = STACK_TOP;
    machine(true);
    phys_write(CODE_GPA, code, sizeof(code));
    struct outcome *o = calloc(1, sizeof(*o));
    run(regs, data, 100, o); /* the block gets its code */
    cr_assert_eq(o->exit_code, SVM_EXIT_VMMCALL);
    cr_assert_eq(o->gpr[RAX], N);
    cr_assert_geq(rig.cpu.jitted, 1);
    for (uint64_t b = 1; b < N; b += 7) {
        run(regs, data, b, o);
        cr_expect_eq(o->insns, b, "budget %llu: %llu retired", (unsigned long long)b,
                     (unsigned long long)o->insns);
        cr_expect_eq(o->gpr[RAX], b, "budget %llu: RAX %llu", (unsigned long long)b,
                     (unsigned long long)o->gpr[RAX]);
        cr_expect_eq(o->rip, CODE_GPA + 4 * b);
    }
    free(o);
    machine_free();
}

/* A block that loops onto itself keeps its registers in host registers
 * across the loop; when a store into another page's code moves the epoch
 * on, its link is made again and must still find them. At CODE_GPA:
 *   00 jmp 1000
 *   05 add rax, 1            (A: loops onto itself)
 *   09 cmp rax, rbx
 *   0c jb 05
 *   12 add rbx, 50
 *   16 mov [rip -> 1001], dl (C's immediate: C dies, the epoch moves on)
 *   1c dec rdx
 *   1f jnz 05
 *   25 vmmcall
 * and at CODE_GPA + 0x1000 (C): mov ecx, imm32; jmp 05. */
Test(cpu_jit, a_loop_onto_itself_keeps_its_registers_across_a_new_epoch)
{
    static uint8_t data[DATA_SIZE];
    struct outcome *o[2] = { calloc(1, sizeof(struct outcome)), calloc(1, sizeof(struct outcome)) };
    for (int jit = 1; jit >= 0; jit--) {
        machine(jit);
        GUEST_CODE(CODE_GPA, 0xe9, LE32(0x1000 - 5), 0x48, 0x83, 0xc0, 0x01, 0x48, 0x39, 0xd8,
                   0x0f, 0x82, LE32(0x05 - 0x12), 0x48, 0x83, 0xc3, 0x32, 0x88, 0x15,
                   LE32(0x1001 - 0x1c), 0x48, 0xff, 0xca, 0x0f, 0x85, LE32(0x05 - 0x25),
                   VMMCALL);
        GUEST_CODE(CODE_GPA + 0x1000, 0xb9, LE32(0), 0xe9, LE32(0x05 - 0x100a));
        uint64_t regs[16] = { 0 };
        regs[RBX] = 100;
        regs[RDX] = 20;
        regs[RSP] = STACK_TOP;
        run(regs, data, 100000, o[jit]);
        machine_free();
    }
    cr_expect_eq(o[0]->exit_code, SVM_EXIT_VMMCALL);
    cr_expect_eq(o[0]->gpr[RAX], 100 + 19 * 50, "RAX %llu", (unsigned long long)o[0]->gpr[RAX]);
    expect_same(o[1], o[0], "the loop");
    free(o[0]);
    free(o[1]);
}

/* A block that loops onto itself leaves its last flags unstored on the
 * way round only when it writes all the flags before reading them; one
 * that starts with INC (which keeps CF, for the ADC after it) must see
 * the CMP's CF of the round before. At CODE_GPA:
 *   00 inc rax
 *   03 adc rsi, 0
 *   07 add rcx, 1
 *   0b cmp rcx, rbx
 *   0e jb 00
 *   10 vmmcall */
Test(cpu_jit, a_loop_onto_itself_that_reads_cf_first_sees_the_last_rounds)
{
    static uint8_t data[DATA_SIZE];
    struct outcome *o[2] = { calloc(1, sizeof(struct outcome)), calloc(1, sizeof(struct outcome)) };
    for (int jit = 1; jit >= 0; jit--) {
        machine(jit);
        GUEST_CODE(CODE_GPA, 0x48, 0xff, 0xc0, 0x48, 0x83, 0xd6, 0x00, 0x48, 0x83, 0xc1, 0x01,
                   0x48, 0x39, 0xd9, 0x72, 0xf0, VMMCALL);
        uint64_t regs[16] = { 0 };
        regs[RBX] = 10;
        regs[RSP] = STACK_TOP;
        run(regs, data, 100000, o[jit]);
        machine_free();
    }
    cr_expect_eq(o[0]->gpr[RSI], 9, "RSI %llu", (unsigned long long)o[0]->gpr[RSI]);
    expect_same(o[1], o[0], "the loop");
    free(o[0]);
    free(o[1]);
}

/* The largest code a block can need fits the room the buffer gives it:
 * blocks of BLOCK_MAX instructions that write ten registers and then
 * make every instruction a slow path's (stores that miss the TLB, INC
 * after a flag writer not known, calls of handlers), each run against
 * the handlers. */
Test(cpu_jit, the_largest_blocks_fit_and_run_as_the_handlers_run_them)
{
    /* ten, and RBX as the base: the eleven host registers kept */
    static const uint8_t regs10[] = { RAX, RCX, RDX, RSI, RDI, 8, 9, 10, 11, 12 };
    static uint8_t code[BLOCK_MAX * 15 + 3];
    static uint8_t data[DATA_SIZE];
    struct outcome *o[2] = { calloc(1, sizeof(struct outcome)), calloc(1, sizeof(struct outcome)) };
    for (unsigned form = 0; form < 4; form++) {
        for (int jit = 1; jit >= 0; jit--) {
            machine(jit);
            struct gen g = { .p = code, .rip = CODE_GPA };
            for (unsigned i = 0; i < sizeof(regs10); i++) { /* mov r, imm32 */
                const uint8_t op = (uint8_t)(0xb8 + (regs10[i] & 7));
                rex_ops(&g, false, 0, 0, regs10[i], &op, 1);
                put32(&g, 0x1000 * i);
            }
            for (unsigned i = sizeof(regs10); i < BLOCK_MAX; i++) {
                unsigned r = regs10[i % sizeof(regs10)];
                switch (form) {
                case 0: { /* mov [rbx + disp32], r: RBX points at the code page, which
                           * holds code: every store takes its slow path */
                    const uint8_t op = 0x89;
                    rex_ops(&g, true, r, 0, RBX, &op, 1);
                    put(&g, 0x80 | (r & 7) << 3 | RBX);
                    put32(&g, 0x800 + 8 * i);
                    break;
                }
                case 1: { /* adc r, r (not covered) */
                    const uint8_t op = 0x11;
                    rex_ops(&g, true, r, 0, r, &op, 1);
                    put(&g, 0xc0 | (r & 7) << 3 | (r & 7));
                    break;
                }
                case 2: { /* inc r after a call: the flags' writer not known */
                    const uint8_t op = 0xff, adc = 0x11;
                    if (i % 2) {
                        rex_ops(&g, true, r, 0, r, &adc, 1);
                        put(&g, 0xc0 | (r & 7) << 3 | (r & 7));
                    } else {
                        rex_ops(&g, true, 0, 0, r, &op, 1);
                        put(&g, 0xc0 | (r & 7));
                    }
                    break;
                }
                default: { /* add r, [rbx + disp32] with a page crossing now and then */
                    const uint8_t op = 0x03;
                    rex_ops(&g, true, r, 0, RBX, &op, 1);
                    put(&g, 0x80 | (r & 7) << 3 | RBX);
                    put32(&g, 0x2000 + 0xffc * (i % 3) + 8 * i);
                    break;
                }
                }
            }
            gen_end(&g, code);
            uint64_t regs[16] = { 0 };
            regs[RBX] = form == 0 ? CODE_GPA : DATA_GPA;
            regs[RSP] = STACK_TOP;
            run(regs, data, 100000, o[jit]);
            if (jit)
                cr_expect_geq(rig.cpu.jitted, 1, "form %u: no host code", form);
            machine_free();
        }
        char what[32];
        snprintf(what, sizeof(what), "form %u", form);
        expect_same(o[1], o[0], what);
        cr_expect_eq(o[0]->exit_code, SVM_EXIT_VMMCALL, "form %u: exit 0x%llx", form,
                     (unsigned long long)o[0]->exit_code);
    }
    free(o[0]);
    free(o[1]);
}

/* An ALU operation of a register with itself (ADD RAX, RAX): the flags'
 * second operand is the register as it was, not as the operation left
 * it. Each form on values that set OF, AF and CF one way or the other,
 * against the handlers. */
Test(cpu_jit, an_alu_operation_of_a_register_with_itself_leaves_the_handlers_flags)
{
    static const uint8_t ops[] = { 0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85 };
    static const uint64_t values[] = { 0x4000000000000018ull, 0x8000000000000008ull,
                                       0xffffffffffffffffull, 0, 0x7f };
    static uint8_t data[DATA_SIZE];
    struct outcome *o[2] = { calloc(1, sizeof(struct outcome)), calloc(1, sizeof(struct outcome)) };
    for (unsigned k = 0; k < sizeof(ops); k++)
        for (unsigned v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            for (int jit = 1; jit >= 0; jit--) {
                machine(jit);
                /* mov rcx, rbx; op r9, r9; vmmcall */
                GUEST_CODE(CODE_GPA, 0x48, 0x89, 0xd9, 0x4d, ops[k], 0xc9, VMMCALL);
                uint64_t regs[16] = { 0 };
                regs[9] = values[v];
                regs[RSP] = STACK_TOP;
                run(regs, data, 100, o[jit]);
                if (jit)
                    cr_expect_eq(rig.cpu.jitted, 1);
                machine_free();
            }
            char what[64];
            snprintf(what, sizeof(what), "op %02x on 0x%llx", ops[k],
                     (unsigned long long)values[v]);
            expect_same(o[1], o[0], what);
        }
    free(o[0]);
    free(o[1]);
}
