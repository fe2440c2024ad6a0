/* cmd_run.c — `svmsim run [OPTIONS] IMAGE`.
 *
 * Owns: parsing run's options into a struct svmsim_config (every knob of
 * DESIGN.md "Knobs"), the --trace/--explain sinks, and turning how the run
 * ended into the process exit status.
 * Must not: include src/ internals (only include/svmsim/svmsim.h), or
 * second-guess the library's verdicts: the status is end.status.
 *
 * Options take `--opt=value` or `--opt value`, may come before or after
 * IMAGE, and the last one wins; `--` ends options. Anything malformed is
 * one line on stderr and status 64.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <svmsim/svmsim.h>

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define RUN_MEM_MIN (2 * MIB)
#define RUN_MAXPHYADDR_MIN 32
#define RUN_MAXPHYADDR_MAX 52
/* One JSON line: the record's strings may each grow 6x when escaped. */
#define RUN_TRACE_LINE 16384 /* a record with a VMCB dump runs to ~8 KiB */

struct run_args {
    struct svmsim_config cfg;
    const char *image;
    const char *trace_path;
    bool explain;
    bool stats;
    bool help;
};

/* Where trace records go during the run. */
struct run_trace {
    FILE *file;                         /* --trace, or NULL */
    bool explain;                       /* --explain: text on stderr */
    int write_errno;                    /* first error writing file, 0 if none */
};

void cmd_run_usage(FILE *f)
{
    fprintf(f,
            "usage: svmsim run [OPTIONS] IMAGE\n"
            "\n"
            "Runs the ELF64 x86-64 executable IMAGE as the L1 guest until it writes\n"
            "the exit port (status (v << 1) | 1), halts (2), shuts down (4), reaches\n"
            "--max-insns (6) or L0 fails to emulate (8). Usage errors give 64, an\n"
            "image that cannot be loaded 66.\n"
            "\n"
            "options (--opt=VALUE or --opt VALUE):\n"
            "  --mem=SIZE                 guest RAM at GPA 0: bytes, or with K, M, G;\n"
            "                             a multiple of 4 KiB, at least 2 MiB (default 64M)\n"
            "  --max-insns=N              end after N instructions (default 0: no limit)\n"
            "  --trace=FILE               write one JSON line per #VMEXIT that reaches L0\n"
            "  --explain                  print L0's decisions as text lines on stderr\n"
            "  --stats                    after the run, print instructions, time and MIPS\n"
            "  --deterministic            time sources follow the instruction count\n"
            "  --enable-vmware-backdoor   L0 lets the VMware backdoor through #GP\n"
            "  --no-gp-erratum-intercept  L0 does not intercept #GP for the RAX erratum\n"
            "  --cpu-erratum              the CPU has the RAX erratum (default)\n"
            "  --no-cpu-erratum           the CPU does not have it\n"
            "  --host-reserved=START-END  host-reserved memory, END inclusive\n"
            "                             (default 0x03000000-0x030fffff)\n"
            "  --svme-addr-chk            the CPU checks VMRUN/VMLOAD/VMSAVE's RAX itself\n"
            "  --no-nested                no nested SVM for L1\n"
            "  --vls                      offer virtual VMLOAD/VMSAVE to L1\n"
            "  --semantics=S              kvm-7.1 (default), kvm-7.0 or architectural\n"
            "  --maxphyaddr=N             CPUID 8000_0008 MAXPHYADDR, 32..52 (default 48)\n"
            "  --help                     this text\n");
}

/* ---- value parsers: each returns 0, or -1 after one line on stderr. */

/* An unsigned number, decimal or 0x-hex, no sign or spaces; *end is where
 * the digits stop. */
static bool parse_u64_prefix(const char *s, uint64_t *v, const char **end)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    uint64_t acc = 0;
    const char *p = s;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        if (acc > (UINT64_MAX - d) / base)
            return false;
        acc = acc * base + d;
    }
    if (p == s)
        return false;
    *v = acc;
    *end = p;
    return true;
}

static bool parse_u64(const char *s, uint64_t *v)
{
    const char *end;
    return parse_u64_prefix(s, v, &end) && *end == '\0';
}

static int opt_mem(struct run_args *a, const char *opt, const char *val)
{
    uint64_t n, unit = 1;
    const char *end;
    if (!parse_u64_prefix(val, &n, &end)) {
        cli_error("%s: '%s' is not a size", opt, val);
        return -1;
    }
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': unit = KIB; end++; break;
    case 'm': case 'M': unit = MIB; end++; break;
    case 'g': case 'G': unit = GIB; end++; break;
    default: break;
    }
    if (*end != '\0') {
        cli_error("%s: '%s' is not a size", opt, val);
        return -1;
    }
    if (n > UINT64_MAX / unit) {
        cli_error("%s: '%s' is too large", opt, val);
        return -1;
    }
    n *= unit;
    if (n % (4 * KIB) != 0) {
        cli_error("%s: '%s' is not a multiple of 4 KiB", opt, val);
        return -1;
    }
    if (n < RUN_MEM_MIN) {
        cli_error("%s: '%s' is less than 2 MiB", opt, val);
        return -1;
    }
    a->cfg.mem_size = n;
    return 0;
}

static int opt_max_insns(struct run_args *a, const char *opt, const char *val)
{
    if (!parse_u64(val, &a->cfg.max_insns)) {
        cli_error("%s: '%s' is not a non-negative integer", opt, val);
        return -1;
    }
    return 0;
}

static int opt_maxphyaddr(struct run_args *a, const char *opt, const char *val)
{
    uint64_t n;
    if (!parse_u64(val, &n)) {
        cli_error("%s: '%s' is not a number", opt, val);
        return -1;
    }
    if (n < RUN_MAXPHYADDR_MIN || n > RUN_MAXPHYADDR_MAX) {
        cli_error("%s: '%s' is not in %d..%d", opt, val, RUN_MAXPHYADDR_MIN, RUN_MAXPHYADDR_MAX);
        return -1;
    }
    a->cfg.maxphyaddr = (unsigned)n;
    return 0;
}

static int opt_host_reserved(struct run_args *a, const char *opt, const char *val)
{
    uint64_t start, last;
    const char *end;
    if (!parse_u64_prefix(val, &start, &end) || *end != '-' || !parse_u64(end + 1, &last)) {
        cli_error("%s: '%s' is not START-END", opt, val);
        return -1;
    }
    if (start > last) {
        cli_error("%s: '%s' starts after it ends", opt, val);
        return -1;
    }
    a->cfg.host_reserved_start = start;
    a->cfg.host_reserved_end = last;
    return 0;
}

static int opt_semantics(struct run_args *a, const char *opt, const char *val)
{
    static const struct {
        const char *name;
        enum svmsim_semantics sem;
    } table[] = {
        { "kvm-7.1", SVMSIM_SEMANTICS_KVM_7_1 },
        { "kvm-7.0", SVMSIM_SEMANTICS_KVM_7_0 },
        { "architectural", SVMSIM_SEMANTICS_ARCHITECTURAL },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(val, table[i].name) == 0) {
            a->cfg.semantics = table[i].sem;
            return 0;
        }
    }
    cli_error("%s: '%s' is not one of kvm-7.1, kvm-7.0, architectural", opt, val);
    return -1;
}

static int opt_trace(struct run_args *a, const char *opt, const char *val)
{
    if (val[0] == '\0') {
        cli_error("%s: empty file name", opt);
        return -1;
    }
    a->trace_path = val;
    return 0;
}

/* Flags: the option's name says what to set. */
static int opt_flag(struct run_args *a, const char *opt, const char *val)
{
    struct svmsim_config *c = &a->cfg;

    if (strcmp(opt, "--explain") == 0)                       a->explain = true;
    else if (strcmp(opt, "--stats") == 0)                    a->stats = true;
    else if (strcmp(opt, "--deterministic") == 0)            c->deterministic = true;
    else if (strcmp(opt, "--enable-vmware-backdoor") == 0)   c->enable_vmware_backdoor = true;
    else if (strcmp(opt, "--no-gp-erratum-intercept") == 0)  c->gp_erratum_intercept = false;
    else if (strcmp(opt, "--cpu-erratum") == 0)              c->cpu_erratum = true;
    else if (strcmp(opt, "--no-cpu-erratum") == 0)           c->cpu_erratum = false;
    else if (strcmp(opt, "--svme-addr-chk") == 0)            c->svme_addr_chk = true;
    else if (strcmp(opt, "--no-nested") == 0)                c->nested = false;
    else if (strcmp(opt, "--vls") == 0)                      c->vls = true;
    else if (strcmp(opt, "--help") == 0)                     a->help = true;
    return 0;
}

struct run_option {
    const char *name;
    bool takes_value;
    int (*apply)(struct run_args *a, const char *opt, const char *val);
};

static const struct run_option run_options[] = {
    { "--mem", true, opt_mem },
    { "--max-insns", true, opt_max_insns },
    { "--trace", true, opt_trace },
    { "--host-reserved", true, opt_host_reserved },
    { "--semantics", true, opt_semantics },
    { "--maxphyaddr", true, opt_maxphyaddr },
    { "--explain", false, opt_flag },
    { "--stats", false, opt_flag },
    { "--deterministic", false, opt_flag },
    { "--enable-vmware-backdoor", false, opt_flag },
    { "--no-gp-erratum-intercept", false, opt_flag },
    { "--cpu-erratum", false, opt_flag },
    { "--no-cpu-erratum", false, opt_flag },
    { "--svme-addr-chk", false, opt_flag },
    { "--no-nested", false, opt_flag },
    { "--vls", false, opt_flag },
    { "--help", false, opt_flag },
};

static const struct run_option *find_option(const char *arg, size_t namelen)
{
    for (size_t i = 0; i < sizeof run_options / sizeof run_options[0]; i++)
        if (strlen(run_options[i].name) == namelen &&
            strncmp(arg, run_options[i].name, namelen) == 0)
            return &run_options[i];
    return NULL;
}

/* Parses argv[1..argc) into *a. Returns 0, or -1 after one line on stderr. */
static int run_parse(struct run_args *a, int argc, char **argv)
{
    bool options_done = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (a->image) {
                cli_error("run: unexpected argument '%s' (one IMAGE only)", arg);
                return -1;
            }
            a->image = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct run_option *o = arg[1] == '-' ? find_option(arg, namelen) : NULL;
        if (!o) {
            cli_error("run: unknown option '%.*s' (try 'svmsim run --help')", (int)namelen, arg);
            return -1;
        }
        const char *val = NULL;
        if (o->takes_value) {
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                cli_error("%s: missing value", o->name);
                return -1;
            }
        } else if (eq) {
            cli_error("%s does not take a value", o->name);
            return -1;
        }
        if (o->apply(a, o->name, val) != 0)
            return -1;
        if (a->help)
            return 0;
    }
    if (!a->image) {
        cli_error("run: missing IMAGE (try 'svmsim run --help')");
        return -1;
    }
    /* RAM must be addressable; the library may check more. */
    if (a->cfg.maxphyaddr < 64 && a->cfg.mem_size > (1ull << a->cfg.maxphyaddr)) {
        cli_error("--mem: 0x%llx bytes is more than MAXPHYADDR %u can address",
                  (unsigned long long)a->cfg.mem_size, a->cfg.maxphyaddr);
        return -1;
    }
    return 0;
}

static void run_trace_record(void *opaque, const struct svmsim_trace_record *rec)
{
    struct run_trace *t = opaque;
    char line[RUN_TRACE_LINE];

    if (t->file && svmsim_trace_format_json(rec, line, sizeof line) >= 0) {
        errno = 0;
        if (fprintf(t->file, "%s\n", line) < 0 && t->write_errno == 0)
            t->write_errno = errno ? errno : EIO;
    }
    if (t->explain && svmsim_trace_format_text(rec, line, sizeof line) >= 0) {
        fflush(stdout); /* keep console output and decisions in order on a terminal */
        fprintf(stderr, "%s\n", line);
    }
}

int cmd_run(int argc, char **argv)
{
    struct run_args a = { .image = NULL };
    struct run_trace t = { .file = NULL };
    char err[512];

    svmsim_config_default(&a.cfg);
    if (run_parse(&a, argc, argv) != 0)
        return SVMSIM_STATUS_USAGE;
    if (a.help) {
        cmd_run_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (a.trace_path) {
        t.file = fopen(a.trace_path, "w");
        if (!t.file) {
            cli_error("--trace: cannot open '%s': %s", a.trace_path, strerror(errno));
            return SVMSIM_STATUS_USAGE;
        }
    }
    t.explain = a.explain;
    if (t.file || t.explain) {
        a.cfg.trace = run_trace_record;
        a.cfg.trace_opaque = &t;
    }

    err[0] = '\0';
    struct svmsim_vm *vm = svmsim_create(&a.cfg, err, sizeof err);
    if (!vm) {
        /* Every option was checked above, so what is left is a configuration
         * the library refuses (or RAM it cannot get). */
        cli_error("%s", err[0] ? err : "cannot create the machine");
        if (t.file)
            fclose(t.file);
        return SVMSIM_STATUS_USAGE;
    }
    err[0] = '\0';
    if (svmsim_load_elf(vm, a.image, err, sizeof err) != 0) {
        cli_error("%s", err[0] ? err : "cannot load the image");
        svmsim_destroy(vm);
        if (t.file)
            fclose(t.file);
        return SVMSIM_STATUS_BAD_IMAGE;
    }

    struct svmsim_end end;
    memset(&end, 0, sizeof end);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    svmsim_run(vm, &end);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    svmsim_destroy(vm);

    int status = end.status;
    if (t.file) {
        if (fclose(t.file) != 0 && t.write_errno == 0)
            t.write_errno = errno ? errno : EIO;
        if (t.write_errno) {
            /* A short trace must not pass for a whole one. */
            cli_error("--trace: error writing '%s': %s", a.trace_path, strerror(t.write_errno));
            status = SVMSIM_STATUS_INTERNAL;
        }
    }
    end.message[sizeof end.message - 1] = '\0';
    cli_error("%s", end.message[0] ? end.message : "run ended");
    if (a.stats) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        cli_error("stats: %llu instructions in %.3f s (%.1f MIPS)", (unsigned long long)end.insns,
                  secs, secs > 0 ? (double)end.insns / secs / 1e6 : 0.0);
    }
    return status;
}
