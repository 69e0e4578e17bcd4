/* Trap, interrupt and system-call entry. Every vector pushes an error code
 * (0 where the CPU pushes none) and its number, then trap_common saves the
 * data segment registers and the general registers, giving the C++ side a
 * x86::TrapFrame. All gates are interrupt gates: the kernel runs with
 * interrupts off and is not preemptible (it preempts only on the way back
 * to ring 3). */

.macro STUB v
    .if (\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    /* the CPU pushed an error code */
    .else
    push $0
    .endif
    push $\v
    jmp trap_common
.endm

/* 48 stubs, 16 bytes apart: stub v is at trap_stubs + 16 * v (each is at
 * most 9 bytes: push imm8, push imm8, jmp rel32). */
.section .text
.align 16
.global trap_stubs
trap_stubs:
.set v, 0
.rept 48
    .align 16
    STUB v
    .set v, v + 1
.endr

.global syscall_stub
.align 16
syscall_stub:
    push $0
    push $0x80
    jmp trap_common

/* Local APIC vectors (arch/apic.h). */
.global ipi_call_stub
.align 16
ipi_call_stub:
    STUB 0xF0

.global timer_stub
.align 16
timer_stub:
    STUB 0xEF

.global resched_stub
.align 16
resched_stub:
    STUB 0xF1

.global spurious_stub
.align 16
spurious_stub:
    STUB 0xFF

trap_common:
    push %ds
    push %es
    push %fs
    push %gs
    pushal
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    cld
    push %esp
    call trap_handler
    add $4, %esp
.global trap_return
trap_return:
    popal
    pop %gs
    pop %fs
    pop %es
    pop %ds
    add $8, %esp /* vector and error code */
    iret

/* A new task's first instructions (task_setup_frame): with the stack
 * pointer at its TrapFrame, finish in C++ (CLONE_CHILD_SETTID, PID 1's
 * first exec), then return to ring 3 through trap_return. */
.global ret_from_fork
ret_from_fork:
    push %esp
    call fork_child_tail
    add $4, %esp
    jmp trap_return

/* void switch_stacks(uint32_t* save_esp, uint32_t new_esp) */
.global switch_stacks
switch_stacks:
    mov 4(%esp), %eax
    mov 8(%esp), %edx
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov %esp, (%eax)
    mov %edx, %esp
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

.section .note.GNU-stack, "", @progbits
