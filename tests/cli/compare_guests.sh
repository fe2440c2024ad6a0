#!/bin/sh
# compare_guests.sh — `svmsim compare` on built guest programs: its exit
# status (diff(1)'s), the divergence it finds and the ends it reports.
#
# Owns: the behaviour of compare on real runs; its usage and image errors
# are cases of cli_cases.sh.
# Must not: judge the guests themselves (tests/guest does): only what
# compare says about two runs of one.
#
# usage: compare_guests.sh SVMSIM_BINARY HELLO NESTED_END_VMLOAD_UNBACKED NO_NESTED
# Exits 77 (ctest SKIP_RETURN_CODE) when a guest image is not built.
set -u
bin=$1
hello=$2
vmload_unbacked=$3
no_nested=$4

for g in "$hello" "$vmload_unbacked" "$no_nested"; do
    if [ ! -f "$g" ]; then
        echo "compare_guests.sh: $g not built; skipping" >&2
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-compare.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

failures=0
check=

fail() {
    echo "FAIL [$check]: $*" >&2
    echo "--- stdout:" >&2; cat "$tmp/out" >&2
    echo "--- stderr:" >&2; cat "$tmp/err" >&2
    failures=$((failures + 1))
}

run() {
    "$bin" compare "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    status=$?
}

expect_status() {
    [ "$status" -eq "$1" ] || fail "exit status $status, expected $1"
}

expect_line() { # a line of stdout that is exactly $1
    grep -qxF -- "$1" "$tmp/out" || fail "stdout has no line '$1'"
}

expect_prefix() { # a line of stdout that starts with $1
    awk -v p="$1" 'index($0, p) == 1 { found = 1 } END { exit !found }' "$tmp/out" ||
        fail "stdout has no line starting '$1'"
}

expect_quiet_stderr() {
    [ ! -s "$tmp/err" ] || fail "stderr is not empty"
}

check="same semantics on both sides is a usage error"
run --semantics=kvm-7.1,kvm-7.1 "$hello"
expect_status 64
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "stderr is not one line"
[ ! -s "$tmp/out" ] || fail "stdout is not empty"

check="hello does not depend on the #GP semantics"
run --semantics=kvm-7.0,kvm-7.1 "$hello"
expect_status 0
expect_line "A: --semantics=kvm-7.0"
expect_line "B: --semantics=kvm-7.1"
expect_prefix "no divergence: "
expect_prefix "A ended: status 1: "
expect_prefix "B ended: status 1: "
grep -q "Hello from svmsim guest" "$tmp/out" && fail "the guest's console reached stdout"
expect_quiet_stderr

# SPEC-GP.md §2.3, row "L1/L2 handler, legal RAX not backed by RAM": under
# kvm-7.0 L1 gets #GP(0) (the guest reports the unhandled exception and
# writes 2 to the exit port: status 5), under kvm-7.1 the run ends in an
# emulation failure (status 8).
check="an unbacked VMLOAD ends differently under kvm-7.0 and kvm-7.1"
run --semantics=kvm-7.0,kvm-7.1 "$vmload_unbacked"
expect_status 1
expect_prefix "first divergence at exit #"
grep -A1 '^first divergence at exit #' "$tmp/out" | grep -q '^  A: .*VMLOAD.*#GP(0)' ||
    fail "A's record at the divergence is not VMLOAD's #GP(0)"
expect_prefix "A ended: status 5: "
expect_prefix "B ended: status 8: emulation failure"
expect_quiet_stderr

check="--no-nested on one side changes what the guest sees"
run --b=--no-nested "$no_nested"
expect_status 1
expect_line "B: --no-nested"
expect_prefix "first divergence at exit #"
expect_quiet_stderr

check="options given to both sides and to one side add up"
run --max-insns=200000000 --b="--no-nested --mem=32M" "$no_nested"
expect_status 1
expect_line "B: --no-nested --mem=32M"

[ "$failures" -eq 0 ] || exit 1
exit 0
