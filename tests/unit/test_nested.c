/* test_nested.c — L0's nested SVM (src/hv/nested.c, src/hv/inject.c) driven
 * directly, without a CPU run: nested VMRUN into vmcb02, the routing of L2's
 * exits, the #VMEXIT back to L1, and exceptions L0 queues while L2 runs.
 *
 * Owns: a fixture of 16 MiB of RAM, a CPU (MAXPHYADDR 48, NRIPS, NP, VLS),
 * an L0 whose L1 sits right after an intercepted VMRUN (64-bit ring 0,
 * EFER.SVME set, VM_HSAVE_PA set, vmcb01 NRIP = RIP + 3), and a valid vmcb12
 * in guest memory (VMRUN intercepted, ASID 1, a 64-bit save area with values
 * distinct from L1's, IOPM and MSRPM of its own, all clear).
 * Must not: run the CPU; every expectation is SPEC-GP.md §3.3 and §4 (or
 * KVM's nested.c where the spec defers to it), written as exact values.
 */
#include "hv/hv.h"

#include "l0_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

#include "cpu/cpu.h"
#include "mem/mem.h"
#include "svm/svm.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"
#include "svmsim/svmsim.h"

/* ---- guest physical layout */

#define RAM_SIZE (16ull << 20)
#define L1_RIP 0x100000ull         /* L1's VMRUN (0f 01 d8) */
#define L1_NEXT_RIP (L1_RIP + 3)
#define L1_RSP 0x80000ull
#define L1_CR3 0x2000ull
#define VMCB12_GPA 0x200000ull
#define HSAVE_GPA 0x201000ull
#define IOPM12_GPA 0x210000ull     /* 12 KiB */
#define MSRPM12_GPA 0x220000ull    /* 8 KiB */
#define NCR3_GPA 0x230000ull

#define CODE64_ATTR 0x0a9b /* type B, S, P, L, G */
#define DATA_ATTR 0x0c93   /* type 3, S, P, DB, G */
#define CODE64_DPL3_ATTR 0x0afb
#define DATA_DPL3_ATTR 0x0cf3

/* L2's entry state in vmcb12: every value differs from L1's. */
#define L2_RIP 0x400000ull
#define L2_RSP 0x9000ull
#define L2_RAX 0x1234567890ull
#define L2_CR0 0x80050033ull       /* L1's CR0 with AM */
#define L2_CR3 0x7000ull
#define L2_CR4 (X86_CR4_PAE | X86_CR4_PGE)
#define L2_CR2 0xdead0000ull
#define L2_EFER (X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME | X86_EFER_NXE)
#define L2_DR6 0xffff0ff1ull
#define L2_DR7 0x401ull
#define L2_RFLAGS 0x200ull         /* IF, and bit 1 left clear on purpose */
#define L2_CPL 3

#define L01_TSC_OFFSET 0x100000ull
#define L12_TSC_OFFSET 0x234ull

#define EVTINJ_GP (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | X86_VEC_GP)

static struct gmem mem;
static struct cpu cpu;
static struct l0 l0;
static struct svmsim_end end;

static struct vmcb *vmcb12(void)
{
    return (struct vmcb *)gmem_ptr(&mem, VMCB12_GPA, sizeof(struct vmcb));
}

static uint8_t *l1_mem(uint64_t gpa)
{
    return gmem_ptr(&mem, gpa, 1);
}

/* L1 just executed an intercepted VMRUN of VMCB12_GPA (set_entry_state's
 * values from machine.c, plus VMLOAD state of its own). */
static void l1_state(void)
{
    struct vmcb_save_area *sa = &l0.vmcb01->save;
    memset(sa, 0, sizeof(*sa));
    set_flat_segs(sa, CODE64_ATTR, DATA_ATTR);
    set_l1_vmload_state(sa, DATA_ATTR, 0x1000);
    set_long_mode_cpl0(sa, L1_CR3);
    sa->rsp = L1_RSP;
    sa->rax = VMCB12_GPA;
    sa->rip = L1_RIP;

    struct vmcb_control_area *c = &l0.vmcb01->control;
    c->exit_code = SVM_EXIT_VMRUN;
    c->next_rip = L1_NEXT_RIP;
    c->tsc_offset = L01_TSC_OFFSET;

    l0.efer_svme = X86_EFER_SVME;
    l0.vm_hsave_pa = HSAVE_GPA;
    l0.end = &end;
}

/* A valid vmcb12 for a 64-bit L2 at CPL 3. */
static void write_vmcb12(void)
{
    struct vmcb *v = vmcb12();
    memset(v, 0, sizeof(*v));
    struct vmcb_save_area *s = &v->save;
    set_seg(&s->es, 0x2b, DATA_DPL3_ATTR, 0xfffff, 0x11000);
    set_seg(&s->cs, 0x33, CODE64_DPL3_ATTR, 0xffffffff, 0);
    set_seg(&s->ss, 0x2b, DATA_DPL3_ATTR, 0xffffffff, 0);
    set_seg(&s->ds, 0x3b, DATA_DPL3_ATTR, 0xffff, 0x22000);
    /* VMRUN does not load these: vmcb02 keeps vmcb01's. */
    set_seg(&s->fs, 0x99, DATA_ATTR, 0x1, 0x990000);
    set_seg(&s->gs, 0x98, DATA_ATTR, 0x1, 0x980000);
    set_seg(&s->tr, 0x97, 0x008b, 0x1, 0x970000);
    set_seg(&s->ldtr, 0x96, 0x0082, 0x1, 0x960000);
    s->kernel_gs_base = 0x950000;
    s->star = 0x940000;
    s->lstar = 0x930000;
    s->cstar = 0x920000;
    s->sfmask = 0x910000;
    s->sysenter_cs = 0x90;
    s->sysenter_esp = 0x8f0000;
    s->sysenter_eip = 0x8e0000;
    s->gdtr.base = 0x5000;
    s->gdtr.limit = 0x47;
    s->idtr.base = 0x6000;
    s->idtr.limit = 0xfff;
    s->cpl = L2_CPL;
    s->efer = L2_EFER;
    s->cr0 = L2_CR0;
    s->cr3 = L2_CR3;
    s->cr4 = L2_CR4;
    s->cr2 = L2_CR2;
    s->dr6 = L2_DR6;
    s->dr7 = L2_DR7;
    s->rflags = L2_RFLAGS;
    s->rip = L2_RIP;
    s->rsp = L2_RSP;
    s->rax = L2_RAX;
    s->g_pat = 0x0606060606060606ull;

    struct vmcb_control_area *c = &v->control;
    vmcb_set_intercept(c, SVM_EXIT_VMRUN);
    c->asid = 1;
    c->iopm_base_pa = IOPM12_GPA;
    c->msrpm_base_pa = MSRPM12_GPA;
    c->tsc_offset = L12_TSC_OFFSET;
}

static void make_l0(bool vls)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = RAM_SIZE;
    cfg.vls = vls;
    cr_assert_eq(l0_fixture_l0(&l0, &cpu, &cfg), 0);
    l1_state();
}

static void setup(void)
{
    memset(&end, 0, sizeof(end));
    struct cpu_model model = l0_fixture_model();
    cr_assert_eq(l0_fixture_cpu(&mem, RAM_SIZE, &cpu, &model), 0);
    make_l0(false);
    write_vmcb12();
}

static void teardown(void)
{
    l0_fixture_fini(&l0, &cpu, &mem);
}

TestSuite(nested, .init = setup, .fini = teardown);

/* The same L1, but L0 offers VLS to it (--vls). */
static void offer_vls(void)
{
    l0_fini(&l0);
    make_l0(true);
}

static int vmrun(void)
{
    return nested_svm_vmrun(&l0, VMCB12_GPA, vmcb12());
}

static void enter_l2(void)
{
    cr_assert_eq(vmrun(), 1);
    cr_assert(is_guest_mode(&l0), "nested VMRUN did not enter L2");
}

/* L2's exit with the given code; true when it went to L1. */
static bool route(uint64_t code, uint64_t info1)
{
    l0.vmcb02->control.exit_code = code;
    l0.vmcb02->control.exit_info_1 = info1;
    l0.vmcb02->control.exit_info_2 = 0;
    int resume = -1;
    bool to_l1 = nested_svm_exit_handled(&l0, &resume);
    if (to_l1)
        cr_assert_eq(resume, 1, "the #VMEXIT to L1 ended the run");
    else
        cr_assert_eq(resume, -1, "resume written although L0 keeps the exit");
    return to_l1;
}

/* IOIO exit_info_1 for an access of size bytes (1, 2, 4) at port. */
static uint64_t ioio_info(unsigned port, unsigned size, bool in)
{
    return ((uint64_t)port << SVM_IOIO_PORT_SHIFT) | ((uint64_t)size << SVM_IOIO_SIZE_SHIFT) |
           (1u << SVM_IOIO_ASIZE_SHIFT) | (in ? SVM_IOIO_TYPE_IN : 0);
}

static void iopm12_set(unsigned port)
{
    l1_mem(IOPM12_GPA + port / 8)[0] |= (uint8_t)(1u << (port % 8));
}

/* MSRPM bit of msr (in one of the three ranges); write selects the odd bit. */
static void msrpm12_set(uint32_t msr, bool write)
{
    uint64_t off = msr <= 0x1fff ? 0 : msr < 0xc0010000u ? 0x800 : 0x1000;
    unsigned bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
    l1_mem(MSRPM12_GPA + off + bit / 8)[0] |= (uint8_t)(1u << (bit % 8));
}

static bool route_msr(uint32_t msr, bool write)
{
    cpu.gpr[VCPU_REGS_RCX] = 0xffffffff00000000ull | msr; /* ECX is what counts */
    return route(SVM_EXIT_MSR, write ? 1 : 0);
}

/* L1 got a #VMEXIT: vmcb12 in memory says code, L0 runs vmcb01 again. */
static void expect_back_in_l1_with(uint64_t code)
{
    cr_expect_eq(vmcb12()->control.exit_code, code, "vmcb12 exit_code %#llx",
                 (unsigned long long)vmcb12()->control.exit_code);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb, l0.vmcb01);
    cr_expect_not(l0.gif, "GIF must be clear after #VMEXIT");
}

/* ======================================================================
 * §3.3 step 7 / §4.2: entering L2
 * ====================================================================== */

Test(nested, vmrun_returns_1_and_runs_l2_on_vmcb02)
{
    cr_expect_eq(vmrun(), 1);
    cr_expect(is_guest_mode(&l0));
    cr_expect_eq(l0_level(&l0), 2);
    cr_expect_eq(l0.vmcb, l0.vmcb02);
    cr_expect_eq(l0.nested.vmcb12_gpa, VMCB12_GPA);
}

Test(nested, vmrun_advances_l1_rip_in_vmcb01_to_next_rip)
{
    enter_l2();
    cr_expect_eq(l0.vmcb01->save.rip, L1_NEXT_RIP);
}

Test(nested, vmrun_sets_gif)
{
    l0.gif = false; /* e.g. L1 ran CLGI before its VMRUN */
    enter_l2();
    cr_expect(l0.gif);
}

Test(nested, vmrun_leaves_l1_registers_in_vmcb01)
{
    enter_l2();
    const struct vmcb_save_area *s01 = &l0.vmcb01->save;
    cr_expect_eq(s01->efer, X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME);
    cr_expect_eq(s01->cr0, 0x80010033);
    cr_expect_eq(s01->cr3, L1_CR3);
    cr_expect_eq(s01->cr4, X86_CR4_PAE);
    cr_expect_eq(s01->rflags, X86_RFLAGS_FIXED);
    cr_expect_eq(s01->rsp, L1_RSP);
    cr_expect_eq(s01->rax, VMCB12_GPA);
    cr_expect_eq(s01->cs.selector, 0x08);
}

Test(nested, l2_segments_and_descriptor_tables_come_from_vmcb12)
{
    enter_l2();
    const struct vmcb_save_area *s02 = &l0.vmcb02->save;
    cr_expect_eq(s02->es.selector, 0x2b);
    cr_expect_eq(s02->es.attrib, DATA_DPL3_ATTR);
    cr_expect_eq(s02->es.limit, 0xfffff);
    cr_expect_eq(s02->es.base, 0x11000);
    cr_expect_eq(s02->cs.selector, 0x33);
    cr_expect_eq(s02->cs.attrib, CODE64_DPL3_ATTR);
    cr_expect_eq(s02->cs.limit, 0xffffffff);
    cr_expect_eq(s02->ss.selector, 0x2b);
    cr_expect_eq(s02->ss.attrib, DATA_DPL3_ATTR);
    cr_expect_eq(s02->ds.selector, 0x3b);
    cr_expect_eq(s02->ds.limit, 0xffff);
    cr_expect_eq(s02->ds.base, 0x22000);
    cr_expect_eq(s02->gdtr.base, 0x5000);
    cr_expect_eq(s02->gdtr.limit, 0x47);
    cr_expect_eq(s02->idtr.base, 0x6000);
    cr_expect_eq(s02->idtr.limit, 0xfff);
}

Test(nested, l2_control_registers_and_efer_come_from_vmcb12)
{
    enter_l2();
    const struct vmcb_save_area *s02 = &l0.vmcb02->save;
    cr_expect_eq(s02->efer, L2_EFER);
    cr_expect_eq(s02->cr0, L2_CR0);
    cr_expect_eq(s02->cr3, L2_CR3);
    cr_expect_eq(s02->cr4, L2_CR4);
    cr_expect_eq(s02->cr2, L2_CR2);
}

Test(nested, l2_rip_rsp_rax_debug_registers_and_cpl_come_from_vmcb12)
{
    enter_l2();
    const struct vmcb_save_area *s02 = &l0.vmcb02->save;
    cr_expect_eq(s02->rip, L2_RIP);
    cr_expect_eq(s02->rsp, L2_RSP);
    cr_expect_eq(s02->rax, L2_RAX);
    cr_expect_eq(s02->dr6, L2_DR6);
    cr_expect_eq(s02->dr7, L2_DR7);
    cr_expect_eq(s02->cpl, L2_CPL);
}

Test(nested, l2_rflags_come_from_vmcb12_with_bit_1_forced)
{
    enter_l2();
    cr_expect_eq(l0.vmcb02->save.rflags, L2_RFLAGS | X86_RFLAGS_FIXED);
}

Test(nested, l2_keeps_l1s_vmload_state_because_vmrun_leaves_it_alone)
{
    enter_l2();
    const struct vmcb_save_area *s02 = &l0.vmcb02->save, *s01 = &l0.vmcb01->save;
    cr_expect_eq(s02->fs.selector, 0x10);
    cr_expect_eq(s02->fs.base, 0x7f0000001000ull);
    cr_expect_eq(s02->gs.base, 0x7f0000002000ull);
    cr_expect_eq(s02->tr.selector, 0x18);
    cr_expect_eq(s02->tr.attrib, 0x008b);
    cr_expect_eq(s02->tr.limit, 0x67);
    cr_expect_eq(s02->tr.base, 0x3000);
    cr_expect_eq(s02->ldtr.selector, 0x20);
    cr_expect_eq(s02->ldtr.base, 0x3100);
    cr_expect_eq(s02->kernel_gs_base, 0x7f0000003000ull);
    cr_expect_eq(s02->star, s01->star);
    cr_expect_eq(s02->lstar, 0xffffffff81000000ull);
    cr_expect_eq(s02->cstar, 0xffffffff81000100ull);
    cr_expect_eq(s02->sfmask, 0x47700);
    cr_expect_eq(s02->sysenter_cs, 0x08);
    cr_expect_eq(s02->sysenter_esp, 0x70000);
    cr_expect_eq(s02->sysenter_eip, 0x100800);
}

Test(nested, l2_intercepts_are_vmcb01s_or_vmcb12s_in_all_six_words)
{
    struct vmcb_control_area *c12 = &vmcb12()->control;
    vmcb_set_intercept(c12, SVM_EXIT_READ_CR3);
    vmcb_set_intercept(c12, SVM_EXIT_WRITE_CR8);
    vmcb_set_intercept(c12, SVM_EXIT_WRITE_DR0 + 7);
    vmcb_set_intercept(c12, SVM_EXIT_UD);
    vmcb_set_intercept(c12, SVM_EXIT_PF);
    vmcb_set_intercept(c12, SVM_EXIT_RDTSC);
    vmcb_set_intercept(c12, SVM_EXIT_PAUSE);
    vmcb_set_intercept(c12, SVM_EXIT_RDTSCP);
    vmcb_set_intercept(c12, SVM_EXIT_ICEBP);
    vmcb_set_intercept(c12, SVM_EXIT_INVPCID);
    uint32_t want[VMCB_INTERCEPT_WORDS];
    for (unsigned i = 0; i < VMCB_INTERCEPT_WORDS; i++)
        want[i] = l0.vmcb01->control.intercepts[i] | c12->intercepts[i];
    enter_l2();
    for (unsigned i = 0; i < VMCB_INTERCEPT_WORDS; i++)
        cr_expect_eq(l0.vmcb02->control.intercepts[i], want[i],
                     "intercept word %u: %#x, want %#x", i, l0.vmcb02->control.intercepts[i],
                     want[i]);
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_PF));
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_INVPCID));
}

/* CVE-2021-3656: vmcb01's own VMLOAD/VMSAVE intercepts are cleared by hand
 * so that only the forcing rule can put them into vmcb02. */
Test(nested, l2_vmload_stays_intercepted_when_l1_clears_the_intercept)
{
    vmcb_clr_intercept(&l0.vmcb01->control, SVM_EXIT_VMLOAD);
    vmcb_clr_intercept(&l0.vmcb01->control, SVM_EXIT_VMSAVE);
    cr_assert_not(vmcb_is_intercept(&vmcb12()->control, SVM_EXIT_VMLOAD));
    enter_l2();
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMLOAD));
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMSAVE));
}

Test(nested, l2_vmload_stays_intercepted_when_vmcb12_asks_for_vls_that_l0_does_not_offer)
{
    vmcb_clr_intercept(&l0.vmcb01->control, SVM_EXIT_VMLOAD);
    vmcb_clr_intercept(&l0.vmcb01->control, SVM_EXIT_VMSAVE);
    struct vmcb_control_area *c12 = &vmcb12()->control;
    c12->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    c12->nested_cr3 = NCR3_GPA;
    c12->virt_ext = SVM_VIRT_EXT_VLS_ENABLE;
    enter_l2(); /* cfg.vls is false */
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMLOAD));
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMSAVE));
    cr_expect_eq(l0.vmcb02->control.virt_ext & SVM_VIRT_EXT_VLS_ENABLE, 0);
}

Test(nested, l2_vmload_stays_intercepted_with_vls_but_without_nested_paging)
{
    offer_vls();
    struct vmcb_control_area *c12 = &vmcb12()->control;
    c12->virt_ext = SVM_VIRT_EXT_VLS_ENABLE; /* NP_ENABLE clear */
    enter_l2();
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMLOAD));
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMSAVE));
    cr_expect_eq(l0.vmcb02->control.virt_ext & SVM_VIRT_EXT_VLS_ENABLE, 0);
}

Test(nested, l2_runs_vmload_and_vmsave_unintercepted_with_vls_and_nested_paging)
{
    offer_vls();
    struct vmcb_control_area *c12 = &vmcb12()->control;
    c12->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    c12->nested_cr3 = NCR3_GPA;
    c12->virt_ext = SVM_VIRT_EXT_VLS_ENABLE;
    enter_l2();
    cr_expect_not(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMLOAD));
    cr_expect_not(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMSAVE));
    cr_expect_eq(l0.vmcb02->control.virt_ext & SVM_VIRT_EXT_VLS_ENABLE,
                 SVM_VIRT_EXT_VLS_ENABLE);
}

Test(nested, l2_vmload_is_intercepted_with_vls_when_vmcb12_intercepts_it)
{
    offer_vls();
    struct vmcb_control_area *c12 = &vmcb12()->control;
    c12->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    c12->nested_cr3 = NCR3_GPA;
    c12->virt_ext = SVM_VIRT_EXT_VLS_ENABLE;
    vmcb_set_intercept(c12, SVM_EXIT_VMLOAD);
    enter_l2();
    cr_expect(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMLOAD));
    cr_expect_not(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_VMSAVE));
}

Test(nested, l2_tsc_offset_is_vmcb01s_plus_vmcb12s)
{
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.tsc_offset, L01_TSC_OFFSET + L12_TSC_OFFSET);
}

Test(nested, l2_tsc_offset_sum_wraps_for_a_negative_vmcb12_offset)
{
    vmcb12()->control.tsc_offset = (uint64_t)-0x1000;
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.tsc_offset, L01_TSC_OFFSET - 0x1000);
}

Test(nested, any_tlb_flush_vmcb12_asks_for_flushes_l2s_asid)
{
    vmcb12()->control.tlb_ctl = 1;
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.tlb_ctl, 3);
}

Test(nested, no_tlb_flush_when_vmcb12_asks_for_none)
{
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.tlb_ctl, 0);
}

Test(nested, vmcb12_eventinj_is_injected_on_entry)
{
    vmcb12()->control.event_inj = EVTINJ_GP;
    vmcb12()->control.event_inj_err = 0x1c;
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.event_inj, EVTINJ_GP);
    cr_expect_eq(l0.vmcb02->control.event_inj_err, 0x1c);
}

Test(nested, l2_uses_vmcb12s_nested_page_tables_when_np_is_enabled)
{
    vmcb12()->control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    vmcb12()->control.nested_cr3 = NCR3_GPA;
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE,
                 SVM_NESTED_CTL_NP_ENABLE);
    cr_expect_eq(l0.vmcb02->control.nested_cr3, NCR3_GPA);
}

Test(nested, l2_runs_without_nested_paging_when_vmcb12_does_not_enable_it)
{
    vmcb12()->control.nested_cr3 = NCR3_GPA; /* ignored without NP_ENABLE */
    enter_l2();
    cr_expect_eq(l0.vmcb02->control.nested_ctl, 0);
    cr_expect_eq(l0.vmcb02->control.nested_cr3, 0);
}

Test(nested, l2_asid_is_l0s_own_and_not_l1s)
{
    cr_assert_eq(vmcb12()->control.asid, l0.vmcb01->control.asid,
                 "fixture: vmcb12 uses the same ASID number as vmcb01");
    enter_l2();
    cr_expect_neq(l0.vmcb02->control.asid, 0);
    cr_expect_neq(l0.vmcb02->control.asid, l0.vmcb01->control.asid);
}

Test(nested, vmrun_caches_vmcb12_so_later_writes_to_memory_do_not_matter)
{
    enter_l2();
    vmcb12()->control.intercepts[4] = 0; /* L1 (or L2) scribbles over vmcb12 */
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_HLT);
    cr_expect(vmcb_is_intercept(&l0.nested.ctl, SVM_EXIT_VMRUN));
    cr_expect_not(vmcb_is_intercept(&l0.nested.ctl, SVM_EXIT_HLT));
}

/* ======================================================================
 * §3.3 step 6: failed consistency checks
 * ====================================================================== */

static void break_asid(void)
{
    struct vmcb_control_area *c12 = &vmcb12()->control;
    c12->asid = 0;
    c12->exit_code = 0x55;
    c12->exit_info_1 = 0x66;
    c12->exit_info_2 = 0x77;
    c12->event_inj = EVTINJ_GP; /* legal: the ASID check fails first */
    c12->event_inj_err = 0x8;
}

Test(nested, failed_vmrun_returns_1_and_stays_in_l1)
{
    break_asid();
    cr_expect_eq(vmrun(), 1);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb, l0.vmcb01);
}

Test(nested, failed_vmrun_writes_svm_exit_err_into_vmcb12)
{
    break_asid();
    cr_assert_eq(vmrun(), 1);
    const struct vmcb_control_area *c12 = &vmcb12()->control;
    cr_expect_eq(c12->exit_code, ~0ull, "exit_code %#llx", (unsigned long long)c12->exit_code);
    cr_expect_eq(c12->exit_info_1, 0);
    cr_expect_eq(c12->exit_info_2, 0);
    cr_expect_eq(c12->event_inj, 0);
}

Test(nested, failed_vmrun_advances_l1_rip_and_clears_gif)
{
    break_asid();
    cr_assert(l0.gif);
    cr_assert_eq(vmrun(), 1);
    cr_expect_eq(l0.vmcb01->save.rip, L1_NEXT_RIP);
    cr_expect_not(l0.gif);
}

Test(nested, vmrun_with_a_save_area_check_failing_writes_svm_exit_err)
{
    vmcb12()->save.efer &= ~X86_EFER_SVME;
    cr_assert_eq(vmrun(), 1);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(vmcb12()->control.exit_code, SVM_EXIT_ERR);
}

Test(nested, vmrun_fails_when_l1_intercepts_msrs_with_an_msrpm_beyond_ram)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    vmcb12()->control.msrpm_base_pa = RAM_SIZE; /* legal address, not RAM */
    cr_assert_eq(vmrun(), 1);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(vmcb12()->control.exit_code, SVM_EXIT_ERR);
    cr_expect_eq(l0.vmcb01->save.rip, L1_NEXT_RIP);
    cr_expect_not(l0.gif);
}

Test(nested, vmrun_fails_when_the_msrpm_runs_past_the_end_of_ram)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    vmcb12()->control.msrpm_base_pa = RAM_SIZE - 0x1000; /* second page not RAM */
    cr_assert_eq(vmrun(), 1);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(vmcb12()->control.exit_code, SVM_EXIT_ERR);
}

Test(nested, vmrun_ignores_an_msrpm_beyond_ram_when_l1_does_not_intercept_msrs)
{
    vmcb12()->control.msrpm_base_pa = RAM_SIZE;
    cr_expect_eq(vmrun(), 1);
    cr_expect(is_guest_mode(&l0));
}

/* ======================================================================
 * §4.3: routing L2's exits
 * ====================================================================== */

Test(nested, ioio_stays_with_l0_when_l1_does_not_intercept_ioio)
{
    memset(l1_mem(IOPM12_GPA), 0xff, SVM_IOPM_SIZE);
    enter_l2();
    cr_expect_not(route(SVM_EXIT_IOIO, ioio_info(0x80, 1, false)));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, ioio_stays_with_l0_when_l1s_iopm_bit_for_the_port_is_clear)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    iopm12_set(0x7f);
    iopm12_set(0x81);
    enter_l2();
    cr_expect_not(route(SVM_EXIT_IOIO, ioio_info(0x80, 1, false)));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, ioio_goes_to_l1_when_l1s_iopm_bit_for_the_port_is_set)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    iopm12_set(0x80);
    enter_l2();
    uint64_t info = ioio_info(0x80, 1, false);
    l0.vmcb02->control.next_rip = L2_RIP + 2;
    cr_expect(route(SVM_EXIT_IOIO, info));
    expect_back_in_l1_with(SVM_EXIT_IOIO);
    cr_expect_eq(vmcb12()->control.exit_info_1, info);
}

Test(nested, ioio_goes_to_l1_when_only_the_last_port_of_a_4_byte_access_is_set)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    iopm12_set(0x401); /* outl at 0x3fe: ports 0x3fe-0x401, two IOPM bytes */
    enter_l2();
    cr_expect(route(SVM_EXIT_IOIO, ioio_info(0x3fe, 4, false)));
    expect_back_in_l1_with(SVM_EXIT_IOIO);
}

Test(nested, ioio_stays_with_l0_when_the_port_after_a_4_byte_access_is_set)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    iopm12_set(0x402);
    iopm12_set(0x3fd);
    enter_l2();
    cr_expect_not(route(SVM_EXIT_IOIO, ioio_info(0x3fe, 4, false)));
}

Test(nested, ioio_inl_at_0xffff_goes_to_l1_for_the_bit_of_port_0x10000)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    l1_mem(IOPM12_GPA + 8192)[0] = 0x01; /* port 0x10000: the IOPM's extra byte */
    enter_l2();
    cr_expect(route(SVM_EXIT_IOIO, ioio_info(0xffff, 4, true)));
    expect_back_in_l1_with(SVM_EXIT_IOIO);
}

Test(nested, ioio_ignores_the_low_12_bits_of_vmcb12s_iopm_base)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_IOIO);
    vmcb12()->control.iopm_base_pa = IOPM12_GPA | 0xabc;
    iopm12_set(0x80);
    enter_l2();
    cr_expect(route(SVM_EXIT_IOIO, ioio_info(0x80, 1, true)));
}

Test(nested, msr_stays_with_l0_when_l1_does_not_intercept_msrs)
{
    memset(l1_mem(MSRPM12_GPA), 0xff, SVM_MSRPM_SIZE);
    enter_l2();
    cr_expect_not(route_msr(0xc0000082, false));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, msr_read_goes_to_l1_when_l1s_msrpm_read_bit_is_set)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    msrpm12_set(0xc0000082, false);
    enter_l2();
    cr_expect(route_msr(0xc0000082, false));
    expect_back_in_l1_with(SVM_EXIT_MSR);
    cr_expect_eq(vmcb12()->control.exit_info_1, 0);
}

Test(nested, msr_read_stays_with_l0_when_only_the_write_bit_is_set)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    msrpm12_set(0xc0000082, true);
    enter_l2();
    cr_expect_not(route_msr(0xc0000082, false));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, msr_write_goes_to_l1_when_the_write_bit_is_set_in_the_first_range)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    msrpm12_set(0x1b, true); /* APIC_BASE */
    enter_l2();
    cr_expect(route_msr(0x1b, true));
    expect_back_in_l1_with(SVM_EXIT_MSR);
    cr_expect_eq(vmcb12()->control.exit_info_1, 1);
}

Test(nested, msr_read_goes_to_l1_when_the_read_bit_is_set_in_the_third_range)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    msrpm12_set(0xc0010117, false); /* VM_HSAVE_PA */
    enter_l2();
    cr_expect(route_msr(0xc0010117, false));
}

Test(nested, msr_outside_the_three_msrpm_ranges_goes_to_l1)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    enter_l2();
    cr_expect(route_msr(0x40000000, false));
    expect_back_in_l1_with(SVM_EXIT_MSR);
}

Test(nested, msr_ignores_the_low_12_bits_of_vmcb12s_msrpm_base)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_MSR);
    vmcb12()->control.msrpm_base_pa = MSRPM12_GPA | 0x123;
    msrpm12_set(0xc0000082, false);
    enter_l2();
    cr_expect(route_msr(0xc0000082, false));
}

Test(nested, exception_vmcb12_intercepts_goes_to_l1)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_UD);
    enter_l2();
    cr_expect(route(SVM_EXIT_UD, 0));
    expect_back_in_l1_with(SVM_EXIT_UD);
}

Test(nested, exception_vmcb01_intercepts_goes_to_l0_first_even_if_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&l0.vmcb01->control, SVM_EXIT_GP); /* as gp_erratum_intercept */
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_GP);
    enter_l2();
    cr_assert(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_GP));
    cr_expect_not(route(SVM_EXIT_GP, 0));
    cr_expect(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb, l0.vmcb02);
}

Test(nested, vmrun_of_l2_always_goes_to_l1)
{
    enter_l2();
    cr_expect(route(SVM_EXIT_VMRUN, 0));
    expect_back_in_l1_with(SVM_EXIT_VMRUN);
}

Test(nested, npf_of_l2_goes_to_l1)
{
    vmcb12()->control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    vmcb12()->control.nested_cr3 = NCR3_GPA;
    enter_l2();
    l0.vmcb02->control.exit_info_2 = 0x123000;
    cr_expect(route(SVM_EXIT_NPF, 0x100000004ull));
    expect_back_in_l1_with(SVM_EXIT_NPF);
    cr_expect_eq(vmcb12()->control.exit_info_1, 0x100000004ull);
}

Test(nested, intr_goes_to_l0_even_if_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_INTR);
    enter_l2();
    cr_expect_not(route(SVM_EXIT_INTR, 0));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, nmi_goes_to_l0_even_if_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_NMI);
    enter_l2();
    cr_expect_not(route(SVM_EXIT_NMI, 0));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, cpuid_goes_to_l1_when_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_CPUID);
    enter_l2();
    cr_expect(route(SVM_EXIT_CPUID, 0));
    expect_back_in_l1_with(SVM_EXIT_CPUID);
}

Test(nested, cpuid_stays_with_l0_when_vmcb12_does_not_intercept_it)
{
    enter_l2();
    cr_assert(vmcb_is_intercept(&l0.vmcb02->control, SVM_EXIT_CPUID), "L0 intercepts CPUID");
    cr_expect_not(route(SVM_EXIT_CPUID, 0));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, hlt_goes_to_l1_when_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_HLT);
    enter_l2();
    cr_expect(route(SVM_EXIT_HLT, 0));
    expect_back_in_l1_with(SVM_EXIT_HLT);
}

Test(nested, hlt_stays_with_l0_when_vmcb12_does_not_intercept_it)
{
    enter_l2();
    cr_expect_not(route(SVM_EXIT_HLT, 0));
    cr_expect(is_guest_mode(&l0));
}

Test(nested, vmload_goes_to_l1_when_vmcb12_intercepts_it)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_VMLOAD);
    enter_l2();
    cr_expect(route(SVM_EXIT_VMLOAD, 0));
    expect_back_in_l1_with(SVM_EXIT_VMLOAD);
}

Test(nested, vmload_stays_with_l0_when_vmcb12_does_not_intercept_it)
{
    enter_l2();
    cr_expect_not(route(SVM_EXIT_VMLOAD, 0));
    cr_expect(is_guest_mode(&l0));
}

/* ======================================================================
 * §4.4: #VMEXIT to L1
 * ====================================================================== */

/* L2 ran for a while: every field §4.4 writes back differs from vmcb12's. */
static void l2_changed_its_state(void)
{
    struct vmcb_save_area *s = &l0.vmcb02->save;
    set_seg(&s->es, 0x43, DATA_DPL3_ATTR, 0x1fff, 0x44000);
    set_seg(&s->cs, 0x08, CODE64_ATTR, 0xffffffff, 0);
    set_seg(&s->ss, 0x10, DATA_ATTR, 0xffffffff, 0);
    set_seg(&s->ds, 0x53, DATA_DPL3_ATTR, 0x2fff, 0x55000);
    s->gdtr.base = 0x7700;
    s->gdtr.limit = 0x77;
    s->idtr.base = 0x8800;
    s->idtr.limit = 0x88f;
    s->efer = L2_EFER | X86_EFER_SCE;
    s->cr0 = L2_CR0 | X86_CR0_TS;
    s->cr2 = 0xc2c2c000;
    s->cr3 = 0xc3000;
    s->cr4 = X86_CR4_PAE;
    s->rflags = 0x246;
    s->rip = 0x401234;
    s->rsp = 0x8ff8;
    s->rax = 0xaaaa;
    s->dr6 = 0xffff4ff0;
    s->dr7 = 0x403;
    s->cpl = 0;
    struct vmcb_control_area *c = &l0.vmcb02->control;
    c->int_state = SVM_INT_STATE_SHADOW;
    c->exit_code = SVM_EXIT_CPUID;
    c->exit_info_1 = 0x1111;
    c->exit_info_2 = 0x2222;
    c->exit_int_info = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | 14;
    c->exit_int_info_err = 0x6;
    c->next_rip = 0x401236;
}

Test(nested, vmexit_writes_l2s_segments_and_descriptor_tables_into_vmcb12)
{
    enter_l2();
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    const struct vmcb_save_area *s12 = &vmcb12()->save;
    cr_expect_eq(s12->es.selector, 0x43);
    cr_expect_eq(s12->es.limit, 0x1fff);
    cr_expect_eq(s12->es.base, 0x44000);
    cr_expect_eq(s12->cs.selector, 0x08);
    cr_expect_eq(s12->cs.attrib, CODE64_ATTR);
    cr_expect_eq(s12->ss.selector, 0x10);
    cr_expect_eq(s12->ss.attrib, DATA_ATTR);
    cr_expect_eq(s12->ds.selector, 0x53);
    cr_expect_eq(s12->ds.base, 0x55000);
    cr_expect_eq(s12->gdtr.base, 0x7700);
    cr_expect_eq(s12->gdtr.limit, 0x77);
    cr_expect_eq(s12->idtr.base, 0x8800);
    cr_expect_eq(s12->idtr.limit, 0x88f);
}

Test(nested, vmexit_writes_l2s_registers_into_vmcb12)
{
    enter_l2();
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    const struct vmcb_save_area *s12 = &vmcb12()->save;
    cr_expect_eq(s12->efer, L2_EFER | X86_EFER_SCE);
    cr_expect_eq(s12->cr0, L2_CR0 | X86_CR0_TS);
    cr_expect_eq(s12->cr2, 0xc2c2c000);
    cr_expect_eq(s12->cr3, 0xc3000);
    cr_expect_eq(s12->cr4, X86_CR4_PAE);
    cr_expect_eq(s12->rflags, 0x246);
    cr_expect_eq(s12->rip, 0x401234);
    cr_expect_eq(s12->rsp, 0x8ff8);
    cr_expect_eq(s12->rax, 0xaaaa);
    cr_expect_eq(s12->dr6, 0xffff4ff0);
    cr_expect_eq(s12->dr7, 0x403);
    cr_expect_eq(s12->cpl, 0);
}

Test(nested, vmexit_writes_the_exit_information_into_vmcb12)
{
    vmcb12()->control.event_inj = EVTINJ_GP;
    vmcb12()->control.event_inj_err = 0x10;
    enter_l2();
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    const struct vmcb_control_area *c12 = &vmcb12()->control;
    cr_expect_eq(c12->int_state, SVM_INT_STATE_SHADOW);
    cr_expect_eq(c12->exit_code, SVM_EXIT_CPUID);
    cr_expect_eq(c12->exit_info_1, 0x1111);
    cr_expect_eq(c12->exit_info_2, 0x2222);
    cr_expect_eq(c12->exit_int_info,
                 SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | 14);
    cr_expect_eq(c12->exit_int_info_err, 0x6);
    cr_expect_eq(c12->next_rip, 0x401236);
    cr_expect_eq(c12->event_inj, 0);
}

Test(nested, vmexit_returns_to_l1_on_vmcb01_with_gif_clear)
{
    enter_l2();
    cr_assert(l0.gif);
    l2_changed_its_state();
    cr_expect_eq(nested_svm_vmexit(&l0), 1);
    expect_back_in_l1_with(SVM_EXIT_CPUID);
    cr_expect_eq(l0_level(&l0), 1);
}

Test(nested, vmexit_resets_l1s_dr7_and_cpl)
{
    enter_l2();
    l0.vmcb01->save.dr7 = 0x4ff; /* garbage: #VMEXIT must not keep it */
    l0.vmcb01->save.cpl = 3;
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    cr_expect_eq(l0.vmcb01->save.dr7, 0x400);
    cr_expect_eq(l0.vmcb01->save.cpl, 0);
}

Test(nested, l1_resumes_after_its_vmrun_with_its_own_registers)
{
    enter_l2();
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    const struct vmcb_save_area *s01 = &l0.vmcb01->save;
    cr_expect_eq(kvm_rip_read(&l0), L1_NEXT_RIP);
    cr_expect_eq(s01->rsp, L1_RSP);
    cr_expect_eq(s01->rax, VMCB12_GPA);
    cr_expect_eq(s01->cr3, L1_CR3);
    cr_expect_eq(s01->cr0, 0x80010033);
    cr_expect_eq(s01->cr4, X86_CR4_PAE);
    cr_expect_eq(s01->efer, X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME);
    cr_expect_eq(s01->rflags, X86_RFLAGS_FIXED);
}

Test(nested, vmexit_hands_l2s_vmload_state_to_l1_because_vmexit_leaves_it_alone)
{
    enter_l2();
    struct vmcb_save_area *s02 = &l0.vmcb02->save;
    set_seg(&s02->fs, 0x63, DATA_DPL3_ATTR, 0xfff, 0x6600000);
    set_seg(&s02->gs, 0x6b, DATA_DPL3_ATTR, 0xfff, 0x6700000);
    set_seg(&s02->tr, 0x70, 0x008b, 0x6f, 0x6800000);
    set_seg(&s02->ldtr, 0x78, 0x0082, 0x7f, 0x6900000);
    s02->kernel_gs_base = 0x6a00000;
    s02->star = 0x6b00000;
    s02->lstar = 0x6c00000;
    s02->cstar = 0x6d00000;
    s02->sfmask = 0x6e00000;
    s02->sysenter_cs = 0x6f;
    s02->sysenter_esp = 0x7000000;
    s02->sysenter_eip = 0x7100000;
    l2_changed_its_state();
    cr_assert_eq(nested_svm_vmexit(&l0), 1);
    const struct vmcb_save_area *s01 = &l0.vmcb01->save;
    cr_expect_eq(s01->fs.selector, 0x63);
    cr_expect_eq(s01->fs.base, 0x6600000);
    cr_expect_eq(s01->gs.selector, 0x6b);
    cr_expect_eq(s01->gs.base, 0x6700000);
    cr_expect_eq(s01->tr.selector, 0x70);
    cr_expect_eq(s01->tr.limit, 0x6f);
    cr_expect_eq(s01->tr.base, 0x6800000);
    cr_expect_eq(s01->ldtr.selector, 0x78);
    cr_expect_eq(s01->ldtr.base, 0x6900000);
    cr_expect_eq(s01->kernel_gs_base, 0x6a00000);
    cr_expect_eq(s01->star, 0x6b00000);
    cr_expect_eq(s01->lstar, 0x6c00000);
    cr_expect_eq(s01->cstar, 0x6d00000);
    cr_expect_eq(s01->sfmask, 0x6e00000);
    cr_expect_eq(s01->sysenter_cs, 0x6f);
    cr_expect_eq(s01->sysenter_esp, 0x7000000);
    cr_expect_eq(s01->sysenter_eip, 0x7100000);
    /* and vmcb12's copy of it is not L1's business to get back: untouched */
    cr_expect_eq(vmcb12()->save.fs.base, 0x990000);
}

Test(nested, vmexit_to_a_vmcb12_outside_ram_shuts_l1_down)
{
    enter_l2();
    l0.nested.vmcb12_gpa = RAM_SIZE + 0x1000;
    l2_changed_its_state();
    cr_expect_eq(nested_svm_vmexit(&l0), 0);
    cr_expect_eq(end.status, SVMSIM_STATUS_SHUTDOWN);
    cr_expect_eq(end.reason, SVMSIM_END_SHUTDOWN);
}

Test(nested, vmexit_to_a_vmcb12_straddling_the_end_of_ram_shuts_l1_down)
{
    enter_l2();
    l0.nested.vmcb12_gpa = RAM_SIZE - 0x800;
    cr_expect_eq(nested_svm_vmexit(&l0), 0);
    cr_expect_eq(end.status, SVMSIM_STATUS_SHUTDOWN);
}

/* ---- §4.5 */

Test(nested, simple_vmexit_reports_the_code_with_zero_exit_info)
{
    enter_l2();
    l0.vmcb02->control.exit_code = SVM_EXIT_GP;
    l0.vmcb02->control.exit_info_1 = 0x1111;
    l0.vmcb02->control.exit_info_2 = 0x2222;
    cr_expect_eq(nested_svm_simple_vmexit(&l0, SVM_EXIT_VMLOAD), 1);
    const struct vmcb_control_area *c12 = &vmcb12()->control;
    cr_expect_eq(c12->exit_code, SVM_EXIT_VMLOAD);
    cr_expect_eq(c12->exit_info_1, 0);
    cr_expect_eq(c12->exit_info_2, 0);
    expect_back_in_l1_with(SVM_EXIT_VMLOAD);
}

/* ======================================================================
 * inject.c: exceptions L0 queues while L2 runs
 * ====================================================================== */

Test(nested, queued_gp_becomes_a_vmexit_to_l1_when_vmcb12_intercepts_gp)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_GP);
    enter_l2();
    queue_exception(&l0, X86_VEC_GP, true, 0x18);
    cr_expect_eq(inject_pending_exception(&l0), 1);
    expect_back_in_l1_with(SVM_EXIT_GP);
    cr_expect_eq(vmcb12()->control.exit_info_1, 0x18);
    cr_expect_not(l0.exception.pending);
    cr_expect_eq(l0.vmcb01->control.event_inj, 0, "nothing injected into L1");
}

Test(nested, queued_gp_is_injected_into_l2_when_vmcb12_does_not_intercept_gp)
{
    enter_l2();
    queue_exception(&l0, X86_VEC_GP, true, 0x18);
    cr_expect_eq(inject_pending_exception(&l0), 1);
    cr_expect(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb, l0.vmcb02);
    cr_expect_eq(l0.vmcb02->control.event_inj, EVTINJ_GP, "event_inj %#x",
                 l0.vmcb02->control.event_inj);
    cr_expect_eq(l0.vmcb02->control.event_inj_err, 0x18);
    cr_expect_eq(l0.vmcb01->control.event_inj, 0);
}

Test(nested, queued_gp_injected_into_l2_ignores_l0s_own_gp_intercept)
{
    /* vmcb01's #GP intercept is L0's, not L1's: the event is L2's. */
    vmcb_set_intercept(&l0.vmcb01->control, SVM_EXIT_GP);
    enter_l2();
    queue_exception(&l0, X86_VEC_GP, true, 0);
    cr_expect_eq(inject_pending_exception(&l0), 1);
    cr_expect(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb02->control.event_inj, EVTINJ_GP);
}

Test(nested, queued_page_fault_vmexit_carries_cr2_in_exit_info_2)
{
    vmcb_set_intercept(&vmcb12()->control, SVM_EXIT_PF);
    enter_l2();
    queue_page_fault(&l0, 0xbad000, 0x6);
    cr_expect_eq(inject_pending_exception(&l0), 1);
    expect_back_in_l1_with(SVM_EXIT_PF);
    cr_expect_eq(vmcb12()->control.exit_info_1, 0x6);
    cr_expect_eq(vmcb12()->control.exit_info_2, 0xbad000);
    /* L2's CR2 is not changed by a #PF that never reached it */
    cr_expect_eq(vmcb12()->save.cr2, L2_CR2);
}

Test(nested, queued_page_fault_injected_into_l2_sets_l2s_cr2)
{
    enter_l2();
    queue_page_fault(&l0, 0xbad000, 0x6);
    cr_expect_eq(inject_pending_exception(&l0), 1);
    cr_expect(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb02->save.cr2, 0xbad000);
    cr_expect_eq(l0.vmcb02->control.event_inj,
                 SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | X86_VEC_PF);
    cr_expect_eq(l0.vmcb02->control.event_inj_err, 0x6);
}

/* ======================================================================
 * nested_svm_leave
 * ====================================================================== */

Test(nested, leave_in_guest_mode_returns_to_vmcb01_without_a_vmexit)
{
    enter_l2();
    vmcb12()->control.exit_code = 0x5a5a;
    nested_svm_leave(&l0);
    cr_expect_not(is_guest_mode(&l0));
    cr_expect_eq(l0.vmcb, l0.vmcb01);
    cr_expect_eq(l0.nested.vmcb12_gpa, 0);
    cr_expect_eq(vmcb12()->control.exit_code, 0x5a5a, "no #VMEXIT written");
}

Test(nested, leave_in_guest_mode_hands_l2s_fs_base_to_l1)
{
    enter_l2();
    l0.vmcb02->save.fs.base = 0x12340000;
    nested_svm_leave(&l0);
    cr_expect_eq(l0.vmcb01->save.fs.base, 0x12340000);
}
