/* diff_native.c — owned by tests/diff: runs generated sequences on the host
 * CPU through diff_trampoline.S and turns the exceptions they raise (#DE,
 * and anything unexpected) into a reported fault instead of a crash. */
#define _GNU_SOURCE /* REG_RIP in ucontext_t */
#include "diff_native.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <Zydis/Zydis.h>

#define NATIVE_ALTSTACK_SIZE (256u * 1024u)

/* diff_trampoline.S */
void diff_native_enter(struct diff_cpu *cpu, const void *code);
void diff_native_exit(void);

static const int native_fault_signals[] = { SIGFPE, SIGSEGV, SIGBUS, SIGILL, SIGTRAP };
#define NATIVE_NSIG (sizeof native_fault_signals / sizeof native_fault_signals[0])

struct diff_native {
    uint8_t *code;
    uint8_t *scratch;
    void *altstack;
    stack_t old_altstack;
    struct sigaction old_actions[NATIVE_NSIG];
};

/* The signal handler has to find its way back: this is the one piece of
 * mutable file-scope state, and the reason only one diff_native may exist. */
static sigjmp_buf native_jmp;
static volatile sig_atomic_t native_armed;
static struct diff_native_fault native_last_fault;
static bool native_exists;

static void native_on_fault(int signo, siginfo_t *info, void *uctx_void)
{
    if (!native_armed) {
        /* A fault of the test itself: let it kill the process as it would. */
        signal(signo, SIG_DFL);
        return;
    }
    const ucontext_t *uctx = uctx_void;
    native_last_fault.signo = signo;
    native_last_fault.rip = (uint64_t)uctx->uc_mcontext.gregs[REG_RIP];
    native_last_fault.addr = (uint64_t)(uintptr_t)info->si_addr;
    native_armed = 0;
    siglongjmp(native_jmp, 1);
}

static void *native_map_fixed(uint64_t addr, size_t len, int prot, char *err, size_t errlen)
{
    void *want = (void *)(uintptr_t)addr;
    void *p = mmap(want, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %zu bytes at %#llx: %s", len, (unsigned long long)addr,
                 strerror(errno));
        return NULL;
    }
    if (p != want) { /* a kernel older than 4.17 took the address as a hint */
        munmap(p, len);
        snprintf(err, errlen, "address %#llx is taken in this process", (unsigned long long)addr);
        return NULL;
    }
    return p;
}

struct diff_native *diff_native_create(char *err, size_t errlen)
{
    if (native_exists) {
        snprintf(err, errlen, "only one native runner may exist");
        return NULL;
    }
    struct diff_native *nat = calloc(1, sizeof *nat);
    if (!nat) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nat->code = native_map_fixed(DIFF_CODE_ADDR, DIFF_CODE_AREA,
                                 PROT_READ | PROT_WRITE | PROT_EXEC, err, errlen);
    nat->scratch = native_map_fixed(DIFF_SCRATCH_ADDR, DIFF_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                                    err, errlen);
    nat->altstack = malloc(NATIVE_ALTSTACK_SIZE);
    if (!nat->code || !nat->scratch || !nat->altstack) {
        if (!nat->altstack)
            snprintf(err, errlen, "out of memory");
        if (nat->code)
            munmap(nat->code, DIFF_CODE_AREA);
        if (nat->scratch)
            munmap(nat->scratch, DIFF_SCRATCH_SIZE);
        free(nat->altstack);
        free(nat);
        return NULL;
    }

    /* The guest's RSP points into scratch when it faults: the kernel must not
     * build the signal frame there. */
    stack_t ss = { .ss_sp = nat->altstack, .ss_size = NATIVE_ALTSTACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, &nat->old_altstack);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = native_on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NATIVE_NSIG; i++)
        sigaction(native_fault_signals[i], &sa, &nat->old_actions[i]);
    native_exists = true;
    return nat;
}

void diff_native_destroy(struct diff_native *nat)
{
    if (!nat)
        return;
    for (size_t i = 0; i < NATIVE_NSIG; i++)
        sigaction(native_fault_signals[i], &nat->old_actions[i], NULL);
    sigaltstack(&nat->old_altstack, NULL);
    munmap(nat->code, DIFF_CODE_AREA);
    munmap(nat->scratch, DIFF_SCRATCH_SIZE);
    free(nat->altstack);
    free(nat);
    native_exists = false;
}

const uint8_t *diff_native_scratch(const struct diff_native *nat)
{
    return nat->scratch;
}

/* `jmp qword ptr [rip+0]` followed by the address of diff_native_exit. */
static size_t native_append_return(uint8_t *dst)
{
    ZydisEncoderRequest req;
    memset(&req, 0, sizeof req);
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.mnemonic = ZYDIS_MNEMONIC_JMP;
    req.operand_count = 1;
    req.operands[0].type = ZYDIS_OPERAND_TYPE_MEMORY;
    req.operands[0].mem.base = ZYDIS_REGISTER_RIP;
    req.operands[0].mem.displacement = 0;
    req.operands[0].mem.size = 8;
    ZyanUSize len = ZYDIS_MAX_INSTRUCTION_LENGTH;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, dst, &len))) {
        fprintf(stderr, "diff: Zydis cannot encode the return jump\n");
        abort();
    }
    uint64_t target = (uint64_t)(uintptr_t)&diff_native_exit;
    memcpy(dst + len, &target, sizeof target);
    return len + sizeof target;
}

int diff_native_run(struct diff_native *nat, uint64_t code_addr, const uint8_t *code, size_t len,
                    const struct diff_cpu *in, const uint8_t *mem, struct diff_cpu *out,
                    struct diff_native_fault *fault)
{
    if (code_addr < DIFF_CODE_ADDR || code_addr + len + 32 > DIFF_CODE_ADDR + DIFF_CODE_AREA) {
        fprintf(stderr, "diff: sequence of %zu bytes at %#llx does not fit the code area\n", len,
                (unsigned long long)code_addr);
        abort();
    }
    uint8_t *at = nat->code + (code_addr - DIFF_CODE_ADDR);
    memcpy(at, code, len);
    native_append_return(at + len);
    memcpy(nat->scratch, mem, DIFF_SCRATCH_SIZE);

    struct diff_cpu cpu = *in;
    uint64_t host_flags = __builtin_ia32_readeflags_u64();
    cpu.rflags = (host_flags & ~(uint64_t)DIFF_CONTROLLED) | (in->rflags & DIFF_CONTROLLED);

    native_armed = 1;
    if (sigsetjmp(native_jmp, 0) == 0) {
        diff_native_enter(&cpu, at);
        native_armed = 0;
        *out = cpu;
        return 0;
    }
    *fault = native_last_fault;
    return fault->signo;
}
