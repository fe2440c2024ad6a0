#!/usr/bin/env bash
# scripts/kut.sh KVM_UNIT_TESTS_SRC [BUILD_DIR] — kvm-unit-tests, unmodified,
# on svmsim. Not part of CI (CI cannot reach the suite's source).
#
# Copies the source tree it is given to a scratch directory, builds the
# x86_64 images there (./configure --arch=x86_64 && make), then runs under
# BUILD_DIR/svmsim (default build-rel, built if missing):
#   - the plain images, one boot each: dummy sieve setjmp tsc syscall
#     eventinj msr emulator hypercall, vmware_backdoors with
#     --enable-vmware-backdoor (KVM's enable_vmware_backdoor=Y), and
#     smptest on 2 and on 3 vCPUs (the suite's smptest and smptest3);
#   - every sub-test of svm.flat and svm_npt.flat, one per boot, selected
#     by its name (spaces as underscores) on the command line, as the
#     suite's own runner passes -append, on 2 vCPUs as its unittests.cfg
#     has them.
# Every run has QEMU's pc-testdev (--testdev, which the suite's runner adds),
# KVM's forced emulation prefix (--force-emulation-prefix, as KVM's
# kvm.force_emulation_prefix=1 that the suite's emulation tests want), and
# the instruction-driven clock (--deterministic): sub-tests that time
# themselves (pause_filter's threshold, the APIC timer) do not depend on the
# host's load, and a second run gives the same table.
# Each run prints PASS, FAIL or SKIP with the reason in one line (the
# failed report lines, or how svmsim ended the run), then a summary. The
# verdict is the exit status as the suite's own runner reads QEMU's: 1
# (exit code 0) passes, 77 (exit code 38, "77 >> 1") skips, 3 fails. Nothing
# of the suite is kept or committed. Environment: TIMEOUT (seconds per run,
# default 300), MAX_INSNS (default 2e10), JOBS (make -j, default 2),
# ONLY (a regular expression: run only the runs whose name matches).
set -euo pipefail
SRC=${1:?usage: scripts/kut.sh KVM_UNIT_TESTS_SRC [BUILD_DIR]}
BUILD=${2:-build-rel}
TIMEOUT=${TIMEOUT:-300}
MAX_INSNS=${MAX_INSNS:-20000000000}
JOBS=${JOBS:-2}
ONLY=${ONLY:-}
[ -f "$SRC/x86/svm.c" ] || { echo "kut: $SRC is not a kvm-unit-tests source tree (no x86/svm.c)" >&2; exit 64; }
if [ ! -x "$BUILD/svmsim" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$JOBS" >/dev/null
fi
SVMSIM=$(cd "$BUILD" && pwd)/svmsim

work=$(mktemp -d /tmp/kut.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$SRC/." "$work/src"
(cd "$work/src" && ./configure --arch=x86_64 >"$work/configure.log" 2>&1 &&
    make -j"$JOBS" >"$work/make.log" 2>&1) || {
    echo "kut: building kvm-unit-tests failed; the end of the log:" >&2
    tail -n 20 "$work/make.log" "$work/configure.log" 2>/dev/null >&2
    exit 1
}
X86="$work/src/x86"

# The sub-test names of an svm_tests[] array, as test_wanted() matches
# them (spaces as underscores).
subtests() { # file.c
    awk '/(svm|npt)_tests\[\] = \{/ { on = 1; next }
         on && /\{ *NULL/ { exit }
         on && match($0, /^\t\{ "[^"]*"/) { s = substr($0, RSTART + 4, RLENGTH - 5); gsub(/ /, "_", s); print s }
         on && match($0, /TEST\([A-Za-z0-9_]*[,)]/) { print substr($0, RSTART + 5, RLENGTH - 6) }' "$1"
}

pass=0 fail=0 skip=0
declare -a failed=()
run() { # name image [svmsim options...]
    local name=$1 image=$2 out status verdict why
    shift 2
    [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]] && return 0
    local budget=$MAX_INSNS # sieve takes about 8e9, svm_vmrun_errata_test 9e9
    out=$(timeout "$TIMEOUT" "$SVMSIM" run --deterministic --testdev --force-emulation-prefix \
        --max-insns="$budget" \
        "$@" "$image" 2>&1) &&
        status=0 || status=$?
    case $status in
    1) verdict=PASS why="" ;;
    77) verdict=SKIP why=$( (grep -m1 '^SKIP' <<<"$out" || echo "skipped") | cut -c1-160) ;;
    124) verdict=FAIL why="timeout after ${TIMEOUT}s" ;;
    3) verdict=FAIL why=$( (grep '^FAIL' <<<"$out" || true) | head -n 3 | tr '\n' ';' | cut -c1-160) ;;
    *) verdict=FAIL why=$( (grep -o 'svmsim: .*' <<<"$out" || true) | tail -n 1 | cut -c1-160)
       [ -n "$why" ] || why="status $status" ;;
    esac
    # A run that passed everything it could still reports its skips; one
    # in which no test ran (a sub-test that wants more vCPUs than the
    # suite's configuration gives) is a skip too.
    if [ "$verdict" = PASS ] && grep -q '^SKIP' <<<"$out" && ! grep -q '^PASS' <<<"$out"; then
        verdict=SKIP why=$(grep -m1 '^SKIP' <<<"$out" | cut -c1-160)
    elif [ "$verdict" = PASS ] && grep -q '^SUMMARY: 0 tests' <<<"$out"; then
        verdict=SKIP why="no test ran"
    fi
    case $verdict in
    PASS) pass=$((pass + 1)) ;;
    SKIP) skip=$((skip + 1)) ;;
    FAIL) fail=$((fail + 1)); failed+=("$name") ;;
    esac
    printf '%-4s %-48s %s\n' "$verdict" "$name" "$why"
}

for t in dummy sieve setjmp tsc syscall eventinj msr emulator hypercall; do
    run "$t" "$X86/$t.flat" --mem=256M
done
run vmware_backdoors "$X86/vmware_backdoors.flat" --mem=256M --enable-vmware-backdoor
run smptest "$X86/smptest.flat" --mem=256M --smp=2
run smptest3 "$X86/smptest.flat" --mem=256M --smp=3
while read -r t; do
    # As the suite's unittests.cfg: two vCPUs, but this one alone on a CPU
    # without RDTSCP.
    cpu=(--smp=2)
    [ "$t" = svm_unsupported_instruction_intercept_test ] && cpu=(--no-rdtscp)
    run "svm/$t" "$X86/svm.flat" --mem=2G --append="$t" "${cpu[@]}"
done < <(subtests "$X86/svm_tests.c")
while read -r t; do
    run "svm_npt/$t" "$X86/svm_npt.flat" --mem=2G --append="$t" --smp=2
done < <(subtests "$X86/svm_npt.c")

echo "kut: $pass passed, $fail failed, $skip skipped of $((pass + fail + skip)) runs"
