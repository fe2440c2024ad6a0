#!/bin/sh
# guest_notes.sh — what a guest leaves with the VMware backdoor's GuestRPC
# host side is shown: after the run, each guestinfo key the guest set and
# each log line, one per stderr line (presets it left alone are not); in
# the trace, the request and reply on the record of the access that
# completed each request, on the low-bandwidth port and on the HB port.
#
# usage: guest_notes.sh SVMSIM_BINARY GUESTRPC
# Exits 77 (ctest SKIP_RETURN_CODE) when the guest is not built.
set -u
bin=$1
guest=$2
[ -f "$guest" ] || { echo "guest_notes.sh: $guest not built; skipping" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-notes.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$bin" run --enable-vmware-backdoor --guestinfo=preset=fromhost --trace="$tmp/t.jsonl" \
    "$guest" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 1 ] || fail "guestrpc: status $status, expected 1 (pass)"

has_line() { grep -qxF -- "$1" "$tmp/err" || fail "stderr lacks the line '$1'"; }
has_line "svmsim: guest set guestinfo.foo=bar"
has_line "svmsim: guest set guestinfo.two0-hb=value-set-on-channel-b"
has_line "svmsim: guest log: hello"
has_line "svmsim: guest log: sent again with the right cookie"
grep -q "guestinfo.preset" "$tmp/err" && fail "a preset the guest did not set is printed"
tail -n 1 "$tmp/err" | grep -q "exit port" || fail "the run's end is not the last stderr line"

# The trace: requests completed on the low-bandwidth port and on the HB port.
grep -F '"rpc_request":"info-set guestinfo.foo bar","rpc_reply":"1 ","rpc_request_len":26,"rpc_reply_len":2}' \
    "$tmp/t.jsonl" >/dev/null || fail "trace lacks the info-set of foo and its reply"
grep -F '"rpc_request":"info-get guestinfo.preset","rpc_reply":"1 fromhost"' "$tmp/t.jsonl" \
    >/dev/null || fail "trace lacks the info-get of the preset and its reply"
grep '"insn":"rep outsb' "$tmp/t.jsonl" | grep -q '"rpc_request":"info-set guestinfo.foo0-hb bar"' ||
    fail "trace lacks a request completed by a REP OUTSB on the HB port"
n=$(grep -c '"rpc_request"' "$tmp/t.jsonl")
[ "$n" -gt 20 ] || fail "trace has $n GuestRPC records, expected more than 20"

# --explain shows the same exchange in words.
"$bin" run --enable-vmware-backdoor --guestinfo=preset=fromhost --explain "$guest" \
    >/dev/null 2>"$tmp/explain"
grep -qF 'GuestRPC channel 0: "info-set guestinfo.foo bar" -> "1 "' "$tmp/explain" ||
    fail "--explain lacks the info-set of foo"

[ "$failures" -eq 0 ] || exit 1
echo "guest_notes: ok"
