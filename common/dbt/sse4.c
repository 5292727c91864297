/*
 * SSSE3, SSE4.1, SSE4.2, AES-NI and PCLMULQDQ: the 0F38 and 0F3A maps'
 * vector instructions (Intel SDM vol. 2, each instruction's Operation
 * section; PCMPxSTRx after vol. 2, 4.1; AES after FIPS-197).
 *
 * Unlike fpu.c, which runs SSE/SSE2 on the host, these are plain C on the
 * guest's FXSAVE image, so they need nothing of the host.  None of them
 * reads or writes MXCSR except ROUNDPS/PD/SS/SD and DPPS/DPPD, which are
 * arithmetic under the guest's rounding and exception masks and stay with
 * fpu.c (its 0F3A whitelist).
 *
 * One table, s4_ops, lists every (map, opcode, mandatory prefix) with its
 * memory operand size and form; op_s4 does the architectural checks
 * (CR0.EM/TS, CR4.OSFXSR, 16-byte alignment, x87 #MF before an MMX form),
 * reads the operands into a struct s4_args, calls the entry's function and
 * writes back what it changed.  dbt_sse4_lookup() gives the translator the
 * same entry (in fpu.h's struct sse_op form).
 */
#include "dbt/dbt-int.h"
#include "dbt/fpu.h"

#include <pthread.h>
#include <string.h>

#define FX_FSW 2
#define FX_FTW 4
#define XMM(n) (160u + 16u * (unsigned)(n))

/* The operands as op_s4 hands them to an entry's function. */
struct s4_args {
	uint8_t x[16];          /* ModRM.reg: xmm or mm (n bytes) */
	uint8_t y[16];          /* ModRM.rm: xmm/mm, memory or a GPR */
	unsigned n;             /* vector bytes: 8 (MMX) or 16 */
	uint8_t imm;
	bool w;                 /* REX.W (PEXTRQ, PINSRQ, PCMPESTRx) */
};

typedef void s4_fn(struct dbt_cpu *c, struct s4_args *a);

/* Extra flags beyond fpu.h's S_*: the result goes to y, not x. */
#define S4_TOY (1u << 15)

struct s4_op {
	struct sse_op d;        /* op, pfx, size, regmask, flags */
	uint8_t map;
	s4_fn *fn;
};

/* ---- element access -------------------------------------------------- */

static uint16_t
w16(const uint8_t *p, unsigned k)
{
	uint16_t v;

	memcpy(&v, p + 2 * k, 2);
	return v;
}

static void
pw16(uint8_t *p, unsigned k, uint16_t v)
{
	memcpy(p + 2 * k, &v, 2);
}

static uint32_t
d32(const uint8_t *p, unsigned k)
{
	uint32_t v;

	memcpy(&v, p + 4 * k, 4);
	return v;
}

static void
pd32(uint8_t *p, unsigned k, uint32_t v)
{
	memcpy(p + 4 * k, &v, 4);
}

static uint64_t
q64(const uint8_t *p, unsigned k)
{
	uint64_t v;

	memcpy(&v, p + 8 * k, 8);
	return v;
}

static void
pq64(uint8_t *p, unsigned k, uint64_t v)
{
	memcpy(p + 8 * k, &v, 8);
}

static int16_t
sat16(int32_t v)
{
	return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/* ---- SSSE3 ----------------------------------------------------------- */

static void
f_pshufb(struct dbt_cpu *c, struct s4_args *a)
{
	uint8_t r[16];
	unsigned k;

	(void)c;
	for (k = 0; k < a->n; k++)
		r[k] = (a->y[k] & 0x80) ? 0 : a->x[a->y[k] & (a->n - 1)];
	memcpy(a->x, r, a->n);
}

/* Horizontal add/subtract of adjacent words or dwords: the low half of
 * the result from x's pairs, the high half from y's. */
static void
hop(struct s4_args *a, unsigned esz, bool sub, bool sat)
{
	uint8_t r[16];
	unsigned k, ne = a->n / esz, half = ne / 2;

	for (k = 0; k < ne; k++) {
		const uint8_t *s = k < half ? a->x : a->y;
		unsigned j = 2 * (k % half);

		if (esz == 2) {
			int32_t p = (int16_t)w16(s, j), q = (int16_t)w16(s,
			    j + 1), v = sub ? p - q : p + q;

			pw16(r, k, sat ? (uint16_t)sat16(v) : (uint16_t)v);
		} else {
			uint32_t p = d32(s, j), q = d32(s, j + 1);

			pd32(r, k, sub ? p - q : p + q);
		}
	}
	memcpy(a->x, r, a->n);
}

static void f_phaddw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 2, false, false); }
static void f_phaddd(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 4, false, false); }
static void f_phaddsw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 2, false, true); }
static void f_phsubw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 2, true, false); }
static void f_phsubd(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 4, true, false); }
static void f_phsubsw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; hop(a, 2, true, true); }

static void
f_pmaddubsw(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	for (k = 0; k < a->n / 2; k++) {
		int32_t v = a->x[2 * k] * (int8_t)a->y[2 * k] +
		    a->x[2 * k + 1] * (int8_t)a->y[2 * k + 1];

		pw16(a->x, k, (uint16_t)sat16(v));
	}
}

/* PSIGNB/W/D: x negated, zeroed or kept by the sign of y. */
static void
psign(struct s4_args *a, unsigned esz)
{
	unsigned k;

	for (k = 0; k < a->n / esz; k++) {
		int64_t s, v;

		if (esz == 1) {
			s = (int8_t)a->y[k];
			v = (int8_t)a->x[k];
			a->x[k] = (uint8_t)(s < 0 ? -v : s == 0 ? 0 : v);
		} else if (esz == 2) {
			s = (int16_t)w16(a->y, k);
			v = (int16_t)w16(a->x, k);
			pw16(a->x, k, (uint16_t)(s < 0 ? -v : s == 0 ? 0 : v));
		} else {
			s = (int32_t)d32(a->y, k);
			v = (int32_t)d32(a->x, k);
			pd32(a->x, k, (uint32_t)(s < 0 ? -v : s == 0 ? 0 : v));
		}
	}
}

static void f_psignb(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; psign(a, 1); }
static void f_psignw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; psign(a, 2); }
static void f_psignd(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; psign(a, 4); }

static void
f_pmulhrsw(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	for (k = 0; k < a->n / 2; k++) {
		int32_t v = (int16_t)w16(a->x, k) * (int16_t)w16(a->y, k);

		pw16(a->x, k, (uint16_t)(((v >> 14) + 1) >> 1));
	}
}

/* PABSB/W/D: |y| into x (unsigned: |-128| is 0x80). */
static void
pabs(struct s4_args *a, unsigned esz)
{
	unsigned k;

	for (k = 0; k < a->n / esz; k++) {
		if (esz == 1) {
			int v = (int8_t)a->y[k];

			a->x[k] = (uint8_t)(v < 0 ? -v : v);
		} else if (esz == 2) {
			int v = (int16_t)w16(a->y, k);

			pw16(a->x, k, (uint16_t)(v < 0 ? -v : v));
		} else {
			int64_t v = (int32_t)d32(a->y, k);

			pd32(a->x, k, (uint32_t)(v < 0 ? -v : v));
		}
	}
}

static void f_pabsb(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; pabs(a, 1); }
static void f_pabsw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; pabs(a, 2); }
static void f_pabsd(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; pabs(a, 4); }

/* PALIGNR: x:y (x high) shifted right by imm bytes, the low n kept. */
static void
f_palignr(struct dbt_cpu *c, struct s4_args *a)
{
	uint8_t t[32];
	unsigned k, n = a->n;

	(void)c;
	memcpy(t, a->y, n);
	memcpy(t + n, a->x, n);
	for (k = 0; k < n; k++)
		a->x[k] = a->imm + k < 2 * n ? t[a->imm + k] : 0;
}

/* ---- SSE4.1 ---------------------------------------------------------- */

static const uint8_t *
xmm0(const struct dbt_cpu *c)
{
	return c->fx + XMM(0);
}

/* PBLENDVB, BLENDVPS, BLENDVPD: y's element where XMM0's element has
 * its top bit set. */
static void
blendv(struct dbt_cpu *c, struct s4_args *a, unsigned esz)
{
	const uint8_t *m = xmm0(c);
	unsigned k;

	for (k = 0; k < 16; k += esz)
		if (m[k + esz - 1] & 0x80)
			memcpy(a->x + k, a->y + k, esz);
}

static void f_pblendvb(struct dbt_cpu *c, struct s4_args *a)
{ blendv(c, a, 1); }
static void f_blendvps(struct dbt_cpu *c, struct s4_args *a)
{ blendv(c, a, 4); }
static void f_blendvpd(struct dbt_cpu *c, struct s4_args *a)
{ blendv(c, a, 8); }

/* BLENDPS, BLENDPD, PBLENDW: y's element where imm's bit is set. */
static void
blendi(struct s4_args *a, unsigned esz)
{
	unsigned k;

	for (k = 0; k < 16 / esz; k++)
		if (a->imm & (1u << k))
			memcpy(a->x + k * esz, a->y + k * esz, esz);
}

static void f_blendps(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; blendi(a, 4); }
static void f_blendpd(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; blendi(a, 8); }
static void f_pblendw(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; blendi(a, 2); }

static void
set_flags(struct dbt_cpu *c, uint64_t fl)
{
	c->rflags = (c->rflags & ~(uint64_t)X86_ARITH_FLAGS) | fl;
}

/* PTEST: ZF if x AND y is zero, CF if y AND NOT x is zero, the other
 * four cleared. */
static void
f_ptest(struct dbt_cpu *c, struct s4_args *a)
{
	uint64_t and = (q64(a->x, 0) & q64(a->y, 0)) |
	    (q64(a->x, 1) & q64(a->y, 1));
	uint64_t andn = (~q64(a->x, 0) & q64(a->y, 0)) |
	    (~q64(a->x, 1) & q64(a->y, 1));

	set_flags(c, (and == 0 ? X86_ZF : 0) | (andn == 0 ? X86_CF : 0));
}

/* PMOVSX and PMOVZX: the low elements of y widened from sz to dsz. */
static void
pmov(struct s4_args *a, unsigned sz, unsigned dsz, bool sx)
{
	uint8_t r[16];
	unsigned k;

	for (k = 0; k < 16 / dsz; k++) {
		uint64_t v = 0;

		memcpy(&v, a->y + k * sz, sz);
		if (sx && (v >> (8 * sz - 1)) & 1)
			v |= ~0ULL << (8 * sz);
		memcpy(r + k * dsz, &v, dsz);
	}
	memcpy(a->x, r, 16);
}

#define PMOV(name, s, d, x)                                              \
	static void name(struct dbt_cpu *c, struct s4_args *a)          \
	{ (void)c; pmov(a, s, d, x); }
PMOV(f_pmovsxbw, 1, 2, true)
PMOV(f_pmovsxbd, 1, 4, true)
PMOV(f_pmovsxbq, 1, 8, true)
PMOV(f_pmovsxwd, 2, 4, true)
PMOV(f_pmovsxwq, 2, 8, true)
PMOV(f_pmovsxdq, 4, 8, true)
PMOV(f_pmovzxbw, 1, 2, false)
PMOV(f_pmovzxbd, 1, 4, false)
PMOV(f_pmovzxbq, 1, 8, false)
PMOV(f_pmovzxwd, 2, 4, false)
PMOV(f_pmovzxwq, 2, 8, false)
PMOV(f_pmovzxdq, 4, 8, false)
#undef PMOV

static void
f_pmuldq(struct dbt_cpu *c, struct s4_args *a)
{
	int64_t lo = (int64_t)(int32_t)d32(a->x, 0) * (int32_t)d32(a->y, 0);
	int64_t hi = (int64_t)(int32_t)d32(a->x, 2) * (int32_t)d32(a->y, 2);

	(void)c;
	pq64(a->x, 0, (uint64_t)lo);
	pq64(a->x, 1, (uint64_t)hi);
}

static void
f_pmulld(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	for (k = 0; k < 4; k++)
		pd32(a->x, k, d32(a->x, k) * d32(a->y, k));
}

static void
f_pcmpeqq(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	for (k = 0; k < 2; k++)
		pq64(a->x, k, q64(a->x, k) == q64(a->y, k) ? ~0ULL : 0);
}

static void
f_pcmpgtq(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	for (k = 0; k < 2; k++)
		pq64(a->x, k, (int64_t)q64(a->x, k) > (int64_t)q64(a->y, k) ?
		    ~0ULL : 0);
}

static void
f_movntdqa(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memcpy(a->x, a->y, 16);
}

static uint16_t
satu16(int32_t v)
{
	return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

static void
f_packusdw(struct dbt_cpu *c, struct s4_args *a)
{
	uint8_t r[16];
	unsigned k;

	(void)c;
	for (k = 0; k < 4; k++) {
		pw16(r, k, satu16((int32_t)d32(a->x, k)));
		pw16(r, k + 4, satu16((int32_t)d32(a->y, k)));
	}
	memcpy(a->x, r, 16);
}

/* PMINSB/SD/UW/UD and PMAXSB/SD/UW/UD. */
static void
pminmax(struct s4_args *a, unsigned esz, bool sgn, bool max)
{
	unsigned k;

	for (k = 0; k < 16 / esz; k++) {
		int64_t p = 0, q = 0;
		uint64_t u = 0, v = 0;
		bool ylt;

		memcpy(&u, a->x + k * esz, esz);
		memcpy(&v, a->y + k * esz, esz);
		if (sgn) {
			unsigned sh = 64 - 8 * esz;

			p = (int64_t)(u << sh) >> sh;
			q = (int64_t)(v << sh) >> sh;
			ylt = q < p;
		} else {
			ylt = v < u;
		}
		if (ylt != max)
			memcpy(a->x + k * esz, a->y + k * esz, esz);
	}
}

#define PMM(name, e, s, m)                                               \
	static void name(struct dbt_cpu *c, struct s4_args *a)          \
	{ (void)c; pminmax(a, e, s, m); }
PMM(f_pminsb, 1, true, false)
PMM(f_pminsd, 4, true, false)
PMM(f_pminuw, 2, false, false)
PMM(f_pminud, 4, false, false)
PMM(f_pmaxsb, 1, true, true)
PMM(f_pmaxsd, 4, true, true)
PMM(f_pmaxuw, 2, false, true)
PMM(f_pmaxud, 4, false, true)
#undef PMM

static void
f_phminposuw(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k, best = 0;

	(void)c;
	for (k = 1; k < 8; k++)
		if (w16(a->y, k) < w16(a->y, best))
			best = k;
	k = w16(a->y, best);
	memset(a->x, 0, 16);
	pw16(a->x, 0, (uint16_t)k);
	pw16(a->x, 1, (uint16_t)best);
}

static void
f_mpsadbw(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned o1 = (a->imm & 4) ? 4 : 0, o2 = 4 * (a->imm & 3u), k, j;
	uint8_t r[16];

	(void)c;
	for (k = 0; k < 8; k++) {
		unsigned s = 0;

		for (j = 0; j < 4; j++) {
			int d = a->x[o1 + k + j] - a->y[o2 + j];

			s += (unsigned)(d < 0 ? -d : d);
		}
		pw16(r, k, (uint16_t)s);
	}
	memcpy(a->x, r, 16);
}

/* INSERTPS: y's dword (imm 7:6 for a register, the m32 itself) into x's
 * dword imm 5:4, then the dwords of imm 3:0 zeroed.  op_s4 puts the m32
 * in y's dword 0 and clears imm 7:6 for the memory form. */
static void
f_insertps(struct dbt_cpu *c, struct s4_args *a)
{
	unsigned k;

	(void)c;
	pd32(a->x, (a->imm >> 4) & 3u, d32(a->y, a->imm >> 6));
	for (k = 0; k < 4; k++)
		if (a->imm & (1u << k))
			pd32(a->x, k, 0);
}

/* Extracts and inserts: y is the GPR or memory operand (little-endian). */
static void
f_pextrb(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memset(a->y, 0, 16);
	a->y[0] = a->x[a->imm & 15];
}

static void
f_pextrw(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memset(a->y, 0, 16);
	pw16(a->y, 0, w16(a->x, a->imm & 7u));
}

static void
f_pextrd(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memset(a->y, 0, 16);
	if (a->w)
		pq64(a->y, 0, q64(a->x, a->imm & 1u));
	else
		pd32(a->y, 0, d32(a->x, a->imm & 3u));
}

static void
f_extractps(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memset(a->y, 0, 16);
	pd32(a->y, 0, d32(a->x, a->imm & 3u));
}

static void
f_pinsrb(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	a->x[a->imm & 15] = a->y[0];
}

static void
f_pinsrd(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	if (a->w)
		pq64(a->x, a->imm & 1u, q64(a->y, 0));
	else
		pd32(a->x, a->imm & 3u, d32(a->y, 0));
}

/* ---- SSE4.2: PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM -------------- */

/*
 * imm8 (SDM vol. 2, 4.1): bits 1:0 the element format (unsigned bytes,
 * unsigned words, signed bytes, signed words), 3:2 the aggregation (equal
 * any, ranges, equal each, equal ordered), 5:4 the polarity, 6 the output
 * (least or most significant index; bit or element mask).  x is string 1
 * (the register), y string 2.  Returns IntRes2; *l1, *l2 are the lengths.
 */
static unsigned
str_elem(const uint8_t *p, unsigned k, unsigned fmt)
{
	switch (fmt) {
	case 0: return p[k];
	case 1: return w16(p, k);
	case 2: return (unsigned)(int)(int8_t)p[k];
	default: return (unsigned)(int)(int16_t)w16(p, k);
	}
}

static bool
str_cmp(unsigned agg, unsigned fmt, bool upper, unsigned s1, unsigned s2)
{
	int a = (int)s1, b = (int)s2;

	if (agg != 1)
		return s1 == s2;
	if (!(fmt & 2)) {
		a = (int)(s1 & 0xffff);
		b = (int)(s2 & 0xffff);
	}
	/* Ranges: s1 at an even index is a lower bound, odd an upper. */
	return upper ? b <= a : b >= a;
}

static unsigned
str_implicit_len(const uint8_t *p, unsigned ne, unsigned fmt)
{
	unsigned k;

	for (k = 0; k < ne; k++)
		if (str_elem(p, k, fmt & 1) == 0)
			break;
	return k;
}

static unsigned
str_explicit_len(uint64_t v, bool w, unsigned ne)
{
	int64_t s = w ? (int64_t)v : (int64_t)(int32_t)v;
	uint64_t m = s < 0 ? 0 - (uint64_t)s : (uint64_t)s;

	return m > ne ? ne : (unsigned)m;
}

/* BoolRes with the validity overrides of vol. 2, table 4-7. */
static bool
str_bool(unsigned agg, unsigned fmt, const uint8_t *x, const uint8_t *y,
    unsigned i, unsigned j, unsigned l1, unsigned l2)
{
	bool v1 = i < l1, v2 = j < l2;

	if (v1 && v2)
		return str_cmp(agg, fmt, i & 1, str_elem(x, i, fmt),
		    str_elem(y, j, fmt));
	if (!v1 && !v2)
		return agg >= 2;
	if (!v1)
		return agg == 3;
	return false;
}

static unsigned
pcmpstr(unsigned imm, const uint8_t *x, const uint8_t *y, unsigned l1,
    unsigned l2)
{
	unsigned fmt = imm & 3, agg = (imm >> 2) & 3, ne = (fmt & 1) ? 8 : 16;
	unsigned r1 = 0, r2, i, j, k;

	for (j = 0; j < ne; j++) {
		bool b = false;

		switch (agg) {
		case 0:
			for (i = 0; i < ne && !b; i++)
				b = str_bool(agg, fmt, x, y, i, j, l1, l2);
			break;
		case 1:
			for (i = 0; i + 1 < ne && !b; i += 2)
				b = str_bool(agg, fmt, x, y, i, j, l1, l2) &&
				    str_bool(agg, fmt, x, y, i + 1, j, l1, l2);
			break;
		case 2:
			b = str_bool(agg, fmt, x, y, j, j, l1, l2);
			break;
		default:
			b = true;
			for (k = 0; j + k < ne && b; k++)
				b = str_bool(agg, fmt, x, y, k, j + k, l1,
				    l2);
			break;
		}
		if (b)
			r1 |= 1u << j;
	}
	switch ((imm >> 4) & 3) {
	case 1:
		r2 = ~r1 & ((1u << ne) - 1);
		break;
	case 3:
		r2 = r1 ^ ((1u << l2) - 1);
		break;
	default:
		r2 = r1;
		break;
	}
	return r2;
}

static void
pcmpstr_out(struct dbt_cpu *c, struct s4_args *a, bool index, unsigned l1,
    unsigned l2)
{
	unsigned ne = (a->imm & 1) ? 8 : 16, k;
	unsigned r = pcmpstr(a->imm, a->x, a->y, l1, l2);

	if (index) {
		unsigned ix = ne;

		if (r != 0)
			ix = (a->imm & 0x40) ? 31u - (unsigned)__builtin_clz(r) :
			    (unsigned)__builtin_ctz(r);
		c->gpr[X86_RCX] = ix;
	} else {
		uint8_t *m = c->fx + XMM(0);

		memset(m, 0, 16);
		if (!(a->imm & 0x40)) {
			pw16(m, 0, (uint16_t)r);
		} else {
			unsigned esz = 16 / ne;

			for (k = 0; k < ne; k++)
				if (r & (1u << k))
					memset(m + k * esz, 0xff, esz);
		}
	}
	set_flags(c, (r ? X86_CF : 0) | (l2 < ne ? X86_ZF : 0) |
	    (l1 < ne ? X86_SF : 0) | ((r & 1) ? X86_OF : 0));
}

static void
pcmpestr(struct dbt_cpu *c, struct s4_args *a, bool index)
{
	unsigned ne = (a->imm & 1) ? 8 : 16;

	pcmpstr_out(c, a, index, str_explicit_len(c->gpr[X86_RAX], a->w, ne),
	    str_explicit_len(c->gpr[X86_RDX], a->w, ne));
}

static void
pcmpistr(struct dbt_cpu *c, struct s4_args *a, bool index)
{
	unsigned ne = (a->imm & 1) ? 8 : 16;

	pcmpstr_out(c, a, index, str_implicit_len(a->x, ne, a->imm),
	    str_implicit_len(a->y, ne, a->imm));
}

static void f_pcmpestrm(struct dbt_cpu *c, struct s4_args *a)
{ pcmpestr(c, a, false); }
static void f_pcmpestri(struct dbt_cpu *c, struct s4_args *a)
{ pcmpestr(c, a, true); }
static void f_pcmpistrm(struct dbt_cpu *c, struct s4_args *a)
{ pcmpistr(c, a, false); }
static void f_pcmpistri(struct dbt_cpu *c, struct s4_args *a)
{ pcmpistr(c, a, true); }

/* ---- AES-NI (FIPS-197) ----------------------------------------------- */

/*
 * The state is the 16 bytes in memory order: byte 4c + r is row r of
 * column c (FIPS-197, 3.4).  The S-box is built once from its definition
 * (5.1.1): the multiplicative inverse in GF(2^8) modulo x^8+x^4+x^3+x+1,
 * then the affine transform with the constant 0x63.
 */
static uint8_t sbox[256], isbox[256];
static pthread_once_t aes_once = PTHREAD_ONCE_INIT;

static uint8_t
gmul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;

	while (b) {
		if (b & 1)
			p ^= a;
		a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
		b >>= 1;
	}
	return p;
}

static uint8_t
rotl8(uint8_t v, unsigned n)
{
	return (uint8_t)(v << n | v >> (8 - n));
}

static void
aes_build(void)
{
	unsigned a, b;

	for (a = 0; a < 256; a++) {
		uint8_t inv = 0, s;

		for (b = 1; b < 256 && a; b++)
			if (gmul((uint8_t)a, (uint8_t)b) == 1) {
				inv = (uint8_t)b;
				break;
			}
		s = (uint8_t)(inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^
		    rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63);
		sbox[a] = s;
		isbox[s] = (uint8_t)a;
	}
}

static void
shift_rows(uint8_t *s, bool inv)
{
	uint8_t t[16];
	unsigned r, col;

	for (col = 0; col < 4; col++)
		for (r = 0; r < 4; r++) {
			unsigned from = 4 * ((col + r) & 3) + r;

			if (inv)
				t[from] = s[4 * col + r];
			else
				t[4 * col + r] = s[from];
		}
	memcpy(s, t, 16);
}

static void
sub_bytes(uint8_t *s, const uint8_t *box)
{
	unsigned k;

	for (k = 0; k < 16; k++)
		s[k] = box[s[k]];
}

/* MixColumns with the matrix rows m (2 3 1 1, or 14 11 13 9 inverse). */
static void
mix_columns(uint8_t *s, const uint8_t m[4])
{
	unsigned col, r, k;

	for (col = 0; col < 4; col++) {
		uint8_t in[4], *p = s + 4 * col;

		memcpy(in, p, 4);
		for (r = 0; r < 4; r++) {
			uint8_t v = 0;

			for (k = 0; k < 4; k++)
				v ^= gmul(in[k], m[(k - r) & 3]);
			p[r] = v;
		}
	}
}

static const uint8_t mix_fwd[4] = { 2, 3, 1, 1 };
static const uint8_t mix_inv[4] = { 14, 11, 13, 9 };

static void
aes_round(struct s4_args *a, bool dec, bool last)
{
	unsigned k;

	pthread_once(&aes_once, aes_build);
	shift_rows(a->x, dec);
	sub_bytes(a->x, dec ? isbox : sbox);
	if (!last)
		mix_columns(a->x, dec ? mix_inv : mix_fwd);
	for (k = 0; k < 16; k++)
		a->x[k] ^= a->y[k];
}

static void f_aesenc(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; aes_round(a, false, false); }
static void f_aesenclast(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; aes_round(a, false, true); }
static void f_aesdec(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; aes_round(a, true, false); }
static void f_aesdeclast(struct dbt_cpu *c, struct s4_args *a)
{ (void)c; aes_round(a, true, true); }

static void
f_aesimc(struct dbt_cpu *c, struct s4_args *a)
{
	(void)c;
	memcpy(a->x, a->y, 16);
	mix_columns(a->x, mix_inv);
}

static uint32_t
sub_word(uint32_t v)
{
	return (uint32_t)sbox[v & 0xff] | (uint32_t)sbox[(v >> 8) & 0xff] << 8 |
	    (uint32_t)sbox[(v >> 16) & 0xff] << 16 |
	    (uint32_t)sbox[v >> 24] << 24;
}

static void
f_aeskeygenassist(struct dbt_cpu *c, struct s4_args *a)
{
	uint32_t x1, x3;

	(void)c;
	pthread_once(&aes_once, aes_build);
	x1 = sub_word(d32(a->y, 1));
	x3 = sub_word(d32(a->y, 3));
	pd32(a->x, 0, x1);
	pd32(a->x, 1, ((x1 >> 8) | (x1 << 24)) ^ a->imm);
	pd32(a->x, 2, x3);
	pd32(a->x, 3, ((x3 >> 8) | (x3 << 24)) ^ a->imm);
}

/* ---- PCLMULQDQ ------------------------------------------------------- */

static void
f_pclmulqdq(struct dbt_cpu *c, struct s4_args *a)
{
	uint64_t p = q64(a->x, a->imm & 1), q = q64(a->y, (a->imm >> 4) & 1);
	uint64_t lo = 0, hi = 0;
	unsigned k;

	(void)c;
	for (k = 0; k < 64; k++)
		if ((q >> k) & 1) {
			lo ^= p << k;
			hi ^= k ? p >> (64 - k) : 0;
		}
	pq64(a->x, 0, lo);
	pq64(a->x, 1, hi);
}

/* ---- the table ------------------------------------------------------- */

#define N PFX_NONE
#define P PFX_66
#define A S_A16
#define M38(o, p, sz, f, fn) { { o, p, sz, 0, f }, MAP_0F38, fn }
#define M3A(o, p, sz, f, fn) { { o, p, sz, 0, (f) | S_IMM }, MAP_0F3A, fn }
/* An SSSE3 op: its MMX (8-byte) and XMM (16-byte) forms. */
#define SS3(o, fn) M38(o, N, 8, S_MMX, fn), M38(o, P, 16, A, fn)

static const struct s4_op s4_ops[] = {
	SS3(0x00, f_pshufb), SS3(0x01, f_phaddw), SS3(0x02, f_phaddd),
	SS3(0x03, f_phaddsw), SS3(0x04, f_pmaddubsw), SS3(0x05, f_phsubw),
	SS3(0x06, f_phsubd), SS3(0x07, f_phsubsw), SS3(0x08, f_psignb),
	SS3(0x09, f_psignw), SS3(0x0a, f_psignd), SS3(0x0b, f_pmulhrsw),
	SS3(0x1c, f_pabsb), SS3(0x1d, f_pabsw), SS3(0x1e, f_pabsd),
	M3A(0x0f, N, 8, S_MMX, f_palignr), M3A(0x0f, P, 16, A, f_palignr),
	M38(0x10, P, 16, A, f_pblendvb), M38(0x14, P, 16, A, f_blendvps),
	M38(0x15, P, 16, A, f_blendvpd), M38(0x17, P, 16, A | S_FLAGS, f_ptest),
	M38(0x20, P, 8, 0, f_pmovsxbw), M38(0x21, P, 4, 0, f_pmovsxbd),
	M38(0x22, P, 2, 0, f_pmovsxbq), M38(0x23, P, 8, 0, f_pmovsxwd),
	M38(0x24, P, 4, 0, f_pmovsxwq), M38(0x25, P, 8, 0, f_pmovsxdq),
	M38(0x28, P, 16, A, f_pmuldq), M38(0x29, P, 16, A, f_pcmpeqq),
	M38(0x2a, P, 16, A | S_MEM, f_movntdqa),
	M38(0x2b, P, 16, A, f_packusdw),
	M38(0x30, P, 8, 0, f_pmovzxbw), M38(0x31, P, 4, 0, f_pmovzxbd),
	M38(0x32, P, 2, 0, f_pmovzxbq), M38(0x33, P, 8, 0, f_pmovzxwd),
	M38(0x34, P, 4, 0, f_pmovzxwq), M38(0x35, P, 8, 0, f_pmovzxdq),
	M38(0x37, P, 16, A, f_pcmpgtq),
	M38(0x38, P, 16, A, f_pminsb), M38(0x39, P, 16, A, f_pminsd),
	M38(0x3a, P, 16, A, f_pminuw), M38(0x3b, P, 16, A, f_pminud),
	M38(0x3c, P, 16, A, f_pmaxsb), M38(0x3d, P, 16, A, f_pmaxsd),
	M38(0x3e, P, 16, A, f_pmaxuw), M38(0x3f, P, 16, A, f_pmaxud),
	M38(0x40, P, 16, A, f_pmulld), M38(0x41, P, 16, A, f_phminposuw),
	M38(0xdb, P, 16, A, f_aesimc), M38(0xdc, P, 16, A, f_aesenc),
	M38(0xdd, P, 16, A, f_aesenclast), M38(0xde, P, 16, A, f_aesdec),
	M38(0xdf, P, 16, A, f_aesdeclast),
	M3A(0x0c, P, 16, A, f_blendps), M3A(0x0d, P, 16, A, f_blendpd),
	M3A(0x0e, P, 16, A, f_pblendw),
	M3A(0x14, P, 1, S_GRM | S_ST | S4_TOY, f_pextrb),
	M3A(0x15, P, 2, S_GRM | S_ST | S4_TOY, f_pextrw),
	M3A(0x16, P, 4, S_GRM | S_W8 | S_ST | S4_TOY, f_pextrd),
	M3A(0x17, P, 4, S_GRM | S_ST | S4_TOY, f_extractps),
	M3A(0x20, P, 1, S_GRM, f_pinsrb),
	M3A(0x21, P, 4, 0, f_insertps),
	M3A(0x22, P, 4, S_GRM | S_W8, f_pinsrd),
	M3A(0x42, P, 16, A, f_mpsadbw),
	M3A(0x44, P, 16, A, f_pclmulqdq),
	M3A(0x60, P, 16, S_FLAGS, f_pcmpestrm),
	M3A(0x61, P, 16, S_FLAGS, f_pcmpestri),
	M3A(0x62, P, 16, S_FLAGS, f_pcmpistrm),
	M3A(0x63, P, 16, S_FLAGS, f_pcmpistri),
	M3A(0xdf, P, 16, A, f_aeskeygenassist),
};

#undef N
#undef P
#undef A
#undef M38
#undef M3A
#undef SS3

static const struct s4_op *
s4_find(const struct insn *i)
{
	int pfx = dbt_insn_pfx(i);
	size_t k;

	if (i->map != MAP_0F38 && i->map != MAP_0F3A)
		return NULL;
	for (k = 0; k < sizeof(s4_ops) / sizeof(s4_ops[0]); k++) {
		const struct s4_op *o = &s4_ops[k];

		if (o->map == i->map && o->d.op == i->op && o->d.pfx == pfx) {
			if ((o->d.f & S_MEM) && !i->mem)
				return NULL;
			return o;
		}
	}
	return NULL;
}

/*
 * i's entry in the SSSE3..PCLMULQDQ table, in the SSE whitelist's form
 * (fpu.h), for the translator; NULL when i is not one of them (or is a
 * form that is #UD).
 */
const struct sse_op *
dbt_sse4_lookup(const struct insn *i)
{
	const struct s4_op *o = s4_find(i);

	return o ? &o->d : NULL;
}

/* MMX register n is x87 physical register n; the FXSAVE image holds
 * the registers in stack order, ST(k) = R((TOP + k) mod 8). */
static unsigned
mm_off(const struct dbt_cpu *c, unsigned n)
{
	unsigned top = (c->fx[FX_FSW + 1] >> 3) & 7;

	return 32 + 16 * ((n - top) & 7);
}

/* An MMX instruction: TOS = 0, every register valid (SDM vol. 1, 9.5.1);
 * a register it writes gets all ones in its exponent bits. */
static void
mmx_enter(struct dbt_cpu *c)
{
	uint8_t t[128];
	unsigned k;

	memcpy(t, c->fx + 32, 128);
	for (k = 0; k < 8; k++)
		memcpy(c->fx + 32 + 16 * k, t + 16 * ((k - (c->fx[FX_FSW +
		    1] >> 3)) & 7), 16);
	c->fx[FX_FSW + 1] &= 0xc7;
	c->fx[FX_FTW] = 0xff;
}

static void
op_s4(struct dbt_cpu *c, const struct insn *i)
{
	const struct s4_op *o = s4_find(i);
	struct s4_args a;
	unsigned f, size = 0;
	uint64_t ea = 0;
	bool mmx;

	if (o == NULL || i->lock)
		dbt_ud(c);
	f = o->d.f;
	mmx = (f & S_MMX) != 0;
	if ((c->cr0 & X86_CR0_EM) || !(c->cr4 & X86_CR4_OSFXSR))
		dbt_ud(c);
	if (c->cr0 & X86_CR0_TS)
		dbt_raise_noerr(c, X86_EXC_NM);
	if (mmx) {
		uint16_t fsw, fcw;

		memcpy(&fsw, c->fx + FX_FSW, 2);
		memcpy(&fcw, c->fx, 2);
		if ((fsw & 0x80) || (fsw & ~fcw & 0x3f))
			dbt_raise_noerr(c, X86_EXC_MF);
	}
	memset(&a, 0, sizeof(a));
	a.n = mmx ? 8 : 16;
	a.imm = (uint8_t)i->imm;
	a.w = (i->rex & 8) != 0;
	size = ((f & S_W8) && a.w) ? 8 : o->d.size;
	memcpy(a.x, c->fx + (mmx ? mm_off(c, i->reg & 7) : XMM(i->reg)),
	    a.n);
	if (i->mem) {
		ea = dbt_ea(c, i);
		if ((f & S_A16) && size == 16) {
			if ((c->seg[i->seg].base + ea) & 15)
				dbt_gp0(c);
			(void)dbt_linear(c, i->seg, ea, size, DBT_ACC_READ);
		}
		if (f & S_ST)
			dbt_probe_write(c, i->seg, ea, size);
		else
			dbt_read_bytes(c, i->seg, ea, a.y, size);
		if (o->fn == f_insertps)
			a.imm &= 0x3f;
	} else if (f & S_GRM) {
		pq64(a.y, 0, c->gpr[i->rm]);
	} else {
		memcpy(a.y, c->fx + (mmx ? mm_off(c, i->rm & 7) : XMM(i->rm)),
		    a.n);
	}
	if (mmx)
		mmx_enter(c);
	o->fn(c, &a);
	if (f & S4_TOY) {
		if (i->mem)
			dbt_write_bytes(c, i->seg, ea, a.y, size);
		else
			c->gpr[i->rm] = q64(a.y, 0);
	} else if (!(f & S_FLAGS)) {
		uint8_t *r = c->fx + (mmx ? mm_off(c, i->reg & 7) :
		    XMM(i->reg));

		memcpy(r, a.x, a.n);
		if (mmx)
			r[8] = r[9] = 0xff;
	}
}

#define E38(o) { MAP_0F38, o, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_s4 }
#define E3A(o) { MAP_0F3A, o, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_s4 }

const struct op_entry dbt_ops_sse4[] = {
	E38(0x00), E38(0x01), E38(0x02), E38(0x03), E38(0x04), E38(0x05),
	E38(0x06), E38(0x07), E38(0x08), E38(0x09), E38(0x0a), E38(0x0b),
	E38(0x10), E38(0x14), E38(0x15), E38(0x17), E38(0x1c), E38(0x1d),
	E38(0x1e), E38(0x20), E38(0x21), E38(0x22), E38(0x23), E38(0x24),
	E38(0x25), E38(0x28), E38(0x29), E38(0x2a), E38(0x2b), E38(0x30),
	E38(0x31), E38(0x32), E38(0x33), E38(0x34), E38(0x35), E38(0x37),
	E38(0x38), E38(0x39), E38(0x3a), E38(0x3b), E38(0x3c), E38(0x3d),
	E38(0x3e), E38(0x3f), E38(0x40), E38(0x41), E38(0xdb), E38(0xdc),
	E38(0xdd), E38(0xde), E38(0xdf),
	E3A(0x0c), E3A(0x0d), E3A(0x0e), E3A(0x0f), E3A(0x14), E3A(0x15),
	E3A(0x16), E3A(0x17), E3A(0x20), E3A(0x21), E3A(0x22), E3A(0x42),
	E3A(0x44), E3A(0x60), E3A(0x61), E3A(0x62), E3A(0x63), E3A(0xdf),
	{ 0 },
};
