/* flags.c — lazy evaluation of the arithmetic flags.
 *
 * Owns: turning cpu->lf (the last flag-writing operation) into CF/PF/AF/ZF/
 * SF/OF, and condition-code evaluation for Jcc/SETcc/CMOVcc.
 * Must not: touch anything but cpu->rflags and cpu->lf.
 */
#include "cpu/cpu.h"

uint64_t flags_get(struct cpu *cpu)
{
    if (cpu->lf.op != LF_NONE) {
        uint64_t f = cpu->rflags & ~X86_RFLAGS_ARITH;
        f |= flag_cf(cpu) ? X86_RFLAGS_CF : 0;
        f |= flag_pf(cpu) ? X86_RFLAGS_PF : 0;
        f |= flag_af(cpu) ? X86_RFLAGS_AF : 0;
        f |= flag_zf(cpu) ? X86_RFLAGS_ZF : 0;
        f |= flag_sf(cpu) ? X86_RFLAGS_SF : 0;
        f |= flag_of(cpu) ? X86_RFLAGS_OF : 0;
        cpu->rflags = f;
        cpu->lf.op = LF_NONE;
    }
    return cpu->rflags;
}

void flags_set(struct cpu *cpu, uint64_t rflags)
{
    cpu->rflags = rflags | X86_RFLAGS_FIXED;
    cpu->lf.op = LF_NONE;
}

void lf_set_szp(struct cpu *cpu, unsigned size, uint64_t res, bool cf, bool of, bool af)
{
    uint64_t f = cpu->rflags & ~(X86_RFLAGS_CF | X86_RFLAGS_OF | X86_RFLAGS_AF);
    f |= cf ? X86_RFLAGS_CF : 0;
    f |= of ? X86_RFLAGS_OF : 0;
    f |= af ? X86_RFLAGS_AF : 0;
    cpu->rflags = f;
    lf_set(cpu, LF_SZP, size, res, 0, 0);
}
