/*
 * qcow2 check: count the references to every host cluster (header, L1,
 * refcount table and blocks, L2 tables, data and compressed clusters),
 * compare them with the stored refcounts, and optionally repair.
 *
 *   stored > references   a leak: space wasted, data safe
 *   stored < references   corruption: a write could reuse a live cluster
 *   "copied" flag wrong   corruption (it must say refcount == 1)
 *   offsets unaligned or past the end of the file: corruption
 *
 * Repair rewrites refcounts to the reference count (-r leaks: only where
 * they were too high; -r all: everywhere) and clears the dirty bit.
 * Internal snapshots count: their table, L1 tables and what those reach.
 */
#include "block/block.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-int.h"
#include "util/err.h"

struct ck {
	struct blk *b;
	struct blk_check *res;
	uint16_t *ref;          /* references per host cluster */
	uint64_t n;             /* clusters tracked */
	uint64_t last_data;     /* for fragmentation */
};

static void
note(struct ck *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(struct ck *k, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (k->res->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	k->res->note(k->res->note_ctx, msg);
}

/* Count references to [h, h+len) host bytes. */
static void
add(struct ck *k, uint64_t h, uint64_t len, const char *what)
{
	struct qcow2 *q = k->b->priv;
	uint64_t c, last;

	if (len == 0)
		return;
	c = h >> q->cluster_bits;
	last = (h + len - 1) >> q->cluster_bits;
	for (; c <= last; c++) {
		if (c >= k->n) {
			note(k, "ERROR %s at %#llx is past the end of the "
			    "file", what, (unsigned long long)(c << q->cluster_bits));
			k->res->corruptions++;
			return;
		}
		if (k->ref[c] < 0xffff)
			k->ref[c]++;
	}
}

static int
copied_ok(struct ck *k, uint64_t e, uint64_t h, const char *what)
{
	struct qcow2 *q = k->b->priv;
	uint64_t rc;

	if (qc_refcount_get(k->b, h >> q->cluster_bits, &rc) < 0)
		return -EIO;
	if (((e & QC_OFLAG_COPIED) != 0) != (rc == 1)) {
		note(k, "ERROR OFLAG_COPIED %s: offset=%llx refcount=%llu",
		    what, (unsigned long long)e, (unsigned long long)rc);
		k->res->corruptions++;
	}
	return 0;
}

static int
walk_l2(struct ck *k, uint64_t l2off, bool active)
{
	struct qcow2 *q = k->b->priv;
	uint8_t *t = malloc((size_t)q->cs);
	uint64_t i, e, h, len;

	if (t == NULL)
		return -ENOMEM;
	k->last_data = 0;       /* fragmentation counts within one table */
	if (qc_read_file(k->b, t, (size_t)q->cs, l2off) < 0) {
		free(t);
		return -EIO;
	}
	for (i = 0; i < (1ull << q->l2_bits); i++) {
		e = qc_be64(t + (i << (q->extl2 ? 4 : 3)));
		if (e & QC_OFLAG_COMPRESSED) {
			qc_comp_span(q, e, &h, &len);
			add(k, h & ~511ull, len + (h & 511), "compressed cluster");
			if (!active)
				continue;
			k->res->allocated_clusters++;
			k->res->compressed_clusters++;
			continue;
		}
		h = e & QC_OFFSET_MASK;
		if (h == 0)
			continue;
		if (h & (q->cs - 1)) {
			note(k, "ERROR offset=%llx: data cluster is not "
			    "aligned", (unsigned long long)h);
			k->res->corruptions++;
			continue;
		}
		add(k, h, q->cs, "data cluster");
		if (!active)
			continue;
		k->res->allocated_clusters++;
		if (k->last_data && h != k->last_data + q->cs)
			k->res->fragmented_clusters++;
		k->last_data = h;
		if (h >> q->cluster_bits < k->n &&
		    copied_ok(k, e, h, "data") < 0) {
			free(t);
			return -EIO;
		}
	}
	free(t);
	return 0;
}

/* The snapshot table, and each snapshot's L1 and what it reaches (the
 * "copied" bits are only meaningful in the active tables). */
static int
count_snapshots(struct ck *k)
{
	struct qcow2 *q = k->b->priv;
	const struct qc_snap *s;
	uint64_t i, h;
	uint8_t *l1;
	uint32_t n;

	if (q->nb_snapshots == 0)
		return 0;
	add(k, q->snapshots_off, q->snapshots_len, "snapshot table");
	for (n = 0; n < q->nb_snapshots; n++) {
		s = &q->qsnaps[n];
		if (s->l1_size == 0)
			continue;
		add(k, s->l1_off, s->l1_size * 8ull, "snapshot L1 table");
		if ((l1 = malloc((size_t)s->l1_size * 8)) == NULL)
			return -ENOMEM;
		if (qc_read_file(k->b, l1, (size_t)s->l1_size * 8,
		    s->l1_off) < 0) {
			free(l1);
			return -EIO;
		}
		for (i = 0; i < s->l1_size; i++) {
			h = qc_be64(l1 + i * 8) & QC_OFFSET_MASK;
			if (h == 0)
				continue;
			if (h & (q->cs - 1)) {
				note(k, "ERROR snapshot L2 table %#llx is not "
				    "aligned", (unsigned long long)h);
				k->res->corruptions++;
				continue;
			}
			add(k, h, q->cs, "snapshot L2 table");
			if (h >> q->cluster_bits < k->n &&
			    walk_l2(k, h, false) < 0) {
				free(l1);
				return -EIO;
			}
		}
		free(l1);
	}
	return 0;
}

static int
count_refs(struct ck *k)
{
	struct qcow2 *q = k->b->priv;
	uint64_t i, h;

	add(k, 0, q->cs, "header");
	add(k, q->l1_off, (uint64_t)q->l1_size * 8, "L1 table");
	add(k, q->rt_off, (uint64_t)q->rt_clusters << q->cluster_bits,
	    "refcount table");
	for (i = 0; i < q->rt_entries; i++)
		if (q->rt[i])
			add(k, q->rt[i] & QC_OFFSET_MASK, q->cs,
			    "refcount block");
	for (i = 0; i < q->l1_size; i++) {
		h = q->l1[i] & QC_OFFSET_MASK;
		if (h == 0)
			continue;
		add(k, h, q->cs, "L2 table");
		if (copied_ok(k, q->l1[i], h, "L2 table") < 0 ||
		    walk_l2(k, h, true) < 0)
			return -EIO;
	}
	return count_snapshots(k);
}

static int
compare(struct ck *k, int repair)
{
	struct qcow2 *q = k->b->priv;
	uint64_t c, rc, max = q->rt_entries * q->rb_entries;
	struct blk_check *r = k->res;

	for (c = 0; c < max; c++) {
		if (c >= k->n && (c % q->rb_entries) == 0 &&
		    q->rt[c / q->rb_entries] == 0) {
			c += q->rb_entries - 1;
			continue;
		}
		if (qc_refcount_get(k->b, c, &rc) < 0)
			return -EIO;
		if (c < k->n && k->ref[c] > 0)
			r->image_end = (c + 1) << q->cluster_bits;
		if (rc == (c < k->n ? k->ref[c] : 0))
			continue;
		if (rc > (c < k->n ? k->ref[c] : 0)) {
			note(k, "Leaked cluster %llu refcount=%llu "
			    "reference=%u", (unsigned long long)c,
			    (unsigned long long)rc, c < k->n ? k->ref[c] : 0);
			r->leaks++;
			if (repair & BLK_REPAIR_LEAKS) {
				if (qc_refcount_set(k->b, c, c < k->n ?
				    k->ref[c] : 0) < 0)
					return -EIO;
				r->leaks_fixed++;
			}
		} else {
			note(k, "ERROR cluster %llu refcount=%llu "
			    "reference=%u", (unsigned long long)c,
			    (unsigned long long)rc, k->ref[c]);
			r->corruptions++;
			if ((repair & BLK_REPAIR_ALL) == BLK_REPAIR_ALL) {
				if (qc_refcount_set(k->b, c, k->ref[c]) < 0)
					return -EIO;
				r->corruptions_fixed++;
			}
		}
	}
	return 0;
}

/* The "copied" bit entry e should have, given its cluster's refcount. */
static int
want_copied(struct ck *k, uint64_t e, uint64_t *fixed)
{
	struct qcow2 *q = k->b->priv;
	uint64_t h = e & QC_OFFSET_MASK, rc;

	if (qc_refcount_get(k->b, h >> q->cluster_bits, &rc) < 0)
		return -EIO;
	*fixed = rc == 1 ? e | QC_OFLAG_COPIED : e & ~QC_OFLAG_COPIED;
	return 0;
}

/*
 * After the refcounts are right: the active L1 and L2 entries' "copied"
 * bits made to say refcount == 1 again (a cluster referenced twice
 * loses them, so that a write copies it first).  Entries pointing past
 * unaligned are left as the count reported them; data entries past the
 * end of the file are cleared (that guest cluster becomes unallocated).
 */
static int
fix_copied(struct ck *k)
{
	struct qcow2 *q = k->b->priv;
	uint64_t i, j, h, e, f;
	uint8_t *t, buf[8];

	if (q->incompat & QC_INCOMPAT_EXTL2)
		return 0;
	for (i = 0; i < q->l1_size; i++) {
		h = q->l1[i] & QC_OFFSET_MASK;
		if (h == 0 || (h & (q->cs - 1)) || h >= q->file_size)
			continue;
		if (want_copied(k, q->l1[i], &f) < 0)
			return -EIO;
		if (f != q->l1[i]) {
			note(k, "Repairing OFLAG_COPIED L2 table: "
			    "l1_entry=%llx", (unsigned long long)q->l1[i]);
			qc_put64(buf, f);
			if (qc_write_file(k->b, buf, 8, q->l1_off + i * 8) < 0)
				return -EIO;
			q->l1[i] = f;
			k->res->corruptions_fixed++;
		}
		for (j = 0; j < q->cs / 8; j++) {
			if ((t = qc_cache_get(k->b, &q->l2c, h, false)) == NULL)
				return -EIO;
			e = qc_be64(t + j * 8);
			if ((e & QC_OFLAG_COMPRESSED) ||
			    (e & QC_OFFSET_MASK) == 0 ||
			    (e & QC_OFFSET_MASK & (q->cs - 1)))
				continue;
			if ((e & QC_OFFSET_MASK) >= q->file_size) {
				/* Data that is not there: the cluster
				 * becomes unallocated. */
				note(k, "Repairing L2 entry %llu of %#llx: "
				    "offset=%llx is past the end of the file",
				    (unsigned long long)j,
				    (unsigned long long)h,
				    (unsigned long long)e);
				memset(t + j * 8, 0, 8);
				if (qc_write_file(k->b, t + j * 8, 8,
				    h + j * 8) < 0)
					return -EIO;
				k->res->corruptions_fixed++;
				continue;
			}
			if (want_copied(k, e, &f) < 0)
				return -EIO;
			if (f == e)
				continue;
			note(k, "Repairing OFLAG_COPIED data cluster: "
			    "l2_entry=%llx", (unsigned long long)e);
			qc_put64(t + j * 8, f);
			if (qc_write_file(k->b, t + j * 8, 8, h + j * 8) < 0)
				return -EIO;
			k->res->corruptions_fixed++;
		}
	}
	return 0;
}

/*
 * Before a repair sets refcounts: make the refcount blocks that clusters
 * with references lack.  Made here, their own clusters are counted when
 * they are allocated; made while compare() walks the refcounts, the
 * walk would count them as leaks and set their refcounts back to 0.
 * 1 if any was made.
 */
static int
add_refblocks(struct ck *k)
{
	struct qcow2 *q = k->b->priv;
	uint64_t c, r, n = k->n;
	int made = 0;

	for (c = 0; c < n; c++) {
		if (k->ref[c] == 0)
			continue;
		r = c / q->rb_entries;
		if (r < q->rt_entries && q->rt[r] != 0) {
			c = (r + 1) * q->rb_entries - 1;
			continue;
		}
		if (qc_refblock_ensure(k->b, c) < 0)
			return -EIO;
		made = 1;
	}
	return made;
}

int
qc_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	struct ck k = { b, res, NULL, 0, 0 };
	struct blk_check scratch;
	uint8_t inc[8];
	int ret;

	/* The tables are read from the file: what memory changed first. */
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	/* A refcount block the repair makes must not land on a cluster
	 * whose refcount is too low: append only, from now on. */
	if (repair)
		q->no_reuse = true;
	memset(&scratch, 0, sizeof(scratch));
	k.n = (q->file_size + q->cs - 1) >> q->cluster_bits;
	k.ref = calloc(k.n ? k.n : 1, sizeof(*k.ref));
	if (k.ref == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	res->total_clusters = (b->size + q->cs - 1) >> q->cluster_bits;
	ret = count_refs(&k);
	if (ret == 0 && (repair & BLK_REPAIR_ALL) == BLK_REPAIR_ALL) {
		ret = add_refblocks(&k);
		if (ret > 0) {
			/* Count again: the new blocks (and perhaps a new
			 * refcount table) are references now, with the
			 * refcounts their allocation gave them. */
			free(k.ref);
			k.n = (q->file_size + q->cs - 1) >> q->cluster_bits;
			k.ref = calloc(k.n ? k.n : 1, sizeof(*k.ref));
			if (k.ref == NULL)
				return vm_err_set(err, -ENOMEM,
				    "out of memory");
			k.res = &scratch;
			ret = count_refs(&k);
			k.res = res;
		}
	}
	if (ret == 0)
		ret = compare(&k, repair);
	if (ret == 0 && (repair & BLK_REPAIR_ALL) == BLK_REPAIR_ALL)
		ret = fix_copied(&k);
	free(k.ref);
	if (ret < 0) {
		*err = b->ioerr;
		return ret;
	}
	if (repair && (q->incompat & QC_INCOMPAT_DIRTY)) {
		/* Clean only if a fresh pass finds nothing (a wrong "copied"
		 * flag is right again once its refcount is). */
		struct blk_check again;

		memset(&again, 0, sizeof(again));
		if (qc_check(b, 0, &again, err) < 0)
			return -EIO;
		if (again.corruptions)
			return 0;
	}
	if (repair && (q->incompat & QC_INCOMPAT_DIRTY)) {
		/* The repaired refcounts on disk before the bit goes. */
		if (qc_meta_flush(b) < 0 || qc_sync(b) < 0) {
			*err = b->ioerr;
			return -EIO;
		}
		q->incompat &= ~QC_INCOMPAT_DIRTY;
		qc_put64(inc, q->incompat);
		if (qc_write_file(b, inc, 8, QH_INCOMPAT) < 0) {
			*err = b->ioerr;
			return -EIO;
		}
	}
	if (res->image_end == 0)
		res->image_end = q->file_size;
	/* A pass that repairs nothing and finds the refcounts right (the
	 * one after a repair) makes them trusted again, for reuse and for
	 * trimming the file's tail on close. */
	if (!repair && res->corruptions == 0 && res->leaks == 0 &&
	    !(q->incompat & QC_INCOMPAT_DIRTY))
		q->no_reuse = false;
	return 0;
}
