/* count: prints "count=N" on COM1 for ever, N from 0 up in decimal, a busy
 * delay loop between two lines, no interrupts.  The count lives in %ebx
 * and its digits on the stack, so a snapshot must carry the registers and
 * RAM for it to go on (tests/850: across the CPU back ends). */
#include "guest.inc"

	.text
	.globl _start
_start:
	movl $0x200000, %esp
	xorl %ebx, %ebx
1:	movl $pre, %esi
	call puts
	movl %ebx, %eax
	movl $10, %ecx
	xorl %edi, %edi         /* digits pushed */
2:	xorl %edx, %edx
	divl %ecx
	addl $'0', %edx
	pushl %edx
	incl %edi
	testl %eax, %eax
	jnz 2b
3:	popl %eax
	PUTC
	decl %edi
	jnz 3b
	movb $'\n', %al
	PUTC
	incl %ebx
	movl $100000, %ecx
4:	decl %ecx
	jnz 4b
	jmp 1b

	.section .rodata
pre:	.asciz "count="
