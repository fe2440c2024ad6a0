/* fuzz_gp.c — libFuzzer target: L0's #GP intercept (src/hv/gp.c) on a
 * synthetic #GP exit, with fuzzed instruction bytes, error code, RAX and
 * guest state, for L1 and for L2, under each semantics.
 *
 * Input: byte 0 flags (bit 0 L2, 1 backdoor, 2 CPL3, 3 EFER.SVME clear,
 * 4 paging off, 5 compatibility mode, 6 vmcb12 intercepts #GP, 7 the
 * instruction runs into an unmapped page), byte 1 semantics, bytes 2-5 the
 * error code (used when byte 2's low bits are 0), bytes 6-13 RAX, the rest
 * the instruction bytes at RIP.
 *
 * Invariants, each an abort: the step the trace record names equals the one
 * a straight re-statement of SPEC-GP.md §2.2's table computes (kvm-7.1 and
 * architectural, which differ only after step 3c), with the outcome that
 * step gives (the exception queued or reflected, the #VMEXIT to L1, or the
 * end of the run); the run never ends with a status DESIGN.md does not
 * list. ASan/UBSan catch any access outside guest memory.
 */
#include "hv/hv.h"

#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "svm/svm.h"

#include "../unit/l0_fixture.h" /* the L0 on no ports, the 64-bit CPL0 save area */

#define RAM (8ull << 20)
#define PML4 0x1000ull
#define PDPT 0x2000ull
#define PD 0x3000ull             /* maps [0, 4 MiB) with two 2 MiB pages */
#define MAPPED_END 0x400000ull
#define CODE 0x100000ull
#define VMCB12 0x200000ull
#define HSAVE 0x201000ull
#define RESERVED_PAGE 0x300000ull

static void put64(struct gmem *m, uint64_t gpa, uint64_t v)
{
    memcpy(gmem_ptr(m, gpa, 8), &v, 8);
}

/* A 64-bit ring-0 save area on the fuzzer's page tables. */
static void save_area(struct vmcb_save_area *s)
{
    memset(s, 0, sizeof(*s));
    set_flat_segs(s, 0x0a9b, 0x0c93);
    set_long_mode_cpl0(s, PML4);
    s->rsp = 0x80000;
    s->rip = CODE;
}

/* What §2.2 says, restated from the table. */
struct expected {
    const char *step;
    uint64_t svm_exit;          /* step 3/3c: the SVM instruction */
};

static bool zydis_svm_insn(const ZydisDecodedInstruction *zi, uint64_t *exit)
{
    if (zi->opcode_map != ZYDIS_OPCODE_MAP_0F || zi->opcode != 0x01 ||
        !(zi->attributes & ZYDIS_ATTRIB_HAS_MODRM))
        return false;
    unsigned modrm = (zi->raw.modrm.mod << 6) | (zi->raw.modrm.reg << 3) | zi->raw.modrm.rm;
    *exit = modrm == 0xd8 ? SVM_EXIT_VMRUN : modrm == 0xda ? SVM_EXIT_VMLOAD
          : modrm == 0xdb ? SVM_EXIT_VMSAVE : 0;
    return *exit != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 15)
        return 0;
    uint8_t flags = data[0];
    bool l2 = flags & 1, backdoor = flags & 2, cpl3 = flags & 4, svme_clear = flags & 8;
    bool nopaging = flags & 0x10, compat = flags & 0x20, l1_gp = flags & 0x40;
    bool crosses = flags & 0x80;
    enum svmsim_semantics sem = (enum svmsim_semantics)(data[1] % 3);
    uint32_t error = (data[2] & 3) ? 0 : (uint32_t)(data[2] | data[3] << 8 | data[4] << 16 |
                                                   (uint32_t)data[5] << 24);
    uint64_t rax;
    memcpy(&rax, data + 6, 8);
    if (data[6] & 1) /* often a legal page, in the reserved range or not */
        rax = (data[7] & 1) ? RESERVED_PAGE : VMCB12 + 0x10000;
    const uint8_t *insn = data + 14;
    size_t insn_len = size - 14 < 15 ? size - 14 : 15;

    static struct gmem mem;
    static struct cpu cpu;
    static struct l0 l0;
    if (gmem_init(&mem, RAM) != 0)
        abort();
    struct cpu_model model = { .maxphyaddr = 48, .nrips = true, .np = true, .vls = true,
                               .rax_erratum = true, .reserved_start = RESERVED_PAGE,
                               .reserved_end = RESERVED_PAGE + 0xfff };
    struct svmsim_config cfg;
    svmsim_config_default(&cfg);
    cfg.mem_size = RAM;
    cfg.semantics = sem;
    cfg.enable_vmware_backdoor = backdoor;
    if (cpu_init(&cpu, &mem, &model) != 0 || l0_fixture_l0(&l0, &cpu, &cfg) != 0)
        abort();
    struct svmsim_end end;
    memset(&end, 0, sizeof(end));
    l0.end = &end;
    l0.tracing = true;

    put64(&mem, PML4, PDPT | 7);
    put64(&mem, PDPT, PD | 7);
    put64(&mem, PD, 0x000000 | 7 | X86_PTE_PS);
    put64(&mem, PD + 8, 0x200000 | 7 | X86_PTE_PS);

    /* L1, right after an intercepted VMRUN when L2 is wanted. */
    save_area(&l0.vmcb01->save);
    l0.efer_svme = X86_EFER_SVME;
    l0.vm_hsave_pa = HSAVE;
    gp_intercept_update(&l0);
    if (l2) {
        static struct vmcb v12;
        memset(&v12, 0, sizeof(v12));
        save_area(&v12.save);
        vmcb_set_intercept(&v12.control, SVM_EXIT_VMRUN);
        if (l1_gp)
            vmcb_set_intercept(&v12.control, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
        vmcb_set_intercept(&v12.control, SVM_EXIT_EXCP_BASE + X86_VEC_UD);
        v12.control.asid = 1;
        memcpy(gmem_ptr(&mem, VMCB12, sizeof(v12)), &v12, sizeof(v12));
        l0.vmcb01->control.next_rip = CODE + 3;
        if (nested_svm_vmrun(&l0, VMCB12, (const struct vmcb *)gmem_ptr(&mem, VMCB12, 4096)) != 1 ||
            !is_guest_mode(&l0))
            abort();
    }
    struct vmcb_save_area *s = &l0.vmcb->save;
    uint64_t rip = crosses ? MAPPED_END - 1 - (data[2] % 14) : CODE;
    s->rip = rip;
    s->rax = rax;
    if (cpl3) {
        s->cpl = 3;
        set_seg(&s->cs, 0x2b, 0x0afb, 0xffffffff, 0);
    }
    if (compat)
        set_seg(&s->cs, cpl3 ? 0x1b : 0x30, cpl3 ? 0x0cfb : 0x0c9b, 0xffffffff, 0);
    if (nopaging) {
        s->cr0 &= ~X86_CR0_PG;
        s->efer &= ~(X86_EFER_LME | X86_EFER_LMA);
        set_seg(&s->cs, 0x30, 0x0c9b, 0xffffffff, 0);
        s->rip = rip = (uint32_t)rip;
    }
    if (svme_clear) {
        if (l2)
            s->efer &= ~X86_EFER_SVME;
        else
            l0.efer_svme = 0;
    }
    uint8_t *code = gmem_ptr(&mem, rip, insn_len);
    if (!code)
        abort();
    size_t room = crosses ? MAPPED_END - rip : insn_len;
    memcpy(code, insn, insn_len < room ? insn_len : room);
    if (room < insn_len) /* the rest lies in RAM, but not mapped */
        memcpy(gmem_ptr(&mem, MAPPED_END, insn_len - room), insn + room, insn_len - room);
    svm_load_save_area(&cpu, s);
    cpu_update_mode(&cpu);
    l0.vmcb->control.exit_code = SVM_EXIT_GP;
    l0.vmcb->control.exit_info_1 = error;
    l0.vmcb->control.next_rip = 0;
    memset(&l0.rec, 0, sizeof(l0.rec));

    /* The restatement (kvm-7.1 and architectural share §2.2 up to 3c). */
    struct expected want = { NULL, 0 };
    bool long64 = !nopaging && !compat;
    if (sem != SVMSIM_SEMANTICS_KVM_7_0) {
        uint8_t buf[15];
        /* With paging off the bytes past MAPPED_END are still fetched. */
        unsigned fetched = crosses && !nopaging ? (unsigned)(MAPPED_END - rip) : 15;
        if (fetched > 15)
            fetched = 15;
        memcpy(buf, gmem_ptr(&mem, rip, fetched), fetched);
        ZydisDecoder dec;
        ZydisDecoderInit(&dec, long64 ? ZYDIS_MACHINE_MODE_LONG_64
                               : nopaging ? ZYDIS_MACHINE_MODE_LEGACY_32
                                          : ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
                         long64 ? ZYDIS_STACK_WIDTH_64 : ZYDIS_STACK_WIDTH_32);
        ZydisDecodedInstruction zi;
        ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
        bool decoded = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, buf, fetched, &zi, zo));
        uint64_t exit = 0;
        uint64_t trunc = long64 ? rax : (uint32_t)rax;
        bool svme = l2 ? !svme_clear : !svme_clear;
        if (error)
            want.step = "2.2 step 1";
        else if (!decoded)
            want.step = "2.2 step 2";
        else if (!zydis_svm_insn(&zi, &exit))
            want.step = backdoor && !l2 ? "2.2 step 5" : "2.2 step 4";
        else if (!l2)
            want.step = "2.2 step 3", want.svm_exit = exit;
        else if (!svme || nopaging || cpl3)
            want.step = "2.2 step 3a";
        else if ((trunc & 0xfff) || (trunc >> 48))
            want.step = "2.2 step 3b";
        else
            want.step = "2.2 step 3c", want.svm_exit = exit;
    }

    int resume = l0.sem->gp_interception(&l0);
    if (resume && l0_event_pending(&l0))
        resume = inject_pending_exception(&l0);

    if (want.step && strcmp(want.step, l0.rec.gp_step) != 0)
        abort();
    if (!resume && end.status != SVMSIM_STATUS_EMULATION_FAILURE &&
        end.status != SVMSIM_STATUS_SHUTDOWN)
        abort();
    /* The outcome each step gives. */
    if (want.step && resume) {
        const char *st = want.step;
        bool reflected = l0.rec.decision == SVMSIM_DECISION_REFLECTED;
        if (!strcmp(st, "2.2 step 1") || !strcmp(st, "2.2 step 2") || !strcmp(st, "2.2 step 4") ||
            !strcmp(st, "2.2 step 3b")) {
            bool ok = reflected ? l0.rec.reflected_code == SVM_EXIT_GP
                                : l0.vmcb->control.event_inj ==
                                      (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT |
                                       SVM_EVTINJ_VALID_ERR | X86_VEC_GP) &&
                                      l0.vmcb->control.event_inj_err == error;
            if (!ok || (reflected && !(l2 && l1_gp)))
                abort();
        }
        if (!strcmp(st, "2.2 step 3c") && sem == SVMSIM_SEMANTICS_KVM_7_1 &&
            (!reflected || l0.rec.reflected_code != want.svm_exit))
            abort();
        if (!strcmp(st, "2.2 step 3a")) {
            uint64_t c = l0.rec.reflected_code;
            uint32_t inj = l0.vmcb->control.event_inj & (SVM_EVTINJ_VALID | SVM_EVTINJ_VEC_MASK);
            bool ud = reflected ? c == SVM_EXIT_UD : inj == (SVM_EVTINJ_VALID | X86_VEC_UD);
            bool gp = reflected ? c == SVM_EXIT_GP : inj == (SVM_EVTINJ_VALID | X86_VEC_GP);
            if ((svme_clear || nopaging) ? !ud : !gp)
                abort();
        }
    }
    l0_fixture_fini(&l0, &cpu, &mem);
    return 0;
}
