/* test_lapic.c — the local APIC L0 emulates for L1 (src/hv/lapic.c):
 * reset state, the xAPIC page through the CPU's MMIO hook (hv.c's
 * l0_mmio_read/l0_mmio_write), IPIs to the one vCPU, EOI and PPR, the
 * timer's count, IA32_APIC_BASE and the x2APIC MSRs, both called directly
 * and through msr_interception as an intercepted WRMSR/RDMSR of L1.
 *
 * Owns: a fixture of 1 MiB of RAM, a deterministic CPU (cpu_host_tsc is
 * cpu->insns * 4, so a test moves the APIC's clock by setting cpu.insns)
 * and an L0 after l0_init (the APIC reset with ID 0, BSP, the page hooked
 * as cpu.mmio).
 * Must not: run the CPU or touch src/. Expected values are KVM's
 * (arch/x86/kvm/lapic.c) and the SDM's / APM's.
 */
#include "hv/hv.h"

#include "l0_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

#include "cpu/cpu.h"
#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"
#include "svmsim/svmsim.h"

#define RAM_SIZE (1ull << 20)
#define PAGE LAPIC_DEFAULT_BASE     /* 0xfee00000 */
#define OTHER_PAGE 0xfed00000ull
#define GUEST_RIP 0x1000ull
#define EN LAPIC_BASE_EN
#define EXTD LAPIC_BASE_EXTD
#define BSP LAPIC_BASE_BSP

#define MSR_APIC_BASE 0x1bu
#define LVT_MASKED 0x10000u

#include "l0_msr.h" /* the rig; guest_msr, guest_wrmsr, guest_rdmsr */

static void setup(void)
{
    struct cpu_model model = {
        .maxphyaddr = 48,
        .nrips = true,
        .deterministic = true,
    };
    msr_rig_init(&model);
}

TestSuite(lapic_reset, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_mmio, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_ipi, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_eoi, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_timer, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_base, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_x2apic, .init = setup, .fini = msr_rig_fini);
TestSuite(lapic_guest_msr, .init = setup, .fini = msr_rig_fini);

/* ---- helpers */

static const unsigned LVTS[6] = { APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC,
                                  APIC_LVT0, APIC_LVT1,    APIC_LVTERR };

/* The register file, by xAPIC offset. */
static uint32_t *reg(unsigned off)
{
    return &l0.lapic.regs[off / 4];
}

/* Accesses through the CPU's MMIO hook, as a guest load/store makes them. */
static uint64_t mmio_read(uint64_t pa, unsigned size)
{
    return cpu.mmio.read(cpu.mmio.opaque, pa, size);
}

static void mmio_write(uint64_t pa, unsigned size, uint64_t v)
{
    cpu.mmio.write(cpu.mmio.opaque, pa, size, v);
}

static uint64_t apic_rd(unsigned off)
{
    return mmio_read(PAGE + off, 4);
}

static void apic_wr(unsigned off, uint32_t v)
{
    mmio_write(PAGE + off, 4, v);
}

/* Writes v to the register at off, then reads it back. */
static uint64_t apic_wr_rd(unsigned off, uint32_t v)
{
    apic_wr(off, v);
    return apic_rd(off);
}

static bool irr_has(unsigned vec)
{
    return *reg(APIC_IRR + (vec / 32) * 0x10) & (1u << (vec % 32));
}

static unsigned irr_count(void)
{
    unsigned n = 0;
    for (unsigned w = 0; w < 8; w++)
        n += (unsigned)__builtin_popcount(*reg(APIC_IRR + w * 0x10));
    return n;
}

static void set_isr(unsigned vec)
{
    *reg(APIC_ISR + (vec / 32) * 0x10) |= 1u << (vec % 32);
}

/* An IPI of icr (fixed delivery, its vector in bits 7:0) to dest (ICR2
 * bits 31:24): whether the one vCPU took it into its IRR. */
static bool ipi_taken(uint32_t dest, uint32_t icr)
{
    apic_wr(APIC_ICR2, dest << 24);
    apic_wr(APIC_ICR, icr);
    return irr_has(icr & 0xff);
}

/* SPIV bit 8: the APIC software-enabled, spurious vector 0xff. */
static void sw_enable(void)
{
    apic_wr(APIC_SPIV, 0x1ff);
    cr_assert_eq(*reg(APIC_SPIV), 0x1ff);
}

static void set_clock(uint64_t tsc)
{
    cpu.insns = tsc / 4; /* deterministic: cpu_host_tsc = insns * 4 */
    cr_assert_eq(cpu_host_tsc(&cpu), tsc);
}

/* Starts the timer at clock now: TDCR tdcr, then TMICT initial. */
static void start_timer(uint64_t now, uint32_t tdcr, uint32_t initial)
{
    set_clock(now);
    apic_wr(APIC_TDCR, tdcr);
    apic_wr(APIC_TMICT, initial);
}

/* TMCCT as read at clock now. */
static uint64_t tmcct_at(uint64_t now)
{
    set_clock(now);
    return apic_rd(APIC_TMCCT);
}

static void enter_x2apic(void)
{
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP | EN | EXTD), 0);
}

static uint64_t x2_rd(uint32_t msr)
{
    uint64_t v = 0xdeadbeefull;
    cr_assert_eq(lapic_msr_read(&l0, msr, &v), 0, "RDMSR 0x%x refused", msr);
    return v;
}

static void x2_wr(uint32_t msr, uint64_t v)
{
    cr_assert_eq(lapic_msr_write(&l0, msr, v), 0, "WRMSR 0x%x = 0x%llx refused", msr,
                 (unsigned long long)v);
}

/* Writes v to an x2APIC MSR, then reads it back. */
static uint64_t x2_wr_rd(uint32_t msr, uint64_t v)
{
    x2_wr(msr, v);
    return x2_rd(msr);
}


/* ======================================================================
 * reset state (kvm_lapic_reset)
 * ====================================================================== */

Test(lapic_reset, base_is_default_page_enabled_bsp)
{
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
}

Test(lapic_reset, registers)
{
    cr_expect_eq(*reg(APIC_ID), 0u << 24);
    cr_expect_eq(*reg(APIC_LVR), 0x50014);
    cr_expect_eq(*reg(APIC_DFR), 0xffffffffu);
    cr_expect_eq(*reg(APIC_SPIV), 0xff);
    cr_expect_eq(*reg(APIC_TASKPRI), 0);
    cr_expect_eq(*reg(APIC_PROCPRI), 0);
    cr_expect_eq(*reg(APIC_LDR), 0);
    cr_expect_eq(*reg(APIC_TMICT), 0);
    cr_expect_eq(*reg(APIC_TDCR), 0);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(*reg(LVTS[i]), LVT_MASKED, "LVT 0x%x = 0x%x", LVTS[i], *reg(LVTS[i]));
    for (unsigned w = 0; w < 8; w++) {
        cr_expect_eq(*reg(APIC_ISR + w * 0x10), 0);
        cr_expect_eq(*reg(APIC_TMR + w * 0x10), 0);
        cr_expect_eq(*reg(APIC_IRR + w * 0x10), 0);
    }
    cr_expect_not(l0.lapic.nmi_pending);
}

Test(lapic_reset, registers_through_the_page)
{
    cr_expect_eq(apic_rd(APIC_ID), 0);
    cr_expect_eq(apic_rd(APIC_LVR), 0x50014);
    cr_expect_eq(apic_rd(APIC_DFR), 0xffffffffu);
    cr_expect_eq(apic_rd(APIC_SPIV), 0xff);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(apic_rd(LVTS[i]), LVT_MASKED, "LVT 0x%x", LVTS[i]);
}

Test(lapic_reset, another_id_and_not_bsp)
{
    lapic_reset(&l0.lapic, 0x13, false);
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00800ull);
    cr_expect_eq(*reg(APIC_ID), 0x13000000u);
}

/* ======================================================================
 * the xAPIC page (kvm_lapic_reg_read / kvm_lapic_reg_write, apic_mmio_*)
 * ====================================================================== */

/* Every readable register reads back what its slot holds, zero-extended. */
Test(lapic_mmio, reads_each_register_at_its_offset)
{
    static const unsigned plain[] = {
        APIC_ID,    APIC_LVR,   APIC_TASKPRI, APIC_LDR,    APIC_DFR,   APIC_SPIV,
        APIC_ESR,   APIC_ICR,   APIC_ICR2,    APIC_LVTT,   APIC_LVTTHMR, APIC_LVTPC,
        APIC_LVT0,  APIC_LVT1,  APIC_LVTERR,  APIC_TDCR,
    };
    for (unsigned i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        *reg(plain[i]) = 0xa5000000u | plain[i];
    for (unsigned w = 0; w < 8; w++) {
        *reg(APIC_TMR + w * 0x10) = 0x71000000u | w;
        *reg(APIC_IRR + w * 0x10) = 0x72000000u | w;
    }
    for (unsigned i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        cr_expect_eq(apic_rd(plain[i]), 0xa5000000u | plain[i], "offset 0x%x read 0x%llx",
                     plain[i], (unsigned long long)apic_rd(plain[i]));
    for (unsigned w = 0; w < 8; w++) {
        cr_expect_eq(apic_rd(APIC_TMR + w * 0x10), 0x71000000u | w, "TMR%u", w);
        cr_expect_eq(apic_rd(APIC_IRR + w * 0x10), 0x72000000u | w, "IRR%u", w);
    }
    /* ISR apart: PPR follows it (vector 0x45 = class 0x40). */
    *reg(APIC_ISR + 0x20) = 0x20;
    cr_expect_eq(apic_rd(APIC_ISR + 0x20), 0x20);
    cr_expect_eq(apic_rd(APIC_ISR), 0);
}

Test(lapic_mmio, tmict_reads_back)
{
    cr_expect_eq(apic_wr_rd(APIC_TMICT, 0x12345678), 0x12345678);
}

/* ARBPRI reads 0 in KVM whatever it holds; write-only and reserved slots
 * read 0, as does the page past 0x3ff. */
Test(lapic_mmio, arbpri_reserved_and_write_only_read_zero)
{
    static const unsigned zero[] = { 0x00, 0x10, APIC_ARBPRI, APIC_EOI, APIC_RRR,
                                     0x3a0, 0x3b0, 0x3c0, 0x3d0, APIC_SELF_IPI };
    for (unsigned i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        *reg(zero[i]) = 0xffffffffu;
        cr_expect_eq(apic_rd(zero[i]), 0, "offset 0x%x", zero[i]);
    }
    cr_expect_eq(apic_rd(0x400), 0);
    cr_expect_eq(apic_rd(0xff0), 0);
}

/* A register is the first 4 bytes of its 16: bytes 4-15 read 0. */
Test(lapic_mmio, bytes_4_to_15_of_a_slot_read_zero)
{
    *reg(APIC_LVR) = 0xffffffffu;
    cr_expect_eq(mmio_read(PAGE + APIC_LVR + 4, 4), 0);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR + 8, 4), 0);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR + 12, 4), 0);
    for (unsigned b = 4; b < 16; b++)
        cr_expect_eq(mmio_read(PAGE + APIC_LVR + b, 1), 0, "byte %u", b);
}

Test(lapic_mmio, byte_reads_of_id)
{
    *reg(APIC_ID) = 0x12000000u;
    cr_expect_eq(mmio_read(PAGE + APIC_ID, 1), 0x00);
    cr_expect_eq(mmio_read(PAGE + APIC_ID + 3, 1), 0x12);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR, 1), 0x14);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR + 2, 1), 0x05);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR, 2), 0x0014);
    cr_expect_eq(mmio_read(PAGE + APIC_LVR + 2, 2), 0x0005);
}

Test(lapic_mmio, id_write_keeps_bits_31_24)
{
    cr_expect_eq(apic_wr_rd(APIC_ID, 0x12345678), 0x12000000u);
}

Test(lapic_mmio, tpr_masks_to_8_bits_and_ppr_follows)
{
    cr_expect_eq(apic_wr_rd(APIC_TASKPRI, 0x1234), 0x34);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x34);
    apic_wr(APIC_TASKPRI, 0);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0);
}

/* PPR = TPR if TPR[7:4] >= the highest ISR class, else that class. */
Test(lapic_mmio, ppr_is_the_higher_of_tpr_and_isr_class)
{
    set_isr(0x51);
    apic_wr(APIC_TASKPRI, 0x20);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x50);
    apic_wr(APIC_TASKPRI, 0x5f);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x5f);
    apic_wr(APIC_TASKPRI, 0x65);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x65);
}

Test(lapic_mmio, spiv_masks_to_0x3ff)
{
    cr_expect_eq(apic_wr_rd(APIC_SPIV, 0xfffff1ffu), 0x1ff);
    cr_expect_eq(apic_wr_rd(APIC_SPIV, 0xfffffeffu), 0x2ff);
}

/* Software disable (SPIV bit 8 clear) masks every LVT and keeps later
 * writes masked; software enable lets them through. */
Test(lapic_mmio, spiv_disable_masks_every_lvt)
{
    sw_enable();
    for (unsigned i = 0; i < 6; i++)
        apic_wr(LVTS[i], 0x30 + i);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(apic_rd(LVTS[i]), 0x30 + i, "LVT 0x%x unmasked", LVTS[i]);
    apic_wr(APIC_SPIV, 0xff);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(apic_rd(LVTS[i]), LVT_MASKED | (0x30 + i), "LVT 0x%x", LVTS[i]);
    cr_expect_eq(apic_wr_rd(APIC_LVT0, 0x700), LVT_MASKED | 0x700);
    cr_expect_eq(apic_wr_rd(APIC_LVTERR, 0x33), LVT_MASKED | 0x33);
}

/* KVM's apic_lvt_mask: vector, delivery status (12) and mask (16) for
 * all; + periodic (17) for the timer; + delivery mode (8-10) for thermal
 * and PMC; + mode, polarity (13), remote IRR (14), trigger (15) for LINTs. */
Test(lapic_mmio, lvt_write_masks)
{
    sw_enable();
    for (unsigned i = 0; i < 6; i++)
        apic_wr(LVTS[i], 0xffffffffu);
    cr_expect_eq(apic_rd(APIC_LVTT), 0x310ff);
    cr_expect_eq(apic_rd(APIC_LVTTHMR), 0x117ff);
    cr_expect_eq(apic_rd(APIC_LVTPC), 0x117ff);
    cr_expect_eq(apic_rd(APIC_LVT0), 0x1f7ff);
    cr_expect_eq(apic_rd(APIC_LVT1), 0x1f7ff);
    cr_expect_eq(apic_rd(APIC_LVTERR), 0x110ff);
    cr_expect_eq(apic_wr_rd(APIC_LVTERR, 0x0000e7ffu), 0x000000ffu);
    cr_expect_eq(apic_wr_rd(APIC_LVT0, 0x0000e7ffu), 0x0000e7ffu);
}

Test(lapic_mmio, ldr_keeps_bits_31_24)
{
    cr_expect_eq(apic_wr_rd(APIC_LDR, 0xffffffffu), 0xff000000u);
    cr_expect_eq(apic_wr_rd(APIC_LDR, 0x01234567u), 0x01000000u);
}

Test(lapic_mmio, dfr_keeps_bits_31_28_and_reads_ones_below)
{
    cr_expect_eq(apic_wr_rd(APIC_DFR, 0), 0x0fffffffu);
    cr_expect_eq(apic_wr_rd(APIC_DFR, 0x12345678u), 0x1fffffffu);
    cr_expect_eq(apic_wr_rd(APIC_DFR, 0xffffffffu), 0xffffffffu);
}

Test(lapic_mmio, icr2_keeps_bits_31_24)
{
    cr_expect_eq(apic_wr_rd(APIC_ICR2, 0x12345678u), 0x12000000u);
}

Test(lapic_mmio, tdcr_keeps_bits_0_1_3)
{
    cr_expect_eq(apic_wr_rd(APIC_TDCR, 0xffffffffu), 0xb);
}

/* apic_mmio_write: only a 4-byte write at a slot's start reaches it. */
Test(lapic_mmio, short_or_misaligned_writes_are_ignored)
{
    apic_wr(APIC_TASKPRI, 0x10);
    mmio_write(PAGE + APIC_TASKPRI, 1, 0x77);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0x10, "1-byte write");
    mmio_write(PAGE + APIC_TASKPRI, 2, 0x77);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0x10, "2-byte write");
    mmio_write(PAGE + APIC_TASKPRI + 4, 4, 0x77);
    mmio_write(PAGE + APIC_TASKPRI + 1, 4, 0x77);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0x10, "write off the slot's start");
    cr_expect_eq(*reg(APIC_TASKPRI + 4), 0);
}

/* KVM's apic_mmio_write takes only len == 4 ("32/64/128 bits registers
 * must be accessed thru 32 bits", SDM §11.4.1): an 8-byte store leaves TPR
 * alone. */
Test(lapic_mmio, an_8_byte_write_is_ignored)
{
    apic_wr(APIC_TASKPRI, 0x10);
    mmio_write(PAGE + APIC_TASKPRI, 8, 0x77);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0x10);
}

Test(lapic_mmio, writes_to_read_only_registers_are_ignored)
{
    cr_expect_eq(apic_wr_rd(APIC_LVR, 0), 0x50014);
    cr_expect_eq(apic_wr_rd(APIC_PROCPRI, 0xff), 0);
    apic_wr(APIC_ARBPRI, 0xff);
    cr_expect_eq(*reg(APIC_ARBPRI), 0);
    apic_wr(APIC_RRR, 0xff);
    cr_expect_eq(*reg(APIC_RRR), 0);
    cr_expect_eq(apic_wr_rd(APIC_TMCCT, 1234), 0);
    cr_expect_eq(*reg(APIC_TMCCT), 0);
    for (unsigned w = 0; w < 8; w++) {
        apic_wr(APIC_ISR + w * 0x10, 0xffffffffu);
        apic_wr(APIC_TMR + w * 0x10, 0xffffffffu);
        apic_wr(APIC_IRR + w * 0x10, 0xffffffffu);
        cr_expect_eq(apic_rd(APIC_ISR + w * 0x10), 0, "ISR%u", w);
        cr_expect_eq(apic_rd(APIC_TMR + w * 0x10), 0, "TMR%u", w);
        cr_expect_eq(apic_rd(APIC_IRR + w * 0x10), 0, "IRR%u", w);
    }
    apic_wr(0x10, 0xffffffffu);
    cr_expect_eq(*reg(0x10), 0);
    /* SELF_IPI exists only in x2APIC mode. */
    sw_enable();
    apic_wr(APIC_SELF_IPI, 0x55);
    cr_expect_eq(irr_count(), 0);
}

/* APIC_BASE.EN clear: the page is gone (KVM's LAPIC_MMIO_HOLE quirk:
 * reads all ones, writes dropped). */
Test(lapic_mmio, page_does_not_answer_when_disabled)
{
    apic_wr(APIC_TASKPRI, 0x10);
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP), 0);
    cr_expect_not(lapic_mmio_claims(&l0.lapic, PAGE + APIC_LVR));
    cr_expect_eq((uint32_t)mmio_read(PAGE + APIC_LVR, 4), 0xffffffffu);
    cr_expect_eq((uint8_t)mmio_read(PAGE + APIC_LVR, 1), 0xff);
    apic_wr(APIC_TASKPRI, 0x20);
    cr_expect_eq(*reg(APIC_TASKPRI), 0x10);
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP | EN), 0);
    cr_expect_eq(apic_rd(APIC_TASKPRI), 0x10);
    cr_expect_eq(apic_rd(APIC_LVR), 0x50014);
}

Test(lapic_mmio, page_does_not_answer_in_x2apic_mode)
{
    enter_x2apic();
    cr_expect_not(lapic_mmio_claims(&l0.lapic, PAGE + APIC_LVR));
    cr_expect_eq((uint32_t)mmio_read(PAGE + APIC_LVR, 4), 0xffffffffu);
    apic_wr(APIC_TASKPRI, 0x20);
    cr_expect_eq(x2_rd(0x808), 0);
}

Test(lapic_mmio, new_base_moves_the_page)
{
    cr_assert_eq(lapic_set_base(&l0, OTHER_PAGE | BSP | EN), 0);
    cr_expect_eq(lapic_get_base(&l0.lapic), OTHER_PAGE | BSP | EN);
    cr_expect(lapic_mmio_claims(&l0.lapic, OTHER_PAGE + 0xfff));
    cr_expect_not(lapic_mmio_claims(&l0.lapic, OTHER_PAGE + 0x1000));
    cr_expect_eq(mmio_read(OTHER_PAGE + APIC_LVR, 4), 0x50014);
    cr_expect_eq((uint32_t)mmio_read(PAGE + APIC_LVR, 4), 0xffffffffu);
    mmio_write(OTHER_PAGE + APIC_TASKPRI, 4, 0x42);
    cr_expect_eq(*reg(APIC_TASKPRI), 0x42);
    mmio_write(PAGE + APIC_TASKPRI, 4, 0x43);
    cr_expect_eq(*reg(APIC_TASKPRI), 0x42);
}

/* ======================================================================
 * IPIs through ICR (kvm_apic_send_ipi, kvm_apic_match_dest)
 * ====================================================================== */

Test(lapic_ipi, fixed_self_ipi_sets_irr)
{
    sw_enable();
    apic_wr(APIC_ICR, (1u << 18) | 0x40);
    cr_expect_eq(*reg(APIC_IRR + 0x10 * (0x40 / 32)), 1u << (0x40 % 32));
    cr_expect_eq(irr_count(), 1);
    cr_expect_eq(apic_rd(APIC_ICR), (1u << 18) | 0x40);
}

Test(lapic_ipi, delivery_status_reads_idle)
{
    sw_enable();
    apic_wr(APIC_ICR, (1u << 18) | (1u << 12) | 0x41);
    cr_expect_eq(apic_rd(APIC_ICR) & (1u << 12), 0);
    cr_expect_eq(apic_rd(APIC_ICR), (1u << 18) | 0x41);
    cr_expect(irr_has(0x41));
}

/* Vectors 0-15 are illegal: ESR "send illegal vector" (bit 5), no IRR. A
 * write to ESR clears it. */
Test(lapic_ipi, illegal_vector_sets_esr_bit_5)
{
    sw_enable();
    apic_wr(APIC_ICR, (1u << 18) | 0x0f);
    cr_expect_eq(irr_count(), 0);
    cr_expect_eq(apic_rd(APIC_ESR), 0x20);
    cr_expect_eq(apic_wr_rd(APIC_ESR, 0), 0);
}

Test(lapic_ipi, physical_destination_own_id)
{
    sw_enable();
    cr_expect(ipi_taken(0u, 0x42));
}

Test(lapic_ipi, physical_destination_broadcast)
{
    sw_enable();
    cr_expect(ipi_taken(0xffu, 0x43));
}

Test(lapic_ipi, physical_destination_other_id_is_not_accepted)
{
    sw_enable();
    apic_wr(APIC_ICR2, 1u << 24);
    apic_wr(APIC_ICR, 0x44);
    cr_expect_eq(irr_count(), 0);
}

/* In xAPIC mode the physical destination is compared with the ID register
 * (KVM's kvm_apic_match_physical_addr uses kvm_xapic_id(), APIC_ID >> 24;
 * the ID is writable in xAPIC mode): after ID = 5 an IPI to 5 is taken and
 * one to 0 is not. */
Test(lapic_ipi, physical_destination_follows_a_written_id)
{
    sw_enable();
    apic_wr(APIC_ID, 5u << 24);
    cr_expect(ipi_taken(5u, 0x45), "IPI to the new ID 5 not accepted");
    cr_expect_not(ipi_taken(0u, 0x46), "IPI to the old ID 0 accepted");
}

Test(lapic_ipi, all_including_self_sets_irr)
{
    sw_enable();
    apic_wr(APIC_ICR2, 1u << 24); /* ignored with a shorthand */
    apic_wr(APIC_ICR, (2u << 18) | 0x47);
    cr_expect(irr_has(0x47));
}

Test(lapic_ipi, all_excluding_self_does_nothing)
{
    sw_enable();
    apic_wr(APIC_ICR, (3u << 18) | 0x48);
    cr_expect_eq(irr_count(), 0);
    apic_wr(APIC_ICR, (3u << 18) | (4u << 8));
    cr_expect_not(l0.lapic.nmi_pending);
}

Test(lapic_ipi, nmi_sets_nmi_pending)
{
    apic_wr(APIC_ICR, (1u << 18) | (4u << 8));
    cr_expect(l0.lapic.nmi_pending);
    cr_expect_eq(irr_count(), 0);
}

Test(lapic_ipi, lowest_priority_to_self_sets_irr)
{
    sw_enable();
    apic_wr(APIC_ICR, (1u << 18) | (1u << 8) | 0x49);
    cr_expect(irr_has(0x49));
}

/* Flat model (DFR 0xffffffff): accepted when dest & LDR[31:24] != 0. */
Test(lapic_ipi, logical_flat_matches_ldr_bits)
{
    sw_enable();
    apic_wr(APIC_LDR, 0x05u << 24);
    cr_expect(ipi_taken(0x04u, (1u << 11) | 0x50));
    cr_expect_not(ipi_taken(0x0au, (1u << 11) | 0x51));
    cr_expect(ipi_taken(0xffu, (1u << 11) | 0x52));
}

/* Cluster model (DFR 0x0fffffff): cluster = bits 7:4, members bits 3:0. */
Test(lapic_ipi, logical_cluster_matches_cluster_and_member)
{
    sw_enable();
    apic_wr(APIC_DFR, 0x0fffffffu);
    apic_wr(APIC_LDR, 0x21u << 24);
    cr_expect(ipi_taken(0x23u, (1u << 11) | 0x60));
    cr_expect_not(ipi_taken(0x11u, (1u << 11) | 0x61), "other cluster");
    cr_expect_not(ipi_taken(0x22u, (1u << 11) | 0x62), "other member");
}

/* A software-disabled APIC (SPIV bit 8 clear, as at reset) accepts only
 * NMI, SMI, INIT and SIPI (SDM §11.4.7.2; KVM's __apic_accept_irq drops
 * APIC_DM_FIXED/LOWEST when !apic_enabled()). */
Test(lapic_ipi, fixed_ipi_dropped_while_software_disabled)
{
    cr_assert_eq(*reg(APIC_SPIV) & 0x100, 0);
    apic_wr(APIC_ICR, (1u << 18) | 0x40);
    cr_expect_eq(irr_count(), 0);
    apic_wr(APIC_ICR, (1u << 18) | (4u << 8));
    cr_expect(l0.lapic.nmi_pending, "NMI is accepted all the same");
}

/* ======================================================================
 * EOI
 * ====================================================================== */

Test(lapic_eoi, clears_the_highest_isr_bit_and_ppr_follows)
{
    set_isr(0x31);
    set_isr(0x61);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x60);
    apic_wr(APIC_EOI, 0);
    cr_expect_eq(*reg(APIC_ISR + 0x30), 0, "vector 0x61 still in service");
    cr_expect_eq(*reg(APIC_ISR + 0x10), 1u << (0x31 - 32));
    cr_expect_eq(*reg(APIC_PROCPRI), 0x30);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x30);
    apic_wr(APIC_EOI, 0x1234); /* xAPIC: the value does not matter */
    cr_expect_eq(*reg(APIC_ISR + 0x10), 0);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0);
}

Test(lapic_eoi, with_nothing_in_service_changes_nothing)
{
    apic_wr(APIC_TASKPRI, 0x20);
    apic_wr(APIC_EOI, 0);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x20);
    for (unsigned w = 0; w < 8; w++)
        cr_expect_eq(*reg(APIC_ISR + w * 0x10), 0);
}

Test(lapic_eoi, same_class_two_vectors)
{
    set_isr(0x40);
    set_isr(0x4f);
    apic_wr(APIC_EOI, 0);
    cr_expect_eq(*reg(APIC_ISR + 0x20), 1u << 0);
    cr_expect_eq(apic_rd(APIC_PROCPRI), 0x40);
}

/* ======================================================================
 * the timer: 1 GHz clock (cpu_host_tsc), TDCR divisor
 * ====================================================================== */

Test(lapic_timer, one_shot_counts_down_and_stops_at_zero)
{
    start_timer(4000, 0xb, 1000); /* divide by 1 */
    cr_expect_eq(apic_rd(APIC_TMCCT), 1000);
    cr_expect_eq(tmcct_at(4100), 900);
    cr_expect_eq(tmcct_at(4996), 4);
    cr_expect_eq(tmcct_at(5000), 0);
    cr_expect_eq(tmcct_at(9000), 0);
    cr_expect_eq(apic_rd(APIC_TMICT), 1000);
}

Test(lapic_timer, periodic_wraps)
{
    set_clock(0);
    apic_wr(APIC_TDCR, 0xb);
    apic_wr(APIC_LVTT, 0x20000 | 0x30);
    apic_wr(APIC_TMICT, 1000);
    cr_expect_eq(tmcct_at(100), 900);
    cr_expect_eq(tmcct_at(1000), 1000);
    cr_expect_eq(tmcct_at(1100), 900);
    cr_expect_eq(tmcct_at(7300), 700);
}

Test(lapic_timer, divide_by_2_halves_the_rate)
{
    start_timer(0, 0x0, 1000); /* divide by 2 */
    cr_expect_eq(tmcct_at(200), 900);
    cr_expect_eq(tmcct_at(1996), 2);
    cr_expect_eq(tmcct_at(2000), 0);
}

/* TDCR 0xa: bits 0,1,3 = 1,0,1 -> value 6 -> divide by 128. */
Test(lapic_timer, divide_by_128)
{
    start_timer(0, 0xa, 1000);
    cr_expect_eq(tmcct_at(128 * 10), 990);
}

/* A new divisor mid-count: the count goes on from where it is. */
Test(lapic_timer, tdcr_change_keeps_the_count)
{
    start_timer(0, 0xb, 1000);
    cr_expect_eq(tmcct_at(100), 900);
    apic_wr(APIC_TDCR, 0x0);
    cr_expect_eq(apic_rd(APIC_TMCCT), 900);
    cr_expect_eq(tmcct_at(200), 850);
}

Test(lapic_timer, tmict_zero_stops)
{
    start_timer(0, 0xb, 1000);
    set_clock(100);
    apic_wr(APIC_TMICT, 0);
    cr_expect_eq(apic_rd(APIC_TMCCT), 0);
}

Test(lapic_timer, tmict_write_restarts)
{
    start_timer(0, 0xb, 1000);
    set_clock(400);
    apic_wr(APIC_TMICT, 500);
    cr_expect_eq(apic_rd(APIC_TMCCT), 500);
    cr_expect_eq(tmcct_at(500), 400);
}

/* A one-shot count of 1000 from clock 0, LVTT written with lvtt at 100:
 * the count goes on. */
static void expect_lvtt_write_keeps_the_timer(uint32_t lvtt)
{
    start_timer(0, 0xb, 1000);
    set_clock(100);
    apic_wr(APIC_LVTT, lvtt);
    cr_expect_eq(apic_rd(APIC_TMICT), 1000);
    cr_expect_eq(apic_rd(APIC_TMCCT), 900);
}

/* Switching LVTT between one-shot and periodic does not disarm the timer:
 * KVM's apic_update_lvtt clears TMICT only on a transition to or from
 * TSC-deadline mode; the SDM (§11.5.4) says only that such a write "does
 * not start the timer". */
Test(lapic_timer, periodic_bit_change_keeps_the_timer)
{
    expect_lvtt_write_keeps_the_timer(LVT_MASKED | 0x20000 | 0x30);
}

/* Rewriting LVTT without changing its mode leaves the timer alone. */
Test(lapic_timer, same_mode_lvtt_write_keeps_the_timer)
{
    expect_lvtt_write_keeps_the_timer(LVT_MASKED | 0x31);
}

/* ======================================================================
 * IA32_APIC_BASE (kvm_apic_set_base)
 * ====================================================================== */

Test(lapic_base, reserved_bits_are_refused)
{
    const uint64_t ok = PAGE | BSP | EN;
    for (unsigned b = 0; b < 8; b++)
        cr_expect_eq(lapic_set_base(&l0, ok | (1ull << b)), -1, "bit %u", b);
    cr_expect_eq(lapic_set_base(&l0, ok | (1ull << 9)), -1, "bit 9");
    cr_expect_eq(lapic_set_base(&l0, ok | (1ull << 48)), -1, "bit 48 (MAXPHYADDR 48)");
    cr_expect_eq(lapic_set_base(&l0, ok | (1ull << 63)), -1, "bit 63");
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
    /* Bit 47 is an address bit. */
    cr_expect_eq(lapic_set_base(&l0, (1ull << 47) | BSP | EN), 0);
    cr_expect_eq(lapic_get_base(&l0.lapic), (1ull << 47) | BSP | EN);
}

Test(lapic_base, same_value_is_accepted)
{
    cr_expect_eq(lapic_set_base(&l0, 0xfee00900ull), 0);
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
}

Test(lapic_base, extd_without_en_is_refused)
{
    cr_expect_eq(lapic_set_base(&l0, PAGE | BSP | EXTD), -1);
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
}

Test(lapic_base, x2apic_to_xapic_only_through_disabled)
{
    enter_x2apic();
    cr_expect_eq(lapic_set_base(&l0, PAGE | BSP | EN), -1, "x2APIC -> xAPIC");
    cr_expect_eq(lapic_get_base(&l0.lapic), PAGE | BSP | EN | EXTD);
    cr_expect_eq(lapic_set_base(&l0, PAGE | BSP), 0, "x2APIC -> disabled");
    cr_expect_eq(lapic_set_base(&l0, PAGE | BSP | EN), 0, "disabled -> xAPIC");
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
}

/* Disabled -> x2APIC is not a legal transition (SDM §11.12.5, Figure
 * "Local x2APIC State Transitions"; KVM's kvm_apic_set_base refuses
 * LAPIC_MODE_DISABLED -> LAPIC_MODE_X2APIC for a guest write). */
Test(lapic_base, disabled_to_x2apic_is_refused)
{
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP), 0);
    cr_expect_eq(lapic_set_base(&l0, PAGE | BSP | EN | EXTD), -1);
    cr_expect_eq(lapic_get_base(&l0.lapic), PAGE | BSP);
}

/* The BSP flag is not reserved: KVM's kvm_apic_set_base reserves only
 * bits 0-7 and 9 (0x2ff) below the base, so a guest write that changes
 * bit 8 is taken (the SDM's MSR table lists BSP as R/W). */
Test(lapic_base, bsp_bit_is_writable)
{
    cr_expect_eq(lapic_set_base(&l0, PAGE | EN), 0);
    cr_expect_eq(lapic_get_base(&l0.lapic), PAGE | EN);
}

Test(lapic_base, entering_x2apic_sets_id_and_ldr)
{
    lapic_reset(&l0.lapic, 0x13, true);
    cr_assert_eq(*reg(APIC_ID), 0x13000000u);
    enter_x2apic();
    cr_expect_eq(*reg(APIC_ID), 0x13);
    cr_expect_eq(*reg(APIC_LDR), (1u << 16) | (1u << 3));
    cr_expect_eq(x2_rd(0x802), 0x13);
    cr_expect_eq(x2_rd(0x80d), 0x10008);
}

Test(lapic_base, entering_x2apic_with_id_0)
{
    enter_x2apic();
    cr_expect_eq(x2_rd(0x802), 0);
    cr_expect_eq(x2_rd(0x80d), 1);
}

Test(lapic_base, disabling_resets_id_and_masks_lvts)
{
    lapic_reset(&l0.lapic, 0x13, true);
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    for (unsigned i = 0; i < 6; i++)
        x2_wr(0x832 + i, 0x40 + i);
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP), 0);
    cr_expect_eq(*reg(APIC_ID), 0x13000000u);
    cr_expect_eq(*reg(APIC_LDR), 0);
    cr_expect_eq(*reg(APIC_SPIV) & 0x100, 0);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(*reg(LVTS[i]), LVT_MASKED | (0x40 + i), "LVT 0x%x", LVTS[i]);
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP | EN), 0);
    cr_expect_eq(apic_rd(APIC_ID), 0x13000000u);
}

Test(lapic_base, disabling_xapic_resets_a_written_id)
{
    lapic_reset(&l0.lapic, 0x13, true);
    apic_wr(APIC_ID, 0x07000000u);
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP), 0);
    cr_expect_eq(*reg(APIC_ID), 0x13000000u);
}

/* ======================================================================
 * the x2APIC MSRs (kvm_x2apic_msr_read / kvm_x2apic_msr_write)
 * ====================================================================== */

Test(lapic_x2apic, every_msr_faults_in_xapic_mode)
{
    for (uint32_t msr = APIC_MSR_BASE; msr <= APIC_MSR_LAST; msr++) {
        uint64_t v = 0;
        cr_expect_eq(lapic_msr_read(&l0, msr, &v), -1, "RDMSR 0x%x", msr);
        cr_expect_eq(lapic_msr_write(&l0, msr, 0), -1, "WRMSR 0x%x", msr);
    }
    cr_expect_eq(irr_count(), 0);
}

Test(lapic_x2apic, every_msr_faults_when_disabled)
{
    cr_assert_eq(lapic_set_base(&l0, PAGE | BSP), 0);
    uint64_t v = 0;
    cr_expect_eq(lapic_msr_read(&l0, 0x803, &v), -1);
    cr_expect_eq(lapic_msr_write(&l0, 0x808, 0), -1);
}

Test(lapic_x2apic, reads)
{
    lapic_reset(&l0.lapic, 0x13, true);
    enter_x2apic();
    *reg(APIC_TASKPRI) = 0x45;
    *reg(APIC_SPIV) = 0x1ff;
    *reg(APIC_ESR) = 0x40;
    *reg(APIC_TMICT) = 0;
    *reg(APIC_TDCR) = 0xb;
    for (unsigned i = 0; i < 6; i++)
        *reg(LVTS[i]) = 0x10000u | (0x20 + i);
    cr_expect_eq(x2_rd(0x802), 0x13);
    cr_expect_eq(x2_rd(0x803), 0x50014);
    cr_expect_eq(x2_rd(0x808), 0x45);
    cr_expect_eq(x2_rd(0x80a), 0x45);
    cr_expect_eq(x2_rd(0x80d), 0x10008);
    cr_expect_eq(x2_rd(0x80f), 0x1ff);
    cr_expect_eq(x2_rd(0x828), 0x40);
    for (unsigned i = 0; i < 6; i++)
        cr_expect_eq(x2_rd(0x832 + i), 0x10000u | (0x20 + i), "MSR 0x%x", 0x832 + i);
    cr_expect_eq(x2_rd(0x838), 0);
    cr_expect_eq(x2_rd(0x839), 0);
    cr_expect_eq(x2_rd(0x83e), 0xb);
}

Test(lapic_x2apic, isr_tmr_irr_reads)
{
    enter_x2apic();
    for (unsigned i = 0; i < 24; i++)
        *reg(APIC_ISR + i * 0x10) = 0xc0000000u | i;
    for (unsigned i = 0; i < 24; i++)
        cr_expect_eq(x2_rd(0x810 + i), 0xc0000000u | i, "MSR 0x%x", 0x810 + i);
}

/* ICR is one 64-bit register: the destination (ICR2) in bits 63:32. */
Test(lapic_x2apic, icr_reads_64_bits)
{
    enter_x2apic();
    *reg(APIC_ICR) = 0x000c4031u;
    *reg(APIC_ICR2) = 0x00000013u;
    cr_expect_eq(x2_rd(0x830), 0x00000013000c4031ull);
}

Test(lapic_x2apic, timer_msrs)
{
    enter_x2apic();
    set_clock(0);
    x2_wr(0x83e, 0xb);
    x2_wr(0x838, 1000);
    set_clock(300);
    cr_expect_eq(x2_rd(0x838), 1000);
    cr_expect_eq(x2_rd(0x839), 700);
}

Test(lapic_x2apic, write_only_and_missing_registers_fault_on_read)
{
    enter_x2apic();
    static const uint32_t bad[] = {
        0x800, 0x801, 0x804, 0x805, 0x806, 0x807, 0x809 /* ARBPRI */, 0x80b /* EOI */,
        0x80c /* RRR */, 0x80e /* DFR */, 0x829, 0x82e, 0x82f, 0x831 /* ICR2 */,
        0x83a, 0x83d, 0x83f /* SELF_IPI */, 0x840, 0x8ff,
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 0x1234;
        cr_expect_eq(lapic_msr_read(&l0, bad[i], &v), -1, "RDMSR 0x%x", bad[i]);
        cr_expect_eq(v, 0x1234, "RDMSR 0x%x wrote a value", bad[i]);
    }
}

Test(lapic_x2apic, writes)
{
    enter_x2apic();
    cr_expect_eq(x2_wr_rd(0x808, 0x40), 0x40);
    cr_expect_eq(x2_rd(0x80a), 0x40);
    cr_expect_eq(x2_wr_rd(0x80f, 0x1ff), 0x1ff);
    cr_expect_eq(x2_wr_rd(0x835, 0xffffffffu), 0x1f7ff);
    cr_expect_eq(x2_wr_rd(0x83e, 0x3), 0x3);
    cr_expect_eq(x2_wr_rd(0x828, 0), 0);
}

Test(lapic_x2apic, read_only_and_missing_registers_fault_on_write)
{
    lapic_reset(&l0.lapic, 0x13, true);
    enter_x2apic();
    static const uint32_t bad[] = {
        0x802 /* ID */, 0x803 /* LVR */, 0x809 /* ARBPRI */, 0x80a /* PPR */,
        0x80c /* RRR */, 0x80d /* LDR */, 0x80e /* DFR */, 0x810 /* ISR */, 0x817,
        0x818 /* TMR */, 0x820 /* IRR */, 0x827, 0x831 /* ICR2 */, 0x839 /* TMCCT */,
        0x800, 0x83a, 0x840, 0x8ff,
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(lapic_msr_write(&l0, bad[i], 0), -1, "WRMSR 0x%x", bad[i]);
    cr_expect_eq(x2_rd(0x802), 0x13);
    cr_expect_eq(x2_rd(0x80d), 0x10008);
    cr_expect_eq(irr_count(), 0);
}

/* Bits 63:32 are reserved everywhere but ICR. */
Test(lapic_x2apic, high_half_set_faults_except_icr)
{
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    cr_expect_eq(lapic_msr_write(&l0, 0x808, (1ull << 32) | 0x10), -1);
    cr_expect_eq(x2_rd(0x808), 0);
    cr_expect_eq(lapic_msr_write(&l0, 0x838, 1ull << 63), -1);
    cr_expect_eq(x2_rd(0x838), 0);
    cr_expect_eq(lapic_msr_write(&l0, 0x830, (0xffffffffull << 32) | 0x60), 0);
    cr_expect(irr_has(0x60));
}

Test(lapic_x2apic, eoi_write_of_non_zero_faults)
{
    enter_x2apic();
    set_isr(0x70);
    cr_expect_eq(lapic_msr_write(&l0, 0x80b, 1), -1);
    cr_expect_eq(*reg(APIC_ISR + 0x30), 1u << (0x70 % 32));
    x2_wr(0x80b, 0);
    cr_expect_eq(*reg(APIC_ISR + 0x30), 0);
    cr_expect_eq(x2_rd(0x80a), 0);
}

Test(lapic_x2apic, esr_write_of_non_zero_faults)
{
    enter_x2apic();
    cr_expect_eq(lapic_msr_write(&l0, 0x828, 1), -1);
}

Test(lapic_x2apic, self_ipi_sets_irr)
{
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    x2_wr(0x83f, 0x55);
    cr_expect_eq(*reg(APIC_IRR + 0x10 * (0x55 / 32)), 1u << (0x55 % 32));
    cr_expect_eq(irr_count(), 1);
}

/* SELF_IPI bits 31:8 are reserved (KVM's kvm_lapic_reg_write:
 * "(val & ~APIC_VECTOR_MASK)" -> #GP). */
Test(lapic_x2apic, self_ipi_reserved_bits_fault)
{
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    cr_expect_eq(lapic_msr_write(&l0, 0x83f, 0x155), -1);
    cr_expect_eq(irr_count(), 0);
}

Test(lapic_x2apic, icr_with_destination_in_the_high_half)
{
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    x2_wr(0x830, (0ull << 32) | 0x56);
    cr_expect(irr_has(0x56));
    cr_expect_eq(x2_rd(0x830), 0x56);
    x2_wr(0x830, (1ull << 32) | 0x57);
    cr_expect_not(irr_has(0x57), "destination 1 is not this APIC");
    cr_expect_eq(x2_rd(0x830), (1ull << 32) | 0x57);
    x2_wr(0x830, (0xffffffffull << 32) | 0x58);
    cr_expect(irr_has(0x58), "x2APIC broadcast");
    /* 0xff is not broadcast in x2APIC mode. */
    x2_wr(0x830, (0xffull << 32) | 0x59);
    cr_expect_not(irr_has(0x59));
}

Test(lapic_x2apic, icr_logical_destination)
{
    lapic_reset(&l0.lapic, 0x13, true);
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    /* LDR 0x00010008: cluster 1, member bit 3. */
    x2_wr(0x830, (0x00010008ull << 32) | (1u << 11) | 0x5a);
    cr_expect(irr_has(0x5a));
    x2_wr(0x830, (0x00020008ull << 32) | (1u << 11) | 0x5b);
    cr_expect_not(irr_has(0x5b), "other cluster");
    x2_wr(0x830, (0x00010004ull << 32) | (1u << 11) | 0x5c);
    cr_expect_not(irr_has(0x5c), "other member");
}

/* x2APIC ICR bits 31:20, 17:16 and 13 are reserved: KVM's
 * __kvm_x2apic_icr_write returns 1 (#GP) for X2APIC_ICR_RESERVED_BITS. */
Test(lapic_x2apic, icr_reserved_bits_fault)
{
    enter_x2apic();
    x2_wr(0x80f, 0x1ff);
    cr_expect_eq(lapic_msr_write(&l0, 0x830, (1u << 13) | 0x5d), -1, "bit 13");
    cr_expect_eq(lapic_msr_write(&l0, 0x830, (1u << 16) | 0x5e), -1, "bit 16");
    cr_expect_eq(lapic_msr_write(&l0, 0x830, (1u << 20) | 0x5f), -1, "bit 20");
    cr_expect_eq(irr_count(), 0);
}

Test(lapic_x2apic, dfr_and_icr2_do_not_exist)
{
    enter_x2apic();
    uint64_t v;
    cr_expect_eq(lapic_msr_read(&l0, 0x80e, &v), -1);
    cr_expect_eq(lapic_msr_read(&l0, 0x831, &v), -1);
    cr_expect_eq(lapic_msr_read(&l0, 0x809, &v), -1);
    cr_expect_eq(lapic_msr_write(&l0, 0x80e, 0), -1);
    cr_expect_eq(lapic_msr_write(&l0, 0x831, 0), -1);
}

/* ======================================================================
 * through L1's WRMSR/RDMSR (msr.c routes 0x1b and 0x800-0x8ff here)
 * ====================================================================== */

Test(lapic_guest_msr, rdmsr_apic_base)
{
    uint64_t v = 0;
    cr_assert(guest_rdmsr(MSR_APIC_BASE, &v));
    cr_expect_eq(v, 0xfee00900ull);
}

Test(lapic_guest_msr, wrmsr_apic_base_moves_the_page)
{
    cr_assert(guest_wrmsr(MSR_APIC_BASE, OTHER_PAGE | BSP | EN));
    uint64_t v = 0;
    cr_assert(guest_rdmsr(MSR_APIC_BASE, &v));
    cr_expect_eq(v, OTHER_PAGE | BSP | EN);
    cr_expect_eq(mmio_read(OTHER_PAGE + APIC_LVR, 4), 0x50014);
    cr_expect_eq((uint32_t)mmio_read(PAGE + APIC_LVR, 4), 0xffffffffu);
}

Test(lapic_guest_msr, wrmsr_apic_base_reserved_bit_is_gp)
{
    cr_expect_not(guest_wrmsr(MSR_APIC_BASE, 0xfee00901ull));
    cr_expect_not(guest_wrmsr(MSR_APIC_BASE, PAGE | BSP | EXTD));
    cr_expect_eq(lapic_get_base(&l0.lapic), 0xfee00900ull);
}

Test(lapic_guest_msr, x2apic_msr_in_xapic_mode_is_gp)
{
    uint64_t v = 0;
    cr_expect_not(guest_rdmsr(0x802, &v));
    cr_expect_not(guest_wrmsr(0x808, 0));
}

Test(lapic_guest_msr, x2apic_through_wrmsr)
{
    cr_assert(guest_wrmsr(MSR_APIC_BASE, PAGE | BSP | EN | EXTD));
    uint64_t v = 0;
    cr_assert(guest_rdmsr(0x803, &v));
    cr_expect_eq(v, 0x50014);
    cr_assert(guest_rdmsr(0x80d, &v));
    cr_expect_eq(v, 1);
    cr_assert(guest_wrmsr(0x80f, 0x1ff));
    cr_assert(guest_wrmsr(0x83f, 0x55));
    cr_expect(irr_has(0x55));
    cr_assert(guest_wrmsr(0x830, (0ull << 32) | 0x66));
    cr_expect(irr_has(0x66));
    cr_assert(guest_rdmsr(0x830, &v));
    cr_expect_eq(v, 0x66);
    cr_expect_not(guest_rdmsr(0x80b, &v), "EOI is write-only");
    cr_expect_not(guest_wrmsr(0x80b, 1), "EOI of non-zero");
    cr_expect_not(guest_wrmsr(0x802, 0), "ID is read-only");
}
