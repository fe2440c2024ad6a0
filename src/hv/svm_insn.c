/* svm_insn.c — L0's handlers for L1's SVM instructions (SPEC-GP.md §3):
 * the permission check, VMLOAD/VMSAVE on vmcb01, STGI/CLGI, VMMCALL as a
 * hypercall, SKINIT, INVLPGA, and the first steps of VMRUN.
 */
#include "hv/hv.h"
#include "svmsim/arch/svm_exit.h"

#include <string.h>

#define KVM_ENOSYS 1000
#define KVM_EPERM 1

bool svm_check_permissions(struct l0 *l0)
{
    const struct vmcb_save_area *sa = &l0->vmcb01->save;
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

/* RAX as the instruction uses it: EAX outside 64-bit mode. */
static uint64_t svm_insn_gpa(const struct l0 *l0)
{
    const struct vmcb_save_area *sa = &l0->vmcb01->save;
    bool long64 = (sa->efer & X86_EFER_LMA) && (sa->cs.attrib & VMCB_ATTR_L);
    return long64 ? sa->rax : (uint32_t)sa->rax;
}

/* Checks 3 and 4 of SPEC-GP.md §3.2: returns 1 and the page, or 0 having
 * decided (#GP injected: resume; emulation failure: end). */
static int svm_insn_page(struct l0 *l0, uint64_t gpa, struct vmcb **page, int *resume)
{
    if ((gpa & 0xfff) || (gpa >> l0->cfg.maxphyaddr)) {
        queue_exception(l0, X86_VEC_GP, true, 0);
        l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "RAX 0x%llx not a legal page: #GP(0)",
                  (unsigned long long)gpa);
        *resume = 1;
        return 0;
    }
    *page = (struct vmcb *)gmem_ptr(l0->cpu->mem, gpa, sizeof(struct vmcb));
    if (!*page) {
        l0_decide(l0, SVMSIM_DECISION_END, "RAX 0x%llx is not backed by RAM",
                  (unsigned long long)gpa);
        *resume = l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                         "emulation failure: %s with RAX 0x%llx not backed by RAM",
                         svm_exit_name(l0->vmcb01->control.exit_code), (unsigned long long)gpa);
        return 0;
    }
    return 1;
}

/* The VMLOAD/VMSAVE state set: FS GS TR LDTR, KernelGsBase, STAR family,
 * SYSENTER family (APM vol. 3 "VMLOAD"). */
static void vmload_state(struct vmcb_save_area *to, const struct vmcb_save_area *from)
{
    to->fs = from->fs;
    to->gs = from->gs;
    to->tr = from->tr;
    to->ldtr = from->ldtr;
    to->kernel_gs_base = from->kernel_gs_base;
    to->star = from->star;
    to->lstar = from->lstar;
    to->cstar = from->cstar;
    to->sfmask = from->sfmask;
    to->sysenter_cs = from->sysenter_cs;
    to->sysenter_esp = from->sysenter_esp;
    to->sysenter_eip = from->sysenter_eip;
}

static int vmload_vmsave(struct l0 *l0, bool load)
{
    uint64_t gpa = svm_insn_gpa(l0);
    if (!svm_check_permissions(l0))
        return 1;
    struct vmcb *page;
    int resume;
    if (!svm_insn_page(l0, gpa, &page, &resume))
        return resume;
    l0_skip_insn(l0);
    struct vmcb_save_area *sa = &l0->vmcb01->save;
    if (load) {
        struct vmcb_save_area tmp;
        memcpy(&tmp, &page->save, sizeof(tmp));
        vmload_state(sa, &tmp);
        sa->fs.base = canonicalize(sa->fs.base);
        sa->gs.base = canonicalize(sa->gs.base);
        sa->tr.base = canonicalize(sa->tr.base);
        sa->ldtr.base = canonicalize(sa->ldtr.base);
        sa->kernel_gs_base = canonicalize(sa->kernel_gs_base);
        sa->lstar = canonicalize(sa->lstar);
        sa->cstar = canonicalize(sa->cstar);
    } else {
        struct vmcb_save_area tmp;
        memcpy(&tmp, &page->save, sizeof(tmp));
        vmload_state(&tmp, sa);
        memcpy(&page->save, &tmp, sizeof(tmp));
        cpu_notify_phys_write(l0->cpu, gpa, sizeof(struct vmcb));
    }
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "%s of vmcb01 %s page 0x%llx",
              load ? "VMLOAD" : "VMSAVE", load ? "from" : "to", (unsigned long long)gpa);
    return 1;
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
    struct vmcb *page;
    int resume;
    if (!svm_insn_page(l0, gpa, &page, &resume))
        return resume;
    /* FIXME: nested VMRUN (vmcb12 -> vmcb02, SPEC-GP.md §3.3 steps 5-7 and §4)
     * is the next capability; until then the run ends here, honestly. */
    l0_decide(l0, SVMSIM_DECISION_END, "nested VMRUN not modelled yet");
    return l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                  "emulation failure: nested VMRUN of vmcb12 0x%llx is not modelled yet",
                  (unsigned long long)gpa);
}

int vmmcall_interception(struct l0 *l0)
{
    struct vmcb_save_area *sa = &l0->vmcb01->save;
    /* KVM's hypercall ABI: number in RAX; none is implemented here. */
    sa->rax = sa->cpl != 0 ? (uint64_t)-KVM_EPERM : (uint64_t)-KVM_ENOSYS;
    l0_skip_insn(l0);
    l0_decide(l0, SVMSIM_DECISION_HANDLED, "hypercall %llu: %s",
              (unsigned long long)sa->rax, sa->cpl ? "-KVM_EPERM" : "-KVM_ENOSYS");
    return 1;
}

static int gif_insn(struct l0 *l0, bool gif)
{
    if (!svm_check_permissions(l0))
        return 1;
    l0->gif = gif;
    l0_skip_insn(l0);
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
    /* The page may be cached for L1 itself: ask the hardware to flush on
     * the next VMRUN (TLB_CONTROL), as KVM's kvm_mmu_invlpg does for it. */
    l0->vmcb01->control.tlb_ctl = 1;
    l0_skip_insn(l0);
    l0_decide(l0, SVMSIM_DECISION_EMULATED, "INVLPGA");
    return 1;
}
