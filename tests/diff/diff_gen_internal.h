/* diff_gen_internal.h — owned by tests/diff: what the two halves of the
 * case generator share: diff_gen.c (values, operands, encoding, the case)
 * and diff_gen_families.c (one generator per instruction family). */
#ifndef SVMSIM_TESTS_DIFF_GEN_INTERNAL_H
#define SVMSIM_TESTS_DIFF_GEN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "diff_case.h"
#include "diff_gen.h"
#include "diff_rng.h"

struct gen {
    struct diff_rng rng;
    const struct diff_gen_options *opt;
    struct diff_case *c;
    ZydisDecoder decoder;
    bool broken;                      /* a setup emitted while picking operands failed */
    uint32_t maybe_undefined;         /* flags some instruction so far may have left undefined */
};

/* What the flag rules need to know of an instruction besides its bytes. */
struct gen_meta {
    unsigned opsize;
    enum diff_count_src count_src;
    uint8_t count_imm;
    bool rep, setup;
};

static inline uint32_t below(struct gen *g, uint32_t n) { return diff_rng_below(&g->rng, n); }
static inline int chance(struct gen *g, uint32_t num, uint32_t den)
{
    return diff_rng_chance(&g->rng, num, den);
}
static inline int64_t range(struct gen *g, int64_t lo, int64_t hi)
{
    return diff_rng_range(&g->rng, lo, hi);
}

/* Values. */
int64_t gen_sign_extend(uint64_t v, unsigned bits);
uint64_t gen_edge_value(struct gen *g, unsigned bits);
uint64_t gen_register_value(struct gen *g);
int64_t gen_imm_value(struct gen *g, unsigned bits);
uint8_t gen_count_value(struct gen *g);

/* Operands. */
ZydisRegister gen_gpr(unsigned idx, unsigned bits);
ZydisRegister gen_pick_reg(struct gen *g, unsigned bits, bool writable);
void gen_op_reg(ZydisEncoderOperand *op, ZydisRegister reg);
void gen_op_imm(ZydisEncoderOperand *op, int64_t value);
void gen_op_mem(ZydisEncoderOperand *op, ZydisRegister base, int64_t disp, unsigned bytes);
void gen_pick_mem(struct gen *g, ZydisEncoderOperand *op, unsigned bytes);
bool gen_pick_rm(struct gen *g, ZydisEncoderOperand *op, unsigned bits, bool writable,
                 unsigned den);
unsigned gen_pick_size(struct gen *g);      /* 8 16 32 64 */
unsigned gen_pick_wide_size(struct gen *g); /* 16 32 64 */

/* Encoding. */
ZydisEncoderRequest gen_request(ZydisMnemonic m, unsigned operand_count);
bool gen_emit(struct gen *g, ZydisEncoderRequest *req, struct gen_meta m);
struct gen_meta gen_plain(unsigned opsize);
struct gen_meta gen_setup(unsigned opsize);
void gen_maybe_lock(struct gen *g, ZydisEncoderRequest *req, unsigned num, unsigned den);
bool gen_emit_mov_imm(struct gen *g, ZydisRegister reg, unsigned bits, int64_t value);
bool gen_emit_lea_scratch(struct gen *g, unsigned reg_idx, int64_t disp);
bool gen_emit_nop(struct gen *g, unsigned len);

/* diff_gen_families.c: appends one instruction of a random family, with the
 * setup it needs. False when it could not (the caller rolls back). */
bool gen_one_family(struct gen *g);

#endif
