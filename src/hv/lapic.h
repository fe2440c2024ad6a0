/* lapic.h — the local APIC L0 emulates for L1, as KVM's in-kernel APIC
 * (arch/x86/kvm/lapic.c): IA32_APIC_BASE, the xAPIC register page as MMIO,
 * the x2APIC MSRs, and the register file behind both.
 *
 * Owns: struct lapic (inside struct l0) and the architectural rules of its
 * registers (AMD APM vol. 2 §16, "Advanced Programmable Interrupt
 * Controller"): reset values, which bits are writable, what each mode lets
 * software reach, ICR delivery to the APICs of the VM's vCPUs (struct
 * l0_vm: by shorthand, physical or logical destination), and the timer's
 * count.
 * Must not: touch the CPU or the VMCB. Interrupts it accepts wait in IRR
 * (fixed) or as a pending NMI, SMI, INIT or SIPI, and it asks the
 * receiving vCPU's L0 to look (l0_request_event);
 * L0's irq.c takes them into the guest (lapic_pending_vector, lapic_ack)
 * and fires the timer (lapic_timer_poll) when its deadline comes.
 */
#ifndef SVMSIM_HV_LAPIC_H
#define SVMSIM_HV_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_DEFAULT_BASE 0xfee00000ull
#define LAPIC_BASE_BSP     (1ull << 8)
#define LAPIC_BASE_EXTD    (1ull << 10) /* x2APIC mode */
#define LAPIC_BASE_EN      (1ull << 11)

/* Register offsets in the xAPIC page (x2APIC MSR = 0x800 + offset / 16). */
enum {
    APIC_ID = 0x20, APIC_LVR = 0x30, APIC_TASKPRI = 0x80, APIC_ARBPRI = 0x90,
    APIC_PROCPRI = 0xa0, APIC_EOI = 0xb0, APIC_RRR = 0xc0, APIC_LDR = 0xd0,
    APIC_DFR = 0xe0, APIC_SPIV = 0xf0, APIC_ISR = 0x100, APIC_TMR = 0x180,
    APIC_IRR = 0x200, APIC_ESR = 0x280, APIC_ICR = 0x300, APIC_ICR2 = 0x310,
    APIC_LVTT = 0x320, APIC_LVTTHMR = 0x330, APIC_LVTPC = 0x340, APIC_LVT0 = 0x350,
    APIC_LVT1 = 0x360, APIC_LVTERR = 0x370, APIC_TMICT = 0x380, APIC_TMCCT = 0x390,
    APIC_TDCR = 0x3e0, APIC_SELF_IPI = 0x3f0,
};

#define APIC_MSR_BASE 0x800u
#define APIC_MSR_LAST 0x8ffu

struct lapic {
    uint64_t base;            /* IA32_APIC_BASE */
    uint32_t id;              /* the vCPU's APIC ID */
    uint32_t regs[0x400 / 4]; /* the page's 32-bit registers, by offset / 4 */
    uint64_t timer_start;     /* clock (1 GHz) when TMICT was written */
    uint64_t timer_deadline;  /* clock of the timer's next expiry; 0: none */
    bool nmi_pending;
    bool smi_pending;
    bool init_pending;        /* INIT accepted, not yet taken (irq.c) */
    bool sipi_pending;        /* SIPI accepted, with its vector */
    uint8_t sipi_vector;
};

struct l0;

void lapic_reset(struct lapic *a, uint32_t id, bool bsp);
/* INIT: the registers as at reset, but IA32_APIC_BASE (and so the mode)
 * and the ID register stay; INIT and SIPI still pending stay pending. */
void lapic_init_reset(struct lapic *a);
static inline bool lapic_init_sipi_pending(const struct lapic *a)
{
    return a->init_pending || a->sipi_pending;
}
/* IA32_APIC_BASE. The write returns 0, or -1 for #GP (reserved bits, an
 * illegal mode change). */
uint64_t lapic_get_base(const struct lapic *a);
int lapic_set_base(struct l0 *l0, uint64_t v);
/* The xAPIC page: whether pa falls in it (enabled, xAPIC mode), and
 * accesses of 1-8 bytes there (registers are 32-bit, 16-byte aligned; other
 * bytes read 0 and ignore writes). */
bool lapic_mmio_claims(const struct lapic *a, uint64_t pa);
uint64_t lapic_mmio_read(struct l0 *l0, uint64_t pa, unsigned size);
void lapic_mmio_write(struct l0 *l0, uint64_t pa, unsigned size, uint64_t v);
/* The x2APIC MSRs (0x800-0x8ff): 0, or -1 for #GP (not in x2APIC mode, no
 * such register, a read of a write-only one or the reverse, reserved bits). */
int lapic_msr_read(struct l0 *l0, uint32_t msr, uint64_t *v);
int lapic_msr_write(struct l0 *l0, uint32_t msr, uint64_t v);

/* The vector the APIC would hand the CPU now: the highest in IRR whose
 * class is above PPR's, or -1 (none, or the APIC disabled). */
int lapic_pending_vector(const struct lapic *a);
/* The CPU took vec: from IRR to ISR, PPR raised. */
void lapic_ack(struct lapic *a, unsigned vec);
/* TPR, as CR8 reads and writes it (bits 7:4). */
uint32_t lapic_tpr(const struct lapic *a);
void lapic_set_tpr(struct l0 *l0, uint32_t tpr);
/* The timer at the clock's now: if its deadline has passed, the expiry
 * (the LVTT vector into IRR unless masked; periodic: the next deadline).
 * Returns whether it expired. */
bool lapic_timer_poll(struct l0 *l0);
/* The clock of the next expiry, 0 if none is due. */
static inline uint64_t lapic_timer_deadline(const struct lapic *a)
{
    return a->timer_deadline;
}
/* Whether the timer's next expiry would put a vector in IRR. */
bool lapic_timer_unmasked(const struct lapic *a);

#endif
