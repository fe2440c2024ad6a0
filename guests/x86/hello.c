/* hello.c — the demo guest: greets on COM1, checks that the runtime's
 * formatting works, and exits with value 0 (status 1).
 */
#include "libguest.h"

int main(void)
{
    char buf[64];

    printf("Hello from svmsim guest\n");

    snprintf(buf, sizeof(buf), "%d %u %#x %5s|%-3c|%08lx", -42, 42u, 0xbeef, "ab", 'z',
             0x1234abcdul);
    report(strcmp(buf, "-42 42 0xbeef    ab|z  |1234abcd") == 0, "printf formatting: \"%s\"", buf);
    report(read_cs() == KERNEL_CS && (read_cr0() & X86_CR0_PG) && (rdmsr(MSR_EFER) & X86_EFER_LMA),
           "running in 64-bit mode at CPL0");
    return report_summary();
}
