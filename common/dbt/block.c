/*
 * The block cache: guest code decoded once into arrays of struct insn.
 *
 * A block starts at a guest physical address and runs until a control
 * transfer, an instruction that may change how the following bytes decode
 * (mode changes: the handler table marks them), the end of the page, or
 * DBT_BLOCK_MAX instructions.  Blocks are keyed by physical start address
 * and the mode key, so the same code mapped twice is decoded once and a
 * mode switch never runs code decoded for another mode.  Each block is
 * also listed under the physical page(s) its bytes come from; a write to
 * such a page (the MMU's slow path, or DMA through mem_notify_write)
 * invalidates every block listed there.  Invalid blocks are freed only at
 * the top of the run loop, never while one may be executing.
 * The cache is per VM, shared by its vCPUs.  Writers hold tb_lock; the
 * lookup (hash chains) and dbt_page_has_code (the page table) do not,
 * so those fields are read and written with acquire/release atomics, and
 * a block is decoded from a copy of its bytes that is compared with the
 * guest's again once the page is marked as holding code (another vCPU
 * may have stored to it meanwhile through a fast write entry).
 */
#include "dbt/dbt-int.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt/block.h"
#include "dbt/jit.h"
#include "vm/vm.h"

#define HASH_BITS 16
#define PAGE_HASH_BITS 14

struct page_ent {
	uint64_t pa;                    /* page address, or ~0 = empty slot */
	struct dbt_block *blocks;       /* via page_next[] */
	/* A vCPU that waited for others' stores to this page (insert):
	 * while it is set the page counts as holding code even with no
	 * block, so no fast write entry is made for it again. */
	struct dbt_cpu *pin;
};
/* The fields are stored under tb_lock and loaded without it
 * (dbt_page_has_code): a slot, once taken, keeps its pa until a flush. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

struct dbt_cache {
	struct dbt_block *hash[1u << HASH_BITS];
	struct page_ent *pages;         /* open addressing */
	unsigned npages_cap;
	unsigned npages_used;           /* LOAD/STORE */
	struct dbt_block *dead;         /* invalidated, to free (STORE) */
	/* Bumped by each block's death; a block dead at epoch E is freed
	 * once every running vCPU has passed a quiescent point after E
	 * (dbt_blocks_gc, SMP.md M4). */
	atomic_uint_fast64_t epoch;
	uint64_t translated, invalidated;
	uint64_t flushes;               /* tb_lock */
	/* tb_lock (common/dbt/SMP.md, M1): held by every writer of the
	 * translation state, this cache's chains and page table and the
	 * JIT's arena and links.  Recursive: a compile that finds the arena
	 * full flushes the cache, an invalidation forgets the JIT's code.
	 * Never held across guest code or a fault (decode runs outside it). */
	pthread_mutex_t tb_lock;
};

static void pages_clear(struct dbt_cache *k);

static unsigned
hash_of(uint64_t pa, uint32_t key)
{
	uint64_t h = (pa ^ ((uint64_t)key << 40)) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(h >> (64 - HASH_BITS));
}

struct dbt_cache *
dbt_cache_new(void)
{
	struct dbt_cache *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->npages_cap = 1u << PAGE_HASH_BITS;
	k->pages = malloc(sizeof(*k->pages) * k->npages_cap);
	if (k->pages == NULL) {
		free(k);
		return NULL;
	}
	pages_clear(k);
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&k->tb_lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	return k;
}

void
dbt_tb_lock(struct dbt_cpu *c)
{
	if (c->blocks != NULL)
		pthread_mutex_lock(&((struct dbt_cache *)c->blocks)->tb_lock);
}

void
dbt_tb_unlock(struct dbt_cpu *c)
{
	if (c->blocks != NULL)
		pthread_mutex_unlock(&((struct dbt_cache *)c->blocks)->tb_lock);
}

static void
free_block(struct dbt_block *b)
{
	free(b->jit_exit);
	free(b);
}

static void
free_dead(struct dbt_cache *k)
{
	while (k->dead) {
		struct dbt_block *b = k->dead;

		k->dead = b->dead_next;
		free_block(b);
	}
}

/* b is invalid and off the chains: onto the dead list, stamped. */
static void
bury(struct dbt_cache *k, struct dbt_block *b)
{
	b->dead_epoch = atomic_fetch_add(&k->epoch, 1) + 1;
	b->dead_next = k->dead;
	STORE(k->dead, b);
}

void
dbt_cache_free(struct dbt_cache *k)
{
	unsigned i;

	if (k == NULL)
		return;
	for (i = 0; i < (1u << HASH_BITS); i++) {
		while (k->hash[i]) {
			struct dbt_block *b = k->hash[i];

			k->hash[i] = b->hash_next;
			free(b->jit_exit);
			free(b);
		}
	}
	free_dead(k);
	free(k->pages);
	pthread_mutex_destroy(&k->tb_lock);
	free(k);
}

static struct page_ent *
page_find(struct dbt_cache *k, uint64_t pa, bool create)
{
	unsigned mask = k->npages_cap - 1;
	unsigned h = (unsigned)((pa >> 12) * 0x9e3779b1u) & mask;
	unsigned n;

	for (n = 0; n <= mask; n++, h = (h + 1) & mask) {
		struct page_ent *e = &k->pages[h];
		uint64_t epa = LOAD(e->pa);

		if (epa == pa)
			return e;
		if (epa == ~0ULL) {
			if (!create)
				return NULL;
			if (k->npages_used * 2 >= k->npages_cap)
				return NULL; /* caller flushes */
			STORE(e->blocks, NULL);
			STORE(e->pin, NULL);
			STORE(e->pa, pa);
			STORE(k->npages_used, k->npages_used + 1);
			return e;
		}
	}
	return NULL;
}

static struct dbt_cache *
cache_of(struct dbt_cpu *c)
{
	return c->blocks;
}

bool dbt_page_has_code(struct dbt_cpu *c, uint64_t pa);
bool
dbt_page_has_code(struct dbt_cpu *c, uint64_t pa)
{
	struct dbt_cache *k = cache_of(c);
	struct page_ent *e;

	if (k == NULL || LOAD(k->npages_used) == 0)
		return false;
	e = page_find(k, pa & ~0xfffULL, false);
	return e != NULL && (LOAD(e->blocks) != NULL || LOAD(e->pin) != NULL);
}

/* Every page table slot empty (tb_lock; lock-free readers probe it). */
static void
pages_clear(struct dbt_cache *k)
{
	unsigned i;

	for (i = 0; i < k->npages_cap; i++) {
		STORE(k->pages[i].pa, ~0ULL);
		STORE(k->pages[i].blocks, NULL);
		STORE(k->pages[i].pin, NULL);
	}
	STORE(k->npages_used, 0);
}

void
dbt_blocks_flush(struct dbt_cpu *c)
{
	struct dbt_cache *k = cache_of(c);
	unsigned i;

	pthread_mutex_lock(&k->tb_lock);
	for (i = 0; i < (1u << HASH_BITS); i++) {
		while (k->hash[i]) {
			struct dbt_block *b = k->hash[i];

			STORE(k->hash[i], b->hash_next);
			atomic_store(&b->valid, false);
			dbt_jit_forget(c, b);
			bury(k, b);
		}
	}
	pages_clear(k);
	k->flushes++;
	c->block_dirty = true;
	pthread_mutex_unlock(&k->tb_lock);
}

static void
unlink_hash(struct dbt_cache *k, struct dbt_block *b)
{
	struct dbt_block **pp = &k->hash[hash_of(b->pa, b->mode_key)];

	while (*pp && *pp != b)
		pp = &(*pp)->hash_next;
	if (*pp)
		STORE(*pp, b->hash_next);
}

static void
unlink_page(struct dbt_cache *k, struct dbt_block *b, int which)
{
	struct page_ent *e = page_find(k, b->page[which], false);
	struct dbt_block **pp;
	int w;

	if (e == NULL)
		return;
	pp = &e->blocks;
	while (*pp && *pp != b) {
		w = (*pp)->page[0] == e->pa ? 0 : 1;
		pp = &(*pp)->page_next[w];
	}
	if (*pp) {
		if (pp == &e->blocks)
			STORE(e->blocks, b->page_next[which]);
		else
			*pp = b->page_next[which];
	}
}

void
dbt_blocks_invalidate(struct dbt_cpu *c, uint64_t pa, uint64_t len)
{
	struct dbt_cache *k = cache_of(c);
	uint64_t page, end = pa + (len ? len - 1 : 0);

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->tb_lock);
	for (page = pa & ~0xfffULL; page <= end; page += 4096) {
		struct page_ent *e = page_find(k, page, false);

		while (e != NULL && e->blocks != NULL) {
			struct dbt_block *b = e->blocks;
			int w = b->page[0] == page ? 0 : 1;

			STORE(e->blocks, b->page_next[w]);
			if (b->npages == 2)
				unlink_page(k, b, 1 - w);
			unlink_hash(k, b);
			atomic_store(&b->valid, false);
			dbt_jit_forget(c, b);
			bury(k, b);
			k->invalidated++;
			if (b == c->cur_block)
				c->block_dirty = true;
		}
		if (page + 4096 < page)
			break;
	}
	pthread_mutex_unlock(&k->tb_lock);
}

static void
mem_written(void *opaque, gpa_t gpa, uint64_t len)
{
	dbt_code_written(opaque, gpa, len);
}

void
dbt_blocks_init(struct dbt_cpu *c)
{
	if (c->vm->mem.on_write == NULL) {
		c->vm->mem.on_write = mem_written;
		c->vm->mem.on_write_opaque = c;
	}
}

void
dbt_blocks_fini(struct dbt_cpu *c)
{
	if (c->vm->mem.on_write_opaque == c) {
		c->vm->mem.on_write = NULL;
		c->vm->mem.on_write_opaque = NULL;
	}
}

/*
 * The top of c's run loop, a quiescent point: c runs no block and holds
 * none but its pending link's source.  Free the dead blocks no vCPU can
 * be in (dbt_block_in_use): those that died before every running vCPU
 * last passed here, and that are no vCPU's pending link source.
 */
void
dbt_blocks_gc(struct dbt_cpu *c)
{
	struct dbt_cache *k = cache_of(c);
	struct dbt_block **pp;

	atomic_store(&c->qs_epoch, atomic_load(&k->epoch));
	if (LOAD(k->dead) == NULL)   /* without tb_lock: a hint */
		return;
	pthread_mutex_lock(&k->tb_lock);
	pp = &k->dead;
	while (*pp != NULL) {
		struct dbt_block *b = *pp;

		if (dbt_block_in_use(c, b)) {
			pp = &b->dead_next;
			continue;
		}
		STORE(*pp, b->dead_next);
		free_block(b);
	}
	pthread_mutex_unlock(&k->tb_lock);
}

uint64_t
dbt_blocks_translated(struct dbt_cpu *c)
{
	return cache_of(c)->translated;
}

static bool
ends_block(const struct insn *i)
{
	/* Control transfers and everything that can change the mode, the
	 * interrupt flag or the translation: the handler table is the
	 * authority (dbt_fn_ends_block), the decoder's opcode the rest. */
	return dbt_fn_ends_block(i->fn);
}


/*
 * The guest bytes a block is decoded from: a copy, so that another vCPU
 * storing to them while the decoder reads cannot make it see two
 * versions of one instruction, and so that insert can tell whether they
 * changed before the page was marked as holding code.  bytes[0, n[0])
 * came from h[0] (the block's first page), then n[1] bytes from h[1]
 * (the page an instruction crosses into).  A block of DBT_BLOCK_MAX
 * instructions of 15 bytes never runs past the end of it.
 */
#define COPY_MAX 1024

struct code_copy {
	uint8_t bytes[COPY_MAX];
	const uint8_t *h[2];
	int n[2];
};

/* n guest bytes into the copy (a function of its own: other vCPUs may
 * store to them meanwhile, on purpose, tools/tsan.supp). */
static __attribute__((noinline)) void
copy_guest_code(uint8_t *to, const uint8_t *from, int n)
{
	memcpy(to, from, (size_t)n);
}

/* Are the guest's bytes still those decoded?  After the page was marked
 * and its write entries dropped: a store that missed the mark is seen
 * here, one after it invalidates (SMP.md M2's pairing). */
static __attribute__((noinline)) bool
copy_same(const struct code_copy *cc)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (memcmp(cc->bytes, cc->h[0], (size_t)cc->n[0]) != 0)
		return false;
	return cc->n[1] == 0 ||
	    memcmp(cc->bytes + cc->n[0], cc->h[1], (size_t)cc->n[1]) == 0;
}

static struct dbt_block *insert(struct dbt_cpu *c, struct dbt_cache *k,
    struct dbt_block *b, const struct insn *tmp, int n, uint64_t pa,
    uint64_t lin, bool crossed, uint64_t pa2, const struct code_copy *cc,
    bool *again);

/* Decode the block at c->rip_lin (physical pa) and insert it.  NULL with
 * *again set when it should be tried once more (the cache was flushed
 * for room, or the bytes changed while it was decoded). */
static struct dbt_block *
translate(struct dbt_cpu *c, uint64_t pa, bool *again)
{
	struct dbt_cache *k = cache_of(c);
	struct insn tmp[DBT_BLOCK_MAX];
	struct code_copy cc;
	uint64_t lin = c->rip_lin, pa2 = 0, xpa;
	const uint8_t *code;
	struct dbt_block *b;
	int n = 0, avail, ncopy, len, pos = 0, k2;
	bool crossed = false;

	*again = false;
	code = dbt_fetch(c, lin, &xpa, &avail);
	if (code == NULL) {
		/* Fetch from MMIO: nothing we can run. */
		snprintf(c->diag, sizeof(c->diag),
		    "instruction fetch from MMIO at physical 0x%llx",
		    (unsigned long long)xpa);
		c->exit_reason = -1;
		return NULL;
	}
	ncopy = avail < COPY_MAX ? avail : COPY_MAX;
	copy_guest_code(cc.bytes, code, ncopy);
	cc.h[0] = code;
	cc.h[1] = NULL;
	for (;;) {
		len = dbt_decode(c, cc.bytes + pos, ncopy - pos, &tmp[n]);
		if (len == 0) {
			/* Crosses into the next page. */
			if (n > 0 || ncopy < avail)
				break;
			code = dbt_fetch(c, lin + (uint64_t)avail, &pa2, &k2);
			if (code == NULL)
				return NULL;
			copy_guest_code(cc.bytes + avail, code, 16 - avail);
			cc.h[1] = code;
			len = dbt_decode(c, cc.bytes, 16, &tmp[n]);
			crossed = true;
			pa2 &= ~0xfffULL;
		}
		if (len == -2) {
			/* Longer than 15 bytes. */
			tmp[n].fn = dbt_op_gp0;
			len = 15;
		} else if (len < 0) {
			len = tmp[n].len;
		}
		pos += len;
		n++;
		if (crossed || ends_block(&tmp[n - 1]) || n == DBT_BLOCK_MAX ||
		    ((lin + (uint64_t)pos) & 0xfff) == 0)
			break;
		if (tmp[n - 1].fn == dbt_op_ud || tmp[n - 1].fn == dbt_op_gp0)
			break;
	}
	cc.n[0] = crossed ? avail : pos;
	cc.n[1] = crossed && pos > avail ? pos - avail : 0;
	b = malloc(sizeof(*b) + sizeof(struct insn) * (size_t)n);
	if (b == NULL)
		return NULL;
	return insert(c, k, b, tmp, n, pa, lin, crossed, pa2, &cc, again);
}

/* Is one of pages[0, n) pinned by a vCPU other than c that is waiting
 * for stores to it (sync_wait)?  tb_lock. */
static bool
others_syncing(struct dbt_cache *k, const struct dbt_cpu *c,
    const uint64_t *pages, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct page_ent *e = page_find(k, pages[i], false);

		if (e != NULL && e->pin != NULL && e->pin != c &&
		    e->pin->syncing)
			return true;
	}
	return false;
}

void
dbt_blocks_unpin(struct dbt_cpu *c)
{
	struct dbt_cache *k = cache_of(c);
	int i;

	pthread_mutex_lock(&k->tb_lock);
	if (c->pin_flushes == k->flushes)
		for (i = 0; i < c->npinned; i++) {
			struct page_ent *e = c->pinned[i];

			if (e->pin == c)
				STORE(e->pin, NULL);
		}
	c->npinned = 0;
	pthread_mutex_unlock(&k->tb_lock);
}

/* Is e among the pages c keeps pinned?  A lookup that decodes again
 * (the bytes changed, or the block went while it waited) pins its pages
 * again: a page is listed once, so a repeat takes no slot and every pin
 * is released at the lookup's end (dbt_blocks_unpin).  tb_lock. */
static bool
pinned_by(const struct dbt_cpu *c, const struct page_ent *e)
{
	int i;

	for (i = 0; i < c->npinned; i++)
		if (c->pinned[i] == e)
			return true;
	return false;
}

/*
 * The write entries the first block of a page dropped (mask: the other
 * vCPUs that had one) may have let a store pass its check that has not
 * landed yet (SMP.md M5): wait, without tb_lock, until each of those
 * vCPUs has passed a point outside any store (dbt_sync_writers), the
 * pages pinned (no write entry for them is made meanwhile, and no other
 * block on them published).  False if b went meanwhile (the pages were
 * written, or the cache flushed): decode again.  tb_lock held.
 */
static bool
sync_wait(struct dbt_cpu *c, struct dbt_cache *k, struct dbt_block *b,
    const bool *dropped, uint64_t mask)
{
	uint64_t flushes = k->flushes;
	int k2;

	if (c->npinned != 0 && c->pin_flushes != k->flushes)
		c->npinned = 0;
	c->pin_flushes = k->flushes;
	for (k2 = 0; k2 < b->npages; k2++) {
		struct page_ent *e = page_find(k, b->page[k2], false);

		if (!dropped[k2] || e == NULL)
			continue;
		if (!pinned_by(c, e) && c->npinned < DBT_PINS)
			c->pinned[c->npinned++] = e;
		STORE(e->pin, c);
	}
	c->syncing = true;
	pthread_mutex_unlock(&k->tb_lock);
	dbt_sync_writers(c, mask);
	pthread_mutex_lock(&k->tb_lock);
	c->syncing = false;
	if (!atomic_load(&b->valid))
		return false;   /* invalidated: on the dead list */
	if (k->flushes != flushes) {
		free(b);        /* on no list any more */
		return false;
	}
	return true;
}

/* Put a decoded block into the cache (tb_lock). */
static struct dbt_block *
insert(struct dbt_cpu *c, struct dbt_cache *k, struct dbt_block *b,
    const struct insn *tmp, int n, uint64_t pa, uint64_t lin, bool crossed,
    uint64_t pa2, const struct code_copy *cc, bool *again)
{
	uint64_t pages[2] = { pa & ~0xfffULL, pa2 }, mask = 0;
	bool dropped[2] = { false, false };
	int k2;

	pthread_mutex_lock(&k->tb_lock);
	/* Another vCPU waits for stores to one of these pages: nothing on
	 * them is published before it is done. */
	while (others_syncing(k, c, pages, crossed ? 2 : 1)) {
		pthread_mutex_unlock(&k->tb_lock);
		dbt_sync_ack(c);
		sched_yield();
		pthread_mutex_lock(&k->tb_lock);
	}
	memset(b, 0, sizeof(*b));
	b->pa = pa;
	b->lin = lin;
	b->mode_key = c->mode_key;
	b->n = n;
	atomic_init(&b->valid, true);
	memcpy(b->insns, tmp, sizeof(struct insn) * (size_t)n);
	b->page[0] = pages[0];
	b->npages = 1;
	if (crossed && pa2 != b->page[0]) {
		b->page[1] = pa2;
		b->npages = 2;
	}
	for (k2 = 0; k2 < b->npages; k2++) {
		struct page_ent *e = page_find(k, b->page[k2], true);

		if (e == NULL) {
			/* Page table full: start over. */
			free(b);
			dbt_blocks_flush(c);
			pthread_mutex_unlock(&k->tb_lock);
			*again = true;
			return NULL;
		}
		/* The page's first block: fast write entries for it go, on
		 * every vCPU (no new ones are made while it holds code).
		 * Marked first, then dropped: a fill racing this sees the
		 * mark (tlb_install looks again), SMP.md M5. */
		dropped[k2] = e->blocks == NULL;
		b->page_next[k2] = e->blocks;
		STORE(e->blocks, b);
		if (dropped[k2]) {
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			mask |= dbt_tlb_drop_writes_all(c, b->page[k2]);
		}
	}
	if (mask != 0 && !sync_wait(c, k, b, dropped, mask)) {
		pthread_mutex_unlock(&k->tb_lock);
		*again = true;
		return NULL;
	}
	if (!copy_same(cc)) {
		/* Stored to meanwhile, through a write entry made before the
		 * page held code: what was decoded is stale.  It goes with
		 * the page's other blocks, unpublished; decode again. */
		for (k2 = 0; k2 < b->npages; k2++)
			dbt_blocks_invalidate(c, b->page[k2], 4096);
		pthread_mutex_unlock(&k->tb_lock);
		*again = true;
		return NULL;
	}
	b->hash_next = k->hash[hash_of(pa, b->mode_key)];
	/* Published whole: a lookup without tb_lock follows the chain. */
	STORE(k->hash[hash_of(pa, b->mode_key)], b);
	k->translated++;
	pthread_mutex_unlock(&k->tb_lock);
	return b;
}

struct dbt_block *
dbt_block_get(struct dbt_cpu *c)
{
	struct dbt_cache *k = cache_of(c);
	struct dbt_block *b;
	const uint8_t *code;
	uint64_t pa;
	int avail, tries;
	bool again;

	code = dbt_fetch(c, c->rip_lin, &pa, &avail);
	if (code == NULL) {
		snprintf(c->diag, sizeof(c->diag),
		    "instruction fetch from MMIO at physical 0x%llx",
		    (unsigned long long)pa);
		return NULL;
	}
	/* Without tb_lock: a block that died is still whole (freed only
	 * once this vCPU has passed its next quiescent point, M4), and
	 * its hash_next still leads on along the chain. */
	for (b = LOAD(k->hash[hash_of(pa, c->mode_key)]); b;
	    b = LOAD(b->hash_next))
		if (b->pa == pa && b->mode_key == c->mode_key &&
		    b->lin == c->rip_lin && atomic_load(&b->valid))
			return b;
	for (tries = 0; tries < 8; tries++) {
		b = translate(c, pa, &again);
		if (b != NULL || !again)
			break;
	}
	if (c->npinned != 0)
		dbt_blocks_unpin(c);
	return b;
}
