/*
 * The general-purpose integer instructions (Intel SDM vol. 2): ALU, moves,
 * stack, branches, string instructions, port I/O, bit operations,
 * multiply and divide.  Arithmetic flags come from alu.c (the host runs
 * the same instruction).  Handlers read every operand, then write the
 * destination, then commit flags, so a fault leaves the state as it was.
 */
#include "dbt/dbt-int.h"

#include <sched.h>
#include <string.h>

#include "dbt/alu.h"
#include "dbt/block.h"
#include "vm/vm.h"

#define RAX X86_RAX
#define RCX X86_RCX
#define RDX X86_RDX
#define RSP X86_RSP
#define RSI X86_RSI
#define RDI X86_RDI

static inline unsigned
osz(const struct insn *i)
{
	return i->opsize;
}

static inline uint64_t
mask_of(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline void
set_flags(struct dbt_cpu *c, uint64_t fl)
{
	c->rflags = (c->rflags & ~(uint64_t)X86_ARITH_FLAGS) |
	    (fl & X86_ARITH_FLAGS);
}

static bool
cond(const struct dbt_cpu *c, unsigned cc)
{
	uint64_t f = c->rflags;
	bool r;

	switch ((cc >> 1) & 7) {
	case 0: r = f & X86_OF; break;
	case 1: r = f & X86_CF; break;
	case 2: r = f & X86_ZF; break;
	case 3: r = (f & X86_CF) || (f & X86_ZF); break;
	case 4: r = f & X86_SF; break;
	case 5: r = f & X86_PF; break;
	case 6: r = !(f & X86_SF) != !(f & X86_OF); break;
	default: r = (f & X86_ZF) || (!(f & X86_SF) != !(f & X86_OF)); break;
	}
	return (cc & 1) ? !r : r;
}

/* Near branch target: next_rip + displacement, in the operand size. */
static void
jump_to(struct dbt_cpu *c, const struct insn *i, uint64_t target)
{
	if (c->long64)
		c->next_rip = target;
	else
		c->next_rip = target & mask_of(osz(i) == 2 ? 2 : 4);
}

/* ---- ALU ---------------------------------------------------------------- */

/* 00-3D: the eight ALU ops in their six forms. */
static void
op_alu(struct dbt_cpu *c, const struct insn *i)
{
	enum alu_op op = (enum alu_op)((i->op >> 3) & 7);
	unsigned form = i->op & 7, size = (form & 1) ? osz(i) : 1;
	uint64_t a, b, r, fl = c->rflags;

	switch (form) {
	case 0:
	case 1:
		a = op == ALU_CMP ? dbt_get_rm(c, i, size) :
		    dbt_get_rm_rmw(c, i, size);
		b = dbt_get_reg(c, i, i->reg, size);
		r = alu_bin(op, size, a, b, &fl);
		if (op != ALU_CMP)
			dbt_set_rm(c, i, size, r);
		break;
	case 2:
	case 3:
		a = dbt_get_reg(c, i, i->reg, size);
		b = dbt_get_rm(c, i, size);
		r = alu_bin(op, size, a, b, &fl);
		if (op != ALU_CMP)
			dbt_set_reg(c, i, i->reg, size, r);
		break;
	default:
		size = form == 4 ? 1 : osz(i);
		a = dbt_get_reg(c, i, RAX, size);
		r = alu_bin(op, size, a, i->imm, &fl);
		if (op != ALU_CMP)
			dbt_set_reg(c, i, RAX, size, r);
		break;
	}
	set_flags(c, fl);
}

/* 80, 81, 83: group 1 with an immediate (82, outside 64-bit mode, is 80). */
static void
op_grp1(struct dbt_cpu *c, const struct insn *i)
{
	enum alu_op op = (enum alu_op)(i->reg & 7);
	unsigned size = i->op == 0x80 || i->op == 0x82 ? 1 : osz(i);
	uint64_t fl = c->rflags, a = op == ALU_CMP ? dbt_get_rm(c, i, size) :
	    dbt_get_rm_rmw(c, i, size);
	uint64_t r = alu_bin(op, size, a, i->imm, &fl);

	if (op != ALU_CMP)
		dbt_set_rm(c, i, size, r);
	set_flags(c, fl);
}

static void
op_test(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op & 1) ? osz(i) : 1;
	uint64_t fl = c->rflags, a, b;

	if (i->op == 0x84 || i->op == 0x85) {
		a = dbt_get_rm(c, i, size);
		b = dbt_get_reg(c, i, i->reg, size);
	} else if (i->op == 0xa8 || i->op == 0xa9) {
		a = dbt_get_reg(c, i, RAX, size);
		b = i->imm;
	} else { /* F6/F7 /0 /1 */
		a = dbt_get_rm(c, i, size);
		b = i->imm;
	}
	(void)alu_bin(ALU_TEST, size, a, b, &fl);
	set_flags(c, fl);
}

/* F6/F7 /2 NOT, /3 NEG; FE/FF /0 INC, /1 DEC; 40-4F INC/DEC. */
static void
op_unary(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op == 0xf6 || i->op == 0xfe) ? 1 : osz(i);
	uint64_t fl = c->rflags, r;
	enum unary_op op;

	if (i->op >= 0x40 && i->op <= 0x4f) {
		op = i->op < 0x48 ? UN_INC : UN_DEC;
		r = alu_unary(op, size, dbt_get_reg(c, i, i->op & 7, size),
		    &fl);
		dbt_set_reg(c, i, i->op & 7, size, r);
		set_flags(c, fl);
		return;
	}
	switch (i->reg & 7) {
	case 0: op = UN_INC; break;
	case 1: op = UN_DEC; break;
	case 2: op = UN_NOT; break;
	default: op = UN_NEG; break;
	}
	r = alu_unary(op, size, dbt_get_rm_rmw(c, i, size), &fl);
	dbt_set_rm(c, i, size, r);
	if (op != UN_NOT)
		set_flags(c, fl);
}

/* C0, C1, D0-D3: group 2 shifts and rotates. */
static void
op_shift(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op & 1) ? osz(i) : 1;
	uint8_t count;
	uint64_t fl = c->rflags, a, r;

	if (i->op == 0xc0 || i->op == 0xc1)
		count = (uint8_t)i->imm;
	else if (i->op == 0xd0 || i->op == 0xd1)
		count = 1;
	else
		count = (uint8_t)c->gpr[RCX];
	a = dbt_get_rm_rmw(c, i, size);
	r = alu_shift((enum shift_op)(i->reg & 7), size, a, count, &fl);
	dbt_set_rm(c, i, size, r);
	set_flags(c, fl);
}

static void
op_shd(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint8_t count = (i->op == 0xa4 || i->op == 0xac) ? (uint8_t)i->imm :
	    (uint8_t)c->gpr[RCX];
	uint64_t fl = c->rflags, a = dbt_get_rm_rmw(c, i, size);
	uint64_t r = alu_shd(i->op < 0xa8, size, a,
	    dbt_get_reg(c, i, i->reg, size), count, &fl);

	dbt_set_rm(c, i, size, r);
	set_flags(c, fl);
}

/* F6/F7 /4-/7: MUL, IMUL, DIV, IDIV. */
static void
op_muldiv(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->op == 0xf6 ? 1 : osz(i), r = i->reg & 7;
	uint64_t src = dbt_get_rm(c, i, size), fl = c->rflags;
	uint64_t rax = c->gpr[RAX], rdx = c->gpr[RDX];

	if (r == 4 || r == 5) {
		alu_mul1(r == 5, size, &rax, &rdx, src, &fl);
	} else if (alu_div(r == 7, size, &rax, &rdx, src, &fl) < 0) {
		dbt_raise_noerr(c, X86_EXC_DE);
	}
	c->gpr[RAX] = rax;
	c->gpr[RDX] = rdx;
	set_flags(c, fl);
}

static void
op_imul(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t fl = c->rflags, a, b;

	if (i->op == 0xaf) {
		a = dbt_get_reg(c, i, i->reg, size);
		b = dbt_get_rm(c, i, size);
	} else {
		a = dbt_get_rm(c, i, size);
		b = i->imm;
	}
	dbt_set_reg(c, i, i->reg, size, alu_imul2(size, a, b, &fl));
	set_flags(c, fl);
}

/* ---- moves -------------------------------------------------------------- */

static void
op_mov(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op & 1) ? osz(i) : 1;

	switch (i->op) {
	case 0x88:
	case 0x89:
		dbt_set_rm(c, i, size, dbt_get_reg(c, i, i->reg, size));
		break;
	case 0x8a:
	case 0x8b:
		dbt_set_reg(c, i, i->reg, size, dbt_get_rm(c, i, size));
		break;
	case 0xc6:
	case 0xc7:
		dbt_set_rm(c, i, size, i->imm);
		break;
	}
}

static void
op_mov_imm(struct dbt_cpu *c, const struct insn *i)
{
	if (i->op < 0xb8)
		dbt_set_reg(c, i, i->opreg, 1, i->imm);
	else
		dbt_set_reg(c, i, i->opreg, osz(i), i->imm);
}

static void
op_mov_moffs(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op & 1) ? osz(i) : 1;
	uint64_t off = (uint64_t)i->disp & mask_of(i->addrsize);
	uint64_t v;

	if (i->op < 0xa2) {
		switch (size) {
		case 1: v = dbt_read8(c, i->seg, off); break;
		case 2: v = dbt_read16(c, i->seg, off); break;
		case 4: v = dbt_read32(c, i->seg, off); break;
		default: v = dbt_read64(c, i->seg, off); break;
		}
		dbt_set_reg(c, i, RAX, size, v);
		return;
	}
	v = dbt_get_reg(c, i, RAX, size);
	switch (size) {
	case 1: dbt_write8(c, i->seg, off, (uint8_t)v); break;
	case 2: dbt_write16(c, i->seg, off, (uint16_t)v); break;
	case 4: dbt_write32(c, i->seg, off, (uint32_t)v); break;
	default: dbt_write64(c, i->seg, off, v); break;
	}
}

static void
op_lea(struct dbt_cpu *c, const struct insn *i)
{
	if (!i->mem)
		dbt_ud(c);
	dbt_set_reg(c, i, i->reg, osz(i), dbt_ea(c, i));
}

static void
op_movzx(struct dbt_cpu *c, const struct insn *i)
{
	unsigned from = (i->op & 1) ? 2 : 1;
	uint64_t v = dbt_get_rm(c, i, from);

	if (i->op >= 0xbe) { /* MOVSX */
		v = from == 1 ? (uint64_t)(int64_t)(int8_t)v :
		    (uint64_t)(int64_t)(int16_t)v;
	}
	dbt_set_reg(c, i, i->reg, osz(i), v & mask_of(osz(i)));
}

static void
op_movsxd(struct dbt_cpu *c, const struct insn *i)
{
	/* 66 63 is MOVSXD r16, r/m16: a 16-bit source. */
	uint64_t v = dbt_get_rm(c, i, osz(i) == 2 ? 2 : 4);

	if (osz(i) == 8)
		v = (uint64_t)(int64_t)(int32_t)v;
	dbt_set_reg(c, i, i->reg, osz(i), v);
}

static void op_xchg(struct dbt_cpu *c, const struct insn *i);

/*
 * PAUSE (F3 90), the spin-wait hint.  With several vCPUs taking turns on
 * the run lock, a spinning vCPU waits for another that holds what it
 * spins on; ending its turn here, at the hint, lets that one run (and
 * release it) instead of spinning out a whole slice.  The block is left
 * so the turn ends before the next instruction (often the lock's retry).
 * Running in parallel there is no turn: the host thread yields.
 */
static void
op_pause(struct dbt_cpu *c, const struct insn *i)
{
	if (i->opreg != RAX) {
		op_xchg(c, i);          /* F3 with XCHG r8-r15 */
		return;
	}
	/* In parallel the vCPU spun on may want this host core (there
	 * may be more vCPUs than cores): give it up for a moment. */
	if (c->smp_parallel)
		sched_yield();
	else if (c->vm->ncpus > 1) {
		c->jit_budget = 0;
		c->block_dirty = true;
	}
}

static void
op_xchg(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->op == 0x86 ? 1 : osz(i);
	uint64_t a, b;

	if (i->op >= 0x90) {
		if (i->opreg == RAX)
			return; /* NOP (and PAUSE) */
		a = dbt_get_reg(c, i, RAX, size);
		b = dbt_get_reg(c, i, i->opreg, size);
		dbt_set_reg(c, i, RAX, size, b);
		dbt_set_reg(c, i, i->opreg, size, a);
		return;
	}
	if (i->mem) {
		/* XCHG with memory is locked without a prefix (SDM vol. 3A,
		 * 8.1.2.1): the host's own exchange where it can. */
		uint64_t ea = dbt_ea(c, i), pa;
		void *p;

		dbt_probe_write(c, i->seg, ea, size);
		p = dbt_atomic_ptr(c, i->seg, ea, size, &pa);
		if (p != NULL) {
			b = dbt_get_reg(c, i, i->reg, size);
			switch (size) {
			case 1: a = __atomic_exchange_n((uint8_t *)p,
			    (uint8_t)b, __ATOMIC_SEQ_CST); break;
			case 2: a = __atomic_exchange_n((uint16_t *)p,
			    (uint16_t)b, __ATOMIC_SEQ_CST); break;
			case 4: a = __atomic_exchange_n((uint32_t *)p,
			    (uint32_t)b, __ATOMIC_SEQ_CST); break;
			default: a = __atomic_exchange_n((uint64_t *)p, b,
			    __ATOMIC_SEQ_CST); break;
			}
			dbt_mem_written(c, pa, size);
			dbt_set_reg(c, i, i->reg, size, a);
			return;
		}
	}
	a = dbt_get_rm_rmw(c, i, size);
	b = dbt_get_reg(c, i, i->reg, size);
	dbt_set_rm(c, i, size, b);
	dbt_set_reg(c, i, i->reg, size, a);
}

static void
op_cmov(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v = dbt_get_rm(c, i, osz(i));

	if (cond(c, i->op & 0xf))
		dbt_set_reg(c, i, i->reg, osz(i), v);
	else if (osz(i) == 4)
		c->gpr[i->reg] &= 0xffffffffULL; /* 32-bit form zero-extends */
}

static void
op_setcc(struct dbt_cpu *c, const struct insn *i)
{
	dbt_set_rm(c, i, 1, cond(c, i->op & 0xf));
}

static void
op_cbw(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t a = c->gpr[RAX];

	switch (osz(i)) {
	case 2:
		dbt_set_reg(c, i, RAX, 2, (uint64_t)(int64_t)(int8_t)a);
		break;
	case 4:
		dbt_set_reg(c, i, RAX, 4, (uint64_t)(int64_t)(int16_t)a);
		break;
	default:
		c->gpr[RAX] = (uint64_t)(int64_t)(int32_t)a;
		break;
	}
}

static void
op_cwd(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t a = dbt_get_reg(c, i, RAX, size);
	bool neg = (a >> (size * 8 - 1)) & 1;

	dbt_set_reg(c, i, RDX, size, neg ? ~0ULL : 0);
}

static void
op_bswap(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v = c->gpr[i->opreg];

	if (osz(i) == 8)
		c->gpr[i->opreg] = __builtin_bswap64(v);
	else if (osz(i) == 4)
		c->gpr[i->opreg] = __builtin_bswap32((uint32_t)v);
	else
		c->gpr[i->opreg] &= ~0xffffULL; /* undefined; as hardware: 0 */
}

static void
op_xadd(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->op == 0xc0 ? 1 : osz(i);
	uint64_t fl = c->rflags, d = dbt_get_rm_rmw(c, i, size);
	uint64_t s = dbt_get_reg(c, i, i->reg, size);
	uint64_t r = alu_bin(ALU_ADD, size, d, s, &fl);

	/* TEMP = SRC + DEST; SRC = DEST; DEST = TEMP: with one register for
	 * both, the sum is what stays.  A memory destination goes first: its
	 * address may use the source register. */
	if (i->mem) {
		dbt_set_rm(c, i, size, r);
		dbt_set_reg(c, i, i->reg, size, d);
	} else {
		dbt_set_reg(c, i, i->reg, size, d);
		dbt_set_rm(c, i, size, r);
	}
	set_flags(c, fl);
}

static void
op_cmpxchg(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = i->op == 0xb0 ? 1 : osz(i);
	uint64_t fl = c->rflags, d = dbt_get_rm_rmw(c, i, size);
	uint64_t a = dbt_get_reg(c, i, RAX, size);

	(void)alu_bin(ALU_CMP, size, a, d, &fl);
	if (fl & X86_ZF) {
		dbt_set_rm(c, i, size, dbt_get_reg(c, i, i->reg, size));
	} else {
		/* The destination is written back either way. */
		if (i->mem)
			dbt_set_rm(c, i, size, d);
		dbt_set_reg(c, i, RAX, size, d);
	}
	set_flags(c, fl);
}

/* LOCK CMPXCHG16B on RAM: the host's own (16-aligned, so in one line);
 * false if the operand is not plain RAM. */
static bool
cmpxchg16b_host(struct dbt_cpu *c, const struct insn *i, uint64_t ea)
{
	uint64_t pa, lo = c->gpr[RAX], hi = c->gpr[RDX];
	void *p = dbt_atomic_ptr(c, i->seg, ea, 16, &pa);
	unsigned char zf;

	if (p == NULL)
		return false;
	__asm__ volatile("lock cmpxchg16b %1; setz %0"
	    : "=q"(zf), "+m"(*(volatile unsigned __int128 *)p),
	      "+a"(lo), "+d"(hi)
	    : "b"(c->gpr[X86_RBX]), "c"(c->gpr[RCX])
	    : "memory", "cc");
	if (zf) {
		dbt_mem_written(c, pa, 16);
		c->rflags |= X86_ZF;
	} else {
		c->gpr[RAX] = lo;
		c->gpr[RDX] = hi;
		c->rflags &= ~(uint64_t)X86_ZF;
	}
	return true;
}

/* 0F C7 /1: CMPXCHG8B / CMPXCHG16B. */
static void
op_cmpxchg8b(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t ea = dbt_ea(c, i);

	if (!i->mem)
		dbt_ud(c);
	if (osz(i) == 8) {
		uint64_t m[2];

		/* The alignment #GP before the address's own faults: a
		 * misaligned operand at a non-canonical address through SS
		 * is #GP(0), not #SS(0), on the CPU run natively (jit64's
		 * "16-byte alignment" check; KVM-PVM's emulator, the
		 * difftest's judge for a user-mode #GP, orders them the
		 * other way). */
		if (ea & 15)
			dbt_gp0(c);
		(void)dbt_linear(c, i->seg, ea, 16, DBT_ACC_WRITE);
		dbt_probe_write(c, i->seg, ea, 16);
		if (i->lock && cmpxchg16b_host(c, i, ea))
			return;
		dbt_read_bytes(c, i->seg, ea, m, 16);
		if (m[0] == c->gpr[RAX] && m[1] == c->gpr[RDX]) {
			uint64_t n[2] = { c->gpr[X86_RBX], c->gpr[RCX] };

			dbt_write_bytes(c, i->seg, ea, n, 16);
			c->rflags |= X86_ZF;
		} else {
			dbt_write_bytes(c, i->seg, ea, m, 16);
			c->gpr[RAX] = m[0];
			c->gpr[RDX] = m[1];
			c->rflags &= ~(uint64_t)X86_ZF;
		}
		return;
	}
	{
		uint64_t m, cmp;

		uint64_t pa;
		void *p;

		dbt_probe_write(c, i->seg, ea, 8);
		cmp = (c->gpr[RDX] << 32) | (uint32_t)c->gpr[RAX];
		p = i->lock ? dbt_atomic_ptr(c, i->seg, ea, 8, &pa) : NULL;
		if (p != NULL) {
			/* The host's CMPXCHG8B: one atomic compare-and-swap;
			 * on failure memory is left as it is (the CPU's write
			 * back of the same value). */
			m = cmp;
			if (__atomic_compare_exchange_n((uint64_t *)p, &m,
			    (c->gpr[RCX] << 32) | (uint32_t)c->gpr[X86_RBX],
			    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				dbt_mem_written(c, pa, 8);
				c->rflags |= X86_ZF;
			} else {
				c->gpr[RAX] = (uint32_t)m;
				c->gpr[RDX] = m >> 32;
				c->rflags &= ~(uint64_t)X86_ZF;
			}
			return;
		}
		m = dbt_read64(c, i->seg, ea);
		if (m == cmp) {
			dbt_write64(c, i->seg, ea, (c->gpr[RCX] << 32) |
			    (uint32_t)c->gpr[X86_RBX]);
			c->rflags |= X86_ZF;
		} else {
			dbt_write64(c, i->seg, ea, m);
			c->gpr[RAX] = (uint32_t)m;
			c->gpr[RDX] = m >> 32;
			c->rflags &= ~(uint64_t)X86_ZF;
		}
	}
}

/* ---- bits --------------------------------------------------------------- */

static void
bt_common(struct dbt_cpu *c, const struct insn *i, enum bt_op op,
    uint64_t bit, bool imm)
{
	unsigned size = osz(i), bits = size * 8;
	uint64_t fl = c->rflags, v, r;

	if (i->mem && !imm) {
		/* A register bit offset reaches beyond the operand. */
		int64_t sb = (int64_t)(bit << (64 - bits)) >> (64 - bits);
		int64_t off = (sb >> (bits == 16 ? 4 : bits == 32 ? 5 : 6)) *
		    (int64_t)size;
		struct insn j = *i;

		j.disp += off;
		v = op == BT_BT ? dbt_get_rm(c, &j, size) :
		    dbt_get_rm_rmw(c, &j, size);
		r = alu_bt(op, size, v, bit & (bits - 1), &fl);
		if (op != BT_BT)
			dbt_set_rm(c, &j, size, r);
	} else {
		v = op == BT_BT ? dbt_get_rm(c, i, size) :
		    dbt_get_rm_rmw(c, i, size);
		r = alu_bt(op, size, v, bit & (bits - 1), &fl);
		if (op != BT_BT)
			dbt_set_rm(c, i, size, r);
	}
	set_flags(c, fl);
}

static void
op_bt(struct dbt_cpu *c, const struct insn *i)
{
	static const enum bt_op ops[4] = { BT_BT, BT_BTS, BT_BTR, BT_BTC };

	bt_common(c, i, ops[(i->op >> 3) & 3],
	    dbt_get_reg(c, i, i->reg, osz(i)), false);
}

static void
op_bt_imm(struct dbt_cpu *c, const struct insn *i)
{
	if ((i->reg & 7) < 4)
		dbt_ud(c);
	bt_common(c, i, (enum bt_op)((i->reg & 7) - 4), i->imm & 0xff, true);
}

static void
op_bsf(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t fl = c->rflags, src = dbt_get_rm(c, i, size);
	uint64_t r = alu_bsf(i->op == 0xbd, size,
	    dbt_get_reg(c, i, i->reg, size), src, &fl);

	if (src != 0 || size != 4)
		dbt_set_reg(c, i, i->reg, size, r);
	set_flags(c, fl);
}

static void
op_popcnt(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t src = dbt_get_rm(c, i, size);

	dbt_set_reg(c, i, i->reg, size, (uint64_t)__builtin_popcountll(src));
	c->rflags &= ~(uint64_t)X86_ARITH_FLAGS;
	if (src == 0)
		c->rflags |= X86_ZF;
}

/* ---- stack -------------------------------------------------------------- */

static void
op_push_reg(struct dbt_cpu *c, const struct insn *i)
{
	dbt_push(c, osz(i), dbt_get_reg(c, i, i->opreg, osz(i)));
}

static void
op_pop_reg(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t v = dbt_pop(c, osz(i));

	dbt_set_reg(c, i, i->opreg, osz(i), v);
}

static void
op_push_imm(struct dbt_cpu *c, const struct insn *i)
{
	dbt_push(c, osz(i), i->imm);
}

static void
op_pop_rm(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t sp = c->gpr[RSP], v = dbt_pop(c, osz(i)), after;

	/* An RSP-based destination uses the incremented RSP; if the store
	 * faults, the instruction has done nothing, RSP included: probe the
	 * destination with the old RSP back in place. */
	if (i->mem) {
		uint64_t ea = dbt_ea(c, i);

		after = c->gpr[RSP];
		c->gpr[RSP] = sp;
		dbt_probe_write(c, i->seg, ea, osz(i));
		c->gpr[RSP] = after;
		dbt_set_rm(c, i, osz(i), v);
	} else {
		dbt_set_reg(c, i, i->rm, osz(i), v);
	}
}

static void write_stack(struct dbt_cpu *c, uint64_t off, unsigned size,
    uint64_t v);

/* ESP or SP as the stack's size (B bit) has it; never 64-bit mode. */
static uint64_t
stack_mask(const struct dbt_cpu *c)
{
	return c->stack32 ? 0xffffffffULL : 0xffffULL;
}

/* PUSHA and POPA move (E)SP only once all eight slots are done: a fault
 * part-way leaves it, and POPA's registers, as they were (exceptions are
 * precise: SDM vol. 3A, 6.5).  The slots go one by one, from the top for
 * PUSHA, as the CPU run natively does them (the slots above the one that
 * faults are written, the difftest's native oracle shows). */
static void
op_pusha(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t m = stack_mask(c), sp = c->gpr[RSP] & m, at = sp;
	int r;

	for (r = 0; r < 8; r++) {
		at = (at - size) & m;
		write_stack(c, at, size, r == RSP ? sp : c->gpr[r]);
	}
	c->gpr[RSP] = c->stack32 ? at : (c->gpr[RSP] & ~m) | at;
}

static void
op_popa(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t m = stack_mask(c), at = c->gpr[RSP] & m, v[8];
	int r;

	for (r = 7; r >= 0; r--) {
		v[r] = size == 4 ? dbt_read32(c, X86_SS, at) :
		    dbt_read16(c, X86_SS, at);
		at = (at + size) & m;
	}
	for (r = 7; r >= 0; r--)
		if (r != RSP)
			dbt_set_reg(c, i, r, size, v[r]);
	c->gpr[RSP] = c->stack32 ? at : (c->gpr[RSP] & ~m) | at;
}

/* A write of size bytes at SS:off (ENTER). */
static void
write_stack(struct dbt_cpu *c, uint64_t off, unsigned size, uint64_t v)
{
	if (size == 8)
		dbt_write64(c, X86_SS, off, v);
	else if (size == 4)
		dbt_write32(c, X86_SS, off, (uint32_t)v);
	else
		dbt_write16(c, X86_SS, off, (uint16_t)v);
}

/*
 * BOUND r, m (SDM vol. 2, BOUND; 62 /r outside 64-bit mode, where it is
 * EVEX): #BR, a fault, if the signed index is below the lower bound at m
 * or above the upper one after it; a register operand is #UD.
 */
static void
op_bound(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t ea;
	int64_t idx, lo, hi;

	if (!i->mem)
		dbt_ud(c);
	ea = dbt_ea(c, i);
	if (size == 2) {
		lo = (int16_t)dbt_read16(c, i->seg, ea);
		hi = (int16_t)dbt_read16(c, i->seg, ea + 2);
		idx = (int16_t)dbt_get_reg(c, i, i->reg, 2);
	} else {
		lo = (int32_t)dbt_read32(c, i->seg, ea);
		hi = (int32_t)dbt_read32(c, i->seg, ea + 4);
		idx = (int32_t)dbt_get_reg(c, i, i->reg, 4);
	}
	if (idx < lo || idx > hi)
		dbt_raise_noerr(c, X86_EXC_BR);
}

/*
 * ENTER imm16, level (SDM vol. 2, ENTER; vol. 1, 6.5): push (E)BP, copy
 * level-1 frame pointers from the old frame (addressed with BP, EBP or
 * RBP by the stack's size), push the new frame pointer, then make room
 * for imm16 bytes.  Every read comes first and RSP and RBP are written
 * last, so a fault leaves them as they were; outside 64-bit mode the
 * final stack pointer must lie within SS (#SS(0)).
 */
static void
op_enter(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i), level = (unsigned)(i->imm2 & 31), k;
	uint64_t smask = c->long64 ? ~0ULL : c->stack32 ? 0xffffffffULL :
	    0xffffULL;
	uint64_t bp = c->gpr[X86_RBP], sp = c->gpr[RSP] & smask, frame;

	/* In the SDM's order: RBP pushed, then each outer frame pointer
	 * read and pushed in turn.  A fault leaves RSP and RBP as they were
	 * but the stores before it made (the CPU run natively does), and a
	 * read sees what an earlier push of this ENTER stored. */
	sp = (sp - size) & smask;
	write_stack(c, sp, size, bp);
	frame = sp;
	for (k = 1; k < level; k++) {
		uint64_t a = (bp - (uint64_t)k * size) & smask, v;

		v = size == 8 ? dbt_read64(c, X86_SS, a) : size == 4 ?
		    dbt_read32(c, X86_SS, a) : dbt_read16(c, X86_SS, a);
		sp = (sp - size) & smask;
		write_stack(c, sp, size, v);
	}
	if (level) {
		sp = (sp - size) & smask;
		write_stack(c, sp, size, frame);
	}
	sp = (sp - (i->imm & 0xffff)) & smask;
	/* "A write using the final value of the stack pointer" is checked
	 * (SDM vol. 2, ENTER, #PF): in every mode as a write of the operand
	 * size there, with its #AC (the CPU run natively does, in 64-bit
	 * and in compatibility mode). */
	dbt_probe_write(c, X86_SS, sp, size);
	c->gpr[RSP] = smask == 0xffffULL ?
	    (c->gpr[RSP] & ~0xffffULL) | sp : sp;
	dbt_set_reg(c, i, X86_RBP, size, frame);
}

static void
op_leave(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t sp = c->gpr[X86_RBP], mask, v;
	unsigned size = osz(i);

	/* Read first: a fault leaves RSP and RBP as they were. */
	mask = c->long64 ? ~0ULL : c->stack32 ? 0xffffffffULL : 0xffffULL;
	sp &= mask;
	v = size == 8 ? dbt_read64(c, X86_SS, sp) : size == 4 ?
	    dbt_read32(c, X86_SS, sp) : dbt_read16(c, X86_SS, sp);
	sp = (sp + size) & mask;
	if (mask == 0xffffULL)
		c->gpr[RSP] = (c->gpr[RSP] & ~0xffffULL) | sp;
	else
		c->gpr[RSP] = sp;
	dbt_set_reg(c, i, X86_RBP, size, v);
}

static void
op_lahf(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	c->gpr[RAX] = (c->gpr[RAX] & ~0xff00ULL) |
	    ((c->rflags & 0xd5) | 2) << 8;
}

static void
op_sahf(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	c->rflags = (c->rflags & ~0xd5ULL) | ((c->gpr[RAX] >> 8) & 0xd5);
}

static void
op_flagbits(struct dbt_cpu *c, const struct insn *i)
{
	switch (i->op) {
	case 0xf5: c->rflags ^= X86_CF; break;
	case 0xf8: c->rflags &= ~(uint64_t)X86_CF; break;
	case 0xf9: c->rflags |= X86_CF; break;
	case 0xfc: c->rflags &= ~(uint64_t)X86_DF; break;
	case 0xfd: c->rflags |= X86_DF; break;
	}
}

/* ---- branches ----------------------------------------------------------- */

static void
op_jcc(struct dbt_cpu *c, const struct insn *i)
{
	if (cond(c, i->op & 0xf))
		jump_to(c, i, c->next_rip + i->imm);
}

static void
op_jmp_rel(struct dbt_cpu *c, const struct insn *i)
{
	jump_to(c, i, c->next_rip + i->imm);
}

static void
op_call_rel(struct dbt_cpu *c, const struct insn *i)
{
	dbt_push(c, osz(i), c->next_rip);
	jump_to(c, i, c->next_rip + i->imm);
}

static void
op_ret(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t target = dbt_pop(c, osz(i));

	if (i->op == 0xc2) {
		c->gpr[RSP] += i->imm & 0xffff;
		if (!c->long64 && !c->stack32)
			c->gpr[RSP] &= 0xffff;
		else if (!c->long64)
			c->gpr[RSP] &= 0xffffffff;
	}
	jump_to(c, i, target);
}

static uint64_t
count_reg(struct dbt_cpu *c, const struct insn *i)
{
	return c->gpr[RCX] & mask_of(i->addrsize);
}

static void
set_count(struct dbt_cpu *c, const struct insn *i, uint64_t v)
{
	dbt_set_reg(c, i, RCX, i->addrsize, v);
}

static void
op_loop(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t n;
	bool take;

	if (i->op == 0xe3) {
		if (count_reg(c, i) == 0)
			jump_to(c, i, c->next_rip + i->imm);
		return;
	}
	n = (count_reg(c, i) - 1) & mask_of(i->addrsize);
	set_count(c, i, n);
	take = n != 0;
	if (i->op == 0xe1)
		take = take && (c->rflags & X86_ZF);
	else if (i->op == 0xe0)
		take = take && !(c->rflags & X86_ZF);
	if (take)
		jump_to(c, i, c->next_rip + i->imm);
}

/* FF group 5 near forms: /2 CALL, /4 JMP, /6 PUSH. */
static void
op_grp5(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = osz(i);
	uint64_t v;

	switch (i->reg & 7) {
	case 2:
		v = dbt_get_rm(c, i, size);
		dbt_push(c, size, c->next_rip);
		jump_to(c, i, v);
		break;
	case 4:
		jump_to(c, i, dbt_get_rm(c, i, size));
		break;
	case 6:
		dbt_push(c, size, dbt_get_rm(c, i, size));
		break;
	default:
		dbt_ud(c);
	}
}

/* ---- strings ------------------------------------------------------------ */

#define STR_CHUNK 4096  /* iterations before yielding to interrupts */

static uint64_t
str_read(struct dbt_cpu *c, int seg, uint64_t off, unsigned size)
{
	switch (size) {
	case 1: return dbt_read8(c, seg, off);
	case 2: return dbt_read16(c, seg, off);
	case 4: return dbt_read32(c, seg, off);
	default: return dbt_read64(c, seg, off);
	}
}

static void
str_write(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    uint64_t v)
{
	switch (size) {
	case 1: dbt_write8(c, seg, off, (uint8_t)v); break;
	case 2: dbt_write16(c, seg, off, (uint16_t)v); break;
	case 4: dbt_write32(c, seg, off, (uint32_t)v); break;
	default: dbt_write64(c, seg, off, v); break;
	}
}

static void
advance(struct dbt_cpu *c, const struct insn *i, int reg, unsigned size)
{
	uint64_t v = c->gpr[reg] & mask_of(i->addrsize);

	v = (c->rflags & X86_DF) ? v - size : v + size;
	dbt_set_reg(c, i, reg, i->addrsize, v & mask_of(i->addrsize));
}

static unsigned
str_size(const struct insn *i)
{
	return (i->op & 1) ? i->opsize : 1;
}

/* Fast REP STOSB/MOVSB on RAM with DF=0 within one page at a time. */
static bool
fast_rep(struct dbt_cpu *c, const struct insn *i, unsigned size)
{
	uint64_t n = count_reg(c, i), di, si, chunk, room;
	uint8_t *d, *s = NULL;
	uint64_t spa, dpa;
	bool movs = i->op == 0xa4 || i->op == 0xa5;

	if ((c->rflags & X86_DF) || n == 0 || i->addrsize == 2)
		return false;
	/* Alignment checking is per element: the slow path does it. */
	if (c->cpl == 3 && (c->rflags & X86_AC) && (c->cr0 & X86_CR0_AM))
		return false;
	di = c->gpr[RDI] & mask_of(i->addrsize);
	room = 4096 - ((c->seg[X86_ES].base + di) & 0xfff);
	if (movs) {
		si = c->gpr[RSI] & mask_of(i->addrsize);
		chunk = 4096 - ((c->seg[i->seg].base + si) & 0xfff);
		if (chunk < room)
			room = chunk;
	}
	chunk = room / size;
	if (chunk == 0)
		return false;
	if (chunk > n)
		chunk = n;
	/* The source first: its faults come before the destination's. */
	if (movs) {
		s = dbt_mem_ptr(c, i->seg, c->gpr[RSI] & mask_of(i->addrsize),
		    (unsigned)(chunk * size), DBT_ACC_READ, &spa);
		if (s == NULL)
			return false;
	}
	d = dbt_mem_ptr(c, X86_ES, di, (unsigned)(chunk * size),
	    DBT_ACC_WRITE, &dpa);
	if (d == NULL)
		return false;
	if (movs) {
		if (d > s && d < s + chunk * size) {
			/* A destination just above the source sees the
			 * elements already copied, as element-by-element
			 * MOVS does (SDM vol. 1, 7.3.9.3: fast strings keep
			 * that order when the two are this close). */
			uint64_t k;

			for (k = 0; k < chunk; k++)
				memmove(d + k * size, s + k * size, size);
		} else {
			memmove(d, s, chunk * size);
		}
		dbt_set_reg(c, i, RSI, i->addrsize,
		    (c->gpr[RSI] + chunk * size) & mask_of(i->addrsize));
	} else if (size == 1) {
		memset(d, (int)(c->gpr[RAX] & 0xff), chunk);
	} else {
		uint64_t v = c->gpr[RAX], k;

		/* One loop per element size, so that each is a plain store
		 * loop rather than a memcpy of a variable size. */
		if (size == 8) {
			for (k = 0; k < chunk; k++)
				memcpy(d + k * 8, &v, 8);
		} else if (size == 4) {
			uint32_t w = (uint32_t)v;

			for (k = 0; k < chunk; k++)
				memcpy(d + k * 4, &w, 4);
		} else {
			uint16_t w = (uint16_t)v;

			for (k = 0; k < chunk; k++)
				memcpy(d + k * 2, &w, 2);
		}
	}
	dbt_mem_written(c, dpa, (unsigned)(chunk * size));
	dbt_set_reg(c, i, RDI, i->addrsize,
	    (c->gpr[RDI] + chunk * size) & mask_of(i->addrsize));
	set_count(c, i, n - chunk);
	return true;
}

/* Is seg:off .. +size a canonical address (64-bit mode)? */
static bool
str_canonical(const struct dbt_cpu *c, int seg, uint64_t off, unsigned size)
{
	uint64_t lin = off + ((seg == X86_FS || seg == X86_GS) ?
	    c->seg[seg].base : 0), end = lin + size - 1;

	return (uint64_t)((int64_t)(lin << 16) >> 16) == lin &&
	    (uint64_t)((int64_t)(end << 16) >> 16) == end;
}

/* Page faults of seg:off .. +size, without the other checks. */
static void
probe_pages(struct dbt_cpu *c, int seg, uint64_t off, unsigned size)
{
	uint64_t lin = off + ((seg == X86_FS || seg == X86_GS) ?
	    c->seg[seg].base : 0);

	(void)dbt_translate(c, lin, DBT_ACC_READ);
	if (((lin + size - 1) ^ lin) & ~0xfffULL)
		(void)dbt_translate(c, (lin + size - 1) & ~0xfffULL,
		    DBT_ACC_READ);
}

/*
 * The two operands of CMPS, faulting as the CPU does when both would:
 * an implementation-specific order, measured on this project's machines
 * (Intel, 64-bit mode) by tests/prog/difftest.c.  ES:rDI is accessed
 * first (#AC before #PF for it, as for any access), then DS:rSI (#AC,
 * #PF, or #GP when it is non-canonical); but when rDI is non-canonical,
 * rSI's page faults come first, without an alignment check, and then
 * rDI's #GP.
 */
static void
cmps_read(struct dbt_cpu *c, const struct insn *i, unsigned size,
    uint64_t *src, uint64_t *dst)
{
	uint64_t si = c->gpr[RSI] & mask_of(i->addrsize);
	uint64_t di = c->gpr[RDI] & mask_of(i->addrsize);

	if (c->long64 && !str_canonical(c, X86_ES, di, size)) {
		if (str_canonical(c, i->seg, si, size))
			probe_pages(c, i->seg, si, size);
		(void)dbt_linear(c, X86_ES, di, size, DBT_ACC_READ);
	}
	*dst = str_read(c, X86_ES, di, size);
	*src = str_read(c, i->seg, si, size);
}

static void
op_string(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = str_size(i), k;
	bool rep = i->rep != REP_NONE;
	uint8_t op = i->op & 0xfe;
	uint64_t v, fl, sfl = c->rflags;

	/* A REP string instruction with a 32-bit address size in 64-bit
	 * mode writes ECX as a 32-bit register from the start, so the upper
	 * half of RCX is cleared even when it does no iteration or faults in
	 * its first; REP MOVS and STOS do the same to the index registers
	 * they use, the others update those per completed iteration only (as
	 * the CPU does; seen by tests/prog/difftest.c). */
	if (rep && c->long64 && i->addrsize == 4) {
		c->gpr[RCX] &= 0xffffffffULL;
		if (op == 0xa4)
			c->gpr[RSI] &= 0xffffffffULL;
		if (op == 0xa4 || op == 0xaa)
			c->gpr[RDI] &= 0xffffffffULL;
	}
	for (k = 0; k < STR_CHUNK; k++) {
		if (rep && count_reg(c, i) == 0)
			return;
		/* Single-stepping or a data breakpoint armed: one iteration
		 * at a time, each its own trap (SDM vol. 3B 17.3.1.2,
		 * 17.3.1.4: RIP stays on the instruction until the last). */
		if (rep && c->str_one && k > 0) {
			if (op == 0xa6 || op == 0xae)
				set_flags(c, sfl);
			break;
		}
		if (rep && !c->str_one && (op == 0xa4 || op == 0xaa) &&
		    fast_rep(c, i, size)) {
			if (count_reg(c, i) == 0)
				return;
			continue;
		}
		switch (op) {
		case 0xa4: /* MOVS */
			v = str_read(c, i->seg, c->gpr[RSI] &
			    mask_of(i->addrsize), size);
			str_write(c, X86_ES, c->gpr[RDI] & mask_of(i->addrsize),
			    size, v);
			advance(c, i, RSI, size);
			advance(c, i, RDI, size);
			break;
		case 0xaa: /* STOS */
			str_write(c, X86_ES, c->gpr[RDI] & mask_of(i->addrsize),
			    size, c->gpr[RAX]);
			advance(c, i, RDI, size);
			break;
		case 0xac: /* LODS */
			v = str_read(c, i->seg, c->gpr[RSI] &
			    mask_of(i->addrsize), size);
			dbt_set_reg(c, i, RAX, size, v);
			advance(c, i, RSI, size);
			break;
		case 0xa6: /* CMPS */
		case 0xae: /* SCAS */
			fl = sfl;
			if (op == 0xa6) {
				uint64_t w;

				cmps_read(c, i, size, &v, &w);
				(void)alu_bin(ALU_CMP, size, v, w, &fl);
				advance(c, i, RSI, size);
			} else {
				(void)alu_bin(ALU_CMP, size,
				    dbt_get_reg(c, i, RAX, size), str_read(c,
				    X86_ES, c->gpr[RDI] & mask_of(i->addrsize),
				    size), &fl);
			}
			advance(c, i, RDI, size);
			sfl = fl;
			if (!rep)
				set_flags(c, fl);
			break;
		case 0x6c: /* INS */
			dbt_check_io(c, (uint16_t)c->gpr[RDX], size);
			dbt_probe_write(c, X86_ES, c->gpr[RDI] &
			    mask_of(i->addrsize), size);
			v = dbt_port_in(c, (uint16_t)c->gpr[RDX], size);
			str_write(c, X86_ES, c->gpr[RDI] & mask_of(i->addrsize),
			    size, v);
			advance(c, i, RDI, size);
			if (__builtin_expect(c->io_watch != 0, 0))
				dbt_watch_io(c, (uint16_t)c->gpr[RDX], size);
			break;
		case 0x6e: /* OUTS */
			dbt_check_io(c, (uint16_t)c->gpr[RDX], size);
			v = str_read(c, i->seg, c->gpr[RSI] &
			    mask_of(i->addrsize), size);
			dbt_port_out(c, (uint16_t)c->gpr[RDX], size, v);
			advance(c, i, RSI, size);
			if (__builtin_expect(c->io_watch != 0, 0))
				dbt_watch_io(c, (uint16_t)c->gpr[RDX], size);
			break;
		}
		if (!rep)
			return;
		set_count(c, i, (count_reg(c, i) - 1) & mask_of(i->addrsize));
		if (op == 0xa6 || op == 0xae) {
			bool zf = sfl & X86_ZF;

			/* A REP CMPS/SCAS shows its flags when it ends: a
			 * fault in a later iteration leaves RFLAGS as before
			 * the instruction, as the CPU does. */
			if (count_reg(c, i) == 0 || (i->rep == REP_F3 &&
			    !zf) || (i->rep == REP_F2 && zf)) {
				set_flags(c, sfl);
				return;
			}
		}
	}
	/* Not finished: run this instruction again after a block boundary
	 * (where interrupts are taken).  RF is set until it resumes (the
	 * run loop clears it then): the image an interrupt or a trap
	 * pushes here gets it (SDM vol. 3B 17.3.1.1), and an instruction
	 * breakpoint on it does not fire again as it goes on. */
	if (count_reg(c, i) != 0) {
		c->next_rip = c->rip;
		c->block_dirty = true;
		c->rflags |= X86_RF;
	}
}

/* ---- port I/O ----------------------------------------------------------- */

static void
op_inout(struct dbt_cpu *c, const struct insn *i)
{
	unsigned size = (i->op & 1) ? (osz(i) == 2 ? 2 : 4) : 1;
	uint16_t port = (i->op & 8) ? (uint16_t)c->gpr[RDX] :
	    (uint16_t)i->imm;

	dbt_check_io(c, port, size);
	if (i->op & 2)
		dbt_port_out(c, port, size, c->gpr[RAX] & mask_of(size));
	else
		dbt_set_reg(c, i, RAX, size, dbt_port_in(c, port, size));
	if (__builtin_expect(c->io_watch != 0, 0))
		dbt_watch_io(c, port, size);
}

/* ---- misc --------------------------------------------------------------- */

static void
op_nop(struct dbt_cpu *c, const struct insn *i)
{
	(void)c;
	(void)i;
}

static void
op_xlat(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t off = (c->gpr[X86_RBX] + (c->gpr[RAX] & 0xff)) &
	    mask_of(i->addrsize);

	dbt_set_reg(c, i, RAX, 1, dbt_read8(c, i->seg, off));
}

static void
op_salc(struct dbt_cpu *c, const struct insn *i)
{
	dbt_set_reg(c, i, RAX, 1, (c->rflags & X86_CF) ? 0xff : 0);
}

static void
op_aam(struct dbt_cpu *c, const struct insn *i)
{
	uint8_t al = (uint8_t)c->gpr[RAX], base = (uint8_t)i->imm, r;
	uint64_t fl = c->rflags;

	if (i->op == 0xd4) {
		if (base == 0)
			dbt_raise_noerr(c, X86_EXC_DE);
		dbt_set_reg(c, i, RAX, 2,
		    ((uint64_t)(al / base) << 8) | (al % base));
	} else {
		uint8_t ah = (uint8_t)(c->gpr[RAX] >> 8);

		dbt_set_reg(c, i, RAX, 2, (uint8_t)(al + ah * base));
	}
	r = (uint8_t)c->gpr[RAX];
	(void)alu_bin(ALU_OR, 1, r, 0, &fl);
	set_flags(c, fl);
}

/*
 * 27 DAA, 2F DAS: decimal adjust AL after a packed-BCD addition or
 * subtraction (SDM vol. 2, DAA and DAS, current pseudocode: DAS keeps the
 * CF of its first step when the second does not apply).  SF, ZF and PF
 * from the result; OF is undefined (cleared here).
 */
static void
op_daa(struct dbt_cpu *c, const struct insn *i)
{
	uint8_t al = (uint8_t)c->gpr[RAX], old_al = al;
	bool old_cf = c->rflags & X86_CF, cf = false, af = false;
	uint64_t fl = c->rflags;

	if ((al & 0x0f) > 9 || (c->rflags & X86_AF)) {
		if (i->op == 0x27) {
			cf = old_cf || al > 0xff - 6;
			al = (uint8_t)(al + 6);
		} else {
			cf = old_cf || al < 6;
			al = (uint8_t)(al - 6);
		}
		af = true;
	}
	if (old_al > 0x99 || old_cf) {
		al = (uint8_t)(i->op == 0x27 ? al + 0x60 : al - 0x60);
		cf = true;
	} else if (i->op == 0x27) {
		cf = false;
	}
	dbt_set_reg(c, i, RAX, 1, al);
	(void)alu_bin(ALU_OR, 1, al, 0, &fl);
	fl &= ~(uint64_t)(X86_CF | X86_AF);
	set_flags(c, fl | (cf ? X86_CF : 0) | (af ? X86_AF : 0));
}

/*
 * 37 AAA, 3F AAS: ASCII adjust after addition or subtraction (SDM vol. 2,
 * current pseudocode: AX + 106H, and AX - 6 with AH - 1).  AF and CF say
 * whether it adjusted; OF, SF, ZF and PF are undefined (set from AL here).
 */
static void
op_aaa(struct dbt_cpu *c, const struct insn *i)
{
	uint16_t ax = (uint16_t)c->gpr[RAX];
	uint64_t fl = c->rflags;
	bool adj = (ax & 0x0f) > 9 || (c->rflags & X86_AF);

	if (adj && i->op == 0x37)
		ax = (uint16_t)(ax + 0x106);
	else if (adj)
		ax = (uint16_t)((uint16_t)(ax - 6) - 0x100);
	ax &= 0xff0f;
	dbt_set_reg(c, i, RAX, 2, ax);
	(void)alu_bin(ALU_OR, 1, ax & 0xff, 0, &fl);
	fl &= ~(uint64_t)(X86_CF | X86_AF);
	set_flags(c, fl | (adj ? X86_CF | X86_AF : 0));
}

const struct op_entry dbt_ops_int[] = {
#define A(op_) { MAP_1B, op_, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, op_alu }
	A(0x00), A(0x01), A(0x02), A(0x03), A(0x04), A(0x05),
	A(0x08), A(0x09), A(0x0a), A(0x0b), A(0x0c), A(0x0d),
	A(0x10), A(0x11), A(0x12), A(0x13), A(0x14), A(0x15),
	A(0x18), A(0x19), A(0x1a), A(0x1b), A(0x1c), A(0x1d),
	A(0x20), A(0x21), A(0x22), A(0x23), A(0x24), A(0x25),
	A(0x28), A(0x29), A(0x2a), A(0x2b), A(0x2c), A(0x2d),
	A(0x30), A(0x31), A(0x32), A(0x33), A(0x34), A(0x35),
	A(0x38), A(0x39), A(0x3a), A(0x3b), A(0x3c), A(0x3d),
#undef A
#define E(map, op_, fn) { map, op_, PFX_ANY, OP_ANY, OP_MOD_ANY, OP_ANY, fn }
#define R(map, op_, reg, fn) { map, op_, PFX_ANY, reg, OP_MOD_ANY, OP_ANY, fn }
	E(0, 0x40, op_unary), E(0, 0x41, op_unary), E(0, 0x42, op_unary),
	E(0, 0x43, op_unary), E(0, 0x44, op_unary), E(0, 0x45, op_unary),
	E(0, 0x46, op_unary), E(0, 0x47, op_unary), E(0, 0x48, op_unary),
	E(0, 0x49, op_unary), E(0, 0x4a, op_unary), E(0, 0x4b, op_unary),
	E(0, 0x4c, op_unary), E(0, 0x4d, op_unary), E(0, 0x4e, op_unary),
	E(0, 0x4f, op_unary),
	E(0, 0x50, op_push_reg), E(0, 0x51, op_push_reg),
	E(0, 0x52, op_push_reg), E(0, 0x53, op_push_reg),
	E(0, 0x54, op_push_reg), E(0, 0x55, op_push_reg),
	E(0, 0x56, op_push_reg), E(0, 0x57, op_push_reg),
	E(0, 0x58, op_pop_reg), E(0, 0x59, op_pop_reg),
	E(0, 0x5a, op_pop_reg), E(0, 0x5b, op_pop_reg),
	E(0, 0x5c, op_pop_reg), E(0, 0x5d, op_pop_reg),
	E(0, 0x5e, op_pop_reg), E(0, 0x5f, op_pop_reg),
	E(0, 0x60, op_pusha), E(0, 0x61, op_popa), E(0, 0x62, op_bound),
	E(0, 0x68, op_push_imm), E(0, 0x69, op_imul), E(0, 0x6a, op_push_imm),
	E(0, 0x6b, op_imul),
	E(0, 0x6c, op_string), E(0, 0x6d, op_string), E(0, 0x6e, op_string),
	E(0, 0x6f, op_string),
	E(0, 0x70, op_jcc), E(0, 0x71, op_jcc), E(0, 0x72, op_jcc),
	E(0, 0x73, op_jcc), E(0, 0x74, op_jcc), E(0, 0x75, op_jcc),
	E(0, 0x76, op_jcc), E(0, 0x77, op_jcc), E(0, 0x78, op_jcc),
	E(0, 0x79, op_jcc), E(0, 0x7a, op_jcc), E(0, 0x7b, op_jcc),
	E(0, 0x7c, op_jcc), E(0, 0x7d, op_jcc), E(0, 0x7e, op_jcc),
	E(0, 0x7f, op_jcc),
	E(0, 0x80, op_grp1), E(0, 0x81, op_grp1), E(0, 0x82, op_grp1),
	E(0, 0x83, op_grp1),
	E(0, 0x84, op_test), E(0, 0x85, op_test),
	E(0, 0x86, op_xchg), E(0, 0x87, op_xchg),
	E(0, 0x88, op_mov), E(0, 0x89, op_mov), E(0, 0x8a, op_mov),
	E(0, 0x8b, op_mov), E(0, 0x8d, op_lea), R(0, 0x8f, 0, op_pop_rm),
	E(0, 0x90, op_xchg), E(0, 0x91, op_xchg), E(0, 0x92, op_xchg),
	E(0, 0x93, op_xchg), E(0, 0x94, op_xchg), E(0, 0x95, op_xchg),
	E(0, 0x96, op_xchg), E(0, 0x97, op_xchg),
	E(0, 0x27, op_daa), E(0, 0x2f, op_daa), E(0, 0x37, op_aaa),
	E(0, 0x3f, op_aaa),
	E(0, 0x98, op_cbw), E(0, 0x99, op_cwd),
	E(0, 0x9e, op_sahf), E(0, 0x9f, op_lahf),
	E(0, 0xa0, op_mov_moffs), E(0, 0xa1, op_mov_moffs),
	E(0, 0xa2, op_mov_moffs), E(0, 0xa3, op_mov_moffs),
	E(0, 0xa4, op_string), E(0, 0xa5, op_string), E(0, 0xa6, op_string),
	E(0, 0xa7, op_string), E(0, 0xa8, op_test), E(0, 0xa9, op_test),
	E(0, 0xaa, op_string), E(0, 0xab, op_string), E(0, 0xac, op_string),
	E(0, 0xad, op_string), E(0, 0xae, op_string), E(0, 0xaf, op_string),
	E(0, 0xb0, op_mov_imm), E(0, 0xb1, op_mov_imm), E(0, 0xb2, op_mov_imm),
	E(0, 0xb3, op_mov_imm), E(0, 0xb4, op_mov_imm), E(0, 0xb5, op_mov_imm),
	E(0, 0xb6, op_mov_imm), E(0, 0xb7, op_mov_imm), E(0, 0xb8, op_mov_imm),
	E(0, 0xb9, op_mov_imm), E(0, 0xba, op_mov_imm), E(0, 0xbb, op_mov_imm),
	E(0, 0xbc, op_mov_imm), E(0, 0xbd, op_mov_imm), E(0, 0xbe, op_mov_imm),
	E(0, 0xbf, op_mov_imm),
	E(0, 0xc0, op_shift), E(0, 0xc1, op_shift),
	E(0, 0xc2, op_ret), E(0, 0xc3, op_ret),
	R(0, 0xc6, 0, op_mov), R(0, 0xc7, 0, op_mov),
	E(0, 0xc8, op_enter), E(0, 0xc9, op_leave),
	E(0, 0xd0, op_shift), E(0, 0xd1, op_shift), E(0, 0xd2, op_shift),
	E(0, 0xd3, op_shift), E(0, 0xd4, op_aam), E(0, 0xd5, op_aam),
	E(0, 0xd6, op_salc), E(0, 0xd7, op_xlat),
	E(0, 0xe0, op_loop), E(0, 0xe1, op_loop), E(0, 0xe2, op_loop),
	E(0, 0xe3, op_loop),
	E(0, 0xe4, op_inout), E(0, 0xe5, op_inout), E(0, 0xe6, op_inout),
	E(0, 0xe7, op_inout), E(0, 0xec, op_inout), E(0, 0xed, op_inout),
	E(0, 0xee, op_inout), E(0, 0xef, op_inout),
	E(0, 0xe8, op_call_rel), E(0, 0xe9, op_jmp_rel), E(0, 0xeb, op_jmp_rel),
	E(0, 0xf5, op_flagbits), E(0, 0xf8, op_flagbits),
	E(0, 0xf9, op_flagbits), E(0, 0xfc, op_flagbits),
	E(0, 0xfd, op_flagbits),
	R(0, 0xf6, 0, op_test), R(0, 0xf6, 1, op_test),
	R(0, 0xf6, 2, op_unary), R(0, 0xf6, 3, op_unary),
	R(0, 0xf6, 4, op_muldiv), R(0, 0xf6, 5, op_muldiv),
	R(0, 0xf6, 6, op_muldiv), R(0, 0xf6, 7, op_muldiv),
	R(0, 0xf7, 0, op_test), R(0, 0xf7, 1, op_test),
	R(0, 0xf7, 2, op_unary), R(0, 0xf7, 3, op_unary),
	R(0, 0xf7, 4, op_muldiv), R(0, 0xf7, 5, op_muldiv),
	R(0, 0xf7, 6, op_muldiv), R(0, 0xf7, 7, op_muldiv),
	R(0, 0xfe, 0, op_unary), R(0, 0xfe, 1, op_unary),
	R(0, 0xff, 0, op_unary), R(0, 0xff, 1, op_unary),
	R(0, 0xff, 2, op_grp5), R(0, 0xff, 4, op_grp5), R(0, 0xff, 6, op_grp5),
	/* 0F map */
	E(1, 0x0d, op_nop), E(1, 0x18, op_nop), E(1, 0x19, op_nop),
	E(1, 0x1a, op_nop), E(1, 0x1b, op_nop), E(1, 0x1c, op_nop),
	E(1, 0x1d, op_nop), E(1, 0x1e, op_nop), E(1, 0x1f, op_nop),
	E(1, 0x40, op_cmov), E(1, 0x41, op_cmov), E(1, 0x42, op_cmov),
	E(1, 0x43, op_cmov), E(1, 0x44, op_cmov), E(1, 0x45, op_cmov),
	E(1, 0x46, op_cmov), E(1, 0x47, op_cmov), E(1, 0x48, op_cmov),
	E(1, 0x49, op_cmov), E(1, 0x4a, op_cmov), E(1, 0x4b, op_cmov),
	E(1, 0x4c, op_cmov), E(1, 0x4d, op_cmov), E(1, 0x4e, op_cmov),
	E(1, 0x4f, op_cmov),
	E(1, 0x80, op_jcc), E(1, 0x81, op_jcc), E(1, 0x82, op_jcc),
	E(1, 0x83, op_jcc), E(1, 0x84, op_jcc), E(1, 0x85, op_jcc),
	E(1, 0x86, op_jcc), E(1, 0x87, op_jcc), E(1, 0x88, op_jcc),
	E(1, 0x89, op_jcc), E(1, 0x8a, op_jcc), E(1, 0x8b, op_jcc),
	E(1, 0x8c, op_jcc), E(1, 0x8d, op_jcc), E(1, 0x8e, op_jcc),
	E(1, 0x8f, op_jcc),
	E(1, 0x90, op_setcc), E(1, 0x91, op_setcc), E(1, 0x92, op_setcc),
	E(1, 0x93, op_setcc), E(1, 0x94, op_setcc), E(1, 0x95, op_setcc),
	E(1, 0x96, op_setcc), E(1, 0x97, op_setcc), E(1, 0x98, op_setcc),
	E(1, 0x99, op_setcc), E(1, 0x9a, op_setcc), E(1, 0x9b, op_setcc),
	E(1, 0x9c, op_setcc), E(1, 0x9d, op_setcc), E(1, 0x9e, op_setcc),
	E(1, 0x9f, op_setcc),
	E(1, 0xa3, op_bt), E(1, 0xab, op_bt), E(1, 0xb3, op_bt),
	E(1, 0xbb, op_bt), E(1, 0xba, op_bt_imm),
	E(1, 0xa4, op_shd), E(1, 0xa5, op_shd), E(1, 0xac, op_shd),
	E(1, 0xad, op_shd), E(1, 0xaf, op_imul),
	E(1, 0xb0, op_cmpxchg), E(1, 0xb1, op_cmpxchg),
	E(1, 0xb6, op_movzx), E(1, 0xb7, op_movzx), E(1, 0xbe, op_movzx),
	E(1, 0xbf, op_movzx),
	{ MAP_0F, 0xb8, PFX_F3, OP_ANY, OP_MOD_ANY, OP_ANY, op_popcnt },
	{ MAP_1B, 0x90, PFX_F3, OP_ANY, OP_MOD_ANY, OP_ANY, op_pause },
	E(1, 0xbc, op_bsf), E(1, 0xbd, op_bsf),
	E(1, 0xc0, op_xadd), E(1, 0xc1, op_xadd),
	{ MAP_0F, 0xc7, PFX_ANY, 1, OP_MOD_MEM, OP_ANY, op_cmpxchg8b },
	E(1, 0xc8, op_bswap), E(1, 0xc9, op_bswap), E(1, 0xca, op_bswap),
	E(1, 0xcb, op_bswap), E(1, 0xcc, op_bswap), E(1, 0xcd, op_bswap),
	E(1, 0xce, op_bswap), E(1, 0xcf, op_bswap),
#undef E
#undef R
	{ 0 },
};

/* 63 is MOVSXD in 64-bit mode, ARPL elsewhere (sys.c decides). */
void dbt_op_movsxd(struct dbt_cpu *c, const struct insn *i);
void
dbt_op_movsxd(struct dbt_cpu *c, const struct insn *i)
{
	op_movsxd(c, i);
}

const dbt_fn dbt_enders_int[] = {
	/* Jcc is not here: a block goes on along its fall-through path, and
	 * a taken Jcc leaves it (exec_block, jit.c). */
	op_jmp_rel, op_call_rel, op_ret, op_loop, op_grp5,
	NULL,
};
