/*
 * prot: SMEP, SMAP and UMIP in 64-bit mode under 4-level paging (Intel SDM
 * vol. 3A, 2.5 and 4.6; vol. 2 STAC, CLAC, SGDT, SIDT, SLDT, SMSW, STR).
 * 0-4 MiB is mapped for the supervisor only (code, data, stacks, tables)
 * and again at 4-8 MiB as user pages (the "user alias", address + ALIAS),
 * so the same bytes are reached through a user page.  Each check runs
 * one instruction at CPL 0 or CPL 3 and compares the exception it raised
 * (vector, error code, CR2) with what the SDM says; every line is
 * "prot: NAME ok" or "prot: NAME BAD" with the values seen, and the guest
 * exits 0 only if all pass.  The checks run twice, so that on the jit
 * tier the second round runs blocks already compiled (and TLB entries
 * made during the first).  Before long mode, the CPL 0 checks of SMEP and
 * SMAP run in 32-bit code under 32-bit paging, with
 * the user alias in a 4 MiB page (CR4.PSE) and in 4 KiB pages, and under
 * PAE paging with 2 MiB pages: "prot: pse-4m-NAME", "pse-4k-NAME",
 * "pae-NAME" (4.6.1 and 4.7 hold in every paging mode; the I/D bit is
 * set for a fetch under SMEP also without PAE), and there also at CPL 3
 * (checks32u: "...-smep-user-*", "...-smap-user-*", "...-stac-cpl3").  The expected values:
 *   CPUID 7.0: EBX bit 7 (SMEP), bit 20 (SMAP), ECX bit 2 (UMIP).
 *   4.6.1  with CR4.SMEP a fetch at CPL 0 from a user page is #PF with
 *       P and I/D set (4.7), CR2 the address; without it, allowed; data
 *       accesses and CPL 3 fetches are not affected.
 *   4.6.1  with CR4.SMAP an explicit CPL 0 read or write of a user page
 *       is #PF (P, and W/R for a write) unless EFLAGS.AC is set (STAC,
 *       or POPF); CLAC makes it fault again, also where the access ran
 *       before with AC set; a REP MOVSB into a user page the same; an
 *       implicit supervisor access (a descriptor read from an LDT in a
 *       user page) faults even with AC set; so does an implicit write
 *       right after an explicit write to the page with AC set (the task
 *       switch saving the old task into a TSS in a user page, 32-bit
 *       code only: "smap-implicit-tss-write"); fetches and CPL 3
 *       accesses are not affected.  STAC at CPL 3 is #UD.
 *   2.5    with CR4.UMIP, SGDT, SIDT, SLDT, SMSW and STR at CPL 3 are
 *       #GP(0); at CPL 0, and without UMIP, they run.
 *   20.4, CLI, STI  with CR4.PVI at CPL 3 and IOPL 0 in 64-bit mode,
 *       STI sets VIF and CLI clears it (the image PUSHFQ makes shows VIF
 *       and IF clear after it), no fault; without PVI both are #GP(0).
 *   2.5, MOV CR  CR4.FSGSBASE, PCIDE, OSXSAVE and PKE are reserved where
 *       CPUID does not advertise their features (as the model does not):
 *       setting one is #GP(0).
 *   vol. 1 8.1.8, 10.5.1 (tables 10-2, 10-3), FXRSTOR  the model does
 *       not set CPUID.(EAX=7,ECX=0):EBX[13] (FCS and FDS deprecated), so
 *       in 64-bit mode too an x87 instruction records its CS as FCS and
 *       its operand's segment selector as FDS: SS for an RSP base, DS
 *       where an SS override is ignored (3.3.7.1 vol. 1: CS, DS, ES and
 *       SS overrides are ignored in 64-bit mode); FNSTENV and FXSAVE
 *       without REX.W store them (those of the last x87 instruction,
 *       not the segment registers' values now), FXRSTOR64 (whose image has none) makes
 *       them 0, FLDENV loads them; after a switch to compatibility
 *       mode FNSTENV and FXSAVE there store those of the last 64-bit x87
 *       instruction.
 *   4.10.4.1  global pages: with a page's PTE changed in memory to
 *       another frame, INVLPG of the page and a toggle of CR4.PGE
 *       invalidate its translation even when G is set; a MOV to CR3
 *       invalidates it when G is clear, and with CR4.PGE clear whatever
 *       G is.  Each for data (the value read) and for code (the value
 *       the code returns, so that the translator's caches must follow).
 *       That a global translation outlives a MOV to CR3 is not checked:
 *       a processor may drop any TLB entry at any time, so the SDM
 *       guarantees no observation of a stale one.
 */
#include "guest.inc"

	.set CODE0, 0x08
	.set DATA0, 0x10
	.set CODE64, 0x18
	.set DATA3, 0x23
	.set CODE3, 0x2b
	.set TSS_SEL, 0x30
	.set LDT_SEL, 0x40
	.set TSSU_SEL, 0x50             /* 32-bit TSS in the user alias */
	.set TSSN_SEL, 0x58             /* 32-bit TSS, supervisor */
	.set CODE3_32, 0x63             /* DPL 3 32-bit code, RPL 3 */
	.set ALIAS, 0x400000
	.set KSTACK, 0x200000
	.set ISTACK, 0x1f0000
	.set USTACK, 0x1e0000
	.set AC, 0x40000
	.set SMEP, 1 << 20
	.set SMAP, 1 << 21
	.set UMIP, 1 << 11
	.set PVI, 1 << 1
	.set VIF, 1 << 19
	.set IF, 1 << 9
	.set PGE, 1 << 7
	.set GLIN, 0x800000             /* pt: data at GLIN, code at +4K */
	.set NONE, -1
	.set UD, 6
	.set GP, 13
	.set PF, 14

/* TRY name, vec, err, cr2, insn: insn at CPL 0 must raise vec with err
 * (and cr2, for #PF), or nothing (NONE).  A fault resumes at 777. */
	.macro TRY user, name, vec, err, cr2, insn:vararg
	movl $want, %r15d
	movl $\vec, (%r15)
	movl $\err, 4(%r15)
	movl $\cr2, 8(%r15)
	movl $0, 12(%r15)
	movl $ex, %r15d
	movl $-1, (%r15)
	movl $resume, %r15d
	movl $777f, (%r15)
	movl $0, 4(%r15)
	movl $saved_rsp, %r15d
	movq %rsp, (%r15)
	.if \user
	call enter_user
	.endif
	\insn
777:
	.if \user
	int $0x30
	.endif
	movl $888f, %esi
	call check
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
	.macro TRY0 name, vec, err, cr2, insn:vararg
	TRY 0, \name, \vec, \err, \cr2, \insn
	.endm
	.macro TRYU name, vec, err, cr2, insn:vararg
	TRY 1, \name, \vec, \err, \cr2, \insn
	.endm
/* Two-instruction bodies for TRY (a ';' would end the TRY line). */
	.macro AC_READ op
	\op
	movl (%rdx), %ecx
	.endm
	.macro AC_WRITE op
	\op
	movl %ecx, (%rdx)
	.endm
	.macro AC_REP op
	\op
	rep movsb
	.endm
	.macro POPF_AC_READ
	pushfq
	orl $AC, (%rsp)
	popfq
	movl (%rdx), %ecx
	.endm
	.macro STAC_LOADFS
	stac
	movw %cx, %fs
	.endm
/* The same after an explicit read of the LDT's page in the window, which
 * may fill a TLB entry for it: the implicit read must not use it. */
	.macro STAC_READ_LOADFS
	stac
	movl (%rsi), %eax
	movw %cx, %fs
	.endm
/* CHECKV name, val: eax against val. */
	.macro CHECKV name, val
	movl $\val, %ecx
	movl $888f, %esi
	call checkv
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
/* FLAGS_AFTER op: op, then RFLAGS at (%rcx). */
	.macro FLAGS_AFTER op
	\op
	pushfq
	popq (%rcx)
	.endm
/* CR4 := CR4 | bits in one MOV (clobber rax). */
	.macro CR4SET bits
	movq %cr4, %rax
	orl $\bits, %eax
	movq %rax, %cr4
	.endm
/* CR4 |= bits, CR4 &= ~bits (clobber rax). */
	.macro CR4ON bits
	movq %cr4, %rax
	orl $\bits, %eax
	movq %rax, %cr4
	.endm
	.macro CR4OFF bits
	movq %cr4, %rax
	andl $~(\bits), %eax
	movq %rax, %cr4
	.endm

/* TRY32 name, vec, err, cr2, insn: TRY0 in 32-bit code (checks32). */
	.macro TRY32 name, vec, err, cr2, insn:vararg
	movl $\vec, want
	movl $\err, want + 4
	movl $\cr2, want + 8
	movl $0, want + 12
	movl $-1, ex
	movl $777f, resume
	movl $0, resume + 4
	movl %esp, saved_rsp
	\insn
777:
	movl $888f, %esi
	call check32
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
/* TRY32U name, vec, err, cr2, insn: TRY32 with insn at CPL 3 (in the
 * user alias); INT 0x30 at 777 comes back to CPL 0 (a fault resumes
 * there at CPL 0 already, where the INT does the same). */
	.macro TRY32U name, vec, err, cr2, insn:vararg
	movl $\vec, want
	movl $\err, want + 4
	movl $\cr2, want + 8
	movl $0, want + 12
	movl $-1, ex
	movl $777f, resume
	movl $0, resume + 4
	movl %esp, saved_rsp
	call enter_user32
	\insn
777:
	int $0x30
	movl $888f, %esi
	call check32
	.section .rodata
888:	.asciz "\name"
	.text
	.endm
	.macro AC_READ32 op
	\op
	movl (%edx), %ecx
	.endm
	.macro AC_WRITE32 op
	\op
	movl %ecx, (%edx)
	.endm
	.macro AC_REP32 op
	\op
	rep movsb
	.endm
	.macro STAC_READ_LOADFS32
	stac
	movl (%esi), %eax
	movw %cx, %fs
	.endm
/* STAC, an explicit write to (%edx) (AC set: allowed, and it gives the
 * page a write entry), then a task switch to TSSN_SEL. */
	.macro STAC_WRITE_TASKJMP
	stac
	movl %eax, (%edx)
	ljmp $TSSN_SEL, $0
	.endm
/* USER_AC_LOADFS: EFLAGS.AC set by POPF (at CPL 3), then FS := cx. */
	.macro USER_AC_LOADFS
	pushfl
	orl $AC, (%esp)
	popfl
	movw %cx, %fs
	.endm
/* USER_REP: 64 bytes from the user page's start to its second half. */
	.macro USER_REP
	movl %edx, %esi
	leal 2048(%edx), %edi
	movl $64, %ecx
	rep movsb
	.endm
	.macro CR4ON32 bits
	movl %cr4, %eax
	orl $\bits, %eax
	movl %eax, %cr4
	.endm
	.macro CR4OFF32 bits
	movl %cr4, %eax
	andl $~(\bits), %eax
	movl %eax, %cr4
	.endm
/* PAGING32 name, cr3, cr4: paging off, then on with cr3 and CR4's PSE and
 * PAE bits as cr4, WP set; the checks' lines named "name-...". */
	.macro PAGING32 name, cr3, cr4
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl $\cr3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	andl $~0x30, %eax
	orl $\cr4, %eax
	movl %eax, %cr4
	movl %cr0, %eax
	orl $0x80010000, %eax
	movl %eax, %cr0
	movl $888f, mode32
	.section .rodata
888:	.asciz "\name"
	.text
	.endm

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
	/* Page tables: PML4 and PDPT entries user and writable, the PD
	 * decides: 0-4 MiB supervisor, 4-8 MiB user, both of physical 0-4. */
	movl $pml4, %edi
	xorl %eax, %eax
	movl $(3 * 4096 / 4), %ecx
	cld
	rep stosl
	movl $pdpt + 7, pml4
	movl $pd + 7, pdpt
	movl $0x000083, pd
	movl $0x200083, pd + 8
	movl $0x000087, pd + 16
	movl $0x200087, pd + 24
	movl $pt + 3, pd + 32
	/* Frames behind GLIN (a marker) and GLIN + 4K (mov $n, %eax; ret). */
	movl $0xaaaa0001, fa
	movl $0xbbbb0002, fb
	movl $0x000001b8, ca
	movw $0xc300, ca + 4
	movl $0x000002b8, cb
	movw $0xc300, cb + 4
	/* TSS (RSP0), LDT descriptor (base: the LDT's user alias). */
	movl $ISTACK, tss + 4
	movw $0x68, tss + 0x66
	movl $tss, %eax
	movw %ax, gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS_SEL + 4
	movb %ah, gdt + TSS_SEL + 7
	movl $(ldt + ALIAS), %eax
	movw %ax, gdt + LDT_SEL + 2
	shrl $16, %eax
	movb %al, gdt + LDT_SEL + 4
	movb %ah, gdt + LDT_SEL + 7
	/* IDT: every vector to its stub; 0x30 (DPL 3) back to CPL 0. */
	xorl %ecx, %ecx
2:	movl stubtab(, %ecx, 4), %eax
	movl %ecx, %edi
	shll $4, %edi
	addl $idt, %edi
	movw $0x8e00, %bx
	call set_gate64
	incl %ecx
	cmpl $32, %ecx
	jb 2b
	movl $to_cpl0, %eax
	movl $idt + 0x30 * 16, %edi
	movw $0xee00, %bx
	call set_gate64
	/* The same checks of SMEP and SMAP at CPL 0 in 32-bit code, under
	 * 32-bit paging (the user alias in 4 MiB pages, and in 4 KiB ones)
	 * and PAE paging (2 MiB pages: the PD above).  The 32-bit page
	 * directory: 0-4 MiB a supervisor 4 MiB page; 4-8 MiB either a
	 * user 4 MiB page of physical 0, or pt32's user 4 KiB pages of
	 * physical 0-4 MiB.  The PAE PDPT's only entry is the PD. */
	xorl %ecx, %ecx
2:	movl stub32tab(, %ecx, 4), %eax
	movw %ax, idt32(, %ecx, 8)
	movw $CODE0, idt32 + 2(, %ecx, 8)
	movw $0x8e00, idt32 + 4(, %ecx, 8)
	shrl $16, %eax
	movw %ax, idt32 + 6(, %ecx, 8)
	incl %ecx
	cmpl $32, %ecx
	jb 2b
	movl $to_cpl0_32, %eax          /* 0x30 (DPL 3): back to CPL 0 */
	movw %ax, idt32 + 0x30 * 8
	movw $CODE0, idt32 + 0x30 * 8 + 2
	movw $0xee00, idt32 + 0x30 * 8 + 4
	shrl $16, %eax
	movw %ax, idt32 + 0x30 * 8 + 6
	lidt idt32_desc
	movw $LDT_SEL, %ax
	lldt %ax
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	orl $7, %eax
	movl %eax, pt32(, %ecx, 4)
	incl %ecx
	cmpl $1024, %ecx
	jb 1b
	movl $0x83, pd32
	movl $0x87, pd32 + 4
	movl $pd + 1, pdpt_pae
	PAGING32 pse-4m, pd32, 0x10
	call checks32
	call checks32u
	movl $pt32 + 7, pd32 + 4
	PAGING32 pse-4k, pd32, 0x10
	call checks32
	call checks32u
	PAGING32 pae, pdpt_pae, 0x20
	call checks32
	call checks32u
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl %cr4, %eax
	andl $~0x30, %eax
	movl %eax, %cr4
	/* Long mode. */
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80010000, %eax           /* PG, WP */
	movl %eax, %cr0
	ljmp $CODE64, $long64

/* checks32: SMEP and SMAP at CPL 0 in 32-bit code under the paging mode
 * set up (4.6.1, the error codes of 4.7): what the 64-bit round checks at
 * CPL 0. */
checks32:
	movl $(ufunc + ALIAS), %eax
	movl $(udata + ALIAS), %edx
	TRY32 smep-off-fetch, NONE, 0, 0, call *%eax
	CR4ON32 SMEP
	movl $(ufunc + ALIAS), %eax
	TRY32 smep-fetch, PF, 0x11, ufunc + ALIAS, call *%eax
	TRY32 smep-data-read, NONE, 0, 0, movl (%edx), %ecx
	TRY32 smep-data-write, NONE, 0, 0, movl %ecx, (%edx)
	CR4OFF32 SMEP
	CR4ON32 SMAP
	movl $(ufunc + ALIAS), %eax
	TRY32 smap-fetch, NONE, 0, 0, call *%eax
	TRY32 smap-read, PF, 1, udata + ALIAS, movl (%edx), %ecx
	TRY32 smap-write, PF, 3, udata + ALIAS, movl %ecx, (%edx)
	TRY32 smap-stac-read, NONE, 0, 0, AC_READ32 stac
	TRY32 smap-stac-write, NONE, 0, 0, AC_WRITE32 stac
	TRY32 smap-clac-read, PF, 1, udata + ALIAS, AC_READ32 clac
	TRY32 smap-clac-write, PF, 3, udata + ALIAS, AC_WRITE32 clac
	clac
	movl $kbuf, %esi
	movl %edx, %edi
	movl $64, %ecx
	TRY32 smap-stac-rep-movsb, NONE, 0, 0, AC_REP32 stac
	movl $kbuf, %esi
	movl %edx, %edi
	movl $64, %ecx
	TRY32 smap-rep-movsb, PF, 3, udata + ALIAS, AC_REP32 clac
	movw $4, %cx                    /* LDT entry 0 */
	TRY32 smap-implicit, PF, 1, ldt + ALIAS, STAC_LOADFS
	clac
	movl $(ldt + ALIAS), %esi
	movw $4, %cx
	TRY32 smap-implicit-after-read, PF, 1, ldt + ALIAS, STAC_READ_LOADFS32
	clac
	/* An implicit write after an explicit one in the same STAC window:
	 * the task switch saves the old task's state into its TSS (7.3,
	 * step 8), which is in a user page (tssu's alias), written just
	 * before with AC set.  The save is an implicit supervisor access:
	 * #PF whatever AC is (4.6.1), P and W/R set.  (CR2: the DBT writes
	 * EIP's field first; the SDM names no order.) */
	call tss_setup32
	movl $(tssu + ALIAS + 0x20), %edx
	TRY32 smap-implicit-tss-write, PF, 3, tssu + ALIAS + 0x20, STAC_WRITE_TASKJMP
	clac
	CR4OFF32 SMAP
	movw $4, %cx
	TRY32 smap-off-implicit, NONE, 0, 0, movw %cx, %fs
	xorl %ecx, %ecx
	movw %cx, %fs
	ret

/* checks32u: SMEP and SMAP at CPL 3 in 32-bit code under the paging mode
 * set up (4.6.1): user fetches, reads and writes of user pages are not
 * affected, STAC is #UD, and an implicit supervisor access made at CPL 3
 * (the descriptor read of a segment load from the LDT in a user page) is
 * still faulted by SMAP, as a supervisor access (U/S clear in the error
 * code, 4.7), whatever EFLAGS.AC is.  TR is TSSN_SEL (ESP0 for the way back). */
checks32u:
	call tss_setup32
	movl $ISTACK, tssn + 4
	movl $DATA0, tssn + 8
	movl $TSSN_SEL, %ebx            /* available again, then TR */
	movl $tssn, %eax
	call tss_desc32
	movw $TSSN_SEL, %ax
	ltr %ax
	movl $(udata + ALIAS), %edx
	/* At CPL 3 indeed: a supervisor page is #PF(5). */
	TRY32U user-super-read, PF, 5, kbuf, movl kbuf, %ecx
	CR4ON32 SMEP
	TRY32U smep-user-fetch, NONE, 0, 0, nop
	TRY32U smep-user-read, NONE, 0, 0, movl (%edx), %ecx
	CR4OFF32 SMEP
	CR4ON32 SMAP
	TRY32U smap-user-fetch, NONE, 0, 0, nop
	TRY32U smap-user-read, NONE, 0, 0, movl (%edx), %ecx
	TRY32U smap-user-write, NONE, 0, 0, movl %ecx, (%edx)
	TRY32U smap-user-rep-movsb, NONE, 0, 0, USER_REP
	TRY32U stac-cpl3, UD, 0, 0, stac
	movw $7, %cx                    /* LDT entry 0, RPL 3 */
	TRY32U smap-user-implicit, PF, 1, ldt + ALIAS, movw %cx, %fs
	movw $7, %cx                    /* ... also with EFLAGS.AC set */
	TRY32U smap-user-implicit-ac, PF, 1, ldt + ALIAS, USER_AC_LOADFS
	clac
	CR4OFF32 SMAP
	/* Without SMAP the descriptor is read: DPL 0 data at CPL 3 is
	 * #GP(selector). */
	movw $7, %cx
	TRY32U smap-off-user-implicit, GP, 4, 0, movw %cx, %fs
	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	xorl %eax, %eax
	movw %ax, %fs
	ret

/* Switch to CPL 3 (CODE3_32, DATA3 in DS, ES and SS) and return there, in
 * the user alias of the caller's next instruction. */
enter_user32:
	pushl %eax
	movw $DATA3, %ax
	movw %ax, %ds
	movw %ax, %es
	popl %eax
	popl eu_ret
	addl $ALIAS, eu_ret
	pushl $DATA3
	pushl $(USTACK + ALIAS)
	pushfl
	pushl $CODE3_32
	pushl eu_ret
	iret

/* INT 0x30 (32-bit): continue at CPL 0 after the INT (in the supervisor
 * mapping), on the stack the check had. */
to_cpl0_32:
	movl (%esp), %eax
	btrl $22, %eax                  /* - ALIAS */
	movl saved_rsp, %esp
	jmp *%eax

/* tss_setup32: TSSU_SEL (base tssu's user alias) and TSSN_SEL (tssn)
 * available 32-bit TSSs, TR = TSSU_SEL.  The new task, if it ever ran
 * (SMAP not enforced), goes on at the check's resume point. */
tss_setup32:
	movl $(tssu + ALIAS), %eax
	movl $TSSU_SEL, %ebx
	call tss_desc32
	movl $tssn, %eax
	movl $TSSN_SEL, %ebx
	call tss_desc32
	movl %cr3, %eax
	movl %eax, tssn + 0x1c
	movl $task_new, tssn + 0x20
	movl $2, tssn + 0x24
	movl $ISTACK, tssn + 0x38
	movl $DATA0, tssn + 0x48
	movl $CODE0, tssn + 0x4c
	movl $DATA0, tssn + 0x50
	movl $DATA0, tssn + 0x54
	movl $0, tssn + 0x58
	movl $0, tssn + 0x5c
	movl $LDT_SEL, tssn + 0x60
	movw $TSSU_SEL, %ax
	ltr %ax
	ret
/* tss_desc32: the GDT entry at ebx an available 32-bit TSS at eax. */
tss_desc32:
	movl $0x67, gdt(%ebx)
	movw %ax, gdt + 2(%ebx)
	shrl $16, %eax
	movb %al, gdt + 4(%ebx)
	movb $0x89, gdt + 5(%ebx)
	movb $0, gdt + 6(%ebx)
	movb %ah, gdt + 7(%ebx)
	ret
task_new:
	clts                            /* the task switch set CR0.TS */
	movl saved_rsp, %esp
	jmp *resume

/* check32: check in 32-bit code, the line "prot: MODE-NAME ...". */
check32:
	pushl %esi
	movl $s_head, %esi
	call puts
	movl mode32, %esi
	call puts
	movl $s_dash, %esi
	call puts
	popl %esi
	call puts
	movl ex, %eax
	cmpl want, %eax
	jne 9f
	cmpl $NONE, %eax
	je 8f
	movl ex + 4, %eax
	cmpl want + 4, %eax
	jne 9f
	cmpl $PF, want
	jne 8f
	movl ex + 8, %eax
	cmpl want + 8, %eax
	jne 9f
8:	movl $s_ok, %esi
	jmp puts
9:	movl $s_bad, %esi
	call puts
	movl ex, %eax
	call puthex32
	movl ex + 4, %eax
	call puthex32
	movl ex + 8, %eax
	call puthex32
	movl $s_nl, %esi
	call puts
	incl failures
	ret

/* puthex32: " " and eax in hex. */
puthex32:
	pushl %ecx
	pushl %edx
	pushl %ebx
	movl %eax, %ebx
	movb $' ', %al
	PUTC
	movl $8, %ecx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movb hex(%eax), %al
	PUTC
	loop 1b
	popl %ebx
	popl %edx
	popl %ecx
	ret

/* Every exception in 32-bit code: record vector, error code, CR2;
 * resume. */
record32:
	popl ex
	popl ex + 4
	movl %cr2, %eax
	movl %eax, ex + 8
	movl $0, ex + 12
	movl saved_rsp, %esp
	jmp *resume

	.macro STUB32 v
stub32_\v:
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21)
	.else
	pushl $0
	.endif
	pushl $\v
	jmp record32
	.endm
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	STUB32 \v
	.endr

/* A 64-bit gate to CODE64:eax at edi, type and DPL in bx. */
set_gate64:
	movw %ax, (%edi)
	movw $CODE64, 2(%edi)
	movw %bx, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	ret

	.code64
long64:
	movl $idt_desc, %eax
	lidt (%rax)
	movw $TSS_SEL, %ax
	ltr %ax
	movw $LDT_SEL, %ax
	lldt %ax
	/* CPUID: what the checks need is advertised. */
	movl $7, %eax
	xorl %ecx, %ecx
	cpuid
	andl $(1 << 7 | 1 << 20), %ebx
	andl $(1 << 2), %ecx
	cmpl $(1 << 7 | 1 << 20), %ebx
	jne 1f
	cmpl $(1 << 2), %ecx
	je 2f
1:	movl $s_cpuid, %esi
	call puts64
	jmp fail
	/* ... and what cr4-*-gp needs is not: CPUID.1:ECX PCID (17) and
	 * XSAVE (26), CPUID.7.0:EBX FSGSBASE (0) and ECX PKU (3). */
2:	movl $1, %eax
	cpuid
	testl $(1 << 17 | 1 << 26), %ecx
	jnz 3f
	movl $7, %eax
	xorl %ecx, %ecx
	cpuid
	testl $1, %ebx
	jnz 3f
	testl $(1 << 3), %ecx
	jz 4f
3:	movl $s_cpuid_more, %esi
	call puts64
	jmp fail
4:	movl $2, %r12d
round:
	movl $(ufunc + ALIAS), %eax
	movl $(udata + ALIAS), %edx
	/* SMEP */
	TRY0 smep-off-fetch, NONE, 0, 0, call *%rax
	CR4ON SMEP
	movl $(ufunc + ALIAS), %eax
	TRY0 smep-fetch, PF, 0x11, ufunc + ALIAS, call *%rax
	TRY0 smep-data-read, NONE, 0, 0, movl (%rdx), %ecx
	TRY0 smep-data-write, NONE, 0, 0, movl %ecx, (%rdx)
	TRYU smep-user-fetch, NONE, 0, 0, nop
	CR4OFF SMEP
	/* SMAP */
	CR4ON SMAP
	movl $(ufunc + ALIAS), %eax
	TRY0 smap-fetch, NONE, 0, 0, call *%rax
	TRY0 smap-read, PF, 1, udata + ALIAS, movl (%rdx), %ecx
	TRY0 smap-write, PF, 3, udata + ALIAS, movl %ecx, (%rdx)
	TRY0 smap-stac-read, NONE, 0, 0, AC_READ stac
	TRY0 smap-stac-write, NONE, 0, 0, AC_WRITE stac
	TRY0 smap-clac-read, PF, 1, udata + ALIAS, AC_READ clac
	TRY0 smap-clac-write, PF, 3, udata + ALIAS, AC_WRITE clac
	TRY0 smap-popf-ac, NONE, 0, 0, POPF_AC_READ
	clac
	movl $kbuf, %esi
	movq %rdx, %rdi
	movl $64, %ecx
	TRY0 smap-stac-rep-movsb, NONE, 0, 0, AC_REP stac
	movl $kbuf, %esi
	movq %rdx, %rdi
	movl $64, %ecx
	TRY0 smap-rep-movsb, PF, 3, udata + ALIAS, AC_REP clac
	movw $4, %cx                    /* LDT entry 0 */
	TRY0 smap-implicit, PF, 1, ldt + ALIAS, STAC_LOADFS
	clac
	movl $(ldt + ALIAS), %esi
	movw $4, %cx
	TRY0 smap-implicit-after-read, PF, 1, ldt + ALIAS, STAC_READ_LOADFS
	clac
	TRYU smap-user-read, NONE, 0, 0, movl (%rdx), %ecx
	TRYU stac-cpl3, UD, 0, 0, stac
	CR4OFF SMAP
	movw $4, %cx
	TRY0 smap-off-implicit, NONE, 0, 0, movw %cx, %fs
	xorl %ecx, %ecx
	movw %cx, %fs
	/* UMIP */
	CR4ON UMIP
	movl $(ubuf + ALIAS), %ecx
	TRYU umip-sgdt, GP, 0, 0, sgdt (%rcx)
	TRYU umip-sidt, GP, 0, 0, sidt (%rcx)
	TRYU umip-sldt, GP, 0, 0, sldt %eax
	TRYU umip-smsw, GP, 0, 0, smsw %eax
	TRYU umip-str, GP, 0, 0, str %eax
	TRY0 umip-cpl0-sgdt, NONE, 0, 0, sgdt (%rcx)
	TRY0 umip-cpl0-str, NONE, 0, 0, str %eax
	CR4OFF UMIP
	movl $(ubuf + ALIAS), %ecx
	TRYU umip-off-sgdt, NONE, 0, 0, sgdt (%rcx)
	TRYU umip-off-smsw, NONE, 0, 0, smsw %eax
	/* PVI in 64-bit mode (CR4.PVI, the CLI and STI pseudo-code): at
	 * CPL 3 with IOPL 0, CLI and STI change VIF, not IF, and raise
	 * nothing; without PVI they are #GP(0).  VIF is read with PUSHFQ
	 * into the user page ubuf. */
	CR4ON PVI
	movl $(ubuf + ALIAS), %ecx
	movl $-1, (%rcx)
	TRYU pvi64-sti, NONE, 0, 0, FLAGS_AFTER sti
	movl $(ubuf + ALIAS), %ecx
	movl (%rcx), %eax
	andl $(VIF | IF), %eax
	CHECKV pvi64-sti-sets-vif, VIF
	movl $(ubuf + ALIAS), %ecx
	movl $-1, (%rcx)
	TRYU pvi64-cli, NONE, 0, 0, FLAGS_AFTER cli
	movl $(ubuf + ALIAS), %ecx
	movl (%rcx), %eax
	andl $(VIF | IF), %eax
	CHECKV pvi64-cli-clears-vif, 0
	CR4OFF PVI
	TRYU pvi64-off-cli-gp, GP, 0, 0, cli
	TRYU pvi64-off-sti-gp, GP, 0, 0, sti
	/* CR4 bits of features the model does not advertise are reserved:
	 * a MOV to CR4 setting one is #GP(0). */
	TRY0 cr4-fsgsbase-gp, GP, 0, 0, CR4SET 0x10000
	TRY0 cr4-pcide-gp, GP, 0, 0, CR4SET 0x20000
	TRY0 cr4-osxsave-gp, GP, 0, 0, CR4SET 0x40000
	TRY0 cr4-pke-gp, GP, 0, 0, CR4SET 0x400000
	call x87sel
	call globals
	decl %r12d
	jnz round

	movl $failures, %eax
	cmpl $0, (%rax)
	jne fail
	movl $s_allok, %esi
	call puts64
	EXIT $0
fail:	movl $s_failed, %esi
	call puts64
	EXIT $1

/* Reached through the user alias. */
ufunc:	ret

/* x87sel: FCS and FDS in 64-bit mode (see the header), with DS DATA3 and
 * SS DATA0, so the two are told apart. */
x87sel:
	movw $DATA0, %ax
	movw %ax, %ss                   /* null after the CPL 3 round trips */
	movw $DATA3, %ax
	movw %ax, %ds
	fninit
	pushq $0
	flds (%rsp)                     /* FDS: SS, the RSP base's default */
	popq %rax
	movl $fxbuf, %ebx
	fnstenv (%rbx)
	movzwl 16(%rbx), %eax
	CHECKV x87-fnstenv-fcs, CODE64
	movl $fxbuf, %ebx
	movzwl 24(%rbx), %eax
	CHECKV x87-fnstenv-fds-ss, DATA0
	movl $fxbuf, %ebx
	flds %ss:8(%rbx)                /* an ignored SS override: DS */
	fnstenv (%rbx)
	movzwl 24(%rbx), %eax
	CHECKV x87-fnstenv-fds-ss-override, DATA3
	movw $DATA0, %ax                /* FDS stays the operand's DS */
	movw %ax, %ds
	movl $fxbuf, %ebx
	fxsave (%rbx)                   /* no REX.W: the selectors */
	movzwl 12(%rbx), %eax
	CHECKV x87-fxsave-fcs, CODE64
	movl $fxbuf, %ebx
	movzwl 20(%rbx), %eax
	CHECKV x87-fxsave-fds, DATA3
	movl $fxbuf, %ebx
	fxsave64 (%rbx)
	fxrstor64 (%rbx)                /* no selectors in the image: 0 */
	fnstenv (%rbx)
	movzwl 16(%rbx), %eax
	shll $16, %eax
	movw 24(%rbx), %ax
	CHECKV x87-fxrstor64-clears, 0
	movl $fxbuf, %ebx
	movl $0x037f, (%rbx)            /* an environment with FCS 0x1234 */
	movl $0xffff, 8(%rbx)           /* and FDS 0x5678 */
	movl $0x1000, 12(%rbx)
	movl $0x1234, 16(%rbx)
	movl $0, 20(%rbx)
	movl $0x5678, 24(%rbx)
	fldenv (%rbx)
	fxsave (%rbx)
	movzwl 12(%rbx), %eax
	shll $16, %eax
	movw 20(%rbx), %ax
	CHECKV x87-fldenv-fxsave, 0x12345678
	/* A 64-bit x87 instruction, then FNSTENV and FXSAVE in
	 * compatibility mode: its CS (CODE64) and DS are FCS and FDS. */
	fninit
	movl $fxbuf, %ebx
	flds 8(%rbx)
	pushq $CODE0
	movl $x87c32, %eax
	pushq %rax
	lretq
	.code32
x87c32:	fnstenv fxbuf
	movl fxbuf + 16, %eax
	movl %eax, fxbuf + 32           /* FCS (and FOP) */
	movl fxbuf + 24, %eax
	movl %eax, fxbuf + 36           /* FDS */
	fxsave fxbuf + 64
	fnstenv fxbuf                   /* again: FNSTENV changes neither */
	movl fxbuf + 16, %eax
	movl %eax, fxbuf + 40
	ljmp $CODE64, $x87c64
	.code64
x87c64:	movl $fxbuf, %ebx
	movzwl 32(%rbx), %eax
	CHECKV x87-compat-fnstenv-fcs, CODE64
	movl $fxbuf, %ebx
	movzwl 36(%rbx), %eax
	CHECKV x87-compat-fnstenv-fds, DATA0
	movl $fxbuf, %ebx
	movzwl 64 + 12(%rbx), %eax
	CHECKV x87-compat-fxsave-fcs, CODE64
	movl $fxbuf, %ebx
	movzwl 40(%rbx), %eax
	CHECKV x87-compat-fnstenv-again-fcs, CODE64
	fninit
	xorl %eax, %eax
	movw %ax, %ss
	ret

/* PTE n, frame, flags: entry n of pt maps frame (clobbers rbx). */
	.macro PTE n, frame, flags
	movl $pt, %ebx
	movl $(\frame + \flags), 8 * \n(%rbx)
	movl $0, 8 * \n + 4(%rbx)
	.endm

/* CR3_DROPS name, flags: data and code pages mapped with flags, used,
 * remapped in memory; after a MOV to CR3 both must show the new frames. */
	.macro CR3_DROPS name, flags
	PTE 0, fa, \flags
	PTE 1, ca, \flags
	invlpg (%r8)
	invlpg (%r9)
	movl (%r8), %eax
	call *%r9
	call *%r9
	PTE 0, fb, \flags
	PTE 1, cb, \flags
	movq %cr3, %rax
	movq %rax, %cr3
	movl (%r8), %eax
	CHECKV \name, 0xbbbb0002
	call *%r9
	CHECKV \name\()-code, 2
	.endm

/* Global pages (4.10.4.1): data at GLIN, code at GLIN + 4K. */
globals:
	movl $GLIN, %r8d
	movl $(GLIN + 0x1000), %r9d
	CR4ON PGE
	/* INVLPG drops a global translation. */
	PTE 0, fa, 0x103
	invlpg (%r8)
	movl (%r8), %eax
	PTE 0, fb, 0x103
	invlpg (%r8)
	movl (%r8), %eax
	CHECKV global-invlpg, 0xbbbb0002
	PTE 1, ca, 0x103
	invlpg (%r9)
	call *%r9
	call *%r9
	PTE 1, cb, 0x103
	invlpg (%r9)
	call *%r9
	CHECKV global-invlpg-code, 2
	/* So does a toggle of CR4.PGE. */
	PTE 0, fa, 0x103
	invlpg (%r8)
	movl (%r8), %eax
	PTE 1, ca, 0x103
	invlpg (%r9)
	call *%r9
	call *%r9
	PTE 0, fb, 0x103
	PTE 1, cb, 0x103
	CR4OFF PGE
	CR4ON PGE
	movl (%r8), %eax
	CHECKV global-pge-toggle, 0xbbbb0002
	call *%r9
	CHECKV global-pge-toggle-code, 2
	/* A MOV to CR3 drops a translation whose G is clear. */
	CR3_DROPS nonglobal-cr3, 0x003
	/* With CR4.PGE clear, a MOV to CR3 drops them whatever G is. */
	CR4OFF PGE
	CR3_DROPS pge0-cr3, 0x103
	ret

/* checkv: eax against ecx, a line for check esi. */
checkv:
	pushq %rax
	pushq %rcx
	movq %rsi, %rbx
	movl $s_head, %esi
	call puts64
	movq %rbx, %rsi
	call puts64
	popq %rcx
	popq %rax
	cmpl %ecx, %eax
	jne 9f
	movl $s_ok, %esi
	jmp puts64
9:	movl $s_badv, %esi
	call puts64
	call puthex64
	movl $s_nl, %esi
	call puts64
	movl $failures, %eax
	incl (%rax)
	ret

/* Switch to CPL 3 and return there, in the user alias of the caller's
 * next instruction. */
enter_user:
	popq %r13
	addq $ALIAS, %r13
	pushq $DATA3
	movl $(USTACK + ALIAS), %r14d
	pushq %r14
	pushfq
	pushq $CODE3
	pushq %r13
	iretq

/* INT 0x30: continue at CPL 0 after the INT (in the supervisor mapping),
 * on the stack the check had. */
to_cpl0:
	movq (%rsp), %rax
	btrq $22, %rax                  /* - ALIAS */
	movl $saved_rsp, %r15d
	movq (%r15), %rsp
	jmp *%rax

/* Every exception: record vector, error code, CR2; resume at CPL 0. */
record:
	movl $ex, %r15d
	popq %rax
	movl %eax, (%r15)
	popq %rax
	movl %eax, 4(%r15)
	movq %cr2, %rax
	movq %rax, 8(%r15)
	movl $saved_rsp, %r15d
	movq (%r15), %rsp
	movl $resume, %r15d
	jmp *(%r15)

	.macro STUB v
stub\v:
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21)
	.else
	pushq $0
	.endif
	pushq $\v
	jmp record
	.endm
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	STUB \v
	.endr

/* check: the exception seen against the one wanted; a line for check
 * esi (the name). */
check:
	movq %rsi, %rbx
	movl $s_head, %esi
	call puts64
	movq %rbx, %rsi
	call puts64
	movl $ex, %r15d
	movl $want, %r14d
	movl (%r15), %eax
	cmpl (%r14), %eax
	jne 9f
	cmpl $NONE, %eax
	je 8f
	movl 4(%r15), %eax
	cmpl 4(%r14), %eax
	jne 9f
	cmpl $PF, (%r14)
	jne 8f
	movq 8(%r15), %rax
	cmpq 8(%r14), %rax
	jne 9f
8:	movl $s_ok, %esi
	jmp puts64
9:	movl $s_bad, %esi
	call puts64
	movl (%r15), %eax
	call puthex64
	movl 4(%r15), %eax
	call puthex64
	movl 8(%r15), %eax
	call puthex64
	movl $s_nl, %esi
	call puts64
	movl $failures, %eax
	incl (%rax)
	ret

/* puts64: the string at rsi on COM1. */
puts64:
	pushq %rax
	pushq %rdx
1:	lodsb
	testb %al, %al
	jz 2f
	movw $COM1, %dx
	outb %al, %dx
	jmp 1b
2:	popq %rdx
	popq %rax
	ret

/* puthex64: " " and eax in hex. */
puthex64:
	pushq %rcx
	pushq %rdx
	pushq %rbx
	movl %eax, %ebx
	movb $' ', %al
	PUTC
	movl $8, %ecx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movl $hex, %edx
	movb (%rdx, %rax), %al
	PUTC
	loop 1b
	popq %rbx
	popq %rdx
	popq %rcx
	ret
	.code32

	.section .rodata
	.align 4
stubtab:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long stub\v
	.endr
stub32tab:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long stub32_\v
	.endr
hex:	.ascii "0123456789abcdef"
s_dash:	.asciz "-"
s_head:	.asciz "prot: "
s_ok:	.asciz " ok\n"
s_bad:	.asciz " BAD (vector, error code, CR2):"
s_nl:	.asciz "\n"
s_badv:	.asciz " BAD: got"
s_cpuid_more: .asciz "prot: cpuid BAD: PCID, XSAVE, FSGSBASE or PKU advertised: the cr4-*-gp checks need updating\n"
s_cpuid: .asciz "prot: cpuid BAD: leaf 7 does not advertise SMEP, SMAP and UMIP\n"
s_allok: .asciz "prot: all ok\n"
s_failed: .asciz "prot: some checks failed\n"

	.data
	.align 16
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code */
	.quad 0x00cf92000000ffff        /* 0x10 flat data */
	.quad 0x00af9a000000ffff        /* 0x18 64-bit code */
	.quad 0x00cff2000000ffff        /* 0x20 DPL 3 data */
	.quad 0x00affa000000ffff        /* 0x28 DPL 3 64-bit code */
	.quad 0x0000890000000067, 0     /* 0x30 64-bit TSS, base patched */
	.quad 0x000082000000000f, 0     /* 0x40 LDT, base patched */
	.quad 0, 0                      /* 0x50, 0x58: tss_setup32 */
	.quad 0x00cffa000000ffff        /* 0x60 DPL 3 flat 32-bit code */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x31 * 16 - 1
	.long idt, 0
idt32_desc:
	.word 0x31 * 8 - 1
	.long idt32
mode32:	.long 0
	.align 32
pdpt_pae: .quad 0, 0, 0, 0
	.align 8
/* An LDT: entry 0 a flat data segment, accessed (no write to set A). */
ldt:	.quad 0x00cf93000000ffff, 0
want:	.long 0, 0
	.quad 0
ex:	.long 0, 0
	.quad 0
resume:	.quad 0
saved_rsp: .quad 0
eu_ret:	.long 0
failures: .long 0
kbuf:	.space 64
	.align 16
fxbuf:	.space 640
/* Reached only through the user alias, in a page of their own: no
 * supervisor access between a check's STAC and CLAC evicts its TLB
 * entries. */
	.align 4096
udata:	.space 64
ubuf:	.space 16
	.align 4096
/* The old task's TSS, reached through the user alias (its own page). */
tssu:	.space 0x68
	.align 4096
tssn:	.space 0x68

	.bss
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096
idt:	.space 0x31 * 16
tss:	.space 0x68
	.align 4096
pt:	.space 4096
fa:	.space 4096
fb:	.space 4096
ca:	.space 4096
cb:	.space 4096
pd32:	.space 4096
pt32:	.space 4096
idt32:	.space 0x31 * 8
