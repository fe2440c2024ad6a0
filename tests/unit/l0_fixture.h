/* l0_fixture.h — what the programs that drive L0 directly (test_nested,
 * test_gp, test_pio_string, test_lapic, test_msr, and tests/fuzz/fuzz_gp)
 * share:
 * building the RAM, the CPU and an L0 on an l0_io that claims no port and
 * never ends the run (and tearing them down), writing a VMCB segment, the
 * flat 64-bit ring-0 segments and control registers of a 64-bit CPL0
 * guest, and L1's VMLOAD state.
 * Must not: assert (fuzz_gp has no Criterion; helpers that can fail return
 * 0 or the failure for the caller to check), or own any test's layout or
 * expected values. Header-only: each test is its own executable.
 */
#ifndef SVMSIM_TESTS_L0_FIXTURE_H
#define SVMSIM_TESTS_L0_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "hv/hv.h"
#include "mem/mem.h"
#include "svmsim/svmsim.h"

static inline bool no_pio(void *opaque, uint16_t port, unsigned size, bool is_in,
                          uint32_t *value, const char **name)
{
    (void)opaque;
    (void)port;
    (void)size;
    (void)is_in;
    (void)value;
    *name = "unclaimed";
    return false;
}

static inline bool never_ended(void *opaque, struct svmsim_end *e)
{
    (void)opaque;
    (void)e;
    return false;
}

/* The CPU model L0 is driven on: MAXPHYADDR 48, NRIPS, NP, VLS. */
static inline struct cpu_model l0_fixture_model(void)
{
    struct cpu_model model = {
        .maxphyaddr = 48,
        .nrips = true,
        .np = true,
        .vls = true,
    };
    return model;
}

/* ram bytes of guest memory and a CPU of model on it: 0, or the failure. */
static inline int l0_fixture_cpu(struct gmem *mem, uint64_t ram, struct cpu *cpu,
                                 const struct cpu_model *model)
{
    int err = gmem_init(mem, ram);
    return err ? err : cpu_init(cpu, mem, model);
}

/* l0_init on the l0_io above (no port claimed, the run never ended). */
static inline int l0_fixture_l0(struct l0 *l0, struct cpu *cpu, const struct svmsim_config *cfg)
{
    struct l0_io io = { .pio = no_pio, .ended = never_ended, .opaque = NULL };
    return l0_init(l0, cpu, cfg, &io);
}

static inline void l0_fixture_fini(struct l0 *l0, struct cpu *cpu, struct gmem *mem)
{
    l0_fini(l0);
    cpu_fini(cpu);
    gmem_fini(mem);
}

static inline void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit,
                           uint64_t base)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = limit;
    s->base = base;
}

/* Flat 4 GiB segments: CS 0x08 with code_attr, SS/DS/ES 0x10 with
 * data_attr. */
static inline void set_flat_segs(struct vmcb_save_area *s, uint16_t code_attr, uint16_t data_attr)
{
    set_seg(&s->cs, 0x08, code_attr, 0xffffffff, 0);
    set_seg(&s->ss, 0x10, data_attr, 0xffffffff, 0);
    set_seg(&s->ds, 0x10, data_attr, 0xffffffff, 0);
    set_seg(&s->es, 0x10, data_attr, 0xffffffff, 0);
}

/* L1's VMLOAD state (set_entry_state's FS/GS on data_attr, a TR and an
 * LDTR, the syscall MSRs) and a three-entry GDT at gdt_base. */
static inline void set_l1_vmload_state(struct vmcb_save_area *sa, uint16_t data_attr,
                                       uint64_t gdt_base)
{
    set_seg(&sa->fs, 0x10, data_attr, 0xffffffff, 0x7f0000001000ull);
    set_seg(&sa->gs, 0x10, data_attr, 0xffffffff, 0x7f0000002000ull);
    set_seg(&sa->tr, 0x18, 0x008b, 0x67, 0x3000);
    set_seg(&sa->ldtr, 0x20, 0x0082, 0xff, 0x3100);
    sa->gdtr.base = gdt_base;
    sa->gdtr.limit = 3 * 8 - 1;
    sa->kernel_gs_base = 0x7f0000003000ull;
    sa->star = 0x0023001000000000ull;
    sa->lstar = 0xffffffff81000000ull;
    sa->cstar = 0xffffffff81000100ull;
    sa->sfmask = 0x47700;
    sa->sysenter_cs = 0x08;
    sa->sysenter_esp = 0x70000;
    sa->sysenter_eip = 0x100800;
}

/* 64-bit mode at CPL0 with paging on at cr3 and EFER.SVME set (L0 keeps
 * it set for every guest it runs), the reset values of DR6/DR7, RFLAGS and
 * PAT. Segments, RIP, RSP and RAX are the caller's. */
static inline void set_long_mode_cpl0(struct vmcb_save_area *s, uint64_t cr3)
{
    s->cpl = 0;
    s->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME;
    s->cr0 = 0x80010033;
    s->cr3 = cr3;
    s->cr4 = X86_CR4_PAE;
    s->dr6 = 0xffff0ff0;
    s->dr7 = 0x400;
    s->rflags = X86_RFLAGS_FIXED;
    s->g_pat = 0x0007040600070406ull;
}

#endif
