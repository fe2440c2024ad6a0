/* report.c — guest runtime: kvm-unit-tests-style result lines, the summary
 * and the exit port.
 */
#include "libguest.h"

static unsigned tests, failures, skipped;

static void report_line(const char *tag, const char *fmt, va_list ap)
{
    char buf[256];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    printf("%s: %s\n", tag, buf);
}

void report(bool pass, const char *fmt, ...)
{
    va_list ap;

    tests++;
    if (!pass)
        failures++;
    va_start(ap, fmt);
    report_line(pass ? "PASS" : "FAIL", fmt, ap);
    va_end(ap);
}

void report_exc(int vector, uint64_t error_code, const char *fmt, ...)
{
    bool pass = exc_last.vector == vector && exc_last.error_code == error_code && exc_last.count == 1;
    char buf[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (pass)
        report(true, "%s", buf);
    else
        report(false, "%s (expected vector %d error code %#lx, got %d error code %#lx, %u exceptions)",
               buf, vector, error_code, exc_last.vector, exc_last.error_code, exc_last.count);
}

void report_pf(uint64_t error_code, const volatile void *addr, const char *fmt, ...)
{
    bool pass = exc_last.vector == X86_VEC_PF && exc_last.error_code == error_code &&
                exc_last.count == 1 && exc_last.cr2 == (uint64_t)addr;
    char buf[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (pass)
        report(true, "%s", buf);
    else
        report(false, "%s (expected #PF error code %#lx CR2 %p, got vector %d error code %#lx CR2 %#lx, "
               "%u exceptions)", buf, error_code, (void *)addr, exc_last.vector, exc_last.error_code,
               exc_last.cr2, exc_last.count);
}

void report_qemu_known(bool pass, bool qemu_result, const char *divergence, const char *fmt, ...)
{
    char buf[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!pass && qemu_result && booted_via_pvh)
        report_skip("%s (known QEMU TCG divergence: %s)", buf, divergence);
    else
        report(pass, "%s", buf);
}

static void run_test_call(void *fn)
{
    ((void (*)(void))fn)();
}

void run_test(const char *name, void (*fn)(void))
{
    int vec = exc_catch(run_test_call, (void *)fn);

    if (vec >= 0)
        report(false, "%s: unexpected exception %d at RIP %#lx, error code %#lx, CR2 %#lx; rest skipped",
               name, vec, exc_last.rip, exc_last.error_code, exc_last.cr2);
}

void report_skip(const char *fmt, ...)
{
    va_list ap;

    tests++;
    skipped++;
    va_start(ap, fmt);
    report_line("SKIP", fmt, ap);
    va_end(ap);
}

void report_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_line("INFO", fmt, ap);
    va_end(ap);
}

int report_summary(void)
{
    if (skipped)
        printf("SUMMARY: %u tests, %u unexpected failures, %u skipped\n", tests, failures, skipped);
    else
        printf("SUMMARY: %u tests, %u unexpected failures\n", tests, failures);
    guest_exit(failures ? 1 : 0);
}

void guest_exit(int value)
{
    outl(EXIT_PORT, (uint32_t)value);
    /* Only reached without an exit device: halt with interrupts off. */
    for (;;)
        asm volatile("cli; hlt");
}
