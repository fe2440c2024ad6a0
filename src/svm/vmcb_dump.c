/* vmcb_dump.c — a VMCB as fixed-width text, field by field, in the manner
 * of KVM's dump_vmcb: what an unexpected exit shows a developer. */
#include "svm/svm.h"

#include <stdarg.h>
#include <stdio.h>

struct dump_out {
    char *buf;
    size_t len, pos;
};

__attribute__((format(printf, 2, 3)))
static void out(struct dump_out *o, const char *fmt, ...)
{
    if (o->pos >= o->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->pos += (size_t)n < o->len - o->pos ? (size_t)n : o->len - o->pos - 1;
}

static void field(struct dump_out *o, const char *name, unsigned long long v)
{
    out(o, "%-20s %016llx\n", name, v);
}

static void seg(struct dump_out *o, const char *name, const struct vmcb_seg *s)
{
    out(o, "%-6s sel %04x attr %04x limit %08x base %016llx\n", name, s->selector, s->attrib,
        s->limit, (unsigned long long)s->base);
}

size_t vmcb_dump(const struct vmcb *v, char *buf, size_t len)
{
    struct dump_out o = { buf, len, 0 };
    if (!len)
        return 0;
    buf[0] = 0;
    const struct vmcb_control_area *c = &v->control;
    const struct vmcb_save_area *s = &v->save;
    out(&o, "VMCB control area:\n");
    static const char *const words[VMCB_INTERCEPT_WORDS] = {
        "intercept_cr", "intercept_dr", "intercept_exc", "intercept_1", "intercept_2",
        "intercept_3",
    };
    for (unsigned i = 0; i < VMCB_INTERCEPT_WORDS; i++)
        field(&o, words[i], c->intercepts[i]);
    field(&o, "iopm_base_pa", c->iopm_base_pa);
    field(&o, "msrpm_base_pa", c->msrpm_base_pa);
    field(&o, "tsc_offset", c->tsc_offset);
    field(&o, "asid", c->asid);
    field(&o, "tlb_ctl", c->tlb_ctl);
    field(&o, "int_ctl", c->int_ctl);
    field(&o, "int_vector", c->int_vector);
    field(&o, "int_state", c->int_state);
    field(&o, "exit_code", c->exit_code);
    field(&o, "exit_info_1", c->exit_info_1);
    field(&o, "exit_info_2", c->exit_info_2);
    field(&o, "exit_int_info", c->exit_int_info);
    field(&o, "exit_int_info_err", c->exit_int_info_err);
    field(&o, "nested_ctl", c->nested_ctl);
    field(&o, "nested_cr3", c->nested_cr3);
    field(&o, "event_inj", c->event_inj);
    field(&o, "event_inj_err", c->event_inj_err);
    field(&o, "virt_ext", c->virt_ext);
    field(&o, "next_rip", c->next_rip);
    out(&o, "VMCB save area:\n");
    seg(&o, "es", &s->es);
    seg(&o, "cs", &s->cs);
    seg(&o, "ss", &s->ss);
    seg(&o, "ds", &s->ds);
    seg(&o, "fs", &s->fs);
    seg(&o, "gs", &s->gs);
    seg(&o, "gdtr", &s->gdtr);
    seg(&o, "ldtr", &s->ldtr);
    seg(&o, "idtr", &s->idtr);
    seg(&o, "tr", &s->tr);
    field(&o, "cpl", s->cpl);
    field(&o, "efer", s->efer);
    field(&o, "cr0", s->cr0);
    field(&o, "cr2", s->cr2);
    field(&o, "cr3", s->cr3);
    field(&o, "cr4", s->cr4);
    field(&o, "dr6", s->dr6);
    field(&o, "dr7", s->dr7);
    field(&o, "rflags", s->rflags);
    field(&o, "rip", s->rip);
    field(&o, "rsp", s->rsp);
    field(&o, "rax", s->rax);
    field(&o, "star", s->star);
    field(&o, "lstar", s->lstar);
    field(&o, "cstar", s->cstar);
    field(&o, "sfmask", s->sfmask);
    field(&o, "kernel_gs_base", s->kernel_gs_base);
    field(&o, "sysenter_cs", s->sysenter_cs);
    field(&o, "sysenter_esp", s->sysenter_esp);
    field(&o, "sysenter_eip", s->sysenter_eip);
    field(&o, "g_pat", s->g_pat);
    field(&o, "dbgctl", s->dbgctl);
    return o.pos;
}
