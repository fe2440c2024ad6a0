/* cpuid.c — the CPUID L1 sees: the hardware's, filtered by L0's knobs as KVM
 * builds a guest CPUID from the host's (DESIGN.md "Boot protocol"). */
#include "hv/hv.h"

int cpuid_interception(struct l0 *l0)
{
    struct cpu *cpu = l0->cpu;
    uint32_t leaf = (uint32_t)kvm_register_read_raw(l0, VCPU_REGS_RAX);
    uint32_t sub = (uint32_t)kvm_register_read_raw(l0, VCPU_REGS_RCX);
    uint32_t r[4];
    cpu_cpuid(cpu, leaf, sub, r);
    switch (leaf) {
    case 0x00000001:
        r[2] |= (1u << 31) | (1u << 21); /* hypervisor present; x2APIC (lapic.c) */
        r[1] = (r[1] & 0x00ffffffu) | (l0->lapic.id << 24); /* initial APIC ID */
        if (!(lapic_get_base(&l0->lapic) & LAPIC_BASE_EN))
            r[3] &= ~(1u << 9); /* no APIC while it is disabled (KVM's runtime CPUID) */
        break;
    case 0x00000007:
        if (sub == 0)
            r[1] |= 1u << 1; /* TSC_ADJUST, which L0 emulates (msr.c) */
        break;
    case 0x40000000:
        r[0] = 0x40000001;
        r[1] = 0x4b4d564b; /* "KVMKVMKVM\0\0\0" */
        r[2] = 0x564b4d56;
        r[3] = 0x0000004d;
        break;
    case 0x80000001:
        if (!l0->cfg.nested)
            r[2] &= ~(1u << 2);
        break;
    case 0x8000000a:
        if (!l0->cfg.nested) {
            r[0] = r[1] = r[2] = r[3] = 0;
            break;
        }
        if (!l0->cfg.vls)
            r[3] &= ~CPUID_SVM_VLS;
        break;
    default:
        break;
    }
    kvm_register_write_raw(l0, VCPU_REGS_RAX, r[0]);
    kvm_register_write_raw(l0, VCPU_REGS_RBX, r[1]);
    kvm_register_write_raw(l0, VCPU_REGS_RCX, r[2]);
    kvm_register_write_raw(l0, VCPU_REGS_RDX, r[3]);
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "CPUID 0x%x.%u = %08x %08x %08x %08x", leaf, sub,
              r[0], r[1], r[2], r[3]);
    return l0_skip_insn(l0) == 0;
}
