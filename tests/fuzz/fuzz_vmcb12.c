/* fuzz_vmcb12.c — libFuzzer target: an L1 that VMRUNs a vmcb12 the fuzzer
 * mutates, with L2 code the fuzzer writes, again and again until the
 * instruction limit.
 *
 * Input: one byte N, then N records {u16 offset, u8 value} that overwrite
 * bytes of a valid vmcb12 (64-bit L2 under L1's nested page tables, which
 * map L2 physical [0, 2 MiB) to L1 physical [8 MiB, 10 MiB)); the rest of
 * the input is L2's code at L2 physical 0x10000.
 *
 * Invariants, each an abort (a crash for libFuzzer):
 *   - the run ends with a documented status (DESIGN.md), never 70;
 *   - vmcb12's exit code is SVM_EXIT_ERR, an exit code the CPU produces,
 *     or untouched;
 *   - while vmcb12 keeps nested paging on nCR3 and intercepts VMSAVE, L2
 *     writes no L1 memory outside what the nested tables map for it: L1's
 *     code, its host-save page and a canary region are unchanged.
 * ASan/UBSan (built in) catch any access outside guest RAM or other UB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/arch/svm_exit.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"
#include "svmsim/svmsim.h"

#define MEM (16ull << 20)
#define L1_CODE 0x100000ull
#define VMCB12 0x200000ull
#define HSAVE 0x201000ull
#define IOPM 0x204000ull
#define MSRPM 0x207000ull
#define NPT 0x300000ull          /* PML4, PDPT, PD */
#define CANARY 0x400000ull
#define CANARY_LEN 0x10000ull
#define WINDOW 0x800000ull       /* L1 physical of L2 physical 0 */
#define L2_PT 0x1000ull          /* L2 physical: PML4, PDPT, PD */
#define L2_GDT 0x4000ull
#define L2_CODE 0x10000ull
#define L2_CODE_MAX 0x1000ull
#define L2_STACK 0x80000ull
#define MAX_INSNS 4000

static const uint8_t l1_code[] = {
    0xb9, 0x80, 0x00, 0x00, 0xc0,             /* mov ecx, EFER */
    0x0f, 0x32,                               /* rdmsr */
    0x0f, 0xba, 0xe8, 0x0c,                   /* bts eax, 12 */
    0x0f, 0x30,                               /* wrmsr */
    0xb9, 0x17, 0x01, 0x01, 0xc0,             /* mov ecx, VM_HSAVE_PA */
    0xb8, 0x00, 0x10, 0x20, 0x00,             /* mov eax, HSAVE */
    0x31, 0xd2,                               /* xor edx, edx */
    0x0f, 0x30,                               /* wrmsr */
    0xb8, 0x00, 0x00, 0x20, 0x00,             /* mov eax, VMCB12 */
    /* loop: */
    0x0f, 0x01, 0xd8,                         /* vmrun */
    0x48, 0x8b, 0x1c, 0x25, 0xc8, 0x00, 0x20, 0x00, /* mov rbx, [VMCB12 + next_rip] */
    0x48, 0x85, 0xdb,                         /* test rbx, rbx */
    0x74, 0x08,                               /* jz +8 */
    0x48, 0x89, 0x1c, 0x25, 0x78, 0x05, 0x20, 0x00, /* mov [VMCB12 + save.rip], rbx */
    0xeb, 0xe1,                               /* jmp loop */
};

static void put64(struct svmsim_vm *vm, uint64_t gpa, uint64_t v)
{
    if (svmsim_write_phys(vm, gpa, &v, 8) != 0)
        abort();
}

static void vmcb12_template(struct vmcb *v)
{
    memset(v, 0, sizeof(*v));
    struct vmcb_control_area *c = &v->control;
    static const unsigned intercepted[] = {
        SVM_EXIT_VMRUN, SVM_EXIT_VMMCALL, SVM_EXIT_SHUTDOWN, SVM_EXIT_HLT, SVM_EXIT_VMLOAD,
        SVM_EXIT_VMSAVE, SVM_EXIT_IOIO, SVM_EXIT_MSR, SVM_EXIT_EXCP_BASE + X86_VEC_DF,
    };
    for (unsigned i = 0; i < sizeof(intercepted) / sizeof(intercepted[0]); i++)
        c->intercepts[intercepted[i] / 32] |= 1u << (intercepted[i] % 32);
    c->iopm_base_pa = IOPM;
    c->msrpm_base_pa = MSRPM;
    c->asid = 1;
    c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
    c->nested_cr3 = NPT;
    struct vmcb_save_area *s = &v->save;
    struct vmcb_seg code = { 0x08, 0x0a9b, 0xffffffff, 0 }, data = { 0x10, 0x0c93, 0xffffffff, 0 };
    s->cs = code;
    s->ss = s->ds = s->es = s->fs = s->gs = data;
    s->gdtr.base = L2_GDT;
    s->gdtr.limit = 23;
    s->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_SVME | X86_EFER_NXE;
    s->cr0 = 0x80010033;
    s->cr3 = L2_PT;
    s->cr4 = X86_CR4_PAE;
    s->dr6 = 0xffff0ff0;
    s->dr7 = 0x400;
    s->rflags = X86_RFLAGS_FIXED;
    s->rip = L2_CODE;
    s->rsp = L2_STACK;
    s->g_pat = 0x0007040600070406ull;
}

static void setup_memory(struct svmsim_vm *vm)
{
    const uint64_t rw = X86_PTE_P | X86_PTE_RW | X86_PTE_US;
    /* L1's nested tables: L2 physical [0, 2 MiB) -> WINDOW, one 2 MiB page. */
    put64(vm, NPT, (NPT + 0x1000) | rw);
    put64(vm, NPT + 0x1000, (NPT + 0x2000) | rw);
    put64(vm, NPT + 0x2000, WINDOW | rw | X86_PTE_PS);
    /* L2's own tables in its physical space: linear = physical, 2 MiB. */
    put64(vm, WINDOW + L2_PT, (L2_PT + 0x1000) | rw);
    put64(vm, WINDOW + L2_PT + 0x1000, (L2_PT + 0x2000) | rw);
    put64(vm, WINDOW + L2_PT + 0x2000, 0 | rw | X86_PTE_PS);
    const uint64_t gdt[3] = { 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull };
    if (svmsim_write_phys(vm, WINDOW + L2_GDT, gdt, sizeof(gdt)) != 0 ||
        svmsim_write_phys(vm, L1_CODE, l1_code, sizeof(l1_code)) != 0)
        abort();
    static uint8_t canary[CANARY_LEN];
    for (uint64_t i = 0; i < CANARY_LEN; i++)
        canary[i] = (uint8_t)(i * 7 + 1);
    if (svmsim_write_phys(vm, CANARY, canary, sizeof(canary)) != 0)
        abort();
}

/* L1 memory outside the window that L2 must not be able to change. */
struct region {
    uint64_t gpa, len;
};
static const struct region guarded[] = {
    { L1_CODE, 0x1000 }, { HSAVE, 0x1000 }, { CANARY, CANARY_LEN },
};
#define GUARDED (sizeof(guarded) / sizeof(guarded[0]))

static uint8_t *snapshot(struct svmsim_vm *vm, const struct region *r)
{
    uint8_t *p = malloc(r->len);
    if (!p || svmsim_read_phys(vm, r->gpa, p, r->len) != 0)
        abort();
    return p;
}

static bool status_documented(int status)
{
    return status == 2 || status == 4 || status == 6 || status == 8 || (status & 1);
}

static bool exit_code_possible(uint64_t code)
{
    return code == SVM_EXIT_ERR || code <= SVM_EXIT_LAST_BITMAPPED || code == SVM_EXIT_NPF;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = MEM;
    cfg.max_insns = MAX_INSNS;
    cfg.deterministic = true;
    char err[160];
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    if (!vm)
        abort();

    static struct vmcb v;
    vmcb12_template(&v);
    size_t pos = 0;
    unsigned n = size ? data[pos++] : 0;
    for (unsigned i = 0; i < n && pos + 3 <= size; i++, pos += 3) {
        unsigned off = (data[pos] | (unsigned)data[pos + 1] << 8) & 0xfff;
        ((uint8_t *)&v)[off] = data[pos + 2];
    }
    setup_memory(vm);
    if (svmsim_write_phys(vm, VMCB12, &v, sizeof(v)) != 0)
        abort();
    size_t code_len = size - pos < L2_CODE_MAX ? size - pos : L2_CODE_MAX;
    static uint8_t code[L2_CODE_MAX];
    memset(code, 0xf4, sizeof(code)); /* hlt, intercepted by L1 */
    memcpy(code, data + pos, code_len);
    if (svmsim_write_phys(vm, WINDOW + L2_CODE, code, sizeof(code)) != 0)
        abort();

    bool guard = (v.control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE) && v.control.nested_cr3 == NPT &&
                 ((v.control.intercepts[SVM_EXIT_VMSAVE / 32] >> (SVM_EXIT_VMSAVE % 32)) & 1);
    uint8_t *before[GUARDED];
    for (unsigned i = 0; i < GUARDED; i++)
        before[i] = snapshot(vm, &guarded[i]);

    struct svmsim_regs regs;
    svmsim_get_regs(vm, &regs);
    regs.rip = L1_CODE;
    svmsim_set_regs(vm, &regs);
    struct svmsim_end end;
    int status = svmsim_run(vm, &end);
    if (!status_documented(status) || status == 70)
        abort();

    uint64_t exit_code;
    if (svmsim_read_phys(vm, VMCB12 + offsetof(struct vmcb_control_area, exit_code), &exit_code,
                         8) != 0)
        abort();
    if (exit_code != v.control.exit_code && !exit_code_possible(exit_code))
        abort();
    for (unsigned i = 0; i < GUARDED; i++) {
        uint8_t *after = snapshot(vm, &guarded[i]);
        if (guard && memcmp(before[i], after, guarded[i].len) != 0)
            abort();
        free(after);
        free(before[i]);
    }
    svmsim_destroy(vm);
    return 0;
}
