/* vmware.c — the VMware backdoor as kvm-unit-tests' vmware_backdoors test
 * sees it (ORACLE.md §1.2, KUT-VMW-01..11, with the same harness facts: the
 * TSS I/O bitmap denies ports 0x1234 and 0x5658, CR4.PCE is clear, IOPL 0),
 * plus: the CPL0 path (IOIO intercept) and the CPL3 path (#GP emulation)
 * give the same registers, and an L2 never reaches the device through the
 * #GP path. Built twice: VMWARE_ON runs with --enable-vmware-backdoor,
 * VMWARE_OFF without it (then CPL3 accesses and the pseudo-counters are
 * #GP(0); the device itself is still there for CPL0, as QEMU's vmport is
 * whatever KVM's module parameter says).
 */
#include "libguest.h"

#define MAGIC 0x564D5868u
#define PORT_LB 0x5658
#define CMD_GETVERSION 10

struct bd_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi;
};

static struct bd_regs user_regs;

static void backdoor_in(struct bd_regs *r)
{
    asm volatile(ASM_TRY("inl %%dx, %%eax")
                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx), "+S"(r->rsi),
                   "+D"(r->rdi)
                 : : "memory");
}

static uint64_t user_backdoor(uint64_t arg)
{
    backdoor_in(&user_regs);
    return 0;
}

static uint64_t user_rdpmc(uint64_t idx)
{
    uint32_t lo, hi;
    asm volatile(ASM_TRY("rdpmc") : "=a"(lo), "=d"(hi) : "c"((uint32_t)idx) : "memory");
    return lo | (uint64_t)hi << 32;
}

static struct bd_regs call(uint32_t cmd, uint16_t port)
{
    struct bd_regs r = { .rax = MAGIC, .rbx = 0xdeadbeef, .rcx = cmd, .rdx = port,
                         .rsi = 0x5151, .rdi = 0xd1d1 };
    return r;
}

static bool exc_was(int vec)
{
    return exc_last.vector == vec && exc_last.error_code == 0 && exc_last.count == 1;
}

static void test_rdpmc(void)
{
    static const char *const names[] = { "HOST_TSC", "REAL_TIME", "APPARENT_TIME" };
    write_cr4(read_cr4() & ~X86_CR4_PCE);
    for (unsigned i = 0; i < 3; i++) {
        exc_clear();
        user_rdpmc(0x10000 + i);
#if defined(VMWARE_ON)
        report(exc_vector() == -1, "KUT-VMW-0%u RDPMC %s at CPL0: no #GP", 1 + i, names[i]);
#else
        report(exc_was(X86_VEC_GP), "backdoor off: RDPMC %s at CPL0 is #GP(0) (no such counter)",
               names[i]);
#endif
    }
    for (unsigned i = 0; i < 3; i++) {
        exc_clear();
        run_in_user(user_rdpmc, 0x10000 + i, 0);
#if defined(VMWARE_ON)
        report(exc_vector() == -1, "KUT-VMW-0%u RDPMC %s at CPL3 with CR4.PCE=0: no #GP", 4 + i,
               names[i]);
#else
        report(exc_was(X86_VEC_GP), "backdoor off: RDPMC %s at CPL3 is #GP(0)", names[i]);
#endif
    }
    exc_clear();
    run_in_user(user_rdpmc, 0xfff, 0);
    report(exc_was(X86_VEC_GP), "KUT-VMW-07 RDPMC 0xfff at CPL3: #GP(0)");
}

static void test_ports(void)
{
    tss_io_deny_all(); /* 0x1234 and 0x5658 among them */
    struct bd_regs k = call(CMD_GETVERSION, PORT_LB);
    exc_clear();
    backdoor_in(&k);
    report(exc_vector() == -1 && (uint32_t)k.rbx == MAGIC,
           "KUT-VMW-09 GETVERSION at CPL0: EBX = magic (%#lx)", k.rbx);

    user_regs = call(CMD_GETVERSION, PORT_LB);
    exc_clear();
    run_in_user(user_backdoor, 0, 0);
#if defined(VMWARE_ON)
    report(exc_vector() == -1 && (uint32_t)user_regs.rbx == MAGIC,
           "KUT-VMW-08 GETVERSION at CPL3 through the #GP path: EBX = magic (%#lx)",
           user_regs.rbx);
    report(memcmp(&user_regs, &k, sizeof(k)) == 0,
           "GETVERSION gives the same registers at CPL0 and CPL3 (EAX %#lx/%#lx ECX %#lx/%#lx)",
           k.rax, user_regs.rax, k.rcx, user_regs.rcx);

    user_regs = call(0xfff, PORT_LB);
    exc_clear();
    run_in_user(user_backdoor, 0, 0);
    report(exc_vector() == -1 && user_regs.rbx == 0xdeadbeef && (uint32_t)user_regs.rax == ~0u,
           "KUT-VMW-10 unknown command at CPL3: EAX = -1, EBX untouched (%#lx)", user_regs.rbx);
#else
    report(exc_was(X86_VEC_GP), "backdoor off: GETVERSION at CPL3 is #GP(0)");
#endif

    user_regs = call(0xfff, 0x1234);
    exc_clear();
    run_in_user(user_backdoor, 0, 0);
    report(exc_was(X86_VEC_GP), "KUT-VMW-11 port 0x1234 at CPL3: #GP(0)");
}

/* L2 at CPL3 with an IN of the backdoor port: L0 never emulates it for L2
 * (step 4): the #GP goes back, here to L1, which intercepts it. */
static uint8_t l2_stack[4096] __attribute__((aligned(16)));
static void l2_backdoor(void)
{
    asm volatile("inl %%dx, %%eax" : : "a"(MAGIC), "c"(CMD_GETVERSION), "d"(PORT_LB));
    for (;;)
        asm volatile("vmmcall");
}

static void test_l2(void)
{
    if (!svm_supported()) {
        report_skip("SVM not available: no L2 test");
        return;
    }
    svm_setup();
    vmcb_ident(vmcb);
    vmcb_set_guest(vmcb, l2_backdoor, l2_stack + sizeof(l2_stack));
    vmcb_set_user_mode(vmcb);
    vmcb_intercept(vmcb, SVM_EXIT_EXCP_BASE + X86_VEC_GP);
    uint64_t code = svm_vmrun();
    report(code == SVM_EXIT_GP && vmcb->control.exit_info_1 == 0,
           "L2's backdoor IN at CPL3 never reaches the device: #VMEXIT(#GP) (exit 0x%lx)", code);
}

int main(void)
{
#if defined(VMWARE_ON)
    report_info("with --enable-vmware-backdoor");
#else
    report_info("without --enable-vmware-backdoor");
#endif
    test_rdpmc();
    test_ports();
    test_l2();
    return report_summary();
}
