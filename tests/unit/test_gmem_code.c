/* test_gmem_code.c — the code-mark table of guest memory (src/mem/mem.c
 * gmem_mark_code, gmem_code_lines, gmem_unmark_code, gmem_clear_code): the
 * open-addressed table of at most GMEM_CODE_MAX pages with backward-shift
 * deletion, its code_count, and the per-page bytes m->code[] that must stay
 * in step with it.
 *
 * Owns: a RAM of 4 GiB (gmem_init maps it lazily, so only m->code[] costs:
 * 1 MiB) so that many pages share a home slot, a model of what the table
 * should hold (the lines of every page) and a checker of the table's probe
 * invariant, and one test per behaviour.
 * Must not: touch the CPU, or any file but this one. The home slot is
 * computed here as mem.c computes it only to build dense collisions: if the
 * hash changes, every expectation still holds (the collisions thin out).
 */
#include "mem/mem.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (4ull << 30)
#define NPAGES (RAM_SIZE >> GMEM_PAGE_SHIFT)

_Static_assert(NPAGES > GMEM_CODE_MAX + 16, "more pages than the table holds");

/* Criterion runs each test in its own process: one fixture per test. */
static struct gmem mem;
/* The model: lines of every page (0: not marked; tests mark non-zero lines). */
static uint64_t *model;
static uint64_t model_count;

static void setup(void)
{
    cr_assert_eq(gmem_init(&mem, RAM_SIZE), 0);
    model = calloc(NPAGES, sizeof(*model));
    cr_assert_not_null(model);
    model_count = 0;
}

static void teardown(void)
{
    free(model);
    gmem_fini(&mem);
}

TestSuite(gmem_code, .init = setup, .fini = teardown);

/* mem.c's home slot of a page (see the header comment). */
static unsigned home_of(uint64_t page)
{
    return (unsigned)((page * 0x9e3779b97f4a7c15ull) >> 50) & (GMEM_CODE_SLOTS - 1);
}

/* Lines a test gives page p: non-zero, different from page to page. */
static uint64_t lines_for(uint64_t p)
{
    return ((p * 0x2545f4914f6cdd1dull) | 1) ^ (p << 40);
}

static void mark(uint64_t page, uint64_t lines, enum gmem_mark expect)
{
    enum gmem_mark got = gmem_mark_code(&mem, page, lines);
    cr_assert_eq(got, expect, "mark of page 0x%llx: %d, expected %d", (unsigned long long)page,
                 got, expect);
    if (got == GMEM_MARK_NEW) {
        model[page] = lines;
        model_count++;
    } else if (got == GMEM_MARK_OLD) {
        model[page] |= lines;
    }
}

static void unmark(uint64_t page)
{
    gmem_unmark_code(&mem, page);
    if (model[page])
        model_count--;
    model[page] = 0;
}

/* The table's own invariant: every member sits at or after its home with
 * no free slot between, appears once, and has its m->code[] byte set; the
 * members are code_count in number. */
static void check_table(void)
{
    uint64_t members = 0;
    for (unsigned j = 0; j < GMEM_CODE_SLOTS; j++) {
        uint64_t p = mem.code_tab[j].page;
        if (p == GMEM_CODE_EMPTY) {
            cr_assert_eq(mem.code_tab[j].lines, 0, "free slot %u keeps lines", j);
            continue;
        }
        members++;
        cr_assert_lt(p, NPAGES, "slot %u holds page 0x%llx", j, (unsigned long long)p);
        cr_assert_neq(mem.code[p], 0, "page 0x%llx in slot %u without its code byte",
                      (unsigned long long)p, j);
        for (unsigned i = home_of(p); i != j; i = (i + 1) & (GMEM_CODE_SLOTS - 1)) {
            cr_assert_neq(mem.code_tab[i].page, GMEM_CODE_EMPTY,
                          "page 0x%llx in slot %u is cut off from its home %u by free slot %u",
                          (unsigned long long)p, j, home_of(p), i);
            cr_assert_neq(mem.code_tab[i].page, p, "page 0x%llx in slots %u and %u",
                          (unsigned long long)p, i, j);
        }
    }
    cr_assert_eq(members, mem.code_count, "%llu members, code_count %llu",
                 (unsigned long long)members, (unsigned long long)mem.code_count);
}

/* The table against the model for pages [lo, hi). */
static void check_pages(uint64_t lo, uint64_t hi)
{
    for (uint64_t p = lo; p < hi; p++) {
        uint64_t got = gmem_code_lines(&mem, p);
        cr_assert_eq(got, model[p], "page 0x%llx: lines 0x%llx, expected 0x%llx",
                     (unsigned long long)p, (unsigned long long)got,
                     (unsigned long long)model[p]);
        cr_assert_eq(mem.code[p] != 0, model[p] != 0, "page 0x%llx: code byte %u",
                     (unsigned long long)p, mem.code[p]);
    }
}

static void check_all(void)
{
    cr_assert_eq(mem.code_count, model_count, "code_count %llu, expected %llu",
                 (unsigned long long)mem.code_count, (unsigned long long)model_count);
    check_table();
    check_pages(0, NPAGES);
}

/* n pages with home slot h, from page `from` on; returns how many found. */
static unsigned pages_with_home(unsigned h, uint64_t from, uint64_t *out, unsigned n)
{
    unsigned k = 0;
    for (uint64_t p = from; p < NPAGES && k < n; p++)
        if (home_of(p) == h)
            out[k++] = p;
    return k;
}

/* ---- init */

Test(gmem_code, init_refuses_bad_sizes_and_starts_with_an_empty_table)
{
    struct gmem m;
    cr_assert_eq(gmem_init(&m, 0), -1);
    cr_assert_eq(gmem_init(&m, GMEM_PAGE_SIZE + 1), -1);
    cr_assert_eq(gmem_init(&m, 3 * GMEM_PAGE_SIZE), 0);
    cr_assert_eq(m.size, 3 * GMEM_PAGE_SIZE);
    cr_assert_eq(m.code_count, 0);
    for (unsigned i = 0; i < GMEM_CODE_SLOTS; i++) {
        cr_assert_eq(m.code_tab[i].page, GMEM_CODE_EMPTY);
        cr_assert_eq(m.code_tab[i].lines, 0);
    }
    for (unsigned p = 0; p < 3; p++) {
        cr_assert_eq(m.code[p], 0);
        cr_assert_eq(gmem_code_lines(&m, p), 0);
    }
    gmem_fini(&m);
    cr_assert_null(m.code_tab);
    cr_assert_eq(m.code_count, 0);
}

/* ---- mark, lines, unmark */

Test(gmem_code, a_new_mark_is_new_and_a_second_adds_lines_as_old)
{
    cr_assert_eq(gmem_code_lines(&mem, 5), 0);
    cr_assert_eq(gmem_mark_code(&mem, 5, 0x1), GMEM_MARK_NEW);
    cr_assert_eq(mem.code_count, 1);
    cr_assert_eq(mem.code[5], 1);
    cr_assert_eq(gmem_code_lines(&mem, 5), 0x1);
    cr_assert_eq(gmem_mark_code(&mem, 5, 0x8000000000000004ull), GMEM_MARK_OLD);
    cr_assert_eq(mem.code_count, 1);
    cr_assert_eq(gmem_code_lines(&mem, 5), 0x8000000000000005ull);
    cr_assert_eq(gmem_mark_code(&mem, 5, 0x1), GMEM_MARK_OLD);
    cr_assert_eq(gmem_code_lines(&mem, 5), 0x8000000000000005ull);
    /* Neighbours are untouched. */
    cr_assert_eq(gmem_code_lines(&mem, 4), 0);
    cr_assert_eq(gmem_code_lines(&mem, 6), 0);
    cr_assert_eq(mem.code[4], 0);
    cr_assert_eq(mem.code[6], 0);
    /* Page 0 and the last page are pages like any other. */
    cr_assert_eq(gmem_mark_code(&mem, 0, ~0ull), GMEM_MARK_NEW);
    cr_assert_eq(gmem_mark_code(&mem, NPAGES - 1, 0x2), GMEM_MARK_NEW);
    cr_assert_eq(gmem_code_lines(&mem, 0), ~0ull);
    cr_assert_eq(gmem_code_lines(&mem, NPAGES - 1), 0x2);
    cr_assert_eq(mem.code_count, 3);
    check_table();
}

Test(gmem_code, unmark_forgets_the_page_and_only_it)
{
    mark(7, 0x30, GMEM_MARK_NEW);
    mark(8, 0x1, GMEM_MARK_NEW);
    unmark(7);
    cr_assert_eq(gmem_code_lines(&mem, 7), 0);
    cr_assert_eq(mem.code[7], 0);
    cr_assert_eq(mem.code_count, 1);
    cr_assert_eq(gmem_code_lines(&mem, 8), 0x1);
    /* Unmarking a page that is not marked changes nothing. */
    gmem_unmark_code(&mem, 7);
    gmem_unmark_code(&mem, 9);
    cr_assert_eq(mem.code_count, 1);
    check_all();
    /* Marked again, it is new, with only the new lines. */
    mark(7, 0x4, GMEM_MARK_NEW);
    cr_assert_eq(gmem_code_lines(&mem, 7), 0x4);
    check_all();
}

/* ---- backward-shift deletion */

Test(gmem_code, deleting_from_the_middle_of_a_run_of_one_home_keeps_the_rest_findable)
{
    /* 12 pages with the same home: one run, in marking order. */
    uint64_t p[12];
    unsigned h = home_of(0x123456);
    cr_assert_eq(pages_with_home(h, 0, p, 12), 12);
    for (unsigned i = 0; i < 12; i++)
        mark(p[i], lines_for(p[i]), GMEM_MARK_NEW);
    check_all();
    /* The middle, then the head, then the tail of the run. */
    unmark(p[5]);
    check_all();
    unmark(p[0]);
    check_all();
    unmark(p[11]);
    check_all();
    for (unsigned i = 1; i < 11; i += 2)
        unmark(p[i]);
    check_all();
    for (unsigned i = 0; i < 12; i++)
        if (model[p[i]])
            cr_assert_eq(gmem_code_lines(&mem, p[i]), lines_for(p[i]));
    cr_assert_eq(mem.code_count, 5); /* p[2], p[4], p[6], p[8], p[10] */
}

Test(gmem_code, deleting_from_interleaved_runs_keeps_every_home_reachable)
{
    /* Homes h..h+3, five pages each, marked interleaved so that the runs
     * merge: a deletion must pull back members of later homes, never past
     * their home. */
    uint64_t p[4][5];
    unsigned h = 1000;
    for (unsigned k = 0; k < 4; k++)
        cr_assert_eq(pages_with_home(h + k, 0, p[k], 5), 5);
    for (unsigned i = 0; i < 5; i++)
        for (unsigned k = 0; k < 4; k++)
            mark(p[k][i], lines_for(p[k][i]), GMEM_MARK_NEW);
    check_all();
    unmark(p[0][0]);
    check_all();
    unmark(p[1][2]);
    check_all();
    unmark(p[3][4]);
    check_all();
    unmark(p[2][0]);
    unmark(p[0][4]);
    check_all();
    cr_assert_eq(mem.code_count, 15);
}

Test(gmem_code, a_run_wrapping_past_the_last_slot_survives_deletions)
{
    /* Homes GMEM_CODE_SLOTS-2, -1 and 0: the run wraps to the start. */
    uint64_t a[6], b[6], c[3];
    cr_assert_eq(pages_with_home(GMEM_CODE_SLOTS - 2, 0, a, 6), 6);
    cr_assert_eq(pages_with_home(GMEM_CODE_SLOTS - 1, 0, b, 6), 6);
    cr_assert_eq(pages_with_home(0, 0, c, 3), 3);
    for (unsigned i = 0; i < 6; i++) {
        mark(a[i], lines_for(a[i]), GMEM_MARK_NEW);
        mark(b[i], lines_for(b[i]), GMEM_MARK_NEW);
    }
    for (unsigned i = 0; i < 3; i++)
        mark(c[i], lines_for(c[i]), GMEM_MARK_NEW);
    check_all();
    /* Slot 0 holds one of a/b now: the run crosses the end of the table. */
    cr_assert_neq(mem.code_tab[0].page, GMEM_CODE_EMPTY);
    cr_assert_neq(home_of(mem.code_tab[0].page), 0);
    unmark(a[1]); /* before the wrap: members after it, wrapped or not, move */
    check_all();
    unmark(b[5]); /* a member sitting past the wrap */
    check_all();
    unmark(c[0]);
    check_all();
    unmark(a[0]);
    unmark(b[0]);
    check_all();
    cr_assert_eq(mem.code_count, 10);
}

Test(gmem_code, unmarking_every_other_of_thousands_keeps_the_others_with_their_lines)
{
    /* 8000 pages spread over the RAM (about half the table full: long
     * probe runs), then every other one unmarked in marking order. */
    enum { N = 8000 };
    _Static_assert(N <= GMEM_CODE_MAX, "fits");
    static uint64_t pages[N];
    for (unsigned i = 0; i < N; i++) {
        pages[i] = (uint64_t)i * 131 + (i % 7);
        mark(pages[i], lines_for(pages[i]), GMEM_MARK_NEW);
    }
    cr_assert_eq(mem.code_count, N);
    check_table();
    for (unsigned i = 0; i < N; i += 2)
        unmark(pages[i]);
    cr_assert_eq(mem.code_count, N / 2);
    for (unsigned i = 0; i < N; i++) {
        uint64_t p = pages[i];
        if (i % 2 == 0) {
            cr_assert_eq(gmem_code_lines(&mem, p), 0, "removed page 0x%llx still has lines",
                         (unsigned long long)p);
            cr_assert_eq(mem.code[p], 0, "removed page 0x%llx keeps its code byte",
                         (unsigned long long)p);
        } else {
            cr_assert_eq(gmem_code_lines(&mem, p), lines_for(p), "page 0x%llx lost its lines",
                         (unsigned long long)p);
            cr_assert_eq(mem.code[p], 1);
        }
    }
    check_all();
    /* The other half in reverse order empties the table. */
    for (unsigned i = N - 1; i < N; i -= 2)
        unmark(pages[i]);
    cr_assert_eq(mem.code_count, 0);
    check_all();
}

Test(gmem_code, thousands_of_pages_on_few_homes_survive_unmarking_every_other)
{
    /* 128 homes, 30 pages each: 3840 pages in long merged runs. */
    enum { HOMES = 128, PER = 30 };
    static uint64_t pages[HOMES][PER];
    for (unsigned k = 0; k < HOMES; k++)
        cr_assert_eq(pages_with_home(5000 + 2 * k, 0, pages[k], PER), PER);
    for (unsigned i = 0; i < PER; i++)
        for (unsigned k = 0; k < HOMES; k++)
            mark(pages[k][i], lines_for(pages[k][i]), GMEM_MARK_NEW);
    check_table();
    for (unsigned i = 0; i < PER; i++)
        for (unsigned k = 0; k < HOMES; k++)
            if ((i + k) % 2 == 0)
                unmark(pages[k][i]);
    cr_assert_eq(mem.code_count, HOMES * PER / 2);
    check_all();
}

Test(gmem_code, a_random_mix_of_marks_and_unmarks_matches_the_model)
{
    /* 400 pages on 16 neighbouring homes across the end of the table; a
     * fixed pseudo-random sequence. */
    enum { N = 400 };
    static uint64_t pages[N];
    for (unsigned k = 0; k < 16; k++)
        cr_assert_eq(pages_with_home((GMEM_CODE_SLOTS - 8 + k) & (GMEM_CODE_SLOTS - 1), 0,
                                     &pages[k * 25], 25), 25);
    uint64_t x = 0x853c49e6748fea9bull;
    for (unsigned step = 0; step < 20000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t p = pages[(x >> 33) % N];
        if ((x >> 20) & 1) {
            uint64_t lines = 1ull << ((x >> 40) & 63);
            mark(p, lines, model[p] ? GMEM_MARK_OLD : GMEM_MARK_NEW);
        } else {
            unmark(p);
        }
        if (step % 1000 == 999)
            check_all();
        else
            cr_assert_eq(gmem_code_lines(&mem, p), model[p], "step %u", step);
    }
    check_all();
}

/* ---- the limit */

Test(gmem_code, the_page_after_gmem_code_max_is_full_and_changes_nothing)
{
    for (uint64_t p = 0; p < GMEM_CODE_MAX; p++)
        mark(p * 3, lines_for(p * 3), GMEM_MARK_NEW);
    cr_assert_eq(mem.code_count, GMEM_CODE_MAX);
    check_table();
    /* A new page: FULL, not marked. */
    const uint64_t extra = 3ull * GMEM_CODE_MAX + 1;
    cr_assert_eq(gmem_mark_code(&mem, extra, 0x7), GMEM_MARK_FULL);
    cr_assert_eq(mem.code_count, GMEM_CODE_MAX);
    cr_assert_eq(mem.code[extra], 0);
    cr_assert_eq(gmem_code_lines(&mem, extra), 0);
    cr_assert_eq(gmem_mark_code(&mem, 1, 0x7), GMEM_MARK_FULL);
    cr_assert_eq(mem.code[1], 0);
    /* A marked one still takes lines: OLD. */
    mark(6, 0x8000000000000000ull, GMEM_MARK_OLD);
    cr_assert_eq(gmem_code_lines(&mem, 6), lines_for(6) | 0x8000000000000000ull);
    cr_assert_eq(mem.code_count, GMEM_CODE_MAX);
    check_all();
    /* One unmarked makes room for exactly one. */
    unmark(3);
    mark(extra, 0x7, GMEM_MARK_NEW);
    cr_assert_eq(gmem_mark_code(&mem, 1, 0x7), GMEM_MARK_FULL);
    check_all();
}

/* ---- clear */

Test(gmem_code, clear_forgets_every_mark_and_the_table_fills_again)
{
    gmem_clear_code(&mem); /* empty: nothing to do */
    cr_assert_eq(mem.code_count, 0);
    for (uint64_t p = 0; p < GMEM_CODE_MAX; p++)
        mark(p * 5 + 1, lines_for(p * 5 + 1), GMEM_MARK_NEW);
    cr_assert_eq(gmem_mark_code(&mem, 2, 1), GMEM_MARK_FULL);
    gmem_clear_code(&mem);
    memset(model, 0, NPAGES * sizeof(*model));
    model_count = 0;
    cr_assert_eq(mem.code_count, 0);
    for (unsigned i = 0; i < GMEM_CODE_SLOTS; i++) {
        cr_assert_eq(mem.code_tab[i].page, GMEM_CODE_EMPTY, "slot %u", i);
        cr_assert_eq(mem.code_tab[i].lines, 0, "slot %u", i);
    }
    check_all(); /* every code byte is 0 again */
    /* The whole table is free again, and old pages come back new. */
    for (uint64_t p = 0; p < GMEM_CODE_MAX; p++)
        mark(p * 5 + 2, 0x1, GMEM_MARK_NEW);
    cr_assert_eq(gmem_mark_code(&mem, 1, 1), GMEM_MARK_FULL);
    cr_assert_eq(gmem_mark_code(&mem, 2, 2), GMEM_MARK_OLD);
    cr_assert_eq(gmem_code_lines(&mem, 2), 0x3);
    model[2] = 0x3;
    check_all();
}
