/* vmport.h — the VMware backdoor device: backdoor commands and the
 * GuestRPC message channel on the low-bandwidth port 0x5658, whole GuestRPC
 * messages on the high-bandwidth port 0x5659 (ORACLE.md §3-§5).
 *
 * Owns: answering a backdoor call through the accessing vCPU's registers
 * (bus io_regs on 0x5658, bus io_string on 0x5659), the GuestRPC channels
 * and the RPCI host side (guestinfo keys, the guest's log lines).
 * Must not: know how the access was made (IN/OUT/INS/OUTS, paging, REP
 * slices: L0's business), read a clock itself (the machine passes one, so
 * --deterministic can make time follow the instruction count), or keep
 * state outside struct vmport.
 *
 * Answers follow VMware (open-vm-tools' backdoor_def.h and what VMware is
 * described to return); where QEMU's hw/i386/vmport.c differs, the .c says
 * so next to the command. QEMU has no high-bandwidth port at all.
 *
 * FIXME: the vmmouse commands (39-41), GETHWVERSION, GETBUILDNUM and the
 * CPL-0-only commands are not modelled; they answer as unknown commands.
 */
#ifndef SVMSIM_VMM_VMPORT_H
#define SVMSIM_VMM_VMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define VMPORT_PORT 0x5658
#define VMPORT_PORTS 1
#define VMPORT_HB_PORT 0x5659           /* high bandwidth: its own bus range */
#define VMPORT_HB_PORTS 1

/* Backdoor commands (BDOOR_CMD_*, ECX[15:0]) this device answers. */
#define VMPORT_CMD_GETMHZ        1
#define VMPORT_CMD_GETVERSION    10
#define VMPORT_CMD_GETUUID       19
#define VMPORT_CMD_GETMEMSIZE    20
#define VMPORT_CMD_GETTIME       23
#define VMPORT_CMD_MESSAGE       30
#define VMPORT_CMD_GETHZ         45
#define VMPORT_CMD_GETTIMEFULL   46
#define VMPORT_CMD_GET_VCPU_INFO 68

/* High-bandwidth commands (BDOORHB_CMD_*, EBX[15:0] on 0x5659). VASSERT
 * (1) is not modelled: it answers as an unknown command. */
#define VMPORT_HB_CMD_MESSAGE 0

#define VMPORT_ERROR 0xffffffffu        /* EAX for a wrong magic or unknown command */
#define VMPORT_MAX_TIME_LAG_US 1000000u /* GETTIME/GETTIMEFULL's ECX, as QEMU's default */

/* GuestRPC (guest_msg_def.h): message types in ECX[31:16] on input ... */
#define VMPORT_MSG_OPEN        0
#define VMPORT_MSG_SENDSIZE    1
#define VMPORT_MSG_SENDPAYLOAD 2
#define VMPORT_MSG_RECVSIZE    3
#define VMPORT_MSG_RECVPAYLOAD 4
#define VMPORT_MSG_RECVSTATUS  5
#define VMPORT_MSG_CLOSE       6
/* ... and status bits in ECX[31:16] on output. */
#define VMPORT_MSG_SUCCESS 0x0001
#define VMPORT_MSG_DORECV  0x0002
#define VMPORT_MSG_CLOSED  0x0004
#define VMPORT_MSG_UNSENT  0x0008
#define VMPORT_MSG_CPT     0x0010
#define VMPORT_MSG_HB      0x0080       /* SENDSIZE/RECVSIZE: move it on 0x5659 */

#define VMPORT_MSG_FLAG_COOKIE 0x80000000u /* OPEN: EBX = proto | this */
#define VMPORT_PROTO_RPCI 0x49435052u      /* 'RPCI': guest requests, host replies */
#define VMPORT_PROTO_TCLO 0x4F4C4354u      /* 'TCLO': host commands the guest polls */

/* Limits of this model. open-vm-tools allows 128 channels; a guest uses a
 * handful (vmtoolsd: one TCLO, one RPCI at a time), so 8 open at once. */
#define VMPORT_CHANNELS_MAX  8
#define VMPORT_MSG_MAX       65536u     /* bytes in one message, either way (64 KiB) */
#define VMPORT_GUESTINFO_MAX 64         /* guestinfo keys, presets included */
#define VMPORT_LOG_MAX       64         /* `log` lines kept; later ones are counted only */

/* Nanoseconds since the Unix epoch, UTC. */
typedef uint64_t vmport_clock_fn(void *opaque);

/* A GuestRPC request the host side answered: the channel, the request as
 * text (a trailing NUL dropped) and the reply as the guest reads it ("1 ..."
 * or "0 ..."), each with its length. Called during the I/O access that
 * completed the request; the strings live until it returns. */
typedef void vmport_rpc_note_fn(void *opaque, unsigned channel, const char *request,
                                size_t request_len, const char *reply, size_t reply_len);

/* What the device answers with, fixed at init. */
struct vmport_params {
    uint32_t version;                   /* GETVERSION's EAX */
    uint32_t product_type;              /* GETVERSION's ECX */
    uint8_t uuid[16];                   /* GETUUID, bytes in order */
    uint64_t mem_size;                  /* bytes of guest RAM; GETMEMSIZE gives MiB */
    const char *const *guestinfo;       /* "KEY=VALUE" presets, NULL-terminated; may be NULL */
    vmport_clock_fn *clock;             /* required */
    void *clock_opaque;
    vmport_rpc_note_fn *rpc_note;       /* may be NULL */
    void *rpc_note_opaque;
};

/* One GuestRPC channel. A message goes one way at a time: the guest sends
 * (SENDSIZE, SENDPAYLOAD...), then receives the reply (RECVSIZE,
 * RECVPAYLOAD..., RECVSTATUS). */
struct vmport_channel {
    bool open;
    bool cookies;                       /* opened with GUESTMSG_FLAG_COOKIE: checked */
    uint32_t proto;                     /* VMPORT_PROTO_RPCI or _TCLO */
    uint32_t cookie_high, cookie_low;   /* ESI, EDI */
    bool sending;                       /* SENDSIZE seen, payload still to come */
    uint8_t *send_buf;
    uint32_t send_len, send_pos;
    bool reply_pending;                 /* a reply waits for the guest */
    bool receiving;                     /* RECVSIZE announced it; payload being read */
    uint8_t *reply;
    uint32_t reply_len, reply_pos;
};

struct vmport_guestinfo {
    char *key;                          /* without the "guestinfo." prefix */
    char *value;
    bool by_guest;                      /* the guest set it (info-set), not only a preset */
};

struct vmport {
    struct vmport_params p;             /* p.guestinfo is not kept: see guestinfo[] */
    struct vmport_channel chan[VMPORT_CHANNELS_MAX];
    uint64_t cookie_seq;                /* cookies come from this counter: reproducible */
    struct vmport_guestinfo guestinfo[VMPORT_GUESTINFO_MAX];
    size_t n_guestinfo;
    char *log[VMPORT_LOG_MAX];
    size_t n_log;
    uint64_t log_dropped;               /* `log` lines beyond VMPORT_LOG_MAX */
};

/* Bus interface; pass the struct vmport as the device. Only io_regs: an
 * access without registers (bus_io with regs NULL) reads all ones. */
extern const struct bus_device_ops vmport_ops;
/* The high-bandwidth port's (vmport_hb.c); the same struct vmport as the
 * device, registered at VMPORT_HB_PORT. Only io_string: a GuestRPC message
 * is one REP OUTSB/INSB; a single IN reads all ones, an OUT is dropped. */
extern const struct bus_device_ops vmport_hb_ops;

/* Sets the answers and loads the guestinfo presets. Returns 0, or -1 with a
 * one-line message in err for a malformed preset (no '=', empty KEY, KEY
 * with a space, a value too long for one reply), more than
 * VMPORT_GUESTINFO_MAX keys, or no memory. After -1, vmport_fini is still
 * needed. */
int vmport_init(struct vmport *vp, const struct vmport_params *p, char *err, size_t errlen);
/* Frees what the channels, keys and log hold. Safe on a zeroed struct. */
void vmport_fini(struct vmport *vp);

/* The guestinfo keys (presets and what the guest set), in the order first
 * set: key without the "guestinfo." prefix; by_guest (may be NULL) tells
 * whether the guest set it. get returns false past the end. */
size_t vmport_guestinfo_count(const struct vmport *vp);
bool vmport_guestinfo_get(const struct vmport *vp, size_t i, const char **key,
                          const char **value, bool *by_guest);

/* The guest's `log` lines, oldest first (at most VMPORT_LOG_MAX kept), and
 * how many were dropped beyond that. get returns NULL past the end. */
size_t vmport_log_count(const struct vmport *vp);
const char *vmport_log_get(const struct vmport *vp, size_t i);
uint64_t vmport_log_dropped(const struct vmport *vp);

#endif
