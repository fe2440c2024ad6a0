/* backdoor.c — step 5 of the #GP path (SPEC-GP.md §5): the VMware backdoor's
 * IN/OUT/INS/OUTS and RDPMC emulated under VMware-#GP rules.
 *
 * FIXME: not modelled yet (issue "The VMware backdoor end to end"). With
 * --enable-vmware-backdoor a #GP of L1 that is no SVM instruction ends the
 * run as an emulation failure naming the instruction, rather than giving
 * the guest an answer the device would not.
 */
#include "hv/hv.h"

int vmware_gp_interception(struct l0 *l0, const struct cpu_decoded *insn)
{
    l0_decide(l0, SVMSIM_DECISION_END, "VMware backdoor emulation of \"%s\" not modelled",
              insn->text);
    return l0_end(l0, SVMSIM_END_EMULATION_FAILURE, SVMSIM_STATUS_EMULATION_FAILURE,
                  "emulation failure: VMware backdoor emulation of \"%s\" is not modelled yet",
                  insn->text);
}
