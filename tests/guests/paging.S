/*
 * paging: #PF error codes and CR2, accessed and dirty bits, large pages
 * and reserved bits, under 32-bit paging, PAE paging and 4-level paging
 * (Intel SDM vol. 3A, chapter 4).  Each check runs one instruction at
 * CPL 0 or CPL 3 and compares the exception it raised (vector, error
 * code, CR2) with what the SDM says; every line is "paging: MODE NAME ok"
 * or "... BAD" with the values seen, and the guest exits 0 only when all
 * checks pass.  The expected values, by section:
 *   4.7 (table 4-12)  error code: P (bit 0) 0 for a not-present entry and
 *       1 for a protection or reserved-bit violation; W/R (bit 1) set
 *       for a write; U/S (bit 2) set for a CPL 3 access; RSVD (bit 3)
 *       set when a reserved bit is set in a present entry; I/D (bit 4)
 *       set for an instruction fetch only when SMEP=1 or when PAE=1 and
 *       EFER.NXE=1.  CR2 gets the faulting linear address.
 *   4.6.1  supervisor writes ignore R/W when CR0.WP=0 and obey it when
 *       WP=1; CPL 3 needs U/S=1 and (for writes) R/W=1 at every level.
 *   4.8    A is set in every paging-structure entry used, D only in the
 *       entry mapping the page, and only on a write.
 *   4.10.4.1  INVLPG of an address in a large page invalidates the
 *       translations of the whole page.
 *   4.3 (table 4-4) a 4 MiB PDE: bit 21 reserved; 4.4 (table 4-9) and
 *       4.5 (table 4-17): a 2 MiB PDE: bits 20:13 reserved; bits 62:M
 *       (M = MAXPHYADDR, 40 in vmkit's CPU model, bit 51 used here so
 *       that the check holds for any M) and, with EFER.NXE=0, bit 63;
 *       4.5 (tables 4-15, 4-16): PS is reserved in a PML4E, and in a
 *       PDPTE unless CPUID 80000001h:EDX[26] (1 GiB pages) is set.
 *   4.4.1  a PAE PDPTE with P=1 and a reserved bit (2:1, 8:5) makes the
 *       MOV to CR3 raise #GP(0) and leaves CR3 as it was.
 *   5.8.3.1, 5.8.5.1 (figure 5-14), the "ia32e" group: a 64-bit call
 *       gate from compatibility-mode CPL 3 to 64-bit CPL 0 takes RSP0
 *       from the TSS, loads a null SS and pushes SS, RSP, CS and RIP as
 *       quadwords; a gate whose upper type field is not 0 is #GP(gate);
 *       IA-32e mode has no task switches (#GP(selector)).
 *   2.5 (CR4) and 4.6.1: SMEP and SMAP are used only where CPUID 7:EBX
 *       bits 7 and 20 advertise them; where they do not, setting CR4
 *       bits 20 and 21 is #GP(0).
 */
#include "guest.inc"

#include "systest.inc"

/* GETPTE n, mask: got = (PTE of test page n) & mask; edi = its address. */
	.macro GETPTE n, mask
	movl $\n, %eax
	call pte_ptr
	movl (%edi), %eax
	andl $\mask, %eax
	movl %eax, got
	.endm

	.set X86_CR0_WP, 0x10000
	.set X86_CR0_PG, 0x80000000
	.set X86_CR4_PSE, 0x10
	.set X86_CR4_PAE, 0x20

	.set TSS_SEL, 0x28
	.set CODE64, 0x38

	/* Page tables and test frames at fixed physical addresses, all
	 * inside the first 4 MiB, which every mode maps 1:1 for CPL 3. */
	.set PD32, 0x300000
	.set PT32, 0x301000
	.set PDPT, 0x302000
	.set PDPAE, 0x303000
	.set PTPAE, 0x304000
	.set PML4, 0x305000
	.set PDPTL, 0x306000
	.set PDL, 0x307000
	.set PTL, 0x308000
	.set FRAME, 0x310000            /* test frame n at FRAME + n * 4K */
	.set TEST, 0x400000             /* test page n at TEST + n * 4K */
	.set KSTACK, 0x2f0000
	.set USTACK, 0x2e0000
	.set ISTACK, 0x2d0000             /* the TSS's CPL 0 stack */


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
	/* Clear the page tables and frames. */
	movl $PD32, %edi
	movl $(0x20000 / 4), %ecx
	xorl %eax, %eax
	cld
	rep stosl
	/* Frame 6 holds "jmp *resume": a page that may be executed. */
	movw $0x25ff, FRAME + 6 * 4096
	movl $resume, FRAME + 6 * 4096 + 2
	/* The TSS gives the CPL 0 stack for faults from CPL 3. */
	movl $tss, %eax
	call set_tss_base
	movl $ISTACK, tss + 4
	movl $DATA0, tss + 8
	movw $TSS_SEL, %ax
	ltr %ax
	/* IDT: vectors 0-31 to the recording stubs, 0x30 (DPL 3) back
	 * to CPL 0; the same in the 64-bit IDT used in IA-32e mode. */
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $4, %eax
	addl $stubs, %eax
	leal idt(, %ecx, 8), %edi
	movw $0x8e00, %bx
	call set_gate
	movl %ecx, %eax
	shll $4, %eax
	addl $stubs64, %eax
	movl %ecx, %edi
	shll $4, %edi
	addl $idt64, %edi
	call set_gate64
	incl %ecx
	cmpl $32, %ecx
	jb 2b
	movl $to_cpl0, %eax
	movl $idt + 0x30 * 8, %edi
	movw $0xee00, %bx
	call set_gate
	movl $to_cpl0_64, %eax
	movl $idt64 + 0x30 * 16, %edi
	call set_gate64
	lidt idt_desc

	movl $7, %eax
	xorl %ecx, %ecx
	cpuid
	movl %ebx, cpuid7_ebx
	movl $0x80000001, %eax
	cpuid
	movl %edx, ext_edx
	/* SMEP and SMAP: where not advertised, the CR4 bits are reserved. */
	movl $m_cr4, modename
	testl $(1 << 7), cpuid7_ebx
	jnz 3f
	movl $(1 << 20), %eax
	TRY0 smep-reserved, GP, 0, 0, movl %eax, %cr4
3:	testl $(1 << 20), cpuid7_ebx
	jnz 4f
	movl $(1 << 21), %eax
	TRY0 smap-reserved, GP, 0, 0, movl %eax, %cr4
4:
	call mode32
	call run_common
	call modepae
	call run_common
	call run_nx
	call run_pdpt
	call modelong
	call run_common
	call run_nx
	call run_long
	jmp finish

/* ---- the checks every mode runs --------------------------------------- */

run_common:
	TRY0 np-read, PF, 0, TEST + 0x10, movl TEST + 0x10, %eax
	TRY0 np-write, PF, 2, TEST + 0x20, movl %eax, TEST + 0x20
	TRY0 np-pde-read, PF, 0, 0x800008, movl 0x800008, %eax
	TRY0 np-pde-write, PF, 2, 0x80000c, movb %al, 0x80000c
	/* CR0.WP=0: CPL 0 writes a read-only page; WP=1: it faults. */
	TRY0 ro-write-wp0, NONE, 0, 0, movl %eax, TEST + 0x1000
	movl %cr0, %eax
	orl $X86_CR0_WP, %eax
	movl %eax, %cr0
	TRY0 ro-write-wp1, PF, 3, TEST + 0x1004, movl %eax, TEST + 0x1004
	TRY0 ro-read-wp1, NONE, 0, 0, movl TEST + 0x1004, %eax
	movl %cr0, %eax
	andl $~X86_CR0_WP, %eax
	movl %eax, %cr0
	TRY0 sup-read, NONE, 0, 0, movl TEST + 0x2000, %eax
	TRY0 sup-write, NONE, 0, 0, movl %eax, TEST + 0x2000
	/* CPL 3; test page 1 clean again after the CPL 0 write. */
	GETPTE 1, 0
	andl $~0x60, (%edi)
	call flush
	TRYU user-np-read, PF, 4, TEST + 0x30, movl TEST + 0x30, %eax
	TRYU user-np-write, PF, 6, TEST + 0x34, movl %eax, TEST + 0x34
	TRYU user-ro-read, NONE, 0, 0, movl TEST + 0x1000, %eax
	TRYU user-ro-write, PF, 7, TEST + 0x1008, movl %eax, TEST + 0x1008
	TRYU user-sup-read, PF, 5, TEST + 0x2010, movl TEST + 0x2010, %eax
	TRYU user-sup-write, PF, 7, TEST + 0x2014, movw %ax, TEST + 0x2014
	/* A write from a writable page into a read-only one faults at
	 * the read-only page and writes neither. */
	movl $0x12345678, FRAME + 0x6ffc
	movl $0xaaaaaaaa, %eax
	TRYU user-cross-write, PF, 7, TEST + 0x7000, movl %eax, TEST + 0x6ffe
	movl FRAME + 0x6ffc, %eax
	movl %eax, got
	CHECKV user-cross-write-nothing-written, $0x12345678
	/* Fetches: I/D only with PAE and NXE (every mode runs with
	 * EFER.NXE=1 here) or SMEP. */
	movl $TEST + 0x100, %eax
	TRY0F np-fetch, PF, 0, TEST + 0x100, jmp *%eax
	movl $TEST + 0x2000, %eax
	TRYUF user-sup-fetch, PF, 5, TEST + 0x2000, jmp *%eax
	movl $TEST + 0x6000, %eax
	TRY0 fetch-ok, NONE, 0, 0, jmp *%eax
	movl $TEST + 0x6000, %eax
	TRYU user-fetch-ok, NONE, 0, 0, jmp *%eax
	/* A faulting write leaves D clear (4.8: D is set on a write). */
	GETPTE 1, 0x40
	CHECKV ro-faulting-write-no-dirty, $0
	GETPTE 7, 0x40
	CHECKV cross-faulting-write-no-dirty, $0
	/* A and D on a 4 KiB page: a read sets A in the PDE and the PTE
	 * and not D; a write sets D in the PTE only. */
	GETPTE 3, 0
	andl $~0x60, (%edi)
	movl pde_region, %esi
	andl $~0x60, (%esi)
	call flush
	TRY0 ad-read, NONE, 0, 0, movl TEST + 0x3000, %eax
	GETPTE 3, 0x60
	CHECKV ad-read-pte-a-not-d, $0x20
	movl pde_region, %esi
	movl (%esi), %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV ad-read-pde-a, $0x20
	TRYU ad-user-write, NONE, 0, 0, movl %eax, TEST + 0x3000
	GETPTE 3, 0x60
	CHECKV ad-write-pte-a-d, $0x60
	movl pde_region, %esi
	movl (%esi), %eax
	andl $0x40, %eax
	movl %eax, got
	CHECKV ad-write-pde-no-d, $0
	/* A large page of physical 0: a read through it gives the bytes
	 * at that physical address and sets A, not D; a write sets D. */
	movl pde_large, %esi
	andl $~0x60, (%esi)
	call flush
	TRY0 large-read, NONE, 0, 0, movl 0xc00000 + gdt + 8, %eax
	movl 0xc00000 + gdt + 8, %eax
	movl %eax, got
	CHECKV large-read-value, gdt + 8
	movl pde_large, %esi
	movl (%esi), %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV large-read-a-not-d, $0x20
	movl scratch, %eax
	TRY0 large-write, NONE, 0, 0, movl %eax, 0xc00000 + scratch
	movl pde_large, %esi
	movl (%esi), %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV large-write-a-d, $0x60
	/* INVLPG of one address of a large page drops the translations
	 * of the whole page (4.10.4.1), not only of its 4 KiB part: after
	 * reads through two parts, the PDE made not present and one part
	 * invalidated, the other faults. */
	movl 0xc01000, %eax
	movl 0xc05000, %eax
	movl pde_large, %esi
	andl $~1, (%esi)
	invlpg 0xc01000
	TRY0 large-invlpg-whole-page, PF, 0, 0xc05008, movl 0xc05008, %eax
	movl pde_large, %esi
	orl $1, (%esi)
	call flush
	/* A reserved bit in a present large-page PDE. */
	TRY0 large-rsvd-read, PF, 9, 0x1000040, movl 0x1000040, %eax
	TRYU large-rsvd-user-write, PF, 0xf, 0x1000044, movl %eax, 0x1000044
	ret

/* ---- PAE and 4-level: NX and physical-address bits --------------------- */

run_nx:
	/* Bit 63: reserved with NXE=0, execute-disable with NXE=1. */
	call nxe_off
	movl $0, fetch_id
	TRY0 nx-rsvd-read, PF, 9, TEST + 0x4000, movl TEST + 0x4000, %eax
	movl $TEST + 0x4000, %eax
	TRY0 nx-rsvd-fetch, PF, 9, TEST + 0x4000, jmp *%eax
	movl $TEST + 0x100, %eax
	TRY0 np-fetch-no-nxe, PF, 0, TEST + 0x100, jmp *%eax
	call nxe_on
	movl $0x10, fetch_id
	TRY0 nx-read, NONE, 0, 0, movl TEST + 0x4000, %eax
	movl $TEST + 0x4000, %eax
	TRY0 nx-fetch, PF, 0x11, TEST + 0x4000, jmp *%eax
	movl $TEST + 0x4000, %eax
	TRYU nx-user-fetch, PF, 0x15, TEST + 0x4000, jmp *%eax
	/* A physical-address bit above MAXPHYADDR. */
	TRY0 pa-rsvd-read, PF, 9, TEST + 0x5000, movl TEST + 0x5000, %eax
	TRY0 pa-rsvd-write, PF, 0xb, TEST + 0x5008, movl %eax, TEST + 0x5008
	TRYU pa-rsvd-user-read, PF, 0xd, TEST + 0x500c, movl TEST + 0x500c, %eax
	movl $TEST + 0x5000, %eax
	TRY0 pa-rsvd-fetch, PF, 0x19, TEST + 0x5000, jmp *%eax
	ret

/* ---- PAE only: the PDPTEs ---------------------------------------------- */

run_pdpt:
	TRY0 pdpte-np, PF, 0, 0x40000000, movl 0x40000000, %eax
	/* The CPU sets no A bit in a PAE PDPTE (bit 5 is reserved). */
	movl PDPT, %eax
	movl %eax, got
	CHECKV pdpte-untouched, $PDPAE | 1
	/* A PDPTE with a reserved bit: MOV to CR3 is #GP(0), CR3 stays. */
	movl PDPT, %eax
	movl %eax, PDPT + 0x20
	movl $PDPAE | 1 | 2, PDPT + 0x20 + 3 * 8
	movl $PDPT + 0x20, %eax
	TRY0 pdpte-rsvd1-cr3, GP, 0, 0, movl %eax, %cr3
	movl %cr3, %eax
	movl %eax, got
	CHECKV pdpte-rsvd1-cr3-kept, $PDPT
	movl $PDPAE | 1 | 0x20, PDPT + 0x20 + 3 * 8
	movl $PDPT + 0x20, %eax
	TRY0 pdpte-rsvd5-cr3, GP, 0, 0, movl %eax, %cr3
	/* Not present, the reserved bits do not matter. */
	movl $0x20 | 2, PDPT + 0x20 + 3 * 8
	movl $PDPT + 0x20, %eax
	TRY0 pdpte-np-rsvd-cr3, NONE, 0, 0, movl %eax, %cr3
	movl $PDPT, %eax
	movl %eax, %cr3
	ret

/* ---- 4-level only ------------------------------------------------------- */

run_long:
	/* PS in a PML4E is reserved (table 4-15): a 64-bit access. */
	movl $PF, want_vec
	movl $9, want_err
	movl $0x40, want_cr2            /* low half of 0x8000000040 */
	movl $-1, ex_vec
	movl $probe64_done, resume
	lcall $CODE64, $probe64
	movl $s_pml4e, %esi
	call check
	movl ex_cr2_hi, %eax
	movl %eax, got
	CHECKV pml4e-ps-rsvd-cr2-high, $0x80
	/* PS in a PDPTE: a 1 GiB page if CPUID 80000001h:EDX[26]. */
	testl $(1 << 26), ext_edx
	jz 2f
	TRY0 gib-page-read, NONE, 0, 0, movl 0x40000000 + gdt + 8, %eax
	movl 0x40000000 + gdt + 8, %eax
	movl %eax, got
	CHECKV gib-page-value, gdt + 8
	jmp 3f
2:	TRY0 gib-page-rsvd, PF, 9, 0x40000000 + gdt + 8, movl 0x40000000 + gdt + 8, %eax
3:
	/* A on every level of the walk, D only in the PTE. */
	GETPTE 3, 0
	andl $~0x60, (%edi)
	andl $~0x60, PDL + 2 * 8
	andl $~0x60, PDPTL
	andl $~0x60, PML4
	call flush
	TRY0 ad4-write, NONE, 0, 0, movl %eax, TEST + 0x3000
	movl PML4, %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV ad4-pml4e-a, $0x20
	movl PDPTL, %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV ad4-pdpte-a, $0x20
	movl PDL + 2 * 8, %eax
	andl $0x60, %eax
	movl %eax, got
	CHECKV ad4-pde-a, $0x20
	GETPTE 3, 0x60
	CHECKV ad4-pte-a-d, $0x60
	/* The same from loops in 64-bit code (which the translator
	 * compiles): reads set A only, writes D, a write to a read-only
	 * page with WP faults with the error code and CR2 of the first
	 * write. */
	GETPTE 3, 0
	andl $~0x60, (%edi)
	call flush
	movl $probe64_done, resume
	lcall $CODE64, $loop64_read
	GETPTE 3, 0x60
	CHECKV jit-loop-read-a-not-d, $0x20
	lcall $CODE64, $loop64_write
	GETPTE 3, 0x60
	CHECKV jit-loop-write-d, $0x60
	movl %cr0, %eax
	orl $X86_CR0_WP, %eax
	movl %eax, %cr0
	movl $PF, want_vec
	movl $3, want_err
	movl $TEST + 0x1000, want_cr2
	movl $-1, ex_vec
	lcall $CODE64, $loop64_write_ro
	movl $s_jitro, %esi
	call check
	movl loop_left, %eax
	movl %eax, got
	CHECKV jit-loop-ro-fault-first-iteration, $1000
	movl %cr0, %eax
	andl $~X86_CR0_WP, %eax
	movl %eax, %cr0
	/* A 64-bit call gate (SDM 5.8.3.1, 5.8.5.1, figure 5-14): from
	 * compatibility mode at CPL 3 to 64-bit code at CPL 0, RSP0 from
	 * the TSS, SS null, the old SS, RSP, CS and RIP as quadwords; RET
	 * (64-bit) back to CPL 3. */
	movl $gate64_target, %eax
	movw %ax, gdt + 0x40
	movw $CODE64, gdt + 0x42
	movw $0xec00, gdt + 0x44
	shrl $16, %eax
	movw %ax, gdt + 0x46
	movl $0, gdt + 0x48
	movl $0, gdt + 0x4c
	movl gdt + 0x40, %eax
	movl %eax, gdt + 0x50
	movl gdt + 0x44, %eax
	movl %eax, gdt + 0x54
	movl $0, gdt + 0x58
	movl $0x00000c00, gdt + 0x5c    /* type 0xc in the upper half */
	movl $m_ia32e, modename
	TRYU gate64-call, NONE, 0, 0, call user_gate64
	movl g64_rsp, %eax
	movl %eax, got
	CHECKV gate64-rsp0, $ISTACK - 32
	movl g64_cs, %eax
	movl %eax, got
	CHECKV gate64-cs, $CODE64
	movl g64_ss, %eax
	movl %eax, got
	CHECKV gate64-ss-null, $0
	movl g64_frame, %eax
	movl %eax, got
	CHECKV gate64-frame-rip, $user_gate64_ret
	movl g64_frame + 8, %eax
	movl %eax, got
	CHECKV gate64-frame-cs, $CODE3
	movl g64_frame + 16, %eax
	movl %eax, got
	CHECKV gate64-frame-rsp, u64_esp
	movl g64_frame + 24, %eax
	movl %eax, got
	CHECKV gate64-frame-ss, $DATA3
	movl u64_cs_after, %eax
	movl %eax, got
	CHECKV gate64-ret-cpl3, $CODE3
	TRYU gate64-bad-upper-type, GP, 0x50, 0, lcall $0x53, $0
	TRYU gate64-in-ia32e-no-task-switch, GP, TSS_SEL, 0, ljmp $TSS_SEL | 3, $0
	ret

/* ---- paging modes ------------------------------------------------------- */

paging_off:
	movl %cr0, %eax
	andl $~(X86_CR0_PG | X86_CR0_WP), %eax
	movl %eax, %cr0
	ret

/* 32-bit paging: 0-4 MiB one 4 MiB page (U, W), 4-8 MiB the test page
 * table, 8-12 MiB not present, 12-16 MiB a 4 MiB page of physical 0,
 * 16-20 MiB one with reserved bit 21. */
mode32:
	call paging_off
	movl $m_32, modename
	movl $0, fetch_id
	movl $PT32, pt_base
	movl $4, pte_size
	movl $PD32 + 4, pde_region
	movl $PD32 + 12, pde_large
	movl $0x000087, PD32
	movl $PT32 | 7, PD32 + 4
	movl $0x000087, PD32 + 12
	movl $0x200087, PD32 + 16
	call fill_pts
	movl $PD32, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $X86_CR4_PSE, %eax
	andl $~X86_CR4_PAE, %eax
	movl %eax, %cr4
	call nxe_on
	movl %cr0, %eax
	orl $X86_CR0_PG, %eax
	movl %eax, %cr0
	ret

/* PAE: PDPTE 0 maps 0-1 GiB, the others are not present; in it 0-4 MiB
 * two 2 MiB pages, 4-6 MiB the test page table, 8-10 MiB not present,
 * 12-14 MiB a 2 MiB page of physical 0, 16-18 MiB one with reserved
 * bit 13. */
modepae:
	call paging_off
	movl $m_pae, modename
	movl $0x10, fetch_id
	movl $PTPAE, pt_base
	movl $8, pte_size
	movl $PDPAE + 2 * 8, pde_region
	movl $PDPAE + 6 * 8, pde_large
	movl $PDPAE | 1, PDPT
	movl $PDPAE, %edi
	call fill_pd
	call fill_pts
	movl $PDPT, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $X86_CR4_PAE, %eax
	movl %eax, %cr4
	call nxe_on
	movl %cr0, %eax
	orl $X86_CR0_PG, %eax
	movl %eax, %cr0
	ret

/* 4-level paging, entered from 32-bit code, so the checks run in
 * compatibility mode: PML4E 0 -> PDPT; PDPTE 0 -> a PD laid out as in
 * PAE mode; PML4E 1 (512 GiB) has PS set (reserved); PDPTE 1 (1 GiB)
 * has PS set (a 1 GiB page of physical 0 where CPUID says so). */
modelong:
	call paging_off
	movl $m_long, modename
	movl $0x10, fetch_id
	movl $PTL, pt_base
	movl $8, pte_size
	movl $PDL + 2 * 8, pde_region
	movl $PDL + 6 * 8, pde_large
	movl $PDPTL | 7, PML4
	movl $PDPTL | 7 | 0x80, PML4 + 8
	movl $PDL | 7, PDPTL
	movl $0x000087, PDPTL + 8
	movl $PDL, %edi
	call fill_pd
	call fill_pts
	/* The 64-bit TSS (busy bit cleared for LTR) and IDT. */
	movl $tss64, %eax
	call set_tss_base
	movl $ISTACK, tss64 + 4
	movl $PML4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax       /* LME, NXE */
	wrmsr
	lidt idt64_desc
	movl %cr0, %eax
	orl $X86_CR0_PG, %eax
	movl %eax, %cr0
	movw $TSS_SEL, %ax
	ltr %ax
	ret

/* A PAE / 4-level page directory at edi (see modepae). */
fill_pd:
	movl $0x000087, (%edi)
	movl $0x200087, 8(%edi)
	movl pt_base, %eax
	orl $7, %eax
	movl %eax, 2 * 8(%edi)
	movl $0x000087, 6 * 8(%edi)
	movl $0x002087, 8 * 8(%edi)
	ret

/* Test pages, in the table at pt_base with entries of pte_size bytes:
 * 0 not present, 1 read-only user, 2 supervisor read/write, 3-6 user
 * read/write (6 holds code), 7 read-only user; with 8-byte entries
 * page 4 has NX (bit 63) and page 5 physical-address bit 51. */
fill_pts:
	movl $1, %eax
	call pte_ptr
	movl $FRAME + 0x1000 + 5, (%edi)
	movl $2, %eax
	call pte_ptr
	movl $FRAME + 0x2000 + 3, (%edi)
	movl $3, %ecx
1:	movl %ecx, %eax
	call pte_ptr
	movl %ecx, %eax
	shll $12, %eax
	addl $FRAME + 7, %eax
	movl %eax, (%edi)
	incl %ecx
	cmpl $7, %ecx
	jb 1b
	movl $7, %eax
	call pte_ptr
	movl $FRAME + 0x7000 + 5, (%edi)
	cmpl $8, pte_size
	jne 2f
	movl pt_base, %edi
	movl $0x80000000, 4 * 8 + 4(%edi)
	movl $0x00080000, 5 * 8 + 4(%edi)
2:	ret

/* At CPL 3 in compatibility mode: a call through the 64-bit gate. */
user_gate64:
	movl %esp, u64_esp
	lcall $0x43, $0
user_gate64_ret:
	movl %cs, %eax
	movl %eax, u64_cs_after
	ret

/* ---- helpers ------------------------------------------------------------ */

/* The TSS descriptor's base := eax, type 32/64-bit available TSS. */
set_tss_base:
	movw %ax, gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, gdt + TSS_SEL + 4
	movb %ah, gdt + TSS_SEL + 7
	movb $0x89, gdt + TSS_SEL + 5
	ret

/* Write a 32-bit gate to the handler in eax at edi; bx = type word. */
set_gate:
	pushl %eax
	movw %ax, (%edi)
	movw $CODE0, 2(%edi)
	movw %bx, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	popl %eax
	ret

/* The same for a 64-bit gate (16 bytes) to CODE64:eax. */
set_gate64:
	movw %ax, (%edi)
	movw $CODE64, 2(%edi)
	movw %bx, 4(%edi)
	shrl $16, %eax
	movw %ax, 6(%edi)
	movl $0, 8(%edi)
	movl $0, 12(%edi)
	ret

/* edi = the PTE of test page eax in the current mode. */
pte_ptr:
	movl pte_size, %edi
	imull %eax, %edi
	addl pt_base, %edi
	ret

/* Flush the TLB (MOV to CR3). */
flush:
	pushl %eax
	movl %cr3, %eax
	movl %eax, %cr3
	popl %eax
	ret

nxe_on:
	movl $0xc0000080, %ecx
	rdmsr
	orl $(1 << 11), %eax
	wrmsr
	ret
nxe_off:
	movl $0xc0000080, %ecx
	rdmsr
	andl $~(1 << 11), %eax
	wrmsr
	ret

/* ---- 64-bit code --------------------------------------------------------- */

	.code64
/* Reached by a far call from compatibility mode; a fault resumes at
 * probe64_done (in 64-bit mode), which returns there. */
probe64:
	movabsq $0x8000000040, %rax
	movl (%rax), %edx
probe64_done:
	lretl
/* The 64-bit call gate's target: record RSP, CS, SS and the frame. */
gate64_target:
	movq %rsp, %rax
	movl %eax, g64_rsp(%rip)
	movl %cs, %eax
	movl %eax, g64_cs(%rip)
	movl %ss, %eax
	movl %eax, g64_ss(%rip)
	movq (%rsp), %rax
	movl %eax, g64_frame(%rip)
	movq 8(%rsp), %rax
	movl %eax, g64_frame + 8(%rip)
	movq 16(%rsp), %rax
	movl %eax, g64_frame + 16(%rip)
	movq 24(%rsp), %rax
	movl %eax, g64_frame + 24(%rip)
	lretq
loop64_read:
	movl $1000, %ecx
1:	movl TEST + 0x3000, %eax
	decl %ecx
	jnz 1b
	lretl
loop64_write:
	movl $1000, %ecx
1:	movl %ecx, TEST + 0x3000
	decl %ecx
	jnz 1b
	lretl
/* A fault leaves the count in ECX: stored at probe64_done's caller. */
loop64_write_ro:
	movl $1000, %ecx
	movl %ecx, loop_left(%rip)
1:	movl %ecx, TEST + 0x1000
	decl %ecx
	movl %ecx, loop_left(%rip)
	jnz 1b
	lretl

/* INT 0x30 from CPL 3: back to CPL 0 in compatibility mode after the
 * INT, on the stack the caller of enter_user had. */
to_cpl0_64:
	movq (%rsp), %rax
	movl saved_esp(%rip), %esp
	movw $DATA0, %cx
	movw %cx, %ss
	movw %cx, %ds
	movw %cx, %es
	pushq $CODE0
	pushq %rax
	lretq

	.align 16
stubs64:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.align 16
	.if (\v == 8) || (\v == 10) || (\v == 11) || (\v == 12) || (\v == 13) || (\v == 14) || (\v == 17) || (\v == 21)
	pushq $\v
	.else
	pushq $0
	pushq $\v
	.endif
	jmp fault64
	.endr

fault64:
	pushq %rax
	movq 8(%rsp), %rax
	movl %eax, ex_vec(%rip)
	movq 16(%rsp), %rax
	movl %eax, ex_err(%rip)
	movq %cr2, %rax
	movl %eax, ex_cr2(%rip)
	shrq $32, %rax
	movl %eax, ex_cr2_hi(%rip)
	movl resume(%rip), %eax
	movq %rax, 24(%rsp)
	popq %rax
	addq $16, %rsp
	iretq
	.code32

	.data
	.align 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08 flat 32-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 flat data, DPL 0 */
	.quad 0x00cffa000000ffff        /* 0x18 flat 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff        /* 0x20 flat data, DPL 3 */
	.quad 0x0000890000000067        /* 0x28 TSS (base filled in) */
	.quad 0                         /*      its upper half in IA-32e */
	.quad 0x00209a0000000000        /* 0x38 64-bit code, DPL 0 */
	.quad 0, 0                      /* 0x40 64-bit call gate, DPL 3 */
	.quad 0, 0                      /* 0x50 64-bit call gate, bad upper */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
idt_desc:
	.word 0x31 * 8 - 1
	.long idt
idt64_desc:
	.word 0x31 * 16 - 1
	.long idt64
m_cr4:	.asciz "cr4"
m_32:	.asciz "32-bit"
m_pae:	.asciz "pae"
m_long:	.asciz "4-level"
m_ia32e: .asciz "ia32e"
s_pml4e: .asciz "pml4e-ps-rsvd"
s_jitro: .asciz "jit-loop-ro-write-fault"
s_head:	.asciz "paging: "
s_allok: .asciz "paging: all ok\n"
s_failed: .asciz "paging: some checks failed\n"
	.bss
	.align 16
idt:	.space 0x31 * 8
	.align 16
idt64:	.space 0x31 * 16
tss:	.space 0x68
tss64:	.space 0x68
ex_cr2_hi: .space 4
pt_base: .space 4
pte_size: .space 4
pde_region: .space 4
pde_large: .space 4
cpuid7_ebx: .space 4
ext_edx: .space 4
scratch: .space 4
g64_rsp: .space 4
g64_cs:	.space 4
g64_ss:	.space 4
g64_frame: .space 32
u64_esp: .space 4
u64_cs_after: .space 4
loop_left: .space 4
