/* test_mmu.c — the page walks of src/cpu/mmu.c as decision-table rows: a
 * guest walk (mmu_translate) and a nested walk (npt_translate) over tables
 * the test writes, with the fault each row expects: reserved bits, NX,
 * SMEP and the error code's I/D bit, and #NPF's EXITINFO1.
 *
 * Owns: 1 MiB of RAM and a CPU whose paging registers each test sets
 * directly (64-bit paging, CR0.WP), with the tables below.
 * Must not: run the CPU or use src/hv. Expected values are the APM's (vol. 2
 * §5 page translation, §8.4.2 #PF error code, §15.25 nested paging) and
 * KVM's walker's (arch/x86/kvm/mmu), as kvm-unit-tests' svm_npt.c checks
 * them.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/x86.h"

#define RAM_SIZE (1ull << 20)

/* Guest tables: LA GUEST_LA → GPA DATA_GPA through a 4 KiB PTE. */
#define G_PML4 0x10000ull
#define G_PDPT 0x11000ull
#define G_PD 0x12000ull
#define G_PT 0x13000ull
#define GUEST_LA 0x400000ull /* PML4 0, PDPT 0, PD 2, PT 0 */
#define DATA_GPA 0x50000ull

/* Nested tables: GPA 0-2 MiB identity mapped with 4 KiB nested PTEs. */
#define N_PML4 0x20000ull
#define N_PDPT 0x21000ull
#define N_PD 0x22000ull
#define N_PT 0x23000ull

#define PTE_URW (X86_PTE_P | X86_PTE_RW | X86_PTE_US)
#define LONG_EFER (X86_EFER_LME | X86_EFER_LMA)
#define NPF_FINAL (1ull << 32)
#define NPF_GPT (1ull << 33)

static struct gmem mem;
static struct cpu cpu;

static void wr64(uint64_t pa, uint64_t v)
{
    uint8_t *p = gmem_ptr(&mem, pa, 8);
    cr_assert_not_null(p);
    memcpy(p, &v, 8);
}

static uint64_t rd64(uint64_t pa)
{
    uint64_t v;
    memcpy(&v, gmem_ptr(&mem, pa, 8), 8);
    return v;
}

/* The guest's mapping of GUEST_LA: every level user and writable, the
 * leaf with leaf_flags (P included by the caller). */
static void write_guest_tables(uint64_t leaf_flags)
{
    wr64(G_PML4, G_PDPT | PTE_URW);
    wr64(G_PDPT, G_PD | PTE_URW);
    wr64(G_PD + 2 * 8, G_PT | PTE_URW);
    wr64(G_PT, DATA_GPA | leaf_flags);
}

static void write_nested_tables(void)
{
    wr64(N_PML4, N_PDPT | PTE_URW);
    wr64(N_PDPT, N_PD | PTE_URW);
    wr64(N_PD, N_PT | PTE_URW);
    for (uint64_t i = 0; i < 512; i++)
        wr64(N_PT + i * 8, (i << 12) | PTE_URW);
}

/* 64-bit paging at G_PML4 with CR0.WP, EFER and CR4 as given, nested
 * paging off. */
static void set_paging(uint64_t efer, uint64_t cr4)
{
    cpu.cr0 = X86_CR0_PE | X86_CR0_WP | X86_CR0_PG;
    cpu.cr3 = G_PML4;
    cpu.cr4 = X86_CR4_PAE | cr4;
    cpu.efer = LONG_EFER | efer;
    cpu.npt = false;
    tlb_flush_all(&cpu);
}

static void setup(void)
{
    struct cpu_model model = { .maxphyaddr = 48, .nrips = true, .np = true };
    cr_assert_eq(gmem_init(&mem, RAM_SIZE), 0);
    cr_assert_eq(cpu_init(&cpu, &mem, &model), 0);
    write_nested_tables();
    set_paging(0, 0);
}

static void teardown(void)
{
    cpu_fini(&cpu);
    gmem_fini(&mem);
}

TestSuite(mmu_guest_walk, .init = setup, .fini = teardown);
TestSuite(mmu_nested_walk, .init = setup, .fini = teardown);

/* mmu_translate of GUEST_LA: true if it translated (to DATA_GPA). */
static bool guest_access(enum access acc, bool user)
{
    uint64_t pa = 0;
    memset(&cpu.exc, 0, sizeof(cpu.exc));
    if (mmu_translate(&cpu, GUEST_LA, acc, user, &pa) != 0)
        return false;
    cr_assert_eq(pa, DATA_GPA);
    return true;
}

/* The access faults with #PF(error) at GUEST_LA. */
static void expect_pf(enum access acc, bool user, uint32_t error)
{
    cr_assert_not(guest_access(acc, user), "the access went through");
    cr_expect_eq(cpu.exc.vector, X86_VEC_PF);
    cr_expect_eq(cpu.exc.error, error, "#PF error code 0x%x, wanted 0x%x", cpu.exc.error, error);
    cr_expect_eq(cpu.exc.cr2, GUEST_LA);
}

/* npt_translate of gpa: true if it translated (identity). */
static bool nested_access(uint64_t gpa, enum access acc, bool guest_pt)
{
    uint64_t hpa = 0;
    memset(&cpu.exc, 0, sizeof(cpu.exc));
    if (npt_translate(&cpu, gpa, acc, guest_pt, &hpa, NULL) != 0)
        return false;
    cr_assert_eq(hpa, gpa);
    return true;
}

/* The nested access faults with #NPF(info1) at gpa. */
static void expect_npf(uint64_t gpa, enum access acc, bool guest_pt, uint64_t info1)
{
    cr_assert_not(nested_access(gpa, acc, guest_pt), "the nested access went through");
    cr_expect_eq(cpu.exc.vector, CPU_EXC_NPF);
    cr_expect_eq(cpu.exc.npf_info1, info1, "#NPF EXITINFO1 0x%llx, wanted 0x%llx",
                 (unsigned long long)cpu.exc.npf_info1, (unsigned long long)info1);
    cr_expect_eq(cpu.exc.cr2, gpa);
}

/* Nested paging on at N_PML4 with the host's EFER and CR4 given. */
static void set_nested(uint64_t hefer, uint64_t hcr4)
{
    cpu.npt = true;
    cpu.ncr3 = N_PML4;
    cpu_set_npt_host(&cpu, LONG_EFER | hefer, X86_CR4_PAE | hcr4);
}

/* ======================================================================
 * the guest walk
 * ====================================================================== */

Test(mmu_guest_walk, a_present_page_translates)
{
    write_guest_tables(PTE_URW);
    cr_expect(guest_access(ACC_READ, false));
    cr_expect(guest_access(ACC_EXEC, true));
}

Test(mmu_guest_walk, pml4e_bit_8_is_reserved)
{
    write_guest_tables(PTE_URW);
    wr64(G_PML4, rd64(G_PML4) | X86_PTE_G);
    expect_pf(ACC_READ, false, X86_PF_P | X86_PF_RSVD);
}

Test(mmu_guest_walk, pml4e_bit_7_is_reserved)
{
    write_guest_tables(PTE_URW);
    wr64(G_PML4, rd64(G_PML4) | X86_PTE_PS);
    expect_pf(ACC_READ, false, X86_PF_P | X86_PF_RSVD);
}

Test(mmu_guest_walk, fetch_fault_has_no_id_bit_without_nxe_or_smep)
{
    write_guest_tables(0); /* not present */
    expect_pf(ACC_EXEC, false, 0);
}

Test(mmu_guest_walk, fetch_fault_has_id_bit_with_nxe)
{
    write_guest_tables(0);
    set_paging(X86_EFER_NXE, 0);
    expect_pf(ACC_EXEC, false, X86_PF_I);
}

Test(mmu_guest_walk, fetch_fault_has_id_bit_with_smep)
{
    write_guest_tables(0);
    set_paging(0, X86_CR4_SMEP);
    expect_pf(ACC_EXEC, false, X86_PF_I);
}

Test(mmu_guest_walk, smep_refuses_a_supervisor_fetch_from_a_user_page)
{
    write_guest_tables(PTE_URW);
    set_paging(0, X86_CR4_SMEP);
    expect_pf(ACC_EXEC, false, X86_PF_P | X86_PF_I);
}

Test(mmu_guest_walk, smep_leaves_user_fetches_and_supervisor_reads_alone)
{
    write_guest_tables(PTE_URW);
    set_paging(0, X86_CR4_SMEP);
    cr_expect(guest_access(ACC_EXEC, true));
    cr_expect(guest_access(ACC_READ, false));
    cr_expect(guest_access(ACC_WRITE, false));
}

Test(mmu_guest_walk, smep_leaves_a_supervisor_page_alone)
{
    write_guest_tables(X86_PTE_P | X86_PTE_RW); /* leaf U/S clear */
    set_paging(0, X86_CR4_SMEP);
    cr_expect(guest_access(ACC_EXEC, false));
}

Test(mmu_guest_walk, without_smep_a_supervisor_fetch_from_a_user_page_is_fine)
{
    write_guest_tables(PTE_URW);
    cr_expect(guest_access(ACC_EXEC, false));
}

/* ======================================================================
 * the nested walk
 * ====================================================================== */

Test(mmu_nested_walk, a_mapped_gpa_translates)
{
    set_nested(X86_EFER_NXE, 0);
    cr_expect(nested_access(DATA_GPA, ACC_EXEC, false));
}

Test(mmu_nested_walk, nx_refuses_a_fetch_when_the_host_has_nxe)
{
    set_nested(X86_EFER_NXE, 0);
    wr64(N_PT + (DATA_GPA >> 12) * 8, rd64(N_PT + (DATA_GPA >> 12) * 8) | X86_PTE_NX);
    expect_npf(DATA_GPA, ACC_EXEC, false, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_I);
    cr_expect(nested_access(DATA_GPA, ACC_READ, false), "NX refused a read");
}

Test(mmu_nested_walk, bit_63_is_reserved_when_the_host_has_no_nxe)
{
    set_nested(0, 0);
    wr64(N_PT + (DATA_GPA >> 12) * 8, rd64(N_PT + (DATA_GPA >> 12) * 8) | X86_PTE_NX);
    expect_npf(DATA_GPA, ACC_EXEC, false, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD);
    expect_npf(DATA_GPA, ACC_READ, false, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD);
}

Test(mmu_nested_walk, bit_63_is_reserved_at_every_level_without_host_nxe)
{
    set_nested(0, 0);
    wr64(N_PML4, rd64(N_PML4) | X86_PTE_NX);
    expect_npf(DATA_GPA, ACC_READ, true, NPF_GPT | X86_PF_P | X86_PF_W | X86_PF_U | X86_PF_RSVD);
}

Test(mmu_nested_walk, fetch_fault_id_bit_follows_host_nxe_and_smep)
{
    uint64_t pte = N_PT + (DATA_GPA >> 12) * 8;
    wr64(pte, rd64(pte) | (1ull << 51)); /* above MAXPHYADDR 48: reserved */
    const uint64_t base = NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD;
    set_nested(0, 0);
    expect_npf(DATA_GPA, ACC_EXEC, false, base);
    set_nested(0, X86_CR4_SMEP);
    expect_npf(DATA_GPA, ACC_EXEC, false, base | X86_PF_I);
    set_nested(X86_EFER_NXE, 0);
    expect_npf(DATA_GPA, ACC_EXEC, false, base | X86_PF_I);
    set_nested(X86_EFER_NXE, X86_CR4_SMEP);
    expect_npf(DATA_GPA, ACC_EXEC, false, base | X86_PF_I);
}

Test(mmu_nested_walk, host_smep_refuses_no_fetch)
{
    set_nested(X86_EFER_NXE, X86_CR4_SMEP);
    cr_expect(nested_access(DATA_GPA, ACC_EXEC, false));
}

Test(mmu_nested_walk, pml4e_bit_8_is_reserved)
{
    set_nested(X86_EFER_NXE, 0);
    wr64(N_PML4, rd64(N_PML4) | X86_PTE_G);
    expect_npf(DATA_GPA, ACC_READ, false, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD);
    expect_npf(DATA_GPA, ACC_READ, true, NPF_GPT | X86_PF_P | X86_PF_W | X86_PF_U | X86_PF_RSVD);
}

Test(mmu_nested_walk, large_pde_bits_20_13_are_reserved)
{
    set_nested(X86_EFER_NXE, 0);
    wr64(N_PD, 0 | PTE_URW | X86_PTE_PS | (1ull << 13));
    expect_npf(DATA_GPA, ACC_READ, false, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD);
    wr64(N_PD, 0 | PTE_URW | X86_PTE_PS);
    cr_expect(nested_access(DATA_GPA, ACC_READ, false));
}

Test(mmu_nested_walk, a_guest_walk_through_it_reports_the_nested_fault)
{
    write_guest_tables(PTE_URW);
    set_paging(0, 0);
    set_nested(0, 0);
    wr64(N_PT + (DATA_GPA >> 12) * 8, rd64(N_PT + (DATA_GPA >> 12) * 8) | X86_PTE_NX);
    cr_assert_not(guest_access(ACC_EXEC, false));
    cr_expect_eq(cpu.exc.vector, CPU_EXC_NPF);
    cr_expect_eq(cpu.exc.npf_info1, NPF_FINAL | X86_PF_P | X86_PF_U | X86_PF_RSVD);
}

/* ======================================================================
 * GMET (Guest Mode Execute Trap): the guest's CPL counts in the nested walk
 * ====================================================================== */

/* The leaf of DATA_GPA's nested entry with U (bit 2) set or clear. */
static void nested_leaf_user(bool user)
{
    uint64_t e = rd64(N_PT + (DATA_GPA >> 12) * 8);
    wr64(N_PT + (DATA_GPA >> 12) * 8, user ? e | X86_PTE_US : e & ~X86_PTE_US);
}

Test(mmu_nested_walk, without_gmet_every_access_is_a_user_access)
{
    set_nested(X86_EFER_NXE, 0);
    nested_leaf_user(false);
    cpu.cpl = 0;
    expect_npf(DATA_GPA, ACC_READ, false, NPF_FINAL | X86_PF_P | X86_PF_U);
}

Test(mmu_nested_walk, gmet_refuses_a_supervisor_fetch_from_a_user_page)
{
    set_nested(X86_EFER_NXE, 0);
    cpu.npt_gmet = true;
    cpu.cpl = 0;
    expect_npf(DATA_GPA, ACC_EXEC, false, NPF_FINAL | X86_PF_P | X86_PF_I);
    cr_expect(nested_access(DATA_GPA, ACC_READ, false), "GMET refused a supervisor read");
    cpu.cpl = 3;
    cr_expect(nested_access(DATA_GPA, ACC_EXEC, false), "GMET refused a user fetch");
}

Test(mmu_nested_walk, gmet_lets_a_supervisor_use_a_supervisor_page_and_refuses_cpl3)
{
    set_nested(X86_EFER_NXE, 0);
    cpu.npt_gmet = true;
    nested_leaf_user(false);
    cpu.cpl = 0;
    cr_expect(nested_access(DATA_GPA, ACC_EXEC, false), "a supervisor fetch of a U=0 page faulted");
    cr_expect(nested_access(DATA_GPA, ACC_WRITE, true), "a guest page-table access faulted");
    cpu.cpl = 3;
    expect_npf(DATA_GPA, ACC_READ, false, NPF_FINAL | X86_PF_P | X86_PF_U);
}
