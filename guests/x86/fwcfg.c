/* fwcfg.c — guest test: the two QEMU devices kvm-unit-tests relies on at
 * boot and in its emulator test. fw_cfg's legacy interface (selector port
 * 0x510, data port 0x511: signature, interface ID, RAM size, CPU counts,
 * unknown keys, the read position) and pc-testdev (port 0xe0 that reads
 * back what was written; 64 KiB of I/O memory at 0xff000000 behind MMIO,
 * by single accesses of each size and by REP MOVSB/STOSB).
 *
 * FWCFG_RAM_SIZE is the RAM the run was given (svmsim's --mem; QEMU's -m
 * in tests/guest/run_guest.sh is 64 MiB, svmsim's default too).
 * Under QEMU the pc-testdev checks run only if the device answers (the
 * ctest guest-qemu/fwcfg_testdev adds -device pc-testdev and requires the
 * "present" line); under svmsim they always run.
 */
#include "libguest.h"

#ifndef FWCFG_RAM_SIZE
#define FWCFG_RAM_SIZE 0x4000000ull /* 64 MiB */
#endif

#define FW_CFG_CTL  0x510
#define FW_CFG_DATA 0x511

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_MAX_CPUS  0x0f
#define FW_CFG_FILE_FIRST 0x20

#define TESTDEV_PORT  0xe0
#define TESTDEV_IOMEM 0xff000000ul
#define TESTDEV_IOMEM_LEN 0x10000ul

static void fw_cfg_select(uint16_t key)
{
    outw(FW_CFG_CTL, key);
}

/* n bytes of the selected item, little-endian, one INB each. */
static uint64_t fw_cfg_read(unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
    return v;
}

static uint64_t fw_cfg_get(uint16_t key, unsigned n)
{
    fw_cfg_select(key);
    return fw_cfg_read(n);
}

/* ---- fw_cfg -------------------------------------------------------------- */

static void test_fw_cfg(void)
{
    char sig[5] = { 0 };
    uint64_t v;

    fw_cfg_select(FW_CFG_SIGNATURE);
    for (unsigned i = 0; i < 4; i++)
        sig[i] = (char)inb(FW_CFG_DATA);
    report(memcmp(sig, "QEMU", 4) == 0, "key 0 (signature), 4 INBs of 0x511: \"QEMU\" (got \"%s\")", sig);
    v = inb(FW_CFG_DATA);
    report(v == 0, "a fifth byte, past the signature's end, reads 0 (got %#lx)", v);
    fw_cfg_select(FW_CFG_SIGNATURE);
    v = inb(FW_CFG_DATA);
    report(v == 'Q', "selecting key 0 again rewinds: first byte 'Q' (got %#lx)", v);

    v = fw_cfg_get(FW_CFG_ID, 4);
    report_qemu_known(v == 1, v == 3, "QEMU's fw_cfg also offers the DMA interface (ID bit 1)",
                      "key 1 (ID) reads 1: the traditional interface only (got %#lx)", v);

    v = fw_cfg_get(FW_CFG_RAM_SIZE, 8);
    report(v == FWCFG_RAM_SIZE, "key 3 (RAM_SIZE) as 8 bytes: %#llx (got %#lx)", FWCFG_RAM_SIZE, v);

    v = fw_cfg_get(FW_CFG_NB_CPUS, 2);
    report(v == 1, "key 5 (NB_CPUS) as 2 bytes: 1 (got %#lx)", v);
    v = fw_cfg_read(2);
    report(v == 0, "... the bytes past its end read 0 (got %#lx)", v);
    v = fw_cfg_get(FW_CFG_MAX_CPUS, 2);
    report(v == 1, "key 0xf (MAX_CPUS) as 2 bytes: 1 (got %#lx)", v);

    v = fw_cfg_get(0x1f, 8);
    report(v == 0, "key 0x1f (none) reads 0 (got %#lx)", v);
    v = fw_cfg_get(0x3fff, 8);
    report(v == 0, "key 0x3fff (none) reads 0 (got %#lx)", v);
    v = fw_cfg_get(FW_CFG_FILE_FIRST, 8);
    report(v == 0, "key 0x20 (FW_CFG_FILE_FIRST) reads 0 (got %#lx)", v);
}

/* RAM_SIZE agrees with the memory there is: the last quadword below it
 * keeps what is written, the first one above it does not. */
static void test_ram_size(void)
{
    volatile uint64_t *last = (volatile uint64_t *)(FWCFG_RAM_SIZE - 8);
    volatile uint64_t *above = (volatile uint64_t *)FWCFG_RAM_SIZE;
    uint64_t save = *last, v;

    *last = 0x5a5aa5a5c3c33c3cull;
    v = *last;
    *last = save;
    report(v == 0x5a5aa5a5c3c33c3cull, "RAM_SIZE - 8 is RAM: a written quadword reads back (got %#lx)", v);
    *above = 0x5a5aa5a5c3c33c3cull;
    v = *above;
    report(v != 0x5a5aa5a5c3c33c3cull, "RAM_SIZE is not RAM: a written quadword does not read back (got %#lx)", v);
}

/* ---- pc-testdev ---------------------------------------------------------- */

static bool testdev_present(void)
{
    outl(TESTDEV_PORT, 0x12345678);
    if (inl(TESTDEV_PORT) != 0x12345678) {
        if (booted_via_pvh) {
            report_skip("pc-testdev checks: QEMU was started without -device pc-testdev "
                        "(tests/guest/run_guest.sh's default command line)");
            return false;
        }
    } else {
        report_info("pc-testdev present");
    }
    return true;
}

/* QEMU's test_ioport (hw/misc/pc-testdev.c) keeps one 32-bit value and
 * gives each access its byte lanes: offset (port & 3), size bytes. */
static void test_testdev_port(void)
{
    uint32_t v;

    outl(TESTDEV_PORT, 0x12345678);
    v = inl(TESTDEV_PORT);
    report(v == 0x12345678, "OUTL 0x12345678 to port 0xe0, INL reads it back (got %#x)", v);
    v = inb(TESTDEV_PORT);
    report(v == 0x78, "INB of 0xe0 reads byte 0: 0x78 (got %#x)", v);
    v = inw(TESTDEV_PORT);
    report(v == 0x5678, "INW of 0xe0 reads bytes 0-1: 0x5678 (got %#x)", v);
    v = inb(TESTDEV_PORT + 1);
    report(v == 0x56, "INB of 0xe1 reads byte 1: 0x56 (got %#x)", v);
    v = inw(TESTDEV_PORT + 2);
    report(v == 0x1234, "INW of 0xe2 reads bytes 2-3: 0x1234 (got %#x)", v);
    outl(TESTDEV_PORT, 0xcafef00d);
    v = inl(TESTDEV_PORT);
    report(v == 0xcafef00d, "OUTL 0xcafef00d replaces it (got %#x)", v);
    outb(TESTDEV_PORT, 0xab);
    v = inl(TESTDEV_PORT);
    report(v == 0xcafef0ab, "OUTB 0xab to 0xe0 replaces byte 0 only: INL reads 0xcafef0ab (got %#x)", v);
    outw(TESTDEV_PORT + 2, 0x1234);
    v = inl(TESTDEV_PORT);
    report(v == 0x1234f0ab, "OUTW 0x1234 to 0xe2 replaces bytes 2-3: INL reads 0x1234f0ab (got %#x)", v);
}

static void test_testdev_iomem(void)
{
    volatile uint8_t *b = (volatile uint8_t *)TESTDEV_IOMEM;
    uint64_t v;

    *(volatile uint8_t *)(b + 0x10) = 0xa5;
    *(volatile uint16_t *)(b + 0x20) = 0xbeef;
    *(volatile uint32_t *)(b + 0x30) = 0xdeadbeef;
    *(volatile uint64_t *)(b + 0x40) = 0x0123456789abcdefull;
    *(volatile uint64_t *)(b + TESTDEV_IOMEM_LEN - 8) = 0xfedcba9876543210ull;
    v = *(volatile uint8_t *)(b + 0x10);
    report(v == 0xa5, "I/O memory 8-bit write/read: 0xa5 (got %#lx)", v);
    v = *(volatile uint16_t *)(b + 0x20);
    report(v == 0xbeef, "16-bit write/read: 0xbeef (got %#lx)", v);
    v = *(volatile uint32_t *)(b + 0x30);
    report(v == 0xdeadbeef, "32-bit write/read: 0xdeadbeef (got %#lx)", v);
    v = *(volatile uint64_t *)(b + 0x40);
    report(v == 0x0123456789abcdefull,
           "64-bit write/read: 0x0123456789abcdef (got %#lx)", v);
    v = *(volatile uint64_t *)(b + TESTDEV_IOMEM_LEN - 8);
    report(v == 0xfedcba9876543210ull,
           "64-bit write/read of its last quadword (0xff00fff8): 0xfedcba9876543210 (got %#lx)", v);
    v = *(volatile uint8_t *)(b + 0x43);
    report(v == 0x89, "byte 3 of the 64-bit value: 0x89 (got %#lx)", v);
    v = *(volatile uint16_t *)(b + 0x46);
    report(v == 0x0123, "word at +6 of the 64-bit value: 0x0123 (got %#lx)", v);
    v = *(volatile uint32_t *)(b + 0x42);
    report(v == 0x456789ab,
           "unaligned dword at +2 of the 64-bit value: 0x456789ab (got %#lx)", v);
}

static void test_testdev_string(void)
{
    static uint8_t src[100], dst[100];
    volatile uint8_t *io = (volatile uint8_t *)(TESTDEV_IOMEM + 0x1003);
    uint64_t rsi, rdi, rcx, bad = ~0ull;

    for (unsigned i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + 3);

    rsi = (uint64_t)src;
    rdi = (uint64_t)io;
    rcx = sizeof(src);
    asm volatile("cld; rep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "memory");
    for (unsigned i = 0; i < sizeof(src); i++)
        if (io[i] != src[i]) {
            bad = i;
            break;
        }
    report(bad == ~0ull && rcx == 0 && rdi == (uint64_t)io + sizeof(src),
           "REP MOVSB of 100 bytes from RAM to I/O memory +0x1003 copies them (first bad byte %ld, RCX %#lx)",
           (long)bad, rcx);

    rsi = (uint64_t)io;
    rdi = (uint64_t)dst;
    rcx = sizeof(dst);
    asm volatile("rep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx) : : "memory");
    report(memcmp(dst, src, sizeof(src)) == 0 && rcx == 0 && rsi == (uint64_t)io + sizeof(src),
           "REP MOVSB of them back from I/O memory to RAM (RCX %#lx)", rcx);

    rdi = TESTDEV_IOMEM + 0x2000;
    rcx = 16;
    asm volatile("rep stosq" : "+D"(rdi), "+c"(rcx) : "a"(0x1122334455667788ull) : "memory");
    bad = ~0ull;
    for (unsigned i = 0; i < 16; i++)
        if (((volatile uint64_t *)(TESTDEV_IOMEM + 0x2000))[i] != 0x1122334455667788ull) {
            bad = i;
            break;
        }
    report(bad == ~0ull && rcx == 0, "REP STOSQ of 16 quadwords into I/O memory (first bad %ld)", (long)bad);
}

static void test_testdev(void)
{
    if (!testdev_present())
        return;
    test_testdev_port();
    test_testdev_iomem();
    test_testdev_string();
}

int main(void)
{
    /* The I/O memory's 2 MiB page: uncacheable (PCD | PWT). */
    *vm_pde((void *)TESTDEV_IOMEM) |= X86_PTE_PCD | X86_PTE_PWT;
    flush_tlb();

    run_test("fw_cfg", test_fw_cfg);
    run_test("ram_size", test_ram_size);
    run_test("testdev", test_testdev);
    return report_summary();
}
