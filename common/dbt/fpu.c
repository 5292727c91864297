/*
 * x87, MMX and SSE/SSE2/SSE3.  The state lives in struct dbt_cpu's FXSAVE
 * image (Intel SDM vol. 1, 10.5.1); the arithmetic is the host's own, run
 * on that image by hx.c, so results, rounding and the flags the SDM leaves
 * to the implementation are the real CPU's.
 *
 * What is done here, before and after the host runs an instruction:
 *   - the whitelist: which (map, opcode, mandatory prefix, ModRM form) is
 *     an instruction of an advertised feature; everything else is #UD and
 *     never reaches the host;
 *   - the architectural checks the host cannot make for the guest:
 *     CR0.EM/TS/MP and CR4.OSFXSR (#UD, #NM), 16-byte alignment (#GP),
 *     pending x87 exceptions (#MF), unmasked SIMD exceptions (#XM or #UD
 *     per CR4.OSXMMEXCPT);
 *   - the memory operand: read from the guest into a scratch buffer before
 *     (faults first, so nothing changes), written back after (the write is
 *     probed first), with the operand's exact size;
 *   - the x87 last-instruction pointers (FOP, FIP, FDP), set to the guest's
 *     instruction and operand address, never a host address.
 *
 * FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, FWAIT and FNSTSW AX are plain C.
 */
#include "dbt/dbt-int.h"
#include "dbt/fpu.h"
#include "dbt/hx.h"

#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <xmmintrin.h>

#define FX_FCW 0
#define FX_FSW 2
#define FX_FTW 4
#define FX_FOP 6
#define FX_FIP 8
#define FX_FDP 16
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28

#define N PFX_NONE
#define P PFX_66
#define F3 PFX_F3
#define F2 PFX_F2
#define A (S_A16)
#define MX (S_MMX)
/* Packed arithmetic: ps (16), pd (16), ss (4), sd (8). */
#define ARITH4(o, extra)                                                    \
	{ o, N, 16, 0, A | (extra) }, { o, P, 16, 0, A | (extra) },         \
	{ o, F3, 4, 0, (extra) }, { o, F2, 8, 0, (extra) }
/* MMX (8-byte) and SSE2 (16-byte) forms of an integer op. */
#define INT2(o) { o, N, 8, 0, MX }, { o, P, 16, 0, A }

static const struct sse_op sse_ops[] = {
	{ 0x10, N, 16, 0, 0 }, { 0x10, P, 16, 0, 0 },
	{ 0x10, F3, 4, 0, 0 }, { 0x10, F2, 8, 0, 0 },
	{ 0x11, N, 16, 0, S_ST }, { 0x11, P, 16, 0, S_ST },
	{ 0x11, F3, 4, 0, S_ST }, { 0x11, F2, 8, 0, S_ST },
	{ 0x12, N, 8, 0, 0 },                   /* movlps / movhlps */
	{ 0x12, P, 8, 0, S_MEM },               /* movlpd */
	{ 0x12, F3, 16, 0, A },                 /* movsldup */
	{ 0x12, F2, 8, 0, 0 },                  /* movddup */
	{ 0x13, N, 8, 0, S_ST | S_MEM }, { 0x13, P, 8, 0, S_ST | S_MEM },
	{ 0x14, N, 16, 0, A }, { 0x14, P, 16, 0, A },
	{ 0x15, N, 16, 0, A }, { 0x15, P, 16, 0, A },
	{ 0x16, N, 8, 0, 0 },                   /* movhps / movlhps */
	{ 0x16, P, 8, 0, S_MEM },               /* movhpd */
	{ 0x16, F3, 16, 0, A },                 /* movshdup */
	{ 0x17, N, 8, 0, S_ST | S_MEM }, { 0x17, P, 8, 0, S_ST | S_MEM },
	{ 0x28, N, 16, 0, A }, { 0x28, P, 16, 0, A },
	{ 0x29, N, 16, 0, A | S_ST }, { 0x29, P, 16, 0, A | S_ST },
	{ 0x2a, N, 8, 0, MX }, { 0x2a, P, 8, 0, MX },   /* cvtpi2ps/pd */
	{ 0x2a, F3, 4, 0, S_GRM | S_W8 }, { 0x2a, F2, 4, 0, S_GRM | S_W8 },
	{ 0x2b, N, 16, 0, A | S_ST | S_MEM },
	{ 0x2b, P, 16, 0, A | S_ST | S_MEM },
	{ 0x2c, N, 8, 0, MX }, { 0x2c, P, 16, 0, A | MX },
	{ 0x2c, F3, 4, 0, S_GREG }, { 0x2c, F2, 8, 0, S_GREG },
	{ 0x2d, N, 8, 0, MX }, { 0x2d, P, 16, 0, A | MX },
	{ 0x2d, F3, 4, 0, S_GREG }, { 0x2d, F2, 8, 0, S_GREG },
	{ 0x2e, N, 4, 0, S_FLAGS }, { 0x2e, P, 8, 0, S_FLAGS },
	{ 0x2f, N, 4, 0, S_FLAGS }, { 0x2f, P, 8, 0, S_FLAGS },
	{ 0x50, N, 0, 0, S_GREG | S_REG }, { 0x50, P, 0, 0, S_GREG | S_REG },
	ARITH4(0x51, 0),
	{ 0x52, N, 16, 0, A }, { 0x52, F3, 4, 0, 0 },
	{ 0x53, N, 16, 0, A }, { 0x53, F3, 4, 0, 0 },
	{ 0x54, N, 16, 0, A }, { 0x54, P, 16, 0, A },
	{ 0x55, N, 16, 0, A }, { 0x55, P, 16, 0, A },
	{ 0x56, N, 16, 0, A }, { 0x56, P, 16, 0, A },
	{ 0x57, N, 16, 0, A }, { 0x57, P, 16, 0, A },
	ARITH4(0x58, 0), ARITH4(0x59, 0),
	{ 0x5a, N, 8, 0, 0 }, { 0x5a, P, 16, 0, A },
	{ 0x5a, F3, 4, 0, 0 }, { 0x5a, F2, 8, 0, 0 },
	{ 0x5b, N, 16, 0, A }, { 0x5b, P, 16, 0, A }, { 0x5b, F3, 16, 0, A },
	ARITH4(0x5c, 0), ARITH4(0x5d, 0), ARITH4(0x5e, 0), ARITH4(0x5f, 0),
	/* punpckl* read 4 bytes in their MMX form. */
	{ 0x60, N, 4, 0, MX }, { 0x60, P, 16, 0, A },
	{ 0x61, N, 4, 0, MX }, { 0x61, P, 16, 0, A },
	{ 0x62, N, 4, 0, MX }, { 0x62, P, 16, 0, A },
	INT2(0x63), INT2(0x64), INT2(0x65), INT2(0x66), INT2(0x67),
	INT2(0x68), INT2(0x69), INT2(0x6a), INT2(0x6b),
	{ 0x6c, P, 16, 0, A }, { 0x6d, P, 16, 0, A },
	{ 0x6e, N, 4, 0, S_GRM | S_W8 | MX }, { 0x6e, P, 4, 0, S_GRM | S_W8 },
	{ 0x6f, N, 8, 0, MX }, { 0x6f, P, 16, 0, A }, { 0x6f, F3, 16, 0, 0 },
	{ 0x70, N, 8, 0, S_IMM | MX }, { 0x70, P, 16, 0, A | S_IMM },
	{ 0x70, F3, 16, 0, A | S_IMM }, { 0x70, F2, 16, 0, A | S_IMM },
	/* Shift groups: /2 /4 /6 (71, 72); /2 /6, and /3 /7 for xmm (73). */
	{ 0x71, N, 0, 0x54, S_REG | S_IMM | MX },
	{ 0x71, P, 0, 0x54, S_REG | S_IMM },
	{ 0x72, N, 0, 0x54, S_REG | S_IMM | MX },
	{ 0x72, P, 0, 0x54, S_REG | S_IMM },
	{ 0x73, N, 0, 0x44, S_REG | S_IMM | MX },
	{ 0x73, P, 0, 0xcc, S_REG | S_IMM },
	INT2(0x74), INT2(0x75), INT2(0x76),
	{ 0x77, N, 0, 0, S_NOMODRM | MX },      /* emms */
	{ 0x7c, P, 16, 0, A }, { 0x7c, F2, 16, 0, A },  /* haddpd/ps */
	{ 0x7d, P, 16, 0, A }, { 0x7d, F2, 16, 0, A },  /* hsubpd/ps */
	{ 0x7e, N, 4, 0, S_GRM | S_W8 | S_ST | MX },
	{ 0x7e, P, 4, 0, S_GRM | S_W8 | S_ST },
	{ 0x7e, F3, 8, 0, 0 },                  /* movq xmm, xmm/m64 */
	{ 0x7f, N, 8, 0, S_ST | MX }, { 0x7f, P, 16, 0, A | S_ST },
	{ 0x7f, F3, 16, 0, S_ST },
	ARITH4(0xc2, S_IMM),
	{ 0xc3, N, 4, 0, S_GREG | S_W8 | S_ST | S_MEM },        /* movnti */
	{ 0xc4, N, 2, 0, S_GRM | S_IMM | MX }, { 0xc4, P, 2, 0, S_GRM | S_IMM },
	{ 0xc5, N, 0, 0, S_GREG | S_REG | S_IMM | MX },
	{ 0xc5, P, 0, 0, S_GREG | S_REG | S_IMM },
	{ 0xc6, N, 16, 0, A | S_IMM }, { 0xc6, P, 16, 0, A | S_IMM },
	{ 0xd0, P, 16, 0, A }, { 0xd0, F2, 16, 0, A },  /* addsubpd/ps */
	INT2(0xd1), INT2(0xd2), INT2(0xd3), INT2(0xd4), INT2(0xd5),
	{ 0xd6, P, 8, 0, S_ST },                /* movq xmm/m64, xmm */
	{ 0xd6, F3, 0, 0, S_REG | MX },         /* movq2dq */
	{ 0xd6, F2, 0, 0, S_REG | MX },         /* movdq2q */
	{ 0xd7, N, 0, 0, S_GREG | S_REG | MX }, { 0xd7, P, 0, 0, S_GREG | S_REG },
	INT2(0xd8), INT2(0xd9), INT2(0xda), INT2(0xdb), INT2(0xdc),
	INT2(0xdd), INT2(0xde), INT2(0xdf),
	INT2(0xe0), INT2(0xe1), INT2(0xe2), INT2(0xe3), INT2(0xe4),
	INT2(0xe5),
	{ 0xe6, P, 16, 0, A }, { 0xe6, F3, 8, 0, 0 }, { 0xe6, F2, 16, 0, A },
	{ 0xe7, N, 8, 0, S_ST | S_MEM | MX },
	{ 0xe7, P, 16, 0, A | S_ST | S_MEM },
	INT2(0xe8), INT2(0xe9), INT2(0xea), INT2(0xeb), INT2(0xec),
	INT2(0xed), INT2(0xee), INT2(0xef),
	{ 0xf0, F2, 16, 0, S_MEM },             /* lddqu */
	INT2(0xf1), INT2(0xf2), INT2(0xf3), INT2(0xf4), INT2(0xf5),
	INT2(0xf6),
	INT2(0xf8), INT2(0xf9), INT2(0xfa), INT2(0xfb), INT2(0xfc),
	INT2(0xfd), INT2(0xfe),
};

/* The 0F3A SSE4.1 instructions that depend on MXCSR (the rest of SSSE3
 * to SSE4.2 is plain C in sse4.c): ROUNDPS/PD/SS/SD, DPPS, DPPD. */
static const struct sse_op sse_ops_3a[] = {
	{ 0x08, P, 16, 0, A | S_IMM }, { 0x09, P, 16, 0, A | S_IMM },
	{ 0x0a, P, 4, 0, S_IMM }, { 0x0b, P, 8, 0, S_IMM },
	{ 0x40, P, 16, 0, A | S_IMM }, { 0x41, P, 16, 0, A | S_IMM },
};

#undef N
#undef P
#undef F3
#undef F2
#undef A
#undef MX

/* (opcode, prefix) -> index + 1 into sse_ops (which has more than 255
 * entries). */
static uint16_t sse_index[256][5];
static pthread_once_t sse_once = PTHREAD_ONCE_INIT;

static void
sse_index_build(void)
{
	size_t k;

	for (k = 0; k < sizeof(sse_ops) / sizeof(sse_ops[0]); k++)
		sse_index[sse_ops[k].op][sse_ops[k].pfx] = (uint16_t)(k + 1);
}

/*
 * The whitelist entry of i (0F map, by opcode and mandatory prefix), with
 * the ModRM constraints checked; NULL when i is not on it (#UD).
 */
static void op_sse(struct dbt_cpu *c, const struct insn *i);

const struct sse_op *
dbt_sse_lookup(const struct insn *i)
{
	const struct sse_op *d;
	unsigned k;

	pthread_once(&sse_once, sse_index_build);
	if (i->map != MAP_0F || i->fn != op_sse)
		return NULL;
	k = sse_index[i->op][dbt_insn_pfx(i)];
	if (k == 0)
		return NULL;
	d = &sse_ops[k - 1];
	if (((d->f & S_REG) && i->mem) || ((d->f & S_MEM) && !i->mem))
		return NULL;
	if (d->regmask && !(d->regmask & (1u << (i->reg & 7))))
		return NULL;
	return d;
}

static uint16_t
get16(const struct dbt_cpu *c, int off)
{
	uint16_t v;

	memcpy(&v, c->fx + off, 2);
	return v;
}

static uint32_t
get_mxcsr(const struct dbt_cpu *c)
{
	uint32_t v;

	memcpy(&v, c->fx + FX_MXCSR, 4);
	return v;
}

static void
put_mxcsr(struct dbt_cpu *c, uint32_t v)
{
	memcpy(c->fx + FX_MXCSR, &v, 4);
}

/* An unmasked x87 exception is pending: the next waiting x87 (or MMX)
 * instruction takes #MF.  The host would take it too, so this is checked
 * before the host ever sees the state. */
static void
x87_pending_check(struct dbt_cpu *c)
{
	uint16_t fsw = get16(c, FX_FSW), fcw = get16(c, FX_FCW);

	if ((fsw & 0x80) || (fsw & ~fcw & 0x3f))
		dbt_raise_noerr(c, X86_EXC_MF);
}

static void
hx_run(struct dbt_cpu *c, const uint8_t *enc, unsigned len, unsigned flags,
    void *fx, struct hx_regs *r)
{
	if (dbt_hx_exec(c->hx, enc, len, flags, fx, c->fx_mem, r) != 0)
		dbt_fail(c, "DBT: the host refused the x87/SSE instruction "
		    "at RIP 0x%llx (re-encoded as %02x %02x %02x %02x...)",
		    (unsigned long long)c->rip, enc[0], len > 1 ? enc[1] : 0,
		    len > 2 ? enc[2] : 0, len > 3 ? enc[3] : 0);
}

/* ---- SSE and MMX ------------------------------------------------------- */

static unsigned
sse_encode(const struct insn *i, const struct sse_op *d, uint8_t *e)
{
	unsigned n = 0, rex, reg, rm;

	if (d->pfx == PFX_66)
		e[n++] = 0x66;
	else if (d->pfx == PFX_F3)
		e[n++] = 0xf3;
	else if (d->pfx == PFX_F2)
		e[n++] = 0xf2;
	rex = i->rex & 8;
	if ((i->rex & 4) && !(d->f & S_GREG))
		rex |= 4;
	if ((i->rex & 1) && !i->mem && !(d->f & S_GRM))
		rex |= 1;
	if (rex)
		e[n++] = (uint8_t)(0x40 | rex);
	e[n++] = 0x0f;
	if (i->map == MAP_0F38)
		e[n++] = 0x38;
	else if (i->map == MAP_0F3A)
		e[n++] = 0x3a;
	e[n++] = i->op;
	if (!(d->f & S_NOMODRM)) {
		reg = (d->f & S_GREG) ? 0 : (i->modrm >> 3) & 7u;
		if (i->mem) {
			e[n++] = (uint8_t)(reg << 3 | 6);       /* [rsi] */
		} else {
			rm = (d->f & S_GRM) ? 0 : i->modrm & 7u;
			e[n++] = (uint8_t)(0xc0 | reg << 3 | rm);
		}
	}
	if (d->f & S_IMM)
		e[n++] = (uint8_t)i->imm;
	return n;
}

/*
 * With underflow unmasked the CPU signals it for every tiny result, exact
 * ones too; with it masked (how op_sse runs the host instruction) only
 * for tiny and inexact ones (SDM vol. 1, 4.9.1.5).  Flush-to-zero signals
 * underflow for every tiny result, so a second run on scratch copies with
 * FTZ on tells: UE (0x10) if the CPU would take #XM for it, else 0.
 */
static uint32_t
tiny_check(struct dbt_cpu *c, const uint8_t *enc, unsigned len,
    unsigned flags, uint32_t mx, const struct hx_regs *r0)
{
	uint8_t img[512] __attribute__((aligned(16)));
	uint8_t mem[sizeof(c->fx_mem)];
	struct hx_regs r = *r0;
	uint32_t nmx = (mx | 0x1f80 | 0x8000) & ~0x3fu;

	memcpy(img, c->fx, sizeof(img));
	memcpy(img + FX_MXCSR, &nmx, 4);
	memcpy(mem, c->fx_mem, sizeof(mem));
	hx_run(c, enc, len, flags, img, &r);
	memcpy(c->fx_mem, mem, sizeof(mem));
	memcpy(&nmx, img + FX_MXCSR, 4);
	return nmx & 0x10;
}

/* ---- PE under an unmasked overflow or underflow ------------------------ */

/*
 * With overflow or underflow unmasked the CPU leaves the destination alone
 * and sets PE by the result rounded to the destination's precision with an
 * unbounded exponent (SDM vol. 1, 4.9.1.5, 4.9.1.6, 11.5.2): an exact
 * tiny product sets UE alone.  The host ran the instruction masked, whose
 * PE is the one of the denormalized or overflowed result, so the lanes are
 * worked out again here, in C, one format wider (double for single lanes,
 * the x87's 64-bit significand for double ones).  Rounding toward zero and
 * then setting the last bit when inexact (rounding to odd) keeps every
 * later rounding to the narrower format correct.
 */
enum { PE_ADD, PE_SUB, PE_MUL, PE_DIV, PE_CVT };

struct pe_lane {
	long double r;  /* the result, rounded to odd in the wider format */
	int inexact;    /* the wider format was inexact already */
};

static long double
pe_operand(const uint8_t *p, int dbl, int daz)
{
	long double v;

	if (dbl) {
		double d;

		memcpy(&d, p, 8);
		if (daz && fpclassify(d) == FP_SUBNORMAL)
			d = copysign(0.0, d);
		v = d;
	} else {
		float f;

		memcpy(&f, p, 4);
		if (daz && fpclassify(f) == FP_SUBNORMAL)
			f = copysignf(0.0f, f);
		v = f;
	}
	return v;
}

/* a OP b in the wider format, rounded to odd. */
static struct pe_lane
pe_compute(int op, long double a, long double b, int dbl)
{
	struct pe_lane l;
	volatile long double vr;
	volatile double dr;
	uint64_t bits;

	fesetround(FE_TOWARDZERO);
	feclearexcept(FE_ALL_EXCEPT);
	if (dbl) {
		switch (op) {
		case PE_ADD: vr = a + b; break;
		case PE_SUB: vr = a - b; break;
		case PE_MUL: vr = a * b; break;
		case PE_DIV: vr = a / b; break;
		default: vr = b; break;
		}
		l.r = vr;
		l.inexact = fetestexcept(FE_INEXACT) != 0;
		if (l.inexact && isfinite(l.r)) {
			memcpy(&bits, (const void *)&vr, 8);
			bits |= 1;
			memcpy((void *)&vr, &bits, 8);
			l.r = vr;
		}
	} else {
		double x = (double)a, y = (double)b;

		switch (op) {
		case PE_ADD: dr = x + y; break;
		case PE_SUB: dr = x - y; break;
		case PE_MUL: dr = x * y; break;
		case PE_DIV: dr = x / y; break;
		default: dr = y; break;
		}
		l.inexact = fetestexcept(FE_INEXACT) != 0;
		if (l.inexact && isfinite(dr)) {
			double t = dr;

			memcpy(&bits, &t, 8);
			bits |= 1;
			memcpy(&t, &bits, 8);
			dr = t;
		}
		l.r = dr;
	}
	fesetround(FE_TONEAREST);
	return l;
}

/* The PE this lane contributes, the CPU's way (see above). */
static int
pe_lane_flag(struct pe_lane l, int dbl, uint32_t mx)
{
	static const int rc[4] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD,
	    FE_TOWARDZERO };
	volatile long double m, rm;
	int e, er, emax = dbl ? 1023 : 127, emin = dbl ? -1022 : -126;
	int unb_inexact, tiny, over;

	if (!isfinite(l.r) || l.r == 0)
		return l.inexact;
	fesetround(rc[(mx >> 13) & 3]);
	m = frexpl(l.r, &e);
	rm = dbl ? (long double)(double)m : (long double)(float)m;
	unb_inexact = l.inexact || rm != m;
	er = e - 1 + (fabsl(rm) == 1.0L);
	over = er > emax;
	tiny = er < emin;
	if (over && (mx & 0x400))
		unb_inexact = 1;       /* masked: an infinity or the largest */
	else if (tiny && (mx & 0x800)) {
		if (mx & 0x8000)
			unb_inexact = 1;        /* flushed to zero */
		else {
			volatile long double d = dbl ? (long double)(double)l.r
			    : (long double)(float)l.r;

			unb_inexact = l.inexact || d != l.r;
		}
	}
	fesetround(FE_TONEAREST);
	return unb_inexact;
}

/*
 * PE (0x20 or 0) for i, the instruction d, whose host run raised an
 * overflow or underflow that mx leaves unmasked; -1 when i is none of the
 * instructions that can (the host's PE stands then).
 */
static int
sse_unbounded_pe(const struct dbt_cpu *c, const struct insn *i,
    const struct sse_op *d, uint32_t mx)
{
	const uint8_t *dst = c->fx + 160 + 16 * i->reg;
	const uint8_t *src = i->mem ? c->fx_mem : c->fx + 160 + 16 * i->rm;
	int op, dbl, lanes, w, k, pe = 0, daz = (mx & 0x40) != 0;
	int pair = 0, alt = 0;
	fenv_t env;

	if (i->map != MAP_0F)
		return -1;
	switch (d->op) {
	case 0x58: op = PE_ADD; break;
	case 0x59: op = PE_MUL; break;
	case 0x5c: op = PE_SUB; break;
	case 0x5e: op = PE_DIV; break;
	case 0x5a: op = PE_CVT; break;
	case 0x7c: op = PE_ADD; pair = 1; break;
	case 0x7d: op = PE_SUB; pair = 1; break;
	case 0xd0: op = PE_ADD; alt = 1; break;
	default: return -1;
	}
	if (op == PE_CVT) {
		/* cvtpd2ps and cvtsd2ss narrow; the widening forms are exact. */
		if (d->pfx != PFX_66 && d->pfx != PFX_F2)
			return -1;
		dbl = 0;
		lanes = d->pfx == PFX_66 ? 2 : 1;
	} else if (pair || alt) {
		dbl = d->pfx == PFX_66;
		lanes = dbl ? 2 : 4;
	} else {
		dbl = d->pfx == PFX_66 || d->pfx == PFX_F2;
		lanes = (d->pfx == PFX_F3 || d->pfx == PFX_F2) ? 1 :
		    dbl ? 2 : 4;
	}
	w = dbl ? 8 : 4;
	fegetenv(&env);
	for (k = 0; k < lanes; k++) {
		long double a, b;
		int o = op, h = lanes / 2;

		if (op == PE_CVT) {
			a = 0;
			b = pe_operand(src + 8 * k, 1, daz);
		} else if (pair) {
			/* hadd/hsub: the low half from the destination's
			 * pairs, the high half from the source's. */
			const uint8_t *p = k < h ? dst : src;
			int j = 2 * (k % h);

			a = pe_operand(p + w * j, dbl, daz);
			b = pe_operand(p + w * (j + 1), dbl, daz);
		} else {
			a = pe_operand(dst + w * k, dbl, daz);
			b = pe_operand(src + w * k, dbl, daz);
			if (alt)
				o = (k & 1) ? PE_ADD : PE_SUB;
		}
		pe |= pe_lane_flag(pe_compute(o, a, b, op == PE_CVT ? 1 : dbl),
		    dbl, mx);
	}
	fesetenv(&env);
	return pe ? 0x20 : 0;
}

/*
 * One stage of DPPS/DPPD as its own instruction (MULPS, ADDPS, ADDSS,
 * MULPD, ADDSD: op and prefix), on XMM0 and XMM1 of the guest image,
 * which the caller has filled: the exceptions it raises with the guest's
 * masks, worked out as op_sse does for a whole instruction, and its
 * result in out.
 */
static uint32_t
dpp_stage(struct dbt_cpu *c, uint8_t op, int pfx, uint32_t mx, uint8_t *out)
{
	uint8_t img[512] __attribute__((aligned(16)));
	struct insn fi;
	struct hx_regs r;
	const struct sse_op *fd;
	uint8_t enc[16];
	unsigned len;
	uint32_t nmx, raised, unmasked;
	int pe;

	memset(&fi, 0, sizeof(fi));
	fi.map = MAP_0F;
	fi.op = op;
	fi.modrm = 0xc1;
	fi.has_modrm = 1;
	fi.mod = 3;
	fi.rm = 1;
	fi.pfx66 = pfx == PFX_66;
	fi.rep = pfx == PFX_F3 ? REP_F3 : pfx == PFX_F2 ? REP_F2 : REP_NONE;
	fd = &sse_ops[sse_index[op][pfx] - 1];
	len = sse_encode(&fi, fd, enc);
	memset(&r, 0, sizeof(r));
	memcpy(img, c->fx, sizeof(img));
	nmx = (mx | 0x1f80) & ~0x3fu;
	memcpy(img + FX_MXCSR, &nmx, 4);
	hx_run(c, enc, len, 0, img, &r);
	memcpy(&nmx, img + FX_MXCSR, 4);
	raised = nmx & 0x3f;
	if (!(mx & 0x800) && !(mx & 0x8000) && !(raised & 0x10) &&
	    !(raised & ~(mx >> 7) & 0x7))
		raised |= tiny_check(c, enc, len, 0, mx, &r);
	unmasked = raised & ~(mx >> 7) & 0x3f;
	if ((unmasked & 0x18) && !(unmasked & 0x7)) {
		pe = sse_unbounded_pe(c, &fi, fd, mx);
		if (pe >= 0)
			raised = (raised & ~0x20u) | (uint32_t)pe;
	}
	memcpy(out, img + 160, 16);
	return raised;
}

/*
 * DPPS and DPPD with an unmasked exception: the CPU stops at the first
 * of its steps (the products, then the sums pair by pair) that raises
 * one, and MXCSR shows the flags of the steps up to it (SDM vol. 2,
 * DPPS: exceptions are determined separately for each add and multiply
 * operation), not the whole instruction's.  Returns the flags to report,
 * or -1 if no step faults alone (then op_sse's own flags stand).
 */
static int64_t
dpp_fault_flags(struct dbt_cpu *c, const struct insn *i, uint32_t mx)
{
	uint8_t save[512], a[16], b[16], p[16], t[16];
	uint32_t acc = 0, st, um;
	bool dbl = i->op == 0x41;
	unsigned k, n = dbl ? 2 : 4, w = dbl ? 8 : 4, imm = (unsigned)i->imm;
	int64_t ret = -1;
	int stage;

	memcpy(save, c->fx, sizeof(save));
	memset(a, 0, 16);
	memset(b, 0, 16);
	for (k = 0; k < n; k++)
		if (imm & (0x10u << k)) {
			memcpy(a + w * k, save + 160 + 16 * i->reg + w * k, w);
			memcpy(b + w * k, (i->mem ? c->fx_mem : save + 160 +
			    16 * i->rm) + w * k, w);
		}
	for (stage = 0; stage < 3; stage++) {
		memset(c->fx + 160, 0, 32);
		if (stage == 0) {
			memcpy(c->fx + 160, a, 16);
			memcpy(c->fx + 176, b, 16);
			st = dpp_stage(c, 0x59, dbl ? PFX_66 : PFX_NONE, mx, p);
		} else if (dbl) {
			memcpy(c->fx + 160, p, 8);
			memcpy(c->fx + 176, p + 8, 8);
			st = dpp_stage(c, 0x58, PFX_F2, mx, t);
		} else if (stage == 1) {
			/* {p0, p2} + {p1, p3} */
			memcpy(c->fx + 160, p, 4);
			memcpy(c->fx + 164, p + 8, 4);
			memcpy(c->fx + 176, p + 4, 4);
			memcpy(c->fx + 180, p + 12, 4);
			st = dpp_stage(c, 0x58, PFX_NONE, mx, t);
			memcpy(p, t, 16);
		} else {
			memcpy(c->fx + 160, p, 4);
			memcpy(c->fx + 176, p + 4, 4);
			st = dpp_stage(c, 0x58, PFX_F3, mx, t);
		}
		um = st & ~(mx >> 7) & 0x3f;
		if (um) {
			ret = acc | ((um & 0x7) ? st & 0x7 : st);
			break;
		}
		acc |= st;
		if (dbl && stage == 1)
			break;
	}
	memcpy(c->fx, save, sizeof(save));
	return ret;
}

/* The x87 to MMX transition: TOP 0 and every tag valid.  The image
 * holds the registers by stack position, so they move with TOP. */
static void
mmx_enter(struct dbt_cpu *c)
{
	uint8_t st[128];
	uint16_t fsw = get16(c, FX_FSW);
	unsigned top = (fsw >> 11) & 7, k;

	for (k = 0; k < 8; k++)
		memcpy(st + 16 * k, c->fx + 32 + 16 * ((k - top) & 7), 16);
	memcpy(c->fx + 32, st, sizeof(st));
	fsw &= (uint16_t)~0x3800u;
	memcpy(c->fx + FX_FSW, &fsw, 2);
	c->fx[FX_FTW] = 0xff;
}

static void
op_sse(struct dbt_cpu *c, const struct insn *i)
{
	const struct sse_op *d;
	struct hx_regs r;
	uint8_t enc[16], save[18];
	unsigned len, size = 0, flags = 0, k;
	uint64_t ea = 0;
	uint32_t mx;
	int pfx = dbt_insn_pfx(i), mmx;

	pthread_once(&sse_once, sse_index_build);
	d = NULL;
	if (i->map == MAP_0F3A) {
		for (k = 0; k < sizeof(sse_ops_3a) / sizeof(sse_ops_3a[0]); k++)
			if (sse_ops_3a[k].op == i->op &&
			    sse_ops_3a[k].pfx == pfx)
				d = &sse_ops_3a[k];
	} else if (i->map == MAP_0F && sse_index[i->op][pfx]) {
		d = &sse_ops[sse_index[i->op][pfx] - 1];
	}
	if (d == NULL || i->lock)
		dbt_ud(c);
	if ((d->f & S_REG) && i->mem)
		dbt_ud(c);
	if ((d->f & S_MEM) && !i->mem)
		dbt_ud(c);
	if (d->regmask && !(d->regmask & (1u << (i->reg & 7))))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_EM)
		dbt_ud(c);
	/* MMX proper does not need OSFXSR; SSE's MMX conversions do. */
	if ((!(d->f & S_MMX) || (d->op >= 0x2a && d->op <= 0x2d)) &&
	    !(c->cr4 & X86_CR4_OSFXSR))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_TS)
		dbt_raise_noerr(c, X86_EXC_NM);
	/* CVTPI2PS and CVTPI2PD from memory touch no MMX register: no
	 * transition, so no #MF either (SDM vol. 2, CVTPI2PS). */
	mmx = (d->f & S_MMX) && !(i->map == MAP_0F && d->op == 0x2a &&
	    i->mem);
	if (mmx)
		x87_pending_check(c);

	if (i->mem) {
		size = ((d->f & S_W8) && (i->rex & 8)) ? 8 : d->size;
		ea = dbt_ea(c, i);
		/* The alignment #GP before the segment and canonical faults,
		 * as for CMPXCHG16B (op_cmpxchg8b): the CPU run natively
		 * gives #GP(0) for a misaligned operand at a non-canonical
		 * address through SS. */
		if ((d->f & S_A16) && size == 16) {
			if ((c->seg[i->seg].base + ea) & 15)
				dbt_gp0(c);
			(void)dbt_linear(c, i->seg, ea, size, (d->f & S_ST) ?
			    DBT_ACC_WRITE : DBT_ACC_READ);
		}
		if (d->f & S_ST)
			dbt_probe_write(c, i->seg, ea, size);
		else
			dbt_read_bytes(c, i->seg, ea, c->fx_mem, size);
	}
	memset(&r, 0, sizeof(r));
	if (d->f & S_GREG) {
		flags |= HX_GPR;
		r.rax = c->gpr[i->reg];
	} else if ((d->f & S_GRM) && !i->mem) {
		flags |= HX_GPR;
		r.rax = c->gpr[i->rm];
	}
	if (d->f & S_FLAGS)
		flags |= HX_RFLAGS;
	len = sse_encode(i, d, enc);
	/* SSE instructions leave the x87 last-instruction pointers alone;
	 * keep the guest's whatever the host's FXSAVE does with them. */
	memcpy(save, c->fx + FX_FOP, sizeof(save));
	mx = get_mxcsr(c);
	if ((mx & 0x1f80) != 0x1f80) {
		/* Some SIMD exception is unmasked: run with all masked and
		 * flags clear, then decide.  An unmasked one faults with
		 * nothing written but its flags. */
		uint8_t img[512] __attribute__((aligned(16)));
		uint32_t nmx, raised, unmasked;

		struct hx_regs r0 = r;

		memcpy(img, c->fx, sizeof(img));
		nmx = (mx | 0x1f80) & ~0x3fu;
		memcpy(img + FX_MXCSR, &nmx, 4);
		hx_run(c, enc, len, flags, img, &r);
		memcpy(&nmx, img + FX_MXCSR, 4);
		raised = nmx & 0x3f;
		if (!(mx & 0x800) && !(mx & 0x8000) && !(raised & 0x10) &&
		    !(raised & ~(mx >> 7) & 0x7))
			raised |= tiny_check(c, enc, len, flags, mx, &r0);
		unmasked = raised & ~(mx >> 7) & 0x3f;
		if ((unmasked & 0x18) && !(unmasked & 0x7)) {
			int pe = sse_unbounded_pe(c, i, d, mx);

			if (pe >= 0)
				raised = (raised & ~0x20u) | (uint32_t)pe;
		}
		if (unmasked) {
			/* The CPU reports every exception it detected, masked
			 * ones too, except that an unmasked pre-computation
			 * one (invalid, denormal, divide by zero) stops it
			 * before the post-computation ones (overflow,
			 * underflow, precision) are looked for (SDM vol. 1,
			 * 11.5.2). */
			int64_t dpp = -1;

			if (i->map == MAP_0F3A && (i->op == 0x40 ||
			    i->op == 0x41))
				dpp = dpp_fault_flags(c, i, mx);
			put_mxcsr(c, mx | (dpp >= 0 ? (uint32_t)dpp :
			    (unmasked & 0x7) ? raised & 0x7 : raised));
			/* CVTPI2PS, CVT(T)PS2PI, CVT(T)PD2PI: the x87 to MMX
			 * transition (TOP 0, every tag valid) is made even
			 * when they fault so, the destination left alone (the
			 * CPU here; the SDM does not say). */
			if (mmx)
				mmx_enter(c);
			dbt_raise_noerr(c, (c->cr4 & X86_CR4_OSXMMEXCPT) ?
			    X86_EXC_XM : X86_EXC_UD);
		}
		nmx = mx | raised;
		memcpy(img + FX_MXCSR, &nmx, 4);
		memcpy(c->fx, img, sizeof(img));
	} else {
		hx_run(c, enc, len, flags, c->fx, &r);
	}
	memcpy(c->fx + FX_FOP, save, sizeof(save));
	if ((d->f & S_GREG) && !(d->f & S_ST))
		c->gpr[i->reg] = r.rax;
	else if ((d->f & S_GRM) && (d->f & S_ST) && !i->mem)
		c->gpr[i->rm] = r.rax;
	if (d->f & S_FLAGS)
		c->rflags = (c->rflags & ~(uint64_t)X86_ARITH_FLAGS) |
		    (r.rflags & X86_ARITH_FLAGS);
	if (i->mem && (d->f & S_ST))
		dbt_write_bytes(c, i->seg, ea, c->fx_mem, size);
}

/* 0F F7: MASKMOVQ mm, mm / MASKMOVDQU xmm, xmm: the bytes of the first
 * operand whose mask byte has its top bit set go to DS:[rDI] (segment
 * override allowed). */
static void
op_maskmov(struct dbt_cpu *c, const struct insn *i)
{
	int pfx = dbt_insn_pfx(i);
	unsigned n, k, src, msk;
	uint64_t di;

	if (i->mem || i->lock || (pfx != PFX_NONE && pfx != PFX_66))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_EM)
		dbt_ud(c);
	if (pfx == PFX_66 && !(c->cr4 & X86_CR4_OSFXSR))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_TS)
		dbt_raise_noerr(c, X86_EXC_NM);
	if (pfx == PFX_NONE) {
		x87_pending_check(c);
		n = 8;
		/* An MMX instruction: TOP 0, every register valid.  MMn is
		 * the physical register Rn, which the image holds at stack
		 * position (n - TOP) & 7: after the transition, at n. */
		mmx_enter(c);
		src = 32 + 16 * (i->reg & 7u);
		msk = 32 + 16 * (i->rm & 7u);
	} else {
		n = 16;
		src = 160 + 16 * i->reg;
		msk = 160 + 16 * i->rm;
	}
	di = c->gpr[X86_RDI] & (i->addrsize == 8 ? ~0ULL :
	    i->addrsize == 4 ? 0xffffffffULL : 0xffffULL);
	/* The whole operand is checked as a write first, whatever the mask
	 * (the SDM leaves faults for masked-off bytes to the implementation;
	 * the CPU run natively reports CR2 at rDI, not at the first byte it
	 * stores). */
	if (i->addrsize == 8 || (di + n - 1) <= (i->addrsize == 4 ?
	    0xffffffffULL : 0xffffULL))
		dbt_probe_write(c, i->seg, di, n);
	for (k = 0; k < n; k++)
		if (c->fx[msk + k] & 0x80)
			dbt_write8(c, i->seg, (di + k) & (i->addrsize == 8 ?
			    ~0ULL : i->addrsize == 4 ? 0xffffffffULL : 0xffffULL),
			    c->fx[src + k]);
}

/* ---- x87 --------------------------------------------------------------- */

enum {
	X_ST = 1 << 0,          /* memory operand is written */
	X_CTL = 1 << 1,         /* control: FIP/FDP/FOP left alone */
	X_NOWAIT = 1 << 2,      /* no pending-exception check */
	X_LOADS = 1 << 3,       /* takes FIP/FDP from memory or clears them */
	X_ENV = 1 << 4,         /* FNSTENV/FNSAVE: fix the pointers stored */
	X_FLAGS = 1 << 5,       /* FCOMI family: writes ZF PF CF */
	X_UD = 1 << 6,
	X_FCMOV = 1 << 7,       /* FCMOVcc: reads CF ZF PF */
};

/* Memory forms: size and flags by (opcode & 7, ModRM.reg). */
static unsigned
x87_mem(const struct insn *i, unsigned *size)
{
	unsigned op = i->op & 7, reg = i->reg & 7;
	unsigned env = i->opsize == 2 ? 14 : 28, save = i->opsize == 2 ? 94 :
	    108;

	switch (op) {
	case 0: *size = 4; return 0;                    /* m32fp arith */
	case 2: *size = 4; return 0;                    /* m32int arith */
	case 4: *size = 8; return 0;                    /* m64fp arith */
	case 6: *size = 2; return 0;                    /* m16int arith */
	case 1:
		switch (reg) {
		case 0: *size = 4; return 0;            /* fld m32 */
		case 2: case 3: *size = 4; return X_ST; /* fst(p) m32 */
		case 4: *size = env; return X_CTL | X_LOADS;    /* fldenv */
		case 5: *size = 2; return X_CTL;        /* fldcw */
		case 6: *size = env;                    /* fnstenv */
			return X_ST | X_CTL | X_NOWAIT | X_ENV;
		case 7: *size = 2; return X_ST | X_CTL | X_NOWAIT; /* fnstcw */
		}
		return X_UD;
	case 3:
		switch (reg) {
		case 0: *size = 4; return 0;            /* fild m32 */
		case 1: case 2: case 3: *size = 4; return X_ST;
		case 5: *size = 10; return 0;           /* fld m80 */
		case 7: *size = 10; return X_ST;        /* fstp m80 */
		}
		return X_UD;
	case 5:
		switch (reg) {
		case 0: *size = 8; return 0;            /* fld m64 */
		case 1: case 2: case 3: *size = 8; return X_ST;
		case 4: *size = save; return X_CTL | X_LOADS;   /* frstor */
		case 6: *size = save;                   /* fnsave */
			return X_ST | X_CTL | X_NOWAIT | X_LOADS | X_ENV;
		case 7: *size = 2; return X_ST | X_CTL | X_NOWAIT; /* fnstsw */
		}
		return X_UD;
	case 7:
		switch (reg) {
		case 0: *size = 2; return 0;            /* fild m16 */
		case 1: case 2: case 3: *size = 2; return X_ST;
		case 4: *size = 10; return 0;           /* fbld */
		case 5: *size = 8; return 0;            /* fild m64 */
		case 6: *size = 10; return X_ST;        /* fbstp */
		case 7: *size = 8; return X_ST;         /* fistp m64 */
		}
		return X_UD;
	}
	return X_UD;
}

/* Register forms: the documented encodings only (no aliases). */
static unsigned
x87_reg(const struct insn *i)
{
	unsigned m = i->modrm;

	switch (i->op & 7) {
	case 0:                                         /* D8 */
		return 0;
	case 1:                                         /* D9 */
		if (m <= 0xcf || m == 0xd0 || m == 0xe0 || m == 0xe1 ||
		    m == 0xe4 || m == 0xe5 || (m >= 0xe8 && m <= 0xee) ||
		    m >= 0xf0)
			return 0;
		return X_UD;
	case 2:                                         /* DA */
		return m <= 0xdf ? X_FCMOV : m == 0xe9 ? 0 : X_UD;
	case 3:                                         /* DB */
		if (m <= 0xdf)
			return X_FCMOV;
		if (m == 0xe2)
			return X_CTL | X_NOWAIT;        /* fnclex */
		if (m == 0xe3)
			return X_CTL | X_NOWAIT | X_LOADS;      /* fninit */
		if (m == 0xe0 || m == 0xe1 || m == 0xe4)
			return X_CTL;                   /* 8087 leftovers */
		if (m >= 0xe8 && m <= 0xf7)
			return X_FLAGS;                 /* fucomi, fcomi */
		return X_UD;
	case 4:                                         /* DC */
		return m >= 0xd0 && m <= 0xdf ? X_UD : 0;
	case 5:                                         /* DD */
		if (m <= 0xc7 || (m >= 0xd0 && m <= 0xef))
			return 0;
		return X_UD;
	case 6:                                         /* DE */
		return m <= 0xcf || m == 0xd9 || m >= 0xe0 ? 0 : X_UD;
	case 7:                                         /* DF */
		if (m >= 0xe8 && m <= 0xf7)
			return X_FLAGS;                 /* fucomip, fcomip */
		return X_UD;
	}
	return X_UD;
}

/* The selector an x87 instruction with a memory operand records as FDS:
 * its operand's segment.  In 64-bit mode CS, DS, ES and SS overrides are
 * ignored (decode.c drops the first three and keeps SS for its #SS): the
 * default segment, SS for an RSP or RBP base, DS otherwise (probed on
 * this AMD: [rbx] with an SS override records DS). */
static uint16_t
x87_fds(const struct dbt_cpu *c, const struct insn *i)
{
	unsigned s = i->seg;

	if (c->long64 && i->seg_override && s == X86_SS &&
	    i->base != X86_RSP && i->base != X86_RBP)
		s = X86_DS;
	return c->seg[s].sel;
}

/* The instruction and operand pointers as the guest's mode stores them,
 * and FCS and FDS (SDM vol. 1, 8.1.8: a CPU without CPUID.(EAX=7,
 * ECX=0):EBX[13], as the model is, records them in every mode). */
static void
x87_set_pointers(struct dbt_cpu *c, const struct insn *i, uint64_t ea)
{
	uint16_t fop = (uint16_t)(((i->op & 7u) << 8) | i->modrm);
	uint32_t v32;
	uint16_t sel;

	memcpy(c->fx + FX_FOP, &fop, 2);
	c->fcs = c->seg[X86_CS].sel;
	if (i->mem)
		c->fds = x87_fds(c, i);
	if (c->long64) {
		memcpy(c->fx + FX_FIP, &c->rip, 8);
		if (i->mem)
			memcpy(c->fx + FX_FDP, &ea, 8);
		return;
	}
	v32 = (uint32_t)c->rip;
	sel = c->fcs;
	memcpy(c->fx + FX_FIP, &v32, 4);
	memcpy(c->fx + FX_FIP + 4, &sel, 2);
	memset(c->fx + FX_FIP + 6, 0, 2);
	if (i->mem) {
		v32 = (uint32_t)ea;
		sel = c->fds;
		memcpy(c->fx + FX_FDP, &v32, 4);
		memcpy(c->fx + FX_FDP + 4, &sel, 2);
		memset(c->fx + FX_FDP + 6, 0, 2);
	}
}

/* FNSTENV/FNSAVE wrote an environment from the host's pointer registers,
 * which some hosts do not reload from FXRSTOR: store the guest's.  ptr is
 * the image's bytes FX_FOP..FX_FOP+18 from before the instruction (FOP
 * and the offsets); the selectors are c->fcs and c->fds. */
static void
x87_env_fix(const struct dbt_cpu *c, const uint8_t *ptr, uint8_t *env,
    unsigned opsize)
{
	uint32_t fip, fdp, w;
	uint16_t fcs = c->fcs, fds = c->fds, fop;

	memcpy(&fop, ptr, 2);
	memcpy(&fip, ptr + FX_FIP - FX_FOP, 4);
	memcpy(&fdp, ptr + FX_FDP - FX_FOP, 4);
	if (opsize == 2) {
		uint16_t v = (uint16_t)fip;

		memcpy(env + 6, &v, 2);
		memcpy(env + 8, &fcs, 2);
		v = (uint16_t)fdp;
		memcpy(env + 10, &v, 2);
		memcpy(env + 12, &fds, 2);
		return;
	}
	memcpy(env + 12, &fip, 4);
	w = fcs | (uint32_t)(fop & 0x7ff) << 16;
	memcpy(env + 16, &w, 4);
	memcpy(env + 20, &fdp, 4);
	/* Bits 31:16 are reserved: as the host wrote them. */
	memcpy(&w, env + 24, 4);
	w = (w & 0xffff0000u) | fds;
	memcpy(env + 24, &w, 4);
}

/* FLDENV/FRSTOR loaded the environment env in protected or long mode:
 * take FOP, FIP and FDP from it, not from the host's FXSAVE, which on
 * AMD stores them only while FSW.ES is set (the loaded FSW may have it
 * clear: the CPU recomputes it).  The 16-bit format has no FOP. */
static void
x87_env_load(struct dbt_cpu *c, const uint8_t *env, unsigned opsize)
{
	uint32_t fip, fdp, w = 0;
	uint16_t fcs, fds, fop = 0;

	if (opsize == 2) {
		uint16_t v;

		memcpy(&v, env + 6, 2);
		fip = v;
		memcpy(&fcs, env + 8, 2);
		memcpy(&v, env + 10, 2);
		fdp = v;
		memcpy(&fds, env + 12, 2);
	} else {
		memcpy(&fip, env + 12, 4);
		memcpy(&w, env + 16, 4);
		fcs = (uint16_t)w;
		fop = (uint16_t)((w >> 16) & 0x7ff);
		memcpy(&fdp, env + 20, 4);
		memcpy(&fds, env + 24, 2);
	}
	c->fcs = fcs;
	c->fds = fds;
	memcpy(c->fx + FX_FOP, &fop, 2);
	memset(c->fx + FX_FIP, 0, 16);
	memcpy(c->fx + FX_FIP, &fip, 4);
	memcpy(c->fx + FX_FDP, &fdp, 4);
	if (!c->long64) {
		memcpy(c->fx + FX_FIP + 4, &fcs, 2);
		memcpy(c->fx + FX_FDP + 4, &fds, 2);
	}
}

static void
op_x87(struct dbt_cpu *c, const struct insn *i)
{
	struct hx_regs r;
	uint8_t enc[4], save[18];
	unsigned f, size = 0, len = 0, flags = 0;
	uint64_t ea = 0;
	uint16_t fsw0;

	f = i->mem ? x87_mem(i, &size) : x87_reg(i);
	if ((f & X_UD) || i->lock)
		dbt_ud(c);
	if (c->cr0 & (X86_CR0_EM | X86_CR0_TS))
		dbt_raise_noerr(c, X86_EXC_NM);
	if (!(f & X_NOWAIT))
		x87_pending_check(c);
	if (i->mem) {
		ea = dbt_ea(c, i);
		if (f & X_ST)
			dbt_probe_write(c, i->seg, ea, size);
		else
			dbt_read_bytes(c, i->seg, ea, c->fx_mem, size);
	}
	if (i->mem && i->opsize == 2 && (size == 14 || size == 94))
		enc[len++] = 0x66;
	enc[len++] = i->op;
	enc[len++] = i->mem ? (uint8_t)((i->modrm & 0x38) | 6) : i->modrm;
	memset(&r, 0, sizeof(r));
	if (f & X_FLAGS)
		flags |= HX_RFLAGS;
	if (f & X_FCMOV) {
		flags |= HX_RFLAGS_IN;
		r.rflags = c->rflags & X86_ARITH_FLAGS;
	}
	memcpy(save, c->fx + FX_FOP, sizeof(save));
	fsw0 = get16(c, FX_FSW);
	hx_run(c, enc, len, flags, c->fx, &r);
	/* An unmasked invalid-operation, denormal, overflow or underflow
	 * exception suppresses a store to memory (SDM vol. 1, 4.9.1.6 and
	 * 8.5); the host did not write its scratch buffer then. */
	if ((f & X_ST) && !(f & X_CTL) && ((get16(c, FX_FSW) & ~fsw0) &
	    ~get16(c, FX_FCW) & 0x1b))
		f &= ~(unsigned)X_ST;
	if (f & X_ENV)
		x87_env_fix(c, save, c->fx_mem, i->opsize);
	if ((f & X_LOADS) && i->mem && !(f & X_ST) && (c->cr0 & X86_CR0_PE) &&
	    !(c->rflags & X86_VM))
		x87_env_load(c, c->fx_mem, i->opsize);
	else if ((f & X_LOADS) && i->mem && !(f & X_ST)) {
		/* FLDENV, FRSTOR in real or v86 mode: as the host loaded
		 * them into the image. */
		memcpy(&c->fcs, c->fx + FX_FIP + 4, 2);
		memcpy(&c->fds, c->fx + FX_FDP + 4, 2);
	} else if (f & X_LOADS) {
		c->fcs = c->fds = 0;    /* FNINIT, FNSAVE */
	}
	if (!(f & X_LOADS))
		memcpy(c->fx + FX_FOP, save, sizeof(save));
	if (!(f & X_CTL))
		x87_set_pointers(c, i, ea);
	if (f & X_FLAGS)
		c->rflags = (c->rflags & ~(uint64_t)X86_ARITH_FLAGS) |
		    (r.rflags & X86_ARITH_FLAGS);
	if (i->mem && (f & X_ST))
		dbt_write_bytes(c, i->seg, ea, c->fx_mem, size);
}

/* DF E0: FNSTSW AX. */
static void
op_fnstsw_ax(struct dbt_cpu *c, const struct insn *i)
{
	if (i->modrm != 0xe0)
		dbt_ud(c);
	if (c->cr0 & (X86_CR0_EM | X86_CR0_TS))
		dbt_raise_noerr(c, X86_EXC_NM);
	c->gpr[X86_RAX] = (c->gpr[X86_RAX] & ~0xffffULL) | get16(c, FX_FSW);
}

/* 9B: FWAIT. */
static void
op_fwait(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->cr0 & (X86_CR0_MP | X86_CR0_TS)) ==
	    (X86_CR0_MP | X86_CR0_TS))
		dbt_raise_noerr(c, X86_EXC_NM);
	x87_pending_check(c);
}

/*
 * After FXRSTOR loaded img: the CPU keeps only FCW's defined bits and
 * derives FSW.ES and B from the exception flags and masks it loaded.
 * The host's own FXRSTOR does that (hx_run loads the image, runs MOVAPS
 * XMM0, XMM0, which changes nothing and cannot fault, and saves it).  FOP,
 * FIP and FDP are then taken from the image (fx_ptrs_load), as for FLDENV
 * (x87_env_load): some hosts store them only while FSW.ES is set.
 */
static void
fx_normalize(struct dbt_cpu *c)
{
	static const uint8_t nop[3] = { 0x0f, 0x28, 0xc0 };
	struct hx_regs r;

	memset(&r, 0, sizeof(r));
	hx_run(c, nop, sizeof(nop), 0, c->fx, &r);
}

/*
 * The pointer fields of an FXSAVE image (SDM vol. 1, tables 10-2 and
 * 10-3; FOP is 11 bits).  The image's format: REX.W (FXSAVE64) has 64-bit
 * FIP and FDP; without it FIP and FDP are 32 bits, each followed by its
 * selector.  The state (x87_set_pointers) has 64-bit pointers in 64-bit
 * mode and the 32-bit format elsewhere; the selectors FXSAVE stores are
 * c->fcs and c->fds.
 */
static void
fx_ptrs_load(struct dbt_cpu *c, const uint8_t *img, int rexw)
{
	uint16_t fop;

	memcpy(&fop, img + FX_FOP, 2);
	fop &= 0x7ff;
	memcpy(c->fx + FX_FOP, &fop, 2);
	memcpy(c->fx + FX_FIP, img + FX_FIP, 8);
	memcpy(c->fx + FX_FDP, img + FX_FDP, 8);
	/* FXRSTOR64's image has no selectors: FCS and FDS become 0 (as
	 * this AMD does, probed). */
	c->fcs = c->fds = 0;
	if (rexw)
		return;
	memcpy(&c->fcs, img + FX_FIP + 4, 2);
	memcpy(&c->fds, img + FX_FDP + 4, 2);
	if (c->long64) {
		memset(c->fx + FX_FIP + 4, 0, 4);
		memset(c->fx + FX_FDP + 4, 0, 4);
	} else {
		memset(c->fx + FX_FIP + 6, 0, 2);
		memset(c->fx + FX_FDP + 6, 0, 2);
	}
}

static void
fx_ptrs_store(const struct dbt_cpu *c, uint8_t *img, int rexw)
{
	uint16_t sel;

	if (rexw)
		return;
	sel = c->fcs;
	memcpy(img + FX_FIP + 4, &sel, 2);
	memset(img + FX_FIP + 6, 0, 2);
	sel = c->fds;
	memcpy(img + FX_FDP + 4, &sel, 2);
	memset(img + FX_FDP + 6, 0, 2);
}

/* 0F AE /0 FXSAVE, /1 FXRSTOR, /2 LDMXCSR, /3 STMXCSR. */
static void
op_fxsave(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t ea = dbt_ea(c, i);
	uint32_t mx, mask = dbt_hx_mxcsr_mask();
	uint8_t buf[512];

	if (i->lock)
		dbt_ud(c);
	if ((c->cr0 & X86_CR0_EM) ||
	    ((i->reg & 7) >= 2 && !(c->cr4 & X86_CR4_OSFXSR)))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_TS)
		dbt_raise_noerr(c, X86_EXC_NM);
	switch (i->reg & 7) {
	case 0:
		/* Bytes 464-511 are software's: the CPU does not write
		 * them. */
		if ((c->seg[i->seg].base + ea) & 15)
			dbt_gp0(c);
		memcpy(c->fx + FX_MXCSR_MASK, &mask, 4);
		memcpy(buf, c->fx, 464);
		fx_ptrs_store(c, buf, i->rex & 8);
		/* Outside 64-bit mode XMM8-15 are not saved: the image ends
		 * with XMM7 (SDM vol. 1, table 10-2; vol. 2, FXSAVE), though
		 * the whole 512 bytes are checked as a write (the CPU run
		 * natively faults on the last byte's page). */
		if (!c->long64)
			dbt_probe_write(c, i->seg, ea, 512);
		dbt_write_bytes(c, i->seg, ea, buf, c->long64 ? 464 : 288);
		break;
	case 1:
		if ((c->seg[i->seg].base + ea) & 15)
			dbt_gp0(c);
		dbt_read_bytes(c, i->seg, ea, buf, 512);
		memcpy(&mx, buf + FX_MXCSR, 4);
		if (mx & ~mask)
			dbt_gp0(c);
		/* Outside 64-bit mode XMM8-15 are not loaded. */
		memcpy(c->fx, buf, c->long64 ? 512 : 288);
		if (!c->long64)
			memcpy(c->fx + 416, buf + 416, 96);
		fx_normalize(c);
		fx_ptrs_load(c, buf, i->rex & 8);
		break;
	case 2:
		mx = dbt_read32(c, i->seg, ea);
		if (mx & ~mask)
			dbt_gp0(c);
		put_mxcsr(c, mx);
		break;
	case 3:
		dbt_write32(c, i->seg, ea, get_mxcsr(c));
		break;
	}
}

#define SE(o) { MAP_0F, o, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse }
#define S8(o) SE(o), SE(o + 1), SE(o + 2), SE(o + 3), SE(o + 4),            \
	SE(o + 5), SE(o + 6), SE(o + 7)
#define X87(o) { MAP_1B, o, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_x87 }

const struct op_entry dbt_ops_fpu[] = {
	X87(0xd8), X87(0xd9), X87(0xda), X87(0xdb), X87(0xdc), X87(0xdd),
	X87(0xde), X87(0xdf),
	{ MAP_1B, 0xdf, PFX_ANY, 4, OP_MOD_REG, 0, op_fnstsw_ax },
	{ MAP_1B, 0x9b, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_fwait },
	S8(0x10), S8(0x28), S8(0x50), S8(0x58), S8(0x60), S8(0x68),
	S8(0x70), S8(0x78),
	SE(0xc2), SE(0xc3), SE(0xc4), SE(0xc5), SE(0xc6),
	S8(0xd0), S8(0xd8), S8(0xe0), S8(0xe8), S8(0xf0), S8(0xf8),
	{ MAP_0F, 0xf7, PFX_ANY, OP_ANY, OP_MOD_REG, OP_ANY, op_maskmov },
	{ MAP_0F, 0xae, PFX_NONE, 0, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 1, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 2, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F, 0xae, PFX_NONE, 3, OP_MOD_MEM, OP_ANY, op_fxsave },
	{ MAP_0F3A, 0x08, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ MAP_0F3A, 0x09, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ MAP_0F3A, 0x0a, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ MAP_0F3A, 0x0b, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ MAP_0F3A, 0x40, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ MAP_0F3A, 0x41, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_sse },
	{ 0 },
};
