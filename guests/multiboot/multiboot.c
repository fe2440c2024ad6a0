/* multiboot.c — guest test: the second boot protocol (DESIGN.md "Boot
 * protocol"), a multiboot v1 image as QEMU's -kernel and kvm-unit-tests
 * use it. Checks the machine state at the 32-bit entry (entry.S recorded
 * it) and the boot information: memory sizes, memory map, command line and
 * module, against the Multiboot Specification 0.6.96 (sections 3.2, 3.3).
 *
 * tests/guest runs it with --append=MB_ARGS --initrd=initrd.env (the guest
 * then expects exactly those), and with neither (it then expects no module
 * and nothing after the image's name). Checks of what only svmsim's loader
 * promises (DESIGN.md: CR0 = PE|ET, the GDT, where the information lies,
 * a two-range map) run when the boot loader name is "svmsim"; under any
 * other loader (QEMU: "qemu") they are SKIP lines.
 */
#include "libguest.h"

#define MB_BOOTLOADER_MAGIC 0x2BADB002u
#define MB_INFO_MEMORY      (1u << 0)
#define MB_INFO_CMDLINE     (1u << 2)
#define MB_INFO_MODS        (1u << 3)
#define MB_INFO_MMAP        (1u << 6)
#define MB_INFO_LOADER_NAME (1u << 9)
#define MB_MMAP_RAM         1u
#define MIB                 0x100000ull
#define X86_EFLAGS_IF       (1u << 9)
#define X86_EFLAGS_VM       (1u << 17)

/* What entry.S recorded at multiboot_entry (offsets used there). */
struct mb_entry_state {
    uint32_t eax, ebx, esp, cr0, cr4, efer, eflags;   /* 0x00 .. 0x18 */
    uint32_t cs, ds, es, fs, gs, ss;                  /* 0x1c .. 0x30 */
    uint8_t gdtr[6];                                  /* 0x34: SGDT's limit, base */
    uint8_t pad[6];
    uint64_t gdt_code, gdt_data;                      /* 0x40: GDT entries 0x08, 0x10 */
};
_Static_assert(__builtin_offsetof(struct mb_entry_state, gdtr) == 0x34, "entry.S offsets");
_Static_assert(__builtin_offsetof(struct mb_entry_state, gdt_code) == 0x40, "entry.S offsets");
extern struct mb_entry_state mb_entry;
extern const char initrd_expected[], initrd_expected_end[];
extern char __image_start[], __image_end[];

/* The boot information (spec 3.3), as far as this loader fills it. */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};
struct mb_module {
    uint32_t start, end, string, reserved;
};
struct mb_mmap {
    uint32_t size;
    uint64_t base, length;
    uint32_t type;
} __attribute__((packed));

static const struct mb_info *info;
static bool svmsim_loader;

static const char *str_at(uint32_t pa)
{
    return (const char *)(uintptr_t)pa;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* [start, end) lies inside one available range of the map. */
static bool map_covers(uint64_t start, uint64_t end)
{
    for (uint32_t off = 0; off < info->mmap_length;) {
        const struct mb_mmap *e = (const void *)(uintptr_t)(info->mmap_addr + off);
        if (e->type == MB_MMAP_RAM && start >= e->base && end <= e->base + e->length)
            return true;
        off += e->size + 4;
    }
    return false;
}

/* Spec 3.2: EAX, EFLAGS, CR0, and what svmsim sets beyond the spec. */
static void check_entry_state(void)
{
    const struct mb_entry_state *s = &mb_entry;
    report(s->eax == MB_BOOTLOADER_MAGIC, "EAX at entry is the boot loader magic (0x%x)", s->eax);
    report(!(s->eflags & (X86_EFLAGS_IF | X86_EFLAGS_VM)), "EFLAGS.IF and VM clear (0x%x)",
           s->eflags);
    report((s->cr0 & X86_CR0_PE) && !(s->cr0 & X86_CR0_PG),
           "protected mode, paging off (CR0 0x%x)", s->cr0);
    if (!svmsim_loader) {
        report_skip("svmsim's exact entry state (the loader is not svmsim)");
        return;
    }
    report(s->cr0 == (X86_CR0_PE | X86_CR0_ET) && s->cr4 == 0 && s->efer == 0,
           "svmsim: CR0 0x11, CR4 0, EFER 0 (0x%x 0x%x 0x%x)", s->cr0, s->cr4, s->efer);
    report(s->cs == 0x08 && s->ds == 0x10 && s->es == 0x10 && s->fs == 0x10 && s->gs == 0x10 &&
               s->ss == 0x10 && s->esp == 0 && s->ebx == 0x90000,
           "svmsim: CS 0x08, data 0x10, ESP 0, EBX 0x90000 (0x%x 0x%x 0x%x 0x%x)", s->cs, s->ds,
           s->esp, s->ebx);
    uint16_t limit;
    uint32_t base;
    memcpy(&limit, s->gdtr, 2);
    memcpy(&base, s->gdtr + 2, 4);
    report(limit == 23 && s->gdt_code == 0x00cf9b000000ffffull &&
               s->gdt_data == 0x00cf93000000ffffull,
           "svmsim: GDT at 0x%x: flat 32-bit code at 0x08, flat data at 0x10", base);
}

/* Spec 3.3: mem_lower/mem_upper and the map agree with each other and
 * with where the image lies. */
static void check_memory(void)
{
    report((info->flags & (MB_INFO_MEMORY | MB_INFO_MMAP)) == (MB_INFO_MEMORY | MB_INFO_MMAP),
           "flags give the memory sizes and the map (0x%x)", info->flags);
    report(info->mem_lower >= 512 && info->mem_lower <= 640, "mem_lower %u KiB",
           info->mem_lower);
    report(map_covers(0, (uint64_t)info->mem_lower << 10), "the map holds mem_lower's RAM");
    report(info->mem_upper >= 4096 && map_covers(MIB, MIB + ((uint64_t)info->mem_upper << 10)),
           "mem_upper %u KiB, from 1 MiB, lies in the map", info->mem_upper);
    report(map_covers((uintptr_t)__image_start, (uintptr_t)__image_end),
           "the image 0x%lx-0x%lx lies in available RAM", (unsigned long)(uintptr_t)__image_start,
           (unsigned long)(uintptr_t)__image_end);
    if (!svmsim_loader) {
        report_skip("svmsim's exact memory map (the loader is not svmsim)");
        return;
    }
    const struct mb_mmap *e = (const void *)(uintptr_t)info->mmap_addr;
    uint64_t ram_end = e[1].base + e[1].length;
    uint64_t top = ram_end < (1ull << 32) ? ram_end : (1ull << 32);
    report(info->mmap_length == 48 && e[0].size == 20 && e[0].base == 0 &&
               e[0].length == 0x9fc00 && e[0].type == 1 && e[1].size == 20 && e[1].base == MIB &&
               e[1].type == 1,
           "svmsim: the map is [0, 0x9fc00) and [1 MiB, 0x%lx), both available",
           (unsigned long)ram_end);
    report(info->mem_lower == 639 && info->mem_upper == (top - MIB) >> 10,
           "svmsim: mem_lower 639, mem_upper (end of RAM below 4 GiB - 1 MiB) / 1 KiB = %u",
           info->mem_upper);
    report_info("RAM ends at 0x%lx", (unsigned long)ram_end);
}

/* The command line is "<image> <--append>" (QEMU and GRUB name the image
 * first); args is what comes after the first space. */
static const char *check_cmdline(void)
{
    report(info->flags & MB_INFO_CMDLINE, "flags give the command line");
    const char *cmd = str_at(info->cmdline);
    printf("INFO: command line: '%s'\n", cmd);
    const char *space = cmd;
    while (*space && *space != ' ')
        space++;
    report(space > cmd && *space == ' ', "the command line starts with the image's name");
    const char *args = *space ? space + 1 : space;
    if (svmsim_loader)
        report(space - cmd >= 14 && strncmp(space - 14, "multiboot.flat", 14) == 0,
               "svmsim: the image's name is the path given to svmsim run");
    return args;
}

/* Spec 3.3 mods: one module with --initrd, its bytes the file's, page
 * aligned as header flag bit 0 asks; none without. */
static void check_module(bool expected)
{
    report(info->flags & MB_INFO_MODS, "flags give the modules");
    if (!expected) {
        report(info->mods_count == 0, "no module without --initrd (mods_count %u)",
               info->mods_count);
        return;
    }
    report(info->mods_count == 1, "one module (mods_count %u)", info->mods_count);
    if (info->mods_count < 1)
        return;
    const struct mb_module *m = (const void *)(uintptr_t)info->mods_addr;
    size_t want = (size_t)(initrd_expected_end - initrd_expected);
    printf("INFO: module at 0x%x-0x%x, string '%s'\n", m->start, m->end, str_at(m->string));
    report((m->start & 0xfff) == 0, "the module is page aligned (header flag bit 0)");
    report(m->end - m->start == want &&
               memcmp((const void *)(uintptr_t)m->start, initrd_expected, want) == 0,
           "the module holds the initrd's bytes (%u of %u)", m->end - m->start, (unsigned)want);
    report(ends_with(str_at(m->string), "initrd.env"), "the module's string names the file");
    report(m->end <= (uintptr_t)__image_start || m->start >= (uintptr_t)__image_end,
           "the module lies outside the image");
}

int main(void)
{
    info = (const struct mb_info *)(uintptr_t)mb_entry.ebx;
    const char *name = info->flags & MB_INFO_LOADER_NAME ? str_at(info->boot_loader_name) : "";
    svmsim_loader = strcmp(name, "svmsim") == 0;
    report_info("boot loader '%s', info at 0x%x", name, mb_entry.ebx);

    check_entry_state();
    check_memory();
    const char *args = check_cmdline();
    bool with_args = args[0] != '\0';
    report(!with_args || strcmp(args, MB_ARGS) == 0, "the arguments are %s ('%s')",
           with_args ? "--append's" : "empty", args);
    check_module(with_args);
    return report_summary();
}
