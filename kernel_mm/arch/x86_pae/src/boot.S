/* Multiboot (v1) entry: from 32-bit protected mode without paging to the
 * higher-half kernel.
 *
 * The page tables built here are throwaway: one PMD of 2-MByte pages maps
 * the first GiB of physical memory both at 0 (so this code survives turning
 * paging on) and at 0xC0000000 (where the kernel is linked). kmain builds
 * the real tables with the mm core and loads them; these are never used
 * again. PAE: CR4.PAE, then CR3, then CR0.PG (SDM Vol. 3A §4.1.2). */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, give memory information */
#define KERNEL_VIRT 0xC0000000

.section .multiboot, "a"
.align 4
.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

.section .boot.data, "aw"
.align 4096
boot_pmd:
.set i, 0
.rept 512
.long (i << 21) | 0x83 /* P | RW | PS */
.long 0
.set i, i + 1
.endr
.align 32
.global boot_pdpt /* the APs' first page tables too (trampoline.S) */
boot_pdpt:
.long boot_pmd + 1, 0 /* PDPTEs: Present only; the other bits are reserved */
.long 0, 0
.long 0, 0
.long boot_pmd + 1, 0

.section .boot.text, "ax"
.global _start
_start:
    cli
    mov %eax, %esi /* multiboot magic */
    mov %ebx, %edi /* multiboot information, physical */
    /* Zero .bss (through its physical address: paging is off). */
    mov $(__bss_start - KERNEL_VIRT), %edx
    mov $(__bss_end - KERNEL_VIRT), %ecx
1:  cmp %ecx, %edx
    jae 2f
    movb $0, (%edx)
    inc %edx
    jmp 1b
2:  mov $boot_pdpt, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax /* CR4.PAE */
    mov %eax, %cr4
    mov %cr0, %eax
    or $0x80010000, %eax /* CR0.PG | CR0.WP */
    mov %eax, %cr0
    lea higher_half, %eax
    jmp *%eax

.section .text
higher_half:
    mov $boot_stack_top, %esp
    xor %ebp, %ebp
    push %edi
    push %esi
    call kmain
3:  cli
    hlt
    jmp 3b

.section .bss
.align 16
.global boot_stack
boot_stack:
.skip 65536
boot_stack_top:

.section .note.GNU-stack, "", @progbits
