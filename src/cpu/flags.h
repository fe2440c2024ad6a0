/* flags.h — lazy flag evaluation, inline because every Jcc/SETcc/CMOVcc and
 * every ADC/SBB/INC/DEC asks. Included by cpu.h; see flags.c for the rest. */
#ifndef SVMSIM_CPU_FLAGS_H
#define SVMSIM_CPU_FLAGS_H

static inline unsigned top_bit(unsigned size)
{
    return size * 8 - 1;
}

static inline bool flag_zf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & X86_RFLAGS_ZF;
    return cpu->lf.res == 0;
}

static inline bool flag_sf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & X86_RFLAGS_SF;
    return (cpu->lf.res >> top_bit(cpu->lf.size)) & 1;
}

static inline bool flag_pf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & X86_RFLAGS_PF;
    return !__builtin_parity((unsigned)(cpu->lf.res & 0xff));
}

/* CF of a shift (LF_SHL, LF_SHR, LF_SAR) of the size-byte value a by c
 * (1 to 63; above the size only for an 8- or 16-bit operand): the last
 * bit shifted out. */
static inline bool shift_cf(enum lazy_op op, uint64_t a, unsigned c, unsigned size)
{
    unsigned bits = size * 8;
    switch (op) {
    case LF_SHL: return c <= bits ? (a >> (bits - c)) & 1 : 0;
    case LF_SHR: return (a >> (c - 1)) & 1;
    default: {
        unsigned sh = 64 - bits;
        return ((int64_t)(a << sh) >> sh >> (c - 1)) & 1;
    }
    }
}

/* OF of the same, with its result res: defined by the APM for c = 1
 * only, the count-1 formula for the others. */
static inline bool shift_of(enum lazy_op op, uint64_t a, uint64_t res, unsigned c, unsigned size)
{
    unsigned t = top_bit(size);
    switch (op) {
    case LF_SHL: return ((res >> t) & 1) ^ shift_cf(op, a, c, size);
    case LF_SHR: return (a >> t) & 1;
    default: return false;
    }
}

static inline bool flag_cf(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf; /* res, a and b masked (lf_set) */
    switch (lf->op) {
    case LF_ADD: return lf->res < lf->a;
    case LF_ADC: return lf->res <= lf->a;
    case LF_SUB: return lf->a < lf->b;
    case LF_SBB: return lf->a <= lf->b;
    case LF_LOGIC: return false;
    case LF_SHL: case LF_SHR: case LF_SAR:
        return shift_cf((enum lazy_op)lf->op, lf->a, (unsigned)lf->b, lf->size);
    default: return cpu->rflags & X86_RFLAGS_CF; /* NONE, SZP, INC, DEC */
    }
}

static inline bool flag_of(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf;
    unsigned t = top_bit(lf->size);
    switch (lf->op) {
    case LF_ADD:
    case LF_ADC:
    case LF_INC:
        return (((lf->a ^ lf->res) & (lf->b ^ lf->res)) >> t) & 1;
    case LF_SUB:
    case LF_SBB:
    case LF_DEC:
        return (((lf->a ^ lf->b) & (lf->a ^ lf->res)) >> t) & 1;
    case LF_LOGIC:
        return false;
    case LF_SHL: case LF_SHR: case LF_SAR:
        return shift_of((enum lazy_op)lf->op, lf->a, lf->res, (unsigned)lf->b, lf->size);
    default:
        return cpu->rflags & X86_RFLAGS_OF;
    }
}

static inline bool flag_af(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_ADD: case LF_ADC: case LF_SUB: case LF_SBB: case LF_INC: case LF_DEC:
        return ((lf->a ^ lf->b ^ lf->res) >> 4) & 1;
    case LF_LOGIC: case LF_SHL: case LF_SHR: case LF_SAR:
        return false;
    default:
        return cpu->rflags & X86_RFLAGS_AF;
    }
}

/* Condition codes in opcode order: O NO B AE E NE BE A S NS P NP L GE LE G. */
static inline bool cond_eval(const struct cpu *cpu, unsigned cc)
{
    const struct lazy_flags *lf = &cpu->lf;
    bool r;
    /* The common compare-and-branch: answer straight from the operands. */
    if (lf->op == LF_SUB && cc >= 2 && cc != 10 && cc != 11) {
        unsigned sh = 64 - lf->size * 8;
        uint64_t a = lf->a << sh, b = lf->b << sh;
        switch (cc >> 1) {
        case 1: r = a < b; break;
        case 2: r = a == b; break;
        case 3: r = a <= b; break;
        case 4: r = (int64_t)(a - b) < 0; break;
        case 6: r = (int64_t)a < (int64_t)b; break;
        default: r = (int64_t)a <= (int64_t)b; break;
        }
        return r ^ (cc & 1);
    }
    switch (cc >> 1) {
    case 0: r = flag_of(cpu); break;
    case 1: r = flag_cf(cpu); break;
    case 2: r = flag_zf(cpu); break;
    case 3: r = flag_cf(cpu) || flag_zf(cpu); break;
    case 4: r = flag_sf(cpu); break;
    case 5: r = flag_pf(cpu); break;
    case 6: r = flag_sf(cpu) != flag_of(cpu); break;
    default: r = flag_zf(cpu) || (flag_sf(cpu) != flag_of(cpu)); break;
    }
    return r ^ (cc & 1);
}

/* INC/DEC: CF is kept, the rest computed from the result. */
static inline void lf_set_incdec(struct cpu *cpu, enum lazy_op op, unsigned size, uint64_t res,
                                 uint64_t a)
{
    /* Before LF_ADD (cpu.h, enum lazy_op) CF is in rflags already. */
    if (cpu->lf.op >= LF_ADD)
        cpu->rflags = (cpu->rflags & ~X86_RFLAGS_CF) | (flag_cf(cpu) ? X86_RFLAGS_CF : 0);
    lf_set(cpu, op, size, res, a, 1);
}

#endif
