/* guestrpc.c — a guest-side GuestRPC client over the VMware backdoor,
 * written from the protocol description (ORACLE.md §4.1 the LB call on port
 * 0x5658, §4.2 the HB call on port 0x5659, §4.3 the MESSAGE channel and the
 * RPCI layer), checked against the exchanges of §4.4 (OVT-01..08) and a
 * guestinfo preset given on the command line (--guestinfo=preset=fromhost).
 *
 * The client: OPEN with 'RPCI' | GUESTMSG_FLAG_COOKIE (again without the flag
 * if SUCCESS is missing), SENDSIZE + SENDPAYLOAD in 1-4 byte little-endian
 * chunks, RECVSIZE (DORECV, EDX[31:16] = SENDSIZE) + RECVPAYLOAD (EDX[31:16]
 * = SENDPAYLOAD) + RECVSTATUS, CLOSE; a CPT status restarts the message; the
 * reply must start with "1 " or "0 ". Over HB, when SENDSIZE/RECVSIZE offer
 * it (status bit 0x0080), the payload instead moves whole: one REP OUTSB
 * after SENDSIZE, one REP INSB after RECVSIZE, status in EBX[31:16], and
 * RCX/RSI/RDI must come back advanced as the instruction does.
 *
 * The whole set runs four times: at CPL0 (a plain IN or REP INSB/OUTSB: an
 * IOIO exit) and at CPL3 (run_in_user, IOPL 0, the TSS denying 0x5658 and
 * 0x5659: each access is a #GP that L0 emulates, so the run needs
 * --enable-vmware-backdoor), each over LB only (a client that ignores the HB
 * bit, as open-vm-tools falling back) and over HB. Each pass also keeps two
 * channels open at once and interleaves their messages call by call.
 */
#include "libguest.h"

#define BDOOR_MAGIC 0x564D5868u
#define BDOOR_PORT 0x5658
#define BDOOR_PORT_HB 0x5659
#define BDOOR_CMD_MESSAGE 30
#define BDOORHB_CMD_MESSAGE 0

/* Message types (ECX[31:16] in) and status bits (ECX[31:16] out). */
enum { MSG_OPEN, MSG_SENDSIZE, MSG_SENDPAYLOAD, MSG_RECVSIZE, MSG_RECVPAYLOAD, MSG_RECVSTATUS,
       MSG_CLOSE };
static const char *const msg_name[] = { "OPEN", "SENDSIZE", "SENDPAYLOAD", "RECVSIZE",
                                        "RECVPAYLOAD", "RECVSTATUS", "CLOSE" };
#define ST_SUCCESS 0x0001
#define ST_DORECV 0x0002
#define ST_CLOSED 0x0004
#define ST_CPT 0x0010
#define ST_HB 0x0080

#define FLAG_COOKIE 0x80000000u
#define PROTO_RPCI 0x49435052u

#define REPLY_MAX 256 /* this test's replies are short */
#define RESTART_MAX 4 /* CPT restarts of one message */

struct bd_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
};

/* ---- the transport: one backdoor instruction at the current pass's CPL */

enum bd_insn { BD_IN, BD_HB_OUT, BD_HB_IN };
static const char *const bd_insn_name[] = { "IN", "REP OUTSB", "REP INSB" };

static int bd_cpl;              /* 0: at CPL0; 3: each access at CPL3 */
static bool bd_hb;              /* this pass uses HB when SENDSIZE/RECVSIZE offer it */
static char pass[24];           /* "CPL0", "CPL3 over HB", ... */
static struct bd_regs user_regs;
static unsigned bd_calls, bd_faults, hb_outs, hb_ins;
static int bd_last_vec;

static void bd_in(struct bd_regs *r)
{
    asm volatile(ASM_TRY("inl %%dx, %%eax")
                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx), "+S"(r->rsi),
                   "+D"(r->rdi)
                 : : "memory");
}

/* RBP carries a cookie, but may be the frame pointer: swapped in and out
 * around the instruction (after an exception too: ASM_TRY resumes at its
 * end). DF is clear, as the C ABI keeps it and run_in_user enters CPL3. */
static void bd_hb_out(struct bd_regs *r)
{
    uint64_t bp = r->rbp;
    asm volatile("xchg %[bp], %%rbp\n\t" ASM_TRY("rep outsb") "xchg %[bp], %%rbp"
                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx), "+S"(r->rsi),
                   "+D"(r->rdi), [bp] "+r"(bp)
                 : : "memory");
    r->rbp = bp;
}

static void bd_hb_in(struct bd_regs *r)
{
    uint64_t bp = r->rbp;
    asm volatile("xchg %[bp], %%rbp\n\t" ASM_TRY("rep insb") "xchg %[bp], %%rbp"
                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx), "+S"(r->rsi),
                   "+D"(r->rdi), [bp] "+r"(bp)
                 : : "memory");
    r->rbp = bp;
}

static void bd_exec(struct bd_regs *r, enum bd_insn insn)
{
    if (insn == BD_IN)
        bd_in(r);
    else if (insn == BD_HB_OUT)
        bd_hb_out(r);
    else
        bd_hb_in(r);
}

static uint64_t user_exec(uint64_t insn)
{
    bd_exec(&user_regs, (enum bd_insn)insn);
    return 0;
}

/* Returns 0, or -1 if the instruction raised an exception (then the
 * registers are what the guest loaded, not an answer). */
static int bd_call(struct bd_regs *r, enum bd_insn insn)
{
    exc_clear();
    if (bd_cpl == 0) {
        bd_exec(r, insn);
    } else {
        user_regs = *r;
        run_in_user(user_exec, insn, 0);
        *r = user_regs;
    }
    bd_calls++;
    hb_outs += insn == BD_HB_OUT;
    hb_ins += insn == BD_HB_IN;
    if (exc_vector() != -1) {
        bd_faults++;
        bd_last_vec = exc_vector();
        return -1;
    }
    return 0;
}

/* ---- errors: the first failure since rpc_err_reset() */

static char rpc_err[192];
static bool rpc_failed;

static void rpc_err_reset(void)
{
    rpc_failed = false;
    rpc_err[0] = '\0';
}

static bool __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
    if (!rpc_failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rpc_err, sizeof rpc_err, fmt, ap);
        va_end(ap);
        rpc_failed = true;
    }
    return false;
}

/* ---- the MESSAGE channel (§4.3) */

struct rpc_chan {
    uint16_t id;
    uint32_t cookie_high, cookie_low;   /* ESI, EDI */
    bool cookie;                        /* opened with GUESTMSG_FLAG_COOKIE */
};

static struct bd_regs msg_regs(const struct rpc_chan *c, unsigned type, uint32_t ebx)
{
    return (struct bd_regs){ .rax = BDOOR_MAGIC,
                             .rbx = ebx,
                             .rcx = (uint32_t)type << 16 | BDOOR_CMD_MESSAGE,
                             .rdx = (uint32_t)c->id << 16 | BDOOR_PORT,
                             .rsi = c->cookie_high,
                             .rdi = c->cookie_low };
}

/* Returns the status in ECX[31:16], or -1 on an exception. */
static int msg_call(struct bd_regs *r, unsigned type)
{
    if (bd_call(r, BD_IN) < 0) {
        fail("%s: IN raised vector %d", msg_name[type], bd_last_vec);
        return -1;
    }
    return (int)((uint32_t)r->rcx >> 16);
}

/* An HB MESSAGE (§4.2) of len bytes at buf: OUT sends it (RSI = data, RDI
 * = cookieLow, RBP = cookieHigh), IN fetches it (RDI = destination, RSI =
 * cookieHigh, RBP = cookieLow). */
static struct bd_regs hb_regs(const struct rpc_chan *c, enum bd_insn insn, const void *buf,
                              uint32_t len)
{
    struct bd_regs r = { .rax = BDOOR_MAGIC,
                         .rbx = (uint32_t)ST_SUCCESS << 16 | BDOORHB_CMD_MESSAGE,
                         .rcx = len,
                         .rdx = (uint32_t)c->id << 16 | BDOOR_PORT_HB };
    if (insn == BD_HB_OUT) {
        r.rsi = (uint64_t)buf;
        r.rdi = c->cookie_low;
        r.rbp = c->cookie_high;
    } else {
        r.rdi = (uint64_t)buf;
        r.rsi = c->cookie_high;
        r.rbp = c->cookie_low;
    }
    return r;
}

/* Returns the status in EBX[31:16], or -1 on an exception or if RCX and
 * RSI/RDI did not come back advanced past the whole string. */
static int hb_call(struct bd_regs *r, enum bd_insn insn)
{
    uint64_t count = r->rcx;
    uint64_t *ptr = insn == BD_HB_OUT ? &r->rsi : &r->rdi;
    uint64_t start = *ptr;
    if (bd_call(r, insn) < 0) {
        fail("%s of %lu bytes: raised vector %d", bd_insn_name[insn], count, bd_last_vec);
        return -1;
    }
    if (r->rcx != 0 || *ptr != start + count) {
        fail("%s of %lu bytes left RCX %#lx, %s %#lx (from %#lx)", bd_insn_name[insn], count,
             r->rcx, insn == BD_HB_OUT ? "RSI" : "RDI", *ptr, start);
        return -1;
    }
    return (int)((uint32_t)r->rbx >> 16);
}

static uint16_t edx_high(const struct bd_regs *r)
{
    return (uint16_t)((uint32_t)r->rdx >> 16);
}

static bool rpc_open(struct rpc_chan *c)
{
    uint32_t flags = FLAG_COOKIE;
    *c = (struct rpc_chan){ 0 };
    for (;;) {
        struct bd_regs r = msg_regs(c, MSG_OPEN, PROTO_RPCI | flags);
        int st = msg_call(&r, MSG_OPEN);
        if (st < 0)
            return false;
        if (st & ST_SUCCESS) {
            c->id = edx_high(&r);
            c->cookie_high = (uint32_t)r.rsi;
            c->cookie_low = (uint32_t)r.rdi;
            c->cookie = flags != 0;
            return true;
        }
        if (!flags)
            return fail("OPEN without the cookie flag: status %#x, no SUCCESS", st);
        flags = 0; /* no cookies on this host: once more without */
    }
}

static bool rpc_close(struct rpc_chan *c)
{
    struct bd_regs r = msg_regs(c, MSG_CLOSE, 0);
    int st = msg_call(&r, MSG_CLOSE);
    if (st < 0)
        return false;
    if (!(st & ST_SUCCESS))
        return fail("CLOSE: status %#x, no SUCCESS", st);
    return true;
}

/* One message each way, a step at a time so that two channels can take
 * turns: send_size/recv_size start it, each *_step makes one more call and
 * returns 1 when the message is complete, 0 when there is more, -1 on
 * failure. */
struct xfer {
    struct rpc_chan *c;
    const uint8_t *buf;                 /* sending */
    uint8_t *dst;                       /* receiving: cap + 1 bytes, NUL added */
    uint32_t cap;
    uint32_t len, pos;
    bool hb;                            /* the payload moves whole on 0x5659 */
    unsigned restarts;
};

/* Whether to move a payload of len bytes over HB: when offered, on an HB
 * pass (an LB pass ignores the bit, as a client without HB would). This
 * host offers it for every payload, so an HB pass insists on it. */
static bool use_hb(const char *what, int st, uint32_t len, bool *hb)
{
    *hb = bd_hb && (st & ST_HB);
    if (bd_hb && len > 0 && !(st & ST_HB))
        return fail("%s %u: status %#x does not offer HB", what, len, st);
    return true;
}

static bool send_size(struct xfer *x)
{
    struct bd_regs r = msg_regs(x->c, MSG_SENDSIZE, x->len);
    int st = msg_call(&r, MSG_SENDSIZE);
    if (st < 0)
        return false;
    if (!(st & ST_SUCCESS))
        return fail("SENDSIZE %u on channel %u: status %#x, no SUCCESS", x->len, x->c->id, st);
    if (x->len == 0 && (st & ST_HB))
        return fail("SENDSIZE 0: status %#x offers HB for no payload", st);
    x->pos = 0;
    return use_hb("SENDSIZE", st, x->len, &x->hb);
}

static bool send_begin(struct xfer *x, struct rpc_chan *c, const void *buf, uint32_t len)
{
    *x = (struct xfer){ .c = c, .buf = buf, .len = len };
    return send_size(x);
}

/* The whole payload by one REP OUTSB; CPT restarts from SENDSIZE. */
static int send_hb(struct xfer *x)
{
    struct bd_regs r = hb_regs(x->c, BD_HB_OUT, x->buf, x->len);
    int st = hb_call(&r, BD_HB_OUT);
    if (st < 0)
        return -1;
    if (!(st & ST_SUCCESS)) {
        if ((st & ST_CPT) && ++x->restarts <= RESTART_MAX)
            return send_size(x) ? 0 : -1;
        fail("REP OUTSB of %u bytes on channel %u: status %#x, no SUCCESS", x->len, x->c->id,
             st);
        return -1;
    }
    x->pos = x->len;
    return 1;
}

static int send_step(struct xfer *x)
{
    if (x->pos >= x->len)
        return 1;
    if (x->hb)
        return send_hb(x);
    uint32_t n = x->len - x->pos < 4 ? x->len - x->pos : 4;
    uint32_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v |= (uint32_t)x->buf[x->pos + i] << (8 * i);
    struct bd_regs r = msg_regs(x->c, MSG_SENDPAYLOAD, v);
    int st = msg_call(&r, MSG_SENDPAYLOAD);
    if (st < 0)
        return -1;
    if (!(st & ST_SUCCESS)) {
        if ((st & ST_CPT) && ++x->restarts <= RESTART_MAX)
            return send_size(x) ? 0 : -1;
        fail("SENDPAYLOAD bytes %u-%u of %u: status %#x, no SUCCESS", x->pos, x->pos + n - 1,
             x->len, st);
        return -1;
    }
    x->pos += n;
    return x->pos >= x->len;
}

static bool recv_size(struct xfer *x)
{
    struct bd_regs r = msg_regs(x->c, MSG_RECVSIZE, 0);
    int st = msg_call(&r, MSG_RECVSIZE);
    if (st < 0)
        return false;
    if (!(st & ST_SUCCESS))
        return fail("RECVSIZE on channel %u: status %#x, no SUCCESS", x->c->id, st);
    if (!(st & ST_DORECV))
        return fail("RECVSIZE: status %#x without DORECV: no reply", st);
    if (edx_high(&r) != MSG_SENDSIZE)
        return fail("RECVSIZE: EDX[31:16] = %u, not 1 (SENDSIZE)", edx_high(&r));
    x->len = (uint32_t)r.rbx;
    if (x->len > x->cap)
        return fail("RECVSIZE: reply of %u bytes, more than %u", x->len, x->cap);
    x->pos = 0;
    return use_hb("RECVSIZE", st, x->len, &x->hb);
}

static bool recv_begin(struct xfer *x, struct rpc_chan *c, void *dst, uint32_t cap)
{
    *x = (struct xfer){ .c = c, .dst = dst, .cap = cap };
    return recv_size(x);
}

/* The whole reply by one REP INSB; RECVSTATUS follows as after chunks. */
static int recv_hb(struct xfer *x)
{
    struct bd_regs r = hb_regs(x->c, BD_HB_IN, x->dst, x->len);
    int st = hb_call(&r, BD_HB_IN);
    if (st < 0)
        return -1;
    if (!(st & ST_SUCCESS)) {
        if ((st & ST_CPT) && ++x->restarts <= RESTART_MAX)
            return recv_size(x) ? 0 : -1;
        fail("REP INSB of %u bytes on channel %u: status %#x, no SUCCESS", x->len, x->c->id,
             st);
        return -1;
    }
    x->pos = x->len;
    return 0;
}

static int recv_step(struct xfer *x)
{
    if (x->pos < x->len && x->hb)
        return recv_hb(x);
    if (x->pos < x->len) {
        uint32_t n = x->len - x->pos < 4 ? x->len - x->pos : 4;
        struct bd_regs r = msg_regs(x->c, MSG_RECVPAYLOAD, ST_SUCCESS);
        int st = msg_call(&r, MSG_RECVPAYLOAD);
        if (st < 0)
            return -1;
        if (!(st & ST_SUCCESS)) {
            if ((st & ST_CPT) && ++x->restarts <= RESTART_MAX)
                return recv_size(x) ? 0 : -1;
            fail("RECVPAYLOAD bytes %u-%u of %u: status %#x, no SUCCESS", x->pos,
                 x->pos + n - 1, x->len, st);
            return -1;
        }
        if (edx_high(&r) != MSG_SENDPAYLOAD) {
            fail("RECVPAYLOAD: EDX[31:16] = %u, not 2 (SENDPAYLOAD)", edx_high(&r));
            return -1;
        }
        for (uint32_t i = 0; i < n; i++)
            x->dst[x->pos + i] = (uint8_t)((uint32_t)r.rbx >> (8 * i));
        x->pos += n;
        return 0;
    }
    struct bd_regs r = msg_regs(x->c, MSG_RECVSTATUS, ST_SUCCESS);
    int st = msg_call(&r, MSG_RECVSTATUS);
    if (st < 0)
        return -1;
    if (!(st & ST_SUCCESS)) {
        if ((st & ST_CPT) && ++x->restarts <= RESTART_MAX)
            return recv_size(x) ? 0 : -1;
        fail("RECVSTATUS: status %#x, no SUCCESS", st);
        return -1;
    }
    x->dst[x->len] = '\0';
    return 1;
}

static bool run_steps(struct xfer *x, int (*step)(struct xfer *))
{
    int s;
    while ((s = step(x)) == 0)
        ;
    return s > 0;
}

/* The RPCI layer: a reply is "1 text" or "0 text". */
static bool rpci_reply_ok(const uint8_t *reply, uint32_t len)
{
    if (len < 2 || (reply[0] != '1' && reply[0] != '0') || reply[1] != ' ')
        return fail("Invalid format: reply of %u bytes without a \"1 \"/\"0 \" prefix", len);
    return true;
}

/* Sends one request on a channel and receives its reply. */
static bool rpci_exchange(struct rpc_chan *c, const void *req, uint32_t len, uint8_t *reply,
                          uint32_t *rlen)
{
    struct xfer x;
    if (!send_begin(&x, c, req, len) || !run_steps(&x, send_step))
        return false;
    if (!recv_begin(&x, c, reply, REPLY_MAX) || !run_steps(&x, recv_step))
        return false;
    *rlen = x.len;
    return rpci_reply_ok(reply, x.len);
}

static unsigned opens, opens_nocookie;

/* RpcOut_sendOne's shape: open, one request, its reply, close. */
static bool rpci_call(const void *req, uint32_t len, uint8_t *reply, uint32_t *rlen)
{
    struct rpc_chan c;
    if (!rpc_open(&c))
        return false;
    opens++;
    opens_nocookie += !c.cookie;
    bool ok = rpci_exchange(&c, req, len, reply, rlen);
    bool closed = rpc_close(&c);
    return ok && closed;
}

/* ---- checks */

/* Printable copy of n bytes: NUL as \0, other control bytes as \xNN. */
static const char *esc(char *out, size_t size, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        if (s[i] == '\0') {
            out[o++] = '\\';
            out[o++] = '0';
        } else if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\') {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", s[i]);
        } else {
            out[o++] = (char)s[i];
        }
    }
    out[o] = '\0';
    return out;
}

enum match { EXACT, PREFIX };

static bool reply_matches(const uint8_t *reply, uint32_t n, const char *want, enum match m)
{
    uint32_t wl = (uint32_t)strlen(want);
    return m == EXACT ? n == wl && memcmp(reply, want, wl) == 0
                      : n >= wl && memcmp(reply, want, wl) == 0;
}

/* One request through rpci_call, its reply checked. with_nul: the length
 * counts the terminating NUL (RpcChannel_Send), otherwise it does not
 * (RpcOut_sendOne). */
static void check(const char *row, const char *req, bool with_nul, const char *want,
                  enum match m)
{
    uint8_t reply[REPLY_MAX + 1];
    uint32_t n = 0;
    uint32_t len = (uint32_t)strlen(req) + (with_nul ? 1 : 0);
    char rq[128], got[REPLY_MAX * 4 + 8];

    rpc_err_reset();
    bool ok = rpci_call(req, len, reply, &n);
    report(ok && reply_matches(reply, n, want, m), "%s at %s: \"%s\" (%u bytes) -> %s\"%s\": %s%s%s",
           row, pass, esc(rq, sizeof rq, req, len), len, m == EXACT ? "" : "starts ", want,
           ok ? "\"" : "", ok ? esc(got, sizeof got, reply, n) : rpc_err, ok ? "\"" : "");
}

/* Two channels at once: every call alternates between them, sending and
 * then receiving, so each has a message half sent (or half received) while
 * the other moves. */
static void interleave(struct rpc_chan *c[2], const char *const req[2], const char *const want[2],
                       const char *what)
{
    uint8_t reply[2][REPLY_MAX + 1];
    struct xfer x[2];
    int s[2] = { 0, 0 };
    char got[2][REPLY_MAX * 4 + 8];

    rpc_err_reset();
    bool ok = send_begin(&x[0], c[0], req[0], (uint32_t)strlen(req[0])) &&
              send_begin(&x[1], c[1], req[1], (uint32_t)strlen(req[1]));
    while (ok && (s[0] == 0 || s[1] == 0)) {
        for (int i = 0; i < 2 && ok; i++)
            if (s[i] == 0)
                ok = (s[i] = send_step(&x[i])) >= 0;
    }
    ok = ok && recv_begin(&x[1], c[1], reply[1], REPLY_MAX) &&
         recv_begin(&x[0], c[0], reply[0], REPLY_MAX);
    s[0] = s[1] = 0;
    while (ok && (s[0] == 0 || s[1] == 0)) {
        for (int i = 1; i >= 0 && ok; i--)
            if (s[i] == 0)
                ok = (s[i] = recv_step(&x[i])) >= 0;
    }
    for (int i = 0; i < 2; i++) {
        bool good = ok && rpci_reply_ok(reply[i], x[i].len) &&
                    reply_matches(reply[i], x[i].len, want[i], EXACT);
        report(good, "two channels at %s, %s: channel %u \"%s\" -> \"%s\": %s%s%s", pass,
               what, c[i]->id, req[i], want[i], ok ? "\"" : "",
               ok ? esc(got[i], sizeof got[i], reply[i], x[i].len) : rpc_err, ok ? "\"" : "");
    }
}

static void two_channels(void)
{
    struct rpc_chan a, b;
    struct rpc_chan *both[2] = { &a, &b };
    char key[32], set[64], get[64], want_get[32];

    snprintf(key, sizeof key, "guestinfo.two%d%s", bd_cpl, bd_hb ? "-hb" : "");
    snprintf(set, sizeof set, "info-set %s value-set-on-channel-b", key);
    snprintf(get, sizeof get, "info-get %s", key);
    snprintf(want_get, sizeof want_get, "1 value-set-on-channel-b");

    rpc_err_reset();
    bool ok = rpc_open(&a) && rpc_open(&b);
    report(ok && a.id != b.id, "two channels open at once at %s: ids %u and %u%s%s", pass,
           a.id, b.id, ok ? "" : ": ", rpc_err);
    if (!ok)
        return;

    const char *const round1[2] = { "info-get guestinfo.preset", set };
    const char *const want1[2] = { "1 fromhost", "1 " };
    interleave(both, round1, want1, "round 1");
    const char *const round2[2] = { "svmsim.no-such-verb a b c", get };
    const char *const want2[2] = { "0 Unknown command", want_get };
    interleave(both, round2, want2, "round 2");

    /* A closed channel is gone; the other one goes on. */
    rpc_err_reset();
    ok = rpc_close(&a);
    struct bd_regs r = msg_regs(&a, MSG_SENDSIZE, 4);
    int st = ok ? msg_call(&r, MSG_SENDSIZE) : -1;
    report(ok && st >= 0 && !(st & ST_SUCCESS),
           "%s: after CLOSE of channel %u, SENDSIZE on it has no SUCCESS (status %#x%s)%s%s",
           pass, a.id, st, st >= 0 && (st & ST_CLOSED) ? ": CLOSED" : "", ok ? "" : ": ",
           rpc_err);

    uint8_t reply[REPLY_MAX + 1];
    uint32_t n = 0;
    char got[REPLY_MAX * 4 + 8];
    rpc_err_reset();
    static const char req[] = "log the other channel is still open";
    ok = rpci_exchange(&b, req, sizeof req - 1, reply, &n);
    report(ok && reply_matches(reply, n, "1 ", PREFIX),
           "%s: channel %u still answers after channel %u closed: \"%s\" -> starts \"1 \": %s%s%s",
           pass, b.id, a.id, req, ok ? "\"" : "", ok ? esc(got, sizeof got, reply, n) : rpc_err,
           ok ? "\"" : "");
    rpc_err_reset();
    ok = rpc_close(&b);
    report(ok, "%s: CLOSE of channel %u%s%s", pass, b.id, ok ? "" : ": ", rpc_err);
}

/* Over HB, a REP OUTSB with a cookie other than the channel's is refused
 * (no SUCCESS in EBX[31:16]) and changes nothing: the same message then goes
 * through with the right one. */
static void hb_wrong_cookie(void)
{
    static const char req[] = "log sent again with the right cookie";
    uint8_t reply[REPLY_MAX + 1];
    struct rpc_chan c;
    struct xfer x;
    char got[REPLY_MAX * 4 + 8];

    rpc_err_reset();
    bool ok = rpc_open(&c) && send_begin(&x, &c, req, sizeof req - 1);
    int st = -1;
    if (ok && !c.cookie)
        ok = fail("channel %u opened without cookies", c.id);
    if (ok) {
        struct bd_regs r = hb_regs(&c, BD_HB_OUT, req, sizeof req - 1);
        r.rdi ^= 1; /* cookieLow */
        st = hb_call(&r, BD_HB_OUT);
        ok = st >= 0;
    }
    report(ok && !(st & ST_SUCCESS),
           "%s: REP OUTSB with a wrong cookie has no SUCCESS (status %#x)%s%s", pass, st,
           ok ? "" : ": ", rpc_err);

    rpc_err_reset();
    ok = ok && run_steps(&x, send_step) && recv_begin(&x, &c, reply, REPLY_MAX) &&
         run_steps(&x, recv_step) && rpci_reply_ok(reply, x.len);
    bool closed = rpc_close(&c);
    report(ok && closed && reply_matches(reply, x.len, "1 ", EXACT),
           "%s: then the right cookie: \"%s\" -> \"1 \": %s%s%s", pass, req, ok ? "\"" : "",
           ok ? esc(got, sizeof got, reply, x.len) : rpc_err, ok ? "\"" : "");
}

/* The OVT rows, then the preset and two channels, at the given CPL, over LB
 * only or over HB. Each pass has its own keys, so that OVT-01's key is
 * still missing. */
static void run_set(int cpl, bool hb)
{
    char key[32], req[96];

    bd_cpl = cpl;
    bd_hb = hb;
    snprintf(pass, sizeof pass, "CPL%d%s", cpl, hb ? " over HB" : "");
    bd_calls = bd_faults = hb_outs = hb_ins = 0;
    opens = opens_nocookie = 0;
    if (cpl || hb)
        snprintf(key, sizeof key, "guestinfo.foo%d%s", cpl, hb ? "-hb" : "");
    else
        snprintf(key, sizeof key, "guestinfo.foo");

    snprintf(req, sizeof req, "info-get %s", key);
    check("OVT-01 info-get of a missing key", req, false, "0 ", PREFIX);
    snprintf(req, sizeof req, "info-set %s bar", key);
    check("OVT-02 info-set", req, false, "1 ", EXACT);
    snprintf(req, sizeof req, "info-get %s", key);
    check("OVT-03 info-get", req, false, "1 bar", EXACT);
    check("OVT-04 tools.set.versiontype, NUL counted", "tools.set.versiontype 12345 3", true, "1 ",
          PREFIX);
    check("OVT-05 log", "log hello", false, "1 ", PREFIX);
    check("OVT-06 vmx.capability.unified_loop", "vmx.capability.unified_loop toolbox", false, "1 ",
          PREFIX);
    check("OVT-07 tools.capability.features", "tools.capability.features 0=1 2=1 3=0", false,
          "1 ", PREFIX);
    check("OVT-08 unknown verb", "svmsim.no-such-verb", false, "0 Unknown command", EXACT);
    check("preset --guestinfo=preset=fromhost", "info-get guestinfo.preset", false, "1 fromhost",
          EXACT);
    check("preset, NUL counted (RpcChannel_Send)", "info-get guestinfo.preset", true,
          "1 fromhost", EXACT);
    if (cpl || hb)
        check("guestinfo.foo set at CPL0, read", "info-get guestinfo.foo", false, "1 bar", EXACT);

    two_channels();
    if (hb)
        hb_wrong_cookie();

    if (opens_nocookie)
        report_info("%s: %u of %u OPENs had no SUCCESS with the cookie flag: opened without",
                    pass, opens_nocookie, opens);
    else
        report_info("%s: all %u single-request OPENs succeeded with the cookie flag", pass,
                    opens);
    report(bd_calls > 0 && bd_faults == 0,
           "%s: %u backdoor calls (%u REP OUTSB, %u REP INSB), none raised an exception%s", pass,
           bd_calls, hb_outs, hb_ins, bd_faults ? " (some did)" : "");
    if (hb)
        report(hb_outs > 0 && hb_ins > 0, "%s: payloads moved on port %#x both ways", pass,
               BDOOR_PORT_HB);
    else
        report(hb_outs == 0 && hb_ins == 0, "%s: the HB bit ignored, no access to port %#x",
               pass, BDOOR_PORT_HB);
}

static uint64_t user_state(uint64_t arg)
{
    uint64_t rflags;
    uint16_t cs;
    asm volatile("pushfq; popq %0; movw %%cs, %1" : "=r"(rflags), "=r"(cs));
    return (rflags & X86_RFLAGS_IOPL) | (cs & 3);
}

static bool tss_denies(uint16_t port)
{
    const uint8_t *iopb = (const uint8_t *)tss + tss->iopb_offset;
    return iopb[port / 8] & (1u << (port % 8));
}

int main(void)
{
    report_info("GuestRPC over the backdoor: LB port %#x, HB port %#x", BDOOR_PORT,
                BDOOR_PORT_HB);
    run_set(0, false);
    run_set(0, true);

    tss_io_deny_all();
    bool denied = tss_denies(BDOOR_PORT) && tss_denies(BDOOR_PORT_HB);
    uint64_t st = run_in_user(user_state, 0, 0);
    report(denied && st == 3,
           "CPL3 passes set up: CPL %u, IOPL %u, TSS bitmap denies %#x and %#x: %s",
           (unsigned)(st & 3), (unsigned)((st & X86_RFLAGS_IOPL) >> 12), BDOOR_PORT,
           BDOOR_PORT_HB, denied ? "yes" : "no");
    run_set(3, false);
    run_set(3, true);

    return report_summary();
}
