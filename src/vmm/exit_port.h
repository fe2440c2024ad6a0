/* exit_port.h — the debug exit port at 0xf4, as QEMU's isa-debug-exit
 * (iobase 0xf4, iosize 4).
 *
 * Owns: recording that the guest asked to end the run, and with what value.
 * Must not: end the run itself; the machine polls `fired` after each I/O
 * exit and ends with status (value << 1) | 1 (DESIGN.md).
 */
#ifndef SVMSIM_VMM_EXIT_PORT_H
#define SVMSIM_VMM_EXIT_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"

#define EXIT_PORT_BASE 0xf4
#define EXIT_PORT_LEN  4

struct exit_port {
    bool fired;
    uint32_t value;                     /* the value of the first OUT, of its own size */
};

/* Bus interface; pass the struct exit_port as the device. An OUT of any
 * size at any of the 4 ports fires; the first one wins until the next
 * exit_port_init. INs read all ones. */
extern const struct bus_device_ops exit_port_ops;

void exit_port_init(struct exit_port *ep);

/* The process exit status for value v: (v << 1) | 1, as QEMU's exit() gives
 * it; only the low 8 bits reach a parent process, so that is all that is
 * returned (e.g. v = 0x80 gives 1). */
static inline int exit_port_status(uint32_t value)
{
    return (int)((((uint64_t)value << 1) | 1) & 0xff);
}

#endif
