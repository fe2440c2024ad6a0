/* fw_cfg.c — QEMU's firmware configuration device (see fw_cfg.h). */
#include "vmm/fw_cfg.h"

#include <string.h>

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t ncpus)
{
    *f = (struct fw_cfg){ .ram_size = ram_size, .ncpus = ncpus };
}

/* The bytes of item key, or 0 bytes for a key the device does not have. */
static unsigned item(const struct fw_cfg *f, uint16_t key, uint8_t out[8])
{
    uint64_t v;
    unsigned n;
    switch (key) {
    case FW_CFG_SIGNATURE:
        memcpy(out, "QEMU", 4);
        return 4;
    case FW_CFG_ID:
        v = 1; /* the traditional interface, no DMA */
        n = 4;
        break;
    case FW_CFG_RAM_SIZE:
    case FW_CFG_MAX_RAM:
        v = f->ram_size;
        n = 8;
        break;
    case FW_CFG_NB_CPUS:
    case FW_CFG_MAX_CPUS:
        v = f->ncpus;
        n = 2;
        break;
    default:
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
    return n;
}

static uint32_t fw_cfg_read(void *dev, uint16_t offset, unsigned size)
{
    struct fw_cfg *f = dev;
    if (offset != 1)
        return 0;
    uint8_t bytes[8];
    unsigned n = item(f, f->selector, bytes);
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++, f->offset++)
        if (f->offset < n)
            v |= (uint32_t)bytes[f->offset] << (8 * i);
    return v;
}

static void fw_cfg_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct fw_cfg *f = dev;
    if (offset != 0)
        return; /* the data port takes no writes: no write channel */
    f->selector = (uint16_t)value;
    f->offset = 0;
}

const struct bus_device_ops fw_cfg_ops = {
    .read = fw_cfg_read,
    .write = fw_cfg_write,
};
