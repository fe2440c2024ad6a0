/* ops_bit.c — single-bit and bit-scan instructions: BT BTS BTR BTC, BSF BSR,
 * POPCNT, LZCNT, TZCNT (APM vol. 3).
 *
 * Flags: BTx define only CF (ZF is kept; OF/SF/AF/PF are undefined and kept
 * too). BSF/BSR define only ZF. POPCNT defines all six. LZCNT/TZCNT define
 * CF and ZF and we keep the rest. Everything that keeps flags materializes
 * RFLAGS first and edits the bits it defines.
 */
#include "cpu/ops.h"

enum bitop { BIT_TEST, BIT_SET, BIT_RESET, BIT_COMPLEMENT };

static inline void flags_put(struct cpu *cpu, uint64_t clear, uint64_t set)
{
    cpu->rflags = (flags_get(cpu) & ~clear) | set;
}

/* BT/BTS/BTR/BTC dst, offset. A register destination takes the offset modulo
 * its width. A memory destination with an immediate offset does the same;
 * with a register offset the offset is a signed bit index from the operand's
 * address, so the access moves by (offset >> log2(width)) operand-sized units
 * (APM vol. 3 §"BT": "the bit string may be up to 2^63 bits long"). */
static int bit_op(struct cpu *cpu, const struct insn *in, enum bitop kind)
{
    const struct opnd *d = &in->op[0], *o = &in->op[1];
    unsigned size = d->size, bits = size * 8;
    uint64_t off = o->type == OPND_IMM ? (uint64_t)o->val : gpr_read(cpu, o);
    unsigned bit = (unsigned)(off & (bits - 1));
    uint64_t v, ea = 0;

    if (d->type == OPND_REG) {
        v = gpr_read(cpu, d);
    } else {
        ea = opnd_ea(cpu, in, d);
        if (o->type != OPND_IMM) {
            unsigned sh = 64 - bits;
            int64_t soff = (int64_t)(off << sh) >> sh;
            int64_t units = soff >> __builtin_ctz(bits); /* floor, as hardware does */
            ea = (ea + (uint64_t)units * size) & size_mask(in->asize);
        }
        if (vmem_read(cpu, d->seg, ea, size, &v) != 0)
            return STEP_FAULT;
    }

    bool cf = (v >> bit) & 1;
    uint64_t mask = 1ull << bit, r;
    switch (kind) {
    case BIT_SET: r = v | mask; break;
    case BIT_RESET: r = v & ~mask; break;
    case BIT_COMPLEMENT: r = v ^ mask; break;
    default: r = v; break;
    }
    if (kind != BIT_TEST) {
        if (d->type == OPND_REG)
            gpr_write(cpu, d, r);
        else if (vmem_write(cpu, d->seg, ea, size, r) != 0)
            return STEP_FAULT;
    }
    flags_put(cpu, X86_RFLAGS_CF, cf ? X86_RFLAGS_CF : 0);
    return STEP_OK;
}

int op_bt(struct cpu *cpu, const struct insn *in) { return bit_op(cpu, in, BIT_TEST); }
int op_bts(struct cpu *cpu, const struct insn *in) { return bit_op(cpu, in, BIT_SET); }
int op_btr(struct cpu *cpu, const struct insn *in) { return bit_op(cpu, in, BIT_RESET); }
int op_btc(struct cpu *cpu, const struct insn *in) { return bit_op(cpu, in, BIT_COMPLEMENT); }

/* BSF/BSR: a zero source sets ZF and leaves the destination untouched — not
 * even the upper half of a 64-bit register behind a 32-bit destination is
 * cleared (APM vol. 3 "BSF"; Intel leaves it undefined and behaves alike). */
static int bit_scan(struct cpu *cpu, const struct insn *in, bool reverse)
{
    uint64_t s;
    if (opnd_read(cpu, in, &in->op[1], &s) != 0)
        return STEP_FAULT;
    if (s == 0) {
        flags_put(cpu, 0, X86_RFLAGS_ZF);
        return STEP_OK;
    }
    gpr_write(cpu, &in->op[0], reverse ? 63u - (unsigned)__builtin_clzll(s)
                                       : (unsigned)__builtin_ctzll(s));
    flags_put(cpu, X86_RFLAGS_ZF, 0);
    return STEP_OK;
}

int op_bsf(struct cpu *cpu, const struct insn *in) { return bit_scan(cpu, in, false); }
int op_bsr(struct cpu *cpu, const struct insn *in) { return bit_scan(cpu, in, true); }

int op_popcnt(struct cpu *cpu, const struct insn *in)
{
    uint64_t s;
    if (opnd_read(cpu, in, &in->op[1], &s) != 0)
        return STEP_FAULT;
    gpr_write(cpu, &in->op[0], (uint64_t)__builtin_popcountll(s));
    flags_put(cpu, X86_RFLAGS_ARITH, s == 0 ? X86_RFLAGS_ZF : 0);
    return STEP_OK;
}

/* LZCNT: a zero source gives the operand width and sets CF. (TZCNT is not
 * offered: without BMI1, F3 0F BC runs as BSF; see ops_table.c.) */
int op_lzcnt(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    unsigned bits = d->size * 8;
    uint64_t s;
    if (opnd_read(cpu, in, &in->op[1], &s) != 0)
        return STEP_FAULT;
    unsigned r;
    if (s == 0)
        r = bits;
    else
        r = (unsigned)__builtin_clzll(s) - (64 - bits);
    gpr_write(cpu, d, r);
    flags_put(cpu, X86_RFLAGS_CF | X86_RFLAGS_ZF,
              (s == 0 ? X86_RFLAGS_CF : 0) | (r == 0 ? X86_RFLAGS_ZF : 0));
    return STEP_OK;
}

