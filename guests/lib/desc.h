/* desc.h — guest runtime: the GDT, IDT and TSS the runtime installs, the
 * exception frame, and the ways a test expects an exception:
 *   - ASM_TRY("insn"): an exception inside the bracketed instructions resumes
 *     right after them (exception table, like a kernel's __ex_table);
 *   - exc_catch(fn, arg): an exception anywhere inside fn (any CPL, any stack)
 *     abandons fn and makes exc_catch return the vector;
 *   - handle_exception(vec, handler): a C handler that may edit the frame.
 * Every exception is recorded in exc_last; one nobody expects prints the
 * vector, RIP and error code and ends the run with exit value 2.
 * Also: running a function at CPL3 (run_in_user) and the TSS I/O bitmap.
 */
#ifndef GUEST_DESC_H
#define GUEST_DESC_H

/* GDT layout. KERNEL_CS/KERNEL_DS equal the boot protocol's 0x08/0x10, and
 * USER_CS32/USER_DS/USER_CS follow the order SYSCALL/SYSRET require:
 * STAR[47:32] = KERNEL_CS (SS = +8), STAR[63:48] = USER_CS32 (SS = +8,
 * 64-bit CS = +16). */
#define KERNEL_CS    0x08 /* 64-bit code, DPL0 */
#define KERNEL_DS    0x10 /* data, DPL0, B=1 (usable as a 32-bit stack) */
#define USER_CS32    0x18 /* 32-bit code, DPL3 */
#define USER_DS      0x20 /* data, DPL3 */
#define USER_CS      0x28 /* 64-bit code, DPL3 */
#define KERNEL_CS32  0x30 /* 32-bit code, DPL0: compatibility mode */
#define TSS_SEL      0x38 /* 64-bit TSS, two slots */
#define NP_DS        0x48 /* data, DPL0, not present (for #NP tests) */
#define GDT_FREE_SEL 0x50 /* first of the slots tests may fill */
#define GDT_ENTRIES  16

/* IDT vectors the runtime reserves. */
#define USER_RETURN_VECTOR 0x80 /* DPL3 gate: run_in_user's way back */

/* Interrupt Stack Table slot used for #DF. */
#define DF_IST 1

#define KERNEL_INT_STACK_SIZE 16384 /* TSS.RSP0: exceptions from CPL3 */
#define DF_STACK_SIZE 8192          /* TSS.IST1: #DF */
#define USER_STACK_SIZE 16384       /* run_in_user */

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* Exception frame as built by the entry stubs (entry.S): GPRs pushed by the
 * stub, vector and error code (0 when the CPU pushes none), then the frame
 * the CPU pushed. Handlers may change any field; IRETQ uses them. */
struct ex_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* The most recent exception, whoever handled it. */
struct exc_info {
    int vector;          /* -1: none since exc_clear() */
    uint64_t error_code;
    uint64_t rip;        /* as pushed: faulting insn for faults, next for traps */
    uint64_t cs;
    uint64_t rsp;        /* interrupted RSP */
    uint64_t cr2;        /* CR2 read in the handler (meaningful for #PF) */
    uint64_t frame;      /* address of the frame: tells which stack was used */
    unsigned count;      /* exceptions since exc_clear() */
};
extern volatile struct exc_info exc_last;

static inline void exc_clear(void)
{
    exc_last.vector = -1;
    exc_last.error_code = 0;
    exc_last.rip = 0;
    exc_last.cr2 = 0;
    exc_last.count = 0;
}

static inline int exc_vector(void) { return exc_last.vector; }

/* ASM_TRY(insns): use as the template (or its start) of an asm statement.
 * If the bracketed instructions raise an exception, execution resumes after
 * them (the extable entry covers [start, end], so traps such as INT3 whose
 * saved RIP is the end also match). Registers the instructions had not yet
 * written keep their values. Add "memory" to the clobbers. */
#define ASM_TRY(insns)                                                          \
    "8881:\n\t" insns "\n8882:\n\t"                                             \
    ".pushsection .extable, \"a\"\n\t"                                          \
    ".balign 8\n\t"                                                             \
    ".quad 8881b, 8882b\n\t"                                                    \
    ".popsection\n\t"

/* Runs the single instruction `insn` (no operands from C) under ASM_TRY and
 * returns the vector it raised, or -1. */
#define TRY_INSN(insn)                                                          \
    ({                                                                          \
        exc_clear();                                                            \
        asm volatile(ASM_TRY(insn) : : : "memory");                             \
        exc_vector();                                                           \
    })

typedef void (*exc_handler_t)(struct ex_regs *regs);

/* Installs a handler for one vector (NULL removes it); returns the old one.
 * A handler runs before the exception table and exc_catch are consulted. */
exc_handler_t handle_exception(int vector, exc_handler_t handler);

/* Calls fn(arg). Returns -1 if it returned normally, or the vector of the
 * first exception raised inside it that no handler or ASM_TRY took: fn is
 * then abandoned, RSP and the callee-saved registers are restored, and
 * execution continues at CPL0 with DS/ES = KERNEL_DS. Nests. */
int exc_catch(void (*fn)(void *), void *arg);

/* Runs fn(arg) at CPL3 (CS = USER_CS, SS = DS = ES = USER_DS) on the user
 * stack with RFLAGS = 0x2 | extra_rflags (e.g. X86_RFLAGS_IOPL for IOPL 3),
 * and returns its result once it comes back through USER_RETURN_VECTOR.
 * An exception at CPL3 is delivered on the TSS RSP0 stack. */
uint64_t run_in_user(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t extra_rflags);

/* IDT gates. */
void idt_set_gate(int vector, void (*entry)(void), int dpl, int ist);
void idt_set_present(int vector, bool present);
void (*exc_stub(int vector))(void);  /* the runtime's entry stub for a vector */

/* GDT slots (index = selector >> 3). */
void gdt_set(int index, uint64_t descriptor);
uint64_t gdt_get(int index);

/* TSS: stacks and I/O permission bitmap (a set bit denies the port). */
struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t ist[8];     /* ist[1..7]; ist[0] is the reserved qword at 0x1c */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iopb_offset;
};
_Static_assert(sizeof(struct tss64) == 0x68, "64-bit TSS is 104 bytes");
_Static_assert(__builtin_offsetof(struct tss64, ist[1]) == 0x24, "IST1 at 0x24");
_Static_assert(__builtin_offsetof(struct tss64, iopb_offset) == 0x66, "I/O map base at 0x66");
extern struct tss64 *const tss;
#define TSS_IOPB_SIZE 8192
void tss_io_allow(uint16_t port, bool allow);
void tss_io_deny_all(void);
/* Moves the bitmap base (TSS+0x66); tss_iopb_default() is the usual one. */
void tss_set_iopb_offset(uint16_t offset);
uint16_t tss_iopb_default(void);

/* Stack ranges, for checks on which stack an exception used. */
extern char kernel_int_stack[KERNEL_INT_STACK_SIZE];
extern char df_stack[DF_STACK_SIZE];
extern char user_stack[USER_STACK_SIZE];

void desc_init(void);

#endif /* !__ASSEMBLER__ */

#endif
