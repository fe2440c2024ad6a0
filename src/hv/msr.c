/* msr.c — the MSR intercept: L0 owns every MSR access of the guest (its
 * MSRPM intercepts all of them; while L2 runs, those L1's MSRPM does not
 * claim) and keeps the values KVM keeps — in the running VMCB's save area
 * where the hardware has a field, in struct l0 otherwise (SPEC-GP.md §4.6).
 * Unknown MSRs get #GP(0), as KVM does with ignore_msrs off.
 */
#include "hv/hv.h"

#define EFER_GUEST_VALID (X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | \
                          X86_EFER_SVME | X86_EFER_FFXSR)

#define MISC_ENABLE_EMON (1ull << 7)
#define MISC_ENABLE_PMU_RO ((1ull << 11) | (1ull << 12)) /* BTS, PEBS unavailable */

static bool pa_legal(const struct l0 *l0, uint64_t pa)
{
    return (pa >> l0->cfg.maxphyaddr) == 0;
}

static int msr_get(struct l0 *l0, uint32_t msr, uint64_t *v)
{
    struct vmcb_save_area *sa = &l0->vmcb->save;
    switch (msr) {
    case MSR_EFER: *v = l0_guest_efer(l0); return 0;
    case MSR_VM_HSAVE_PA: *v = l0->vm_hsave_pa; return 0;
    case MSR_VM_CR: *v = l0->vm_cr; return 0;
    case MSR_IA32_TSC: *v = cpu_host_tsc(l0->cpu) + l0->vmcb->control.tsc_offset; return 0;
    case MSR_TSC_AUX: *v = l0->tsc_aux; return 0;
    case MSR_KERNEL_GS_BASE: *v = sa->kernel_gs_base; return 0;
    case MSR_STAR: *v = sa->star; return 0;
    case MSR_LSTAR: *v = sa->lstar; return 0;
    case MSR_CSTAR: *v = sa->cstar; return 0;
    case MSR_SYSCALL_MASK: *v = sa->sfmask; return 0;
    case MSR_IA32_SYSENTER_CS: *v = sa->sysenter_cs; return 0;
    case MSR_IA32_SYSENTER_ESP: *v = sa->sysenter_esp; return 0;
    case MSR_IA32_SYSENTER_EIP: *v = sa->sysenter_eip; return 0;
    case MSR_FS_BASE: *v = sa->fs.base; return 0;
    case MSR_GS_BASE: *v = sa->gs.base; return 0;
    case MSR_IA32_CR_PAT: *v = sa->g_pat; return 0;
    case MSR_IA32_DEBUGCTL: *v = sa->dbgctl; return 0;
    case MSR_IA32_APICBASE: *v = lapic_get_base(&l0->lapic); return 0;
    case MSR_IA32_MISC_ENABLE: *v = l0->misc_enable; return 0;
    default:
        if (msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3) {
            *v = l0->perf_legacy[msr - MSR_K7_EVNTSEL0];
            return 0;
        }
        return lapic_msr_read(l0, msr, v);
    }
}

/* What msr_set() asks of its caller. */
enum { MSR_OK = 0, MSR_GP = -1, MSR_SHUTDOWN = 1 };

/* EFER as KVM's efer_trap/svm_set_efer sees it. */
static int efer_set(struct l0 *l0, uint64_t v)
{
    struct vmcb_save_area *sa = &l0->vmcb->save;
    if (v & ~EFER_GUEST_VALID)
        return MSR_GP;
    if ((v & X86_EFER_SVME) && (!l0->cfg.nested || (l0->vm_cr & MSR_VM_CR_SVMDIS)))
        return MSR_GP;
    if ((sa->cr0 & X86_CR0_PG) && ((v ^ sa->efer) & X86_EFER_LME))
        return MSR_GP;
    /* LMA is the CPU's: keep the current value. */
    uint64_t efer = (v & ~X86_EFER_LMA) | (sa->efer & X86_EFER_LMA);
    if (is_guest_mode(l0)) {
        /* L2 clearing SVME takes away the ground L1 stands on: KVM treats
         * it as fatal for the VM (SPEC-GP.md §4.6, KST-EFER-01). */
        if (!(efer & X86_EFER_SVME))
            return MSR_SHUTDOWN;
        sa->efer = efer;
        return MSR_OK;
    }
    if (l0->efer_svme && !(efer & X86_EFER_SVME))
        nested_svm_leave(l0); /* frees nested state */
    l0->efer_svme = efer & X86_EFER_SVME;
    gp_intercept_update(l0); /* SPEC-GP.md §1: the erratum intercept follows SVME */
    /* L0 always runs L1 with SVME set (KVM does), so the CPU never raises
     * #UD for an SVM instruction itself: L0's handlers decide. */
    sa->efer = efer | X86_EFER_SVME;
    return MSR_OK;
}

/* VM_CR as KVM's svm_set_vm_cr: once SVMDIS is set, LOCK and SVMDIS can no
 * longer change; SVMDIS cannot be set while EFER.SVME is. */
static int vm_cr_set(struct l0 *l0, uint64_t v)
{
    if (v & ~MSR_VM_CR_VALID_MASK)
        return MSR_GP;
    uint64_t chg = MSR_VM_CR_VALID_MASK;
    if (l0->vm_cr & MSR_VM_CR_SVMDIS)
        chg &= ~(MSR_VM_CR_LOCK | MSR_VM_CR_SVMDIS);
    uint64_t next = (l0->vm_cr & ~chg) | (v & chg);
    if ((next & MSR_VM_CR_SVMDIS) && (l0_guest_efer(l0) & X86_EFER_SVME))
        return MSR_GP;
    l0->vm_cr = next;
    return MSR_OK;
}

static int msr_set(struct l0 *l0, uint32_t msr, uint64_t v)
{
    struct vmcb_save_area *sa = &l0->vmcb->save;
    switch (msr) {
    case MSR_EFER:
        return efer_set(l0, v);
    case MSR_VM_HSAVE_PA:
        if ((v & 0xfff) || !pa_legal(l0, v))
            return -1;
        l0->vm_hsave_pa = v;
        return 0;
    case MSR_VM_CR:
        return vm_cr_set(l0, v);
    case MSR_IA32_TSC:
        l0->vmcb->control.tsc_offset = v - cpu_host_tsc(l0->cpu);
        return 0;
    case MSR_TSC_AUX:
        if (v >> 32)
            return -1;
        l0->tsc_aux = v;
        l0->cpu->tsc_aux = v;
        return 0;
    case MSR_STAR: sa->star = v; return 0;
    case MSR_SYSCALL_MASK: sa->sfmask = (uint32_t)v; return 0;
    case MSR_IA32_SYSENTER_CS: sa->sysenter_cs = v; return 0;
    case MSR_IA32_SYSENTER_ESP: sa->sysenter_esp = v; return 0;
    case MSR_IA32_SYSENTER_EIP: sa->sysenter_eip = v; return 0;
    case MSR_IA32_DEBUGCTL: sa->dbgctl = v; return 0;
    case MSR_IA32_CR_PAT: sa->g_pat = v; return 0;
    case MSR_IA32_APICBASE: return lapic_set_base(l0, v);
    case MSR_IA32_MISC_ENABLE:
        /* As KVM: BTS/PEBS-unavailable are read-only (a change is #GP),
         * EMON ignores writes. */
        if ((v ^ l0->misc_enable) & MISC_ENABLE_PMU_RO)
            return -1;
        l0->misc_enable = (v & ~MISC_ENABLE_EMON) | (l0->misc_enable & MISC_ENABLE_EMON);
        return 0;
    case MSR_KERNEL_GS_BASE:
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
        if (!is_canonical(v))
            return -1;
        if (msr == MSR_KERNEL_GS_BASE) sa->kernel_gs_base = v;
        else if (msr == MSR_LSTAR) sa->lstar = v;
        else if (msr == MSR_CSTAR) sa->cstar = v;
        else if (msr == MSR_FS_BASE) sa->fs.base = v;
        else sa->gs.base = v;
        return 0;
    default:
        if (msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3) {
            /* Kept, not counting (KVM's AMD PMU with no events set up);
             * the counters are 48 bits wide. */
            l0->perf_legacy[msr - MSR_K7_EVNTSEL0] =
                msr >= MSR_K7_PERFCTR0 ? v & ((1ull << 48) - 1) : v;
            return 0;
        }
        return lapic_msr_write(l0, msr, v);
    }
}

int msr_interception(struct l0 *l0)
{
    uint32_t msr = (uint32_t)kvm_register_read_raw(l0, VCPU_REGS_RCX);
    bool write = l0->vmcb->control.exit_info_1 & 1;
    if (write) {
        uint64_t v = (kvm_register_read_raw(l0, VCPU_REGS_RAX) & 0xffffffffull) |
                     (kvm_register_read_raw(l0, VCPU_REGS_RDX) << 32);
        int r = msr_set(l0, msr, v);
        if (r == MSR_SHUTDOWN) {
            l0_decide(l0, SVMSIM_DECISION_END, "L2 cleared EFER.SVME: the VM shuts down");
            return l0_end(l0, SVMSIM_END_SHUTDOWN, SVMSIM_STATUS_SHUTDOWN,
                          "shutdown: L2 cleared EFER.SVME (0x%llx)", (unsigned long long)v);
        }
        if (r != MSR_OK) {
            queue_exception(l0, X86_VEC_GP, true, 0);
            l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "WRMSR 0x%x = 0x%llx refused: #GP(0)",
                      msr, (unsigned long long)v);
            return 1;
        }
        l0_decide(l0, SVMSIM_DECISION_HANDLED, "WRMSR 0x%x = 0x%llx", msr,
                  (unsigned long long)v);
    } else {
        uint64_t v;
        if (msr_get(l0, msr, &v) != 0) {
            queue_exception(l0, X86_VEC_GP, true, 0);
            l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "RDMSR 0x%x unknown: #GP(0)", msr);
            return 1;
        }
        kvm_register_write_raw(l0, VCPU_REGS_RAX, (uint32_t)v);
        kvm_register_write_raw(l0, VCPU_REGS_RDX, v >> 32);
        l0_decide(l0, SVMSIM_DECISION_HANDLED, "RDMSR 0x%x = 0x%llx", msr,
                  (unsigned long long)v);
    }
    return l0_skip_insn(l0) == 0;
}
