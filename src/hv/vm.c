/* vm.c — the vCPUs of a VM and the scheduler that runs them in one thread,
 * and what INIT and SIPI do to a vCPU (see struct l0_vm in hv.h).
 *
 * Owns: struct l0_vm (its vCPUs, turn, clock, work bound, trace numbering),
 * each vCPU's mp_state, the INIT state (APM vol. 2 §14.1.3 "Processor
 * Initialization State", as KVM's kvm_vcpu_reset for an INIT event) and
 * SIPI's real-mode start.
 * Must not: decide when INIT or SIPI are taken (irq.c, with the APIC's
 * pending signals from lapic.c), or reach the devices.
 *
 * The schedule is a function of the guests' work alone: vCPU i runs at
 * most L0_VM_SLICE units, or until it waits, then i + 1 (a run that ends
 * mid-turn is resumed there, so runs in steps run as one does); once every
 * vCPU has only waited in a row of turns, the clock moves to the first APIC
 * timer that might wake one, and if there is none the run ends (status 2).
 */
#include "hv/hv.h"

#include <string.h>

int l0_vm_init(struct l0_vm *vm, struct l0 *l0s, struct cpu *cpus, unsigned n,
               const struct svmsim_config *cfg, const struct l0_io *io)
{
    memset(vm, 0, sizeof(*vm));
    vm->vcpus = l0s;
    vm->max_insns = cfg->max_insns;
    for (unsigned i = 0; i < n; i++) {
        if (l0_init(&l0s[i], &cpus[i], cfg, io) != 0) {
            l0_vm_fini(vm);
            return -1;
        }
        vm->n = i + 1;
        struct l0 *l0 = &l0s[i];
        l0->vm = vm;
        l0->vcpu_id = i;
        l0->max_insns = 0; /* the VM's bound, given at each turn */
        if (i) { /* an AP after RESET: the INIT state, waiting for SIPI */
            cpu_share_memory(&cpus[i], &cpus[0]);
            lapic_reset(&l0->lapic, i, false);
            l0->vmcb01->save.g_pat = 0x0007040600070406ull;
            l0_vcpu_init(l0);
        }
    }
    return 0;
}

void l0_vm_fini(struct l0_vm *vm)
{
    for (unsigned i = 0; i < vm->n; i++)
        l0_fini(&vm->vcpus[i]);
    vm->n = 0;
}

uint64_t l0_vm_work(const struct l0_vm *vm)
{
    uint64_t w = 0;
    for (unsigned i = 0; i < vm->n; i++)
        w += cpu_work(vm->vcpus[i].cpu);
    return w;
}

/* The first APIC timer expiry that might wake a waiting vCPU: one that is
 * unmasked and has not already expired in this wait without waking it.
 * 0 if none. */
static uint64_t first_useful_timer(const struct l0_vm *vm)
{
    uint64_t first = 0;
    for (unsigned i = 0; i < vm->n; i++) {
        const struct l0 *l0 = &vm->vcpus[i];
        uint64_t due = lapic_timer_deadline(&l0->lapic);
        if (l0->mp_state != L0_MP_RUNNABLE || l0->timer_futile || !due ||
            !lapic_timer_unmasked(&l0->lapic))
            continue;
        if (!first || due < first)
            first = due;
    }
    return first;
}

/* One turn of vCPU i: the rest of the turn a run that ended left it, or
 * a new one. The bound on the run's work is the VM's: what is left of it
 * caps the turn. */
static enum l0_ran turn(struct l0_vm *vm, unsigned i, struct svmsim_end *end)
{
    struct l0 *l0 = &vm->vcpus[i];
    struct cpu *cpu = l0->cpu;
    if (vm->cur != i)
        vm->turn_left = 0;
    vm->cur = i;
    uint64_t now = cpu_host_tsc(cpu);
    if (vm->clock > now)
        cpu_skip_time(cpu, vm->clock - now);
    l0->max_insns = 0;
    if (vm->max_insns) {
        uint64_t done = l0_vm_work(vm);
        if (done >= vm->max_insns) {
            memset(end, 0, sizeof(*end));
            l0->end = end;
            l0_end_budget(l0);
            return L0_RAN_ENDED;
        }
        l0->max_insns = cpu_work(cpu) + (vm->max_insns - done);
    }
    uint64_t slice = vm->n == 1 ? 0 : vm->turn_left ? vm->turn_left : L0_VM_SLICE;
    uint64_t before = cpu_work(cpu);
    enum l0_ran ran = l0_run(l0, end, slice);
    uint64_t done = cpu_work(cpu) - before;
    vm->turn_left = 0;
    if (ran == L0_RAN_ENDED && slice > done)
        vm->turn_left = slice - done; /* a run after this one goes on here */
    else if (ran == L0_RAN_ENDED)
        vm->cur = (i + 1) % vm->n;
    now = cpu_host_tsc(cpu);
    if (now > vm->clock)
        vm->clock = now;
    return ran;
}

/* The counters a run reports, summed over the vCPUs. */
static void counters(const struct l0_vm *vm, uint64_t c[3])
{
    c[0] = c[1] = c[2] = 0;
    for (unsigned i = 0; i < vm->n; i++) {
        const struct cpu *cpu = vm->vcpus[i].cpu;
        c[0] += cpu->insns;
        c[1] += cpu->rep_elems;
        c[2] += cpu->events;
    }
}

/* Turns until the run ends, from where the last run left off. */
static void rounds(struct l0_vm *vm, struct svmsim_end *end)
{
    unsigned idle = 0; /* turns in a row in which the vCPU only waited */
    for (unsigned i = vm->cur;; i = (i + 1) % vm->n) {
        enum l0_ran r = turn(vm, i, end);
        if (r == L0_RAN_ENDED)
            return;
        idle = r == L0_RAN_IDLE ? idle + 1 : 0;
        if (idle < vm->n)
            continue;
        /* Every vCPU waits: time passes to the first timer that may wake
         * one; if there is none, nothing ever will. */
        uint64_t due = first_useful_timer(vm);
        if (!due) {
            vm->cur = 0;
            l0_end_waiting(&vm->vcpus[0], vm->n);
            return;
        }
        if (due > vm->clock)
            vm->clock = due;
        idle = 0;
    }
}

int l0_vm_run(struct l0_vm *vm, struct svmsim_end *end)
{
    uint64_t before[3], after[3];
    counters(vm, before);
    rounds(vm, end);
    for (unsigned i = 0; i < vm->n; i++)
        l0_trace_flush(&vm->vcpus[i]); /* the records of vCPUs that wait */
    counters(vm, after);
    end->insns = after[0] - before[0];
    end->rep_elements = after[1] - before[1];
    end->events = after[2] - before[2];
    return end->status;
}

/* ---- INIT and SIPI */

static void seg_init(struct vmcb_seg *s, uint16_t sel, uint64_t base, uint16_t attrib)
{
    s->selector = sel;
    s->base = base;
    s->limit = 0xffff;
    s->attrib = attrib;
}

void l0_vcpu_init(struct l0 *l0)
{
    l0_sync(l0);
    l0_irq_window_close(l0);
    nested_svm_leave(l0);
    l0->exception.pending = false;
    l0->interrupted.valid = false;
    l0->triple_fault = false;
    l0->nmi_masked = false;
    l0->awaiting_iret = false;
    l0->halted = false;
    l0->gif = true;
    l0->efer_svme = 0;
    struct vmcb *v = l0->vmcb01;
    vmcb_clr_intercept(&v->control, SVM_EXIT_IRET);
    v->control.event_inj = 0;
    v->control.int_ctl &= ~(SVM_INT_CTL_VIRQ_BITS | SVM_INT_CTL_V_TPR_MASK);
    /* Table 14-1: real mode at F000:FFF0 (CS base FFFF0000h), the other
     * segments at 0 with 64 KiB limits, the descriptor tables likewise,
     * CR0 60000010h (CD, NW, ET), CR2-CR4 and EFER 0 (L0 keeps SVME on
     * in the VMCB), RFLAGS 2, DR6/DR7 at reset, DR0-3 0, the GPRs 0 but
     * EDX, which holds the processor's signature. PAT and the other MSRs
     * in the save area (STAR, LSTAR, SYSENTER_*, KernelGSBase...) keep
     * their values. */
    v->control.int_state = 0;
    struct vmcb_save_area *sa = &v->save;
    seg_init(&sa->cs, 0xf000, 0xffff0000ull, 0x9b);
    seg_init(&sa->ss, 0, 0, 0x93);
    seg_init(&sa->ds, 0, 0, 0x93);
    seg_init(&sa->es, 0, 0, 0x93);
    seg_init(&sa->fs, 0, 0, 0x93);
    seg_init(&sa->gs, 0, 0, 0x93);
    seg_init(&sa->gdtr, 0, 0, 0);
    seg_init(&sa->idtr, 0, 0, 0);
    seg_init(&sa->ldtr, 0, 0, 0x82);
    seg_init(&sa->tr, 0, 0, 0x83);
    sa->cpl = 0;
    sa->cr0 = X86_CR0_CD | X86_CR0_NW | X86_CR0_ET;
    sa->cr2 = sa->cr3 = sa->cr4 = 0;
    sa->rsp = sa->rax = 0;
    sa->efer = X86_EFER_SVME;
    sa->rflags = X86_RFLAGS_FIXED;
    sa->rip = 0xfff0;
    sa->dr6 = 0xffff0ff0;
    sa->dr7 = 0x400;
    struct cpu *cpu = l0->cpu;
    memset(cpu->gpr, 0, sizeof(cpu->gpr));
    memset(cpu->dr, 0, 4 * sizeof(cpu->dr[0]));
    uint32_t sig[4];
    cpu_cpuid(cpu, 1, 0, sig);
    cpu->gpr[VCPU_REGS_RDX] = sig[0];
    gp_intercept_update(l0);
    lapic_init_reset(&l0->lapic);
    l0->mp_state = lapic_get_base(&l0->lapic) & LAPIC_BASE_BSP ? L0_MP_RUNNABLE
                                                               : L0_MP_WAIT_SIPI;
}

void l0_vcpu_sipi(struct l0 *l0, unsigned v)
{
    struct vmcb_save_area *sa = &l0->vmcb01->save;
    l0_sync(l0);
    sa->cs.selector = (uint16_t)(v << 8);
    sa->cs.base = (uint64_t)v << 12;
    sa->rip = 0;
    l0->mp_state = L0_MP_RUNNABLE;
}
