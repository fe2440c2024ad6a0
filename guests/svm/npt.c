/* npt.c — nested paging as L1 sees it: L2 under L1's nested page tables,
 * the #NPF exits L1 gets (EXITINFO1 error bits, FINAL_ADDRESS bit 32 vs
 * GUEST_PAGE_TABLE bit 33, EXITINFO2 the faulting GPA), and virtual
 * VMLOAD/VMSAVE (KST-VLS-01..03, run with and without --vls).
 * kvm-unit-tests' svm_npt tests are the model for the #NPF rows.
 */
#include "libguest.h"

#define NPF_FINAL (1ull << 32)
#define NPF_GPT (1ull << 33)

static uint8_t data_page[4096] __attribute__((aligned(4096)));
static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint8_t page_b[4096] __attribute__((aligned(4096)));

static bool vls_offered(void)
{
    return npt_supported() && (cpuid(0x8000000a).d & CPUID_SVM_VLS);
}

static bool npf_is(struct svm_test *t, uint64_t info1, uint64_t gpa)
{
    return vmcb->control.exit_code == SVM_EXIT_NPF && vmcb->control.exit_info_1 == info1 &&
           vmcb->control.exit_info_2 == gpa;
}

/* ---- final-address faults on data_page */

static void guest_read(struct svm_test *t)
{
    (void)*(volatile uint8_t *)data_page;
}

static void guest_write(struct svm_test *t)
{
    *(volatile uint8_t *)data_page = 1;
}

static void guest_exec(struct svm_test *t)
{
    ((void (*)(void))data_page)();
}

static void prepare_np(struct svm_test *t)
{
    *npt_pte((uint64_t)data_page) &= ~X86_PTE_P;
}

static bool check_np(struct svm_test *t)
{
    return npf_is(t, X86_PF_U | NPF_FINAL, (uint64_t)data_page);
}

static void prepare_us(struct svm_test *t)
{
    *npt_pte((uint64_t)data_page) &= ~X86_PTE_US;
}

static bool check_us(struct svm_test *t)
{
    return npf_is(t, X86_PF_P | X86_PF_U | NPF_FINAL, (uint64_t)data_page);
}

static void prepare_rw(struct svm_test *t)
{
    *npt_pte((uint64_t)data_page) &= ~X86_PTE_RW;
}

static bool check_rw(struct svm_test *t)
{
    return npf_is(t, X86_PF_P | X86_PF_W | X86_PF_U | NPF_FINAL, (uint64_t)data_page);
}

static bool check_ro_read_runs(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL;
}

static void prepare_nx(struct svm_test *t)
{
    data_page[0] = 0xc3; /* ret */
    *npt_pte((uint64_t)data_page) |= X86_PTE_NX;
}

static bool check_nx(struct svm_test *t)
{
    return npf_is(t, X86_PF_P | X86_PF_U | X86_PF_I | NPF_FINAL, (uint64_t)data_page);
}

/* ---- guest-page-table faults: L2's walk touches L1's page tables */

static void prepare_pfwalk_ro(struct svm_test *t)
{
    *npt_pte(read_cr3()) &= ~X86_PTE_RW; /* the PML4 page */
}

static bool check_pfwalk(struct svm_test *t)
{
    /* Page-table accesses are writes for the nested walk. */
    return npf_is(t, X86_PF_P | X86_PF_W | X86_PF_U | NPF_GPT, read_cr3());
}

static void prepare_rsvd(struct svm_test *t)
{
    uint64_t *pml4 = (uint64_t *)vmcb->control.nested_cr3;
    pml4[0] |= X86_PTE_PS; /* reserved in a PML4 entry */
}

static bool check_rsvd(struct svm_test *t)
{
    uint64_t *pml4 = (uint64_t *)vmcb->control.nested_cr3;
    pml4[0] &= ~X86_PTE_PS;
    return vmcb->control.exit_code == SVM_EXIT_NPF &&
           vmcb->control.exit_info_1 ==
               (X86_PF_P | X86_PF_W | X86_PF_U | X86_PF_RSVD | NPF_GPT);
}

/* KUT-SVM-12 (NPT part): with nPML4[0] not present L2's first access
 * faults in L1's tables instead of failing VMRUN. */
static void prepare_npml4_np(struct svm_test *t)
{
    uint64_t *pml4 = (uint64_t *)vmcb->control.nested_cr3;
    pml4[0] &= ~X86_PTE_P;
}

static bool check_npml4_np(struct svm_test *t)
{
    uint64_t *pml4 = (uint64_t *)vmcb->control.nested_cr3;
    pml4[0] |= X86_PTE_P;
    return vmcb->control.exit_code == SVM_EXIT_NPF &&
           (vmcb->control.exit_info_1 & (NPF_GPT | X86_PF_P)) == NPF_GPT;
}

/* L2 physical != L1 physical: L2's view of page_a is L1's page_b. */
static void guest_remapped(struct svm_test *t)
{
    *(volatile uint64_t *)page_a = 0x1122334455667788ull;
}

static void prepare_remap(struct svm_test *t)
{
    memset(page_a, 0, sizeof(page_a));
    memset(page_b, 0, sizeof(page_b));
    uint64_t *pte = npt_pte((uint64_t)page_a);
    *pte = (*pte & ~0x000ffffffffff000ull) | (uint64_t)page_b;
}

static bool check_remap(struct svm_test *t)
{
    return vmcb->control.exit_code == SVM_EXIT_VMMCALL &&
           *(uint64_t *)page_b == 0x1122334455667788ull && *(uint64_t *)page_a == 0;
}

/* ---- KST-VLS-01..03: L2's VMSAVE/VMLOAD of page_a, which L1's nested
 * tables map to page_b. */

static void guest_vls(struct svm_test *t)
{
    wrmsr(MSR_KERNEL_GS_BASE, 0xaaaa);
    asm volatile("vmsave %%rax" : : "a"(page_a) : "memory");
    asm volatile("vmmcall");
    asm volatile("vmload %%rax" : : "a"(page_a) : "memory");
    t->scratch = rdmsr(MSR_KERNEL_GS_BASE);
}

static void prepare_vls_common(struct svm_test *t, bool intercept, bool vls)
{
    prepare_remap(t);
    if (intercept) {
        vmcb_intercept(vmcb, SVM_EXIT_VMLOAD);
        vmcb_intercept(vmcb, SVM_EXIT_VMSAVE);
    }
    if (vls)
        vmcb->control.virt_ext |= SVM_VIRT_EXT_VLS_ENABLE;
}

static void prepare_vls_intercepted(struct svm_test *t) { prepare_vls_common(t, true, false); }
static void prepare_vls_intercepted_on(struct svm_test *t) { prepare_vls_common(t, true, true); }
static void prepare_vls_off(struct svm_test *t) { prepare_vls_common(t, false, false); }
static void prepare_vls_on(struct svm_test *t) { prepare_vls_common(t, false, true); }

/* KST-VLS-01: L1's intercepts win over virtual VMLOAD/VMSAVE. */
static bool finished_vls_intercepted(struct svm_test *t)
{
    static const uint64_t want[] = { SVM_EXIT_VMSAVE, SVM_EXIT_VMMCALL, SVM_EXIT_VMLOAD };
    if (t->exits > 3 || vmcb->control.exit_code != want[t->exits - 1]) {
        t->scratch = 1;
        return true;
    }
    vmcb_skip(vmcb, 3);
    return t->exits == 3;
}

static bool succeeded_vls_intercepted(struct svm_test *t)
{
    return t->scratch == 0 && t->exits == 3;
}

/* Between L2's VMSAVE and VMLOAD: check where the state went, then plant
 * 0xbbbb where L2's VMLOAD will read. */
static bool finished_vls_run(struct svm_test *t)
{
    if (vmcb->control.exit_code != SVM_EXIT_VMMCALL)
        return true;
    if (t->exits == 1) {
        struct vmcb *a = (struct vmcb *)page_a, *b = (struct vmcb *)page_b;
        bool translated = vmcb->control.virt_ext & SVM_VIRT_EXT_VLS_ENABLE;
        struct vmcb *hit = translated ? b : a, *miss = translated ? a : b;
        if (hit->save.kernel_gs_base != 0xaaaa || miss->save.kernel_gs_base != 0)
            return true;
        hit->save.kernel_gs_base = 0xbbbb;
        vmcb_skip(vmcb, 3);
        return false;
    }
    return true;
}

static bool succeeded_vls_run(struct svm_test *t)
{
    return t->exits == 2 && vmcb->control.exit_code == SVM_EXIT_VMMCALL && t->scratch == 0xbbbb;
}

#define T(name_, supported_, prepare_, guest_, finished_, succeeded_)                         \
    { .name = (name_), .supported = (supported_), .prepare = (prepare_), .guest = (guest_),   \
      .finished = (finished_), .succeeded = (succeeded_) }
#define TQ(name_, supported_, prepare_, guest_, finished_, succeeded_, divergence_)           \
    { .name = (name_), .supported = (supported_), .prepare = (prepare_), .guest = (guest_),   \
      .finished = (finished_), .succeeded = (succeeded_), .qemu_divergence = (divergence_) }

static struct svm_test tests[] = {
    T("NPT read of a not-present nested page: #NPF U|FINAL", npt_supported, prepare_np,
      guest_read, NULL, check_np),
    T("NPT read of a supervisor nested page: #NPF P|U|FINAL", npt_supported, prepare_us,
      guest_read, NULL, check_us),
    T("NPT write to a read-only nested page: #NPF P|W|U|FINAL", npt_supported, prepare_rw,
      guest_write, NULL, check_rw),
    T("NPT read of a read-only nested page runs", npt_supported, prepare_rw, guest_read, NULL,
      check_ro_read_runs),
    T("NPT fetch from a no-execute nested page: #NPF P|U|ID|FINAL", npt_supported, prepare_nx,
      guest_exec, NULL, check_nx),
    T("NPT walk of a read-only guest page table: #NPF P|W|U|GUEST_PAGE_TABLE at CR3",
      npt_supported, prepare_pfwalk_ro, guest_read, NULL, check_pfwalk),
    TQ("NPT reserved bit in nPML4E: #NPF P|W|U|RSVD|GUEST_PAGE_TABLE", npt_supported,
       prepare_rsvd, guest_read, NULL, check_rsvd,
       "QEMU TCG leaves P clear in a reserved-bit #NPF (kvm-unit-tests npt_rsvd wants it set)"),
    T("KUT-SVM-12 NPT: nPML4[0] not present is an #NPF, not a VMRUN failure", npt_supported,
      prepare_npml4_np, NULL, NULL, check_npml4_np),
    T("NPT L2 physical page remapped to another L1 page", npt_supported, prepare_remap,
      guest_remapped, NULL, check_remap),
    T("KST-VLS-01 VLS off, intercepts set: #VMEXIT(VMSAVE) then (VMLOAD)", npt_supported,
      prepare_vls_intercepted, guest_vls, finished_vls_intercepted, succeeded_vls_intercepted),
    T("KST-VLS-01 VLS on, intercepts set: L1's intercepts still win", vls_offered,
      prepare_vls_intercepted_on, guest_vls, finished_vls_intercepted,
      succeeded_vls_intercepted),
    T("KST-VLS-02 VLS off, no intercepts: RAX is an L1 physical address", npt_supported,
      prepare_vls_off, guest_vls, finished_vls_run, succeeded_vls_run),
    T("KST-VLS-03 VLS on, no intercepts: RAX goes through L1's nested tables", vls_offered,
      prepare_vls_on, guest_vls, finished_vls_run, succeeded_vls_run),
};

int main(void)
{
    if (!npt_supported()) {
        report_skip("nested paging not available");
        return report_summary();
    }
    svm_setup();
    report_info("VLS %s offered to L1", vls_offered() ? "is" : "is not");
    run_svm_tests(tests, sizeof(tests) / sizeof(tests[0]));
    return report_summary();
}
