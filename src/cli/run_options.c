/* run_options.c — parsing `svmsim run`'s options (run_options.h).
 *
 * Owns: the value parsers, run's option table and the argument loop that
 * `svmsim run` and `svmsim compare` share, with run's messages.
 * Must not: include src/ internals (only include/svmsim/svmsim.h), or open,
 * create or run anything.
 */
#include "cli/run_options.h"

#include <stdint.h>
#include <string.h>

#include "cli/cli.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define RUN_MEM_MIN (2 * MIB)
#define RUN_MAXPHYADDR_MIN 32
#define RUN_MAXPHYADDR_MAX 52

void run_args_init(struct run_args *a)
{
    memset(a, 0, sizeof *a);
    svmsim_config_default(&a->cfg);
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

/* DESIGN.md's --smp=N: N vCPUs, 1..SVMSIM_MAX_VCPUS. */
static int opt_smp(struct run_args *a, const char *opt, const char *val)
{
    uint64_t n;
    if (!parse_u64(val, &n) || n == 0) {
        cli_error("%s: '%s' is not a vCPU count", opt, val);
        return -1;
    }
    if (n > SVMSIM_MAX_VCPUS) {
        cli_error("%s: %s vCPUs: at most %d", opt, val, SVMSIM_MAX_VCPUS);
        return -1;
    }
    a->cfg.vcpus = (unsigned)n;
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

static const struct {
    const char *name;
    enum svmsim_semantics sem;
} semantics_names[] = {
    { "kvm-7.1", SVMSIM_SEMANTICS_KVM_7_1 },
    { "kvm-7.0", SVMSIM_SEMANTICS_KVM_7_0 },
    { "architectural", SVMSIM_SEMANTICS_ARCHITECTURAL },
};

int run_semantics_parse(const char *opt, const char *val, enum svmsim_semantics *sem)
{
    for (size_t i = 0; i < sizeof semantics_names / sizeof semantics_names[0]; i++) {
        if (strcmp(val, semantics_names[i].name) == 0) {
            *sem = semantics_names[i].sem;
            return 0;
        }
    }
    cli_error("%s: '%s' is not one of kvm-7.1, kvm-7.0, architectural", opt, val);
    return -1;
}

const char *run_semantics_name(enum svmsim_semantics sem)
{
    for (size_t i = 0; i < sizeof semantics_names / sizeof semantics_names[0]; i++)
        if (semantics_names[i].sem == sem)
            return semantics_names[i].name;
    return "?";
}

static int opt_semantics(struct run_args *a, const char *opt, const char *val)
{
    return run_semantics_parse(opt, val, &a->cfg.semantics);
}

static int opt_u32(const char *opt, const char *val, uint32_t *out)
{
    uint64_t n;
    if (!parse_u64(val, &n) || n > UINT32_MAX) {
        cli_error("%s: '%s' is not a 32-bit number", opt, val);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

static int opt_vmware_version(struct run_args *a, const char *opt, const char *val)
{
    return opt_u32(opt, val, &a->cfg.vmware_version);
}

static int opt_vmware_type(struct run_args *a, const char *opt, const char *val)
{
    return opt_u32(opt, val, &a->cfg.vmware_product_type);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX, the bytes in the order written (no
 * RFC 4122 byte swapping): GETUUID hands them to the guest as they are. */
static int opt_uuid(struct run_args *a, const char *opt, const char *val)
{
    static const char form[] = "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX";
    uint8_t uuid[16];
    unsigned n = 0;
    bool ok = strlen(val) == sizeof form - 1;
    for (size_t i = 0; ok && form[i]; i++) {
        if (form[i] == '-') {
            ok = val[i] == '-';
            continue;
        }
        int hi = hex_digit(val[i]), lo = hex_digit(val[i + 1]);
        ok = hi >= 0 && lo >= 0;
        uuid[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    if (!ok) {
        cli_error("%s: '%s' is not %s", opt, val, form);
        return -1;
    }
    memcpy(a->cfg.vmware_uuid, uuid, sizeof uuid);
    return 0;
}

/* KEY=VALUE, KEY as the guest names it after "guestinfo." (info-get
 * guestinfo.KEY), so without that prefix and without spaces; the library
 * checks the same again. The last value given for a KEY wins. */
static int opt_guestinfo(struct run_args *a, const char *opt, const char *val)
{
    const char *eq = strchr(val, '=');
    if (!eq || eq == val) {
        cli_error("%s: '%s' is not KEY=VALUE", opt, val);
        return -1;
    }
    if (memchr(val, ' ', (size_t)(eq - val))) {
        cli_error("%s: '%s': KEY cannot contain a space", opt, val);
        return -1;
    }
    if (strncmp(val, "guestinfo.", 10) == 0) {
        cli_error("%s: '%s': give KEY without the 'guestinfo.' prefix", opt, val);
        return -1;
    }
    if (a->n_guestinfo >= RUN_GUESTINFO_MAX) {
        cli_error("%s: more than %d given", opt, RUN_GUESTINFO_MAX);
        return -1;
    }
    a->guestinfo[a->n_guestinfo++] = val;
    a->guestinfo[a->n_guestinfo] = NULL;
    a->cfg.guestinfo = a->guestinfo;
    return 0;
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

/* Multiboot images only: the library refuses either with an ELF64 image. */
static int opt_append(struct run_args *a, const char *opt, const char *val)
{
    a->cfg.cmdline = val;
    return 0;
}

static int opt_initrd(struct run_args *a, const char *opt, const char *val)
{
    if (val[0] == '\0') {
        cli_error("%s: empty file name", opt);
        return -1;
    }
    a->cfg.initrd = val;
    return 0;
}

/* Flags: the option's name says what to set. */
static int opt_flag(struct run_args *a, const char *opt, const char *val)
{
    struct svmsim_config *c = &a->cfg;

    if (strcmp(opt, "--explain") == 0)                       a->explain = true;
    else if (strcmp(opt, "--explain-svm") == 0)              a->explain_svm = true;
    else if (strcmp(opt, "--stats") == 0)                    a->stats = true;
    else if (strcmp(opt, "--deterministic") == 0)            c->deterministic = true;
    else if (strcmp(opt, "--enable-vmware-backdoor") == 0)   c->enable_vmware_backdoor = true;
    else if (strcmp(opt, "--no-gp-erratum-intercept") == 0)  c->gp_erratum_intercept = false;
    else if (strcmp(opt, "--cpu-erratum") == 0)              c->cpu_erratum = true;
    else if (strcmp(opt, "--no-cpu-erratum") == 0)           c->cpu_erratum = false;
    else if (strcmp(opt, "--svme-addr-chk") == 0)            c->svme_addr_chk = true;
    else if (strcmp(opt, "--no-nested") == 0)                c->nested = false;
    else if (strcmp(opt, "--vls") == 0)                      c->vls = true;
    else if (strcmp(opt, "--testdev") == 0)                  c->testdev = true;
    else if (strcmp(opt, "--force-emulation-prefix") == 0)   c->force_emulation_prefix = true;
    else if (strcmp(opt, "--no-rdtscp") == 0)                c->rdtscp = false;
    else if (strcmp(opt, "--no-jit") == 0)                   c->jit = false;
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
    { "--smp", true, opt_smp },
    { "--vmware-version", true, opt_vmware_version },
    { "--vmware-type", true, opt_vmware_type },
    { "--uuid", true, opt_uuid },
    { "--guestinfo", true, opt_guestinfo },
    { "--append", true, opt_append },
    { "--initrd", true, opt_initrd },
    { "--explain", false, opt_flag },
    { "--explain-svm", false, opt_flag },
    { "--stats", false, opt_flag },
    { "--deterministic", false, opt_flag },
    { "--enable-vmware-backdoor", false, opt_flag },
    { "--force-emulation-prefix", false, opt_flag },
    { "--no-rdtscp", false, opt_flag },
    { "--no-jit", false, opt_flag },
    { "--no-gp-erratum-intercept", false, opt_flag },
    { "--cpu-erratum", false, opt_flag },
    { "--no-cpu-erratum", false, opt_flag },
    { "--svme-addr-chk", false, opt_flag },
    { "--no-nested", false, opt_flag },
    { "--vls", false, opt_flag },
    { "--testdev", false, opt_flag },
    { "--help", false, opt_flag },
};

static bool name_is(const char *name, const char *arg, size_t namelen)
{
    return strlen(name) == namelen && strncmp(arg, name, namelen) == 0;
}

static const struct run_option *find_run_option(const char *arg, size_t namelen)
{
    for (size_t i = 0; i < sizeof run_options / sizeof run_options[0]; i++)
        if (name_is(run_options[i].name, arg, namelen))
            return &run_options[i];
    return NULL;
}

static const struct cli_option *find_own_option(const struct run_parse *p, const char *arg,
                                                size_t namelen)
{
    for (size_t i = 0; i < p->n_own; i++)
        if (name_is(p->own[i].name, arg, namelen))
            return &p->own[i];
    return NULL;
}

int run_options_parse(struct run_args *a, const struct run_parse *p, int argc, char *const *argv)
{
    bool options_done = false;

    /* *a may be a copy (compare copies the common options into each side):
     * its configuration must name its own --guestinfo list. */
    a->cfg.guestinfo = a->n_guestinfo ? a->guestinfo : NULL;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (!p->image) {
                cli_error("%s: unexpected argument '%s' (options only)", p->who, arg);
                return -1;
            }
            if (a->image) {
                cli_error("%s: unexpected argument '%s' (one IMAGE only)", p->who, arg);
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
        const struct cli_option *own = arg[1] == '-' ? find_own_option(p, arg, namelen) : NULL;
        const struct run_option *o = arg[1] == '-' && !own ? find_run_option(arg, namelen) : NULL;
        if (!own && !o) {
            cli_error("%s: unknown option '%.*s' (try 'svmsim %s --help')", p->who, (int)namelen,
                      arg, p->help_command);
            return -1;
        }
        const char *name = own ? own->name : o->name;
        const char *val = NULL;
        if (own ? own->takes_value : o->takes_value) {
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                cli_error("%s: missing value", name);
                return -1;
            }
        } else if (eq) {
            cli_error("%s does not take a value", name);
            return -1;
        }
        if ((own ? own->apply(p->own_ctx, name, val) : o->apply(a, name, val)) != 0)
            return -1;
        if (a->help)
            return 0;
    }
    if (p->image && !a->image) {
        cli_error("%s: missing IMAGE (try 'svmsim %s --help')", p->who, p->help_command);
        return -1;
    }
    return 0;
}

int run_args_check(const struct run_args *a)
{
    /* RAM must be addressable; the library may check more. */
    if (a->cfg.maxphyaddr < 64 && a->cfg.mem_size > (1ull << a->cfg.maxphyaddr)) {
        cli_error("--mem: 0x%llx bytes is more than MAXPHYADDR %u can address",
                  (unsigned long long)a->cfg.mem_size, a->cfg.maxphyaddr);
        return -1;
    }
    return 0;
}
