/* ops_branch.c — control transfer: JMP/Jcc/CALL/RET/LOOP/JrCXZ, far JMP/
 * CALL/RET, IRET, INT n/INT3/INTO/INT1 and SYSCALL/SYSRET (APM vol. 2 §6). */
#include "cpu/ops.h"
#include "svmsim/arch/svm_exit.h"

/* A near branch target: canonical in 64-bit mode (else #GP(0) at the branch),
 * within CS's limit elsewhere. */
static int branch_to(struct cpu *cpu, uint64_t target)
{
    if (cpu->mode == CPU_MODE_LONG64) {
        if (!is_canonical(target))
            return raise_gp(cpu, 0);
    } else {
        target &= cpu->ip_mask;
        if (cpu->mode != CPU_MODE_REAL && target > cpu->seg[SEG_CS].limit)
            return raise_gp(cpu, 0);
    }
    cpu->next_rip = target;
    return STEP_OK;
}

static uint64_t branch_size_mask(const struct cpu *cpu, const struct insn *in)
{
    return cpu->mode == CPU_MODE_LONG64 ? ~0ull : size_mask(in->osize);
}

int op_jmp(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *o = &in->op[0];
    if (o->type == OPND_IMM)
        return branch_to(cpu, (cpu->next_rip + (uint64_t)o->val) & branch_size_mask(cpu, in));
    uint64_t t;
    if (opnd_read(cpu, in, o, &t) != 0)
        return STEP_FAULT;
    return branch_to(cpu, t);
}

int op_jcc(struct cpu *cpu, const struct insn *in)
{
    if (!cond_eval(cpu, in->cc))
        return STEP_OK;
    return branch_to(cpu, (cpu->next_rip + (uint64_t)in->op[0].val) & branch_size_mask(cpu, in));
}

/* 64-bit mode, target resolved and checked at decode time. */
int op_jmp_abs(struct cpu *cpu, const struct insn *in)
{
    cpu->next_rip = (uint64_t)in->op[0].val;
    return STEP_OK;
}

/* Jcc to a resolved target, one handler per condition: with the condition
 * a constant, each evaluates only the flags it reads. Like op_jmp_abs, it
 * ends its block and is not wrapped (insn_generic_last): it sets next_rip
 * either way. */
#define JCC_ABS(cc)                                                                        \
    static int op_jcc_abs_##cc(struct cpu *cpu, const struct insn *in)                     \
    {                                                                                      \
        cpu->next_rip = cond_eval(cpu, cc) ? (uint64_t)in->op[0].val : in->next;           \
        return STEP_OK;                                                                    \
    }
JCC_ABS(0) JCC_ABS(1) JCC_ABS(2) JCC_ABS(3) JCC_ABS(4) JCC_ABS(5) JCC_ABS(6) JCC_ABS(7)
JCC_ABS(8) JCC_ABS(9) JCC_ABS(10) JCC_ABS(11) JCC_ABS(12) JCC_ABS(13) JCC_ABS(14) JCC_ABS(15)

const insn_fn op_jcc_abs_by_cc[16] = {
    op_jcc_abs_0,  op_jcc_abs_1,  op_jcc_abs_2,  op_jcc_abs_3,  op_jcc_abs_4,  op_jcc_abs_5,
    op_jcc_abs_6,  op_jcc_abs_7,  op_jcc_abs_8,  op_jcc_abs_9,  op_jcc_abs_10, op_jcc_abs_11,
    op_jcc_abs_12, op_jcc_abs_13, op_jcc_abs_14, op_jcc_abs_15,
};

int op_call(struct cpu *cpu, const struct insn *in)
{
    const struct opnd *o = &in->op[0];
    unsigned size = cpu->mode == CPU_MODE_LONG64 ? 8 : in->osize;
    uint64_t t;
    if (o->type == OPND_IMM)
        t = (cpu->next_rip + (uint64_t)o->val) & branch_size_mask(cpu, in);
    else if (opnd_read(cpu, in, o, &t) != 0)
        return STEP_FAULT;
    uint64_t ret = cpu->next_rip, old_rsp = cpu->gpr[4];
    if (branch_to(cpu, t) != STEP_OK)
        return STEP_FAULT;
    if (stack_push(cpu, size, ret) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    return STEP_OK;
}

int op_ret(struct cpu *cpu, const struct insn *in)
{
    unsigned size = cpu->mode == CPU_MODE_LONG64 ? 8 : in->osize;
    uint64_t t, old_rsp = cpu->gpr[4];
    if (stack_pop(cpu, size, &t) != 0)
        return STEP_FAULT;
    if (branch_to(cpu, t) != STEP_OK) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    if (in->nops > 0 && in->op[0].type == OPND_IMM)
        cpu->gpr[4] += (uint64_t)in->op[0].val & 0xffff; /* FIXME: 16/32-bit stack wrap */
    return STEP_OK;
}

static int loop_common(struct cpu *cpu, const struct insn *in, int zf_cond)
{
    uint64_t m = size_mask(in->asize);
    uint64_t c = (cpu->gpr[1] - 1) & m;
    bool take = c != 0;
    if (zf_cond == 1)
        take = take && flag_zf(cpu);
    else if (zf_cond == 0)
        take = take && !flag_zf(cpu);
    if (take &&
        branch_to(cpu, (cpu->next_rip + (uint64_t)in->op[0].val) & branch_size_mask(cpu, in)))
        return STEP_FAULT; /* the count is only written once the branch can't fault */
    gpr_write_sized(cpu, 1, in->asize, c);
    return STEP_OK;
}

int op_loop(struct cpu *cpu, const struct insn *in) { return loop_common(cpu, in, -1); }
int op_loope(struct cpu *cpu, const struct insn *in) { return loop_common(cpu, in, 1); }
int op_loopne(struct cpu *cpu, const struct insn *in) { return loop_common(cpu, in, 0); }

int op_jrcxz(struct cpu *cpu, const struct insn *in)
{
    if ((cpu->gpr[1] & size_mask(in->asize)) != 0)
        return STEP_OK;
    return branch_to(cpu, (cpu->next_rip + (uint64_t)in->op[0].val) & branch_size_mask(cpu, in));
}

/* Reads a far pointer operand: ptr16:16/32 immediate, or m16:16/32/64. */
static int far_pointer(struct cpu *cpu, const struct insn *in, uint16_t *sel, uint64_t *off)
{
    const struct opnd *o = &in->op[0];
    if (o->type == OPND_PTR) {
        *sel = (uint16_t)((uint64_t)o->val >> 32);
        *off = (uint64_t)o->val & 0xffffffffull;
        return 0;
    }
    unsigned osz = in->osize;
    uint64_t ea = opnd_ea(cpu, in, o), s;
    if (vmem_read(cpu, o->seg, ea, osz, off) != 0 || vmem_read(cpu, o->seg, ea + osz, 2, &s) != 0)
        return -1;
    *sel = (uint16_t)s;
    return 0;
}

/* FIXME: far transfers through call gates and task gates are not modelled
 * (#GP with the selector). */
int op_jmp_far(struct cpu *cpu, const struct insn *in)
{
    uint16_t sel;
    uint64_t off;
    if (far_pointer(cpu, in, &sel, &off) != 0)
        return STEP_FAULT;
    struct seg old = cpu->seg[SEG_CS];
    if (seg_load_cs(cpu, sel, cpu->cpl) != STEP_OK)
        return STEP_FAULT;
    if (branch_to(cpu, off) != STEP_OK) {
        cpu->seg[SEG_CS] = old;
        cpu_update_mode(cpu);
        return STEP_FAULT;
    }
    return STEP_OK;
}

int op_call_far(struct cpu *cpu, const struct insn *in)
{
    uint16_t sel;
    uint64_t off;
    unsigned size = in->osize;
    if (far_pointer(cpu, in, &sel, &off) != 0)
        return STEP_FAULT;
    uint64_t old_rsp = cpu->gpr[4];
    struct seg old = cpu->seg[SEG_CS];
    if (stack_push(cpu, size, old.sel) != 0 || stack_push(cpu, size, cpu->next_rip) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    if (seg_load_cs(cpu, sel, cpu->cpl) != STEP_OK || branch_to(cpu, off) != STEP_OK) {
        cpu->seg[SEG_CS] = old;
        cpu->gpr[4] = old_rsp;
        cpu_update_mode(cpu);
        return STEP_FAULT;
    }
    return STEP_OK;
}

/* Invalidates data segment registers the new, less privileged CPL may not
 * use (APM vol. 2 §4.10 on RET/IRET to an outer level). */
static void null_inaccessible_segs(struct cpu *cpu)
{
    static const unsigned segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
    for (unsigned i = 0; i < 4; i++) {
        struct seg *s = &cpu->seg[segs[i]];
        unsigned dpl = (s->attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
        bool conforming_code = (s->attrib & 8) && (s->attrib & 4);
        if ((s->sel & ~3) != 0 && !conforming_code && dpl < cpu->cpl) {
            s->sel = 0;
            s->attrib = 0;
        }
    }
}

/* Return to CS:RIP (and SS:RSP when popped) with the far-return checks.
 * Undoes everything on failure. */
static int far_return(struct cpu *cpu, uint16_t cs, uint64_t rip, bool load_ss, uint16_t ss,
                      uint64_t rsp, uint64_t rflags, bool set_flags, unsigned osize)
{
    unsigned new_cpl = cs & 3;
    if (new_cpl < cpu->cpl)
        return raise_gp(cpu, cs & ~3u);
    struct cpu_snapshot {
        struct seg cs, ss;
        uint8_t cpl;
        uint64_t rsp, rflags;
    } old = { cpu->seg[SEG_CS], cpu->seg[SEG_SS], cpu->cpl, cpu->gpr[4], flags_get(cpu) };
    unsigned old_cpl = cpu->cpl;
    if (seg_load_cs(cpu, cs, new_cpl) != STEP_OK)
        goto undo;
    if (branch_to(cpu, rip) != STEP_OK)
        goto undo;
    if (load_ss) {
        if (seg_load(cpu, SEG_SS, ss) != STEP_OK)
            goto undo;
        cpu->gpr[4] = rsp;
    }
    if (set_flags) {
        /* privilege rules use the CPL the IRET executed at */
        cpu->cpl = (uint8_t)old_cpl;
        flags_load_checked(cpu, rflags, osize, true);
        cpu->cpl = (uint8_t)new_cpl;
    }
    if (new_cpl > old_cpl)
        null_inaccessible_segs(cpu);
    cpu_update_mode(cpu);
    return STEP_OK;
undo:
    cpu->seg[SEG_CS] = old.cs;
    cpu->seg[SEG_SS] = old.ss;
    cpu->cpl = old.cpl;
    cpu->gpr[4] = old.rsp;
    flags_set(cpu, old.rflags);
    cpu_update_mode(cpu);
    return STEP_FAULT;
}

int op_ret_far(struct cpu *cpu, const struct insn *in)
{
    unsigned size = in->osize;
    uint64_t rip, cs, rsp = 0, ss = 0;
    if (stack_peek(cpu, size, 0, &rip) != 0 || stack_peek(cpu, size, size, &cs) != 0)
        return STEP_FAULT;
    uint64_t imm = in->nops > 0 ? ((uint64_t)in->op[0].val & 0xffff) : 0;
    bool outer = (cs & 3) > cpu->cpl;
    if (outer && (stack_peek(cpu, size, 2 * size + imm, &rsp) != 0 ||
                  stack_peek(cpu, size, 3 * size + imm, &ss) != 0))
        return STEP_FAULT;
    uint64_t old_rsp = cpu->gpr[4];
    cpu->gpr[4] += 2 * size + imm;
    if (far_return(cpu, (uint16_t)cs, rip, outer, (uint16_t)ss, rsp + imm, 0, false, size) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    return STEP_OK;
}

int op_iret(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_IRET))
        return svm_vmexit(cpu, SVM_EXIT_IRET, 0, 0);
    if (cpu->mode == CPU_MODE_REAL) {
        /* IP, CS and FLAGS (EIP, CS, EFLAGS with an operand-size prefix);
         * CS keeps its cached limit and attributes. */
        unsigned size = in->osize;
        uint64_t ip, cs, fl;
        if (stack_peek(cpu, size, 0, &ip) != 0 || stack_peek(cpu, size, size, &cs) != 0 ||
            stack_peek(cpu, size, 2 * size, &fl) != 0)
            return STEP_FAULT;
        if (ip > cpu->seg[SEG_CS].limit)
            return raise_gp(cpu, 0);
        for (unsigned i = 0; i < 3; i++)
            stack_pop(cpu, size, &(uint64_t){ 0 }); /* read above: cannot fault */
        seg_load_cs(cpu, (uint16_t)cs, 0); /* real mode: cannot fault */
        flags_load_checked(cpu, fl, size, true);
        cpu->next_rip = ip;
        return STEP_OK;
    }
    if (flags_get(cpu) & X86_RFLAGS_NT)
        return raise_gp(cpu, 0); /* task return: not modelled in long mode (#GP) */
    unsigned size = in->osize;
    uint64_t rip, cs, rflags, rsp = 0, ss = 0;
    if (stack_peek(cpu, size, 0, &rip) != 0 || stack_peek(cpu, size, size, &cs) != 0 ||
        stack_peek(cpu, size, 2 * size, &rflags) != 0)
        return STEP_FAULT;
    /* In 64-bit mode IRET always pops SS:RSP; elsewhere only on a privilege change. */
    bool pop_ss = cpu->mode == CPU_MODE_LONG64 || (cs & 3) > cpu->cpl;
    if (pop_ss && (stack_peek(cpu, size, 3 * size, &rsp) != 0 ||
                   stack_peek(cpu, size, 4 * size, &ss) != 0))
        return STEP_FAULT;
    uint64_t old_rsp = cpu->gpr[4];
    cpu->gpr[4] += (pop_ss ? 5 : 3) * size;
    if (far_return(cpu, (uint16_t)cs, rip, pop_ss, (uint16_t)ss, rsp, rflags, true, size) != 0) {
        cpu->gpr[4] = old_rsp;
        return STEP_FAULT;
    }
    return STEP_OK;
}

/* The event handlers below need cpu->rip at the instruction (the block loop
 * sets it only when it leaves a block): an intercept reports it and a fault
 * during delivery returns to it. */
int op_int(struct cpu *cpu, const struct insn *in)
{
    unsigned vector = (unsigned)in->op[0].val & 0xff;
    cpu->rip = in->rip;
    if (svm_intercepted(cpu, SVM_EXIT_SWINT))
        return svm_vmexit(cpu, SVM_EXIT_SWINT, 0, 0);
    int r = event_deliver(cpu, EV_SOFT_INT, vector, false, 0, cpu->next_rip);
    if (r == STEP_OK)
        cpu->next_rip = cpu->rip;
    return r;
}

static int soft_exception(struct cpu *cpu, const struct insn *in, unsigned vector)
{
    cpu->rip = in->rip;
    int r = event_deliver(cpu, EV_SOFT_EXC, vector, false, 0, cpu->next_rip);
    if (r == STEP_OK)
        cpu->next_rip = cpu->rip;
    return r;
}

int op_int3(struct cpu *cpu, const struct insn *in) { return soft_exception(cpu, in, X86_VEC_BP); }

int op_into(struct cpu *cpu, const struct insn *in)
{
    if (!flag_of(cpu))
        return STEP_OK;
    return soft_exception(cpu, in, X86_VEC_OF);
}

int op_int1(struct cpu *cpu, const struct insn *in)
{
    cpu->rip = in->rip;
    if (svm_intercepted(cpu, SVM_EXIT_ICEBP))
        return svm_vmexit(cpu, SVM_EXIT_ICEBP, 0, 0);
    int r = event_deliver(cpu, EV_EXCEPTION, X86_VEC_DB, false, 0, cpu->next_rip);
    if (r == STEP_OK)
        cpu->next_rip = cpu->rip;
    return r;
}

#define FLAT_ATTR(dpl, type, l, db) \
    (uint16_t)((type) | VMCB_ATTR_S | ((dpl) << VMCB_ATTR_DPL_SHIFT) | VMCB_ATTR_P | \
               ((l) ? VMCB_ATTR_L : 0) | ((db) ? VMCB_ATTR_DB : 0) | VMCB_ATTR_G)

static void seg_flat(struct seg *s, uint16_t sel, uint16_t attrib)
{
    s->sel = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->attrib = attrib;
}

/* SYSCALL in long mode (APM vol. 3 "SYSCALL"). Legacy-mode SYSCALL is not
 * modelled (FIXME). */
int op_syscall(struct cpu *cpu, const struct insn *in)
{
    if (!(cpu->efer & X86_EFER_SCE) || !(cpu->efer & X86_EFER_LMA))
        return raise_ud(cpu);
    uint16_t sel = (uint16_t)(cpu->star >> 32) & 0xfffc;
    uint64_t rflags = flags_get(cpu);
    cpu->gpr[1] = cpu->next_rip;
    cpu->gpr[11] = rflags & ~X86_RFLAGS_RF;
    seg_flat(&cpu->seg[SEG_CS], sel, FLAT_ATTR(0, 0xb, 1, 0));
    seg_flat(&cpu->seg[SEG_SS], (uint16_t)(sel + 8), FLAT_ATTR(0, 0x3, 0, 1));
    cpu->cpl = 0;
    flags_set(cpu, rflags & ~cpu->sfmask & ~X86_RFLAGS_RF);
    /* SYSCALL and SYSRET are single-stepped by TF as they leave it: a mask
     * that clears TF means no trap (KVM's emulator sets ctxt->tf from the
     * new flags; kvm-unit-tests' syscall test). */
    cpu->step_tf = cpu->rflags & X86_RFLAGS_TF;
    cpu->next_rip = cpu->mode == CPU_MODE_LONG64 ? cpu->lstar : cpu->cstar;
    cpu_update_mode(cpu);
    return STEP_OK;
}

int op_sysret(struct cpu *cpu, const struct insn *in)
{
    if (!(cpu->efer & X86_EFER_SCE) || !(cpu->efer & X86_EFER_LMA))
        return raise_ud(cpu);
    if (cpu->cpl != 0)
        return raise_gp(cpu, 0);
    uint16_t base = (uint16_t)(cpu->star >> 48);
    bool to64 = in->osize == 8;
    /* AMD does not check RCX: a non-canonical one faults at the next fetch,
     * at CPL 3 (unlike Intel's #GP at CPL 0). */
    uint64_t rip = to64 ? cpu->gpr[1] : (uint32_t)cpu->gpr[1];
    if (to64)
        seg_flat(&cpu->seg[SEG_CS], (uint16_t)((base + 16) | 3), FLAT_ATTR(3, 0xb, 1, 0));
    else
        seg_flat(&cpu->seg[SEG_CS], (uint16_t)(base | 3), FLAT_ATTR(3, 0xb, 0, 1));
    /* AMD: SYSRET loads the SS selector but leaves its cached attributes
     * except DPL (APM vol. 3 "SYSRET"). */
    struct seg *ss = &cpu->seg[SEG_SS];
    ss->sel = (uint16_t)((base + 8) | 3);
    ss->attrib = (uint16_t)((ss->attrib & ~VMCB_ATTR_DPL_MASK) | (3 << VMCB_ATTR_DPL_SHIFT));
    cpu->cpl = 3;
    flags_set(cpu, (cpu->gpr[11] & 0x3c7fd7ull & ~X86_RFLAGS_RF) | X86_RFLAGS_FIXED);
    /* Single-stepped by the TF it loads, as SYSCALL by the TF it leaves:
     * a SYSRET that sets TF traps after itself, however it ran. */
    cpu->step_tf = cpu->rflags & X86_RFLAGS_TF;
    cpu->db_trap = cpu->step_tf;
    cpu->next_rip = rip;
    cpu_update_mode(cpu);
    return STEP_OK;
}
