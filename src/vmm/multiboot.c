/* multiboot.c — multiboot v1 images (see multiboot.h).
 *
 * Owns: the multiboot header (spec 3.1), the checks the spec asks of a
 * boot loader, and the boot information (spec 3.3) in the multiboot area:
 *
 *   0x90000  info block (88 bytes; EBX)
 *   0x90080  memory map: [0, 0x9fc00) and [1 MiB, end of RAM), type 1
 *   0x900b0  module table: one entry with --initrd, else none
 *   0x900c0  boot loader name "svmsim"
 *   0x900d0  command line "<image> <args>", then the module's string
 *   next page boundary: the module's bytes (page aligned, flag bit 0 or not)
 *   ...      up to 0x9fbff
 *
 * Must not: trust the image (the ELF loader checks its segments, clear of
 * this area and of the boot area) or write anything before every check
 * passed. Fields are read and written byte by byte, little-endian.
 */
#include "vmm/multiboot.h"

#include <string.h>

#include "mem/mem.h"
#include "vmm/elf.h"

/* The header (spec 3.1.1): magic, flags, checksum; more fields only with
 * flag bits 16 and 2, both refused. */
#define MB_HDR_FLAGS    4
#define MB_HDR_CHECKSUM 8
#define MB_HDR_SIZE     12

/* Header flags (spec 3.1.2): bits 0-15 are requirements a loader that does
 * not understand them must refuse; 16-31 are optional. */
#define MB_FLAG_PAGE_ALIGN  (1u << 0)   /* modules page aligned: always so here */
#define MB_FLAG_MEMORY_INFO (1u << 1)   /* mem_* fields: always given */
#define MB_FLAG_VIDEO_MODE  (1u << 2)   /* a video mode table: none to give */
#define MB_FLAG_REQUIRED    0xffffu
#define MB_FLAG_AOUT_KLUDGE (1u << 16)  /* load addresses in the header */

/* The info block's fields (spec 3.3). */
#define MBI_FLAGS       0
#define MBI_MEM_LOWER   4
#define MBI_MEM_UPPER   8
#define MBI_CMDLINE     16
#define MBI_MODS_COUNT  20
#define MBI_MODS_ADDR   24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR   48
#define MBI_LOADER_NAME 64

/* Where each part goes (the table above). */
#define MB_MMAP        (MULTIBOOT_AREA_START + 0x80)
#define MB_MMAP_ENTRY  24u              /* size (20) + base_addr + length + type */
#define MB_MMAP_COUNT  2u
#define MB_MODS        (MULTIBOOT_AREA_START + 0xb0)
#define MB_MOD_SIZE    16u              /* mod_start, mod_end, string, reserved */
#define MB_LOADER_NAME (MULTIBOOT_AREA_START + 0xc0)
#define MB_STRINGS     (MULTIBOOT_AREA_START + 0xd0)
#define MB_AREA_SIZE   (MULTIBOOT_AREA_END + 1 - MULTIBOOT_AREA_START)

#define MB_LOWER_END   0x9fc00ull       /* conventional memory: 639 KiB, below the EBDA */
#define MB_UPPER_START 0x100000ull
#define MB_4G          (1ull << 32)
#define MB_MMAP_RAM    1u               /* type: available RAM */

static const char mb_loader_name[] = "svmsim";

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* The last offset a whole header can start at in buf. */
static size_t header_limit(size_t len)
{
    size_t n = len < MULTIBOOT_SEARCH ? len : MULTIBOOT_SEARCH;
    return n < MB_HDR_SIZE ? 0 : n - MB_HDR_SIZE + 1; /* exclusive */
}

bool multiboot_detect(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    if (!b || len < 5 || memcmp(b, "\x7f" "ELF", 4) != 0 || b[4] != 1 /* ELFCLASS32 */)
        return false;
    for (size_t off = 0; off < header_limit(len); off += 4)
        if (rd32(b + off) == MULTIBOOT_HEADER_MAGIC)
            return true;
    return false;
}

/* Finds the first header whose checksum holds and checks its flags.
 * Returns 0, or -1 with the message. */
static int check_header(const uint8_t *b, size_t len, const char *name, char *err, size_t errlen)
{
    size_t bad = SIZE_MAX, off;
    for (off = 0; off < header_limit(len); off += 4) {
        if (rd32(b + off) != MULTIBOOT_HEADER_MAGIC)
            continue;
        uint32_t flags = rd32(b + off + MB_HDR_FLAGS);
        if ((uint32_t)(MULTIBOOT_HEADER_MAGIC + flags + rd32(b + off + MB_HDR_CHECKSUM)) == 0)
            break;
        if (bad == SIZE_MAX)
            bad = off; /* a magic by chance, perhaps: look on */
    }
    if (off >= header_limit(len)) {
        if (bad == SIZE_MAX)
            return elf_fail(err, errlen, name,
                            "no multiboot header (magic 0x%x) in the first 0x%x bytes",
                            MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH);
        uint32_t flags = rd32(b + bad + MB_HDR_FLAGS);
        return elf_fail(err, errlen, name,
                        "multiboot header at offset 0x%zx: checksum (offset 0x%zx) is 0x%x, expected 0x%x (magic + flags + checksum must be 0 mod 2^32)",
                        bad, bad + MB_HDR_CHECKSUM, rd32(b + bad + MB_HDR_CHECKSUM),
                        (uint32_t)(0u - MULTIBOOT_HEADER_MAGIC - flags));
    }

    uint32_t flags = rd32(b + off + MB_HDR_FLAGS);
    size_t at = off + MB_HDR_FLAGS;
    if (flags & MB_FLAG_VIDEO_MODE)
        return elf_fail(err, errlen, name,
                        "multiboot header at offset 0x%zx: flags (offset 0x%zx) is 0x%x: bit 2 (a video mode table) is not supported",
                        off, at, flags);
    uint32_t unknown = flags & MB_FLAG_REQUIRED &
                       ~(uint32_t)(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE);
    if (unknown)
        return elf_fail(err, errlen, name,
                        "multiboot header at offset 0x%zx: flags (offset 0x%zx) is 0x%x: required bits 0x%x are not defined by multiboot v1",
                        off, at, flags, unknown);
    if (flags & MB_FLAG_AOUT_KLUDGE)
        return elf_fail(err, errlen, name,
                        "multiboot header at offset 0x%zx: flags (offset 0x%zx) is 0x%x: bit 16 (load addresses in the header) is not supported; the ELF program headers place the image",
                        off, at, flags);
    return 0;
}

/* Where the strings and the module go, once they are known to fit. */
struct mb_layout {
    const char *name, *args;
    size_t name_len, args_len;          /* without NUL */
    uint64_t cmdline, mod_string, mod_start, mod_end;
};

static int plan_layout(const struct gmem *mem, const char *name, const struct multiboot_args *a,
                       struct mb_layout *p, char *err, size_t errlen)
{
    if (!gmem_is_ram(mem, MULTIBOOT_AREA_START, MB_AREA_SIZE))
        return elf_fail(err, errlen, name,
                        "RAM (0x%llx bytes) does not hold the multiboot area 0x%llx-0x%llx",
                        (unsigned long long)mem->size, MULTIBOOT_AREA_START, MULTIBOOT_AREA_END);
    p->args = a && a->cmdline ? a->cmdline : "";
    p->name_len = strlen(name);
    p->args_len = strlen(p->args);
    const char *mod_name = a && a->initrd_name ? a->initrd_name : "";
    uint64_t end = MULTIBOOT_AREA_END + 1;
    /* Each length is below the size of the host's memory: no sum wraps. */
    uint64_t cmdline_size = (uint64_t)p->name_len + 1 + p->args_len + 1;
    p->cmdline = MB_STRINGS;
    p->mod_string = p->cmdline + cmdline_size;
    uint64_t strings_end = p->mod_string + (a && a->initrd ? strlen(mod_name) + 1 : 0);
    if (cmdline_size > end - MB_STRINGS || strings_end > end)
        return elf_fail(err, errlen, name,
                        "the command line (0x%llx bytes with the image's name) does not fit in the multiboot area 0x%llx-0x%llx",
                        (unsigned long long)cmdline_size, MULTIBOOT_AREA_START, MULTIBOOT_AREA_END);
    p->mod_start = (strings_end + GMEM_PAGE_SIZE - 1) & ~(GMEM_PAGE_SIZE - 1);
    p->mod_end = p->mod_start;
    if (a && a->initrd) {
        uint64_t room = p->mod_start < end ? end - p->mod_start : 0;
        if (a->initrd_len > room)
            return elf_fail(err, errlen, mod_name,
                            "initrd of 0x%zx bytes does not fit in the multiboot area: 0x%llx bytes free at 0x%llx-0x%llx",
                            a->initrd_len, (unsigned long long)room,
                            (unsigned long long)p->mod_start, MULTIBOOT_AREA_END);
        p->mod_end = p->mod_start + a->initrd_len;
    }
    p->name = name;
    return 0;
}

/* The info block, memory map, module table and strings (spec 3.3). */
static void write_info(struct gmem *mem, const struct multiboot_args *a, const struct mb_layout *p)
{
    uint8_t *area = gmem_ptr(mem, MULTIBOOT_AREA_START, MB_AREA_SIZE);
    memset(area, 0, MB_AREA_SIZE);
#define AT(gpa) (area + ((gpa) - MULTIBOOT_AREA_START))
    uint8_t *info = AT(MULTIBOOT_INFO);
    bool module = a && a->initrd;

    /* mem_upper: KiB from 1 MiB to the first hole, which is the end of RAM
     * or, for a 32-bit field and a 32-bit kernel, 4 GiB. */
    uint64_t top = mem->size < MB_4G ? mem->size : MB_4G;
    wr32(info + MBI_FLAGS, MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
                           MULTIBOOT_INFO_MMAP | MULTIBOOT_INFO_LOADER_NAME);
    wr32(info + MBI_MEM_LOWER, (uint32_t)(MB_LOWER_END >> 10)); /* 639 KiB */
    wr32(info + MBI_MEM_UPPER, top > MB_UPPER_START ? (uint32_t)((top - MB_UPPER_START) >> 10) : 0);
    wr32(info + MBI_CMDLINE, (uint32_t)p->cmdline);
    wr32(info + MBI_MODS_COUNT, module ? 1 : 0);
    wr32(info + MBI_MODS_ADDR, (uint32_t)MB_MODS);
    wr32(info + MBI_LOADER_NAME, (uint32_t)MB_LOADER_NAME);

    /* The map: the whole of RAM but the hole from 0x9fc00 to 1 MiB, where a
     * PC has its EBDA, VGA memory and BIOS (the spec's own example). */
    unsigned n = 0;
    const uint64_t ranges[MB_MMAP_COUNT][2] = {
        { 0, MB_LOWER_END },
        { MB_UPPER_START, mem->size },
    };
    for (unsigned i = 0; i < MB_MMAP_COUNT; i++) {
        if (ranges[i][1] <= ranges[i][0])
            continue;
        uint8_t *e = AT(MB_MMAP) + n++ * MB_MMAP_ENTRY;
        wr32(e, MB_MMAP_ENTRY - 4);     /* size: the entry without this field */
        wr64(e + 4, ranges[i][0]);
        wr64(e + 12, ranges[i][1] - ranges[i][0]);
        wr32(e + 20, MB_MMAP_RAM);
    }
    wr32(info + MBI_MMAP_LENGTH, n * MB_MMAP_ENTRY);
    wr32(info + MBI_MMAP_ADDR, (uint32_t)MB_MMAP);

    memcpy(AT(MB_LOADER_NAME), mb_loader_name, sizeof mb_loader_name);
    uint8_t *cmd = AT(p->cmdline);
    memcpy(cmd, p->name, p->name_len);
    cmd[p->name_len] = ' ';
    memcpy(cmd + p->name_len + 1, p->args, p->args_len + 1);
    if (module) {
        const char *s = a->initrd_name ? a->initrd_name : "";
        memcpy(AT(p->mod_string), s, strlen(s) + 1);
        uint8_t *mod = AT(MB_MODS);
        wr32(mod + 0, (uint32_t)p->mod_start);
        wr32(mod + 4, (uint32_t)p->mod_end);
        wr32(mod + 8, (uint32_t)p->mod_string);
        if (a->initrd_len)
            memcpy(AT(p->mod_start), a->initrd, a->initrd_len);
    }
#undef AT
}

int multiboot_load(struct gmem *mem, const void *buf, size_t len, const char *name,
                   const struct multiboot_args *args, uint32_t *entry, uint32_t *info, char *err,
                   size_t errlen)
{
    static const struct elf_area area = { MULTIBOOT_AREA_START, MULTIBOOT_AREA_END,
                                          "multiboot area" };
    struct elf_load_opts opts = { .elf32 = true, .check_only = true, .areas = &area, .n_areas = 1 };
    struct mb_layout plan = { .name = NULL };
    uint64_t e;

    if (err && errlen)
        err[0] = '\0';
    if (!name)
        name = "image";
    if (!buf)
        len = 0;
    /* Header, image, room: each checked before anything is written. */
    if (check_header(buf, len, name, err, errlen) != 0 ||
        elf_load_with(mem, buf, len, name, &opts, &e, err, errlen) != 0 ||
        plan_layout(mem, name, args, &plan, err, errlen) != 0)
        return -1;
    opts.check_only = false;
    if (elf_load_with(mem, buf, len, name, &opts, &e, err, errlen) != 0)
        return -1; /* cannot happen: the same checks passed */
    write_info(mem, args, &plan);
    if (entry)
        *entry = (uint32_t)e;
    if (info)
        *info = (uint32_t)MULTIBOOT_INFO;
    return 0;
}
