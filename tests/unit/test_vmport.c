/* test_vmport.c — the VMware backdoor device (src/vmm/vmport*.c): every
 * command's registers, the error answers, GuestRPC as open-vm-tools drives
 * it (ORACLE.md §4.3, §4.4 OVT-01..08) over the low-bandwidth chunks and
 * over the high-bandwidth port (§4.2), its malformed sequences, and the
 * device wired into a machine (src/vmm/machine.c).
 *
 * Owns: a fake vCPU (a register array behind struct bus_regs) and a bus
 * with the device on ports 0x5658 and 0x5659, accessed as L0 does after an
 * IN/OUT or a whole REP INSB/OUTSB; GuestRPC helpers that follow
 * open-vm-tools' Message_Open/Send/Receive.
 * Must not: depend on L0 or the CPU, except the machine tests at the end,
 * which run real IN instructions through the public API.
 */
#include "vmm/vmport.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/svmsim.h"

#define MAGIC 0x564D5868u
enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7 };

/* ---- the rig: a bus with the device and a fake vCPU */

struct rig {
    struct bus bus;
    struct vmport vp;
    uint64_t gpr[16];
    uint64_t now_ns;                    /* what the clock says */
    struct bus_regs regs;
};

static void rig_read(void *opaque, uint32_t r[BUS_REGS_N])
{
    struct rig *t = opaque;
    for (unsigned n = 0; n < BUS_REGS_N; n++)
        r[n] = (uint32_t)t->gpr[n];
}

static void rig_write(void *opaque, const uint32_t r[BUS_REGS_N], unsigned mask)
{
    struct rig *t = opaque;
    for (unsigned n = 0; n < BUS_REGS_N; n++)
        if (mask & (1u << n))
            t->gpr[n] = r[n];
}

static uint64_t rig_clock(void *opaque)
{
    struct rig *t = opaque;
    return t->now_ns;
}

static const uint8_t test_uuid[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

static struct vmport_params rig_params(struct rig *t)
{
    struct vmport_params p = {
        .version = 6, .product_type = 2, .mem_size = 64ull << 20,
        .clock = rig_clock, .clock_opaque = t,
    };
    memcpy(p.uuid, test_uuid, sizeof p.uuid);
    return p;
}

static void rig_init_with(struct rig *t, const struct vmport_params *p)
{
    memset(t, 0, sizeof *t);
    t->regs = (struct bus_regs){ .read = rig_read, .write = rig_write, .opaque = t };
    bus_init(&t->bus);
    char err[128];
    cr_assert_eq(vmport_init(&t->vp, p, err, sizeof err), 0, "vmport_init: %s", err);
    cr_assert_eq(bus_register(&t->bus, VMPORT_PORT, VMPORT_PORTS, "vmport", &vmport_ops, &t->vp),
                 0);
    cr_assert_eq(bus_register(&t->bus, VMPORT_HB_PORT, VMPORT_HB_PORTS, "vmport-hb",
                              &vmport_hb_ops, &t->vp),
                 0);
}

static void rig_init(struct rig *t)
{
    struct vmport_params p = rig_params(t);
    rig_init_with(t, &p);
}

/* Distinct 64-bit values in every register, so "untouched" means it. */
static void rig_seed(struct rig *t)
{
    for (unsigned i = 0; i < 16; i++)
        t->gpr[i] = 0xa5a5000000000000ull | (uint64_t)i << 40 | (0xdead0000u + i);
}

/* One access to 0x5658 as L0 completes it: an IN merges the value read
 * into AL/AX/EAX (a 32-bit IN zero-extends), an OUT passes RAX's low
 * bytes. */
static void rig_access(struct rig *t, bool is_in, unsigned size)
{
    uint64_t mask = size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
    uint32_t v = (uint32_t)(t->gpr[RAX] & mask);
    cr_assert_not_null(bus_io(&t->bus, VMPORT_PORT, size, is_in, &v, &t->regs));
    if (is_in)
        t->gpr[RAX] = size == 4 ? v : (t->gpr[RAX] & ~mask) | (v & mask);
}

/* `in eax, dx` with EAX = magic, ECX = ecx, EDX = port, the rest seeded. */
static void rig_call(struct rig *t, uint32_t ecx)
{
    rig_seed(t);
    t->gpr[RAX] = MAGIC;
    t->gpr[RCX] = ecx;
    t->gpr[RDX] = VMPORT_PORT;
    rig_access(t, true, 4);
}

/* The seed value of reg: what an untouched register still holds. */
static uint64_t seeded(unsigned reg)
{
    return 0xa5a5000000000000ull | (uint64_t)reg << 40 | (0xdead0000u + reg);
}

static void expect_untouched(const struct rig *t, const unsigned *regs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(t->gpr[regs[i]], seeded(regs[i]), "register %u changed to %#llx", regs[i],
                     (unsigned long long)t->gpr[regs[i]]);
}

#define UNTOUCHED(t, ...)                                                                    \
    do {                                                                                     \
        static const unsigned regs_[] = { __VA_ARGS__ };                                     \
        expect_untouched(t, regs_, sizeof regs_ / sizeof regs_[0]);                          \
    } while (0)

/* ---- commands */

Test(vmport, getmhz_gives_the_1_ghz_tsc_in_mhz_and_the_magic)
{
    /* QEMU has no GETMHZ: it would answer EAX = 0xFFFFFFFF. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, VMPORT_CMD_GETMHZ);
    cr_expect_eq(t.gpr[RAX], 1000);
    cr_expect_eq(t.gpr[RBX], MAGIC);
    cr_expect_eq(t.gpr[RCX], VMPORT_CMD_GETMHZ);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, getversion_gives_version_magic_and_product_type)
{
    /* QV-03: QEMU answers the same registers (version 6, type 2 by default). */
    struct rig t;
    struct vmport_params p = rig_params(&t);
    p.version = 7;
    p.product_type = 4;
    rig_init_with(&t, &p);
    rig_call(&t, VMPORT_CMD_GETVERSION);
    cr_expect_eq(t.gpr[RAX], 7);
    cr_expect_eq(t.gpr[RBX], MAGIC);
    cr_expect_eq(t.gpr[RCX], 4);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, getuuid_gives_the_bytes_as_four_little_endian_dwords)
{
    /* QV-04 (QEMU's GET_BIOS_UUID): the same. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, VMPORT_CMD_GETUUID);
    cr_expect_eq(t.gpr[RAX], 0x33221100);
    cr_expect_eq(t.gpr[RBX], 0x77665544);
    cr_expect_eq(t.gpr[RCX], 0xbbaa9988);
    cr_expect_eq(t.gpr[RDX], 0xffeeddcc);
    UNTOUCHED(&t, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, getmemsize_gives_mib_as_vmware)
{
    /* QV-05: QEMU gives bytes (0x04000000 here) and EBX = 0x1177. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, VMPORT_CMD_GETMEMSIZE);
    cr_expect_eq(t.gpr[RAX], 64);
    cr_expect_eq(t.gpr[RCX], VMPORT_CMD_GETMEMSIZE);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RBX, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, gettime_gives_seconds_microseconds_lag_and_utc_offset)
{
    /* QV-06: QEMU leaves EDX alone; VMware (and v86) give the UTC offset. */
    struct rig t;
    rig_init(&t);
    t.now_ns = 1700000000ull * 1000000000ull + 123456789;
    rig_call(&t, VMPORT_CMD_GETTIME);
    cr_expect_eq(t.gpr[RAX], 1700000000);
    cr_expect_eq(t.gpr[RBX], 123456);
    cr_expect_eq(t.gpr[RCX], 1000000);
    cr_expect_eq(t.gpr[RDX], 0);
    UNTOUCHED(&t, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, gettime_truncates_seconds_to_32_bits)
{
    struct rig t;
    rig_init(&t);
    t.now_ns = 0x100000005ull * 1000000000ull + 999999999;
    rig_call(&t, VMPORT_CMD_GETTIME);
    cr_expect_eq(t.gpr[RAX], 5);
    cr_expect_eq(t.gpr[RBX], 999999);
    vmport_fini(&t.vp);
}

Test(vmport, gethz_gives_tsc_hz_in_two_halves_and_the_apic_bus_hz)
{
    /* QV-07: the same in QEMU when it knows both frequencies. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, VMPORT_CMD_GETHZ);
    cr_expect_eq(t.gpr[RAX], 1000000000);
    cr_expect_eq(t.gpr[RBX], 0);
    cr_expect_eq(t.gpr[RCX], 1000000000);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, gettimefull_gives_64_bit_seconds_in_esi_edx)
{
    /* QV-08: the same in QEMU. */
    struct rig t;
    rig_init(&t);
    t.now_ns = 0x100000005ull * 1000000000ull + 999999999;
    rig_call(&t, VMPORT_CMD_GETTIMEFULL);
    cr_expect_eq(t.gpr[RAX], MAGIC);
    cr_expect_eq(t.gpr[RSI], 1);
    cr_expect_eq(t.gpr[RDX], 5);
    cr_expect_eq(t.gpr[RBX], 999999);
    cr_expect_eq(t.gpr[RCX], 1000000);
    UNTOUCHED(&t, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, time_follows_the_clock_it_was_given_exactly)
{
    struct rig t;
    rig_init(&t);
    t.now_ns = 4016; /* e.g. 1004 units of work at 4 ns under --deterministic */
    rig_call(&t, VMPORT_CMD_GETTIMEFULL);
    cr_expect_eq(t.gpr[RSI], 0);
    cr_expect_eq(t.gpr[RDX], 0);
    cr_expect_eq(t.gpr[RBX], 4);
    t.now_ns = 2000000999;
    rig_call(&t, VMPORT_CMD_GETTIME);
    cr_expect_eq(t.gpr[RAX], 2);
    cr_expect_eq(t.gpr[RBX], 0, "999 ns is not a microsecond");
    vmport_fini(&t.vp);
}

Test(vmport, get_vcpu_info_says_implemented_and_no_x2apic)
{
    /* QV-09: QEMU sets bit 3 when the guest's CPUID has x2APIC. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, VMPORT_CMD_GET_VCPU_INFO);
    cr_expect_eq(t.gpr[RAX], 0);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RBX, RSI, RDI, RSP, RBP);
    cr_expect_eq(t.gpr[RCX], VMPORT_CMD_GET_VCPU_INFO);
    vmport_fini(&t.vp);
}

/* ---- errors and the command's width */

Test(vmport, wrong_magic_gives_all_ones_in_eax_and_nothing_else)
{
    /* QV-01 */
    struct rig t;
    rig_init(&t);
    rig_seed(&t);
    t.gpr[RAX] = MAGIC + 1;
    t.gpr[RCX] = VMPORT_CMD_GETVERSION;
    t.gpr[RDX] = VMPORT_PORT;
    rig_access(&t, true, 4);
    cr_expect_eq(t.gpr[RAX], 0xffffffff);
    cr_expect_eq(t.gpr[RCX], VMPORT_CMD_GETVERSION);
    cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
    UNTOUCHED(&t, RBX, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, magic_is_eax_not_rax)
{
    struct rig t;
    rig_init(&t);
    rig_seed(&t);
    t.gpr[RAX] = 0x12345678ull << 32 | MAGIC;
    t.gpr[RCX] = VMPORT_CMD_GETVERSION;
    rig_access(&t, false, 4);
    cr_expect_eq(t.gpr[RAX], 6);
    vmport_fini(&t.vp);
}

Test(vmport, unknown_command_gives_all_ones_in_eax_and_nothing_else)
{
    /* QV-02: ECX = 0xFFF is what kvm-unit-tests uses (EBX must stay). */
    static const uint32_t cmds[] = { 0xfff, 0xffff, 0, 2, 17, 69, 100, 105 };
    struct rig t;
    rig_init(&t);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        rig_call(&t, cmds[i]);
        cr_expect_eq(t.gpr[RAX], 0xffffffff, "command %#x", cmds[i]);
        cr_expect_eq(t.gpr[RCX], cmds[i]);
        cr_expect_eq(t.gpr[RDX], VMPORT_PORT);
        UNTOUCHED(&t, RBX, RSI, RDI, RSP, RBP);
    }
    vmport_fini(&t.vp);
}

Test(vmport, command_is_cx_and_the_sub_command_does_not_matter)
{
    struct rig t;
    rig_init(&t);
    rig_call(&t, 0x1000a); /* CX = 0x000A: GETVERSION, sub-command 1 */
    cr_expect_eq(t.gpr[RAX], 6);
    cr_expect_eq(t.gpr[RBX], MAGIC);
    cr_expect_eq(t.gpr[RCX], 2);
    vmport_fini(&t.vp);
}

Test(vmport, command_is_16_bits_so_0x10a_is_unknown)
{
    /* QV-13: QEMU reads CL only and would answer GETVERSION. */
    struct rig t;
    rig_init(&t);
    rig_call(&t, 0x10a);
    cr_expect_eq(t.gpr[RAX], 0xffffffff);
    cr_expect_eq(t.gpr[RCX], 0x10a);
    UNTOUCHED(&t, RBX, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

Test(vmport, in_and_out_of_every_size_leave_the_same_registers)
{
    static const struct {
        uint32_t eax, ecx;
    } calls[] = {
        { MAGIC, VMPORT_CMD_GETMHZ },     { MAGIC, VMPORT_CMD_GETVERSION },
        { MAGIC, VMPORT_CMD_GETUUID },    { MAGIC, VMPORT_CMD_GETMEMSIZE },
        { MAGIC, VMPORT_CMD_GETTIME },    { MAGIC, VMPORT_CMD_GETHZ },
        { MAGIC, VMPORT_CMD_GETTIMEFULL }, { MAGIC, VMPORT_CMD_GET_VCPU_INFO },
        { MAGIC, 0xfff },                 { 0x12345678, VMPORT_CMD_GETVERSION },
    };
    static const struct {
        bool in;
        unsigned size;
    } forms[] = { { true, 1 }, { true, 2 }, { false, 1 }, { false, 2 }, { false, 4 } };
    struct rig t;
    rig_init(&t);
    t.now_ns = 1234567890123456789ull;
    for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
        uint64_t want[16];
        rig_seed(&t);
        t.gpr[RAX] = calls[c].eax;
        t.gpr[RCX] = calls[c].ecx;
        rig_access(&t, true, 4);
        memcpy(want, t.gpr, sizeof want);
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            rig_seed(&t);
            t.gpr[RAX] = calls[c].eax;
            t.gpr[RCX] = calls[c].ecx;
            rig_access(&t, forms[f].in, forms[f].size);
            for (unsigned r = 0; r < 16; r++)
                cr_expect_eq(t.gpr[r], want[r], "call %zu, %s size %u: register %u", c,
                             forms[f].in ? "IN" : "OUT", forms[f].size, r);
        }
    }
    vmport_fini(&t.vp);
}

Test(vmport, an_access_without_registers_reads_all_ones)
{
    struct rig t;
    rig_init(&t);
    uint32_t v = 0;
    cr_expect_not_null(bus_io(&t.bus, VMPORT_PORT, 4, true, &v, NULL));
    cr_expect_eq(v, 0xffffffff);
    vmport_fini(&t.vp);
}

Test(vmport, claims_0x5658_and_0x5659_and_only_the_hb_port_takes_strings)
{
    struct rig t;
    rig_init(&t);
    uint32_t v = 0;
    cr_expect_null(bus_io(&t.bus, 0x5657, 4, true, &v, &t.regs));
    cr_expect_null(bus_io(&t.bus, 0x565a, 4, true, &v, &t.regs));
    cr_expect_null(bus_find_string(&t.bus, VMPORT_PORT), "LB: element by element");
    const struct bus_range *r = bus_find_string(&t.bus, VMPORT_HB_PORT);
    cr_assert_not_null(r);
    cr_expect_str_eq(r->name, "vmport-hb");
    vmport_fini(&t.vp);
}

Test(vmport, a_single_in_on_the_hb_port_reads_all_ones_and_touches_no_register)
{
    struct rig t;
    rig_init(&t);
    rig_seed(&t);
    t.gpr[RAX] = MAGIC;
    t.gpr[RCX] = VMPORT_CMD_GETVERSION;
    uint32_t v = 0;
    cr_expect_not_null(bus_io(&t.bus, VMPORT_HB_PORT, 4, true, &v, &t.regs));
    cr_expect_eq(v, 0xffffffff);
    cr_expect_eq(t.gpr[RAX], MAGIC);
    UNTOUCHED(&t, RBX, RDX, RSI, RDI, RSP, RBP);
    vmport_fini(&t.vp);
}

/* ---- GuestRPC helpers, as open-vm-tools' message.c drives the channel */

struct chan {
    uint16_t id;
    uint32_t cookie_high, cookie_low;
};

/* One MESSAGE call; returns the status (ECX[31:16]). Every answer keeps
 * ECX[15:0] and EDX[15:0], and offers HB only with SUCCESS, on SENDSIZE or
 * RECVSIZE. */
static uint16_t rig_msg(struct rig *t, uint16_t type, const struct chan *ch, uint32_t ebx)
{
    rig_seed(t);
    t->gpr[RAX] = MAGIC;
    t->gpr[RBX] = ebx;
    t->gpr[RCX] = (uint32_t)type << 16 | VMPORT_CMD_MESSAGE;
    t->gpr[RDX] = (uint32_t)ch->id << 16 | VMPORT_PORT;
    t->gpr[RSI] = ch->cookie_high;
    t->gpr[RDI] = ch->cookie_low;
    rig_access(t, true, 4);
    cr_assert_eq(t->gpr[RAX], MAGIC);
    cr_assert_eq(t->gpr[RCX] & 0xffff, VMPORT_CMD_MESSAGE);
    cr_assert_eq(t->gpr[RDX] & 0xffff, VMPORT_PORT);
    uint16_t status = (uint16_t)(t->gpr[RCX] >> 16);
    if (status & VMPORT_MSG_HB)
        cr_assert((type == VMPORT_MSG_SENDSIZE || type == VMPORT_MSG_RECVSIZE) &&
                      (status & VMPORT_MSG_SUCCESS),
                  "HB offered by type %u, status %#x", type, status);
    return status;
}

static bool ok(uint16_t status)
{
    return status & VMPORT_MSG_SUCCESS;
}

/* Message_Open: with cookies, ESI/EDI come back as the cookies. */
static uint16_t rpc_open(struct rig *t, uint32_t proto, bool cookies, struct chan *ch)
{
    struct chan none = { 0, 0, 0 };
    uint16_t st = rig_msg(t, VMPORT_MSG_OPEN, &none,
                          proto | (cookies ? VMPORT_MSG_FLAG_COOKIE : 0));
    if (ok(st)) {
        ch->id = (uint16_t)(t->gpr[RDX] >> 16);
        ch->cookie_high = cookies ? (uint32_t)t->gpr[RSI] : 0;
        ch->cookie_low = cookies ? (uint32_t)t->gpr[RDI] : 0;
    }
    return st;
}

static struct chan rpc_open_ok(struct rig *t, uint32_t proto, bool cookies)
{
    struct chan ch = { 0, 0, 0 };
    cr_assert(ok(rpc_open(t, proto, cookies, &ch)), "OPEN failed");
    return ch;
}

/* SENDPAYLOAD of buf[from, to): 1-4 bytes per call, little-endian. */
static void rpc_send_part(struct rig *t, const struct chan *ch, const uint8_t *buf, uint32_t from,
                          uint32_t to)
{
    for (uint32_t i = from; i < to; i += 4) {
        uint32_t v = 0;
        for (uint32_t j = 0; j < 4 && i + j < to; j++)
            v |= (uint32_t)buf[i + j] << (8 * j);
        cr_assert(ok(rig_msg(t, VMPORT_MSG_SENDPAYLOAD, ch, v)), "SENDPAYLOAD at %u", i);
    }
}

/* SENDSIZE: SUCCESS, and HB when there is a payload to come. */
static void rpc_sendsize(struct rig *t, const struct chan *ch, uint32_t len)
{
    uint16_t st = rig_msg(t, VMPORT_MSG_SENDSIZE, ch, len);
    cr_assert_eq(st, VMPORT_MSG_SUCCESS | (len ? VMPORT_MSG_HB : 0), "SENDSIZE %u: status %#x",
                 len, st);
}

/* Message_Send of a guest that ignores the HB bit (open-vm-tools' fallback
 * to low bandwidth): the payload in chunks all the same. */
static void rpc_send(struct rig *t, const struct chan *ch, const void *buf, uint32_t len)
{
    rpc_sendsize(t, ch, len);
    rpc_send_part(t, ch, buf, 0, len);
}

/* RECVSIZE; returns the length announced (DORECV, HB since a reply is
 * never empty, and EDX[31:16] = 1). */
static uint32_t rpc_recvsize(struct rig *t, const struct chan *ch)
{
    uint16_t st = rig_msg(t, VMPORT_MSG_RECVSIZE, ch, 0);
    cr_assert_eq(st, VMPORT_MSG_SUCCESS | VMPORT_MSG_DORECV | VMPORT_MSG_HB,
                 "RECVSIZE status %#x", st);
    cr_assert_eq(t->gpr[RDX] >> 16, VMPORT_MSG_SENDSIZE);
    return (uint32_t)t->gpr[RBX];
}

/* RECVPAYLOAD of buf[from, to) (from a multiple of 4). */
static void rpc_recv_part(struct rig *t, const struct chan *ch, char *buf, uint32_t from,
                          uint32_t to)
{
    for (uint32_t i = from; i < to; i += 4) {
        cr_assert(ok(rig_msg(t, VMPORT_MSG_RECVPAYLOAD, ch, VMPORT_MSG_SUCCESS)),
                  "RECVPAYLOAD at %u", i);
        cr_assert_eq(t->gpr[RDX] >> 16, VMPORT_MSG_SENDPAYLOAD);
        for (uint32_t j = 0; j < 4 && i + j < to; j++)
            buf[i + j] = (char)(t->gpr[RBX] >> (8 * j));
    }
}

static void rpc_recvstatus(struct rig *t, const struct chan *ch)
{
    cr_assert(ok(rig_msg(t, VMPORT_MSG_RECVSTATUS, ch, VMPORT_MSG_SUCCESS)), "RECVSTATUS");
}

/* Message_Receive into buf (NUL-terminated). */
static void rpc_recv(struct rig *t, const struct chan *ch, char *buf, size_t cap)
{
    uint32_t len = rpc_recvsize(t, ch);
    cr_assert_lt(len, cap);
    rpc_recv_part(t, ch, buf, 0, len);
    buf[len] = '\0';
    rpc_recvstatus(t, ch);
}

/* One RPCI request and its reply; with_nul sends the terminating NUL too,
 * as RpcChannel_Send does. */
static void rpc_expect(struct rig *t, const struct chan *ch, const char *req, bool with_nul,
                       const char *reply)
{
    char got[256];
    rpc_send(t, ch, req, (uint32_t)strlen(req) + (with_nul ? 1 : 0));
    rpc_recv(t, ch, got, sizeof got);
    cr_expect_str_eq(got, reply, "request '%s'", req);
}

static void rpc_close(struct rig *t, const struct chan *ch)
{
    cr_assert(ok(rig_msg(t, VMPORT_MSG_CLOSE, ch, 0)), "CLOSE");
}

/* ORACLE.md §4.4 */
static const struct {
    const char *req, *reply;
} ovt[] = {
    { "info-get guestinfo.foo", "0 No value found" },           /* OVT-01 */
    { "info-set guestinfo.foo bar", "1 " },                     /* OVT-02 */
    { "info-get guestinfo.foo", "1 bar" },                      /* OVT-03 */
    { "tools.set.versiontype 12389 3", "1 " },                  /* OVT-04 */
    { "tools.set.version 12389", "1 " },                        /* OVT-04's fallback */
    { "log hello from the guest", "1 " },                       /* OVT-05 */
    { "vmx.capability.unified_loop toolbox", "1 " },            /* OVT-06 */
    { "tools.capability.features 0=1 2=1 3=0", "1 " },          /* OVT-07 */
    { "frobnicate now", "0 Unknown command" },                  /* OVT-08 */
};

typedef void rpc_expect_fn(struct rig *t, const struct chan *ch, const char *req, bool with_nul,
                           const char *reply);

static void ovt_exchange_by(rpc_expect_fn *expect, bool cookies, bool with_nul)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, cookies);
    for (size_t i = 0; i < sizeof ovt / sizeof ovt[0]; i++)
        expect(&t, &ch, ovt[i].req, with_nul, ovt[i].reply);
    rpc_close(&t, &ch);
    const char *key, *value;
    cr_assert_eq(vmport_guestinfo_count(&t.vp), 1);
    bool by_guest = false;
    cr_assert(vmport_guestinfo_get(&t.vp, 0, &key, &value, &by_guest));
    cr_expect(by_guest, "set by info-set");
    cr_expect_str_eq(key, "foo");
    cr_expect_str_eq(value, "bar");
    cr_assert_eq(vmport_log_count(&t.vp), 1);
    cr_expect_str_eq(vmport_log_get(&t.vp, 0), "hello from the guest");
    vmport_fini(&t.vp);
}

static void ovt_exchange(bool cookies, bool with_nul)
{
    ovt_exchange_by(rpc_expect, cookies, with_nul);
}

Test(guestrpc, ovt_01_to_08_with_cookies_and_trailing_nul)
{
    ovt_exchange(true, true);
}

Test(guestrpc, ovt_01_to_08_with_cookies_without_nul)
{
    ovt_exchange(true, false);
}

Test(guestrpc, ovt_01_to_08_without_cookies_and_trailing_nul)
{
    ovt_exchange(false, true);
}

Test(guestrpc, ovt_01_to_08_without_cookies_without_nul)
{
    ovt_exchange(false, false);
}

Test(guestrpc, open_gives_channel_id_and_cookies_only_when_asked)
{
    struct rig t;
    rig_init(&t);
    struct chan a = { 0, 0, 0 };
    cr_assert_eq(rpc_open(&t, VMPORT_PROTO_RPCI, true, &a), VMPORT_MSG_SUCCESS);
    cr_expect_eq(a.id, 0);
    cr_expect(a.cookie_high != 0 || a.cookie_low != 0);
    struct chan b = { 0, 0, 0 };
    cr_assert_eq(rpc_open(&t, VMPORT_PROTO_TCLO, false, &b), VMPORT_MSG_SUCCESS);
    cr_expect_eq(b.id, 1);
    cr_expect_eq(t.gpr[RSI], 0, "left as the guest passed it");
    cr_expect_eq(t.gpr[RDI], 0, "left as the guest passed it");
    vmport_fini(&t.vp);
}

Test(guestrpc, info_set_keeps_spaces_in_the_value_and_replaces_a_value)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    rpc_expect(&t, &ch, "info-set guestinfo.k one two", true, "1 ");
    rpc_expect(&t, &ch, "info-get guestinfo.k", true, "1 one two");
    rpc_expect(&t, &ch, "info-set guestinfo.k three", true, "1 ");
    rpc_expect(&t, &ch, "info-get guestinfo.k", true, "1 three");
    rpc_expect(&t, &ch, "info-set guestinfo.k ", true, "1 ");
    rpc_expect(&t, &ch, "info-get guestinfo.k", true, "1 ");
    rpc_expect(&t, &ch, "info-set guestinfo.k", true, "0 Two and exactly two arguments expected");
    rpc_expect(&t, &ch, "info-set machine.id x", true, "0 Permission denied");
    rpc_expect(&t, &ch, "info-get machine.id", true, "0 No value found");
    cr_expect_eq(vmport_guestinfo_count(&t.vp), 1);
    vmport_fini(&t.vp);
}

Test(guestrpc, guestinfo_presets_answer_info_get)
{
    static const char *const presets[] = { "foo=bar", "answer=4=2", "empty=", NULL };
    struct rig t;
    struct vmport_params p = rig_params(&t);
    p.guestinfo = presets;
    rig_init_with(&t, &p);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    rpc_expect(&t, &ch, "info-get guestinfo.foo", true, "1 bar");
    rpc_expect(&t, &ch, "info-get guestinfo.answer", false, "1 4=2");
    rpc_expect(&t, &ch, "info-get guestinfo.empty", false, "1 ");
    cr_expect_eq(vmport_guestinfo_count(&t.vp), 3);
    vmport_fini(&t.vp);
}

Test(guestrpc, malformed_presets_are_refused_with_a_message)
{
    static const char *const bad[][2] = { { "nokey", NULL }, { "=v", NULL }, { "a b=c", NULL } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rig t;
        struct vmport_params p = rig_params(&t);
        p.guestinfo = bad[i];
        char err[128] = "";
        struct vmport vp;
        cr_expect_eq(vmport_init(&vp, &p, err, sizeof err), -1, "preset '%s'", bad[i][0]);
        cr_expect(strstr(err, bad[i][0]) != NULL, "message '%s' names the preset", err);
        vmport_fini(&vp);
    }
}

Test(guestrpc, at_most_64_guestinfo_keys)
{
    char kv[VMPORT_GUESTINFO_MAX + 1][16];
    const char *presets[VMPORT_GUESTINFO_MAX + 2];
    for (int i = 0; i <= VMPORT_GUESTINFO_MAX; i++) {
        snprintf(kv[i], sizeof kv[i], "k%d=v", i);
        presets[i] = kv[i];
    }
    presets[VMPORT_GUESTINFO_MAX + 1] = NULL;
    struct rig t;
    struct vmport_params p = rig_params(&t);
    struct vmport vp;
    p.guestinfo = presets;
    cr_expect_eq(vmport_init(&vp, &p, NULL, 0), -1, "65 presets");
    vmport_fini(&vp);

    presets[VMPORT_GUESTINFO_MAX - 1] = NULL; /* 63 presets */
    rig_init_with(&t, &p);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, false);
    rpc_expect(&t, &ch, "info-set guestinfo.new1 x", true, "1 ");
    rpc_expect(&t, &ch, "info-set guestinfo.new2 x", true, "0 Too many guestinfo keys");
    rpc_expect(&t, &ch, "info-set guestinfo.k0 changed", true, "1 ");
    rpc_expect(&t, &ch, "info-get guestinfo.k0", true, "1 changed");
    cr_expect_eq(vmport_guestinfo_count(&t.vp), VMPORT_GUESTINFO_MAX);
    const char *key, *value;
    bool by_guest = true;
    cr_expect(vmport_guestinfo_get(&t.vp, 62, &key, &value, &by_guest));
    cr_expect_str_eq(key, "k62");
    cr_expect_not(by_guest, "a preset the guest left alone");
    cr_expect(vmport_guestinfo_get(&t.vp, 0, &key, &value, &by_guest));
    cr_expect(by_guest, "a preset the guest changed");
    cr_expect(vmport_guestinfo_get(&t.vp, 63, &key, &value, &by_guest));
    cr_expect_str_eq(key, "new1");
    cr_expect(by_guest);
    cr_expect_not(vmport_guestinfo_get(&t.vp, 64, &key, &value, NULL));
    vmport_fini(&t.vp);
}

Test(guestrpc, log_keeps_64_lines_and_counts_the_rest)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    char req[32];
    for (int i = 0; i <= VMPORT_LOG_MAX; i++) {
        snprintf(req, sizeof req, "log line %d", i);
        rpc_expect(&t, &ch, req, true, "1 ");
    }
    cr_expect_eq(vmport_log_count(&t.vp), VMPORT_LOG_MAX);
    cr_expect_eq(vmport_log_dropped(&t.vp), 1);
    cr_expect_str_eq(vmport_log_get(&t.vp, 0), "line 0");
    cr_expect_str_eq(vmport_log_get(&t.vp, 63), "line 63");
    cr_expect_null(vmport_log_get(&t.vp, 64));
    vmport_fini(&t.vp);
}

Test(guestrpc, two_channels_interleaved_keep_their_own_messages)
{
    struct rig t;
    rig_init(&t);
    struct chan a = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    struct chan b = rpc_open_ok(&t, VMPORT_PROTO_RPCI, false);
    static const char ra[] = "info-set guestinfo.a from-channel-a";
    static const char rb[] = "info-get guestinfo.a";
    uint32_t la = sizeof ra, lb = sizeof rb;

    cr_assert(ok(rig_msg(&t, VMPORT_MSG_SENDSIZE, &a, la)));
    rpc_send_part(&t, &a, (const uint8_t *)ra, 0, 12);
    cr_assert(ok(rig_msg(&t, VMPORT_MSG_SENDSIZE, &b, lb)));
    rpc_send_part(&t, &b, (const uint8_t *)rb, 0, 8);
    rpc_send_part(&t, &a, (const uint8_t *)ra, 12, la);
    rpc_send_part(&t, &b, (const uint8_t *)rb, 8, lb); /* after A's set: B sees it */

    char got_a[64] = "", got_b[64] = "";
    uint32_t na = rpc_recvsize(&t, &a);
    uint32_t nb = rpc_recvsize(&t, &b);
    cr_assert_eq(na, 2);
    cr_assert_eq(nb, 2 + strlen("from-channel-a"));
    rpc_recv_part(&t, &b, got_b, 0, 8);
    rpc_recv_part(&t, &a, got_a, 0, na);
    rpc_recv_part(&t, &b, got_b, 8, nb);
    rpc_recvstatus(&t, &a);
    rpc_recvstatus(&t, &b);
    cr_expect_str_eq(got_a, "1 ");
    cr_expect_str_eq(got_b, "1 from-channel-a");
    rpc_close(&t, &a);
    rpc_expect(&t, &b, "log still here", false, "1 ");
    rpc_close(&t, &b);
    vmport_fini(&t.vp);
}

Test(guestrpc, tclo_recvsize_with_nothing_pending_is_success_without_dorecv)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_TCLO, true);
    cr_expect_eq(rig_msg(&t, VMPORT_MSG_RECVSIZE, &ch, 0), VMPORT_MSG_SUCCESS);
    /* vmtoolsd's loop sends its (empty, then "OK") answers and polls again. */
    rpc_send(&t, &ch, "", 0);
    rpc_send(&t, &ch, "OK ", 3);
    cr_expect_eq(rig_msg(&t, VMPORT_MSG_RECVSIZE, &ch, 0), VMPORT_MSG_SUCCESS);
    rpc_close(&t, &ch);
    vmport_fini(&t.vp);
}

Test(guestrpc, open_refuses_an_unknown_protocol)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = { 0, 0, 0 };
    cr_expect_not(ok(rpc_open(&t, 0x12345678, true, &ch)));
    cr_expect_not(ok(rpc_open(&t, 0x12345678, false, &ch)));
    vmport_fini(&t.vp);
}

Test(guestrpc, at_most_8_channels_at_once)
{
    struct rig t;
    rig_init(&t);
    struct chan ch[VMPORT_CHANNELS_MAX], extra = { 0, 0, 0 };
    for (int i = 0; i < VMPORT_CHANNELS_MAX; i++)
        ch[i] = rpc_open_ok(&t, VMPORT_PROTO_RPCI, i % 2 == 0);
    cr_expect_not(ok(rpc_open(&t, VMPORT_PROTO_RPCI, true, &extra)));
    cr_expect_not(ok(rpc_open(&t, VMPORT_PROTO_RPCI, false, &extra)), "the retry fails too");
    rpc_close(&t, &ch[3]);
    cr_assert(ok(rpc_open(&t, VMPORT_PROTO_TCLO, true, &extra)));
    cr_expect_eq(extra.id, ch[3].id);
    rpc_expect(&t, &ch[7], "log last", true, "1 ");
    vmport_fini(&t.vp);
}

Test(guestrpc, a_message_of_64_kib_is_taken_and_a_longer_one_refused)
{
    struct rig t;
    rig_init(&t);
    struct chan a = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    uint8_t *big = malloc(VMPORT_MSG_MAX);
    cr_assert_not_null(big);
    memset(big, 'x', VMPORT_MSG_MAX);
    memcpy(big, "log ", 4);

    /* A send under way survives a refused SENDSIZE. */
    cr_assert(ok(rig_msg(&t, VMPORT_MSG_SENDSIZE, &a, 8)));
    rpc_send_part(&t, &a, (const uint8_t *)"log smal", 0, 4);
    uint16_t st = rig_msg(&t, VMPORT_MSG_SENDSIZE, &a, VMPORT_MSG_MAX + 1);
    cr_expect_not(ok(st), "65537 bytes: status %#x", st);
    rpc_send_part(&t, &a, (const uint8_t *)"log smal", 4, 8);
    char got[8];
    rpc_recv(&t, &a, got, sizeof got);
    cr_expect_str_eq(got, "1 ");

    rpc_send(&t, &a, big, VMPORT_MSG_MAX);
    rpc_recv(&t, &a, got, sizeof got);
    cr_expect_str_eq(got, "1 ");
    cr_assert_eq(vmport_log_count(&t.vp), 2);
    cr_expect_eq(strlen(vmport_log_get(&t.vp, 1)), VMPORT_MSG_MAX - 4);
    free(big);
    vmport_fini(&t.vp);
}

/* ---- malformed sequences: each fails alone and leaves the other channel
 * (B, in the middle of a send) intact. */

struct pair {
    struct rig t;
    struct chan a, b;
};

static const char pair_req[] = "info-get guestinfo.nothing";

static void pair_init(struct pair *p)
{
    rig_init(&p->t);
    p->a = rpc_open_ok(&p->t, VMPORT_PROTO_RPCI, true);
    p->b = rpc_open_ok(&p->t, VMPORT_PROTO_RPCI, true);
    cr_assert(ok(rig_msg(&p->t, VMPORT_MSG_SENDSIZE, &p->b, sizeof pair_req)));
    rpc_send_part(&p->t, &p->b, (const uint8_t *)pair_req, 0, 8);
}

/* B finishes its request and gets its reply; then the device is freed. */
static void pair_finish(struct pair *p)
{
    char got[64];
    rpc_send_part(&p->t, &p->b, (const uint8_t *)pair_req, 8, sizeof pair_req);
    rpc_recv(&p->t, &p->b, got, sizeof got);
    cr_expect_str_eq(got, "0 No value found");
    vmport_fini(&p->t.vp);
}

Test(guestrpc_malformed, payload_before_size)
{
    struct pair p;
    pair_init(&p);
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_SENDPAYLOAD, &p.a, 0x41414141), 0);
    rpc_expect(&p.t, &p.a, "log a is fine", true, "1 ");
    pair_finish(&p);
}

Test(guestrpc_malformed, payload_past_the_size)
{
    struct pair p;
    pair_init(&p);
    rpc_expect(&p.t, &p.a, "log x", false, "1 ");
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_SENDPAYLOAD, &p.a, 0x41414141), 0);
    pair_finish(&p);
}

Test(guestrpc_malformed, receive_with_nothing_pending)
{
    struct pair p;
    pair_init(&p);
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVSIZE, &p.a, 0)), "RPCI RECVSIZE");
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVPAYLOAD, &p.a, 1)), "RECVPAYLOAD");
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVSTATUS, &p.a, 1)), "RECVSTATUS");
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVSIZE, &p.b, 0)), "B mid-send: nothing yet");
    pair_finish(&p);
}

Test(guestrpc_malformed, payload_before_recvsize_and_past_the_reply)
{
    struct pair p;
    pair_init(&p);
    cr_assert(ok(rig_msg(&p.t, VMPORT_MSG_SENDSIZE, &p.a, 5)));
    rpc_send_part(&p.t, &p.a, (const uint8_t *)"log x", 0, 5);
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVPAYLOAD, &p.a, 1)), "before RECVSIZE");
    char got[8] = "";
    cr_assert_eq(rpc_recvsize(&p.t, &p.a), 2);
    rpc_recv_part(&p.t, &p.a, got, 0, 2);
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVPAYLOAD, &p.a, 1)), "past the end");
    rpc_recvstatus(&p.t, &p.a);
    cr_expect_str_eq(got, "1 ");
    pair_finish(&p);
}

Test(guestrpc_malformed, unknown_channel)
{
    struct pair p;
    pair_init(&p);
    static const uint16_t ids[] = { 5, VMPORT_CHANNELS_MAX, 0xffff };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct chan ghost = { ids[i], p.b.cookie_high, p.b.cookie_low };
        for (uint16_t type = VMPORT_MSG_SENDSIZE; type <= VMPORT_MSG_CLOSE; type++)
            cr_expect_eq(rig_msg(&p.t, type, &ghost, 4), VMPORT_MSG_CLOSED, "id %u type %u",
                         ids[i], type);
    }
    pair_finish(&p);
}

Test(guestrpc_malformed, unknown_message_type)
{
    struct pair p;
    pair_init(&p);
    cr_expect_eq(rig_msg(&p.t, 7, &p.a, 0), 0);
    cr_expect_eq(rig_msg(&p.t, 0xffff, &p.b, 0), 0);
    pair_finish(&p);
}

Test(guestrpc_malformed, close_twice)
{
    struct pair p;
    pair_init(&p);
    rpc_close(&p.t, &p.a);
    uint16_t st = rig_msg(&p.t, VMPORT_MSG_CLOSE, &p.a, 0);
    cr_expect_eq(st, VMPORT_MSG_CLOSED, "status %#x", st);
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_SENDSIZE, &p.a, 1)), "use after close");
    pair_finish(&p);
}

Test(guestrpc_malformed, bad_cookie)
{
    struct pair p;
    pair_init(&p);
    struct chan forged = p.b;
    forged.cookie_low ^= 1;
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_SENDSIZE, &forged, 1), 0, "would restart B's send");
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_SENDPAYLOAD, &forged, 0), 0, "would add to it");
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_CLOSE, &forged, 0), 0, "would close it");
    forged = p.a;
    forged.cookie_high ^= 0x80000000u;
    cr_expect_eq(rig_msg(&p.t, VMPORT_MSG_SENDSIZE, &forged, 1), 0);
    rpc_expect(&p.t, &p.a, "log a is fine", true, "1 ");
    pair_finish(&p);
}

Test(guestrpc_malformed, cookies_are_not_checked_on_a_channel_opened_without)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, false);
    ch.cookie_high = 0x1234;
    ch.cookie_low = 0x5678;
    rpc_expect(&t, &ch, "log any cookies", true, "1 ");
    vmport_fini(&t.vp);
}

Test(guestrpc_malformed, recvstatus_without_success_keeps_the_reply)
{
    struct pair p;
    pair_init(&p);
    rpc_send(&p.t, &p.a, "info-get guestinfo.x", 20);
    cr_assert_eq(rpc_recvsize(&p.t, &p.a), strlen("0 No value found"));
    cr_expect(ok(rig_msg(&p.t, VMPORT_MSG_RECVSTATUS, &p.a, 0)), "guest aborts");
    char got[32];
    rpc_recv(&p.t, &p.a, got, sizeof got);
    cr_expect_str_eq(got, "0 No value found");
    cr_expect_not(ok(rig_msg(&p.t, VMPORT_MSG_RECVSIZE, &p.a, 0)), "consumed now");
    pair_finish(&p);
}

Test(guestrpc_malformed, message_with_wrong_magic_changes_nothing_but_eax)
{
    struct pair p;
    pair_init(&p);
    rig_seed(&p.t);
    p.t.gpr[RAX] = 0;
    p.t.gpr[RCX] = (uint32_t)VMPORT_MSG_CLOSE << 16 | VMPORT_CMD_MESSAGE;
    p.t.gpr[RDX] = (uint32_t)p.b.id << 16 | VMPORT_PORT;
    p.t.gpr[RSI] = p.b.cookie_high;
    p.t.gpr[RDI] = p.b.cookie_low;
    rig_access(&p.t, true, 4);
    cr_expect_eq(p.t.gpr[RAX], 0xffffffff);
    cr_expect_eq(p.t.gpr[RCX], (uint32_t)VMPORT_MSG_CLOSE << 16 | VMPORT_CMD_MESSAGE);
    pair_finish(&p);
}

/* ---- the high-bandwidth port (ORACLE.md §4.2), as L0 hands it a whole
 * REP OUTSB/INSB: the bytes in a buffer, the registers as the instruction
 * found them. */

#define HB_DATA 0x7000u                 /* RSI of an OUT, RDI of an IN: not read */

/* One REP OUTSB (is_in false) or REP INSB of len bytes through buf on
 * channel ch, registers as open-vm-tools loads them. Returns the status
 * (EBX[31:16]); checks that the answer is EBX alone, EBX[15:0] kept, and
 * that the device took the bytes exactly when it answered SUCCESS. */
static uint16_t rig_hb_as(struct rig *t, bool is_in, const struct chan *ch, uint32_t eax,
                          uint16_t cmd, uint8_t *buf, uint64_t len)
{
    rig_seed(t);
    t->gpr[RAX] = eax;
    t->gpr[RBX] = (uint32_t)VMPORT_MSG_SUCCESS << 16 | cmd;
    t->gpr[RCX] = len;
    t->gpr[RDX] = (uint32_t)ch->id << 16 | VMPORT_HB_PORT;
    if (is_in) {
        t->gpr[RSI] = ch->cookie_high;
        t->gpr[RBP] = ch->cookie_low;
        t->gpr[RDI] = HB_DATA;
    } else {
        t->gpr[RSI] = HB_DATA;
        t->gpr[RDI] = ch->cookie_low;
        t->gpr[RBP] = ch->cookie_high;
    }
    uint64_t before[16], taken = ~0ull;
    memcpy(before, t->gpr, sizeof before);
    cr_assert_not_null(
        bus_io_string(&t->bus, VMPORT_HB_PORT, 1, is_in, buf, len, &t->regs, &taken));
    for (unsigned r = 0; r < 16; r++)
        if (r != RBX && !(r == RAX && (eax != MAGIC || cmd != VMPORT_HB_CMD_MESSAGE)))
            cr_assert_eq(t->gpr[r], before[r], "the HB call changed register %u", r);
    cr_assert_eq(t->gpr[RBX] & 0xffffffff0000ffffull, cmd, "EBX %#llx",
                 (unsigned long long)t->gpr[RBX]);
    uint16_t status = (uint16_t)(t->gpr[RBX] >> 16);
    cr_assert_eq(taken, ok(status) ? len : 0, "status %#x, %llu of %llu bytes taken", status,
                 (unsigned long long)taken, (unsigned long long)len);
    return status;
}

static uint16_t rig_hb(struct rig *t, bool is_in, const struct chan *ch, uint8_t *buf,
                       uint64_t len)
{
    return rig_hb_as(t, is_in, ch, MAGIC, VMPORT_HB_CMD_MESSAGE, buf, len);
}

/* Message_Send with HB: SENDSIZE offers it, one REP OUTSB. */
static void hb_send(struct rig *t, const struct chan *ch, const void *msg, uint32_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    memcpy(buf, msg, len);
    rpc_sendsize(t, ch, len);
    if (len > 0) /* open-vm-tools skips the OUTSB of an empty message */
        cr_assert_eq(rig_hb(t, false, ch, buf, len), VMPORT_MSG_SUCCESS, "HB send");
    free(buf);
}

/* Message_Receive with HB: RECVSIZE offers it, one REP INSB, RECVSTATUS. */
static void hb_recv(struct rig *t, const struct chan *ch, char *buf, size_t cap)
{
    uint32_t len = rpc_recvsize(t, ch);
    cr_assert_lt(len, cap);
    cr_assert_eq(rig_hb(t, true, ch, (uint8_t *)buf, len), VMPORT_MSG_SUCCESS, "HB receive");
    buf[len] = '\0';
    rpc_recvstatus(t, ch);
}

static void rpc_expect_hb(struct rig *t, const struct chan *ch, const char *req, bool with_nul,
                          const char *reply)
{
    char got[256];
    hb_send(t, ch, req, (uint32_t)strlen(req) + (with_nul ? 1 : 0));
    hb_recv(t, ch, got, sizeof got);
    cr_expect_str_eq(got, reply, "request '%s' over HB", req);
}

Test(guestrpc_hb, ovt_01_to_08_over_hb_with_cookies_and_trailing_nul)
{
    ovt_exchange_by(rpc_expect_hb, true, true);
}

Test(guestrpc_hb, ovt_01_to_08_over_hb_without_cookies_without_nul)
{
    ovt_exchange_by(rpc_expect_hb, false, false);
}

Test(guestrpc_hb, ovt_03_over_hb_byte_by_byte)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    rpc_expect_hb(&t, &ch, "info-set guestinfo.foo bar", false, "1 ");

    static const char req[] = "info-get guestinfo.foo";
    uint8_t out[sizeof req - 1];
    memcpy(out, req, sizeof out);
    cr_assert_eq(rig_msg(&t, VMPORT_MSG_SENDSIZE, &ch, sizeof out),
                 VMPORT_MSG_SUCCESS | VMPORT_MSG_HB);
    cr_assert_eq(rig_hb(&t, false, &ch, out, sizeof out), VMPORT_MSG_SUCCESS);
    cr_assert_eq(rig_msg(&t, VMPORT_MSG_RECVSIZE, &ch, 0),
                 VMPORT_MSG_SUCCESS | VMPORT_MSG_DORECV | VMPORT_MSG_HB);
    cr_assert_eq(t.gpr[RDX] >> 16, VMPORT_MSG_SENDSIZE);
    cr_assert_eq(t.gpr[RBX], 5);
    uint8_t in[8];
    memset(in, 0xcc, sizeof in);
    cr_assert_eq(rig_hb(&t, true, &ch, in, 5), VMPORT_MSG_SUCCESS);
    cr_expect_eq(memcmp(in, "1 bar", 5), 0);
    cr_expect_eq(in[5], 0xcc, "the device wrote past the string");
    rpc_recvstatus(&t, &ch);
    cr_expect_not(ok(rig_msg(&t, VMPORT_MSG_RECVSIZE, &ch, 0)), "RECVSTATUS consumed it");
    rpc_close(&t, &ch);
    vmport_fini(&t.vp);
}

Test(guestrpc_hb, hb_and_lb_mix_within_one_exchange)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    char got[32];
    hb_send(&t, &ch, "info-set guestinfo.k v1", 23);
    rpc_recv(&t, &ch, got, sizeof got); /* chunks, the HB bit ignored */
    cr_expect_str_eq(got, "1 ");
    rpc_send(&t, &ch, "info-get guestinfo.k", 20);
    hb_recv(&t, &ch, got, sizeof got);
    cr_expect_str_eq(got, "1 v1");
    rpc_close(&t, &ch);
    vmport_fini(&t.vp);
}

Test(guestrpc_hb, an_empty_message_offers_no_hb_and_needs_no_outsb)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_TCLO, true);
    cr_expect_eq(rig_msg(&t, VMPORT_MSG_SENDSIZE, &ch, 0), VMPORT_MSG_SUCCESS);
    uint8_t b = 'x';
    cr_expect_eq(rig_hb(&t, false, &ch, &b, 1), 0, "no send waits for a payload");
    vmport_fini(&t.vp);
}

Test(guestrpc_hb, a_message_of_64_kib_in_one_outsb)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    uint8_t *big = malloc(VMPORT_MSG_MAX);
    cr_assert_not_null(big);
    memset(big, 'y', VMPORT_MSG_MAX);
    memcpy(big, "log ", 4);
    hb_send(&t, &ch, big, VMPORT_MSG_MAX);
    char got[8];
    hb_recv(&t, &ch, got, sizeof got);
    cr_expect_str_eq(got, "1 ");
    cr_assert_eq(vmport_log_count(&t.vp), 1);
    cr_expect_eq(strlen(vmport_log_get(&t.vp, 0)), VMPORT_MSG_MAX - 4);
    free(big);
    vmport_fini(&t.vp);
}

Test(guestrpc_hb, a_string_of_words_carries_the_message_bytes_in_order)
{
    struct rig t;
    rig_init(&t);
    struct chan ch = rpc_open_ok(&t, VMPORT_PROTO_RPCI, false);
    uint8_t msg[] = "log wordsX";       /* 10 bytes: five REP OUTSW elements */
    rpc_sendsize(&t, &ch, 10);
    rig_seed(&t);
    t.gpr[RAX] = MAGIC;
    t.gpr[RBX] = (uint32_t)VMPORT_MSG_SUCCESS << 16;
    t.gpr[RDX] = (uint32_t)ch.id << 16 | VMPORT_HB_PORT;
    uint64_t taken = 0;
    cr_assert_not_null(bus_io_string(&t.bus, VMPORT_HB_PORT, 2, false, msg, 5, &t.regs, &taken));
    cr_expect_eq(t.gpr[RBX] >> 16, VMPORT_MSG_SUCCESS);
    cr_expect_eq(taken, 5);
    char got[8];
    hb_recv(&t, &ch, got, sizeof got);
    cr_expect_str_eq(got, "1 ");
    cr_expect_str_eq(vmport_log_get(&t.vp, 0), "wordsX");
    vmport_fini(&t.vp);
}

/* Malformed HB calls: each fails without SUCCESS, changes nothing, and
 * leaves B (in the middle of a low-bandwidth send) intact. */

Test(guestrpc_hb_malformed, wrong_cookie_on_send_and_receive)
{
    struct pair p;
    pair_init(&p);
    static const char req[] = "info-set guestinfo.c yes";
    uint8_t out[sizeof req - 1];
    memcpy(out, req, sizeof out);
    rpc_sendsize(&p.t, &p.a, sizeof out);
    struct chan forged = p.a;
    forged.cookie_low ^= 1;
    cr_expect_eq(rig_hb(&p.t, false, &forged, out, sizeof out), 0, "cookieLow (RDI)");
    forged = p.a;
    forged.cookie_high ^= 0x80000000u;
    cr_expect_eq(rig_hb(&p.t, false, &forged, out, sizeof out), 0, "cookieHigh (RBP)");
    forged = p.b;
    cr_expect_eq(rig_hb(&p.t, false, &forged, out, sizeof out), 0, "B's cookies, A's id");
    cr_expect_eq(vmport_guestinfo_count(&p.t.vp), 0, "the request was not answered");
    cr_assert_eq(rig_hb(&p.t, false, &p.a, out, sizeof out), VMPORT_MSG_SUCCESS,
                 "the send still waits for its payload");

    uint32_t len = rpc_recvsize(&p.t, &p.a);
    cr_assert_eq(len, 2);
    uint8_t in[2] = { 0, 0 };
    forged = p.a;
    forged.cookie_low ^= 0x10;
    cr_expect_eq(rig_hb(&p.t, true, &forged, in, len), 0, "cookieLow (RBP)");
    cr_expect(in[0] == 0xff && in[1] == 0xff, "a refused INSB reads all ones");
    forged = p.a;
    forged.cookie_high ^= 0x10;
    cr_expect_eq(rig_hb(&p.t, true, &forged, in, len), 0, "cookieHigh (RSI)");
    cr_assert_eq(rig_hb(&p.t, true, &p.a, in, len), VMPORT_MSG_SUCCESS);
    cr_expect_eq(memcmp(in, "1 ", 2), 0);
    rpc_recvstatus(&p.t, &p.a);
    pair_finish(&p);
}

Test(guestrpc_hb_malformed, length_other_than_the_message)
{
    struct pair p;
    pair_init(&p);
    static const char req[] = "log length";
    uint8_t out[sizeof req];            /* one byte more than the message */
    memcpy(out, req, sizeof req);
    uint32_t len = sizeof req - 1;
    rpc_sendsize(&p.t, &p.a, len);
    cr_expect_eq(rig_hb(&p.t, false, &p.a, out, len - 1), 0, "one byte short");
    cr_expect_eq(rig_hb(&p.t, false, &p.a, out, len + 1), 0, "one byte long");
    cr_expect_eq(vmport_log_count(&p.t.vp), 0);
    cr_assert_eq(rig_hb(&p.t, false, &p.a, out, len), VMPORT_MSG_SUCCESS);
    cr_assert_eq(vmport_log_count(&p.t.vp), 1);
    cr_expect_str_eq(vmport_log_get(&p.t.vp, 0), "length");

    uint8_t in[4];
    cr_assert_eq(rpc_recvsize(&p.t, &p.a), 2);
    cr_expect_eq(rig_hb(&p.t, true, &p.a, in, 1), 0, "one byte short");
    cr_expect_eq(rig_hb(&p.t, true, &p.a, in, 3), 0, "one byte long");
    cr_expect_eq(in[0], 0xff, "a refused INSB reads all ones");
    cr_assert_eq(rig_hb(&p.t, true, &p.a, in, 2), VMPORT_MSG_SUCCESS);
    cr_expect_eq(memcmp(in, "1 ", 2), 0);
    rpc_recvstatus(&p.t, &p.a);
    pair_finish(&p);
}

Test(guestrpc_hb_malformed, out_of_sequence)
{
    struct pair p;
    pair_init(&p);
    uint8_t buf[8] = { 'l', 'o', 'g', ' ', 'o', 'o', 's', '!' }, in[2];
    cr_expect_eq(rig_hb(&p.t, false, &p.a, buf, 8), 0, "OUTSB before SENDSIZE");
    cr_expect_eq(rig_hb(&p.t, true, &p.a, in, 2), 0, "INSB with nothing pending");
    rpc_sendsize(&p.t, &p.a, 8);
    rpc_send_part(&p.t, &p.a, buf, 0, 4);
    cr_expect_eq(rig_hb(&p.t, false, &p.a, buf, 8), 0, "OUTSB after a chunk of the payload");
    rpc_send_part(&p.t, &p.a, buf, 4, 8);
    cr_expect_eq(rig_hb(&p.t, false, &p.a, buf, 8), 0, "OUTSB after the message");
    cr_expect_eq(rig_hb(&p.t, true, &p.a, in, 2), 0, "INSB before RECVSIZE");
    char got[8];
    hb_recv(&p.t, &p.a, got, sizeof got);
    cr_expect_str_eq(got, "1 ");
    cr_expect_eq(rig_hb(&p.t, true, &p.a, in, 2), 0, "INSB after RECVSTATUS");
    pair_finish(&p);
}

Test(guestrpc_hb_malformed, unknown_channel_is_closed)
{
    struct pair p;
    pair_init(&p);
    static const uint16_t ids[] = { 5, VMPORT_CHANNELS_MAX, 0xffff };
    uint8_t buf[4] = { 0 };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct chan ghost = { ids[i], p.b.cookie_high, p.b.cookie_low };
        cr_expect_eq(rig_hb(&p.t, false, &ghost, buf, 4), VMPORT_MSG_CLOSED, "id %u", ids[i]);
        cr_expect_eq(rig_hb(&p.t, true, &ghost, buf, 4), VMPORT_MSG_CLOSED, "id %u", ids[i]);
    }
    pair_finish(&p);
}

Test(guestrpc_hb_malformed, wrong_magic_or_unknown_command_is_an_error_without_success)
{
    struct pair p;
    pair_init(&p);
    uint8_t buf[] = "log magic";
    rpc_sendsize(&p.t, &p.a, 9);
    cr_expect_eq(rig_hb_as(&p.t, false, &p.a, MAGIC + 1, VMPORT_HB_CMD_MESSAGE, buf, 9), 0);
    cr_expect_eq(p.t.gpr[RAX], 0xffffffff);
    cr_expect_eq(rig_hb_as(&p.t, false, &p.a, MAGIC, 1 /* VASSERT */, buf, 9), 0);
    cr_expect_eq(p.t.gpr[RAX], 0xffffffff);
    cr_expect_eq(vmport_log_count(&p.t.vp), 0);
    cr_assert_eq(rig_hb(&p.t, false, &p.a, buf, 9), VMPORT_MSG_SUCCESS);
    char got[8];
    hb_recv(&p.t, &p.a, got, sizeof got);
    cr_expect_str_eq(got, "1 ");
    pair_finish(&p);
}

Test(guestrpc_hb_malformed, a_string_without_registers_is_refused)
{
    struct rig t;
    rig_init(&t);
    uint8_t buf[2] = { 1, 2 };
    uint64_t taken = 9;
    cr_expect_not_null(bus_io_string(&t.bus, VMPORT_HB_PORT, 1, true, buf, 2, NULL, &taken));
    cr_expect_eq(taken, 0);
    cr_expect(buf[0] == 0xff && buf[1] == 0xff);
    vmport_fini(&t.vp);
}

/* ---- the device in a machine */

#define CODE 0x100000ull

static struct svmsim_vm *vm_with_code(struct svmsim_config *cfg, const uint8_t *code, size_t len)
{
    char err[128];
    struct svmsim_vm *vm = svmsim_create(cfg, err, sizeof err);
    cr_assert_not_null(vm, "svmsim_create: %s", err);
    cr_assert_eq(svmsim_write_phys(vm, CODE, code, len), 0);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    r.rip = CODE;
    svmsim_set_regs(vm, &r);
    return vm;
}

/* Runs code to its HLT; *r gets the registers there. */
static struct svmsim_vm *run_to_hlt(struct svmsim_config *cfg, const uint8_t *code, size_t len,
                                     struct svmsim_regs *r)
{
    struct svmsim_vm *vm = vm_with_code(cfg, code, len);
    struct svmsim_end end;
    cr_expect_eq(svmsim_run(vm, &end), SVMSIM_STATUS_HALTED, "%s", end.message);
    svmsim_get_regs(vm, r);
    return vm;
}

/* mov eax, magic; mov ecx, CMD; mov edx, 0x5658; in eax, dx */
#define BDOOR_IN(cmd) 0xb8, 0x68, 0x58, 0x4d, 0x56, 0xb9, (cmd), 0, 0, 0, 0xba, 0x58, 0x56, 0, 0, 0xed

Test(vmport_machine, getversion_answers_from_the_configuration)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.vmware_version = 7;
    cfg.vmware_product_type = 4;
    static const uint8_t code[] = { BDOOR_IN(VMPORT_CMD_GETVERSION), 0xf4 /* hlt */ };
    struct svmsim_regs r;
    struct svmsim_vm *vm = run_to_hlt(&cfg, code, sizeof code, &r);
    cr_expect_eq(r.gpr[SVMSIM_RAX], 7);
    cr_expect_eq(r.gpr[SVMSIM_RBX], MAGIC);
    cr_expect_eq(r.gpr[SVMSIM_RCX], 4);
    svmsim_destroy(vm);
}

Test(vmport_machine, getuuid_and_getmemsize_answer_from_the_configuration)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = 32ull << 20;
    memcpy(cfg.vmware_uuid, test_uuid, 16);
    static const uint8_t code[] = { BDOOR_IN(VMPORT_CMD_GETUUID), 0x89, 0xc6, /* mov esi, eax */
                                    BDOOR_IN(VMPORT_CMD_GETMEMSIZE), 0xf4 };
    struct svmsim_regs r;
    struct svmsim_vm *vm = run_to_hlt(&cfg, code, sizeof code, &r);
    cr_expect_eq(r.gpr[SVMSIM_RSI], 0x33221100);
    cr_expect_eq(r.gpr[SVMSIM_RBX], 0x77665544);
    cr_expect_eq(r.gpr[SVMSIM_RAX], 32);
    svmsim_destroy(vm);
}

/* Under --deterministic the clock is the work count at 4 ns: 1 + 250000 +
 * 3 units before the IN are 1000016 ns, i.e. 0 s and 1000 us. */
Test(vmport_machine, deterministic_time_follows_the_instruction_count)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.deterministic = true;
    static const uint8_t code[] = { 0xb9, 0x90, 0xd0, 0x03, 0x00, /* mov ecx, 250000 */
                                    0xe2, 0xfe,                   /* loop $ */
                                    BDOOR_IN(VMPORT_CMD_GETTIMEFULL), 0xf4 };
    for (int run = 0; run < 2; run++) {
        struct svmsim_regs r;
        struct svmsim_vm *vm = run_to_hlt(&cfg, code, sizeof code, &r);
        cr_expect_eq(r.gpr[SVMSIM_RAX], MAGIC);
        cr_expect_eq(r.gpr[SVMSIM_RSI], 0);
        cr_expect_eq(r.gpr[SVMSIM_RDX], 0);
        cr_expect_eq(r.gpr[SVMSIM_RBX], 1000, "run %d: %llu us", run,
                     (unsigned long long)r.gpr[SVMSIM_RBX]);
        svmsim_destroy(vm);
    }
}

/* mov eax, magic; mov ebx, SUCCESS << 16 (MESSAGE); mov ecx, 5;
 * mov edx, (5 << 16) | 0x5659: channel 5, never opened */
#define HB_REGS 0xb8, 0x68, 0x58, 0x4d, 0x56, 0xbb, 0, 0, 1, 0, 0xb9, 5, 0, 0, 0, \
                0xba, 0x59, 0x56, 5, 0

Test(vmport_machine, rep_outsb_on_the_hb_port_reaches_the_device_whole)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    static const uint8_t code[] = { HB_REGS, 0xbe, 0x00, 0x01, 0x10, 0x00, /* mov esi */
                                    0xf3, 0x6e,                           /* rep outsb */
                                    0xf4 };
    struct svmsim_regs r;
    struct svmsim_vm *vm = run_to_hlt(&cfg, code, sizeof code, &r);
    cr_expect_eq(r.gpr[SVMSIM_RBX], (uint32_t)VMPORT_MSG_CLOSED << 16, "EBX %#llx",
                 (unsigned long long)r.gpr[SVMSIM_RBX]);
    cr_expect_eq(r.gpr[SVMSIM_RCX], 0);
    cr_expect_eq(r.gpr[SVMSIM_RSI], CODE + 0x105);
    cr_expect_eq(r.gpr[SVMSIM_RAX], MAGIC);
    svmsim_destroy(vm);
}

Test(vmport_machine, a_refused_rep_insb_on_the_hb_port_reads_all_ones)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    static const uint8_t code[] = { HB_REGS, 0xbf, 0x00, 0x01, 0x10, 0x00, /* mov edi */
                                    0xf3, 0x6c,                           /* rep insb */
                                    0xf4 };
    struct svmsim_regs r;
    struct svmsim_vm *vm = run_to_hlt(&cfg, code, sizeof code, &r);
    cr_expect_eq(r.gpr[SVMSIM_RBX], (uint32_t)VMPORT_MSG_CLOSED << 16);
    cr_expect_eq(r.gpr[SVMSIM_RCX], 0);
    cr_expect_eq(r.gpr[SVMSIM_RDI], CODE + 0x105);
    uint8_t got[6];
    cr_assert_eq(svmsim_read_phys(vm, CODE + 0x100, got, sizeof got), 0);
    static const uint8_t want[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
    cr_expect_eq(memcmp(got, want, sizeof want), 0);
    svmsim_destroy(vm);
}

Test(vmport_machine, a_malformed_guestinfo_preset_is_refused_at_create)
{
    static const char *const presets[] = { "novalue", NULL };
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.guestinfo = presets;
    char err[128] = "";
    cr_expect_null(svmsim_create(&cfg, err, sizeof err));
    cr_expect(strstr(err, "novalue") != NULL, "message: %s", err);
}

/* ---- the host's note of each answered request (for the trace) */

struct notes {
    unsigned n, channel;
    char request[128], reply[128];
    size_t request_len, reply_len;
};

static void note_rpc(void *opaque, unsigned channel, const char *request, size_t request_len,
                     const char *reply, size_t reply_len)
{
    struct notes *n = opaque;
    n->n++;
    n->channel = channel;
    n->request_len = request_len;
    n->reply_len = reply_len;
    snprintf(n->request, sizeof n->request, "%.*s", (int)request_len, request);
    snprintf(n->reply, sizeof n->reply, "%.*s", (int)reply_len, reply);
}

Test(guestrpc, each_answered_request_is_noted_with_its_channel_and_reply)
{
    struct rig t;
    struct notes n = { 0 };
    struct vmport_params p = rig_params(&t);
    p.rpc_note = note_rpc;
    p.rpc_note_opaque = &n;
    rig_init_with(&t, &p);
    struct chan a = rpc_open_ok(&t, VMPORT_PROTO_RPCI, true);
    struct chan b = rpc_open_ok(&t, VMPORT_PROTO_RPCI, false);
    cr_assert_eq(b.id, 1);
    rpc_expect(&t, &b, "info-get guestinfo.none", true, "0 No value found");
    cr_expect_eq(n.n, 1);
    cr_expect_eq(n.channel, 1);
    cr_expect_str_eq(n.request, "info-get guestinfo.none", "the trailing NUL is not text");
    cr_expect_eq(n.request_len, 23);
    cr_expect_str_eq(n.reply, "0 No value found");
    cr_expect_eq(n.reply_len, 16);

    rpc_expect_hb(&t, &a, "info-set guestinfo.k v", false, "1 ");
    cr_expect_eq(n.n, 2, "a request sent on the HB port is noted too");
    cr_expect_eq(n.channel, 0);
    cr_expect_str_eq(n.request, "info-set guestinfo.k v");
    cr_expect_str_eq(n.reply, "1 ");

    /* A TCLO message is the guest's reply to a host command: nothing answered. */
    struct chan tclo = rpc_open_ok(&t, VMPORT_PROTO_TCLO, false);
    rpc_send(&t, &tclo, "OK ", 3);
    cr_expect_eq(n.n, 2);
    rpc_close(&t, &tclo);
    rpc_close(&t, &a);
    rpc_close(&t, &b);
    vmport_fini(&t.vp);
}
