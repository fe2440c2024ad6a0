/* ops_system.c — privileged and system instructions: HLT CLI STI CPUID
 * RDTSC(P) RDPMC RDMSR WRMSR, MOV to/from CR/DR/Sreg, descriptor-table
 * loads and stores, LTR/LLDT/STR/SLDT, INVLPG, SWAPGS, CLTS, LMSW/SMSW,
 * PAUSE, INVD/WBINVD, XSETBV, UD2.
 *
 * Order of checks per instruction: #UD, then privilege (#GP), then the SVM
 * intercept, then the operation's own faults (APM vol. 2 §15.7: intercepts
 * are checked after the exceptions the instruction checks first).
 */
#include "cpu/ops.h"
#include "svmsim/arch/svm_exit.h"

static bool cpl0(const struct cpu *cpu)
{
    return cpu->cpl == 0;
}

int op_hlt(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_HLT))
        return svm_vmexit(cpu, SVM_EXIT_HLT, 0, 0);
    return STEP_HALT;
}

static bool io_privileged(const struct cpu *cpu)
{
    unsigned iopl = (cpu->rflags & X86_RFLAGS_IOPL) >> X86_RFLAGS_IOPL_SHIFT;
    return cpu->mode == CPU_MODE_REAL || cpu->cpl <= iopl;
}

int op_cli(struct cpu *cpu, const struct insn *in)
{
    if (!io_privileged(cpu))
        return raise_gp(cpu, 0);
    cpu->rflags &= ~X86_RFLAGS_IF;
    cpu_update_slow(cpu);
    return STEP_OK;
}

int op_sti(struct cpu *cpu, const struct insn *in)
{
    if (!io_privileged(cpu))
        return raise_gp(cpu, 0);
    if (!(cpu->rflags & X86_RFLAGS_IF)) {
        cpu->rflags |= X86_RFLAGS_IF;
        cpu->int_shadow = true;
        cpu_set_slow(cpu, true);
    }
    return STEP_OK;
}

int op_cpuid(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_CPUID))
        return svm_vmexit(cpu, SVM_EXIT_CPUID, 0, 0);
    uint32_t r[4];
    cpu_cpuid(cpu, (uint32_t)cpu->gpr[0], (uint32_t)cpu->gpr[1], r);
    cpu->gpr[0] = r[0];
    cpu->gpr[3] = r[1];
    cpu->gpr[1] = r[2];
    cpu->gpr[2] = r[3];
    return STEP_OK;
}

static void edx_eax(struct cpu *cpu, uint64_t v)
{
    cpu->gpr[0] = (uint32_t)v;
    cpu->gpr[2] = v >> 32;
}

int op_rdtsc(struct cpu *cpu, const struct insn *in)
{
    if ((cpu->cr4 & X86_CR4_TSD) && !cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_RDTSC))
        return svm_vmexit(cpu, SVM_EXIT_RDTSC, 0, 0);
    edx_eax(cpu, cpu_host_tsc(cpu) + cpu->tsc_offset);
    return STEP_OK;
}

int op_rdtscp(struct cpu *cpu, const struct insn *in)
{
    if (cpu->model.no_rdtscp)
        return raise_ud(cpu);
    if ((cpu->cr4 & X86_CR4_TSD) && !cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_RDTSCP))
        return svm_vmexit(cpu, SVM_EXIT_RDTSCP, 0, 0);
    edx_eax(cpu, cpu_host_tsc(cpu) + cpu->tsc_offset);
    cpu->gpr[1] = (uint32_t)cpu->tsc_aux;
    return STEP_OK;
}

/* Four legacy performance counters (PerfCtr0-3); none is programmed, so
 * they read zero. */
int op_rdpmc(struct cpu *cpu, const struct insn *in)
{
    uint32_t ecx = (uint32_t)cpu->gpr[1];
    if (!(cpu->cr4 & X86_CR4_PCE) && !cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_RDPMC))
        return svm_vmexit(cpu, SVM_EXIT_RDPMC, 0, 0);
    if (ecx > 3)
        return raise_gp(cpu, 0);
    edx_eax(cpu, 0);
    return STEP_OK;
}


/* The MSRs the hardware itself holds, for accesses no MSRPM intercepts. */
static int msr_read(struct cpu *cpu, uint32_t msr, uint64_t *v)
{
    switch (msr) {
    case MSR_IA32_TSC: *v = cpu_host_tsc(cpu) + cpu->tsc_offset; return 0;
    case MSR_IA32_SYSENTER_CS: *v = cpu->sysenter_cs; return 0;
    case MSR_IA32_SYSENTER_ESP: *v = cpu->sysenter_esp; return 0;
    case MSR_IA32_SYSENTER_EIP: *v = cpu->sysenter_eip; return 0;
    case MSR_IA32_DEBUGCTL: *v = cpu->dbgctl; return 0;
    case MSR_IA32_LASTBRANCHFROMIP: *v = cpu->br_from; return 0;
    case MSR_IA32_LASTBRANCHTOIP: *v = cpu->br_to; return 0;
    case MSR_IA32_LASTINTFROMIP: *v = cpu->excp_from; return 0;
    case MSR_IA32_LASTINTTOIP: *v = cpu->excp_to; return 0;
    case MSR_IA32_CR_PAT: *v = cpu->pat; return 0;
    case MSR_EFER: *v = cpu->efer; return 0;
    case MSR_STAR: *v = cpu->star; return 0;
    case MSR_LSTAR: *v = cpu->lstar; return 0;
    case MSR_CSTAR: *v = cpu->cstar; return 0;
    case MSR_SYSCALL_MASK: *v = cpu->sfmask; return 0;
    case MSR_FS_BASE: *v = cpu->seg[SEG_FS].base; return 0;
    case MSR_GS_BASE: *v = cpu->seg[SEG_GS].base; return 0;
    case MSR_KERNEL_GS_BASE: *v = cpu->kernel_gs_base; return 0;
    case MSR_TSC_AUX: *v = cpu->tsc_aux; return 0;
    case MSR_VM_CR: *v = cpu->vm_cr; return 0;
    case MSR_VM_HSAVE_PA: *v = cpu->vm_hsave_pa; return 0;
    default: return -1;
    }
}

static int msr_write(struct cpu *cpu, uint32_t msr, uint64_t v)
{
    switch (msr) {
    case MSR_IA32_SYSENTER_CS: cpu->sysenter_cs = v; return 0;
    case MSR_IA32_SYSENTER_ESP: cpu->sysenter_esp = v; return 0;
    case MSR_IA32_SYSENTER_EIP: cpu->sysenter_eip = v; return 0;
    case MSR_IA32_DEBUGCTL:
        cpu->dbgctl = v;
        cpu_update_slow(cpu); /* branches are recorded on the careful path */
        return 0;
    case MSR_IA32_CR_PAT: cpu->pat = v; return 0;
    case MSR_EFER: {
        if (v & ~CPU_EFER_VALID)
            return -1;
        bool paging = cpu->cr0 & X86_CR0_PG;
        if (paging && ((v ^ cpu->efer) & X86_EFER_LME))
            return -1;
        /* LMA is read-only: the CPU sets it when paging is enabled with LME. */
        cpu->efer = (v & ~X86_EFER_LMA) | (cpu->efer & X86_EFER_LMA);
        tlb_flush(cpu);
        icache_flush(cpu);
        cpu_update_mode(cpu);
        return 0;
    }
    case MSR_STAR: cpu->star = v; return 0;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!is_canonical(v))
            return -1;
        if (msr == MSR_LSTAR) cpu->lstar = v;
        else if (msr == MSR_CSTAR) cpu->cstar = v;
        else if (msr == MSR_FS_BASE) cpu->seg[SEG_FS].base = v;
        else if (msr == MSR_GS_BASE) cpu->seg[SEG_GS].base = v;
        else cpu->kernel_gs_base = v;
        return 0;
    case MSR_SYSCALL_MASK: cpu->sfmask = (uint32_t)v; return 0;
    case MSR_TSC_AUX: cpu->tsc_aux = (uint32_t)v; return 0;
    case MSR_VM_CR:
        if (v & ~MSR_VM_CR_VALID_MASK)
            return -1;
        cpu->vm_cr = v;
        return 0;
    case MSR_VM_HSAVE_PA:
        if (v & 0xfff)
            return -1;
        cpu->vm_hsave_pa = v;
        return 0;
    default:
        return -1;
    }
}

int op_rdmsr(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    uint32_t msr = (uint32_t)cpu->gpr[1];
    if (svm_msr_intercepted(cpu, msr, false))
        return svm_vmexit(cpu, SVM_EXIT_MSR, 0, 0);
    uint64_t v;
    if (msr_read(cpu, msr, &v) != 0)
        return raise_gp(cpu, 0);
    edx_eax(cpu, v);
    return STEP_OK;
}

int op_wrmsr(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    uint32_t msr = (uint32_t)cpu->gpr[1];
    if (svm_msr_intercepted(cpu, msr, true))
        return svm_vmexit(cpu, SVM_EXIT_MSR, 1, 0);
    uint64_t v = (cpu->gpr[0] & 0xffffffffull) | (cpu->gpr[2] << 32);
    if (msr_write(cpu, msr, v) != 0)
        return raise_gp(cpu, 0);
    return STEP_OK;
}

#define CR0_MBZ 0xffffffff00000000ull      /* #GP if set */
#define CR0_IGNORED 0x1ffaffc0ull          /* reserved low bits: written as 0 */

/* Loads CR0 with the architectural checks (APM vol. 2 §3.1.1, §14.6.1). */
static int cr0_write(struct cpu *cpu, uint64_t v)
{
    if (v & CR0_MBZ)
        return raise_gp(cpu, 0);
    v = (v & ~CR0_IGNORED) | X86_CR0_ET;
    if ((v & X86_CR0_NW) && !(v & X86_CR0_CD))
        return raise_gp(cpu, 0);
    if ((v & X86_CR0_PG) && !(v & X86_CR0_PE))
        return raise_gp(cpu, 0);
    uint64_t efer = cpu->efer;
    bool pg_on = (v & X86_CR0_PG) && !(cpu->cr0 & X86_CR0_PG);
    bool pg_off = !(v & X86_CR0_PG) && (cpu->cr0 & X86_CR0_PG);
    if (pg_on && (efer & X86_EFER_LME)) {
        if (!(cpu->cr4 & X86_CR4_PAE))
            return raise_gp(cpu, 0);
        if (cpu->seg[SEG_CS].attrib & VMCB_ATTR_L)
            return raise_gp(cpu, 0);
        efer |= X86_EFER_LMA;
    }
    if (pg_off && (efer & X86_EFER_LMA)) {
        if (cpu->mode == CPU_MODE_LONG64)
            return raise_gp(cpu, 0);
        efer &= ~X86_EFER_LMA;
    }
    cpu->cr0 = v;
    cpu->efer = efer;
    tlb_flush(cpu);
    icache_flush(cpu);
    cpu_update_mode(cpu);
    return STEP_OK;
}

/* The selective CR0 write intercept (APM vol. 2 §15.9.1): a MOV to CR0
 * that changes any bit but TS and MP exits with CR0_SEL_WRITE, after the
 * plain CR0 write intercept and before the write's own checks. */
static bool cr0_sel_intercepted(const struct cpu *cpu, uint64_t v)
{
    return svm_intercepted(cpu, SVM_EXIT_CR0_SEL_WRITE) &&
           ((cpu->cr0 ^ v) & ~(uint64_t)(X86_CR0_TS | X86_CR0_MP));
}

static int cr_write(struct cpu *cpu, unsigned n, uint64_t v)
{
    switch (n) {
    case 0:
        return cr0_write(cpu, v);
    case 2:
        cpu->cr2 = v;
        return STEP_OK;
    case 3:
        /* Without PCIDE (not offered) bit 63 is reserved like 62:MAXPHYADDR. */
        if ((cpu->efer & X86_EFER_LMA) && (v >> cpu->model.maxphyaddr))
            return raise_gp(cpu, 0);
        cpu->cr3 = v;
        tlb_flush(cpu);
        icache_flush(cpu);
        return STEP_OK;
    case 4:
        if (v & ~CPU_CR4_VALID)
            return raise_gp(cpu, 0);
        if ((cpu->efer & X86_EFER_LMA) && !(v & X86_CR4_PAE))
            return raise_gp(cpu, 0);
        cpu->cr4 = v;
        tlb_flush(cpu);
        icache_flush(cpu);
        return STEP_OK;
    case 8:
        if (v & ~0xfull)
            return raise_gp(cpu, 0);
        /* Under V_INTR_MASKING the guest's CR8 is V_TPR (APM vol. 2
         * §15.21.1); a lower one may let the virtual interrupt in. */
        if (cpu->int_ctl & SVM_INT_CTL_V_INTR_MASKING) {
            cpu->int_ctl = (cpu->int_ctl & ~SVM_INT_CTL_V_TPR_MASK) | (uint32_t)v;
            cpu_update_slow(cpu);
        } else {
            cpu->cr8 = v;
        }
        return STEP_OK;
    default:
        return raise_ud(cpu);
    }
}

int op_mov_cr(struct cpu *cpu, const struct insn *in)
{
    bool to_cr = opnd_is_class(&in->op[0], REGCLASS_CR);
    const struct opnd *cr = to_cr ? &in->op[0] : &in->op[1];
    const struct opnd *g = to_cr ? &in->op[1] : &in->op[0];
    unsigned n = cr->sreg;
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8)
        return raise_ud(cpu);
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, (to_cr ? SVM_EXIT_WRITE_CR0 : SVM_EXIT_READ_CR0) + n)) {
        /* EXITINFO1 bit 63 = MOV CRn (decode assist); low bits the GPR. */
        return svm_vmexit(cpu, (to_cr ? SVM_EXIT_WRITE_CR0 : SVM_EXIT_READ_CR0) + n,
                          (1ull << 63) | g->reg, 0);
    }
    if (to_cr) {
        uint64_t v = gpr_read(cpu, g);
        if (n == 0 && cr0_sel_intercepted(cpu, v))
            return svm_vmexit(cpu, SVM_EXIT_CR0_SEL_WRITE, (1ull << 63) | g->reg, 0);
        return cr_write(cpu, n, v);
    }
    uint64_t v;
    switch (n) {
    case 0: v = cpu->cr0; break;
    case 2: v = cpu->cr2; break;
    case 3: v = cpu->cr3; break;
    case 4: v = cpu->cr4; break;
    default:
        v = (cpu->int_ctl & SVM_INT_CTL_V_INTR_MASKING) ? cpu->int_ctl & SVM_INT_CTL_V_TPR_MASK
                                                        : cpu->cr8;
        break;
    }
    gpr_write_sized(cpu, g->reg, g->size, v);
    return STEP_OK;
}

int op_mov_dr(struct cpu *cpu, const struct insn *in)
{
    bool to_dr = opnd_is_class(&in->op[0], REGCLASS_DR);
    const struct opnd *dr = to_dr ? &in->op[0] : &in->op[1];
    const struct opnd *g = to_dr ? &in->op[1] : &in->op[0];
    unsigned n = dr->sreg;
    if (n > 7 || ((n == 4 || n == 5) && (cpu->cr4 & X86_CR4_DE)))
        return raise_ud(cpu);
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    /* DR4/DR5 are intercepted as themselves, then alias DR6/DR7. */
    uint64_t code = (to_dr ? SVM_EXIT_WRITE_DR0 : SVM_EXIT_READ_DR0) + n;
    if (svm_intercepted(cpu, (unsigned)code))
        return svm_vmexit(cpu, code, g->reg, 0);
    if (n == 4 || n == 5)
        n += 2;
    if (to_dr) {
        uint64_t v = gpr_read(cpu, g);
        if ((n == 6 || n == 7) && (v >> 32))
            return raise_gp(cpu, 0);
        if (n == 6)
            v = (v & 0xf00full) | 0xffff0ff0ull;
        else if (n == 7)
            v = (v & ~0xd800ull) | 0x400;
        cpu->dr[n] = v;
        if (n == 7)
            cpu_update_slow(cpu); /* instruction breakpoints are looked for there */
    } else {
        gpr_write_sized(cpu, g->reg, g->size, cpu->dr[n]);
    }
    return STEP_OK;
}

int op_mov_seg(struct cpu *cpu, const struct insn *in)
{
    bool to_seg = opnd_is_class(&in->op[0], REGCLASS_SEG);
    if (!to_seg) {
        uint64_t sel = cpu->seg[in->op[1].sreg].sel;
        const struct opnd *d = &in->op[0];
        /* To a register the selector is zero-extended to the operand size. */
        if (d->type == OPND_REG)
            return gpr_write(cpu, d, sel), STEP_OK;
        return vmem_write(cpu, d->seg, opnd_ea(cpu, in, d), 2, sel) != 0 ? STEP_FAULT : STEP_OK;
    }
    unsigned seg = in->op[0].sreg;
    if (seg == SEG_CS)
        return raise_ud(cpu);
    uint64_t sel;
    const struct opnd *s = &in->op[1];
    if (s->type == OPND_REG)
        sel = cpu->gpr[s->reg] & 0xffff;
    else if (vmem_read(cpu, s->seg, opnd_ea(cpu, in, s), 2, &sel) != 0)
        return STEP_FAULT;
    if (seg_load(cpu, seg, (uint16_t)sel) != STEP_OK)
        return STEP_FAULT;
    if (seg == SEG_SS) {
        cpu->int_shadow = true;
        cpu_update_mode(cpu);
    }
    return STEP_OK;
}

static int dtr_load(struct cpu *cpu, const struct insn *in, struct dtr *t, unsigned exit)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    const struct opnd *o = &in->op[0];
    uint64_t ea = opnd_ea(cpu, in, o), limit, base;
    unsigned bsize = cpu->mode == CPU_MODE_LONG64 ? 8 : 4;
    if (vmem_read(cpu, o->seg, ea, 2, &limit) != 0 ||
        vmem_read(cpu, o->seg, ea + 2, bsize, &base) != 0)
        return STEP_FAULT;
    if (bsize == 4 && in->osize == 2)
        base &= 0xffffff;
    if (cpu->mode == CPU_MODE_LONG64 && !is_canonical(base))
        return raise_gp(cpu, 0);
    t->limit = (uint32_t)limit;
    t->base = base;
    return STEP_OK;
}

static int dtr_store(struct cpu *cpu, const struct insn *in, const struct dtr *t, unsigned exit)
{
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    const struct opnd *o = &in->op[0];
    uint64_t ea = opnd_ea(cpu, in, o);
    unsigned bsize = cpu->mode == CPU_MODE_LONG64 ? 8 : 4;
    if (vmem_probe_write(cpu, o->seg, ea, 2 + bsize) != 0)
        return STEP_FAULT;
    vmem_write(cpu, o->seg, ea, 2, t->limit);
    vmem_write(cpu, o->seg, ea + 2, bsize, t->base);
    return STEP_OK;
}

int op_lgdt(struct cpu *cpu, const struct insn *in) { return dtr_load(cpu, in, &cpu->gdtr, SVM_EXIT_GDTR_WRITE); }
int op_lidt(struct cpu *cpu, const struct insn *in) { return dtr_load(cpu, in, &cpu->idtr, SVM_EXIT_IDTR_WRITE); }
int op_sgdt(struct cpu *cpu, const struct insn *in) { return dtr_store(cpu, in, &cpu->gdtr, SVM_EXIT_GDTR_READ); }
int op_sidt(struct cpu *cpu, const struct insn *in) { return dtr_store(cpu, in, &cpu->idtr, SVM_EXIT_IDTR_READ); }

static int sel_operand(struct cpu *cpu, const struct insn *in, uint16_t *sel)
{
    const struct opnd *o = &in->op[0];
    uint64_t v;
    if (o->type == OPND_REG)
        v = cpu->gpr[o->reg];
    else if (vmem_read(cpu, o->seg, opnd_ea(cpu, in, o), 2, &v) != 0)
        return -1;
    *sel = (uint16_t)v;
    return 0;
}

/* LTR / LLDT: a system descriptor from the GDT (APM vol. 2 §12.2.5). */
static int load_sys_seg(struct cpu *cpu, const struct insn *in, bool tr)
{
    if (cpu->mode == CPU_MODE_REAL)
        return raise_ud(cpu);
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    unsigned exit = tr ? SVM_EXIT_TR_WRITE : SVM_EXIT_LDTR_WRITE;
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    uint16_t sel;
    if (sel_operand(cpu, in, &sel) != 0)
        return STEP_FAULT;
    if ((sel & ~3) == 0) {
        if (tr)
            return raise_gp(cpu, 0);
        cpu->ldtr.sel = sel;
        cpu->ldtr.attrib = 0;
        return STEP_OK;
    }
    if (sel & X86_ERR_TI)
        return raise_gp(cpu, sel & ~3u);
    struct seg s;
    if (desc_load(cpu, sel, &s, NULL) != STEP_OK)
        return STEP_FAULT;
    unsigned type = s.attrib & VMCB_ATTR_TYPE_MASK;
    bool sys = !(s.attrib & VMCB_ATTR_S);
    if (!sys || (tr ? type != 0x9 : type != 0x2))
        return raise_gp(cpu, sel & ~3u);
    if (!(s.attrib & VMCB_ATTR_P))
        return raise_exc_err(cpu, X86_VEC_NP, sel & ~3u);
    if ((cpu->efer & X86_EFER_LMA) && !is_canonical(s.base))
        return raise_gp(cpu, sel & ~3u);
    if (tr) {
        /* Mark the TSS busy in the descriptor (type 9 -> B). */
        if (desc_set_flag(cpu, sel, 2ull << 40) != 0)
            return STEP_FAULT;
        s.attrib |= 2;
        cpu->tr = s;
    } else {
        cpu->ldtr = s;
    }
    return STEP_OK;
}

int op_ltr(struct cpu *cpu, const struct insn *in) { return load_sys_seg(cpu, in, true); }
int op_lldt(struct cpu *cpu, const struct insn *in) { return load_sys_seg(cpu, in, false); }

static int store_sel(struct cpu *cpu, const struct insn *in, uint16_t sel, unsigned exit)
{
    if (cpu->mode == CPU_MODE_REAL)
        return raise_ud(cpu);
    if (svm_intercepted(cpu, exit))
        return svm_vmexit(cpu, exit, 0, 0);
    const struct opnd *o = &in->op[0];
    if (o->type == OPND_REG) {
        gpr_write(cpu, o, sel);
        return STEP_OK;
    }
    return vmem_write(cpu, o->seg, opnd_ea(cpu, in, o), 2, sel) != 0 ? STEP_FAULT : STEP_OK;
}

int op_str(struct cpu *cpu, const struct insn *in) { return store_sel(cpu, in, cpu->tr.sel, SVM_EXIT_TR_READ); }
int op_sldt(struct cpu *cpu, const struct insn *in) { return store_sel(cpu, in, cpu->ldtr.sel, SVM_EXIT_LDTR_READ); }

int op_invlpg(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    const struct opnd *o = &in->op[0];
    uint64_t la = opnd_ea(cpu, in, o);
    if (cpu->mode != CPU_MODE_LONG64 || o->seg == SEG_FS || o->seg == SEG_GS)
        la = cpu->seg[o->seg].base + la;
    if (svm_intercepted(cpu, SVM_EXIT_INVLPG))
        return svm_vmexit(cpu, SVM_EXIT_INVLPG, la, 0);
    tlb_flush_page(cpu, la);
    icache_flush(cpu);
    return STEP_OK;
}

int op_swapgs(struct cpu *cpu, const struct insn *in)
{
    if (cpu->mode != CPU_MODE_LONG64)
        return raise_ud(cpu);
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    uint64_t t = cpu->seg[SEG_GS].base;
    cpu->seg[SEG_GS].base = cpu->kernel_gs_base;
    cpu->kernel_gs_base = t;
    return STEP_OK;
}

int op_clts(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_WRITE_CR0))
        return svm_vmexit(cpu, SVM_EXIT_WRITE_CR0, 0, 0);
    cpu->cr0 &= ~X86_CR0_TS;
    return STEP_OK;
}

int op_lmsw(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_WRITE_CR0))
        return svm_vmexit(cpu, SVM_EXIT_WRITE_CR0, 0, 0);
    uint16_t v;
    if (sel_operand(cpu, in, &v) != 0)
        return STEP_FAULT;
    /* LMSW writes PE MP EM TS and cannot clear PE. */
    uint64_t cr0 = (cpu->cr0 & ~0xeull) | (v & 0xf) | (cpu->cr0 & X86_CR0_PE);
    /* LMSW exits by the selective intercept for a change of any bit it
     * writes, MP and TS too (kvm-unit-tests' "sel cr0 lmsw intercept",
     * written against hardware). */
    if (svm_intercepted(cpu, SVM_EXIT_CR0_SEL_WRITE) && cr0 != cpu->cr0)
        return svm_vmexit(cpu, SVM_EXIT_CR0_SEL_WRITE, 0, 0);
    return cr0_write(cpu, cr0);
}

int op_smsw(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_READ_CR0))
        return svm_vmexit(cpu, SVM_EXIT_READ_CR0, 0, 0);
    const struct opnd *o = &in->op[0];
    if (o->type == OPND_REG) {
        gpr_write(cpu, o, cpu->cr0);
        return STEP_OK;
    }
    return vmem_write(cpu, o->seg, opnd_ea(cpu, in, o), 2, cpu->cr0) != 0 ? STEP_FAULT : STEP_OK;
}

/* RSM outside SMM (the model has none) is #UD, unless intercepted: the
 * intercept comes first. */
int op_rsm(struct cpu *cpu, const struct insn *in)
{
    if (svm_intercepted(cpu, SVM_EXIT_RSM))
        return svm_vmexit(cpu, SVM_EXIT_RSM, 0, 0);
    return raise_ud(cpu);
}

/* PAUSE under its intercept and the pause filter (APM vol. 2 §15.14.4):
 * with a filter count loaded at VMRUN, each PAUSE counts it down and only
 * the one that reaches 0 exits; with a threshold, a PAUSE more than that
 * many cycles after the previous one starts the count again. */
int op_pause(struct cpu *cpu, const struct insn *in)
{
    if (!svm_intercepted(cpu, SVM_EXIT_PAUSE))
        return STEP_OK;
    if (cpu->pause_count) {
        uint64_t now = cpu_host_tsc(cpu);
        if (cpu->pause_thresh && now - cpu->pause_last > cpu->pause_thresh)
            cpu->pause_count = cpu->vmcb->control.pause_filter_count;
        cpu->pause_last = now;
        if (--cpu->pause_count)
            return STEP_OK;
    }
    return svm_vmexit(cpu, SVM_EXIT_PAUSE, 0, 0);
}

int op_invd(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_INVD))
        return svm_vmexit(cpu, SVM_EXIT_INVD, 0, 0);
    return STEP_OK;
}

int op_wbinvd(struct cpu *cpu, const struct insn *in)
{
    if (!cpl0(cpu))
        return raise_gp(cpu, 0);
    if (svm_intercepted(cpu, SVM_EXIT_WBINVD))
        return svm_vmexit(cpu, SVM_EXIT_WBINVD, 0, 0);
    return STEP_OK;
}

/* The model has no XSAVE (CPUID does not report it): #UD comes before any
 * intercept, as kvm-unit-tests' unsupported-instruction test expects. */
int op_xsetbv(struct cpu *cpu, const struct insn *in)
{
    return raise_ud(cpu);
}

int op_ud2(struct cpu *cpu, const struct insn *in)
{
    return raise_ud(cpu);
}
