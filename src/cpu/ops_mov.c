/* ops_mov.c — data movement and flag-register instructions: MOV MOVZX MOVSX
 * LEA XCHG CMOVcc SETcc BSWAP CBW/CWD families, LAHF/SAHF, CLC/STC/CMC/CLD/
 * STD, XADD, CMPXCHG, CMPXCHG8B/16B and the NOP family. */
#include "cpu/ops.h"

int op_mov(struct cpu *cpu, const struct insn *in)
{
    uint64_t v;
    if (opnd_read(cpu, in, &in->op[1], &v) != 0 || opnd_write(cpu, in, &in->op[0], v) != 0)
        return STEP_FAULT;
    return STEP_OK;
}

int op_movzx(struct cpu *cpu, const struct insn *in)
{
    uint64_t v;
    if (opnd_read(cpu, in, &in->op[1], &v) != 0)
        return STEP_FAULT;
    gpr_write(cpu, &in->op[0], v);
    return STEP_OK;
}

int op_movsx(struct cpu *cpu, const struct insn *in)
{
    uint64_t v;
    const struct opnd *s = &in->op[1];
    if (opnd_read(cpu, in, s, &v) != 0)
        return STEP_FAULT;
    unsigned sh = 64 - s->size * 8;
    gpr_write(cpu, &in->op[0], (uint64_t)((int64_t)(v << sh) >> sh));
    return STEP_OK;
}

int op_lea(struct cpu *cpu, const struct insn *in)
{
    gpr_write(cpu, &in->op[0], opnd_ea(cpu, in, &in->op[1]));
    return STEP_OK;
}

int op_xchg(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *a = &in->op[0], *b = &in->op[1];
    uint64_t va, vb;
    if (opnd_read(cpu, in, a, &va) != 0 || opnd_read(cpu, in, b, &vb) != 0)
        return STEP_FAULT;
    /* The memory side (if any) is written first so a fault changes nothing. */
    if (a->type == OPND_MEM) {
        if (opnd_write(cpu, in, a, vb) != 0)
            return STEP_FAULT;
        opnd_write(cpu, in, b, va);
    } else {
        if (opnd_write(cpu, in, b, va) != 0)
            return STEP_FAULT;
        opnd_write(cpu, in, a, vb);
    }
    return STEP_OK;
}

int op_cmovcc(struct cpu *cpu, const struct insn *in)
{
    uint64_t v;
    if (opnd_read(cpu, in, &in->op[1], &v) != 0)
        return STEP_FAULT;
    if (cond_eval(cpu, in->cc))
        gpr_write(cpu, &in->op[0], v);
    else if (in->op[0].size == 4)
        gpr_write(cpu, &in->op[0], gpr_read(cpu, &in->op[0])); /* zero-extends anyway */
    return STEP_OK;
}

int op_setcc(struct cpu *cpu, const struct insn *in)
{
    return opnd_write(cpu, in, &in->op[0], cond_eval(cpu, in->cc)) != 0 ? STEP_FAULT : STEP_OK;
}

int op_bswap(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t v = gpr_read(cpu, d);
    if (d->size == 8)
        v = __builtin_bswap64(v);
    else if (d->size == 4)
        v = __builtin_bswap32((uint32_t)v);
    else
        v = 0; /* 16-bit BSWAP is undefined; AMD and Intel both clear the word */
    gpr_write(cpu, d, v);
    return STEP_OK;
}

/* CBW / CWDE / CDQE: sign-extend the lower half of the accumulator. */
int op_cbw(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->osize, half = size / 2;
    unsigned sh = 64 - half * 8;
    uint64_t v = (uint64_t)((int64_t)(cpu->gpr[0] << sh) >> sh);
    gpr_write_sized(cpu, 0, size, v);
    return STEP_OK;
}

/* CWD / CDQ / CQO: the accumulator's sign into DX/EDX/RDX. */
int op_cwd(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->osize;
    bool neg = (cpu->gpr[0] >> (size * 8 - 1)) & 1;
    gpr_write_sized(cpu, 2, size, neg ? ~0ull : 0);
    return STEP_OK;
}

#define LAHF_MASK (X86_RFLAGS_SF | X86_RFLAGS_ZF | X86_RFLAGS_AF | X86_RFLAGS_PF | X86_RFLAGS_CF)

int op_lahf(struct cpu *cpu, const struct insn *in)
{
    uint64_t f = (flags_get(cpu) & LAHF_MASK) | X86_RFLAGS_FIXED;
    cpu->gpr[0] = (cpu->gpr[0] & ~0xff00ull) | (f << 8);
    return STEP_OK;
}

int op_sahf(struct cpu *cpu, const struct insn *in)
{
    uint64_t f = flags_get(cpu) & ~LAHF_MASK;
    flags_set(cpu, f | ((cpu->gpr[0] >> 8) & LAHF_MASK));
    return STEP_OK;
}

static int set_flag(struct cpu *cpu, uint64_t bit, int how) /* 0 clear, 1 set, 2 toggle */
{
    uint64_t f = flags_get(cpu);
    f = how == 0 ? (f & ~bit) : how == 1 ? (f | bit) : (f ^ bit);
    flags_set(cpu, f);
    return STEP_OK;
}

int op_clc(struct cpu *cpu, const struct insn *in) { return set_flag(cpu, X86_RFLAGS_CF, 0); }
int op_stc(struct cpu *cpu, const struct insn *in) { return set_flag(cpu, X86_RFLAGS_CF, 1); }
int op_cmc(struct cpu *cpu, const struct insn *in) { return set_flag(cpu, X86_RFLAGS_CF, 2); }

int op_cld(struct cpu *cpu, const struct insn *in)
{
    cpu->rflags &= ~X86_RFLAGS_DF; /* DF is never lazy */
    return STEP_OK;
}

int op_std(struct cpu *cpu, const struct insn *in)
{
    cpu->rflags |= X86_RFLAGS_DF;
    return STEP_OK;
}

int op_nop(struct cpu *cpu, const struct insn *in)
{
    return STEP_OK;
}

int op_xadd(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0], *s = &in->op[1];
    uint64_t a, b;
    if (opnd_read(cpu, in, d, &a) != 0 || opnd_read(cpu, in, s, &b) != 0)
        return STEP_FAULT;
    uint64_t r = a + b;
    if (opnd_write(cpu, in, d, r) != 0)
        return STEP_FAULT;
    if (!(d->type == OPND_REG && d->reg == s->reg && d->hi8 == s->hi8))
        gpr_write(cpu, s, a);
    lf_set(cpu, LF_ADD, d->size, r, a, b);
    return STEP_OK;
}

int op_cmpxchg(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0], *s = &in->op[1];
    unsigned size = d->size;
    uint64_t cur, src, acc = cpu->gpr[0] & size_mask(size);
    if (opnd_read(cpu, in, d, &cur) != 0 || opnd_read(cpu, in, s, &src) != 0)
        return STEP_FAULT;
    bool eq = cur == acc;
    /* A memory destination is always written (with its own value on a
     * mismatch); a register destination only when equal, so a 32-bit one
     * keeps its upper half on a mismatch. */
    if ((eq || d->type == OPND_MEM) && opnd_write(cpu, in, d, eq ? src : cur) != 0)
        return STEP_FAULT;
    if (!eq)
        gpr_write_sized(cpu, 0, size, cur);
    lf_set(cpu, LF_SUB, size, acc - cur, acc, cur);
    return STEP_OK;
}

int op_cmpxchg8b(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t ea = opnd_ea(cpu, in, d), cur;
    if (vmem_read(cpu, d->seg, ea, 8, &cur) != 0)
        return STEP_FAULT;
    uint64_t cmp = (cpu->gpr[0] & 0xffffffffull) | (cpu->gpr[2] << 32);
    bool eq = cur == cmp;
    uint64_t nv = eq ? ((cpu->gpr[3] & 0xffffffffull) | (cpu->gpr[1] << 32)) : cur;
    if (vmem_write(cpu, d->seg, ea, 8, nv) != 0)
        return STEP_FAULT;
    uint64_t f = flags_get(cpu) & ~X86_RFLAGS_ZF;
    flags_set(cpu, f | (eq ? X86_RFLAGS_ZF : 0));
    if (!eq) {
        cpu->gpr[0] = (uint32_t)cur;
        cpu->gpr[2] = cur >> 32;
    }
    return STEP_OK;
}

int op_cmpxchg16b(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t ea = opnd_ea(cpu, in, d), lo, hi;
    if (ea & 15)
        return raise_gp(cpu, 0);
    if (vmem_read(cpu, d->seg, ea, 8, &lo) != 0 || vmem_read(cpu, d->seg, ea + 8, 8, &hi) != 0)
        return STEP_FAULT;
    bool eq = lo == cpu->gpr[0] && hi == cpu->gpr[2];
    uint64_t nlo = eq ? cpu->gpr[3] : lo, nhi = eq ? cpu->gpr[1] : hi;
    if (vmem_probe_write(cpu, d->seg, ea, 16) != 0)
        return STEP_FAULT;
    vmem_write(cpu, d->seg, ea, 8, nlo);
    vmem_write(cpu, d->seg, ea + 8, 8, nhi);
    uint64_t f = flags_get(cpu) & ~X86_RFLAGS_ZF;
    flags_set(cpu, f | (eq ? X86_RFLAGS_ZF : 0));
    if (!eq) {
        cpu->gpr[0] = lo;
        cpu->gpr[2] = hi;
    }
    return STEP_OK;
}

/* XLAT: AL = [seg:rBX + zero-extended AL] at the address size. */
int op_xlat(struct cpu *cpu, const struct insn *in)
{
    unsigned seg = SEG_DS;
    for (unsigned i = 0; i < 3; i++)
        if (in->op[i].type == OPND_MEM)
            seg = in->op[i].seg;
    uint64_t v, ea = (cpu->gpr[3] + (cpu->gpr[0] & 0xff)) & size_mask(in->asize);
    if (vmem_read(cpu, seg, ea, 1, &v) != 0)
        return STEP_FAULT;
    cpu->gpr[0] = (cpu->gpr[0] & ~0xffull) | v;
    return STEP_OK;
}
