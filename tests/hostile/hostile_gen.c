/* hostile_gen.c — writes COUNT hostile guest images, reproducibly from SEED
 * (issue "Hostile guests"): ELF64 executables loaded at 1 MiB by the boot
 * protocol whose code is one of
 *   0  random bytes
 *   1  random real encodings: system and SVM instructions, port I/O, string
 *      instructions with REP, far transfers, with random register operands
 *   2  page-table and CR3 mutations (random values into the boot page
 *      tables, then a reload of CR3)
 *   3  IDT/IST/TSS mutations (LIDT/LTR of random tables), then faults
 *   4  fault loops (a gate that points back at the faulting instruction)
 * Kinds 0-3 usually start by loading an IDT (in the image) whose handlers
 * step over the faulting byte, so that a fault is not the end but the way
 * on through the bytes that follow.
 * run_hostile.sh runs each under svmsim with --max-insns and a wall limit.
 *
 * usage: hostile_gen SEED COUNT OUTDIR   (writes OUTDIR/hostile-N.elf)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_ADDR 0x100000ull
#define CODE_MAX 0xe00           /* then the handlers, the IDT and its pointer */
#define HANDLER_NOERR 0xe00      /* add qword [rsp], 1; iretq */
#define HANDLER_ERR 0xe80        /* add rsp, 8; add qword [rsp], 1; iretq */
#define IDT_OFF 0x1000           /* 256 gates */
#define IDTR_OFF 0x2000          /* limit, base */
#define IMAGE_SIZE 0x3000

static uint64_t rng_state;

static uint64_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

struct code {
    uint8_t b[CODE_MAX];
    size_t n;
};

static void emit(struct code *c, const uint8_t *bytes, size_t len)
{
    if (c->n + len <= CODE_MAX) {
        memcpy(c->b + c->n, bytes, len);
        c->n += len;
    }
}

static void emit1(struct code *c, uint8_t b) { emit(c, &b, 1); }

static void emit_imm(struct code *c, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        emit1(c, (uint8_t)(v >> (8 * i)));
}

/* mov reg64, imm64 (REX.W B8+r) */
static void mov_imm(struct code *c, unsigned reg, uint64_t v)
{
    emit1(c, (uint8_t)(0x48 | (reg >> 3)));
    emit1(c, (uint8_t)(0xb8 + (reg & 7)));
    emit_imm(c, v, 8);
}

/* A value a hostile guest would like: small, a page, an MSR number, all
 * ones, non-canonical, inside the boot area or the image. */
static uint64_t hostile_value(void)
{
    static const uint64_t interesting[] = {
        0, 1, 0xfff, 0x1000, 0x2000, 0x3000000, 0x4000000, 0x100000, 0x80000, ~0ull,
        0x8000000000000000ull, 0x0000800000000000ull, 0xc0000080, 0xc0010117, 0xc0010114,
        0xc0000102, 0x10, 0x1b, 0x5658, 0x5659, 0xf4, 0x3f8, 0x10000, 0xffffffff,
    };
    switch (rnd() % 3) {
    case 0: return interesting[rnd() % (sizeof(interesting) / sizeof(interesting[0]))];
    case 1: return rnd() & 0xfffff000ull;
    default: return rnd();
    }
}

static const uint8_t *const encodings[] = {
    (const uint8_t *)"\x0f\x01\xd8", (const uint8_t *)"\x0f\x01\xda", (const uint8_t *)"\x0f\x01\xdb",
    (const uint8_t *)"\x0f\x01\xd9", (const uint8_t *)"\x0f\x01\xdc", (const uint8_t *)"\x0f\x01\xdd",
    (const uint8_t *)"\x0f\x01\xde", (const uint8_t *)"\x0f\x01\xdf", (const uint8_t *)"\x0f\x30",
    (const uint8_t *)"\x0f\x32", (const uint8_t *)"\x0f\x22\xd8", (const uint8_t *)"\x0f\x22\xc0",
    (const uint8_t *)"\x0f\x22\xe0", (const uint8_t *)"\x0f\x20\xc0", (const uint8_t *)"\xcf",
    (const uint8_t *)"\x48\xcf", (const uint8_t *)"\xf4", (const uint8_t *)"\xec",
    (const uint8_t *)"\xee", (const uint8_t *)"\xed", (const uint8_t *)"\xef",
    (const uint8_t *)"\xf3\x6c", (const uint8_t *)"\xf3\x6e", (const uint8_t *)"\xf3\xa4",
    (const uint8_t *)"\xf3\xaa", (const uint8_t *)"\xf3\xac", (const uint8_t *)"\xf3\xa6",
    (const uint8_t *)"\x0f\x0b", (const uint8_t *)"\x0f\xa2", (const uint8_t *)"\x0f\x31",
    (const uint8_t *)"\x0f\x33", (const uint8_t *)"\x0f\x01\xf8", (const uint8_t *)"\x0f\x05",
    (const uint8_t *)"\x0f\x07", (const uint8_t *)"\xcc", (const uint8_t *)"\xfa",
    (const uint8_t *)"\xfb", (const uint8_t *)"\x0f\x01\x18", (const uint8_t *)"\x0f\x01\x10",
    (const uint8_t *)"\x0f\x00\x10", (const uint8_t *)"\x0f\x00\x18", (const uint8_t *)"\x8e\xd8",
    (const uint8_t *)"\x8e\xd0", (const uint8_t *)"\xff\x18", (const uint8_t *)"\xff\x28",
    (const uint8_t *)"\x0f\x01\x38", (const uint8_t *)"\x48\xf7\xf1", (const uint8_t *)"\x9d",
    (const uint8_t *)"\x0f\x23\xf8", (const uint8_t *)"\x0f\x06", (const uint8_t *)"\x0f\x09",
};
static const uint8_t lengths[] = {
    3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 3, 3, 3, 3, 1, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 3, 2, 2, 1, 1, 1, 3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 1, 3, 2, 2,
};
_Static_assert(sizeof(encodings) / sizeof(encodings[0]) == sizeof(lengths), "one length each");

static void gen_random_bytes(struct code *c)
{
    size_t n = 16 + rnd() % 512;
    for (size_t i = 0; i < n; i++)
        emit1(c, (uint8_t)rnd());
}

static void gen_encodings(struct code *c)
{
    unsigned n = 8 + (unsigned)(rnd() % 64);
    for (unsigned i = 0; i < n; i++) {
        /* random registers first: RAX RCX RDX RBX RSI RDI, sometimes RSP */
        unsigned regs = (unsigned)(rnd() % 4);
        for (unsigned r = 0; r < regs; r++) {
            unsigned reg = (unsigned)(rnd() % 8);
            if (reg == 4 && rnd() % 4)
                continue;
            mov_imm(c, reg, hostile_value());
        }
        unsigned k = (unsigned)(rnd() % sizeof(lengths));
        emit(c, encodings[k], lengths[k]);
    }
}

static void gen_page_tables(struct code *c)
{
    unsigned n = 1 + (unsigned)(rnd() % 8);
    for (unsigned i = 0; i < n; i++) {
        uint64_t at = 0x2000 + (rnd() % 0x6000) / 8 * 8; /* the boot page tables */
        mov_imm(c, 0, at);                           /* rax = address */
        mov_imm(c, 1, hostile_value() | (rnd() & 0xfff)); /* rcx = value */
        emit(c, (const uint8_t *)"\x48\x89\x08", 3);  /* mov [rax], rcx */
    }
    mov_imm(c, 0, rnd() % 4 ? 0x2000 : hostile_value());
    emit(c, (const uint8_t *)"\x0f\x22\xd8", 3); /* mov cr3, rax */
    gen_encodings(c);
}

static void gen_tables(struct code *c)
{
    /* a 10-byte pseudo-descriptor at 0x90000, then LIDT/LGDT/LTR of it */
    mov_imm(c, 0, 0x90000);
    mov_imm(c, 1, hostile_value());
    emit(c, (const uint8_t *)"\x48\x89\x08", 3);       /* mov [rax], rcx */
    mov_imm(c, 1, hostile_value());
    emit(c, (const uint8_t *)"\x48\x89\x48\x02", 4);   /* mov [rax+2], rcx */
    emit(c, rnd() % 2 ? (const uint8_t *)"\x0f\x01\x18" : (const uint8_t *)"\x0f\x01\x10", 3);
    if (rnd() % 2) {
        mov_imm(c, 0, hostile_value() & 0xffff);
        emit(c, (const uint8_t *)"\x0f\x00\xd8", 3);   /* ltr ax */
    }
    gen_encodings(c);
}

static void gen_fault_loop(struct code *c)
{
    /* An IDT at 0x90000 whose every gate points at 0x100000 + 0x800: ud2 */
    for (unsigned v = 0; v < 32; v++) {
        uint64_t target = LOAD_ADDR + 0x800;
        uint64_t lo = (target & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                      (((target >> 16) & 0xffff) << 48) | ((rnd() % 3 == 0 ? 1ull : 0) << 32);
        mov_imm(c, 0, 0x90000 + v * 16);
        mov_imm(c, 1, lo);
        emit(c, (const uint8_t *)"\x48\x89\x08", 3);
        mov_imm(c, 1, 0);
        emit(c, (const uint8_t *)"\x48\x89\x48\x08", 4);
    }
    mov_imm(c, 0, 0x80000);
    mov_imm(c, 1, 0x900000fffull); /* limit 0xfff, base 0x90000 */
    emit(c, (const uint8_t *)"\x48\x89\x08", 3);
    mov_imm(c, 1, 0);
    emit(c, (const uint8_t *)"\x48\x89\x48\x08", 4);
    emit(c, (const uint8_t *)"\x0f\x01\x18", 3); /* lidt [rax] */
    emit(c, (const uint8_t *)"\x0f\x0b", 2);     /* ud2 */
    while (c->n < 0x800)
        emit1(c, 0x90);
    emit(c, rnd() % 2 ? (const uint8_t *)"\x0f\x0b" : (const uint8_t *)"\x48\xcf", 2);
}

/* lidt [LOAD_ADDR + IDTR_OFF] */
static void emit_lidt(struct code *c)
{
    emit(c, (const uint8_t *)"\x0f\x01\x1c\x25", 4);
    emit_imm(c, LOAD_ADDR + IDTR_OFF, 4);
}

/* The handlers and the IDT that steps over faulting bytes. */
static void write_tables(uint8_t *seg)
{
    static const uint8_t noerr[] = { 0x48, 0x83, 0x04, 0x24, 0x01, 0x48, 0xcf };
    static const uint8_t err[] = { 0x48, 0x83, 0xc4, 0x08, 0x48, 0x83, 0x04, 0x24, 0x01,
                                   0x48, 0xcf };
    memcpy(seg + HANDLER_NOERR, noerr, sizeof(noerr));
    memcpy(seg + HANDLER_ERR, err, sizeof(err));
    for (unsigned v = 0; v < 256; v++) {
        bool has_err = v == 8 || (v >= 10 && v <= 14) || v == 17;
        uint64_t target = LOAD_ADDR + (has_err ? HANDLER_ERR : HANDLER_NOERR);
        uint64_t lo = (target & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                      (((target >> 16) & 0xffff) << 48) | (v == 8 ? 0 : 0);
        memcpy(seg + IDT_OFF + v * 16, &lo, 8);
    }
    uint16_t limit = 256 * 16 - 1;
    uint64_t base = LOAD_ADDR + IDT_OFF;
    memcpy(seg + IDTR_OFF, &limit, 2);
    memcpy(seg + IDTR_OFF + 2, &base, 8);
}

/* An ELF64 executable: one PT_LOAD (RWX) at 1 MiB, the code then the
 * handlers and the IDT. */
static int write_elf(const char *path, const struct code *c)
{
    uint8_t img[120 + IMAGE_SIZE];
    memset(img, 0, sizeof(img));
    static const uint8_t ident[16] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
    memcpy(img, ident, 16);
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
#define PUT(off, v) (memcpy(img + (off), &(v), sizeof(v)))
    u16 = 2; PUT(16, u16);          /* ET_EXEC */
    u16 = 62; PUT(18, u16);         /* EM_X86_64 */
    u32 = 1; PUT(20, u32);
    u64 = LOAD_ADDR; PUT(24, u64);  /* e_entry */
    u64 = 64; PUT(32, u64);         /* e_phoff */
    u16 = 64; PUT(52, u16);         /* e_ehsize */
    u16 = 56; PUT(54, u16);         /* e_phentsize */
    u16 = 1; PUT(56, u16);          /* e_phnum */
    u32 = 1; PUT(64, u32);          /* PT_LOAD */
    u32 = 7; PUT(68, u32);          /* RWX */
    u64 = 120; PUT(72, u64);        /* p_offset */
    u64 = LOAD_ADDR; PUT(80, u64);  /* p_vaddr */
    PUT(88, u64);                   /* p_paddr */
    u64 = IMAGE_SIZE; PUT(96, u64); /* p_filesz */
    PUT(104, u64);                  /* p_memsz */
    u64 = 0x1000; PUT(112, u64);    /* p_align */
#undef PUT
    memcpy(img + 120, c->b, c->n);
    write_tables(img + 120);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t len = sizeof(img);
    int rc = fwrite(img, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: hostile_gen SEED COUNT OUTDIR\n");
        return 64;
    }
    rng_state = strtoull(argv[1], NULL, 0) | 1;
    unsigned long count = strtoul(argv[2], NULL, 0);
    for (unsigned long i = 0; i < count; i++) {
        struct code c = { .n = 0 };
        unsigned kind = (unsigned)(rnd() % 5);
        if (kind < 4 && rnd() % 4)
            emit_lidt(&c);
        switch (kind) {
        case 0: gen_random_bytes(&c); break;
        case 1: gen_encodings(&c); break;
        case 2: gen_page_tables(&c); break;
        case 3: gen_tables(&c); break;
        default: gen_fault_loop(&c); break;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/hostile-%lu-k%u.elf", argv[3], i, kind);
        if (write_elf(path, &c) != 0) {
            fprintf(stderr, "hostile_gen: cannot write %s: %s\n", path, strerror(errno));
            return 74;
        }
    }
    return 0;
}
