/* exit_name.c — names of #VMEXIT codes for traces and messages. */
#include "svmsim/arch/svm_exit.h"

#include <stddef.h>

static const char *const names[SVM_EXIT_LAST_BITMAPPED + 1] = {
    [0x00] = "READ_CR0", [0x02] = "READ_CR2", [0x03] = "READ_CR3", [0x04] = "READ_CR4",
    [0x08] = "READ_CR8", [0x10] = "WRITE_CR0", [0x12] = "WRITE_CR2", [0x13] = "WRITE_CR3",
    [0x14] = "WRITE_CR4", [0x18] = "WRITE_CR8",
    [0x20] = "READ_DR0", [0x21] = "READ_DR1", [0x22] = "READ_DR2", [0x23] = "READ_DR3",
    [0x26] = "READ_DR6", [0x27] = "READ_DR7", [0x30] = "WRITE_DR0", [0x31] = "WRITE_DR1",
    [0x32] = "WRITE_DR2", [0x33] = "WRITE_DR3", [0x36] = "WRITE_DR6", [0x37] = "WRITE_DR7",
    [0x40] = "EXCP_DE", [0x41] = "EXCP_DB", [0x42] = "EXCP_NMI", [0x43] = "EXCP_BP",
    [0x44] = "EXCP_OF", [0x45] = "EXCP_BR", [0x46] = "EXCP_UD", [0x47] = "EXCP_NM",
    [0x48] = "EXCP_DF", [0x4a] = "EXCP_TS", [0x4b] = "EXCP_NP", [0x4c] = "EXCP_SS",
    [0x4d] = "EXCP_GP", [0x4e] = "EXCP_PF", [0x50] = "EXCP_MF", [0x51] = "EXCP_AC",
    [0x52] = "EXCP_MC", [0x53] = "EXCP_XM",
    [0x60] = "INTR", [0x61] = "NMI", [0x62] = "SMI", [0x63] = "INIT", [0x64] = "VINTR",
    [0x65] = "CR0_SEL_WRITE", [0x66] = "IDTR_READ", [0x67] = "GDTR_READ",
    [0x68] = "LDTR_READ", [0x69] = "TR_READ", [0x6a] = "IDTR_WRITE", [0x6b] = "GDTR_WRITE",
    [0x6c] = "LDTR_WRITE", [0x6d] = "TR_WRITE", [0x6e] = "RDTSC", [0x6f] = "RDPMC",
    [0x70] = "PUSHF", [0x71] = "POPF", [0x72] = "CPUID", [0x73] = "RSM", [0x74] = "IRET",
    [0x75] = "SWINT", [0x76] = "INVD", [0x77] = "PAUSE", [0x78] = "HLT", [0x79] = "INVLPG",
    [0x7a] = "INVLPGA", [0x7b] = "IOIO", [0x7c] = "MSR", [0x7d] = "TASK_SWITCH",
    [0x7e] = "FERR_FREEZE", [0x7f] = "SHUTDOWN", [0x80] = "VMRUN", [0x81] = "VMMCALL",
    [0x82] = "VMLOAD", [0x83] = "VMSAVE", [0x84] = "STGI", [0x85] = "CLGI", [0x86] = "SKINIT",
    [0x87] = "RDTSCP", [0x88] = "ICEBP", [0x89] = "WBINVD", [0x8a] = "MONITOR",
    [0x8b] = "MWAIT", [0x8c] = "MWAIT_COND", [0x8d] = "XSETBV", [0x8e] = "RDPRU",
    [0xa2] = "INVPCID",
};

const char *svm_exit_name(uint64_t code)
{
    if (code == SVM_EXIT_NPF)
        return "NPF";
    if (code == SVM_EXIT_ERR)
        return "ERR";
    if (code <= SVM_EXIT_LAST_BITMAPPED && names[code])
        return names[code];
    return "UNKNOWN";
}
