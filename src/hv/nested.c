/* nested.c — nested SVM in L0 (SPEC-GP.md §3.3 steps 5-7 and §4; KVM's
 * arch/x86/kvm/svm/nested.c): entering L2 on vmcb02 from the cached
 * vmcb12, routing L2's exits, and the #VMEXIT that hands L1 back its VMCB.
 *
 * Owns: l0->nested and vmcb02. The only code that reads or writes vmcb12
 * in L1's memory (and the IOPM/MSRPM that vmcb12 points to).
 * Must not: touch devices, or decode instructions.
 *
 * L0 maps L1's memory 1:1, so an L1 physical address is the machine's:
 * without nested paging vmcb02 runs L2 on L1's physical memory, and with it
 * vmcb02 uses L1's nested page tables (vmcb12's nCR3) as they stand. Every
 * #NPF of L2 is then L1's.
 */
#include "hv/hv.h"

#include <stdio.h>
#include <string.h>

/* vmcb02's ASID: L0's own tag for L2, apart from vmcb01's (1). */
#define VMCB02_ASID 2

void nested_init(struct l0 *l0)
{
    memset(&l0->nested, 0, sizeof(l0->nested));
}

static void trace_vmcb12(struct l0 *l0, uint64_t gpa)
{
    if (l0->tracing)
        l0->rec.vmcb12_gpa = gpa;
}

/* ---- §4.2: vmcb02 from the cache */

/* vmcb02's intercepts are vmcb01's OR vmcb12's (all six words); VMLOAD and
 * VMSAVE stay intercepted for L2 whatever L1 says (CVE-2021-3656), unless
 * virtual VMLOAD/VMSAVE does them through L1's nested page tables. */
static bool nested_npt_enabled(const struct l0 *l0)
{
    return l0->cpu->model.np && (l0->nested.ctl.nested_ctl & SVM_NESTED_CTL_NP_ENABLE);
}

/* Virtual VMLOAD/VMSAVE for L2: offered to L1 (--vls), enabled in vmcb12,
 * and nested paging on to translate RAX with. */
static bool nested_vls_enabled(const struct l0 *l0)
{
    return l0->cfg.vls && l0->cpu->model.vls && nested_npt_enabled(l0) &&
           (l0->nested.ctl.virt_ext & SVM_VIRT_EXT_VLS_ENABLE);
}

/* LBR virtualization for L2: enabled in vmcb12 (CPUID offers it to L1). */
static bool nested_lbrv_enabled(const struct l0 *l0)
{
    return l0->nested.ctl.virt_ext & SVM_VIRT_EXT_LBR_ENABLE;
}

static void vmcb_copy_lbrs(struct vmcb_save_area *to, const struct vmcb_save_area *from)
{
    to->dbgctl = from->dbgctl;
    to->br_from = from->br_from;
    to->br_to = from->br_to;
    to->last_excp_from = from->last_excp_from;
    to->last_excp_to = from->last_excp_to;
}

/* Virtual GIF for L2: vmcb12's V_GIF_ENABLE (CPUID offers it to L1). L2's
 * STGI and CLGI then set and clear vmcb02's V_GIF, L1's to see. */
static bool nested_vgif_enabled(const struct l0 *l0)
{
    return l0->nested.ctl.int_ctl & SVM_INT_CTL_V_GIF_ENABLE;
}

static void recalc_intercepts(struct l0 *l0)
{
    struct vmcb_control_area *c02 = &l0->vmcb02->control;
    const struct vmcb_control_area *c01 = &l0->vmcb01->control;
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    uint32_t h[VMCB_INTERCEPT_WORDS];
    memcpy(h, c01->intercepts, sizeof(h));
    /* Under vmcb12's V_INTR_MASKING L2's CR8 is its own V_TPR, not L1's
     * TPR: L0 does not need its CR8 writes (KVM's recalc_intercepts). */
    if (c12->int_ctl & SVM_INT_CTL_V_INTR_MASKING)
        intercept_vec_clr(h, SVM_EXIT_WRITE_CR8);
    /* Under vmcb12's virtual GIF, L2's STGI and CLGI are L1's V_GIF. */
    if (nested_vgif_enabled(l0)) {
        intercept_vec_clr(h, SVM_EXIT_STGI);
        intercept_vec_clr(h, SVM_EXIT_CLGI);
    }
    for (unsigned i = 0; i < VMCB_INTERCEPT_WORDS; i++)
        c02->intercepts[i] = h[i] | c12->intercepts[i];
    if (nested_vls_enabled(l0)) {
        if (!vmcb_is_intercept(c12, SVM_EXIT_VMLOAD))
            vmcb_clr_intercept(c02, SVM_EXIT_VMLOAD);
        if (!vmcb_is_intercept(c12, SVM_EXIT_VMSAVE))
            vmcb_clr_intercept(c02, SVM_EXIT_VMSAVE);
    } else {
        vmcb_set_intercept(c02, SVM_EXIT_VMLOAD);
        vmcb_set_intercept(c02, SVM_EXIT_VMSAVE);
    }
}

void nested_sync_int_ctl(struct l0 *l0)
{
    uint32_t *c12 = &l0->nested.ctl.int_ctl;
    /* V_GIF is L1's to see only under its own V_GIF_ENABLE. */
    uint32_t written = SVM_INT_CTL_WRITTEN & ~(nested_vgif_enabled(l0) ? 0 : SVM_INT_CTL_V_GIF);
    *c12 = (*c12 & ~written) | (l0->vmcb02->control.int_ctl & written);
}

void nested_restore_virq(struct l0 *l0)
{
    struct vmcb_control_area *c02 = &l0->vmcb02->control;
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    c02->int_ctl = (c02->int_ctl & ~SVM_INT_CTL_VIRQ_BITS) |
                   (c12->int_ctl & SVM_INT_CTL_VIRQ_BITS);
    c02->int_vector = c12->int_vector;
    if (vmcb_is_intercept(c12, SVM_EXIT_VINTR))
        vmcb_set_intercept(c02, SVM_EXIT_VINTR);
}

static void nested_vmcb02_prepare_control(struct l0 *l0)
{
    struct vmcb_control_area *c02 = &l0->vmcb02->control;
    const struct vmcb_control_area *c01 = &l0->vmcb01->control;
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    l0_irq_window_close(l0); /* L0's window on vmcb01 is not L2's */
    memset(c02, 0, sizeof(*c02));
    recalc_intercepts(l0);
    /* L0's permission maps intercept every port and MSR: L0 then asks L1's
     * maps (nested_svm_intercept_ioio/msr) who gets the exit. */
    c02->asid = VMCB02_ASID;
    c02->tsc_offset = c01->tsc_offset + c12->tsc_offset;
    /* L0 has no pause filter of its own: L2's is L1's. */
    c02->pause_filter_count = c12->pause_filter_count;
    c02->pause_filter_thresh = c12->pause_filter_thresh;
    /* L2 runs under one ASID of L0's whatever vmcb12 says, so any flush L1
     * asks for is a flush of that ASID (TLB_CONTROL 3), never of L1's. */
    c02->tlb_ctl = c12->tlb_ctl ? 3 : 0;
    /* L2's virtual interrupt and V_TPR are vmcb12's; V_INTR_MASKING is
     * L0's (vmcb01's): the host's interrupts always exit, and L0 decides
     * by vmcb12's bit whether L2's IF holds L1's. */
    c02->int_ctl = (c12->int_ctl & (SVM_INT_CTL_V_TPR_MASK | SVM_INT_CTL_VIRQ_BITS)) |
                   (c01->int_ctl & SVM_INT_CTL_V_INTR_MASKING);
    if (nested_vgif_enabled(l0))
        c02->int_ctl |= c12->int_ctl & (SVM_INT_CTL_V_GIF_ENABLE | SVM_INT_CTL_V_GIF);
    c02->int_vector = c12->int_vector;
    c02->int_state = c12->int_state & SVM_INT_STATE_SHADOW;
    c02->event_inj = c12->event_inj;
    c02->event_inj_err = c12->event_inj_err;
    /* A software interrupt injected with NRIPS returns to vmcb12's next_rip. */
    c02->next_rip = c12->next_rip;
    if (nested_npt_enabled(l0)) {
        c02->nested_ctl = SVM_NESTED_CTL_NP_ENABLE | (c12->nested_ctl & SVM_NESTED_CTL_GMET);
        c02->nested_cr3 = c12->nested_cr3;
        /* L1's tables, walked in L1's paging mode: vmcb01's EFER and CR4,
         * as KVM's nested_svm_init_mmu_context builds the nested NPT MMU. */
        cpu_set_npt_host(l0->cpu, l0->vmcb01->save.efer, l0->vmcb01->save.cr4);
    }
    if (nested_vls_enabled(l0))
        c02->virt_ext = SVM_VIRT_EXT_VLS_ENABLE;
}

static void nested_vmcb02_prepare_save(struct l0 *l0)
{
    struct vmcb_save_area *s02 = &l0->vmcb02->save;
    const struct vmcb_save_area *s12 = &l0->nested.save;
    const struct vmcb_save_area *s01 = &l0->vmcb01->save;
    s02->es = s12->es;
    s02->cs = s12->cs;
    s02->ss = s12->ss;
    s02->ds = s12->ds;
    s02->gdtr = s12->gdtr;
    s02->idtr = s12->idtr;
    s02->efer = s12->efer;
    s02->cr0 = s12->cr0;
    s02->cr3 = s12->cr3;
    s02->cr4 = s12->cr4;
    s02->cr2 = s12->cr2;
    s02->rflags = s12->rflags | X86_RFLAGS_FIXED;
    s02->rip = s12->rip;
    s02->rsp = s12->rsp;
    s02->rax = s12->rax;
    s02->dr6 = s12->dr6;
    s02->dr7 = s12->dr7;
    s02->cpl = s12->cpl;
    /* With nested paging L2 has its own PAT (vmcb12's G_PAT). */
    s02->g_pat = nested_npt_enabled(l0) ? s12->g_pat : s01->g_pat;
    /* The last branch record: vmcb12's under its LBR virtualization, else
     * L1's, which L2 then shares (KVM's svm_copy_lbrs). */
    vmcb_copy_lbrs(s02, nested_lbrv_enabled(l0) ? s12 : s01);
    /* VMRUN leaves FS, GS, TR, LDTR and the syscall MSRs alone: L2 starts
     * with what L1 has (usually what L1 just VMLOADed). */
    vmcb_copy_vmload_state(s02, s01);
}

/* ---- §3.3: VMRUN */

static void check_model(const struct l0 *l0, struct svm_check_model *m)
{
    cpu_svm_check_model(l0->cpu, m);
}

/* Step 6 failed: vmcb12 says SVM_EXIT_ERR and L1 goes on after its VMRUN. */
static int nested_vmrun_failed(struct l0 *l0, uint64_t vmcb12_gpa, const char *why)
{
    struct vmcb *w = (struct vmcb *)gmem_ptr(l0->cpu->mem, vmcb12_gpa, sizeof(struct vmcb));
    w->control.exit_code = SVM_EXIT_ERR;
    w->control.exit_info_1 = 0;
    w->control.exit_info_2 = 0;
    w->control.event_inj = 0;
    w->control.event_inj_err = 0;
    cpu_notify_phys_write(l0->cpu, vmcb12_gpa, sizeof(struct vmcb));
    l0->gif = false;
    if (l0_skip_insn(l0) != 0)
        return 0;
    if (l0->tracing)
        snprintf(l0->rec.check, sizeof(l0->rec.check), "%s", why);
    l0_decide(l0, SVMSIM_DECISION_VMRUN_FAILED,
              "nested VMRUN of vmcb12 0x%llx failed: %s -> SVM_EXIT_ERR",
              (unsigned long long)vmcb12_gpa, why);
    return 1;
}

int nested_svm_vmrun(struct l0 *l0, uint64_t vmcb12_gpa, const struct vmcb *vmcb12)
{
    struct nested_state *n = &l0->nested;
    trace_vmcb12(l0, vmcb12_gpa);
    /* 5: later checks and the entry read only the cache. */
    memcpy(&n->ctl, &vmcb12->control, sizeof(n->ctl));
    memcpy(&n->save, &vmcb12->save, sizeof(n->save));

    /* 6: consistency checks. */
    struct svm_check_model m;
    check_model(l0, &m);
    enum svm_check bad = svm_check_vmrun(&n->ctl, &n->save, &m);
    if (bad != SVM_CHECK_OK)
        return nested_vmrun_failed(l0, vmcb12_gpa, svm_check_name(bad));
    /* KVM merges L1's MSRPM into its own at VMRUN (nested_svm_vmrun_msrpm)
     * when L1 intercepts MSRs; a map it cannot read fails the VMRUN. */
    if (vmcb_is_intercept(&n->ctl, SVM_EXIT_MSR) &&
        !gmem_is_ram(l0->cpu->mem, n->ctl.msrpm_base_pa & ~0xfffull, SVM_MSRPM_SIZE))
        return nested_vmrun_failed(l0, vmcb12_gpa, "MSRPM not readable");

    /* 7: L1 resumes after the VMRUN when L2 exits; vmcb01 keeps L1's EFER,
     * CR0, CR4, RFLAGS, RSP, RAX and CR3 as the CPU stored them. VMRUN's
     * single-step trap is L1's after the #VMEXIT (nested_svm_vmexit). */
    if (l0_skip_insn_quiet(l0) != 0)
        return 0;
    l0->vmcb01->save.rflags &= ~X86_RFLAGS_RF;
    n->vmcb12_gpa = vmcb12_gpa;
    nested_vmcb02_prepare_control(l0);
    nested_vmcb02_prepare_save(l0);
    n->guest_mode = true;
    l0->vmcb = l0->vmcb02;
    l0->gif = true;
    if (l0->tracing) {
        l0->rec.asid = n->ctl.asid;
        memcpy(l0->rec.intercepts, l0->vmcb02->control.intercepts, sizeof(l0->rec.intercepts));
    }
    l0_decide(l0, SVMSIM_DECISION_NESTED_VMRUN,
              "nested VMRUN of vmcb12 0x%llx: L2 enters at RIP 0x%llx (ASID %u)",
              (unsigned long long)vmcb12_gpa, (unsigned long long)n->save.rip, n->ctl.asid);
    return 1;
}

/* ---- §4.3: who gets an exit of L2 */

bool nested_exit_is_l0s(const struct l0 *l0, uint64_t code)
{
    switch (code) {
    case SVM_EXIT_INTR:
    case SVM_EXIT_NMI:
        return true;
    default:
        if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32)
            return vmcb_is_intercept(&l0->vmcb01->control, (unsigned)code);
        return false;
    }
}

/* Reads len bytes of L1 memory; false when any of it is not RAM. */
static bool read_l1(const struct l0 *l0, uint64_t gpa, void *buf, size_t len)
{
    const uint8_t *p = gmem_ptr(l0->cpu->mem, gpa, len);
    if (!p)
        return false;
    memcpy(buf, p, len);
    return true;
}

/* IOIO: L1's IOPM bits for every port of the access (KVM's
 * nested_svm_intercept_ioio). A map L0 cannot read sends the exit to L1. */
static bool nested_intercepts_ioio(const struct l0 *l0)
{
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    if (!vmcb_is_intercept(c12, SVM_EXIT_IOIO))
        return false;
    uint64_t info = l0->vmcb02->control.exit_info_1;
    unsigned port = (unsigned)(info >> SVM_IOIO_PORT_SHIFT) & 0xffff;
    unsigned size = (info >> SVM_IOIO_SIZE_SHIFT) & 7; /* one-hot 1/2/4 */
    unsigned first = port / 8, last = (port + size - 1) / 8;
    uint8_t bytes[2] = { 0, 0 };
    uint64_t base = c12->iopm_base_pa & ~0xfffull;
    if (!read_l1(l0, base + first, bytes, last - first + 1))
        return true;
    return svm_iopm_hit((uint16_t)(bytes[0] | (bytes[1] << 8)), (uint16_t)port, size);
}

/* MSR: L1's MSRPM bit for the MSR and direction; MSRs outside the map's
 * three ranges are always intercepted (KVM's nested_svm_exit_handled_msr). */
static bool nested_intercepts_msr(const struct l0 *l0)
{
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    if (!vmcb_is_intercept(c12, SVM_EXIT_MSR))
        return false;
    uint32_t msr = (uint32_t)l0->cpu->gpr[VCPU_REGS_RCX];
    bool write = l0->vmcb02->control.exit_info_1 & 1;
    uint32_t off;
    unsigned bit;
    uint8_t byte;
    if (!svm_msrpm_bit(msr, write, &off, &bit) ||
        !read_l1(l0, (c12->msrpm_base_pa & ~0xfffull) + off, &byte, 1))
        return true;
    return (byte >> bit) & 1;
}

/* KVM's nested_svm_intercept: does L1 want this exit? */
static bool nested_svm_intercept(const struct l0 *l0, uint64_t code)
{
    const struct vmcb_control_area *c12 = &l0->nested.ctl;
    switch (code) {
    case SVM_EXIT_IOIO:
        return nested_intercepts_ioio(l0);
    case SVM_EXIT_MSR:
        return nested_intercepts_msr(l0);
    case SVM_EXIT_VMRUN:
    case SVM_EXIT_NPF:
        return true;
    case SVM_EXIT_ERR:
        return false;
    default:
        if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32)
            return true; /* vmcb02 has it only because vmcb12 asked */
        return code <= SVM_EXIT_LAST_BITMAPPED && vmcb_is_intercept(c12, (unsigned)code);
    }
}

bool nested_svm_exit_handled(struct l0 *l0, int *resume)
{
    uint64_t code = l0->vmcb02->control.exit_code;
    if (nested_exit_is_l0s(l0, code) || !nested_svm_intercept(l0, code))
        return false;
    *resume = nested_svm_vmexit(l0);
    return true;
}

/* ---- §4.4: #VMEXIT to L1 */

int nested_svm_vmexit(struct l0 *l0)
{
    struct nested_state *n = &l0->nested;
    struct vmcb *v02 = l0->vmcb02, *v01 = l0->vmcb01;
    uint64_t gpa = n->vmcb12_gpa;
    struct vmcb *vmcb12 = (struct vmcb *)gmem_ptr(l0->cpu->mem, gpa, sizeof(struct vmcb));
    const struct vmcb_control_area *c02 = &v02->control;

    if (l0->tracing) {
        l0->rec.decision = SVMSIM_DECISION_REFLECTED;
        l0->rec.reflected_code = c02->exit_code;
        l0->rec.reflected_info_1 = c02->exit_info_1;
        l0->rec.reflected_info_2 = c02->exit_info_2;
        l0->rec.reflected_int_info = c02->exit_int_info;
        l0->rec.vmcb12_gpa = gpa;
        if (!l0->rec.detail[0])
            snprintf(l0->rec.detail, sizeof(l0->rec.detail), "reflected to L1 as #VMEXIT(%s)",
                     svm_exit_name(c02->exit_code));
    }
    if (!vmcb12) {
        /* KVM cannot map vmcb12: the exit cannot be delivered. */
        l0_decide(l0, SVMSIM_DECISION_END, "vmcb12 0x%llx is not RAM: L1 shuts down",
                  (unsigned long long)gpa);
        return l0_end(l0, SVMSIM_END_SHUTDOWN, SVMSIM_STATUS_SHUTDOWN,
                      "shutdown: #VMEXIT cannot be written to vmcb12 0x%llx (not RAM)",
                      (unsigned long long)gpa);
    }

    l0->halted = false; /* an L2 waiting in HLT that L0 emulated: L1 runs on */
    struct vmcb_save_area *s12 = &vmcb12->save;
    const struct vmcb_save_area *s02 = &v02->save;
    s12->es = s02->es;
    s12->cs = s02->cs;
    s12->ss = s02->ss;
    s12->ds = s02->ds;
    s12->gdtr = s02->gdtr;
    s12->idtr = s02->idtr;
    s12->efer = s02->efer;
    s12->cr0 = s02->cr0;
    s12->cr2 = s02->cr2;
    s12->cr3 = s02->cr3;
    s12->cr4 = s02->cr4;
    s12->rflags = s02->rflags;
    s12->rip = s02->rip;
    s12->rsp = s02->rsp;
    s12->rax = s02->rax;
    s12->dr6 = s02->dr6;
    s12->dr7 = s02->dr7;
    s12->cpl = s02->cpl;

    struct vmcb_control_area *c12 = &vmcb12->control;
    /* V_IRQ and V_TPR as L2 left them, unless L0's window holds vmcb02's
     * (then as L1 gave them). */
    l0_irq_window_close(l0);
    nested_sync_int_ctl(l0);
    c12->int_ctl = n->ctl.int_ctl;
    c12->int_state = c02->int_state;
    c12->exit_code = c02->exit_code;
    c12->exit_info_1 = c02->exit_info_1;
    c12->exit_info_2 = c02->exit_info_2;
    c12->exit_int_info = c02->exit_int_info;
    c12->exit_int_info_err = c02->exit_int_info_err;
    /* An event L0 was giving back to L2 (the exit L0 handled interrupted
     * its delivery) was not delivered: L1 learns of it in EXITINTINFO, as
     * KVM's nested_save_pending_event_to_vmcb12 does. Nothing L0 queued for
     * L2 may reach L1 itself. */
    if (l0->interrupted.valid && !(c12->exit_int_info & SVM_EVTINJ_VALID)) {
        c12->exit_int_info = l0->interrupted.info;
        c12->exit_int_info_err = l0->interrupted.error;
    }
    l0->interrupted.valid = false;
    l0->exception.pending = false;
    c12->next_rip = c02->next_rip;
    c12->event_inj = 0;
    c12->event_inj_err = 0;
    /* The last branch record goes back where it came from. */
    vmcb_copy_lbrs(nested_lbrv_enabled(l0) ? s12 : &v01->save, s02);
    cpu_notify_phys_write(l0->cpu, gpa, sizeof(struct vmcb));

    /* #VMEXIT leaves FS, GS, TR, LDTR and the syscall MSRs as L2 had them. */
    vmcb_copy_vmload_state(&v01->save, s02);

    n->guest_mode = false;
    l0->vmcb = v01;
    l0->gif = false;
    /* L1's EFER, CR0, CR4, RFLAGS, RIP, RSP, RAX and CR3 are vmcb01's, as
     * they were at VMRUN; DR7 is reset and L1 runs at CPL 0. */
    v01->save.dr7 = 0x400;
    v01->save.cpl = 0;
    v01->control.event_inj = 0;
    /* A VMRUN single-stepped traps now, before L1's next instruction
     * (KVM's nested_svm_vmexit). */
    if (v01->save.rflags & X86_RFLAGS_TF)
        queue_exception(l0, X86_VEC_DB, false, 0);
    return 1;
}

int nested_svm_simple_vmexit(struct l0 *l0, uint64_t code)
{
    struct vmcb_control_area *c = &l0->vmcb02->control;
    c->exit_code = code;
    c->exit_info_1 = 0;
    c->exit_info_2 = 0;
    c->exit_int_info = 0;
    c->exit_int_info_err = 0;
    return nested_svm_vmexit(l0);
}

int nested_svm_insn_architectural(struct l0 *l0, uint64_t exit_code)
{
    if (vmcb_is_intercept(&l0->nested.ctl, (unsigned)exit_code))
        return nested_svm_simple_vmexit(l0, exit_code);
    /* VMRUN is always intercepted (a VMCB without it fails VMRUN), so this
     * is VMLOAD or VMSAVE, done for L2 as the hardware would. */
    bool load = exit_code == SVM_EXIT_VMLOAD;
    uint64_t gpa = svm_insn_gpa(l0);
    if ((l0->nested.ctl.virt_ext & SVM_VIRT_EXT_VLS_ENABLE) && nested_npt_enabled(l0)) {
        struct exc e;
        if (cpu_guest_phys(l0->cpu, gpa, !load, &gpa, &e) != 0)
            return nested_svm_npf_vmexit(l0, &e);
    }
    return svm_vmload_vmsave_page(l0, load, gpa);
}

int nested_svm_npf_vmexit(struct l0 *l0, const struct exc *e)
{
    struct vmcb_control_area *c = &l0->vmcb02->control;
    c->exit_code = SVM_EXIT_NPF;
    c->exit_info_1 = e->npf_info1;
    c->exit_info_2 = e->cr2;
    c->exit_int_info = 0;
    c->exit_int_info_err = 0;
    c->next_rip = 0;
    return nested_svm_vmexit(l0);
}

void nested_svm_leave(struct l0 *l0)
{
    if (is_guest_mode(l0)) {
        vmcb_copy_vmload_state(&l0->vmcb01->save, &l0->vmcb02->save);
        l0->vmcb = l0->vmcb01;
    }
    nested_init(l0);
}
