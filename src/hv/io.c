/* io.c — port I/O of the running guest passed out to the VMM's devices
 * (KVM's KVM_EXIT_IO): one request type and one l0_pio() that performs it,
 * single or REP string, both directions, any address size and DF, through
 * the guest's paging as KVM's emulator does. A string goes to the device
 * element by element, or, when the port's device takes whole strings (the
 * VMware backdoor's high-bandwidth port), in one call per slice. The IOIO
 * intercept decodes EXITINFO1 into a request; the VMware backdoor's #GP
 * path (backdoor.c) builds one from the decoded instruction.
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

static bool do_pio(struct l0 *l0, uint16_t port, unsigned size, bool is_in, uint32_t *v,
                   const char **name)
{
    *name = "unclaimed";
    return l0->io.pio(l0->io.opaque, port, size, is_in, v, name);
}

/* A guest-memory fault part way through a string: RIP stays on the
 * instruction, the progress the caller recorded in RCX/RSI/RDI is kept (as
 * KVM's emulator keeps it), and the fault goes to the guest, or, a nested
 * page fault of L2, to L1. Returns 1, or 0 when the run ended. */
static int string_fault(struct l0 *l0, const struct exc *exc)
{
    if (exc->vector == CPU_EXC_NPF)
        return nested_svm_npf_vmexit(l0, exc);
    if (exc->vector == X86_VEC_PF)
        queue_page_fault(l0, exc->cr2, exc->error);
    else
        queue_exception(l0, exc->vector, exc->has_error, exc->error);
    l0_decide(l0, SVMSIM_DECISION_INJECTED, "string I/O faulted: exception %u injected",
              exc->vector);
    return 1;
}

#define IO_SLICE 4096

/* INS/OUTS element by element; a fault is injected into the guest, a nested
 * page fault of L2 goes to L1. Returns 1, or 0 when the run ended. */
static int string_io(struct l0 *l0, const struct pio_req *req, const char **name)
{
    struct cpu *cpu = l0->cpu;
    struct vmcb_save_area *sa = &l0->vmcb->save;
    unsigned size = req->size, asize = req->asize;
    uint64_t amask = size_mask(asize);
    uint64_t count = req->rep ? (kvm_register_read_raw(l0, VCPU_REGS_RCX) & amask) : 1;
    int64_t step = (sa->rflags & X86_RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
    unsigned reg = req->in ? VCPU_REGS_RDI : VCPU_REGS_RSI;
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
        if (req->in) {
            uint32_t v;
            do_pio(l0, req->port, size, true, &v, name);
            if (cpu_guest_write(cpu, SEG_ES, off, size, v, &exc) != 0)
                goto fault;
        } else {
            if (cpu_guest_read(cpu, req->seg, off, size, &val, &exc) != 0)
                goto fault;
            uint32_t v = (uint32_t)val;
            do_pio(l0, req->port, size, false, &v, name);
        }
        gpr_write_sized(cpu, reg, asize, cpu->gpr[reg] + (uint64_t)step);
        count--;
        if (req->rep)
            gpr_write_sized(cpu, VCPU_REGS_RCX, asize, count);
        struct svmsim_end probe;
        if (l0_io_ended(l0, &probe))
            break;
        continue;
    fault:
        return string_fault(l0, &exc);
    }
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_DEVICE, "string I/O passed to device: %s", *name);
    return 1;
}

/* One device call moves at most this many bytes: GuestRPC's largest
 * message (64 KiB), so that a message sent or fetched by one REP OUTSB/INSB
 * is one call. */
#define IO_STRING_MAX 65536

static bool device_takes_strings(struct l0 *l0, const struct pio_req *req)
{
    const char *name;
    return l0->io.pio_string &&
           l0->io.pio_string(l0->io.opaque, req->port, req->size, req->in, NULL, 0, &name);
}

/* Element i of buf, little-endian, as it crosses the port. */
static uint64_t buf_get(const uint8_t *buf, uint64_t i, unsigned size)
{
    uint64_t v = 0;
    for (unsigned b = 0; b < size; b++)
        v |= (uint64_t)buf[i * size + b] << (8 * b);
    return v;
}

static void buf_put(uint8_t *buf, uint64_t i, unsigned size, uint64_t v)
{
    for (unsigned b = 0; b < size; b++)
        buf[i * size + b] = (uint8_t)(v >> (8 * b));
}

/* INS/OUTS to a device that takes a whole string, as KVM hands userspace
 * one KVM_EXIT_IO with a count and a data area: one device call for up to
 * IO_STRING_MAX bytes (and no more elements than the budget has room for),
 * with the registers as the instruction found them; RCX and RSI/RDI are
 * advanced after it. OUTS gathers every element before the call, so a
 * fault means the device saw nothing and the registers stay; INS lets the
 * device fill the buffer, then scatters it, and a fault keeps the elements
 * before it. A longer REP goes on as an interrupted one: RIP stays and the
 * next execution makes the next call. Each element is work, counted as
 * string_io counts it. Returns 1, or 0 when the run ended. */
static int string_io_whole(struct l0 *l0, const struct pio_req *req, const char **name)
{
    uint8_t buf[IO_STRING_MAX]; /* bounded: on the stack, no allocation to fail */
    struct cpu *cpu = l0->cpu;
    unsigned size = req->size, asize = req->asize;
    uint64_t amask = size_mask(asize);
    uint64_t count = req->rep ? (kvm_register_read_raw(l0, VCPU_REGS_RCX) & amask) : 1;
    int64_t step = (l0->vmcb->save.rflags & X86_RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
    unsigned reg = req->in ? VCPU_REGS_RDI : VCPU_REGS_RSI;
    uint64_t start = cpu->gpr[reg];
    uint64_t limit = l0_budget_left(l0);
    if (limit > IO_STRING_MAX / size)
        limit = IO_STRING_MAX / size;
    if (limit == 0)
        limit = 1; /* as string_io: the budget stops a REP after an element */
    uint64_t n = count < limit ? count : limit;
    bool faulted = false;
    struct exc exc;
    uint64_t i;

    if (req->in && n > 0)
        l0->io.pio_string(l0->io.opaque, req->port, size, true, buf, n, name);
    for (i = 0; i < n; i++) {
        uint64_t off = (start + i * (uint64_t)step) & amask;
        if (req->in) {
            faulted = cpu_guest_write(cpu, SEG_ES, off, size, buf_get(buf, i, size), &exc) != 0;
        } else {
            uint64_t val;
            faulted = cpu_guest_read(cpu, req->seg, off, size, &val, &exc) != 0;
            if (!faulted)
                buf_put(buf, i, size, val);
        }
        if (faulted)
            break;
    }
    /* The elements whose effect stands: INS, those written before a fault;
     * OUTS, all or (a fault while gathering) none. */
    uint64_t done = i;
    if (!req->in && faulted)
        done = 0;
    else if (!req->in && n > 0)
        l0->io.pio_string(l0->io.opaque, req->port, size, false, buf, n, name);

    /* As string_io counts: every element tried but the first is a REP
     * element; the first counts as the instruction once it completes or is
     * interrupted, or the injected fault counts in its place. */
    uint64_t tried = faulted ? i + 1 : n;
    if (tried > 0)
        cpu->rep_elems += tried - 1;
    if (done > 0) {
        gpr_write_sized(cpu, reg, asize, start + done * (uint64_t)step);
        if (req->rep)
            gpr_write_sized(cpu, VCPU_REGS_RCX, asize, count - done);
    }
    if (faulted)
        return string_fault(l0, &exc);
    if (count > n) {
        cpu->insns++;
        return 1;
    }
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_DEVICE, "string I/O passed to device in one call: %s",
              *name);
    return 1;
}

/* The end of every request: has the device ended the run? Returns 1, or 0
 * when it has. */
static int pio_done(struct l0 *l0, const char *name)
{
    struct svmsim_end end;
    if (l0_io_ended(l0, &end)) {
        l0_decide(l0, SVMSIM_DECISION_END, "passed to device: %s (run ends)", name);
        return l0_end(l0, end.reason, end.status, "%s", end.message);
    }
    return 1;
}

/* IN or OUT of one element through RAX. Returns 1, or 0 when the run ended. */
static inline int pio_single(struct l0 *l0, uint16_t port, unsigned size, bool in)
{
    const char *name = "unclaimed";
    uint64_t rax = kvm_register_read_raw(l0, VCPU_REGS_RAX);
    uint32_t v = (uint32_t)(rax & size_mask(size));
    do_pio(l0, port, size, in, &v, &name);
    if (in) {
        /* Reread RAX: a device that speaks through the registers (the
         * backdoor) may have set it; the value read replaces its low
         * bytes, and a 32-bit IN zero-extends. */
        rax = kvm_register_read_raw(l0, VCPU_REGS_RAX);
        if (size == 4)
            rax = v;
        else
            rax = (rax & ~size_mask(size)) | (v & size_mask(size));
        kvm_register_write_raw(l0, VCPU_REGS_RAX, rax);
    }
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_DEVICE, "passed to device: %s", name);
    return pio_done(l0, name);
}

int l0_pio(struct l0 *l0, const struct pio_req *req)
{
    if (!req->string)
        return pio_single(l0, req->port, req->size, req->in);
    const char *name = "unclaimed";
    int ok = device_takes_strings(l0, req) ? string_io_whole(l0, req, &name)
                                           : string_io(l0, req, &name);
    return ok ? pio_done(l0, name) : 0;
}

/* EXITINFO1 of an IOIO exit as a request (APM vol. 2 §15.10.2). */
int io_interception(struct l0 *l0)
{
    uint64_t info = l0->vmcb->control.exit_info_1;
    /* The size fields are one-hot: SZ8/16/32 read as 1, 2, 4 bytes, and
     * A16/32/64 as half of 2, 4, 8. */
    unsigned size = (info >> SVM_IOIO_SIZE_SHIFT) & 7;
    unsigned asz = (info >> SVM_IOIO_ASIZE_SHIFT) & 7;
    size = size == 1 || size == 2 ? size : 4;
    if (!(info & SVM_IOIO_STR))
        return pio_single(l0, (uint16_t)(info >> SVM_IOIO_PORT_SHIFT), size,
                          info & SVM_IOIO_TYPE_IN);
    struct pio_req req = {
        .port = (uint16_t)(info >> SVM_IOIO_PORT_SHIFT),
        .size = (uint8_t)size,
        .in = info & SVM_IOIO_TYPE_IN,
        .string = info & SVM_IOIO_STR,
        .rep = info & SVM_IOIO_REP,
        .asize = asz == 1 || asz == 2 ? 2 * asz : 8,
        .seg = (unsigned)(info >> SVM_IOIO_SEG_SHIFT) & 7,
    };
    return l0_pio(l0, &req);
}
