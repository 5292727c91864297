/*
 * Hardware task switches (Intel SDM vol. 3A, chapter 7): JMP or CALL to
 * a TSS descriptor or a task gate, an interrupt or exception through a
 * task gate, and IRET with EFLAGS.NT back to the previous task.
 *
 * The steps are those of SDM 7.3: check the new TSS (present, limit at
 * least 0x67, busy for an IRET and available otherwise); clear the old
 * TSS's busy bit for JMP and IRET; save the current task's state (EIP,
 * EFLAGS with NT cleared for an IRET, the general registers and the
 * segment selectors) in the old TSS; for CALL and interrupts write the
 * back-link and set NT; mark the new TSS busy, load TR, set CR0.TS; then
 * load the new task's CR3, LDTR, EFLAGS, EIP, general registers and
 * segment registers.  A fault in that last step is raised in the new
 * task (the SDM's #TS there is raised as the #GP/#NP/#SS a segment load
 * gives).  A new task with EFLAGS.VM set runs in virtual-8086 mode.
 * 16-bit TSSs (types 1 and 3) as well as 32-bit ones, either side of a
 * switch; IA-32e mode has no task switches (#GP there).
 */
#include "dbt/dbt-int.h"

#include "cpu/cpu.h"
#include "dbt/seg.h"

#define TSS_LINK 0x00
#define TSS_CR3 0x1c            /* 32-bit TSSs only */
#define TSS_T 0x64              /* bit 0: the debug trap flag (32-bit) */

/* Where a TSS keeps the task's state (SDM figures 7-2 and 7-10): EIP
 * (IP), EFLAGS (FLAGS), then EAX ECX EDX EBX ESP EBP ESI EDI, then the
 * nseg selectors ES CS SS DS (FS GS), then the LDT's, in fields of size
 * bytes (the selectors' 4 apart in a 32-bit TSS); min: the least limit. */
struct tss_layout {
	unsigned eip, flags, gpr, seg, nseg, ldt, size, min;
};
static const struct tss_layout tss32 = {
	0x20, 0x24, 0x28, 0x48, 6, 0x60, 4, 0x67
};
static const struct tss_layout tss16 = {
	0x0e, 0x10, 0x12, 0x22, 4, 0x2a, 2, 0x2b
};

static void
set_busy(struct dbt_cpu *c, uint16_t sel, bool busy)
{
	uint64_t a = c->gdtr.base + (sel & ~7u) + 5;
	uint8_t t = (uint8_t)dbt_read_lin(c, a, 1, DBT_ACC_SUPER);

	t = busy ? (uint8_t)(t | 2) : (uint8_t)(t & ~2);
	dbt_write_lin(c, a, 1, t, DBT_ACC_SUPER);
}

/* Load LDTR from the new task's selector (#TS(sel) if it is bad). */
static void
load_ldt(struct dbt_cpu *c, uint16_t sel)
{
	uint64_t d[2];
	struct x86_seg s;

	if ((sel & ~3u) == 0) {
		c->seg[X86_LDTR].sel = sel;
		c->seg[X86_LDTR].unusable = 1;
		return;
	}
	if ((sel & 4) || dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_TS, sel & 0xfffc);
	memset(&s, 0, sizeof(s));
	dbt_desc_to_seg(&s, sel, d, false);
	if (s.s || s.type != 2 || !s.present)
		dbt_raise(c, X86_EXC_TS, sel & 0xfffc);
	c->seg[X86_LDTR] = s;
}

/* CS of the new task: a code segment, DPL = RPL (<= RPL if conforming). */
static void
load_cs(struct dbt_cpu *c, uint16_t sel)
{
	uint64_t d[2];
	struct x86_seg s;

	if ((sel & ~3u) == 0 || dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_TS, sel & 0xfffc);
	memset(&s, 0, sizeof(s));
	dbt_desc_to_seg(&s, sel, d, false);
	if (!s.s || !(s.type & 8) ||
	    ((s.type & 4) ? s.dpl > (sel & 3u) : s.dpl != (sel & 3u)))
		dbt_raise(c, X86_EXC_TS, sel & 0xfffc);
	if (!s.present)
		dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
	dbt_desc_set_accessed(c, sel, d[0]);
	s.type |= 1;
	s.dpl = (uint8_t)(sel & 3u);    /* the CPL */
	c->seg[X86_CS] = s;
	dbt_update_mode(c);
}

void
dbt_task_switch(struct dbt_cpu *c, uint16_t sel, enum dbt_task_reason why,
    uint64_t ret, bool has_err, uint32_t err)
{
	struct x86_seg n, *tr = &c->seg[X86_TR];
	const struct tss_layout *nl, *ol = (tr->type & 8) ? &tss32 : &tss16;
	uint64_t d[2], nb, ob = tr->base, fl, m;
	uint32_t v[8], eip, eflags, cr3 = (uint32_t)c->cr3;
	uint16_t s[6] = { 0 }, ldt, old = tr->sel;
	unsigned k;
	bool nest = why == DBT_TASK_CALL || why == DBT_TASK_INT;

	if (c->lma)
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	if ((sel & 4) || (sel & ~3u) == 0 ||
	    dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, why == DBT_TASK_IRET ? X86_EXC_TS : X86_EXC_GP,
		    sel & 0xfffc);
	memset(&n, 0, sizeof(n));
	dbt_desc_to_seg(&n, sel, d, false);
	if (n.s || ((n.type & ~2u) != 9 && (n.type & ~2u) != 1))
		dbt_raise(c, why == DBT_TASK_IRET ? X86_EXC_TS : X86_EXC_GP,
		    sel & 0xfffc);
	nl = (n.type & 8) ? &tss32 : &tss16;
	if (!n.present)
		dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
	if (n.limit < nl->min)
		dbt_raise(c, X86_EXC_TS, sel & 0xfffc);
	if (why == DBT_TASK_IRET ? !(n.type & 2) : (n.type & 2))
		dbt_raise(c, why == DBT_TASK_IRET ? X86_EXC_TS : X86_EXC_GP,
		    sel & 0xfffc);
	if (tr->unusable ||
	    tr->limit < ol->seg + ol->nseg * ol->size - 1)
		dbt_raise(c, X86_EXC_TS, tr->sel & 0xfffc);
	/* Read the new task's state (all of it before anything changes).
	 * A 16-bit TSS has no CR3 (the current one stays), no FS and GS
	 * (nulled) and 16-bit fields (zero-extended: the SDM leaves the
	 * upper halves undefined). */
	nb = n.base;
	if (nl == &tss32)
		cr3 = (uint32_t)dbt_read_lin(c, nb + TSS_CR3, 4,
		    DBT_ACC_SUPER);
	eip = (uint32_t)dbt_read_lin(c, nb + nl->eip, nl->size,
	    DBT_ACC_SUPER);
	eflags = (uint32_t)dbt_read_lin(c, nb + nl->flags, nl->size,
	    DBT_ACC_SUPER);
	for (k = 0; k < 8; k++)
		v[k] = (uint32_t)dbt_read_lin(c, nb + nl->gpr + nl->size * k,
		    nl->size, DBT_ACC_SUPER);
	for (k = 0; k < nl->nseg; k++)
		s[k] = (uint16_t)dbt_read_lin(c, nb + nl->seg + nl->size * k,
		    2, DBT_ACC_SUPER);
	ldt = (uint16_t)dbt_read_lin(c, nb + nl->ldt, 2, DBT_ACC_SUPER);
	/* The old task: busy bit, then its state. */
	if (why == DBT_TASK_JMP || why == DBT_TASK_IRET)
		set_busy(c, old, false);
	fl = c->rflags;
	if (why == DBT_TASK_IRET)
		fl &= ~(uint64_t)X86_NT;
	m = ol->size == 4 ? 0xffffffffULL : 0xffffULL;
	dbt_write_lin(c, ob + ol->eip, ol->size, ret & m, DBT_ACC_SUPER);
	dbt_write_lin(c, ob + ol->flags, ol->size, fl & m, DBT_ACC_SUPER);
	for (k = 0; k < 8; k++)
		dbt_write_lin(c, ob + ol->gpr + ol->size * k, ol->size,
		    c->gpr[k] & m, DBT_ACC_SUPER);
	for (k = 0; k < ol->nseg; k++)
		dbt_write_lin(c, ob + ol->seg + ol->size * k, 2,
		    c->seg[X86_ES + (int)k].sel, DBT_ACC_SUPER);
	/* The new task. */
	if (nest) {
		dbt_write_lin(c, nb + TSS_LINK, 2, old, DBT_ACC_SUPER);
		eflags |= X86_NT;
	}
	if (why != DBT_TASK_IRET)
		set_busy(c, sel, true);
	n.type |= 2;
	*tr = n;
	c->cr0 |= X86_CR0_TS;
	/* L0-L3 are the old task's breakpoints (17.2.4). */
	if (c->dr[7] & 0x55) {
		c->dr[7] &= ~0x55ULL;
		dbt_watch_update(c);
	}
	if (c->pg && cr3 != (uint32_t)c->cr3) {
		c->cr3 = cr3;
		dbt_tlb_flush_local(c);
	}
	c->rflags = (eflags & 0x3f7fd7ULL) | 2;
	for (k = 0; k < 8; k++)
		c->gpr[k] = v[k];
	c->rip = c->next_rip = eip;
	/* Selectors first, then the descriptors, each checked: a fault
	 * from here on belongs to the new task. */
	for (k = 0; k < 6; k++)
		c->seg[X86_ES + (int)k].sel = s[k];
	c->exc_depth = 0;
	load_ldt(c, ldt);
	if (eflags & X86_VM) {
		/* A task in virtual-8086 mode (20.2.5): CPL 3, the segment
		 * registers loaded as 8086 segments (base = selector * 16). */
		dbt_update_mode(c);
		for (k = 0; k < 6; k++)
			dbt_load_seg(c, X86_ES + (int)k, s[k]);
	} else {
		load_cs(c, s[1]);
		dbt_load_seg(c, X86_SS, s[2]);
		dbt_load_seg(c, X86_ES, s[0]);
		dbt_load_seg(c, X86_DS, s[3]);
		dbt_load_seg(c, X86_FS, s[4]);
		dbt_load_seg(c, X86_GS, s[5]);
	}
	dbt_update_mode(c);
	if (has_err)
		dbt_push(c, nl->size, err);
	/* The T flag of a 32-bit TSS (17.3.1.5): a #DB trap with DR6.BT
	 * once the switch is done, before the new task's first
	 * instruction. */
	if (nl == &tss32 && (dbt_read_lin(c, nb + TSS_T, 1,
	    DBT_ACC_SUPER) & 1)) {
		c->dr[6] |= 1u << 15;
		c->dr[7] &= ~(uint64_t)(1u << 13);      /* GD */
		dbt_deliver(c, X86_EXC_DB, false, 0, false);
		c->next_rip = c->rip;
	}
}
