/* test_fw_cfg.c — QEMU's firmware configuration device (src/vmm/fw_cfg.c)
 * on a port bus, as kvm-unit-tests reads it (lib/x86/fwcfg.c: OUTW the key
 * to 0x510, INB the item from 0x511).
 *
 * Owns: a bus with only the device on FW_CFG_PORT and FW_CFG_PORT + 1,
 * configured with RAM_SIZE bytes of RAM and 3 CPUs.
 * Must not: depend on L0, the CPU or the machine layer; every access goes
 * through bus_io.
 */
#include "vmm/fw_cfg.h"

#include <criterion/criterion.h>
#include <string.h>

#include "vmm/bus.h"

#define RAM_SIZE 0x0000000123456789ull /* above 4 GiB, low 5 bytes all different */
#define NCPUS 3
#define SEL FW_CFG_PORT
#define DATA (FW_CFG_PORT + 1)

static struct bus bus;
static struct fw_cfg fw;

static void setup(void)
{
    bus_init(&bus);
    fw_cfg_init(&fw, RAM_SIZE, NCPUS);
    cr_assert_eq(bus_register(&bus, FW_CFG_PORT, FW_CFG_PORTS, "fw_cfg", &fw_cfg_ops, &fw), 0);
}

TestSuite(fw_cfg, .init = setup);

static uint32_t in(uint16_t port, unsigned size)
{
    uint32_t v = 0x5a5a5a5a;
    cr_assert_not_null(bus_io(&bus, port, size, true, &v, NULL), "port 0x%x unclaimed", port);
    return v;
}

static void out(uint16_t port, unsigned size, uint32_t v)
{
    cr_assert_not_null(bus_io(&bus, port, size, false, &v, NULL), "port 0x%x unclaimed", port);
}

static void select_key(uint16_t key)
{
    out(SEL, 2, key);
}

/* n bytes of the selected item, one INB each, little-endian. */
static uint64_t read_bytes(unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)in(DATA, 1) << (8 * i);
    return v;
}

Test(fw_cfg, claims_two_ports)
{
    uint32_t v = 0;
    cr_expect_null(bus_io(&bus, FW_CFG_PORT - 1, 1, true, &v, NULL));
    cr_expect_null(bus_io(&bus, FW_CFG_PORT + 2, 1, true, &v, NULL));
    cr_expect_eq(v, 0xff);
}

Test(fw_cfg, signature_reads_qemu)
{
    select_key(FW_CFG_SIGNATURE);
    char sig[5] = { 0 };
    for (unsigned i = 0; i < 4; i++)
        sig[i] = (char)in(DATA, 1);
    cr_expect_str_eq(sig, "QEMU");
}

Test(fw_cfg, signature_with_one_4_byte_in)
{
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 4), 0x554d4551u); /* 'Q' in the low byte */
}

Test(fw_cfg, id_reads_1)
{
    select_key(FW_CFG_ID);
    cr_expect_eq(read_bytes(4), 1);
}

Test(fw_cfg, ram_size_byte_by_byte)
{
    select_key(FW_CFG_RAM_SIZE);
    static const uint8_t want[8] = { 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00 };
    for (unsigned i = 0; i < 8; i++)
        cr_expect_eq(in(DATA, 1), want[i], "byte %u", i);
}

Test(fw_cfg, ram_size_with_4_byte_ins)
{
    select_key(FW_CFG_RAM_SIZE);
    cr_expect_eq(in(DATA, 4), 0x23456789u);
    cr_expect_eq(in(DATA, 4), 0x00000001u);
}

Test(fw_cfg, ram_size_with_2_byte_ins)
{
    select_key(FW_CFG_RAM_SIZE);
    cr_expect_eq(in(DATA, 2), 0x6789);
    cr_expect_eq(in(DATA, 2), 0x2345);
    cr_expect_eq(in(DATA, 2), 0x0001);
    cr_expect_eq(in(DATA, 2), 0x0000);
}

Test(fw_cfg, nb_cpus_two_bytes)
{
    select_key(FW_CFG_NB_CPUS);
    cr_expect_eq(read_bytes(2), NCPUS);
    cr_expect_eq(in(DATA, 1), 0, "past the end");
}

Test(fw_cfg, max_cpus_two_bytes)
{
    select_key(FW_CFG_MAX_CPUS);
    cr_expect_eq(read_bytes(2), NCPUS);
    cr_expect_eq(in(DATA, 1), 0, "past the end");
}

Test(fw_cfg, max_ram_is_the_ram_size)
{
    select_key(FW_CFG_MAX_RAM);
    cr_expect_eq(read_bytes(8), RAM_SIZE);
}

Test(fw_cfg, unknown_key_reads_zero)
{
    static const uint16_t keys[] = { 0x02, 0x04, 0x10, 0x19, 0x20, 0x8000, 0xffff };
    for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        select_key(keys[i]);
        cr_expect_eq(read_bytes(8), 0, "key 0x%x", keys[i]);
        cr_expect_eq(in(DATA, 4), 0, "key 0x%x", keys[i]);
    }
}

Test(fw_cfg, past_the_end_reads_zero)
{
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(read_bytes(4), 0x554d4551u);
    cr_expect_eq(read_bytes(8), 0);
    select_key(FW_CFG_ID);
    cr_expect_eq(in(DATA, 2), 1);
    cr_expect_eq(in(DATA, 4), 0);
    /* A 4-byte IN that runs off the end: the missing bytes are 0. */
    select_key(FW_CFG_NB_CPUS);
    cr_expect_eq(in(DATA, 1), NCPUS);
    cr_expect_eq(in(DATA, 4), 0);
}

Test(fw_cfg, partial_4_byte_in_at_the_end)
{
    select_key(FW_CFG_NB_CPUS);
    cr_expect_eq(in(DATA, 4), NCPUS);
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 1), 'Q');
    cr_expect_eq(in(DATA, 4), 0x00554d45u); /* "EMU", then 0 */
}

Test(fw_cfg, new_selector_write_rewinds)
{
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 1), 'Q');
    cr_expect_eq(in(DATA, 1), 'E');
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 1), 'Q');
    select_key(FW_CFG_RAM_SIZE);
    cr_expect_eq(in(DATA, 1), 0x89);
    select_key(FW_CFG_NB_CPUS);
    cr_expect_eq(read_bytes(2), NCPUS);
}

Test(fw_cfg, data_port_writes_are_ignored)
{
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 1), 'Q');
    out(DATA, 1, 0x41);
    out(DATA, 2, FW_CFG_ID);
    out(DATA, 4, 0xffffffffu);
    cr_expect_eq(in(DATA, 1), 'E', "a data write moved the position or the selection");
    cr_expect_eq(fw.selector, FW_CFG_SIGNATURE);
    cr_expect_eq(fw.ram_size, RAM_SIZE);
}

Test(fw_cfg, one_byte_selector_write_selects_low_bits)
{
    select_key(FW_CFG_SIGNATURE);
    cr_expect_eq(in(DATA, 1), 'Q');
    out(SEL, 1, FW_CFG_NB_CPUS);
    cr_expect_eq(fw.selector, FW_CFG_NB_CPUS);
    cr_expect_eq(read_bytes(2), NCPUS);
    /* bus_io hands the device only the low byte. */
    out(SEL, 1, 0x1200 | FW_CFG_ID);
    cr_expect_eq(fw.selector, FW_CFG_ID);
    cr_expect_eq(read_bytes(4), 1);
}

/* Another configuration: 64 MiB, one CPU. */
Test(fw_cfg, another_configuration)
{
    struct fw_cfg f;
    fw_cfg_init(&f, 64ull << 20, 1);
    struct bus b;
    bus_init(&b);
    cr_assert_eq(bus_register(&b, FW_CFG_PORT, FW_CFG_PORTS, "fw_cfg", &fw_cfg_ops, &f), 0);
    uint32_t v = FW_CFG_RAM_SIZE;
    bus_io(&b, SEL, 2, false, &v, NULL);
    bus_io(&b, DATA, 4, true, &v, NULL);
    cr_expect_eq(v, 0x04000000u);
    bus_io(&b, DATA, 4, true, &v, NULL);
    cr_expect_eq(v, 0);
    v = FW_CFG_NB_CPUS;
    bus_io(&b, SEL, 2, false, &v, NULL);
    bus_io(&b, DATA, 2, true, &v, NULL);
    cr_expect_eq(v, 1);
}
