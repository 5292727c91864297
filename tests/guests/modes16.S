/*
 * modes16: ENTER with nesting levels, BOUND, ARPL, and 16-bit protected-
 * mode code and stacks (Intel SDM vol. 2: ENTER, BOUND, ARPL; vol. 1,
 * 6.5 (procedure calls for block-structured languages); vol. 3A, 3.4.5
 * (D/B flag) and 6.12.1 (16-bit gates)).  One line per check,
 * "modes16: GROUP NAME ok" or "... BAD"; exit 0 only if all pass.  The
 * expected values, by section:
 *   ENTER  push (E)BP; for level L > 0 copy L-1 frame pointers from
 *       [EBP - k * operand size] and push the new frame pointer; EBP
 *       gets that frame pointer, ESP drops by imm16 more; the level is
 *       taken mod 32.  With a 16-bit stack (SS.B=0) and operand size
 *       only SP and BP change.  A fault (#SS(0) for a read outside SS
 *       or a final stack pointer outside it) leaves ESP and EBP alone.
 *   BOUND  #BR when the signed index is below the first bound or above
 *       the second; a register operand is #UD.
 *   ARPL  raises the destination's RPL to the source's and sets ZF, or
 *       clears ZF and changes nothing.
 *   3.4.5  a code segment with D=0 runs with 16-bit operands and
 *       addresses (a PUSH takes 2 bytes of a 32-bit stack; INC AX leaves
 *       the upper half of EAX); a 16-bit interrupt gate pushes FLAGS,
 *       CS and IP as words and IRET in 16-bit code pops them.
 */
#include "guest.inc"
#include "systest.inc"

	.set TSS_SEL, 0x28
	.set CODE16, 0x30               /* D=0, base = code16_base */
	.set SS16, 0x38                 /* data, B=0, limit 0xffff */
	.set SSLIM, 0x40                /* data, B=1, limit 0x2fffff */
	.set SSDOWN, 0x48               /* expand-down, B=1, limit 0x2f0fff */
	.set KSTACK, 0x2f0000
	.set USTACK, 0x2e0000
	.set ISTACK, 0x2d0000
	.set BR, 5
	.set UD, 6

	.text
	.globl _start
_start:
	movl $KSTACK, %esp
	lgdt gdt_desc
	ljmp $CODE0, $1f
1:	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $tss, %eax
	movw %ax, gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS_SEL + 4
	movb %ah, gdt + TSS_SEL + 7
	movl $ISTACK, tss + 4
	movl $DATA0, tss + 8
	movw $TSS_SEL, %ax
	ltr %ax
	movl $code16_base, %eax
	movw %ax, gdt + CODE16 + 2
	shrl $16, %eax
	movb %al, gdt + CODE16 + 4
	movb %ah, gdt + CODE16 + 7
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $4, %eax
	addl $stubs, %eax
	leal idt(, %ecx, 8), %edi
	movw $0x8e00, %bx
	movw $CODE0, %dx
	call set_gate
	incl %ecx
	cmpl $32, %ecx
	jb 2b
	movl $to_cpl0, %eax
	movl $idt + 0x30 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	/* 0x40: a 16-bit interrupt gate into the 16-bit code. */
	movl $(h16 - code16_base), %eax
	movl $idt + 0x40 * 8, %edi
	movw $0x8600, %bx
	movw $CODE16, %dx
	call set_gate
	lidt idt_desc

	call run_enter
	call run_bound
	call run_arpl
	call run_16
	jmp finish

/* ---- ENTER -------------------------------------------------------------- */

/* ENTER_AT insn: run insn with EBP = 0x280000 (an old frame holding
 * 0x11111111 and 0x22222222 below it) and ESP = 0x270000; record ESP,
 * EBP and the 4 dwords below 0x270000. */
	.macro ENTER_AT insn:vararg
	movl $0x11111111, 0x280000 - 4
	movl $0x22222222, 0x280000 - 8
	movl %esp, saved_k
	movl $0x280000, %ebp
	movl $0x270000, %esp
	\insn
	movl %esp, e_esp
	movl %ebp, e_ebp
	movl saved_k, %esp
	.endm

	.macro EXPECT name, var, val:vararg
	movl \var, %eax
	movl %eax, got
	CHECKV \name, \val
	.endm

run_enter:
	movl $m_enter, modename
	movl %esp, saved_r
	ENTER_AT enter $0x10, $3
	EXPECT level3-ebp, e_ebp, $0x270000 - 4
	EXPECT level3-esp, e_esp, $0x270000 - 16 - 0x10
	EXPECT level3-old-ebp, (0x270000-4), $0x280000
	EXPECT level3-copied-1, (0x270000-8), $0x11111111
	EXPECT level3-copied-2, (0x270000-12), $0x22222222
	EXPECT level3-frame, (0x270000-16), $0x270000 - 4
	ENTER_AT enter $8, $0
	EXPECT level0-ebp, e_ebp, $0x270000 - 4
	EXPECT level0-esp, e_esp, $0x270000 - 4 - 8
	ENTER_AT enter $0, $1
	EXPECT level1-esp, e_esp, $0x270000 - 8
	EXPECT level1-frame, (0x270000-8), $0x270000 - 4
	ENTER_AT enter $0, $32
	EXPECT level32-is-0, e_esp, $0x270000 - 4
	/* 16-bit operand size: words, and BP only. */
	ENTER_AT enterw $4, $2
	EXPECT osize16-esp, e_esp, $0x270000 - 6 - 4
	EXPECT osize16-ebp, e_ebp, $0x28fffe
	movzwl 0x270000 - 4, %eax
	movl %eax, got
	CHECKV osize16-copied, $0x1111
	/* A 16-bit stack: SP only, the frame pointer is SP. */
	movl %esp, saved_k
	movw $SS16, %ax
	movw %ax, %ss
	movl $0xabcd8000, %esp
	movl $0x55559000, %ebp
	enterw $0x10, $0
	movl %esp, e_esp
	movl %ebp, e_ebp
	movw $DATA0, %ax
	movw %ax, %ss
	movl saved_k, %esp
	EXPECT stack16-esp-upper-kept, e_esp, $0xabcd8000 - 2 - 0x10
	EXPECT stack16-bp-is-sp, e_ebp, $0x55558000 - 2
	movzwl 0x8000 - 2, %eax
	movl %eax, got
	CHECKV stack16-old-bp, $0x9000
	/* Faults leave ESP and EBP: a read outside SS ... */
	movw $SSLIM, %ax
	movw %ax, %ss
	movl $0x2ff000, %esp
	movl $0x300008, %ebp
	TRY0 read-outside-ss, SS_, 0, 0, enter $0, $3
	movl %esp, e_esp
	movl %ebp, e_ebp
	movw $DATA0, %ax
	movw %ax, %ss
	movl saved_r, %esp
	EXPECT fault-keeps-esp, e_esp, $0x2ff000
	EXPECT fault-keeps-ebp, e_ebp, $0x300008
	/* ... and a final ESP below an expand-down stack's limit. */
	movw $SSDOWN, %ax
	movw %ax, %ss
	movl $0x2f2000, %esp
	TRY0 final-esp-outside-ss, SS_, 0, 0, enter $0x1000, $0
	movl %esp, e_esp
	movw $DATA0, %ax
	movw %ax, %ss
	movl saved_r, %esp
	EXPECT final-fault-keeps-esp, e_esp, $0x2f2000
	ret

/* ---- BOUND, ARPL ---------------------------------------------------------- */

run_bound:
	movl $m_bound, modename
	movl $10, %eax
	TRY0 in-upper, NONE, 0, 0, bound %eax, bnd32
	movl $11, %eax
	TRY0 above-upper, BR, 0, 0, bound %eax, bnd32
	movl $-5, %eax
	TRY0 at-lower-signed, NONE, 0, 0, bound %eax, bnd32
	movl $-6, %eax
	TRY0 below-lower-signed, BR, 0, 0, bound %eax, bnd32
	movl $0xffff, %eax
	TRY0 word-below-lower, BR, 0, 0, boundw %ax, bnd16
	movl $0x10, %eax
	TRY0 word-in, NONE, 0, 0, boundw %ax, bnd16
	TRY0 register-operand, UD, 0, 0, .byte 0x62, 0xc1
	ret

run_arpl:
	movl $m_arpl, modename
	movl $0x10, %eax
	movl $0x13, %ecx
	arpl %cx, %ax
	setz %bl
	movw %ax, sel_r
	movzbl %bl, %ebx
	movl %ebx, got
	CHECKV raise-zf, $1
	movzwl sel_r, %eax
	movl %eax, got
	CHECKV raise-value, $0x13
	movw sel_r, %ax
	movl $0x12, %ecx
	arpl %cx, %ax
	setz %bl
	movw %ax, sel_r
	movzbl %bl, %ebx
	movl %ebx, got
	CHECKV no-raise-zf, $0
	movzwl sel_r, %eax
	movl %eax, got
	CHECKV no-raise-value, $0x13
	movw $0x20, sel_mem
	movl $0x1b, %ecx
	arpl %cx, sel_mem
	movzwl sel_mem, %eax
	movl %eax, got
	CHECKV memory-operand, $0x23
	ret

/* ---- 16-bit code ---------------------------------------------------------- */

run_16:
	movl $m_16, modename
	movl %esp, saved_k
	ljmp $CODE16, $(c16_entry - code16_base)
back32:
	movl saved_k, %esp
	movw $DATA0, %ax
	movw %ax, %ds
	EXPECT push16-takes-2, r_push, $2
	EXPECT call16-takes-2, r_call, $2
	EXPECT inc-ax-keeps-upper, r_inc, $0x12340000
	EXPECT gate16-frame-6, r_gate, $6
	EXPECT gate16-pushed-ip, r_ip, $(c16_after_int - code16_base)
	EXPECT gate16-pushed-cs, r_cs, $CODE16
	ret

/* Write a 32-bit (or 16-bit, per bx) gate to dx:eax at edi. */
set_gate:
	pushl %eax
	movw %ax, (%edi)
	movw %dx, 2(%edi)
	movw %bx, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	popl %eax
	ret

	.code16
	.align 16
code16_base:
c16_entry:
	movl %esp, %ebx
	pushw $0x1234
	subl %esp, %ebx
	addr32 movl %ebx, r_push
	popw %ax
	movl %esp, %ebx
	call 1f
1:	subl %esp, %ebx
	addr32 movl %ebx, r_call
	popw %ax
	movl $0x1234ffff, %eax
	incw %ax
	addr32 movl %eax, r_inc
	movl %esp, %ebx
	int $0x40
c16_after_int:
	ljmpl $CODE0, $back32
/* The 16-bit gate's handler: the frame is IP, CS, FLAGS as words. */
h16:
	movl %esp, %ecx
	subl %ecx, %ebx
	addr32 movl %ebx, r_gate
	movzwl (%esp), %eax
	addr32 movl %eax, r_ip
	movzwl 2(%esp), %eax
	addr32 movl %eax, r_cs
	iret
	.code32

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 flat data, DPL 0 */
	.quad 0x00cffa000000ffff        /* 0x18 flat 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff        /* 0x20 flat data, DPL 3 */
	.quad 0x0000890000000067        /* 0x28 TSS */
	.quad 0x00009a000000ffff        /* 0x30 16-bit code (base set) */
	.quad 0x000092000000ffff        /* 0x38 16-bit stack, limit 0xffff */
	.quad 0x00c09200000002ff        /* 0x40 limit 0x2fffff */
	.quad 0x00c09600000002f0        /* 0x48 expand-down, limit 0x2f0fff */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x41 * 8 - 1
	.long idt
bnd32:	.long -5, 10
bnd16:	.word 0, 0x10
m_enter: .asciz "enter"
m_bound: .asciz "bound"
m_arpl:	.asciz "arpl"
m_16:	.asciz "code16"
s_head:	.asciz "modes16: "
s_allok: .asciz "modes16: all ok\n"
s_failed: .asciz "modes16: some checks failed\n"
	.bss
	.align 8
idt:	.space 0x41 * 8
tss:	.space 0x68
saved_k: .space 4
saved_r: .space 4
e_esp:	.space 4
e_ebp:	.space 4
sel_mem: .space 2
sel_r:	.space 2
	.align 4
r_push:	.space 4
r_call:	.space 4
r_inc:	.space 4
r_gate:	.space 4
r_ip:	.space 4
r_cs:	.space 4
