/* entry.S — guest runtime: the 256 exception entry stubs and their common
 * path to exc_dispatch, exc_catch (abandon a function on an exception), and
 * run_in_user (IRETQ to CPL3, back through the DPL3 USER_RETURN_VECTOR gate).
 */
#include "desc.h"

    .code64
    .text

/* Stub for one vector: push a zero error code where the CPU pushes none
 * (APM vol. 2 §8.2: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX push
 * one), push the vector, go to the common path. Its address goes to
 * exc_stub_table, in vector order. */
    .altmacro
.macro EXC_STUB v
    .balign 16
9:
    .if ((\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
    .else
    pushq $0
    .endif
    pushq $\v
    jmp exc_common
    .pushsection .rodata.exc_stub_table, "a"
    .quad 9b
    .popsection
.endm

    .pushsection .rodata.exc_stub_table, "a"
    .balign 8
    .globl exc_stub_table
exc_stub_table:
    .popsection

    .set vec, 0
    .rept 256
    EXC_STUB %vec
    .set vec, vec + 1
    .endr
    .noaltmacro

/* The CPU aligned RSP to 16 before pushing its 5-qword frame; with the
 * error code, the vector and 15 GPRs the call below is 16-byte aligned. */
exc_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq %rsp, %rdi
    cld
    call exc_dispatch
    popq %rax
    popq %rbx
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    addq $16, %rsp          /* vector, error code */
    iretq

/* int exc_catch(void (*fn)(void *), void *arg)
 * Context (on this stack, exc_catch_ctx points at it):
 *   prev exc_catch_ctx, saved user_saved_rsp, r15 r14 r13 r12 rbx rbp, ret */
    .globl exc_catch
exc_catch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq user_saved_rsp(%rip)
    pushq exc_catch_ctx(%rip)
    movq %rsp, exc_catch_ctx(%rip)
    subq $8, %rsp           /* 16-byte alignment for the call */
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    addq $8, %rsp
    movl $-1, %eax
    jmp 1f
/* exc_dispatch IRETQs here at CPL0 with RSP = the context, EAX = vector. */
    .globl exc_catch_resume
exc_catch_resume:
    movl $KERNEL_DS, %ecx
    movl %ecx, %ds
    movl %ecx, %es
1:
    popq exc_catch_ctx(%rip)
    popq user_saved_rsp(%rip)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

/* uint64_t run_in_user(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t extra_rflags) */
    .globl run_in_user
run_in_user:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushfq
    pushq user_saved_rsp(%rip)
    movq %rsp, user_saved_rsp(%rip)
    /* DS/ES with DPL3: IRETQ would otherwise null them (harmless in 64-bit
     * mode, but compatibility-mode code at CPL3 needs them). */
    movl $(USER_DS | 3), %eax
    movl %eax, %ds
    movl %eax, %es
    pushq $(USER_DS | 3)                        /* SS */
    leaq user_stack + USER_STACK_SIZE(%rip), %rax
    pushq %rax                                  /* RSP */
    orq $2, %rdx
    pushq %rdx                                  /* RFLAGS */
    pushq $(USER_CS | 3)                        /* CS */
    leaq user_trampoline(%rip), %rax
    pushq %rax                                  /* RIP */
    movq %rdi, %rax
    movq %rsi, %rdi
    iretq

/* CPL3. The stack top is 16-byte aligned, so fn is entered as the ABI wants. */
user_trampoline:
    call *%rax
    int $USER_RETURN_VECTOR
    ud2

/* The DPL3 gate for USER_RETURN_VECTOR. Outside run_in_user it behaves as
 * any other vector. SS is null after the privilege change; reload it. */
    .globl user_return_entry
user_return_entry:
    cmpq $0, user_saved_rsp(%rip)
    je 2f
    testb $3, 8(%rsp)       /* interrupted CS: only CPL3 may come back */
    jz 2f
    movl $KERNEL_DS, %ecx
    movl %ecx, %ss
    movl %ecx, %ds
    movl %ecx, %es
    movq user_saved_rsp(%rip), %rsp
    popq user_saved_rsp(%rip)
    popfq
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
2:
    jmp *exc_stub_table + 8 * USER_RETURN_VECTOR(%rip)

    .data
    .balign 8
    .globl exc_catch_ctx
exc_catch_ctx:
    .quad 0
user_saved_rsp:
    .quad 0

    .section .note.GNU-stack, "", @progbits
