/* test_trace_format.c — svmsim_trace_format_json/_text (src/vmm/trace.c).
 *
 * Owns: trace records written by hand and the exact lines they format to.
 * Must not: run a machine: the formatters are pure functions of a record.
 */
#include <svmsim/svmsim.h>

#include <criterion/criterion.h>

#include "svm/svm.h"
#include <stdio.h>
#include <string.h>

/* The COM1 OUT of DESIGN.md's example. */
static struct svmsim_trace_record out_to_com1(void)
{
    struct svmsim_trace_record r = {
        .seq = 12, .insns = 345, .level = 1,
        .exit_code = 0x7b, .exit_name = "IOIO",
        .exit_info_1 = 0x3f80010, .exit_info_2 = 0x100236,
        .rip = 0x100234,
        .insn_len = 1, .insn_bytes = { 0xee },
        .insn_text = "out dx, al",
        .decision = SVMSIM_DECISION_DEVICE,
        .detail = "passed to device: COM1",
    };
    return r;
}

static const char *json(const struct svmsim_trace_record *r)
{
    static char buf[4096];
    int n = svmsim_trace_format_json(r, buf, sizeof buf);
    cr_assert_geq(n, 0);
    cr_assert_eq((size_t)n, strlen(buf));
    return buf;
}

static const char *text(const struct svmsim_trace_record *r)
{
    static char buf[4096];
    int n = svmsim_trace_format_text(r, buf, sizeof buf);
    cr_assert_geq(n, 0);
    cr_assert_eq((size_t)n, strlen(buf));
    return buf;
}

Test(trace_json, formats_a_device_exit_as_one_object)
{
    struct svmsim_trace_record r = out_to_com1();
    cr_expect_str_eq(json(&r),
                     "{\"seq\":12,\"insns\":345,\"level\":1,\"exit_code\":123,\"exit_name\":\"IOIO\","
                     "\"exit_info_1\":\"0x3f80010\",\"exit_info_2\":\"0x100236\",\"rip\":\"0x100234\","
                     "\"insn_bytes\":\"ee\",\"insn\":\"out dx, al\",\"decision\":\"device\","
                     "\"detail\":\"passed to device: COM1\"}");
}

Test(trace_json, adds_the_reflected_code_to_a_reflected_exit)
{
    struct svmsim_trace_record r = {
        .seq = 3, .insns = 10, .level = 2, .exit_code = 0x72, .exit_name = "CPUID",
        .rip = 0x200000, .insn_len = 2, .insn_bytes = { 0x0f, 0xa2 }, .insn_text = "cpuid",
        .decision = SVMSIM_DECISION_REFLECTED, .reflected_code = 0x72,
        .detail = "reflected to L1 as #VMEXIT(CPUID)",
    };
    cr_expect_str_eq(json(&r),
                     "{\"seq\":3,\"insns\":10,\"level\":2,\"exit_code\":114,\"exit_name\":\"CPUID\","
                     "\"exit_info_1\":\"0x0\",\"exit_info_2\":\"0x0\",\"rip\":\"0x200000\","
                     "\"insn_bytes\":\"0fa2\",\"insn\":\"cpuid\",\"decision\":\"reflected\","
                     "\"reflected_code\":114,\"reflected_info_1\":\"0x0\",\"reflected_info_2\":\"0x0\","
                     "\"reflected_int_info\":\"0x0\",\"vmcb12_gpa\":\"0x0\","
                     "\"detail\":\"reflected to L1 as #VMEXIT(CPUID)\"}");
}

Test(trace_json, adds_vmcb12_asid_and_merged_intercepts_to_a_nested_vmrun)
{
    struct svmsim_trace_record r = {
        .seq = 1, .insns = 7, .level = 1, .exit_code = 0x80, .exit_name = "VMRUN",
        .rip = 0x100010, .decision = SVMSIM_DECISION_NESTED_VMRUN, .vmcb12_gpa = 0x201000,
        .asid = 1, .intercepts = { 0, 0, 0x2000, 0x8000000f, 0xf, 0 }, .detail = "entered",
    };
    cr_expect_str_eq(json(&r),
                     "{\"seq\":1,\"insns\":7,\"level\":1,\"exit_code\":128,\"exit_name\":\"VMRUN\","
                     "\"exit_info_1\":\"0x0\",\"exit_info_2\":\"0x0\",\"rip\":\"0x100010\","
                     "\"insn_bytes\":\"\",\"insn\":\"\",\"decision\":\"vmrun\","
                     "\"vmcb12_gpa\":\"0x201000\",\"asid\":1,\"intercepts\":[\"0x00000000\","
                     "\"0x00000000\",\"0x00002000\",\"0x8000000f\",\"0x0000000f\",\"0x00000000\"],"
                     "\"detail\":\"entered\"}");
}

Test(trace_json, names_the_failed_check_of_a_failed_vmrun)
{
    struct svmsim_trace_record r = {
        .seq = 1, .level = 1, .exit_code = 0x80, .exit_name = "VMRUN", .rip = 0x10,
        .decision = SVMSIM_DECISION_VMRUN_FAILED, .vmcb12_gpa = 0x3000, .check = "ASID 0",
    };
    cr_expect_str_eq(json(&r),
                     "{\"seq\":1,\"insns\":0,\"level\":1,\"exit_code\":128,\"exit_name\":\"VMRUN\","
                     "\"exit_info_1\":\"0x0\",\"exit_info_2\":\"0x0\",\"rip\":\"0x10\","
                     "\"insn_bytes\":\"\",\"insn\":\"\",\"decision\":\"vmrun_failed\","
                     "\"vmcb12_gpa\":\"0x3000\",\"check\":\"ASID 0\",\"detail\":\"\"}");
}

Test(trace_json, adds_vector_and_error_code_to_an_injected_gp)
{
    struct svmsim_trace_record r = {
        .exit_code = 0x4d, .exit_name = "EXCP_GP", .level = 1, .rip = 0x100000,
        .decision = SVMSIM_DECISION_INJECTED_GP, .inject_vector = 13, .inject_error = 0,
    };
    cr_expect_str_eq(json(&r),
                     "{\"seq\":0,\"insns\":0,\"level\":1,\"exit_code\":77,\"exit_name\":\"EXCP_GP\","
                     "\"exit_info_1\":\"0x0\",\"exit_info_2\":\"0x0\",\"rip\":\"0x100000\","
                     "\"insn_bytes\":\"\",\"insn\":\"\",\"decision\":\"inject_gp\","
                     "\"inject_vector\":13,\"inject_error\":0,\"detail\":\"\"}");
}

Test(trace_json, gives_an_injected_ud_no_error_code)
{
    struct svmsim_trace_record r = {
        .exit_code = 0x4d, .exit_name = "EXCP_GP", .level = 1,
        .decision = SVMSIM_DECISION_INJECTED_UD, .inject_vector = 6, .inject_error = 99,
    };
    const char *s = json(&r);
    cr_expect(strstr(s, ",\"decision\":\"inject_ud\",\"inject_vector\":6,\"detail\":\"\"}"), "%s", s);
    cr_expect_null(strstr(s, "inject_error"));
}

Test(trace_json, names_every_decision)
{
    static const char *const names[] = {
        [SVMSIM_DECISION_HANDLED] = "handled",     [SVMSIM_DECISION_EMULATED] = "emulated",
        [SVMSIM_DECISION_REFLECTED] = "reflected", [SVMSIM_DECISION_INJECTED_GP] = "inject_gp",
        [SVMSIM_DECISION_INJECTED_UD] = "inject_ud", [SVMSIM_DECISION_INJECTED] = "inject",
        [SVMSIM_DECISION_DEVICE] = "device",       [SVMSIM_DECISION_END] = "end",
    };
    for (int d = 0; d <= SVMSIM_DECISION_END; d++) {
        struct svmsim_trace_record r = { .exit_name = "X", .decision = (enum svmsim_decision)d };
        char want[64];
        snprintf(want, sizeof want, "\"decision\":\"%s\"", names[d]);
        cr_expect(strstr(json(&r), want), "decision %d", d);
    }
}

Test(trace_json, writes_negative_exit_codes_as_negative_numbers)
{
    struct svmsim_trace_record r = {
        .exit_code = ~0ull, .exit_name = "ERR", .decision = SVMSIM_DECISION_REFLECTED,
        .reflected_code = ~0ull,
    };
    const char *s = json(&r);
    cr_expect(strstr(s, "\"exit_code\":-1,"), "%s", s);
    cr_expect(strstr(s, "\"reflected_code\":-1,"), "%s", s);
}

Test(trace_json, writes_64_bit_values_as_full_hex_strings)
{
    struct svmsim_trace_record r = {
        .exit_name = "NPF", .exit_info_1 = 0xffffffffffffffffull, .exit_info_2 = 0x8000000000000000ull,
        .rip = 0xffffffff80001000ull,
    };
    const char *s = json(&r);
    cr_expect(strstr(s, "\"exit_info_1\":\"0xffffffffffffffff\",\"exit_info_2\":\"0x8000000000000000\","
                        "\"rip\":\"0xffffffff80001000\""), "%s", s);
}

Test(trace_json, escapes_quotes_backslashes_and_control_characters)
{
    struct svmsim_trace_record r = { .exit_name = "a\"b" };
    strcpy(r.detail, "say \"hi\" \\ new\nline\ttab\r\x01\x1f end");
    const char *s = json(&r);
    cr_expect(strstr(s, "\"exit_name\":\"a\\\"b\""), "%s", s);
    cr_expect(strstr(s, "\"detail\":\"say \\\"hi\\\" \\\\ new\\nline\\ttab\\r\\u0001\\u001f end\"}"), "%s", s);
}

Test(trace_json, keeps_utf8_and_replaces_malformed_bytes)
{
    struct svmsim_trace_record r = { .exit_name = "X" };
    strcpy(r.detail, "caf\xc3\xa9 \xff \xc3 \xed\xa0\x80!");
    const char *s = json(&r);
    cr_expect(strstr(s, "\"detail\":\"caf\xc3\xa9 \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd!\"}"), "%s", s);
}

Test(trace_json, reads_no_further_than_the_detail_array)
{
    struct svmsim_trace_record r = { .exit_name = "X" };
    memset(r.detail, 'x', sizeof r.detail); /* no terminator */
    char want[sizeof r.detail + 16];
    snprintf(want, sizeof want, "\"detail\":\"%.*s\"}", (int)sizeof r.detail, r.detail);
    cr_expect(strstr(json(&r), want));
}

Test(trace_json, writes_a_null_exit_name_as_an_empty_string)
{
    struct svmsim_trace_record r = { .exit_name = NULL };
    cr_expect(strstr(json(&r), "\"exit_name\":\"\","));
}

Test(trace_json, fails_when_the_buffer_is_too_small)
{
    struct svmsim_trace_record r = out_to_com1();
    char buf[512];
    int n = svmsim_trace_format_json(&r, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_expect_eq(svmsim_trace_format_json(&r, buf, (size_t)n + 1), n, "exactly enough");
    cr_expect_eq(svmsim_trace_format_json(&r, buf, (size_t)n), -1, "no room for the terminator");
    cr_expect_eq(svmsim_trace_format_json(&r, buf, 10), -1);
    cr_expect_eq(svmsim_trace_format_json(&r, buf, 0), -1);
}

/* ---- text */

Test(trace_text, formats_the_example_line)
{
    struct svmsim_trace_record r = out_to_com1();
    cr_expect_str_eq(text(&r),
                     "#12 L1 rip=0x100234 IOIO(0x7b) info1=0x3f80010 info2=0x100236 \"out dx, al\" "
                     "-> passed to device: COM1");
}

Test(trace_text, puts_the_decision_in_words_when_detail_is_empty)
{
    struct svmsim_trace_record r = {
        .seq = 1, .level = 2, .exit_code = 0x4d, .exit_name = "EXCP_GP", .rip = 0x5000,
        .decision = SVMSIM_DECISION_INJECTED_GP, .inject_vector = 13, .inject_error = 0x10,
    };
    cr_expect_str_eq(text(&r), "#1 L2 rip=0x5000 EXCP_GP(0x4d) info1=0x0 info2=0x0 -> #GP(0x10) injected");
    r.decision = SVMSIM_DECISION_INJECTED_UD;
    r.inject_vector = 6;
    cr_expect_str_eq(text(&r), "#1 L2 rip=0x5000 EXCP_GP(0x4d) info1=0x0 info2=0x0 -> #UD injected");
    r.decision = SVMSIM_DECISION_REFLECTED;
    r.reflected_code = 0x80;
    cr_expect_str_eq(text(&r),
                     "#1 L2 rip=0x5000 EXCP_GP(0x4d) info1=0x0 info2=0x0 -> reflected to L1 as #VMEXIT(0x80)");
    r.decision = SVMSIM_DECISION_HANDLED;
    cr_expect_str_eq(text(&r), "#1 L2 rip=0x5000 EXCP_GP(0x4d) info1=0x0 info2=0x0 -> handled by L0");
}

Test(trace_text, shows_negative_exit_codes_in_decimal)
{
    struct svmsim_trace_record r = { .level = 2, .exit_code = ~0ull, .exit_name = "ERR",
                                     .decision = SVMSIM_DECISION_END };
    cr_expect_str_eq(text(&r), "#0 L2 rip=0x0 ERR(-1) info1=0x0 info2=0x0 -> run ends");
}

Test(trace_text, stays_on_one_line)
{
    struct svmsim_trace_record r = out_to_com1();
    strcpy(r.detail, "two\nlines");
    cr_expect_null(strchr(text(&r), '\n'));
}

Test(trace_text, fails_when_the_buffer_is_too_small)
{
    struct svmsim_trace_record r = out_to_com1();
    char buf[16];
    cr_expect_eq(svmsim_trace_format_text(&r, buf, sizeof buf), -1);
}

Test(trace_json, carries_the_vmcb_dump_of_an_unexpected_exit_as_one_string)
{
    struct svmsim_trace_record r = {
        .seq = 1, .level = 1, .exit_code = 0x8d, .exit_name = "XSETBV", .rip = 0x10,
        .decision = SVMSIM_DECISION_END, .vmcb_dump = "a 1\nb 2\n",
    };
    cr_expect_str_eq(json(&r),
                     "{\"seq\":1,\"insns\":0,\"level\":1,\"exit_code\":141,\"exit_name\":\"XSETBV\","
                     "\"exit_info_1\":\"0x0\",\"exit_info_2\":\"0x0\",\"rip\":\"0x10\","
                     "\"insn_bytes\":\"\",\"insn\":\"\",\"decision\":\"end\",\"detail\":\"\","
                     "\"vmcb_dump\":\"a 1\\nb 2\\n\"}");
}

Test(trace_text, indents_the_vmcb_dump_under_the_decision)
{
    struct svmsim_trace_record r = {
        .seq = 1, .level = 2, .exit_code = 0x8d, .exit_name = "XSETBV", .rip = 0x10,
        .decision = SVMSIM_DECISION_END, .detail = "unexpected exit", .vmcb_dump = "a 1\nb 2\n",
    };
    char buf[512];
    cr_assert_geq(svmsim_trace_format_text(&r, buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "#1 L2 rip=0x10 XSETBV(0x8d) info1=0x0 info2=0x0 -> unexpected exit\n"
                          "    a 1\n    b 2");
}

Test(vmcb_dump, lists_every_field_fixed_width)
{
    static struct vmcb v;
    v.control.exit_code = 0x7b;
    v.control.asid = 2;
    v.save.rip = 0x100234;
    v.save.cs.selector = 8;
    v.save.cs.attrib = 0xa9b;
    v.save.cs.limit = 0xffffffff;
    char buf[8192];
    size_t n = vmcb_dump(&v, buf, sizeof buf);
    cr_expect_eq(n, strlen(buf));
    cr_expect(strstr(buf, "exit_code            000000000000007b\n") != NULL, "%s", buf);
    cr_expect(strstr(buf, "asid                 0000000000000002\n") != NULL, "%s", buf);
    cr_expect(strstr(buf, "rip                  0000000000100234\n") != NULL, "%s", buf);
    cr_expect(strstr(buf, "cs     sel 0008 attr 0a9b limit ffffffff base 0000000000000000\n") != NULL,
              "%s", buf);
    char small[64];
    size_t m = vmcb_dump(&v, small, sizeof small);
    cr_expect_lt(m, sizeof small);
    cr_expect_eq(strlen(small), m, "a short buffer still ends in NUL");
}


/* The access that completed a GuestRPC request, and what the host answered. */
static struct svmsim_trace_record rpc_answered(void)
{
    struct svmsim_trace_record r = {
        .seq = 3, .insns = 40, .level = 1,
        .exit_code = 0x7b, .exit_name = "IOIO",
        .exit_info_1 = 0x56580019, .exit_info_2 = 0x100010,
        .rip = 0x10000e,
        .insn_len = 1, .insn_bytes = { 0xed },
        .insn_text = "in eax, dx",
        .decision = SVMSIM_DECISION_DEVICE,
        .detail = "passed to device: vmport",
        .rpc = true, .rpc_channel = 1,
        .rpc_request = "info-set guestinfo.k \"v\"", .rpc_reply = "1 ",
        .rpc_request_len = 24, .rpc_reply_len = 2,
    };
    return r;
}

Test(trace_json, adds_the_guestrpc_request_and_reply_it_answered)
{
    struct svmsim_trace_record r = rpc_answered();
    cr_expect_str_eq(json(&r),
                     "{\"seq\":3,\"insns\":40,\"level\":1,\"exit_code\":123,\"exit_name\":\"IOIO\","
                     "\"exit_info_1\":\"0x56580019\",\"exit_info_2\":\"0x100010\",\"rip\":\"0x10000e\","
                     "\"insn_bytes\":\"ed\",\"insn\":\"in eax, dx\",\"decision\":\"device\","
                     "\"detail\":\"passed to device: vmport\",\"rpc_channel\":1,"
                     "\"rpc_request\":\"info-set guestinfo.k \\\"v\\\"\",\"rpc_reply\":\"1 \","
                     "\"rpc_request_len\":24,\"rpc_reply_len\":2}");
}

Test(trace_text, shows_the_guestrpc_exchange_after_the_decision)
{
    struct svmsim_trace_record r = rpc_answered();
    cr_expect_str_eq(text(&r), "#3 L1 rip=0x10000e IOIO(0x7b) info1=0x56580019 info2=0x100010 "
                               "\"in eax, dx\" -> passed to device: vmport; GuestRPC channel 1: "
                               "\"info-set guestinfo.k \"v\"\" -> \"1 \"");
}

Test(trace_text, marks_a_guestrpc_request_cut_to_fit)
{
    struct svmsim_trace_record r = rpc_answered();
    memset(r.rpc_request, 'x', sizeof r.rpc_request - 1);
    r.rpc_request[sizeof r.rpc_request - 1] = '\0';
    r.rpc_request_len = 70000;
    const char *t = text(&r);
    cr_expect(strstr(t, "xxxx\"... -> \"1 \"") != NULL, "%s", t);
}
