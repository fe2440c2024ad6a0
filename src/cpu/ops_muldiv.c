/* ops_muldiv.c — multiplication and division: MUL, IMUL (one, two and three
 * operand forms), DIV, IDIV (APM vol. 3, "MUL" ... "IDIV").
 *
 * The one-operand forms use the accumulator pair implicitly: AX = AL * r/m8,
 * DX:AX, EDX:EAX, RDX:RAX for the wider sizes; division divides that pair and
 * leaves the quotient in AL/AX/EAX/RAX and the remainder in AH/DX/EDX/RDX.
 *
 * Flags: MUL/IMUL define CF = OF = "the result did not fit"; SF/ZF/AF/PF are
 * undefined and we leave SF/ZF/PF lazy from the low half, AF cleared.
 * DIV/IDIV leave every flag undefined; we leave them unchanged.
 */
#include "cpu/ops.h"

enum { RAX = 0, RDX = 2 };

static inline int64_t sext(uint64_t v, unsigned size)
{
    unsigned sh = 64 - size * 8;
    return (int64_t)(v << sh) >> sh;
}

/* Writes the double-width result of a one-operand multiply or divide:
 * 8-bit: AL = lo, AH = hi; otherwise the accumulator and RDX. */
static inline void acc_pair_write(struct cpu *cpu, unsigned size, uint64_t lo, uint64_t hi)
{
    if (size == 1) {
        gpr_write_sized(cpu, RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
        return;
    }
    gpr_write_sized(cpu, RAX, size, lo);
    gpr_write_sized(cpu, RDX, size, hi);
}

/* The double-width dividend: AX for 8-bit, else rDX:rAX. */
static inline unsigned __int128 acc_pair_read(const struct cpu *cpu, unsigned size)
{
    if (size == 1)
        return cpu->gpr[RAX] & 0xffff;
    uint64_t m = size_mask(size);
    return ((unsigned __int128)(cpu->gpr[RDX] & m) << (size * 8)) | (cpu->gpr[RAX] & m);
}

int op_mul(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *s = &in->op[0];
    unsigned size = s->size;
    uint64_t b;
    if (opnd_read(cpu, in, s, &b) != 0)
        return STEP_FAULT;
    uint64_t a = cpu->gpr[RAX] & size_mask(size);
    unsigned __int128 p = (unsigned __int128)a * b;
    uint64_t lo = (uint64_t)p & size_mask(size);
    uint64_t hi = (uint64_t)(p >> (size * 8)) & size_mask(size);
    acc_pair_write(cpu, size, lo, hi);
    lf_set_szp(cpu, size, lo, hi != 0, hi != 0, false);
    return STEP_OK;
}

int op_imul(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    unsigned size = d->size;
    uint64_t m = size_mask(size);

    if (in->nops == 1) {
        uint64_t b;
        if (opnd_read(cpu, in, d, &b) != 0)
            return STEP_FAULT;
        __int128 p = (__int128)sext(cpu->gpr[RAX], size) * sext(b, size);
        uint64_t lo = (uint64_t)p & m;
        uint64_t hi = (uint64_t)((unsigned __int128)p >> (size * 8)) & m;
        bool ovf = p != (__int128)sext(lo, size);
        acc_pair_write(cpu, size, lo, hi);
        lf_set_szp(cpu, size, lo, ovf, ovf, false);
        return STEP_OK;
    }

    /* dst *= src, or dst = src * imm (the immediate is already sign-extended
     * to the operand size by decode). */
    uint64_t a, b;
    if (in->nops >= 3) {
        if (opnd_read(cpu, in, &in->op[1], &a) != 0)
            return STEP_FAULT;
        b = (uint64_t)in->op[2].val;
    } else {
        a = gpr_read(cpu, d);
        if (opnd_read(cpu, in, &in->op[1], &b) != 0)
            return STEP_FAULT;
    }
    bool ovf;
    uint64_t r = imul_trunc(a, b, size, &ovf);
    gpr_write(cpu, d, r);
    lf_set_szp(cpu, size, r, ovf, ovf, false);
    return STEP_OK;
}

int op_div(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *s = &in->op[0];
    unsigned size = s->size;
    uint64_t b;
    if (opnd_read(cpu, in, s, &b) != 0)
        return STEP_FAULT;
    if (b == 0)
        return raise_exc(cpu, X86_VEC_DE);
    unsigned __int128 x = acc_pair_read(cpu, size);
    unsigned __int128 q = x / b;
    if (q > size_mask(size))
        return raise_exc(cpu, X86_VEC_DE);
    acc_pair_write(cpu, size, (uint64_t)q, (uint64_t)(x % b));
    return STEP_OK;
}

int op_idiv(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *s = &in->op[0];
    unsigned size = s->size, bits = size * 8;
    uint64_t b;
    if (opnd_read(cpu, in, s, &b) != 0)
        return STEP_FAULT;
    if (b == 0)
        return raise_exc(cpu, X86_VEC_DE);
    /* Sign-extend the 2*bits-wide dividend to 128 bits. */
    unsigned __int128 ux = acc_pair_read(cpu, size);
    unsigned sh = 128 - 2 * bits;
    __int128 x = (__int128)(ux << sh) >> sh;
    __int128 y = sext(b, size);
    /* INT128_MIN / -1 is the one quotient C cannot form; it overflows the
     * 64-bit quotient anyway. */
    if (y == -1 && ux == (unsigned __int128)1 << 127)
        return raise_exc(cpu, X86_VEC_DE);
    __int128 q = x / y, r = x % y;
    __int128 qmax = ((__int128)1 << (bits - 1)) - 1;
    if (q > qmax || q < -qmax - 1)
        return raise_exc(cpu, X86_VEC_DE);
    acc_pair_write(cpu, size, (uint64_t)q & size_mask(size), (uint64_t)r & size_mask(size));
    return STEP_OK;
}
