/* diff_sim.c — owned by tests/diff: runs generated sequences in libsvmsim.
 * One machine serves every case: its registers, code and scratch are
 * rewritten before each run. After an end other than HLT (a triple fault,
 * say) the machine is replaced, so no state of a failed case leaks into the
 * next one. */
#include "diff_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>

#define SIM_MAX_INSNS 100000u /* a case retires well under 1000; the rest is a runaway */

struct diff_sim {
    struct svmsim_vm *vm;
    bool needs_fresh_machine;
};

static void sim_console_discard(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

static struct svmsim_vm *sim_new_machine(char *err, size_t errlen)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.max_insns = SIM_MAX_INSNS;
    cfg.deterministic = true;
    cfg.jit_min = 1; /* host code for every sequence with a covered instruction, whatever the default */
    cfg.console_write = sim_console_discard;
    return svmsim_create(&cfg, err, errlen);
}

struct diff_sim *diff_sim_create(char *err, size_t errlen)
{
    struct diff_sim *sim = calloc(1, sizeof *sim);
    if (!sim) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sim->vm = sim_new_machine(err, errlen);
    if (!sim->vm) {
        free(sim);
        return NULL;
    }
    return sim;
}

void diff_sim_destroy(struct diff_sim *sim)
{
    if (!sim)
        return;
    svmsim_destroy(sim->vm);
    free(sim);
}

int diff_sim_run(struct diff_sim *sim, uint64_t code_addr, const uint8_t *code, size_t len,
                 const struct diff_cpu *in,
                 const uint8_t *mem, struct diff_cpu *out, uint8_t *mem_out,
                 struct svmsim_end *end)
{
    memset(end, 0, sizeof *end);
    if (sim->needs_fresh_machine) {
        svmsim_destroy(sim->vm);
        sim->vm = sim_new_machine(end->message, sizeof end->message);
        sim->needs_fresh_machine = false;
        if (!sim->vm)
            return -1;
    }
    static const uint8_t hlt = 0xf4;
    if (svmsim_write_phys(sim->vm, code_addr, code, len) != 0 ||
        svmsim_write_phys(sim->vm, code_addr + len, &hlt, 1) != 0 ||
        svmsim_write_phys(sim->vm, DIFF_SCRATCH_ADDR, mem, DIFF_SCRATCH_SIZE) != 0) {
        snprintf(end->message, sizeof end->message, "cannot write the case into guest RAM");
        return -1;
    }
    struct svmsim_regs regs;
    svmsim_get_regs(sim->vm, &regs);
    memcpy(regs.gpr, in->gpr, sizeof regs.gpr);
    regs.rip = code_addr;
    regs.rflags = 0x2 | (in->rflags & DIFF_CONTROLLED); /* IF = 0: HLT ends the run */
    svmsim_set_regs(sim->vm, &regs);
    svmsim_set_max_insns(sim->vm, SIM_MAX_INSNS);

    svmsim_run(sim->vm, end);

    svmsim_get_regs(sim->vm, &regs);
    memcpy(out->gpr, regs.gpr, sizeof out->gpr);
    out->rflags = regs.rflags;
    if (svmsim_read_phys(sim->vm, DIFF_SCRATCH_ADDR, mem_out, DIFF_SCRATCH_SIZE) != 0)
        memset(mem_out, 0, DIFF_SCRATCH_SIZE);
    if (end->reason != SVMSIM_END_HALTED)
        sim->needs_fresh_machine = true;
    return 0;
}

bool diff_sim_cpuid(struct diff_sim *sim, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    ZydisEncoderRequest req;
    memset(&req, 0, sizeof req);
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.mnemonic = ZYDIS_MNEMONIC_CPUID;
    uint8_t code[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof code;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, code, &len)))
        return false;

    uint8_t *mem = calloc(2, DIFF_SCRATCH_SIZE);
    if (!mem)
        return false;
    struct diff_cpu in = { .rflags = 0x2 }, result;
    in.gpr[0] = leaf;
    in.gpr[1] = subleaf;
    in.gpr[4] = DIFF_SCRATCH_ADDR + DIFF_SCRATCH_SIZE / 2;
    struct svmsim_end end;
    bool ok = diff_sim_run(sim, DIFF_CODE_ADDR, code, len, &in, mem, &result,
                           mem + DIFF_SCRATCH_SIZE, &end) == 0 &&
              end.reason == SVMSIM_END_HALTED;
    free(mem);
    if (!ok)
        return false;
    out[0] = (uint32_t)result.gpr[0];
    out[1] = (uint32_t)result.gpr[3];
    out[2] = (uint32_t)result.gpr[1];
    out[3] = (uint32_t)result.gpr[2];
    return true;
}
