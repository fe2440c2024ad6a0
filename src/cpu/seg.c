/* seg.c — descriptor tables and segment-register loads (APM vol. 2 §4).
 *
 * Owns: reading GDT/LDT descriptors, converting them to the VMCB's segment
 * form, and the checks of MOV/POP to a segment register and of loading CS
 * in far transfers, raising #GP/#NP/#SS with selector error codes.
 * Must not: deliver exceptions (it only fills cpu->exc).
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"

int desc_read(struct cpu *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi)
{
    uint64_t base, limit;
    if (sel & X86_ERR_TI) {
        if (!(cpu->ldtr.attrib & VMCB_ATTR_P) || (cpu->ldtr.sel & ~3) == 0)
            return 1;
        base = cpu->ldtr.base;
        limit = cpu->ldtr.limit;
    } else {
        base = cpu->gdtr.base;
        limit = cpu->gdtr.limit;
    }
    uint64_t off = sel & ~7u;
    if (off + 7 > limit)
        return 1;
    if (la_read(cpu, base + off, 8, false, lo) != 0)
        return -1;
    *hi = 0;
    /* System descriptors are 16 bytes in long mode. */
    if ((cpu->efer & X86_EFER_LMA) && !(*lo & (1ull << 44))) {
        if (off + 15 > limit)
            return 1;
        if (la_read(cpu, base + off + 8, 8, false, hi) != 0)
            return -1;
    }
    return 0;
}

int desc_load(struct cpu *cpu, uint16_t sel, struct seg *s, uint64_t *lo)
{
    uint64_t l, h;
    int r = desc_read(cpu, sel, &l, &h);
    if (r < 0)
        return STEP_FAULT;
    if (r > 0)
        return raise_gp(cpu, sel & ~3u);
    desc_to_seg(l, h, sel, s);
    if (lo)
        *lo = l;
    return STEP_OK;
}

void desc_to_seg(uint64_t lo, uint64_t hi, uint16_t sel, struct seg *s)
{
    uint32_t limit = (uint32_t)((lo & 0xffff) | ((lo >> 32) & 0xf0000));
    if (lo & (1ull << 55))
        limit = (limit << 12) | 0xfff;
    s->sel = sel;
    s->limit = limit;
    s->base = ((lo >> 16) & 0xffffff) | ((lo >> 32) & 0xff000000ull);
    if (!(lo & (1ull << 44)))
        s->base |= (hi & 0xffffffffull) << 32;
    s->attrib = (uint16_t)(((lo >> 40) & 0xff) | (((lo >> 52) & 0xf) << 8));
}

int desc_set_flag(struct cpu *cpu, uint16_t sel, uint64_t lo_bits)
{
    uint64_t base = (sel & X86_ERR_TI) ? cpu->ldtr.base : cpu->gdtr.base;
    uint64_t la = base + (sel & ~7u), lo;
    if (la_read(cpu, la, 8, false, &lo) != 0)
        return -1;
    if ((lo & lo_bits) == lo_bits)
        return 0;
    return la_write(cpu, la, 8, false, lo | lo_bits);
}

#define DESC_ACCESSED (1ull << 40)

int seg_load(struct cpu *cpu, unsigned seg, uint16_t sel)
{
    struct seg *s = &cpu->seg[seg];
    if (cpu->mode == CPU_MODE_REAL) {
        s->sel = sel;
        s->base = (uint64_t)sel << 4;
        return 0;
    }
    unsigned rpl = sel & 3;
    if ((sel & ~3) == 0) {
        if (seg == SEG_SS && (cpu->mode != CPU_MODE_LONG64 || cpu->cpl == 3 || rpl != cpu->cpl))
            return raise_gp(cpu, 0);
        s->sel = sel;
        s->attrib = seg == SEG_SS ? (uint16_t)((s->attrib & ~VMCB_ATTR_DPL_MASK) |
                                               (cpu->cpl << VMCB_ATTR_DPL_SHIFT))
                                  : 0;
        if (seg != SEG_FS && seg != SEG_GS)
            s->base = 0;
        return 0;
    }
    uint64_t lo;
    struct seg n;
    if (desc_load(cpu, sel, &n, &lo) != STEP_OK)
        return STEP_FAULT;
    unsigned dpl = (n.attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
    bool sys = !(n.attrib & VMCB_ATTR_S), code = n.attrib & 8, rw = n.attrib & 2;
    bool conforming = code && (n.attrib & 4);
    if (seg == SEG_SS) {
        if (sys || code || !rw || rpl != cpu->cpl || dpl != cpu->cpl)
            return raise_gp(cpu, sel & ~3u);
        if (!(n.attrib & VMCB_ATTR_P))
            return raise_exc_err(cpu, X86_VEC_SS, sel & ~3u);
    } else {
        if (sys || (code && !rw))
            return raise_gp(cpu, sel & ~3u);
        if (!conforming && (dpl < cpu->cpl || dpl < rpl))
            return raise_gp(cpu, sel & ~3u);
        if (!(n.attrib & VMCB_ATTR_P))
            return raise_exc_err(cpu, X86_VEC_NP, sel & ~3u);
    }
    if (!(lo & DESC_ACCESSED) && desc_set_flag(cpu, sel, DESC_ACCESSED) != 0)
        return STEP_FAULT;
    n.attrib |= 1; /* accessed */
    *s = n;
    return 0;
}

int seg_load_cs(struct cpu *cpu, uint16_t sel, unsigned new_cpl)
{
    /* Real mode: the selector and a base of selector * 16; the limit and
     * attributes stay what the descriptor cache holds. */
    if (cpu->mode == CPU_MODE_REAL) {
        cpu->seg[SEG_CS].sel = sel;
        cpu->seg[SEG_CS].base = (uint64_t)sel << 4;
        cpu_update_mode(cpu);
        return 0;
    }
    if ((sel & ~3) == 0)
        return raise_gp(cpu, 0);
    uint64_t lo;
    struct seg n;
    if (desc_load(cpu, sel, &n, &lo) != STEP_OK)
        return STEP_FAULT;
    unsigned dpl = (n.attrib & VMCB_ATTR_DPL_MASK) >> VMCB_ATTR_DPL_SHIFT;
    bool code = (n.attrib & VMCB_ATTR_S) && (n.attrib & 8);
    bool conforming = n.attrib & 4;
    if (!code)
        return raise_gp(cpu, sel & ~3u);
    if (conforming ? dpl > new_cpl : dpl != new_cpl)
        return raise_gp(cpu, sel & ~3u);
    if ((cpu->efer & X86_EFER_LMA) && (n.attrib & VMCB_ATTR_L) && (n.attrib & VMCB_ATTR_DB))
        return raise_gp(cpu, sel & ~3u);
    if (!(n.attrib & VMCB_ATTR_P))
        return raise_exc_err(cpu, X86_VEC_NP, sel & ~3u);
    if (!(lo & DESC_ACCESSED) && desc_set_flag(cpu, sel, DESC_ACCESSED) != 0)
        return STEP_FAULT;
    n.attrib |= 1;
    n.sel = (uint16_t)((sel & ~3u) | new_cpl);
    cpu->seg[SEG_CS] = n;
    cpu->cpl = (uint8_t)new_cpl;
    cpu_update_mode(cpu);
    return 0;
}
