/* main.c — the svmsim executable: global options and subcommand dispatch.
 *
 * Owns: `svmsim --help`, `svmsim --version` and finding the subcommand.
 * Must not: parse a subcommand's options (each cmd_*.c does) or include
 * src/ internals: the CLI uses include/svmsim/svmsim.h only.
 *
 * Usage errors are one line on stderr and status 64 (DESIGN.md).
 */
#include "cli/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef SVMSIM_VERSION
#define SVMSIM_VERSION "unknown"
#endif

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *f);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    { "run", cmd_run, cmd_run_usage, "run a guest image until it ends" },
    { "compare", cmd_compare, cmd_compare_usage,
      "run a guest under two configurations and show where they differ" },
};

void cli_error(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    fflush(stdout); /* the console's last bytes come before the verdict */
    fprintf(stderr, "svmsim: %s\n", line);
}

static const struct subcommand *find_subcommand(const char *name)
{
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(name, subcommands[i].name) == 0)
            return &subcommands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: svmsim [--help | --version] COMMAND [ARGS...]\n\n"
               "A simulated AMD-V host: runs 64-bit ELF guests under an L0 hypervisor\n"
               "modelled on KVM.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n'svmsim COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    /* A closed pipe on stdout is an output error the run reports (status
     * 74), not a death that loses the end line. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        cli_error("missing command (try 'svmsim --help')");
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("svmsim %s\n", SVMSIM_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) { /* svmsim help [COMMAND] */
        if (argc < 3) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const struct subcommand *sc = find_subcommand(argv[2]);
        if (!sc || argc > 3) {
            cli_error("help: %s '%s' (try 'svmsim --help')",
                      sc ? "unexpected argument" : "unknown command", argv[sc ? 3 : 2]);
            return CLI_EXIT_USAGE;
        }
        sc->usage(stdout);
        return CLI_EXIT_OK;
    }
    const struct subcommand *sc = find_subcommand(cmd);
    if (sc)
        return sc->run(argc - 1, argv + 1);
    cli_error("unknown %s '%s' (try 'svmsim --help')", cmd[0] == '-' ? "option" : "command", cmd);
    return CLI_EXIT_USAGE;
}
