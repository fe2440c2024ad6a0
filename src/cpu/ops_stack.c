/* ops_stack.c — PUSH/POP (general, immediate, memory, segment), PUSHF/POPF
 * with the IOPL/IF privilege rules, ENTER and LEAVE. */
#include "cpu/ops.h"
#include "svmsim/arch/svm_exit.h"

/* Operand size of an implicit-stack instruction: 64-bit mode pushes 8 bytes
 * unless a 66h prefix asks for 2. */
static unsigned push_size(const struct cpu *cpu, const struct insn *in)
{
    return in->osize;
}

int op_push(struct cpu *cpu, const struct insn *in)
{
    uint64_t v;
    if (opnd_read(cpu, in, &in->op[0], &v) != 0)
        return STEP_FAULT;
    if (in->op[0].type == OPND_IMM)
        v = (uint64_t)in->op[0].val;
    return stack_push(cpu, push_size(cpu, in), v) != 0 ? STEP_FAULT : STEP_OK;
}

int op_pop(struct cpu *cpu, const struct insn *in)
{
    unsigned size = push_size(cpu, in);
    uint64_t v, old_rsp = cpu->gpr[4];
    if (stack_pop(cpu, size, &v) != 0)
        return STEP_FAULT;
    /* POP to memory computes the address with the incremented RSP. */
    if (opnd_write(cpu, in, &in->op[0], v) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    return STEP_OK;
}

int op_push_seg(struct cpu *cpu, const struct insn *in)
{
    return stack_push(cpu, push_size(cpu, in), cpu->seg[in->op[0].sreg].sel) != 0 ? STEP_FAULT
                                                                                  : STEP_OK;
}

int op_pop_seg(struct cpu *cpu, const struct insn *in)
{
    unsigned size = push_size(cpu, in), seg = in->op[0].sreg;
    uint64_t v, old_rsp = cpu->gpr[4];
    if (stack_pop(cpu, size, &v) != 0)
        return STEP_FAULT;
    if (seg_load(cpu, seg, (uint16_t)v) != STEP_OK) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    if (seg == SEG_SS) {
        cpu->int_shadow = true;
        cpu_update_mode(cpu);
    }
    return STEP_OK;
}

int op_pushf(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_PUSHF))
        return svm_vmexit(cpu, SVM_EXIT_PUSHF, 0, 0);
    /* VM and RF are cleared in the pushed image. */
    uint64_t f = flags_get(cpu) & ~(X86_RFLAGS_VM | X86_RFLAGS_RF);
    return stack_push(cpu, push_size(cpu, in), f) != 0 ? STEP_FAULT : STEP_OK;
}

void flags_load_checked(struct cpu *cpu, uint64_t v, unsigned size, bool iret)
{
    uint64_t cur = flags_get(cpu);
    uint64_t changeable = X86_RFLAGS_ARITH | X86_RFLAGS_TF | X86_RFLAGS_DF | X86_RFLAGS_NT |
                          X86_RFLAGS_AC | X86_RFLAGS_ID;
    unsigned iopl = (cur & X86_RFLAGS_IOPL) >> X86_RFLAGS_IOPL_SHIFT;
    if (cpu->cpl == 0)
        changeable |= X86_RFLAGS_IOPL | X86_RFLAGS_IF;
    else if (cpu->cpl <= iopl)
        changeable |= X86_RFLAGS_IF;
    if (iret)
        changeable |= X86_RFLAGS_RF | (cpu->cpl == 0 ? X86_RFLAGS_VIF | X86_RFLAGS_VIP : 0);
    if (size == 2)
        changeable &= 0xffff;
    flags_set(cpu, (cur & ~changeable) | (v & changeable));
    cpu_update_mode(cpu); /* TF may have changed */
}

int op_popf(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_POPF))
        return svm_vmexit(cpu, SVM_EXIT_POPF, 0, 0);
    unsigned size = push_size(cpu, in);
    uint64_t v;
    if (stack_pop(cpu, size, &v) != 0)
        return STEP_FAULT;
    flags_load_checked(cpu, v, size, false);
    return STEP_OK;
}

int op_enter(struct cpu *cpu, const struct insn *in)
{
    unsigned size = push_size(cpu, in);
    uint64_t alloc = (uint64_t)in->op[0].val & 0xffff;
    unsigned level = (unsigned)in->op[1].val & 31;
    uint64_t old_rsp = cpu->gpr[4], old_rbp = cpu->gpr[5];
    if (stack_push(cpu, size, old_rbp) != 0)
        return STEP_FAULT;
    uint64_t frame = cpu->gpr[4];
    for (unsigned i = 1; i < level; i++) {
        uint64_t v;
        if (stack_peek(cpu, size, 0, &v) != 0)
            goto fail;
        uint64_t saved_rsp = cpu->gpr[4];
        cpu->gpr[4] = old_rbp - i * size;
        int r = stack_peek(cpu, size, 0, &v);
        cpu->gpr[4] = saved_rsp;
        if (r != 0 || stack_push(cpu, size, v) != 0)
            goto fail;
    }
    if (level > 0 && stack_push(cpu, size, frame) != 0)
        goto fail;
    uint64_t new_rsp = cpu->gpr[4] - alloc;
    /* The new stack top must be writable (ENTER checks it before committing). */
    if (vmem_probe_write(cpu, SEG_SS, new_rsp & size_mask(stack_size(cpu)), 1) != 0)
        goto fail;
    gpr_write_sized(cpu, 5, stack_size(cpu), frame);
    gpr_write_sized(cpu, 4, stack_size(cpu), new_rsp);
    return STEP_OK;
fail:
    cpu->gpr[4] = old_rsp;
    return STEP_FAULT;
}

int op_leave(struct cpu *cpu, const struct insn *in)
{
    unsigned size = push_size(cpu, in);
    uint64_t old_rsp = cpu->gpr[4], v;
    gpr_write_sized(cpu, 4, stack_size(cpu), cpu->gpr[5]);
    if (stack_pop(cpu, size, &v) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    gpr_write_sized(cpu, 5, size, v);
    return STEP_OK;
}

/* PUSHA/PUSHAD (outside 64-bit mode; Zydis decodes 60h as invalid there):
 * eAX eCX eDX eBX, the original eSP, eBP eSI eDI. */
int op_pusha(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->osize;
    uint64_t old_rsp = cpu->gpr[4];
    for (unsigned r = 0; r < 8; r++) {
        if (stack_push(cpu, size, r == 4 ? old_rsp : cpu->gpr[r]) != 0) {
            cpu->gpr[4] = old_rsp;
            return STEP_FAULT;
        }
    }
    return STEP_OK;
}

int op_popa(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->osize;
    uint64_t v[8];
    for (unsigned i = 0; i < 8; i++)
        if (stack_peek(cpu, size, i * size, &v[i]) != 0)
            return STEP_FAULT;
    /* v[0] is eDI ... v[7] is eAX; the saved eSP (v[3]) is skipped. */
    for (unsigned i = 0; i < 8; i++)
        if (i != 3)
            gpr_write_sized(cpu, 7 - i, size, v[i]);
    gpr_write_sized(cpu, 4, stack_size(cpu), cpu->gpr[4] + 8 * size);
    return STEP_OK;
}
