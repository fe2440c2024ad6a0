/* test_msr.c — the MSRs L0 keeps for L1 (src/hv/msr.c) as an intercepted
 * WRMSR/RDMSR of L1 through msr_interception: what reads back, and what
 * is #GP(0).
 *
 * Owns: its suites' set-up on l0_msr.h's rig (1 MiB of RAM, a CPU and an
 * L0 after l0_init, L1 running on vmcb01 in long mode at CPL0, no L2).
 * Must not: run the CPU. Expected values are KVM's (arch/x86/kvm/x86.c
 * kvm_set_msr_common/kvm_get_msr_common, set_msr_mce/get_msr_mce,
 * __kvm_valid_efer) for an AMD guest, as kvm-unit-tests' x86/msr.c checks
 * them.
 */
#include "hv/hv.h"

#include "l0_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

#include "cpu/cpu.h"
#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"
#include "svmsim/svmsim.h"

#define RAM_SIZE (1ull << 20)
#define GUEST_RIP 0x1000ull
#define NONCANONICAL 0xaaaaaaaaaaaaaaaaull /* kvm-unit-tests' value */
#define POISON_VALUE 0xdeadbeefdeadbeefull /* no MSR read gives it */

#define MCI_CTL(i) (MSR_IA32_MC0_CTL + 4 * (i))
#define MCI_STATUS(i) (MSR_IA32_MC0_CTL + 4 * (i) + 1)
#define MCI_ADDR(i) (MSR_IA32_MC0_CTL + 4 * (i) + 2)
#define MCI_MISC(i) (MSR_IA32_MC0_CTL + 4 * (i) + 3)
#define HWCR_MC_STATUS_WR_EN (1ull << 18)
#define HWCR_TSC_FREQ_SEL (1ull << 24)

#include "l0_msr.h" /* the rig; guest_msr, guest_wrmsr, guest_rdmsr */

static void setup(void)
{
    struct cpu_model model = l0_fixture_model();
    msr_rig_init(&model);
    set_long_mode_cpl0(&l0.vmcb01->save, 0);
}

TestSuite(msr_mce, .init = setup, .fini = msr_rig_fini);
TestSuite(msr_hwcr, .init = setup, .fini = msr_rig_fini);
TestSuite(msr_tsc_aux, .init = setup, .fini = msr_rig_fini);
TestSuite(msr_efer, .init = setup, .fini = msr_rig_fini);

/* WRMSR of v succeeds and RDMSR gives back want. */
static void expect_reads_back(uint32_t msr, uint64_t v, uint64_t want)
{
    uint64_t r = POISON_VALUE;
    cr_expect(guest_wrmsr(msr, v), "WRMSR 0x%x = 0x%llx refused", msr, (unsigned long long)v);
    cr_expect(guest_rdmsr(msr, &r), "RDMSR 0x%x refused", msr);
    cr_expect_eq(r, want, "MSR 0x%x reads 0x%llx, wanted 0x%llx", msr, (unsigned long long)r,
                 (unsigned long long)want);
}

/* ======================================================================
 * machine check (set_msr_mce / get_msr_mce, no KVM_X86_SETUP_MCE)
 * ====================================================================== */

Test(msr_mce, mcg_cap_is_kvms_default_32_banks_and_no_capabilities)
{
    uint64_t v;
    cr_assert(guest_rdmsr(MSR_IA32_MCG_CAP, &v));
    cr_expect_eq(v, 32, "MCG_CAP 0x%llx: KVM's 32 banks, no capability bits",
                 (unsigned long long)v);
}

Test(msr_mce, mcg_cap_is_read_only)
{
    cr_expect_not(guest_wrmsr(MSR_IA32_MCG_CAP, KVM_MAX_MCE_BANKS));
}

Test(msr_mce, mcg_status_takes_any_value)
{
    expect_reads_back(MSR_IA32_MCG_STATUS, 0x7, 0x7);
    expect_reads_back(MSR_IA32_MCG_STATUS, 0, 0);
}

Test(msr_mce, mcg_ctl_is_gp_without_mcg_ctl_p)
{
    uint64_t v;
    cr_expect_not(guest_rdmsr(MSR_IA32_MCG_CTL, &v));
    cr_expect_not(guest_wrmsr(MSR_IA32_MCG_CTL, 0));
    cr_expect_not(guest_wrmsr(MSR_IA32_MCG_CTL, ~0ull));
}

Test(msr_mce, mci_ctl2_is_gp_without_mcg_cmci_p)
{
    uint64_t v;
    cr_expect_not(guest_rdmsr(MSR_IA32_MC0_CTL2, &v));
    cr_expect_not(guest_wrmsr(MSR_IA32_MC0_CTL2, 0));
}

Test(msr_mce, banks_read_zero_after_reset)
{
    for (unsigned i = 0; i < 4 * KVM_MAX_MCE_BANKS; i++) {
        uint64_t v = POISON_VALUE;
        cr_assert(guest_rdmsr(MSR_IA32_MC0_CTL + i, &v), "RDMSR 0x%x refused",
                  MSR_IA32_MC0_CTL + i);
        cr_expect_eq(v, 0, "MSR 0x%x reads 0x%llx", MSR_IA32_MC0_CTL + i,
                     (unsigned long long)v);
    }
}

Test(msr_mce, mci_ctl_takes_zero_and_all_ones_in_every_bank)
{
    for (unsigned i = 0; i < KVM_MAX_MCE_BANKS; i++) {
        expect_reads_back(MCI_CTL(i), ~0ull, ~0ull);
        expect_reads_back(MCI_CTL(i), 0, 0);
    }
}

Test(msr_mce, mci_ctl_lets_bit_10_and_bit_0_be_clear)
{
    expect_reads_back(MCI_CTL(4), ~(1ull << 10), ~(1ull << 10));
    expect_reads_back(MCI_CTL(1), ~1ull, ~1ull);
}

Test(msr_mce, mci_ctl_other_values_are_gp_and_keep_the_old_one)
{
    uint64_t v;
    expect_reads_back(MCI_CTL(2), ~0ull, ~0ull);
    cr_expect_not(guest_wrmsr(MCI_CTL(2), NONCANONICAL));
    cr_expect_not(guest_wrmsr(MCI_CTL(2), 1));
    cr_expect_not(guest_wrmsr(MCI_CTL(2), ~(1ull << 11)));
    cr_assert(guest_rdmsr(MCI_CTL(2), &v));
    cr_expect_eq(v, ~0ull);
}

Test(msr_mce, mci_status_takes_only_zero_without_mc_status_wr_en)
{
    expect_reads_back(MCI_STATUS(0), 0, 0);
    cr_expect_not(guest_wrmsr(MCI_STATUS(0), 1));
    cr_expect_not(guest_wrmsr(MCI_STATUS(31), 1ull << 63));
}

Test(msr_mce, mci_status_takes_any_value_with_mc_status_wr_en)
{
    cr_assert(guest_wrmsr(MSR_K7_HWCR, HWCR_MC_STATUS_WR_EN));
    expect_reads_back(MCI_STATUS(3), 0xb200000000000001ull, 0xb200000000000001ull);
}

Test(msr_mce, mci_addr_and_misc_take_any_value)
{
    for (unsigned i = 0; i < KVM_MAX_MCE_BANKS; i += 31) {
        expect_reads_back(MCI_ADDR(i), ~0ull, ~0ull);
        expect_reads_back(MCI_ADDR(i), NONCANONICAL, NONCANONICAL);
        expect_reads_back(MCI_MISC(i), ~0ull, ~0ull);
        expect_reads_back(MCI_MISC(i), NONCANONICAL, NONCANONICAL);
    }
}

Test(msr_mce, banks_are_apart)
{
    uint64_t v;
    expect_reads_back(MCI_ADDR(5), 0x1234, 0x1234);
    cr_assert(guest_rdmsr(MCI_ADDR(6), &v));
    cr_expect_eq(v, 0);
    cr_assert(guest_rdmsr(MCI_MISC(5), &v));
    cr_expect_eq(v, 0);
}

Test(msr_mce, the_msr_after_the_last_bank_is_gp)
{
    uint64_t v;
    cr_expect_not(guest_rdmsr(MCI_CTL(KVM_MAX_MCE_BANKS), &v));
    cr_expect_not(guest_wrmsr(MCI_CTL(KVM_MAX_MCE_BANKS), 0));
}

/* ======================================================================
 * MSR_K7_HWCR (kvm_set_msr_common)
 * ====================================================================== */

Test(msr_hwcr, reads_zero_after_reset)
{
    uint64_t v = POISON_VALUE;
    cr_assert(guest_rdmsr(MSR_K7_HWCR, &v));
    cr_expect_eq(v, 0);
}

Test(msr_hwcr, keeps_mc_status_wr_en_and_tsc_freq_sel)
{
    expect_reads_back(MSR_K7_HWCR, HWCR_MC_STATUS_WR_EN | HWCR_TSC_FREQ_SEL,
                      HWCR_MC_STATUS_WR_EN | HWCR_TSC_FREQ_SEL);
}

Test(msr_hwcr, drops_the_bits_kvm_ignores)
{
    expect_reads_back(MSR_K7_HWCR, (1ull << 3) | (1ull << 6) | (1ull << 8) | HWCR_TSC_FREQ_SEL,
                      HWCR_TSC_FREQ_SEL);
}

Test(msr_hwcr, other_bits_are_gp)
{
    cr_expect_not(guest_wrmsr(MSR_K7_HWCR, 1ull << 0));
    cr_expect_not(guest_wrmsr(MSR_K7_HWCR, 1ull << 30));
}

/* ======================================================================
 * TSC_AUX (kvm_set_msr_common, AMD guest)
 * ====================================================================== */

Test(msr_tsc_aux, bits_63_32_are_dropped_not_reserved)
{
    expect_reads_back(MSR_TSC_AUX, 0x123456789abcull, 0x56789abcull);
    cr_expect_eq(cpu.tsc_aux, 0x56789abcull, "RDTSCP would not see the value");
}

/* ======================================================================
 * EFER (__kvm_valid_efer against L1's CPUID)
 * ====================================================================== */

Test(msr_efer, sce_and_nxe_are_kept)
{
    uint64_t base = l0_guest_efer(&l0);
    uint64_t want = base | X86_EFER_SCE | X86_EFER_NXE;
    expect_reads_back(MSR_EFER, want, want);
}

Test(msr_efer, ffxsr_is_gp_as_l1s_cpuid_has_no_ffxsr)
{
    uint32_t r[4];
    cpu_cpuid(&cpu, 0x80000001, 0, r);
    cr_assert_not(r[3] & (1u << 25), "the model now offers FFXSR: this row is moot");
    cr_expect_not(guest_wrmsr(MSR_EFER, l0_guest_efer(&l0) | X86_EFER_FFXSR));
}

Test(msr_efer, reserved_bits_are_gp)
{
    cr_expect_not(guest_wrmsr(MSR_EFER, l0_guest_efer(&l0) | (1ull << 1)));
    cr_expect_not(guest_wrmsr(MSR_EFER, l0_guest_efer(&l0) | X86_EFER_LMSLE));
}

/* ======================================================================
 * IA32_TSC_ADJUST (KVM's kvm_set_msr_common: a write moves L1's TSC; a
 * write of IA32_TSC moves the adjust by as much)
 * ====================================================================== */

TestSuite(msr_tsc_adjust, .init = setup, .fini = msr_rig_fini);

Test(msr_tsc_adjust, reads_0_at_reset_and_a_write_moves_the_tsc_offset_by_the_difference)
{
    uint64_t v = POISON_VALUE;
    cr_assert(guest_rdmsr(MSR_IA32_TSC_ADJUST, &v));
    cr_expect_eq(v, 0);
    uint64_t before = l0.vmcb01->control.tsc_offset;
    expect_reads_back(MSR_IA32_TSC_ADJUST, (uint64_t)-1000, (uint64_t)-1000);
    cr_expect_eq(l0.vmcb01->control.tsc_offset, before - 1000);
    expect_reads_back(MSR_IA32_TSC_ADJUST, 500, 500);
    cr_expect_eq(l0.vmcb01->control.tsc_offset, before + 500);
}

Test(msr_tsc_adjust, a_tsc_write_moves_the_adjust_by_the_offsets_change)
{
    uint64_t before = l0.vmcb01->control.tsc_offset, adj = POISON_VALUE;
    cr_assert(guest_wrmsr(MSR_IA32_TSC, 0x1000000000ull));
    uint64_t moved = l0.vmcb01->control.tsc_offset - before;
    cr_expect_neq(moved, 0, "the TSC write moved the offset");
    cr_assert(guest_rdmsr(MSR_IA32_TSC_ADJUST, &adj));
    cr_expect_eq(adj, moved, "TSC_ADJUST 0x%llx, the offset moved by 0x%llx",
                 (unsigned long long)adj, (unsigned long long)moved);
}
