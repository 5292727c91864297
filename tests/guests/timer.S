/* timer: counts the PIT's IRQ 0 (mode 2, 100 Hz, through the 8259 PIC at
 * vector 0x20) and the local APIC timer's interrupts (periodic, 50 Hz at
 * the 1 GHz APIC clock both back ends count, vector 0x30), and prints
 * "pit=N apic=M" on COM1 each time the PIT count passes a multiple N
 * of 25 (M: the LAPIC count then).  Between two looks (it
 * halts until an interrupt comes) a timer should have ticked once (a
 * loaded host may deliver a few late ticks together); if more than BURST
 * of its ticks came at once it prints "burst pit=K" or "burst apic=K".  The counts live in RAM, the timers in the PIT, PIC
 * and LAPIC, so a snapshot must carry those for the ticks to go on at
 * their rate (tests/850). */
#include "guest.inc"

	.set BURST, 10                  /* 100 ms of PIT ticks at once */
	.set APIC, 0xfee00000
	.set PIT_DIV, 11932             /* 1193182 Hz / 100 */
	.set APIC_COUNT, 20000000       /* 1 GHz / 50, divide by 1 */

	.text
	.globl _start
_start:
	movl $0x200000, %esp
	/* the IDT: every vector ignored, but the two timers' */
	movl $idt, %edi
	movl $256, %ecx
1:	movl $ignore, %eax
	call setgate
	loop 1b
	movl $idt + 0x20 * 8, %edi
	movl $pit_isr, %eax
	call setgate
	movl $idt + 0x30 * 8, %edi
	movl $apic_isr, %eax
	call setgate
	lidt idtr
	/* the PICs: vectors 0x20 and 0x28, cascade on IRQ 2, only IRQ 0 */
	movb $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	movb $0x20, %al
	outb %al, $0x21
	movb $0x28, %al
	outb %al, $0xa1
	movb $0x04, %al
	outb %al, $0x21
	movb $0x02, %al
	outb %al, $0xa1
	movb $0x01, %al
	outb %al, $0x21
	outb %al, $0xa1
	movb $0xfe, %al
	outb %al, $0x21
	movb $0xff, %al
	outb %al, $0xa1
	/* the LAPIC: on, LINT0 the PIC's ExtINT, LINT1 NMI, the timer */
	movl $0x1ff, APIC + 0xf0        /* SVR: enabled, spurious 0xff */
	movl $0x700, APIC + 0x350       /* LVT LINT0: ExtINT */
	movl $0x400, APIC + 0x360       /* LVT LINT1: NMI */
	movl $0xb, APIC + 0x3e0         /* divide by 1 */
	movl $0x20030, APIC + 0x320     /* LVT timer: periodic, 0x30 */
	movl $APIC_COUNT, APIC + 0x380  /* initial count: starts it */
	/* the PIT: channel 0, lobyte/hibyte, mode 2 */
	movb $0x34, %al
	outb %al, $0x43
	movb $(PIT_DIV & 0xff), %al
	outb %al, $0x40
	movb $(PIT_DIV >> 8), %al
	outb %al, $0x40
	movl $25, next
	sti
main:
	hlt
	movl pit_ticks, %eax
	movl %eax, %ecx
	subl last_pit, %ecx
	movl %eax, last_pit
	cmpl $BURST, %ecx
	jbe 1f
	movl $bpit, %esi
	call puts
	movl %ecx, %eax
	call putdec
	call newline
1:	movl apic_ticks, %eax
	movl %eax, %ecx
	subl last_apic, %ecx
	movl %eax, last_apic
	cmpl $BURST, %ecx
	jbe 2f
	movl $bapic, %esi
	call puts
	movl %ecx, %eax
	call putdec
	call newline
2:	movl last_pit, %eax
	cmpl next, %eax
	jb main
	/* the mark passed, not the count: two ticks may come between
	 * looks, and the lines must go 25, 50, ... (a real burst is
	 * reported above) */
	movl next, %eax
	addl $25, next
	movl $spit, %esi
	call puts
	call putdec
	movl $sapic, %esi
	call puts
	movl last_apic, %eax
	call putdec
	call newline
	/* what ticked while the line went out is no burst */
	movl pit_ticks, %eax
	movl %eax, last_pit
	movl apic_ticks, %eax
	movl %eax, last_apic
	jmp main

/* setgate: a 32-bit interrupt gate to %eax at %edi, %edi to the next
 * (clobbers %eax, %edx). */
setgate:
	movw %cs, %dx
	movw %ax, (%edi)
	movw %dx, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	addl $8, %edi
	ret

/* putdec: %eax in decimal on COM1 (clobbers %eax, %edx). */
putdec:
	pushl %ecx
	pushl %edi
	movl $10, %ecx
	xorl %edi, %edi
1:	xorl %edx, %edx
	divl %ecx
	addl $'0', %edx
	pushl %edx
	incl %edi
	testl %eax, %eax
	jnz 1b
2:	popl %eax
	PUTC
	decl %edi
	jnz 2b
	popl %edi
	popl %ecx
	ret

newline:
	movb $'\n', %al
	PUTC
	ret

pit_isr:
	incl pit_ticks
	pushl %eax
	movb $0x20, %al
	outb %al, $0x20                 /* non-specific EOI */
	popl %eax
	iret

apic_isr:
	incl apic_ticks
	movl $0, APIC + 0xb0            /* EOI */
	iret

ignore:
	iret

	.section .rodata
spit:	.asciz "pit="
sapic:	.asciz " apic="
bpit:	.asciz "burst pit="
bapic:	.asciz "burst apic="
	.align 8
idtr:	.word 256 * 8 - 1
	.long idt

	.data
	.align 4
pit_ticks:	.long 0
apic_ticks:	.long 0
last_pit:	.long 0
last_apic:	.long 0
next:		.long 0

	.bss
	.align 8
idt:	.space 256 * 8
