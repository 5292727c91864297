/*
 * qcow2 writing: refcounts, cluster allocation, guest writes, compressed
 * clusters and growing the virtual size.
 *
 * New clusters go where the refcounts say clusters are free (refcount
 * 0) before the end of the file, and past its end (q->next_free) only
 * when there are none, so space freed by discard, snapshot deletion,
 * shrinking or commit is used again.  Each allocation is written in the
 * order
 *
 *     data  ->  refcount  ->  L2 entry  ->  (new L2 table: L1 entry)
 *
 * and every release in the reverse one (L2 entry cleared, then the
 * refcount dropped), so a cluster with refcount 0 is referenced by
 * nothing on disk and may be overwritten at any time: if the process
 * dies between two of these writes the image has at worst clusters with
 * a refcount and no reference (a leak, which check -r leaks reclaims),
 * never a reference without a refcount.  Clusters reserved but not yet
 * counted lie below q->free_hint, where no search looks; clusters freed
 * during an operation are looked at again only by the next one
 * (qc_alloc_rewind), never by the operation that freed them.  A new
 * refcount block is written whole before the refcount table points to
 * it; a new refcount table or L1 table is written and synced before the
 * header points to it, and the old one is freed after.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2-int.h"
#include "util/err.h"
#include "util/track.h"

static uint64_t
rc_read(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
	return qc_rc_read(q->refcount_order, blk, i);
}

/* The refcount of host cluster number cluster (0 without a block). */
int
qc_refcount_get(struct blk *b, uint64_t cluster, uint64_t *val)
{
	struct qcow2 *q = b->priv;
	uint64_t r = cluster / q->rb_entries;
	uint8_t *blk;

	*val = 0;
	if (r >= q->rt_entries || q->rt[r] == 0)
		return 0;
	blk = qc_cache_get(b, &q->rbc, q->rt[r] & QC_OFFSET_MASK, false);
	if (blk == NULL)
		return -EIO;
	*val = rc_read(q, blk, cluster % q->rb_entries);
	return 0;
}

static int grow_table(struct blk *b, uint64_t need);
static bool hits_metadata(const struct qcow2 *q, uint64_t h, uint64_t len);
static uint64_t find_free(struct blk *b, uint64_t n, bool whole,
    uint64_t *got);

/* Let the next search see the clusters freed since the last call: only
 * at the start of an operation, when nothing is reserved and uncounted. */
void
qc_alloc_rewind(struct qcow2 *q)
{
	if (q->freed_lo < q->free_hint)
		q->free_hint = q->freed_lo;
	q->freed_lo = UINT64_MAX;
}

/* Some waiting refcount drop frees its cluster (takes a refcount of 1
 * to 0; several drops of one cluster are not added up here). */
static bool
drops_free(struct blk *b)
{
	struct qcow2 *q = b->priv;
	uint64_t i, k, rc;

	for (i = 0; i < q->npend; i++)
		for (k = 0; k < q->pend[i * 2 + 1]; k++)
			if (qc_refcount_get(b, (q->pend[i * 2] >>
			    q->cluster_bits) + k, &rc) < 0 || rc == 1)
				return true;
	return false;
}

/*
 * The start of a write: when waiting refcount drops (q->pend) would
 * free clusters and no free cluster is left to take, write the tables
 * back so that the drops are made and what they free is taken before
 * the file grows (a guest that discards, then writes elsewhere); then
 * qc_alloc_rewind.  Otherwise the drops wait on, for the next flush.
 */
static int
op_start(struct blk *b)
{
	struct qcow2 *q = b->priv;
	uint64_t got;

	if (q->npend > 0 && find_free(b, 1, false, &got) == 0 &&
	    drops_free(b) && qc_meta_flush(b) < 0)
		return -EIO;
	qc_alloc_rewind(q);
	return 0;
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

/* The refcount blocks' offsets, sorted, for is_metadata's search (made
 * again after the refcount table changes). */
static int
sort_refblocks(struct qcow2 *q)
{
	uint64_t r, n = 0;

	free(q->rb_sorted);
	q->rb_sorted = malloc((size_t)q->rt_entries * 8 + 8);
	if (q->rb_sorted == NULL)
		return -ENOMEM;
	for (r = 0; r < q->rt_entries; r++)
		if (q->rt[r])
			q->rb_sorted[n++] = q->rt[r];
	qsort(q->rb_sorted, (size_t)n, 8, cmp_u64);
	q->rb_sorted_n = n;
	q->rb_sorted_ok = true;
	return 0;
}

/*
 * Host cluster c holds metadata that the header or the refcount table
 * points to.  Those have refcounts of their own in a sound image; this
 * keeps an image whose refcounts say otherwise from having them
 * overwritten.
 */
static bool
is_metadata(struct qcow2 *q, uint64_t c)
{
	uint64_t h = c << q->cluster_bits, r, sb, lo, hi;
	uint32_t i;

	if (hits_metadata(q, h, q->cs))
		return true;
	sb = (q->snapshots_len + q->cs - 1) & ~(q->cs - 1);
	if (q->nb_snapshots && h < q->snapshots_off + sb &&
	    q->snapshots_off < h + q->cs)
		return true;
	for (i = 0; i < q->nb_snapshots; i++) {
		sb = (uint64_t)q->qsnaps[i].l1_size * 8;
		if (h < q->qsnaps[i].l1_off + sb && q->qsnaps[i].l1_off < h + q->cs)
			return true;
	}
	if (!q->rb_sorted_ok && sort_refblocks(q) < 0)
		return true;    /* no memory: take nothing here */
	lo = 0;
	hi = q->rb_sorted_n;
	while (lo < hi) {
		r = lo + (hi - lo) / 2;
		if (q->rb_sorted[r] < h)
			lo = r + 1;
		else
			hi = r;
	}
	return lo < q->rb_sorted_n && q->rb_sorted[lo] == h;
}

/* is_metadata for the snapshot code's allocator (qcow2-snap.c). */
bool
qc_is_metadata(struct blk *b, uint64_t c)
{
	return is_metadata(b->priv, c);
}

/*
 * The first run of free clusters from q->free_hint on, at most n long;
 * with whole, only a run of exactly n (a free run that reaches the end
 * of the file counts: it goes on past it).  Its first cluster, and its
 * length in *got; 0 when there is none (then append).  A refcount that
 * cannot be read ends the search: appending is always safe, and is all
 * that is done while the refcounts may be wrong (q->no_reuse: a dirty
 * image, or check repairing one, where a refcount of 0 may belong to a
 * cluster still in use).
 */
static uint64_t
find_free(struct blk *b, uint64_t n, bool whole, uint64_t *got)
{
	struct qcow2 *q = b->priv;
	uint64_t end = q->next_free >> q->cluster_bits, c, r, start = 0, len;
	uint64_t cr = UINT64_MAX;
	uint8_t *blk = NULL;

	len = 0;
	if (q->no_reuse)
		return 0;
	for (c = q->free_hint; c < end; c++) {
		r = c / q->rb_entries;
		if (r >= q->rt_entries)
			break;
		if (q->rt[r] == 0) {
			blk = NULL;
		} else if (r != cr || blk == NULL) {
			blk = qc_cache_get(b, &q->rbc, q->rt[r], false);
			if (blk == NULL)
				break;
		}
		cr = r;
		if ((blk == NULL || rc_read(q, blk, c % q->rb_entries) == 0) &&
		    !is_metadata(q, c)) {
			if (len++ == 0)
				start = c;
			if (len == n)
				break;
			continue;
		}
		if (len && !whole)
			break;
		len = 0;
	}
	if (len == 0)
		return 0;
	/* A run that reaches the end of the file goes on past it. */
	if (len < n && start + len < end) {
		if (whole)
			return 0;
		n = len;
	}
	*got = n;
	return start;
}

/*
 * Reserve up to n contiguous clusters (exactly n with whole) for the
 * caller to write and count: free ones if there are, else past the end.
 * Their host offset; their number in *got.
 */
static uint64_t
reserve(struct blk *b, uint64_t n, bool whole, uint64_t *got)
{
	struct qcow2 *q = b->priv;
	uint64_t c, i, k, h;

	c = find_free(b, n, whole, &k);
	if (c == 0) {
		h = q->next_free;
		q->next_free += n << q->cluster_bits;
		q->free_hint = q->next_free >> q->cluster_bits;
		*got = n;
		return h;
	}
	h = c << q->cluster_bits;
	if (h + (k << q->cluster_bits) > q->next_free)
		q->next_free = h + (k << q->cluster_bits);
	q->free_hint = c + k;
	/* Nothing cached may speak for what these clusters held. */
	for (i = 0; i < k; i++) {
		uint64_t at = h + (i << q->cluster_bits);

		qc_cache_drop(b, &q->l2c, at);
		qc_cache_drop(b, &q->rbc, at);
	}
	if (q->comp_off && q->comp_off >= h &&
	    q->comp_off < h + (k << q->cluster_bits))
		q->comp_off = 0;
	q->dbuf_key = 0;
	*got = k;
	return h;
}

/* n contiguous clusters. */
uint64_t
qc_reserve(struct blk *b, uint64_t n)
{
	uint64_t got;

	return reserve(b, n, true, &got);
}

/* A new, zeroed refcount block for table index r. */
static int
new_refblock(struct blk *b, uint64_t r)
{
	struct qcow2 *q = b->priv;
	uint64_t h = qc_reserve(b, 1), c = h >> q->cluster_bits;
	uint8_t *blk, e[8];

	/* Written whole at once: the refcount table will point to it. */
	if ((blk = qc_cache_get(b, &q->rbc, h, true)) == NULL)
		return -EIO;
	if (c / q->rb_entries == r)
		qc_rc_write(q->refcount_order, blk, c % q->rb_entries,
		    1);                                 /* itself */
	if (qc_write_file(b, blk, (size_t)q->cs, h) < 0)
		return -EIO;
	q->rt[r] = h;
	q->rb_sorted_ok = false;
	if (!q->rt_pending) {
		qc_put64(e, h);
		if (qc_write_file(b, e, 8, q->rt_off + r * 8) < 0)
			return -EIO;
	}
	if (c / q->rb_entries != r)
		return qc_refcount_update(b, h, 1, 1);
	return 0;
}

/* The refcount block covering cluster c, made if missing. */
static uint8_t *
refblock_for(struct blk *b, uint64_t c)
{
	struct qcow2 *q = b->priv;
	uint64_t r = c / q->rb_entries;

	if (r >= q->rt_entries && grow_table(b, r) < 0)
		return NULL;
	if (q->rt[r] == 0 && new_refblock(b, r) < 0)
		return NULL;
	return qc_cache_get(b, &q->rbc, q->rt[r], false);
}

/*
 * Give back the clusters at the end of the file that nothing counts
 * (refcount 0, no table the header or refcount table names), as the
 * last thing before an image opened for writing is closed: snapshot
 * deletion, discard, commit and check -r leaks free clusters, and the
 * file shrinks as qemu-img's would.  A cluster of refcount 0 is
 * referenced by nothing on disk (every release clears the reference
 * first), so a crash before or after the truncation leaves at worst
 * the leaks there were.  Nothing is done while the refcounts are not
 * trusted (q->no_reuse: a dirty image, a repair not yet checked clean).
 */
int
qc_trim_tail(struct blk *b)
{
	struct qcow2 *q = b->priv;
	uint64_t end, c, rc, newsize;
	unsigned i;

	if (!q->open_ok || (b->flags & BLK_F_RDONLY) || q->no_reuse ||
	    q->rbc.ndirty || q->l2c.ndirty ||
	    (q->incompat & (QC_INCOMPAT_DIRTY | QC_INCOMPAT_CORRUPT |
	    QC_INCOMPAT_DATA_FILE)))
		return 0;
	end = (q->file_size + q->cs - 1) >> q->cluster_bits;
	for (c = end; c > 1; c--) {
		if (qc_refcount_get(b, c - 1, &rc) < 0)
			return -EIO;
		if (rc != 0 || is_metadata(q, c - 1))
			break;
	}
	newsize = c << q->cluster_bits;
	if (newsize >= q->file_size)
		return 0;
	if (io_ftruncate(b->fd, (off_t)newsize) < 0)
		return vm_err_errno(&b->ioerr, -errno, "%s: truncate",
		    b->path);
	q->file_size = newsize;
	if (q->next_free > newsize)
		q->next_free = newsize;
	if (q->free_hint > c)
		q->free_hint = c;
	if (q->comp_off >= newsize)
		q->comp_off = 0;
	for (i = 0; i < q->l2c.n; i++)
		if (q->l2c.key[i] >= newsize)
			qc_cache_drop(b, &q->l2c, q->l2c.key[i]);
	for (i = 0; i < q->rbc.n; i++)
		if (q->rbc.key[i] >= newsize)
			qc_cache_drop(b, &q->rbc, q->rbc.key[i]);
	q->dbuf_key = 0;
	return 0;
}

/* Make the refcount block covering host cluster c if it is missing
 * (check's repair, before it sets refcounts: a block made then is
 * counted by the allocation, not by the references found before it). */
int
qc_refblock_ensure(struct blk *b, uint64_t c)
{
	return refblock_for(b, c) == NULL ? -EIO : 0;
}

/* Set one refcount (check's repair uses it). */
int
qc_refcount_set(struct blk *b, uint64_t cluster, uint64_t val)
{
	struct qcow2 *q = b->priv;
	uint64_t i = cluster % q->rb_entries;
	uint64_t at = qc_rc_byte(q->refcount_order, i);
	uint8_t *blk = refblock_for(b, cluster);

	if (blk == NULL)
		return -EIO;
	if (val > qc_rc_max(q->refcount_order))
		return qc_fail(b, "refcount %llu of cluster %llu does not fit "
		    "in %u bits", (unsigned long long)val,
		    (unsigned long long)cluster, 1u << q->refcount_order);
	qc_rc_write(q->refcount_order, blk, i, val);
	if (val == 0 && cluster < q->freed_lo)
		q->freed_lo = cluster;
	return qc_write_file(b, blk + at, qc_rc_len(q->refcount_order),
	    q->rt[cluster / q->rb_entries] + at);
}

/*
 * Add delta to the refcounts of the n clusters from host offset host,
 * in the cached refcount blocks (written back by qc_meta_flush).  A
 * drop (delta -1) made while L2 tables or L1 entries are changed in
 * memory, or written but not synced, waits in q->pend: the references
 * it counted must be gone from the file before a lower refcount can
 * reach it.  qc_meta_flush makes it once they are; until then the
 * cluster looks in use (a leak at worst, and not taken again).
 */
int
qc_refcount_update(struct blk *b, uint64_t host, uint64_t n, int delta)
{
	struct qcow2 *q = b->priv;
	uint64_t c = host >> q->cluster_bits, i, k, m, v, *p;
	uint64_t max = qc_rc_max(q->refcount_order);
	uint8_t *blk;

	if (delta < 0 && (q->l2c.ndirty || q->tables_unsynced ||
	    q->l1_dirty_lo < q->l1_dirty_hi)) {
		if (delta != -1)
			return qc_fail(b, "refcount drop of %d", delta);
		if (q->npend == q->pend_cap) {
			size_t cap = q->pend_cap ? q->pend_cap * 2 : 64;

			if ((p = realloc(q->pend, cap * 16)) == NULL)
				return vm_err_set(&b->ioerr, -ENOMEM,
				    "out of memory");
			q->pend = p;
			q->pend_cap = cap;
		}
		q->pend[q->npend * 2] = host;
		q->pend[q->npend * 2 + 1] = n;
		q->npend++;
		return 0;
	}
	while (n > 0) {
		blk = refblock_for(b, c);
		if (blk == NULL)
			return -EIO;
		/* refblock_for may have allocated; fetch again in case the
		 * recursion reused the cache slot. */
		blk = qc_cache_get(b, &q->rbc, q->rt[c / q->rb_entries], false);
		if (blk == NULL)
			return -EIO;
		i = c % q->rb_entries;
		m = q->rb_entries - i < n ? q->rb_entries - i : n;
		for (k = i; k < i + m; k++) {
			v = rc_read(q, blk, k);
			if ((delta < 0 && v < (uint64_t)-delta) ||
			    (delta > 0 && max - v < (uint64_t)delta))
				return qc_fail(b, "refcount of cluster %#llx "
				    "would leave 0..%llu",
				    (unsigned long long)((c - i + k) <<
				    q->cluster_bits), (unsigned long long)max);
			v = delta < 0 ? v - (uint64_t)-delta : v + (uint64_t)delta;
			if (v == 0 && c - i + k < q->freed_lo)
				q->freed_lo = c - i + k;
			qc_rc_write(q->refcount_order, blk, k, v);
		}
		qc_cache_dirty(b, &q->rbc, q->rt[c / q->rb_entries]);
		c += m;
		n -= m;
	}
	return 0;
}

/* The metadata in memory written back and everything synced: before a
 * header field points to a new table. */
/* Make the refcount drops that waited for their tables (all written
 * and synced by now: qc_meta_flush). */
int
qc_apply_drops(struct blk *b)
{
	struct qcow2 *q = b->priv;
	size_t i;

	for (i = 0; i < q->npend; i++)
		if (qc_refcount_update(b, q->pend[i * 2], q->pend[i * 2 + 1],
		    -1) < 0)
			return -EIO;
	q->npend = 0;
	return 0;
}

static int
sync_file(struct blk *b)
{
	if (qc_meta_flush(b) < 0)
		return -EIO;
	return qc_sync(b);
}

/*
 * Replace the refcount table by a larger one that covers index need and
 * every cluster the replacement itself takes.
 */
static int
grow_table(struct blk *b, uint64_t need)
{
	struct qcow2 *q = b->priv;
	uint64_t old_off = q->rt_off, old_n = q->rt_clusters, n, tcl, h, i;
	uint64_t per = q->cs / 8, *nt;
	uint8_t *raw, hdr[12];
	int ret;

	if (q->rt_pending)
		return qc_fail(b, "refcount table growth recursed");
	n = need + 1 > q->rt_entries * 2 ? need + 1 : q->rt_entries * 2;
	for (;;) {
		tcl = (n + per - 1) / per;
		/* Clusters up to the table's end plus its refblocks. */
		if ((q->next_free >> q->cluster_bits) + tcl + n / 8 + 2 <
		    n * q->rb_entries)
			break;
		n *= 2;
	}
	n = tcl * per;
	if (tcl * q->cs > QC_MAX_RT_BYTES)
		return qc_fail(b, "refcount table would exceed %u bytes",
		    QC_MAX_RT_BYTES);
	nt = realloc(q->rt, (size_t)(n * 8));
	raw = malloc((size_t)(n * 8));
	if (nt == NULL || raw == NULL) {
		free(raw);
		if (nt)
			q->rt = nt;
		return -ENOMEM;
	}
	memset(nt + q->rt_entries, 0, (size_t)((n - q->rt_entries) * 8));
	q->rt = nt;
	q->rt_entries = n;
	q->rb_sorted_ok = false;
	q->rt_pending = true;
	h = qc_reserve(b, tcl);
	ret = qc_refcount_update(b, h, tcl, 1);
	q->rt_pending = false;
	for (i = 0; ret == 0 && i < n; i++)
		qc_put64(raw + i * 8, q->rt[i]);
	if (ret == 0)
		ret = qc_write_file(b, raw, (size_t)(n * 8), h);
	free(raw);
	if (ret == 0)
		ret = sync_file(b);
	if (ret < 0)
		return ret;
	qc_put64(hdr, h);
	qc_put32(hdr + 8, (uint32_t)tcl);
	if (qc_write_file(b, hdr, 12, QH_RT_OFFSET) < 0 || sync_file(b) < 0)
		return -EIO;
	q->rt_off = h;
	q->rt_clusters = (uint32_t)tcl;
	return qc_refcount_update(b, old_off, old_n, -1);
}

/*
 * The active L1 entry l1i points to an L2 table that a snapshot shares:
 * write a copy (its entries lose their "copied" bits: what they point to
 * is shared too), count it, point the L1 entry at it, and only then drop
 * the reference to the shared one.  A crash in between leaks.
 */
static int
l2_cow(struct blk *b, uint64_t l1i, uint64_t *l2off)
{
	struct qcow2 *q = b->priv;
	uint64_t old = q->l1[l1i] & QC_OFFSET_MASK, rc, h, i;
	uint8_t *t, *tmp;

	if ((old & (q->cs - 1)) || old < q->cs || old >= q->file_size ||
	    hits_metadata(q, old, q->cs))
		return qc_fail(b, "L1 entry %llu points at %#llx, which is not "
		    "an L2 table", (unsigned long long)l1i,
		    (unsigned long long)old);
	if (qc_refcount_get(b, old >> q->cluster_bits, &rc) < 0)
		return -EIO;
	if (rc == 0)
		return qc_fail(b, "L2 table at %#llx has refcount 0",
		    (unsigned long long)old);
	if (rc == 1) {
		/* Not shared after all: the bit was stale. */
		h = old;
	} else {
		if ((tmp = malloc((size_t)q->cs)) == NULL)
			return -ENOMEM;
		if ((t = qc_cache_get(b, &q->l2c, old, false)) == NULL) {
			free(tmp);
			return -EIO;
		}
		memcpy(tmp, t, (size_t)q->cs);
		for (i = 0; i < q->cs; i += q->extl2 ? 16 : 8)
			qc_put64(tmp + i, qc_be64(t + i) & ~QC_OFLAG_COPIED);
		h = qc_reserve(b, 1);
		if ((t = qc_cache_get(b, &q->l2c, h, true)) == NULL) {
			free(tmp);
			return -EIO;
		}
		memcpy(t, tmp, (size_t)q->cs);
		free(tmp);
		qc_cache_dirty(b, &q->l2c, h);
		if (qc_refcount_update(b, h, 1, 1) < 0)
			return -EIO;
	}
	q->l1[l1i] = h | QC_OFLAG_COPIED;
	qc_l1_dirty(q, l1i);
	if (h != old && qc_refcount_update(b, old, 1, -1) < 0)
		return -EIO;
	*l2off = h;
	return 0;
}

/* The L2 table for guest offset off, allocated if missing. */
static int
l2_for_write(struct blk *b, uint64_t off, uint64_t *l2off)
{
	struct qcow2 *q = b->priv;
	uint64_t l1i = off >> (q->cluster_bits + q->l2_bits), h;

	if (l1i >= q->l1_size)
		return qc_fail(b, "guest offset beyond the L1 table");
	if (q->l1[l1i] & QC_OFFSET_MASK) {
		if (!(q->l1[l1i] & QC_OFLAG_COPIED))
			return l2_cow(b, l1i, l2off);
		*l2off = q->l1[l1i] & QC_OFFSET_MASK;
		return 0;
	}
	h = qc_reserve(b, 1);
	if (qc_cache_get(b, &q->l2c, h, true) == NULL)
		return -EIO;
	qc_cache_dirty(b, &q->l2c, h);
	if (qc_refcount_update(b, h, 1, 1) < 0)
		return -EIO;
	q->l1[l1i] = h | QC_OFLAG_COPIED;
	qc_l1_dirty(q, l1i);
	*l2off = h;
	return 0;
}

/* Drop the reference an old L2 entry held, after it was replaced. */
int
qc_release(struct blk *b, uint64_t e)
{
	struct qcow2 *q = b->priv;
	uint64_t h, len;

	if (e & QC_OFLAG_COMPRESSED) {
		uint64_t first, last;

		qc_comp_span(q, e, &h, &len);
		if (q->dbuf_key == e)
			q->dbuf_key = 0;
		first = h & ~(q->cs - 1);
		last = (h + len - 1) & ~(q->cs - 1);
		return qc_refcount_update(b, first,
		    ((last - first) >> q->cluster_bits) + 1, -1);
	}
	h = e & QC_OFFSET_MASK;
	if (h)
		return qc_refcount_update(b, h, 1, -1);
	return 0;
}

/* Metadata the header points to; an L2 entry must never lead a write
 * there. */
static bool
hits_metadata(const struct qcow2 *q, uint64_t h, uint64_t len)
{
	uint64_t l1b = (uint64_t)q->l1_size * 8;
	uint64_t rtb = (uint64_t)q->rt_clusters << q->cluster_bits;

	return h < q->cs || (h < q->l1_off + l1b && q->l1_off < h + len) ||
	    (h < q->rt_off + rtb && q->rt_off < h + len);
}

/*
 * Write k clusters' worth of the request, all needing new clusters
 * (reserved from host offset h on), at guest offset off (cluster aligned start: coff), from buf covering
 * [off, off+len).  Partial first and last clusters are completed with
 * their current contents (backing file, compressed data or zeros).
 */
static int
write_new(struct blk *b, uint64_t h, uint64_t coff, uint64_t k,
    const uint8_t *buf, uint64_t off, uint64_t len, uint64_t l2off,
    const uint64_t *old)
{
	struct qcow2 *q = b->priv;
	uint64_t total = k * q->cs, head, tail, i;
	uint8_t *tmp, *t;
	int ret = 0;

	head = off - coff;
	tail = total - head - len;
	if (head == 0 && tail == 0) {
		if (qc_write_file(b, buf, (size_t)len, h) < 0)
			return -EIO;
	} else {
		tmp = malloc((size_t)total);
		if (tmp == NULL)
			return -ENOMEM;
		if (head && qc_read(b, tmp, q->cs, coff) < 0)
			ret = -EIO;
		if (ret == 0 && tail && (k > 1 || !head) &&
		    qc_read(b, tmp + total - q->cs, q->cs,
		    coff + total - q->cs) < 0)
			ret = -EIO;
		memcpy(tmp + head, buf, (size_t)len);
		if (ret == 0)
			ret = qc_write_file(b, tmp, (size_t)total, h);
		free(tmp);
		if (ret < 0)
			return ret;
	}
	if (qc_refcount_update(b, h, k, 1) < 0)
		return -EIO;
	t = qc_cache_get(b, &q->l2c, l2off, false);
	if (t == NULL)
		return -EIO;
	i = (coff >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	for (uint64_t j = 0; j < k; j++)
		qc_put64(t + (i + j) * 8, (h + j * q->cs) | QC_OFLAG_COPIED);
	qc_cache_dirty(b, &q->l2c, l2off);
	for (uint64_t j = 0; j < k; j++)
		if (old[j] && qc_release(b, old[j]) < 0)
			return -EIO;
	return 0;
}

/* Subclusters [lo, hi) of 32 as bitmap bits (the low half: allocated). */
static uint64_t
sub_mask(unsigned lo, unsigned hi)
{
	return (hi - lo >= 32 ? 0xffffffffull : ((1ull << (hi - lo)) - 1)) <<
	    lo;
}

/*
 * Extended L2: write [off, off+n), inside one cluster, a subcluster (a
 * 32nd of the cluster) at a time.  The cluster we alone own takes the
 * touched subclusters in place; one with no host cluster gets a new one
 * holding only them (the rest keep reading as zeros or the backing
 * file); a compressed or shared one is copied whole into a new one.  A
 * touched subcluster the write covers only partly is completed with
 * what it read as.  Its bits say allocated, not zero; the entry is
 * changed in the cached table, after the data and the refcount.
 */
static int
write_ext(struct blk *b, const uint8_t *buf, uint64_t off, uint64_t n,
    uint64_t l2off)
{
	struct qcow2 *q = b->priv;
	unsigned scb = q->cluster_bits - 5;
	uint64_t coff = off & ~(q->cs - 1), in = off - coff;
	uint64_t i = (coff >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	uint64_t lo = in >> scb << scb;
	uint64_t hi = (in + n + (1ull << scb) - 1) >> scb << scb;
	uint64_t e, bm, h, nh, mask, rd;
	const uint8_t *src = buf;
	uint8_t *t, *tmp = NULL;
	bool fresh;
	int ret = 0;

	if ((t = qc_cache_get(b, &q->l2c, l2off, false)) == NULL)
		return -EIO;
	e = qc_be64(t + i * 16);
	bm = qc_be64(t + i * 16 + 8);
	h = e & QC_OFFSET_MASK;
	fresh = (e & QC_OFLAG_COMPRESSED) || !(e & QC_OFLAG_COPIED) || h == 0;
	if (!(e & QC_OFLAG_COMPRESSED) && h == 0 && (bm & 0xffffffffull))
		return qc_fail(b, "subclusters at guest offset %#llx are "
		    "allocated in no host cluster", (unsigned long long)coff);
	if (!(e & QC_OFLAG_COMPRESSED) && h != 0 && ((h & (q->cs - 1)) ||
	    h >= q->file_size || hits_metadata(q, h, q->cs)))
		return qc_fail(b, "L2 entry for guest offset %#llx points at "
		    "%#llx, which is not a data cluster",
		    (unsigned long long)coff, (unsigned long long)h);
	/* The touched subclusters' bits: allocated, not zero (the others
	 * of a copied cluster keep theirs). */
	mask = sub_mask((unsigned)(lo >> scb), (unsigned)(hi >> scb));
	if (fresh && ((e & QC_OFLAG_COMPRESSED) || h != 0)) {
		lo = 0;
		hi = q->cs;
	}
	if (lo < in || hi > in + n) {
		if ((tmp = malloc((size_t)(hi - lo))) == NULL)
			return -ENOMEM;
		rd = coff + hi <= b->size ? hi - lo : b->size - coff - lo;
		memset(tmp + rd, 0, (size_t)(hi - lo - rd));
		if (qc_read(b, tmp, rd, coff + lo) < 0) {
			free(tmp);
			return -EIO;
		}
		memcpy(tmp + (in - lo), buf, (size_t)n);
		src = tmp;
	}
	nh = fresh ? qc_reserve(b, 1) : h;
	if (qc_write_file(b, src, (size_t)(hi - lo), nh + lo) < 0 ||
	    (fresh && qc_refcount_update(b, nh, 1, 1) < 0))
		ret = -EIO;
	free(tmp);
	if (ret < 0)
		return ret;
	bm = (e & QC_OFLAG_COMPRESSED) ? 0xffffffffull :
	    (bm | mask) & ~(mask << 32);
	/* qc_read and the allocation may have used the table's slot. */
	if ((t = qc_cache_get(b, &q->l2c, l2off, false)) == NULL)
		return -EIO;
	qc_put64(t + i * 16, nh | QC_OFLAG_COPIED);
	qc_put64(t + i * 16 + 8, bm);
	qc_cache_dirty(b, &q->l2c, l2off);
	if (fresh && ((e & QC_OFLAG_COMPRESSED) || h != 0))
		return qc_release(b, e);
	return 0;
}

/* An L2 entry we may overwrite in place: plain data we alone own. */
static bool
in_place(const struct qcow2 *q, uint64_t e)
{
	return (e & QC_OFLAG_COPIED) && !(e & QC_OFLAG_COMPRESSED) &&
	    (e & QC_OFFSET_MASK) && !(q->version >= 3 && (e & QC_OFLAG_ZERO));
}

/* One L2 table's part of a write: [off, off+len) inside it. */
static int
write_l2(struct blk *b, const uint8_t *buf, uint64_t len, uint64_t off)
{
	struct qcow2 *q = b->priv;
	uint64_t l2off, e, h, coff, n, k, end = off + len, old[64];
	uint8_t *t;
	int ret;

	if ((ret = l2_for_write(b, off, &l2off)) < 0)
		return ret;
	while (q->extl2 && off < end) {
		n = (off | (q->cs - 1)) + 1 - off;
		if (n > end - off)
			n = end - off;
		if ((ret = write_ext(b, buf, off, n, l2off)) < 0)
			return ret;
		buf += n;
		off += n;
	}
	while (off < end) {
		coff = off & ~(q->cs - 1);
		t = qc_cache_get(b, &q->l2c, l2off, false);
		if (t == NULL)
			return -EIO;
		e = qc_be64(t + ((coff >> q->cluster_bits) &
		    ((1ull << q->l2_bits) - 1)) * 8);
		if (in_place(q, e)) {
			h = e & QC_OFFSET_MASK;
			n = coff + q->cs - off < end - off ?
			    coff + q->cs - off : end - off;
			if (h & (q->cs - 1) || h >= q->file_size ||
			    hits_metadata(q, h, q->cs))
				return qc_fail(b, "L2 entry for guest offset "
				    "%#llx points at %#llx, which is not a "
				    "data cluster", (unsigned long long)coff,
				    (unsigned long long)h);
			if (qc_write_file(b, buf, (size_t)n,
			    h + (off - coff)) < 0)
				return -EIO;
			buf += n;
			off += n;
			continue;
		}
		/* A run of clusters that need allocating. */
		for (k = 0; k < 64 && coff + k * q->cs < end; k++) {
			e = qc_be64(t + (((coff >> q->cluster_bits) + k) &
			    ((1ull << q->l2_bits) - 1)) * 8);
			if (in_place(q, e))
				break;
			old[k] = e;
		}
		h = reserve(b, k, false, &k);
		n = coff + k * q->cs - off < end - off ?
		    coff + k * q->cs - off : end - off;
		if ((ret = write_new(b, h, coff, k, buf, off, n, l2off,
		    old)) < 0)
			return ret;
		buf += n;
		off += n;
	}
	return 0;
}

int
qc_write(struct blk *b, const uint8_t *buf, uint64_t len, uint64_t off)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, n;
	int ret;

	if ((ret = op_start(b)) < 0)
		return ret;
	while (len > 0) {
		n = span - (off & (span - 1));
		if (n > len)
			n = len;
		if ((ret = write_l2(b, buf, n, off)) < 0)
			return ret;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * Compress one cluster: raw deflate (a 4 KiB window, as the spec says
 * readers must accept) or one zstd frame.  0 when the result would not
 * save at least a sector, which is not worth a compressed cluster.
 */
size_t
qc_compress(struct blk *b, const void *in, void *out, size_t cap)
{
	const struct qcow2 *q = b->priv;
	z_stream z;
	size_t n;

	if (q->ctype == 1) {
		n = ZSTD_compress(out, cap, in, (size_t)q->cs, 3);
		n = ZSTD_isError(n) ? 0 : n;
	} else {
		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)q->cs;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		n = deflate(&z, Z_FINISH) == Z_STREAM_END ? cap - z.avail_out :
		    0;
		deflateEnd(&z);
	}
	return n > q->cs - 512 ? 0 : n;
}

/*
 * Store one cluster at guest offset off: n compressed bytes, or plain
 * as a normal cluster when n is 0.  Compressed clusters are packed at
 * 512-byte boundaries into host clusters of their own; each host
 * cluster's refcount counts the compressed clusters in it.
 */
int
qc_write_compressed(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off)
{
	struct qcow2 *q = b->priv;
	uint64_t l2off, h, i, e, old, rc;
	uint8_t *t;
	unsigned x = 62 - (q->cluster_bits - 8);

	if (off & (q->cs - 1))
		return -EINVAL;
	if (op_start(b) < 0)
		return -EIO;
	if (n == 0 || n > q->cs - 512)
		return qc_write(b, plain, q->cs < b->size - off ? q->cs :
		    b->size - off, off);
	if (l2_for_write(b, off, &l2off) < 0)
		return -EIO;
	/* A host cluster whose refcount is at its width's maximum (one
	 * compressed cluster, with 1-bit refcounts) takes no more. */
	rc = 0;
	if (q->comp_off != 0 && (q->comp_off & (q->cs - 1)) != 0 &&
	    qc_refcount_get(b, q->comp_off >> q->cluster_bits, &rc) < 0)
		return -EIO;
	if (q->comp_off == 0 || (q->comp_off & (q->cs - 1)) == 0 ||
	    (q->comp_off & (q->cs - 1)) + n > q->cs ||
	    rc >= qc_rc_max(q->refcount_order)) {
		h = qc_reserve(b, 1);
		if (qc_write_file(b, data, n, h) < 0 ||
		    qc_refcount_update(b, h, 1, 1) < 0)
			return -EIO;
	} else {
		h = q->comp_off;
		if (qc_write_file(b, data, n, h) < 0 ||
		    qc_refcount_update(b, h & ~(q->cs - 1), 1, 1) < 0)
			return -EIO;
	}
	q->comp_off = (h + n + 511) & ~511ull;
	e = QC_OFLAG_COMPRESSED | (((h + n - 1) / 512 - h / 512) << x) | h;
	t = qc_cache_get(b, &q->l2c, l2off, false);
	if (t == NULL)
		return -EIO;
	i = (off >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	i *= q->extl2 ? 16 : 8;
	old = qc_be64(t + i);
	qc_put64(t + i, e);
	if (q->extl2)
		qc_put64(t + i + 8, 0);    /* no subcluster bits */
	qc_cache_dirty(b, &q->l2c, l2off);
	if (old)
		return qc_release(b, old);
	return 0;
}

/*
 * Preallocation: every guest cluster gets a data cluster and an L2
 * entry, one L2 table at a time.  The data clusters are made to exist
 * in the file first (a sparse extension, fallocate, or zeros written, as
 * mode asks), then their refcounts, then the L2 entries.
 */
int
qc_preallocate(struct blk *b, const char *mode, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, off, k, h, j, l2off, at;
	unsigned es = q->extl2 ? 4 : 3;         /* log2 of an L2 entry */
	uint8_t *t;
	int r;

	qc_alloc_rewind(q);
	for (off = 0; off < b->size; off += span) {
		k = ((b->size - off < span ? b->size - off : span) + q->cs - 1) >>
		    q->cluster_bits;
		if (l2_for_write(b, off, &l2off) < 0)
			goto fail;
		h = qc_reserve(b, k);
		if (h + (k << q->cluster_bits) > q->file_size &&
		    io_ftruncate(b->fd, (off_t)(h + (k << q->cluster_bits))) < 0) {
			vm_err_errno(&b->ioerr, -errno, "%s", b->path);
			goto fail;
		}
		if (strcmp(mode, "falloc") == 0 && (r = posix_fallocate(b->fd,
		    (off_t)h, (off_t)(k << q->cluster_bits))) != 0) {
			vm_err_errno(&b->ioerr, -r, "%s: preallocation", b->path);
			goto fail;
		}
		for (at = h; strcmp(mode, "full") == 0 &&
		    at < h + (k << q->cluster_bits); at += q->cs) {
			if (qc_write_file(b, q->dbuf, (size_t)q->cs, at) < 0)
				goto fail;
		}
		if (h + (k << q->cluster_bits) > q->file_size)
			q->file_size = h + (k << q->cluster_bits);
		if (qc_refcount_update(b, h, k, 1) < 0)
			goto fail;
		t = qc_cache_get(b, &q->l2c, l2off, false);
		if (t == NULL)
			goto fail;
		for (j = 0; j < k; j++) {
			qc_put64(t + (j << es), (h + (j << q->cluster_bits)) |
			    QC_OFLAG_COPIED);
			/* Extended L2 (as qemu does it): the subclusters
			 * unallocated in the cluster, until written. */
			if (q->extl2)
				qc_put64(t + (j << es) + 8, 0);
		}
		qc_cache_dirty(b, &q->l2c, l2off);
	}
	if (qc_meta_flush(b) < 0)
		goto fail;
	return 0;
fail:
	*err = b->ioerr;
	return -EIO;
}

/* Set the L2 entries of [off, end) (inside one table) to val (0 or a
 * zero flag) and then drop what they held: a crash in between leaks,
 * never corrupts. */
static int
clear_l2(struct blk *b, uint64_t off, uint64_t end, uint64_t val)
{
	struct qcow2 *q = b->priv;
	uint64_t l1i = off >> (q->cluster_bits + q->l2_bits), l2off, i, first;
	uint64_t n = (end - off) >> q->cluster_bits, k, *old;
	uint8_t *t;
	int ret = 0;

	if (l1i >= q->l1_size || (l2off = q->l1[l1i] & QC_OFFSET_MASK) == 0)
		return 0;
	first = (off >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	if ((t = qc_cache_get(b, &q->l2c, l2off, false)) == NULL)
		return -EIO;
	if ((old = malloc((size_t)n * 8 + 8)) == NULL)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		i = (first + k) << (q->extl2 ? 4 : 3);
		old[k] = qc_be64(t + i);
		if (q->extl2) {
			/* every subcluster zero, or unallocated */
			qc_put64(t + i, 0);
			qc_put64(t + i + 8, val ? 0xffffffffull << 32 : 0);
		} else {
			qc_put64(t + i, val);
		}
	}
	qc_cache_dirty(b, &q->l2c, l2off);
	for (k = 0; ret == 0 && k < n; k++)
		if ((old[k] & ~QC_OFLAG_ZERO) && qc_release(b, old[k]) < 0)
			ret = -EIO;
	free(old);
	return ret;
}

/*
 * Discard the whole clusters of [off, off+len) (the last one whole if
 * the range ends at the virtual size): their L2 entries say "unallocated"
 * (reads as zeros, or as the backing file in a version 2 image) or, in a
 * version 3 image with a backing file, "zero"; their clusters are freed
 * for the next writes.  Tables that snapshots share are copied first.
 */
int
qc_discard(struct blk *b, uint64_t off, uint64_t len)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, start, end, e, l1i, l2off;
	uint64_t val = 0;
	int ret;

	qc_alloc_rewind(q);
	start = (off + q->cs - 1) & ~(q->cs - 1);
	end = off + len >= b->size ? (b->size + q->cs - 1) & ~(q->cs - 1) :
	    (off + len) & ~(q->cs - 1);
	if (b->backing_name[0] && q->version >= 3)
		val = QC_OFLAG_ZERO;
	for (; start < end; start = e) {
		e = (start / span + 1) * span;
		if (e > end)
			e = end;
		l1i = start / span;
		if (l1i >= q->l1_size)
			return qc_fail(b, "guest offset beyond the L1 table");
		if ((q->l1[l1i] & QC_OFFSET_MASK) == 0 && val == 0)
			continue;
		if ((ret = l2_for_write(b, start, &l2off)) < 0 ||
		    (ret = clear_l2(b, start, e, val)) < 0)
			return ret;
	}
	return 0;
}

/*
 * Shrink to size: the tail of a cluster cut by the new end zeroed (so
 * that growing again reads zeros), every L2 entry past it cleared and
 * its cluster released, the L2 tables wholly past it unlinked from the
 * L1 table and released, then the size in the header.  The L1 table
 * keeps its length.  Not with internal snapshots (they share clusters),
 * nor extended L2 entries (read only here).
 */
static int
shrink(struct blk *b, uint64_t size, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, start, off, end, l1i, l2off;
	uint64_t tail, e, lo;
	uint8_t be[8] = { 0 }, *zeros;

	if (q->nb_snapshots)
		return vm_err_set(err, -ENOTSUP, "%s: has internal snapshots, "
		    "which share its clusters: delete them (vm-disk snapshot "
		    "-d) before shrinking", b->path);
	if (q->incompat & QC_INCOMPAT_EXTL2)
		return vm_err_set(err, -ENOTSUP, "%s: images with extended L2 "
		    "entries cannot be shrunk", b->path);
	start = (size + q->cs - 1) & ~(q->cs - 1);
	tail = (start < b->size ? start : b->size) - size;
	if (tail && qc_l2_entry(b, size, &e, &l2off) < 0)
		goto fail;
	if (tail && e) {
		if ((zeros = calloc(1, (size_t)tail)) == NULL)
			return vm_err_set(err, -ENOMEM, "out of memory");
		if (qc_write(b, zeros, tail, size) < 0) {
			free(zeros);
			goto fail;
		}
		free(zeros);
	}
	for (off = start; off < b->size; off = end) {
		end = (off / span + 1) * span;
		if (end > b->size)
			end = (b->size + q->cs - 1) & ~(q->cs - 1);
		if (clear_l2(b, off, end, 0) < 0)
			goto fail;
	}
	if (sync_file(b) < 0)
		goto fail;
	for (l1i = (size + span - 1) / span; l1i < q->l1_size; l1i++) {
		if ((l2off = q->l1[l1i] & QC_OFFSET_MASK) == 0)
			continue;
		if (qc_write_file(b, be, 8, q->l1_off + l1i * 8) < 0)
			goto fail;
		q->tables_unsynced = true;
		q->l1[l1i] = 0;
		if (qc_refcount_update(b, l2off, 1, -1) < 0)
			goto fail;
	}
	lo = size;
	qc_put64(be, lo);
	if (qc_write_file(b, be, 8, QH_SIZE) < 0 || sync_file(b) < 0)
		goto fail;
	b->size = size;
	return 0;
fail:
	*err = b->ioerr;
	return err->code ? err->code : -EIO;
}

/*
 * Grow the virtual size (rounded up to a sector): a larger L1 table
 * first if needed (written and synced before the header points to it),
 * then the size field.
 */
int
qc_resize(struct blk *b, uint64_t size, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, need = (size + span - 1) / span;
	uint64_t h, ncl, ocl, i, *nl1;
	uint8_t *raw, hdr[12];

	qc_alloc_rewind(q);
	/* The file's L2 tables and L1 as memory has them: a new L1 table
	 * is made from q->l1. */
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	/* in whole sectors, as qemu reads the size field */
	size = (size + 511) & ~511ull;
	need = (size + span - 1) / span;
	if (size < b->size)
		return shrink(b, size, err);
	if (need * 8 > QC_MAX_L1_BYTES)
		return vm_err_set(err, -EFBIG, "%s: %llu bytes needs an L1 "
		    "table larger than qcow2 allows", b->path,
		    (unsigned long long)size);
	if (need > q->l1_size) {
		ncl = (need * 8 + q->cs - 1) >> q->cluster_bits;
		ocl = ((uint64_t)q->l1_size * 8 + q->cs - 1) >>
		    q->cluster_bits;
		need = (ncl << q->cluster_bits) / 8;
		nl1 = calloc((size_t)need, 8);
		raw = calloc((size_t)need, 8);
		if (nl1 == NULL || raw == NULL) {
			free(nl1);
			free(raw);
			return vm_err_set(err, -ENOMEM, "out of memory");
		}
		memcpy(nl1, q->l1, (size_t)q->l1_size * 8);
		for (i = 0; i < need; i++)
			qc_put64(raw + i * 8, nl1[i]);
		h = qc_reserve(b, ncl);
		if (qc_write_file(b, raw, (size_t)(need * 8), h) < 0 ||
		    qc_refcount_update(b, h, ncl, 1) < 0 || sync_file(b) < 0) {
			free(nl1);
			free(raw);
			*err = b->ioerr;
			return -EIO;
		}
		free(raw);
		qc_put32(hdr, (uint32_t)need);
		qc_put64(hdr + 4, h);
		if (qc_write_file(b, hdr, 12, QH_L1_SIZE) < 0 ||
		    sync_file(b) < 0) {
			free(nl1);
			*err = b->ioerr;
			return -EIO;
		}
		free(q->l1);
		q->l1 = nl1;
		if (q->l1_size && qc_refcount_update(b, q->l1_off, ocl,
		    -1) < 0) {
			*err = b->ioerr;
			return -EIO;
		}
		q->l1_off = h;
		q->l1_size = (uint32_t)need;
	}
	qc_put64(hdr, size);
	if (qc_write_file(b, hdr, 8, QH_SIZE) < 0 || sync_file(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	b->size = size;
	return 0;
}
