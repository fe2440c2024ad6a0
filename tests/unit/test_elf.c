/* test_elf.c — the checked ELF loader (src/vmm/elf.c) and the multiboot
 * protocol on top of it (src/vmm/multiboot.c).
 *
 * Owns: images built in memory, one per rule of the boot protocols, each
 * checked for the loader's return value and its exact one-line message;
 * the multiboot information byte by byte; and, through the public API
 * only, the machine state a multiboot image is entered with and the
 * statuses of svmsim_load_elf_buf.
 * Must not: depend on files outside the test (temporary files it makes
 * itself excepted).
 */
#include "vmm/elf.h"
#include "vmm/multiboot.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"
#include "svmsim/svmsim.h"

#define RAM_SIZE (4ull << 20) /* 0x400000 */
#define NAME "guest.elf"
#define PT_LOAD_ 1
#define PT_NOTE_ 4
#define PHDR_AT 0x40
#define PHDR_SIZE 56

static struct gmem mem;

static void setup(void)
{
    cr_assert_eq(gmem_init(&mem, RAM_SIZE), 0);
}

static void teardown(void)
{
    gmem_fini(&mem);
}

TestSuite(elf, .init = setup, .fini = teardown);

/* ---- building images */

struct image {
    uint8_t b[0x3000];
    size_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* A valid ELF64 x86-64 ET_EXEC header with phnum headers at 0x40. */
static void image_init(struct image *im, uint64_t entry, uint16_t phnum)
{
    memset(im, 0, sizeof *im);
    memcpy(im->b, "\x7f" "ELF", 4);
    im->b[4] = 2;                       /* ELFCLASS64 */
    im->b[5] = 1;                       /* ELFDATA2LSB */
    im->b[6] = 1;                       /* EV_CURRENT */
    put16(im->b + 16, 2);               /* ET_EXEC */
    put16(im->b + 18, 62);              /* EM_X86_64 */
    put32(im->b + 20, 1);
    put64(im->b + 24, entry);
    put64(im->b + 32, PHDR_AT);
    put16(im->b + 52, 64);
    put16(im->b + 54, PHDR_SIZE);
    put16(im->b + 56, phnum);
    im->len = PHDR_AT + (size_t)phnum * PHDR_SIZE;
}

static void image_phdr(struct image *im, unsigned i, uint32_t type, uint64_t offset, uint64_t paddr,
                       uint64_t filesz, uint64_t memsz)
{
    uint8_t *p = im->b + PHDR_AT + i * PHDR_SIZE;
    put32(p + 0, type);
    put32(p + 4, 5);                    /* PF_R | PF_X */
    put64(p + 8, offset);
    put64(p + 16, paddr);               /* p_vaddr = p_paddr: paging is 1:1 */
    put64(p + 24, paddr);
    put64(p + 32, filesz);
    put64(p + 40, memsz);
    put64(p + 48, 0x1000);
}

/* Segment data at offset off, length n, bytes seed, seed+1, ... */
static void image_data(struct image *im, size_t off, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        im->b[off + i] = (uint8_t)(seed + i);
    if (off + n > im->len)
        im->len = off + n;
}

/* One PT_LOAD of 0x20 bytes at 0x100000, entry at its start. */
static void image_minimal(struct image *im)
{
    image_init(im, 0x100000, 1);
    image_phdr(im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x20);
    image_data(im, 0x1000, 0x20, 0x10);
}

static bool ram_is_zero(uint64_t gpa, size_t n)
{
    const uint8_t *p = gmem_ptr(&mem, gpa, n);
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The load fails with exactly msg, leaves *entry and RAM alone. */
static void expect_error(const void *buf, size_t len, const char *msg)
{
    char err[256];
    uint64_t entry = 0xdead;
    int rc = elf_load(&mem, buf, len, NAME, &entry, err, sizeof err);
    cr_assert_eq(rc, -1, "elf_load returned %d", rc);
    cr_assert_str_eq(err, msg);
    cr_assert_eq(entry, 0xdead);
    cr_assert(ram_is_zero(0x100000, 0x1000), "RAM written although the image is bad");
}

/* ---- the good image */

Test(elf, loads_each_segment_at_p_paddr_and_zeroes_the_bss_tail)
{
    struct image im;
    image_init(&im, 0x100008, 3);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x20);
    /* A note with fields that would be bad for a PT_LOAD: not looked at. */
    image_phdr(&im, 1, PT_NOTE_, ~0ull, ~0ull, ~0ull, 1);
    image_phdr(&im, 2, PT_LOAD_, 0x2000, 0x200000, 0x10, 0x1000);
    image_data(&im, 0x1000, 0x20, 0x10);
    image_data(&im, 0x2000, 0x10, 0xa0);
    memset(gmem_ptr(&mem, 0x200000, 0x2000), 0xcc, 0x2000); /* stale contents */

    char err[256] = "untouched";
    uint64_t entry = 0;
    cr_assert_eq(elf_load(&mem, im.b, im.len, NAME, &entry, err, sizeof err), 0, "%s", err);
    cr_expect_eq(entry, 0x100008);
    cr_expect_str_empty(err);
    cr_expect_arr_eq(gmem_ptr(&mem, 0x100000, 0x20), im.b + 0x1000, 0x20);
    cr_expect_arr_eq(gmem_ptr(&mem, 0x200000, 0x10), im.b + 0x2000, 0x10);
    cr_expect(ram_is_zero(0x200010, 0x1000 - 0x10), "bss tail not zeroed");
    cr_expect_eq(*gmem_ptr(&mem, 0x201000, 1), 0xcc, "zeroed past p_memsz");
    cr_expect(ram_is_zero(0x100020, 0x100), "wrote past the first segment");
}

Test(elf, loads_a_segment_that_starts_right_after_the_boot_area)
{
    struct image im;
    image_init(&im, 0x8000, 2);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x0, 0x10, 0x1000); /* page 0 is RAM, not boot area */
    image_phdr(&im, 1, PT_LOAD_, 0x1000, 0x8000, 0x10, 0x10);
    image_data(&im, 0x1000, 0x10, 1);
    uint64_t entry;
    cr_assert_eq(elf_load(&mem, im.b, im.len, NAME, &entry, NULL, 0), 0);
    cr_expect_arr_eq(gmem_ptr(&mem, 0x8000, 0x10), im.b + 0x1000, 0x10);
}

Test(elf, accepts_an_entry_on_the_last_byte_of_a_segment)
{
    struct image im;
    image_minimal(&im);
    put64(im.b + 24, 0x10001f);
    uint64_t entry;
    cr_assert_eq(elf_load(&mem, im.b, im.len, NAME, &entry, NULL, 0), 0);
    cr_expect_eq(entry, 0x10001f);
}

Test(elf, ignores_an_empty_pt_load_wherever_it_points)
{
    struct image im;
    image_init(&im, 0x100000, 2);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x20);
    image_phdr(&im, 1, PT_LOAD_, 0x40, 0x1000, 0, 0); /* in the boot area, but empty */
    image_data(&im, 0x1000, 0x20, 0x10);
    cr_assert_eq(elf_load(&mem, im.b, im.len, NAME, NULL, NULL, 0), 0);
}

/* ---- the ELF header */

Test(elf, refuses_a_text_file_as_bad_magic)
{
    static const char text[] = "#!/bin/sh\necho this is not an ELF file at all, but long enough\n";
    expect_error(text, sizeof text - 1, NAME ": not an ELF file (bad magic at offset 0)");
}

Test(elf, refuses_an_empty_file_as_bad_magic)
{
    expect_error("", 0, NAME ": not an ELF file (bad magic at offset 0)");
}

Test(elf, refuses_a_32_bit_class)
{
    struct image im;
    image_minimal(&im);
    im.b[4] = 1;
    expect_error(im.b, im.len, NAME ": e_ident[EI_CLASS] is 1 (ELFCLASS32), expected 2 (ELFCLASS64)");
}

Test(elf, refuses_big_endian)
{
    struct image im;
    image_minimal(&im);
    im.b[5] = 2;
    expect_error(im.b, im.len, NAME ": e_ident[EI_DATA] is 2 (ELFDATA2MSB), expected 1 (ELFDATA2LSB)");
}

Test(elf, refuses_an_unknown_ident_version)
{
    struct image im;
    image_minimal(&im);
    im.b[6] = 0;
    expect_error(im.b, im.len, NAME ": e_ident[EI_VERSION] is 0, expected 1 (EV_CURRENT)");
}

Test(elf, refuses_a_wrong_machine)
{
    struct image im;
    image_minimal(&im);
    put16(im.b + 18, 3);
    expect_error(im.b, im.len, NAME ": e_machine is 3 (EM_386), expected 62 (EM_X86_64)");
}

Test(elf, names_an_unknown_machine_by_number_only)
{
    struct image im;
    image_minimal(&im);
    put16(im.b + 18, 0x1234);
    expect_error(im.b, im.len, NAME ": e_machine is 4660, expected 62 (EM_X86_64)");
}

Test(elf, refuses_a_shared_object)
{
    struct image im;
    image_minimal(&im);
    put16(im.b + 16, 3);
    expect_error(im.b, im.len, NAME ": e_type is 3 (ET_DYN), expected 2 (ET_EXEC)");
}

Test(elf, refuses_an_unknown_e_version)
{
    struct image im;
    image_minimal(&im);
    put32(im.b + 20, 2);
    expect_error(im.b, im.len, NAME ": e_version is 2, expected 1 (EV_CURRENT)");
}

Test(elf, refuses_a_truncated_header)
{
    struct image im;
    image_minimal(&im);
    expect_error(im.b, 0x30, NAME ": truncated: ELF header needs 0x40 bytes, file has 0x30");
}

Test(elf, refuses_a_file_that_is_only_the_magic)
{
    expect_error("\x7f" "E", 2, NAME ": truncated: ELF header needs 0x40 bytes, file has 0x2");
}

Test(elf, refuses_a_wrong_program_header_size)
{
    struct image im;
    image_minimal(&im);
    put16(im.b + 54, 32);
    expect_error(im.b, im.len, NAME ": e_phentsize is 0x20, expected 0x38 (sizeof(Elf64_Phdr))");
}

Test(elf, refuses_extended_program_header_numbering)
{
    struct image im;
    image_minimal(&im);
    put16(im.b + 56, 0xffff);
    expect_error(im.b, im.len,
                 NAME ": e_phnum is 0xffff (PN_XNUM): extended program header numbering is not supported");
}

Test(elf, refuses_a_truncated_program_header_table)
{
    struct image im;
    image_init(&im, 0x100000, 8);
    expect_error(im.b, 0x100,
                 NAME ": truncated: program header table at offset 0x40 needs 0x1c0 bytes, file has 0x100");
}

Test(elf, refuses_a_program_header_table_offset_near_2_pow_64)
{
    struct image im;
    image_minimal(&im);
    put64(im.b + 32, 0xfffffffffffffff0ull);
    expect_error(im.b, im.len,
                 NAME ": truncated: program header table at offset 0xfffffffffffffff0 needs 0x38 bytes, file has 0x1020");
}

/* ---- PT_LOAD segments */

Test(elf, refuses_a_segment_whose_file_range_is_past_eof)
{
    struct image im;
    image_init(&im, 0x100000, 1);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x2000, 0x2000);
    image_data(&im, 0x1000, 0x800, 0);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_offset 0x1000 + p_filesz 0x2000 runs past the end of the file (0x1800 bytes)");
}

Test(elf, refuses_a_file_range_that_wraps_past_2_pow_64)
{
    struct image im;
    image_init(&im, 0x100000, 1);
    image_phdr(&im, 0, PT_LOAD_, 0xffffffffffffff00ull, 0x100000, 0x200, 0x200);
    image_data(&im, 0x1000, 0x800, 0);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_offset 0xffffffffffffff00 + p_filesz 0x200 runs past the end of the file (0x1800 bytes)");
}

Test(elf, refuses_p_filesz_larger_than_p_memsz)
{
    struct image im;
    image_minimal(&im);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x10);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_filesz 0x20 is larger than p_memsz 0x10");
}

Test(elf, refuses_a_segment_that_runs_past_the_end_of_ram)
{
    struct image im;
    image_minimal(&im);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x3ff000, 0x20, 0x2000);
    put64(im.b + 24, 0x3ff000);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_paddr 0x3ff000..0x400fff is not inside RAM 0x0-0x3fffff");
}

Test(elf, refuses_a_segment_entirely_outside_ram)
{
    struct image im;
    image_minimal(&im);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0xfee00000, 0x20, 0x20);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_paddr 0xfee00000..0xfee0001f is not inside RAM 0x0-0x3fffff");
}

Test(elf, refuses_a_segment_over_the_boot_area)
{
    struct image im;
    image_init(&im, 0x100000, 3);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x20);
    image_phdr(&im, 1, PT_NOTE_, 0x1000, 0, 0x20, 0x20);
    image_phdr(&im, 2, PT_LOAD_, 0x1000, 0x1000, 0x20, 0x2000);
    image_data(&im, 0x1000, 0x20, 0x10);
    expect_error(im.b, im.len,
                 NAME ": program header 2 (PT_LOAD): p_paddr 0x1000..0x2fff overlaps the boot area 0x1000-0x7fff");
}

Test(elf, refuses_a_segment_whose_last_byte_is_the_first_of_the_boot_area)
{
    struct image im;
    image_minimal(&im);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x0, 0x20, 0x1001);
    put64(im.b + 24, 0x0);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_paddr 0x0..0x1000 overlaps the boot area 0x1000-0x7fff");
}

Test(elf, refuses_a_segment_whose_address_wraps_past_2_pow_64)
{
    struct image im;
    image_minimal(&im);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0xfffffffffffff000ull, 0x20, 0x2000);
    expect_error(im.b, im.len,
                 NAME ": program header 0 (PT_LOAD): p_paddr 0xfffffffffffff000 + p_memsz 0x2000 wraps past 2^64");
}

Test(elf, refuses_two_segments_over_the_same_bytes)
{
    struct image im;
    image_init(&im, 0x100000, 2);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x2000);
    image_phdr(&im, 1, PT_LOAD_, 0x1000, 0x101000, 0x20, 0x20);
    image_data(&im, 0x1000, 0x20, 0x10);
    expect_error(im.b, im.len,
                 NAME ": program header 1 (PT_LOAD): p_paddr 0x101000..0x10101f overlaps program header 0 (PT_LOAD) at 0x100000..0x101fff");
}

Test(elf, refuses_an_entry_outside_every_segment)
{
    struct image im;
    image_minimal(&im);
    put64(im.b + 24, 0x100020); /* one past the end */
    expect_error(im.b, im.len, NAME ": e_entry 0x100020 is not inside any PT_LOAD segment");
}

Test(elf, refuses_an_image_without_pt_load)
{
    struct image im;
    image_init(&im, 0x100000, 1);
    image_phdr(&im, 0, PT_NOTE_, 0x40, 0, 0x10, 0x10);
    expect_error(im.b, im.len, NAME ": no PT_LOAD segment (e_phnum is 1)");
}

Test(elf, refuses_an_image_without_program_headers)
{
    struct image im;
    image_init(&im, 0x100000, 0);
    im.len = 0x40;
    expect_error(im.b, im.len, NAME ": no PT_LOAD segment (e_phnum is 0)");
}

Test(elf, checks_every_segment_before_copying_any)
{
    struct image im;
    image_init(&im, 0x100000, 2);
    image_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x20);          /* good */
    image_phdr(&im, 1, PT_LOAD_, 0x1000, 0x10000000, 0x20, 0x20);        /* outside RAM */
    image_data(&im, 0x1000, 0x20, 0x10);
    expect_error(im.b, im.len, /* expect_error also checks 0x100000 stayed zero */
                 NAME ": program header 1 (PT_LOAD): p_paddr 0x10000000..0x1000001f is not inside RAM 0x0-0x3fffff");
}

/* ---- messages */

Test(elf, keeps_the_message_on_one_line_whatever_the_name)
{
    char err[256];
    cr_assert_eq(elf_load(&mem, "nope", 4, "bad\nname", NULL, err, sizeof err), -1);
    cr_expect_str_eq(err, "bad?name: not an ELF file (bad magic at offset 0)");
}

Test(elf, truncates_the_message_to_the_buffer)
{
    char err[8];
    cr_assert_eq(elf_load(&mem, "nope", 4, NAME, NULL, err, sizeof err), -1);
    cr_expect_str_eq(err, "guest.e");
}

/* ---- elf_load_file */

Test(elf, loads_a_file_from_disk)
{
    struct image im;
    image_minimal(&im);
    char path[] = "/tmp/test_elf_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, im.b, im.len), (ssize_t)im.len);
    close(fd);
    char err[256];
    uint64_t entry = 0;
    int rc = elf_load_file(&mem, path, &entry, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(entry, 0x100000);
    cr_expect_arr_eq(gmem_ptr(&mem, 0x100000, 0x20), im.b + 0x1000, 0x20);
}

Test(elf, names_a_missing_file_and_why)
{
    char err[256];
    cr_assert_eq(elf_load_file(&mem, "/nonexistent/guest.elf", NULL, err, sizeof err), -1);
    cr_expect_str_eq(err, "/nonexistent/guest.elf: cannot open: No such file or directory");
}

Test(elf, refuses_a_directory)
{
    char err[256];
    cr_assert_eq(elf_load_file(&mem, "/tmp", NULL, err, sizeof err), -1);
    cr_expect_str_eq(err, "/tmp: not a regular file");
}

Test(elf, names_the_path_in_image_errors_from_a_file)
{
    char path[] = "/tmp/test_elf_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "\x7f" "ELF\x01", 5), 5);
    close(fd);
    char err[256], want[256];
    int rc = elf_load_file(&mem, path, NULL, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, -1);
    snprintf(want, sizeof want, "%s: e_ident[EI_CLASS] is 1 (ELFCLASS32), expected 2 (ELFCLASS64)", path);
    cr_expect_str_eq(err, want);
}

/* ==== multiboot v1 images: ELF32 i386 with a multiboot header ==== */

#define PHDR32_SIZE 32
#define MB_MAGIC 0x1BADB002u
#define MB_AREA 0x90000
#define MB_AREA_BYTES 0xfc00

/* A valid ELF32 i386 ET_EXEC header with phnum headers at 0x34. */
static void image32_init(struct image *im, uint32_t entry, uint16_t phnum)
{
    memset(im, 0, sizeof *im);
    memcpy(im->b, "\x7f" "ELF", 4);
    im->b[4] = 1;                       /* ELFCLASS32 */
    im->b[5] = 1;                       /* ELFDATA2LSB */
    im->b[6] = 1;                       /* EV_CURRENT */
    put16(im->b + 16, 2);               /* ET_EXEC */
    put16(im->b + 18, 3);               /* EM_386 */
    put32(im->b + 20, 1);
    put32(im->b + 24, entry);
    put32(im->b + 28, 0x34);            /* e_phoff */
    put16(im->b + 40, 52);              /* e_ehsize */
    put16(im->b + 42, PHDR32_SIZE);
    put16(im->b + 44, phnum);
    im->len = 0x34 + (size_t)phnum * PHDR32_SIZE;
}

static void image32_phdr(struct image *im, unsigned i, uint32_t type, uint32_t offset,
                         uint32_t paddr, uint32_t filesz, uint32_t memsz)
{
    uint8_t *p = im->b + 0x34 + i * PHDR32_SIZE;
    put32(p + 0, type);
    put32(p + 4, offset);
    put32(p + 8, paddr);
    put32(p + 12, paddr);
    put32(p + 16, filesz);
    put32(p + 20, memsz);
    put32(p + 24, 5);
    put32(p + 28, 0x1000);
}

/* The multiboot header at off: magic, flags and the checksum that fits. */
static void mb_header(struct image *im, size_t off, uint32_t flags)
{
    put32(im->b + off, MB_MAGIC);
    put32(im->b + off + 4, flags);
    put32(im->b + off + 8, 0u - MB_MAGIC - flags);
    if (off + 12 > im->len)
        im->len = off + 12;
}

/* phnum program headers, the first a PT_LOAD: file 0x1000..0x101f at
 * 0x100000 with 0x1000 bytes of bss; the multiboot header at its start
 * (offset 0x1000), the entry after it. */
static void image_multiboot_n(struct image *im, uint16_t phnum)
{
    image32_init(im, 0x10000c, phnum);
    image32_phdr(im, 0, PT_LOAD_, 0x1000, 0x100000, 0x20, 0x1000);
    image_data(im, 0x1000, 0x20, 0x40);
    mb_header(im, 0x1000, 0);
}

static void image_multiboot(struct image *im)
{
    image_multiboot_n(im, 1);
}

static uint32_t ram32(uint64_t gpa)
{
    const uint8_t *p = gmem_ptr(&mem, gpa, 4);
    return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
}

static uint64_t ram64(uint64_t gpa)
{
    return ram32(gpa) | (uint64_t)ram32(gpa + 4) << 32;
}

static const char *ram_str(uint64_t gpa)
{
    return (const char *)gmem_ptr(&mem, gpa, 1);
}

/* The load fails with exactly msg and writes nothing: neither the image's
 * segment nor the multiboot area. */
static void expect_mb_error(const void *buf, size_t len, const struct multiboot_args *args,
                            const char *msg)
{
    char err[320];
    uint32_t entry = 0xdead, info = 0xdead;
    cr_assert(multiboot_detect(buf, len), "not recognised as multiboot");
    int rc = multiboot_load(&mem, buf, len, NAME, args, &entry, &info, err, sizeof err);
    cr_assert_eq(rc, -1, "multiboot_load returned %d", rc);
    cr_assert_str_eq(err, msg);
    cr_assert_eq(entry, 0xdead);
    cr_assert_eq(info, 0xdead);
    cr_assert(ram_is_zero(0x100000, 0x1000), "segment written although the load failed");
    cr_assert(ram_is_zero(MB_AREA, MB_AREA_BYTES), "multiboot area written although the load failed");
}

/* ---- recognising the protocol */

Test(elf, detects_an_elf32_with_a_multiboot_header)
{
    struct image im;
    image_multiboot(&im);
    cr_expect(multiboot_detect(im.b, im.len));
}

Test(elf, does_not_take_an_elf64_or_a_headerless_elf32_for_multiboot)
{
    struct image im;
    image_minimal(&im);                 /* ELF64 */
    mb_header(&im, 0x1000, 0);          /* even with a multiboot header */
    cr_expect_not(multiboot_detect(im.b, im.len));
    image_multiboot(&im);
    memset(im.b + 0x1000, 0, 12);       /* ELF32, no header */
    cr_expect_not(multiboot_detect(im.b, im.len));
    cr_expect_not(multiboot_detect(im.b, 3));
    cr_expect_not(multiboot_detect(NULL, 0));
}

Test(elf, keeps_the_elfclass32_message_for_an_elf32_without_multiboot_header)
{
    struct image im;
    image_multiboot(&im);
    memset(im.b + 0x1000, 0, 12);
    expect_error(im.b, im.len, NAME ": e_ident[EI_CLASS] is 1 (ELFCLASS32), expected 2 (ELFCLASS64)");
}

Test(elf, looks_for_the_header_only_whole_and_4_byte_aligned_in_the_first_8_kib)
{
    struct image im;
    image_multiboot(&im);
    memset(im.b + 0x1000, 0, 12);
    mb_header(&im, 8192 - 12, 0);       /* the last place it may start */
    cr_expect(multiboot_detect(im.b, im.len));
    memset(im.b + 8192 - 12, 0, 12);
    mb_header(&im, 8192 - 8, 0);        /* runs past 8 KiB */
    cr_expect_not(multiboot_detect(im.b, im.len));
    memset(im.b + 8192 - 8, 0, 12);
    mb_header(&im, 0x1002, 0);          /* not aligned */
    cr_expect_not(multiboot_detect(im.b, im.len));
}

/* ---- the good image and its boot information */

Test(elf, loads_a_multiboot_image_at_p_paddr_with_the_boot_information)
{
    static const char initrd[] = "SVMSIM_INITRD=ok\n";
    struct image im;
    image_multiboot(&im);
    memset(gmem_ptr(&mem, 0x100020, 0x1000), 0xcc, 0x1000); /* stale bss */
    const struct multiboot_args args = { .cmdline = "a b=1", .initrd = initrd,
                                         .initrd_len = sizeof initrd - 1,
                                         .initrd_name = "env.txt" };
    char err[256] = "untouched";
    uint32_t entry = 0, info = 0;
    cr_assert_eq(multiboot_load(&mem, im.b, im.len, NAME, &args, &entry, &info, err, sizeof err),
                 0, "%s", err);
    cr_expect_str_empty(err);
    cr_expect_eq(entry, 0x10000c);
    cr_expect_eq(info, 0x90000);
    cr_expect_arr_eq(gmem_ptr(&mem, 0x100000, 0x20), im.b + 0x1000, 0x20);
    cr_expect(ram_is_zero(0x100020, 0x1000 - 0x20), "bss not zeroed");
    cr_expect_eq(*gmem_ptr(&mem, 0x101000, 1), 0xcc, "zeroed past p_memsz");

    /* The info block (spec 3.3). */
    cr_expect_eq(ram32(info + 0), 0x24d, "flags: memory, cmdline, mods, mmap, loader name");
    cr_expect_eq(ram32(info + 4), 639, "mem_lower (KiB below 0x9fc00)");
    cr_expect_eq(ram32(info + 8), 3072, "mem_upper: 4 MiB of RAM less 1 MiB, in KiB");
    cr_expect_eq(ram32(info + 12), 0, "boot_device not given");
    cr_expect_eq(ram32(info + 16), 0x900d0);
    cr_expect_str_eq(ram_str(0x900d0), NAME " a b=1");
    cr_expect_eq(ram32(info + 20), 1, "mods_count");
    cr_expect_eq(ram32(info + 24), 0x900b0, "mods_addr");
    cr_expect_eq(ram32(info + 44), 48, "mmap_length: two entries");
    cr_expect_eq(ram32(info + 48), 0x90080, "mmap_addr");
    cr_expect_eq(ram32(info + 64), 0x900c0, "boot_loader_name");
    cr_expect_str_eq(ram_str(0x900c0), "svmsim");

    /* The module entry: its bytes page aligned after the strings. */
    cr_expect_eq(ram32(0x900b0), 0x91000, "mod_start");
    cr_expect_eq(ram32(0x900b4), 0x91000 + sizeof initrd - 1, "mod_end (exclusive)");
    cr_expect_eq(ram32(0x900b8), 0x900d0 + sizeof(NAME " a b=1"), "string after the cmdline");
    cr_expect_str_eq(ram_str(ram32(0x900b8)), "env.txt");
    cr_expect_eq(ram32(0x900bc), 0, "reserved");
    cr_expect_arr_eq(gmem_ptr(&mem, 0x91000, sizeof initrd - 1), initrd, sizeof initrd - 1);

    /* The memory map: size 20, base, length, type 1 (available). */
    cr_expect_eq(ram32(0x90080), 20);
    cr_expect_eq(ram64(0x90084), 0);
    cr_expect_eq(ram64(0x9008c), 0x9fc00);
    cr_expect_eq(ram32(0x90094), 1);
    cr_expect_eq(ram32(0x90098), 20);
    cr_expect_eq(ram64(0x9009c), 0x100000);
    cr_expect_eq(ram64(0x900a4), 0x300000);
    cr_expect_eq(ram32(0x900ac), 1);
}

Test(elf, gives_the_image_name_and_no_module_without_arguments)
{
    struct image im;
    image_multiboot(&im);
    uint32_t info = 0;
    cr_assert_eq(multiboot_load(&mem, im.b, im.len, NAME, NULL, NULL, &info, NULL, 0), 0);
    cr_expect_str_eq(ram_str(ram32(info + 16)), NAME " ", "QEMU's \"<kernel> <append>\"");
    cr_expect_eq(ram32(info + 0) & 0x8, 0x8, "mods flag set, with none");
    cr_expect_eq(ram32(info + 20), 0, "mods_count");
    cr_expect(ram_is_zero(0x900b0, 16), "no module entry");
}

Test(elf, caps_mem_upper_at_4_gib_and_maps_all_of_ram)
{
    struct gmem big;
    cr_assert_eq(gmem_init(&big, 5ull << 30), 0);
    struct image im;
    image_multiboot(&im);
    uint32_t info = 0;
    int rc = multiboot_load(&big, im.b, im.len, NAME, NULL, NULL, &info, NULL, 0);
    const uint8_t *p = gmem_ptr(&big, info, 0x40);
    uint32_t mem_upper = p ? (uint32_t)(p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24) : 0;
    uint64_t len2 = 0;
    memcpy(&len2, gmem_ptr(&big, 0x900a4, 8), 8); /* x86 host: little-endian */
    gmem_fini(&big);
    cr_assert_eq(rc, 0);
    cr_expect_eq(mem_upper, (4u << 20) - 1024, "(4 GiB - 1 MiB) / 1 KiB");
    cr_expect_eq(len2, (5ull << 30) - 0x100000, "the map reaches the end of RAM");
}

Test(elf, honours_the_page_align_and_memory_info_flags_and_ignores_optional_bits)
{
    struct image im;
    image_multiboot(&im);
    mb_header(&im, 0x1000, 0x3 | 0xfffe0000); /* bits 0, 1 and every optional bit but 16 */
    cr_assert_eq(multiboot_load(&mem, im.b, im.len, NAME, NULL, NULL, NULL, NULL, 0), 0);
}

Test(elf, takes_the_first_header_whose_checksum_holds)
{
    struct image im;
    image_multiboot(&im);
    memset(im.b + 0x1000, 0, 12);
    put32(im.b + 0x40 + 0x20 * 1, MB_MAGIC); /* in the headers: a stray magic */
    mb_header(&im, 0x1000, 0);
    cr_expect_eq(multiboot_load(&mem, im.b, im.len, NAME, NULL, NULL, NULL, NULL, 0), 0);
}

/* ---- refusals: the multiboot header */

Test(elf, refuses_a_multiboot_header_with_a_bad_checksum)
{
    struct image im;
    image_multiboot(&im);
    put32(im.b + 0x1008, 0x12345678);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": multiboot header at offset 0x1000: checksum (offset 0x1008) is 0x12345678, expected 0xe4524ffe (magic + flags + checksum must be 0 mod 2^32)");
}

Test(elf, refuses_the_a_out_kludge)
{
    struct image im;
    image_multiboot(&im);
    mb_header(&im, 0x1000, 0x10000);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": multiboot header at offset 0x1000: flags (offset 0x1004) is 0x10000: bit 16 (load addresses in the header) is not supported; the ELF program headers place the image");
}

Test(elf, refuses_a_required_video_mode)
{
    struct image im;
    image_multiboot(&im);
    mb_header(&im, 0x1000, 0x7);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": multiboot header at offset 0x1000: flags (offset 0x1004) is 0x7: bit 2 (a video mode table) is not supported");
}

Test(elf, refuses_required_flags_multiboot_v1_does_not_define)
{
    struct image im;
    image_multiboot(&im);
    mb_header(&im, 0x1000, 0x8021);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": multiboot header at offset 0x1000: flags (offset 0x1004) is 0x8021: required bits 0x8020 are not defined by multiboot v1");
}

Test(elf, refuses_a_multiboot_image_without_any_header)
{
    struct image im;
    image_multiboot(&im);
    memset(im.b + 0x1000, 0, 12);
    char err[256];
    cr_assert_eq(multiboot_load(&mem, im.b, im.len, NAME, NULL, NULL, NULL, err, sizeof err), -1);
    cr_expect_str_eq(err, NAME ": no multiboot header (magic 0x1badb002) in the first 0x2000 bytes");
}

/* ---- refusals: the ELF32 image */

Test(elf, refuses_a_multiboot_elf32_for_another_machine)
{
    struct image im;
    image_multiboot(&im);
    put16(im.b + 18, 62);
    expect_mb_error(im.b, im.len, NULL, NAME ": e_machine is 62 (EM_X86_64), expected 3 (EM_386)");
}

Test(elf, refuses_a_big_endian_multiboot_elf32)
{
    struct image im;
    image_multiboot(&im);
    im.b[5] = 2;
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": e_ident[EI_DATA] is 2 (ELFDATA2MSB), expected 1 (ELFDATA2LSB)");
}

Test(elf, refuses_a_multiboot_elf32_that_is_not_an_executable)
{
    struct image im;
    image_multiboot(&im);
    put16(im.b + 16, 1);
    expect_mb_error(im.b, im.len, NULL, NAME ": e_type is 1 (ET_REL), expected 2 (ET_EXEC)");
}

Test(elf, refuses_elf64_program_headers_in_an_elf32)
{
    struct image im;
    image_multiboot(&im);
    put16(im.b + 42, 56);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": e_phentsize is 0x38, expected 0x20 (sizeof(Elf32_Phdr))");
}

Test(elf, refuses_a_multiboot_segment_past_the_end_of_the_file)
{
    struct image im;
    image_multiboot(&im);
    image32_phdr(&im, 0, PT_LOAD_, 0x1000, 0x100000, 0x2000, 0x2000);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": program header 0 (PT_LOAD): p_offset 0x1000 + p_filesz 0x2000 runs past the end of the file (0x1020 bytes)");
}

Test(elf, refuses_a_multiboot_segment_that_wraps_past_2_pow_32)
{
    struct image im;
    image_multiboot(&im);
    image32_phdr(&im, 0, PT_LOAD_, 0x1000, 0xfffff000, 0x20, 0x2000);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": program header 0 (PT_LOAD): p_paddr 0xfffff000 + p_memsz 0x2000 wraps past 2^32");
}

Test(elf, refuses_a_multiboot_segment_outside_ram)
{
    struct image im;
    image_multiboot(&im);
    image32_phdr(&im, 0, PT_LOAD_, 0x1000, 0x3ff000, 0x20, 0x2000);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": program header 0 (PT_LOAD): p_paddr 0x3ff000..0x400fff is not inside RAM 0x0-0x3fffff");
}

Test(elf, refuses_a_multiboot_segment_over_the_multiboot_area)
{
    struct image im;
    image_multiboot_n(&im, 2);
    image32_phdr(&im, 1, PT_LOAD_, 0x1000, 0x9f000, 0x20, 0x1000); /* 0x9f000..0x9ffff */
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": program header 1 (PT_LOAD): p_paddr 0x9f000..0x9ffff overlaps the multiboot area 0x90000-0x9fbff");
}

Test(elf, loads_multiboot_segments_right_before_and_after_the_multiboot_area)
{
    struct image im;
    image_multiboot_n(&im, 3);
    image32_phdr(&im, 1, PT_LOAD_, 0x1000, 0x9fc00, 0x20, 0x400);
    image32_phdr(&im, 2, PT_LOAD_, 0x1000, 0x8000, 0x20, 0x88000); /* 0x8000..0x8ffff */
    cr_expect_eq(multiboot_load(&mem, im.b, im.len, NAME, NULL, NULL, NULL, NULL, 0), 0);
}

Test(elf, refuses_a_multiboot_segment_over_the_boot_area)
{
    struct image im;
    image_multiboot_n(&im, 2);
    image32_phdr(&im, 1, PT_LOAD_, 0x1000, 0x0, 0x20, 0x1001);
    expect_mb_error(im.b, im.len, NULL,
                    NAME ": program header 1 (PT_LOAD): p_paddr 0x0..0x1000 overlaps the boot area 0x1000-0x7fff");
}

Test(elf, refuses_a_multiboot_entry_outside_every_segment)
{
    struct image im;
    image_multiboot(&im);
    put32(im.b + 24, 0x101000);         /* one past the bss */
    expect_mb_error(im.b, im.len, NULL, NAME ": e_entry 0x101000 is not inside any PT_LOAD segment");
}

/* ---- refusals: what does not fit in the multiboot area */

Test(elf, refuses_an_initrd_larger_than_the_multiboot_area_has_room_for)
{
    static uint8_t initrd[0xf000];      /* from 0x91000: 0xec00 bytes of room */
    struct image im;
    image_multiboot(&im);
    const struct multiboot_args args = { .initrd = initrd, .initrd_len = sizeof initrd,
                                         .initrd_name = "big.img" };
    expect_mb_error(im.b, im.len, &args,
                    "big.img: initrd of 0xf000 bytes does not fit in the multiboot area: 0xec00 bytes free at 0x91000-0x9fbff");
}

Test(elf, loads_an_initrd_that_fills_the_multiboot_area_exactly)
{
    static uint8_t initrd[0xec00];
    memset(initrd, 0x5a, sizeof initrd);
    struct image im;
    image_multiboot(&im);
    const struct multiboot_args args = { .initrd = initrd, .initrd_len = sizeof initrd,
                                         .initrd_name = "full.img" };
    cr_assert_eq(multiboot_load(&mem, im.b, im.len, NAME, &args, NULL, NULL, NULL, 0), 0);
    cr_expect_eq(ram32(0x900b4), 0x9fc00);
    cr_expect_eq(*gmem_ptr(&mem, 0x9fbff, 1), 0x5a);
}

Test(elf, refuses_a_command_line_longer_than_the_multiboot_area)
{
    static char cmdline[0x10000];
    memset(cmdline, 'x', sizeof cmdline - 1);
    struct image im;
    image_multiboot(&im);
    const struct multiboot_args args = { .cmdline = cmdline };
    expect_mb_error(im.b, im.len, &args,
                    NAME ": the command line (0x1000a bytes with the image's name) does not fit in the multiboot area 0x90000-0x9fbff");
}

/* ---- the machine: entry state and load statuses (public API) */

static struct svmsim_vm *vm_new(const char *cmdline, const char *initrd)
{
    struct svmsim_config cfg;
    char err[256];
    svmsim_config_default(&cfg);
    cfg.cmdline = cmdline;
    cfg.initrd = initrd;
    cfg.console_write = NULL;
    struct svmsim_vm *vm = svmsim_create(&cfg, err, sizeof err);
    cr_assert_not_null(vm, "svmsim_create: %s", err);
    return vm;
}

/* Code at the entry, 32-bit: mov eax, [ebx] (the info's flags);
 * out 0xf4, al. The run ends with status (0x4d << 1) | 1. */
static void image_multiboot_code(struct image *im)
{
    static const uint8_t code[] = { 0x8b, 0x03, 0xe6, 0xf4 };
    image_multiboot(im);
    memcpy(im->b + 0x100c, code, sizeof code);
}

Test(elf, enters_a_multiboot_image_in_32_bit_protected_mode_with_eax_and_ebx)
{
    struct image im;
    image_multiboot_code(&im);
    struct svmsim_vm *vm = vm_new(NULL, NULL);
    char err[256];
    cr_assert_eq(svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err), 0, "%s", err);
    struct svmsim_regs r;
    svmsim_get_regs(vm, &r);
    cr_expect_eq(r.rip, 0x10000c);
    cr_expect_eq(r.gpr[SVMSIM_RAX], 0x2badb002);
    cr_expect_eq(r.gpr[SVMSIM_RBX], 0x90000);
    cr_expect_eq(r.gpr[SVMSIM_RSP], 0);
    cr_expect_eq(r.rflags, 0x2);
    cr_expect_eq(r.cr0, 0x11, "PE | ET, paging off");
    cr_expect_eq(r.cr4, 0);
    cr_expect_eq(r.efer, 0);
    cr_expect_eq(r.cs, 0x08);
    cr_expect_eq(r.ss, 0x10);
    cr_expect_eq(r.cpl, 0);
    uint64_t gdt[3];
    cr_assert_eq(svmsim_read_phys(vm, 0x1000, gdt, sizeof gdt), 0);
    cr_expect_eq(gdt[1], 0x00cf9b000000ffffull, "0x08: flat 32-bit code");
    cr_expect_eq(gdt[2], 0x00cf93000000ffffull, "0x10: flat data");

    struct svmsim_end end;
    svmsim_set_max_insns(vm, 100);
    int status = svmsim_run(vm, &end);
    svmsim_destroy(vm);
    cr_expect_eq(status, (0x4d << 1) | 1, "the 32-bit code read the info's flags: %s", end.message);
}

Test(elf, refuses_append_for_an_elf64_image_as_a_usage_error)
{
    struct image im;
    image_minimal(&im);
    struct svmsim_vm *vm = vm_new("x=1", NULL);
    char err[256];
    int rc = svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err);
    svmsim_destroy(vm);
    cr_expect_eq(rc, SVMSIM_STATUS_USAGE);
    cr_expect_str_eq(err, NAME ": --append applies to multiboot images only; this is an ELF64 image");
}

Test(elf, refuses_initrd_for_an_elf64_image_as_a_usage_error)
{
    struct image im;
    image_minimal(&im);
    struct svmsim_vm *vm = vm_new(NULL, "/nonexistent/initrd");
    char err[256];
    int rc = svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err);
    svmsim_destroy(vm);
    cr_expect_eq(rc, SVMSIM_STATUS_USAGE);
    cr_expect_str_eq(err, NAME ": --initrd applies to multiboot images only; this is an ELF64 image");
}

Test(elf, names_the_image_first_when_it_is_bad_whatever_the_options)
{
    struct svmsim_vm *vm = vm_new("x=1", NULL);
    char err[256];
    int rc = svmsim_load_elf_buf(vm, "nope", 4, NAME, err, sizeof err);
    svmsim_destroy(vm);
    cr_expect_eq(rc, SVMSIM_STATUS_BAD_IMAGE);
    cr_expect_str_eq(err, NAME ": not an ELF file (bad magic at offset 0)");
}

Test(elf, names_an_initrd_that_cannot_be_read)
{
    struct image im;
    image_multiboot_code(&im);
    struct svmsim_vm *vm = vm_new(NULL, "/nonexistent/initrd");
    char err[256];
    int rc = svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err);
    svmsim_destroy(vm);
    cr_expect_eq(rc, SVMSIM_STATUS_BAD_IMAGE);
    cr_expect_str_eq(err, "/nonexistent/initrd: cannot open: No such file or directory");
}

Test(elf, loads_the_initrd_file_as_the_module)
{
    char path[] = "/tmp/test_elf_initrd_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "A=1\n", 4), 4);
    close(fd);
    struct image im;
    image_multiboot_code(&im);
    struct svmsim_vm *vm = vm_new("", path);
    char err[256];
    int rc = svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err);
    uint8_t mod[16], bytes[4];
    char name[sizeof path];
    svmsim_read_phys(vm, 0x900b0, mod, sizeof mod);
    svmsim_read_phys(vm, 0x91000, bytes, sizeof bytes);
    svmsim_read_phys(vm, (uint64_t)(mod[8] | mod[9] << 8 | mod[10] << 16), name, sizeof name);
    svmsim_destroy(vm);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(mod[0] | mod[1] << 8 | mod[2] << 16, 0x91000);
    cr_expect_eq(mod[4] | mod[5] << 8 | mod[6] << 16, 0x91004);
    cr_expect_arr_eq(bytes, "A=1\n", 4);
    cr_expect_str_eq(name, path);
}

Test(elf, refuses_an_initrd_file_larger_than_the_multiboot_area)
{
    char path[] = "/tmp/test_elf_initrd_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 0x10000), 0);
    close(fd);
    struct image im;
    image_multiboot_code(&im);
    struct svmsim_vm *vm = vm_new(NULL, path);
    char err[256], want[256];
    int rc = svmsim_load_elf_buf(vm, im.b, im.len, NAME, err, sizeof err);
    svmsim_destroy(vm);
    unlink(path);
    cr_expect_eq(rc, SVMSIM_STATUS_BAD_IMAGE);
    snprintf(want, sizeof want,
             "%s: file is 0x10000 bytes, larger than the 0xfc00 bytes of the multiboot area below 1 MiB",
             path);
    cr_expect_str_eq(err, want);
}
