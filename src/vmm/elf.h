/* elf.h — the checked ELF64 loader of the boot protocol (DESIGN.md "Boot protocol").
 *
 * Owns: validating an ELF64 x86-64 executable taken as hostile input and
 * copying its PT_LOAD segments into guest RAM at p_paddr.
 * Must not: touch CPU state, the boot area's contents (GDT, page tables) or
 * the decode cache's per-page code marks; the caller sets RIP from *entry.
 */
#ifndef SVMSIM_VMM_ELF_H
#define SVMSIM_VMM_ELF_H

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

/* Reads the regular file at path and calls elf_load with name = path.
 * Returns 0, or -1 with a one-line message (file cannot be opened or read,
 * is not a regular file, or is not a valid image). */
int elf_load_file(struct gmem *mem, const char *path, uint64_t *entry, char *err, size_t errlen);

#endif
