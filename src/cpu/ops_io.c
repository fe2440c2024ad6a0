/* ops_io.c — port I/O: IN, OUT, INS, OUTS.
 *
 * Owns: the I/O permission check (CPL > IOPL: the TSS I/O bitmap, APM vol. 2
 * §13.3) which comes before the IOIO intercept, then the intercept itself.
 * The hardware has no devices of its own: an access no VMCB intercepts reads
 * all ones and writes nowhere.
 */
#include "cpu/ops.h"

int io_permission_tss(struct cpu *cpu, uint16_t port, unsigned size)
{
    /* A usable 32/64-bit TSS with room for the bitmap offset at +0x66. */
    unsigned type = cpu->tr.attrib & VMCB_ATTR_TYPE_MASK;
    if (!(cpu->tr.attrib & VMCB_ATTR_P) || (type != 0x9 && type != 0xb) || cpu->tr.limit < 0x67)
        return raise_gp(cpu, 0);
    uint64_t base_off;
    if (la_read(cpu, cpu->tr.base + 0x66, 2, false, &base_off) != 0)
        return STEP_FAULT;
    uint64_t off = base_off + port / 8;
    if (off + 1 > cpu->tr.limit)
        return raise_gp(cpu, 0);
    uint64_t bits;
    if (la_read(cpu, cpu->tr.base + off, 2, false, &bits) != 0)
        return STEP_FAULT;
    unsigned mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask)
        return raise_gp(cpu, 0);
    return STEP_OK;
}

static uint16_t io_port(const struct cpu *cpu, const struct opnd *o)
{
    return o->type == OPND_IMM ? (uint16_t)(o->val & 0xff) : (uint16_t)cpu->gpr[2];
}

int op_in(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *dst = &in->op[0];
    uint16_t port = io_port(cpu, &in->op[1]);
    unsigned size = dst->size;
    if (io_permission(cpu, port, size) != STEP_OK)
        return STEP_FAULT;
    int r = svm_check_io(cpu, in, port, size, true, false, false, SEG_DS);
    if (r != STEP_OK)
        return r;
    gpr_write(cpu, dst, ~0ull);
    return STEP_OK;
}

int op_out(struct cpu *cpu, const struct insn *in)
{
    uint16_t port = io_port(cpu, &in->op[0]);
    unsigned size = in->op[1].size;
    if (io_permission(cpu, port, size) != STEP_OK)
        return STEP_FAULT;
    return svm_check_io(cpu, in, port, size, false, false, false, SEG_DS);
}

static unsigned str_elem_size(const struct insn *in)
{
    for (unsigned i = 0; i < 3; i++)
        if (in->op[i].type == OPND_MEM)
            return in->op[i].size;
    return in->osize;
}

static void str_step(struct cpu *cpu, const struct insn *in, unsigned reg, unsigned size)
{
    uint64_t d = (cpu->rflags & X86_RFLAGS_DF) ? (uint64_t)-(int64_t)size : size;
    gpr_write_sized(cpu, reg, in->asize, cpu->gpr[reg] + d);
}

int op_ins(struct cpu *cpu, const struct insn *in)
{
    unsigned size = str_elem_size(in);
    uint16_t port = (uint16_t)cpu->gpr[2];
    bool rep = in->prefix & (INSN_REP | INSN_REPNE);
    if (io_permission(cpu, port, size) != STEP_OK)
        return STEP_FAULT;
    int r = svm_check_io(cpu, in, port, size, true, true, rep, SEG_ES);
    if (r != STEP_OK)
        return r;
    if (rep && (cpu->gpr[1] & size_mask(in->asize)) == 0)
        return STEP_OK;
    /* No device answers at the hardware level: store all ones. */
    do {
        uint64_t di = cpu->gpr[7] & size_mask(in->asize);
        if (vmem_write(cpu, SEG_ES, di, size, ~0ull) != 0)
            return STEP_FAULT;
        str_step(cpu, in, 7, size);
        if (rep)
            gpr_write_sized(cpu, 1, in->asize, cpu->gpr[1] - 1);
    } while (rep && (cpu->gpr[1] & size_mask(in->asize)) != 0);
    return STEP_OK;
}

int op_outs(struct cpu *cpu, const struct insn *in)
{
    unsigned size = str_elem_size(in);
    uint16_t port = (uint16_t)cpu->gpr[2];
    bool rep = in->prefix & (INSN_REP | INSN_REPNE);
    unsigned seg = SEG_DS;
    for (unsigned i = 0; i < 3; i++)
        if (in->op[i].type == OPND_MEM && in->op[i].reg == 6)
            seg = in->op[i].seg; /* DS:rSI, or its override */
    if (io_permission(cpu, port, size) != STEP_OK)
        return STEP_FAULT;
    int r = svm_check_io(cpu, in, port, size, false, true, rep, seg);
    if (r != STEP_OK)
        return r;
    if (rep && (cpu->gpr[1] & size_mask(in->asize)) == 0)
        return STEP_OK;
    do {
        uint64_t v, si = cpu->gpr[6] & size_mask(in->asize);
        if (vmem_read(cpu, seg, si, size, &v) != 0)
            return STEP_FAULT;
        str_step(cpu, in, 6, size);
        if (rep)
            gpr_write_sized(cpu, 1, in->asize, cpu->gpr[1] - 1);
    } while (rep && (cpu->gpr[1] & size_mask(in->asize)) != 0);
    return STEP_OK;
}
