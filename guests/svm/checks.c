/* checks.c — VMRUN's consistency checks as L1 sees them (SPEC-GP.md §4.1;
 * ../shared/oracle/ORACLE.md KUT-SVM-08..18), and L1's SVM instructions
 * with an illegal RAX (KST-GPA-01..03). Each check is shown failing and,
 * where a boundary exists, the value beside it passing.
 */
#include "libguest.h"

static uint8_t l2_stack[4096] __attribute__((aligned(16)));

static void l2_vmmcall(void)
{
    for (;;)
        asm volatile("vmmcall");
}

/* A fresh default VMCB whose L2 is a VMMCALL. */
static void fresh(void)
{
    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, l2_vmmcall, l2_stack + sizeof(l2_stack));
}

/* VMRUN of the VMCB as it stands; true when the exit was `want`. */
static bool runs_to(uint64_t want)
{
    uint64_t got = svm_vmrun();
    if (got != want)
        printf("  (exit 0x%lx, expected 0x%lx)\n", got, want);
    return got == want;
}

/* Exactly one exception since exc_clear(), vector vec with error code 0. */
static bool exc_was(int vec)
{
    return exc_last.vector == vec && exc_last.error_code == 0 && exc_last.count == 1;
}

#define ERR SVM_EXIT_ERR
#define OK SVM_EXIT_VMMCALL

static void test_efer(void)
{
    fresh();
    report(runs_to(OK), "KUT-SVM-08 default VMCB runs");
    fresh();
    vmcb->save.efer &= ~X86_EFER_SVME;
    report(runs_to(ERR), "KUT-SVM-08 EFER.SVME clear: SVM_EXIT_ERR");

    bool all = true;
    fresh();
    uint64_t efer = vmcb->save.efer;
    vmcb->save.efer = efer | (1ull << 9);
    all &= runs_to(ERR);
    for (unsigned bit = 16; bit <= 60; bit += 4) {
        vmcb->save.efer = efer | (1ull << bit);
        all &= runs_to(ERR);
    }
    report(all, "KUT-SVM-09 EFER reserved bits 9 and 16..60 (step 4): SVM_EXIT_ERR each");

    fresh();
    vmcb->save.cr4 &= ~X86_CR4_PAE;
    report(runs_to(ERR), "KUT-SVM-10a EFER.LME, CR0.PG, CR4.PAE clear: SVM_EXIT_ERR");
    fresh();
    vmcb->save.cr0 &= ~X86_CR0_PE;
    report(runs_to(ERR), "KUT-SVM-10b EFER.LME, CR0.PG, CR0.PE clear: SVM_EXIT_ERR");
    fresh();
    vmcb->save.cs.attrib |= VMCB_ATTR_L | VMCB_ATTR_DB;
    report(runs_to(ERR), "KUT-SVM-10c EFER.LME, CR0.PG, CS.L and CS.D: SVM_EXIT_ERR");
}

static void test_cr0(void)
{
    static const struct { bool cd, nw; uint64_t want; } rows[] = {
        { true, false, OK }, { true, true, OK }, { false, false, OK }, { false, true, ERR },
    };
    for (unsigned i = 0; i < 4; i++) {
        fresh();
        uint64_t cr0 = vmcb->save.cr0 & ~(X86_CR0_CD | X86_CR0_NW);
        vmcb->save.cr0 = cr0 | (rows[i].cd ? X86_CR0_CD : 0) | (rows[i].nw ? X86_CR0_NW : 0);
        report(runs_to(rows[i].want), "KUT-SVM-11 CR0.CD=%d CR0.NW=%d: %s", rows[i].cd,
               rows[i].nw, rows[i].want == OK ? "runs" : "SVM_EXIT_ERR");
    }
    bool all = true;
    fresh();
    uint64_t cr0 = vmcb->save.cr0;
    for (unsigned bit = 32; bit <= 60; bit += 4) {
        vmcb->save.cr0 = cr0 | (1ull << bit);
        all &= runs_to(ERR);
    }
    report(all, "KUT-SVM-11 CR0 bits 32..60 (step 4): SVM_EXIT_ERR each");
}

static void test_cr3(void)
{
    bool all = true;
    fresh();
    uint64_t cr3 = vmcb->save.cr3;
    for (unsigned bit = 52; bit <= 63; bit++) {
        vmcb->save.cr3 = cr3 | (1ull << bit);
        all &= runs_to(ERR);
    }
    report(all, "KUT-SVM-12 CR3 bits 52..63 in long mode: SVM_EXIT_ERR each");
    fresh();
    report(runs_to(OK), "KUT-SVM-12 CR3 with them clear runs");
}

static void test_cr4(void)
{
    bool all = true;
    fresh();
    uint64_t cr4 = vmcb->save.cr4;
    for (unsigned bit = 12; bit <= 31; bit++) {
        if (!((0xfe08e000ull >> bit) & 1))
            continue;
        vmcb->save.cr4 = cr4 | (1ull << bit);
        all &= runs_to(ERR);
    }
    for (unsigned bit = 32; bit <= 60; bit += 4) {
        vmcb->save.cr4 = cr4 | (1ull << bit);
        all &= runs_to(ERR);
    }
    report(all, "KUT-SVM-13 CR4 reserved bits of 0xfe08e000 and 32..60: SVM_EXIT_ERR each");
}

static void test_dr(void)
{
    bool all = true;
    fresh();
    uint64_t dr6 = vmcb->save.dr6, dr7 = vmcb->save.dr7;
    for (unsigned bit = 32; bit <= 60; bit += 4) {
        vmcb->save.dr6 = dr6 | (1ull << bit);
        all &= runs_to(ERR);
    }
    vmcb->save.dr6 = dr6;
    for (unsigned bit = 32; bit <= 60; bit += 4) {
        vmcb->save.dr7 = dr7 | (1ull << bit);
        all &= runs_to(ERR);
    }
    report(all, "KUT-SVM-14 DR6 and DR7 bits 32..60 (step 4): SVM_EXIT_ERR each");
}

static void test_bitmaps(void)
{
    uint64_t top = 1ull << cpu_maxphyaddr();
    static const struct { int64_t off; uint64_t want; } msrpm[] = {
        /* top-8K passes SPEC-GP.md §4.1's check (an 8 KiB map, base low
         * 12 bits ignored) but is not RAM: KVM cannot merge the map at
         * VMRUN, which fails it too (nested_svm_vmrun_msrpm). */
        { -0x2000, ERR }, { -0x2000 + 1, ERR }, { -0x1000, ERR }, { -0x1000 + 0xfff, ERR },
    };
    for (unsigned i = 0; i < sizeof(msrpm) / sizeof(msrpm[0]); i++) {
        fresh();
        vmcb_intercept(vmcb, SVM_EXIT_MSR);
        vmcb->control.msrpm_base_pa = top + (uint64_t)msrpm[i].off;
        report(runs_to(msrpm[i].want), "KUT-SVM-15 MSRPM at 2^MAXPHYADDR - %#lx: %s",
               (unsigned long)-msrpm[i].off, msrpm[i].want == OK ? "runs" : "SVM_EXIT_ERR");
    }
    fresh();
    vmcb_intercept(vmcb, SVM_EXIT_MSR);
    vmcb->control.msrpm_base_pa |= 0xfff;
    report(runs_to(OK), "KUT-SVM-15 MSRPM base with low 12 bits set: runs");

    static const struct { int64_t off; uint64_t want; } iopm[] = {
        { -0x4000, OK }, { -0x3000, OK }, { -0x2000 - 2, OK }, { -0x2000, ERR }, { -0x1000, ERR },
    };
    for (unsigned i = 0; i < sizeof(iopm) / sizeof(iopm[0]); i++) {
        fresh();
        vmcb_intercept(vmcb, SVM_EXIT_IOIO);
        vmcb->control.iopm_base_pa = top + (uint64_t)iopm[i].off;
        report(runs_to(iopm[i].want), "KUT-SVM-16 IOPM at 2^MAXPHYADDR - %#lx: %s",
               (unsigned long)-iopm[i].off, iopm[i].want == OK ? "runs" : "SVM_EXIT_ERR");
    }
    fresh();
    vmcb_intercept(vmcb, SVM_EXIT_IOIO);
    vmcb->control.iopm_base_pa |= 0xfff;
    report(runs_to(OK), "KUT-SVM-16 IOPM base with low 12 bits set: runs");
}

static void test_eventinj(void)
{
    static const uint32_t bad[] = {
        SVM_EVTINJ_VALID | (1u << SVM_EVTINJ_TYPE_SHIFT) | 32,
        SVM_EVTINJ_VALID | (5u << SVM_EVTINJ_TYPE_SHIFT) | 32,
        SVM_EVTINJ_VALID | (7u << SVM_EVTINJ_TYPE_SHIFT) | 32,
        SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | X86_VEC_NMI,
        SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 32,
    };
    bool all = true;
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fresh();
        vmcb->control.event_inj = bad[i];
        all &= runs_to(ERR);
        uint32_t left = vmcb->control.event_inj;
        if (left != 0) {
            printf("  (EVENTINJ left 0x%x)\n", left);
            all = false;
        }
    }
    report(all, "EVENTINJ reserved types 1/5/7 and exception vectors 2/32: SVM_EXIT_ERR, "
           "EVENTINJ cleared");
}

/* KUT-SVM-17: VMLOAD canonicalizes the bases it loads. */
static void test_vmload_canonical(void)
{
    static struct vmcb page __attribute__((aligned(4096)));
    const uint64_t bad = 0x0000800000000000ull | 0x1234; /* bit 47 set, 63:48 clear */
    const uint64_t good = 0xffff800000001234ull;
    vmcb_ident(&page);
    uint64_t saved_fs = rdmsr(MSR_FS_BASE), saved_kgs = rdmsr(MSR_KERNEL_GS_BASE);
    uint64_t saved_lstar = rdmsr(MSR_LSTAR);
    page.save.fs.base = bad;
    page.save.kernel_gs_base = bad;
    page.save.lstar = bad;
    asm volatile("vmload %%rax\n\tvmsave %%rax" : : "a"(&page) : "memory");
    bool ok = page.save.fs.base == good && page.save.kernel_gs_base == good &&
              page.save.lstar == good;
    wrmsr(MSR_FS_BASE, saved_fs);
    wrmsr(MSR_KERNEL_GS_BASE, saved_kgs);
    wrmsr(MSR_LSTAR, saved_lstar);
    report_qemu_known(ok, true, "QEMU TCG's VMLOAD does not canonicalize",
           "KUT-SVM-17 VMLOAD then VMSAVE: FS base, KernelGsBase, LSTAR canonical "
           "(%#lx %#lx %#lx)", page.save.fs.base, page.save.kernel_gs_base, page.save.lstar);
}

/* KUT-SVM-18: VMRUN does not check these bases. */
static void test_vmrun_canonical(void)
{
    fresh();
    const uint64_t bad = 0x0000800000000000ull;
    vmcb->save.es.base = bad;
    vmcb->save.cs.base = bad;
    vmcb->save.ss.base = bad;
    vmcb->save.ds.base = bad;
    vmcb->save.gdtr.base = bad;
    report(runs_to(OK), "KUT-SVM-18 non-canonical ES/CS/SS/DS/GDTR bases: VMRUN runs");
}

/* KST-GPA-01..03: RAX = all ones is neither aligned nor below MAXPHYADDR. */
static void test_illegal_rax(void)
{
    const uint64_t all_ones = ~0ull;
    exc_clear();
    asm volatile(ASM_TRY("vmrun %%rax") : : "a"(all_ones) : "memory");
    report_exc(X86_VEC_GP, 0, "KST-GPA-01 VMRUN with RAX all ones: #GP(0) in L1");
    exc_clear();
    asm volatile(ASM_TRY("vmload %%rax") : : "a"(all_ones) : "memory");
    report_exc(X86_VEC_GP, 0, "KST-GPA-02 VMLOAD with RAX all ones: #GP(0) in L1");
    exc_clear();
    asm volatile(ASM_TRY("vmsave %%rax") : : "a"(all_ones) : "memory");
    report_exc(X86_VEC_GP, 0, "KST-GPA-03 VMSAVE with RAX all ones: #GP(0) in L1");
}

/* SPEC-GP.md §3.1/§4.6: without EFER.SVME the SVM instructions are #UD, and
 * VM_HSAVE_PA = 0 makes VMRUN #GP. */
static void test_permissions(void)
{
    uint64_t hsave = rdmsr(MSR_VM_HSAVE_PA);
    wrmsr(MSR_VM_HSAVE_PA, 0);
    exc_clear();
    asm volatile(ASM_TRY("vmrun %%rax") : : "a"(vmcb) : "memory");
    report_qemu_known(exc_was(X86_VEC_GP), true, "QEMU TCG does not check VM_HSAVE_PA",
                      "VMRUN with VM_HSAVE_PA 0: #GP(0)");
    wrmsr(MSR_VM_HSAVE_PA, hsave);

    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_VM_HSAVE_PA), "a"(0x1001), "d"(0) : "memory");
    report_exc(X86_VEC_GP, 0, "VM_HSAVE_PA not page aligned: #GP(0)");

    wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~X86_EFER_SVME);
    exc_clear();
    asm volatile(ASM_TRY("vmload %%rax") : : "a"(vmcb) : "memory");
    report_exc(X86_VEC_UD, 0, "VMLOAD with EFER.SVME clear: #UD");
    exc_clear();
    asm volatile(ASM_TRY("stgi") : : : "memory");
    report_exc(X86_VEC_UD, 0, "STGI with EFER.SVME clear: #UD");
    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_VM_CR), "a"(MSR_VM_CR_SVMDIS), "d"(0) : "memory");
    report(exc_vector() == -1, "VM_CR.SVMDIS can be set while EFER.SVME is clear");
    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_EFER), "a"((uint32_t)(rdmsr(MSR_EFER) | X86_EFER_SVME)),
                 "d"(0) : "memory");
    report_qemu_known(exc_was(X86_VEC_GP), true, "QEMU TCG does not model VM_CR.SVMDIS",
                      "EFER.SVME cannot be set while VM_CR.SVMDIS is");
    exc_clear();
    asm volatile(ASM_TRY("wrmsr") : : "c"(MSR_VM_CR), "a"(0), "d"(0) : "memory");
    report_qemu_known(exc_vector() == -1 && (rdmsr(MSR_VM_CR) & MSR_VM_CR_SVMDIS), true,
                      "QEMU TCG does not model VM_CR.SVMDIS", "VM_CR.SVMDIS is sticky once set");
}

int main(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available");
        return report_summary();
    }
    svm_setup();
    bool qemu = booted_via_pvh;
    if (qemu) {
        report_skip("QEMU TCG makes no VMRUN consistency checks: KUT-SVM-08..16 not run");
    } else {
        test_efer();
        test_cr0();
        test_cr3();
        test_cr4();
        test_dr();
        test_bitmaps();
        test_eventinj();
    }
    test_vmrun_canonical();
    test_vmload_canonical();
    test_illegal_rax();
    test_permissions();
    return report_summary();
}
