/* compat.c — guest test: compatibility mode (long mode, CS.L=0, CS.D=1).
 * Enters 32-bit code segments by far return and indirect far jump, runs
 * 32-bit arithmetic, stack and one-byte INC there, takes an exception in
 * compatibility mode, and returns to 64-bit mode by direct far jump and far
 * return; the same at CPL3 (APM vol. 2 §1.2.2, §4.8.1, §8.9).
 */
#include "libguest.h"

/* Filled by the 32-bit code at CPL0 (offsets used in the asm below). */
struct compat_results {
    uint32_t add_result;  /* 0x00 */
    uint32_t add_carry;   /* 0x04 */
    uint32_t inc_result;  /* 0x08 */
    uint32_t push_delta;  /* 0x0c */
    uint32_t popped;      /* 0x10 */
    uint32_t popa_esi;    /* 0x14 */
    uint32_t mul_lo;      /* 0x18 */
    uint32_t mul_hi;      /* 0x1c */
    uint32_t efer_lo;     /* 0x20 */
    uint32_t cs;          /* 0x24 */
    uint32_t after_ud2;   /* 0x28 */
    uint32_t lea_wrap;    /* 0x2c */
    uint32_t second_path; /* 0x30 */
};

struct compat_results compat_out __attribute__((aligned(8)));
uint64_t compat_saved_rsp;

/* void compat_enter(void): 64-bit -> 32-bit by LRETQ; back by LJMP ptr16:32;
 * then 64-bit -> 32-bit by LJMPL m16:32; back by LRETL. Every register but
 * RSP is clobbered (R8-R15 and the upper halves are undefined after
 * compatibility mode), so the C caller saves them via the clobber list. */
asm(".text\n"
    ".globl compat_enter\n"
    "compat_enter:\n\t"
    "movq %rsp, compat_saved_rsp(%rip)\n\t"
    "pushq $0x30\n\t"                 /* KERNEL_CS32 */
    "pushq $compat_code\n\t"
    "lretq\n"
    ".code32\n"
    "compat_code:\n\t"
    "movl $compat_out, %edi\n\t"
    /* 32-bit add with carry out of bit 31 */
    "movl $0x90000000, %eax\n\t"
    "addl $0x90000000, %eax\n\t"
    "setc %cl\n\t"
    "movzbl %cl, %ecx\n\t"
    "movl %eax, 0x00(%edi)\n\t"
    "movl %ecx, 0x04(%edi)\n\t"
    /* 0x40 is INC EAX here, a REX prefix in 64-bit mode */
    "movl $41, %eax\n\t"
    ".byte 0x40\n\t"
    "movl %eax, 0x08(%edi)\n\t"
    /* PUSH/POP move ESP by 4 */
    "movl %esp, %ebx\n\t"
    "pushl $0xdeadbeef\n\t"
    "movl %esp, %ecx\n\t"
    "popl %edx\n\t"
    "subl %ecx, %ebx\n\t"
    "movl %ebx, 0x0c(%edi)\n\t"
    "movl %edx, 0x10(%edi)\n\t"
    /* PUSHA/POPA exist in compatibility mode */
    "movl $0x1234, %esi\n\t"
    "pushal\n\t"
    "xorl %esi, %esi\n\t"
    "popal\n\t"
    "movl %esi, 0x14(%edi)\n\t"
    /* 32x32 -> 64 MUL */
    "movl $0xffffffff, %eax\n\t"
    "movl $0xffffffff, %ecx\n\t"
    "mull %ecx\n\t"
    "movl %eax, 0x18(%edi)\n\t"
    "movl %edx, 0x1c(%edi)\n\t"
    /* still long mode: EFER.LMA */
    "movl $0xc0000080, %ecx\n\t"
    "rdmsr\n\t"
    "movl %eax, 0x20(%edi)\n\t"
    "movw %cs, %ax\n\t"
    "movzwl %ax, %eax\n\t"
    "movl %eax, 0x24(%edi)\n\t"
    /* an exception in compatibility mode; the IRETQ comes back here */
    "8881: ud2\n"
    "8882:\n\t"
    ".pushsection .extable, \"a\"\n\t"
    ".balign 8\n\t"
    ".quad 8881b, 8882b\n\t"
    ".popsection\n\t"
    "movl $compat_out, %edi\n\t"
    "movl $1, 0x28(%edi)\n\t"
    /* 32-bit address arithmetic wraps at 4 GiB */
    "movl $0xffffffff, %ebx\n\t"
    "leal 2(%ebx), %eax\n\t"
    "movl %eax, 0x2c(%edi)\n\t"
    "ljmp $0x08, $compat_back64\n"
    ".code64\n"
    "compat_back64:\n\t"
    "movq compat_saved_rsp(%rip), %rsp\n\t"
    /* second path: indirect far jump (m16:32) in, far return out */
    "ljmpl *compat_far_ptr(%rip)\n"
    ".code32\n"
    "compat_code2:\n\t"
    "movl $compat_out, %edi\n\t"
    "movl $0x5eb, 0x30(%edi)\n\t"
    "pushl $0x08\n\t"
    "pushl $compat_back64_2\n\t"
    "lretl\n"
    ".code64\n"
    "compat_back64_2:\n\t"
    "movq compat_saved_rsp(%rip), %rsp\n\t"
    "movl $0x10, %eax\n\t"
    "movl %eax, %ds\n\t"
    "movl %eax, %es\n\t"
    "ret\n"
    ".section .rodata\n"
    ".balign 8\n"
    "compat_far_ptr:\n\t"
    ".long compat_code2\n\t"
    ".word 0x30\n"
    ".text\n");
void compat_enter(void);

/* CPL3: far return from 64-bit user code into USER_CS32, compute there and
 * leave through INT USER_RETURN_VECTOR (a DPL3 gate) with the result in EAX. */
asm(".text\n"
    "user_compat:\n\t"
    "pushq $0x1b\n\t"                 /* USER_CS32 | 3 */
    "pushq $user_compat32\n\t"
    "lretq\n"
    ".code32\n"
    "user_compat32:\n\t"
    "movl $6, %eax\n\t"
    "imull $7, %eax, %eax\n\t"
    "pushl %eax\n\t"
    "popl %ebx\n\t"
    "8881: ud2\n"
    "8882:\n\t"
    ".pushsection .extable, \"a\"\n\t"
    ".balign 8\n\t"
    ".quad 8881b, 8882b\n\t"
    ".popsection\n\t"
    "leal 0x100(%ebx), %eax\n\t"
    "int $0x80\n"
    ".code64\n");
uint64_t user_compat(uint64_t);

_Static_assert(KERNEL_CS32 == 0x30 && KERNEL_CS == 0x08 && KERNEL_DS == 0x10 && USER_CS32 == 0x18 &&
                   USER_RETURN_VECTOR == 0x80,
               "selectors hard-coded in the asm above");

static void test_kernel_compat(void)
{
    struct compat_results *r = &compat_out;

    memset(r, 0, sizeof(*r));
    exc_clear();
    asm volatile("call compat_enter"
                 :
                 :
                 : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
                   "r13", "r14", "r15", "memory", "cc");
    report(r->cs == KERNEL_CS32, "far return into the 32-bit code segment (CS %#x)", r->cs);
    report(r->efer_lo & X86_EFER_LMA, "EFER.LMA stays set in compatibility mode");
    report(r->add_result == 0x20000000 && r->add_carry == 1,
           "32-bit add wraps and sets CF (%#x, CF %u)", r->add_result, r->add_carry);
    report(r->inc_result == 42, "opcode 0x40 is INC EAX (%u)", r->inc_result);
    report(r->push_delta == 4 && r->popped == 0xdeadbeef, "push/pop move ESP by 4 (%u)", r->push_delta);
    report(r->popa_esi == 0x1234, "pusha/popa restore ESI");
    report(r->mul_lo == 1 && r->mul_hi == 0xfffffffe, "mul 0xffffffff * 0xffffffff = %#x:%08x",
           r->mul_hi, r->mul_lo);
    report(r->lea_wrap == 1, "32-bit LEA wraps at 4 GiB (%#x)", r->lea_wrap);
    report(r->after_ud2 == 1 && exc_last.vector == X86_VEC_UD && exc_last.cs == KERNEL_CS32,
           "#UD in compatibility mode is delivered and IRETQ returns there (CS %#lx)", exc_last.cs);
    report(r->second_path == 0x5eb, "indirect far jmp m16:32 in, 32-bit far return out");
    report(read_cs() == KERNEL_CS && (read_cr0() & X86_CR0_PG), "back in 64-bit mode");
}

static void test_user_compat(void)
{
    uint64_t v;

    exc_clear();
    v = run_in_user(user_compat, 0, 0);
    report((uint32_t)v == 42 + 0x100, "CPL3 compatibility mode: computes and returns by INT (%#x)",
           (uint32_t)v);
    report(exc_last.vector == X86_VEC_UD && exc_last.cs == (USER_CS32 | 3),
           "#UD at CPL3 in compatibility mode (CS %#lx)", exc_last.cs);
}

int main(void)
{
    run_test("kernel_compat", test_kernel_compat);
    run_test("user_compat", test_user_compat);
    return report_summary();
}
