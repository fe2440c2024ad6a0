/* compare_trace.c — keeping, comparing and reporting the traces of
 * `svmsim compare` (compare_trace.h).
 *
 * Owns: the trace callback of each side, when two records agree, the
 * pairing of #GP decisions and the report's lines.
 * Must not: include src/ internals, or hold a record's vmcb_dump past the
 * callback (the pointer is only valid during it): copies drop it.
 */
#include "cli/compare_trace.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COMPARE_FIRST_ALLOC 1024u
/* A record's text: a line, as --explain prints it (no VMCB dump here). */
#define COMPARE_TEXT_LINE 4096
/* #GP lines printed before the rest are only counted. */
#define COMPARE_GP_LINES_MAX 100u

/* #VMEXIT code of an intercepted #GP (SPEC-GP.md §6). */
#define COMPARE_EXIT_GP 0x4d

void compare_side_init(struct compare_side *side, const char *name,
                       const struct compare_side *ref)
{
    memset(side, 0, sizeof *side);
    side->name = name;
    side->ref = ref;
}

void compare_side_free(struct compare_side *side)
{
    free(side->recs);
    free(side->gps);
    side->recs = NULL;
    side->gps = NULL;
    side->n_kept = side->n_alloc = side->n_gps = side->n_gps_alloc = 0;
}

/* The next allocation, in elements, for an array full at alloc: doubled, up
 * to COMPARE_RECORDS_MAX; 0 when that limit is reached. */
static size_t next_alloc(size_t alloc)
{
    if (alloc >= COMPARE_RECORDS_MAX)
        return 0;
    size_t want = alloc ? alloc * 2 : COMPARE_FIRST_ALLOC;
    return want < COMPARE_RECORDS_MAX ? want : COMPARE_RECORDS_MAX;
}

static bool is_gp_decision(const struct svmsim_trace_record *rec)
{
    return rec->exit_code == COMPARE_EXIT_GP && rec->gp_step[0] != '\0';
}

static void keep_gp(struct compare_side *side, const struct svmsim_trace_record *rec)
{
    side->n_gps_seen++;
    if (side->n_gps + 1 != side->n_gps_seen)
        return; /* already cut: later ones would pair with the wrong ones */
    if (side->n_gps == side->n_gps_alloc) {
        size_t want = next_alloc(side->n_gps_alloc);
        struct compare_gp *p = want ? realloc(side->gps, want * sizeof *p) : NULL;
        if (!p)
            return;
        side->gps = p;
        side->n_gps_alloc = want;
    }
    struct compare_gp *g = &side->gps[side->n_gps++];
    memset(g, 0, sizeof *g);
    g->exit = rec->seq;
    g->rip = rec->rip;
    g->reflected_code = rec->reflected_code;
    g->level = rec->level;
    g->decision = rec->decision;
    g->inject_vector = rec->inject_vector;
    g->inject_error = rec->inject_error;
    memcpy(g->gp_step, rec->gp_step, sizeof g->gp_step);
    g->gp_step[sizeof g->gp_step - 1] = '\0';
}

static void copy_record(struct svmsim_trace_record *dst, const struct svmsim_trace_record *src)
{
    *dst = *src;
    dst->vmcb_dump = NULL;
}

/* Two fixed-size strings of a record are equal up to their first NUL. */
static bool field_eq(const char *x, const char *y, size_t size)
{
    return strncmp(x, y, size) == 0;
}

/* The records of the same exit agree: what L0 saw and what it decided.
 * seq is the record's index on both sides; insns is compared because the
 * runs are deterministic, so it can only differ after something else did.
 * gp_step is not: it names the rule of one semantics ("2.2 step 4" is
 * "2.3 step 4" under kvm-7.0), not what the guest gets. */
static bool records_agree(const struct svmsim_trace_record *x, const struct svmsim_trace_record *y)
{
    return x->level == y->level && x->exit_code == y->exit_code &&
           x->exit_info_1 == y->exit_info_1 && x->exit_info_2 == y->exit_info_2 &&
           x->rip == y->rip && x->insns == y->insns && x->decision == y->decision &&
           x->reflected_code == y->reflected_code && x->inject_vector == y->inject_vector &&
           x->inject_error == y->inject_error &&
           field_eq(x->detail, y->detail, sizeof x->detail);
}

/* Side B: record i against the reference's record i, until the first one
 * that disagrees or that the reference did not keep. */
static void compare_with_ref(struct compare_side *side, const struct svmsim_trace_record *rec,
                             uint64_t i)
{
    const struct compare_side *ref = side->ref;
    if (side->diverged || side->uncompared)
        return;
    if (i < ref->n_kept) {
        if (records_agree(&ref->recs[i], rec))
            return;
    } else if (i < ref->n_exits) {
        side->uncompared = true;
        side->uncompared_from = i;
        return;
    }
    /* Disagrees, or the reference's run ended before exit i. */
    side->diverged = true;
    side->diverged_at = i;
    copy_record(&side->first, rec);
}

void compare_side_record(void *opaque, const struct svmsim_trace_record *rec)
{
    struct compare_side *side = opaque;
    uint64_t i = side->n_exits++;

    if (is_gp_decision(rec))
        keep_gp(side, rec);
    if (side->ref) {
        compare_with_ref(side, rec, i);
        return;
    }
    if (side->cut)
        return;
    if (side->n_kept == side->n_alloc) {
        size_t want = next_alloc(side->n_alloc);
        struct svmsim_trace_record *p = want ? realloc(side->recs, want * sizeof *p) : NULL;
        if (!p) {
            side->cut = true;
            side->cut_for_memory = want != 0;
            return;
        }
        side->recs = p;
        side->n_alloc = want;
    }
    copy_record(&side->recs[side->n_kept++], rec);
}

/* ---- the report */

static void print_record(FILE *f, const char *name, const struct svmsim_trace_record *rec)
{
    char line[COMPARE_TEXT_LINE];
    if (svmsim_trace_format_text(rec, line, sizeof line) < 0)
        snprintf(line, sizeof line, "#%" PRIu64 " (record too long to show)", rec->seq);
    fprintf(f, "  %s: %s\n", name, line);
}

/* Side a's record at exit i, for the divergence: kept, not kept, or none. */
static void print_exit(FILE *f, const struct compare_side *a, uint64_t i)
{
    if (i < a->n_kept)
        print_record(f, a->name, &a->recs[i]);
    else if (i < a->n_exits)
        fprintf(f, "  %s: (not kept: beyond the first %zu records)\n", a->name, a->n_kept);
    else
        fprintf(f, "  %s: (no exit: the run ended)\n", a->name);
}

/* Prints the first divergence of the records, or that there is none, and
 * returns the verdict the records give. */
static enum compare_verdict report_records(FILE *f, const struct compare_side *a,
                                           const struct compare_side *b)
{
    if (b->diverged) {
        fprintf(f, "first divergence at exit #%" PRIu64 "\n", b->diverged_at);
        print_exit(f, a, b->diverged_at);
        print_record(f, b->name, &b->first);
        return COMPARE_DIFFERENT;
    }
    if (b->uncompared) {
        /* Every record of B up to A's last kept one agrees. */
        fprintf(f, "no divergence in the first %" PRIu64 " exits (%s: %" PRIu64 " exits, %s: %"
                PRIu64 " exits)\n", b->uncompared_from, a->name, a->n_exits, b->name,
                b->n_exits);
        return a->n_exits == b->n_exits ? COMPARE_INCOMPLETE : COMPARE_DIFFERENT;
    }
    if (b->n_exits < a->n_exits) {
        /* B's records all agree with A's, but A has more. */
        fprintf(f, "first divergence at exit #%" PRIu64 "\n", b->n_exits);
        print_exit(f, a, b->n_exits);
        fprintf(f, "  %s: (no exit: the run ended)\n", b->name);
        return COMPARE_DIFFERENT;
    }
    fprintf(f, "no divergence: %" PRIu64 " exits each\n", a->n_exits);
    return COMPARE_SAME;
}

/* Only when no divergence was found: one found before the cut stands. */
static void report_cut(FILE *f, const struct compare_side *a, const struct compare_side *b)
{
    if (a->cut && !b->diverged)
        fprintf(f, "%s: only its first %zu of %" PRIu64 " exits were kept (%s); later exits "
                "were not compared\n", a->name, a->n_kept, a->n_exits,
                a->cut_for_memory ? "out of memory" : "the limit");
}

static const char *decision_words(const struct compare_gp *g, char *buf, size_t len)
{
    switch (g->decision) {
    case SVMSIM_DECISION_HANDLED: return "handled by L0";
    case SVMSIM_DECISION_EMULATED: return "emulated by L0";
    case SVMSIM_DECISION_REFLECTED:
        snprintf(buf, len, "reflected to L1 as #VMEXIT(0x%" PRIx64 ")", g->reflected_code);
        return buf;
    case SVMSIM_DECISION_INJECTED_GP:
        snprintf(buf, len, "#GP(0x%" PRIx32 ") injected", g->inject_error);
        return buf;
    case SVMSIM_DECISION_INJECTED_UD: return "#UD injected";
    case SVMSIM_DECISION_INJECTED:
        snprintf(buf, len, "vector %u injected", g->inject_vector);
        return buf;
    case SVMSIM_DECISION_DEVICE: return "passed to device";
    case SVMSIM_DECISION_END: return "run ends";
    case SVMSIM_DECISION_NESTED_VMRUN: return "L2 entered";
    case SVMSIM_DECISION_VMRUN_FAILED: return "VMRUN failed";
    }
    snprintf(buf, len, "decision %d", (int)g->decision);
    return buf;
}

/* "2.3 L1, emulated by L0, L1, rip=0x100190", or "(none)". */
static void print_gp(FILE *f, const struct compare_gp *g)
{
    char words[64];
    if (!g) {
        fprintf(f, "(none)");
        return;
    }
    fprintf(f, "%s, %s, L%d, rip=0x%" PRIx64, g->gp_step, decision_words(g, words, sizeof words),
            g->level, g->rip);
}

/* Two #GP decisions agree when they give the guest the same outcome,
 * whichever step of their semantics named it. */
static bool gps_agree(const struct compare_gp *x, const struct compare_gp *y)
{
    return x->decision == y->decision &&
           x->level == y->level && x->rip == y->rip &&
           x->reflected_code == y->reflected_code && x->inject_vector == y->inject_vector;
}

/* The #GP decisions, k-th of A against k-th of B: prints those that differ
 * (and those without a partner) and returns how many did. */
static uint64_t report_gps(FILE *f, const struct compare_side *a, const struct compare_side *b)
{
    uint64_t differ = 0;
    size_t n = a->n_gps > b->n_gps ? a->n_gps : b->n_gps;

    for (size_t k = 0; k < n; k++) {
        const struct compare_gp *ga = k < a->n_gps ? &a->gps[k] : NULL;
        const struct compare_gp *gb = k < b->n_gps ? &b->gps[k] : NULL;
        /* A side that was cut may have had a partner: stop there. */
        if ((!ga && a->n_gps_seen > k) || (!gb && b->n_gps_seen > k))
            break;
        if (ga && gb && gps_agree(ga, gb))
            continue;
        if (differ++ == 0)
            fprintf(f, "#GP decisions that differ:\n");
        if (differ > COMPARE_GP_LINES_MAX)
            continue;
        fprintf(f, "  #GP %zu (exit ", k);
        if (ga)
            fprintf(f, "#%" PRIu64, ga->exit);
        else
            fprintf(f, "-");
        fprintf(f, " / ");
        if (gb)
            fprintf(f, "#%" PRIu64, gb->exit);
        else
            fprintf(f, "-");
        fprintf(f, "): %s: ", a->name);
        print_gp(f, ga);
        fprintf(f, "  %s: ", b->name);
        print_gp(f, gb);
        fprintf(f, "\n");
    }
    if (differ > COMPARE_GP_LINES_MAX)
        fprintf(f, "  ... and %" PRIu64 " more\n", differ - COMPARE_GP_LINES_MAX);
    const struct compare_side *sides[] = { a, b };
    for (size_t i = 0; i < 2; i++)
        if (sides[i]->n_gps < sides[i]->n_gps_seen)
            fprintf(f, "%s: only its first %zu of %" PRIu64 " #GP decisions were kept; later "
                    "ones were not compared\n", sides[i]->name, sides[i]->n_gps,
                    sides[i]->n_gps_seen);
    return differ;
}

static void report_end(FILE *f, const struct compare_side *s)
{
    char msg[sizeof s->end.message + 1];
    memcpy(msg, s->end.message, sizeof s->end.message);
    msg[sizeof s->end.message] = '\0';
    fprintf(f, "%s ended: status %d: %s\n", s->name, s->end.status, msg[0] ? msg : "run ended");
}

enum compare_verdict compare_report(FILE *f, const struct compare_side *a,
                                    const struct compare_side *b)
{
    enum compare_verdict v = report_records(f, a, b);
    report_cut(f, a, b);
    if (report_gps(f, a, b) != 0)
        v = COMPARE_DIFFERENT;
    report_end(f, a);
    report_end(f, b);
    if (a->end.status != b->end.status || a->end.reason != b->end.reason)
        v = COMPARE_DIFFERENT;
    return v;
}
