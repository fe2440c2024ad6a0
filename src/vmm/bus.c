/* bus.c — the port-I/O bus of a machine (see bus.h).
 *
 * Owns: the table of claimed port ranges and dispatching one access to the
 * device that claims it, with the offset into the device's range.
 * Must not: know about the CPU, L0 or devices' semantics, or keep any state
 * outside struct bus.
 *
 * An access is claimed by the range that contains its first port, and the
 * device sees that offset and the full size even if the access runs past
 * the end of its range (as in Firecracker's bus); a device that cares
 * splits it itself (serial.c does).
 */
#include "vmm/bus.h"

#include <stddef.h>
#include <string.h>

#define BUS_PORTS 0x10000u

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

void bus_init(struct bus *bus)
{
    bus->count = 0;
    memset(bus->owner, 0, sizeof(bus->owner));
}

/* Also refuses ops == NULL: a range with no device behind it is a bug in
 * the caller, not a claim. */
int bus_register(struct bus *bus, uint16_t base, uint32_t len, const char *name,
                 const struct bus_device_ops *ops, void *dev)
{
    if (len == 0 || len > BUS_PORTS - base || !ops)
        return -1;
    if (bus->count < 0 || bus->count >= BUS_MAX_RANGES)
        return -1;
    for (int i = 0; i < bus->count; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if ((uint32_t)base < (uint32_t)r->base + r->len && (uint32_t)r->base < (uint32_t)base + len)
            return -1;
    }
    memset(&bus->owner[base], bus->count + 1, len);
    bus->ranges[bus->count++] = (struct bus_range){
        .base = base, .len = len, .name = name, .ops = ops, .dev = dev,
    };
    return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint16_t port)
{
    unsigned i = bus->owner[port];
    return i ? &bus->ranges[i - 1] : NULL;
}

/* A size other than 1, 2 or 4 is treated as an access nobody claims. */
const struct bus_range *bus_io(struct bus *bus, uint16_t port, unsigned size, bool is_in,
                               uint32_t *value, const struct bus_regs *regs)
{
    if (size != 1 && size != 2 && size != 4) {
        if (is_in)
            *value = 0xffffffffu;
        return NULL;
    }
    uint32_t mask = size_mask(size);
    const struct bus_range *r = bus_find(bus, port);
    if (!r) {
        if (is_in)
            *value = mask;
        return NULL;
    }
    uint16_t offset = (uint16_t)(port - r->base);
    if (r->ops->io_regs && regs) {
        uint32_t v = r->ops->io_regs(r->dev, offset, size, is_in, is_in ? 0 : *value & mask, regs);
        if (is_in)
            *value = v & mask;
        return r;
    }
    if (is_in)
        *value = (r->ops->read ? r->ops->read(r->dev, offset, size) : 0xffffffffu) & mask;
    else if (r->ops->write)
        r->ops->write(r->dev, offset, size, *value & mask);
    return r;
}

const struct bus_range *bus_find_string(const struct bus *bus, uint16_t port)
{
    const struct bus_range *r = bus_find(bus, port);
    return r && r->ops->io_string ? r : NULL;
}

/* A device that reports more than it was given is held to count. */
const struct bus_range *bus_io_string(struct bus *bus, uint16_t port, unsigned size, bool is_in,
                                      uint8_t *buf, uint64_t count, const struct bus_regs *regs,
                                      uint64_t *taken)
{
    const struct bus_range *r = bus_find_string(bus, port);
    if (taken)
        *taken = 0;
    if (!r || (size != 1 && size != 2 && size != 4))
        return NULL;
    uint64_t n = r->ops->io_string(r->dev, (uint16_t)(port - r->base), size, is_in, buf, count,
                                   regs);
    if (n > count)
        n = count;
    if (is_in && n < count)
        memset(buf + n * size, 0xff, (count - n) * size);
    if (taken)
        *taken = n;
    return r;
}
