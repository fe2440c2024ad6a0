/* workload.c — the benchmark workloads of bench/run.sh, one per image
 * (WORKLOAD selects): 0 boots and exits (the baseline), 1 runs the
 * register loop `dec; jnz` NLOOP times (2 instructions per iteration),
 * 2 runs the memory loop `mov; add; mov; dec; jnz` NMEM times on a
 * variable alone on its page (5 instructions per iteration). The loops are
 * written in assembly so every peer runs exactly the same instructions as
 * ../shared/peers/kernel.asm does.
 */
#include "libguest.h"

static volatile uint64_t memvar[512] __attribute__((aligned(4096)));

int main(void)
{
#if WORKLOAD == 1
    uint64_t n = NLOOP;
    asm volatile(".p2align 4\n1:\n\tdec %0\n\tjnz 1b" : "+r"(n));
#elif WORKLOAD == 2
    uint64_t n = NMEM, tmp;
    asm volatile(".p2align 4\n1:\n\t"
                 "mov (%[p]), %[t]\n\t"
                 "add %[n], %[t]\n\t"
                 "mov %[t], (%[p])\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b"
                 : [n] "+r"(n), [t] "=&r"(tmp)
                 : [p] "r"(&memvar[0])
                 : "memory");
#endif
    return 0;
}
