/* diff_flags.h — owned by tests/diff: which RFLAGS bits an instruction
 * writes and which of those the architecture leaves undefined, so the
 * comparison looks only at flags both vendors define. */
#ifndef SVMSIM_TESTS_DIFF_FLAGS_H
#define SVMSIM_TESTS_DIFF_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "diff_case.h"

struct diff_flag_effect {
    uint32_t written;                 /* DIFF_* bits the instruction may change */
    uint32_t undefined;               /* subset of written left undefined */
    bool result_undefined;            /* a register/memory result is undefined too: skip the case */
    uint32_t read;                    /* DIFF_* bits the result depends on */
};

/* True when the flag table has a rule for m (the generator emits nothing else). */
bool diff_flags_known(ZydisMnemonic m);

/* True when the effect depends on the state right before the instruction
 * (a shift count in CL, RCX of a REPE/REPNE compare). */
bool diff_flags_needs_state(const struct diff_insn *insn);

/* The effect of insn; before is the state right before it, needed (and only
 * read) when diff_flags_needs_state(insn). */
struct diff_flag_effect diff_flags_effect(const struct diff_insn *insn,
                                          const struct diff_cpu *before);

/* Folds one effect into the set of flags still defined: a flag is defined
 * at the end iff the last instruction that wrote it defined it. */
static inline uint32_t diff_flags_fold(uint32_t defined, struct diff_flag_effect e)
{
    return (defined & ~e.written) | (e.written & ~e.undefined);
}

/* What the generator can tell without running anything: the flags insn
 * defines whatever the run-time state, the flags it may leave undefined,
 * and the flags it reads. */
void diff_flags_bounds(const struct diff_insn *insn, uint32_t *surely_defined,
                       uint32_t *maybe_undefined, uint32_t *read);

/* "CF PF ZF" style list of the DIFF_* bits in mask. */
void diff_flags_format(uint32_t mask, char *buf, size_t len);

#endif
