/* svm_hw.c — the SVM hardware: intercept checks and the VMCB world switch
 * (AMD APM vol. 2 §15).
 *
 * Owns: recording a #VMEXIT (exit code, EXITINFO1/2, NRIP), the IOPM and
 * MSRPM lookups, and copying guest state between the CPU and a VMCB save
 * area. cpu.c's cpu_run() is VMRUN from the host's point of view.
 * Must not: include hv/ headers or decide what an exit means.
 */
#include "cpu/cpu.h"
#include "svm/svm.h"
#include "svmsim/arch/svm_exit.h"

#include <string.h>

int svm_vmexit(struct cpu *cpu, uint64_t code, uint64_t info1, uint64_t info2)
{
    cpu->exit.code = code;
    cpu->exit.info1 = info1;
    cpu->exit.info2 = info2;
    cpu->exit.int_info = 0;
    cpu->exit.int_info_err = 0;
    cpu->exit.next_rip = cpu->model.nrips ? cpu->next_rip : 0;
    cpu->exited = true;
    return STEP_VMEXIT;
}

static bool iopm_hit(const uint8_t *iopm, uint16_t port, unsigned size)
{
    const uint8_t *b = &iopm[port >> 3];
    return svm_iopm_hit((uint16_t)(b[0] | b[1] << 8), port, size);
}

int svm_check_io(struct cpu *cpu, const struct insn *in, uint16_t port, unsigned size,
                 bool is_in, bool str, bool rep, unsigned seg)
{
    if (!svm_intercepted(cpu, SVM_EXIT_IOIO))
        return STEP_OK;
    if (!cpu->iopm || !iopm_hit(cpu->iopm, port, size))
        return STEP_OK;
    uint64_t info = (uint64_t)port << SVM_IOIO_PORT_SHIFT;
    info |= is_in ? SVM_IOIO_TYPE_IN : 0;
    info |= str ? SVM_IOIO_STR : 0;
    info |= rep ? SVM_IOIO_REP : 0;
    /* SZ8/SZ16/SZ32 and A16/A32/A64 are one-hot: size 1, 2, 4 and address
     * size 2, 4, 8 bytes are their own codes. */
    info |= (uint64_t)size << SVM_IOIO_SIZE_SHIFT;
    info |= (uint64_t)(in->asize >> 1) << SVM_IOIO_ASIZE_SHIFT;
    if (str)
        info |= (uint64_t)(seg & 7) << SVM_IOIO_SEG_SHIFT;
    /* EXITINFO2 holds the RIP of the next instruction for IOIO exits. */
    return svm_vmexit(cpu, SVM_EXIT_IOIO, info, cpu->next_rip);
}

bool svm_msr_intercepted(const struct cpu *cpu, uint32_t msr, bool write)
{
    if (!svm_intercepted(cpu, SVM_EXIT_MSR))
        return false;
    uint32_t byte;
    unsigned bit;
    if (!cpu->msrpm || !svm_msrpm_bit(msr, write, &byte, &bit))
        return true;
    return (cpu->msrpm[byte] >> bit) & 1;
}

static void seg_from_vmcb(struct seg *s, const struct vmcb_seg *v)
{
    s->sel = v->selector;
    s->attrib = v->attrib;
    s->limit = v->limit;
    s->base = v->base;
}

static void seg_to_vmcb(struct vmcb_seg *v, const struct seg *s)
{
    v->selector = s->sel;
    v->attrib = s->attrib;
    v->limit = s->limit;
    v->base = s->base;
}

void svm_load_save_area(struct cpu *cpu, const struct vmcb_save_area *sa)
{
    seg_from_vmcb(&cpu->seg[SEG_ES], &sa->es);
    seg_from_vmcb(&cpu->seg[SEG_CS], &sa->cs);
    seg_from_vmcb(&cpu->seg[SEG_SS], &sa->ss);
    seg_from_vmcb(&cpu->seg[SEG_DS], &sa->ds);
    seg_from_vmcb(&cpu->seg[SEG_FS], &sa->fs);
    seg_from_vmcb(&cpu->seg[SEG_GS], &sa->gs);
    seg_from_vmcb(&cpu->ldtr, &sa->ldtr);
    seg_from_vmcb(&cpu->tr, &sa->tr);
    cpu->gdtr.base = sa->gdtr.base;
    cpu->gdtr.limit = sa->gdtr.limit;
    cpu->idtr.base = sa->idtr.base;
    cpu->idtr.limit = sa->idtr.limit;
    cpu->cpl = sa->cpl;
    cpu->efer = sa->efer;
    cpu->cr0 = sa->cr0;
    cpu->cr2 = sa->cr2;
    cpu->cr3 = sa->cr3;
    cpu->cr4 = sa->cr4;
    cpu->dr[6] = sa->dr6;
    cpu->dr[7] = sa->dr7;
    flags_set(cpu, sa->rflags);
    cpu->rip = sa->rip;
    cpu->gpr[4] = sa->rsp;
    cpu->gpr[0] = sa->rax;
    cpu->star = sa->star;
    cpu->lstar = sa->lstar;
    cpu->cstar = sa->cstar;
    cpu->sfmask = sa->sfmask;
    cpu->kernel_gs_base = sa->kernel_gs_base;
    cpu->sysenter_cs = sa->sysenter_cs;
    cpu->sysenter_esp = sa->sysenter_esp;
    cpu->sysenter_eip = sa->sysenter_eip;
    cpu->pat = sa->g_pat;
    cpu->dbgctl = sa->dbgctl;
    cpu->br_from = sa->br_from;
    cpu->br_to = sa->br_to;
    cpu->excp_from = sa->last_excp_from;
    cpu->excp_to = sa->last_excp_to;
    cpu_update_mode(cpu);
}

void svm_store_save_area(const struct cpu *cpu, struct vmcb_save_area *sa)
{
    seg_to_vmcb(&sa->es, &cpu->seg[SEG_ES]);
    seg_to_vmcb(&sa->cs, &cpu->seg[SEG_CS]);
    seg_to_vmcb(&sa->ss, &cpu->seg[SEG_SS]);
    seg_to_vmcb(&sa->ds, &cpu->seg[SEG_DS]);
    seg_to_vmcb(&sa->fs, &cpu->seg[SEG_FS]);
    seg_to_vmcb(&sa->gs, &cpu->seg[SEG_GS]);
    seg_to_vmcb(&sa->ldtr, &cpu->ldtr);
    seg_to_vmcb(&sa->tr, &cpu->tr);
    sa->gdtr.base = cpu->gdtr.base;
    sa->gdtr.limit = cpu->gdtr.limit;
    sa->idtr.base = cpu->idtr.base;
    sa->idtr.limit = cpu->idtr.limit;
    sa->cpl = cpu->cpl;
    sa->efer = cpu->efer;
    sa->cr0 = cpu->cr0;
    sa->cr2 = cpu->cr2;
    sa->cr3 = cpu->cr3;
    sa->cr4 = cpu->cr4;
    sa->dr6 = cpu->dr[6];
    sa->dr7 = cpu->dr[7];
    sa->rflags = cpu->rflags; /* materialized by the caller */
    sa->rip = cpu->rip;
    sa->rsp = cpu->gpr[4];
    sa->rax = cpu->gpr[0];
    sa->star = cpu->star;
    sa->lstar = cpu->lstar;
    sa->cstar = cpu->cstar;
    sa->sfmask = cpu->sfmask;
    sa->kernel_gs_base = cpu->kernel_gs_base;
    sa->sysenter_cs = cpu->sysenter_cs;
    sa->sysenter_esp = cpu->sysenter_esp;
    sa->sysenter_eip = cpu->sysenter_eip;
    sa->g_pat = cpu->pat;
    sa->dbgctl = cpu->dbgctl;
    sa->br_from = cpu->br_from;
    sa->br_to = cpu->br_to;
    sa->last_excp_from = cpu->excp_from;
    sa->last_excp_to = cpu->excp_to;
}

/* The lazy world switch (cpu_run). Hot fields: what an exit always stores.
 * L0 may write RIP, RSP and RAX before running the VMCB again; CPL, EFER,
 * CS and CR0 (the mode, and what L0's checks of an SVM instruction read) it
 * may only read. */
void svm_store_hot(const struct cpu *cpu, struct vmcb_save_area *sa)
{
    seg_to_vmcb(&sa->cs, &cpu->seg[SEG_CS]);
    sa->cpl = cpu->cpl;
    sa->efer = cpu->efer;
    sa->cr0 = cpu->cr0;
    sa->rip = cpu->rip;
    sa->rsp = cpu->gpr[4];
    sa->rax = cpu->gpr[0];
}

void svm_load_hot(struct cpu *cpu, const struct vmcb_save_area *sa)
{
    cpu->rip = sa->rip;
    cpu->gpr[4] = sa->rsp;
    cpu->gpr[0] = sa->rax;
    cpu_update_slow(cpu);
}

#ifdef SVMSIM_CHECKS
#define HELD_POISON 0xa5

/* The held fields read as poison, so that code reading them unsynced goes
 * wrong in every test. */
void svm_poison_held(struct vmcb_save_area *sa)
{
    struct vmcb_save_area hot;
    memset(&hot, HELD_POISON, sizeof(hot));
    hot.cs = sa->cs;
    hot.cpl = sa->cpl;
    hot.efer = sa->efer;
    hot.cr0 = sa->cr0;
    hot.rip = sa->rip;
    hot.rsp = sa->rsp;
    hot.rax = sa->rax;
    memcpy(sa, &hot, sizeof(hot));
}

/* Whether the caller kept to the contract while the CPU held sa: the
 * read-only hot fields are what the CPU has, the held ones still poison. */
bool svm_held_untouched(const struct cpu *cpu, const struct vmcb_save_area *sa)
{
    struct vmcb_save_area t, ro;
    memcpy(&t, sa, sizeof(t));
    memset(&ro, 0, sizeof(ro));
    svm_store_hot(cpu, &ro);
    if (memcmp(&t.cs, &ro.cs, sizeof(t.cs)) != 0 || t.cpl != ro.cpl || t.efer != ro.efer ||
        t.cr0 != ro.cr0)
        return false;
    memset(&t.cs, HELD_POISON, sizeof(t.cs));
    memset(&t.cpl, HELD_POISON, sizeof(t.cpl));
    memset(&t.efer, HELD_POISON, sizeof(t.efer));
    memset(&t.cr0, HELD_POISON, sizeof(t.cr0));
    memset(&t.rip, HELD_POISON, sizeof(t.rip));
    memset(&t.rsp, HELD_POISON, sizeof(t.rsp));
    memset(&t.rax, HELD_POISON, sizeof(t.rax));
    const uint8_t *b = (const uint8_t *)&t;
    for (size_t i = 0; i < sizeof(t); i++)
        if (b[i] != HELD_POISON)
            return false;
    return true;
}
#endif
