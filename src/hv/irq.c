/* irq.c — L0 taking its local APIC's interrupts and NMIs into the guest, as
 * KVM on AMD does before each entry (inject_pending_event,
 * svm_check_nested_events): through EVENTINJ of the running VMCB when the
 * guest can take them; as #VMEXIT(INTR) or #VMEXIT(NMI) to L1 when L2 runs
 * and L1 intercepts them; else by opening a window that brings the CPU
 * back when the guest can (a virtual interrupt with the VINTR intercept,
 * IRET's intercept for the end of an NMI handler, STGI's for GIF, an
 * immediate exit for an interrupt shadow or a busy EVENTINJ). Also L1's
 * CR8 as the APIC's TPR, HLT's wait for an interrupt (the scheduler, vm.c,
 * skips the time to an APIC timer's expiry), and INIT and SIPI taken.
 *
 * Owns: l0->irq_window, the NMI mask (nmi_masked, awaiting_iret),
 * l0->halted, l0->timer_futile, l0->entry_budget; the VINTR, IRET and
 * CR8-write intercepts and the virtual interrupt L0 puts in a VMCB for its
 * windows; the host timer and INTR line of the CPU (cpu_kick).
 * Must not: decide the APIC's registers (lapic.c) or touch vmcb12
 * (nested.c gives back L1's virtual interrupt when a window closes).
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

#include <stdio.h>

void l0_request_event(struct l0 *l0)
{
    cpu_kick(l0->cpu);
}

static bool nested_intercepts(const struct l0 *l0, unsigned code)
{
    return is_guest_mode(l0) && vmcb_is_intercept(&l0->nested.ctl, code);
}

static bool in_shadow(const struct l0 *l0)
{
    return l0->vmcb->control.int_state & SVM_INT_STATE_SHADOW;
}

static bool event_inj_busy(const struct l0 *l0)
{
    return l0->vmcb->control.event_inj & SVM_EVTINJ_VALID;
}

/* Whether RFLAGS.IF (or GIF) holds L1's interrupts, the shadow apart
 * (KVM's svm_interrupt_blocked): while L2 runs, L1's IF as it was at VMRUN
 * under vmcb12's V_INTR_MASKING, else L2's IF. */
static bool irq_blocked(const struct l0 *l0)
{
    if (!l0->gif)
        return true;
    if (!is_guest_mode(l0))
        return !(l0->vmcb01->save.rflags & X86_RFLAGS_IF);
    if (l0->nested.ctl.int_ctl & SVM_INT_CTL_V_INTR_MASKING)
        return !(l0->vmcb01->save.rflags & X86_RFLAGS_IF);
    return !(l0->vmcb02->save.rflags & X86_RFLAGS_IF);
}

/* Whether a window can ever open while this level runs: not with GIF clear
 * (STGI's intercept brings L0 back), nor while L2 runs under V_INTR_MASKING
 * with L1's IF clear (nothing L2 does changes that). */
static bool irq_window_useful(const struct l0 *l0)
{
    if (!l0->gif)
        return false;
    return !is_guest_mode(l0) || !(l0->nested.ctl.int_ctl & SVM_INT_CTL_V_INTR_MASKING) ||
           (l0->vmcb01->save.rflags & X86_RFLAGS_IF);
}

void l0_irq_window_close(struct l0 *l0)
{
    struct vmcb *v = l0->irq_window;
    if (!v)
        return;
    l0->irq_window = NULL;
    struct vmcb_control_area *c = &v->control;
    c->int_ctl &= ~SVM_INT_CTL_VIRQ_BITS;
    c->int_vector = 0;
    vmcb_clr_intercept(c, SVM_EXIT_VINTR);
    if (v == l0->vmcb02 && is_guest_mode(l0))
        nested_restore_virq(l0); /* L1's virtual interrupt for L2, as it was */
}

/* An interrupt window on the running VMCB: a virtual interrupt no V_TPR
 * holds and the VINTR intercept, so the CPU exits when the guest's IF is
 * set and no shadow is in force (KVM's svm_set_vintr). */
static void irq_window_open(struct l0 *l0)
{
    struct vmcb *v = l0->vmcb;
    if (l0->irq_window == v)
        return;
    if (v == l0->vmcb02)
        nested_sync_int_ctl(l0); /* keep L1's virtual interrupt aside */
    struct vmcb_control_area *c = &v->control;
    c->int_ctl = (c->int_ctl & ~SVM_INT_CTL_VIRQ_BITS) | SVM_INT_CTL_V_IRQ |
                 SVM_INT_CTL_V_IGN_TPR | SVM_INT_CTL_V_INTR_PRIO_MASK;
    c->int_vector = 0;
    vmcb_set_intercept(c, SVM_EXIT_VINTR);
    l0->irq_window = v;
}

static void inject(struct l0 *l0, uint32_t type, unsigned vector)
{
    l0->vmcb->control.event_inj = SVM_EVTINJ_VALID | type | (vector & SVM_EVTINJ_VEC_MASK);
    l0->vmcb->control.event_inj_err = 0;
}

/* An event L1 intercepts while L2 runs (what names it in the trace):
 * #VMEXIT(code) to L1, unless an event vmcb12 injects is still to be
 * delivered: then it waits, and the CPU comes back as soon as it can.
 * Returns 1, or 0 when the run ended. */
static int event_vmexit(struct l0 *l0, uint64_t code, bool *want_exit, const char *what)
{
    if (event_inj_busy(l0)) {
        *want_exit = true;
        return 1;
    }
    l0_trace_append(l0, "; %s: #VMEXIT(%s) to L1", what, svm_exit_name(code));
    return nested_svm_simple_vmexit(l0, code);
}

/* The pending SMI: #VMEXIT(SMI) to L1 when L2 runs and L1 intercepts it
 * (it stays pending, as in KVM). SMM is not modelled: an SMI the guest
 * itself would take is dropped, as a firmware SMM handler that changes
 * nothing and resumes would leave it. */
static int smi_step(struct l0 *l0, bool *want_exit)
{
    if (!l0->lapic.smi_pending || !l0->gif)
        return 1;
    if (nested_intercepts(l0, SVM_EXIT_SMI))
        return event_vmexit(l0, SVM_EXIT_SMI, want_exit, "SMI");
    l0->lapic.smi_pending = false;
    l0_trace_append(l0, "; SMI dropped (no SMM)");
    return 1;
}

/* The pending NMI. Returns 1, or 0 when the run ended; *want_exit when the
 * CPU must come back as soon as it can. */
static int nmi_step(struct l0 *l0, bool *want_exit)
{
    if (!l0->lapic.nmi_pending || !l0->gif)
        return 1;
    if (nested_intercepts(l0, SVM_EXIT_NMI) && !event_inj_busy(l0)) {
        l0_trace_append(l0, "; NMI: #VMEXIT(NMI) to L1");
        return nested_svm_simple_vmexit(l0, SVM_EXIT_NMI); /* stays pending for L1 */
    }
    if (l0->nmi_masked)
        return 1; /* IRET's intercept, set with the NMI, ends the mask */
    if (in_shadow(l0) || event_inj_busy(l0)) {
        *want_exit = true;
        return 1;
    }
    l0->lapic.nmi_pending = false;
    l0->nmi_masked = true;
    vmcb_set_intercept(&l0->vmcb->control, SVM_EXIT_IRET);
    inject(l0, SVM_EVTINJ_TYPE_NMI, X86_VEC_NMI);
    l0_trace_append(l0, "; NMI injected into L%d", l0_level(l0));
    return 1;
}

/* The APIC's interrupt. Returns 1, or 0 when the run ended. */
static int irq_step(struct l0 *l0, bool *want_exit)
{
    int vec = lapic_pending_vector(&l0->lapic);
    if (vec < 0)
        return 1;
    if (irq_blocked(l0)) {
        if (irq_window_useful(l0))
            irq_window_open(l0);
        return 1;
    }
    /* L1 takes its interrupts as #VMEXIT(INTR); the shadow does not hold
     * an exit. An event vmcb12 injects is delivered first. */
    if (nested_intercepts(l0, SVM_EXIT_INTR)) {
        char what[32] = "";
        if (l0->tracing) /* words for the trace only */
            snprintf(what, sizeof what, "interrupt 0x%x pending", (unsigned)vec);
        return event_vmexit(l0, SVM_EXIT_INTR, want_exit, what);
    }
    if (in_shadow(l0)) {
        irq_window_open(l0);
        return 1;
    }
    if (event_inj_busy(l0)) {
        *want_exit = true;
        return 1;
    }
    lapic_ack(&l0->lapic, (unsigned)vec);
    inject(l0, SVM_EVTINJ_TYPE_INTR, (unsigned)vec);
    l0_trace_append(l0, "; interrupt 0x%x injected into L%d", (unsigned)vec, l0_level(l0));
    return 1;
}

static bool events_pending(const struct l0 *l0)
{
    return l0->lapic.nmi_pending || l0->lapic.smi_pending || l0->irq_window ||
           lapic_pending_vector(&l0->lapic) >= 0;
}

/* Whether the halted vCPU has something to wake it (KVM's
 * kvm_vcpu_has_events): an SMI that becomes L1's #VMEXIT, an NMI it can
 * take, an interrupt its flags let in (or that becomes L1's #VMEXIT), or
 * the virtual interrupt L1 gave L2. (INIT is taken before: it resets the
 * vCPU, or becomes L1's #VMEXIT, which ends L2's HLT.) */
static bool wakes(const struct l0 *l0)
{
    if (l0->lapic.smi_pending && l0->gif && nested_intercepts(l0, SVM_EXIT_SMI))
        return true;
    if (l0->lapic.nmi_pending && l0->gif &&
        (!l0->nmi_masked || nested_intercepts(l0, SVM_EXIT_NMI)))
        return true;
    if (lapic_pending_vector(&l0->lapic) >= 0 && !irq_blocked(l0))
        return true;
    const struct vmcb *v = l0->vmcb;
    return l0->irq_window != v && (v->control.int_ctl & SVM_INT_CTL_V_IRQ) &&
           (v->save.rflags & X86_RFLAGS_IF) && svm_virq_priority_ok(v->control.int_ctl);
}

/* INIT and SIPI the APIC holds (KVM's kvm_apic_accept_events, and
 * svm_check_nested_events for INIT): GIF holds both, and a SIPI held so is
 * lost. While L2 runs and L1 intercepts INIT, it is #VMEXIT(INIT) to L1
 * and stays pending (the exit clears GIF: L1's STGI lets it in). Else INIT
 * resets the vCPU to wait for SIPI (the BSP runs on at the reset vector),
 * and a SIPI starts a vCPU that waits for one. Returns 1, or 0 when the
 * run ended. */
static int init_sipi_step(struct l0 *l0, bool *want_exit)
{
    struct lapic *a = &l0->lapic;
    if (!l0->gif) {
        a->sipi_pending = false;
        return 1;
    }
    if (a->init_pending) {
        if (nested_intercepts(l0, SVM_EXIT_INIT))
            return event_vmexit(l0, SVM_EXIT_INIT, want_exit, "INIT");
        a->init_pending = false;
        l0_vcpu_init(l0);
        l0_trace_append(l0, "; INIT: vCPU %u reset%s", l0->vcpu_id,
                        l0->mp_state == L0_MP_WAIT_SIPI ? ", waits for SIPI" : "");
    }
    if (a->sipi_pending) {
        a->sipi_pending = false;
        if (l0->mp_state == L0_MP_WAIT_SIPI) {
            l0_vcpu_sipi(l0, a->sipi_vector);
            l0_trace_append(l0, "; SIPI: vCPU %u starts at %04x:0000", l0->vcpu_id,
                            (unsigned)a->sipi_vector << 8);
        }
    }
    return 1;
}

int l0_end_waiting(struct l0 *l0, unsigned vcpus)
{
    /* A run after this one starts from the state it is then given, not
     * halted. */
    bool irq_on = l0->vmcb->save.rflags & X86_RFLAGS_IF;
    bool halted = l0->halted;
    l0->halted = false;
    if (vcpus > 1)
        return l0_end(l0, SVMSIM_END_HALTED, SVMSIM_STATUS_HALTED,
                      "all %u vCPUs wait and nothing can wake them (the BSP %s)", vcpus,
                      !halted ? "waits for SIPI"
                      : irq_on ? "halted with interrupts on" : "halted with interrupts off");
    return l0_end(l0, SVMSIM_END_HALTED, SVMSIM_STATUS_HALTED,
                  irq_on ? "guest halted (interrupts on, but nothing can interrupt it)"
                         : "guest halted with interrupts off");
}

int l0_prepare_entry(struct l0 *l0)
{
    struct cpu *cpu = l0->cpu;
    bool want_exit = false; /* the CPU must come back as soon as it can */
    l0->entry_budget = 0;
    if (lapic_init_sipi_pending(&l0->lapic)) {
        l0_sync(l0);
        if (!init_sipi_step(l0, &want_exit))
            return 0;
    }
    if (l0->mp_state == L0_MP_WAIT_SIPI)
        return L0_ENTRY_WAIT;
    if (l0->halted) {
        /* It waits for what can wake it (the scheduler moves the clock on
         * to the timer's expiry when every vCPU waits). */
        l0_sync(l0);
        bool fired = lapic_timer_poll(l0);
        if (!wakes(l0)) {
            l0->timer_futile |= fired;
            return L0_ENTRY_WAIT;
        }
        l0->halted = false;
    }
    if (l0->awaiting_iret) {
        if (kvm_rip_read(l0) == l0->nmi_iret_rip) {
            l0->entry_budget = 1; /* the IRET alone */
        } else {
            l0->awaiting_iret = false;
            l0->nmi_masked = false;
        }
    }
    lapic_timer_poll(l0);
    cpu->intr_line = false; /* L0 looks now (the timer's expiry raised it too) */
    if (events_pending(l0)) {
        l0_sync(l0);
        l0_irq_window_close(l0);
        if (!smi_step(l0, &want_exit) || !nmi_step(l0, &want_exit) ||
            !irq_step(l0, &want_exit))
            return 0;
    }
    if (want_exit)
        cpu_kick(cpu); /* back at the first boundary that lets it in */
    /* L1's CR8 is the APIC's TPR (CR8 writes exit to cr8_write_interception). */
    if (!is_guest_mode(l0)) {
        struct vmcb_control_area *c = &l0->vmcb01->control;
        c->int_ctl = (c->int_ctl & ~SVM_INT_CTL_V_TPR_MASK) | (lapic_tpr(&l0->lapic) >> 4);
    }
    cpu_set_host_timer(cpu, lapic_timer_deadline(&l0->lapic));
    return 1;
}

/* ---- exits */


int intr_interception(struct l0 *l0)
{
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "host interrupt: L0 looks at its events");
    return 1;
}

int vintr_interception(struct l0 *l0)
{
    l0_irq_window_close(l0);
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "interrupt window open");
    return 1;
}

int iret_interception(struct l0 *l0)
{
    /* The NMI handler returns: the IRET runs again without the intercept,
     * one instruction on its own, and NMIs are let in once it is done (RIP
     * moved: KVM's awaiting_iret_completion). */
    l0->nmi_iret_rip = kvm_rip_read(l0);
    l0->awaiting_iret = true;
    vmcb_clr_intercept(&l0->vmcb->control, SVM_EXIT_IRET);
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "IRET of the NMI handler: NMIs return after it");
    return 1;
}

int cr8_write_interception(struct l0 *l0)
{
    /* MOV to CR8 (decode assist: the GPR in EXITINFO1[3:0]); its #GP came
     * before the intercept. */
    uint64_t v = kvm_register_read_raw(l0, (unsigned)(l0->vmcb->control.exit_info_1 & 0xf));
    if (v & ~0xfull) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "CR8 reserved bits: #GP(0)");
        return 1;
    }
    if (l0_skip_insn(l0) != 0)
        return 0;
    lapic_set_tpr(l0, (uint32_t)v << 4);
    l0->vmcb->control.int_ctl = (l0->vmcb->control.int_ctl & ~SVM_INT_CTL_V_TPR_MASK) | (uint32_t)v;
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "CR8 = %llu: the APIC's TPR", (unsigned long long)v);
    return 1;
}

int hlt_interception(struct l0 *l0)
{
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0->halted = true;
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "halted: waits for an interrupt");
    return 1;
}
