/* test_svm_hw.c — the CPU model as SVM hardware (src/cpu/, svm_hw.c): a host
 * fills a VMCB, calls cpu_run() and reads the #VMEXIT back, with no L0.
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (4 MiB of RAM,
 * identity page tables, a GDT, an IDT, a 64-bit ring-0 save area, IOPM and
 * MSRPM buffers) and one test per hardware behaviour: intercepts, EXITINFO
 * layouts, exception delivery and EXITINTINFO, EVENTINJ, the VMSAVE RAX
 * erratum, the instruction budget, the selective CR0 write intercept, DR4/DR5
 * and RSM.
 * Must not: use src/hv; every expectation is the AMD APM's (vol. 2 §15),
 * written as exact values so each test can fail.
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

/* ---- guest physical layout (identity mapped: linear == physical); below
 * 0x80000 the GDT, tables, IDT and stack of cpu_fixture.h */

#define RAM_SIZE (4ull << 20)
#define CODE_GPA 0x10000ull
#define HANDLER_GPA 0x11000ull
#define DATA_GPA 0x20000ull
#define UNMAPPED_LA 0x800000ull /* PD entry 4: not present */

#define RESERVED_START 0x300000ull
#define RESERVED_END 0x30ffffull

#define INITIAL_CR2 0xc2c2c2c2ull

static const struct cpu_model default_model = CPU_FIXTURE_MODEL(RESERVED_START, RESERVED_END);

/* write_save_area's guest (64-bit mode, CPL 0, paging on at PML4_GPA,
 * EFER.SVME set, an empty IDT of 256 zero gates) with CR2 INITIAL_CR2 and
 * RIP at CODE_GPA. */
static void write_code_save_area(struct vmcb_save_area *sa)
{
    write_save_area(sa, PML4_GPA);
    sa->cr2 = INITIAL_CR2;
    sa->rip = CODE_GPA;
}

/* The GDT; 1:1 mapping of the first 4 MiB with two 2 MiB pages, everything
 * above not present; one VMCB VMRUN accepts (APM vol. 2 §15.5.1), ASID 1,
 * with write_code_save_area's guest. */
static void rig_setup(void)
{
    rig_init(RAM_SIZE, &default_model);
    write_gdt();
    write_identity_tables(RAM_SIZE);
    rig.vmcb = alloc_vmcb(1, PML4_GPA);
    write_code_save_area(&rig.vmcb->save);
}

static void rig_teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(svm_hw, .init = rig_setup, .fini = rig_teardown);

/* A different CPU on the same memory (CPUID features, errata). */
static void rig_use_model(const struct cpu_model *model)
{
    cpu_fini(&rig.cpu);
    cr_assert_eq(cpu_init(&rig.cpu, &rig.mem, model), 0);
}

static void intercept(uint64_t exit_code)
{
    set_intercept(rig.vmcb, exit_code);
}

/* MSRPM: two bits per MSR (read, then write) in three 2 KiB ranges. */
static void msrpm_set(uint32_t msr, bool write)
{
    unsigned base = msr <= 0x1fff ? 0x000 : msr >= 0xc0010000 ? 0x1000 : 0x800;
    unsigned bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
    rig.msrpm[base + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static enum cpu_run_result run_budget(uint64_t *budget)
{
    return cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, budget);
}

/* Runs until a #VMEXIT, which the test expects. */
static void run_to_exit(void)
{
    uint64_t budget = 10000;
    cr_assert_eq(run_budget(&budget), CPU_RUN_VMEXIT, "the guest ran out of budget");
}

static const struct vmcb_control_area *ctl(void)
{
    return &rig.vmcb->control;
}

static const struct vmcb_save_area *save(void)
{
    return &rig.vmcb->save;
}

#define EXCEPTION_INFO(vector) (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | (vector))
#define IDT_ERR(vector) ((vector) * 8u + X86_ERR_IDT)

/* ---- CPUID and HLT */

Test(svm_hw, cpuid_intercept_exits_0x72_with_rip_at_cpuid_and_next_rip_after_it)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0xa2); /* cpuid */
    intercept(SVM_EXIT_CPUID);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CPUID);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 2);
}

Test(svm_hw, cpuid_without_intercept_returns_the_vendor_and_runs_on_to_an_intercepted_hlt)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0xa2, 0xf4); /* cpuid; hlt */
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = 0;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 2);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    char vendor[13] = { 0 };
    memcpy(vendor, &rig.cpu.gpr[3], 4);     /* EBX */
    memcpy(vendor + 4, &rig.cpu.gpr[2], 4); /* EDX */
    memcpy(vendor + 8, &rig.cpu.gpr[1], 4); /* ECX */
    cr_expect_str_eq(vendor, "AuthenticAMD");
    cr_expect_eq(save()->rax, 0x0d, "the highest standard leaf");
}

Test(svm_hw, hlt_at_cpl0_with_the_intercept_exits_0x78_before_halting)
{
    GUEST_CODE(CODE_GPA, 0xf4); /* hlt */
    intercept(SVM_EXIT_HLT);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 1);
}

/* ---- IOIO */

Test(svm_hw, in_al_imm8_with_its_iopm_bit_exits_0x7b_with_port_size_and_address_size)
{
    GUEST_CODE(CODE_GPA, 0xe4, 0x80); /* in al, 0x80 */
    intercept(SVM_EXIT_IOIO);
    iopm_set(0x80);
    rig.vmcb->save.rax = 0x1122334455667788ull;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_IOIO);
    /* IN, 8-bit data (bit 4), 64-bit address size (bit 9), port 0x80 */
    cr_expect_eq(ctl()->exit_info_1, (0x80ull << 16) | (1u << 4) | (4u << 7) | 1u);
    cr_expect_eq(ctl()->exit_info_2, CODE_GPA + 2, "EXITINFO2 is the next RIP");
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 2);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->rax, 0x1122334455667788ull, "AL is not written");
}

Test(svm_hw, in_al_imm8_with_its_iopm_bit_clear_reads_all_ones_without_an_exit)
{
    GUEST_CODE(CODE_GPA, 0xe4, 0x80, 0xf4); /* in al, 0x80; hlt */
    intercept(SVM_EXIT_IOIO);
    intercept(SVM_EXIT_HLT);
    iopm_set(0x81);
    iopm_set(0x7f);
    rig.vmcb->save.rax = 0x1122334455667788ull;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 2);
    cr_expect_eq(save()->rax, 0x11223344556677ffull);
}

Test(svm_hw, a_dword_access_is_intercepted_when_any_port_it_covers_has_its_bit_set)
{
    GUEST_CODE(CODE_GPA, 0xed); /* in eax, dx */
    intercept(SVM_EXIT_IOIO);
    iopm_set(0x800);
    rig.cpu.gpr[2] = 0x7ff;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_IOIO);
    /* IN, 32-bit data (bit 6), 64-bit address size, port 0x7ff */
    cr_expect_eq(ctl()->exit_info_1, (0x7ffull << 16) | (4u << 4) | (4u << 7) | 1u);
    cr_expect_eq(ctl()->exit_info_2, CODE_GPA + 1);
}

Test(svm_hw, a_byte_access_checks_only_its_own_port_bit)
{
    GUEST_CODE(CODE_GPA, 0xec, 0xf4); /* in al, dx; hlt */
    intercept(SVM_EXIT_IOIO);
    intercept(SVM_EXIT_HLT);
    iopm_set(0x800);
    rig.cpu.gpr[2] = 0x7ff;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rax & 0xff, 0xff);
}

Test(svm_hw, rep_outsb_sets_the_str_and_rep_bits_and_names_the_ds_segment)
{
    GUEST_CODE(CODE_GPA, 0xf3, 0x6e); /* rep outsb */
    intercept(SVM_EXIT_IOIO);
    iopm_set(0x80);
    rig.cpu.gpr[2] = 0x80;
    rig.cpu.gpr[1] = 3;
    rig.cpu.gpr[6] = DATA_GPA;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_IOIO);
    /* OUT, STR (bit 2), REP (bit 3), 8-bit, 64-bit address size, DS (3) */
    cr_expect_eq(ctl()->exit_info_1,
                 (0x80ull << 16) | (3u << 10) | (4u << 7) | (1u << 4) | (1u << 3) | (1u << 2));
    cr_expect_eq(ctl()->exit_info_2, CODE_GPA + 2);
    cr_expect_eq(rig.cpu.gpr[1], 3, "no iteration ran before the exit");
    cr_expect_eq(rig.cpu.gpr[6], DATA_GPA);
}

Test(svm_hw, outsb_with_an_fs_override_reports_segment_fs)
{
    GUEST_CODE(CODE_GPA, 0x64, 0x6e); /* outsb dx, byte ptr fs:[rsi] */
    intercept(SVM_EXIT_IOIO);
    iopm_set(0x80);
    rig.cpu.gpr[2] = 0x80;
    rig.cpu.gpr[6] = DATA_GPA;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_IOIO);
    cr_expect_eq(ctl()->exit_info_1, (0x80ull << 16) | (4u << 10) | (4u << 7) | (1u << 4) | (1u << 2));
}

/* ---- MSR */

Test(svm_hw, rdmsr_with_its_msrpm_read_bit_exits_0x7c_with_exit_info_1_zero)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x32); /* rdmsr */
    intercept(SVM_EXIT_MSR);
    msrpm_set(MSR_STAR, false);
    rig.cpu.gpr[1] = MSR_STAR;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_MSR);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 2);
}

Test(svm_hw, rdmsr_with_only_the_write_bit_set_reads_the_msr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x32, 0xf4); /* rdmsr; hlt */
    intercept(SVM_EXIT_MSR);
    intercept(SVM_EXIT_HLT);
    msrpm_set(MSR_STAR, true);
    rig.vmcb->save.star = 0x001b000812345678ull;
    rig.cpu.gpr[1] = MSR_STAR;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rax, 0x12345678);
    cr_expect_eq(rig.cpu.gpr[2], 0x001b0008);
}

Test(svm_hw, wrmsr_with_its_msrpm_write_bit_exits_0x7c_with_exit_info_1_one)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x30); /* wrmsr */
    intercept(SVM_EXIT_MSR);
    msrpm_set(MSR_STAR, true);
    rig.vmcb->save.star = 0x1111;
    rig.vmcb->save.rax = 0x9abcdef0;
    rig.cpu.gpr[2] = 0x00100008;
    rig.cpu.gpr[1] = MSR_STAR;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_MSR);
    cr_expect_eq(ctl()->exit_info_1, 1);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 2);
    cr_expect_eq(save()->star, 0x1111, "the write did not happen");
}

Test(svm_hw, wrmsr_with_only_the_read_bit_set_writes_the_msr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x30, 0xf4); /* wrmsr; hlt */
    intercept(SVM_EXIT_MSR);
    intercept(SVM_EXIT_HLT);
    msrpm_set(MSR_STAR, false);
    rig.vmcb->save.rax = 0x9abcdef0;
    rig.cpu.gpr[2] = 0x00100008;
    rig.cpu.gpr[1] = MSR_STAR;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->star, 0x001000089abcdef0ull);
}

Test(svm_hw, an_msr_outside_the_three_msrpm_ranges_is_always_intercepted)
{
    static const uint32_t outside[] = { 0x2000, 0x40000000, 0xc0002000, 0xc0012000, 0xffffffff };
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        GUEST_CODE(CODE_GPA, 0x0f, 0x32); /* rdmsr, with an all-zero MSRPM */
        write_code_save_area(&rig.vmcb->save);
        intercept(SVM_EXIT_MSR);
        rig.cpu.gpr[1] = outside[i];
        run_to_exit();
        cr_expect_eq(ctl()->exit_code, SVM_EXIT_MSR, "MSR 0x%x", outside[i]);
        cr_expect_eq(ctl()->exit_info_1, 0, "MSR 0x%x", outside[i]);
    }
}

/* ---- exception intercepts */

Test(svm_hw, ud2_with_the_ud_intercept_exits_0x46_at_the_ud2)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(SVM_EXIT_UD);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->rsp, STACK_TOP, "nothing was pushed");
}

/* APM vol. 2 §15.7.1: "nRIP is saved ... on all #VMEXITs that are due to instruction
 * intercepts, ... MSR and IOIO intercepts and exceptions caused by the INT3,
 * INTO, and BOUND instructions. For all other intercepts, nRIP is reset to
 * zero." A #UD from UD2 is none of those. */
Test(svm_hw, an_exception_intercept_resets_next_rip_to_zero)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(SVM_EXIT_UD);
    rig.vmcb->control.next_rip = 0x5555;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD);
    cr_expect_eq(ctl()->next_rip, 0);
}

Test(svm_hw, a_read_of_an_unmapped_page_exits_0x4e_with_the_address_and_leaves_cr2)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x03); /* mov rax, [rbx] */
    intercept(SVM_EXIT_PF);
    rig.cpu.gpr[3] = UNMAPPED_LA + 0x123;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_PF);
    cr_expect_eq(ctl()->exit_info_1, 0, "P=0 W=0 U=0");
    cr_expect_eq(ctl()->exit_info_2, UNMAPPED_LA + 0x123);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->cr2, INITIAL_CR2, "an intercepted #PF does not write CR2");
    cr_expect_eq(save()->rip, CODE_GPA);
}

Test(svm_hw, a_write_to_an_unmapped_page_reports_the_w_bit)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x89, 0x03); /* mov [rbx], rax */
    intercept(SVM_EXIT_PF);
    rig.cpu.gpr[3] = UNMAPPED_LA + 8;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_PF);
    cr_expect_eq(ctl()->exit_info_1, X86_PF_W);
    cr_expect_eq(ctl()->exit_info_2, UNMAPPED_LA + 8);
}

Test(svm_hw, a_non_canonical_read_with_the_gp_intercept_exits_0x4d_with_error_zero)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x03); /* mov rax, [rbx] */
    intercept(SVM_EXIT_GP);
    rig.cpu.gpr[3] = 0x8000000000000000ull;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
}

/* ---- delivery through the IDT */

Test(svm_hw, ud2_with_idtr_limit_zero_triple_faults_into_a_shutdown_exit)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(SVM_EXIT_SHUTDOWN);
    rig.vmcb->save.idtr.limit = 0;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_SHUTDOWN);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->rsp, STACK_TOP);
}

Test(svm_hw, a_gp_through_not_present_gp_and_df_gates_ends_in_shutdown)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x03); /* mov rax, [rbx] */
    intercept(SVM_EXIT_SHUTDOWN);
    write_idt_gate(X86_VEC_GP, HANDLER_GPA, false);
    write_idt_gate(X86_VEC_NP, HANDLER_GPA, false);
    write_idt_gate(X86_VEC_DF, HANDLER_GPA, false);
    rig.cpu.gpr[3] = 0x8000000000000000ull;
    run_to_exit();
    /* #GP -> #NP(13*8+2) -> #DF -> #NP(8*8+2) -> shutdown */
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_SHUTDOWN);
    cr_expect_eq(save()->rip, CODE_GPA);
}

Test(svm_hw, a_gp_whose_idt_gate_is_beyond_the_limit_is_intercepted_as_a_nested_gp)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b); /* ud2 */
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.idtr.limit = 0;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    /* EXT (bit 0) is left out: AMD defines it as "source external to the
     * processor", which a UD2 is not. */
    cr_expect_eq(ctl()->exit_info_1 & ~(uint64_t)X86_ERR_EXT, IDT_ERR(X86_VEC_UD));
    cr_expect_eq(ctl()->exit_int_info, EXCEPTION_INFO(X86_VEC_UD));
    cr_expect_eq(ctl()->exit_int_info_err, 0);
}

Test(svm_hw, a_page_fault_pushing_the_ud_frame_is_intercepted_with_the_ud_in_exit_int_info)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b); /* ud2 */
    GUEST_CODE(HANDLER_GPA, 0xf4);
    write_idt_gate(X86_VEC_UD, HANDLER_GPA, true);
    intercept(SVM_EXIT_PF);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rsp = UNMAPPED_LA + 0x1000;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_PF);
    cr_expect_eq(ctl()->exit_int_info, SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_UD);
    cr_expect_eq(ctl()->exit_int_info_err, 0);
    cr_expect_eq(ctl()->exit_info_1, X86_PF_W, "a supervisor write to a not-present page");
    /* Which frame slot faults first depends on the push order; the page is exact. */
    cr_expect_eq(ctl()->exit_info_2 & ~0xfffull, UNMAPPED_LA);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->rsp, UNMAPPED_LA + 0x1000);
    cr_expect_eq(save()->cr2, INITIAL_CR2);
}

/* A secondary exception's own intercept is checked before it combines into
 * #DF. APM vol. 2 §15.7.3: "if E is
 * an exception and is intercepted: #VMEXIT(E); E = (result of combining E
 * with any prior events)". The #NP raised by the not-present #GP gate must
 * exit as #NP with the #GP in EXITINTINFO (not become a #DF and, with gate 8
 * empty, a SHUTDOWN). */
Test(svm_hw, a_secondary_np_is_intercepted_before_it_combines_into_a_double_fault)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x03); /* mov rax, [rbx] */
    write_idt_gate(X86_VEC_GP, HANDLER_GPA, false);
    intercept(SVM_EXIT_EXCP_BASE + X86_VEC_NP);
    intercept(SVM_EXIT_SHUTDOWN);
    rig.cpu.gpr[3] = 0x8000000000000000ull;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_EXCP_BASE + X86_VEC_NP);
    cr_expect_eq(ctl()->exit_info_1 & ~(uint64_t)X86_ERR_EXT, IDT_ERR(X86_VEC_GP));
    cr_expect_eq(ctl()->exit_int_info, EXCEPTION_INFO(X86_VEC_GP) | SVM_EVTINJ_VALID_ERR);
    cr_expect_eq(ctl()->exit_int_info_err, 0);
}

/* The APM's own example (vol. 2 §15.7.2): "A guest raises a #GP during delivery of which a #NP is raised
 * ..., resolves to a #DF, and an intercepted #PF occurs during the attempt
 * to deliver the #DF. Upon intercept of the #PF, EXITINTINFO indicates that
 * the guest was in the process of delivering a #DF" (the #PF intercept comes
 * before #DF + #PF would become SHUTDOWN). */
Test(svm_hw, a_page_fault_while_delivering_a_double_fault_is_intercepted_with_the_df_in_exit_int_info)
{
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x03); /* mov rax, [rbx] */
    write_idt_gate(X86_VEC_GP, HANDLER_GPA, false);
    write_idt_gate(X86_VEC_DF, HANDLER_GPA, true);
    intercept(SVM_EXIT_PF);
    intercept(SVM_EXIT_SHUTDOWN);
    rig.cpu.gpr[3] = 0x8000000000000000ull;
    rig.vmcb->save.rsp = UNMAPPED_LA + 0x1000;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_PF);
    cr_expect_eq(ctl()->exit_info_1, X86_PF_W);
    cr_expect_eq(ctl()->exit_info_2 & ~0xfffull, UNMAPPED_LA);
    cr_expect_eq(ctl()->exit_int_info, EXCEPTION_INFO(X86_VEC_DF) | SVM_EVTINJ_VALID_ERR);
    cr_expect_eq(ctl()->exit_int_info_err, 0);
}

/* ---- EVENTINJ */

Test(svm_hw, an_injected_gp_enters_its_handler_with_the_error_code_on_the_stack)
{
    GUEST_CODE(CODE_GPA, 0x90); /* nop: never reached */
    GUEST_CODE(HANDLER_GPA, 0xf4);
    write_idt_gate(X86_VEC_GP, HANDLER_GPA, true);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_IF;
    rig.vmcb->control.event_inj =
        SVM_EVTINJ_VALID | SVM_EVTINJ_VALID_ERR | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_GP;
    rig.vmcb->control.event_inj_err = 0x1234;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, HANDLER_GPA);
    cr_expect_eq(ctl()->event_inj & SVM_EVTINJ_VALID, 0, "EVENTINJ is consumed");
    cr_expect_eq(save()->rsp, STACK_TOP - 6 * 8);
    uint64_t sp = save()->rsp;
    cr_expect_eq(phys_read_u64(sp + 0), 0x1234, "error code");
    cr_expect_eq(phys_read_u64(sp + 8), CODE_GPA, "return RIP");
    cr_expect_eq(phys_read_u64(sp + 16), CODE64_SEL, "CS");
    cr_expect_eq(phys_read_u64(sp + 24), X86_RFLAGS_FIXED | X86_RFLAGS_IF, "RFLAGS");
    cr_expect_eq(phys_read_u64(sp + 32), STACK_TOP, "RSP");
    cr_expect_eq(phys_read_u64(sp + 40), DATA_SEL, "SS");
    cr_expect_eq(save()->rflags & X86_RFLAGS_IF, 0, "an interrupt gate clears IF");
}

Test(svm_hw, an_injected_exception_is_not_checked_against_its_own_intercept)
{
    GUEST_CODE(HANDLER_GPA, 0xf4);
    write_idt_gate(X86_VEC_GP, HANDLER_GPA, true);
    intercept(SVM_EXIT_GP);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->control.event_inj =
        SVM_EVTINJ_VALID | SVM_EVTINJ_VALID_ERR | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_GP;
    rig.vmcb->control.event_inj_err = 0x1234;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, HANDLER_GPA);
}

Test(svm_hw, a_secondary_gp_while_delivering_an_injected_ud_is_intercepted)
{
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.idtr.limit = 0;
    rig.vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_UD;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1 & ~(uint64_t)X86_ERR_EXT, IDT_ERR(X86_VEC_UD));
    cr_expect_eq(ctl()->exit_int_info, EXCEPTION_INFO(X86_VEC_UD));
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->event_inj & SVM_EVTINJ_VALID, 0);
}

/* Only the injected event skips the intercept check, not a secondary
 * exception of the same vector. APM vol. 2 §15.20: "Injected
 * events are not subject to intercept checks. (Note, however, that if
 * secondary exceptions occur during delivery of an injected event, those
 * exceptions *are* subject to exception intercepts.)" */
Test(svm_hw, a_secondary_gp_while_delivering_an_injected_gp_is_intercepted)
{
    intercept(SVM_EXIT_GP);
    intercept(SVM_EXIT_SHUTDOWN);
    rig.vmcb->save.idtr.limit = X86_VEC_GP * 16 - 1; /* gate 13 beyond the limit */
    rig.vmcb->control.event_inj =
        SVM_EVTINJ_VALID | SVM_EVTINJ_VALID_ERR | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_GP;
    rig.vmcb->control.event_inj_err = 0x1234;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1 & ~(uint64_t)X86_ERR_EXT, IDT_ERR(X86_VEC_GP));
    cr_expect_eq(ctl()->exit_int_info, EXCEPTION_INFO(X86_VEC_GP) | SVM_EVTINJ_VALID_ERR);
    cr_expect_eq(ctl()->exit_int_info_err, 0x1234);
}

/* ---- SVM instructions and the RAX erratum */

Test(svm_hw, vmsave_with_rax_in_the_reserved_range_raises_gp_before_the_intercept)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xdb); /* vmsave */
    intercept(SVM_EXIT_VMSAVE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = RESERVED_START;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
}

Test(svm_hw, vmsave_with_rax_at_the_last_reserved_page_raises_gp)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xdb); /* vmsave */
    intercept(SVM_EXIT_VMSAVE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = RESERVED_END & ~0xfffull;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
}

Test(svm_hw, vmsave_with_rax_outside_the_reserved_range_exits_0x83)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xdb); /* vmsave */
    intercept(SVM_EXIT_VMSAVE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = RESERVED_END + 1;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_VMSAVE);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
}

Test(svm_hw, vmsave_on_a_cpu_with_svme_addr_chk_exits_0x83_even_for_a_reserved_rax)
{
    struct cpu_model model = default_model;
    model.svme_addr_chk = true;
    model.rax_erratum = false;
    rig_use_model(&model);
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xdb); /* vmsave */
    intercept(SVM_EXIT_VMSAVE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = RESERVED_START;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_VMSAVE);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
}

Test(svm_hw, vmrun_with_efer_svme_clear_raises_ud_before_the_intercept)
{
    /* A VMCB must have EFER.SVME set to be run at all, so the guest clears
     * it itself: mov ecx, EFER; mov eax, 0x500; xor edx, edx; wrmsr; vmrun */
    GUEST_CODE(CODE_GPA, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0xb8, 0x00, 0x05, 0x00, 0x00, 0x31, 0xd2,
               0x0f, 0x30, 0x0f, 0x01, 0xd8);
    intercept(SVM_EXIT_VMRUN);
    intercept(SVM_EXIT_UD);
    rig.vmcb->save.rax = 0x100000;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->rip, CODE_GPA + 14);
    cr_expect_eq(save()->efer & X86_EFER_SVME, 0);
}

Test(svm_hw, vmrun_of_a_vmcb_with_efer_svme_clear_fails_with_vmexit_err)
{
    GUEST_CODE(CODE_GPA, 0x90);
    rig.vmcb->save.efer = X86_EFER_LME | X86_EFER_LMA;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_ERR);
    cr_expect_eq(save()->rip, CODE_GPA, "the guest is not entered");
}

Test(svm_hw, vmrun_with_efer_svme_set_exits_0x80)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xd8); /* vmrun */
    intercept(SVM_EXIT_VMRUN);
    intercept(SVM_EXIT_UD);
    rig.vmcb->save.rax = 0x100000;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_VMRUN);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
}

/* ---- control registers */

Test(svm_hw, mov_to_cr0_with_the_write_intercept_exits_0x10_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0); /* mov cr0, rax */
    intercept(SVM_EXIT_WRITE_CR0);
    rig.vmcb->save.rax = 0x80000033;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
    cr_expect_eq(ctl()->exit_info_1, (1ull << 63) | 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, 0x80010033, "CR0 is not written");
}

Test(svm_hw, mov_to_cr0_from_r11_reports_gpr_11)
{
    GUEST_CODE(CODE_GPA, 0x41, 0x0f, 0x22, 0xc3); /* mov cr0, r11 */
    intercept(SVM_EXIT_WRITE_CR0);
    rig.cpu.gpr[11] = 0x80010033;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
    cr_expect_eq(ctl()->exit_info_1, (1ull << 63) | 11);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 4);
}

/* ---- the budget */

Test(svm_hw, a_budget_of_n_retires_exactly_n_instructions)
{
    /* 0x10000: inc rcx; 0x10003: jmp 0x10000 */
    GUEST_CODE(CODE_GPA, 0x48, 0xff, 0xc1, 0xeb, 0xfb);
    intercept(SVM_EXIT_HLT);
    uint64_t budget = 1001;
    uint64_t before = rig.cpu.insns;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.insns - before, 1001);
    cr_expect_eq(budget, 0);
    cr_expect_eq(rig.cpu.gpr[1], 501, "INC ran on every odd instruction");
    cr_expect_eq(save()->rip, CODE_GPA + 3, "stopped before the 1002nd, a JMP");
}

/* Straight-line code longer than a block (BLOCK_MAX): a budget that ends
 * inside a block, at its edge or past it stops after exactly that many
 * instructions, and a later run goes on from there. */
Test(svm_hw, a_budget_ending_inside_a_long_straight_block_retires_exactly_that_many)
{
    enum { N = 3 * BLOCK_MAX + 7 };
    static uint8_t code[3 * N + 1];
    for (unsigned i = 0; i < N; i++)
        memcpy(&code[3 * i], (const uint8_t[]){ 0x48, 0xff, 0xc1 }, 3); /* inc rcx */
    code[3 * N] = 0xf4; /* hlt */
    phys_write(CODE_GPA, code, sizeof(code));
    intercept(SVM_EXIT_HLT);
    const uint64_t budgets[] = { 1, 2, BLOCK_MAX - 1, BLOCK_MAX, BLOCK_MAX + 1,
                                 2 * BLOCK_MAX + 3, N - 1 };
    for (unsigned k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        uint64_t given = budgets[k], budget = given, before = rig.cpu.insns;
        rig.vmcb->save.rip = CODE_GPA;
        rig.cpu.gpr[1] = 0;
        cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET, "budget %llu",
                     (unsigned long long)given);
        cr_expect_eq(rig.cpu.insns - before, given, "budget %llu: %llu retired",
                     (unsigned long long)given, (unsigned long long)(rig.cpu.insns - before));
        cr_expect_eq(rig.cpu.gpr[1], given, "budget %llu: RCX %llu", (unsigned long long)given,
                     (unsigned long long)rig.cpu.gpr[1]);
        cr_expect_eq(save()->rip, CODE_GPA + 3 * given);
        cr_expect_eq(budget, 0);
        /* From where it stopped (inside a block decoded from the start) to
         * the HLT. */
        budget = 10000;
        cr_assert_eq(run_budget(&budget), CPU_RUN_VMEXIT);
        cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
        cr_expect_eq(rig.cpu.gpr[1], N, "budget %llu: RCX %llu at the HLT",
                     (unsigned long long)given, (unsigned long long)rig.cpu.gpr[1]);
        cr_expect_eq(save()->rip, CODE_GPA + 3 * N);
    }
}

Test(svm_hw, a_second_run_resumes_where_the_budget_stopped)
{
    GUEST_CODE(CODE_GPA, 0x48, 0xff, 0xc1, 0xeb, 0xfb);
    uint64_t budget = 7;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    budget = 10;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.insns, 17);
    cr_expect_eq(rig.cpu.gpr[1], 9);
    cr_expect_eq(save()->rip, CODE_GPA + 3);
}

/* An instruction that delivers an event (INT3) is charged for the event
 * during its block and then retired with it: a budget that let the block in
 * exactly must still stop the run, one unit over at most, with nothing said
 * left (found by fuzz_guest: the budget wrapped and the run went on). */
Test(svm_hw, an_int3_ending_a_block_on_the_last_units_of_budget_stops_the_run)
{
    /* 0x10000: inc rcx; int3. #BP handler: dec rbx; jnz 0x10000; hlt */
    GUEST_CODE(CODE_GPA, 0x48, 0xff, 0xc1, 0xcc);
    GUEST_CODE(HANDLER_GPA, 0x48, 0xff, 0xcb, 0x0f, 0x85, LE32(CODE_GPA - (HANDLER_GPA + 9)),
               0xf4);
    write_idt_gate(X86_VEC_BP, HANDLER_GPA, true);
    intercept(SVM_EXIT_HLT);
    for (uint64_t given = 1; given <= 40; given++) {
        rig.vmcb->save.idtr.base = IDT_GPA;
        rig.vmcb->save.idtr.limit = 0xfff;
        rig.vmcb->save.rip = CODE_GPA;
        rig.vmcb->save.rsp = STACK_TOP;
        rig.cpu.gpr[3] = 1000; /* rounds before the HLT */
        uint64_t budget = given, before = cpu_work(&rig.cpu);
        cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET, "budget %llu: the run went on",
                     (unsigned long long)given);
        cr_assert_leq(cpu_work(&rig.cpu) - before, given + 1, "budget %llu",
                      (unsigned long long)given);
        cr_assert_eq(budget, 0, "budget %llu: %llu said left", (unsigned long long)given,
                     (unsigned long long)budget);
    }
}

/* An event whose handler is the very instruction it stopped: the careful
 * path took the event and then, seeing RIP unchanged, ran the instruction
 * as if none had been taken, past the budget too (found by fuzz_guest: an
 * AP in real mode with the vector table all zeros). An instruction
 * breakpoint on INC RCX whose #DB handler is the INC: every delivery
 * clears RF, so the breakpoint fires again and the INC never runs. */
Test(svm_hw, an_event_whose_handler_is_the_instruction_it_stopped_does_not_run_it)
{
    GUEST_CODE(CODE_GPA, 0x48, 0xff, 0xc1); /* inc rcx */
    write_idt_gate(X86_VEC_DB, CODE_GPA, true);
    rig.vmcb->save.idtr.base = IDT_GPA;
    rig.vmcb->save.idtr.limit = 0xfff;
    rig.vmcb->save.rsp = STACK_TOP;
    rig.vmcb->save.dr7 = 0x401; /* L0: DR0, execute */
    rig.cpu.dr[0] = CODE_GPA;
    rig.cpu.gpr[1] = 0;
    uint64_t budget = 50, insns = rig.cpu.insns, events = rig.cpu.events;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.gpr[1], 0, "the INC ran %llu times",
                 (unsigned long long)rig.cpu.gpr[1]);
    cr_expect_eq(rig.cpu.insns - insns, 0);
    cr_expect_eq(rig.cpu.events - events, 50);
    cr_expect_eq(save()->rip, CODE_GPA);
}

/* The event EVENTINJ delivers is charged against the run's own budget: a
 * budget of one is spent by the injection, and no instruction runs (found
 * by fuzz_guest: the charge went to the previous run's leftover). */
Test(svm_hw, an_injected_event_is_charged_against_the_budget_it_runs_on)
{
    /* #UD handler at HANDLER_GPA: inc rcx; jmp . */
    GUEST_CODE(HANDLER_GPA, 0x48, 0xff, 0xc1, 0xeb, 0xfe);
    write_idt_gate(X86_VEC_UD, HANDLER_GPA, true);
    rig.vmcb->save.idtr.base = IDT_GPA;
    rig.vmcb->save.idtr.limit = 0xfff;
    rig.vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_UD;
    uint64_t budget = 1, before = cpu_work(&rig.cpu);
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(cpu_work(&rig.cpu) - before, 1, "the injection alone");
    cr_expect_eq(budget, 0);
    cr_expect_eq(rig.cpu.gpr[1], 0, "the handler's INC did not run");
    cr_expect_eq(save()->rip, HANDLER_GPA);
}

/* ---- check order and operand rules found in review */

Test(svm_hw, an_instruction_longer_than_15_bytes_raises_gp_not_ud)
{
    /* 15 operand-size prefixes and a NOP: 16 bytes */
    GUEST_CODE(CODE_GPA, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
               0x66, 0x66, 0x66, 0x90);
    intercept(SVM_EXIT_GP);
    intercept(SVM_EXIT_UD);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
}

Test(svm_hw, cr3_with_bit_63_raises_gp_without_pcid)
{
    /* mov rax, 0x8000000000002000; mov cr3, rax */
    GUEST_CODE(CODE_GPA, 0x48, 0xb8, 0x00, 0x20, 0, 0, 0, 0, 0, 0x80, 0x0f, 0x22, 0xd8);
    intercept(SVM_EXIT_GP);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(save()->rip, CODE_GPA + 10);
    cr_expect_eq(save()->cr3, PML4_GPA);
}

Test(svm_hw, cr0_reserved_low_bits_are_ignored_and_high_bits_raise_gp)
{
    /* mov rax, cr0; or rax, 0x40; mov cr0, rax; hlt */
    GUEST_CODE(CODE_GPA, 0x0f, 0x20, 0xc0, 0x48, 0x83, 0xc8, 0x40, 0x0f, 0x22, 0xc0, 0xf4);
    intercept(SVM_EXIT_HLT);
    intercept(SVM_EXIT_GP);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->cr0, 0x80010033, "bit 6 is written as 0: %#llx",
                 (unsigned long long)save()->cr0);
}

Test(svm_hw, rdpmc_intercept_comes_before_the_counter_number_check)
{
    /* mov ecx, 0x1234; rdpmc */
    GUEST_CODE(CODE_GPA, 0xb9, 0x34, 0x12, 0, 0, 0x0f, 0x33);
    intercept(SVM_EXIT_RDPMC);
    intercept(SVM_EXIT_GP);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_RDPMC);
    cr_expect_eq(save()->rip, CODE_GPA + 5);
}

Test(svm_hw, lmsw_intercept_comes_before_its_memory_operand_faults)
{
    /* lmsw word [0x800000] (unmapped) */
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0x34, 0x25, 0x00, 0x00, 0x80, 0x00);
    intercept(SVM_EXIT_WRITE_CR0);
    intercept(SVM_EXIT_PF);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
}

Test(svm_hw, every_element_of_a_long_rep_stos_counts_against_the_budget)
{
    /* mov edi, 0x20000; mov ecx, 0x100000; rep stosb; hlt — 1 MiB, one
     * unit of budget per element (DESIGN.md: REP elements count). */
    GUEST_CODE(CODE_GPA, 0xbf, 0x00, 0x00, 0x02, 0x00, 0xb9, 0x00, 0x00, 0x10, 0x00, 0xf3, 0xaa,
               0xf4);
    uint64_t budget = 3;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.gpr[1], 0x100000 - 1, "the two MOVs and one element: rcx %#llx",
                 (unsigned long long)rig.cpu.gpr[1]);
    cr_expect_eq(rig.cpu.rip, CODE_GPA + 10, "still on the REP STOSB");
    budget = 10000;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.gpr[1], 0x100000 - 1 - 10000, "10000 more elements: rcx %#llx",
                 (unsigned long long)rig.cpu.gpr[1]);
    cr_expect_eq(rig.cpu.rip, CODE_GPA + 10);
    cr_expect_eq(cpu_work(&rig.cpu), 10003);
    intercept(SVM_EXIT_HLT);
    budget = 0x200000;
    cr_assert_eq(run_budget(&budget), CPU_RUN_VMEXIT);
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(rig.cpu.gpr[1], 0);
    cr_expect_eq(rig.cpu.rep_elems + rig.cpu.insns, 0x100000 + 2,
                 "every element and the MOVs: insns %llu, REP elements %llu",
                 (unsigned long long)rig.cpu.insns, (unsigned long long)rig.cpu.rep_elems);
}

Test(svm_hw, a_fault_loop_that_retires_nothing_still_spends_the_budget)
{
    /* ud2 with the #UD gate pointing back at the ud2: nothing ever retires */
    GUEST_CODE(CODE_GPA, 0x0f, 0x0b);
    write_idt_gate(X86_VEC_UD, CODE_GPA, true);
    uint64_t budget = 1000;
    cr_assert_eq(run_budget(&budget), CPU_RUN_BUDGET);
    cr_expect_eq(budget, 0);
    cr_expect_eq(rig.cpu.insns, 0);
    cr_expect_eq(rig.cpu.events, 1000);
    cr_expect_eq(cpu_events_since_retire(&rig.cpu), 1000);
    cr_expect_eq(rig.cpu.last_event_vector, X86_VEC_UD);
}

Test(svm_hw, invlpg_of_a_large_page_drops_every_cached_piece_of_it)
{
    /* PD entry 1 maps 2-4 MiB; read 0x201000, remap to 0x000000, invlpg 0x200000, read again */
    phys_write_u64(0x200000 + 0x1000, 0x11);
    GUEST_CODE(CODE_GPA,
               0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00,       /* mov rax, [0x201000] */
               0x48, 0xc7, 0x04, 0x25, 0x08, 0x40, 0x00, 0x00,       /* mov qword [0x4008], */
               0x83, 0x00, 0x00, 0x00,                               /*   0x83 (2 MiB at 0) */
               0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x20, 0x00,       /* invlpg [0x200000] */
               0x48, 0x8b, 0x1c, 0x25, 0x00, 0x10, 0x20, 0x00,       /* mov rbx, [0x201000] */
               0xf4);
    intercept(SVM_EXIT_HLT);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(rig.cpu.gpr[0], 0x11);
    cr_expect_eq(rig.cpu.gpr[3], phys_read_u64(0x1000), "read through the new mapping (GDT[0])");
    cr_expect_neq(rig.cpu.gpr[3], 0x11);
}

/* ---- the selective CR0 write intercept (APM vol. 2 §15.9.1): a MOV to CR0
 * that changes any bit but TS and MP, or an LMSW that changes any bit it
 * writes, exits with CR0_SEL_WRITE (0x65); the plain CR0 write intercept
 * (0x10) comes first. */

#define CR0_SEL_INFO(gpr) ((1ull << 63) | (gpr)) /* MOV CR0: bit 63 and the GPR */

Test(svm_hw, mov_to_cr0_setting_cd_with_the_selective_intercept_exits_0x65_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc3); /* mov cr0, rbx */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_HLT);
    rig.cpu.gpr[3] = GUEST_CR0 | X86_CR0_CD;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CR0_SEL_WRITE);
    cr_expect_eq(ctl()->exit_info_1, CR0_SEL_INFO(3));
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, GUEST_CR0, "CR0 is not written: %#llx",
                 (unsigned long long)save()->cr0);
}

Test(svm_hw, mov_to_cr0_setting_cd_without_the_selective_intercept_writes_cr0)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc3, 0xf4); /* mov cr0, rbx; hlt */
    intercept(SVM_EXIT_HLT);
    rig.cpu.gpr[3] = GUEST_CR0 | X86_CR0_CD;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, 0xc0010033ull);
}

Test(svm_hw, mov_to_cr0_changing_only_mp_and_ts_is_not_caught_by_the_selective_intercept)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0, 0xf4); /* mov cr0, rax; hlt */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = (GUEST_CR0 & ~X86_CR0_MP) | X86_CR0_TS; /* MP 1 -> 0, TS 0 -> 1 */
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, 0x80010039ull, "CR0 %#llx", (unsigned long long)save()->cr0);
}

Test(svm_hw, mov_to_cr0_with_both_cr0_write_intercepts_exits_0x10)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc3); /* mov cr0, rbx */
    intercept(SVM_EXIT_WRITE_CR0);
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    rig.cpu.gpr[3] = GUEST_CR0 | X86_CR0_CD;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
    cr_expect_eq(ctl()->exit_info_1, (1ull << 63) | 3);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, mov_to_cr0_changing_only_mp_with_both_intercepts_still_exits_0x10)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0); /* mov cr0, rax */
    intercept(SVM_EXIT_WRITE_CR0);
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    rig.vmcb->save.rax = GUEST_CR0 & ~X86_CR0_MP;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
    cr_expect_eq(ctl()->exit_info_1, (1ull << 63) | 0);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

/* The intercept is checked before the value's own checks: a reserved high
 * bit or NW without CD would #GP, but the selective exit comes first. */
Test(svm_hw, mov_to_cr0_with_a_reserved_high_bit_exits_0x65_before_its_gp)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0); /* mov cr0, rax */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = GUEST_CR0 | (1ull << 32);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CR0_SEL_WRITE);
    cr_expect_eq(ctl()->exit_info_1, CR0_SEL_INFO(0));
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, mov_to_cr0_setting_nw_without_cd_exits_0x65_before_its_gp)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0); /* mov cr0, rax */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = GUEST_CR0 | X86_CR0_NW;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CR0_SEL_WRITE);
    cr_expect_eq(ctl()->exit_info_1, CR0_SEL_INFO(0));
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, mov_to_cr0_with_a_reserved_high_bit_and_no_selective_intercept_raises_gp)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xc0); /* mov cr0, rax */
    intercept(SVM_EXIT_GP);
    rig.vmcb->save.rax = GUEST_CR0 | (1ull << 32);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_GP);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
}

Test(svm_hw, lmsw_clearing_mp_with_the_selective_intercept_exits_0x65_with_exit_info_1_zero)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0); /* lmsw ax */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    rig.vmcb->save.rax = 0x0001; /* PE, MP clear */
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CR0_SEL_WRITE);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, lmsw_setting_ts_with_the_selective_intercept_exits_0x65)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0); /* lmsw ax */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    rig.vmcb->save.rax = 0x000b; /* PE MP TS */
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_CR0_SEL_WRITE);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, lmsw_clearing_mp_without_the_selective_intercept_writes_cr0)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0, 0xf4); /* lmsw ax; hlt */
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = 0x0001;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, 0x80010031ull);
}

Test(svm_hw, lmsw_writing_the_bits_cr0_already_has_is_not_caught_by_the_selective_intercept)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0, 0xf4); /* lmsw ax; hlt */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = 0x0003; /* PE MP, as CR0 has them */
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

/* LMSW writes bits 3:0 only and cannot clear PE: 0xfff2 leaves CR0 as it is. */
Test(svm_hw, lmsw_that_only_tries_to_clear_pe_changes_nothing_and_does_not_exit)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0, 0xf4); /* lmsw ax; hlt */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = 0xfff2;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

Test(svm_hw, lmsw_with_both_cr0_write_intercepts_exits_0x10)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0xf0); /* lmsw ax */
    intercept(SVM_EXIT_WRITE_CR0);
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    rig.vmcb->save.rax = 0x0001;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_WRITE_CR0);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

/* CLTS changes only TS: not a selective CR0 write. */
Test(svm_hw, clts_with_the_selective_intercept_clears_ts_without_an_exit)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x06, 0xf4); /* clts; hlt */
    intercept(SVM_EXIT_CR0_SEL_WRITE);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.cr0 = GUEST_CR0 | X86_CR0_TS;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 2);
    cr_expect_eq(save()->cr0, GUEST_CR0);
}

/* ---- DR4/DR5 (CR4.DE clear): intercepted under their own exit codes, then
 * aliases of DR6/DR7. EXITINFO1 names the GPR. */

#define READ_DR(n) (SVM_EXIT_READ_DR0 + (n))
#define WRITE_DR(n) (SVM_EXIT_WRITE_DR0 + (n))

Test(svm_hw, mov_to_dr4_with_its_write_intercept_exits_0x34_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x23, 0xe3); /* mov dr4, rbx */
    intercept(WRITE_DR(4));
    rig.cpu.gpr[3] = 0x400f;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x34);
    cr_expect_eq(ctl()->exit_info_1, 3);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(save()->dr6, 0xffff0ff0ull, "DR6 is not written");
}

Test(svm_hw, mov_from_dr4_with_its_read_intercept_exits_0x24_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x21, 0xe1); /* mov rcx, dr4 */
    intercept(READ_DR(4));
    rig.cpu.gpr[1] = POISON;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x24);
    cr_expect_eq(ctl()->exit_info_1, 1);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
    cr_expect_eq(rig.cpu.gpr[1], POISON, "RCX is not written");
}

Test(svm_hw, mov_to_dr5_with_its_write_intercept_exits_0x35_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x23, 0xea); /* mov dr5, rdx */
    intercept(WRITE_DR(5));
    rig.cpu.gpr[2] = 0x1;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x35);
    cr_expect_eq(ctl()->exit_info_1, 2);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->dr7, 0x400, "DR7 is not written");
}

Test(svm_hw, mov_from_dr5_with_its_read_intercept_exits_0x25_naming_the_gpr)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x21, 0xee); /* mov rsi, dr5 */
    intercept(READ_DR(5));
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x25);
    cr_expect_eq(ctl()->exit_info_1, 6);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 3);
}

Test(svm_hw, mov_from_dr4_with_gpr_r9_reports_gpr_9)
{
    GUEST_CODE(CODE_GPA, 0x41, 0x0f, 0x21, 0xe1); /* mov r9, dr4 */
    intercept(READ_DR(4));
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x24);
    cr_expect_eq(ctl()->exit_info_1, 9);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 4);
}

Test(svm_hw, dr4_and_dr5_without_intercepts_read_and_write_dr6_and_dr7)
{
    /* mov dr4, rax; mov rcx, dr4; mov dr5, rbx; mov rdx, dr5; hlt */
    GUEST_CODE(CODE_GPA, 0x0f, 0x23, 0xe0, 0x0f, 0x21, 0xe1, 0x0f, 0x23, 0xeb, 0x0f, 0x21, 0xea,
               0xf4);
    intercept(SVM_EXIT_HLT);
    rig.vmcb->save.rax = 0x400f; /* B0-B3 and BS */
    rig.cpu.gpr[3] = 0x3;        /* L0 G0 */
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, CODE_GPA + 12);
    cr_expect_eq(save()->dr6, 0xffff4fffull, "DR6 with its fixed ones: %#llx",
                 (unsigned long long)save()->dr6);
    cr_expect_eq(rig.cpu.gpr[1], 0xffff4fffull, "DR4 reads DR6");
    cr_expect_eq(save()->dr7, 0x403ull, "DR7 with bit 10 set: %#llx",
                 (unsigned long long)save()->dr7);
    cr_expect_eq(rig.cpu.gpr[2], 0x403ull, "DR5 reads DR7");
}

/* DR4/DR5 are not checked against DR6/DR7's intercepts, which they alias. */
Test(svm_hw, dr4_and_dr5_are_not_caught_by_the_dr6_and_dr7_intercepts)
{
    /* mov dr4, rax; mov rcx, dr4; mov dr5, rbx; mov rdx, dr5; hlt */
    GUEST_CODE(CODE_GPA, 0x0f, 0x23, 0xe0, 0x0f, 0x21, 0xe1, 0x0f, 0x23, 0xeb, 0x0f, 0x21, 0xea,
               0xf4);
    intercept(SVM_EXIT_HLT);
    intercept(READ_DR(6));
    intercept(WRITE_DR(6));
    intercept(READ_DR(7));
    intercept(WRITE_DR(7));
    rig.vmcb->save.rax = 0x1;
    rig.cpu.gpr[3] = 0x1;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->dr6, 0xffff0ff1ull);
    cr_expect_eq(rig.cpu.gpr[1], 0xffff0ff1ull);
    cr_expect_eq(save()->dr7, 0x401ull);
    cr_expect_eq(rig.cpu.gpr[2], 0x401ull);
}

Test(svm_hw, mov_from_dr6_is_still_intercepted_as_0x26)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x21, 0xf0); /* mov rax, dr6 */
    intercept(READ_DR(4));
    intercept(READ_DR(6));
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, 0x26);
    cr_expect_eq(ctl()->exit_info_1, 0);
}

/* APM vol. 2 §15.9: instruction intercepts are checked after simple
 * exceptions such as #UD. DR4 with CR4.DE set is #UD, even intercepted. */
Test(svm_hw, mov_to_dr4_with_cr4_de_set_raises_ud_before_its_intercept)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x23, 0xe0); /* mov dr4, rax */
    intercept(WRITE_DR(4));
    intercept(SVM_EXIT_UD);
    rig.vmcb->save.cr4 = X86_CR4_PAE | X86_CR4_DE;
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(save()->dr6, 0xffff0ff0ull);
}

/* ---- RSM: intercepted before it is #UD outside SMM */

Test(svm_hw, rsm_with_its_intercept_exits_0x73_at_the_rsm)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0xaa); /* rsm */
    intercept(SVM_EXIT_RSM);
    intercept(SVM_EXIT_UD);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_RSM);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_info_2, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, CODE_GPA + 2);
}

Test(svm_hw, rsm_without_its_intercept_raises_ud_which_exits_0x46_at_the_rsm)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0xaa); /* rsm */
    intercept(SVM_EXIT_UD);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_UD);
    cr_expect_eq(ctl()->exit_info_1, 0);
    cr_expect_eq(ctl()->exit_int_info, 0);
    cr_expect_eq(save()->rip, CODE_GPA);
    cr_expect_eq(ctl()->next_rip, 0);
}

Test(svm_hw, rsm_without_any_intercept_delivers_ud_through_the_idt)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0xaa); /* rsm */
    GUEST_CODE(HANDLER_GPA, 0xf4);
    write_idt_gate(X86_VEC_UD, HANDLER_GPA, true);
    intercept(SVM_EXIT_HLT);
    run_to_exit();
    cr_expect_eq(ctl()->exit_code, SVM_EXIT_HLT);
    cr_expect_eq(save()->rip, HANDLER_GPA);
    cr_expect_eq(save()->rsp, STACK_TOP - 5 * 8, "no error code");
    uint64_t sp = save()->rsp;
    cr_expect_eq(phys_read_u64(sp + 0), CODE_GPA, "return RIP: the RSM");
    cr_expect_eq(phys_read_u64(sp + 8), CODE64_SEL);
}
