/* ops_svm.c — SVM instructions as the hardware executes them (APM vol. 3
 * "VMRUN", "VMLOAD", ...; vol. 2 §15.5).
 *
 * Check order for VMRUN/VMLOAD/VMSAVE: EFER.SVME=0 -> #UD; CPL != 0 ->
 * #GP(0); on a CPU with the RAX erratum (no SVME_ADDR_CHK), RAX inside a
 * host-reserved range -> #GP(0) *before* the intercept check (SPEC-GP.md §1);
 * then the intercept; then RAX alignment / MAXPHYADDR -> #GP(0).
 */
#include "cpu/ops.h"
#include "svmsim/arch/svm_exit.h"

#include <string.h>

static int svm_simple_checks(struct cpu *cpu)
{
    if (!(cpu->efer & X86_EFER_SVME) || cpu->mode == CPU_MODE_REAL)
        return raise_ud(cpu);
    if (cpu->cpl != 0)
        return raise_gp(cpu, 0);
    return STEP_OK;
}

/* RAX as VMRUN/VMLOAD/VMSAVE use it: EAX outside 64-bit mode (SPEC-GP.md
 * §1); an address-size prefix does not change it. */
static uint64_t svm_rax(const struct cpu *cpu, const struct insn *in)
{
    (void)in;
    return cpu->mode == CPU_MODE_LONG64 ? cpu->gpr[0] : (uint32_t)cpu->gpr[0];
}

static int svm_rax_insn(struct cpu *cpu, const struct insn *in, unsigned exit, uint64_t *pa)
{
    if (svm_simple_checks(cpu) != STEP_OK)
        return STEP_FAULT;
    uint64_t rax = svm_rax(cpu, in);
    if (cpu->model.rax_erratum && !cpu->model.svme_addr_chk &&
        rax >= cpu->model.reserved_start && rax <= cpu->model.reserved_end)
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    if ((rax & 0xfff) || (rax >> cpu->model.maxphyaddr))
        return raise_gp(cpu, 0);
    *pa = rax;
    return STEP_OK;
}

int op_vmrun(struct cpu *cpu, const struct insn *in)
{
    uint64_t pa = 0;
    int r = svm_rax_insn(cpu, in, SVM_EXIT_VMRUN, &pa);
    if (r != STEP_OK)
        return r;
    /* FIXME: VMRUN that no VMCB intercepts (a hypervisor running without a
     * host) is not modelled; every VMCB L0 runs intercepts VMRUN. */
    return raise_ud(cpu);
}

/* The state VMLOAD/VMSAVE move (APM vol. 3 "VMLOAD"). */
int op_vmload(struct cpu *cpu, const struct insn *in)
{
    uint64_t pa = 0;
    int r = svm_rax_insn(cpu, in, SVM_EXIT_VMLOAD, &pa);
    if (r != STEP_OK)
        return r;
    const struct vmcb *v = (const struct vmcb *)gmem_ptr(cpu->mem, pa, sizeof(struct vmcb));
    if (!v)
        return STEP_OK; /* FIXME: VMLOAD from non-RAM reads all ones */
    struct vmcb tmp;
    memcpy(&tmp, v, sizeof(tmp));
    const struct vmcb_save_area *sa = &tmp.save;
    struct seg *segs[4] = { &cpu->seg[SEG_FS], &cpu->seg[SEG_GS], &cpu->tr, &cpu->ldtr };
    const struct vmcb_seg *src[4] = { &sa->fs, &sa->gs, &sa->tr, &sa->ldtr };
    for (unsigned i = 0; i < 4; i++) {
        segs[i]->sel = src[i]->selector;
        segs[i]->attrib = src[i]->attrib;
        segs[i]->limit = src[i]->limit;
        segs[i]->base = canonicalize(src[i]->base);
    }
    cpu->kernel_gs_base = canonicalize(sa->kernel_gs_base);
    cpu->star = sa->star;
    cpu->lstar = canonicalize(sa->lstar);
    cpu->cstar = canonicalize(sa->cstar);
    cpu->sfmask = sa->sfmask;
    cpu->sysenter_cs = sa->sysenter_cs;
    cpu->sysenter_esp = sa->sysenter_esp;
    cpu->sysenter_eip = sa->sysenter_eip;
    return STEP_OK;
}

int op_vmsave(struct cpu *cpu, const struct insn *in)
{
    uint64_t pa = 0;
    int r = svm_rax_insn(cpu, in, SVM_EXIT_VMSAVE, &pa);
    if (r != STEP_OK)
        return r;
    struct vmcb *v = (struct vmcb *)gmem_ptr(cpu->mem, pa, sizeof(struct vmcb));
    if (!v)
        return STEP_OK; /* writes to non-RAM go nowhere */
    struct vmcb_save_area *sa = &v->save;
    const struct seg *segs[4] = { &cpu->seg[SEG_FS], &cpu->seg[SEG_GS], &cpu->tr, &cpu->ldtr };
    struct vmcb_seg *dst[4] = { &sa->fs, &sa->gs, &sa->tr, &sa->ldtr };
    for (unsigned i = 0; i < 4; i++) {
        struct vmcb_seg s = { segs[i]->sel, segs[i]->attrib, segs[i]->limit, segs[i]->base };
        memcpy(dst[i], &s, sizeof(s));
    }
    memcpy(&sa->kernel_gs_base, &cpu->kernel_gs_base, 8);
    memcpy(&sa->star, &cpu->star, 8);
    memcpy(&sa->lstar, &cpu->lstar, 8);
    memcpy(&sa->cstar, &cpu->cstar, 8);
    memcpy(&sa->sfmask, &cpu->sfmask, 8);
    memcpy(&sa->sysenter_cs, &cpu->sysenter_cs, 8);
    memcpy(&sa->sysenter_esp, &cpu->sysenter_esp, 8);
    memcpy(&sa->sysenter_eip, &cpu->sysenter_eip, 8);
    cpu_notify_phys_write(cpu, pa, sizeof(struct vmcb));
    return STEP_OK;
}

int op_vmmcall(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_VMMCALL))
        return svm_vmexit(cpu, SVM_EXIT_VMMCALL, 0, 0);
    return raise_ud(cpu);
}

static int gif_insn(struct cpu *cpu, unsigned exit, bool gif)
{
    if (svm_simple_checks(cpu) != STEP_OK)
        return STEP_FAULT;
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    cpu->gif = gif;
    return STEP_OK;
}

int op_stgi(struct cpu *cpu, const struct insn *in) { return gif_insn(cpu, SVM_EXIT_STGI, true); }
int op_clgi(struct cpu *cpu, const struct insn *in) { return gif_insn(cpu, SVM_EXIT_CLGI, false); }

/* SKINIT is not offered by the model's CPUID: #UD before any intercept. */
int op_skinit(struct cpu *cpu, const struct insn *in)
{
    return raise_ud(cpu);
}

int op_invlpga(struct cpu *cpu, const struct insn *in)
{
    if (svm_simple_checks(cpu) != STEP_OK)
        return STEP_FAULT;
    if (svm_intercepted(cpu, SVM_EXIT_INVLPGA))
        return svm_vmexit(cpu, SVM_EXIT_INVLPGA, 0, 0);
    tlb_flush_page(cpu, svm_rax(cpu, in));
    icache_flush(cpu);
    return STEP_OK;
}
