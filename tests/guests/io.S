/*
 * io: port and MMIO dispatch.  Checks, in order (exit status = number of
 * the first failed check, 0 when all pass):
 *   1  an unassigned port reads all-ones (0x2e8: no device there)
 *   2  the UART scratch register (COM1+7) keeps what is written
 *   3  the IOAPIC version register (MMIO 0xfec00000/0xfec00010) says
 *      version 0x20 (or 0x11) with 24 redirection entries
 *   4  unassigned MMIO (0xfebff000) reads all-ones
 *   5  CMOS register 0x0a (RTC status A) reads back a sane value: UIP
 *      aside, the divider bits are 010 (32.768 kHz)
 *   6  the PM timer (port 0x608) advances
 *   7  PCI config mechanism 1: 00.0 is the host bridge (8086:1237)
 *   8  01.0 is the PIIX3's ISA bridge (8086:7000), 01.3 its PM function
 *      (8086:7113), 02.0 virtio-rng (1af4:1044: no disks given), 03.0
 *      is empty
 *   9  virtio-rng's BAR1 (MSI-X) is assigned and enabled: the first table entry's
 *      vector control reads 1 (masked) through MMIO
 */
#include "guest.inc"

	.text
	.globl _start
_start:
	movl $0x200000, %esp

	/* 1 */
	movw $0x2e8, %dx
	inb %dx, %al
	cmpb $0xff, %al
	movl $1, %ebx
	jne fail

	/* 2 */
	movw $COM1 + 7, %dx
	movb $0x5a, %al
	outb %al, %dx
	xorb %al, %al
	inb %dx, %al
	cmpb $0x5a, %al
	movl $2, %ebx
	jne fail

	/* 3 */
	movl $1, 0xfec00000
	movl 0xfec00010, %eax
	movl %eax, %ecx
	shrl $16, %ecx
	andl $0xff, %ecx
	cmpl $23, %ecx
	movl $3, %ebx
	jne fail

	/* 4 */
	movl 0xfebff000, %eax
	cmpl $0xffffffff, %eax
	movl $4, %ebx
	jne fail

	/* 5 */
	movb $0x0a, %al
	outb %al, $0x70
	inb $0x71, %al
	andb $0x70, %al
	cmpb $0x20, %al
	movl $5, %ebx
	jne fail

	/* 6 */
	movw $0x608, %dx
	inl %dx, %eax
	movl %eax, %esi
	movl $100000, %ecx
1:	inl %dx, %eax
	cmpl %eax, %esi
	jne 2f
	loop 1b
	movl $6, %ebx
	jmp fail
2:
	/* 7 */
	movl $0x80000000, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0x12378086, %eax
	movl $7, %ebx
	jne fail

	/* 8 */
	movl $0x80000800, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0x70008086, %eax
	movl $8, %ebx
	jne fail
	movl $0x80000b00, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0x71138086, %eax
	jne fail
	movl $0x80001000, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0x10441af4, %eax
	jne fail
	movl $0x80001800, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0xffffffff, %eax
	jne fail

	/* 9: BAR1 of 02.0 (config 0x14), memory decoding on (0x04 bit 1) */
	movl $0x80001014, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	andl $0xfffffff0, %eax
	movl $9, %ebx
	jz fail
	movl %eax, %edi
	movl $0x80001004, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inw %dx, %ax
	testw $2, %ax
	jz fail
	movl 12(%edi), %eax
	cmpl $1, %eax
	jne fail

	movl $okmsg, %esi
	call puts
	EXIT $0

fail:
	movl $failmsg, %esi
	call puts
	movl %ebx, %eax
	addb $'0', %al
	PUTC
	movb $'\n', %al
	PUTC
	EXIT %ebx

	.section .rodata
okmsg:	.asciz "io: all checks passed\n"
failmsg: .asciz "io: failed check "
