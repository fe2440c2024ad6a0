/* hostile.c — guests that try to keep the simulator busy without retiring
 * instructions, one image per form (HOSTILE selects; tests/guest runs each
 * with --max-insns and expects status 6 quickly, DESIGN.md: REP elements
 * and event deliveries count as the budget does):
 *   1  #UD whose handler (through an IST gate) is itself ud2
 *   2  #GP whose handler (IST) is a bare IRETQ: it pops the error code as
 *      RIP and the faulting RIP as CS, whose selector is beyond the GDT
 *   3  VMLOAD with EFER.SVME clear: L0 injects #UD, whose gate (IST) points
 *      back at the VMLOAD (every round trip an exit and an injection)
 *   4  REP LODSB with RCX = -1
 *   5  REP OUTSB to an unclaimed port with RCX = -1 (emulated by L0)
 *   6  page-table walks over every level: each round reloads CR3 (the TLB
 *      empties) and loads from the next 4 KiB page of a split 2 MiB area,
 *      so every load, and the fetch after each reload, walks PML4 to PTE
 *   7  code writes: a loop that stores into the code page it runs from,
 *      so every round drops the decoded code and decodes it again
 *   8  form 6 in L2 under nested paging, 4 KiB pages in both dimensions:
 *      every load is a two-dimensional walk (4 guest levels, each and the
 *      data through the 4 nested levels)
 *   9  (--smp=4) INIT and SIPI to all but self, over and over: every AP
 *      is reset and restarted in real mode, at a counting loop, each time
 *      (a PASS line says the APs ran it before the storm)
 *  10  (--smp=4) code another vCPU runs: the APs loop in real mode on a
 *      page the BSP stores into every round, so each of their blocks dies
 *      and is decoded again (a PASS line says the APs ran first)
 * The PASS line says the form is set up; the run must never come back.
 */
#include "libguest.h"
#include "svm.h"

#define WALK_AREA 0x1000000ull /* 16 MiB: a 2 MiB page split into 4 KiB pages */
#define AP_PAGE 0x9000ull      /* forms 9, 10: the APs' real-mode code (SIPI 0x09) */
#define ICR_ALL_BUT_SELF_INIT 0x000c4500u
#define ICR_ALL_BUT_SELF_SIPI (0x000c4600u | (AP_PAGE >> 12))

#if HOSTILE == 9 || HOSTILE == 10
#define AP_MARK 0x9100ull      /* the word the APs' loop counts in (DS = 0) */

static void icr(uint32_t v)
{
    *(volatile uint32_t *)0xfee00300ul = v;
}

/* Starts the APs on code (at AP_PAGE) that counts in AP_MARK, and reports
 * whether they ran it: the form is then set up as it says. */
static void start_aps(const uint8_t *code, size_t len)
{
    *(volatile uint16_t *)AP_MARK = 0;
    memcpy((void *)AP_PAGE, code, len);
    icr(ICR_ALL_BUT_SELF_INIT);
    icr(ICR_ALL_BUT_SELF_SIPI);
    for (unsigned long i = 0; i < 1000000 && !*(volatile uint16_t *)AP_MARK; i++)
        ;
    report(*(volatile uint16_t *)AP_MARK != 0, "the APs run their real-mode loop (%u)",
           *(volatile uint16_t *)AP_MARK);
}
#endif

#if HOSTILE == 6 || HOSTILE == 8
/* Never returns: each round empties the TLB, then loads from the next page. */
static void walk_forever(void)
{
    for (uint64_t i = 0;; i = (i + 1) & 511) {
        write_cr3(read_cr3());
        (void)*(volatile uint64_t *)(WALK_AREA + i * 4096);
    }
}
#endif
#if HOSTILE == 8
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
#endif

extern char hostile_ud2[], hostile_iretq[], hostile_vmload[], hostile_smc[];
asm(".text\n"
    "hostile_ud2:\n\tud2\n"
    "hostile_iretq:\n\tiretq\n"
    "hostile_vmload:\n\tvmload %rax\n\tjmp hostile_vmload\n"
    "hostile_smc:\n\tmovb $0x90, hostile_smc_pad(%rip)\n\tjmp hostile_smc\n"
    "hostile_smc_pad:\n\tnop\n");

int main(void)
{
    report(true, "hostile form %d set up; the instruction limit must end the run", HOSTILE);
#if HOSTILE == 1
    idt_set_gate(X86_VEC_UD, (void (*)(void))hostile_ud2, 0, DF_IST);
    asm volatile("ud2");
#elif HOSTILE == 2
    idt_set_gate(X86_VEC_GP, (void (*)(void))hostile_iretq, 0, DF_IST);
    asm volatile("movq (%0), %%rax" : : "r"(0x8000000000000000ull) : "rax");
#elif HOSTILE == 3
    idt_set_gate(X86_VEC_UD, (void (*)(void))hostile_vmload, 0, DF_IST);
    asm volatile("jmp hostile_vmload" : : "a"(0x100000) : "memory");
#elif HOSTILE == 4
    asm volatile("rep lodsb" : : "S"(0x100000), "c"(~0ull) : "rax", "memory");
#elif HOSTILE == 5
    tss_io_allow(0x80, true);
    asm volatile("rep outsb" : : "S"(0x100000), "c"(~0ull), "d"(0x80) : "memory");
#elif HOSTILE == 6
    vm_pte((const void *)WALK_AREA); /* split: the walk reaches a PTE */
    walk_forever();
#elif HOSTILE == 8
    if (!npt_supported()) {
        report(false, "hostile form 8 needs nested paging");
        return report_summary();
    }
    vm_pte((const void *)WALK_AREA);
    svm_setup();
    vmcb_ident(vmcb);
    npt_pte(WALK_AREA);            /* the nested walk reaches a PTE too */
    npt_pte((uint64_t)read_cr3()); /* and the guest's tables' (beside its PML4) */
    vmcb_set_guest(vmcb, walk_forever, l2_stack + sizeof l2_stack);
    svm_vmrun_vmcb(vmcb);
#elif HOSTILE == 7
    asm volatile("jmp hostile_smc");
#elif HOSTILE == 9
    const uint8_t loop[] = { 0xff, 0x06, 0x00, 0x91, 0xeb, 0xfa }; /* l: inc word [AP_MARK]; jmp l */
    start_aps(loop, sizeof loop);
    for (;;) {
        icr(ICR_ALL_BUT_SELF_INIT);
        icr(ICR_ALL_BUT_SELF_SIPI);
    }
#elif HOSTILE == 10
    /* l: nop; nop; inc word [AP_MARK]; jmp l */
    const uint8_t loop[] = { 0x90, 0x90, 0xff, 0x06, 0x00, 0x91, 0xeb, 0xf8 };
    start_aps(loop, sizeof loop);
    for (;;)
        *(volatile uint8_t *)AP_PAGE = 0x90; /* the same byte, into their code */
#endif
    report(false, "hostile form %d came back", HOSTILE);
    return report_summary();
}
