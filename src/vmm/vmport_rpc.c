/* vmport_rpc.c — GuestRPC over the VMware backdoor's MESSAGE command
 * (ORACLE.md §4.3, §4.4): the channels' state machine and the RPCI verbs a
 * minimal host answers (guestinfo keys, log lines, the tools' notices). A
 * payload moves in 4-byte chunks on the low-bandwidth port, or whole on the
 * high-bandwidth one (§4.2) when SENDSIZE/RECVSIZE offered it with the HB
 * status bit; a guest that ignores the bit keeps using the chunks.
 *
 * Owns: struct vmport's channels, guestinfo keys and log lines.
 * Must not: touch a register a message type does not answer in.
 */
#include "vmm/vmport_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/arch/vmware.h"

/* ---- GuestRPC (ORACLE.md §4.3) */

/* Cookies only tell a stale channel id from a reopened one; nothing in the
 * model is secret, so a counter through splitmix64 keeps runs identical. */
static uint64_t vmport_cookie(struct vmport *vp)
{
    uint64_t x = ++vp->cookie_seq + 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void channel_drop_send(struct vmport_channel *ch)
{
    free(ch->send_buf);
    ch->send_buf = NULL;
    ch->sending = false;
    ch->send_len = ch->send_pos = 0;
}

static void channel_drop_reply(struct vmport_channel *ch)
{
    free(ch->reply);
    ch->reply = NULL;
    ch->reply_pending = ch->receiving = false;
    ch->reply_len = ch->reply_pos = 0;
}

static void channel_close(struct vmport_channel *ch)
{
    channel_drop_send(ch);
    channel_drop_reply(ch);
    *ch = (struct vmport_channel){ .open = false };
}

/* Queues "1 text" or "0 text". Returns 0, or -1 without memory. Replies fit
 * VMPORT_MSG_MAX by construction: a request is at most that long and a
 * stored value is shorter than the request that set it (or a preset,
 * checked at init). */
static int channel_set_reply(struct vmport_channel *ch, bool ok, const char *text)
{
    size_t len = strlen(text);
    uint8_t *buf = malloc(2 + len);
    if (!buf)
        return -1;
    buf[0] = ok ? '1' : '0';
    buf[1] = ' ';
    memcpy(buf + 2, text, len);
    channel_drop_reply(ch);
    ch->reply = buf;
    ch->reply_len = (uint32_t)(2 + len);
    ch->reply_pending = true;
    return 0;
}

/* ---- the RPCI host side: a request's verb and what it answers */

static const char GUESTINFO_PREFIX[] = "guestinfo.";
#define GUESTINFO_PREFIX_LEN (sizeof GUESTINFO_PREFIX - 1)

static struct vmport_guestinfo *guestinfo_find(struct vmport *vp, const char *key, size_t keylen)
{
    for (size_t i = 0; i < vp->n_guestinfo; i++) {
        struct vmport_guestinfo *g = &vp->guestinfo[i];
        if (strlen(g->key) == keylen && memcmp(g->key, key, keylen) == 0)
            return g;
    }
    return NULL;
}


/* Sets key to value, replacing an existing value or adding a key. */
enum store_result guestinfo_store(struct vmport *vp, const char *key, size_t keylen,
                                  const char *value, bool by_guest)
{
    struct vmport_guestinfo *g = guestinfo_find(vp, key, keylen);
    if (!g && vp->n_guestinfo >= VMPORT_GUESTINFO_MAX)
        return STORE_FULL;
    char *v = strdup(value);
    if (!v)
        return STORE_NOMEM;
    if (g) {
        free(g->value);
        g->value = v;
        g->by_guest |= by_guest;
        return STORE_OK;
    }
    char *k = strndup(key, keylen);
    if (!k) {
        free(v);
        return STORE_NOMEM;
    }
    vp->guestinfo[vp->n_guestinfo++] = (struct vmport_guestinfo){ .key = k, .value = v, .by_guest = by_guest };
    return STORE_OK;
}

/* What a verb answers: "1 text" or "0 text"; nomem when it could not keep
 * what it was given (the call then fails without SUCCESS). */
struct rpci_reply {
    bool ok;
    const char *text;
    bool nomem;
};

typedef struct rpci_reply rpci_fn(struct vmport *vp, const char *args);

/* `info-set guestinfo.KEY VALUE`: VALUE is everything after the first space
 * after KEY. The failure texts are not in ORACLE.md: "Two and exactly two
 * arguments expected" is what VMware is reported to say, "Permission
 * denied" is open-vm-tools' constant for a refused request (OVT-09), and
 * the full-table text is ours. */
static struct rpci_reply rpci_info_set(struct vmport *vp, const char *args)
{
    if (strncmp(args, GUESTINFO_PREFIX, GUESTINFO_PREFIX_LEN) != 0)
        return (struct rpci_reply){ .ok = false, .text = "Permission denied" };
    const char *key = args + GUESTINFO_PREFIX_LEN;
    const char *sp = strchr(key, ' ');
    if (!sp || sp == key)
        return (struct rpci_reply){ .ok = false, .text = "Two and exactly two arguments expected" };
    switch (guestinfo_store(vp, key, (size_t)(sp - key), sp + 1, true)) {
    case STORE_OK:
        return (struct rpci_reply){ .ok = true, .text = "" };
    case STORE_FULL:
        return (struct rpci_reply){ .ok = false, .text = "Too many guestinfo keys" };
    default:
        return (struct rpci_reply){ .nomem = true };
    }
}

/* `info-get guestinfo.KEY`. "No value found" is what tools commonly report
 * (OVT-01; any text after "0 " will do). */
static struct rpci_reply rpci_info_get(struct vmport *vp, const char *args)
{
    const struct vmport_guestinfo *g = NULL;
    if (strncmp(args, GUESTINFO_PREFIX, GUESTINFO_PREFIX_LEN) == 0)
        g = guestinfo_find(vp, args + GUESTINFO_PREFIX_LEN, strlen(args + GUESTINFO_PREFIX_LEN));
    if (!g)
        return (struct rpci_reply){ .ok = false, .text = "No value found" };
    return (struct rpci_reply){ .ok = true, .text = g->value };
}

/* `log TEXT`: kept for the VMM to show; a guest that logs more than
 * VMPORT_LOG_MAX lines still gets "1 " (VMware's log has no such limit). */
static struct rpci_reply rpci_log(struct vmport *vp, const char *args)
{
    if (vp->n_log >= VMPORT_LOG_MAX) {
        vp->log_dropped++;
        return (struct rpci_reply){ .ok = true, .text = "" };
    }
    char *line = strdup(args);
    if (!line)
        return (struct rpci_reply){ .nomem = true };
    vp->log[vp->n_log++] = line;
    return (struct rpci_reply){ .ok = true, .text = "" };
}

/* What vmtoolsd says at startup (OVT-04, -06, -07): acknowledged, not kept. */
static struct rpci_reply rpci_ack(struct vmport *vp, const char *args)
{
    return (struct rpci_reply){ .ok = true, .text = "" };
}

static const struct {
    const char *verb;
    rpci_fn *fn;
} rpci_verbs[] = {
    { "info-set", rpci_info_set },
    { "info-get", rpci_info_get },
    { "log", rpci_log },
    { "tools.set.version", rpci_ack },
    { "tools.set.versiontype", rpci_ack },
    { "vmx.capability.unified_loop", rpci_ack },
    { "tools.capability.features", rpci_ack },
};

/* Answers one complete request: the verb is the text up to the first
 * space, the rest its arguments. A trailing NUL (RpcChannel_Send counts
 * it) is not part of the text. Returns 0, or -1 without memory. */
static int rpci_answer(struct vmport *vp, struct vmport_channel *ch, const uint8_t *msg,
                       uint32_t len)
{
    if (len > 0 && msg[len - 1] == '\0')
        len--;
    char *req = malloc((size_t)len + 1);
    if (!req)
        return -1;
    memcpy(req, msg, len);
    req[len] = '\0';
    const char *sp = strchr(req, ' ');
    size_t verb_len = sp ? (size_t)(sp - req) : strlen(req);
    const char *args = sp ? sp + 1 : "";
    /* RPCI_UNKNOWN_COMMAND (tclodefs.h): tools compare against it (OVT-08). */
    struct rpci_reply r = { .ok = false, .text = "Unknown command" };
    for (size_t i = 0; i < sizeof rpci_verbs / sizeof rpci_verbs[0]; i++) {
        if (strlen(rpci_verbs[i].verb) == verb_len &&
            memcmp(rpci_verbs[i].verb, req, verb_len) == 0) {
            r = rpci_verbs[i].fn(vp, args);
            break;
        }
    }
    int rc = r.nomem ? -1 : channel_set_reply(ch, r.ok, r.text);
    if (rc == 0 && vp->p.rpc_note)
        vp->p.rpc_note(vp->p.rpc_note_opaque, (unsigned)(ch - vp->chan), req, len,
                       (const char *)ch->reply, ch->reply_len);
    free(req);
    return rc;
}

/* The whole message has arrived. RPCI: answer it. TCLO: it is the guest's
 * reply to a host command; the model sends none, so there is nothing to
 * match it with and it is dropped. */
static uint16_t channel_message_done(struct vmport *vp, struct vmport_channel *ch)
{
    int rc = 0;
    if (ch->proto == VMPORT_PROTO_RPCI)
        rc = rpci_answer(vp, ch, ch->send_buf, ch->send_len);
    channel_drop_send(ch);
    return rc == 0 ? VMPORT_MSG_SUCCESS : 0;
}

/* ---- message types: each returns the status for ECX[31:16] */

typedef uint16_t vmport_msg_fn(struct vmport *vp, struct vmport_channel *ch,
                               struct vmport_call *c);

/* EBX = length. A new request supersedes a reply the guest never fetched,
 * and a SENDSIZE in the middle of a send starts over (a guest told CPT
 * retries from SENDSIZE). Too long: refused, the channel as it was. A
 * payload to come is offered the HB port (open-vm-tools then sends it by
 * one REP OUTSB); an empty message is complete at once, nothing to offer. */
static uint16_t msg_sendsize(struct vmport *vp, struct vmport_channel *ch, struct vmport_call *c)
{
    uint32_t len = c->r[REG_RBX];
    if (len > VMPORT_MSG_MAX)
        return 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    channel_drop_send(ch);
    channel_drop_reply(ch);
    ch->send_buf = buf;
    ch->send_len = len;
    ch->sending = true;
    if (len == 0)
        return channel_message_done(vp, ch);
    return VMPORT_MSG_SUCCESS | VMPORT_MSG_HB;
}

/* EBX = the next min(4, bytes left) bytes, little-endian (Message_Send). */
static uint16_t msg_sendpayload(struct vmport *vp, struct vmport_channel *ch,
                                struct vmport_call *c)
{
    if (!ch->sending)
        return 0;
    uint32_t n = ch->send_len - ch->send_pos;
    if (n > 4)
        n = 4;
    for (uint32_t i = 0; i < n; i++)
        ch->send_buf[ch->send_pos + i] = (uint8_t)(c->r[REG_RBX] >> (8 * i));
    ch->send_pos += n;
    if (ch->send_pos == ch->send_len)
        return channel_message_done(vp, ch);
    return VMPORT_MSG_SUCCESS;
}

/* A pending reply: DORECV, EDX[31:16] = SENDSIZE (the host "sends" its
 * size), EBX = length, and HB (a reply is never empty: at least "1 "), so
 * open-vm-tools fetches it by one REP INSB; a repeated RECVSIZE reads it
 * again from the start.
 * Nothing pending: a TCLO guest is polling for host commands, which is
 * SUCCESS without DORECV; an RPCI guest asked for a reply to no request,
 * which is a malformed sequence. */
static uint16_t msg_recvsize(struct vmport *vp, struct vmport_channel *ch, struct vmport_call *c)
{
    if (!ch->reply_pending)
        return ch->proto == VMPORT_PROTO_TCLO ? VMPORT_MSG_SUCCESS : 0;
    ch->receiving = true;
    ch->reply_pos = 0;
    call_set_high(c, REG_RDX, VMPORT_MSG_SENDSIZE);
    call_set(c, REG_RBX, ch->reply_len);
    return VMPORT_MSG_SUCCESS | VMPORT_MSG_DORECV | (ch->reply_len > 0 ? VMPORT_MSG_HB : 0);
}

/* EDX[31:16] = SENDPAYLOAD, EBX = the next 4 bytes, little-endian, zero
 * past the end. The guest's EBX (SUCCESS: "previous chunk ok") is not
 * needed: without checkpoints no chunk is ever lost. */
static uint16_t msg_recvpayload(struct vmport *vp, struct vmport_channel *ch,
                                struct vmport_call *c)
{
    if (!ch->receiving || ch->reply_pos >= ch->reply_len)
        return 0;
    uint32_t v = 0;
    for (uint32_t i = 0; i < 4 && ch->reply_pos + i < ch->reply_len; i++)
        v |= (uint32_t)ch->reply[ch->reply_pos + i] << (8 * i);
    ch->reply_pos = ch->reply_len - ch->reply_pos > 4 ? ch->reply_pos + 4 : ch->reply_len;
    call_set_high(c, REG_RDX, VMPORT_MSG_SENDPAYLOAD);
    call_set(c, REG_RBX, v);
    return VMPORT_MSG_SUCCESS;
}

/* EBX = SUCCESS: the guest has the reply, it is gone. EBX = 0: the guest
 * gave up on it; it stays pending, to be read again from RECVSIZE. */
static uint16_t msg_recvstatus(struct vmport *vp, struct vmport_channel *ch,
                               struct vmport_call *c)
{
    if (!ch->receiving)
        return 0;
    if (c->r[REG_RBX] & VMPORT_MSG_SUCCESS) {
        channel_drop_reply(ch);
    } else {
        ch->receiving = false;
        ch->reply_pos = 0;
    }
    return VMPORT_MSG_SUCCESS;
}

static uint16_t msg_close(struct vmport *vp, struct vmport_channel *ch, struct vmport_call *c)
{
    channel_close(ch);
    return VMPORT_MSG_SUCCESS;
}

static vmport_msg_fn *const vmport_msgs[] = {
    [VMPORT_MSG_SENDSIZE] = msg_sendsize,
    [VMPORT_MSG_SENDPAYLOAD] = msg_sendpayload,
    [VMPORT_MSG_RECVSIZE] = msg_recvsize,
    [VMPORT_MSG_RECVPAYLOAD] = msg_recvpayload,
    [VMPORT_MSG_RECVSTATUS] = msg_recvstatus,
    [VMPORT_MSG_CLOSE] = msg_close,
};

/* EBX = proto | flags. Answers EDX[31:16] = channel id and, with cookies,
 * ESI/EDI = cookieHigh/cookieLow; without, ESI/EDI are left alone (the
 * guest passes them back, unchecked). All channels in use: refused. */
static uint16_t msg_open(struct vmport *vp, struct vmport_call *c)
{
    uint32_t proto = c->r[REG_RBX] & ~VMPORT_MSG_FLAG_COOKIE;
    if (proto != VMPORT_PROTO_RPCI && proto != VMPORT_PROTO_TCLO)
        return 0;
    for (unsigned id = 0; id < VMPORT_CHANNELS_MAX; id++) {
        struct vmport_channel *ch = &vp->chan[id];
        if (ch->open)
            continue;
        *ch = (struct vmport_channel){ .open = true, .proto = proto };
        if (c->r[REG_RBX] & VMPORT_MSG_FLAG_COOKIE) {
            uint64_t cookie = vmport_cookie(vp);
            ch->cookies = true;
            ch->cookie_high = (uint32_t)(cookie >> 32);
            ch->cookie_low = (uint32_t)cookie;
            call_set(c, REG_RSI, ch->cookie_high);
            call_set(c, REG_RDI, ch->cookie_low);
        }
        call_set_high(c, REG_RDX, (uint16_t)id);
        return VMPORT_MSG_SUCCESS;
    }
    return 0;
}

/* The open channel id names, if the cookies fit (a channel opened without
 * them takes any); else NULL with the status to answer: CLOSED for an id
 * that is no open channel, 0 for wrong cookies. */
static struct vmport_channel *channel_named(struct vmport *vp, uint16_t id,
                                            uint32_t cookie_high, uint32_t cookie_low,
                                            uint16_t *status)
{
    if (id >= VMPORT_CHANNELS_MAX || !vp->chan[id].open) {
        *status = VMPORT_MSG_CLOSED;
        return NULL;
    }
    struct vmport_channel *ch = &vp->chan[id];
    if (ch->cookies && (cookie_high != ch->cookie_high || cookie_low != ch->cookie_low)) {
        *status = 0;
        return NULL;
    }
    return ch;
}

/* BDOOR_CMD_MESSAGE: ECX[31:16] = type, EDX[31:16] = channel, ESI/EDI =
 * cookies. Every answer has the status in ECX[31:16] (ECX[15:0] kept); a
 * call that fails changes nothing but the status, and touches no other
 * channel. An id that is not an open channel answers CLOSED. QEMU has no
 * MESSAGE (QV-14): EAX = 0xFFFFFFFF, ECX unchanged. */
void vmport_message(struct vmport *vp, struct vmport_call *c)
{
    uint16_t type = (uint16_t)(c->r[REG_RCX] >> 16);
    uint16_t id = (uint16_t)(c->r[REG_RDX] >> 16);
    uint16_t status = 0;
    struct vmport_channel *ch;

    if (type == VMPORT_MSG_OPEN)
        status = msg_open(vp, c);
    else if (type >= sizeof vmport_msgs / sizeof vmport_msgs[0] || !vmport_msgs[type])
        status = 0;
    else if ((ch = channel_named(vp, id, c->r[REG_RSI], c->r[REG_RDI], &status)) != NULL)
        status = vmport_msgs[type](vp, ch, c);
    /* EAX: VMware's value here is not described anywhere public and
     * open-vm-tools ignores it; the magic stays. */
    call_set(c, REG_RAX, VMWARE_BDOOR_MAGIC);
    call_set_high(c, REG_RCX, status);
}

/* ---- the high-bandwidth port's MESSAGE (ORACLE.md §4.2) */

/* The payload comes one way: all of it here, or all in SENDPAYLOAD chunks;
 * a length other than SENDSIZE's is refused, the send still waiting. */
uint16_t vmport_hb_send(struct vmport *vp, uint16_t id, uint32_t cookie_high,
                        uint32_t cookie_low, const uint8_t *buf, uint64_t len)
{
    uint16_t status;
    struct vmport_channel *ch = channel_named(vp, id, cookie_high, cookie_low, &status);
    if (!ch)
        return status;
    if (!ch->sending || ch->send_pos != 0 || len != ch->send_len)
        return 0;
    memcpy(ch->send_buf, buf, ch->send_len);
    ch->send_pos = ch->send_len;
    return channel_message_done(vp, ch);
}

/* The whole reply, whatever RECVPAYLOAD chunks were read before; it stays
 * pending until RECVSTATUS, as after the last chunk. */
uint16_t vmport_hb_recv(struct vmport *vp, uint16_t id, uint32_t cookie_high,
                        uint32_t cookie_low, uint8_t *buf, uint64_t len)
{
    uint16_t status;
    struct vmport_channel *ch = channel_named(vp, id, cookie_high, cookie_low, &status);
    if (!ch)
        return status;
    if (!ch->receiving || len != ch->reply_len)
        return 0;
    memcpy(buf, ch->reply, ch->reply_len);
    ch->reply_pos = ch->reply_len;
    return VMPORT_MSG_SUCCESS;
}

void vmport_rpc_fini(struct vmport *vp)
{
    for (unsigned i = 0; i < VMPORT_CHANNELS_MAX; i++)
        channel_close(&vp->chan[i]);
    for (size_t i = 0; i < vp->n_guestinfo; i++) {
        free(vp->guestinfo[i].key);
        free(vp->guestinfo[i].value);
    }
    vp->n_guestinfo = 0;
    for (size_t i = 0; i < vp->n_log; i++)
        free(vp->log[i]);
    vp->n_log = 0;
}
