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
 * The PASS line says the form is set up; the run must never come back.
 */
#include "libguest.h"

extern char hostile_ud2[], hostile_iretq[], hostile_vmload[];
asm(".text\n"
    "hostile_ud2:\n\tud2\n"
    "hostile_iretq:\n\tiretq\n"
    "hostile_vmload:\n\tvmload %rax\n\tjmp hostile_vmload\n");

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
#endif
    report(false, "hostile form %d came back", HOSTILE);
    return report_summary();
}
