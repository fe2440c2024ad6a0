/* diff_native.h — owned by tests/diff: the oracle side of the differential
 * CPU test, which runs a sequence on the host CPU at the layout of
 * diff_case.h and reports the state it ends in, or the fault it raised. */
#ifndef SVMSIM_TESTS_DIFF_NATIVE_H
#define SVMSIM_TESTS_DIFF_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "diff_case.h"

struct diff_native;

struct diff_native_fault {
    int signo; /* SIGFPE for #DE, SIGSEGV/SIGBUS for #GP/#PF/#SS, SIGILL for #UD */
    uint64_t rip;                     /* where the host CPU faulted */
    uint64_t addr;                    /* si_addr */
};

/* Maps the code area at DIFF_CODE_ADDR and the scratch area at
 * DIFF_SCRATCH_ADDR (both must be free in this process) and installs the
 * fault handlers on an alternate signal stack. At most one at a time.
 * NULL and a message in err on failure. */
struct diff_native *diff_native_create(char *err, size_t errlen);
void diff_native_destroy(struct diff_native *nat);

/* Runs code[0, len), placed at code_addr inside the code area, with the registers and flags of *in
 * (IF/TF/AC stay the host's) on a copy of mem (DIFF_SCRATCH_SIZE bytes). Returns 0 with the final
 * state in *out and the final scratch contents in diff_native_scratch(), or the number of the
 * signal the sequence raised with details in *fault. */
int diff_native_run(struct diff_native *nat, uint64_t code_addr, const uint8_t *code, size_t len,
                    const struct diff_cpu *in, const uint8_t *mem, struct diff_cpu *out,
                    struct diff_native_fault *fault);
const uint8_t *diff_native_scratch(const struct diff_native *nat);

#endif
