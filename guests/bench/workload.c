/* workload.c — the benchmark workloads of bench/run.sh, one per image
 * (WORKLOAD selects): 0 boots and exits (the baseline), 1 runs the
 * register loop `dec; jnz` NLOOP times (2 instructions per iteration),
 * 2 runs the memory loop `mov; add; mov; dec; jnz` NMEM times on a
 * variable alone on its page (5 instructions per iteration), 3 makes NVMRUN
 * nested round trips (L1 VMRUN -> L2 VMMCALL -> #VMEXIT to L1), 4 the same
 * with KVM's clgi; vmload; vmrun; vmsave; stgi around each VMRUN, 5 makes
 * NVMRUN erratum round trips (L2 VMLOAD with RAX in the host-reserved range
 * -> #GP -> L0 -> #VMEXIT(VMLOAD) to L1 -> VMRUN; on a CPU without the
 * erratum, as QEMU's, a plain VMLOAD intercept), 6 makes NBD VMware
 * backdoor GETVERSION calls at CPL0 (an IOIO exit), 7 the same at CPL3 with
 * IOPL 0 and the TSS denying the port (the #GP path; needs
 * --enable-vmware-backdoor, and QEMU cannot do it). The loops
 * are written in assembly so every peer runs exactly the same instructions
 * as ../shared/peers/kernel.asm does (L2 without nested paging there too).
 *
 * Workloads 8-11 look more like real kernel code than the two tight loops:
 * 8 (bigloop) is the body of 2 repeated to about 8 KiB of code in one loop
 * (bigloop64: 64 KiB), NBIG bodies in all; 9 (straight) runs about 200 KiB of straight-line
 * ALU/load/store code over a data array on its own pages NSTRAIGHT times;
 * 10 (codedata) runs NCODEDATA iterations of a loop that stores to, and
 * reads back, a cell on the same 4 KiB page as its own code; 11 (compiled)
 * runs NCOMPILED rounds of compiled C (quicksort of 64K pseudo-random
 * words, table CRC-32 over them, a sieve of Eratosthenes). Each prints
 * "RESULT checksum <value>" and ends with exit 3 if the value is not the
 * expected one: bigloop checks a closed form, the others EXPECT, the value
 * for their count (CMakeLists.txt), which guests/bench/native.sh computes
 * on the host CPU from this same file.
 */
#include "libguest.h"

static volatile uint64_t memvar[512] __attribute__((aligned(4096)));

#define BENCH_STR_(x) #x
#define BENCH_STR(x) BENCH_STR_(x)

#if WORKLOAD >= 9 && !defined(EXPECT)
#error "EXPECT (the RESULT value for this count) is not defined: see guests/bench/native.sh"
#endif

#if WORKLOAD >= 8
static void check_result(const char *name, uint64_t got, uint64_t expect)
{
    printf("RESULT checksum %#lx\n", (unsigned long)got);
    if (got != expect) {
        printf("%s: expected %#lx\n", name, (unsigned long)expect);
        guest_exit(3);
    }
}
#endif

#if WORKLOAD == 8 && !defined(BIG_BODIES)
/* Bodies of workload 2 per pass of the loop: 14 bytes each, plus the jump
 * out that only the body bringing the count to 0 takes (5 bytes, 2 in the
 * last bodies): 431 bodies and the jump back are 8170 bytes (the 64 KiB
 * variant, bigloop64, gives 3449: 65,515 bytes). */
#define BIG_BODIES 431
#endif

#if WORKLOAD == 9
/* straight_run(data, n): n passes over STRAIGHT_REPT copies of three
 * groups of 7 instructions (mov reg,[mem]; add/xor; lea; shl; mov [mem],reg)
 * in rax, rbx, rcx, rdx, r8-r11, whose loads and stores walk the 8 KiB at
 * data; returns the registers folded into one. About 94 bytes a copy:
 * 2185 copies are about 200 KiB. */
#define STRAIGHT_REPT 2185
static uint64_t straight_data[1024] __attribute__((aligned(4096)));
uint64_t straight_run(uint64_t *data, uint64_t n);
asm(".text\n.p2align 4\n.globl straight_run\n.type straight_run, @function\n"
    "straight_run:\n\t"
    "push %rbx\n\t"
    "mov $1, %eax\n\t"
    "movabs $0x9e3779b97f4a7c15, %rbx\n\t"
    "movabs $0xbf58476d1ce4e5b9, %rcx\n\t"
    "movabs $0x94d049bb133111eb, %rdx\n\t"
    "xor %r8d, %r8d\n\txor %r9d, %r9d\n\txor %r10d, %r10d\n\txor %r11d, %r11d\n\t"
    ".p2align 4\n"
    "1:\n\t"
    ".set .Lso, 0\n\t"
    ".rept " BENCH_STR(STRAIGHT_REPT) "\n\t"
    /* group A */
    "mov .Lso(%rdi), %rax\n\t"
    "add %rax, %rbx\n\t"
    "lea 0x11(%rbx,%rcx,2), %rdx\n\t"
    "xor %rdx, %rcx\n\t"
    "shl $3, %rdx\n\t"
    "xor %rdx, %rbx\n\t"
    "mov %rcx, ((.Lso + 4120) % 8192)(%rdi)\n\t"
    ".set .Lso, (.Lso + 296) % 8192\n\t"
    /* group B */
    "mov .Lso(%rdi), %r8\n\t"
    "xor %r8, %rcx\n\t"
    "add %rcx, %rdx\n\t"
    "lea (%rdx,%rbx,4), %r9\n\t"
    "shl $1, %r9\n\t"
    "add %r9, %rax\n\t"
    "mov %rax, ((.Lso + 4120) % 8192)(%rdi)\n\t"
    ".set .Lso, (.Lso + 296) % 8192\n\t"
    /* group C */
    "mov .Lso(%rdi), %r10\n\t"
    "lea -3(%r10,%rax,8), %r11\n\t"
    "xor %r11, %rbx\n\t"
    "add %rbx, %rcx\n\t"
    "shl $7, %r10\n\t"
    "xor %r10, %rdx\n\t"
    "mov %rdx, ((.Lso + 4120) % 8192)(%rdi)\n\t"
    ".set .Lso, (.Lso + 296) % 8192\n\t"
    ".endr\n\t"
    "dec %rsi\n\t"
    "jnz 1b\n\t"
    "xor %rbx, %rax\n\t"
    "add %rcx, %rax\n\t"
    "xor %rdx, %rax\n\t"
    "add %r9, %rax\n\t"
    "xor %r11, %rax\n\t"
    "pop %rbx\n\t"
    "ret\n"
    ".size straight_run, . - straight_run\n");
#endif

#if WORKLOAD == 10
/* codedata_run(n): n iterations of a loop that stores to codedata_cell,
 * which sits on the loop's own 4 KiB page (the function starts a page, the
 * cell is the next 64 bytes after its code), and reads it back, with some
 * ALU work between; returns the two chains folded into one. */
uint64_t codedata_run(uint64_t n);
asm(".text\n.p2align 12\n.globl codedata_run\n.type codedata_run, @function\n"
    "codedata_run:\n\t"
    "movabs $0x243f6a8885a308d3, %rax\n\t"
    "xor %edx, %edx\n\t"
    ".p2align 4\n"
    "1:\n\t"
    "mov %rax, codedata_cell(%rip)\n\t"
    "lea (%rax,%rax,4), %rcx\n\t"
    "rol $13, %rax\n\t"
    "xor %rcx, %rax\n\t"
    "add %rdi, %rax\n\t"
    "add codedata_cell(%rip), %rdx\n\t"
    "dec %rdi\n\t"
    "jnz 1b\n\t"
    "xor %rdx, %rax\n\t"
    "ret\n"
    ".size codedata_run, . - codedata_run\n"
    ".p2align 6\n"
    ".globl codedata_cell\n"
    "codedata_cell: .quad 0\n");
extern volatile uint64_t codedata_cell;
#endif

#if WORKLOAD == 11
#define NSORT 65536
#define SIEVE_N (1u << 20)
static uint32_t sort_a[NSORT];
static uint8_t sieve_a[SIEVE_N];
static uint32_t crc_table[256];

static void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* Hoare partition around the median of three; recurse into the smaller
 * side, loop on the larger; insertion sort below 16. */
static void quicksort(uint32_t *a, long lo, long hi)
{
    while (hi - lo >= 16) {
        long mid = lo + (hi - lo) / 2;
        uint32_t x = a[lo], y = a[mid], z = a[hi], p;
        p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = lo - 1, j = hi + 1;
        for (;;) {
            do i++; while (a[i] < p);
            do j--; while (a[j] > p);
            if (i >= j)
                break;
            uint32_t t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        if (j - lo < hi - j) {
            quicksort(a, lo, j);
            lo = j + 1;
        } else {
            quicksort(a, j + 1, hi);
            hi = j;
        }
    }
    for (long i = lo + 1; i <= hi; i++) {
        uint32_t v = a[i];
        long j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

/* Primes below n: their count plus their sum in the high bits. */
static uint64_t sieve(uint32_t n)
{
    uint64_t count = 0, sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sieve_a[i] = 1;
    sieve_a[0] = sieve_a[1] = 0;
    for (uint32_t i = 2; (uint64_t)i * i < n; i++)
        if (sieve_a[i])
            for (uint32_t j = i * i; j < n; j += i)
                sieve_a[j] = 0;
    for (uint32_t i = 2; i < n; i++)
        if (sieve_a[i]) {
            count++;
            sum += i;
        }
    return count | sum << 20;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull + (h >> 29);
}

static uint64_t compiled_rounds(uint64_t rounds)
{
    uint64_t h = 0xcbf29ce484222325ull;
    crc32_init();
    for (uint64_t r = 0; r < rounds; r++) {
        uint32_t s = 0x9e3779b9u ^ (uint32_t)(r * 0x85ebca6bu);
        for (long i = 0; i < NSORT; i++) { /* xorshift32 */
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            sort_a[i] = s;
        }
        quicksort(sort_a, 0, NSORT - 1);
        uint64_t w = 0;
        for (long i = 0; i < NSORT; i++) {
            if (i && sort_a[i - 1] > sort_a[i]) {
                printf("compiled: round %lu: not sorted at %ld\n", (unsigned long)r, i);
                guest_exit(3);
            }
            w += (uint64_t)sort_a[i] * (uint64_t)(i + 1);
        }
        h = mix(h, w);
        h = mix(h, crc32((const uint8_t *)sort_a, sizeof(sort_a)));
        h = mix(h, sieve(SIEVE_N - (uint32_t)r * 1000));
    }
    return h;
}
#endif

#if WORKLOAD == 6 || WORKLOAD == 7
/* The loop of ../shared/peers/kernel.asm's phase_backdoor. */
static uint64_t backdoor_calls(uint64_t n)
{
    uint64_t ebx = 0;
    asm volatile(".p2align 4\n1:\n\t"
                 "movl $0x564D5868, %%eax\n\txorl %%ebx, %%ebx\n\tmovl $10, %%ecx\n\t"
                 "movl $0x5658, %%edx\n\tinl %%dx, %%eax\n\t"
                 "dec %[n]\n\tjnz 1b"
                 : [n] "+r"(n), "=b"(ebx) : : "rax", "rcx", "rdx", "memory");
    return ebx;
}
#endif

#if WORKLOAD == 3 || WORKLOAD == 4 || WORKLOAD == 5
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
void bench_l2(void);
void bench_l2_erratum(void);
asm(".text\n.p2align 4\nbench_l2:\n\tvmmcall\n\tjmp bench_l2\n"
    ".p2align 4\nbench_l2_erratum:\n\tmovl $0x3000000, %eax\n\t"
    "1: vmload %rax\n\tjmp 1b\n");

/* One round trip ends with exit `code`, whose instruction is 3 bytes. */
static void nested_round_trips(uint64_t n, bool kvm_style, bool erratum)
{
    svm_setup();
    vmcb_ident(vmcb);
    vmcb->control.nested_ctl = 0; /* as the peers' kernel: no nested paging, */
    vmcb->control.tlb_ctl = 0;    /* and no TLB flush asked for */
    vmcb_set_guest(vmcb, erratum ? bench_l2_erratum : bench_l2, l2_stack + sizeof(l2_stack));
    uint32_t code = SVM_EXIT_VMMCALL;
    if (erratum) {
        vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
        code = SVM_EXIT_VMLOAD;
    }
    uint64_t bad = 0;
    if (kvm_style)
        asm volatile(".p2align 4\n1:\n\t"
                     "clgi\n\tvmload %%rax\n\tvmrun %%rax\n\tvmsave %%rax\n\tstgi\n\t"
                     "cmpl %[code], 0x70(%%rax)\n\tjne 2f\n\t"
                     "addq $3, 0x578(%%rax)\n\t"
                     "dec %[n]\n\tjnz 1b\n\tjmp 3f\n"
                     "2:\n\tmov $1, %[bad]\n3:"
                     : [n] "+r"(n), [bad] "+r"(bad) : "a"(vmcb), [code] "r"(code)
                     : "memory", "cc");
    else
        asm volatile(".p2align 4\n1:\n\t"
                     "vmrun %%rax\n\t"
                     "cmpl %[code], 0x70(%%rax)\n\tjne 2f\n\t"
                     "addq $3, 0x578(%%rax)\n\t"
                     "dec %[n]\n\tjnz 1b\n\tjmp 3f\n"
                     "2:\n\tmov $1, %[bad]\n3:"
                     : [n] "+r"(n), [bad] "+r"(bad) : "a"(vmcb), [code] "r"(code)
                     : "memory", "cc");
    if (bad) {
        printf("nested round trip ended with exit 0x%lx\n", vmcb->control.exit_code);
        guest_exit(3);
    }
    printf("RESULT round_trips %lu\n", (unsigned long)NVMRUN);
}
#endif

int main(void)
{
#if WORKLOAD == 1
    uint64_t n = NLOOP;
    asm volatile(".p2align 4\n1:\n\tdec %0\n\tjnz 1b" : "+r"(n));
#elif WORKLOAD == 2
    uint64_t n = NMEM, tmp;
    asm volatile(".p2align 4\n1:\n\t"
                 "mov (%[p]), %[t]\n\t"
                 "add %[n], %[t]\n\t"
                 "mov %[t], (%[p])\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b"
                 : [n] "+r"(n), [t] "=&r"(tmp)
                 : [p] "r"(&memvar[0])
                 : "memory");
#elif WORKLOAD == 3
    nested_round_trips(NVMRUN, false, false);
#elif WORKLOAD == 4
    nested_round_trips(NVMRUN, true, false);
#elif WORKLOAD == 5
    nested_round_trips(NVMRUN, false, true);
#elif WORKLOAD == 6 || WORKLOAD == 7
    uint64_t ebx = WORKLOAD == 6 ? backdoor_calls(NBD) : run_in_user(backdoor_calls, NBD, 0);
    if ((uint32_t)ebx != 0x564D5868) {
        printf("no VMware backdoor (EBX %#lx)\n", ebx);
        guest_exit(3);
    }
    printf("RESULT round_trips %lu\n", (unsigned long)NBD);
#elif WORKLOAD == 8
    uint64_t n = NBIG, tmp;
    asm volatile(".p2align 4\n1:\n\t"
                 ".rept " BENCH_STR(BIG_BODIES) "\n\t"
                 "mov (%[p]), %[t]\n\t"
                 "add %[n], %[t]\n\t"
                 "mov %[t], (%[p])\n\t"
                 "dec %[n]\n\t"
                 "jnz 2f\n\t"
                 "jmp 3f\n"
                 "2:\n\t"
                 ".endr\n\t"
                 "jmp 1b\n"
                 "3:"
                 : [n] "+r"(n), [t] "=&r"(tmp)
                 : [p] "r"(&memvar[0])
                 : "memory");
    /* memvar[0] += k for k = NBIG down to 1 */
    check_result("bigloop", memvar[0], (uint64_t)NBIG * ((uint64_t)NBIG + 1) / 2);
#elif WORKLOAD == 9
    for (unsigned i = 0; i < 1024; i++)
        straight_data[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ (uint64_t)i << 32;
    uint64_t h = straight_run(straight_data, NSTRAIGHT);
    for (unsigned i = 0; i < 1024; i++)
        h = (h ^ straight_data[i]) * 0x100000001b3ull;
    check_result("straight", h, EXPECT);
#elif WORKLOAD == 10
    if (((uintptr_t)&codedata_cell ^ (uintptr_t)codedata_run) >> 12) {
        printf("codedata: cell %p not on the page of the code %p\n", (void *)&codedata_cell,
               (void *)codedata_run);
        guest_exit(3);
    }
    uint64_t h = codedata_run(NCODEDATA);
    check_result("codedata", h ^ codedata_cell, EXPECT);
#elif WORKLOAD == 11
    check_result("compiled", compiled_rounds(NCOMPILED), EXPECT);
#endif
    return 0;
}
