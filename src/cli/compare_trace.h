/* compare_trace.h — the two traces of `svmsim compare`: kept, compared and
 * reported.
 *
 * Owns: collecting one side's trace records (a struct svmsim_config trace
 * callback), deciding when two records agree, pairing #GP decisions, and
 * printing the comparison.
 * Must not: parse options or create machines (cmd_compare.c does), or
 * include src/ internals: it reads struct svmsim_trace_record only.
 *
 * Memory is bounded: side A keeps at most COMPARE_RECORDS_MAX records; side
 * B keeps none, it is compared with A's records as it runs (the runs are
 * deterministic, so record i of B is compared with record i of A) and keeps
 * only the first one that does not agree. Each side keeps at most
 * COMPARE_RECORDS_MAX #GP decisions, in a small form. What was cut is said
 * in the report.
 */
#ifndef SVMSIM_CLI_COMPARE_TRACE_H
#define SVMSIM_CLI_COMPARE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <svmsim/svmsim.h>

#define COMPARE_RECORDS_MAX 1000000u

/* One #GP decision: a record with exit_code 0x4d and a gp_step. */
struct compare_gp {
    uint64_t exit;                      /* the record's number (seq) */
    uint64_t rip;
    uint64_t reflected_code;
    int level;
    enum svmsim_decision decision;
    uint8_t inject_vector;
    uint32_t inject_error;
    char gp_step[sizeof ((struct svmsim_trace_record *)0)->gp_step];
};

struct compare_side {
    const char *name;                   /* "A", "B" */
    const struct compare_side *ref;     /* B: the side it is compared with; A: NULL */
    uint64_t n_exits;                   /* records seen */

    /* Without ref: the records, the first n_kept of n_exits. */
    struct svmsim_trace_record *recs;
    size_t n_kept, n_alloc;
    bool cut;                           /* records after n_kept were not kept */
    bool cut_for_memory;                /* ... because memory ran out, not the limit */

    /* With ref: comparing stops at the first record that disagrees with
     * ref's (kept in first, at index diverged_at) or that ref did not keep
     * (uncompared_from). */
    bool diverged;
    uint64_t diverged_at;
    struct svmsim_trace_record first;
    bool uncompared;
    uint64_t uncompared_from;

    struct compare_gp *gps;             /* #GP decisions, the first n_gps of n_gps_seen */
    size_t n_gps, n_gps_alloc;
    uint64_t n_gps_seen;

    struct svmsim_end end;              /* how the run ended */
};

/* side->name and side->ref set, everything else empty. */
void compare_side_init(struct compare_side *side, const char *name,
                       const struct compare_side *ref);
void compare_side_free(struct compare_side *side);

/* The svmsim_config trace callback; opaque is the struct compare_side. */
void compare_side_record(void *opaque, const struct svmsim_trace_record *rec);

/* What the comparison found; the values are compare's exit status, as
 * diff(1)'s. */
enum compare_verdict {
    COMPARE_SAME = 0,                   /* every record agrees, and how the runs ended */
    COMPARE_DIFFERENT = 1,              /* something differs */
    COMPARE_INCOMPLETE = 2,             /* nothing found, but A's records were cut */
};

/* Prints the comparison of a and b (b->ref == a, both runs ended) after the
 * "A:"/"B:" lines, and returns what it found. */
enum compare_verdict compare_report(FILE *f, const struct compare_side *a,
                                    const struct compare_side *b);

#endif
