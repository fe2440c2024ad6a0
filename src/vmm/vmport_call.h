/* vmport_call.h — what vmport.c, vmport_hb.c and vmport_rpc.c share,
 * private to them: a backdoor call's registers as the device computes on
 * them, and the GuestRPC entry points of both ports.
 */
#ifndef SVMSIM_VMM_VMPORT_CALL_H
#define SVMSIM_VMM_VMPORT_CALL_H

#include "vmm/vmport.h"

/* Registers by their x86 number (bus_regs numbering). */
enum {
    REG_RAX = 0, REG_RCX = 1, REG_RDX = 2, REG_RBX = 3, REG_RBP = 5, REG_RSI = 6, REG_RDI = 7,
    REG_N = BUS_REGS_N
};

#define NS_PER_SEC 1000000000ull
#define NS_PER_US 1000ull
#define MIB (1ull << 20)

/* The model's TSC runs at 1 GHz (cpu_host_tsc), and so, nominally, does the
 * APIC bus: GETHZ has something to report. */
#define VMPORT_TSC_HZ 1000000000ull
#define VMPORT_APIC_BUS_HZ 1000000000u

struct vmport_call {
    uint32_t r[REG_N];
    unsigned written;                   /* bit n: r[n] goes back to the vCPU */
};

static inline void call_set(struct vmport_call *c, unsigned reg, uint32_t v)
{
    c->r[reg] = v;
    c->written |= 1u << reg;
}

/* reg[31:16] = hi, reg[15:0] as the guest passed it: the status in ECX,
 * the channel id / message type in EDX (whose low half is the port). */
static inline void call_set_high(struct vmport_call *c, unsigned reg, uint16_t hi)
{
    call_set(c, reg, ((uint32_t)hi << 16) | (c->r[reg] & 0xffffu));
}


/* vmport_rpc.c: BDOOR_CMD_MESSAGE, the GuestRPC channels (ORACLE.md §4.3). */
void vmport_message(struct vmport *vp, struct vmport_call *c);
/* vmport_rpc.c: the high-bandwidth MESSAGE (ORACLE.md §4.2) on channel id
 * with its cookies, len bytes in buf: send takes the whole message that
 * SENDSIZE announced (and answers it, as the last SENDPAYLOAD would); recv
 * copies out the whole reply that RECVSIZE announced (RECVSTATUS still
 * consumes it). Each returns the status for EBX[31:16]; one without
 * SUCCESS changed nothing, on this channel or any other (but a send whose
 * answer found no memory: dropped, as after the last SENDPAYLOAD). */
uint16_t vmport_hb_send(struct vmport *vp, uint16_t id, uint32_t cookie_high,
                        uint32_t cookie_low, const uint8_t *buf, uint64_t len);
uint16_t vmport_hb_recv(struct vmport *vp, uint16_t id, uint32_t cookie_high,
                        uint32_t cookie_low, uint8_t *buf, uint64_t len);
/* vmport_rpc.c: closes every channel, frees the guestinfo keys and log. */
void vmport_rpc_fini(struct vmport *vp);

/* vmport_rpc.c: a guestinfo key (without the "guestinfo." prefix) set to a
 * value, as `info-set` does (by_guest) or a preset. */
enum store_result { STORE_OK, STORE_FULL, STORE_NOMEM };
enum store_result guestinfo_store(struct vmport *vp, const char *key, size_t keylen,
                                  const char *value, bool by_guest);

#endif
