#!/bin/sh
# output_errors.sh — outputs that cannot be written (DESIGN.md status 74):
# the console on a full disk, the trace on a full disk, each ending the run
# with one line on stderr naming what failed; the partial trace is whole
# JSON lines.
#
# usage: output_errors.sh SVMSIM_BINARY HELLO
# Exits 77 (ctest SKIP_RETURN_CODE) when the guest is not built or the
# machine has no /dev/full.
set -u
bin=$1
hello=$2
[ -f "$hello" ] || { echo "output_errors.sh: $hello not built; skipping" >&2; exit 77; }
[ -w /dev/full ] || { echo "output_errors.sh: no /dev/full; skipping" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-output.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$bin" run "$hello" >/dev/full 2>"$tmp/err"
status=$?
[ "$status" -eq 74 ] || fail "console on /dev/full: status $status, expected 74"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "console on /dev/full: $(wc -l <"$tmp/err") stderr lines"
grep -q "^svmsim: console: cannot write to stdout: No space left on device" "$tmp/err" ||
    fail "console on /dev/full: stderr is '$(cat "$tmp/err")'"

"$bin" run --trace=/dev/full "$hello" >/dev/null 2>"$tmp/err"
status=$?
[ "$status" -eq 74 ] || fail "trace on /dev/full: status $status, expected 74"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "trace on /dev/full: $(wc -l <"$tmp/err") stderr lines"
grep -q "^svmsim: --trace: error writing '/dev/full': No space left on device" "$tmp/err" ||
    fail "trace on /dev/full: stderr is '$(cat "$tmp/err")'"

"$bin" run --trace="$tmp/t.jsonl" "$hello" >/dev/null 2>"$tmp/err"
status=$?
[ "$status" -eq 1 ] || fail "a writable trace: status $status, expected 1"
[ -s "$tmp/t.jsonl" ] || fail "a writable trace: empty"
if grep -v '^{.*}$' "$tmp/t.jsonl" >/dev/null; then
    fail "a writable trace has a line that is no whole JSON object"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failed" >&2
    exit 1
fi
echo "output_errors.sh: 3 passed, 0 failed"
