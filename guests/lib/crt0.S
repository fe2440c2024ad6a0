/* crt0.S — guest runtime: the entry points.
 *   _start      entered per the svmsim boot protocol (DESIGN.md "Boot
 *               protocol"): 64-bit mode, CPL0, RSP = 0x80000, the loader's
 *               GDT and 1:1 page tables. Zeroes .bss, sets up the runtime,
 *               calls main and exits through port 0xf4 with its result.
 *   pvh_entry   entered by QEMU (or any PVH loader) in 32-bit protected mode
 *               with paging off, through the Xen PVH ELF note below. It
 *               rebuilds exactly the boot protocol's entry state and jumps to
 *               _start, so the same image runs on svmsim and on QEMU.
 */
#include "desc.h"

#define BOOT_GDT      0x1000
#define BOOT_PML4     0x2000
#define BOOT_PDPT     0x3000
#define BOOT_PD       0x4000   /* four pages: 4 GiB of 2 MiB pages */
#define BOOT_AREA_END 0x8000
#define BOOT_STACK    0x80000
#define MSR_EFER      0xc0000080

/* Xen PVH entry note (xen/include/public/elfnote.h):
 * XEN_ELFNOTE_PHYS32_ENTRY = 18, the 32-bit physical entry point. The
 * descriptor is 8 bytes so that readers taking a 32- or a 64-bit number both
 * see the address (QEMU reads a size_t). Kept 4-byte aligned: QEMU pads the
 * name to the PT_NOTE's p_align. */
    .section .note.Xen, "a"
    .balign 4
    .long 4                 /* namesz */
    .long 8                 /* descsz */
    .long 18                /* type: XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_entry

    .section .text.boot, "ax"
    .code64
    .globl _start
_start:
    cld
    leaq __bss_start(%rip), %rdi
    leaq __bss_end(%rip), %rcx
    subq %rdi, %rcx
    shrq $3, %rcx
    xorl %eax, %eax
    rep stosq
    call runtime_init
    call main
    movl %eax, %edi
    call guest_exit
1:  cli
    hlt
    jmp 1b

/* PVH: EBX = physical address of struct hvm_start_info; CS/DS/ES/SS flat
 * 32-bit, CR0.PE = 1, paging off, interrupts off. */
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    cld
    movl %ebx, pvh_start_info
    movl $1, booted_via_pvh

    /* GDT at 0x1000: null, 0x08 64-bit ring-0 code, 0x10 ring-0 data. */
    movl $0, BOOT_GDT + 0
    movl $0, BOOT_GDT + 4
    movl $0x0000ffff, BOOT_GDT + 8
    movl $0x00af9a00, BOOT_GDT + 12
    movl $0x0000ffff, BOOT_GDT + 16
    movl $0x00cf9200, BOOT_GDT + 20
    lgdt pvh_gdtr

    /* Page tables at 0x2000-0x7fff: PML4, PDPT, 4 PDs; 4 GiB 1:1 with
     * 2 MiB pages, writable, supervisor only. */
    movl $BOOT_PML4, %edi
    movl $((BOOT_AREA_END - BOOT_PML4) / 4), %ecx
    xorl %eax, %eax
    rep stosl
    movl $(BOOT_PDPT + 0x3), BOOT_PML4
    movl $((BOOT_PD + 0x0000) + 0x3), BOOT_PDPT + 0
    movl $((BOOT_PD + 0x1000) + 0x3), BOOT_PDPT + 8
    movl $((BOOT_PD + 0x2000) + 0x3), BOOT_PDPT + 16
    movl $((BOOT_PD + 0x3000) + 0x3), BOOT_PDPT + 24
    movl $BOOT_PD, %edi
    movl $0x83, %eax        /* P | RW | PS */
    movl $2048, %ecx
1:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    movl $0x20, %eax        /* CR4.PAE */
    movl %eax, %cr4
    movl $BOOT_PML4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    movl $0x100, %eax       /* LME; LMA follows when paging is enabled */
    xorl %edx, %edx
    wrmsr
    movl $0x80010033, %eax  /* PG WP NE ET MP PE */
    movl %eax, %cr0
    ljmp $0x08, $pvh_long_mode

    .code64
pvh_long_mode:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $BOOT_STACK, %esp
    pushq $2
    popfq
    xorl %eax, %eax
    xorl %ebx, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %edi, %edi
    xorl %ebp, %ebp
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    xorl %r12d, %r12d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
    jmp _start

    .section .rodata
    .balign 8
pvh_gdtr:
    .word 23
    .long BOOT_GDT

/* In .data, not .bss: _start zeroes .bss after pvh_entry has set them. */
    .data
    .balign 8
    .globl booted_via_pvh, pvh_start_info
pvh_start_info:
    .quad 0
booted_via_pvh:
    .long 0

    .section .note.GNU-stack, "", @progbits
