/* lapic.c — the local APIC's registers, as KVM's lapic.c keeps them (see
 * lapic.h for what this owns). Reset values, write masks and the registers
 * each mode reaches follow kvm_lapic_reg_read/kvm_lapic_reg_write; the
 * timer counts at the 1 GHz of the model's clock (cpu_host_tsc), which
 * --deterministic makes instruction-driven.
 */
#include "hv/hv.h"

#include <string.h>

#define APIC_VERSION 0x50014u     /* version 0x14, 6 LVT entries (KVM's) */
#define APIC_SPIV_ENABLED 0x100u
#define APIC_LVT_MASKED 0x10000u
#define APIC_LVT_PERIODIC 0x20000u
#define APIC_ICR_BUSY 0x1000u
#define APIC_ESR_SEND_ILLEGAL 0x20u
#define LAPIC_MIN_PERIOD 200000u  /* clock ticks (ns): KVM's min_timer_period_us */

/* Write masks of the LVT entries (KVM's apic_lvt_mask): vector, delivery
 * status and mask; delivery mode for thermal and PMC; polarity, remote IRR
 * and trigger mode too for LINT0/1; periodic for the timer. */
#define LVT_MASK (APIC_LVT_MASKED | APIC_ICR_BUSY | 0xffu)
#define LINT_MASK (LVT_MASK | 0x700u | 0x2000u | 0x4000u | 0x8000u)

static uint32_t *reg(struct lapic *a, unsigned off)
{
    return &a->regs[(off & 0x3f0) / 4];
}

static uint32_t get(const struct lapic *a, unsigned off)
{
    return a->regs[(off & 0x3f0) / 4];
}

static bool x2apic_mode(const struct lapic *a)
{
    return (a->base & (LAPIC_BASE_EN | LAPIC_BASE_EXTD)) == (LAPIC_BASE_EN | LAPIC_BASE_EXTD);
}

static bool sw_enabled(const struct lapic *a)
{
    return get(a, APIC_SPIV) & APIC_SPIV_ENABLED;
}

static void set_vector(struct lapic *a, unsigned base, unsigned vec)
{
    *reg(a, base + (vec / 32) * 0x10) |= 1u << (vec % 32);
}

/* The highest vector set in the 256-bit register at base, or -1. */
static int highest_vector(const struct lapic *a, unsigned base)
{
    for (int w = 7; w >= 0; w--) {
        uint32_t bits = get(a, base + (unsigned)w * 0x10);
        if (bits)
            return w * 32 + 31 - __builtin_clz(bits);
    }
    return -1;
}

static void update_ppr(struct lapic *a)
{
    uint32_t tpr = get(a, APIC_TASKPRI) & 0xff;
    int isrv = highest_vector(a, APIC_ISR);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    *reg(a, APIC_PROCPRI) = (tpr & 0xf0) >= isr_class ? tpr : isr_class;
}

static void lvt_mask_all(struct lapic *a)
{
    for (unsigned off = APIC_LVTT; off <= APIC_LVTERR; off += 0x10)
        *reg(a, off) |= APIC_LVT_MASKED;
}

/* x2APIC's view of the ID: the whole register, and LDR derived from it. */
static void x2apic_id_regs(struct lapic *a)
{
    *reg(a, APIC_ID) = a->id;
    *reg(a, APIC_LDR) = ((a->id >> 4) << 16) | (1u << (a->id & 0xf));
}

/* The register file at reset for APIC ID id in the mode base selects. */
static void regs_reset(struct lapic *a)
{
    memset(a->regs, 0, sizeof(a->regs));
    a->timer_start = a->timer_deadline = 0;
    a->nmi_pending = a->smi_pending = false;
    *reg(a, APIC_LVR) = APIC_VERSION;
    *reg(a, APIC_DFR) = 0xffffffffu;
    *reg(a, APIC_SPIV) = 0xff;
    lvt_mask_all(a);
    if (x2apic_mode(a))
        x2apic_id_regs(a);
    else
        *reg(a, APIC_ID) = a->id << 24;
}

void lapic_reset(struct lapic *a, uint32_t id, bool bsp)
{
    memset(a, 0, sizeof(*a));
    a->id = id;
    a->base = LAPIC_DEFAULT_BASE | LAPIC_BASE_EN | (bsp ? LAPIC_BASE_BSP : 0);
    regs_reset(a);
}

void lapic_init_reset(struct lapic *a)
{
    uint32_t id = get(a, APIC_ID); /* software's xAPIC ID survives INIT (KVM) */
    regs_reset(a);
    if (!x2apic_mode(a))
        *reg(a, APIC_ID) = id;
}

uint64_t lapic_get_base(const struct lapic *a)
{
    return a->base;
}

int lapic_set_base(struct l0 *l0, uint64_t v)
{
    struct lapic *a = &l0->lapic;
    uint64_t reserved = ~(((1ull << l0->cfg.maxphyaddr) - 1) & ~0xfffull) &
                        ~(LAPIC_BASE_BSP | LAPIC_BASE_EXTD | LAPIC_BASE_EN);
    if (v & reserved)
        return -1;
    /* The modes: disabled, xAPIC, x2APIC, entered in that order: x2APIC
     * is left only through disabled and reached only from xAPIC, and EXTD
     * alone is not a mode (KVM's kvm_apic_set_base). */
    bool en = v & LAPIC_BASE_EN, extd = v & LAPIC_BASE_EXTD;
    bool was_x2 = x2apic_mode(a), was_en = a->base & LAPIC_BASE_EN;
    if (extd && !en)
        return -1;
    if (was_x2 && en && !extd)
        return -1;
    if (!was_en && extd)
        return -1;
    a->base = v;
    if (extd && !was_x2) {
        x2apic_id_regs(a);
    } else if (!en && was_en) {
        /* Disabling resets the xAPIC view (ID back in bits 31:24). */
        *reg(a, APIC_ID) = a->id << 24;
        *reg(a, APIC_LDR) = 0;
        *reg(a, APIC_SPIV) &= ~APIC_SPIV_ENABLED;
        lvt_mask_all(a);
    }
    return 0;
}

bool lapic_mmio_claims(const struct lapic *a, uint64_t pa)
{
    return (a->base & (LAPIC_BASE_EN | LAPIC_BASE_EXTD)) == LAPIC_BASE_EN &&
           (pa & ~0xfffull) == (a->base & ~0xfffull);
}

/* The timer's divisor from TDCR bits 0, 1 and 3. */
static uint64_t timer_divisor(const struct lapic *a)
{
    uint32_t d = get(a, APIC_TDCR);
    unsigned v = (d & 3) | ((d & 8) >> 1);
    return v == 7 ? 1 : 2ull << v;
}

/* The first expiry of the count just started: initial count x divisor
 * ticks after timer_start. Nothing when the count is 0. */
static void timer_arm(struct lapic *a)
{
    uint32_t initial = get(a, APIC_TMICT);
    a->timer_deadline = initial ? a->timer_start + (uint64_t)initial * timer_divisor(a) : 0;
}

static uint32_t timer_current(struct l0 *l0)
{
    struct lapic *a = &l0->lapic;
    uint32_t initial = get(a, APIC_TMICT);
    if (!initial)
        return 0;
    uint64_t ticks = (cpu_host_tsc(l0->cpu) - a->timer_start) / timer_divisor(a);
    if (get(a, APIC_LVTT) & APIC_LVT_PERIODIC)
        return initial - (uint32_t)(ticks % initial);
    return ticks >= initial ? 0 : initial - (uint32_t)ticks;
}

/* Whether destination dest (ICR2[31:24] from an xAPIC, ICR[63:32] from an
 * x2APIC) names this APIC, physically or logically. An xAPIC sender's
 * broadcast 0xff reaches x2APIC receivers too (KVM's kvm_apic_mda). */
static bool dest_matches(const struct lapic *a, uint32_t dest, bool logical, bool from_x2)
{
    bool x2 = x2apic_mode(a);
    if (x2 && !from_x2 && dest == 0xff)
        return true;
    if (!logical) /* the ID register: in xAPIC mode software may change it */
        return dest == (x2 ? 0xffffffffu : 0xffu) ||
               dest == (x2 ? get(a, APIC_ID) : get(a, APIC_ID) >> 24);
    uint32_t ldr = get(a, APIC_LDR);
    if (x2)
        return dest == 0xffffffffu || ((dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff));
    uint32_t mine = ldr >> 24;
    if ((get(a, APIC_DFR) >> 28) == 0xf) /* flat */
        return dest == 0xff || (dest & mine);
    return dest == 0xff || ((dest >> 4) == (mine >> 4) && (dest & mine & 0xf)); /* cluster */
}

#define ICR_LEVEL_ASSERT 0x4000u
#define ICR_TRIGGER_LEVEL 0x8000u

/* An IPI (ICR low word icr) accepted by this APIC: fixed and lowest
 * priority wait in IRR (dropped while the APIC is software-disabled), an
 * NMI, SMI, INIT (edge, or level asserted) or SIPI (with its vector) is
 * pending for the vCPU to take (irq.c). */
static void accept(struct l0 *l0, uint32_t icr)
{
    struct lapic *a = &l0->lapic;
    unsigned vec = icr & 0xff;
    switch ((icr >> 8) & 7) {
    case 0: /* fixed */
    case 1: /* lowest priority */
        if (!sw_enabled(a))
            return;
        if (vec < 16) {
            *reg(a, APIC_ESR) |= APIC_ESR_SEND_ILLEGAL;
            return;
        }
        set_vector(a, APIC_IRR, vec);
        break;
    case 2: /* SMI */
        a->smi_pending = true;
        break;
    case 4: /* NMI */
        a->nmi_pending = true;
        break;
    case 5: /* INIT; a level de-assert does nothing */
        if ((icr & ICR_TRIGGER_LEVEL) && !(icr & ICR_LEVEL_ASSERT))
            return;
        a->init_pending = true;
        break;
    case 6: /* SIPI */
        a->sipi_vector = (uint8_t)vec;
        a->sipi_pending = true;
        break;
    default:
        return;
    }
    l0_request_event(l0);
}

/* The ICR's IPI to the APICs it names: itself, all, all but itself (the
 * shorthand), or those its destination matches; lowest priority to the
 * first of them that is software-enabled (the lowest APIC ID: arbitration
 * by TPR is not modelled). */
static void send_ipi(struct l0 *l0, uint32_t low, uint32_t dest)
{
    unsigned shorthand = (low >> 18) & 3, n = l0->vm ? l0->vm->n : 1;
    bool logical = low & 0x800, from_x2 = x2apic_mode(&l0->lapic);
    bool lowest = ((low >> 8) & 7) == 1;
    for (unsigned i = 0; i < n; i++) {
        struct l0 *to = l0->vm ? &l0->vm->vcpus[i] : l0;
        bool self = to == l0, match;
        switch (shorthand) {
        case 1: match = self; break;
        case 2: match = true; break;
        case 3: match = !self; break;
        default: match = dest_matches(&to->lapic, dest, logical, from_x2); break;
        }
        /* A hardware-disabled APIC takes no IPI (KVM's kvm_apic_present);
         * lowest priority goes to an APIC that takes it. */
        if (!match || !(to->lapic.base & LAPIC_BASE_EN) || (lowest && !sw_enabled(&to->lapic)))
            continue;
        accept(to, low);
        if (lowest)
            return;
    }
}

int lapic_pending_vector(const struct lapic *a)
{
    if (!(a->base & LAPIC_BASE_EN))
        return -1;
    int v = highest_vector(a, APIC_IRR);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (get(a, APIC_PROCPRI) & 0xf0))
        return -1;
    return v;
}

void lapic_ack(struct lapic *a, unsigned vec)
{
    *reg(a, APIC_IRR + (vec / 32) * 0x10) &= ~(1u << (vec % 32));
    set_vector(a, APIC_ISR, vec);
    update_ppr(a);
}

uint32_t lapic_tpr(const struct lapic *a)
{
    return get(a, APIC_TASKPRI);
}

void lapic_set_tpr(struct l0 *l0, uint32_t tpr)
{
    *reg(&l0->lapic, APIC_TASKPRI) = tpr & 0xff;
    update_ppr(&l0->lapic);
}

bool lapic_timer_unmasked(const struct lapic *a)
{
    return a->timer_deadline && !(get(a, APIC_LVTT) & APIC_LVT_MASKED);
}

bool lapic_timer_poll(struct l0 *l0)
{
    struct lapic *a = &l0->lapic;
    if (!a->timer_deadline)
        return false; /* no clock read when nothing is armed */
    uint64_t now = cpu_host_tsc(l0->cpu);
    if (now < a->timer_deadline)
        return false;
    uint32_t lvtt = get(a, APIC_LVTT);
    if (lvtt & APIC_LVT_PERIODIC) {
        /* The next period from the one that ended; periods the host did
         * not look in are one interrupt (IRR holds one). As KVM, periodic
         * expiries come at most every min_timer_period_us (200 us); TMCCT
         * still counts the programmed period. */
        uint64_t period = (uint64_t)get(a, APIC_TMICT) * timer_divisor(a);
        if (period < LAPIC_MIN_PERIOD)
            period = LAPIC_MIN_PERIOD;
        a->timer_deadline += period * ((now - a->timer_deadline) / period + 1);
    } else {
        a->timer_deadline = 0;
    }
    if (!(lvtt & APIC_LVT_MASKED))
        accept(l0, lvtt & 0xff); /* fixed */
    return true;
}

/* A read of register off (0x10-aligned). Returns 0, or -1 if the mode has
 * no such readable register. */
static int reg_read(struct l0 *l0, unsigned off, uint32_t *v)
{
    struct lapic *a = &l0->lapic;
    bool x2 = x2apic_mode(a);
    switch (off) {
    case APIC_ID: case APIC_LVR: case APIC_TASKPRI: case APIC_LDR: case APIC_SPIV:
    case APIC_ESR: case APIC_ICR: case APIC_LVTT: case APIC_LVTTHMR: case APIC_LVTPC:
    case APIC_LVT0: case APIC_LVT1: case APIC_LVTERR: case APIC_TMICT: case APIC_TDCR:
        *v = get(a, off);
        return 0;
    case APIC_PROCPRI:
        update_ppr(a);
        *v = get(a, off);
        return 0;
    case APIC_TMCCT:
        *v = timer_current(l0);
        return 0;
    case APIC_ARBPRI:
    case APIC_DFR:
    case APIC_ICR2:
        if (x2)
            return -1;
        *v = off == APIC_ARBPRI ? 0 : get(a, off);
        return 0;
    default:
        if (off >= APIC_ISR && off < APIC_ESR) { /* ISR, TMR, IRR */
            *v = get(a, off);
            return 0;
        }
        return -1;
    }
}

/* A write of register off. Returns 0, or -1 if the mode has no such
 * writable register or the value is refused (x2APIC reports both as #GP;
 * the xAPIC page ignores them). */
static int reg_write(struct l0 *l0, unsigned off, uint32_t v, uint32_t high)
{
    struct lapic *a = &l0->lapic;
    bool x2 = x2apic_mode(a);
    switch (off) {
    case APIC_ID:
        if (x2)
            return -1;
        *reg(a, APIC_ID) = v & 0xff000000u;
        return 0;
    case APIC_TASKPRI:
        *reg(a, off) = v & 0xff;
        update_ppr(a);
        l0_request_event(l0); /* and CR8 follows it */
        return 0;
    case APIC_EOI: {
        if (x2 && v)
            return -1;
        int isrv = highest_vector(a, APIC_ISR);
        if (isrv >= 0)
            *reg(a, APIC_ISR + (unsigned)(isrv / 32) * 0x10) &= ~(1u << (isrv % 32));
        update_ppr(a);
        if (lapic_pending_vector(a) >= 0)
            l0_request_event(l0);
        return 0;
    }
    case APIC_LDR:
        if (x2)
            return -1;
        *reg(a, off) = v & 0xff000000u;
        return 0;
    case APIC_DFR:
        if (x2)
            return -1;
        *reg(a, off) = v | 0x0fffffffu;
        return 0;
    case APIC_SPIV:
        *reg(a, off) = v & 0x3ff;
        if (!(v & APIC_SPIV_ENABLED))
            lvt_mask_all(a);
        return 0;
    case APIC_ESR:
        if (x2 && v)
            return -1;
        *reg(a, off) = 0;
        return 0;
    case APIC_ICR:
        if (x2) {
            *reg(a, APIC_ICR2) = high;
            send_ipi(l0, v, high);
        } else {
            send_ipi(l0, v, get(a, APIC_ICR2) >> 24);
        }
        *reg(a, APIC_ICR) = v & ~APIC_ICR_BUSY; /* delivered at once */
        return 0;
    case APIC_ICR2:
        if (x2)
            return -1;
        *reg(a, off) = v & 0xff000000u;
        return 0;
    case APIC_LVTT:
    case APIC_LVTTHMR:
    case APIC_LVTPC:
    case APIC_LVT0:
    case APIC_LVT1:
    case APIC_LVTERR: {
        uint32_t mask = off == APIC_LVTT ? LVT_MASK | APIC_LVT_PERIODIC
                        : off == APIC_LVT0 || off == APIC_LVT1 ? LINT_MASK
                        : off == APIC_LVTERR ? LVT_MASK
                                             : LVT_MASK | 0x700u;
        if (!sw_enabled(a))
            v |= APIC_LVT_MASKED;
        *reg(a, off) = v & mask; /* one-shot and periodic share the count */
        return 0;
    }
    case APIC_TMICT:
        *reg(a, off) = v;
        a->timer_start = cpu_host_tsc(l0->cpu);
        timer_arm(a);
        l0_request_event(l0); /* the host timer follows it */
        return 0;
    case APIC_TDCR: {
        uint32_t now = timer_current(l0);
        *reg(a, off) = v & 0xb;
        /* The count goes on from where it is, at the new rate. */
        if (get(a, APIC_TMICT) && a->timer_deadline) {
            uint64_t t = cpu_host_tsc(l0->cpu);
            a->timer_start = t - (uint64_t)(get(a, APIC_TMICT) - now) * timer_divisor(a);
            a->timer_deadline = t + (uint64_t)now * timer_divisor(a);
            l0_request_event(l0);
        }
        return 0;
    }
    case APIC_SELF_IPI:
        if (!x2 || (v & ~0xffu))
            return -1;
        accept(l0, v & 0xff); /* fixed */
        return 0;
    default:
        return -1;
    }
}

uint64_t lapic_mmio_read(struct l0 *l0, uint64_t pa, unsigned size)
{
    unsigned off = (unsigned)(pa & 0xfff);
    uint32_t v = 0;
    if (off < 0x400 && reg_read(l0, off & 0x3f0, &v) != 0)
        v = 0;
    /* Bytes 0-3 of each 16 hold the register. */
    uint64_t word = (off & 0xf) < 4 ? (uint64_t)v >> (8 * (off & 3)) : 0;
    return size >= 8 ? word : word & ((1ull << (8 * size)) - 1);
}

void lapic_mmio_write(struct l0 *l0, uint64_t pa, unsigned size, uint64_t v)
{
    unsigned off = (unsigned)(pa & 0xfff);
    /* Only a 32-bit write of a register's first bytes reaches it (KVM
     * ignores other sizes). */
    if (off < 0x400 && (off & 0xf) == 0 && size == 4)
        reg_write(l0, off, (uint32_t)v, 0);
}

int lapic_msr_read(struct l0 *l0, uint32_t msr, uint64_t *v)
{
    struct lapic *a = &l0->lapic;
    if (!x2apic_mode(a) || msr < APIC_MSR_BASE || msr > APIC_MSR_LAST)
        return -1;
    unsigned off = (msr - APIC_MSR_BASE) << 4;
    uint32_t low;
    if (off == APIC_EOI || off == APIC_SELF_IPI || reg_read(l0, off, &low) != 0)
        return -1;
    *v = off == APIC_ICR ? ((uint64_t)get(a, APIC_ICR2) << 32) | low : low;
    return 0;
}

int lapic_msr_write(struct l0 *l0, uint32_t msr, uint64_t v)
{
    if (!x2apic_mode(&l0->lapic) || msr < APIC_MSR_BASE || msr > APIC_MSR_LAST)
        return -1;
    unsigned off = (msr - APIC_MSR_BASE) << 4;
    /* Only ICR is 64 bits wide; elsewhere the high half is reserved, and
     * in ICR bits 31:20, 17:16 and 13 (KVM's X2APIC_ICR_RESERVED_BITS). */
    if (off != APIC_ICR && (v >> 32))
        return -1;
    if (off == APIC_ICR && (v & 0xfff32000ull))
        return -1;
    switch (off) {
    case APIC_ID: case APIC_LVR: case APIC_PROCPRI: case APIC_LDR: case APIC_TMCCT:
        return -1; /* read-only in x2APIC mode */
    default:
        break;
    }
    if (off >= APIC_ISR && off < APIC_ESR)
        return -1;
    return reg_write(l0, off, (uint32_t)v, (uint32_t)(v >> 32));
}
