/* vmcb_check.c — the consistency checks VMRUN makes before it enters a
 * guest (AMD APM vol. 2 §15.5.1 "Basic Operation", "VMRUN" in vol. 3), in
 * the order SPEC-GP.md §4.1 gives: save area first, then control area. A
 * failed check makes VMRUN exit with SVM_EXIT_ERR (-1).
 */
#include "svm/svm.h"

#include "svmsim/arch/x86.h"

static bool pa_legal(uint64_t pa, unsigned maxphyaddr)
{
    return (pa >> maxphyaddr) == 0;
}

/* A permission map of size bytes at base (its low 12 bits ignored) must lie
 * below 2^MAXPHYADDR. */
static bool map_legal(uint64_t base, uint64_t size, unsigned maxphyaddr)
{
    uint64_t start = base & ~0xfffull;
    return pa_legal(start, maxphyaddr) && pa_legal(start + size - 1, maxphyaddr);
}

enum svm_check svm_check_save(const struct vmcb_save_area *s, const struct svm_check_model *m)
{
    if (!(s->efer & X86_EFER_SVME))
        return SVM_CHECK_EFER_SVME;
    if (!(s->cr0 & X86_CR0_CD) && (s->cr0 & X86_CR0_NW))
        return SVM_CHECK_CR0_CD_NW;
    if (s->cr0 >> 32)
        return SVM_CHECK_CR0_HIGH;
    if (s->dr6 >> 32)
        return SVM_CHECK_DR6_HIGH;
    if (s->dr7 >> 32)
        return SVM_CHECK_DR7_HIGH;
    if ((s->efer & X86_EFER_LME) && (s->cr0 & X86_CR0_PG)) {
        if (!(s->cr4 & X86_CR4_PAE))
            return SVM_CHECK_LM_PAE;
        if (!(s->cr0 & X86_CR0_PE))
            return SVM_CHECK_LM_PE;
        if (!pa_legal(s->cr3, m->maxphyaddr))
            return SVM_CHECK_LM_CR3;
        if ((s->cs.attrib & VMCB_ATTR_L) && (s->cs.attrib & VMCB_ATTR_DB))
            return SVM_CHECK_LM_CS_L_D;
    }
    if (s->cr4 & ~m->cr4_valid)
        return SVM_CHECK_CR4_RSVD;
    if (s->efer & ~m->efer_valid)
        return SVM_CHECK_EFER_RSVD;
    return SVM_CHECK_OK;
}

enum svm_check svm_check_control(const struct vmcb_control_area *c,
                                 const struct svm_check_model *m)
{
    if (!vmcb_is_intercept(c, SVM_EXIT_VMRUN))
        return SVM_CHECK_VMRUN_INTERCEPT;
    if (c->asid == 0)
        return SVM_CHECK_ASID_ZERO;
    if (m->np && (c->nested_ctl & SVM_NESTED_CTL_NP_ENABLE) &&
        !pa_legal(c->nested_cr3, m->maxphyaddr))
        return SVM_CHECK_NCR3;
    /* Checked whether or not the intercepts that use them are set (KVM). */
    if (!map_legal(c->msrpm_base_pa, SVM_MSRPM_SIZE, m->maxphyaddr))
        return SVM_CHECK_MSRPM;
    if (!map_legal(c->iopm_base_pa, SVM_IOPM_SIZE, m->maxphyaddr))
        return SVM_CHECK_IOPM;
    if (c->event_inj & SVM_EVTINJ_VALID) {
        uint32_t type = c->event_inj & SVM_EVTINJ_TYPE_MASK;
        unsigned vector = c->event_inj & SVM_EVTINJ_VEC_MASK;
        /* Types 1, 5, 6 and 7 are reserved. */
        if (type == (1u << SVM_EVTINJ_TYPE_SHIFT) || type >= (5u << SVM_EVTINJ_TYPE_SHIFT))
            return SVM_CHECK_EVENTINJ_TYPE;
        if (type == SVM_EVTINJ_TYPE_EXEPT && (vector == X86_VEC_NMI || vector > 31))
            return SVM_CHECK_EVENTINJ_VECTOR;
    }
    return SVM_CHECK_OK;
}

enum svm_check svm_check_vmrun(const struct vmcb_control_area *c, const struct vmcb_save_area *s,
                               const struct svm_check_model *m)
{
    enum svm_check r = svm_check_save(s, m);
    return r != SVM_CHECK_OK ? r : svm_check_control(c, m);
}

const char *svm_check_name(enum svm_check check)
{
    static const char *const names[SVM_CHECK_COUNT] = {
        [SVM_CHECK_OK] = "none",
        [SVM_CHECK_EFER_SVME] = "EFER.SVME clear",
        [SVM_CHECK_CR0_CD_NW] = "CR0.NW set with CR0.CD clear",
        [SVM_CHECK_CR0_HIGH] = "CR0[63:32] not zero",
        [SVM_CHECK_DR6_HIGH] = "DR6[63:32] not zero",
        [SVM_CHECK_DR7_HIGH] = "DR7[63:32] not zero",
        [SVM_CHECK_LM_PAE] = "EFER.LME and CR0.PG with CR4.PAE clear",
        [SVM_CHECK_LM_PE] = "EFER.LME and CR0.PG with CR0.PE clear",
        [SVM_CHECK_LM_CR3] = "CR3 beyond MAXPHYADDR in long mode",
        [SVM_CHECK_LM_CS_L_D] = "CS.L and CS.D both set in long mode",
        [SVM_CHECK_CR4_RSVD] = "CR4 reserved bit set",
        [SVM_CHECK_EFER_RSVD] = "EFER reserved bit set",
        [SVM_CHECK_VMRUN_INTERCEPT] = "VMRUN intercept clear",
        [SVM_CHECK_ASID_ZERO] = "ASID 0",
        [SVM_CHECK_NCR3] = "nCR3 beyond MAXPHYADDR",
        [SVM_CHECK_MSRPM] = "MSRPM beyond MAXPHYADDR",
        [SVM_CHECK_IOPM] = "IOPM beyond MAXPHYADDR",
        [SVM_CHECK_EVENTINJ_TYPE] = "EVENTINJ reserved type",
        [SVM_CHECK_EVENTINJ_VECTOR] = "EVENTINJ exception vector undefined",
    };
    return (unsigned)check < SVM_CHECK_COUNT ? names[check] : "unknown";
}
