/* hv.h — L0, the hypervisor (a model of KVM on AMD).
 *
 * Owns: vmcb01 (L1's VMCB), vmcb02 (the VMCB L0 runs L2 with) and the cached
 * vmcb12 (L1's VMCB for L2, as KVM's svm->nested.ctl/save), the permission
 * maps L0 runs guests with, the guest-visible MSR state KVM keeps apart from
 * the VMCB (EFER.SVME, VM_HSAVE_PA, VM_CR), the exit-handler table, event
 * injection, and the trace records of its decisions.
 * Must not: decode instruction bytes itself (it asks src/cpu's decoder, as
 * KVM asks its emulator), or reach into devices: port I/O goes out through
 * the pio callback, as KVM passes KVM_EXIT_IO to userspace.
 *
 * Levels: l0->vmcb is the VMCB now running — vmcb01 while L1 runs,
 * vmcb02 while L2 runs (is_guest_mode). Exit handlers act on l0->vmcb, the
 * level that exited; code that means one level names vmcb01 or vmcb02.
 * GPRs other than RAX and RSP live in the CPU and are shared by the levels,
 * as the hardware shares them.
 */
#ifndef SVMSIM_HV_H
#define SVMSIM_HV_H

#include "hv/lapic.h"
#include "cpu/cpu.h"
#include "svm/svm.h"
#include "svmsim/svmsim.h"

struct l0_io {
    /* Port I/O passed out to the VMM; returns false if no device claimed it.
     * *name receives the device's name for the trace ("unclaimed" if none). */
    bool (*pio)(void *opaque, uint16_t port, unsigned size, bool is_in, uint32_t *value,
                const char **name);
    /* Optional (NULL: no device does). A whole INS/OUTS string passed out
     * at once, to a port whose device takes one (the VMware backdoor's
     * high-bandwidth port): buf holds count elements of size bytes in the
     * order they cross the port (OUTS: gathered by L0; INS: filled here,
     * all of it), the registers as the instruction found them. With count
     * 0 it only asks. Returns false, having done nothing, if the port's
     * device takes no strings: L0 then passes the string to pio element by
     * element. *name as for pio. */
    bool (*pio_string)(void *opaque, uint16_t port, unsigned size, bool is_in, uint8_t *buf,
                       uint64_t count, const char **name);
    /* Optional (NULL: nothing there). Physical accesses of 1-8 bytes outside
     * RAM that L0's own devices (the local APIC) do not claim, passed out
     * as KVM's KVM_EXIT_MMIO; a read nobody claims is all ones. */
    uint64_t (*mmio_read)(void *opaque, uint64_t pa, unsigned size);
    void (*mmio_write)(void *opaque, uint64_t pa, unsigned size, uint64_t value);
    /* After each I/O: has the VMM ended the run (exit port)? Fills end. */
    bool (*ended)(void *opaque, struct svmsim_end *end);
    /* After each exit: has the VMM stopped the run (an output failed)?
     * Fills end. */
    bool (*stopped)(void *opaque, struct svmsim_end *end);
    /* Optional: flags that the VMM sets before ended/stopped can say yes;
     * while one is false L0 does not ask (it asks after every exit). */
    const bool *ended_hint, *stopped_hint;
    void *opaque;
};

/* Nested state (KVM's struct svm_nested_state). */
struct nested_state {
    bool guest_mode;                 /* L2 runs on vmcb02 */
    uint64_t vmcb12_gpa;
    struct vmcb_control_area ctl;    /* vmcb12's control area, cached at VMRUN */
    struct vmcb_save_area save;      /* vmcb12's save area, cached at VMRUN */
};

/* An exception queued for the running guest (KVM's vcpu->arch.exception):
 * delivered through EVENTINJ at the next entry, or, when L2 runs and L1
 * intercepts the vector, as a #VMEXIT to L1 (decided when it is queued, as
 * KVM morphs it into a pending #VMEXIT). */
struct queued_exception {
    bool pending;
    bool vmexit;                     /* becomes #VMEXIT(0x40 + vector) to L1 */
    uint8_t vector;
    bool has_error;
    uint32_t error;
    bool has_payload;                /* #PF: CR2 */
    uint64_t payload;
};

/* The event the guest was delivering when an exit L0 handles came
 * (EXITINTINFO): given back to the guest at the next entry unless an
 * exception queued on top of it merges with it (KVM's
 * svm_complete_interrupts and kvm_multiple_exception). */
struct interrupted_event {
    bool valid;
    uint32_t info;                   /* EVENTINJ format */
    uint32_t error;
};

/* The machine-check banks of a vCPU whose VMM never set up MCE
 * (KVM_X86_SETUP_MCE): KVM's KVM_MAX_MCE_BANKS, reported in MCG_CAP. */
#define KVM_MAX_MCE_BANKS 32

struct l0;
typedef int (*exit_handler)(struct l0 *l0);

/* The vCPUs of one VM (KVM's struct kvm) and the scheduler that runs them
 * in one thread (vm.c): each vCPU an L0 on its own CPU, the CPUs sharing
 * the VM's memory. Round robin in slices of L0_VM_SLICE units of work;
 * a vCPU that waits (HLT, wait-for-SIPI) gives its turn up. One clock:
 * each vCPU's host TSC is brought up to the VM's when its turn comes, and
 * when every vCPU waits, the clock moves to the first APIC timer that
 * could wake one. So a --deterministic run is the same run every time. */
struct l0_vm {
    struct l0 *vcpus;          /* n of them; vcpus[0] is the BSP */
    unsigned n;
    unsigned cur;              /* the vCPU whose turn it is */
    uint64_t turn_left;        /* what a run that ended left of cur's turn */
    uint64_t clock;            /* the latest host TSC a vCPU has shown */
    uint64_t max_insns;        /* the run's bound on all vCPUs' work; 0: none */
    uint64_t trace_seq;        /* trace records, numbered across vCPUs */
};
#define L0_VM_SLICE 20000u

/* A vCPU's multiprocessor state (KVM's mp_state): running, or waiting for
 * a SIPI (an AP from reset, any vCPU after INIT but the BSP). */
enum l0_mp_state { L0_MP_RUNNABLE, L0_MP_WAIT_SIPI };

/* What --semantics chooses, once (semantics.c, SPEC-GP.md §0). */
struct l0_semantics {
    const char *name;                     /* as traces name it: "kvm-7.1", ... */
    exit_handler gp_interception;         /* the #GP path: §2.2 or §2.3 */
    /* §2.2 step 3c: an L2 SVM instruction that passed steps 3a and 3b */
    int (*nested_svm_insn)(struct l0 *l0, uint64_t exit_code);
    bool truncate_rax;                    /* handlers ignore RAX[63:32] outside 64-bit mode */
    bool unbacked_is_emulation_failure;   /* §3.2 step 4; else #GP(0) */
};
const struct l0_semantics *l0_semantics_of(enum svmsim_semantics s);

struct l0 {
    struct cpu *cpu;
    struct l0_vm *vm;          /* the VM's vCPUs; NULL: this one alone */
    unsigned vcpu_id;          /* its index in vm->vcpus, and its APIC ID */
    enum l0_mp_state mp_state;
    bool timer_futile;         /* its timer expired while it waited and did not wake it */
    const struct l0_semantics *sem;
    struct vmcb *vmcb01;       /* page-aligned, L0-owned */
    struct vmcb *vmcb02;       /* page-aligned, L0-owned */
    struct vmcb *vmcb;         /* the VMCB now running: vmcb01 or vmcb02 */
    uint8_t *iopm;             /* SVM_IOPM_SIZE bytes, all intercepted */
    uint8_t *msrpm;            /* SVM_MSRPM_SIZE bytes, all intercepted */
    struct nested_state nested;
    struct queued_exception exception;
    struct interrupted_event interrupted;
    bool triple_fault;               /* an exception on top of a #DF */

    /* guest-visible state KVM keeps outside the VMCB */
    uint64_t efer_svme;        /* X86_EFER_SVME if L1 set it */
    uint64_t vm_hsave_pa;
    uint64_t vm_cr;
    uint64_t tsc_aux;
    uint64_t tsc_adjust;       /* IA32_TSC_ADJUST (msr.c) */
    bool gif;
    struct lapic lapic;              /* lapic.c */
    /* irq.c */
    struct vmcb *irq_window;         /* the VMCB L0's interrupt window is open on */
    bool nmi_masked;                 /* an NMI was injected; its IRET not yet done */
    bool awaiting_iret;              /* that IRET exited at nmi_iret_rip, to run alone */
    uint64_t nmi_iret_rip;
    bool halted;                     /* HLT: waiting for an interrupt */
    uint64_t entry_budget;           /* the next entry's most work; 0: no cap */
    uint64_t perf_legacy[8];         /* the K7 PMU: PERF_CTL0-3, PERF_CTR0-3 */
    uint64_t misc_enable;            /* IA32_MISC_ENABLE, as KVM keeps it */
    uint64_t msr_hwcr;               /* MSR_K7_HWCR: McStatusWrEn, TscFreqSel (msr.c) */
    uint64_t mcg_status;             /* IA32_MCG_STATUS (msr.c) */
    uint64_t mce_banks[KVM_MAX_MCE_BANKS * 4]; /* per bank: MCi_CTL, _STATUS, _ADDR, _MISC */

    struct svmsim_config cfg;
    struct l0_io io;

    /* the run in progress */
    struct svmsim_end *end;
    uint64_t max_insns;        /* 0 = unlimited */
    uint64_t own_trace_seq;    /* trace numbering without a VM */
    bool rec_pending;          /* rec waits for the next entry's decisions */
    struct svmsim_trace_record rec; /* the record of the exit being handled */
    char dump[4096];           /* rec.vmcb_dump's text */
    bool tracing;
    int fast_resume;                 /* what the last fast exit's handling returned */
};

int l0_init(struct l0 *l0, struct cpu *cpu, const struct svmsim_config *cfg,
            const struct l0_io *io);
void l0_fini(struct l0 *l0);
/* How l0_run gave the CPU back. */
enum l0_ran {
    L0_RAN_ENDED,     /* the run ended: *end filled */
    L0_RAN_YIELDED,   /* the slice is spent, or the vCPU ran and then waited */
    L0_RAN_IDLE,      /* it waits (HLT, wait-for-SIPI) and has not run */
};
/* Runs the guest until the run ends, or, when slice is not 0, until it has
 * done slice units of work or waits (the scheduler's turn, vm.c). Without
 * a slice a single vCPU's run ends at a wait nothing can end. The
 * counters in *end are the caller's. */
enum l0_ran l0_run(struct l0 *l0, struct svmsim_end *end, uint64_t slice);
/* Ends the run at the instruction limit (the last events named if the
 * guest was in a fault loop). */
void l0_end_budget(struct l0 *l0);
/* Writes the last exit's trace record if it still waits for the entry's
 * decisions (a waiting vCPU's, when the run ends). */
void l0_trace_flush(struct l0 *l0);
/* Ends the run of a waiting vCPU that nothing can wake (status 2). */
int l0_end_waiting(struct l0 *l0, unsigned vcpus);

/* ---- vm.c: the vCPUs */
/* Sets up n vCPUs on cpus[0..n-1] (initialised on one memory) with
 * l0s[0..n-1]: l0_init for each, APIC ID i, vCPU 0 the BSP and runnable,
 * the others waiting for INIT and SIPI. Returns 0, or -1 (out of memory;
 * what was made is undone). */
int l0_vm_init(struct l0_vm *vm, struct l0 *l0s, struct cpu *cpus, unsigned n,
               const struct svmsim_config *cfg, const struct l0_io *io);
void l0_vm_fini(struct l0_vm *vm);
/* Runs the vCPUs until the run ends; fills *end (counters over all
 * vCPUs) and returns end->status. */
int l0_vm_run(struct l0_vm *vm, struct svmsim_end *end);
/* Work done by all vCPUs (cpu_work summed). */
uint64_t l0_vm_work(const struct l0_vm *vm);
static inline struct l0 *l0_vm_current(struct l0_vm *vm)
{
    return &vm->vcpus[vm->cur];
}
/* INIT as the vCPU takes it (APM vol. 2 Table 14-1, KVM's kvm_vcpu_reset
 * for an INIT): out of guest mode, the processor's INIT state, the APIC's
 * registers reset; waiting for SIPI unless it is the BSP. */
void l0_vcpu_init(struct l0 *l0);
/* SIPI with vector v to a vCPU waiting for it: real mode at v:0000. */
void l0_vcpu_sipi(struct l0 *l0, unsigned v);
/* Units of work (cpu_work) the run may still do: for L0's own emulation of
 * a guest's work, which counts like the CPU's (REP elements of INS/OUTS). */
uint64_t l0_budget_left(const struct l0 *l0);

static inline bool is_guest_mode(const struct l0 *l0)
{
    return l0->nested.guest_mode;
}

/* Has the VMM ended (exit port) or stopped (an output failed) the run?
 * Fills end. */
static inline bool l0_io_ended(const struct l0 *l0, struct svmsim_end *end)
{
    return (!l0->io.ended_hint || *l0->io.ended_hint) && l0->io.ended(l0->io.opaque, end);
}

static inline bool l0_io_stopped(const struct l0 *l0, struct svmsim_end *end)
{
    return l0->io.stopped && (!l0->io.stopped_hint || *l0->io.stopped_hint) &&
           l0->io.stopped(l0->io.opaque, end);
}

/* The level running now: 1 or 2. */
static inline int l0_level(const struct l0 *l0)
{
    return is_guest_mode(l0) ? 2 : 1;
}

/* The EFER the running guest believes it has: L1's with the SVME bit L1
 * set; L2's as vmcb12 gave it (SVME set, or VMRUN would have failed). */
static inline uint64_t l0_guest_efer(const struct l0 *l0)
{
    if (is_guest_mode(l0))
        return l0->vmcb02->save.efer;
    return (l0->vmcb01->save.efer & ~X86_EFER_SVME) | l0->efer_svme;
}

/* The lazy world switch (cpu_run in cpu/cpu.h): after an exit the running
 * VMCB's save area holds only the hot fields (RIP, RSP, RAX, and to be
 * read, CPL, EFER, CS, CR0) until L0 syncs it. handle_exit syncs
 * before every handler but the fast ones, before injecting, and l0_run at
 * its end; so the rest of L0, the VMM and the public API see a whole save
 * area. Checking builds poison the held fields and abort at the next entry if
 * one was written. */
static inline void l0_sync(struct l0 *l0)
{
    cpu_sync_save_area(l0->cpu);
}

/* ---- register access (KVM's kvm_register_read/write, kvm_rip_read): RAX,
 * RSP and RIP live in the running VMCB's save area, the others in the CPU. */
enum { VCPU_REGS_RAX = 0, VCPU_REGS_RCX, VCPU_REGS_RDX, VCPU_REGS_RBX, VCPU_REGS_RSP,
       VCPU_REGS_RBP, VCPU_REGS_RSI, VCPU_REGS_RDI, VCPU_NR_REGS = 16 };

static inline uint64_t kvm_register_read_raw(const struct l0 *l0, unsigned reg)
{
    if (reg == VCPU_REGS_RAX)
        return l0->vmcb->save.rax;
    if (reg == VCPU_REGS_RSP)
        return l0->vmcb->save.rsp;
    return l0->cpu->gpr[reg];
}

static inline void kvm_register_write_raw(struct l0 *l0, unsigned reg, uint64_t v)
{
    if (reg == VCPU_REGS_RAX)
        l0->vmcb->save.rax = v;
    else if (reg == VCPU_REGS_RSP)
        l0->vmcb->save.rsp = v;
    else
        l0->cpu->gpr[reg] = v;
}

static inline bool is_64_bit_mode(const struct l0 *l0)
{
    const struct vmcb_save_area *sa = &l0->vmcb->save;
    return (sa->efer & X86_EFER_LMA) && (sa->cs.attrib & VMCB_ATTR_L);
}

/* A register as an instruction of the running guest reads it: its low 32
 * bits outside 64-bit mode. */
static inline uint64_t kvm_register_read(const struct l0 *l0, unsigned reg)
{
    uint64_t v = kvm_register_read_raw(l0, reg);
    return is_64_bit_mode(l0) ? v : (uint32_t)v;
}

static inline uint64_t kvm_rip_read(const struct l0 *l0)
{
    return l0->vmcb->save.rip;
}

static inline void kvm_rip_write(struct l0 *l0, uint64_t rip)
{
    l0->vmcb->save.rip = rip;
}

/* ---- inject.c: events for the running guest */
void queue_exception(struct l0 *l0, unsigned vector, bool has_error, uint32_t error);
void queue_page_fault(struct l0 *l0, uint64_t cr2, uint32_t error);
/* The exit in the running VMCB interrupted an event's delivery: keep it
 * for re-injection (call before the exit's handler queues anything). */
void requeue_interrupted_event(struct l0 *l0);
/* At the next entry: a triple fault (L1's SHUTDOWN intercept, or the VM
 * shuts down), the queued exception (EVENTINJ, or #VMEXIT to L1), or the
 * interrupted event again. Returns 1, or 0 when the run ended. */
int inject_pending_exception(struct l0 *l0);
static inline bool l0_event_pending(const struct l0 *l0)
{
    return l0->exception.pending || l0->interrupted.valid || l0->triple_fault;
}

/* ---- irq.c: interrupts and NMIs from the local APIC */
/* The APIC has something new (an interrupt accepted, TPR or the timer
 * changed): L0 looks before the guest runs on (the CPU exits at its next
 * boundary). */
void l0_request_event(struct l0 *l0);
/* Before each entry: INIT and SIPI, HLT's wait, the timer, the NMI and
 * interrupt to deliver or the window to open, L1's V_TPR and the host
 * timer. Returns 1, 0 when the run ended, or L0_ENTRY_WAIT: the vCPU
 * waits (halted with nothing to wake it yet, or for SIPI). Appends its
 * decisions to the exit's trace. */
#define L0_ENTRY_WAIT 2
int l0_prepare_entry(struct l0 *l0);
/* Closes L0's interrupt window, if open (before the running level
 * changes). */
void l0_irq_window_close(struct l0 *l0);
int intr_interception(struct l0 *l0);
int vintr_interception(struct l0 *l0);
int iret_interception(struct l0 *l0);
int cr8_write_interception(struct l0 *l0);
int hlt_interception(struct l0 *l0);

/* ---- exits: each handler returns 1 to resume the guest, 0 to end the run
 * (l0->end filled). Handlers name their decision in l0->rec. */
int l0_end(struct l0 *l0, enum svmsim_end_reason reason, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A device answered a GuestRPC request during this exit: the trace record
 * carries it (rpc_* fields); nothing when not tracing. */
void l0_note_rpc(struct l0 *l0, unsigned channel, const char *request, size_t request_len,
                 const char *reply, size_t reply_len);
void l0_decide_traced(struct l0 *l0, enum svmsim_decision d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends to the decision's words in the trace; nothing when not tracing. */
void l0_trace_append(struct l0 *l0, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The handler's decision, for the trace: nothing (not even the arguments'
 * evaluation) when not tracing. */
#define l0_decide(l0, ...)                   \
    do {                                     \
        if ((l0)->tracing)                   \
            l0_decide_traced(l0, __VA_ARGS__); \
    } while (0)
/* Advances the running guest's RIP past the intercepted instruction: NRIP
 * when the exit left one, else the length the decoder finds (as KVM's
 * svm_skip_emulated_instruction). Returns 0, or -1 when the instruction
 * cannot be decoded (the run ends as an emulation failure). */
int l0_skip_insn(struct l0 *l0);
/* The same without the end of the instruction under TF or RF (for VMRUN,
 * whose single-step trap comes after the #VMEXIT). */
int l0_skip_insn_quiet(struct l0 *l0);
/* Runs the exit handler for code on the running guest, as if that
 * intercept had fired (KVM's svm_invoke_exit_handler). */
int svm_invoke_exit_handler(struct l0 *l0, uint64_t code);

/* ---- io.c: port I/O of the running guest, as a request */
struct pio_req {
    uint16_t port;
    uint8_t size;        /* 1, 2, 4 */
    bool in;
    bool string;         /* INS/OUTS */
    bool rep;
    uint8_t asize;       /* string: address size in bytes, 2/4/8 */
    uint8_t seg;         /* OUTS: the source segment (INS always writes ES:rDI) */
};
/* Performs the access (the string through the guest's paging, RCX/RSI/RDI
 * and DF honoured, in budget-bounded slices), skips the instruction once it
 * is done. Returns 1, or 0 when the run ended (the exit port, an emulation
 * failure). */
int l0_pio(struct l0 *l0, const struct pio_req *req);
int io_interception(struct l0 *l0);
int msr_interception(struct l0 *l0);
int cpuid_interception(struct l0 *l0);
int vmrun_interception(struct l0 *l0);
int vmload_interception(struct l0 *l0);
int vmsave_interception(struct l0 *l0);
int vmmcall_interception(struct l0 *l0);
int stgi_interception(struct l0 *l0);
int clgi_interception(struct l0 *l0);
int skinit_interception(struct l0 *l0);
int invlpga_interception(struct l0 *l0);

/* svm_insn.c: KVM's nested_svm_check_permissions (SPEC-GP.md §3.1). Returns
 * true if the instruction may proceed; otherwise it queued #UD or #GP(0). */
bool svm_check_permissions(struct l0 *l0);
/* RAX as VMRUN/VMLOAD/VMSAVE of the running guest use it (SPEC-GP.md §3.2):
 * truncated outside 64-bit mode, except under kvm-7.0. */
static inline uint64_t svm_insn_gpa(const struct l0 *l0)
{
    return l0->sem->truncate_rax ? kvm_register_read(l0, VCPU_REGS_RAX)
                                 : kvm_register_read_raw(l0, VCPU_REGS_RAX);
}
/* Steps 4-6 of §3.2 for a legal gpa (an L1 physical address): not RAM is
 * an emulation failure (kvm-7.0: #GP(0)); else skip the instruction and
 * move the VMLOAD/VMSAVE state between the page and the running VMCB. */
int svm_vmload_vmsave_page(struct l0 *l0, bool load, uint64_t gpa);

/* ---- gp.c: the #GP intercept (SPEC-GP.md §2) */
int gp_interception(struct l0 *l0);        /* §2.2, kvm-7.1 */
int gp_interception_kvm70(struct l0 *l0);  /* §2.3 */
/* Whether vmcb01 intercepts #GP (§1): always with the backdoor, else while
 * L1 has EFER.SVME set and the erratum intercept is wanted. */
void gp_intercept_update(struct l0 *l0);

/* ---- rdpmc.c: RDPMC, under VMware-#GP rules (pseudo-counters) or not */
int rdpmc_emulate(struct l0 *l0, bool vmware);

/* ---- backdoor.c: step 5, the VMware backdoor through #GP (§5) */
int vmware_gp_interception(struct l0 *l0, const struct cpu_decoded *insn);

/* ---- nested.c: nested SVM (SPEC-GP.md §3.3, §4) */
void nested_init(struct l0 *l0);
/* VMRUN of vmcb12 at gpa, steps 5-7 of §3.3 (the caller made 1-4). */
int nested_svm_vmrun(struct l0 *l0, uint64_t vmcb12_gpa, const struct vmcb *vmcb12);
/* While L2 runs: decides whether the exit in vmcb02 goes to L1 (§4.3) and
 * if so performs the #VMEXIT. Returns true when L1 got it. *resume is 0
 * when the run ended instead. */
bool nested_svm_exit_handled(struct l0 *l0, int *resume);
/* #VMEXIT to L1 with the exit information now in vmcb02's control area
 * (§4.4). Returns 1, or 0 when vmcb12 could not be written (shutdown). */
int nested_svm_vmexit(struct l0 *l0);
/* A nested page fault L0 met while emulating for L2 (L1's nested page
 * tables): #VMEXIT(NPF) to L1 with the fault's EXITINFO1 and GPA. */
int nested_svm_npf_vmexit(struct l0 *l0, const struct exc *e);
/* SPEC-GP.md §0 architectural, step 3c: reflected to L1 only if vmcb12
 * intercepts it, else performed for L2 (RAX through L1's nested tables
 * when vmcb12 enables VLS, an L1 physical address otherwise). */
int nested_svm_insn_architectural(struct l0 *l0, uint64_t exit_code);
/* §4.5: #VMEXIT(code) with exit_info_1 = exit_info_2 = 0. */
int nested_svm_simple_vmexit(struct l0 *l0, uint64_t code);
/* L2's virtual interrupt as the CPU left it in vmcb02 (V_IRQ taken, V_TPR
 * written), into the cached vmcb12 control (KVM's
 * nested_sync_control_from_vmcb02). */
void nested_sync_int_ctl(struct l0 *l0);
/* vmcb02's virtual interrupt and VINTR intercept back from the cache, when
 * L0's window there closes. */
void nested_restore_virq(struct l0 *l0);
/* Leaves guest mode without a #VMEXIT and forgets nested state (EFER.SVME
 * cleared, KVM's svm_leave_nested). */
void nested_svm_leave(struct l0 *l0);
/* The exit code that must reach L0 rather than L1, whatever vmcb12 says:
 * vmcb01's own exception intercepts, INTR, NMI. */
bool nested_exit_is_l0s(const struct l0 *l0, uint64_t code);

#endif
