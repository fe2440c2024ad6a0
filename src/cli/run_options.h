/* run_options.h — the options of `svmsim run`, parsed for every subcommand
 * that runs a guest.
 *
 * Owns: the table of run's options (every knob of DESIGN.md "Knobs", plus
 * --trace/--explain/--stats/--help and the multiboot --append/--initrd) and the one parser that applies them to
 * a struct run_args, with run's messages.
 * Must not: open files or run anything (the subcommand does), or know a
 * subcommand's own options: a subcommand passes those in (struct cli_option)
 * and they are tried before run's.
 *
 * Options take `--opt=value` or `--opt value`, may come before or after
 * IMAGE, and the last one wins; `--` ends options. Anything malformed is
 * one line on stderr (cli_error) and the parser returns -1.
 */
#ifndef SVMSIM_CLI_RUN_OPTIONS_H
#define SVMSIM_CLI_RUN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <svmsim/svmsim.h>

/* --guestinfo may be given this often (the backdoor device keeps 64 keys). */
#define RUN_GUESTINFO_MAX 64

/* What run's options set. */
struct run_args {
    struct svmsim_config cfg;           /* cfg.guestinfo points into guestinfo[] below,
                                         * so a copy is re-pointed by run_options_parse;
                                         * cfg.cmdline and cfg.initrd into argv */
    const char *image;                  /* NULL until an IMAGE argument is seen */
    const char *trace_path;             /* --trace, or NULL */
    bool explain;                       /* --explain */
    bool explain_svm;                   /* --explain-svm */
    bool stats;                         /* --stats */
    bool help;                          /* --help: parsing stopped there */
    const char *guestinfo[RUN_GUESTINFO_MAX + 1]; /* --guestinfo values, NULL-terminated */
    size_t n_guestinfo;
};

/* An option of the subcommand itself: apply returns 0, or -1 after one line
 * on stderr. val is NULL for an option that takes none. */
struct cli_option {
    const char *name;                   /* "--semantics" */
    bool takes_value;
    int (*apply)(void *ctx, const char *opt, const char *val);
};

/* Who parses, for the messages, and what else is allowed. */
struct run_parse {
    const char *who;                    /* prefix of messages: "run", "compare: --a" */
    const char *help_command;           /* "try 'svmsim <help_command> --help'" */
    bool image;                         /* exactly one IMAGE is expected; else none */
    const struct cli_option *own;       /* tried before run's options; may be NULL */
    size_t n_own;
    void *own_ctx;                      /* passed to own[i].apply */
};

/* a->cfg = the library's defaults, nothing else set. */
void run_args_init(struct run_args *a);

/* Applies argv[0..argc) to *a (argv holds no subcommand name). Stops at
 * --help (a->help set, 0 returned). Returns 0, or -1 after one line on
 * stderr; a missing IMAGE is an error when p->image. argv's strings must
 * outlive *a (--guestinfo, --append and --initrd keep pointers to them). */
int run_options_parse(struct run_args *a, const struct run_parse *p, int argc, char *const *argv);

/* Checks what no single option can: RAM addressable under MAXPHYADDR.
 * Returns 0, or -1 after one line on stderr. */
int run_args_check(const struct run_args *a);

/* --semantics' values: parses val ("kvm-7.0") into *sem, or -1 after one
 * line on stderr naming opt; and the name of a semantics. */
int run_semantics_parse(const char *opt, const char *val, enum svmsim_semantics *sem);
const char *run_semantics_name(enum svmsim_semantics sem);

#endif
