/* fuzz_guest.c — libFuzzer target: a whole guest from a fuzzed initial
 * state and code page, run through the public API under an instruction
 * limit (issue "Hostile guests").
 *
 * Input: bytes 0-127 the sixteen GPRs, byte 128 flags (bit 0: load the
 * image's IDT whose handlers step over the faulting byte; bit 1: start at
 * CPL3-like RFLAGS.IOPL 3; bit 2: the backdoor knob; bit 3: kvm-7.0; bit
 * 4: two vCPUs, the BSP first sending INIT and SIPI to the other, which
 * runs the same bytes in real mode from 0x10000), the rest the code at
 * 1 MiB.
 *
 * Invariants, each an abort: the run ends, with a status DESIGN.md lists
 * (never 70), having done no more work than --max-insns allows. ASan/UBSan
 * (built in) catch any access outside guest memory or other UB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svmsim/svmsim.h"

#define CODE 0x100000ull
#define CODE_MAX 0x1000
#define IDT 0x101000ull
#define HANDLERS 0x102000ull
#define MAX_INSNS 4000
#define AP_CODE 0x10000ull /* SIPI vector 0x10 */

static void put(struct svmsim_vm *vm, uint64_t gpa, const void *p, size_t n)
{
    if (svmsim_write_phys(vm, gpa, p, n) != 0)
        abort();
}

/* An IDT whose handlers add 1 to the saved RIP and return (the error code
 * popped first for the vectors that push one). */
static void load_idt_tables(struct svmsim_vm *vm)
{
    static const uint8_t noerr[] = { 0x48, 0x83, 0x04, 0x24, 0x01, 0x48, 0xcf };
    static const uint8_t err[] = { 0x48, 0x83, 0xc4, 0x08, 0x48, 0x83, 0x04, 0x24, 0x01,
                                   0x48, 0xcf };
    put(vm, HANDLERS, noerr, sizeof(noerr));
    put(vm, HANDLERS + 0x80, err, sizeof(err));
    for (unsigned v = 0; v < 256; v++) {
        int has_err = v == 8 || (v >= 10 && v <= 14) || v == 17;
        uint64_t t = HANDLERS + (has_err ? 0x80 : 0);
        uint64_t gate[2] = { (t & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                                 (((t >> 16) & 0xffff) << 48),
                             t >> 32 };
        put(vm, IDT + v * 16, gate, sizeof(gate));
    }
}

static void discard(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 129)
        return 0;
    uint8_t flags = data[128];
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = 8ull << 20;
    cfg.max_insns = MAX_INSNS;
    cfg.deterministic = true;
    cfg.enable_vmware_backdoor = flags & 4;
    cfg.semantics = (flags & 8) ? SVMSIM_SEMANTICS_KVM_7_0 : SVMSIM_SEMANTICS_KVM_7_1;
    cfg.console_write = discard;
    cfg.vcpus = (flags & 16) ? 2 : 1;
    cfg.jit_min = 1; /* host code for every block with a covered instruction, whatever the default */
    char err[160];
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    if (!vm)
        abort();
    size_t code_len = size - 129 < CODE_MAX ? size - 129 : CODE_MAX;
    uint8_t code[CODE_MAX + 32];
    size_t pre = 0;
    if (flags & 1) {
        load_idt_tables(vm);
        /* lidt [pointer] with the pointer right after the code page */
        static const uint8_t lidt[] = { 0x0f, 0x01, 0x1c, 0x25, 0x00, 0x30, 0x10, 0x00 };
        memcpy(code, lidt, sizeof(lidt));
        pre = sizeof(lidt);
        uint16_t limit = 4095;
        uint64_t base = IDT;
        put(vm, 0x103000, &limit, 2);
        put(vm, 0x103002, &base, 8);
    }
    if (flags & 16) {
        /* mov eax, 0xfee00300; ICR = INIT, then SIPI 0x10, to all but self */
        static const uint8_t start_ap[] = { 0xb8, 0x00, 0x03, 0xe0, 0xfe,
                                            0xc7, 0x00, 0x00, 0x45, 0x0c, 0x00,
                                            0xc7, 0x00, 0x10, 0x46, 0x0c, 0x00 };
        memcpy(code + pre, start_ap, sizeof(start_ap));
        pre += sizeof(start_ap);
        put(vm, AP_CODE, data + 129, code_len);
    }
    if (pre + code_len > sizeof(code))
        code_len = sizeof(code) - pre;
    memcpy(code + pre, data + 129, code_len);
    put(vm, CODE, code, pre + code_len);

    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    memcpy(r.gpr, data, 128);
    r.gpr[SVMSIM_RSP] = 0x80000 - (r.gpr[SVMSIM_RSP] & 0xff0); /* a stack in RAM */
    r.rip = CODE;
    r.rflags = 2 | ((flags & 2) ? 0x3000 : 0);
    svmsim_set_regs(vm, &r);
    struct svmsim_end end;
    int status = svmsim_run(vm, &end);
    if (status == 70 || !(status == 2 || status == 4 || status == 6 || status == 8 ||
                          status == 74 || (status & 1)))
        abort();
    if (end.insns + end.rep_elements + end.events > MAX_INSNS + 1)
        abort();
    svmsim_destroy(vm);
    return 0;
}
