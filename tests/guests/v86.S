/*
 * v86: virtual-8086 mode under a 32-bit monitor, and protected-mode virtual
 * interrupts (Intel SDM vol. 3A,
 * chapter 20, and the IRET, INT n, CLI, STI, PUSHF and POPF pseudo-code in
 * vol. 2).  The monitor enters 8086 code copied to 0x8000 (CS 0x800, SS
 * 0x700) with an IRET whose EFLAGS image has VM set, and gets it back
 * through INT3 (not IOPL-sensitive, 20.2.7) or a fault.  One line per
 * check, "v86: GROUP NAME ok" or "... BAD" with the values seen; exit 0
 * only if all pass.  The expected values, by section:
 *   20.2.1, IRET  an IRET at CPL 0 to an image with VM set pops ESP, SS,
 *       ES, DS, FS and GS too and runs at CPL 3 with real-mode segments.
 *   20.3.1.1 (figure 20-5)  an exception from virtual-8086 mode goes to
 *       the CPL 0 handler on the TSS's stack with GS, FS, DS and ES saved
 *       above the usual SS, ESP, EFLAGS (VM set), CS, EIP and error code,
 *       and DS, ES, FS and GS null in the handler; its IRET returns to
 *       virtual-8086 mode.
 *   20.2.7, 20.3.3 (table 20-2)  with IOPL < 3 and CR4.VME=0, INT n is
 *       #GP(0) (method 2); with IOPL 3 it goes to the protected-mode
 *       handler (method 1).  With VME=1 and IOPL < 3 a clear bit in the
 *       TSS's interrupt redirection bitmap sends INT n to the 8086
 *       handler in the IVT, the pushed FLAGS showing VIF as IF and IOPL
 *       as 3, VIF cleared (method 6); a set bit is #GP(0) (method 3).
 *   20.4.1, 20.4.2 (VME)  CLI and STI change VIF, not IF; STI with VIP
 *       set is #GP(0); PUSHF/POPF work on 16 bits only (PUSHFD #GP(0)).
 *   20.4, CLI, STI, POPF (PVI)  with CR4.PVI, at CPL 3 in protected mode
 *       with IOPL < 3, CLI clears VIF and STI sets it, IF unchanged; STI
 *       with VIP set is #GP(0); POPF changes neither IF nor VIF; with
 *       IOPL 3 STI sets IF; without PVI both are #GP(0).
 *   7.3, 20.2.5  a JMP to a TSS whose EFLAGS image has VM set runs the
 *       new task in virtual-8086 mode (8086 segments, CPL 3).
 *   20.2.8.1  IN and OUT are checked against the TSS's I/O permission
 *       bitmap, whatever IOPL is: a set bit is #GP(0).
 *   17.3.1.4  TF across virtual-8086 entry: an IRET to an image with TF
 *       set traps after the first 8086 instruction, not after itself,
 *       the #DB frame from virtual-8086 mode with VM and TF set and the
 *       next IP; an IRET run with TF set (the image's clear) traps right
 *       after it, the frame with the 8086 entry IP, VM set and TF clear.
 */
#include "guest.inc"
#include "systest.inc"

	.set TSS_SEL, 0x28
	.set TSS2_SEL, 0x30
	.set KSTACK, 0x2f0000
	.set USTACK, 0x2e0000
	.set ISTACK, 0x2d0000
	.set BLOB, 0x8000               /* CS 0x800 */
	.set VM, 0x20000
	.set VIF, 0x80000
	.set VIP, 0x100000
	.set IOPL3, 0x3000
	.set IF, 0x200
	.set TF, 0x100
	.set CR4_VME, 1
	.set CR4_PVI, 2
	.set V_IMG, 0x6000              /* data the 8086 code writes (DS 0) */
	.set V_IN, 0x6002
	.set V_MARK, 0x6004

/* VTRY name, vec, err, ip, res, flags: enter the 8086 code at ip with
 * EFLAGS = flags | VM; a fault resumes it at res; INT3 ends it.  Check
 * the exception (NONE: none but the INT3). */
	.macro VTRY name, vec, err, ip, res, flags
	movl $\vec, want_vec
	movl $\err, want_err
	movl $0, want_cr2
	movl $-1, ex_vec
	movl $(\res - v86_blob), resume
	movl $(\ip - v86_blob), %eax
	movl $(\flags), %ebx
	call enter_v86
	movl $888f, %esi
	call check
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
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	/* The 8086 code at 0x8000; the IVT's vector 0x23 into it. */
	movl $v86_blob, %esi
	movl $BLOB, %edi
	movl $(v86_end - v86_blob), %ecx
	cld
	rep movsb
	movw $(v_ivt23 - v86_blob), 0x23 * 4
	movw $(BLOB >> 4), 0x23 * 4 + 2
	/* TSS: CPL 0 stack, redirection bitmap at 0x68 (vector 0x24
	 * not redirected), I/O bitmap at 0x88 (port 0x84 denied). */
	movl $tss, %eax
	movw %ax, gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS_SEL + 4
	movb %ah, gdt + TSS_SEL + 7
	movl $ISTACK, tss + 4
	movl $DATA0, tss + 8
	movw $0x88, tss + 0x66
	movb $(1 << 4), tss + 0x68 + 4
	movb $(1 << 4), tss + 0x88 + 0x10
	movb $0xff, tss + 0x88 + 0x80
	movw $TSS_SEL, %ax
	ltr %ax
	/* IDT: the recording stubs; 3 (INT3, DPL 3) back to the monitor;
	 * 0x22 (DPL 3) a protected-mode handler for INT 0x22. */
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $4, %eax
	addl $stubs, %eax
	leal idt(, %ecx, 8), %edi
	movw $0x8e00, %bx
	call set_gate
	incl %ecx
	cmpl $32, %ecx
	jb 2b
	movl $to_mon, %eax
	movl $idt + 3 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	movl $h22, %eax
	movl $idt + 0x22 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	lidt idt_desc

	call run_enter
	call run_int
	call run_vme
	call run_pvi
	call run_task
	jmp finish

/* ---- a task switch into virtual-8086 mode ------------------------------- */

/* Last, as it leaves the monitor in the new task (its TSS has no
 * redirection or I/O bitmap).  A JMP to a TSS whose EFLAGS image has VM
 * set (7.3, 20.2.5) runs the task in virtual-8086 mode: at CPL 3 with
 * 8086 segments (v_read's DS 0 reads V_MARK), its INT3 reaching the
 * monitor with VM in the pushed EFLAGS and the task's CS; the old TSS is
 * available again, the new one busy, and the old one holds the EIP after
 * the JMP. */
run_task:
	movl $m_task, modename
	movl $tss2, %eax
	movw %ax, gdt + TSS2_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS2_SEL + 4
	movb %ah, gdt + TSS2_SEL + 7
	movl $ISTACK, tss2 + 4          /* SS0:ESP0 */
	movl $DATA0, tss2 + 8
	movl $(v_read - v86_blob), tss2 + 0x20
	movl $(VM | 2), tss2 + 0x24
	movl $0x1000, tss2 + 0x38       /* ESP */
	movl $(BLOB >> 4), tss2 + 0x4c  /* CS; ES, DS, FS, GS 0 */
	movl $0x700, tss2 + 0x50        /* SS */
	movw $0x68, tss2 + 0x66         /* no I/O bitmap */
	movw $0x2468, V_MARK
	movw $0, V_IN
	movl $0, mon_flags
	movl $0, mon_cs
	movl %esp, saved_esp
	movl $1f, mon_ret
	ljmp $TSS2_SEL, $0
tj_ret:
1:	movl mon_flags, %eax
	andl $VM, %eax
	movl %eax, got
	CHECKV jmp-into-v86-int3-from-v86, $VM
	movl mon_cs, %eax
	movl %eax, got
	CHECKV jmp-into-v86-cs, $(BLOB >> 4)
	movzwl V_IN, %eax
	movl %eax, got
	CHECKV jmp-into-v86-8086-segments, $0x2468
	movzbl gdt + TSS_SEL + 5, %eax
	movl %eax, got
	CHECKV jmp-old-tss-available, $0x89
	movzbl gdt + TSS2_SEL + 5, %eax
	movl %eax, got
	CHECKV jmp-new-tss-busy, $0x8b
	movl tss + 0x20, %eax
	movl %eax, got
	CHECKV jmp-old-tss-eip, $tj_ret
	ret

/* ---- protected-mode virtual interrupts ---------------------------------- */

/* PVI op: op at CPL 3 with EFLAGS = ebx (VIF and VIP too: an IRET at CPL
 * 0 loads them), then the flags it left in pvi_fl (a fault skips that). */
	.macro PVI op:vararg
	movl $-1, pvi_fl
	call enter_user_fl
	\op
	pushfl
	popl pvi_fl
	.endm

	.macro POPF_IF
	pushl $IF
	popfl
	.endm

run_pvi:
	movl $m_pvi, modename
	movl $to_cpl0, %eax
	movl $idt + 0x30 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	movl %cr4, %eax
	andl $~CR4_VME, %eax
	orl $CR4_PVI, %eax
	movl %eax, %cr4
	/* CPL 3, IOPL 0: CLI clears VIF and leaves IF; STI sets VIF. */
	movl $(IF | VIF), %ebx
	TRYX cli-clears-vif, NONE, 0, 0, PVI cli
	movl pvi_fl, %eax
	andl $(IF | VIF), %eax
	movl %eax, got
	CHECKV cli-clears-vif-not-if, $IF
	xorl %ebx, %ebx
	TRYX sti-sets-vif, NONE, 0, 0, PVI sti
	movl pvi_fl, %eax
	andl $(IF | VIF), %eax
	movl %eax, got
	CHECKV sti-sets-vif-not-if, $VIF
	/* STI with VIP set: #GP(0); CLI with it: VIF cleared. */
	movl $VIP, %ebx
	TRYX sti-vip-gp, GP, 0, 0, PVI sti
	movl $(VIP | VIF), %ebx
	TRYX cli-vip, NONE, 0, 0, PVI cli
	movl pvi_fl, %eax
	andl $(VIP | VIF), %eax
	movl %eax, got
	CHECKV cli-vip-clears-vif, $VIP
	/* PVI is for CLI and STI only: POPF leaves IF and VIF, PUSHF
	 * shows IF (20.4, POPF's and PUSHF's pseudo-code). */
	xorl %ebx, %ebx
	TRYX popf, NONE, 0, 0, PVI POPF_IF
	movl pvi_fl, %eax
	andl $(IF | VIF), %eax
	movl %eax, got
	CHECKV popf-leaves-if-and-vif, $0
	/* IOPL 3: CLI and STI work on IF (IOPL >= CPL). */
	movl $(IOPL3 | VIF), %ebx
	TRYX sti-iopl3, NONE, 0, 0, PVI sti
	movl pvi_fl, %eax
	andl $(IF | VIF), %eax
	movl %eax, got
	CHECKV sti-iopl3-sets-if, $(IF | VIF)
	/* Without PVI, IOPL 0: #GP(0). */
	movl %cr4, %eax
	andl $~CR4_PVI, %eax
	movl %eax, %cr4
	movl $VIF, %ebx
	TRYX cli-no-pvi-gp, GP, 0, 0, PVI cli
	xorl %ebx, %ebx
	TRYX sti-no-pvi-gp, GP, 0, 0, PVI sti
	ret

/* enter_user with the EFLAGS image ebx. */
enter_user_fl:
	popl user_ret
	movl %esp, saved_esp
	movw $DATA3, %cx
	movw %cx, %ds
	movw %cx, %es
	pushl $DATA3
	pushl $USTACK
	pushl %ebx
	pushl $CODE3
	pushl user_ret
	iret

/* ---- entering, exceptions, I/O ------------------------------------------ */

run_enter:
	movl $m_enter, modename
	movl $0x200, v_es
	movl $0x100, v_ds
	movl $0x300, v_fs
	movl $0x400, v_gs
	VTRY int-iopl0-gp, GP, 0, v_int21, v_exit, 0
	movl ex_frame, %eax
	movl %eax, got
	CHECKV frame-eip, $(v_int21 - v86_blob)
	movl ex_frame + 4, %eax
	movl %eax, got
	CHECKV frame-cs, $(BLOB >> 4)
	movl ex_frame + 8, %eax
	andl $VM, %eax
	movl %eax, got
	CHECKV frame-eflags-vm, $VM
	movl ex_frame + 12, %eax
	movl %eax, got
	CHECKV frame-esp, $0x1000
	movl ex_frame + 16, %eax
	movl %eax, got
	CHECKV frame-ss, $0x700
	movl ex_frame + 20, %eax
	movl %eax, got
	CHECKV frame-es, $0x200
	movl ex_frame + 24, %eax
	movl %eax, got
	CHECKV frame-ds, $0x100
	movl ex_frame + 28, %eax
	movl %eax, got
	CHECKV frame-fs, $0x300
	movl ex_frame + 32, %eax
	movl %eax, got
	CHECKV frame-gs, $0x400
	movl ex_ds, %eax
	movl %eax, got
	CHECKV handler-ds-null, $0
	movl $0, v_es
	movl $0, v_ds
	movl $0, v_fs
	movl $0, v_gs
	/* The 8086 code runs with real-mode segments: DS 0 reads linear
	 * V_MARK, written here. */
	movw $0x1357, V_MARK
	VTRY real-segments, NONE, 0, v_read, v_exit, 0
	movzwl V_IN, %eax
	movl %eax, got
	CHECKV real-segments-value, $0x1357
	VTRY ud2, 6, 0, v_ud, v_exit, 0
	VTRY out-allowed, NONE, 0, v_out80, v_exit, 0
	VTRY out-denied, GP, 0, v_out84, v_exit, 0
	VTRY out-denied-iopl3, GP, 0, v_out84, v_exit, IOPL3
	VTRY hlt, GP, 0, v_hlt, v_exit, IOPL3
	/* TF across the entry. */
	VTRY tf-image-step, 1, 0, v_step, v_exit, TF
	movl ex_frame, %eax
	movl %eax, got
	CHECKV tf-image-step-ip, $(v_step - v86_blob + 1)
	movl ex_frame + 8, %eax
	andl $(VM | TF), %eax
	movl %eax, got
	CHECKV tf-image-step-eflags, $(VM | TF)
	movl $1, want_vec
	movl $0, want_err
	movl $0, want_cr2
	movl $-1, ex_vec
	movl $(v_exit - v86_blob), resume
	movl $(v_step - v86_blob), %eax
	xorl %ebx, %ebx
	call enter_v86_tf
	movl $s_tfiret, %esi
	call check
	movl ex_frame, %eax
	movl %eax, got
	CHECKV tf-iret-ip, $(v_step - v86_blob)
	movl ex_frame + 4, %eax
	movl %eax, got
	CHECKV tf-iret-cs, $(BLOB >> 4)
	movl ex_frame + 8, %eax
	andl $(VM | TF), %eax
	movl %eax, got
	CHECKV tf-iret-eflags, $VM
	ret

/* ---- INT n without VME ---------------------------------------------------- */

run_int:
	movl $m_int, modename
	VTRY int-iopl3-pm-handler, 0x22, 0, v_int22, v_exit, IOPL3
	movl h22_eip, %eax
	movl %eax, got
	CHECKV int-iopl3-frame-eip, $(v_int22 - v86_blob + 2)
	VTRY cli-iopl0-gp, GP, 0, v_cli, v_exit, 0
	VTRY pushf-iopl0-gp, GP, 0, v_pushf, v_exit, 0
	VTRY pushf-iopl3, NONE, 0, v_pushf, v_exit, IOPL3
	ret

/* ---- VME ------------------------------------------------------------------ */

run_vme:
	movl $m_vme, modename
	movl %cr4, %eax
	orl $CR4_VME, %eax
	movl %eax, %cr4
	movw $0, V_MARK
	VTRY redirect-to-ivt, NONE, 0, v_int23, v_exit, VIF | IF
	movzwl V_MARK, %eax
	movl %eax, got
	CHECKV redirect-ran-8086-handler, $0x5a5a
	movzwl V_IMG, %eax
	andl $(IF | IOPL3), %eax
	movl %eax, got
	CHECKV redirect-pushed-flags-if-is-vif, $(IF | IOPL3)
	movzwl V_IN, %eax
	andl $IF, %eax
	movl %eax, got
	CHECKV redirect-clears-vif, $0
	movl mon_flags, %eax
	andl $VIF, %eax
	movl %eax, got
	CHECKV iret-restores-vif, $VIF
	VTRY redirect-bit-set-gp, GP, 0, v_int24, v_exit, VIF | IF
	VTRY cli-vme, NONE, 0, v_cli, v_exit, VIF | IF
	movl mon_flags, %eax
	andl $(VIF | IF), %eax
	movl %eax, got
	CHECKV cli-clears-vif-not-if, $IF
	VTRY sti-vme, NONE, 0, v_sti, v_exit, IF
	movl mon_flags, %eax
	andl $VIF, %eax
	movl %eax, got
	CHECKV sti-sets-vif, $VIF
	VTRY sti-vip-gp, GP, 0, v_sti, v_exit, IF | VIP
	VTRY pushf-vme, NONE, 0, v_pushf, v_exit, IF | VIF
	movzwl V_IN, %eax
	andl $(IF | IOPL3), %eax
	movl %eax, got
	CHECKV pushf-vme-image, $(IF | IOPL3)
	VTRY pushfd-vme-gp, GP, 0, v_pushfd, v_exit, IF
	VTRY popf-vme, NONE, 0, v_popf_if, v_exit, IF
	movl mon_flags, %eax
	andl $(VIF | IF), %eax
	movl %eax, got
	CHECKV popf-vme-if-to-vif, $(VIF | IF)
	ret

/* ---- the monitor's side ------------------------------------------------- */

/* Enter the 8086 code at IP eax with EFLAGS ebx | VM; back at the
 * caller when it executes INT3. */
enter_v86:
	popl mon_ret
	movl %esp, saved_esp
	pushl v_gs
	pushl v_fs
	pushl v_ds
	pushl v_es
	pushl $0x700
	pushl $0x1000
	orl $(VM | 2), %ebx
	pushl %ebx
	pushl $(BLOB >> 4)
	pushl %eax
	cmpl $0, iret_tf
	je 1f
	movl $0, iret_tf
	pushfl
	orl $TF, (%esp)
	popfl
1:	iret

/* enter_v86 with TF set for the IRET itself. */
enter_v86_tf:
	movl $1, iret_tf
	jmp enter_v86

/* INT3 from the 8086 code: record EFLAGS and CS, back to the monitor. */
to_mon:
	movl 8(%esp), %eax
	movl %eax, %ss:mon_flags
	movl 4(%esp), %eax
	movl %eax, %ss:mon_cs
	movl %ss:saved_esp, %esp
	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	jmp *mon_ret

/* INT 0x22 (IOPL 3, no VME): record and return to the 8086 code. */
h22:
	pushl %eax
	movl 4(%esp), %eax
	movl %eax, %ss:h22_eip
	movl $0x22, %ss:ex_vec
	movl $0, %ss:ex_err
	popl %eax
	iret

/* Write a 32-bit gate to CODE0:eax at edi; bx = type word. */
set_gate:
	pushl %eax
	movw %ax, (%edi)
	movw $CODE0, 2(%edi)
	movw %bx, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	popl %eax
	ret

/* ---- the 8086 code (copied to BLOB) ------------------------------------- */

	.code16
v86_blob:
v_int21:
	int $0x21
v_exit:
	int3
v_step:
	nop
	int3
v_read:
	movw V_MARK, %ax
	movw %ax, V_IN
	int3
v_ud:
	ud2
	int3
v_out80:
	outb %al, $0x80
	int3
v_out84:
	outb %al, $0x84
	int3
v_hlt:
	hlt
	int3
v_int22:
	int $0x22
	int3
v_int23:
	int $0x23
	int3
v_int24:
	int $0x24
	int3
v_cli:
	cli
	int3
v_sti:
	sti
	int3
v_pushf:
	pushfw
	popw %ax
	movw %ax, V_IN
	int3
v_pushfd:
	pushfl
	int3
v_popf_if:
	pushw $(IF | 2)
	popfw
	int3
/* The IVT's handler for vector 0x23: the FLAGS image INT pushed and
 * FLAGS as PUSHF shows them inside. */
v_ivt23:
	pushw %bp
	movw %sp, %bp
	movw 6(%bp), %ax
	movw %ax, V_IMG
	pushfw
	popw %ax
	movw %ax, V_IN
	movw $0x5a5a, V_MARK
	popw %bp
	iret
v86_end:
	.code32

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 flat data, DPL 0 */
	.quad 0x00cffa000000ffff        /* 0x18 flat 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff        /* 0x20 flat data, DPL 3 */
	.quad 0x0000890000000109        /* 0x28 TSS, limit 0x109 */
	.quad 0x0000890000000067        /* 0x30 run_task's TSS */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x31 * 8 - 1
	.long idt
m_enter: .asciz "enter"
m_int:	.asciz "int"
m_vme:	.asciz "vme"
m_pvi:	.asciz "pvi"
m_task:	.asciz "task"
mon_cs:	.long 0
pvi_fl:	.long 0
s_head:	.asciz "v86: "
s_tfiret: .asciz "tf-iret"
s_allok: .asciz "v86: all ok\n"
s_failed: .asciz "v86: some checks failed\n"
	.bss
	.align 8
idt:	.space 0x31 * 8
	.align 128
tss:	.space 0x110
tss2:	.space 0x68
mon_ret: .space 4
iret_tf: .space 4
mon_flags: .space 4
h22_eip: .space 4
v_es:	.space 4
v_ds:	.space 4
v_fs:	.space 4
v_gs:	.space 4
