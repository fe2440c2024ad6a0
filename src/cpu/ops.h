/* ops.h — instruction handlers, one family per ops_*.c file, dispatched by
 * ZydisMnemonic through the table in ops_table.c. Private to src/cpu. */
#ifndef SVMSIM_CPU_OPS_H
#define SVMSIM_CPU_OPS_H

#include "cpu/cpu.h"

#define OP(name) int op_##name(struct cpu *cpu, const struct insn *in)

OP(ud); OP(fpu); OP(fnop); OP(fwait);
/* ops_alu.c */
OP(add); OP(adc); OP(sub); OP(sbb); OP(and); OP(or); OP(xor); OP(cmp); OP(test);
OP(inc); OP(dec); OP(neg); OP(not);
/* ops_mov.c */
OP(mov); OP(movzx); OP(movsx); OP(lea); OP(xchg); OP(cmovcc); OP(setcc); OP(bswap);
OP(cbw); OP(cwd); OP(lahf); OP(sahf); OP(clc); OP(stc); OP(cmc); OP(cld); OP(std);
OP(nop); OP(xlat); OP(xadd); OP(cmpxchg); OP(cmpxchg8b); OP(cmpxchg16b);
/* ops_shift.c */
OP(shl); OP(shr); OP(sar); OP(rol); OP(ror); OP(rcl); OP(rcr); OP(shld); OP(shrd);
/* ops_muldiv.c */
OP(mul); OP(imul); OP(div); OP(idiv);
/* ops_bit.c */
OP(bt); OP(bts); OP(btr); OP(btc); OP(bsf); OP(bsr); OP(popcnt); OP(lzcnt);
/* ops_branch.c; Jcc with a resolved target, by condition code */
extern const insn_fn op_jcc_abs_by_cc[16];
OP(jmp); OP(jcc); OP(jmp_abs); OP(call); OP(ret); OP(loop); OP(loope); OP(loopne); OP(jrcxz);
OP(jmp_far); OP(call_far); OP(ret_far); OP(iret); OP(int); OP(int3); OP(into); OP(int1);
OP(syscall); OP(sysret);
/* ops_stack.c */
OP(push); OP(pop); OP(pushf); OP(popf); OP(enter); OP(leave); OP(pusha); OP(popa);
/* ops_string.c */
OP(movs); OP(stos); OP(lods); OP(scas); OP(cmps);
/* ops_io.c */
OP(in); OP(out); OP(ins); OP(outs);
/* ops_system.c */
OP(hlt); OP(cli); OP(sti); OP(cpuid); OP(rdtsc); OP(rdtscp); OP(rdpmc); OP(rdmsr); OP(wrmsr);
OP(mov_cr); OP(mov_dr); OP(lgdt); OP(lidt); OP(sgdt); OP(sidt); OP(ltr); OP(str); OP(lldt);
OP(sldt); OP(invlpg); OP(swapgs); OP(clts); OP(pause); OP(invd); OP(wbinvd); OP(xsetbv);
OP(mov_seg); OP(pop_seg); OP(push_seg); OP(lmsw); OP(rsm); OP(smsw); OP(ud2);
/* ops_svm.c */
OP(vmrun); OP(vmload); OP(vmsave); OP(vmmcall); OP(stgi); OP(clgi); OP(skinit); OP(invlpga);

/* ---- a block's entries run back to back (cpu.h, struct insn; exec.c) */

/* The next entry of the block: a specialised handler's last act, as a
 * tail call (a block has at most BLOCK_MAX + 1 entries, so the chain is
 * bounded where the compiler keeps the calls). */
static inline int insn_next(struct cpu *cpu, const struct insn *in)
{
    return in[1].fn(cpu, in + 1);
}

/* A specialised handler's other way out: r is STEP_FAULT (nothing
 * changed) or STEP_STOPPED (the instruction completed; the block may have
 * died under it). */
static inline int insn_stop(struct cpu *cpu, const struct insn *in, int r)
{
    cpu->stop = in;
    cpu->next_rip = in->next;
    return r;
}

/* The next entry when r is STEP_OK, else the stop. */
static inline int insn_then(struct cpu *cpu, const struct insn *in, int r)
{
    if (likely(r == STEP_OK))
        return insn_next(cpu, in);
    return insn_stop(cpu, in, r);
}

/* Entries that wrap a generic handler (fn1): in the middle of a block,
 * and at its end; the entry after a block's last instruction when the
 * block does not end in a branch; and the one after an instruction that
 * runs alone (step_one). */
int insn_generic(struct cpu *cpu, const struct insn *in);
int insn_generic_last(struct cpu *cpu, const struct insn *in);
int insn_block_end(struct cpu *cpu, const struct insn *in);
int insn_stay(struct cpu *cpu, const struct insn *in);

/* ops_fast.c */
#define OP_ALU_FAST(n) OP(n##_rr64); OP(n##_rr32); OP(n##_ri64); OP(n##_ri32); \
    OP(n##_rm64); OP(n##_rm32);
OP_ALU_FAST(add) OP_ALU_FAST(sub) OP_ALU_FAST(and) OP_ALU_FAST(or) OP_ALU_FAST(xor)
OP_ALU_FAST(cmp) OP_ALU_FAST(test)
OP(inc_r64); OP(inc_r32); OP(dec_r64); OP(dec_r32);
OP(mov_rr64); OP(mov_rr32); OP(mov_ri64); OP(mov_ri32);
OP(mov_rm64); OP(mov_rm32); OP(mov_mr64); OP(mov_mr32);
OP(mov_rm64_bd); OP(mov_rm32_bd); OP(mov_mr64_bd); OP(mov_mr32_bd);
OP(shl_ri64); OP(shl_ri32); OP(shr_ri64); OP(shr_ri32); OP(sar_ri64); OP(sar_ri32);
OP(lea_r64);
OP(mov_mi64); OP(mov_mi32); OP(mov_mi8); OP(movzx_rm8); OP(movzx_rm16);
OP(movzx_rr8); OP(movzx_rr16); OP(imul_rr64); OP(imul_rr32);
OP(cmp_mi64); OP(cmp_mi32); OP(cmp_mi8);
OP(push_r64); OP(pop_r64); OP(call_abs); OP(ret_r64);
/* The slow half of a specialised store (in's) of v, size bytes at la
 * (one that missed the TLB, or a page with code): STEP_OK, or the stop
 * (STEP_FAULT, or STEP_STOPPED when code changed). For host code. */
int fast_store_slow(struct cpu *cpu, const struct insn *in, uint64_t la, uint64_t v,
                    unsigned size);
/* The specialised handler for in (64-bit mode), or in->fn. */
insn_fn specialize_fast(const struct insn *in);
/* The memory operands of an instruction given a specialised handler, in
 * the form those read them: a RIP-relative displacement holds the
 * address, a missing base or index is REG_ZERO (cpu.h, gpr_z). */
void fast_operands(struct insn *in);
/* In the n entries of a block (the last one's flags read, or seen by
 * whoever comes next), the specialised register instructions whose flags
 * a later one overwrites before anything reads them or could fault get
 * a handler that does not compute them (fn; fn1 still does). */
void fast_flags_dead(struct insn *insns, unsigned n);

/* What a specialised handler does, for host code (jit.c): the 32/64-bit
 * register, immediate, shift, INC/DEC and IMUL forms, loads (MOVZX's too), stores of a
 * register or an immediate, ALU with a memory source, CMP of memory with
 * an immediate, and LEA. */
enum fast_kind {
    FAST_ALU_RR = 1, FAST_ALU_RI, FAST_ALU_RM, FAST_SHIFT_RI, FAST_MOV_RR, FAST_MOV_RI,
    FAST_LOAD, FAST_STORE, FAST_STORE_IMM, FAST_CMP_MI, FAST_LEA, FAST_INCDEC, FAST_MOVZX_RR,
    FAST_IMUL_RR,
};
struct fast_desc {
    uint8_t kind;   /* enum fast_kind */
    uint8_t lazy;   /* the lazy flags operation it leaves (ALU, shift, CMP) */
    bool writes;    /* writes op[0] (not CMP or TEST) */
    bool flags;     /* sets the flags (not a form fast_flags_dead gave) */
    bool bd;        /* memory operand in the base + displacement form */
    uint8_t size;   /* operand size: of the memory access for loads and stores, of
                     * the source for MOVZX */
};
/* fn's form, or false if it is not one of those. */
bool fast_describe(insn_fn fn, struct fast_desc *d);
/* Host code for blk (x86-64 hosts, 64-bit mode): its first entry's fn
 * then runs the whole block, retires it and goes on into the next block's
 * code where it is linked (jit_link), else returns STEP_CHAINED. Leaves
 * blk as it is when there is no room or too little to cover. */
void jit_block(struct cpu *cpu, struct block *blk);
/* Links the edge at link (cpu->link_at, left by x's code that went to
 * y's RIP) to y's code, if y has code: valid while the epoch is the
 * current one, which the caller checked had not moved since. */
void jit_link(struct cpu *cpu, uint8_t *link, const struct block *x, const struct block *y);
/* Whether the code buffer has no room for another block's code. */
bool jit_full(const struct cpu *cpu);
/* Forgets all host code (with every block: decode.c blocks_clear). */
void jit_clear(struct cpu *cpu);
void jit_fini(struct cpu *cpu);

/* An entry run alone, as insn_generic runs it: next_rip set, then the
 * generic handler; a failure, or code or mappings changed under it
 * (STEP_STOPPED), stops at it. */
static inline int insn_generic_alone(struct cpu *cpu, const struct insn *in)
{
    uint32_t epoch = cpu->code_epoch;
    cpu->next_rip = in->next;
    int r = in->fn1(cpu, in);
    if (likely(r == STEP_OK) && unlikely(cpu->code_epoch != epoch))
        r = STEP_STOPPED;
    if (unlikely(r != STEP_OK))
        cpu->stop = in;
    return r;
}

/* shared helpers */
/* The signed product of the size-byte values a and b truncated to size
 * bytes (IMUL's two- and three-operand forms); *ovf when it does not hold
 * the whole product. Shared by ops_muldiv.c and ops_fast.c. */
static inline uint64_t imul_trunc(uint64_t a, uint64_t b, unsigned size, bool *ovf)
{
    unsigned sh = 64 - size * 8;
    __int128 p = (__int128)((int64_t)(a << sh) >> sh) * ((int64_t)(b << sh) >> sh);
    uint64_t r = (uint64_t)p & size_mask(size);
    *ovf = p != (__int128)((int64_t)(r << sh) >> sh);
    return r;
}
int decode_init(struct cpu *cpu);
/* Fetches up to 15 bytes at RIP: how many could be read before a fault
 * (described in fault), 0 for none. */
unsigned fetch_insn_bytes(struct cpu *cpu, uint64_t rip, bool mark_code, uint8_t buf[15],
                          struct exc *fault);
/* Decodes n fetched bytes with the mode's decoder; with zo NULL, the
 * instruction without its operands. */
enum cpu_decode_status decode_insn_bytes(struct cpu *cpu, const uint8_t *buf, unsigned n,
                                         ZydisDecodedInstruction *zi, ZydisDecodedOperand *zo);
/* Both. */
enum cpu_decode_status decode_fetch(struct cpu *cpu, uint64_t rip, bool mark_code,
                                    uint8_t buf[15], ZydisDecodedInstruction *zi,
                                    ZydisDecodedOperand *zo, struct exc *fault);
/* The block at rip when way 0 of its set is not it in this epoch: a live
 * way (its epoch brought up to date), or a new decode into a dead or the
 * least recently looked-up way. NULL with the fault in cpu->exc if its
 * first instruction cannot be fetched. */
struct block *block_lookup_slow(struct cpu *cpu, struct block *set, uint64_t rip);
/* The handler running first and the resolved Jcc (condition cc) after it
 * as one entry, or NULL if first does not fuse. The entry's op[2] then
 * describes the Jcc: OPND_IMM, val its target, size its length, index its
 * condition (decode.c block_fill). */
insn_fn fuse_jcc(insn_fn first, unsigned cc);
/* True for handlers that never branch, change mode, CPL or paging. */
bool insn_continues_block(insn_fn fn);
/* Bytes [pa, pa + len) of one page are being decoded into the block being
 * filled: mark them as code. */
void mmu_mark_code(struct cpu *cpu, uint64_t pa, unsigned len);
/* Checks port access permission for IN/OUT/INS/OUTS at CPL > IOPL through the
 * TSS I/O bitmap (APM vol. 2 §13.3). Returns 0 or raises #GP(0). */
int io_permission_tss(struct cpu *cpu, uint16_t port, unsigned size);
/* The I/O permission check: CPL <= IOPL (or real mode) allows any port;
 * otherwise the TSS bitmap decides (io_permission_tss). */
static inline int io_permission(struct cpu *cpu, uint16_t port, unsigned size)
{
    unsigned iopl = (cpu->rflags & X86_RFLAGS_IOPL) >> X86_RFLAGS_IOPL_SHIFT;
    if (likely(cpu->cpl <= iopl) || cpu->mode == CPU_MODE_REAL)
        return STEP_OK;
    return io_permission_tss(cpu, port, size);
}
/* Loads a new RFLAGS value with the privilege rules of POPF/IRET. */
void flags_load_checked(struct cpu *cpu, uint64_t v, unsigned size, bool iret);

/* SHL/SHR/SAR of the size-byte value v by a masked count c (1 to 63):
 * the result. Shared by ops_shift.c and the specialised forms in
 * ops_fast.c; the flags stay lazy (a kind is its lazy operation: flags.h,
 * shift_cf and shift_of). */
enum shift { SH_SHL = LF_SHL, SH_SHR = LF_SHR, SH_SAR = LF_SAR };
static inline uint64_t shift_result(enum shift kind, uint64_t v, unsigned c, unsigned size)
{
    uint64_t m = size_mask(size);
    switch (kind) {
    case SH_SHL:
        /* c <= 31 for sizes below 8, so v << c cannot lose bits we need. */
        return (v << c) & m;
    case SH_SHR:
        return v >> c;
    default: {
        unsigned sh = 64 - size * 8;
        int64_t sv = (int64_t)(v << sh) >> sh;
        return (uint64_t)(sv >> c) & m;
    }
    }
}

#endif
