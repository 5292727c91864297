/* ticks: prints "tick" on COM1 for ever, a busy delay loop between two
 * lines (the control socket's pause under either back end, tests/800). */
#include "guest.inc"

	.text
	.globl _start
_start:
	movl $0x200000, %esp
1:	movl $msg, %esi
	call puts
	movl $20000, %ecx
2:	decl %ecx
	jnz 2b
	jmp 1b

	.section .rodata
msg:	.asciz "tick\n"
