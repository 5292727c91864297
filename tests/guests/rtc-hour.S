/* rtc-hour: ends vm-run with the RTC's hours register (CMOS 0x04) as its
 * exit status, in the default BCD 24-hour form (0x00..0x23), so a test
 * can check which clock (UTC or local time) the RTC keeps. */
#include "guest.inc"

	.text
	.globl _start
_start:
	movl $0x200000, %esp
	movb $0x04, %al
	outb %al, $0x70
	inb $0x71, %al
	movzbl %al, %eax
	movw $VMKIT_EXIT, %dx
	outl %eax, %dx
	hlt
