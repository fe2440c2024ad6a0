/* cpu.h — the software x86-64 CPU with SVM ("the hardware").
 *
 * Owns: architectural register state, the soft TLB, the decoded-instruction
 * cache, exception delivery, and running a VMCB until a #VMEXIT.
 * Must not: include anything from src/hv or src/vmm. The CPU never calls the
 * hypervisor: cpu_run() returns when an intercept fires, with the exit
 * recorded in the VMCB, exactly as hardware hands a VMCB back to its host.
 *
 * Files: cpu.c (init, run, world switch), decode.c (Zydis -> struct insn,
 * decode cache), exec.c (step loop), mmu.c (paging, soft TLB, guest memory
 * access), exception.c (delivery through the IDT), seg.c (descriptors),
 * flags.c (lazy flags), ops_*.c (instruction families), svm_hw.c
 * (intercept checks, VMCB world switch).
 */
#ifndef SVMSIM_CPU_H
#define SVMSIM_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "mem/mem.h"
#include "svmsim/arch/vmcb.h"
#include "svmsim/arch/x86.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT, SEG_NONE = 7 };

enum cpu_mode {
    CPU_MODE_REAL,
    CPU_MODE_PROT16,
    CPU_MODE_PROT32,
    CPU_MODE_COMPAT16,
    CPU_MODE_COMPAT32,
    CPU_MODE_LONG64,
    CPU_MODE_COUNT,
};

/* Result of one instruction handler. Handlers compute into locals and commit
 * only on success, so STEP_FAULT leaves the architectural state as it was. */
enum step {
    STEP_OK = 0,
    STEP_FAULT,    /* cpu->exc holds the exception to deliver */
    STEP_VMEXIT,   /* cpu->exit holds the #VMEXIT */
    STEP_HALT,     /* HLT that nothing intercepts: it retires, the CPU stops */
    /* Only inside a block's run (exec.c): the instruction at cpu->stop
     * completed, but code or mappings changed under the block (a store
     * into code, a walk's A/D write): it goes no further. */
    STEP_STOPPED,
    /* Only from a block's host code (jit.c), which retires what it runs:
     * its blocks ran whole, cpu->rip is where to go on, cpu->chain_last
     * the block that ran last and cpu->link_at its edge to link, if any.
     * Host code that fails instead sets cpu->chain_last too. */
    STEP_CHAINED,
};

/* ---- decoded instructions */

enum opnd_type { OPND_NONE, OPND_REG, OPND_MEM, OPND_IMM, OPND_PTR };

#define REG_NONE 0xff
#define REG_RIP 16
#define REG_ZERO 16     /* only in a specialised handler's memory operand */

/* For OPND_REG operands that are not general-purpose registers, reg is
 * REG_NONE, scale holds the class and sreg the register number. */
enum { REGCLASS_GPR = 0, REGCLASS_SEG = 1, REGCLASS_CR = 2, REGCLASS_DR = 3 };

struct opnd {
    uint8_t type;
    uint8_t size;   /* bytes: 1, 2, 4, 8 (MEM: the access size; 0 for LEA-like uses) */
    uint8_t reg;    /* REG: gpr 0-15; MEM: base gpr, REG_RIP or REG_NONE */
    uint8_t hi8;    /* REG: AH/CH/DH/BH */
    uint8_t index;  /* MEM: index gpr or REG_NONE */
    uint8_t scale;
    uint8_t seg;    /* MEM: segment register */
    uint8_t sreg;   /* REG: a segment/control/debug register number when not a gpr */
    int64_t val;    /* MEM: displacement; IMM: value (sign-extended); PTR: offset */
};

static inline bool opnd_is_class(const struct opnd *o, unsigned cls)
{
    return o->type == OPND_REG && o->reg == REG_NONE && o->scale == cls;
}

struct insn;
struct cpu;
typedef int (*insn_fn)(struct cpu *cpu, const struct insn *in);

#define INSN_REP   (1u << 0)  /* REP / REPE */
#define INSN_REPNE (1u << 1)
#define INSN_LOCK  (1u << 2)

/* 96 bytes; what a specialised handler reads (fn, next, op[0], op[1]) in
 * the first 48. */
struct insn {
    /* The entry as a block runs it. Entries run back to back: a
     * specialised handler (ops_fast.c) ends by tail-calling the next
     * entry's fn; a branch ends its block; every other handler runs
     * inside insn_generic or insn_generic_last (exec.c). A block whose
     * last entry goes on is followed by an end entry (insn_block_end). A
     * handler that stops its block early, or fails, says which entry it
     * was in cpu->stop. */
    insn_fn fn;
    uint64_t next;       /* RIP of the following instruction */
    struct opnd op[3];
    uint64_t rip;        /* RIP of its first byte */
    insn_fn fn1;         /* this instruction alone: the handler fn wraps, or
                          * the first half of a fused pair (ops_fast.c). It
                          * may go on into the entry after it */
    uint16_t mnemonic;   /* ZydisMnemonic */
    uint8_t len;
    uint8_t osize;       /* operand size in bytes */
    uint8_t asize;       /* address size in bytes */
    uint8_t prefix;      /* INSN_* */
    uint8_t nops;        /* visible operands */
    uint8_t cc;          /* condition code for Jcc/SETcc/CMOVcc */
    uint8_t opcode;      /* last opcode byte */
    uint8_t modrm;       /* ModRM byte, 0 if none */
    uint8_t ends_block;  /* may branch, change mode or need the careful path */
    uint8_t seq;         /* instructions of its block that retire before it */
};
_Static_assert(sizeof(struct insn) == 96, "a block's entries stay 96 bytes apart");

/* A basic block: consecutive instructions decoded together and run without
 * a cache lookup in between; it ends at the first instruction that may
 * transfer control or change the decode context.
 *
 * The block cache (decode.c): BLOCK_SETS sets (block_set) of BLOCK_WAYS
 * headers that stay where they were filled (other blocks' successor hints
 * point at them), a miss replacing a dead way or else the least recently
 * looked up;
 * a header's instructions live in an
 * arena of BLOCK_ARENA, which when full starts again empty with every
 * block forgotten. A block is valid while its context's generation (paging
 * state, TLB_CONTROL, ...) and the generations of the physical pages its
 * bytes come from are what they were at its decode: a store into code
 * bytes moves its page's generation on, and no other page's (mmu.c). Its
 * at most 2 pages (BLOCK_MAX instructions of at most 15 bytes) are known
 * by slot in a table of PAGE_GEN_SLOTS generations that pages share by
 * hash: sharing costs a spurious decode, never a stale one. */
#define BLOCK_MAX 64
#define BLOCK_SETS 2048u
#define BLOCK_WAYS 8u
#define BLOCK_ARENA (1u << 17)
#define PAGE_GEN_SLOTS 4096u

struct block {
    uint64_t rip;
    uint32_t gen;
    uint8_t ctx;
    uint8_t n;           /* entries to run */
    uint8_t weight;      /* instructions they retire (a fused pair is one entry) */
    /* Host code (jit.c) whose edges onto the block itself keep the
     * registers in host registers: where they go, past the loads; else 0 */
    uint8_t jit_body;
    uint16_t pslot[2];   /* page_gen slots of its pages (both the same if one) */
    uint32_t pgen[2];    /* ... and their generations at decode */
    uint32_t epoch;      /* code_epoch when it was last found alive (pages and
                          * decode context): while current, it is live */
    uint32_t used;       /* lookup_clock when a lookup last found it */
    struct insn *insns;  /* n of them, in the arena */
    /* The headers of the blocks that ran after this one the last two times
     * they differed (a branch's two ways), the latest first: hints that
     * cpu_exec checks as block_lookup would, never trusted unchecked.
     * Never NULL: block_none where there is none yet. */
    struct block *succ[2];
};

extern struct block block_none;

/* ---- lazy flags: the six arithmetic flags are computed on demand from the
 * last flag-writing operation. For LF_SZP only SF/ZF/PF are lazy (CF/OF/AF
 * are already in rflags); for LF_INC/LF_DEC CF is in rflags. From LF_ADD
 * on, CF is the operation's own: LF_LOGIC (AND/OR/XOR/TEST) clears CF, OF
 * and AF; the shifts by a count b of 1 to 63 of the value a (masked to
 * the size) take CF and OF from a and b, and clear AF. */
enum lazy_op {
    LF_NONE, LF_SZP, LF_INC, LF_DEC,
    LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_SHL, LF_SHR, LF_SAR,
};

struct lazy_flags {
    uint64_t res, a, b;
    uint8_t op, size;
};

/* ---- soft TLB: direct mapped; a tag is the page's linear address with bit 0
 * = user access and bits 3:2 = the translation context (below); host
 * address = linear address + addend. The index mixes in the context too,
 * so that two contexts using the same linear pages do not evict each other. */
#define TLB_SIZE 512
#define TLB_INVALID 2ull

/* ---- translation contexts: what the hardware tags TLB entries with (the
 * VMCB's ASID). The CPU keeps the soft TLB entries and decoded blocks of up
 * to CPU_CONTEXTS contexts at once, so that a world switch back to a guest
 * finds its translations and decodes still there. A context is also keyed
 * by the paging state it was filled under (CR0, CR3, CR4, EFER, nested
 * paging): a VMRUN that brings other paging state under the same ASID
 * flushes it, as does TLB_CONTROL. */
#define CPU_CONTEXTS 4

struct cpu_context {
    bool valid;
    uint32_t asid;
    uint64_t cr0, cr3, cr4, efer, ncr3; /* ncr3 ~0 without nested paging */
    bool gmet;           /* the nested walk's GMET: it changes fetch rights */
    uint64_t nefer, ncr4; /* the nested walk's host EFER and CR4 (NXE, SMEP,
                           * the tables' format); ~0 without nested paging */
    uint32_t gen;        /* decode-cache generation of this context */
    uint64_t code_base;  /* CS base its decoded blocks were fetched under */
    uint64_t last_used;
};

/* One 4 KiB translation: a tag per access kind that the walk allowed
 * (execute apart from read: NX, SMEP and SMAP tell them apart). A page
 * holding decoded code is never in tag_w (its stores must be looked at),
 * but in tag_wc: the slow path's store then needs no walk. What the hit
 * paths read is 32 bytes (struct tlb_entry); the rest is kept apart, at
 * the same index (struct tlb_cold). */
struct tlb_entry {
    uint64_t tag_r;
    uint64_t tag_w;
    uintptr_t addend;
    uint64_t tag_x;      /* instruction fetch */
};
_Static_assert(sizeof(struct tlb_entry) == 32, "tlb_entry_of scales the index by 32");

struct tlb_cold {
    uint64_t pa;         /* physical page */
    uint64_t tag_wc;     /* writable, but the page holds code */
};


struct exc {
    uint8_t vector;      /* or CPU_EXC_NPF */
    bool has_error;
    uint32_t error;
    uint64_t cr2;        /* #PF linear address; for CPU_EXC_NPF the faulting GPA */
    uint64_t npf_info1;  /* for CPU_EXC_NPF: EXITINFO1 of the #VMEXIT(NPF) */
};

/* An instruction as the decode service gives it (cpu_decode_guest_insn). */
enum cpu_decode_status {
    CPU_DECODE_OK = 0,
    CPU_DECODE_FETCH_FAULT,   /* a byte could not be fetched (fault in *fault) */
    CPU_DECODE_TOO_LONG,      /* longer than 15 bytes */
    CPU_DECODE_INVALID,       /* no valid instruction */
};
struct cpu_decoded {
    uint8_t len;
    uint8_t bytes[15];
    uint16_t mnemonic;        /* ZydisMnemonic */
    uint8_t opcode_map;       /* ZydisOpcodeMap: 0 = one byte, 1 = 0F, ... */
    uint8_t opcode;           /* the opcode byte */
    bool has_modrm;
    uint8_t modrm;
    uint8_t asize;            /* effective address size in bytes */
    uint8_t osize;            /* effective operand size in bytes */
    bool rep;                 /* a REP/REPE/REPNE prefix */
    uint8_t seg;              /* a DS-default operand's segment: the override, else SEG_DS */
    bool has_imm;
    uint64_t imm;             /* its first immediate as encoded, zero-extended */
    char text[96];            /* Intel syntax */
    struct exc fault;         /* for CPU_DECODE_FETCH_FAULT */
};

/* Not an exception vector: a nested page fault. It is not delivered to the
 * guest; it becomes #VMEXIT(NPF) with npf_info1 and the GPA (APM vol. 2
 * §15.25.6). */
#define CPU_EXC_NPF 0xff

/* #NPF EXITINFO1: the #PF error code bits, plus where the fault happened. */
#define SVM_NPF_FINAL_ADDRESS (1ull << 32)
#define SVM_NPF_GUEST_PAGE_TABLE (1ull << 33)

struct seg {
    uint16_t sel;
    uint16_t attrib;     /* VMCB format */
    uint32_t limit;      /* byte granular */
    uint64_t base;
};

struct dtr {
    uint32_t limit;
    uint64_t base;
};

/* The EFER and CR4 bits the modelled CPU implements; the others are
 * reserved (#GP on a write, SVM_EXIT_ERR in a VMCB). */
#define CPU_EFER_VALID (X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | \
                        X86_EFER_SVME | X86_EFER_LMSLE | X86_EFER_FFXSR | X86_EFER_TCE)
#define CPU_CR4_VALID (X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | X86_CR4_PSE | \
                       X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE | X86_CR4_PCE | X86_CR4_OSFXSR | \
                       X86_CR4_OSXMMEXCPT | X86_CR4_FSGSBASE | X86_CR4_SMEP)

/* Static features of the modelled CPU. */
struct cpu_model {
    unsigned maxphyaddr;
    bool nrips;
    bool svme_addr_chk;  /* CPUID 8000_000A EDX[28]: no RAX erratum */
    bool rax_erratum;
    uint64_t reserved_start, reserved_end; /* inclusive host-reserved range */
    bool deterministic;
    bool np;             /* nested paging (CPUID 8000_000A EDX[0]) */
    bool vls;            /* virtual VMLOAD/VMSAVE (EDX[15]); needs np */
    bool no_rdtscp;      /* no RDTSCP (CPUID 8000_0001 EDX[27]): it is #UD */
    bool gmet;           /* Guest Mode Execute Trap (CPUID 8000_000A EDX[17]); needs np */
    bool no_jit;         /* no host code for blocks (jit.c) */
    unsigned jit_min;    /* fewest covered entries for host code; 0: JIT_MIN (jit.c) */
};

/* A #VMEXIT as the CPU produced it (also written into the VMCB). */
struct svm_exit {
    uint64_t code, info1, info2;
    uint32_t int_info, int_info_err;
    uint64_t next_rip;
};

/* What a fast-exit handler did with the exit it was offered (cpu_run). */
enum cpu_fast {
    CPU_FAST_DECLINE,    /* nothing: cpu_run returns the exit */
    CPU_FAST_RESUME,     /* handled, changing only what VMRUN reloads: run on */
    CPU_FAST_RETURN,     /* handled otherwise: cpu_run returns CPU_RUN_HANDLED */
};

struct cpu {
    /* hot: registers and flags */
    /* The registers; as gpr_z also a seventeenth, REG_ZERO, that nothing
     * writes: a specialised handler adds base and index registers
     * without testing for either (ops_fast.c: fast_ea). */
    union {
        uint64_t gpr[16];
        uint64_t gpr_z[17];
    };
    /* Where the instruction running goes on: set before a generic handler
     * runs (to the next instruction) and by branches; a block's last
     * entry leaves it set. */
    uint64_t next_rip;
    uint64_t rflags;     /* arithmetic bits valid only where lf says so */
    struct lazy_flags lf;
    /* Units of work left in this run (cpu_work). A block is let in on a
     * budget that covers its instructions but not an event its last one
     * delivers (INT n), so it may end a little below 0: the run ends at 0
     * or below, and cpu_run reports what is left as 0. */
    int64_t budget;
    uint64_t insns;      /* instructions retired, all runs (cpu_work) */
    /* code_epoch while not slow, else 0: what host code's links check
     * (jit.c), one compare for both; kept by cpu_set_slow and
     * code_epoch_next. */
    uint32_t chain_key;
    uint8_t cpl;
    uint8_t mode;        /* enum cpu_mode */
    uint8_t ctx;         /* (mode << 2) | cpl: decode-cache context */
    /* Bit 0: CPL 3. Bit 1 (CPU_USER_AC): alignment checks are on (CPL 3,
     * CR0.AM, RFLAGS.AC): no TLB entry carries it, so every data access
     * takes the slow path, which checks (APM vol. 2 §8.2.18, #AC). */
    uint8_t user;
    /* (the registers to the first TLB entry within 255 bytes of the
     * start: jit.c reaches them with 8-bit displacements) */
    uint64_t tlb_bits;   /* tlb_ctx | user: the tag bits of the CPU's own
                          * accesses (cpu_update_mode, context_switch) */
    uint64_t tlb_mix;    /* tlb_salt << 12, as tlb_entry_of applies it */
    struct tlb_entry tlb[TLB_SIZE];
    struct tlb_cold tlb_cold[TLB_SIZE];
    const struct insn *stop; /* the entry a block's run stopped at */
    uint64_t slow_val;   /* a specialised load's value, from its slow half */
    uint64_t tlb_ctx;    /* the running context's TLB tag bits (index << 2) */
    uint64_t tlb_salt;   /* ... and its TLB index mix */
    uint32_t icache_gen; /* the running context's decode generation */
    uint64_t ip_mask;    /* 0xffffffff outside 64-bit mode (EIP) */
    uint64_t rip;
    /* Moves on whenever a decoded block may have died, or the decode
     * context (icache_gen, ctx) changed: a block whose epoch is the
     * current one is live for cpu->rip as it stands. Never 0 (a header
     * cleared to zeros never matches): code_epoch_next. */
    uint32_t code_epoch;
    bool slow;           /* TF or interrupt shadow: take the careful path (cpu_set_slow) */
    bool tlb_large;      /* the TLB holds pieces of a 2 MiB/4 MiB/1 GiB page */
    bool tlb_writable;   /* some entry may allow writes (since the last flush) */

    struct seg seg[SEG_COUNT];
    struct seg ldtr, tr;
    struct dtr gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
    uint64_t dr[8];
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat, dbgctl, tsc_aux;
    /* Last branch record (DEBUGCTL.LBR, APM vol. 2 §13.1.1.3): the last
     * taken branch, and the one before the last exception or interrupt. */
    uint64_t br_from, br_to, excp_from, excp_to;
    uint64_t vm_hsave_pa, vm_cr;
    bool int_shadow;     /* STI / MOV SS shadow for the next instruction */
    bool step_tf;        /* step_one: single-step trap after this instruction */
    bool db_trap;        /* a block's last instruction asks for that trap */
    bool gif;


    /* work, all runs: what --max-insns bounds (cpu_work) */
    /* (insns with the hot fields above: host code retires into it) */
    uint64_t rep_elems;  /* REP string elements beyond each instruction's first */
    uint64_t events;     /* exceptions and interrupts delivered or injected */
    /* The events charged since insns was last event_run_insns: a run of
     * them with no instruction retired in between, if insns is still that
     * (cpu_events_since_retire). Kept by the events, so that retiring
     * costs nothing more than the count. */
    uint64_t event_run, event_run_insns;
    uint8_t last_event_vector;
    uint64_t last_event_rip;
    uint64_t tsc_offset;

    /* nested paging of the VMCB being run (NP_ENABLE, nCR3), walked in the
     * host's paging mode: the EFER and CR4 its host had at VMRUN
     * (cpu_set_npt_host) */
    bool npt;
    bool npt_gmet;       /* GMET (nested_ctl bit 3), with NP */
    uint64_t ncr3;
    uint64_t npt_hefer, npt_hcr4;

    /* SVM: the VMCB being run and its permission maps */
    struct vmcb *vmcb;
    const uint8_t *iopm;
    const uint8_t *msrpm;
    uint32_t intercepts[VMCB_INTERCEPT_WORDS];
    /* The pause filter (op_pause): the count left, loaded at VMRUN, its
     * threshold in cycles, and the host TSC of the last PAUSE. */
    uint16_t pause_count, pause_thresh;
    uint64_t pause_last;
    struct svm_exit exit;
    bool exited;         /* a #VMEXIT is recorded in exit */
    /* The lazy world switch (cpu_run): with hold_state, an exit stores only
     * the save area's hot fields and the CPU keeps the rest for `held`
     * until cpu_sync_save_area(). */
    bool hold_state;
    struct vmcb *held;
    /* Physical data accesses outside RAM (a device's registers: the local
     * APIC page); without it reads are all ones and writes go nowhere.
     * Page-table walks and fetches never come here. */
    struct cpu_mmio {
        uint64_t (*read)(void *opaque, uint64_t pa, unsigned size);
        void (*write)(void *opaque, uint64_t pa, unsigned size, uint64_t value);
        void *opaque;
    } mmio;
    struct cpu_fast_exit {
        enum cpu_fast (*handle)(void *opaque);
        void *opaque;
    } fast_exit;
    uint8_t recorded;    /* enum cpu_run_result: what the offered exit left */
    /* What VMRUN's save-area checks last passed (cpu_run). */
    struct cpu_checked {
        uint64_t cr0, cr3, cr4, efer, dr6, dr7;
        uint64_t cs_attrib;
    } checked;
    /* translation contexts (see struct cpu_context) */
    struct cpu_context contexts[CPU_CONTEXTS];
    unsigned context;    /* the running one */
    uint32_t gen_next;   /* next decode generation to hand out */
    uint32_t lookup_clock; /* ticks per block cache lookup: the ways' age */
    uint64_t runs;       /* cpu_run calls, for LRU */

    /* pending exception of the current instruction */
    struct exc exc;

    struct gmem *mem;
    struct cpu_model model;
    ZydisDecoder decoder[CPU_MODE_COUNT];
    ZydisFormatter formatter;
    struct block *blocks; /* BLOCK_SETS * BLOCK_WAYS headers */
    struct insn *arena;   /* BLOCK_ARENA decoded instructions */
    uint32_t arena_used;  /* entries: blocks' instructions and end entries */
    uint8_t *jit_code;    /* host code of blocks (jit.c), JIT_BYTES; NULL until used */
    size_t jit_used;      /* the code that runs, from the start */
    size_t jit_cold;      /* the code of slow paths and exits, from JIT_HOT_BYTES */
    uint64_t jitted;      /* blocks given host code, all runs */
    /* Left by host code as it returns (STEP_CHAINED or a failure): the
     * block that ran last, and the edge that went to cpu->rip unlinked
     * (jit_link); NULL while no host code has returned. */
    struct block *chain_last;
    uint8_t *link_at;
    struct insn jit_alone[2]; /* an entry run alone from host code, and the end */
    bool jit_off;         /* no host code: model.no_jit, or its buffer could not be mapped */
    uint64_t decoded;     /* instructions decoded into blocks, all runs */
    uint32_t page_gen[PAGE_GEN_SLOTS];
    /* The block being decoded: the page_gen slots its bytes came from. */
    uint16_t fill_slot[2];
    uint8_t fill_pages;
    bool fill_restart;    /* the marks were forgotten under it: decode again */
    /* The decode service's last decode without text, by the bytes it was
     * decoded from (n of them, in mode): the #GP path decodes the same
     * instruction on every exit. Decoding is a function of these alone. */
    struct cpu_decode_memo {
        bool valid;
        uint8_t mode, n;
        uint8_t buf[15];
        struct cpu_decoded out; /* CPU_DECODE_OK's fields, without text and fault */
    } decode_memo;

    /* Interrupts (APM vol. 2 §15.21). intr_line is the physical INTR input,
     * raised by cpu_kick or when the host TSC reaches host_timer (0: not
     * armed); while it is up, a boundary where the running VMCB lets it in
     * (V_INTR_MASKING, or RFLAGS.IF and no shadow) exits with #VMEXIT(INTR)
     * if intercepted. int_ctl and int_vector are the running VMCB's, loaded
     * at VMRUN: its virtual interrupt (V_IRQ, V_INTR_PRIO, V_IGN_TPR,
     * int_vector) and V_TPR, which MOV CR8 reaches under V_INTR_MASKING;
     * the exit writes V_IRQ and V_TPR back. */
    bool intr_line;
    uint64_t host_timer;
    uint32_t int_ctl;
    uint8_t int_vector;
    bool halted;         /* a HLT nothing intercepted stopped the CPU */
    uint64_t tsc_skip;   /* host time skipped while halted (cpu_skip_time) */
    /* The next CPU sharing mem, in a ring (itself when alone): a store one
     * CPU makes into code kills the decoded blocks of all of them
     * (cpu_share_memory). */
    struct cpu *sibling;
};

/* ---- cpu.c */
int cpu_init(struct cpu *cpu, struct gmem *mem, const struct cpu_model *model);
void cpu_fini(struct cpu *cpu);
/* cpu joins the CPUs that share memory with other (both initialised on the
 * same struct gmem): from now on a store any of them makes into bytes
 * another decoded is seen by that one's next fetch, as on one CPU. */
void cpu_share_memory(struct cpu *cpu, struct cpu *other);

enum cpu_run_result {
    CPU_RUN_VMEXIT,      /* the VMCB's control area holds the exit */
    CPU_RUN_BUDGET,      /* budget exhausted; state stored back, no exit */
    CPU_RUN_HANDLED,     /* the last exit went to fast_exit, which handled it */
    CPU_RUN_HALTED,      /* a HLT that nothing intercepts; RIP past it */
    CPU_RUN_NONE,        /* (inside cpu_run: nothing recorded yet) */
};
/* Runs the guest in vmcb (its save area loaded, its intercepts in force,
 * EVENTINJ delivered) for at most *budget instructions, then stores the guest
 * state back. iopm/msrpm are the host's views of IOPM_BASE/MSRPM_BASE.
 *
 * The lazy world switch, for a caller that sets cpu->hold_state: the exit
 * stores only the hot fields (RIP, RSP, RAX; and, to be read, CPL, EFER,
 * CS and CR0) and the CPU holds the rest of vmcb's save area. Until the
 * caller calls cpu_sync_save_area(), it may read the hot fields and write
 * RIP, RSP and RAX (fields VMRUN reloads whatever the clean bits say, APM
 * vol. 2 §15.15.3) and nothing else of the save area; running the same
 * VMCB again then reloads just those three, and makes every check. Builds
 * with SVMSIM_CHECKS (all but Release) poison the held fields and abort at
 * the next run if they were touched. Running another VMCB syncs the held
 * one first.
 *
 * Fast exits, for a caller that holds state and sets cpu->fast_exit: each
 * exit is first offered to fast_exit.handle, with the exit in the control
 * area and the hot fields stored, as cpu_run would return it. A handler
 * that answers CPU_FAST_RESUME has handled it as the caller's own loop
 * would, and changed nothing but the general-purpose registers, RIP, RSP,
 * RAX and the interrupt shadow: no event, no other field of the VMCB, no
 * sync. The CPU then goes on as a VMRUN of the same VMCB would, with the
 * budget less the work the handler counted, without returning; unless that
 * budget is spent or the guest changed what VMRUN's save-area checks read,
 * when it returns CPU_RUN_HANDLED and the caller's next cpu_run goes on. */
enum cpu_run_result cpu_run(struct cpu *cpu, struct vmcb *vmcb, const uint8_t *iopm,
                            const uint8_t *msrpm, uint64_t *budget);
/* cpu_exec's #VMEXIT when fast_exit is set: records the exit and offers
 * it. True when the handler resumed in place and the CPU runs on. */
bool cpu_offer_exit(struct cpu *cpu);
/* Stores the whole save area of the held VMCB, if any, keeping the RIP,
 * RSP and RAX the caller wrote there; it is then the caller's to read and
 * change. */
void cpu_sync_save_area(struct cpu *cpu);

/* The CPUID the hardware reports (before any hypervisor filtering). */
void cpu_cpuid(const struct cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* The host changed guest memory behind the CPU (loader, device DMA, L0 writing
 * guest pages): drop cached decodes of those pages. */
void cpu_notify_phys_write(struct cpu *cpu, uint64_t gpa, uint64_t len);

/* Services for the hypervisor's emulator, on the state of the guest that
 * last ran (as KVM's emulator works on vcpu state): guest-virtual memory
 * access through its segments and page tables at its CPL. Return 0, or -1
 * with *exc describing the fault the guest would take. */
int cpu_guest_read(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, uint64_t *val,
                   struct exc *exc);
int cpu_guest_write(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, uint64_t val,
                    struct exc *exc);
/* A guest physical address of the last-run guest through its VMCB's nested
 * page tables (itself without nested paging), as a VLS access of the given
 * direction. Returns 0, or -1 with the nested fault (CPU_EXC_NPF) in *exc. */
int cpu_guest_phys(struct cpu *cpu, uint64_t gpa, bool write, uint64_t *hpa, struct exc *exc);
/* Whether the last-run guest may access size bytes at port: CPL <= IOPL, or
 * the TSS I/O permission bitmap allows every byte (APM vol. 2 §13.3). */
bool cpu_guest_io_permitted(struct cpu *cpu, uint16_t port, unsigned size);
/* The decode service for the hypervisor (as KVM asks its emulator): the
 * instruction at the last-run guest's CS:RIP, fetched through its paging at
 * its CPL and decoded in its mode by the same decoder the interpreter uses.
 * It marks no page as code and flushes nothing. */
/* with_text: also format the Intel-syntax text (for traces; it costs). */
enum cpu_decode_status cpu_decode_guest_insn(struct cpu *cpu, struct cpu_decoded *out,
                                             bool with_text);
const char *cpu_decode_status_name(enum cpu_decode_status st);

/* Everything the CPU did for its guests, in the units --max-insns counts
 * (DESIGN.md): retired instructions, REP elements and event deliveries. */
static inline uint64_t cpu_work(const struct cpu *cpu)
{
    return cpu->insns + cpu->rep_elems + cpu->events;
}

/* The events charged since an instruction last retired. */
static inline uint64_t cpu_events_since_retire(const struct cpu *cpu)
{
    return cpu->insns == cpu->event_run_insns ? cpu->event_run : 0;
}

/* Charges one event delivery (an exception or interrupt delivered through
 * the IDT, intercepted, or injected) against the run's budget. */
static inline void cpu_charge_event(struct cpu *cpu, unsigned vector)
{
    cpu->events++;
    if (cpu->insns != cpu->event_run_insns) {
        cpu->event_run = 0;
        cpu->event_run_insns = cpu->insns;
    }
    cpu->event_run++;
    cpu->last_event_vector = (uint8_t)vector;
    cpu->last_event_rip = cpu->rip;
    cpu->budget--;
}

/* The instruction breakpoints DR7 enables (L or G set, R/W = 00), as a
 * mask of DR0-DR3. */
static inline unsigned cpu_code_breakpoints(uint64_t dr7)
{
    if (!(dr7 & 0xff))
        return 0;
    unsigned m = 0;
    for (unsigned i = 0; i < 4; i++)
        if (((dr7 >> (2 * i)) & 3) && !((dr7 >> (16 + 4 * i)) & 3))
            m |= 1u << i;
    return m;
}

/* Whether the running VMCB's virtual interrupt may be taken, V_TPR apart:
 * V_IRQ with the guest's IF set, and V_GIF set when vGIF is on. */
static inline bool cpu_virq_open(const struct cpu *cpu)
{
    uint32_t c = cpu->int_ctl;
    bool vgif_clear = (c & SVM_INT_CTL_V_GIF_ENABLE) && !(c & SVM_INT_CTL_V_GIF);
    return (c & SVM_INT_CTL_V_IRQ) && (cpu->rflags & X86_RFLAGS_IF) && !vgif_clear;
}

/* Whether an instruction boundary may have an interrupt to take: the INTR
 * line is up, or the running VMCB's virtual interrupt is open. */
static inline bool cpu_irq_armed(const struct cpu *cpu)
{
    return cpu->intr_line || cpu_virq_open(cpu);
}

/* Each CPU sharing memory with cpu (cpu_share_memory), cpu first. */
#define FOR_EACH_SHARER(c, cpu) \
    for (struct cpu *c = (cpu), *c##_first_ = (cpu); c; c = c->sibling == c##_first_ ? NULL : c->sibling)

/* What sends the interpreter down its careful path (one instruction at a
 * time, interrupts looked at between them): TF, an interrupt shadow, or an
 * interrupt that may be taken, an instruction breakpoint, or branches to
 * record (DEBUGCTL.LBR). */
static inline void cpu_set_slow(struct cpu *cpu, bool slow)
{
    cpu->slow = slow;
    cpu->chain_key = slow ? 0 : cpu->code_epoch;
}

static inline void cpu_update_slow(struct cpu *cpu)
{
    cpu_set_slow(cpu, (cpu->rflags & (X86_RFLAGS_TF | X86_RFLAGS_RF)) || cpu->int_shadow ||
                          cpu_irq_armed(cpu) || cpu_code_breakpoints(cpu->dr[7]) ||
                          (cpu->dbgctl & X86_DEBUGCTL_LBR));
}

/* Raises the INTR line (the host wants the CPU: KVM's kick): the running
 * guest exits with #VMEXIT(INTR) at its next instruction boundary that
 * lets the line in, leaving the decoded block it is in. The host lowers the
 * line itself (cpu->intr_line = false) once it has looked. */
void cpu_kick(struct cpu *cpu);
/* Arms the host timer: the INTR line rises when the host TSC (cpu_host_tsc)
 * reaches tsc; 0 disarms it. cpu_run stops at the deadline to raise it. */
static inline void cpu_set_host_timer(struct cpu *cpu, uint64_t tsc)
{
    cpu->host_timer = tsc;
}
/* Host time passes without the CPU running (a halted vCPU waiting for its
 * timer): the host TSC, and the guest's with it, move on by ticks. */
static inline void cpu_skip_time(struct cpu *cpu, uint64_t ticks)
{
    cpu->tsc_skip += ticks;
}

/* The host's EFER and CR4 that the nested walk of the runs from now on
 * uses (APM vol. 2 §15.25.5: the nested tables are in the host's paging
 * mode; hEFER.NXE makes bit 63 NX instead of reserved, hCR4.SMEP puts I/D
 * in a fetch's #NPF error code). A hardware VMRUN takes them from the
 * host's own registers; this CPU's host is L0, which says what they are.
 * Reset: a long-mode host with NXE, without SMEP. */
static inline void cpu_set_npt_host(struct cpu *cpu, uint64_t efer, uint64_t cr4)
{
    cpu->npt_hefer = efer;
    cpu->npt_hcr4 = cr4;
}

/* Whether any of the RFLAGS bits in mask is set in the guest of vmcb,
 * also while the CPU holds its save area (the CPU's own RFLAGS then). Only
 * for bits kept apart from the lazy arithmetic flags (TF, RF, IF...). */
static inline bool cpu_guest_rflags_any(const struct cpu *cpu, const struct vmcb *vmcb,
                                        uint64_t mask)
{
    return ((cpu->held == vmcb ? cpu->rflags : vmcb->save.rflags) & mask) != 0;
}

/* Time stamp counter as the guest sees it (before TSC_OFFSET). */
uint64_t cpu_host_tsc(const struct cpu *cpu);

/* ---- exec.c */
void cpu_exec(struct cpu *cpu);
void cpu_update_mode(struct cpu *cpu);
/* Forget the running context's decoded blocks (its mappings changed). */
void icache_flush(struct cpu *cpu);
/* Forget every context's decoded blocks (code bytes changed). */
void icache_flush_all(struct cpu *cpu);

/* The set of the block at rip: all of its bits mixed (MurmurHash3's
 * 64-bit finalizer: one multiply leaves arithmetic runs of RIPs, such as
 * equal loop bodies, in one set), so that code whose blocks start at
 * uneven or equal distances fills the sets as evenly as random addresses
 * would; the context's salt, mixed in after, keeps two contexts' blocks
 * at the same addresses apart (and blocks that share a set in one
 * context share one in every other). */
static inline unsigned block_set(const struct cpu *cpu, uint64_t rip)
{
    _Static_assert((BLOCK_SETS & (BLOCK_SETS - 1)) == 0, "a power of two of sets");
    uint64_t x = rip ^ (rip >> 33);
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (unsigned)(x ^ cpu->tlb_salt) & (BLOCK_SETS - 1);
}

/* code_epoch came round to 0: every header forgotten, the epoch at 1, so
 * that no header from the lap before can match again. */
void icache_epoch_wrapped(struct cpu *cpu);

static inline void code_epoch_next(struct cpu *cpu)
{
    if (unlikely(++cpu->code_epoch == 0))
        icache_epoch_wrapped(cpu);
    cpu_set_slow(cpu, cpu->slow); /* chain_key follows the epoch */
}

/* ---- flags.c */
uint64_t flags_get(struct cpu *cpu);             /* full RFLAGS, materialized */
void flags_set(struct cpu *cpu, uint64_t rflags);  /* all bits, no privilege checks */
static inline uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline void lf_set(struct cpu *cpu, enum lazy_op op, unsigned size, uint64_t res,
                          uint64_t a, uint64_t b)
{
    /* Kept masked: ZF is res == 0, and CF a compare (flags.h: flag_cf). */
    uint64_t m = size_mask(size);
    cpu->lf.op = (uint8_t)op;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = res & m;
    cpu->lf.a = a & m;
    cpu->lf.b = b & m;
}
/* Sets CF/OF/AF explicitly and leaves SF/ZF/PF lazy from res. */
void lf_set_szp(struct cpu *cpu, unsigned size, uint64_t res, bool cf, bool of, bool af);

#include "cpu/flags.h"

/* ---- mmu.c */
enum access { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };
/* Walks the page tables for linear address la. user: the access is made at
 * CPL 3 (implicit supervisor accesses pass false). Sets A/D bits. On a fault
 * fills cpu->exc (#PF) and returns -1. */
int mmu_translate(struct cpu *cpu, uint64_t la, enum access acc, bool user, uint64_t *pa);
#define CPU_USER_AC 2u
/* Data accesses that missed the TLB (user: cpu->user's bits, or 0 for a
 * system access): #AC first when CPU_USER_AC is set and the access is
 * misaligned, then the walk. */
int mmu_read_slow(struct cpu *cpu, uint64_t la, unsigned size, unsigned user, uint64_t *val);
int mmu_write_slow(struct cpu *cpu, uint64_t la, unsigned size, unsigned user, uint64_t val);
/* Flush the running context's TLB entries / every context's. */
void tlb_flush(struct cpu *cpu);
void tlb_flush_all(struct cpu *cpu);
void tlb_flush_page(struct cpu *cpu, uint64_t la);
/* Bytes from linear memory for instruction fetch; returns how many could be
 * fetched (stops at the first faulting page; *fault_exc describes it).
 * mark_code: the bytes will be cached as decoded code (the interpreter's
 * fetch), so writes to their pages must invalidate it. */
unsigned mmu_fetch(struct cpu *cpu, uint64_t la, uint8_t *buf, unsigned len, struct exc *fault,
                   bool mark_code);

/* la sign-extended from bit 47, as the hardware makes an address canonical. */
static inline uint64_t canonicalize(uint64_t la)
{
    return (uint64_t)((int64_t)(la << 16) >> 16);
}

static inline bool is_canonical(uint64_t la)
{
    return canonicalize(la) == la;
}

/* The linear address of RIP: CS's base counts outside 64-bit mode, where
 * linear addresses are 32 bits. */
static inline uint64_t code_linear(const struct cpu *cpu, uint64_t rip)
{
    return cpu->mode == CPU_MODE_LONG64 ? rip : (cpu->seg[SEG_CS].base + rip) & 0xffffffffull;
}

static inline struct tlb_entry *tlb_entry_of(struct cpu *cpu, uint64_t la)
{
    /* The index ((la >> 12) ^ tlb_salt) % TLB_SIZE, already scaled */
    uintptr_t off = ((la ^ cpu->tlb_mix) >> (12 - 5)) & ((TLB_SIZE - 1) << 5);
    return (struct tlb_entry *)((char *)cpu->tlb + off);
}

static inline struct tlb_cold *tlb_cold_of(struct cpu *cpu, const struct tlb_entry *e)
{
    return &cpu->tlb_cold[e - cpu->tlb];
}

static inline uint64_t tlb_tag_of(const struct cpu *cpu, uint64_t la, unsigned user)
{
    return (la & ~0xfffull) | cpu->tlb_ctx | user;
}

/* size bytes of host memory at address a (a TLB hit's la + addend). */
static inline uint64_t host_read(uintptr_t a, unsigned size)
{
    const uint8_t *p = (const uint8_t *)a;
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
    default: { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
    }
}

static inline void host_write(uintptr_t a, unsigned size, uint64_t val)
{
    uint8_t *p = (uint8_t *)a;
    switch (size) {
    case 1: *p = (uint8_t)val; return;
    case 2: { uint16_t v = (uint16_t)val; __builtin_memcpy(p, &v, 2); return; }
    case 4: { uint32_t v = (uint32_t)val; __builtin_memcpy(p, &v, 4); return; }
    default: __builtin_memcpy(p, &val, 8); return;
    }
}

/* The TLB hit test of a read (tlb_hit_r) or write (tlb_hit_w) of size
 * bytes at la, and the host address in *h: one compare of the entry of
 * la's page with the tag of the page of its last byte, which fails for an
 * access that crosses into the next page (no entry of la's index holds
 * that page: the pages' indexes differ). A tag matches only a page the
 * walk filled, so also only a canonical one. bits: the tag's low bits,
 * cpu->tlb_bits for an access at the CPU's own CPL, else tlb_ctx | user. */
static inline bool tlb_hit_r(struct cpu *cpu, uint64_t la, unsigned size, uint64_t bits,
                             uintptr_t *h)
{
    const struct tlb_entry *e = tlb_entry_of(cpu, la);
    *h = la + e->addend;
    return likely(e->tag_r == (((la + size - 1) & ~0xfffull) | bits));
}

static inline bool tlb_hit_w(struct cpu *cpu, uint64_t la, unsigned size, uint64_t bits,
                             uintptr_t *h)
{
    const struct tlb_entry *e = tlb_entry_of(cpu, la);
    *h = la + e->addend;
    return likely(e->tag_w == (((la + size - 1) & ~0xfffull) | bits));
}

static inline int la_read(struct cpu *cpu, uint64_t la, unsigned size, unsigned user,
                          uint64_t *val)
{
    uintptr_t h;
    if (tlb_hit_r(cpu, la, size, cpu->tlb_ctx | user, &h)) {
        *val = host_read(h, size);
        return 0;
    }
    return mmu_read_slow(cpu, la, size, user, val);
}

static inline int la_write(struct cpu *cpu, uint64_t la, unsigned size, unsigned user,
                           uint64_t val)
{
    uintptr_t h;
    if (tlb_hit_w(cpu, la, size, cpu->tlb_ctx | user, &h)) {
        host_write(h, size, val);
        return 0;
    }
    return mmu_write_slow(cpu, la, size, user, val);
}

/* Segment + offset to linear address with the mode's checks (canonical form
 * in 64-bit mode, limits elsewhere). Fills cpu->exc on failure. */
int seg_linear(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size, enum access acc,
               uint64_t *la);
/* The fault of a 64-bit mode access through seg at a non-canonical
 * address: #SS(0) for the stack segment, else #GP(0). */
int raise_noncanonical(struct cpu *cpu, unsigned seg);

/* Data access through a segment at the current CPL. */
static inline int vmem_read(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size,
                            uint64_t *val)
{
    uint64_t la;
    if (likely(cpu->mode == CPU_MODE_LONG64 && seg != SEG_FS && seg != SEG_GS)) {
        la = off;
        if (unlikely(!is_canonical(la)))
            return seg_linear(cpu, seg, off, size, ACC_READ, &la);
    } else if (seg_linear(cpu, seg, off, size, ACC_READ, &la) != 0) {
        return -1;
    }
    return la_read(cpu, la, size, cpu->user, val);
}

static inline int vmem_write(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size,
                             uint64_t val)
{
    uint64_t la;
    if (likely(cpu->mode == CPU_MODE_LONG64 && seg != SEG_FS && seg != SEG_GS)) {
        la = off;
        if (unlikely(!is_canonical(la)))
            return seg_linear(cpu, seg, off, size, ACC_WRITE, &la);
    } else if (seg_linear(cpu, seg, off, size, ACC_WRITE, &la) != 0) {
        return -1;
    }
    return la_write(cpu, la, size, cpu->user, val);
}

/* Checks that a write of size bytes at seg:off would succeed, without writing. */
int vmem_probe_write(struct cpu *cpu, unsigned seg, uint64_t off, unsigned size);

/* Translates a guest physical address through the nested page tables when
 * nested paging is on (identity otherwise). Guest page-table accesses are
 * writes for the nested walk. Returns 0, or -1 with cpu->exc = CPU_EXC_NPF.
 * *writable: a later write needs no walk (nested RW and D already set). */
int npt_translate(struct cpu *cpu, uint64_t gpa, enum access acc, bool guest_pt, uint64_t *hpa,
                  bool *writable);

/* ---- exception.c */
static inline int raise_exc(struct cpu *cpu, unsigned vector)
{
    cpu->exc.vector = (uint8_t)vector;
    cpu->exc.has_error = false;
    cpu->exc.error = 0;
    return STEP_FAULT;
}
static inline int raise_exc_err(struct cpu *cpu, unsigned vector, uint32_t error)
{
    cpu->exc.vector = (uint8_t)vector;
    cpu->exc.has_error = true;
    cpu->exc.error = error;
    return STEP_FAULT;
}
#define raise_gp(cpu, err) raise_exc_err((cpu), X86_VEC_GP, (err))
#define raise_ud(cpu) raise_exc((cpu), X86_VEC_UD)

/* Delivers cpu->exc (a fault: RIP at the instruction). Returns STEP_OK when
 * the guest's handler is entered, STEP_VMEXIT when an intercept fired (the
 * exception itself, or SHUTDOWN on triple fault). */
int exc_deliver(struct cpu *cpu);
/* Delivers a software interrupt / trap with the given return RIP. */
/* EV_SOFT_EXC: INT3/INTO — an exception for intercepts, a software
 * interrupt for the gate's DPL check. */
enum event_kind { EV_EXCEPTION, EV_SOFT_EXC, EV_SOFT_INT, EV_EXT_INT, EV_NMI };
int event_deliver(struct cpu *cpu, enum event_kind kind, unsigned vector, bool has_error,
                  uint32_t error, uint64_t return_rip);
/* At an instruction boundary (RIP at the next instruction, none of it
 * done): the interrupt there is to take, if any (APM vol. 2 §15.21): the
 * INTR line as #VMEXIT(INTR), else the VMCB's virtual interrupt as
 * #VMEXIT(VINTR) or through the guest's IDT. Returns STEP_OK (taken through
 * the IDT, or nothing to take) or STEP_VMEXIT. */
int cpu_take_interrupt(struct cpu *cpu);
/* Delivers an event from EVENTINJ at the current RIP: the event itself is
 * not checked against the exception intercepts, faults during it are. */
int event_inject(struct cpu *cpu, enum event_kind kind, unsigned vector, bool has_error,
                 uint32_t error, uint64_t return_rip);

/* ---- seg.c */
/* Loads a data/stack segment register (MOV Sreg, POP Sreg) with the checks
 * that raise #GP/#NP/#SS. */
int seg_load(struct cpu *cpu, unsigned seg, uint16_t sel);
/* Reads the 8- or 16-byte descriptor for sel from the GDT/LDT. */
int desc_read(struct cpu *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi);
void desc_to_seg(uint64_t lo, uint64_t hi, uint16_t sel, struct seg *s);
/* desc_read + desc_to_seg: #GP(selector) when it lies beyond the table's
 * limit. *lo (if not NULL) receives the descriptor's low quadword. */
int desc_load(struct cpu *cpu, uint16_t sel, struct seg *s, uint64_t *lo);
int desc_set_flag(struct cpu *cpu, uint16_t sel, uint64_t lo_bits);
/* Far transfer to a code segment (far JMP/CALL/RET, IRET): checks the
 * descriptor and loads CS. */
int seg_load_cs(struct cpu *cpu, uint16_t sel, unsigned new_cpl);

/* ---- svm_hw.c */
static inline bool svm_intercepted(const struct cpu *cpu, unsigned bit)
{
    return (cpu->intercepts[bit >> 5] >> (bit & 31)) & 1;
}
/* Records a #VMEXIT; returns STEP_VMEXIT. next_rip comes from cpu->next_rip. */
int svm_vmexit(struct cpu *cpu, uint64_t code, uint64_t info1, uint64_t info2);
/* IOIO intercept check for an access; on a hit records the exit. */
int svm_check_io(struct cpu *cpu, const struct insn *in, uint16_t port, unsigned size,
                 bool is_in, bool str, bool rep, unsigned seg);
/* MSR intercept check (write: WRMSR). */
bool svm_msr_intercepted(const struct cpu *cpu, uint32_t msr, bool write);
/* The CPU's registers from and to a VMCB save area (RFLAGS must have been
 * materialized with flags_get() before a store). */
void svm_load_save_area(struct cpu *cpu, const struct vmcb_save_area *sa);
void svm_store_save_area(const struct cpu *cpu, struct vmcb_save_area *sa);
/* The lazy world switch's halves (cpu_run): the hot fields alone. */
void svm_store_hot(const struct cpu *cpu, struct vmcb_save_area *sa);
void svm_load_hot(struct cpu *cpu, const struct vmcb_save_area *sa);
#ifdef SVMSIM_CHECKS
void svm_poison_held(struct vmcb_save_area *sa);
bool svm_held_untouched(const struct cpu *cpu, const struct vmcb_save_area *sa);
#endif
/* The checks the CPU's VMRUN makes, with this CPU's features. */
struct svm_check_model;
void cpu_svm_check_model(const struct cpu *cpu, struct svm_check_model *m);

/* ---- helpers for ops */
static inline uint64_t gpr_read(const struct cpu *cpu, const struct opnd *o)
{
    if (unlikely(o->hi8))
        return (cpu->gpr[o->reg] >> 8) & 0xff;
    return cpu->gpr[o->reg] & size_mask(o->size);
}

/* Writes a register operand with x86-64 rules: 32-bit writes zero-extend,
 * 8/16-bit writes merge. */
static inline void gpr_write(struct cpu *cpu, const struct opnd *o, uint64_t v)
{
    uint64_t *r = &cpu->gpr[o->reg];
    switch (o->size) {
    case 1:
        if (o->hi8)
            *r = (*r & ~0xff00ull) | ((v & 0xff) << 8);
        else
            *r = (*r & ~0xffull) | (v & 0xff);
        break;
    case 2: *r = (*r & ~0xffffull) | (v & 0xffff); break;
    case 4: *r = (uint32_t)v; break;
    default: *r = v; break;
    }
}

static inline void gpr_write_sized(struct cpu *cpu, unsigned reg, unsigned size, uint64_t v)
{
    struct opnd o = { .type = OPND_REG, .size = (uint8_t)size, .reg = (uint8_t)reg };
    gpr_write(cpu, &o, v);
}

/* Effective address of a memory operand (offset within the segment). */
static inline uint64_t opnd_ea(const struct cpu *cpu, const struct insn *in, const struct opnd *o)
{
    uint64_t ea = (uint64_t)o->val;
    if (o->reg == REG_RIP)
        ea += in->next;
    else if (o->reg != REG_NONE)
        ea += cpu->gpr[o->reg];
    if (o->index != REG_NONE)
        ea += cpu->gpr[o->index] * o->scale;
    return ea & size_mask(in->asize);
}

static inline int opnd_read(struct cpu *cpu, const struct insn *in, const struct opnd *o,
                            uint64_t *v)
{
    switch (o->type) {
    case OPND_REG: *v = gpr_read(cpu, o); return 0;
    case OPND_IMM: *v = (uint64_t)o->val & size_mask(o->size); return 0;
    default: return vmem_read(cpu, o->seg, opnd_ea(cpu, in, o), o->size, v);
    }
}

static inline int opnd_write(struct cpu *cpu, const struct insn *in, const struct opnd *o,
                             uint64_t v)
{
    if (o->type == OPND_REG) {
        gpr_write(cpu, o, v);
        return 0;
    }
    return vmem_write(cpu, o->seg, opnd_ea(cpu, in, o), o->size, v);
}

/* Stack: push/pop with the current stack size (64-bit in long mode, else SS.B). */
int stack_push(struct cpu *cpu, unsigned size, uint64_t v);
int stack_pop(struct cpu *cpu, unsigned size, uint64_t *v);
/* Reads the stack at RSP + off without moving RSP. */
int stack_peek(struct cpu *cpu, unsigned size, uint64_t off, uint64_t *v);
unsigned stack_size(const struct cpu *cpu);

/* Instruction dispatch table (ops tables register into it). */
insn_fn insn_handler(ZydisMnemonic m);

#endif
