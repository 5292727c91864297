/*
 * tasks: hardware task switches in 32-bit protected mode (Intel SDM
 * vol. 3A, chapter 7, and the JMP, CALL and IRET pseudo-code in vol. 2).
 * One line per check, "tasks: GROUP NAME ok" or "... BAD" with the values
 * seen; exit 0 only if all pass.  The expected values, by section:
 *   7.3  a JMP to a TSS clears the old task's busy bit, sets the new
 *       one's, leaves NT clear and writes no back-link; a CALL (to a TSS
 *       or through a task gate) keeps the old task busy, writes its
 *       selector in the new TSS's back-link and sets NT; every switch
 *       sets CR0.TS, saves EIP (the next instruction), EFLAGS and the
 *       general registers in the old TSS and loads them from the new.
 *   7.3, IRET  IRET with NT returns to the back-linked task, clears the
 *       busy bit of the task it leaves and NT in the EFLAGS image saved
 *       there.
 *   7.2.2, 7.3 (table 7-1)  a busy TSS as the target of a JMP or CALL is
 *       #GP(selector); a TSS with a limit below 0x67 #TS(selector); a
 *       not-present TSS or task gate #NP(selector).
 *   7.6 (figure 7-10)  the same with a 16-bit TSS: IP, FLAGS, AX-DI,
 *       ES, CS, SS, DS and the LDT selector in its 16-bit fields, no CR3.
 *   6.12.2, 6.13  an exception through a task gate to a 16-bit TSS
 *       pushes its error code as a word on the new task's stack.
 *   17.2.4, 17.3.1.5  a switch clears DR7's L0-L3, not G0-G3; a new
 *       TSS with the T flag gives a #DB trap with DR6.BT in the new task
 *       before its first instruction.
 *   6.12.1, 6.13 (interrupt 10)  an INT n from CPL 3 whose TSS gives a
 *       code segment as the CPL 0 stack is #TS(that selector), EXT 0.
 *   6.12.2, 6.15 (interrupt 8)  an exception through a task gate runs
 *       the handler task with its error code pushed on that task's
 *       stack: here a #GP whose gate is not present becomes #NP while
 *       delivering it, which is a double fault (table 6-5), error code
 *       0, delivered through IDT vector 8's task gate; the faulting task
 *       saved the EIP of the faulting instruction, so an IRET from the
 *       double-fault task (after the #GP gate is repaired) retries it.
 */
#include "guest.inc"
#include "systest.inc"

	.set TSS_A, 0x28                /* the main task */
	.set TSS_B, 0x30
	.set TSS_C, 0x38
	.set TSS_DF, 0x40
	.set TSS_NP, 0x48               /* not present */
	.set TSS_SHORT, 0x50            /* limit 0x50 */
	.set TGATE_C, 0x58              /* task gate to TSS_C */
	.set TGATE_NP, 0x60             /* task gate, not present */
	.set TSS_TS, 0x68               /* the #TS handler task */
	.set TSS16, 0x70                /* a 16-bit TSS */
	.set CODE_T16, 0x78             /* 32-bit code, base task16 */

	.set KSTACK, 0x2f0000
	.set USTACK, 0x2e0000
	.set ISTACK, 0x2d0000
	.set STACK_B, 0x2c0000
	.set STACK_C, 0x2b0000
	.set STACK_DF, 0x2a0000
	.set STACK_TS, 0x290000
	.set NT, 0x4000
	.set CR0_TS, 8

/* TSSDESC sel, tss: the base of TSS descriptor sel := tss. */
	.macro TSSDESC sel, tss
	movl $\tss, %eax
	movw %ax, gdt + \sel + 2
	shrl $16, %eax
	movb %al, gdt + \sel + 4
	movb %ah, gdt + \sel + 7
	.endm
/* BUSY sel: got := the busy bit (2) of TSS descriptor sel. */
	.macro BUSY sel
	movzbl gdt + \sel + 5, %eax
	andl $2, %eax
	movl %eax, got
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
	movw %ax, %fs
	movw %ax, %gs
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	TSSDESC TSS_A, tss_a
	TSSDESC TSS_B, tss_b
	TSSDESC TSS_C, tss_c
	TSSDESC TSS_DF, tss_df
	TSSDESC TSS_NP, tss_b
	TSSDESC TSS_SHORT, tss_b
	TSSDESC TSS_TS, tss_ts
	TSSDESC TSS16, tss16
	TSSDESC CODE_T16, task16
	movl $ISTACK, tss_a + 4
	movl $DATA0, tss_a + 8
	movw $TSS_A, %ax
	ltr %ax
	/* IDT: 0-31 the recording stubs, 8 a task gate to TSS_DF. */
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
	movl $to_cpl0, %eax
	movl $idt + 0x30 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	movl $0, idt + 8 * 8
	movw $TSS_DF, idt + 8 * 8 + 2
	movl $0x8500, idt + 8 * 8 + 4
	movl $0, idt + 10 * 8
	movw $TSS_TS, idt + 10 * 8 + 2
	movl $0x8500, idt + 10 * 8 + 4
	movl $tss_ts, %edi
	movl $task_ts, %eax
	movl $STACK_TS, %edx
	call init_tss
	lidt idt_desc

	call run_jmp
	call run_call
	call run_errors
	call run_df
	call run_tss16
	call run_debug
	jmp finish

/* ---- debug registers across a switch ------------------------------------ */

/* 17.2.4, 17.3.1.5: a task switch clears DR7's L0-L3 (the old task's
 * breakpoints) and keeps G0-G3; a new TSS with its T flag set gives a
 * #DB trap with DR6.BT once the switch is done, the new task's first
 * instruction pushed.  (No DRn address is ever reached here.) */
run_debug:
	movl $m_debug, modename
	movl $db_task, %eax
	movl $idt + 1 * 8, %edi
	movw $0x8e00, %bx
	call set_gate
	movl $tss_b, %edi
	movl $task_t, %eax
	movl $STACK_B, %edx
	call init_tss
	movb $1, tss_b + 0x64           /* T */
	movl $0, db_count
	xorl %eax, %eax
	movl %eax, %dr6
	movl $0x57, %eax                /* L0-L3, G0 */
	movl %eax, %dr7
	TRY0 jmp-to-t-tss, NONE, 0, 0, ljmp $TSS_B, $0
	xorl %eax, %eax
	movl %eax, %dr7
	movl t_dr7, %eax
	andl $0xff, %eax
	movl %eax, got
	CHECKV switch-clears-l0-l3, $0x02
	movl db_count, %eax
	movl %eax, got
	CHECKV t-flag-one-db, $1
	movl db_eip, %eax
	movl %eax, got
	CHECKV t-flag-db-eip, $task_t
	movl db_tr, %eax
	movl %eax, got
	CHECKV t-flag-db-in-new-task, $TSS_B
	movl db_dr6, %eax
	andl $0xe00f, %eax              /* BT, BS, BD, B0-B3 */
	movl %eax, got
	CHECKV t-flag-dr6-bt, $0x8000
	movl $(stubs + 16), %eax        /* vector 1 back to its stub */
	movl $idt + 1 * 8, %edi
	movw $0x8e00, %bx
	call set_gate
	ret

/* #DB in run_debug: record the pushed EIP, DR6 and TR; clear DR6. */
db_task:
	pushl %eax
	movl 4(%esp), %eax
	movl %eax, db_eip
	movl %dr6, %eax
	movl %eax, db_dr6
	xorl %eax, %eax
	movl %eax, %dr6
	str %ax
	movzwl %ax, %eax
	movl %eax, db_tr
	incl db_count
	popl %eax
	iret

task_t:
	movl %dr7, %eax
	movl %eax, t_dr7
	ljmp $TSS_A, $0

/* ---- a 16-bit TSS ----------------------------------------------------------- */

/* 7.6 (figure 7-10), 7.3: a JMP from the 32-bit task to a 16-bit TSS
 * loads IP, FLAGS, AX-DI and ES, CS, SS, DS from it and swaps the busy
 * bits; the JMP back saves IP, FLAGS and the 16-bit registers there.  A
 * CALL to it writes the back-link and sets NT; its IRET returns to the
 * 32-bit task, saving FLAGS without NT.  The task's code runs at offset
 * IP of CODE_T16, whose base is task16. */
run_tss16:
	movl $m_tss16, modename
	movl $(t16_jmp - task16), %eax
	call init_tss16
	movl $0x2468, %ebx
	TRY0 jmp-to-16-bit-tss, NONE, 0, 0, ljmp $TSS16, $0
	movl %ebx, got
	CHECKV jmp-back-ebx-restored, $0x2468
	movzwl t16_ax, %eax
	movl %eax, got
	CHECKV new-task-ax-from-tss, $0xaaaa
	movzwl t16_sp, %eax
	movl %eax, got
	CHECKV new-task-sp-from-tss, $0xff00
	movl t16_tr, %eax
	movl %eax, got
	CHECKV new-task-tr, $TSS16
	movl t16_busy_a, %eax
	movl %eax, got
	CHECKV jmp-old-not-busy, $0
	movl t16_busy, %eax
	movl %eax, got
	CHECKV jmp-new-busy, $2
	BUSY TSS16
	CHECKV jmp-back-16-not-busy, $0
	movzwl tss16 + 0x0e, %eax
	movl %eax, got
	CHECKV old-task-ip-saved, $(t16_jmp_after - task16)
	movzwl tss16 + 0x14, %eax       /* CX */
	movl %eax, got
	CHECKV old-task-cx-saved, $0xb1b1
	movl $(t16_call - task16), %eax
	call init_tss16
	movl $0x1357, %ebx
	TRY0 call-16-bit-tss, NONE, 0, 0, lcall $TSS16, $0
	movl %ebx, got
	CHECKV iret-back-ebx-restored, $0x1357
	movl t16_link, %eax
	movl %eax, got
	CHECKV call-back-link, $TSS_A
	movl t16_flags, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV call-sets-nt, $NT
	BUSY TSS16
	CHECKV iret-leaves-16-not-busy, $0
	movzwl tss16 + 0x10, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV iret-saved-flags-no-nt, $0
	/* 6.12.2, 6.13: a #GP through a task gate to the 16-bit TSS pushes
	 * its error code as a word (the gate's size is the new TSS's) on
	 * the new task's stack: SP 0xff00 - 2, the word below untouched. */
	movl $(t16_gp - task16), %eax
	call init_tss16
	movw $0x5a5a, 0xfefc
	movw $0x5a5a, 0xfefe
	movl $0, idt + 13 * 8
	movw $TSS16, idt + 13 * 8 + 2
	movl $0x8500, idt + 13 * 8 + 4
	movw $0x100, %ax
	TRY0 gp-through-task-gate, GP, 0x100, 0, movw %ax, %ds
	movl $(stubs + 13 * 16), %eax
	leal idt + 13 * 8, %edi
	movw $0x8e00, %bx
	call set_gate
	movl t16_sp, %eax
	movl %eax, got
	CHECKV gp-error-code-pushed-as-word, $0xfefe
	movzwl 0xfefc, %eax
	movl %eax, got
	CHECKV gp-error-code-word-only, $0x5a5a
	movl t16_link, %eax
	movl %eax, got
	CHECKV gp-task-gate-back-link, $TSS_A
	ret

/* A fresh 16-bit TSS for a CPL 0 task starting at IP ax. */
init_tss16:
	pushl %edi
	pushl %ecx
	pushl %eax
	movl $tss16, %edi
	xorl %eax, %eax
	movl $0x2c / 4, %ecx
	cld
	rep stosl
	popl %eax
	movw %ax, tss16 + 0x0e          /* IP */
	movw $2, tss16 + 0x10           /* FLAGS */
	movw $0xaaaa, tss16 + 0x12      /* AX */
	movw $0xff00, tss16 + 0x1a      /* SP */
	movw $DATA0, tss16 + 0x22       /* ES */
	movw $CODE_T16, tss16 + 0x24    /* CS */
	movw $DATA0, tss16 + 0x26       /* SS */
	movw $DATA0, tss16 + 0x28       /* DS */
	popl %ecx
	popl %edi
	ret

/* The 16-bit TSS's task (32-bit code at offsets from task16). */
task16:
t16_jmp:
	movl %eax, t16_ax
	movl %esp, t16_sp
	str %ax
	movzwl %ax, %eax
	movl %eax, t16_tr
	BUSY TSS_A
	movl %eax, t16_busy_a
	BUSY TSS16
	movl %eax, t16_busy
	movl $0xb1b1, %ecx
	ljmp $TSS_A, $0
t16_jmp_after:
	hlt
t16_gp:
	movl %esp, t16_sp
	movzwl (%esp), %eax             /* the error code */
	movl %eax, ex_err
	movl $13, ex_vec
	movzwl tss16, %eax
	movl %eax, t16_link
	movl resume, %eax               /* the faulting task goes on there */
	movl %eax, tss_a + 0x20
	iret
t16_call:
	movzwl tss16, %eax
	movl %eax, t16_link
	pushfl
	popl t16_flags
	movl $0x9999, %ebx
	iret

/* ---- JMP to a TSS and back ---------------------------------------------- */

run_jmp:
	movl $m_jmp, modename
	movl $tss_b, %edi
	movl $task_b, %eax
	movl $STACK_B, %edx
	call init_tss
	movl $0xffff, tss_b             /* the back-link, not to be written */
	movl $0xaaaa, tss_b + 0x28      /* EAX */
	clts
	movl $0x1234, %ebx
	movl $0x5678, %edi
	TRY0 jmp-to-tss, NONE, 0, 0, ljmp $TSS_B, $0
	movl %edi, got
	CHECKV jmp-back-edi-restored, $0x5678
	movl %ebx, got
	CHECKV jmp-back-ebx-restored, $0x1234
	movl b_eax, %eax
	movl %eax, got
	CHECKV new-task-eax-from-tss, $0xaaaa
	movl b_tr, %eax
	movl %eax, got
	CHECKV new-task-tr, $TSS_B
	movl b_flags, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV jmp-no-nt, $0
	movl b_cr0, %eax
	andl $CR0_TS, %eax
	movl %eax, got
	CHECKV switch-sets-cr0-ts, $CR0_TS
	movl b_busy_a, %eax
	movl %eax, got
	CHECKV jmp-old-not-busy, $0
	movl b_busy_b, %eax
	movl %eax, got
	CHECKV jmp-new-busy, $2
	movzwl tss_b, %eax
	movl %eax, got
	CHECKV jmp-no-back-link, $0xffff
	BUSY TSS_B
	CHECKV jmp-back-b-not-busy, $0
	BUSY TSS_A
	CHECKV jmp-back-a-busy, $2
	movl tss_b + 0x20, %eax
	movl %eax, got
	CHECKV old-task-eip-saved, $task_b_after
	movl tss_b + 0x2c, %eax         /* ECX as task B left it */
	movl %eax, got
	CHECKV old-task-ecx-saved, $0xb0b0
	ret

task_b:
	movl %eax, b_eax
	str %ax
	movzwl %ax, %eax
	movl %eax, b_tr
	pushfl
	popl b_flags
	movl %cr0, %eax
	movl %eax, b_cr0
	BUSY TSS_A
	movl %eax, b_busy_a
	BUSY TSS_B
	movl %eax, b_busy_b
	movl $0xb0b0, %ecx
	ljmp $TSS_A, $0
task_b_after:
	hlt

/* ---- CALL through a task gate, IRET back ---------------------------------- */

run_call:
	movl $m_call, modename
	movl $tss_c, %edi
	movl $task_c, %eax
	movl $STACK_C, %edx
	call init_tss
	movl $0x4321, %ebx
	TRY0 call-task-gate, NONE, 0, 0, lcall $TGATE_C, $0
	movl %ebx, got
	CHECKV iret-back-ebx-restored, $0x4321
	movl c_link, %eax
	movl %eax, got
	CHECKV call-back-link, $TSS_A
	movl c_flags, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV call-sets-nt, $NT
	movl c_busy_a, %eax
	movl %eax, got
	CHECKV call-old-stays-busy, $2
	movl c_busy_c, %eax
	movl %eax, got
	CHECKV call-new-busy, $2
	BUSY TSS_C
	CHECKV iret-leaves-c-not-busy, $0
	BUSY TSS_A
	CHECKV iret-back-a-busy, $2
	movl tss_c + 0x24, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV iret-saved-flags-no-nt, $0
	pushfl
	popl %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV iret-back-no-nt, $0
	/* A CALL straight to the TSS works the same way. */
	movl $tss_c, %edi
	movl $task_c, %eax
	movl $STACK_C, %edx
	call init_tss
	TRY0 call-tss, NONE, 0, 0, lcall $TSS_C, $0
	movl c_link, %eax
	movl %eax, got
	CHECKV call-tss-back-link, $TSS_A
	ret

task_c:
	movzwl tss_c, %eax
	movl %eax, c_link
	pushfl
	popl c_flags
	BUSY TSS_A
	movl %eax, c_busy_a
	BUSY TSS_C
	movl %eax, c_busy_c
	movl $0x9999, %ebx
	iret

/* ---- bad targets ----------------------------------------------------------- */

run_errors:
	movl $m_err, modename
	TRY0 jmp-busy-tss, GP, TSS_A, 0, ljmp $TSS_A, $0
	TRY0 call-busy-tss, GP, TSS_A, 0, lcall $TSS_A, $0
	TRY0 tss-not-present, NP, TSS_NP, 0, ljmp $TSS_NP, $0
	TRY0 tss-limit-short, TS, TSS_SHORT, 0, ljmp $TSS_SHORT, $0
	TRY0 task-gate-not-present, NP, TGATE_NP, 0, lcall $TGATE_NP, $0
	TRYU tss-dpl-below-cpl, GP, TSS_B, 0, ljmp $TSS_B | 3, $0
	/* A bad SS0 in the TSS: INT 0x30 from CPL 3 is #TS(SS0), EXT 0
	 * for a software interrupt (SDM 6.12.1, 6.13, interrupt 10),
	 * delivered here through a task gate; the #TS task repairs SS0
	 * and its IRET retries the INT. */
	movl $CODE0, tss_a + 8
	TRYU int-bad-ss0-ts, TS, CODE0, 0, nop
	movl ts_esp, %eax
	movl %eax, got
	CHECKV ts-error-code-on-task-stack, $STACK_TS - 4
	ret

/* The #TS task: record, repair SS0, resume the faulting task at
 * `resume'; entered again after its IRET, it starts over. */
task_ts:
	movl %esp, ts_esp
	popl ex_err
	movl $10, ex_vec
	movl $DATA0, tss_a + 8
	movl resume, %eax
	movl %eax, tss_a + 0x20
	iret
	jmp task_ts

/* ---- a double fault through a task gate --------------------------------- */

run_df:
	movl $m_df, modename
	movl $tss_df, %edi
	movl $task_df, %eax
	movl $STACK_DF, %edx
	call init_tss
	/* #GP's gate not present: a #GP becomes #NP, then #DF. */
	andb $0x7f, idt + 13 * 8 + 5
	movw $0x100, %ax
	TRY0 df-then-retry, GP, 0x100, 0, movw %ax, %ds
	movl df_err, %eax
	movl %eax, got
	CHECKV df-error-code-0, $0
	movl df_esp, %eax
	movl %eax, got
	CHECKV df-error-code-on-new-stack, $STACK_DF - 4
	movl df_link, %eax
	movl %eax, got
	CHECKV df-back-link, $TSS_A
	movl df_flags, %eax
	andl $NT, %eax
	movl %eax, got
	CHECKV df-nt, $NT
	movl df_eip, %eax
	movl %eax, got
	movl df_fault_eip, %eax
	movl %eax, want
	CHECKV df-saved-eip-faulting-insn, want
	ret

task_df:
	movl %esp, df_esp
	popl df_err
	movzwl tss_df, %eax
	movl %eax, df_link
	pushfl
	popl df_flags
	movl tss_a + 0x20, %eax
	movl %eax, df_eip
	/* The faulting instruction: TRY0's, just before its label. */
	movl resume, %eax
	subl $2, %eax                   /* movw %ax, %ds is 2 bytes: 8e d8 */
	movl %eax, df_fault_eip
	orb $0x80, idt + 13 * 8 + 5
	iret

/* ---- helpers ------------------------------------------------------------ */

/* A fresh TSS at edi for a CPL 0 task starting at eax on stack edx. */
init_tss:
	pushl %ecx
	pushl %edi
	pushl %eax
	xorl %eax, %eax
	movl $0x68 / 4, %ecx
	cld
	rep stosl
	popl %eax
	popl %edi
	movl %eax, 0x20(%edi)
	movl $2, 0x24(%edi)
	movl %edx, 0x38(%edi)
	movl $DATA0, 0x48(%edi)
	movl $CODE0, 0x4c(%edi)
	movl $DATA0, 0x50(%edi)
	movl $DATA0, 0x54(%edi)
	movl $DATA0, 0x58(%edi)
	movl $DATA0, 0x5c(%edi)
	movw $0x68, 0x66(%edi)
	popl %ecx
	ret

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

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 flat data, DPL 0 */
	.quad 0x00cffa000000ffff        /* 0x18 flat 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff        /* 0x20 flat data, DPL 3 */
	.quad 0x0000890000000067        /* 0x28 TSS_A */
	.quad 0x0000890000000067        /* 0x30 TSS_B */
	.quad 0x0000890000000067        /* 0x38 TSS_C */
	.quad 0x0000890000000067        /* 0x40 TSS_DF */
	.quad 0x0000090000000067        /* 0x48 TSS_NP */
	.quad 0x0000890000000050        /* 0x50 TSS_SHORT */
	.quad 0x0000850000380000        /* 0x58 task gate to TSS_C */
	.quad 0x0000050000380000        /* 0x60 task gate, not present */
	.quad 0x0000890000000067        /* 0x68 TSS_TS */
	.quad 0x000081000000002b        /* 0x70 TSS16, limit 0x2b */
	.quad 0x00cf9a000000ffff        /* 0x78 CODE_T16, base patched */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x31 * 8 - 1
	.long idt
m_jmp:	.asciz "jmp"
m_tss16: .asciz "tss16"
m_debug: .asciz "debug"
m_call:	.asciz "call"
m_err:	.asciz "errors"
m_df:	.asciz "double-fault"
s_head:	.asciz "tasks: "
s_allok: .asciz "tasks: all ok\n"
s_failed: .asciz "tasks: some checks failed\n"
	.bss
	.align 8
idt:	.space 0x31 * 8
	.align 128
tss_a:	.space 0x68
	.align 128
tss_b:	.space 0x68
	.align 128
tss_c:	.space 0x68
	.align 128
tss_df:	.space 0x68
	.align 128
tss_ts:	.space 0x68
tss16:	.space 0x2c
t16_ax:	.space 4
t16_sp:	.space 4
t16_tr:	.space 4
t16_busy: .space 4
t16_busy_a: .space 4
t16_link: .space 4
t16_flags: .space 4
t_dr7:	.space 4
db_count: .space 4
db_eip:	.space 4
db_dr6:	.space 4
db_tr:	.space 4
ts_esp:	.space 4
b_eax:	.space 4
b_tr:	.space 4
b_flags: .space 4
b_cr0:	.space 4
b_busy_a: .space 4
b_busy_b: .space 4
c_link:	.space 4
c_flags: .space 4
c_busy_a: .space 4
c_busy_c: .space 4
df_err:	.space 4
df_esp:	.space 4
df_link: .space 4
df_flags: .space 4
df_eip:	.space 4
df_fault_eip: .space 4
