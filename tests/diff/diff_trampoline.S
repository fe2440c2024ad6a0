/* diff_trampoline.S — owned by tests/diff: runs a generated sequence on the
 * host CPU with every GPR and the arithmetic flags taken from a struct
 * diff_cpu, and stores them back afterwards.
 *
 *   void diff_native_enter(struct diff_cpu *cpu, const void *code);
 *
 * The sequence ends with an absolute jump to diff_native_exit. From then on
 * every GPR belongs to the guest, so the trampoline keeps what it needs in
 * its own .bss slots (addressed RIP-relative) and switches to a private
 * stack before PUSHFQ: nothing below the guest's RSP is touched. Not
 * reentrant; the test is single-threaded. Plain assembly, so it is not
 * instrumented by the sanitizers.
 *
 * A fault inside the sequence never comes back here: the SIGFPE/SIGSEGV
 * handler in diff_native.c siglongjmps past this frame.
 */
    .intel_syntax noprefix
    .text

    .globl diff_native_enter
    .type diff_native_enter, @function
diff_native_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rip + saved_cpu], rdi
    mov [rip + saved_code], rsi
    mov [rip + saved_host_rsp], rsp
    /* RFLAGS first: POPFQ needs a stack and the MOVs below leave flags alone.
     * The caller merged the guest's arithmetic flags and DF into the host's
     * RFLAGS, so IF/TF/AC stay the host's. */
    push qword ptr [rdi + 128]
    popfq
    mov rax, [rdi + 0]
    mov rcx, [rdi + 8]
    mov rdx, [rdi + 16]
    mov rbx, [rdi + 24]
    mov rsp, [rdi + 32]
    mov rbp, [rdi + 40]
    mov rsi, [rdi + 48]
    mov r8, [rdi + 64]
    mov r9, [rdi + 72]
    mov r10, [rdi + 80]
    mov r11, [rdi + 88]
    mov r12, [rdi + 96]
    mov r13, [rdi + 104]
    mov r14, [rdi + 112]
    mov r15, [rdi + 120]
    mov rdi, [rdi + 56]
    jmp qword ptr [rip + saved_code]
    .size diff_native_enter, . - diff_native_enter

    .globl diff_native_exit
    .type diff_native_exit, @function
diff_native_exit:
    mov [rip + saved_guest_rsp], rsp
    lea rsp, [rip + private_stack_top]      /* LEA: flags untouched */
    pushfq
    push rdi
    mov rdi, [rip + saved_cpu]
    mov [rdi + 0], rax
    mov [rdi + 8], rcx
    mov [rdi + 16], rdx
    mov [rdi + 24], rbx
    mov [rdi + 40], rbp
    mov [rdi + 48], rsi
    mov [rdi + 64], r8
    mov [rdi + 72], r9
    mov [rdi + 80], r10
    mov [rdi + 88], r11
    mov [rdi + 96], r12
    mov [rdi + 104], r13
    mov [rdi + 112], r14
    mov [rdi + 120], r15
    pop qword ptr [rdi + 56]
    pop qword ptr [rdi + 128]
    mov rax, [rip + saved_guest_rsp]
    mov [rdi + 32], rax
    cld                                     /* the C ABI wants DF clear */
    mov rsp, [rip + saved_host_rsp]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    .size diff_native_exit, . - diff_native_exit

    .bss
    .balign 16
saved_cpu:       .quad 0
saved_code:      .quad 0
saved_host_rsp:  .quad 0
saved_guest_rsp: .quad 0
    .balign 16
private_stack:   .skip 256
private_stack_top:

    .section .note.GNU-stack, "", @progbits
