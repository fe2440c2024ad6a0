/* mmu.c — linear-to-physical translation, the soft TLB and guest memory
 * access slow paths.
 *
 * Owns: page walks (4-level long mode, 3-level PAE, 2-level 32-bit, and
 * the nested walk in the host's paging mode), their protection checks
 * (NX, SMEP), A/D bit updates, #PF error codes (APM vol. 2 §5) and #NPF
 * EXITINFO1, TLB fills and flushes, and the write-to-code-page check that
 * invalidates the decode cache.
 * Must not: decide policy about faults (it only fills cpu->exc).
 */
#include "cpu/cpu.h"

#include <string.h>

static uint64_t pa_mask(const struct cpu *cpu)
{
    return ((1ull << cpu->model.maxphyaddr) - 1) & ~0xfffull;
}

/* Physical memory as the CPU reads it: where there is no RAM, the bus
 * floats high (all ones). */
static uint64_t phys_read(struct cpu *cpu, uint64_t pa, unsigned size)
{
    const uint8_t *p = gmem_ptr(cpu->mem, pa, size);
    uint64_t v = 0;
    if (!p)
        return size_mask(size);
    memcpy(&v, p, size);
    return v;
}

static void phys_or_u64(struct cpu *cpu, uint64_t pa, uint64_t bits, unsigned width)
{
    uint8_t *p = gmem_ptr(cpu->mem, pa, width);
    if (!p)
        return;
    if (width == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v |= bits;
        memcpy(p, &v, 8);
    } else {
        uint32_t v;
        memcpy(&v, p, 4);
        v |= (uint32_t)bits;
        memcpy(p, &v, 4);
    }
}

static int page_fault(struct cpu *cpu, uint64_t la, uint32_t err)
{
    cpu->exc.vector = X86_VEC_PF;
    cpu->exc.has_error = true;
    cpu->exc.error = err;
    cpu->exc.cr2 = la;
    return -1;
}

/* A nested page fault: recorded in cpu->exc, turned into #VMEXIT(NPF)
 * when it is delivered. */
static int nested_fault(struct cpu *cpu, uint64_t gpa, uint64_t info1)
{
    cpu->exc.vector = CPU_EXC_NPF;
    cpu->exc.has_error = false;
    cpu->exc.error = 0;
    cpu->exc.cr2 = gpa;
    cpu->exc.npf_info1 = info1;
    return -1;
}

/* Bits 51:MAXPHYADDR of a long-mode entry, and bit 63 unless NX is on. */
static uint64_t rsvd_high_bits(const struct cpu *cpu, bool nxe)
{
    uint64_t rsvd = ~((1ull << cpu->model.maxphyaddr) - 1) & 0x000fffffffffffffull;
    return nxe ? rsvd : rsvd | X86_PTE_NX;
}

/* A long-mode PML4E's must-be-zero bits 8:7 (APM vol. 2 §5.3, the PML4E
 * format): what would be PS and G in a leaf. KVM reserves both on AMD. */
#define PML4E_MBZ (X86_PTE_PS | X86_PTE_G)

/* The #PF error code's I/D bit is defined only with NX or SMEP on (APM
 * vol. 2 §8.4.2; KVM's walker sets PFERR_FETCH_MASK on the same terms). */
static uint32_t fetch_bit(bool fetch, bool nxe, bool smep)
{
    return fetch && (nxe || smep) ? X86_PF_I : 0;
}

/* The host's paging mode for the nested walk: its EFER and CR4 at VMRUN
 * (cpu_set_npt_host). */
static bool npt_host_nxe(const struct cpu *cpu)
{
    return cpu->npt_hefer & X86_EFER_NXE;
}

static bool npt_host_smep(const struct cpu *cpu)
{
    return cpu->npt_hcr4 & X86_CR4_SMEP;
}

/* The nested walk (APM vol. 2 §15.25.5): nCR3's 4-level tables in the
 * host's long-mode format, every access a user access. With hEFER.NXE
 * clear bit 63 of every level is reserved rather than NX, and I/D follows
 * hEFER.NXE and hCR4.SMEP as in a #PF error code (KVM builds the nested
 * NPT MMU from L1's EFER and CR4 alike). SMEP refuses nothing here: the
 * accesses are user accesses. */
int npt_translate(struct cpu *cpu, uint64_t gpa, enum access acc, bool guest_pt, uint64_t *hpa,
                  bool *writable)
{
    if (!cpu->npt) {
        *hpa = gpa;
        if (writable)
            *writable = true;
        return 0;
    }
    bool hnxe = npt_host_nxe(cpu), hsmep = npt_host_smep(cpu);
    bool write = acc == ACC_WRITE || guest_pt, fetch = acc == ACC_EXEC;
    /* Every access is a user access, unless GMET (Guest Mode Execute Trap,
     * APM vol. 2 §15.25.11) makes the guest's CPL count: then a supervisor
     * fetch from a user page faults, as SMEP one level down, and the
     * guest's page-table accesses are supervisor accesses. */
    bool user = !cpu->npt_gmet || (cpu->cpl == 3 && !guest_pt);
    uint64_t info = (write ? X86_PF_W : 0) | (user ? X86_PF_U : 0) |
                    fetch_bit(fetch, hnxe, hsmep) |
                    (guest_pt ? SVM_NPF_GUEST_PAGE_TABLE : SVM_NPF_FINAL_ADDRESS);
    uint64_t rsvd_hi = rsvd_high_bits(cpu, hnxe);
    uint64_t table = cpu->ncr3 & pa_mask(cpu);
    uint64_t entries[4], addrs[4], e = 0, page_size = 0x1000;
    unsigned n = 0;
    bool rw = true, us = true, nx = false;
    if (gpa >> cpu->model.maxphyaddr)
        return nested_fault(cpu, gpa, info);
    for (unsigned level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t addr = table + ((gpa >> shift) & 511) * 8;
        e = phys_read(cpu, addr, 8);
        entries[n] = e;
        addrs[n++] = addr;
        if (!(e & X86_PTE_P))
            return nested_fault(cpu, gpa, info);
        uint64_t rsvd = rsvd_hi;
        if (level == 4)
            rsvd |= PML4E_MBZ;
        if (level == 2 && (e & X86_PTE_PS))
            rsvd |= 0x1fe000ull;
        if (level == 3 && (e & X86_PTE_PS))
            rsvd |= 0x3fffe000ull;
        if (e & rsvd)
            return nested_fault(cpu, gpa, info | X86_PF_P | X86_PF_RSVD);
        rw &= !!(e & X86_PTE_RW);
        us &= !!(e & X86_PTE_US);
        nx |= !!(e & X86_PTE_NX);
        if (level == 1 || ((level == 2 || level == 3) && (e & X86_PTE_PS))) {
            page_size = 1ull << shift;
            break;
        }
        table = e & pa_mask(cpu);
    }
    bool gmet_fault = cpu->npt_gmet && fetch && !user && us;
    if ((user && !us) || (write && !rw) || (fetch && nx) || gmet_fault)
        return nested_fault(cpu, gpa, info | X86_PF_P);
    for (unsigned i = 0; i < n; i++) {
        uint64_t bits = X86_PTE_A | (i == n - 1 && write ? X86_PTE_D : 0);
        if ((entries[i] & bits) != bits)
            phys_or_u64(cpu, addrs[i], bits, 8);
    }
    *hpa = (e & pa_mask(cpu) & ~(page_size - 1)) | (gpa & (page_size - 1));
    if (writable)
        *writable = rw && (write || (e & X86_PTE_D));
    return 0;
}

struct walk {
    uint64_t pa;        /* translated physical address */
    bool writable;      /* a write at this privilege would be allowed */
    bool dirty;         /* final entry's D bit (after this access) */
    bool large;         /* mapped by a page larger than 4 KiB */
};

static int walk(struct cpu *cpu, uint64_t la, enum access acc, bool user, struct walk *w)
{
    bool write = acc == ACC_WRITE, fetch = acc == ACC_EXEC;
    bool nxe = cpu->efer & X86_EFER_NXE, smep = cpu->cr4 & X86_CR4_SMEP;
    uint32_t errbits = (write ? X86_PF_W : 0) | (user ? X86_PF_U : 0) |
                       fetch_bit(fetch, nxe, smep);

    if (!(cpu->cr0 & X86_CR0_PG)) {
        uint64_t gpa = (cpu->efer & X86_EFER_LMA) ? la : (la & 0xffffffffull);
        w->writable = true;
        w->dirty = true;
        w->large = false;
        return npt_translate(cpu, gpa, acc, false, &w->pa, &w->writable);
    }

    uint64_t entries[4], addrs[4];
    unsigned width = 8, levels, nlev = 0;
    uint64_t table, rsvd_hi = rsvd_high_bits(cpu, nxe);
    uint64_t page_size;

    if (cpu->efer & X86_EFER_LMA) {
        levels = 4;
        table = cpu->cr3 & pa_mask(cpu);
    } else if (cpu->cr4 & X86_CR4_PAE) {
        /* PAE: the four PDPTEs are read at CR3 load on real hardware; read
         * them at walk time (FIXME: no PDPTE caching or reserved-bit #GP on
         * CR3 load). */
        uint64_t pdpte_pa;
        if (npt_translate(cpu, (cpu->cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8, ACC_READ, true,
                          &pdpte_pa, NULL) != 0)
            return -1;
        uint64_t pdpte = phys_read(cpu, pdpte_pa, 8);
        if (!(pdpte & X86_PTE_P))
            return page_fault(cpu, la, errbits);
        if (pdpte & (rsvd_hi | 0x1e6))
            return page_fault(cpu, la, errbits | X86_PF_P | X86_PF_RSVD);
        levels = 2;
        table = pdpte & pa_mask(cpu);
    } else {
        levels = 2;
        width = 4;
        table = cpu->cr3 & 0xfffff000ull;
    }

    bool rw = true, us = true, nx = false;
    uint64_t e = 0;
    unsigned level;
    for (level = levels; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t idx;
        if (width == 4) {
            shift = 12 + 10 * (level - 1);
            idx = (la >> shift) & 1023;
        } else {
            idx = (la >> shift) & 511;
        }
        uint64_t addr;
        if (npt_translate(cpu, table + idx * width, ACC_READ, true, &addr, NULL) != 0)
            return -1;
        e = phys_read(cpu, addr, width);
        entries[nlev] = e;
        addrs[nlev] = addr;
        nlev++;
        if (!(e & X86_PTE_P))
            return page_fault(cpu, la, errbits);
        if (width == 8) {
            uint64_t rsvd = rsvd_hi;
            if (levels == 4 && level == 4)
                rsvd |= PML4E_MBZ;
            if (level == 2 && (e & X86_PTE_PS))
                rsvd |= 0x1fe000ull; /* 2 MiB page: bits 20:13 */
            if (level == 3 && (e & X86_PTE_PS))
                rsvd |= 0x3fffe000ull; /* 1 GiB page: bits 29:13 */
            if (e & rsvd)
                return page_fault(cpu, la, errbits | X86_PF_P | X86_PF_RSVD);
        }
        rw &= !!(e & X86_PTE_RW);
        us &= !!(e & X86_PTE_US);
        nx |= width == 8 && nxe && (e & X86_PTE_NX);
        bool large = (e & X86_PTE_PS) &&
                     ((width == 8 && (level == 2 || level == 3)) ||
                      (width == 4 && level == 2 && (cpu->cr4 & X86_CR4_PSE)));
        if (level == 1 || large) {
            page_size = 1ull << shift;
            break;
        }
        table = e & (width == 8 ? pa_mask(cpu) : 0xfffff000ull);
    }

    bool wp = cpu->cr0 & X86_CR0_WP;
    bool can_write = user ? (rw && us) : (rw || !wp);
    /* SMEP: no supervisor fetch from a user page (APM vol. 2 §5.6). */
    bool smep_fault = smep && fetch && !user && us;
    if ((user && !us) || (write && !can_write) || (fetch && nx) || smep_fault)
        return page_fault(cpu, la, errbits | X86_PF_P);

    /* Accessed bits on every level, dirty on the leaf for a write. */
    for (unsigned i = 0; i < nlev; i++) {
        uint64_t bits = X86_PTE_A;
        if (i == nlev - 1 && write)
            bits |= X86_PTE_D;
        if ((entries[i] & bits) != bits)
            phys_or_u64(cpu, addrs[i], bits, width);
    }

    uint64_t base;
    if (width == 4 && page_size == (1ull << 22))
        base = (e & 0xffc00000ull) | ((e & 0x1fe000ull) << 19); /* PSE-36 style high bits */
    else
        base = e & (width == 8 ? pa_mask(cpu) : 0xfffff000ull) & ~(page_size - 1);
    w->large = page_size > 0x1000;
    w->writable = can_write;
    w->dirty = write || (e & X86_PTE_D);
    bool nested_writable;
    if (npt_translate(cpu, base | (la & (page_size - 1)), acc, false, &w->pa,
                      &nested_writable) != 0)
        return -1;
    w->writable &= nested_writable;
    return 0;
}

static void tlb_entry_invalidate(struct cpu *cpu, struct tlb_entry *e)
{
    e->tag_r = TLB_INVALID;
    e->tag_w = TLB_INVALID;
    e->tag_x = TLB_INVALID;
    tlb_cold_of(cpu, e)->tag_wc = TLB_INVALID;
}

/* A write the walk allowed (tag): into tag_w for the fast path, or, while
 * the page holds decoded code, into tag_wc so that its stores are looked
 * at (mmu_write_slow) without a walk. */
static void tlb_grant_write(struct cpu *cpu, struct tlb_entry *e, uint64_t tag)
{
    struct tlb_cold *cold = tlb_cold_of(cpu, e);
    if (cpu->mem->code[cold->pa >> GMEM_PAGE_SHIFT]) {
        cold->tag_wc = tag;
        e->tag_w = TLB_INVALID;
    } else {
        e->tag_w = tag;
        cold->tag_wc = TLB_INVALID;
        cpu->tlb_writable = true;
    }
}

int mmu_translate(struct cpu *cpu, uint64_t la, enum access acc, bool user, uint64_t *pa)
{
    struct walk w;
    if (walk(cpu, la, acc, user, &w) != 0)
        return -1;
    *pa = w.pa;

    /* Fill the soft TLB for RAM pages. The entry's other tags stay only
     * when they are for this page and this translation. */
    uint64_t ppage = w.pa & ~0xfffull;
    uint8_t *host = gmem_ptr(cpu->mem, ppage, 0x1000);
    if (host) {
        uint64_t lpage = la & ~0xfffull;
        struct tlb_entry *e = tlb_entry_of(cpu, la);
        struct tlb_cold *cold = tlb_cold_of(cpu, e);
        uint64_t tag = tlb_tag_of(cpu, lpage, user);
        cpu->tlb_large |= w.large;
        if (cold->pa != ppage || (e->tag_r != tag && e->tag_x != tag))
            tlb_entry_invalidate(cpu, e);
        e->addend = (uintptr_t)host - (uintptr_t)lpage;
        cold->pa = ppage;
        if (acc == ACC_EXEC) {
            e->tag_x = tag;
        } else {
            e->tag_r = tag;
            if (w.writable && w.dirty)
                tlb_grant_write(cpu, e, tag);
        }
    }
    return 0;
}

void tlb_flush_all(struct cpu *cpu)
{
    cpu->tlb_large = false;
    cpu->tlb_writable = false;
    for (unsigned i = 0; i < TLB_SIZE; i++)
        tlb_entry_invalidate(cpu, &cpu->tlb[i]);
}

void tlb_flush(struct cpu *cpu)
{
    /* Entries of the running context carry its tag bits (bit 1 clear). */
    for (unsigned i = 0; i < TLB_SIZE; i++) {
        struct tlb_entry *e = &cpu->tlb[i];
        if ((e->tag_r & 0xe) == cpu->tlb_ctx || (e->tag_w & 0xe) == cpu->tlb_ctx ||
            (e->tag_x & 0xe) == cpu->tlb_ctx ||
            (cpu->tlb_cold[i].tag_wc & 0xe) == cpu->tlb_ctx)
            tlb_entry_invalidate(cpu, e);
    }
}

void tlb_flush_page(struct cpu *cpu, uint64_t la)
{
    /* The TLB holds large pages as 4 KiB pieces: invalidating one large
     * page means finding all of them, so flush everything instead. */
    if (cpu->tlb_large) {
        tlb_flush(cpu);
        return;
    }
    tlb_entry_invalidate(cpu, tlb_entry_of(cpu, la));
}

static unsigned page_slot(uint64_t page)
{
    return (unsigned)((page * 0x9e3779b97f4a7c15ull) >> 52) & (PAGE_GEN_SLOTS - 1);
}

/* The 64-byte lines of a page that bytes [off, off + len) touch (len > 0,
 * off + len <= 4096). */
static uint64_t line_mask(unsigned off, unsigned len)
{
    unsigned first = off / 64, last = (off + len - 1) / 64;
    uint64_t upto = last == 63 ? ~0ull : (2ull << last) - 1;
    return upto & ~((1ull << first) - 1);
}

/* Forgets every mark and every block of every CPU sharing the memory (the
 * code table is full, or the host rewrote more than it tracks). */
static void code_forget_all(struct cpu *cpu)
{
    FOR_EACH_SHARER(c, cpu)
        icache_flush_all(c);
    gmem_clear_code(cpu->mem);
    cpu->fill_restart = true;
}

/* Decoded instructions now depend on these bytes: a store into their lines
 * must take the slow path (the TLB denies writes to a marked page) and
 * kill the page's blocks. The block being filled learns the page. */
void mmu_mark_code(struct cpu *cpu, uint64_t pa, unsigned len)
{
    uint64_t page = pa >> GMEM_PAGE_SHIFT;
    enum gmem_mark mk = gmem_mark_code(cpu->mem, page, line_mask(pa & 0xfff, len));
    if (mk == GMEM_MARK_FULL) {
        code_forget_all(cpu);
        mk = gmem_mark_code(cpu->mem, page, line_mask(pa & 0xfff, len));
    }
    if (mk == GMEM_MARK_NEW) { /* no CPU sharing the page may write it unseen */
        uint64_t ppage = pa & ~0xfffull;
        FOR_EACH_SHARER(c, cpu) {
            if (!c->tlb_writable)
                continue;
            for (unsigned i = 0; i < TLB_SIZE; i++) {
                struct tlb_entry *e = &c->tlb[i];
                if (c->tlb_cold[i].pa == ppage && e->tag_w != TLB_INVALID) {
                    c->tlb_cold[i].tag_wc = e->tag_w;
                    e->tag_w = TLB_INVALID;
                }
            }
        }
    }
    uint16_t slot = (uint16_t)page_slot(page);
    for (unsigned i = 0; i < cpu->fill_pages; i++)
        if (cpu->fill_slot[i] == slot)
            return;
    /* A block spans at most 2 pages (BLOCK_MAX instructions of at most 15
     * bytes): a third never comes. */
    if (cpu->fill_pages < 2)
        cpu->fill_slot[cpu->fill_pages++] = slot;
}

/* Bytes [off, off + len) of page are written (within the page): if they
 * touch its code, every block from the page dies and the mark goes. */
static void code_store(struct cpu *cpu, uint64_t page, unsigned off, unsigned len)
{
    if (!(gmem_code_lines(cpu->mem, page) & line_mask(off, len)))
        return; /* data beside code */
    gmem_unmark_code(cpu->mem, page);
    FOR_EACH_SHARER(c, cpu) { /* the blocks of every CPU sharing the memory */
        c->page_gen[page_slot(page)]++;
        code_epoch_next(c);
    }
}

void cpu_notify_phys_write(struct cpu *cpu, uint64_t gpa, uint64_t len)
{
    struct gmem *m = cpu->mem;
    uint64_t npages = m->size >> GMEM_PAGE_SHIFT;
    if (len == 0 || m->code_count == 0)
        return;
    /* The last byte written, saturating; pages past RAM hold no code. */
    uint64_t end = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1;
    uint64_t first = gpa >> GMEM_PAGE_SHIFT, end_page = end >> GMEM_PAGE_SHIFT;
    if (first >= npages)
        return;
    uint64_t last = end_page < npages ? end_page : npages - 1;
    if (last - first + 1 <= m->code_count) {
        /* Page by page, each as a store into it. */
        for (uint64_t p = first; p <= last; p++) {
            if (!m->code[p])
                continue;
            uint64_t lo = p == first ? gpa & 0xfff : 0;
            uint64_t hi = p == end_page ? (end & 0xfff) + 1 : 0x1000;
            code_store(cpu, p, (unsigned)lo, (unsigned)(hi - lo));
        }
        return;
    }
    /* More pages written than marked (a loader, DMA): if any marked page is
     * among them, forget everything. */
    for (unsigned i = 0; i < GMEM_CODE_SLOTS; i++) {
        uint64_t p = m->code_tab[i].page;
        if (p != GMEM_CODE_EMPTY && p >= first && p <= last) {
            code_forget_all(cpu);
            return;
        }
    }
}

/* A data read (not a table walk's): outside RAM, the MMIO handler's answer
 * (all ones without one). */
static uint64_t phys_data_read(struct cpu *cpu, uint64_t pa, unsigned size)
{
    if (!gmem_ptr(cpu->mem, pa, size) && cpu->mmio.read)
        return cpu->mmio.read(cpu->mmio.opaque, pa, size) & size_mask(size);
    return phys_read(cpu, pa, size);
}

static void phys_write(struct cpu *cpu, uint64_t pa, unsigned size, uint64_t v)
{
    uint8_t *p = gmem_ptr(cpu->mem, pa, size);
    if (!p) {
        /* No RAM there: the MMIO handler's, or the write goes nowhere. */
        if (cpu->mmio.write)
            cpu->mmio.write(cpu->mmio.opaque, pa, size, v & size_mask(size));
        return;
    }
    if (cpu->mem->code[pa >> GMEM_PAGE_SHIFT])
        code_store(cpu, pa >> GMEM_PAGE_SHIFT, (unsigned)(pa & 0xfff), size);
    memcpy(p, &v, size);
}

/* The linear address of the second part of a page-crossing access: linear
 * addresses wrap at 4 GiB outside 64-bit mode. */
static uint64_t next_page(const struct cpu *cpu, uint64_t la, unsigned first)
{
    uint64_t a = la + first;
    return cpu->mode == CPU_MODE_LONG64 ? a : (a & 0xffffffffull);
}

/* #AC: an access of 2, 4 or 8 bytes not aligned to its size while
 * alignment checks are on. */
static bool misaligned(unsigned user, uint64_t la, unsigned size)
{
    return (user & CPU_USER_AC) && (size == 2 || size == 4 || size == 8) && (la & (size - 1));
}

int mmu_read_slow(struct cpu *cpu, uint64_t la, unsigned size, unsigned user, uint64_t *val)
{
    uint64_t pa0, pa1;
    if (misaligned(user, la, size))
        return raise_exc_err(cpu, X86_VEC_AC, 0), -1;
    user &= 1;
    unsigned first = 0x1000 - (unsigned)(la & 0xfff);
    if (mmu_translate(cpu, la, ACC_READ, user, &pa0) != 0)
        return -1;
    if (first >= size) {
        *val = phys_data_read(cpu, pa0, size);
        return 0;
    }
    if (mmu_translate(cpu, next_page(cpu, la, first), ACC_READ, user, &pa1) != 0)
        return -1;
    uint64_t lo = phys_data_read(cpu, pa0, first);
    uint64_t hi = phys_data_read(cpu, pa1, size - first);
    *val = lo | (hi << (first * 8));
    return 0;
}

int mmu_write_slow(struct cpu *cpu, uint64_t la, unsigned size, unsigned user, uint64_t val)
{
    uint64_t pa0, pa1;
    if (misaligned(user, la, size))
        return raise_exc_err(cpu, X86_VEC_AC, 0), -1;
    user &= 1;
    unsigned first = 0x1000 - (unsigned)(la & 0xfff);
    struct tlb_entry *e = tlb_entry_of(cpu, la);
    struct tlb_cold *cold = tlb_cold_of(cpu, e);
    if (cold->tag_wc == tlb_tag_of(cpu, la + size - 1, user)) {
        /* A store into a page with code, no walk: beside the code (no
         * decoded line touched), straight into RAM (the entry is a RAM
         * page's, and one page's: the tag is its last byte's); into it,
         * as any physical write. Once the page holds no code, the fast
         * path has it. */
        unsigned off = (unsigned)(la & 0xfff);
        if (gmem_code_lines(cpu->mem, cold->pa >> GMEM_PAGE_SHIFT) & line_mask(off, size))
            phys_write(cpu, cold->pa | off, size, val);
        else
            host_write(la + e->addend, size, val);
        tlb_grant_write(cpu, e, cold->tag_wc);
        return 0;
    }
    if (mmu_translate(cpu, la, ACC_WRITE, user, &pa0) != 0)
        return -1;
    if (first >= size) {
        phys_write(cpu, pa0, size, val);
        return 0;
    }
    if (mmu_translate(cpu, next_page(cpu, la, first), ACC_WRITE, user, &pa1) != 0)
        return -1;
    phys_write(cpu, pa0, first, val);
    phys_write(cpu, pa1, size - first, val >> (first * 8));
    return 0;
}

unsigned mmu_fetch(struct cpu *cpu, uint64_t la, uint8_t *buf, unsigned len, struct exc *fault,
                   bool mark_code)
{
    unsigned done = 0;
    while (done < len) {
        uint64_t a = la + done, pa;
        if (cpu->mode != CPU_MODE_LONG64)
            a &= 0xffffffffull;
        const struct tlb_entry *e = tlb_entry_of(cpu, a);
        if (e->tag_x == tlb_tag_of(cpu, a, cpu->user & 1)) { /* fetches: no #AC */
            pa = tlb_cold_of(cpu, e)->pa | (a & 0xfff);
        } else {
            struct exc saved = cpu->exc;
            if (mmu_translate(cpu, a, ACC_EXEC, cpu->user, &pa) != 0) {
                *fault = cpu->exc;
                cpu->exc = saved;
                break;
            }
        }
        unsigned chunk = 0x1000 - (unsigned)(a & 0xfff);
        if (chunk > len - done)
            chunk = len - done;
        const uint8_t *p = gmem_ptr(cpu->mem, pa, chunk);
        if (p) {
            memcpy(buf + done, p, chunk);
            if (mark_code)
                mmu_mark_code(cpu, pa, chunk);
        } else {
            memset(buf + done, 0xff, chunk);
        }
        done += chunk;
    }
    return done;
}
