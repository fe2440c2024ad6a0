/* svm_insn.c — L0's handlers for the SVM instructions of the running guest
 * (SPEC-GP.md §3): the permission check, VMLOAD/VMSAVE, VMRUN up to the
 * nested entry (nested.c does the rest), STGI/CLGI, VMMCALL as a
 * hypercall, SKINIT, INVLPGA. While L2 runs they are reached only for the
 * instructions L1 does not intercept (nested.c routes the others to L1).
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

#include <string.h>

#define KVM_ENOSYS 1000
#define KVM_EPERM 1

bool svm_check_permissions(struct l0 *l0)
{
    const struct vmcb_save_area *sa = &l0->vmcb->save;
    if (!(l0_guest_efer(l0) & X86_EFER_SVME) || !(sa->cr0 & X86_CR0_PG)) {
        queue_exception(l0, X86_VEC_UD, false, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_UD, "EFER.SVME or CR0.PG clear: #UD");
        return false;
    }
    if (sa->cpl != 0) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "CPL %u: #GP(0)", sa->cpl);
        return false;
    }
    return true;
}

/* Check 4 of SPEC-GP.md §3.2 for a legal gpa: returns 1 and the page, or 0
 * having decided (kvm-7.1: emulation failure, the run ends; kvm-7.0:
 * #GP(0)). The page is an L1 physical address, also when L0 acts for L2. */
static int svm_insn_ram(struct l0 *l0, uint64_t gpa, const char *insn, struct vmcb **page,
                        int *resume)
{
    *page = (struct vmcb *)gmem_ptr(l0->cpu->mem, gpa, sizeof(struct vmcb));
    if (*page)
        return 1;
    if (!l0->sem->unbacked_is_emulation_failure) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "RAX 0x%llx is not backed by RAM: #GP(0)",
                  (unsigned long long)gpa);
        *resume = 1;
        return 0;
    }
    l0_decide(l0, SVMSIM_DECISION_END, "RAX 0x%llx is not backed by RAM",
              (unsigned long long)gpa);
    *resume = l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                     "emulation failure: %s with RAX 0x%llx not backed by RAM", insn,
                     (unsigned long long)gpa);
    return 0;
}

/* Check 3 of SPEC-GP.md §3.2: a page-aligned address below 2^MAXPHYADDR,
 * else #GP(0) queued. */
static bool svm_insn_gpa_legal(struct l0 *l0, uint64_t gpa)
{
    if (!(gpa & 0xfff) && !(gpa >> l0->cfg.maxphyaddr))
        return true;
    queue_exception(l0, X86_VEC_GP, true, 0);
    l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "RAX 0x%llx not a legal page: #GP(0)",
              (unsigned long long)gpa);
    return false;
}

/* VMLOAD/VMSAVE move the state svm.h lists between the page and the
 * running VMCB. FS, GS, TR, LDTR and the syscall MSRs are one set of
 * registers that VMRUN and #VMEXIT leave alone (nested.c hands them between
 * vmcb01 and vmcb02), so while L2 runs the live copy is vmcb02's. */
int svm_vmload_vmsave_page(struct l0 *l0, bool load, uint64_t gpa)
{
    struct vmcb *page;
    int resume;
    if (!svm_insn_ram(l0, gpa, load ? "VMLOAD" : "VMSAVE", &page, &resume))
        return resume;
    if (l0_skip_insn(l0) != 0)
        return 0;
    struct vmcb_save_area *sa = &l0->vmcb->save;
    struct vmcb_save_area tmp;
    memcpy(&tmp, &page->save, sizeof(tmp));
    if (load) {
        vmcb_copy_vmload_state(sa, &tmp);
        vmcb_canonicalize_vmload_state(sa);
    } else {
        vmcb_copy_vmload_state(&tmp, sa);
        memcpy(&page->save, &tmp, sizeof(tmp));
        cpu_notify_phys_write(l0->cpu, gpa, sizeof(struct vmcb));
    }
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "%s of L%d state %s page 0x%llx",
              load ? "VMLOAD" : "VMSAVE", l0_level(l0), load ? "from" : "to",
              (unsigned long long)gpa);
    return 1;
}

static int vmload_vmsave(struct l0 *l0, bool load)
{
    uint64_t gpa = svm_insn_gpa(l0);
    if (!svm_check_permissions(l0) || !svm_insn_gpa_legal(l0, gpa))
        return 1;
    return svm_vmload_vmsave_page(l0, load, gpa);
}

int vmload_interception(struct l0 *l0) { return vmload_vmsave(l0, true); }
int vmsave_interception(struct l0 *l0) { return vmload_vmsave(l0, false); }

int vmrun_interception(struct l0 *l0)
{
    uint64_t gpa = svm_insn_gpa(l0);
    if (!svm_check_permissions(l0))
        return 1;
    if (l0->vm_hsave_pa == 0) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "VM_HSAVE_PA is 0: #GP(0)");
        return 1;
    }
    if (!svm_insn_gpa_legal(l0, gpa))
        return 1;
    struct vmcb *page;
    int resume;
    if (!svm_insn_ram(l0, gpa, "VMRUN", &page, &resume))
        return resume;
    return nested_svm_vmrun(l0, gpa, page);
}

int vmmcall_interception(struct l0 *l0)
{
    const struct vmcb_save_area *sa = &l0->vmcb->save;
    /* KVM's hypercall ABI: number in RAX; none is implemented here. */
    uint64_t ret = sa->cpl != 0 ? (uint64_t)-KVM_EPERM : (uint64_t)-KVM_ENOSYS;
    if (!is_64_bit_mode(l0))
        ret = (uint32_t)ret;
    kvm_register_write_raw(l0, VCPU_REGS_RAX, ret);
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "hypercall: %s",
              sa->cpl ? "-KVM_EPERM" : "-KVM_ENOSYS");
    return 1;
}

static int gif_insn(struct l0 *l0, bool gif)
{
    if (!svm_check_permissions(l0))
        return 1;
    l0->gif = gif;
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "GIF = %d", gif);
    return 1;
}

int stgi_interception(struct l0 *l0) { return gif_insn(l0, true); }
int clgi_interception(struct l0 *l0) { return gif_insn(l0, false); }

int skinit_interception(struct l0 *l0)
{
    queue_exception(l0, X86_VEC_UD, false, 0);
    l0_decide(l0, SVMSIM_DECISION_INJECTED_UD, "SKINIT: #UD");
    return 1;
}

int invlpga_interception(struct l0 *l0)
{
    if (!svm_check_permissions(l0))
        return 1;
    /* The page may be cached for the guest itself: ask the hardware to
     * flush on the next VMRUN (TLB_CONTROL), as KVM's kvm_mmu_invlpg does. */
    l0->vmcb->control.tlb_ctl = 1;
    if (l0_skip_insn(l0) != 0)
        return 0;
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "INVLPGA");
    return 1;
}
