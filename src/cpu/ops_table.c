/* ops_table.c — the instruction dispatch table: one handler per ZydisMnemonic,
 * designated initialisers, and a single default (#UD) for everything the
 * model does not implement (x87, SSE, AVX and the rest).
 */
#include "cpu/ops.h"

#define H(m, fn) [ZYDIS_MNEMONIC_##m] = op_##fn

static const insn_fn handlers[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    /* ops_alu.c */
    H(ADD, add), H(ADC, adc), H(SUB, sub), H(SBB, sbb), H(AND, and), H(OR, or),
    H(XOR, xor), H(CMP, cmp), H(TEST, test), H(INC, inc), H(DEC, dec), H(NEG, neg),
    H(NOT, not),
    /* ops_mov.c */
    H(MOV, mov), H(MOVZX, movzx), H(MOVSX, movsx), H(MOVSXD, movsx), H(LEA, lea),
    H(XCHG, xchg), H(BSWAP, bswap),
    H(CMOVO, cmovcc), H(CMOVNO, cmovcc), H(CMOVB, cmovcc), H(CMOVNB, cmovcc),
    H(CMOVZ, cmovcc), H(CMOVNZ, cmovcc), H(CMOVBE, cmovcc), H(CMOVNBE, cmovcc),
    H(CMOVS, cmovcc), H(CMOVNS, cmovcc), H(CMOVP, cmovcc), H(CMOVNP, cmovcc),
    H(CMOVL, cmovcc), H(CMOVNL, cmovcc), H(CMOVLE, cmovcc), H(CMOVNLE, cmovcc),
    H(SETO, setcc), H(SETNO, setcc), H(SETB, setcc), H(SETNB, setcc),
    H(SETZ, setcc), H(SETNZ, setcc), H(SETBE, setcc), H(SETNBE, setcc),
    H(SETS, setcc), H(SETNS, setcc), H(SETP, setcc), H(SETNP, setcc),
    H(SETL, setcc), H(SETNL, setcc), H(SETLE, setcc), H(SETNLE, setcc),
    H(CBW, cbw), H(CWDE, cbw), H(CDQE, cbw), H(CWD, cwd), H(CDQ, cwd), H(CQO, cwd),
    H(LAHF, lahf), H(SAHF, sahf), H(CLC, clc), H(STC, stc), H(CMC, cmc), H(CLD, cld),
    H(STD, std), H(NOP, nop), H(ENDBR64, nop), H(ENDBR32, nop), H(PREFETCH, nop),
    H(PREFETCHW, nop), H(PREFETCHT0, nop), H(PREFETCHT1, nop), H(PREFETCHT2, nop),
    H(PREFETCHNTA, nop), H(LFENCE, nop), H(MFENCE, nop), H(SFENCE, nop),
    H(XADD, xadd), H(CMPXCHG, cmpxchg), H(CMPXCHG8B, cmpxchg8b),
    H(CMPXCHG16B, cmpxchg16b),
    /* ops_shift.c */
    H(SHL, shl), H(SHR, shr), H(SAR, sar), H(ROL, rol), H(ROR, ror), H(RCL, rcl),
    H(RCR, rcr), H(SHLD, shld), H(SHRD, shrd),
    /* ops_muldiv.c */
    H(MUL, mul), H(IMUL, imul), H(DIV, div), H(IDIV, idiv),
    /* ops_bit.c */
    H(BT, bt), H(BTS, bts), H(BTR, btr), H(BTC, btc), H(BSF, bsf), H(BSR, bsr),
    H(POPCNT, popcnt), H(LZCNT, lzcnt), H(TZCNT, tzcnt),
    /* ops_branch.c */
    H(JMP, jmp), H(CALL, call), H(RET, ret), H(LOOP, loop), H(LOOPE, loope),
    H(LOOPNE, loopne), H(JCXZ, jrcxz), H(JECXZ, jrcxz), H(JRCXZ, jrcxz),
    H(JO, jcc), H(JNO, jcc), H(JB, jcc), H(JNB, jcc), H(JZ, jcc), H(JNZ, jcc),
    H(JBE, jcc), H(JNBE, jcc), H(JS, jcc), H(JNS, jcc), H(JP, jcc), H(JNP, jcc),
    H(JL, jcc), H(JNL, jcc), H(JLE, jcc), H(JNLE, jcc),
    H(IRET, iret), H(IRETD, iret), H(IRETQ, iret), H(INT, int), H(INT3, int3),
    H(INTO, into), H(INT1, int1), H(SYSCALL, syscall), H(SYSRET, sysret),
    /* ops_stack.c */
    H(PUSH, push), H(POP, pop), H(PUSHF, pushf), H(PUSHFD, pushf), H(PUSHFQ, pushf),
    H(POPF, popf), H(POPFD, popf), H(POPFQ, popf), H(ENTER, enter), H(LEAVE, leave),
    H(PUSHA, pusha), H(PUSHAD, pusha), H(POPA, popa), H(POPAD, popa),
    /* ops_string.c */
    H(MOVSB, movs), H(MOVSW, movs), H(MOVSD, movs), H(MOVSQ, movs),
    H(STOSB, stos), H(STOSW, stos), H(STOSD, stos), H(STOSQ, stos),
    H(LODSB, lods), H(LODSW, lods), H(LODSD, lods), H(LODSQ, lods),
    H(SCASB, scas), H(SCASW, scas), H(SCASD, scas), H(SCASQ, scas),
    H(CMPSB, cmps), H(CMPSW, cmps), H(CMPSD, cmps), H(CMPSQ, cmps),
    /* ops_io.c */
    H(IN, in), H(OUT, out), H(INSB, ins), H(INSW, ins), H(INSD, ins),
    H(OUTSB, outs), H(OUTSW, outs), H(OUTSD, outs),
    /* ops_system.c */
    H(HLT, hlt), H(CLI, cli), H(STI, sti), H(CPUID, cpuid), H(RDTSC, rdtsc),
    H(RDTSCP, rdtscp), H(RDPMC, rdpmc), H(RDMSR, rdmsr), H(WRMSR, wrmsr),
    H(LGDT, lgdt), H(LIDT, lidt), H(SGDT, sgdt), H(SIDT, sidt), H(LTR, ltr), H(STR, str),
    H(LLDT, lldt), H(SLDT, sldt), H(INVLPG, invlpg), H(SWAPGS, swapgs), H(CLTS, clts),
    H(PAUSE, pause), H(INVD, invd), H(WBINVD, wbinvd), H(XSETBV, xsetbv), H(LMSW, lmsw),
    H(SMSW, smsw), H(UD2, ud2), H(UD0, ud2), H(UD1, ud2),
    /* ops_svm.c */
    H(VMRUN, vmrun), H(VMLOAD, vmload), H(VMSAVE, vmsave), H(VMMCALL, vmmcall),
    H(STGI, stgi), H(CLGI, clgi), H(SKINIT, skinit), H(INVLPGA, invlpga),
};

insn_fn insn_handler(ZydisMnemonic m)
{
    if ((unsigned)m > ZYDIS_MNEMONIC_MAX_VALUE || !handlers[m])
        return op_ud;
    return handlers[m];
}

int op_ud(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    return raise_ud(cpu);
}

/* x87 instructions: the model has no FPU (CPUID says so), but CR0.EM and
 * CR0.TS are still honoured first, so a guest's lazy-FPU logic sees #NM. */
int op_fpu(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
        return raise_exc(cpu, X86_VEC_NM);
    return raise_ud(cpu);
}

/* WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set, otherwise nothing is
 * pending and it does nothing. */
int op_fwait(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if ((cpu->cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
        return raise_exc(cpu, X86_VEC_NM);
    return STEP_OK;
}
