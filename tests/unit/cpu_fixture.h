/* cpu_fixture.h — what the unit tests that drive the CPU model as a host
 * would, with no L0 (test_cpu_code, test_cpu_context, test_cpu_fuse,
 * test_cpu_hold, test_cpu_irq, test_cpu_pause, test_cpu_singlestep,
 * test_svm_hw), share: the rig (guest RAM, one CPU, IOPM and MSRPM), host
 * writes into guest RAM that tell the CPU as machine.c does, reads back,
 * instruction bytes (GUEST_CODE, LE32), the CPU model they start from, and
 * the low layout of a 64-bit ring-0 guest: a GDT, an IDT base and its
 * gates, identity page tables with 2 MiB pages and the save area and VMCB
 * that run it.
 * Header-only: each test is its own executable, so the one rig here is one
 * per file and, as Criterion runs each test in its own process, one per test.
 *
 * The file names the VMCBs its rig holds before including this header,
 * e.g. `#define RIG_VMCBS struct vmcb *vmcb`.
 *
 * Must not: use src/hv, run the guest, or intercept more than VMRUN (which
 * VMRUN's checks require): what a guest runs, what exits, RAM's size, where
 * the code goes and which tables a VMCB uses are each file's. The page
 * tables at PML4_GPA are write_identity_tables' only; a file with its own
 * tables (test_cpu_context) puts them elsewhere.
 */
#ifndef SVMSIM_TESTS_CPU_FIXTURE_H
#define SVMSIM_TESTS_CPU_FIXTURE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "mem/mem.h"
#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#ifndef RIG_VMCBS
#error "define RIG_VMCBS (the rig's VMCB members) before including cpu_fixture.h"
#endif

/* ---- the low guest physical layout (linear == physical where mapped) */

#define GDT_GPA 0x1000ull
#define PML4_GPA 0x2000ull /* write_identity_tables */
#define PDPT_GPA 0x3000ull
#define PD_GPA 0x4000ull
#define IDT_GPA 0x6000ull
#define STACK_TOP 0x80000ull

#define CODE64_SEL 0x08
#define DATA_SEL 0x10
#define CODE64_ATTR 0x0a9b /* type B, S, P, L, G */
#define DATA_ATTR 0x0c93   /* type 3, S, P, DB, G */

/* The control state of write_save_area: 64-bit mode with paging, EFER.SVME
 * set (as the host runs it), the reset PAT. */
#define GUEST_EFER (X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME)
#define GUEST_CR0 0x80010033ull
#define GUEST_PAT 0x0007040600070406ull

/* A value no guest writes: a register or cell holding it was not written by
 * the run. */
#define POISON 0xdeadbeefdeadbeefull

/* Little-endian bytes of a 32-bit value, for displacements and immediates. */
#define LE32(x) \
    (uint8_t)((x) & 0xff), (uint8_t)(((x) >> 8) & 0xff), (uint8_t)(((x) >> 16) & 0xff), \
        (uint8_t)(((x) >> 24) & 0xff)

/* The CPU the tests model: 48-bit physical addresses, NRIPS, the VMSAVE RAX
 * erratum, and the file's reserved physical range [start, end]. */
#define CPU_FIXTURE_MODEL(start, end) \
    { .maxphyaddr = 48, .nrips = true, .rax_erratum = true, \
      .reserved_start = (start), .reserved_end = (end) }

/* The machine a test drives. */
static struct rig {
    struct gmem mem;
    struct cpu cpu;
    RIG_VMCBS;
    uint8_t *iopm;
    uint8_t *msrpm;
} rig;

/* Zeroes the rig, then ram_size bytes of RAM, the CPU of model, and an
 * empty IOPM and MSRPM. The VMCBs are the file's. */
static inline void rig_init(uint64_t ram_size, const struct cpu_model *model)
{
    memset(&rig, 0, sizeof(rig));
    cr_assert_eq(gmem_init(&rig.mem, ram_size), 0);
    cr_assert_eq(cpu_init(&rig.cpu, &rig.mem, model), 0);
    rig.iopm = calloc(1, SVM_IOPM_SIZE);
    rig.msrpm = calloc(1, SVM_MSRPM_SIZE);
    cr_assert(rig.iopm && rig.msrpm);
}

/* Frees what rig_init made; the file frees its VMCBs. */
static inline void rig_fini(void)
{
    free(rig.msrpm);
    free(rig.iopm);
    cpu_fini(&rig.cpu);
    gmem_fini(&rig.mem);
}

/* ---- guest RAM */

/* A host write: the bytes, then the CPU told (as machine.c does). */
static inline void phys_write(uint64_t gpa, const void *buf, size_t len)
{
    uint8_t *p = gmem_ptr(&rig.mem, gpa, len);
    cr_assert_not_null(p, "guest write at 0x%llx is outside RAM", (unsigned long long)gpa);
    memcpy(p, buf, len);
    cpu_notify_phys_write(&rig.cpu, gpa, len);
}

static inline void phys_write_u64(uint64_t gpa, uint64_t v)
{
    phys_write(gpa, &v, sizeof(v));
}

static inline void phys_read(uint64_t gpa, void *buf, size_t len)
{
    const uint8_t *p = gmem_ptr(&rig.mem, gpa, len);
    cr_assert_not_null(p, "guest read at 0x%llx is outside RAM", (unsigned long long)gpa);
    memcpy(buf, p, len);
}

static inline uint64_t phys_read_u64(uint64_t gpa)
{
    uint64_t v;
    phys_read(gpa, &v, sizeof(v));
    return v;
}

static inline uint32_t phys_read_u32(uint64_t gpa)
{
    uint32_t v;
    phys_read(gpa, &v, sizeof(v));
    return v;
}

/* Instruction bytes at a guest physical address:
 * GUEST_CODE(CODE_GPA, 0x0f, 0xa2). */
#define GUEST_CODE(gpa, ...) \
    phys_write((gpa), (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* ---- tables */

/* At GDT_GPA: null, a 64-bit code segment (CODE64_SEL) and a flat data
 * segment (DATA_SEL). */
static inline void write_gdt(void)
{
    const uint64_t gdt[3] = { 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull };
    phys_write(GDT_GPA, gdt, sizeof(gdt));
}

/* Gate vector of the IDT at IDT_GPA: a 64-bit interrupt gate (type E,
 * DPL 0) to CODE64_SEL:target, present or not. */
static inline void write_idt_gate(unsigned vector, uint64_t target, bool present)
{
    uint64_t lo = (target & 0xffff) | ((uint64_t)CODE64_SEL << 16) | (0xeull << 40) |
                  ((present ? 1ull : 0) << 47) | (((target >> 16) & 0xffff) << 48);
    phys_write_u64(IDT_GPA + vector * 16, lo);
    phys_write_u64(IDT_GPA + vector * 16 + 8, target >> 32);
}

/* At PML4_GPA: the first ram_size bytes (a multiple of 2 MiB) mapped 1:1
 * with 2 MiB pages; everything above is not present. */
static inline void write_identity_tables(uint64_t ram_size)
{
    const uint64_t rw = X86_PTE_P | X86_PTE_RW;
    phys_write_u64(PML4_GPA, PDPT_GPA | rw);
    phys_write_u64(PDPT_GPA, PD_GPA | rw);
    for (uint64_t i = 0; i < ram_size >> 21; i++)
        phys_write_u64(PD_GPA + i * 8, (i << 21) | rw | X86_PTE_PS);
}

/* IOPM: one bit per port. */
static inline void iopm_set(uint16_t port)
{
    rig.iopm[port / 8] |= (uint8_t)(1u << (port % 8));
}

/* ---- the VMCB */

/* A flat 4 GiB segment. */
static inline void seg_set(struct vmcb_seg *s, uint16_t sel, uint16_t attrib)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = 0xffffffff;
    s->base = 0;
}

/* 64-bit mode, CPL 0, paging on with cr3, EFER.SVME set, the GDT of
 * write_gdt, an IDT of 256 gates at IDT_GPA, RSP at STACK_TOP, the reset
 * values of DR6, DR7 and RFLAGS. RIP, RAX and CR2 are the caller's. */
static inline void write_save_area(struct vmcb_save_area *sa, uint64_t cr3)
{
    seg_set(&sa->cs, CODE64_SEL, CODE64_ATTR);
    seg_set(&sa->ss, DATA_SEL, DATA_ATTR);
    seg_set(&sa->ds, DATA_SEL, DATA_ATTR);
    seg_set(&sa->es, DATA_SEL, DATA_ATTR);
    seg_set(&sa->fs, DATA_SEL, DATA_ATTR);
    seg_set(&sa->gs, DATA_SEL, DATA_ATTR);
    sa->gdtr.base = GDT_GPA;
    sa->gdtr.limit = 3 * 8 - 1;
    sa->idtr.base = IDT_GPA;
    sa->idtr.limit = 256 * 16 - 1;
    sa->cpl = 0;
    sa->efer = GUEST_EFER;
    sa->cr0 = GUEST_CR0;
    sa->cr3 = cr3;
    sa->cr4 = X86_CR4_PAE;
    sa->dr6 = 0xffff0ff0;
    sa->dr7 = 0x400;
    sa->rflags = X86_RFLAGS_FIXED;
    sa->rsp = STACK_TOP;
    sa->g_pat = GUEST_PAT;
}

/* Sets the intercept bit of exit_code (an exit code with one). */
static inline void set_intercept(struct vmcb *vmcb, uint64_t exit_code)
{
    int bit = svm_exit_intercept_bit(exit_code);
    cr_assert_geq(bit, 0, "exit code 0x%llx has no intercept bit", (unsigned long long)exit_code);
    vmcb->control.intercepts[bit / 32] |= 1u << (bit % 32);
}

/* A zeroed, page-aligned VMCB that VMRUN accepts (APM vol. 2 §15.5.1):
 * write_save_area's guest with cr3, VMRUN intercepted, the ASID given. The
 * caller frees it. */
static inline struct vmcb *alloc_vmcb(uint32_t asid, uint64_t cr3)
{
    struct vmcb *vmcb = aligned_alloc(4096, sizeof(struct vmcb));
    cr_assert_not_null(vmcb);
    memset(vmcb, 0, sizeof(*vmcb));
    write_save_area(&vmcb->save, cr3);
    set_intercept(vmcb, SVM_EXIT_VMRUN);
    vmcb->control.asid = asid;
    return vmcb;
}

/* The start of a test that runs 64-bit code: the rig, write_gdt's GDT and
 * RAM mapped 1:1 with 2 MiB pages; returns alloc_vmcb's VMCB with ASID 1
 * and VMMCALL intercepted too, for the caller to free. */
static inline struct vmcb *rig_init_long(uint64_t ram_size, const struct cpu_model *model)
{
    rig_init(ram_size, model);
    write_gdt();
    write_identity_tables(ram_size);
    struct vmcb *vmcb = alloc_vmcb(1, PML4_GPA);
    set_intercept(vmcb, SVM_EXIT_VMMCALL);
    return vmcb;
}

#endif
