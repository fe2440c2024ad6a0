#!/bin/sh
# deterministic.sh — with --deterministic the backdoor's clock (GETTIME,
# GETTIMEFULL, the RDPMC time counters) follows the work count, so two runs
# of a guest that reads it give byte-identical console output, stderr and
# traces (issue "VMware backdoor", item 4).
#
# usage: deterministic.sh SVMSIM_BINARY [-o OPTIONS] GUEST...
# OPTIONS (one word) are added to the runs of the guests after it: --smp=4
# checks that the scheduler of several vCPUs is deterministic too.
# Exits 77 (ctest SKIP_RETURN_CODE) when a guest is not built.
set -u
bin=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-det.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

opts=
while [ $# -gt 0 ]; do
    if [ "$1" = -o ]; then
        opts=$2
        shift 2
        continue
    fi
    guest=$1
    shift
    [ -f "$guest" ] || { echo "deterministic.sh: $guest not built; skipping" >&2; exit 77; }
    name=$(basename "$guest" .elf)
    for run in 1 2; do
        "$bin" run --deterministic --enable-vmware-backdoor --guestinfo=preset=fromhost $opts \
            --trace="$tmp/$name.$run.jsonl" "$guest" >"$tmp/$name.$run.out" 2>"$tmp/$name.$run.err"
        echo $? >"$tmp/$name.$run.status"
    done
    [ "$(cat "$tmp/$name.1.status")" -eq 1 ] ||
        fail "$name: status $(cat "$tmp/$name.1.status"), expected 1 (pass)"
    [ -s "$tmp/$name.1.jsonl" ] || fail "$name: empty trace"
    for f in status out err jsonl; do
        cmp -s "$tmp/$name.1.$f" "$tmp/$name.2.$f" || fail "$name: the two runs' $f differ"
    done
done

[ "$failures" -eq 0 ] || exit 1
echo "deterministic: ok"
