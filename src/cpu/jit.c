/* jit.c — host code for the leading entries of a block (x86-64 hosts).
 *
 * Owns: the code buffer, and translating the specialised 64-bit forms
 * ops_fast.c describes (fast_describe) into x86-64 code that keeps the
 * guest registers it uses in host registers for the block's run.
 * Must not: change what any instruction does. The code does what the
 * entries' handlers do on their fast paths, store for store; a TLB miss
 * writes the registers back and jumps into that entry's own handler, which
 * redoes the instruction and goes on through the rest of the block as
 * threaded code. So faults, stores into code and everything slow stay the
 * handlers'. After the last entry it covers, the code goes on the same way
 * into the next entry (a branch, an end entry, anything else).
 */
#include "cpu/ops.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)

/* The code buffer, per CPU, mapped at the first block given code and
 * emptied with the decoded blocks (decode.c blocks_clear). A block is given
 * code only while JIT_BLOCK_MAX bytes are free; the most its code takes is
 * JIT_ENTRY_MAX a covered entry and JIT_FIXED for the rest (prologue, the
 * exits, the miss tail), checked after each block. */
#define JIT_BYTES (32u << 20)
#define JIT_ENTRY_MAX 128u
#define JIT_FIXED 1024u
#define JIT_BLOCK_MAX (BLOCK_MAX * JIT_ENTRY_MAX + JIT_FIXED)
#define JIT_COLD_MAX (BLOCK_MAX * 16u + 512u) /* the stubs and the tail */
/* The fewest covered leading entries worth host code by default: a block
 * with code is entered through run_blocks' one indirect call, which
 * predicts well while few handlers start blocks and badly when each of
 * thousands of short blocks has its own code (the 64 KiB loop of 5-entry
 * blocks ran 2.6 times slower), while a long block repays it many times. */
#define JIT_MIN 8

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Host registers guest registers are kept in: caller-saved first. RAX,
 * RCX and RDX are the code's own, RDI the CPU, R11 the TLB. */
static const uint8_t pool[] = { RSI, R8, R9, R10, RBX, RBP, R12, R13, R14, R15 };
#define TLB_BASE R11
#define POOL_N (sizeof(pool) / sizeof(pool[0]))

struct emit {
    uint8_t *p;
};

static void b1(struct emit *e, unsigned v) { *e->p++ = (uint8_t)v; }
static void b4(struct emit *e, uint32_t v) { memcpy(e->p, &v, 4); e->p += 4; }
static void b8(struct emit *e, uint64_t v) { memcpy(e->p, &v, 8); e->p += 8; }

static void rex(struct emit *e, bool w, unsigned reg, unsigned index, unsigned base)
{
    unsigned r = 0x40 | (w ? 8 : 0) | ((reg >> 3) & 1) << 2 | ((index >> 3) & 1) << 1 |
                 ((base >> 3) & 1);
    if (r != 0x40)
        b1(e, r);
}

/* op with a ModRM: register reg and memory [base + index * scale + disp]
 * (index RSP: none), with the shortest displacement. */
static void op_mem(struct emit *e, bool w, unsigned op, unsigned reg, unsigned base,
                   unsigned index, unsigned scale, int32_t disp)
{
    rex(e, w, reg, index == RSP ? 0 : index, base);
    b1(e, op);
    /* mod 00 with base RBP/R13 would mean no base: those take a disp8 */
    unsigned mod = disp == 0 && (base & 7) != RBP ? 0 : disp == (int8_t)disp ? 1 : 2;
    if (index == RSP && (base & 7) != RSP) {
        b1(e, mod << 6 | (reg & 7) << 3 | (base & 7));
    } else {
        unsigned ss = scale == 8 ? 3 : scale == 4 ? 2 : scale == 2 ? 1 : 0;
        b1(e, mod << 6 | (reg & 7) << 3 | 4);
        b1(e, ss << 6 | (index & 7) << 3 | (base & 7));
    }
    if (mod == 1)
        b1(e, (uint8_t)disp);
    else if (mod == 2)
        b4(e, (uint32_t)disp);
}

/* op with a ModRM between two registers (rm the r/m one). */
static void op_rr(struct emit *e, bool w, unsigned op, unsigned reg, unsigned rm)
{
    rex(e, w, reg, 0, rm);
    b1(e, op);
    b1(e, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/* RDI is the CPU + JIT_BIAS while the code runs, so that the registers,
 * the lazy flags and the TLB's tag bits and mix are all within an 8-bit
 * displacement. */
#define JIT_BIAS 0x80
#define CPU_AT(field) ((int32_t)offsetof(struct cpu, field) - JIT_BIAS)
_Static_assert(offsetof(struct cpu, tlb_mix) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, tlb_bits) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, lf.op) - JIT_BIAS < 128,
               "jit.c: the hot CPU fields within disp8 of the biased RDI");

static void load_gpr(struct emit *e, unsigned host, unsigned g)
{
    op_mem(e, true, 0x8b, host, RDI, RSP, 1, CPU_AT(gpr) + 8 * (int32_t)g);
}

static void store_gpr(struct emit *e, unsigned host, unsigned g)
{
    op_mem(e, true, 0x89, host, RDI, RSP, 1, CPU_AT(gpr) + 8 * (int32_t)g);
}

static void mov_rr(struct emit *e, unsigned dst, unsigned src)
{
    op_rr(e, true, 0x89, src, dst);
}

static void mov_imm(struct emit *e, unsigned dst, uint64_t v)
{
    rex(e, true, 0, 0, dst);
    b1(e, 0xb8 + (dst & 7));
    b8(e, v);
}

/* mov qword [rdi + disp], imm32 sign-extended */
static void store_imm(struct emit *e, int32_t disp, int32_t v)
{
    op_mem(e, true, 0xc7, 0, RDI, RSP, 1, disp);
    b4(e, (uint32_t)v);
}

static bool fits32(int64_t v)
{
    return v == (int32_t)v;
}

/* The lazy flags as lf_set leaves them for a 64-bit operation: res and a
 * from host registers (or 0: NONE), b from a register or an immediate. */
#define NONE 0xff
static void lazy_flags(struct emit *e, unsigned op, unsigned res, unsigned a, unsigned b,
                       bool b_imm, int32_t imm)
{
    op_mem(e, true, 0x89, res, RDI, RSP, 1, CPU_AT(lf.res));
    if (a == NONE)
        store_imm(e, CPU_AT(lf.a), 0);
    else
        op_mem(e, true, 0x89, a, RDI, RSP, 1, CPU_AT(lf.a));
    if (b_imm)
        store_imm(e, CPU_AT(lf.b), imm);
    else if (b == NONE)
        store_imm(e, CPU_AT(lf.b), 0);
    else
        op_mem(e, true, 0x89, b, RDI, RSP, 1, CPU_AT(lf.b));
    /* op and size, one 16-bit store */
    b1(e, 0x66);
    op_mem(e, false, 0xc7, 0, RDI, RSP, 1, CPU_AT(lf.op));
    b1(e, op);
    b1(e, 8);
}
_Static_assert(offsetof(struct lazy_flags, size) == offsetof(struct lazy_flags, op) + 1,
               "lazy_flags: op and size stored together");

struct jit_state {
    struct emit e;
    uint8_t host[17];    /* guest register -> host register, NONE if not kept */
    uint32_t dirty;      /* guest registers written so far */
    uint16_t saved;      /* callee-saved host registers pushed */
    struct stub {
        uint8_t *jne;    /* the rel32 to patch */
        unsigned entry;  /* whose access missed */
    } stubs[BLOCK_MAX];
    unsigned nstubs;
};

static bool callee_saved(unsigned h)
{
    return h == RBX || h == RBP || h >= R12;
}

/* Writes back the registers in dirty, pops what the prologue pushed. */
static void leave(struct jit_state *s, uint32_t dirty)
{
    for (unsigned g = 0; g < 16; g++)
        if (dirty >> g & 1)
            store_gpr(&s->e, s->host[g], g);
    op_mem(&s->e, true, 0x8d, RDI, RDI, RSP, 1, -JIT_BIAS); /* lea rdi, [rdi - bias] */
    for (int i = (int)POOL_N - 1; i >= 0; i--) {
        unsigned h = pool[i];
        if (s->saved >> h & 1) {
            rex(&s->e, false, 0, 0, h);
            b1(&s->e, 0x58 + (h & 7));
        }
    }
}

/* Goes on into entry in's handler fn, as the entry after the code. */
static void go_into(struct jit_state *s, const struct insn *in, insn_fn fn)
{
    mov_imm(&s->e, RSI, (uint64_t)(uintptr_t)in);
    mov_imm(&s->e, RAX, (uint64_t)(uintptr_t)fn);
    b1(&s->e, 0xff); /* jmp rax */
    b1(&s->e, 0xe0);
}

/* RAX = the address of memory operand o (fast_operands' form). */
static void ea(struct jit_state *s, const struct opnd *o, bool bd)
{
    unsigned base = o->reg < 16 ? s->host[o->reg] : NONE;
    unsigned index = !bd && o->index < 16 ? s->host[o->index] : NONE;
    if (base == NONE && index == NONE) {
        mov_imm(&s->e, RAX, (uint64_t)o->val);
        return;
    }
    if (base == NONE) { /* index * scale + disp: no base in SIB needs mod 00 */
        mov_imm(&s->e, RAX, (uint64_t)o->val);
        op_mem(&s->e, true, 0x8d, RAX, RAX, index, o->scale, 0);
        return;
    }
    op_mem(&s->e, true, 0x8d, RAX, base, index == NONE ? RSP : index, o->scale,
           (int32_t)o->val);
}

/* The TLB probe of an 8-byte access at RAX (tlb_hit_r/tlb_hit_w): on a
 * hit RAX is the host address; a miss goes to entry k's stub. */
static void probe(struct jit_state *s, unsigned k, bool write)
{
    struct emit *e = &s->e;
    /* The index takes bits 12-20: 32-bit operations do */
    op_rr(e, false, 0x89, RAX, RCX);                           /* mov ecx, eax */
    op_mem(e, false, 0x33, RCX, RDI, RSP, 1, CPU_AT(tlb_mix)); /* xor ecx, tlb_mix */
    op_rr(e, false, 0xc1, 5, RCX);                             /* shr ecx, 7 */
    b1(e, 12 - 5);
    b1(e, 0x81); /* and ecx, (TLB_SIZE - 1) << 5 */
    b1(e, 0xe1);
    b4(e, (TLB_SIZE - 1) << 5);
    op_mem(e, true, 0x8d, RDX, RAX, RSP, 1, 7);                /* lea rdx, [rax + 7] */
    op_rr(e, true, 0x81, 4, RDX);                              /* and rdx, -4096 */
    b4(e, 0xfffff000u);
    op_mem(e, true, 0x0b, RDX, RDI, RSP, 1, CPU_AT(tlb_bits)); /* or rdx, tlb_bits */
    int32_t tag = write ? (int32_t)offsetof(struct tlb_entry, tag_w)
                        : (int32_t)offsetof(struct tlb_entry, tag_r);
    op_mem(e, true, 0x3b, RDX, TLB_BASE, RCX, 1, tag);         /* cmp rdx, [r11+rcx+tag] */
    b1(e, 0x0f); /* jne stub */
    b1(e, 0x85);
    s->stubs[s->nstubs++] = (struct stub){ e->p, k };
    b4(e, 0);
    op_mem(e, true, 0x03, RAX, TLB_BASE, RCX, 1,               /* add rax, addend */
           (int32_t)offsetof(struct tlb_entry, addend));
}

/* Entry k's load into host register reg from memory operand o, or its
 * store of reg there. */
static void access(struct jit_state *s, unsigned k, const struct opnd *o, bool bd, bool store,
                   unsigned reg)
{
    ea(s, o, bd);
    probe(s, k, store);
    op_mem(&s->e, true, store ? 0x89 : 0x8b, reg, RAX, RSP, 1, 0); /* mov reg, [rax] / back */
}

static void uses(uint32_t *m, unsigned reg)
{
    if (reg < 16)
        *m |= 1u << reg;
}

/* An ALU instruction's x86 encodings: the opcode of its register form
 * (r/m, reg) and the /digit of its imm32 form (81 /digit). False for an
 * operation the code does not do. */
static bool alu_encoding(unsigned mnemonic, unsigned *rr, unsigned *ext)
{
    switch (mnemonic) {
    case ZYDIS_MNEMONIC_ADD: *rr = 0x01; *ext = 0; return true;
    case ZYDIS_MNEMONIC_OR: *rr = 0x09; *ext = 1; return true;
    case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_TEST: *rr = 0x21; *ext = 4; return true;
    case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_CMP: *rr = 0x29; *ext = 5; return true;
    case ZYDIS_MNEMONIC_XOR: *rr = 0x31; *ext = 6; return true;
    default: return false;
    }
}

/* The guest registers entry in reads or writes, or false if the code
 * cannot cover it. */
static bool covers(const struct insn *in, const struct fast_desc *d, uint32_t *m)
{
    const struct opnd *a = &in->op[0], *b = &in->op[1];
    unsigned rr, ext;
    switch (d->kind) {
    case FAST_ALU_RR: case FAST_MOV_RR:
        uses(m, a->reg);
        uses(m, b->reg);
        return d->kind == FAST_MOV_RR || alu_encoding(in->mnemonic, &rr, &ext);
    case FAST_ALU_RI: case FAST_MOV_RI: case FAST_SHIFT_RI:
        uses(m, a->reg);
        if (d->kind == FAST_ALU_RI && !alu_encoding(in->mnemonic, &rr, &ext))
            return false;
        return d->kind == FAST_MOV_RI || fits32(b->val);
    case FAST_LOAD: case FAST_LEA:
        uses(m, a->reg);
        uses(m, b->reg);
        if (!d->bd)
            uses(m, b->index);
        return fits32(b->val);
    case FAST_STORE:
        uses(m, b->reg);
        uses(m, a->reg);
        if (!d->bd)
            uses(m, a->index);
        return fits32(a->val);
    }
    return false;
}

static void alu_op(struct jit_state *s, const struct insn *in, const struct fast_desc *d,
                   bool imm)
{
    struct emit *e = &s->e;
    unsigned dst = s->host[in->op[0].reg];
    unsigned src = imm ? NONE : s->host[in->op[1].reg];
    int32_t v = imm ? (int32_t)in->op[1].val : 0;
    unsigned rr = 0, ext = 0;
    alu_encoding(in->mnemonic, &rr, &ext); /* covers() made sure it has one */
    unsigned target = dst;
    if (!d->writes) { /* CMP, TEST: into RAX */
        mov_rr(e, RAX, dst);
        target = RAX;
    } else if (d->flags && d->lazy != LF_LOGIC) {
        mov_rr(e, RAX, dst); /* a */
    }
    if (imm) {
        op_rr(e, true, 0x81, ext, target);
        b4(e, (uint32_t)v);
    } else {
        op_rr(e, true, rr, src, target);
    }
    if (d->writes)
        s->dirty |= 1u << in->op[0].reg;
    if (!d->flags)
        return;
    if (d->lazy == LF_LOGIC)
        lazy_flags(e, LF_LOGIC, target, NONE, NONE, false, 0);
    else if (d->writes) /* a is in RAX; so is b when it was the destination too */
        lazy_flags(e, d->lazy, target, RAX, src == dst ? RAX : src, imm, v);
    else
        lazy_flags(e, d->lazy, target, dst, src, imm, v);
}

static void shift_op(struct jit_state *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->e;
    unsigned dst = s->host[in->op[0].reg];
    unsigned c = (unsigned)in->op[1].val & 63;
    if (c == 0)
        return; /* a 64-bit register shifted by 0: nothing changes */
    if (d->flags)
        mov_rr(e, RAX, dst);
    op_rr(e, true, 0xc1, d->lazy == LF_SHL ? 4 : d->lazy == LF_SHR ? 5 : 7, dst);
    b1(e, c);
    s->dirty |= 1u << in->op[0].reg;
    if (d->flags)
        lazy_flags(e, d->lazy, dst, RAX, NONE, true, (int32_t)c);
}

static uint8_t *code_room(struct cpu *cpu)
{
    if (cpu->jit_off)
        return NULL;
    if (!cpu->jit_code) {
        void *p = mmap(NULL, JIT_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            cpu->jit_off = true;
            return NULL;
        }
        cpu->jit_code = p;
        jit_clear(cpu);
    }
    if (cpu->jit_cold - cpu->jit_used < JIT_BLOCK_MAX)
        return NULL;
    return cpu->jit_code + cpu->jit_used;
}

void jit_block(struct cpu *cpu, struct block *blk)
{
    struct insn *insns = blk->insns;
    struct fast_desc d[BLOCK_MAX];
    unsigned n = 0;
    uint32_t used = 0;
    while (n < blk->n && fast_describe(insns[n].fn, &d[n])) {
        uint32_t m = used;
        if (!covers(&insns[n], &d[n], &m) || (unsigned)__builtin_popcount(m) > POOL_N)
            break;
        used = m;
        n++;
    }
    if (n == 0 || n < (cpu->model.jit_min ? cpu->model.jit_min : JIT_MIN))
        return;
    uint8_t *start = code_room(cpu);
    if (!start)
        return;
    struct jit_state s;
    memset(&s, 0, sizeof(s));
    s.e.p = start;
    memset(s.host, NONE, sizeof(s.host));
    unsigned next = 0;
    for (unsigned g = 0; g < 16; g++)
        if (used >> g & 1) {
            unsigned h = pool[next++];
            s.host[g] = (uint8_t)h;
            if (callee_saved(h)) {
                s.saved |= (uint16_t)(1u << h);
                rex(&s.e, false, 0, 0, h);
                b1(&s.e, 0x50 + (h & 7)); /* push */
            }
        }
    op_mem(&s.e, true, 0x8d, TLB_BASE, RDI, RSP, 1, (int32_t)offsetof(struct cpu, tlb));
    op_mem(&s.e, true, 0x8d, RDI, RDI, RSP, 1, JIT_BIAS); /* lea rdi, [rdi + bias] */
    for (unsigned g = 0; g < 16; g++)
        if (used >> g & 1)
            load_gpr(&s.e, s.host[g], g);
    for (unsigned k = 0; k < n; k++) {
        const struct insn *in = &insns[k];
        const struct opnd *a = &in->op[0], *b = &in->op[1];
        switch (d[k].kind) {
        case FAST_ALU_RR: alu_op(&s, in, &d[k], false); break;
        case FAST_ALU_RI: alu_op(&s, in, &d[k], true); break;
        case FAST_SHIFT_RI: shift_op(&s, in, &d[k]); break;
        case FAST_MOV_RR:
            mov_rr(&s.e, s.host[a->reg], s.host[b->reg]);
            s.dirty |= 1u << a->reg;
            break;
        case FAST_MOV_RI:
            mov_imm(&s.e, s.host[a->reg], (uint64_t)b->val);
            s.dirty |= 1u << a->reg;
            break;
        case FAST_LEA:
            ea(&s, b, false);
            mov_rr(&s.e, s.host[a->reg], RAX);
            s.dirty |= 1u << a->reg;
            break;
        case FAST_LOAD:
            access(&s, k, b, d[k].bd, false, s.host[a->reg]);
            s.dirty |= 1u << a->reg;
            break;
        case FAST_STORE:
            access(&s, k, a, d[k].bd, true, s.host[b->reg]);
            break;
        }
    }
    leave(&s, s.dirty);
    go_into(&s, &insns[n], insns[n].fn);
    /* A miss at entry k: EAX = k, then one tail for all of them, both
     * apart from the code that runs (at the top of the buffer, growing
     * down), so that the blocks' code that runs lies close together.
     * Writing back a register not yet written stores the value it was
     * loaded with, which nothing else changed meanwhile. */
    size_t hot = (size_t)(s.e.p - start);
    uint8_t cold[JIT_COLD_MAX];
    size_t stub_at[BLOCK_MAX];
    uint8_t *tail_rel[BLOCK_MAX];
    s.e.p = cold;
    for (unsigned i = 0; i < s.nstubs; i++) {
        stub_at[i] = (size_t)(s.e.p - cold);
        b1(&s.e, 0xb8); /* mov eax, k */
        b4(&s.e, s.stubs[i].entry);
        b1(&s.e, 0xe9); /* jmp tail */
        tail_rel[i] = s.e.p;
        b4(&s.e, 0);
    }
    if (s.nstubs) {
        for (unsigned i = 0; i < s.nstubs; i++) {
            int32_t rel = (int32_t)(s.e.p - (tail_rel[i] + 4));
            memcpy(tail_rel[i], &rel, 4);
        }
        leave(&s, used);
        /* entry k's handler: entry 0's own (its fn is this code), else its fn */
        struct emit *e = &s.e;
        op_rr(e, true, 0x69, RSI, RAX); /* imul rsi, rax, sizeof(struct insn) */
        b4(e, sizeof(struct insn));
        mov_imm(e, RCX, (uint64_t)(uintptr_t)insns);
        op_rr(e, true, 0x01, RCX, RSI); /* add rsi, rcx */
        b1(e, 0x85); /* test eax, eax */
        b1(e, 0xc0);
        b1(e, 0x75); /* jnz +12: past entry 0's jump */
        b1(e, 12);
        mov_imm(e, RAX, (uint64_t)(uintptr_t)insns[0].fn);
        b1(e, 0xff); /* jmp rax */
        b1(e, 0xe0);
        b1(e, 0xff); /* jmp [rsi] */
        b1(e, 0x26);
    }
    size_t cold_len = (size_t)(s.e.p - cold);
    if (hot + cold_len > JIT_BLOCK_MAX || cold_len > sizeof(cold))
        abort(); /* past the room it was given: JIT_ENTRY_MAX or JIT_FIXED is wrong */
    cpu->jit_cold = (cpu->jit_cold - cold_len) & ~(size_t)15;
    uint8_t *cold_at = cpu->jit_code + cpu->jit_cold;
    memcpy(cold_at, cold, cold_len);
    for (unsigned i = 0; i < s.nstubs; i++) {
        int32_t rel = (int32_t)(cold_at + stub_at[i] - (s.stubs[i].jne + 4));
        memcpy(s.stubs[i].jne, &rel, 4);
    }
    cpu->jit_used = (cpu->jit_used + hot + 15) & ~(size_t)15;
    insns[0].fn = (insn_fn)(void *)start;
    cpu->jitted++;
}

void jit_clear(struct cpu *cpu)
{
    cpu->jit_used = 0;
    cpu->jit_cold = JIT_BYTES;
}

void jit_fini(struct cpu *cpu)
{
    if (cpu->jit_code)
        munmap(cpu->jit_code, JIT_BYTES);
    cpu->jit_code = NULL;
}

#else

void jit_block(struct cpu *cpu, struct block *blk)
{
    (void)cpu;
    (void)blk;
}

void jit_clear(struct cpu *cpu)
{
    (void)cpu;
}

void jit_fini(struct cpu *cpu)
{
    (void)cpu;
}

#endif
