/*
 * gates: protection checks on segment loads and far transfers, call
 * gates, interrupt and trap gates, and returns to outer levels, in 32-bit
 * protected mode without paging (Intel SDM vol. 3A, chapters 5 and 6, and
 * the pseudo-code of MOV, CALL, JMP, RET, INT n and IRET in vol. 2).
 * One line per check, "gates: GROUP NAME ok" or "... BAD" with the values
 * seen; exit 0 only if all pass.  The expected values, by section:
 *   5.8.5 (figure 5-13)  a CALL through a 32-bit call gate to a more
 *       privileged level takes SS:ESP from the TSS and pushes the old
 *       SS, ESP, the gate's parameter count of dwords copied from the old
 *       stack, then the old CS and EIP; at the same level only CS and
 *       EIP.  5.8.6: RET n releases n bytes on both stacks.
 *   5.8.4  the gate's DPL must be >= CPL and >= RPL (#GP(gate)); a
 *       not-present gate is #NP(gate); its target must be a code segment
 *       (#GP(target)); a JMP through a gate may not raise privilege.
 *   5.8.2, 5.8.1  a conforming segment runs at the caller's CPL; a far
 *       CALL straight to a more privileged non-conforming segment is
 *       #GP(selector).
 *   6.12.1.3  an interrupt gate clears IF, a trap gate leaves it.
 *   6.12.1.1, 6.13  INT n through a gate of DPL < CPL, or past the IDT
 *       limit, is #GP(vector * 8 + 2); a not-present gate #NP(vector *
 *       8 + 2).
 *   5.5, 5.6 and MOV's pseudo-code: a selector past the table's limit,
 *       a system descriptor or an execute-only code segment in DS,
 *       a DPL below the CPL, an LDT selector with no LDT: #GP(selector);
 *       SS needs RPL = DPL = CPL and a writable data segment
 *       (#GP(selector)), a null SS at CPL 0 outside 64-bit mode is
 *       #GP(0); not present: #NP(selector), for SS #SS(selector).
 *   5.3, 3.4.5.1  offsets past the limit are #GP(0) (#SS(0) for the
 *       stack); in an expand-down segment valid offsets lie above the
 *       limit, up to 0xffffffff (B = 1) or 0xffff (B = 0); a write to a
 *       read-only segment is #GP(0).
 *   5.8.6, 6.14 (IRET and RET pseudo-code)  a return to an outer level
 *       loads null into DS, ES, FS and GS where they hold data segments
 *       of DPL < the new CPL; a memory access through a null selector
 *       is #GP(0).
 */
#include "guest.inc"
#include "systest.inc"

	.set TSS_SEL, 0x28
	.set GATE3, 0x30                /* call gate, DPL 3, 2 params */
	.set GATE0, 0x38                /* call gate, DPL 0 */
	.set GATE_NP, 0x40              /* call gate, not present */
	.set GATE_DATA, 0x48            /* call gate to a data segment */
	.set CONF0, 0x50                /* conforming code, DPL 0 */
	.set DATA_NP, 0x58              /* data, not present */
	.set EDOWN32, 0x60              /* expand-down, limit 0xfff, B=1 */
	.set EDOWN16, 0x68              /* expand-down, limit 0xfff, B=0 */
	.set SMALL, 0x70                /* data, limit 0xfff */
	.set RODATA, 0x78               /* read-only data */
	.set XONLY, 0x80                /* execute-only code, DPL 0 */
	.set SMALL3, 0x88               /* data, limit 0xfff, DPL 3 */

	.set KSTACK, 0x2f0000
	.set USTACK, 0x2e0000
	.set ISTACK, 0x2d0000           /* the TSS's CPL 0 stack */
	.set IF, 0x200

	.macro GATE sel, target, type, nparm
	movl $\target, %eax
	movw %ax, gdt + \sel
	movw $CODE0, gdt + \sel + 2
	movw $(\type * 256 + \nparm), gdt + \sel + 4
	shrl $16, %eax
	movw %ax, gdt + \sel + 6
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
	/* No interrupts from the PICs. */
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	/* TSS: the CPL 0 stack. */
	movl $tss, %eax
	movw %ax, gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS_SEL + 4
	movb %ah, gdt + TSS_SEL + 7
	movl $ISTACK, tss + 4
	movl $DATA0, tss + 8
	movw $TSS_SEL, %ax
	ltr %ax
	/* Call gates (type 0xc, 32-bit; P and DPL in the type byte). */
	GATE GATE3, gate_target, 0xec, 2
	GATE GATE0, gate_target, 0x8c, 2
	GATE GATE_NP, gate_target, 0x6c, 0
	GATE GATE_DATA, gate_target, 0xec, 0
	movw $DATA0, gdt + GATE_DATA + 2
	/* IDT: 0-31 the recording stubs, 0x30 (DPL 3) back to CPL 0,
	 * 0x31 an interrupt gate and 0x32 a trap gate (DPL 0), 0x33 not
	 * present; the limit ends at 0x33. */
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
	movl $flags_handler, %eax
	movl $idt + 0x31 * 8, %edi
	movw $0x8e00, %bx
	call set_gate
	movl $idt + 0x32 * 8, %edi
	movw $0x8f00, %bx
	call set_gate
	movl $idt + 0x33 * 8, %edi
	movw $0x0e00, %bx
	call set_gate
	lidt idt_desc

	call run_calls
	call run_ints
	call run_loads
	call run_limits
	call run_returns
	jmp finish

/* ---- call gates and far transfers --------------------------------------- */

run_calls:
	movl $m_call, modename
	/* CPL 3 -> 0 through a call gate with two parameters. */
	TRYU gate-inner, NONE, 0, 0, call user_gate_call
	movl g_cs, %eax
	movl %eax, got
	CHECKV gate-inner-cs, $CODE0
	movl g_ss, %eax
	movl %eax, got
	CHECKV gate-inner-ss-from-tss, $DATA0
	movl g_esp, %eax
	movl %eax, got
	CHECKV gate-inner-esp, $ISTACK - 24
	movl g_frame, %eax
	movl %eax, got
	CHECKV gate-inner-frame-eip, $user_gate_ret
	movl g_frame + 4, %eax
	movl %eax, got
	CHECKV gate-inner-frame-cs, $CODE3
	movl g_frame + 8, %eax
	movl %eax, got
	CHECKV gate-inner-frame-param0, $0x2222
	movl g_frame + 12, %eax
	movl %eax, got
	CHECKV gate-inner-frame-param1, $0x1111
	movl g_frame + 16, %eax
	movl %eax, got
	CHECKV gate-inner-frame-esp, u_esp_before
	movl g_frame + 20, %eax
	movl %eax, got
	CHECKV gate-inner-frame-ss, $DATA3
	movl u_esp_after, %eax
	movl %eax, got
	movl u_esp_before, %eax
	addl $8, %eax
	movl %eax, want
	CHECKV gate-inner-ret-releases-params, want
	movl u_cs_after, %eax
	movl %eax, got
	CHECKV gate-inner-ret-cs, $CODE3
	/* CPL 0 -> 0: no stack switch, only CS:EIP pushed. */
	pushl $0x1111
	pushl $0x2222
	movl %esp, u_esp_before
	TRY0 gate-same, NONE, 0, 0, lcall $GATE0, $0
	movl %esp, u_esp_after
	movl g_esp, %eax
	movl %eax, got
	movl u_esp_before, %eax
	subl $8, %eax
	movl %eax, want
	CHECKV gate-same-esp, want
	movl g_frame + 8, %eax
	movl %eax, got
	CHECKV gate-same-frame-param0, $0x2222
	movl u_esp_after, %eax
	movl %eax, got
	movl u_esp_before, %eax
	addl $8, %eax
	movl %eax, want
	CHECKV gate-same-ret-releases-params, want
	movl u_esp_before, %esp
	addl $8, %esp
	/* Bad gates. */
	TRYU gate-dpl-below-cpl, GP, GATE0, 0, lcall $GATE0 | 3, $0
	TRY0 gate-rpl-above-dpl, GP, GATE0, 0, lcall $GATE0 | 3, $0
	TRYU gate-not-present, NP, GATE_NP, 0, lcall $GATE_NP | 3, $0
	TRYU gate-to-data, GP, DATA0, 0, lcall $GATE_DATA | 3, $0
	TRYU gate-jmp-inner, GP, CODE0, 0, ljmp $GATE3, $0
	/* Straight to more privileged code: non-conforming is #GP. */
	TRYU call-inner-code, GP, CODE0, 0, lcall $CODE0 | 3, $0
	TRYU jmp-inner-code, GP, CODE0, 0, ljmp $CODE0 | 3, $0
	TRY0 jmp-data, GP, DATA0, 0, ljmp $DATA0, $0
	TRY0 jmp-null, GP, 0, 0, ljmp $0, $0
	/* Conforming code: runs at CPL 3 (MOV from CR0 is #GP(0)). */
	movl $0, g_cs
	TRYU conforming-keeps-cpl, GP, 0, 0, lcall $CONF0 | 3, $conf_target
	movl g_cs, %eax
	movl %eax, got
	CHECKV conforming-cs-rpl, $CONF0 | 3
	ret

/* At CPL 3: two parameters, a call through GATE3. */
user_gate_call:
	pushl $0x1111
	pushl $0x2222
	movl %esp, u_esp_before
	lcall $GATE3, $0
user_gate_ret:
	movl %esp, u_esp_after
	movl %cs, %eax
	movl %eax, u_cs_after
	ret                             /* RET 8 released the parameters */

/* The gates' target (CPL 0): record CS, SS, ESP and the frame. */
gate_target:
	movl %esp, g_esp
	pushl %eax
	movl %cs, %eax
	movl %eax, g_cs
	movl %ss, %eax
	movl %eax, g_ss
	popl %eax
	pushl %esi
	pushl %edi
	pushl %ecx
	leal 12(%esp), %esi
	movl $g_frame, %edi
	movl $6, %ecx
	cld
	rep movsl
	popl %ecx
	popl %edi
	popl %esi
	lret $8

conf_target:
	movl %cs, %eax
	movl %eax, g_cs
	movl %cr0, %eax
	lret

/* ---- INT n -------------------------------------------------------------- */

run_ints:
	movl $m_int, modename
	sti
	TRY0 int-gate, NONE, 0, 0, int $0x31
	cli
	movl g_flags, %eax
	andl $IF, %eax
	movl %eax, got
	CHECKV int-gate-clears-if, $0
	movl g_frame, %eax
	andl $IF, %eax
	movl %eax, got
	CHECKV int-gate-pushed-if, $IF
	sti
	TRY0 trap-gate, NONE, 0, 0, int $0x32
	cli
	movl g_flags, %eax
	andl $IF, %eax
	movl %eax, got
	CHECKV trap-gate-keeps-if, $IF
	TRYU int-dpl-below-cpl, GP, (0x31*8+2), 0, int $0x31
	TRY0 int-past-limit, GP, (0x40*8+2), 0, int $0x40
	TRY0 int-not-present, NP, (0x33*8+2), 0, int $0x33
	ret

/* Vectors 0x31 and 0x32: EFLAGS in the handler and in the frame. */
flags_handler:
	pushfl
	popl g_flags
	pushl 8(%esp)
	popl g_frame
	iret

/* ---- segment loads ------------------------------------------------------ */

run_loads:
	movl $m_load, modename
	movw $0x100, %ax
	TRY0 ds-past-gdt-limit, GP, 0x100, 0, movw %ax, %ds
	movw $TSS_SEL, %ax
	TRY0 ds-system-descriptor, GP, TSS_SEL, 0, movw %ax, %ds
	movw $XONLY, %ax
	TRY0 ds-execute-only, GP, XONLY, 0, movw %ax, %ds
	movw $DATA_NP, %ax
	TRY0 ds-not-present, NP, DATA_NP, 0, movw %ax, %ds
	movw $0x0c, %ax
	TRY0 ds-ldt-no-ldt, GP, 0x0c, 0, movw %ax, %ds
	movw $CONF0, %ax
	TRY0 ds-conforming-readable, NONE, 0, 0, movw %ax, %ds
	movw $DATA0, %ax
	movw %ax, %ds
	TRYU ds-dpl-below-cpl, GP, DATA0, 0, movw %ax, %ds
	movw $DATA3, %ax
	TRY0 ss-rpl-not-cpl, GP, (DATA3&~3), 0, movw %ax, %ss
	movw $DATA3 & ~3, %ax
	TRY0 ss-dpl-not-cpl, GP, (DATA3&~3), 0, movw %ax, %ss
	movw $RODATA, %ax
	TRY0 ss-read-only, GP, RODATA, 0, movw %ax, %ss
	movw $CODE0, %ax
	TRY0 ss-code, GP, CODE0, 0, movw %ax, %ss
	xorl %eax, %eax
	TRY0 ss-null, GP, 0, 0, movw %ax, %ss
	movw $DATA_NP, %ax
	TRY0 ss-not-present, SS_, DATA_NP, 0, movw %ax, %ss
	ret

/* ---- limits ------------------------------------------------------------- */

run_limits:
	movl $m_limit, modename
	movw $SMALL, %ax
	movw %ax, %es
	TRY0 limit-last-dword, NONE, 0, 0, movl %es:0xffc, %eax
	TRY0 limit-past, GP, 0, 0, movl %es:0xffd, %eax
	TRY0 limit-byte-past, GP, 0, 0, movb %es:0x1000, %al
	movw $EDOWN32, %ax
	movw %ax, %es
	TRY0 expand-down-below, GP, 0, 0, movl %es:0x800, %eax
	TRY0 expand-down-at-limit, GP, 0, 0, movb %es:0xfff, %al
	TRY0 expand-down-above, NONE, 0, 0, movl %es:0x1000, %eax
	TRY0 expand-down-top, NONE, 0, 0, movl %es:0xfffffffc, %eax
	movw $EDOWN16, %ax
	movw %ax, %es
	TRY0 expand-down16-top, NONE, 0, 0, movl %es:0xfffc, %eax
	TRY0 expand-down16-past-64k, GP, 0, 0, movl %es:0xfffe, %eax
	movw $RODATA, %ax
	movw %ax, %es
	TRY0 read-only-read, NONE, 0, 0, movl %es:0x1000, %eax
	TRY0 read-only-write, GP, 0, 0, movl %eax, %es:0x1000
	movw $DATA0, %ax
	movw %ax, %es
	TRYU stack-limit, SS_, 0, 0, call user_stack_limit
	ret

/* At CPL 3: a stack segment of limit 0xfff, a push past it. */
user_stack_limit:
	movw $SMALL3 | 3, %ax
	movw %ax, %ss
	movl $0x1002, %esp
	pushl %eax

/* ---- returns to outer levels -------------------------------------------- */

run_returns:
	movl $m_ret, modename
	TRYX iret-outer-nulls-data, GP, 0, 0, call iret_outer
	movzwl u_ds, %eax
	movl %eax, got
	CHECKV iret-outer-ds-null, $0
	movzwl u_es, %eax
	movl %eax, got
	CHECKV iret-outer-es-null, $0
	movzwl u_fs, %eax
	movl %eax, got
	CHECKV iret-outer-fs-kept, $DATA3
	TRYX retf-outer-nulls-data, GP, 0, 0, call retf_outer
	movzwl u_ds, %eax
	movl %eax, got
	CHECKV retf-outer-ds-null, $0
	movzwl u_fs, %eax
	movl %eax, got
	CHECKV retf-outer-fs-kept, $DATA3
	ret

/* At CPL 0 with DS = ES = DATA0 and FS = DATA3: IRET (or RETF) to
 * CPL 3, which records the selectors and reads through DS. */
iret_outer:
	addl $4, %esp                   /* not coming back here */
	movl %esp, saved_esp
	movw $DATA3, %ax
	movw %ax, %fs
	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	pushl $DATA3
	pushl $USTACK
	pushfl
	pushl $CODE3
	pushl $at_cpl3
	iret
retf_outer:
	addl $4, %esp
	movl %esp, saved_esp
	movw $DATA3, %ax
	movw %ax, %fs
	movw $DATA0, %ax
	movw %ax, %ds
	movw %ax, %es
	pushl $DATA3
	pushl $USTACK
	pushl $CODE3
	pushl $at_cpl3
	lret
at_cpl3:
	movw %ds, %ss:u_ds
	movw %es, %ss:u_es
	movw %fs, %ss:u_fs
	movl 0x1000, %eax

/* ---- helpers ------------------------------------------------------------ */

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
	.quad 0x0000890000000067        /* 0x28 32-bit TSS (base filled in) */
	.quad 0                         /* 0x30 GATE3 (filled in) */
	.quad 0                         /* 0x38 GATE0 */
	.quad 0                         /* 0x40 GATE_NP */
	.quad 0                         /* 0x48 GATE_DATA */
	.quad 0x00cf9e000000ffff        /* 0x50 conforming code, DPL 0 */
	.quad 0x00cf12000000ffff        /* 0x58 data, not present */
	.quad 0x0040960000000fff        /* 0x60 expand-down, B=1 */
	.quad 0x0000960000000fff        /* 0x68 expand-down, B=0 */
	.quad 0x0040920000000fff        /* 0x70 data, limit 0xfff */
	.quad 0x00cf90000000ffff        /* 0x78 read-only data */
	.quad 0x00cf98000000ffff        /* 0x80 execute-only code */
	.quad 0x0040f20000000fff        /* 0x88 data, limit 0xfff, DPL 3 */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x34 * 8 - 1
	.long idt
m_call:	.asciz "call"
m_int:	.asciz "int"
m_load:	.asciz "load"
m_limit: .asciz "limit"
m_ret:	.asciz "ret"
s_head:	.asciz "gates: "
s_allok: .asciz "gates: all ok\n"
s_failed: .asciz "gates: some checks failed\n"
	.bss
	.align 8
idt:	.space 0x34 * 8
tss:	.space 0x68
g_cs:	.space 4
g_ss:	.space 4
g_esp:	.space 4
g_flags: .space 4
g_frame: .space 24
u_esp_before: .space 4
u_esp_after: .space 4
u_cs_after: .space 4
u_ds:	.space 2
u_es:	.space 2
u_fs:	.space 2
