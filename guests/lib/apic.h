/* apic.h — guest runtime: the local APIC's registers for the tests that
 * take interrupts (x86/irq.c, svm/nested_irq.c): register offsets of the
 * xAPIC page at 0xFEE00000 (x2APIC MSR = 0x800 + offset / 16), MMIO and MSR
 * accessors, the ICR/LVT bits they use, and the set-up that makes the APIC
 * the only interrupt source (AMD APM vol. 2 §16; Intel SDM vol. 3 ch. 11).
 * Header only; x86/apic.c, the register test, uses it too.
 */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include "libguest.h"

#define APIC_PAGE 0xfee00000ul

#define APIC_ID      0x20
#define APIC_LVR     0x30
#define APIC_TPR     0x80
#define APIC_PPR     0xa0
#define APIC_EOI     0xb0
#define APIC_LDR     0xd0
#define APIC_DFR     0xe0
#define APIC_SPIV    0xf0
#define APIC_ISR     0x100
#define APIC_TMR     0x180
#define APIC_IRR     0x200
#define APIC_ESR     0x280
#define APIC_ICR     0x300
#define APIC_ICR2    0x310
#define APIC_LVTT    0x320
#define APIC_LVTTHMR 0x330
#define APIC_LVTPC   0x340
#define APIC_LVT0    0x350
#define APIC_LVT1    0x360
#define APIC_LVTERR  0x370
#define APIC_TMICT   0x380
#define APIC_TMCCT   0x390
#define APIC_TDCR    0x3e0
#define APIC_SELF_IPI 0x3f0

#define X2APIC_MSR(off) (0x800u + (off) / 16)

#define APIC_BASE_BSP  (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN   (1ull << 11)

#define APIC_SPIV_ENABLE   0x100u
#define APIC_LVT_MASKED    (1u << 16)
#define APIC_LVT_PERIODIC  (1u << 17)
#define APIC_TDCR_DIV1     0xbu
#define APIC_ICR_DM_SMI    (2u << 8)
#define APIC_ICR_DM_NMI    (4u << 8)
#define APIC_ICR_ASSERT    (1u << 14)
#define APIC_ICR_SELF      (1u << 18) /* destination shorthand 01 */

static inline uint32_t apic_read(unsigned off)
{
    return *(volatile uint32_t *)(APIC_PAGE + off);
}

static inline void apic_write(unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(APIC_PAGE + off) = v;
}

/* Bit vec of the 256-bit register (IRR, ISR, TMR) at base, through MMIO or
 * (x2) the x2APIC MSRs. */
static inline bool apic_vec_test(unsigned base, unsigned vec, bool x2)
{
    unsigned off = base + (vec / 32) * 0x10;
    uint32_t w = x2 ? (uint32_t)rdmsr(X2APIC_MSR(off)) : apic_read(off);
    return (w >> (vec % 32)) & 1;
}

/* OR of the eight words of the 256-bit register at base (xAPIC mode). */
static inline uint32_t apic_reg256_any(unsigned base)
{
    uint32_t v = 0;
    for (unsigned w = 0; w < 8; w++)
        v |= apic_read(base + w * 0x10);
    return v;
}

/* Fixed self-IPI through ICR (shorthand self). */
static inline void apic_self_ipi(unsigned vec)
{
    apic_write(APIC_ICR, APIC_ICR_SELF | (vec & 0xff));
}

/* ICR2/ICR for an NMI to this APIC by its physical ID, no shorthand (the
 * SDM allows only fixed IPIs through the self shorthand). The caller
 * writes APIC_ICR_NMI_LOW to ICR to send it. */
#define APIC_ICR_NMI_LOW (APIC_ICR_DM_NMI | APIC_ICR_ASSERT)
static inline void apic_nmi_dest_self(void)
{
    apic_write(APIC_ICR2, apic_read(APIC_ID) & 0xff000000u);
}

static inline void apic_eoi(void)
{
    apic_write(APIC_EOI, 0);
}

/* Makes the APIC the only interrupt source, software-enabled (SPIV 0x1ff),
 * TPR 0, timer stopped and masked. Under QEMU (PVH entry through SeaBIOS)
 * also masks LINT0 (ExtINT from the 8259) and the 8259 itself, whose PIT
 * interrupt would arrive through vector 8 once IF is set; svmsim has
 * neither, and its APIC resets with every LVT masked. */
static inline void apic_irq_setup(void)
{
    if (booted_via_pvh) {
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
        apic_write(APIC_LVT0, APIC_LVT_MASKED);
    }
    apic_write(APIC_SPIV, 0x1ff);
    apic_write(APIC_TPR, 0);
    apic_write(APIC_TMICT, 0);
    apic_write(APIC_LVTT, APIC_LVT_MASKED | 0xff);
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
}

/* A delay the compiler keeps: about 4 instructions per iteration. */
static inline void apic_spin(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        asm volatile("" : : "r"(i) : "memory");
}

#endif
