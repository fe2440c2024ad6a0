/* test_cpu_hold.c — cpu_run's lazy world switch and fast exits (src/cpu/cpu.c
 * cpu_run, cpu_sync_save_area, fast_resume, vmrun_checks_pass; src/cpu/svm_hw.c
 * svm_store_hot, svm_load_hot and the poison of held fields), as the contract
 * above cpu_run in src/cpu/cpu.h states them.
 *
 * Owns: a small machine fixture on cpu_fixture.h's rig (2 MiB of RAM mapped
 * 1:1 by a 2 MiB page, a second set of tables that maps the same, a GDT, two
 * 64-bit ring-0 VMCBs with IOIO (port 0x80), CPUID, VMMCALL and HLT
 * intercepted) and one test per behaviour: the whole store without
 * hold_state, the hot store, poison and sync with it, resuming a held VMCB,
 * switching VMCBs, fast-exit answers, the budget across fast resumes and the
 * save-area checks on resume.
 * Must not: use src/hv (the test is the host). Every expectation is an exact
 * guest-visible value so that each test can fail; what depends on the poison
 * of held fields is under SVMSIM_CHECKS, so the file passes in every build.
 */
#include "cpu/cpu.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define RIG_VMCBS struct vmcb *a, *b
#include "cpu_fixture.h"

/* ---- guest physical layout (linear == physical under both sets of tables);
 * below 0x80000 the GDT, tables, IDT and stack of cpu_fixture.h */

#define RAM_SIZE (2ull << 20)
#define ALT_PML4_GPA 0x5000ull /* another CR3 for the same mapping */
#define CODE_GPA 0x10000ull    /* VMCB A's code */
#define CODE_B_GPA 0x11000ull  /* VMCB B's code */

#define IO_PORT 0x80
#define HOST_RAX 0x1111111111111111ull /* RAX the host enters with */

#ifdef SVMSIM_CHECKS
#define POISON64 0xa5a5a5a5a5a5a5a5ull
#define POISON16 0xa5a5u
#endif

static const struct cpu_model default_model = CPU_FIXTURE_MODEL(0x300000ull, 0x30ffffull);

/* write_save_area's guest with cr3, RIP at rip and RAX HOST_RAX; IOIO,
 * CPUID, HLT and VMMCALL intercepted. */
static struct vmcb *new_vmcb(uint32_t asid, uint64_t cr3, uint64_t rip)
{
    struct vmcb *vmcb = alloc_vmcb(asid, cr3);
    vmcb->save.rax = HOST_RAX;
    vmcb->save.rip = rip;
    set_intercept(vmcb, SVM_EXIT_IOIO);
    set_intercept(vmcb, SVM_EXIT_CPUID);
    set_intercept(vmcb, SVM_EXIT_HLT);
    set_intercept(vmcb, SVM_EXIT_VMMCALL);
    return vmcb;
}

static void rig_setup(void)
{
    rig_init(RAM_SIZE, &default_model);
    iopm_set(IO_PORT);
    write_gdt();
    write_identity_tables(RAM_SIZE);
    phys_write_u64(ALT_PML4_GPA, PDPT_GPA | X86_PTE_P | X86_PTE_RW);
    rig.a = new_vmcb(1, PML4_GPA, CODE_GPA);
    rig.b = new_vmcb(2, ALT_PML4_GPA, CODE_B_GPA);
}

static void rig_teardown(void)
{
    free(rig.a);
    free(rig.b);
    rig_fini();
}

TestSuite(cpu_hold, .init = rig_setup, .fini = rig_teardown);

static enum cpu_run_result run(struct vmcb *vmcb, uint64_t *budget)
{
    return cpu_run(&rig.cpu, vmcb, rig.iopm, rig.msrpm, budget);
}

/* Runs vmcb to the #VMEXIT the test expects. */
static void run_to(struct vmcb *vmcb, uint64_t exit_code)
{
    uint64_t budget = 10000;
    cr_assert_eq(run(vmcb, &budget), CPU_RUN_VMEXIT, "no #VMEXIT");
    cr_assert_eq(vmcb->control.exit_code, exit_code, "exit 0x%llx, expected 0x%llx",
                 (unsigned long long)vmcb->control.exit_code, (unsigned long long)exit_code);
}

/* The host's emulation of an intercepted IN: data into AL/AX/EAX as its
 * size says, RIP past it (EXITINFO2). Only hot fields are written. */
static void emulate_in(struct vmcb *vmcb, uint32_t data)
{
    uint64_t info = vmcb->control.exit_info_1;
    cr_assert(info & SVM_IOIO_TYPE_IN, "not an IN: 0x%llx", (unsigned long long)info);
    cr_assert_eq(info >> SVM_IOIO_PORT_SHIFT, IO_PORT);
    unsigned size = (info >> SVM_IOIO_SIZE_SHIFT) & 7;
    uint64_t rax = vmcb->save.rax;
    if (size == 1)
        rax = (rax & ~0xffull) | (data & 0xff);
    else if (size == 2)
        rax = (rax & ~0xffffull) | (data & 0xffff);
    else
        rax = data;
    vmcb->save.rax = rax;
    vmcb->save.rip = vmcb->control.exit_info_2;
}

/* ---- guest programs */

/* A's IN program (CODE_GPA):
 *   00 mov ebx, 0x12345678
 *   05 mov cr2, rbx          ; a field only a whole store brings back
 *   08 stc
 *   09 in al, 0x80           ; intercepted
 *   0b setc cl               ; CF from before the exit
 *   0e mov rdx, rax          ; what the host put into RAX
 *   11 mov rsi, rsp          ; ... and RSP
 *   14 vmmcall */
#define GUEST_CR2 0x12345678ull
#define IO_RIP (CODE_GPA + 0x09)
#define IO_NEXT (CODE_GPA + 0x0b)
#define IO_END (CODE_GPA + 0x14)
#define IO_INFO1 (((uint64_t)IO_PORT << 16) | (1u << 4) | (4u << 7) | SVM_IOIO_TYPE_IN)

static void write_io_code(void)
{
    GUEST_CODE(CODE_GPA, 0xbb, LE32(0x12345678u), 0x0f, 0x22, 0xd3, 0xf9, 0xe4, IO_PORT, 0x0f,
               0x92, 0xc1, 0x48, 0x89, 0xc2, 0x48, 0x89, 0xe6, 0x0f, 0x01, 0xd9);
}

/* B's program (CODE_B_GPA): other CR2, CF clear.
 *   00 mov ebx, 0xb00b
 *   05 mov cr2, rbx
 *   08 clc
 *   09 vmmcall */
#define B_CR2 0xb00bull
#define B_END (CODE_B_GPA + 0x09)

static void write_b_code(void)
{
    GUEST_CODE(CODE_B_GPA, 0xbb, LE32(0xb00bu), 0x0f, 0x22, 0xd3, 0xf8, 0x0f, 0x01, 0xd9);
}

/* ---- expectations on a save area */

/* The hot fields: RIP, RSP, RAX as given, and the 64-bit ring-0 CS, CPL,
 * EFER and CR0 of write_save_area. */
static void expect_hot(const struct vmcb_save_area *sa, uint64_t rip, uint64_t rsp, uint64_t rax,
                       uint64_t efer)
{
    cr_expect_eq(sa->rip, rip, "RIP 0x%llx, expected 0x%llx", (unsigned long long)sa->rip,
                 (unsigned long long)rip);
    cr_expect_eq(sa->rsp, rsp, "RSP 0x%llx, expected 0x%llx", (unsigned long long)sa->rsp,
                 (unsigned long long)rsp);
    cr_expect_eq(sa->rax, rax, "RAX 0x%llx, expected 0x%llx", (unsigned long long)sa->rax,
                 (unsigned long long)rax);
    cr_expect_eq(sa->cpl, 0);
    cr_expect_eq(sa->efer, efer, "EFER 0x%llx, expected 0x%llx", (unsigned long long)sa->efer,
                 (unsigned long long)efer);
    cr_expect_eq(sa->cr0, GUEST_CR0);
    cr_expect_eq(sa->cs.selector, CODE64_SEL);
    cr_expect_eq(sa->cs.attrib, CODE64_ATTR);
    cr_expect_eq(sa->cs.limit, 0xffffffffu);
    cr_expect_eq(sa->cs.base, 0);
}

/* Everything else: the guest's CR2, CR3 and RFLAGS as given, the rest as
 * write_save_area left it (the guests change nothing else). */
static void expect_cold_masked(const struct vmcb_save_area *sa, uint64_t cr2, uint64_t cr3,
                               uint64_t rflags, uint64_t rflags_mask)
{
    cr_expect_eq(sa->cr2, cr2, "CR2 0x%llx, expected 0x%llx", (unsigned long long)sa->cr2,
                 (unsigned long long)cr2);
    cr_expect_eq(sa->cr3, cr3, "CR3 0x%llx, expected 0x%llx", (unsigned long long)sa->cr3,
                 (unsigned long long)cr3);
    cr_expect_eq(sa->rflags & rflags_mask, rflags, "RFLAGS 0x%llx, expected 0x%llx",
                 (unsigned long long)sa->rflags, (unsigned long long)rflags);
    cr_expect_eq(sa->cr4, X86_CR4_PAE);
    cr_expect_eq(sa->dr6, 0xffff0ff0);
    cr_expect_eq(sa->dr7, 0x400);
    cr_expect_eq(sa->gdtr.base, GDT_GPA);
    cr_expect_eq(sa->gdtr.limit, 3 * 8 - 1);
    cr_expect_eq(sa->idtr.base, IDT_GPA);
    cr_expect_eq(sa->idtr.limit, 256 * 16 - 1);
    cr_expect_eq(sa->ss.selector, DATA_SEL);
    cr_expect_eq(sa->ss.attrib, DATA_ATTR);
    cr_expect_eq(sa->ds.selector, DATA_SEL);
    cr_expect_eq(sa->gs.limit, 0xffffffffu);
    cr_expect_eq(sa->g_pat, GUEST_PAT);
}

static void expect_cold(const struct vmcb_save_area *sa, uint64_t cr2, uint64_t cr3,
                        uint64_t rflags)
{
    expect_cold_masked(sa, cr2, cr3, rflags, ~0ull);
}

#ifdef SVMSIM_CHECKS
static void expect_poisoned(const struct vmcb_save_area *sa)
{
    cr_expect_eq(sa->cr3, POISON64, "held CR3 reads 0x%llx", (unsigned long long)sa->cr3);
    cr_expect_eq(sa->cr2, POISON64, "held CR2 reads 0x%llx", (unsigned long long)sa->cr2);
    cr_expect_eq(sa->rflags, POISON64, "held RFLAGS reads 0x%llx",
                 (unsigned long long)sa->rflags);
    cr_expect_eq(sa->gdtr.base, POISON64);
    cr_expect_eq(sa->idtr.base, POISON64);
    cr_expect_eq(sa->cr4, POISON64);
    cr_expect_eq(sa->dr7, POISON64);
    cr_expect_eq(sa->g_pat, POISON64);
    cr_expect_eq(sa->ss.selector, POISON16);
}
#endif

/* ---- 1. without hold_state the exit stores everything */

Test(cpu_hold, without_hold_state_an_exit_stores_the_whole_save_area)
{
    write_io_code();
    cr_assert_not(rig.cpu.hold_state, "hold_state is off by default");
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(rig.a->control.exit_info_1, IO_INFO1);
    cr_expect_eq(rig.a->control.exit_info_2, IO_NEXT);
    cr_expect_eq(rig.a->control.next_rip, IO_NEXT);
    cr_expect_null(rig.cpu.held);
    expect_hot(&rig.a->save, IO_RIP, STACK_TOP, HOST_RAX, GUEST_EFER);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
}

/* ---- 2. with hold_state: hot fields, poison, sync */

Test(cpu_hold, with_hold_state_an_exit_stores_the_hot_fields_and_a_sync_the_rest)
{
    write_io_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(rig.a->control.exit_info_1, IO_INFO1);
    cr_expect_eq(rig.a->control.exit_info_2, IO_NEXT);
    cr_assert_eq(rig.cpu.held, rig.a);
    expect_hot(&rig.a->save, IO_RIP, STACK_TOP, HOST_RAX, GUEST_EFER);
#ifdef SVMSIM_CHECKS
    expect_poisoned(&rig.a->save);
#endif
    cpu_sync_save_area(&rig.cpu);
    cr_expect_null(rig.cpu.held);
    expect_hot(&rig.a->save, IO_RIP, STACK_TOP, HOST_RAX, GUEST_EFER);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
    /* A second sync has nothing to do. */
    rig.a->save.cr2 = 0x5555;
    cpu_sync_save_area(&rig.cpu);
    cr_expect_eq(rig.a->save.cr2, 0x5555);
}

/* ---- 3. resuming the held VMCB reloads RIP, RSP and RAX, keeps the rest */

Test(cpu_hold, resuming_the_held_vmcb_sees_the_hosts_rip_rsp_rax_and_keeps_gprs_and_flags)
{
    write_io_code();
    rig.cpu.hold_state = true;
    rig.cpu.gpr[1] = 0xc1c1c1c1c1c1c100ull; /* SETC CL writes the low byte */
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_assert_eq(rig.cpu.held, rig.a);
    emulate_in(rig.a, 0x5a);
    rig.a->save.rsp = STACK_TOP - 0x40;
    const uint64_t rax = (HOST_RAX & ~0xffull) | 0x5a;
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_assert_eq(rig.cpu.held, rig.a);
    expect_hot(&rig.a->save, IO_END, STACK_TOP - 0x40, rax, GUEST_EFER);
    cr_expect_eq(rig.cpu.gpr[2], rax, "the guest read RAX 0x%llx, the host wrote 0x%llx",
                 (unsigned long long)rig.cpu.gpr[2], (unsigned long long)rax);
    cr_expect_eq(rig.cpu.gpr[6], STACK_TOP - 0x40, "the guest read RSP 0x%llx",
                 (unsigned long long)rig.cpu.gpr[6]);
    cr_expect_eq(rig.cpu.gpr[1], 0xc1c1c1c1c1c1c101ull, "SETC after the exit: RCX 0x%llx",
                 (unsigned long long)rig.cpu.gpr[1]);
    cr_expect_eq(rig.cpu.gpr[3], 0x12345678u, "RBX from before the exit");
    cpu_sync_save_area(&rig.cpu);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
}

/* The contract lets the host write RIP, RSP and RAX while the CPU holds the
 * save area; a sync must not undo those writes (the VMCB is the truth):
 * RIP past the IN, the new RSP and RAX, and the guest goes on to VMMCALL
 * (storing the CPU's own values would rerun the IN). */
Test(cpu_hold, a_sync_keeps_the_hosts_writes_to_rip_rsp_and_rax)
{
    write_io_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    emulate_in(rig.a, 0x5a);
    rig.a->save.rsp = STACK_TOP - 0x40;
    const uint64_t rax = (HOST_RAX & ~0xffull) | 0x5a;
    cpu_sync_save_area(&rig.cpu);
    expect_hot(&rig.a->save, IO_NEXT, STACK_TOP - 0x40, rax, GUEST_EFER);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
    /* The guest goes on past the IN with the host's RAX. */
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.cpu.gpr[2], rax, "the guest read RAX 0x%llx, the host wrote 0x%llx",
                 (unsigned long long)rig.cpu.gpr[2], (unsigned long long)rax);
}

/* ---- 4. running another VMCB syncs the held one */

Test(cpu_hold, running_another_vmcb_syncs_the_held_one_first)
{
    write_io_code();
    write_b_code();
    rig.cpu.hold_state = true;
    rig.cpu.gpr[1] = 0;
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_assert_eq(rig.cpu.held, rig.a);
    run_to(rig.b, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.cpu.held, rig.b);
    /* A's save area is whole and A's, not B's. */
    expect_hot(&rig.a->save, IO_RIP, STACK_TOP, HOST_RAX, GUEST_EFER);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
    expect_hot(&rig.b->save, B_END, STACK_TOP, HOST_RAX, GUEST_EFER);
    /* A, entered whole again, goes on with its own CF. */
    emulate_in(rig.a, 0x77);
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.cpu.gpr[2], (HOST_RAX & ~0xffull) | 0x77);
    cr_expect_eq(rig.cpu.gpr[1] & 0xff, 1, "CF of A lost across B's run");
    /* ... and B's save area, synced by that run, is B's. */
    expect_cold(&rig.b->save, B_CR2, ALT_PML4_GPA, X86_RFLAGS_FIXED);
}

/* As above, through the sync that running B makes. */
Test(cpu_hold, running_another_vmcb_keeps_the_hosts_writes_to_the_held_ones_rip_and_rax)
{
    write_io_code();
    write_b_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    emulate_in(rig.a, 0x66); /* while held, as the contract allows */
    const uint64_t rax = (HOST_RAX & ~0xffull) | 0x66;
    run_to(rig.b, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.a->save.rip, IO_NEXT, "A's RIP 0x%llx after B ran, the host wrote 0x%llx",
                 (unsigned long long)rig.a->save.rip, (unsigned long long)IO_NEXT);
    cr_expect_eq(rig.a->save.rax, rax, "A's RAX 0x%llx after B ran, the host wrote 0x%llx",
                 (unsigned long long)rig.a->save.rax, (unsigned long long)rax);
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.cpu.gpr[2], rax);
}

/* ---- 5. fast exits */

/* What a fast-exit handler does with each exit, and what it saw. */
struct fast {
    struct vmcb *vmcb;
    enum cpu_fast on_io;    /* CPU_FAST_RESUME / RETURN: after emulating the IN */
    enum cpu_fast on_cpuid; /* ... after emulating CPUID */
    uint64_t in_base;       /* the k-th IN reads in_base + in_step * (k - 1) */
    uint64_t in_step;
    uint64_t expect_in_rip; /* where each IN must be, 0: anywhere */
    unsigned calls, io_calls, cpuid_calls;
    uint64_t last_exit;
};

static struct fast fast;

static enum cpu_fast fast_handler(void *opaque)
{
    struct fast *f = opaque;
    struct vmcb *vmcb = f->vmcb;
    f->calls++;
    f->last_exit = vmcb->control.exit_code;
    /* Offered as cpu_run would return it: exit recorded, hot fields stored. */
    cr_assert_eq(rig.cpu.held, vmcb, "a fast exit of a VMCB the CPU does not hold");
    cr_assert_eq(vmcb->save.cpl, 0);
    cr_assert_eq(vmcb->save.cs.selector, CODE64_SEL);
#ifdef SVMSIM_CHECKS
    cr_assert_eq(vmcb->save.cr3, POISON64);
#endif
    enum cpu_fast answer = CPU_FAST_DECLINE;
    if (vmcb->control.exit_code == SVM_EXIT_IOIO) {
        f->io_calls++;
        if (f->expect_in_rip)
            cr_assert_eq(vmcb->save.rip, f->expect_in_rip);
        cr_assert_eq(vmcb->control.exit_info_2, vmcb->save.rip + 2);
        answer = f->on_io;
        if (answer != CPU_FAST_DECLINE) {
            emulate_in(vmcb, (uint32_t)(f->in_base + f->in_step * (f->io_calls - 1)));
            rig.cpu.insns++; /* the host retired the IN */
        }
    } else if (vmcb->control.exit_code == SVM_EXIT_CPUID) {
        f->cpuid_calls++;
        answer = f->on_cpuid;
        if (answer != CPU_FAST_DECLINE) {
            vmcb->save.rax = 0xa1;
            rig.cpu.gpr[3] = 0xb1;
            rig.cpu.gpr[1] = 0xc1;
            rig.cpu.gpr[2] = 0xd1;
            vmcb->save.rip = vmcb->control.next_rip;
            rig.cpu.insns++;
        }
    }
    return answer;
}

static void fast_on(struct vmcb *vmcb, enum cpu_fast on_io)
{
    memset(&fast, 0, sizeof(fast));
    fast.vmcb = vmcb;
    fast.on_io = on_io;
    fast.on_cpuid = CPU_FAST_DECLINE;
    fast.in_base = 1;
    rig.cpu.hold_state = true;
    rig.cpu.fast_exit = (struct cpu_fast_exit){ .handle = fast_handler, .opaque = &fast };
}

Test(cpu_hold, a_declined_fast_exit_returns_the_exit)
{
    write_io_code();
    fast_on(rig.a, CPU_FAST_DECLINE);
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(fast.calls, 1);
    cr_expect_eq(rig.a->control.exit_info_1, IO_INFO1);
    cr_expect_eq(rig.a->control.exit_info_2, IO_NEXT);
    cr_expect_eq(rig.cpu.held, rig.a);
    expect_hot(&rig.a->save, IO_RIP, STACK_TOP, HOST_RAX, GUEST_EFER);
}

Test(cpu_hold, without_hold_state_no_exit_is_offered_to_the_fast_handler)
{
    write_io_code();
    fast_on(rig.a, CPU_FAST_RESUME);
    rig.cpu.hold_state = false;
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(fast.calls, 0);
    cr_expect_null(rig.cpu.held);
    expect_cold(&rig.a->save, GUEST_CR2, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF);
}

/* Ten INs and a VMMCALL (CODE_GPA):
 *   00 xor ebx, ebx
 *   02 mov ecx, 10
 *   07 in eax, 0x80        ; loop
 *   09 add rbx, rax
 *   0c dec ecx
 *   0e jnz 07
 *   10 vmmcall */
#define LOOP_IN (CODE_GPA + 0x07)
#define LOOP_END (CODE_GPA + 0x10)
#define LOOP_WORK 42 /* xor, mov, 10 x (IN by the host, add, dec, jnz) */

static void write_loop_code(void)
{
    GUEST_CODE(CODE_GPA, 0x31, 0xdb, 0xb9, LE32(10u), 0xe5, IO_PORT, 0x48, 0x01, 0xc3, 0xff,
               0xc9, 0x75, 0xf7, 0x0f, 0x01, 0xd9);
}

Test(cpu_hold, resumed_fast_exits_run_the_guest_on_until_a_declined_one)
{
    write_loop_code();
    fast_on(rig.a, CPU_FAST_RESUME);
    fast.in_base = 0x10001;
    fast.in_step = 0x10001;
    fast.expect_in_rip = LOOP_IN;
    uint64_t work = cpu_work(&rig.cpu), budget = 1000;
    cr_assert_eq(run(rig.a, &budget), CPU_RUN_VMEXIT);
    cr_expect_eq(rig.a->control.exit_code, SVM_EXIT_VMMCALL);
    cr_expect_eq(fast.io_calls, 10, "%u INs offered", fast.io_calls);
    cr_expect_eq(fast.calls, 11, "%u exits offered", fast.calls);
    cr_expect_eq(fast.last_exit, SVM_EXIT_VMMCALL);
    /* The k-th IN read 0x10001 * k: RBX = 0x10001 * (1 + ... + 10). */
    cr_expect_eq(rig.cpu.gpr[3], 55u * 0x10001u, "RBX 0x%llx",
                 (unsigned long long)rig.cpu.gpr[3]);
    cr_expect_eq(rig.cpu.gpr[1], 0);
    expect_hot(&rig.a->save, LOOP_END, STACK_TOP, 10u * 0x10001u, GUEST_EFER);
    cr_expect_eq(cpu_work(&rig.cpu) - work, LOOP_WORK);
    cr_expect_eq(budget, 1000 - LOOP_WORK, "budget left %llu", (unsigned long long)budget);
    cpu_sync_save_area(&rig.cpu);
    expect_cold(&rig.a->save, 0, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_ZF | X86_RFLAGS_PF);
}

Test(cpu_hold, a_fast_exit_answered_return_makes_cpu_run_return_handled)
{
    write_io_code();
    fast_on(rig.a, CPU_FAST_RETURN);
    rig.cpu.gpr[1] = 0;
    uint64_t budget = 1000;
    cr_assert_eq(run(rig.a, &budget), CPU_RUN_HANDLED);
    cr_expect_eq(fast.calls, 1);
    cr_expect_eq(rig.a->control.exit_code, SVM_EXIT_IOIO);
    cr_expect_eq(rig.cpu.held, rig.a);
    expect_hot(&rig.a->save, IO_NEXT, STACK_TOP, (HOST_RAX & ~0xffull) | 1, GUEST_EFER);
    /* The host runs it again: the guest goes on past the IN. */
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(fast.calls, 2);
    cr_expect_eq(rig.cpu.gpr[2], (HOST_RAX & ~0xffull) | 1);
    cr_expect_eq(rig.cpu.gpr[1], 1, "CF across the exit");
}

/* CPUID handled in place (CODE_GPA):
 *   00 xor eax, eax
 *   02 cpuid
 *   04 mov rsi, rbx
 *   07 mov rdi, rdx
 *   0a vmmcall */
Test(cpu_hold, a_resumed_cpuid_exit_gives_the_guest_the_handlers_registers)
{
    GUEST_CODE(CODE_GPA, 0x31, 0xc0, 0x0f, 0xa2, 0x48, 0x89, 0xde, 0x48, 0x89, 0xd7, 0x0f, 0x01,
               0xd9);
    fast_on(rig.a, CPU_FAST_DECLINE);
    fast.on_cpuid = CPU_FAST_RESUME;
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(fast.cpuid_calls, 1);
    cr_expect_eq(fast.calls, 2);
    expect_hot(&rig.a->save, CODE_GPA + 0x0a, STACK_TOP, 0xa1, GUEST_EFER);
    cr_expect_eq(rig.cpu.gpr[6], 0xb1, "RSI (the guest's copy of EBX) 0x%llx",
                 (unsigned long long)rig.cpu.gpr[6]);
    cr_expect_eq(rig.cpu.gpr[7], 0xd1, "RDI (the guest's copy of EDX) 0x%llx",
                 (unsigned long long)rig.cpu.gpr[7]);
    cr_expect_eq(rig.cpu.gpr[1], 0xc1);
}

/* ---- 6. the budget across fast resumes */

/* An endless IN loop (CODE_GPA):
 *   00 in eax, 0x80
 *   02 add rbx, rax
 *   05 jmp 00 */
static void write_spin_code(void)
{
    GUEST_CODE(CODE_GPA, 0xe5, IO_PORT, 0x48, 0x01, 0xc3, 0xeb, 0xf9);
}

Test(cpu_hold, resumed_fast_exits_never_take_the_run_past_its_budget)
{
    write_spin_code();
    fast_on(rig.a, CPU_FAST_RESUME);
    fast.in_base = 1; /* every IN reads 1: RBX counts the ADDs */
    fast.expect_in_rip = CODE_GPA;
    rig.cpu.gpr[3] = 0;
    uint64_t total = 0, insns0 = rig.cpu.insns;
    for (uint64_t b = 1; b <= 40; b++) {
        uint64_t work = cpu_work(&rig.cpu), left = b;
        enum cpu_run_result r = run(rig.a, &left);
        uint64_t spent = cpu_work(&rig.cpu) - work;
        cr_assert(r == CPU_RUN_BUDGET || r == CPU_RUN_HANDLED,
                  "budget %llu: cpu_run returned %d", (unsigned long long)b, (int)r);
        cr_assert_leq(spent, b, "budget %llu: %llu units of work", (unsigned long long)b,
                      (unsigned long long)spent);
        cr_assert_gt(spent, 0, "budget %llu: no progress", (unsigned long long)b);
        cr_assert_eq(left, b - spent, "budget %llu: %llu spent, %llu said left",
                     (unsigned long long)b, (unsigned long long)spent, (unsigned long long)left);
        total += spent;
    }
    cr_expect_eq(rig.cpu.insns - insns0, total);
    /* The units, run after run, were IN (by the host), ADD, JMP, IN, ... */
    cr_expect_eq(fast.io_calls, (total + 2) / 3, "%u INs in %llu units", fast.io_calls,
                 (unsigned long long)total);
    cr_expect_eq(rig.cpu.gpr[3], (total + 1) / 3, "RBX %llu: ADDs in %llu units",
                 (unsigned long long)rig.cpu.gpr[3], (unsigned long long)total);
}

Test(cpu_hold, a_budget_that_ends_at_a_resumed_exit_returns_handled_with_nothing_left)
{
    write_spin_code();
    fast_on(rig.a, CPU_FAST_RESUME);
    fast.in_base = 3;
    fast.in_step = 3;
    uint64_t left = 4; /* IN (host), ADD, JMP, IN (host) */
    uint64_t work = cpu_work(&rig.cpu);
    cr_assert_eq(run(rig.a, &left), CPU_RUN_HANDLED);
    cr_expect_eq(left, 0);
    cr_expect_eq(cpu_work(&rig.cpu) - work, 4);
    cr_expect_eq(fast.io_calls, 2);
    cr_expect_eq(rig.cpu.held, rig.a);
    /* The second IN is emulated into the held VMCB: the next run goes on. */
    expect_hot(&rig.a->save, CODE_GPA + 2, STACK_TOP, 6, GUEST_EFER);
    left = 1;
    cr_assert_eq(run(rig.a, &left), CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.gpr[3], 3 + 6, "RBX after two ADDs: 0x%llx",
                 (unsigned long long)rig.cpu.gpr[3]);
    cr_expect_eq(fast.io_calls, 2);
}

/* As l0_run ends a run whose budget ran out: it syncs. The handler's
 * emulation of the IN is in the VMCB; the sync must keep it.
 * Losing it would put RIP back on the IN, so that the next run does the IN
 * a second time. */
Test(cpu_hold, a_sync_after_a_budget_stop_at_a_resumed_exit_keeps_the_handlers_rip_and_rax)
{
    write_spin_code();
    fast_on(rig.a, CPU_FAST_RESUME);
    fast.in_base = 3;
    uint64_t left = 1;
    cr_assert_eq(run(rig.a, &left), CPU_RUN_HANDLED);
    cr_expect_eq(fast.io_calls, 1);
    cpu_sync_save_area(&rig.cpu);
    expect_hot(&rig.a->save, CODE_GPA + 2, STACK_TOP, 3, GUEST_EFER);
    /* Entered whole, the guest must not do the IN a second time. */
    rig.cpu.gpr[3] = 0;
    left = 1;
    enum cpu_run_result r = run(rig.a, &left);
    cr_expect_eq(fast.io_calls, 1, "the IN ran %u times", fast.io_calls);
    cr_expect_eq(r, CPU_RUN_BUDGET);
    cr_expect_eq(rig.cpu.gpr[3], 3, "the ADD after the IN saw RAX 0x%llx",
                 (unsigned long long)rig.cpu.gpr[3]);
}

/* ---- 7. VMRUN's checks when resuming a held VMCB */

/* Runs A, its INs answered 0x42 by resumed fast exits, to the #VMEXIT that
 * ends the run. When a guest changed what VMRUN checks, the checks on resume
 * may want a full VMRUN, or fail one, at once or on the host's next run:
 * then cpu_run returns HANDLED first and the host runs again. */
static void run_fast_to_vmexit(void)
{
    fast_on(rig.a, CPU_FAST_RESUME);
    fast.in_base = 0x42;
    uint64_t budget = 1000;
    enum cpu_run_result r = run(rig.a, &budget);
    for (unsigned i = 0; r == CPU_RUN_HANDLED && i < 3; i++)
        r = run(rig.a, &budget);
    cr_assert_eq(r, CPU_RUN_VMEXIT);
}

/* The guest clears its own EFER.SVME (WRMSR is not intercepted), which
 * VMRUN's save-area checks refuse (CODE_GPA):
 *   00 mov ecx, 0xc0000080
 *   05 rdmsr
 *   07 btr eax, 12
 *   0b wrmsr
 *   0d in al, 0x80
 *   0f vmmcall */
#define SVME_IN (CODE_GPA + 0x0d)
#define SVME_END (CODE_GPA + 0x0f)
#define EFER_NO_SVME (X86_EFER_LME | X86_EFER_LMA)

static void write_svme_code(void)
{
    GUEST_CODE(CODE_GPA, 0xb9, LE32(0xc0000080u), 0x0f, 0x32, 0x0f, 0xba, 0xf0, 0x0c, 0x0f, 0x30,
               0xe4, IO_PORT, 0x0f, 0x01, 0xd9);
}

Test(cpu_hold, resuming_a_guest_that_cleared_efer_svme_fails_vmruns_checks)
{
    write_svme_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    expect_hot(&rig.a->save, SVME_IN, STACK_TOP, EFER_NO_SVME, EFER_NO_SVME);
    cr_expect_eq(rig.cpu.checked.efer, GUEST_EFER, "what the VMRUN checked");
    uint64_t insns = rig.cpu.insns;
    run_to(rig.a, SVM_EXIT_ERR);
    cr_expect_eq(rig.cpu.insns, insns, "the guest ran after a failed VMRUN");
    cr_expect_eq(rig.a->control.exit_info_1, 0);
    cr_expect_eq(rig.a->control.exit_info_2, 0);
    /* The save area, synced, is the guest's; the host repairs EFER. */
    cpu_sync_save_area(&rig.cpu);
    expect_hot(&rig.a->save, SVME_IN, STACK_TOP, EFER_NO_SVME, EFER_NO_SVME);
    /* BTR left CF = the old SVME; it leaves OF, SF, AF, PF undefined. */
    expect_cold_masked(&rig.a->save, 0, PML4_GPA, X86_RFLAGS_FIXED | X86_RFLAGS_CF,
                       X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_ZF);
    rig.a->save.efer = GUEST_EFER;
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(rig.a->save.rip, SVME_IN);
    emulate_in(rig.a, 0x42);
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.a->save.rip, SVME_END);
    cr_expect_eq(rig.a->save.rax, EFER_NO_SVME | 0x42);
}

Test(cpu_hold, a_resumed_fast_exit_after_the_guest_cleared_efer_svme_fails_vmruns_checks)
{
    write_svme_code();
    run_fast_to_vmexit();
    cr_expect_eq(rig.a->control.exit_code, SVM_EXIT_ERR, "exit 0x%llx",
                 (unsigned long long)rig.a->control.exit_code);
    cr_expect_eq(fast.io_calls, 1);
    cr_expect_eq(fast.calls, 1, "the guest ran on to its VMMCALL");
}

/* A legal change: the guest's own MOV CR3 (CODE_GPA):
 *   00 mov cr3, rbx
 *   03 in al, 0x80
 *   05 vmmcall */
static void write_cr3_code(void)
{
    GUEST_CODE(CODE_GPA, 0x0f, 0x22, 0xdb, 0xe4, IO_PORT, 0x0f, 0x01, 0xd9);
    rig.cpu.gpr[3] = ALT_PML4_GPA;
}

Test(cpu_hold, resuming_after_a_guest_mov_cr3_runs_on_and_records_the_new_cr3_as_checked)
{
    write_cr3_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    cr_expect_eq(rig.cpu.checked.cr3, PML4_GPA);
    emulate_in(rig.a, 0x42);
    run_to(rig.a, SVM_EXIT_VMMCALL);
    cr_expect_eq(rig.a->save.rip, CODE_GPA + 5);
    cr_expect_eq(rig.cpu.checked.cr3, ALT_PML4_GPA, "checked CR3 0x%llx",
                 (unsigned long long)rig.cpu.checked.cr3);
    cpu_sync_save_area(&rig.cpu);
    expect_cold(&rig.a->save, 0, ALT_PML4_GPA, X86_RFLAGS_FIXED);
}

Test(cpu_hold, a_resumed_fast_exit_after_a_guest_mov_cr3_runs_on_to_the_next_exit)
{
    write_cr3_code();
    run_fast_to_vmexit();
    cr_expect_eq(rig.a->control.exit_code, SVM_EXIT_VMMCALL);
    cr_expect_eq(fast.io_calls, 1);
    cr_expect_eq(fast.calls, 2);
    cr_expect_eq(rig.a->save.rip, CODE_GPA + 5);
    cr_expect_eq(rig.a->save.rax, (HOST_RAX & ~0xffull) | 0x42);
    cr_expect_eq(rig.cpu.checked.cr3, ALT_PML4_GPA);
}

/* ---- the contract, enforced where SVMSIM_CHECKS poisons held fields */

#ifdef SVMSIM_CHECKS
Test(cpu_hold, writing_a_held_field_then_resuming_aborts, .signal = SIGABRT)
{
    write_io_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    rig.a->save.cr2 = 0;
    uint64_t budget = 1000;
    run(rig.a, &budget);
}

Test(cpu_hold, writing_a_read_only_hot_field_then_resuming_aborts, .signal = SIGABRT)
{
    write_io_code();
    rig.cpu.hold_state = true;
    run_to(rig.a, SVM_EXIT_IOIO);
    rig.a->save.efer &= ~X86_EFER_SVME;
    uint64_t budget = 1000;
    run(rig.a, &budget);
}

static enum cpu_fast injecting_handler(void *opaque)
{
    struct vmcb *vmcb = opaque;
    emulate_in(vmcb, 0);
    vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x20;
    return CPU_FAST_RESUME;
}

Test(cpu_hold, a_fast_handler_that_resumes_after_changing_the_control_area_aborts,
     .signal = SIGABRT)
{
    write_io_code();
    rig.cpu.hold_state = true;
    rig.cpu.fast_exit = (struct cpu_fast_exit){ .handle = injecting_handler, .opaque = rig.a };
    uint64_t budget = 1000;
    run(rig.a, &budget);
}
#endif
