/* diff_rng.h — owned by tests/diff: the deterministic random source of the
 * differential CPU test (splitmix64). One value per case, so a failing case
 * is reproduced from (seed, case index) alone. */
#ifndef SVMSIM_TESTS_DIFF_RNG_H
#define SVMSIM_TESTS_DIFF_RNG_H

#include <stdint.h>

struct diff_rng {
    uint64_t state;
};

static inline uint64_t diff_rng_next(struct diff_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. The bias of the modulo is irrelevant here. */
static inline uint32_t diff_rng_below(struct diff_rng *rng, uint32_t n)
{
    return (uint32_t)(diff_rng_next(rng) % n);
}

/* True with probability num/den. */
static inline int diff_rng_chance(struct diff_rng *rng, uint32_t num, uint32_t den)
{
    return diff_rng_below(rng, den) < num;
}

/* Uniform in [lo, hi]. */
static inline int64_t diff_rng_range(struct diff_rng *rng, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(diff_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

/* The generator of case number index under seed: independent of every other case. */
static inline struct diff_rng diff_rng_for_case(uint64_t seed, uint64_t index)
{
    struct diff_rng rng = { seed ^ (index * 0xd1b54a32d192ed03ull) };
    (void)diff_rng_next(&rng);
    return rng;
}

#endif
