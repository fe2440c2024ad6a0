/* vmcb_state.c — the VMLOAD/VMSAVE field list, once (see svm.h). */
#include "svm/svm.h"

static uint64_t sign_extend_47(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16);
}

void vmcb_copy_vmload_state(struct vmcb_save_area *to, const struct vmcb_save_area *from)
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

void vmcb_canonicalize_vmload_state(struct vmcb_save_area *sa)
{
    sa->fs.base = sign_extend_47(sa->fs.base);
    sa->gs.base = sign_extend_47(sa->gs.base);
    sa->tr.base = sign_extend_47(sa->tr.base);
    sa->ldtr.base = sign_extend_47(sa->ldtr.base);
    sa->kernel_gs_base = sign_extend_47(sa->kernel_gs_base);
    sa->lstar = sign_extend_47(sa->lstar);
    sa->cstar = sign_extend_47(sa->cstar);
}
