/* inject.c — queueing exceptions for the running guest (KVM's
 * kvm_queue_exception) and delivering them at the next entry: through
 * EVENTINJ of the running VMCB, or, while L2 runs and L1 intercepts the
 * vector, as a #VMEXIT(0x40 + vector) to L1 (KVM's
 * nested_svm_inject_exception_vmexit; SPEC-GP.md §2.2 "Re-inject").
 */
#include "hv/hv.h"

#include <stdio.h>
#include <string.h>

void queue_exception(struct l0 *l0, unsigned vector, bool has_error, uint32_t error)
{
    struct queued_exception *e = &l0->exception;
    e->pending = true;
    e->vector = (uint8_t)vector;
    e->has_error = has_error;
    e->error = has_error ? error : 0;
    e->has_payload = false;
    e->payload = 0;
    if (l0->tracing) {
        l0->rec.inject_vector = (uint8_t)vector;
        l0->rec.inject_error = has_error ? error : 0;
    }
}

void queue_page_fault(struct l0 *l0, uint64_t cr2, uint32_t error)
{
    queue_exception(l0, X86_VEC_PF, true, error);
    l0->exception.has_payload = true;
    l0->exception.payload = cr2;
}

int inject_pending_exception(struct l0 *l0)
{
    struct queued_exception e = l0->exception;
    l0->exception.pending = false;
    if (is_guest_mode(l0) &&
        vmcb_is_intercept(&l0->nested.ctl, SVM_EXIT_EXCP_BASE + e.vector)) {
        struct vmcb_control_area *c = &l0->vmcb02->control;
        c->exit_code = SVM_EXIT_EXCP_BASE + e.vector;
        c->exit_info_1 = e.has_error ? e.error : 0;
        c->exit_info_2 = e.has_payload ? e.payload : 0;
        c->exit_int_info = 0;
        c->exit_int_info_err = 0;
        c->next_rip = 0;
        if (l0->tracing) {
            size_t n = strnlen(l0->rec.detail, sizeof(l0->rec.detail));
            snprintf(l0->rec.detail + n, sizeof(l0->rec.detail) - n,
                     "; L1 intercepts vector %u: #VMEXIT(0x%x)", e.vector,
                     SVM_EXIT_EXCP_BASE + e.vector);
        }
        return nested_svm_vmexit(l0);
    }
    struct vmcb *vmcb = l0->vmcb;
    /* SVM delivers #PF with whatever CR2 the save area holds: set it first. */
    if (e.has_payload)
        vmcb->save.cr2 = e.payload;
    vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT |
                              (e.vector & SVM_EVTINJ_VEC_MASK) |
                              (e.has_error ? SVM_EVTINJ_VALID_ERR : 0);
    vmcb->control.event_inj_err = e.error;
    return 1;
}
