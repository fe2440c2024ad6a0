/* l0_fixture.h — what the unit tests that drive L0 directly (test_nested,
 * test_gp, test_pio_string) share: an l0_io that claims no port and never
 * ends the run, writing a VMCB segment, and the control registers of a
 * 64-bit CPL0 guest. Header-only: each test is its own executable.
 */
#ifndef SVMSIM_TESTS_L0_FIXTURE_H
#define SVMSIM_TESTS_L0_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"

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

static inline void set_seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit,
                           uint64_t base)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = limit;
    s->base = base;
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
