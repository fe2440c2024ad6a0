/* diff_sim_absent.c — owned by tests/diff: stands in for diff_sim.c in the
 * native self-test binary, which checks the oracle alone and does not link
 * libsvmsim. */
#include "diff_sim.h"

#include <stdio.h>

struct diff_sim *diff_sim_create(char *err, size_t errlen)
{
    snprintf(err, errlen, "this binary is built without the simulator (native self-test only)");
    return NULL;
}

void diff_sim_destroy(struct diff_sim *sim)
{
    (void)sim;
}

int diff_sim_run(struct diff_sim *sim, uint64_t code_addr, const uint8_t *code, size_t len,
                 const struct diff_cpu *in,
                 const uint8_t *mem, struct diff_cpu *out, uint8_t *mem_out,
                 struct svmsim_end *end)
{
    (void)sim;
    (void)code_addr;
    (void)code;
    (void)len;
    (void)in;
    (void)mem;
    (void)out;
    (void)mem_out;
    snprintf(end->message, sizeof end->message, "no simulator in this binary");
    return -1;
}

bool diff_sim_cpuid(struct diff_sim *sim, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    (void)sim; (void)leaf; (void)subleaf; (void)out;
    return false;
}
