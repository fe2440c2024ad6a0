/* machine.c — a machine: the public API of libsvmsim (include/svmsim/svmsim.h).
 *
 * Owns: creating and destroying a machine (RAM, the vCPUs: a CPU and an L0
 * each, port bus, COM1, the exit port, the VMware backdoor), the boot protocol's entry state
 * (DESIGN.md "Boot protocol"), loading images, and passing L0's port I/O to
 * the bus.
 * Must not: hold global mutable state: everything hangs off struct svmsim_vm.
 */
#include "svmsim/svmsim.h"

#include "cpu/cpu.h"
#include "hv/hv.h"
#include "mem/mem.h"
#include "vmm/bus.h"
#include "vmm/elf.h"
#include "vmm/exit_port.h"
#include "vmm/fw_cfg.h"
#include "vmm/testdev.h"
#include "vmm/multiboot.h"
#include "vmm/serial.h"
#include "vmm/vmport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct svmsim_vm {
    struct svmsim_config cfg;
    struct {
        bool pending;
        char message[200];
    } stop;                             /* svmsim_stop_output */
    struct gmem mem;
    struct l0_vm hv;                    /* the vCPUs, each an L0 on a CPU */
    struct cpu *cpus;
    struct l0 *l0s;
    unsigned ncpus;                     /* CPUs made (cpu_init) */
    struct bus bus;
    struct serial com1;
    struct exit_port exit_port;
    struct fw_cfg fw_cfg;
    struct testdev testdev;
    struct vmport vmport;
};

#define BOOT_GDT 0x1000ull
#define BOOT_PML4 0x2000ull
#define BOOT_PDPT 0x3000ull
#define BOOT_PD 0x4000ull /* four page directories, 0x4000-0x7fff */
#define BOOT_RSP 0x80000ull

#define CODE64_ATTR 0x0a9b /* type B (exec/read, accessed), S, P, L, G */
#define CODE32_ATTR 0x0c9b /* type B (exec/read, accessed), S, P, DB, G */
#define DATA_ATTR 0x0c93   /* type 3 (read/write, accessed), S, P, DB, G */
#define GDT_CODE64 0x00af9b000000ffffull
#define GDT_CODE32 0x00cf9b000000ffffull
#define GDT_DATA 0x00cf93000000ffffull

void svmsim_config_default(struct svmsim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_size = 64ull << 20;
    cfg->maxphyaddr = 48;
    cfg->vcpus = 1;
    cfg->gp_erratum_intercept = true;
    cfg->cpu_erratum = true;
    cfg->rdtscp = true;
    cfg->jit = true;
    cfg->host_reserved_start = 0x03000000;
    cfg->host_reserved_end = 0x030fffff;
    cfg->nested = true;
    cfg->semantics = SVMSIM_SEMANTICS_KVM_7_1;
    cfg->vmware_version = 6;
    cfg->vmware_product_type = 2;
}

const char *svmsim_version(void)
{
    return SVMSIM_VERSION;
}

static void errf(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* The default console. A write that fails (a full disk, a closed pipe:
 * the CLI ignores SIGPIPE) ends the run as an output error. */
static void stdout_write(void *opaque, const uint8_t *buf, size_t len)
{
    struct svmsim_vm *vm = opaque;
    errno = 0;
    if ((fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) && !vm->stop.pending) {
        char msg[160];
        snprintf(msg, sizeof(msg), "console: cannot write to stdout: %s",
                 strerror(errno ? errno : EIO));
        svmsim_stop_output(vm, msg);
    }
}

void svmsim_stop_output(struct svmsim_vm *vm, const char *message)
{
    if (vm->stop.pending)
        return; /* the first failure is the one to report */
    vm->stop.pending = true;
    snprintf(vm->stop.message, sizeof(vm->stop.message), "%s", message);
}

/* An end of the run the VMM decided, for L0 to report. */
static void end_fill(struct svmsim_end *end, enum svmsim_end_reason reason, int status,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void end_fill(struct svmsim_end *end, enum svmsim_end_reason reason, int status,
                     const char *fmt, ...)
{
    memset(end, 0, sizeof(*end));
    end->reason = reason;
    end->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(end->message, sizeof(end->message), fmt, ap);
    va_end(ap);
}

static bool vm_stopped(void *opaque, struct svmsim_end *end)
{
    struct svmsim_vm *vm = opaque;
    if (!vm->stop.pending)
        return false;
    end_fill(end, SVMSIM_END_OUTPUT, SVMSIM_STATUS_OUTPUT, "%s", vm->stop.message);
    return true;
}

/* The BSP: what the public calls on registers and events act on. */
static struct l0 *bsp(struct svmsim_vm *vm)
{
    return &vm->l0s[0];
}

/* The registers of the vCPU doing the I/O, for devices, through L0's
 * accessors (the running level's RAX and RSP live in its VMCB). */
static void vm_regs_read(void *opaque, uint32_t r[BUS_REGS_N])
{
    struct svmsim_vm *vm = opaque;
    const struct l0 *l0 = l0_vm_current(&vm->hv);
#pragma GCC unroll 8 /* each accessor call with a constant register folds */
    for (unsigned n = 0; n < BUS_REGS_N; n++)
        r[n] = (uint32_t)kvm_register_read_raw(l0, n);
}

static void vm_regs_write(void *opaque, const uint32_t r[BUS_REGS_N], unsigned mask)
{
    struct svmsim_vm *vm = opaque;
    struct l0 *l0 = l0_vm_current(&vm->hv);
#pragma GCC unroll 8
    for (unsigned n = 0; n < BUS_REGS_N; n++)
        if (mask & (1u << n))
            kvm_register_write_raw(l0, n, r[n]);
}

/* MMIO that L0 passes out: the test device's I/O memory, else nothing
 * there (reads float high, writes go nowhere). */
static uint64_t vm_mmio_read(void *opaque, uint64_t pa, unsigned size)
{
    struct svmsim_vm *vm = opaque;
    uint64_t v;
    return vm->cfg.testdev && testdev_mmio_read(&vm->testdev, pa, size, &v) ? v : ~0ull;
}

static void vm_mmio_write(void *opaque, uint64_t pa, unsigned size, uint64_t value)
{
    struct svmsim_vm *vm = opaque;
    if (vm->cfg.testdev)
        testdev_mmio_write(&vm->testdev, pa, size, value);
}

static bool vm_pio(void *opaque, uint16_t port, unsigned size, bool is_in, uint32_t *value,
                   const char **name)
{
    struct svmsim_vm *vm = opaque;
    const struct bus_regs regs = { .read = vm_regs_read, .write = vm_regs_write, .opaque = vm };
    const struct bus_range *r = bus_io(&vm->bus, port, size, is_in, value, &regs);
    *name = r ? r->name : "unclaimed";
    return r != NULL;
}

/* A whole string, for a port whose device takes one (bus io_string);
 * count 0 only asks whether it does. */
static bool vm_pio_string(void *opaque, uint16_t port, unsigned size, bool is_in, uint8_t *buf,
                          uint64_t count, const char **name)
{
    struct svmsim_vm *vm = opaque;
    const struct bus_regs regs = { .read = vm_regs_read, .write = vm_regs_write, .opaque = vm };
    const struct bus_range *r =
        count ? bus_io_string(&vm->bus, port, size, is_in, buf, count, &regs, NULL)
              : bus_find_string(&vm->bus, port);
    *name = r ? r->name : "unclaimed";
    return r != NULL;
}

/* The backdoor answered a GuestRPC request: into the exit's trace record. */
static void vm_note_rpc(void *opaque, unsigned channel, const char *request, size_t request_len,
                        const char *reply, size_t reply_len)
{
    struct svmsim_vm *vm = opaque;
    l0_note_rpc(l0_vm_current(&vm->hv), channel, request, request_len, reply, reply_len);
}

/* The backdoor's wall clock (GETTIME, GETTIMEFULL). With --deterministic it
 * follows the work count at a nominal 4 ns per unit, as cpu_host_tsc's 4
 * cycles per instruction at 1 GHz, so two runs answer alike. */

static uint64_t vm_clock_ns(void *opaque)
{
    struct svmsim_vm *vm = opaque;
    if (vm->cfg.deterministic)
        return l0_vm_work(&vm->hv) * 4;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool vm_ended(void *opaque, struct svmsim_end *end)
{
    struct svmsim_vm *vm = opaque;
    if (!vm->exit_port.fired)
        return false;
    int status = exit_port_status(vm->exit_port.value);
    end_fill(end, SVMSIM_END_EXIT_PORT, status, "guest wrote 0x%x to the exit port (status %d)",
             vm->exit_port.value, status);
    return true;
}

/* The boot protocol's GDT and 1:1 page tables for the first 4 GiB. */
static void write_boot_area(struct svmsim_vm *vm)
{
    uint64_t gdt[3] = { 0, GDT_CODE64, GDT_DATA };
    memcpy(gmem_ptr(&vm->mem, BOOT_GDT, sizeof(gdt)), gdt, sizeof(gdt));
    uint64_t pml4e = BOOT_PDPT | X86_PTE_P | X86_PTE_RW;
    memcpy(gmem_ptr(&vm->mem, BOOT_PML4, 8), &pml4e, 8);
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t pdpte = (BOOT_PD + i * 0x1000) | X86_PTE_P | X86_PTE_RW;
        memcpy(gmem_ptr(&vm->mem, BOOT_PDPT + i * 8, 8), &pdpte, 8);
        for (uint64_t j = 0; j < 512; j++) {
            uint64_t pde = ((i << 30) | (j << 21)) | X86_PTE_P | X86_PTE_RW | X86_PTE_PS;
            memcpy(gmem_ptr(&vm->mem, BOOT_PD + i * 0x1000 + j * 8, 8), &pde, 8);
        }
    }
}

static void seg_set(struct vmcb_seg *s, uint16_t sel, uint16_t attrib)
{
    s->selector = sel;
    s->attrib = attrib;
    s->limit = 0xffffffff;
    s->base = 0;
}

/* What both protocols' entry states share: CPL 0, flat ring-0 segments
 * (CS 0x08 with code_attr, the others 0x10) from the loader's GDT, RFLAGS
 * 2, IDTR limit 0, no TSS, GPRs 0; paging and EFER are the caller's. */
static struct vmcb_save_area *reset_entry_state(struct svmsim_vm *vm, uint16_t code_attr)
{
    struct vmcb_save_area *sa = &bsp(vm)->vmcb01->save;
    memset(sa, 0, sizeof(*sa));
    seg_set(&sa->cs, 0x08, code_attr);
    seg_set(&sa->ss, 0x10, DATA_ATTR);
    seg_set(&sa->ds, 0x10, DATA_ATTR);
    seg_set(&sa->es, 0x10, DATA_ATTR);
    seg_set(&sa->fs, 0x10, DATA_ATTR);
    seg_set(&sa->gs, 0x10, DATA_ATTR);
    sa->gdtr.base = BOOT_GDT;
    sa->gdtr.limit = 3 * 8 - 1;
    sa->idtr.base = 0;
    sa->idtr.limit = 0;
    sa->tr.attrib = 0;
    sa->ldtr.attrib = 0;
    sa->cpl = 0;
    sa->efer = X86_EFER_SVME; /* L0 keeps SVME set */
    bsp(vm)->efer_svme = 0;
    sa->dr6 = 0xffff0ff0;
    sa->dr7 = 0x400;
    sa->rflags = X86_RFLAGS_FIXED;
    sa->g_pat = 0x0007040600070406ull;
    memset(vm->cpus[0].gpr, 0, sizeof(vm->cpus[0].gpr));
    return sa;
}

/* Entry state: 64-bit mode, CPL 0, RSP 0x80000, RFLAGS 2, CR0 0x80010033,
 * CR4 0x20, EFER 0x500 (SVME clear as L1 sees it), IDTR limit 0, no TSS. */
static void set_entry_state(struct svmsim_vm *vm)
{
    struct vmcb_save_area *sa = reset_entry_state(vm, CODE64_ATTR);
    sa->efer |= X86_EFER_LME | X86_EFER_LMA;
    sa->cr0 = 0x80010033;
    sa->cr3 = BOOT_PML4;
    sa->cr4 = X86_CR4_PAE;
    sa->rsp = BOOT_RSP;
}

/* The multiboot entry state (Multiboot Specification 3.2 "Machine
 * state"): 32-bit protected mode, paging off (CR0 = PE | ET, CR4 0, EFER 0
 * as the guest sees it), CS a flat 32-bit code segment and the data
 * segments flat, from the boot area's GDT rewritten for it (the image
 * loads its own before it reloads a segment register), EFLAGS 2 (IF
 * clear), EAX the boot loader magic, EBX the info block, EIP the entry.
 * ESP is undefined in the spec: 0 here, the image sets its own. */
static void set_multiboot_entry_state(struct svmsim_vm *vm, uint32_t entry, uint32_t info)
{
    uint64_t gdt[3] = { 0, GDT_CODE32, GDT_DATA };
    memcpy(gmem_ptr(&vm->mem, BOOT_GDT, sizeof(gdt)), gdt, sizeof(gdt));
    struct vmcb_save_area *sa = reset_entry_state(vm, CODE32_ATTR);
    sa->cr0 = X86_CR0_PE | X86_CR0_ET;
    sa->rax = MULTIBOOT_BOOTLOADER_MAGIC;
    vm->cpus[0].gpr[VCPU_REGS_RBX] = info;
    sa->rip = entry;
}

struct svmsim_vm *svmsim_create(const struct svmsim_config *cfg, char *err, size_t errlen)
{
    if (cfg->mem_size < (2ull << 20) || (cfg->mem_size & 0xfff)) {
        errf(err, errlen, "memory size %llu: must be a multiple of 4 KiB and at least 2 MiB",
             (unsigned long long)cfg->mem_size);
        return NULL;
    }
    if (cfg->maxphyaddr < 32 || cfg->maxphyaddr > 52) {
        errf(err, errlen, "maxphyaddr %u: must be 32..52", cfg->maxphyaddr);
        return NULL;
    }
    if (cfg->mem_size > (1ull << cfg->maxphyaddr)) {
        errf(err, errlen, "memory size exceeds 2^maxphyaddr");
        return NULL;
    }
    if (cfg->vcpus > SVMSIM_MAX_VCPUS) {
        errf(err, errlen, "%u vCPUs: at most %u", cfg->vcpus, SVMSIM_MAX_VCPUS);
        return NULL;
    }
    struct svmsim_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        errf(err, errlen, "out of memory");
        return NULL;
    }
    vm->cfg = *cfg;
    if (!vm->cfg.console_write) {
        vm->cfg.console_write = stdout_write;
        vm->cfg.console_opaque = vm;
    }
    if (gmem_init(&vm->mem, cfg->mem_size) != 0) {
        errf(err, errlen, "cannot allocate %llu bytes of guest RAM",
             (unsigned long long)cfg->mem_size);
        free(vm);
        return NULL;
    }
    struct cpu_model model = {
        .maxphyaddr = cfg->maxphyaddr,
        .nrips = true,
        .svme_addr_chk = cfg->svme_addr_chk,
        .rax_erratum = cfg->cpu_erratum && !cfg->svme_addr_chk,
        .reserved_start = cfg->host_reserved_start,
        .reserved_end = cfg->host_reserved_end,
        .deterministic = cfg->deterministic,
        .np = true,
        .vls = true,
        .no_rdtscp = !cfg->rdtscp,
        .no_jit = !cfg->jit,
        .jit_min = cfg->jit_min,
        .gmet = true,
    };
    struct l0_io io = { .pio = vm_pio, .pio_string = vm_pio_string, .ended = vm_ended,
                        .stopped = vm_stopped, .mmio_read = vm_mmio_read,
                        .mmio_write = vm_mmio_write, .ended_hint = &vm->exit_port.fired,
                        .stopped_hint = &vm->stop.pending, .opaque = vm };
    unsigned n = cfg->vcpus ? cfg->vcpus : 1;
    vm->cpus = calloc(n, sizeof(*vm->cpus));
    vm->l0s = calloc(n, sizeof(*vm->l0s));
    bool made = vm->cpus && vm->l0s;
    for (unsigned i = 0; made && i < n; i++) {
        made = cpu_init(&vm->cpus[i], &vm->mem, &model) == 0;
        vm->ncpus = i + made;
    }
    if (!made || l0_vm_init(&vm->hv, vm->l0s, vm->cpus, n, &vm->cfg, &io) != 0) {
        errf(err, errlen, "cannot create the vCPUs");
        svmsim_destroy(vm);
        return NULL;
    }
    bus_init(&vm->bus);
    serial_init(&vm->com1, vm->cfg.console_write, vm->cfg.console_opaque);
    exit_port_init(&vm->exit_port);
    fw_cfg_init(&vm->fw_cfg, cfg->mem_size, n);
    testdev_init(&vm->testdev);
    struct vmport_params vp = {
        .version = cfg->vmware_version,
        .product_type = cfg->vmware_product_type,
        .mem_size = cfg->mem_size,
        .guestinfo = cfg->guestinfo,
        .clock = vm_clock_ns,
        .clock_opaque = vm,
        .rpc_note = vm_note_rpc,
        .rpc_note_opaque = vm,
    };
    memcpy(vp.uuid, cfg->vmware_uuid, sizeof vp.uuid);
    if (vmport_init(&vm->vmport, &vp, err, errlen) != 0) {
        svmsim_destroy(vm);
        return NULL;
    }
    if (bus_register(&vm->bus, SERIAL_COM1_BASE, SERIAL_PORTS, "COM1", &serial_ops,
                     &vm->com1) != 0 ||
        bus_register(&vm->bus, EXIT_PORT_BASE, EXIT_PORT_LEN, "exit", &exit_port_ops,
                     &vm->exit_port) != 0 ||
        bus_register(&vm->bus, VMPORT_PORT, VMPORT_PORTS, "vmport", &vmport_ops,
                     &vm->vmport) != 0 ||
        bus_register(&vm->bus, VMPORT_HB_PORT, VMPORT_HB_PORTS, "vmport-hb", &vmport_hb_ops,
                     &vm->vmport) != 0 ||
        bus_register(&vm->bus, FW_CFG_PORT, FW_CFG_PORTS, "fw_cfg", &fw_cfg_ops, &vm->fw_cfg) != 0 ||
        (cfg->testdev && bus_register(&vm->bus, TESTDEV_PORT, TESTDEV_PORTS, "testdev",
                                      &testdev_port_ops, &vm->testdev) != 0)) {
        errf(err, errlen, "cannot register the devices");
        svmsim_destroy(vm);
        return NULL;
    }
    write_boot_area(vm);
    set_entry_state(vm);
    return vm;
}

void svmsim_destroy(struct svmsim_vm *vm)
{
    if (!vm)
        return;
    vmport_fini(&vm->vmport);
    l0_vm_fini(&vm->hv);
    for (unsigned i = vm->ncpus; i-- > 0;)
        cpu_fini(&vm->cpus[i]);
    free(vm->cpus);
    free(vm->l0s);
    gmem_fini(&vm->mem);
    free(vm);
}

static int loaded(struct svmsim_vm *vm, uint64_t entry)
{
    cpu_notify_phys_write(&vm->cpus[0], 0, vm->mem.size);
    kvm_rip_write(bsp(vm), entry);
    return 0;
}

/* The second protocol: the module read from cfg.initrd, the image and the
 * boot information loaded, and the multiboot entry state. */
static int load_multiboot(struct svmsim_vm *vm, const void *buf, size_t len, const char *name,
                          char *err, size_t errlen)
{
    struct multiboot_args args = { .cmdline = vm->cfg.cmdline };
    uint8_t *initrd = NULL;
    if (vm->cfg.initrd) {
        if (elf_read_file(vm->cfg.initrd, MULTIBOOT_AREA_END + 1 - MULTIBOOT_AREA_START,
                          "bytes of the multiboot area below 1 MiB", false, &initrd,
                          &args.initrd_len, err, errlen) != 0)
            return SVMSIM_STATUS_BAD_IMAGE;
        args.initrd = initrd;
        args.initrd_name = vm->cfg.initrd;
    }
    uint32_t entry, info;
    int rc = multiboot_load(&vm->mem, buf, len, name, &args, &entry, &info, err, errlen);
    free(initrd);
    if (rc != 0)
        return SVMSIM_STATUS_BAD_IMAGE;
    set_multiboot_entry_state(vm, entry, info);
    cpu_notify_phys_write(&vm->cpus[0], 0, vm->mem.size);
    return 0;
}

/* The image tells the protocol: an ELF32 with a multiboot header is the
 * second, anything else is held to the first (ELF64), which takes no
 * command line or module. */
static int load_image(struct svmsim_vm *vm, const void *buf, size_t len, const char *name,
                      char *err, size_t errlen)
{
    if (multiboot_detect(buf, len))
        return load_multiboot(vm, buf, len, name, err, errlen);
    if (vm->cfg.cmdline || vm->cfg.initrd) {
        const struct elf_load_opts check = { .check_only = true };
        if (elf_load_with(&vm->mem, buf, len, name, &check, NULL, err, errlen) != 0)
            return SVMSIM_STATUS_BAD_IMAGE; /* a bad image is that first */
        elf_fail(err, errlen, name ? name : "image",
                 "%s applies to multiboot images only; this is an ELF64 image",
                 vm->cfg.cmdline ? "--append" : "--initrd");
        return SVMSIM_STATUS_USAGE;
    }
    uint64_t entry;
    if (elf_load(&vm->mem, buf, len, name, &entry, err, errlen) != 0)
        return SVMSIM_STATUS_BAD_IMAGE;
    return loaded(vm, entry);
}

int svmsim_load_elf(struct svmsim_vm *vm, const char *path, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    if (elf_read_file(path, vm->mem.size, "bytes of RAM", true, &data, &len, err, errlen) != 0)
        return SVMSIM_STATUS_BAD_IMAGE;
    int rc = load_image(vm, data, len, path, err, errlen);
    free(data);
    return rc;
}

int svmsim_load_elf_buf(struct svmsim_vm *vm, const void *buf, size_t len, const char *name,
                        char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    return load_image(vm, buf, len, name, err, errlen);
}

int svmsim_write_phys(struct svmsim_vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    uint8_t *p = gmem_ptr(&vm->mem, gpa, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    cpu_notify_phys_write(&vm->cpus[0], gpa, len);
    return 0;
}

int svmsim_read_phys(struct svmsim_vm *vm, uint64_t gpa, void *buf, size_t len)
{
    const uint8_t *p = gmem_ptr(&vm->mem, gpa, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

void svmsim_get_regs(struct svmsim_vm *vm, struct svmsim_regs *regs)
{
    const struct l0 *l0 = bsp(vm);
    const struct vmcb_save_area *sa = &l0->vmcb->save;
    for (unsigned i = 0; i < VCPU_NR_REGS; i++)
        regs->gpr[i] = kvm_register_read_raw(l0, i);
    regs->rip = kvm_rip_read(l0);
    regs->rflags = sa->rflags;
    regs->cr0 = sa->cr0;
    regs->cr2 = sa->cr2;
    regs->cr3 = sa->cr3;
    regs->cr4 = sa->cr4;
    regs->efer = l0_guest_efer(l0);
    regs->cs = sa->cs.selector;
    regs->ss = sa->ss.selector;
    regs->cpl = sa->cpl;
}

#define RFLAGS_SETTABLE 0x3f7fd5ull /* every defined bit but bit 1 (fixed) */

void svmsim_set_regs(struct svmsim_vm *vm, const struct svmsim_regs *regs)
{
    struct l0 *l0 = bsp(vm);
    struct vmcb_save_area *sa = &l0->vmcb->save;
    for (unsigned i = 0; i < VCPU_NR_REGS; i++)
        kvm_register_write_raw(l0, i, regs->gpr[i]);
    kvm_rip_write(l0, regs->rip);
    sa->rflags = (regs->rflags & RFLAGS_SETTABLE) | X86_RFLAGS_FIXED;
}

void svmsim_set_max_insns(struct svmsim_vm *vm, uint64_t max_insns)
{
    vm->hv.max_insns = max_insns ? l0_vm_work(&vm->hv) + max_insns : 0;
}

int svmsim_queue_exception(struct svmsim_vm *vm, unsigned vector, bool has_error,
                           uint32_t error)
{
    if (vector > 31)
        return -1;
    queue_exception(bsp(vm), vector, has_error, error);
    return 0;
}

void svmsim_get_nested_state(struct svmsim_vm *vm, struct svmsim_nested_state *st)
{
    st->guest_mode = is_guest_mode(bsp(vm));
    st->vmcb12_gpa = st->guest_mode ? bsp(vm)->nested.vmcb12_gpa : 0;
}

int svmsim_set_nested_state(struct svmsim_vm *vm, const struct svmsim_nested_state *st)
{
    if (st->guest_mode != is_guest_mode(bsp(vm)) || !st->guest_mode)
        return -1;
    bsp(vm)->nested.vmcb12_gpa = st->vmcb12_gpa;
    return 0;
}

size_t svmsim_guestinfo_count(const struct svmsim_vm *vm)
{
    return vmport_guestinfo_count(&vm->vmport);
}

bool svmsim_guestinfo_get(const struct svmsim_vm *vm, size_t i, const char **key,
                          const char **value, bool *by_guest)
{
    return vmport_guestinfo_get(&vm->vmport, i, key, value, by_guest);
}

size_t svmsim_guest_log_count(const struct svmsim_vm *vm)
{
    return vmport_log_count(&vm->vmport);
}

const char *svmsim_guest_log_get(const struct svmsim_vm *vm, size_t i)
{
    return vmport_log_get(&vm->vmport, i);
}

uint64_t svmsim_guest_log_dropped(const struct svmsim_vm *vm)
{
    return vmport_log_dropped(&vm->vmport);
}

int svmsim_run(struct svmsim_vm *vm, struct svmsim_end *end)
{
    int status = l0_vm_run(&vm->hv, end);
    vm->exit_port.fired = false;
    vm->stop.pending = false;
    return status;
}
