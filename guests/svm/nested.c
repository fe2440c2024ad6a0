/* nested.c — nested SVM as an L1 sees it: VMRUN of L2, the #VMEXITs L1
 * gets, the consistency checks that fail VMRUN, and L2's exits that L0
 * keeps. Each line names the oracle row it checks (../shared/oracle/
 * ORACLE.md §1.1 KUT-SVM-*, §2.1 KST-*, LTP-CVE-01) or the SPEC-GP.md rule.
 */
#include "libguest.h"

static uint8_t scratch_page[4096] __attribute__((aligned(4096)));

/* ---- KUT-SVM-01/02: the simplest runs */

static void guest_vmrun(struct svm_test *t)
{
    asm volatile("vmrun %%rax" : : "a"(vmcb) : "memory");
}

static bool succeeded_if_vmrun(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMRUN;
}

/* ---- KUT-SVM-03/04: control-area checks */

static void prepare_no_vmrun_intercept(struct svm_test *t)
{
    vmcb_unintercept(vmcb, SVM_EXIT_VMRUN);
}

static void prepare_asid_zero(struct svm_test *t)
{
    vmcb->control.asid = 0;
}

static bool succeeded_if_err(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_ERR;
}

/* ---- KUT-SVM-05: IOIO through L1's IOPM */

static volatile unsigned ioio_done;

static void guest_ioio(struct svm_test *t)
{
    inb(0x5000);      /* no bit set: L0 handles it */
    ioio_done = 1;
    outw(0x0, 0);     /* bit 1 set: the word access touches it */
    ioio_done = 2;
    inl(0x4fff);      /* bit 0x5000 set: partial overlap */
    ioio_done = 3;
    inl(0x7fff);      /* bit 0x8000 set: across the bitmap's first page */
    ioio_done = 4;
    inl(0xffff);      /* byte 8192 bit 0 (port 0x10000): the map's extra byte */
    ioio_done = 5;
}

static void iopm_set(unsigned port, bool set)
{
    if (set)
        svm_iopm[port / 8] |= (uint8_t)(1u << (port % 8));
    else
        svm_iopm[port / 8] &= (uint8_t)~(1u << (port % 8));
}

static void prepare_ioio(struct svm_test *t)
{
    vmcb_intercept(vmcb, SVM_EXIT_IOIO);
    iopm_set(1, true);
    iopm_set(0x8000, true);
    iopm_set(0x10000, true);
    ioio_done = 0;
}

/* Expected intercepts in order: (port, size). */
static const struct { uint16_t port; uint8_t size; } ioio_expect[] = {
    { 0x0, 2 }, { 0x4fff, 4 }, { 0x7fff, 4 }, { 0xffff, 4 },
};

static bool finished_ioio(struct svm_test *t)
{
    uint64_t code = vmcb->control.exit_code;
    if (code != SVM_EXIT_IOIO)
        return true;
    uint64_t info = vmcb->control.exit_info_1;
    unsigned i = (unsigned)t->scratch;
    if (i >= sizeof(ioio_expect) / sizeof(ioio_expect[0]) ||
        (info >> 16) != ioio_expect[i].port || ((info >> 4) & 7) != ioio_expect[i].size ||
        vmcb->control.exit_info_2 == 0) {
        t->scratch = 100; /* mismatch */
        return true;
    }
    if (i == 0)
        iopm_set(0x5000, true); /* for the next access; inb 0x5000 passed */
    unsigned port = ioio_expect[i].port;
    for (unsigned p = port; p < port + ioio_expect[i].size; p++)
        iopm_set(p, false);
    t->scratch++;
    return false; /* the access runs again and now passes */
}

static bool succeeded_ioio(struct svm_test *t)
{
    return t->scratch == 4 && ioio_done == 5 && vmcb->control.exit_code == SVM_EXIT_VMMCALL;
}

/* ---- KUT-SVM-06: next_rip */

extern char rdtsc_insn[], rdtsc_after[];

__attribute__((noinline)) static void guest_rdtsc(struct svm_test *t)
{
    asm volatile("rdtsc_insn: rdtsc\n\trdtsc_after:" : : : "rax", "rdx", "memory");
}

static void prepare_rdtsc(struct svm_test *t)
{
    vmcb_intercept(vmcb, SVM_EXIT_RDTSC);
}

static bool succeeded_next_rip(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_RDTSC &&
           vmcb->save.rip == (uint64_t)rdtsc_insn &&
           vmcb->control.next_rip == (uint64_t)rdtsc_after;
}

/* ---- KUT-SVM-20: L2's VMLOAD/VMSAVE against L1's intercepts */

static void guest_vmload_vmsave(struct svm_test *t)
{
    asm volatile("vmload %%rax\n\tvmsave %%rax" : : "a"(scratch_page) : "memory");
}

static const uint8_t vls_plan[][2] = { /* intercept VMLOAD, VMSAVE */
    { 0, 0 }, { 1, 0 }, { 0, 1 }, { 0, 0 }, { 1, 0 }, { 0, 0 }, { 0, 1 }, { 0, 0 },
};
static const uint64_t vls_expect[] = {
    SVM_EXIT_VMMCALL, SVM_EXIT_VMLOAD, SVM_EXIT_VMSAVE, SVM_EXIT_VMMCALL,
    SVM_EXIT_VMLOAD, SVM_EXIT_VMMCALL, SVM_EXIT_VMSAVE, SVM_EXIT_VMMCALL,
};

static void vls_apply(unsigned i)
{
    if (vls_plan[i][0])
        vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
    else
        vmcb_unintercept(vmcb, SVM_EXIT_VMLOAD);
    if (vls_plan[i][1])
        vmcb_intercept(vmcb, SVM_EXIT_VMSAVE);
    else
        vmcb_unintercept(vmcb, SVM_EXIT_VMSAVE);
}

static void prepare_vmload_vmsave(struct svm_test *t)
{
    memcpy(scratch_page, vmcb, sizeof(scratch_page));
    vls_apply(0);
}

static bool finished_vmload_vmsave(struct svm_test *t)
{
    unsigned i = (unsigned)(t->scratch & 0xff);
    if (vmcb->control.exit_code != vls_expect[i]) {
        t->scratch |= 0x100;
        return true;
    }
    if (vmcb->control.exit_code == SVM_EXIT_VMMCALL)
        vmcb_restart_guest(vmcb); /* the body again, for the next setting */
    else
        vmcb_skip(vmcb, 3);
    if (++i == sizeof(vls_expect) / sizeof(vls_expect[0]))
        return true;
    t->scratch = i;
    vls_apply(i);
    return false;
}

static bool succeeded_vmload_vmsave(struct svm_test *t)
{
    return t->scratch == 7;
}

/* ---- LTP-CVE-01 / KST-VLS-02 (without VLS): L2's VMSAVE that L1 does not
 * intercept is performed by L0 on L1's memory at RAX, with L2's state. */

static void guest_vmsave_kgs(struct svm_test *t)
{
    wrmsr(MSR_KERNEL_GS_BASE, 0xaaaa);
    asm volatile("vmsave %%rax" : : "a"(scratch_page) : "memory");
    ((struct vmcb *)scratch_page)->save.kernel_gs_base = 0xbbbb;
    asm volatile("vmload %%rax" : : "a"(scratch_page) : "memory");
    t->scratch = rdmsr(MSR_KERNEL_GS_BASE);
}

static void prepare_vmsave_kgs(struct svm_test *t)
{
    memset(scratch_page, 0, sizeof(scratch_page));
    vmcb_unintercept(vmcb, SVM_EXIT_VMLOAD);
    vmcb_unintercept(vmcb, SVM_EXIT_VMSAVE);
}

static bool succeeded_vmsave_kgs(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL && t->scratch == 0xbbbb;
}

/* ---- §4.3: MSR routing through L1's MSRPM */

static void guest_msr(struct svm_test *t)
{
    wrmsr(MSR_STAR, 0x0023001000000000ull); /* MSRPM bit clear: L0 */
    t->scratch = rdmsr(MSR_STAR);
    rdmsr(MSR_LSTAR);                       /* read bit set: L1 */
}

static void prepare_msr(struct svm_test *t)
{
    vmcb_intercept(vmcb, SVM_EXIT_MSR);
    unsigned bit = (MSR_LSTAR & 0x1fff) * 2;
    svm_msrpm[0x800 + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static bool succeeded_msr(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_MSR && vmcb->control.exit_info_1 == 0 &&
           t->scratch == 0x0023001000000000ull;
}

/* ---- KUT-SVM-21: exceptions of L2, with and without L1's intercept */

static volatile int l2_vector;

static void guest_gp(struct svm_test *t)
{
    exc_clear();
    asm volatile(ASM_TRY("movq (%0), %%rax") : : "r"(0x8000000000000000ull) : "rax", "memory");
    l2_vector = exc_vector();
}

static void guest_ud(struct svm_test *t)
{
    exc_clear();
    asm volatile(ASM_TRY("ud2") : : : "memory");
    l2_vector = exc_vector();
}

static void guest_de(struct svm_test *t)
{
    exc_clear();
    asm volatile(ASM_TRY("xor %%edx, %%edx; xor %%ecx, %%ecx; divl %%ecx")
                 : : : "rax", "rcx", "rdx", "memory");
    l2_vector = exc_vector();
}

static void guest_bp(struct svm_test *t)
{
    exc_clear();
    asm volatile(ASM_TRY("int3") : : : "memory");
    l2_vector = exc_vector();
}

static void prepare_no_exc_intercept(struct svm_test *t)
{
    l2_vector = -1;
}

static bool succeeded_own_handler(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL && l2_vector == (int)t->scratch;
}

#define EXC_TESTS(vec, body)                                                           \
    static void prepare_##body##_own(struct svm_test *t)                               \
    {                                                                                  \
        prepare_no_exc_intercept(t);                                                   \
        t->scratch = vec;                                                              \
    }                                                                                  \
    static void prepare_##body##_intercepted(struct svm_test *t)                       \
    {                                                                                  \
        vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + vec);                                \
    }                                                                                  \
    static bool succeeded_##body##_intercepted(struct svm_test *t)                     \
    {                                                                                  \
        return vmcb->control.exit_code == SVM_EXIT_EXCP_BASE + vec;                    \
    }
EXC_TESTS(X86_VEC_GP, gp)
EXC_TESTS(X86_VEC_UD, ud)
EXC_TESTS(X86_VEC_DE, de)
EXC_TESTS(X86_VEC_BP, bp)

/* ---- KUT-SVM-24: single-step into L2 */

extern char ss_first[], ss_second[];

__attribute__((noinline)) static void guest_singlestep(struct svm_test *t)
{
    asm volatile("ss_first: nop\n\tss_second: nop" : : : "memory");
}

static void prepare_singlestep(struct svm_test *t)
{
    vmcb->save.rflags |= X86_RFLAGS_TF;
    vmcb->save.rip = (uint64_t)ss_first;
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_DB);
}

static bool succeeded_singlestep(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_EXCP_BASE + X86_VEC_DB &&
           vmcb->save.rip == (uint64_t)ss_second;
}

/* ---- KUT-SVM-22: triple fault in L2 with SHUTDOWN intercepted */

static void prepare_shutdown(struct svm_test *t)
{
    vmcb->save.idtr.base = 0; /* page 0 is not present */
}

static void guest_ud2(struct svm_test *t)
{
    asm volatile("ud2");
}

static bool succeeded_shutdown(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_SHUTDOWN;
}

/* ---- KST-EXC-02/03/04, with L1's EVENTINJ as the injector: #SS through
 * an empty IDT. */

static void prepare_inject_ss(struct svm_test *t)
{
    vmcb->save.idtr.limit = 0;
    vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR |
                              X86_VEC_SS;
    vmcb->control.event_inj_err = 0xdeadbeef;
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_SS);
}

static void prepare_inject_ss_gp(struct svm_test *t)
{
    prepare_inject_ss(t);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_DF);
}

static void prepare_inject_ss_df(struct svm_test *t)
{
    prepare_inject_ss(t);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_DF);
}

static bool succeeded_ss_gp(struct svm_test *t)
{
    /* The injected #SS is not checked against the intercepts; its delivery
     * faults with #GP((12 << 3) | IDT), which is, and names the #SS. */
    return vmcb->control.exit_code == SVM_EXIT_GP && vmcb->control.exit_info_1 == 0x62 &&
           vmcb->control.exit_int_info == (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT |
                                           SVM_EVTINJ_VALID_ERR | X86_VEC_SS) &&
           vmcb->control.exit_int_info_err == 0xdeadbeef;
}

static bool succeeded_ss_df(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_DF && vmcb->control.exit_info_1 == 0;
}

/* ---- EVENTINJ of a software interrupt: returns to vmcb12's next_rip */

static volatile int soft_int_count;

static void soft_int_handler(struct ex_regs *regs)
{
    soft_int_count++;
}

static void prepare_inject_soft(struct svm_test *t)
{
    soft_int_count = 0;
    handle_exception(0x40, soft_int_handler);
    vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_SOFT | 0x40;
    vmcb->control.next_rip = vmcb->save.rip;
}

static bool succeeded_inject_soft(struct svm_test *t)
{
    handle_exception(0x40, NULL);
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL && soft_int_count == 1;
}

/* ---- §4.4: what #VMEXIT writes back */

static void guest_state(struct svm_test *t)
{
    asm volatile("mov $0x1234, %%eax\n\tvmmcall" : : : "rax", "memory");
}

static bool succeeded_state(struct svm_test *t)
{
    struct vmcb_control_area *c = &vmcb->control;
    return c->exit_code == SVM_EXIT_VMMCALL && vmcb->save.rax == 0x1234 &&
           c->next_rip == vmcb->save.rip + 3 && c->event_inj == 0 &&
           (vmcb->save.efer & X86_EFER_SVME) && vmcb->save.cpl == 0;
}

/* ---- an L2 in compatibility mode */

static void prepare_compat(struct svm_test *t)
{
    vmcb_set_compat_mode(vmcb);
    vmcb->save.rip = (uint64_t)l2_compat_vmmcall;
}

static bool succeeded_compat(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL &&
           vmcb->save.cs.selector == KERNEL_CS32 && !(vmcb->save.cs.attrib & VMCB_ATTR_L) &&
           vmcb->save.rip == (uint64_t)l2_compat_vmmcall;
}

#define T(name_, supported_, prepare_, guest_, finished_, succeeded_)                         \
    { .name = (name_), .supported = (supported_), .prepare = (prepare_), .guest = (guest_),   \
      .finished = (finished_), .succeeded = (succeeded_) }
/* The same, for a row QEMU TCG is known to get wrong. */
#define TQ(name_, supported_, prepare_, guest_, finished_, succeeded_, divergence_)           \
    { .name = (name_), .supported = (supported_), .prepare = (prepare_), .guest = (guest_),   \
      .finished = (finished_), .succeeded = (succeeded_), .qemu_divergence = (divergence_) }
#define QEMU_NO_VMRUN_CHECKS "QEMU TCG makes no VMRUN consistency checks"

static struct svm_test tests[] = {
    T("KUT-SVM-01 null: L2 runs to VMMCALL", NULL, NULL, NULL, NULL, NULL),
    T("KUT-SVM-02 vmrun: L2's VMRUN reaches L1 as #VMEXIT(VMRUN)", NULL, NULL, guest_vmrun,
      NULL, succeeded_if_vmrun),
    TQ("KUT-SVM-03 VMRUN intercept clear: SVM_EXIT_ERR", NULL, prepare_no_vmrun_intercept, NULL,
      NULL, succeeded_if_err,
      QEMU_NO_VMRUN_CHECKS),
    TQ("KUT-SVM-04 ASID 0: SVM_EXIT_ERR", NULL, prepare_asid_zero, NULL, NULL, succeeded_if_err,
      QEMU_NO_VMRUN_CHECKS),
    T("KUT-SVM-05 ioio: L1's IOPM decides, partial overlaps and the extra byte included", NULL,
      prepare_ioio, guest_ioio, finished_ioio, succeeded_ioio),
    T("KUT-SVM-06 next_rip of an intercepted RDTSC", nrips_supported, prepare_rdtsc,
      guest_rdtsc, NULL, succeeded_next_rip),
    T("KUT-SVM-20 L2 VMLOAD/VMSAVE: L1's intercepts decide, L0 performs the rest", NULL,
      prepare_vmload_vmsave, guest_vmload_vmsave, finished_vmload_vmsave,
      succeeded_vmload_vmsave),
    T("LTP-CVE-01/KST-VLS-02 L2 VMSAVE/VMLOAD not intercepted by L1 use L1 memory at RAX",
      NULL, prepare_vmsave_kgs, guest_vmsave_kgs, NULL, succeeded_vmsave_kgs),
    T("SPEC 4.3 MSR: MSRPM bit clear -> L0, bit set -> #VMEXIT(MSR) read", NULL, prepare_msr,
      guest_msr, NULL, succeeded_msr),
    T("KUT-SVM-21 #GP not intercepted: L2's own handler", NULL, prepare_gp_own, guest_gp, NULL,
      succeeded_own_handler),
    T("KUT-SVM-21 #GP intercepted: #VMEXIT(0x4d)", NULL, prepare_gp_intercepted, guest_gp,
      NULL, succeeded_gp_intercepted),
    T("KUT-SVM-21 #UD not intercepted: L2's own handler", NULL, prepare_ud_own, guest_ud, NULL,
      succeeded_own_handler),
    T("KUT-SVM-21 #UD intercepted: #VMEXIT(0x46)", NULL, prepare_ud_intercepted, guest_ud,
      NULL, succeeded_ud_intercepted),
    T("KUT-SVM-21 #DE not intercepted: L2's own handler", NULL, prepare_de_own, guest_de, NULL,
      succeeded_own_handler),
    T("KUT-SVM-21 #DE intercepted: #VMEXIT(0x40)", NULL, prepare_de_intercepted, guest_de,
      NULL, succeeded_de_intercepted),
    T("KUT-SVM-21 #BP not intercepted: L2's own handler", NULL, prepare_bp_own, guest_bp, NULL,
      succeeded_own_handler),
    TQ("KUT-SVM-21 #BP intercepted: #VMEXIT(0x43)", NULL, prepare_bp_intercepted, guest_bp,
      NULL, succeeded_bp_intercepted,
      "QEMU TCG does not intercept #BP from INT3"),
    T("KUT-SVM-24 single-step: #DB after L2's first instruction", NULL, prepare_singlestep,
      guest_singlestep, NULL, succeeded_singlestep),
    T("KUT-SVM-22 triple fault in L2: #VMEXIT(SHUTDOWN)", NULL, prepare_shutdown, guest_ud2,
      NULL, succeeded_shutdown),
    TQ("KST-EXC-02 injected #SS through an empty IDT: #VMEXIT(#GP) 0x62 naming the #SS", NULL,
      prepare_inject_ss_gp, NULL, NULL, succeeded_ss_gp,
      "QEMU TCG reports a wrong IDT error code for a faulting injected event"),
    TQ("KST-EXC-03 the same with #GP not intercepted: #VMEXIT(#DF)", NULL, prepare_inject_ss_df,
      NULL, NULL, succeeded_ss_df,
      "QEMU TCG shuts down instead of raising #DF for a faulting injected event"),
    T("KST-EXC-04 the same with only #SS intercepted: #VMEXIT(SHUTDOWN)", NULL,
      prepare_inject_ss, NULL, NULL, succeeded_shutdown),
    T("EVENTINJ soft INT with NRIPS returns to next_rip", NULL, prepare_inject_soft, NULL,
      NULL, succeeded_inject_soft),
    T("L2 in compatibility mode runs to VMMCALL", NULL, prepare_compat, NULL, NULL,
      succeeded_compat),
    TQ("SPEC 4.4 #VMEXIT writes RAX, next_rip, EFER, CPL and clears EVENTINJ", NULL, NULL,
      guest_state, NULL, succeeded_state,
      "QEMU TCG does not offer NRIPS: next_rip stays 0"),
};

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();
    run_svm_tests(tests, sizeof(tests) / sizeof(tests[0]));
    return report_summary();
}
