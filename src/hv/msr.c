/* msr.c — the MSR intercept: L0 owns every MSR access of the guest (its
 * MSRPM intercepts all of them; while L2 runs, those L1's MSRPM does not
 * claim) and keeps the values KVM keeps — in the running VMCB's save area
 * where the hardware has a field, in struct l0 otherwise (SPEC-GP.md §4.6),
 * the machine-check banks among them (KVM's get_msr_mce/set_msr_mce).
 * Unknown MSRs get #GP(0), as KVM does with ignore_msrs off.
 */
#include "hv/hv.h"

#define EFER_GUEST_VALID (X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | \
                          X86_EFER_SVME | X86_EFER_FFXSR)

/* CPUID 0x8000_0001 EDX: the features EFER bits need. */
#define CPUID_EXT_EDX_NX    (1u << 20)
#define CPUID_EXT_EDX_FFXSR (1u << 25) /* KVM's X86_FEATURE_FXSR_OPT */
#define CPUID_EXT_EDX_LM    (1u << 29)

#define MISC_ENABLE_EMON (1ull << 7)
#define MISC_ENABLE_PMU_RO ((1ull << 11) | (1ull << 12)) /* BTS, PEBS unavailable */

/* MCG_CAP as KVM gives a vCPU whose VMM never set MCE up: the bank count
 * and no capability bits (no MCG_CTL_P: MCG_CTL is #GP; no MCG_CMCI_P:
 * MCi_CTL2 is #GP; no MCG_SER_P, MCG_LMCE_P). */
#define MCG_CAP_DEFAULT ((uint64_t)KVM_MAX_MCE_BANKS)
#define MCE_BANK_MSRS (4 * KVM_MAX_MCE_BANKS) /* MCi_CTL, _STATUS, _ADDR, _MISC */
#define MCI_CTL_K8_GART_TBL (1ull << 10) /* writable clear with the rest set: see below */
#define MCI_CTL_BIT0 (1ull << 0)

/* MSR_K7_HWCR bits KVM keeps, and those it drops from a write (TLB cache
 * disable, flush filter disable, IGNNE emulation). */
#define HWCR_MC_STATUS_WR_EN (1ull << 18)
#define HWCR_TSC_FREQ_SEL (1ull << 24)
#define HWCR_IGNORED ((1ull << 3) | (1ull << 6) | (1ull << 8))

static bool pa_legal(const struct l0 *l0, uint64_t pa)
{
    return (pa >> l0->cfg.maxphyaddr) == 0;
}

/* A machine-check bank MSR (MCi_CTL/STATUS/ADDR/MISC of a bank MCG_CAP
 * reports)? Its index into l0->mce_banks. */
static bool mce_bank_msr(uint32_t msr, unsigned *idx)
{
    if (msr < MSR_IA32_MC0_CTL || msr >= MSR_IA32_MC0_CTL + MCE_BANK_MSRS)
        return false;
    *idx = msr - MSR_IA32_MC0_CTL;
    return true;
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
    case MSR_IA32_TSC_ADJUST: *v = l0->tsc_adjust; return 0;
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
    /* The last branch record lives in the save area, as with KVM's LBR
     * virtualization. */
    case MSR_IA32_LASTBRANCHFROMIP: *v = sa->br_from; return 0;
    case MSR_IA32_LASTBRANCHTOIP: *v = sa->br_to; return 0;
    case MSR_IA32_LASTINTFROMIP: *v = sa->last_excp_from; return 0;
    case MSR_IA32_LASTINTTOIP: *v = sa->last_excp_to; return 0;
    case MSR_IA32_APICBASE: *v = lapic_get_base(&l0->lapic); return 0;
    case MSR_IA32_MISC_ENABLE: *v = l0->misc_enable; return 0;
    case MSR_IA32_MCG_CAP: *v = MCG_CAP_DEFAULT; return 0;
    case MSR_IA32_MCG_STATUS: *v = l0->mcg_status; return 0;
    case MSR_K7_HWCR: *v = l0->msr_hwcr; return 0;
    default: {
        unsigned i;
        if (msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3) {
            *v = l0->perf_legacy[msr - MSR_K7_EVNTSEL0];
            return 0;
        }
        if (mce_bank_msr(msr, &i)) {
            *v = l0->mce_banks[i];
            return 0;
        }
        return lapic_msr_read(l0, msr, v);
    }
    }
}

/* L1's TSC moves by delta (L2's with it), and IA32_TSC_ADJUST records it. */
static void tsc_offset_add(struct l0 *l0, uint64_t delta)
{
    l0->vmcb01->control.tsc_offset += delta;
    if (is_guest_mode(l0))
        l0->vmcb02->control.tsc_offset += delta;
    l0->tsc_adjust += delta;
}

/* What msr_set() asks of its caller. */
enum { MSR_OK = 0, MSR_GP = -1, MSR_SHUTDOWN = 1 };

/* KVM's __kvm_valid_efer: a bit whose feature L1's CPUID lacks is
 * reserved for L1 too (LME/LMA need LM, NXE needs NX, FFXSR needs
 * FFXSR). */
static bool efer_features_offered(const struct l0 *l0, uint64_t v)
{
    static const struct {
        uint64_t efer;
        uint32_t edx;
    } needs[] = {
        { X86_EFER_LME | X86_EFER_LMA, CPUID_EXT_EDX_LM },
        { X86_EFER_NXE, CPUID_EXT_EDX_NX },
        { X86_EFER_FFXSR, CPUID_EXT_EDX_FFXSR },
    };
    uint32_t r[4];
    cpu_cpuid(l0->cpu, 0x80000001, 0, r);
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
        if ((v & needs[i].efer) && !(r[3] & needs[i].edx))
            return false;
    return true;
}

/* EFER as KVM's efer_trap/svm_set_efer sees it. */
static int efer_set(struct l0 *l0, uint64_t v)
{
    struct vmcb_save_area *sa = &l0->vmcb->save;
    if ((v & ~EFER_GUEST_VALID) || !efer_features_offered(l0, v))
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

/* A bank MSR as KVM's set_msr_mce. MCi_CTL takes 0 or all ones; KVM also
 * lets bit 10 (Linux's K8 GART TLB workaround, bank 4) and bit 0
 * (UnixWare, MC1) be clear with the rest set. MCi_STATUS takes 0 (clear),
 * anything else only with HWCR.McStatusWrEn (L1's CPUID is AMD's). ADDR
 * and MISC take any value. */
static int mce_bank_set(struct l0 *l0, unsigned idx, uint64_t v)
{
    switch (idx % 4) {
    case 0:
        if (v != 0 && (v | MCI_CTL_K8_GART_TBL | MCI_CTL_BIT0) != ~0ull)
            return MSR_GP;
        break;
    case 1:
        if (v != 0 && !(l0->msr_hwcr & HWCR_MC_STATUS_WR_EN))
            return MSR_GP;
        break;
    default:
        break;
    }
    l0->mce_banks[idx] = v;
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
        /* The value is L1's TSC, also when L2 writes it, and TSC_ADJUST
         * follows the change (KVM's kvm_set_msr_common). */
        tsc_offset_add(l0, v - cpu_host_tsc(l0->cpu) - l0->vmcb01->control.tsc_offset);
        return 0;
    case MSR_IA32_TSC_ADJUST:
        tsc_offset_add(l0, v - l0->tsc_adjust);
        return 0;
    case MSR_TSC_AUX:
        /* As AMD CPUs, bits 63:32 are ignored, not reserved: KVM drops
         * them unless L1's CPUID is Intel's (kvm_set_msr_common). */
        l0->tsc_aux = (uint32_t)v;
        l0->cpu->tsc_aux = (uint32_t)v;
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
    case MSR_IA32_MCG_STATUS:
        l0->mcg_status = v;
        return 0;
    case MSR_K7_HWCR:
        /* KVM keeps McStatusWrEn and TscFreqSel, drops the ignored bits,
         * and refuses the rest. */
        v &= ~HWCR_IGNORED;
        if (v & ~(HWCR_MC_STATUS_WR_EN | HWCR_TSC_FREQ_SEL))
            return -1;
        l0->msr_hwcr = v;
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
    default: {
        unsigned i;
        if (msr >= MSR_K7_EVNTSEL0 && msr <= MSR_K7_PERFCTR3) {
            /* Kept, not counting (KVM's AMD PMU with no events set up);
             * the counters are 48 bits wide. */
            l0->perf_legacy[msr - MSR_K7_EVNTSEL0] =
                msr >= MSR_K7_PERFCTR0 ? v & ((1ull << 48) - 1) : v;
            return 0;
        }
        if (mce_bank_msr(msr, &i))
            return mce_bank_set(l0, i, v);
        /* MCG_CAP is read-only; MCG_CTL and MCi_CTL2 are #GP without
         * MCG_CTL_P and MCG_CMCI_P: all fall through to #GP. */
        return lapic_msr_write(l0, msr, v);
    }
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
