/* test_elf.c — the checked ELF64 loader (src/vmm/elf.c).
 *
 * Owns: images built in memory, one per rule of the boot protocol, each
 * checked for elf_load's return value and its exact one-line message.
 * Must not: depend on files outside the test (temporary files it makes
 * itself excepted) or on the machine layer.
 */
#include "vmm/elf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"

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
