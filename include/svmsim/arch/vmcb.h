/* vmcb.h — the VMCB as AMD APM vol. 2 appendix B lays it out.
 *
 * Owns: the byte layout of the control area (0x000-0x3FF) and the save area
 * (0x400-0xFFF), pinned by static asserts. Carries no policy: who reads or
 * writes which field is decided in src/svm (hardware) and src/hv (L0).
 */
#ifndef SVMSIM_ARCH_VMCB_H
#define SVMSIM_ARCH_VMCB_H

#include <stddef.h>
#include <stdint.h>

/* Intercept words: INTERCEPT_CR/DR/EXCEPTION at 0x000/0x004/0x008, then three
 * instruction words where bit (code - 0x60 - 32 * (word - 3)) intercepts exit
 * code `code`. vmcb_intercept_bit() below turns an exit code into a bit index
 * of the 192-bit intercept vector that starts at word 0 (bit 96 = INTR). */
enum {
    VMCB_INTERCEPT_WORDS = 6,
};

struct vmcb_control_area {
    uint32_t intercepts[VMCB_INTERCEPT_WORDS]; /* 0x000: CR, DR, EXC, misc1, misc2, misc3 */
    uint8_t reserved_018[0x03c - 0x018];
    uint16_t pause_filter_thresh;              /* 0x03c */
    uint16_t pause_filter_count;               /* 0x03e */
    uint64_t iopm_base_pa;                     /* 0x040 */
    uint64_t msrpm_base_pa;                    /* 0x048 */
    uint64_t tsc_offset;                       /* 0x050 */
    uint32_t asid;                             /* 0x058 */
    uint8_t tlb_ctl;                           /* 0x05c */
    uint8_t reserved_05d[3];
    uint32_t int_ctl;                          /* 0x060 */
    uint32_t int_vector;                       /* 0x064 */
    uint32_t int_state;                        /* 0x068 */
    uint8_t reserved_06c[4];
    uint64_t exit_code;                        /* 0x070 */
    uint64_t exit_info_1;                      /* 0x078 */
    uint64_t exit_info_2;                      /* 0x080 */
    uint32_t exit_int_info;                    /* 0x088 */
    uint32_t exit_int_info_err;                /* 0x08c */
    uint64_t nested_ctl;                       /* 0x090: bit 0 NP_ENABLE */
    uint64_t avic_vapic_bar;                   /* 0x098 */
    uint64_t ghcb_gpa;                         /* 0x0a0 */
    uint32_t event_inj;                        /* 0x0a8 */
    uint32_t event_inj_err;                    /* 0x0ac */
    uint64_t nested_cr3;                       /* 0x0b0 */
    uint64_t virt_ext;                         /* 0x0b8: bit 1 VLS enable */
    uint32_t clean;                            /* 0x0c0 */
    uint32_t reserved_0c4;
    uint64_t next_rip;                         /* 0x0c8 */
    uint8_t insn_len;                          /* 0x0d0 */
    uint8_t insn_bytes[15];                    /* 0x0d1 */
    uint8_t reserved_0e0[0x400 - 0x0e0];
};

/* A segment as the VMCB keeps it. attrib packs descriptor bits:
 *   attrib  11  10  9  8 | 7  6:5  4  3:0
 *           G   D/B L AVL| P  DPL  S  type
 */
struct vmcb_seg {
    uint16_t selector;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};

struct vmcb_save_area {
    struct vmcb_seg es;                        /* 0x000 */
    struct vmcb_seg cs;                        /* 0x010 */
    struct vmcb_seg ss;                        /* 0x020 */
    struct vmcb_seg ds;                        /* 0x030 */
    struct vmcb_seg fs;                        /* 0x040 */
    struct vmcb_seg gs;                        /* 0x050 */
    struct vmcb_seg gdtr;                      /* 0x060 */
    struct vmcb_seg ldtr;                      /* 0x070 */
    struct vmcb_seg idtr;                      /* 0x080 */
    struct vmcb_seg tr;                        /* 0x090 */
    uint8_t reserved_0a0[0x0cb - 0x0a0];
    uint8_t cpl;                               /* 0x0cb */
    uint8_t reserved_0cc[4];
    uint64_t efer;                             /* 0x0d0 */
    uint8_t reserved_0d8[0x148 - 0x0d8];
    uint64_t cr4;                              /* 0x148 */
    uint64_t cr3;                              /* 0x150 */
    uint64_t cr0;                              /* 0x158 */
    uint64_t dr7;                              /* 0x160 */
    uint64_t dr6;                              /* 0x168 */
    uint64_t rflags;                           /* 0x170 */
    uint64_t rip;                              /* 0x178 */
    uint8_t reserved_180[0x1d8 - 0x180];
    uint64_t rsp;                              /* 0x1d8 */
    uint64_t s_cet;                            /* 0x1e0 */
    uint64_t ssp;                              /* 0x1e8 */
    uint64_t isst_addr;                        /* 0x1f0 */
    uint64_t rax;                              /* 0x1f8 */
    uint64_t star;                             /* 0x200 */
    uint64_t lstar;                            /* 0x208 */
    uint64_t cstar;                            /* 0x210 */
    uint64_t sfmask;                           /* 0x218 */
    uint64_t kernel_gs_base;                   /* 0x220 */
    uint64_t sysenter_cs;                      /* 0x228 */
    uint64_t sysenter_esp;                     /* 0x230 */
    uint64_t sysenter_eip;                     /* 0x238 */
    uint64_t cr2;                              /* 0x240 */
    uint8_t reserved_248[0x268 - 0x248];
    uint64_t g_pat;                            /* 0x268 */
    uint64_t dbgctl;                           /* 0x270 */
    uint64_t br_from;                          /* 0x278 */
    uint64_t br_to;                            /* 0x280 */
    uint64_t last_excp_from;                   /* 0x288 */
    uint64_t last_excp_to;                     /* 0x290 */
    uint8_t reserved_298[0xc00 - 0x298];
};

struct vmcb {
    struct vmcb_control_area control;          /* 0x000 */
    struct vmcb_save_area save;                /* 0x400 */
};

#define VMCB_ASSERT_CTL(field, off) \
    _Static_assert(offsetof(struct vmcb_control_area, field) == (off), "VMCB control." #field)
#define VMCB_ASSERT_SAVE(field, off) \
    _Static_assert(offsetof(struct vmcb_save_area, field) == (off), "VMCB save." #field)

VMCB_ASSERT_CTL(intercepts, 0x000);
VMCB_ASSERT_CTL(pause_filter_thresh, 0x03c);
VMCB_ASSERT_CTL(iopm_base_pa, 0x040);
VMCB_ASSERT_CTL(msrpm_base_pa, 0x048);
VMCB_ASSERT_CTL(tsc_offset, 0x050);
VMCB_ASSERT_CTL(asid, 0x058);
VMCB_ASSERT_CTL(tlb_ctl, 0x05c);
VMCB_ASSERT_CTL(int_ctl, 0x060);
VMCB_ASSERT_CTL(int_vector, 0x064);
VMCB_ASSERT_CTL(int_state, 0x068);
VMCB_ASSERT_CTL(exit_code, 0x070);
VMCB_ASSERT_CTL(exit_info_1, 0x078);
VMCB_ASSERT_CTL(exit_info_2, 0x080);
VMCB_ASSERT_CTL(exit_int_info, 0x088);
VMCB_ASSERT_CTL(exit_int_info_err, 0x08c);
VMCB_ASSERT_CTL(nested_ctl, 0x090);
VMCB_ASSERT_CTL(event_inj, 0x0a8);
VMCB_ASSERT_CTL(event_inj_err, 0x0ac);
VMCB_ASSERT_CTL(nested_cr3, 0x0b0);
VMCB_ASSERT_CTL(virt_ext, 0x0b8);
VMCB_ASSERT_CTL(clean, 0x0c0);
VMCB_ASSERT_CTL(next_rip, 0x0c8);
VMCB_ASSERT_CTL(insn_len, 0x0d0);
VMCB_ASSERT_CTL(insn_bytes, 0x0d1);
_Static_assert(sizeof(struct vmcb_control_area) == 0x400, "VMCB control area size");

_Static_assert(sizeof(struct vmcb_seg) == 16, "VMCB segment size");
VMCB_ASSERT_SAVE(es, 0x000);
VMCB_ASSERT_SAVE(cs, 0x010);
VMCB_ASSERT_SAVE(ss, 0x020);
VMCB_ASSERT_SAVE(ds, 0x030);
VMCB_ASSERT_SAVE(fs, 0x040);
VMCB_ASSERT_SAVE(gs, 0x050);
VMCB_ASSERT_SAVE(gdtr, 0x060);
VMCB_ASSERT_SAVE(ldtr, 0x070);
VMCB_ASSERT_SAVE(idtr, 0x080);
VMCB_ASSERT_SAVE(tr, 0x090);
VMCB_ASSERT_SAVE(cpl, 0x0cb);
VMCB_ASSERT_SAVE(efer, 0x0d0);
VMCB_ASSERT_SAVE(cr4, 0x148);
VMCB_ASSERT_SAVE(cr3, 0x150);
VMCB_ASSERT_SAVE(cr0, 0x158);
VMCB_ASSERT_SAVE(dr7, 0x160);
VMCB_ASSERT_SAVE(dr6, 0x168);
VMCB_ASSERT_SAVE(rflags, 0x170);
VMCB_ASSERT_SAVE(rip, 0x178);
VMCB_ASSERT_SAVE(rsp, 0x1d8);
VMCB_ASSERT_SAVE(rax, 0x1f8);
VMCB_ASSERT_SAVE(star, 0x200);
VMCB_ASSERT_SAVE(lstar, 0x208);
VMCB_ASSERT_SAVE(cstar, 0x210);
VMCB_ASSERT_SAVE(sfmask, 0x218);
VMCB_ASSERT_SAVE(kernel_gs_base, 0x220);
VMCB_ASSERT_SAVE(sysenter_cs, 0x228);
VMCB_ASSERT_SAVE(sysenter_esp, 0x230);
VMCB_ASSERT_SAVE(sysenter_eip, 0x238);
VMCB_ASSERT_SAVE(cr2, 0x240);
VMCB_ASSERT_SAVE(g_pat, 0x268);
VMCB_ASSERT_SAVE(dbgctl, 0x270);
_Static_assert(sizeof(struct vmcb_save_area) == 0xc00, "VMCB save area size");
_Static_assert(offsetof(struct vmcb, save) == 0x400, "VMCB save area offset");
_Static_assert(sizeof(struct vmcb) == 4096, "VMCB size");

/* Segment attribute bits (vmcb_seg.attrib). */
#define VMCB_ATTR_TYPE_MASK 0x000f
#define VMCB_ATTR_S         0x0010
#define VMCB_ATTR_DPL_SHIFT 5
#define VMCB_ATTR_DPL_MASK  0x0060
#define VMCB_ATTR_P         0x0080
#define VMCB_ATTR_AVL       0x0100
#define VMCB_ATTR_L         0x0200
#define VMCB_ATTR_DB        0x0400
#define VMCB_ATTR_G         0x0800

/* EVENTINJ and EXITINTINFO:
 *   63........32 | 31 | 30..12 | 11 | 10..8 | 7..0
 *   error code   | V  |  rsvd  | EV | type  | vector
 */
#define SVM_EVTINJ_VEC_MASK   0xffu
#define SVM_EVTINJ_TYPE_SHIFT 8
#define SVM_EVTINJ_TYPE_MASK  (7u << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_INTR  (0u << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_NMI   (2u << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_EXEPT (3u << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_SOFT  (4u << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_VALID_ERR  (1u << 11)
#define SVM_EVTINJ_VALID      (1u << 31)

/* IOIO exit_info_1:
 *   31..16 | 15..13 | 12..10 | 9..7      | 6..4      | 3   | 2   | 1 | 0
 *   port   | rsvd   | seg    | addr size | data size | REP | STR | 0 | TYPE (1 = IN)
 * address size one-hot: bit 7 = 16, 8 = 32, 9 = 64; data size one-hot: 4 = 8-bit,
 * 5 = 16-bit, 6 = 32-bit. */
#define SVM_IOIO_TYPE_IN    (1u << 0)
#define SVM_IOIO_STR        (1u << 2)
#define SVM_IOIO_REP        (1u << 3)
#define SVM_IOIO_SIZE_SHIFT 4
#define SVM_IOIO_ASIZE_SHIFT 7
#define SVM_IOIO_SEG_SHIFT  10
#define SVM_IOIO_PORT_SHIFT 16

#define SVM_NESTED_CTL_NP_ENABLE (1ull << 0)
#define SVM_NESTED_CTL_GMET      (1ull << 3)
#define SVM_VIRT_EXT_LBR_ENABLE  (1ull << 0)
#define SVM_VIRT_EXT_VLS_ENABLE  (1ull << 1)
#define SVM_INT_CTL_V_TPR_MASK   0xfu        /* bits 3:0 (7:4 SBZ) */
#define SVM_INT_CTL_V_IRQ        (1u << 8)
#define SVM_INT_CTL_V_GIF        (1u << 9)
#define SVM_INT_CTL_V_INTR_PRIO_SHIFT 16
#define SVM_INT_CTL_V_INTR_PRIO_MASK (0xfu << 16)
#define SVM_INT_CTL_V_IGN_TPR    (1u << 20)
#define SVM_INT_CTL_V_INTR_MASKING (1u << 24)
#define SVM_INT_CTL_V_GIF_ENABLE (1u << 25)
#define SVM_INT_STATE_SHADOW     (1u << 0)

/* Sizes of the permission maps: IOPM covers 64 Ki ports plus one byte for
 * accesses that wrap past 0xFFFF; MSRPM has two bits per MSR in three ranges. */
#define SVM_IOPM_SIZE  (3 * 4096)
#define SVM_MSRPM_SIZE (2 * 4096)

#endif
