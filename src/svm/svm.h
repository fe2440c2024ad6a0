/* svm.h — SVM facts shared by the hardware (src/cpu) and L0 (src/hv): the
 * intercept vector of a VMCB, the state VMLOAD/VMSAVE move, and the VMRUN
 * consistency checks (AMD APM vol. 2 §15.5.1).
 *
 * Owns: nothing mutable; functions over VMCB areas given to them.
 * Must not: include hv/ headers or decide policy. The CPU's VMRUN and L0's
 * nested VMRUN both run the same checks, and the CPU's VMLOAD/VMSAVE and
 * L0's emulation of them both move the same field list.
 */
#ifndef SVMSIM_SVM_H
#define SVMSIM_SVM_H

#include <stdbool.h>
#include <stdint.h>

#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"

/* ---- the 192-bit intercept vector (bit = exit code for 0x000-0x0a6) */

/* The int_ctl bits of a virtual interrupt, and those the processor writes
 * back at #VMEXIT (APM vol. 2 §15.21, §15.33). */
#define SVM_INT_CTL_VIRQ_BITS \
    (SVM_INT_CTL_V_IRQ | SVM_INT_CTL_V_INTR_PRIO_MASK | SVM_INT_CTL_V_IGN_TPR)
#define SVM_INT_CTL_WRITTEN (SVM_INT_CTL_V_IRQ | SVM_INT_CTL_V_TPR_MASK | SVM_INT_CTL_V_GIF)

/* One bit of an intercept vector, wherever it is kept. */
static inline void intercept_vec_clr(uint32_t *vec, unsigned bit)
{
    vec[bit / 32] &= ~(1u << (bit % 32));
}

static inline bool vmcb_is_intercept(const struct vmcb_control_area *c, unsigned bit)
{
    return (c->intercepts[bit / 32] >> (bit % 32)) & 1;
}

static inline void vmcb_set_intercept(struct vmcb_control_area *c, unsigned bit)
{
    c->intercepts[bit / 32] |= 1u << (bit % 32);
}

static inline void vmcb_clr_intercept(struct vmcb_control_area *c, unsigned bit)
{
    intercept_vec_clr(c->intercepts, bit);
}

/* ---- the permission maps (APM vol. 2 §15.10, §15.11) */

/* The MSRPM bit of an MSR access: two bits per MSR (read, then write) in
 * three 2 KiB ranges. Returns false for an MSR outside them: such an access
 * is always intercepted. */
/* Whether a virtual interrupt's priority gets past V_TPR (APM vol. 2
 * §15.21.4): V_IGN_TPR, or V_INTR_PRIO above V_TPR. */
static inline bool svm_virq_priority_ok(uint32_t int_ctl)
{
    unsigned prio = (int_ctl & SVM_INT_CTL_V_INTR_PRIO_MASK) >> SVM_INT_CTL_V_INTR_PRIO_SHIFT;
    return (int_ctl & SVM_INT_CTL_V_IGN_TPR) || prio > (int_ctl & SVM_INT_CTL_V_TPR_MASK);
}

static inline bool svm_msrpm_bit(uint32_t msr, bool write, uint32_t *byte, unsigned *bit)
{
    uint32_t base;
    if (msr <= 0x1fff)
        base = 0x000;
    else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
        base = 0x800;
    else if (msr >= 0xc0010000 && msr <= 0xc0011fff)
        base = 0x1000;
    else
        return false;
    unsigned n = (msr & 0x1fff) * 2 + (write ? 1 : 0);
    *byte = base + n / 8;
    *bit = n % 8;
    return true;
}

/* An access of size bytes at port is intercepted when any of its ports'
 * IOPM bits is set. bits: the map's two bytes from port / 8 on (the map has
 * a spare byte, so the second always exists). */
static inline bool svm_iopm_hit(uint16_t bits, uint16_t port, unsigned size)
{
    return (bits >> (port & 7)) & ((1u << size) - 1);
}

/* ---- VMLOAD/VMSAVE state (APM vol. 3 "VMLOAD"): FS, GS, TR, LDTR with
 * their hidden parts, KernelGsBase, STAR, LSTAR, CSTAR, SFMASK and the
 * SYSENTER MSRs. VMRUN and #VMEXIT leave all of it alone. */
void vmcb_copy_vmload_state(struct vmcb_save_area *to, const struct vmcb_save_area *from);
/* What VMLOAD does on top of the copy: segment bases and the address MSRs
 * are sign-extended from bit 47, as the hardware loads them. */
void vmcb_canonicalize_vmload_state(struct vmcb_save_area *sa);

/* ---- consistency checks of VMRUN (APM vol. 2 §15.5.1, SPEC-GP.md §4.1) */

enum svm_check {
    SVM_CHECK_OK = 0,
    /* save area, in the order they are checked */
    SVM_CHECK_EFER_SVME,
    SVM_CHECK_CR0_CD_NW,
    SVM_CHECK_CR0_HIGH,
    SVM_CHECK_DR6_HIGH,
    SVM_CHECK_DR7_HIGH,
    SVM_CHECK_LM_PAE,
    SVM_CHECK_LM_PE,
    SVM_CHECK_LM_CR3,
    SVM_CHECK_LM_CS_L_D,
    SVM_CHECK_CR4_RSVD,
    SVM_CHECK_EFER_RSVD,
    /* control area */
    SVM_CHECK_VMRUN_INTERCEPT,
    SVM_CHECK_ASID_ZERO,
    SVM_CHECK_NCR3,
    SVM_CHECK_MSRPM,
    SVM_CHECK_IOPM,
    SVM_CHECK_EVENTINJ_TYPE,
    SVM_CHECK_EVENTINJ_VECTOR,
    SVM_CHECK_COUNT,
};

/* The features of the CPU the checks depend on. */
struct svm_check_model {
    unsigned maxphyaddr;
    uint64_t cr4_valid;     /* CR4 bits the CPU implements */
    uint64_t efer_valid;    /* EFER bits the CPU implements */
    bool np;                /* nested paging offered: NP_ENABLE is honoured */
};

enum svm_check svm_check_save(const struct vmcb_save_area *s, const struct svm_check_model *m);
enum svm_check svm_check_control(const struct vmcb_control_area *c,
                                 const struct svm_check_model *m);
/* Save area first, then control area, as SPEC-GP.md §4.1 orders them. */
enum svm_check svm_check_vmrun(const struct vmcb_control_area *c, const struct vmcb_save_area *s,
                               const struct svm_check_model *m);
/* A short name for traces: "EFER.SVME clear", "ASID 0", ... */
const char *svm_check_name(enum svm_check check);

/* The VMCB as fixed-width text, one field a line (KVM's dump_vmcb). Returns
 * the length written (at most len - 1; always NUL-terminated). */
#include <stddef.h>
size_t vmcb_dump(const struct vmcb *v, char *buf, size_t len);

#endif
