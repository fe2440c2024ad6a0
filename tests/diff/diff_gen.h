/* diff_gen.h — owned by tests/diff: the random generator of differential
 * test cases (input registers and flags, scratch memory, and 1-8 user-mode
 * integer instructions encoded with the Zydis encoder). */
#ifndef SVMSIM_TESTS_DIFF_GEN_H
#define SVMSIM_TESTS_DIFF_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "diff_case.h"

struct diff_gen_options {
    bool popcnt, lzcnt, tzcnt;        /* the host implements them (CPUID) */
};

/* Fills the options from the host's CPUID. */
void diff_gen_options_from_host(struct diff_gen_options *opt);

/* Generates case number index of seed into *c: always the same case for
 * the same (seed, index, options). */
void diff_gen_case(struct diff_case *c, uint64_t seed, uint64_t index,
                   const struct diff_gen_options *opt);

#endif
