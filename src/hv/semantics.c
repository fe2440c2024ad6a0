/* semantics.c — what --semantics chooses (SPEC-GP.md §0), once, as data:
 * the #GP path's shape, what step 3c does with an L2 SVM instruction, and
 * two behaviours of the SVM instruction handlers that the 2026 series
 * changed (§2.3's table).
 */
#include "hv/hv.h"

static const struct l0_semantics semantics[] = {
    [SVMSIM_SEMANTICS_KVM_7_1] = {
        .name = "kvm-7.1",
        .gp_interception = gp_interception,
        .nested_svm_insn = nested_svm_simple_vmexit,
        .truncate_rax = true,
        .unbacked_is_emulation_failure = true,
    },
    [SVMSIM_SEMANTICS_KVM_7_0] = {
        .name = "kvm-7.0",
        .gp_interception = gp_interception_kvm70,
        .nested_svm_insn = nested_svm_simple_vmexit,
        .truncate_rax = false,
        .unbacked_is_emulation_failure = false,
    },
    [SVMSIM_SEMANTICS_ARCHITECTURAL] = {
        .name = "architectural",
        .gp_interception = gp_interception,
        .nested_svm_insn = nested_svm_insn_architectural,
        .truncate_rax = true,
        .unbacked_is_emulation_failure = true,
    },
};

const struct l0_semantics *l0_semantics_of(enum svmsim_semantics s)
{
    if ((unsigned)s >= sizeof(semantics) / sizeof(semantics[0]))
        return &semantics[SVMSIM_SEMANTICS_KVM_7_1];
    return &semantics[s];
}
