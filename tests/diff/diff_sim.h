/* diff_sim.h — owned by tests/diff: the simulator side of the differential
 * CPU test, which runs a sequence in libsvmsim at the layout of diff_case.h
 * (code + HLT in the code area, scratch at DIFF_SCRATCH_ADDR). */
#ifndef SVMSIM_TESTS_DIFF_SIM_H
#define SVMSIM_TESTS_DIFF_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <svmsim/svmsim.h>

#include "diff_case.h"

struct diff_sim;

/* One machine, reused for every case. NULL and a message on failure. */
struct diff_sim *diff_sim_create(char *err, size_t errlen);
void diff_sim_destroy(struct diff_sim *sim);

/* Runs code[0, len), placed at code_addr and followed by HLT, with the registers and flags of *in
 * (IF clear) on a copy of mem. Fills *out, mem_out (DIFF_SCRATCH_SIZE bytes)
 * and *end. Returns 0, or -1 when the machine could not be set up (message
 * in end->message). */
int diff_sim_run(struct diff_sim *sim, uint64_t code_addr, const uint8_t *code, size_t len,
                 const struct diff_cpu *in,
                 const uint8_t *mem, struct diff_cpu *out, uint8_t *mem_out,
                 struct svmsim_end *end);

/* Runs CPUID with EAX = leaf, ECX = subleaf in the simulator and stores
 * EAX EBX ECX EDX in out. False when the run does not end at the HLT after
 * it. */
bool diff_sim_cpuid(struct diff_sim *sim, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
