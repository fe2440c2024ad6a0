/* test_gp_trace.c — the #GP decisions of guests/demo/erratum_demo.c as trace
 * records (level, exit, decision, reflected exit, step of SPEC-GP.md §2.2 or
 * §2.3, semantics), compared with the decisions each semantics and knob must
 * give: golden records, not log text.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/svmsim.h"

struct gp_record {
    int level;
    enum svmsim_decision decision;
    uint64_t reflected_code;     /* for REFLECTED */
    const char *gp_step;
};

struct collected {
    struct gp_record recs[16];
    char steps[16][24];
    char semantics[16][16];
    unsigned n;
};

static void collect(void *opaque, const struct svmsim_trace_record *r)
{
    struct collected *c = opaque;
    if (r->exit_code != 0x4d || !r->gp_step[0] || c->n == 16)
        return;
    struct gp_record *g = &c->recs[c->n];
    g->level = r->level;
    g->decision = r->decision;
    g->reflected_code = r->decision == SVMSIM_DECISION_REFLECTED ? r->reflected_code : 0;
    snprintf(c->steps[c->n], sizeof c->steps[0], "%s", r->gp_step);
    snprintf(c->semantics[c->n], sizeof c->semantics[0], "%s", r->semantics ? r->semantics : "");
    g->gp_step = c->steps[c->n];
    c->n++;
}

/* Runs the demo with cfg adjusted by the caller; returns its status. */
static int run_demo(struct svmsim_config *cfg, struct collected *c)
{
    const char *dir = getenv("SVMSIM_GUESTS");
    cr_assert_not_null(dir, "SVMSIM_GUESTS is not set");
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/erratum_demo.elf", dir);
    cfg->trace = collect;
    cfg->trace_opaque = c;
    cfg->deterministic = true;
    cfg->max_insns = 50000000;
    struct svmsim_vm *vm = svmsim_create(cfg, err, sizeof err);
    cr_assert_not_null(vm, "%s", err);
    cr_assert_eq(svmsim_load_elf(vm, path, err, sizeof err), 0, "%s", err);
    struct svmsim_end end;
    int status = svmsim_run(vm, &end);
    svmsim_destroy(vm);
    return status;
}

static void quiet(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

static void expect_records(const struct collected *c, const struct gp_record *want, unsigned n,
                           const char *semantics)
{
    cr_assert_eq(c->n, n, "%u #GP decisions, expected %u", c->n, n);
    for (unsigned i = 0; i < n; i++) {
        const struct gp_record *g = &c->recs[i];
        cr_expect_eq(g->level, want[i].level, "#GP %u: level %d", i, g->level);
        cr_expect_eq(g->decision, want[i].decision, "#GP %u: decision %d", i, (int)g->decision);
        cr_expect_eq(g->reflected_code, want[i].reflected_code, "#GP %u: reflected 0x%llx", i,
                     (unsigned long long)g->reflected_code);
        cr_expect_str_eq(g->gp_step, want[i].gp_step, "#GP %u", i);
        cr_expect_str_eq(c->semantics[i], semantics, "#GP %u", i);
    }
}

static struct svmsim_config config(enum svmsim_semantics s)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.semantics = s;
    cfg.console_write = quiet;
    return cfg;
}

/* The demo under semantics s passes, with the #GP decisions want[0..n). */
static void expect_demo(enum svmsim_semantics s, const struct gp_record *want, unsigned n,
                        const char *semantics)
{
    struct collected c = { .n = 0 };
    struct svmsim_config cfg = config(s);
    cr_expect_eq(run_demo(&cfg, &c), 1);
    expect_records(&c, want, n, semantics);
}

/* SPEC-GP.md §2.2 step 3: kvm-7.1 and architectural decide alike. */
static const struct gp_record step_3_records[] = {
    { 1, SVMSIM_DECISION_EMULATED, 0, "2.2 step 3" },
    { 2, SVMSIM_DECISION_REFLECTED, 0x82, "2.2 step 3c" },
    { 2, SVMSIM_DECISION_REFLECTED, 0x4d, "2.2 step 3a" },
};

Test(gp_trace, kvm_7_1_runs_the_handler_for_l1_and_checks_before_reflecting_for_l2)
{
    expect_demo(SVMSIM_SEMANTICS_KVM_7_1, step_3_records, 3, "kvm-7.1");
}

Test(gp_trace, kvm_7_0_reflects_every_aligned_l2_svm_instruction)
{
    static const struct gp_record want[] = {
        { 1, SVMSIM_DECISION_EMULATED, 0, "2.3 L1" },
        { 2, SVMSIM_DECISION_REFLECTED, 0x82, "2.3 L2" },
        { 2, SVMSIM_DECISION_REFLECTED, 0x82, "2.3 L2" },
    };
    expect_demo(SVMSIM_SEMANTICS_KVM_7_0, want, 3, "kvm-7.0");
}

Test(gp_trace, architectural_reflects_what_l1_intercepts)
{
    expect_demo(SVMSIM_SEMANTICS_ARCHITECTURAL, step_3_records, 3, "architectural");
}

Test(gp_trace, svme_addr_chk_needs_no_gp_path)
{
    struct collected c = { .n = 0 };
    struct svmsim_config cfg = config(SVMSIM_SEMANTICS_KVM_7_1);
    cfg.svme_addr_chk = true;
    cr_expect_eq(run_demo(&cfg, &c), 1, "the demo still passes without the erratum");
    expect_records(&c, NULL, 0, "kvm-7.1");
}

Test(gp_trace, without_the_erratum_intercept_l1_sees_the_gp)
{
    struct collected c = { .n = 0 };
    struct svmsim_config cfg = config(SVMSIM_SEMANTICS_KVM_7_1);
    cfg.gp_erratum_intercept = false;
    cr_expect_neq(run_demo(&cfg, &c), 1, "L1's VMLOAD faults: the demo reports a failure");
    expect_records(&c, NULL, 0, "kvm-7.1");
}
