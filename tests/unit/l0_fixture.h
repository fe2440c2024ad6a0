/* l0_fixture.h — what the unit tests that drive L0 directly (test_nested,
 * test_gp) share: an l0_io that claims no port and never ends the run, and
 * writing a VMCB segment. Header-only: each test is its own executable.
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

#endif
