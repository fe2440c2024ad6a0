/* diff_main.c — owned by tests/diff: the differential test of the
 * simulator's CPU against the host CPU (ctest diff/cpu_vs_host), and the
 * self-test of the native oracle alone (diff/native_selftest).
 *
 * Each case is 1-8 random user-mode integer instructions (plus the setup
 * some of them need) run from the same registers, flags and 64 KiB of
 * scratch memory on the host and in the simulator. The case passes when
 * the host faulted and the simulator shut down (no IDT: every exception
 * triple-faults), or when both finished and agree on the 16 GPRs, the
 * scratch memory and every flag that the last instruction writing it left
 * defined.
 *
 * Environment: SVMSIM_DIFF_SEED (default 0x5eed), SVMSIM_DIFF_COUNT (cases
 * to compare), SVMSIM_DIFF_FIRST (index of the first case), so one case is
 * replayed with SVMSIM_DIFF_SEED=s SVMSIM_DIFF_FIRST=i SVMSIM_DIFF_COUNT=1.
 * Arguments: --native-selftest checks the oracle (trampoline round trip,
 * determinism, only the intended faults) without running the simulator;
 * --dump prints every case.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <Zydis/Zydis.h>

#include "diff_case.h"
#include "diff_flags.h"
#include "diff_gen.h"
#include "diff_native.h"
#include "diff_rng.h"
#include "diff_sim.h"

#define DEFAULT_SEED 0x5eedull
#ifdef SVMSIM_DIFF_SANITIZED
#define DEFAULT_COUNT 20000u /* ~2 s under ASan+UBSan here: well under a minute on slow cores */
#else
#define DEFAULT_COUNT 50000u /* ~2.5 s */
#endif
#define MAX_PRINTED_FAILURES 20u

static const char *const gpr_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                           "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

struct options {
    uint64_t seed, first, count;
    bool native_selftest;
    bool dump;                        /* print every case's code and input */
};

struct tally {
    uint64_t passed, failed, printed, skipped, native_faults, insns;
    bool seen[ZYDIS_MNEMONIC_MAX_VALUE + 1];
};

/* What one side did with a case. */
struct outcome {
    int signo;                        /* native: fault signal, 0 if none */
    struct diff_native_fault fault;
    struct svmsim_end end;            /* simulator only */
    struct diff_cpu cpu;
    uint8_t *mem;
};

static uint64_t env_u64(const char *name, uint64_t fallback)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *endp;
    uint64_t v = strtoull(s, &endp, 0);
    if (*endp) {
        fprintf(stderr, "diff: %s=%s is not a number\n", name, s);
        exit(2);
    }
    return v;
}

/* ---- printing ------------------------------------------------------------ */

static void print_code(const struct diff_case *c)
{
    printf("  code at %#llx, base register %s:\n", (unsigned long long)c->code_addr,
           gpr_names[c->base_reg]);
    ZydisDecoder decoder;
    ZydisFormatter formatter;
    ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisFormatterInit(&formatter, ZYDIS_FORMATTER_STYLE_INTEL);
    ZydisFormatterSetProperty(&formatter, ZYDIS_FORMATTER_PROP_FORCE_SIZE, ZYAN_TRUE);
    for (unsigned i = 0; i < c->n_insns; i++) {
        const struct diff_insn *insn = &c->insns[i];
        char hex[3 * 15 + 1] = "";
        for (unsigned b = 0; b < insn->len; b++)
            snprintf(hex + 3 * b, sizeof hex - 3 * b, "%02x ", insn->bytes[b]);
        char text[128] = "(undecodable)";
        ZydisDecodedInstruction d;
        ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
        if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, insn->bytes, insn->len, &d, ops)))
            ZydisFormatterFormatInstruction(&formatter, &d, ops, d.operand_count_visible, text,
                                            sizeof text, c->code_addr + insn->offset, NULL);
        printf("    +%03x  %-32s %s%s\n", insn->offset, hex, text, insn->setup ? "   ; setup" : "");
    }
}

static void print_cpu(const char *label, const struct diff_cpu *cpu)
{
    printf("  %s rflags=%#" PRIx64 "\n", label, cpu->rflags);
    for (unsigned i = 0; i < 16; i++)
        printf("%s%-3s=%016" PRIx64 "%s", i % 4 == 0 ? "    " : "  ", gpr_names[i], cpu->gpr[i],
               i % 4 == 3 ? "\n" : "");
}

static const char *end_name(enum svmsim_end_reason r)
{
    switch (r) {
    case SVMSIM_END_NONE: return "none";
    case SVMSIM_END_EXIT_PORT: return "exit-port";
    case SVMSIM_END_HALTED: return "halted";
    case SVMSIM_END_SHUTDOWN: return "shutdown";
    case SVMSIM_END_MAX_INSNS: return "max-insns";
    case SVMSIM_END_EMULATION_FAILURE: return "emulation-failure";
    case SVMSIM_END_INTERNAL: return "internal";
    case SVMSIM_END_OUTPUT: return "output";
    }
    return "?";
}

/* The instruction at a host RIP, for a fault report. */
static int insn_at(const struct diff_case *c, uint64_t rip)
{
    for (unsigned i = 0; i < c->n_insns; i++)
        if (rip == c->code_addr + c->insns[i].offset)
            return (int)i;
    return -1;
}

static void print_memory_diff(const uint8_t *a, const uint8_t *b)
{
    unsigned shown = 0;
    for (size_t i = 0; i < DIFF_SCRATCH_SIZE && shown < 4;) {
        if (a[i] == b[i]) {
            i++;
            continue;
        }
        size_t start = i & ~(size_t)7;
        printf("    memory %#llx: native", (unsigned long long)(DIFF_SCRATCH_ADDR + start));
        for (size_t j = start; j < start + 8; j++)
            printf(" %02x", a[j]);
        printf("  sim");
        for (size_t j = start; j < start + 8; j++)
            printf(" %02x", b[j]);
        printf("\n");
        shown++;
        i = start + 8;
    }
}

static void print_failure(const struct options *opt, const struct diff_case *c, uint32_t defined,
                          const struct outcome *nat, const struct outcome *sim, const char *why)
{
    char flags[64];
    printf("FAIL case %" PRIu64 ": %s (replay: SVMSIM_DIFF_SEED=%#" PRIx64
           " SVMSIM_DIFF_FIRST=%" PRIu64 " SVMSIM_DIFF_COUNT=1)\n",
           c->index, why, opt->seed, c->index);
    print_code(c);
    diff_flags_format(defined, flags, sizeof flags);
    printf("  flags compared: %s\n", flags);
    print_cpu("input:", &c->in);
    if (nat->signo) {
        int at = insn_at(c, nat->fault.rip);
        printf("  native: fault %s at rip %#" PRIx64 " (insn %d), address %#" PRIx64 "\n",
               strsignal(nat->signo), nat->fault.rip, at, nat->fault.addr);
    } else {
        print_cpu("native: finished,", &nat->cpu);
    }
    printf("  sim: end=%s status=%d rip=%#" PRIx64 " insns=%" PRIu64 " \"%s\"\n",
           end_name(sim->end.reason), sim->end.status, sim->end.rip, sim->end.insns,
           sim->end.message);
    if (nat->signo || sim->end.reason != SVMSIM_END_HALTED)
        return;
    print_cpu("sim:", &sim->cpu);
    printf("  differences:\n");
    for (unsigned i = 0; i < 16; i++)
        if (nat->cpu.gpr[i] != sim->cpu.gpr[i])
            printf("    %-6s native=%016" PRIx64 " sim=%016" PRIx64 "\n", gpr_names[i],
                   nat->cpu.gpr[i], sim->cpu.gpr[i]);
    uint32_t bad = (uint32_t)((nat->cpu.rflags ^ sim->cpu.rflags) & defined);
    if (bad) {
        diff_flags_format(bad, flags, sizeof flags);
        printf("    rflags native=%#" PRIx64 " sim=%#" PRIx64 " differ in %s\n", nat->cpu.rflags,
               sim->cpu.rflags, flags);
    }
    print_memory_diff(nat->mem, sim->mem);
}

/* ---- one case ---------------------------------------------------------------- */

/* Runs the case natively: first the prefixes that end right before an
 * instruction whose flag effect depends on run-time state (a CL count, RCX
 * of REPE/REPNE), to learn that state; then the whole case. Sets *defined
 * to the flags to compare; false when the case has an undefined result
 * (16-bit SHLD/SHRD by more than 16, or an instruction reading a flag left
 * undefined, which the generator normally prevents) and must be skipped. */
static bool native_case(struct diff_native *nat, const struct diff_case *c, struct outcome *out,
                        uint32_t *defined)
{
    uint32_t mask = DIFF_CONTROLLED;
    bool undefined_result = false;
    for (unsigned i = 0; i < c->n_insns; i++) {
        struct diff_cpu before;
        const struct diff_cpu *state = NULL;
        if (diff_flags_needs_state(&c->insns[i])) {
            struct diff_native_fault f;
            if (diff_native_run(nat, c->code_addr, c->code, c->insns[i].offset, &c->in, c->mem,
                                &before, &f) != 0)
                break; /* faults before reaching it: the whole case faults */
            state = &before;
        }
        struct diff_flag_effect e = diff_flags_effect(&c->insns[i], state);
        undefined_result |= e.result_undefined || (e.read & ~mask);
        mask = diff_flags_fold(mask, e);
    }
    out->signo = diff_native_run(nat, c->code_addr, c->code, c->code_len, &c->in, c->mem, &out->cpu,
                                 &out->fault);
    memcpy(out->mem, diff_native_scratch(nat), DIFF_SCRATCH_SIZE);
    *defined = mask;
    return out->signo != 0 || !undefined_result;
}

/* NULL when the two sides agree, else why not. */
static const char *compare(const struct diff_case *c, uint32_t defined, const struct outcome *nat,
                           const struct outcome *sim)
{
    if (nat->signo)
        return sim->end.reason == SVMSIM_END_SHUTDOWN ? NULL
                                                      : "host faulted, simulator did not shut down";
    if (sim->end.reason != SVMSIM_END_HALTED)
        return "simulator did not reach the HLT";
    uint64_t hlt = c->code_addr + c->code_len;
    if (sim->end.rip != hlt && sim->end.rip != hlt + 1)
        return "simulator halted elsewhere than at the end of the sequence";
    if (memcmp(nat->cpu.gpr, sim->cpu.gpr, sizeof nat->cpu.gpr) != 0)
        return "registers differ";
    if ((nat->cpu.rflags ^ sim->cpu.rflags) & defined)
        return "defined flags differ";
    if (memcmp(nat->mem, sim->mem, DIFF_SCRATCH_SIZE) != 0)
        return "memory differs";
    return NULL;
}

static void note_coverage(struct tally *t, const struct diff_case *c)
{
    for (unsigned i = 0; i < c->n_insns; i++)
        t->seen[c->insns[i].mnemonic] = true;
    t->insns += c->n_insns;
}

static bool check_flag_table(const struct diff_case *c)
{
    for (unsigned i = 0; i < c->n_insns; i++)
        if (!diff_flags_known(c->insns[i].mnemonic)) {
            printf("FAIL case %" PRIu64 ": generator emitted %s, which the flag table lacks\n",
                   c->index, ZydisMnemonicGetString(c->insns[i].mnemonic));
            return false;
        }
    return true;
}

static void print_coverage(const struct tally *t)
{
    unsigned n = 0;
    for (unsigned m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
        n += t->seen[m];
    printf("coverage: %u distinct mnemonics:", n);
    for (unsigned m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
        if (t->seen[m])
            printf(" %s", ZydisMnemonicGetString((ZydisMnemonic)m));
    printf("\n");
}

/* POPCNT, LZCNT and TZCNT are tested only when both the host and the
 * simulated CPU report them: without the feature F3 0F BD is BSR. */
static void restrict_to_simulated_cpu(struct diff_sim *ds, struct diff_gen_options *gopt)
{
    uint32_t l0[4], l1[4], l7[4] = { 0 }, l80[4], l81[4] = { 0 };
    printf("diff: host CPUID: popcnt=%d lzcnt=%d tzcnt=%d\n", gopt->popcnt, gopt->lzcnt,
           gopt->tzcnt);
    if (!diff_sim_cpuid(ds, 0, 0, l0) || !diff_sim_cpuid(ds, 1, 0, l1) ||
        (l0[0] >= 7 && !diff_sim_cpuid(ds, 7, 0, l7)) ||
        !diff_sim_cpuid(ds, 0x80000000u, 0, l80) ||
        (l80[0] >= 0x80000001u && !diff_sim_cpuid(ds, 0x80000001u, 0, l81))) {
        printf("diff: CPUID does not run in the simulator; going by the host alone\n");
        return;
    }
    bool popcnt = (l1[2] >> 23) & 1, tzcnt = (l7[1] >> 3) & 1, lzcnt = (l81[2] >> 5) & 1;
    printf("diff: simulated CPUID: popcnt=%d lzcnt=%d tzcnt=%d\n", popcnt, lzcnt, tzcnt);
    gopt->popcnt &= popcnt;
    gopt->lzcnt &= lzcnt;
    gopt->tzcnt &= tzcnt;
}

/* ---- modes ------------------------------------------------------------------- */

static int run_differential(const struct options *opt, struct diff_case *c,
                            struct diff_native *nat, struct outcome *native, struct outcome *sim)
{
    char err[256];
    struct diff_sim *ds = diff_sim_create(err, sizeof err);
    if (!ds) {
        printf("diff: cannot create the simulator: %s\n0 passed, 1 failed\n", err);
        return 1;
    }
    struct diff_gen_options gopt;
    diff_gen_options_from_host(&gopt);
    printf("diff: seed %#" PRIx64 ", cases %" PRIu64 "..%" PRIu64 "\n", opt->seed, opt->first,
           opt->first + opt->count - 1);
    restrict_to_simulated_cpu(ds, &gopt);

    struct tally t = { 0 };
    uint64_t rejected = 0;
    clock_t start = clock();
    for (uint64_t index = opt->first; t.passed + t.failed < opt->count; index++) {
        diff_gen_case(c, opt->seed, index, &gopt);
        rejected += c->rejected;
        if (opt->dump) {
            printf("case %" PRIu64 ":\n", index);
            print_code(c);
            print_cpu("input:", &c->in);
        }
        if (!check_flag_table(c)) {
            t.failed++;
            continue;
        }
        uint32_t defined;
        if (!native_case(nat, c, native, &defined)) {
            t.skipped++;
            continue;
        }
        if (diff_sim_run(ds, c->code_addr, c->code, c->code_len, &c->in, c->mem, &sim->cpu,
                         sim->mem, &sim->end) != 0) {
            printf("diff: simulator cannot run case %" PRIu64 ": %s\n", index, sim->end.message);
            t.failed++;
            break;
        }
        note_coverage(&t, c);
        t.native_faults += native->signo != 0;
        const char *why = compare(c, defined, native, sim);
        if (!why) {
            t.passed++;
            continue;
        }
        t.failed++;
        if (t.printed++ < MAX_PRINTED_FAILURES)
            print_failure(opt, c, defined, native, sim, why);
    }
    diff_sim_destroy(ds);
    if (t.printed > MAX_PRINTED_FAILURES)
        printf("(%" PRIu64 " more failures not shown)\n", t.printed - MAX_PRINTED_FAILURES);
    print_coverage(&t);
    printf("sequences: %" PRIu64 " compared (%" PRIu64 " instructions, %" PRIu64
           " ending in a host fault), %" PRIu64 " skipped for an undefined result, %" PRIu64
           " encoder requests rejected, %.1f s\n",
           t.passed + t.failed, t.insns, t.native_faults, t.skipped, rejected,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", t.passed, t.failed);
    return t.failed != 0;
}

/* The faults the generator means to cause: #DE, and #GP (#SS when the
 * base is RBP) through the non-canonical pointers of fam_noncanonical:
 * SIGSEGV or SIGBUS with si_addr 0 at the access after the MOV setup. */
static bool expected_fault(const struct diff_case *c, const struct diff_native_fault *f)
{
    if (f->signo == SIGFPE)
        return true;
    int at = insn_at(c, f->rip);
    return (f->signo == SIGSEGV || f->signo == SIGBUS) && f->addr == 0 && at > 0 &&
           c->insns[at - 1].setup && c->insns[at - 1].mnemonic == ZYDIS_MNEMONIC_MOV;
}

/* The oracle alone: an empty sequence must give back exactly its input
 * (the trampoline loses nothing and writes nothing below the guest RSP), a
 * case must give the same result twice, and only #DE may fault. */
static int run_native_selftest(const struct options *opt, struct diff_case *c,
                               struct diff_native *nat, struct outcome *a, struct outcome *b)
{
    struct diff_gen_options gopt;
    diff_gen_options_from_host(&gopt);
    struct tally t = { 0 };
    uint64_t rejected = 0;
    for (uint64_t index = opt->first; index < opt->first + opt->count; index++) {
        diff_gen_case(c, opt->seed, index, &gopt);
        note_coverage(&t, c);
        rejected += c->rejected;
        if (opt->dump) {
            printf("case %" PRIu64 ":\n", index);
            print_code(c);
            print_cpu("input:", &c->in);
        }
        const char *why = NULL;
        if (!check_flag_table(c))
            why = "flag table incomplete";

        a->signo =
            diff_native_run(nat, c->code_addr, c->code, 0, &c->in, c->mem, &a->cpu, &a->fault);
        if (!why && (a->signo || memcmp(a->cpu.gpr, c->in.gpr, sizeof c->in.gpr) != 0 ||
                     ((a->cpu.rflags ^ c->in.rflags) & DIFF_CONTROLLED) ||
                     memcmp(diff_native_scratch(nat), c->mem, DIFF_SCRATCH_SIZE) != 0))
            why = "empty sequence does not give its input back";

        a->signo = diff_native_run(nat, c->code_addr, c->code, c->code_len, &c->in, c->mem, &a->cpu,
                                   &a->fault);
        memcpy(a->mem, diff_native_scratch(nat), DIFF_SCRATCH_SIZE);
        b->signo = diff_native_run(nat, c->code_addr, c->code, c->code_len, &c->in, c->mem, &b->cpu,
                                   &b->fault);
        memcpy(b->mem, diff_native_scratch(nat), DIFF_SCRATCH_SIZE);
        t.native_faults += a->signo != 0;
        if (!why && a->signo != b->signo)
            why = "faults only once of two runs";
        else if (!why && a->signo && !expected_fault(c, &a->fault))
            why = "unexpected host fault (the generator left scratch)";
        else if (!why && !a->signo &&
                 (memcmp(a->cpu.gpr, b->cpu.gpr, sizeof a->cpu.gpr) != 0 ||
                  ((a->cpu.rflags ^ b->cpu.rflags) & DIFF_CONTROLLED) ||
                  memcmp(a->mem, b->mem, DIFF_SCRATCH_SIZE) != 0))
            why = "two runs differ";
        if (!why) {
            t.passed++;
            continue;
        }
        t.failed++;
        if (t.printed++ < MAX_PRINTED_FAILURES) {
            printf("FAIL case %" PRIu64 ": %s (SVMSIM_DIFF_SEED=%#" PRIx64 ")\n", index, why,
                   opt->seed);
            print_code(c);
            print_cpu("input:", &c->in);
            if (a->signo)
                printf("  fault %s at rip %#" PRIx64 " (insn %d), address %#" PRIx64 "\n",
                       strsignal(a->signo), a->fault.rip, insn_at(c, a->fault.rip), a->fault.addr);
            else
                print_cpu("run 1:", &a->cpu);
            if (!b->signo)
                print_cpu("run 2:", &b->cpu);
        }
    }
    print_coverage(&t);
    printf("sequences: %" PRIu64 " (%" PRIu64 " instructions, %" PRIu64
           " ending in #DE, #GP or #SS), %" PRIu64 " encoder requests rejected\n",
           t.passed + t.failed, t.insns, t.native_faults, rejected);
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", t.passed, t.failed);
    return t.failed != 0;
}

int main(int argc, char **argv)
{
    struct options opt = {
        .seed = env_u64("SVMSIM_DIFF_SEED", DEFAULT_SEED),
        .first = env_u64("SVMSIM_DIFF_FIRST", 0),
        .count = env_u64("SVMSIM_DIFF_COUNT", DEFAULT_COUNT),
    };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--native-selftest") == 0) {
            opt.native_selftest = true;
        } else if (strcmp(argv[i], "--dump") == 0) {
            opt.dump = true;
        } else {
            fprintf(stderr, "usage: %s [--native-selftest] [--dump]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    char err[256];
    struct diff_native *nat = diff_native_create(err, sizeof err);
    if (!nat) {
        printf("diff: cannot set up the native runner: %s\n0 passed, 1 failed\n", err);
        return 1;
    }
    struct diff_case *c = malloc(sizeof *c);
    struct outcome *a = calloc(2, sizeof *a);
    uint8_t *mem = malloc(2 * DIFF_SCRATCH_SIZE);
    if (!c || !a || !mem) {
        printf("diff: out of memory\n0 passed, 1 failed\n");
        return 1;
    }
    a[0].mem = mem;
    a[1].mem = mem + DIFF_SCRATCH_SIZE;
    int rc = opt.native_selftest ? run_native_selftest(&opt, c, nat, &a[0], &a[1])
                                 : run_differential(&opt, c, nat, &a[0], &a[1]);
    diff_native_destroy(nat);
    free(mem);
    free(a);
    free(c);
    return rc;
}
