/* test_bus.c — the port bus (src/vmm/bus.c) and the devices on it: COM1
 * (src/vmm/serial.c) and the exit port (src/vmm/exit_port.c).
 *
 * Owns: fake devices that record what the bus hands them.
 * Must not: depend on the machine layer; every test builds its own bus.
 */
#include "vmm/bus.h"

#include <criterion/criterion.h>
#include <string.h>

#include "vmm/exit_port.h"
#include "vmm/serial.h"

/* ---- a device that records its last access */

struct probe {
    int reads, writes;
    uint16_t offset;
    unsigned size;
    uint32_t value;
    uint32_t reply;
};

static uint32_t probe_read(void *dev, uint16_t offset, unsigned size)
{
    struct probe *p = dev;
    p->reads++;
    p->offset = offset;
    p->size = size;
    return p->reply;
}

static void probe_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct probe *p = dev;
    p->writes++;
    p->offset = offset;
    p->size = size;
    p->value = value;
}

static const struct bus_device_ops probe_ops = { .read = probe_read, .write = probe_write };

static uint32_t in(struct bus *bus, uint16_t port, unsigned size)
{
    uint32_t v = 0x5a5a5a5a;
    bus_io(bus, port, size, true, &v, NULL);
    return v;
}

static const struct bus_range *out(struct bus *bus, uint16_t port, unsigned size, uint32_t v)
{
    return bus_io(bus, port, size, false, &v, NULL);
}

/* ---- registration */

Test(bus, refuses_a_range_that_overlaps_a_registered_one)
{
    struct bus bus;
    struct probe a = { 0 }, b = { 0 };
    bus_init(&bus);
    cr_assert_eq(bus_register(&bus, 0x3f8, 8, "a", &probe_ops, &a), 0);
    cr_expect_eq(bus_register(&bus, 0x3ff, 1, "b", &probe_ops, &b), -1, "last port");
    cr_expect_eq(bus_register(&bus, 0x3f0, 9, "b", &probe_ops, &b), -1, "first port");
    cr_expect_eq(bus_register(&bus, 0x3f0, 0x20, "b", &probe_ops, &b), -1, "around");
    cr_expect_eq(bus_register(&bus, 0x3fa, 2, "b", &probe_ops, &b), -1, "inside");
    cr_expect_eq(bus.count, 1);
}

Test(bus, accepts_adjacent_ranges)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    cr_expect_eq(bus_register(&bus, 0x3f8, 8, "a", &probe_ops, &a), 0);
    cr_expect_eq(bus_register(&bus, 0x3f0, 8, "b", &probe_ops, &a), 0);
    cr_expect_eq(bus_register(&bus, 0x400, 8, "c", &probe_ops, &a), 0);
}

Test(bus, refuses_an_empty_range_and_one_that_wraps_past_0xffff)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    cr_expect_eq(bus_register(&bus, 0x10, 0, "a", &probe_ops, &a), -1);
    cr_expect_eq(bus_register(&bus, 0xfffe, 3, "a", &probe_ops, &a), -1);
    cr_expect_eq(bus_register(&bus, 0x0, 0x10001, "a", &probe_ops, &a), -1);
    cr_expect_eq(bus_register(&bus, 0xfffe, 2, "a", &probe_ops, &a), 0);
    cr_expect_eq(bus.count, 1);
}

Test(bus, claims_the_whole_port_space_with_one_range)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    cr_assert_eq(bus_register(&bus, 0, 0x10000, "all", &probe_ops, &a), 0);
    cr_expect_not_null(out(&bus, 0xffff, 1, 0));
    cr_expect_eq(a.offset, 0xffff);
}

Test(bus, refuses_a_range_when_full)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    for (int i = 0; i < BUS_MAX_RANGES; i++)
        cr_assert_eq(bus_register(&bus, (uint16_t)(0x100 + 4 * i), 4, "a", &probe_ops, &a), 0);
    cr_expect_eq(bus_register(&bus, 0x800, 4, "a", &probe_ops, &a), -1);
}

Test(bus, refuses_a_range_without_ops)
{
    struct bus bus;
    bus_init(&bus);
    cr_expect_eq(bus_register(&bus, 0x80, 1, "a", NULL, NULL), -1);
}

/* ---- dispatch */

Test(bus, reports_an_unclaimed_access_and_reads_all_ones)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    bus_register(&bus, 0x3f8, 8, "a", &probe_ops, &a);
    uint32_t v = 0;
    cr_expect_null(bus_io(&bus, 0x80, 1, true, &v, NULL));
    cr_expect_eq(v, 0xff);
    cr_expect_null(bus_io(&bus, 0x3f7, 2, true, &v, NULL));
    cr_expect_eq(v, 0xffff);
    cr_expect_null(bus_io(&bus, 0x400, 4, true, &v, NULL));
    cr_expect_eq(v, 0xffffffff);
    cr_expect_null(out(&bus, 0x80, 1, 0x12));
    cr_expect_eq(a.reads + a.writes, 0);
}

Test(bus, hands_the_device_its_offset_size_and_value)
{
    struct bus bus;
    struct probe a = { 0 }, b = { 0 };
    bus_init(&bus);
    bus_register(&bus, 0x3f8, 8, "a", &probe_ops, &a);
    bus_register(&bus, 0xcf8, 8, "b", &probe_ops, &b);
    const struct bus_range *rb = &bus.ranges[1];

    cr_expect_eq(out(&bus, 0xcfc, 4, 0x80001234), rb);
    cr_expect_eq(b.writes, 1);
    cr_expect_eq(b.offset, 4);
    cr_expect_eq(b.size, 4);
    cr_expect_eq(b.value, 0x80001234);
    cr_expect_str_eq(rb->name, "b");
    cr_expect_eq(a.writes, 0);
}

Test(bus, masks_values_to_the_access_size)
{
    struct bus bus;
    struct probe a = { .reply = 0xdeadbeef };
    bus_init(&bus);
    bus_register(&bus, 0x60, 4, "a", &probe_ops, &a);
    cr_expect_eq(in(&bus, 0x61, 1), 0xef);
    cr_expect_eq(a.offset, 1);
    cr_expect_eq(a.size, 1);
    cr_expect_eq(in(&bus, 0x62, 2), 0xbeef);
    cr_expect_eq(in(&bus, 0x60, 4), 0xdeadbeef);
    out(&bus, 0x60, 2, 0x12345678);
    cr_expect_eq(a.value, 0x5678);
}

Test(bus, gives_an_access_that_runs_past_a_range_to_the_range_of_its_first_port)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    bus_register(&bus, 0x70, 2, "a", &probe_ops, &a);
    cr_expect_not_null(out(&bus, 0x71, 4, 1));
    cr_expect_eq(a.offset, 1);
    cr_expect_eq(a.size, 4);
}

Test(bus, treats_an_odd_size_as_unclaimed)
{
    struct bus bus;
    struct probe a = { 0 };
    bus_init(&bus);
    bus_register(&bus, 0x70, 8, "a", &probe_ops, &a);
    uint32_t v = 0;
    cr_expect_null(bus_io(&bus, 0x70, 3, true, &v, NULL));
    cr_expect_eq(v, 0xffffffff);
    cr_expect_eq(a.reads, 0);
}

/* ---- COM1 */

struct console {
    uint8_t buf[64];
    size_t len;
    int calls;
};

static void console_write(void *opaque, const uint8_t *buf, size_t len)
{
    struct console *c = opaque;
    memcpy(c->buf + c->len, buf, len);
    c->len += len;
    c->calls++;
}

struct com1 {
    struct bus bus;
    struct serial uart;
    struct console con;
};

static void com1_init(struct com1 *m)
{
    memset(m, 0, sizeof *m);
    bus_init(&m->bus);
    serial_init(&m->uart, console_write, &m->con);
    cr_assert_eq(bus_register(&m->bus, SERIAL_COM1_BASE, SERIAL_PORTS, "COM1", &serial_ops, &m->uart), 0);
}

Test(serial, reports_the_transmitter_empty_in_lsr)
{
    struct com1 m;
    com1_init(&m);
    cr_expect_eq(in(&m.bus, 0x3fd, 1), 0x60);
}

Test(serial, sends_each_thr_byte_to_the_console)
{
    struct com1 m;
    com1_init(&m);
    const struct bus_range *r = out(&m.bus, 0x3f8, 1, 'h');
    out(&m.bus, 0x3f8, 1, 'i');
    cr_assert_not_null(r);
    cr_expect_str_eq(r->name, "COM1");
    cr_expect_eq(m.con.len, 2);
    cr_expect_eq(m.con.calls, 2);
    cr_expect_arr_eq(m.con.buf, "hi", 2);
}

Test(serial, reads_no_interrupt_pending_in_iir)
{
    struct com1 m;
    com1_init(&m);
    cr_expect_eq(in(&m.bus, 0x3fa, 1), 0x01);
}

Test(serial, keeps_the_divisor_apart_from_thr_and_ier_while_dlab_is_set)
{
    struct com1 m;
    com1_init(&m);
    out(&m.bus, 0x3f9, 1, 0x00);        /* IER off */
    out(&m.bus, 0x3fb, 1, 0x80);        /* DLAB */
    out(&m.bus, 0x3f8, 1, 0x03);        /* DLL: 38400 baud */
    out(&m.bus, 0x3f9, 1, 0x00);        /* DLM */
    cr_expect_eq(in(&m.bus, 0x3f8, 1), 0x03);
    out(&m.bus, 0x3fb, 1, 0x03);        /* 8N1, DLAB off */
    out(&m.bus, 0x3f9, 1, 0x01);
    cr_expect_eq(in(&m.bus, 0x3f9, 1), 0x01);
    cr_expect_eq(in(&m.bus, 0x3fb, 1), 0x03);
    cr_expect_eq(m.con.len, 0, "the divisor latch went to the console");
    cr_expect_eq(m.uart.dll, 0x03);
}

Test(serial, keeps_mcr_and_scr_as_plain_registers)
{
    struct com1 m;
    com1_init(&m);
    out(&m.bus, 0x3fc, 1, 0x0b);
    out(&m.bus, 0x3ff, 1, 0xa5);
    cr_expect_eq(in(&m.bus, 0x3fc, 1), 0x0b);
    cr_expect_eq(in(&m.bus, 0x3ff, 1), 0xa5);
}

Test(serial, splits_a_word_access_into_consecutive_registers)
{
    struct com1 m;
    com1_init(&m);
    out(&m.bus, 0x3fe, 2, 0x4200);      /* MSR (ignored), SCR = 0x42 */
    cr_expect_eq(in(&m.bus, 0x3ff, 1), 0x42);
    cr_expect_eq(in(&m.bus, 0x3fc, 2), 0x6000); /* MCR 0, LSR 0x60 */
}

Test(serial, drops_output_without_a_console)
{
    struct bus bus;
    struct serial uart;
    bus_init(&bus);
    serial_init(&uart, NULL, NULL);
    bus_register(&bus, SERIAL_COM1_BASE, SERIAL_PORTS, "COM1", &serial_ops, &uart);
    cr_expect_not_null(out(&bus, 0x3f8, 1, 'x'));
}

/* ---- the exit port */

struct exit_machine {
    struct bus bus;
    struct exit_port ep;
};

static void exit_machine_init(struct exit_machine *m)
{
    bus_init(&m->bus);
    exit_port_init(&m->ep);
    cr_assert_eq(bus_register(&m->bus, EXIT_PORT_BASE, EXIT_PORT_LEN, "exit", &exit_port_ops, &m->ep), 0);
}

Test(exit_port, records_the_value_of_a_byte_out)
{
    struct exit_machine m;
    exit_machine_init(&m);
    cr_expect_not(m.ep.fired);
    cr_expect_not_null(out(&m.bus, 0xf4, 1, 0x10));
    cr_expect(m.ep.fired);
    cr_expect_eq(m.ep.value, 0x10);
    cr_expect_eq(exit_port_status(m.ep.value), 0x21);
}

Test(exit_port, records_a_dword_out_whole)
{
    struct exit_machine m;
    exit_machine_init(&m);
    out(&m.bus, 0xf4, 4, 0x12345678);
    cr_expect(m.ep.fired);
    cr_expect_eq(m.ep.value, 0x12345678);
}

Test(exit_port, fires_on_any_of_its_four_ports_and_not_on_the_fifth)
{
    struct exit_machine m;
    exit_machine_init(&m);
    cr_expect_null(out(&m.bus, 0xf8, 1, 1));
    cr_expect_not(m.ep.fired);
    out(&m.bus, 0xf7, 1, 3);
    cr_expect(m.ep.fired);
    cr_expect_eq(m.ep.value, 3);
}

Test(exit_port, keeps_the_first_value)
{
    struct exit_machine m;
    exit_machine_init(&m);
    out(&m.bus, 0xf4, 1, 1);
    out(&m.bus, 0xf4, 1, 2);
    cr_expect_eq(m.ep.value, 1);
}

Test(exit_port, reads_all_ones_and_does_not_fire)
{
    struct exit_machine m;
    exit_machine_init(&m);
    cr_expect_eq(in(&m.bus, 0xf4, 1), 0xff);
    cr_expect_eq(in(&m.bus, 0xf4, 4), 0xffffffff);
    cr_expect_not(m.ep.fired);
}

Test(exit_port, status_is_value_shifted_left_with_bit_0_set)
{
    cr_expect_eq(exit_port_status(0), 1);
    cr_expect_eq(exit_port_status(1), 3);
    cr_expect_eq(exit_port_status(0x7f), 0xff);
    cr_expect_eq(exit_port_status(0x80), 1, "only 8 bits reach the parent");
}
