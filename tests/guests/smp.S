/*
 * smp: what a CPU shared by several host threads gets wrong.  The BSP
 * starts the other CPUs with INIT-SIPI-SIPI through its LAPIC (a real-mode
 * trampoline at 0x8000), every CPU runs the same checks, first in 32-bit
 * protected mode (the DBT interprets it) and then in 64-bit mode (the code
 * the translator compiles), and the BSP prints one line per check:
 *   up      every CPU named on the command line ("cpus=N") came up
 *   inc xadd cas c8b spin bts    counters incremented by every CPU with
 *           LOCK INC, LOCK XADD, a LOCK CMPXCHG retry loop, a LOCK
 *           CMPXCHG8B retry loop on a 64-bit counter, plain increments
 *           under an XCHG spinlock, plain increments under a LOCK BTS
 *           bit lock; the totals must be exact
 *   line page    LOCK INC on a counter that crosses a cache line and one
 *           that crosses a page
 *   cline xpage  a LOCK CMPXCHG retry loop on a counter that crosses a
 *           line, plain increments under an XCHG spinlock whose lock
 *           word crosses a page (the DBT runs these alone: the host
 *           cannot make them atomic, and its JIT must not split-lock)
 *   mmio    LOCK INC and LOCK XADD on the CPU's own LAPIC TPR (MMIO): 16
 *           increments read back as 16
 *   code    LOCK INC on a counter in a page that holds executed code
 *   c16b    (64-bit) a LOCK CMPXCHG16B retry loop on a 128-bit counter
 *   mp      message passing: CPU 0 stores data then flag, CPU 1 loads
 *           flag then data and never sees data older than flag (TSO)
 *   sb      store buffering with MFENCE, and with a LOCKed op, between
 *           each CPU's store and load: both loads 0 never happens
 *   xmc     cross-modifying code: CPU 1 rewrites a function CPU 0 ran,
 *           in a page it also stores data to; after CPUID CPU 0 runs
 *           the new code
 *   xmcs    cross-modifying code racing the translation: CPU 1 rewrites
 *           a function while CPU 0 keeps calling (translating) it; after
 *           CPU 1's flag and CPUID CPU 0 runs the last version.  With
 *           "xmcs" on the command line the CPUs run only up and xmcs
 *           (for a stress run with VMKIT_DBT_WRITE_DELAY)
 * With "xloop" they run up and xmcs, then the 64-bit counters again and
 * again, CPU 0 printing "smp: pass N" (hex) after each, never exiting:
 * a load for pausing and snapshotting vCPUs in exclusive sections.
 *   ipi     (32-bit) fixed IPIs from CPU 0 to every other CPU and back,
 *           each counted by the handler
 *   tlb     (32-bit) a TLB shootdown: CPU 0 remaps a page, IPIs the
 *           others, whose handlers INVLPG it and must read the new page
 * and exits 0 when every check passed, 1 otherwise.  Without "cpus=N" it
 * runs on the BSP alone (the checks that need two CPUs say "skipped").
 */
#include "guest.inc"

	.set CODE32, 0x08
	.set DATA, 0x10
	.set CODE64, 0x18
	.set TRAMP, 0x8000              /* SIPI vector 0x08 */
	.set STACKS, 0x200000           /* 4 KiB per CPU, by APIC ID */
	.set PD32, 0x300000             /* 32-bit paging, 4 MiB pages */
	.set PT32, 0x301000             /* the page table of WIN */
	.set PAGE_A, 0x310000
	.set PAGE_B, 0x311000
	.set WIN, 0x2000000             /* the page the shootdown remaps */
	.set PML4, 0x400000
	.set PDPT, 0x401000
	.set PD64, 0x402000             /* 4 pages: 0-4 GiB */
	.set LAPIC, 0xfee00000
	.set MAXCPU, 8
	.set ITER, 20000                /* per CPU, per counter */
	.set ITER_CODE, 2000            /* the code-page counter */
	.set SB_ROUNDS, 1000
	.set MP_ROUNDS, 200000
	.set IPI_ROUNDS, 500
	.set TLB_ROUNDS, 200
	.set XMC_ROUNDS, 1000
	.set XMCS_ROUNDS, 200
	.set V_IPI, 0x40
	.set V_TLB, 0x41

/*
 * The checks, assembled once per mode: \m is 32 or 64.  No PUSH/POP
 * (their sizes differ); %ebp holds the CPU's APIC ID throughout.
 */
	.macro CHK m, name, addr
	movl \addr, %eax
	movl $888f, %edi
	call check\m
	.section .rodata
888:	.asciz "\name"
	.text
	.endm

	.macro SKIP m, name
	movl $888f, %edi
	call skipped\m
	.section .rodata
888:	.asciz "\name"
	.text
	.endm

	.macro BODY m, R
/* Every CPU waits until all ncpus have arrived (a counter and a
 * generation, each updated with LOCK). */
bar\m:
	movl bar_gen\R, %edx
	movl $1, %eax
	lock xaddl %eax, bar_cnt\R
	incl %eax
	cmpl ncpus\R, %eax
	jne 1f
	movl $0, bar_cnt\R
	lock incl bar_gen\R
	ret
1:	pause
	cmpl bar_gen\R, %edx
	je 1b
	ret

/* puts: the string at %esi (clobbers %eax, %edx, %esi). */
puts\m:
1:	lodsb
	testb %al, %al
	jz 2f
	movw $COM1, %dx
	outb %al, %dx
	jmp 1b
2:	ret

/* hex: %ebx in hex, 8 digits (clobbers %eax, %ecx, %edx, %ebx). */
hex\m:
	movl $8, %ecx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $15, %eax
	movl $hexdig, %edx
	movb (%edx, %eax), %al
	movw $COM1, %dx
	outb %al, %dx
	decl %ecx
	jnz 1b
	ret

/* head: "smp: MODE NAME" for the name at %edi. */
head\m:
	movl $s_head, %esi
	call puts\m
	movl $s_mode\m, %esi
	call puts\m
	movl %edi, %esi
	jmp puts\m

/* check: %eax (got) against want; %edi = the check's name. */
check\m:
	movl %eax, got\R
	call head\m
	movl got\R, %eax
	cmpl want\R, %eax
	jne 1f
	movl $s_ok, %esi
	jmp puts\m
1:	movl $s_bad, %esi
	call puts\m
	movl got\R, %ebx
	call hex\m
	movl $s_want, %esi
	call puts\m
	movl want\R, %ebx
	call hex\m
	movl $s_nl, %esi
	call puts\m
	lock incl failures\R
	ret

skipped\m:
	call head\m
	movl $s_skipped, %esi
	jmp puts\m

/* The counters, all CPUs at once. */
counters\m:
	call bar\m
	movl $ITER, %esi
1:	lock incl c_inc\R
	movl $1, %eax
	lock xaddl %eax, c_xadd\R
	movl c_cas\R, %eax
2:	leal 1(%eax), %edx
	lock cmpxchgl %edx, c_cas\R
	jne 2b
	movl c_c8b\R, %eax
	movl c_c8b + 4\R, %edx
3:	movl %eax, %ebx
	movl %edx, %ecx
	addl $1, %ebx
	adcl $0, %ecx
	lock cmpxchg8b c_c8b\R
	jne 3b
4:	movl $1, %eax
	xchgl %eax, slock\R
	testl %eax, %eax
	jz 6f
5:	pause
	cmpl $0, slock\R
	jne 5b
	jmp 4b
6:	movl c_spin\R, %eax               /* a plain read-modify-write */
	incl %eax
	movl %eax, c_spin\R
	movl $0, slock\R
7:	lock btsl $3, bitlock\R
	jnc 9f
8:	pause
	testl $8, bitlock\R
	jnz 8b
	jmp 7b
9:	movl c_bts\R, %eax
	incl %eax
	movl %eax, c_bts\R
	lock btrl $3, bitlock\R
	lock incl c_line\R
	lock incl c_page\R
	movl c_cline\R, %eax
13:	leal 1(%eax), %edx
	lock cmpxchgl %edx, c_cline\R
	jne 13b
14:	movl $1, %eax
	xchgl %eax, xlock\R
	testl %eax, %eax
	jz 16f
15:	pause
	cmpl $0, xlock\R
	jne 15b
	jmp 14b
16:	movl c_xpage\R, %eax
	incl %eax
	movl %eax, c_xpage\R
	movl $0, xlock\R
	.if \m == 64
	movq c_c16b\R, %rax
	movq c_c16b + 8\R, %rdx
10:	movq %rax, %rbx
	movq %rdx, %rcx
	addq $1, %rbx
	adcq $0, %rcx
	lock cmpxchg16b c_c16b\R
	jne 10b
	.endif
	decl %esi
	jnz 1b
	movl $ITER_CODE, %esi
11:	lock incl c_code\m\R
	decl %esi
	jnz 11b
	/* LOCKed MMIO: this CPU's TPR, 16 LOCK INCs, then a LOCK XADD of
	 * 0 must read 16; the TPR goes back to 0. */
	movl $LAPIC + 0x80, %ebx
	movl $0, (%ebx)
	movl $16, %esi
17:	lock incl (%ebx)
	decl %esi
	jnz 17b
	xorl %eax, %eax
	lock xaddl %eax, (%ebx)
	movl $0, (%ebx)
	cmpl $16, %eax
	je 18f
	lock incl mmio_bad\R
18:
	call bar\m
	testl %ebp, %ebp
	jnz 12f
	movl ncpus\R, %eax
	imull $ITER, %eax
	movl %eax, want\R
	CHK \m, inc, c_inc\R
	CHK \m, xadd, c_xadd\R
	CHK \m, cas, c_cas\R
	CHK \m, c8b, c_c8b\R
	movl $0, want\R
	CHK \m, c8b-high, c_c8b + 4\R
	movl ncpus\R, %eax
	imull $ITER, %eax
	movl %eax, want\R
	CHK \m, spin, c_spin\R
	CHK \m, bts, c_bts\R
	CHK \m, line, c_line\R
	CHK \m, page, c_page\R
	CHK \m, cline, c_cline\R
	CHK \m, xpage, c_xpage\R
	.if \m == 64
	CHK \m, c16b, c_c16b\R
	.endif
	movl ncpus\R, %eax
	imull $ITER_CODE, %eax
	movl %eax, want\R
	CHK \m, code, c_code\m\R
	movl $0, want\R
	CHK \m, mmio, mmio_bad\R
12:	ret
	.align 64
c_code\m:
	.long 0

/* Message passing between CPUs 0 and 1: data is stored before flag,
 * so a CPU that loads flag then data sees data >= flag. */
mp\m:
	call bar\m
	cmpl $2, ncpus\R
	jb 4f
	cmpl $1, %ebp
	ja 4f
	je 2f
	movl $1, %eax
1:	movl %eax, mp_data\R
	movl %eax, mp_flag\R
	incl %eax
	cmpl $MP_ROUNDS + 1, %eax
	jne 1b
	jmp 4f
2:	movl mp_flag\R, %eax
	movl mp_data\R, %edx
	cmpl %eax, %edx
	jae 3f
	incl mp_bad\R
3:	cmpl $MP_ROUNDS, %eax
	jne 2b
4:	call bar\m
	testl %ebp, %ebp
	jnz 5f
	cmpl $2, ncpus\R
	jb 6f
	movl $0, want\R
	CHK \m, mp, mp_bad\R
5:	ret
6:	SKIP \m, mp
	ret

/* Store buffering, SB_ROUNDS rounds: CPU 0 stores x, fences, loads y;
 * CPU 1 stores y, fences, loads x.  Odd rounds fence with MFENCE, even
 * ones with a LOCKed OR on the stack.  Both loads 0 is forbidden. */
sb\m:
	movl $0, %esi
1:	call bar\m
	cmpl $2, ncpus\R
	jb 5f
	cmpl $1, %ebp
	ja 4f
	je 2f
	movl $1, sb_x\R
	testl $1, %esi
	jz 6f
	mfence
	jmp 7f
6:	lock orl $0, (%esp)
7:	movl sb_y\R, %eax
	movl %eax, sb_r1\R
	jmp 4f
2:	movl $1, sb_y\R
	testl $1, %esi
	jz 8f
	mfence
	jmp 9f
8:	lock orl $0, (%esp)
9:	movl sb_x\R, %eax
	movl %eax, sb_r2\R
4:	call bar\m
	testl %ebp, %ebp
	jnz 3f
	movl sb_r1\R, %eax
	orl sb_r2\R, %eax
	jnz 10f
	incl sb_bad\R
10:	movl $0, sb_x\R
	movl $0, sb_y\R
	movl $1, sb_r1\R
	movl $1, sb_r2\R
3:	incl %esi
	cmpl $SB_ROUNDS, %esi
	jne 1b
	call bar\m
	testl %ebp, %ebp
	jnz 11f
	movl $0, want\R
	CHK \m, sb, sb_bad\R
11:	ret
5:	testl %ebp, %ebp
	jnz 11b
	SKIP \m, sb
	ret

/* Cross-modifying code (SDM vol. 3A, 8.1.3), XMC_ROUNDS rounds: CPU 1
 * stores data to a page and rewrites the immediate of a function on it
 * that CPU 0 has just run, then raises a flag; CPU 0 waits for the flag,
 * serializes with CPUID and calls the function: it must return the new
 * immediate. */
xmc\m:
	call bar\m
	cmpl $2, ncpus\R
	jb 6f
	cmpl $1, %ebp
	ja 5f
	je 3f
	call xmc_fn\m
	movl $1, %esi
1:	cmpl xmc_flag\R, %esi
	je 2f
	pause
	jmp 1b
2:	xorl %eax, %eax
	cpuid
	call xmc_fn\m
	cmpl %esi, %eax
	je 7f
	incl xmc_bad\R
7:	call xmc_fn\m                  /* translated again, old immediate */
	movl %esi, xmc_ack\R
	incl %esi
	cmpl $XMC_ROUNDS + 1, %esi
	jne 1b
	jmp 5f
3:	movl $1, %esi
4:	movl %esi, xmc_data\m\R
	movl %esi, xmc_fn\m + 1\R
	movl %esi, xmc_flag\R
8:	pause
	cmpl xmc_ack\R, %esi
	jne 8b
	incl %esi
	cmpl $XMC_ROUNDS + 1, %esi
	jne 4b
5:	call bar\m
	testl %ebp, %ebp
	jnz 9f
	movl $0, want\R
	CHK \m, xmc, xmc_bad\R
9:	ret
6:	testl %ebp, %ebp
	jnz 9b
	SKIP \m, xmc
	ret

	.data
	.align 4096
xmc_fn\m:
	movl $0, %eax
	ret
	.align 64
xmc_data\m:
	.long 0
	.align 4096
	.text

/* Cross-modifying code against a translation being made (SMP.md M5),
 * XMCS_ROUNDS rounds: CPU 1 stores ~round twice and then round into the
 * immediate of a function CPU 0 calls all the while, so CPU 0 keeps
 * translating it as CPU 1 stores, then raises a flag; CPU 0 sees it,
 * serializes with CPUID, and the function must return the round.  A
 * translation published while a store through a write entry checked
 * before it is still to land runs the stale immediate. */
xmcs\m:
	call bar\m
	cmpl $2, ncpus\R
	jb 6f
	cmpl $1, %ebp
	ja 5f
	je 3f
	movl $1, %esi
1:	call xmcs_fn\m
	cmpl xmcs_flag\R, %esi
	jne 1b
	xorl %eax, %eax
	cpuid
	call xmcs_fn\m
	cmpl %esi, %eax
	je 7f
	incl xmcs_bad\R
7:	movl %esi, xmcs_ack\R
	incl %esi
	cmpl $XMCS_ROUNDS + 1, %esi
	jne 1b
	jmp 5f
3:	movl $1, %esi
4:	movl %esi, %eax
	notl %eax
	movl %eax, xmcs_fn\m + 1\R
	movl %eax, xmcs_fn\m + 1\R
	movl %esi, xmcs_fn\m + 1\R
	movl %esi, xmcs_flag\R
8:	pause
	cmpl xmcs_ack\R, %esi
	jne 8b
	incl %esi
	cmpl $XMCS_ROUNDS + 1, %esi
	jne 4b
5:	call bar\m
	testl %ebp, %ebp
	jnz 9f
	movl $0, want\R
	CHK \m, xmcs, xmcs_bad\R
9:	ret
6:	testl %ebp, %ebp
	jnz 9b
	SKIP \m, xmcs
	ret

	.data
	.align 4096
xmcs_fn\m:
	movl $0, %eax
	ret
	.align 4096
	.text
	.endm

	.text
	.code32
	.globl _start
_start:
	cli
	movl $STACKS + 0x1000, %esp
	xorl %ebp, %ebp
	/* "cpus=N" (one digit) on the multiboot command line. */
	movl $1, ncpus
	testl $4, (%ebx)
	jz 3f
	movl 16(%ebx), %esi
1:	movb (%esi), %al
	testb %al, %al
	jz 3f
	cmpl $0x73757063, (%esi)        /* "cpus" */
	jne 12f
	cmpb $'=', 4(%esi)
	jne 2f
	movzbl 5(%esi), %eax
	subl $'0', %eax
	cmpl $1, %eax
	jb 3f
	cmpl $MAXCPU, %eax
	ja 3f
	movl %eax, ncpus
	jmp 2f
12:	cmpl $0x73636d78, (%esi)        /* "xmcs" */
	jne 13f
	movl $1, xmcs_only
13:	cmpl $0x6f6f6c78, (%esi)        /* "xloo(p)" */
	jne 2f
	movl $1, xmcs_only
	movl $1, xloop
2:	incl %esi
	jmp 1b
3:	/* 32-bit page directory: 4 MiB identity pages for 0-32 MiB and the
	 * LAPIC's, WIN through a page table. */
	movl $PD32, %edi
	movl $2048, %ecx
	xorl %eax, %eax
	rep stosl
	xorl %ecx, %ecx
4:	movl %ecx, %eax
	shll $22, %eax
	orl $0x83, %eax
	movl %eax, PD32(, %ecx, 4)
	incl %ecx
	cmpl $8, %ecx
	jne 4b
	movl $PT32 + 3, PD32 + (WIN >> 22) * 4
	movl $(LAPIC & 0xffc00000) | 0x93, PD32 + (LAPIC >> 22) * 4
	movl $PAGE_A + 3, PT32
	movl $0xaaaaaaaa, PAGE_A
	movl $0xbbbbbbbb, PAGE_B
	/* 64-bit tables: 2 MiB identity pages for 0-4 GiB. */
	movl $PD64, %edi
	xorl %ecx, %ecx
5:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax
	movl %eax, (%edi, %ecx, 8)
	movl %ecx, %eax
	shrl $11, %eax
	movl %eax, 4(%edi, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 5b
	xorl %ecx, %ecx
6:	movl %ecx, %eax
	shll $12, %eax
	addl $PD64 + 3, %eax
	movl %eax, PDPT(, %ecx, 8)
	movl $0, PDPT + 4(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jne 6b
	movl $PDPT + 3, PML4
	movl $0, PML4 + 4
	/* The IDT: everything unexpected but the two IPI vectors. */
	xorl %ecx, %ecx
7:	movl $unexpected, %eax
	cmpl $V_IPI, %ecx
	jne 8f
	movl $ipi_handler, %eax
8:	cmpl $V_TLB, %ecx
	jne 9f
	movl $tlb_handler, %eax
9:	movw %ax, idt(, %ecx, 8)
	movw $CODE32, idt + 2(, %ecx, 8)
	movw $0x8e00, idt + 4(, %ecx, 8)
	shrl $16, %eax
	movw %ax, idt + 6(, %ecx, 8)
	incl %ecx
	cmpl $256, %ecx
	jne 7b
	call setup32
	/* Start the others: the trampoline below 1 MiB, then INIT, SIPI,
	 * SIPI to all but self. */
	cmpl $1, ncpus
	je 11f
	movl $tramp, %esi
	movl $TRAMP, %edi
	movl $tramp_end - tramp, %ecx
	rep movsb
	movl $0, LAPIC + 0x310
	movl $0x000c4500, LAPIC + 0x300
	movl $0x000c4600 | (TRAMP >> 12), LAPIC + 0x300
	movl $0x000c4600 | (TRAMP >> 12), LAPIC + 0x300
	movl ncpus, %eax
	decl %eax
10:	pause
	cmpl ap_up, %eax
	jne 10b
11:	movl ncpus, %eax
	movl %eax, want
	movl ap_up, %eax
	incl %eax
	CHK 32, up, %eax
	jmp common32

/* Per CPU: segments, IDT, paging on. */
setup32:
	lgdt gdt_desc
	ljmp $CODE32, $1f
1:	movw $DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	lidt idt_desc
	movl $0x1ff, LAPIC + 0xf0       /* LAPIC on, spurious vector 0xff */
	movl %cr4, %eax
	orl $0x10, %eax                 /* PSE */
	movl %eax, %cr4
	movl $PD32, %eax
	movl %eax, %cr3
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ret

/* An AP out of the trampoline: 32-bit, flat, no stack yet. */
ap_entry32:
	movw $DATA, %ax
	movw %ax, %ds
	movw %ax, %ss
	movl LAPIC + 0x20, %ebp
	shrl $24, %ebp
	movl %ebp, %esp
	incl %esp
	shll $12, %esp
	addl $STACKS, %esp
	call setup32
	lock incl ap_up
	jmp common32

common32:
	cmpl $0, xmcs_only
	jne 1f
	call counters32
	call mp32
	call sb32
	call xmc32
	call ipi32
	call tlb32
1:	call xmcs32
	call bar32
	/* Long mode: paging off, PAE, the 4-level tables, LME, paging on. */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl %cr4, %eax
	orl $0x620, %eax                /* PAE, OSFXSR, OSXMMEXCPT */
	movl %eax, %cr4
	movl $PML4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmp $CODE64, $common64

/* IPIs: CPU 0 sends IPI_ROUNDS to each other CPU, waiting for each to
 * be counted and answered; each answer is counted in CPU 0's slot.  One
 * IPI is in flight at a time: a fixed IPI sent while the same vector is
 * already pending at its target merges with it (SDM vol. 3A 10.8.4), so
 * CPU 0 sends the next only once it has counted the last answer. */
ipi32:
	call bar32
	cmpl $2, ncpus
	jb 9f
	sti
	testl %ebp, %ebp
	jnz 5f
	movl $1, %esi                   /* round */
	xorl %ebx, %ebx                 /* answers counted so far */
1:	movl $1, %edi                   /* target */
2:	movl %edi, %eax
	shll $24, %eax
	movl %eax, LAPIC + 0x310
	movl $V_IPI, LAPIC + 0x300
3:	pause
	cmpl ipi_cnt(, %edi, 4), %esi
	jne 3b
	incl %ebx
12:	pause
	cmpl ipi_cnt, %ebx
	jne 12b
	incl %edi
	cmpl ncpus, %edi
	jne 2b
	incl %esi
	cmpl $IPI_ROUNDS + 1, %esi
	jne 1b
	movl ncpus, %eax
	decl %eax
	imull $IPI_ROUNDS, %eax
4:	pause
	cmpl ipi_cnt, %eax
	jne 4b
	movl $1, ipi_done
	jmp 8f
5:	xorl %esi, %esi                 /* answered */
6:	cmpl $0, ipi_done
	jne 8f
	cmpl ipi_cnt(, %ebp, 4), %esi
	je 7f
	incl %esi
	movl $0, LAPIC + 0x310
	movl $V_IPI, LAPIC + 0x300
	jmp 6b
7:	pause
	jmp 6b
8:	cli
	call bar32
	testl %ebp, %ebp
	jnz 10f
	movl ncpus, %eax
	decl %eax
	imull $IPI_ROUNDS, %eax
	movl %eax, want
	CHK 32, ipi, ipi_cnt
10:	ret
9:	testl %ebp, %ebp
	jnz 10b
	SKIP 32, ipi
	ret

/* TLB shootdown: CPU 0 points WIN at the other page, INVLPGs it, and
 * IPIs the others, whose handlers INVLPG WIN and record what they read
 * there; a stale translation reads the old page. */
tlb32:
	call bar32
	cmpl $2, ncpus
	jb 9f
	sti
	testl %ebp, %ebp
	jnz 5f
	movl $1, %esi
1:	movl $0, tlb_ack
	movl $PAGE_A + 3, %eax
	movl $0xaaaaaaaa, %ebx
	testl $1, %esi
	jz 2f
	movl $PAGE_B + 3, %eax
	movl $0xbbbbbbbb, %ebx
2:	movl %eax, PT32
	invlpg WIN
	cmpl WIN, %ebx
	je 3f
	incl tlb_bad
3:	movl $0, LAPIC + 0x310
	movl $0x000c0000 | V_TLB, LAPIC + 0x300
	movl ncpus, %eax
	decl %eax
4:	pause
	cmpl tlb_ack, %eax
	jne 4b
	movl $1, %edi
6:	cmpl tlb_seen(, %edi, 4), %ebx
	je 7f
	incl tlb_bad
7:	incl %edi
	cmpl ncpus, %edi
	jne 6b
	incl %esi
	cmpl $TLB_ROUNDS + 1, %esi
	jne 1b
	movl $1, tlb_done
	jmp 8f
5:	movl WIN, %eax                  /* a TLB entry to shoot down */
	pause
	cmpl $0, tlb_done
	je 5b
8:	cli
	call bar32
	testl %ebp, %ebp
	jnz 10f
	movl $0, want
	CHK 32, tlb, tlb_bad
10:	ret
9:	testl %ebp, %ebp
	jnz 10b
	SKIP 32, tlb
	ret

ipi_handler:
	lock incl ipi_cnt(, %ebp, 4)
	movl $0, LAPIC + 0xb0
	iret

tlb_handler:
	movl %eax, tlb_save(, %ebp, 4)
	invlpg WIN
	movl WIN, %eax
	movl %eax, tlb_seen(, %ebp, 4)
	lock incl tlb_ack
	movl $0, LAPIC + 0xb0
	movl tlb_save(, %ebp, 4), %eax
	iret

unexpected:
	movl $s_unexpected, %esi
	call puts32
	EXIT $1

	BODY 32, ""

/* The trampoline, copied to TRAMP: real mode, CS = TRAMP >> 4. */
	.code16
tramp:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl TRAMP + (tramp_gdt - tramp)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $CODE32, $ap_entry32
tramp_gdt:
	.word gdt_end - gdt - 1
	.long gdt
tramp_end:

	.code64
common64:
	movw $DATA, %ax
	movw %ax, %ds
	movw %ax, %ss
	call bar64
	testl %ebp, %ebp
	jnz 1f
	/* Fresh counters for the 64-bit round. */
	movl $c_first, %edi
	movl $(c_last - c_first) / 4, %ecx
	xorl %eax, %eax
	rep stosl
	movl $0, c_code64(%rip)
	movl $0, slock(%rip)
	movl $0, bitlock(%rip)
	movl $0, mp_flag(%rip)
	movl $0, mp_data(%rip)
	movl $0, xmc_flag(%rip)
	movl $0, xmc_ack(%rip)
	movl $0, xmcs_flag(%rip)
	movl $0, xmcs_ack(%rip)
1:	cmpl $0, xloop(%rip)
	jne 20f
	cmpl $0, xmcs_only(%rip)
	jne 4f
	call counters64
	call mp64
	call sb64
	call xmc64
4:	call xmcs64
	call bar64
	testl %ebp, %ebp
	jnz 3f
	cmpl $0, failures(%rip)
	jne 2f
	movl $s_allok, %esi
	call puts64
	EXIT $0
2:	movl $s_failed, %esi
	call puts64
	EXIT $1
3:	cli
	hlt
	jmp 3b
	/* "xloop": the 64-bit counters (exact totals, LOCKed operands run
	 * in exclusive sections) over and over, fresh each pass, CPU 0
	 * printing "smp: pass N" after each; it never exits. */
20:	call counters64
	call bar64
	testl %ebp, %ebp
	jnz 21f
	movl $c_first, %edi
	movl $(c_last - c_first) / 4, %ecx
	xorl %eax, %eax
	rep stosl
	movl $0, c_code64(%rip)
	movl $0, slock(%rip)
	movl $0, bitlock(%rip)
	incl xl_pass(%rip)
	movl $s_pass, %esi
	call puts64
	movl xl_pass(%rip), %ebx
	call hex64
	movl $s_nl, %esi
	call puts64
21:	call bar64
	jmp 20b

	BODY 64, "(%rip)"

	.section .rodata
hexdig:	.ascii "0123456789abcdef"
s_head:	.asciz "smp: "
s_mode32: .asciz "32 "
s_mode64: .asciz "64 "
s_ok:	.asciz " ok\n"
s_bad:	.asciz " BAD got="
s_want:	.asciz " want="
s_nl:	.asciz "\n"
s_skipped: .asciz " skipped\n"
s_allok: .asciz "smp: all ok\n"
s_pass:	.asciz "smp: pass "
s_failed: .asciz "smp: FAILED\n"
s_unexpected: .asciz "smp: unexpected exception or interrupt\n"

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 code, 32-bit */
	.quad 0x00cf92000000ffff        /* 0x10 data */
	.quad 0x00af9a000000ffff        /* 0x18 code, 64-bit */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 256 * 8 - 1
	.long idt
ncpus:	.long 1
ap_up:	.long 0
bar_cnt: .long 0
bar_gen: .long 0
failures: .long 0
got:	.long 0
want:	.long 0
slock:	.long 0
bitlock: .long 0
mp_flag: .long 0
mp_data: .long 0
sb_x:	.long 0
	.align 64
sb_y:	.long 0
sb_r1:	.long 1
sb_r2:	.long 1
ipi_done: .long 0
tlb_done: .long 0
tlb_ack: .long 0
xmc_flag: .long 0
xmc_ack: .long 0
xmcs_only: .long 0
xloop:	.long 0
xl_pass: .long 0
xmcs_flag: .long 0
	.align 64
xmcs_ack: .long 0
	.align 64
c_first:
c_inc:	.long 0
	.align 64
c_xadd:	.long 0
	.align 64
c_cas:	.long 0
	.align 64
c_c8b:	.quad 0
	.align 64
c_spin:	.long 0
	.align 64
c_bts:	.long 0
	.align 16
c_c16b:	.quad 0, 0
mp_bad:	.long 0
sb_bad:	.long 0
tlb_bad: .long 0
xmc_bad: .long 0
xmcs_bad: .long 0
	.align 64
	.space 62
c_line:	.long 0                         /* bytes 62-65 of a line */
	.align 64
	.space 61
c_cline: .long 0                        /* bytes 61-64 of a line */
mmio_bad: .long 0
	.align 4096
	.space 4094
c_page:	.long 0                         /* bytes 4094-4097 of a page */
c_xpage: .long 0
	.align 4096
	.space 4093
xlock:	.long 0                         /* bytes 4093-4096 of a page */
	.align 4
c_last:
ipi_cnt: .space 4 * MAXCPU
tlb_seen: .space 4 * MAXCPU
tlb_save: .space 4 * MAXCPU

	.bss
	.align 8
idt:	.space 256 * 8
