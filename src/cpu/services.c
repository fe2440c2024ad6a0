/* services.c — what the CPU offers the hypervisor's emulator: reading and
 * writing guest-virtual memory and describing the instruction at CS:RIP, on
 * the state of the guest that ran last. Faults are reported, never
 * delivered: the caller decides whether to inject them.
 */
#include "cpu/cpu.h"
#include "cpu/ops.h"

#include <stddef.h>
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

bool cpu_guest_io_permitted(struct cpu *cpu, uint16_t port, unsigned size)
{
    struct exc saved = cpu->exc;
    bool ok = io_permission(cpu, port, size) == STEP_OK;
    cpu->exc = saved;
    return ok;
}

int cpu_guest_phys(struct cpu *cpu, uint64_t gpa, bool write, uint64_t *hpa, struct exc *exc)
{
    struct exc saved = cpu->exc;
    int r = npt_translate(cpu, gpa, write ? ACC_WRITE : ACC_READ, false, hpa, NULL);
    if (r != 0)
        *exc = cpu->exc;
    cpu->exc = saved;
    return r;
}

enum cpu_decode_status cpu_decode_guest_insn(struct cpu *cpu, struct cpu_decoded *out,
                                             bool with_text)
{
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
    uint8_t buf[15];
    const size_t fields = offsetof(struct cpu_decoded, text);
    memset(out, 0, fields);
    out->text[0] = '\0';
    struct exc saved = cpu->exc;
    unsigned n = fetch_insn_bytes(cpu, cpu->rip, false, buf, &out->fault);
    cpu->exc = saved;

    /* Operands only for the text: L0 needs the instruction's shape, which
     * the instruction alone gives, and the #GP path decodes on every exit. */
    struct cpu_decode_memo *memo = &cpu->decode_memo;
    if (!with_text && memo->valid && memo->mode == cpu->mode && memo->n == n &&
        memcmp(memo->buf, buf, n) == 0) {
        memcpy(out, &memo->out, fields);
        return CPU_DECODE_OK;
    }
    enum cpu_decode_status st = decode_insn_bytes(cpu, buf, n, &zi, with_text ? zo : NULL);
    if (st != CPU_DECODE_OK)
        return st;
    out->len = zi.length;
    memcpy(out->bytes, buf, zi.length);
    out->mnemonic = (uint16_t)zi.mnemonic;
    out->opcode_map = (uint8_t)zi.opcode_map;
    out->opcode = zi.opcode;
    out->has_modrm = zi.attributes & ZYDIS_ATTRIB_HAS_MODRM;
    out->modrm = (uint8_t)((zi.raw.modrm.mod << 6) | (zi.raw.modrm.reg << 3) | zi.raw.modrm.rm);
    out->asize = (uint8_t)(zi.address_width / 8);
    out->osize = (uint8_t)(zi.operand_width / 8);
    out->rep = zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
                                ZYDIS_ATTRIB_HAS_REPNE);
    static const struct { ZyanU64 attrib; uint8_t seg; } overrides[] = {
        { ZYDIS_ATTRIB_HAS_SEGMENT_ES, SEG_ES }, { ZYDIS_ATTRIB_HAS_SEGMENT_CS, SEG_CS },
        { ZYDIS_ATTRIB_HAS_SEGMENT_SS, SEG_SS }, { ZYDIS_ATTRIB_HAS_SEGMENT_DS, SEG_DS },
        { ZYDIS_ATTRIB_HAS_SEGMENT_FS, SEG_FS }, { ZYDIS_ATTRIB_HAS_SEGMENT_GS, SEG_GS },
    };
    out->seg = SEG_DS;
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++)
        if (zi.attributes & overrides[i].attrib)
            out->seg = overrides[i].seg;
    if (zi.raw.imm[0].size) {
        out->has_imm = true;
        out->imm = zi.raw.imm[0].value.u & size_mask(zi.raw.imm[0].size / 8);
    }
    if (with_text) {
        ZydisFormatterFormatInstruction(&cpu->formatter, &zi, zo, zi.operand_count_visible,
                                        out->text, sizeof(out->text), cpu->rip, ZYAN_NULL);
    } else {
        memo->valid = true;
        memo->mode = cpu->mode;
        memo->n = (uint8_t)n;
        memcpy(memo->buf, buf, n);
        memcpy(&memo->out, out, fields);
    }
    return CPU_DECODE_OK;
}

const char *cpu_decode_status_name(enum cpu_decode_status st)
{
    switch (st) {
    case CPU_DECODE_OK: return "ok";
    case CPU_DECODE_FETCH_FAULT: return "fetch fault";
    case CPU_DECODE_TOO_LONG: return "longer than 15 bytes";
    case CPU_DECODE_INVALID: return "invalid instruction";
    }
    return "unknown";
}
