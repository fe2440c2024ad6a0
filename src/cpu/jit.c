/* jit.c — host code for blocks (x86-64 hosts, 64-bit guest code).
 *
 * Owns: the code buffer; translating a block into x86-64 code that runs
 * all of it, retires it and goes on into the next block's code directly
 * (a linked edge) or returns STEP_CHAINED; linking edges (jit_link).
 * Must not: change what any instruction does. The specialised forms
 * ops_fast.c describes (fast_describe) become host instructions that do
 * what their handlers' fast paths do, with the guest registers they use
 * in host registers for the block's run; the lazy flags are stored as
 * the handlers store them, except fields flags.h does not read after the
 * operation and flags a later instruction overwrites before anything
 * could see them (those wait: flags_wait). Every other
 * entry, and every slow path of a covered one (a TLB miss), runs its own
 * handler, called with the registers written back; so faults, stores
 * into code and everything slow stay the handlers'.
 *
 * The protocol (exec.c run_blocks): a block with code has its first
 * entry's fn pointing at the code. The code retires the blocks it runs
 * (budget and insns, as retire does), and a block's edge to a successor
 * whose RIP is known at decode goes straight into that block's code when
 * linked and the epoch, the budget and cpu->slow allow, as run_blocks
 * would have let it in. Otherwise it returns STEP_CHAINED with cpu->rip
 * set, the block in cpu->chain_last and the edge in cpu->link_at. A
 * handler that fails or stops the block (cpu->stop) makes the code
 * return its result with cpu->chain_last set; the blocks before it in the
 * chain are retired, its own entries before cpu->stop are not.
 */
#include "cpu/ops.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)

/* The code buffer, per CPU, mapped at the first block given code and
 * emptied with the decoded blocks (decode.c blocks_clear): the code that
 * runs from the start (after the shared epilogue), the slow paths and
 * exits from JIT_HOT_BYTES, so that the code that runs lies together. A
 * block is given code only while the most it can take fits in both,
 * checked after each block (abort rather than overrun if a bound were
 * wrong). */
#define JIT_HOT_BYTES (24u << 20)
#define JIT_BYTES (32u << 20)
#define JIT_HOT_ENTRY 256u   /* an entry's code, at most (a call: about 140) */
#define JIT_HOT_MAX ((BLOCK_MAX + 1) * JIT_HOT_ENTRY + 2048u)
/* an entry's slow path and resume address, at most (a store's: about 170) */
#define JIT_COLD_ENTRY 320u
#define JIT_COLD_MAX ((BLOCK_MAX + 1) * JIT_COLD_ENTRY + 2048u)
/* The fewest entries done in host instructions that make a block worth
 * its code (model.jit_min overrides). */
#define JIT_MIN 1

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Host registers guest registers are kept in. RAX, RCX and RDX are the
 * code's own; RBP is the CPU (biased) for the whole chain. */
static const uint8_t pool[] = { RSI, RDI, R8, R9, R10, R11, RBX, R12, R13, R14, R15 };
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

/* The ModRM (and SIB, displacement) of register reg and memory [base +
 * index * scale + disp] (index RSP: none), with the shortest displacement. */
static void modrm_mem(struct emit *e, unsigned reg, unsigned base, unsigned index,
                      unsigned scale, int32_t disp)
{
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

/* op with a ModRM: register reg and memory [base + index * scale + disp]. */
static void op_mem(struct emit *e, bool w, unsigned op, unsigned reg, unsigned base,
                   unsigned index, unsigned scale, int32_t disp)
{
    rex(e, w, reg, index == RSP ? 0 : index, base);
    b1(e, op);
    modrm_mem(e, reg, base, index, scale, disp);
}

/* A two-byte opcode (0F op) with a ModRM on memory. */
static void op2_mem(struct emit *e, bool w, unsigned op, unsigned reg, unsigned base)
{
    rex(e, w, reg, 0, base);
    b1(e, 0x0f);
    b1(e, op);
    modrm_mem(e, reg, base, RSP, 1, 0);
}

/* op with a ModRM between two registers (rm the r/m one). */
static void op_rr(struct emit *e, bool w, unsigned op, unsigned reg, unsigned rm)
{
    rex(e, w, reg, 0, rm);
    b1(e, op);
    b1(e, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/* RBP is the CPU + JIT_BIAS while the code runs, so that the registers,
 * the lazy flags and the TLB's tag bits and mix are all within an 8-bit
 * displacement. */
#define JIT_BIAS 0x80
#define CPU_AT(field) ((int32_t)offsetof(struct cpu, field) - JIT_BIAS)
_Static_assert(offsetof(struct cpu, tlb_mix) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, tlb_bits) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, lf.op) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, budget) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, insns) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, chain_key) - JIT_BIAS < 128 &&
                   offsetof(struct cpu, tlb) + offsetof(struct tlb_entry, addend) - JIT_BIAS < 128,
               "jit.c: the hot CPU fields within disp8 of the biased RBP");

static void cpu_op(struct emit *e, bool w, unsigned op, unsigned reg, int32_t at)
{
    op_mem(e, w, op, reg, RBP, RSP, 1, at);
}

static void load_gpr(struct emit *e, unsigned host, unsigned g)
{
    cpu_op(e, true, 0x8b, host, CPU_AT(gpr) + 8 * (int32_t)g);
}

static void store_gpr(struct emit *e, unsigned host, unsigned g)
{
    cpu_op(e, true, 0x89, host, CPU_AT(gpr) + 8 * (int32_t)g);
}

static bool fits32(int64_t v)
{
    return v == (int32_t)v;
}

/* mov size (4 or 8) dst, src */
static void mov_rr(struct emit *e, unsigned size, unsigned dst, unsigned src)
{
    op_rr(e, size == 8, 0x89, src, dst);
}

/* dst = v, in the shortest form. */
static void mov_imm(struct emit *e, unsigned dst, uint64_t v)
{
    if (v <= 0xffffffffu) { /* mov r32, imm32: zero-extends */
        rex(e, false, 0, 0, dst);
        b1(e, 0xb8 + (dst & 7));
        b4(e, (uint32_t)v);
    } else if (fits32((int64_t)v)) { /* mov r64, simm32 */
        op_rr(e, true, 0xc7, 0, dst);
        b4(e, (uint32_t)v);
    } else {
        rex(e, true, 0, 0, dst);
        b1(e, 0xb8 + (dst & 7));
        b8(e, v);
    }
}

/* The qword at [rbp + at] = v. */
static void store_u64(struct emit *e, int32_t at, uint64_t v)
{
    if (fits32((int64_t)v)) {
        cpu_op(e, true, 0xc7, 0, at);
        b4(e, (uint32_t)v);
    } else {
        mov_imm(e, RCX, v);
        cpu_op(e, true, 0x89, RCX, at);
    }
}

static void jmp_to(struct emit *e, const uint8_t *target)
{
    b1(e, 0xe9);
    b4(e, (uint32_t)(int32_t)(target - (e->p + 4)));
}

/* jcc rel32 to target, or to be patched (patch_rel) if target is NULL:
 * the address of its rel32. */
static uint8_t *jcc_to(struct emit *e, unsigned cc, const uint8_t *target)
{
    b1(e, 0x0f);
    b1(e, 0x80 + cc);
    uint8_t *rel = e->p;
    b4(e, target ? (uint32_t)(int32_t)(target - (e->p + 4)) : 0);
    return rel;
}

static void patch_rel(uint8_t *rel, const uint8_t *target)
{
    int32_t v = (int32_t)(target - (rel + 4));
    memcpy(rel, &v, 4);
}

/* call fn(cpu, in, arg), with the arguments set up (arg only if not NULL). */
static void call_c(struct emit *e, const void *fn, const void *in, const void *arg)
{
    op_mem(e, true, 0x8d, RDI, RBP, RSP, 1, -JIT_BIAS); /* lea rdi, [rbp - bias] */
    mov_imm(e, RSI, (uint64_t)(uintptr_t)in);
    if (arg)
        mov_imm(e, RDX, (uint64_t)(uintptr_t)arg);
    mov_imm(e, RAX, (uint64_t)(uintptr_t)fn);
    b1(e, 0xff); /* call rax */
    b1(e, 0xd0);
}

/* The link an edge leaves in the code that runs: three checks, each
 * jumping to the edge's exit, and the jump that linking patches. */
#define LINK_EPOCH 3   /* cmp dword [rbp + chain_key], imm32: its imm32 */
#define LINK_WEIGHT 17 /* cmp qword [rbp + budget], imm8: its imm8 */
#define LINK_REL 25    /* jmp rel32: its rel32 */
#define LINK_END 29
/* The outer entry: the pushes and RBP; the inner entry (a link's target)
 * after it. */
#define OUTER_LEN 18

/* Lazy flags held in host registers until the code stores them: res and
 * a (NONE: made from res and b, the operation undone), b a register or
 * (b_imm) the value imm. */
struct held {
    bool on, b_imm;
    uint8_t op, size, res, a, b;
    uint64_t imm;
};

struct jit {
    struct cpu *cpu;
    struct block *blk;
    struct insn *insns;
    struct emit h, c;       /* the code that runs; slow paths and exits */
    uint8_t host[17];       /* guest register -> host register, NONE if not kept */
    uint32_t used;          /* guest registers kept */
    uint32_t dirty;         /* guest registers written since they were loaded */
    insn_fn fn0;            /* the first entry's own fn (its entry's fn becomes the code) */
    const uint8_t *fail;    /* cold: returns EAX, the block as chain_last */
    const uint8_t *chained; /* cold: returns STEP_CHAINED so */
    const uint8_t *tail;    /* cold: a covered entry's slow path (EAX: which) */
    uint64_t *resume;       /* cold: where each entry's code ends */
    uint8_t lazy;           /* the lazy operation the code left in lf, 0 if not known */
    const uint8_t *inner;   /* the inner entry: where links go */
    const uint8_t *body;    /* past its loads */
    /* The lazy flags of the block's last flag writer, when the edges
     * store them (defer), held until then. */
    bool defer;
    struct held pend;
    bool dead_at_entry;     /* the block writes all the flags before it reads them */
    /* what an edge's exit does before it leaves: registers written back,
     * the pending flags stored */
    uint32_t exit_regs;
    bool exit_flags;
    bool shared;            /* both edges' flags and registers stored before the Jcc */
    bool retired;           /* before the last flag writer (which cannot fail) */
    uint8_t wait;           /* the entry being emitted: how its flags wait (flags_wait) */
    /* The lazy flags of a writer that waits for the slow paths after it
     * (FLAGS_STUBS), held until one of them stores them (a made again). */
    struct held pf;
};
/* How a flag writer's lazy flags wait (flags_wait): stored at once; not
 * at all (a later covered instruction writes all six before anything
 * could see them); by the slow paths of the loads and stores between it
 * and that instruction, the only places a fault could see them. */
enum { FLAGS_NOW, FLAGS_DROP, FLAGS_STUBS };
#define NONE 0xff

static void write_back(struct emit *e, const struct jit *s, uint32_t regs)
{
    for (unsigned g = 0; g < 16; g++)
        if (regs >> g & 1)
            store_gpr(e, s->host[g], g);
}

static void reload(struct emit *e, const struct jit *s)
{
    for (unsigned g = 0; g < 16; g++)
        if (s->used >> g & 1)
            load_gpr(e, s->host[g], g);
}

/* After a call whose result is in EAX: to the fail path unless STEP_OK. */
static void check_result(struct emit *e, const struct jit *s)
{
    b1(e, 0x85); /* test eax, eax */
    b1(e, 0xc0);
    jcc_to(e, 5, s->fail);
}

/* ---- helpers the code calls */

/* Entry in alone (its handler goes on into the entry after it: here one
 * that ends the run), fn being its handler; a failure stops at in. */
static int jit_alone(struct cpu *cpu, const struct insn *in, insn_fn fn)
{
    struct insn *alone = cpu->jit_alone; /* alone[1] ends the run (jit_clear) */
    alone[0] = *in;
    alone[0].fn = fn;
    int r = fn(cpu, alone);
    if (r != STEP_OK)
        cpu->stop = in;
    return r;
}

static int jit_generic(struct cpu *cpu, const struct insn *in)
{
    return insn_generic_alone(cpu, in);
}

/* Entry k, not covered, run by its handler with the registers written
 * back; they are reloaded after. */
static void call_entry(struct jit *s, unsigned k)
{
    const struct insn *in = &s->insns[k]; /* its fn still its own */
    write_back(&s->h, s, s->dirty);
    if (in->fn == insn_generic)
        call_c(&s->h, (const void *)jit_generic, in, NULL);
    else
        call_c(&s->h, (const void *)jit_alone, in, (const void *)in->fn);
    check_result(&s->h, s);
    reload(&s->h, s);
    s->dirty = 0;
    s->lazy = 0;
}

/* ---- lazy flags, as lf_set leaves them */

/* lf.op and lf.size, one 16-bit store. */
static void store_op_size(struct emit *e, unsigned op, unsigned size)
{
    b1(e, 0x66);
    cpu_op(e, false, 0xc7, 0, CPU_AT(lf.op));
    b1(e, op);
    b1(e, size);
}

/* res and a in host registers, b in one or (b_imm) the value imm; all
 * already masked to size. After a logical operation and IMUL (LF_SZP)
 * flags.h reads neither a nor b: they are not stored. */
static void lazy_flags(struct emit *e, unsigned op, unsigned size, unsigned res, unsigned a,
                       unsigned b, bool b_imm, uint64_t imm)
{
    cpu_op(e, true, 0x89, res, CPU_AT(lf.res));
    if (op != LF_LOGIC && op != LF_SZP) {
        cpu_op(e, true, 0x89, a, CPU_AT(lf.a));
        if (b_imm)
            store_u64(e, CPU_AT(lf.b), imm); /* may take RCX: a is stored */
        else
            cpu_op(e, true, 0x89, b, CPU_AT(lf.b));
    }
    store_op_size(e, op, size);
}
_Static_assert(offsetof(struct lazy_flags, size) == offsetof(struct lazy_flags, op) + 1,
               "lazy_flags: op and size stored together");

/* ---- what the code covers */

static void uses(uint32_t *m, unsigned reg)
{
    if (reg < 16)
        *m |= 1u << reg;
}

static void uses_mem(uint32_t *m, const struct opnd *o, bool bd)
{
    uses(m, o->reg);
    if (!bd)
        uses(m, o->index);
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

/* The guest registers entry in reads or writes (into *m), or false if the
 * code cannot do it. */
static bool covers(const struct insn *in, const struct fast_desc *d, uint32_t *m)
{
    const struct opnd *a = &in->op[0], *b = &in->op[1];
    unsigned rr, ext;
    bool w = d->size == 8;
    switch (d->kind) {
    case FAST_ALU_RR:
        uses(m, a->reg);
        uses(m, b->reg);
        return alu_encoding(in->mnemonic, &rr, &ext);
    case FAST_ALU_RI:
        uses(m, a->reg);
        return alu_encoding(in->mnemonic, &rr, &ext) && (!w || fits32(b->val));
    case FAST_ALU_RM:
        uses(m, a->reg);
        uses_mem(m, b, false);
        return alu_encoding(in->mnemonic, &rr, &ext) && fits32(b->val);
    case FAST_MOV_RR: case FAST_MOVZX_RR: case FAST_IMUL_RR:
        uses(m, a->reg);
        uses(m, b->reg);
        return true;
    case FAST_MOV_RI: case FAST_SHIFT_RI: case FAST_INCDEC:
        uses(m, a->reg);
        return true;
    case FAST_LOAD: case FAST_LEA:
        uses(m, a->reg);
        uses_mem(m, b, d->bd);
        return fits32(b->val);
    case FAST_STORE:
        uses(m, b->reg);
        uses_mem(m, a, d->bd);
        return fits32(a->val);
    case FAST_STORE_IMM: case FAST_CMP_MI:
        uses_mem(m, a, false);
        return fits32(a->val) && (d->size != 8 || fits32(b->val));
    }
    return false;
}

/* Whether the host instruction of a covered form leaves the host flags
 * as the guest's for condition cc: all of them for ALU and CMP; INC and
 * DEC keep the guest's CF, which the host's is not. */
static bool host_flags_for(const struct fast_desc *d, unsigned cc)
{
    bool reads_cf = (cc >> 1) == 1 || (cc >> 1) == 3; /* B, AE, BE, A */
    return d->flags && (d->kind == FAST_ALU_RR || d->kind == FAST_ALU_RI ||
                        d->kind == FAST_ALU_RM || d->kind == FAST_CMP_MI ||
                        (d->kind == FAST_INCDEC && !reads_cf));
}

/* The lazy flags of a flag writer: stored now, or held for the edges
 * (the writer is the block's last and its Jcc reads the host flags). */
static void set_flags(struct jit *s, unsigned op, unsigned size, unsigned res, unsigned a,
                      unsigned b, bool b_imm, uint64_t imm)
{
    if (s->defer)
        s->pend = (struct held){ true, b_imm, (uint8_t)op, (uint8_t)size, (uint8_t)res,
                                 (uint8_t)a, (uint8_t)b, imm };
    else
        lazy_flags(&s->h, op, size, res, a, b, b_imm, imm);
}

/* Held lazy flags stored, if any. Where a is to be made again (in a slow
 * path, RAX the address kept: RCX and RDX are free there), it is res less
 * b after ADD, res plus b after SUB, and b a register is masked. */
static void store_held(struct emit *e, const struct held *p)
{
    if (!p->on)
        return;
    unsigned a = p->a, b = p->b;
    if (a == NONE && p->op != LF_LOGIC) {
        bool w = p->size == 8;
        mov_rr(e, p->size, RCX, p->res);
        if (p->b_imm) {
            op_rr(e, w, 0x81, p->op == LF_ADD ? 5 : 0, RCX); /* sub/add rcx, imm32 */
            b4(e, (uint32_t)p->imm);
        } else {
            op_rr(e, w, p->op == LF_ADD ? 0x29 : 0x01, b, RCX);
            mov_rr(e, p->size, RDX, b);
            b = RDX;
        }
        a = RCX;
    }
    lazy_flags(e, p->op, p->size, p->res, a, b, p->b_imm, p->imm);
}

/* ---- the covered forms */

/* RAX = the address of memory operand o (fast_operands' form). */
static void ea(struct jit *s, const struct opnd *o, bool bd)
{
    struct emit *e = &s->h;
    unsigned base = o->reg < 16 ? s->host[o->reg] : NONE;
    unsigned index = !bd && o->index < 16 ? s->host[o->index] : NONE;
    if (base == NONE && index == NONE) {
        mov_imm(e, RAX, (uint64_t)o->val);
        return;
    }
    if (base == NONE) { /* index * scale + disp: no base in SIB needs mod 00 */
        mov_imm(e, RAX, (uint64_t)o->val);
        op_mem(e, true, 0x8d, RAX, RAX, index, o->scale, 0);
        return;
    }
    op_mem(e, true, 0x8d, RAX, base, index == NONE ? RSP : index, o->scale, (int32_t)o->val);
}

/* The TLB probe of a size-byte access at RAX (tlb_hit_r/tlb_hit_w): on a
 * hit RAX is the host address; a miss goes to entry k's stub, which runs
 * the entry's handler and comes back after the entry's code. */
static void probe(struct jit *s, unsigned k, bool write, unsigned size, const uint8_t *stub)
{
    struct emit *e = &s->h;
    /* The index takes bits 12-20: 32-bit operations do */
    op_rr(e, false, 0x89, RAX, RCX);                   /* mov ecx, eax */
    cpu_op(e, false, 0x33, RCX, CPU_AT(tlb_mix));      /* xor ecx, tlb_mix */
    op_rr(e, false, 0xc1, 5, RCX);                     /* shr ecx, 7 */
    b1(e, 12 - 5);
    b1(e, 0x81); /* and ecx, (TLB_SIZE - 1) << 5 */
    b1(e, 0xe1);
    b4(e, (TLB_SIZE - 1) << 5);
    op_mem(e, true, 0x8d, RDX, RAX, RSP, 1, (int32_t)size - 1); /* lea rdx, [rax + size - 1] */
    op_rr(e, true, 0x81, 4, RDX);                      /* and rdx, -4096 */
    b4(e, 0xfffff000u);
    cpu_op(e, true, 0x0b, RDX, CPU_AT(tlb_bits));      /* or rdx, tlb_bits */
    int32_t tlb = CPU_AT(tlb) + (int32_t)(write ? offsetof(struct tlb_entry, tag_w)
                                                : offsetof(struct tlb_entry, tag_r));
    op_mem(e, true, 0x3b, RDX, RBP, RCX, 1, tlb);     /* cmp rdx, [rbp + rcx + tag] */
    if (!stub) { /* the stub: EAX = k, then the tail */
        stub = s->c.p;
        store_held(&s->c, &s->pf);
        b1(&s->c, 0xb8);
        b4(&s->c, k);
        jmp_to(&s->c, s->tail);
    }
    jcc_to(e, 5, stub);                                /* jne stub */
    op_mem(e, true, 0x03, RAX, RBP, RCX, 1,            /* add rax, addend */
           CPU_AT(tlb) + (int32_t)offsetof(struct tlb_entry, addend));
}

/* The code of a slow path (a covered entry's TLB miss, EAX its index):
 * every register kept written back (one not written since it was loaded
 * stores what it was loaded with, which nothing else changed), the
 * entry's own handler run alone, the registers reloaded, and on after the
 * entry's code. */
static void emit_tail(struct jit *s)
{
    struct emit *e = &s->c;
    s->tail = e->p;
    write_back(e, s, s->used);
    op_mem(e, true, 0x89, RAX, RSP, RSP, 1, 0);       /* mov [rsp], rax: the pad slot */
    op_rr(e, false, 0x69, RSI, RAX);                  /* imul esi, eax, sizeof(struct insn) */
    b4(e, sizeof(struct insn));
    mov_imm(e, RCX, (uint64_t)(uintptr_t)s->insns);
    op_rr(e, true, 0x01, RCX, RSI);                   /* add rsi, rcx */
    op_mem(e, true, 0x8d, RDI, RBP, RSP, 1, -JIT_BIAS);
    /* fn: the first entry's own, else the entry's */
    mov_imm(e, RDX, (uint64_t)(uintptr_t)s->fn0);
    b1(e, 0x85); /* test eax, eax */
    b1(e, 0xc0);
    b1(e, 0x74); /* jz past the next: keep fn0 */
    uint8_t *skip = e->p;
    b1(e, 0);
    op_mem(e, true, 0x8b, RDX, RSI, RSP, 1, 0);       /* mov rdx, [rsi]: in->fn */
    *skip = (uint8_t)(e->p - (skip + 1));
    _Static_assert(offsetof(struct insn, fn) == 0, "jit.c: an entry's fn first");
    mov_imm(e, RAX, (uint64_t)(uintptr_t)jit_alone);
    b1(e, 0xff); /* call rax */
    b1(e, 0xd0);
    check_result(e, s);
    reload(e, s);
    op_mem(e, true, 0x8b, RCX, RSP, RSP, 1, 0);       /* mov rcx, [rsp] */
    mov_imm(e, RAX, (uint64_t)(uintptr_t)s->resume);
    op_mem(e, false, 0xff, 4, RAX, RCX, 8, 0);        /* jmp [rax + rcx * 8] */
}

/* A load of size bytes at RAX (a host address) into host register reg,
 * zero-extended. */
static void load_host(struct emit *e, unsigned size, unsigned reg)
{
    if (size == 1)
        op2_mem(e, false, 0xb6, reg, RAX); /* movzx r32, byte [rax] */
    else if (size == 2)
        op2_mem(e, false, 0xb7, reg, RAX); /* movzx r32, word [rax] */
    else
        op_mem(e, size == 8, 0x8b, reg, RAX, RSP, 1, 0);
}

static void alu_op(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->h;
    unsigned size = d->size;
    bool w = size == 8;
    unsigned dst = s->host[in->op[0].reg];
    bool imm = d->kind == FAST_ALU_RI;
    uint64_t v = imm ? (uint64_t)in->op[1].val & size_mask(size) : 0;
    unsigned rr = 0, ext = 0;
    alu_encoding(in->mnemonic, &rr, &ext); /* covers() made sure it has one */
    unsigned src = NONE; /* b's host register */
    if (d->kind == FAST_ALU_RM) {
        ea(s, &in->op[1], false);
        probe(s, (unsigned)(in - s->insns), false, size, NULL);
        load_host(e, size, RDX);
        src = RDX;
    } else if (!imm) {
        src = s->host[in->op[1].reg];
    }
    bool lazy_ab = d->flags && d->lazy != LF_LOGIC && s->wait == FLAGS_NOW;
    unsigned b_lazy = src; /* b as lf_set keeps it: masked, and as it was */
    if (lazy_ab) {
        mov_rr(e, size, RCX, dst); /* a */
        if (d->kind == FAST_ALU_RR && in->op[1].reg == in->op[0].reg) {
            b_lazy = RCX;
        } else if (d->kind == FAST_ALU_RR && !w) {
            mov_rr(e, 4, RDX, src);
            b_lazy = RDX;
        }
    }
    unsigned target = dst;
    if (!d->writes) { /* CMP, TEST: SUB and AND into RAX */
        mov_rr(e, size, RAX, dst);
        target = RAX;
    }
    if (imm) {
        op_rr(e, w, 0x81, ext, target);
        b4(e, (uint32_t)v);
    } else {
        op_rr(e, w, rr, src, target);
    }
    if (d->writes)
        s->dirty |= 1u << in->op[0].reg;
    s->pf.on = false; /* it writes all six: a writer waiting is done */
    if (!d->flags)
        return;
    s->lazy = d->lazy;
    if (s->wait == FLAGS_DROP)
        return;
    if (s->wait == FLAGS_STUBS) {
        s->pf = (struct held){ true, imm, d->lazy, (uint8_t)size, (uint8_t)dst, NONE,
                               (uint8_t)src, v };
        return;
    }
    if (d->lazy == LF_LOGIC)
        set_flags(s, LF_LOGIC, size, target, NONE, NONE, false, 0);
    else
        set_flags(s, d->lazy, size, target, RCX, b_lazy, imm, v);
}

static void shift_op(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->h;
    unsigned size = d->size;
    unsigned dst = s->host[in->op[0].reg];
    unsigned c = (unsigned)in->op[1].val & (size == 8 ? 63 : 31);
    s->dirty |= 1u << in->op[0].reg;
    if (c == 0) { /* nothing changes, but a 32-bit register is zero-extended */
        if (size == 4)
            mov_rr(e, 4, dst, dst);
        return;
    }
    if (d->flags)
        mov_rr(e, size, RCX, dst); /* a, masked */
    op_rr(e, size == 8, 0xc1, d->lazy == LF_SHL ? 4 : d->lazy == LF_SHR ? 5 : 7, dst);
    b1(e, c);
    if (d->flags) {
        lazy_flags(e, d->lazy, size, dst, RCX, NONE, true, c);
        s->lazy = d->lazy;
    }
}

static void cmp_mi(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->h;
    unsigned size = d->size;
    uint64_t v = (uint64_t)in->op[1].val & size_mask(size);
    ea(s, &in->op[0], false);
    probe(s, (unsigned)(in - s->insns), false, size, NULL);
    load_host(e, size, RDX);  /* a */
    mov_rr(e, 8, RAX, RDX);
    if (size == 1) { /* sub al, imm8: the upper bytes stay 0 */
        b1(e, 0x2c);
        b1(e, (unsigned)v);
    } else {
        op_rr(e, size == 8, 0x81, 5, RAX);
        b4(e, (uint32_t)v);
    }
    lazy_flags(e, LF_SUB, size, RAX, RDX, NONE, true, v);
    s->lazy = LF_SUB;
    s->pf.on = false;
}

/* A store's slow path (a TLB miss, or a page with code: the store beside
 * code goes this way each time): its slow half called straight, without
 * running the handler again (RAX is the address). Then on after the
 * store: the rel32 returned. */
static uint8_t *store_stub(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *c = &s->c;
    store_held(c, &s->pf);
    write_back(c, s, s->dirty);
    if (d->kind == FAST_STORE)
        mov_rr(c, 8, RCX, s->host[in->op[1].reg]);          /* v */
    else
        mov_imm(c, RCX, (uint64_t)in->op[1].val & size_mask(d->size));
    mov_rr(c, 8, RDX, RAX);                                 /* la */
    mov_imm(c, R8, d->size);
    call_c(c, (const void *)fast_store_slow, in, NULL);
    check_result(c, s);
    reload(c, s);
    b1(c, 0xe9); /* jmp back */
    uint8_t *rel = c->p;
    b4(c, 0);
    return rel;
}

static void store_op(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->h;
    unsigned size = d->size;
    ea(s, &in->op[0], d->bd);
    const uint8_t *stub = s->c.p;
    uint8_t *back = store_stub(s, in, d);
    probe(s, (unsigned)(in - s->insns), true, size, stub);
    if (d->kind == FAST_STORE) {
        op_mem(e, size == 8, 0x89, s->host[in->op[1].reg], RAX, RSP, 1, 0);
    } else {
        uint64_t v = (uint64_t)in->op[1].val & size_mask(size);
        if (size == 1) {
            op_mem(e, false, 0xc6, 0, RAX, RSP, 1, 0); /* mov byte [rax], imm8 */
            b1(e, (unsigned)v);
        } else {
            op_mem(e, size == 8, 0xc7, 0, RAX, RSP, 1, 0);
            b4(e, (uint32_t)v);
        }
    }
    patch_rel(back, e->p);
}

/* CF into rflags, as lf_set_incdec does it before INC or DEC. */
static void jit_keep_cf(struct cpu *cpu)
{
    cpu->rflags = (cpu->rflags & ~X86_RFLAGS_CF) | (flag_cf(cpu) ? X86_RFLAGS_CF : 0);
}

/* CF into rflags from lf as lf_set_incdec puts it there, where the code
 * knows which operation left lf (flag_cf): CF = res < a after ADD, a < b
 * after SUB, 0 after a logical operation, already there after INC/DEC. */
static bool keep_cf_known(struct emit *e, unsigned lazy)
{
    if (lazy == LF_INC || lazy == LF_DEC || lazy == LF_SZP)
        return true;
    if (lazy != LF_ADD && lazy != LF_SUB && lazy != LF_LOGIC)
        return false;
    cpu_op(e, false, 0x80, 4, CPU_AT(rflags)); /* and byte [rbp + rflags], ~CF */
    b1(e, 0xfe);
    if (lazy == LF_LOGIC)
        return true;
    _Static_assert(X86_RFLAGS_CF == 1, "jit.c: CF is bit 0");
    cpu_op(e, true, 0x8b, RAX, lazy == LF_ADD ? CPU_AT(lf.res) : CPU_AT(lf.a));
    cpu_op(e, true, 0x3b, RAX, lazy == LF_ADD ? CPU_AT(lf.a) : CPU_AT(lf.b)); /* cmp: CF */
    b1(e, 0x0f); /* setc al */
    b1(e, 0x92);
    b1(e, 0xc0);
    cpu_op(e, false, 0x08, RAX, CPU_AT(rflags)); /* or byte [rbp + rflags], al */
    return true;
}

static void incdec_op(struct jit *s, const struct insn *in, const struct fast_desc *d)
{
    struct emit *e = &s->h;
    unsigned dst = s->host[in->op[0].reg];
    if (d->flags) {
        if (!keep_cf_known(e, s->lazy)) {
            /* not known here: once in rflags (lf.op below LF_ADD), else
             * the cold path puts it there */
            cpu_op(e, false, 0x80, 7, CPU_AT(lf.op)); /* cmp byte [rbp + lf.op], LF_ADD */
            b1(e, LF_ADD);
            const uint8_t *cold = s->c.p;
            jcc_to(e, 3, cold);                      /* jae cold */
            write_back(&s->c, s, s->dirty);
            call_c(&s->c, (const void *)jit_keep_cf, NULL, NULL);
            reload(&s->c, s);
            jmp_to(&s->c, e->p);
        }
        mov_rr(e, d->size, RCX, dst); /* a */
        s->lazy = d->lazy;
    }
    op_rr(e, d->size == 8, 0xff, d->lazy == LF_INC ? 0 : 1, dst);
    s->dirty |= 1u << in->op[0].reg;
    if (d->flags)
        set_flags(s, d->lazy, d->size, dst, RCX, NONE, true, 1);
}

/* Entry k, covered. */
static void emit_entry(struct jit *s, unsigned k, const struct fast_desc *d)
{
    const struct insn *in = &s->insns[k];
    const struct opnd *a = &in->op[0], *b = &in->op[1];
    struct emit *e = &s->h;
    switch (d->kind) {
    case FAST_ALU_RR: case FAST_ALU_RI: case FAST_ALU_RM:
        alu_op(s, in, d);
        break;
    case FAST_SHIFT_RI:
        shift_op(s, in, d);
        break;
    case FAST_MOV_RR:
        mov_rr(e, d->size, s->host[a->reg], s->host[b->reg]);
        s->dirty |= 1u << a->reg;
        break;
    case FAST_MOV_RI:
        mov_imm(e, s->host[a->reg],
                d->size == 8 ? (uint64_t)b->val : (uint64_t)(uint32_t)b->val);
        s->dirty |= 1u << a->reg;
        break;
    case FAST_LEA:
        ea(s, b, false);
        mov_rr(e, 8, s->host[a->reg], RAX);
        s->dirty |= 1u << a->reg;
        break;
    case FAST_LOAD:
        ea(s, b, d->bd);
        probe(s, k, false, d->size, NULL);
        load_host(e, d->size, s->host[a->reg]);
        s->dirty |= 1u << a->reg;
        break;
    case FAST_STORE: case FAST_STORE_IMM:
        store_op(s, in, d);
        break;
    case FAST_CMP_MI:
        cmp_mi(s, in, d);
        break;
    case FAST_INCDEC:
        incdec_op(s, in, d);
        break;
    case FAST_IMUL_RR: { /* CF and OF into rflags, AF cleared; SF/ZF/PF lazy */
        unsigned dst = s->host[a->reg];
        rex(e, d->size == 8, dst, 0, s->host[b->reg]);
        b1(e, 0x0f); /* imul dst, src */
        b1(e, 0xaf);
        b1(e, 0xc0 | (dst & 7) << 3 | (s->host[b->reg] & 7));
        b1(e, 0x0f); /* seto cl */
        b1(e, 0x90);
        b1(e, 0xc1);
        cpu_op(e, true, 0x81, 4, CPU_AT(rflags)); /* and qword [rbp + rflags], ~(CF|OF|AF) */
        b4(e, (uint32_t)~(X86_RFLAGS_CF | X86_RFLAGS_OF | X86_RFLAGS_AF));
        b1(e, 0x0f); /* movzx ecx, cl */
        b1(e, 0xb6);
        b1(e, 0xc9);
        op_rr(e, false, 0x69, RCX, RCX); /* imul ecx, ecx, CF | OF */
        b4(e, (uint32_t)(X86_RFLAGS_CF | X86_RFLAGS_OF));
        cpu_op(e, true, 0x09, RCX, CPU_AT(rflags)); /* or [rbp + rflags], rcx */
        s->dirty |= 1u << a->reg;
        lazy_flags(e, LF_SZP, d->size, dst, NONE, NONE, false, 0);
        s->lazy = LF_SZP;
        s->pf.on = false;
        break;
    }
    case FAST_MOVZX_RR: { /* movzx r32, r8/r16: SIL and DIL need a REX */
        unsigned dst = s->host[a->reg], src = s->host[b->reg];
        unsigned r = 0x40 | ((dst >> 3) & 1) << 2 | ((src >> 3) & 1);
        if (r != 0x40 || (d->size == 1 && src >= RSP))
            b1(e, r);
        b1(e, 0x0f);
        b1(e, d->size == 1 ? 0xb6 : 0xb7);
        b1(e, 0xc0 | (dst & 7) << 3 | (src & 7));
        s->dirty |= 1u << a->reg;
        break;
    }
    }
}

/* ---- a block's end */

/* The block retired: budget and insns, as exec.c retire does. */
static void retire(struct jit *s)
{
    unsigned w = s->blk->weight;
    cpu_op(&s->h, true, 0x83, 5, CPU_AT(budget)); /* sub qword [rbp + budget], weight */
    b1(&s->h, w);
    cpu_op(&s->h, true, 0x83, 0, CPU_AT(insns));  /* add qword [rbp + insns], weight */
    b1(&s->h, w);
}

/* The link at link goes to target while the epoch is epoch and the budget
 * covers weight. */
static void link_to(uint8_t *link, uint32_t epoch, unsigned weight, const uint8_t *target)
{
    _Static_assert(BLOCK_MAX < 128, "jit.c: a block's weight is an imm8");
    memcpy(link + LINK_EPOCH, &epoch, 4);
    link[LINK_WEIGHT] = (uint8_t)weight;
    patch_rel(link + LINK_REL, target);
}

/* The edge to the block at rip t: the block retired, then the link
 * (LINK_*), whose checks and jump go to the exit until jit_link patches
 * the jump. The exit leaves rip and the link for run_blocks. An edge onto
 * the block itself is linked now: past the loads when the host registers
 * still hold the guest's (kept: no call since they were written back). */
static void edge(struct jit *s, uint64_t t, bool kept)
{
    struct emit *e = &s->h;
    if (!s->retired)
        retire(s);
    uint8_t *link = e->p;
    const uint8_t *exit = s->c.p;
    if (s->exit_flags)
        store_held(&s->c, &s->pend);
    write_back(&s->c, s, s->exit_regs);
    mov_imm(&s->c, RAX, t);
    op_mem(&s->c, true, 0x89, RAX, RBP, RSP, 1, CPU_AT(rip));
    mov_imm(&s->c, RAX, (uint64_t)(uintptr_t)link);
    op_mem(&s->c, true, 0x89, RAX, RBP, RSP, 1, CPU_AT(link_at));
    jmp_to(&s->c, s->chained);
    /* the link, each with an 8-bit displacement: a fixed layout */
    b1(e, 0x81); /* cmp dword [rbp + chain_key], imm32: the epoch, not slow */
    b1(e, 0x7d);
    b1(e, (uint8_t)CPU_AT(chain_key));
    b4(e, 0);
    jcc_to(e, 5, exit);
    b1(e, 0x48); /* cmp qword [rbp + budget], imm8: the next block's weight */
    b1(e, 0x83);
    b1(e, 0x7d);
    b1(e, (uint8_t)CPU_AT(budget));
    b1(e, 0);
    jcc_to(e, 0xc, exit); /* jl */
    jmp_to(e, exit);
    if (e->p - link != LINK_END)
        abort(); /* the layout jit_link patches */
    if (t == s->insns[0].rip) /* (blk->rip is set after) */
        link_to(link, s->cpu->code_epoch, s->blk->weight, kept ? s->body : s->inner);
}

/* A block's end through its own handler: the static targets it may go to
 * get edges, anything else leaves through rip. */
static void end_by_handler(struct jit *s, unsigned end)
{
    struct emit *e = &s->h;
    const struct insn *in = &s->insns[end];
    insn_fn fn = end == 0 ? s->fn0 : in->fn;
    write_back(e, s, s->dirty);
    call_c(e, (const void *)fn, in, NULL);
    check_result(e, s);
    uint64_t t[2];
    unsigned nt = 0;
    if (s->blk->weight > s->blk->n) { /* a fused pair (decode.c block_fill) */
        t[nt++] = (uint64_t)in->op[2].val;
        t[nt++] = in->next + in->op[2].size;
    } else if (fn == op_jcc_abs_by_cc[in->cc & 15]) {
        t[nt++] = (uint64_t)in->op[0].val;
        t[nt++] = in->next;
    } else if (fn == op_jmp_abs || fn == op_call_abs) {
        t[nt++] = (uint64_t)in->op[0].val;
    } else if (fn == insn_block_end) {
        t[nt++] = in->rip;
    }
    uint8_t *to[2];
    cpu_op(e, true, 0x8b, RAX, CPU_AT(next_rip));
    for (unsigned i = 0; i < nt; i++) {
        mov_imm(e, RCX, t[i]);
        op_rr(e, true, 0x39, RCX, RAX); /* cmp rax, rcx */
        to[i] = jcc_to(e, 4, NULL);     /* je */
    }
    /* elsewhere: retired, and back to run_blocks */
    cpu_op(e, true, 0x89, RAX, CPU_AT(rip));
    retire(s);
    jmp_to(e, s->chained);
    for (unsigned i = 0; i < nt; i++) {
        patch_rel(to[i], e->p);
        edge(s, t[i], false);
    }
}

/* An edge after a Jcc on the host flags. Onto the block itself the code
 * goes on with the registers as they are (not written back: the block
 * starts with them dirty) and, if the block writes all the flags before
 * it reads them, without the pending flags; the exit does both. */
static void edge_after_flags(struct jit *s, uint64_t t)
{
    bool self = t == s->insns[0].rip;
    if (s->shared) /* done before the Jcc for both */
        self = false;
    else if (!self || !s->dead_at_entry)
        store_held(&s->h, &s->pend);
    if (!self && !s->shared)
        write_back(&s->h, s, s->dirty);
    s->exit_regs = self ? s->dirty : 0;
    s->exit_flags = self && s->dead_at_entry;
    edge(s, t, true);
    s->exit_regs = 0;
    s->exit_flags = false;
}

/* A block's end decided by the host flags (condition cc): both edges. */
static void end_by_flags(struct jit *s, unsigned cc, uint64_t taken, uint64_t fall)
{
    /* Neither edge onto the block itself: what they do alike, once,
     * before the Jcc (MOVs: the flags stay) */
    s->shared = taken != s->insns[0].rip && fall != s->insns[0].rip;
    if (s->shared) {
        store_held(&s->h, &s->pend);
        write_back(&s->h, s, s->dirty);
    }
    uint8_t *to = jcc_to(&s->h, cc, NULL); /* nothing between changes the flags */
    edge_after_flags(s, fall);
    patch_rel(to, s->h.p);
    edge_after_flags(s, taken);
}

/* How entry k's lazy flags wait (FLAGS_*): for the next covered writer of
 * all six, past MOVs, LEAs and MOVZXs (and loads and stores if the flags
 * can be made again in their slow paths: an ADD, SUB or logical operation
 * on a register, whose result and second operand stay in host registers
 * until then). Anything else on the way stores them at once. */
static unsigned flags_wait(const struct insn *insns, const bool *native,
                           const struct fast_desc *d, unsigned end, unsigned k)
{
    const struct fast_desc *p = &d[k];
    if (!p->flags || (p->kind != FAST_ALU_RR && p->kind != FAST_ALU_RI))
        return FLAGS_NOW;
    unsigned dst = insns[k].op[0].reg, src = p->kind == FAST_ALU_RR ? insns[k].op[1].reg : NONE;
    bool later = p->writes && src != dst &&
                 (p->lazy == LF_ADD || p->lazy == LF_SUB || p->lazy == LF_LOGIC);
    bool slow = false; /* a slow path between */
    for (unsigned m = k + 1; m <= end && native[m]; m++) {
        switch (d[m].kind) {
        case FAST_ALU_RR: case FAST_ALU_RI: case FAST_IMUL_RR:
            return slow ? FLAGS_STUBS : FLAGS_DROP;
        case FAST_ALU_RM: case FAST_CMP_MI: /* its slow path comes before its write */
            return later ? FLAGS_STUBS : FLAGS_NOW;
        case FAST_MOV_RR: case FAST_MOV_RI: case FAST_LEA: case FAST_MOVZX_RR:
            break;
        case FAST_LOAD: case FAST_STORE: case FAST_STORE_IMM:
            if (!later)
                return FLAGS_NOW;
            slow = true;
            break;
        default:
            return FLAGS_NOW;
        }
        if (d[m].writes && (insns[m].op[0].reg == dst || insns[m].op[0].reg == src))
            later = false; /* gone for a slow path after this one */
    }
    return FLAGS_NOW;
}

/* Whether the block writes all six flags (an ALU operation between
 * registers) before anything reads them or could see them (a fault, a
 * handler). */
static bool flags_dead_at_entry(const bool *native, const struct fast_desc *d, unsigned n)
{
    for (unsigned k = 0; k < n && native[k]; k++) {
        if (d[k].kind == FAST_ALU_RR || d[k].kind == FAST_ALU_RI)
            return true;
        if (d[k].kind != FAST_MOV_RR && d[k].kind != FAST_MOV_RI && d[k].kind != FAST_LEA &&
            d[k].kind != FAST_MOVZX_RR)
            return false;
    }
    return false;
}

/* Where entry d's slow path comes back to when a Jcc reads the host
 * flags after it (its handler ran instead of its code, and the tail left
 * other flags): the host flags again from the lazy ones it set, then on
 * after its code (cold). */
static const uint8_t *flags_again(struct jit *s, const struct fast_desc *d)
{
    struct emit *e = &s->c;
    const uint8_t *pad = e->p;
    bool w = d->size == 8, byte = d->size == 1;
    if (d->lazy == LF_LOGIC) {
        cpu_op(e, true, 0x8b, RAX, CPU_AT(lf.res));
        op_rr(e, w, byte ? 0x84 : 0x85, RAX, RAX);            /* test */
    } else {
        cpu_op(e, true, 0x8b, RAX, CPU_AT(lf.a));
        cpu_op(e, true, 0x8b, RCX, CPU_AT(lf.b));
        unsigned op = d->lazy == LF_ADD ? 0x01 : 0x39;         /* add, cmp */
        op_rr(e, w, byte ? op - 1 : op, RCX, RAX);
    }
    jmp_to(e, s->h.p);
    return pad;
}

bool jit_full(const struct cpu *cpu)
{
    return cpu->jit_code && (JIT_HOT_BYTES - cpu->jit_used < JIT_HOT_MAX ||
                             JIT_BYTES - JIT_HOT_BYTES - cpu->jit_cold < JIT_COLD_MAX);
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
        /* The shared epilogue, at the start for good: the result in EAX */
        struct emit e = { cpu->jit_code };
        b1(&e, 0x59); /* pop rcx: the pad */
        static const uint8_t pops[] = { R15, R14, R13, R12, RBP, RBX };
        for (unsigned i = 0; i < sizeof(pops); i++) {
            rex(&e, false, 0, 0, pops[i]);
            b1(&e, 0x58 + (pops[i] & 7));
        }
        b1(&e, 0xc3);
        jit_clear(cpu);
    }
    if (jit_full(cpu))
        return NULL;
    return cpu->jit_code + cpu->jit_used;
}

void jit_block(struct cpu *cpu, struct block *blk)
{
    if (cpu->mode != CPU_MODE_LONG64)
        return; /* the specialised forms are 64-bit mode's */
    struct insn *insns = blk->insns;
    bool fused = blk->weight > blk->n;
    unsigned end = fused || insns[blk->n - 1].ends_block ? blk->n - 1u : blk->n;
    struct fast_desc d[BLOCK_MAX + 1];
    bool native[BLOCK_MAX + 1];
    uint32_t used = 0;
    unsigned covered = 0;
    /* each entry covered while the registers it needs fit */
    for (unsigned k = 0; k <= end; k++) {
        insn_fn fn = k == end && fused ? insns[k].fn1 : insns[k].fn;
        uint32_t m = used;
        native[k] = (k < end || fused) && fast_describe(fn, &d[k]) && covers(&insns[k], &d[k], &m) &&
                    (unsigned)__builtin_popcount(m) <= POOL_N;
        if (k == end && fused) /* the first half of a fused pair: its flags decide */
            native[k] = native[k] && host_flags_for(&d[k], insns[k].op[2].index);
        if (native[k]) {
            used = m;
            covered++;
        }
    }
    if (covered < (cpu->model.jit_min ? cpu->model.jit_min : JIT_MIN))
        return;
    uint8_t *start = code_room(cpu);
    if (!start)
        return;
    struct jit s;
    memset(&s, 0, sizeof(s));
    s.cpu = cpu;
    s.blk = blk;
    s.insns = insns;
    s.fn0 = insns[0].fn;
    s.used = used;
    s.h.p = start;
    s.c.p = cpu->jit_code + JIT_HOT_BYTES + cpu->jit_cold;
    uint8_t *cold = s.c.p;
    memset(s.host, NONE, sizeof(s.host));
    for (unsigned g = 0, next = 0; g < 16; g++)
        if (used >> g & 1)
            s.host[g] = pool[next++];
    /* cold: the fail path and the chained return, the resume addresses,
     * the slow-path tail */
    s.fail = s.c.p;
    mov_imm(&s.c, RCX, (uint64_t)(uintptr_t)blk);
    op_mem(&s.c, true, 0x89, RCX, RBP, RSP, 1, CPU_AT(chain_last));
    jmp_to(&s.c, cpu->jit_code); /* the epilogue */
    s.chained = s.c.p;
    b1(&s.c, 0xb8); /* mov eax, STEP_CHAINED */
    b4(&s.c, STEP_CHAINED);
    jmp_to(&s.c, s.fail);
    s.c.p = (uint8_t *)(((uintptr_t)s.c.p + 7) & ~(uintptr_t)7);
    s.resume = (uint64_t *)(void *)s.c.p;
    s.c.p += 8 * (end + 1);
    emit_tail(&s);
    /* the outer entry: the callee-saved registers (and a pad, so that
     * calls find the stack aligned), RBP; then the inner entry */
    static const uint8_t pushes[] = { RBX, RBP, R12, R13, R14, R15, RAX };
    for (unsigned i = 0; i < sizeof(pushes); i++) {
        rex(&s.h, false, 0, 0, pushes[i]);
        b1(&s.h, 0x50 + (pushes[i] & 7));
    }
    op_mem(&s.h, true, 0x8d, RBP, RDI, RSP, 1, JIT_BIAS); /* lea rbp, [rdi + bias] */
    if (s.h.p - start != OUTER_LEN)
        abort(); /* jit_link's inner entry */
    s.inner = s.h.p;
    reload(&s.h, &s);
    s.body = s.h.p;
    /* A block that ends in a Jcc on the host flags: its last flag writer's
     * lazy flags go to the edges; one that loops onto itself keeps the
     * registers across (they start dirty). */
    const struct insn *last = &insns[end];
    bool by_flags = end > 0 && native[end - 1] && last->fn == op_jcc_abs_by_cc[last->cc & 15] &&
                    host_flags_for(&d[end - 1], last->cc & 15);
    if (native[end] || by_flags) {
        s.dead_at_entry = flags_dead_at_entry(native, d, end + 1);
        uint64_t taken = native[end] ? (uint64_t)last->op[2].val : (uint64_t)last->op[0].val;
        uint64_t fall = native[end] ? last->next + last->op[2].size : last->next;
        if (taken == insns[0].rip || fall == insns[0].rip)
            for (unsigned k = 0; k <= end; k++)
                if (native[k] && d[k].writes)
                    s.dirty |= 1u << insns[k].op[0].reg;
    }
    for (unsigned k = 0; k < end; k++) {
        s.wait = native[k] ? (uint8_t)flags_wait(insns, native, d, end, k) : FLAGS_NOW;
        /* the Jcc's writer, if it cannot fail: its flags go to the edges */
        s.defer = by_flags && k == end - 1 && d[k].kind != FAST_ALU_RM &&
                  d[k].kind != FAST_CMP_MI;
        if (s.defer) {
            retire(&s);
            s.retired = true;
        }
        if (native[k])
            emit_entry(&s, k, &d[k]);
        else
            call_entry(&s, k);
        s.resume[k] = (uint64_t)(uintptr_t)s.h.p;
    }
    s.defer = native[end];
    s.wait = FLAGS_NOW;
    /* A last flag writer that cannot fail (no memory): the block retires
     * before it, once for both edges */
    if (native[end]) {
        retire(&s);
        s.retired = true;
    }
    if (by_flags && (d[end - 1].kind == FAST_ALU_RM || d[end - 1].kind == FAST_CMP_MI))
        s.resume[end - 1] = (uint64_t)(uintptr_t)flags_again(&s, &d[end - 1]);
    if (native[end]) { /* a fused pair */
        emit_entry(&s, end, &d[end]);
        end_by_flags(&s, last->op[2].index, (uint64_t)last->op[2].val,
                     last->next + last->op[2].size);
    } else if (by_flags) {
        end_by_flags(&s, last->cc & 15, (uint64_t)last->op[0].val, last->next);
    } else {
        end_by_handler(&s, end);
    }
    blk->jit_body = native[end] || by_flags ? (uint8_t)(s.body - start) : 0;
    size_t hot = (size_t)(s.h.p - start), cold_len = (size_t)(s.c.p - cold);
    if (hot > JIT_HOT_MAX || cold_len > JIT_COLD_MAX)
        abort(); /* past the room it was given: JIT_HOT_ENTRY or JIT_COLD_ENTRY is wrong */
    cpu->jit_used = (cpu->jit_used + hot + 15) & ~(size_t)15;
    cpu->jit_cold = (cpu->jit_cold + cold_len + 15) & ~(size_t)15;
    insns[0].fn = (insn_fn)(void *)start;
    cpu->jitted++;
}

void jit_link(struct cpu *cpu, uint8_t *link, const struct block *x, const struct block *y)
{
    uint8_t *code = (uint8_t *)(void *)y->insns[0].fn;
    if (!cpu->jit_code || code < cpu->jit_code || code >= cpu->jit_code + JIT_HOT_BYTES)
        return; /* y has no code */
    link_to(link, cpu->code_epoch, y->weight,
            code + (x == y && y->jit_body ? y->jit_body : OUTER_LEN));
}

void jit_clear(struct cpu *cpu)
{
    cpu->jit_alone[1] = (struct insn){ .fn = insn_stay };
    cpu->jit_used = 16; /* after the epilogue */
    cpu->jit_cold = 0;
    cpu->link_at = NULL;
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

void jit_link(struct cpu *cpu, uint8_t *link, const struct block *x, const struct block *y)
{
    (void)cpu;
    (void)link;
    (void)x;
    (void)y;
}

bool jit_full(const struct cpu *cpu)
{
    (void)cpu;
    return false;
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
