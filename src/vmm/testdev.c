/* testdev.c — QEMU's pc-testdev port and I/O memory (see testdev.h). */
#include "vmm/testdev.h"

#include <string.h>

void testdev_init(struct testdev *t)
{
    memset(t, 0, sizeof(*t));
}

/* The port: an access of any size at any of its four offsets reads or
 * replaces the one value (as QEMU's test_ioport). */
static uint32_t testdev_port_read(void *dev, uint16_t offset, unsigned size)
{
    struct testdev *t = dev;
    return t->port_data;
}

static void testdev_port_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct testdev *t = dev;
    t->port_data = value;
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
