/* test_vmcb_check.c — the VMRUN consistency checks (src/svm/vmcb_check.c)
 * as pure functions: a valid 64-bit guest VMCB is broken one field at a time
 * and svm_check_vmrun() must name exactly the check SPEC-GP.md §4.1 lists.
 *
 * Owns: a fixture VMCB (long-mode ring-0 guest, VMRUN intercepted, ASID 1,
 * legal IOPM/MSRPM bases) and a model (MAXPHYADDR 48, the CPU's CR4/EFER
 * bits, nested paging offered); one test per check and per boundary, and the
 * order in which two failing checks are reported.
 * Must not: run a CPU or L0; expectations come from SPEC-GP.md §4.1 and the
 * ORACLE.md rows KUT-SVM-03, 04, 08..16, written as exact enum values.
 */
#include "svm/svm.h"

#include <criterion/criterion.h>
#include <string.h>

#include "cpu/cpu.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define MAXPHYADDR 48
#define PA_TOP (1ull << MAXPHYADDR) /* first illegal physical address */
#define KIB 1024ull

#define VALID_CR0 0x80010033ull  /* PG, WP, NE, ET, MP, PE */
#define VALID_CR3 0x2000ull
#define VALID_IOPM 0x100000ull
#define VALID_MSRPM 0x104000ull
#define CODE64_ATTR 0x0a9b /* type B, S, P, L, G (D clear) */
#define DATA_ATTR 0x0c93   /* type 3, S, P, DB, G */

/* Reserved-bit masks the kvm-unit-tests use (ORACLE.md KUT-SVM-09, 13). */
#define KUT_EFER_MBZ 0xffffffffffff0200ull
#define KUT_CR4_MBZ_LOW 0xfe08e000ull

static struct vmcb vmcb;
static struct svm_check_model model;

static void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = 0xffffffff;
    s->base = 0;
}

/* A valid 64-bit guest: what a long-mode L1 would hand to VMRUN. */
static void setup(void)
{
    memset(&vmcb, 0, sizeof(vmcb));

    struct vmcb_save_area *s = &vmcb.save;
    set_seg(&s->cs, 0x08, CODE64_ATTR);
    set_seg(&s->ss, 0x10, DATA_ATTR);
    set_seg(&s->ds, 0x10, DATA_ATTR);
    set_seg(&s->es, 0x10, DATA_ATTR);
    s->gdtr.base = 0x1000;
    s->gdtr.limit = 0x1f;
    s->idtr.base = 0x6000;
    s->idtr.limit = 0xfff;
    s->cpl = 0;
    s->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME;
    s->cr0 = VALID_CR0;
    s->cr3 = VALID_CR3;
    s->cr4 = X86_CR4_PAE;
    s->dr6 = 0xffff0ff0;
    s->dr7 = 0x400;
    s->rflags = 0x2;
    s->rip = 0x10000;
    s->rsp = 0x80000;
    s->g_pat = 0x0007040600070406ull;

    struct vmcb_control_area *c = &vmcb.control;
    vmcb_set_intercept(c, SVM_EXIT_VMRUN);
    c->asid = 1;
    c->iopm_base_pa = VALID_IOPM;
    c->msrpm_base_pa = VALID_MSRPM;

    model = (struct svm_check_model){
        .maxphyaddr = MAXPHYADDR,
        .cr4_valid = CPU_CR4_VALID,
        .efer_valid = CPU_EFER_VALID,
        .np = true,
    };
}

TestSuite(vmcb_check, .init = setup);

static enum svm_check check(void)
{
    return svm_check_vmrun(&vmcb.control, &vmcb.save, &model);
}

#define EXPECT_CHECK(want)                                                                   \
    do {                                                                                     \
        enum svm_check got_ = check();                                                       \
        cr_assert_eq(got_, (want), "expected %s, got %s", svm_check_name(want),              \
                     svm_check_name(got_));                                                  \
    } while (0)

/* Same, for loops over bits: names the bit that went wrong. */
#define EXPECT_CHECK_BIT(want, bit)                                                          \
    do {                                                                                     \
        enum svm_check got_ = check();                                                       \
        cr_assert_eq(got_, (want), "bit %u: expected %s, got %s", (unsigned)(bit),           \
                     svm_check_name(want), svm_check_name(got_));                            \
    } while (0)

static uint32_t evtinj(unsigned type, unsigned vector)
{
    return SVM_EVTINJ_VALID | (type << SVM_EVTINJ_TYPE_SHIFT) | vector;
}

/* Leave long mode (EFER.LME and EFER.LMA clear), paging still on: a 32-bit
 * PAE guest. */
static void leave_long_mode(void)
{
    vmcb.save.efer &= ~(X86_EFER_LME | X86_EFER_LMA);
}

/* ---- the fixture */

Test(vmcb_check, valid_long_mode_vmcb_passes)
{
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, valid_vmcb_passes_save_and_control_checks_separately)
{
    cr_assert_eq(svm_check_save(&vmcb.save, &model), SVM_CHECK_OK);
    cr_assert_eq(svm_check_control(&vmcb.control, &model), SVM_CHECK_OK);
}

/* ---- EFER.SVME (KUT-SVM-08) */

Test(vmcb_check, efer_svme_clear_fails)
{
    vmcb.save.efer &= ~X86_EFER_SVME;
    EXPECT_CHECK(SVM_CHECK_EFER_SVME);
}

/* ---- CR0.CD / CR0.NW (KUT-SVM-11) */

Test(vmcb_check, cr0_nw_without_cd_fails)
{
    vmcb.save.cr0 = VALID_CR0 | X86_CR0_NW;
    EXPECT_CHECK(SVM_CHECK_CR0_CD_NW);
}

Test(vmcb_check, cr0_cd_with_nw_passes)
{
    vmcb.save.cr0 = VALID_CR0 | X86_CR0_CD | X86_CR0_NW;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cr0_cd_without_nw_passes)
{
    vmcb.save.cr0 = VALID_CR0 | X86_CR0_CD;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cr0_cd_and_nw_both_clear_passes)
{
    vmcb.save.cr0 = VALID_CR0 & ~(X86_CR0_CD | X86_CR0_NW);
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- CR0[63:32] (KUT-SVM-11) */

Test(vmcb_check, cr0_bit_32_fails)
{
    vmcb.save.cr0 = VALID_CR0 | (1ull << 32);
    EXPECT_CHECK(SVM_CHECK_CR0_HIGH);
}

Test(vmcb_check, cr0_bit_31_passes)
{
    cr_assert(VALID_CR0 & (1ull << 31));
    vmcb.save.cr0 = VALID_CR0 | (1ull << 31);
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, each_cr0_bit_32_to_63_step_4_fails)
{
    for (unsigned bit = 32; bit < 64; bit += 4) {
        vmcb.save.cr0 = VALID_CR0 | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_CR0_HIGH, bit);
    }
}

/* ---- DR6[63:32], DR7[63:32] (KUT-SVM-14) */

Test(vmcb_check, dr6_bit_32_fails)
{
    vmcb.save.dr6 = 0xffff0ff0ull | (1ull << 32);
    EXPECT_CHECK(SVM_CHECK_DR6_HIGH);
}

Test(vmcb_check, dr6_with_all_low_32_bits_set_passes)
{
    vmcb.save.dr6 = 0xffffffffull;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, each_dr6_bit_32_to_63_step_4_fails)
{
    for (unsigned bit = 32; bit < 64; bit += 4) {
        vmcb.save.dr6 = 0xffff0ff0ull | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_DR6_HIGH, bit);
    }
}

Test(vmcb_check, dr7_bit_32_fails)
{
    vmcb.save.dr7 = 0x400ull | (1ull << 32);
    EXPECT_CHECK(SVM_CHECK_DR7_HIGH);
}

Test(vmcb_check, dr7_with_all_low_32_bits_set_passes)
{
    vmcb.save.dr7 = 0xffffffffull;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, each_dr7_bit_32_to_63_step_4_fails)
{
    for (unsigned bit = 32; bit < 64; bit += 4) {
        vmcb.save.dr7 = 0x400ull | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_DR7_HIGH, bit);
    }
}

/* ---- long mode: EFER.LME and CR0.PG with CR4.PAE clear (KUT-SVM-10a) */

Test(vmcb_check, long_mode_without_cr4_pae_fails)
{
    vmcb.save.cr4 &= ~X86_CR4_PAE;
    EXPECT_CHECK(SVM_CHECK_LM_PAE);
}

Test(vmcb_check, paging_without_pae_passes_when_efer_lme_clear)
{
    leave_long_mode();
    vmcb.save.cr4 &= ~X86_CR4_PAE;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, efer_lme_without_pae_passes_when_cr0_pg_clear)
{
    vmcb.save.efer &= ~X86_EFER_LMA;
    vmcb.save.cr0 &= ~X86_CR0_PG;
    vmcb.save.cr4 &= ~X86_CR4_PAE;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- long mode: CR0.PE clear (KUT-SVM-10b) */

Test(vmcb_check, long_mode_without_cr0_pe_fails)
{
    vmcb.save.cr0 &= ~X86_CR0_PE;
    EXPECT_CHECK(SVM_CHECK_LM_PE);
}

Test(vmcb_check, efer_lme_in_real_mode_passes)
{
    vmcb.save.efer &= ~X86_EFER_LMA;
    vmcb.save.cr0 &= ~(X86_CR0_PG | X86_CR0_PE);
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- long mode: CR3 beyond MAXPHYADDR (KUT-SVM-12) */

Test(vmcb_check, long_mode_cr3_bit_48_fails)
{
    vmcb.save.cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_LM_CR3);
}

Test(vmcb_check, long_mode_cr3_at_last_page_below_maxphyaddr_passes)
{
    vmcb.save.cr3 = PA_TOP - 4096;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, each_long_mode_cr3_bit_52_to_63_fails)
{
    for (unsigned bit = 52; bit < 64; bit++) {
        vmcb.save.cr3 = VALID_CR3 | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_LM_CR3, bit);
    }
}

Test(vmcb_check, cr3_bit_48_passes_when_efer_lme_clear)
{
    leave_long_mode();
    vmcb.save.cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cr3_limit_follows_model_maxphyaddr)
{
    model.maxphyaddr = 52;
    vmcb.save.cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_OK);
    vmcb.save.cr3 = 1ull << 52;
    EXPECT_CHECK(SVM_CHECK_LM_CR3);
}

/* ---- long mode: CS.L and CS.D both set (KUT-SVM-10c) */

Test(vmcb_check, long_mode_cs_with_l_and_d_fails)
{
    vmcb.save.cs.attrib = CODE64_ATTR | VMCB_ATTR_DB;
    EXPECT_CHECK(SVM_CHECK_LM_CS_L_D);
}

Test(vmcb_check, long_mode_cs_with_d_only_passes)
{
    vmcb.save.cs.attrib = (CODE64_ATTR & ~VMCB_ATTR_L) | VMCB_ATTR_DB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cs_with_l_and_d_passes_when_efer_lme_clear)
{
    leave_long_mode();
    vmcb.save.cs.attrib = CODE64_ATTR | VMCB_ATTR_DB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cs_with_l_and_d_passes_when_cr0_pg_clear)
{
    vmcb.save.efer &= ~X86_EFER_LMA;
    vmcb.save.cr0 &= ~X86_CR0_PG;
    vmcb.save.cs.attrib = CODE64_ATTR | VMCB_ATTR_DB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- CR4 reserved bits (KUT-SVM-13) */

Test(vmcb_check, cr4_vmxe_bit_13_fails)
{
    vmcb.save.cr4 |= 1ull << 13;
    EXPECT_CHECK(SVM_CHECK_CR4_RSVD);
}

Test(vmcb_check, each_cr4_bit_of_0xfe08e000_fails_in_long_mode)
{
    for (unsigned bit = 12; bit < 32; bit++) {
        if (!(KUT_CR4_MBZ_LOW & (1ull << bit)))
            continue;
        vmcb.save.cr4 = X86_CR4_PAE | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_CR4_RSVD, bit);
    }
}

Test(vmcb_check, each_cr4_bit_of_0xfe08e000_fails_when_efer_lme_clear)
{
    leave_long_mode();
    for (unsigned bit = 12; bit < 32; bit++) {
        if (!(KUT_CR4_MBZ_LOW & (1ull << bit)))
            continue;
        vmcb.save.cr4 = X86_CR4_PAE | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_CR4_RSVD, bit);
    }
}

Test(vmcb_check, each_cr4_bit_32_to_63_step_4_fails)
{
    for (unsigned bit = 32; bit < 64; bit += 4) {
        vmcb.save.cr4 = X86_CR4_PAE | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_CR4_RSVD, bit);
    }
}

Test(vmcb_check, cr4_with_every_implemented_bit_set_passes)
{
    vmcb.save.cr4 = CPU_CR4_VALID;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, cr4_bit_outside_model_cr4_valid_fails)
{
    /* FSGSBASE is implemented by the default model; a CPU without it
     * treats the bit as reserved. */
    model.cr4_valid = CPU_CR4_VALID & ~X86_CR4_FSGSBASE;
    vmcb.save.cr4 = X86_CR4_PAE | X86_CR4_FSGSBASE;
    EXPECT_CHECK(SVM_CHECK_CR4_RSVD);
}

/* ---- EFER reserved bits (KUT-SVM-09) */

Test(vmcb_check, efer_bit_9_fails)
{
    vmcb.save.efer |= 1ull << 9;
    EXPECT_CHECK(SVM_CHECK_EFER_RSVD);
}

Test(vmcb_check, each_efer_bit_16_to_60_step_4_fails)
{
    uint64_t efer = vmcb.save.efer;
    for (unsigned bit = 16; bit <= 60; bit += 4) {
        cr_assert(KUT_EFER_MBZ & (1ull << bit));
        vmcb.save.efer = efer | (1ull << bit);
        EXPECT_CHECK_BIT(SVM_CHECK_EFER_RSVD, bit);
    }
}

Test(vmcb_check, efer_with_every_implemented_bit_set_passes)
{
    vmcb.save.efer = CPU_EFER_VALID;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- VMRUN intercept (KUT-SVM-03) */

Test(vmcb_check, vmrun_intercept_clear_fails)
{
    vmcb_clr_intercept(&vmcb.control, SVM_EXIT_VMRUN);
    EXPECT_CHECK(SVM_CHECK_VMRUN_INTERCEPT);
}

Test(vmcb_check, vmrun_intercept_clear_fails_even_with_vmmcall_intercepted)
{
    vmcb_clr_intercept(&vmcb.control, SVM_EXIT_VMRUN);
    vmcb_set_intercept(&vmcb.control, SVM_EXIT_VMMCALL);
    EXPECT_CHECK(SVM_CHECK_VMRUN_INTERCEPT);
}

/* ---- ASID (KUT-SVM-04) */

Test(vmcb_check, asid_zero_fails)
{
    vmcb.control.asid = 0;
    EXPECT_CHECK(SVM_CHECK_ASID_ZERO);
}

Test(vmcb_check, asid_one_passes)
{
    vmcb.control.asid = 1;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- nCR3 */

Test(vmcb_check, ncr3_beyond_maxphyaddr_with_np_enabled_fails)
{
    vmcb.control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    vmcb.control.nested_cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_NCR3);
}

Test(vmcb_check, ncr3_at_last_page_below_maxphyaddr_with_np_enabled_passes)
{
    vmcb.control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    vmcb.control.nested_cr3 = PA_TOP - 4096;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, ncr3_beyond_maxphyaddr_passes_when_np_enable_clear)
{
    vmcb.control.nested_ctl = 0;
    vmcb.control.nested_cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, ncr3_beyond_maxphyaddr_passes_when_model_lacks_np)
{
    model.np = false;
    vmcb.control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    vmcb.control.nested_cr3 = 1ull << 48;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- MSRPM: 8 KiB, base low 12 bits ignored (KUT-SVM-15) */

Test(vmcb_check, msrpm_ending_at_maxphyaddr_passes)
{
    vmcb.control.msrpm_base_pa = PA_TOP - 8 * KIB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, msrpm_base_low_12_bits_are_ignored)
{
    vmcb.control.msrpm_base_pa = PA_TOP - 8 * KIB + 0xfff;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, msrpm_crossing_maxphyaddr_fails)
{
    vmcb.control.msrpm_base_pa = PA_TOP - 4 * KIB;
    EXPECT_CHECK(SVM_CHECK_MSRPM);
}

Test(vmcb_check, msrpm_base_at_maxphyaddr_fails)
{
    vmcb.control.msrpm_base_pa = PA_TOP;
    EXPECT_CHECK(SVM_CHECK_MSRPM);
}

Test(vmcb_check, valid_msrpm_base_with_low_12_bits_set_passes)
{
    vmcb.control.msrpm_base_pa = VALID_MSRPM | 0xfff;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- IOPM: 12 KiB, base low 12 bits ignored (KUT-SVM-16) */

Test(vmcb_check, iopm_ending_at_maxphyaddr_passes)
{
    vmcb.control.iopm_base_pa = PA_TOP - 12 * KIB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, iopm_sixteen_kib_below_maxphyaddr_passes)
{
    vmcb.control.iopm_base_pa = PA_TOP - 16 * KIB;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, iopm_base_two_below_top_8_kib_passes_as_its_low_bits_are_ignored)
{
    /* KUT-SVM-16: top - 8 KiB - 2 rounds down to top - 12 KiB. */
    vmcb.control.iopm_base_pa = PA_TOP - 8 * KIB - 2;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, iopm_eight_kib_below_maxphyaddr_fails)
{
    vmcb.control.iopm_base_pa = PA_TOP - 8 * KIB;
    EXPECT_CHECK(SVM_CHECK_IOPM);
}

Test(vmcb_check, iopm_four_kib_below_maxphyaddr_fails)
{
    vmcb.control.iopm_base_pa = PA_TOP - 4 * KIB;
    EXPECT_CHECK(SVM_CHECK_IOPM);
}

Test(vmcb_check, valid_iopm_base_with_low_12_bits_set_passes)
{
    vmcb.control.iopm_base_pa = VALID_IOPM | 0xfff;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- EVENTINJ: reserved type */

Test(vmcb_check, eventinj_type_1_is_reserved)
{
    vmcb.control.event_inj = evtinj(1, 32);
    EXPECT_CHECK(SVM_CHECK_EVENTINJ_TYPE);
}

Test(vmcb_check, eventinj_types_5_6_7_are_reserved)
{
    for (unsigned type = 5; type <= 7; type++) {
        vmcb.control.event_inj = evtinj(type, 32);
        EXPECT_CHECK_BIT(SVM_CHECK_EVENTINJ_TYPE, type);
    }
}

Test(vmcb_check, eventinj_types_0_2_3_4_pass)
{
    static const unsigned types[] = {0, 2, 3, 4};
    for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        unsigned vector = types[i] == 2 ? X86_VEC_NMI : types[i] == 3 ? 13 : 32;
        vmcb.control.event_inj = evtinj(types[i], vector);
        EXPECT_CHECK_BIT(SVM_CHECK_OK, types[i]);
    }
}

Test(vmcb_check, eventinj_reserved_type_passes_when_valid_bit_clear)
{
    vmcb.control.event_inj = (1u << SVM_EVTINJ_TYPE_SHIFT) | 32;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- EVENTINJ: exception vector */

Test(vmcb_check, eventinj_exception_vector_2_fails)
{
    vmcb.control.event_inj = evtinj(3, X86_VEC_NMI);
    EXPECT_CHECK(SVM_CHECK_EVENTINJ_VECTOR);
}

Test(vmcb_check, eventinj_exception_vector_32_fails)
{
    vmcb.control.event_inj = evtinj(3, 32);
    EXPECT_CHECK(SVM_CHECK_EVENTINJ_VECTOR);
}

Test(vmcb_check, eventinj_exception_vector_255_fails)
{
    vmcb.control.event_inj = evtinj(3, 255);
    EXPECT_CHECK(SVM_CHECK_EVENTINJ_VECTOR);
}

Test(vmcb_check, eventinj_exception_vector_13_with_error_code_passes)
{
    vmcb.control.event_inj = evtinj(3, 13) | SVM_EVTINJ_VALID_ERR;
    vmcb.control.event_inj_err = 0;
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, eventinj_exception_vector_31_passes)
{
    vmcb.control.event_inj = evtinj(3, 31);
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, eventinj_external_interrupt_vector_32_passes)
{
    vmcb.control.event_inj = evtinj(0, 32);
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, eventinj_nmi_type_with_vector_2_passes)
{
    vmcb.control.event_inj = evtinj(2, X86_VEC_NMI);
    EXPECT_CHECK(SVM_CHECK_OK);
}

Test(vmcb_check, eventinj_undefined_vector_passes_when_valid_bit_clear)
{
    vmcb.control.event_inj = SVM_EVTINJ_TYPE_EXEPT | 32;
    EXPECT_CHECK(SVM_CHECK_OK);
}

/* ---- order: the earlier check of SPEC-GP.md §4.1 is the one reported */

/* Makes exactly one check fail on the fixture (each is tested alone below). */
static void break_check(enum svm_check which)
{
    struct vmcb_save_area *s = &vmcb.save;
    struct vmcb_control_area *c = &vmcb.control;
    switch (which) {
    case SVM_CHECK_EFER_SVME: s->efer &= ~X86_EFER_SVME; break;
    case SVM_CHECK_CR0_CD_NW: s->cr0 = (s->cr0 & ~X86_CR0_CD) | X86_CR0_NW; break;
    case SVM_CHECK_CR0_HIGH: s->cr0 |= 1ull << 32; break;
    case SVM_CHECK_DR6_HIGH: s->dr6 |= 1ull << 32; break;
    case SVM_CHECK_DR7_HIGH: s->dr7 |= 1ull << 32; break;
    case SVM_CHECK_LM_PAE: s->cr4 &= ~X86_CR4_PAE; break;
    case SVM_CHECK_LM_PE: s->cr0 &= ~X86_CR0_PE; break;
    case SVM_CHECK_LM_CR3: s->cr3 = 1ull << 48; break;
    case SVM_CHECK_LM_CS_L_D: s->cs.attrib |= VMCB_ATTR_L | VMCB_ATTR_DB; break;
    case SVM_CHECK_CR4_RSVD: s->cr4 |= 1ull << 13; break;
    case SVM_CHECK_EFER_RSVD: s->efer |= 1ull << 9; break;
    case SVM_CHECK_VMRUN_INTERCEPT: vmcb_clr_intercept(c, SVM_EXIT_VMRUN); break;
    case SVM_CHECK_ASID_ZERO: c->asid = 0; break;
    case SVM_CHECK_NCR3:
        c->nested_ctl |= SVM_NESTED_CTL_NP_ENABLE;
        c->nested_cr3 = 1ull << 48;
        break;
    case SVM_CHECK_MSRPM: c->msrpm_base_pa = PA_TOP - 4 * KIB; break;
    case SVM_CHECK_IOPM: c->iopm_base_pa = PA_TOP - 8 * KIB; break;
    case SVM_CHECK_EVENTINJ_TYPE: c->event_inj = evtinj(5, 0); break;
    case SVM_CHECK_EVENTINJ_VECTOR: c->event_inj = evtinj(3, 32); break;
    default: cr_assert_fail("no way to break check %d", (int)which);
    }
}

Test(vmcb_check, each_breaker_fails_only_its_own_check)
{
    for (int i = SVM_CHECK_OK + 1; i < SVM_CHECK_COUNT; i++) {
        setup();
        break_check((enum svm_check)i);
        enum svm_check got = check();
        cr_assert_eq(got, (enum svm_check)i, "breaking %s gave %s",
                     svm_check_name((enum svm_check)i), svm_check_name(got));
    }
}

Test(vmcb_check, save_area_check_is_reported_before_control_area_check)
{
    break_check(SVM_CHECK_ASID_ZERO);
    break_check(SVM_CHECK_EFER_RSVD);
    EXPECT_CHECK(SVM_CHECK_EFER_RSVD);
}

Test(vmcb_check, efer_svme_is_reported_before_every_other_check)
{
    for (int i = SVM_CHECK_EVENTINJ_VECTOR; i > SVM_CHECK_OK; i--)
        break_check((enum svm_check)i);
    EXPECT_CHECK(SVM_CHECK_EFER_SVME);
}

Test(vmcb_check, cr0_cd_nw_is_reported_before_cr0_high)
{
    break_check(SVM_CHECK_CR0_HIGH);
    break_check(SVM_CHECK_CR0_CD_NW);
    EXPECT_CHECK(SVM_CHECK_CR0_CD_NW);
}

Test(vmcb_check, long_mode_pae_is_reported_before_long_mode_pe)
{
    break_check(SVM_CHECK_LM_PE);
    break_check(SVM_CHECK_LM_PAE);
    EXPECT_CHECK(SVM_CHECK_LM_PAE);
}

Test(vmcb_check, vmrun_intercept_is_reported_before_asid_zero)
{
    break_check(SVM_CHECK_ASID_ZERO);
    break_check(SVM_CHECK_VMRUN_INTERCEPT);
    EXPECT_CHECK(SVM_CHECK_VMRUN_INTERCEPT);
}

Test(vmcb_check, msrpm_is_reported_before_iopm)
{
    break_check(SVM_CHECK_IOPM);
    break_check(SVM_CHECK_MSRPM);
    EXPECT_CHECK(SVM_CHECK_MSRPM);
}

/* Every pair (earlier, later) that can fail together: the earlier wins. The
 * two EVENTINJ checks share one field and cannot fail together. */
Test(vmcb_check, every_pair_of_failing_checks_reports_the_earlier)
{
    for (int a = SVM_CHECK_OK + 1; a < SVM_CHECK_COUNT; a++) {
        for (int b = a + 1; b < SVM_CHECK_COUNT; b++) {
            if (a == SVM_CHECK_EVENTINJ_TYPE && b == SVM_CHECK_EVENTINJ_VECTOR)
                continue;
            setup();
            break_check((enum svm_check)b);
            break_check((enum svm_check)a);
            enum svm_check got = check();
            cr_assert_eq(got, (enum svm_check)a, "%s with %s: got %s",
                         svm_check_name((enum svm_check)a), svm_check_name((enum svm_check)b),
                         svm_check_name(got));
        }
    }
}

/* ---- names */

Test(vmcb_check, every_check_has_a_distinct_non_empty_name)
{
    for (int i = 0; i < SVM_CHECK_COUNT; i++) {
        const char *name = svm_check_name((enum svm_check)i);
        cr_assert_not_null(name, "check %d", i);
        cr_assert_neq(name[0], '\0', "check %d", i);
        cr_assert_str_neq(name, "unknown", "check %d", i);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(name, svm_check_name((enum svm_check)j), "checks %d and %d", j, i);
    }
}

Test(vmcb_check, names_match_the_examples_in_svm_h)
{
    cr_assert_str_eq(svm_check_name(SVM_CHECK_EFER_SVME), "EFER.SVME clear");
    cr_assert_str_eq(svm_check_name(SVM_CHECK_ASID_ZERO), "ASID 0");
}
