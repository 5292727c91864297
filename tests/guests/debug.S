/*
 * debug: single-step (RFLAGS.TF) and instruction breakpoints (DR0-DR3,
 * DR7) in 32-bit protected mode (Intel SDM vol. 3A, chapter 17, and 6.8.3).
 * The #DB handler logs each debug exception's pushed EIP, CS and DR6
 * (B0-B3 and BS), clears DR6, and for an instruction breakpoint sets RF in
 * the pushed EFLAGS so the IRET runs the instruction; it clears TF in the
 * pushed EFLAGS when the EIP is the check's end.  Each check compares the
 * log with the list the SDM gives, one line "debug: NAME ok" or "... BAD"
 * with the entries seen; exit 0 only if all pass.  The expected values:
 *   17.3.1.4  a single-step trap after each instruction begun with TF set,
 *       with DR6.BS set and the next instruction's address (a taken
 *       jump's target) pushed; none after the POPF that sets TF.
 *   6.8.3  none after a MOV SS: the trap comes after the next one.
 *   17.3.1.4, 6.12.1  an INT n clears TF for its handler (no trap in it,
 *       none for the INT); the IRET back restores TF, and the next trap
 *       follows the instruction after the IRET's return point.
 *   17.2.4, 17.2.5, 17.3.1.1  an enabled (L0 or G0) execute breakpoint
 *       (R/W 00, LEN 00) is a fault before the instruction: EIP = DR0,
 *       DR6.B0; RF set in the EFLAGS image lets it run once; every later
 *       execution faults again.  A breakpoint whose Ln and Gn are clear
 *       never fires.
 *   17.3.1.4  TF holds across far jumps into a 16-bit code segment and
 *       back: the traps push the new CS and the new segment's offsets.
 *   17.2.4, 17.2.5, 17.3.1.2  data breakpoints (R/W 01 writes, 11 reads
 *       and writes; LEN 1, 2, 4 and 8 bytes, aligned) are traps after the
 *       instruction whose access touches a byte of the range, with the
 *       DRn's B bit: the SDM's table 17-2 of examples, 8-byte ranges, a
 *       read-modify-write and a PUSH; a REP string instruction traps
 *       after the iteration that hit, EIP still on it, with RF pushed
 *       (17.3.1.1).  With CR4.DE, R/W 10 is an I/O breakpoint on IN and
 *       OUT.  DR7.GD makes a MOV DR a #DB fault with DR6.BD and GD clear
 *       in the handler.  DR4/DR5 are DR6/DR7 with CR4.DE clear, #UD with
 *       it set (17.2.2).
 *   17.3.1.2, 6.12.1  a data breakpoint hit by an event delivery's own
 *       stack pushes (INT n, an exception, an interrupt) is a #DB trap
 *       once the delivery is done: the handler's first instruction
 *       pushed, DR6.Bn.
 *   17.3.1.1  an interrupt between the iterations of a REP string
 *       instruction pushes its EIP and RF set, so that an instruction
 *       breakpoint on it fires once, not again when it resumes; also in
 *       16-bit code, where the string with 16-bit addressing (vol. 2,
 *       REP: CX; MOVS: SI, DI) completes after the interrupts with CX 0
 *       and the upper halves of ECX, ESI and EDI untouched.
 *   17.3.1.4  under TF a REP string instruction traps after each
 *       iteration (EIP on it, RF pushed, until the last; a REPE CMPSB
 *       that stops early; ECX 0 traps once).
 *   17.3.1.4, 9.9  TF across a switch to real mode and back: each trap
 *       is delivered in the mode the instruction left, the one after the
 *       MOV CR0 that clears PE through the IVT (16-bit frame), the one
 *       after the MOV CR0 that sets it through the IDT.
 *   17.3.1.4, 9.8.5  TF across long-mode entry: the trap after the MOV
 *       CR0 that sets PG with EFER.LME goes through a 64-bit gate (in
 *       IA-32e mode) with the compatibility-mode CS pushed; then the far
 *       jump to 64-bit code and the first instruction there.
 * Then in 64-bit mode (compiled on the jit tier) the step and breakpoint
 * checks again, and a write breakpoint armed over a compiled block,
 * three times each: the first time and the third (blocks compiled and
 * linked, so a TF set by POPF must still reach the run loop) are judged,
 * from compatibility mode.
 */
#include "guest.inc"

	.set CODE0, 0x08
	.set DATA0, 0x10
	.set CODE16, 0x18               /* D=0, base = code16_base */
	.set CODE64, 0x20
	.set TF, 0x100
	.set RF, 0x10000
	.set BS, 0x4000
	.set BD, 0x2000
	.set DE, 0x8                    /* CR4.DE */
	.set LOGMAX, 16
	.set APIC, 0xfee00000
	.set RI_SRC, 0x1000000          /* rep-irq's strings, 1 MiB each */
	.set RI_DST, 0x1400000
	.set RI_LEN, 0x100000
	.set R6_SRC, 0x300000           /* rep64-irq's, 256 KiB each */
	.set R6_DST, 0x380000
	.set R6_LEN, 0x40000
	.set R16_SRC, 0x8000            /* rep16-irq's, 16 KiB each, below */
	.set R16_DST, 0xc000            /* 64 KiB for 16-bit addressing */
	.set R16_LEN, 0x4000

/* START name, stop: a check begins: an empty log, its name, where the
 * handler stops single-stepping. */
	.macro START name, stop
	movl $0, nlog
	movl $\stop, stop_at
	movl $888f, cname
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
/* START64: START in 64-bit code (an ELF32 object: symbols only as
 * zero-extended immediates). */
	.macro START64 name, stop
	movl $nlog, %r8d
	movl $0, (%r8)
	movl $stop_at, %r8d
	movl $\stop, (%r8)
	movl $cname, %r8d
	movl $888f, (%r8)
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
/* TFON: set TF (no trap after the POPF). */
	.macro TFON
	pushfl
	orl $TF, (%esp)
	popfl
	.endm
/* WANT eip, cs, dr6: one expected log entry. */
	.macro WANT eip, cs, dr6
	.long \eip, \cs, \dr6
	.endm
/* COPY from, to: a log (its count, then its entries). */
	.macro COPY from, to
	movl $\from, %esi
	movl $\to, %edi
	movl $(LOGMAX * 3 + 1), %ecx
	rep movsl
	.endm

	.text
	.globl _start
_start:
	movl $0x200000, %esp
	lgdt gdt_desc
	ljmp $CODE0, $1f
1:	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl $code16_base, %eax
	movw %ax, gdt + CODE16 + 2
	shrl $16, %eax
	movb %al, gdt + CODE16 + 4
	movb %ah, gdt + CODE16 + 7
	/* Every vector to `unexpected', then #DB and 0x31 their own. */
	xorl %ecx, %ecx
2:	leal idt(, %ecx, 8), %edi
	movl $unexpected, %eax
	call set_gate
	incl %ecx
	cmpl $0x40, %ecx
	jb 2b
	movl $db_handler, %eax
	movl $idt + 1 * 8, %edi
	call set_gate
	movl $int31, %eax
	movl $idt + 0x31 * 8, %edi
	call set_gate
	movl $ud_handler, %eax
	movl $idt + 6 * 8, %edi
	call set_gate
	lidt idt_desc

	/* step: traps after each instruction, the jump's target. */
	START step, s1_end
	xorl %eax, %eax
	TFON
s1_a:	nop
s1_b:	movl $5, %eax
s1_c:	jmp s1_e
s1_d:	hlt
s1_e:	incl %eax
s1_end:
	movl %eax, got
	movl $w_step, %esi
	call judge
	cmpl $6, got
	je 1f
	movl $s_eax, %esi
	call puts
	incl failures
1:
	/* movss: no trap after MOV SS, one after the next instruction. */
	START movss, s2_end
	movw %ss, %bx
	TFON
s2_a:	nop
s2_b:	movw %bx, %ss
s2_c:	nop
s2_d:	nop
s2_end:
	movl $w_movss, %esi
	call judge

	/* int: INT n is not traced, nor its handler; after its IRET the
	 * next trap follows one more instruction. */
	START int, s3_end
	TFON
s3_a:	nop
s3_b:	int $0x31
s3_c:	nop
s3_d:	nop
s3_end:
	movl $w_int, %esi
	call judge

	/* ibp: DR0 on an instruction, L0: a fault before it, once. */
	START ibp, 0
	movl $s4_b, %eax
	movl %eax, %dr0
	movl $0x1, %eax
	movl %eax, %dr7
	xorl %ecx, %ecx
s4_a:	nop
s4_b:	incl %ecx
s4_c:	nop
	xorl %eax, %eax
	movl %eax, %dr7
	movl %ecx, got
	movl $w_ibp, %esi
	call judge
	cmpl $1, got
	je 1f
	movl $s_ecx, %esi
	call puts
	incl failures
1:
	/* ibp-loop: G0, an instruction run three times faults three
	 * times (RF lasts one instruction). */
	START ibp-loop, 0
	movl $s5_b, %eax
	movl %eax, %dr0
	movl $0x2, %eax
	movl %eax, %dr7
	movl $3, %ecx
s5_b:	decl %ecx
	jnz s5_b
	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_ibploop, %esi
	call judge

	/* ibp-off: DR0 on an instruction with L0 and G0 clear, DR1 (L1)
	 * on one never run: nothing. */
	START ibp-off, 0
	movl $s6_b, %eax
	movl %eax, %dr0
	movl $s6_x, %eax
	movl %eax, %dr1
	movl $0x4, %eax
	movl %eax, %dr7
s6_b:	nop
	jmp 1f
s6_x:	nop
1:	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_ibpoff, %esi
	call judge

	/* mode16: TF across far jumps to 16-bit code and back. */
	START mode16, s7_end
	TFON
s7_a:	nop
s7_b:	ljmp $CODE16, $(c16 - code16_base)
s7_end:
	movl $w_mode16, %esi
	call judge

	/* wp-table: the SDM's table of data breakpoint examples (17.2.5,
	 * table 17-2): DR0 read/write 1 byte at A+1, DR1 write 1 byte at
	 * A+2, DR2 read/write 2 bytes at B+2, DR3 write 4 bytes at C; each
	 * access that touches a byte of a range of the right kind is a trap
	 * after the instruction with that DRn's B bit, no other access is. */
	START wp-table, 0
	movl $(wdata + 1), %eax
	movl %eax, %dr0
	movl $(wdata + 2), %eax
	movl %eax, %dr1
	movl $(wdata + 0x12), %eax
	movl %eax, %dr2
	movl $(wdata + 0x20), %eax
	movl %eax, %dr3
	movl $0xd7130055, %eax          /* L0-L3; RW/LEN 11/00 01/00 11/01 01/11 */
	movl %eax, %dr7
	movb wdata + 1, %al
x2:	movw wdata + 1, %ax
x3:	movw %ax, wdata + 1
x4:	movb %al, wdata + 2
x5:	movw %ax, wdata + 2
x6:	movl wdata + 0x11, %eax
x7:	movb wdata + 0x12, %al
x8:	movw %ax, wdata + 0x12
x9:	movl %eax, wdata + 0x20
x10:	movw %ax, wdata + 0x21
x11:	movb %al, wdata + 0x23
x12:	movb wdata, %al                 /* none from here */
	movb wdata + 2, %al
	movl wdata + 3, %eax
	movw wdata + 0x10, %ax
	movl wdata + 0x14, %eax
	movl wdata + 0x20, %eax
	movl %eax, wdata + 0x24
	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_wptable, %esi
	call judge

	/* wp-len8: LEN 10 is 8 bytes (17.2.4, on the processors vmkit
	 * models); a write touching one of them traps. */
	START wp-len8, 0
	movl $(wdata + 0x30), %eax
	movl %eax, %dr0
	movl $0x00090001, %eax          /* L0, RW 01, LEN 10 */
	movl %eax, %dr7
	movl %eax, wdata + 0x2c         /* below: none */
	movl %eax, wdata + 0x34
y2:	movb %al, wdata + 0x37
y3:	movl %eax, wdata + 0x38         /* above: none */
	movl %eax, wdata + 0x2e
y4:	movl wdata + 0x30, %eax         /* a read: none */
	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_wplen8, %esi
	call judge

	/* wp-rmw: a read-modify-write and a PUSH to a write breakpoint:
	 * one trap each; the POP's read none. */
	START wp-rmw, 0
	movl $(wdata + 0x40), %eax
	movl %eax, %dr0
	leal -4(%esp), %eax
	movl %eax, %dr1
	movl $0x00dd0004, %eax          /* L1, RW 01 LEN 11 (both) */
	movl %eax, %dr7
	pushl $7
v2:	popl %eax
	movl $0x00dd0001, %eax          /* L0 (the #DB frame would hit DR1) */
	movl %eax, %dr7
	incl wdata + 0x40
v3:	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_wprmw, %esi
	call judge

	/* wp-rep: a REP STOSB over a write breakpoint and a REP MOVSL over
	 * a read/write one: a trap after the iteration that hit, with EIP
	 * on the instruction, ECX counting the iterations left, and RF in
	 * the pushed EFLAGS (17.3.1.1); none for the others.  The log has
	 * ECX | (RF) where the CS goes. */
	START wp-rep, 0
	movl $1, log_ecx
	movl $(wdata + 0x48), %eax
	movl %eax, %dr0
	movl $(wdata + 0x58), %eax
	movl %eax, %dr1
	movl $0x00f10005, %eax          /* L0 RW 01 LEN 00, L1 RW 11 LEN 11 */
	movl %eax, %dr7
	cld
	xorl %eax, %eax
	movl $(wdata + 0x44), %edi
	movl $8, %ecx
u1:	rep stosb
	movl $(wdata + 0x50), %esi
	movl $(wdata + 0x60), %edi
	movl $4, %ecx
u2:	rep movsl
	xorl %eax, %eax
	movl %eax, %dr7
	movl $0, log_ecx
	movl $w_wprep, %esi
	call judge

	/* wp-deliver: data breakpoints an event delivery's own pushes hit
	 * are a #DB trap once the delivery is done, before the handler's
	 * first instruction, whose address is pushed, with the DRn's B bit
	 * (17.3.1.2; 6.12.1 for the frame): INT 0x31 onto a write
	 * breakpoint on its frame's EIP slot, a #UD (MOV from DR4 with
	 * CR4.DE) onto one on its frame's EFLAGS slot.  The #DB frames go
	 * below the ranges.  (Under R/W 11 the IRET's read of the slot
	 * would be a trap whose own frame hits again.) */
	START wp-deliver, 0
	leal -12(%esp), %eax            /* INT's EIP slot */
	movl %eax, %dr0
	leal -4(%esp), %eax             /* #UD's EFLAGS slot */
	movl %eax, %dr1
	movl $0x00dd0001, %eax          /* L0, RW 01 LEN 11 (both) */
	movl %eax, %dr7
	int $0x31
p2:	movl $0x00dd0004, %eax          /* L1 */
	movl %eax, %dr7
	movl %cr4, %eax
	orl $DE, %eax
	movl %eax, %cr4
p3:	movl %dr4, %eax
	movl %cr4, %eax
	andl $~DE, %eax
	movl %eax, %cr4
	xorl %eax, %eax
	movl %eax, %dr7
	movl $w_wpdeliver, %esi
	call judge

	/* rep-irq: a hardware interrupt between the iterations of a REP
	 * MOVSB pushes the instruction's EIP and RF set in the EFLAGS
	 * image (17.3.1.1), so that the IRET resumes it without the
	 * instruction breakpoint on it (DR0, L0) firing again: one fault
	 * before the first iteration only.  The copy is complete: ECX 0,
	 * ESI and EDI one byte below the strings (DF set, which also makes
	 * it go byte by byte), every byte copied.  The LAPIC timer ticks
	 * every 20 us (1 GHz clock); the string is run again, up to 16
	 * times, until a tick came in the middle of it. */
	movl $RI_SRC, %edi
	movl $(RI_LEN / 4), %ecx
	call ri_fill
	movl $R6_SRC, %edi              /* rep64-irq's, while paging is off */
	movl $(R6_LEN / 4), %ecx
	call ri_fill
	movl $rep_isr, %eax
	movl $idt + 0x30 * 8, %edi
	call set_gate
	movl $rep_spur, %eax
	movl $idt + 0x3f * 8, %edi
	call set_gate
	movl $0x13f, APIC + 0xf0        /* SVR: enabled, spurious 0x3f */
	movl $0x10000, APIC + 0x350     /* LVT LINT0 masked: no PIC */
	movl $0xb, APIC + 0x3e0         /* divide by 1 */
	movl $0x20030, APIC + 0x320     /* periodic, vector 0x30 */
	movl $20000, APIC + 0x380       /* 20 us */
	movl $16, ri_tries
	movl $ri_rep, ri_at
ri_again:
	START rep-irq, 0
	movl $0, irq_mid
	movl $0, irq_norf
	movl $ri_rep, %eax
	movl %eax, %dr0
	movl $1, %eax
	movl %eax, %dr7
	std
	movl $(RI_SRC + RI_LEN - 1), %esi
	movl $(RI_DST + RI_LEN - 1), %edi
	movl $RI_LEN, %ecx
	sti
ri_rep:	rep movsb
	cli
	cld
	movl %ecx, ri_ecx
	movl %esi, ri_esi
	movl %edi, ri_edi
	xorl %eax, %eax
	movl %eax, %dr7
	cmpl $0, irq_mid
	jne 1f
	decl ri_tries
	jnz ri_again
1:	movl $0, APIC + 0x380           /* the timer stopped */
	movl $0x10030, APIC + 0x320
	movl $w_repirq, %esi
	call judge
	/* wp-irq: a hardware interrupt (the LAPIC timer, one-shot, taken
	 * in HLT) whose frame's EIP slot a write breakpoint covers: the
	 * #DB trap before the handler's first instruction, as wp-deliver.
	 * First the tick rep-irq's timer may have left pending. */
	sti
	nop
	cli
	START wp-irq, 0
	leal -12(%esp), %eax
	movl %eax, %dr0
	movl $0x000d0001, %eax          /* L0, RW 01 LEN 11 */
	movl %eax, %dr7
	movl $0x30, APIC + 0x320        /* one-shot, vector 0x30 */
	movl $100000, APIC + 0x380      /* 100 us */
	sti
	hlt
	cli
	xorl %eax, %eax
	movl %eax, %dr7
	movl $0x10030, APIC + 0x320
	movl $w_wpirq, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "rep-irq-ticks"
	.text
	movl $RI_SRC, %esi
	movl $RI_DST, %edi
	movl $RI_LEN, %ecx
	call ri_check
	/* rep16-irq: rep-irq in 16-bit code (CODE16, D=0): the REP MOVSB
	 * with 16-bit addressing counts CX and steps SI and DI; the ticks
	 * through the 32-bit gate push its IP (the REP's) with RF set
	 * (17.3.1.1), the breakpoint on it faults once, and the copy
	 * completes: CX 0, SI and DI one byte below the strings, the upper
	 * halves of ECX, ESI and EDI as they were (rep16-irq-ticks). */
	movl $R16_SRC, %edi
	movl $(R16_LEN / 4), %ecx
	call ri_fill
	movl $16, ri_tries
	movl $(r16i_rep - code16_base), ri_at
	movl $0x20030, APIC + 0x320     /* periodic, vector 0x30 */
	movl $20000, APIC + 0x380       /* 20 us */
r16i_again:
	START rep16-irq, 0
	movl $0, irq_mid
	movl $0, irq_norf
	movl $r16i_rep, %eax            /* its linear address */
	movl %eax, %dr0
	movl $1, %eax
	movl %eax, %dr7
	ljmp $CODE16, $(r16i - code16_base)
r16i_back:
	xorl %eax, %eax
	movl %eax, %dr7
	cmpl $0, irq_mid
	jne 1f
	decl ri_tries
	jnz r16i_again
1:	movl $0, APIC + 0x380
	movl $0x10030, APIC + 0x320
	movl $w_rep16irq, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "rep16-irq-ticks"
	.text
	/* The upper halves first, then ri_check on the 16-bit values. */
	cmpl $0x12340000, ri_ecx
	jne 2f
	cmpw $0xabcd, ri_esi + 2
	jne 2f
	cmpw $0x5a5a, ri_edi + 2
	jne 2f
	movl $0, ri_ecx
	movw $0, ri_esi + 2
	movw $0, ri_edi + 2
	jmp 3f
2:	movl $-1, ri_ecx                /* ri_check says the copy failed */
3:	movl $R16_SRC, %esi
	movl $R16_DST, %edi
	movl $R16_LEN, %ecx
	call ri_check
	/* iobp: with CR4.DE, R/W 10 is an I/O breakpoint: a trap after an
	 * IN or OUT touching its ports (17.2.4, 17.2.5). */
	START iobp, 0
	movl %cr4, %eax
	orl $DE, %eax
	movl %eax, %cr4
	movl $0x80, %eax
	movl %eax, %dr0
	movl $0x84, %eax
	movl %eax, %dr1
	movl $0x00e20005, %eax          /* L0 RW 10 LEN 00, L1 RW 10 LEN 11 */
	movl %eax, %dr7
	xorl %eax, %eax
	outb %al, $0x80
z2:	inb $0x81, %al                  /* none */
	movw $0x86, %dx
	outw %ax, %dx
z3:	inb $0x83, %al                  /* none */
	movw $0x82, %dx
	inl %dx, %eax                   /* 0x82-0x85 */
z4:	xorl %eax, %eax
	movl %eax, %dr7
	movl %cr4, %eax
	andl $~DE, %eax
	movl %eax, %cr4
	movl $w_iobp, %esi
	call judge

	/* gd: with DR7.GD a MOV DR is a #DB fault before it, DR6.BD set
	 * and GD clear in the handler, whose IRET runs it (17.2.4). */
	START gd, 0
	movl $0x2000, %eax
	movl %eax, %dr7
g1:	movl %dr0, %eax
	movl %dr7, %eax
	movl %eax, got
	movl $w_gd, %esi
	call judge
	testl $0x2000, got
	jz 1f
	movl $s_gd, %esi
	call puts
	incl failures
1:
	/* dr45: with CR4.DE clear DR4 and DR5 are DR6 and DR7; with it set
	 * a MOV to or from either is #UD (17.2.2).  The #UD handler logs
	 * EIP and skips the 3-byte MOV. */
	START dr45, 0
	movl $1, %eax
	movl %eax, %dr6
	movl %dr4, %eax
	andl $0xf, %eax
	movl %eax, got
	movl $0x100, %eax               /* LE, no breakpoint */
	movl %eax, %dr5
	movl %dr7, %eax
	andl $0x1ff, %eax
	addl %eax, got                  /* 1 + 0x100 */
	xorl %eax, %eax
	movl %eax, %dr5
	movl %eax, %dr6
	movl %cr4, %eax
	orl $DE, %eax
	movl %eax, %cr4
d1:	movl %dr4, %eax
d2:	movl %eax, %dr5
d3:	movl %cr4, %eax
	andl $~DE, %eax
	movl %eax, %cr4
	movl $w_dr45, %esi
	call judge
	cmpl $0x101, got
	je 1f
	movl $s_dr45, %esi
	call puts
	incl failures
1:
	/* step-rep: TF and REP: a trap after each iteration, EIP on the
	 * instruction and RF pushed until the last (17.3.1.4, 17.3.1.1);
	 * a REPE CMPSB that stops early; a REP with ECX 0 traps once. */
	START step-rep, sr_end
	movl $1, log_ecx
	cld
	movl $(wdata + 0x68), %edi
	movl $(wdata + 0x78), %esi
	movl $0x01020304, wdata + 0x70
	movl $0x09090904, wdata + 0x78  /* differs at the 2nd byte */
	movl $3, %ecx
	TFON
sr_a:	rep stosb
sr_b:	movl $4, %ecx
sr_c:	movl $(wdata + 0x70), %edi
sr_d:	repe cmpsb
sr_e:	xorl %ecx, %ecx
sr_f:	rep stosb
sr_end:
	movl $0, log_ecx
	movl $w_steprep, %esi
	call judge

	/* realmode: TF across a switch to real mode and back (17.3.1.4;
	 * 9.9.2, 9.9.1): each trap is delivered in the mode the
	 * instruction left: the one after the MOV CR0 that clears PE
	 * through the real-mode IVT, the one after the MOV CR0 that sets
	 * it through the IDT.  The code runs in a 16-bit segment whose
	 * selector, 0xfff8, times 16 is its base, so that CS means the
	 * same in both modes; one table serves as IVT (vector 1 at +4) and
	 * as IDT (its gate at +8); the stack is a 16-bit one below 64K. */
	movl $gdt, %esi                 /* the GDT, grown to 64K */
	movl $gdt_big, %edi
	movl $(gdt_end - gdt), %ecx
	rep movsb
	movl $0x0000ffff, gdt_big + 0xfff8      /* 16-bit code, base 0xfff80 */
	movl $0x00009a0f, gdt_big + 0xfff8 + 4
	movw $0xff80, gdt_big + 0xfff8 + 2
	movl $0x0000ffff, gdt_big + 0xfff0      /* 16-bit data, base 0 */
	movl $0x00009200, gdt_big + 0xfff0 + 4
	lgdt gdt_big_desc
	movl $((0xfff8 << 16) + (rdb - 0xfff80)), dual + 4
	movl $db_handler, %eax
	movl $dual + 8, %edi
	call set_gate
	lidt dual_desc
	movl %esp, saved_esp
	movw $0xfff0, %ax
	movw %ax, %ss
	movl $0x7ff0, %esp
	START realmode, rm_end
	TFON
	ljmp $0xfff8, $(r16 - 0xfff80)
	.code16
r16:	movl %cr0, %eax
r16b:	andb $0xfe, %al
r16c:	movl %eax, %cr0                 /* real mode */
r16d:	nop
r16e:	movl %cr0, %eax
r16f:	orb $1, %al
r16g:	movl %eax, %cr0                 /* protected mode */
r16h:	ljmpl $CODE0, $rm_end
	.code32
rm_end:
	movw $DATA0, %ax
	movw %ax, %ss
	movl saved_esp, %esp
	lgdt gdt_desc
	lidt idt_desc
	movl $w_realmode, %esi
	call judge
	jmp go64

/* #DB in real mode (from realmode): as db_handler, with a 16-bit frame
 * (IP, CS, FLAGS), IP where the log has EIP; DS keeps its protected-mode
 * base 0 and 4G limit. */
	.code16
rdb:	pushl %eax
	pushl %ebx
	pushl %ecx
	movl %dr6, %ecx
	andl $(BS | BD | 0xf), %ecx
	addr32 movl nlog, %ebx
	cmpl $LOGMAX, %ebx
	jae 1f
	imull $12, %ebx
	movzwl 12(%esp), %eax
	movl %eax, log(%ebx)
	movzwl 14(%esp), %eax
	movl %eax, log + 4(%ebx)
	movl %ecx, log + 8(%ebx)
	addr32 incl nlog
1:	xorl %eax, %eax
	movl %eax, %dr6
	popl %ecx
	popl %ebx
	popl %eax
	iret
	.code32

/* The same in 64-bit mode, where the jit tier compiles the code: each
 * check three times, the first log judged and the third, once the
 * translator has compiled and linked the blocks. */
go64:
	movl $pml4, %edi
	xorl %eax, %eax
	movl $(4 * 4096 / 4), %ecx
	rep stosl
	movl $pdpt + 3, pml4
	movl $pd + 3, pdpt
	movl $0x83, pd                  /* 2 MiB pages: 0-4 MiB */
	movl $0x200083, pd + 8
	movl $pd_apic + 3, pdpt + 3 * 8 /* and the LAPIC's, PCD */
	movl $(APIC + 0x93), pd_apic + ((APIC >> 21) & 511) * 8
	xorl %ecx, %ecx
1:	movl %ecx, %edi
	shll $4, %edi
	addl $idt64, %edi
	movl $unexp64, %eax
	cmpl $1, %ecx
	jne 3f
	movl $db64, %eax
3:	cmpl $6, %ecx
	jne 3f
	movl $ud64, %eax
3:	cmpl $0x1f, %ecx
	jne 3f
	movl $int1f64, %eax
3:	cmpl $0x30, %ecx
	jne 2f
	movl $rep64_isr, %eax
2:	movw %ax, (%edi)
	movw $CODE64, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	incl %ecx
	cmpl $0x40, %ecx
	jb 1b
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	/* lmentry: TF across the MOV CR0 that activates IA-32e mode and
	 * the far jump to 64-bit code: the first trap is delivered in
	 * IA-32e mode, through a 64-bit gate, to the 64-bit handler, with
	 * the compatibility-mode CS (17.3.1.4, 9.8.5, 6.14).  The IDT is a
	 * table with a 32-bit gate for #DB at +8 and a 64-bit one at +16. */
	movl $db64, %eax
	movw %ax, dual + 16
	movw $CODE64, dual + 18
	movw $0x8e00, dual + 20
	shrl $16, %eax
	movw %ax, dual + 22
	movl $0, dual + 24
	movl $0, dual + 28
	lidt dual_desc
	START lmentry, lm64b
	movl %cr0, %eax
	orl $0x80000000, %eax
	TFON
	movl %eax, %cr0
lm_b:	ljmp $CODE64, $lm64

	.code64
lm64:	nop
lm64b:	COPY nlog, l_lmentry
long64:
	movl $idt64_desc, %eax
	lidt (%rax)
	movl $3, %r12d
r1:	START64 step64, t1_end
	xorl %eax, %eax
	pushfq
	orq $TF, (%rsp)
	popfq
t1_a:	nop
t1_b:	movl $5, %eax
t1_c:	jmp t1_e
t1_d:	hlt
t1_e:	incl %eax
t1_end:
	cmpl $3, %r12d
	jne 1f
	COPY nlog, l_step64
1:	decl %r12d
	jnz r1
	COPY nlog, l_step64b
	movl $3, %r12d
r2:	START64 ibp64, 0
	movl $t2_b, %eax
	movq %rax, %dr0
	movl $1, %eax
	movq %rax, %dr7
	xorl %ecx, %ecx
t2_a:	nop
t2_b:	incl %ecx
	nop
	xorl %eax, %eax
	movq %rax, %dr7
	cmpl $3, %r12d
	jne 1f
	COPY nlog, l_ibp64
1:	decl %r12d
	jnz r2
	COPY nlog, l_ibp64b
	/* wp64: a write breakpoint armed over a block the translator has
	 * compiled (wtouch, run once before): its store traps. */
	movl $3, %r12d
r3:	START64 wp64, 0
	call wtouch
	movl $(wdata + 0x40), %eax
	movq %rax, %dr0
	movl $0x000d0001, %eax          /* L0, RW 01, LEN 11 */
	movq %rax, %dr7
	call wtouch
	xorl %eax, %eax
	movq %rax, %dr7
	cmpl $3, %r12d
	jne 1f
	COPY nlog, l_wp64
1:	decl %r12d
	jnz r3
	COPY nlog, l_wp64b
	/* wp64-deliver: wp-deliver in 64-bit mode: INT 0x1f onto a write
	 * breakpoint on the RIP slot of its frame (8 bytes, LEN 10; the
	 * frame starts at RSP rounded down to 16), a #UD (UD2) onto one on
	 * its RFLAGS slot. */
	START64 wp64-deliver, 0
	movq %rsp, %rax
	andq $~15, %rax
	subq $40, %rax                  /* RIP */
	movq %rax, %dr0
	addq $16, %rax                  /* RFLAGS */
	movq %rax, %dr1
	movl $0x00990001, %eax          /* L0, RW 01 LEN 10 (both) */
	movq %rax, %dr7
	int $0x1f
	movl $0x00990004, %eax          /* L1 */
	movq %rax, %dr7
	ud2
	xorl %eax, %eax
	movq %rax, %dr7
	COPY nlog, l_wp64d
	/* rep64-irq: rep-irq's ticks in 64-bit code, which the jit tier
	 * compiles (a REP MOVSB with DF set goes to its handler, which
	 * stops between chunks of iterations for interrupts), without a
	 * breakpoint: three runs, each repeated up to 16 times until a
	 * tick came in the middle; the third judged. */
	movl $(APIC + 0x320), %edx
	movl $0x20030, (%rdx)           /* periodic, vector 0x30 */
	movl $(APIC + 0x380), %edx
	movl $20000, (%rdx)
	movl $3, %r12d
r4:	movl $16, %r13d
r5:	movl $irq_mid, %edx
	movl $0, (%rdx)
	movl $irq_norf, %edx
	movl $0, (%rdx)
	std
	movl $(R6_SRC + R6_LEN - 1), %esi
	movl $(R6_DST + R6_LEN - 1), %edi
	movl $R6_LEN, %ecx
	sti
ri64_rep: rep movsb
	cli
	cld
	movl $irq_mid, %edx
	cmpl $0, (%rdx)
	jne 1f
	decl %r13d
	jnz r5
1:	decl %r12d
	jnz r4
	movl $ri_ecx, %edx
	movq %rcx, (%rdx)
	movl $ri_esi, %edx
	movq %rsi, (%rdx)
	movl $ri_edi, %edx
	movq %rdi, (%rdx)
	movl $(APIC + 0x380), %edx
	movl $0, (%rdx)                 /* the timer stopped */
	movl $(APIC + 0x320), %edx
	movl $0x10030, (%rdx)
	/* To compatibility mode (32-bit code) to judge them. */
	pushq $CODE0
	movl $compat, %eax
	pushq %rax
	lretq

/* #DB in 64-bit mode: as db_handler. */
db64:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	/* RIP at 32(%rsp), CS at 40, RFLAGS at 48. */
	movq %dr6, %rcx
	andl $(BS | 0xf), %ecx
	movl $nlog, %edx
	movl (%rdx), %ebx
	cmpl $LOGMAX, %ebx
	jae 2f
	imull $12, %ebx
	addl $log, %ebx
	movl 32(%rsp), %eax
	movl %eax, (%rbx)
	movzwl 40(%rsp), %eax
	movl %eax, 4(%rbx)
	movl %ecx, 8(%rbx)
	incl (%rdx)
2:	testl $0xf, %ecx
	jz 3f
	orl $RF, 48(%rsp)
3:	xorl %eax, %eax
	movq %rax, %dr6
	movl 32(%rsp), %eax
	movl $stop_at, %ebx
	cmpl (%rbx), %eax
	je 4f
	cmpl $LOGMAX, (%rdx)
	jb 5f
	xorl %eax, %eax
	movq %rax, %dr7
4:	andl $~TF, 48(%rsp)
5:	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	iretq

/* The LAPIC timer in 64-bit mode (rep64-irq): as rep_isr.  Also a tick
 * rep-irq's timer left pending. */
rep64_isr:
	pushq %rax
	pushq %rdx
	movl $ri64_rep, %eax
	cmpq %rax, 16(%rsp)
	jne 1f
	movl $irq_mid, %edx
	incl (%rdx)
	testl $RF, 32(%rsp)
	jnz 1f
	movl $irq_norf, %edx
	incl (%rdx)
1:	movl $(APIC + 0xb0), %edx
	movl $0, (%rdx)                 /* EOI */
	popq %rdx
	popq %rax
	iretq

/* INT 0x1f and #UD (UD2, skipped) in 64-bit mode (wp64-deliver). */
int1f64:
	nop
	iretq
ud64:
	addq $2, (%rsp)
	iretq

wtouch:
	movl $(wdata + 0x40), %edx
	movl (%rdx), %eax
	incl %eax
	movl %eax, (%rdx)
w64b:	ret

unexp64:
	movl $s_unexp, %esi
	call puts
	EXIT $1
	.code32

compat:
	movl $888f, cname
	.section .rodata
888:	.asciz "step64"
	.text
	COPY l_step64, nlog
	movl $w_step64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "step64-linked"
	.text
	COPY l_step64b, nlog
	movl $w_step64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "ibp64"
	.text
	COPY l_ibp64, nlog
	movl $w_ibp64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "ibp64-linked"
	.text
	COPY l_ibp64b, nlog
	movl $w_ibp64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "wp64"
	.text
	COPY l_wp64, nlog
	movl $w_wp64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "wp64-linked"
	.text
	COPY l_wp64b, nlog
	movl $w_wp64, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "wp64-deliver"
	.text
	COPY l_wp64d, nlog
	movl $w_wp64d, %esi
	call judge
	movl $888f, cname
	.section .rodata
888:	.asciz "rep64-irq-ticks"
	.text
	movl $R6_SRC, %esi
	movl $R6_DST, %edi
	movl $R6_LEN, %ecx
	call ri_check
	movl $888f, cname
	.section .rodata
888:	.asciz "lmentry"
	.text
	COPY l_lmentry, nlog
	movl $w_lmentry, %esi
	call judge

	cmpl $0, failures
	jne 1f
	movl $s_allok, %esi
	call puts
	EXIT $0
1:	movl $s_failed, %esi
	call puts
	EXIT $1

/* #DB: log EIP, CS, DR6 & (B0-B3 | BS); clear DR6; RF for a breakpoint;
 * TF off at the check's end or when the log is full. */
db_handler:
	pushl %eax
	pushl %ebx
	pushl %ecx
	/* The frame: EIP at 12(%esp), CS at 16, EFLAGS at 20. */
	movl %dr6, %ecx
	andl $(BS | BD | 0xf), %ecx
	movl nlog, %ebx
	cmpl $LOGMAX, %ebx
	jae 2f
	imull $12, %ebx
	movl 12(%esp), %eax
	movl %eax, log(%ebx)
	movzwl 16(%esp), %eax
	cmpl $0, log_ecx
	je 6f
	movl 20(%esp), %eax             /* ECX | RF instead of CS */
	andl $RF, %eax
	orl (%esp), %eax
6:	movl %eax, log + 4(%ebx)
	movl %ecx, log + 8(%ebx)
	incl nlog
2:	testl $0xf, %ecx
	jz 3f
	orl $RF, 20(%esp)
3:	xorl %eax, %eax
	movl %eax, %dr6
	movl 12(%esp), %eax
	cmpl stop_at, %eax
	je 4f
	cmpl $LOGMAX, nlog
	jb 5f
	xorl %eax, %eax
	movl %eax, %dr7
4:	andl $~TF, 20(%esp)
5:	popl %ecx
	popl %ebx
	popl %eax
	iret

/* #UD: log EIP, CS, 6; skip the 3-byte MOV DR. */
ud_handler:
	pushl %eax
	pushl %ebx
	movl nlog, %ebx
	cmpl $LOGMAX, %ebx
	jae 1f
	imull $12, %ebx
	movl 8(%esp), %eax
	movl %eax, log(%ebx)
	movzwl 12(%esp), %eax
	movl %eax, log + 4(%ebx)
	movl $6, log + 8(%ebx)
	incl nlog
1:	addl $3, 8(%esp)
	popl %ebx
	popl %eax
	iret

/* The LAPIC timer (rep-irq): count the ticks that came in the middle of
 * the REP MOVSB and those whose EFLAGS image had RF clear. */
rep_isr:
	pushl %eax
	movl ri_at, %eax                /* the REP's EIP in its segment */
	cmpl %eax, 4(%esp)
	jne 1f
	incl irq_mid
	testl $RF, 12(%esp)
	jnz 1f
	incl irq_norf
1:	movl $0, APIC + 0xb0            /* EOI */
	popl %eax
rep_spur:
	iret

/* INT 0x31: a handler of two instructions (TF is clear in it). */
int31:
	nop
	iret

unexpected:
	movl $s_unexp, %esi
	call puts
	EXIT $1

/* judge: the log against the list at esi (a count, then entries); print
 * the check's line. */
judge:
	pushl %esi
	movl cname, %esi
	call head
	popl %esi
	movl (%esi), %ecx
	cmpl nlog, %ecx
	jne 9f
	leal 4(%esi), %edi
	xorl %ebx, %ebx
	imull $3, %ecx
1:	cmpl %ecx, %ebx
	jae 2f
	movl (%edi, %ebx, 4), %eax
	cmpl log(, %ebx, 4), %eax
	jne 9f
	incl %ebx
	jmp 1b
2:	movl $s_ok, %esi
	jmp puts
9:	movl $s_bad, %esi
	call puts
	xorl %ebx, %ebx
	movl nlog, %ecx
	cmpl $LOGMAX, %ecx
	jbe 1f
	movl $LOGMAX, %ecx
1:	imull $3, %ecx
2:	cmpl %ecx, %ebx
	jae 3f
	movl log(, %ebx, 4), %eax
	call puthex
	incl %ebx
	jmp 2b
3:	movl $s_nl, %esi
	call puts
	incl failures
	ret

/* head: "debug: NAME " (esi = NAME). */
head:
	pushl %esi
	movl $s_head, %esi
	call puts
	popl %esi
	call puts
	movl $s_sp, %esi
	jmp puts

/* puthex: " " and eax in hex. */
puthex:
	pushl %ecx
	pushl %edx
	pushl %eax
	movb $' ', %al
	PUTC
	popl %eax
	movl $8, %ecx
1:	roll $4, %eax
	pushl %eax
	andl $0xf, %eax
	movb hex(%eax), %al
	PUTC
	popl %eax
	loop 1b
	popl %edx
	popl %ecx
	ret

/* ri_fill: ecx dwords of a pattern at edi. */
ri_fill:
	movl $0x01234567, %eax
1:	movl %eax, (%edi)
	addl $4, %edi
	roll $3, %eax
	addl %ecx, %eax
	loop 1b
	ret

/* ri_check: after a REP MOVSB with DF set of ecx bytes from esi to edi
 * (rep-irq, rep64-irq): "debug: NAME ok" if ri_ecx is 0, ri_esi and ri_edi
 * one byte below the strings, the bytes copied, a tick came in the middle
 * (irq_mid) and none of them had RF clear (irq_norf); else what failed. */
ri_check:
	pushl %esi
	movl cname, %esi
	call head
	popl %esi
	leal -1(%esi), %eax
	cmpl %eax, ri_esi
	jne 2f
	leal -1(%edi), %eax
	cmpl %eax, ri_edi
	jne 2f
	cmpl $0, ri_ecx
	jne 2f
	shrl $2, %ecx
	repe cmpsl
	jne 2f
	cmpl $0, irq_mid
	je 3f
	cmpl $0, irq_norf
	je 1f
	movl $s_norf, %esi
	jmp 4f
3:	movl $s_nomid, %esi
	jmp 4f
2:	movl $s_copy, %esi
4:	incl failures
	jmp puts
1:	movl $s_ok, %esi
	jmp puts

/* A 32-bit interrupt gate (DPL 0) to CODE0:eax at edi. */
set_gate:
	movw %ax, (%edi)
	movw $CODE0, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	ret

	.code16
	.align 16
code16_base:
c16:	nop
c16_b:	ljmpl $CODE0, $s7_end
/* rep16-irq: REP MOVSB backwards with 16-bit addressing, markers in the
 * upper halves of ECX, ESI and EDI. */
r16i:	std
	movl $(0xabcd0000 + R16_SRC + R16_LEN - 1), %esi
	movl $(0x5a5a0000 + R16_DST + R16_LEN - 1), %edi
	movl $(0x12340000 + R16_LEN), %ecx
	sti
r16i_rep:
	rep movsb
	cli
	cld
	addr32 movl %ecx, ri_ecx
	addr32 movl %esi, ri_esi
	addr32 movl %edi, ri_edi
	ljmpl $CODE0, $r16i_back
	.code32

	.section .rodata
	.align 4
w_step:	.long 4
	WANT s1_b, CODE0, BS
	WANT s1_c, CODE0, BS
	WANT s1_e, CODE0, BS
	WANT s1_end, CODE0, BS
w_movss: .long 3
	WANT s2_b, CODE0, BS
	WANT s2_d, CODE0, BS
	WANT s2_end, CODE0, BS
w_int:	.long 3
	WANT s3_b, CODE0, BS
	WANT s3_d, CODE0, BS
	WANT s3_end, CODE0, BS
w_ibp:	.long 1
	WANT s4_b, CODE0, 1
w_ibploop: .long 3
	WANT s5_b, CODE0, 1
	WANT s5_b, CODE0, 1
	WANT s5_b, CODE0, 1
w_ibpoff: .long 0
w_mode16: .long 4
	WANT s7_b, CODE0, BS
	WANT (c16 - code16_base), CODE16, BS
	WANT (c16_b - code16_base), CODE16, BS
	WANT s7_end, CODE0, BS
w_wptable: .long 11
	WANT x2, CODE0, 1
	WANT x3, CODE0, 1
	WANT x4, CODE0, 3
	WANT x5, CODE0, 2
	WANT x6, CODE0, 2
	WANT x7, CODE0, 4
	WANT x8, CODE0, 4
	WANT x9, CODE0, 4
	WANT x10, CODE0, 8
	WANT x11, CODE0, 8
	WANT x12, CODE0, 8
w_wplen8: .long 3
	WANT y2, CODE0, 1
	WANT y3, CODE0, 1
	WANT y4, CODE0, 1
w_wprmw: .long 2
	WANT v2, CODE0, 2
	WANT v3, CODE0, 1
w_wprep: .long 2
	WANT u1, 3 + RF, 1
	WANT u2, 1 + RF, 2
w_wpdeliver: .long 3
	WANT int31, CODE0, 1
	WANT ud_handler, CODE0, 2
	WANT p3, CODE0, 6
w_repirq: .long 1
	WANT ri_rep, CODE0, 1
w_rep16irq: .long 1
	WANT (r16i_rep - code16_base), CODE16, 1
w_wpirq: .long 1
	WANT rep_isr, CODE0, 1
w_iobp:	.long 3
	WANT z2, CODE0, 1
	WANT z3, CODE0, 2
	WANT z4, CODE0, 2
w_gd:	.long 1
	WANT g1, CODE0, BD
w_dr45:	.long 2
	WANT d1, CODE0, 6
	WANT d2, CODE0, 6
w_steprep: .long 9
	WANT sr_a, 2 + RF, BS
	WANT sr_a, 1 + RF, BS
	WANT sr_b, 0, BS
	WANT sr_c, 4, BS
	WANT sr_d, 4, BS
	WANT sr_d, 3 + RF, BS
	WANT sr_e, 2, BS
	WANT sr_f, 0, BS
	WANT sr_end, 0, BS
w_realmode: .long 9
	WANT (r16 - 0xfff80), 0xfff8, BS
	WANT (r16b - 0xfff80), 0xfff8, BS
	WANT (r16c - 0xfff80), 0xfff8, BS
	WANT (r16d - 0xfff80), 0xfff8, BS
	WANT (r16e - 0xfff80), 0xfff8, BS
	WANT (r16f - 0xfff80), 0xfff8, BS
	WANT (r16g - 0xfff80), 0xfff8, BS
	WANT (r16h - 0xfff80), 0xfff8, BS
	WANT rm_end, CODE0, BS
w_lmentry: .long 3
	WANT lm_b, CODE0, BS
	WANT lm64, CODE64, BS
	WANT lm64b, CODE64, BS
w_step64: .long 4
	WANT t1_b, CODE64, BS
	WANT t1_c, CODE64, BS
	WANT t1_e, CODE64, BS
	WANT t1_end, CODE64, BS
w_ibp64: .long 1
	WANT t2_b, CODE64, 1
w_wp64:	.long 1
	WANT w64b, CODE64, 1
w_wp64d: .long 2
	WANT int1f64, CODE64, 1
	WANT ud64, CODE64, 2
hex:	.ascii "0123456789abcdef"
s_head:	.asciz "debug: "
s_sp:	.asciz " "
s_ok:	.asciz "ok\n"
s_bad:	.asciz "BAD log:"
s_nl:	.asciz "\n"
s_eax:	.asciz "debug: step: EAX is not 6\n"
s_ecx:	.asciz "debug: ibp: the instruction did not run exactly once\n"
s_unexp: .asciz "debug: unexpected exception\n"
s_gd:	.asciz "debug: gd: DR7.GD still set after the #DB\n"
s_dr45:	.asciz "debug: dr45: DR4/DR5 are not DR6/DR7 with CR4.DE clear\n"
s_norf:	.asciz "BAD: RF clear in the image of a tick in the middle of the string\n"
s_nomid: .asciz "BAD: no tick came in the middle of the string in 16 runs\n"
s_copy:	.asciz "BAD: the copy is not complete (ECX, ESI, EDI or the bytes)\n"
s_allok: .asciz "debug: all ok\n"
s_failed: .asciz "debug: some checks failed\n"

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code */
	.quad 0x00cf92000000ffff        /* 0x10 flat data */
	.quad 0x00009a000000ffff        /* 0x18 16-bit code, base patched */
	.quad 0x00af9a000000ffff        /* 0x20 64-bit code */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x40 * 8 - 1
	.long idt
idt64_desc:
	.word 0x40 * 16 - 1
	.long idt64, 0
gdt_big_desc:
	.word 0xffff
	.long gdt_big
dual_desc:
	.word 31
	.long dual
saved_esp: .long 0
failures: .long 0
stop_at: .long 0
log_ecx: .long 0
irq_mid: .long 0
irq_norf: .long 0
ri_tries: .long 0
ri_at:	.long 0
	.align 8
ri_ecx:	.quad 0
ri_esi:	.quad 0
ri_edi:	.quad 0
	.bss
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096
pd_apic: .space 4096
idt:	.space 0x40 * 8
idt64:	.space 0x40 * 16
got:	.long 0
cname:	.long 0
	.align 64
wdata:	.space 128
/* A log: its count, then its entries (COPY moves both). */
nlog:	.long 0
log:	.space LOGMAX * 12
l_step64: .space LOGMAX * 12 + 4
l_step64b: .space LOGMAX * 12 + 4
l_ibp64: .space LOGMAX * 12 + 4
l_ibp64b: .space LOGMAX * 12 + 4
l_wp64:	.space LOGMAX * 12 + 4
l_lmentry: .space LOGMAX * 12 + 4
	.align 8
dual:	.space 32
gdt_big: .space 0x10000
l_wp64b: .space LOGMAX * 12 + 4
l_wp64d: .space LOGMAX * 12 + 4
