/* svmsim.h — public API of libsvmsim.
 *
 * A machine (struct svmsim_vm) owns its guest RAM, the software CPU, the L0
 * hypervisor state and the devices. There is no global mutable state: any
 * number of machines may exist in one process and be run interleaved.
 *
 * Typical use:
 *     struct svmsim_config cfg;
 *     svmsim_config_default(&cfg);
 *     struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
 *     if (svmsim_load_elf(vm, "guest.elf", err, sizeof err) != 0) ...
 *     struct svmsim_end end;
 *     svmsim_run(vm, &end);
 *     ... end.status is the process exit status DESIGN.md assigns ...
 *     svmsim_destroy(vm);
 */
#ifndef SVMSIM_SVMSIM_H
#define SVMSIM_SVMSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Process exit statuses (DESIGN.md "Devices and ending a run"). The exit
 * port gives (v << 1) | 1 for the value v written to port 0xf4. */
enum svmsim_status {
    SVMSIM_STATUS_HALTED = 2,          /* guest halted with interrupts off */
    SVMSIM_STATUS_SHUTDOWN = 4,        /* triple fault, or undeliverable event */
    SVMSIM_STATUS_MAX_INSNS = 6,       /* --max-insns reached */
    SVMSIM_STATUS_EMULATION_FAILURE = 8, /* KVM_EXIT_INTERNAL_ERROR equivalent */
    SVMSIM_STATUS_USAGE = 64,          /* bad command line */
    SVMSIM_STATUS_BAD_IMAGE = 66,      /* image cannot be loaded */
    SVMSIM_STATUS_INTERNAL = 70,       /* bug in the simulator itself */
    SVMSIM_STATUS_OUTPUT = 74,         /* an output (trace, console) cannot be written */
};

/* Why a run ended. */
enum svmsim_end_reason {
    SVMSIM_END_NONE = 0,
    SVMSIM_END_EXIT_PORT,              /* OUT to port 0xf4; status (value << 1) | 1 */
    SVMSIM_END_HALTED,
    SVMSIM_END_SHUTDOWN,
    SVMSIM_END_MAX_INSNS,
    SVMSIM_END_EMULATION_FAILURE,
    SVMSIM_END_INTERNAL,
    SVMSIM_END_OUTPUT,                 /* svmsim_stop_output: an output failed */
};

enum svmsim_semantics {
    SVMSIM_SEMANTICS_KVM_7_1 = 0,
    SVMSIM_SEMANTICS_KVM_7_0,
    SVMSIM_SEMANTICS_ARCHITECTURAL,
};

struct svmsim_trace_record;

#define SVMSIM_MAX_VCPUS 64

struct svmsim_config {
    uint64_t mem_size;                 /* bytes of guest RAM at GPA 0; default 64 MiB */
    uint64_t max_insns;                /* 0 = unlimited */
    unsigned maxphyaddr;               /* CPUID 8000_0008 EAX[7:0]; default 48 */
    unsigned vcpus;                    /* 1..SVMSIM_MAX_VCPUS; default 1. vCPU 0
                                        * boots, the others wait for INIT and SIPI;
                                        * the register and event calls below act
                                        * on vCPU 0 */
    bool deterministic;                /* time sources derive from the instruction count */

    /* Knobs of the #GP path (DESIGN.md "Knobs"); modelled in later work. */
    bool enable_vmware_backdoor;       /* default false */
    bool gp_erratum_intercept;         /* default true */
    bool cpu_erratum;                  /* default true */
    uint64_t host_reserved_start;      /* default 0x03000000 */
    uint64_t host_reserved_end;        /* inclusive; default 0x030fffff */
    bool svme_addr_chk;                /* default false */
    bool nested;                       /* default true */
    bool vls;                          /* default false */
    enum svmsim_semantics semantics;   /* default kvm-7.1 */
    /* QEMU's pc-testdev (-device pc-testdev, which kvm-unit-tests' runner
     * adds): port 0xe0 and I/O memory at 0xff000000. Default false: not a
     * device of DESIGN.md's machine. */
    bool testdev;
    /* KVM's force_emulation_prefix: ud2; "kvm" before an instruction asks
     * L0 to emulate it (kvm-unit-tests' FEP). Default false. */
    bool force_emulation_prefix;
    /* The CPU has RDTSCP (CPUID 8000_0001 EDX[27]); false: a model without
     * it, as QEMU's -cpu max,-rdtscp. Default true. */
    bool rdtscp;
    /* Host code for 64-bit blocks (x86-64 hosts; guest-visible behaviour
     * is the same without). Default true; false: every block runs
     * through the interpreter's handlers. */
    bool jit;
    /* The fewest instructions of a block done in host instructions (the
     * commonest forms; the others call their handlers) for the block to
     * get host code; 0: the default, 1. */
    unsigned jit_min;

    /* The VMware backdoor device (ports 0x5658/0x5659). */
    uint32_t vmware_version;           /* GETVERSION's EAX; default 6 (as QEMU) */
    uint32_t vmware_product_type;      /* GETVERSION's ECX; default 2 (ESX Server) */
    uint8_t vmware_uuid[16];           /* GETUUID / GET_BIOS_UUID; default all zero */
    const char *const *guestinfo;      /* "KEY=VALUE" presets for GuestRPC info-get,
                                        * NULL-terminated; NULL: none */

    /* Multiboot images only (DESIGN.md "Boot protocol", the second
     * protocol), as QEMU's -append and -initrd: the command line after the
     * image's name, and a file loaded as the one module. NULL: not given
     * (the command line is then "<image> "). Given with an ELF64 image,
     * svmsim_load_elf fails with SVMSIM_STATUS_USAGE. */
    const char *cmdline;
    const char *initrd;

    /* Console (COM1 output). NULL writes to stdout. */
    void (*console_write)(void *opaque, const uint8_t *buf, size_t len);
    void *console_opaque;

    /* Called for every #VMEXIT that reaches L0, after L0 decided. NULL: none. */
    void (*trace)(void *opaque, const struct svmsim_trace_record *rec);
    void *trace_opaque;
};

/* Fills *cfg with the defaults listed above. */
void svmsim_config_default(struct svmsim_config *cfg);

struct svmsim_vm;

/* Creates a machine in the boot protocol's entry state (DESIGN.md), with RAM
 * zeroed, the boot area's GDT and page tables written, RIP = 0. Returns NULL
 * and a one-line message in err on failure (bad configuration, no memory). */
struct svmsim_vm *svmsim_create(const struct svmsim_config *cfg, char *err, size_t errlen);
void svmsim_destroy(struct svmsim_vm *vm);

/* Loads an image per the boot protocol its contents call for and sets the
 * entry state: an ELF64 x86-64 executable (the machine's state from
 * svmsim_create, RIP = its entry), or a multiboot v1 image, an ELF32 with a
 * multiboot header (32-bit protected mode, EAX = 0x2BADB002, EBX = the boot
 * information with cfg.cmdline and cfg.initrd). Load once per machine.
 * Returns 0, or SVMSIM_STATUS_BAD_IMAGE with a one-line message naming the
 * file (the image, or cfg.initrd) and what is wrong with it, or
 * SVMSIM_STATUS_USAGE when cfg.cmdline or cfg.initrd is given for an ELF64
 * image. */
int svmsim_load_elf(struct svmsim_vm *vm, const char *path, char *err, size_t errlen);
/* The same for an image already in memory; name is used in messages. */
int svmsim_load_elf_buf(struct svmsim_vm *vm, const void *buf, size_t len, const char *name,
                        char *err, size_t errlen);

/* Guest-physical memory access from the host side. Return 0, or -1 when
 * [gpa, gpa + len) is not entirely RAM. */
int svmsim_write_phys(struct svmsim_vm *vm, uint64_t gpa, const void *buf, size_t len);
int svmsim_read_phys(struct svmsim_vm *vm, uint64_t gpa, void *buf, size_t len);

/* Architectural register state of the running guest, as KVM_GET_REGS gives
 * it: L1's, or L2's while L1 has entered L2 (level in svmsim_end). */
enum svmsim_gpr {
    SVMSIM_RAX, SVMSIM_RCX, SVMSIM_RDX, SVMSIM_RBX, SVMSIM_RSP, SVMSIM_RBP, SVMSIM_RSI,
    SVMSIM_RDI, SVMSIM_R8, SVMSIM_R9, SVMSIM_R10, SVMSIM_R11, SVMSIM_R12, SVMSIM_R13,
    SVMSIM_R14, SVMSIM_R15,
};
struct svmsim_regs {
    uint64_t gpr[16];                  /* indexed by enum svmsim_gpr */
    uint64_t rip;
    uint64_t rflags;
    uint64_t cr0, cr2, cr3, cr4, efer; /* efer as the guest sees it */
    uint16_t cs, ss;                   /* selectors */
    uint8_t cpl;
};
void svmsim_get_regs(struct svmsim_vm *vm, struct svmsim_regs *regs);
/* Sets GPRs, RIP and RFLAGS (bit 1 forced, reserved bits cleared); the
 * control registers, segments and CPL are left alone. */
void svmsim_set_regs(struct svmsim_vm *vm, const struct svmsim_regs *regs);

/* How a run ended. */
struct svmsim_end {
    enum svmsim_end_reason reason;
    int status;                        /* the process exit status for this end */
    uint64_t rip;                      /* RIP of the guest at the end */
    int level;                         /* 1 = L1, 2 = L2 */
    uint64_t insns;                    /* instructions retired in this run */
    uint64_t rep_elements;             /* REP string elements beyond each instruction's first */
    uint64_t events;                   /* exceptions and interrupts delivered or injected;
                                        * --max-insns bounds insns + rep_elements + events */
    char message[256];                 /* the one-line reason, without newline */
};

/* Runs until the guest ends the run (exit port, halt, shutdown, instruction
 * limit, emulation failure). Returns end->status. A machine may be run again
 * after SVMSIM_END_MAX_INSNS (with a new limit through svmsim_set_max_insns). */
int svmsim_run(struct svmsim_vm *vm, struct svmsim_end *end);
void svmsim_set_max_insns(struct svmsim_vm *vm, uint64_t max_insns);

/* Ends the run in progress at the next exit (callable from the trace or
 * console callbacks) with status SVMSIM_STATUS_OUTPUT and the given one-line
 * message: an output the run writes has failed. The default console (stdout)
 * does this itself on a write error. */
void svmsim_stop_output(struct svmsim_vm *vm, const char *message);

/* Queues an exception for the running guest between runs, as
 * KVM_SET_VCPU_EVENTS does: it is delivered at the next entry, or, while L2
 * runs and L1 intercepts the vector, L1 gets #VMEXIT(0x40 + vector) with
 * the error code in exit_info_1. Returns 0, or -1 for a vector above 31. */
int svmsim_queue_exception(struct svmsim_vm *vm, unsigned vector, bool has_error,
                           uint32_t error);

/* Nested state, as KVM_GET/SET_NESTED_STATE show it to a VMM. */
struct svmsim_nested_state {
    bool guest_mode;                   /* L2 runs (L1 executed VMRUN) */
    uint64_t vmcb12_gpa;               /* L1's VMCB for L2, while guest_mode */
};
void svmsim_get_nested_state(struct svmsim_vm *vm, struct svmsim_nested_state *st);
/* Only vmcb12_gpa may change, and only in guest mode (what the KVM
 * selftests do to it). Returns 0, or -1 when the state asked for is not
 * the machine's. */
int svmsim_set_nested_state(struct svmsim_vm *vm, const struct svmsim_nested_state *st);

/* What the guest left with the VMware backdoor's GuestRPC host side: the
 * guestinfo keys (presets included; by_guest, which may be NULL, tells
 * whether the guest set the key with info-set), in the order first set,
 * keys without the "guestinfo." prefix; and its `log` lines, oldest first,
 * with the count of lines dropped past the kept ones. The getters return
 * false / NULL past the end; strings live until the next run or destroy. */
size_t svmsim_guestinfo_count(const struct svmsim_vm *vm);
bool svmsim_guestinfo_get(const struct svmsim_vm *vm, size_t i, const char **key,
                          const char **value, bool *by_guest);
size_t svmsim_guest_log_count(const struct svmsim_vm *vm);
const char *svmsim_guest_log_get(const struct svmsim_vm *vm, size_t i);
uint64_t svmsim_guest_log_dropped(const struct svmsim_vm *vm);

/* ---- Trace records: one per #VMEXIT that reaches L0 (DESIGN.md "Trace"). */

enum svmsim_decision {
    SVMSIM_DECISION_HANDLED = 0,       /* handled by L0 */
    SVMSIM_DECISION_EMULATED,          /* L0 emulated the instruction */
    SVMSIM_DECISION_REFLECTED,         /* reflected to L1 as #VMEXIT(reflected_code) */
    SVMSIM_DECISION_INJECTED_GP,       /* #GP injected (error code in inject_error) */
    SVMSIM_DECISION_INJECTED_UD,       /* #UD injected */
    SVMSIM_DECISION_INJECTED,          /* another exception injected (inject_vector) */
    SVMSIM_DECISION_DEVICE,            /* passed to a device */
    SVMSIM_DECISION_END,               /* the run ends here */
    SVMSIM_DECISION_NESTED_VMRUN,      /* L1's VMRUN entered L2 (vmcb12_gpa, asid, intercepts) */
    SVMSIM_DECISION_VMRUN_FAILED,      /* L1's VMRUN failed a consistency check (check) */
};

struct svmsim_trace_record {
    uint64_t seq;                      /* 0, 1, 2, ... per machine */
    uint16_t vcpu;                     /* the vCPU that exited (0: the BSP) */
    uint16_t vcpus;                    /* how many the machine has */
    uint64_t insns;                    /* instructions retired before this exit */
    int level;                         /* 1 or 2 */
    uint64_t exit_code;
    const char *exit_name;             /* "IOIO", "EXCP_GP", ... */
    uint64_t exit_info_1, exit_info_2;
    uint64_t rip;
    uint8_t insn_len;                  /* 0 if not decoded */
    uint8_t insn_bytes[15];
    char insn_text[96];                /* Intel syntax, "" if not decoded */
    enum svmsim_decision decision;
    uint64_t reflected_code;           /* for REFLECTED: the #VMEXIT L1 gets */
    uint64_t reflected_info_1, reflected_info_2;
    uint32_t reflected_int_info;       /* its exit_int_info */
    uint64_t vmcb12_gpa;               /* REFLECTED, NESTED_VMRUN, VMRUN_FAILED */
    uint32_t asid;                     /* NESTED_VMRUN: vmcb12's ASID */
    uint32_t intercepts[6];            /* NESTED_VMRUN: vmcb02's merged intercept words */
    char check[48];                    /* VMRUN_FAILED: the consistency check that failed */
    char gp_step[24];                  /* a #GP exit: the step of SPEC-GP.md §2.2/§2.3 that
                                        * decided ("2.2 step 3c"); "" otherwise */
    const char *semantics;             /* a #GP exit: the semantics in force ("kvm-7.1") */
    const char *vmcb_dump;             /* an unexpected exit: the VMCB that exited, as text
                                        * (KVM's dump_vmcb); NULL otherwise */
    uint8_t inject_vector;             /* for INJECTED_* */
    uint32_t inject_error;
    char detail[128];                  /* the decision in words */
    /* A GuestRPC request the VMware backdoor answered during this exit
     * (rpc true): its channel, the request and the reply as the guest reads
     * it ("1 ..."/"0 ..."), each cut to fit at its first NUL or the array's
     * end; the _len fields give the whole lengths. */
    bool rpc;
    uint32_t rpc_channel;
    char rpc_request[256];
    char rpc_reply[256];
    uint32_t rpc_request_len, rpc_reply_len;
};

/* Formats one record as a JSON object on one line (no newline). Returns the
 * length, or -1 if buf was too small. */
int svmsim_trace_format_json(const struct svmsim_trace_record *rec, char *buf, size_t len);
/* Formats one record as a readable line for --explain (no newline). */
int svmsim_trace_format_text(const struct svmsim_trace_record *rec, char *buf, size_t len);

const char *svmsim_version(void);

#ifdef __cplusplus
}
#endif
#endif
