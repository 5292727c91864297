/*
 * qcow2 internal snapshots: the snapshot table (read and validated at
 * open), and creating, applying and deleting snapshots.
 *
 *   entry:  0 L1 offset (u64)   8 L1 entries (u32)   12 id length (u16)
 *          14 name length (u16) 16 date s (u32)      20 date ns (u32)
 *          24 VM clock ns (u64) 32 VM state size (u32)
 *          36 extra data length (u32), then the extra data (8: 64-bit
 *          VM state size, 16: virtual size, 24: icount), the id, the
 *          name, and padding to a multiple of 8 bytes.
 *
 * A snapshot holds an L1 table of its own; every L2 table and data
 * cluster counts one reference per L1 table it is reached from, and an
 * entry of the active image has the "copied" bit exactly when its
 * cluster's refcount is 1.  Changing refcounts and those bits can not be
 * done in place without a moment where they disagree, so every
 * operation here is built beside the image and switched to at once:
 *
 *   1. new copies of the active L2 tables (bits set from the final
 *      refcounts), a new active L1, a new snapshot table, and a whole
 *      new refcount table with its blocks, all in clusters past the end
 *      of the file (the old image does not reference them);
 *   2. sync, then one write of header bytes 24..72 (size, L1, refcount
 *      table, snapshot table), then sync.
 *
 * A crash before step 2 leaves the image as it was plus unreferenced
 * bytes at its end; a failure truncates them away.  The old structures
 * are free (refcount 0) in the new refcounts.  Creating makes the old
 * active L1 the snapshot's; applying makes the active image a copy of
 * the snapshot's tables; deleting drops the snapshot's L1.
 */
#include "block/block.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/err.h"
#include "util/track.h"

#define SNAP_TABLE_MAX (64u << 20)      /* bytes, as a sanity bound */
#define SNAP_NAME_MAX  255
#define SNAP_EXTRA     24

/* One entry at *pos: validated, stored in *s and *qs, *pos moved on. */
static int
one(struct blk *b, uint64_t *pos, struct blk_snapshot *s, struct qc_snap *qs,
    struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint8_t h[40], *rest;
	uint64_t l1, len;
	uint32_t l1n, extra;
	uint16_t idn, namen;

	if (*pos + 40 > q->file_size || *pos - q->snapshots_off > SNAP_TABLE_MAX)
		return vm_err_set(err, -EINVAL, "%s: snapshot table runs past "
		    "the end of the file", b->path);
	if (qc_read_file(b, h, 40, *pos) < 0)
		return -EIO;
	l1 = qc_be64(h);
	l1n = qc_be32(h + 8);
	idn = (uint16_t)(h[12] << 8 | h[13]);
	namen = (uint16_t)(h[14] << 8 | h[15]);
	extra = qc_be32(h + 36);
	if (extra > 1024)
		return vm_err_set(err, -EINVAL, "%s: snapshot extra data of %u "
		    "bytes is absurd", b->path, extra);
	if ((uint64_t)l1n * 8 > QC_MAX_L1_BYTES || (l1n && ((l1 & (q->cs - 1)) ||
	    l1 < q->cs || l1 > q->file_size || l1n * 8ull > q->file_size - l1)))
		return vm_err_set(err, -EINVAL, "%s: a snapshot's L1 table is "
		    "unaligned or past the end of the file", b->path);
	len = 40ull + extra + idn + namen;
	if (*pos + len > q->file_size)
		return vm_err_set(err, -EINVAL, "%s: snapshot table runs past "
		    "the end of the file", b->path);
	if ((rest = malloc((size_t)(len - 40) + 1)) == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (qc_read_file(b, rest, (size_t)(len - 40), *pos + 40) < 0) {
		free(rest);
		return -EIO;
	}
	memset(s, 0, sizeof(*s));
	s->date_sec = qc_be32(h + 16);
	s->date_nsec = qc_be32(h + 20);
	s->vm_clock_nsec = qc_be64(h + 24);
	s->vm_state_size = qc_be32(h + 32);
	s->icount = UINT64_MAX;
	qs->disk_size = UINT64_MAX;
	if (extra >= 8)
		s->vm_state_size = qc_be64(rest);
	if (extra >= 16)
		qs->disk_size = qc_be64(rest + 8);
	if (extra >= 24)
		s->icount = qc_be64(rest + 16);
	memcpy(s->id, rest + extra, idn < sizeof(s->id) ? idn :
	    sizeof(s->id) - 1);
	memcpy(s->name, rest + extra + idn, namen < sizeof(s->name) ? namen :
	    sizeof(s->name) - 1);
	free(rest);
	qs->pos = *pos;
	qs->len = (len + 7) & ~7ull;
	qs->l1_off = l1;
	qs->l1_size = l1n;
	qs->idn = idn;
	qs->namen = namen;
	qs->extra = extra;
	*pos += qs->len;
	return 0;
}

int
qc_read_snapshots(struct blk *b, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t pos = q->snapshots_off;
	uint32_t i;
	int ret;

	if (q->nb_snapshots == 0)
		return 0;
	q->snaps = calloc(q->nb_snapshots, sizeof(*q->snaps));
	q->qsnaps = calloc(q->nb_snapshots, sizeof(*q->qsnaps));
	if (q->snaps == NULL || q->qsnaps == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < q->nb_snapshots; i++) {
		ret = one(b, &pos, &q->snaps[i], &q->qsnaps[i], err);
		if (ret < 0) {
			if (ret == -EIO && err)
				*err = b->ioerr;
			return ret;
		}
	}
	q->snapshots_len = pos - q->snapshots_off;
	return 0;
}

int
qc_snapshots(struct blk *b, const struct blk_snapshot **list)
{
	struct qcow2 *q = b->priv;

	*list = q->snaps;
	return (int)q->nb_snapshots;
}

/* What an operation changes: the new active image is a copy of src. */
struct op {
	const uint64_t *src;    /* the L1 the active image will copy */
	uint32_t src_n;
	uint32_t l1_n;          /* entries of the new active L1 (>= src_n) */
	uint64_t size;          /* the new virtual size */
	bool drop_active;       /* the old active L1 loses its references */
	uint64_t drop_off;      /* so does this snapshot L1 (0: none) */
	uint32_t drop_n;
	bool new_table;         /* replace the snapshot table by: */
	const uint8_t *tab;
	uint64_t tab_len;
	uint32_t nsnap;
};

/* The refcounts of the image being built, one per cluster. */
struct tx {
	struct blk *b;
	int32_t *rc;
	uint64_t n;             /* clusters rc covers */
	uint64_t old_n;         /* clusters of the file as it was */
	uint64_t next;          /* the next cluster to allocate */
	uint8_t *l2;            /* one L2 table's bytes */
	struct vm_err *err;
	uint8_t *busy;          /* old_n flags: in use in the old image */
	uint64_t hint;          /* clusters below are not free for us */
	bool reuse;             /* the old refcounts are trusted */
};

static int
tx_cover(struct tx *t, uint64_t n)
{
	int32_t *p;

	if (n <= t->n)
		return 0;
	p = realloc(t->rc, (size_t)n * sizeof(*p));
	if (p == NULL)
		return vm_err_set(t->err, -ENOMEM, "out of memory");
	memset(p + t->n, 0, (size_t)(n - t->n) * sizeof(*p));
	t->rc = p;
	t->n = n;
	return 0;
}

/* Add d to the refcounts of the clusters holding [h, h+len) of the old
 * file; what names the structure for the error. */
static int
tx_old(struct tx *t, uint64_t h, uint64_t len, int d, const char *what)
{
	struct qcow2 *q = t->b->priv;
	uint64_t c, last;

	if (len == 0)
		return 0;
	c = h >> q->cluster_bits;
	last = (h + len - 1) >> q->cluster_bits;
	if (h + len < h || last >= t->old_n || h < q->cs)
		return vm_err_set(t->err, -EINVAL, "%s: %s at %#llx is outside "
		    "the file", t->b->path, what, (unsigned long long)h);
	for (; c <= last; c++)
		t->rc[c] += d;
	return 0;
}

/* k new clusters, refcount 1; the first one's number. */
static uint64_t
tx_alloc(struct tx *t, uint64_t k)
{
	uint64_t c = t->next, i, run = 0, s = 0;

	/* Clusters free in the old image (refcount 0, no table there) and
	 * not yet taken in the new one: writing them cannot touch what
	 * the old header reaches, so a kill before the switch still
	 * leaves the old image.  Past the end of the file otherwise. */
	for (i = t->reuse ? t->hint : t->old_n; i < t->old_n && run < k; i++) {
		if (t->busy[i] || t->rc[i] != 0 || qc_is_metadata(t->b, i)) {
			run = 0;
			if (i == t->hint)
				t->hint = i + 1;
			continue;
		}
		if (run++ == 0)
			s = i;
	}
	if (run == k && k > 0)
		c = s;
	else
		t->next += k;
	for (i = 0; i < k; i++)
		t->rc[c + i] = 1;
	return c;
}

/* The reference one L2 entry holds. */
static int
entry_ref(struct tx *t, uint64_t e, int d)
{
	struct qcow2 *q = t->b->priv;
	uint64_t h, len;

	if (e & QC_OFLAG_COMPRESSED) {
		qc_comp_span(q, e, &h, &len);
		return tx_old(t, h & ~511ull, len + (h & 511), d,
		    "compressed cluster");
	}
	h = e & QC_OFFSET_MASK;
	if (h == 0)
		return 0;
	if (h & (q->cs - 1))
		return vm_err_set(t->err, -EINVAL, "%s: L2 entry %#llx points "
		    "to an unaligned cluster", t->b->path,
		    (unsigned long long)e);
	return tx_old(t, h, q->cs, d, "data cluster");
}

static int
read_l2(struct tx *t, uint64_t h)
{
	struct qcow2 *q = t->b->priv;

	if ((h & (q->cs - 1)) || h < q->cs || (h >> q->cluster_bits) >= t->old_n)
		return vm_err_set(t->err, -EINVAL, "%s: L2 table at %#llx is "
		    "unaligned or outside the file", t->b->path,
		    (unsigned long long)h);
	if (qc_read_file(t->b, t->l2, (size_t)q->cs, h) < 0) {
		*t->err = t->b->ioerr;
		return -EIO;
	}
	return 0;
}

/* Add d for every L2 table of l1 and every cluster they reference. */
static int
walk_l1(struct tx *t, const uint64_t *l1, uint32_t n, int d, bool tables)
{
	struct qcow2 *q = t->b->priv;
	uint64_t i, j, h;
	int ret;

	for (i = 0; i < n; i++) {
		h = l1[i] & QC_OFFSET_MASK;
		if (h == 0)
			continue;
		if ((ret = read_l2(t, h)) < 0 ||
		    (tables && (ret = tx_old(t, h, q->cs, d, "L2 table")) < 0))
			return ret;
		for (j = 0; j < q->cs / 8; j++)
			if ((ret = entry_ref(t, qc_be64(t->l2 + j * 8), d)) < 0)
				return ret;
	}
	return 0;
}

static int
load_refcounts(struct tx *t)
{
	struct qcow2 *q = t->b->priv;
	uint64_t r, i, c, v;
	uint8_t *blk = t->l2;

	for (r = 0; r < q->rt_entries; r++) {
		if (q->rt[r] == 0)
			continue;
		if (qc_read_file(t->b, blk, (size_t)q->cs, q->rt[r]) < 0) {
			*t->err = t->b->ioerr;
			return -EIO;
		}
		for (i = 0; i < q->rb_entries; i++) {
			c = r * q->rb_entries + i;
			if (c >= t->old_n)
				break;
			v = qc_rc_read(q->refcount_order, blk, i);
			if (v > INT32_MAX) {
				return vm_err_set(t->err, -EINVAL, "%s: refcount "
				    "of cluster %llu is %llu: too large for a "
				    "snapshot operation", t->b->path,
				    (unsigned long long)c,
				    (unsigned long long)v);
			}
			t->rc[c] = (int32_t)v;
			t->busy[c] = t->rc[c] != 0;
		}
	}
	return 0;
}

static int
read_l1(struct blk *b, uint64_t off, uint32_t n, uint64_t **out,
    struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint8_t *raw = malloc(n ? (size_t)n * 8 : 1);
	uint64_t i, e;

	int ret = 0;

	*out = calloc(n ? n : 1, 8);
	if (raw == NULL || *out == NULL)
		ret = vm_err_set(err, -ENOMEM, "out of memory");
	else if (qc_read_file(b, raw, (size_t)n * 8, off) < 0) {
		*err = b->ioerr;
		ret = -EIO;
	}
	for (i = 0; ret == 0 && i < n; i++) {
		e = qc_be64(raw + i * 8);
		if ((e & QC_OFFSET_MASK) & (q->cs - 1))
			ret = vm_err_set(err, -EINVAL, "%s: snapshot L1 entry "
			    "%llu is unaligned", b->path,
			    (unsigned long long)i);
		(*out)[i] = e;
	}
	free(raw);
	if (ret < 0) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

/* Count the new image's refcounts; *l1 gets the new active L1. */
static int
plan(struct tx *t, const struct op *o, uint64_t *nl1)
{
	struct qcow2 *q = t->b->priv;
	uint64_t *dl1 = NULL, i, j;
	int ret;

	if ((ret = load_refcounts(t)) < 0)
		return ret;
	for (i = 0; i < o->src_n; i++) {
		if ((o->src[i] & QC_OFFSET_MASK) == 0)
			continue;
		if ((ret = read_l2(t, o->src[i] & QC_OFFSET_MASK)) < 0)
			return ret;
		for (j = 0; j < q->cs / 8; j++)
			if ((ret = entry_ref(t, qc_be64(t->l2 + j * 8), 1)) < 0)
				return ret;
		if ((ret = tx_cover(t, t->next + 1)) < 0)
			return ret;
		nl1[i] = (tx_alloc(t, 1) << q->cluster_bits) | QC_OFLAG_COPIED;
	}
	if (o->drop_active && ((ret = walk_l1(t, q->l1, q->l1_size, -1,
	    true)) < 0 || (ret = tx_old(t, q->l1_off, q->l1_size * 8ull, -1,
	    "L1 table")) < 0))
		return ret;
	if (o->drop_off) {
		if ((ret = read_l1(t->b, o->drop_off, o->drop_n, &dl1,
		    t->err)) == 0 && (ret = walk_l1(t, dl1, o->drop_n, -1,
		    true)) == 0)
			ret = tx_old(t, o->drop_off, o->drop_n * 8ull, -1,
			    "snapshot L1 table");
		free(dl1);
		if (ret < 0)
			return ret;
	}
	if (o->new_table && q->nb_snapshots && (ret = tx_old(t,
	    q->snapshots_off, q->snapshots_len, -1, "snapshot table")) < 0)
		return ret;
	if ((ret = tx_old(t, q->rt_off, (uint64_t)q->rt_clusters <<
	    q->cluster_bits, -1, "refcount table")) < 0)
		return ret;
	for (i = 0; i < q->rt_entries; i++)
		if (q->rt[i] && (ret = tx_old(t, q->rt[i], q->cs, -1,
		    "refcount block")) < 0)
			return ret;
	return 0;
}

static int
put(struct tx *t, const void *buf, size_t len, uint64_t off)
{
	if (qc_write_file(t->b, buf, len, off) < 0) {
		*t->err = t->b->ioerr;
		return -EIO;
	}
	return 0;
}

/* The new active L2 tables: copies of src's, "copied" bits from rc. */
static int
write_l2s(struct tx *t, const struct op *o, const uint64_t *nl1)
{
	struct qcow2 *q = t->b->priv;
	uint64_t i, j, e, h;
	int ret;

	for (i = 0; i < o->src_n; i++) {
		if ((o->src[i] & QC_OFFSET_MASK) == 0)
			continue;
		if ((ret = read_l2(t, o->src[i] & QC_OFFSET_MASK)) < 0)
			return ret;
		for (j = 0; j < q->cs / 8; j++) {
			e = qc_be64(t->l2 + j * 8) & ~QC_OFLAG_COPIED;
			h = e & QC_OFFSET_MASK;
			if (!(e & QC_OFLAG_COMPRESSED) && h &&
			    t->rc[h >> q->cluster_bits] == 1)
				e |= QC_OFLAG_COPIED;
			qc_put64(t->l2 + j * 8, e);
		}
		if ((ret = put(t, t->l2, (size_t)q->cs,
		    nl1[i] & QC_OFFSET_MASK)) < 0)
			return ret;
	}
	return 0;
}

static uint64_t
div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* Refcount block r of the new image, from t->rc, into blk. */
static void
fill_refblock(struct tx *t, uint64_t r, uint8_t *blk)
{
	struct qcow2 *q = t->b->priv;
	uint64_t i, c, e;

	memset(blk, 0, (size_t)q->cs);
	for (i = 0; i < q->rb_entries; i++) {
		c = r * q->rb_entries + i;
		e = c < t->n ? (uint64_t)t->rc[c] : 0;
		qc_rc_write(q->refcount_order, blk, i, e);
	}
}

/* The old refcount block r holds exactly the new image's refcounts
 * (1: the same, 0: not, <0: a read error). */
static int
refblock_same(struct tx *t, uint64_t r, uint8_t *old)
{
	struct qcow2 *q = t->b->priv;

	if (qc_read_file(t->b, old, (size_t)q->cs, q->rt[r]) < 0) {
		*t->err = t->b->ioerr;
		return -EIO;
	}
	fill_refblock(t, r, t->l2);
	return memcmp(old, t->l2, (size_t)q->cs) == 0;
}

/*
 * Where the new image's nrb refcount blocks go (pos[r]): an old block
 * whose refcounts the operation leaves as they were stays where it is
 * (keep[r]: not written again; the old image keeps reading it too),
 * every other one is written to a new cluster.  A new cluster, and the
 * old one a changed block lets go of, change the refcounts of the
 * blocks covering them, so this repeats until no kept block differs;
 * each round keeps fewer, so it ends.  plan() counted every old block
 * as let go of: the kept ones are counted again here.
 */
static int
place_refblocks(struct tx *t, uint64_t nrb, uint64_t *pos, bool *keep)
{
	struct qcow2 *q = t->b->priv;
	uint64_t r;
	uint8_t *old;
	bool again = true;
	int same = 0;

	if ((old = malloc((size_t)q->cs)) == NULL)
		return vm_err_set(t->err, -ENOMEM, "out of memory");
	for (r = 0; r < nrb; r++) {
		keep[r] = r < q->rt_entries && q->rt[r] &&
		    (q->rt[r] >> q->cluster_bits) < t->old_n;
		pos[r] = keep[r] ? q->rt[r] : 0;
		if (keep[r])
			t->rc[q->rt[r] >> q->cluster_bits]++;
	}
	while (again) {
		again = false;
		for (r = 0; r < nrb; r++)
			if (!keep[r] && pos[r] == 0)
				pos[r] = tx_alloc(t, 1) << q->cluster_bits;
		for (r = 0; r < nrb; r++) {
			if (!keep[r])
				continue;
			if ((same = refblock_same(t, r, old)) < 0)
				break;
			if (same)
				continue;
			keep[r] = false;
			t->rc[q->rt[r] >> q->cluster_bits]--;
			pos[r] = 0;
			again = true;
		}
		if (same < 0)
			break;
	}
	free(old);
	return same < 0 ? same : 0;
}

/* The nrb refcount blocks not kept, to their new clusters, and the
 * table (nrt clusters, zeroed in buf) at rth pointing to all of them. */
static int
write_refcounts(struct tx *t, uint8_t *buf, uint64_t nrb, const uint64_t *pos,
    const bool *keep, uint64_t nrt, uint64_t rth)
{
	struct qcow2 *q = t->b->priv;
	uint64_t r;
	int ret;

	for (r = 0; r < nrb; r++) {
		if (!keep[r]) {
			fill_refblock(t, r, t->l2);
			if ((ret = put(t, t->l2, (size_t)q->cs, pos[r])) < 0)
				return ret;
		}
		qc_put64(buf + r * 8, pos[r]);
	}
	return put(t, buf, (size_t)(nrt << q->cluster_bits), rth);
}

/* Lay out and write the new structures, then switch the header. */
static int
build(struct tx *t, const struct op *o, uint64_t *nl1)
{
	struct qcow2 *q = t->b->priv;
	uint64_t l1c, l1h, tabc, tabh, nrb = 0, nrt = 0, rth, r, i, c;
	uint64_t base, *pos;
	uint8_t *buf, hdr[48];
	bool *keep;
	int ret;

	l1c = div_up((uint64_t)o->l1_n * 8, q->cs);
	if (l1c == 0)
		l1c = 1;
	tabc = o->new_table ? div_up(o->tab_len, q->cs) : 0;
	base = t->next + l1c + tabc;
	for (;;) {
		r = div_up(base + nrb + nrt, q->rb_entries);
		i = div_up(r * 8, q->cs);
		if (r == nrb && i == nrt)
			break;
		nrb = r;
		nrt = i;
	}
	if (nrt << q->cluster_bits > QC_MAX_RT_BYTES)
		return vm_err_set(t->err, -EFBIG, "%s: the refcount table "
		    "would be too large", t->b->path);
	if ((ret = tx_cover(t, base + nrb + nrt)) < 0)
		return ret;
	l1h = tx_alloc(t, l1c) << q->cluster_bits;
	tabh = tabc ? tx_alloc(t, tabc) << q->cluster_bits : 0;
	rth = tx_alloc(t, nrt) << q->cluster_bits;
	pos = calloc((size_t)nrb + 1, sizeof(*pos));
	keep = calloc((size_t)nrb + 1, sizeof(*keep));
	buf = calloc(1, (size_t)(l1c > nrt ? l1c : nrt) << q->cluster_bits);
	if (pos == NULL || keep == NULL || buf == NULL)
		ret = vm_err_set(t->err, -ENOMEM, "out of memory");
	else
		ret = place_refblocks(t, nrb, pos, keep);
	for (c = 0; ret == 0 && c < t->n; c++)
		if (t->rc[c] < 0)
			ret = vm_err_set(t->err, -EINVAL, "%s: refcount of "
			    "cluster %llu would be %d: the image's refcounts "
			    "are inconsistent (run vm-disk check)", t->b->path,
			    (unsigned long long)c, t->rc[c]);
		else if ((uint64_t)t->rc[c] > qc_rc_max(q->refcount_order))
			ret = vm_err_set(t->err, -EOVERFLOW, "%s: refcount of "
			    "cluster %llu would be %d, more than %u-bit "
			    "refcounts hold", t->b->path,
			    (unsigned long long)c, t->rc[c],
			    1u << q->refcount_order);
	if (ret == 0)
		ret = write_l2s(t, o, nl1);
	if (ret < 0) {
		free(pos);
		free(keep);
		free(buf);
		return ret;
	}
	for (i = 0; i < o->l1_n; i++)
		qc_put64(buf + i * 8, nl1[i]);
	ret = put(t, buf, (size_t)(l1c << q->cluster_bits), l1h);
	if (ret == 0 && tabc)
		ret = put(t, o->tab, (size_t)o->tab_len, tabh);
	if (ret == 0) {
		memset(buf, 0, (size_t)nrt << q->cluster_bits);
		ret = write_refcounts(t, buf, nrb, pos, keep, nrt, rth);
	}
	free(buf);
	free(pos);
	free(keep);
	/* The tail of the last cluster exists, so the file's size is a
	 * whole number of clusters as check expects (t->next is never
	 * below the old end: the new structures may lie in free clusters
	 * before it). */
	if (ret == 0 && io_ftruncate(t->b->fd, (off_t)(t->next <<
	    q->cluster_bits)) < 0)
		ret = vm_err_errno(t->err, -errno, "%s", t->b->path);
	if (ret == 0 && fdatasync(t->b->fd) < 0)
		ret = vm_err_errno(t->err, -errno, "%s: sync", t->b->path);
	if (ret < 0)
		return ret;
	qc_put64(hdr, o->size);
	qc_put32(hdr + 8, 0);
	qc_put32(hdr + 12, o->l1_n);
	qc_put64(hdr + 16, l1h);
	qc_put64(hdr + 24, rth);
	qc_put32(hdr + 32, (uint32_t)nrt);
	qc_put32(hdr + 36, o->new_table ? o->nsnap : q->nb_snapshots);
	qc_put64(hdr + 40, o->new_table ? tabh : q->snapshots_off);
	if ((ret = put(t, hdr, sizeof(hdr), QH_SIZE)) < 0)
		return ret;
	if (fdatasync(t->b->fd) < 0)
		return vm_err_errno(t->err, -errno, "%s: sync", t->b->path);
	return 1;       /* switched: past the point of no return */
}

/* Do operation o all or nothing; the image is read again after. */
static int
run(struct blk *b, const struct op *o, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t size0 = q->file_size, *nl1;
	struct tx t = { b, NULL, 0, 0, 0, NULL, err, NULL, 0, false };
	int ret;

	if (q->extl2)
		return vm_err_set(err, -ENOTSUP, "%s: snapshots of images with "
		    "extended L2 entries (subclusters) are not supported",
		    b->path);
	/* The tables are read from the file: what memory changed first. */
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	t.old_n = div_up(q->file_size, q->cs);
	t.next = t.old_n;
	t.hint = 1;
	t.reuse = !q->no_reuse;
	nl1 = calloc(o->l1_n ? o->l1_n : 1, 8);
	t.l2 = malloc((size_t)q->cs);
	t.busy = calloc((size_t)t.old_n + 1, 1);
	if (nl1 == NULL || t.l2 == NULL || t.busy == NULL ||
	    tx_cover(&t, t.old_n + 1) < 0) {
		free(nl1);
		free(t.l2);
		free(t.busy);
		free(t.rc);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	ret = plan(&t, o, nl1);
	if (ret == 0)
		ret = build(&t, o, nl1);
	free(nl1);
	free(t.l2);
	free(t.busy);
	free(t.rc);
	if (ret < 0) {
		/* Appended to, or wrote clusters the old image does not
		 * use: cut it back to what it was. */
		if (io_ftruncate(b->fd, (off_t)size0) == 0)
			q->file_size = size0;
		return ret;
	}
	return qc_reopen(b, err);
}

/* The raw bytes of snapshot i's id (which 0) or name (1). */
static const uint8_t *
field(const struct qcow2 *q, const uint8_t *tab, uint32_t i, int which,
    size_t *len)
{
	const struct qc_snap *s = &q->qsnaps[i];
	const uint8_t *p = tab + (s->pos - q->snapshots_off) + 40 + s->extra;

	*len = which ? s->namen : s->idn;
	return which ? p + s->idn : p;
}

/* The snapshot with this id, else this name; -1 if none. */
static int
find(const struct qcow2 *q, const uint8_t *tab, const char *name)
{
	size_t n = strlen(name), len;
	const uint8_t *p;
	uint32_t i;
	int which;

	for (which = 0; which < 2; which++) {
		for (i = 0; i < q->nb_snapshots; i++) {
			p = field(q, tab, i, which, &len);
			if (len == n && memcmp(p, name, n) == 0)
				return (int)i;
		}
	}
	return -1;
}

static int
read_table(struct blk *b, uint8_t **tab, uint64_t extra, struct vm_err *err)
{
	struct qcow2 *q = b->priv;

	*tab = calloc(1, (size_t)(q->snapshots_len + extra) + 1);
	if (*tab == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (q->snapshots_len && qc_read_file(b, *tab,
	    (size_t)q->snapshots_len, q->snapshots_off) < 0) {
		free(*tab);
		*err = b->ioerr;
		return -EIO;
	}
	return 0;
}

static int
check_name(struct blk *b, const char *name, struct vm_err *err)
{
	const unsigned char *p;

	if (name[0] == '\0')
		return vm_err_set(err, -EINVAL, "%s: a snapshot name must not "
		    "be empty", b->path);
	if (strlen(name) > SNAP_NAME_MAX)
		return vm_err_set(err, -EINVAL, "%s: snapshot name longer "
		    "than %d bytes", b->path, SNAP_NAME_MAX);
	for (p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return vm_err_set(err, -EINVAL, "%s: snapshot name "
			    "contains a control character", b->path);
	return 0;
}

int
qc_snap_create(struct blk *b, const char *name, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	struct op o = { 0 };
	unsigned long long id = 0, v;
	char ids[24], *end;
	struct timespec ts;
	uint8_t *tab, *e;
	size_t idn, namen, len, flen;
	const uint8_t *f;
	uint32_t i;
	int ret;

	if ((ret = check_name(b, name, err)) < 0)
		return ret;
	if (q->nb_snapshots >= 65536)
		return vm_err_set(err, -ENOSPC, "%s: too many snapshots",
		    b->path);
	namen = strlen(name);
	len = (40 + SNAP_EXTRA + sizeof(ids) + namen + 7) & ~(size_t)7;
	if ((ret = read_table(b, &tab, len, err)) < 0)
		return ret;
	if (find(q, tab, name) >= 0) {
		free(tab);
		return vm_err_set(err, -EEXIST, "%s: a snapshot with id or "
		    "name '%s' already exists", b->path, name);
	}
	/* The next id: one more than the largest numeric one. */
	for (i = 0; i < q->nb_snapshots; i++) {
		f = field(q, tab, i, 0, &flen);
		if (flen == 0 || flen >= sizeof(ids))
			continue;
		memcpy(ids, f, flen);
		ids[flen] = '\0';
		v = strtoull(ids, &end, 10);
		if (*end == '\0' && v > id)
			id = v;
	}
	idn = (size_t)snprintf(ids, sizeof(ids), "%llu", id + 1);
	len = (40 + SNAP_EXTRA + idn + namen + 7) & ~(size_t)7;
	e = tab + q->snapshots_len;
	clock_gettime(CLOCK_REALTIME, &ts);
	qc_put64(e, q->l1_off);
	qc_put32(e + 8, q->l1_size);
	e[12] = (uint8_t)(idn >> 8);
	e[13] = (uint8_t)idn;
	e[14] = (uint8_t)(namen >> 8);
	e[15] = (uint8_t)namen;
	qc_put32(e + 16, (uint32_t)ts.tv_sec);
	qc_put32(e + 20, (uint32_t)ts.tv_nsec);
	qc_put32(e + 36, SNAP_EXTRA);
	qc_put64(e + 48, b->size);
	qc_put64(e + 56, 0);    /* icount: 0, as qemu-img records it */
	memcpy(e + 40 + SNAP_EXTRA, ids, idn);
	memcpy(e + 40 + SNAP_EXTRA + idn, name, namen);
	o.src = q->l1;
	o.src_n = q->l1_size;
	o.l1_n = q->l1_size;
	o.size = b->size;
	o.new_table = true;
	o.tab = tab;
	o.tab_len = q->snapshots_len + len;
	o.nsnap = q->nb_snapshots + 1;
	ret = run(b, &o, err);
	free(tab);
	return ret;
}

static int
lookup(struct blk *b, const char *name, uint8_t **tab, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	int i, ret;

	if ((ret = read_table(b, tab, 0, err)) < 0)
		return ret;
	i = find(q, *tab, name);
	if (i < 0) {
		free(*tab);
		return vm_err_set(err, -ENOENT, "%s: no snapshot with id or "
		    "name '%s'", b->path, name);
	}
	return i;
}

/* Snapshot name's entry, its size (checked) and its L1 table (*sl1,
 * malloc'd). */
static int
snap_l1(struct blk *b, const char *name, struct qc_snap **sp,
    uint64_t *size, uint64_t **sl1, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, need;
	struct qc_snap *s;
	uint8_t *tab;
	int i;

	if ((i = lookup(b, name, &tab, err)) < 0)
		return i;
	free(tab);
	s = &q->qsnaps[i];
	*size = s->disk_size != UINT64_MAX ? s->disk_size : b->size;
	need = div_up(*size, span);
	if (*size > (1ull << 62) || need * 8 > QC_MAX_L1_BYTES ||
	    (s->l1_size && s->l1_off == q->l1_off))
		return vm_err_set(err, -EINVAL, "%s: snapshot '%s' is "
		    "invalid (its size or L1 table)", b->path, name);
	*sp = s;
	return read_l1(b, s->l1_off, s->l1_size, sl1, err);
}

/*
 * After an apply or a delete that appended its new tables past the old
 * end of the file because the clusters it freed were still the old
 * image's: if the cluster just below the old end is free now, and the
 * free clusters below it would hold the appended ones, lay the active
 * image out once more (an apply of itself: the same guest bytes, the
 * same snapshots).  Its tables then go into the low free clusters, the
 * appended ones are freed, and the free tail of the file is given back
 * on close (qc_trim_tail).  size0 is the file's size before.
 */
static int
compact(struct blk *b, uint64_t size0, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t app, c, end0 = size0 >> q->cluster_bits, nfree = 0, rc;
	struct op o = { 0 };

	if (q->no_reuse || q->file_size <= size0 || end0 < 2)
		return 0;
	app = (q->file_size - size0) >> q->cluster_bits;
	for (c = end0 - 1; c >= 1; c--) {
		if (qc_refcount_get(b, c, &rc) < 0) {
			*err = b->ioerr;
			return -EIO;
		}
		if (rc == 0 && !qc_is_metadata(b, c))
			nfree++;
		else if (c == end0 - 1)
			return 0;       /* the old tail is in use */
	}
	if (nfree < app)
		return 0;
	o.src = q->l1;
	o.src_n = q->l1_size;
	o.l1_n = q->l1_size;
	o.size = b->size;
	o.drop_active = true;
	return run(b, &o, err);
}

int
qc_snap_apply(struct blk *b, const char *name, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span = q->cs << q->l2_bits, need, *sl1, size0;
	struct op o = { 0 };
	struct qc_snap *s;
	int ret;

	if ((ret = snap_l1(b, name, &s, &o.size, &sl1, err)) < 0)
		return ret;
	need = div_up(o.size, span);
	o.src = sl1;
	o.l1_n = need > s->l1_size ? (uint32_t)need : s->l1_size;
	o.src_n = s->l1_size;
	o.drop_active = true;
	size0 = q->file_size;
	ret = run(b, &o, err);
	free(sl1);
	return ret < 0 ? ret : compact(b, size0, err);
}

/* Reads from now on through the snapshot's L1 table and at its size;
 * only the in-memory table changes (a read-only handle). */
int
qc_snap_view(struct blk *b, const char *name, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t *sl1, size;
	struct qc_snap *s;
	int ret;

	if ((ret = snap_l1(b, name, &s, &size, &sl1, err)) < 0)
		return ret;
	free(q->l1);
	q->l1 = sl1;
	q->l1_size = s->l1_size;
	b->size = size;
	q->dbuf_key = 0;
	return 0;
}

int
qc_snap_delete(struct blk *b, const char *name, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	struct op o = { 0 };
	struct qc_snap *s;
	uint8_t *tab;
	uint64_t at, size0;
	int i, ret;

	if ((i = lookup(b, name, &tab, err)) < 0)
		return i;
	s = &q->qsnaps[i];
	at = s->pos - q->snapshots_off;
	memmove(tab + at, tab + at + s->len,
	    (size_t)(q->snapshots_len - at - s->len));
	o.src = q->l1;
	o.src_n = q->l1_size;
	o.l1_n = q->l1_size;
	o.size = b->size;
	o.drop_active = true;
	o.drop_off = s->l1_size ? s->l1_off : 0;
	o.drop_n = s->l1_size;
	o.new_table = true;
	o.tab = tab;
	o.tab_len = q->snapshots_len - s->len;
	o.nsnap = q->nb_snapshots - 1;
	size0 = q->file_size;
	ret = run(b, &o, err);
	free(tab);
	return ret < 0 ? ret : compact(b, size0, err);
}
