/* ops_string.c — the string instructions MOVS STOS LODS SCAS CMPS in all
 * element sizes, with REP / REPE / REPNE (APM vol. 3 §1.2.6, "MOVS" ...).
 *
 * Registers: rSI/rDI/rCX are used at the address size (16-bit writes merge,
 * 32-bit writes zero-extend, as any GPR write); DF selects the direction.
 * The source is DS:rSI (segment overridable), the destination ES:rDI.
 *
 * Repeats commit per element: rSI/rDI/rCX and the flags are updated after
 * every element, so a fault in the middle leaves the architectural partial
 * progress with RIP still at the instruction, as hardware does. A repeat
 * otherwise runs to completion within one step. FIXME: hardware may pause a
 * long repeat for an interrupt; doing so here (next_rip = rip) needs string
 * instructions to end their decode block, which they do not.
 *
 * Fast path: forward REP MOVS/STOS in 64-bit mode work a page at a time on
 * host memory when the soft TLB already maps both pages (a writable TLB entry
 * is never a code page, so no decode can go stale); anything else (a miss,
 * an element crossing a page, FS/GS, DF=1) goes element by element through
 * vmem_read/vmem_write, which fills the TLB for the next round.
 */
#include "cpu/ops.h"

#include <string.h>

enum { RAX = 0, RCX = 1, RSI = 6, RDI = 7 };

enum str_kind { STR_MOVS, STR_STOS, STR_LODS, STR_SCAS, STR_CMPS };

/* What the loop needs of the insn, copied so that nothing reads the decode
 * cache entry while the instruction's own stores may flush it. */
struct str {
    enum str_kind kind;
    unsigned esize;    /* element bytes */
    unsigned asize;    /* address size: rSI/rDI/rCX width */
    uint64_t amask;
    uint64_t step;     /* +esize, or -esize when DF=1 (two's complement) */
    unsigned src_seg;
    bool rep;
    bool repne;        /* CMPS/SCAS: stop when equal (else stop when not equal) */
};

/* The source segment: the DS:rSI operand (decode fills the hidden memory
 * operands of string instructions) carries any segment override. */
static unsigned str_src_seg(const struct insn *in)
{
    for (unsigned i = 0; i < 3; i++)
        if (in->op[i].type == OPND_MEM && in->op[i].reg == RSI)
            return in->op[i].seg;
    return SEG_DS;
}

static void str_init(const struct cpu *cpu, const struct insn *in, enum str_kind kind,
                     struct str *st)
{
    st->kind = kind;
    st->esize = in->osize;
    st->asize = in->asize;
    st->amask = size_mask(in->asize);
    st->step = (cpu->rflags & X86_RFLAGS_DF) ? 0 - (uint64_t)in->osize : in->osize;
    st->src_seg = str_src_seg(in);
    /* F2 on MOVS/STOS/LODS repeats like F3 (Zydis reports it as REPNE). */
    st->rep = in->prefix & (INSN_REP | INSN_REPNE);
    st->repne = in->prefix & INSN_REPNE;
}

static inline uint64_t str_reg(const struct cpu *cpu, const struct str *st, unsigned r)
{
    return cpu->gpr[r] & st->amask;
}

static inline void str_advance(struct cpu *cpu, const struct str *st, unsigned r, uint64_t by)
{
    gpr_write_sized(cpu, r, st->asize, cpu->gpr[r] + by);
}

/* Host address of linear la when the soft TLB maps its page for this access. */
static inline uint8_t *tlb_host(const struct cpu *cpu, uint64_t la, bool write)
{
    const struct tlb_entry *e = tlb_entry_of((struct cpu *)cpu, la);
    uint64_t tag = (la & ~0xfffull) | cpu->tlb_bits;
    if ((write ? e->tag_w : e->tag_r) != tag)
        return NULL;
    return (uint8_t *)(uintptr_t)(la + e->addend);
}

static inline uint64_t elems_to_page_end(uint64_t la, unsigned esize)
{
    return (0x1000 - (la & 0xfff)) / esize;
}

static bool str_fast_ok(const struct cpu *cpu, const struct str *st)
{
    return (st->kind == STR_MOVS || st->kind == STR_STOS) && st->rep &&
           cpu->mode == CPU_MODE_LONG64 && st->asize == 8 && (int64_t)st->step > 0 &&
           st->src_seg != SEG_FS && st->src_seg != SEG_GS;
}

/* Up to max elements of forward REP MOVS/STOS on host memory, none of which
 * crosses a page; returns how many were done (0: take the careful path). */
static uint64_t str_fast(struct cpu *cpu, const struct str *st, uint64_t max)
{
    unsigned e = st->esize;
    uint64_t di = cpu->gpr[RDI], si = cpu->gpr[RSI];
    if (!is_canonical(di))
        return 0;
    uint64_t n = elems_to_page_end(di, e);
    if (n > max)
        n = max;
    if (st->kind == STR_MOVS) {
        if (!is_canonical(si))
            return 0;
        uint64_t ns = elems_to_page_end(si, e);
        if (n > ns)
            n = ns;
    }
    if (n == 0)
        return 0;
    uint8_t *dp = tlb_host(cpu, di, true);
    if (!dp)
        return 0;

    if (st->kind == STR_STOS) {
        uint64_t v = cpu->gpr[RAX];
        if (e == 1) {
            memset(dp, (int)(v & 0xff), n);
        } else {
            for (uint64_t i = 0; i < n; i++)
                memcpy(dp + i * e, &v, e); /* little-endian host */
        }
    } else {
        const uint8_t *sp = tlb_host(cpu, si, false);
        if (!sp)
            return 0;
        uint64_t len = n * e;
        if (dp > sp && dp < sp + len) {
            /* Destination ahead inside the source: element by element, which
             * replicates the pattern exactly as the forward copy does. */
            for (uint64_t i = 0; i < n; i++)
                memmove(dp + i * e, sp + i * e, e);
        } else {
            memmove(dp, sp, len);
        }
        cpu->gpr[RSI] = si + len;
    }
    cpu->gpr[RDI] = di + n * e;
    return n;
}

/* One element, committed: returns STEP_FAULT with nothing of this element
 * done. For CMPS/SCAS *equal tells how the comparison came out. */
static int str_element(struct cpu *cpu, const struct str *st, bool *equal)
{
    unsigned e = st->esize;
    uint64_t a, b;
    switch (st->kind) {
    case STR_MOVS:
        if (vmem_read(cpu, st->src_seg, str_reg(cpu, st, RSI), e, &a) != 0 ||
            vmem_write(cpu, SEG_ES, str_reg(cpu, st, RDI), e, a) != 0)
            return STEP_FAULT;
        str_advance(cpu, st, RSI, st->step);
        str_advance(cpu, st, RDI, st->step);
        return STEP_OK;
    case STR_STOS:
        if (vmem_write(cpu, SEG_ES, str_reg(cpu, st, RDI), e, cpu->gpr[RAX]) != 0)
            return STEP_FAULT;
        str_advance(cpu, st, RDI, st->step);
        return STEP_OK;
    case STR_LODS:
        if (vmem_read(cpu, st->src_seg, str_reg(cpu, st, RSI), e, &a) != 0)
            return STEP_FAULT;
        gpr_write_sized(cpu, RAX, e, a);
        str_advance(cpu, st, RSI, st->step);
        return STEP_OK;
    case STR_SCAS:
        a = cpu->gpr[RAX] & size_mask(e);
        if (vmem_read(cpu, SEG_ES, str_reg(cpu, st, RDI), e, &b) != 0)
            return STEP_FAULT;
        str_advance(cpu, st, RDI, st->step);
        break;
    default: /* CMPS: [rSI] - [rDI] */
        if (vmem_read(cpu, st->src_seg, str_reg(cpu, st, RSI), e, &a) != 0 ||
            vmem_read(cpu, SEG_ES, str_reg(cpu, st, RDI), e, &b) != 0)
            return STEP_FAULT;
        str_advance(cpu, st, RSI, st->step);
        str_advance(cpu, st, RDI, st->step);
        break;
    }
    lf_set(cpu, LF_SUB, e, a - b, a, b);
    *equal = a == b;
    return STEP_OK;
}

#define STR_SLICE 4096

static int str_run(struct cpu *cpu, const struct insn *in, enum str_kind kind)
{
    struct str st;
    bool equal = false;
    str_init(cpu, in, kind, &st);
    if (!st.rep)
        return str_element(cpu, &st, &equal);

    uint64_t rcx = str_reg(cpu, &st, RCX);
    if (rcx == 0) {
        /* Nothing to do, but the count and (for MOVS/STOS) the pointers are
         * still written back at the address size: with a 32-bit address size
         * their upper halves are cleared. FIXME: observed on Intel (the diff
         * test's oracle); unverified on AMD, where LODS/SCAS/CMPS may also
         * write their pointers. */
        gpr_write_sized(cpu, RCX, st.asize, 0);
        if (kind == STR_MOVS)
            str_advance(cpu, &st, RSI, 0);
        if (kind == STR_MOVS || kind == STR_STOS)
            str_advance(cpu, &st, RDI, 0);
        return STEP_OK;
    }
    bool fast = str_fast_ok(cpu, &st);
    bool compare = kind == STR_SCAS || kind == STR_CMPS;
    /* A long REP is done in slices: after a slice the instruction stays on
     * RIP with its registers updated, as if interrupted, so that it runs
     * again. Each element counts against the budget (the first as the
     * instruction itself): a slice is at most STR_SLICE elements and never
     * more than the budget holds. The block this instruction ends may have
     * run up to BLOCK_MAX instructions not yet charged. (REP-prefixed
     * instructions end their decoded block, see decode.c.) */
    uint64_t limit = cpu->budget > BLOCK_MAX ? (uint64_t)cpu->budget - BLOCK_MAX + 1 : 1;
    if (limit > STR_SLICE)
        limit = STR_SLICE;
    uint64_t done = 0;
    int r = STEP_OK;
    while (rcx != 0) {
        if (done >= limit) {
            cpu->next_rip = in->rip;
            break;
        }
        uint64_t n = fast ? str_fast(cpu, &st, rcx < limit - done ? rcx : limit - done) : 0;
        if (n == 0) {
            if (str_element(cpu, &st, &equal) != STEP_OK) {
                r = STEP_FAULT;
                break;
            }
            n = 1;
        }
        rcx -= n;
        done += n;
        gpr_write_sized(cpu, RCX, st.asize, rcx);
        if (compare && equal == st.repne)
            break;
    }
    if (done > 1) {
        cpu->rep_elems += done - 1;
        cpu->budget -= (int64_t)(done - 1);
    }
    return r;
}

int op_movs(struct cpu *cpu, const struct insn *in) { return str_run(cpu, in, STR_MOVS); }
int op_stos(struct cpu *cpu, const struct insn *in) { return str_run(cpu, in, STR_STOS); }
int op_lods(struct cpu *cpu, const struct insn *in) { return str_run(cpu, in, STR_LODS); }
int op_scas(struct cpu *cpu, const struct insn *in) { return str_run(cpu, in, STR_SCAS); }
int op_cmps(struct cpu *cpu, const struct insn *in) { return str_run(cpu, in, STR_CMPS); }
