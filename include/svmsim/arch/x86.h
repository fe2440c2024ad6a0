/* x86.h — architectural x86-64 constants: control-register, EFER and RFLAGS
 * bits, exception vectors, MSR numbers, paging bits. No policy.
 */
#ifndef SVMSIM_ARCH_X86_H
#define SVMSIM_ARCH_X86_H

#include <stdbool.h>

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_EM (1ull << 2)
#define X86_CR0_TS (1ull << 3)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_AM (1ull << 18)
#define X86_CR0_NW (1ull << 29)
#define X86_CR0_CD (1ull << 30)
#define X86_CR0_PG (1ull << 31)

#define X86_CR4_VME (1ull << 0)
#define X86_CR4_PVI (1ull << 1)
#define X86_CR4_TSD (1ull << 2)
#define X86_CR4_DE  (1ull << 3)
#define X86_CR4_PSE (1ull << 4)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_MCE (1ull << 6)
#define X86_CR4_PGE (1ull << 7)
#define X86_CR4_PCE (1ull << 8)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define X86_CR4_UMIP (1ull << 11)
#define X86_CR4_LA57 (1ull << 12)
#define X86_CR4_FSGSBASE (1ull << 16)
#define X86_CR4_PCIDE (1ull << 17)
#define X86_CR4_OSXSAVE (1ull << 18)
#define X86_CR4_SMEP (1ull << 20)
#define X86_CR4_SMAP (1ull << 21)

#define X86_EFER_SCE   (1ull << 0)
#define X86_EFER_LME   (1ull << 8)
#define X86_EFER_LMA   (1ull << 10)
#define X86_EFER_NXE   (1ull << 11)
#define X86_EFER_SVME  (1ull << 12)
#define X86_EFER_LMSLE (1ull << 13)
#define X86_EFER_FFXSR (1ull << 14)
#define X86_EFER_TCE   (1ull << 15)

#define X86_RFLAGS_CF (1ull << 0)
#define X86_RFLAGS_FIXED (1ull << 1)
#define X86_RFLAGS_PF (1ull << 2)
#define X86_RFLAGS_AF (1ull << 4)
#define X86_RFLAGS_ZF (1ull << 6)
#define X86_RFLAGS_SF (1ull << 7)
#define X86_RFLAGS_TF (1ull << 8)
#define X86_RFLAGS_IF (1ull << 9)
#define X86_RFLAGS_DF (1ull << 10)
#define X86_RFLAGS_OF (1ull << 11)
#define X86_RFLAGS_IOPL_SHIFT 12
#define X86_RFLAGS_IOPL (3ull << 12)
#define X86_RFLAGS_NT (1ull << 14)
#define X86_RFLAGS_RF (1ull << 16)
#define X86_RFLAGS_VM (1ull << 17)
#define X86_RFLAGS_AC (1ull << 18)
#define X86_RFLAGS_VIF (1ull << 19)
#define X86_RFLAGS_VIP (1ull << 20)
#define X86_RFLAGS_ID (1ull << 21)
#define X86_RFLAGS_ARITH (X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | \
                          X86_RFLAGS_SF | X86_RFLAGS_OF)

#define X86_VEC_DE 0
#define X86_VEC_DB 1
#define X86_DR6_BS (1ull << 14) /* single step */
#define X86_VEC_NMI 2
#define X86_VEC_BP 3
#define X86_VEC_OF 4
#define X86_VEC_BR 5
#define X86_VEC_UD 6
#define X86_VEC_NM 7
#define X86_VEC_DF 8
#define X86_VEC_TS 10
#define X86_VEC_NP 11
#define X86_VEC_SS 12
#define X86_VEC_GP 13
#define X86_VEC_PF 14
#define X86_VEC_MF 16
#define X86_VEC_AC 17
#define X86_VEC_MC 18
#define X86_VEC_XM 19

/* #PF error code */
#define X86_PF_P    (1u << 0)
#define X86_PF_W    (1u << 1)
#define X86_PF_U    (1u << 2)
#define X86_PF_RSVD (1u << 3)
#define X86_PF_I    (1u << 4)

/* Selector error codes: EXT bit 0, IDT bit 1, TI bit 2 */
#define X86_ERR_EXT (1u << 0)
#define X86_ERR_IDT (1u << 1)
#define X86_ERR_TI  (1u << 2)

/* Page-table entry bits */
#define X86_PTE_P   (1ull << 0)
#define X86_PTE_RW  (1ull << 1)
#define X86_PTE_US  (1ull << 2)
#define X86_PTE_PWT (1ull << 3)
#define X86_PTE_PCD (1ull << 4)
#define X86_PTE_A   (1ull << 5)
#define X86_PTE_D   (1ull << 6)
#define X86_PTE_PS  (1ull << 7)
#define X86_PTE_G   (1ull << 8)
#define X86_PTE_NX  (1ull << 63)

#define MSR_IA32_TSC           0x00000010
#define MSR_IA32_APICBASE      0x0000001b
#define MSR_IA32_MISC_ENABLE   0x000001a0
#define MSR_IA32_SYSENTER_CS   0x00000174
#define MSR_IA32_SYSENTER_ESP  0x00000175
#define MSR_IA32_SYSENTER_EIP  0x00000176
#define MSR_IA32_TSC_ADJUST    0x0000003b
#define MSR_IA32_MCG_CAP       0x00000179
#define MSR_IA32_MCG_STATUS    0x0000017a
#define MSR_IA32_MCG_CTL       0x0000017b
#define MSR_IA32_DEBUGCTL      0x000001d9
#define MSR_IA32_LASTBRANCHFROMIP 0x000001db
#define MSR_IA32_LASTBRANCHTOIP   0x000001dc
#define MSR_IA32_LASTINTFROMIP    0x000001dd
#define MSR_IA32_LASTINTTOIP      0x000001de
#define X86_DEBUGCTL_LBR       (1ull << 0)
#define MSR_IA32_CR_PAT        0x00000277
#define MSR_IA32_MC0_CTL2      0x00000280 /* MCi_CTL2 (CMCI) at 0x280 + i */
#define MSR_IA32_MC0_CTL       0x00000400 /* bank i: CTL, STATUS, ADDR, MISC at 0x400 + 4i */
#define MSR_EFER               0xc0000080
#define MSR_STAR               0xc0000081
#define MSR_LSTAR              0xc0000082
#define MSR_CSTAR              0xc0000083
#define MSR_SYSCALL_MASK       0xc0000084
#define MSR_FS_BASE            0xc0000100
#define MSR_GS_BASE            0xc0000101
#define MSR_KERNEL_GS_BASE     0xc0000102
#define MSR_TSC_AUX            0xc0000103
#define MSR_K7_EVNTSEL0        0xc0010000
#define MSR_K7_PERFCTR0        0xc0010004
#define MSR_K7_PERFCTR3        0xc0010007
#define MSR_K7_HWCR            0xc0010015
#define MSR_VM_CR              0xc0010114
#define MSR_VM_HSAVE_PA        0xc0010117

#define MSR_VM_CR_LOCK         (1ull << 3)
#define MSR_VM_CR_SVMDIS       (1ull << 4)
#define MSR_VM_CR_VALID_MASK   0x1full

/* CPUID Fn8000_000A EDX */
#define CPUID_SVM_NPT          (1u << 0)
#define CPUID_SVM_LBRV         (1u << 1)
#define CPUID_SVM_NRIPS        (1u << 3)
#define CPUID_SVM_PAUSE_FILTER (1u << 10)
#define CPUID_SVM_PF_THRESHOLD (1u << 12)
#define CPUID_SVM_VLS          (1u << 15)
#define CPUID_SVM_VGIF         (1u << 16)
#define CPUID_SVM_GMET         (1u << 17)
#define CPUID_SVM_SVME_ADDR_CHK (1u << 28)

/* What an exception raised while an earlier one is being delivered becomes
 * (APM vol. 2 §8.2.9, table 8-7): handled serially, a double fault (#DF
 * with error code 0), or, on top of a #DF, a triple fault (shutdown).
 * first_is_exception is false when the earlier event is an interrupt. */
enum x86_exc_combine { X86_EXC_SERIAL, X86_EXC_DOUBLE_FAULT, X86_EXC_TRIPLE_FAULT };

static inline int x86_exc_class(unsigned vector) /* 0 benign, 1 contributory, 2 #PF, 3 #DF */
{
    switch (vector) {
    case X86_VEC_DE: case X86_VEC_TS: case X86_VEC_NP: case X86_VEC_SS: case X86_VEC_GP:
        return 1;
    case X86_VEC_PF:
        return 2;
    case X86_VEC_DF:
        return 3;
    default:
        return 0;
    }
}

static inline enum x86_exc_combine x86_exc_combine(bool first_is_exception, unsigned first,
                                                   unsigned second)
{
    int a = first_is_exception ? x86_exc_class(first) : 0, b = x86_exc_class(second);
    if (a == 3 && (b == 1 || b == 2))
        return X86_EXC_TRIPLE_FAULT;
    if ((a == 1 && b == 1) || (a == 2 && (b == 1 || b == 2)))
        return X86_EXC_DOUBLE_FAULT;
    return X86_EXC_SERIAL;
}

#endif
