/* testdev.c — QEMU's pc-testdev port and I/O memory (see testdev.h). */
#include "vmm/testdev.h"

#include <string.h>

void testdev_init(struct testdev *t)
{
    memset(t, 0, sizeof(*t));
}

/* The port: one 32-bit value whose bytes are the four ports, as QEMU's
 * test_ioport: an access reads or replaces the bytes it covers, starting
 * at its offset (bytes past the fourth are not there). */
static uint32_t lane_mask(uint16_t offset, unsigned size)
{
    unsigned start = 8 * (offset & 3), bits = 8 * size;
    uint64_t m = (bits >= 32 ? 0xffffffffull : (1ull << bits) - 1) << start;
    return (uint32_t)m;
}

static uint32_t testdev_port_read(void *dev, uint16_t offset, unsigned size)
{
    struct testdev *t = dev;
    return (t->port_data & lane_mask(offset, size)) >> (8 * (offset & 3));
}

static void testdev_port_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct testdev *t = dev;
    uint32_t m = lane_mask(offset, size);
    t->port_data = (t->port_data & ~m) | (uint32_t)(((uint64_t)value << (8 * (offset & 3))) & m);
}

const struct bus_device_ops testdev_port_ops = {
    .read = testdev_port_read,
    .write = testdev_port_write,
};

static bool in_iomem(uint64_t pa, unsigned size)
{
    return pa >= TESTDEV_IOMEM_BASE && pa - TESTDEV_IOMEM_BASE <= TESTDEV_IOMEM_LEN - size;
}

bool testdev_mmio_read(struct testdev *t, uint64_t pa, unsigned size, uint64_t *value)
{
    if (!in_iomem(pa, size))
        return false;
    uint64_t v = 0;
    memcpy(&v, &t->iomem[pa - TESTDEV_IOMEM_BASE], size);
    *value = v;
    return true;
}

bool testdev_mmio_write(struct testdev *t, uint64_t pa, unsigned size, uint64_t value)
{
    if (!in_iomem(pa, size))
        return false;
    memcpy(&t->iomem[pa - TESTDEV_IOMEM_BASE], &value, size);
    return true;
}
