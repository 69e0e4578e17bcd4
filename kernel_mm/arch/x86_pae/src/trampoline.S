/* The application processors' first instructions (SDM Vol. 3A §9.4.4.1,
 * "Typical AP Initialization Sequence"). A startup IPI with vector 0x08
 * starts an AP in real mode at 0x0800:0000 = physical 0x8000; smp.cc copies
 * this code there and fills the four slots at its end before each start.
 *
 * Real mode -> protected mode with a flat GDT of its own -> PAE paging on
 * the boot stub's tables (boot_pdpt: the first GiB mapped both at 0 and at
 * 0xC0000000, so the code keeps running on either side of CR0.PG) -> the
 * slot's stack -> ap_entry(cpu) in the higher half, which loads the
 * kernel's own descriptors and page tables. The code is position-dependent
 * on AP_TRAMPOLINE (x86.h: kApTrampoline). */

#define AP_TRAMPOLINE 0x8000
#define ABS(x) (AP_TRAMPOLINE + (x) - ap_trampoline)

.section .rodata
.global ap_trampoline, ap_trampoline_end
.code16
ap_trampoline:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl ABS(tramp_gdtr)
    mov %cr0, %eax
    or $1, %eax /* CR0.PE */
    mov %eax, %cr0
    ljmpl $0x08, $ABS(tramp_pm)

.code32
tramp_pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov %cr4, %eax
    or $0x20, %eax /* CR4.PAE */
    mov %eax, %cr4
    mov ABS(tramp_cr3), %eax
    mov %eax, %cr3
    mov %cr0, %eax
    or $0x80010000, %eax /* CR0.PG | CR0.WP */
    mov %eax, %cr0
    mov ABS(tramp_stack), %esp
    push ABS(tramp_cpu)
    push $0 /* no return address: ap_entry never returns */
    mov ABS(tramp_entry), %eax
    jmp *%eax

.align 8
tramp_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF /* 0x08 code: flat, ring 0, 32-bit */
    .quad 0x00CF92000000FFFF /* 0x10 data */
tramp_gdtr:
    .word tramp_gdtr - tramp_gdt - 1
    .long ABS(tramp_gdt)
.align 4
/* Filled by smp.cc for each AP (offsets from ap_trampoline_end, x86.h). */
tramp_cr3:   .long 0 /* physical address of boot_pdpt */
tramp_stack: .long 0 /* the AP's stack top (virtual) */
tramp_entry: .long 0 /* ap_entry (virtual) */
tramp_cpu:   .long 0 /* the CPU number it becomes */
ap_trampoline_end:

.section .note.GNU-stack, "", @progbits
