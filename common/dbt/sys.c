/*
 * System instructions (Intel SDM vol. 2 and vol. 3 chapters 2-6):
 * control and debug registers, descriptor tables, segment loads and far
 * transfers, INT/IRET, SYSCALL/SYSRET, SYSENTER/SYSEXIT, MSRs, CPUID, TSC,
 * HLT, CLI/STI, PUSHF/POPF, INVLPG, the cache no-ops and the fences.
 * Privileged ones raise #GP(0) outside CPL 0.  Instructions that change
 * the mode or the translation end their block (dbt_enders_sys).
 */
#include "dbt/dbt-int.h"

#include <stdio.h>

#include "cpu/cpu.h"
#include "dbt/alu.h"
#include "dbt/block.h"
#include "dbt/seg.h"
#include "hw/intc.h"
#include "vm/vm.h"

#define NMTRR 32

static uint64_t mtrr_store[VM_MAX_CPUS][NMTRR];

static void
need_cpl0(struct dbt_cpu *c)
{
	if (c->cpl != 0)
		dbt_gp0(c);
}

static uint64_t
opmask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* ---- flags -------------------------------------------------------------- */

/* Virtual-8086 mode with CR4.VME and IOPL < 3: CLI, STI, PUSHF, POPF,
 * IRET and INT n work on VIF (SDM vol. 3A, 20.3 and 20.4). */
static bool
vme(const struct dbt_cpu *c)
{
	return c->v86 && (c->cr4 & X86_CR4_VME) &&
	    ((c->rflags & X86_IOPL) >> 12) < 3;
}

/* Protected-mode virtual interrupts (CR4.PVI, 20.4): at CPL 3 with IOPL
 * < 3, CLI and STI work on VIF too, and only they (the CLI and STI
 * pseudo-code; PUSHF, POPF and IRET are as without PVI). */
static bool
vif_mode(const struct dbt_cpu *c)
{
	return vme(c) || (c->pe && !c->v86 && c->cpl == 3 &&
	    (c->cr4 & X86_CR4_PVI) && ((c->rflags & X86_IOPL) >> 12) < 3);
}


void
dbt_write_flags(struct dbt_cpu *c, uint64_t val, uint64_t mask)
{
	uint64_t iopl = (c->rflags & X86_IOPL) >> 12;
	uint64_t allowed = X86_ARITH_FLAGS | X86_TF | X86_DF | X86_NT |
	    X86_AC | X86_ID | X86_RF;

	if (!c->pe || c->cpl == 0)
		allowed |= X86_IOPL | X86_IF;
	else if (c->cpl <= iopl)
		allowed |= X86_IF;
	if (c->v86)
		allowed &= ~(uint64_t)(X86_IOPL);
	allowed &= mask;
	/* VM, VIF and VIP are never written here (IRET sets them). */
	allowed &= ~(uint64_t)(X86_VM | X86_VIF | X86_VIP);
	c->rflags = (c->rflags & ~allowed) | (val & allowed) | 2;
	dbt_update_mode(c);     /* RFLAGS.AC is part of the mode key */
}

static void
op_pushf(struct dbt_cpu *c, const struct insn *i)
{
	if (c->v86 && ((c->rflags & X86_IOPL) >> 12) < 3) {
		/* VME, 16-bit: IF's place shows VIF, IOPL shows 3. */
		if (!vme(c) || i->opsize != 2)
			dbt_gp0(c);
		dbt_push(c, 2, ((c->rflags & 0xffff & ~(uint64_t)X86_IF) |
		    X86_IOPL | ((c->rflags & X86_VIF) ? X86_IF : 0)));
		return;
	}
	dbt_push(c, i->opsize, (c->rflags & ~(uint64_t)(X86_VM | X86_RF)) &
	    opmask(i->opsize));
}

static void
op_popf(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v;

	if (c->v86 && ((c->rflags & X86_IOPL) >> 12) < 3) {
		/* VME, 16-bit: IF's image goes to VIF; #GP(0) if that
		 * would set VIF with VIP pending, or set TF. */
		if (!vme(c) || i->opsize != 2)
			dbt_gp0(c);
		v = dbt_read16(c, X86_SS, c->gpr[X86_RSP] & 0xffff);
		if (((v & X86_IF) && (c->rflags & X86_VIP)) || (v & X86_TF))
			dbt_gp0(c);
		(void)dbt_pop(c, 2);
		c->rflags = (c->rflags & ~(uint64_t)(0xffff & ~(X86_IOPL |
		    X86_IF))) | (v & 0xffff & ~(uint64_t)(X86_IOPL | X86_IF |
		    X86_RF)) | 2;
		c->rflags = (c->rflags & ~(uint64_t)X86_VIF) |
		    ((v & X86_IF) ? X86_VIF : 0);
		dbt_update_mode(c);
		return;
	}
	v = dbt_pop(c, i->opsize);
	/* POPF never sets RF: the SDM has it cleared. */
	dbt_write_flags(c, v & ~(uint64_t)X86_RF, opmask(i->opsize));
	c->rflags &= ~(uint64_t)X86_RF;
}

static void
op_cli(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	if (vif_mode(c)) {              /* SDM 20.3.2, 20.4: VIF instead */
		c->rflags &= ~(uint64_t)X86_VIF;
		return;
	}
	if (c->pe && c->cpl > ((c->rflags & X86_IOPL) >> 12))
		dbt_gp0(c);
	c->rflags &= ~(uint64_t)X86_IF;
}

static void
op_sti(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	if (vif_mode(c)) {              /* VIF, #GP(0) with VIP pending */
		if (c->rflags & X86_VIP)
			dbt_gp0(c);
		c->rflags |= X86_VIF;
		return;
	}
	if (c->pe && c->cpl > ((c->rflags & X86_IOPL) >> 12))
		dbt_gp0(c);
	if (!(c->rflags & X86_IF))
		c->irq_shadow = true;
	c->rflags |= X86_IF;
}

static void
op_hlt(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	need_cpl0(c);
	c->halted = true;
}

void
dbt_check_io(struct dbt_cpu *c, uint16_t port, unsigned size)
{
	const struct x86_seg *tr = &c->seg[X86_TR];
	uint64_t base;
	uint16_t bits;
	unsigned k;

	if (!c->pe || (!c->v86 && c->cpl <= ((c->rflags & X86_IOPL) >> 12)))
		return;
	/* The I/O permission bitmap of a 32/64-bit TSS. */
	if (!(tr->type & 8) || tr->limit < 0x67)
		dbt_gp0(c);
	base = dbt_read_lin(c, tr->base + 0x66, 2, DBT_ACC_SUPER);
	if (base + port / 8 + 1 > tr->limit)
		dbt_gp0(c);
	bits = (uint16_t)dbt_read_lin(c, tr->base + base + port / 8, 2,
	    DBT_ACC_SUPER);
	for (k = 0; k < size; k++)
		if (bits & (1u << ((port & 7) + k)))
			dbt_gp0(c);
}

/* ---- control registers ------------------------------------------------ */

static void
set_cr0(struct dbt_cpu *c, uint64_t v)
{
	uint64_t old = c->cr0, efer = c->efer;

	if (v >> 32)
		dbt_gp0(c);
	if ((v & X86_CR0_PG) && !(v & X86_CR0_PE))
		dbt_gp0(c);
	if ((v & X86_CR0_NW) && !(v & X86_CR0_CD))
		dbt_gp0(c);
	if ((v & X86_CR0_PG) && !(old & X86_CR0_PG) &&
	    (c->efer & X86_EFER_LME)) {
		if (!(c->cr4 & X86_CR4_PAE) || c->seg[X86_CS].l)
			dbt_gp0(c);
		c->efer |= X86_EFER_LMA;
	}
	if (!(v & X86_CR0_PG) && (old & X86_CR0_PG)) {
		if (c->long64)
			dbt_gp0(c);
		c->efer &= ~(uint64_t)X86_EFER_LMA;
	}
	/* Entering or staying in PAE paging with PG, CD or NW changed
	 * loads the PDPTEs (SDM vol. 3A, 4.4.1); nothing is changed when
	 * one has a reserved bit. */
	if ((v & X86_CR0_PG) && (c->cr4 & X86_CR4_PAE) &&
	    !(c->efer & X86_EFER_LMA) &&
	    ((old ^ v) & (X86_CR0_PG | X86_CR0_CD | X86_CR0_NW)) &&
	    !dbt_pae_pdptes_ok(c, c->cr3)) {
		c->efer = efer;
		dbt_gp0(c);
	}
	c->cr0 = v | X86_CR0_ET;
	if ((old ^ c->cr0) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
		dbt_tlb_flush(c);
	dbt_update_mode(c);
}

static void
set_cr4(struct dbt_cpu *c, uint64_t v)
{
	static const uint64_t ok = X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD |
	    X86_CR4_DE | X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE |
	    X86_CR4_PGE | X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT |
	    X86_CR4_UMIP | X86_CR4_SMEP | X86_CR4_SMAP;

	if (v & ~ok)
		dbt_gp0(c);
	if (c->lma && !(v & X86_CR4_PAE))
		dbt_gp0(c);
	/* PAE paging with PAE, PGE or PSE changed loads the PDPTEs. */
	if ((c->cr0 & X86_CR0_PG) && (v & X86_CR4_PAE) && !c->lma &&
	    ((v ^ c->cr4) & (X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE)) &&
	    !dbt_pae_pdptes_ok(c, c->cr3))
		dbt_gp0(c);
	c->cr4 = v;
	dbt_tlb_flush(c);
	dbt_update_mode(c);     /* OSFXSR is part of the mode key */
	dbt_watch_update(c);    /* CR4.DE arms I/O breakpoints */
}

static void
op_mov_cr(struct dbt_cpu *c, const struct insn *i)
{
	unsigned cr = i->reg;
	int gpr = i->rm;
	uint64_t v;

	need_cpl0(c);
	if (i->op == 0x20) {
		switch (cr) {
		case 0: v = c->cr0; break;
		case 2: v = c->cr2; break;
		case 3: v = c->cr3; break;
		case 4: v = c->cr4; break;
		case 8:
			if (c->vm->intc) {
				pthread_mutex_lock(&c->vm->io_lock);
				v = lapic_get_cr8(c->vm->intc, c->index);
				pthread_mutex_unlock(&c->vm->io_lock);
			} else {
				v = c->cr8;
			}
			break;
		default: dbt_ud(c);
		}
		c->gpr[gpr] = c->long64 ? v : v & 0xffffffffULL;
		return;
	}
	v = c->gpr[gpr];
	if (!c->long64)
		v &= 0xffffffffULL;
	switch (cr) {
	case 0:
		set_cr0(c, v);
		break;
	case 2:
		c->cr2 = v;
		break;
	case 3:
		/* PAE paging loads the PDPTEs (SDM vol. 3A, 4.4.1). */
		if (c->pg && !c->lma && (c->cr4 & X86_CR4_PAE) &&
		    !dbt_pae_pdptes_ok(c, v))
			dbt_gp0(c);
		c->cr3 = v;
		dbt_tlb_flush_local(c);
		break;
	case 4:
		set_cr4(c, v);
		break;
	case 8:
		if (v & ~0xfULL)
			dbt_gp0(c);
		c->cr8 = v;
		if (c->vm->intc) {
			pthread_mutex_lock(&c->vm->io_lock);
			lapic_set_cr8(c->vm->intc, c->index, (uint8_t)v);
			pthread_mutex_unlock(&c->vm->io_lock);
		}
		break;
	default:
		dbt_ud(c);
	}
}

/*
 * MOV to or from a debug register (SDM vol. 2B MOV DR, vol. 3B 17.2):
 * #GP at CPL > 0; DR4 and DR5 are DR6 and DR7 with CR4.DE clear, #UD
 * with it set; with DR7.GD set, a #DB fault before the access with
 * DR6.BD set and GD cleared for the handler; in 64-bit mode, a value
 * with bits 63:32 set is #GP(0) for DR6 and DR7.
 */
static void
op_mov_dr(struct dbt_cpu *c, const struct insn *i)
{
	unsigned dr = i->reg & 7;

	need_cpl0(c);
	if (dr == 4 || dr == 5) {
		if (c->cr4 & X86_CR4_DE)
			dbt_ud(c);
		dr += 2;
	}
	if (c->dr[7] & (1u << 13)) {
		c->dr[6] |= 1u << 13;   /* BD */
		c->dr[7] &= ~(uint64_t)(1u << 13);
		dbt_watch_update(c);
		dbt_raise_noerr(c, X86_EXC_DB);
	}
	if (i->op == 0x21) {
		c->gpr[i->rm] = c->dr[dr] | (dr == 6 ? 0xffff0ff0ULL :
		    dr == 7 ? 0x400 : 0);
		if (!c->long64)
			c->gpr[i->rm] &= 0xffffffffULL;
	} else {
		uint64_t v = c->long64 ? c->gpr[i->rm] :
		    c->gpr[i->rm] & 0xffffffffULL;

		if (dr >= 6 && (v >> 32) != 0)
			dbt_gp0(c);
		c->dr[dr] = v;
		dbt_watch_update(c);
	}
	/* DR7 may arm a breakpoint: the run loop looks before the next
	 * instruction (dbt_debug_step). */
	c->block_dirty = true;
}

static void
op_clts(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	need_cpl0(c);
	c->cr0 &= ~(uint64_t)X86_CR0_TS;
	dbt_update_mode(c);     /* TS is part of the mode key */
}

/* UMIP (CR4 bit 11): SGDT, SIDT, SLDT, SMSW and STR are #GP(0) at CPL > 0
 * (SDM vol. 3A, 2.5). */
static void
umip_check(struct dbt_cpu *c)
{
	if ((c->cr4 & X86_CR4_UMIP) && c->cpl > 0)
		dbt_gp0(c);
}

/* STAC and CLAC (0F 01 CB, CA): set and clear EFLAGS.AC, which lets
 * CPL < 3 code read and write user pages under SMAP (mmu.c walk); #UD
 * in virtual-8086 mode and at CPL > 0 (SDM vol. 2B). */
static void
op_stac_clac(struct dbt_cpu *c, const struct insn *i)
{
	if (c->v86 || (c->pe && c->cpl > 0))
		dbt_ud(c);
	if ((i->rm & 7) == 3)
		c->rflags |= X86_AC;
	else
		c->rflags &= ~(uint64_t)X86_AC;
}

static void
op_lmsw_smsw(struct dbt_cpu *c, const struct insn *i)
{
	if ((i->reg & 7) == 4) {
		umip_check(c);
		dbt_set_rm(c, i, i->mem ? 2 : i->opsize, c->cr0 &
		    opmask(i->opsize));
		return;
	}
	need_cpl0(c);
	set_cr0(c, (c->cr0 & ~0xeULL) | (dbt_get_rm(c, i, 2) & 0xf) |
	    (c->cr0 & 1));
}

/* ---- descriptor tables ------------------------------------------------ */

static void
op_dtr(struct dbt_cpu *c, const struct insn *i)
{
	struct x86_dtr *t = (i->reg & 1) ? &c->idtr : &c->gdtr;
	uint64_t ea;

	if (!i->mem)
		dbt_ud(c);
	ea = dbt_ea(c, i);
	if ((i->reg & 7) < 2) { /* SGDT, SIDT */
		umip_check(c);
		dbt_write16(c, i->seg, ea, t->limit);
		if (c->long64)
			dbt_write64(c, i->seg, ea + 2, t->base);
		else
			dbt_write32(c, i->seg, ea + 2, (uint32_t)t->base);
		return;
	}
	need_cpl0(c);
	{
		uint16_t limit = dbt_read16(c, i->seg, ea);
		uint64_t base = c->long64 ? dbt_read64(c, i->seg, ea + 2) :
		    dbt_read32(c, i->seg, ea + 2);

		if (!c->long64 && i->opsize == 2)
			base &= 0xffffff;
		t->limit = limit;
		t->base = base;
	}
}

static void
op_grp6(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t d[2];
	uint16_t sel;
	struct x86_seg s;

	if (!c->pe || c->v86)
		dbt_ud(c);
	switch (i->reg & 7) {
	case 0: /* SLDT */
		umip_check(c);
		dbt_set_rm(c, i, i->mem ? 2 : i->opsize,
		    c->seg[X86_LDTR].sel);
		return;
	case 1: /* STR */
		umip_check(c);
		dbt_set_rm(c, i, i->mem ? 2 : i->opsize, c->seg[X86_TR].sel);
		return;
	case 2: /* LLDT */
	case 3: /* LTR */
		need_cpl0(c);
		sel = (uint16_t)dbt_get_rm(c, i, 2);
		if ((sel & ~3u) == 0) {
			if ((i->reg & 7) == 3)
				dbt_gp0(c);
			c->seg[X86_LDTR].sel = sel;
			c->seg[X86_LDTR].unusable = 1;
			return;
		}
		if ((sel & 4) || dbt_read_desc(c, sel, d, c->lma) < 0)
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		memset(&s, 0, sizeof(s));
		dbt_desc_to_seg(&s, sel, d, c->lma);
		if (s.s || ((i->reg & 7) == 2 ? s.type != 2 :
		    (s.type != 1 && s.type != 9)))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!s.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
		if ((i->reg & 7) == 3) {
			/* Mark the TSS busy. */
			uint64_t lo = d[0] | (2ULL << 40);

			dbt_write_lin(c, c->gdtr.base + (sel & ~7u), 8, lo,
			    DBT_ACC_SUPER);
			s.type |= 2;
			c->seg[X86_TR] = s;
		} else {
			c->seg[X86_LDTR] = s;
		}
		return;
	case 4: /* VERR */
	case 5: /* VERW */
		sel = (uint16_t)dbt_get_rm(c, i, 2);
		c->rflags &= ~(uint64_t)X86_ZF;
		if ((sel & ~3u) && dbt_read_desc(c, sel, d, false) == 0) {
			memset(&s, 0, sizeof(s));
			dbt_desc_to_seg(&s, sel, d, false);
			if (s.s && ((i->reg & 7) == 4 ? (!(s.type & 8) ||
			    (s.type & 2)) : (!(s.type & 8) && (s.type & 2))) &&
			    ((s.type & 0xc) == 0xc ||
			    (s.dpl >= c->cpl && s.dpl >= (sel & 3))))
				c->rflags |= X86_ZF;
		}
		return;
	}
	dbt_ud(c);
}

/* 0F 02 LAR, 0F 03 LSL: access rights or limit of a descriptor, ZF when
 * the selector is visible at this CPL/RPL and its type qualifies. */
static void
op_lar_lsl(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)dbt_get_rm(c, i, 2);
	bool lsl = i->op == 0x03, ok = false;
	uint64_t d[2], v = 0;
	struct x86_seg s;

	if (!c->pe || c->v86)
		dbt_ud(c);
	if ((sel & ~3u) != 0 && dbt_read_desc(c, sel, d, false) == 0) {
		memset(&s, 0, sizeof(s));
		dbt_desc_to_seg(&s, sel, d, false);
		if (s.s) {
			ok = (s.type & 0xc) == 0xc ||
			    (s.dpl >= c->cpl && s.dpl >= (sel & 3));
		} else {
			/* LDT, TSS (and call gates for LAR) qualify. */
			static const uint16_t lar32 = 0x1a0e, lsl32 = 0x0a0e;
			static const uint16_t lar64 = 0x1a04, lsl64 = 0x0a04;
			uint16_t m = c->lma ? (lsl ? lsl64 : lar64) :
			    (lsl ? lsl32 : lar32);

			ok = ((m >> s.type) & 1) && s.dpl >= c->cpl &&
			    s.dpl >= (sel & 3);
		}
		v = lsl ? s.limit : (d[0] >> 32) & 0x00f0ff00ULL;
	}
	if (!ok) {
		c->rflags &= ~(uint64_t)X86_ZF;
		return;
	}
	dbt_set_reg(c, i, i->reg, i->opsize == 2 ? 2 : 4,
	    i->opsize == 2 ? v & 0xffff : v);
	c->rflags |= X86_ZF;
}

static void
op_invlpg(struct dbt_cpu *c, const struct insn *i)
{
	need_cpl0(c);
	dbt_tlb_flush_page(c, dbt_linear(c, i->seg, dbt_ea(c, i), 1,
	    DBT_ACC_READ));
}

static void
op_swapgs(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t t;

	(void)i;
	if (!c->long64)
		dbt_ud(c);
	need_cpl0(c);
	t = c->seg[X86_GS].base;
	c->seg[X86_GS].base = c->kernel_gs_base;
	c->kernel_gs_base = t;
}

static void
op_nop_sys(struct dbt_cpu *c, const struct insn *i)
{
	(void)c;
	(void)i;
}

/*
 * LFENCE, MFENCE, SFENCE: the host's own.  Ordinary guest accesses keep
 * their order on the host (TSO); MFENCE is what orders a store before a
 * later load across vCPUs (SDM vol. 3A, 8.2.2), SFENCE orders the
 * non-temporal stores hx runs natively.
 */
static void
op_fence(struct dbt_cpu *c, const struct insn *i)
{
	(void)c;
	switch (i->reg) {
	case 5: __asm__ volatile("lfence" ::: "memory"); break;
	case 6: __asm__ volatile("mfence" ::: "memory"); break;
	default: __asm__ volatile("sfence" ::: "memory"); break;
	}
}

static void
op_wbinvd(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	need_cpl0(c);
}

/* ---- segment registers ------------------------------------------------- */

static int
sreg_of_op(const struct insn *i)
{
	if (i->map == MAP_0F)
		return (i->op & 0xf8) == 0xa0 ? X86_FS : X86_GS;
	return (i->op >> 3) & 3; /* 06 ES, 0E CS, 16 SS, 1E DS */
}

static void
op_push_sreg(struct dbt_cpu *c, const struct insn *i)
{
	dbt_push(c, i->opsize, c->seg[sreg_of_op(i)].sel);
}

static void
op_pop_sreg(struct dbt_cpu *c, const struct insn *i)
{
	int s = sreg_of_op(i);
	uint64_t sp = c->gpr[X86_RSP];
	uint16_t v = (uint16_t)dbt_pop(c, i->opsize);

	c->gpr[X86_RSP] = sp; /* restore if the load faults */
	dbt_load_seg(c, s, v);
	(void)dbt_pop(c, i->opsize);
	if (s == X86_SS)
		c->irq_shadow = c->ss_shadow = true;
}

static void
op_mov_sreg(struct dbt_cpu *c, const struct insn *i)
{
	unsigned s = i->reg & 7;

	if (s > X86_GS)
		dbt_ud(c);
	if (i->op == 0x8c) {
		dbt_set_rm(c, i, i->mem ? 2 : i->opsize, c->seg[s].sel);
		return;
	}
	if (s == X86_CS)
		dbt_ud(c);
	dbt_load_seg(c, (int)s, (uint16_t)dbt_get_rm(c, i, 2));
	if (s == X86_SS)
		c->irq_shadow = c->ss_shadow = true;
}

/* LES, LDS, LSS, LFS, LGS. */
static void
op_lfp(struct dbt_cpu *c, const struct insn *i)
{
	int s;
	unsigned size = i->opsize;
	uint64_t ea, off;
	uint16_t sel;

	if (!i->mem)
		dbt_ud(c);
	if (i->map == MAP_1B)
		s = i->op == 0xc4 ? X86_ES : X86_DS;
	else
		s = i->op == 0xb2 ? X86_SS : i->op == 0xb4 ? X86_FS : X86_GS;
	ea = dbt_ea(c, i);
	off = size == 2 ? dbt_read16(c, i->seg, ea) : size == 4 ?
	    dbt_read32(c, i->seg, ea) : dbt_read64(c, i->seg, ea);
	sel = dbt_read16(c, i->seg, ea + size);
	dbt_load_seg(c, s, sel);
	dbt_set_reg(c, i, i->reg, size, off);
}

/*
 * CALL through a call gate to a more privileged non-conforming segment
 * (SDM vol. 3A, 5.8.5, figure 5-13, and the CALL pseudo-code in vol. 2):
 * SS:ESP for the new level from the TSS, then on that stack the old SS
 * and ESP, the gate's parameter count of words or dwords copied from the
 * old stack, and the old CS and EIP.  Nothing changes until every check
 * and every write to the new stack has succeeded.
 */
static void
call_gate_inner(struct dbt_cpu *c, struct x86_seg *cs, uint16_t sel,
    uint64_t off, unsigned gsize, unsigned nparm)
{
	unsigned dpl = cs->dpl, k;
	uint64_t sp, mask, osp = c->gpr[X86_RSP], omask, parm[32], lo, hi;
	uint16_t old_ss = c->seg[X86_SS].sel, old_cs = c->seg[X86_CS].sel;
	struct x86_seg ss;

	dbt_inner_stack(c, dpl, 0, &sp, &ss);
	mask = ss.db ? 0xffffffffULL : 0xffffULL;
	omask = c->stack32 ? 0xffffffffULL : 0xffffULL;
	for (k = 0; k < nparm; k++)
		parm[k] = gsize == 4 ?
		    dbt_read32(c, X86_SS, (osp + 4 * k) & omask) :
		    dbt_read16(c, X86_SS, (osp + 2 * k) & omask);
	/* The new stack must hold the whole frame (#SS(ss) otherwise). */
	lo = (sp - (4 + nparm) * gsize) & mask;
	hi = (sp - 1) & mask;
	if ((ss.type & 4) ? lo <= ss.limit : hi > ss.limit || lo > hi)
		dbt_raise(c, X86_EXC_SS, ss.sel & 0xfffc);
	sp &= mask;
#define PUSH_NEW(v) do {                                                 \
	sp = (sp - gsize) & mask;                                        \
	dbt_write_lin(c, (ss.base + sp) & 0xffffffffULL, gsize, (v),     \
	    DBT_ACC_SUPER);                                              \
} while (0)
	PUSH_NEW(old_ss);
	PUSH_NEW(osp & omask);
	for (k = nparm; k-- > 0;)
		PUSH_NEW(parm[k]);
	PUSH_NEW(old_cs);
	PUSH_NEW(c->next_rip);
#undef PUSH_NEW
	/* Commit. */
	ss.type |= 1;
	c->seg[X86_SS] = ss;
	c->gpr[X86_RSP] = mask == 0xffffULL ?
	    (c->gpr[X86_RSP] & ~0xffffULL) | sp : sp;
	cs->sel = (uint16_t)((sel & ~3u) | dpl);
	cs->type |= 1;
	c->seg[X86_CS] = *cs;
	dbt_update_mode(c);
	c->next_rip = off;
}

/*
 * A 64-bit call gate in IA-32e mode (SDM vol. 3A, 5.8.3.1 and 5.8.5.1):
 * a 16-byte descriptor whose upper type field must be 0, to a 64-bit
 * code segment; no parameters are copied.  A CALL to an inner level
 * takes RSPn from the TSS, loads SS with a null selector of the new
 * RPL and pushes the old SS, RSP, CS and RIP as 8 bytes each; otherwise
 * CS and RIP go as 8 bytes on the current stack.
 */
static void
gate64(struct dbt_cpu *c, uint16_t sel, bool call)
{
	uint64_t g[2], d[2], off, sp;
	uint16_t tsel, old_cs = c->seg[X86_CS].sel, old_ss = c->seg[X86_SS].sel;
	uint64_t old_sp = c->gpr[X86_RSP], ret = c->next_rip;
	struct x86_seg cs;
	unsigned dpl;

	if (dbt_read_desc(c, sel, g, true) < 0 || ((g[1] >> 40) & 0x1f))
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	off = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ULL) |
	    ((g[1] & 0xffffffffULL) << 32);
	tsel = (uint16_t)(g[0] >> 16);
	if ((tsel & ~3u) == 0)
		dbt_gp0(c);
	if (dbt_read_desc(c, tsel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, tsel & 0xfffc);
	memset(&cs, 0, sizeof(cs));
	dbt_desc_to_seg(&cs, tsel, d, false);
	if (!cs.s || !(cs.type & 8) || !cs.l || cs.db || cs.dpl > c->cpl ||
	    (!call && !(cs.type & 4) && cs.dpl != c->cpl))
		dbt_raise(c, X86_EXC_GP, tsel & 0xfffc);
	if (!cs.present)
		dbt_raise(c, X86_EXC_NP, tsel & 0xfffc);
	dpl = (cs.type & 4) ? c->cpl : cs.dpl;
	if (call && dpl < c->cpl) {
		sp = dbt_tss_rsp64(c, dpl);
		if ((uint64_t)((int64_t)(sp << 16) >> 16) != sp)
			dbt_raise(c, X86_EXC_SS, 0);
		dbt_write_lin(c, sp - 8, 8, old_ss, DBT_ACC_SUPER);
		dbt_write_lin(c, sp - 16, 8, old_sp, DBT_ACC_SUPER);
		dbt_write_lin(c, sp - 24, 8, old_cs, DBT_ACC_SUPER);
		dbt_write_lin(c, sp - 32, 8, ret, DBT_ACC_SUPER);
		c->seg[X86_SS].sel = (uint16_t)dpl;
		c->seg[X86_SS].unusable = 1;
		c->seg[X86_SS].dpl = (uint8_t)dpl;
		c->gpr[X86_RSP] = sp - 32;
	} else if (call) {
		sp = c->long64 ? old_sp : old_sp & 0xffffffffULL;
		dbt_write_lin(c, sp - 8, 8, old_cs, 0);
		dbt_write_lin(c, sp - 16, 8, ret, 0);
		c->gpr[X86_RSP] = sp - 16;
	}
	dbt_desc_set_accessed(c, tsel, d[0]);
	cs.sel = (uint16_t)((tsel & ~3u) | dpl);
	cs.type |= 1;
	cs.dpl = (uint8_t)dpl;
	c->seg[X86_CS] = cs;
	dbt_update_mode(c);
	c->next_rip = off;
}

/*
 * Far transfer to sel:off: JMP or CALL to a code segment, or through a
 * call gate (SDM vol. 3A, 5.8.3-5.8.5 and the JMP and CALL pseudo-code
 * in vol. 2), or to a TSS or task gate (task.c), or through a 64-bit call
 * gate in IA-32e mode.
 */
static void
far_jump(struct dbt_cpu *c, uint16_t sel, uint64_t off, unsigned size,
    bool call)
{
	uint64_t d[2];
	struct x86_seg cs;
	uint16_t old_cs = c->seg[X86_CS].sel, gsel = 0;
	uint64_t ret = c->next_rip;
	unsigned gsize = 0, nparm = 0;

	if (!c->pe || c->v86) {
		if (call) {
			dbt_push(c, size, old_cs);
			dbt_push(c, size, ret);
		}
		dbt_load_seg(c, X86_CS, sel);
		c->next_rip = off & opmask(size);
		return;
	}
	if ((sel & ~3u) == 0)
		dbt_gp0(c);
	if (dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	memset(&cs, 0, sizeof(cs));
	dbt_desc_to_seg(&cs, sel, d, false);
	if (!cs.s && (cs.type == 0x4 || cs.type == 0xc) && !c->lma) {
		/* A call gate: DPL >= CPL and >= RPL, present; its target
		 * a code segment of DPL <= CPL (== CPL for a JMP to a
		 * non-conforming one). */
		if (cs.dpl < c->cpl || cs.dpl < (sel & 3u))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!cs.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
		gsel = sel;
		gsize = cs.type == 0xc ? 4 : 2;
		nparm = (unsigned)(d[0] >> 32) & 0x1f;
		off = (d[0] & 0xffff) | (gsize == 4 ?
		    (d[0] >> 32) & 0xffff0000ULL : 0);
		sel = (uint16_t)(d[0] >> 16);
		if ((sel & ~3u) == 0)
			dbt_gp0(c);
		if (dbt_read_desc(c, sel, d, false) < 0)
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		memset(&cs, 0, sizeof(cs));
		dbt_desc_to_seg(&cs, sel, d, false);
		if (!cs.s || !(cs.type & 8) || cs.dpl > c->cpl ||
		    (!call && !(cs.type & 4) && cs.dpl != c->cpl))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!cs.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
		if (call && !(cs.type & 4) && cs.dpl < c->cpl) {
			call_gate_inner(c, &cs, sel, off, gsize, nparm);
			dbt_desc_set_accessed(c, sel, d[0]);
			return;
		}
		size = gsize;
	} else if (!cs.s && cs.type == 0xc && c->lma) {
		if (cs.dpl < c->cpl || cs.dpl < (sel & 3u))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!cs.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
		gate64(c, sel, call);
		return;
	} else if (!cs.s && !c->lma && (cs.type == 5 ||
	    (cs.type & ~2u) == 9 || (cs.type & ~2u) == 1)) {
		/* A task switch (SDM vol. 3A, 7.3): the TSS's or the task
		 * gate's DPL >= CPL and >= RPL. */
		if (cs.dpl < c->cpl || cs.dpl < (sel & 3u))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (cs.type == 5) {
			if (!cs.present)
				dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
			sel = (uint16_t)(d[0] >> 16);
		}
		dbt_task_switch(c, sel, call ? DBT_TASK_CALL : DBT_TASK_JMP,
		    c->next_rip, false, 0);
		return;
	} else if (!cs.s) {
		/* LDT, interrupt and trap gates, and in IA-32e mode TSSs,
		 * task gates and 16-bit call gates. */
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	} else {
		if (!(cs.type & 8))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if ((cs.type & 4) ? cs.dpl > c->cpl :
		    (cs.dpl != c->cpl || (sel & 3) > c->cpl))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!cs.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
	}
	(void)gsel;
	if (call) {
		dbt_push(c, size, old_cs);
		dbt_push(c, size, ret);
	}
	dbt_desc_set_accessed(c, sel, d[0]);
	cs.sel = (uint16_t)((sel & ~3u) | c->cpl);
	cs.type |= 1;
	cs.dpl = (uint8_t)c->cpl;       /* the CPL: conforming code keeps it */
	c->seg[X86_CS] = cs;
	dbt_update_mode(c);
	c->next_rip = c->long64 ? off : off & opmask(size == 8 ? 4 : size);
}

static void
op_jmpf_ptr(struct dbt_cpu *c, const struct insn *i)
{
	far_jump(c, (uint16_t)i->imm2, i->imm, i->opsize, i->op == 0x9a);
}

static void
op_far_indirect(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t ea, off;
	uint16_t sel;

	if (!i->mem)
		dbt_ud(c);
	ea = dbt_ea(c, i);
	off = size == 2 ? dbt_read16(c, i->seg, ea) : size == 4 ?
	    dbt_read32(c, i->seg, ea) : dbt_read64(c, i->seg, ea);
	sel = dbt_read16(c, i->seg, ea + size);
	far_jump(c, sel, off, size, (i->reg & 7) == 3);
}

/* RSP + n within the stack's address size (SS.B), upper bits kept. */
static uint64_t
stack_add(const struct dbt_cpu *c, uint64_t n)
{
	uint64_t sp = c->gpr[X86_RSP];

	if (c->long64)
		return sp + n;
	if (c->stack32)
		return (sp + n) & 0xffffffffULL;
	return (sp & ~0xffffULL) | ((sp + n) & 0xffff);
}

/*
 * RETF to the same or an outer privilege level (SDM vol. 3A, 5.8.6 and
 * the RET pseudo-code in vol. 2): the return CS's RPL not below the CPL,
 * its DPL equal to that RPL (at most that RPL for conforming code); to
 * an outer level SS:ESP follow on the stack, imm16 bytes of parameters
 * are released on both stacks, and data segments the new CPL may not
 * use become null.
 */
static void
op_retf(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t off = dbt_pop(c, size), d[2], imm = i->op == 0xca ?
	    i->imm & 0xffff : 0;
	uint16_t sel = (uint16_t)dbt_pop(c, size);
	unsigned rpl = sel & 3;
	struct x86_seg cs;

	if (!c->pe || c->v86) {
		c->gpr[X86_RSP] += imm;
		dbt_load_seg(c, X86_CS, sel);
		c->next_rip = off & opmask(size);
		return;
	}
	if ((sel & ~3u) == 0 || dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	memset(&cs, 0, sizeof(cs));
	dbt_desc_to_seg(&cs, sel, d, false);
	if (!cs.s || !(cs.type & 8) || rpl < c->cpl ||
	    ((cs.type & 4) ? cs.dpl > rpl : cs.dpl != rpl))
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	if (!cs.present)
		dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
	c->gpr[X86_RSP] = stack_add(c, imm);
	cs.type |= 1;
	cs.dpl = (uint8_t)rpl;          /* the CPL, conforming code too */
	if (rpl > c->cpl) {
		uint64_t sp = dbt_pop(c, size);
		uint16_t ss = (uint16_t)dbt_pop(c, size);

		c->seg[X86_CS] = cs;
		dbt_update_mode(c);
		dbt_load_seg(c, X86_SS, ss);
		c->gpr[X86_RSP] = size == 2 ?
		    (c->gpr[X86_RSP] & ~0xffffULL) | (sp & 0xffff) : sp;
		c->gpr[X86_RSP] = stack_add(c, imm);
		if (!c->long64)
			dbt_null_outer_segs(c);
	} else {
		c->seg[X86_CS] = cs;
		dbt_update_mode(c);
	}
	c->next_rip = c->long64 ? off : off & 0xffffffffULL;
}

/* ---- INT, IRET ----------------------------------------------------------- */

/*
 * INT n in virtual-8086 mode (SDM vol. 3A, 20.3.3 and table 20-2).
 * Without CR4.VME: IOPL 3 goes to the protected-mode handler (method 1),
 * IOPL < 3 is #GP(0) (2).  With VME the TSS's interrupt redirection
 * bitmap (the 32 bytes below the I/O map base) decides: a set bit means
 * #GP(0) with IOPL < 3 (3) or the protected-mode handler (4); a clear one
 * redirects to the 8086 handler in the IVT at linear 0 (5: IOPL 3, IF
 * cleared; 6: IOPL < 3, the pushed FLAGS show VIF as IF and IOPL 3, and
 * VIF is cleared).  True if handled here.
 */
static bool
v86_int(struct dbt_cpu *c, int vec)
{
	const struct x86_seg *tr = &c->seg[X86_TR];
	unsigned iopl = (unsigned)(c->rflags & X86_IOPL) >> 12;
	uint64_t base, fl;
	uint32_t ent;
	uint8_t bit;

	if (!(c->cr4 & X86_CR4_VME)) {
		if (iopl < 3)
			dbt_gp0(c);
		return false;
	}
	if (!(tr->type & 8) || tr->limit < 0x67)
		dbt_gp0(c);
	base = dbt_read_lin(c, tr->base + 0x66, 2, DBT_ACC_SUPER);
	if (base < 32 || base - 32 + (unsigned)vec / 8 > tr->limit)
		dbt_gp0(c);
	bit = (uint8_t)dbt_read_lin(c, tr->base + base - 32 +
	    (unsigned)vec / 8, 1, DBT_ACC_SUPER);
	if (bit & (1u << (vec & 7))) {
		if (iopl < 3)
			dbt_gp0(c);
		return false;
	}
	ent = (uint32_t)dbt_read_lin(c, (uint64_t)vec * 4, 4, 0);
	fl = c->rflags & 0xffff;
	if (iopl < 3)
		fl = (fl & ~(uint64_t)X86_IF) | X86_IOPL |
		    ((c->rflags & X86_VIF) ? X86_IF : 0);
	dbt_push(c, 2, fl);
	dbt_push(c, 2, c->seg[X86_CS].sel);
	dbt_push(c, 2, c->next_rip & 0xffff);
	dbt_load_seg(c, X86_CS, (uint16_t)(ent >> 16));
	c->rflags &= ~(uint64_t)(X86_TF | X86_RF |
	    (iopl < 3 ? X86_VIF : X86_IF));
	c->next_rip = ent & 0xffff;
	return true;
}

static void
op_int(struct dbt_cpu *c, const struct insn *i)
{
	int vec;

	switch (i->op) {
	case 0xcc: vec = X86_EXC_BP; break;
	case 0xf1: vec = X86_EXC_DB; break;
	case 0xce:
		if (!(c->rflags & X86_OF))
			return;
		vec = X86_EXC_OF;
		break;
	default: vec = (int)(i->imm & 0xff); break;
	}
	if (c->v86 && i->op == 0xcd && v86_int(c, vec))
		return;
	dbt_deliver(c, vec, false, 0, true);
}

/* ---- virtual-8086 mode (SDM vol. 3A, chapter 20) ------------------------ */

/* IRET at CPL 0 to an EFLAGS image with VM set (the IRET pseudo-code's
 * RETURN-TO-VIRTUAL-8086-MODE): ESP, SS, ES, DS, FS and GS follow on the
 * stack; the segments are loaded as in real mode; CPL becomes 3. */
static void
iret_to_v86(struct dbt_cpu *c, uint64_t rip, uint16_t cs, uint64_t flags)
{
	uint64_t sp = dbt_pop(c, 4);
	uint16_t ss = (uint16_t)dbt_pop(c, 4), es = (uint16_t)dbt_pop(c, 4);
	uint16_t ds = (uint16_t)dbt_pop(c, 4), fs = (uint16_t)dbt_pop(c, 4);
	uint16_t gs = (uint16_t)dbt_pop(c, 4);

	c->rflags = (flags & 0x3f7fd7ULL) | 2;
	dbt_update_mode(c);             /* v86 now: real-mode style loads */
	dbt_load_seg(c, X86_CS, cs);
	dbt_load_seg(c, X86_SS, ss);
	dbt_load_seg(c, X86_ES, es);
	dbt_load_seg(c, X86_DS, ds);
	dbt_load_seg(c, X86_FS, fs);
	dbt_load_seg(c, X86_GS, gs);
	c->gpr[X86_RSP] = sp & 0xffffffffULL;
	c->nmi_blocked = false;
	dbt_update_mode(c);
	c->next_rip = rip & 0xffff;
}

/*
 * IRET in virtual-8086 mode: with IOPL 3 a real-mode IRET (IOPL itself
 * kept); with IOPL < 3 #GP(0), unless CR4.VME and a 16-bit operand:
 * then IF's image goes to VIF, and #GP(0) if it would set VIF while VIP
 * is set or set TF (SDM 20.3.2 and the IRET pseudo-code).
 */
static void
v86_iret(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t rip, flags;
	uint16_t cs;

	if (((c->rflags & X86_IOPL) >> 12) < 3 && !(vme(c) && size == 2))
		dbt_gp0(c);
	if (((c->rflags & X86_IOPL) >> 12) < 3) {
		uint64_t sp = c->gpr[X86_RSP] & 0xffff;

		flags = dbt_read16(c, X86_SS, (sp + 4) & 0xffff);
		if (((flags & X86_IF) && (c->rflags & X86_VIP)) ||
		    (flags & X86_TF))
			dbt_gp0(c);
		rip = dbt_pop(c, 2);
		cs = (uint16_t)dbt_pop(c, 2);
		(void)dbt_pop(c, 2);
		dbt_load_seg(c, X86_CS, cs);
		c->rflags = (c->rflags & ~(uint64_t)(0xffff & ~(X86_IOPL |
		    X86_IF))) | (flags & 0xffff & ~(uint64_t)(X86_IOPL |
		    X86_IF)) | 2;
		c->rflags = (c->rflags & ~(uint64_t)X86_VIF) |
		    ((flags & X86_IF) ? X86_VIF : 0);
		dbt_update_mode(c);
		c->next_rip = rip & 0xffff;
		return;
	}
	rip = dbt_pop(c, size);
	cs = (uint16_t)dbt_pop(c, size);
	flags = dbt_pop(c, size);
	dbt_load_seg(c, X86_CS, cs);
	dbt_write_flags(c, flags, opmask(size));
	c->next_rip = rip & 0xffff;
}

static void
op_iret(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t rip, flags, rsp = 0, d[2];
	uint16_t cs_sel, ss_sel = 0;
	struct x86_seg cs;
	unsigned rpl;
	bool outer, popped;

	if (!c->pe) {
		rip = dbt_pop(c, size);
		cs_sel = (uint16_t)dbt_pop(c, size);
		flags = dbt_pop(c, size);
		dbt_load_seg(c, X86_CS, cs_sel);
		dbt_write_flags(c, flags, opmask(size));
		c->next_rip = rip & opmask(size);
		c->nmi_blocked = false;
		dbt_update_mode(c);
		return;
	}
	if (c->v86) {
		v86_iret(c, i);
		return;
	}
	if (c->rflags & X86_NT) {
		/* A return to the task in the back-link (SDM vol. 3A,
		 * 7.3); IA-32e mode has none: #GP(0). */
		if (c->lma)
			dbt_gp0(c);
		dbt_task_switch(c, (uint16_t)dbt_read_lin(c,
		    c->seg[X86_TR].base, 2, DBT_ACC_SUPER), DBT_TASK_IRET,
		    c->next_rip, false, 0);
		return;
	}
	rip = dbt_pop(c, size);
	cs_sel = (uint16_t)dbt_pop(c, size);
	flags = dbt_pop(c, size);
	rpl = cs_sel & 3;
	if (!c->lma && (flags & X86_VM) && c->cpl == 0 && size == 4) {
		iret_to_v86(c, rip, cs_sel, flags);
		return;
	}
	popped = c->long64 || rpl > c->cpl;
	if (popped) {
		rsp = dbt_pop(c, size);
		ss_sel = (uint16_t)dbt_pop(c, size);
	}
	if ((cs_sel & ~3u) == 0 || dbt_read_desc(c, cs_sel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, cs_sel & 0xfffc);
	memset(&cs, 0, sizeof(cs));
	dbt_desc_to_seg(&cs, cs_sel, d, false);
	if (!cs.s || !(cs.type & 8) || rpl < c->cpl ||
	    ((cs.type & 4) ? cs.dpl > rpl : cs.dpl != rpl))
		dbt_raise(c, X86_EXC_GP, cs_sel & 0xfffc);
	if (!cs.present)
		dbt_raise(c, X86_EXC_NP, cs_sel & 0xfffc);
	outer = rpl > c->cpl;
	/* Commit: flags with the old CPL's privileges (VIF and VIP from
	 * CPL 0 only), then CS and SS. */
	if (c->cpl == 0 && size >= 4)
		c->rflags = (c->rflags & ~(uint64_t)(X86_VIF | X86_VIP)) |
		    (flags & (X86_VIF | X86_VIP));
	dbt_write_flags(c, flags, opmask(size));
	cs.type |= 1;
	cs.dpl = (uint8_t)rpl;          /* the CPL, conforming code too */
	c->seg[X86_CS] = cs;
	dbt_update_mode(c);
	/* SS:RSP as popped (64-bit mode, or a return to an outer level). */
	if (popped) {
		if (c->lma && (ss_sel & ~3u) == 0) {
			c->seg[X86_SS].sel = ss_sel;
			c->seg[X86_SS].unusable = rpl == 3;
			c->seg[X86_SS].dpl = (uint8_t)rpl;
		} else {
			dbt_load_seg(c, X86_SS, ss_sel);
		}
		c->gpr[X86_RSP] = size == 4 ? rsp & 0xffffffffULL : rsp;
	}
	c->nmi_blocked = false;
	dbt_update_mode(c);
	/* Null data segments the new CPL may not use. */
	if (outer && !c->long64)
		dbt_null_outer_segs(c);
	c->next_rip = c->long64 ? rip : rip & 0xffffffffULL;
}

/* ---- SYSCALL / SYSRET / SYSENTER / SYSEXIT ------------------------------ */

static void
flat_seg(struct x86_seg *s, uint16_t sel, bool code, unsigned dpl, bool l)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->limit = 0xffffffff;
	s->type = code ? 0xb : 0x3;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->l = l;
	s->db = !l;
	s->g = 1;
}

static void
op_syscall(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)((c->star >> 32) & 0xffff);

	(void)i;
	if (!(c->efer & X86_EFER_SCE) || !c->pe)
		dbt_ud(c);
	if (c->lma) {
		c->gpr[X86_RCX] = c->next_rip;
		c->gpr[X86_R11] = c->rflags & ~(uint64_t)X86_RF;
		flat_seg(&c->seg[X86_CS], sel & 0xfffc, true, 0, true);
		flat_seg(&c->seg[X86_SS], (uint16_t)(sel + 8), false, 0,
		    false);
		c->rflags &= ~(c->sfmask | X86_RF);
		c->rflags |= 2;
		dbt_update_mode(c);
		c->next_rip = c->long64 ? c->lstar : c->cstar;
		return;
	}
	c->gpr[X86_RCX] = c->next_rip & 0xffffffffULL;
	flat_seg(&c->seg[X86_CS], sel & 0xfffc, true, 0, false);
	flat_seg(&c->seg[X86_SS], (uint16_t)(sel + 8), false, 0, false);
	c->rflags &= ~(uint64_t)(X86_VM | X86_IF | X86_RF);
	dbt_update_mode(c);
	c->next_rip = c->star & 0xffffffffULL;
}

static void
op_sysret(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)((c->star >> 48) & 0xffff);
	bool to64 = i->opsize == 8;

	if (!(c->efer & X86_EFER_SCE) || !c->pe)
		dbt_ud(c);
	need_cpl0(c);
	if (c->lma) {
		if (to64 && (uint64_t)(((int64_t)c->gpr[X86_RCX] << 16) >>
		    16) != c->gpr[X86_RCX])
			dbt_gp0(c);
		flat_seg(&c->seg[X86_CS], (uint16_t)((to64 ? sel + 16 : sel) |
		    3), true, 3, to64);
		dbt_write_flags(c, (c->gpr[X86_R11] & 0x3c7fd7) | 2, ~0ULL);
		c->rflags = (c->gpr[X86_R11] & 0x3c7fd7) | 2;
		c->next_rip = to64 ? c->gpr[X86_RCX] :
		    c->gpr[X86_RCX] & 0xffffffffULL;
	} else {
		flat_seg(&c->seg[X86_CS], (uint16_t)(sel | 3), true, 3, false);
		c->rflags |= X86_IF;
		c->next_rip = c->gpr[X86_RCX] & 0xffffffffULL;
	}
	/* SS keeps its cached flat attributes; only the selector changes. */
	c->seg[X86_SS].sel = (uint16_t)((sel + 8) | 3);
	c->seg[X86_SS].dpl = 3;
	c->seg[X86_SS].unusable = 0;
	c->seg[X86_SS].present = 1;
	c->seg[X86_SS].s = 1;
	c->seg[X86_SS].type = 3;
	c->seg[X86_SS].db = 1;
	c->seg[X86_SS].base = 0;
	c->seg[X86_SS].limit = 0xffffffff;
	c->seg[X86_SS].g = 1;
	dbt_update_mode(c);
}

static void
op_sysenter(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)c->sysenter_cs;

	(void)i;
	if (!c->pe || (sel & 0xfffc) == 0)
		dbt_gp0(c);
	flat_seg(&c->seg[X86_CS], sel & 0xfffc, true, 0, c->lma);
	flat_seg(&c->seg[X86_SS], (uint16_t)((sel & 0xfffc) + 8), false, 0,
	    false);
	c->rflags &= ~(uint64_t)(X86_VM | X86_IF | X86_RF);
	c->gpr[X86_RSP] = c->lma ? c->sysenter_esp :
	    c->sysenter_esp & 0xffffffffULL;
	dbt_update_mode(c);
	c->next_rip = c->lma ? c->sysenter_eip :
	    c->sysenter_eip & 0xffffffffULL;
}

static void
op_sysexit(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)c->sysenter_cs;
	bool to64 = i->opsize == 8;

	if (!c->pe || (sel & 0xfffc) == 0)
		dbt_gp0(c);
	need_cpl0(c);
	flat_seg(&c->seg[X86_CS], (uint16_t)((sel + (to64 ? 32 : 16)) | 3),
	    true, 3, to64);
	flat_seg(&c->seg[X86_SS], (uint16_t)((sel + (to64 ? 40 : 24)) | 3),
	    false, 3, false);
	c->gpr[X86_RSP] = to64 ? c->gpr[X86_RCX] :
	    c->gpr[X86_RCX] & 0xffffffffULL;
	dbt_update_mode(c);
	c->next_rip = to64 ? c->gpr[X86_RDX] : c->gpr[X86_RDX] & 0xffffffffULL;
}

/* ---- MSRs, CPUID, TSC --------------------------------------------------- */

static int
mtrr_index(uint32_t msr)
{
	if (msr >= 0x200 && msr < 0x210)
		return (int)(msr - 0x200);
	switch (msr) {
	case 0x250: return 16;
	case 0x258: return 17;
	case 0x259: return 18;
	case 0x268: case 0x269: case 0x26a: case 0x26b: case 0x26c:
	case 0x26d: case 0x26e: case 0x26f:
		return (int)(msr - 0x268 + 19);
	case 0x2ff: return 27;
	}
	return -1;
}

static int
rdmsr(struct dbt_cpu *c, uint32_t msr, uint64_t *v)
{
	int k;

	switch (msr) {
	case MSR_EFER: *v = c->efer; return 0;
	case MSR_STAR: *v = c->star; return 0;
	case MSR_LSTAR: *v = c->lstar; return 0;
	case MSR_CSTAR: *v = c->cstar; return 0;
	case MSR_SFMASK: *v = c->sfmask; return 0;
	case MSR_FS_BASE: *v = c->seg[X86_FS].base; return 0;
	case MSR_GS_BASE: *v = c->seg[X86_GS].base; return 0;
	case MSR_KERNEL_GS_BASE: *v = c->kernel_gs_base; return 0;
	case MSR_IA32_SYSENTER_CS: *v = c->sysenter_cs; return 0;
	case MSR_IA32_SYSENTER_ESP: *v = c->sysenter_esp; return 0;
	case MSR_IA32_SYSENTER_EIP: *v = c->sysenter_eip; return 0;
	case MSR_IA32_PAT: *v = c->pat; return 0;
	case MSR_IA32_TSC: *v = dbt_rdtsc(c); return 0;
	case MSR_TSC_AUX: *v = c->tsc_aux; return 0;
	case MSR_IA32_MISC_ENABLE: *v = c->misc_enable | 1; return 0;
	case MSR_IA32_APIC_BASE:
		*v = c->vm->intc ? lapic_get_base(c->vm->intc, c->index) :
		    0xfee00000ULL | (1u << 11) | (c->index ? 0 : 1u << 8);
		return 0;
	case 0x17: /* platform id */
	case 0x8b: /* microcode revision */
	case 0x3a: /* feature control */
	case 0x179: /* MCG_CAP: no banks */
	case 0x17a: /* MCG_STATUS */
		*v = 0;
		return 0;
	case 0xfe: /* MTRRcap: 8 variable ranges, fixed, WC */
		*v = 0x508;
		return 0;
	case 0x10a: /* ARCH_CAPABILITIES */
		*v = cpu_arch_capabilities();
		return 0;
	case 0x48: /* SPEC_CTRL: IBRS and BHI_DIS_S (no STIBP, SSBD) */
		*v = c->spec_ctrl;
		return 0;
	}
	if (c->vm->intc && lapic_msr_read(c->vm->intc, c->index, msr, v) == 0)
		return 0;
	k = mtrr_index(msr);
	if (k >= 0) {
		*v = mtrr_store[c->index][k];
		return 0;
	}
	return -1;
}

static int
wrmsr(struct dbt_cpu *c, uint32_t msr, uint64_t v)
{
	int k;

	switch (msr) {
	case MSR_EFER:
		if (v & ~(uint64_t)(X86_EFER_SCE | X86_EFER_LME |
		    X86_EFER_LMA | X86_EFER_NXE))
			return -1;
		if (((v ^ c->efer) & X86_EFER_LME) && (c->cr0 & X86_CR0_PG))
			return -1;
		c->efer = (v & ~(uint64_t)X86_EFER_LMA) |
		    (c->efer & X86_EFER_LMA);
		dbt_tlb_flush(c);
		dbt_update_mode(c);
		return 0;
	case MSR_STAR: c->star = v; return 0;
	case MSR_LSTAR: c->lstar = v; return 0;
	case MSR_CSTAR: c->cstar = v; return 0;
	case MSR_SFMASK: c->sfmask = v & 0xffffffffULL; return 0;
	case MSR_FS_BASE: c->seg[X86_FS].base = v; return 0;
	case MSR_GS_BASE: c->seg[X86_GS].base = v; return 0;
	case MSR_KERNEL_GS_BASE: c->kernel_gs_base = v; return 0;
	case MSR_IA32_SYSENTER_CS: c->sysenter_cs = v & 0xffff; return 0;
	case MSR_IA32_SYSENTER_ESP: c->sysenter_esp = v; return 0;
	case MSR_IA32_SYSENTER_EIP: c->sysenter_eip = v; return 0;
	case MSR_IA32_PAT: c->pat = v; return 0;
	case MSR_IA32_TSC:
		c->tsc_offset += (int64_t)(v - dbt_rdtsc(c));
		return 0;
	case MSR_TSC_AUX: c->tsc_aux = v & 0xffffffffULL; return 0;
	case MSR_IA32_MISC_ENABLE: c->misc_enable = v; return 0;
	case MSR_IA32_APIC_BASE:
		if (c->vm->intc)
			lapic_set_base(c->vm->intc, c->index, v);
		return 0;
	case 0x8b:
	case 0x17a:
		return 0;
	case 0x48: /* SPEC_CTRL: a DBT has no branch predictor to restrict */
		if (v & ~SPEC_CTRL_BITS)
			return -1;
		c->spec_ctrl = v;
		return 0;
	case 0x49: /* PRED_CMD: IBPB, nothing to flush */
		return (v & ~1ULL) ? -1 : 0;
	}
	if (c->vm->intc && lapic_msr_write(c->vm->intc, c->index, msr, v) == 0)
		return 0;
	k = mtrr_index(msr);
	if (k >= 0) {
		mtrr_store[c->index][k] = v;
		return 0;
	}
	return -1;
}

static void
op_rdmsr(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v;
	int ret;

	(void)i;
	need_cpl0(c);
	if (c->vm->intc)
		pthread_mutex_lock(&c->vm->io_lock);    /* as in op_wrmsr */
	ret = rdmsr(c, (uint32_t)c->gpr[X86_RCX], &v);
	if (c->vm->intc)
		pthread_mutex_unlock(&c->vm->io_lock);
	if (ret < 0)
		dbt_gp0(c);
	c->gpr[X86_RAX] = v & 0xffffffffULL;
	c->gpr[X86_RDX] = v >> 32;
}

static void
op_wrmsr(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v = (c->gpr[X86_RDX] << 32) | (uint32_t)c->gpr[X86_RAX];

	(void)i;
	need_cpl0(c);
	/* The LAPIC's MSRs (x2APIC, APIC base) are the interrupt
	 * controllers', which the I/O thread's timers reach too: all under
	 * io_lock, as every other way into them. */
	if (c->vm->intc)
		pthread_mutex_lock(&c->vm->io_lock);
	if (wrmsr(c, (uint32_t)c->gpr[X86_RCX], v) < 0) {
		if (c->vm->intc)
			pthread_mutex_unlock(&c->vm->io_lock);
		dbt_gp0(c);
	}
	if (c->vm->intc)
		pthread_mutex_unlock(&c->vm->io_lock);
}

static void
op_cpuid(struct dbt_cpu *c, const struct insn *i)
{
	uint32_t out[4];

	(void)i;
	cpu_cpuid((uint32_t)c->gpr[X86_RAX], (uint32_t)c->gpr[X86_RCX],
	    c->index, c->vm->ncpus, out);
	c->gpr[X86_RAX] = out[0];
	c->gpr[X86_RBX] = out[1];
	c->gpr[X86_RCX] = out[2];
	c->gpr[X86_RDX] = out[3];
}

static void
op_rdtsc(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t t;

	if ((c->cr4 & X86_CR4_TSD) && c->cpl != 0)
		dbt_gp0(c);
	t = dbt_rdtsc(c);
	c->gpr[X86_RAX] = t & 0xffffffffULL;
	c->gpr[X86_RDX] = t >> 32;
	if (i->map == MAP_0F && i->op == 0x01)
		c->gpr[X86_RCX] = c->tsc_aux & 0xffffffffULL;
}

/* 63: ARPL outside 64-bit mode, MOVSXD inside. */
void dbt_op_movsxd(struct dbt_cpu *c, const struct insn *i);
static void
op_63(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t dst, src;

	if (c->long64) {
		dbt_op_movsxd(c, i);
		return;
	}
	if (!c->pe || c->v86)
		dbt_ud(c);
	dst = (uint16_t)dbt_get_rm(c, i, 2);
	src = (uint16_t)dbt_get_reg(c, i, i->reg, 2);
	if ((dst & 3) < (src & 3)) {
		dbt_set_rm(c, i, 2, (dst & ~3u) | (src & 3));
		c->rflags |= X86_ZF;
	} else {
		c->rflags &= ~(uint64_t)X86_ZF;
	}
}

#define E(map, op_, fn) { map, op_, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, fn }
#define R(map, op_, reg, fn) { map, op_, PFX_ANY, reg, OP_MOD_ANY, OP_ANY, fn }
#define RM(map, op_, reg, mod, fn) { map, op_, PFX_ANY, reg, mod, OP_ANY, fn }
#define RR(map, op_, reg, rm, fn) \
	{ map, op_, PFX_ANY, reg, OP_MOD_REG, rm, fn }

const struct op_entry dbt_ops_sys[] = {
	E(0, 0x06, op_push_sreg), E(0, 0x07, op_pop_sreg),
	E(0, 0x0e, op_push_sreg), E(0, 0x16, op_push_sreg),
	E(0, 0x17, op_pop_sreg), E(0, 0x1e, op_push_sreg),
	E(0, 0x1f, op_pop_sreg), E(0, 0x63, op_63),
	E(0, 0x8c, op_mov_sreg), E(0, 0x8e, op_mov_sreg),
	E(0, 0x9a, op_jmpf_ptr), E(0, 0x9c, op_pushf), E(0, 0x9d, op_popf),
	E(0, 0xc4, op_lfp), E(0, 0xc5, op_lfp),
	E(0, 0xca, op_retf), E(0, 0xcb, op_retf),
	E(0, 0xcc, op_int), E(0, 0xcd, op_int), E(0, 0xce, op_int),
	E(0, 0xcf, op_iret), E(0, 0xea, op_jmpf_ptr), E(0, 0xf1, op_int),
	E(0, 0xf4, op_hlt), E(0, 0xfa, op_cli), E(0, 0xfb, op_sti),
	RM(0, 0xff, 3, OP_MOD_MEM, op_far_indirect),
	RM(0, 0xff, 5, OP_MOD_MEM, op_far_indirect),
	E(1, 0x00, op_grp6), E(1, 0x02, op_lar_lsl), E(1, 0x03, op_lar_lsl),
	RM(1, 0x01, 0, OP_MOD_MEM, op_dtr), RM(1, 0x01, 1, OP_MOD_MEM, op_dtr),
	RM(1, 0x01, 2, OP_MOD_MEM, op_dtr), RM(1, 0x01, 3, OP_MOD_MEM, op_dtr),
	R(1, 0x01, 4, op_lmsw_smsw), R(1, 0x01, 6, op_lmsw_smsw),
	RM(1, 0x01, 7, OP_MOD_MEM, op_invlpg),
	RR(1, 0x01, 7, 0, op_swapgs), RR(1, 0x01, 7, 1, op_rdtsc),
	RR(1, 0x01, 1, 2, op_stac_clac), RR(1, 0x01, 1, 3, op_stac_clac),
	E(1, 0x05, op_syscall), E(1, 0x06, op_clts), E(1, 0x07, op_sysret),
	E(1, 0x08, op_wbinvd), E(1, 0x09, op_wbinvd),
	E(1, 0x20, op_mov_cr), E(1, 0x22, op_mov_cr),
	E(1, 0x21, op_mov_dr), E(1, 0x23, op_mov_dr),
	E(1, 0x30, op_wrmsr), E(1, 0x31, op_rdtsc), E(1, 0x32, op_rdmsr),
	E(1, 0x34, op_sysenter), E(1, 0x35, op_sysexit),
	E(1, 0xa0, op_push_sreg), E(1, 0xa1, op_pop_sreg), E(1, 0xa2, op_cpuid),
	E(1, 0xa8, op_push_sreg), E(1, 0xa9, op_pop_sreg),
	E(1, 0xb2, op_lfp), E(1, 0xb4, op_lfp), E(1, 0xb5, op_lfp),
	/* 0F AE: fences (mod 3, /5 /6 /7) and CLFLUSH (/7 memory). */
	RM(1, 0xae, 5, OP_MOD_REG, op_fence),
	RM(1, 0xae, 6, OP_MOD_REG, op_fence),
	RM(1, 0xae, 7, OP_MOD_REG, op_fence),
	RM(1, 0xae, 7, OP_MOD_MEM, op_nop_sys),
	{ 0 },
};

const dbt_fn dbt_enders_sys[] = {
	op_pop_sreg, op_mov_sreg, op_jmpf_ptr, op_far_indirect, op_popf,
	op_lfp, op_retf, op_int, op_iret, op_hlt, op_sti, op_cli, op_grp6,
	op_dtr, op_lmsw_smsw, op_invlpg, op_swapgs, op_syscall, op_sysret,
	op_sysenter, op_sysexit, op_mov_cr, op_wrmsr, op_clts,
	/* serializing: code another vCPU wrote runs after it (SDM vol. 3A,
	 * 8.1.3), not the rest of a stale block */
	op_cpuid, op_wbinvd, NULL,
};
