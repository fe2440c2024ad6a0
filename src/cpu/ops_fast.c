/* ops_fast.c — specialised handlers for the commonest operand forms, chosen
 * at decode time (decode.c: specialize_fast). Each is the generic handler's
 * semantics with the operand kinds and size fixed, so the compiler removes
 * the operand switches: ALU and MOV between 32/64-bit registers, with
 * immediates and with memory, and INC/DEC of a register. Also the pairs of
 * such a flag-setting instruction and the Jcc after it, run as one entry
 * of a block (fuse_jcc).
 *
 * A block's entries run back to back (cpu.h, struct insn): each handler
 * here ends by tail-calling the next entry (insn_next), and a fused pair,
 * which ends its block, by setting next_rip. None reads next_rip, which
 * nobody sets for them. A fault, or a slow path that changed code under
 * the block, stops it (insn_stop). A register instruction whose flags
 * nothing reads runs a form that does not compute them (fast_flags_dead).
 */
#include "cpu/ops.h"

enum alu { ALU_ADD, ALU_SUB, ALU_AND, ALU_OR, ALU_XOR, ALU_CMP, ALU_TEST };

static inline void reg_set(struct cpu *cpu, unsigned reg, unsigned size, uint64_t v)
{
    cpu->gpr[reg] = size == 8 ? v : (uint32_t)v;
}

/* dst op= b on register d, flags as the instruction sets them (unless
 * nothing reads them: fast_flags_dead). */
static inline void alu_apply(struct cpu *cpu, unsigned d, enum alu kind, unsigned size,
                             uint64_t b, bool flags)
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
    if (!flags)
        return;
    switch (kind) {
    case ALU_ADD: lf_set(cpu, LF_ADD, size, r, a, b); break;
    case ALU_SUB: case ALU_CMP: lf_set(cpu, LF_SUB, size, r, a, b); break;
    default: lf_set(cpu, LF_LOGIC, size, r, 0, 0); break;
    }
}

/* ---- memory, through a segment without a base (64-bit mode, not FS/GS):
 * the TLB hit inline (cpu.h tlb_hit_r, tlb_hit_w); a miss finished out of
 * line, by a function the handler calls last, so that the hit path makes
 * no call that returns (and keeps no stack frame) */

/* The slow half of a load: a TLB miss (the walk, #AC, #PF), or an address
 * that is not canonical. STEP_OK or STEP_STOPPED (the walk's A/D writes
 * changed code) with the value in cpu->slow_val, or STEP_FAULT. */
static int fast_read_slow(struct cpu *cpu, unsigned seg, uint64_t la, unsigned size)
{
    if (!is_canonical(la))
        return raise_noncanonical(cpu, seg);
    uint32_t epoch = cpu->code_epoch;
    if (mmu_read_slow(cpu, la, size, cpu->user, &cpu->slow_val) != 0)
        return STEP_FAULT;
    return cpu->code_epoch == epoch ? STEP_OK : STEP_STOPPED;
}

/* The slow half of a store, as fast_read_slow's (a store into code moves
 * the epoch: STEP_STOPPED). */
static int fast_write_slow(struct cpu *cpu, unsigned seg, uint64_t la, unsigned size, uint64_t v)
{
    if (!is_canonical(la))
        return raise_noncanonical(cpu, seg);
    uint32_t epoch = cpu->code_epoch;
    if (mmu_write_slow(cpu, la, size, cpu->user, v) != 0)
        return STEP_FAULT;
    return cpu->code_epoch == epoch ? STEP_OK : STEP_STOPPED;
}

/* A store that missed the TLB. */
static __attribute__((noinline)) int store_miss(struct cpu *cpu, const struct insn *in,
                                                unsigned seg, uint64_t la, unsigned size,
                                                uint64_t v)
{
    return insn_then(cpu, in, fast_write_slow(cpu, seg, la, size, v));
}

int fast_store_slow(struct cpu *cpu, const struct insn *in, uint64_t la, uint64_t v,
                    unsigned size)
{
    int r = fast_write_slow(cpu, in->op[0].seg, la, size, v);
    return r == STEP_OK ? r : insn_stop(cpu, in, r);
}

/* A memory operand's address (64-bit addressing). bd: the form base +
 * displacement (a base that is not RIP, no index); else base + index *
 * scale + displacement in the form fast_operands gave it. */
static inline uint64_t fast_ea(const struct cpu *cpu, const struct opnd *o, bool bd)
{
    if (bd)
        return cpu->gpr[o->reg] + (uint64_t)o->val;
    return cpu->gpr_z[o->reg] + cpu->gpr_z[o->index] * o->scale + (uint64_t)o->val;
}

void fast_operands(struct insn *in)
{
    for (unsigned i = 0; i < 2; i++) {
        struct opnd *o = &in->op[i];
        if (o->type != OPND_MEM)
            continue;
        if (o->reg == REG_RIP)
            o->val = (int64_t)((uint64_t)o->val + in->next);
        if (o->reg == REG_RIP || o->reg == REG_NONE)
            o->reg = REG_ZERO;
        if (o->index == REG_NONE) {
            o->index = REG_ZERO;
            o->scale = 0;
        }
    }
}

/* ---- the handlers. Each do_ form is the instruction's work; its op_ form
 * goes on to the next entry (a fused pair below runs the do_ form). */

static inline void alu_fast(struct cpu *cpu, const struct insn *in, enum alu kind,
                            unsigned size, bool imm, bool flags)
{
    uint64_t b = imm ? (uint64_t)in->op[1].val : cpu->gpr[in->op[1].reg];
    alu_apply(cpu, in->op[0].reg, kind, size, b, flags);
}

/* The same with the source operand in memory: a fault leaves the
 * destination as it was. */
static __attribute__((noinline)) int alu_load_miss(struct cpu *cpu, const struct insn *in,
                                                   uint64_t la, enum alu kind, unsigned size)
{
    int r = fast_read_slow(cpu, in->op[1].seg, la, size);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    alu_apply(cpu, in->op[0].reg, kind, size, cpu->slow_val, true);
    return insn_then(cpu, in, r);
}

static inline int alu_load(struct cpu *cpu, const struct insn *in, enum alu kind, unsigned size)
{
    uint64_t la = fast_ea(cpu, &in->op[1], false);
    uintptr_t h;
    if (unlikely(!tlb_hit_r(cpu, la, size, cpu->tlb_bits, &h)))
        return alu_load_miss(cpu, in, la, kind, size);
    alu_apply(cpu, in->op[0].reg, kind, size, host_read(h, size), true);
    return insn_next(cpu, in);
}

/* A register instruction that writes all six arithmetic flags (INC and
 * DEC: all but CF), from body(cpu, in, args..., flags): do_name sets
 * them (for a fused pair), op_name sets them and goes on, op_name_nf
 * does not set them and goes on (fast_flags_dead). */
#define WRITER(name, body, ...)                                                       \
    __attribute__((unused)) /* CMP's: its pairs are cmp_jcc's */                      \
    static inline void do_##name(struct cpu *cpu, const struct insn *in)              \
    {                                                                                 \
        body(cpu, in, __VA_ARGS__, true);                                             \
    }                                                                                 \
    int op_##name(struct cpu *cpu, const struct insn *in)                             \
    {                                                                                 \
        body(cpu, in, __VA_ARGS__, true);                                             \
        return insn_next(cpu, in);                                                    \
    }                                                                                 \
    static int op_##name##_nf(struct cpu *cpu, const struct insn *in)                 \
    {                                                                                 \
        body(cpu, in, __VA_ARGS__, false);                                            \
        return insn_next(cpu, in);                                                    \
    }

#define ALU_FAST(name, kind)                                                                     \
    WRITER(name##_rr64, alu_fast, kind, 8, false) WRITER(name##_rr32, alu_fast, kind, 4, false) \
    WRITER(name##_ri64, alu_fast, kind, 8, true) WRITER(name##_ri32, alu_fast, kind, 4, true)   \
    int op_##name##_rm64(struct cpu *cpu, const struct insn *in) { return alu_load(cpu, in, kind, 8); } \
    int op_##name##_rm32(struct cpu *cpu, const struct insn *in) { return alu_load(cpu, in, kind, 4); }

/* op_name: do_name, then the next entry. */
#define GO_ON(name)                                                     \
    int op_##name(struct cpu *cpu, const struct insn *in)               \
    {                                                                   \
        do_##name(cpu, in);                                             \
        return insn_next(cpu, in);                                      \
    }

ALU_FAST(add, ALU_ADD)
ALU_FAST(sub, ALU_SUB)
ALU_FAST(and, ALU_AND)
ALU_FAST(or, ALU_OR)
ALU_FAST(xor, ALU_XOR)
ALU_FAST(cmp, ALU_CMP)
ALU_FAST(test, ALU_TEST)

static inline void incdec_fast(struct cpu *cpu, const struct insn *in, bool inc, unsigned size,
                               bool flags)
{
    unsigned d = in->op[0].reg;
    uint64_t a = cpu->gpr[d] & size_mask(size);
    uint64_t r = inc ? a + 1 : a - 1;
    reg_set(cpu, d, size, r);
    if (flags)
        lf_set_incdec(cpu, inc ? LF_INC : LF_DEC, size, r, a);
}

WRITER(inc_r64, incdec_fast, true, 8) WRITER(inc_r32, incdec_fast, true, 4)
WRITER(dec_r64, incdec_fast, false, 8) WRITER(dec_r32, incdec_fast, false, 4)

static inline void do_mov_rr64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = cpu->gpr[in->op[1].reg];
}

static inline void do_mov_rr32(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint32_t)cpu->gpr[in->op[1].reg];
}

static inline void do_mov_ri64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint64_t)in->op[1].val;
}

static inline void do_mov_ri32(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint32_t)in->op[1].val;
}
GO_ON(mov_rr64) GO_ON(mov_rr32) GO_ON(mov_ri64) GO_ON(mov_ri32)

static __attribute__((noinline)) int mov_load_miss(struct cpu *cpu, const struct insn *in,
                                                   uint64_t la, unsigned size)
{
    int r = fast_read_slow(cpu, in->op[1].seg, la, size);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    reg_set(cpu, in->op[0].reg, size, cpu->slow_val);
    return insn_then(cpu, in, r);
}

static inline int mov_load(struct cpu *cpu, const struct insn *in, unsigned size, bool bd)
{
    uint64_t la = fast_ea(cpu, &in->op[1], bd);
    uintptr_t h;
    if (unlikely(!tlb_hit_r(cpu, la, size, cpu->tlb_bits, &h)))
        return mov_load_miss(cpu, in, la, size);
    reg_set(cpu, in->op[0].reg, size, host_read(h, size));
    return insn_next(cpu, in);
}

/* A store of v to the destination operand (in->op[0]). */
static inline int store(struct cpu *cpu, const struct insn *in, unsigned size, bool bd,
                        uint64_t v)
{
    const struct opnd *d = &in->op[0];
    uint64_t la = fast_ea(cpu, d, bd);
    uintptr_t h;
    if (unlikely(!tlb_hit_w(cpu, la, size, cpu->tlb_bits, &h)))
        return store_miss(cpu, in, d->seg, la, size, v);
    host_write(h, size, v);
    return insn_next(cpu, in);
}

static inline int mov_store(struct cpu *cpu, const struct insn *in, unsigned size, bool bd)
{
    return store(cpu, in, size, bd, cpu->gpr[in->op[1].reg]);
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
 * reads it, masked to its operand size, which is the destination's
 * (decode.c gives an immediate the size of the operation it feeds). */
static inline int mov_imm_store(struct cpu *cpu, const struct insn *in, unsigned size)
{
    return store(cpu, in, size, false, (uint64_t)in->op[1].val & size_mask(size));
}

int op_mov_mi64(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 8); }
int op_mov_mi32(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 4); }
int op_mov_mi8(struct cpu *cpu, const struct insn *in) { return mov_imm_store(cpu, in, 1); }

/* MOVZX of a byte or word in memory into a 32/64-bit register (both
 * clear the register's upper bits). */
int op_movzx_rm8(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 1, false); }
int op_movzx_rm16(struct cpu *cpu, const struct insn *in) { return mov_load(cpu, in, 2, false); }

/* MOVZX of a byte register (not AH-BH) or a word register into a 32/64-bit
 * register. */
static inline void do_movzx_rr8(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint8_t)cpu->gpr[in->op[1].reg];
}

static inline void do_movzx_rr16(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = (uint16_t)cpu->gpr[in->op[1].reg];
}
GO_ON(movzx_rr8) GO_ON(movzx_rr16)

/* IMUL of two 32/64-bit registers (two operands), as op_imul does it: the
 * low half of the signed product, CF and OF set when it does not hold the
 * whole product, AF cleared, SF/ZF/PF from the result (LF_SZP). */
static inline void imul_rr(struct cpu *cpu, const struct insn *in, unsigned size)
{
    unsigned d = in->op[0].reg;
    bool ovf;
    uint64_t r = imul_trunc(cpu->gpr[d], cpu->gpr[in->op[1].reg], size, &ovf);
    reg_set(cpu, d, size, r);
    lf_set_szp(cpu, size, r, ovf, ovf, false);
}

int op_imul_rr64(struct cpu *cpu, const struct insn *in)
{
    imul_rr(cpu, in, 8);
    return insn_next(cpu, in);
}

int op_imul_rr32(struct cpu *cpu, const struct insn *in)
{
    imul_rr(cpu, in, 4);
    return insn_next(cpu, in);
}

/* CMP of memory with an immediate: flags only. */
static inline void cmp_mem_imm_flags(struct cpu *cpu, const struct insn *in, unsigned size,
                                     uint64_t a)
{
    uint64_t m = size_mask(size), b = (uint64_t)in->op[1].val & m; /* as mov_imm_store's */
    lf_set(cpu, LF_SUB, size, a - b, a, b);
}

static __attribute__((noinline)) int cmp_mem_imm_miss(struct cpu *cpu, const struct insn *in,
                                                      uint64_t la, unsigned size)
{
    int r = fast_read_slow(cpu, in->op[0].seg, la, size);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    cmp_mem_imm_flags(cpu, in, size, cpu->slow_val);
    return insn_then(cpu, in, r);
}

static inline int cmp_mem_imm(struct cpu *cpu, const struct insn *in, unsigned size)
{
    uint64_t la = fast_ea(cpu, &in->op[0], false);
    uintptr_t h;
    if (unlikely(!tlb_hit_r(cpu, la, size, cpu->tlb_bits, &h)))
        return cmp_mem_imm_miss(cpu, in, la, size);
    cmp_mem_imm_flags(cpu, in, size, host_read(h, size));
    return insn_next(cpu, in);
}

int op_cmp_mi64(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 8); }
int op_cmp_mi32(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 4); }
int op_cmp_mi8(struct cpu *cpu, const struct insn *in) { return cmp_mem_imm(cpu, in, 1); }

/* LEA of a 64-bit address into a 64-bit register. */
static inline void do_lea_r64(struct cpu *cpu, const struct insn *in)
{
    cpu->gpr[in->op[0].reg] = fast_ea(cpu, &in->op[1], false);
}
GO_ON(lea_r64)

/* SHL/SHR/SAR of a 32/64-bit register by an immediate, as ops_shift.c's
 * shift() does them: the count masked, a masked count of 0 changing
 * nothing but the zero-extension of a 32-bit register; the flags lazy
 * (LF_SHL, LF_SHR, LF_SAR). */
static inline unsigned shift_ri_count(const struct insn *in, unsigned size)
{
    return (unsigned)in->op[1].val & (size == 8 ? 63 : 31);
}

static inline void shift_ri(struct cpu *cpu, const struct insn *in, enum shift kind,
                            unsigned size, bool flags)
{
    unsigned d = in->op[0].reg;
    unsigned c = shift_ri_count(in, size);
    uint64_t v = cpu->gpr[d] & size_mask(size);
    if (c == 0) {
        reg_set(cpu, d, size, v);
        return;
    }
    uint64_t r = shift_result(kind, v, c, size);
    reg_set(cpu, d, size, r);
    if (flags)
        lf_set(cpu, (enum lazy_op)kind, size, r, v, c);
}

WRITER(shl_ri64, shift_ri, SH_SHL, 8) WRITER(shl_ri32, shift_ri, SH_SHL, 4)
WRITER(shr_ri64, shift_ri, SH_SHR, 8) WRITER(shr_ri32, shift_ri, SH_SHR, 4)
WRITER(sar_ri64, shift_ri, SH_SAR, 8) WRITER(sar_ri32, shift_ri, SH_SAR, 4)

/* PUSH and POP of a 64-bit register (64-bit mode: SS has no base and the
 * stack is 8 bytes wide), as stack_push and stack_pop do them: a stack
 * address that is not canonical raises #SS(0), and RSP moves only when
 * the access went through. PUSH RSP pushes RSP as it was; POP RSP leaves
 * the value popped. */
static __attribute__((noinline)) int push_miss(struct cpu *cpu, const struct insn *in,
                                               uint64_t la, uint64_t v)
{
    int r = fast_write_slow(cpu, SEG_SS, la, 8, v);
    if (r != STEP_FAULT)
        cpu->gpr[4] = la;
    return insn_then(cpu, in, r);
}

int op_push_r64(struct cpu *cpu, const struct insn *in)
{
    uint64_t v = cpu->gpr[in->op[0].reg], la = cpu->gpr[4] - 8;
    uintptr_t h;
    if (unlikely(!tlb_hit_w(cpu, la, 8, cpu->tlb_bits, &h)))
        return push_miss(cpu, in, la, v);
    host_write(h, 8, v);
    cpu->gpr[4] = la;
    return insn_next(cpu, in);
}

static __attribute__((noinline)) int pop_miss(struct cpu *cpu, const struct insn *in,
                                              uint64_t la)
{
    int r = fast_read_slow(cpu, SEG_SS, la, 8);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    cpu->gpr[4] = la + 8;
    cpu->gpr[in->op[0].reg] = cpu->slow_val;
    return insn_then(cpu, in, r);
}

int op_pop_r64(struct cpu *cpu, const struct insn *in)
{
    uint64_t la = cpu->gpr[4];
    uintptr_t h;
    if (unlikely(!tlb_hit_r(cpu, la, 8, cpu->tlb_bits, &h)))
        return pop_miss(cpu, in, la);
    uint64_t v = host_read(h, 8);
    cpu->gpr[4] = la + 8;
    cpu->gpr[in->op[0].reg] = v;
    return insn_next(cpu, in);
}

/* CALL to a target resolved at decode (decode.c resolve_branch, as JMP's)
 * and RET without an immediate, 64-bit mode: as op_call and op_ret do
 * them, RSP moved only when the stack access went through. Both end their
 * block: they set next_rip and do not go on. */
static __attribute__((noinline)) int call_miss(struct cpu *cpu, const struct insn *in,
                                               uint64_t la)
{
    int r = fast_write_slow(cpu, SEG_SS, la, 8, in->next);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    cpu->gpr[4] = la;
    cpu->next_rip = (uint64_t)in->op[0].val;
    return STEP_OK; /* a block that died under it ends here anyway */
}

int op_call_abs(struct cpu *cpu, const struct insn *in)
{
    uint64_t la = cpu->gpr[4] - 8;
    uintptr_t h;
    if (unlikely(!tlb_hit_w(cpu, la, 8, cpu->tlb_bits, &h)))
        return call_miss(cpu, in, la);
    host_write(h, 8, in->next);
    cpu->gpr[4] = la;
    cpu->next_rip = (uint64_t)in->op[0].val;
    return STEP_OK;
}

/* The rest of a RET whose load missed the TLB or whose return address
 * (a branch target) is not canonical: #GP(0) at the RET for the latter. */
static __attribute__((noinline)) int ret_slow(struct cpu *cpu, const struct insn *in,
                                              uint64_t la)
{
    int r = fast_read_slow(cpu, SEG_SS, la, 8);
    if (r == STEP_FAULT)
        return insn_stop(cpu, in, r);
    if (!is_canonical(cpu->slow_val))
        return insn_stop(cpu, in, raise_gp(cpu, 0));
    cpu->gpr[4] = la + 8;
    cpu->next_rip = cpu->slow_val;
    return STEP_OK;
}

int op_ret_r64(struct cpu *cpu, const struct insn *in)
{
    uint64_t la = cpu->gpr[4];
    uintptr_t h;
    if (unlikely(!tlb_hit_r(cpu, la, 8, cpu->tlb_bits, &h)))
        return ret_slow(cpu, in, la);
    uint64_t t = host_read(h, 8);
    if (unlikely(!is_canonical(t)))
        return ret_slow(cpu, in, la);
    cpu->gpr[4] = la + 8;
    cpu->next_rip = t;
    return STEP_OK;
}

/* ---- a flag-setting register instruction and the resolved Jcc after it,
 * as one block entry: one dispatch, and the condition decided while the
 * operands are at hand. The flags are set as the instruction alone sets
 * them. Neither half can fault; step_one runs the first half alone (fn1). */

static inline int jcc_after(struct cpu *cpu, const struct insn *in, bool taken)
{
    const struct opnd *j = &in->op[2];
    cpu->next_rip = taken ? (uint64_t)j->val : in->next + j->size;
    return STEP_OK;
}

/* Each instruction that fuses leaves its result in lf.res (masked): JZ and
 * JNZ, the commonest after them, read it directly; the other conditions go
 * through cond_eval. */
#define FUSE(name)                                                         \
    static int op_##name##_jcc(struct cpu *cpu, const struct insn *in)     \
    {                                                                      \
        do_##name(cpu, in);                                                \
        return jcc_after(cpu, in, cond_eval(cpu, in->op[2].index));        \
    }                                                                      \
    static int op_##name##_jz(struct cpu *cpu, const struct insn *in)      \
    {                                                                      \
        do_##name(cpu, in);                                                \
        return jcc_after(cpu, in, cpu->lf.res == 0);                       \
    }                                                                      \
    static int op_##name##_jnz(struct cpu *cpu, const struct insn *in)     \
    {                                                                      \
        do_##name(cpu, in);                                                \
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

/* ---- flags that nothing reads */

void fast_flags_dead(struct insn *insns, unsigned n)
{
    enum { ALL, SHIFT, KEEPS_CF }; /* what a writer writes: SHIFT, unless its count is 0 */
#define NF(n, k) { op_##n, op_##n##_nf, k }
#define NF4(n) NF(n##_rr64, ALL), NF(n##_rr32, ALL), NF(n##_ri64, ALL), NF(n##_ri32, ALL)
    static const struct {
        insn_fn op, nf;
        uint8_t writes;
    } writers[] = {
        NF4(add), NF4(sub), NF4(and), NF4(or), NF4(xor), NF4(cmp), NF4(test),
        NF(shl_ri64, SHIFT), NF(shl_ri32, SHIFT), NF(shr_ri64, SHIFT), NF(shr_ri32, SHIFT),
        NF(sar_ri64, SHIFT), NF(sar_ri32, SHIFT),
        NF(inc_r64, KEEPS_CF), NF(inc_r32, KEEPS_CF), NF(dec_r64, KEEPS_CF), NF(dec_r32, KEEPS_CF),
    };
    static const insn_fn flagless[] = { op_mov_rr64, op_mov_rr32, op_mov_ri64, op_mov_ri32,
                                        op_lea_r64, op_movzx_rr8, op_movzx_rr16 };
    enum { NWRITERS = sizeof(writers) / sizeof(writers[0]) };
    bool live = true; /* after entry i: read later, or seen (a fault, the block's end) */
    for (unsigned i = n; i-- > 0;) {
        struct insn *in = &insns[i];
        bool passes = false; /* neither reads nor writes them, cannot fault */
        for (unsigned k = 0; k < sizeof(flagless) / sizeof(flagless[0]); k++)
            passes |= in->fn == flagless[k];
        unsigned w = 0;
        while (w < NWRITERS && writers[w].op != in->fn)
            w++;
        if (passes || (w < NWRITERS && writers[w].writes == SHIFT &&
                       shift_ri_count(in, in->op[0].size) == 0))
            continue; /* a shift by 0 leaves them too */
        if (w == NWRITERS) {
            live = true; /* reads them, may fault or exit, or is not known here */
            continue;
        }
        if (!live)
            in->fn = writers[w].nf;
        /* Before a writer of all six they are dead; INC and DEC keep CF,
         * so it is as live before them as after. */
        if (writers[w].writes != KEEPS_CF)
            live = false;
    }
#undef NF
#undef NF4
}

/* ---- what an entry's specialised handler does, for jit.c */

bool fast_describe(insn_fn fn, struct fast_desc *d)
{
#define D(f, k, l, w, fl, b, sz) { f, { k, l, w, fl, b, sz } }
#define ALU_SZ(n, lazy, w, sz)                                                              \
    D(op_##n##_rr##sz, FAST_ALU_RR, lazy, w, true, false, sz / 8),                          \
        D(op_##n##_rr##sz##_nf, FAST_ALU_RR, lazy, w, false, false, sz / 8),                \
        D(op_##n##_ri##sz, FAST_ALU_RI, lazy, w, true, false, sz / 8),                      \
        D(op_##n##_ri##sz##_nf, FAST_ALU_RI, lazy, w, false, false, sz / 8),                \
        D(op_##n##_rm##sz, FAST_ALU_RM, lazy, w, true, false, sz / 8)
#define ALU_D(n, lazy, w) ALU_SZ(n, lazy, w, 64), ALU_SZ(n, lazy, w, 32)
#define SH_SZ(n, lazy, sz)                                                                  \
    D(op_##n##_ri##sz, FAST_SHIFT_RI, lazy, true, true, false, sz / 8),                     \
        D(op_##n##_ri##sz##_nf, FAST_SHIFT_RI, lazy, true, false, false, sz / 8)
#define SH_D(n, lazy) SH_SZ(n, lazy, 64), SH_SZ(n, lazy, 32)
    static const struct {
        insn_fn fn;
        struct fast_desc d;
    } forms[] = {
        ALU_D(add, LF_ADD, true), ALU_D(sub, LF_SUB, true), ALU_D(and, LF_LOGIC, true),
        ALU_D(or, LF_LOGIC, true), ALU_D(xor, LF_LOGIC, true), ALU_D(cmp, LF_SUB, false),
        ALU_D(test, LF_LOGIC, false),
        SH_D(shl, LF_SHL), SH_D(shr, LF_SHR), SH_D(sar, LF_SAR),
        D(op_mov_rr64, FAST_MOV_RR, 0, true, false, false, 8),
        D(op_mov_rr32, FAST_MOV_RR, 0, true, false, false, 4),
        D(op_mov_ri64, FAST_MOV_RI, 0, true, false, false, 8),
        D(op_mov_ri32, FAST_MOV_RI, 0, true, false, false, 4),
        D(op_mov_rm64, FAST_LOAD, 0, true, false, false, 8),
        D(op_mov_rm32, FAST_LOAD, 0, true, false, false, 4),
        D(op_movzx_rm16, FAST_LOAD, 0, true, false, false, 2),
        D(op_movzx_rm8, FAST_LOAD, 0, true, false, false, 1),
        D(op_mov_rm64_bd, FAST_LOAD, 0, true, false, true, 8),
        D(op_mov_rm32_bd, FAST_LOAD, 0, true, false, true, 4),
        D(op_mov_mr64, FAST_STORE, 0, false, false, false, 8),
        D(op_mov_mr32, FAST_STORE, 0, false, false, false, 4),
        D(op_mov_mr64_bd, FAST_STORE, 0, false, false, true, 8),
        D(op_mov_mr32_bd, FAST_STORE, 0, false, false, true, 4),
        D(op_mov_mi64, FAST_STORE_IMM, 0, false, false, false, 8),
        D(op_mov_mi32, FAST_STORE_IMM, 0, false, false, false, 4),
        D(op_mov_mi8, FAST_STORE_IMM, 0, false, false, false, 1),
        D(op_cmp_mi64, FAST_CMP_MI, LF_SUB, false, true, false, 8),
        D(op_cmp_mi32, FAST_CMP_MI, LF_SUB, false, true, false, 4),
        D(op_cmp_mi8, FAST_CMP_MI, LF_SUB, false, true, false, 1),
        D(op_lea_r64, FAST_LEA, 0, true, false, false, 8),
        D(op_imul_rr64, FAST_IMUL_RR, LF_SZP, true, true, false, 8),
        D(op_imul_rr32, FAST_IMUL_RR, LF_SZP, true, true, false, 4),
        D(op_movzx_rr8, FAST_MOVZX_RR, 0, true, false, false, 1),
        D(op_movzx_rr16, FAST_MOVZX_RR, 0, true, false, false, 2),
        D(op_inc_r64, FAST_INCDEC, LF_INC, true, true, false, 8),
        D(op_inc_r64_nf, FAST_INCDEC, LF_INC, true, false, false, 8),
        D(op_inc_r32, FAST_INCDEC, LF_INC, true, true, false, 4),
        D(op_inc_r32_nf, FAST_INCDEC, LF_INC, true, false, false, 4),
        D(op_dec_r64, FAST_INCDEC, LF_DEC, true, true, false, 8),
        D(op_dec_r64_nf, FAST_INCDEC, LF_DEC, true, false, false, 8),
        D(op_dec_r32, FAST_INCDEC, LF_DEC, true, true, false, 4),
        D(op_dec_r32_nf, FAST_INCDEC, LF_DEC, true, false, false, 4),
    };
#undef D
#undef ALU_SZ
#undef ALU_D
#undef SH_SZ
#undef SH_D
    for (unsigned i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (forms[i].fn == fn) {
            *d = forms[i].d;
            return true;
        }
    return false;
}
