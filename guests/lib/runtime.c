/* runtime.c — guest runtime: setup run by crt0 before main (descriptor
 * tables, page tables) and small CPU queries.
 */
#include "libguest.h"

void runtime_init(void)
{
    desc_init();
    vm_init();
}

unsigned cpu_maxphyaddr(void)
{
    if (cpuid(0x80000000).a < 0x80000008)
        return 36;
    return cpuid(0x80000008).a & 0xff;
}
