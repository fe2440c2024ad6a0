/* services.c — what the CPU offers the hypervisor's emulator: reading and
 * writing guest-virtual memory and describing the instruction at CS:RIP, on
 * the state of the guest that ran last. Faults are reported, never
 * delivered: the caller decides whether to inject them.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"

#include <string.h>

/* One access at the last-run guest's CPL; the guest's pending-exception
 * state is left as it was, the fault (if any) goes to *exc. */
static int guest_access(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size,
                        enum access acc, uint64_t *val, struct exc *exc)
{
    struct exc saved = cpu->exc;
    uint64_t la;
    int r = seg_linear(cpu, seg, off, size, acc, &la);
    if (r == 0)
        r = acc == ACC_WRITE ? la_write(cpu, la, size, cpu->user, *val)
                             : la_read(cpu, la, size, cpu->user, val);
    if (r != 0)
        *exc = cpu->exc;
    cpu->exc = saved;
    return r ? -1 : 0;
}

int cpu_guest_read(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, uint64_t *val,
                   struct exc *exc)
{
    return guest_access(cpu, seg, off, size, ACC_READ, val, exc);
}

int cpu_guest_write(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, uint64_t val,
                    struct exc *exc)
{
    return guest_access(cpu, seg, off, size, ACC_WRITE, &val, exc);
}

void cpu_describe_insn(struct cpu *cpu, uint8_t bytes[15], uint8_t *len, char *text,
                       size_t textlen)
{
    *len = 0;
    if (textlen)
        text[0] = 0;
    uint64_t la = code_linear(cpu, cpu->rip);
    struct exc fault;
    struct exc saved = cpu->exc;
    uint8_t buf[15];
    unsigned n = mmu_fetch(cpu, la, buf, sizeof(buf), &fault);
    cpu->exc = saved;
    if (n == 0)
        return;
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->decoder[cpu->mode], buf, n, &zi, zo)))
        return;
    memcpy(bytes, buf, zi.length);
    *len = zi.length;
    if (textlen)
        ZydisFormatterFormatInstruction(&cpu->formatter, &zi, zo, zi.operand_count_visible, text,
                                        textlen, cpu->rip, ZYAN_NULL);
}
