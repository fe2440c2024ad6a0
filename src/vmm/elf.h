/* elf.h — the checked ELF loader of the boot protocols (DESIGN.md "Boot protocol").
 *
 * Owns: validating an ELF executable taken as hostile input and copying its
 * PT_LOAD segments into guest RAM at p_paddr: ELF64 x86-64 images (the
 * first protocol) and, for multiboot.c, ELF32 i386 images (the second);
 * reading an image or module file from disk.
 * Must not: touch CPU state, the boot area's contents (GDT, page tables) or
 * the decode cache's per-page code marks; the caller sets RIP from *entry.
 */
#ifndef SVMSIM_VMM_ELF_H
#define SVMSIM_VMM_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gmem;

/* The loader's part of guest RAM (GDT at 0x1000, page tables from 0x2000):
 * no segment may overlap it. Both bounds inclusive. */
#define ELF_BOOT_AREA_START 0x1000ull
#define ELF_BOOT_AREA_END   0x7fffull

/* Checks the image in buf[0..len) completely, then copies every PT_LOAD
 * segment to guest-physical p_paddr and zeroes [p_filesz, p_memsz).
 * Nothing is written to RAM unless the whole image is valid.
 * Returns 0 and *entry = e_entry, or -1 with a one-line message in err
 * (no newline) that starts with "<name>: " and names the offending field,
 * e.g. "guest.elf: e_machine is 3 (EM_386), expected 62 (EM_X86_64)".
 * err may be NULL (errlen 0); name NULL reads as "image". */
int elf_load(struct gmem *mem, const void *buf, size_t len, const char *name, uint64_t *entry,
             char *err, size_t errlen);

/* A guest-physical range no segment may overlap, both bounds inclusive;
 * what names it in the message ("multiboot area"). */
struct elf_area {
    uint64_t start, last;
    const char *what;
};

/* How elf_load_with loads. */
struct elf_load_opts {
    bool elf32;                         /* ELFCLASS32 EM_386 (a multiboot image) instead of
                                         * ELFCLASS64 EM_X86_64; addresses end below 4 GiB */
    bool check_only;                    /* check everything, write nothing */
    const struct elf_area *areas;       /* more ranges than the boot area to keep clear */
    size_t n_areas;
};

/* elf_load with options: the same checks and messages. */
int elf_load_with(struct gmem *mem, const void *buf, size_t len, const char *name,
                  const struct elf_load_opts *opts, uint64_t *entry, char *err, size_t errlen);

/* Reads the regular file at path whole into a malloc'd *data (free it),
 * refusing one of more than max bytes ("file is 0x... bytes, larger than
 * the 0x... <max_what>"). With elf_first the first 64 bytes are read alone
 * and a file that does not start with the ELF magic is not read further
 * (elf_load then refuses it). Returns 0, or -1 with "<path>: ..." in err. */
int elf_read_file(const char *path, uint64_t max, const char *max_what, bool elf_first,
                  uint8_t **data, size_t *len, char *err, size_t errlen);

/* Reads the regular file at path and calls elf_load with name = path.
 * Returns 0, or -1 with a one-line message (file cannot be opened or read,
 * is not a regular file, or is not a valid image). */
int elf_load_file(struct gmem *mem, const char *path, uint64_t *entry, char *err, size_t errlen);

/* "<name>: <message>" into err, control characters as '?' so that it stays
 * one line; returns -1. For multiboot.c's messages. */
__attribute__((format(printf, 4, 5)))
int elf_fail(char *err, size_t errlen, const char *name, const char *fmt, ...);

#endif
