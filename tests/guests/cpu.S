/*
 * cpu: a differential check of the CPU.  Runs a fixed series of integer
 * instructions (ALU with all flags, shifts and rotates, multiply and
 * divide, bit scans, string instructions), folding every result and
 * RFLAGS into a checksum printed in hex on COM1.  The same checksum must
 * come out on every back end: the test runs it under the DBT and under
 * KVM (the real CPU) and compares.  It stays at CPL 0 without exceptions
 * so that KVM-PVM, which emulates kernel mode and cannot run IRET there,
 * can judge it too; exc.S covers exception delivery.
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

	xorl %ebp, %ebp                 /* the checksum */
	movl $0x12345678, %eax
	movl $0x9abcdef0, %ebx
	movl $37, %esi
	/* 64 rounds of mixed ALU work, folding results and flags. */
loop_top:
	addl %ebx, %eax;   call fold
	adcl $0x7fffffff, %eax; call fold
	subl %esi, %ebx;   call fold
	sbbl %eax, %ebx;   call fold
	xorl %ebx, %eax;   call fold
	andl $0xf0f0f0f7, %eax; call fold
	orl %esi, %eax;    call fold
	negl %ebx;         call fold
	incl %eax;         call fold
	decb %bl;          call fold
	movl %esi, %ecx
	roll %cl, %eax;    call fold
	rcrl %cl, %ebx;    call fold
	sarl %cl, %eax;    call fold
	shldl %cl, %ebx, %eax; call fold
	shrdl $5, %eax, %ebx; call fold
	imull %ebx, %eax;  call fold
	movl %ebx, %ecx
	orl $1, %ecx
	pushl %eax
	movl %eax, %edx
	xorl %eax, %eax
	andl $0xffff, %edx
	divl %ecx;         call fold
	popl %eax
	mull %ebx;         call fold
	bsfl %eax, %ecx;   call fold
	bsrl %ebx, %ecx;   call fold
	btcl %esi, %eax;   call fold
	addl $0x1f, %esi
	decl loop_count
	jnz loop_top

	/* String instructions: fill, copy, compare. */
	cld
	movl $buf1, %edi
	movl $0x5a, %eax
	movl $256, %ecx
	rep stosb
	movl $buf1, %esi
	movl $buf2, %edi
	movl $64, %ecx
	rep movsl
	movb $0x33, buf2 + 200
	movl $buf1, %esi
	movl $buf2, %edi
	movl $256, %ecx
	repe cmpsb
	movl %ecx, %eax;   call fold
	movl %esi, %eax;   call fold

	/* Print the checksum. */
	movl $msg, %esi
	call puts
	movl %ebp, %ebx
	movl $8, %ecx
2:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movb hex(%eax), %al
	PUTC
	loop 2b
	movb $'\n', %al
	PUTC
	EXIT $0

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
msg:	.asciz "cpu: checksum "
	.bss
	.align 8
idt:	.space 32 * 8
buf1:	.space 256
buf2:	.space 256
