/* test_cpu_context.c — the CPU's translation contexts (src/cpu/cpu.c
 * context_enter/context_leave, the soft TLB and decode cache in mmu.c and
 * decode.c) as a host sees them: several VMCBs with their own ASIDs and page
 * tables run one after another on one CPU with cpu_run(), and every run must
 * see its own translations and its own code.
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (4 MiB of RAM, a GDT,
 * eight sets of page tables that map the first 2 MiB with 4 KiB pages, six
 * VMCBs) and one test per behaviour: ASID separation of the TLB and of
 * decoded blocks, paging state as part of a context's key, TLB_CONTROL,
 * self-modifying code across contexts, context eviction and a guest's own
 * MOV CR3.
 * Must not: use src/hv. Every expectation is guest-visible state (registers,
 * memory bytes, exit codes) written as exact values so each test can fail.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define NVMS 6
#define RIG_VMCBS struct vmcb *vm[NVMS]
#include "cpu_fixture.h"

/* ---- guest physical layout: the GDT, IDT and stack of cpu_fixture.h; the
 * page tables are this file's own, at ROOT(i) */

#define RAM_SIZE (4ull << 20)
#define CODE_LA 0x10000ull      /* every guest starts here */
#define CODE_GPA 0x10000ull     /* ... which the tables map 1:1 unless told */
#define CODE_B_GPA 0x18000ull   /* other code for the same linear RIP */
#define CODE_C_GPA 0x19000ull
#define ALIAS_LA 0x30000ull     /* a second linear view of CODE_GPA */
#define DATA_LA 0x40000ull      /* the one linear data address */
#define DATA_PAGE(i) (0x50000ull + (uint64_t)(i) * 0x1000) /* i < 8 */
#define CTX_CODE_GPA(i) (0x60000ull + (uint64_t)(i) * 0x1000) /* i < 8 */
#define ROOT(i) (0x100000ull + (uint64_t)(i) * 0x4000) /* PML4, PDPT, PD, PT */
#define NROOTS 8

/* What each data page holds; the 1:1 page at DATA_LA holds something else. */
#define DATA_VAL(i) (0xda7a000000000000ull | ((uint64_t)(i) + 1) * 0x11111111ull)
#define IDENTITY_VAL 0x1d1d1d1d1d1d1d1dull

#define A 0
#define B 1

static const struct cpu_model default_model = CPU_FIXTURE_MODEL(0x300000ull, 0x30ffffull);

/* One set of page tables at root: the first 2 MiB 1:1 with 4 KiB pages
 * (so that single pages can be remapped), the next 2 MiB 1:1 with one
 * 2 MiB page, and DATA_LA mapped to DATA_PAGE(data); every entry with
 * the flags extra too. */
static void write_tables(uint64_t root, unsigned data, uint64_t extra)
{
    static uint64_t pt[512];
    const uint64_t rw = X86_PTE_P | X86_PTE_RW | extra;
    phys_write_u64(root, (root + 0x1000) | rw);
    phys_write_u64(root + 0x1000, (root + 0x2000) | rw);
    phys_write_u64(root + 0x2000, (root + 0x3000) | rw);
    phys_write_u64(root + 0x2008, (1ull << 21) | rw | X86_PTE_PS);
    for (uint64_t i = 0; i < 512; i++)
        pt[i] = (i << 12) | rw;
    pt[DATA_LA >> 12] = DATA_PAGE(data) | rw;
    phys_write(root + 0x3000, pt, sizeof(pt));
}

/* Points the 4 KiB page at la (below 2 MiB) to pa in root's tables. */
static void map_page(uint64_t root, uint64_t la, uint64_t pa)
{
    cr_assert_lt(la, 1ull << 21);
    phys_write_u64(root + 0x3000 + (la >> 12) * 8, pa | X86_PTE_P | X86_PTE_RW);
}

/* The code every guest runs unless a test gives it other code:
 *   mov rax, [DATA_LA]
 *   hlt */
static void write_read_code(uint64_t gpa)
{
    GUEST_CODE(gpa, 0x48, 0x8b, 0x04, 0x25, LE32(DATA_LA), 0xf4);
}

#define READ_CODE_HLT (CODE_LA + 8)

/* VM v: ASID v + 1, its own page tables ROOT(v) with DATA_LA on
 * DATA_PAGE(v), RIP at CODE_LA; VMRUN (as VMRUN's checks require), HLT and
 * VMMCALL intercepted. */
static void rig_setup(void)
{
    rig_init(RAM_SIZE, &default_model);
    write_gdt();
    for (unsigned i = 0; i < NROOTS; i++) {
        write_tables(ROOT(i), i, 0);
        phys_write_u64(DATA_PAGE(i), DATA_VAL(i));
    }
    phys_write_u64(DATA_LA, IDENTITY_VAL);
    write_read_code(CODE_GPA);
    for (unsigned v = 0; v < NVMS; v++) {
        struct vmcb *vmcb = alloc_vmcb(v + 1, ROOT(v));
        vmcb->save.rip = CODE_LA;
        set_intercept(vmcb, SVM_EXIT_HLT);
        set_intercept(vmcb, SVM_EXIT_VMMCALL);
        rig.vm[v] = vmcb;
    }
}

static void rig_teardown(void)
{
    for (unsigned v = 0; v < NVMS; v++)
        free(rig.vm[v]);
    rig_fini();
}

TestSuite(cpu_context, .init = rig_setup, .fini = rig_teardown);

/* Runs VM v from rip until the #VMEXIT the test expects. RAX, RCX and RDX
 * are poisoned first (the CPU keeps the other GPRs across runs, as a
 * hypervisor would restore them), so a value there comes from this run. */
static void run_vm_at(unsigned v, uint64_t rip, uint64_t exit_code)
{
    struct vmcb *vmcb = rig.vm[v];
    vmcb->save.rip = rip;
    vmcb->save.rax = POISON;
    rig.cpu.gpr[1] = POISON;
    rig.cpu.gpr[2] = POISON;
    uint64_t budget = 10000;
    cr_assert_eq(cpu_run(&rig.cpu, vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT,
                 "VM %u ran out of budget", v);
    cr_assert_eq(vmcb->control.exit_code, exit_code,
                 "VM %u exited with 0x%llx, expected 0x%llx", v,
                 (unsigned long long)vmcb->control.exit_code, (unsigned long long)exit_code);
}

static void run_vm(unsigned v, uint64_t exit_code)
{
    run_vm_at(v, CODE_LA, exit_code);
}

/* Runs VM v over the read code and checks it read its own data page. */
static void expect_reads(unsigned v, uint64_t val)
{
    run_vm(v, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[v]->save.rip, READ_CODE_HLT);
    cr_assert_eq(rig.vm[v]->save.rax, val, "VM %u read 0x%llx at DATA_LA, expected 0x%llx", v,
                 (unsigned long long)rig.vm[v]->save.rax, (unsigned long long)val);
}

/* ---- 1. the TLB is per ASID */

Test(cpu_context, two_asids_keep_their_own_translation_of_one_linear_address)
{
    for (unsigned round = 0; round < 3; round++) {
        expect_reads(A, DATA_VAL(A));
        expect_reads(B, DATA_VAL(B));
    }
    expect_reads(A, DATA_VAL(A));
}

/* ---- 2. decoded blocks are per ASID */

Test(cpu_context, two_asids_execute_their_own_code_at_one_linear_rip)
{
    /* A (CODE_GPA)                B (CODE_B_GPA, same linear RIP)
     *   mov eax, 0xaaaa0001         mov eax, 0xbbbb0001
     *   mov ecx, 0xaaaa0002         mov ecx, 0xbbbb0002
     *   vmmcall                     vmmcall */
    GUEST_CODE(CODE_GPA, 0xb8, LE32(0xaaaa0001u), 0xb9, LE32(0xaaaa0002u), 0x0f, 0x01, 0xd9);
    GUEST_CODE(CODE_B_GPA, 0xb8, LE32(0xbbbb0001u), 0xb9, LE32(0xbbbb0002u), 0x0f, 0x01, 0xd9);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
    for (unsigned round = 0; round < 3; round++) {
        run_vm(A, SVM_EXIT_VMMCALL);
        cr_assert_eq(rig.vm[A]->save.rax, 0xaaaa0001u, "round %u", round);
        cr_assert_eq(rig.cpu.gpr[1], 0xaaaa0002u, "round %u", round);
        cr_assert_eq(rig.vm[A]->save.rip, CODE_LA + 10);
        cr_assert_eq(rig.vm[A]->control.next_rip, CODE_LA + 13);
        run_vm(B, SVM_EXIT_VMMCALL);
        cr_assert_eq(rig.vm[B]->save.rax, 0xbbbb0001u, "round %u", round);
        cr_assert_eq(rig.cpu.gpr[1], 0xbbbb0002u, "round %u", round);
        cr_assert_eq(rig.vm[B]->save.rip, CODE_LA + 10);
    }
}

/* ---- 3. a context is keyed by its paging state, not only its ASID */

/* Under ROOT(A) (CODE_GPA) and ROOT(B) (CODE_B_GPA):
 *   mov rax, [DATA_LA]
 *   mov ecx, tag
 *   hlt */
static void write_tagged_read_code(uint64_t gpa, uint32_t tag)
{
    GUEST_CODE(gpa, 0x48, 0x8b, 0x04, 0x25, LE32(DATA_LA), 0xb9, LE32(tag), 0xf4);
}

static void expect_tagged_read(unsigned v, uint64_t val, uint32_t tag)
{
    run_vm(v, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[v]->save.rax, val, "VM %u read 0x%llx, expected 0x%llx", v,
                 (unsigned long long)rig.vm[v]->save.rax, (unsigned long long)val);
    cr_assert_eq(rig.cpu.gpr[1], tag, "VM %u ran code 0x%llx, expected 0x%x", v,
                 (unsigned long long)rig.cpu.gpr[1], tag);
    cr_assert_eq(rig.vm[v]->save.rip, CODE_LA + 13);
}

Test(cpu_context, one_asid_run_with_a_new_cr3_sees_the_new_mapping_of_data_and_code)
{
    write_tagged_read_code(CODE_GPA, 0xa);
    write_tagged_read_code(CODE_B_GPA, 0xb);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
    expect_tagged_read(A, DATA_VAL(A), 0xa);
    /* The host moves A onto B's page tables: same ASID, no TLB_CONTROL. */
    rig.vm[A]->save.cr3 = ROOT(B);
    expect_tagged_read(A, DATA_VAL(B), 0xb);
    rig.vm[A]->save.cr3 = ROOT(A);
    expect_tagged_read(A, DATA_VAL(A), 0xa);
    rig.vm[A]->save.cr3 = ROOT(B);
    expect_tagged_read(A, DATA_VAL(B), 0xb);
}

Test(cpu_context, two_vmcbs_sharing_an_asid_with_different_cr3s_each_see_their_own_mapping)
{
    write_tagged_read_code(CODE_GPA, 0xa);
    write_tagged_read_code(CODE_B_GPA, 0xb);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
    rig.vm[B]->control.asid = rig.vm[A]->control.asid;
    for (unsigned round = 0; round < 3; round++) {
        expect_tagged_read(A, DATA_VAL(A), 0xa);
        expect_tagged_read(B, DATA_VAL(B), 0xb);
    }
}

/* ---- 4. TLB_CONTROL */

/* A reads DATA_LA once (its TLB now holds the translation), then the host
 * points A's PTE for DATA_LA at DATA_PAGE(2) without telling the CPU. A run
 * without TLB_CONTROL may see either page. */
static void remap_a_data_page_behind_the_tlb(void)
{
    expect_reads(A, DATA_VAL(A));
    map_page(ROOT(A), DATA_LA, DATA_PAGE(2));
    run_vm(A, SVM_EXIT_HLT);
    uint64_t seen = rig.vm[A]->save.rax;
    cr_assert(seen == DATA_VAL(A) || seen == DATA_VAL(2),
              "without a flush A read 0x%llx, neither the old nor the new page",
              (unsigned long long)seen);
}

Test(cpu_context, tlb_control_3_makes_a_changed_pte_visible_to_that_asid)
{
    remap_a_data_page_behind_the_tlb();
    rig.vm[A]->control.tlb_ctl = 3;
    expect_reads(A, DATA_VAL(2));
    rig.vm[A]->control.tlb_ctl = 0;
    expect_reads(A, DATA_VAL(2));
}

Test(cpu_context, tlb_control_1_makes_a_changed_pte_visible)
{
    remap_a_data_page_behind_the_tlb();
    rig.vm[A]->control.tlb_ctl = 1;
    expect_reads(A, DATA_VAL(2));
    rig.vm[A]->control.tlb_ctl = 0;
    expect_reads(A, DATA_VAL(2));
}

Test(cpu_context, tlb_control_3_on_one_asid_leaves_the_other_asid_running_correctly)
{
    expect_reads(B, DATA_VAL(B));
    remap_a_data_page_behind_the_tlb();
    rig.vm[A]->control.tlb_ctl = 3;
    expect_reads(A, DATA_VAL(2));
    expect_reads(B, DATA_VAL(B));
    rig.vm[A]->control.tlb_ctl = 0;
    expect_reads(A, DATA_VAL(2));
    expect_reads(B, DATA_VAL(B));
}

Test(cpu_context, tlb_control_1_on_one_asid_flushes_the_other_asids_translations_too)
{
    expect_reads(A, DATA_VAL(A));
    expect_reads(B, DATA_VAL(B));
    /* B's PTE changes behind B's TLB; A's VMRUN asks for a flush of all. */
    map_page(ROOT(B), DATA_LA, DATA_PAGE(3));
    rig.vm[A]->control.tlb_ctl = 1;
    expect_reads(A, DATA_VAL(A));
    rig.vm[A]->control.tlb_ctl = 0;
    expect_reads(B, DATA_VAL(3));
}

/* ---- 5. self-modifying code across contexts */

/* A (CODE_GPA):              B (CODE_B_GPA at CODE_LA; ALIAS_LA -> CODE_GPA):
 *   mov eax, 0x11111111        mov [ALIAS_LA + 1], esi   ; A's immediate
 *   hlt                        hlt */
static void write_smc_code(void)
{
    GUEST_CODE(CODE_GPA, 0xb8, LE32(0x11111111u), 0xf4);
    GUEST_CODE(CODE_B_GPA, 0x89, 0x34, 0x25, LE32(ALIAS_LA + 1), 0xf4);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
    map_page(ROOT(B), ALIAS_LA, CODE_GPA);
}

static void expect_a_loads(uint32_t imm)
{
    run_vm(A, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[A]->save.rip, CODE_LA + 5);
    cr_assert_eq(rig.vm[A]->save.rax, imm, "A loaded 0x%llx, its code now says 0x%x",
                 (unsigned long long)rig.vm[A]->save.rax, imm);
}

static void b_writes_a_immediate(uint32_t imm)
{
    rig.cpu.gpr[6] = imm;
    run_vm(B, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[B]->save.rip, CODE_LA + 7);
    cr_assert_eq(phys_read_u32(CODE_GPA + 1), imm);
}

Test(cpu_context, another_asid_writing_the_code_through_its_own_mapping_changes_what_runs_next)
{
    write_smc_code();
    expect_a_loads(0x11111111u);
    b_writes_a_immediate(0x22222222u);
    expect_a_loads(0x22222222u);
    b_writes_a_immediate(0x33333333u);
    expect_a_loads(0x33333333u);
}

Test(cpu_context, a_writable_translation_filled_before_the_code_was_decoded_does_not_bypass_smc)
{
    write_smc_code();
    /* B's TLB gets a writable entry for the page before it holds code... */
    b_writes_a_immediate(0x44444444u);
    /* ... then A decodes from it, and B writes again through that entry. */
    expect_a_loads(0x44444444u);
    b_writes_a_immediate(0x55555555u);
    expect_a_loads(0x55555555u);
    b_writes_a_immediate(0x66666666u);
    expect_a_loads(0x66666666u);
}

Test(cpu_context, a_host_write_while_another_asid_ran_last_changes_what_runs_next)
{
    write_smc_code();
    write_read_code(CODE_C_GPA);
    map_page(ROOT(2), CODE_LA, CODE_C_GPA);
    expect_a_loads(0x11111111u);
    expect_reads(2, DATA_VAL(2)); /* another context is the running one */
    const uint32_t imm = 0x77777777u;
    phys_write(CODE_GPA + 1, &imm, sizeof(imm)); /* with cpu_notify_phys_write */
    expect_a_loads(0x77777777u);
}

/* ---- 6. more ASIDs than contexts */

Test(cpu_context, six_asids_round_robin_on_four_contexts_each_see_their_own_data_and_code)
{
    _Static_assert(NVMS > CPU_CONTEXTS, "more VMs than contexts");
    /* VM v's tables map CODE_LA to CTX_CODE_GPA(v):
     *   mov ecx, 0xc0de0000 + v
     *   mov rax, [DATA_LA]
     *   hlt */
    for (unsigned v = 0; v < NVMS; v++) {
        GUEST_CODE(CTX_CODE_GPA(v), 0xb9, LE32(0xc0de0000u + v), 0x48, 0x8b, 0x04, 0x25,
                   LE32(DATA_LA), 0xf4);
        map_page(ROOT(v), CODE_LA, CTX_CODE_GPA(v));
    }
    /* Round robin (every VMRUN evicts), then a mix that revisits recent ones. */
    static const unsigned order[] = { 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5,
                                      5, 4, 3, 2, 1, 0, 0, 2, 0, 4, 0, 5, 1, 5, 3, 3, 2, 1 };
    for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        unsigned v = order[k];
        run_vm(v, SVM_EXIT_HLT);
        cr_assert_eq(rig.vm[v]->save.rip, CODE_LA + 13, "run %u (VM %u)", k, v);
        cr_assert_eq(rig.cpu.gpr[1], 0xc0de0000u + v, "run %u: VM %u ran VM %llu's code", k, v,
                     (unsigned long long)(rig.cpu.gpr[1] - 0xc0de0000u));
        cr_assert_eq(rig.vm[v]->save.rax, DATA_VAL(v), "run %u: VM %u read 0x%llx", k, v,
                     (unsigned long long)rig.vm[v]->save.rax);
    }
}

Test(cpu_context, a_new_asid_taking_over_an_evicted_context_does_not_inherit_its_translations)
{
    /* VM 4 (ASID 5, never run) gets VM 0's page tables; the host changes
     * them after VM 0 ran. VMs 0-3 fill the four contexts, so VM 4 takes
     * VM 0's, the least recently used, with the same paging state. */
    write_tagged_read_code(CODE_GPA, 0xa);
    write_tagged_read_code(CODE_B_GPA, 0xb);
    for (unsigned v = 0; v < CPU_CONTEXTS; v++)
        expect_tagged_read(v, DATA_VAL(v), 0xa);
    map_page(ROOT(0), DATA_LA, DATA_PAGE(7));
    map_page(ROOT(0), CODE_LA, CODE_B_GPA);
    rig.vm[4]->save.cr3 = ROOT(0);
    expect_tagged_read(4, DATA_VAL(7), 0xb);
}

/* ---- 7. a guest's own MOV CR3 */

/* A under ROOT(A) (CODE_GPA) and under ROOT(2) (CODE_C_GPA):
 *   mov rax, [DATA_LA]
 *   mov cr3, rbx
 *   mov rdx, [DATA_LA]
 *   mov ecx, 0xa / 0xc      ; the bytes after MOV CR3 come from the new tables
 *   hlt
 * B runs the read code from its own page (CODE_B_GPA). */
static void write_mov_cr3_code(void)
{
#define MOV_CR3_CODE(tag) \
    0x48, 0x8b, 0x04, 0x25, LE32(DATA_LA), 0x0f, 0x22, 0xdb, 0x48, 0x8b, 0x14, 0x25, \
        LE32(DATA_LA), 0xb9, LE32(tag), 0xf4
    GUEST_CODE(CODE_GPA, MOV_CR3_CODE(0xau));
    GUEST_CODE(CODE_C_GPA, MOV_CR3_CODE(0xcu));
#undef MOV_CR3_CODE
    map_page(ROOT(2), CODE_LA, CODE_C_GPA);
    write_read_code(CODE_B_GPA);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
}

static void expect_mov_cr3_run(uint64_t new_cr3, uint64_t before, uint64_t after, uint32_t tag)
{
    rig.cpu.gpr[3] = new_cr3;
    run_vm(A, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[A]->save.rip, CODE_LA + 24);
    cr_assert_eq(rig.vm[A]->save.rax, before, "before MOV CR3: 0x%llx, expected 0x%llx",
                 (unsigned long long)rig.vm[A]->save.rax, (unsigned long long)before);
    cr_assert_eq(rig.cpu.gpr[2], after, "after MOV CR3: 0x%llx, expected 0x%llx",
                 (unsigned long long)rig.cpu.gpr[2], (unsigned long long)after);
    cr_assert_eq(rig.cpu.gpr[1], tag, "the code after MOV CR3 was 0x%llx's, expected 0x%x's",
                 (unsigned long long)rig.cpu.gpr[1], tag);
    cr_assert_eq(rig.vm[A]->save.cr3, new_cr3);
}

Test(cpu_context, a_guest_mov_cr3_switches_its_mapping_at_once_and_leaves_the_other_asid_alone)
{
    write_mov_cr3_code();
    expect_reads(B, DATA_VAL(B));
    /* MOV CR3 to the same tables: the code after it is now decoded. */
    expect_mov_cr3_run(ROOT(A), DATA_VAL(A), DATA_VAL(A), 0xa);
    expect_reads(B, DATA_VAL(B));
    /* MOV CR3 to other tables: data and code after it come through them. */
    expect_mov_cr3_run(ROOT(2), DATA_VAL(A), DATA_VAL(2), 0xc);
    expect_reads(B, DATA_VAL(B));
    /* A again, entered with the CR3 it left with. */
    expect_mov_cr3_run(ROOT(2), DATA_VAL(2), DATA_VAL(2), 0xc);
    expect_reads(B, DATA_VAL(B));
}

Test(cpu_context, the_host_putting_back_the_cr3_a_guest_moved_away_from_sees_that_mapping)
{
    write_mov_cr3_code();
    /* Entered with ROOT(A), left with ROOT(2)... */
    expect_mov_cr3_run(ROOT(2), DATA_VAL(A), DATA_VAL(2), 0xc);
    /* ... and the host enters it with ROOT(A) again, no TLB_CONTROL. */
    rig.vm[A]->save.cr3 = ROOT(A);
    expect_mov_cr3_run(ROOT(A), DATA_VAL(A), DATA_VAL(A), 0xa);
}

/* ---- self-modifying code inside one block */

/* A at CODE_LA (CODE_GPA):
 *   mov [CODE_LA + 8], esi     ; the immediate of the next instruction
 *   mov eax, 0x11111111
 *   hlt
 * and at CODE_LA + 0x800:
 *   vmmcall */
#define SMC_BLOCK_HLT (CODE_LA + 12)
#define OTHER_LA (CODE_LA + 0x800)
static void write_in_block_smc_code(void)
{
    GUEST_CODE(CODE_GPA, 0x89, 0x34, 0x25, LE32(CODE_LA + 8), 0xb8, LE32(0x11111111u), 0xf4);
    GUEST_CODE(CODE_GPA + 0x800, 0x0f, 0x01, 0xd9);
    GUEST_CODE(CODE_B_GPA, 0x0f, 0x01, 0xd9); /* B: vmmcall */
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
}

static void expect_in_block_smc(uint32_t imm)
{
    rig.cpu.gpr[6] = imm;
    run_vm(A, SVM_EXIT_HLT);
    cr_assert_eq(rig.vm[A]->save.rip, SMC_BLOCK_HLT);
    cr_assert_eq(phys_read_u32(CODE_GPA + 8), imm);
    cr_assert_eq(rig.vm[A]->save.rax, imm, "A loaded 0x%llx after storing 0x%x into the load",
                 (unsigned long long)rig.vm[A]->save.rax, imm);
}

Test(cpu_context, a_store_into_the_running_block_changes_the_instruction_after_it)
{
    write_in_block_smc_code();
    run_vm_at(A, OTHER_LA, SVM_EXIT_VMMCALL);
    run_vm(B, SVM_EXIT_VMMCALL);
    expect_in_block_smc(0x22222222u);
    run_vm(B, SVM_EXIT_VMMCALL);
    expect_in_block_smc(0x33333333u);
}

/* BUG (src/cpu/decode.c new_gen, src/cpu/exec.c cpu_exec): when the
 * decode generation counter wraps, new_gen() zeroes every block and hands
 * out generations from 1 again, so the running context can get back the
 * very number it had before the flush. cpu_exec's fast path notices a flush
 * under the running block only by cpu->icache_gen changing; here it does
 * not change (A's context had generation 5, the first handed out after
 * cpu_init; icache_flush_all wraps at A's index and gives it 5 again), so
 * the loop goes on to the next insn of the block new_gen() has just zeroed
 * and calls its NULL handler (SIGSEGV). B's flushes stand in for the 2^32
 * flushes that wrap the counter in a long run. Expected (APM: a store to an
 * instruction ahead is seen by its fetch): EAX = the stored immediate. */
Test(cpu_context, a_store_into_the_running_block_works_when_its_flush_wraps_the_decode_generation)
{
    write_in_block_smc_code();
    run_vm_at(A, OTHER_LA, SVM_EXIT_VMMCALL); /* A's context: its first generation */
    unsigned a_ctx = rig.cpu.context;
    /* White box: B's two flushes leave the counter so that the store's
     * icache_flush_all wraps it when it reaches A's context. */
    rig.cpu.gen_next = 0u - a_ctx - 2u;
    run_vm(B, SVM_EXIT_VMMCALL); /* fresh context: flushed */
    rig.vm[B]->control.tlb_ctl = 3;
    run_vm(B, SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.cpu.gen_next, 0u - a_ctx);
    /* The store flushes every context's decodes and wraps the counter. */
    expect_in_block_smc(0x44444444u);
    expect_in_block_smc(0x55555555u);
}

/* ---- decode generations wrapping around */

Test(cpu_context, decode_generations_wrapping_around_forget_blocks_decoded_before_the_wrap)
{
    /* A's CODE_LA first maps CODE_GPA, then CODE_B_GPA:
     *   mov eax, 0xaaaa0001 / 0xaaaa0002
     *   vmmcall
     * and both pages have a vmmcall at +0x800. */
    GUEST_CODE(CODE_GPA, 0xb8, LE32(0xaaaa0001u), 0x0f, 0x01, 0xd9);
    GUEST_CODE(CODE_B_GPA, 0xb8, LE32(0xaaaa0002u), 0x0f, 0x01, 0xd9);
    GUEST_CODE(CODE_GPA + 0x800, 0x0f, 0x01, 0xd9);
    GUEST_CODE(CODE_B_GPA + 0x800, 0x0f, 0x01, 0xd9);
    run_vm(A, SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vm[A]->save.rax, 0xaaaa0001u);
    /* The host remaps A's code and flushes with TLB_CONTROL; A runs
     * elsewhere while its generations run out and wrap. */
    map_page(ROOT(A), CODE_LA, CODE_B_GPA);
    rig.cpu.gen_next = UINT32_MAX - 1; /* white box */
    rig.vm[A]->control.tlb_ctl = 3;
    for (unsigned i = 0; i < 3; i++)
        run_vm_at(A, OTHER_LA, SVM_EXIT_VMMCALL);
    rig.vm[A]->control.tlb_ctl = 0;
    run_vm(A, SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.vm[A]->save.rax, 0xaaaa0002u, "A ran the code it had before the remap");
}

Test(cpu_context, decode_generations_wrapping_around_keep_each_asid_on_its_own_code)
{
    GUEST_CODE(CODE_GPA, 0xb8, LE32(0xaaaa0001u), 0x0f, 0x01, 0xd9); /* mov eax, ..; vmmcall */
    GUEST_CODE(CODE_B_GPA, 0xb8, LE32(0xbbbb0001u), 0x0f, 0x01, 0xd9);
    map_page(ROOT(B), CODE_LA, CODE_B_GPA);
    run_vm(A, SVM_EXIT_VMMCALL);
    run_vm(B, SVM_EXIT_VMMCALL);
    /* White box: the next few flushes hand out the last generations. */
    rig.cpu.gen_next = UINT32_MAX - 3;
    for (unsigned round = 0; round < 8; round++) {
        rig.vm[A]->control.tlb_ctl = (round & 1) ? 3 : 0;
        rig.vm[B]->control.tlb_ctl = (round & 2) ? 3 : 0;
        run_vm(A, SVM_EXIT_VMMCALL);
        cr_assert_eq(rig.vm[A]->save.rax, 0xaaaa0001u, "round %u", round);
        run_vm(B, SVM_EXIT_VMMCALL);
        cr_assert_eq(rig.vm[B]->save.rax, 0xbbbb0001u, "round %u", round);
    }
}

/* ---- 6. instruction fetch through the TLB: its own permission */

#define NX_LA 0x20000ull   /* a 1:1 page the tests make no-execute */
#define FETCH_LA 0x21000ull

static void set_nx(uint64_t root, uint64_t la)
{
    phys_write_u64(root + 0x3000 + (la >> 12) * 8, la | X86_PTE_P | X86_PTE_RW | X86_PTE_NX);
}

/* VM A with EFER.NXE and #PF intercepted. */
static void nx_vm(void)
{
    rig.vm[A]->save.efer |= X86_EFER_NXE;
    set_intercept(rig.vm[A], SVM_EXIT_EXCP_BASE + X86_VEC_PF);
}

Test(cpu_context, a_read_translation_of_a_no_execute_page_does_not_let_a_fetch_through)
{
    nx_vm();
    set_nx(ROOT(A), NX_LA);
    GUEST_CODE(NX_LA, 0xf4); /* hlt, never to run */
    /* mov rax, [NX_LA]; mov ecx, NX_LA; jmp rcx */
    GUEST_CODE(CODE_GPA, 0x48, 0x8b, 0x04, 0x25, LE32(NX_LA), 0xb9, LE32(NX_LA), 0xff, 0xe1);
    run_vm(A, SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_expect_eq(rig.vm[A]->save.rax, 0xf4, "the read went through");
    cr_expect_eq(rig.vm[A]->control.exit_info_2, NX_LA);
    cr_expect_eq(rig.vm[A]->control.exit_info_1, X86_PF_P | X86_PF_I);
}

Test(cpu_context, a_cached_fetch_translation_goes_with_tlb_control)
{
    nx_vm();
    GUEST_CODE(FETCH_LA, 0xf4);
    run_vm_at(A, FETCH_LA, SVM_EXIT_HLT);
    set_nx(ROOT(A), FETCH_LA);
    rig.vm[A]->control.tlb_ctl = 3;
    run_vm_at(A, FETCH_LA, SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_expect_eq(rig.vm[A]->control.exit_info_2, FETCH_LA);
    cr_expect_eq(rig.vm[A]->control.exit_info_1, X86_PF_P | X86_PF_I);
}

Test(cpu_context, a_cached_fetch_translation_goes_with_a_guest_invlpg)
{
    nx_vm();
    /* invlpg [FETCH_LA]; mov ecx, FETCH_LA; jmp rcx */
    GUEST_CODE(CODE_GPA, 0x0f, 0x01, 0x3c, 0x25, LE32(FETCH_LA), 0xb9, LE32(FETCH_LA), 0xff, 0xe1);
    GUEST_CODE(FETCH_LA, 0xf4);
    run_vm_at(A, FETCH_LA, SVM_EXIT_HLT);
    set_nx(ROOT(A), FETCH_LA);
    run_vm(A, SVM_EXIT_EXCP_BASE + X86_VEC_PF);
    cr_expect_eq(rig.vm[A]->control.exit_info_2, FETCH_LA);
}

/* ---- 7. the nested walk's host state is part of a context's key */

#define NPT_ROOT ROOT(7)

/* The nested entry of the page of the data VM A reads. */
#define NPT_DATA_PTE (NPT_ROOT + 0x3000 + (DATA_PAGE(A) >> 12) * 8)

/* VM A under nested paging: tables at NPT_ROOT that map its guest
 * physical pages 1:1 as user pages (the nested walk's accesses are user
 * accesses), with the page of the data VM A reads no-execute; the host's
 * EFER and CR4 for the nested walk given. */
static void npt_vm(uint64_t hefer)
{
    write_tables(NPT_ROOT, 7, X86_PTE_US); /* its DATA_LA page is none of VM A's */
    phys_write_u64(NPT_DATA_PTE, phys_read_u64(NPT_DATA_PTE) | X86_PTE_NX);
    rig.cpu.model.np = true;
    rig.vm[A]->control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    rig.vm[A]->control.nested_cr3 = NPT_ROOT;
    cpu_set_npt_host(&rig.cpu, X86_EFER_LME | X86_EFER_LMA | hefer, X86_CR4_PAE);
}

Test(cpu_context, a_host_dropping_efer_nxe_makes_the_nested_nx_bit_reserved_at_the_next_vmrun)
{
    npt_vm(X86_EFER_NXE);
    expect_reads(A, DATA_VAL(A)); /* NX holds off fetches only */
    /* The same ASID and guest paging state, but bit 63 of a nested entry
     * is now reserved: the translation cached under NXE must not stand. */
    cpu_set_npt_host(&rig.cpu, X86_EFER_LME | X86_EFER_LMA, X86_CR4_PAE);
    run_vm(A, SVM_EXIT_NPF);
    cr_expect_eq(rig.vm[A]->control.exit_info_2, DATA_PAGE(A));
    cr_expect_eq(rig.vm[A]->control.exit_info_1 & (X86_PF_P | X86_PF_RSVD),
                 X86_PF_P | X86_PF_RSVD);
}

Test(cpu_context, a_host_setting_efer_nxe_makes_a_nested_nx_page_refuse_fetches_at_the_next_vmrun)
{
    npt_vm(0);
    /* The data page is clean of NX for this run: the host has no NXE, and
     * the entry's bit 63 would be reserved. Run code there once. */
    phys_write_u64(NPT_DATA_PTE, DATA_PAGE(A) | X86_PTE_P | X86_PTE_RW | X86_PTE_US);
    GUEST_CODE(DATA_PAGE(A), 0xf4); /* hlt at DATA_LA */
    run_vm_at(A, DATA_LA, SVM_EXIT_HLT);
    /* The host sets NXE and the page becomes no-execute, under a VMRUN
     * with everything else as it was: the cached fetch must not stand. */
    phys_write_u64(NPT_DATA_PTE, DATA_PAGE(A) | X86_PTE_P | X86_PTE_RW | X86_PTE_US | X86_PTE_NX);
    cpu_set_npt_host(&rig.cpu, X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE, X86_CR4_PAE);
    run_vm_at(A, DATA_LA, SVM_EXIT_NPF);
    cr_expect_eq(rig.vm[A]->control.exit_info_2, DATA_PAGE(A));
    cr_expect_eq(rig.vm[A]->control.exit_info_1 & X86_PF_I, X86_PF_I);
}
