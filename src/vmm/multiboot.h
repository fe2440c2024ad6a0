/* multiboot.h — the second boot protocol: multiboot v1 images
 * (DESIGN.md "Boot protocol"; the Multiboot Specification 0.6.96).
 *
 * Owns: recognising a multiboot image (an ELF32 with a multiboot header,
 * what QEMU's -kernel boots and kvm-unit-tests' .flat files are), checking
 * its header, loading it through the ELF loader, and writing the boot
 * information (memory sizes, command line, module, memory map) into the
 * multiboot area below 1 MiB.
 * Must not: touch CPU state (the machine enters the image: EAX =
 * MULTIBOOT_BOOTLOADER_MAGIC, EBX = *info, 32-bit protected mode) or read
 * files (the caller hands the module's bytes in).
 */
#ifndef SVMSIM_VMM_MULTIBOOT_H
#define SVMSIM_VMM_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gmem;

#define MULTIBOOT_HEADER_MAGIC     0x1BADB002u /* in the image's header */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u /* in EAX at entry */
#define MULTIBOOT_SEARCH           8192u       /* the header lies in the first 8 KiB */

/* The loader's multiboot area, both bounds inclusive: the info block, the
 * memory map, the module table, the strings and the module's bytes. Below
 * 1 MiB and below the EBDA's 0x9fc00, where the image's own allocator
 * (kvm-unit-tests': [edata, mem_upper * 1 KiB)) never reaches; no segment
 * may overlap it. */
#define MULTIBOOT_AREA_START 0x90000ull
#define MULTIBOOT_AREA_END   0x9fbffull
#define MULTIBOOT_INFO       MULTIBOOT_AREA_START  /* EBX */

/* The boot information's flags this loader sets (spec 3.3). */
#define MULTIBOOT_INFO_MEMORY      (1u << 0)  /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_CMDLINE     (1u << 2)
#define MULTIBOOT_INFO_MODS        (1u << 3)
#define MULTIBOOT_INFO_MMAP        (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)

/* What the loader passes besides the image. */
struct multiboot_args {
    const char *cmdline;                /* after "<name> " in the command line (QEMU's
                                         * -append); NULL reads as "" */
    const void *initrd;                 /* the one module's bytes (QEMU's -initrd), or NULL:
                                         * no module */
    size_t initrd_len;
    const char *initrd_name;            /* the module's string, and its name in messages */
};

/* True when buf holds an ELF32 file with the header magic at a 4-byte
 * aligned offset of its first 8 KiB: the second protocol applies, and
 * multiboot_load explains what, if anything, is wrong with it. */
bool multiboot_detect(const void *buf, size_t len);

/* Checks the multiboot header, the ELF32 image (as elf_load does, and
 * clear of the multiboot area) and that the command line and module fit
 * in the multiboot area; then loads the segments, the module and the boot
 * information. Nothing is written unless all of it is valid.
 * The command line is "<name> <args->cmdline>", as QEMU and GRUB give it
 * (the image's name first: kvm-unit-tests takes it as argv[0]).
 * Returns 0 with *entry = e_entry and *info = the info block's address,
 * or -1 with a one-line message starting "<name>: " (or, for a module
 * that does not fit, "<initrd_name>: "). */
int multiboot_load(struct gmem *mem, const void *buf, size_t len, const char *name,
                   const struct multiboot_args *args, uint32_t *entry, uint32_t *info, char *err,
                   size_t errlen);

#endif
