#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — interpreter and world-switch speed of svmsim, side
# by side with QEMU TCG when qemu-system-x86_64 is installed, on the same guest
# ELF images (guests/bench/workload.c: the dec/jnz and load/add/store/dec/jnz
# loops and the nested VMRUN round trips of ../shared/peers/kernel.asm, and
# kernel-like code: 8 KiB and 64 KiB loops of load/add/store bodies, 200 KiB
# of straight-line code, stores beside the code on its own page, compiled C).
# Each kernel-like and loop row is followed by svmsim's speed as a fraction
# of QEMU's on it (QEMU's work time / svmsim's); then the boot-only image's
# wall time and peak RSS for both.
#
# For each workload: REPS rounds (default 3), each a run of the
# boot-and-exit baseline image and of the workload's under each peer in
# turn; a run's wall time less its baseline's is the loop's time, MIPS =
# instructions of the loop / the median of those times, and the ratio is
# the median of the rounds' ratios (the rounds run the peers back to
# back, so that both see the machine as loaded as the other: QEMU's own
# figures move a lot between runs on these machines). The instruction count
# is svmsim's own (--stats) for the loop image minus the baseline image: the
# peers run the same instructions. svmsim's in-process figure (no process
# start-up at all) is printed too. Each image must end with exit value 0
# under svmsim (those that print "RESULT checksum" check it themselves), or
# the script stops; under QEMU a failure is reported.
set -euo pipefail
BUILD=${1:-build-rel}
REPS=${REPS:-3}
SVMSIM="$BUILD/svmsim"
G="$BUILD/guests"
for f in "$SVMSIM" "$G/bench_empty.elf" "$G/bench_loop.elf" "$G/bench_mem.elf" \
         "$G/bench_vmrun.elf" "$G/bench_vmrun_kvm.elf" "$G/bench_erratum.elf" \
         "$G/bench_backdoor.elf" "$G/bench_backdoor_cpl3.elf" "$G/bench_bigloop.elf" \
         "$G/bench_bigloop64.elf" \
         "$G/bench_straight.elf" "$G/bench_codedata.elf" "$G/bench_compiled.elf"; do
    [ -e "$f" ] || { echo "bench: $f missing (build $BUILD first)" >&2; exit 1; }
done
QEMU=$(command -v qemu-system-x86_64 || true)

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# wall seconds of one run of a command
wall() {
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1 || true
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

# Each peer's command, less the image.
SVMSIM_CMD=("$SVMSIM" run --enable-vmware-backdoor)
QEMU_CMD=("$QEMU" -accel tcg -machine pc,vmport=on -cpu max -m 64 -display none -no-reboot
          -monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel)
run_svmsim() { "${SVMSIM_CMD[@]}" "$1"; }
run_qemu() { "${QEMU_CMD[@]}" "$1"; }

# the guest's exit status is not 0, so read the output before judging it
stats_of() { "$SVMSIM" run --stats "$1" 2>&1 || true; }
insns_of() { stats_of "$1" | sed -n 's/.*stats: \([0-9]*\) instructions.*/\1/p'; }
inproc_mips() { stats_of "$1" | sed -n 's/.*(\([0-9.]*\) MIPS).*/\1/p'; }

median_wall() { # runner image
    for _ in $(seq "$REPS"); do wall "$1" "$2"; done | median
}

base_insns=$(insns_of "$G/bench_empty.elf")
printf '%-28s %14s %12s %12s\n' workload instructions peer MIPS
for w in loop mem bigloop bigloop64 straight codedata compiled; do
    img="$G/bench_$w.elf"
    out=$(stats_of "$img")
    grep -q '^svmsim: guest wrote 0x0 to the exit port' <<<"$out" || {
        echo "bench: $img failed under svmsim:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    }
    n=$(( $(sed -n 's/.*stats: \([0-9]*\) instructions.*/\1/p' <<<"$out") - base_insns ))
    if [ -n "$QEMU" ]; then # exit value 0 (status 1): the checksum matched
        st=0
        run_qemu "$img" >/dev/null 2>&1 || st=$?
        [ "$st" = 1 ] || echo "bench: $img ended with status $st under QEMU, not 1 (its QEMU row is not comparable)" >&2
    fi
    inproc=$(for _ in $(seq "$REPS"); do inproc_mips "$img"; done | median)
    printf '%-28s %14d %12s %12.1f\n' "$w (in-process)" "$n" svmsim "$inproc"
    peers="svmsim"
    [ -n "$QEMU" ] && peers="$peers qemu"
    # The peers' runs interleaved, each with its own baseline run just
    # before it, so that a round's ratio compares the two under the same
    # load of the machine: MIPS from the median work time of each peer,
    # the ratio the median of the rounds' (and their range).
    declare -A works=()
    ratios=""
    for _ in $(seq "$REPS"); do
        declare -A round=()
        for p in $peers; do
            b=$(wall "run_$p" "$G/bench_empty.elf")
            t=$(wall "run_$p" "$img")
            round[$p]=$(echo "$t - $b" | bc -l)
            works[$p]="${works[$p]:-} ${round[$p]}"
        done
        # svmsim's speed as a fraction of QEMU's: QEMU's work time / svmsim's
        [ -n "$QEMU" ] && ratios="$ratios $(echo "${round[qemu]} / ${round[svmsim]}" | bc -l)"
        unset round
    done
    for p in $peers; do
        med=$(tr ' ' '\n' <<<"${works[$p]}" | grep . | median)
        mips=$(echo "$n / ($med) / 1000000" | bc -l)
        printf '%-28s %14d %12s %12.1f\n' "$w (wall - baseline)" "$n" "$p" "$mips"
    done
    if [ -n "$QEMU" ]; then
        sorted=$(tr ' ' '\n' <<<"$ratios" | grep . | sort -g)
        printf '%-28s %14s %12s %12.2f   (%.2f-%.2f over %d rounds)\n' "$w (svmsim / qemu speed)" "" \
            ratio "$(median <<<"$sorted")" "$(head -n 1 <<<"$sorted")" "$(tail -n 1 <<<"$sorted")" \
            "$REPS"
    fi
    unset works
done

# Start-up: the boot-only image (load, boot, exit at once), its median
# wall time and the peak resident set of the process (GNU time).
if [ -x /usr/bin/time ]; then
    printf '\n%-28s %14s %12s %12s\n' start-up "peak RSS KiB" peer "wall ms"
    peers="svmsim"
    [ -n "$QEMU" ] && peers="$peers qemu"
    rss_file=$(mktemp)
    for p in $peers; do
        ms=$(median_wall "run_$p" "$G/bench_empty.elf")
        if [ "$p" = svmsim ]; then cmd=("${SVMSIM_CMD[@]}"); else cmd=("${QEMU_CMD[@]}"); fi
        # the boot-only image exits with value 0: status 1 under both
        /usr/bin/time -f '%M' -o "$rss_file" "${cmd[@]}" "$G/bench_empty.elf" >/dev/null 2>&1 &&
            st=0 || st=$?
        [ "$st" = 1 ] || echo "bench: the boot-only image ended with status $st under $p" >&2
        printf '%-28s %14s %12s %12.1f\n' "boot only" "$(tail -n 1 "$rss_file")" "$p" \
            "$(echo "$ms * 1000" | bc -l)"
    done
    rm -f "$rss_file"
else
    echo "(GNU time not installed: no start-up and RSS rows)"
fi

# Nested round trips (L1 VMRUN -> L2 VMMCALL -> #VMEXIT to L1) per second of
# work time, the bare loop and the KVM-style one (clgi; vmload; vmrun;
# vmsave; stgi), and the erratum round trip (L2 VMLOAD in the host-reserved
# range -> #GP -> L0 -> #VMEXIT(VMLOAD) -> VMRUN; QEMU has no erratum: a plain
# VMLOAD intercept there): the count is what the guest reports.
printf '\n%-28s %14s %12s %12s\n' workload round_trips peer trips/s
# Then VMware backdoor GETVERSION calls per second at CPL0 (an IOIO exit) and
# at CPL3 (L0's #GP path, which QEMU TCG does not have).
for w in vmrun vmrun_kvm erratum backdoor backdoor_cpl3; do
    img="$G/bench_$w.elf"
    n=$(run_svmsim "$img" 2>/dev/null | sed -n 's/^RESULT round_trips \([0-9]*\).*/\1/p' || true)
    [ -n "$n" ] || { echo "bench: $img reported no round trips" >&2; exit 1; }
    peers="svmsim"
    [ -n "$QEMU" ] && [ "$w" != backdoor_cpl3 ] && peers="$peers qemu"
    for p in $peers; do
        b=$(median_wall "run_$p" "$G/bench_empty.elf")
        t=$(median_wall "run_$p" "$img")
        rate=$(echo "$n / ($t - $b)" | bc -l)
        printf '%-28s %14d %12s %12.0f\n' "$w (wall - baseline)" "$n" "$p" "$rate"
    done
done
[ -n "$QEMU" ] || echo "(qemu-system-x86_64 not installed: no QEMU column)"
