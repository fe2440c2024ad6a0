/* testdev.h — the parts of QEMU's pc-testdev that kvm-unit-tests uses on
 * a machine without PCI test devices: the test port (0xe0-0xe3, the four
 * bytes of one value) that reads back what was last written, and 64 KiB of
 * I/O memory at
 * physical 0xff000000 that behaves as RAM behind MMIO (x86/emulator.c maps
 * it to exercise instructions on MMIO).
 *
 * Owns: the port's value and the I/O memory's bytes.
 * Must not: know about the CPU or L0.
 */
#ifndef SVMSIM_VMM_TESTDEV_H
#define SVMSIM_VMM_TESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define TESTDEV_PORT 0xe0
#define TESTDEV_PORTS 4
#define TESTDEV_IOMEM_BASE 0xff000000ull
#define TESTDEV_IOMEM_LEN 0x10000u

struct testdev {
    uint32_t port_data;
    uint8_t iomem[TESTDEV_IOMEM_LEN];
};

void testdev_init(struct testdev *t);
extern const struct bus_device_ops testdev_port_ops;
/* Accesses of 1-8 bytes at physical pa: true if the I/O memory holds all
 * of them (a read fills *value). */
bool testdev_mmio_read(struct testdev *t, uint64_t pa, unsigned size, uint64_t *value);
bool testdev_mmio_write(struct testdev *t, uint64_t pa, unsigned size, uint64_t value);

#endif
