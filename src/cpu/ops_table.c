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
    H(XLAT, xlat), H(XADD, xadd), H(CMPXCHG, cmpxchg), H(CMPXCHG8B, cmpxchg8b),
    H(CMPXCHG16B, cmpxchg16b),
    /* ops_shift.c */
    H(SHL, shl), H(SHR, shr), H(SAR, sar), H(ROL, rol), H(ROR, ror), H(RCL, rcl),
    H(RCR, rcr), H(SHLD, shld), H(SHRD, shrd),
    /* ops_muldiv.c */
    H(MUL, mul), H(IMUL, imul), H(DIV, div), H(IDIV, idiv),
    /* ops_bit.c */
    H(BT, bt), H(BTS, bts), H(BTR, btr), H(BTC, btc), H(BSF, bsf), H(BSR, bsr),
    H(POPCNT, popcnt), H(LZCNT, lzcnt),
    /* Without BMI1 in CPUID (as on AMD parts before it), F3 0F BC is a BSF
     * whose REP prefix is ignored. */
    H(TZCNT, bsf),
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
    H(PAUSE, pause), H(INVD, invd), H(WBINVD, wbinvd), H(XSETBV, xsetbv), H(LMSW, lmsw), H(RSM, rsm),
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

/* FNOP: #NM under CR0.EM or CR0.TS, as every x87 instruction; otherwise
 * it does nothing the model keeps (only the x87 instruction pointers). */
int op_fnop(struct cpu *cpu, const struct insn *in)
{
    (void)in;
    if (cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
        return raise_exc(cpu, X86_VEC_NM);
    return STEP_OK;
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

/* Handlers after which the next instruction is the one that follows in
 * memory, in the same mode, at the same CPL, with the same mappings (an
 * exit, like a fault, leaves the block where it happens: IN and OUT). */
static const insn_fn block_continuing[] = {
    op_in, op_out,
    op_add, op_adc, op_sub, op_sbb, op_and, op_or, op_xor, op_cmp, op_test, op_inc, op_dec,
    op_neg, op_not, op_mov, op_movzx, op_movsx, op_lea, op_xchg, op_cmovcc, op_setcc,
    op_bswap, op_cbw, op_cwd, op_lahf, op_sahf, op_clc, op_stc, op_cmc, op_cld, op_std,
    op_nop, op_xlat, op_xadd, op_cmpxchg, op_cmpxchg8b, op_cmpxchg16b, op_shl, op_shr, op_sar, op_rol,
    op_ror, op_rcl, op_rcr, op_shld, op_shrd, op_mul, op_imul, op_div, op_idiv, op_bt,
    op_bts, op_btr, op_btc, op_bsf, op_bsr, op_popcnt, op_lzcnt, op_push, op_pop,
    op_enter, op_leave, op_pusha, op_popa, op_movs, op_stos, op_lods, op_scas, op_cmps,
#define FAST4(n) op_##n##_rr64, op_##n##_rr32, op_##n##_ri64, op_##n##_ri32
    FAST4(add), FAST4(sub), FAST4(and), FAST4(or), FAST4(xor), FAST4(cmp), FAST4(test),
#define LOAD_OP(n) op_##n##_rm64, op_##n##_rm32
    LOAD_OP(add), LOAD_OP(sub), LOAD_OP(and), LOAD_OP(or), LOAD_OP(xor), LOAD_OP(cmp),
    LOAD_OP(test),
    op_inc_r64, op_inc_r32, op_dec_r64, op_dec_r32, op_mov_rr64, op_mov_rr32, op_mov_ri64,
    op_mov_ri32, op_mov_rm64, op_mov_rm32, op_mov_mr64, op_mov_mr32, op_mov_rm64_bd,
    op_mov_rm32_bd, op_mov_mr64_bd, op_mov_mr32_bd, op_shl_ri64, op_shl_ri32, op_shr_ri64,
    op_shr_ri32, op_sar_ri64, op_sar_ri32, op_lea_r64, op_mov_mi64, op_mov_mi32, op_mov_mi8,
    op_movzx_rm8, op_movzx_rm16, op_cmp_mi64, op_cmp_mi32, op_cmp_mi8, op_push_r64, op_pop_r64,
    op_movzx_rr8, op_movzx_rr16, op_imul_rr64, op_imul_rr32,
};

static bool plain_reg(const struct opnd *o, unsigned size)
{
    return o->type == OPND_REG && o->reg != REG_NONE && !o->hi8 && o->size == size;
}

/* No segment base: DS/ES/SS-relative in 64-bit mode, with 64-bit
 * addressing (the specialised handlers' address, fast_ea, is not masked). */
static bool flat_mem(const struct insn *in, const struct opnd *o, unsigned size)
{
    return in->asize == 8 && o->type == OPND_MEM && o->size == size && o->seg != SEG_FS &&
           o->seg != SEG_GS;
}

/* base + displacement: a base register that is not RIP, no index. */
static bool base_disp(const struct opnd *o)
{
    return o->reg != REG_NONE && o->reg != REG_RIP && o->index == REG_NONE;
}

/* f64, f32 or f8 for a flat memory operand of that size; else NULL. */
static insn_fn by_flat_size(const struct insn *in, const struct opnd *o, insn_fn f64,
                            insn_fn f32, insn_fn f8)
{
    return flat_mem(in, o, 8) ? f64 : flat_mem(in, o, 4) ? f32 : flat_mem(in, o, 1) ? f8 : NULL;
}

insn_fn specialize_fast(const struct insn *in)
{
    static const struct {
        insn_fn generic, rr64, rr32, ri64, ri32, rm64, rm32;
    } alu[] = {
#define ALU_ROW(n) { op_##n, FAST4(n), op_##n##_rm64, op_##n##_rm32 }
        ALU_ROW(add), ALU_ROW(sub), ALU_ROW(and), ALU_ROW(or), ALU_ROW(xor), ALU_ROW(cmp),
        ALU_ROW(test),
    };
    if (in->prefix & INSN_LOCK)
        return in->fn;
    const struct opnd *a = &in->op[0], *b = &in->op[1];
    insn_fn mi = NULL; /* a form with a flat memory destination and an immediate */
    if (in->fn == op_cmp && in->nops == 2 && b->type == OPND_IMM)
        mi = by_flat_size(in, a, op_cmp_mi64, op_cmp_mi32, op_cmp_mi8);
    else if (in->fn == op_mov && in->nops == 2 && b->type == OPND_IMM)
        mi = by_flat_size(in, a, op_mov_mi64, op_mov_mi32, op_mov_mi8);
    if (mi)
        return mi;
    for (unsigned i = 0; i < sizeof(alu) / sizeof(alu[0]); i++) {
        if (in->fn != alu[i].generic || in->nops != 2)
            continue;
        for (unsigned size = 4; size <= 8; size += 4) {
            if (!plain_reg(a, size))
                continue;
            if (plain_reg(b, size))
                return size == 8 ? alu[i].rr64 : alu[i].rr32;
            if (b->type == OPND_IMM)
                return size == 8 ? alu[i].ri64 : alu[i].ri32;
            if (flat_mem(in, b, size))
                return size == 8 ? alu[i].rm64 : alu[i].rm32;
        }
        return in->fn;
    }
    if ((in->fn == op_inc || in->fn == op_dec) && (plain_reg(a, 8) || plain_reg(a, 4))) {
        bool wide = a->size == 8;
        if (in->fn == op_inc)
            return wide ? op_inc_r64 : op_inc_r32;
        return wide ? op_dec_r64 : op_dec_r32;
    }
    if (in->fn == op_mov && in->nops == 2) {
        for (unsigned size = 4; size <= 8; size += 4) {
            bool w = size == 8;
            if (plain_reg(a, size) && plain_reg(b, size))
                return w ? op_mov_rr64 : op_mov_rr32;
            if (plain_reg(a, size) && b->type == OPND_IMM)
                return w ? op_mov_ri64 : op_mov_ri32;
            if (plain_reg(a, size) && flat_mem(in, b, size)) {
                if (base_disp(b))
                    return w ? op_mov_rm64_bd : op_mov_rm32_bd;
                return w ? op_mov_rm64 : op_mov_rm32;
            }
            if (flat_mem(in, a, size) && plain_reg(b, size)) {
                if (base_disp(a))
                    return w ? op_mov_mr64_bd : op_mov_mr32_bd;
                return w ? op_mov_mr64 : op_mov_mr32;
            }
        }
    }
    if (in->fn == op_movzx && in->nops == 2 && (plain_reg(a, 8) || plain_reg(a, 4))) {
        if (flat_mem(in, b, 1))
            return op_movzx_rm8;
        if (flat_mem(in, b, 2))
            return op_movzx_rm16;
        if (plain_reg(b, 1))
            return op_movzx_rr8;
        if (plain_reg(b, 2))
            return op_movzx_rr16;
    }
    static const struct {
        insn_fn generic, ri64, ri32;
    } shifts[] = { { op_shl, op_shl_ri64, op_shl_ri32 }, { op_shr, op_shr_ri64, op_shr_ri32 },
                   { op_sar, op_sar_ri64, op_sar_ri32 } };
    for (unsigned i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++)
        if (in->fn == shifts[i].generic && in->nops == 2 && b->type == OPND_IMM) {
            if (plain_reg(a, 8))
                return shifts[i].ri64;
            if (plain_reg(a, 4))
                return shifts[i].ri32;
        }
    if (in->fn == op_lea && plain_reg(a, 8) && in->asize == 8)
        return op_lea_r64;
    if (in->fn == op_imul && in->nops == 2) {
        if (plain_reg(a, 8) && plain_reg(b, 8))
            return op_imul_rr64;
        if (plain_reg(a, 4) && plain_reg(b, 4))
            return op_imul_rr32;
    }
    if ((in->fn == op_push || in->fn == op_pop) && in->nops == 1 && in->osize == 8 &&
        plain_reg(a, 8))
        return in->fn == op_push ? op_push_r64 : op_pop_r64;
    if (in->fn == op_ret && in->nops == 0)
        return op_ret_r64;
    return in->fn;
}

/* block_continuing as a set: open addressing by the handler's address,
 * filled on first use (it depends only on the constant list). */
#define CONTINUING_SLOTS 512u
_Static_assert(sizeof(block_continuing) / sizeof(block_continuing[0]) < CONTINUING_SLOTS / 2,
               "the continuing set stays at most half full");

static unsigned continuing_home(insn_fn fn)
{
    uint64_t a = (uint64_t)(uintptr_t)fn;
    return (unsigned)((a * 0x9e3779b97f4a7c15ull) >> 55) & (CONTINUING_SLOTS - 1);
}

bool insn_continues_block(insn_fn fn)
{
    static insn_fn set[CONTINUING_SLOTS];
    static bool filled;
    if (!filled) {
        for (unsigned i = 0; i < sizeof(block_continuing) / sizeof(block_continuing[0]); i++) {
            unsigned h = continuing_home(block_continuing[i]);
            while (set[h] && set[h] != block_continuing[i])
                h = (h + 1) & (CONTINUING_SLOTS - 1);
            set[h] = block_continuing[i];
        }
        filled = true;
    }
    for (unsigned h = continuing_home(fn); set[h]; h = (h + 1) & (CONTINUING_SLOTS - 1))
        if (set[h] == fn)
            return true;
    return false;
}
