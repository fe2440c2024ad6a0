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
 */
#include "libguest.h"

static volatile uint64_t memvar[512] __attribute__((aligned(4096)));

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
#endif
    return 0;
}
