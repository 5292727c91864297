/*
 * exc: #DE (DIV by zero) and #UD (UD2) delivered through a 32-bit IDT,
 * each handler returning past the faulting instruction with IRET; then
 * LAR and LSL on a code selector and a null one.  Prints
 * a line and exits 0 when both arrive with the right vectors, 1 if not.
 */
#include "guest.inc"

	.set CODE_SEL, 0x08
	.text
	.globl _start
_start:
	movl $0x200000, %esp
	lgdt gdt_desc
	ljmp $CODE_SEL, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	/* IDT: vectors 0 (#DE) and 6 (#UD) point at handlers. */
	movl $de_handler, %eax
	movl $idt, %edi
	call set_gate
	movl $ud_handler, %eax
	movl $idt + 6 * 8, %edi
	call set_gate
	lidt idt_desc

	xorl %ebp, %ebp
	/* #DE and #UD through the IDT. */
	xorl %ecx, %ecx
	movl $1, %eax
	divl %ecx
	cmpl $0xde00, %eax
	jne bad
	ud2
	cmpl $0x0600, %eax
	jne bad
	/* LAR and LSL on the flat code selector, and a null selector. */
	movl $CODE_SEL, %ecx
	lsl %ecx, %eax
	jnz bad
	cmpl $0xffffffff, %eax
	jne bad
	lar %ecx, %eax
	jnz bad
	cmpl $0x00c09b00, %eax        /* accessed since loaded */
	jne bad
	xorl %ecx, %ecx
	lar %ecx, %eax
	jz bad
	movl $okmsg, %esi
	call puts
	EXIT $0
bad:
	movl $badmsg, %esi
	call puts
	EXIT $1

/* ebp = rotl(ebp, 7) ^ eax ^ eflags */
fold:
	pushfl
	roll $7, %ebp
	xorl %eax, %ebp
	xorl (%esp), %ebp
	addl $4, %esp
	ret

/* Write a 32-bit interrupt gate for the handler in eax at edi. */
set_gate:
	movw %ax, (%edi)
	movw $CODE_SEL, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	ret

/* #DE: record the vector, skip the 2-byte DIV. */
de_handler:
	addl $2, (%esp)
	movl $0xde00, %eax
	iret
/* #UD: skip UD2. */
ud_handler:
	addl $2, (%esp)
	movl $0x0600, %eax
	iret

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* flat 32-bit code */
	.quad 0x00cf92000000ffff        /* flat data */
gdt_desc:
	.word 3 * 8 - 1
	.long gdt
idt_desc:
	.word 32 * 8 - 1
	.long idt
loop_count:
	.long 64
hex:	.ascii "0123456789abcdef"
okmsg:	.asciz "exc: #DE and #UD delivered through the IDT, LAR/LSL right\n"
badmsg:	.asciz "exc: wrong exception delivery\n"
	.bss
	.align 8
idt:	.space 32 * 8
buf1:	.space 256
buf2:	.space 256
