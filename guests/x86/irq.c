/* irq.c — guest test: interrupts from the local APIC taken through the IDT
 * (no nesting; svm/nested_irq.c has L2). Self-IPIs held by IF=0 and by the
 * STI shadow, IRR -> ISR on delivery and EOI, TPR/PPR and CR8 masking,
 * priority order, the NMI delivery mode, the APIC timer (one-shot,
 * periodic, masked, waking HLT) and x2APIC's SELF_IPI/EOI MSRs (AMD APM
 * vol. 2 §16 and §8.5
 * "Event priorities"; Intel SDM vol. 3 ch. 11 and 7.8.3 "Masking Maskable
 * Hardware Interrupts" for the STI shadow; KVM's lapic.c for the rest).
 *
 * Built twice more with IRQ_HALT (guests/CMakeLists.txt): IRQ_HALT=1 does
 * cli; hlt and IRQ_HALT=2 does sti; hlt with nothing armed. Neither can
 * be woken: the run must end with status 2 (DESIGN.md), which tests/guest
 * checks.
 */
#include "libguest.h"

#include "apic.h"

#define VEC_LOW   0x40
#define VEC_HIGH  0x60
#define VEC_X2    0x41
#define VEC_TIMER 0xe0
#define VEC_NMI   2

/* Bounded waits: a missing interrupt gives FAIL, not a hang. One iteration
 * is about 4 instructions, so WAIT_LOOPS is some 8 million of them (32 ms
 * of the model clock under --deterministic). */
#define WAIT_LOOPS 2000000ul

/* KVM (without AVIC) takes an event that an APIC write makes deliverable
 * before the next instruction: the write exits to L0, which injects the
 * event at the VMRUN that resumes the guest. */
#define QEMU_TB_LATE \
    "QEMU TCG takes an event made deliverable by an APIC write only at the end of the translation block"

#ifndef IRQ_HALT

/* ---- the interrupt log ----------------------------------------------------- */

#define LOG_MAX 8

struct irq_entry {
    unsigned vec;
    uint64_t rip, rflags;  /* the frame the CPU pushed */
    bool isr, irr;         /* own vector's ISR and IRR bits on entry */
    uint32_t irr_w2;       /* IRR word 2 (vectors 0x40-0x5f) on entry */
    uint32_t ppr;          /* PPR on entry */
    bool isr_after_eoi;    /* own ISR bit after the handler's EOI */
};

static volatile unsigned irq_count;
static struct irq_entry irq_log[LOG_MAX];
static volatile bool irq_do_eoi = true; /* the handler EOIs APIC vectors */
static volatile bool irq_x2;            /* x2APIC mode: registers through MSRs */

static uint32_t reg_read(unsigned off)
{
    return irq_x2 ? (uint32_t)rdmsr(X2APIC_MSR(off)) : apic_read(off);
}

static void reg_eoi(void)
{
    if (irq_x2)
        wrmsr(X2APIC_MSR(APIC_EOI), 0);
    else
        apic_eoi();
}

static void irq_handler(struct ex_regs *r)
{
    unsigned i = irq_count, v = (unsigned)r->vector;
    struct irq_entry *e = i < LOG_MAX ? &irq_log[i] : NULL;

    if (e) {
        e->vec = v;
        e->rip = r->rip;
        e->rflags = r->rflags;
        if (v >= 32) {
            e->isr = apic_vec_test(APIC_ISR, v, irq_x2);
            e->irr = apic_vec_test(APIC_IRR, v, irq_x2);
            e->irr_w2 = reg_read(APIC_IRR + 0x20);
            e->ppr = reg_read(APIC_PPR);
        }
    }
    if (v >= 32 && irq_do_eoi) {
        reg_eoi();
        if (e)
            e->isr_after_eoi = apic_vec_test(APIC_ISR, v, irq_x2);
    }
    irq_count = i + 1;
}

static const unsigned irq_vectors[] = { VEC_NMI, VEC_LOW, VEC_X2, VEC_HIGH, VEC_TIMER };

/* Each test starts with IF=0, the APIC enabled and quiet, the log empty;
 * whatever an earlier failing test left in IRR/ISR is drained first. */
static void irq_begin(void)
{
    cli();
    irq_x2 = false;
    irq_do_eoi = true;
    for (unsigned i = 0; i < sizeof(irq_vectors) / sizeof(irq_vectors[0]); i++)
        handle_exception(irq_vectors[i], irq_handler);
    apic_irq_setup();
    for (unsigned i = 0; i < 16 && apic_reg256_any(APIC_ISR); i++)
        apic_eoi();
    asm volatile("sti; nop; nop; cli" : : : "memory");
    irq_count = 0;
    memset(irq_log, 0, sizeof(irq_log));
    asm volatile("" : : : "memory");
}

static void irq_end(void)
{
    cli();
    apic_write(APIC_TMICT, 0);
    apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TIMER);
    apic_write(APIC_TPR, 0);
    for (unsigned i = 0; i < sizeof(irq_vectors) / sizeof(irq_vectors[0]); i++)
        handle_exception(irq_vectors[i], NULL);
}

/* Spins until n interrupts were taken, at least WAIT_LOOPS iterations and
 * at most WAIT_TSC cycles of the TSC: a timer that runs on the host's time
 * (QEMU) still has its time on a loaded host. Returns the iterations. */
#define WAIT_TSC 200000000ull /* 200 ms at 1 GHz (svmsim's clock) */
static unsigned long wait_count(unsigned n)
{
    unsigned long i;
    uint64_t start = rdtsc();
    for (i = 0; irq_count < n && (i < WAIT_LOOPS || rdtsc() - start < WAIT_TSC); i++)
        asm volatile("" : : : "memory");
    return i;
}

/* ---- 1. self-IPI, IF and the STI shadow ------------------------------------ */

extern char irq_sti_after[];

static void test_self_ipi(void)
{
    irq_begin();
    apic_self_ipi(VEC_LOW);
    report(apic_vec_test(APIC_IRR, VEC_LOW, false) && !apic_vec_test(APIC_ISR, VEC_LOW, false),
           "self-IPI 0x40 with IF=0 waits in IRR, ISR clear (IRR word 2 %#x)",
           apic_read(APIC_IRR + 0x20));
    apic_spin(10000);
    report(irq_count == 0, "IF=0: not delivered while spinning (%u taken)", irq_count);
    asm volatile("sti; cli" : : : "memory");
    report(irq_count == 0, "sti; cli: the STI shadow covers the CLI, nothing delivered (%u taken)",
           irq_count);
    asm volatile("sti; nop; irq_sti_after: cli" : : : "memory");
    struct irq_entry *e = &irq_log[0];
    report(irq_count == 1 && e->vec == VEC_LOW,
           "sti; nop: vector 0x40 delivered through the IDT once (%u taken, vector %#x)", irq_count,
           e->vec);
    report(e->rip == (uint64_t)irq_sti_after,
           "frame RIP is the instruction after the one in the STI shadow (%#lx, expected %#lx)",
           e->rip, (uint64_t)irq_sti_after);
    report(e->rflags & X86_RFLAGS_IF, "frame RFLAGS has IF set (%#lx)", e->rflags);
    report(e->isr && !e->irr, "in the handler: ISR bit 0x40 set, IRR bit clear (ISR %d, IRR %d)",
           e->isr, e->irr);
    report(e->ppr == 0x40, "in the handler: PPR = 0x40, the vector in service (got %#x)", e->ppr);
    report(!e->isr_after_eoi, "EOI in the handler clears the ISR bit");
    report(apic_reg256_any(APIC_ISR) == 0 && apic_reg256_any(APIC_IRR) == 0 &&
               apic_read(APIC_PPR) == 0,
           "after the handler: ISR and IRR empty, PPR 0 (PPR %#x)", apic_read(APIC_PPR));
    irq_end();
}

/* ---- 2. TPR ------------------------------------------------------------------ */

extern char irq_tpr_after[];

static void test_tpr(void)
{
    irq_begin();
    apic_write(APIC_TPR, 0x50);
    report(apic_read(APIC_PPR) == 0x50, "TPR 0x50: PPR reads 0x50 (got %#x)", apic_read(APIC_PPR));
    apic_self_ipi(VEC_LOW);
    sti();
    apic_spin(10000);
    cli();
    report(irq_count == 0 && apic_vec_test(APIC_IRR, VEC_LOW, false),
           "TPR 0x50, IF=1: vector 0x40 held in IRR (%u taken)", irq_count);
    report(apic_read(APIC_PPR) == 0x50, "PPR stays 0x50 with 0x40 pending (got %#x)",
           apic_read(APIC_PPR));
    apic_write(APIC_TPR, 0x40);
    sti();
    apic_spin(10000);
    cli();
    report(irq_count == 0, "TPR 0x40, same priority class as 0x40: still held (%u taken)",
           irq_count);
    asm volatile("sti; nop; movl $0, (%0); irq_tpr_after: nop" : : "r"(APIC_PAGE + APIC_TPR) : "memory");
    apic_spin(1000);
    cli();
    report(irq_count == 1 && irq_log[0].vec == VEC_LOW,
           "TPR lowered to 0 with IF=1: vector 0x40 delivered (%u taken)", irq_count);
    report_qemu_known(irq_log[0].rip == (uint64_t)irq_tpr_after,
                      irq_count == 1 && irq_log[0].rip != (uint64_t)irq_tpr_after, QEMU_TB_LATE,
                      "at the instruction after the TPR write (frame RIP %#lx, expected %#lx)",
                      irq_log[0].rip, (uint64_t)irq_tpr_after);
    irq_end();
}

/* CR8 is TPR[7:4] in 64-bit mode (AMD APM vol. 2 §16.6.4, "Task
 * Priority Register"); KVM keeps the two in step (CR8 writes intercepted). */
extern char irq_cr8_after[];

static void test_cr8(void)
{
    irq_begin();
    write_cr8(5);
    report(apic_read(APIC_TPR) == 0x50, "MOV CR8 = 5: TPR reads 0x50 (got %#x)", apic_read(APIC_TPR));
    apic_write(APIC_TPR, 0x30);
    report(read_cr8() == 3, "TPR = 0x30: CR8 reads 3 (got %#lx)", read_cr8());
    write_cr8(5);
    apic_self_ipi(VEC_LOW);
    sti();
    apic_spin(10000);
    cli();
    report(irq_count == 0, "CR8 5, IF=1: vector 0x40 held (%u taken)", irq_count);
    asm volatile("sti; nop; mov %0, %%cr8; irq_cr8_after: nop" : : "r"(0ul) : "memory");
    apic_spin(1000);
    cli();
    report(irq_count == 1 && irq_log[0].vec == VEC_LOW, "MOV CR8 = 0 with IF=1: delivered (%u taken)",
           irq_count);
    report_qemu_known(irq_log[0].rip == (uint64_t)irq_cr8_after,
                      irq_count == 1 && irq_log[0].rip != (uint64_t)irq_cr8_after, QEMU_TB_LATE,
                      "at the instruction after the MOV CR8 (frame RIP %#lx, expected %#lx)",
                      irq_log[0].rip, (uint64_t)irq_cr8_after);
    irq_end();
}

/* ---- 3. priority ---------------------------------------------------------------- */

extern char irq_prio_after[], irq_prio2_after[];

static void test_priority(void)
{
    irq_begin();
    apic_self_ipi(VEC_LOW);
    apic_self_ipi(VEC_HIGH);
    report(apic_vec_test(APIC_IRR, VEC_LOW, false) && apic_vec_test(APIC_IRR, VEC_HIGH, false),
           "0x40 and 0x60 both pending in IRR with IF=0");
    asm volatile("sti; nop; irq_prio_after: cli" : : : "memory");
    report(irq_count == 2, "sti: both delivered (%u taken)", irq_count);
    report(irq_log[0].vec == VEC_HIGH && irq_log[1].vec == VEC_LOW,
           "0x60 first, then 0x40 (got %#x, %#x)", irq_log[0].vec, irq_log[1].vec);
    report((irq_log[0].irr_w2 & 1) && irq_log[0].ppr == 0x60,
           "in 0x60's handler 0x40 waits in IRR, PPR 0x60 (IRR word 2 %#x, PPR %#x)",
           irq_log[0].irr_w2, irq_log[0].ppr);
    report(irq_log[1].rip == (uint64_t)irq_prio_after,
           "0x40 follows as soon as 0x60's handler EOIs and IRETs (frame RIP %#lx, expected %#lx)",
           irq_log[1].rip, (uint64_t)irq_prio_after);
    irq_end();

    /* Without the EOI, 0x60 stays in service and PPR holds 0x40 back. */
    irq_begin();
    irq_do_eoi = false;
    apic_self_ipi(VEC_LOW);
    apic_self_ipi(VEC_HIGH);
    asm volatile("sti; nop; nop; nop; cli" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_HIGH,
           "no EOI from 0x60's handler: 0x40 is not delivered (%u taken)", irq_count);
    report(apic_vec_test(APIC_ISR, VEC_HIGH, false) && apic_read(APIC_PPR) == 0x60 &&
               apic_vec_test(APIC_IRR, VEC_LOW, false),
           "ISR holds 0x60, PPR 0x60, 0x40 still in IRR (PPR %#x)", apic_read(APIC_PPR));
    apic_eoi();
    irq_do_eoi = true;
    report(apic_reg256_any(APIC_ISR) == 0 && apic_read(APIC_PPR) == 0,
           "EOI from the main flow retires 0x60 (PPR %#x)", apic_read(APIC_PPR));
    asm volatile("sti; nop; irq_prio2_after: cli" : : : "memory");
    report(irq_count == 2 && irq_log[1].vec == VEC_LOW &&
               irq_log[1].rip == (uint64_t)irq_prio2_after,
           "then sti; nop delivers 0x40 (%u taken, frame RIP %#lx)", irq_count, irq_log[1].rip);
    irq_end();
}

/* ---- 8. NMI ------------------------------------------------------------------------ */

extern char irq_nmi_after[];

static void test_nmi(void)
{
    irq_begin();
    apic_nmi_dest_self();
    asm volatile("movl %1, (%0); irq_nmi_after: nop"
                 : : "r"(APIC_PAGE + APIC_ICR), "r"(APIC_ICR_NMI_LOW) : "memory");
    wait_count(1);
    struct irq_entry e = irq_log[0];
    report(irq_count == 1 && e.vec == VEC_NMI,
           "NMI through ICR (delivery mode 100b) with IF=0: taken through vector 2 (%u taken, vector %u)",
           irq_count, e.vec);
    report_qemu_known(e.rip == (uint64_t)irq_nmi_after,
                      irq_count == 1 && e.rip != (uint64_t)irq_nmi_after, QEMU_TB_LATE,
                      "at the instruction after the ICR write (frame RIP %#lx, expected %#lx)", e.rip,
                      (uint64_t)irq_nmi_after);
    report(irq_count == 1 && !(e.rflags & X86_RFLAGS_IF), "frame RFLAGS has IF clear (%#lx)",
           e.rflags);
    report(apic_reg256_any(APIC_IRR) == 0 && apic_reg256_any(APIC_ISR) == 0,
           "an NMI uses neither IRR nor ISR");
    asm volatile("movl %1, (%0)"
                 : : "r"(APIC_PAGE + APIC_ICR), "r"(APIC_ICR_NMI_LOW) : "memory");
    wait_count(2);
    report(irq_count == 2 && irq_log[1].vec == VEC_NMI,
           "a second NMI after the first handler's IRET is taken too (%u taken)", irq_count);
    irq_end();
}

/* ---- 4. one-shot timer ---------------------------------------------------------- */

static void test_timer_oneshot(void)
{
    irq_begin();
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
    apic_write(APIC_LVTT, VEC_TIMER);
    apic_write(APIC_TMICT, 1000);
    sti();
    unsigned long n = wait_count(1);
    cli();
    report(irq_count >= 1 && irq_log[0].vec == VEC_TIMER,
           "one-shot timer (TMICT 1000, divide 1) fires vector 0xe0 (%u taken, after %lu iterations)",
           irq_count, n);
    report(apic_read(APIC_TMCCT) == 0, "TMCCT reads 0 once it expired (got %#x)",
           apic_read(APIC_TMCCT));
    sti();
    apic_spin(100000);
    cli();
    report(irq_count == 1, "a one-shot timer fires exactly once (%u taken)", irq_count);
    report(apic_read(APIC_TMICT) == 1000, "TMICT keeps 1000 (got %#x)", apic_read(APIC_TMICT));
    irq_end();
}

/* ---- 7. masked timer ---------------------------------------------------------- */

static void test_timer_masked(void)
{
    irq_begin();
    apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TIMER);
    apic_write(APIC_TMICT, 10000000); /* 10 ms: a host that deschedules us still sees it count */
    uint32_t c1 = apic_read(APIC_TMCCT);
    sti();
    unsigned long i;
    for (i = 0; i < WAIT_LOOPS && apic_read(APIC_TMCCT) != 0; i++)
        ;
    apic_spin(1000);
    cli();
    report(c1 > 0 && c1 <= 10000000, "masked LVTT: TMCCT counts from TMICT (%#x right after)", c1);
    report(i < WAIT_LOOPS, "and runs down to 0 (after %lu reads)", i);
    report(irq_count == 0, "a masked LVTT (bit 16) never fires (%u taken)", irq_count);
    report(!apic_vec_test(APIC_IRR, VEC_TIMER, false), "nor leaves vector 0xe0 in IRR");
    irq_end();
}

/* ---- 5. periodic timer ---------------------------------------------------------- */

static void test_timer_periodic(void)
{
    irq_begin();
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
    apic_write(APIC_LVTT, APIC_LVT_PERIODIC | VEC_TIMER);
    apic_write(APIC_TMICT, 50000);
    sti();
    unsigned long n = wait_count(3);
    uint32_t cur = apic_read(APIC_TMCCT);
    cli();
    report(irq_count >= 3, "periodic timer (TMICT 50000): fired %u times (>= 3) in %lu iterations",
           irq_count, n);
    bool all_timer = irq_count > 0;
    for (unsigned i = 0; i < irq_count && i < LOG_MAX; i++)
        all_timer = all_timer && irq_log[i].vec == VEC_TIMER;
    report(all_timer, "each through vector 0xe0");
    report(cur != 0 && cur <= 50000, "TMCCT reloads: reads %#x after the third", cur);
    apic_write(APIC_TMICT, 0);
    report(apic_read(APIC_TMCCT) == 0, "TMICT 0 stops it: TMCCT reads 0 (got %#x)",
           apic_read(APIC_TMCCT));
    asm volatile("sti; nop; cli" : : : "memory"); /* one accepted before the stop, if any */
    unsigned before = irq_count;
    sti();
    apic_spin(200000);
    cli();
    report(irq_count == before, "no interrupt after TMICT 0 (%u, then %u)", before, irq_count);
    irq_end();
}

/* ---- 9. x2APIC ---------------------------------------------------------------------- */

extern char irq_x2_after[];

static void test_x2apic(void)
{
    if (!(cpuid(1).c & (1u << 21))) {
        report_skip("x2APIC not offered (CPUID.1 ECX bit 21 clear)%s",
                    booted_via_pvh ? ": known QEMU 7.2 TCG divergence" : "");
        return;
    }
    irq_begin();
    uint64_t base = rdmsr(MSR_IA32_APICBASE);
    wrmsr(MSR_IA32_APICBASE, base | APIC_BASE_EXTD);
    irq_x2 = true;
    report(rdmsr(X2APIC_MSR(APIC_SPIV)) & APIC_SPIV_ENABLE, "x2APIC mode, SPIV enabled");
    asm volatile("sti; nop; wrmsr; irq_x2_after: cli"
                 : : "c"(X2APIC_MSR(APIC_SELF_IPI)), "a"(VEC_X2), "d"(0) : "memory");
    struct irq_entry *e = &irq_log[0];
    report(irq_count == 1 && e->vec == VEC_X2,
           "WRMSR SELF_IPI (0x83f) = 0x41 with IF=1: delivered (%u taken, vector %#x)", irq_count,
           e->vec);
    report(e->rip == (uint64_t)irq_x2_after,
           "at the instruction after the WRMSR (frame RIP %#lx, expected %#lx)", e->rip,
           (uint64_t)irq_x2_after);
    report(e->isr && !e->irr, "in the handler: ISR (MSR 0x812) has 0x41, IRR does not");
    report(!e->isr_after_eoi, "WRMSR EOI (0x80b) clears it");
    report(rdmsr(X2APIC_MSR(APIC_ISR + 0x20)) == 0 && rdmsr(X2APIC_MSR(APIC_IRR + 0x20)) == 0,
           "after the handler: ISR and IRR word 2 empty");
    irq_x2 = false;
    /* Back to xAPIC: through disabled (x2APIC cannot go to xAPIC directly). */
    wrmsr(MSR_IA32_APICBASE, base & ~(APIC_BASE_EN | APIC_BASE_EXTD));
    wrmsr(MSR_IA32_APICBASE, base);
    irq_end();
}

/* ---- 6. HLT woken by the timer ------------------------------------------------------ */

extern char irq_hlt_after[];

static void test_hlt_timer(void)
{
    irq_begin();
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
    apic_write(APIC_LVTT, VEC_TIMER);
    uint64_t t0 = rdtsc();
    apic_write(APIC_TMICT, 1000000); /* 1 ms at 1 GHz */
    asm volatile("sti; hlt; irq_hlt_after: cli" : : : "memory");
    uint64_t t1 = rdtsc();
    report(irq_count == 1 && irq_log[0].vec == VEC_TIMER,
           "sti; hlt: the one-shot timer (TMICT 1000000) wakes the HLT (%u taken)", irq_count);
    report(irq_log[0].rip == (uint64_t)irq_hlt_after,
           "frame RIP is the instruction after the HLT (%#lx, expected %#lx)", irq_log[0].rip,
           (uint64_t)irq_hlt_after);
    report(t1 - t0 >= 1000000, "RDTSC advanced %lu >= 1000000 cycles across the HLT", t1 - t0);
    irq_end();
}

#endif /* !IRQ_HALT */

int main(void)
{
#if defined(IRQ_HALT) && IRQ_HALT == 1
    report(true, "cli; hlt with nothing pending: the run must end here with status 2");
    asm volatile("cli; hlt" : : : "memory");
#elif defined(IRQ_HALT) && IRQ_HALT == 2
    report(apic_read(APIC_TMICT) == 0 && apic_reg256_any(APIC_IRR) == 0,
           "sti; hlt with no timer armed, nothing pending: the run must end here with status 2");
    asm volatile("sti; hlt" : : : "memory");
#elif defined(IRQ_HALT)
#error "IRQ_HALT is 1 or 2"
#else
    run_test("self-IPI, IF, STI shadow, ISR and EOI", test_self_ipi);
    run_test("TPR", test_tpr);
    run_test("CR8", test_cr8);
    run_test("priority", test_priority);
    run_test("NMI", test_nmi);
    run_test("one-shot timer", test_timer_oneshot);
    run_test("masked timer", test_timer_masked);
    run_test("periodic timer", test_timer_periodic);
    run_test("x2APIC", test_x2apic);
    run_test("HLT woken by the timer", test_hlt_timer); /* last: it can only hang */
#endif
#ifdef IRQ_HALT
    report(false, "the HLT returned");
#endif
    return report_summary();
}
