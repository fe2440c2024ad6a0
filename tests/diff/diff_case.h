/* diff_case.h — owned by tests/diff: what one case of the differential CPU
 * test is (the input state, the scratch memory and the instruction
 * sequence), and the address layout both sides of the comparison share.
 *
 * Layout, the same natively and in the simulator (the boot protocol maps the
 * first 4 GiB 1:1, so these are both linear and guest-physical addresses):
 *
 *   DIFF_CODE_ADDR     0x00200000  two pages for the sequence, which starts at the
 *                                  first or (to make instructions straddle a page)
 *                                  just before the second; natively followed by a
 *                                  jump back to the trampoline, in the simulator by HLT
 *   DIFF_SCRATCH_ADDR  0x01000000  64 KiB of data: every memory operand, the
 *                                  stack and the string operations stay inside
 */
#ifndef SVMSIM_TESTS_DIFF_CASE_H
#define SVMSIM_TESTS_DIFF_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#define DIFF_CODE_ADDR 0x00200000ull
#define DIFF_CODE_AREA 0x2000u        /* bytes at DIFF_CODE_ADDR */
#define DIFF_CODE_MAX 1024u          /* bytes of generated code, terminator excluded */
#define DIFF_SCRATCH_ADDR 0x01000000ull
#define DIFF_SCRATCH_SIZE 0x10000u
#define DIFF_MAX_INSNS 48u            /* primary instructions and their setup */
#define DIFF_MAX_PRIMARY 8u           /* instructions a case is about (1..8) */

/* RFLAGS bits the test sets, and compares where they are defined. */
#define DIFF_CF (1u << 0)
#define DIFF_PF (1u << 2)
#define DIFF_AF (1u << 4)
#define DIFF_ZF (1u << 6)
#define DIFF_SF (1u << 7)
#define DIFF_DF (1u << 10)
#define DIFF_OF (1u << 11)
#define DIFF_ARITH (DIFF_CF | DIFF_PF | DIFF_AF | DIFF_ZF | DIFF_SF | DIFF_OF)
#define DIFF_CONTROLLED (DIFF_ARITH | DIFF_DF)

/* Register state exchanged with both sides. The trampoline relies on this
 * layout: gpr[] at offset 0 in encoding order (RAX RCX RDX RBX RSP RBP RSI RDI
 * R8..R15, the order of enum svmsim_gpr), rflags at offset 128. */
struct diff_cpu {
    uint64_t gpr[16];
    uint64_t rflags;
};
_Static_assert(offsetof(struct diff_cpu, rflags) == 128, "trampoline layout");

enum diff_count_src {
    DIFF_COUNT_NONE = 0,
    DIFF_COUNT_IMM,                   /* shift/rotate count is count_imm (1 for the D0/D1 forms) */
    DIFF_COUNT_CL,                    /* shift/rotate count is CL at run time */
};

/* One instruction of a case, with what the flag rules need to know of it. */
struct diff_insn {
    uint32_t offset;                  /* from the case's code_addr */
    uint8_t len;
    uint8_t bytes[15];
    ZydisMnemonic mnemonic;
    uint8_t opsize;                   /* bits: destination, or string element */
    uint8_t count_src;                /* enum diff_count_src */
    uint8_t count_imm;
    bool rep;                         /* REP/REPE/REPNE prefix */
    bool setup;                       /* put there to make the next one meaningful/safe */
};

struct diff_case {
    uint64_t seed, index;
    struct diff_cpu in;
    int base_reg;                     /* scratch pointer: read by the code, never written */
    unsigned n_insns, n_primary;
    unsigned rejected;                /* encoder requests thrown away (e.g. AH beside REX) */
    uint64_t code_addr;               /* where the sequence starts, inside the code area */
    struct diff_insn insns[DIFF_MAX_INSNS];
    size_t code_len;
    uint8_t code[DIFF_CODE_MAX];
    uint8_t mem[DIFF_SCRATCH_SIZE];   /* scratch contents on entry */
};

#endif
