/* svm_exit.h — #VMEXIT codes (AMD APM vol. 2 appendix C) and the mapping from
 * exit code to intercept bit.
 *
 * Owns: exit code numbers and their names. No policy.
 */
#ifndef SVMSIM_ARCH_SVM_EXIT_H
#define SVMSIM_ARCH_SVM_EXIT_H

#include <stdint.h>

#define SVM_EXIT_READ_CR0   0x000
#define SVM_EXIT_READ_CR3   0x003
#define SVM_EXIT_READ_CR4   0x004
#define SVM_EXIT_READ_CR8   0x008
#define SVM_EXIT_WRITE_CR0  0x010
#define SVM_EXIT_WRITE_CR3  0x013
#define SVM_EXIT_WRITE_CR4  0x014
#define SVM_EXIT_WRITE_CR8  0x018
#define SVM_EXIT_READ_DR0   0x020
#define SVM_EXIT_WRITE_DR0  0x030
#define SVM_EXIT_EXCP_BASE  0x040
#define SVM_EXIT_UD         0x046
#define SVM_EXIT_DF         0x048
#define SVM_EXIT_GP         0x04d
#define SVM_EXIT_PF         0x04e
#define SVM_EXIT_INTR       0x060
#define SVM_EXIT_NMI        0x061
#define SVM_EXIT_SMI        0x062
#define SVM_EXIT_INIT       0x063
#define SVM_EXIT_VINTR      0x064
#define SVM_EXIT_CR0_SEL_WRITE 0x065
#define SVM_EXIT_IDTR_READ  0x066
#define SVM_EXIT_GDTR_READ  0x067
#define SVM_EXIT_LDTR_READ  0x068
#define SVM_EXIT_TR_READ    0x069
#define SVM_EXIT_IDTR_WRITE 0x06a
#define SVM_EXIT_GDTR_WRITE 0x06b
#define SVM_EXIT_LDTR_WRITE 0x06c
#define SVM_EXIT_TR_WRITE   0x06d
#define SVM_EXIT_RDTSC      0x06e
#define SVM_EXIT_RDPMC      0x06f
#define SVM_EXIT_PUSHF      0x070
#define SVM_EXIT_POPF       0x071
#define SVM_EXIT_CPUID      0x072
#define SVM_EXIT_RSM        0x073
#define SVM_EXIT_IRET       0x074
#define SVM_EXIT_SWINT      0x075
#define SVM_EXIT_INVD       0x076
#define SVM_EXIT_PAUSE      0x077
#define SVM_EXIT_HLT        0x078
#define SVM_EXIT_INVLPG     0x079
#define SVM_EXIT_INVLPGA    0x07a
#define SVM_EXIT_IOIO       0x07b
#define SVM_EXIT_MSR        0x07c
#define SVM_EXIT_TASK_SWITCH 0x07d
#define SVM_EXIT_FERR_FREEZE 0x07e
#define SVM_EXIT_SHUTDOWN   0x07f
#define SVM_EXIT_VMRUN      0x080
#define SVM_EXIT_VMMCALL    0x081
#define SVM_EXIT_VMLOAD     0x082
#define SVM_EXIT_VMSAVE     0x083
#define SVM_EXIT_STGI       0x084
#define SVM_EXIT_CLGI       0x085
#define SVM_EXIT_SKINIT     0x086
#define SVM_EXIT_RDTSCP     0x087
#define SVM_EXIT_ICEBP      0x088
#define SVM_EXIT_WBINVD     0x089
#define SVM_EXIT_MONITOR    0x08a
#define SVM_EXIT_MWAIT      0x08b
#define SVM_EXIT_MWAIT_COND 0x08c
#define SVM_EXIT_XSETBV     0x08d
#define SVM_EXIT_RDPRU      0x08e
#define SVM_EXIT_INVPCID    0x0a2
#define SVM_EXIT_LAST_BITMAPPED 0x0a6
#define SVM_EXIT_NPF        0x400
#define SVM_EXIT_ERR        (~0ull)

/* For exit codes 0x000..0x0a6 the intercept bit index in the 192-bit vector
 * formed by the six intercept words (word 0 bit 0 = bit 0) equals the exit
 * code: CR reads/writes in word 0, DR in word 1, exception vectors in word 2,
 * INTR (0x60) at word 3 bit 0, VMRUN (0x80) at word 4 bit 0. Other codes have
 * no intercept bit (-1). */
static inline int svm_exit_intercept_bit(uint64_t code)
{
    return code <= SVM_EXIT_LAST_BITMAPPED ? (int)code : -1;
}

/* Name of an exit code for traces ("IOIO", "EXCP_GP", ...), "UNKNOWN" otherwise. */
const char *svm_exit_name(uint64_t code);

#endif
