/*
 * e1000-evil: a guest that programs the e1000 (8086:100e) directly, with
 * hostile rings and registers, then checks the device still works.  Run
 * with -m 32M and --net nat,model=e1000,mac=52:54:00:12:34:56.  Exit status = the number of the
 * first failed check, 0 when all pass:
 *   1  the NIC is found on PCI bus 0 (BAR0 assigned)
 *   2  the EEPROM read through EERD sums to 0xbaba over its 64 words
 *   3  the PHY (MDIC, address 1) reads the 88E1011's ID 0x0141
 *   4  a transmit ring outside RAM: TDT written, TDH stays at 0
 *   5  a ring of 256 hostile descriptors (buffers outside RAM, 64 KiB
 *      lengths, 1 MiB lengths, TSO contexts with MSS 0 and offsets past
 *      the header): one TDT write walks it once, TDH = TDT
 *   6  TSO with MSS 1 over a 2000-byte payload (2000 segments): done
 *   7  receive: an ARP request for 10.0.2.2 sent through the ring brings
 *      the NAT's reply into descriptor 0, whose buffer is outside RAM:
 *      the descriptor says DD|EOP and the RXE error; descriptor 1 (in
 *      RAM) gets nothing more
 *   8  20000 pseudo-random writes to the first 32 KiB of registers
 *      (ring bases kept in a scratch area), then CTRL.RST: the link is
 *      up and EERD reads the MAC again
 */
#include "guest.inc"

	.set SCRATCH, 0x800000  /* rings and buffers the device may trash */
	.set TXR, 0x300000
	.set RXR, 0x380000
	.set BUF, 0x400000
	.set OUTSIDE, 0xfff00000

	.text
	.globl _start
_start:
	movl $0x200000, %esp

	/* 1: find the NIC, enable memory decoding and bus mastering. */
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $11, %eax
	orl $0x80000000, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	cmpl $0x100e8086, %eax
	je 2f
	incl %ecx
	cmpl $32, %ecx
	jb 1b
	movl $1, %ebx
	jmp fail
2:	movl %ecx, %eax
	shll $11, %eax
	orl $0x80000010, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	inl %dx, %eax
	andl $0xfffffff0, %eax
	movl %eax, %edi         /* BAR0 */
	movl $1, %ebx
	testl %edi, %edi
	jz fail
	movl %ecx, %eax
	shll $11, %eax
	orl $0x80000004, %eax
	movw $0xcf8, %dx
	outl %eax, %dx
	movw $0xcfc, %dx
	movw $7, %ax
	outw %ax, %dx
	movl %ecx, %ebp         /* keep the slot */

	/* 2: EERD, 64 words. */
	call eeprom_sum
	movl $2, %ebx
	cmpw $0xbaba, %si
	jne fail

	/* 3: MDIC read, PHY 1 register 2. */
	movl $(2 << 26) | (1 << 21) | (2 << 16), 0x20(%edi)
	movl 0x20(%edi), %eax
	movl $3, %ebx
	testl $(1 << 28), %eax
	jz fail
	cmpw $0x0141, %ax
	jne fail

	/* 4: a ring outside RAM. */
	movl $OUTSIDE, 0x3800(%edi)
	movl $0, 0x3804(%edi)
	movl $0x1000, 0x3808(%edi)
	movl $0, 0x3810(%edi)
	movl $0, 0x3818(%edi)
	movl $0x0a, 0x400(%edi)         /* TCTL: EN, PSP */
	movl $100, 0x3818(%edi)
	movl $4, %ebx
	cmpl $0, 0x3810(%edi)
	jne fail

	/* 5: 256 hostile descriptors at TXR, by i mod 4. */
	movl $TXR, %esi
	xorl %ecx, %ecx
3:	movl %ecx, %eax
	andl $3, %eax
	cmpl $1, %eax
	je 31f
	cmpl $2, %eax
	je 32f
	cmpl $3, %eax
	je 33f
	/* legacy, 0xffff bytes from BUF, no EOP */
	movl $BUF, (%esi)
	movl $0, 4(%esi)
	movl $0x0000ffff, 8(%esi)
	movl $0, 12(%esi)
	jmp 34f
31:	/* context: TSE, MSS 0, header 255, offsets past it */
	movl $0xfffffafa, (%esi)
	movl $0x0000fefc, 4(%esi)
	movl $0x2d0fffff, 8(%esi)       /* DEXT|TSE|IP|TCP, paylen max */
	movl $0x0000ff00, 12(%esi)      /* hdrlen 255, mss 0 */
	jmp 34f
32:	/* data: TSE, 1 MiB - 1 from outside RAM */
	movl $OUTSIDE, (%esi)
	movl $0, 4(%esi)
	movl $0x2c1fffff, 8(%esi)       /* DEXT|TSE|RS, dtyp 1 */
	movl $0x00000300, 12(%esi)      /* popts IXSM|TXSM */
	jmp 34f
33:	/* data: TSE, EOP, 100 bytes */
	movl $BUF, (%esi)
	movl $0, 4(%esi)
	movl $0x2d100064, 8(%esi)       /* DEXT|TSE|RS|EOP, dtyp 1 */
	movl $0x00000300, 12(%esi)
34:	addl $16, %esi
	incl %ecx
	cmpl $256, %ecx
	jb 3b
	movl $TXR, 0x3800(%edi)
	movl $0, 0x3810(%edi)
	movl $0, 0x3818(%edi)
	movl $255, 0x3818(%edi)
	movl $5, %ebx
	cmpl $255, 0x3810(%edi)
	jne fail
	movl $0, 0x3818(%edi)           /* the last one, wrapping */
	cmpl $0, 0x3810(%edi)
	jne fail

	/* 6: TSO, MSS 1: a context and one data descriptor. */
	movl $TXR, %esi
	movl $0x0021180e, (%esi)        /* ipcss 14, ipcso 24, ipcse 33 */
	movl $0x00003222, 4(%esi)       /* tucss 34, tucso 50, tucse 0 */
	movl $0x270007d0, 8(%esi)       /* DEXT|TSE|IP|TCP|RS, paylen 2000 */
	movl $0x00013600, 12(%esi)      /* hdrlen 54, mss 1 */
	movl $BUF, 16(%esi)
	movl $0, 20(%esi)
	movl $0x2d100000 + 2054, 24(%esi)
	movl $0x00000300, 28(%esi)
	movl $0x1000, 0x3808(%edi)
	movl $0, 0x3810(%edi)
	movl $0, 0x3818(%edi)
	movl $2, 0x3818(%edi)
	movl $6, %ebx
	cmpl $2, 0x3810(%edi)
	jne fail
	testb $1, 28(%esi)              /* DD written back */
	jz fail

	/* 7: receive into a buffer outside RAM. */
	movl $RXR, %esi
	movl $OUTSIDE, (%esi)
	movl $0, 4(%esi)
	movl $0, 8(%esi)
	movl $0, 12(%esi)
	movl $BUF + 0x10000, 16(%esi)
	movl $0, 20(%esi)
	movl $0, 24(%esi)
	movl $0, 28(%esi)
	movl $RXR, 0x2800(%edi)
	movl $0, 0x2804(%edi)
	movl $0x80, 0x2808(%edi)        /* 8 descriptors */
	movl $0, 0x2810(%edi)
	movl $0, 0x2818(%edi)
	movl $0x04008002, 0x100(%edi)   /* RCTL: EN, BAM, SECRC; 2 KiB */
	movl $1, 0x2818(%edi)           /* only descriptor 0 is the NIC's */
	/* the ARP request, at BUF + 0x20000 */
	movl $BUF + 0x20000, %esi
	movl $0xffffffff, (%esi)
	movl $0x5452ffff, 4(%esi)       /* dst ff.., src 52:54:00:12:34:56 */
	movl $0x56341200, 8(%esi)
	movl $0x01000608, 12(%esi)      /* type 0806, htype 1 */
	movl $0x04060008, 16(%esi)      /* ptype 0800, hlen 6, plen 4 */
	movl $0x54520100, 20(%esi)      /* op 1, sha 52:54: */
	movl $0x56341200, 24(%esi)      /* 00:12:34:56 */
	movl $0x0f02000a, 28(%esi)      /* spa 10.0.2.15 */
	movl $0, 32(%esi)               /* tha */
	movl $0x000a0000, 36(%esi)      /* tha, tpa 10.0 */
	movl $0x00000202, 40(%esi)      /* tpa .2.2 */
	movl $0, 44(%esi)
	movl $0, 48(%esi)
	movl $0, 52(%esi)
	movl $0, 56(%esi)
	movl $TXR, %esi
	movl $BUF + 0x20000, (%esi)
	movl $0, 4(%esi)
	movl $0x0b00003c, 8(%esi)       /* legacy, 60 bytes, EOP|IFCS|RS */
	movl $0, 12(%esi)
	movl $0, 0x3810(%edi)
	movl $0, 0x3818(%edi)
	movl $1, 0x3818(%edi)
	movl $7, %ebx
	movl $RXR, %esi
	movl $20000000, %ecx
4:	testb $1, 12(%esi)
	jnz 5f
	pause
	decl %ecx
	jnz 4b
	jmp fail
5:	movb 12(%esi), %al
	andb $3, %al
	cmpb $3, %al
	jne fail
	cmpb $0x80, 13(%esi)
	jne fail
	cmpl $1, 0x2810(%edi)
	jne fail
	cmpl $0, 28(%esi)
	jne fail

	/* 8: noise.  An LCG picks register offsets and values. */
	movl $0x12345678, %ebx
	movl $20000, %ecx
6:	imull $1103515245, %ebx, %ebx
	addl $12345, %ebx
	movl %ebx, %eax
	shrl $8, %eax
	andl $0x7ffc, %eax      /* the first 32 KiB: the interesting part */
	imull $1103515245, %ebx, %ebx
	addl $12345, %ebx
	movl %ebx, %edx
	/* ring bases stay in the scratch area */
	cmpl $0x2800, %eax
	je 7f
	cmpl $0x3800, %eax
	je 7f
	cmpl $0x2804, %eax
	je 8f
	cmpl $0x3804, %eax
	je 8f
	jmp 9f
7:	andl $0x000ffff0, %edx
	addl $SCRATCH, %edx
	jmp 9f
8:	xorl %edx, %edx
9:	movl %edx, (%edi, %eax)
	decl %ecx
	jnz 6b
	movl $0x04000000, (%edi)        /* CTRL.RST */
	movl 8(%edi), %eax
	movl $8, %ebx
	testl $2, %eax                  /* STATUS.LU */
	jz fail
	movl $0x00000001, 0x14(%edi)    /* EERD word 0 */
	movl 0x14(%edi), %eax
	testl $0x10, %eax
	jz fail
	shrl $16, %eax
	cmpw $0x5452, %ax               /* 52:54 */
	jne fail

	EXIT $0
	hlt

fail:
	EXIT %ebx
	hlt

/* eeprom_sum: %si = the sum of the EEPROM's 64 words through EERD. */
eeprom_sum:
	xorl %esi, %esi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $8, %eax
	orl $1, %eax
	movl %eax, 0x14(%edi)
	movl 0x14(%edi), %eax
	shrl $16, %eax
	addw %ax, %si
	incl %ecx
	cmpl $64, %ecx
	jb 1b
	ret
