/* hv.h — L0, the hypervisor (a model of KVM on AMD).
 *
 * Owns: vmcb01 and the permission maps L0 runs L1 with, the guest-visible
 * MSR state KVM keeps apart from the VMCB (EFER.SVME, VM_HSAVE_PA, VM_CR),
 * the exit-handler table, event injection, and the trace records of its
 * decisions.
 * Must not: decode instruction bytes itself (it asks src/cpu's decoder, as
 * KVM asks its emulator), or reach into devices: port I/O goes out through
 * the pio callback, as KVM passes KVM_EXIT_IO to userspace.
 */
#ifndef SVMSIM_HV_H
#define SVMSIM_HV_H

#include "cpu/cpu.h"
#include "svmsim/svmsim.h"

struct l0_io {
    /* Port I/O passed out to the VMM; returns false if no device claimed it.
     * *name receives the device's name for the trace ("unclaimed" if none). */
    bool (*pio)(void *opaque, uint16_t port, unsigned size, bool is_in, uint32_t *value,
                const char **name);
    /* After each I/O: has the VMM ended the run (exit port)? Fills end. */
    bool (*ended)(void *opaque, struct svmsim_end *end);
    void *opaque;
};

struct l0 {
    struct cpu *cpu;
    struct vmcb *vmcb01;       /* page-aligned, L0-owned */
    uint8_t *iopm;             /* SVM_IOPM_SIZE bytes, all intercepted */
    uint8_t *msrpm;            /* SVM_MSRPM_SIZE bytes */

    /* guest-visible state KVM keeps outside the VMCB */
    uint64_t efer_svme;        /* X86_EFER_SVME if L1 set it */
    uint64_t vm_hsave_pa;
    uint64_t vm_cr;
    uint64_t tsc_aux;
    bool gif;

    struct svmsim_config cfg;
    struct l0_io io;

    /* the run in progress */
    struct svmsim_end *end;
    uint64_t max_insns;        /* 0 = unlimited */
    uint64_t trace_seq;
    struct svmsim_trace_record rec; /* the record of the exit being handled */
    bool tracing;
};

int l0_init(struct l0 *l0, struct cpu *cpu, const struct svmsim_config *cfg,
            const struct l0_io *io);
void l0_fini(struct l0 *l0);
/* Runs L1 until the run ends; fills *end and returns end->status. */
int l0_run(struct l0 *l0, struct svmsim_end *end);

/* The EFER L1 believes it has. */
static inline uint64_t l0_guest_efer(const struct l0 *l0)
{
    return (l0->vmcb01->save.efer & ~X86_EFER_SVME) | l0->efer_svme;
}

/* ---- inject.c: events for the next VMRUN of vmcb01 */
void queue_exception(struct l0 *l0, unsigned vector, bool has_error, uint32_t error);
void queue_page_fault(struct l0 *l0, uint64_t cr2, uint32_t error);

/* ---- exits: each handler returns 1 to resume the guest, 0 to end the run
 * (l0->end filled). Handlers name their decision in l0->rec. */
typedef int (*exit_handler)(struct l0 *l0);
int l0_end(struct l0 *l0, enum svmsim_end_reason reason, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void l0_decide(struct l0 *l0, enum svmsim_decision d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Advances L1's RIP past the intercepted instruction (NRIP). */
void l0_skip_insn(struct l0 *l0);

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

#endif
