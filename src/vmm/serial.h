/* serial.h — a 16550A-style UART as COM1, output only.
 *
 * Owns: the UART's register file and turning writes to THR into bytes for a
 * console callback.
 * Must not: do I/O itself (the callback does), know its port base (the bus
 * passes offsets), or raise interrupts (FIXME: no IRQ 4, no receive path).
 */
#ifndef SVMSIM_VMM_SERIAL_H
#define SVMSIM_VMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_PORTS     8              /* registers at offsets 0..7 */

/* Register offsets (PC16550D datasheet, table II). */
#define SERIAL_RBR_THR 0                /* DLAB=0: receive / transmit holding; DLAB=1: DLL */
#define SERIAL_IER     1                /* DLAB=0: interrupt enable; DLAB=1: DLM */
#define SERIAL_IIR_FCR 2                /* read: interrupt identification; write: FIFO control */
#define SERIAL_LCR     3                /* line control; bit 7 = DLAB */
#define SERIAL_MCR     4
#define SERIAL_LSR     5
#define SERIAL_MSR     6
#define SERIAL_SCR     7

#define SERIAL_LCR_DLAB 0x80
#define SERIAL_LSR_THRE 0x20            /* transmit holding register empty */
#define SERIAL_LSR_TEMT 0x40            /* transmitter empty */
#define SERIAL_IIR_NO_INT 0x01
#define SERIAL_MSR_IDLE 0xb0            /* DCD DSR CTS: a modem that is there and ready */

typedef void serial_write_fn(void *opaque, const uint8_t *buf, size_t len);

struct serial {
    uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
    serial_write_fn *write;             /* NULL: output is dropped */
    void *opaque;
};

/* The UART's bus interface; pass the struct serial as the device. */
extern const struct bus_device_ops serial_ops;

/* Resets the registers (all 0 except the divisor, 1 = 115200 baud) and sets
 * where transmitted bytes go. */
void serial_init(struct serial *s, serial_write_fn *write, void *opaque);

#endif
