/* diff_gen_families.c — owned by tests/diff: one generator per family of
 * the user-mode integer instructions gcc -O2 emits for freestanding code,
 * each appending its instruction (and the setup it needs) to the case. The
 * operand rules that keep memory accesses inside scratch live in
 * diff_gen.c; see its header comment. */
#include "diff_gen_internal.h"

static bool fam_alu(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_ADC, ZYDIS_MNEMONIC_SUB,
                                        ZYDIS_MNEMONIC_SBB, ZYDIS_MNEMONIC_AND, ZYDIS_MNEMONIC_OR,
                                        ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_CMP };
    ZydisMnemonic m = ms[below(g, sizeof ms / sizeof ms[0])];
    bool writes = m != ZYDIS_MNEMONIC_CMP;
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(m, 2);
    switch (below(g, 5)) {
    case 0:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, writes));
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
        break;
    case 1:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, writes));
        gen_pick_mem(g, &req.operands[1], bits / 8);
        break;
    case 2:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
        if (writes)
            gen_maybe_lock(g, &req, 1, 3);
        break;
    case 3:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, writes));
        gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
        break;
    default:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
        if (writes)
            gen_maybe_lock(g, &req, 1, 3);
        break;
    }
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_test(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_TEST, 2);
    gen_pick_rm(g, &req.operands[0], bits, false, 3);
    if (chance(g, 1, 2))
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
    else
        gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_unary(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_INC, ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_NEG,
                                        ZYDIS_MNEMONIC_NOT };
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ms[below(g, 4)], 1);
    if (gen_pick_rm(g, &req.operands[0], bits, true, 3))
        gen_maybe_lock(g, &req, 1, 3);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_mov(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_MOV, 2);
    switch (below(g, 5)) {
    case 0:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
        break;
    case 1:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
        gen_pick_mem(g, &req.operands[1], bits / 8);
        break;
    case 2:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
        break;
    case 3:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
        if (bits == 64 && chance(g, 1, 2))
            gen_op_imm(&req.operands[1], (int64_t)gen_register_value(g)); /* movabs */
        else
            gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
        break;
    default:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_imm(&req.operands[1], gen_imm_value(g, bits));
        break;
    }
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_movx(struct gen *g)
{
    if (chance(g, 1, 5)) { /* movsxd r64, r/m32 */
        ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_MOVSXD, 2);
        gen_op_reg(&req.operands[0], gen_pick_reg(g, 64, true));
        gen_pick_rm(g, &req.operands[1], 32, false, 3);
        return gen_emit(g, &req, gen_plain(64));
    }
    ZydisEncoderRequest req =
        gen_request(chance(g, 1, 2) ? ZYDIS_MNEMONIC_MOVZX : ZYDIS_MNEMONIC_MOVSX, 2);
    unsigned src_bits = chance(g, 1, 2) ? 8 : 16;
    unsigned dst_bits = src_bits == 8 ? gen_pick_wide_size(g) : 32u << below(g, 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, dst_bits, true));
    gen_pick_rm(g, &req.operands[1], src_bits, false, 3);
    return gen_emit(g, &req, gen_plain(dst_bits));
}

/* LEA computes any address, so here base and index are unrestricted. */
static bool fam_lea(struct gen *g)
{
    unsigned bits = gen_pick_wide_size(g);
    unsigned addr_bits = chance(g, 1, 6) ? 32 : 64;
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_LEA, 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
    ZydisEncoderOperand *op = &req.operands[1];
    op->type = ZYDIS_OPERAND_TYPE_MEMORY;
    op->mem.size = (ZyanU16)(addr_bits / 8);
    if (addr_bits == 64 && chance(g, 1, 8)) {
        op->mem.base = ZYDIS_REGISTER_RIP;
        op->mem.displacement = (int64_t)(DIFF_SCRATCH_ADDR + below(g, DIFF_SCRATCH_SIZE));
        return gen_emit(g, &req, gen_plain(bits));
    }
    if (chance(g, 7, 8))
        op->mem.base = gen_gpr(below(g, 16), addr_bits);
    if (chance(g, 2, 3)) {
        unsigned idx;
        do
            idx = below(g, 16);
        while (idx == 4); /* RSP cannot be an index */
        op->mem.index = gen_gpr(idx, addr_bits);
        op->mem.scale = (ZyanU8)(1u << below(g, 4));
    }
    op->mem.displacement = chance(g, 1, 2) ? range(g, -128, 127) : gen_imm_value(g, 32);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_xchg(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_XCHG, 2);
    gen_pick_rm(g, &req.operands[0], bits, true, 3); /* with memory: implicitly locked */
    gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, true));
    return gen_emit(g, &req, gen_plain(bits));
}

static const ZydisMnemonic cmov_mnemonics[16] = {
    ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVB, ZYDIS_MNEMONIC_CMOVNB,
    ZYDIS_MNEMONIC_CMOVZ, ZYDIS_MNEMONIC_CMOVNZ, ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVNBE,
    ZYDIS_MNEMONIC_CMOVS, ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVNP,
    ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVLE, ZYDIS_MNEMONIC_CMOVNLE,
};
static const ZydisMnemonic setcc_mnemonics[16] = {
    ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB, ZYDIS_MNEMONIC_SETNB,
    ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE,
    ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
    ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE, ZYDIS_MNEMONIC_SETNLE,
};

static bool fam_cmov(struct gen *g)
{
    unsigned bits = gen_pick_wide_size(g);
    ZydisEncoderRequest req = gen_request(cmov_mnemonics[below(g, 16)], 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
    gen_pick_rm(g, &req.operands[1], bits, false, 3);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_setcc(struct gen *g)
{
    ZydisEncoderRequest req = gen_request(setcc_mnemonics[below(g, 16)], 1);
    gen_pick_rm(g, &req.operands[0], 8, true, 3);
    return gen_emit(g, &req, gen_plain(8));
}

/* BSWAP of a 16-bit register is undefined: 32 and 64 only. */
static bool fam_bswap(struct gen *g)
{
    unsigned bits = chance(g, 1, 2) ? 32 : 64;
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_BSWAP, 1);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_convert(struct gen *g)
{
    static const struct {
        ZydisMnemonic m;
        unsigned bits;
    } ms[] = { { ZYDIS_MNEMONIC_CBW, 16 }, { ZYDIS_MNEMONIC_CWDE, 32 }, { ZYDIS_MNEMONIC_CDQE, 64 },
               { ZYDIS_MNEMONIC_CWD, 16 }, { ZYDIS_MNEMONIC_CDQ, 32 }, { ZYDIS_MNEMONIC_CQO, 64 } };
    unsigned i = below(g, sizeof ms / sizeof ms[0]);
    ZydisEncoderRequest req = gen_request(ms[i].m, 0);
    return gen_emit(g, &req, gen_plain(ms[i].bits));
}

/* The count operand of a shift/rotate: 1 (D0/D1 form), imm8, or CL (which
 * is set just before, sometimes). With narrow_double (16-bit SHLD/SHRD,
 * undefined for counts above 16) the masked count stays at most 16 and CL
 * is always set. */
static uint8_t shift_count(struct gen *g, bool narrow_double)
{
    uint8_t count = gen_count_value(g);
    if (narrow_double && (count & 31) > 16)
        count = (uint8_t)((count & ~31u) | below(g, 17));
    return count;
}

static bool pick_count(struct gen *g, ZydisEncoderOperand *op, struct gen_meta *m, bool allow_one,
                       bool narrow_double)
{
    unsigned form = allow_one ? below(g, 3) : 1 + below(g, 2);
    if (form == 0) {
        gen_op_imm(op, 1);
        m->count_src = DIFF_COUNT_IMM;
        m->count_imm = 1;
    } else if (form == 1) {
        m->count_src = DIFF_COUNT_IMM;
        m->count_imm = shift_count(g, narrow_double);
        gen_op_imm(op, m->count_imm);
    } else {
        if ((narrow_double || chance(g, 2, 5)) &&
            !gen_emit_mov_imm(g, ZYDIS_REGISTER_CL, 8, shift_count(g, narrow_double)))
            return false;
        gen_op_reg(op, ZYDIS_REGISTER_CL);
        m->count_src = DIFF_COUNT_CL;
    }
    return true;
}

static bool fam_shift(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_SHL, ZYDIS_MNEMONIC_SHR, ZYDIS_MNEMONIC_SAR,
                                        ZYDIS_MNEMONIC_ROL, ZYDIS_MNEMONIC_ROR, ZYDIS_MNEMONIC_RCL,
                                        ZYDIS_MNEMONIC_RCR };
    unsigned bits = gen_pick_size(g);
    struct gen_meta m = gen_plain(bits);
    ZydisEncoderRequest req = gen_request(ms[below(g, sizeof ms / sizeof ms[0])], 2);
    if (!pick_count(g, &req.operands[1], &m, true, false))
        return false;
    gen_pick_rm(g, &req.operands[0], bits, true, 3);
    return gen_emit(g, &req, m);
}

static bool fam_shift_double(struct gen *g)
{
    unsigned bits = gen_pick_wide_size(g);
    struct gen_meta m = gen_plain(bits);
    ZydisEncoderRequest req =
        gen_request(chance(g, 1, 2) ? ZYDIS_MNEMONIC_SHLD : ZYDIS_MNEMONIC_SHRD, 3);
    if (!pick_count(g, &req.operands[2], &m, false, bits == 16))
        return false;
    gen_pick_rm(g, &req.operands[0], bits, true, 3);
    gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
    return gen_emit(g, &req, m);
}

/* MUL IMUL DIV IDIV with one operand; before a division, sometimes the
 * compiler's own preparation of the dividend (zero or sign extension). */
static bool fam_muldiv(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_MUL, ZYDIS_MNEMONIC_IMUL, ZYDIS_MNEMONIC_DIV,
                                        ZYDIS_MNEMONIC_IDIV };
    ZydisMnemonic m = ms[below(g, 4)];
    unsigned bits = gen_pick_size(g);
    bool is_div = m == ZYDIS_MNEMONIC_DIV || m == ZYDIS_MNEMONIC_IDIV;
    if (is_div && chance(g, 1, 2)) {
        ZydisEncoderRequest prep;
        if (m == ZYDIS_MNEMONIC_IDIV) {
            static const ZydisMnemonic ext[] = { ZYDIS_MNEMONIC_CBW, ZYDIS_MNEMONIC_CWD,
                                                 ZYDIS_MNEMONIC_CDQ, ZYDIS_MNEMONIC_CQO };
            static const unsigned ext_bits[] = { 16, 16, 32, 64 };
            unsigned i = bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3;
            prep = gen_request(ext[i], 0);
            if (!gen_emit(g, &prep, gen_setup(ext_bits[i])))
                return false;
        } else if (bits == 8) {
            prep = gen_request(ZYDIS_MNEMONIC_MOVZX, 2);
            gen_op_reg(&prep.operands[0], ZYDIS_REGISTER_EAX);
            gen_op_reg(&prep.operands[1], ZYDIS_REGISTER_AL);
            if (!gen_emit(g, &prep, gen_setup(32)))
                return false;
        } else {
            prep = gen_request(ZYDIS_MNEMONIC_XOR, 2);
            gen_op_reg(&prep.operands[0], ZYDIS_REGISTER_EDX);
            gen_op_reg(&prep.operands[1], ZYDIS_REGISTER_EDX);
            if (!gen_emit(g, &prep, gen_setup(32)))
                return false;
        }
    }
    ZydisEncoderRequest req = gen_request(m, 1);
    gen_pick_rm(g, &req.operands[0], bits, false, 3);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_imul(struct gen *g)
{
    unsigned bits = gen_pick_wide_size(g);
    bool three = chance(g, 1, 2);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_IMUL, three ? 3 : 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
    gen_pick_rm(g, &req.operands[1], bits, false, 3);
    if (three)
        gen_op_imm(&req.operands[2], gen_imm_value(g, bits));
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_bt(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_BT, ZYDIS_MNEMONIC_BTS, ZYDIS_MNEMONIC_BTR,
                                        ZYDIS_MNEMONIC_BTC };
    ZydisMnemonic m = ms[below(g, 4)];
    bool writes = m != ZYDIS_MNEMONIC_BT;
    unsigned bits = gen_pick_wide_size(g);
    ZydisEncoderRequest req = gen_request(m, 2);
    switch (below(g, 4)) {
    case 0:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, writes));
        gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
        break;
    case 1:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, writes));
        gen_op_imm(&req.operands[1], below(g, 256));
        break;
    case 2:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_imm(&req.operands[1], below(g, 256));
        if (writes)
            gen_maybe_lock(g, &req, 1, 3);
        break;
    default: {
        /* A register bit offset reaches (offset >> 3) bytes away from the
         * operand: set it to a small signed value first. */
        ZydisRegister offset = gen_pick_reg(g, bits, true);
        if (!gen_emit_mov_imm(g, offset, bits, range(g, -1500, 1500)))
            return false;
        gen_pick_mem(g, &req.operands[0], bits / 8);
        gen_op_reg(&req.operands[1], offset);
        if (writes)
            gen_maybe_lock(g, &req, 1, 3);
        break;
    }
    }
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_bitscan(struct gen *g)
{
    ZydisMnemonic ms[5];
    unsigned n = 0;
    ms[n++] = ZYDIS_MNEMONIC_BSF;
    ms[n++] = ZYDIS_MNEMONIC_BSR;
    if (g->opt->popcnt)
        ms[n++] = ZYDIS_MNEMONIC_POPCNT;
    if (g->opt->lzcnt)
        ms[n++] = ZYDIS_MNEMONIC_LZCNT;
    if (g->opt->tzcnt)
        ms[n++] = ZYDIS_MNEMONIC_TZCNT;
    unsigned bits = gen_pick_wide_size(g);
    ZydisEncoderRequest req = gen_request(ms[below(g, n)], 2);
    gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, true));
    gen_pick_rm(g, &req.operands[1], bits, false, 3);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_xadd(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_XADD, 2);
    if (gen_pick_rm(g, &req.operands[0], bits, true, 2))
        gen_maybe_lock(g, &req, 1, 2);
    gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, true));
    return gen_emit(g, &req, gen_plain(bits));
}

/* CMPXCHG; a third of the time the accumulator is loaded from the
 * destination first, so the equal path runs too. */
static bool fam_cmpxchg(struct gen *g)
{
    unsigned bits = gen_pick_size(g);
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_CMPXCHG, 2);
    if (gen_pick_rm(g, &req.operands[0], bits, true, 2))
        gen_maybe_lock(g, &req, 1, 2);
    gen_op_reg(&req.operands[1], gen_pick_reg(g, bits, false));
    if (chance(g, 1, 3)) {
        ZydisEncoderRequest load = gen_request(ZYDIS_MNEMONIC_MOV, 2);
        gen_op_reg(&load.operands[0], gen_gpr(0, bits));
        load.operands[1] = req.operands[0];
        if (!gen_emit(g, &load, gen_setup(bits)))
            return false;
    }
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_push(struct gen *g)
{
    unsigned bits = chance(g, 1, 4) ? 16 : 64;
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_PUSH, 1);
    switch (below(g, 3)) {
    case 0:
        gen_op_reg(&req.operands[0], gen_pick_reg(g, bits, false));
        break;
    case 1:
        gen_pick_mem(g, &req.operands[0], bits / 8);
        break;
    default:
        req.operand_size_hint =
            bits == 16 ? ZYDIS_OPERAND_SIZE_HINT_16 : ZYDIS_OPERAND_SIZE_HINT_64;
        gen_op_imm(&req.operands[0], gen_imm_value(g, bits == 16 ? 16 : 32));
        break;
    }
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_pop(struct gen *g)
{
    unsigned bits = chance(g, 1, 4) ? 16 : 64;
    ZydisEncoderRequest req = gen_request(ZYDIS_MNEMONIC_POP, 1);
    gen_pick_rm(g, &req.operands[0], bits, true, 3);
    return gen_emit(g, &req, gen_plain(bits));
}

static bool fam_flag_ops(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_LAHF, ZYDIS_MNEMONIC_SAHF,
                                        ZYDIS_MNEMONIC_CLC,  ZYDIS_MNEMONIC_STC,
                                        ZYDIS_MNEMONIC_CMC,  ZYDIS_MNEMONIC_CLD,
                                        ZYDIS_MNEMONIC_STD };
    ZydisEncoderRequest req = gen_request(ms[below(g, sizeof ms / sizeof ms[0])], 0);
    return gen_emit(g, &req, gen_plain(8));
}

/* MOVS STOS LODS SCAS CMPS of every size, with and without REP/REPE/REPNE,
 * in both directions. RSI/RDI point near the base register and RCX is at
 * most 200, so even 8-byte elements stay well inside scratch. */
static bool fam_string(struct gen *g)
{
    enum { S_MOVS, S_STOS, S_LODS, S_SCAS, S_CMPS };
    static const ZydisMnemonic ms[5][4] = {
        [S_MOVS] = { ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD,
                     ZYDIS_MNEMONIC_MOVSQ },
        [S_STOS] = { ZYDIS_MNEMONIC_STOSB, ZYDIS_MNEMONIC_STOSW, ZYDIS_MNEMONIC_STOSD,
                     ZYDIS_MNEMONIC_STOSQ },
        [S_LODS] = { ZYDIS_MNEMONIC_LODSB, ZYDIS_MNEMONIC_LODSW, ZYDIS_MNEMONIC_LODSD,
                     ZYDIS_MNEMONIC_LODSQ },
        [S_SCAS] = { ZYDIS_MNEMONIC_SCASB, ZYDIS_MNEMONIC_SCASW, ZYDIS_MNEMONIC_SCASD,
                     ZYDIS_MNEMONIC_SCASQ },
        [S_CMPS] = { ZYDIS_MNEMONIC_CMPSB, ZYDIS_MNEMONIC_CMPSW, ZYDIS_MNEMONIC_CMPSD,
                     ZYDIS_MNEMONIC_CMPSQ },
    };
    unsigned kind = below(g, 5), size = below(g, 4);
    bool uses_rsi = kind == S_MOVS || kind == S_LODS || kind == S_CMPS;
    bool uses_rdi = kind != S_LODS;
    bool compares = kind == S_SCAS || kind == S_CMPS;
    bool rep = chance(g, 3, 5);

    unsigned dir = below(g, 10);
    if (dir < 5) {
        ZydisEncoderRequest df = gen_request(dir < 3 ? ZYDIS_MNEMONIC_STD : ZYDIS_MNEMONIC_CLD, 0);
        if (!gen_emit(g, &df, gen_setup(8)))
            return false;
    }
    if (uses_rsi && !gen_emit_lea_scratch(g, 6, range(g, -700, 700)))
        return false;
    if (uses_rdi && !gen_emit_lea_scratch(g, 7, range(g, -700, 700)))
        return false;
    if (rep && !gen_emit_mov_imm(g, ZYDIS_REGISTER_ECX, 32,
                                 chance(g, 1, 5) ? range(g, 41, 200) : below(g, 41)))
        return false;

    ZydisEncoderRequest req = gen_request(ms[kind][size], 0);
    if (rep)
        req.prefixes = !compares ? ZYDIS_ATTRIB_HAS_REP
                       : chance(g, 1, 2) ? ZYDIS_ATTRIB_HAS_REPE : ZYDIS_ATTRIB_HAS_REPNE;
    struct gen_meta m = gen_plain(8u << size);
    m.rep = rep;
    return gen_emit(g, &req, m);
}

/* An access through a non-canonical pointer: #GP on both sides (SIGSEGV on
 * the host, a triple fault in the simulator, which has no IDT). Bit 55 set
 * and bit 63 clear is non-canonical with 4- and 5-level paging alike, and a
 * displacement of +-512 cannot change either bit. Never a canonical wild
 * pointer: that could hit host memory. */
static bool fam_noncanonical(struct gen *g)
{
    static const ZydisMnemonic ms[] = { ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_INC,
                                        ZYDIS_MNEMONIC_PUSH };
    ZydisRegister ptr = gen_pick_reg(g, 64, true);
    uint64_t value = (diff_rng_next(&g->rng) & 0x00fffffffffff000ull) | 0x0080000000010000ull;
    if (!gen_emit_mov_imm(g, ptr, 64, (int64_t)value))
        return false;
    unsigned bits = gen_pick_size(g);
    ZydisMnemonic m = ms[below(g, sizeof ms / sizeof ms[0])];
    if (m == ZYDIS_MNEMONIC_PUSH)
        bits = 64;
    bool one_operand = m == ZYDIS_MNEMONIC_INC || m == ZYDIS_MNEMONIC_PUSH;
    ZydisEncoderRequest req = gen_request(m, one_operand ? 1 : 2);
    unsigned mem = one_operand ? 0 : below(g, 2);
    gen_op_mem(&req.operands[mem], ptr, range(g, -512, 512), bits / 8);
    if (!one_operand)
        gen_op_reg(&req.operands[1 - mem], gen_pick_reg(g, bits, mem == 1));
    return gen_emit(g, &req, gen_plain(bits));
}

/* The padding NOPs of compiled code, 1 to 9 bytes. */
static bool fam_nop(struct gen *g)
{
    return gen_emit_nop(g, 1 + below(g, 9));
}

struct family {
    bool (*gen)(struct gen *g);
    unsigned weight;
};

static const struct family families[] = {
    { fam_alu, 10 },  { fam_test, 2 },   { fam_unary, 4 },   { fam_mov, 4 },
    { fam_movx, 3 },  { fam_lea, 2 },    { fam_xchg, 2 },    { fam_cmov, 3 },
    { fam_setcc, 3 }, { fam_bswap, 1 },  { fam_convert, 2 }, { fam_shift, 10 },
    { fam_shift_double, 4 }, { fam_muldiv, 5 }, { fam_imul, 2 }, { fam_bt, 4 },
    { fam_bitscan, 3 }, { fam_xadd, 2 }, { fam_cmpxchg, 3 }, { fam_push, 2 },
    { fam_pop, 2 },   { fam_flag_ops, 3 }, { fam_string, 5 }, { fam_nop, 1 },
    { fam_noncanonical, 1 },
};

bool gen_one_family(struct gen *g)
{
    unsigned total = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        total += families[i].weight;
    unsigned r = below(g, total);
    for (size_t i = 0;; i++) {
        if (r < families[i].weight)
            return families[i].gen(g);
        r -= families[i].weight;
    }
}

