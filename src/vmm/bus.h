/* bus.h — the port-I/O bus of a machine.
 *
 * Owns: which device claims which range of ports. A device sees an offset
 * into its own range and a size (1, 2 or 4 bytes); overlapping registrations
 * are refused; an access nobody claims is reported to the caller (reads then
 * give all ones, writes are dropped). A device may also take a whole string
 * (REP INS/OUTS) at once; one that does not sees it element by element.
 * Must not: know about the CPU, L0 or how the access was made beyond "one
 * element" or "a whole string" (IN or INS, paging, DF: the caller's).
 */
#ifndef SVMSIM_VMM_BUS_H
#define SVMSIM_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* The general-purpose registers of the vCPU making an access, for a device
 * whose protocol passes values in them: the VMware backdoor, as QEMU's
 * vmport syncs them. The first BUS_REGS_N by their x86 number (0 = RAX ..
 * 7 = RDI), 32 bits wide as the backdoor's protocol is, moved in one call
 * each way. L0's register accessors stand behind them; a device never sees
 * the CPU itself. */
#define BUS_REGS_N 8
struct bus_regs {
    /* r[n] = the low half of register n, as the access found it. */
    void (*read)(void *opaque, uint32_t r[BUS_REGS_N]);
    /* Register n = r[n] zero-extended, for each bit n set in mask. */
    void (*write)(void *opaque, const uint32_t r[BUS_REGS_N], unsigned mask);
    void *opaque;
};

struct bus_device_ops {
    /* Returns the value read (only the low `size` bytes are used). */
    uint32_t (*read)(void *dev, uint16_t offset, unsigned size);
    void (*write)(void *dev, uint16_t offset, unsigned size, uint32_t value);
    /* Optional, used instead of read/write: an access that may read and
     * write the vCPU's registers. For IN it returns the value read (which
     * the caller then puts in AL/AX/EAX); for OUT `value` is what was
     * written. */
    uint32_t (*io_regs)(void *dev, uint16_t offset, unsigned size, bool is_in, uint32_t value,
                        const struct bus_regs *regs);
    /* Optional: a whole INS/OUTS string in one call, for a device whose
     * protocol is a string (the VMware backdoor's high-bandwidth port moves
     * a GuestRPC message by one REP OUTSB/INSB). buf holds count elements of
     * `size` bytes in the order they cross the port; an IN fills it, an OUT
     * reads it. regs are as the instruction found them (RCX, RSI, RDI not
     * yet advanced). Returns how many elements the device took (for an IN:
     * filled from the start of buf). Without it, a string reaches the device
     * element by element through read/write/io_regs. */
    uint64_t (*io_string)(void *dev, uint16_t offset, unsigned size, bool is_in, uint8_t *buf,
                          uint64_t count, const struct bus_regs *regs);
};

#define BUS_MAX_RANGES 16

struct bus_range {
    uint16_t base;
    uint32_t len;                       /* 1..65536 */
    const char *name;
    const struct bus_device_ops *ops;
    void *dev;
};

struct bus {
    struct bus_range ranges[BUS_MAX_RANGES];
    int count;
    uint8_t owner[0x10000];             /* port -> 1 + its range's index, 0 if none */
};

void bus_init(struct bus *bus);
/* Returns 0, or -1 if [base, base + len) overlaps a registered range, wraps
 * past port 0xffff, has len 0, or the bus is full. */
int bus_register(struct bus *bus, uint16_t base, uint32_t len, const char *name,
                 const struct bus_device_ops *ops, void *dev);
/* Performs one access of size 1, 2 or 4 at port. For a read, *value receives
 * the result (all ones if unclaimed). Returns the claiming range, or NULL. */
const struct bus_range *bus_io(struct bus *bus, uint16_t port, unsigned size, bool is_in,
                               uint32_t *value, const struct bus_regs *regs);
/* The range that claims port if its device takes whole strings (io_string),
 * else NULL: the caller then goes element by element through bus_io. */
const struct bus_range *bus_find_string(const struct bus *bus, uint16_t port);
/* Moves a whole string of count elements of size 1, 2 or 4 at port through
 * buf (count * size bytes) in one io_string call. For an IN, the elements
 * the device did not fill read as all ones, as an unclaimed port does, so
 * the whole of buf is defined. *taken (may be NULL) receives how many the
 * device took. Returns the claiming range, or NULL, having done nothing, if
 * no range claims port, its device has no io_string, or size is not 1, 2
 * or 4. */
const struct bus_range *bus_io_string(struct bus *bus, uint16_t port, unsigned size, bool is_in,
                                      uint8_t *buf, uint64_t count, const struct bus_regs *regs,
                                      uint64_t *taken);

#endif
