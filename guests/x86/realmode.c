/* realmode.c — guest test: from 64-bit long mode down to real mode and back,
 * the sequence of kvm-unit-tests' svm mode_switch: compatibility mode,
 * CR0.PG, EFER.LME and CR4.PAE cleared (legacy 32-bit protected mode), 16-bit
 * protected mode, CR0.PE cleared and a 32-bit far jump to CS=0 at an EIP
 * above 64 KiB ("big real mode": CS and DS keep their cached 4 GiB limits),
 * then PE, PAE, LME and PG set again and a far jump back to 64-bit code
 * (APM vol. 2 §1.2, §14.4-14.7). Interrupts are off throughout. In legacy
 * protected mode a legacy IDT of 32-bit interrupt gates takes an INT 0x41
 * and a #GP with its error code (§8.7); elsewhere below long mode nothing
 * may fault, and the 64-bit IDT is loaded again in 64-bit mode.
 */
#include "libguest.h"

/* Runtime GDT slots this test fills (gdt_set): flat 16-bit code and data,
 * base 0, limit 4 GiB (G=1), D/B=0, DPL0. */
#define RM_CS16 0x50
#define RM_DS16 0x58
#define DESC_CODE16 0x008f9b000000ffffull
#define DESC_DATA16 0x008f93000000ffffull

#define RM_MARKER  0x5ea1f00du /* stored in real mode through DS=0 */
#define RM_MARKER2 0x0b16ba5eu /* stored in real mode through DS=0x1000 */
#define RM_DS_SEL2 0x1000      /* real-mode DS base 0x10000 */

/* Filled on the way down and back (offsets used in the asm below). */
struct rm_results {
    uint32_t trail;       /* 0x00: one hex digit per stage reached, in order */
    uint32_t efer_legacy; /* 0x04: EFER low half in legacy protected mode */
    uint32_t cr0_legacy;  /* 0x08: CR0 there */
    uint32_t cr0_real;    /* 0x0c: CR0 read in real mode */
    uint32_t cs_real;     /* 0x10: CS in real mode */
    uint32_t marker;      /* 0x14: RM_MARKER, stored through DS=0 */
    uint32_t marker2;     /* 0x18: RM_MARKER2, stored through DS=0x1000 */
    uint32_t ax_real;     /* 0x1c: EAX after a 16-bit MOV in real mode */
    uint32_t efer_compat; /* 0x20: EFER low half once PG is set again */
    uint32_t cs64;        /* 0x24: CS back in 64-bit mode */
    uint32_t legacy_ints; /* 0x28: handlers run through the legacy IDT */
    uint32_t gp_error;    /* 0x2c: the #GP's error code they saw */
};

struct rm_results rm_out __attribute__((aligned(8)));
uint64_t rm_saved_rsp;
struct descriptor_table_ptr rm_saved_idtr;
/* The legacy IDT stage 2 uses: 32-bit interrupt gates for #GP and 0x41. */
#define RM_VEC_INT 0x41
static uint64_t rm_legacy_idt[RM_VEC_INT + 1] __attribute__((aligned(8)));
struct __attribute__((packed)) {
    uint16_t limit;
    uint32_t base;
} rm_legacy_idtr;

/* Each stage appends its number: trail = trail << 4 | n. */
#define RM_TRAIL_DONE 0x1234567u

/* void rm_roundtrip(void): clobbers every register but RSP (the upper
 * halves and R8-R15 are undefined once 64-bit mode is left); RFLAGS.IF is
 * restored. Uses no stack below 64-bit mode. */
asm(".text\n"
    ".globl rm_roundtrip\n"
    "rm_roundtrip:\n\t"
    "pushfq\n\t"
    "cli\n\t"
    "movq %rsp, rm_saved_rsp(%rip)\n\t"
    "ljmpl *rm_far_compat(%rip)\n"

    /* 1: compatibility mode (CS = KERNEL_CS32, LMA still set) */
    ".code32\n"
    "rm_compat:\n\t"
    "movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $1, %eax\n\t"
    "movl %eax, rm_out\n\t"
    "movl %cr0, %eax\n\t"
    "andl $0x7fffffff, %eax\n\t"     /* PG off: leaves long mode */
    "movl %eax, %cr0\n\t"
    "movl $0xc0000080, %ecx\n\t"
    "rdmsr\n\t"
    "andl $~0x100, %eax\n\t"         /* LME off */
    "wrmsr\n\t"
    "movl %cr4, %eax\n\t"
    "andl $~0x20, %eax\n\t"          /* PAE off */
    "movl %eax, %cr4\n\t"
    /* 2: legacy 32-bit protected mode, paging off; events through a
     * legacy IDT: INT 0x41, and a #GP with its error code */
    "rdmsr\n\t"
    "movl %eax, rm_out+0x04\n\t"
    "movl %cr0, %eax\n\t"
    "movl %eax, rm_out+0x08\n\t"
    "movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $2, %eax\n\t"
    "movl %eax, rm_out\n\t"
    "lidt rm_legacy_idtr\n\t"
    "int $0x41\n\t"
    "movw $0x1230, %ax\n\t"
    "movw %ax, %fs\n\t"            /* beyond the GDT's limit: #GP(0x1230) */
    "movw $0x58, %ax\n\t"            /* RM_DS16 */
    "movw %ax, %ds\n\t"
    "movw %ax, %es\n\t"
    "ljmpl $0x50, $rm_pm16\n"        /* RM_CS16 */

    /* 3: 16-bit protected mode */
    ".code16\n"
    "rm_pm16:\n\t"
    "addr32 movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $3, %eax\n\t"
    "addr32 movl %eax, rm_out\n\t"
    "movl %cr0, %eax\n\t"
    "andl $~1, %eax\n\t"             /* PE off */
    "movl %eax, %cr0\n\t"
    "ljmpl $0, $rm_real\n"           /* CS = 0, EIP above 64 KiB */

    /* 4: real mode */
    "rm_real:\n\t"
    "xorw %ax, %ax\n\t"
    "movw %ax, %ds\n\t"              /* base 0, cached limit still 4 GiB */
    "movl %cr0, %eax\n\t"
    "addr32 movl %eax, rm_out+0x0c\n\t"
    "xorl %eax, %eax\n\t"
    "movw %cs, %ax\n\t"
    "addr32 movl %eax, rm_out+0x10\n\t"
    "movl $0x5ea1f00d, %eax\n\t"     /* RM_MARKER */
    "addr32 movl %eax, rm_out+0x14\n\t"
    "movl $0x12345678, %eax\n\t"
    "movw $0xbeef, %ax\n\t"          /* no prefix: a 16-bit MOV here */
    "addr32 movl %eax, rm_out+0x1c\n\t"
    "addr32 movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $4, %eax\n\t"
    "addr32 movl %eax, rm_out\n\t"
    "movw $0x1000, %ax\n\t"          /* RM_DS_SEL2: base 0x10000 */
    "movw %ax, %ds\n\t"
    "movl $0x0b16ba5e, %eax\n\t"     /* RM_MARKER2 */
    "addr32 movl %eax, rm_out+0x18-0x10000\n\t"
    "movl %cr0, %eax\n\t"
    "orl $1, %eax\n\t"               /* PE on */
    "movl %eax, %cr0\n\t"
    "ljmpl $0x30, $rm_pm32\n"        /* KERNEL_CS32 */

    /* 5: legacy 32-bit protected mode again */
    ".code32\n"
    "rm_pm32:\n\t"
    "movl $0x10, %eax\n\t"           /* KERNEL_DS: DS still holds 0x1000 */
    "movl %eax, %ds\n\t"
    "movl %eax, %es\n\t"
    "movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $5, %eax\n\t"
    "movl %eax, rm_out\n\t"
    "movl %cr4, %eax\n\t"
    "orl $0x20, %eax\n\t"            /* PAE on */
    "movl %eax, %cr4\n\t"
    "movl $0xc0000080, %ecx\n\t"
    "rdmsr\n\t"
    "orl $0x100, %eax\n\t"           /* LME on */
    "wrmsr\n\t"
    "movl %cr0, %eax\n\t"
    "orl $0x80000000, %eax\n\t"      /* PG on: LMA, compatibility mode */
    "movl %eax, %cr0\n\t"
    /* 6: compatibility mode */
    "rdmsr\n\t"
    "movl %eax, rm_out+0x20\n\t"
    "movl rm_out, %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $6, %eax\n\t"
    "movl %eax, rm_out\n\t"
    "ljmpl $0x08, $rm_lm64\n"        /* KERNEL_CS */

    /* 7: 64-bit mode */
    ".code64\n"
    "rm_lm64:\n\t"
    "movq rm_saved_rsp(%rip), %rsp\n\t"
    "lidt rm_saved_idtr(%rip)\n\t"
    "movl rm_out(%rip), %eax\n\t"
    "shll $4, %eax\n\t"
    "orl $7, %eax\n\t"
    "movl %eax, rm_out(%rip)\n\t"
    "movw %cs, %ax\n\t"
    "movzwl %ax, %eax\n\t"
    "movl %eax, rm_out+0x24(%rip)\n\t"
    "popfq\n\t"
    "ret\n"
    /* the legacy IDT's handlers (32-bit interrupt gates) */
    ".code32\n"
    "rm_gp32:\n\t"
    "popl rm_out+0x2c\n\t"         /* the error code */
    "addl $2, (%esp)\n\t"          /* past the faulting movw %ax, %fs */
    "rm_int41:\n\t"
    "incl rm_out+0x28\n\t"
    "iret\n"
    ".code64\n"
    ".section .rodata\n"
    ".balign 8\n"
    "rm_far_compat:\n\t"
    ".long rm_compat\n\t"
    ".word 0x30\n"                   /* KERNEL_CS32 */
    ".text\n");
void rm_roundtrip(void);
void rm_gp32(void);
void rm_int41(void);

/* A 32-bit interrupt gate (type E, DPL 0, present) to KERNEL_CS32:handler. */
static uint64_t gate32(void (*handler)(void))
{
    uint64_t off = (uint64_t)(uintptr_t)handler;
    return (off & 0xffff) | ((uint64_t)KERNEL_CS32 << 16) | (0x8eull << 40) |
           ((off >> 16) & 0xffff) << 48;
}

_Static_assert(KERNEL_CS == 0x08 && KERNEL_DS == 0x10 && KERNEL_CS32 == 0x30,
               "selectors hard-coded in the asm above");
_Static_assert(RM_CS16 == 0x50 && RM_DS16 == 0x58 && RM_CS16 >= GDT_FREE_SEL &&
                   (RM_DS16 >> 3) < GDT_ENTRIES,
               "16-bit selectors hard-coded in the asm above, in the free GDT slots");
_Static_assert(__builtin_offsetof(struct rm_results, cs64) == 0x24 &&
                   __builtin_offsetof(struct rm_results, gp_error) == 0x2c,
               "offsets used in the asm");

static void test_roundtrip(void)
{
    struct rm_results *r = &rm_out;
    uint64_t cr3 = read_cr3(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
    uint64_t rflags = read_rflags();
    volatile uint64_t canary = 0xc0ffee;

    memset(r, 0, sizeof(*r));
    sidt(&rm_saved_idtr);
    rm_legacy_idt[X86_VEC_GP] = gate32(rm_gp32);
    rm_legacy_idt[RM_VEC_INT] = gate32(rm_int41);
    rm_legacy_idtr.limit = sizeof(rm_legacy_idt) - 1;
    rm_legacy_idtr.base = (uint32_t)(uintptr_t)rm_legacy_idt;
    gdt_set(RM_CS16 >> 3, DESC_CODE16);
    gdt_set(RM_DS16 >> 3, DESC_DATA16);
    exc_clear();
    asm volatile("call rm_roundtrip"
                 :
                 :
                 : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
                   "r13", "r14", "r15", "memory", "cc");

    report(r->trail == RM_TRAIL_DONE,
           "every stage ran in order: compat, legacy 32, 16-bit PM, real, 32, compat, 64 (%#x)",
           r->trail);
    report(!(r->efer_legacy & (X86_EFER_LME | X86_EFER_LMA)) && !(r->cr0_legacy & X86_CR0_PG) &&
               (r->cr0_legacy & X86_CR0_PE),
           "legacy protected mode: EFER.LME/LMA clear, CR0.PG clear, PE set (EFER %#x, CR0 %#x)",
           r->efer_legacy, r->cr0_legacy);
    report(r->legacy_ints == 2 && r->gp_error == 0x1230,
           "legacy protected mode: INT 0x41 and #GP(0x1230) through 32-bit interrupt gates "
           "(%u handled, error %#x)", r->legacy_ints, r->gp_error);
    report(!(r->cr0_real & X86_CR0_PE) && !(r->cr0_real & X86_CR0_PG),
           "CR0 read in real mode has PE and PG clear (%#x)", r->cr0_real);
    report(r->cs_real == 0, "real mode after ljmpl $0: CS = 0 (%#x)", r->cs_real);
    report(r->marker == RM_MARKER,
           "real mode store through DS=0, 32-bit address above 1 MiB (%#x)", r->marker);
    report(r->marker2 == RM_MARKER2, "real mode DS=%#x has base %#x (%#x)", RM_DS_SEL2,
           RM_DS_SEL2 << 4, r->marker2);
    report(r->ax_real == 0x1234beef, "unprefixed MOV in real mode is 16-bit (EAX %#x)",
           r->ax_real);
    report((r->efer_compat & X86_EFER_LMA) && (r->efer_compat & X86_EFER_LME),
           "setting CR0.PG with LME and PAE activates long mode (EFER %#x)", r->efer_compat);
    report(r->cs64 == KERNEL_CS && read_cs() == KERNEL_CS, "back in 64-bit code (CS %#x)",
           r->cs64);
    report((rdmsr(MSR_EFER) & X86_EFER_LMA) && (read_cr0() & (X86_CR0_PG | X86_CR0_PE)) ==
                                                   (X86_CR0_PG | X86_CR0_PE),
           "EFER.LMA, CR0.PG and CR0.PE set after the round trip");
    report(read_cr3() == cr3 && read_cr4() == cr4 && rdmsr(MSR_EFER) == efer,
           "CR3, CR4 and EFER as before");
    report(canary == 0xc0ffee && (read_rflags() & X86_RFLAGS_IF) == (rflags & X86_RFLAGS_IF),
           "returned to the caller with its stack and RFLAGS.IF (%#llx)",
           (unsigned long long)(rflags & X86_RFLAGS_IF));
    report(exc_last.count == 0, "no exception on the way (%u)", exc_last.count);
    write_ds(KERNEL_DS);
    write_es(KERNEL_DS);
}

int main(void)
{
    run_test("roundtrip", test_roundtrip);
    return report_summary();
}
