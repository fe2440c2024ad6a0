/* hv.c — L0's run loop and exit dispatch.
 *
 * Owns: setting up vmcb01 the way KVM's init_vmcb does (intercepts, permission
 * maps, the boot state handed over by the VMM), running it, dispatching each
 * #VMEXIT through a const table indexed by exit code, and the trace record
 * of every exit.
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum cpu_fast l0_fast_exit(void *opaque);

static int shutdown_interception(struct l0 *l0)
{
    l0_decide(l0, SVMSIM_DECISION_END, "shutdown");
    return l0_end(l0, SVMSIM_END_SHUTDOWN, SVMSIM_STATUS_SHUTDOWN,
                  "shutdown (triple fault or undeliverable event)");
}

static int ud_interception_insn(struct l0 *l0)
{
    queue_exception(l0, X86_VEC_UD, false, 0);
    l0_decide(l0, SVMSIM_DECISION_INJECTED_UD, "instruction not offered to the guest: #UD");
    return 1;
}

/* #UD, intercepted for --force-emulation-prefix (KVM's handle_ud): the
 * prefix ud2; "kvm" asks L0 to emulate the instruction after it. L0 skips
 * the prefix and that instruction runs next with every check the CPU makes,
 * which is what an emulator true to the hardware does. Any other #UD goes
 * back to the guest. */
static int ud_exception(struct l0 *l0)
{
    static const uint8_t prefix[5] = { 0x0f, 0x0b, 'k', 'v', 'm' };
    bool fep = true;
    for (unsigned i = 0; i < sizeof(prefix) && fep; i++) {
        uint64_t b;
        struct exc e;
        fep = cpu_guest_read(l0->cpu, SEG_CS, kvm_rip_read(l0) + i, 1, &b, &e) == 0 &&
              b == prefix[i];
    }
    if (!fep)
        return ud_interception_insn(l0);
    uint64_t next = kvm_rip_read(l0) + sizeof(prefix);
    kvm_rip_write(l0, is_64_bit_mode(l0) ? next : (uint32_t)next);
    l0_decide(l0, SVMSIM_DECISION_EMULATED,
              "forced emulation prefix: the instruction after it runs");
    return 1;
}

static int nop_interception(struct l0 *l0)
{
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "no-op for the guest");
    return 1;
}

/* RDPMC (KVM intercepts it in init_vmcb). */
static int rdpmc_interception(struct l0 *l0)
{
    /* The CPU checked CPL and CR4.PCE before the intercept; KVM's
     * kvm_pmu_rdpmc answers the VMware pseudo-counters when the backdoor
     * is enabled. */
    return rdpmc_emulate(l0, l0->cfg.enable_vmware_backdoor);
}

/* #GP: the path --semantics chose (gp.c). */
static int gp_exit(struct l0 *l0)
{
    if (l0->tracing)
        l0->rec.semantics = l0->sem->name;
    return l0->sem->gp_interception(l0);
}

static const exit_handler exit_handlers[SVM_EXIT_LAST_BITMAPPED + 1] = {
    [SVM_EXIT_GP] = gp_exit,
    [SVM_EXIT_EXCP_BASE + X86_VEC_UD] = ud_exception,
    [SVM_EXIT_INTR] = intr_interception,
    [SVM_EXIT_VINTR] = vintr_interception,
    [SVM_EXIT_IRET] = iret_interception,
    [SVM_EXIT_WRITE_CR8] = cr8_write_interception,
    [SVM_EXIT_HLT] = hlt_interception,
    [SVM_EXIT_RDPMC] = rdpmc_interception,
    [SVM_EXIT_SHUTDOWN] = shutdown_interception,
    [SVM_EXIT_IOIO] = io_interception,
    [SVM_EXIT_MSR] = msr_interception,
    [SVM_EXIT_CPUID] = cpuid_interception,
    [SVM_EXIT_INVD] = nop_interception,
    [SVM_EXIT_WBINVD] = nop_interception,
    [SVM_EXIT_VMRUN] = vmrun_interception,
    [SVM_EXIT_VMMCALL] = vmmcall_interception,
    [SVM_EXIT_VMLOAD] = vmload_interception,
    [SVM_EXIT_VMSAVE] = vmsave_interception,
    [SVM_EXIT_STGI] = stgi_interception,
    [SVM_EXIT_CLGI] = clgi_interception,
    [SVM_EXIT_SKINIT] = skinit_interception,
    [SVM_EXIT_INVLPGA] = invlpga_interception,
    [SVM_EXIT_MONITOR] = ud_interception_insn,
    [SVM_EXIT_MWAIT] = ud_interception_insn,
    [SVM_EXIT_MWAIT_COND] = ud_interception_insn,
    [SVM_EXIT_RDPRU] = ud_interception_insn,
};

static int unexpected_exit(struct l0 *l0)
{
    uint64_t code = l0->vmcb->control.exit_code;
    l0_decide(l0, SVMSIM_DECISION_END, "unexpected exit");
    if (l0->tracing) {
        vmcb_dump(l0->vmcb, l0->dump, sizeof(l0->dump));
        l0->rec.vmcb_dump = l0->dump;
    }
    return l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                  "unexpected #VMEXIT %s (0x%llx), exit_info_1 0x%llx",
                  svm_exit_name(code), (unsigned long long)code,
                  (unsigned long long)l0->vmcb->control.exit_info_1);
}

int svm_invoke_exit_handler(struct l0 *l0, uint64_t code)
{
    exit_handler h = code <= SVM_EXIT_LAST_BITMAPPED ? exit_handlers[code] : NULL;
    return (h ? h : unexpected_exit)(l0);
}

int l0_end(struct l0 *l0, enum svmsim_end_reason reason, int status, const char *fmt, ...)
{
    struct svmsim_end *end = l0->end;
    end->reason = reason;
    end->status = status;
    end->rip = kvm_rip_read(l0);
    end->level = l0_level(l0);
    va_list ap;
    va_start(ap, fmt);
    char what[192];
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (l0->vm && l0->vm->n > 1)
        snprintf(end->message, sizeof(end->message), "%s at RIP 0x%llx (L%d, vCPU %u)", what,
                 (unsigned long long)end->rip, end->level, l0->vcpu_id);
    else
        snprintf(end->message, sizeof(end->message), "%s at RIP 0x%llx (L%d)", what,
                 (unsigned long long)end->rip, end->level);
    return 0;
}

void l0_decide_traced(struct l0 *l0, enum svmsim_decision d, const char *fmt, ...)
{
    l0->rec.decision = d;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l0->rec.detail, sizeof(l0->rec.detail), fmt, ap);
    va_end(ap);
}

void l0_trace_append(struct l0 *l0, const char *fmt, ...)
{
    if (!l0->tracing)
        return;
    size_t n = strnlen(l0->rec.detail, sizeof(l0->rec.detail));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l0->rec.detail + n, sizeof(l0->rec.detail) - n, fmt, ap);
    va_end(ap);
}

void l0_note_rpc(struct l0 *l0, unsigned channel, const char *request, size_t request_len,
                 const char *reply, size_t reply_len)
{
    if (!l0->tracing)
        return;
    struct svmsim_trace_record *r = &l0->rec;
    r->rpc = true;
    r->rpc_channel = channel;
    r->rpc_request_len = (uint32_t)request_len;
    r->rpc_reply_len = (uint32_t)reply_len;
    size_t n = request_len < sizeof(r->rpc_request) - 1 ? request_len : sizeof(r->rpc_request) - 1;
    memcpy(r->rpc_request, request, n);
    r->rpc_request[n] = '\0';
    n = reply_len < sizeof(r->rpc_reply) - 1 ? reply_len : sizeof(r->rpc_reply) - 1;
    memcpy(r->rpc_reply, reply, n);
    r->rpc_reply[n] = '\0';
}

/* The instruction L0 completed for the guest ends as the CPU would end
 * it: RF clear, and under TF the single-step trap (#DB, DR6.BS), as KVM's
 * kvm_skip_emulated_instruction. Both are rare: only then is the save
 * area synced. */
static void complete_insn(struct l0 *l0)
{
    if (!cpu_guest_rflags_any(l0->cpu, l0->vmcb, X86_RFLAGS_TF | X86_RFLAGS_RF))
        return;
    l0_sync(l0);
    struct vmcb_save_area *sa = &l0->vmcb->save;
    sa->rflags &= ~X86_RFLAGS_RF;
    if (sa->rflags & X86_RFLAGS_TF) {
        sa->dr6 |= X86_DR6_BS;
        queue_exception(l0, X86_VEC_DB, false, 0);
    }
}

int l0_skip_insn(struct l0 *l0)
{
    if (l0_skip_insn_quiet(l0) != 0)
        return -1;
    complete_insn(l0);
    return 0;
}

int l0_skip_insn_quiet(struct l0 *l0)
{
    /* With NRIPS the CPU told us where the next instruction starts; exits
     * that leave no NRIP (exceptions, or an intercept emulated from the #GP
     * path) need the decoder. The instruction is complete: it counts as
     * retired. */
    uint64_t next = l0->vmcb->control.next_rip;
    if (next == 0) {
        struct cpu_decoded d;
        enum cpu_decode_status st = cpu_decode_guest_insn(l0->cpu, &d, false);
        if (st != CPU_DECODE_OK) {
            l0_decide(l0, SVMSIM_DECISION_END, "cannot skip the instruction: %s",
                      cpu_decode_status_name(st));
            l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                   "emulation failure: cannot decode the instruction to skip (%s)",
                   cpu_decode_status_name(st));
            return -1;
        }
        next = kvm_rip_read(l0) + d.len;
        if (!is_64_bit_mode(l0))
            next = (uint32_t)next;
    }
    kvm_rip_write(l0, next);
    /* The instruction is done, and any interrupt shadow it was in with it
     * (as KVM's skip clears it). */
    l0->vmcb->control.int_state &= ~SVM_INT_STATE_SHADOW;
    l0->cpu->insns++;
    return 0;
}

/* KVM's init_vmcb: what L0 intercepts while L1 runs. */
static void init_vmcb01(struct l0 *l0)
{
    struct vmcb_control_area *c = &l0->vmcb01->control;
    static const unsigned intercepted[] = {
        SVM_EXIT_INTR, SVM_EXIT_NMI, SVM_EXIT_SMI, SVM_EXIT_INIT, SVM_EXIT_RDPMC, SVM_EXIT_CPUID,
        SVM_EXIT_INVD, SVM_EXIT_HLT, SVM_EXIT_INVLPGA, SVM_EXIT_IOIO, SVM_EXIT_MSR,
        SVM_EXIT_TASK_SWITCH, SVM_EXIT_SHUTDOWN, SVM_EXIT_VMRUN, SVM_EXIT_VMMCALL,
        SVM_EXIT_VMLOAD, SVM_EXIT_VMSAVE, SVM_EXIT_STGI, SVM_EXIT_CLGI, SVM_EXIT_SKINIT,
        SVM_EXIT_WBINVD, SVM_EXIT_MONITOR, SVM_EXIT_MWAIT, SVM_EXIT_XSETBV, SVM_EXIT_RDPRU,
        SVM_EXIT_WRITE_CR8, /* L1's CR8 is the APIC's TPR (irq.c) */
    };
    for (unsigned i = 0; i < sizeof(intercepted) / sizeof(intercepted[0]); i++)
        vmcb_set_intercept(c, intercepted[i]);
    memset(l0->iopm, 0xff, SVM_IOPM_SIZE);
    memset(l0->msrpm, 0xff, SVM_MSRPM_SIZE);
    c->asid = 1;
    c->tlb_ctl = 0;
    /* The host's IF, not the guest's, masks physical interrupts: INTR
     * always exits (KVM's init_vmcb). */
    c->int_ctl = SVM_INT_CTL_V_INTR_MASKING;
    if (l0->cfg.force_emulation_prefix)
        vmcb_set_intercept(c, SVM_EXIT_EXCP_BASE + X86_VEC_UD);
}

void gp_intercept_update(struct l0 *l0)
{
    /* §1: the erratum intercept is wanted unless the CPU checks RAX itself
     * (SVME_ADDR_CHK) or the user turned it off. */
    bool erratum = l0->cfg.gp_erratum_intercept && !l0->cfg.svme_addr_chk && l0->efer_svme;
    unsigned bit = SVM_EXIT_EXCP_BASE + X86_VEC_GP;
    if (l0->cfg.enable_vmware_backdoor || erratum)
        vmcb_set_intercept(&l0->vmcb01->control, bit);
    else
        vmcb_clr_intercept(&l0->vmcb01->control, bit);
}

/* Physical accesses of L1 outside RAM (cpu->mmio): the local APIC's page,
 * else the VMM's (KVM_EXIT_MMIO). */
static uint64_t l0_mmio_read(void *opaque, uint64_t pa, unsigned size)
{
    struct l0 *l0 = opaque;
    if (lapic_mmio_claims(&l0->lapic, pa))
        return lapic_mmio_read(l0, pa, size);
    return l0->io.mmio_read ? l0->io.mmio_read(l0->io.opaque, pa, size) : ~0ull;
}

static void l0_mmio_write(void *opaque, uint64_t pa, unsigned size, uint64_t v)
{
    struct l0 *l0 = opaque;
    if (lapic_mmio_claims(&l0->lapic, pa))
        lapic_mmio_write(l0, pa, size, v);
    else if (l0->io.mmio_write)
        l0->io.mmio_write(l0->io.opaque, pa, size, v);
}

int l0_init(struct l0 *l0, struct cpu *cpu, const struct svmsim_config *cfg,
            const struct l0_io *io)
{
    memset(l0, 0, sizeof(*l0));
    l0->cpu = cpu;
    l0->cfg = *cfg;
    l0->io = *io;
    l0->vmcb01 = aligned_alloc(4096, sizeof(struct vmcb));
    l0->vmcb02 = aligned_alloc(4096, sizeof(struct vmcb));
    l0->iopm = aligned_alloc(4096, SVM_IOPM_SIZE);
    l0->msrpm = aligned_alloc(4096, SVM_MSRPM_SIZE);
    if (!l0->vmcb01 || !l0->vmcb02 || !l0->iopm || !l0->msrpm) {
        l0_fini(l0);
        return -1;
    }
    memset(l0->vmcb01, 0, sizeof(struct vmcb));
    memset(l0->vmcb02, 0, sizeof(struct vmcb));
    l0->sem = l0_semantics_of(cfg->semantics);
    init_vmcb01(l0);
    l0->vmcb = l0->vmcb01;
    nested_init(l0);
    gp_intercept_update(l0);
    l0->gif = true;
    l0->max_insns = cfg->max_insns;
    l0->tracing = cfg->trace != NULL;
    cpu->hold_state = true; /* see l0_sync */
    cpu->mmio = (struct cpu_mmio){ .read = l0_mmio_read, .write = l0_mmio_write, .opaque = l0 };
    lapic_reset(&l0->lapic, 0, true);
    l0->misc_enable = (1ull << 11) | (1ull << 12); /* BTS, PEBS unavailable (KVM's reset) */
    cpu->fast_exit = (struct cpu_fast_exit){ .handle = l0_fast_exit, .opaque = l0 };
    return 0;
}

void l0_fini(struct l0 *l0)
{
    free(l0->vmcb01);
    free(l0->vmcb02);
    free(l0->iopm);
    free(l0->msrpm);
    l0->vmcb01 = NULL;
    l0->vmcb02 = NULL;
    l0->vmcb = NULL;
    l0->iopm = NULL;
    l0->msrpm = NULL;
}

void l0_trace_flush(struct l0 *l0)
{
    if (!l0->rec_pending)
        return;
    l0->rec_pending = false;
    l0->rec.seq = l0->vm ? l0->vm->trace_seq++ : l0->own_trace_seq++;
    l0->cfg.trace(l0->cfg.trace_opaque, &l0->rec);
}

/* Fills the parts of the trace record known before the handler runs (the
 * number is given when it is written, so records come in order). */
static void trace_begin(struct l0 *l0)
{
    struct svmsim_trace_record *r = &l0->rec;
    const struct vmcb_control_area *c = &l0->vmcb->control;
    memset(r, 0, sizeof(*r));
    r->vcpu = (uint16_t)l0->vcpu_id;
    r->vcpus = (uint16_t)(l0->vm ? l0->vm->n : 1);
    r->insns = l0->cpu->insns;
    r->level = l0_level(l0);
    r->exit_code = c->exit_code;
    r->exit_name = svm_exit_name(c->exit_code);
    r->exit_info_1 = c->exit_info_1;
    r->exit_info_2 = c->exit_info_2;
    r->rip = kvm_rip_read(l0);
    if (c->exit_code == SVM_EXIT_ERR)
        return; /* the guest was not entered: there is no instruction */
    struct cpu_decoded d;
    if (cpu_decode_guest_insn(l0->cpu, &d, true) == CPU_DECODE_OK) {
        r->insn_len = d.len;
        memcpy(r->insn_bytes, d.bytes, d.len);
        memcpy(r->insn_text, d.text, sizeof(r->insn_text));
    }
}

/* Exits whose handling reads only the save area's hot fields and writes
 * only RIP, RSP and RAX of it (cpu_run's lazy world switch): L1's
 * single port I/O (the devices see the registers through the accessors)
 * and CPUID. Any other exit, L2's (its routing may copy the whole state),
 * and every exit while tracing see the whole save area. */
static bool exit_is_fast(const struct l0 *l0)
{
    const struct vmcb_control_area *c = &l0->vmcb->control;
    if (l0->tracing || is_guest_mode(l0))
        return false;
    return (c->exit_code == SVM_EXIT_IOIO && !(c->exit_info_1 & SVM_IOIO_STR)) ||
           c->exit_code == SVM_EXIT_CPUID;
}

/* An exit L0 handles for the running level: its handler, then the
 * exception the handler queued. */
static inline int handle_own_exit(struct l0 *l0)
{
    requeue_interrupted_event(l0);
    int resume = svm_invoke_exit_handler(l0, l0->vmcb->control.exit_code);
    if (resume && l0_event_pending(l0)) {
        l0_sync(l0);
        resume = inject_pending_exception(l0);
    }
    return resume;
}

/* One #VMEXIT: to L1 if L2 exited and L1 wants it (§4.3), else L0's own
 * handler for the running level; then the exception a handler queued. */
static int handle_exit(struct l0 *l0)
{
    int resume = 1;
    if (!exit_is_fast(l0))
        l0_sync(l0);
    if (is_guest_mode(l0) && nested_svm_exit_handled(l0, &resume))
        return resume;
    return handle_own_exit(l0);
}

/* After an exit is handled: has the VMM stopped the run (an output
 * failed)? Returns resume, or 0 when the run ends. */
static inline int exit_done(struct l0 *l0, int resume)
{
    struct svmsim_end stop;
    if (!resume)
        return 0;
    if (l0_io_stopped(l0, &stop)) {
        l0_end(l0, stop.reason, stop.status, "%s", stop.message);
        return 0;
    }
    return 1;
}

/* cpu_run's fast exits (cpu/cpu.h): a fast exit of L1's that interrupted
 * no event is handled in place, exactly as l0_run's loop would handle it;
 * the CPU runs on unless the handler queued an event, synced the save area
 * or ended the run, in which case l0_run goes on from its handling. */
static enum cpu_fast l0_fast_exit(void *opaque)
{
    struct l0 *l0 = opaque;
    if (!exit_is_fast(l0) || (l0->vmcb->control.exit_int_info & SVM_EVTINJ_VALID) ||
        l0_event_pending(l0))
        return CPU_FAST_DECLINE;
    l0->fast_resume = exit_done(l0, handle_own_exit(l0));
    bool in_place = l0->fast_resume && l0->cpu->held == l0->vmcb &&
                    !(l0->vmcb->control.event_inj & SVM_EVTINJ_VALID);
    return in_place ? CPU_FAST_RESUME : CPU_FAST_RETURN;
}

/* The budget is spent. A guest that spent its last units delivering
 * exceptions without retiring an instruction is in a fault loop: say so. */
#define FAULT_LOOP_EVENTS 64
void l0_end_budget(struct l0 *l0)
{
    const struct cpu *cpu = l0->cpu;
    uint64_t events = cpu_events_since_retire(cpu);
    if (events >= FAULT_LOOP_EVENTS)
        l0_end(l0, SVMSIM_END_MAX_INSNS, SVMSIM_STATUS_MAX_INSNS,
               "instruction limit reached in a fault loop: %llu events and no instruction "
               "retired, the last vector %u", (unsigned long long)events,
               cpu->last_event_vector);
    else
        l0_end(l0, SVMSIM_END_MAX_INSNS, SVMSIM_STATUS_MAX_INSNS, "instruction limit reached");
}

uint64_t l0_budget_left(const struct l0 *l0)
{
    uint64_t used = cpu_work(l0->cpu);
    if (!l0->max_insns)
        return UINT64_MAX;
    return used >= l0->max_insns ? 0 : l0->max_insns - used;
}

enum l0_ran l0_run(struct l0 *l0, struct svmsim_end *end, uint64_t slice)
{
    memset(end, 0, sizeof(*end));
    l0->end = end;
    struct cpu *cpu = l0->cpu;
    uint64_t slice_end = slice ? cpu_work(cpu) + slice : 0;
    bool entered = false, waiting = false;
    enum l0_ran ran = L0_RAN_ENDED;
    for (;;) {
        /* An exception the host queued between runs (svmsim_queue_exception). */
        if (l0_event_pending(l0)) {
            l0_sync(l0);
            if (!inject_pending_exception(l0))
                break;
        }
        int entering = l0_prepare_entry(l0);
        if (entering == L0_ENTRY_WAIT) {
            /* The exit's record waits on for what wakes the vCPU. */
            ran = entered ? L0_RAN_YIELDED : L0_RAN_IDLE;
            waiting = true;
            break;
        }
        l0_trace_flush(l0);
        if (!entering)
            break;
        uint64_t budget = UINT64_MAX, used = cpu_work(cpu);
        if (l0->max_insns) {
            if (used >= l0->max_insns) {
                l0_end_budget(l0);
                break;
            }
            budget = l0->max_insns - used;
        }
        if (slice_end) {
            if (used >= slice_end) {
                ran = L0_RAN_YIELDED;
                break;
            }
            if (slice_end - used < budget)
                budget = slice_end - used;
        }
        if (l0->entry_budget && l0->entry_budget < budget)
            budget = l0->entry_budget;
        struct vmcb *vmcb = l0->vmcb;
        entered = true;
        l0->timer_futile = false;
        enum cpu_run_result rr = cpu_run(l0->cpu, vmcb, l0->iopm, l0->msrpm, &budget);
        vmcb->control.tlb_ctl = 0; /* a requested flush is done */
        if (rr == CPU_RUN_BUDGET)
            continue; /* the limit checks above end the run or the slice */
        if (rr == CPU_RUN_HALTED) {
            /* An HLT no intercept caught: the CPU does not wait (L0
             * intercepts HLT to wait itself). */
            l0_end(l0, SVMSIM_END_HALTED, SVMSIM_STATUS_HALTED, "guest halted");
            break;
        }
        if (rr == CPU_RUN_HANDLED) {
            if (!l0->fast_resume)
                break;
            continue;
        }
        if (l0->tracing)
            trace_begin(l0);
        int resume = handle_exit(l0);
        l0->rec_pending = l0->tracing;
        if (!exit_done(l0, resume))
            break; /* the record is written below */
    }
    if (!waiting)
        l0_trace_flush(l0);
    l0_sync(l0);
    return ran;
}
