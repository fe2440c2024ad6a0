/* fw_cfg.h — QEMU's firmware configuration device, the legacy I/O
 * interface (selector port 0x510, data port 0x511), as kvm-unit-tests reads
 * it at boot (lib/x86/fwcfg.c).
 *
 * Owns: the items a guest can select (signature, interface ID, RAM size,
 * CPU counts, the highest RAM address) and the read position in the one
 * selected.
 * Must not: know about the CPU or L0; it answers port accesses only.
 */
#ifndef SVMSIM_VMM_FW_CFG_H
#define SVMSIM_VMM_FW_CFG_H

#include <stdint.h>

#include "vmm/bus.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_PORTS 2

/* Item keys (QEMU's FW_CFG_*). */
enum {
    FW_CFG_SIGNATURE = 0x00, FW_CFG_ID = 0x01, FW_CFG_RAM_SIZE = 0x03, FW_CFG_NB_CPUS = 0x05,
    FW_CFG_MAX_CPUS = 0x0f, FW_CFG_MAX_RAM = 0x11,
};

struct fw_cfg {
    uint64_t ram_size;
    uint16_t ncpus;
    uint16_t selector;
    uint32_t offset;     /* next byte of the selected item */
};

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t ncpus);

/* Bus interface; pass the struct fw_cfg as the device. Offset 0 takes the
 * selector (a write of any size selects its low 16 bits and rewinds), offset
 * 1 reads the selected item a byte at a time, little-endian, as QEMU's data
 * port (an IN of 2 or 4 bytes reads that many in turn); past an item's end,
 * and for keys the device does not have, it reads 0. */
extern const struct bus_device_ops fw_cfg_ops;

#endif
