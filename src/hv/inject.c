/* inject.c — queueing events for L1 (KVM's kvm_queue_exception): they are
 * delivered by the CPU through EVENTINJ at the next VMRUN of vmcb01. */
#include "hv/hv.h"

void queue_exception(struct l0 *l0, unsigned vector, bool has_error, uint32_t error)
{
    struct vmcb_control_area *c = &l0->vmcb01->control;
    c->event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | (vector & SVM_EVTINJ_VEC_MASK) |
                   (has_error ? SVM_EVTINJ_VALID_ERR : 0);
    c->event_inj_err = has_error ? error : 0;
    if (l0->tracing) {
        l0->rec.inject_vector = (uint8_t)vector;
        l0->rec.inject_error = has_error ? error : 0;
    }
}

void queue_page_fault(struct l0 *l0, uint64_t cr2, uint32_t error)
{
    /* SVM delivers #PF with whatever CR2 the save area holds: set it first. */
    l0->vmcb01->save.cr2 = cr2;
    queue_exception(l0, X86_VEC_PF, true, error);
}
