/* ops_svm.c — SVM instructions as the hardware executes them (APM vol. 3
 * "VMRUN", "VMLOAD", ...; vol. 2 §15.5).
 *
 * Check order for VMRUN/VMLOAD/VMSAVE: EFER.SVME=0 -> #UD; CPL != 0 ->
 * #GP(0); on a CPU with the RAX erratum (no SVME_ADDR_CHK), RAX inside a
 * host-reserved range -> #GP(0) *before* the intercept check (SPEC-GP.md §1);
 * then the intercept; then RAX alignment / MAXPHYADDR -> #GP(0).
 */
#include "cpu/ops.h"
#include "svm/svm.h"
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

/* RAX as VMRUN/VMLOAD/VMSAVE use it: its width is the effective address
 * size (APM vol. 3 "VMRUN": rAX), so EAX outside 64-bit mode (SPEC-GP.md
 * §1) and with an address-size prefix in 64-bit mode. */
static uint64_t svm_rax(const struct cpu *cpu, const struct insn *in)
{
    return cpu->gpr[0] & size_mask(in->asize);
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

/* VMLOAD/VMSAVE move the state svm.h lists between the CPU and the page. */
static int vmload_vmsave(struct cpu *cpu, const struct insn *in, unsigned exit, bool load)
{
    uint64_t pa = 0;
    int r = svm_rax_insn(cpu, in, exit, &pa);
    if (r != STEP_OK)
        return r;
    /* Virtual VMLOAD/VMSAVE: RAX is a guest physical address, translated
     * through the nested page tables (APM vol. 2 §15.33.1). */
    if (cpu->npt && cpu->model.vls && (cpu->vmcb->control.virt_ext & SVM_VIRT_EXT_VLS_ENABLE) &&
        npt_translate(cpu, pa, load ? ACC_READ : ACC_WRITE, false, &pa, NULL) != 0)
        return STEP_FAULT;
    struct vmcb *page = (struct vmcb *)gmem_ptr(cpu->mem, pa, sizeof(struct vmcb));
    struct vmcb_save_area cur, mem;
    flags_get(cpu);
    svm_store_save_area(cpu, &cur);
    if (page)
        memcpy(&mem, &page->save, sizeof(mem));
    else
        memset(&mem, 0xff, sizeof(mem)); /* no RAM: reads float high */
    if (load) {
        vmcb_copy_vmload_state(&cur, &mem);
        vmcb_canonicalize_vmload_state(&cur);
        svm_load_save_area(cpu, &cur);
    } else if (page) { /* writes to non-RAM go nowhere */
        vmcb_copy_vmload_state(&mem, &cur);
        memcpy(&page->save, &mem, sizeof(mem));
        cpu_notify_phys_write(cpu, pa, sizeof(struct vmcb));
    }
    return STEP_OK;
}

int op_vmload(struct cpu *cpu, const struct insn *in)
{
    return vmload_vmsave(cpu, in, SVM_EXIT_VMLOAD, true);
}

int op_vmsave(struct cpu *cpu, const struct insn *in)
{
    return vmload_vmsave(cpu, in, SVM_EXIT_VMSAVE, false);
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
    /* Under V_GIF_ENABLE the guest's GIF is V_GIF (APM vol. 2 §15.33). */
    if (cpu->int_ctl & SVM_INT_CTL_V_GIF_ENABLE) {
        cpu->int_ctl = gif ? cpu->int_ctl | SVM_INT_CTL_V_GIF : cpu->int_ctl & ~SVM_INT_CTL_V_GIF;
        cpu_update_slow(cpu);
        return STEP_OK;
    }
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
    /* The page of the ASID in ECX, which need not be the running one: the
     * model drops every context's translations of it, and more. */
    tlb_flush_all(cpu);
    icache_flush_all(cpu);
    return STEP_OK;
}
