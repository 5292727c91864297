/*
 * The x86 instruction decoder: bytes -> struct insn, once per translated
 * block, for 16-, 32- and 64-bit code (Intel SDM vol. 2, chapter 2 and
 * appendix A, the opcode maps).
 *
 * Structure (ModRM present? which immediate?) comes from the two tables
 * below, one entry per opcode of the one-byte and 0F maps; 0F38 always has
 * a ModRM and 0F3A a ModRM and an imm8.  Semantics come from the handler
 * tables each interp file contributes (dbt_lookup), so a new instruction is
 * a table line, not a decoder change.
 */
#include "dbt/dbt-int.h"

#include <string.h>

/* Operand-structure codes. */
enum {
	F_NONE = 0,
	F_M = 1 << 0,           /* ModRM follows */
	F_IB = 1 << 1,          /* imm8 (sign-extended where the op says) */
	F_IW = 1 << 2,          /* imm16 */
	F_IZ = 1 << 3,          /* imm16/32 by operand size (32 for 64-bit) */
	F_IV = 1 << 4,          /* imm16/32/64 by operand size (B8+r) */
	F_AP = 1 << 5,          /* far pointer: offset16/32 + selector */
	F_MOFFS = 1 << 6,       /* moffs sized by address size (A0-A3) */
	F_IWIB = 1 << 7,        /* ENTER: imm16 then imm8 */
	F_D64 = 1 << 8,         /* operand size defaults to 64 in 64-bit mode */
	F_F64 = 1 << 9,         /* operand size forced to 64 in 64-bit mode */
	F_I64 = 1 << 10,        /* invalid in 64-bit mode */
	F_GRP3 = 1 << 11,       /* F6/F7: immediate only for /0 and /1 */
	F_SEXT = 1 << 12,       /* imm8 is sign-extended to the operand size */
	F_REL = 1 << 13,        /* immediate is a relative branch target */
	F_PFX = 1 << 14,        /* a prefix byte (handled before the table) */
};

#define M F_M
#define MIB (F_M | F_IB)
#define MIZ (F_M | F_IZ)

static const uint16_t map1[256] = {
	/* 00 */ M, M, M, M, F_IB, F_IZ, F_I64, F_I64,
	/* 08 */ M, M, M, M, F_IB, F_IZ, F_I64, 0,
	/* 10 */ M, M, M, M, F_IB, F_IZ, F_I64, F_I64,
	/* 18 */ M, M, M, M, F_IB, F_IZ, F_I64, F_I64,
	/* 20 */ M, M, M, M, F_IB, F_IZ, F_PFX, F_I64,
	/* 28 */ M, M, M, M, F_IB, F_IZ, F_PFX, F_I64,
	/* 30 */ M, M, M, M, F_IB, F_IZ, F_PFX, F_I64,
	/* 38 */ M, M, M, M, F_IB, F_IZ, F_PFX, F_I64,
	/* 40 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 48 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 50 */ F_D64, F_D64, F_D64, F_D64, F_D64, F_D64, F_D64, F_D64,
	/* 58 */ F_D64, F_D64, F_D64, F_D64, F_D64, F_D64, F_D64, F_D64,
	/* 60 */ F_I64, F_I64, M | F_I64, M, F_PFX, F_PFX, F_PFX, F_PFX,
	/* 68 */ F_IZ | F_D64, MIZ, F_IB | F_SEXT | F_D64, MIB | F_SEXT, 0, 0,
		 0, 0,
	/* 70 */ F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
	/* 78 */ F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
	/* 80 */ MIB, MIZ, MIB | F_I64, MIB | F_SEXT, M, M, M, M,
	/* 88 */ M, M, M, M, M, M, M, M | F_D64,
	/* 90 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 98 */ 0, 0, F_AP | F_I64, 0, F_D64, F_D64, 0, 0,
	/* a0 */ F_MOFFS, F_MOFFS, F_MOFFS, F_MOFFS, 0, 0, 0, 0,
	/* a8 */ F_IB, F_IZ, 0, 0, 0, 0, 0, 0,
	/* b0 */ F_IB, F_IB, F_IB, F_IB, F_IB, F_IB, F_IB, F_IB,
	/* b8 */ F_IV, F_IV, F_IV, F_IV, F_IV, F_IV, F_IV, F_IV,
	/* c0 */ MIB, MIB, F_IW | F_F64, F_F64, M | F_I64, M | F_I64, MIB, MIZ,
	/* c8 */ F_IWIB | F_D64, F_D64, F_IW, 0, 0, F_IB, F_I64, 0,
	/* d0 */ M, M, M, M, F_IB | F_I64, F_IB | F_I64, F_I64, 0,
	/* d8 */ M, M, M, M, M, M, M, M,
	/* e0 */ F_IB | F_REL | F_F64, F_IB | F_REL | F_F64,
		 F_IB | F_REL | F_F64, F_IB | F_REL | F_F64, F_IB, F_IB, F_IB,
		 F_IB,
	/* e8 */ F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64, F_AP | F_I64,
		 F_IB | F_REL | F_F64, 0, 0, 0, 0,
	/* f0 */ F_PFX, 0, F_PFX, F_PFX, 0, 0, M | F_GRP3, M | F_GRP3,
	/* f8 */ 0, 0, 0, 0, 0, 0, M, M,
};

static const uint16_t map2[256] = {
	/* 00 */ M, M, M, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, M, 0, MIB,
	/* 10 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 20 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 40 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 50 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 60 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 70 */ MIB, MIB, MIB, MIB, M, M, M, 0, M, M, M, M, M, M, M, M,
	/* 80 */ F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
		 F_IZ | F_REL | F_F64, F_IZ | F_REL | F_F64,
	/* 90 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* a0 */ F_D64, F_D64, 0, M, MIB, M, 0, 0, F_D64, F_D64, 0, M, MIB, M,
		 M, M,
	/* b0 */ M, M, M, M, M, M, M, M, M, M, MIB, M, M, M, M, M,
	/* c0 */ M, M, MIB, M, MIB, MIB, MIB, M, 0, 0, 0, 0, 0, 0, 0, 0,
	/* d0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* e0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* f0 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
};

static unsigned
imm_size(uint16_t f, const struct insn *i)
{
	if (f & F_IB)
		return 1;
	if (f & F_IW)
		return 2;
	if (f & F_IZ)
		return i->opsize == 2 ? 2 : 4;
	if (f & F_IV)
		return i->opsize;
	return 0;
}

static uint64_t
fetch_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned k;

	for (k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static int64_t
sext(uint64_t v, unsigned bytes)
{
	unsigned sh = 64 - 8 * bytes;

	return bytes >= 8 ? (int64_t)v : (int64_t)(v << sh) >> sh;
}

/* ModRM / SIB / displacement.  Returns bytes consumed, or -1 if short. */
static int
decode_modrm(const struct dbt_cpu *c, const uint8_t *p, int avail,
    struct insn *i)
{
	static const int8_t base16[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP,
		X86_RSI, X86_RDI, X86_RBP, X86_RBX };
	static const int8_t index16[8] = { X86_RSI, X86_RDI, X86_RSI,
		X86_RDI, -1, -1, -1, -1 };
	uint8_t rex = i->rex;
	int n = 1, dsz = 0;
	unsigned rm;

	(void)c;
	if (avail < 1)
		return -1;
	i->modrm = p[0];
	i->mod = p[0] >> 6;
	i->reg = (uint8_t)(((p[0] >> 3) & 7) | ((rex & 4) << 1));
	rm = p[0] & 7;
	i->has_modrm = 1;
	if (i->mod == 3) {
		i->rm = (uint8_t)(rm | ((rex & 1) << 3));
		i->mem = 0;
		return 1;
	}
	i->mem = 1;
	i->rm = (uint8_t)rm;
	i->index = INSN_BASE_NONE;
	i->scale = 1;
	if (i->addrsize == 2) {
		i->base = base16[rm];
		i->index = index16[rm];
		if (rm == 6 && i->mod == 0) {
			i->base = INSN_BASE_NONE;
			dsz = 2;
		} else {
			dsz = i->mod == 1 ? 1 : i->mod == 2 ? 2 : 0;
		}
		if (!i->seg_override && (i->base == X86_RBP))
			i->seg = X86_SS;
	} else {
		if (rm == 4) {
			unsigned sib, b, x;

			if (avail < 2)
				return -1;
			sib = p[1];
			n = 2;
			b = (sib & 7) | ((rex & 1u) << 3);
			x = ((sib >> 3) & 7) | ((rex & 2u) << 2);
			i->scale = (uint8_t)(1u << (sib >> 6));
			i->index = x == 4 ? INSN_BASE_NONE : (int8_t)x;
			if ((sib & 7) == 5 && i->mod == 0) {
				i->base = INSN_BASE_NONE;
				dsz = 4;
			} else {
				i->base = (int8_t)b;
			}
		} else if (rm == 5 && i->mod == 0) {
			i->base = c->long64 ? INSN_BASE_RIP : INSN_BASE_NONE;
			dsz = 4;
		} else {
			i->base = (int8_t)(rm | ((rex & 1u) << 3));
		}
		if (dsz == 0)
			dsz = i->mod == 1 ? 1 : i->mod == 2 ? 4 : 0;
		if (!i->seg_override &&
		    (i->base == X86_RSP || i->base == X86_RBP))
			i->seg = X86_SS;
	}
	if (avail < n + dsz)
		return -1;
	i->disp = dsz ? sext(fetch_le(p + n, (unsigned)dsz), (unsigned)dsz) :
	    0;
	return n + dsz;
}

/*
 * LOCK is #UD except on the read-modify-write instructions the SDM lists
 * (vol. 2, LOCK: ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG
 * NOT OR SBB SUB XOR XADD XCHG), and on those only with a memory
 * destination.
 */
static bool
lockable(const struct insn *i)
{
	unsigned r = i->reg & 7;

	if (!i->mem || !i->has_modrm)
		return false;
	if (i->map == MAP_1B) {
		if (i->op < 0x40)       /* the ALU ops' r/m destination forms */
			return (i->op & 7) <= 1 && (i->op >> 3) != 7;
		switch (i->op) {
		case 0x80: case 0x81: case 0x82: case 0x83:
			return r != 7;
		case 0x86: case 0x87:
			return true;
		case 0xf6: case 0xf7:
			return r == 2 || r == 3;
		case 0xfe: case 0xff:
			return r <= 1;
		}
		return false;
	}
	if (i->map != MAP_0F)
		return false;
	switch (i->op) {
	case 0xab: case 0xb3: case 0xbb: case 0xb0: case 0xb1: case 0xc0:
	case 0xc1:
		return true;
	case 0xba:
		return r >= 5;
	case 0xc7:
		return r == 1;
	}
	return false;
}

/*
 * A VEX prefix at p[pos - 1] (C4 or C5): its fields into i, the prefix
 * bytes consumed up to the opcode.  Returns the opcode's position, 0 if
 * short, -1 for a map VEX does not have (SDM vol. 2, 2.3.5: R X B vvvv
 * stored inverted; C5 implies map 0F, W0, X and B clear).
 */
static int
decode_vex(const struct dbt_cpu *c, const uint8_t *p, int pos, int max,
    struct insn *i, uint8_t b)
{
	unsigned b1 = p[pos], b2, m, r, x, bb, w;

	if (b == 0xc5) {
		b2 = b1;
		m = 1;
		r = !(b1 & 0x80);
		x = bb = w = 0;
		pos += 1;
	} else {
		if (pos + 1 >= max)
			return 0;
		b2 = p[pos + 1];
		m = b1 & 0x1f;
		r = !(b1 & 0x80);
		x = !(b1 & 0x40);
		bb = !(b1 & 0x20);
		w = b2 >> 7;
		pos += 2;
	}
	if (pos >= max)
		return 0;
	if (m < 1 || m > 3)
		return -1;
	i->vex = b == 0xc5 ? 2 : 3;
	i->map = (uint8_t)(MAP_VEX | m);
	i->vvvv = (uint8_t)(~b2 >> 3 & 15);
	i->vex_l = (uint8_t)(b2 >> 2 & 1);
	/* pp: the implied 66, F3 or F2, for the table lookup. */
	i->pfx66 = (b2 & 3) == 1;
	i->rep = (b2 & 3) == 2 ? REP_F3 : (b2 & 3) == 3 ? REP_F2 : REP_NONE;
	if (c->long64)
		i->rex = (uint8_t)(0x40 | w << 3 | r << 2 | x << 1 | bb);
	return pos;
}

/* Outside 64-bit mode VEX.vvvv[3], B and W are ignored: the operand size
 * of the VEX-encoded general-purpose instructions is 32, or 64 with W. */
static void
vex_fields(const struct dbt_cpu *c, struct insn *i)
{
	if (!c->long64)
		i->vvvv &= 7;
	i->opsize = (i->rex & 8) ? 8 : 4;
}

int
dbt_decode(const struct dbt_cpu *c, const uint8_t *code, int avail,
    struct insn *i)
{
	const uint8_t *p = code;
	int pos = 0, n, max = avail < 15 ? avail : 15;
	uint8_t b, def_op, def_addr;
	bool p66 = false, p67 = false;
	uint16_t f;
	unsigned isz;

	memset(i, 0, sizeof(*i));
	i->seg = X86_DS;
	i->base = INSN_BASE_NONE;
	i->index = INSN_BASE_NONE;
	i->scale = 1;
	if (c->long64) {
		def_op = 4;
		def_addr = 8;
	} else if (c->code32) {
		def_op = 4;
		def_addr = 4;
	} else {
		def_op = 2;
		def_addr = 2;
	}

	/* Legacy prefixes, then REX (64-bit mode, last before the opcode). */
	for (;;) {
		if (pos >= max)
			goto short_or_long;
		b = p[pos];
		switch (b) {
		case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64:
		case 0x65:
			i->seg = b == 0x26 ? X86_ES : b == 0x2e ? X86_CS :
			    b == 0x36 ? X86_SS : b == 0x3e ? X86_DS :
			    b == 0x64 ? X86_FS : X86_GS;
			i->seg_override = 1;
			i->rex = 0;
			pos++;
			continue;
		case 0x66:
			p66 = true;
			i->rex = 0;
			pos++;
			continue;
		case 0x67:
			p67 = true;
			i->rex = 0;
			pos++;
			continue;
		case 0xf0:
			i->lock = 1;
			i->rex = 0;
			pos++;
			continue;
		case 0xf2:
			i->rep = REP_F2;
			i->rex = 0;
			pos++;
			continue;
		case 0xf3:
			i->rep = REP_F3;
			i->rex = 0;
			pos++;
			continue;
		}
		if (c->long64 && (b & 0xf0) == 0x40) {
			i->rex = b;
			pos++;
			continue;
		}
		break;
	}
	/* In 64-bit mode CS/DS/ES overrides are ignored: the default segment
	 * stays (SS for an RSP or RBP base), and it decides the fault for a
	 * non-canonical address.  An SS override is not ignored for that:
	 * it makes the fault #SS(0), as the CPU does.  (No base applies to
	 * either in 64-bit mode: dbt_linear adds none.) */
	if (c->long64 && i->seg_override && i->seg != X86_FS &&
	    i->seg != X86_GS && i->seg != X86_SS) {
		i->seg_override = 0;
		i->seg = X86_DS;
	}
	i->pfx66 = p66;
	i->addrsize = def_addr;
	if (p67)
		i->addrsize = def_addr == 8 ? 4 : def_addr == 4 ? 2 : 4;
	i->opsize = def_op;
	if (p66)
		i->opsize = def_op == 2 ? 4 : 2;
	if (i->rex & 8)
		i->opsize = 8;

	b = p[pos++];
	if (b == 0x0f) {
		if (pos >= max)
			goto short_or_long;
		b = p[pos++];
		if (b == 0x38 || b == 0x3a) {
			i->map = b == 0x38 ? MAP_0F38 : MAP_0F3A;
			if (pos >= max)
				goto short_or_long;
			b = p[pos++];
			f = i->map == MAP_0F38 ? F_M : F_M | F_IB;
		} else {
			i->map = MAP_0F;
			f = map2[b];
		}
	} else if (b == 0xc4 || b == 0xc5) {
		/* VEX outside 64-bit mode only with ModRM.mod 11 in the next
		 * byte's place (else LES/LDS, SDM vol. 2, 2.3). */
		if (pos >= max)
			goto short_or_long;
		if (!c->long64 && p[pos] >> 6 != 3) {
			i->map = MAP_1B;
			f = map1[b];
		} else {
			/* 66, F2, F3, LOCK or REX before it: #UD; and in
			 * real and virtual-8086 mode. */
			bool bad = p66 || i->rep || i->lock || i->rex ||
			    !c->pe || c->v86;

			n = decode_vex(c, p, pos, max, i, b);
			if (n == 0)
				goto short_or_long;
			if (n < 0 || bad)
				goto ud;
			pos = n;
			vex_fields(c, i);
			b = p[pos++];
			/* Map 0F keeps the legacy map's structure (C5 F8 77
			 * is VZEROUPPER, no ModRM); all of it is #UD. */
			f = i->map == MAP_VEX_0F3A ? F_M | F_IB :
			    i->map == MAP_VEX_0F ? map2[b] & (F_M | F_IB) : F_M;
		}
	} else {
		i->map = MAP_1B;
		f = map1[b];
		/* EVEX (62 in 64-bit mode): AVX-512 is not advertised, so
		 * it decodes as #UD there. */
		if (c->long64 && b == 0x62)
			f = F_I64;
	}
	i->op = b;
	i->opreg = (uint8_t)((b & 7) | ((i->rex & 1) << 3));
	if (c->long64) {
		if (f & F_I64)
			goto ud;
		if ((f & F_F64) || ((f & F_D64) && !p66))
			i->opsize = 8;
		if ((f & F_D64) && p66)
			i->opsize = 2;
		if ((f & F_F64))
			i->opsize = 8;
	}
	if (f & F_M) {
		n = decode_modrm(c, p + pos, max - pos, i);
		if (n < 0)
			goto short_or_long;
		pos += n;
	}
	/* FF /2 /4 (near CALL/JMP) are 64-bit in 64-bit mode, /6 (PUSH)
	 * defaults to 64. */
	if (c->long64 && i->map == MAP_1B && i->op == 0xff) {
		unsigned r = i->reg & 7;

		if (r == 2 || r == 4 || (r == 6 && !p66))
			i->opsize = 8;
	}
	/* F6/F7: TEST has an immediate, the rest of group 3 does not. */
	if ((f & F_GRP3) && ((i->reg & 7) == 0 || (i->reg & 7) == 1))
		f |= i->op == 0xf6 ? F_IB : F_IZ;
	if (f & F_MOFFS) {
		isz = i->addrsize;
		if (pos + (int)isz > max)
			goto short_or_long;
		i->disp = (int64_t)fetch_le(p + pos, isz);
		i->mem = 1;
		pos += (int)isz;
	} else if (f & F_AP) {
		isz = i->opsize == 2 ? 2 : 4;
		if (pos + (int)isz + 2 > max)
			goto short_or_long;
		i->imm = fetch_le(p + pos, isz);
		i->imm2 = fetch_le(p + pos + isz, 2);
		pos += (int)isz + 2;
	} else if (f & F_IWIB) {
		if (pos + 3 > max)
			goto short_or_long;
		i->imm = fetch_le(p + pos, 2);
		i->imm2 = p[pos + 2];
		pos += 3;
	} else {
		isz = imm_size(f, i);
		if ((f & F_REL) && (f & F_IZ) && c->long64)
			isz = 4;
		if (isz) {
			if (pos + (int)isz > max)
				goto short_or_long;
			i->imm = fetch_le(p + pos, isz);
			if ((f & (F_SEXT | F_REL)) || (f & F_IZ))
				i->imm = (uint64_t)sext(i->imm, isz);
			pos += (int)isz;
		}
	}
	i->len = (uint8_t)pos;
	i->fn = dbt_lookup(i);
	if (i->lock && !lockable(i))
		i->fn = dbt_op_ud;
	/* The VEX instructions there are (BMI1/2) are all VEX.L 0. */
	if (i->vex && i->vex_l)
		i->fn = dbt_op_ud;
	return pos;

short_or_long:
	if (avail >= 15) {
		/* More than 15 bytes: #GP(0), signalled as length -2. */
		i->len = 15;
		return -2;
	}
	return 0;
ud:
	i->len = (uint8_t)(pos > 0 ? pos : 1);
	i->fn = dbt_op_ud;
	return -1;
}
