/* cmd_run.c — `svmsim run [OPTIONS] IMAGE`.
 *
 * Owns: the --trace/--explain sinks, and turning how the run ended into the
 * process exit status.
 * Must not: include src/ internals (only include/svmsim/svmsim.h), parse
 * options itself (run_options.c does, for every subcommand that runs a
 * guest), or second-guess the library's verdicts: the status is end.status.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <svmsim/svmsim.h>

#include "cli/run_options.h"

/* One JSON line: the record's strings may each grow 6x when escaped. */
#define RUN_TRACE_LINE 16384 /* a record with a VMCB dump runs to ~8 KiB */

/* Where trace records go during the run. */
struct run_trace {
    int fd;                             /* --trace, or -1 */
    const char *path;
    off_t good;                         /* the file holds whole records up to here */
    bool explain;                       /* --explain: text on stderr */
    bool explain_svm;                   /* --explain-svm: only the SVM records */
    bool failed;                        /* a write failed: the run is stopping */
    struct svmsim_vm *vm;
};

/* Writes one whole JSON line. On a failure the file is cut back to the last
 * whole record (still valid JSON Lines) and the run ends with status 74. */
static void trace_write(struct run_trace *t, const char *line, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(t->fd, line + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            if (ftruncate(t->fd, t->good) != 0) {
                /* nothing more to do: the message says the trace failed */
            }
            char msg[400];
            snprintf(msg, sizeof msg, "--trace: error writing '%s': %s", t->path, strerror(e));
            t->failed = true;
            svmsim_stop_output(t->vm, msg);
            return;
        }
        done += (size_t)n;
    }
    t->good += (off_t)len;
}

void cmd_run_usage(FILE *f)
{
    fprintf(f,
            "usage: svmsim run [OPTIONS] IMAGE\n"
            "\n"
            "Runs IMAGE as the L1 guest until it writes the exit port (status\n"
            "(v << 1) | 1), halts (2), shuts down (4), reaches --max-insns (6) or L0\n"
            "fails to emulate (8). IMAGE is an ELF64 x86-64 executable, entered in\n"
            "64-bit mode, or a multiboot v1 image (an ELF32 with a multiboot header,\n"
            "as QEMU's -kernel boots), entered in 32-bit protected mode with the\n"
            "multiboot information. Usage errors give 64, an image (or --initrd file)\n"
            "that cannot be loaded 66.\n"
            "\n"
            "options (--opt=VALUE or --opt VALUE):\n"
            "  --mem=SIZE                 guest RAM at GPA 0: bytes, or with K, M, G;\n"
            "                             a multiple of 4 KiB, at least 2 MiB (default 64M)\n"
            "  --max-insns=N              end after N instructions (default 0: no limit)\n"
            "  --trace=FILE               write one JSON line per #VMEXIT that reaches L0\n"
            "  --explain                  print L0's decisions as text lines on stderr\n"
            "  --explain-svm              the same for SVM only: the #GP path, nested VMRUN,\n"
            "                             #VMEXITs to L1 and SVM instructions\n"
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
            "  --testdev                  QEMU's pc-testdev: port 0xe0, I/O memory at 0xff000000\n"
            "  --force-emulation-prefix   ud2; \"kvm\" before an instruction asks L0 to emulate it\n"
            "  --no-rdtscp                a CPU without RDTSCP (QEMU's -cpu max,-rdtscp)\n"
            "  --no-jit                   no host code: every block runs through the\n"
            "                             interpreter's handlers (the same guest behaviour)\n"
            "  --smp=N                    vCPUs, 1-64 (default 1): vCPU 0 boots, the\n"
            "                             others wait for INIT and SIPI\n"
            "  --semantics=S              kvm-7.1 (default), kvm-7.0 or architectural\n"
            "  --maxphyaddr=N             CPUID 8000_0008 MAXPHYADDR, 32..52 (default 48)\n"
            "  --vmware-version=N         VMware backdoor GETVERSION's EAX (default 6)\n"
            "  --vmware-type=N            GETVERSION's ECX, the product type (default 2, ESX)\n"
            "  --uuid=UUID                GETUUID's 16 bytes in the order written,\n"
            "                             XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX (default zero)\n"
            "  --guestinfo=KEY=VALUE      preset guestinfo.KEY for GuestRPC info-get\n"
            "                             (repeatable, up to 64)\n"
            "  --append=ARGS              multiboot images only: the command line after\n"
            "                             the image's name (QEMU's -append)\n"
            "  --initrd=FILE              multiboot images only: FILE as the one module,\n"
            "                             below 1 MiB (QEMU's -initrd)\n"
            "  --help                     this text\n");
}

/* The records --explain-svm shows. */
static bool svm_record(const struct svmsim_trace_record *rec)
{
    return rec->gp_step[0] || rec->decision == SVMSIM_DECISION_REFLECTED ||
           rec->decision == SVMSIM_DECISION_NESTED_VMRUN ||
           rec->decision == SVMSIM_DECISION_VMRUN_FAILED ||
           (rec->exit_code >= 0x80 && rec->exit_code <= 0x87) || rec->exit_code == 0x400;
}

static void run_trace_record(void *opaque, const struct svmsim_trace_record *rec)
{
    struct run_trace *t = opaque;
    char line[RUN_TRACE_LINE];

    int n;
    if (t->fd >= 0 && !t->failed &&
        (n = svmsim_trace_format_json(rec, line, sizeof line - 1)) >= 0) {
        line[n] = '\n';
        trace_write(t, line, (size_t)n + 1);
    }
    if ((t->explain || (t->explain_svm && svm_record(rec))) &&
        svmsim_trace_format_text(rec, line, sizeof line) >= 0) {
        fflush(stdout); /* keep console output and decisions in order on a terminal */
        fprintf(stderr, "%s\n", line);
    }
}

/* s with control characters as '?', so that one value stays one line. */
static void print_line_safe(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* What the guest left with the VMware backdoor: the guestinfo keys it set
 * and its log lines, one per line on stderr after the run. */
static void print_guest_notes(const struct svmsim_vm *vm)
{
    const char *key, *value;
    bool by_guest;
    for (size_t i = 0; svmsim_guestinfo_get(vm, i, &key, &value, &by_guest); i++) {
        if (!by_guest)
            continue;
        fputs("svmsim: guest set guestinfo.", stderr);
        print_line_safe(stderr, key);
        fputc('=', stderr);
        print_line_safe(stderr, value);
        fputc('\n', stderr);
    }
    const char *line;
    for (size_t i = 0; (line = svmsim_guest_log_get(vm, i)) != NULL; i++) {
        fputs("svmsim: guest log: ", stderr);
        print_line_safe(stderr, line);
        fputc('\n', stderr);
    }
    uint64_t dropped = svmsim_guest_log_dropped(vm);
    if (dropped)
        cli_error("guest log: %llu more lines not kept", (unsigned long long)dropped);
}

int cmd_run(int argc, char **argv)
{
    static const struct run_parse parse = { .who = "run", .help_command = "run", .image = true };
    struct run_args a;
    struct run_trace t = { .fd = -1 };
    char err[512];

    run_args_init(&a);
    if (run_options_parse(&a, &parse, argc - 1, argv + 1) != 0)
        return SVMSIM_STATUS_USAGE;
    if (a.help) {
        cmd_run_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (run_args_check(&a) != 0)
        return SVMSIM_STATUS_USAGE;
    if (a.trace_path) {
        t.path = a.trace_path;
        t.fd = open(a.trace_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (t.fd < 0) {
            cli_error("--trace: cannot open '%s': %s", a.trace_path, strerror(errno));
            return SVMSIM_STATUS_OUTPUT;
        }
    }
    t.explain = a.explain;
    t.explain_svm = a.explain_svm;
    if (t.fd >= 0 || t.explain || t.explain_svm) {
        a.cfg.trace = run_trace_record;
        a.cfg.trace_opaque = &t;
    }

    err[0] = '\0';
    struct svmsim_vm *vm = svmsim_create(&a.cfg, err, sizeof err);
    if (!vm) {
        /* Every option was checked above, so what is left is a configuration
         * the library refuses (or RAM it cannot get). */
        cli_error("%s", err[0] ? err : "cannot create the machine");
        if (t.fd >= 0)
            close(t.fd);
        return SVMSIM_STATUS_USAGE;
    }
    t.vm = vm;
    err[0] = '\0';
    int loaded = svmsim_load_elf(vm, a.image, err, sizeof err);
    if (loaded != 0) {
        /* 66, or 64 for --append/--initrd with an ELF64 image */
        cli_error("%s", err[0] ? err : "cannot load the image");
        svmsim_destroy(vm);
        if (t.fd >= 0)
            close(t.fd);
        return loaded;
    }

    struct svmsim_end end;
    memset(&end, 0, sizeof end);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    svmsim_run(vm, &end);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);
    print_guest_notes(vm);
    svmsim_destroy(vm);

    int status = end.status;
    if (t.fd >= 0 && close(t.fd) != 0 && !t.failed) {
        /* A short trace must not pass for a whole one: this is the end. */
        snprintf(end.message, sizeof end.message, "--trace: error writing '%s': %s",
                 a.trace_path, strerror(errno));
        status = SVMSIM_STATUS_OUTPUT;
    }
    end.message[sizeof end.message - 1] = '\0';
    cli_error("%s", end.message[0] ? end.message : "run ended");
    if (a.stats) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        cli_error("stats: %llu instructions in %.3f s (%.1f MIPS), %llu REP elements, %llu events",
                  (unsigned long long)end.insns, secs,
                  secs > 0 ? (double)end.insns / secs / 1e6 : 0.0,
                  (unsigned long long)end.rep_elements, (unsigned long long)end.events);
    }
    return status;
}
