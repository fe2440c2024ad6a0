/* test_cpu_irq.c — the CPU's interrupt hardware (APM vol. 2 §15.21): the
 * physical INTR line (cpu_kick, the host timer of cpu_set_host_timer and
 * cpu_skip_time, exec_timed in src/cpu/cpu.c), the virtual interrupt of
 * int_ctl/int_vector (cpu_take_interrupt in src/cpu/exception.c, the
 * boundary check of cpu_exec in src/cpu/exec.c), V_TPR through MOV CR8
 * (src/cpu/ops_system.c) and a HLT that nothing intercepts (STEP_HALT,
 * CPU_RUN_HALTED), as src/cpu/cpu.h states them.
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (2 MiB of RAM mapped
 * 1:1 by a 2 MiB page, a GDT, an IDT with one interrupt gate at VIRQ_VECTOR,
 * one 64-bit ring-0 VMCB with CPUID and HLT intercepted) on a deterministic
 * CPU (cpu_host_tsc = insns * 4 + tsc_skip), and one test per behaviour.
 * Must not: use src/hv (the test is the host). Every expectation is an exact
 * guest-visible value or VMCB field.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *vmcb
#include "cpu_fixture.h"

/* ---- guest physical layout (linear == physical); below 0x80000 the GDT,
 * tables, IDT and stack of cpu_fixture.h */

#define RAM_SIZE (2ull << 20)
#define CODE_GPA 0x10000ull    /* where the guest starts */
#define HANDLER_GPA 0x12000ull /* the virtual interrupt's handler */

#define VIRQ_VECTOR 0x50
#define HANDLER_RBX 0x1234ull /* what the handler leaves in RBX */
#define HANDLER_HLT (HANDLER_GPA + 5) /* its intercepted HLT */

#define IF X86_RFLAGS_IF
#define FIXED X86_RFLAGS_FIXED
#define V_IRQ SVM_INT_CTL_V_IRQ
#define V_IGN_TPR SVM_INT_CTL_V_IGN_TPR
#define V_INTR_MASKING SVM_INT_CTL_V_INTR_MASKING
#define V_INTR_PRIO(p) ((uint32_t)(p) << SVM_INT_CTL_V_INTR_PRIO_SHIFT)

/* Instruction bytes. */
#define NOP 0x90
#define STI 0xfb
#define HLT 0xf4
#define CPUID 0x0f, 0xa2
#define INC_RAX 0x48, 0xff, 0xc0          /* 3 bytes */
#define XOR_EAX_EAX 0x31, 0xc0
#define MOV_EAX(imm) 0xb8, LE32(imm)      /* 5 bytes */
#define MOV_EBX(imm) 0xbb, LE32(imm)      /* 5 bytes */
#define MOV_CR8_RAX 0x44, 0x0f, 0x22, 0xc0 /* 4 bytes */
#define MOV_RBX_CR8 0x44, 0x0f, 0x20, 0xc3 /* 4 bytes */

/* The CPU of cpu_fixture.h, with the deterministic clock. */
static const struct cpu_model irq_model = {
    .maxphyaddr = 48, .nrips = true, .rax_erratum = true,
    .reserved_start = 0x300000ull, .reserved_end = 0x30ffffull,
    .deterministic = true,
};

/* The rig: RIP at CODE_GPA, RAX 0, RBX POISON, RFLAGS with IF clear, CPUID
 * and HLT intercepted, the gate of VIRQ_VECTOR to the handler
 *   00 mov ebx, HANDLER_RBX
 *   05 hlt                       ; intercepted */
static void rig_setup(void)
{
    rig_init(RAM_SIZE, &irq_model);
    write_gdt();
    write_identity_tables(RAM_SIZE);
    write_idt_gate(VIRQ_VECTOR, HANDLER_GPA, true);
    GUEST_CODE(HANDLER_GPA, MOV_EBX(HANDLER_RBX), HLT);
    rig.vmcb = alloc_vmcb(1, PML4_GPA);
    rig.vmcb->save.rip = CODE_GPA;
    rig.vmcb->save.rax = 0;
    rig.vmcb->control.int_vector = VIRQ_VECTOR;
    set_intercept(rig.vmcb, SVM_EXIT_CPUID);
    set_intercept(rig.vmcb, SVM_EXIT_HLT);
    rig.cpu.gpr[3] = POISON;
}

static void rig_teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_irq, .init = rig_setup, .fini = rig_teardown);

static void intercept(uint64_t exit_code)
{
    set_intercept(rig.vmcb, exit_code);
}

static void no_intercept(uint64_t exit_code)
{
    int bit = svm_exit_intercept_bit(exit_code);
    cr_assert_geq(bit, 0);
    rig.vmcb->control.intercepts[bit / 32] &= ~(1u << (bit % 32));
}

static void set_rflags(uint64_t rflags)
{
    rig.vmcb->save.rflags = rflags;
}

static void set_int_ctl(uint32_t int_ctl)
{
    rig.vmcb->control.int_ctl = int_ctl;
}

static const struct vmcb_control_area *ctl(void)
{
    return &rig.vmcb->control;
}

static const struct vmcb_save_area *save(void)
{
    return &rig.vmcb->save;
}

static enum cpu_run_result run(void)
{
    uint64_t budget = 10000;
    return cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget);
}

/* Runs to the #VMEXIT the test expects. */
static void run_to(uint64_t exit_code)
{
    cr_assert_eq(run(), CPU_RUN_VMEXIT, "no #VMEXIT");
    cr_assert_eq(ctl()->exit_code, exit_code, "exit 0x%llx, expected 0x%llx",
                 (unsigned long long)ctl()->exit_code, (unsigned long long)exit_code);
}

/* An exit at an instruction boundary: no EXITINFO, no NRIP, no event. */
static void expect_boundary_exit(uint64_t exit_code, uint64_t rip)
{
    cr_expect_eq(ctl()->exit_code, exit_code);
    cr_expect_eq(save()->rip, rip, "RIP 0x%llx, expected 0x%llx", (unsigned long long)save()->rip,
                 (unsigned long long)rip);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->next_rip, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
}

/* The virtual interrupt was taken at return_rip with RFLAGS rflags: the
 * handler ran to its HLT with IF clear, the 64-bit frame on the stack,
 * V_IRQ clear in the VMCB. */
static void expect_virq_taken(uint64_t return_rip, uint64_t rflags)
{
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, HANDLER_HLT);
    cr_expect_eq(rig.cpu.gpr[3], HANDLER_RBX, "the handler did not run");
    cr_expect_eq(save()->rflags & IF, 0, "IF set in the handler");
    cr_expect_eq(ctl()->int_ctl & V_IRQ, 0, "V_IRQ still set");
    cr_expect_eq(save()->rsp, STACK_TOP - 40);
    uint64_t frame = STACK_TOP - 40;
    cr_expect_eq(phys_read_u64(frame), return_rip, "frame RIP 0x%llx, expected 0x%llx",
                 (unsigned long long)phys_read_u64(frame), (unsigned long long)return_rip);
    cr_expect_eq(phys_read_u64(frame + 8), CODE64_SEL);
    cr_expect_eq(phys_read_u64(frame + 16), rflags, "frame RFLAGS 0x%llx",
                 (unsigned long long)phys_read_u64(frame + 16));
    cr_expect_eq(phys_read_u64(frame + 24), STACK_TOP);
    cr_expect_eq(phys_read_u64(frame + 32), DATA_SEL);
}

/* The virtual interrupt was not taken: the guest reached its CPUID at rip,
 * V_IRQ still pending, nothing pushed. */
static void expect_virq_pending_at_cpuid(uint64_t rip)
{
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CPUID);
    cr_expect_eq(save()->rip, rip);
    cr_expect_eq(rig.cpu.gpr[3], POISON, "the handler ran");
    cr_expect_eq(save()->rsp, STACK_TOP);
    cr_expect_neq(ctl()->int_ctl & V_IRQ, 0, "V_IRQ cleared");
}

/* ---- the physical INTR line: cpu_kick */

/* nop; nop; cpuid */
#define NOPS_CPUID_RIP (CODE_GPA + 2)

Test(cpu_irq, a_kick_before_vmrun_exits_intr_before_the_first_instruction)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED | IF);
    cpu_kick(&rig.cpu);
    uint64_t insns = rig.cpu.insns;
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA);
    cr_expect_eq(rig.cpu.insns, insns, "an instruction retired");
    cr_expect(rig.cpu.intr_line, "the CPU lowered the line: that is the host's");
}

Test(cpu_irq, a_kick_waits_for_if_without_v_intr_masking)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED);
    cpu_kick(&rig.cpu);
    uint64_t insns = rig.cpu.insns;
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(save()->rip, NOPS_CPUID_RIP);
    cr_expect_eq(rig.cpu.insns, insns + 2);
}

Test(cpu_irq, a_kick_is_taken_with_if_clear_under_v_intr_masking)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED);
    set_int_ctl(V_INTR_MASKING);
    cpu_kick(&rig.cpu);
    uint64_t insns = rig.cpu.insns;
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA);
    cr_expect_eq(rig.cpu.insns, insns);
    cr_expect_eq(save()->rflags & IF, 0);
}

/* sti; nop; cpuid: the line that waited for IF waits one more instruction
 * in STI's shadow (APM vol. 2 §15.21.3: not in an interrupt shadow). */
Test(cpu_irq, a_kick_waiting_for_if_is_taken_after_the_sti_shadow)
{
    GUEST_CODE(CODE_GPA, STI, NOP, CPUID);
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED);
    cpu_kick(&rig.cpu);
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA + 2);
    cr_expect_eq(save()->rflags & IF, IF);
    cr_expect_eq(ctl()->int_state, 0, "exited in the shadow");
}

/* ---- the host timer, on the deterministic clock (4 ticks an instruction) */

/* 64 x inc rax; cpuid */
#define INC_RUN 64

static void write_inc_run(void)
{
    static const uint8_t inc[] = { INC_RAX };
    for (unsigned i = 0; i < INC_RUN; i++)
        phys_write(CODE_GPA + i * sizeof(inc), inc, sizeof(inc));
    GUEST_CODE(CODE_GPA + INC_RUN * sizeof(inc), CPUID);
}

Test(cpu_irq, skipped_time_moves_the_host_tsc)
{
    uint64_t before = cpu_host_tsc(&rig.cpu);
    cpu_skip_time(&rig.cpu, 1000);
    cr_expect_eq(cpu_host_tsc(&rig.cpu), before + 1000);
}

Test(cpu_irq, the_host_tsc_counts_four_ticks_an_instruction)
{
    write_inc_run();
    uint64_t before = cpu_host_tsc(&rig.cpu);
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(cpu_host_tsc(&rig.cpu), before + 4 * INC_RUN);
}

/* Due 40 ticks from now: 10 instructions, then the line is up at the 11th. */
Test(cpu_irq, a_host_timer_40_ticks_away_exits_intr_after_10_instructions)
{
    write_inc_run();
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED | IF);
    uint64_t insns = rig.cpu.insns;
    cpu_set_host_timer(&rig.cpu, cpu_host_tsc(&rig.cpu) + 40);
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA + 10 * 3);
    cr_expect_eq(save()->rax, 10);
    cr_expect_eq(rig.cpu.insns, insns + 10);
    cr_expect_eq(rig.cpu.host_timer, 0, "the timer is still armed");
    cr_expect(rig.cpu.intr_line);
}

/* Already due at entry (a timer faster than the host runs the guest): one
 * instruction runs before the line rises, so the guest goes on. */
Test(cpu_irq, a_host_timer_due_at_entry_lets_one_instruction_run)
{
    write_inc_run();
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED | IF);
    cpu_skip_time(&rig.cpu, 100);
    uint64_t insns = rig.cpu.insns;
    cpu_set_host_timer(&rig.cpu, cpu_host_tsc(&rig.cpu));
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA + 3);
    cr_expect_eq(save()->rax, 1);
    cr_expect_eq(rig.cpu.insns, insns + 1);
    cr_expect_eq(rig.cpu.host_timer, 0);
}

/* A timer set 40 ticks away, then 100 ticks skipped: due at entry. */
Test(cpu_irq, a_host_timer_passed_by_skipped_time_is_due_at_entry)
{
    write_inc_run();
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED | IF);
    cpu_set_host_timer(&rig.cpu, cpu_host_tsc(&rig.cpu) + 40);
    cpu_skip_time(&rig.cpu, 100);
    run_to(SVM_EXIT_INTR);
    expect_boundary_exit(SVM_EXIT_INTR, CODE_GPA + 3);
    cr_expect_eq(save()->rax, 1);
}

Test(cpu_irq, a_host_timer_beyond_the_guests_exit_stays_armed)
{
    write_inc_run();
    intercept(SVM_EXIT_INTR);
    set_rflags(FIXED | IF);
    uint64_t due = cpu_host_tsc(&rig.cpu) + 4 * INC_RUN + 400;
    cpu_set_host_timer(&rig.cpu, due);
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(save()->rax, INC_RUN);
    cr_expect_eq(rig.cpu.host_timer, due);
    cr_expect_not(rig.cpu.intr_line);
}

/* ---- the virtual interrupt (V_IRQ) */

Test(cpu_irq, v_irq_with_if_set_is_taken_through_the_idt_at_int_vector)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    set_rflags(FIXED | IF);
    set_int_ctl(V_IRQ | V_IGN_TPR);
    run_to(SVM_EXIT_HLT);
    expect_virq_taken(CODE_GPA, FIXED | IF);
    cr_expect_eq(ctl()->int_ctl, V_IGN_TPR, "int_ctl 0x%x", ctl()->int_ctl);
}

Test(cpu_irq, v_irq_with_if_clear_is_not_taken)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    set_rflags(FIXED);
    set_int_ctl(V_IRQ | V_IGN_TPR);
    run_to(SVM_EXIT_CPUID);
    expect_virq_pending_at_cpuid(NOPS_CPUID_RIP);
    cr_expect_eq(ctl()->int_ctl, V_IRQ | V_IGN_TPR);
}

/* sti; nop; nop; cpuid: taken after the nop in STI's shadow. */
Test(cpu_irq, v_irq_under_an_sti_shadow_is_taken_after_the_next_instruction)
{
    GUEST_CODE(CODE_GPA, STI, NOP, NOP, CPUID);
    set_rflags(FIXED);
    set_int_ctl(V_IRQ | V_IGN_TPR);
    run_to(SVM_EXIT_HLT);
    expect_virq_taken(CODE_GPA + 2, FIXED | IF);
}

Test(cpu_irq, v_irq_whose_priority_is_not_above_v_tpr_is_not_taken)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    set_rflags(FIXED | IF);
    set_int_ctl(V_IRQ | V_INTR_PRIO(3) | 3);
    run_to(SVM_EXIT_CPUID);
    expect_virq_pending_at_cpuid(NOPS_CPUID_RIP);
    cr_expect_eq(ctl()->int_ctl, V_IRQ | V_INTR_PRIO(3) | 3);
}

Test(cpu_irq, v_irq_whose_priority_is_above_v_tpr_is_taken)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    set_rflags(FIXED | IF);
    set_int_ctl(V_IRQ | V_INTR_PRIO(4) | 3);
    run_to(SVM_EXIT_HLT);
    expect_virq_taken(CODE_GPA, FIXED | IF);
    cr_expect_eq(ctl()->int_ctl, V_INTR_PRIO(4) | 3);
}

/* ---- VINTR intercepted */

Test(cpu_irq, v_irq_with_vintr_intercepted_exits_vintr_and_stays_pending)
{
    GUEST_CODE(CODE_GPA, NOP, NOP, CPUID);
    intercept(SVM_EXIT_VINTR);
    set_rflags(FIXED | IF);
    set_int_ctl(V_IRQ | V_IGN_TPR);
    uint64_t insns = rig.cpu.insns;
    run_to(SVM_EXIT_VINTR);
    expect_boundary_exit(SVM_EXIT_VINTR, CODE_GPA);
    cr_expect_eq(ctl()->int_ctl, V_IRQ | V_IGN_TPR, "int_ctl 0x%x", ctl()->int_ctl);
    cr_expect_eq(save()->rsp, STACK_TOP, "a frame was pushed");
    cr_expect_eq(save()->rflags, FIXED | IF);
    cr_expect_eq(rig.cpu.gpr[3], POISON, "the handler ran");
    cr_expect_eq(rig.cpu.insns, insns);
}

/* sti; nop; nop; cpuid: the VINTR exit comes where the interrupt would be
 * taken, after the shadow. */
Test(cpu_irq, vintr_exits_where_the_interrupt_would_be_taken)
{
    GUEST_CODE(CODE_GPA, STI, NOP, NOP, CPUID);
    intercept(SVM_EXIT_VINTR);
    set_rflags(FIXED);
    set_int_ctl(V_IRQ | V_IGN_TPR);
    run_to(SVM_EXIT_VINTR);
    expect_boundary_exit(SVM_EXIT_VINTR, CODE_GPA + 2);
    cr_expect_neq(ctl()->int_ctl & V_IRQ, 0);
    cr_expect_eq(save()->rsp, STACK_TOP);
}

/* ---- V_TPR and MOV CR8 */

/* mov eax, 5; mov cr8, rax; mov rbx, cr8; cpuid */
#define CR8_CPUID_RIP (CODE_GPA + 13)

static void write_cr8_round_trip(void)
{
    GUEST_CODE(CODE_GPA, MOV_EAX(5), MOV_CR8_RAX, MOV_RBX_CR8, CPUID);
}

Test(cpu_irq, mov_cr8_under_v_intr_masking_writes_and_reads_v_tpr)
{
    write_cr8_round_trip();
    set_int_ctl(V_INTR_MASKING | 9);
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(save()->rip, CR8_CPUID_RIP);
    cr_expect_eq(ctl()->int_ctl, V_INTR_MASKING | 5, "int_ctl 0x%x", ctl()->int_ctl);
    cr_expect_eq(rig.cpu.gpr[3], 5);
    cr_expect_eq(rig.cpu.cr8, 0, "the host's CR8 was written");
}

/* mov rbx, cr8; cpuid */
Test(cpu_irq, mov_from_cr8_under_v_intr_masking_reads_the_hosts_v_tpr)
{
    GUEST_CODE(CODE_GPA, MOV_RBX_CR8, CPUID);
    set_int_ctl(V_INTR_MASKING | 9);
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(rig.cpu.gpr[3], 9);
    cr_expect_eq(ctl()->int_ctl, V_INTR_MASKING | 9);
}

Test(cpu_irq, mov_cr8_without_v_intr_masking_leaves_v_tpr_alone)
{
    write_cr8_round_trip();
    set_int_ctl(7);
    run_to(SVM_EXIT_CPUID);
    cr_expect_eq(save()->rip, CR8_CPUID_RIP);
    cr_expect_eq(rig.cpu.cr8, 5);
    cr_expect_eq(rig.cpu.gpr[3], 5);
    cr_expect_eq(ctl()->int_ctl, 7, "int_ctl 0x%x", ctl()->int_ctl);
}

/* xor eax, eax; mov cr8, rax; nop; cpuid: V_TPR 15 holds a priority-4
 * V_IRQ until MOV CR8 lowers it; taken at the boundary after it. */
Test(cpu_irq, lowering_v_tpr_by_mov_cr8_lets_v_irq_in_at_the_next_boundary)
{
    GUEST_CODE(CODE_GPA, XOR_EAX_EAX, MOV_CR8_RAX, NOP, CPUID);
    set_rflags(FIXED | IF);
    set_int_ctl(V_INTR_MASKING | V_IRQ | V_INTR_PRIO(4) | 15);
    run_to(SVM_EXIT_HLT);
    expect_virq_taken(CODE_GPA + 6, FIXED | IF | X86_RFLAGS_ZF | X86_RFLAGS_PF);
    cr_expect_eq(ctl()->int_ctl, V_INTR_MASKING | V_INTR_PRIO(4), "int_ctl 0x%x",
                 ctl()->int_ctl);
}

/* ---- HLT that nothing intercepts */

/* inc rax; hlt; cpuid */
Test(cpu_irq, an_unintercepted_hlt_halts_past_itself_and_retires)
{
    GUEST_CODE(CODE_GPA, INC_RAX, HLT, CPUID);
    no_intercept(SVM_EXIT_HLT);
    uint64_t insns = rig.cpu.insns;
    cr_assert_eq(run(), CPU_RUN_HALTED);
    cr_expect_eq(save()->rip, CODE_GPA + 4);
    cr_expect_eq(save()->rax, 1);
    cr_expect_eq(rig.cpu.insns, insns + 2);
}
