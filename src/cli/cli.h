/* cli.h — what the svmsim executable's files share.
 *
 * Owns: the subcommand entry points main.c dispatches to.
 * Must not: include anything from src/ outside src/cli/: the CLI is a client
 * of include/svmsim/svmsim.h only.
 */
#ifndef SVMSIM_CLI_CLI_H
#define SVMSIM_CLI_CLI_H

#include <stdio.h>

/* Process exit statuses of the CLI itself (DESIGN.md); the run's own come
 * from struct svmsim_end. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_USAGE 64
#define CLI_EXIT_OUTPUT 74 /* an output (stdout, a trace) cannot be written */

/* Prints "svmsim: <message>" and a newline on stderr as one line (control
 * characters from user input become '?'). */
__attribute__((format(printf, 1, 2)))
void cli_error(const char *fmt, ...);

/* A subcommand: argv[0] is its name; returns the process exit status. */
int cmd_run(int argc, char **argv);
void cmd_run_usage(FILE *f);
int cmd_compare(int argc, char **argv);
void cmd_compare_usage(FILE *f);

#endif
