/*
 * The DBT's memory path: segmentation, paging and the soft TLB (Intel SDM
 * vol. 3, chapters 3 and 4).
 *
 * seg:off -> linear: base + off with limit checks outside 64-bit mode and
 * canonical checks in it (#GP(0), or #SS(0) for the stack segment).
 * linear -> physical: no paging, 32-bit paging (4 KiB and PSE 4 MiB
 * pages), PAE, and 4-level paging, with U/S, R/W (CR0.WP), NX (EFER.NXE),
 * SMEP/SMAP, accessed and dirty bits set as the CPU sets them, and #PF
 * with its error code and CR2.
 *
 * The soft TLB is direct-mapped on the linear page number, one for user
 * (CPL 3) accesses and one for supervisor ones, so a CPL change needs no
 * flush.  A tag is the page address; an empty one is DBT_TLB_EMPTY.  tag_w is only filled for RAM pages whose dirty bit is
 * already set and that hold no translated code, so every write that must
 * set D or invalidate translations takes the slow path.  MMIO pages are
 * never cached: each access walks and dispatches to the bus (the local
 * APIC page goes to the calling vCPU's LAPIC).
 */
#include "dbt/dbt-int.h"

#include <string.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "hw/bus.h"
#include "hw/intc.h"
#include "vm/vm.h"

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_U 0x4ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL
#define PTE_G 0x100ULL
#define PTE_NX (1ULL << 63)
#define PTE_ADDR 0x000ffffffffff000ULL

#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u
#define PF_RSVD 0x8u
#define PF_I 0x10u

bool dbt_page_has_code(struct dbt_cpu *c, uint64_t pa);

/* ---- physical access ----------------------------------------------------- */

uint64_t
dbt_phys_read(struct dbt_cpu *c, uint64_t pa, unsigned size)
{
	uint8_t *p = mem_gpa_to_hva(&c->vm->mem, pa, size);
	uint64_t v = 0;

	if (p != NULL) {
		memcpy(&v, p, size);
		return v;
	}
	bus_read(c->vm->mmio, pa, size, &v);
	return v;
}

/*
 * After a store to guest RAM or ROM at pa: does its page hold code?  In
 * parallel a translator may be marking the page at the same time; the
 * store is made visible before the mark is read (a host fence), the
 * mirror of the translator's mark, fence, re-read of the bytes (block.c,
 * copy_same), so that either the translation sees the new bytes or this
 * sees the mark and invalidates it.
 */
static inline bool
wrote_code(struct dbt_cpu *c, uint64_t pa)
{
	if (c->smp_parallel)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return dbt_page_has_code(c, pa);
}

void
dbt_phys_write(struct dbt_cpu *c, uint64_t pa, unsigned size, uint64_t v)
{
	const struct mem_region *r = mem_lookup(&c->vm->mem, pa);

	if (r != NULL && pa + size <= r->gpa + r->size) {
		mem_dirty_mark(&c->vm->mem, pa, size);
		if (r->flags & MEM_RAM) {
			memcpy(r->hva + (pa - r->gpa), &v, size);
			if (wrote_code(c, pa))
				dbt_blocks_invalidate(c, pa, size);
		} else {
			mem_rom_write(r, pa, &v, size);
			if (wrote_code(c, pa))
				dbt_blocks_invalidate(c, pa, size);
		}
		return;
	}
	bus_write(c->vm->mmio, pa, size, v);
}

/* ---- page walk --------------------------------------------------------- */

struct walk {
	uint64_t pa;            /* physical address of lin */
	uint64_t page_pa;       /* of the 4 KiB page holding lin */
	bool user, write, exec, dirty;
	bool global;            /* G in the leaf entry, with CR4.PGE */
	uint64_t large;         /* the size of a large page, 0: 4 KiB */
	bool nofault;           /* a fault sets faulted instead of raising */
	bool faulted;
};

/* A fault of the walk: raised, or only noted for a non-faulting one. */
#define WALK_FAULT(c, lin, w, err) do {                                 \
	if ((w)->nofault) {                                             \
		(w)->faulted = true;                                    \
		return;                                                 \
	}                                                               \
	page_fault((c), (lin), (err));                                  \
} while (0)

/* touch() for the walk; a non-faulting walk leaves rather than write a
 * paging entry in a page holding translated code (the interpreter does
 * it, and the invalidation that follows). */
#define WALK_TOUCH(c, w, epa, e, bits, size) do {                       \
	if ((w)->nofault && ((e) & (bits)) != (bits) &&                 \
	    dbt_page_has_code((c), (epa) & ~0xfffULL)) {                \
		(w)->faulted = true;                                    \
		return;                                                 \
	}                                                               \
	if (!touch((c), (epa), (e), (bits), (size)))                    \
		goto restart;                                           \
} while (0)

static _Noreturn void
page_fault(struct dbt_cpu *c, uint64_t lin, uint32_t err)
{
	c->cr2 = lin;
	dbt_raise(c, X86_EXC_PF, err);
}

/*
 * Set A (and D) in a paging entry if not yet set, the way the processor
 * does it, with a locked read-modify-write (SDM vol. 3A, 4.8 and
 * 8.1.2.1): the entry read by the walk, e, becomes e | bits only if it is
 * still e.  False when another CPU changed it meanwhile (cleared it,
 * remapped it, or set the bits itself): the walk starts over rather than
 * write back a stale entry.  Entries outside RAM (ROM, MMIO) take the
 * plain write.
 */
static bool
touch(struct dbt_cpu *c, uint64_t epa, uint64_t e, uint64_t bits,
    unsigned size)
{
	const struct mem_region *r;
	void *p;
	bool ok;

	if ((e & bits) == bits)
		return true;
	r = mem_lookup(&c->vm->mem, epa);
	if (r == NULL || !(r->flags & MEM_RAM) ||
	    epa + size > r->gpa + r->size || (epa & (size - 1)) != 0) {
		dbt_phys_write(c, epa, size, e | bits);
		return true;
	}
	p = r->hva + (epa - r->gpa);
	mem_dirty_mark(&c->vm->mem, epa, size);
	if (size == 8) {
		uint64_t old = e;

		ok = __atomic_compare_exchange_n((uint64_t *)p, &old, e | bits,
		    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	} else {
		uint32_t old = (uint32_t)e;

		ok = __atomic_compare_exchange_n((uint32_t *)p, &old,
		    (uint32_t)(e | bits), false, __ATOMIC_SEQ_CST,
		    __ATOMIC_SEQ_CST);
	}
	if (ok && dbt_page_has_code(c, epa))
		dbt_blocks_invalidate(c, epa, size);
	return ok;
}

/* Physical-address bits above MAXPHYADDR in an 8-byte entry (51:M). */
#define PTE_PA_RSVD (((1ULL << 52) - 1) & ~((1ULL << CPU_PHYS_BITS) - 1))

/*
 * The reserved bits of a present 8-byte paging entry at level (4 PML4E,
 * 3 PDPTE, 2 PDE, 1 PTE) of a PAE or 4-level walk (SDM vol. 3A, tables
 * 4-9 to 4-11 and 4-15 to 4-20): the address bits above MAXPHYADDR; bit
 * 63 without EFER.NXE; PS in a PML4E, and in a PDPTE where 1 GiB pages
 * are not advertised (vmkit's CPU model does not); bits 20:13 of a
 * 2 MiB page.  PAE's PDPTEs are checked when loaded (dbt_pae_pdptes_ok).
 */
static uint64_t
rsvd8(const struct dbt_cpu *c, int level, uint64_t e)
{
	uint64_t m = PTE_PA_RSVD;

	if (!(c->efer & X86_EFER_NXE))
		m |= PTE_NX;
	if (level == 4 || level == 3)
		m |= PTE_PS;
	else if (level == 2 && (e & PTE_PS))
		m |= 0x1fe000ULL;
	return m;
}

/*
 * 32-bit paging has reserved bits only in a 4 MiB PDE (CR4.PSE, PS=1):
 * bit 21, and bits 20:13 beyond the physical-address width (table 4-4;
 * with PSE-36 bits 20:13 are address bits 39:32).
 */
static uint64_t
rsvd4(uint64_t e, const struct dbt_cpu *c)
{
	unsigned hi = CPU_PHYS_BITS > 40 ? 40 : CPU_PHYS_BITS;

	if (!(e & PTE_PS) || !(c->cr4 & X86_CR4_PSE))
		return 0;
	return (1ULL << 21) | (0x1fe000ULL & ~((1ULL << (13 + hi - 32)) - 1));
}

bool
dbt_pae_pdptes_ok(struct dbt_cpu *c, uint64_t cr3)
{
	/* SDM vol. 3A, 4.4.1 and table 4-8: bits 2:1, 8:5 and 63:M. */
	uint64_t m = 0x1e6ULL | ~((1ULL << CPU_PHYS_BITS) - 1), e;
	int k;

	for (k = 0; k < 4; k++) {
		e = dbt_phys_read(c, (cr3 & 0xffffffe0ULL) + 8 * (unsigned)k,
		    8);
		if ((e & PTE_P) && (e & m))
			return false;
	}
	return true;
}

static void
walk(struct dbt_cpu *c, uint64_t lin, unsigned acc, struct walk *w)
{
	bool user_acc = c->cpl == 3 && !(acc & DBT_ACC_SUPER);
	bool wr = acc & DBT_ACC_WRITE, ex = acc & DBT_ACC_EXEC;
	bool nxe = (c->efer & X86_EFER_NXE) != 0;
	/* I/D: a fetch, with SMEP or with NX in force (PAE paging and
	 * EFER.NXE): SDM vol. 3A, 4.7. */
	uint32_t ferr = (wr ? PF_W : 0) | (user_acc ? PF_U : 0) |
	    (ex && ((nxe && (c->cr4 & X86_CR4_PAE)) ||
	    (c->cr4 & X86_CR4_SMEP)) ? PF_I : 0);
	uint64_t e = 0, epa, base, pages = 0;
	bool u = true, w_ok = true, nx = false;
	int level, levels, shift;
	unsigned esz;

restart:
	/* (again when an A/D update found the entry changed: touch) */
	u = w_ok = true;
	nx = false;
	pages = 0;
	if (!c->pg) {
		w->pa = c->lma ? lin : lin & 0xffffffffULL;
		w->page_pa = w->pa & ~0xfffULL;
		w->user = w->write = w->exec = w->dirty = true;
		w->global = false;
		return;
	}
	if (c->lma) {
		levels = 4;
		esz = 8;
		base = c->cr3 & PTE_ADDR;
	} else if (c->cr4 & X86_CR4_PAE) {
		/* The 4 PDPTEs; reloaded on each walk (SDM says on CR3
		 * load, which is equivalent for well-behaved guests). */
		epa = (c->cr3 & 0xffffffe0ULL) + ((lin >> 30) & 3) * 8;
		e = dbt_phys_read(c, epa, 8);
		if (!(e & PTE_P))
			WALK_FAULT(c, lin, w, ferr);
		base = e & PTE_ADDR;
		levels = 2;
		esz = 8;
	} else {
		levels = 2;
		esz = 4;
		base = c->cr3 & 0xfffff000ULL;
	}
	for (level = levels; level >= 1; level--) {
		if (esz == 8)
			shift = 12 + 9 * (level - 1);
		else
			shift = 12 + 10 * (level - 1);
		epa = base + ((lin >> shift) & (esz == 8 ? 0x1ff : 0x3ff)) *
		    esz;
		e = dbt_phys_read(c, epa, esz);
		if (!(e & PTE_P))
			WALK_FAULT(c, lin, w, ferr);
		if (e & (esz == 8 ? rsvd8(c, level, e) : rsvd4(e, c)))
			WALK_FAULT(c, lin, w, ferr | PF_P | PF_RSVD);
		u = u && (e & PTE_U);
		w_ok = w_ok && (e & PTE_W);
		nx = nx || (esz == 8 && nxe && (e & PTE_NX));
		if (level > 1 && (e & PTE_PS) &&
		    (esz == 8 ? level == 2 : (c->cr4 & X86_CR4_PSE) != 0)) {
			/* Large page: 2 MiB / 1 GiB (8-byte entries) or
			 * 4 MiB (32-bit paging with PSE). */
			if (esz == 8) {
				pages = 1ULL << shift;
				base = e & PTE_ADDR & ~(pages - 1);
			} else {
				pages = 1ULL << 22;
				base = (e & 0xffc00000ULL) |
				    ((e & 0x1fe000ULL) << 19);
			}
			break;
		}
		if (level > 1)
			WALK_TOUCH(c, w, epa, e, PTE_A, esz);
		/* The next table, or for the last level the page frame. */
		base = e & (esz == 8 ? PTE_ADDR : 0xfffff000ULL);
	}
	if (level == 0)
		pages = 4096;
	/* Permission checks. */
	if (user_acc && !u)
		WALK_FAULT(c, lin, w, ferr | PF_P);
	if (wr && !w_ok && (user_acc || (c->cr0 & X86_CR0_WP)))
		WALK_FAULT(c, lin, w, ferr | PF_P);
	if (ex && nx)
		WALK_FAULT(c, lin, w, ferr | PF_P);
	/* Supervisor-mode accesses to user pages (4.6.1): no fetch at CPL
	 * < 3 with SMEP; with SMAP no data access unless it is explicit,
	 * at CPL < 3, with EFLAGS.AC set (an implicit one, to a descriptor
	 * table or the TSS, never). */
	if (!user_acc && u) {
		if (ex && c->cpl < 3 && (c->cr4 & X86_CR4_SMEP))
			WALK_FAULT(c, lin, w, ferr | PF_P);
		if (!ex && (c->cr4 & X86_CR4_SMAP) &&
		    ((acc & DBT_ACC_SUPER) || !(c->rflags & X86_AC)))
			WALK_FAULT(c, lin, w, ferr | PF_P);
	}
	WALK_TOUCH(c, w, epa, e, PTE_A | (wr ? PTE_D : 0), esz);
	w->pa = base + (lin & (pages - 1));
	w->page_pa = w->pa & ~0xfffULL;
	w->user = u;
	w->write = w_ok || (!(c->cr0 & X86_CR0_WP) && c->cpl < 3);
	w->exec = !nx;
	w->dirty = wr || (e & PTE_D);
	w->global = (c->cr4 & X86_CR4_PGE) && (e & PTE_G);
	w->large = pages > 4096 ? pages : 0;
}

uint64_t
dbt_translate(struct dbt_cpu *c, uint64_t lin, unsigned acc)
{
	struct walk w = { 0 };

	walk(c, lin, acc, &w);
	return w.pa;
}

/* ---- TLB --------------------------------------------------------------- */

/* In a tlb_pa word (a page address): the translation is global. */
#define TLB_G 1ULL
/* ... from a large page: 2 MiB, or 4 MiB with TLB_L4M too. */
#define TLB_L 2ULL
#define TLB_L4M 4ULL
/* ... a user page in the supervisor TLB, filled in a STAC window. */
#define TLB_U 8ULL

/* tlb_large: bit (lin >> 21) % DBT_TLB_LARGE_BITS for the 2 MiB regions
 * some entry from a large page covers (see dbt_tlb_flush_page). */
static inline unsigned
large_bit(uint64_t lin)
{
	return (unsigned)(lin >> 21) % DBT_TLB_LARGE_BITS;
}

/* The TLB an access of kind acc uses: user (CPL 3, not an implicit
 * supervisor access) or supervisor. */
static inline unsigned
tlb_class(const struct dbt_cpu *c, unsigned acc)
{
	return c->cpl == 3 && !(acc & DBT_ACC_SUPER);
}

static inline unsigned
tlb_index(uint64_t lin)
{
	return (unsigned)(lin >> 12) % DBT_TLB_SIZE;
}

static inline struct dbt_tlb_entry *
tlb_ent(struct dbt_cpu *c, uint64_t lin, unsigned acc)
{
	/* An implicit access may not use a STAC window's entries (SMAP
	 * faults it whatever AC is): tlb_lookup sorts them out. */
	if (__builtin_expect(c->smap_nlog != 0, 0) && (acc & DBT_ACC_SUPER))
		return &c->tlb_none;
	return &c->tlb[tlb_class(c, acc)][tlb_index(lin)];
}

static void
tlb_clear(struct dbt_cpu *c, unsigned cls, unsigned k)
{
	memset(&c->tlb[cls][k], 0xff, sizeof(c->tlb[cls][k]));
	c->tlb_pa[cls][k] = 0;
}

void
dbt_smap_close(struct dbt_cpu *c)
{
	unsigned n = c->smap_nlog, k;

	if (n > DBT_SMAP_LOG) {
		for (k = 0; k < DBT_TLB_SIZE; k++)
			if (c->tlb_pa[0][k] & TLB_U)
				tlb_clear(c, 0, k);
	} else {
		while (n > 0) {
			k = c->smap_log[--n];
			if (c->tlb_pa[0][k] & TLB_U)
				tlb_clear(c, 0, k);
		}
	}
	c->smap_nlog = 0;
}

void
dbt_tlb_flush(struct dbt_cpu *c)
{
	memset(c->tlb, 0xff, sizeof(c->tlb));   /* every tag DBT_TLB_EMPTY */
	memset(&c->tlb_none, 0xff, sizeof(c->tlb_none));
	memset(c->tlb_pa, 0, sizeof(c->tlb_pa));
	c->tlb_nlog = 0;
	memset(c->tlb_logged, 0, sizeof(c->tlb_logged));
	memset(c->tlb_large, 0, sizeof(c->tlb_large));
	/* The jump cache maps linear addresses too. */
	dbt_jc_flush(c);
	c->tlb_flushes++;
}

/* The dirty log was taken (mem.h): no page keeps a write entry, so
 * the next write to each goes through tlb_install and marks it again. */
void
dbt_tlb_drop_all_writes(struct dbt_cpu *c)
{
	unsigned cls, k;

	for (cls = 0; cls < 2; cls++)
		for (k = 0; k < DBT_TLB_SIZE; k++)
			__atomic_store_n(&c->tlb[cls][k].tag_w, DBT_TLB_EMPTY,
			    __ATOMIC_RELAXED);
}

void
dbt_tlb_flush_local(struct dbt_cpu *c)
{
	unsigned cls, k;

	if (!(c->cr4 & X86_CR4_PGE)) {
		dbt_tlb_flush(c);
		return;
	}
	if (c->tlb_nlog > DBT_TLB_LOG) {
		for (cls = 0; cls < 2; cls++)
			for (k = 0; k < DBT_TLB_SIZE; k++)
				if (!(c->tlb_pa[cls][k] & TLB_G))
					tlb_clear(c, cls, k);
	} else {
		/* Only entries filled since the last flush can hold
		 * non-global translations; refilled as global, they stay. */
		for (k = 0; k < c->tlb_nlog; k++) {
			unsigned e = c->tlb_log[k];

			cls = e / DBT_TLB_SIZE;
			if (!(c->tlb_pa[cls][e % DBT_TLB_SIZE] & TLB_G))
				tlb_clear(c, cls, e % DBT_TLB_SIZE);
		}
	}
	c->tlb_nlog = 0;
	memset(c->tlb_logged, 0, sizeof(c->tlb_logged));
	/* The jump cache: the slots filled from non-global pages. */
	if (c->jc_nlog > DBT_JC_SIZE) {
		dbt_jc_flush(c);
	} else {
		for (k = 0; k < c->jc_nlog; k++) {
			unsigned x = c->jc_log[k];

			c->jc[x].gen = 0;
			c->jc_logged[x / 64] &= ~(1ULL << (x % 64));
		}
		c->jc_nlog = 0;
	}
	c->tlb_flushes_local++;
}

bool
dbt_tlb_global(const struct dbt_cpu *c, uint64_t lin)
{
	unsigned cls = c->cpl == 3, k = tlb_index(lin);

	return (c->tlb_pa[cls][k] & TLB_G) &&
	    c->tlb[cls][k].tag_x == (lin & ~0xfffULL);
}

/*
 * INVLPG: the entries for lin's page go, and when lin is in a large page
 * the entries of every 4 KiB part of it (SDM vol. 3A 4.10.4.1; Linux
 * invalidates one address per 2 MiB page when it unmaps a huge page).
 * The TLB holds large pages as 4 KiB parts, so those are looked for,
 * where tlb_large says some entry from a large page covers lin.
 */
void
dbt_tlb_flush_page(struct dbt_cpu *c, uint64_t lin)
{
	unsigned bit = (unsigned)(lin >> 12) % DBT_JC_SIZE, lb = large_bit(lin);
	bool jc = (c->jc_pages[bit / 64] & (1ULL << (bit % 64))) != 0;
	unsigned cls, k;

	tlb_clear(c, 0, tlb_index(lin));
	tlb_clear(c, 1, tlb_index(lin));
	if (c->tlb_large[lb / 64] & (1ULL << (lb % 64))) {
		for (cls = 0; cls < 2; cls++) {
			for (k = 0; k < DBT_TLB_SIZE; k++) {
				uint64_t pa = c->tlb_pa[cls][k];
				uint64_t size = (pa & TLB_L4M) ? 4u << 20 :
				    2u << 20;

				if ((pa & TLB_L) && ((c->tlb[cls][k].tag_r ^
				    lin) & ~(size - 1)) == 0) {
					tlb_clear(c, cls, k);
					jc = true;
				}
			}
		}
	}
	/* Only if the jump cache may hold code of the pages dropped. */
	if (jc)
		dbt_jc_flush(c);
	c->tlb_flushes_page++;
}

/* Whether c had a write entry for pa's page. */
bool
dbt_tlb_drop_writes(struct dbt_cpu *c, uint64_t pa)
{
	unsigned cls, k;
	bool had = false;

	for (cls = 0; cls < 2; cls++)
		for (k = 0; k < DBT_TLB_SIZE; k++)
			if ((c->tlb_pa[cls][k] & ~0xfffULL) ==
			    (pa & ~0xfffULL)) {
				/* c may be another vCPU (SMP.md M5): one
				 * 8-byte store its probes read whole. */
				if (__atomic_load_n(&c->tlb[cls][k].tag_w,
				    __ATOMIC_RELAXED) != DBT_TLB_EMPTY)
					had = true;
				__atomic_store_n(&c->tlb[cls][k].tag_w,
				    DBT_TLB_EMPTY, __ATOMIC_RELAXED);
			}
	return had;
}

/* A tag is the linear page address (DBT_TLB_EMPTY never matches one). */
static inline uint64_t
tag_of(uint64_t lin)
{
	return lin & ~0xfffULL;
}

static bool canonical(uint64_t a);

/* ---- debug registers ---------------------------------------------------- */

/* The bytes DRn covers (SDM vol. 3B, 17.2.4): LENn 00 1, 01 2, 11 4, and
 * 10 8 (on every processor of the family vmkit presents). */
static unsigned
dr_len(const struct dbt_cpu *c, int n)
{
	static const unsigned len[4] = { 1, 2, 8, 4 };

	return len[(c->dr[7] >> (18 + 4 * n)) & 3];
}

/* Whether bytes a .. a + size - 1 overlap DRn's range, whose address is
 * taken aligned to its length (17.2.5: the low bits are ignored) and cut
 * to amask (32-bit linear addresses, 16-bit ports). */
static bool
dr_overlaps(const struct dbt_cpu *c, int n, uint64_t a, unsigned size,
    uint64_t amask)
{
	unsigned len = dr_len(c, n);
	uint64_t lo = c->dr[n] & amask & ~(uint64_t)(len - 1);

	return a <= lo + len - 1 && lo <= a + size - 1;
}

static uint64_t
lin_mask(const struct dbt_cpu *c)
{
	return c->lma ? ~0ULL : 0xffffffffULL;
}

/*
 * After a write to DR0-DR3, DR7 or CR4 (or a state load): which DRn are
 * armed data breakpoints (Ln or Gn, R/W 01 writes, 11 reads and writes)
 * and I/O breakpoints (R/W 10, only with CR4.DE).  A page one of the
 * data breakpoints covers gets no read or write entry in the TLB
 * (tlb_install), so every data access to it reaches tlb_lookup's slow
 * path, which looks (watch_access); the TLB is flushed when one is or
 * was armed.  None armed costs nothing on any access.  The run loop
 * single-steps on the interpreter while DR7 enables any breakpoint, so
 * compiled code and its inline probes never run with one armed.
 */
void
dbt_watch_update(struct dbt_cpu *c)
{
	uint32_t dr7 = (uint32_t)c->dr[7];
	uint8_t data = 0, io = 0;
	int n;

	for (n = 0; n < 4; n++) {
		unsigned rw = (dr7 >> (16 + 4 * n)) & 3;

		if (((dr7 >> (2 * n)) & 3) == 0)
			continue;
		if (rw == 1 || rw == 3)
			data |= (uint8_t)(1u << n);
		else if (rw == 2 && (c->cr4 & X86_CR4_DE))
			io |= (uint8_t)(1u << n);
	}
	if (data != 0 || c->watch != 0)
		dbt_tlb_flush(c);
	c->watch = data;
	c->io_watch = io;
}

/* A data access of size bytes at lin (acc: its kind) with data
 * breakpoints armed: the ones it hits, for the run loop's trap. */
static void
watch_access(struct dbt_cpu *c, uint64_t lin, unsigned size, unsigned acc)
{
	int n;

	if (acc & DBT_ACC_EXEC)
		return;
	for (n = 0; n < 4; n++)
		if ((c->watch & (1u << n)) && ((acc & DBT_ACC_WRITE) ||
		    ((c->dr[7] >> (16 + 4 * n)) & 3) == 3) &&
		    dr_overlaps(c, n, lin, size, lin_mask(c)))
			c->watch_hits |= (uint8_t)(1u << n);
}

/* An IN, OUT, INS or OUTS of size bytes at port, done: the I/O
 * breakpoints it hits (17.2.4). */
void
dbt_watch_io(struct dbt_cpu *c, uint16_t port, unsigned size)
{
	int n;

	for (n = 0; n < 4; n++)
		if ((c->io_watch & (1u << n)) &&
		    dr_overlaps(c, n, port, size, 0xffff))
			c->watch_hits |= (uint8_t)(1u << n);
}

/* Whether a data breakpoint covers part of lin's page. */
static bool
watch_page(const struct dbt_cpu *c, uint64_t lin)
{
	int n;

	for (n = 0; n < 4; n++)
		if ((c->watch & (1u << n)) &&
		    dr_overlaps(c, n, lin & ~0xfffULL, 4096, lin_mask(c)))
			return true;
	return false;
}

/* Fill entry k of TLB cls for lin's page as walk w found it in r. */
static void
tlb_install(struct dbt_cpu *c, unsigned cls, unsigned k, uint64_t lin,
    unsigned acc, const struct walk *w, const struct mem_region *r)
{
	struct dbt_tlb_entry *t = &c->tlb[cls][k];
	uint64_t tag = tag_of(lin);

	if ((c->tlb_pa[cls][k] & ~0xfffULL) != w->page_pa || t->tag_r != tag)
		tlb_clear(c, cls, k);
	c->tlb_pa[cls][k] = w->page_pa | (w->global ? TLB_G : 0) |
	    (w->large ? TLB_L : 0) | (w->large == 4u << 20 ? TLB_L4M : 0);
	if (w->large) {
		unsigned b = large_bit(lin), b2 = large_bit(lin ^ (2u << 20));

		c->tlb_large[b / 64] |= 1ULL << (b % 64);
		if (w->large == 4u << 20)       /* and the other half */
			c->tlb_large[b2 / 64] |= 1ULL << (b2 % 64);
	}
	if (!w->global) {
		unsigned e = cls * DBT_TLB_SIZE + k;

		if (!(c->tlb_logged[e / 64] & (1ULL << (e % 64))) &&
		    c->tlb_nlog <= DBT_TLB_LOG) {
			if (c->tlb_nlog < DBT_TLB_LOG)
				c->tlb_log[c->tlb_nlog] = (uint16_t)e;
			c->tlb_nlog++;
			c->tlb_logged[e / 64] |= 1ULL << (e % 64);
		}
	}
	/* the dirty log: a page is marked when it gets a write entry, and
	 * on each write through the slow path (dbt_dirty_log_sync drops
	 * the entries when the log is taken) */
	if (acc & DBT_ACC_WRITE)
		mem_dirty_mark(&c->vm->mem, w->page_pa, 1);
	t->addend = (uintptr_t)(r->hva + (w->page_pa - r->gpa)) -
	    (uintptr_t)(lin & ~0xfffULL);
	t->tag_r = tag;
	if (w->exec)
		t->tag_x = tag;
	/* A write entry only for dirty RAM holding no translated code
	 * (writing code: the caller invalidates, on the slow path). */
	if ((acc & DBT_ACC_WRITE) && (r->flags & MEM_RAM) &&
	    !dbt_page_has_code(c, w->page_pa) && w->dirty && w->write) {
		__atomic_store_n(&t->tag_w, tag, __ATOMIC_RELAXED);
		/* A translator that gave the page code meanwhile dropped
		 * write entries before this one existed: look again
		 * (SMP.md M5; the translator marks, then drops). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (dbt_page_has_code(c, w->page_pa))
			__atomic_store_n(&t->tag_w, DBT_TLB_EMPTY,
			    __ATOMIC_RELAXED);
	}
	/* A user page in the supervisor TLB: no fetch entry under SMEP.
	 * Under SMAP data entries only for an explicit access with
	 * EFLAGS.AC set, logged: STAC, CLAC and POPF change AC without a
	 * flush, so they go when AC is clear again (dbt_smap_check), and
	 * implicit accesses never use them (tlb_ent, tlb_lookup).  Other
	 * accesses walk (walk). */
	if (cls == 0 && w->user && (c->cr4 & (X86_CR4_SMEP | X86_CR4_SMAP))) {
		if (c->cr4 & X86_CR4_SMEP)
			t->tag_x = DBT_TLB_EMPTY;
		if ((c->cr4 & X86_CR4_SMAP) && (c->rflags & X86_AC) &&
		    !(acc & DBT_ACC_SUPER)) {
			c->tlb_pa[0][k] |= TLB_U;
			if (c->smap_nlog < DBT_SMAP_LOG)
				c->smap_log[c->smap_nlog] = (uint16_t)k;
			if (c->smap_nlog <= DBT_SMAP_LOG)
				c->smap_nlog++;
		} else if (c->cr4 & X86_CR4_SMAP) {
			t->tag_r = DBT_TLB_EMPTY;
			__atomic_store_n(&t->tag_w, DBT_TLB_EMPTY,
			    __ATOMIC_RELAXED);
		}
	}
	/* Data breakpoints: fetches only (dbt_watch_update). */
	if (__builtin_expect(c->watch != 0, 0) && watch_page(c, lin)) {
		t->tag_r = DBT_TLB_EMPTY;
		__atomic_store_n(&t->tag_w, DBT_TLB_EMPTY, __ATOMIC_RELAXED);
	}
}

/*
 * For the translator's TLB probes: make the entry a probe of an access
 * of size bytes at lin (a write if write) would hit, if it can be one:
 * within a page of memory, without a fault (a faulting access is left
 * to the interpreter, which raises it exactly), not a write to code or
 * ROM.  The walk sets accessed and dirty bits as the access would.
 * cls is the TLB the probe reads.  True if the probe will now hit.
 */
bool
dbt_tlb_fill(struct dbt_cpu *c, uint64_t lin, unsigned size, bool write,
    unsigned cls)
{
	unsigned acc = write ? DBT_ACC_WRITE : DBT_ACC_READ;
	unsigned k = tlb_index(lin);
	const struct mem_region *r;
	struct walk w = { 0 };

	if ((lin & 0xfff) + size > 4096 || !canonical(lin) ||
	    cls != tlb_class(c, acc))
		return false;
	w.nofault = true;
	walk(c, lin, acc, &w);
	if (w.faulted)
		return false;
	r = mem_lookup(&c->vm->mem, w.page_pa);
	if (r == NULL || (write && !(r->flags & MEM_RAM)))
		return false;
	c->tlb_misses++;
	tlb_install(c, cls, k, lin, acc, &w, r);
	return write ? c->tlb[cls][k].tag_w == tag_of(lin) :
	    c->tlb[cls][k].tag_r == tag_of(lin);
}

/*
 * Look up or fill the TLB for one page, for an access of size bytes (0:
 * a probe, not the access).  Returns the host address of lin for RAM, or
 * NULL for MMIO (then *pa is the physical address).
 */
static uint8_t *
tlb_lookup(struct dbt_cpu *c, uint64_t lin, unsigned size, unsigned acc,
    uint64_t *pa)
{
	unsigned cls = tlb_class(c, acc), k = tlb_index(lin);
	struct dbt_tlb_entry *t = &c->tlb[cls][k];
	uint64_t tag = tag_of(lin);
	const struct mem_region *r;
	struct walk w = { 0 };

	if (acc & DBT_ACC_WRITE) {
		if (t->tag_w == tag)
			goto hit;
	} else if (acc & DBT_ACC_EXEC) {
		if (t->tag_x == tag)
			goto hit;
	} else if (t->tag_r == tag) {
		goto hit;
	}
	c->tlb_misses++;
	walk(c, lin, acc, &w);
	if (__builtin_expect(c->watch != 0, 0) && size != 0)
		watch_access(c, lin, size, acc);
	*pa = w.pa;
	r = mem_lookup(&c->vm->mem, w.page_pa);
	if (r == NULL || ((acc & DBT_ACC_WRITE) && !(r->flags & MEM_RAM)))
		return NULL; /* MMIO, or a write to ROM: slow path */
	tlb_install(c, cls, k, lin, acc, &w, r);
	return (uint8_t *)(uintptr_t)(lin + t->addend);
hit:
	/* A STAC window's entry is for explicit accesses only. */
	if (__builtin_expect((acc & DBT_ACC_SUPER) &&
	    (c->tlb_pa[cls][k] & TLB_U), 0)) {
		c->tlb_misses++;
		walk(c, lin, acc, &w);  /* faults: SMAP (SDM 4.6.1) */
		*pa = w.pa;
		r = mem_lookup(&c->vm->mem, w.page_pa);
		if (r == NULL || ((acc & DBT_ACC_WRITE) &&
		    !(r->flags & MEM_RAM)))
			return NULL;
		return (uint8_t *)(uintptr_t)(r->hva + (w.page_pa - r->gpa) +
		    (lin & 0xfff));
	}
	c->tlb_hits++;
	*pa = (c->tlb_pa[cls][k] & ~0xfffULL) | (lin & 0xfff);
	return (uint8_t *)(uintptr_t)(lin + t->addend);
}

/* ---- segmentation ------------------------------------------------------- */

static bool
canonical(uint64_t a)
{
	/* Shift as unsigned: a left shift of a negative value is UB. */
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/*
 * Alignment checking (SDM vol. 3, 6.15 and table 6-7): with CR0.AM and
 * RFLAGS.AC, a CPL 3 data access not aligned to its size takes #AC(0).
 * The sizes checked are 2, 4 and 8 bytes, 10 (x87 extended real,
 * aligned to 8), and the x87 environment and state of FLDENV, FNSTENV,
 * FRSTOR and FNSAVE, aligned to their operand size: 14 and 94 bytes
 * (16-bit) to 2, 28 and 108 to 4.  Implicit system accesses (descriptor
 * tables, the TSS, the stack of an interrupt) do not come through here.
 */
static void
align_check(struct dbt_cpu *c, uint64_t lin, unsigned size)
{
	unsigned a = size == 10 ? 8 : size == 14 || size == 94 ? 2 :
	    size == 28 || size == 108 ? 4 : size;

	if ((c->cr0 & X86_CR0_AM) && (a == 2 || a == 4 || a == 8) &&
	    (lin & (a - 1)))
		dbt_raise(c, X86_EXC_AC, 0);
}

uint64_t
dbt_linear(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    unsigned acc)
{
	const struct x86_seg *s = &c->seg[seg];
	int vec = seg == X86_SS ? X86_EXC_SS : X86_EXC_GP;
	uint64_t lin;

	if (c->long64) {
		lin = off + ((seg == X86_FS || seg == X86_GS) ? s->base : 0);
		if (!canonical(lin) || !canonical(lin + size - 1))
			dbt_raise(c, vec, 0);
		if (c->cpl == 3 && (c->rflags & X86_AC))
			align_check(c, lin, size);
		return lin;
	}
	off &= 0xffffffffULL;
	if (c->pe && !c->v86) {
		if (s->unusable && seg != X86_CS)
			dbt_raise(c, vec, 0);
		if (s->s && (s->type & 0xc) == 0x4) {
			/* Expand-down data: valid above the limit. */
			uint64_t top = s->db ? 0xffffffffULL : 0xffffULL;

			if (off <= s->limit || off + size - 1 > top)
				dbt_raise(c, vec, 0);
		} else if (off + size - 1 > s->limit) {
			dbt_raise(c, vec, 0);
		}
		if ((acc & DBT_ACC_WRITE) && s->s &&
		    ((s->type & 0x8) || !(s->type & 0x2)))
			dbt_raise(c, vec, 0); /* code, or read-only data */
	} else if (off + size - 1 > s->limit) {
		dbt_raise(c, vec, 0);
	}
	lin = (s->base + off) & 0xffffffffULL;
	if (c->cpl == 3 && (c->rflags & X86_AC))
		align_check(c, lin, size);
	return lin;
}

/* ---- accesses ---------------------------------------------------------- */

static uint64_t
lapic_or_bus_read(struct dbt_cpu *c, uint64_t pa, unsigned size)
{
	uint64_t v = 0;

	if (c->vm->intc != NULL && (pa & ~0xfffULL) == LAPIC_BASE) {
		pthread_mutex_lock(&c->vm->io_lock);
		v = lapic_mmio_read(c->vm->intc, c->index,
		    (uint32_t)(pa & 0xfff));
		pthread_mutex_unlock(&c->vm->io_lock);
		return v;
	}
	bus_read(c->vm->mmio, pa, size, &v);
	return v;
}

static void
lapic_or_bus_write(struct dbt_cpu *c, uint64_t pa, unsigned size,
    uint64_t v)
{
	if (c->vm->intc != NULL && (pa & ~0xfffULL) == LAPIC_BASE) {
		pthread_mutex_lock(&c->vm->io_lock);
		lapic_mmio_write(c->vm->intc, c->index,
		    (uint32_t)(pa & 0xfff), (uint32_t)v);
		pthread_mutex_unlock(&c->vm->io_lock);
		return;
	}
	bus_write(c->vm->mmio, pa, size, v);
}

/* One access within a page. */
static uint64_t
lin_read_page(struct dbt_cpu *c, uint64_t lin, unsigned size, unsigned acc)
{
	uint64_t pa, v = 0;
	uint8_t *h = tlb_lookup(c, lin, size, acc, &pa);

	if (h != NULL) {
		memcpy(&v, h, size);
		return v;
	}
	if (mem_lookup(&c->vm->mem, pa) != NULL)
		return dbt_phys_read(c, pa, size);
	return lapic_or_bus_read(c, pa, size);
}

static void
lin_write_page(struct dbt_cpu *c, uint64_t lin, unsigned size, uint64_t v,
    unsigned acc)
{
	struct dbt_tlb_entry *t = tlb_ent(c, lin, acc);
	const struct mem_region *r;
	uint64_t pa;
	uint8_t *h;

	if (t->tag_w == tag_of(lin)) {
		c->tlb_hits++;
		if (__builtin_expect(c->wdelay_us != 0, 0))
			usleep(c->wdelay_us);   /* widens SMP.md M5's window */
		memcpy((uint8_t *)(uintptr_t)(lin + t->addend), &v, size);
		return;
	}
	h = tlb_lookup(c, lin, size, acc | DBT_ACC_WRITE, &pa);
	if (h != NULL) {
		memcpy(h, &v, size);
		if (wrote_code(c, pa))
			dbt_blocks_invalidate(c, pa, size);
		return;
	}
	r = mem_lookup(&c->vm->mem, pa);
	if (r != NULL) {
		/* ROM: its filter may put the bytes where reads see them. */
		mem_rom_write(r, pa, &v, size);
		if (wrote_code(c, pa))
			dbt_blocks_invalidate(c, pa, size);
		return;
	}
	lapic_or_bus_write(c, pa, size, v);
}

uint64_t
dbt_read_lin(struct dbt_cpu *c, uint64_t lin, unsigned size, unsigned acc)
{
	uint64_t v = 0;
	unsigned k, first;

	if ((lin & 0xfff) + size <= 4096)
		return lin_read_page(c, lin, size, acc);
	/* Crossing a page: both pages must be readable. */
	first = 4096 - (unsigned)(lin & 0xfff);
	v = lin_read_page(c, lin, first, acc);
	v |= lin_read_page(c, lin + first, size - first, acc) << (8 * first);
	(void)k;
	return v;
}

void
dbt_write_lin(struct dbt_cpu *c, uint64_t lin, unsigned size, uint64_t v,
    unsigned acc)
{
	unsigned first;
	uint64_t pa;

	if ((lin & 0xfff) + size <= 4096) {
		lin_write_page(c, lin, size, v, acc);
		return;
	}
	/* Check both pages before writing either. */
	first = 4096 - (unsigned)(lin & 0xfff);
	(void)tlb_lookup(c, lin, 0, acc | DBT_ACC_WRITE, &pa);
	(void)tlb_lookup(c, lin + first, 0, acc | DBT_ACC_WRITE, &pa);
	lin_write_page(c, lin, first, v, acc);
	lin_write_page(c, lin + first, size - first, v >> (8 * first), acc);
}

#define DEF_RW(bits, type)                                               \
	type dbt_read##bits(struct dbt_cpu *c, int seg, uint64_t off)    \
	{                                                                \
		uint64_t lin = dbt_linear(c, seg, off, bits / 8,         \
		    DBT_ACC_READ);                                       \
		struct dbt_tlb_entry *t = tlb_ent(c, lin, 0);            \
		type v;                                                  \
		if (t->tag_r == tag_of(lin) &&                           \
		    (lin & 0xfff) <= 4096 - bits / 8) {                  \
			memcpy(&v, (void *)(uintptr_t)(lin + t->addend), \
			    sizeof(v));                                  \
			return v;                                        \
		}                                                        \
		return (type)dbt_read_lin(c, lin, bits / 8, 0);          \
	}                                                                \
	void dbt_write##bits(struct dbt_cpu *c, int seg, uint64_t off,   \
	    type v)                                                      \
	{                                                                \
		uint64_t lin = dbt_linear(c, seg, off, bits / 8,         \
		    DBT_ACC_WRITE);                                      \
		dbt_write_lin(c, lin, bits / 8, v, 0);                   \
	}

DEF_RW(8, uint8_t)
DEF_RW(16, uint16_t)
DEF_RW(32, uint32_t)
DEF_RW(64, uint64_t)

void
dbt_read_bytes(struct dbt_cpu *c, int seg, uint64_t off, void *buf,
    unsigned n)
{
	uint8_t *b = buf;
	uint64_t lin = dbt_linear(c, seg, off, n, DBT_ACC_READ);
	unsigned k;

	for (k = 0; k < n; k++)
		b[k] = (uint8_t)dbt_read_lin(c, lin + k, 1, 0);
}

void
dbt_probe_write(struct dbt_cpu *c, int seg, uint64_t off, unsigned n)
{
	uint64_t lin = dbt_linear(c, seg, off, n, DBT_ACC_WRITE), pa;

	(void)tlb_lookup(c, lin, 0, DBT_ACC_WRITE, &pa);
	/* The second page faults at its first byte (CR2), as the CPU's
	 * access to it starts there. */
	if (((lin + n - 1) ^ lin) & ~0xfffULL)
		(void)tlb_lookup(c, (lin + n - 1) & ~0xfffULL, 0,
		    DBT_ACC_WRITE, &pa);
}

void
dbt_write_bytes(struct dbt_cpu *c, int seg, uint64_t off, const void *buf,
    unsigned n)
{
	const uint8_t *b = buf;
	uint64_t lin;
	unsigned k;

	dbt_probe_write(c, seg, off, n);
	lin = dbt_linear(c, seg, off, n, DBT_ACC_WRITE);
	for (k = 0; k < n; k++)
		dbt_write_lin(c, lin + k, 1, b[k], 0);
}

void *
dbt_mem_ptr(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    unsigned acc, uint64_t *pa)
{
	uint64_t lin = dbt_linear(c, seg, off, size, acc);

	if ((lin & 0xfff) + size > 4096)
		return NULL;
	return tlb_lookup(c, lin, size, acc, pa);
}

/*
 * After a write through dbt_mem_ptr: the translations of what it
 * overwrote go.  After, not before: a translation another vCPU made in
 * between would otherwise be of the old bytes and survive (SMP.md, M2).
 */
void
dbt_mem_written(struct dbt_cpu *c, uint64_t pa, unsigned size)
{
	if (wrote_code(c, pa))
		dbt_blocks_invalidate(c, pa, size);
}

const uint8_t *
dbt_fetch(struct dbt_cpu *c, uint64_t lin, uint64_t *pa, int *avail)
{
	uint8_t *h = tlb_lookup(c, lin, 1, DBT_ACC_EXEC, pa);

	if (h == NULL)
		return NULL;
	*avail = 4096 - (int)(lin & 0xfff);
	return h;
}
