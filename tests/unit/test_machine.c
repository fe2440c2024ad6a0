/* test_machine.c — the public API (include/svmsim/svmsim.h) end to end:
 * the boot protocol's entry state, every way a run ends and its status,
 * L0's CPUID and MSR handling as the guest sees it, trace records, and two
 * machines running interleaved in one process.
 *
 * Guest code is written as raw bytes at 1 MiB; the comments give the
 * instructions.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/svmsim.h"

#define CODE 0x100000ull

struct console {
    char buf[256];
    size_t len;
};

static void console_write(void *opaque, const uint8_t *b, size_t n)
{
    struct console *c = opaque;
    for (size_t i = 0; i < n && c->len + 1 < sizeof c->buf; i++)
        c->buf[c->len++] = (char)b[i];
    c->buf[c->len] = 0;
}

struct traces {
    struct svmsim_trace_record recs[32];
    unsigned n;
};

static void trace_cb(void *opaque, const struct svmsim_trace_record *r)
{
    struct traces *t = opaque;
    if (t->n < 32)
        t->recs[t->n++] = *r;
}

static struct svmsim_vm *machine(struct console *con, struct traces *tr)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.console_write = console_write;
    cfg.console_opaque = con;
    if (tr) {
        cfg.trace = trace_cb;
        cfg.trace_opaque = tr;
    }
    char err[128];
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    cr_assert_not_null(vm, "svmsim_create: %s", err);
    return vm;
}

static void load_code(struct svmsim_vm *vm, const uint8_t *code, size_t len)
{
    cr_assert_eq(svmsim_write_phys(vm, CODE, code, len), 0);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    r.rip = CODE;
    svmsim_set_regs(vm, &r);
}

/* out 0xf4, al with AL = v:  b0 v  e6 f4 */
#define EXIT_WITH(v) 0xb0, (v), 0xe6, 0xf4

Test(machine, enters_guests_in_the_boot_protocol_state)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.rip, 0);
    cr_expect_eq(r.gpr[SVMSIM_RSP], 0x80000);
    cr_expect_eq(r.rflags, 0x2);
    cr_expect_eq(r.cr0, 0x80010033);
    cr_expect_eq(r.cr4, 0x20);
    cr_expect_eq(r.efer, 0x500, "guest-visible EFER has SVME clear: %#llx",
                 (unsigned long long)r.efer);
    cr_expect_eq(r.cs, 0x08);
    cr_expect_eq(r.ss, 0x10);
    cr_expect_eq(r.cpl, 0);
    uint64_t gdt[3];
    cr_assert_eq(svmsim_read_phys(vm, 0x1000, gdt, sizeof gdt), 0);
    cr_expect_eq(gdt[1], 0x00af9b000000ffffull, "0x08 is 64-bit ring-0 code");
    cr_expect_eq(gdt[2], 0x00cf93000000ffffull, "0x10 is ring-0 data");
    uint64_t pde;
    cr_assert_eq(svmsim_read_phys(vm, 0x4000 + 8 * 2047, &pde, 8), 0);
    cr_expect_eq(pde & ~0xfffull, (2047ull << 21), "last 2 MiB page below 4 GiB maps 1:1");
    svmsim_destroy(vm);
}

Test(machine, exit_port_value_gives_status_v_shifted_or_one)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    const uint8_t code[] = { EXIT_WITH(0x21) };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), (0x21 << 1) | 1);
    cr_expect_eq(end.reason, SVMSIM_END_EXIT_PORT);
    cr_expect_eq(end.insns, 2);
    svmsim_destroy(vm);
}

Test(machine, serial_output_reaches_the_console)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    /* mov dx, 0x3f8; mov al, 'o'; out dx, al; mov al, 'k'; out dx, al; exit 0 */
    const uint8_t code[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, 'o', 0xee, 0xb0, 'k', 0xee,
                             EXIT_WITH(0) };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), 1);
    cr_expect_str_eq(con.buf, "ok");
    svmsim_destroy(vm);
}

Test(machine, hlt_with_interrupts_off_ends_with_status_2)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    const uint8_t code[] = { 0xfa, 0xf4 }; /* cli; hlt */
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_HALTED);
    cr_expect_eq(end.reason, SVMSIM_END_HALTED);
    /* L0 emulates the HLT (KVM's kvm_emulate_halt): RIP is past it. */
    cr_expect_eq(end.rip, CODE + 2, "RIP past the HLT");
    cr_expect_eq(end.level, 1);
    cr_expect(strstr(end.message, "halted") != NULL, "%s", end.message);
    svmsim_destroy(vm);
}

Test(machine, exception_without_an_idt_is_a_triple_fault_status_4)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    const uint8_t code[] = { 0x0f, 0x0b }; /* ud2; IDTR limit is 0 */
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_SHUTDOWN);
    cr_expect_eq(end.reason, SVMSIM_END_SHUTDOWN);
    svmsim_destroy(vm);
}

Test(machine, instruction_limit_ends_with_status_6_and_can_resume)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    /* mov ecx, 1000; l: dec ecx; jnz l; exit 5 */
    const uint8_t code[] = { 0xb9, 0xe8, 0x03, 0, 0, 0xff, 0xc9, 0x75, 0xfc, EXIT_WITH(5) };
    load_code(vm, code, sizeof code);
    svmsim_set_max_insns(vm, 101);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_MAX_INSNS);
    cr_expect_eq(end.insns, 101, "exactly the limit: %llu", (unsigned long long)end.insns);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.gpr[SVMSIM_RCX], 1000 - 50, "1 mov + 50 (dec, jnz) pairs");
    svmsim_set_max_insns(vm, 0);
    cr_expect_eq(svmsim_run(vm, &end), (5 << 1) | 1);
    svmsim_destroy(vm);
}

Test(machine, nested_vmrun_of_a_zeroed_vmcb12_fails_its_consistency_checks)
{
    struct console con = { 0 };
    struct traces tr = { 0 };
    struct svmsim_vm *vm = machine(&con, &tr);
    /* EFER.SVME on; VM_HSAVE_PA = 0x200000; rax = 0x201000 (zeroed); vmrun;
     * then the low byte of vmcb12's exit_code to the exit port. */
    const uint8_t code[] = {
        0xb9, 0x80, 0, 0, 0xc0,                   /* mov ecx, 0xc0000080 */
        0x0f, 0x32,                               /* rdmsr */
        0x0f, 0xba, 0xe8, 12,                     /* bts eax, 12 */
        0x0f, 0x30,                               /* wrmsr */
        0xb9, 0x17, 0x01, 0x01, 0xc0,             /* mov ecx, 0xc0010117 */
        0xb8, 0, 0, 0x20, 0,                      /* mov eax, 0x200000 */
        0x31, 0xd2,                               /* xor edx, edx */
        0x0f, 0x30,                               /* wrmsr */
        0xb8, 0, 0x10, 0x20, 0,                   /* mov eax, 0x201000 */
        0x0f, 0x01, 0xd8,                         /* vmrun */
        0x8a, 0x04, 0x25, 0x70, 0x10, 0x20, 0x00, /* mov al, [0x201070] */
        0xe6, 0xf4,                               /* out 0xf4, al */
    };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), 0xff, "vmcb12 exit_code is SVM_EXIT_ERR: %s",
                 end.message);
    uint64_t exit_code = 0;
    cr_assert_eq(svmsim_read_phys(vm, 0x201070, &exit_code, 8), 0);
    cr_expect_eq(exit_code, ~0ull);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.efer, 0x1500, "EFER.SVME visible to the guest: %#llx",
                 (unsigned long long)r.efer);
    bool seen = false;
    for (unsigned i = 0; i < tr.n; i++)
        if (tr.recs[i].exit_code == 0x80) {
            seen = true;
            cr_expect_eq(tr.recs[i].decision, SVMSIM_DECISION_VMRUN_FAILED);
            cr_expect_str_eq(tr.recs[i].check, "EFER.SVME clear");
            cr_expect_eq(tr.recs[i].vmcb12_gpa, 0x201000);
        }
    cr_expect(seen, "a trace record for the VMRUN");
    svmsim_destroy(vm);
}

Test(machine, cpuid_reports_authentic_amd_with_svm_and_maxphyaddr)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    /* cpuid(0): ebx->r8; cpuid(0x80000001): ecx->r9; cpuid(0x80000008): eax->r10; cli; hlt */
    const uint8_t code[] = {
        0x31, 0xc0, 0x0f, 0xa2, 0x49, 0x89, 0xd8,                   /* xor eax,eax; cpuid; mov r8,rbx */
        0xb8, 0x01, 0, 0, 0x80, 0x0f, 0xa2, 0x49, 0x89, 0xc9,       /* ...; mov r9, rcx */
        0xb8, 0x08, 0, 0, 0x80, 0x0f, 0xa2, 0x49, 0x89, 0xc2,       /* ...; mov r10, rax */
        0xfa, 0xf4,
    };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_assert_eq(svmsim_run(vm, &end), SVMSIM_STATUS_HALTED, "%s", end.message);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.gpr[SVMSIM_R8], 0x68747541, "EBX = \"Auth\"");
    cr_expect(r.gpr[SVMSIM_R9] & (1u << 2), "CPUID 8000_0001 ECX[2] SVM");
    cr_expect_eq(r.gpr[SVMSIM_R10] & 0xff, 48, "MAXPHYADDR");
    svmsim_destroy(vm);
}

Test(machine, unknown_msr_gets_gp_which_without_an_idt_shuts_down)
{
    struct console con = { 0 };
    struct traces tr = { 0 };
    struct svmsim_vm *vm = machine(&con, &tr);
    const uint8_t code[] = { 0xb9, 0x34, 0x12, 0, 0, 0x0f, 0x32 }; /* mov ecx, 0x1234; rdmsr */
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_SHUTDOWN);
    cr_assert_geq(tr.n, 2);
    cr_expect_eq(tr.recs[0].exit_code, 0x7c);
    cr_expect_eq(tr.recs[0].decision, SVMSIM_DECISION_INJECTED_GP);
    cr_expect_eq(tr.recs[tr.n - 1].exit_code, 0x7f, "then SHUTDOWN");
    svmsim_destroy(vm);
}

Test(machine, trace_records_name_the_exit_the_instruction_and_the_decision)
{
    struct console con = { 0 };
    struct traces tr = { 0 };
    struct svmsim_vm *vm = machine(&con, &tr);
    const uint8_t code[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, 'x', 0xee, EXIT_WITH(0) };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    svmsim_run(vm, &end);
    cr_assert_eq(tr.n, 2);
    const struct svmsim_trace_record *r = &tr.recs[0];
    cr_expect_eq(r->seq, 0);
    cr_expect_eq(r->level, 1);
    cr_expect_eq(r->exit_code, 0x7b);
    cr_expect_str_eq(r->exit_name, "IOIO");
    cr_expect_eq(r->exit_info_1, (0x3f8ull << 16) | (1 << 4) | (4 << 7), "OUT, 8-bit, a64");
    cr_expect_eq(r->exit_info_2, CODE + 7, "next RIP");
    cr_expect_eq(r->rip, CODE + 6);
    cr_expect_eq(r->insn_len, 1);
    cr_expect_eq(r->insn_bytes[0], 0xee);
    cr_expect_str_eq(r->insn_text, "out dx, al");
    cr_expect_eq(r->decision, SVMSIM_DECISION_DEVICE);
    cr_expect(strstr(r->detail, "COM1") != NULL, "%s", r->detail);
    cr_expect_eq(tr.recs[1].decision, SVMSIM_DECISION_END);
    svmsim_destroy(vm);
}

/* Two machines, different guests, run a slice at a time in turn: each must
 * finish with its own result, untouched by the other. */
Test(machine, two_machines_interleaved_in_one_process_keep_their_own_state)
{
    struct console ca = { 0 }, cb = { 0 };
    struct svmsim_vm *a = machine(&ca, NULL), *b = machine(&cb, NULL);
    /* A: rax = sum 1..10000 into r12, then print 'A', exit 3 */
    const uint8_t code_a[] = {
        0x31, 0xc0,                         /* xor eax, eax */
        0xb9, 0x10, 0x27, 0x00, 0x00,       /* mov ecx, 10000 */
        0x48, 0x01, 0xc8,                   /* l: add rax, rcx */
        0xff, 0xc9,                         /* dec ecx */
        0x75, 0xf9,                         /* jnz l */
        0x49, 0x89, 0xc4,                   /* mov r12, rax */
        0x66, 0xba, 0xf8, 0x03, 0xb0, 'A', 0xee,
        EXIT_WITH(3),
    };
    /* B: r13 = 3^40 by repeated multiply, then print 'B', exit 4 */
    const uint8_t code_b[] = {
        0xb8, 0x01, 0, 0, 0,                /* mov eax, 1 */
        0xb9, 40, 0, 0, 0,                  /* mov ecx, 40 */
        0xbb, 3, 0, 0, 0,                   /* mov ebx, 3 */
        0x48, 0x0f, 0xaf, 0xc3,             /* l: imul rax, rbx */
        0xff, 0xc9,                         /* dec ecx */
        0x75, 0xf8,                         /* jnz l */
        0x49, 0x89, 0xc5,                   /* mov r13, rax */
        0x66, 0xba, 0xf8, 0x03, 0xb0, 'B', 0xee,
        EXIT_WITH(4),
    };
    load_code(a, code_a, sizeof code_a);
    load_code(b, code_b, sizeof code_b);
    struct svmsim_end ea = { 0 }, eb = { 0 };
    bool done_a = false, done_b = false;
    for (int slice = 0; slice < 10000 && !(done_a && done_b); slice++) {
        if (!done_a) {
            svmsim_set_max_insns(a, 97);
            done_a = svmsim_run(a, &ea) != SVMSIM_STATUS_MAX_INSNS;
        }
        if (!done_b) {
            svmsim_set_max_insns(b, 5);
            done_b = svmsim_run(b, &eb) != SVMSIM_STATUS_MAX_INSNS;
        }
    }
    cr_assert(done_a && done_b);
    cr_expect_eq(ea.status, (3 << 1) | 1);
    cr_expect_eq(eb.status, (4 << 1) | 1);
    struct svmsim_regs ra, rb;
    svmsim_get_regs(a, &ra);
    svmsim_get_regs(b, &rb);
    cr_expect_eq(ra.gpr[SVMSIM_R12], 50005000ull);
    uint64_t p = 1;
    for (int i = 0; i < 40; i++)
        p *= 3;
    cr_expect_eq(rb.gpr[SVMSIM_R13], p);
    cr_expect_str_eq(ca.buf, "A");
    cr_expect_str_eq(cb.buf, "B");
    svmsim_destroy(a);
    svmsim_destroy(b);
}

Test(machine, bad_configuration_is_refused_with_a_message)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = 12345;
    char err[128] = "";
    cr_expect_null(svmsim_create(&cfg, err, sizeof err));
    cr_expect(strstr(err, "4 KiB") != NULL, "%s", err);
}

Test(machine, segment_override_on_a_string_source_is_honoured)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    const uint8_t data = 0x5a;
    cr_assert_eq(svmsim_write_phys(vm, 0x200010, &data, 1), 0);
    const uint8_t code[] = {
        0xb9, 0x00, 0x01, 0x00, 0xc0, /* mov ecx, 0xc0000100 (FS_BASE) */
        0xb8, 0x00, 0x00, 0x20, 0x00, /* mov eax, 0x200000 */
        0x31, 0xd2,                   /* xor edx, edx */
        0x0f, 0x30,                   /* wrmsr */
        0xbe, 0x10, 0x00, 0x00, 0x00, /* mov esi, 0x10 */
        0x31, 0xc0,                   /* xor eax, eax */
        0x64, 0xac,                   /* lodsb al, fs:[rsi] */
        0xfa, 0xf4,                   /* cli; hlt */
    };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_assert_eq(svmsim_run(vm, &end), SVMSIM_STATUS_HALTED, "%s", end.message);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.gpr[SVMSIM_RAX], 0x5a, "read through the FS base: %#llx",
                 (unsigned long long)r.gpr[SVMSIM_RAX]);
    cr_expect_eq(r.gpr[SVMSIM_RSI], 0x11);
    svmsim_destroy(vm);
}

/* The decode cache must notice a store into code it has already decoded:
 * the loop body is decoded on the first pass, then rewritten. */
Test(machine, a_store_into_decoded_code_is_seen_by_the_next_fetch)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = machine(&con, NULL);
    const uint8_t code[] = {
        0x31, 0xc0,                         /* xor eax, eax */
        0xb9, 0x02, 0x00, 0x00, 0x00,       /* mov ecx, 2 */
        /* l: (CODE + 7) */
        0x83, 0xc0, 0x01,                   /* add eax, 1   <- becomes add eax, 0x10 */
        0xc6, 0x05, 0xf8, 0xff, 0xff, 0xff, 0x10, /* mov byte [rip - 8], 0x10 (the imm8 above) */
        0xff, 0xc9,                         /* dec ecx */
        0x75, 0xf2,                         /* jnz l */
        0xfa, 0xf4,                         /* cli; hlt */
    };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_assert_eq(svmsim_run(vm, &end), SVMSIM_STATUS_HALTED, "%s", end.message);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.gpr[SVMSIM_RAX], 0x11, "1 on the first pass, 0x10 on the second: %#llx",
                 (unsigned long long)r.gpr[SVMSIM_RAX]);
    svmsim_destroy(vm);
}

/* guests/svm/host_events.c, built beside the tests (SVMSIM_GUESTS). */
static struct svmsim_vm *host_events_machine(struct console *con)
{
    const char *dir = getenv("SVMSIM_GUESTS");
    cr_assert_not_null(dir, "SVMSIM_GUESTS is not set");
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/nested_host_events.elf", dir);
    struct svmsim_vm *vm = machine(con, NULL);
    cr_assert_eq(svmsim_load_elf(vm, path, err, sizeof err), 0, "%s", err);
    /* Into L2's counting loop: it runs for millions of instructions. */
    svmsim_set_max_insns(vm, 2000000);
    struct svmsim_end end;
    cr_assert_eq(svmsim_run(vm, &end), SVMSIM_STATUS_MAX_INSNS, "%s", end.message);
    cr_assert_eq(end.level, 2, "stopped in L%d, not in L2: %s", end.level, end.message);
    return vm;
}

Test(machine, kst_exc_01_a_host_queued_exception_reaches_l1_as_its_intercept)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = host_events_machine(&con);
    cr_expect_eq(svmsim_queue_exception(vm, 32, false, 0), -1, "vector 32 is refused");
    cr_assert_eq(svmsim_queue_exception(vm, 12, true, 0xdeadbeef), 0);
    svmsim_set_max_insns(vm, 50000000);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), 1, "%s", end.message);
    cr_expect(strstr(con.buf, "PASS: KST-EXC-01") != NULL, "console: %s", con.buf);
    svmsim_destroy(vm);
}

Test(machine, kst_gpa_07_a_vmexit_to_an_unbacked_vmcb12_shuts_the_vm_down)
{
    struct console con = { 0 };
    struct svmsim_vm *vm = host_events_machine(&con);
    struct svmsim_nested_state st;
    svmsim_get_nested_state(vm, &st);
    cr_assert(st.guest_mode);
    cr_expect_neq(st.vmcb12_gpa, 0);
    st.vmcb12_gpa = 1ull << 34; /* legal, past the 64 MiB of RAM */
    cr_assert_eq(svmsim_set_nested_state(vm, &st), 0);
    svmsim_set_max_insns(vm, 50000000);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_SHUTDOWN, "%s", end.message);
    cr_expect_eq(end.level, 2);
    cr_expect(strstr(end.message, "vmcb12 0x400000000") != NULL, "%s", end.message);
    st.guest_mode = false;
    cr_expect_eq(svmsim_set_nested_state(vm, &st), -1, "guest mode cannot be changed");
    svmsim_destroy(vm);
}

/* QEMU's pc-testdev is a device of its own knob (--testdev, as QEMU's
 * -device pc-testdev), not of DESIGN.md's machine: without it port 0xe0 is
 * unclaimed and 0xff000000 is nothing; with it they answer. */
static void testdev_probe(bool on, uint32_t *port, uint32_t *iomem)
{
    struct console con = { 0 };
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.console_write = console_write;
    cfg.console_opaque = &con;
    cfg.testdev = on;
    char err[128];
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    cr_assert_not_null(vm, "svmsim_create: %s", err);
    const uint8_t code[] = {
        0xb8, 0x78, 0x56, 0x34, 0x12, /* mov eax, 0x12345678 */
        0xe7, 0xe0,                   /* out 0xe0, eax */
        0xe5, 0xe0,                   /* in eax, 0xe0 */
        0x89, 0xc1,                   /* mov ecx, eax */
        0xbe, 0x00, 0x00, 0x00, 0xff, /* mov esi, 0xff000000 */
        0x8b, 0x1e,                   /* mov ebx, [rsi] */
        EXIT_WITH(0),
    };
    load_code(vm, code, sizeof code);
    struct svmsim_end end;
    cr_assert_eq(svmsim_run(vm, &end), 1);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    *port = (uint32_t)r.gpr[SVMSIM_RCX];
    *iomem = (uint32_t)r.gpr[SVMSIM_RBX];
    svmsim_destroy(vm);
}

Test(machine, the_test_device_is_there_only_with_its_knob)
{
    uint32_t port, iomem;
    testdev_probe(false, &port, &iomem);
    cr_expect_eq(port, 0xffffffffu, "port 0xe0 unclaimed by default");
    cr_expect_eq(iomem, 0xffffffffu, "nothing at 0xff000000 by default");
    testdev_probe(true, &port, &iomem);
    cr_expect_eq(port, 0x12345678u, "--testdev: port 0xe0 reads back");
    cr_expect_eq(iomem, 0, "--testdev: I/O memory starts zeroed");
}

/* Two vCPUs: the BSP sends INIT and SIPI (vector 0x10) to the other, then
 * counts in a qword at 2 MiB; the AP counts in a word at 0x8000 in real
 * mode. Run for total units, in runs of step units each. */
static void smp_counts(uint64_t total, uint64_t step, uint64_t *bsp, uint16_t *ap)
{
    struct console con = { 0 };
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.console_write = console_write;
    cfg.console_opaque = &con;
    cfg.vcpus = 2;
    cfg.deterministic = true;
    char err[128];
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    cr_assert_not_null(vm, "svmsim_create: %s", err);
    /* mov eax, 0xfee00300; mov dword [rax], 0xc4500 (INIT, all but self);
     * mov dword [rax], 0xc4610 (SIPI 0x10); l: inc qword [0x200000]; jmp l */
    const uint8_t bsp_code[] = { 0xb8, 0x00, 0x03, 0xe0, 0xfe, 0xc7, 0x00, 0x00, 0x45, 0x0c, 0x00,
                                 0xc7, 0x00, 0x10, 0x46, 0x0c, 0x00, 0x48, 0xff, 0x04, 0x25,
                                 0x00, 0x00, 0x20, 0x00, 0xeb, 0xf6 };
    /* (real mode, at 1000:0000) l: inc word [0x8000]; jmp l */
    const uint8_t ap_code[] = { 0xff, 0x06, 0x00, 0x80, 0xeb, 0xfa };
    load_code(vm, bsp_code, sizeof bsp_code);
    cr_assert_eq(svmsim_write_phys(vm, 0x10000, ap_code, sizeof ap_code), 0);
    struct svmsim_end end;
    for (uint64_t done = 0; done < total; done += step) {
        svmsim_set_max_insns(vm, step);
        cr_assert_eq(svmsim_run(vm, &end), SVMSIM_STATUS_MAX_INSNS, "%s", end.message);
    }
    cr_assert_eq(svmsim_read_phys(vm, 0x200000, bsp, 8), 0);
    cr_assert_eq(svmsim_read_phys(vm, 0x8000, ap, 2), 0);
    svmsim_destroy(vm);
}

Test(machine, two_vcpus_run_the_same_however_the_runs_split_the_work)
{
    uint64_t bsp1, bsp2, bsp3;
    uint16_t ap1, ap2, ap3;
    smp_counts(100000, 100000, &bsp1, &ap1);
    smp_counts(100000, 1000, &bsp2, &ap2);
    smp_counts(100000, 8, &bsp3, &ap3);
    cr_expect_gt(ap1, 10000, "the AP ran in real mode after SIPI: %u", ap1);
    cr_expect_gt(bsp1, 10000, "the BSP ran: %llu", (unsigned long long)bsp1);
    cr_expect_eq(bsp1, bsp2, "one run %llu, runs of 1000 %llu", (unsigned long long)bsp1,
                 (unsigned long long)bsp2);
    cr_expect_eq(ap1, ap2, "one run %u, runs of 1000 %u", ap1, ap2);
    cr_expect_eq(bsp1, bsp3, "one run %llu, runs of 8 %llu", (unsigned long long)bsp1,
                 (unsigned long long)bsp3);
    cr_expect_eq(ap1, ap3, "one run %u, runs of 8 %u", ap1, ap3);
}
