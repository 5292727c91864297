/*
 * Exception and interrupt delivery (Intel SDM vol. 3, chapter 6): through
 * the real-mode IVT, 32-bit protected-mode interrupt and trap gates (with
 * the stack switch from the TSS on a privilege change), and 64-bit IDT
 * gates (IST, 16-byte aligned frames).  A fault while delivering becomes
 * #DF when the SDM's table 6-5 says so; a fault while delivering #DF is a
 * triple fault, which stops the vCPU with CPU_EXIT_SHUTDOWN.
 * Task gates switch tasks (task.c).  From virtual-8086 mode an interrupt
 * goes to a DPL 0 handler with ES, DS, FS and GS saved on its stack.
 */
#include "dbt/dbt-int.h"

#include <stdio.h>

#include "cpu/cpu.h"
#include "dbt/seg.h"
#include "hw/intc.h"
#include "vm/vm.h"

static bool
contributory(int v)
{
	return v == X86_EXC_DE || (v >= X86_EXC_TS && v <= X86_EXC_GP);
}

/* Fault-class exceptions (SDM vol. 3, table 6-1): the CPU sets RF in the
 * RFLAGS image it pushes for them, so that the IRET back to the faulting
 * instruction does not retrigger an instruction breakpoint on it.  #DB is
 * left out (as a fault it is the instruction breakpoint itself). */
static bool
fault_class(int v)
{
	return v == X86_EXC_DE || v == X86_EXC_BR || v == X86_EXC_UD ||
	    v == X86_EXC_NM || (v >= X86_EXC_TS && v <= X86_EXC_PF) ||
	    v == X86_EXC_MF || v == X86_EXC_AC || v == X86_EXC_XM ||
	    v == 20 || v == 21;
}

#define stop(c, reason, fmt, vec)                                          \
	do {                                                               \
		snprintf((c)->diag, sizeof((c)->diag), fmt, vec,           \
		    (unsigned long long)(c)->rip);                         \
		(c)->exit_reason = reason;                                 \
	} while (0)

static void
push_lin(struct dbt_cpu *c, uint64_t *sp, uint64_t sp_base, unsigned size,
    uint64_t mask, uint64_t v)
{
	*sp = (*sp - size) & mask;
	dbt_write_lin(c, (sp_base + *sp) & (c->lma ? ~0ULL : 0xffffffffULL),
	    size, v, DBT_ACC_SUPER);
}

static void
deliver_real(struct dbt_cpu *c, int vec, uint64_t ret)
{
	uint64_t sp = c->gpr[X86_RSP] & 0xffff, base = c->seg[X86_SS].base;
	uint32_t ent;

	if ((uint64_t)vec * 4 + 3 > c->idtr.limit)
		dbt_raise(c, X86_EXC_GP, (uint32_t)vec * 8 + 2);
	ent = (uint32_t)dbt_read_lin(c, c->idtr.base + (uint64_t)vec * 4, 4,
	    DBT_ACC_SUPER);
	push_lin(c, &sp, base, 2, 0xffff, c->rflags & 0xffff);
	push_lin(c, &sp, base, 2, 0xffff, c->seg[X86_CS].sel);
	push_lin(c, &sp, base, 2, 0xffff, ret & 0xffff);
	c->gpr[X86_RSP] = (c->gpr[X86_RSP] & ~0xffffULL) | sp;
	c->rflags &= ~(uint64_t)(X86_IF | X86_TF | X86_AC | X86_RF);
	dbt_load_seg(c, X86_CS, (uint16_t)(ent >> 16));
	c->rip = ent & 0xffff;
}

/* The stack pointer for privilege level dpl from the TSS. */
static void
tss_stack(struct dbt_cpu *c, unsigned dpl, int ist, uint64_t *sp,
    uint16_t *ss)
{
	const struct x86_seg *tr = &c->seg[X86_TR];
	uint64_t off;

	if (c->lma) {
		off = ist ? 0x24 + 8 * (uint64_t)(ist - 1) : 4 + 8 * dpl;
		if (off + 7 > tr->limit)
			dbt_raise(c, X86_EXC_TS, tr->sel & 0xfffc);
		*sp = dbt_read_lin(c, tr->base + off, 8, DBT_ACC_SUPER);
		*ss = 0;
		return;
	}
	if (tr->type & 8) { /* 32-bit TSS */
		off = 4 + 8 * dpl;
		if (off + 5 > tr->limit)
			dbt_raise(c, X86_EXC_TS, tr->sel & 0xfffc);
		*sp = dbt_read_lin(c, tr->base + off, 4, DBT_ACC_SUPER);
		*ss = (uint16_t)dbt_read_lin(c, tr->base + off + 4, 2,
		    DBT_ACC_SUPER);
	} else {
		off = 2 + 4 * dpl;
		if (off + 3 > tr->limit)
			dbt_raise(c, X86_EXC_TS, tr->sel & 0xfffc);
		*sp = dbt_read_lin(c, tr->base + off, 2, DBT_ACC_SUPER);
		*ss = (uint16_t)dbt_read_lin(c, tr->base + off + 2, 2,
		    DBT_ACC_SUPER);
	}
}

uint64_t
dbt_tss_rsp64(struct dbt_cpu *c, unsigned dpl)
{
	uint64_t sp;
	uint16_t ss;

	tss_stack(c, dpl, 0, &sp, &ss);
	return sp;
}

/*
 * The stack of inner privilege level dpl from the TSS, checked as a call
 * through a call gate and an interrupt check it (SDM vol. 3A, 5.8.5 and
 * 6.12.1; the CALL and INT n pseudo-code in vol. 2): a null selector,
 * one outside its table, or one whose RPL or DPL is not dpl or that is
 * not a writable data segment is #TS(selector + ext); a not-present
 * one #SS(selector + ext).
 */
void
dbt_inner_stack(struct dbt_cpu *c, unsigned dpl, uint32_t ext, uint64_t *sp,
    struct x86_seg *ss)
{
	uint64_t d[2];
	uint16_t sel;

	tss_stack(c, dpl, 0, sp, &sel);
	if ((sel & ~3u) == 0 || dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_TS, (sel & 0xfffc) + ext);
	memset(ss, 0, sizeof(*ss));
	dbt_desc_to_seg(ss, sel, d, false);
	if ((sel & 3u) != dpl || ss->dpl != dpl || !ss->s ||
	    (ss->type & 8) || !(ss->type & 2))
		dbt_raise(c, X86_EXC_TS, (sel & 0xfffc) + ext);
	if (!ss->present)
		dbt_raise(c, X86_EXC_SS, (sel & 0xfffc) + ext);
}

static void
deliver_prot(struct dbt_cpu *c, int vec, bool has_err, uint32_t err,
    bool sw, uint64_t ret)
{
	unsigned gsz = c->lma ? 16 : 8, type, gdpl, ist, size, new_cpl;
	uint32_t ext = sw ? 0 : 1, verr = (uint32_t)vec * 8 + 2 + ext;
	uint64_t g[2] = { 0, 0 }, d[2], off, sp, sp_base, mask, old_sp;
	uint64_t old_flags = c->rflags;
	uint16_t sel, new_ss = 0, old_ss = c->seg[X86_SS].sel;
	uint16_t old_cs = c->seg[X86_CS].sel;
	struct x86_seg cs;
	bool priv;

	if ((uint64_t)vec * gsz + gsz - 1 > c->idtr.limit)
		dbt_raise(c, X86_EXC_GP, verr);
	g[0] = dbt_read_lin(c, c->idtr.base + (uint64_t)vec * gsz, 8,
	    DBT_ACC_SUPER);
	if (c->lma)
		g[1] = dbt_read_lin(c, c->idtr.base + (uint64_t)vec * gsz + 8,
		    8, DBT_ACC_SUPER);
	type = (unsigned)(g[0] >> 40) & 0x1f;
	gdpl = (unsigned)(g[0] >> 45) & 3;
	ist = c->lma ? (unsigned)(g[0] >> 32) & 7 : 0;
	if (type == 0x05 && !c->lma) {
		/* A task gate: a task switch (SDM vol. 3A, 6.12.2), the
		 * error code pushed on the new task's stack. */
		if (sw && gdpl < c->cpl)
			dbt_raise(c, X86_EXC_GP, (uint32_t)vec * 8 + 2);
		if (!((g[0] >> 47) & 1))
			dbt_raise(c, X86_EXC_NP, verr);
		dbt_task_switch(c, (uint16_t)(g[0] >> 16), DBT_TASK_INT, ret,
		    has_err, err);
		return;
	}
	if (c->lma ? (type != 0x0e && type != 0x0f) :
	    (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07))
		dbt_raise(c, X86_EXC_GP, verr);
	if (sw && gdpl < c->cpl)
		dbt_raise(c, X86_EXC_GP, (uint32_t)vec * 8 + 2);
	if (!((g[0] >> 47) & 1))
		dbt_raise(c, X86_EXC_NP, verr);
	sel = (uint16_t)(g[0] >> 16);
	off = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ULL);
	if (c->lma)
		off |= (g[1] & 0xffffffffULL) << 32;
	else if (!(type & 8))
		off &= 0xffff;
	if ((sel & ~3u) == 0)
		dbt_raise(c, X86_EXC_GP, ext);
	if (dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, (sel & 0xfffc) + ext);
	memset(&cs, 0, sizeof(cs));
	dbt_desc_to_seg(&cs, sel, d, false);
	if (!cs.s || !(cs.type & 8) || cs.dpl > c->cpl)
		dbt_raise(c, X86_EXC_GP, (sel & 0xfffc) + ext);
	if (!cs.present)
		dbt_raise(c, X86_EXC_NP, (sel & 0xfffc) + ext);
	/* From virtual-8086 mode only to a non-conforming DPL 0 handler
	 * (SDM vol. 3A, 20.3.1.1). */
	if (c->v86 && ((cs.type & 4) || cs.dpl != 0))
		dbt_raise(c, X86_EXC_GP, (sel & 0xfffc) + ext);
	new_cpl = (cs.type & 4) ? c->cpl : cs.dpl;
	priv = new_cpl < c->cpl;
	old_sp = c->gpr[X86_RSP];
	if (c->lma) {
		if (priv || ist) {
			tss_stack(c, new_cpl, (int)ist, &sp, &new_ss);
		} else {
			sp = old_sp;
		}
		sp &= ~15ULL;
		sp_base = 0;
		mask = ~0ULL;
		size = 8;
		new_ss = (uint16_t)new_cpl; /* NULL selector, RPL = CPL */
	} else {
		size = (type & 8) ? 4 : 2;
		if (priv) {
			struct x86_seg ss;

			dbt_inner_stack(c, new_cpl, ext, &sp, &ss);
			new_ss = ss.sel;
			sp_base = ss.base;
			mask = ss.db ? 0xffffffffULL : 0xffffULL;
		} else {
			sp = old_sp;
			sp_base = c->seg[X86_SS].base;
			mask = c->stack32 ? 0xffffffffULL : 0xffffULL;
		}
		sp &= mask;
	}
	if (!sw && fault_class(vec))
		old_flags |= X86_RF;
	if (c->v86) {
		/* Figure 20-5: GS, FS, DS and ES first. */
		push_lin(c, &sp, sp_base, size, mask, c->seg[X86_GS].sel);
		push_lin(c, &sp, sp_base, size, mask, c->seg[X86_FS].sel);
		push_lin(c, &sp, sp_base, size, mask, c->seg[X86_DS].sel);
		push_lin(c, &sp, sp_base, size, mask, c->seg[X86_ES].sel);
	}
	if (priv || c->lma) {
		push_lin(c, &sp, sp_base, size, mask, old_ss);
		push_lin(c, &sp, sp_base, size, mask, old_sp);
	}
	push_lin(c, &sp, sp_base, size, mask, old_flags);
	push_lin(c, &sp, sp_base, size, mask, old_cs);
	push_lin(c, &sp, sp_base, size, mask, ret);
	if (has_err)
		push_lin(c, &sp, sp_base, size, mask, err);
	/* Commit. */
	dbt_desc_set_accessed(c, sel, d[0]);
	if (!c->lma)
		dbt_read_desc(c, sel, d, false);
	dbt_desc_to_seg(&cs, (uint16_t)((sel & ~3u) | new_cpl), d, false);
	cs.type |= 1;
	cs.dpl = (uint8_t)new_cpl;      /* the CPL (a conforming handler) */
	c->seg[X86_CS] = cs;
	if (priv || c->lma) {
		if (c->lma) {
			if (priv || ist) {
				c->seg[X86_SS].sel = new_ss;
				c->seg[X86_SS].unusable = priv ? 1 : 0;
				c->seg[X86_SS].dpl = (uint8_t)new_cpl;
				c->seg[X86_SS].base = 0;
				if (priv) {
					c->seg[X86_SS].unusable = 0;
					c->seg[X86_SS].present = 1;
					c->seg[X86_SS].s = 1;
					c->seg[X86_SS].type = 3;
					c->seg[X86_SS].db = 1;
					c->seg[X86_SS].limit = 0xffffffff;
				}
			}
		} else if (priv) {
			dbt_read_desc(c, new_ss, d, false);
			dbt_desc_to_seg(&c->seg[X86_SS], new_ss, d, false);
			c->seg[X86_SS].type |= 1;
		}
	}
	if (c->lma || mask == ~0ULL)
		c->gpr[X86_RSP] = sp;
	else if (mask == 0xffffffffULL)
		c->gpr[X86_RSP] = sp;
	else
		c->gpr[X86_RSP] = (c->gpr[X86_RSP] & ~0xffffULL) | sp;
	if (c->v86) {
		/* Leaving virtual-8086 mode: null data segments. */
		static const int r[] = { X86_ES, X86_DS, X86_FS, X86_GS };
		unsigned k;

		for (k = 0; k < 4; k++) {
			memset(&c->seg[r[k]], 0, sizeof(c->seg[r[k]]));
			c->seg[r[k]].unusable = 1;
		}
	}
	c->rflags &= ~(uint64_t)(X86_TF | X86_NT | X86_RF | X86_VM);
	if (!(type & 1))
		c->rflags &= ~(uint64_t)X86_IF;
	c->rip = off;
	dbt_update_mode(c);
}

/*
 * A data breakpoint the delivery's own pushes hit (SDM vol. 3B 17.3.1.2:
 * a trap once the access's instruction, here the event delivery, is
 * done): #DB with the DRn's B bits, pushing the handler's first
 * instruction, before it runs.  The pushes of that #DB only add their B
 * bits to DR6: real hardware would take #DB again for them, and again,
 * forever.
 */
static void
deliver_watch_trap(struct dbt_cpu *c)
{
	c->dr[6] |= c->watch_hits;
	c->watch_hits = 0;
	c->dr[7] &= ~(uint64_t)(1u << 13);      /* GD, as raise_db */
	c->watch_trap = true;
	dbt_deliver(c, X86_EXC_DB, false, 0, false);
}

void
dbt_deliver(struct dbt_cpu *c, int vector, bool has_error, uint32_t error,
    bool sw)
{
	int prev = c->exc_depth - 1;
	uint64_t ret;
	bool watch_trap = c->watch_trap;

	/* The instruction's own hits end with it (a fault) or went to
	 * debug_step; the delivery's are what deliver_watch_trap sees. */
	c->watch_trap = false;
	if (__builtin_expect(c->watch != 0, 0))
		c->watch_hits = 0;

	if (prev >= 0 && !sw) {
		/* A fault while delivering prev. */
		if (prev == X86_EXC_DF) {
			stop(c, CPU_EXIT_SHUTDOWN, "triple fault (a fault while "
			    "delivering #DF, vector %d) at RIP 0x%llx", vector);
			c->exc_depth = 0;
			return;
		}
		if ((contributory(prev) && contributory(vector)) ||
		    (prev == X86_EXC_PF &&
		    (contributory(vector) || vector == X86_EXC_PF))) {
			vector = X86_EXC_DF;
			has_error = true;
			error = 0;
		}
	}
	/* Error codes exist only for these vectors, in protected mode. */
	if (!c->pe || c->v86 || !(vector == X86_EXC_DF ||
	    (vector >= X86_EXC_TS && vector <= X86_EXC_PF) ||
	    vector == X86_EXC_AC))
		has_error = has_error && c->pe && !sw &&
		    (vector == X86_EXC_DF ||
		    (vector >= X86_EXC_TS && vector <= X86_EXC_PF) ||
		    vector == X86_EXC_AC);
	ret = sw ? c->next_rip : c->rip;
	c->deliveries++;
	/* A software interrupt (INT n, INT3, INTO) is benign: a fault while
	 * delivering it is that fault alone, never #DF (SDM vol. 3, 6.15,
	 * table 6-5 classes exceptions, not INT n; the CPU run natively
	 * gives #GP(v*8+2) for INT 0x0E through a DPL-0 gate). */
	c->exc_depth = sw ? 0x100 : vector + 1;
	c->halted = false;
	if (!c->pe)
		deliver_real(c, vector, ret);
	else
		deliver_prot(c, vector, has_error, error, sw, ret);
	c->exc_depth = 0;
	if (__builtin_expect(c->watch != 0 && c->watch_hits != 0, 0) &&
	    c->exit_reason == CPU_EXIT_NONE) {
		if (watch_trap)
			c->dr[6] |= c->watch_hits;
		else
			deliver_watch_trap(c);
		c->watch_hits = 0;
	}
	if (sw)
		c->next_rip = c->rip;
}

void
dbt_check_interrupts(struct dbt_cpu *c)
{
	struct intc *ic = c->vm->intc;
	uint8_t vec = 0;
	int v = -1, k;
	bool nmi = false;

	if (c->irq_inject >= 0) {
		/* acknowledged at the controller under the other back end
		 * already: delivered, not asked for again */
		v = c->irq_inject;
		c->irq_inject = -1;
		dbt_deliver(c, v, false, 0, false);
		return;
	}
	if (ic == NULL)
		return;
	/* The lock-free hint: nothing pending, nothing to do (the common
	 * case, checked at every block boundary). */
	if (!intc_has_interrupt(ic, c->index))
		return;
	pthread_mutex_lock(&c->vm->io_lock);
	k = intc_take_init_sipi(ic, c->index, &vec);
	if (k == 0 && !c->sipi_wait) {
		if (!c->nmi_blocked && intc_take_nmi(ic, c->index))
			nmi = true;
		else if ((c->rflags & X86_IF) && !c->irq_shadow)
			v = intc_ack(ic, c->index);
	}
	pthread_mutex_unlock(&c->vm->io_lock);
	if (k == 1) {
		struct x86_state st;

		cpu_reset_state(&st, c->index);
		st.halted = true;       /* wait for SIPI, BSP included */
		st.sipi_wait = true;
		dbt_state_set(c, &st);
		return;
	}
	if (k == 2 && c->sipi_wait) {
		c->sipi_wait = false;
		c->halted = false;
		dbt_load_seg(c, X86_CS, (uint16_t)((unsigned)vec << 8));
		c->rip = 0;
		return;
	}
	/* Delivery can fault (and longjmp): the lock is released first. */
	if (nmi)
		dbt_deliver(c, X86_EXC_NMI, false, 0, false);
	else if (v >= 0)
		dbt_deliver(c, v, false, 0, false);
}
