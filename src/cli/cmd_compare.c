/* cmd_compare.c — `svmsim compare [RUN-OPTIONS] [--semantics=A,B]
 * [--a=OPTS] [--b=OPTS] IMAGE`: what does a change to L0 do to my guest?
 *
 * Owns: compare's own options, making the two sides' configurations, and
 * running IMAGE once per side (deterministic, console discarded, trace
 * records to compare_trace.c).
 * Must not: parse run's options itself (run_options.c does, with run's
 * messages), include src/ internals, or let a run's own end status leak
 * into compare's: that is diff(1)'s (0 same, 1 different, 2 not all
 * compared), or 64/66 as run's.
 *
 * A side's configuration is: the library's defaults, then RUN-OPTIONS,
 * then its semantics from --semantics=A,B, then its --a/--b options; so a
 * side's own options win.
 */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <svmsim/svmsim.h>

#include "cli/compare_trace.h"
#include "cli/run_options.h"

enum { SIDE_A, SIDE_B, SIDES };

static const char *const side_names[SIDES] = { "A", "B" };
static const char *const side_option_names[SIDES] = { "--a", "--b" };

/* What compare's own options gathered. */
struct compare_args {
    bool two_semantics;                 /* --semantics=A,B given */
    enum svmsim_semantics semantics[SIDES];
    const char **side_opts[SIDES];      /* --a / --b values, in order given */
    int n_side_opts[SIDES];
};

/* One side's configuration and the words it was made from. */
struct compare_config {
    struct run_args args;
    const char *pair_semantics;         /* its half of --semantics=A,B, or NULL */
    char *buf;                          /* the --a/--b values, split in place */
    char **words;
    int n_words;
};

void cmd_compare_usage(FILE *f)
{
    fprintf(f,
            "usage: svmsim compare [RUN-OPTIONS] [--semantics=A,B] [--a=OPTS] [--b=OPTS] IMAGE\n"
            "\n"
            "Runs IMAGE twice, as side A and side B, each deterministic, and shows\n"
            "where the runs part: the first #VMEXIT that reaches L0 on which they\n"
            "differ, the #GP decisions (SPEC-GP.md) that differ, and how each run\n"
            "ended. The guest's console output is not shown.\n"
            "\n"
            "options (--opt=VALUE or --opt VALUE):\n"
            "  RUN-OPTIONS       options of 'svmsim run' for both sides (see\n"
            "                    'svmsim run --help'), except --trace, --explain, --stats\n"
            "  --semantics=A,B   side A runs with semantics A, side B with B\n"
            "  --a=OPTS          run options for side A only, separated by commas or\n"
            "  --b=OPTS          spaces (--b=--svme-addr-chk); they win over RUN-OPTIONS;\n"
            "                    may be repeated\n"
            "  --help            this text\n"
            "\n"
            "--semantics, --a or --b must make the sides differ. Exit status as\n"
            "diff(1)'s: 0 the runs agree (every #VMEXIT record, and the status and\n"
            "reason they ended with), 1 they differ, 2 no difference found but side A\n"
            "had more records than compare keeps (%u); 64 usage error, 66 the image\n"
            "cannot be loaded.\n",
            COMPARE_RECORDS_MAX);
}

/* ---- compare's own options */

static int opt_semantics_pair(void *ctx, const char *opt, const char *val)
{
    struct compare_args *c = ctx;
    const char *comma = strchr(val, ',');
    char first[32];

    if (!comma) {
        cli_error("compare: %s needs two values, A,B (one per side), not '%s'", opt, val);
        return -1;
    }
    size_t n = (size_t)(comma - val);
    if (n >= sizeof first) {
        cli_error("%s: '%.*s' is not one of kvm-7.1, kvm-7.0, architectural", opt, (int)n, val);
        return -1;
    }
    memcpy(first, val, n);
    first[n] = '\0';
    if (run_semantics_parse(opt, first, &c->semantics[SIDE_A]) != 0 ||
        run_semantics_parse(opt, comma + 1, &c->semantics[SIDE_B]) != 0)
        return -1;
    c->two_semantics = true;
    return 0;
}

static int opt_side(struct compare_args *c, int side, const char *val)
{
    c->side_opts[side][c->n_side_opts[side]++] = val;
    return 0;
}

static int opt_a(void *ctx, const char *opt, const char *val) { return opt_side(ctx, SIDE_A, val); }
static int opt_b(void *ctx, const char *opt, const char *val) { return opt_side(ctx, SIDE_B, val); }

static const struct cli_option compare_options[] = {
    { "--semantics", true, opt_semantics_pair },
    { "--a", true, opt_a },
    { "--b", true, opt_b },
};

/* Run's options that make no sense for two runs at once. */
static int reject_run_only(const struct run_args *a, const char *who)
{
    const char *opt = a->trace_path ? "--trace" : a->explain ? "--explain"
                    : a->explain_svm ? "--explain-svm" : a->stats ? "--stats"
                    : a->help ? "--help" : NULL;
    if (!opt)
        return 0;
    cli_error("%s: %s cannot be used with compare", who, opt);
    return -1;
}

/* ---- the two sides' configurations */

static bool is_separator(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t';
}

/* Splits the side's --a/--b values into words (in cfg->buf). Returns 0, or
 * -1 when out of memory. */
static int split_side_options(struct compare_config *cfg, const char *const *vals, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(vals[i]) + 1;
    cfg->buf = malloc(total ? total : 1);
    cfg->words = malloc((total ? total : 1) * sizeof *cfg->words);
    if (!cfg->buf || !cfg->words)
        return -1;
    char *p = cfg->buf;
    for (int i = 0; i < n; i++) {
        memcpy(p, vals[i], strlen(vals[i]) + 1);
        for (char *q = p; *q;) {
            while (is_separator(*q))
                *q++ = '\0';
            if (*q == '\0')
                break;
            cfg->words[cfg->n_words++] = q;
            while (*q && !is_separator(*q))
                q++;
        }
        p += strlen(vals[i]) + 1;
    }
    return 0;
}

/* Side `side`'s configuration on top of the common one. Returns 0, or -1
 * after one line on stderr. */
static int make_side(struct compare_config *cfg, const struct run_args *common,
                     const struct compare_args *c, int side)
{
    char who[32];
    snprintf(who, sizeof who, "compare: %s", side_option_names[side]);
    struct run_parse parse = { .who = who, .help_command = "run", .image = false };

    cfg->args = *common;
    if (c->two_semantics) {
        cfg->args.cfg.semantics = c->semantics[side];
        cfg->pair_semantics = run_semantics_name(c->semantics[side]);
    }
    if (split_side_options(cfg, c->side_opts[side], c->n_side_opts[side]) != 0) {
        cli_error("compare: out of memory");
        return -1;
    }
    if (run_options_parse(&cfg->args, &parse, cfg->n_words, cfg->words) != 0 ||
        reject_run_only(&cfg->args, who) != 0 || run_args_check(&cfg->args) != 0)
        return -1;
    cfg->args.cfg.deterministic = true;
    return 0;
}

/* The knobs of DESIGN.md that make two runs differ, field by field (a new
 * knob in struct svmsim_config belongs here too). */
static bool guestinfo_equal(const char *const *x, const char *const *y)
{
    for (; x && y && *x && *y; x++, y++)
        if (strcmp(*x, *y) != 0)
            return false;
    return !(x && *x) && !(y && *y);
}

static bool configs_equal(const struct svmsim_config *x, const struct svmsim_config *y)
{
    return x->vmware_version == y->vmware_version &&
           x->vmware_product_type == y->vmware_product_type &&
           memcmp(x->vmware_uuid, y->vmware_uuid, sizeof x->vmware_uuid) == 0 &&
           guestinfo_equal(x->guestinfo, y->guestinfo) &&
           x->mem_size == y->mem_size && x->max_insns == y->max_insns &&
           x->maxphyaddr == y->maxphyaddr && x->deterministic == y->deterministic &&
           x->enable_vmware_backdoor == y->enable_vmware_backdoor &&
           x->gp_erratum_intercept == y->gp_erratum_intercept &&
           x->cpu_erratum == y->cpu_erratum &&
           x->host_reserved_start == y->host_reserved_start &&
           x->host_reserved_end == y->host_reserved_end &&
           x->svme_addr_chk == y->svme_addr_chk && x->nested == y->nested &&
           x->vls == y->vls && x->semantics == y->semantics;
}

/* Parses argv into the two sides' configurations and the image. Returns 0
 * (with *help when --help was asked), or -1 after one line on stderr. */
static int compare_parse(struct compare_config cfgs[SIDES], const char **image, bool *help,
                         int argc, char **argv)
{
    struct compare_args c = { .two_semantics = false };
    struct run_args common;
    const struct run_parse parse = {
        .who = "compare", .help_command = "compare", .image = true,
        .own = compare_options, .n_own = sizeof compare_options / sizeof compare_options[0],
        .own_ctx = &c,
    };
    int rc = -1;

    for (int s = 0; s < SIDES; s++) {
        c.side_opts[s] = calloc((size_t)argc, sizeof *c.side_opts[s]);
        if (!c.side_opts[s]) {
            cli_error("compare: out of memory");
            goto out;
        }
    }
    run_args_init(&common);
    if (run_options_parse(&common, &parse, argc - 1, argv + 1) != 0)
        goto out;
    *help = common.help;
    if (*help) {
        rc = 0;
        goto out;
    }
    if (reject_run_only(&common, "compare") != 0)
        goto out;
    for (int s = 0; s < SIDES; s++)
        if (make_side(&cfgs[s], &common, &c, s) != 0)
            goto out;
    if (configs_equal(&cfgs[SIDE_A].args.cfg, &cfgs[SIDE_B].args.cfg)) {
        cli_error("compare: both sides run the same configuration (make them differ with "
                  "--semantics=A,B, --a=OPTS or --b=OPTS)");
        goto out;
    }
    *image = common.image;
    rc = 0;
out:
    for (int s = 0; s < SIDES; s++)
        free(c.side_opts[s]);
    return rc;
}

static void compare_config_free(struct compare_config *cfg)
{
    free(cfg->buf);
    free(cfg->words);
}

/* ---- running */

static void console_discard(void *opaque, const uint8_t *buf, size_t len)
{
}

/* "A: --semantics=kvm-7.0 --vls": the side's own options, as given. */
static void print_side(FILE *f, const char *name, const struct compare_config *cfg)
{
    fprintf(f, "%s:", name);
    if (cfg->pair_semantics)
        fprintf(f, " --semantics=%s", cfg->pair_semantics);
    for (int i = 0; i < cfg->n_words; i++)
        fprintf(f, " %s", cfg->words[i]);
    if (!cfg->pair_semantics && cfg->n_words == 0)
        fprintf(f, " (no options of its own)");
    fprintf(f, "\n");
}

int cmd_compare(int argc, char **argv)
{
    struct compare_config cfgs[SIDES] = { { .buf = NULL }, { .buf = NULL } };
    struct compare_side sides[SIDES];
    struct svmsim_vm *vms[SIDES] = { NULL, NULL };
    const char *image = NULL;
    bool help = false;
    char err[512];
    int status = SVMSIM_STATUS_USAGE;

    compare_side_init(&sides[SIDE_A], side_names[SIDE_A], NULL);
    compare_side_init(&sides[SIDE_B], side_names[SIDE_B], &sides[SIDE_A]);
    if (compare_parse(cfgs, &image, &help, argc, argv) != 0)
        goto out;
    if (help) {
        cmd_compare_usage(stdout);
        status = CLI_EXIT_OK;
        goto out;
    }

    for (int s = 0; s < SIDES; s++) {
        struct svmsim_config cfg = cfgs[s].args.cfg;
        cfg.console_write = console_discard;
        cfg.trace = compare_side_record;
        cfg.trace_opaque = &sides[s];
        err[0] = '\0';
        vms[s] = svmsim_create(&cfg, err, sizeof err);
        if (!vms[s]) {
            cli_error("%s: %s", side_names[s], err[0] ? err : "cannot create the machine");
            goto out;
        }
    }
    for (int s = 0; s < SIDES; s++) {
        err[0] = '\0';
        int loaded = svmsim_load_elf(vms[s], image, err, sizeof err);
        if (loaded != 0) {
            /* The same image fails the same way on both sides; B alone can
             * fail only through its own options (--mem, --initrd), so it is
             * named. 66, or 64 for --append/--initrd with an ELF64 image. */
            cli_error("%s%s", s == SIDE_B ? "B: " : "",
                      err[0] ? err : "cannot load the image");
            status = loaded;
            goto out;
        }
    }
    /* A first: B is compared with A's records as it runs. The machines stay
     * until the report is printed, for the library's strings in the
     * records (exit_name, semantics). */
    for (int s = 0; s < SIDES; s++)
        svmsim_run(vms[s], &sides[s].end);

    for (int s = 0; s < SIDES; s++)
        print_side(stdout, side_names[s], &cfgs[s]);
    status = (int)compare_report(stdout, &sides[SIDE_A], &sides[SIDE_B]);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("compare: cannot write the comparison to stdout");
        status = CLI_EXIT_OUTPUT;
    }
out:
    for (int s = 0; s < SIDES; s++) {
        if (vms[s])
            svmsim_destroy(vms[s]);
        compare_side_free(&sides[s]);
        compare_config_free(&cfgs[s]);
    }
    return status;
}
