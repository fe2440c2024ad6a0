/* entry.S — guests/multiboot: the multiboot v1 header and 32-bit entry.
 *
 * The image is linked as every guest (lib/guest.ld, ELF64) with
 * multiboot_entry as its entry, then converted to ELF32 (objcopy -O
 * elf32-i386), as kvm-unit-tests builds its .flat files: svmsim and QEMU
 * boot it as a multiboot image. multiboot_entry records the machine state
 * the loader left (Multiboot Specification 3.2), prints one line from
 * 32-bit mode, and goes on through the runtime's PVH entry, which builds
 * the 64-bit state from any flat 32-bit protected mode and calls main.
 */
#define MB_HEADER_MAGIC 0x1BADB002
#define MB_HEADER_FLAGS 0x00000003      /* bit 0: page-aligned modules, bit 1: memory info */
#define MSR_EFER        0xc0000080
#define COM1            0x3f8

/* In .text.boot, which guest.ld puts first: inside the file's first 8 KiB. */
    .section .text.boot, "ax"
    .balign 4
multiboot_header:
    .long MB_HEADER_MAGIC
    .long MB_HEADER_FLAGS
    .long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

/* struct mb_entry_state in multiboot.c; offsets as there. */
    .code32
    .globl multiboot_entry
multiboot_entry:
    movl %eax, mb_entry + 0x00
    movl %ebx, mb_entry + 0x04
    movl %esp, mb_entry + 0x08
    movl %cr0, %eax
    movl %eax, mb_entry + 0x0c
    movl %cr4, %eax
    movl %eax, mb_entry + 0x10
    movl $MSR_EFER, %ecx
    rdmsr
    movl %eax, mb_entry + 0x14
    movl $mb_stack_top, %esp        /* no flags change since entry: mov, rdmsr */
    pushfl
    popl mb_entry + 0x18
    movw %cs, mb_entry + 0x1c
    movw %ds, mb_entry + 0x20
    movw %es, mb_entry + 0x24
    movw %fs, mb_entry + 0x28
    movw %gs, mb_entry + 0x2c
    movw %ss, mb_entry + 0x30
    sgdt mb_entry + 0x34
    /* The GDT's entries 0x08 and 0x10, before pvh_entry rewrites the GDT
     * at 0x1000 (only a GDT below 1 MiB: the spec lets GDTR be invalid). */
    movl mb_entry + 0x36, %esi
    cmpl $0x100000 - 24, %esi
    jae 3f
    movl $mb_entry + 0x40, %edi
    addl $8, %esi
    movl $4, %ecx
    cld
    rep movsl
3:

    /* A line from 32-bit mode, one OUT per byte. */
    movl $mb_hello32, %esi
    movw $COM1, %dx
1:  lodsb
    testb %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  jmp pvh_entry

    .section .rodata
mb_hello32:
    .asciz "multiboot: in 32-bit protected mode at the multiboot entry\n"

/* The module's expected bytes: the file tests/guest hands to --initrd. */
    .balign 16
    .globl initrd_expected, initrd_expected_end
initrd_expected:
    .incbin MB_INITRD_FILE
initrd_expected_end:

/* In .data, not .bss: _start zeroes .bss after the entry recorded them. */
    .data
    .balign 8
    .globl mb_entry
mb_entry:
    .skip 0x50
    .balign 16
mb_stack:
    .skip 256
mb_stack_top:

    .section .note.GNU-stack, "", @progbits
