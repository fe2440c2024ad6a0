/* trace.c — formatters over trace records (svmsim_trace_format_json/_text,
 * declared in include/svmsim/svmsim.h; DESIGN.md "Trace").
 *
 * Owns: turning one struct svmsim_trace_record into one line of JSON (for
 * --trace, JSON Lines) or of readable text (for --explain).
 * Must not: decide anything or produce records (L0 does), write files, or
 * hold state: a formatter is a pure function of the record.
 *
 * JSON keys, in this order:
 *   seq, insns, level        numbers
 *   vcpu                     number, after seq, only when the machine has
 *                            several vCPUs
 *   exit_code                number; APM's negative codes (VMEXIT_INVALID
 *                            = -1, ...) as negative numbers
 *   exit_name                string
 *   exit_info_1, exit_info_2, rip   "0x..." hex strings (64-bit values do
 *                            not survive JSON's doubles)
 *   insn_bytes, insn         hex string and text; "" when not decoded
 *   decision                 "handled" | "emulated" | "reflected" | "inject_gp"
 *                            | "inject_ud" | "inject" | "device" | "end"
 *                            | "vmrun" | "vmrun_failed"
 *   reflected_code           number, only for "reflected"; then also
 *   reflected_info_1, reflected_info_2, reflected_int_info   hex strings
 *   vmcb12_gpa               hex string, for "reflected", "vmrun", "vmrun_failed"
 *   asid, intercepts         number and six hex words, only for "vmrun"
 *   check                    string, only for "vmrun_failed"
 *   gp_step, semantics       strings, only for a #GP exit L0 decided
 *   vmcb_dump                string (lines), only for an unexpected exit
 *   inject_vector            number, only for inject_*
 *   inject_error             number, only when the injected vector pushes
 *                            an error code (#DF #TS #NP #SS #GP #PF #AC #CP
 *                            #VC #SX)
 *   detail                   string
 *   rpc_channel, rpc_request, rpc_reply, rpc_request_len, rpc_reply_len
 *                            number, strings, numbers; only when the
 *                            VMware backdoor answered a GuestRPC request
 */
#include <svmsim/svmsim.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* An append-only writer over the caller's buffer; `over` once it did not fit. */
struct out {
    char *buf;
    size_t len, pos;
    bool over;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
    if (o->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->len - o->pos) {
        o->over = true;
        return;
    }
    o->pos += (size_t)n;
}

static void putc_out(struct out *o, char c)
{
    if (o->over)
        return;
    if (o->len - o->pos < 2) {
        o->over = true;
        return;
    }
    o->buf[o->pos++] = c;
    o->buf[o->pos] = '\0';
}

static int finish(struct out *o)
{
    if (o->over)
        return -1;
    return (int)o->pos;
}

/* Length of a well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, past U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp > 0x10ffff)
        return 0;
    return len;
}

/* A JSON string (RFC 8259 §7) from at most max bytes of s; bytes that are
 * not well-formed UTF-8 become U+FFFD. */
static void put_json_str(struct out *o, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = s ? strnlen(s, max) : 0;

    putc_out(o, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            putc_out(o, '\\');
            putc_out(o, (char)c);
        } else if (c == '\n') {
            put(o, "\\n");
        } else if (c == '\t') {
            put(o, "\\t");
        } else if (c == '\r') {
            put(o, "\\r");
        } else if (c < 0x20) {
            put(o, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                put(o, "\\ufffd");
                i++;
                continue;
            }
            for (size_t k = 0; k < l; k++)
                putc_out(o, (char)p[i + k]);
            i += l;
            continue;
        } else {
            putc_out(o, (char)c);
        }
        i++;
    }
    putc_out(o, '"');
}

static const char *decision_key(enum svmsim_decision d)
{
    switch (d) {
    case SVMSIM_DECISION_HANDLED:     return "handled";
    case SVMSIM_DECISION_EMULATED:    return "emulated";
    case SVMSIM_DECISION_REFLECTED:   return "reflected";
    case SVMSIM_DECISION_INJECTED_GP: return "inject_gp";
    case SVMSIM_DECISION_INJECTED_UD: return "inject_ud";
    case SVMSIM_DECISION_INJECTED:    return "inject";
    case SVMSIM_DECISION_DEVICE:      return "device";
    case SVMSIM_DECISION_END:         return "end";
    case SVMSIM_DECISION_NESTED_VMRUN: return "vmrun";
    case SVMSIM_DECISION_VMRUN_FAILED: return "vmrun_failed";
    }
    return "unknown";
}

static bool is_inject(enum svmsim_decision d)
{
    return d == SVMSIM_DECISION_INJECTED_GP || d == SVMSIM_DECISION_INJECTED_UD ||
           d == SVMSIM_DECISION_INJECTED;
}

/* Exceptions that push an error code (APM vol. 2 §8.2, table 8-1). */
static bool vector_has_error_code(uint8_t v)
{
    switch (v) {
    case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30:
        return true;
    default:
        return false;
    }
}

static const char *vector_name(uint8_t v)
{
    static const char *const names[32] = {
        [0] = "#DE", [1] = "#DB", [2] = "NMI", [3] = "#BP", [4] = "#OF", [5] = "#BR",
        [6] = "#UD", [7] = "#NM", [8] = "#DF", [10] = "#TS", [11] = "#NP", [12] = "#SS",
        [13] = "#GP", [14] = "#PF", [16] = "#MF", [17] = "#AC", [18] = "#MC", [19] = "#XM",
        [20] = "#VE", [21] = "#CP", [28] = "#HV", [29] = "#VC", [30] = "#SX",
    };
    return v < 32 ? names[v] : NULL;
}

/* Exit codes are 64-bit; the APM's special ones are small negatives. */
static void put_exit_code_num(struct out *o, uint64_t code)
{
    put(o, "%" PRId64, (int64_t)code);
}

int svmsim_trace_format_json(const struct svmsim_trace_record *rec, char *buf, size_t len)
{
    if (!rec || !buf || len == 0)
        return -1;
    struct out o = { .buf = buf, .len = len };
    buf[0] = '\0';

    put(&o, "{\"seq\":%" PRIu64, rec->seq);
    if (rec->vcpus > 1)
        put(&o, ",\"vcpu\":%u", (unsigned)rec->vcpu);
    put(&o, ",\"insns\":%" PRIu64 ",\"level\":%d,\"exit_code\":", rec->insns, rec->level);
    put_exit_code_num(&o, rec->exit_code);
    put(&o, ",\"exit_name\":");
    put_json_str(&o, rec->exit_name, 64);
    put(&o, ",\"exit_info_1\":\"0x%" PRIx64 "\",\"exit_info_2\":\"0x%" PRIx64 "\",\"rip\":\"0x%" PRIx64
        "\",\"insn_bytes\":\"", rec->exit_info_1, rec->exit_info_2, rec->rip);
    unsigned n = rec->insn_len <= sizeof rec->insn_bytes ? rec->insn_len : sizeof rec->insn_bytes;
    for (unsigned i = 0; i < n; i++)
        put(&o, "%02x", rec->insn_bytes[i]);
    put(&o, "\",\"insn\":");
    put_json_str(&o, rec->insn_text, sizeof rec->insn_text);
    put(&o, ",\"decision\":\"%s\"", decision_key(rec->decision));
    if (rec->decision == SVMSIM_DECISION_REFLECTED) {
        put(&o, ",\"reflected_code\":");
        put_exit_code_num(&o, rec->reflected_code);
        put(&o, ",\"reflected_info_1\":\"0x%" PRIx64 "\",\"reflected_info_2\":\"0x%" PRIx64
            "\",\"reflected_int_info\":\"0x%" PRIx32 "\"", rec->reflected_info_1,
            rec->reflected_info_2, rec->reflected_int_info);
    }
    if (rec->decision == SVMSIM_DECISION_REFLECTED ||
        rec->decision == SVMSIM_DECISION_NESTED_VMRUN ||
        rec->decision == SVMSIM_DECISION_VMRUN_FAILED)
        put(&o, ",\"vmcb12_gpa\":\"0x%" PRIx64 "\"", rec->vmcb12_gpa);
    if (rec->decision == SVMSIM_DECISION_NESTED_VMRUN) {
        put(&o, ",\"asid\":%" PRIu32 ",\"intercepts\":[", rec->asid);
        for (unsigned i = 0; i < 6; i++)
            put(&o, "%s\"0x%08" PRIx32 "\"", i ? "," : "", rec->intercepts[i]);
        putc_out(&o, ']');
    }
    if (rec->decision == SVMSIM_DECISION_VMRUN_FAILED) {
        put(&o, ",\"check\":");
        put_json_str(&o, rec->check, sizeof rec->check);
    }
    if (is_inject(rec->decision)) {
        put(&o, ",\"inject_vector\":%u", rec->inject_vector);
        if (vector_has_error_code(rec->inject_vector))
            put(&o, ",\"inject_error\":%" PRIu32, rec->inject_error);
    }
    if (rec->gp_step[0]) {
        put(&o, ",\"gp_step\":");
        put_json_str(&o, rec->gp_step, sizeof rec->gp_step);
        put(&o, ",\"semantics\":");
        put_json_str(&o, rec->semantics, 32);
    }
    put(&o, ",\"detail\":");
    put_json_str(&o, rec->detail, sizeof rec->detail);
    if (rec->rpc) {
        put(&o, ",\"rpc_channel\":%" PRIu32 ",\"rpc_request\":", rec->rpc_channel);
        put_json_str(&o, rec->rpc_request, sizeof rec->rpc_request);
        put(&o, ",\"rpc_reply\":");
        put_json_str(&o, rec->rpc_reply, sizeof rec->rpc_reply);
        put(&o, ",\"rpc_request_len\":%" PRIu32 ",\"rpc_reply_len\":%" PRIu32,
            rec->rpc_request_len, rec->rpc_reply_len);
    }
    if (rec->vmcb_dump) {
        put(&o, ",\"vmcb_dump\":");
        put_json_str(&o, rec->vmcb_dump, 8192);
    }
    putc_out(&o, '}');
    return finish(&o);
}

/* Text of at most max bytes with control characters shown as '?'. */
static void put_text(struct out *o, const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        putc_out(o, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
}

/* The decision in words when the record's detail is empty. */
static void put_decision_words(struct out *o, const struct svmsim_trace_record *rec)
{
    const char *vn = vector_name(rec->inject_vector);

    switch (rec->decision) {
    case SVMSIM_DECISION_HANDLED:  put(o, "handled by L0"); return;
    case SVMSIM_DECISION_EMULATED: put(o, "emulated by L0"); return;
    case SVMSIM_DECISION_REFLECTED:
        if ((int64_t)rec->reflected_code < 0)
            put(o, "reflected to L1 as #VMEXIT(%" PRId64 ")", (int64_t)rec->reflected_code);
        else
            put(o, "reflected to L1 as #VMEXIT(0x%" PRIx64 ")", rec->reflected_code);
        return;
    case SVMSIM_DECISION_INJECTED_GP:
    case SVMSIM_DECISION_INJECTED_UD:
    case SVMSIM_DECISION_INJECTED:
        if (vn)
            put(o, "%s", vn);
        else
            put(o, "vector %u", rec->inject_vector);
        if (vector_has_error_code(rec->inject_vector))
            put(o, "(0x%" PRIx32 ")", rec->inject_error);
        put(o, " injected");
        return;
    case SVMSIM_DECISION_DEVICE:   put(o, "passed to device"); return;
    case SVMSIM_DECISION_END:      put(o, "run ends"); return;
    case SVMSIM_DECISION_NESTED_VMRUN: put(o, "L2 entered"); return;
    case SVMSIM_DECISION_VMRUN_FAILED: put(o, "VMRUN failed: SVM_EXIT_ERR"); return;
    }
    put(o, "decision %d", (int)rec->decision);
}

/* #12 L1 rip=0x100234 IOIO(0x7b) info1=0x3f80010 info2=0x100236 "out dx, al" -> passed to device: COM1
 *
 * After "->" comes the record's detail (L0's words for its decision), or,
 * when that is empty, words made from the decision's fields. With several
 * vCPUs the number is followed by the vCPU's ("#12 vCPU1 L1 ..."). */
int svmsim_trace_format_text(const struct svmsim_trace_record *rec, char *buf, size_t len)
{
    if (!rec || !buf || len == 0)
        return -1;
    struct out o = { .buf = buf, .len = len };
    buf[0] = '\0';

    put(&o, "#%" PRIu64 " ", rec->seq);
    if (rec->vcpus > 1)
        put(&o, "vCPU%u ", (unsigned)rec->vcpu);
    put(&o, "L%d rip=0x%" PRIx64 " ", rec->level, rec->rip);
    if (rec->exit_name && rec->exit_name[0])
        put_text(&o, rec->exit_name, 64);
    else
        put(&o, "exit");
    if ((int64_t)rec->exit_code < 0)
        put(&o, "(%" PRId64 ")", (int64_t)rec->exit_code);
    else
        put(&o, "(0x%" PRIx64 ")", rec->exit_code);
    put(&o, " info1=0x%" PRIx64 " info2=0x%" PRIx64, rec->exit_info_1, rec->exit_info_2);
    if (rec->insn_text[0]) {
        put(&o, " \"");
        put_text(&o, rec->insn_text, sizeof rec->insn_text);
        putc_out(&o, '"');
    }
    put(&o, " -> ");
    if (rec->detail[0])
        put_text(&o, rec->detail, sizeof rec->detail);
    else
        put_decision_words(&o, rec);
    if (rec->gp_step[0]) {
        put(&o, " [SPEC-GP ");
        put_text(&o, rec->gp_step, sizeof rec->gp_step);
        put(&o, ", ");
        put_text(&o, rec->semantics, 32);
        putc_out(&o, ']');
    }
    if (rec->rpc) {
        put(&o, "; GuestRPC channel %" PRIu32 ": \"", rec->rpc_channel);
        put_text(&o, rec->rpc_request, sizeof rec->rpc_request);
        put(&o, "\"%s -> \"", rec->rpc_request_len >= sizeof rec->rpc_request ? "..." : "");
        put_text(&o, rec->rpc_reply, sizeof rec->rpc_reply);
        put(&o, "\"%s", rec->rpc_reply_len >= sizeof rec->rpc_reply ? "..." : "");
    }
    if (rec->vmcb_dump) {
        /* The dump's own lines follow, each indented. */
        const char *p = rec->vmcb_dump;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            put(&o, "\n    ");
            put_text(&o, p, n);
            p += n + (nl ? 1 : 0);
        }
    }
    return finish(&o);
}
