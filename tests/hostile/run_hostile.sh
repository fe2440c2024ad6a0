#!/bin/sh
# run_hostile.sh — runs COUNT generated hostile guests (hostile_gen, from
# SEED) under svmsim with --max-insns and a wall limit, as a new user would,
# and fails on a run that crashes, ends with a status DESIGN.md does not
# list, prints more than one line on stderr (a sanitizer report prints
# many), or outlives its wall limit.
#
# usage: run_hostile.sh SVMSIM HOSTILE_GEN SEED COUNT [WALL_SECONDS]
set -u
bin=$1
gen=$2
seed=$3
count=$4
wall=${5:-10}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-hostile.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
"$gen" "$seed" "$count" "$tmp" || { echo "run_hostile.sh: the generator failed" >&2; exit 1; }

failures=0
runs=0
for img in "$tmp"/hostile-*.elf; do
    runs=$((runs + 1))
    timeout -k 2 "$wall" "$bin" run --max-insns=200000 "$img" >"$tmp/out" 2>"$tmp/err"
    status=$?
    lines=$(wc -l <"$tmp/err")
    verdict=
    case "$status" in
    124|137) verdict="ran past its wall limit of ${wall}s" ;;
    2|4|6|8) ;;
    *) if [ $((status % 2)) -eq 1 ] && [ "$status" -lt 128 ]; then :; else
           verdict="ended with status $status, which DESIGN.md does not list"; fi ;;
    esac
    [ -z "$verdict" ] && [ "$lines" -ne 1 ] && verdict="printed $lines lines on stderr"
    if [ -n "$verdict" ]; then
        failures=$((failures + 1))
        echo "FAIL: $(basename "$img") (seed $seed) $verdict" >&2
        head -5 "$tmp/err" >&2
        cp "$img" "${TMPDIR:-/tmp}/" 2>/dev/null
    fi
done
echo "run_hostile.sh: $((runs - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
