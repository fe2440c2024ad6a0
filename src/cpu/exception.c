/* exception.c — delivering exceptions and interrupts (APM vol. 2 §8).
 *
 * Owns: the exception-intercept check (a hit becomes #VMEXIT 0x40+vector,
 * with EXITINTINFO naming an event whose delivery was interrupted), the
 * 64-bit IDT walk (gate checks, privilege/IST stack switch, the frame),
 * the legacy IDT's interrupt and trap gates and real mode's vector table,
 * the
 * double-fault rules and triple fault -> SHUTDOWN, and taking interrupts
 * at instruction boundaries (the INTR line, the VMCB's virtual interrupt).
 * Must not: decide what a hypervisor does with an exit.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"
#include "svm/svm.h"
#include "svmsim/arch/svm_exit.h"


struct event {
    enum event_kind kind;
    unsigned vector;
    bool has_error;
    uint32_t error;
    uint64_t return_rip;
    uint64_t cr2;
};

static uint32_t event_int_info(const struct event *ev)
{
    uint32_t type;
    switch (ev->kind) {
    case EV_SOFT_INT: type = SVM_EVTINJ_TYPE_SOFT; break;
    case EV_EXT_INT: type = SVM_EVTINJ_TYPE_INTR; break;
    case EV_NMI: type = SVM_EVTINJ_TYPE_NMI; break;
    default: type = SVM_EVTINJ_TYPE_EXEPT; break;
    }
    return SVM_EVTINJ_VALID | type | ev->vector | (ev->has_error ? SVM_EVTINJ_VALID_ERR : 0);
}

static int read_sys_u64(struct cpu *cpu, uint64_t la, uint64_t *v)
{
    return la_read(cpu, la, 8, false, v);
}

/* The last branch before the event is kept; the event is the last branch
 * (APM vol. 2 §13.1.1.3). */
static void event_branch(struct cpu *cpu, uint64_t target)
{
    if (cpu->dbgctl & X86_DEBUGCTL_LBR) {
        cpu->excp_from = cpu->br_from;
        cpu->excp_to = cpu->br_to;
        cpu->br_from = cpu->rip;
        cpu->br_to = target;
    }
}

/* The code segment a gate names: not null, present, code, DPL at most the
 * CPL, and in long mode a 64-bit one. Returns 0 with *cs and the handler's
 * CPL (a conforming segment keeps the CPL), or -1 with the fault. */
static int gate_code_segment(struct cpu *cpu, uint16_t sel, bool long_mode, struct seg *cs,
                             unsigned *new_cpl)
{
    if ((sel & ~3) == 0)
        return raise_gp(cpu, 0), -1;
    if (desc_load(cpu, sel, cs, NULL) != STEP_OK)
        return -1;
    unsigned cdpl = (cs->attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
    bool is_code = (cs->attrib & VMCB_ATTR_S) && (cs->attrib & 8);
    bool not_64 = long_mode && (!(cs->attrib & VMCB_ATTR_L) || (cs->attrib & VMCB_ATTR_DB));
    if (!is_code || not_64 || cdpl > cpu->cpl)
        return raise_gp(cpu, sel & ~3u), -1;
    if (!(cs->attrib & VMCB_ATTR_P))
        return raise_exc_err(cpu, X86_VEC_NP, sel & ~3u), -1;
    *new_cpl = cs->attrib & 4 ? cpu->cpl : cdpl;
    return 0;
}

/* The checks on a gate's descriptor (low quadword lo) after its type's:
 * INT n, INT3 or INTO through a gate whose DPL is below the CPL is #GP,
 * a gate not present #NP, both with the IDT error code idt_err. Returns
 * 0, or -1 with the fault. */
static int gate_checks(struct cpu *cpu, const struct event *ev, uint64_t lo, uint32_t idt_err)
{
    unsigned dpl = (lo >> 45) & 3;
    if ((ev->kind == EV_SOFT_INT || ev->kind == EV_SOFT_EXC) && dpl < cpu->cpl)
        return raise_gp(cpu, idt_err), -1;
    if (!(lo & (1ull << 47)))
        return raise_exc_err(cpu, X86_VEC_NP, idt_err), -1;
    return 0;
}

/* Into the handler a gate names, once its frame is written: CS (the
 * gate's selector sel with the new CPL as RPL), the CPL, RFLAGS with TF,
 * NT, RF and VM cleared (and IF, through an interrupt gate), RIP =
 * target, and the branch to linear address la recorded (LBR). */
static void gate_commit(struct cpu *cpu, struct seg cs, uint16_t sel, unsigned new_cpl,
                        uint64_t rflags, bool interrupt_gate, uint64_t target, uint64_t la)
{
    event_branch(cpu, la);
    cs.sel = (uint16_t)((sel & ~3u) | new_cpl);
    cpu->seg[SEG_CS] = cs;
    cpu->cpl = (uint8_t)new_cpl;
    rflags &= ~(X86_RFLAGS_TF | X86_RFLAGS_NT | X86_RFLAGS_RF | X86_RFLAGS_VM);
    if (interrupt_gate)
        rflags &= ~X86_RFLAGS_IF;
    flags_set(cpu, rflags);
    cpu->rip = target;
    cpu->int_shadow = false;
    cpu_update_mode(cpu);
}

/* One attempt to enter the handler for ev through the 64-bit IDT. Returns 0,
 * or -1 with the nested exception in cpu->exc. */
static int idt_enter_long(struct cpu *cpu, const struct event *ev)
{
    uint32_t idt_err = ev->vector * 8 + X86_ERR_IDT;
    if ((uint64_t)ev->vector * 16 + 15 > cpu->idtr.limit)
        return raise_gp(cpu, idt_err), -1;
    uint64_t lo, hi;
    if (read_sys_u64(cpu, cpu->idtr.base + ev->vector * 16, &lo) != 0 ||
        read_sys_u64(cpu, cpu->idtr.base + ev->vector * 16 + 8, &hi) != 0)
        return -1;
    unsigned type = (lo >> 40) & 0xf, ist = (lo >> 32) & 7;
    if (type != 0xe && type != 0xf)
        return raise_gp(cpu, idt_err), -1;
    if (gate_checks(cpu, ev, lo, idt_err) != 0)
        return -1;
    uint16_t sel = (uint16_t)(lo >> 16);
    uint64_t target = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull) | (hi << 32);

    struct seg cs;
    unsigned new_cpl;
    if (gate_code_segment(cpu, sel, true, &cs, &new_cpl) != 0)
        return -1;

    uint64_t rsp = cpu->gpr[4];
    uint16_t new_ss = cpu->seg[SEG_SS].sel;
    bool stack_switch = new_cpl < cpu->cpl;
    if (ist || stack_switch) {
        uint64_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
        if (off + 7 > cpu->tr.limit)
            return raise_exc_err(cpu, X86_VEC_TS, cpu->tr.sel & ~3u), -1;
        if (read_sys_u64(cpu, cpu->tr.base + off, &rsp) != 0)
            return -1;
        if (!is_canonical(rsp))
            return raise_exc_err(cpu, X86_VEC_SS, 0), -1;
    }
    if (stack_switch)
        new_ss = (uint16_t)new_cpl; /* null selector with RPL = new CPL */
    if (!is_canonical(rsp))
        return raise_exc_err(cpu, X86_VEC_SS, 0), -1;
    rsp &= ~0xfull;

    uint64_t rflags = flags_get(cpu);
    uint64_t frame[6];
    unsigned n = 0;
    if (ev->has_error)
        frame[n++] = ev->error;
    frame[n++] = ev->return_rip;
    frame[n++] = cpu->seg[SEG_CS].sel;
    frame[n++] = rflags;
    frame[n++] = cpu->gpr[4];
    frame[n++] = cpu->seg[SEG_SS].sel;
    /* Write the frame from the lowest address up; any fault leaves the
     * registers untouched. The writes are supervisor accesses. */
    uint64_t sp = rsp - 8 * n;
    for (unsigned i = 0; i < n; i++)
        if (la_write(cpu, sp + 8 * i, 8, new_cpl == 3, frame[i]) != 0) {
            if (cpu->exc.vector == X86_VEC_PF)
                return -1;
            return raise_exc_err(cpu, X86_VEC_SS, 0), -1;
        }

    /* Commit. */
    if (stack_switch) {
        struct seg *ss = &cpu->seg[SEG_SS];
        ss->sel = new_ss;
        ss->base = 0;
        ss->limit = 0xffffffff;
        ss->attrib = (uint16_t)(VMCB_ATTR_P | VMCB_ATTR_S | 3 | (new_cpl << VMCB_ATTR_DPL_SHIFT));
    }
    cpu->gpr[4] = sp;
    gate_commit(cpu, cs, sel, new_cpl, rflags, type == 0xe, target, target);
    return 0;
}

/* Pushes frame[0..n-1] (frame[0] first, at the highest address) of size
 * bytes each on the current stack; on a fault RSP is as it was. */
static int push_frame(struct cpu *cpu, const uint64_t *frame, unsigned n, unsigned size)
{
    uint64_t rsp = cpu->gpr[4];
    for (unsigned i = 0; i < n; i++)
        if (stack_push(cpu, size, frame[i]) != 0) {
            cpu->gpr[4] = rsp;
            if (cpu->exc.vector == X86_VEC_GP)
                cpu->exc.vector = X86_VEC_SS; /* beyond the stack's limit */
            return -1;
        }
    return 0;
}

/* Real mode (APM vol. 2 §8.9.3): the interrupt vector table at IDTR.base,
 * four bytes an entry (offset, segment); FLAGS, CS and IP pushed as 16-bit
 * words (no error code), IF, TF, AC and RF cleared. */
static int ivt_enter(struct cpu *cpu, const struct event *ev)
{
    uint64_t ent = (uint64_t)ev->vector * 4, v;
    if (ent + 3 > cpu->idtr.limit)
        return raise_gp(cpu, ev->vector * 8 + X86_ERR_IDT), -1;
    if (la_read(cpu, cpu->idtr.base + ent, 4, false, &v) != 0)
        return -1;
    uint64_t rflags = flags_get(cpu);
    const uint64_t frame[3] = { rflags & 0xffff, cpu->seg[SEG_CS].sel, ev->return_rip & 0xffff };
    if (push_frame(cpu, frame, 3, 2) != 0)
        return -1;
    uint64_t target = v & 0xffff;
    event_branch(cpu, ((v >> 16) << 4) + target);
    flags_set(cpu, rflags & ~(X86_RFLAGS_IF | X86_RFLAGS_TF | X86_RFLAGS_AC | X86_RFLAGS_RF));
    cpu->rip = target;
    cpu->int_shadow = false;
    seg_load_cs(cpu, (uint16_t)(v >> 16), 0); /* real mode: cannot fault */
    return 0;
}

/* Legacy protected mode (APM vol. 2 §8.7): the IDT's 8-byte interrupt and
 * trap gates, 32-bit (types E, F) or 16-bit (6, 7); a handler of higher
 * privilege runs on the stack the TSS names for its CPL (SS:ESP pushed
 * first). Returns 0, -1 with the nested exception in cpu->exc, or -2 for
 * what the model does not deliver (task gates, virtual-8086 mode). */
static int idt_enter_legacy(struct cpu *cpu, const struct event *ev)
{
    uint32_t idt_err = ev->vector * 8 + X86_ERR_IDT;
    if (flags_get(cpu) & X86_RFLAGS_VM)
        return -2;
    if ((uint64_t)ev->vector * 8 + 7 > cpu->idtr.limit)
        return raise_gp(cpu, idt_err), -1;
    uint64_t lo;
    if (read_sys_u64(cpu, cpu->idtr.base + ev->vector * 8, &lo) != 0)
        return -1;
    unsigned type = (lo >> 40) & 0xf;
    if (type == 5)
        return -2; /* a task gate: task switches are not modelled */
    if (type != 0xe && type != 0xf && type != 6 && type != 7)
        return raise_gp(cpu, idt_err), -1;
    if (gate_checks(cpu, ev, lo, idt_err) != 0)
        return -1;
    unsigned size = type & 8 ? 4 : 2;
    uint16_t sel = (uint16_t)(lo >> 16);
    uint64_t target = (lo & 0xffff) | (size == 4 ? (lo >> 32) & 0xffff0000ull : 0);
    struct seg cs;
    unsigned new_cpl;
    if (gate_code_segment(cpu, sel, false, &cs, &new_cpl) != 0)
        return -1;

    struct seg old_ss = cpu->seg[SEG_SS];
    uint64_t old_rsp = cpu->gpr[4], rflags = flags_get(cpu);
    uint8_t old_cpl = cpu->cpl;
    uint64_t frame[6];
    unsigned n = 0;
    if (new_cpl < cpu->cpl) {
        /* The inner stack from the TSS: a 32-bit TSS (types 9, B) has
         * ESPn at 4 + 8n and SSn at 8 + 8n, a 16-bit one (1, 3) SPn at
         * 2 + 4n and SSn at 4 + 4n. */
        bool tss32 = (cpu->tr.attrib & 8) != 0;
        uint64_t esp_off = tss32 ? 4 + 8 * new_cpl : 2 + 4 * new_cpl;
        uint64_t ss_off = tss32 ? 8 + 8 * new_cpl : 4 + 4 * new_cpl;
        uint64_t nsp, nss;
        if (ss_off + 1 > cpu->tr.limit)
            return raise_exc_err(cpu, X86_VEC_TS, cpu->tr.sel & ~3u), -1;
        if (la_read(cpu, cpu->tr.base + esp_off, tss32 ? 4 : 2, false, &nsp) != 0 ||
            la_read(cpu, cpu->tr.base + ss_off, 2, false, &nss) != 0)
            return -1;
        uint16_t ssel = (uint16_t)nss;
        struct seg ss;
        if ((ssel & ~3) == 0)
            return raise_exc_err(cpu, X86_VEC_TS, 0), -1;
        if (desc_load(cpu, ssel, &ss, NULL) != STEP_OK)
            return -1;
        unsigned sdpl = (ss.attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
        bool data_rw = (ss.attrib & VMCB_ATTR_S) && !(ss.attrib & 8) && (ss.attrib & 2);
        if ((ssel & 3) != new_cpl || sdpl != new_cpl || !data_rw)
            return raise_exc_err(cpu, X86_VEC_TS, ssel & ~3u), -1;
        if (!(ss.attrib & VMCB_ATTR_P))
            return raise_exc_err(cpu, X86_VEC_SS, ssel & ~3u), -1;
        frame[n++] = old_ss.sel;
        frame[n++] = old_rsp & size_mask(size);
        cpu->seg[SEG_SS] = ss;
        cpu->gpr[4] = nsp;
        cpu->cpl = (uint8_t)new_cpl; /* the frame is written at the new CPL */
        cpu_update_mode(cpu);
    }
    frame[n++] = rflags & size_mask(size);
    frame[n++] = cpu->seg[SEG_CS].sel;
    frame[n++] = ev->return_rip & size_mask(size);
    if (ev->has_error)
        frame[n++] = ev->error;
    if (push_frame(cpu, frame, n, size) != 0) {
        cpu->seg[SEG_SS] = old_ss;
        cpu->gpr[4] = old_rsp;
        cpu->cpl = old_cpl;
        cpu_update_mode(cpu);
        return -1;
    }
    gate_commit(cpu, cs, sel, new_cpl, rflags, !(type & 1), target, cs.base + target);
    return 0;
}

static int idt_enter(struct cpu *cpu, const struct event *ev)
{
    if (cpu->efer & X86_EFER_LMA)
        return idt_enter_long(cpu, ev);
    if (!(cpu->cr0 & X86_CR0_PE))
        return ivt_enter(cpu, ev);
    return idt_enter_legacy(cpu, ev);
}

/* A nested page fault becomes #VMEXIT(NPF); during the delivery of an event
 * EXITINTINFO names that event. */
static int npf_exit(struct cpu *cpu, const struct event *during)
{
    int r = svm_vmexit(cpu, SVM_EXIT_NPF, cpu->exc.npf_info1, cpu->exc.cr2);
    cpu->exit.next_rip = 0;
    if (during) {
        cpu->exit.int_info = event_int_info(during);
        cpu->exit.int_info_err = during->has_error ? during->error : 0;
    }
    return r;
}

static int shutdown(struct cpu *cpu)
{
    int r = svm_vmexit(cpu, SVM_EXIT_SHUTDOWN, 0, 0);
    cpu->exit.next_rip = 0;
    return r;
}

/* Delivers an event, handling faults during its delivery as APM vol. 2
 * §15.7.3 orders it: an exception is checked against the intercepts as it
 * is raised (a nested one reports the event it interrupted in EXITINTINFO),
 * and only then combined with the event it interrupted (§8.2.9: #DF, or
 * shutdown). An injected event itself is not checked (§15.20), but the
 * exceptions raised while delivering it are. */
static int deliver(struct cpu *cpu, struct event ev, bool check_first)
{
    cpu_charge_event(cpu, ev.vector);
    bool nested = false, check = check_first;
    struct event outer = ev;
    for (;;) {
        bool is_exc = ev.kind == EV_EXCEPTION || ev.kind == EV_SOFT_EXC;
        if (check && is_exc && svm_intercepted(cpu, SVM_EXIT_EXCP_BASE + ev.vector)) {
            uint64_t info1 = ev.has_error ? ev.error : 0;
            uint64_t info2 = ev.vector == X86_VEC_PF ? ev.cr2 : 0;
            int r = svm_vmexit(cpu, SVM_EXIT_EXCP_BASE + ev.vector, info1, info2);
            /* NRIP only for INT3/INTO; other exceptions reset it (§15.7.1). */
            if (ev.kind != EV_SOFT_EXC)
                cpu->exit.next_rip = 0;
            if (nested) {
                cpu->exit.int_info = event_int_info(&outer);
                cpu->exit.int_info_err = outer.has_error ? outer.error : 0;
            }
            return r;
        }
        check = true;
        if (ev.kind == EV_EXCEPTION && ev.vector == X86_VEC_PF)
            cpu->cr2 = ev.cr2;
        int r = idt_enter(cpu, &ev);
        if (r == 0)
            return STEP_OK;
        if (r == -2)
            return shutdown(cpu);
        if (cpu->exc.vector == CPU_EXC_NPF)
            return npf_exit(cpu, &ev);
        /* A fault while delivering ev. Its own intercept comes first. */
        struct event second = {
            .kind = EV_EXCEPTION, .vector = cpu->exc.vector, .has_error = cpu->exc.has_error,
            .error = cpu->exc.error, .return_rip = cpu->rip, .cr2 = cpu->exc.cr2,
        };
        if (svm_intercepted(cpu, SVM_EXIT_EXCP_BASE + second.vector)) {
            outer = ev;
            nested = true;
            ev = second;
            continue;
        }
        enum x86_exc_combine c = x86_exc_combine(is_exc, ev.vector, second.vector);
        outer = ev;
        nested = true;
        if (c == X86_EXC_TRIPLE_FAULT)
            return shutdown(cpu);
        if (c == X86_EXC_DOUBLE_FAULT) {
            second.vector = X86_VEC_DF;
            second.has_error = true;
            second.error = 0;
        }
        ev = second;
    }
}

int event_deliver(struct cpu *cpu, enum event_kind kind, unsigned vector, bool has_error,
                  uint32_t error, uint64_t return_rip)
{
    struct event ev = {
        .kind = kind, .vector = vector, .has_error = has_error, .error = error,
        .return_rip = return_rip, .cr2 = cpu->exc.cr2,
    };
    return deliver(cpu, ev, true);
}

int event_inject(struct cpu *cpu, enum event_kind kind, unsigned vector, bool has_error,
                 uint32_t error, uint64_t return_rip)
{
    struct event ev = {
        .kind = kind, .vector = vector, .has_error = has_error, .error = error,
        .return_rip = return_rip, .cr2 = cpu->cr2,
    };
    return deliver(cpu, ev, false);
}

int exc_deliver(struct cpu *cpu)
{
    if (cpu->exc.vector == CPU_EXC_NPF)
        return npf_exit(cpu, NULL);
    return event_deliver(cpu, EV_EXCEPTION, cpu->exc.vector, cpu->exc.has_error, cpu->exc.error,
                         cpu->rip);
}

/* An exit at a boundary: the instruction there has not begun (no NRIP). */
static int boundary_exit(struct cpu *cpu, uint64_t code)
{
    int r = svm_vmexit(cpu, code, 0, 0);
    cpu->exit.next_rip = 0;
    return r;
}

int cpu_take_interrupt(struct cpu *cpu)
{
    /* GIF holds everything; an interrupt shadow holds interrupts for one
     * instruction. */
    if (!cpu->gif || cpu->int_shadow)
        return STEP_OK;
    bool if_set = cpu->rflags & X86_RFLAGS_IF;
    /* The physical INTR: under V_INTR_MASKING the host's IF masks it, which
     * the host keeps set while a guest runs; else the guest's IF. Without
     * its intercept the line waits (the model has no host IDT to take it
     * through). */
    if (cpu->intr_line && ((cpu->int_ctl & SVM_INT_CTL_V_INTR_MASKING) || if_set) &&
        svm_intercepted(cpu, SVM_EXIT_INTR))
        return boundary_exit(cpu, SVM_EXIT_INTR);
    /* The virtual interrupt, under the guest's IF, V_GIF and V_TPR: intercepted,
     * or taken through the guest's IDT, which clears V_IRQ. */
    if (cpu_virq_open(cpu) && svm_virq_priority_ok(cpu->int_ctl)) {
        if (svm_intercepted(cpu, SVM_EXIT_VINTR))
            return boundary_exit(cpu, SVM_EXIT_VINTR);
        cpu->int_ctl &= ~SVM_INT_CTL_V_IRQ;
        cpu->next_rip = cpu->rip;
        return event_deliver(cpu, EV_EXT_INT, cpu->int_vector, false, 0, cpu->rip);
    }
    return STEP_OK;
}
