/* serial.c — COM1 (see serial.h).
 *
 * Owns: the register semantics of an always-ready 16550A transmitter: THR
 * writes go out at once (one byte per console call), so LSR always reads
 * THRE|TEMT (0x60) and IIR "no interrupt pending" (0x01). IER, LCR, MCR,
 * SCR, DLL, DLM and FCR are plain registers so that a driver's init
 * sequence (kvm-unit-tests, Linux's early console) works.
 * Must not: block, buffer, or keep state outside struct serial.
 *
 * FIXME: no receiver (RBR reads 0, LSR.DR never set), no interrupts, no
 * loopback mode (MCR bit 4 is stored but has no effect, MSR reads 0xb0).
 */
#include "vmm/serial.h"

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
    bool dlab = s->lcr & SERIAL_LCR_DLAB;

    switch (reg) {
    case SERIAL_RBR_THR: return dlab ? s->dll : 0;
    case SERIAL_IER:     return dlab ? s->dlm : s->ier;
    case SERIAL_IIR_FCR: return SERIAL_IIR_NO_INT;
    case SERIAL_LCR:     return s->lcr;
    case SERIAL_MCR:     return s->mcr;
    case SERIAL_LSR:     return SERIAL_LSR_THRE | SERIAL_LSR_TEMT;
    case SERIAL_MSR:     return SERIAL_MSR_IDLE;
    case SERIAL_SCR:     return s->scr;
    default:             return 0xff; /* past the UART's 8 ports */
    }
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
    bool dlab = s->lcr & SERIAL_LCR_DLAB;

    switch (reg) {
    case SERIAL_RBR_THR:
        if (dlab)
            s->dll = v;
        else if (s->write)
            s->write(s->opaque, &v, 1);
        break;
    case SERIAL_IER:
        if (dlab)
            s->dlm = v;
        else
            s->ier = v & 0x0f; /* bits 7:4 read as zero on a 16550A */
        break;
    case SERIAL_IIR_FCR: s->fcr = v; break;
    case SERIAL_LCR:     s->lcr = v; break;
    case SERIAL_MCR:     s->mcr = v & 0x1f; break;
    case SERIAL_SCR:     s->scr = v; break;
    default:             break; /* LSR, MSR: writes ignored; past the UART: not ours */
    }
}

/* A wider access touches consecutive registers, one byte each, as an ISA
 * 8-bit device sees a 16/32-bit IN/OUT. */
static uint32_t serial_read(void *dev, uint16_t offset, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)serial_read_reg(dev, offset + i) << (8 * i);
    return v;
}

static void serial_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    for (unsigned i = 0; i < size && i < 4; i++)
        serial_write_reg(dev, offset + i, (uint8_t)(value >> (8 * i)));
}

const struct bus_device_ops serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

void serial_init(struct serial *s, serial_write_fn *write, void *opaque)
{
    *s = (struct serial){ .dll = 1, .write = write, .opaque = opaque };
}
