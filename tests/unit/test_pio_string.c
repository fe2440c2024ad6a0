/* test_pio_string.c — L0's string port I/O to a device that takes a whole
 * string at once (src/hv/io.c, the l0_io pio_string callback): one device
 * call per REP INS/OUTS with the registers as the instruction found them,
 * RCX/RSI/RDI advanced after it, DF and the address size honoured, 64 KiB
 * and the budget bounding a call, each element counted as work, a fault
 * part way handled as KVM does; and a device that takes no strings still
 * getting the elements one by one.
 *
 * Owns: a fixture of 16 MiB of RAM with identity page tables (one 4 KiB
 * page, HOLE, not present), a CPU and an L0 whose L1 runs in 64-bit ring 0,
 * and a fake device behind a fake l0_io that records what it is handed.
 * Must not: run the CPU; requests go straight to l0_pio, as io.c's
 * io_interception and backdoor.c build them.
 */
#include "hv/hv.h"

#include "l0_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

#include "cpu/cpu.h"
#include "mem/mem.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"
#include "svmsim/svmsim.h"

#define RAM_SIZE (16ull << 20)
#define PML4_GPA 0x2000ull
#define PDPT_GPA 0x3000ull
#define PD_GPA 0x4000ull            /* four page directories, 0x4000-0x7fff */
#define PT_GPA 0x8000ull            /* 4 KiB pages for 0x400000-0x5fffff */
#define RIP 0x100000ull
#define DATA 0x200000ull
#define HOLE 0x401000ull            /* not present */
#define PORT 0x5659
#define STRING_MAX 65536u

#define CODE64_ATTR 0x0a9b
#define DATA_ATTR 0x0c93

static struct gmem mem;
static struct cpu cpu;
static struct l0 l0;
static struct svmsim_end end;
static struct svmsim_config cfg;

/* ---- the fake device */

struct fake {
    bool strings;                   /* takes whole strings */
    unsigned asks, calls;           /* pio_string with count 0, and with more */
    bool in;
    unsigned size;
    uint64_t count;                 /* of the last call */
    uint64_t rcx, rsi, rdi;         /* the registers at the last call */
    uint8_t out[STRING_MAX];        /* the last OUT string */
    unsigned elements;              /* pio calls (element by element) */
    uint8_t elem_out[256];
};
static struct fake dev;

/* An IN string or element reads 0x40, 0x41, ... from its first byte. */
static uint8_t in_byte(uint64_t i)
{
    return (uint8_t)(0x40 + i);
}

static bool fake_pio(void *opaque, uint16_t port, unsigned size, bool is_in, uint32_t *value,
                     const char **name)
{
    *name = "fake";
    if (is_in)
        *value = in_byte(dev.elements);
    else if (dev.elements < sizeof dev.elem_out)
        dev.elem_out[dev.elements] = (uint8_t)*value;
    dev.elements++;
    return true;
}

static bool fake_pio_string(void *opaque, uint16_t port, unsigned size, bool is_in, uint8_t *buf,
                            uint64_t count, const char **name)
{
    *name = "fake";
    if (!dev.strings)
        return false;
    if (count == 0) {
        dev.asks++;
        return true;
    }
    cr_assert_leq(count * size, STRING_MAX, "%llu elements of %u bytes in one call",
                 (unsigned long long)count, size);
    dev.calls++;
    dev.in = is_in;
    dev.size = size;
    dev.count = count;
    dev.rcx = kvm_register_read_raw(&l0, VCPU_REGS_RCX);
    dev.rsi = kvm_register_read_raw(&l0, VCPU_REGS_RSI);
    dev.rdi = kvm_register_read_raw(&l0, VCPU_REGS_RDI);
    if (is_in)
        for (uint64_t i = 0; i < count * size; i++)
            buf[i] = in_byte(i);
    else
        memcpy(dev.out, buf, count * size);
    return true;
}

/* ---- the fixture */

static void *gpa_ptr(uint64_t gpa, size_t len)
{
    void *p = gmem_ptr(&mem, gpa, len);
    cr_assert_not_null(p, "GPA 0x%llx is not RAM", (unsigned long long)gpa);
    return p;
}

static void put64(uint64_t gpa, uint64_t v)
{
    memcpy(gpa_ptr(gpa, 8), &v, 8);
}

/* 4 GiB identity-mapped with 2 MiB pages, but 0x400000-0x5fffff in 4 KiB
 * pages with HOLE not present. */
static void write_page_tables(void)
{
    const uint64_t f = X86_PTE_P | X86_PTE_RW;
    put64(PML4_GPA, PDPT_GPA | f);
    for (uint64_t i = 0; i < 4; i++) {
        put64(PDPT_GPA + i * 8, (PD_GPA + i * 0x1000) | f);
        for (uint64_t j = 0; j < 512; j++)
            put64(PD_GPA + i * 0x1000 + j * 8, ((i << 30) | (j << 21)) | f | X86_PTE_PS);
    }
    put64(PD_GPA + 2 * 8, PT_GPA | f);
    for (uint64_t j = 0; j < 512; j++)
        put64(PT_GPA + j * 8, (0x400000ull + j * 0x1000) | f);
    put64(PT_GPA + ((HOLE - 0x400000ull) >> 12) * 8, 0);
}

static void l1_state(void)
{
    struct vmcb_save_area *sa = &l0.vmcb01->save;
    memset(sa, 0, sizeof(*sa));
    set_flat_segs(sa, CODE64_ATTR, DATA_ATTR);
    set_long_mode_cpl0(sa, PML4_GPA);
    sa->rip = RIP;
    l0.vmcb01->control.next_rip = RIP + 2; /* NRIPS: the instruction is 2 bytes */
    l0.end = &end;
    l0.tracing = true;
    svm_load_save_area(&cpu, sa);
    cpu_update_mode(&cpu);
}

static void make_l0(const struct l0_io *io)
{
    cr_assert_eq(l0_init(&l0, &cpu, &cfg, io), 0);
    l1_state();
}

static const struct l0_io fake_io = {
    .pio = fake_pio, .pio_string = fake_pio_string, .ended = never_ended, .opaque = NULL,
};

static void setup(void)
{
    memset(&end, 0, sizeof(end));
    memset(&dev, 0, sizeof(dev));
    dev.strings = true;
    struct cpu_model model = l0_fixture_model();
    cr_assert_eq(l0_fixture_cpu(&mem, RAM_SIZE, &cpu, &model), 0);
    svmsim_config_default(&cfg);
    cfg.mem_size = RAM_SIZE;
    write_page_tables();
    make_l0(&fake_io);
}

static void teardown(void)
{
    l0_fixture_fini(&l0, &cpu, &mem);
}

TestSuite(pio_string, .init = setup, .fini = teardown);

/* ---- requests, as io_interception decodes them in 64-bit mode */

static struct pio_req outs(unsigned size, bool rep)
{
    return (struct pio_req){ .port = PORT, .size = (uint8_t)size, .string = true, .rep = rep,
                             .asize = 8, .seg = SEG_DS };
}

static struct pio_req ins(unsigned size, bool rep)
{
    return (struct pio_req){ .port = PORT, .size = (uint8_t)size, .in = true, .string = true,
                             .rep = rep, .asize = 8, .seg = SEG_ES };
}

static void fill(uint64_t gpa, size_t len)
{
    uint8_t *p = gpa_ptr(gpa, len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 7 + 1);
}

static uint64_t rip(void)
{
    return l0.vmcb01->save.rip;
}

static void expect_completed(void)
{
    cr_expect_eq(rip(), RIP + 2, "RIP 0x%llx: the instruction did not complete",
                 (unsigned long long)rip());
    cr_expect_not(l0_event_pending(&l0));
}

static void expect_rip_stays(void)
{
    cr_expect_eq(rip(), RIP, "RIP 0x%llx, expected to stay on the instruction",
                 (unsigned long long)rip());
}

/* ---- one call, the registers as found */

Test(pio_string, rep_outsb_is_one_device_call_with_the_registers_as_found)
{
    fill(DATA, 300);
    cpu.gpr[VCPU_REGS_RCX] = 300;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    cpu.gpr[VCPU_REGS_RDI] = 0x1234;
    uint64_t work = cpu_work(&cpu);
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 1);
    cr_expect_eq(dev.elements, 0, "no element went to pio");
    cr_expect_not(dev.in);
    cr_expect_eq(dev.count, 300);
    cr_expect_eq(dev.rcx, 300, "RCX at the call");
    cr_expect_eq(dev.rsi, DATA, "RSI at the call");
    cr_expect_eq(memcmp(dev.out, gpa_ptr(DATA, 300), 300), 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 300);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RDI], 0x1234);
    cr_expect_eq(cpu_work(&cpu) - work, 300, "each element is work");
    expect_completed();
    cr_expect_eq(l0.rec.decision, SVMSIM_DECISION_DEVICE);
    cr_expect(strstr(l0.rec.detail, "in one call") != NULL, "%s", l0.rec.detail);
}

Test(pio_string, rep_outsb_with_df_set_sends_from_rsi_downwards)
{
    fill(DATA, 16);
    l0.vmcb01->save.rflags |= X86_RFLAGS_DF;
    cpu.gpr[VCPU_REGS_RCX] = 16;
    cpu.gpr[VCPU_REGS_RSI] = DATA + 15;
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    const uint8_t *src = gpa_ptr(DATA, 16);
    cr_assert_eq(dev.count, 16);
    for (unsigned i = 0; i < 16; i++)
        cr_expect_eq(dev.out[i], src[15 - i], "element %u", i);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA - 1);
    expect_completed();
}

Test(pio_string, rep_insb_scatters_what_the_device_filled)
{
    memset(gpa_ptr(DATA, 64), 0xcc, 64);
    cpu.gpr[VCPU_REGS_RCX] = 40;
    cpu.gpr[VCPU_REGS_RDI] = DATA + 8;
    cpu.gpr[VCPU_REGS_RSI] = 0xabcd;
    struct pio_req r = ins(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 1);
    cr_expect(dev.in);
    cr_expect_eq(dev.count, 40);
    cr_expect_eq(dev.rcx, 40, "RCX at the call");
    cr_expect_eq(dev.rdi, DATA + 8, "RDI at the call");
    const uint8_t *dst = gpa_ptr(DATA, 64);
    for (unsigned i = 0; i < 40; i++)
        cr_expect_eq(dst[8 + i], in_byte(i), "byte %u", i);
    cr_expect_eq(dst[7], 0xcc);
    cr_expect_eq(dst[48], 0xcc);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RDI], DATA + 48);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], 0xabcd);
    expect_completed();
}

Test(pio_string, rep_insw_with_df_set_fills_words_downwards)
{
    memset(gpa_ptr(DATA, 16), 0, 16);
    l0.vmcb01->save.rflags |= X86_RFLAGS_DF;
    cpu.gpr[VCPU_REGS_RCX] = 3;
    cpu.gpr[VCPU_REGS_RDI] = DATA + 8;
    struct pio_req r = ins(2, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.size, 2);
    cr_expect_eq(dev.count, 3);
    const uint8_t *d = gpa_ptr(DATA, 16);
    /* element i (bytes 2i, 2i+1 of the string) lands at DATA + 8 - 2i */
    for (unsigned i = 0; i < 3; i++) {
        cr_expect_eq(d[8 - 2 * i], in_byte(2 * i), "element %u low byte", i);
        cr_expect_eq(d[9 - 2 * i], in_byte(2 * i + 1), "element %u high byte", i);
    }
    cr_expect_eq(cpu.gpr[VCPU_REGS_RDI], DATA + 2);
    expect_completed();
}

Test(pio_string, address_size_4_uses_ecx_and_esi_and_zero_extends_them)
{
    fill(DATA, 8);
    cpu.gpr[VCPU_REGS_RCX] = 0x1234500000008ull;
    cpu.gpr[VCPU_REGS_RSI] = 0xdead00000000ull | DATA;
    struct pio_req r = outs(1, true);
    r.asize = 4;
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.count, 8);
    cr_expect_eq(memcmp(dev.out, gpa_ptr(DATA, 8), 8), 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 8, "RSI 0x%llx",
                 (unsigned long long)cpu.gpr[VCPU_REGS_RSI]);
    expect_completed();
}

Test(pio_string, outsb_without_rep_is_a_string_of_one_and_leaves_rcx)
{
    fill(DATA, 1);
    cpu.gpr[VCPU_REGS_RCX] = 77;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    struct pio_req r = outs(1, false);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 1);
    cr_expect_eq(dev.count, 1);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 77);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 1);
    expect_completed();
}

Test(pio_string, rep_with_rcx_0_calls_no_device_and_completes)
{
    cpu.gpr[VCPU_REGS_RCX] = 0;
    cpu.gpr[VCPU_REGS_RDI] = DATA;
    uint64_t work = cpu_work(&cpu);
    struct pio_req r = ins(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RDI], DATA);
    cr_expect_eq(cpu_work(&cpu) - work, 1, "the instruction still retires");
    expect_completed();
}

/* ---- bounds: 64 KiB and the budget */

Test(pio_string, a_rep_longer_than_64_kib_goes_on_as_an_interrupted_one)
{
    cpu.gpr[VCPU_REGS_RCX] = 70000;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    uint64_t work = cpu_work(&cpu);
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.count, STRING_MAX);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 70000 - STRING_MAX);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + STRING_MAX);
    cr_expect_eq(cpu_work(&cpu) - work, STRING_MAX);
    expect_rip_stays();
    cr_expect_not(l0_event_pending(&l0));

    /* The guest executes it again: the rest, the registers as now found. */
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 2);
    cr_expect_eq(dev.count, 70000 - STRING_MAX);
    cr_expect_eq(dev.rcx, 70000 - STRING_MAX);
    cr_expect_eq(dev.rsi, DATA + STRING_MAX);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 70000);
    cr_expect_eq(cpu_work(&cpu) - work, 70000);
    expect_completed();
}

Test(pio_string, rep_outsd_moves_at_most_64_kib_per_call)
{
    cpu.gpr[VCPU_REGS_RCX] = 20000;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    struct pio_req r = outs(4, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.count, STRING_MAX / 4);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 20000 - STRING_MAX / 4);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + STRING_MAX);
    expect_rip_stays();
}

Test(pio_string, the_budget_bounds_a_call)
{
    fill(DATA, 100);
    l0.max_insns = cpu_work(&cpu) + 10;
    cpu.gpr[VCPU_REGS_RCX] = 100;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.count, 10);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 90);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 10);
    cr_expect_eq(l0_budget_left(&l0), 0);
    expect_rip_stays();
}

/* ---- a guest-memory fault part way */

Test(pio_string, a_fault_while_gathering_an_outs_reaches_no_device)
{
    cpu.gpr[VCPU_REGS_RCX] = 8;
    cpu.gpr[VCPU_REGS_RSI] = HOLE - 3;
    uint64_t work = cpu_work(&cpu);
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 0, "the device saw part of the string");
    cr_expect_eq(dev.elements, 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 8);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], HOLE - 3);
    expect_rip_stays();
    cr_assert(l0.exception.pending);
    cr_expect_eq(l0.exception.vector, X86_VEC_PF);
    cr_expect_eq(l0.exception.payload, HOLE, "CR2 0x%llx",
                 (unsigned long long)l0.exception.payload);
    cr_expect_eq(l0.rec.decision, SVMSIM_DECISION_INJECTED);
    cr_expect_eq(cpu_work(&cpu) - work, 3, "three elements tried beyond the first");
}

Test(pio_string, a_fault_while_scattering_an_ins_keeps_the_elements_before_it)
{
    uint8_t *before = gpa_ptr(HOLE - 3, 3);
    memset(before, 0, 3);
    cpu.gpr[VCPU_REGS_RCX] = 8;
    cpu.gpr[VCPU_REGS_RDI] = HOLE - 3;
    struct pio_req r = ins(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 1);
    cr_expect_eq(dev.count, 8);
    for (unsigned i = 0; i < 3; i++)
        cr_expect_eq(before[i], in_byte(i), "byte %u", i);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 5);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RDI], HOLE);
    expect_rip_stays();
    cr_assert(l0.exception.pending);
    cr_expect_eq(l0.exception.vector, X86_VEC_PF);
    cr_expect_eq(l0.exception.payload, HOLE);
    cr_expect(l0.exception.error & X86_PF_W, "error 0x%x", l0.exception.error);
}

/* ---- devices that take no strings keep the element path */

static void expect_element_path(void)
{
    fill(DATA, 50);
    cpu.gpr[VCPU_REGS_RCX] = 50;
    cpu.gpr[VCPU_REGS_RSI] = DATA;
    uint64_t work = cpu_work(&cpu);
    struct pio_req r = outs(1, true);
    cr_assert_eq(l0_pio(&l0, &r), 1);
    cr_expect_eq(dev.calls, 0);
    cr_expect_eq(dev.elements, 50);
    cr_expect_eq(memcmp(dev.elem_out, gpa_ptr(DATA, 50), 50), 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RCX], 0);
    cr_expect_eq(cpu.gpr[VCPU_REGS_RSI], DATA + 50);
    cr_expect_eq(cpu_work(&cpu) - work, 50, "the same work as one call");
    expect_completed();
    cr_expect(strstr(l0.rec.detail, "in one call") == NULL, "%s", l0.rec.detail);
}

Test(pio_string, a_device_without_strings_gets_the_elements_one_by_one)
{
    dev.strings = false;
    expect_element_path();
}

Test(pio_string, without_the_callback_the_elements_go_one_by_one)
{
    l0_fini(&l0);
    struct l0_io io = { .pio = fake_pio, .ended = never_ended, .opaque = NULL };
    make_l0(&io);
    expect_element_path();
    cr_expect_eq(dev.asks, 0);
}
