/*
 * The general-purpose extensions (Intel SDM vol. 2, each instruction's
 * page): BMI1 (ANDN BEXTR BLSI BLSMSK BLSR TZCNT), LZCNT, BMI2 (BZHI MULX
 * PDEP PEXT RORX SARX SHLX SHRX), ADX (ADCX ADOX), MOVBE, CRC32 and
 * RDRAND/RDSEED.  Portable C: the reference semantics the translator's
 * host-instruction forms are judged against.
 *
 * The flags the SDM leaves undefined are set as the CPU vmkit runs on
 * sets them (an AMD Zen 5, probed instruction by instruction, and judged
 * by the difftest's "bmi" classes against KVM):
 *   TZCNT LZCNT  CF ZF defined; OF kept; SF AF PF cleared
 *   ANDN BLSI BLSR BZHI  PF from the result's low byte, AF cleared
 *   BLSMSK  the same (ZF is cleared, as defined)
 *   BEXTR   PF from the result, SF cleared, AF set
 */
#include "dbt/dbt-int.h"

#include <sys/random.h>

#define ARITH ((uint64_t)X86_ARITH_FLAGS)

static inline uint64_t
mask_of(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline uint64_t
sign_of(unsigned size)
{
	return 1ULL << (size * 8 - 1);
}

/* PF: even parity of the low byte. */
static inline uint64_t
pf_of(uint64_t r)
{
	return __builtin_parity((unsigned)(r & 0xff)) ? 0 : X86_PF;
}

/* ZF SF PF of a size-byte result, every other arithmetic flag clear. */
static inline uint64_t
zsp_of(unsigned size, uint64_t r)
{
	r &= mask_of(size);
	return (r ? 0 : X86_ZF) | (r & sign_of(size) ? X86_SF : 0) | pf_of(r);
}

static inline void
arith_set(struct dbt_cpu *c, uint64_t fl)
{
	c->rflags = (c->rflags & ~ARITH) | (fl & ARITH);
}

/* The VEX.vvvv register operand. */
static inline uint64_t
vreg(struct dbt_cpu *c, const struct insn *i, unsigned size)
{
	return dbt_get_reg(c, i, i->vvvv, size);
}

/* ---- TZCNT, LZCNT (F3 0F BC, F3 0F BD) --------------------------------- */

static void
op_tzcnt(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize, n = size * 8;
	uint64_t s = dbt_get_rm(c, i, size), r = 0;

	if (i->op == 0xbc)
		r = s ? (uint64_t)__builtin_ctzll(s) : n;
	else
		r = s ? (uint64_t)__builtin_clzll(s) - (64 - n) : n;
	dbt_set_reg(c, i, i->reg, size, r);
	arith_set(c, (c->rflags & X86_OF) | (r == n ? X86_CF : 0) |
	    (r == 0 ? X86_ZF : 0));
}

/* ---- MOVBE, CRC32 (0F38 F0/F1) ----------------------------------------- */

static uint64_t
bswap_n(uint64_t v, unsigned size)
{
	if (size == 2)
		return __builtin_bswap16((uint16_t)v);
	if (size == 4)
		return __builtin_bswap32((uint32_t)v);
	return __builtin_bswap64(v);
}

static void
op_movbe(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;

	if (i->op == 0xf0)
		dbt_set_reg(c, i, i->reg, size,
		    bswap_n(dbt_get_rm(c, i, size), size));
	else
		dbt_set_rm(c, i, size,
		    bswap_n(dbt_get_reg(c, i, i->reg, size), size));
}

/* CRC-32C (Castagnoli), bit-reflected polynomial 0x82F63B78: the low
 * bits of v first, as the SDM's CRC32 pseudo-code orders them. */
static uint32_t
crc32c(uint32_t crc, uint64_t v, unsigned size)
{
	unsigned k;

	for (k = 0; k < size * 8; k++) {
		crc ^= (uint32_t)(v >> k & 1);
		crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

static void
op_crc32(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->op == 0xf0 ? 1 : i->opsize;
	uint64_t s = dbt_get_rm(c, i, size);
	uint32_t acc = (uint32_t)dbt_get_reg(c, i, i->reg, 4);

	/* The destination is r32, or r64 with REX.W: zero-extended both
	 * ways; no flags. */
	dbt_set_reg(c, i, i->reg, 4, crc32c(acc, s, size));
}

/* ---- ADCX, ADOX (66/F3 0F38 F6) ---------------------------------------- */

static void
op_adx(struct dbt_cpu *c, const struct insn *i)
{
	/* 66 is mandatory here, not an operand size: 32, or 64 with W. */
	unsigned size = (i->rex & 8) ? 8 : 4;
	uint64_t bit = dbt_insn_pfx(i) == PFX_F3 ? X86_OF : X86_CF;
	uint64_t a = dbt_get_reg(c, i, i->reg, size);
	uint64_t b = dbt_get_rm(c, i, size), ci = c->rflags & bit ? 1 : 0;
	uint64_t r, co;

	if (size == 8) {
		r = a + b;
		co = r < a;
		r += ci;
		co |= r < ci;
	} else {
		r = a + b + ci;
		co = r >> 32 & 1;
	}
	dbt_set_reg(c, i, i->reg, size, r & mask_of(size));
	c->rflags = (c->rflags & ~bit) | (co ? bit : 0);
}

/* ---- RDRAND, RDSEED (0F C7 /6, /7, register forms) --------------------- */

/*
 * From the host's getrandom(): a failure to give the bytes at once (no
 * entropy yet) is the instruction's own failure, CF=0 and a zero
 * destination, which software retries.  OF SF ZF AF PF are cleared.
 */
static void
op_rdrand(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t v = 0;
	bool ok = getrandom(&v, size, GRND_NONBLOCK) == (ssize_t)size;

	if (!ok)
		v = 0;
	dbt_set_reg(c, i, i->rm, size, v & mask_of(size));
	arith_set(c, ok ? X86_CF : 0);
}

/* ---- BMI1/BMI2 (VEX 0F38 F2-F7, 0F3A F0) -------------------------------- */

static void
op_andn(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t r = ~vreg(c, i, size) & dbt_get_rm(c, i, size) &
	    mask_of(size);

	dbt_set_reg(c, i, i->reg, size, r);
	arith_set(c, zsp_of(size, r));
}

/* BLSR /1, BLSMSK /2, BLSI /3 (VEX 0F38 F3): the destination is vvvv. */
static void
op_bls(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t s = dbt_get_rm(c, i, size), r, fl;

	switch (i->reg & 7) {
	case 1:
		r = (s - 1) & s;
		fl = zsp_of(size, r) | (s ? 0 : X86_CF);
		break;
	case 2:
		r = ((s - 1) ^ s) & mask_of(size);
		fl = (zsp_of(size, r) & ~(uint64_t)X86_ZF) |
		    (s ? 0 : X86_CF);
		break;
	default:
		r = (0 - s) & s;
		fl = zsp_of(size, r) | (s ? X86_CF : 0);
		break;
	}
	dbt_set_reg(c, i, i->vvvv, size, r);
	arith_set(c, fl);
}

/* BZHI (VEX 0F38 F5, no prefix): clear from bit vvvv[7:0] up. */
static void
op_bzhi(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize, w = size * 8;
	unsigned n = (unsigned)(vreg(c, i, size) & 0xff);
	uint64_t r = dbt_get_rm(c, i, size);

	if (n < w)
		r &= (1ULL << n) - 1;
	dbt_set_reg(c, i, i->reg, size, r);
	arith_set(c, zsp_of(size, r) | (n >= w ? X86_CF : 0));
}

/* BEXTR (VEX 0F38 F7, no prefix): start vvvv[7:0], length vvvv[15:8]. */
static void
op_bextr(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize, w = size * 8;
	uint64_t ctl = vreg(c, i, size), s = dbt_get_rm(c, i, size), r;
	unsigned start = (unsigned)(ctl & 0xff), len = (unsigned)(ctl >> 8 &
	    0xff);

	r = start >= w ? 0 : s >> start;
	if (len < w)
		r &= (1ULL << len) - 1;
	dbt_set_reg(c, i, i->reg, size, r);
	arith_set(c, (zsp_of(size, r) & ~(uint64_t)X86_SF) | X86_AF);
}

/* PDEP (F2) / PEXT (F3) VEX 0F38 F5: the source is vvvv, the mask r/m. */
static void
op_pdep(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t s = vreg(c, i, size), m = dbt_get_rm(c, i, size), r = 0, k;

	if (dbt_insn_pfx(i) == PFX_F2) {
		for (k = 1; m; m &= m - 1, k <<= 1)
			if (s & k)
				r |= m & (0 - m);
	} else {
		for (k = 1; m; m &= m - 1, k <<= 1)
			if (s & m & (0 - m))
				r |= k;
	}
	dbt_set_reg(c, i, i->reg, size, r);
}

/* MULX (F2 VEX 0F38 F6): rDX * r/m, high half to reg, low to vvvv (the
 * high half wins when they are the same register); no flags. */
static void
op_mulx(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	uint64_t a = dbt_get_reg(c, i, X86_RDX, size);
	uint64_t b = dbt_get_rm(c, i, size), lo, hi;

	if (size == 8) {
		unsigned __int128 p = (unsigned __int128)a * b;

		lo = (uint64_t)p;
		hi = (uint64_t)(p >> 64);
	} else {
		uint64_t p = a * b;

		lo = p & 0xffffffffu;
		hi = p >> 32;
	}
	dbt_set_reg(c, i, i->vvvv, size, lo);
	dbt_set_reg(c, i, i->reg, size, hi);
}

/* SHLX (66) / SARX (F3) / SHRX (F2) VEX 0F38 F7: r/m shifted by vvvv
 * (masked to 5 or 6 bits); no flags. */
static void
op_shiftx(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize;
	unsigned n = (unsigned)(vreg(c, i, size) & (size * 8 - 1));
	uint64_t s = dbt_get_rm(c, i, size), r;
	int pfx = dbt_insn_pfx(i);

	if (pfx == PFX_66)
		r = s << n;
	else if (pfx == PFX_F2)
		r = s >> n;
	else if (size == 8)
		r = (uint64_t)((int64_t)s >> n);
	else
		r = (uint64_t)(uint32_t)((int32_t)(uint32_t)s >> n);
	dbt_set_reg(c, i, i->reg, size, r & mask_of(size));
}

/* RORX (F2 VEX 0F3A F0 ib); VEX.vvvv is reserved: 1111b or #UD. */
static void
op_rorx(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->opsize, w = size * 8;
	unsigned n = (unsigned)(i->imm & (w - 1));
	uint64_t s;

	if (i->vvvv != 0)       /* before any memory access */
		dbt_ud(c);
	s = dbt_get_rm(c, i, size);
	if (n)
		s = (s >> n | s << (w - n)) & mask_of(size);
	dbt_set_reg(c, i, i->reg, size, s);
}

#define P(map, op, pfx, fn) \
	{ map, op, pfx, OP_ANY, OP_MOD_ANY, OP_ANY, fn }
const struct op_entry dbt_ops_bit[] = {
	P(MAP_0F, 0xbc, PFX_F3, op_tzcnt),
	P(MAP_0F, 0xbd, PFX_F3, op_tzcnt),
	{ MAP_0F38, 0xf0, PFX_NONE, OP_ANY, OP_MOD_MEM, OP_ANY, op_movbe },
	{ MAP_0F38, 0xf1, PFX_NONE, OP_ANY, OP_MOD_MEM, OP_ANY, op_movbe },
	{ MAP_0F38, 0xf0, PFX_66, OP_ANY, OP_MOD_MEM, OP_ANY, op_movbe },
	{ MAP_0F38, 0xf1, PFX_66, OP_ANY, OP_MOD_MEM, OP_ANY, op_movbe },
	P(MAP_0F38, 0xf0, PFX_F2, op_crc32),
	P(MAP_0F38, 0xf1, PFX_F2, op_crc32),
	P(MAP_0F38, 0xf6, PFX_66, op_adx),
	P(MAP_0F38, 0xf6, PFX_F3, op_adx),
	{ MAP_0F, 0xc7, PFX_NONE, 6, OP_MOD_REG, OP_ANY, op_rdrand },
	{ MAP_0F, 0xc7, PFX_66, 6, OP_MOD_REG, OP_ANY, op_rdrand },
	{ MAP_0F, 0xc7, PFX_NONE, 7, OP_MOD_REG, OP_ANY, op_rdrand },
	{ MAP_0F, 0xc7, PFX_66, 7, OP_MOD_REG, OP_ANY, op_rdrand },
	P(MAP_VEX_0F38, 0xf2, PFX_NONE, op_andn),
	{ MAP_VEX_0F38, 0xf3, PFX_NONE, 1, OP_MOD_ANY, OP_ANY, op_bls },
	{ MAP_VEX_0F38, 0xf3, PFX_NONE, 2, OP_MOD_ANY, OP_ANY, op_bls },
	{ MAP_VEX_0F38, 0xf3, PFX_NONE, 3, OP_MOD_ANY, OP_ANY, op_bls },
	P(MAP_VEX_0F38, 0xf5, PFX_NONE, op_bzhi),
	P(MAP_VEX_0F38, 0xf5, PFX_F2, op_pdep),
	P(MAP_VEX_0F38, 0xf5, PFX_F3, op_pdep),
	P(MAP_VEX_0F38, 0xf6, PFX_F2, op_mulx),
	P(MAP_VEX_0F38, 0xf7, PFX_NONE, op_bextr),
	P(MAP_VEX_0F38, 0xf7, PFX_66, op_shiftx),
	P(MAP_VEX_0F38, 0xf7, PFX_F3, op_shiftx),
	P(MAP_VEX_0F38, 0xf7, PFX_F2, op_shiftx),
	P(MAP_VEX_0F3A, 0xf0, PFX_F2, op_rorx),
	{ 0 },
};
#undef P
