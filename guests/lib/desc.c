/* desc.c — guest runtime: builds and loads the GDT, IDT and TSS, and
 * dispatches exceptions (per-vector handler, exception table, exc_catch,
 * else report and end the run with exit value 2).
 */
#include "desc.h"

#include "libguest.h"
#include "processor.h"

/* Descriptor images (APM vol. 2 §4.7/4.8): flat 4 GiB limit, G=1. */
#define DESC_CODE64(dpl) (0x00af9a000000ffffull | ((uint64_t)(dpl) << 45))
#define DESC_CODE32(dpl) (0x00cf9a000000ffffull | ((uint64_t)(dpl) << 45))
#define DESC_DATA(dpl)   (0x00cf92000000ffffull | ((uint64_t)(dpl) << 45))
#define DESC_P           (1ull << 47)

#define TSS_SIZE (sizeof(struct tss64) + TSS_IOPB_SIZE + 1) /* +1: all-ones byte */

static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));

struct __attribute__((packed)) idt_gate {
    uint16_t offset0;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset1;
    uint32_t offset2;
    uint32_t reserved;
};
static struct idt_gate idt[256] __attribute__((aligned(16)));

/* The TSS followed by its I/O bitmap and the terminating 0xff byte the CPU
 * may read when an access touches the last port. */
static struct {
    struct tss64 tss;
    uint8_t iopb[TSS_IOPB_SIZE + 1];
} tss_area __attribute__((aligned(4096)));
struct tss64 *const tss = &tss_area.tss;

char kernel_int_stack[KERNEL_INT_STACK_SIZE] __attribute__((aligned(4096)));
char df_stack[DF_STACK_SIZE] __attribute__((aligned(4096)));
char user_stack[USER_STACK_SIZE] __attribute__((aligned(4096)));

volatile struct exc_info exc_last = { .vector = -1 };
static exc_handler_t handlers[256];

extern void (*const exc_stub_table[256])(void);  /* entry.S */
extern void exc_catch_resume(void);               /* entry.S */
extern void user_return_entry(void);              /* entry.S */
extern uint64_t exc_catch_ctx;                    /* entry.S: innermost exc_catch frame */

struct extable_entry {
    uint64_t start, end;
};
extern const struct extable_entry __extable_start[], __extable_end[];

void (*exc_stub(int vector))(void)
{
    return exc_stub_table[vector & 0xff];
}

void idt_set_gate(int vector, void (*entry)(void), int dpl, int ist)
{
    uint64_t off = (uint64_t)entry;
    struct idt_gate *g = &idt[vector & 0xff];

    g->offset0 = (uint16_t)off;
    g->selector = KERNEL_CS;
    g->ist = (uint8_t)(ist & 7);
    g->type_attr = (uint8_t)(0x80 | ((dpl & 3) << 5) | 0xe); /* P, 64-bit interrupt gate */
    g->offset1 = (uint16_t)(off >> 16);
    g->offset2 = (uint32_t)(off >> 32);
    g->reserved = 0;
}

void idt_set_present(int vector, bool present)
{
    struct idt_gate *g = &idt[vector & 0xff];

    if (present)
        g->type_attr |= 0x80;
    else
        g->type_attr &= 0x7f;
}

void gdt_set(int index, uint64_t descriptor)
{
    gdt[index] = descriptor;
}

uint64_t gdt_get(int index)
{
    return gdt[index];
}

void tss_io_allow(uint16_t port, bool allow)
{
    if (allow)
        tss_area.iopb[port / 8] &= (uint8_t)~(1u << (port % 8));
    else
        tss_area.iopb[port / 8] |= (uint8_t)(1u << (port % 8));
}

void tss_io_deny_all(void)
{
    memset(tss_area.iopb, 0xff, sizeof(tss_area.iopb));
}

uint16_t tss_iopb_default(void)
{
    return (uint16_t)sizeof(struct tss64);
}

void tss_set_iopb_offset(uint16_t offset)
{
    tss->iopb_offset = offset;
}

exc_handler_t handle_exception(int vector, exc_handler_t handler)
{
    exc_handler_t old = handlers[vector & 0xff];

    handlers[vector & 0xff] = handler;
    return old;
}

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "RSV", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "RSV", "RSV",
    "RSV", "RSV", "RSV", "RSV", "#HV", "#VC", "#SX", "RSV",
};

static bool extable_fixup(struct ex_regs *regs)
{
    for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
        if (regs->rip >= e->start && regs->rip <= e->end) {
            regs->rip = e->end;
            return true;
        }
    }
    return false;
}

/* Called from the common entry stub with the frame on the current stack. */
void exc_dispatch(struct ex_regs *regs)
{
    int vec = (int)regs->vector;

    exc_last.vector = vec;
    exc_last.error_code = regs->error_code;
    exc_last.rip = regs->rip;
    exc_last.cs = regs->cs;
    exc_last.rsp = regs->rsp;
    exc_last.cr2 = read_cr2();
    exc_last.frame = (uint64_t)regs;
    exc_last.count++;

    if (handlers[vec]) {
        handlers[vec](regs);
        return;
    }
    if (extable_fixup(regs))
        return;
    if (exc_catch_ctx) {
        /* Abandon the function exc_catch called: resume in exc_catch at
         * CPL0 on the stack it saved (see entry.S). */
        regs->rip = (uint64_t)exc_catch_resume;
        regs->cs = KERNEL_CS;
        regs->rsp = exc_catch_ctx;
        regs->ss = KERNEL_DS;
        regs->rflags = X86_RFLAGS_FIXED;
        regs->rax = (uint64_t)vec;
        return;
    }
    printf("Unhandled exception %d %s at RIP %#lx CS %#lx, error code %#lx, CR2 %#lx, RSP %#lx\n",
           vec, vec < 32 ? exc_names[vec] : "(interrupt)", regs->rip, regs->cs, regs->error_code,
           exc_last.cr2, regs->rsp);
    guest_exit(2);
}

void desc_init(void)
{
    struct descriptor_table_ptr p;
    uint64_t tss_base = (uint64_t)&tss_area;
    uint64_t tss_limit = TSS_SIZE - 1;

    gdt[0] = 0;
    gdt[KERNEL_CS >> 3] = DESC_CODE64(0);
    gdt[KERNEL_DS >> 3] = DESC_DATA(0);
    gdt[USER_CS32 >> 3] = DESC_CODE32(3);
    gdt[USER_DS >> 3] = DESC_DATA(3);
    gdt[USER_CS >> 3] = DESC_CODE64(3);
    gdt[KERNEL_CS32 >> 3] = DESC_CODE32(0);
    /* 64-bit available TSS (type 9), APM vol. 2 §12.2.5: 16 bytes. */
    gdt[TSS_SEL >> 3] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) |
                        (((tss_limit >> 16) & 0xf) << 48) | (((tss_base >> 24) & 0xff) << 56);
    gdt[(TSS_SEL >> 3) + 1] = tss_base >> 32;
    gdt[NP_DS >> 3] = DESC_DATA(0) & ~DESC_P;

    p.limit = sizeof(gdt) - 1;
    p.base = (uint64_t)gdt;
    lgdt(&p);
    /* Reload CS with a far return, then the data segments. FS/GS get the
     * null selector so their bases stay what the MSRs say. */
    asm volatile("pushq %[cs]\n\t"
                 "leaq 1f(%%rip), %%rax\n\t"
                 "pushq %%rax\n\t"
                 "lretq\n"
                 "1:\n\t"
                 "movl %[ds], %%eax\n\t"
                 "movl %%eax, %%ds\n\t"
                 "movl %%eax, %%es\n\t"
                 "movl %%eax, %%ss\n\t"
                 "xorl %%eax, %%eax\n\t"
                 "movl %%eax, %%fs\n\t"
                 "movl %%eax, %%gs\n\t"
                 :
                 : [cs] "i"(KERNEL_CS), [ds] "i"(KERNEL_DS)
                 : "rax", "memory");

    memset(&tss_area, 0, sizeof(tss_area));
    tss->rsp[0] = (uint64_t)kernel_int_stack + sizeof(kernel_int_stack);
    tss->ist[DF_IST] = (uint64_t)df_stack + sizeof(df_stack);
    tss->iopb_offset = tss_iopb_default();
    tss_io_deny_all();
    ltr(TSS_SEL);

    for (int v = 0; v < 256; v++)
        idt_set_gate(v, exc_stub_table[v], 0, v == X86_VEC_DF ? DF_IST : 0);
    idt_set_gate(USER_RETURN_VECTOR, user_return_entry, 3, 0);
    p.limit = sizeof(idt) - 1;
    p.base = (uint64_t)idt;
    lidt(&p);
}
