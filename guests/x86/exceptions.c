/* exceptions.c — guest test: exception delivery in long mode. Vectors, error
 * codes, saved RIP (faults vs traps), CR2, selector error codes, the IDT
 * gate checks of INT n, #DF on an IST stack (APM vol. 2 §8.2, §8.4, §8.9).
 */
#include "libguest.h"

#define NONCANONICAL 0x0000800000000000ull
#define TEST_VECTOR 0x40     /* an ordinary interrupt gate */
#define NP_VECTOR 0x41       /* its gate is made not present */
#define DPL0_VECTOR 0x42     /* DPL0 gate: INT n from CPL3 must #GP */

/* Selector error code for a gate: index << 3 | IDT (bit 1) | EXT (bit 0). */
#define IDT_ERR(v) (((v) << 3) | X86_ERR_IDT)

static bool exc_is(int vector, uint64_t error_code)
{
    return exc_last.vector == vector && exc_last.error_code == error_code && exc_last.count == 1;
}

/* The error code of a fault on an IDT gate holds the vector as the selector
 * index (bits 15:3), IDT = 1, also in long mode where gates are 16 bytes. */
static void report_idt_error_code(int vector)
{
    report_qemu_known(exc_last.error_code == IDT_ERR(vector),
                      exc_last.error_code == (uint64_t)(vector * 16 + 2),
                      "QEMU 7.2 reports vector * 16 + 2 in long mode",
                      "... error code %#x = vector << 3 | IDT (got %#lx)", IDT_ERR(vector),
                      exc_last.error_code);
}

static void test_ud(void)
{
    uint64_t at;

    exc_clear();
    asm volatile("leaq 1f(%%rip), %0\n\t" ASM_TRY("1: ud2") : "=r"(at) : : "memory");
    report(exc_vector() == X86_VEC_UD && exc_last.rip == at, "ud2: #UD with RIP at the ud2");

    /* Opcodes that are invalid in 64-bit mode (APM vol. 3 Table A-1 "i64"). */
    report(TRY_INSN(".byte 0xce") == X86_VEC_UD, "into in 64-bit mode: #UD");
    report(TRY_INSN(".byte 0x37") == X86_VEC_UD, "aaa in 64-bit mode: #UD");
    report(TRY_INSN(".byte 0x0e") == X86_VEC_UD, "push cs in 64-bit mode: #UD");
    report(TRY_INSN(".byte 0x60") == X86_VEC_UD, "pusha in 64-bit mode: #UD");
    /* LOCK on an instruction that cannot take it. */
    report(TRY_INSN(".byte 0xf0, 0x90") == X86_VEC_UD, "lock nop: #UD");
    /* Without CR4.OSFXSR, SSE instructions are #UD. */
    if (!(read_cr4() & X86_CR4_OSFXSR))
        report(TRY_INSN(".byte 0x0f, 0x57, 0xc0") == X86_VEC_UD,
               "xorps with CR4.OSFXSR=0: #UD");
}

/* A C handler edits the frame: IRETQ resumes at the new RIP with the GPRs
 * the handler left in it. */
static void skip_ud2_set_rax(struct ex_regs *regs)
{
    regs->rip += 2;
    regs->rax = 0x1234abcd;
    regs->r15 = regs->r15 * 2;
}

static void test_handler(void)
{
    uint64_t rax = 0, r15 = 21;

    handle_exception(X86_VEC_UD, skip_ud2_set_rax);
    exc_clear();
    asm volatile("movq %1, %%r15\n\t"
                 "ud2\n\t"
                 "movq %%r15, %1"
                 : "+a"(rax), "+r"(r15) : : "r15", "memory");
    handle_exception(X86_VEC_UD, NULL);
    report(exc_vector() == X86_VEC_UD && rax == 0x1234abcd && r15 == 42,
           "a handler's changes to RIP, RAX and R15 take effect on IRETQ");
}

static void test_bp(void)
{
    uint64_t after;

    exc_clear();
    asm volatile("leaq 1f(%%rip), %0\n\t" ASM_TRY("int3\n1:") : "=r"(after) : : "memory");
    report(exc_vector() == X86_VEC_BP && exc_last.rip == after && exc_last.error_code == 0,
           "int3: #BP trap, RIP after the int3 (%#lx)", exc_last.rip);

    exc_clear();
    asm volatile("leaq 1f(%%rip), %0\n\t" ASM_TRY(".byte 0xcd, 0x03\n1:") : "=r"(after) : : "memory");
    report(exc_vector() == X86_VEC_BP && exc_last.rip == after, "int $3: vector 3, RIP after it");

    exc_clear();
    asm volatile("leaq 1f(%%rip), %0\n\t" ASM_TRY("int %1\n1:")
                 : "=r"(after) : "i"(TEST_VECTOR) : "memory");
    report(exc_vector() == TEST_VECTOR && exc_last.rip == after, "int $0x%x: that vector, RIP after it",
           TEST_VECTOR);
}

static void test_de(void)
{
    uint64_t rax = 1234, rdx = 0, at;
    int64_t q;

    exc_clear();
    asm volatile("leaq 1f(%%rip), %2\n\t" ASM_TRY("1: divq %3")
                 : "+a"(rax), "+d"(rdx), "=&r"(at) : "r"(OPAQUE(0ull)) : "memory");
    report(exc_vector() == X86_VEC_DE && exc_last.rip == at && rax == 1234,
           "div by zero: #DE at the div, RAX unchanged");

    rax = 0x8000000000000000ull;
    rdx = ~0ull;
    exc_clear();
    asm volatile(ASM_TRY("idivq %2") : "+a"(rax), "+d"(rdx) : "r"(OPAQUE(-1ll)) : "memory");
    report(exc_vector() == X86_VEC_DE, "idiv INT64_MIN / -1: #DE (quotient overflow)");

    rax = 0x1000;
    exc_clear();
    asm volatile(ASM_TRY("divb %1") : "+a"(rax) : "q"(OPAQUE((uint8_t)0x10)) : "memory");
    report(exc_vector() == X86_VEC_DE, "divb 0x1000 / 0x10: #DE (quotient > 0xff)");

    rax = (uint64_t)-100;
    rdx = ~0ull;
    exc_clear();
    asm volatile(ASM_TRY("idivq %2") : "+a"(rax), "+d"(rdx) : "r"(OPAQUE(7ll)) : "memory");
    q = (int64_t)rax;
    report(exc_vector() == -1 && q == -14 && (int64_t)rdx == -2, "idiv -100 / 7 = -14 rem -2, no fault");
}

static void test_pf(void)
{
    char *page = alloc_page();
    volatile uint64_t *target = (volatile uint64_t *)(page + 0x128);
    uint64_t val = 0x5a5a;

    vm_set_pte_flags(page, 0, X86_PTE_P);

    exc_clear();
    asm volatile(ASM_TRY("movq (%1), %0") : "+r"(val) : "r"(target) : "memory");
    report(exc_is(X86_VEC_PF, 0) && exc_last.cr2 == (uint64_t)target && val == 0x5a5a,
           "read of a not-present page: #PF, error code 0, CR2 = address");

    exc_clear();
    asm volatile(ASM_TRY("movq %1, (%0)") : : "r"(target), "r"(val) : "memory");
    report(exc_is(X86_VEC_PF, X86_PF_W) && exc_last.cr2 == (uint64_t)target,
           "write to a not-present page: #PF, error code W (%#lx)", exc_last.error_code);

    vm_set_pte_flags(page, X86_PTE_P, X86_PTE_RW);
    exc_clear();
    asm volatile(ASM_TRY("movq %1, (%0)") : : "r"(target), "r"(val) : "memory");
    report(exc_is(X86_VEC_PF, X86_PF_P | X86_PF_W) && exc_last.cr2 == (uint64_t)target,
           "write to a read-only page (CR0.WP=1): #PF, error code P|W (%#lx)", exc_last.error_code);
    vm_set_pte_flags(page, X86_PTE_RW, 0);

    /* A page-crossing access faults on the second page with CR2 there. */
    {
        char *two = alloc_page();
        char *second = alloc_page();
        if (second == two + PAGE_SIZE) {
            vm_set_pte_flags(second, 0, X86_PTE_P);
            exc_clear();
            asm volatile(ASM_TRY("movq (%1), %0") : "=r"(val) : "r"(second - 4) : "memory");
            report(exc_is(X86_VEC_PF, 0) && exc_last.cr2 == (uint64_t)second,
                   "read crossing into a not-present page: CR2 = first byte of that page");
            vm_set_pte_flags(second, X86_PTE_P, 0);
        }
    }
}

/* Instruction fetch from a not-present page: the fault is at the target,
 * outside any ASM_TRY, so exc_catch abandons the call. */
static void call_page(void *target)
{
    ((void (*)(void))target)();
}

static void test_pf_fetch(void)
{
    unsigned char *code = alloc_page();
    int vec;

    code[0] = 0xc3; /* ret */
    vm_set_pte_flags(code, 0, X86_PTE_P);
    exc_clear();
    vec = exc_catch(call_page, code);
    report(vec == X86_VEC_PF && exc_last.rip == (uint64_t)code && exc_last.cr2 == (uint64_t)code &&
               exc_last.error_code == X86_PF_I,
           "fetch from a not-present page: #PF at the target, error code I (%#lx)",
           exc_last.error_code);
    vm_set_pte_flags(code, X86_PTE_P, 0);
    exc_clear();
    report(exc_catch(call_page, code) == -1 && exc_vector() == -1,
           "the same page once present runs");
}

/* CPL3 parts. Each returns something for the kernel to check. */
static volatile uint64_t *user_target;

static uint64_t user_read(uint64_t unused)
{
    uint64_t val = 0;

    asm volatile(ASM_TRY("movq (%1), %0") : "+r"(val) : "r"(user_target) : "memory");
    return val;
}

static uint64_t user_int_dpl0(uint64_t unused)
{
    asm volatile(ASM_TRY("int %0") : : "i"(DPL0_VECTOR) : "memory");
    return 0;
}

static uint64_t user_int_dpl3(uint64_t unused)
{
    asm volatile(ASM_TRY("int %0") : : "i"(TEST_VECTOR) : "memory");
    return 0;
}

static bool on_stack(uint64_t addr, const char *stack, size_t size)
{
    return addr >= (uint64_t)stack && addr < (uint64_t)stack + size;
}

static void test_user(void)
{
    volatile uint64_t *page = alloc_page();

    user_target = (volatile uint64_t *)((char *)page + 0x40);
    vm_set_pte_flags(page, 0, X86_PTE_US);
    exc_clear();
    run_in_user(user_read, 0, 0);
    report(exc_is(X86_VEC_PF, X86_PF_P | X86_PF_U) && exc_last.cr2 == (uint64_t)user_target &&
               (exc_last.cs & 3) == 3,
           "CPL3 read of a supervisor page: #PF, error code P|U (%#lx)", exc_last.error_code);
    report(on_stack(exc_last.frame, kernel_int_stack, sizeof(kernel_int_stack)),
           "exception from CPL3 delivered on the TSS.RSP0 stack");
    vm_set_pte_flags(page, X86_PTE_US, 0);

    idt_set_gate(DPL0_VECTOR, exc_stub(DPL0_VECTOR), 0, 0);
    exc_clear();
    run_in_user(user_int_dpl0, 0, 0);
    report(exc_last.vector == X86_VEC_GP && exc_last.count == 1,
           "int $0x%x from CPL3 through a DPL0 gate: #GP", DPL0_VECTOR);
    report_idt_error_code(DPL0_VECTOR);

    idt_set_gate(TEST_VECTOR, exc_stub(TEST_VECTOR), 3, 0);
    exc_clear();
    run_in_user(user_int_dpl3, 0, 0);
    report(exc_last.vector == TEST_VECTOR && (exc_last.cs & 3) == 3,
           "int $0x%x from CPL3 through a DPL3 gate: delivered", TEST_VECTOR);
    idt_set_gate(TEST_VECTOR, exc_stub(TEST_VECTOR), 0, 0);
}

static int try_load_ds(uint16_t sel)
{
    exc_clear();
    asm volatile(ASM_TRY("movw %0, %%ds") : : "r"(sel) : "memory");
    write_ds(KERNEL_DS);
    return exc_vector();
}

/* Loads DS with sel and reports whether it raised vector(error_code). */
static void check_load_ds(uint16_t sel, int vector, uint64_t error_code, const char *what)
{
    int got = try_load_ds(sel);

    if (vector < 0)
        report(got == -1, "mov ds, %s (%#x): allowed (got %d)", what, sel, got);
    else
        report(exc_is(vector, error_code), "mov ds, %s (%#x): vector %d error code %#lx (got %d, %#lx)",
               what, sel, vector, error_code, got, exc_last.error_code);
}

static void test_selectors(void)
{
    struct descriptor_table_ptr gdtr;
    uint16_t beyond;

    sgdt(&gdtr);
    beyond = (uint16_t)((gdtr.limit + 1) & ~7);
    check_load_ds(beyond, X86_VEC_GP, beyond, "selector beyond the GDT limit");
    check_load_ds(beyond | 3, X86_VEC_GP, beyond, "same with RPL3: the error code drops the RPL");
    check_load_ds(TSS_SEL, X86_VEC_GP, TSS_SEL, "TSS selector");
    check_load_ds(KERNEL_DS | 3, X86_VEC_GP, KERNEL_DS, "RPL3 selector of a DPL0 segment");
    asm volatile("lldt %w0" : : "r"(0) : "memory"); /* null LDTR: the LDT is unusable */
    check_load_ds(0x4, X86_VEC_GP, X86_ERR_TI, "LDT selector with a null LDTR");
    check_load_ds(NP_DS, X86_VEC_NP, NP_DS, "not-present segment");
    check_load_ds(USER_DS | 3, -1, 0, "DPL3 data segment at CPL0");
    check_load_ds(0, -1, 0, "null selector in 64-bit mode");

    exc_clear();
    asm volatile(ASM_TRY("movw %0, %%ss") : : "r"((uint16_t)(USER_DS | 3)) : "memory");
    write_ss(KERNEL_DS);
    report(exc_is(X86_VEC_GP, USER_DS), "mov ss, DPL3 segment at CPL0: #GP(%#x)", USER_DS);

    /* Far jump through memory (m16:32) to a data segment. */
    {
        static struct __attribute__((packed)) { uint32_t off; uint16_t sel; } target;
        target.off = 0;
        target.sel = KERNEL_DS;
        exc_clear();
        asm volatile(ASM_TRY("ljmpl *%0") : : "m"(target) : "memory");
        report(exc_is(X86_VEC_GP, KERNEL_DS), "far jmp to a data segment: #GP(%#x)", KERNEL_DS);
    }
}

static void test_gates(void)
{
    idt_set_present(NP_VECTOR, false);
    exc_clear();
    asm volatile(ASM_TRY("int %0") : : "i"(NP_VECTOR) : "memory");
    report(exc_last.vector == X86_VEC_NP && exc_last.count == 1,
           "int $0x%x through a not-present gate: #NP", NP_VECTOR);
    report_idt_error_code(NP_VECTOR);
    idt_set_present(NP_VECTOR, true);
}

static void test_noncanonical(void)
{
    uint64_t val = 0;

    exc_clear();
    asm volatile(ASM_TRY("movq (%1), %0") : "+r"(val) : "r"(NONCANONICAL) : "memory");
    report(exc_is(X86_VEC_GP, 0), "read at a non-canonical address: #GP(0)");

    /* A stack-segment reference (base RBP/RSP) at a non-canonical address
     * raises #SS(0), not #GP (APM vol. 2 §8.2.12). */
    exc_clear();
    asm volatile("pushq %%rbp\n\t"
                 "movq %1, %%rbp\n\t"
                 ASM_TRY("movq (%%rbp), %0")
                 "popq %%rbp"
                 : "+r"(val) : "r"(NONCANONICAL) : "memory");
    report_qemu_known(exc_is(X86_VEC_SS, 0), exc_last.vector == X86_VEC_GP, "it raises #GP(0)",
                      "non-canonical RBP-based read: #SS(0) (got %d)", exc_last.vector);
}

static void test_nm(void)
{
    uint64_t cr0 = read_cr0();

    write_cr0(cr0 | X86_CR0_TS | X86_CR0_MP);
    report(TRY_INSN("fwait") == X86_VEC_NM, "fwait with CR0.TS=1, MP=1: #NM");
    report(TRY_INSN("fnop") == X86_VEC_NM, "fnop with CR0.TS=1: #NM");
    write_cr0((cr0 & ~X86_CR0_TS) | X86_CR0_EM);
    report(TRY_INSN("fnop") == X86_VEC_NM, "fnop with CR0.EM=1: #NM");
    write_cr0(cr0 & ~(X86_CR0_TS | X86_CR0_EM));
    report(TRY_INSN("fnop") == -1, "fnop with CR0.TS=0, EM=0: no exception");
    write_cr0(cr0);
}

/* #DF, case 1: a #PF while delivering a #PF. The stack is made to point at a
 * not-present page: the PUSH faults, and delivering that #PF pushes to the
 * same stack. #DF uses IST1, so it has a good stack. */
static void *df_bad_stack;

static void push_on_bad_stack(void *unused)
{
    asm volatile("movq %0, %%rsp\n\t"
                 "pushq $0\n\t"
                 : : "r"(df_bad_stack) : "memory");
}

/* #DF, case 2: a #GP whose own gate is not present (#NP during #GP delivery,
 * both contributory). */
static void gp_without_gate(void *unused)
{
    asm volatile("movw %0, %%ds" : : "r"((uint16_t)0xfff8) : "memory");
}

static void test_df(void)
{
    char *page = alloc_page();
    int vec;

    df_bad_stack = page + PAGE_SIZE;
    vm_set_pte_flags(page, 0, X86_PTE_P);
    exc_clear();
    vec = exc_catch(push_on_bad_stack, NULL);
    report(vec == X86_VEC_DF && exc_is(X86_VEC_DF, 0),
           "#PF while delivering #PF: #DF, error code 0 (got %d, %#lx, %u exceptions)",
           exc_last.vector, exc_last.error_code, exc_last.count);
    report(on_stack(exc_last.frame, df_stack, sizeof(df_stack)), "#DF delivered on its IST stack");
    vm_set_pte_flags(page, X86_PTE_P, 0);

    idt_set_present(X86_VEC_GP, false);
    exc_clear();
    vec = exc_catch(gp_without_gate, NULL);
    report(vec == X86_VEC_DF && exc_is(X86_VEC_DF, 0),
           "#GP with a not-present #GP gate: #DF (got %d, %#lx)", exc_last.vector,
           exc_last.error_code);
    idt_set_present(X86_VEC_GP, true);
}

int main(void)
{
    run_test("ud", test_ud);
    run_test("handler", test_handler);
    run_test("bp", test_bp);
    run_test("de", test_de);
    run_test("pf", test_pf);
    run_test("pf_fetch", test_pf_fetch);
    run_test("user", test_user);
    run_test("selectors", test_selectors);
    run_test("gates", test_gates);
    run_test("noncanonical", test_noncanonical);
    run_test("nm", test_nm);
    run_test("df", test_df);
    return report_summary();
}
