/*
 * x87 and SSE: the beginning.  The state lives in struct dbt_cpu's FXSAVE
 * image (Intel SDM vol. 1, 10.5.1).  Implemented so far: the x87 control
 * instructions early boot code uses to probe for an FPU (FNINIT, FNSTSW,
 * FNSTCW, FLDCW, FNCLEX, FWAIT), the fences' neighbours LDMXCSR/STMXCSR,
 * and FXSAVE/FXRSTOR of the image.  Arithmetic (x87, SSE, SSE2) is not
 * implemented yet: those opcodes are #UD, which is why CPUID will stop
 * advertising them only when... they are advertised because x86-64
 * software assumes SSE2; a guest reaching them stops with #UD.
 */
#include "dbt/dbt-int.h"

#include <string.h>

#define FX_FCW 0
#define FX_FSW 2
#define FX_FTW 4
#define FX_MXCSR 24

static void
nm_check(struct dbt_cpu *c)
{
	if (c->cr0 & (X86_CR0_EM | X86_CR0_TS))
		dbt_raise_noerr(c, X86_EXC_NM);
}

static uint16_t
get16(const struct dbt_cpu *c, int off)
{
	uint16_t v;

	memcpy(&v, c->fx + off, 2);
	return v;
}

static void
put16(struct dbt_cpu *c, int off, uint16_t v)
{
	memcpy(c->fx + off, &v, 2);
}

/* DB E3 FNINIT, DB E2 FNCLEX. */
static void
op_fninit(struct dbt_cpu *c, const struct insn *i)
{
	nm_check(c);
	if (i->modrm == 0xe3) {
		put16(c, FX_FCW, 0x037f);
		put16(c, FX_FSW, 0);
		c->fx[FX_FTW] = 0;
		memset(c->fx + 6, 0, 18); /* FOP, FIP, FDP */
	} else if (i->modrm == 0xe2) {
		put16(c, FX_FSW, get16(c, FX_FSW) & 0x7f00);
	} else {
		dbt_ud(c);
	}
}

/* DD /7 FNSTSW m16, DF E0 FNSTSW AX, D9 /7 FNSTCW m16, D9 /5 FLDCW m16. */
static void
op_fnstsw(struct dbt_cpu *c, const struct insn *i)
{
	nm_check(c);
	if (i->op == 0xdf) {
		if (i->modrm != 0xe0)
			dbt_ud(c);
		c->gpr[X86_RAX] = (c->gpr[X86_RAX] & ~0xffffULL) |
		    get16(c, FX_FSW);
		return;
	}
	dbt_write16(c, i->seg, dbt_ea(c, i), get16(c, FX_FSW));
}

static void
op_fcw(struct dbt_cpu *c, const struct insn *i)
{
	nm_check(c);
	if ((i->reg & 7) == 7)
		dbt_write16(c, i->seg, dbt_ea(c, i), get16(c, FX_FCW));
	else
		put16(c, FX_FCW, dbt_read16(c, i->seg, dbt_ea(c, i)) | 0x40);
}

static void
op_fwait(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->cr0 & (X86_CR0_MP | X86_CR0_TS)) ==
	    (X86_CR0_MP | X86_CR0_TS))
		dbt_raise_noerr(c, X86_EXC_NM);
}

/* 0F AE /0 FXSAVE, /1 FXRSTOR, /2 LDMXCSR, /3 STMXCSR. */
static void
op_fxsave(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t ea = dbt_ea(c, i);
	uint32_t mx;
	uint8_t buf[512];

	nm_check(c);
	switch (i->reg & 7) {
	case 0:
		if (ea & 15)
			dbt_gp0(c);
		memcpy(buf, c->fx, sizeof(buf));
		dbt_write_bytes(c, i->seg, ea, buf, 512);
		break;
	case 1:
		if (ea & 15)
			dbt_gp0(c);
		dbt_read_bytes(c, i->seg, ea, buf, 512);
		memcpy(&mx, buf + FX_MXCSR, 4);
		if (mx & 0xffff0000u)
			dbt_gp0(c);
		memcpy(c->fx, buf, 512);
		break;
	case 2:
		mx = dbt_read32(c, i->seg, ea);
		if (mx & 0xffff0000u)
			dbt_gp0(c);
		memcpy(c->fx + FX_MXCSR, &mx, 4);
		break;
	case 3:
		memcpy(&mx, c->fx + FX_MXCSR, 4);
		dbt_write32(c, i->seg, ea, mx);
		break;
	}
}

const struct op_entry dbt_ops_fpu[] = {
	{ MAP_1B, 0xdb, PFX_ANY, 4, OP_MOD_REG, OP_ANY, op_fninit },
	{ MAP_1B, 0xdd, PFX_ANY, 7, OP_MOD_MEM, OP_ANY, op_fnstsw },
	{ MAP_1B, 0xdf, PFX_ANY, 4, OP_MOD_REG, OP_ANY, op_fnstsw },
	{ MAP_1B, 0xd9, PFX_ANY, 7, OP_MOD_MEM, OP_ANY, op_fcw },
	{ MAP_1B, 0xd9, PFX_ANY, 5, OP_MOD_MEM, OP_ANY, op_fcw },
	{ MAP_1B, 0x9b, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_fwait },
	{ MAP_0F, 0xae, PFX_NONE, 0, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 1, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 2, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 3, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ 0 },
};
