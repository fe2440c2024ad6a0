/* test_cpu_jit.c — host code for blocks (src/cpu/jit.c) against the
 * interpreter's handlers it stands in for.
 *
 * Owns: a machine on cpu_fixture.h's rig (16 MiB of RAM mapped 1:1 by
 * 2 MiB pages, one 64-bit ring-0 VMCB with VMMCALL and #PF, #GP, #SS, #UD
 * intercepted), run once with host code for every block that starts with a
 * covered form (jit_min 1) and once without (no_jit), and tests that
 * compare the two runs' guest-visible outcomes exactly: random blocks of
 * the covered forms, with every register in every role, faults, page
 * crossings and TLB misses among them; and directed tests for a fault in
 * the middle of a block, a store into the running block's code, and a
 * budget ending inside a block.
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

/* REX.W with R, X, B, then op. */
static void rex_op(struct gen *g, unsigned reg, unsigned index, unsigned base, unsigned op)
{
    put(g, 0x48 | (reg >> 3) << 2 | (index >> 3) << 1 | (base >> 3));
    put(g, op);
}

/* op reg, memory: a data address in one of the forms the decoder gives
 * fast_operands (base + disp, base + index * scale + disp, index * scale +
 * disp, disp alone, RIP-relative); now and then one that faults (a
 * written register as the base) or crosses a page. */
static void mem_operand(struct gen *g, unsigned op, unsigned reg)
{
    unsigned base = g->ptr[below(3)], index = g->idx[below(2)];
    uint32_t disp = (uint32_t)below(0x3000) & ~7u;
    if (below(8) == 0)
        disp |= 0xffc; /* with a pointer at an 8-byte boundary: crosses into the next page */
    if (below(40) == 0)
        base = writable(g); /* anything: often a #PF or #GP */
    unsigned ss = below(4);
    switch (below(5)) {
    case 0: /* base + disp32 (RSP and R12 as the base take a SIB without an index) */
        rex_op(g, reg, 0, base, op);
        put(g, 0x80 | (reg & 7) << 3 | (base & 7));
        if ((base & 7) == RSP)
            put(g, 0x24);
        put32(g, disp);
        return;
    case 1: /* base + index * scale + disp32 */
        rex_op(g, reg, index, base, op);
        put(g, 0x84 | (reg & 7) << 3);
        put(g, ss << 6 | (index & 7) << 3 | (base & 7));
        put32(g, disp);
        return;
    case 2: /* index * scale + disp32, no base */
        rex_op(g, reg, index, 0, op);
        put(g, 0x04 | (reg & 7) << 3);
        put(g, ss << 6 | (index & 7) << 3 | 5);
        put32(g, (uint32_t)DATA_GPA + disp);
        return;
    case 3: /* disp32 alone */
        rex_op(g, reg, 0, 0, op);
        put(g, 0x04 | (reg & 7) << 3);
        put(g, 0x25);
        put32(g, (uint32_t)DATA_GPA + disp);
        return;
    default: { /* RIP-relative */
        rex_op(g, reg, 0, 0, op);
        put(g, 0x05 | (reg & 7) << 3);
        uint64_t next = g->rip + 4;
        put32(g, (uint32_t)(DATA_GPA + 0x4000 + disp - next));
        return;
    }
    }
}

/* One instruction of a covered form. */
static void insn(struct gen *g)
{
    static const uint8_t alu_rr[] = { 0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85 };
    static const uint8_t alu_ext[] = { 0, 5, 4, 1, 6, 7 };
    static const uint8_t shift_ext[] = { 4, 5, 7 };
    unsigned d = writable(g), s = below(4) ? below(16) : d; /* add rax, rax and the like */
    switch (below(10)) {
    case 0: case 1: /* ALU between registers (CMP and TEST write nothing) */
        rex_op(g, s, 0, d, alu_rr[below(sizeof(alu_rr))]);
        put(g, 0xc0 | (s & 7) << 3 | (d & 7));
        return;
    case 2: { /* ALU with an imm32, or TEST's */
        unsigned k = below(7);
        uint32_t imm = below(4) ? (uint32_t)rnd() : (uint32_t)below(256) - 128;
        if (k == 6) {
            rex_op(g, 0, 0, d, 0xf7);
            put(g, 0xc0 | (d & 7));
        } else {
            rex_op(g, 0, 0, d, 0x81);
            put(g, 0xc0 | alu_ext[k] << 3 | (d & 7));
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
    default: /* LEA */
        mem_operand(g, 0x8d, d);
        return;
    }
}

/* A block of n covered instructions and a VMMCALL at CODE_GPA; regs and
 * data to start it from. */
static void random_case(unsigned n, uint64_t regs[16], uint8_t *data)
{
    static uint8_t code[64 * 15 + 3];
    struct gen g = { .p = code, .rip = CODE_GPA };
    /* five registers with fixed roles: any of the sixteen but RSP as an index */
    unsigned perm[16];
    for (unsigned i = 0; i < 16; i++)
        perm[i] = i;
    for (unsigned i = 15; i > 0; i--) {
        unsigned j = below(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    unsigned k = 0;
    for (unsigned i = 0; i < 2; i++) {
        while (perm[k] == RSP)
            k++;
        g.idx[i] = perm[k];
        perm[k++] = 0xff;
    }
    for (unsigned i = 0, j = 0; i < 3; j++)
        if (perm[j] != 0xff) {
            g.ptr[i++] = perm[j];
            perm[j] = 0xff;
        }
    for (unsigned r = 0; r < 16; r++)
        regs[r] = rnd();
    for (unsigned i = 0; i < 3; i++) {
        regs[g.ptr[i]] = DATA_GPA + (below(0x800) << 3);
        g.fixed |= (uint16_t)(1u << g.ptr[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        regs[g.idx[i]] = below(256);
        g.fixed |= (uint16_t)(1u << g.idx[i]);
    }
    for (unsigned i = 0; i < n; i++)
        insn(&g);
    if (below(2)) { /* the flags at the end: an ALU operation's, often of a register with itself */
        unsigned d = writable(&g), s2 = below(2) ? d : below(16);
        rex_op(&g, s2, 0, d, below(2) ? 0x01 : 0x29);
        put(&g, 0xc0 | (s2 & 7) << 3 | (d & 7));
    }
    const uint8_t end[] = { VMMCALL };
    memcpy(g.p, end, sizeof(end));
    g.p += sizeof(end);
    phys_write(CODE_GPA, code, (size_t)(g.p - code));
    for (unsigned i = 0; i < DATA_SIZE; i++)
        data[i] = (uint8_t)rnd();
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
