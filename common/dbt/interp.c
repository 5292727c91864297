/*
 * The interpreter's common machinery: the handler registry, operand access
 * (registers, ModRM memory operands, the stack), raising exceptions, the
 * mode cache, and port I/O.  The instruction handlers themselves are in
 * interp-int.c (integer), sys.c (system) and the FPU/SSE files.
 *
 * Registry: every interp file contributes a const table of struct
 * op_entry; dbt_ops_init() files them per (map, opcode).  dbt_lookup()
 * picks, among the entries of the decoded opcode that match its mandatory
 * prefix, ModRM.reg, ModRM.mod and ModRM.rm, the most specific one: a
 * specific prefix counts 8, a specific reg 4, a specific mod 2, a specific
 * rm 1.  No match is #UD.
 */
#include "dbt/dbt-int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "cpu/cpu.h"
#include "hw/bus.h"
#include "util/evloop.h"
#include "vm/vm.h"

struct op_list {
	const struct op_entry **e;
	int n;
};

static struct op_list op_table[8][256];
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void
add_table(const struct op_entry *t)
{
	for (; t && t->fn; t++) {
		struct op_list *l = &op_table[t->map & 7][t->op];
		const struct op_entry **e = realloc(l->e,
		    sizeof(*e) * (size_t)(l->n + 1));

		if (e == NULL)
			abort(); /* at start-up, before any guest runs */
		e[l->n++] = t;
		l->e = e;
	}
}

static void
ops_build(void)
{
	add_table(dbt_ops_int);
	add_table(dbt_ops_sys);
	add_table(dbt_ops_fpu);
	add_table(dbt_ops_sse4);
	add_table(dbt_ops_bit);
}

void
dbt_ops_init(void)
{
	pthread_once(&ops_once, ops_build);
}

int
dbt_insn_pfx(const struct insn *i)
{
	if (i->rep == REP_F3)
		return PFX_F3;
	if (i->rep == REP_F2)
		return PFX_F2;
	if (i->pfx66)
		return PFX_66;
	return PFX_NONE;
}

dbt_fn
dbt_lookup(const struct insn *i)
{
	const struct op_list *l;
	const struct op_entry *best = NULL;
	int k, score, best_score = -1, pfx = dbt_insn_pfx(i);

	dbt_ops_init();
	l = &op_table[i->map & 7][i->op];
	for (k = 0; k < l->n; k++) {
		const struct op_entry *e = l->e[k];

		score = 0;
		if (e->pfx != PFX_ANY) {
			if (e->pfx != pfx)
				continue;
			score += 8;
		}
		if (e->reg != OP_ANY) {
			if (!i->has_modrm || e->reg != (i->reg & 7))
				continue;
			score += 4;
		}
		if (e->mod != OP_MOD_ANY) {
			if (!i->has_modrm ||
			    (e->mod == OP_MOD_MEM) != (i->mod != 3))
				continue;
			score += 2;
		}
		if (e->rm != OP_ANY) {
			if (!i->has_modrm || e->rm != (i->modrm & 7))
				continue;
			score += 1;
		}
		if (score > best_score) {
			best_score = score;
			best = e;
		}
	}
	return best ? best->fn : dbt_op_ud;
}

void
dbt_op_ud(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	dbt_raise_noerr(c, X86_EXC_UD);
}

/* ---- exceptions -------------------------------------------------------- */

_Noreturn void
dbt_raise(struct dbt_cpu *c, int vector, uint32_t error)
{
	c->exc_vector = vector;
	c->exc_error = error;
	c->exc_has_error = true;
	longjmp(c->jmp, 1);
}

_Noreturn void
dbt_fail(struct dbt_cpu *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->diag, sizeof(c->diag), fmt, ap);
	va_end(ap);
	c->exit_reason = CPU_EXIT_ERROR;
	c->exc_vector = -1;
	longjmp(c->jmp, 1);
}

_Noreturn void
dbt_raise_noerr(struct dbt_cpu *c, int vector)
{
	c->exc_vector = vector;
	c->exc_error = 0;
	c->exc_has_error = false;
	longjmp(c->jmp, 1);
}

/* ---- mode cache -------------------------------------------------------- */

void
dbt_update_mode(struct dbt_cpu *c)
{
	c->pe = (c->cr0 & X86_CR0_PE) != 0;
	c->pg = (c->cr0 & X86_CR0_PG) != 0;
	c->lma = (c->efer & X86_EFER_LMA) != 0;
	c->v86 = c->pe && (c->rflags & X86_VM) != 0;
	c->long64 = c->lma && c->seg[X86_CS].l;
	c->code32 = !c->long64 && c->pe && !c->v86 && c->seg[X86_CS].db;
	c->stack32 = c->pe && !c->v86 && c->seg[X86_SS].db;
	if (!c->pe)
		c->cpl = 0;
	else if (c->v86)
		c->cpl = 3;
	else
		c->cpl = c->seg[X86_CS].dpl;
	c->mode_key = (uint32_t)(c->long64 | (c->code32 << 1) |
	    (c->stack32 << 2) | (c->pe << 3) | (c->pg << 4) | (c->v86 << 5) |
	    ((uint32_t)c->cpl << 6));
	if (c->cpl == 3 && (c->cr0 & X86_CR0_AM) && (c->rflags & X86_AC))
		c->mode_key |= DBT_MODE_AC;
	if (!(c->cr0 & (X86_CR0_EM | X86_CR0_TS)) &&
	    (c->cr4 & X86_CR4_OSFXSR))
		c->mode_key |= DBT_MODE_SSE;
}

/* ---- operands ---------------------------------------------------------- */

static uint64_t
addr_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

uint64_t
dbt_ea(struct dbt_cpu *c, const struct insn *i)
{
	uint64_t ea = (uint64_t)i->disp;

	if (i->base == INSN_BASE_RIP)
		ea += c->next_rip;
	else if (i->base >= 0)
		ea += c->gpr[i->base];
	if (i->index >= 0)
		ea += c->gpr[i->index] * i->scale;
	return ea & addr_mask(i->addrsize);
}

uint64_t
dbt_get_reg(struct dbt_cpu *c, const struct insn *i, int reg, unsigned size)
{
	switch (size) {
	case 1:
		if (reg >= 4 && reg < 8 && !i->rex)
			return (c->gpr[reg - 4] >> 8) & 0xff;
		return c->gpr[reg] & 0xff;
	case 2:
		return c->gpr[reg] & 0xffff;
	case 4:
		return c->gpr[reg] & 0xffffffff;
	default:
		return c->gpr[reg];
	}
}

void
dbt_set_reg(struct dbt_cpu *c, const struct insn *i, int reg, unsigned size,
    uint64_t v)
{
	switch (size) {
	case 1:
		if (reg >= 4 && reg < 8 && !i->rex)
			c->gpr[reg - 4] = (c->gpr[reg - 4] & ~0xff00ULL) |
			    ((v & 0xff) << 8);
		else
			c->gpr[reg] = (c->gpr[reg] & ~0xffULL) | (v & 0xff);
		break;
	case 2:
		c->gpr[reg] = (c->gpr[reg] & ~0xffffULL) | (v & 0xffff);
		break;
	case 4:
		c->gpr[reg] = v & 0xffffffff;
		break;
	default:
		c->gpr[reg] = v;
		break;
	}
}

static uint64_t
read_sized(struct dbt_cpu *c, int seg, uint64_t off, unsigned size)
{
	switch (size) {
	case 1:
		return dbt_read8(c, seg, off);
	case 2:
		return dbt_read16(c, seg, off);
	case 4:
		return dbt_read32(c, seg, off);
	default:
		return dbt_read64(c, seg, off);
	}
}

static void
write_sized(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    uint64_t v)
{
	switch (size) {
	case 1:
		dbt_write8(c, seg, off, (uint8_t)v);
		break;
	case 2:
		dbt_write16(c, seg, off, (uint16_t)v);
		break;
	case 4:
		dbt_write32(c, seg, off, (uint32_t)v);
		break;
	default:
		dbt_write64(c, seg, off, v);
		break;
	}
}

uint64_t
dbt_get_rm(struct dbt_cpu *c, const struct insn *i, unsigned size)
{
	if (!i->mem)
		return dbt_get_reg(c, i, i->rm, size);
	return read_sized(c, i->seg, dbt_ea(c, i), size);
}

/*
 * The r/m operand of a read-modify-write instruction.  A memory operand is
 * checked for writing before it is read: the CPU's first access to it is
 * already one with write intent, so a fault on it is reported as a write
 * (#PF error code with W, a read-only page faulting before any read).
 */
uint64_t
dbt_get_rm_rmw(struct dbt_cpu *c, const struct insn *i, unsigned size)
{
	uint64_t ea;

	if (!i->mem)
		return dbt_get_reg(c, i, i->rm, size);
	ea = dbt_ea(c, i);
	dbt_probe_write(c, i->seg, ea, size);
	c->atom_insn = NULL;
	if (i->lock) {
		uint64_t pa, v;
		void *p = dbt_atomic_ptr(c, i->seg, ea, size, &pa);

		if (p != NULL) {
			switch (size) {
			case 1: v = __atomic_load_n((uint8_t *)p,
			    __ATOMIC_ACQUIRE); break;
			case 2: v = __atomic_load_n((uint16_t *)p,
			    __ATOMIC_ACQUIRE); break;
			case 4: v = __atomic_load_n((uint32_t *)p,
			    __ATOMIC_ACQUIRE); break;
			default: v = __atomic_load_n((uint64_t *)p,
			    __ATOMIC_ACQUIRE); break;
			}
			c->atom_insn = i;
			c->atom_ptr = p;
			c->atom_old = v;
			c->atom_pa = pa;
			return v;
		}
		/* Page- or line-crossing, ROM, MMIO: dbt_atomic_ptr only
		 * returns NULL inside an exclusive section, where the plain
		 * path is atomic (no other vCPU runs). */
	}
	return read_sized(c, i->seg, ea, size);
}

/*
 * LOCKed operands the host can update atomically itself: RAM, within one
 * 64-byte line (a line-crossing one would be a host split lock).  Host
 * RAM is mapped page for page, so the host address has the guest's
 * offset in the line.
 */
void *
dbt_atomic_ptr(struct dbt_cpu *c, int seg, uint64_t ea, unsigned size,
    uint64_t *pa)
{
	uint8_t *p;

	if (c->in_excl)
		return NULL;
	p = dbt_mem_ptr(c, seg, ea, size, DBT_ACC_WRITE, pa);
	if (p == NULL || ((uintptr_t)p & 63) + size > 64 ||
	    (size > 8 && ((uintptr_t)p & (size - 1)) != 0))
		dbt_atomic_exclusive(c);
	return p;
}

/*
 * Leave the instruction (nothing architectural has changed yet: every
 * caller checked the operand for writing and wrote nothing) and have the
 * run loop run it again inside an exclusive section (SMP.md M3, M6).
 */
_Noreturn void
dbt_atomic_exclusive(struct dbt_cpu *c)
{
	c->atom_insn = NULL;
	c->atom_excl = true;
	c->exc_vector = -1;
	longjmp(c->jmp, 1);
}

_Noreturn void
dbt_atomic_retry(struct dbt_cpu *c)
{
	c->atom_insn = NULL;
	c->exc_vector = -1;
	longjmp(c->jmp, 1);
}

static bool
cas_sized(void *p, uint64_t old, uint64_t v, unsigned size)
{
	switch (size) {
	case 1: {
		uint8_t o = (uint8_t)old;

		return __atomic_compare_exchange_n((uint8_t *)p, &o,
		    (uint8_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	case 2: {
		uint16_t o = (uint16_t)old;

		return __atomic_compare_exchange_n((uint16_t *)p, &o,
		    (uint16_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	case 4: {
		uint32_t o = (uint32_t)old;

		return __atomic_compare_exchange_n((uint32_t *)p, &o,
		    (uint32_t)v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, &old, v,
		    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

void
dbt_set_rm(struct dbt_cpu *c, const struct insn *i, unsigned size,
    uint64_t v)
{
	if (!i->mem) {
		dbt_set_reg(c, i, i->rm, size, v);
	} else if (c->atom_insn == i) {
		/* The LOCKed store: only if memory still holds what was
		 * read, else the instruction runs again. */
		c->atom_insn = NULL;
		if (!cas_sized(c->atom_ptr, c->atom_old, v, size))
			dbt_atomic_retry(c);
		dbt_mem_written(c, c->atom_pa, size);
	} else {
		write_sized(c, i->seg, dbt_ea(c, i), size, v);
	}
}

static unsigned
stack_size(const struct dbt_cpu *c)
{
	return c->long64 ? 8 : c->stack32 ? 4 : 2;
}

void
dbt_push(struct dbt_cpu *c, unsigned size, uint64_t v)
{
	unsigned ss = stack_size(c);
	uint64_t sp = (c->gpr[X86_RSP] - size) & addr_mask(ss);

	write_sized(c, X86_SS, sp, size, v);
	if (ss == 2)
		c->gpr[X86_RSP] = (c->gpr[X86_RSP] & ~0xffffULL) | sp;
	else if (ss == 4)
		c->gpr[X86_RSP] = sp & 0xffffffff;
	else
		c->gpr[X86_RSP] = sp;
}

uint64_t
dbt_pop(struct dbt_cpu *c, unsigned size)
{
	unsigned ss = stack_size(c);
	uint64_t sp = c->gpr[X86_RSP] & addr_mask(ss);
	uint64_t v = read_sized(c, X86_SS, sp, size);

	sp = (sp + size) & addr_mask(ss);
	if (ss == 2)
		c->gpr[X86_RSP] = (c->gpr[X86_RSP] & ~0xffffULL) | sp;
	else if (ss == 4)
		c->gpr[X86_RSP] = sp & 0xffffffff;
	else
		c->gpr[X86_RSP] = sp;
	return v;
}

/* ---- port I/O and time -------------------------------------------------- */

uint64_t
dbt_port_in(struct dbt_cpu *c, uint16_t port, unsigned size)
{
	uint64_t v;

	bus_read(c->vm->pio, port, size, &v);
	return v;
}

void
dbt_port_out(struct dbt_cpu *c, uint16_t port, unsigned size, uint64_t v)
{
	bus_write(c->vm->pio, port, size, v);
}

uint64_t
dbt_rdtsc(struct dbt_cpu *c)
{
	/* Guest time is host time: the host TSC, offset per vCPU. */
	return (uint64_t)((int64_t)__rdtsc() + c->tsc_offset);
}
