/* elf.c — the checked ELF64 loader (see elf.h).
 *
 * Owns: parsing and validating an ELF64 little-endian x86-64 ET_EXEC image,
 * and copying its PT_LOAD segments into guest RAM per DESIGN.md "Boot
 * protocol" (p_paddr, bss zeroed, never over the boot area 0x1000-0x7fff).
 * Must not: write CPU state or the boot area, or trust any field of the
 * image: every offset, size and address is checked with arithmetic that
 * cannot wrap before it is used, and all segments are checked before the
 * first byte is copied.
 *
 * Fields are read byte by byte as little-endian (System V gABI, ELF-64
 * Object File Format 1.5), so the host's endianness and alignment never
 * matter. Constants are the gABI's, prefixed ELF_ to stay clear of <elf.h>.
 */
#include "vmm/elf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"

/* e_ident */
#define ELF_EI_CLASS   4
#define ELF_EI_DATA    5
#define ELF_EI_VERSION 6
#define ELF_CLASS32    1
#define ELF_CLASS64    2
#define ELF_DATA2LSB   1
#define ELF_DATA2MSB   2
#define ELF_EV_CURRENT 1

/* Elf64_Ehdr field offsets */
#define ELF_EHDR_TYPE      16
#define ELF_EHDR_MACHINE   18
#define ELF_EHDR_VERSION   20
#define ELF_EHDR_ENTRY     24
#define ELF_EHDR_PHOFF     32
#define ELF_EHDR_PHENTSIZE 54
#define ELF_EHDR_PHNUM     56
#define ELF_EHDR_SIZE      64

/* Elf64_Phdr field offsets */
#define ELF_PHDR_TYPE   0
#define ELF_PHDR_OFFSET 8
#define ELF_PHDR_PADDR  24
#define ELF_PHDR_FILESZ 32
#define ELF_PHDR_MEMSZ  40
#define ELF_PHDR_SIZE   56

#define ELF_ET_EXEC   2
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD   1
#define ELF_PN_XNUM   0xffff

/* An image larger than this is not a guest program (and not worth a malloc). */
#define ELF_FILE_MAX (1ull << 30)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Writes "<name>: <message>" to err and returns -1. Control characters (a
 * newline in a hostile file name) become '?' so the message stays one line. */
__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "%s: ", name ? name : "image");
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return -1;
}

static const char *machine_name(uint16_t m)
{
    switch (m) {
    case 0: return "EM_NONE";
    case 2: return "EM_SPARC";
    case 3: return "EM_386";
    case 8: return "EM_MIPS";
    case 20: return "EM_PPC";
    case 21: return "EM_PPC64";
    case 22: return "EM_S390";
    case 40: return "EM_ARM";
    case 43: return "EM_SPARCV9";
    case 50: return "EM_IA_64";
    case 62: return "EM_X86_64";
    case 183: return "EM_AARCH64";
    case 243: return "EM_RISCV";
    case 258: return "EM_LOONGARCH";
    default: return NULL;
    }
}

static const char *type_name(uint16_t t)
{
    switch (t) {
    case 0: return "ET_NONE";
    case 1: return "ET_REL";
    case 2: return "ET_EXEC";
    case 3: return "ET_DYN";
    case 4: return "ET_CORE";
    default: return NULL;
    }
}

/* One PT_LOAD after validation: guest-physical [start, last], both inclusive. */
struct elf_seg {
    unsigned index;                    /* program header number */
    uint64_t offset, filesz, memsz;
    uint64_t start, last;
};

static int seg_cmp(const void *a, const void *b)
{
    const struct elf_seg *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Checks the ELF header; on success *phoff and *phnum describe a program header
 * table that lies entirely inside the file. */
static int check_ehdr(const uint8_t *b, size_t len, const char *name, uint64_t *phoff,
                      unsigned *phnum, char *err, size_t errlen)
{
    static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };

    if (len == 0 || memcmp(b, magic, len < 4 ? len : 4) != 0)
        return fail(err, errlen, name, "not an ELF file (bad magic at offset 0)");
    if (len > ELF_EI_CLASS && b[ELF_EI_CLASS] != ELF_CLASS64)
        return fail(err, errlen, name, "e_ident[EI_CLASS] is %u%s, expected 2 (ELFCLASS64)",
                    b[ELF_EI_CLASS], b[ELF_EI_CLASS] == ELF_CLASS32 ? " (ELFCLASS32)" : "");
    if (len > ELF_EI_DATA && b[ELF_EI_DATA] != ELF_DATA2LSB)
        return fail(err, errlen, name, "e_ident[EI_DATA] is %u%s, expected 1 (ELFDATA2LSB)",
                    b[ELF_EI_DATA], b[ELF_EI_DATA] == ELF_DATA2MSB ? " (ELFDATA2MSB)" : "");
    if (len > ELF_EI_VERSION && b[ELF_EI_VERSION] != ELF_EV_CURRENT)
        return fail(err, errlen, name, "e_ident[EI_VERSION] is %u, expected 1 (EV_CURRENT)",
                    b[ELF_EI_VERSION]);
    if (len < ELF_EHDR_SIZE)
        return fail(err, errlen, name, "truncated: ELF header needs 0x%x bytes, file has 0x%zx",
                    ELF_EHDR_SIZE, len);

    uint16_t type = rd16(b + ELF_EHDR_TYPE);
    if (type != ELF_ET_EXEC) {
        const char *tn = type_name(type);
        return fail(err, errlen, name, "e_type is %u%s%s%s, expected 2 (ET_EXEC)", type,
                    tn ? " (" : "", tn ? tn : "", tn ? ")" : "");
    }
    uint16_t machine = rd16(b + ELF_EHDR_MACHINE);
    if (machine != ELF_EM_X86_64) {
        const char *mn = machine_name(machine);
        return fail(err, errlen, name, "e_machine is %u%s%s%s, expected 62 (EM_X86_64)", machine,
                    mn ? " (" : "", mn ? mn : "", mn ? ")" : "");
    }
    uint32_t version = rd32(b + ELF_EHDR_VERSION);
    if (version != ELF_EV_CURRENT)
        return fail(err, errlen, name, "e_version is %u, expected 1 (EV_CURRENT)", version);

    uint16_t n = rd16(b + ELF_EHDR_PHNUM);
    uint64_t off = rd64(b + ELF_EHDR_PHOFF);
    if (n == ELF_PN_XNUM)
        return fail(err, errlen, name,
                    "e_phnum is 0xffff (PN_XNUM): extended program header numbering is not supported");
    if (n == 0)
        return fail(err, errlen, name, "no PT_LOAD segment (e_phnum is 0)");
    uint16_t entsize = rd16(b + ELF_EHDR_PHENTSIZE);
    if (entsize != ELF_PHDR_SIZE)
        return fail(err, errlen, name, "e_phentsize is 0x%x, expected 0x%x (sizeof(Elf64_Phdr))",
                    entsize, ELF_PHDR_SIZE);
    uint64_t need = (uint64_t)n * ELF_PHDR_SIZE; /* at most 0xfffe * 56: no wrap */
    if (off > len || need > len - off)
        return fail(err, errlen, name,
                    "truncated: program header table at offset 0x%llx needs 0x%llx bytes, file has 0x%zx",
                    (unsigned long long)off, (unsigned long long)need, len);
    *phoff = off;
    *phnum = n;
    return 0;
}

/* Checks program header i, a PT_LOAD, on its own. Fills *s. */
static int check_load(const struct gmem *mem, const uint8_t *ph, unsigned i, size_t len,
                      const char *name, struct elf_seg *s, char *err, size_t errlen)
{
    uint64_t off = rd64(ph + ELF_PHDR_OFFSET);
    uint64_t paddr = rd64(ph + ELF_PHDR_PADDR);
    uint64_t filesz = rd64(ph + ELF_PHDR_FILESZ);
    uint64_t memsz = rd64(ph + ELF_PHDR_MEMSZ);

    if (filesz > memsz)
        return fail(err, errlen, name,
                    "program header %u (PT_LOAD): p_filesz 0x%llx is larger than p_memsz 0x%llx", i,
                    (unsigned long long)filesz, (unsigned long long)memsz);
    if (off > len || filesz > len - off)
        return fail(err, errlen, name,
                    "program header %u (PT_LOAD): p_offset 0x%llx + p_filesz 0x%llx runs past the end of the file (0x%zx bytes)",
                    i, (unsigned long long)off, (unsigned long long)filesz, len);
    *s = (struct elf_seg){ .index = i, .offset = off, .filesz = filesz, .memsz = memsz };
    if (memsz == 0)
        return 0; /* occupies no memory: nothing to place */
    if (paddr > UINT64_MAX - (memsz - 1))
        return fail(err, errlen, name,
                    "program header %u (PT_LOAD): p_paddr 0x%llx + p_memsz 0x%llx wraps past 2^64", i,
                    (unsigned long long)paddr, (unsigned long long)memsz);
    uint64_t last = paddr + (memsz - 1);
    if (!gmem_is_ram(mem, paddr, memsz))
        return fail(err, errlen, name,
                    "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx is not inside RAM 0x0-0x%llx", i,
                    (unsigned long long)paddr, (unsigned long long)last,
                    (unsigned long long)(mem->size ? mem->size - 1 : 0));
    if (paddr <= ELF_BOOT_AREA_END && last >= ELF_BOOT_AREA_START)
        return fail(err, errlen, name,
                    "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx overlaps the boot area 0x%llx-0x%llx",
                    i, (unsigned long long)paddr, (unsigned long long)last, ELF_BOOT_AREA_START,
                    ELF_BOOT_AREA_END);
    s->start = paddr;
    s->last = last;
    return 0;
}

int elf_load(struct gmem *mem, const void *buf, size_t len, const char *name, uint64_t *entry,
             char *err, size_t errlen)
{
    const uint8_t *b = buf;
    uint64_t phoff = 0;
    unsigned phnum = 0;

    if (err && errlen)
        err[0] = '\0';
    if (!b)
        len = 0;
    if (check_ehdr(b, len, name, &phoff, &phnum, err, errlen) != 0)
        return -1;

    struct elf_seg *segs = malloc(phnum * sizeof *segs);
    if (!segs)
        return fail(err, errlen, name, "out of memory reading %u program headers", phnum);
    unsigned nload = 0;
    int rc = -1;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (uint64_t)i * ELF_PHDR_SIZE;
        if (rd32(ph + ELF_PHDR_TYPE) != ELF_PT_LOAD)
            continue; /* PT_NOTE, PT_GNU_STACK, ...: nothing to load */
        if (check_load(mem, ph, i, len, name, &segs[nload], err, errlen) != 0)
            goto out;
        nload++;
    }
    if (nload == 0) {
        fail(err, errlen, name, "no PT_LOAD segment (e_phnum is %u)", phnum);
        goto out;
    }

    /* Two segments over the same bytes would make the result depend on copy
     * order (one's bss zeroing the other's data): refuse. Sorted by start,
     * any overlap shows between neighbours. */
    struct elf_seg *sorted = malloc(nload * sizeof *sorted);
    if (!sorted) {
        fail(err, errlen, name, "out of memory checking %u segments", nload);
        goto out;
    }
    memcpy(sorted, segs, nload * sizeof *sorted);
    qsort(sorted, nload, sizeof *sorted, seg_cmp);
    const struct elf_seg *prev = NULL;
    for (unsigned k = 0; k < nload; k++) {
        const struct elf_seg *s = &sorted[k];
        if (s->memsz == 0)
            continue;
        if (prev && s->start <= prev->last) {
            const struct elf_seg *hi = s->index > prev->index ? s : prev;
            const struct elf_seg *lo = hi == s ? prev : s;
            fail(err, errlen, name,
                 "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx overlaps program header %u (PT_LOAD) at 0x%llx..0x%llx",
                 hi->index, (unsigned long long)hi->start, (unsigned long long)hi->last, lo->index,
                 (unsigned long long)lo->start, (unsigned long long)lo->last);
            free(sorted);
            goto out;
        }
        if (!prev || s->last > prev->last)
            prev = s;
    }
    free(sorted);

    /* RIP = e_entry with paging 1:1 (boot protocol), so the entry must be
     * a loaded guest-physical byte. */
    uint64_t e = rd64(b + ELF_EHDR_ENTRY);
    bool inside = false;
    for (unsigned k = 0; k < nload && !inside; k++)
        inside = segs[k].memsz != 0 && e >= segs[k].start && e <= segs[k].last;
    if (!inside) {
        fail(err, errlen, name, "e_entry 0x%llx is not inside any PT_LOAD segment",
             (unsigned long long)e);
        goto out;
    }

    /* Everything checked: now copy. */
    for (unsigned k = 0; k < nload; k++) {
        const struct elf_seg *s = &segs[k];
        if (s->memsz == 0)
            continue;
        uint8_t *dst = gmem_ptr(mem, s->start, s->memsz);
        memcpy(dst, b + s->offset, (size_t)s->filesz);
        memset(dst + s->filesz, 0, (size_t)(s->memsz - s->filesz));
    }
    if (entry)
        *entry = e;
    rc = 0;
out:
    free(segs);
    return rc;
}

#define ELF_HEADER_BYTES 64 /* Elf64_Ehdr */

int elf_load_file(struct gmem *mem, const char *path, uint64_t *entry, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    /* O_NONBLOCK: a FIFO or a device must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, path, "not a regular file");
    }
    if ((uint64_t)st.st_size > ELF_FILE_MAX) {
        close(fd);
        return fail(err, errlen, path, "file is 0x%llx bytes, more than the 0x%llx an image may have",
                    (unsigned long long)st.st_size, ELF_FILE_MAX);
    }
    if ((uint64_t)st.st_size > mem->size) {
        close(fd);
        return fail(err, errlen, path, "file is 0x%llx bytes, larger than the 0x%llx bytes of RAM",
                    (unsigned long long)st.st_size, (unsigned long long)mem->size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return fail(err, errlen, path, "out of memory reading 0x%zx bytes", size);
    }
    /* The ELF header first: a file that is no ELF image is refused before
     * the rest is read. */
    size_t got = 0;
    int rerr = 0;
    size_t want = size < ELF_HEADER_BYTES ? size : ELF_HEADER_BYTES;
    while (got < size) {
        ssize_t n = read(fd, data + got, want - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rerr = errno;
            break;
        }
        if (n == 0)
            break; /* the file shrank: it reads as truncated */
        got += (size_t)n;
        if (got == want && want == ELF_HEADER_BYTES && want < size) {
            if (memcmp(data, "\x7f" "ELF", 4) != 0)
                break;
            want = size;
        }
    }
    close(fd);
    int rc;
    if (rerr)
        rc = fail(err, errlen, path, "cannot read: %s", strerror(rerr));
    else
        rc = elf_load(mem, data, got, path, entry, err, errlen);
    free(data);
    return rc;
}
