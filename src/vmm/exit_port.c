/* exit_port.c — the debug exit port (see exit_port.h).
 *
 * Owns: the fired/value record of one machine's exit port.
 * Must not: end the run, print, or call exit(): the machine decides.
 */
#include "vmm/exit_port.h"

static uint32_t exit_port_read(void *dev, uint16_t offset, unsigned size)
{
    return 0xffffffffu;
}

static void exit_port_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct exit_port *ep = dev;

    /* QEMU exits on the first write; a REP OUTS writing more before the
     * machine looks must not change the status. */
    if (ep->fired)
        return;
    ep->fired = true;
    ep->value = value;
}

const struct bus_device_ops exit_port_ops = {
    .read = exit_port_read,
    .write = exit_port_write,
};

void exit_port_init(struct exit_port *ep)
{
    *ep = (struct exit_port){ .fired = false, .value = 0 };
}
