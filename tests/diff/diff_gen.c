/* diff_gen.c — owned by tests/diff: generates the cases of the differential
 * CPU test: input state, scratch memory, operands and their encoding (the
 * instruction families are in diff_gen_families.c). Every instruction is
 * encoded by the Zydis encoder from a request (mnemonic + operands) and
 * decoded back to check it is what was asked for.
 *
 * Safety by construction, so the host and the simulator see the same
 * memory and neither strays outside the scratch area:
 *   - one base register (RBX, RBP or R8-R15, chosen per case) points into
 *     scratch; no generated instruction writes it, nor RSP except PUSH/POP;
 *   - memory operands are [base + disp], [rsp + disp], RIP-relative into
 *     scratch, or [base + index*scale + disp] with the index just set to a
 *     small value; never with a data-dependent index;
 *   - string instructions get RSI/RDI (and RCX under REP) set just before
 *     them, BT* with a memory operand and a register offset gets the offset
 *     register set to a small value just before. Those "setup" instructions
 *     are ordinary instructions of the case.
 */
#include "diff_gen.h"

#include <string.h>

#include "diff_flags.h"
#include "diff_gen_internal.h"

/* ---- random values ---------------------------------------------------- */

static uint64_t gen_width_mask(unsigned bits)
{
    return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

int64_t gen_sign_extend(uint64_t v, unsigned bits)
{
    if (bits >= 64)
        return (int64_t)v;
    uint64_t sign = 1ull << (bits - 1);
    v &= gen_width_mask(bits);
    return (int64_t)((v ^ sign) - sign);
}

/* A value of the given width that sits on an edge the flags care about:
 * 0, 1, all ones, INT_MAX, INT_MIN and their neighbours, powers of two. */
uint64_t gen_edge_value(struct gen *g, unsigned bits)
{
    uint64_t mask = gen_width_mask(bits), sign = 1ull << (bits - 1);
    switch (below(g, 11)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return mask;                       /* -1 */
    case 3: return sign - 1;                   /* INT_MAX */
    case 4: return sign;                       /* INT_MIN */
    case 5: return sign + 1;
    case 6: return mask - 1;                   /* -2 */
    case 7: return (uint64_t)below(g, 66);
    case 8: return 1ull << below(g, bits);
    case 9: return (1ull << below(g, bits)) - 1;
    default: return diff_rng_next(&g->rng) & mask;
    }
}

/* A 64-bit register value: an edge of some width in the low bits, the rest
 * zero, sign or random; or entirely random. */
uint64_t gen_register_value(struct gen *g)
{
    if (chance(g, 1, 4))
        return diff_rng_next(&g->rng);
    unsigned bits = 8u << below(g, 4);
    uint64_t v = gen_edge_value(g, bits);
    if (bits == 64)
        return v;
    switch (below(g, 4)) {
    case 0: return (uint64_t)gen_sign_extend(v, bits);
    case 1: return v | (diff_rng_next(&g->rng) & ~gen_width_mask(bits));
    default: return v;
    }
}

/* An immediate for an operation of `bits` (the encoder takes it sign-extended
 * to 64 bits and picks imm8 when it fits). */
int64_t gen_imm_value(struct gen *g, unsigned bits)
{
    unsigned width = bits > 32 ? 32 : bits;
    if (width > 8 && chance(g, 1, 2))
        width = 8;
    return gen_sign_extend(gen_edge_value(g, width), width);
}

/* Shift and rotate counts around every masking edge. */
uint8_t gen_count_value(struct gen *g)
{
    static const uint8_t counts[] = { 0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 31,
                                      32, 33, 63, 64, 65, 127, 128, 255 };
    if (chance(g, 1, 4))
        return (uint8_t)below(g, 256);
    return counts[below(g, sizeof counts)];
}

/* ---- operands --------------------------------------------------------- */

ZydisRegister gen_gpr(unsigned idx, unsigned bits)
{
    switch (bits) {
    case 8:
        if (idx < 4)
            return (ZydisRegister)(ZYDIS_REGISTER_AL + idx);
        if (idx < 8)
            return (ZydisRegister)(ZYDIS_REGISTER_SPL + (idx - 4));
        return (ZydisRegister)(ZYDIS_REGISTER_R8B + (idx - 8));
    case 16: return (ZydisRegister)(ZYDIS_REGISTER_AX + idx);
    case 32: return (ZydisRegister)(ZYDIS_REGISTER_EAX + idx);
    default: return (ZydisRegister)(ZYDIS_REGISTER_RAX + idx);
    }
}

/* A register of the given width. A writable one is never RSP nor the base
 * register (nor BH when the base is RBX). */
ZydisRegister gen_pick_reg(struct gen *g, unsigned bits, bool writable)
{
    if (bits == 8 && chance(g, 1, 5)) {
        unsigned high = below(g, 4); /* AH CH DH BH: bits 15:8 of RAX RCX RDX RBX */
        if (!writable || (int)high != g->c->base_reg)
            return (ZydisRegister)(ZYDIS_REGISTER_AH + high);
    }
    for (;;) {
        unsigned idx = below(g, 16);
        if (writable && (idx == 4 || (int)idx == g->c->base_reg))
            continue;
        return gen_gpr(idx, bits);
    }
}

void gen_op_reg(ZydisEncoderOperand *op, ZydisRegister reg)
{
    op->type = ZYDIS_OPERAND_TYPE_REGISTER;
    op->reg.value = reg;
}

void gen_op_imm(ZydisEncoderOperand *op, int64_t value)
{
    op->type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
    op->imm.s = value;
}

void gen_op_mem(ZydisEncoderOperand *op, ZydisRegister base, int64_t disp, unsigned bytes)
{
    op->type = ZYDIS_OPERAND_TYPE_MEMORY;
    op->mem.base = base;
    op->mem.index = ZYDIS_REGISTER_NONE;
    op->mem.scale = 0;
    op->mem.displacement = disp;
    op->mem.size = (ZyanU16)bytes;
}

static int64_t gen_pick_disp(struct gen *g, int64_t lo, int64_t hi, unsigned bytes)
{
    int64_t d;
    switch (below(g, 4)) {
    case 0: return 0;
    case 1: d = range(g, -32, 32); break;
    default: d = range(g, lo, hi); break;
    }
    if (chance(g, 1, 2))
        d &= ~(int64_t)(bytes - 1); /* aligned, as compilers lay data out */
    return d;
}

/* A memory operand of `bytes` inside scratch: [base+disp], [rsp+disp],
 * RIP-relative (the encoder turns the absolute target into rip+disp32;
 * code and scratch sit at the same addresses on both sides), or
 * [base+index*scale+disp] with the index set to a small value by a setup
 * instruction emitted right here. The index is never RAX, RCX or RDX,
 * which other setup instructions (CMPXCHG's accumulator, a shift count, a
 * dividend's extension) write. */
void gen_pick_mem(struct gen *g, ZydisEncoderOperand *op, unsigned bytes)
{
    unsigned form = below(g, 10);
    if (form < 5 && bytes > 1 && chance(g, 1, 6)) {
        /* Straddle a page boundary near the base. */
        uint64_t base = g->c->in.gpr[g->c->base_reg];
        uint64_t page = (base & ~0xfffull) + (chance(g, 1, 2) ? 0x1000 : 0);
        int64_t disp = (int64_t)(page - base) - (int64_t)(1 + below(g, bytes - 1));
        gen_op_mem(op, gen_gpr((unsigned)g->c->base_reg, 64), disp, bytes);
    } else if (form < 5) {
        gen_op_mem(op, gen_gpr((unsigned)g->c->base_reg, 64), gen_pick_disp(g, -512, 512, bytes),
                   bytes);
    } else if (form == 5) {
        unsigned idx;
        do
            idx = below(g, 16);
        while (idx <= 2 || idx == 4 || (int)idx == g->c->base_reg);
        bool wide = chance(g, 1, 2);
        if (!gen_emit_mov_imm(g, gen_gpr(idx, wide ? 64 : 32), wide ? 64 : 32,
                          wide ? range(g, -64, 64) : range(g, 0, 64)))
            g->broken = true;
        gen_op_mem(op, gen_gpr((unsigned)g->c->base_reg, 64), gen_pick_disp(g, -512, 512, bytes),
                   bytes);
        op->mem.index = gen_gpr(idx, 64);
        op->mem.scale = (ZyanU8)(1u << below(g, 4));
    } else if (form < 8)
        gen_op_mem(op, ZYDIS_REGISTER_RSP, gen_pick_disp(g, -64, 256, bytes), bytes);
    else
        gen_op_mem(op, ZYDIS_REGISTER_RIP,
               (int64_t)(DIFF_SCRATCH_ADDR + 0x100 + below(g, 0x1000)), bytes);
}

/* Register (writable or not) or memory, with a 1-in-`den` chance of memory. */
bool gen_pick_rm(struct gen *g, ZydisEncoderOperand *op, unsigned bits, bool writable,
                    unsigned den)
{
    if (below(g, den) == 0) {
        gen_pick_mem(g, op, bits / 8);
        return true;
    }
    gen_op_reg(op, gen_pick_reg(g, bits, writable));
    return false;
}

unsigned gen_pick_size(struct gen *g) { return 8u << below(g, 4); }      /* 8 16 32 64 */
unsigned gen_pick_wide_size(struct gen *g) { return 16u << below(g, 3); } /* 16 32 64 */

/* ---- emitting ---------------------------------------------------------- */

ZydisEncoderRequest gen_request(ZydisMnemonic m, unsigned operand_count)
{
    ZydisEncoderRequest req;
    memset(&req, 0, sizeof req);
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.mnemonic = m;
    req.operand_count = (ZyanU8)operand_count;
    return req;
}

/* `cmp reg, imm`: a setup that defines all six arithmetic flags, put before
 * an instruction that reads flags an earlier one may have left undefined
 * (ADC after BSF, CMOVcc after MUL): its result would be undefined too. */
static bool gen_emit_flag_definer(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_CMP, 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, false));
    gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
    return gen_emit(g, &req, gen_setup(bits));
}

/* Appends an encoded instruction after checking it decodes back whole as
 * `mnemonic`. False (nothing appended) when it does not, or when the case
 * is full. */
static bool gen_append(struct gen *g, const uint8_t *buf, size_t len, ZydisMnemonic mnemonic,
                       struct gen_meta m)
{
    struct diff_case *c = g->c;
    ZydisDecodedInstruction insn;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&g->decoder, NULL, buf, len, &insn)) ||
        insn.mnemonic != mnemonic || insn.length != len) {
        c->rejected++;
        return false;
    }
    if (c->n_insns >= DIFF_MAX_INSNS || c->code_len + len > DIFF_CODE_MAX)
        return false;
    struct diff_insn *out = &c->insns[c->n_insns++];
    memset(out, 0, sizeof *out);
    out->offset = (uint32_t)c->code_len;
    out->len = (uint8_t)len;
    memcpy(out->bytes, buf, len);
    out->mnemonic = mnemonic;
    out->opsize = (uint8_t)m.opsize;
    out->count_src = (uint8_t)m.count_src;
    out->count_imm = m.count_imm;
    out->rep = m.rep;
    out->setup = m.setup;
    memcpy(c->code + c->code_len, buf, len);
    c->code_len += len;
    uint32_t surely_defined, maybe_undefined, read;
    diff_flags_bounds(out, &surely_defined, &maybe_undefined, &read);
    g->maybe_undefined = (g->maybe_undefined & ~surely_defined) | maybe_undefined;
    return true;
}

/* Encodes req at the end of the case. False (nothing appended) when the
 * encoder refuses it, when it decodes back as something else (Zydis encodes
 * `xchg eax, eax` as NOP, which does not zero-extend), or when it is full. */
bool gen_emit(struct gen *g, ZydisEncoderRequest *req, struct gen_meta m)
{
    struct diff_case *c = g->c;
    if (c->n_insns >= DIFF_MAX_INSNS || g->broken)
        return false;
    struct diff_insn probe = { .mnemonic = req->mnemonic, .opsize = (uint8_t)m.opsize,
                               .count_src = (uint8_t)m.count_src, .count_imm = m.count_imm,
                               .rep = m.rep };
    uint32_t surely_defined, maybe_undefined, read;
    diff_flags_bounds(&probe, &surely_defined, &maybe_undefined, &read);
    if ((read & g->maybe_undefined) && !gen_emit_flag_definer(g))
        return false;
    uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof buf;
    ZydisMnemonic mnemonic = req->mnemonic;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(req, buf, &len,
                                                            c->code_addr + c->code_len))) {
        c->rejected++;
        return false;
    }
    return gen_append(g, buf, len, mnemonic, m);
}

/* One NOP of `len` bytes (1-9) in the forms assemblers pad with (66 90,
 * 0F 1F /0 with SIB and displacement), from Zydis' NOP filler. */
bool gen_emit_nop(struct gen *g, unsigned len)
{
    uint8_t buf[16];
    if (g->broken || len == 0 || len > 9 ||
        !ZYAN_SUCCESS(ZydisEncoderNopFill(buf, len)))
        return false;
    return gen_append(g, buf, len, ZYDIS_MNEMONIC_NOP, gen_plain(0));
}

struct gen_meta gen_plain(unsigned opsize) { return (struct gen_meta){ .opsize = opsize }; }
struct gen_meta gen_setup(unsigned opsize)
{
    return (struct gen_meta){ .opsize = opsize, .setup = true };
}

void gen_maybe_lock(struct gen *g, ZydisEncoderRequest *req, unsigned num, unsigned den)
{
    if (chance(g, num, den))
        req->prefixes |= ZYDIS_ATTRIB_HAS_LOCK;
}

/* `mov reg, imm` as a setup instruction. */
bool gen_emit_mov_imm(struct gen *g, ZydisRegister reg, unsigned bits, int64_t value)
{
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_MOV, 2);
    gen_op_reg(&req.operands[0], reg);
    gen_op_imm(&req.operands[1], value);
    return gen_emit(g, &req, gen_setup(bits));
}

/* `lea reg64, [base + disp]` as a setup instruction. */
bool gen_emit_lea_scratch(struct gen *g, unsigned reg_idx, int64_t disp)
{
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_LEA, 2);
    gen_op_reg(&req.operands[0], gen_gpr(reg_idx, 64));
    gen_op_mem(&req.operands[1], gen_gpr((unsigned)g->c->base_reg, 64), disp, 8);
    return gen_emit(g, &req, gen_setup(64));
}

/* ---- the case ---------------------------------------------------------- */

static void gen_input(struct gen *g)
{
    static const int base_candidates[] = { 3, 5, 8, 9, 10, 11, 12, 13, 14, 15 };
    struct diff_case *c = g->c;
    c->base_reg = base_candidates[below(g, sizeof base_candidates / sizeof base_candidates[0])];
    for (unsigned i = 0; i < 16; i++)
        c->in.gpr[i] = gen_register_value(g);
    /* Memory operands reach base +- ~1.2 KiB, the stack rsp - 0.5 .. + 0.5 KiB. */
    c->in.gpr[c->base_reg] = DIFF_SCRATCH_ADDR + 0x2000 + below(g, 0x6000);
    c->in.gpr[4] =
        (DIFF_SCRATCH_ADDR + 0xa000 + below(g, 0x4000)) & (chance(g, 4, 5) ? ~7ull : ~0ull);
    c->in.rflags = 0x2 | (diff_rng_next(&g->rng) & DIFF_ARITH) | (chance(g, 1, 4) ? DIFF_DF : 0);

    for (size_t i = 0; i < DIFF_SCRATCH_SIZE; i += 8) {
        uint64_t v = diff_rng_next(&g->rng);
        memcpy(c->mem + i, &v, 8);
    }
    for (unsigned i = 0; i < 400; i++) { /* edge values, at any alignment */
        unsigned bits = 8u << below(g, 4);
        uint64_t v = gen_edge_value(g, bits);
        size_t at = 0x1000 + below(g, DIFF_SCRATCH_SIZE - 0x2000);
        memcpy(c->mem + at, &v, bits / 8);
    }
}

void diff_gen_case(struct diff_case *c, uint64_t seed, uint64_t index,
                   const struct diff_gen_options *opt)
{
    struct gen g = { .rng = diff_rng_for_case(seed, index), .opt = opt, .c = c };
    ZydisDecoderInit(&g.decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    c->seed = seed;
    c->index = index;
    c->n_insns = 0;
    c->n_primary = 0;
    c->code_len = 0;
    c->rejected = 0;
    /* A quarter of the cases start just before a page boundary. */
    c->code_addr = DIFF_CODE_ADDR + (chance(&g, 1, 4) ? 0x1000 - 1 - below(&g, 40) : 0);
    gen_input(&g);

    unsigned want = 1 + below(&g, DIFF_MAX_PRIMARY);
    for (unsigned i = 0; i < want; i++) {
        for (unsigned attempt = 0; attempt < 20; attempt++) {
            unsigned n_insns = c->n_insns;
            size_t code_len = c->code_len;
            uint32_t maybe_undefined = g.maybe_undefined;
            if (gen_one_family(&g)) {
                c->n_primary++;
                break;
            }
            c->n_insns = n_insns; /* drop this attempt's setup instructions too */
            c->code_len = code_len;
            g.broken = false;
            g.maybe_undefined = maybe_undefined;
        }
    }
}

void diff_gen_options_from_host(struct diff_gen_options *opt)
{
    unsigned eax, ebx, ecx, edx;
    memset(opt, 0, sizeof *opt);
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0), "c"(0));
    unsigned max_basic = eax;
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
    opt->popcnt = (ecx >> 23) & 1;
    if (max_basic >= 7) {
        __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
        opt->tzcnt = (ebx >> 3) & 1; /* BMI1 */
    }
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x80000000u), "c"(0));
    if (eax >= 0x80000001u) {
        __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x80000001u), "c"(0));
        opt->lzcnt = (ecx >> 5) & 1; /* ABM/LZCNT */
    }
}
