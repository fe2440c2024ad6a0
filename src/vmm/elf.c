/* elf.c — the checked ELF loader (see elf.h).
 *
 * Owns: parsing and validating a little-endian ET_EXEC image, ELF64 x86-64
 * or (for multiboot images) ELF32 i386, and copying its PT_LOAD segments
 * into guest RAM per DESIGN.md "Boot protocol" (p_paddr, bss zeroed, never
 * over the boot area 0x1000-0x7fff or the caller's other areas).
 * Must not: write CPU state or the boot area, or trust any field of the
 * image: every offset, size and address is checked with arithmetic that
 * cannot wrap before it is used, and all segments are checked before the
 * first byte is copied.
 *
 * Fields are read byte by byte as little-endian (System V gABI, ELF-64
 * Object File Format 1.5; the ELF32 layouts of the gABI's "Object Files"),
 * so the host's endianness and alignment never matter. The two classes
 * differ only in field offsets and widths (struct elf_layout); every check
 * is written once. Constants are the gABI's, prefixed ELF_ to stay clear of
 * <elf.h>.
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
#define ELF_DATA2LSB   1
#define ELF_DATA2MSB   2
#define ELF_EV_CURRENT 1

#define ELF_ET_EXEC   2
#define ELF_EM_386    3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD   1
#define ELF_PN_XNUM   0xffff

/* Elf64_Ehdr/Elf32_Ehdr fields at the same offset in both */
#define ELF_EHDR_TYPE    16
#define ELF_EHDR_MACHINE 18
#define ELF_EHDR_VERSION 20
#define ELF_PHDR_TYPE    0

/* What differs between the classes: offsets and widths of the fields the
 * loader reads (gABI Elf64_Ehdr/Elf64_Phdr, Elf32_Ehdr/Elf32_Phdr). */
struct elf_layout {
    uint8_t class;                      /* e_ident[EI_CLASS] */
    const char *class_name;
    uint16_t machine;
    const char *machine_name;
    unsigned word;                      /* bytes of an address or offset: 8 or 4 */
    unsigned e_entry, e_phoff, e_phentsize, e_phnum, ehdr_size;
    unsigned p_offset, p_paddr, p_filesz, p_memsz, phdr_size;
    const char *phdr_name;
    uint64_t addr_max;                  /* the last address a segment may reach */
    const char *addr_end;               /* "2^64" */
};

static const struct elf_layout elf64_layout = {
    .class = 2, .class_name = "ELFCLASS64", .machine = ELF_EM_X86_64, .machine_name = "EM_X86_64",
    .word = 8, .e_entry = 24, .e_phoff = 32, .e_phentsize = 54, .e_phnum = 56, .ehdr_size = 64,
    .p_offset = 8, .p_paddr = 24, .p_filesz = 32, .p_memsz = 40, .phdr_size = 56,
    .phdr_name = "Elf64_Phdr", .addr_max = UINT64_MAX, .addr_end = "2^64",
};

static const struct elf_layout elf32_layout = {
    .class = 1, .class_name = "ELFCLASS32", .machine = ELF_EM_386, .machine_name = "EM_386",
    .word = 4, .e_entry = 24, .e_phoff = 28, .e_phentsize = 42, .e_phnum = 44, .ehdr_size = 52,
    .p_offset = 4, .p_paddr = 12, .p_filesz = 16, .p_memsz = 20, .phdr_size = 32,
    .phdr_name = "Elf32_Phdr", .addr_max = UINT32_MAX, .addr_end = "2^32",
};

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

/* An address or offset of the image's class. */
static uint64_t rdword(const struct elf_layout *l, const uint8_t *p)
{
    return l->word == 8 ? rd64(p) : rd32(p);
}

/* Writes "<name>: <message>" to err and returns -1. Control characters (a
 * newline in a hostile file name) become '?' so the message stays one line. */
int elf_fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
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
static int check_ehdr(const struct elf_layout *l, const uint8_t *b, size_t len, const char *name,
                      uint64_t *phoff, unsigned *phnum, char *err, size_t errlen)
{
    static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };

    if (len == 0 || memcmp(b, magic, len < 4 ? len : 4) != 0)
        return elf_fail(err, errlen, name, "not an ELF file (bad magic at offset 0)");
    if (len > ELF_EI_CLASS && b[ELF_EI_CLASS] != l->class) {
        uint8_t c = b[ELF_EI_CLASS];
        const char *cn = c == elf32_layout.class ? " (ELFCLASS32)"
                         : c == elf64_layout.class ? " (ELFCLASS64)" : "";
        return elf_fail(err, errlen, name, "e_ident[EI_CLASS] is %u%s, expected %u (%s)", c, cn,
                        l->class, l->class_name);
    }
    if (len > ELF_EI_DATA && b[ELF_EI_DATA] != ELF_DATA2LSB)
        return elf_fail(err, errlen, name, "e_ident[EI_DATA] is %u%s, expected 1 (ELFDATA2LSB)",
                        b[ELF_EI_DATA], b[ELF_EI_DATA] == ELF_DATA2MSB ? " (ELFDATA2MSB)" : "");
    if (len > ELF_EI_VERSION && b[ELF_EI_VERSION] != ELF_EV_CURRENT)
        return elf_fail(err, errlen, name, "e_ident[EI_VERSION] is %u, expected 1 (EV_CURRENT)",
                        b[ELF_EI_VERSION]);
    if (len < l->ehdr_size)
        return elf_fail(err, errlen, name,
                        "truncated: ELF header needs 0x%x bytes, file has 0x%zx", l->ehdr_size, len);

    uint16_t type = rd16(b + ELF_EHDR_TYPE);
    if (type != ELF_ET_EXEC) {
        const char *tn = type_name(type);
        return elf_fail(err, errlen, name, "e_type is %u%s%s%s, expected 2 (ET_EXEC)", type,
                        tn ? " (" : "", tn ? tn : "", tn ? ")" : "");
    }
    uint16_t machine = rd16(b + ELF_EHDR_MACHINE);
    if (machine != l->machine) {
        const char *mn = machine_name(machine);
        return elf_fail(err, errlen, name, "e_machine is %u%s%s%s, expected %u (%s)", machine,
                        mn ? " (" : "", mn ? mn : "", mn ? ")" : "", l->machine, l->machine_name);
    }
    uint32_t version = rd32(b + ELF_EHDR_VERSION);
    if (version != ELF_EV_CURRENT)
        return elf_fail(err, errlen, name, "e_version is %u, expected 1 (EV_CURRENT)", version);

    uint16_t n = rd16(b + l->e_phnum);
    uint64_t off = rdword(l, b + l->e_phoff);
    if (n == ELF_PN_XNUM)
        return elf_fail(err, errlen, name,
                        "e_phnum is 0xffff (PN_XNUM): extended program header numbering is not supported");
    if (n == 0)
        return elf_fail(err, errlen, name, "no PT_LOAD segment (e_phnum is 0)");
    uint16_t entsize = rd16(b + l->e_phentsize);
    if (entsize != l->phdr_size)
        return elf_fail(err, errlen, name, "e_phentsize is 0x%x, expected 0x%x (sizeof(%s))",
                        entsize, l->phdr_size, l->phdr_name);
    uint64_t need = (uint64_t)n * l->phdr_size; /* at most 0xfffe * 56: no wrap */
    if (off > len || need > len - off)
        return elf_fail(err, errlen, name,
                        "truncated: program header table at offset 0x%llx needs 0x%llx bytes, file has 0x%zx",
                        (unsigned long long)off, (unsigned long long)need, len);
    *phoff = off;
    *phnum = n;
    return 0;
}

/* Checks program header i, a PT_LOAD, on its own. Fills *s. */
static int check_load(const struct gmem *mem, const struct elf_layout *l,
                      const struct elf_load_opts *o, const uint8_t *ph, unsigned i, size_t len,
                      const char *name, struct elf_seg *s, char *err, size_t errlen)
{
    uint64_t off = rdword(l, ph + l->p_offset);
    uint64_t paddr = rdword(l, ph + l->p_paddr);
    uint64_t filesz = rdword(l, ph + l->p_filesz);
    uint64_t memsz = rdword(l, ph + l->p_memsz);

    if (filesz > memsz)
        return elf_fail(err, errlen, name,
                        "program header %u (PT_LOAD): p_filesz 0x%llx is larger than p_memsz 0x%llx",
                        i, (unsigned long long)filesz, (unsigned long long)memsz);
    if (off > len || filesz > len - off)
        return elf_fail(err, errlen, name,
                        "program header %u (PT_LOAD): p_offset 0x%llx + p_filesz 0x%llx runs past the end of the file (0x%zx bytes)",
                        i, (unsigned long long)off, (unsigned long long)filesz, len);
    *s = (struct elf_seg){ .index = i, .offset = off, .filesz = filesz, .memsz = memsz };
    if (memsz == 0)
        return 0; /* occupies no memory: nothing to place */
    /* memsz <= addr_max (a field of the class's width): memsz - 1 cannot wrap */
    if (paddr > l->addr_max - (memsz - 1))
        return elf_fail(err, errlen, name,
                        "program header %u (PT_LOAD): p_paddr 0x%llx + p_memsz 0x%llx wraps past %s", i,
                        (unsigned long long)paddr, (unsigned long long)memsz, l->addr_end);
    uint64_t last = paddr + (memsz - 1);
    if (!gmem_is_ram(mem, paddr, memsz))
        return elf_fail(err, errlen, name,
                        "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx is not inside RAM 0x0-0x%llx",
                        i, (unsigned long long)paddr, (unsigned long long)last,
                        (unsigned long long)(mem->size ? mem->size - 1 : 0));
    const struct elf_area boot = { ELF_BOOT_AREA_START, ELF_BOOT_AREA_END, "boot area" };
    for (size_t k = 0; k <= o->n_areas; k++) {
        const struct elf_area *a = k == 0 ? &boot : &o->areas[k - 1];
        if (paddr <= a->last && last >= a->start)
            return elf_fail(err, errlen, name,
                            "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx overlaps the %s 0x%llx-0x%llx",
                            i, (unsigned long long)paddr, (unsigned long long)last, a->what,
                            (unsigned long long)a->start, (unsigned long long)a->last);
    }
    s->start = paddr;
    s->last = last;
    return 0;
}

/* Two segments over the same bytes would make the result depend on copy
 * order (one's bss zeroing the other's data): refuse. Sorted by start, any
 * overlap shows between neighbours. */
static int check_overlaps(const struct elf_seg *segs, unsigned nload, const char *name, char *err,
                          size_t errlen)
{
    struct elf_seg *sorted = malloc(nload * sizeof *sorted);
    if (!sorted)
        return elf_fail(err, errlen, name, "out of memory checking %u segments", nload);
    memcpy(sorted, segs, nload * sizeof *sorted);
    qsort(sorted, nload, sizeof *sorted, seg_cmp);
    const struct elf_seg *prev = NULL;
    int rc = 0;
    for (unsigned k = 0; k < nload && rc == 0; k++) {
        const struct elf_seg *s = &sorted[k];
        if (s->memsz == 0)
            continue;
        if (prev && s->start <= prev->last) {
            const struct elf_seg *hi = s->index > prev->index ? s : prev;
            const struct elf_seg *lo = hi == s ? prev : s;
            rc = elf_fail(err, errlen, name,
                          "program header %u (PT_LOAD): p_paddr 0x%llx..0x%llx overlaps program header %u (PT_LOAD) at 0x%llx..0x%llx",
                          hi->index, (unsigned long long)hi->start, (unsigned long long)hi->last,
                          lo->index, (unsigned long long)lo->start, (unsigned long long)lo->last);
        }
        if (!prev || s->last > prev->last)
            prev = s;
    }
    free(sorted);
    return rc;
}

int elf_load_with(struct gmem *mem, const void *buf, size_t len, const char *name,
                  const struct elf_load_opts *opts, uint64_t *entry, char *err, size_t errlen)
{
    static const struct elf_load_opts defaults = { .elf32 = false };
    const struct elf_load_opts *o = opts ? opts : &defaults;
    const struct elf_layout *l = o->elf32 ? &elf32_layout : &elf64_layout;
    const uint8_t *b = buf;
    uint64_t phoff = 0;
    unsigned phnum = 0;

    if (err && errlen)
        err[0] = '\0';
    if (!b)
        len = 0;
    if (check_ehdr(l, b, len, name, &phoff, &phnum, err, errlen) != 0)
        return -1;

    struct elf_seg *segs = malloc(phnum * sizeof *segs);
    if (!segs)
        return elf_fail(err, errlen, name, "out of memory reading %u program headers", phnum);
    unsigned nload = 0;
    int rc = -1;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (uint64_t)i * l->phdr_size;
        if (rd32(ph + ELF_PHDR_TYPE) != ELF_PT_LOAD)
            continue; /* PT_NOTE, PT_GNU_STACK, ...: nothing to load */
        if (check_load(mem, l, o, ph, i, len, name, &segs[nload], err, errlen) != 0)
            goto out;
        nload++;
    }
    if (nload == 0) {
        elf_fail(err, errlen, name, "no PT_LOAD segment (e_phnum is %u)", phnum);
        goto out;
    }
    if (check_overlaps(segs, nload, name, err, errlen) != 0)
        goto out;

    /* RIP = e_entry with paging 1:1 (ELF64) or off (multiboot), so the
     * entry must be a loaded guest-physical byte. */
    uint64_t e = rdword(l, b + l->e_entry);
    bool inside = false;
    for (unsigned k = 0; k < nload && !inside; k++)
        inside = segs[k].memsz != 0 && e >= segs[k].start && e <= segs[k].last;
    if (!inside) {
        elf_fail(err, errlen, name, "e_entry 0x%llx is not inside any PT_LOAD segment",
                 (unsigned long long)e);
        goto out;
    }

    /* Everything checked: now copy. */
    for (unsigned k = 0; k < nload && !o->check_only; k++) {
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

int elf_load(struct gmem *mem, const void *buf, size_t len, const char *name, uint64_t *entry,
             char *err, size_t errlen)
{
    return elf_load_with(mem, buf, len, name, NULL, entry, err, errlen);
}

#define ELF_HEADER_BYTES 64 /* Elf64_Ehdr, more than Elf32_Ehdr */

int elf_read_file(const char *path, uint64_t max, const char *max_what, bool elf_first,
                  uint8_t **data_out, size_t *len_out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    /* O_NONBLOCK: a FIFO or a device must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return elf_fail(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return elf_fail(err, errlen, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return elf_fail(err, errlen, path, "not a regular file");
    }
    if (elf_first && (uint64_t)st.st_size > ELF_FILE_MAX) {
        close(fd);
        return elf_fail(err, errlen, path, "file is 0x%llx bytes, more than the 0x%llx an image may have",
                        (unsigned long long)st.st_size, ELF_FILE_MAX);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return elf_fail(err, errlen, path, "file is 0x%llx bytes, larger than the 0x%llx %s",
                        (unsigned long long)st.st_size, (unsigned long long)max, max_what);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return elf_fail(err, errlen, path, "out of memory reading 0x%zx bytes", size);
    }
    /* The ELF header first: a file that is no ELF image is refused before
     * the rest is read. */
    size_t got = 0;
    int rerr = 0;
    size_t want = !elf_first || size < ELF_HEADER_BYTES ? size : ELF_HEADER_BYTES;
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
        if (got == want && want < size) {
            if (memcmp(data, "\x7f" "ELF", 4) != 0)
                break;
            want = size;
        }
    }
    close(fd);
    if (rerr) {
        free(data);
        return elf_fail(err, errlen, path, "cannot read: %s", strerror(rerr));
    }
    *data_out = data;
    *len_out = got;
    return 0;
}

int elf_load_file(struct gmem *mem, const char *path, uint64_t *entry, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    if (elf_read_file(path, mem->size, "bytes of RAM", true, &data, &len, err, errlen) != 0)
        return -1;
    int rc = elf_load(mem, data, len, path, entry, err, errlen);
    free(data);
    return rc;
}
