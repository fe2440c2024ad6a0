/* integer.c — guest test: a broad exercise of integer instructions as gcc -O2
 * and inline assembly produce them. Arithmetic and flags, 128-bit multiply
 * and divide, shifts and rotates, bit operations, all 16 condition codes
 * through SETcc/CMOVcc/Jcc, string instructions with REP in both directions,
 * LOCK XADD/CMPXCHG/CMPXCHG16B, ENTER/LEAVE with nesting, and assorted
 * one-liners. Expected values are constants worked out by hand (Python) or
 * folded by the compiler from constant inputs; OPAQUE() keeps the inputs of
 * the code under test out of the optimiser's reach.
 */
#include "libguest.h"

#define CHECK(what, got, want)                                                  \
    do {                                                                        \
        uint64_t got_ = (uint64_t)(got), want_ = (uint64_t)(want);              \
        if (got_ == want_)                                                      \
            report(true, "%s", what);                                           \
        else                                                                    \
            report(false, "%s (got %#lx, want %#lx)", what, got_, want_);       \
    } while (0)

#define FLAGS_MASK (X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | X86_RFLAGS_SF | \
                    X86_RFLAGS_OF)

/* ---- Arithmetic and flags ------------------------------------------------ */

static uint64_t flags_of_sub(uint64_t a, uint64_t b)
{
    uint64_t fl;

    asm volatile("cmpq %2, %1\n\tpushfq\n\tpopq %0" : "=r"(fl) : "r"(a), "r"(b) : "cc");
    return fl & FLAGS_MASK;
}

static uint64_t flags_of_add8(uint8_t a, uint8_t b)
{
    uint64_t fl;

    asm volatile("addb %2, %1\n\tpushfq\n\tpopq %0" : "=r"(fl), "+q"(a) : "q"(b) : "cc");
    return fl & FLAGS_MASK;
}

static void test_arith(void)
{
    int64_t s;
    uint64_t u;

    CHECK("add overflow INT64_MAX + 1 detected", __builtin_add_overflow(OPAQUE(INT64_MAX), 1, &s), 1);
    CHECK("unsigned sub borrow 0 - 1 detected", __builtin_sub_overflow(OPAQUE(0ull), 1ull, &u), 1);
    CHECK("signed mul overflow 2^32 * 2^32 detected",
          __builtin_mul_overflow(OPAQUE((int64_t)1 << 32), (int64_t)1 << 32, &s), 1);
    CHECK("signed mul -3 * 5 = -15, no overflow", __builtin_mul_overflow(OPAQUE(-3ll), 5ll, &s) == 0 && s == -15, 1);

    /* CMP (SUB) flags: CF borrow, ZF, SF, OF signed overflow, PF of the low
     * byte, AF borrow out of bit 3. */
    CHECK("cmp 5, 5: ZF PF", flags_of_sub(OPAQUE(5ull), 5), X86_RFLAGS_ZF | X86_RFLAGS_PF);
    CHECK("cmp 0, 1: CF AF SF PF", flags_of_sub(OPAQUE(0ull), 1),
          X86_RFLAGS_CF | X86_RFLAGS_AF | X86_RFLAGS_SF | X86_RFLAGS_PF);
    CHECK("cmp INT64_MIN, 1: OF AF PF", flags_of_sub(OPAQUE(0x8000000000000000ull), 1),
          X86_RFLAGS_OF | X86_RFLAGS_AF | X86_RFLAGS_PF);
    CHECK("cmp 0x10, 0x01: AF PF", flags_of_sub(OPAQUE(0x10ull), 1), X86_RFLAGS_AF | X86_RFLAGS_PF);
    CHECK("addb 0x7f + 1: OF SF AF", flags_of_add8(OPAQUE((uint8_t)0x7f), 1),
          X86_RFLAGS_OF | X86_RFLAGS_SF | X86_RFLAGS_AF);
    CHECK("addb 0xff + 1: CF ZF AF PF", flags_of_add8(OPAQUE((uint8_t)0xff), 1),
          X86_RFLAGS_CF | X86_RFLAGS_ZF | X86_RFLAGS_AF | X86_RFLAGS_PF);

    {
        uint64_t v = OPAQUE(5ull), fl;
        asm volatile("negq %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "cc");
        CHECK("neg 5 = -5", v, (uint64_t)-5);
        CHECK("neg of nonzero sets CF", fl & X86_RFLAGS_CF, X86_RFLAGS_CF);
    }
    {
        /* INC/DEC leave CF alone. */
        uint64_t v = OPAQUE(~0ull), fl;
        asm volatile("stc\n\tincq %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "cc");
        CHECK("inc 0xffff...ff = 0 keeps CF=1, sets ZF", fl & (X86_RFLAGS_CF | X86_RFLAGS_ZF),
              X86_RFLAGS_CF | X86_RFLAGS_ZF);
    }
    {
        /* 128-bit add/sub: ADD/ADC and SUB/SBB chains. */
        unsigned __int128 a = ((unsigned __int128)OPAQUE(1ull) << 64) | OPAQUE(0xffffffffffffffffull);
        unsigned __int128 b = OPAQUE(1ull);
        unsigned __int128 c = a + b, d = c - OPAQUE((unsigned __int128)2);
        CHECK("128-bit add carries into the high half", (uint64_t)(c >> 64) == 2 && (uint64_t)c == 0, 1);
        CHECK("128-bit sub borrows from the high half",
              (uint64_t)(d >> 64) == 1 && (uint64_t)d == 0xfffffffffffffffeull, 1);
    }
    {
        uint64_t lo = OPAQUE(7ull), hi = OPAQUE(0ull);
        asm("stc\n\tadcq $0, %0\n\tclc\n\tsbbq $1, %1" : "+r"(lo), "+r"(hi) : : "cc");
        CHECK("adc with CF=1 adds one; sbb with CF=0 subtracts", lo == 8 && hi == (uint64_t)-1, 1);
    }
}

/* ---- Multiply and divide ------------------------------------------------- */

static void test_muldiv(void)
{
    unsigned __int128 p = (unsigned __int128)OPAQUE(0xdeadbeefcafebabeull) * OPAQUE(0x123456789abcdef1ull);
    __int128 sp = (__int128)OPAQUE(-3ll) * OPAQUE(INT64_MAX);
    uint64_t q, r, rax, rdx;

    CHECK("mul 64x64: high half", (uint64_t)(p >> 64), 0x0fd5bdeeeb2a01d8ull);
    CHECK("mul 64x64: low half", (uint64_t)p, 0xca165e3e6f4690deull);
    CHECK("imul 64x64 signed: high half", (uint64_t)((unsigned __int128)sp >> 64), 0xfffffffffffffffeull);
    CHECK("imul 64x64 signed: low half", (uint64_t)sp, 0x8000000000000003ull);

    rdx = OPAQUE(0x123456789ull);
    rax = OPAQUE(0x0011223344556677ull);
    asm("divq %2" : "+a"(rax), "+d"(rdx) : "r"(OPAQUE(0x9876543210ull)));
    CHECK("div 128/64: quotient", rax, 0x01e9131abdeade8dull);
    CHECK("div 128/64: remainder", rdx, 0x1181ebf3a7ull);

    q = OPAQUE(1000000000000000007ull) / OPAQUE(1000003ull);
    r = OPAQUE(1000000000000000007ull) % OPAQUE(1000003ull);
    CHECK("64-bit div by a variable", q, 999997000008ull);
    CHECK("64-bit mod by a variable", r, 999983ull);
    CHECK("64-bit div by a constant (multiply-high)", OPAQUE(1000000000000000007ull) / 1000003ull,
          999997000008ull);
    CHECK("signed div rounds toward zero", OPAQUE(-7ll) / 2, -3ll);
    CHECK("signed mod takes the dividend's sign", OPAQUE(-7ll) % 2, -1ll);
    CHECK("32-bit udiv", OPAQUE(0xfffffffeu) / OPAQUE(3u), 0x55555554u);
    CHECK("64-bit mul wraps", OPAQUE(1000000007ull) * OPAQUE(998244353ull), 0x0dda79f4dc1aca07ull);

    {
        uint64_t ax = OPAQUE(200ull);
        asm("movb $3, %%cl\n\tmulb %%cl" : "+a"(ax) : : "rcx", "cc");
        CHECK("mulb: AX = AL * r8", ax & 0xffff, 600);
        ax = OPAQUE(0x0457ull); /* 1111 */
        asm("movb $10, %%cl\n\tdivb %%cl" : "+a"(ax) : : "rcx", "cc");
        CHECK("divb: AL = quotient, AH = remainder", ax & 0xffff, (1 << 8) | 111);
    }
    {
        uint64_t fl, v = OPAQUE(0x100000000ull);
        asm("imulq %0, %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "cc");
        CHECK("imul 2-operand overflow sets CF and OF", fl & (X86_RFLAGS_CF | X86_RFLAGS_OF),
              X86_RFLAGS_CF | X86_RFLAGS_OF);
        v = OPAQUE(-300ll);
        asm("imulw $100, %w0, %w0" : "+r"(v));
        CHECK("imul 16-bit 3-operand truncates", v & 0xffff, (uint16_t)(-30000));
    }
}

/* ---- Shifts and rotates ------------------------------------------------- */

static uint64_t rol64(uint64_t x, unsigned n) { return (x << n) | (x >> ((64 - n) & 63)); }
static uint64_t ror64(uint64_t x, unsigned n) { return (x >> n) | (x << ((64 - n) & 63)); }

static void test_shifts(void)
{
    uint64_t x = OPAQUE(0x0123456789abcdefull), v, fl;
    unsigned n = OPAQUE(13u);

    CHECK("rol by 13", rol64(x, n), 0x68acf13579bde024ull);
    CHECK("ror by 13", ror64(x, n), 0x6f78091a2b3c4d5eull);
    CHECK("shl count is masked to 6 bits (65 -> 1)", x << (OPAQUE(65u) & 63), 0x02468acf13579bdeull);
    CHECK("sar keeps the sign", (uint64_t)(OPAQUE(-1024ll) >> OPAQUE(3)), (uint64_t)-128);
    CHECK("shr of a negative value", OPAQUE(0x8000000000000000ull) >> OPAQUE(63), 1);

    v = x;
    asm("movb $65, %%cl\n\tshlq %%cl, %0" : "+r"(v) : : "rcx", "cc");
    CHECK("shl by CL=65 shifts by 1", v, 0x02468acf13579bdeull);
    v = x;
    asm("stc\n\tmovb $64, %%cl\n\tshlq %%cl, %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "rcx", "cc");
    CHECK("shl by CL=64 (masked to 0) changes neither value nor CF", v == x && (fl & X86_RFLAGS_CF), 1);
    v = OPAQUE(0x8000000000000001ull);
    asm("shrq $1, %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "cc");
    CHECK("shr 1: bit 0 goes to CF; OF = old MSB", fl & (X86_RFLAGS_CF | X86_RFLAGS_OF),
          X86_RFLAGS_CF | X86_RFLAGS_OF);

    v = x;
    asm("shldq $12, %1, %0" : "+r"(v) : "r"(OPAQUE(0xfedcba9876543210ull)) : "cc");
    CHECK("shld by 12", v, 0x3456789abcdeffedull);
    v = x;
    asm("shrdq $12, %1, %0" : "+r"(v) : "r"(OPAQUE(0xfedcba9876543210ull)) : "cc");
    CHECK("shrd by 12", v, 0x2100123456789abcull);

    v = OPAQUE(0x8000000000000000ull);
    asm("clc\n\trclq $1, %0\n\tpushfq\n\tpopq %1" : "+r"(v), "=r"(fl) : : "cc");
    CHECK("rcl 1: MSB into CF, old CF into bit 0", v == 0 && (fl & X86_RFLAGS_CF), 1);
    v = OPAQUE(0ull);
    asm("stc\n\trcrq $1, %0" : "+r"(v) : : "cc");
    CHECK("rcr 1: CF into the MSB", v, 0x8000000000000000ull);
    v = OPAQUE(0x81ull);
    asm("rolb $1, %b0" : "+q"(v) : : "cc");
    CHECK("rolb touches only the low byte", v, 0x03);
    v = OPAQUE(0x12348001ull);
    asm("rorw $4, %w0" : "+r"(v) : : "cc");
    CHECK("rorw touches only the low word", v, 0x12341800);
}

/* ---- Bit operations ------------------------------------------------------ */

static void test_bits(void)
{
    static uint64_t bits[4];
    uint64_t v, cf, fl;

    CHECK("ctz via bsf/tzcnt", __builtin_ctzll(OPAQUE(0x0000010000000000ull)), 40);
    CHECK("clz via bsr/lzcnt", __builtin_clzll(OPAQUE(0x0000010000000000ull)), 23);
    CHECK("bswap64", __builtin_bswap64(OPAQUE(0x0123456789abcdefull)), 0xefcdab8967452301ull);
    CHECK("bswap32", __builtin_bswap32(OPAQUE(0x11223344u)), 0x44332211u);

    v = OPAQUE(0x1234ull);
    asm("bsfq %1, %0\n\tpushfq\n\tpopq %2" : "+r"(v), "=r"(fl) : "r"(OPAQUE(0ull)) : "cc");
    fl &= X86_RFLAGS_ZF;
    CHECK("bsf of 0: ZF=1 and (AMD) destination unchanged", v == 0x1234 && fl, 1);
    asm("bsrq %1, %0" : "=r"(v) : "r"(OPAQUE(0x00f0000000000000ull)) : "cc");
    CHECK("bsr", v, 55);

    /* BT* with a register bit offset address a bit string in memory. */
    memset(bits, 0, sizeof(bits));
    asm volatile("btsq %1, %0" : "+m"(bits) : "r"(OPAQUE(130ull)) : "cc", "memory");
    CHECK("bts reg, mem: bit 130 is bit 2 of the third qword", bits[2], 4);
    asm volatile("btq %2, %1\n\tsetc %b0" : "=q"(cf) : "m"(bits), "r"(OPAQUE(130ull)) : "cc");
    CHECK("bt reg, mem reads it back into CF", cf & 1, 1);
    asm volatile("btcq %1, %0" : "+m"(bits) : "r"(OPAQUE(131ull)) : "cc", "memory");
    asm volatile("btrq %1, %0" : "+m"(bits) : "r"(OPAQUE(130ull)) : "cc", "memory");
    CHECK("btc then btr", bits[2], 8);
    v = OPAQUE(0ull);
    asm("btsq $63, %0\n\tbtsq $64, %0" : "+r"(v) : : "cc");
    CHECK("bts reg, imm: the offset is taken modulo 64", v, 0x8000000000000001ull);

    if (cpuid(1).c & (1u << 23)) {
        asm("popcntq %1, %0" : "=r"(v) : "r"(OPAQUE(0xf0f0f0f00f0f0f0full)) : "cc");
        CHECK("popcnt", v, 32);
    } else {
        report_skip("popcnt (CPUID.1:ECX.POPCNT=0)");
    }
    if (cpuid(0x80000001).c & (1u << 5)) {
        asm("lzcntq %1, %0" : "=r"(v) : "r"(OPAQUE(0ull)) : "cc");
        CHECK("lzcnt of 0 is 64", v, 64);
    } else {
        report_skip("lzcnt (CPUID.80000001:ECX.ABM=0)");
    }
    if (cpuid(0).a >= 7 && (cpuid_count(7, 0).b & (1u << 3))) {
        asm("tzcntq %1, %0" : "=r"(v) : "r"(OPAQUE(0x80ull)) : "cc");
        CHECK("tzcnt", v, 7);
    } else {
        report_skip("tzcnt (CPUID.7:EBX.BMI1=0)");
    }
    if (cpuid(1).c & (1u << 22)) {
        static uint64_t m = 0x0102030405060708ull;
        asm("movbeq %1, %0" : "=r"(v) : "m"(m));
        CHECK("movbe load", v, 0x0807060504030201ull);
    } else {
        report_skip("movbe (CPUID.1:ECX.MOVBE=0)");
    }
}

/* ---- Condition codes: SETcc, CMOVcc, Jcc for every flag combination ------ */

#define CC_LIST(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) X(s) X(ns) X(p) X(np) X(l) X(ge) X(le) X(g)

static bool cc_expected(int cc, uint64_t fl)
{
    bool cf = fl & X86_RFLAGS_CF, pf = fl & X86_RFLAGS_PF, zf = fl & X86_RFLAGS_ZF;
    bool sf = fl & X86_RFLAGS_SF, of = fl & X86_RFLAGS_OF;
    bool base[8] = { of, cf, zf, cf || zf, sf, pf, sf != of, zf || (sf != of) };

    return (cc & 1) ? !base[cc >> 1] : base[cc >> 1];
}

static void test_condition_codes(void)
{
    static const uint64_t flag_bits[5] = { X86_RFLAGS_CF, X86_RFLAGS_PF, X86_RFLAGS_ZF, X86_RFLAGS_SF,
                                           X86_RFLAGS_OF };
    unsigned bad_set = 0, bad_cmov = 0, bad_j = 0;

    for (unsigned combo = 0; combo < 32; combo++) {
        uint64_t fl = X86_RFLAGS_FIXED;
        uint8_t set[16], jmp[16];
        uint64_t cmov[16];

        for (int i = 0; i < 5; i++)
            if (combo & (1u << i))
                fl |= flag_bits[i];
        {
            int k = 0;
#define DO_CC(cc)                                                                            \
    asm volatile("pushq %[fl]\n\tpopfq\n\t"                                                  \
                 "set" #cc " %[s]\n\t"                                                       \
                 "movq $0, %[c]\n\t"                                                         \
                 "movq $1, %%rax\n\t"                                                        \
                 "cmov" #cc "q %%rax, %[c]\n\t"                                              \
                 "j" #cc " 1f\n\t"                                                           \
                 "movb $0, %[j]\n\t"                                                         \
                 "jmp 2f\n"                                                                  \
                 "1:\n\t"                                                                    \
                 "movb $1, %[j]\n"                                                           \
                 "2:\n\t"                                                                    \
                 : [s] "=m"(set[k]), [c] "=r"(cmov[k]), [j] "=m"(jmp[k])                     \
                 : [fl] "r"(fl)                                                              \
                 : "rax", "cc");                                                             \
    k++;
            CC_LIST(DO_CC)
#undef DO_CC
        }
        for (int cc = 0; cc < 16; cc++) {
            bool want = cc_expected(cc, fl);
            bad_set += set[cc] != want;
            bad_cmov += cmov[cc] != want;
            bad_j += jmp[cc] != want;
        }
    }
    CHECK("setcc: 16 conditions x 32 flag combinations", bad_set, 0);
    CHECK("cmovcc: 16 conditions x 32 flag combinations", bad_cmov, 0);
    CHECK("jcc: 16 conditions x 32 flag combinations", bad_j, 0);

    /* What gcc makes of min/max and comparisons. */
    CHECK("signed max (cmov)", (uint64_t)({ int64_t a = OPAQUE(-5ll), b = OPAQUE(3ll); a > b ? a : b; }), 3);
    CHECK("unsigned max (cmov)", ({ uint64_t a = OPAQUE((uint64_t)-5), b = OPAQUE(3ull); a > b ? a : b; }),
          (uint64_t)-5);
    CHECK("signed less-than via setl", (int)(OPAQUE(-1ll) < OPAQUE(1ll)), 1);
    CHECK("unsigned less-than via setb", (int)(OPAQUE((uint64_t)-1) < OPAQUE(1ull)), 0);
}

/* ---- String instructions ------------------------------------------------- */

static void test_strings(void)
{
    static char src[64], dst[64], buf[32];
    uint64_t rsi, rdi, rcx, rax;

    for (int i = 0; i < 64; i++)
        src[i] = (char)('A' + i % 26);

    memset(dst, 0, sizeof(dst));
    rsi = (uint64_t)src;
    rdi = (uint64_t)dst;
    rcx = 37;
    asm volatile("cld\n\trep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "memory");
    CHECK("rep movsb copies and advances RSI/RDI, RCX = 0",
          memcmp(dst, src, 37) == 0 && dst[37] == 0 && rcx == 0 && rsi == (uint64_t)src + 37 &&
              rdi == (uint64_t)dst + 37, 1);

    memset(dst, 0, sizeof(dst));
    rsi = (uint64_t)src;
    rdi = (uint64_t)dst;
    rcx = 8;
    asm volatile("rep movsq" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "memory");
    CHECK("rep movsq copies 8 qwords", memcmp(dst, src, 64) == 0 && rdi == (uint64_t)dst + 64, 1);

    rdi = (uint64_t)dst;
    rcx = 0;
    asm volatile("movb $0x55, %%al\n\trep stosb" : "+D"(rdi), "+c"(rcx) : : "rax", "memory");
    CHECK("rep with RCX = 0 does nothing", rdi == (uint64_t)dst && dst[0] == 'A', 1);

    rdi = (uint64_t)dst;
    rcx = 3;
    rax = 0x1122334455667788ull;
    asm volatile("rep stosq" : "+D"(rdi), "+c"(rcx) : "a"(rax) : "memory");
    CHECK("rep stosq", ((uint64_t *)dst)[0] == rax && ((uint64_t *)dst)[2] == rax && dst[24] == src[24], 1);

    /* Backward: overlapping move to a higher address, DF = 1. */
    memcpy(buf, "0123456789", 11);
    rsi = (uint64_t)buf + 9;
    rdi = (uint64_t)buf + 11;
    rcx = 10;
    asm volatile("std\n\trep movsb\n\tcld" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "memory");
    CHECK("std; rep movsb copies backwards (overlapping)", memcmp(buf, "0101234567890", 12) == 0, 1);
    CHECK("... and decrements RSI/RDI", rsi == (uint64_t)buf - 1 && rdi == (uint64_t)buf + 1, 1);

    rsi = (uint64_t)"abcdef";
    rdi = (uint64_t)"abcxef";
    rcx = 6;
    asm volatile("repe cmpsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "cc", "memory");
    CHECK("repe cmpsb stops after the first difference", rcx == 2 && rsi == (uint64_t)"abcdef" + 4, 1);

    {
        static const char hay[] = "find the x in here";
        rdi = (uint64_t)hay;
        rcx = sizeof(hay);
        asm volatile("movb $'x', %%al\n\trepne scasb" : "+D"(rdi), "+c"(rcx) : : "rax", "cc", "memory");
        CHECK("repne scasb finds the byte", rdi - (uint64_t)hay - 1, 9);
    }
    {
        uint64_t al;
        rsi = (uint64_t)src + 2;
        asm volatile("lodsb" : "=a"(al), "+S"(rsi) : : "memory");
        CHECK("lodsb", (al & 0xff) == 'C' && rsi == (uint64_t)src + 3, 1);
    }
    CHECK("string functions of the runtime", strlen("hello") == 5 && strcmp("abc", "abd") < 0 &&
          memcmp("\x01\x02", "\x01\x03", 2) < 0, 1);
    {
        static const char hex[] = "0123456789abcdef";
        uint64_t al = OPAQUE(11ull);
        asm("xlatb" : "+a"(al) : "b"(hex));
        CHECK("xlatb: AL = [RBX + AL]", al & 0xff, 'b');
    }
}

/* ---- Atomics ----------------------------------------------------------- */

static void test_atomics(void)
{
    static volatile uint64_t counter;
    static uint64_t pair[2] __attribute__((aligned(16)));
    uint64_t old, expected;
    bool ok;

    counter = 10;
    old = __atomic_fetch_add(&counter, OPAQUE(5ull), __ATOMIC_SEQ_CST);
    CHECK("lock xadd returns the old value and adds", old == 10 && counter == 15, 1);

    expected = 15;
    ok = __atomic_compare_exchange_n(&counter, &expected, 99, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    CHECK("lock cmpxchg succeeds when equal", ok && counter == 99, 1);
    expected = 15;
    ok = __atomic_compare_exchange_n(&counter, &expected, 7, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    CHECK("lock cmpxchg fails when not equal and loads the current value",
          !ok && expected == 99 && counter == 99, 1);
    old = __atomic_exchange_n(&counter, 3, __ATOMIC_SEQ_CST);
    CHECK("xchg", old == 99 && counter == 3, 1);
    __atomic_or_fetch(&counter, 0x100, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    CHECK("lock or; lock sub", counter, 0x102);

    {
        uint32_t word = 0x10, prev = 0x10, neu = 0x20;
        asm volatile("lock cmpxchgl %2, %1" : "+a"(prev), "+m"(word) : "r"(neu) : "cc", "memory");
        CHECK("lock cmpxchgl 32-bit", word, 0x20);
    }
    {
        uint64_t a = OPAQUE(5ull), b = OPAQUE(6ull);
        asm("xaddq %0, %1" : "+r"(a), "+r"(b) : : "cc");
        CHECK("xadd reg, reg (no lock)", a == 6 && b == 11, 1);
    }
    if (cpuid(1).c & (1u << 13)) {
        uint64_t rax = 1, rdx = 2, rbx = 0x33, rcx = 0x44;
        uint8_t zf;
        pair[0] = 1;
        pair[1] = 2;
        asm volatile("lock cmpxchg16b %1\n\tsetz %2" : "+a"(rax), "+m"(pair), "=q"(zf), "+d"(rdx)
                     : "b"(rbx), "c"(rcx) : "cc", "memory");
        CHECK("lock cmpxchg16b stores RCX:RBX when equal", zf && pair[0] == 0x33 && pair[1] == 0x44, 1);
        rax = 0;
        rdx = 0;
        asm volatile("lock cmpxchg16b %1\n\tsetz %2" : "+a"(rax), "+m"(pair), "=q"(zf), "+d"(rdx)
                     : "b"(rbx), "c"(rcx) : "cc", "memory");
        CHECK("lock cmpxchg16b loads RDX:RAX when not", !zf && rax == 0x33 && rdx == 0x44, 1);
    } else {
        report_skip("cmpxchg16b (CPUID.1:ECX.CX16=0)");
    }
    {
        uint64_t q = 0x0000000200000001ull;
        uint32_t eax = 1, edx = 2, ebx = 5, ecx = 6;
        asm volatile("lock cmpxchg8b %0" : "+m"(q), "+a"(eax), "+d"(edx) : "b"(ebx), "c"(ecx)
                     : "cc", "memory");
        CHECK("lock cmpxchg8b", q, 0x0000000600000005ull);
    }
}

/* ---- ENTER / LEAVE --------------------------------------------------------- */

/* RSP and RBP change inside these asm statements, so they address their
 * results only through RDI (never through RSP/RBP-relative operands). */
struct enter_result {
    uint64_t rsp0;          /* 0x00 */
    uint64_t rbp_after;     /* 0x08 */
    uint64_t rsp_after;     /* 0x10 */
    uint64_t slot0;         /* 0x18 */
    uint64_t slot1;         /* 0x20 */
    uint64_t slot2;         /* 0x28 */
    uint64_t rsp_restored;  /* 0x30 */
    uint64_t rbp_restored;  /* 0x38 */
};

static void test_enter_leave(void)
{
    static struct enter_result r;
    uint64_t fake_frame[4] = { 0, 0, 0x1111, 0 }; /* [old rbp - 8] = 0x1111 */
    uint64_t fake_rbp = (uint64_t)&fake_frame[3];

    /* ENTER $32, $0: push rbp; rbp = rsp; rsp -= 32. */
    asm volatile("movq %%rsp, 0x00(%%rdi)\n\t"
                 "pushq %%rbp\n\t"
                 "movq %%rsi, %%rbp\n\t"
                 "enter $32, $0\n\t"
                 "movq %%rbp, 0x08(%%rdi)\n\t"
                 "movq %%rsp, 0x10(%%rdi)\n\t"
                 "movq (%%rbp), %%rax\n\t"
                 "movq %%rax, 0x18(%%rdi)\n\t"
                 "leave\n\t"
                 "movq %%rsp, 0x30(%%rdi)\n\t"
                 "movq %%rbp, 0x38(%%rdi)\n\t"
                 "popq %%rbp\n\t"
                 :
                 : "D"(&r), "S"(fake_rbp)
                 : "rax", "memory");
    CHECK("enter $32, $0: RBP = RSP after pushing the old RBP", r.rbp_after, r.rsp0 - 16);
    CHECK("enter $32, $0: RSP = RBP - 32", r.rsp_after, r.rsp0 - 16 - 32);
    CHECK("enter: the old RBP is at [RBP]", r.slot0, fake_rbp);
    CHECK("leave restores RSP and RBP", r.rsp_restored == r.rsp0 - 8 && r.rbp_restored == fake_rbp, 1);

    /* ENTER $16, $2: also copies one outer frame pointer from [old rbp - 8]
     * and pushes the new frame pointer (APM vol. 3 ENTER). */
    asm volatile("movq %%rsp, 0x00(%%rdi)\n\t"
                 "pushq %%rbp\n\t"
                 "movq %%rsi, %%rbp\n\t"
                 "enter $16, $2\n\t"
                 "movq %%rbp, 0x08(%%rdi)\n\t"
                 "movq %%rsp, 0x10(%%rdi)\n\t"
                 "movq (%%rbp), %%rax\n\t"
                 "movq %%rax, 0x18(%%rdi)\n\t"
                 "movq -8(%%rbp), %%rax\n\t"
                 "movq %%rax, 0x20(%%rdi)\n\t"
                 "movq -16(%%rbp), %%rax\n\t"
                 "movq %%rax, 0x28(%%rdi)\n\t"
                 "leave\n\t"
                 "popq %%rbp\n\t"
                 :
                 : "D"(&r), "S"(fake_rbp)
                 : "rax", "memory");
    CHECK("enter $16, $2: frame pointer", r.rbp_after, r.rsp0 - 16);
    CHECK("enter $16, $2: RSP = frame - 2 pointers - 16", r.rsp_after, r.rsp0 - 16 - 16 - 16);
    CHECK("enter $16, $2: [frame] = old RBP", r.slot0, fake_rbp);
    CHECK("enter $16, $2: [frame - 8] = [old RBP - 8]", r.slot1, 0x1111);
    CHECK("enter $16, $2: [frame - 16] = frame", r.slot2, r.rsp0 - 16);
}

/* ---- Assorted ------------------------------------------------------------ */

static __attribute__((noinline)) uint64_t fib(unsigned n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static __attribute__((noinline)) int classify(int x)
{
    switch (x) { /* dense enough for a jump table */
    case 0: return 10;
    case 1: return 21;
    case 2: return 32;
    case 3: return 43;
    case 4: return 54;
    case 5: return 65;
    case 6: return 76;
    case 7: return 87;
    default: return -1;
    }
}

static uint64_t twice(uint64_t x) { return 2 * x; }
static uint64_t square(uint64_t x) { return x * x; }

static void test_misc(void)
{
    uint64_t v, fl;
    uint64_t (*volatile fns[2])(uint64_t) = { twice, square };

    CHECK("recursion: fib(20)", fib(OPAQUE(20u)), 6765);
    CHECK("switch jump table", classify(OPAQUE(5)) + classify(OPAQUE(9)), 64);
    CHECK("indirect calls", fns[0](OPAQUE(21ull)) + fns[1](OPAQUE(3ull)), 51);

    v = OPAQUE(0xffffffffffffffffull);
    asm("movl $1, %k0" : "+r"(v));
    CHECK("a 32-bit write zero-extends", v, 1);
    v = OPAQUE(0xffffffffffffffffull);
    asm("movb $1, %b0" : "+q"(v));
    CHECK("an 8-bit write keeps the upper bits", v, 0xffffffffffffff01ull);
    v = OPAQUE(0xffffffffffffffffull);
    asm("movw $1, %w0" : "+r"(v));
    CHECK("a 16-bit write keeps the upper bits", v, 0xffffffffffff0001ull);
    v = OPAQUE(0x1234ull);
    asm("movb $0x56, %h0" : "+Q"(v));
    CHECK("AH/BH/CH/DH write bits 15:8", v, 0x5634);

    v = OPAQUE(0x80ull);
    asm("cbw" : "+a"(v));
    CHECK("cbw", v & 0xffff, 0xff80);
    v = OPAQUE(0x8000ull);
    asm("cwde" : "+a"(v));
    CHECK("cwde", v, 0xffff8000ull);
    v = OPAQUE(0x80000000ull);
    asm("cdqe" : "+a"(v));
    CHECK("cdqe", v, 0xffffffff80000000ull);
    {
        uint64_t rdx;
        v = OPAQUE(0x8000000000000000ull);
        asm("cqo" : "+a"(v), "=d"(rdx));
        CHECK("cqo", rdx, ~0ull);
    }
    CHECK("movsx byte", (uint64_t)(int64_t)(int8_t)OPAQUE((uint8_t)0xf0), 0xfffffffffffffff0ull);
    CHECK("movzx word", (uint64_t)OPAQUE((uint16_t)0xfff0), 0xfff0);
    CHECK("movabs 64-bit immediate", OPAQUE(0x1122334455667788ull) ^ 0x1122334455667788ull, 0);
    CHECK("lea base + index*8 + disp", ({ uint64_t b = OPAQUE(1000ull), i = OPAQUE(7ull), r_;
                                          asm("leaq 24(%1,%2,8), %0" : "=r"(r_) : "r"(b), "r"(i)); r_; }),
          1080);

    v = 0;
    asm("movl $5, %%ecx\n\t1: incq %0\n\tloop 1b" : "+r"(v) : : "rcx", "cc");
    CHECK("loop runs RCX times", v, 5);
    v = 0;
    asm("xorl %%ecx, %%ecx\n\tjrcxz 1f\n\tmovq $1, %0\n1:" : "+r"(v) : : "rcx");
    CHECK("jrcxz jumps when RCX = 0", v, 0);

    asm("stc\n\tcmc\n\tpushfq\n\tpopq %0" : "=r"(fl) : : "cc");
    CHECK("stc; cmc clears CF", fl & X86_RFLAGS_CF, 0);
    asm("xorl %%eax, %%eax\n\tstc\n\tlahf\n\tmovzbl %%ah, %k0" : "=r"(v) : : "rax", "cc");
    CHECK("lahf after xor and stc: SF ZF AF PF CF = 0x47", v, 0x47);
    asm("movb $0xd5, %%ah\n\tsahf\n\tpushfq\n\tpopq %0" : "=r"(fl) : : "rax", "cc");
    CHECK("sahf loads SF ZF AF PF CF", fl & 0xff, 0xd7);

    {
        uint64_t a = OPAQUE(1ull), b = OPAQUE(2ull);
        asm("xchgq %0, %1" : "+r"(a), "+r"(b));
        CHECK("xchg reg, reg", a == 2 && b == 1, 1);
    }
    {
        struct big { uint64_t w[9]; } x = { { 1, 2, 3, 4, 5, 6, 7, 8, 9 } }, y;
        y = *(volatile struct big *)&x;
        CHECK("struct copy", y.w[0] + y.w[8], 10);
    }
}

int main(void)
{
    run_test("arith", test_arith);
    run_test("muldiv", test_muldiv);
    run_test("shifts", test_shifts);
    run_test("bits", test_bits);
    run_test("condition_codes", test_condition_codes);
    run_test("strings", test_strings);
    run_test("atomics", test_atomics);
    run_test("enter_leave", test_enter_leave);
    run_test("misc", test_misc);
    return report_summary();
}
