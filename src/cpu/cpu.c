/* cpu.c — creating the CPU and running a VMCB on it.
 *
 * Owns: cpu_init/cpu_fini, cpu_run (the host's VMRUN: load the save area,
 * apply TLB control and EVENTINJ, execute, store state and the exit), the
 * CPUID the hardware reports, and the time stamp counter.
 * Must not: include hv/ headers.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"
#include "svm/svm.h"
#include "svmsim/arch/svm_exit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* The block table and the instruction arena are megabytes of which a run
 * touches what it decodes: anonymous pages, zero and reserved lazily, with
 * an inaccessible page after each so an overrun faults at once. */
static size_t table_span(size_t bytes)
{
    return (bytes + 4095) & ~(size_t)4095;
}

static void *table_alloc(size_t bytes)
{
    size_t span = table_span(bytes);
    uint8_t *p = mmap(NULL, span + 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p + span, 4096, PROT_NONE) != 0) {
        munmap(p, span + 4096);
        return NULL;
    }
    return p;
}

static void table_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, table_span(bytes) + 4096);
}

#define BLOCK_TABLE_BYTES ((size_t)BLOCK_SETS * BLOCK_WAYS * sizeof(struct block))
#define ARENA_BYTES ((size_t)BLOCK_ARENA * sizeof(struct insn))

int cpu_init(struct cpu *cpu, struct gmem *mem, const struct cpu_model *model)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu->mem = mem;
    cpu->model = *model;
    cpu->sibling = cpu;
    cpu->blocks = table_alloc(BLOCK_TABLE_BYTES);
    cpu->arena = table_alloc(ARENA_BYTES);
    if (!cpu->blocks || !cpu->arena) {
        cpu_fini(cpu);
        return -1;
    }
    cpu->gen_next = 1;
    cpu->jit_off = model->no_jit;
    icache_flush_all(cpu);
    if (decode_init(cpu) != 0 ||
        !ZYAN_SUCCESS(ZydisFormatterInit(&cpu->formatter, ZYDIS_FORMATTER_STYLE_INTEL))) {
        cpu_fini(cpu);
        return -1;
    }
    tlb_flush_all(cpu);
    cpu->gif = true;
    cpu_set_npt_host(cpu, X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE, X86_CR4_PAE);
    return 0;
}

void cpu_share_memory(struct cpu *cpu, struct cpu *other)
{
    cpu->sibling = other->sibling;
    other->sibling = cpu;
}

void cpu_fini(struct cpu *cpu)
{
    if (cpu->sibling) { /* leaves the ring */
        struct cpu *prev = cpu;
        while (prev->sibling != cpu)
            prev = prev->sibling;
        prev->sibling = cpu->sibling;
        cpu->sibling = cpu;
    }
    table_free(cpu->blocks, BLOCK_TABLE_BYTES);
    table_free(cpu->arena, ARENA_BYTES);
    jit_fini(cpu);
    cpu->blocks = NULL;
    cpu->arena = NULL;
}

uint64_t cpu_host_tsc(const struct cpu *cpu)
{
    if (cpu->model.deterministic)
        return cpu->insns * 4 + cpu->tsc_skip; /* a nominal 4 cycles per instruction */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + cpu->tsc_skip; /* 1 GHz */
}

void cpu_kick(struct cpu *cpu)
{
    cpu->intr_line = true;
    cpu_set_slow(cpu, true);
    code_epoch_next(cpu); /* run_blocks leaves the block after this instruction */
}

static void cpuid_vendor(uint32_t out[4])
{
    out[1] = 0x68747541; /* "Auth" */
    out[3] = 0x69746e65; /* "enti" */
    out[2] = 0x444d4163; /* "cAMD" */
}

void cpu_cpuid(const struct cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    memset(out, 0, 4 * sizeof(uint32_t));
    switch (leaf) {
    case 0x00000000:
        out[0] = 0x0000000d;
        cpuid_vendor(out);
        break;
    case 0x00000001:
        out[0] = 0x00800f12; /* family 17h */
        out[1] = 0x00000800; /* CLFLUSH line size 64 */
        out[2] = (1u << 13) | (1u << 23); /* CMPXCHG16B, POPCNT */
        out[3] = (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) |
                 (1u << 13) | (1u << 15) | (1u << 16); /* PSE TSC MSR PAE CX8 APIC PGE CMOV PAT */
        break;
    case 0x00000007:
        if (subleaf == 0)
            out[1] = 1u << 7; /* SMEP */
        break;
    case 0x80000000:
        out[0] = 0x8000000a;
        cpuid_vendor(out);
        break;
    case 0x80000001:
        out[0] = 0x00800f12;
        out[2] = (1u << 0) | (1u << 2) | (1u << 5); /* LAHF/SAHF, SVM, ABM (LZCNT) */
        out[3] = (1u << 11) | (1u << 20) | (1u << 26) | (cpu->model.no_rdtscp ? 0 : 1u << 27) |
                 (1u << 29); /* SYSCALL, NX, 1 GiB pages, RDTSCP, LM */
        break;
    case 0x80000008:
        out[0] = cpu->model.maxphyaddr | (48u << 8);
        break;
    case 0x8000000a:
        out[0] = 1;          /* SVM revision */
        out[1] = 16;         /* number of ASIDs */
        out[3] = CPUID_SVM_LBRV | CPUID_SVM_PAUSE_FILTER | CPUID_SVM_PF_THRESHOLD | CPUID_SVM_VGIF |
                 (cpu->model.np ? CPUID_SVM_NPT : 0) | (cpu->model.gmet ? CPUID_SVM_GMET : 0) |
                 (cpu->model.vls ? CPUID_SVM_VLS : 0) |
                 (cpu->model.nrips ? CPUID_SVM_NRIPS : 0) |
                 (cpu->model.svme_addr_chk ? CPUID_SVM_SVME_ADDR_CHK : 0);
        break;
    default:
        break;
    }
}

static int inject_event(struct cpu *cpu, struct vmcb *vmcb)
{
    uint32_t ev = vmcb->control.event_inj;
    vmcb->control.event_inj = 0;
    unsigned vector = ev & SVM_EVTINJ_VEC_MASK;
    bool has_err = ev & SVM_EVTINJ_VALID_ERR;
    uint32_t err = vmcb->control.event_inj_err;
    enum event_kind kind;
    /* A software interrupt returns past the INT that raised it: with NRIPS
     * that is next_rip (APM vol. 2 §15.20); otherwise the current RIP. */
    uint64_t return_rip = cpu->rip;
    switch (ev & SVM_EVTINJ_TYPE_MASK) {
    case SVM_EVTINJ_TYPE_INTR: kind = EV_EXT_INT; break;
    case SVM_EVTINJ_TYPE_NMI: kind = EV_NMI; vector = X86_VEC_NMI; break;
    case SVM_EVTINJ_TYPE_SOFT:
        kind = EV_SOFT_INT;
        if (cpu->model.nrips && vmcb->control.next_rip)
            return_rip = vmcb->control.next_rip;
        break;
    default: kind = EV_EXCEPTION; break;
    }
    cpu->next_rip = cpu->rip;
    return event_inject(cpu, kind, vector, has_err, err, return_rip);
}

void cpu_svm_check_model(const struct cpu *cpu, struct svm_check_model *m)
{
    m->maxphyaddr = cpu->model.maxphyaddr;
    m->cr4_valid = CPU_CR4_VALID;
    m->efer_valid = CPU_EFER_VALID;
    m->np = cpu->model.np;
}

/* Makes context idx the running one. */
static void context_switch(struct cpu *cpu, unsigned idx)
{
    cpu->context = idx;
    cpu->tlb_ctx = (uint64_t)idx << 2;
    cpu->tlb_salt = idx * 0x93u;
    cpu->tlb_mix = cpu->tlb_salt << 12;
    cpu->tlb_bits = cpu->tlb_ctx | cpu->user;
    cpu->icache_gen = cpu->contexts[idx].gen;
    code_epoch_next(cpu);
}

/* The nested paging vmcb asks for, as the CPU runs it: nested paging on
 * (offered and enabled), nCR3, and GMET (offered, and enabled with nested
 * paging). The context_enter below keys translation contexts by these. */
static void npt_load(struct cpu *cpu, const struct vmcb *vmcb)
{
    cpu->npt = cpu->model.np && (vmcb->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE);
    cpu->ncr3 = vmcb->control.nested_cr3;
    cpu->npt_gmet =
        cpu->npt && cpu->model.gmet && (vmcb->control.nested_ctl & SVM_NESTED_CTL_GMET);
}

/* The hardware's ASID handling at VMRUN (APM vol. 2 §15.16): the VMCB's
 * ASID selects a context; its TLB entries and decodes survive unless the
 * paging state differs from what they were filled under, or TLB_CONTROL
 * asks for a flush (1: everything, 3 and 7: this ASID). The least recently
 * used context makes room for a new ASID. */
struct paging_regs {
    uint64_t cr0, cr3, cr4, efer;
};

/* A translation context's key, but for the ASID: the paging state its
 * translations and decoded blocks were made under. */
struct context_key {
    uint64_t ncr3, nefer, ncr4;
    bool gmet;
};

static bool context_keyed(const struct cpu_context *c, const struct paging_regs *s,
                          const struct context_key *k)
{
    return c->cr0 == s->cr0 && c->cr3 == s->cr3 && c->cr4 == s->cr4 && c->efer == s->efer &&
           c->ncr3 == k->ncr3 && c->gmet == k->gmet && c->nefer == k->nefer &&
           c->ncr4 == k->ncr4;
}

static void context_enter(struct cpu *cpu, const struct vmcb *vmcb, const struct paging_regs *s)
{
    uint32_t asid = vmcb->control.asid;
    const struct context_key k = { /* npt_load first */
        .ncr3 = cpu->npt ? cpu->ncr3 : ~0ull,
        .nefer = cpu->npt ? cpu->npt_hefer : ~0ull,
        .ncr4 = cpu->npt ? cpu->npt_hcr4 : ~0ull,
        .gmet = cpu->npt_gmet,
    };
    struct cpu_context *cur = &cpu->contexts[cpu->context];
    if (cur->valid && cur->asid == asid && !vmcb->control.tlb_ctl && context_keyed(cur, s, &k)) {
        cur->last_used = ++cpu->runs; /* the running context, as it was: nothing to do */
        return;
    }
    unsigned idx = CPU_CONTEXTS, victim = 0;
    for (unsigned i = 0; i < CPU_CONTEXTS; i++) {
        const struct cpu_context *c = &cpu->contexts[i];
        if (c->valid && c->asid == asid) {
            idx = i;
            break;
        }
        if (!c->valid || (cpu->contexts[victim].valid &&
                          c->last_used < cpu->contexts[victim].last_used))
            victim = i;
    }
    bool fresh = idx == CPU_CONTEXTS;
    if (fresh)
        idx = victim;
    context_switch(cpu, idx);
    struct cpu_context *c = &cpu->contexts[idx];
    if (vmcb->control.tlb_ctl == 1) {
        tlb_flush_all(cpu);
        icache_flush_all(cpu);
    } else if (fresh || vmcb->control.tlb_ctl || !context_keyed(c, s, &k)) {
        tlb_flush(cpu);
        icache_flush(cpu);
    }
    c->valid = true;
    c->asid = asid;
    c->cr0 = s->cr0;
    c->cr3 = s->cr3;
    c->cr4 = s->cr4;
    c->efer = s->efer;
    c->ncr3 = k.ncr3;
    c->nefer = k.nefer;
    c->ncr4 = k.ncr4;
    c->gmet = k.gmet;
    c->last_used = ++cpu->runs;
}

/* After a run: the context now holds what the guest left in its registers
 * (a change during the run flushed it then). */
static void context_leave(struct cpu *cpu)
{
    struct cpu_context *c = &cpu->contexts[cpu->context];
    c->cr0 = cpu->cr0;
    c->cr3 = cpu->cr3;
    c->cr4 = cpu->cr4;
    c->efer = cpu->efer;
}

static void checked_record(struct cpu *cpu, const struct vmcb_save_area *s)
{
    cpu->checked = (struct cpu_checked){ .cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4,
                                         .efer = s->efer, .dr6 = s->dr6, .dr7 = s->dr7,
                                         .cs_attrib = s->cs.attrib };
}

/* Whether the CPU's state is what VMRUN's save-area checks last passed. */
static bool checked_still(const struct cpu *cpu)
{
    const struct cpu_checked *k = &cpu->checked;
    return k->cr0 == cpu->cr0 && k->cr3 == cpu->cr3 && k->cr4 == cpu->cr4 &&
           k->efer == cpu->efer && k->dr6 == cpu->dr[6] && k->dr7 == cpu->dr[7] &&
           k->cs_attrib == cpu->seg[SEG_CS].attrib;
}

/* VMRUN's consistency checks, save area first (SPEC-GP.md §4.1). Resuming
 * the held VMCB, its save area is the CPU's own state: checked again only
 * if it differs from what the last VMRUN passed. */
static bool vmrun_checks_pass(struct cpu *cpu, const struct vmcb *vmcb, bool resume)
{
    struct svm_check_model m;
    cpu_svm_check_model(cpu, &m);
    if (!resume) {
        if (svm_check_vmrun(&vmcb->control, &vmcb->save, &m) != SVM_CHECK_OK)
            return false;
        checked_record(cpu, &vmcb->save);
        return true;
    }
    if (!checked_still(cpu)) {
        struct vmcb_save_area s;
        svm_store_save_area(cpu, &s);
        if (svm_check_save(&s, &m) != SVM_CHECK_OK)
            return false;
        checked_record(cpu, &s);
    }
    return svm_check_control(&vmcb->control, &m) == SVM_CHECK_OK;
}

/* VMRUN's consistency checks failed: the guest is not entered. */
static enum cpu_run_result vmrun_fail(struct cpu *cpu, struct vmcb *vmcb)
{
    struct vmcb_control_area *c = &vmcb->control;
    c->exit_code = SVM_EXIT_ERR;
    c->exit_info_1 = 0;
    c->exit_info_2 = 0;
    c->exit_int_info = 0;
    c->exit_int_info_err = 0;
    c->next_rip = 0;
    return CPU_RUN_VMEXIT;
}

void cpu_sync_save_area(struct cpu *cpu)
{
    struct vmcb *vmcb = cpu->held;
    if (!vmcb)
        return;
    cpu->held = NULL;
    svm_load_hot(cpu, &vmcb->save); /* what the caller wrote there wins */
    flags_get(cpu);
    svm_store_save_area(cpu, &vmcb->save);
}

/* Entering vmcb: all of its save area, or, when the CPU holds it, the hot
 * fields the caller may have changed. */
static void enter_state(struct cpu *cpu, struct vmcb *vmcb, bool resume, unsigned context)
{
    if (!resume) {
        svm_load_save_area(cpu, &vmcb->save); /* it recomputes the mode */
        return;
    }
#ifdef SVMSIM_CHECKS
    if (!svm_held_untouched(cpu, &vmcb->save))
        abort(); /* the caller broke cpu_run's contract: see cpu.h */
#endif
    svm_load_hot(cpu, &vmcb->save);
    if (cpu->context != context)
        cpu_update_mode(cpu); /* the new context checks its code base */
}

/* The exit half: everything, or, holding the rest, the hot fields. */
static void leave_state(struct cpu *cpu, struct vmcb *vmcb)
{
    if (!cpu->hold_state) {
        flags_get(cpu);
        svm_store_save_area(cpu, &vmcb->save);
        return;
    }
    svm_store_hot(cpu, &vmcb->save);
    cpu->held = vmcb;
#ifdef SVMSIM_CHECKS
    svm_poison_held(&vmcb->save);
#endif
}

#ifdef SVMSIM_CHECKS
/* Whether a fast-exit handler left the control area as it found it (the
 * interrupt shadow aside, when it handled the exit). */
static bool control_kept(const struct vmcb_control_area *before,
                         const struct vmcb_control_area *after, bool handled)
{
    struct vmcb_control_area a = *after;
    if (handled)
        a.int_state = before->int_state;
    return memcmp(before, &a, sizeof(a)) == 0;
}
#endif

/* The exit the CPU just took, as cpu_run returns it: the save area (or
 * its hot fields), the interrupt shadow and the exit in the control area. */
static void record_exit(struct cpu *cpu, struct vmcb *vmcb)
{
    leave_state(cpu, vmcb);
    vmcb->control.int_state = cpu->int_shadow ? SVM_INT_STATE_SHADOW : 0;
    vmcb->control.int_ctl = (vmcb->control.int_ctl & ~SVM_INT_CTL_WRITTEN) |
                            (cpu->int_ctl & SVM_INT_CTL_WRITTEN);
    if (!cpu->exited)
        return;
    vmcb->control.exit_code = cpu->exit.code;
    vmcb->control.exit_info_1 = cpu->exit.info1;
    vmcb->control.exit_info_2 = cpu->exit.info2;
    vmcb->control.exit_int_info = cpu->exit.int_info;
    vmcb->control.exit_int_info_err = cpu->exit.int_info_err;
    vmcb->control.next_rip = cpu->exit.next_rip;
}

/* A handler resumed in place: what VMRUN of the held VMCB would do now
 * that it changed only the hot registers and the shadow. False when the
 * full VMRUN must run instead: the budget is spent (the caller makes the
 * limit check) or the save-area checks need making. */
static bool fast_resume(struct cpu *cpu, struct vmcb *vmcb, uint64_t spent)
{
    cpu->budget -= (int64_t)spent;
    if (cpu->budget <= 0 || !checked_still(cpu))
        return false;
    cpu->held = NULL;
    cpu->exited = false;
    cpu->int_shadow = vmcb->control.int_state & SVM_INT_STATE_SHADOW;
#ifdef SVMSIM_CHECKS
    if (!svm_held_untouched(cpu, &vmcb->save))
        abort(); /* the handler broke the contract: see cpu.h */
#endif
    svm_load_hot(cpu, &vmcb->save);
    return true;
}

bool cpu_offer_exit(struct cpu *cpu)
{
    struct vmcb *vmcb = cpu->vmcb;
    record_exit(cpu, vmcb);
    cpu->recorded = CPU_RUN_VMEXIT;
    if (cpu->held != vmcb)
        return false;
    uint64_t work = cpu_work(cpu);
#ifdef SVMSIM_CHECKS
    struct vmcb_control_area before = vmcb->control;
#endif
    enum cpu_fast f = cpu->fast_exit.handle(cpu->fast_exit.opaque);
#ifdef SVMSIM_CHECKS
    if (f != CPU_FAST_RETURN && !control_kept(&before, &vmcb->control, f == CPU_FAST_RESUME))
        abort(); /* the handler broke the contract: see cpu.h */
#endif
    if (f == CPU_FAST_DECLINE)
        return false;
    cpu->recorded = CPU_RUN_HANDLED;
    if (f != CPU_FAST_RESUME || cpu->held != vmcb ||
        !fast_resume(cpu, vmcb, cpu_work(cpu) - work))
        return false;
    cpu->recorded = CPU_RUN_NONE; /* running on: nothing recorded */
    return true;
}

/* Whether cpu_exec stopped for its budget alone (not an exit, a fast exit
 * returned, or a halt). */
static bool stopped_for_budget(const struct cpu *cpu)
{
    return !cpu->exited && cpu->recorded == CPU_RUN_NONE && !cpu->halted;
}

/* Instructions the CPU may run before the host TSC reaches the host timer:
 * exact under --deterministic (4 ticks each, cpu_host_tsc); on the wall
 * clock at most one per nanosecond and 64 Ki at a time, so that the clock is
 * looked at again in good time. At least 1. */
static uint64_t insns_to_timer(const struct cpu *cpu, uint64_t now)
{
    uint64_t ticks = cpu->host_timer - now;
    if (cpu->model.deterministic)
        return (ticks + 3) / 4;
    return ticks < 65536 ? (ticks ? ticks : 1) : 65536;
}

/* cpu_exec in slices that end where the host timer is due, raising the INTR
 * line there. Work counts more than instructions (REP elements, events) but
 * the clock only instructions, so a slice may end early: the next one goes
 * on from the clock. */
static void exec_timed(struct cpu *cpu)
{
    for (bool entry = true;; entry = false) {
        /* keep: budget held back for after the slice; kick: raise the line
         * once the slice (one instruction) is done. */
        int64_t total = cpu->budget, keep = 0;
        bool kick = false;
        if (unlikely(cpu->host_timer)) {
            uint64_t now = cpu_host_tsc(cpu);
            if (now >= cpu->host_timer) {
                /* Due already at entry (on the wall clock a timer can be
                 * faster than the host runs the guest): one instruction
                 * first, so that the guest always goes on between two of
                 * its exits. Due during the run: the line rises now. */
                cpu->host_timer = 0;
                if (entry && total > 1) {
                    keep = total - 1;
                    kick = true;
                } else {
                    cpu_kick(cpu);
                }
            } else {
                int64_t slice = (int64_t)insns_to_timer(cpu, now); /* < 2^62 */
                keep = slice < total ? total - slice : 0;
            }
        }
        cpu->budget = total - keep;
        cpu_exec(cpu); /* offers exits to fast_exit (cpu_offer_exit) */
        cpu->budget += keep;
        if (!keep || !stopped_for_budget(cpu))
            return;
        if (kick)
            cpu_kick(cpu);
    }
}

enum cpu_run_result cpu_run(struct cpu *cpu, struct vmcb *vmcb, const uint8_t *iopm,
                            const uint8_t *msrpm, uint64_t *budget)
{
    bool resume = cpu->held == vmcb;
    if (!resume)
        cpu_sync_save_area(cpu);
    if (!vmrun_checks_pass(cpu, vmcb, resume))
        return vmrun_fail(cpu, vmcb);
    cpu->held = NULL;
    cpu->vmcb = vmcb;
    cpu->iopm = iopm;
    cpu->msrpm = msrpm;
    memcpy(cpu->intercepts, vmcb->control.intercepts, sizeof(cpu->intercepts));
    cpu->pause_count = vmcb->control.pause_filter_count;
    cpu->pause_thresh = vmcb->control.pause_filter_thresh;
    if (cpu->pause_thresh) /* the clock costs a system call on the wall clock */
        cpu->pause_last = cpu_host_tsc(cpu);
    cpu->exited = false;
    cpu->recorded = CPU_RUN_NONE;
    unsigned context = cpu->context;
    const struct vmcb_save_area *sa = &vmcb->save;
    struct paging_regs paging = resume ? (struct paging_regs){ cpu->cr0, cpu->cr3, cpu->cr4,
                                                               cpu->efer }
                                       : (struct paging_regs){ sa->cr0, sa->cr3, sa->cr4,
                                                               sa->efer };
    npt_load(cpu, vmcb);
    context_enter(cpu, vmcb, &paging);
    cpu->int_shadow = vmcb->control.int_state & SVM_INT_STATE_SHADOW;
    cpu->int_ctl = vmcb->control.int_ctl;
    cpu->int_vector = (uint8_t)vmcb->control.int_vector;
    cpu->tsc_offset = vmcb->control.tsc_offset;
    enter_state(cpu, vmcb, resume, context); /* last: the mode depends on all above */

    /* The budget is this run's from here: the injected event is charged
     * against it too. */
    cpu->budget = *budget < INT64_MAX ? (int64_t)*budget : INT64_MAX;
    if (vmcb->control.event_inj & SVM_EVTINJ_VALID)
        inject_event(cpu, vmcb);

    if (!cpu->exited)
        exec_timed(cpu);
    *budget = cpu->budget > 0 ? (uint64_t)cpu->budget : 0;
    enum cpu_run_result rr = cpu->recorded;
    if (rr == CPU_RUN_NONE) {
        record_exit(cpu, vmcb);
        rr = cpu->exited ? CPU_RUN_VMEXIT : cpu->halted ? CPU_RUN_HALTED : CPU_RUN_BUDGET;
    }
    cpu->halted = false;
    context_leave(cpu);
    return rr;
}
