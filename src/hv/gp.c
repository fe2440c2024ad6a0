/* gp.c — L0's #GP intercept (SPEC-GP.md §2): gp_interception as KVM 7.1
 * has it after the series "KVM: SVM: ... #GP intercept", and the KVM 7.0
 * shape before it, side by side. --semantics picks one once (semantics.c).
 *
 * Some AMD CPUs raise #GP on VMRUN/VMLOAD/VMSAVE when RAX points into
 * host-reserved memory, before the intercept check. L0 intercepts #GP,
 * decodes the instruction and does what the intercept would have done. The
 * same intercept lets the VMware backdoor through; any other #GP goes back
 * to the guest with its error code.
 *
 * Owns: the #GP decisions and nothing else. Each decision names its step
 * of §2.2 / §2.3 in the trace record.
 */
#include "hv/hv.h"

#include <stdio.h>
#include <string.h>

/* The exit codes of the three instructions, so that 0 can mean "not one of
 * them" (KVM's svm_get_decoded_instr_exit_code). */
_Static_assert(SVM_EXIT_VMRUN != 0 && SVM_EXIT_VMLOAD != 0 && SVM_EXIT_VMSAVE != 0,
               "0 means: not an SVM instruction");

/* §2.1: two-byte opcode 0F 01 with ModRM D8 (VMRUN), DA (VMLOAD) or DB
 * (VMSAVE); prefixes do not matter. */
static uint64_t svm_get_decoded_instr_exit_code(const struct cpu_decoded *insn)
{
    if (insn->opcode_map != ZYDIS_OPCODE_MAP_0F || insn->opcode != 0x01 || !insn->has_modrm)
        return 0;
    switch (insn->modrm) {
    case 0xd8: return SVM_EXIT_VMRUN;
    case 0xda: return SVM_EXIT_VMLOAD;
    case 0xdb: return SVM_EXIT_VMSAVE;
    default: return 0;
    }
}

/* The step of section sec ("2.2", "2.3") the decision was made at. */
static void gp_step(struct l0 *l0, const char *sec, const char *step)
{
    if (l0->tracing)
        snprintf(l0->rec.gp_step, sizeof(l0->rec.gp_step), "%s %s", sec, step);
}

/* RAX is a page-aligned address below 2^MAXPHYADDR. */
static bool svm_rax_legal(const struct l0 *l0, uint64_t gpa)
{
    return !(gpa & 0xfff) && !(gpa >> l0->cfg.maxphyaddr);
}

/* An exception exit leaves no NRIP; L0 decoded the instruction, so it
 * knows where the next one starts (for L1's handlers' l0_skip_insn, which
 * would otherwise decode it again; nothing of L1's sees this field). */
static void gp_set_next_rip(struct l0 *l0, const struct cpu_decoded *insn)
{
    uint64_t next = kvm_rip_read(l0) + insn->len;
    l0->vmcb->control.next_rip = is_64_bit_mode(l0) ? next : (uint32_t)next;
}

/* Steps 3 of both shapes, L1 running: the instruction's own exit handler,
 * exactly as if its intercept had fired. */
static int gp_run_exit_handler(struct l0 *l0, uint64_t opcode, const struct cpu_decoded *insn)
{
    gp_set_next_rip(l0, insn);
    int resume = svm_invoke_exit_handler(l0, opcode);
    if (l0->tracing) {
        char d[2 * sizeof(l0->rec.detail)];
        snprintf(d, sizeof(d), "%s handler run from #GP: %s", svm_exit_name(opcode),
                 l0->rec.detail);
        size_t n = strnlen(d, sizeof(l0->rec.detail) - 1);
        memcpy(l0->rec.detail, d, n);
        l0->rec.detail[n] = 0;
    }
    return resume;
}

/* What the steps both shapes share decided. */
enum gp_front { GP_REINJECT, GP_DONE, GP_SVM_INSN };

/* Steps 1, 2, 4 and 5 of either shape (section sec): a #GP with an error
 * code or an undecodable instruction goes back; an instruction that is not
 * VMRUN/VMLOAD/VMSAVE goes to the VMware backdoor (L1, backdoor enabled:
 * GP_DONE with its *result) or back; else GP_SVM_INSN with *opcode. */
static enum gp_front gp_front(struct l0 *l0, const char *sec, struct cpu_decoded *insn,
                              uint64_t *opcode, int *result)
{
    if ((uint32_t)l0->vmcb->control.exit_info_1) {
        gp_step(l0, sec, "step 1");
        return GP_REINJECT;
    }
    if (cpu_decode_guest_insn(l0->cpu, insn, l0->tracing) != CPU_DECODE_OK) {
        gp_step(l0, sec, "step 2");
        return GP_REINJECT;
    }
    *opcode = svm_get_decoded_instr_exit_code(insn);
    if (*opcode)
        return GP_SVM_INSN;
    if (!l0->cfg.enable_vmware_backdoor || is_guest_mode(l0)) {
        gp_step(l0, sec, "step 4");
        return GP_REINJECT;
    }
    gp_step(l0, sec, "step 5");
    gp_set_next_rip(l0, insn);
    *result = vmware_gp_interception(l0, insn);
    return GP_DONE;
}

/* The #GP back to the guest that took it, with its error code. */
static int gp_reinject(struct l0 *l0)
{
    uint32_t error_code = (uint32_t)l0->vmcb->control.exit_info_1;
    queue_exception(l0, X86_VEC_GP, true, error_code);
    l0_decide(l0, SVMSIM_DECISION_INJECTED_GP, "#GP(0x%x) re-injected into L%d", error_code,
              l0_level(l0));
    return 1;
}

/* §2.2 (kvm-7.1). */
int gp_interception(struct l0 *l0)
{
    struct cpu_decoded insn;
    uint64_t opcode = 0;
    int result = 1;
    switch (gp_front(l0, "2.2", &insn, &opcode, &result)) {
    case GP_REINJECT: return gp_reinject(l0);
    case GP_DONE: return result;
    default: break;
    }
    if (!is_guest_mode(l0)) {
        gp_step(l0, "2.2", "step 3");
        return gp_run_exit_handler(l0, opcode, &insn);
    }
    gp_step(l0, "2.2", "step 3a");
    if (!svm_check_permissions(l0))
        return 1;
    if (!svm_rax_legal(l0, kvm_register_read(l0, VCPU_REGS_RAX))) {
        gp_step(l0, "2.2", "step 3b");
        return gp_reinject(l0);
    }
    gp_step(l0, "2.2", "step 3c");
    return l0->sem->nested_svm_insn(l0, opcode);
}

/* §2.3 (kvm-7.0): no permission or MAXPHYADDR check for L2, and RAX's
 * alignment checked on all 64 bits. */
int gp_interception_kvm70(struct l0 *l0)
{
    struct cpu_decoded insn;
    uint64_t opcode = 0;
    int result = 1;
    switch (gp_front(l0, "2.3", &insn, &opcode, &result)) {
    case GP_REINJECT: return gp_reinject(l0);
    case GP_DONE: return result;
    default: break;
    }
    if (kvm_register_read_raw(l0, VCPU_REGS_RAX) & 0xfff) {
        gp_step(l0, "2.3", "RAX unaligned");
        return gp_reinject(l0);
    }
    if (is_guest_mode(l0)) {
        gp_step(l0, "2.3", "L2");
        return nested_svm_simple_vmexit(l0, opcode);
    }
    gp_step(l0, "2.3", "L1");
    return gp_run_exit_handler(l0, opcode, &insn);
}
