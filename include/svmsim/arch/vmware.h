/* vmware.h — constants of the VMware backdoor protocol (open-vm-tools
 * backdoor_def.h numbering). No policy. */
#ifndef SVMSIM_ARCH_VMWARE_H
#define SVMSIM_ARCH_VMWARE_H

#define VMWARE_BDOOR_MAGIC     0x564D5868u
#define VMWARE_BDOOR_PORT      0x5658
#define VMWARE_BDOORHB_PORT    0x5659
#define VMWARE_PMC_HOST_TSC    0x10000u
#define VMWARE_PMC_REAL_NS     0x10001u
#define VMWARE_PMC_APPARENT_NS 0x10002u

#define VMWARE_CMD_GETVERSION  10
#define VMWARE_CMD_GETRAMSIZE  20

#endif
