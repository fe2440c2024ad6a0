/* rdpmc.c — RDPMC as L0 emulates it (KVM intercepts it in init_vmcb, and
 * the VMware backdoor's #GP path emulates it too, SPEC-GP.md §5).
 *
 * The model has no performance counters of its own: the four legacy AMD
 * counters read 0. Under VMware-#GP rules the pseudo-counters 0x10000
 * (host TSC), 0x10001 (real time, ns) and 0x10002 (apparent time, ns: real
 * time plus the VM's clock offset, which is 0 here) are readable at any CPL
 * whatever CR4.PCE; the model's TSC runs at 1 GHz, so all three are the
 * same count, instruction-driven with --deterministic.
 */
#include "hv/hv.h"

#define VMWARE_PMC_HOST_TSC 0x10000u
#define VMWARE_PMC_APPARENT_TIME 0x10002u

int rdpmc_emulate(struct l0 *l0, bool vmware)
{
    const struct vmcb_save_area *sa = &l0->vmcb->save;
    uint32_t idx = (uint32_t)kvm_register_read_raw(l0, VCPU_REGS_RCX);
    uint64_t value = 0;
    if (vmware && idx >= VMWARE_PMC_HOST_TSC && idx <= VMWARE_PMC_APPARENT_TIME) {
        value = cpu_host_tsc(l0->cpu);
    } else if ((!(sa->cr4 & X86_CR4_PCE) && sa->cpl != 0) || idx > 3) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "RDPMC of counter 0x%x: #GP(0)", idx);
        return 1;
    }
    kvm_register_write_raw(l0, VCPU_REGS_RAX, (uint32_t)value);
    kvm_register_write_raw(l0, VCPU_REGS_RDX, value >> 32);
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "RDPMC of counter 0x%x = 0x%llx", idx,
              (unsigned long long)value);
    return 1;
}
