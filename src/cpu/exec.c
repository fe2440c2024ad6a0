/* exec.c — the fetch/decode/execute loop and the address helpers it uses.
 *
 * Owns: running instructions until a #VMEXIT or the budget runs out, the
 * current mode (from CR0.PE, EFER.LMA, CS.L/D), segmented address
 * calculation, and the stack.
 * Must not: know anything about L0. Exceptions are delivered through
 * exception.c; exits recorded by svm_hw.c.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"

void cpu_update_mode(struct cpu *cpu)
{
    uint16_t cs = cpu->seg[SEG_CS].attrib;
    unsigned mode;
    if (!(cpu->cr0 & X86_CR0_PE))
        mode = CPU_MODE_REAL;
    else if (cpu->efer & X86_EFER_LMA)
        mode = (cs & VMCB_ATTR_L) ? CPU_MODE_LONG64
               : (cs & VMCB_ATTR_DB) ? CPU_MODE_COMPAT32 : CPU_MODE_COMPAT16;
    else
        mode = (cs & VMCB_ATTR_DB) ? CPU_MODE_PROT32 : CPU_MODE_PROT16;
    cpu->mode = (uint8_t)mode;
    /* EIP is 32 bits outside 64-bit mode, also in 16-bit code: a branch
     * with a 16-bit operand size truncates its own target, but a 32-bit one
     * (66 EA, "big real mode") runs on above 64 KiB, as CS's limit allows. */
    cpu->ip_mask = mode == CPU_MODE_LONG64 ? ~0ull : 0xffffffffull;
    cpu->user = cpu->cpl == 3;
    if (cpu->user && (cpu->cr0 & X86_CR0_AM) && (cpu->rflags & X86_RFLAGS_AC))
        cpu->user |= CPU_USER_AC;
    cpu->tlb_bits = cpu->tlb_ctx | cpu->user;
    /* Decoded blocks are keyed by RIP, an offset into CS: a new CS base
     * outside 64-bit mode means different code at the same keys. */
    uint64_t code_base = mode == CPU_MODE_LONG64 ? 0 : cpu->seg[SEG_CS].base;
    struct cpu_context *c = &cpu->contexts[cpu->context];
    if (code_base != c->code_base) {
        c->code_base = code_base;
        icache_flush(cpu);
    }
    uint8_t ctx = (uint8_t)((mode << 2) | cpu->cpl);
    if (ctx != cpu->ctx) {
        cpu->ctx = ctx;
        code_epoch_next(cpu);
    }
    cpu_update_slow(cpu);
}

int seg_linear(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, enum access acc,
               uint64_t *la)
{
    const struct seg *s = &cpu->seg[seg];
    if (cpu->mode == CPU_MODE_LONG64) {
        uint64_t a = off;
        if (seg == SEG_FS || seg == SEG_GS)
            a += s->base;
        if (!is_canonical(a))
            return raise_noncanonical(cpu, seg);
        *la = a;
        return 0;
    }
    /* Segmented: null selector, type and limit checks (APM vol. 2 §4.12). */
    if (cpu->mode != CPU_MODE_REAL) {
        uint16_t at = s->attrib;
        int vec = seg == SEG_SS ? X86_VEC_SS : X86_VEC_GP;
        if (!(at & VMCB_ATTR_P))
            return raise_exc_err(cpu, vec, 0);
        bool code = at & 8;
        if (acc == ACC_WRITE && (code || !(at & 2)))
            return raise_exc_err(cpu, vec, 0);
        if (acc == ACC_READ && code && !(at & 2))
            return raise_exc_err(cpu, vec, 0);
        uint64_t last = off + (size ? size - 1 : 0);
        bool expand_down = !code && (at & 4);
        if (expand_down) {
            uint64_t upper = (at & VMCB_ATTR_DB) ? 0xffffffffull : 0xffffull;
            if (off <= s->limit || last > upper)
                return raise_exc_err(cpu, vec, 0);
        } else if (last > s->limit) {
            return raise_exc_err(cpu, vec, 0);
        }
    }
    *la = (s->base + off) & 0xffffffffull;
    return 0;
}

int raise_noncanonical(struct cpu *cpu, unsigned seg)
{
    return seg == SEG_SS ? raise_exc_err(cpu, X86_VEC_SS, 0) : raise_gp(cpu, 0);
}

int vmem_probe_write(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size)
{
    uint64_t la, pa;
    if (seg_linear(cpu, seg, off, size, ACC_WRITE, &la) != 0)
        return -1;
    if (mmu_translate(cpu, la, ACC_WRITE, cpu->user, &pa) != 0)
        return -1;
    if (((la & 0xfff) + size) > 0x1000 &&
        mmu_translate(cpu, (la + size - 1) & ~0xfffull, ACC_WRITE, cpu->user, &pa) != 0)
        return -1;
    return 0;
}

unsigned stack_size(const struct cpu *cpu)
{
    if (cpu->mode == CPU_MODE_LONG64)
        return 8;
    return (cpu->seg[SEG_SS].attrib & VMCB_ATTR_DB) ? 4 : 2;
}

static uint64_t rsp_mask(const struct cpu *cpu)
{
    return size_mask(stack_size(cpu));
}

static void rsp_set(struct cpu *cpu, uint64_t v)
{
    uint64_t m = rsp_mask(cpu);
    cpu->gpr[4] = (cpu->gpr[4] & ~m) | (v & m);
}

int stack_push(struct cpu *cpu, unsigned size, uint64_t v)
{
    uint64_t sp = (cpu->gpr[4] - size) & rsp_mask(cpu);
    if (vmem_write(cpu, SEG_SS, sp, size, v) != 0) {
        if (cpu->exc.vector == X86_VEC_GP && cpu->mode == CPU_MODE_LONG64)
            cpu->exc.vector = X86_VEC_SS; /* non-canonical stack reference */
        return -1;
    }
    rsp_set(cpu, sp);
    return 0;
}

int stack_peek(struct cpu *cpu, unsigned size, uint64_t off, uint64_t *v)
{
    uint64_t sp = (cpu->gpr[4] + off) & rsp_mask(cpu);
    if (vmem_read(cpu, SEG_SS, sp, size, v) != 0) {
        if (cpu->exc.vector == X86_VEC_GP && cpu->mode == CPU_MODE_LONG64)
            cpu->exc.vector = X86_VEC_SS;
        return -1;
    }
    return 0;
}

int stack_pop(struct cpu *cpu, unsigned size, uint64_t *v)
{
    if (stack_peek(cpu, size, 0, v) != 0)
        return -1;
    rsp_set(cpu, cpu->gpr[4] + size);
    return 0;
}

/* n instructions retired (the budget may go below 0: cpu.h). */
static inline void retire(struct cpu *cpu, unsigned n)
{
    cpu->budget -= n;
    cpu->insns += n;
}

/* The #DB trap after an instruction, DR6.BS (APM vol. 2 §13.1.3.4). */
static int single_step_trap(struct cpu *cpu)
{
    cpu->db_trap = false;
    cpu->dr[6] |= 1ull << 14;
    return event_deliver(cpu, EV_EXCEPTION, X86_VEC_DB, false, 0, cpu->rip);
}

/* An instruction breakpoint at the next instruction (DR0-DR3 enabled in
 * DR7 for execution, the linear address of CS:RIP, RF clear): its DR6
 * bits set and the #DB fault raised. False when none matches. */
static bool code_breakpoint(struct cpu *cpu)
{
    unsigned armed = cpu_code_breakpoints(cpu->dr[7]);
    if (!armed || (cpu->rflags & X86_RFLAGS_RF))
        return false;
    uint64_t la = cpu->mode == CPU_MODE_LONG64 ? cpu->rip : cpu->seg[SEG_CS].base + cpu->rip;
    unsigned hit = 0;
    for (unsigned i = 0; i < 4; i++)
        if ((armed >> i) & 1 && cpu->dr[i] == la)
            hit |= 1u << i;
    if (!hit)
        return false;
    cpu->dr[6] = (cpu->dr[6] & ~0xfull) | hit;
    cpu->next_rip = cpu->rip;
    raise_exc(cpu, X86_VEC_DB);
    return true;
}

/* One instruction with hardware single-step and interrupt shadows honoured:
 * the careful path, also used when the budget is smaller than a block. */
static int step_one(struct cpu *cpu, const struct insn *in)
{
    /* The instruction alone: its handler may go on into the entry after
     * it, which here is one that ends the run. */
    struct insn alone[2] = { *in, { .fn = insn_stay } };
    /* TF as the instruction found it decides the trap after it, unless the
     * instruction says otherwise (SYSCALL). */
    cpu->step_tf = cpu->rflags & X86_RFLAGS_TF;
    /* RF holds instruction breakpoints off for this instruction only: it
     * is clear once the instruction completes, unless the instruction
     * loaded it (IRET). */
    uint64_t rf = cpu->rflags & X86_RFLAGS_RF;
    cpu->rflags &= ~X86_RFLAGS_RF;
    cpu->int_shadow = false;
    cpu->rip = in->rip;
    cpu->next_rip = in->next;
    int r = in->fn1(cpu, alone);
    if (r == STEP_STOPPED)
        r = STEP_OK;
    cpu->db_trap = false; /* step_tf says it here */
    if (r != STEP_OK) {
        cpu->rflags |= rf;
        return r;
    }
    cpu->rip = cpu->next_rip;
    retire(cpu, 1);
    /* A taken branch (control went elsewhere than the next instruction;
     * a REP element goes on at itself) is the last branch. */
    if ((cpu->dbgctl & X86_DEBUGCTL_LBR) && cpu->rip != in->next &&
        !(cpu->rip == in->rip && (in->prefix & (INSN_REP | INSN_REPNE)))) {
        cpu->br_from = in->rip;
        cpu->br_to = cpu->rip;
    }
    if (cpu->step_tf)
        r = single_step_trap(cpu);
    cpu_update_mode(cpu);
    return r;
}

/* Whether the header s holds the live block for rip in the running
 * context: it was found alive in this epoch, and since then no block died
 * and the decode context stayed the same (code_epoch). */
static inline bool block_is_at(const struct cpu *cpu, const struct block *s, uint64_t rip)
{
    return s->rip == rip && s->epoch == cpu->code_epoch;
}

/* The block at cpu->rip: the set's first way if it is that block and
 * nothing died, else the slow lookup (every way, the pages' generations,
 * a fill on a miss). */
static inline struct block *block_lookup(struct cpu *cpu)
{
    uint64_t rip = cpu->rip;
    struct block *b = &cpu->blocks[block_set(cpu, rip) * BLOCK_WAYS];
    if (likely(block_is_at(cpu, b, rip))) {
        b->used = ++cpu->lookup_clock;
        return b;
    }
    return block_lookup_slow(cpu, b, rip);
}

/* The one of prev's two successor hints that is the live block at rip
 * (chaining without a hash) and retires at most budget instructions, or
 * NULL; epoch is cpu->code_epoch. */
static inline struct block *block_hint(const struct block *prev, uint64_t rip, uint32_t epoch,
                                       int64_t budget)
{
    struct block *n = prev->succ[0];
    if (n->rip != rip) {
        n = prev->succ[1];
        if (n->rip != rip)
            return NULL;
    }
    if (n->epoch != epoch || budget < n->weight)
        return NULL;
    return n;
}

/* The block that runs at cpu->rip after prev (NULL: none known): its hint,
 * else a lookup, whose block becomes prev's latest successor. */
static inline struct block *block_after(struct cpu *cpu, struct block *prev)
{
    struct block *b = prev ? block_hint(prev, cpu->rip, cpu->code_epoch, INT64_MAX) : NULL;
    if (b)
        return b;
    b = block_lookup(cpu);
    if (prev && b) {
        prev->succ[1] = prev->succ[0];
        prev->succ[0] = b;
    }
    return b;
}

/* ---- entries of a block that are not specialised handlers (cpu.h,
 * struct insn) */

/* A generic handler in the middle of its block: it finds next_rip set as
 * for any instruction; after it, the next entry, unless it failed or
 * code or mappings changed under the block. */
int insn_generic(struct cpu *cpu, const struct insn *in)
{
    int r = insn_generic_alone(cpu, in);
    if (unlikely(r != STEP_OK))
        return r;
    return insn_next(cpu, in);
}

/* A generic handler that ends its block: next_rip is where it goes. */
int insn_generic_last(struct cpu *cpu, const struct insn *in)
{
    cpu->next_rip = in->next;
    int r = in->fn1(cpu, in);
    if (unlikely(r != STEP_OK))
        cpu->stop = in;
    return r;
}

/* After the last entry of a block that ran on into the next instruction
 * (BLOCK_MAX reached, or a page it could not decode yet): its rip is that
 * instruction's. */
int insn_block_end(struct cpu *cpu, const struct insn *in)
{
    cpu->next_rip = in->rip;
    return STEP_OK;
}

/* After an instruction step_one runs alone: next_rip stays as it left it. */
int insn_stay(struct cpu *cpu, const struct insn *in)
{
    (void)cpu;
    (void)in;
    return STEP_OK;
}

/* run_blocks' answer when an exit it offered was not resumed: the exit is
 * recorded (or handled), cpu_exec returns. */
#define RUN_EXITED (-1)

/* A block's run that did not end at its end: the instruction at
 * cpu->stop completed and stopped the block (STEP_STOPPED), or failed,
 * or exited (r). The block retires weight instructions when whole, and
 * started in epoch. Returns as run_blocks. */
static int run_block_stopped(struct cpu *cpu, unsigned weight, int r, uint32_t epoch)
{
    unsigned done = 0; /* instructions already counted */
    for (;;) {
        const struct insn *in = cpu->stop;
        if (r == STEP_STOPPED) {
            /* Code or mappings changed under the block (a flush, a store
             * into code): leave it after the instruction that did it. */
            retire(cpu, in->seq + 1 - done);
            cpu->rip = in->next;
            return STEP_OK;
        }
        retire(cpu, in->seq - done);
        cpu->rip = in->rip;
        if (r != STEP_VMEXIT || !cpu->fast_exit.handle)
            return r;
        /* Offered here (cpu_run), an exit handled in place that went past
         * just this instruction goes on with the next entry. */
        if (!cpu_offer_exit(cpu))
            return RUN_EXITED;
        done = in->seq + 1; /* the handler counted the instruction */
        if (done == weight || cpu->rip != in->next || cpu->code_epoch != epoch || cpu->slow ||
            cpu->budget < (int64_t)(weight - done))
            return STEP_OK; /* (done == weight: the block's last; no entry follows) */
        r = in[1].fn(cpu, in + 1);
        if (r == STEP_OK) {
            retire(cpu, weight - done);
            cpu->rip = cpu->next_rip;
            return cpu->db_trap ? single_step_trap(cpu) : STEP_OK;
        }
    }
}

/* The fast path: blocks back to back from b, and each block's entries
 * back to back (the handlers may write any memory: a header's fields are
 * read into locals before its block runs). After a block that ran whole,
 * the next is its successor hint that is the block a lookup would find,
 * if the budget covers it (block_hint); a block that loops onto itself is
 * its own hint. A block with host code (jit.c) runs itself and the blocks
 * it is linked to and retires them, and says which ran last
 * (STEP_CHAINED); the edge it left by unlinked is linked here to the block
 * found next, if the epoch has not moved. Returns STEP_OK with cpu->rip
 * where to go on, RUN_EXITED, or the step result of the instruction at
 * cpu->rip; *last is the block that ran last. */
static inline int run_blocks(struct cpu *cpu, struct block *b, struct block **last)
{
    uint32_t epoch = cpu->code_epoch;
    for (;;) {
        const struct insn *first = b->insns;
        uint64_t start = b->rip;
        unsigned weight = b->weight;
        int r;
        __builtin_prefetch(b->succ[0]); /* the header looked at next */
        /* The block, and again while it loops onto itself. */
        while (likely((r = first->fn(cpu, first)) == STEP_OK)) {
            retire(cpu, weight); /* a fused pair retires two */
            cpu->rip = cpu->next_rip;
            if (unlikely(cpu->slow)) {
                /* A SYSRET that set TF (which makes the CPU slow) traps
                 * after itself. */
                *last = b;
                return cpu->db_trap ? single_step_trap(cpu) : STEP_OK;
            }
            if (cpu->rip != start || cpu->code_epoch != epoch || cpu->budget < weight)
                break;
        }
        *last = b;
        if (unlikely(r != STEP_OK)) {
            if (!cpu->chain_last)
                return run_block_stopped(cpu, weight, r, epoch);
            /* Host code (jit.c): it retired what it ran */
            b = *last = cpu->chain_last;
            cpu->chain_last = NULL;
            uint8_t *link = cpu->link_at;
            cpu->link_at = NULL;
            if (r != STEP_CHAINED) /* no entry after cpu->stop runs on here */
                return run_block_stopped(cpu, cpu->stop->seq + 1u, r, epoch);
            if (unlikely(cpu->slow))
                return cpu->db_trap ? single_step_trap(cpu) : STEP_OK;
            if (unlikely(cpu->code_epoch != epoch))
                return STEP_OK;
            struct block *n = block_after(cpu, b);
            /* A fill may have forgotten every block, and the code with
             * them: the epoch says so. */
            if (!n || cpu->code_epoch != epoch)
                return STEP_OK;
            if (link)
                jit_link(cpu, link, b, n);
            if (cpu->budget < n->weight)
                return STEP_OK;
            b = n;
            continue;
        }
        if (unlikely(cpu->code_epoch != epoch))
            return STEP_OK; /* a block died: the hints are not to be read */
        b = block_hint(b, cpu->rip, epoch, cpu->budget);
        if (!b)
            return STEP_OK;
    }
}

void cpu_exec(struct cpu *cpu)
{
    struct block *prev = NULL; /* the block that ran last */
    while (likely(cpu->budget > 0)) {
        struct block *b = block_after(cpu, prev);
        int r;
        if (unlikely(!b)) {
            r = STEP_FAULT;
        } else if (unlikely(cpu->slow || cpu->budget < b->weight)) {
            /* The careful path looks between instructions for an interrupt,
             * then for an instruction breakpoint (APM vol. 2 §8.5). One
             * taken through the IDT was charged to the budget and went to
             * its handler (which may be this very RIP): go round again. */
            prev = b;
            uint64_t events = cpu->events;
            r = STEP_OK;
            if (cpu->slow && cpu_irq_armed(cpu))
                r = cpu_take_interrupt(cpu);
            if (r == STEP_OK && cpu->slow && cpu->events == events && code_breakpoint(cpu))
                r = exc_deliver(cpu);
            if (r == STEP_OK && cpu->events == events)
                r = step_one(cpu, &b->insns[0]);
            else if (r == STEP_OK)
                continue;
        } else {
            r = run_blocks(cpu, b, &prev);
            if (likely(r == STEP_OK))
                continue;
            if (r == RUN_EXITED)
                return;
        }
        if (r == STEP_FAULT)
            r = exc_deliver(cpu);
        if (r == STEP_VMEXIT) {
            /* An exit the caller handles in place runs on (cpu_run). */
            if (cpu->fast_exit.handle && cpu_offer_exit(cpu))
                continue;
            return;
        }
        if (r == STEP_HALT) {
            /* The HLT is done; the CPU waits for nothing here (cpu_run
             * returns CPU_RUN_HALTED to whoever can wake it). */
            cpu->rip = cpu->next_rip;
            retire(cpu, 1);
            cpu->halted = true;
            return;
        }
    }
}
