/* l0_msr.h — L1's intercepted RDMSR/WRMSR through msr_interception, for
 * the unit tests of L0's MSRs (test_lapic, test_msr).
 * The including file defines `static struct l0 l0`, `static struct cpu
 * cpu` (an L0 built by l0_fixture.h, L1 running on vmcb01) and GUEST_RIP,
 * where the MSR instruction sits, before including it.
 * Must not: own any MSR's expected value.
 */
#ifndef SVMSIM_TESTS_L0_MSR_H
#define SVMSIM_TESTS_L0_MSR_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/x86.h"

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
