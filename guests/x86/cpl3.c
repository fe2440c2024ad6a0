/* cpl3.c — guest test: what CPL3 may and may not do. Port I/O through IOPL
 * and the TSS I/O permission bitmap, RDPMC/RDTSC with CR4.PCE/TSD,
 * privileged instructions, POPF and IOPL, SYSCALL/SYSRET, SWAPGS
 * (APM vol. 2 §4.9, §6.1-6.2, §13.3; vol. 3 SYSCALL, SYSRET, SWAPGS, RDPMC).
 */
#include "libguest.h"

/* A CPL3 function that runs `insn` under ASM_TRY. The instruction may use
 * RAX, RCX, RDX and R11 freely. */
#define USER_INSN(name, insn)                                                   \
    static uint64_t name(uint64_t arg)                                          \
    {                                                                           \
        asm volatile(ASM_TRY(insn) : : : "rax", "rcx", "rdx", "r11", "memory"); \
        return 0;                                                               \
    }

/* Runs fn at CPL3 with the given extra RFLAGS and reports whether it raised
 * vector (-1: none) with error code 0. */
static void check_user(uint64_t (*fn)(uint64_t), uint64_t rflags, int vector, const char *what)
{
    exc_clear();
    run_in_user(fn, 0, rflags);
    if (vector < 0)
        report(exc_last.vector == -1, "%s: allowed (got vector %d)", what, exc_last.vector);
    else
        report_exc(vector, 0, "%s: %s(0)", what, vector == X86_VEC_GP ? "#GP" : "#UD");
}

/* ---- Alignment checks (#AC) --------------------------------------------- */

/* Below the user stack pointer (16-byte aligned at entry): -12 is 4 bytes
 * off an 8-byte boundary, -6 2 bytes off a 4-byte one. */
USER_INSN(user_store8_misaligned, "movq %%rax, -12(%%rsp)")
USER_INSN(user_store8_aligned, "movq %%rax, -16(%%rsp)")
USER_INSN(user_load4_misaligned, "movl -6(%%rsp), %%eax")
USER_INSN(user_load1_any, "movb -7(%%rsp), %%al")

/* Runs fn at CPL3 with RFLAGS.AC as given: #AC(0), or nothing. */
static void check_ac(uint64_t (*fn)(uint64_t), bool ac, bool expect_ac, const char *what)
{
    exc_clear();
    run_in_user(fn, 0, ac ? X86_RFLAGS_AC : 0);
    if (expect_ac)
        report_qemu_known(exc_last.vector == X86_VEC_AC && exc_last.error_code == 0 &&
                              exc_last.count == 1,
                          exc_last.vector == -1, "QEMU TCG does not check alignment (#AC)",
                          "%s: #AC(0) (got vector %d)", what, exc_last.vector);
    else
        report(exc_last.vector == -1, "%s: allowed (got vector %d)", what, exc_last.vector);
}

static void test_alignment_check(void)
{
    uint64_t cr0 = read_cr0();
    write_cr0(cr0 | X86_CR0_AM);
    check_ac(user_store8_misaligned, true, true, "CR0.AM, RFLAGS.AC, CPL3: misaligned 8-byte store");
    check_ac(user_load4_misaligned, true, true, "CR0.AM, RFLAGS.AC, CPL3: misaligned 4-byte load");
    check_ac(user_store8_aligned, true, false, "CR0.AM, RFLAGS.AC, CPL3: aligned 8-byte store");
    check_ac(user_load1_any, true, false, "CR0.AM, RFLAGS.AC, CPL3: a byte is always aligned");
    check_ac(user_store8_misaligned, false, false, "CR0.AM, CPL3, RFLAGS.AC clear: misaligned store");
    /* At CPL0 nothing is checked. */
    static uint8_t buf[16] __attribute__((aligned(16)));
    exc_clear();
    write_rflags(read_rflags() | X86_RFLAGS_AC);
    asm volatile("movq %%rax, (%0)" : : "r"(buf + 4) : "memory");
    write_rflags(read_rflags() & ~X86_RFLAGS_AC);
    report(exc_last.vector == -1, "CR0.AM, RFLAGS.AC at CPL0: misaligned store allowed");
    write_cr0(cr0 & ~X86_CR0_AM);
    check_ac(user_store8_misaligned, true, false, "CR0.AM clear, RFLAGS.AC, CPL3: misaligned store");
    write_cr0(cr0);
}

/* ---- Port I/O ---------------------------------------------------------- */

USER_INSN(user_in_lsr, "movw $0x3fd, %%dx\n\tinb %%dx, %%al")
USER_INSN(user_in_word_3fc, "movw $0x3fc, %%dx\n\tinw %%dx, %%ax")
USER_INSN(user_cli, "cli")
USER_INSN(user_sti, "sti")

static uint64_t user_lsr_value(uint64_t unused)
{
    return inb(COM1_LSR);
}

/* Prints one line on COM1 from CPL3: IN polls LSR, OUTSB writes each byte
 * (INS/OUTS use the same permission check as IN/OUT). */
static uint64_t user_print(uint64_t msg)
{
    const char *s = (const char *)msg;

    while (*s) {
        uint64_t rsi = (uint64_t)s, rdx = COM1_PORT;
        while (!(inb(COM1_LSR) & COM1_LSR_THRE))
            ;
        asm volatile("outsb" : "+S"(rsi) : "d"(rdx) : "memory");
        s++;
    }
    return 0;
}

static void test_io(void)
{
    tss_io_deny_all();
    check_user(user_in_lsr, 0, X86_VEC_GP, "in 0x3fd at CPL3, IOPL 0, bitmap denies");

    tss_io_allow(COM1_LSR, true);
    check_user(user_in_lsr, 0, -1, "in 0x3fd at CPL3, bitmap allows");
    exc_clear();
    report((run_in_user(user_lsr_value, 0, 0) & COM1_LSR_THRE) && exc_vector() == -1,
           "... and reads the UART's LSR (THRE set)");

    /* Every byte of a multi-byte access must be allowed. */
    tss_io_deny_all();
    tss_io_allow(COM1_PORT + 4, true);
    check_user(user_in_word_3fc, 0, X86_VEC_GP, "inw 0x3fc with 0x3fc allowed but 0x3fd denied");

    /* A bitmap base beyond the TSS limit denies everything. */
    tss_io_allow(COM1_LSR, true);
    tss_set_iopb_offset(0xffff);
    check_user(user_in_lsr, 0, X86_VEC_GP, "in 0x3fd with the I/O map base beyond the TSS limit");
    tss_set_iopb_offset(tss_iopb_default());

    /* CPL <= IOPL: no bitmap check at all. */
    tss_io_deny_all();
    check_user(user_in_lsr, X86_RFLAGS_IOPL, -1, "in 0x3fd at CPL3 with IOPL 3, bitmap denies");

    tss_io_allow(COM1_PORT, true);
    tss_io_allow(COM1_LSR, true);
    exc_clear();
    run_in_user(user_print, (uint64_t)"INFO: this line was written at CPL3 with IN and OUTSB\n", 0);
    report(exc_vector() == -1, "CPL3 IN/OUTSB to COM1 allowed by the bitmap");
    tss_io_deny_all();

    check_user(user_cli, 0, X86_VEC_GP, "cli at CPL3, IOPL 0");
    check_user(user_sti, 0, X86_VEC_GP, "sti at CPL3, IOPL 0");
    check_user(user_cli, X86_RFLAGS_IOPL, -1, "cli at CPL3, IOPL 3");
}

/* POPF at CPL3 leaves IOPL alone (APM vol. 3 POPF). */
static uint64_t user_popf_iopl(uint64_t unused)
{
    uint64_t before = read_rflags();

    write_rflags(before | X86_RFLAGS_IOPL);
    return read_rflags();
}

static void test_popf(void)
{
    uint64_t fl;

    exc_clear();
    fl = run_in_user(user_popf_iopl, 0, 0);
    report(exc_vector() == -1 && (fl & X86_RFLAGS_IOPL) == 0,
           "popf at CPL3 cannot raise IOPL (rflags %#lx)", fl);
}

/* ---- Counters and time stamp ------------------------------------------- */

USER_INSN(user_rdpmc0, "xorl %%ecx, %%ecx\n\trdpmc")
USER_INSN(user_rdtsc, "rdtsc")

static void test_rdpmc_rdtsc(void)
{
    uint64_t cr4 = read_cr4();

    write_cr4(cr4 & ~X86_CR4_PCE);
    check_user(user_rdpmc0, 0, X86_VEC_GP, "rdpmc ECX=0 at CPL3, CR4.PCE=0");

    write_cr4(cr4 | X86_CR4_PCE);
    exc_clear();
    run_in_user(user_rdpmc0, 0, 0);
    report_qemu_known(exc_last.vector == -1, exc_last.vector == X86_VEC_UD,
                      "QEMU TCG does not implement RDPMC and raises #UD",
                      "rdpmc ECX=0 at CPL3, CR4.PCE=1: allowed (got vector %d)", exc_last.vector);
    write_cr4(cr4);

    exc_clear();
    asm volatile(ASM_TRY("xorl %%ecx, %%ecx\n\trdpmc") : : : "rax", "rcx", "rdx", "memory");
    report_qemu_known(exc_last.vector == -1, exc_last.vector == X86_VEC_UD,
                      "QEMU TCG does not implement RDPMC and raises #UD",
                      "rdpmc ECX=0 at CPL0, CR4.PCE=0: allowed (got vector %d)", exc_last.vector);

    exc_clear();
    asm volatile(ASM_TRY("movl $0x100, %%ecx\n\trdpmc") : : : "rax", "rcx", "rdx", "memory");
    report_qemu_known(exc_last.vector == X86_VEC_GP && exc_last.error_code == 0,
                      exc_last.vector == X86_VEC_UD, "QEMU TCG does not implement RDPMC and raises #UD",
                      "rdpmc ECX=0x100 (no such counter) at CPL0: #GP(0) (got vector %d)",
                      exc_last.vector);

    check_user(user_rdtsc, 0, -1, "rdtsc at CPL3, CR4.TSD=0");
    write_cr4(cr4 | X86_CR4_TSD);
    check_user(user_rdtsc, 0, X86_VEC_GP, "rdtsc at CPL3, CR4.TSD=1");
    write_cr4(cr4);
}

/* ---- Privileged instructions ------------------------------------------- */

USER_INSN(user_hlt, "hlt")
USER_INSN(user_mov_from_cr0, "movq %%cr0, %%rax")
USER_INSN(user_mov_from_cr3, "movq %%cr3, %%rax")
USER_INSN(user_rdmsr, "movl $0xc0000080, %%ecx\n\trdmsr")
USER_INSN(user_wrmsr, "movl $0xc0000102, %%ecx\n\txorl %%eax, %%eax\n\txorl %%edx, %%edx\n\twrmsr")
USER_INSN(user_invlpg, "invlpg (%%rsp)")
USER_INSN(user_lidt, "lidt (%%rsp)")
USER_INSN(user_ltr, "movw $0x38, %%ax\n\tltr %%ax")
USER_INSN(user_clts, "clts")
USER_INSN(user_wbinvd, "wbinvd")
USER_INSN(user_mov_dr7, "movq %%dr7, %%rax")
USER_INSN(user_swapgs, "swapgs")
USER_INSN(user_sysret, "sysretq")
USER_INSN(user_smsw, "smsw %%ax")
USER_INSN(user_sgdt, "subq $16, %%rsp\n\tsgdt (%%rsp)\n\taddq $16, %%rsp")

static void test_privileged(void)
{
    check_user(user_hlt, 0, X86_VEC_GP, "hlt at CPL3");
    check_user(user_mov_from_cr0, 0, X86_VEC_GP, "mov from cr0 at CPL3");
    check_user(user_mov_from_cr3, 0, X86_VEC_GP, "mov from cr3 at CPL3");
    check_user(user_rdmsr, 0, X86_VEC_GP, "rdmsr at CPL3");
    check_user(user_wrmsr, 0, X86_VEC_GP, "wrmsr at CPL3");
    check_user(user_invlpg, 0, X86_VEC_GP, "invlpg at CPL3");
    check_user(user_lidt, 0, X86_VEC_GP, "lidt at CPL3");
    check_user(user_ltr, 0, X86_VEC_GP, "ltr at CPL3");
    check_user(user_clts, 0, X86_VEC_GP, "clts at CPL3");
    check_user(user_wbinvd, 0, X86_VEC_GP, "wbinvd at CPL3");
    check_user(user_mov_dr7, 0, X86_VEC_GP, "mov from dr7 at CPL3");
    check_user(user_swapgs, 0, X86_VEC_GP, "swapgs at CPL3");
    if (!(read_cr4() & X86_CR4_UMIP)) {
        check_user(user_smsw, 0, -1, "smsw at CPL3 with CR4.UMIP=0");
        check_user(user_sgdt, 0, -1, "sgdt at CPL3 with CR4.UMIP=0");
    }
}

/* ---- SYSCALL / SYSRET / SWAPGS ------------------------------------------ */

/* Per-CPU area GS points at inside the kernel (after SWAPGS). */
struct percpu {
    uint64_t kernel_rsp;    /* 0x00 */
    uint64_t user_rsp;      /* 0x08 */
    uint64_t cs, ss;        /* 0x10, 0x18: selectors seen by the entry */
    uint64_t rflags;        /* 0x20: RFLAGS inside the entry (after SFMASK) */
    uint64_t rcx, r11;      /* 0x28, 0x30: what SYSCALL saved */
    uint64_t calls;         /* 0x38 */
};
static struct percpu percpu;
static char syscall_stack[4096] __attribute__((aligned(16)));
extern char syscall_entry[];

/* The "service": RAX = 3 * RAX + 1. Runs with no usable stack until it has
 * switched to percpu.kernel_rsp through GS. */
asm(".text\n"
    "syscall_entry:\n\t"
    "swapgs\n\t"
    "movq %rsp, %gs:0x08\n\t"
    "movq %gs:0x00, %rsp\n\t"
    "movq $0, %gs:0x10\n\t"
    "movw %cs, %gs:0x10\n\t"
    "movq $0, %gs:0x18\n\t"
    "movw %ss, %gs:0x18\n\t"
    "pushfq\n\t"
    "popq %gs:0x20\n\t"
    "movq %rcx, %gs:0x28\n\t"
    "movq %r11, %gs:0x30\n\t"
    "incq %gs:0x38\n\t"
    "leaq 1(%rax, %rax, 2), %rax\n\t"
    "movq %gs:0x08, %rsp\n\t"
    "swapgs\n\t"
    "sysretq\n");

struct user_view {
    uint64_t result, rflags_after, ret_rip_expected;
    uint16_t cs, ss;
};
static struct user_view uview;

/* CPL3: SYSCALL with DF set (SFMASK clears it in the kernel; SYSRET gives
 * it back through R11). */
static uint64_t user_syscall(uint64_t arg)
{
    uint64_t rax = arg, fl, ret_rip;

    asm volatile("leaq 1f(%%rip), %[ret]\n\t"
                 "std\n\t"
                 "syscall\n"
                 "1:\n\t"
                 "pushfq\n\t"
                 "popq %[fl]\n\t"
                 "cld\n\t"
                 : "+a"(rax), [fl] "=r"(fl), [ret] "=&r"(ret_rip)
                 :
                 : "rcx", "r11", "memory");
    uview.result = rax;
    uview.rflags_after = fl;
    uview.ret_rip_expected = ret_rip;
    uview.cs = read_cs();
    uview.ss = read_ss();
    return rax;
}

USER_INSN(user_syscall_insn, "syscall")

static void test_syscall(void)
{
    uint64_t efer = rdmsr(MSR_EFER);

    percpu.kernel_rsp = (uint64_t)syscall_stack + sizeof(syscall_stack);
    wrmsr(MSR_STAR, ((uint64_t)USER_CS32 << 48) | ((uint64_t)KERNEL_CS << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_SYSCALL_MASK, X86_RFLAGS_DF | X86_RFLAGS_TF | X86_RFLAGS_IF | X86_RFLAGS_AC);
    wrmsr(MSR_GS_BASE, 0);
    wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)&percpu);

    wrmsr(MSR_EFER, efer & ~X86_EFER_SCE);
    check_user(user_syscall_insn, 0, X86_VEC_UD, "syscall with EFER.SCE=0");
    exc_clear();
    asm volatile(ASM_TRY("sysretq") : : : "rcx", "r11", "memory");
    report_exc(X86_VEC_UD, 0, "sysret with EFER.SCE=0: #UD");

    check_user(user_sysret, 0, X86_VEC_UD, "sysret at CPL3 with EFER.SCE=0 (#UD before the CPL check)");

    wrmsr(MSR_EFER, efer | X86_EFER_SCE);
    check_user(user_sysret, 0, X86_VEC_GP, "sysret at CPL3 with EFER.SCE=1");
    exc_clear();
    run_in_user(user_syscall, 41, 0);
    report(exc_vector() == -1 && percpu.calls == 1 && uview.result == 124,
           "SYSCALL/SYSRET round trip from CPL3: 41 -> %lu", uview.result);
    report(percpu.cs == KERNEL_CS && percpu.ss == KERNEL_DS,
           "SYSCALL loads CS %#x, SS %#x from STAR[47:32] (got %#lx, %#lx)", KERNEL_CS, KERNEL_DS,
           percpu.cs, percpu.ss);
    report(percpu.rcx == uview.ret_rip_expected, "SYSCALL saves the next RIP in RCX");
    report((percpu.r11 & X86_RFLAGS_DF) && !(percpu.rflags & X86_RFLAGS_DF),
           "SYSCALL saves RFLAGS in R11 and clears the SFMASK bits (r11 %#lx, rflags %#lx)",
           percpu.r11, percpu.rflags);
    report(uview.cs == (USER_CS | 3) && uview.ss == (USER_DS | 3),
           "SYSRET returns to CS %#x, SS %#x from STAR[63:48] (got %#x, %#x)", USER_CS | 3,
           USER_DS | 3, uview.cs, uview.ss);
    report((uview.rflags_after & X86_RFLAGS_DF) != 0, "SYSRET restores RFLAGS from R11 (DF=1)");
    report(rdmsr(MSR_GS_BASE) == 0 && rdmsr(MSR_KERNEL_GS_BASE) == (uint64_t)&percpu,
           "the entry's two SWAPGS leave the GS bases as they were");
    wrmsr(MSR_EFER, efer);
}

static void test_swapgs(void)
{
    static uint64_t area_a[2] = { 0xaaaa, 0 }, area_b[2] = { 0xbbbb, 0 };
    uint64_t v;

    wrmsr(MSR_GS_BASE, (uint64_t)area_a);
    wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)area_b);
    asm volatile("movq %%gs:0, %0" : "=r"(v));
    report(v == 0xaaaa, "GS base from MSR_GS_BASE addresses %%gs:0");
    asm volatile("swapgs\n\tmovq %%gs:0, %0" : "=r"(v) : : "memory");
    report(v == 0xbbbb && rdmsr(MSR_GS_BASE) == (uint64_t)area_b &&
               rdmsr(MSR_KERNEL_GS_BASE) == (uint64_t)area_a,
           "swapgs exchanges GS base and KERNEL_GS_BASE");
    asm volatile("swapgs" : : : "memory");
    report(rdmsr(MSR_GS_BASE) == (uint64_t)area_a, "a second swapgs swaps back");

    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_GS_BASE), "a"(0), "d"(0x80000000u) : "memory");
    report_qemu_known(exc_last.vector == X86_VEC_GP && exc_last.error_code == 0, exc_last.vector == -1,
                      "QEMU TCG accepts a non-canonical GS base",
                      "wrmsr of a non-canonical GS base: #GP(0) (got vector %d)", exc_last.vector);
    wrmsr(MSR_GS_BASE, 0);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
}

int main(void)
{
    run_test("alignment_check", test_alignment_check);
    run_test("io", test_io);
    run_test("popf", test_popf);
    run_test("rdpmc_rdtsc", test_rdpmc_rdtsc);
    run_test("privileged", test_privileged);
    run_test("syscall", test_syscall);
    run_test("swapgs", test_swapgs);
    return report_summary();
}
