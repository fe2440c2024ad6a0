#!/bin/sh
# run_guest.sh — runs one guest program and judges its result: the process
# exit status must be the expected one (default 1: the guest wrote 0 to the
# exit port 0xf4, status (0 << 1) | 1), the output must hold at least one
# "PASS:" line and no "FAIL:" line, and optionally a given line.
#
# usage: run_guest.sh [-s STATUS] [-l TEXT] -- COMMAND [ARG...]
#        run_guest.sh [-s STATUS] [-l TEXT] --qemu IMAGE [QEMU-ARG...]
#   -s STATUS  expected exit status (default 1)
#   -l TEXT    output must contain a line holding TEXT
#   --qemu     boot IMAGE under qemu-system-x86_64 (TCG; the PVH entry, or
#              multiboot for a multiboot image), QEMU-ARGs (-append, -initrd)
#              after -kernel IMAGE; exits 77 (ctest SKIP_RETURN_CODE) when
#              QEMU is not installed. $QEMU overrides the binary.
set -u

expect_status=1
expect_line=
mode=
while [ $# -gt 0 ]; do
    case "$1" in
    -s) expect_status=$2; shift 2 ;;
    -l) expect_line=$2; shift 2 ;;
    --qemu) mode=qemu; shift; break ;;
    --) mode=cmd; shift; break ;;
    *) echo "run_guest.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
if [ -z "$mode" ] || [ $# -lt 1 ]; then
    echo "usage: run_guest.sh [-s STATUS] [-l TEXT] -- COMMAND [ARG...] | --qemu IMAGE [QEMU-ARG...]" >&2
    exit 64
fi

if [ "$mode" = qemu ]; then
    qemu=${QEMU:-qemu-system-x86_64}
    if ! command -v "$qemu" >/dev/null 2>&1; then
        echo "run_guest.sh: $qemu not installed; skipping" >&2
        exit 77
    fi
    image=$1
    shift
    set -- "$qemu" -accel tcg -machine pc -cpu max -m 64 -display none -no-reboot \
        -monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -kernel "$image" "$@"
fi

out=$(mktemp "${TMPDIR:-/tmp}/run_guest.XXXXXX") || exit 70
trap 'rm -f "$out"' EXIT INT TERM

"$@" </dev/null >"$out" 2>&1
status=$?
cat "$out"

verdict=ok
if [ "$status" -ne "$expect_status" ]; then
    echo "run_guest.sh: exit status $status, expected $expect_status" >&2
    verdict=bad
fi
if ! grep -q '^PASS: ' "$out"; then
    echo "run_guest.sh: no PASS: line" >&2
    verdict=bad
fi
if grep -q '^FAIL: ' "$out"; then
    echo "run_guest.sh: $(grep -c '^FAIL: ' "$out") FAIL: line(s)" >&2
    verdict=bad
fi
if [ -n "$expect_line" ] && ! grep -qF -- "$expect_line" "$out"; then
    echo "run_guest.sh: no line with \"$expect_line\"" >&2
    verdict=bad
fi
[ "$verdict" = ok ]
