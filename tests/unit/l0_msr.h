/* l0_msr.h — the rig of the unit tests of L0's MSRs (test_lapic,
 * test_msr): an L0 built by l0_fixture.h with L1 on vmcb01 (mem, cpu, l0,
 * cfg, end; msr_rig_init/msr_rig_fini), and L1's intercepted RDMSR/WRMSR
 * through msr_interception. The including file defines RAM_SIZE and
 * GUEST_RIP, where the MSR instruction sits, before including it.
 * Must not: own any MSR's expected value.
 */
#ifndef SVMSIM_TESTS_L0_MSR_H
#define SVMSIM_TESTS_L0_MSR_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include <string.h>

#include "hv/hv.h"
#include "l0_fixture.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/x86.h"

static struct gmem mem;
static struct cpu cpu;
static struct l0 l0;
static struct svmsim_config cfg;
static struct svmsim_end end;

/* RAM_SIZE of RAM, a CPU of model and an L0 with the default knobs. */
static void msr_rig_init(const struct cpu_model *model)
{
    memset(&end, 0, sizeof(end));
    cr_assert_eq(l0_fixture_cpu(&mem, RAM_SIZE, &cpu, model), 0);
    svmsim_config_default(&cfg);
    cfg.mem_size = RAM_SIZE;
    cr_assert_eq(l0_fixture_l0(&l0, &cpu, &cfg), 0);
    l0.end = &end;
}

static void msr_rig_fini(void)
{
    l0_fixture_fini(&l0, &cpu, &mem);
}

/* The access as an MSR exit (NRIPS gave next_rip). Returns false when L0
 * queued #GP(0) (then dropped), having checked that RIP stayed on the
 * instruction; else RIP moved past it and a read filled *v. */
static bool guest_msr(bool write, uint32_t msr, uint64_t *v)
{
    struct vmcb *v01 = l0.vmcb01;
    v01->control.exit_code = SVM_EXIT_MSR;
    v01->control.exit_info_1 = write;
    v01->control.exit_info_2 = 0;
    v01->control.next_rip = GUEST_RIP + 2;
    v01->save.rip = GUEST_RIP;
    cpu.gpr[VCPU_REGS_RCX] = msr;
    v01->save.rax = write ? (uint32_t)*v : 0;
    cpu.gpr[VCPU_REGS_RDX] = write ? *v >> 32 : 0;
    cr_assert_eq(msr_interception(&l0), 1);
    if (l0.exception.pending) {
        cr_assert_eq(l0.exception.vector, X86_VEC_GP);
        cr_assert_eq(l0.exception.error, 0);
        cr_assert_eq(v01->save.rip, GUEST_RIP, "RIP moved past a faulting MSR access");
        l0.exception.pending = false;
        return false;
    }
    cr_assert_eq(v01->save.rip, GUEST_RIP + 2);
    if (!write)
        *v = (v01->save.rax & 0xffffffffull) | (cpu.gpr[VCPU_REGS_RDX] << 32);
    return true;
}

static inline bool guest_wrmsr(uint32_t msr, uint64_t v)
{
    return guest_msr(true, msr, &v);
}

static inline bool guest_rdmsr(uint32_t msr, uint64_t *v)
{
    return guest_msr(false, msr, v);
}

#endif
