/* ops_shift.c — shifts and rotates: SHL/SAL SHR SAR ROL ROR RCL RCR and the
 * double-precision SHLD SHRD (APM vol. 3, "SAL/SHL" ... "SHRD").
 *
 * The count is masked to 5 bits (6 for 64-bit operands) before anything
 * else; a masked count of 0 changes no flag and leaves the destination's
 * value alone, but a memory destination is still read (and may fault) and a
 * 32-bit register destination is still written, so its upper half is zeroed
 * as on every other 32-bit write (observed on an Intel host; FIXME: not
 * checked on AMD).
 *
 * Flags: SHL/SHR/SAR and SHLD/SHRD leave SF/ZF/PF lazy from the result and
 * set CF (the last bit shifted out) and OF explicitly; AF is undefined and
 * cleared. Rotates change only CF and OF, so they materialize RFLAGS first.
 * OF is architecturally defined only for a masked count of 1; for larger
 * counts we compute the count-1 formula, which is as good as any.
 */
#include "cpu/ops.h"

enum rot { ROT_ROL, ROT_ROR, ROT_RCL, ROT_RCR };

static inline unsigned count_mask(unsigned size)
{
    return size == 8 ? 63 : 31;
}

/* The count operand: an immediate (1 for the D0/D1 forms) or CL. */
static inline unsigned shift_count(const struct cpu *cpu, const struct opnd *o, unsigned size)
{
    uint64_t c = o->type == OPND_IMM ? (uint64_t)o->val : gpr_read(cpu, o);
    return (unsigned)(c & count_mask(size));
}

static inline bool msb(uint64_t v, unsigned size)
{
    return (v >> (size * 8 - 1)) & 1;
}

/* Count 0: nothing changes, except the zero-extension of a 32-bit register. */
static inline int count_zero(struct cpu *cpu, const struct opnd *d, uint64_t v)
{
    if (d->type == OPND_REG && d->size == 4)
        gpr_write(cpu, d, v);
    return STEP_OK;
}

static int shift(struct cpu *cpu, const struct insn *in, enum shift kind)
{
    const struct opnd *d = &in->op[0];
    unsigned size = d->size;
    uint64_t v;
    if (opnd_read(cpu, in, d, &v) != 0)
        return STEP_FAULT;
    unsigned c = shift_count(cpu, &in->op[1], size);
    if (c == 0)
        return count_zero(cpu, d, v);
    uint64_t r = shift_result(kind, v, c, size);
    if (opnd_write(cpu, in, d, r) != 0)
        return STEP_FAULT;
    lf_set(cpu, (enum lazy_op)kind, size, r, v, c);
    return STEP_OK;
}

int op_shl(struct cpu *cpu, const struct insn *in) { return shift(cpu, in, SH_SHL); }
int op_shr(struct cpu *cpu, const struct insn *in) { return shift(cpu, in, SH_SHR); }
int op_sar(struct cpu *cpu, const struct insn *in) { return shift(cpu, in, SH_SAR); }

/* Rotates. RCL/RCR rotate the (bits + 1)-bit value CF:dest, so 8- and 16-bit
 * operands take the masked count modulo 9 and 17; ROL/ROR take it modulo the
 * width but still set CF when the masked count is not 0 (APM vol. 3, "ROL"). */
static int rotate(struct cpu *cpu, const struct insn *in, enum rot kind)
{
    const struct opnd *d = &in->op[0];
    unsigned size = d->size, bits = size * 8;
    uint64_t v;
    if (opnd_read(cpu, in, d, &v) != 0)
        return STEP_FAULT;
    unsigned c = shift_count(cpu, &in->op[1], size);
    if (c == 0)
        return count_zero(cpu, d, v);

    uint64_t m = size_mask(size), r;
    bool cf;
    if (kind == ROT_ROL || kind == ROT_ROR) {
        unsigned rc = c & (bits - 1);
        if (rc == 0)
            r = v;
        else if (kind == ROT_ROL)
            r = ((v << rc) | (v >> (bits - rc))) & m;
        else
            r = ((v >> rc) | (v << (bits - rc))) & m;
        cf = kind == ROT_ROL ? (r & 1) : msb(r, size);
    } else {
        unsigned w = bits + 1, rc = c % w;
        bool cin = flag_cf(cpu);
        unsigned __int128 x = (unsigned __int128)v | ((unsigned __int128)cin << bits);
        unsigned __int128 wm = ((unsigned __int128)1 << w) - 1;
        if (rc != 0) {
            if (kind == ROT_RCL)
                x = ((x << rc) | (x >> (w - rc))) & wm;
            else
                x = ((x >> rc) | (x << (w - rc))) & wm;
        }
        r = (uint64_t)x & m;
        cf = (x >> bits) & 1;
    }
    /* OF for a count of 1: ROL/RCL MSB(result) ^ CF; ROR/RCR the XOR of the
     * two most significant bits of the result. */
    bool of = (kind == ROT_ROL || kind == ROT_RCL) ? msb(r, size) ^ cf
                                                    : msb(r, size) ^ ((r >> (bits - 2)) & 1);
    if (opnd_write(cpu, in, d, r) != 0)
        return STEP_FAULT;
    uint64_t f = flags_get(cpu) & ~(X86_RFLAGS_CF | X86_RFLAGS_OF);
    cpu->rflags = f | (cf ? X86_RFLAGS_CF : 0) | (of ? X86_RFLAGS_OF : 0);
    return STEP_OK;
}

int op_rol(struct cpu *cpu, const struct insn *in) { return rotate(cpu, in, ROT_ROL); }
int op_ror(struct cpu *cpu, const struct insn *in) { return rotate(cpu, in, ROT_ROR); }
int op_rcl(struct cpu *cpu, const struct insn *in) { return rotate(cpu, in, ROT_RCL); }
int op_rcr(struct cpu *cpu, const struct insn *in) { return rotate(cpu, in, ROT_RCR); }

/* SHLD/SHRD dst, src, count. A 16-bit operand with a count of 17-31 has an
 * undefined result; we shift the 48-bit dst:src:dst pattern, which is what
 * an Intel host produces (AMD unchecked). */
static int shift_double(struct cpu *cpu, const struct insn *in, bool left)
{
    const struct opnd *d = &in->op[0];
    unsigned size = d->size, bits = size * 8;
    uint64_t v, s;
    if (opnd_read(cpu, in, d, &v) != 0)
        return STEP_FAULT;
    s = gpr_read(cpu, &in->op[1]);
    unsigned c = shift_count(cpu, &in->op[2], size);
    if (c == 0)
        return count_zero(cpu, d, v);

    uint64_t m = size_mask(size), r;
    bool cf;
    if (size == 2) {
        uint64_t x = left ? (v << 32) | (s << 16) | v : v | (s << 16) | (v << 32);
        r = left ? (x << c) >> 32 : x >> c;
        r &= m;
        cf = left ? (x >> (48 - c)) & 1 : (x >> (c - 1)) & 1;
    } else if (left) {
        /* 1 <= c < bits here */
        r = ((v << c) | (s >> (bits - c))) & m;
        cf = (v >> (bits - c)) & 1;
    } else {
        r = ((v >> c) | (s << (bits - c))) & m;
        cf = (v >> (c - 1)) & 1;
    }
    bool of = msb(r, size) ^ msb(v, size); /* sign change, defined for count 1 */
    if (opnd_write(cpu, in, d, r) != 0)
        return STEP_FAULT;
    lf_set_szp(cpu, size, r, cf, of, false);
    return STEP_OK;
}

int op_shld(struct cpu *cpu, const struct insn *in) { return shift_double(cpu, in, true); }
int op_shrd(struct cpu *cpu, const struct insn *in) { return shift_double(cpu, in, false); }
