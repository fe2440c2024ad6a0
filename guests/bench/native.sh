#!/usr/bin/env bash
# guests/bench/native.sh NAME — build workload.c for the host with the
# definitions guests/CMakeLists.txt gives image bench_NAME (bigloop,
# straight, codedata, compiled), run it on the host CPU and print its RESULT
# line: the value to put as EXPECT next to the count when the count changes.
# Says whether the EXPECT in CMakeLists.txt matches.
set -euo pipefail
name=${1:?usage: guests/bench/native.sh bigloop|straight|codedata|compiled}
here=$(cd "$(dirname "$0")" && pwd)
defs=$(sed -n "s/^target_compile_definitions(guest_bench_$name PRIVATE \(.*\))\$/\1/p" \
    "$here/../CMakeLists.txt")
[ -n "$defs" ] || { echo "native: no image bench_$name in guests/CMakeLists.txt" >&2; exit 64; }
expect=$(printf '%s\n' $defs | sed -n 's/^EXPECT=//p')
cflags=()
for d in $defs; do
    case $d in EXPECT=*) ;; *) cflags+=("-D$d") ;; esac
done
exe=$(mktemp /tmp/bench_native.XXXXXX)
trap 'rm -f "$exe"' EXIT
${CC:-cc} -O2 -no-pie -I"$here/native" "${cflags[@]}" -DEXPECT=0 -o "$exe" "$here/workload.c"
out=$("$exe" || true)
line=$(printf '%s\n' "$out" | grep '^RESULT' || true)
[ -n "$line" ] || { echo "native: bench_$name printed no RESULT line: $out" >&2; exit 1; }
echo "$line"
got=${line##* }
if [ -z "$expect" ]; then
    echo "(no EXPECT for bench_$name in CMakeLists.txt)"
elif [ "$(echo "${expect%ull}" | tr A-F a-f)" = "$got" ]; then
    echo "EXPECT in CMakeLists.txt matches"
else
    echo "EXPECT in CMakeLists.txt is $expect: does NOT match" >&2
    exit 1
fi
