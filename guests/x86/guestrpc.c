/* guestrpc.c — a guest-side GuestRPC client over the VMware backdoor's
 * low-bandwidth port 0x5658, written from the protocol description
 * (ORACLE.md §4.1 the LB call, §4.3 the MESSAGE channel and the RPCI layer),
 * checked against the exchanges of §4.4 (OVT-01..08) and a guestinfo preset
 * given on the command line (--guestinfo=preset=fromhost).
 *
 * The client: OPEN with 'RPCI' | GUESTMSG_FLAG_COOKIE (again without the flag
 * if SUCCESS is missing), SENDSIZE + SENDPAYLOAD in 1-4 byte little-endian
 * chunks, RECVSIZE (DORECV, EDX[31:16] = SENDSIZE) + RECVPAYLOAD (EDX[31:16]
 * = SENDPAYLOAD) + RECVSTATUS, CLOSE; a CPT status restarts the message; the
 * reply must start with "1 " or "0 ". It does not speak HB (port 0x5659).
 *
 * The whole set runs twice: at CPL0 (a plain IN: an IOIO exit) and with every
 * IN at CPL3 (run_in_user, IOPL 0, the TSS denying 0x5658: each IN is a #GP
 * that L0 emulates, so the run needs --enable-vmware-backdoor). Each pass
 * also keeps two channels open at once and interleaves their messages chunk
 * by chunk.
 */
#include "libguest.h"

#define BDOOR_MAGIC 0x564D5868u
#define BDOOR_PORT 0x5658
#define BDOOR_CMD_MESSAGE 30

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
    uint64_t rax, rbx, rcx, rdx, rsi, rdi;
};

/* ---- the transport: one IN EAX,DX at the current pass's CPL */

static int bd_cpl;              /* 0: IN at CPL0; 3: each IN at CPL3 */
static struct bd_regs user_regs;
static unsigned bd_calls, bd_faults;
static int bd_last_vec;

static void bd_in(struct bd_regs *r)
{
    asm volatile(ASM_TRY("inl %%dx, %%eax")
                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx), "+S"(r->rsi),
                   "+D"(r->rdi)
                 : : "memory");
}

static uint64_t user_in(uint64_t arg)
{
    bd_in(&user_regs);
    return 0;
}

/* Returns the status in ECX[31:16], or -1 if the IN raised an exception
 * (then the registers are what the guest loaded, not an answer). */
static int bd_call(struct bd_regs *r)
{
    exc_clear();
    if (bd_cpl == 0) {
        bd_in(r);
    } else {
        user_regs = *r;
        run_in_user(user_in, 0, 0);
        *r = user_regs;
    }
    bd_calls++;
    if (exc_vector() != -1) {
        bd_faults++;
        bd_last_vec = exc_vector();
        return -1;
    }
    return (int)((uint32_t)r->rcx >> 16);
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

static int msg_call(struct bd_regs *r, unsigned type)
{
    int st = bd_call(r);
    if (st < 0)
        fail("%s: IN raised vector %d", msg_name[type], bd_last_vec);
    return st;
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
    unsigned restarts;
};

static bool send_size(struct xfer *x)
{
    struct bd_regs r = msg_regs(x->c, MSG_SENDSIZE, x->len);
    int st = msg_call(&r, MSG_SENDSIZE);
    if (st < 0)
        return false;
    if (!(st & ST_SUCCESS))
        return fail("SENDSIZE %u on channel %u: status %#x, no SUCCESS", x->len, x->c->id, st);
    if (st & ST_HB)
        return fail("SENDSIZE: status %#x asks for the HB port, which this client lacks", st);
    x->pos = 0;
    return true;
}

static bool send_begin(struct xfer *x, struct rpc_chan *c, const void *buf, uint32_t len)
{
    *x = (struct xfer){ .c = c, .buf = buf, .len = len };
    return send_size(x);
}

static int send_step(struct xfer *x)
{
    if (x->pos >= x->len)
        return 1;
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
    if (st & ST_HB)
        return fail("RECVSIZE: status %#x asks for the HB port, which this client lacks", st);
    if (edx_high(&r) != MSG_SENDSIZE)
        return fail("RECVSIZE: EDX[31:16] = %u, not 1 (SENDSIZE)", edx_high(&r));
    x->len = (uint32_t)r.rbx;
    if (x->len > x->cap)
        return fail("RECVSIZE: reply of %u bytes, more than %u", x->len, x->cap);
    x->pos = 0;
    return true;
}

static bool recv_begin(struct xfer *x, struct rpc_chan *c, void *dst, uint32_t cap)
{
    *x = (struct xfer){ .c = c, .dst = dst, .cap = cap };
    return recv_size(x);
}

static int recv_step(struct xfer *x)
{
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
    report(ok && reply_matches(reply, n, want, m), "%s at CPL%d: \"%s\" (%u bytes) -> %s\"%s\": %s%s%s",
           row, bd_cpl, esc(rq, sizeof rq, req, len), len, m == EXACT ? "" : "starts ", want,
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
        report(good, "two channels at CPL%d, %s: channel %u \"%s\" -> \"%s\": %s%s%s", bd_cpl,
               what, c[i]->id, req[i], want[i], ok ? "\"" : "",
               ok ? esc(got[i], sizeof got[i], reply[i], x[i].len) : rpc_err, ok ? "\"" : "");
    }
}

static void two_channels(void)
{
    struct rpc_chan a, b;
    struct rpc_chan *both[2] = { &a, &b };
    char key[32], set[64], get[64], want_get[32];

    snprintf(key, sizeof key, "guestinfo.two%d", bd_cpl);
    snprintf(set, sizeof set, "info-set %s value-set-on-channel-b", key);
    snprintf(get, sizeof get, "info-get %s", key);
    snprintf(want_get, sizeof want_get, "1 value-set-on-channel-b");

    rpc_err_reset();
    bool ok = rpc_open(&a) && rpc_open(&b);
    report(ok && a.id != b.id, "two channels open at once at CPL%d: ids %u and %u%s%s", bd_cpl,
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
           "CPL%d: after CLOSE of channel %u, SENDSIZE on it has no SUCCESS (status %#x%s)%s%s",
           bd_cpl, a.id, st, st >= 0 && (st & ST_CLOSED) ? ": CLOSED" : "", ok ? "" : ": ",
           rpc_err);

    uint8_t reply[REPLY_MAX + 1];
    uint32_t n = 0;
    char got[REPLY_MAX * 4 + 8];
    rpc_err_reset();
    static const char req[] = "log the other channel is still open";
    ok = rpci_exchange(&b, req, sizeof req - 1, reply, &n);
    report(ok && reply_matches(reply, n, "1 ", PREFIX),
           "CPL%d: channel %u still answers after channel %u closed: \"%s\" -> starts \"1 \": %s%s%s",
           bd_cpl, b.id, a.id, req, ok ? "\"" : "", ok ? esc(got, sizeof got, reply, n) : rpc_err,
           ok ? "\"" : "");
    rpc_err_reset();
    ok = rpc_close(&b);
    report(ok, "CPL%d: CLOSE of channel %u%s%s", bd_cpl, b.id, ok ? "" : ": ", rpc_err);
}

/* The OVT rows, then the preset and two channels, at the current CPL. At
 * CPL3 the keys differ from CPL0's so that OVT-01's key is still missing. */
static void run_set(int cpl)
{
    char key[32], req[96];

    bd_cpl = cpl;
    bd_calls = bd_faults = 0;
    opens = opens_nocookie = 0;
    if (cpl)
        snprintf(key, sizeof key, "guestinfo.foo%d", cpl);
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
    if (cpl)
        check("guestinfo.foo set at CPL0, read", "info-get guestinfo.foo", false, "1 bar", EXACT);

    two_channels();

    if (opens_nocookie)
        report_info("CPL%d: %u of %u OPENs had no SUCCESS with the cookie flag: opened without",
                    cpl, opens_nocookie, opens);
    else
        report_info("CPL%d: all %u single-request OPENs succeeded with the cookie flag", cpl,
                    opens);
    report(bd_calls > 0 && bd_faults == 0, "CPL%d: %u backdoor INs, none raised an exception%s",
           cpl, bd_calls, bd_faults ? " (some did)" : "");
}

static uint64_t user_state(uint64_t arg)
{
    uint64_t rflags;
    uint16_t cs;
    asm volatile("pushfq; popq %0; movw %%cs, %1" : "=r"(rflags), "=r"(cs));
    return (rflags & X86_RFLAGS_IOPL) | (cs & 3);
}

int main(void)
{
    report_info("GuestRPC over the LB backdoor, port %#x", BDOOR_PORT);
    run_set(0);

    tss_io_deny_all();
    const uint8_t *iopb = (const uint8_t *)tss + tss->iopb_offset;
    bool denied = iopb[BDOOR_PORT / 8] & (1u << (BDOOR_PORT % 8));
    uint64_t st = run_in_user(user_state, 0, 0);
    report(denied && st == 3,
           "CPL3 pass set up: CPL %u, IOPL %u, TSS bitmap denies %#x: %s", (unsigned)(st & 3),
           (unsigned)((st & X86_RFLAGS_IOPL) >> 12), BDOOR_PORT, denied ? "yes" : "no");
    run_set(3);

    return report_summary();
}
