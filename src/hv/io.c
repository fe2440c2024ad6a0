/* io.c — the IOIO intercept: port I/O of L1 passed out to the VMM's devices,
 * including string I/O (INS/OUTS, with REP), which L0 emulates itself
 * through the guest's page tables as KVM's emulator does.
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

static bool do_pio(struct l0 *l0, uint16_t port, unsigned size, bool is_in, uint32_t *v,
                   const char **name)
{
    *name = "unclaimed";
    return l0->io.pio(l0->io.opaque, port, size, is_in, v, name);
}

#define IO_SLICE 4096

/* Emulates INS/OUTS element by element; a fault is injected into the
 * guest, a nested page fault of L2 goes to L1. Returns 1, or 0 when the
 * run ended. */
static int string_io(struct l0 *l0, uint16_t port, unsigned size, bool is_in, bool rep,
                     unsigned asize, unsigned seg, const char **name)
{
    struct cpu *cpu = l0->cpu;
    struct vmcb_save_area *sa = &l0->vmcb->save;
    uint64_t amask = size_mask(asize);
    uint64_t count = rep ? (cpu->gpr[1] & amask) : 1;
    int64_t step = (sa->rflags & X86_RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
    unsigned reg = is_in ? 7 : 6;
    /* At most IO_SLICE elements per exit, as KVM's emulator works in
     * chunks: RIP stays on the instruction until the count is done. Each
     * element is work the budget counts, as the CPU counts its own REP
     * elements: the first as the instruction, the others as REP elements. */
    uint64_t limit = l0_budget_left(l0);
    if (limit > IO_SLICE)
        limit = IO_SLICE;
    uint64_t slice = 0;
    while (count > 0) {
        if (slice > 0 && slice >= limit) {
            /* As an interrupted REP: the slice's first element counts as
             * the instruction, the others were counted as they went. */
            cpu->insns++;
            return 1;
        }
        if (slice++ > 0)
            cpu->rep_elems++;
        uint64_t off = cpu->gpr[reg] & amask, val = 0;
        struct exc exc;
        if (is_in) {
            uint32_t v;
            do_pio(l0, port, size, true, &v, name);
            if (cpu_guest_write(cpu, SEG_ES, off, size, v, &exc) != 0)
                goto fault;
        } else {
            if (cpu_guest_read(cpu, seg, off, size, &val, &exc) != 0)
                goto fault;
            uint32_t v = (uint32_t)val;
            do_pio(l0, port, size, false, &v, name);
        }
        gpr_write_sized(cpu, reg, asize, cpu->gpr[reg] + (uint64_t)step);
        count--;
        if (rep)
            gpr_write_sized(cpu, 1, asize, count);
        struct svmsim_end probe;
        if (l0->io.ended(l0->io.opaque, &probe))
            break;
        continue;
    fault:
        /* RIP stays on the instruction; progress so far is kept. */
        if (exc.vector == CPU_EXC_NPF)
            return nested_svm_npf_vmexit(l0, &exc);
        if (exc.vector == X86_VEC_PF)
            queue_page_fault(l0, exc.cr2, exc.error);
        else
            queue_exception(l0, exc.vector, exc.has_error, exc.error);
        l0_decide(l0, SVMSIM_DECISION_INJECTED, "string I/O faulted: exception %u injected",
                  exc.vector);
        return 1;
    }
    return l0_skip_insn(l0) == 0;
}

int io_interception(struct l0 *l0)
{
    const struct vmcb_control_area *c = &l0->vmcb->control;
    uint64_t info = c->exit_info_1;
    uint16_t port = (uint16_t)(info >> SVM_IOIO_PORT_SHIFT);
    unsigned size = (info >> SVM_IOIO_SIZE_SHIFT) & 7;
    size = size == 1 ? 1 : size == 2 ? 2 : 4;
    unsigned asz = (info >> SVM_IOIO_ASIZE_SHIFT) & 7;
    unsigned asize = asz == 1 ? 2 : asz == 2 ? 4 : 8;
    bool is_in = info & SVM_IOIO_TYPE_IN;
    const char *name = "unclaimed";

    if (info & SVM_IOIO_STR) {
        if (!string_io(l0, port, size, is_in, info & SVM_IOIO_REP, asize,
                       (info >> SVM_IOIO_SEG_SHIFT) & 7, &name))
            return 0;
        if (l0->tracing && l0->rec.decision == SVMSIM_DECISION_HANDLED)
            l0_decide(l0, SVMSIM_DECISION_DEVICE, "string I/O passed to device: %s", name);
    } else {
        struct vmcb_save_area *sa = &l0->vmcb->save;
        uint32_t v = (uint32_t)(sa->rax & size_mask(size));
        do_pio(l0, port, size, is_in, &v, &name);
        if (is_in) {
            if (size == 4)
                sa->rax = v; /* a 32-bit IN zero-extends into RAX */
            else
                sa->rax = (sa->rax & ~size_mask(size)) | (v & size_mask(size));
        }
        if (l0_skip_insn(l0) != 0) /* NRIP; EXITINFO2 holds the same address */
            return 0;
        l0_decide(l0, SVMSIM_DECISION_DEVICE, "passed to device: %s", name);
    }
    struct svmsim_end end;
    if (l0->io.ended(l0->io.opaque, &end)) {
        l0_decide(l0, SVMSIM_DECISION_END, "passed to device: %s (run ends)", name);
        return l0_end(l0, end.reason, end.status, "%s", end.message);
    }
    return 1;
}
