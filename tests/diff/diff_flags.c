/* diff_flags.c — owned by tests/diff: the one table of flag effects per
 * mnemonic (Intel SDM vol. 2 and AMD APM vol. 3, "Flags Affected"), plus the
 * count-dependent rules of the shifts and rotates.
 *
 * Where the two manuals differ, a flag counts as undefined if either leaves
 * it undefined: the simulator models AMD, the oracle is whatever host runs
 * the test. */
#include "diff_flags.h"

#include <stdio.h>
#include <string.h>

enum flag_kind {
    FK_UNLISTED = 0,                  /* the generator must not emit it */
    FK_NONE,                          /* no flag changes */
    FK_FIXED,                         /* written/undefined as listed, whatever the operands */
    FK_SHIFT,                         /* SHL SHR SAR: count-dependent */
    FK_ROTATE,                        /* ROL ROR */
    FK_ROTATE_CARRY,                  /* RCL RCR */
    FK_SHIFT_DOUBLE,                  /* SHLD SHRD */
    FK_STRING_COMPARE,                /* CMPS SCAS: as CMP, but nothing when REPx runs 0 times */
};

struct flag_rule {
    enum flag_kind kind;
    uint16_t written;
    uint16_t undefined;
    uint16_t read;                    /* flags the result depends on (DF aside: always defined) */
};

#define ARITH DIFF_ARITH
#define CF DIFF_CF
#define PF DIFF_PF
#define AF DIFF_AF
#define ZF DIFF_ZF
#define SF DIFF_SF
#define OF DIFF_OF
#define DF DIFF_DF

#define NONE { FK_NONE, 0, 0, 0 }
#define ALL_DEFINED { FK_FIXED, ARITH, 0, 0 }
#define LOGIC { FK_FIXED, ARITH, AF, 0 }       /* OF=CF=0, SF ZF PF by result, AF undefined */

static const struct flag_rule flag_rules[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    /* Data movement: no flags written. CMOVcc, SETcc and LAHF read some. */
    [ZYDIS_MNEMONIC_MOV] = NONE,
    [ZYDIS_MNEMONIC_MOVZX] = NONE,
    [ZYDIS_MNEMONIC_MOVSX] = NONE,
    [ZYDIS_MNEMONIC_MOVSXD] = NONE,
    [ZYDIS_MNEMONIC_LEA] = NONE,
    [ZYDIS_MNEMONIC_XCHG] = NONE,
    [ZYDIS_MNEMONIC_BSWAP] = NONE,
    [ZYDIS_MNEMONIC_CBW] = NONE,
    [ZYDIS_MNEMONIC_CWDE] = NONE,
    [ZYDIS_MNEMONIC_CDQE] = NONE,
    [ZYDIS_MNEMONIC_CWD] = NONE,
    [ZYDIS_MNEMONIC_CDQ] = NONE,
    [ZYDIS_MNEMONIC_CQO] = NONE,
    [ZYDIS_MNEMONIC_PUSH] = NONE,
    [ZYDIS_MNEMONIC_POP] = NONE,
    [ZYDIS_MNEMONIC_NOT] = NONE,
    [ZYDIS_MNEMONIC_NOP] = NONE,
    [ZYDIS_MNEMONIC_LAHF] = { FK_NONE, 0, 0, SF | ZF | AF | PF | CF },
    /* CMOVcc and SETcc read the flags of their condition. */
    [ZYDIS_MNEMONIC_CMOVO] = { FK_NONE, 0, 0, OF },
    [ZYDIS_MNEMONIC_CMOVNO] = { FK_NONE, 0, 0, OF },
    [ZYDIS_MNEMONIC_CMOVB] = { FK_NONE, 0, 0, CF },
    [ZYDIS_MNEMONIC_CMOVNB] = { FK_NONE, 0, 0, CF },
    [ZYDIS_MNEMONIC_CMOVZ] = { FK_NONE, 0, 0, ZF },
    [ZYDIS_MNEMONIC_CMOVNZ] = { FK_NONE, 0, 0, ZF },
    [ZYDIS_MNEMONIC_CMOVBE] = { FK_NONE, 0, 0, CF | ZF },
    [ZYDIS_MNEMONIC_CMOVNBE] = { FK_NONE, 0, 0, CF | ZF },
    [ZYDIS_MNEMONIC_CMOVS] = { FK_NONE, 0, 0, SF },
    [ZYDIS_MNEMONIC_CMOVNS] = { FK_NONE, 0, 0, SF },
    [ZYDIS_MNEMONIC_CMOVP] = { FK_NONE, 0, 0, PF },
    [ZYDIS_MNEMONIC_CMOVNP] = { FK_NONE, 0, 0, PF },
    [ZYDIS_MNEMONIC_CMOVL] = { FK_NONE, 0, 0, SF | OF },
    [ZYDIS_MNEMONIC_CMOVNL] = { FK_NONE, 0, 0, SF | OF },
    [ZYDIS_MNEMONIC_CMOVLE] = { FK_NONE, 0, 0, ZF | SF | OF },
    [ZYDIS_MNEMONIC_CMOVNLE] = { FK_NONE, 0, 0, ZF | SF | OF },
    [ZYDIS_MNEMONIC_SETO] = { FK_NONE, 0, 0, OF },
    [ZYDIS_MNEMONIC_SETNO] = { FK_NONE, 0, 0, OF },
    [ZYDIS_MNEMONIC_SETB] = { FK_NONE, 0, 0, CF },
    [ZYDIS_MNEMONIC_SETNB] = { FK_NONE, 0, 0, CF },
    [ZYDIS_MNEMONIC_SETZ] = { FK_NONE, 0, 0, ZF },
    [ZYDIS_MNEMONIC_SETNZ] = { FK_NONE, 0, 0, ZF },
    [ZYDIS_MNEMONIC_SETBE] = { FK_NONE, 0, 0, CF | ZF },
    [ZYDIS_MNEMONIC_SETNBE] = { FK_NONE, 0, 0, CF | ZF },
    [ZYDIS_MNEMONIC_SETS] = { FK_NONE, 0, 0, SF },
    [ZYDIS_MNEMONIC_SETNS] = { FK_NONE, 0, 0, SF },
    [ZYDIS_MNEMONIC_SETP] = { FK_NONE, 0, 0, PF },
    [ZYDIS_MNEMONIC_SETNP] = { FK_NONE, 0, 0, PF },
    [ZYDIS_MNEMONIC_SETL] = { FK_NONE, 0, 0, SF | OF },
    [ZYDIS_MNEMONIC_SETNL] = { FK_NONE, 0, 0, SF | OF },
    [ZYDIS_MNEMONIC_SETLE] = { FK_NONE, 0, 0, ZF | SF | OF },
    [ZYDIS_MNEMONIC_SETNLE] = { FK_NONE, 0, 0, ZF | SF | OF },
    [ZYDIS_MNEMONIC_MOVSB] = NONE,
    [ZYDIS_MNEMONIC_MOVSW] = NONE,
    [ZYDIS_MNEMONIC_MOVSD] = NONE,
    [ZYDIS_MNEMONIC_MOVSQ] = NONE,
    [ZYDIS_MNEMONIC_STOSB] = NONE,
    [ZYDIS_MNEMONIC_STOSW] = NONE,
    [ZYDIS_MNEMONIC_STOSD] = NONE,
    [ZYDIS_MNEMONIC_STOSQ] = NONE,
    [ZYDIS_MNEMONIC_LODSB] = NONE,
    [ZYDIS_MNEMONIC_LODSW] = NONE,
    [ZYDIS_MNEMONIC_LODSD] = NONE,
    [ZYDIS_MNEMONIC_LODSQ] = NONE,

    /* Arithmetic: all six defined. XADD is ADD, CMPXCHG is CMP, NEG is 0 - x. */
    [ZYDIS_MNEMONIC_ADD] = ALL_DEFINED,
    [ZYDIS_MNEMONIC_ADC] = { FK_FIXED, ARITH, 0, CF },
    [ZYDIS_MNEMONIC_SUB] = ALL_DEFINED,
    [ZYDIS_MNEMONIC_SBB] = { FK_FIXED, ARITH, 0, CF },
    [ZYDIS_MNEMONIC_CMP] = ALL_DEFINED,
    [ZYDIS_MNEMONIC_NEG] = ALL_DEFINED,
    [ZYDIS_MNEMONIC_XADD] = ALL_DEFINED,
    [ZYDIS_MNEMONIC_CMPXCHG] = ALL_DEFINED,
    /* INC/DEC leave CF alone. */
    [ZYDIS_MNEMONIC_INC] = { FK_FIXED, ARITH & ~CF, 0, 0 },
    [ZYDIS_MNEMONIC_DEC] = { FK_FIXED, ARITH & ~CF, 0, 0 },
    [ZYDIS_MNEMONIC_AND] = LOGIC,
    [ZYDIS_MNEMONIC_OR] = LOGIC,
    [ZYDIS_MNEMONIC_XOR] = LOGIC,
    [ZYDIS_MNEMONIC_TEST] = LOGIC,

    /* MUL/IMUL (all forms): CF=OF by overflow; SF ZF AF PF undefined. */
    [ZYDIS_MNEMONIC_MUL] = { FK_FIXED, ARITH, SF | ZF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_IMUL] = { FK_FIXED, ARITH, SF | ZF | AF | PF, 0 },
    /* DIV/IDIV: all six undefined. */
    [ZYDIS_MNEMONIC_DIV] = { FK_FIXED, ARITH, ARITH, 0 },
    [ZYDIS_MNEMONIC_IDIV] = { FK_FIXED, ARITH, ARITH, 0 },

    /* BT*: CF is the bit; ZF unaffected (SDM; APM lists it unaffected too);
     * OF SF AF PF undefined. */
    [ZYDIS_MNEMONIC_BT] = { FK_FIXED, CF | OF | SF | AF | PF, OF | SF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_BTS] = { FK_FIXED, CF | OF | SF | AF | PF, OF | SF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_BTR] = { FK_FIXED, CF | OF | SF | AF | PF, OF | SF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_BTC] = { FK_FIXED, CF | OF | SF | AF | PF, OF | SF | AF | PF, 0 },
    /* BSF/BSR: ZF = (source == 0); the rest undefined. */
    [ZYDIS_MNEMONIC_BSF] = { FK_FIXED, ARITH, CF | OF | SF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_BSR] = { FK_FIXED, ARITH, CF | OF | SF | AF | PF, 0 },
    /* LZCNT/TZCNT: CF = (source == 0), ZF = (result == 0); OF SF AF PF undefined. */
    [ZYDIS_MNEMONIC_LZCNT] = { FK_FIXED, ARITH, OF | SF | AF | PF, 0 },
    [ZYDIS_MNEMONIC_TZCNT] = { FK_FIXED, ARITH, OF | SF | AF | PF, 0 },
    /* POPCNT: ZF = (source == 0), the others cleared. */
    [ZYDIS_MNEMONIC_POPCNT] = ALL_DEFINED,

    /* Flag instructions. SAHF loads SF ZF AF PF CF from AH. */
    [ZYDIS_MNEMONIC_SAHF] = { FK_FIXED, SF | ZF | AF | PF | CF, 0, 0 },
    [ZYDIS_MNEMONIC_CLC] = { FK_FIXED, CF, 0, 0 },
    [ZYDIS_MNEMONIC_STC] = { FK_FIXED, CF, 0, 0 },
    [ZYDIS_MNEMONIC_CMC] = { FK_FIXED, CF, 0, CF },
    [ZYDIS_MNEMONIC_CLD] = { FK_FIXED, DF, 0, 0 },
    [ZYDIS_MNEMONIC_STD] = { FK_FIXED, DF, 0, 0 },

    /* Count-dependent: see flags_shift_effect(). */
    [ZYDIS_MNEMONIC_SHL] = { FK_SHIFT, 0, 0, 0 },
    [ZYDIS_MNEMONIC_SHR] = { FK_SHIFT, 0, 0, 0 },
    [ZYDIS_MNEMONIC_SAR] = { FK_SHIFT, 0, 0, 0 },
    [ZYDIS_MNEMONIC_ROL] = { FK_ROTATE, 0, 0, 0 },
    [ZYDIS_MNEMONIC_ROR] = { FK_ROTATE, 0, 0, 0 },
    [ZYDIS_MNEMONIC_RCL] = { FK_ROTATE_CARRY, 0, 0, CF },
    [ZYDIS_MNEMONIC_RCR] = { FK_ROTATE_CARRY, 0, 0, CF },
    [ZYDIS_MNEMONIC_SHLD] = { FK_SHIFT_DOUBLE, 0, 0, 0 },
    [ZYDIS_MNEMONIC_SHRD] = { FK_SHIFT_DOUBLE, 0, 0, 0 },

    [ZYDIS_MNEMONIC_CMPSB] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_CMPSW] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_CMPSD] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_CMPSQ] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_SCASB] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_SCASW] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_SCASD] = { FK_STRING_COMPARE, ARITH, 0, 0 },
    [ZYDIS_MNEMONIC_SCASQ] = { FK_STRING_COMPARE, ARITH, 0, 0 },
};

static const struct flag_rule *flags_rule(ZydisMnemonic m)
{
    if ((unsigned)m > ZYDIS_MNEMONIC_MAX_VALUE)
        return &flag_rules[ZYDIS_MNEMONIC_INVALID];
    return &flag_rules[m];
}

bool diff_flags_known(ZydisMnemonic m)
{
    return flags_rule(m)->kind != FK_UNLISTED;
}

static bool flags_count_dependent(enum flag_kind kind)
{
    return kind == FK_SHIFT || kind == FK_ROTATE || kind == FK_ROTATE_CARRY ||
           kind == FK_SHIFT_DOUBLE;
}

bool diff_flags_needs_state(const struct diff_insn *insn)
{
    enum flag_kind kind = flags_rule(insn->mnemonic)->kind;
    if (flags_count_dependent(kind))
        return insn->count_src == DIFF_COUNT_CL;
    return kind == FK_STRING_COMPARE && insn->rep;
}

/* The count after the hardware's masking: 5 bits, 6 with a 64-bit operand. */
static unsigned flags_masked_count(const struct diff_insn *insn, const struct diff_cpu *before)
{
    unsigned raw = insn->count_src == DIFF_COUNT_CL ? (unsigned)(before->gpr[1] & 0xff)
                                                    : insn->count_imm;
    return raw & (insn->opsize == 64 ? 63u : 31u);
}

static struct diff_flag_effect flags_shift_effect(const struct flag_rule *rule,
                                                  const struct diff_insn *insn,
                                                  const struct diff_cpu *before)
{
    enum flag_kind kind = rule->kind;
    struct diff_flag_effect e = { 0, 0, false, rule->read };
    unsigned count = flags_masked_count(insn, before);
    if (count == 0) /* a masked count of 0 changes no flag, for every one of these */
        return e;
    switch (kind) {
    case FK_SHIFT:
        /* CF = last bit out, undefined for SHL/SHR when count >= width (SDM;
         * SAR included to be safe); OF only for 1-bit shifts; AF undefined. */
        e.written = ARITH;
        e.undefined = AF | (count != 1 ? OF : 0) | (count >= insn->opsize ? CF : 0);
        break;
    case FK_ROTATE:
        /* Only CF and OF; OF only for a masked count of 1. */
        e.written = CF | OF;
        e.undefined = count != 1 ? OF : 0;
        break;
    case FK_ROTATE_CARRY:
        /* As ROL/ROR. With count % 9 (or % 17) == 0 the value rotates a full
         * turn through CF, so CF keeps its value by either reading. */
        e.written = CF | OF;
        e.undefined = count != 1 ? OF : 0;
        break;
    case FK_SHIFT_DOUBLE:
        /* A 16-bit operand with count > 16: result and flags undefined. */
        if (insn->opsize == 16 && count > 16) {
            e.written = ARITH;
            e.undefined = ARITH;
            e.result_undefined = true;
            break;
        }
        e.written = ARITH;
        e.undefined = AF | (count != 1 ? OF : 0);
        break;
    default:
        break;
    }
    return e;
}

struct diff_flag_effect diff_flags_effect(const struct diff_insn *insn,
                                          const struct diff_cpu *before)
{
    const struct flag_rule *rule = flags_rule(insn->mnemonic);
    struct diff_flag_effect e = { rule->written, rule->undefined, false, rule->read };
    switch (rule->kind) {
    case FK_UNLISTED: /* unreachable by construction; compare nothing rather than lie */
        e.written = DIFF_CONTROLLED;
        e.undefined = DIFF_CONTROLLED;
        return e;
    case FK_NONE:
    case FK_FIXED:
        return e;
    case FK_STRING_COMPARE:
        if (insn->rep && before->gpr[1] == 0) /* REPx with RCX = 0: no iteration */
            e.written = e.undefined = 0;
        return e;
    default:
        return flags_shift_effect(rule, insn, before);
    }
}

void diff_flags_bounds(const struct diff_insn *insn, uint32_t *surely_defined,
                       uint32_t *maybe_undefined, uint32_t *read)
{
    struct diff_cpu before;
    memset(&before, 0, sizeof before);
    struct diff_flag_effect e = diff_flags_effect(insn, &before);
    *surely_defined = e.written & ~e.undefined;
    *maybe_undefined = e.undefined;
    *read = e.read;
    if (!diff_flags_needs_state(insn))
        return;
    /* The state matters only through CL (a count) or RCX (zero or not). */
    for (uint64_t rcx = 1; rcx < 256; rcx++) {
        before.gpr[1] = rcx;
        e = diff_flags_effect(insn, &before);
        *surely_defined &= e.written & ~e.undefined;
        *maybe_undefined |= e.undefined;
    }
}

void diff_flags_format(uint32_t mask, char *buf, size_t len)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = { { CF, "CF" }, { PF, "PF" }, { AF, "AF" }, { ZF, "ZF" },
                  { SF, "SF" }, { DF, "DF" }, { OF, "OF" } };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(mask & names[i].bit))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
    if (used == 0)
        snprintf(buf, len, "(none)");
}
