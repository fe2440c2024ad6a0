#!/usr/bin/env bash
# dev.sh — set up, build and run svmsim on a Debian 12 machine.
#   scripts/dev.sh demo   install what is missing, build, run the demo guest
#   scripts/dev.sh test   install what is missing, build, run the whole suite
#                         (plain build, then AddressSanitizer+UBSan build)
#   scripts/dev.sh bench  build (Release) and run the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-2}
PKGS="build-essential cmake pkg-config libzydis-dev libcriterion-dev"
PEER_PKGS="qemu-system-x86"
BENCH_PKGS="bc"

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

case "${1:-}" in
demo)
    install_missing "$PKGS"
    build build
    # The guest reports success by writing 0 to the exit port: status 1.
    status=0
    ./build/svmsim run build/guests/hello.elf || status=$?
    if [ "$status" != 1 ]; then
        echo "dev.sh: demo guest ended with status $status (expected 1)" >&2
        exit 1
    fi
    ;;
test)
    install_missing "$PKGS $PEER_PKGS"
    build build
    (cd build && ctest --output-on-failure -j"$JOBS")
    build build-san -DSVMSIM_SANITIZE=ON
    (cd build-san && ctest --output-on-failure -j"$JOBS")
    ;;
bench)
    install_missing "$PKGS $PEER_PKGS $BENCH_PKGS"
    cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-rel -j"$JOBS"
    ./bench/run.sh build-rel
    ;;
*)
    echo "usage: scripts/dev.sh demo|test|bench" >&2
    exit 64
    ;;
esac
