#!/usr/bin/env bash
# dev.sh — set up, build and run svmsim on a Debian 12 machine.
#   scripts/dev.sh demo   install what is missing, build, run the demo guest
#   scripts/dev.sh test   install what is missing, build, run the whole suite
#                         (plain build, then AddressSanitizer+UBSan build)
#   scripts/dev.sh fuzz   build the libFuzzer targets (clang) and run each for
#                         FUZZ_SECONDS (default 60); `test` does this too
#   scripts/dev.sh bench  build (Release) and run the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-2}
PKGS="build-essential cmake pkg-config libzydis-dev libcriterion-dev"
PEER_PKGS="qemu-system-x86"
BENCH_PKGS="bc time"
FUZZ_PKGS="clang libclang-rt-14-dev"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

install_missing() {
    local want="$1" missing=""
    for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "dev.sh: missing Debian packages:$missing (run as root, or install them)" >&2
        exit 1
    fi
    echo "dev.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() { # build DIR [cmake args...]
    local dir="$1"; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS"
}

# The libFuzzer targets (tests/fuzz), each for FUZZ_SECONDS from a fixed
# seed, on a copy of its seed corpus.
fuzz() {
    CC=clang build build-fuzz -DSVMSIM_FUZZ=ON -DSVMSIM_BUILD_GUESTS=OFF -DSVMSIM_BUILD_TESTS=OFF
    local f name corpus
    for f in build-fuzz/tests/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=${f##*/fuzz_}
        corpus=$(mktemp -d)
        cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
        echo "dev.sh: fuzzing $name for ${FUZZ_SECONDS}s"
        "$f" -max_total_time="$FUZZ_SECONDS" -seed=1 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
        status=${PIPESTATUS[0]}
        rm -rf "$corpus"
        [ "$status" = 0 ] || { echo "dev.sh: fuzz_$name failed (status $status)" >&2; exit 1; }
    done
}

case "${1:-}" in
demo)
    install_missing "$PKGS"
    build build
    # The erratum demo (guests/demo/erratum_demo.c) with L0's SVM decisions;
    # it reports success by writing 0 to the exit port: status 1.
    status=0
    ./build/svmsim run --explain-svm build/guests/erratum_demo.elf || status=$?
    if [ "$status" != 1 ]; then
        echo "dev.sh: demo guest ended with status $status (expected 1)" >&2
        exit 1
    fi
    # What the 2026 #GP series changed for this guest: compare exits 1
    # when the two semantics differ, as diff does.
    echo
    status=0
    ./build/svmsim compare --semantics=kvm-7.0,kvm-7.1 build/guests/erratum_demo.elf || status=$?
    if [ "$status" != 1 ]; then
        echo "dev.sh: compare ended with status $status (expected 1: the semantics differ)" >&2
        exit 1
    fi
    ;;
test)
    install_missing "$PKGS $PEER_PKGS $FUZZ_PKGS"
    build build
    (cd build && ctest --output-on-failure -j"$JOBS")
    fuzz
    build build-san -DSVMSIM_SANITIZE=ON
    (cd build-san && ctest --output-on-failure -j"$JOBS")
    ;;
fuzz)
    install_missing "$PKGS $FUZZ_PKGS"
    fuzz
    ;;
bench)
    install_missing "$PKGS $PEER_PKGS $BENCH_PKGS"
    cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-rel -j"$JOBS"
    ./bench/run.sh build-rel
    ;;
*)
    echo "usage: scripts/dev.sh demo|test|fuzz|bench" >&2
    exit 64
    ;;
esac
