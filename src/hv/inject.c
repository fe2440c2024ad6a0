/* inject.c — queueing exceptions for the running guest (KVM's
 * kvm_queue_exception) and delivering them at the next entry: through
 * EVENTINJ of the running VMCB, or, while L2 runs and L1 intercepts the
 * vector, as a #VMEXIT(0x40 + vector) to L1 (KVM's
 * nested_svm_inject_exception_vmexit; SPEC-GP.md §2.2 "Re-inject").
 */
#include "hv/hv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The exception the interrupted event is, if it is one. */
static bool interrupted_exception(const struct l0 *l0, unsigned *vector)
{
    if (!l0->interrupted.valid ||
        (l0->interrupted.info & SVM_EVTINJ_TYPE_MASK) != SVM_EVTINJ_TYPE_EXEPT)
        return false;
    *vector = l0->interrupted.info & SVM_EVTINJ_VEC_MASK;
    return true;
}

void queue_exception(struct l0 *l0, unsigned vector, bool has_error, uint32_t error)
{
    struct queued_exception *e = &l0->exception;
    if (l0->tracing) {
        l0->rec.inject_vector = (uint8_t)vector;
        l0->rec.inject_error = has_error ? error : 0;
    }
    bool vmexit = is_guest_mode(l0) &&
                  vmcb_is_intercept(&l0->nested.ctl, SVM_EXIT_EXCP_BASE + vector);
    if (!vmexit) {
        /* On top of an exception being delivered (or already queued): #DF,
         * triple fault, or the new one alone (APM vol. 2 §8.2.9). */
        unsigned prior;
        bool have_prior = e->pending ? (prior = e->vector, true) : interrupted_exception(l0, &prior);
        if (have_prior) {
            enum x86_exc_combine c = x86_exc_combine(true, prior, vector);
            l0->interrupted.valid = false;
            e->pending = false;
            if (c == X86_EXC_TRIPLE_FAULT) {
                l0->triple_fault = true;
                return;
            }
            if (c == X86_EXC_DOUBLE_FAULT) {
                vector = X86_VEC_DF;
                has_error = true;
                error = 0;
                vmexit = is_guest_mode(l0) &&
                         vmcb_is_intercept(&l0->nested.ctl, SVM_EXIT_EXCP_BASE + X86_VEC_DF);
            }
        }
    }
    e->pending = true;
    e->vmexit = vmexit;
    e->vector = (uint8_t)vector;
    e->has_error = has_error;
    e->error = has_error ? error : 0;
    e->has_payload = false;
    e->payload = 0;
}

void queue_page_fault(struct l0 *l0, uint64_t cr2, uint32_t error)
{
    queue_exception(l0, X86_VEC_PF, true, error);
    if (l0->exception.pending && l0->exception.vector == X86_VEC_PF) {
        l0->exception.has_payload = true;
        l0->exception.payload = cr2;
    }
}

void requeue_interrupted_event(struct l0 *l0)
{
    const struct vmcb_control_area *c = &l0->vmcb->control;
    l0->interrupted.valid = c->exit_int_info & SVM_EVTINJ_VALID;
    l0->interrupted.info = c->exit_int_info;
    l0->interrupted.error = c->exit_int_info_err;
}

int inject_pending_exception(struct l0 *l0)
{
    if (l0->triple_fault) {
        l0->triple_fault = false;
        l0->exception.pending = false;
        l0->interrupted.valid = false;
        if (is_guest_mode(l0) && vmcb_is_intercept(&l0->nested.ctl, SVM_EXIT_SHUTDOWN)) {
            l0_trace_append(l0, "; triple fault: #VMEXIT(0x%x) to L1", SVM_EXIT_SHUTDOWN);
            return nested_svm_simple_vmexit(l0, SVM_EXIT_SHUTDOWN);
        }
        l0_trace_append(l0, "; triple fault in L%d: shutdown", l0_level(l0));
        return l0_end(l0, SVMSIM_END_SHUTDOWN, SVMSIM_STATUS_SHUTDOWN,
                      "shutdown (triple fault or undeliverable event)");
    }
    struct vmcb *vmcb = l0->vmcb;
    if (!l0->exception.pending) {
        /* The interrupted event, as it was. */
        vmcb->control.event_inj = l0->interrupted.info;
        vmcb->control.event_inj_err = l0->interrupted.error;
        l0->interrupted.valid = false;
        return 1;
    }
    struct queued_exception e = l0->exception;
    l0->exception.pending = false;
    if (e.vmexit) {
        struct vmcb_control_area *c = &l0->vmcb02->control;
        c->exit_code = SVM_EXIT_EXCP_BASE + e.vector;
        c->exit_info_1 = e.has_error ? e.error : 0;
        c->exit_info_2 = e.has_payload ? e.payload : 0;
        /* The event whose delivery raised it, if any, is L1's to see. */
        c->exit_int_info = l0->interrupted.valid ? l0->interrupted.info : 0;
        c->exit_int_info_err = l0->interrupted.valid ? l0->interrupted.error : 0;
        c->next_rip = 0;
        l0->interrupted.valid = false;
        l0_trace_append(l0, "; L1 intercepts vector %u: #VMEXIT(0x%x)", e.vector,
                     SVM_EXIT_EXCP_BASE + e.vector);
        return nested_svm_vmexit(l0);
    }
    l0->interrupted.valid = false;
    /* SVM delivers #PF with whatever CR2 the save area holds: set it first. */
    if (e.has_payload)
        vmcb->save.cr2 = e.payload;
    vmcb->control.event_inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT |
                              (e.vector & SVM_EVTINJ_VEC_MASK) |
                              (e.has_error ? SVM_EVTINJ_VALID_ERR : 0);
    vmcb->control.event_inj_err = e.error;
    return 1;
}
