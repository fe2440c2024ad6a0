/* ops_alu.c — two-operand arithmetic and logic (ADD ADC SUB SBB AND OR XOR
 * CMP TEST) and the one-operand INC DEC NEG NOT. Flags are left lazy. */
#include "cpu/ops.h"

enum alu { ALU_ADD, ALU_ADC, ALU_SUB, ALU_SBB, ALU_AND, ALU_OR, ALU_XOR, ALU_CMP, ALU_TEST };

static inline int alu2(struct cpu *cpu, const struct insn *in, enum alu kind)
{
    const struct opnd *d = &in->op[0];
    unsigned size = d->size;
    uint64_t a, b, r;
    if (opnd_read(cpu, in, d, &a) != 0 || opnd_read(cpu, in, &in->op[1], &b) != 0)
        return STEP_FAULT;
    b &= size_mask(size);
    bool cin;
    switch (kind) {
    case ALU_ADD:
        r = a + b;
        break;
    case ALU_ADC:
        cin = flag_cf(cpu);
        r = a + b + cin;
        break;
    case ALU_SUB:
    case ALU_CMP:
        r = a - b;
        break;
    case ALU_SBB:
        cin = flag_cf(cpu);
        r = a - b - cin;
        break;
    case ALU_AND:
    case ALU_TEST:
        r = a & b;
        break;
    case ALU_OR:
        r = a | b;
        break;
    default:
        r = a ^ b;
        break;
    }
    if (kind != ALU_CMP && kind != ALU_TEST && opnd_write(cpu, in, d, r) != 0)
        return STEP_FAULT;
    switch (kind) {
    case ALU_ADD: lf_set(cpu, LF_ADD, size, r, a, b); break;
    case ALU_ADC: lf_set(cpu, cin ? LF_ADC : LF_ADD, size, r, a, b); break;
    case ALU_SUB: case ALU_CMP: lf_set(cpu, LF_SUB, size, r, a, b); break;
    case ALU_SBB: lf_set(cpu, cin ? LF_SBB : LF_SUB, size, r, a, b); break;
    default: lf_set(cpu, LF_LOGIC, size, r, 0, 0); break;
    }
    return STEP_OK;
}

int op_add(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_ADD); }
int op_adc(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_ADC); }
int op_sub(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_SUB); }
int op_sbb(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_SBB); }
int op_and(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_AND); }
int op_or(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_OR); }
int op_xor(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_XOR); }
int op_cmp(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_CMP); }
int op_test(struct cpu *cpu, const struct insn *in) { return alu2(cpu, in, ALU_TEST); }

int op_inc(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t a;
    if (d->type == OPND_REG) {
        a = gpr_read(cpu, d);
        gpr_write(cpu, d, a + 1);
    } else if (opnd_read(cpu, in, d, &a) != 0 || opnd_write(cpu, in, d, a + 1) != 0) {
        return STEP_FAULT;
    }
    lf_set_incdec(cpu, LF_INC, d->size, a + 1, a);
    return STEP_OK;
}

int op_dec(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t a;
    if (d->type == OPND_REG) {
        a = gpr_read(cpu, d);
        gpr_write(cpu, d, a - 1);
    } else if (opnd_read(cpu, in, d, &a) != 0 || opnd_write(cpu, in, d, a - 1) != 0) {
        return STEP_FAULT;
    }
    lf_set_incdec(cpu, LF_DEC, d->size, a - 1, a);
    return STEP_OK;
}

int op_neg(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t a;
    if (opnd_read(cpu, in, d, &a) != 0 || opnd_write(cpu, in, d, 0 - a) != 0)
        return STEP_FAULT;
    lf_set(cpu, LF_SUB, d->size, 0 - a, 0, a);
    return STEP_OK;
}

int op_not(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *d = &in->op[0];
    uint64_t a;
    if (opnd_read(cpu, in, d, &a) != 0 || opnd_write(cpu, in, d, ~a) != 0)
        return STEP_FAULT;
    return STEP_OK;
}
