/* hello: prints a line on COM1 and exits with status 0 (vmkit exit port). */
#include "guest.inc"

	.text
	.globl _start
_start:
	cmpl $0x2BADB002, %eax
	jne bad
	movl $0x200000, %esp
	movl $msg, %esi
	call puts
	EXIT $0
bad:
	movl $badmsg, %esi
	call puts
	EXIT $3

	.section .rodata
msg:	.asciz "hello from a multiboot guest\n"
badmsg:	.asciz "bad multiboot magic\n"
