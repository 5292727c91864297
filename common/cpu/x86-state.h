/*
 * The canonical x86 architectural state of one vCPU.  Both back ends
 * convert to and from it (kvm/regs.c, dbt/state.c), so it is what
 * snapshots save and what moves a vCPU between KVM and the DBT.
 * Layout notes: segment fields follow the SDM's descriptor fields (and
 * struct kvm_segment), limits are byte-granular (G already applied); the FPU
 * and SSE state is kept in FXSAVE format (SDM vol. 1, 10.5.1); the LAPIC in
 * its architectural register-page layout (SDM vol. 3, 11.4.1).
 */
#ifndef VM_CPU_X86_STATE_H
#define VM_CPU_X86_STATE_H

#include <stdbool.h>
#include <stdint.h>

enum x86_gpr {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};

enum x86_sreg {
	X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS, X86_LDTR, X86_TR,
	X86_NSEG
};

struct x86_seg {
	uint64_t base;
	uint32_t limit;         /* byte granular */
	uint16_t sel;
	uint8_t type;           /* descriptor type field, 4 bits */
	uint8_t s;              /* 1 = code/data, 0 = system */
	uint8_t dpl;
	uint8_t present;
	uint8_t avl;
	uint8_t l;              /* 64-bit code segment */
	uint8_t db;             /* default operation size / big */
	uint8_t g;
	uint8_t unusable;       /* null selector loaded (not in real mode) */
};

struct x86_dtr {
	uint64_t base;
	uint16_t limit;
};

/* RFLAGS bits. */
#define X86_CF 0x0001u
#define X86_PF 0x0004u
#define X86_AF 0x0010u
#define X86_ZF 0x0040u
#define X86_SF 0x0080u
#define X86_TF 0x0100u
#define X86_IF 0x0200u
#define X86_DF 0x0400u
#define X86_OF 0x0800u
#define X86_IOPL 0x3000u
#define X86_NT 0x4000u
#define X86_RF 0x10000u
#define X86_VM 0x20000u
#define X86_AC 0x40000u
#define X86_VIF 0x80000u
#define X86_VIP 0x100000u
#define X86_ID 0x200000u
#define X86_ARITH_FLAGS (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

/* Control register bits. */
#define X86_CR0_PE (1u << 0)
#define X86_CR0_MP (1u << 1)
#define X86_CR0_EM (1u << 2)
#define X86_CR0_TS (1u << 3)
#define X86_CR0_ET (1u << 4)
#define X86_CR0_NE (1u << 5)
#define X86_CR0_WP (1u << 16)
#define X86_CR0_AM (1u << 18)
#define X86_CR0_NW (1u << 29)
#define X86_CR0_CD (1u << 30)
#define X86_CR0_PG (1u << 31)
#define X86_CR4_VME (1u << 0)
#define X86_CR4_PVI (1u << 1)
#define X86_CR4_TSD (1u << 2)
#define X86_CR4_DE (1u << 3)
#define X86_CR4_PSE (1u << 4)
#define X86_CR4_PAE (1u << 5)
#define X86_CR4_MCE (1u << 6)
#define X86_CR4_PGE (1u << 7)
#define X86_CR4_PCE (1u << 8)
#define X86_CR4_OSFXSR (1u << 9)
#define X86_CR4_OSXMMEXCPT (1u << 10)
#define X86_CR4_UMIP (1u << 11)
#define X86_CR4_FSGSBASE (1u << 16)
#define X86_CR4_PCIDE (1u << 17)
#define X86_CR4_OSXSAVE (1u << 18)
#define X86_CR4_SMEP (1u << 20)
#define X86_CR4_SMAP (1u << 21)
#define X86_EFER_SCE (1u << 0)
#define X86_EFER_LME (1u << 8)
#define X86_EFER_LMA (1u << 10)
#define X86_EFER_NXE (1u << 11)

/* MSR numbers the state carries. */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_PAT 0x277
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

/* Exception vectors. */
enum x86_vector {
	X86_EXC_DE = 0, X86_EXC_DB = 1, X86_EXC_NMI = 2, X86_EXC_BP = 3,
	X86_EXC_OF = 4, X86_EXC_BR = 5, X86_EXC_UD = 6, X86_EXC_NM = 7,
	X86_EXC_DF = 8, X86_EXC_TS = 10, X86_EXC_NP = 11, X86_EXC_SS = 12,
	X86_EXC_GP = 13, X86_EXC_PF = 14, X86_EXC_MF = 16, X86_EXC_AC = 17,
	X86_EXC_MC = 18, X86_EXC_XM = 19,
};

struct x86_state {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	struct x86_seg seg[X86_NSEG];
	struct x86_dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t dr[8];         /* dr4/dr5 unused */
	uint64_t efer;
	uint64_t xcr0;

	/* MSRs */
	uint64_t tsc;
	uint64_t apic_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t pat, misc_enable, tsc_aux;
	uint64_t spec_ctrl;             /* IA32_SPEC_CTRL (IBRS) */

	/* x87/MMX/SSE in FXSAVE layout. */
	uint8_t fxsave[512] __attribute__((aligned(16)));
	/* FCS and FDS: the last x87 instruction's CS and its operand's
	 * segment selector.  The image's 64-bit mode format (64-bit FIP and
	 * FDP) has no room for them; in the 32-bit format they are also at
	 * bytes 12 and 20.  KVM reports none (its FPU state has no
	 * selectors): 0. */
	uint16_t fpu_cs, fpu_ds;

	/* Local APIC register page (offsets as in the SDM, 16-byte strides). */
	uint8_t lapic[1024];

	/* Events and run state. */
	bool halted;
	bool sipi_wait;         /* after INIT (and an AP from reset): waits
	                           for a start-up IPI */
	bool irq_shadow;        /* after STI / MOV SS */
	bool nmi_pending;
	bool exc_pending;
	uint8_t exc_vector;
	bool exc_has_error;
	uint32_t exc_error;
	int16_t irq_injected;   /* vector being injected, -1 none */
};

#endif
