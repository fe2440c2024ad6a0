/* ops_fast.c — specialised handlers for the commonest operand forms, chosen
 * at decode time (decode.c: specialize_fast). Each is the generic handler's
 * semantics with the operand kinds and size fixed, so the compiler removes
 * the operand switches: ALU and MOV between 32/64-bit registers, with
 * immediates and with memory, and INC/DEC of a register. Also the pairs of
 * such a flag-setting instruction and the Jcc after it, run as one entry
 * of a block (fuse_jcc).
 */
#include "cpu/ops.h"

enum alu { ALU_ADD, ALU_SUB, ALU_AND, ALU_OR, ALU_XOR, ALU_CMP, ALU_TEST };

static inline void reg_set(struct cpu *cpu, unsigned reg, unsigned size, uint64_t v)
{
    cpu->gpr[reg] = size == 8 ? v : (uint32_t)v;
}

/* dst op= b on register d, flags as the instruction sets them. */
static inline void alu_apply(struct cpu *cpu, unsigned d, enum alu kind, unsigned size,
                             uint64_t b)
{
    uint64_t m = size_mask(size);
    uint64_t a = cpu->gpr[d] & m, r;
    b &= m;
    switch (kind) {
    case ALU_ADD: r = a + b; break;
    case ALU_SUB: case ALU_CMP: r = a - b; break;
    case ALU_AND: case ALU_TEST: r = a & b; break;
    case ALU_OR: r = a | b; break;
    default: r = a ^ b; break;
    }
    if (kind != ALU_CMP && kind != ALU_TEST)
        reg_set(cpu, d, size, r);
    switch (kind) {
    case ALU_ADD: lf_set(cpu, LF_ADD, size, r, a, b); break;
    case ALU_SUB: case ALU_CMP: lf_set(cpu, LF_SUB, size, r, a, b); break;
    default: lf_set_szp(cpu, size, r, false, false, false); break;
    }
}

static inline int alu_fast(struct cpu *cpu, const struct insn *in, enum alu kind,
                           unsigned size, bool imm)
{
    uint64_t b = imm ? (uint64_t)in->op[1].val : cpu->gpr[in->op[1].reg];
    alu_apply(cpu, in->op[0].reg, kind, size, b);
    return STEP_OK;
}

/* A memory operand's address: base + displacement when the decoder found
 * that form (bd: a base that is not RIP, no index, 64-bit addressing), else
 * the general effective address. */
static inline uint64_t fast_ea(const struct cpu *cpu, const struct insn *in, const struct opnd *o,
                               bool bd)
{
    return bd ? cpu->gpr[o->reg] + (uint64_t)o->val : opnd_ea(cpu, in, o);
}

/* The source operand of a load, 64-bit mode, DS/ES/SS-relative (no
 * segment base). Returns STEP_OK with *v, or the fault. */
static inline int load_src_as(struct cpu *cpu, const struct insn *in, unsigned size, uint64_t *v,
                              bool bd)
{
    const struct opnd *s = &in->op[1];
    uint64_t la = fast_ea(cpu, in, s, bd);
    if (unlikely(!is_canonical(la)))
        return seg_linear(cpu, s->seg, la, size, ACC_READ, &la);
    return la_read(cpu, la, size, cpu->user, v) != 0 ? STEP_FAULT : STEP_OK;
}

static inline int load_src(struct cpu *cpu, const struct insn *in, unsigned size, uint64_t *v)
{
    return load_src_as(cpu, in, size, v, false);
}

/* The same with the source operand in memory: a fault leaves the
 * destination as it was. */
static inline int alu_load(struct cpu *cpu, const struct insn *in, enum alu kind, unsigned size)
{
    uint64_t v;
    int r = load_src(cpu, in, size, &v);
    if (r == STEP_OK)
        alu_apply(cpu, in->op[0].reg, kind, size, v);
    return r;
}

#define ALU_FAST(name, kind)                                                                     \
    int op_##name##_rm64(struct cpu *cpu, const struct insn *in) { return alu_load(cpu, in, kind, 8); } \
    int op_##name##_rm32(struct cpu *cpu, const struct insn *in) { return alu_load(cpu, in, kind, 4); } \
    int op_##name##_rr64(struct cpu *cpu, const struct insn *in) { return alu_fast(cpu, in, kind, 8, false); } \
    int op_##name##_rr32(struct cpu *cpu, const struct insn *in) { return alu_fast(cpu, in, kind, 4, false); } \
    int op_##name##_ri64(struct cpu *cpu, const struct insn *in) { return alu_fast(cpu, in, kind, 8, true); }  \
    int op_##name##_ri32(struct cpu *cpu, const struct insn *in) { return alu_fast(cpu, in, kind, 4, true); }

ALU_FAST(add, ALU_ADD)
ALU_FAST(sub, ALU_SUB)
ALU_FAST(and, ALU_AND)
ALU_FAST(or, ALU_OR)
ALU_FAST(xor, ALU_XOR)
ALU_FAST(cmp, ALU_CMP)
ALU_FAST(test, ALU_TEST)

static inline int incdec_fast(struct cpu *cpu, const struct insn *in, bool inc, unsigned size)
{
    unsigned d = in->op[0].reg;
    uint64_t a = cpu->gpr[d] & size_mask(size);
    uint64_t r = inc ? a + 1 : a - 1;
    reg_set(cpu, d, size, r);
    lf_set_incdec(cpu, inc ? LF_INC : LF_DEC, size, r, a);
    return STEP_OK;
}

int op_inc_r64(struct cpu *cpu, const struct insn *in) { return incdec_fast(cpu, in, true, 8); }
int op_inc_r32(struct cpu *cpu, const struct insn *in) { return incdec_fast(cpu, in, true, 4); }
int op_dec_r64(struct cpu *cpu, const struct insn *in) { return incdec_fast(cpu, in, false, 8); }
int op_dec_r32(struct cpu *cpu, const struct insn *in) { return incdec_fast(cpu, in, false, 4); }

int op_mov_rr64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = cpu->gpr[in->op[1].reg];
    return STEP_OK;
}

int op_mov_rr32(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint32_t)cpu->gpr[in->op[1].reg];
    return STEP_OK;
}

int op_mov_ri64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint64_t)in->op[1].val;
    return STEP_OK;
}

int op_mov_ri32(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint32_t)in->op[1].val;
    return STEP_OK;
}

static inline int mov_load(struct cpu *cpu, const struct insn *in, unsigned size, bool bd)
{
    uint64_t v;
    int r = load_src_as(cpu, in, size, &v, bd);
    if (r == STEP_OK)
        reg_set(cpu, in->op[0].reg, size, v);
    return r;
}

static inline int mov_store(struct cpu *cpu, const struct insn *in, unsigned size, bool bd)
{
    const struct opnd *d = &in->op[0];
    uint64_t la = fast_ea(cpu, in, d, bd);
    if (unlikely(!is_canonical(la)))
        return seg_linear(cpu, d->seg, la, size, ACC_WRITE, &la);
    return la_write(cpu, la, size, cpu->user, cpu->gpr[in->op[1].reg]) != 0 ? STEP_FAULT : STEP_OK;
}

int op_mov_rm64(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 8, false); }
int op_mov_rm32(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 4, false); }
int op_mov_mr64(struct cpu *cpu, const struct insn *in) { return mov_store(cpu, in, 8, false); }
int op_mov_mr32(struct cpu *cpu, const struct insn *in) { return mov_store(cpu, in, 4, false); }
int op_mov_rm64_bd(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 8, true); }
int op_mov_rm32_bd(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 4, true); }
int op_mov_mr64_bd(struct cpu *cpu, const struct insn *in) { return mov_store(cpu, in, 8, true); }
int op_mov_mr32_bd(struct cpu *cpu, const struct insn *in) { return mov_store(cpu, in, 4, true); }

/* MOV of an immediate to memory: the immediate as the generic handler
 * reads it (masked to its operand size), stored at the destination's. */
static inline int mov_imm_store(struct cpu *cpu, const struct insn *in, unsigned size)
{
    const struct opnd *d = &in->op[0], *i = &in->op[1];
    uint64_t la = opnd_ea(cpu, in, d);
    if (unlikely(!is_canonical(la)))
        return seg_linear(cpu, d->seg, la, size, ACC_WRITE, &la);
    uint64_t v = (uint64_t)i->val & size_mask(i->size);
    return la_write(cpu, la, size, cpu->user, v) != 0 ? STEP_FAULT : STEP_OK;
}

int op_mov_mi64(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 8); }
int op_mov_mi32(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 4); }
int op_mov_mi8(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 1); }

/* MOVZX of a byte or word in memory into a 32/64-bit register (both
 * clear the register's upper bits). */
int op_movzx_rm8(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 1, false); }
int op_movzx_rm16(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 2, false); }

/* CMP of memory with an immediate: flags only. */
static inline int cmp_mem_imm(struct cpu *cpu, const struct insn *in, unsigned size)
{
    const struct opnd *d = &in->op[0], *i = &in->op[1];
    uint64_t la = opnd_ea(cpu, in, d), a;
    if (unlikely(!is_canonical(la)))
        return seg_linear(cpu, d->seg, la, size, ACC_READ, &la);
    if (la_read(cpu, la, size, cpu->user, &a) != 0)
        return STEP_FAULT;
    uint64_t m = size_mask(size), b = (uint64_t)i->val & size_mask(i->size) & m;
    lf_set(cpu, LF_SUB, size, a - b, a, b);
    return STEP_OK;
}

int op_cmp_mi64(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 8); }
int op_cmp_mi32(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 4); }
int op_cmp_mi8(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 1); }

/* LEA of a 64-bit address into a 64-bit register. */
int op_lea_r64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = opnd_ea(cpu, in, &in->op[1]);
    return STEP_OK;
}

/* SHL/SHR/SAR of a 32/64-bit register by an immediate, as ops_shift.c's
 * shift() does them: the count masked, a masked count of 0 changing
 * nothing but the zero-extension of a 32-bit register, SF/ZF/PF lazy, AF
 * cleared. */
static inline int shift_ri(struct cpu *cpu, const struct insn *in, enum shift kind,
                           unsigned size)
{
    unsigned d = in->op[0].reg;
    unsigned c = (unsigned)in->op[1].val & (size == 8 ? 63 : 31);
    uint64_t v = cpu->gpr[d] & size_mask(size);
    if (c == 0) {
        reg_set(cpu, d, size, v);
        return STEP_OK;
    }
    bool cf, of;
    uint64_t r = shift_compute(kind, v, c, size, &cf, &of);
    reg_set(cpu, d, size, r);
    lf_set_szp(cpu, size, r, cf, of, false);
    return STEP_OK;
}

int op_shl_ri64(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SHL, 8); }
int op_shl_ri32(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SHL, 4); }
int op_shr_ri64(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SHR, 8); }
int op_shr_ri32(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SHR, 4); }
int op_sar_ri64(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SAR, 8); }
int op_sar_ri32(struct cpu *cpu, const struct insn *in) { return shift_ri(cpu, in, SH_SAR, 4); }

/* ---- a flag-setting register instruction and the resolved Jcc after it,
 * as one block entry: one dispatch, and the condition decided while the
 * operands are at hand. The flags are set as the instruction alone sets
 * them. Neither half can fault; step_one runs the first half alone (fn1). */

static inline int jcc_after(struct cpu *cpu, const struct insn *in, bool taken)
{
    const struct insn *j = in + 1;
    cpu->next_rip = taken ? (uint64_t)j->op[0].val : j->next;
    return STEP_OK;
}

/* Each instruction that fuses leaves its result in lf.res (masked): JZ and
 * JNZ, the commonest after them, read it directly; the other conditions go
 * through cond_eval. */
#define FUSE(name)                                                         \
    static int op_##name##_jcc(struct cpu *cpu, const struct insn *in)     \
    {                                                                      \
        op_##name(cpu, in);                                                \
        return jcc_after(cpu, in, cond_eval(cpu, in[1].cc));               \
    }                                                                      \
    static int op_##name##_jz(struct cpu *cpu, const struct insn *in)      \
    {                                                                      \
        op_##name(cpu, in);                                                \
        return jcc_after(cpu, in, cpu->lf.res == 0);                       \
    }                                                                      \
    static int op_##name##_jnz(struct cpu *cpu, const struct insn *in)     \
    {                                                                      \
        op_##name(cpu, in);                                                \
        return jcc_after(cpu, in, cpu->lf.res != 0);                       \
    }
#define FUSE4(n) FUSE(n##_rr64) FUSE(n##_rr32) FUSE(n##_ri64) FUSE(n##_ri32)
FUSE4(add) FUSE4(sub) FUSE4(and) FUSE4(or) FUSE4(xor) FUSE4(test)
FUSE(inc_r64) FUSE(inc_r32) FUSE(dec_r64) FUSE(dec_r32)

/* CMP and the Jcc after it, one handler per operand form and condition:
 * the condition comes from the operands themselves, shifted to the top of
 * 64 bits so that signed and unsigned compares of any size are the plain
 * ones (the flags are still left lazy as CMP leaves them). */
static inline bool cmp_cond(uint64_t a, uint64_t b, unsigned size, unsigned cc)
{
    unsigned sh = 64 - 8 * size;
    uint64_t sa = a << sh, sb = b << sh, r = sa - sb;
    bool v;
    switch (cc >> 1) {
    case 0: v = ((sa ^ sb) & (sa ^ r)) >> 63; break;         /* O */
    case 1: v = sa < sb; break;                              /* B */
    case 2: v = sa == sb; break;                             /* E */
    case 3: v = sa <= sb; break;                             /* BE */
    case 4: v = r >> 63; break;                              /* S */
    case 5: v = !__builtin_parityll((a - b) & 0xff); break;  /* P */
    case 6: v = (int64_t)sa < (int64_t)sb; break;            /* L */
    default: v = (int64_t)sa <= (int64_t)sb; break;          /* LE */
    }
    return v ^ (cc & 1);
}

static inline int cmp_jcc(struct cpu *cpu, const struct insn *in, unsigned size, bool imm,
                          unsigned cc)
{
    uint64_t m = size_mask(size);
    uint64_t a = cpu->gpr[in->op[0].reg] & m;
    uint64_t b = (imm ? (uint64_t)in->op[1].val : cpu->gpr[in->op[1].reg]) & m;
    lf_set(cpu, LF_SUB, size, a - b, a, b);
    return jcc_after(cpu, in, cmp_cond(a, b, size, cc));
}

#define CMP_JCC(form, size, imm, cc)                                             \
    static int op_cmp_##form##_j##cc(struct cpu *cpu, const struct insn *in)     \
    {                                                                            \
        return cmp_jcc(cpu, in, size, imm, cc);                                  \
    }
#define CMP_JCC16(form, size, imm)                                                        \
    CMP_JCC(form, size, imm, 0) CMP_JCC(form, size, imm, 1) CMP_JCC(form, size, imm, 2)   \
    CMP_JCC(form, size, imm, 3) CMP_JCC(form, size, imm, 4) CMP_JCC(form, size, imm, 5)   \
    CMP_JCC(form, size, imm, 6) CMP_JCC(form, size, imm, 7) CMP_JCC(form, size, imm, 8)   \
    CMP_JCC(form, size, imm, 9) CMP_JCC(form, size, imm, 10) CMP_JCC(form, size, imm, 11) \
    CMP_JCC(form, size, imm, 12) CMP_JCC(form, size, imm, 13) CMP_JCC(form, size, imm, 14) \
    CMP_JCC(form, size, imm, 15)
CMP_JCC16(rr64, 8, false)
CMP_JCC16(rr32, 4, false)
CMP_JCC16(ri64, 8, true)
CMP_JCC16(ri32, 4, true)

#define CMP_ROW(form)                                                                     \
    { op_cmp_##form, { op_cmp_##form##_j0, op_cmp_##form##_j1, op_cmp_##form##_j2,        \
      op_cmp_##form##_j3, op_cmp_##form##_j4, op_cmp_##form##_j5, op_cmp_##form##_j6,     \
      op_cmp_##form##_j7, op_cmp_##form##_j8, op_cmp_##form##_j9, op_cmp_##form##_j10,    \
      op_cmp_##form##_j11, op_cmp_##form##_j12, op_cmp_##form##_j13, op_cmp_##form##_j14, \
      op_cmp_##form##_j15 } }

insn_fn fuse_jcc(insn_fn first, unsigned cc)
{
    static const struct {
        insn_fn alone, by_cc[16];
    } cmps[] = { CMP_ROW(rr64), CMP_ROW(rr32), CMP_ROW(ri64), CMP_ROW(ri32) };
    for (unsigned i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++)
        if (cmps[i].alone == first)
            return cmps[i].by_cc[cc & 15];
#define PAIR(n) { op_##n, op_##n##_jcc, op_##n##_jz, op_##n##_jnz }
#define PAIR4(n) PAIR(n##_rr64), PAIR(n##_rr32), PAIR(n##_ri64), PAIR(n##_ri32)
    static const struct {
        insn_fn alone, fused, jz, jnz;
    } pairs[] = {
        PAIR4(add), PAIR4(sub), PAIR4(and), PAIR4(or), PAIR4(xor), PAIR4(test),
        PAIR(inc_r64), PAIR(inc_r32), PAIR(dec_r64), PAIR(dec_r32),
    };
    for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (pairs[i].alone == first)
            return cc == 4 ? pairs[i].jz : cc == 5 ? pairs[i].jnz : pairs[i].fused;
    return NULL;
}
