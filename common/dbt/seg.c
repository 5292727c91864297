/*
 * Segmentation (Intel SDM vol. 3, chapter 3 and 5.5-5.8): descriptor reads
 * from the GDT and LDT, segment register loads with their checks and the
 * hidden parts, for real, virtual-8086, protected and long mode.
 */
#include "dbt/dbt-int.h"

#include "dbt/seg.h"

int
dbt_read_desc(struct dbt_cpu *c, uint16_t sel, uint64_t d[2], bool wide)
{
	const struct x86_dtr *t;
	struct x86_dtr ldt;
	uint64_t idx = sel & ~7u, need = wide ? 15 : 7;

	if (sel & 4) {
		if (c->seg[X86_LDTR].unusable || !c->seg[X86_LDTR].present)
			return -1;
		ldt.base = c->seg[X86_LDTR].base;
		ldt.limit = (uint16_t)(c->seg[X86_LDTR].limit > 0xffff ?
		    0xffff : c->seg[X86_LDTR].limit);
		if (idx + need > c->seg[X86_LDTR].limit)
			return -1;
		t = &ldt;
		d[0] = dbt_read_lin(c, c->seg[X86_LDTR].base + idx, 8,
		    DBT_ACC_SUPER);
		if (wide)
			d[1] = dbt_read_lin(c, c->seg[X86_LDTR].base + idx + 8,
			    8, DBT_ACC_SUPER);
		(void)t;
		return 0;
	}
	t = &c->gdtr;
	if (idx + need > t->limit)
		return -1;
	d[0] = dbt_read_lin(c, t->base + idx, 8, DBT_ACC_SUPER);
	if (wide)
		d[1] = dbt_read_lin(c, t->base + idx + 8, 8, DBT_ACC_SUPER);
	return 0;
}

void
dbt_desc_to_seg(struct x86_seg *s, uint16_t sel, const uint64_t d[2],
    bool wide)
{
	uint64_t lo = d[0];
	uint32_t limit = (uint32_t)((lo & 0xffff) | ((lo >> 32) & 0xf0000));

	s->sel = sel;
	s->base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24);
	if (wide)
		s->base |= (d[1] & 0xffffffffULL) << 32;
	s->type = (uint8_t)((lo >> 40) & 0xf);
	s->s = (uint8_t)((lo >> 44) & 1);
	s->dpl = (uint8_t)((lo >> 45) & 3);
	s->present = (uint8_t)((lo >> 47) & 1);
	s->avl = (uint8_t)((lo >> 52) & 1);
	s->l = (uint8_t)((lo >> 53) & 1);
	s->db = (uint8_t)((lo >> 54) & 1);
	s->g = (uint8_t)((lo >> 55) & 1);
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->unusable = 0;
}

/* Set the accessed bit of a code/data descriptor in memory. */
void
dbt_desc_set_accessed(struct dbt_cpu *c, uint16_t sel, uint64_t lo)
{
	uint64_t base = (sel & 4) ? c->seg[X86_LDTR].base : c->gdtr.base;

	if (!(lo & (1ULL << 40)))
		dbt_write_lin(c, base + (sel & ~7u) + 5, 1,
		    ((lo >> 40) & 0xff) | 1, DBT_ACC_SUPER);
}

static void
real_load(struct dbt_cpu *c, int sreg, uint16_t sel)
{
	struct x86_seg *s = &c->seg[sreg];

	s->sel = sel;
	s->base = (uint64_t)sel << 4;
	s->unusable = 0;
	s->present = 1;
	if (c->v86) {
		s->limit = 0xffff;
		s->type = sreg == X86_CS ? 0xb : 0x3;
		s->s = 1;
		s->dpl = 3;
		s->db = 0;
		s->g = 0;
		s->l = 0;
	}
}

void
dbt_load_seg(struct dbt_cpu *c, int sreg, uint16_t sel)
{
	struct x86_seg n;
	uint64_t d[2];
	unsigned rpl = sel & 3, dpl;
	bool code, readable, writable, conforming;

	if (!c->pe || c->v86) {
		real_load(c, sreg, sel);
		if (sreg == X86_CS || sreg == X86_SS)
			dbt_update_mode(c);
		return;
	}
	if ((sel & ~3u) == 0) {
		if (sreg == X86_SS && !(c->long64 && c->cpl < 3 &&
		    rpl == c->cpl))
			dbt_gp0(c);
		c->seg[sreg].sel = sel;
		c->seg[sreg].unusable = 1;
		c->seg[sreg].present = 0;
		if (sreg == X86_SS) {
			c->seg[sreg].dpl = (uint8_t)c->cpl;
			c->seg[sreg].unusable = 0;
			c->seg[sreg].present = 1;
			c->seg[sreg].s = 1;
			c->seg[sreg].type = 3;
			c->seg[sreg].db = 1;
		}
		if (!c->long64)
			c->seg[sreg].base = 0;
		return;
	}
	if (dbt_read_desc(c, sel, d, false) < 0)
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	memset(&n, 0, sizeof(n));
	dbt_desc_to_seg(&n, sel, d, false);
	code = n.type & 8;
	readable = !code || (n.type & 2);
	writable = !code && (n.type & 2);
	conforming = code && (n.type & 4);
	dpl = n.dpl;
	if (!n.s)
		dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
	if (sreg == X86_SS) {
		if (rpl != c->cpl || dpl != c->cpl || !writable)
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!n.present)
			dbt_raise(c, X86_EXC_SS, sel & 0xfffc);
	} else {
		if (!readable)
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if ((!code || !conforming) &&
		    (dpl < c->cpl || dpl < rpl))
			dbt_raise(c, X86_EXC_GP, sel & 0xfffc);
		if (!n.present)
			dbt_raise(c, X86_EXC_NP, sel & 0xfffc);
	}
	dbt_desc_set_accessed(c, sel, d[0]);
	n.type |= 1;
	c->seg[sreg] = n;
	if (sreg == X86_SS)
		dbt_update_mode(c);
}

void
dbt_null_outer_segs(struct dbt_cpu *c)
{
	static const int regs[] = { X86_ES, X86_DS, X86_FS, X86_GS };
	unsigned k;

	for (k = 0; k < 4; k++) {
		struct x86_seg *g = &c->seg[regs[k]];

		if (!g->unusable && g->s &&
		    (!(g->type & 8) || !(g->type & 4)) && g->dpl < c->cpl) {
			g->sel = 0;
			g->unusable = 1;
			g->present = 0;
		}
	}
}
