/* vmport.c — the VMware backdoor device (see vmport.h).
 *
 * Owns: the command table and the commands but MESSAGE (vmport_rpc.c), the
 * device's life cycle and what the VMM may read of it.
 * Must not: read a clock, allocate outside struct vmport's own buffers, or
 * touch a register a command does not answer in.
 *
 * A call, as open-vm-tools makes it (ORACLE.md §4.1): EAX = magic, EBX =
 * argument, ECX = (sub-command << 16) | command, EDX = (channel << 16) |
 * port, ESI/EDI = more arguments; every one of EAX..EDI may come back
 * changed. The registers are read once into a struct vmport_call, the
 * command computes into it, and only the registers it answers in are
 * written back, each as a 32-bit register write (zero-extended, as QEMU's
 * env->regs[] = uint32_t). EAX is always written, for IN and OUT alike, so
 * that both instructions and every access size leave the same registers
 * (an IN writes EAX anyway; L0 then merges the value read into AL/AX/EAX,
 * which is the same value).
 */
#include "vmm/vmport_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/arch/vmware.h"

/* ---- commands that answer from the configuration or the clock */

static void vmport_now(const struct vmport *vp, uint64_t *sec, uint32_t *usec)
{
    uint64_t ns = vp->p.clock(vp->p.clock_opaque);
    *sec = ns / NS_PER_SEC;
    *usec = (uint32_t)(ns % NS_PER_SEC / NS_PER_US);
}

/* VMware: EAX = processor speed in MHz, EBX = magic. QEMU has no GETMHZ
 * (it answers EAX = 0xFFFFFFFF, as for any unknown command). */
static void cmd_getmhz(struct vmport *vp, struct vmport_call *c)
{
    call_set(c, REG_RAX, (uint32_t)(VMPORT_TSC_HZ / 1000000));
    call_set(c, REG_RBX, VMWARE_BDOOR_MAGIC);
}

/* EBX = magic is what detection code checks (ORACLE.md §5); QEMU gives the
 * same three registers (QV-03). */
static void cmd_getversion(struct vmport *vp, struct vmport_call *c)
{
    call_set(c, REG_RAX, vp->p.version);
    call_set(c, REG_RBX, VMWARE_BDOOR_MAGIC);
    call_set(c, REG_RCX, vp->p.product_type);
}

/* The 16 bytes as four little-endian dwords, bytes 0-3 in EAX (QV-04). */
static void cmd_getuuid(struct vmport *vp, struct vmport_call *c)
{
    static const unsigned regs[4] = { REG_RAX, REG_RBX, REG_RCX, REG_RDX };
    for (unsigned i = 0; i < 4; i++) {
        const uint8_t *b = &vp->p.uuid[4 * i];
        call_set(c, regs[i], (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                 (uint32_t)b[3] << 24);
    }
}

/* VMware answers in MiB; QEMU answers in bytes (truncated to 32 bits) and
 * sets EBX = 0x1177 (QV-05). */
static void cmd_getmemsize(struct vmport *vp, struct vmport_call *c)
{
    call_set(c, REG_RAX, (uint32_t)(vp->p.mem_size / MIB));
}

/* EDX = UTC offset in minutes, as VMware (v86's description); QEMU leaves
 * EDX alone (QV-06). Seconds are truncated to 32 bits: GETTIMEFULL is the
 * command that carries them whole. */
static void cmd_gettime(struct vmport *vp, struct vmport_call *c)
{
    uint64_t sec;
    uint32_t usec;
    vmport_now(vp, &sec, &usec);
    call_set(c, REG_RAX, (uint32_t)sec);
    call_set(c, REG_RBX, usec);
    call_set(c, REG_RCX, VMPORT_MAX_TIME_LAG_US);
    call_set(c, REG_RDX, 0);
}

/* QEMU answers the same when it knows the TSC and APIC bus frequencies,
 * and EBX = 0xFFFFFFFF (EAX = magic) when it does not (QV-07). */
static void cmd_gethz(struct vmport *vp, struct vmport_call *c)
{
    call_set(c, REG_RAX, (uint32_t)VMPORT_TSC_HZ);
    call_set(c, REG_RBX, (uint32_t)(VMPORT_TSC_HZ >> 32));
    call_set(c, REG_RCX, VMPORT_APIC_BUS_HZ);
}

/* EAX = magic marks success (QV-08, the same in QEMU). */
static void cmd_gettimefull(struct vmport *vp, struct vmport_call *c)
{
    uint64_t sec;
    uint32_t usec;
    vmport_now(vp, &sec, &usec);
    call_set(c, REG_RAX, VMWARE_BDOOR_MAGIC);
    call_set(c, REG_RSI, (uint32_t)(sec >> 32));
    call_set(c, REG_RDX, (uint32_t)sec);
    call_set(c, REG_RBX, usec);
    call_set(c, REG_RCX, VMPORT_MAX_TIME_LAG_US);
}

/* Bit 31 (RESERVED) clear says "implemented"; bit 3 (LEGACY_X2APIC) clear
 * because the model's CPU has no x2APIC. QEMU sets bit 3 from the guest's
 * CPUID (QV-09). */
static void cmd_get_vcpu_info(struct vmport *vp, struct vmport_call *c)
{
    call_set(c, REG_RAX, 0);
}

/* ---- dispatch */

/* Each command sets EAX (see the top of the file). */
typedef void vmport_cmd_fn(struct vmport *vp, struct vmport_call *c);

static vmport_cmd_fn *const vmport_cmds[] = {
    [VMPORT_CMD_GETMHZ] = cmd_getmhz,
    [VMPORT_CMD_GETVERSION] = cmd_getversion,
    [VMPORT_CMD_GETUUID] = cmd_getuuid,
    [VMPORT_CMD_GETMEMSIZE] = cmd_getmemsize,
    [VMPORT_CMD_GETTIME] = cmd_gettime,
    [VMPORT_CMD_MESSAGE] = vmport_message,
    [VMPORT_CMD_GETHZ] = cmd_gethz,
    [VMPORT_CMD_GETTIMEFULL] = cmd_gettimefull,
    [VMPORT_CMD_GET_VCPU_INFO] = cmd_get_vcpu_info,
};

/* The command is CX, all 16 bits, as VMware (BDOOR_CMD(ecx) = ecx & 0xFFFF);
 * QEMU reads only CL, so ECX = 0x10A is GETVERSION there and unknown here
 * (QV-13). ECX[31:16] is the sub-command, which none of these commands but
 * MESSAGE looks at. A wrong magic or an unknown command sets EAX =
 * 0xFFFFFFFF and nothing else (QV-01, QV-02; Alon's series: what VMware
 * does and open-vm-tools relies on). */
static void vmport_dispatch(struct vmport *vp, struct vmport_call *c)
{
    uint16_t cmd = (uint16_t)c->r[REG_RCX];
    vmport_cmd_fn *fn = NULL;
    if (c->r[REG_RAX] == VMWARE_BDOOR_MAGIC && cmd < sizeof vmport_cmds / sizeof vmport_cmds[0])
        fn = vmport_cmds[cmd];
    if (!fn) {
        call_set(c, REG_RAX, VMPORT_ERROR);
        return;
    }
    fn(vp, c);
}

/* Any size, IN or OUT: the call is in the registers, not in the value. */
static uint32_t vmport_io_regs(void *dev, uint16_t offset, unsigned size, bool is_in,
                               uint32_t value, const struct bus_regs *regs)
{
    struct vmport_call c = { .written = 0 };

    regs->read(regs->opaque, c.r);
    vmport_dispatch(dev, &c);
    if (c.written)
        regs->write(regs->opaque, c.r, c.written);
    return c.r[REG_RAX];
}

const struct bus_device_ops vmport_ops = {
    .io_regs = vmport_io_regs,
};

/* ---- life cycle and what the VMM may read */

#define VMPORT_STR_(x) #x
#define VMPORT_STR(x) VMPORT_STR_(x)

static int vmport_errf(char *err, size_t errlen, const char *preset, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "guestinfo preset '%s': %s", preset, why);
    return -1;
}

/* "KEY=VALUE", KEY without the "guestinfo." prefix. A KEY with a space
 * could never be named by `info-get guestinfo.KEY`. */
static int vmport_preset(struct vmport *vp, const char *kv, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return vmport_errf(err, errlen, kv, "not KEY=VALUE");
    if (memchr(kv, ' ', (size_t)(eq - kv)))
        return vmport_errf(err, errlen, kv, "KEY contains a space");
    if (strlen(eq + 1) > VMPORT_MSG_MAX - 2)
        return vmport_errf(err, errlen, kv, "VALUE longer than one GuestRPC reply");
    switch (guestinfo_store(vp, kv, (size_t)(eq - kv), eq + 1, false)) {
    case STORE_OK:
        return 0;
    case STORE_FULL:
        return vmport_errf(err, errlen, kv, "more than " VMPORT_STR(VMPORT_GUESTINFO_MAX)
                                            " guestinfo keys");
    default:
        return vmport_errf(err, errlen, kv, "out of memory");
    }
}

int vmport_init(struct vmport *vp, const struct vmport_params *p, char *err, size_t errlen)
{
    *vp = (struct vmport){ .p = *p };
    vp->p.guestinfo = NULL;
    if (!p->clock) {
        if (err && errlen)
            snprintf(err, errlen, "VMware backdoor: no clock");
        return -1;
    }
    for (const char *const *kv = p->guestinfo; kv && *kv; kv++)
        if (vmport_preset(vp, *kv, err, errlen) != 0)
            return -1;
    return 0;
}

void vmport_fini(struct vmport *vp)
{
    vmport_rpc_fini(vp);
}

size_t vmport_guestinfo_count(const struct vmport *vp)
{
    return vp->n_guestinfo;
}

bool vmport_guestinfo_get(const struct vmport *vp, size_t i, const char **key,
                          const char **value, bool *by_guest)
{
    if (i >= vp->n_guestinfo)
        return false;
    *key = vp->guestinfo[i].key;
    *value = vp->guestinfo[i].value;
    if (by_guest)
        *by_guest = vp->guestinfo[i].by_guest;
    return true;
}

size_t vmport_log_count(const struct vmport *vp)
{
    return vp->n_log;
}

const char *vmport_log_get(const struct vmport *vp, size_t i)
{
    return i < vp->n_log ? vp->log[i] : NULL;
}

uint64_t vmport_log_dropped(const struct vmport *vp)
{
    return vp->log_dropped;
}
