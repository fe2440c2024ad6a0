/* smp.c — guest test: several processors (run with --smp=4; QEMU -smp 4).
 * The BSP starts the others as a kernel does: INIT and SIPI broadcast to
 * all but itself, each AP from a real-mode trampoline at TRAMP (the SIPI
 * vector's page), which takes an INT through real mode's vector table,
 * through 32-bit protected mode to 64-bit mode on the BSP's page tables (AMD APM vol. 2 §16.5 "Interprocessor Interrupts",
 * §14.1 "Processor Initialization"; Intel SDM vol. 3 §8.4 "Multiple-
 * Processor (MP) Initialization"). Then IPIs between them: fixed to one
 * APIC by physical ID, the three shorthands, logical flat destinations,
 * NMI; each AP's own APIC timer waking its HLT, and, with every processor
 * halted, the time passing to one AP's timer, whose IPI wakes the BSP; a
 * store by one processor
 * into code another has run, seen by that one after a serializing
 * instruction; INIT and SIPI to one AP again, which restarts it with
 * its MSRs as they were (INIT keeps them); last, INIT to the BSP while its
 * L2 halts under L1's INIT intercept: #VMEXIT(INIT). The number of
 * processors is fw_cfg's NB_CPUS.
 *
 * Built again with SMP_HALT (guests/CMakeLists.txt): once the APs are up
 * and halted with interrupts on, the BSP does cli; hlt. Nothing can wake
 * any of them: the run must end with status 2, which tests/guest checks.
 */
#include "libguest.h"

#include "apic.h"

#define TRAMP       0x9000ul /* the trampoline's page: SIPI vector 0x09 */
#define MAX_CPUS    8
#define AP_STACK_SIZE 8192

#define VEC_PING    0x50 /* fixed IPI: the receiver counts it */
#define VEC_CALL    0x51 /* fixed IPI: the receiver runs its mailbox */
#define VEC_TIMER   0x52 /* an AP's own APIC timer */

#define FW_CFG_CTL  0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_NB_CPUS 0x05

#define STAR_MARK   0x0013000800000000ull /* each AP's STAR once it ran */

#define ICR_INIT    (5u << 8)
#define ICR_SIPI    (6u << 8)
#define ICR_LOGICAL (1u << 11)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_ALL     (2u << 18)

/* Bounded waits (about 4 instructions an iteration): a missing IPI is a
 * FAIL, not a hang. */
#define WAIT_LOOPS 4000000ul

/* What each processor reports, by APIC ID. */
struct cpu_info {
    uint32_t apic_id;      /* the xAPIC ID register's bits 31:24 */
    uint32_t cpuid_id;     /* CPUID 1 EBX[31:24]: the initial APIC ID */
    uint64_t apic_base;    /* IA32_APIC_BASE */
    unsigned starts;       /* times it came up through the trampoline */
    uint64_t star_at_start; /* STAR as it found it on its last start */
    unsigned pings;        /* VEC_PING taken */
    unsigned nmis;
    unsigned timers;
    void (*volatile mailbox)(void); /* VEC_CALL runs it, then clears it */
};
static volatile struct cpu_info info[MAX_CPUS];
static volatile unsigned online;

/* The APs' way up, read by ap_start32 and ap_start64 (below): the BSP's
 * control registers and EFER, its IDT, and the next free stack. */
uint32_t ap_cr0, ap_cr3, ap_cr4, ap_efer;
struct descriptor_table_ptr ap_idtr;
uint64_t ap_stack_next;
static uint8_t ap_stacks[MAX_CPUS * 2][AP_STACK_SIZE] __attribute__((aligned(16)));

void ap_main(void);

/* The real-mode trampoline, copied to TRAMP: CS = TRAMP >> 4, IP 0. It
 * loads the BSP's GDT (its descriptor patched into tramp_gdtr), sets PE
 * and jumps to ap_start32 in the image through the 32-bit code segment.
 * Then PAE, CR3, EFER.LME and PG as the BSP has them, the 64-bit code
 * segment, the IDT, a stack of its own, and ap_main. */
asm(".text\n"
    ".code16\n"
    ".globl tramp_start, tramp_gdtr, tramp_count, tramp_end\n"
    "tramp_start:\n\t"
    "cli\n\t"
    "mov %cs, %ax\n\t"
    "mov %ax, %ds\n\t"
    "mov %ax, %ss\n\t"
    "mov $0x40, %ax\n\t"           /* a stack of its own in this page */
    "lock xadd %ax, tramp_sp - tramp_start\n\t"
    "mov %ax, %sp\n\t"
    "lidtl tramp_ivtr - tramp_start\n\t" /* a vector table in this page */
    "int $0x40\n\t"
    "lgdtl tramp_gdtr - tramp_start\n\t"
    "mov %cr0, %eax\n\t"
    "or $1, %eax\n\t"
    "mov %eax, %cr0\n\t"
    "ljmpl $0x30, $ap_start32\n"
    "tramp_int40:\n\t"             /* real mode's INT 0x40 handler */
    "lock incw tramp_count - tramp_start\n\t"
    "iret\n"
    "tramp_gdtr:\n\t"
    ".word 0\n\t"
    ".long 0\n"
    "tramp_count:\n\t"
    ".word 0\n"
    "tramp_sp:\n\t"
    ".word 0x900\n"                 /* stacks from 0x8c0 up, 0x40 each */
    "tramp_ivtr:\n\t"
    ".word 0x3ff\n\t"
    ".long 0x9400\n"                /* TRAMP + TRAMP_IVT */
    ".globl tramp_int40\n"
    "tramp_end:\n"
    ".code32\n"
    "ap_start32:\n\t"
    "mov $0x10, %ax\n\t"
    "mov %ax, %ds\n\t"
    "mov %ax, %es\n\t"
    "mov %ax, %ss\n\t"
    "mov ap_cr4, %eax\n\t"
    "mov %eax, %cr4\n\t"
    "mov ap_cr3, %eax\n\t"
    "mov %eax, %cr3\n\t"
    "mov $0xc0000080, %ecx\n\t"
    "mov ap_efer, %eax\n\t"
    "xor %edx, %edx\n\t"
    "wrmsr\n\t"
    "mov ap_cr0, %eax\n\t"
    "mov %eax, %cr0\n\t"
    "ljmpl $0x08, $ap_start64\n"
    ".code64\n"
    "ap_start64:\n\t"
    "lidt ap_idtr(%rip)\n\t"
    "mov $8192, %eax\n\t" /* AP_STACK_SIZE */
    "lock xadd %rax, ap_stack_next(%rip)\n\t"
    "lea 8192(%rax), %rsp\n\t"
    "call ap_main\n"
    "1:\n\t"
    "hlt\n\t"
    "jmp 1b\n");

extern const uint8_t tramp_start[], tramp_gdtr[], tramp_count[], tramp_int40[], tramp_end[];

#define TRAMP_IVT 0x400ul /* the APs' real-mode vector table, in TRAMP's page */
_Static_assert(TRAMP + TRAMP_IVT == 0x9400, "tramp_ivtr's base");

/* How many times an AP took INT 0x40 in real mode, in the copy at TRAMP. */
static unsigned tramp_ints(void)
{
    return *(volatile uint16_t *)(TRAMP + (size_t)(tramp_count - tramp_start));
}

static void icr_send(uint32_t low, unsigned dest);

static unsigned my_id(void)
{
    return apic_read(APIC_ID) >> 24;
}

static void ping_handler(struct ex_regs *r)
{
    unsigned id = my_id();
    if (id < MAX_CPUS)
        info[id].pings++;
    apic_eoi();
}

static void call_handler(struct ex_regs *r)
{
    unsigned id = my_id();
    if (id < MAX_CPUS && info[id].mailbox) {
        cpuid(0); /* serializing: code another processor wrote is seen */
        info[id].mailbox();
        info[id].mailbox = NULL;
    }
    apic_eoi();
}

/* An AP's timer, once armed so, wakes the BSP with a ping. */
static volatile bool timer_pings_bsp;

static void timer_handler(struct ex_regs *r)
{
    unsigned id = my_id();
    if (id < MAX_CPUS)
        info[id].timers++;
    if (id != 0 && timer_pings_bsp) {
        timer_pings_bsp = false;
        icr_send(APIC_ICR_ASSERT | VEC_PING, 0);
    }
    apic_eoi();
}

static void nmi_handler(struct ex_regs *r)
{
    unsigned id = my_id();
    if (id < MAX_CPUS)
        info[id].nmis++;
}

void ap_main(void)
{
    unsigned id = my_id();
    apic_irq_setup();
    if (id < MAX_CPUS) {
        info[id].apic_id = id;
        info[id].cpuid_id = cpuid(1).b >> 24;
        info[id].apic_base = rdmsr(0x1b);
        info[id].starts++;
        info[id].star_at_start = rdmsr(0xc0000081);
        wrmsr(0xc0000081, STAR_MARK);
    }
    __atomic_add_fetch(&online, 1, __ATOMIC_SEQ_CST);
    for (;;)
        asm volatile("sti; hlt; cli" ::: "memory");
}

static void icr_send(uint32_t low, unsigned dest)
{
    apic_write(APIC_ICR2, dest << 24);
    apic_write(APIC_ICR, low);
}

/* Waits until *p reaches want (or the bound): whether it did. */
static bool wait_for(volatile unsigned *p, unsigned want)
{
    for (unsigned long i = 0; i < WAIT_LOOPS; i++)
        if (*p >= want)
            return true;
    return *p >= want;
}

static unsigned ncpus;

static unsigned fw_cfg_nb_cpus(void)
{
    outw(FW_CFG_CTL, FW_CFG_NB_CPUS);
    return inb(FW_CFG_DATA) | (unsigned)inb(FW_CFG_DATA) << 8;
}

/* The APs' counters of one kind, summed, and the BSP's. */
static unsigned sum_pings(unsigned from)
{
    unsigned s = 0;
    for (unsigned i = from; i < ncpus; i++)
        s += info[i].pings;
    return s;
}

/* Waits until the APs have taken want pings in all, then a while longer
 * for any that should not come. */
static void settle(unsigned want)
{
    for (unsigned long i = 0; i < WAIT_LOOPS && sum_pings(1) < want; i++)
        ;
    apic_spin(100000);
}

static void start_aps(void)
{
    struct descriptor_table_ptr gdtr;
    sgdt(&gdtr);
    sidt(&ap_idtr);
    ap_cr0 = (uint32_t)read_cr0();
    ap_cr3 = (uint32_t)read_cr3();
    ap_cr4 = (uint32_t)read_cr4() & ~(1u << 17); /* no PCIDE outside long mode */
    ap_efer = (uint32_t)rdmsr(0xc0000080) & ~(1u << 10); /* LMA is the CPU's */
    ap_stack_next = (uint64_t)ap_stacks;
    size_t len = (size_t)(tramp_end - tramp_start);
    memcpy((void *)TRAMP, tramp_start, len);
    memcpy((void *)(TRAMP + (size_t)(tramp_gdtr - tramp_start)), &gdtr, 6);
    /* INT 0x40 to TRAMP >> 4 : tramp_int40, as real mode reads it */
    uint16_t ivt[2] = { (uint16_t)(tramp_int40 - tramp_start), (uint16_t)(TRAMP >> 4) };
    memcpy((void *)(TRAMP + TRAMP_IVT + 0x40 * 4), ivt, sizeof ivt);

    icr_send(ICR_ALL_BUT_SELF | ICR_INIT | APIC_ICR_ASSERT, 0);
    icr_send(ICR_ALL_BUT_SELF | ICR_SIPI | (TRAMP >> 12), 0);
    bool up = wait_for(&online, ncpus - 1);
    if (!up) /* as the MP protocol does: a second SIPI for a slow AP */
        icr_send(ICR_ALL_BUT_SELF | ICR_SIPI | (TRAMP >> 12), 0);
    up = wait_for(&online, ncpus - 1);
    report(up, "INIT and SIPI to all but self: %u of %u APs online", online, ncpus - 1);
    bool ids = true, bsp_bits = true;
    for (unsigned i = 1; i < ncpus; i++) {
        ids &= info[i].apic_id == i && info[i].cpuid_id == i && info[i].starts == 1;
        bsp_bits &= !(info[i].apic_base & APIC_BASE_BSP);
    }
    for (unsigned i = 1; i < ncpus; i++)
        ids &= info[i].star_at_start == 0;
    report(ids, "each AP runs with APIC ID = its CPUID initial APIC ID, once, STAR 0");
    report(tramp_ints() == ncpus - 1,
           "each AP took INT 0x40 through real mode's vector table and IRET back (%u)",
           tramp_ints());
    report(bsp_bits && (rdmsr(0x1b) & APIC_BASE_BSP) && my_id() == 0,
           "IA32_APIC_BASE.BSP set on the BSP (APIC ID 0) only");
}

static void test_fixed(void)
{
    unsigned before = sum_pings(1);
    bool only = true;
    for (unsigned i = 1; i < ncpus; i++) {
        unsigned mine = info[i].pings;
        icr_send(APIC_ICR_ASSERT | VEC_PING, i);
        only &= wait_for(&info[i].pings, mine + 1);
    }
    report(only && sum_pings(1) == before + ncpus - 1,
           "a fixed IPI to each AP's physical ID reaches that AP alone");

    before = sum_pings(1);
    unsigned bsp = info[0].pings;
    icr_send(ICR_ALL_BUT_SELF | APIC_ICR_ASSERT | VEC_PING, 0);
    settle(before + ncpus - 1);
    report(sum_pings(1) == before + ncpus - 1 && info[0].pings == bsp,
           "all-excluding-self reaches every AP and not the sender");

    before = sum_pings(0);
    sti();
    icr_send(ICR_ALL | APIC_ICR_ASSERT | VEC_PING, 0);
    for (unsigned long i = 0; i < WAIT_LOOPS && sum_pings(0) < before + ncpus; i++)
        ;
    cli();
    report(sum_pings(0) == before + ncpus && info[0].pings == bsp + 1,
           "all-including-self reaches every processor once");

    unsigned self = info[0].pings;
    before = sum_pings(1);
    sti();
    apic_self_ipi(VEC_PING);
    for (unsigned long i = 0; i < WAIT_LOOPS && info[0].pings == self; i++)
        ;
    cli();
    report(info[0].pings == self + 1 && sum_pings(1) == before,
           "the self shorthand reaches the sender alone");
}

/* Runs fn on AP id through its mailbox and VEC_CALL; whether it ran. */
static bool run_on(unsigned id, void (*fn)(void))
{
    info[id].mailbox = fn;
    icr_send(APIC_ICR_ASSERT | VEC_CALL, id);
    for (unsigned long i = 0; i < WAIT_LOOPS; i++)
        if (!info[id].mailbox)
            return true;
    return false;
}

static void set_flat_ldr(void)
{
    apic_write(APIC_DFR, 0xffffffffu);
    apic_write(APIC_LDR, (1u << my_id()) << 24);
}

static void test_logical(void)
{
    bool set = true;
    for (unsigned i = 1; i < ncpus; i++)
        set &= run_on(i, set_flat_ldr);
    unsigned p1 = info[1].pings, p2 = ncpus > 2 ? info[2].pings : 0;
    unsigned others = sum_pings(1) - p1 - p2;
    uint32_t mask = ncpus > 2 ? 0x6 : 0x2; /* APs 1 and 2 */
    icr_send(ICR_LOGICAL | APIC_ICR_ASSERT | VEC_PING, mask);
    bool got = wait_for(&info[1].pings, p1 + 1) &&
               (ncpus <= 2 || wait_for(&info[2].pings, p2 + 1));
    apic_spin(100000);
    report(set && got && sum_pings(1) - info[1].pings - (ncpus > 2 ? info[2].pings : 0) == others,
           "a logical flat destination 0x%x reaches the APs whose LDR bit it has", mask);
}

static void test_nmi(void)
{
    unsigned id = ncpus - 1, before = info[id].nmis;
    icr_send(APIC_ICR_DM_NMI | APIC_ICR_ASSERT, id);
    report(wait_for(&info[id].nmis, before + 1) && info[0].nmis == 0,
           "an NMI IPI reaches AP %u's NMI handler", id);
}

/* Each AP arms its own one-shot timer and halts until it fires. */
static void arm_timer(void)
{
    apic_write(APIC_TDCR, APIC_TDCR_DIV1);
    apic_write(APIC_LVTT, VEC_TIMER);
    apic_write(APIC_TMICT, 20000 + 10000 * my_id());
}

static void test_timers(void)
{
    bool all = true;
    for (unsigned i = 1; i < ncpus; i++) {
        unsigned t = info[i].timers;
        all &= run_on(i, arm_timer) && wait_for(&info[i].timers, t + 1);
    }
    report(all, "each AP's own APIC timer wakes its HLT");
}

/* Every processor waits: the BSP in HLT, the APs in HLT, AP 1 with its
 * timer armed. The time to that timer passes, and AP 1's timer handler
 * wakes the BSP with an IPI. */
static void test_all_wait(void)
{
    unsigned p = info[0].pings, t = info[1].timers;
    timer_pings_bsp = true;
    bool armed = run_on(1, arm_timer);
    asm volatile("sti; hlt; cli" ::: "memory");
    report(armed && info[1].timers == t + 1 && info[0].pings == p + 1,
           "all halted: AP 1's timer expires and its IPI wakes the BSP's HLT");
}

/* Code one processor runs and another rewrites (its immediate). */
static volatile unsigned patched_result;
__attribute__((noinline, aligned(64))) static unsigned patchable(void)
{
    unsigned v;
    asm volatile("mov $0x11111111, %0" : "=r"(v));
    return v;
}

static void run_patchable(void)
{
    patched_result = patchable();
}

static void test_cross_modifying(void)
{
    /* The MOV's immediate: the first occurrence of 0x11111111 in it. */
    uint8_t *p = (uint8_t *)patchable;
    size_t at = 0;
    for (size_t i = 0; i < 32; i++)
        if (p[i] == 0x11 && p[i + 1] == 0x11 && p[i + 2] == 0x11 && p[i + 3] == 0x11) {
            at = i;
            break;
        }
    bool first = run_on(1, run_patchable) && patched_result == 0x11111111;
    uint32_t v = 0x22222222;
    memcpy(p + at, &v, 4);
    bool second = run_on(1, run_patchable) && patched_result == 0x22222222;
    report(at && first && second,
           "AP 1 runs code, the BSP rewrites it, AP 1 runs the new bytes (0x%x)",
           (unsigned)patched_result);
}

static void test_init_again(void)
{
    unsigned id = 1, was = online;
    icr_send(ICR_INIT | APIC_ICR_ASSERT, id);
    icr_send(ICR_SIPI | (TRAMP >> 12), id);
    bool back = wait_for(&online, was + 1);
    report(back && info[id].starts == 2, "INIT and SIPI to AP %u start it again", id);
    report(info[id].star_at_start == STAR_MARK,
           "STAR, which INIT leaves alone, is what AP %u wrote before (0x%lx)", id,
           (unsigned long)info[id].star_at_start);
    unsigned p = info[id].pings;
    icr_send(APIC_ICR_ASSERT | VEC_PING, id);
    report(wait_for(&info[id].pings, p + 1), "AP %u takes IPIs after its restart", id);
}

/* L1 intercepts INIT while its L2 waits in HLT: INIT from another
 * processor is #VMEXIT(INIT), and stays pending (GIF is clear after the
 * exit, and this test sets it no more: it comes last). */
static volatile bool l2_entered;

static void l2_halt(void)
{
    l2_entered = true;
    asm volatile("cli; hlt; hlt" ::: "memory");
}

static void init_the_bsp(void)
{
    for (unsigned long i = 0; i < WAIT_LOOPS && !l2_entered; i++)
        ;
    apic_spin(20000); /* L2 is in its HLT by now */
    icr_send(ICR_INIT | APIC_ICR_ASSERT, 0);
}

static void test_nested_init(void)
{
    if (!(cpuid(0x80000001).c & (1u << 2))) {
        report_skip("no SVM: INIT intercept");
        return;
    }
    if (booted_via_pvh) {
        /* Seen with QEMU 7.2: the BSP never gets back to L1 from this
         * VMRUN, whether L2 halts or spins. */
        report_skip("#VMEXIT(INIT): QEMU TCG does not return to L1 from this VMRUN");
        return;
    }
    svm_setup();
    vmcb_ident_guest(vmcb, l2_halt);
    vmcb_intercept(vmcb, SVM_EXIT_INIT);
    info[1].mailbox = init_the_bsp; /* AP 1 waits for L2, then INIT */
    icr_send(APIC_ICR_ASSERT | VEC_CALL, 1);
    uint64_t code = svm_vmrun();
    report(code == SVM_EXIT_INIT && l2_entered,
           "INIT from AP 1 while L2 halts under L1's INIT intercept: #VMEXIT(INIT) (0x%lx)",
           (unsigned long)code);
}

int main(void)
{
    ncpus = fw_cfg_nb_cpus();
    if (ncpus < 2 || ncpus > MAX_CPUS) {
        report_skip("%u processors: this test wants 2 to %d (--smp)", ncpus, MAX_CPUS);
        return report_summary();
    }
    report_info("%u processors", ncpus);
    apic_irq_setup();
    handle_exception(VEC_PING, ping_handler);
    handle_exception(VEC_CALL, call_handler);
    handle_exception(VEC_TIMER, timer_handler);
    handle_exception(2, nmi_handler);
    run_test("start-up", start_aps);
    if (online != ncpus - 1)
        return report_summary();
#ifdef SMP_HALT
    /* Every processor halted, nothing armed: the run ends (status 2). */
    asm volatile("cli; hlt");
    report(false, "the BSP's cli; hlt returned");
#endif
    run_test("fixed", test_fixed);
    run_test("logical", test_logical);
    run_test("nmi", test_nmi);
    run_test("timers", test_timers);
    run_test("all-wait", test_all_wait);
    run_test("cross-modifying", test_cross_modifying);
    run_test("init-again", test_init_again);
    run_test("nested-init", test_nested_init);
    return report_summary();
}
