/* test_cpu_code.c — the CPU's decoded-block cache and its self-modifying
 * code detection (src/cpu/decode.c block_fill, block_lookup_slow,
 * blocks_forget; src/cpu/exec.c block_lookup, cpu_exec; src/cpu/mmu.c
 * mmu_mark_code, code_store, cpu_notify_phys_write), as the comment above
 * BLOCK_MAX in src/cpu/cpu.h states them: blocks in BLOCK_SETS sets of
 * BLOCK_WAYS, an arena that starts again when full, code marked by 64-byte
 * line, and a store into code lines killing the blocks of that page only.
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (64 MiB of RAM mapped
 * 1:1 by 2 MiB pages, a GDT, one 64-bit ring-0 VMCB with VMRUN, HLT and
 * VMMCALL intercepted) and one test per behaviour: data beside code, stores
 * into code lines of the running page and block, per-page invalidation, host
 * writes, big code, the arena starting again, more code pages than the mark
 * table holds, and set associativity.
 * Must not: use src/hv or touch any file but this one. Every test checks
 * exact guest-visible values (registers, memory, exit RIP) and, where the
 * point is the cache, white-box state (cpu->decoded, cpu->arena_used,
 * cpu->code_epoch, cpu->page_gen[], the gmem code lines) so that each can
 * fail.
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

#define RAM_SIZE (64ull << 20)
#define LOOP_GPA 0x100000ull    /* a: loop with data beside it */
#define PATCH_GPA 0x101000ull   /* b: a loop patching another block */
#define AHEAD_GPA 0x102000ull   /* b: a block patching itself */
#define P_GPA 0x110000ull       /* c, d: code pages with their own page_gen slots */
#define Q_GPA 0x111000ull
#define W_GPA 0x112000ull       /* c: the writer */
#define SPAN_GPA 0x120000ull    /* c: a block across SPAN_GPA's page and the next */
#define R_GPA 0x141000ull       /* d: another code page */
#define SET_PAGE 0x300ull       /* f: pages 0x300.. hold blocks of one set */
#define BIG_GPA 0x400000ull     /* e: 200 KiB of straight-line code */
#define ARENA_GPA 0x800000ull   /* e: more instructions than the arena */
#define MANY_GPA 0x1000000ull   /* e: code on more pages than the mark table */
#define LAST_PAGE_GPA (RAM_SIZE - 0x1000)

#define VMMCALL 0x0f, 0x01, 0xd9

static const struct cpu_model default_model =
    CPU_FIXTURE_MODEL(0x7000000ull, 0x700ffffull); /* reserved above RAM */

/* mmu.c's page_gen slot of the page holding gpa. The tests that depend on
 * two pages having different slots assert it, and the ones that read a
 * slot also see it move when they expect, so a changed hash shows. */
static unsigned slot_of(uint64_t gpa)
{
    uint64_t page = gpa >> GMEM_PAGE_SHIFT;
    return (unsigned)((page * 0x9e3779b97f4a7c15ull) >> 52) & (PAGE_GEN_SLOTS - 1);
}

static uint32_t gen_of(uint64_t gpa)
{
    return rig.cpu.page_gen[slot_of(gpa)];
}

static uint64_t lines_of(uint64_t gpa)
{
    return gmem_code_lines(&rig.mem, gpa >> GMEM_PAGE_SHIFT);
}

/* RAM 1:1 with 2 MiB pages; one 64-bit ring-0 VMCB, ASID 1, with VMRUN,
 * HLT and VMMCALL intercepted. */
static void rig_setup(void)
{
    rig.vmcb = rig_init_long(RAM_SIZE, &default_model);
    set_intercept(rig.vmcb, SVM_EXIT_HLT);
}

static void rig_teardown(void)
{
    free(rig.vmcb);
    rig_fini();
}

TestSuite(cpu_code, .init = rig_setup, .fini = rig_teardown);

/* Runs the guest from rip with RAX = rax until VMMCALL, which must be at
 * exit_rip. Returns RAX. */
static uint64_t run_rax(uint64_t rip, uint64_t rax, uint64_t exit_rip)
{
    struct vmcb *vmcb = rig.vmcb;
    vmcb->save.rip = rip;
    vmcb->save.rax = rax;
    uint64_t budget = 2000000;
    cr_assert_eq(cpu_run(&rig.cpu, vmcb, rig.iopm, rig.msrpm, &budget), CPU_RUN_VMEXIT,
                 "the guest at 0x%llx ran out of budget", (unsigned long long)rip);
    cr_assert_eq(vmcb->control.exit_code, SVM_EXIT_VMMCALL,
                 "the guest at 0x%llx exited with 0x%llx at 0x%llx", (unsigned long long)rip,
                 (unsigned long long)vmcb->control.exit_code,
                 (unsigned long long)vmcb->save.rip);
    cr_assert_eq(vmcb->save.rip, exit_rip, "VMMCALL at 0x%llx, expected 0x%llx",
                 (unsigned long long)vmcb->save.rip, (unsigned long long)exit_rip);
    return vmcb->save.rax;
}

/* The same with RAX poisoned: a value there comes from this run. */
static uint64_t run(uint64_t rip, uint64_t exit_rip)
{
    return run_rax(rip, POISON, exit_rip);
}

/* ---- a. data beside code */

/* At LOOP_GPA, the cell at LOOP_GPA + 0xf00 (line 60; the code and the
 * 15 bytes fetched after its last instruction are all in line 0):
 *   0x00 mov ecx, 1000
 *   0x05 mov rax, [cell]
 *   0x0d add rax, 3
 *   0x11 mov [cell], rax
 *   0x19 dec ecx
 *   0x1b jnz 0x05
 *   0x1d vmmcall */
#define CELL_GPA (LOOP_GPA + 0xf00)
#define LOOP_EXIT (LOOP_GPA + 0x1d)

static void expect_loop_run(void)
{
    phys_write_u64(CELL_GPA, 0x1000);
    rig.cpu.gpr[1] = POISON;
    cr_assert_eq(run(LOOP_GPA, LOOP_EXIT), 0x1000 + 3 * 1000);
    cr_assert_eq(phys_read_u64(CELL_GPA), 0x1000 + 3 * 1000);
    cr_assert_eq(rig.cpu.gpr[1], 0);
}

Test(cpu_code, stores_to_data_beside_code_in_the_same_page_cost_no_decode)
{
    GUEST_CODE(LOOP_GPA, 0xb9, LE32(1000), 0x48, 0x8b, 0x04, 0x25, LE32(CELL_GPA), 0x48, 0x83,
               0xc0, 0x03, 0x48, 0x89, 0x04, 0x25, LE32(CELL_GPA), 0xff, 0xc9, 0x75, 0xe8, VMMCALL);
    uint32_t gen0 = gen_of(LOOP_GPA);
    cr_assert_eq(rig.cpu.decoded, 0);
    expect_loop_run();
    /* Three blocks, each decoded once: from 0x00 (6 insns, to the JNZ),
     * the loop from 0x05 (5) and the VMMCALL (1). 1000 stores into the
     * page moved nothing. */
    cr_assert_eq(rig.cpu.decoded, 12, "decoded %llu instructions",
                 (unsigned long long)rig.cpu.decoded);
    cr_assert_eq(gen_of(LOOP_GPA), gen0, "the stores moved the page's generation");
    cr_assert_eq(lines_of(LOOP_GPA), 0x1, "code lines 0x%llx",
                 (unsigned long long)lines_of(LOOP_GPA));
    cr_assert_eq(rig.mem.code_count, 1);
    /* Again (the host resets the cell: beside the code too): nothing new. */
    uint32_t epoch = rig.cpu.code_epoch;
    expect_loop_run();
    cr_assert_eq(rig.cpu.decoded, 12, "decoded %llu instructions",
                 (unsigned long long)rig.cpu.decoded);
    cr_assert_eq(rig.cpu.code_epoch, epoch);
    cr_assert_eq(gen_of(LOOP_GPA), gen0);
    cr_assert_eq(lines_of(LOOP_GPA), 0x1);
}

/* ---- b. stores into code lines of the running page */

/* At PATCH_GPA, with the patched block at target (t):
 *   0x00 xor edx, edx
 *   0x02 mov esi, 0x100
 *   0x07 mov [t + 1], esi        ; the immediate of t's MOV
 *   0x0e jmp t
 *   0x10 add esi, 0x100
 *   0x16 cmp esi, 0x400
 *   0x1c jne 0x07
 *   0x1e vmmcall
 *   t    mov eax, 0x11111111
 *   t+5  add edx, eax
 *   t+7  jmp 0x10
 * Three rounds: the block at t runs with 0x100, 0x200, 0x300; from the
 * second round on it was decoded before the store. */
#define PATCH_EXIT (PATCH_GPA + 0x1e)

static void write_patch_loop(unsigned t)
{
    cr_assert(t >= 0x21 && t < 0x90);
    GUEST_CODE(PATCH_GPA, 0x31, 0xd2, 0xbe, LE32(0x100), 0x89, 0x34, 0x25,
               LE32(PATCH_GPA + t + 1), 0xeb, (uint8_t)(t - 0x10), 0x81, 0xc6, LE32(0x100), 0x81,
               0xfe, LE32(0x400), 0x75, 0xe9, VMMCALL);
    GUEST_CODE(PATCH_GPA + t, 0xb8, LE32(0x11111111u), 0x01, 0xc2, 0xeb,
               (uint8_t)(0x10 - (t + 9)));
}

static void expect_patch_run(unsigned t, uint32_t stores_into_code)
{
    uint32_t gen0 = gen_of(PATCH_GPA);
    rig.cpu.gpr[2] = POISON;
    cr_assert_eq(run(PATCH_GPA, PATCH_EXIT), 0x300, "the last round ran the old immediate");
    cr_assert_eq(rig.cpu.gpr[2], 0x100 + 0x200 + 0x300, "EDX 0x%llx: a round ran a stale block",
                 (unsigned long long)rig.cpu.gpr[2]);
    cr_assert_eq(rig.cpu.gpr[6], 0x400);
    cr_assert_eq((uint32_t)phys_read_u64(PATCH_GPA + t + 1), 0x300);
    /* One generation per store into a code line, none for the others. */
    cr_assert_eq(gen_of(PATCH_GPA) - gen0, stores_into_code, "the page's generation moved %u",
                 gen_of(PATCH_GPA) - gen0);
    cr_assert_neq(lines_of(PATCH_GPA) & (1ull << (t / 64)), 0, "t's line is not code");
}

Test(cpu_code, a_store_into_another_line_of_the_page_changes_a_block_that_runs_later)
{
    /* t in line 2, the loop in line 0: the first store is into a line
     * that holds no code yet (t not decoded), so it moves nothing. */
    write_patch_loop(0x80);
    expect_patch_run(0x80, 2);
    cr_assert_eq(lines_of(PATCH_GPA), 0x5);
    expect_patch_run(0x80, 3);
}

Test(cpu_code, a_store_into_the_same_line_changes_a_block_that_runs_later)
{
    /* t right after the loop, in line 0 with it (and with the 15 bytes
     * fetched at its last instruction): every store is into a code line. */
    write_patch_loop(0x21);
    expect_patch_run(0x21, 3);
    cr_assert_eq(lines_of(PATCH_GPA), 0x1);
    expect_patch_run(0x21, 3);
}

/* At AHEAD_GPA, one straight-line block:
 *   0x00 mov eax, 1
 *   0x05 mov [AHEAD_GPA + 0x13], sil   ; the imm8 of the ADD at 0x11
 *   0x0d add eax, 2
 *   0x10 nop
 *   0x11 add eax, 0x10
 *   0x14 vmmcall */
static void expect_ahead_run(uint8_t imm)
{
    uint32_t gen0 = gen_of(AHEAD_GPA);
    rig.cpu.gpr[6] = imm;
    uint64_t rax = run(AHEAD_GPA, AHEAD_GPA + 0x14);
    cr_assert_eq(rax, 1 + 2 + imm, "EAX 0x%llx after storing 0x%x ahead in the running block",
                 (unsigned long long)rax, imm);
    cr_assert_eq((uint8_t)phys_read_u64(AHEAD_GPA + 0x13), imm);
    cr_assert_eq(gen_of(AHEAD_GPA), gen0 + 1);
}

Test(cpu_code, a_store_ahead_in_the_running_block_is_seen_by_the_next_fetch)
{
    GUEST_CODE(AHEAD_GPA, 0xb8, LE32(1), 0x40, 0x88, 0x34, 0x25, LE32(AHEAD_GPA + 0x13), 0x83,
               0xc0, 0x02, 0x90, 0x83, 0xc0, 0x10, VMMCALL);
    /* The whole block is decoded before its store runs, every time. */
    expect_ahead_run(0x20);
    expect_ahead_run(0x40);
    expect_ahead_run(0x7f);
    cr_assert_eq(lines_of(AHEAD_GPA), 0x1);
}

/* ---- c. per-page invalidation */

/* P: mov eax, imm; vmmcall      Q: mov ecx, imm; vmmcall
 * W: mov [target], esi; vmmcall */
static void write_writer(uint64_t target)
{
    GUEST_CODE(W_GPA, 0x89, 0x34, 0x25, LE32(target), VMMCALL);
}

static void guest_store(uint64_t target, uint32_t v)
{
    rig.cpu.gpr[6] = v;
    run(W_GPA, W_GPA + 7);
    cr_assert_eq((uint32_t)phys_read_u64(target), v);
}

static uint64_t run_q(void)
{
    rig.cpu.gpr[1] = POISON;
    run(Q_GPA, Q_GPA + 5);
    return rig.cpu.gpr[1];
}

Test(cpu_code, a_store_into_one_page_s_code_leaves_another_page_s_blocks_alive)
{
    cr_assert_neq(slot_of(P_GPA), slot_of(Q_GPA));
    GUEST_CODE(P_GPA, 0xb8, LE32(0xaaaa0001u), VMMCALL);
    GUEST_CODE(Q_GPA, 0xb9, LE32(0xbbbb0001u), VMMCALL);
    write_writer(P_GPA + 1);
    /* W writes P before it holds code: its TLB entry for P is writable. */
    guest_store(P_GPA + 1, 0xaaaa0001u);
    cr_assert_eq(run(P_GPA, P_GPA + 5), 0xaaaa0001u);
    cr_assert_eq(run_q(), 0xbbbb0001u);
    uint32_t gp = gen_of(P_GPA), gq = gen_of(Q_GPA);
    uint64_t lq = lines_of(Q_GPA);
    guest_store(P_GPA + 1, 0xaaaa0002u);
    cr_assert_eq(gen_of(P_GPA), gp + 1);
    cr_assert_eq(gen_of(Q_GPA), gq);
    cr_assert_eq(lines_of(P_GPA), 0, "the store left P marked");
    cr_assert_eq(lines_of(Q_GPA), lq);
    /* Q: still cached. */
    uint64_t used = rig.cpu.decoded;
    cr_assert_eq(run_q(), 0xbbbb0001u);
    cr_assert_eq(rig.cpu.decoded, used, "Q was decoded again");
    /* P: decoded again (one block: MOV, VMMCALL), with the new immediate. */
    cr_assert_eq(run(P_GPA, P_GPA + 5), 0xaaaa0002u, "P ran its old code");
    cr_assert_eq(rig.cpu.decoded, used + 2);
    cr_assert_eq(lines_of(P_GPA), 0x1);
    cr_assert_eq(run_q(), 0xbbbb0001u);
    cr_assert_eq(rig.cpu.decoded, used + 2);
}

/* At SPAN_GPA + 0xffa, one block over two pages:
 *   0xffa  mov eax, 0xcccc0001
 *   0xfff  nop
 *   0x1000 mov ecx, 0xcccc0002   ; the next page
 *   0x1005 vmmcall */
#define SPAN_RIP (SPAN_GPA + 0xffa)
#define SPAN2_GPA (SPAN_GPA + 0x1000)

Test(cpu_code, a_block_across_two_pages_dies_with_a_store_into_its_second_page)
{
    cr_assert_neq(slot_of(SPAN_GPA), slot_of(SPAN2_GPA));
    GUEST_CODE(SPAN_RIP, 0xb8, LE32(0xcccc0001u), 0x90, 0xb9, LE32(0xcccc0002u), VMMCALL);
    write_writer(SPAN2_GPA + 1);
    rig.cpu.gpr[1] = POISON;
    cr_assert_eq(run(SPAN_RIP, SPAN2_GPA + 5), 0xcccc0001u);
    cr_assert_eq(rig.cpu.gpr[1], 0xcccc0002u);
    cr_assert_eq(lines_of(SPAN_GPA), 1ull << 63);
    cr_assert_eq(lines_of(SPAN2_GPA), 0x1);
    uint32_t g1 = gen_of(SPAN_GPA), g2 = gen_of(SPAN2_GPA);
    guest_store(SPAN2_GPA + 1, 0xcccc0003u);
    cr_assert_eq(gen_of(SPAN_GPA), g1);
    cr_assert_eq(gen_of(SPAN2_GPA), g2 + 1);
    uint64_t used = rig.cpu.decoded;
    rig.cpu.gpr[1] = POISON;
    cr_assert_eq(run(SPAN_RIP, SPAN2_GPA + 5), 0xcccc0001u);
    cr_assert_eq(rig.cpu.gpr[1], 0xcccc0003u, "the block ran its old second page");
    cr_assert_eq(rig.cpu.decoded, used + 4);
}

/* ---- d. host writes */

static void write_p_and_r(void)
{
    GUEST_CODE(P_GPA, 0xb8, LE32(0xdddd0001u), VMMCALL);
    GUEST_CODE(R_GPA, 0xb8, LE32(0xeeee0001u), VMMCALL);
    cr_assert_eq(run(P_GPA, P_GPA + 5), 0xdddd0001u);
    cr_assert_eq(run(R_GPA, R_GPA + 5), 0xeeee0001u);
    cr_assert_eq(rig.mem.code_count, 2);
}

/* After a host write gave P the immediate p_imm: P runs it, decoded again
 * (its MOV and VMMCALL), and R runs its own, decoded again only when the
 * write forgot R's block too. */
static void expect_new_p_and_r(uint32_t p_imm, bool r_forgotten)
{
    uint64_t used = rig.cpu.decoded;
    cr_assert_eq(run(P_GPA, P_GPA + 5), p_imm, "P ran its old code");
    cr_assert_eq(rig.cpu.decoded, used + 2);
    cr_assert_eq(run(R_GPA, R_GPA + 5), 0xeeee0001u);
    if (r_forgotten)
        cr_assert_eq(rig.cpu.decoded, used + 4, "R's block outlived the forgetting");
    else
        cr_assert_eq(rig.cpu.decoded, used + 2, "R was decoded again");
}

Test(cpu_code, a_host_write_into_a_code_line_kills_that_page_s_blocks)
{
    cr_assert_neq(slot_of(P_GPA), slot_of(R_GPA));
    write_p_and_r();
    uint32_t gp = gen_of(P_GPA), gr = gen_of(R_GPA);
    const uint32_t imm = 0xdddd0002u;
    phys_write(P_GPA + 1, &imm, sizeof(imm));
    cr_assert_eq(gen_of(P_GPA), gp + 1);
    cr_assert_eq(gen_of(R_GPA), gr);
    cr_assert_eq(lines_of(P_GPA), 0);
    expect_new_p_and_r(0xdddd0002u, false);
}

Test(cpu_code, a_host_write_beside_the_code_of_a_page_keeps_its_blocks)
{
    write_p_and_r();
    uint32_t gp = gen_of(P_GPA), epoch = rig.cpu.code_epoch;
    uint64_t used = rig.cpu.decoded;
    phys_write_u64(P_GPA + 0x800, 0x0123456789abcdefull);  /* line 32 */
    phys_write_u64(P_GPA + 0x40, 0x0123456789abcdefull);   /* line 1, next to the code */
    cr_assert_eq(gen_of(P_GPA), gp);
    cr_assert_eq(rig.cpu.code_epoch, epoch);
    cr_assert_eq(lines_of(P_GPA), 0x1);
    cr_assert_eq(run(P_GPA, P_GPA + 5), 0xdddd0001u);
    cr_assert_eq(rig.cpu.decoded, used, "P was decoded again");
}

Test(cpu_code, a_large_host_write_over_a_marked_page_forgets_every_block)
{
    write_p_and_r();
    uint32_t epoch = rig.cpu.code_epoch;
    /* 16 pages (more than the 2 marked) with P among them, R not. */
    uint8_t *p = gmem_ptr(&rig.mem, P_GPA + 1, 4);
    const uint32_t imm = 0xdddd0003u;
    memcpy(p, &imm, 4);
    cpu_notify_phys_write(&rig.cpu, P_GPA - 0x8000, 0x10000);
    cr_assert_eq(rig.mem.code_count, 0);
    cr_assert_eq(lines_of(P_GPA), 0);
    cr_assert_eq(lines_of(R_GPA), 0);
    cr_assert_neq(rig.cpu.code_epoch, epoch);
    expect_new_p_and_r(0xdddd0003u, true);
}

Test(cpu_code, a_large_host_write_over_no_marked_page_forgets_nothing)
{
    write_p_and_r();
    uint32_t epoch = rig.cpu.code_epoch;
    uint64_t used = rig.cpu.decoded;
    cpu_notify_phys_write(&rig.cpu, 0x600000, 0x100000);
    cpu_notify_phys_write(&rig.cpu, P_GPA + 0x1000, R_GPA - P_GPA - 0x1000); /* between */
    cr_assert_eq(rig.mem.code_count, 2);
    cr_assert_eq(rig.cpu.code_epoch, epoch);
    cr_assert_eq(run(P_GPA, P_GPA + 5), 0xdddd0001u);
    cr_assert_eq(run(R_GPA, R_GPA + 5), 0xeeee0001u);
    cr_assert_eq(rig.cpu.decoded, used);
}

/* A host write that runs past the end of RAM covers the rest of the last
 * page: [LAST_PAGE, +0x1100) must count the code at 0x800 as written (an
 * end offset taken from the address past RAM would count lines 0-3 only),
 * so the new immediate runs. */
Test(cpu_code, a_host_write_running_past_the_end_of_ram_kills_the_last_page_s_code)
{
    const uint64_t code = LAST_PAGE_GPA + 0x800;
    GUEST_CODE(code, 0xb8, LE32(0xffff0001u), VMMCALL);
    cr_assert_eq(run(code, code + 5), 0xffff0001u);
    uint8_t *p = gmem_ptr(&rig.mem, code + 1, 4);
    const uint32_t imm = 0xffff0002u;
    memcpy(p, &imm, 4);
    /* The write covers the whole last page and 0x100 bytes beyond RAM. */
    cpu_notify_phys_write(&rig.cpu, LAST_PAGE_GPA, 0x1100);
    cr_assert_eq(run(code, code + 5), 0xffff0002u, "the last page ran its old code");
}

/* ---- e. big code */

/* n copies of the instruction insn (len bytes) at gpa, then VMMCALL. */
static void write_straight_line(uint64_t gpa, const uint8_t *insn, unsigned len, unsigned n)
{
    size_t size = (size_t)len * n + 3;
    uint8_t *buf = malloc(size);
    cr_assert_not_null(buf);
    for (unsigned i = 0; i < n; i++)
        memcpy(buf + (size_t)i * len, insn, len);
    memcpy(buf + (size_t)len * n, (const uint8_t[]){ VMMCALL }, 3);
    phys_write(gpa, buf, size);
    free(buf);
}

Test(cpu_code, two_hundred_kib_of_straight_line_code_is_decoded_once_and_kept)
{
    enum { N = 50000 };
    const uint8_t add_rax_1[4] = { 0x48, 0x83, 0xc0, 0x01 };
    const uint64_t end = BIG_GPA + 4ull * N;
    write_straight_line(BIG_GPA, add_rax_1, 4, N);
    cr_assert_eq(run_rax(BIG_GPA, 0, end), N);
    cr_assert_eq(rig.cpu.decoded, N + 1, "decoded %llu instructions",
                 (unsigned long long)rig.cpu.decoded);
    /* 48 full pages of code, then the VMMCALL at 0xd40 of the 49th and the
     * 15 bytes fetched from it: lines 0-53. */
    cr_assert_eq(rig.mem.code_count, 49);
    for (uint64_t pg = BIG_GPA; pg < end - 0xd40; pg += 0x1000)
        cr_assert_eq(lines_of(pg), ~0ull, "page 0x%llx: lines 0x%llx", (unsigned long long)pg,
                     (unsigned long long)lines_of(pg));
    cr_assert_eq(end & 0xfff, 0xd40);
    cr_assert_eq(lines_of(end), (1ull << 54) - 1);
    /* Again: every block still in the cache. */
    uint32_t epoch = rig.cpu.code_epoch;
    cr_assert_eq(run_rax(BIG_GPA, 7, end), 7 + N);
    cr_assert_eq(rig.cpu.decoded, N + 1, "decoded %llu more instructions",
                 (unsigned long long)(rig.cpu.decoded - (N + 1)));
    cr_assert_eq(rig.cpu.code_epoch, epoch);
}

/* Kernel-like code: n short blocks, block i being adds(i) ADDs and a JMP
 * over one byte to the next, looped over. Their start addresses must
 * fill the sets about as random addresses would: a set that gets more of
 * them than it has ways decodes its blocks again on every pass. */
static void short_blocks_are_decoded_once(unsigned n, unsigned (*adds)(unsigned i))
{
    const uint8_t add_rax_1[4] = { 0x48, 0x83, 0xc0, 0x01 };
    uint8_t *buf = malloc((size_t)n * 23 + 3);
    cr_assert_not_null(buf);
    size_t at = 0;
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = adds(i);
        cr_assert(k >= 1 && k <= 5);
        for (unsigned j = 0; j < k; j++, at += 4)
            memcpy(buf + at, add_rax_1, 4);
        sum += k;
        buf[at++] = 0xeb; /* jmp short over a HLT that never runs */
        buf[at++] = 0x01;
        buf[at++] = 0xf4;
    }
    memcpy(buf + at, (const uint8_t[]){ VMMCALL }, 3);
    phys_write(BIG_GPA, buf, at + 3);
    free(buf);
    const uint64_t end = BIG_GPA + at;
    uint64_t insns = sum + n + 1; /* the ADDs, the JMPs and the VMMCALL */
    cr_assert_eq(run_rax(BIG_GPA, 0, end), sum);
    cr_assert_eq(rig.cpu.decoded, insns, "decoded %llu instructions",
                 (unsigned long long)rig.cpu.decoded);
    for (unsigned pass = 1; pass <= 3; pass++) {
        cr_assert_eq(run_rax(BIG_GPA, pass, end), pass + sum);
        cr_assert_eq(rig.cpu.decoded, insns, "pass %u: decoded %llu more instructions", pass,
                     (unsigned long long)(rig.cpu.decoded - insns));
    }
}

static unsigned uneven_adds(unsigned i)
{
    return 1 + (i * 7u + i / 5u) % 5u;
}

static unsigned four_adds(unsigned i)
{
    (void)i;
    return 4; /* 19-byte bodies, as bench/ bigloop64's */
}

Test(cpu_code, three_thousand_short_blocks_of_uneven_length_are_decoded_once)
{
    short_blocks_are_decoded_once(3000, uneven_adds);
}

Test(cpu_code, three_thousand_four_hundred_equal_short_blocks_are_decoded_once)
{
    short_blocks_are_decoded_once(3400, four_adds);
}

Test(cpu_code, more_instructions_than_the_arena_holds_still_run_right)
{
    /* BLOCK_ARENA + 4099 two-byte INC EAX: 270 KiB. */
    enum { N = BLOCK_ARENA + 4099 };
    const uint8_t inc_eax[2] = { 0xff, 0xc0 };
    const uint64_t end = ARENA_GPA + 2ull * N;
    write_straight_line(ARENA_GPA, inc_eax, 2, N);
    uint32_t epoch = rig.cpu.code_epoch;
    cr_assert_eq(run_rax(ARENA_GPA, 0, end), N);
    /* The arena started again on the way (and the epoch moved with it):
     * it holds fewer entries than were decoded. Without a restart it would
     * hold more: these blocks have no fused pair (which gives its Jcc's
     * entry back), and each ends in an end entry. */
    cr_assert_lt(rig.cpu.arena_used, rig.cpu.decoded);
    cr_assert_neq(rig.cpu.code_epoch, epoch);
    cr_assert_eq(run_rax(ARENA_GPA, 0xffffffff00000005ull, end), 5 + N); /* INC EAX zero-extends */
    cr_assert_eq(run_rax(ARENA_GPA, 1, end), 1 + N);
    cr_assert_leq(rig.cpu.arena_used, BLOCK_ARENA);
}

/* MANY_BLOCKS blocks, block k across pages k and k + 1 of MANY_GPA:
 *   page k + 0xffd   add eax, 1
 *   page k+1 + 0     jmp <page k + 1 + 0xffd>    ; after the last: vmmcall
 * so that the mark table fills up in the middle of a block: its second
 * page is the one that does not fit, and its first page's mark is
 * forgotten under it. */
#define MANY_BLOCKS (GMEM_CODE_MAX + 8)
#define MANY_PAGE(k) (MANY_GPA + (uint64_t)(k) * 0x1000)
#define MANY_EXIT MANY_PAGE(MANY_BLOCKS)

static uint64_t run_many(void)
{
    return run_rax(MANY_PAGE(0) + 0xffd, 0, MANY_EXIT);
}

Test(cpu_code, code_on_more_pages_than_the_mark_table_holds_still_runs_right)
{
    _Static_assert(MANY_GPA + (MANY_BLOCKS + 1) * 0x1000ull <= RAM_SIZE, "fits");
    for (unsigned k = 0; k < MANY_BLOCKS; k++) {
        GUEST_CODE(MANY_PAGE(k) + 0xffd, 0x83, 0xc0, 0x01);
        if (k + 1 < MANY_BLOCKS)
            GUEST_CODE(MANY_PAGE(k + 1), 0xe9, LE32(0xff8));
    }
    GUEST_CODE(MANY_EXIT, VMMCALL);
    uint32_t epoch = rig.cpu.code_epoch;
    cr_assert_eq(run_many(), MANY_BLOCKS);
    /* The table filled up and every mark was forgotten on the way. */
    cr_assert_neq(rig.cpu.code_epoch, epoch);
    cr_assert_lt(rig.mem.code_count, MANY_BLOCKS);
    cr_assert_eq(lines_of(MANY_EXIT), 0x1);
    cr_assert_eq(run_many(), MANY_BLOCKS);
    /* The lowest marked page is the first page of the block decoded when
     * the table filled up: it must be marked again (the ADD's line), or a
     * write there would not reach that block. */
    unsigned m = 0;
    while (m <= MANY_BLOCKS && !lines_of(MANY_PAGE(m)))
        m++;
    cr_assert(m >= 1 && m < MANY_BLOCKS, "lowest marked page %u", m);
    cr_assert_eq(lines_of(MANY_PAGE(m)), 1ull << 63, "page %u: lines 0x%llx", m,
                 (unsigned long long)lines_of(MANY_PAGE(m)));
    /* Guest-visible: the ADD of block m - 1 adds 2 (the block decoded when
     * the table filled up, if page m were not its first page). */
    GUEST_CODE(MANY_PAGE(m - 1) + 0xfff, 0x02);
    cr_assert_eq(run_rax(MANY_PAGE(m - 1) + 0xffd, 0, MANY_EXIT), MANY_BLOCKS - (m - 1) + 1,
                 "block %u ran stale", m - 1);
    /* The host makes every ADD add 2: each live block must go, also the
     * one whose first page's mark was forgotten while it was decoded. */
    for (unsigned k = 0; k < MANY_BLOCKS; k++)
        GUEST_CODE(MANY_PAGE(k) + 0xfff, 0x02);
    cr_assert_eq(run_many(), 2 * MANY_BLOCKS, "%llu blocks ran stale",
                 (unsigned long long)(2 * MANY_BLOCKS - rig.vmcb->save.rax));
    /* A guest store across the last block's two pages: add eax, 3 there,
     * and the VMMCALL as it was. */
    const uint64_t last = MANY_PAGE(MANY_BLOCKS - 1);
    cr_assert_eq(lines_of(last), (1ull << 63) | 1); /* the JMP before, the ADD */
    uint32_t g = gen_of(last);
    write_writer(last + 0xfff);
    guest_store(last + 0xfff, 0xd9010f03u);
    cr_assert_eq(gen_of(last), g + 1);
    cr_assert_eq(run_many(), 2 * (MANY_BLOCKS - 1) + 3, "the last block ran stale");
}

/* ---- f. set associativity */

static unsigned set_of(uint64_t rip)
{
    return block_set(&rig.cpu, rip);
}

/* Block k: mov eax, 0xf0000000 + k; vmmcall, at a RIP on a page of its
 * own from SET_PAGE on, found so that every block falls in the set of
 * block 0 (at SET_PAGE + 0x500) in every context (cpu.h, block_set). */
static uint64_t set_rip(unsigned k)
{
    static uint64_t rips[BLOCK_WAYS + 1];
    cr_assert_leq(k, BLOCK_WAYS);
    if (!rips[0]) {
        rips[0] = (SET_PAGE << 12) | 0x500;
        uint64_t page = SET_PAGE + 1;
        for (unsigned n = 1; n <= BLOCK_WAYS; page++) {
            cr_assert_lt(page, SET_PAGE + 0x100, "no RIP of the set on 256 pages");
            for (uint64_t off = 0; off + 8 <= 0x1000; off++) {
                uint64_t rip = page << 12 | off;
                if (set_of(rip) == set_of(rips[0])) {
                    rips[n++] = rip;
                    break;
                }
            }
        }
    }
    return rips[k];
}

static void write_set_blocks(unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        cr_assert_leq((set_rip(k) & 0xfff) + 8, 0x1000);
        GUEST_CODE(set_rip(k), 0xb8, LE32(0xf0000000u + k), VMMCALL);
    }
}

static void run_set_block(unsigned k)
{
    uint64_t rax = run(set_rip(k), set_rip(k) + 5);
    cr_assert_eq(rax, 0xf0000000u + k, "block %u ran block %lld's code", k,
                 (long long)(rax - 0xf0000000u));
}

Test(cpu_code, block_ways_blocks_of_one_set_alternate_without_decoding)
{
    write_set_blocks(BLOCK_WAYS);
    for (unsigned k = 0; k < BLOCK_WAYS; k++)
        run_set_block(k);
    unsigned set = set_of(set_rip(0));
    for (unsigned k = 1; k < BLOCK_WAYS; k++)
        cr_assert_eq(set_of(set_rip(k)), set, "block %u is in another set", k);
    uint64_t used = rig.cpu.decoded;
    cr_assert_eq(used, 2 * BLOCK_WAYS);
    static const unsigned order[] = { 0, 1, 2, 3, 3, 2, 1, 0, 0, 2, 1, 3, 1, 1, 3, 0, 2, 0 };
    for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        run_set_block(order[i] % BLOCK_WAYS);
        cr_assert_eq(rig.cpu.decoded, used, "run %u (block %u) decoded again", i, order[i]);
    }
    /* The set's ways hold the blocks, each where it was filled (block 0,
     * the first, in way 0). */
    const struct block *ways = &rig.cpu.blocks[set * BLOCK_WAYS];
    cr_assert_eq(ways[0].rip, set_rip(0));
    for (unsigned k = 0; k < BLOCK_WAYS; k++) {
        unsigned w;
        for (w = 0; w < BLOCK_WAYS && ways[w].rip != set_rip(k); w++)
            ;
        cr_assert_lt(w, BLOCK_WAYS, "block %u is in no way of its set", k);
        cr_assert_eq(ways[w].n, 2);
    }
    /* A block behind the first way dies with its page too: block 3 gets a
     * new immediate from the host. */
    cr_assert_neq(ways[0].rip, set_rip(3));
    const uint32_t imm = 0xf0000033u;
    phys_write(set_rip(3) + 1, &imm, sizeof(imm));
    cr_assert_eq(run(set_rip(3), set_rip(3) + 5), imm, "block 3 ran its old code");
    cr_assert_eq(rig.cpu.decoded, used + 2);
    for (unsigned k = 0; k < 3; k++)
        run_set_block(k);
    cr_assert_eq(rig.cpu.decoded, used + 2);
}

Test(cpu_code, block_ways_plus_one_blocks_of_one_set_still_run_right)
{
    write_set_blocks(BLOCK_WAYS + 1);
    run_set_block(0);
    unsigned set = set_of(set_rip(0));
    for (unsigned k = 1; k <= BLOCK_WAYS; k++)
        cr_assert_eq(set_of(set_rip(k)), set, "block %u is in another set", k);
    for (unsigned k = 1; k <= BLOCK_WAYS; k++)
        run_set_block(k);
    uint64_t used = rig.cpu.decoded;
    for (unsigned round = 0; round < 4; round++)
        for (unsigned k = 0; k <= BLOCK_WAYS; k++)
            run_set_block((k * 3 + round) % (BLOCK_WAYS + 1));
    /* BLOCK_WAYS + 1 blocks do not fit in BLOCK_WAYS ways: some were
     * decoded again. */
    cr_assert_gt(rig.cpu.decoded, used);
}
