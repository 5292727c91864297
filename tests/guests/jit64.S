/*
 * jit64: what a translator gets wrong, in 64-bit mode (the DBT compiles
 * only 64-bit code).  The multiboot entry builds 4-level page tables
 * identity-mapping the first 4 GiB with 2 MiB pages, enters long mode and
 * runs, printing one line per check:
 *   smc      a function whose immediate is rewritten before each call;
 *            a store that rewrites the very next instruction
 *   gen      code copied into a data page, run, overwritten, run again
 *   cross    an instruction that straddles a 4 KiB page boundary
 *   icall    an indirect CALL whose pointer misses the TLB
 *   precise  a #PF in the middle of a block: the handler sees the
 *            registers, flags and RIP exactly as before the faulting
 *            instruction, and CR2
 *   irq      a LAPIC timer interrupt ends a tight loop (chained block)
 *   order    a misaligned 16-byte operand at a non-canonical address
 *            through RSP is #GP(0), not #SS(0) (CMPXCHG16B, MOVAPS)
 *   flags    flags carried by linked exits into blocks that read them
 *            first, overwrite them first, and back to a loop's head;
 *            the flags of an equal CMP past its JNE and a load;
 *            CF through a shift by 0 and through INC after a load
 *   nm       SSE code translated with CR0.TS clear, run again with TS
 *            set: #NM at its first SSE instruction, register or memory
 *            form, every time TS is set again
 *   xpage    accesses across a 4 KiB boundary between two pages whose
 *            frames are not adjacent (a run of PUSHes and of POPs, an
 *            unaligned MOV each way, both pages' TLB entries filled):
 *            each byte lands in its own page's frame
 *   sum      a checksum over ALU work with byte registers, memory
 *            operands, shifts, CMOV/SETcc, XADD and BSF, so that tiers
 *            can be compared
 * and exits 0 when every check passed, 1 otherwise.
 */
#include "guest.inc"

	.set CODE64, 0x08
	.set DATA64, 0x10
	.set PML4, 0x200000
	.set PDPT, 0x201000
	.set PD, 0x202000               /* 4 pages: 0-4 GiB */
	.set BUF, 0x300000              /* data page for generated code */
	.set ICALL_PTR, 0x500000        /* the icall check's pointer */
	.set STACK, 0x280000
	.set LAPIC, 0xfee00000
	.set UNMAPPED, 0x100000000      /* above the 4 GiB mapped */
	.set XPT, 0x208000              /* the xpage check's page table */
	.set XLIN, 0x800000             /* the 2 MiB it maps in 4 KiB pages */

	.text
	.code32
	.globl _start
_start:
	movl $STACK, %esp
	movl %ebx, mb_info
	/* Page tables: PD entries 2 MiB each, P|W|PS. */
	movl $PD, %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, (%edi,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax
	movl %eax, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 1b
	movl $PDPT, %edi
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	addl $PD + 3, %eax
	movl %eax, (%edi,%ecx,8)
	movl $0, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jne 2b
	movl $PDPT + 3, PML4
	movl $0, PML4 + 4
	movl %cr4, %eax
	orl $0x620, %eax                /* PAE, OSFXSR, OSXMMEXCPT */
	movl %eax, %cr4
	movl $PML4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	lgdt gdt_desc
	ljmp $CODE64, $long_entry

	.code64
long_entry:
	movl $DATA64, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $STACK, %esp
	movl $14, %edi
	movl $pf_handler, %eax
	call set_gate64
	movl $0x40, %edi
	movl $timer_handler, %eax
	call set_gate64
	movl $0xff, %edi
	movl $spurious_handler, %eax
	call set_gate64
	movl $idt_desc, %eax
	lidt (%rax)

	/* ---- smc: rewrite an immediate before each call ---- */
	xorl %ebx, %ebx
3:	movl $smc_fn + 1, %edx
	movl %ebx, (%rdx)
	call smc_fn
	cmpl %ebx, %eax
	jne smc_bad
	incl %ebx
	cmpl $200, %ebx
	jne 3b
	/* A store that rewrites the next instruction's imm8. */
	movl $4f + 1, %edx
	movb $0x42, (%rdx)
4:	movb $0x00, %al
	cmpb $0x42, %al
	jne smc_bad
	movl $msg_smc, %esi
	call puts64
	jmp gen
smc_bad:
	movl $msg_smc_bad, %esi
	call fail

	/* ---- gen: generated code in a data page ---- */
gen:
	movl $BUF, %edi
	movl $gen_a, %esi
	movl $gen_a_end - gen_a, %ecx
	cld
	rep movsb
	movl $5, %edi
	movl $BUF, %eax
	call *%rax
	cmpl $12, %eax                  /* lea 7(%rdi) */
	jne gen_bad
	movl $BUF, %edi
	movl $gen_b, %esi
	movl $gen_b_end - gen_b, %ecx
	rep movsb
	movl $5, %edi
	movl $BUF, %eax
	call *%rax
	cmpl $15, %eax                  /* imul $3 */
	jne gen_bad
	movl $msg_gen, %esi
	call puts64
	jmp cross
gen_bad:
	movl $msg_gen_bad, %esi
	call fail

	/* ---- cross: an instruction across a page boundary ---- */
cross:
	call cross_fn
	cmpl $0x12345678, %eax
	jne cross_bad
	movl $msg_cross, %esi
	call puts64
	jmp icall
cross_bad:
	movl $msg_cross_bad, %esi
	call fail

	/* ---- icall: CALL through a pointer whose page the TLB lost, as
	 * the first use of RSP in its block (the probe's slow path runs the
	 * CALL and rejoins where RSP is back in a host register) ---- */
icall:
	movq %rsp, %r12
	/* Leave every host register of the cache holding a value that is
	 * not RSP (a stale one must not pass for it). */
	movl $0x11, %ecx
	movl $0x12, %edx
	movl $0x13, %ebx
	movl $0x14, %esi
	movl $0x15, %edi
	movl $0x16, %r8d
	movl $0x17, %r9d
	movl $0x18, %r10d
	movl $0x19, %r11d
	movl $0x1a, %r13d
	jmp 1f
1:	movl $icall_fn, %eax
	movq %rax, ICALL_PTR
	movq ICALL_PTR + 0x400000, %rax /* same TLB slot: evicts the pointer's */
	call *ICALL_PTR
	cmpq %r12, %rsp
	jne icall_bad
	cmpl $0x1ca11, %eax
	jne icall_bad
	movl $msg_icall, %esi
	call puts64
	jmp precise
icall_bad:
	movl $msg_icall_bad, %esi
	call fail
icall_fn:
	movl $0x1ca11, %eax
	ret

	/* ---- precise: #PF in the middle of a block ---- */
precise:
	movq $UNMAPPED + 0x10, %rsi
	movl $0x1111, %eax
	movl $0x2222, %ebx
	movl $0x7fffffff, %ecx
	addl $0xffffeeef, %eax          /* 0, CF */
	incl %ecx                       /* CF kept, PF AF SF OF */
pf_insn:
	addq (%rsi), %rbx               /* #PF: nothing of it happens */
	movl $0x9999, %eax              /* never reached */
	movl $msg_precise_bad, %esi
	call fail
pf_resume:
	testl %r14d, %r14d
	jnz 5f
	movl $msg_precise, %esi
	call puts64
	jmp irq
5:	movl $msg_precise_bad, %esi
	jmp fail_r14

	/* ---- irq: a timer interrupt ends a tight loop ---- */
irq:
	movl $LAPIC, %edi
	movl $0x1ff, 0xf0(%rdi)         /* enable, spurious vector 0xff */
	movl $0xb, 0x3e0(%rdi)          /* divide by 1 */
	movl $0x40, 0x320(%rdi)         /* one-shot, vector 0x40 */
	movl $irq_flag, %r8d
	movb $0, (%r8)
	movl $100000, 0x380(%rdi)
	sti
	movl $2000000000, %ecx
6:	cmpb $0, (%r8)
	jne 7f
	decl %ecx
	jnz 6b
	cli
	movl $msg_irq_bad, %esi
	call fail
7:	cli
	movl $msg_irq, %esi
	call puts64

	/* ---- sum: ALU work folded into r13 ---- */
	call checksum
	movl $msg_sum, %esi
	call puts64
	movq %r13, %rax
	call puthex64
	movb $'\n', %al
	call putc64
	/* "nosse" on the command line skips the SSE sum. */
	movl $mb_info, %eax
	movl (%rax), %esi
	testl $4, (%rsi)                /* MBI cmdline present */
	jz 20f
	movl 16(%rsi), %esi
21:	movb (%rsi), %al
	testb %al, %al
	jz 20f
	cmpl $0x73736f6e, (%rsi)        /* "noss" */
	jne 22f
	cmpb $'e', 4(%rsi)
	je 23f
22:	incl %esi
	jmp 21b
20:	movb $1, sse_on(%rip)
	call sse_sum
	movl $msg_sse, %esi
	call puts64
	movq %r13, %rax
	call puthex64
	movb $'\n', %al
	call putc64
	/* ---- order: a 16-byte operand that must be aligned, misaligned
	 * at a non-canonical address through RSP, is #GP(0) (the alignment)
	 * rather than #SS(0) (the address), as this project's CPUs do when
	 * run natively; aligned, #SS(0).  Skipped with "nosse" too: KVM-PVM
	 * emulates kernel mode in the host kernel, which orders them the
	 * other way. ---- */
	movl $13, %edi
	movl $ord_gp, %eax
	call set_gate64
	movl $12, %edi
	movl $ord_ss, %eax
	call set_gate64
	movq %rsp, %r12
	andq $-16, %rsp
	xorl %r14d, %r14d
	movabsq $0x8000000000000000, %rcx
	xorl %r11d, %r11d
	leaq 51f(%rip), %rbx
	cmpxchg16b 3(%rsp,%rcx)
51:	cmpl $13, %r11d
	je 52f
	orl $1, %r14d
52:	xorl %r11d, %r11d
	leaq 53f(%rip), %rbx
	movaps 3(%rsp,%rcx), %xmm0
53:	cmpl $13, %r11d
	je 54f
	orl $2, %r14d
54:	xorl %r11d, %r11d
	leaq 55f(%rip), %rbx
	cmpxchg16b (%rsp,%rcx)
55:	cmpl $12, %r11d
	je 56f
	orl $4, %r14d
56:	movq %r12, %rsp
	testl %r14d, %r14d
	jz 57f
	movl $msg_order_bad, %esi
	jmp fail_r14
57:	movl $msg_order, %esi
	call puts64
23:
	/* ---- many: 64 REP MOVSBs in one block, two slow paths each, more
	 * than the block has instructions (RCX = 0: each moves nothing) ---- */
	xorl %ecx, %ecx
	.rept 64
	rep movsb
	.endr
	movl $msg_many, %esi
	call puts64

	/* ---- stack: POPs in a row whose second one faults (the 2 MiB page
	 * at 0x600000 made not present), then PUSHes across a page ---- */
	movl $14, %edi
	movl $pf2_handler, %eax
	call set_gate64
	movl $0x5ffff8, %eax
	movq $0x0123456789abcdef, %r15
	movq %r15, (%rax)
	movl $PD + 3 * 8, %eax
	andb $0xfe, (%rax)
	movl $0x600000, %eax
	invlpg (%rax)
	movl $-1, %r14d
	movq %rsp, %r12
	movl $0x5ffff8, %esp
	movl $0x1111, %ebx
	movl $0x2222, %ecx
	popq %rbx
pop2_insn:
	popq %rcx                       /* #PF: RSP 0x600000, RCX kept */
	popq %rdx
	movq %r12, %rsp
	jmp 31f
pop_resume:
	movq %r12, %rsp
	movl $PD + 3 * 8, %eax
	orb $1, (%rax)
	movl $0x600000, %eax
	invlpg (%rax)
	movl $14, %edi
	movl $pf_handler, %eax
	call set_gate64
	testl %r14d, %r14d
	jnz 31f
	movl $0x400008, %esp            /* across 0x400000 */
	movl $0xaaaa, %ebx
	movl $0xbbbb, %ecx
	pushq %rbx
	pushq %rcx
	movq %rsp, %rdx
	movq %r12, %rsp
	cmpq $0x3ffff8, %rdx
	jne 31f
	movl $0x400000, %eax
	cmpq $0xaaaa, (%rax)
	jne 31f
	cmpq $0xbbbb, -8(%rax)
	jne 31f
	movl $msg_stack, %esi
	call puts64
	jmp 32f
31:	movl $msg_stack_bad, %esi
	jmp fail_r14
32:
	/* ---- xpage: the 2 MiB at XLIN in 4 KiB pages, each pair of
	 * frames swapped: page XLIN+0x1000 is frame XLIN, page XLIN+0x2000
	 * is frame XLIN+0x3000, so no crossing access finds its second
	 * page's bytes next to its first page's frame.  Bytes (which no
	 * access can split) read what went where. ---- */
	xorl %r14d, %r14d
	movl $XPT, %edi
	xorl %ecx, %ecx
33:	movl %ecx, %eax
	xorl $1, %eax
	shll $12, %eax
	addl $XLIN + 3, %eax
	movl %eax, (%edi,%ecx,8)
	movl $0, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $512, %ecx
	jne 33b
	movl $PD + (XLIN >> 21) * 8, %eax
	movl $XPT + 3, (%rax)
	movq %cr3, %rax
	movq %rax, %cr3
	movq %rsp, %r12
	movl $XLIN + 0x2010, %esp
	movq $-1, -0x30(%rsp)           /* both pages' entries, */
	movq $-1, (%rsp)                /* the upper one last */
	movq $0x1111, %rax
	movq $0x2222, %rbx
	movq $0x3333, %rcx
	movq $0x4444, %rdx
	movq $0x5555, %rsi
	movq $0x6666, %rdi
	pushq %rax                      /* 0x802008 down to 0x801fe0 */
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	movq %r12, %rsp
	movl $XLIN + 0x1fe0, %eax       /* bytes of the lower page */
	cmpb $0x66, (%rax)
	jne 34f
	cmpb $0x55, 8(%rax)
	jne 34f
	cmpb $0x44, 16(%rax)
	jne 34f
	cmpb $0x33, 24(%rax)
	jne 34f
	cmpb $0x22, 32(%rax)
	jne 34f
	cmpb $0x11, 40(%rax)
	jne 34f
	jmp 35f
34:	orl $1, %r14d
35:	movl $XLIN + 0x1fe8, %eax       /* bytes for the POPs */
	movb $0x71, (%rax)
	movb $0x72, 8(%rax)
	movb $0x73, 16(%rax)
	movb $0x74, 24(%rax)
	movl $XLIN + 0x2008, %esp
	popq %rax                       /* the upper page's entry first */
	movl $XLIN + 0x1fe8, %esp
	popq %rax
	popq %rbx
	popq %rcx
	popq %rdx
	movq %r12, %rsp
	cmpb $0x71, %al
	jne 36f
	cmpb $0x72, %bl
	jne 36f
	cmpb $0x73, %cl
	jne 36f
	cmpb $0x74, %dl
	jne 36f
	jmp 37f
36:	orl $2, %r14d
37:	movl $XLIN + 0x2000, %eax
	movq $0, (%rax)                 /* the upper page's entry first */
	movabsq $0x8877665544332211, %rdx
	movq %rdx, -4(%rax)             /* 4 bytes on each page */
	cmpb $0x11, -4(%rax)
	jne 38f
	cmpb $0x44, -1(%rax)
	jne 38f
	cmpb $0x55, (%rax)
	jne 38f
	cmpb $0x88, 3(%rax)
	jne 38f
	movq $0, (%rax)
	movb $0xab, 2(%rax)
	movb $0xcd, -3(%rax)
	movq -4(%rax), %rdx
	movabsq $0x00ab00004433cd11, %rcx
	cmpq %rcx, %rdx
	jne 38f
	jmp 39f
38:	orl $4, %r14d
39:	movl $PD + (XLIN >> 21) * 8, %eax
	movl $XLIN + 0x83, (%rax)       /* the 2 MiB page again */
	movl $0, 4(%rax)
	movq %cr3, %rax
	movq %rax, %cr3
	testl %r14d, %r14d
	jnz 40f
	movl $msg_xpage, %esi
	call puts64
	jmp 32f
40:	movl $msg_xpage_bad, %esi
	jmp fail_r14
32:
	/* ---- flags: blocks that leave with the flags in the host's flags
	 * register, linked (100 rounds) to blocks that read them first
	 * (their link code saves them), that overwrite them first (nothing
	 * saved), and a way back to a block that overwrites them first
	 * (the attention check there must not touch them) ---- */
	movl $100, %r9d
	xorl %r14d, %r14d
41:	movl %r9d, %eax                 /* the flags differ round by round */
	andl $1, %eax
	negl %eax                       /* 0 or -1 */
	movl $0x04, %r11d               /* 0x7fffffff - 0: PF */
	movl $0x885, %r10d              /* 0x7fffffff - -1: CF PF SF OF */
	testl %eax, %eax
	cmovnzl %r10d, %r11d
	movl $0x7fffffff, %r12d
	subl %eax, %r12d                /* 0x7fffffff + CF */
	movl $0x7fffffff, %ecx
	cmpl %eax, %ecx
	jmp 42f
42:	pushfq                          /* reads them first */
	popq %rdx
	andl $0x8d5, %edx
	cmpl %r11d, %edx
	je 43f
	orl $1, %r14d
43:	cmpl %eax, %ecx
	jc 44f                          /* a side exit, taken every other round */
44:	adcl $0, %ecx                   /* reads CF first */
	cmpl %r12d, %ecx
	je 45f
	orl $4, %r14d
45:	cmpl $-1, %eax
	jmp 46f
46:	movl $5, %ecx                   /* overwrites them first */
	cmpl $5, %ecx                   /* ZF PF: 0x44 */
	pushfq
	popq %rdx
	andl $0x8d5, %edx
	cmpl $0x44, %edx
	je 47f
	orl $8, %r14d
47:	movl %r9d, %eax                 /* CMP with memory, equal: JNE */
	movl %eax, flag_word(%rip)      /* falls through, and the load */
	movl $0x7fffffff, %ecx          /* after it keeps ZF PF */
	addl $1, %ecx                   /* (flags first: SF OF AF PF) */
	cmpl flag_word(%rip), %eax
	jne 58f
	movq sum_data(%rip), %rdx
	pushfq
	popq %rdx
	andl $0x8d5, %edx
	cmpl $0x44, %edx
	je 59f
58:	orl $16, %r14d
59:	movl %r9d, %eax                 /* a shift by 0 keeps every flag, */
	andl $1, %eax                   /* the probe of a load before it */
	negl %eax                       /* clobbered the host's: CF = odd */
	movq sum_data(%rip), %rdx
	.byte 0xc1, 0xe2, 0x00          /* shll $0, %edx */
	sbbl %ecx, %ecx                 /* -CF */
	cmpl %eax, %ecx
	je 60f
	orl $32, %r14d
60:	movl %r9d, %eax                 /* INC keeps CF for the ADC after */
	andl $1, %eax                   /* it, past a load and a MOV */
	negl %eax
	movq sum_data(%rip), %rdx
	incl %edx
	movl $0, %ecx
	adcl $0, %ecx                   /* CF: odd */
	addl %ecx, %eax
	jz 61f
	orl $64, %r14d
61:	decl %r9d
	jnz 41b
	testl %r14d, %r14d
	jnz 48f
	movl $msg_flags, %esi
	call puts64
	jmp 49f
48:	movl $msg_flags_bad, %esi
	jmp fail_r14
49:

	/* ---- nm: the same SSE code with CR0.TS clear (100 rounds, so
	 * that it is translated and linked), then set: each call must
	 * stop with #NM at its first SSE instruction, whose handler clears
	 * TS and returns to it.  Skipped with "nosse", as sse is. ---- */
	cmpb $0, sse_on(%rip)
	je 67f
	movl $7, %edi
	movl $nm_handler, %eax
	call set_gate64
	movl $100, %r9d
61:	call nm_reg
	call nm_mem
	decl %r9d
	jnz 61b
	xorl %r14d, %r14d
	movl $0, nm_count(%rip)
	movl $3, %r9d
62:	movq %cr0, %rax
	orl $8, %eax                    /* TS */
	movq %rax, %cr0
	leaq nm_reg_first(%rip), %rax
	movq %rax, nm_expect(%rip)
	call nm_reg
	movq %cr0, %rax
	orl $8, %eax
	movq %rax, %cr0
	leaq nm_mem_first(%rip), %rax
	movq %rax, nm_expect(%rip)
	call nm_mem
	decl %r9d
	jnz 62b
	cmpl $6, nm_count(%rip)               /* two per round, at the right RIP */
	je 63f
	orl $1, %r14d
63:	cmpl $0, nm_wrong(%rip)
	je 64f
	orl $2, %r14d
64:	movq nm_buf(%rip), %rax
	movq $0x1122334455667788, %rdx
	cmpq %rdx, %rax                 /* nm_mem's store went through */
	je 65f
	orl $4, %r14d
65:	testl %r14d, %r14d
	jnz 66f
	movl $msg_nm, %esi
	call puts64
	jmp 67f
66:	movl $msg_nm_bad, %esi
	jmp fail_r14
67:
	/* ---- maskmovq: MMX register i is x87 physical register i
	 * whatever TOP is (SDM vol. 1, 9.5.1): with TOP 7 (EMMS, then
	 * FLD1), MASKMOVQ writes the bytes of MM1 whose MM2 mask byte has
	 * its top bit set (DS:RDI), and after that instruction's x87 to
	 * MMX transition MM1 still reads as it was.  Skipped with "nosse".
	 * ---- */
	cmpb $0, sse_on(%rip)
	je 79f
	fninit
	movq mmq_a(%rip), %mm0
	movq mmq_b(%rip), %mm1
	movq mmq_mask(%rip), %mm2
	emms
	fld1
	leaq mmq_dst(%rip), %rdi
	maskmovq %mm2, %mm1
	movq %mm1, mmq_back(%rip)
	emms
	fninit
	xorl %r14d, %r14d
	movq mmq_dst(%rip), %rax
	movabsq $0x8800660044002211, %rdx
	cmpq %rdx, %rax
	je 76f
	orl $1, %r14d
76:	movq mmq_back(%rip), %rax
	cmpq mmq_b(%rip), %rax
	je 77f
	orl $2, %r14d
77:	testl %r14d, %r14d
	jnz 78f
	movl $msg_mmq, %esi
	call puts64
	jmp 79f
78:	movl $msg_mmq_bad, %esi
	jmp fail_r14
79:
	movl $msg_ok, %esi
	call puts64
	EXIT $0

/* A check failed: print the message at esi and stop with status 1. */
fail:
	call puts64
	EXIT $1

/* The same with the failed checks' bits in r14d, printed after it. */
fail_r14:
	call puts64
	movl %r14d, %eax
	call puthex64
	movb $'\n', %al
	call putc64
	EXIT $1

/* ---- helpers --------------------------------------------------------- */

putc64:
	pushq %rdx
	movw $COM1, %dx
	outb %al, %dx
	popq %rdx
	ret

puts64:
	pushq %rax
9:	lodsb
	testb %al, %al
	jz 10f
	call putc64
	jmp 9b
10:	popq %rax
	ret

/* Print rax as 16 hex digits. */
puthex64:
	pushq %rcx
	pushq %rbx
	movq %rax, %rbx
	movl $16, %ecx
11:	rolq $4, %rbx
	movl %ebx, %eax
	andl $15, %eax
	movl $hexdigits, %edx
	movb (%rdx,%rax), %al
	call putc64
	decl %ecx
	jnz 11b
	popq %rbx
	popq %rcx
	ret

/* Write a 64-bit interrupt gate: vector in edi, handler in eax. */
set_gate64:
	shll $4, %edi
	addl $idt, %edi
	movw %ax, (%edi)
	movw $CODE64, 2(%edi)
	movw $0x8e00, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	ret

/* nm: a register-form SSE instruction first, then a memory form first. */
nm_reg:
	movl $3, %eax
	addl %eax, %eax                 /* flags live across the SSE code */
nm_reg_first:
	pxor %xmm2, %xmm2
	movq %xmm2, %rcx
	ret
nm_mem:
	movq $0x1122334455667788, %rax
	movq %rax, nm_buf + 8(%rip)
nm_mem_first:
	movdqu nm_buf + 8(%rip), %xmm3
	movq %xmm3, nm_buf(%rip)
	ret

/* #NM: count it, check its RIP, clear TS, retry the instruction. */
nm_handler:
	pushq %rax
	incl nm_count(%rip)
	movq 8(%rsp), %rax
	cmpq nm_expect(%rip), %rax
	je 1f
	incl nm_wrong(%rip)
1:	clts
	popq %rax
	iretq

smc_fn:
	movl $0, %eax
	ret

/* Position-independent snippets copied to BUF. */
gen_a:
	leal 7(%rdi), %eax
	ret
gen_a_end:
gen_b:
	imull $3, %edi, %eax
	ret
gen_b_end:

/* #PF handler: check the state against what it was before pf_insn. */
pf_handler:
	xorl %r14d, %r14d
	testl %eax, %eax
	je 12f
	orl $1, %r14d
12:	movl $pf_insn, %eax
	cmpq %rax, 8(%rsp)              /* saved RIP (after error code) */
	je 13f
	orl $2, %r14d
13:	cmpl $0x2222, %ebx
	je 14f
	orl $4, %r14d
14:	cmpl $0x80000000, %ecx
	je 15f
	orl $8, %r14d
15:	movq 24(%rsp), %rdx             /* saved RFLAGS after incl: */
	andl $0x8d5, %edx
	cmpl $0x895, %edx
	je 16f
	orl $16, %r14d
16:	movq %cr2, %rdx
	movq $UNMAPPED + 0x10, %rax
	cmpq %rax, %rdx
	je 17f
	orl $32, %r14d
17:	movl $pf_resume, %eax
	movq %rax, 8(%rsp)
	addq $8, %rsp                   /* drop the error code */
	iretq

/* #PF handler of the stack check: the state at the second POP. */
pf2_handler:
	xorl %r14d, %r14d
	movl $pop2_insn, %eax
	cmpq %rax, 8(%rsp)              /* saved RIP */
	je 1f
	orl $1, %r14d
1:	cmpq $0x600000, 32(%rsp)        /* saved RSP: one POP done */
	je 2f
	orl $2, %r14d
2:	movq %cr2, %rdx
	cmpq $0x600000, %rdx
	je 3f
	orl $4, %r14d
3:	cmpq %r15, %rbx                 /* the first POP's value */
	je 4f
	orl $8, %r14d
4:	cmpq $0x2222, %rcx              /* the second's register kept */
	je 5f
	orl $16, %r14d
5:	movl $pop_resume, %eax
	movq %rax, 8(%rsp)
	addq $8, %rsp
	iretq

/* #GP and #SS of the order check: the vector in r11, on at rbx. */
ord_gp:
	movl $13, %r11d
	jmp 1f
ord_ss:
	movl $12, %r11d
1:	movq %rbx, 8(%rsp)
	addq $8, %rsp                   /* the error code */
	iretq

timer_handler:
	pushq %rax
	movl $irq_flag, %eax
	movb $1, (%rax)
	movl $LAPIC, %eax
	movl $0, 0xb0(%rax)             /* EOI */
	popq %rax
	iretq

spurious_handler:
	iretq

/* ALU work: each step folds a result and the flags the SDM defines for
 * it into r13 (undefined flags differ between CPUs, and even between the
 * immediate and CL forms of one rotate on the same CPU). */
	.macro FOLD reg, mask=0x8d5
	pushfq
	popq %r12
	andl $\mask, %r12d
	rolq $13, %r13
	xorq \reg, %r13
	addq %r12, %r13
	.endm

checksum:
	movabsq $0x0123456789abcdef, %r13
	movabsq $0xfedcba9876543210, %rax
	movabsq $0x8000000000000001, %rbx
	movl $0x7fffffff, %ecx
	movl $sum_data, %edi
	xorl %esi, %esi
18:	addq %rbx, %rax
	FOLD %rax
	adcl %ecx, %eax
	FOLD %rax
	sbbq (%rdi), %rbx
	FOLD %rbx
	addb %ah, %bl
	FOLD %rbx
	xorb %ch, %al
	FOLD %rax, 0x8c5
	subw 8(%rdi), %cx
	FOLD %rcx
	movb %bh, %dl
	FOLD %rdx
	shlq %cl, %rax
	FOLD %rax, 0x0c5
	sarl $3, %ebx
	FOLD %rbx, 0x0c5
	rorq $7, %rcx
	FOLD %rcx, 0x0d5
	rclw $1, %ax
	FOLD %rax
	imulq %rbx, %rcx
	FOLD %rcx, 0x801
	imull $-77, %eax, %edx
	FOLD %rdx, 0x801
	cmovcq %rdx, %rbx
	FOLD %rbx
	setnz %dh
	FOLD %rdx
	xaddq %rax, 16(%rdi)
	FOLD %rax
	incq 16(%rdi)
	FOLD %rax
	negl %ecx
	FOLD %rcx
	bsfq %rax, %rdx
	FOLD %rdx, 0x040
	btsq $33, %rbx
	FOLD %rbx, 0x001
	movzbl %ah, %edx
	FOLD %rdx
	movsbq %cl, %rdx
	FOLD %rdx
	movslq %eax, %rdx
	FOLD %rdx
	leaq 0x55(%rax,%rbx,4), %rdx
	FOLD %rdx
	leal -3(%rcx,%rdx,8), %edx
	FOLD %rdx
	xchgq %rbx, 24(%rdi)
	FOLD %rbx
	testb $0x81, %cl
	FOLD %rcx, 0x8c5
	cmpl %eax, %ebx
	FOLD %rax
	notq %rax
	FOLD %rax
	orq %rax, 32(%rdi)
	movq 32(%rdi), %rdx
	FOLD %rdx, 0x8c5
	pushq %rax
	pushq $-5
	popq %rdx
	FOLD %rdx
	popq %rdx
	FOLD %rdx
	/* Same register on both sides. */
	movl %ecx, %ecx
	FOLD %rcx
	movzbl %dl, %edx
	FOLD %rdx
	movslq %ebx, %rbx
	FOLD %rbx
	leaq 8(%rax,%rax,2), %rax
	FOLD %rax
	imull %ecx, %ecx
	FOLD %rcx, 0x801
	pushq %rsp
	popq %rdx
	subq %rsp, %rdx
	FOLD %rdx
	/* Implicit-register instructions and SSE integer work. */
	movq %rbx, %rdx
	mulq %rcx
	FOLD %rax, 0x801
	FOLD %rdx, 0x801
	imulb %cl
	FOLD %rax, 0x801
	cwde
	FOLD %rax
	cqto
	FOLD %rdx
	movq 40(%rdi), %rax
	cmpxchgq %rcx, 40(%rdi)         /* equal: stores rcx */
	FOLD %rax
	lock cmpxchgl %ebx, 40(%rdi)    /* not equal: loads eax */
	FOLD %rax
	incl %esi
	cmpl $1000, %esi
	jne 18b
	ret

/* SSE integer work and moves, and XADD with one register as both
 * operands (the sum, as the CPU computes it), folded into r13.  Not on
 * KVM-PVM: its kernel-mode emulator lacks the SSE arithmetic and gets
 * that XADD wrong. */
sse_sum:
	movabsq $0x0123456789abcdef, %r13
	movl $sum_data, %edi
	xorl %esi, %esi
	movq %r13, %rdx
19:	movq %rdx, 48(%rdi)
	movdqu 40(%rdi), %xmm2
	movdqa (%rdi), %xmm9
	paddd %xmm2, %xmm9
	pxor %xmm9, %xmm2
	pshufd $0x1b, %xmm2, %xmm3
	pcmpeqb %xmm9, %xmm3
	pmovmskb %xmm3, %edx
	FOLD %rdx
	movq %xmm9, %rdx
	FOLD %rdx
	movdqa %xmm2, 64(%rdi)
	movq 72(%rdi), %rdx
	FOLD %rdx
	movdqa %xmm9, (%rdi)
	addq %r13, %rdx
	xaddq %rdx, %rdx
	FOLD %rdx
	incl %esi
	cmpl $1000, %esi
	jne 19b
	ret

	.data
	.align 16
gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 64-bit code */
	.quad 0x00cf92000000ffff        /* data */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
	.long 0

	.align 16
/* IDT: 256 gates of 16 bytes, filled by set_gate64. */
idt:
	.fill 256 * 16, 1, 0
idt_end:
idt_desc:
	.word idt_end - idt - 1
	.long idt
	.long 0

irq_flag:
	.byte 0
	.align 4
mb_info:
	.long 0
	.align 8
sum_data:
	.quad 0x1122334455667788, 0x99aabbccddeeff00, 0x0f0f0f0f0f0f0f0f
	.quad 0x123, 0x8000, 0x4242, 0, 0, 0, 0
nm_expect:
	.quad 0
flag_word:
	.long 0, 0
nm_buf:
	.quad 0, 0, 0
nm_count:
	.long 0
nm_wrong:
	.long 0
sse_on:
	.byte 0
	.balign 8
mmq_a:	.quad 0x1111111111111111
mmq_b:	.quad 0x8877665544332211
mmq_mask: .quad 0x80008000800080ff     /* bytes 0, 1, 3, 5, 7 */
mmq_dst: .quad 0
mmq_back: .quad 0

hexdigits:
	.ascii "0123456789abcdef"
msg_smc:	.asciz "jit64: smc ok\n"
msg_order:	.asciz "jit64: 16-byte alignment before the address ok\n"
msg_order_bad:	.asciz "jit64: 16-byte alignment before the address FAILED\n"
msg_flags:	.asciz "jit64: linked flags ok\n"
msg_flags_bad:	.asciz "jit64: linked flags FAILED\n"
msg_mmq:	.asciz "jit64: maskmovq with TOP 7 ok\n"
msg_mmq_bad:	.asciz "jit64: maskmovq with TOP 7 FAILED "
msg_nm:		.asciz "jit64: sse after CR0.TS ok\n"
msg_nm_bad:	.asciz "jit64: sse after CR0.TS FAILED "
msg_smc_bad:	.asciz "jit64: smc FAILED\n"
msg_gen:	.asciz "jit64: gen ok\n"
msg_gen_bad:	.asciz "jit64: gen FAILED\n"
msg_cross:	.asciz "jit64: cross ok\n"
msg_cross_bad:	.asciz "jit64: cross FAILED\n"
msg_icall:	.asciz "jit64: icall ok\n"
msg_icall_bad:	.asciz "jit64: icall FAILED\n"
msg_precise:	.asciz "jit64: precise ok\n"
msg_precise_bad: .asciz "jit64: precise FAILED\n"
msg_irq:	.asciz "jit64: irq ok\n"
msg_irq_bad:	.asciz "jit64: irq FAILED\n"
msg_sum:	.asciz "jit64: sum "
msg_sse:	.asciz "jit64: sse "
msg_many:	.asciz "jit64: many slow paths ok\n"
msg_stack:	.asciz "jit64: stack runs ok\n"
msg_stack_bad:	.asciz "jit64: stack runs FAILED "
msg_xpage:	.asciz "jit64: xpage ok\n"
msg_xpage_bad:	.asciz "jit64: xpage FAILED "

msg_ok:		.asciz "jit64: all ok\n"

/* cross_fn: its MOV straddles the boundary between two pages. */
	.section .text.cross, "ax"
	.balign 4096
	.skip 4096 - 3
cross_fn:
	movl $0x12345678, %eax          /* 5 bytes: 3 here, 2 on the next page */
	ret
