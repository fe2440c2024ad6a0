/* decode.c — instruction decoding with Zydis and the decoded-instruction cache.
 *
 * Owns: turning bytes at CS:RIP into a struct insn (operands in a compact form
 * the handlers read directly, the handler chosen once), and the direct-mapped
 * cache keyed by linear RIP, decode context (mode, CPL) and generation.
 * Must not: execute anything. Never decode bytes by hand: Zydis does that.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"

#include <string.h>

static const struct {
    ZydisMachineMode mode;
    ZydisStackWidth stack;
} zydis_modes[CPU_MODE_COUNT] = {
    [CPU_MODE_REAL] = { ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16 },
    [CPU_MODE_PROT16] = { ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16 },
    [CPU_MODE_PROT32] = { ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32 },
    [CPU_MODE_COMPAT16] = { ZYDIS_MACHINE_MODE_LONG_COMPAT_16, ZYDIS_STACK_WIDTH_16 },
    [CPU_MODE_COMPAT32] = { ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32 },
    [CPU_MODE_LONG64] = { ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64 },
};

int decode_init(struct cpu *cpu)
{
    for (int m = 0; m < CPU_MODE_COUNT; m++)
        if (!ZYAN_SUCCESS(ZydisDecoderInit(&cpu->decoder[m], zydis_modes[m].mode,
                                           zydis_modes[m].stack)))
            return -1;
    return 0;
}

/* No block: the successor hint of a block that has none. No RIP is
 * non-canonical, and no epoch is 0, so it never matches; nothing writes
 * it. */
struct block block_none = { .rip = 1ull << 63 };

/* Every header cleared (epoch 0: none matches, no hints) and the arena
 * empty. (The headers start as zeros, hints NULL; a header's hints are
 * read only after it ran, and block_fill sets them.) */
static void blocks_clear(struct cpu *cpu)
{
    memset(cpu->blocks, 0, sizeof(struct block) * BLOCK_SETS * BLOCK_WAYS);
    for (unsigned i = 0; i < BLOCK_SETS * BLOCK_WAYS; i++)
        cpu->blocks[i].succ[0] = cpu->blocks[i].succ[1] = &block_none;
    cpu->arena_used = 0;
    jit_clear(cpu);
}

/* Every block forgotten, and the epoch moved on for those still held. */
static void blocks_forget(struct cpu *cpu)
{
    blocks_clear(cpu);
    code_epoch_next(cpu);
}

void icache_epoch_wrapped(struct cpu *cpu)
{
    blocks_clear(cpu);
    cpu->code_epoch = 1; /* (code_epoch_next, the only caller, sets chain_key) */
}

/* A decode generation no block has yet. Generations are unique across
 * contexts, so a block of one context never matches another's. */
static uint32_t new_gen(struct cpu *cpu)
{
    if (cpu->gen_next == 0) {
        /* Wrapped: make sure no stale block can match an old generation. */
        blocks_forget(cpu);
        cpu->gen_next = 1;
        for (unsigned i = 0; i < CPU_CONTEXTS; i++)
            cpu->contexts[i].gen = cpu->gen_next++;
    }
    return cpu->gen_next++;
}

void icache_flush(struct cpu *cpu)
{
    uint32_t gen = new_gen(cpu);
    cpu->contexts[cpu->context].gen = gen;
    cpu->icache_gen = cpu->contexts[cpu->context].gen;
    code_epoch_next(cpu);
}

void icache_flush_all(struct cpu *cpu)
{
    for (unsigned i = 0; i < CPU_CONTEXTS; i++)
        cpu->contexts[i].gen = new_gen(cpu);
    cpu->icache_gen = cpu->contexts[cpu->context].gen;
    code_epoch_next(cpu);
}

/* Maps a Zydis general-purpose register to (index, size, high byte).
 * Returns false for any other register class. */
static bool map_gpr(ZydisRegister r, struct opnd *o)
{
    o->hi8 = 0;
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_R15B) {
        unsigned i = r - ZYDIS_REGISTER_AL;
        o->size = 1;
        if (i >= 4 && i <= 7) {
            o->reg = (uint8_t)(i - 4);
            o->hi8 = 1;
        } else {
            o->reg = (uint8_t)(i < 4 ? i : i - 4);
        }
        return true;
    }
    if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
        o->reg = (uint8_t)(r - ZYDIS_REGISTER_AX);
        o->size = 2;
        return true;
    }
    if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
        o->reg = (uint8_t)(r - ZYDIS_REGISTER_EAX);
        o->size = 4;
        return true;
    }
    if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
        o->reg = (uint8_t)(r - ZYDIS_REGISTER_RAX);
        o->size = 8;
        return true;
    }
    return false;
}

static uint8_t map_index_reg(ZydisRegister r, bool *ok)
{
    struct opnd o;
    if (r == ZYDIS_REGISTER_NONE)
        return REG_NONE;
    if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP)
        return REG_RIP;
    if (map_gpr(r, &o) && !o.hi8 && o.size >= 2)
        return o.reg;
    *ok = false;
    return REG_NONE;
}

static uint8_t map_seg(ZydisRegister r)
{
    if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS)
        return (uint8_t)(r - ZYDIS_REGISTER_ES);
    return SEG_DS;
}

/* Fills one operand; returns false when it names state the model does not
 * have (x87/MMX/SSE registers and the like), which makes the insn #UD. */
static bool fill_operand(const ZydisDecodedOperand *zo, struct opnd *o)
{
    memset(o, 0, sizeof(*o));
    o->reg = REG_NONE;
    o->index = REG_NONE;
    switch (zo->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        o->type = OPND_REG;
        if (map_gpr(zo->reg.value, o))
            return true;
        if (zo->reg.value >= ZYDIS_REGISTER_ES && zo->reg.value <= ZYDIS_REGISTER_GS) {
            o->sreg = (uint8_t)(zo->reg.value - ZYDIS_REGISTER_ES);
            o->reg = REG_NONE;
            o->scale = REGCLASS_SEG;
            o->size = 2;
            return true;
        }
        if (zo->reg.value >= ZYDIS_REGISTER_CR0 && zo->reg.value <= ZYDIS_REGISTER_CR15) {
            o->sreg = (uint8_t)(zo->reg.value - ZYDIS_REGISTER_CR0);
            o->reg = REG_NONE;
            o->scale = REGCLASS_CR;
            o->size = 8;
            return true;
        }
        if (zo->reg.value >= ZYDIS_REGISTER_DR0 && zo->reg.value <= ZYDIS_REGISTER_DR15) {
            o->sreg = (uint8_t)(zo->reg.value - ZYDIS_REGISTER_DR0);
            o->reg = REG_NONE;
            o->scale = REGCLASS_DR;
            o->size = 8;
            return true;
        }
        return false;
    case ZYDIS_OPERAND_TYPE_MEMORY: {
        bool ok = true;
        o->type = OPND_MEM;
        o->size = (uint8_t)(zo->size / 8);
        o->reg = map_index_reg(zo->mem.base, &ok);
        o->index = map_index_reg(zo->mem.index, &ok);
        o->scale = zo->mem.scale ? zo->mem.scale : 1;
        o->seg = map_seg(zo->mem.segment);
        o->val = zo->mem.disp.value;
        return ok;
    }
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        o->type = OPND_IMM;
        o->size = (uint8_t)(zo->size / 8);
        o->val = zo->imm.is_signed ? zo->imm.value.s : (int64_t)zo->imm.value.u;
        return true;
    case ZYDIS_OPERAND_TYPE_POINTER:
        /* ptr16:16/32: the selector travels in bits 47:32 of val */
        o->type = OPND_PTR;
        o->size = (uint8_t)(zo->size / 8);
        o->val = (int64_t)(((uint64_t)zo->ptr.segment << 32) | zo->ptr.offset);
        return true;
    default:
        return false;
    }
}

static bool uses_fpu_or_simd(const ZydisDecodedInstruction *zi)
{
    return (zi->attributes & (ZYDIS_ATTRIB_FPU_STATE_CR | ZYDIS_ATTRIB_FPU_STATE_CW |
                              ZYDIS_ATTRIB_XMM_STATE_CR | ZYDIS_ATTRIB_XMM_STATE_CW)) ||
           zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY;
}

static unsigned reg_class(const struct opnd *o)
{
    return o->type == OPND_REG && o->reg == REG_NONE ? o->scale : REGCLASS_GPR;
}

static bool is_x87(const ZydisDecodedInstruction *zi)
{
    return zi->attributes & (ZYDIS_ATTRIB_FPU_STATE_CR | ZYDIS_ATTRIB_FPU_STATE_CW);
}

/* Handlers that depend on the operand kinds, chosen once at decode time. */
static insn_fn specialize(const struct insn *in)
{
    unsigned c0 = reg_class(&in->op[0]), c1 = reg_class(&in->op[1]);
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
        if (c0 == REGCLASS_CR || c1 == REGCLASS_CR)
            return op_mov_cr;
        if (c0 == REGCLASS_DR || c1 == REGCLASS_DR)
            return op_mov_dr;
        if (c0 == REGCLASS_SEG || c1 == REGCLASS_SEG)
            return op_mov_seg;
        break;
    case ZYDIS_MNEMONIC_PUSH:
        if (c0 == REGCLASS_SEG)
            return op_push_seg;
        break;
    case ZYDIS_MNEMONIC_POP:
        if (c0 == REGCLASS_SEG)
            return op_pop_seg;
        break;
    case ZYDIS_MNEMONIC_JMP:
        if (in->op[0].type == OPND_PTR || (in->op[0].type == OPND_MEM && in->opcode == 0xff &&
                                           ((in->modrm >> 3) & 7) == 5))
            return op_jmp_far;
        break;
    case ZYDIS_MNEMONIC_CALL:
        if (in->op[0].type == OPND_PTR || (in->op[0].type == OPND_MEM && in->opcode == 0xff &&
                                           ((in->modrm >> 3) & 7) == 3))
            return op_call_far;
        break;
    case ZYDIS_MNEMONIC_RET:
        if (in->opcode == 0xca || in->opcode == 0xcb)
            return op_ret_far;
        break;
    default:
        break;
    }
    return insn_handler((ZydisMnemonic)in->mnemonic);
}

unsigned fetch_insn_bytes(struct cpu *cpu, uint64_t rip, bool mark_code, uint8_t buf[15],
                          struct exc *fault)
{
    uint64_t la = code_linear(cpu, rip);
    memset(fault, 0, sizeof(*fault));
    if (!is_canonical(la)) {
        fault->vector = X86_VEC_GP;
        fault->has_error = true;
        return 0;
    }
    return mmu_fetch(cpu, la, buf, 15, fault, mark_code);
}

enum cpu_decode_status decode_insn_bytes(struct cpu *cpu, const uint8_t *buf, unsigned n,
                                         ZydisDecodedInstruction *zi, ZydisDecodedOperand *zo)
{
    if (n == 0)
        return CPU_DECODE_FETCH_FAULT;
    ZyanStatus st = zo ? ZydisDecoderDecodeFull(&cpu->decoder[cpu->mode], buf, n, zi, zo)
                       : ZydisDecoderDecodeInstruction(&cpu->decoder[cpu->mode], ZYAN_NULL, buf,
                                                       n, zi);
    if (st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG)
        return CPU_DECODE_TOO_LONG;
    if (st == ZYDIS_STATUS_NO_MORE_DATA)
        /* Runs into a page that faults, or past 15 bytes. */
        return n < 15 ? CPU_DECODE_FETCH_FAULT : CPU_DECODE_TOO_LONG;
    if (!ZYAN_SUCCESS(st))
        return CPU_DECODE_INVALID;
    return CPU_DECODE_OK;
}

enum cpu_decode_status decode_fetch(struct cpu *cpu, uint64_t rip, bool mark_code,
                                    uint8_t buf[15], ZydisDecodedInstruction *zi,
                                    ZydisDecodedOperand *zo, struct exc *fault)
{
    unsigned n = fetch_insn_bytes(cpu, rip, mark_code, buf, fault);
    return decode_insn_bytes(cpu, buf, n, zi, zo);
}

static int decode_bytes(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *zo,
                        struct insn *in)
{
    memset(in->op, 0, sizeof(in->op));
    in->len = zi->length;
    in->osize = (uint8_t)(zi->operand_width / 8);
    in->asize = (uint8_t)(zi->address_width / 8);
    in->mnemonic = (uint16_t)zi->mnemonic;
    in->prefix = 0;
    if (zi->attributes & ZYDIS_ATTRIB_HAS_REP)
        in->prefix |= INSN_REP;
    if (zi->attributes & ZYDIS_ATTRIB_HAS_REPE)
        in->prefix |= INSN_REP;
    if (zi->attributes & ZYDIS_ATTRIB_HAS_REPNE)
        in->prefix |= INSN_REPNE;
    if (zi->attributes & ZYDIS_ATTRIB_HAS_LOCK)
        in->prefix |= INSN_LOCK;
    in->opcode = zi->opcode;
    in->modrm = (zi->attributes & ZYDIS_ATTRIB_HAS_MODRM)
                    ? (uint8_t)((zi->raw.modrm.mod << 6) | (zi->raw.modrm.reg << 3) | zi->raw.modrm.rm)
                    : 0;
    in->cc = zi->opcode & 0xf;
    in->nops = zi->operand_count_visible > 3 ? 3 : zi->operand_count_visible;

    if (zi->mnemonic == ZYDIS_MNEMONIC_FWAIT || zi->mnemonic == ZYDIS_MNEMONIC_FNOP) {
        in->fn = zi->mnemonic == ZYDIS_MNEMONIC_FWAIT ? op_fwait : op_fnop;
        return 0;
    }
    if (uses_fpu_or_simd(zi)) {
        /* No FPU/SIMD state in the model; CR0.EM/TS still give #NM first. */
        in->fn = is_x87(zi) ? op_fpu : op_ud;
        return 0;
    }
    bool ok = true;
    for (unsigned i = 0; i < in->nops && ok; i++) {
        ok = fill_operand(&zo[i], &in->op[i]);
        /* An immediate takes the size of the operation it feeds. */
        if (ok && in->op[i].type == OPND_IMM && i > 0 && in->op[0].size &&
            in->op[0].type != OPND_IMM)
            in->op[i].size = in->op[0].size;
    }
    /* String instructions keep their memory operands hidden; give them the
     * free slots (nops stays the visible count) so that a segment override
     * on DS:rSI reaches the handler. */
    for (unsigned i = in->nops, slot = in->nops; ok && i < zi->operand_count && slot < 3; i++) {
        if (zo[i].type != ZYDIS_OPERAND_TYPE_MEMORY || zo[i].mem.type != ZYDIS_MEMOP_TYPE_MEM)
            continue;
        ok = fill_operand(&zo[i], &in->op[slot++]);
    }
    in->fn = ok ? insn_handler(zi->mnemonic) : op_ud;
    if (ok)
        in->fn = specialize(in);
    /* LOCK is only legal on a read-modify-write of memory (APM vol. 3 §1.2.5). */
    if ((in->prefix & INSN_LOCK) && (in->nops == 0 || in->op[0].type != OPND_MEM ||
                                     !(zi->attributes & ZYDIS_ATTRIB_ACCEPTS_LOCK)))
        in->fn = op_ud;
    return 0;
}

/* Relative branches (JMP, Jcc, CALL) in 64-bit mode get their target
 * computed once: true when in is now such a branch (it sets next_rip
 * either way). */
static bool resolve_branch(struct cpu *cpu, struct insn *in)
{
    if (cpu->mode != CPU_MODE_LONG64 || in->nops < 1 || in->op[0].type != OPND_IMM)
        return false;
    uint64_t target = in->next + (uint64_t)in->op[0].val;
    if (!is_canonical(target))
        return false;
    if (in->fn == op_jcc) {
        in->op[0].val = (int64_t)target;
        in->fn = op_jcc_abs_by_cc[in->cc & 15];
        return true;
    }
    if (in->fn == op_jmp) {
        in->op[0].val = (int64_t)target;
        in->fn = op_jmp_abs;
        return true;
    }
    if (in->fn == op_call) {
        in->op[0].val = (int64_t)target;
        in->fn = op_call_abs;
        return true;
    }
    return false;
}

/* Decodes the instruction at linear RIP rip into *in. Returns 0, or -1 with
 * the fetch fault in cpu->exc. */
static int decode_at(struct cpu *cpu, uint64_t rip, struct insn *in)
{
    uint8_t buf[15];
    struct exc fault;
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    enum cpu_decode_status st = decode_fetch(cpu, rip, true, buf, &zi, zo, &fault);
    if (st == CPU_DECODE_FETCH_FAULT) {
        cpu->exc = fault; /* the first byte, or a later one, cannot be fetched */
        return -1;
    }
    if (st == CPU_DECODE_TOO_LONG)
        return raise_gp(cpu, 0), -1; /* longer than 15 bytes (APM vol. 3 §1.1) */
    if (st == CPU_DECODE_OK)
        decode_bytes(&zi, zo, in);
    else {
        /* Undecodable: #UD. */
        in->len = 1;
        in->fn = op_ud;
        in->nops = 0;
        in->mnemonic = ZYDIS_MNEMONIC_INVALID;
    }
    in->rip = rip;
    in->next = (rip + in->len) & cpu->ip_mask;
    insn_fn generic = in->fn;
    if (cpu->mode == CPU_MODE_LONG64)
        in->fn = specialize_fast(in);
    bool goes_on = in->fn != generic; /* a specialised handler chains itself */
    if (goes_on)
        fast_operands(in);
    /* A REP instruction may stay on its own RIP (ops_string.c slices). */
    in->ends_block = !insn_continues_block(in->fn) || (in->prefix & (INSN_REP | INSN_REPNE));
    bool branch = resolve_branch(cpu, in);
    in->fn1 = in->fn;
    if (!goes_on && !branch)
        in->fn = in->ends_block ? insn_generic_last : insn_generic;
    return 0;
}

/* Decodes the block at cpu->rip into the header blk. NULL if its first
 * instruction cannot be fetched (the fault in cpu->exc). */
static struct block *block_fill(struct cpu *cpu, struct block *blk)
{
    /* Room for the block's instructions, and for its host code: when
     * either is full every block is forgotten (blk is a header: it stays
     * where it is) */
    if (cpu->arena_used > BLOCK_ARENA - (BLOCK_MAX + 1) || jit_full(cpu))
        blocks_forget(cpu);
    struct exc saved = cpu->exc;
    unsigned n;
    do {
        struct insn *insns = &cpu->arena[cpu->arena_used];
        uint64_t rip = cpu->rip;
        cpu->fill_pages = 0;
        cpu->fill_restart = false;
        n = 0;
        while (n < BLOCK_MAX) {
            if (decode_at(cpu, rip, &insns[n]) != 0) {
                if (n == 0)
                    return NULL;
                cpu->exc = saved; /* reached when execution gets there */
                break;
            }
            struct insn *in = &insns[n];
            in->seq = (uint8_t)n++;
            if (in->ends_block)
                break;
            rip = in->next;
        }
        blk->insns = insns;
    } while (cpu->fill_restart); /* the marks of its first pages were forgotten */
    blk->n = (uint8_t)n;
    blk->weight = (uint8_t)n;
    unsigned entries = n;
    /* A flag-setting instruction and the resolved Jcc ending the block run
     * as one entry, the Jcc described in its op[2] (fuse_jcc): the Jcc's
     * own entry is not kept. */
    struct insn *last = &blk->insns[n - 1];
    if (n >= 2 && last->fn == op_jcc_abs_by_cc[last->cc & 15]) {
        insn_fn fused = fuse_jcc(last[-1].fn, last->cc & 15);
        if (fused) {
            last[-1].fn = fused;
            last[-1].op[2] = (struct opnd){ .type = OPND_IMM, .size = last->len,
                                            .index = last->cc & 15, .val = last->op[0].val };
            blk->n = (uint8_t)(n - 1);
            entries = n - 1;
        }
    }
    /* A block whose last instruction goes on into the next entry (BLOCK_MAX
     * reached, or the next one not decodable yet) gets an end entry that
     * says where; one that ends in a branch or a wrapped handler needs
     * none, and its entries stay closer together. */
    if (!blk->insns[n - 1].ends_block) {
        uint64_t after = blk->insns[n - 1].next;
        blk->insns[n] = (struct insn){ .fn = insn_block_end, .rip = after, .next = after,
                                       .seq = (uint8_t)n };
        entries++;
    }
    cpu->arena_used += entries;
    cpu->decoded += n;
    fast_flags_dead(blk->insns, blk->n);
    jit_block(cpu, blk);
    blk->rip = cpu->rip;
    blk->succ[0] = blk->succ[1] = &block_none;
    blk->used = ++cpu->lookup_clock;
    blk->gen = cpu->icache_gen;
    blk->ctx = cpu->ctx;
    /* No RAM under it (all ones were fetched): tie it to slot 0, harmlessly. */
    blk->pslot[0] = cpu->fill_pages ? cpu->fill_slot[0] : 0;
    blk->pslot[1] = cpu->fill_pages > 1 ? cpu->fill_slot[1] : blk->pslot[0];
    blk->pgen[0] = cpu->page_gen[blk->pslot[0]];
    blk->pgen[1] = cpu->page_gen[blk->pslot[1]];
    blk->epoch = cpu->code_epoch;
    return blk;
}

/* Whether a header is a live block of the running context and decode
 * context (its rip aside). */
static bool block_live(const struct cpu *cpu, const struct block *b)
{
    return b->gen == cpu->icache_gen && b->ctx == cpu->ctx &&
           cpu->page_gen[b->pslot[0]] == b->pgen[0] && cpu->page_gen[b->pslot[1]] == b->pgen[1];
}

struct block *block_lookup_slow(struct cpu *cpu, struct block *set, uint64_t rip)
{
    for (unsigned w = 0; w < BLOCK_WAYS; w++) {
        if (set[w].rip == rip && block_live(cpu, &set[w])) {
            set[w].epoch = cpu->code_epoch;
            set[w].used = ++cpu->lookup_clock;
            return &set[w];
        }
    }
    /* A miss: the first dead way makes room, else the least recently
     * looked up (ages compared as distances from now, so the clock may
     * wrap). */
    unsigned victim = 0;
    for (unsigned w = 0; w < BLOCK_WAYS; w++) {
        if (!block_live(cpu, &set[w])) {
            victim = w;
            break;
        }
        if (cpu->lookup_clock - set[w].used > cpu->lookup_clock - set[victim].used)
            victim = w;
    }
    memset(&set[victim], 0, sizeof(*set));
    return block_fill(cpu, &set[victim]);
}
