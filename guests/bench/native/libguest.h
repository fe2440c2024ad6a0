/* native/libguest.h — host stand-in for the guest runtime's libguest.h, so
 * that native.sh can build workload.c as a host program and let the host
 * CPU compute the RESULT values. Only what workloads 1, 2 and 8-11 use.
 */
#ifndef BENCH_NATIVE_LIBGUEST_H
#define BENCH_NATIVE_LIBGUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define guest_exit(v) exit(v)

/* codedata writes into its own text: make the program's text writable as
 * the guest runtime's page tables make the image's. */
extern char __executable_start[], etext[];
__attribute__((constructor)) static void native_writable_text(void)
{
    uintptr_t lo = (uintptr_t)__executable_start & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)etext + 4095) & ~(uintptr_t)4095;
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC)) {
        perror("native: mprotect");
        exit(70);
    }
}

#endif
