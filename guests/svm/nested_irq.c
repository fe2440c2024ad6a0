/* nested_irq.c — guest test: interrupts while L1 runs L2 (AMD APM vol. 2
 * §15.21 "Interrupt and LDTR Virtualization", §15.17 "Global Interrupt
 * Flag"; KVM's svm_interrupt_blocked/svm_nmi_blocked and nested.c for the
 * L0 side). L2 shares L1's IDT, GDT and page tables and runs without nested
 * paging, so it reaches L1's APIC page directly.
 *
 *   a   INTR intercept with V_INTR_MASKING: VMRUN exits at once, the
 *       interrupt stays pending for L1; a2: the same with L1's IF=0 at
 *       VMRUN, which masks it (no exit)
 *   b   no INTR intercept, V_INTR_MASKING=0: L2's IF decides, L2 takes it
 *   c   V_INTR_MASKING=1 and L1's IF=0 at VMRUN: held from L2, L1 takes it
 *   d-f V_IRQ: taken by L2 after its STI; VINTR intercept; V_TPR,
 *       V_IGN_TPR and L2's CR8 as V_TPR
 *   g   GIF=0 holds INTR and NMI in L1
 *   h   NMI from L2 with and without L1's NMI intercept
 *   i   L2's HLT (not intercepted) ended by an intercepted INTR
 *
 * L1 enters L2 as a hypervisor does (KVM, kvm-unit-tests' svm_vmrun):
 * CLGI, IF as the case needs (the host IF that V_INTR_MASKING=1 masks
 * physical interrupts with, APM §15.21.1 "Physical (INTR) Interrupt
 * Masking in EFLAGS"), VMRUN; #VMEXIT leaves GIF=0 until L1's STGI.
 */
#include "libguest.h"

#include "apic.h"

/* int_ctl fields (APM vol. 2 appendix B, VMCB offset 0x60). */
#define INT_CTL_V_TPR(x)       ((uint32_t)(x) & 0xfu)
#define INT_CTL_V_IRQ          (1u << 8)
#define INT_CTL_V_INTR_PRIO(x) (((uint32_t)(x) & 0xfu) << 16)
#define INT_CTL_V_IGN_TPR      (1u << 20)
#define INT_CTL_V_INTR_MASKING (1u << 24)
#define INT_CTL_V_GIF          (1u << 9)
#define INT_CTL_V_GIF_ENABLE   (1u << 25)

#define VEC_IPI   0x40
#define VEC_TIMER 0xe0
#define VEC_VIRQ  0xf1
#define VEC_NMI   2

/* KVM (without AVIC) takes an event that an APIC write makes deliverable
 * before the next instruction (the write exits to L0, which injects the
 * event, or reflects its intercept, at the VMRUN that resumes the guest). */
#define QEMU_TB_LATE \
    "QEMU TCG takes an event made deliverable by an APIC write only at the end of the translation block"
#define QEMU_NO_SMI_INTERCEPT "QEMU 7.2 TCG never exits with #VMEXIT(SMI)"
#define QEMU_HLT_SHADOW "QEMU TCG reports the RIP of an HLT in the STI shadow, not the one after it"

/* ---- the interrupt log: who took what, where, at which level -------------- */

#define LOG_MAX 8

struct irq_entry {
    unsigned vec;
    uint64_t rip, rflags;
    bool in_l2;   /* l2_running when it arrived */
    bool isr;     /* own vector in L1's APIC ISR (false for V_IRQ) */
};

static volatile unsigned irq_count;
static struct irq_entry irq_log[LOG_MAX];

/* Set by L2's code while it runs its body (L1 clears it after each VMRUN). */
static volatile int l2_started, l2_running;
static volatile unsigned l2_count_before_sti, l2_count_end;

static void irq_handler(struct ex_regs *r)
{
    unsigned i = irq_count, v = (unsigned)r->vector;
    bool isr = v >= 32 && apic_vec_test(APIC_ISR, v, false);

    if (i < LOG_MAX) {
        irq_log[i] = (struct irq_entry){ .vec = v, .rip = r->rip, .rflags = r->rflags,
                                         .in_l2 = l2_running, .isr = isr };
    }
    if (isr)
        apic_eoi();
    irq_count = i + 1;
}

static const unsigned irq_vectors[] = { VEC_NMI, VEC_IPI, VEC_TIMER, VEC_VIRQ };

static void irq_begin(void)
{
    cli();
    for (unsigned i = 0; i < sizeof(irq_vectors) / sizeof(irq_vectors[0]); i++)
        handle_exception(irq_vectors[i], irq_handler);
    apic_irq_setup();
    for (unsigned i = 0; i < 16 && apic_reg256_any(APIC_ISR); i++)
        apic_eoi();
    asm volatile("stgi; sti; nop; nop; cli" : : : "memory");
    irq_count = 0;
    memset(irq_log, 0, sizeof(irq_log));
    l2_started = l2_running = 0;
    l2_count_before_sti = l2_count_end = ~0u;
    asm volatile("" : : : "memory");
}

static void irq_end(void)
{
    cli();
    asm volatile("stgi" : : : "memory");
    apic_write(APIC_TMICT, 0);
    apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TIMER);
    for (unsigned i = 0; i < sizeof(irq_vectors) / sizeof(irq_vectors[0]); i++)
        handle_exception(irq_vectors[i], NULL);
}

/* ---- L2 bodies ---------------------------------------------------------------- */

extern char l2_win_after[], l2_nmi_after[], l2_hlt_after[], l2_hlt_cli_after[];

/* IF=0 for a while, then sti; nop (l2_win_after: where an interrupt held by
 * IF only is taken), IF=1 for a while, cli, VMMCALL. */
__attribute__((noinline, noreturn)) static void l2_window(void)
{
    l2_started = 1;
    l2_running = 1;
    cli();
    apic_spin(2000);
    l2_count_before_sti = irq_count;
    asm volatile("sti; nop; l2_win_after: nop" : : : "memory");
    apic_spin(20000);
    cli();
    l2_count_end = irq_count;
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

/* L2 writes CR8 = 1 (V_TPR under V_INTR_MASKING), then l2_window. */
__attribute__((noinline, noreturn)) static void l2_cr8_window(void)
{
    write_cr8(1);
    l2_window();
}

/* An NMI to itself through the APIC's ICR. */
__attribute__((noinline, noreturn)) static void l2_nmi(void)
{
    l2_started = 1;
    l2_running = 1;
    apic_nmi_dest_self();
    asm volatile("movl %1, (%0); l2_nmi_after: nop"
                 : : "r"(APIC_PAGE + APIC_ICR), "r"(APIC_ICR_NMI_LOW) : "memory");
    apic_spin(2000);
    l2_count_end = irq_count;
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

/* Arms the one-shot APIC timer: 10 ms, long after the HLT has begun even
 * on a busy host (svmsim skips the time while the vCPU halts). */
static void l2_arm_timer(void)
{
    l2_started = 1;
    l2_running = 1;
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
    apic_write(APIC_LVTT, VEC_TIMER);
    apic_write(APIC_TMICT, 10000000);
}

__attribute__((noinline, noreturn)) static void l2_hlt(void)
{
    l2_arm_timer();
    asm volatile("sti; hlt; l2_hlt_after: cli" : : : "memory");
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

__attribute__((noinline, noreturn)) static void l2_hlt_cli(void)
{
    l2_arm_timer();
    asm volatile("cli; hlt; l2_hlt_cli_after: nop" : : : "memory");
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

/* ---- L1 side ---------------------------------------------------------------------- */

/* vmcb_ident without nested paging, L2 at body. */
static void l2_prepare(void (*body)(void))
{
    vmcb_ident_guest(vmcb, body);
    vmcb->control.nested_ctl = 0;
    vmcb->control.nested_cr3 = 0;
}

/* CLGI, IF = host_if, VMRUN. Returns the exit code with GIF=0 and IF=0. */
static uint64_t vmrun_l2(bool host_if)
{
    asm volatile("clgi" : : : "memory");
    if (host_if)
        sti();
    else
        cli();
    uint64_t code = svm_vmrun();
    cli();
    l2_running = 0;
    return code;
}

static bool ipi_pending(void)
{
    return apic_vec_test(APIC_IRR, VEC_IPI, false);
}

extern char a_after[];

static void test_a_intr_intercept(void)
{
    irq_begin();
    apic_self_ipi(VEC_IPI);
    l2_prepare(l2_window);
    vmcb_intercept(vmcb, SVM_EXIT_INTR);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING;
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_INTR, "a: INTR intercept, IPI pending: VMRUN gives #VMEXIT(INTR) (exit %#lx)",
           code);
    report(vmcb->save.rip == (uint64_t)l2_window && !l2_started,
           "a: before L2 ran any instruction (vmcb12 RIP %#lx, L2 entry %#lx)", vmcb->save.rip,
           (uint64_t)l2_window);
    report(vmcb->control.exit_info_1 == 0 && vmcb->control.exit_info_2 == 0 &&
               !(vmcb->control.exit_int_info & SVM_EVTINJ_VALID),
           "a: exit_info_1/2 0, EXITINTINFO not valid (%#x)", vmcb->control.exit_int_info);
    report(irq_count == 0 && ipi_pending(), "a: not taken by anyone, still pending in IRR (%u taken)",
           irq_count);
    asm volatile("stgi" : : : "memory");
    report(irq_count == 0, "a: STGI with IF=0: still held");
    asm volatile("sti; nop; a_after: cli" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_IPI && !irq_log[0].in_l2 &&
               irq_log[0].rip == (uint64_t)a_after,
           "a: L1's sti; nop takes it in L1 (%u taken, frame RIP %#lx)", irq_count, irq_log[0].rip);
    irq_end();
}

extern char a2_after[];

static void test_a2_intr_intercept_hif0(void)
{
    irq_begin();
    apic_self_ipi(VEC_IPI);
    l2_prepare(l2_window);
    vmcb_intercept(vmcb, SVM_EXIT_INTR);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING;
    uint64_t code = vmrun_l2(false);
    report(code == SVM_EXIT_VMMCALL,
           "a2: the same with L1's IF=0 at VMRUN: L1's IF masks the INTR, L2 runs to VMMCALL (exit %#lx)",
           code);
    report(irq_count == 0 && ipi_pending(), "a2: not taken, still pending (%u taken)", irq_count);
    asm volatile("stgi; sti; nop; a2_after: cli" : : : "memory");
    report(irq_count == 1 && !irq_log[0].in_l2 && irq_log[0].rip == (uint64_t)a2_after,
           "a2: taken by L1 after stgi; sti; nop (%u taken)", irq_count);
    irq_end();
}

static void test_b_l2_takes_intr(void)
{
    irq_begin();
    apic_self_ipi(VEC_IPI);
    l2_prepare(l2_window);
    vmcb->control.int_ctl = 0;
    uint64_t code = vmrun_l2(false);
    report(code == SVM_EXIT_VMMCALL, "b: no INTR intercept, V_INTR_MASKING=0: L2 runs to VMMCALL (exit %#lx)",
           code);
    report(l2_count_before_sti == 0, "b: held while L2's IF=0 (%u taken before L2's sti)",
           l2_count_before_sti);
    report(irq_count == 1 && irq_log[0].vec == VEC_IPI && irq_log[0].in_l2,
           "b: taken inside L2 through the IDT (%u taken, in L2: %d)", irq_count, irq_log[0].in_l2);
    report(irq_log[0].rip == (uint64_t)l2_win_after,
           "b: after L2's STI shadow (frame RIP %#lx, expected %#lx)", irq_log[0].rip,
           (uint64_t)l2_win_after);
    report(irq_log[0].isr && !ipi_pending() && apic_reg256_any(APIC_ISR) == 0,
           "b: through L1's APIC: ISR set in the handler, L2's EOI retired it");
    irq_end();
}

extern char c_after[];

static void test_c_hif_masks(void)
{
    irq_begin();
    apic_self_ipi(VEC_IPI);
    l2_prepare(l2_window);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING;
    uint64_t code = vmrun_l2(false);
    report(code == SVM_EXIT_VMMCALL, "c: V_INTR_MASKING=1, L1's IF=0 at VMRUN: L2 runs to VMMCALL (exit %#lx)",
           code);
    report(l2_count_end == 0 && irq_count == 0,
           "c: L2's IF=1 does not let it in (%u taken in L2)", l2_count_end);
    report(ipi_pending(), "c: still pending in IRR after #VMEXIT");
    asm volatile("stgi; sti; nop; c_after: cli" : : : "memory");
    report(irq_count == 1 && !irq_log[0].in_l2 && irq_log[0].rip == (uint64_t)c_after,
           "c: L1 takes it once it sets IF (%u taken, frame RIP %#lx)", irq_count, irq_log[0].rip);
    irq_end();
}

/* V_IRQ with vector VEC_VIRQ and the given V_INTR_PRIO / V_TPR / extra bits. */
static void prepare_virq(unsigned prio, unsigned tpr, uint32_t extra)
{
    l2_prepare(l2_window);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING | INT_CTL_V_IRQ | INT_CTL_V_INTR_PRIO(prio) |
                            INT_CTL_V_TPR(tpr) | extra;
    vmcb->control.int_vector = VEC_VIRQ;
}

static void test_d_virq(void)
{
    irq_begin();
    prepare_virq(0xf, 0, 0);
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL, "d: V_IRQ (vector 0xf1, prio 15): L2 runs to VMMCALL (exit %#lx)",
           code);
    report(l2_count_before_sti == 0, "d: not taken while L2's IF=0 (%u taken)", l2_count_before_sti);
    report(irq_count == 1 && irq_log[0].vec == VEC_VIRQ && irq_log[0].in_l2,
           "d: taken in L2 through vector 0xf1 (%u taken, vector %#x)", irq_count, irq_log[0].vec);
    report(irq_log[0].rip == (uint64_t)l2_win_after,
           "d: after L2's STI shadow (frame RIP %#lx, expected %#lx)", irq_log[0].rip,
           (uint64_t)l2_win_after);
    report(!irq_log[0].isr && apic_reg256_any(APIC_IRR) == 0,
           "d: a virtual interrupt does not touch L1's APIC (IRR, ISR)");
    report(!(vmcb->control.int_ctl & INT_CTL_V_IRQ),
           "d: vmcb12 int_ctl V_IRQ clear after it was taken (int_ctl %#x)", vmcb->control.int_ctl);
    irq_end();
}

static void test_e_vintr_intercept(void)
{
    irq_begin();
    prepare_virq(0xf, 0, 0);
    vmcb_intercept(vmcb, SVM_EXIT_VINTR);
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_VINTR, "e: V_IRQ with the VINTR intercept: #VMEXIT(VINTR) (exit %#lx)", code);
    report(l2_started && vmcb->save.rip == (uint64_t)l2_win_after,
           "e: when L2's STI shadow ends (vmcb12 RIP %#lx, expected %#lx)", vmcb->save.rip,
           (uint64_t)l2_win_after);
    report(irq_count == 0, "e: L2's handler did not run (%u taken)", irq_count);
    report(vmcb->control.int_ctl & INT_CTL_V_IRQ, "e: vmcb12 int_ctl V_IRQ still set (int_ctl %#x)",
           vmcb->control.int_ctl);
    irq_end();
}

static void test_f_vtpr(void)
{
    irq_begin();
    prepare_virq(2, 5, 0);
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 0,
           "f: V_INTR_PRIO 2 under V_TPR 5: not taken by L2 (exit %#lx, %u taken)", code, irq_count);
    report(vmcb->control.int_ctl & INT_CTL_V_IRQ, "f: V_IRQ still set in vmcb12 (int_ctl %#x)",
           vmcb->control.int_ctl);
    irq_end();

    irq_begin();
    prepare_virq(6, 5, 0);
    code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 1 && irq_log[0].vec == VEC_VIRQ &&
               irq_log[0].in_l2,
           "f: V_INTR_PRIO 6 above V_TPR 5: taken in L2 (exit %#lx, %u taken)", code, irq_count);
    report(!(vmcb->control.int_ctl & INT_CTL_V_IRQ), "f: and V_IRQ cleared (int_ctl %#x)",
           vmcb->control.int_ctl);
    irq_end();

    irq_begin();
    prepare_virq(2, 5, INT_CTL_V_IGN_TPR);
    code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 1 && irq_log[0].vec == VEC_VIRQ &&
               irq_log[0].in_l2 && irq_log[0].rip == (uint64_t)l2_win_after,
           "f: V_INTR_PRIO 2 under V_TPR 5 with V_IGN_TPR: taken in L2 (exit %#lx, %u taken)", code,
           irq_count);
    report(!(vmcb->control.int_ctl & INT_CTL_V_IRQ), "f: and V_IRQ cleared (int_ctl %#x)",
           vmcb->control.int_ctl);
    irq_end();

    /* Under V_INTR_MASKING L2's CR8 is V_TPR (APM §15.21.1): lowering it
     * to 1 lets priority 2 in, and #VMEXIT writes V_TPR back to vmcb12. */
    if (booted_via_pvh) {
        report_skip("f: L2's MOV CR8 and V_TPR (known QEMU TCG divergence: QEMU 7.2 aborts on an "
                    "SVM guest's CR8 write, tcg_handle_interrupt's iothread assertion)");
        return;
    }
    irq_begin();
    prepare_virq(2, 5, 0);
    vmcb->save.rip = (uint64_t)l2_cr8_window; /* on the stack l2_prepare gave */
    code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 1 && irq_log[0].vec == VEC_VIRQ &&
               irq_log[0].in_l2,
           "f: L2's MOV CR8 = 1 lowers V_TPR under priority 2: taken in L2 (exit %#lx, %u taken)",
           code, irq_count);
    report((vmcb->control.int_ctl & 0xf) == 1 && !(vmcb->control.int_ctl & INT_CTL_V_IRQ),
           "f: vmcb12 V_TPR 1 and V_IRQ clear after #VMEXIT (int_ctl %#x)", vmcb->control.int_ctl);
    report(apic_read(APIC_TPR) == 0, "f: L1's TPR untouched by L2's CR8 (TPR %#x)",
           apic_read(APIC_TPR));
    irq_end();
}

extern char g_after[], g_nmi_after[];

static void test_g_gif(void)
{
    irq_begin();
    apic_self_ipi(VEC_IPI);
    asm volatile("clgi; sti" : : : "memory");
    apic_spin(10000);
    report(irq_count == 0 && ipi_pending(), "g: GIF=0, IF=1: the self-IPI is held (%u taken)",
           irq_count);
    asm volatile("stgi; g_after: nop; cli" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_IPI && irq_log[0].rip == (uint64_t)g_after,
           "g: STGI lets it in at once (%u taken, frame RIP %#lx, expected %#lx)", irq_count,
           irq_log[0].rip, (uint64_t)g_after);
    irq_end();

    irq_begin();
    asm volatile("clgi" : : : "memory");
    apic_nmi_dest_self();
    apic_write(APIC_ICR, APIC_ICR_NMI_LOW);
    apic_spin(10000);
    report(irq_count == 0, "g: GIF=0: a self-NMI is held (%u taken)", irq_count);
    asm volatile("stgi; g_nmi_after: nop" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_NMI && irq_log[0].rip == (uint64_t)g_nmi_after,
           "g: STGI lets the NMI in at once, IF=0 notwithstanding (%u taken, frame RIP %#lx)",
           irq_count, irq_log[0].rip);
    irq_end();
}

extern char h_after[];

static void test_h_nmi(void)
{
    irq_begin();
    l2_prepare(l2_nmi);
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 1 && irq_log[0].vec == VEC_NMI &&
               irq_log[0].in_l2,
           "h: no NMI intercept: L2's self-NMI is taken in L2 through vector 2 (exit %#lx, %u taken)",
           code, irq_count);
    report_qemu_known(irq_log[0].rip == (uint64_t)l2_nmi_after,
                      irq_count == 1 && irq_log[0].rip != (uint64_t)l2_nmi_after, QEMU_TB_LATE,
                      "h: at the instruction after L2's ICR write (frame RIP %#lx, expected %#lx)",
                      irq_log[0].rip, (uint64_t)l2_nmi_after);
    irq_end();

    irq_begin();
    l2_prepare(l2_nmi);
    vmcb_intercept(vmcb, SVM_EXIT_NMI);
    code = vmrun_l2(true);
    report(code == SVM_EXIT_NMI, "h: NMI intercept: L2's self-NMI gives #VMEXIT(NMI) (exit %#lx)", code);
    report_qemu_known(vmcb->save.rip == (uint64_t)l2_nmi_after,
                      code == SVM_EXIT_NMI && vmcb->save.rip != (uint64_t)l2_nmi_after, QEMU_TB_LATE,
                      "h: at the instruction after L2's ICR write (vmcb12 RIP %#lx, expected %#lx)",
                      vmcb->save.rip, (uint64_t)l2_nmi_after);
    report(irq_count == 0, "h: not taken by L2, nor by L1 while GIF=0 (%u taken)", irq_count);
    asm volatile("stgi; h_after: nop" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_NMI && !irq_log[0].in_l2 &&
               irq_log[0].rip == (uint64_t)h_after,
           "h: still pending: L1 takes it right after STGI (%u taken, frame RIP %#lx, expected %#lx)",
           irq_count, irq_log[0].rip, (uint64_t)h_after);
    irq_end();
}

extern char l2_vgif_after[];

/* Under vGIF: CLGI, STI (the virtual interrupt is held by V_GIF=0), VMMCALL;
 * then STGI (l2_vgif_after: where it is taken), CLGI, VMMCALL. */
__attribute__((noinline, noreturn)) static void l2_vgif(void)
{
    l2_started = 1;
    l2_running = 1;
    asm volatile("clgi; sti; nop; nop" ::: "memory");
    l2_count_before_sti = irq_count;
    asm volatile("vmmcall" ::: "memory");
    l2_running = 1; /* vmrun_l2 cleared it at the exit */
    asm volatile("stgi; l2_vgif_after: nop; clgi; cli" ::: "memory");
    l2_count_end = irq_count;
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

static void test_k_vgif(void)
{
    uint32_t a = 0x8000000a, b, c = 0, d;
    asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    if (!(d & (1u << 16))) {
        report_skip("k: virtual GIF not offered (CPUID 8000_000A EDX[16])");
        return;
    }
    irq_begin();
    prepare_virq(0xf, 0, INT_CTL_V_GIF_ENABLE | INT_CTL_V_GIF);
    vmcb->save.rip = (uint64_t)l2_vgif;
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && !(vmcb->control.int_ctl & INT_CTL_V_GIF),
           "k: L2's CLGI under V_GIF_ENABLE clears vmcb12's V_GIF, no exit (exit %#lx, int_ctl %#x)",
           code, vmcb->control.int_ctl);
    report(l2_count_before_sti == 0 && (vmcb->control.int_ctl & INT_CTL_V_IRQ),
           "k: V_GIF=0 holds the virtual interrupt though IF=1 (%u taken)", l2_count_before_sti);
    vmcb_skip(vmcb, 3);
    code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL && irq_count == 1 && irq_log[0].in_l2 &&
               irq_log[0].rip == (uint64_t)l2_vgif_after,
           "k: L2's STGI lets it in at the next instruction (%u taken, frame RIP %#lx, wanted %#lx)",
           irq_count, irq_log[0].rip, (uint64_t)l2_vgif_after);
    report(!(vmcb->control.int_ctl & INT_CTL_V_GIF), "k: and CLGI cleared V_GIF again (int_ctl %#x)",
           vmcb->control.int_ctl);
    asm volatile("stgi" : : : "memory");
    irq_end();
}

extern char l2_smi_after[];

/* An SMI to its own APIC, then VMMCALL. */
__attribute__((noinline, noreturn)) static void l2_smi(void)
{
    l2_started = 1;
    l2_running = 1;
    apic_nmi_dest_self(); /* ICR2: this APIC's ID */
    asm volatile("movl %1, (%0); l2_smi_after: nop"
                 : : "r"(APIC_PAGE + APIC_ICR), "r"(APIC_ICR_DM_SMI | APIC_ICR_ASSERT) : "memory");
    l2_running = 0;
    for (;;)
        asm volatile("vmmcall" : : : "memory");
}

static void test_j_smi(void)
{
    irq_begin();
    l2_prepare(l2_smi);
    vmcb_intercept(vmcb, SVM_EXIT_SMI);
    uint64_t code = vmrun_l2(true);
    report_qemu_known(code == SVM_EXIT_SMI, code == SVM_EXIT_VMMCALL, QEMU_NO_SMI_INTERCEPT,
                      "j: SMI intercept: L2's SMI gives #VMEXIT(SMI) (exit %#lx)", code);
    report_qemu_known(vmcb->save.rip == (uint64_t)l2_smi_after, code == SVM_EXIT_VMMCALL,
                      QEMU_NO_SMI_INTERCEPT,
                      "j: at the instruction after L2's ICR write (vmcb12 RIP %#lx, expected %#lx)",
                      vmcb->save.rip, (uint64_t)l2_smi_after);
    /* L1 takes the SMI it left pending once GIF is set (SMM, which returns
     * to where it was): L1 goes on, and the next VMRUN runs L2 to its end. */
    asm volatile("stgi" : : : "memory");
    l2_prepare(l2_smi);
    code = vmrun_l2(true);
    report(code == SVM_EXIT_VMMCALL, "j: no SMI intercept: L2 runs on to VMMCALL (exit %#lx)", code);
    report(irq_count == 0, "j: an SMI is no interrupt (%u taken)", irq_count);
    asm volatile("stgi" : : : "memory");
    irq_end();
}

extern char i_after[], i2_after[];

static void test_i_hlt(void)
{
    irq_begin();
    l2_prepare(l2_hlt);
    vmcb_intercept(vmcb, SVM_EXIT_INTR);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING;
    uint64_t code = vmrun_l2(true);
    report(code == SVM_EXIT_INTR, "i: L2's sti; hlt, timer armed: #VMEXIT(INTR) (exit %#lx)", code);
    report_qemu_known(vmcb->save.rip == (uint64_t)l2_hlt_after,
                      vmcb->save.rip == (uint64_t)l2_hlt_after - 1, QEMU_HLT_SHADOW,
                      "i: vmcb12 RIP after the HLT (%#lx, expected %#lx)", vmcb->save.rip,
                      (uint64_t)l2_hlt_after);
    report(irq_count == 0 && apic_vec_test(APIC_IRR, VEC_TIMER, false),
           "i: the timer interrupt is not taken, pending in IRR (%u taken)", irq_count);
    asm volatile("stgi; sti; nop; i_after: cli" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_TIMER && !irq_log[0].in_l2 &&
               irq_log[0].rip == (uint64_t)i_after,
           "i: L1 takes it (%u taken)", irq_count);
    irq_end();

    /* With V_INTR_MASKING=1 L2's IF masks only virtual interrupts: a
     * cli; hlt in L2 is still ended by the physical one (L1's IF=1). */
    irq_begin();
    l2_prepare(l2_hlt_cli);
    vmcb_intercept(vmcb, SVM_EXIT_INTR);
    vmcb->control.int_ctl = INT_CTL_V_INTR_MASKING;
    code = vmrun_l2(true);
    report(code == SVM_EXIT_INTR && vmcb->save.rip == (uint64_t)l2_hlt_cli_after,
           "i: L2's cli; hlt is ended the same way (exit %#lx, vmcb12 RIP %#lx, expected %#lx)", code,
           vmcb->save.rip, (uint64_t)l2_hlt_cli_after);
    asm volatile("stgi; sti; nop; i2_after: cli" : : : "memory");
    report(irq_count == 1 && irq_log[0].vec == VEC_TIMER && irq_log[0].rip == (uint64_t)i2_after,
           "i: and L1 takes the timer interrupt (%u taken)", irq_count);
    irq_end();
}

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();
    run_test("a: INTR intercept", test_a_intr_intercept);
    run_test("a2: INTR intercept, L1 IF=0", test_a2_intr_intercept_hif0);
    run_test("b: L2 takes INTR", test_b_l2_takes_intr);
    run_test("c: host IF masks INTR", test_c_hif_masks);
    run_test("d: V_IRQ", test_d_virq);
    run_test("e: VINTR intercept", test_e_vintr_intercept);
    run_test("f: V_TPR", test_f_vtpr);
    run_test("g: GIF", test_g_gif);
    run_test("h: NMI", test_h_nmi);
    run_test("j: SMI", test_j_smi);
    run_test("k: virtual GIF", test_k_vgif);
    run_test("i: HLT in L2", test_i_hlt); /* last: a wrong HLT can end the run */
    return report_summary();
}
