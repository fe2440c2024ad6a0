/* vmport_hb.c — the VMware backdoor's high-bandwidth port 0x5659 (ORACLE.md
 * §4.2): a whole GuestRPC message moved by one REP OUTSB (guest to host) or
 * one REP INSB (host to guest), after SENDSIZE or RECVSIZE offered it with
 * MESSAGE_STATUS_HB.
 *
 * Owns: reading a high-bandwidth call from the registers and answering its
 * status; the bus ops of the port (vmport_hb_ops).
 * Must not: touch a channel itself (vmport_rpc.c does), or write a register
 * but EBX (the status) and, for a wrong magic or unknown command, EAX.
 *
 * A call, as open-vm-tools' BackdoorHbOut/BackdoorHbIn make it: EAX =
 * magic, EBX = (status << 16) | command with status = SUCCESS, ECX = the
 * byte count, EDX = (channel << 16) | 0x5659; OUT: RSI = the data, RDI =
 * cookieLow, RBP = cookieHigh; IN: RDI = the destination, RSI = cookieHigh,
 * RBP = cookieLow. The bytes are the string L0 hands over, and their count
 * is the message's length: ECX says the same unless the REP was longer than
 * L0 moves in one call (64 KiB, the longest message), and then the message
 * is of the wrong length anyway. The answer is EBX[31:16], EBX[15:0] kept.
 * Every call writes it, failures too: the guest passed SUCCESS in, and a
 * status left alone would read as success.
 */
#include "vmm/vmport_call.h"

#include "svmsim/arch/vmware.h"

/* A string of any element size is the message's bytes in the order they
 * crossed the port (open-vm-tools uses bytes). For an OUT the bytes are
 * taken only if the message is; for an IN, a failure fills nothing and the
 * bus gives the guest all ones, as from an unclaimed port. */
static uint64_t vmport_hb_io_string(void *dev, uint16_t offset, unsigned size, bool is_in,
                                    uint8_t *buf, uint64_t count, const struct bus_regs *regs)
{
    struct vmport_call c = { .written = 0 };
    uint16_t status = 0;

    if (!regs)
        return 0;
    regs->read(regs->opaque, c.r);
    uint16_t id = (uint16_t)(c.r[REG_RDX] >> 16);
    uint64_t len = count * size;
    if (c.r[REG_RAX] != VMWARE_BDOOR_MAGIC || (uint16_t)c.r[REG_RBX] != VMPORT_HB_CMD_MESSAGE)
        call_set(&c, REG_RAX, VMPORT_ERROR); /* as the LB port answers */
    else if (is_in)
        status = vmport_hb_recv(dev, id, c.r[REG_RSI], c.r[REG_RBP], buf, len);
    else
        status = vmport_hb_send(dev, id, c.r[REG_RBP], c.r[REG_RDI], buf, len);
    call_set_high(&c, REG_RBX, status);
    regs->write(regs->opaque, c.r, c.written);
    return (status & VMPORT_MSG_SUCCESS) ? count : 0;
}

const struct bus_device_ops vmport_hb_ops = {
    .io_string = vmport_hb_io_string,
};
