/*
 * Host-executed arithmetic (see alu.h).  Each helper loads the guest's
 * arithmetic flags, runs one instruction of the requested width and reads
 * the flags back.  This is the interpreter's reference semantics for
 * flags: the differential tester compares them with KVM bit for bit.
 */
#include "dbt/alu.h"

#define FL_IN(fl) (((fl) & X86_ARITH_FLAGS) | 0x2)
#define FL_MERGE(fl, h) \
	(*(fl) = (*(fl) & ~(uint64_t)X86_ARITH_FLAGS) | ((h) & X86_ARITH_FLAGS))

#define PRE "sub $128, %%rsp\n\tpushq %[f]\n\tpopfq\n\t"
#define POST "\n\tpushfq\n\tpopq %[f]\n\tadd $128, %%rsp"

#define BIN8(ins)                                                        \
	__asm__ volatile(PRE ins "b %[b], %[r]" POST                     \
	    : [r] "+q"(r8), [f] "+r"(h) : [b] "q"(b8) : "cc", "memory")
#define BIN16(ins)                                                       \
	__asm__ volatile(PRE ins "w %[b], %[r]" POST                     \
	    : [r] "+r"(r16), [f] "+r"(h) : [b] "r"(b16) : "cc", "memory")
#define BIN32(ins)                                                       \
	__asm__ volatile(PRE ins "l %[b], %[r]" POST                     \
	    : [r] "+r"(r32), [f] "+r"(h) : [b] "r"(b32) : "cc", "memory")
#define BIN64(ins)                                                       \
	__asm__ volatile(PRE ins "q %[b], %[r]" POST                     \
	    : [r] "+r"(r64), [f] "+r"(h) : [b] "r"(b64) : "cc", "memory")

/*
 * The two-operand ops (ADD OR ADC SBB AND SUB XOR CMP TEST) write all six
 * arithmetic flags and read at most CF, so they skip the slow POPF: BT
 * sets CF from the guest's, LAHF and SETO collect the result (AH = SF ZF
 * 0 AF 0 PF 1 CF, AL = OF).  The host clears AF for the logical ops, as
 * POPF-based code saw too.
 */
#define LAHF_IN "bt $0, %k[cf]\n\t"
#define LAHF_OUT "\n\tlahf\n\tseto %%al"
#define LBIN8(ins)                                                       \
	__asm__(LAHF_IN ins "b %[b], %[r]" LAHF_OUT                      \
	    : [r] "+q"(r8), "=&a"(fa) : [b] "q"(b8), [cf] "r"(cf) : "cc")
#define LBIN16(ins)                                                      \
	__asm__(LAHF_IN ins "w %[b], %[r]" LAHF_OUT                      \
	    : [r] "+r"(r16), "=&a"(fa) : [b] "r"(b16), [cf] "r"(cf) : "cc")
#define LBIN32(ins)                                                      \
	__asm__(LAHF_IN ins "l %[b], %[r]" LAHF_OUT                      \
	    : [r] "+r"(r32), "=&a"(fa) : [b] "r"(b32), [cf] "r"(cf) : "cc")
#define LBIN64(ins)                                                      \
	__asm__(LAHF_IN ins "q %[b], %[r]" LAHF_OUT                      \
	    : [r] "+r"(r64), "=&a"(fa) : [b] "r"(b64), [cf] "r"(cf) : "cc")

#define ALL_SIZES(MAC, ins)                                              \
	switch (size) {                                                  \
	case 1: MAC##8(ins); break;                                      \
	case 2: MAC##16(ins); break;                                     \
	case 4: MAC##32(ins); break;                                     \
	default: MAC##64(ins); break;                                    \
	}

uint64_t
alu_bin(enum alu_op op, unsigned size, uint64_t a, uint64_t b, uint64_t *fl)
{
	uint8_t r8 = (uint8_t)a, b8 = (uint8_t)b;
	uint16_t r16 = (uint16_t)a, b16 = (uint16_t)b;
	uint32_t r32 = (uint32_t)a, b32 = (uint32_t)b;
	uint64_t r64 = a, b64 = b, fa = 0;
	uint32_t cf = (uint32_t)(*fl & X86_CF);

	switch (op) {
	case ALU_ADD: ALL_SIZES(LBIN, "add"); break;
	case ALU_OR: ALL_SIZES(LBIN, "or"); break;
	case ALU_ADC: ALL_SIZES(LBIN, "adc"); break;
	case ALU_SBB: ALL_SIZES(LBIN, "sbb"); break;
	case ALU_AND: ALL_SIZES(LBIN, "and"); break;
	case ALU_SUB: ALL_SIZES(LBIN, "sub"); break;
	case ALU_XOR: ALL_SIZES(LBIN, "xor"); break;
	case ALU_CMP: ALL_SIZES(LBIN, "cmp"); break;
	case ALU_TEST: ALL_SIZES(LBIN, "test"); break;
	}
	FL_MERGE(fl, ((fa >> 8) & 0xd5) | (fa & 1) << 11);
	switch (size) {
	case 1: return r8;
	case 2: return r16;
	case 4: return r32;
	default: return r64;
	}
}

#define SH8(ins)                                                         \
	__asm__ volatile(PRE ins "b %%cl, %[r]" POST                     \
	    : [r] "+q"(r8), [f] "+r"(h) : "c"(count) : "cc", "memory")
#define SH16(ins)                                                        \
	__asm__ volatile(PRE ins "w %%cl, %[r]" POST                     \
	    : [r] "+r"(r16), [f] "+r"(h) : "c"(count) : "cc", "memory")
#define SH32(ins)                                                        \
	__asm__ volatile(PRE ins "l %%cl, %[r]" POST                     \
	    : [r] "+r"(r32), [f] "+r"(h) : "c"(count) : "cc", "memory")
#define SH64(ins)                                                        \
	__asm__ volatile(PRE ins "q %%cl, %[r]" POST                     \
	    : [r] "+r"(r64), [f] "+r"(h) : "c"(count) : "cc", "memory")

uint64_t
alu_shift(enum shift_op op, unsigned size, uint64_t a, uint8_t count,
    uint64_t *fl)
{
	uint8_t r8 = (uint8_t)a;
	uint16_t r16 = (uint16_t)a;
	uint32_t r32 = (uint32_t)a;
	uint64_t r64 = a, h = FL_IN(*fl);

	switch (op) {
	case SH_ROL: ALL_SIZES(SH, "rol"); break;
	case SH_ROR: ALL_SIZES(SH, "ror"); break;
	case SH_RCL: ALL_SIZES(SH, "rcl"); break;
	case SH_RCR: ALL_SIZES(SH, "rcr"); break;
	case SH_SHL:
	case SH_SAL: ALL_SIZES(SH, "shl"); break;
	case SH_SHR: ALL_SIZES(SH, "shr"); break;
	case SH_SAR: ALL_SIZES(SH, "sar"); break;
	}
	FL_MERGE(fl, h);
	switch (size) {
	case 1: return r8;
	case 2: return r16;
	case 4: return r32;
	default: return r64;
	}
}

#define UN8(ins)                                                         \
	__asm__ volatile(PRE ins "b %[r]" POST                           \
	    : [r] "+q"(r8), [f] "+r"(h) : : "cc", "memory")
#define UN16(ins)                                                        \
	__asm__ volatile(PRE ins "w %[r]" POST                           \
	    : [r] "+r"(r16), [f] "+r"(h) : : "cc", "memory")
#define UN32(ins)                                                        \
	__asm__ volatile(PRE ins "l %[r]" POST                           \
	    : [r] "+r"(r32), [f] "+r"(h) : : "cc", "memory")
#define UN64(ins)                                                        \
	__asm__ volatile(PRE ins "q %[r]" POST                           \
	    : [r] "+r"(r64), [f] "+r"(h) : : "cc", "memory")

uint64_t
alu_unary(enum unary_op op, unsigned size, uint64_t a, uint64_t *fl)
{
	uint8_t r8 = (uint8_t)a;
	uint16_t r16 = (uint16_t)a;
	uint32_t r32 = (uint32_t)a;
	uint64_t r64 = a, h = FL_IN(*fl);

	switch (op) {
	case UN_INC: ALL_SIZES(UN, "inc"); break;
	case UN_DEC: ALL_SIZES(UN, "dec"); break;
	case UN_NEG: ALL_SIZES(UN, "neg"); break;
	case UN_NOT: ALL_SIZES(UN, "not"); break;
	}
	FL_MERGE(fl, h);
	switch (size) {
	case 1: return r8;
	case 2: return r16;
	case 4: return r32;
	default: return r64;
	}
}

#define SHD16(ins)                                                       \
	__asm__ volatile(PRE ins "w %%cl, %[b], %[r]" POST               \
	    : [r] "+r"(r16), [f] "+r"(h) : [b] "r"(b16), "c"(count)     \
	    : "cc", "memory")
#define SHD32(ins)                                                       \
	__asm__ volatile(PRE ins "l %%cl, %[b], %[r]" POST               \
	    : [r] "+r"(r32), [f] "+r"(h) : [b] "r"(b32), "c"(count)     \
	    : "cc", "memory")
#define SHD64(ins)                                                       \
	__asm__ volatile(PRE ins "q %%cl, %[b], %[r]" POST               \
	    : [r] "+r"(r64), [f] "+r"(h) : [b] "r"(b64), "c"(count)     \
	    : "cc", "memory")

uint64_t
alu_shd(int left, unsigned size, uint64_t dst, uint64_t src, uint8_t count,
    uint64_t *fl)
{
	uint16_t r16 = (uint16_t)dst, b16 = (uint16_t)src;
	uint32_t r32 = (uint32_t)dst, b32 = (uint32_t)src;
	uint64_t r64 = dst, b64 = src, h = FL_IN(*fl);

	if (size == 2) {
		if (left) SHD16("shld"); else SHD16("shrd");
	} else if (size == 4) {
		if (left) SHD32("shld"); else SHD32("shrd");
	} else {
		if (left) SHD64("shld"); else SHD64("shrd");
	}
	FL_MERGE(fl, h);
	return size == 2 ? r16 : size == 4 ? r32 : r64;
}

uint64_t
alu_bt(enum bt_op op, unsigned size, uint64_t a, uint64_t bit, uint64_t *fl)
{
	uint16_t r16 = (uint16_t)a, b16 = (uint16_t)bit;
	uint32_t r32 = (uint32_t)a, b32 = (uint32_t)bit;
	uint64_t r64 = a, b64 = bit, h = FL_IN(*fl);
	uint8_t r8 = 0, b8 = 0;

	(void)r8;
	(void)b8;
	if (size == 1)
		size = 2;
	switch (op) {
	case BT_BT:
		if (size == 2) BIN16("bt"); else if (size == 4) BIN32("bt");
		else BIN64("bt");
		break;
	case BT_BTS:
		if (size == 2) BIN16("bts"); else if (size == 4) BIN32("bts");
		else BIN64("bts");
		break;
	case BT_BTR:
		if (size == 2) BIN16("btr"); else if (size == 4) BIN32("btr");
		else BIN64("btr");
		break;
	case BT_BTC:
		if (size == 2) BIN16("btc"); else if (size == 4) BIN32("btc");
		else BIN64("btc");
		break;
	}
	FL_MERGE(fl, h);
	return size == 2 ? r16 : size == 4 ? r32 : r64;
}

uint64_t
alu_bsf(int rev, unsigned size, uint64_t dst, uint64_t src, uint64_t *fl)
{
	uint16_t r16 = (uint16_t)dst, b16 = (uint16_t)src;
	uint32_t r32 = (uint32_t)dst, b32 = (uint32_t)src;
	uint64_t r64 = dst, b64 = src, h = FL_IN(*fl);

	if (size == 2) {
		if (rev) BIN16("bsr"); else BIN16("bsf");
	} else if (size == 4) {
		if (rev) BIN32("bsr"); else BIN32("bsf");
	} else {
		if (rev) BIN64("bsr"); else BIN64("bsf");
	}
	FL_MERGE(fl, h);
	return size == 2 ? r16 : size == 4 ? r32 : r64;
}

uint64_t
alu_imul2(unsigned size, uint64_t a, uint64_t b, uint64_t *fl)
{
	uint16_t r16 = (uint16_t)a, b16 = (uint16_t)b;
	uint32_t r32 = (uint32_t)a, b32 = (uint32_t)b;
	uint64_t r64 = a, b64 = b, h = FL_IN(*fl);

	if (size == 2)
		BIN16("imul");
	else if (size == 4)
		BIN32("imul");
	else
		BIN64("imul");
	FL_MERGE(fl, h);
	return size == 2 ? r16 : size == 4 ? r32 : r64;
}

void
alu_mul1(int sign, unsigned size, uint64_t *rax, uint64_t *rdx,
    uint64_t src, uint64_t *fl)
{
	uint64_t a = *rax, d = *rdx, h = FL_IN(*fl);

	switch (size) {
	case 1: {
		uint16_t ax = (uint16_t)a;
		uint8_t s = (uint8_t)src;

		if (sign)
			__asm__ volatile(PRE "imulb %[s]" POST
			    : "+a"(ax), [f] "+r"(h) : [s] "q"(s) : "cc", "memory");
		else
			__asm__ volatile(PRE "mulb %[s]" POST
			    : "+a"(ax), [f] "+r"(h) : [s] "q"(s) : "cc", "memory");
		a = (a & ~0xffffULL) | ax;
		break;
	}
	case 2: {
		uint16_t ax = (uint16_t)a, dx = (uint16_t)d, s = (uint16_t)src;

		if (sign)
			__asm__ volatile(PRE "imulw %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "mulw %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		a = (a & ~0xffffULL) | ax;
		d = (d & ~0xffffULL) | dx;
		break;
	}
	case 4: {
		uint32_t ax = (uint32_t)a, dx = (uint32_t)d, s = (uint32_t)src;

		if (sign)
			__asm__ volatile(PRE "imull %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "mull %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		a = ax;
		d = dx;
		break;
	}
	default:
		if (sign)
			__asm__ volatile(PRE "imulq %[s]" POST
			    : "+a"(a), "+d"(d), [f] "+r"(h) : [s] "r"(src)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "mulq %[s]" POST
			    : "+a"(a), "+d"(d), [f] "+r"(h) : [s] "r"(src)
			    : "cc", "memory");
		break;
	}
	*rax = a;
	*rdx = d;
	FL_MERGE(fl, h);
}

int
alu_div(int sign, unsigned size, uint64_t *rax, uint64_t *rdx,
    uint64_t src, uint64_t *fl)
{
	uint64_t a = *rax, d = *rdx, h = FL_IN(*fl);
	unsigned bits = size * 8;

	/* Check #DE first: the host would trap. */
	if (size == 1) {
		if ((uint8_t)src == 0)
			return -1;
		if (sign) {
			int16_t n = (int16_t)a;
			int32_t q = n / (int8_t)src;

			if (q > 127 || q < -128)
				return -1;
		} else if ((uint16_t)a / (uint8_t)src > 0xff) {
			return -1;
		}
	} else {
		uint64_t m = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
		unsigned __int128 n = ((unsigned __int128)(d & m) << bits) |
		    (a & m);

		if ((src & m) == 0)
			return -1;
		if (sign) {
			__int128 sn = bits == 64 ? (__int128)n :
			    (__int128)((int64_t)(n << (64 - 2 * bits)) >>
			    (64 - 2 * bits));
			int64_t sd = (int64_t)(src << (64 - bits)) >>
			    (64 - bits);
			__int128 q;

			if (bits == 64)
				sn = (__int128)(((unsigned __int128)d << 64) |
				    a);
			if (sd == -1 && bits == 64 &&
			    n == ((unsigned __int128)1 << 127))
				return -1;
			q = sn / sd;
			if (q > (((__int128)1 << (bits - 1)) - 1) ||
			    q < -((__int128)1 << (bits - 1)))
				return -1;
		} else if (n / (src & m) > m) {
			return -1;
		}
	}
	switch (size) {
	case 1: {
		uint16_t ax = (uint16_t)a;
		uint8_t s = (uint8_t)src;

		if (sign)
			__asm__ volatile(PRE "idivb %[s]" POST
			    : "+a"(ax), [f] "+r"(h) : [s] "q"(s) : "cc", "memory");
		else
			__asm__ volatile(PRE "divb %[s]" POST
			    : "+a"(ax), [f] "+r"(h) : [s] "q"(s) : "cc", "memory");
		a = (a & ~0xffffULL) | ax;
		break;
	}
	case 2: {
		uint16_t ax = (uint16_t)a, dx = (uint16_t)d, s = (uint16_t)src;

		if (sign)
			__asm__ volatile(PRE "idivw %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "divw %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		a = (a & ~0xffffULL) | ax;
		d = (d & ~0xffffULL) | dx;
		break;
	}
	case 4: {
		uint32_t ax = (uint32_t)a, dx = (uint32_t)d, s = (uint32_t)src;

		if (sign)
			__asm__ volatile(PRE "idivl %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "divl %[s]" POST
			    : "+a"(ax), "+d"(dx), [f] "+r"(h) : [s] "r"(s)
			    : "cc", "memory");
		a = ax;
		d = dx;
		break;
	}
	default:
		if (sign)
			__asm__ volatile(PRE "idivq %[s]" POST
			    : "+a"(a), "+d"(d), [f] "+r"(h) : [s] "r"(src)
			    : "cc", "memory");
		else
			__asm__ volatile(PRE "divq %[s]" POST
			    : "+a"(a), "+d"(d), [f] "+r"(h) : [s] "r"(src)
			    : "cc", "memory");
		break;
	}
	*rax = a;
	*rdx = d;
	FL_MERGE(fl, h);
	return 0;
}
