/* svm.h — guest runtime: the SVM harness an L1 test program uses to run L2
 * guests, in the manner of kvm-unit-tests' x86/svm.c.
 *
 * Owns: the host-save page and enabling SVM (svm_setup), the default VMCB
 * for a 64-bit L2 sharing L1's page tables and descriptor tables
 * (vmcb_ident), VMRUN with the GPRs L2 sees swapped in and out around it
 * (svm_vmrun), a nested page table builder (npt_*), and the table of tests
 * {name, prepare, guest, finished, succeeded} (run_svm_tests).
 * L2 code runs in L1's address space at CPL0; a guest function returns to
 * the harness, which ends it with VMMCALL.
 */
#ifndef GUEST_SVM_H
#define GUEST_SVM_H

#include <stdbool.h>
#include <stdint.h>

#include <svmsim/arch/svm_exit.h>
#include <svmsim/arch/vmcb.h>

/* The VMCB the harness runs; zeroed and built by vmcb_ident() before each
 * test's prepare(). */
extern struct vmcb *vmcb;

/* L2's general-purpose registers other than RAX and RSP (those live in the
 * VMCB), swapped with the CPU's around VMRUN. */
struct svm_gprs {
    uint64_t rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};
extern struct svm_gprs l2_regs;

struct svm_test {
    const char *name;
    bool (*supported)(void);             /* NULL: always */
    void (*prepare)(struct svm_test *t); /* after vmcb_ident() */
    void (*guest)(struct svm_test *t);   /* L2 body; VMMCALL follows it */
    /* After each #VMEXIT: true when the test is over, false to VMRUN again. */
    bool (*finished)(struct svm_test *t);
    bool (*succeeded)(struct svm_test *t);
    /* A known QEMU TCG divergence: under QEMU a failure is reported as SKIP
     * naming it (tests/guest/README.md lists them). */
    const char *qemu_divergence;
    int exits;                           /* #VMEXITs so far */
    uint64_t scratch;                    /* free for the test */
};

bool svm_supported(void);
bool npt_supported(void);
bool nrips_supported(void);
/* VM_HSAVE_PA = a fresh page, EFER.SVME = 1. */
void svm_setup(void);
/* The default VMCB for a 64-bit L2 at CPL0 in L1's address space: L1's
 * segments, descriptor tables, control registers, EFER, PAT, DR6/DR7; VMSAVE
 * of L1's FS/GS/TR/LDTR/syscall MSRs; ASID 1 with TLB_CONTROL 1 (flush at
 * every VMRUN, as kvm-unit-tests does); VMRUN, VMMCALL and SHUTDOWN
 * intercepted; zeroed IOPM and MSRPM; with nested paging (if offered) an
 * identity nCR3 of the first 4 GiB. */
void vmcb_ident(struct vmcb *v);
/* L2 starts at rip with a fresh stack. */
void vmcb_set_guest(struct vmcb *v, void (*rip)(void), void *stack_top);
/* vmcb_ident, and L2 at rip on the library's own L2 stack (for a test
 * that runs L2 itself rather than through run_svm_tests). */
void vmcb_ident_guest(struct vmcb *v, void (*rip)(void));
/* L2 in compatibility mode: CS = KERNEL_CS32 (32-bit, L=0 D=1). Its code
 * must be 32-bit code (see l2_compat_vmmcall). */
void vmcb_set_compat_mode(struct vmcb *v);
/* L2 at CPL3: CS = USER_CS | 3 (64-bit code, DPL3), SS = USER_DS | 3 and
 * CPL = 3; limits and bases stay as they are. */
void vmcb_set_user_mode(struct vmcb *v);
/* 32-bit code: VMMCALL, over and over. */
void l2_compat_vmmcall(void);
/* L2 starts the running test's guest body again, on a fresh stack. */
void vmcb_restart_guest(struct vmcb *v);

/* VMRUN of v; returns the exit code. VMLOAD/VMSAVE of v bracket it (as
 * kvm-unit-tests does), then L1's own state is VMLOADed back. */
uint64_t svm_vmrun_vmcb(struct vmcb *v);
static inline uint64_t svm_vmrun(void) { return svm_vmrun_vmcb(vmcb); }

static inline void vmcb_intercept(struct vmcb *v, unsigned bit)
{
    v->control.intercepts[bit / 32] |= 1u << (bit % 32);
}
static inline void vmcb_unintercept(struct vmcb *v, unsigned bit)
{
    v->control.intercepts[bit / 32] &= ~(1u << (bit % 32));
}

/* The zeroed permission maps vmcb_ident() points the VMCB at. */
extern uint8_t *svm_iopm;
extern uint8_t *svm_msrpm;

/* Runs the table; prints PASS/FAIL/SKIP per test. */
void run_svm_tests(struct svm_test *tests, int n);

/* Default callbacks. */
bool default_finished(struct svm_test *t);   /* after the first exit */
bool succeeded_if_vmmcall(struct svm_test *t);

/* Nested page tables: an identity map of the first 4 GiB with 2 MiB pages
 * (PML4 -> PDPT -> PD), user, writable, executable at every level. */
uint64_t npt_ident_root(void);
/* The nested leaf entry for L2 physical gpa (< 4 GiB), splitting its 2 MiB
 * page into 4 KiB pages on first use. */
uint64_t *npt_pte(uint64_t gpa);
uint64_t *npt_pde(uint64_t gpa);

/* Advance L2 past an instruction of len bytes (the harness's usual answer
 * to an intercept it wants to skip). */
static inline void vmcb_skip(struct vmcb *v, unsigned len) { v->save.rip += len; }

#endif
