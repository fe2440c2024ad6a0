/* libguest.h — guest runtime: what every guest program includes. Console
 * output (printf over COM1), kvm-unit-tests-style reporting, the exit port,
 * freestanding string functions, and the other runtime headers.
 */
#ifndef GUEST_LIBGUEST_H
#define GUEST_LIBGUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desc.h"
#include "processor.h"
#include "svm.h"
#include "vm.h"

#define COM1_PORT 0x3f8
#define COM1_LSR (COM1_PORT + 5)
#define COM1_LSR_THRE 0x20     /* transmitter holding register empty */
#define EXIT_PORT 0xf4

/* Set by the PVH entry (crt0.S): the image was started by a PVH loader such
 * as QEMU, not by svmsim's boot protocol. Tests use it only to skip checks
 * with a documented QEMU TCG divergence (tests/guest/README.md). */
extern int booted_via_pvh;
extern uint64_t pvh_start_info; /* EBX at pvh_entry (struct hvm_start_info), not parsed */

/* Console. */
void serial_putc(char c);
void puts(const char *s);                      /* no newline added */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Reporting: "PASS: msg" / "FAIL: msg" / "SKIP: msg" / "INFO: msg". */
void report(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* report() that exactly one exception, vector(error_code), happened since
 * exc_clear(); on failure the line says what was seen instead. */
void report_exc(int vector, uint64_t error_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* report_exc(#PF, error_code) that also checks CR2 == addr. */
void report_pf(uint64_t error_code, const volatile void *addr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like report(), but a failure that shows a known QEMU TCG divergence
 * (qemu_result is true and the image was started through PVH) is reported
 * as SKIP naming the divergence instead; tests/guest/README.md lists them. */
void report_qemu_known(bool pass, bool qemu_result, const char *divergence, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs fn(); an exception it raises that nothing expects (no handler, no
 * ASM_TRY) abandons it with a FAIL line naming the vector and RIP instead of
 * ending the run, so the next group still runs. */
void run_test(const char *name, void (*fn)(void));
/* Prints "SUMMARY: N tests, M unexpected failures[, K skipped]" and ends
 * the run with exit value 0 (no failure) or 1. */
__attribute__((noreturn)) int report_summary(void);

/* OUT of value to the exit port: the run ends with status (value << 1) | 1.
 * Value 2 is reserved for unexpected exceptions. */
__attribute__((noreturn)) void guest_exit(int value);

/* Freestanding libc subset (gcc may also emit calls to the mem* ones). */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* CPUID 0x80000008 EAX[7:0]. */
unsigned cpu_maxphyaddr(void);

void runtime_init(void);

#endif
