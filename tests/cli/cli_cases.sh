#!/bin/sh
# cli_cases.sh — one behaviour of the svmsim command line per call.
#
# Owns: running the built svmsim binary with bad arguments or bad image files
# (made here, in a temporary directory) and checking the exit status and
# that stderr is exactly one line saying what is wrong (DESIGN.md: usage
# errors 64, image cannot be loaded 66).
# Must not: depend on guest programs or on the CPU/L0 behaving: no case here
# runs a guest.
#
# usage: cli_cases.sh SVMSIM_BINARY VERSION CASE
set -u
bin=$1
version=$2
case_name=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svmsim-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL [$case_name]: $*" >&2
    echo "--- stdout:" >&2; cat "$tmp/out" >&2
    echo "--- stderr:" >&2; cat "$tmp/err" >&2
    exit 1
}

run() {
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

expect_status() {
    [ "$status" -eq "$1" ] || fail "exit status $status, expected $1"
}

expect_one_line() {
    n=$(wc -l <"$tmp/err")
    [ "$n" -eq 1 ] || fail "stderr has $n lines, expected exactly 1"
}

# A usage error: status 64 and exactly this line on stderr.
expect_usage_error() {
    expect_status 64
    expect_one_line
    [ "$(cat "$tmp/err")" = "$1" ] || fail "stderr is '$(cat "$tmp/err")', expected '$1'"
}

# An image error: status 66, one line starting "svmsim: " that names the
# file and contains each further argument.
expect_image_error() {
    file=$1; shift
    expect_status 66
    expect_one_line
    case "$(cat "$tmp/err")" in
    "svmsim: "*) ;;
    *) fail "stderr does not start with 'svmsim: '" ;;
    esac
    grep -qF -- "$file" "$tmp/err" || fail "stderr does not name '$file'"
    for s; do
        grep -qF -- "$s" "$tmp/err" || fail "stderr lacks '$s'"
    done
}

# Bytes from octal escapes, then n zero bytes.
make_file() { # PATH PRINTF-BYTES ZEROS
    printf "$2" >"$1"
    [ "$3" -gt 0 ] && head -c "$3" /dev/zero >>"$1"
    return 0
}

case "$case_name" in
# ---- global
help)
    run --help
    expect_status 0
    grep -q '^usage: svmsim' "$tmp/out" || fail "no usage on stdout"
    ;;
version)
    run --version
    expect_status 0
    [ "$(cat "$tmp/out")" = "svmsim $version" ] || fail "version line is '$(cat "$tmp/out")'"
    ;;
no_command)
    run
    expect_usage_error "svmsim: missing command (try 'svmsim --help')"
    ;;
unknown_command)
    run frobnicate x.elf
    expect_usage_error "svmsim: unknown command 'frobnicate' (try 'svmsim --help')"
    ;;
unknown_global_option)
    run --frob
    expect_usage_error "svmsim: unknown option '--frob' (try 'svmsim --help')"
    ;;
# ---- run: options
run_help)
    run run --help
    expect_status 0
    grep -q '^usage: svmsim run' "$tmp/out" || fail "no usage on stdout"
    ;;
run_missing_image)
    run run --max-insns=10
    expect_usage_error "svmsim: run: missing IMAGE (try 'svmsim run --help')"
    ;;
run_extra_argument)
    run run a.elf b.elf
    expect_usage_error "svmsim: run: unexpected argument 'b.elf' (one IMAGE only)"
    ;;
run_unknown_option)
    run run --frob=1 a.elf
    expect_usage_error "svmsim: run: unknown option '--frob' (try 'svmsim run --help')"
    ;;
run_mem_not_a_size)
    run run --mem=lots a.elf
    expect_usage_error "svmsim: --mem: 'lots' is not a size"
    ;;
run_mem_below_2_mib)
    run run --mem 1M a.elf
    expect_usage_error "svmsim: --mem: '1M' is less than 2 MiB"
    ;;
run_mem_not_page_multiple)
    run run --mem=3000001 a.elf
    expect_usage_error "svmsim: --mem: '3000001' is not a multiple of 4 KiB"
    ;;
run_max_insns_negative)
    run run --max-insns=-5 a.elf
    expect_usage_error "svmsim: --max-insns: '-5' is not a non-negative integer"
    ;;
run_missing_value)
    run run a.elf --max-insns
    expect_usage_error "svmsim: --max-insns: missing value"
    ;;
run_flag_with_value)
    run run --vls=yes a.elf
    expect_usage_error "svmsim: --vls does not take a value"
    ;;
run_maxphyaddr_out_of_range)
    run run --maxphyaddr=53 a.elf
    expect_usage_error "svmsim: --maxphyaddr: '53' is not in 32..52"
    ;;
run_smp_too_many)
    run run --smp=65 a.elf
    expect_usage_error "svmsim: --smp: 65 vCPUs: at most 64"
    ;;
run_smp_zero)
    run run --smp=0 a.elf
    expect_usage_error "svmsim: --smp: '0' is not a vCPU count"
    ;;
run_unknown_semantics)
    run run --semantics=kvm-6.0 a.elf
    expect_usage_error "svmsim: --semantics: 'kvm-6.0' is not one of kvm-7.1, kvm-7.0, architectural"
    ;;
run_host_reserved_malformed)
    run run --host-reserved=0x3000000 a.elf
    expect_usage_error "svmsim: --host-reserved: '0x3000000' is not START-END"
    ;;
run_host_reserved_reversed)
    run run --host-reserved 0x2000-0x1000 a.elf
    expect_usage_error "svmsim: --host-reserved: '0x2000-0x1000' starts after it ends"
    ;;
run_vmware_version_not_a_number)
    run run --vmware-version=six a.elf
    expect_usage_error "svmsim: --vmware-version: 'six' is not a 32-bit number"
    ;;
run_vmware_version_too_large)
    run run --vmware-version=0x100000000 a.elf
    expect_usage_error "svmsim: --vmware-version: '0x100000000' is not a 32-bit number"
    ;;
run_vmware_type_negative)
    run run --vmware-type=-1 a.elf
    expect_usage_error "svmsim: --vmware-type: '-1' is not a 32-bit number"
    ;;
run_uuid_too_short)
    run run --uuid=12345678-1234-1234-1234-12345678901 a.elf
    expect_usage_error "svmsim: --uuid: '12345678-1234-1234-1234-12345678901' is not XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
    ;;
run_uuid_not_hex)
    run run --uuid=1234567g-1234-1234-1234-123456789abc a.elf
    expect_usage_error "svmsim: --uuid: '1234567g-1234-1234-1234-123456789abc' is not XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
    ;;
run_uuid_dash_misplaced)
    run run --uuid=1234567-81234-1234-1234-123456789abc a.elf
    expect_usage_error "svmsim: --uuid: '1234567-81234-1234-1234-123456789abc' is not XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
    ;;
run_guestinfo_no_equals)
    run run --guestinfo=foo a.elf
    expect_usage_error "svmsim: --guestinfo: 'foo' is not KEY=VALUE"
    ;;
run_guestinfo_empty_key)
    run run --guestinfo==bar a.elf
    expect_usage_error "svmsim: --guestinfo: '=bar' is not KEY=VALUE"
    ;;
run_guestinfo_key_with_space)
    run run "--guestinfo=my key=bar" a.elf
    expect_usage_error "svmsim: --guestinfo: 'my key=bar': KEY cannot contain a space"
    ;;
run_guestinfo_prefixed_key)
    run run --guestinfo=guestinfo.foo=bar a.elf
    expect_usage_error "svmsim: --guestinfo: 'guestinfo.foo=bar': give KEY without the 'guestinfo.' prefix"
    ;;
run_guestinfo_too_many)
    set --
    i=0
    while [ "$i" -le 64 ]; do
        set -- "$@" "--guestinfo=k$i=v"
        i=$((i + 1))
    done
    run run "$@" a.elf
    expect_usage_error "svmsim: --guestinfo: more than 64 given"
    ;;
run_vmware_options_accepted)
    # Well-formed: parsing and creating the machine pass, loading fails.
    run run --vmware-version=0xffffffff --vmware-type=4 \
        --uuid=00112233-4455-6677-8899-AABBCCDDEEFF --guestinfo=foo=bar \
        --guestinfo "spaces=in the value" "$tmp/missing.elf"
    expect_image_error "$tmp/missing.elf"
    ;;
run_trace_cannot_open)
    # An output that cannot be written is status 74 (DESIGN.md), one line.
    run run --trace="$tmp/no/such/dir/t.jsonl" a.elf
    expect_status 74
    expect_one_line
    [ "$(cat "$tmp/err")" = "svmsim: --trace: cannot open '$tmp/no/such/dir/t.jsonl': No such file or directory" ] ||
        fail "stderr is '$(cat "$tmp/err")'"
    ;;
# ---- compare: options
compare_help)
    run compare --help
    expect_status 0
    grep -q '^usage: svmsim compare' "$tmp/out" || fail "no usage on stdout"
    ;;
compare_missing_image)
    run compare --semantics=kvm-7.0,kvm-7.1
    expect_usage_error "svmsim: compare: missing IMAGE (try 'svmsim compare --help')"
    ;;
compare_semantics_one_value)
    run compare --semantics=kvm-7.1 a.elf
    expect_usage_error "svmsim: compare: --semantics needs two values, A,B (one per side), not 'kvm-7.1'"
    ;;
compare_semantics_unknown)
    run compare --semantics=kvm-7.0,kvm-6.0 a.elf
    expect_usage_error "svmsim: --semantics: 'kvm-6.0' is not one of kvm-7.1, kvm-7.0, architectural"
    ;;
compare_sides_same)
    run compare --semantics=kvm-7.1,kvm-7.1 --a=--vls --b=--vls a.elf
    expect_usage_error "svmsim: compare: both sides run the same configuration (make them differ with --semantics=A,B, --a=OPTS or --b=OPTS)"
    ;;
compare_no_difference_given)
    run compare --vls a.elf
    expect_usage_error "svmsim: compare: both sides run the same configuration (make them differ with --semantics=A,B, --a=OPTS or --b=OPTS)"
    ;;
compare_unknown_option)
    run compare --frob --semantics=kvm-7.0,kvm-7.1 a.elf
    expect_usage_error "svmsim: compare: unknown option '--frob' (try 'svmsim compare --help')"
    ;;
compare_side_unknown_option)
    run compare --a="--vls --frob=1" a.elf
    expect_usage_error "svmsim: compare: --a: unknown option '--frob' (try 'svmsim run --help')"
    ;;
compare_side_bad_value)
    run compare --b=--svme-addr-chk,--mem=1M a.elf
    expect_usage_error "svmsim: --mem: '1M' is less than 2 MiB"
    ;;
compare_side_argument)
    run compare --b=b.elf a.elf
    expect_usage_error "svmsim: compare: --b: unexpected argument 'b.elf' (options only)"
    ;;
compare_trace)
    run compare --trace="$tmp/t.jsonl" --b=--vls a.elf
    expect_usage_error "svmsim: compare: --trace cannot be used with compare"
    ;;
compare_side_explain)
    run compare --b=--vls,--explain a.elf
    expect_usage_error "svmsim: compare: --b: --explain cannot be used with compare"
    ;;
compare_extra_argument)
    run compare --b=--vls a.elf b.elf
    expect_usage_error "svmsim: compare: unexpected argument 'b.elf' (one IMAGE only)"
    ;;
# ---- compare: images that cannot be loaded
compare_image_missing)
    run compare --semantics=kvm-7.0,kvm-7.1 "$tmp/missing.elf"
    expect_image_error "$tmp/missing.elf"
    ;;
compare_image_text_file)
    echo "this is not an ELF file" >"$tmp/text.elf"
    run compare --b=--no-nested "$tmp/text.elf"
    expect_image_error "$tmp/text.elf" "not an ELF file (bad magic at offset 0)"
    ;;
# ---- run: images that cannot be loaded
image_missing)
    run run "$tmp/missing.elf"
    expect_image_error "$tmp/missing.elf"
    ;;
image_text_file)
    echo "this is not an ELF file" >"$tmp/text.elf"
    run run "$tmp/text.elf"
    expect_image_error "$tmp/text.elf" "not an ELF file (bad magic at offset 0)"
    ;;
image_empty_file)
    : >"$tmp/empty.elf"
    run run "$tmp/empty.elf"
    expect_image_error "$tmp/empty.elf" "not an ELF file (bad magic at offset 0)"
    ;;
image_truncated_header)
    make_file "$tmp/trunc.elf" '\177ELF\002\001\001' 0
    run run "$tmp/trunc.elf"
    expect_image_error "$tmp/trunc.elf" "truncated: ELF header needs 0x40 bytes, file has 0x7"
    ;;
image_32_bit)
    make_file "$tmp/elf32.elf" '\177ELF\001\001\001' 57
    run run "$tmp/elf32.elf"
    expect_image_error "$tmp/elf32.elf" "e_ident[EI_CLASS] is 1 (ELFCLASS32), expected 2 (ELFCLASS64)"
    ;;
image_truncated_program_headers)
    # ELF64 LE ET_EXEC x86-64, e_phoff 0x40, e_phentsize 56, e_phnum 2; file ends at the header.
    make_file "$tmp/phdr.elf" '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\076\000\001\000\000\000\000\000\020\000\000\000\000\000\100\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\100\000\070\000\002\000\000\000\000\000\000\000' 0
    run run "$tmp/phdr.elf"
    expect_image_error "$tmp/phdr.elf" "truncated: program header table at offset 0x40 needs 0x70 bytes, file has 0x40"
    ;;
*)
    echo "cli_cases.sh: unknown case '$case_name'" >&2
    exit 2
    ;;
esac
exit 0
