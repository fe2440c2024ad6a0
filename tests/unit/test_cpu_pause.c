/* test_cpu_pause.c — the PAUSE intercept's filter (AMD APM vol. 2
 * §15.14.4, op_pause in src/cpu/ops_system.c): the count loaded at VMRUN,
 * counted down by each PAUSE, the exit on the PAUSE that reaches 0, and
 * the threshold that starts the count again after a long enough gap.
 *
 * Owns: a rig on cpu_fixture.h (2 MiB mapped 1:1, one 64-bit VMCB with
 * PAUSE and CPUID intercepted) on a deterministic CPU (4 cycles per
 * instruction).
 * Must not: use src/hv.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *vmcb
#include "cpu_fixture.h"

#define RAM_SIZE (2ull << 20)
#define CODE_GPA 0x10000ull
#define PAUSE 0xf3, 0x90 /* 2 bytes */
#define NOP 0x90
#define CPUID 0x0f, 0xa2

static const struct cpu_model pause_model = {
    .maxphyaddr = 48, .nrips = true, .deterministic = true,
};

static void rig_setup(void)
{
    rig_init(RAM_SIZE, &pause_model);
    write_gdt();
    write_identity_tables(RAM_SIZE);
    rig.vmcb = alloc_vmcb(1, PML4_GPA);
    rig.vmcb->save.rip = CODE_GPA;
    set_intercept(rig.vmcb, SVM_EXIT_PAUSE);
    set_intercept(rig.vmcb, SVM_EXIT_CPUID);
}

static void rig_teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_pause, .init = rig_setup, .fini = rig_teardown);

/* Ten PAUSEs back to back, then CPUID. */
static void ten_pauses(void)
{
    GUEST_CODE(CODE_GPA, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE,
               CPUID);
}

static uint64_t run_exit(void)
{
    uint64_t budget = 10000;
    cr_assert_eq(cpu_run(&rig.cpu, rig.vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT);
    return rig.vmcb->control.exit_code;
}

Test(cpu_pause, without_a_filter_the_first_pause_exits)
{
    ten_pauses();
    cr_assert_eq(run_exit(), SVM_EXIT_PAUSE);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA);
}

Test(cpu_pause, a_filter_of_9_lets_8_pauses_run_and_the_9th_exits)
{
    ten_pauses();
    rig.vmcb->control.pause_filter_count = 9;
    cr_assert_eq(run_exit(), SVM_EXIT_PAUSE);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 8 * 2, "RIP %#llx",
                 (unsigned long long)rig.vmcb->save.rip);
}

Test(cpu_pause, a_filter_above_the_pauses_never_exits)
{
    ten_pauses();
    rig.vmcb->control.pause_filter_count = 11;
    cr_assert_eq(run_exit(), SVM_EXIT_CPUID);
}

Test(cpu_pause, the_count_is_loaded_again_at_each_vmrun)
{
    ten_pauses();
    rig.vmcb->control.pause_filter_count = 6;
    cr_assert_eq(run_exit(), SVM_EXIT_PAUSE);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 5 * 2);
    /* Resumed on the same PAUSE, the count starts at 6 again: the
     * remaining five PAUSEs do not reach 0. */
    cr_assert_eq(run_exit(), SVM_EXIT_CPUID);
}

Test(cpu_pause, a_gap_longer_than_the_threshold_starts_the_count_again)
{
    /* PAUSE; NOP; NOP repeated: 12 cycles from one PAUSE to the next. */
    GUEST_CODE(CODE_GPA, PAUSE, NOP, NOP, PAUSE, NOP, NOP, PAUSE, NOP, NOP, PAUSE, NOP, NOP,
               PAUSE, NOP, NOP, PAUSE, CPUID);
    rig.vmcb->control.pause_filter_count = 3;
    rig.vmcb->control.pause_filter_thresh = 8;
    cr_assert_eq(run_exit(), SVM_EXIT_CPUID, "each gap resets the count of 3");
}

Test(cpu_pause, gaps_within_the_threshold_keep_counting)
{
    GUEST_CODE(CODE_GPA, PAUSE, NOP, NOP, PAUSE, NOP, NOP, PAUSE, NOP, NOP, PAUSE, NOP, NOP,
               PAUSE, NOP, NOP, PAUSE, CPUID);
    rig.vmcb->control.pause_filter_count = 3;
    rig.vmcb->control.pause_filter_thresh = 100;
    cr_assert_eq(run_exit(), SVM_EXIT_PAUSE);
    cr_assert_eq(rig.vmcb->save.rip, CODE_GPA + 2 * 4, "the third PAUSE exits");
}
