/*
 * qcow2: QEMU's copy-on-write image format, versions 2 and 3 (spec:
 * docs/interop/qcow2.txt in QEMU's tree).  This file opens an image,
 * validating every header field and table offset before it is used, and
 * reads: guest offsets are mapped through the L1 and L2 tables to data
 * clusters, zero clusters, compressed clusters (raw deflate or zstd) or
 * nothing, in which case the backing file answers.  Writing, refcounts
 * and allocation are in qcow2-alloc.c; check in qcow2-check.c; create
 * in qcow2-create.c.
 *
 * A hostile image must not make us read or write outside the file's
 * structures: the header's sizes are bounded, tables must lie inside
 * the file, be cluster-aligned and not overlap each other, and every L2
 * entry is checked when it is used.
 */
#include "block/block.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2-int.h"
#include "util/err.h"
#include "util/io.h"

static int
qcow2_probe(const uint8_t *hdr, size_t len)
{
	/* The magic alone: an unsupported version must be refused as
	 * qcow2, not opened as raw (where a write would destroy it). */
	if (len >= 4 && qc_be32(hdr) == QC_MAGIC)
		return 100;
	return 0;
}

/* Record why an operation on the image failed; returns -EIO. */
/* Read len bytes of the host file; past its end reads zeros. */
int
qc_read_file(struct blk *b, void *buf, size_t len, uint64_t off)
{
	int ret = io_pread_zfill(b->fd, buf, len, off);

	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: read at %#llx",
		    b->path, (unsigned long long)off);
	return 0;
}

int
qc_write_file(struct blk *b, const void *buf, size_t len, uint64_t off)
{
	struct qcow2 *q = b->priv;
	struct iovec v = { (void *)buf, len };
	int fd, ret;

	blk_crash_point();
	fd = blk_write_fd(b, &v, 1, off);
	ret = io_pwrite_full(fd, buf, len, off);
	if (ret == -EINVAL && fd != b->fd) {
		blk_direct_off(b);
		ret = io_pwrite_full(b->fd, buf, len, off);
	}
	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: write at %#llx",
		    b->path, (unsigned long long)off);
	if (off + len > q->file_size)
		q->file_size = off + len;
	q->unsynced = true;
	return 0;
}

/* fdatasync, if anything was written since the last one. */
int
qc_sync(struct blk *b)
{
	struct qcow2 *q = b->priv;

	if (!q->unsynced)
		return 0;
	if (fdatasync(b->fd) < 0)
		return vm_err_errno(&b->ioerr, -errno, "%s: sync", b->path);
	q->unsynced = false;
	q->tables_unsynced = false;
	return 0;
}

static int
cache_init(struct qc_cache *c, uint64_t cs, bool is_l2)
{
	unsigned n = 1;

	/* About 4 MiB of tables, at least 4. */
	while (n < 1024 && ((uint64_t)n * 2) * cs <= (4u << 20))
		n *= 2;
	if (n < 4)
		n = 4;
	c->n = n;
	c->is_l2 = is_l2;
	c->ndirty = 0;
	c->key = calloc(n, sizeof(*c->key));
	c->dirty = calloc(n, sizeof(*c->dirty));
	c->mem = malloc((size_t)(n * cs));
	return c->key && c->dirty && c->mem ? 0 : -ENOMEM;
}

static unsigned
slot_of(const struct qcow2 *q, const struct qc_cache *c, uint64_t off)
{
	return (unsigned)((off >> q->cluster_bits) & (c->n - 1));
}

/* Mark the cached table at host offset off changed: qc_meta_flush
 * writes it.  The caller changed its bytes through qc_cache_get. */
void
qc_cache_dirty(struct blk *b, struct qc_cache *c, uint64_t off)
{
	unsigned i = slot_of(b->priv, c, off);

	if (c->key[i] == off && !c->dirty[i]) {
		c->dirty[i] = true;
		c->ndirty++;
	}
}

/* Forget the cached table at host offset off, changes and all: its
 * cluster was freed and is being used again. */
void
qc_cache_drop(struct blk *b, struct qc_cache *c, uint64_t off)
{
	unsigned i = slot_of(b->priv, c, off);

	if (c->key[i] != off)
		return;
	c->key[i] = 0;
	if (c->dirty[i]) {
		c->dirty[i] = false;
		c->ndirty--;
	}
}

/* L1 entry l1i changed in memory: qc_meta_flush writes it. */
void
qc_l1_dirty(struct qcow2 *q, uint64_t l1i)
{
	if (q->l1_dirty_lo >= q->l1_dirty_hi) {
		q->l1_dirty_lo = l1i;
		q->l1_dirty_hi = l1i + 1;
		return;
	}
	if (l1i < q->l1_dirty_lo)
		q->l1_dirty_lo = l1i;
	if (l1i + 1 > q->l1_dirty_hi)
		q->l1_dirty_hi = l1i + 1;
}

/* Write every dirty slot of c, in ascending host order for the disk. */
static int
write_slots(struct blk *b, struct qc_cache *c)
{
	struct qcow2 *q = b->priv;
	unsigned i, best;

	while (c->ndirty > 0) {
		best = c->n;
		for (i = 0; i < c->n; i++)
			if (c->dirty[i] && (best == c->n ||
			    c->key[i] < c->key[best]))
				best = i;
		if (qc_write_file(b, c->mem + (size_t)best * q->cs,
		    (size_t)q->cs, c->key[best]) < 0)
			return -EIO;
		c->dirty[best] = false;
		c->ndirty--;
		if (c->is_l2)
			q->tables_unsynced = true;
	}
	return 0;
}

static int
write_l1(struct blk *b)
{
	struct qcow2 *q = b->priv;
	uint64_t lo = q->l1_dirty_lo, hi = q->l1_dirty_hi, i;
	uint8_t *raw;
	int ret;

	if (lo >= hi)
		return 0;
	if (hi > q->l1_size)
		hi = q->l1_size;
	if ((raw = malloc((size_t)(hi - lo) * 8 + 8)) == NULL)
		return -ENOMEM;
	for (i = lo; i < hi; i++)
		qc_put64(raw + (i - lo) * 8, q->l1[i]);
	ret = hi > lo ? qc_write_file(b, raw, (size_t)(hi - lo) * 8,
	    q->l1_off + lo * 8) : 0;
	free(raw);
	if (ret == 0) {
		q->l1_dirty_lo = q->l1_dirty_hi = 0;
		q->tables_unsynced = true;
	}
	return ret;
}

/*
 * Write back the metadata changed in memory, in the order that keeps
 * the file consistent at every step (qcow2-int.h): refcount blocks,
 * sync, L2 tables, sync, L1 entries; then, if refcount drops wait for
 * those tables, a sync, the drops, and their refcount blocks.  The sync
 * before the L2 tables also makes the data they will point to durable.
 * No sync at the end: a caller that needs it all durable calls qc_sync
 * (blk_flush does).  Returns 0, or -EIO with b->ioerr set; what was not
 * written stays dirty.
 */
int
qc_meta_flush(struct blk *b)
{
	struct qcow2 *q = b->priv;
	bool l1 = q->l1_dirty_lo < q->l1_dirty_hi;
	int ret = -EIO;

	if (q->rbc.ndirty == 0 && q->l2c.ndirty == 0 && !l1 && q->npend == 0)
		return 0;
	if (q->flushing)
		return qc_fail(b, "metadata write-back recursed");
	q->flushing = true;
	if (write_slots(b, &q->rbc) < 0)
		goto out;
	if (q->l2c.ndirty > 0 &&
	    (qc_sync(b) < 0 || write_slots(b, &q->l2c) < 0))
		goto out;
	if (l1 && (qc_sync(b) < 0 || write_l1(b) < 0))
		goto out;
	if (q->npend > 0 && (qc_sync(b) < 0 || qc_apply_drops(b) < 0 ||
	    write_slots(b, &q->rbc) < 0))
		goto out;
	ret = 0;
	q->win_bytes = 0;
	q->win_start_ns = 0;
out:
	q->flushing = false;
	return ret;
}

/*
 * The loss window.  Changed tables stay in memory until a flush, so a
 * writer that never flushes (a long convert, a guest that writes for
 * minutes without a FLUSH) would lose every allocation since it opened
 * the image if it were killed.  After each write, discard or compressed
 * cluster, qc_window writes the tables back and syncs them, as a flush
 * does, once VMKIT_BLOCK_WRITEBACK's bytes (MiB) have been written or
 * its seconds have passed since the first change still unwritten:
 * "MIB,SECONDS", default 256,10; 0 for either turns that bound off.  The
 * time is looked at when the next write comes, and by a writer's event
 * loop while none comes (blk_writeback_idle: vm-run's disks).
 */
void
qc_window_init(struct qcow2 *q)
{
	const char *v = getenv("VMKIT_BLOCK_WRITEBACK");
	unsigned long long mib = 256, sec = 10;
	char c;

	if (v && *v && sscanf(v, "%llu,%llu%c", &mib, &sec, &c) != 2 &&
	    sscanf(v, "%llu%c", &mib, &c) != 1)
		mib = 256, sec = 10;    /* not ours to complain: defaults */
	q->win_max_bytes = mib > (1ull << 40) ? 0 : mib << 20;
	q->win_max_ns = sec > (1ull << 30) ? 0 : sec * 1000000000ull;
}

int
qc_window(struct blk *b, uint64_t n)
{
	struct qcow2 *q = b->priv;
	struct timespec ts;
	uint64_t now;

	if (q->rbc.ndirty == 0 && q->l2c.ndirty == 0 && q->npend == 0 &&
	    q->l1_dirty_lo >= q->l1_dirty_hi) {
		q->win_bytes = 0;
		q->win_start_ns = 0;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (q->win_start_ns == 0)
		q->win_start_ns = now;
	q->win_bytes += n;
	if ((q->win_max_bytes && q->win_bytes >= q->win_max_bytes) ||
	    (q->win_max_ns && now - q->win_start_ns >= q->win_max_ns)) {
		if (qc_meta_flush(b) < 0 || qc_sync(b) < 0)
			return b->ioerr.code ? b->ioerr.code : -EIO;
	}
	return 0;
}

/*
 * The cached bytes of the table cluster at host offset off, read from
 * the file unless fresh (a new table: zeroed).  Valid until the next
 * call for the same cache.  A caller that changes them marks them with
 * qc_cache_dirty.  A changed table that must leave its slot is written
 * back first, with everything else (qc_meta_flush, for the order).
 * NULL on a read or write error (b->ioerr says why).
 */
uint8_t *
qc_cache_get(struct blk *b, struct qc_cache *c, uint64_t off, bool fresh)
{
	struct qcow2 *q = b->priv;
	unsigned i = slot_of(q, c, off);
	uint8_t *p = c->mem + (size_t)i * q->cs;

	if (c->key[i] == off && !fresh)
		return p;
	if (c->key[i] == off)
		qc_cache_drop(b, c, off);   /* freed, now a new table */
	if (c->dirty[i] && q->flushing) {
		/* A refcount block while qc_meta_flush makes the drops:
		 * the tables are on disk, it may go now. */
		if (qc_write_file(b, p, (size_t)q->cs, c->key[i]) < 0)
			return NULL;
		c->dirty[i] = false;
		c->ndirty--;
	} else if (c->dirty[i] && qc_meta_flush(b) < 0) {
		return NULL;
	}
	c->key[i] = 0;
	if (fresh)
		memset(p, 0, q->cs);
	else if (qc_read_file(b, p, q->cs, off) < 0)
		return NULL;
	c->key[i] = off;
	return p;
}

/*
 * The L2 entry for guest offset off (0 when no L2 table), and the L2
 * table's host offset in *l2off (0 when none).
 */
int
qc_l2_entry(struct blk *b, uint64_t off, uint64_t *entry, uint64_t *l2off)
{
	uint64_t bitmap;

	return qc_l2_entry_ext(b, off, entry, &bitmap, l2off);
}

/* The same, and with extended L2 the entry's subcluster bitmap (bits
 * 0-31 allocated, 32-63 reading as zeros; 0 without extended L2). */
int
qc_l2_entry_ext(struct blk *b, uint64_t off, uint64_t *entry,
    uint64_t *bitmap, uint64_t *l2off)
{
	struct qcow2 *q = b->priv;
	uint64_t l1i = off >> (q->cluster_bits + q->l2_bits);
	uint64_t l2i = (off >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
	uint8_t *t;

	*entry = 0;
	*bitmap = 0;
	*l2off = 0;
	if (l1i >= q->l1_size)
		return 0;
	*l2off = q->l1[l1i] & QC_OFFSET_MASK;
	if (*l2off == 0)
		return 0;
	t = qc_cache_get(b, &q->l2c, *l2off, false);
	if (t == NULL)
		return -EIO;
	if (q->extl2) {
		*entry = qc_be64(t + l2i * 16);
		*bitmap = qc_be64(t + l2i * 16 + 8);
	} else {
		*entry = qc_be64(t + l2i * 8);
	}
	return 0;
}

/* Host offset and byte length of a compressed cluster's data. */
void
qc_comp_span(const struct qcow2 *q, uint64_t e, uint64_t *host, uint64_t *len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t nsect = (e >> x) & ((1ull << (62 - x)) - 1);

	*host = e & ((1ull << x) - 1);
	*len = (nsect + 1) * 512 - (*host & 511);
}

static enum qc_kind
kind_of(const struct qcow2 *q, uint64_t e)
{
	if (e & QC_OFLAG_COMPRESSED)
		return QC_COMPRESSED;
	if (q->version >= 3 && (e & QC_OFLAG_ZERO))
		return QC_ZERO;
	return (e & QC_OFFSET_MASK) ? QC_DATA : QC_UNALLOC;
}

/* A host cluster offset an L2 entry for guest offset off gives. */
static int
check_host(struct blk *b, uint64_t off, uint64_t h)
{
	struct qcow2 *q = b->priv;

	if (h & (q->cs - 1))
		return qc_fail(b, "L2 entry for guest offset %#llx "
		    "points to unaligned host offset %#llx",
		    (unsigned long long)off, (unsigned long long)h);
	if (h >= q->file_size)
		return qc_fail(b, "L2 entry for guest offset %#llx "
		    "points past the end of the file (%#llx)",
		    (unsigned long long)off, (unsigned long long)h);
	if (h < q->cs)
		return qc_fail(b, "L2 entry for guest offset %#llx "
		    "points into the header", (unsigned long long)off);
	return 0;
}

/*
 * map for extended L2: the kind is per subcluster (a 32nd of a
 * cluster) from the entry's bitmap, but for a compressed cluster, which
 * is whole.  Subclusters both allocated and zero, or allocated in an
 * entry with no host cluster, are corruption.
 */
static int
map_ext(struct blk *b, uint64_t off, uint64_t len, enum qc_kind *kind,
    uint64_t *host, uint64_t *pnum, uint64_t *entry)
{
	struct qcow2 *q = b->priv;
	unsigned scb = q->cluster_bits - 5, i;
	uint64_t e, bm, l2off, h, at, step, n = 0, next = 0, pos = off;
	enum qc_kind k;

	while (n < len) {
		if (qc_l2_entry_ext(b, pos, &e, &bm, &l2off) < 0)
			return -EIO;
		i = (unsigned)(pos >> scb) & 31;
		h = e & QC_OFFSET_MASK;
		at = UINT64_MAX;
		step = (1ull << scb) - (pos & ((1ull << scb) - 1));
		if (e & QC_OFLAG_COMPRESSED) {
			k = QC_COMPRESSED;
			step = q->cs - (pos & (q->cs - 1));
		} else if ((bm >> i & 1) && (bm >> (32 + i) & 1)) {
			return qc_fail(b, "subcluster at guest offset %#llx is "
			    "both allocated and zero", (unsigned long long)pos);
		} else if (bm >> i & 1) {
			if (h == 0)
				return qc_fail(b, "subcluster at guest offset "
				    "%#llx is allocated in no host cluster",
				    (unsigned long long)pos);
			if (check_host(b, pos, h) < 0)
				return -EIO;
			k = QC_DATA;
			at = h + (pos & (q->cs - 1));
		} else {
			k = bm >> (32 + i) & 1 ? QC_ZERO : QC_UNALLOC;
		}
		if (n == 0) {
			*kind = k;
			*entry = e;
			*host = at;
			next = at;
		} else if (k != *kind || k == QC_COMPRESSED ||
		    (k == QC_DATA && at != next)) {
			break;
		}
		n += step;
		pos += step;
		if (k == QC_DATA)
			next += step;
	}
	*pnum = n < len ? n : len;
	return 0;
}

/*
 * Map [off, off+len) to the extent at off that has one kind (and, for
 * data, contiguous host clusters), within one L2 table.
 */
static int
map(struct blk *b, uint64_t off, uint64_t len, enum qc_kind *kind,
    uint64_t *host, uint64_t *pnum, uint64_t *entry)
{
	struct qcow2 *q = b->priv;
	uint64_t e, l2off, in = off & (q->cs - 1), n, h, e2, l2o2, next;
	uint64_t l2span = q->cs << q->l2_bits;
	uint64_t lim = l2span - (off & (l2span - 1));

	if (q->extl2)
		return map_ext(b, off, len < lim ? len : lim, kind, host, pnum,
		    entry);
	if (qc_l2_entry(b, off, &e, &l2off) < 0)
		return -EIO;
	*entry = e;
	*kind = kind_of(q, e);
	h = e & QC_OFFSET_MASK;
	if ((*kind == QC_DATA || (*kind == QC_ZERO && h)) &&
	    check_host(b, off, h) < 0)
		return -EIO;
	*host = *kind == QC_DATA ? h + in : UINT64_MAX;
	if (len > lim)
		len = lim;
	n = q->cs - in;
	if (*kind == QC_COMPRESSED) {
		*pnum = n < len ? n : len;
		return 0;
	}
	next = h + q->cs;
	while (n < len) {
		if (qc_l2_entry(b, off + n, &e2, &l2o2) < 0)
			return -EIO;
		if (kind_of(q, e2) != *kind)
			break;
		if (*kind == QC_DATA) {
			if ((e2 & QC_OFFSET_MASK) != next)
				break;
			next += q->cs;
		}
		n += q->cs;
	}
	*pnum = n < len ? n : len;
	return 0;
}

static int
decompress(struct blk *b, uint64_t e)
{
	struct qcow2 *q = b->priv;
	uint64_t host, clen;
	z_stream z;
	int ret;

	if (q->dbuf_key == e)
		return 0;
	qc_comp_span(q, e, &host, &clen);
	if (host >= q->file_size || host < q->cs)
		return qc_fail(b, "compressed cluster at %#llx outside the "
		    "file", (unsigned long long)host);
	if (clen > q->file_size - host)
		clen = q->file_size - host;
	if (qc_read_file(b, q->cbuf, (size_t)clen, host) < 0)
		return -EIO;
	q->dbuf_key = 0;
	if (q->ctype == 1) {
		ZSTD_DStream *ds = ZSTD_createDStream();
		ZSTD_inBuffer in = { q->cbuf, (size_t)clen, 0 };
		ZSTD_outBuffer out = { q->dbuf, (size_t)q->cs, 0 };
		size_t r = 1;

		if (ds == NULL)
			return -ENOMEM;
		ZSTD_initDStream(ds);
		while (out.pos < out.size && in.pos < in.size) {
			r = ZSTD_decompressStream(ds, &out, &in);
			if (ZSTD_isError(r) || r == 0)
				break;
		}
		ZSTD_freeDStream(ds);
		if (ZSTD_isError(r) || out.pos != out.size)
			return qc_fail(b, "bad zstd data in compressed cluster "
			    "at %#llx", (unsigned long long)host);
	} else {
		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, -12) != Z_OK)
			return -ENOMEM;
		z.next_in = q->cbuf;
		z.avail_in = (uInt)clen;
		z.next_out = q->dbuf;
		z.avail_out = (uInt)q->cs;
		ret = inflate(&z, Z_FINISH);
		inflateEnd(&z);
		if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR) ||
		    z.avail_out != 0)
			return qc_fail(b, "bad deflate data in compressed "
			    "cluster at %#llx", (unsigned long long)host);
	}
	q->dbuf_key = e;
	return 0;
}

/* Read guest bytes [off, off+len); may run past the virtual size within
 * the last cluster (copy-on-write of a partial cluster needs that). */
int
qc_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct qcow2 *q = b->priv;
	enum qc_kind kind;
	uint64_t host, n, e;

	while (len > 0) {
		if (map(b, off, len, &kind, &host, &n, &e) < 0)
			return -EIO;
		switch (kind) {
		case QC_DATA:
			if (qc_read_file(b, buf, (size_t)n, host) < 0)
				return -EIO;
			break;
		case QC_ZERO:
			memset(buf, 0, (size_t)n);
			break;
		case QC_COMPRESSED:
			if (decompress(b, e) < 0)
				return -EIO;
			memcpy(buf, q->dbuf + (off & (q->cs - 1)), (size_t)n);
			break;
		case QC_UNALLOC:
			if (blk_read_backing(b, buf, (size_t)n, off) < 0)
				return -EIO;
			break;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Vectors are done one element at a time: each maps on its own. */
static int
rwv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off,
    bool write)
{
	int k, ret = 0;

	for (k = 0; k < iovcnt && ret == 0; k++) {
		ret = write ? qc_write(b, iov[k].iov_base, iov[k].iov_len, off) :
		    qc_read(b, iov[k].iov_base, iov[k].iov_len, off);
		off += iov[k].iov_len;
	}
	return ret;
}

static int
qcow2_preadv(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off)
{
	return rwv(b, iov, iovcnt, off, false);
}

static int
qcow2_pwritev(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off)
{
	int k, ret = rwv(b, iov, iovcnt, off, true);
	uint64_t n = 0;

	for (k = 0; k < iovcnt; k++)
		n += iov[k].iov_len;
	return ret < 0 ? ret : qc_window(b, n);
}

static int
qcow2_write_compressed(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off)
{
	int ret = qc_write_compressed(b, data, n, plain, off);
	const struct qcow2 *q = b->priv;

	return ret < 0 ? ret : qc_window(b, q->cs);
}

/* The time bound of the loss window (qc_window) for an idle writer: an
 * I/O error is left in b->ioerr for the next flush to report. */
static uint64_t
qcow2_writeback_idle(struct blk *b)
{
	struct qcow2 *q = b->priv;

	if (qc_window(b, 0) < 0 || q->win_start_ns == 0 || q->win_max_ns == 0)
		return 0;
	return q->win_start_ns + q->win_max_ns;
}

static int
qcow2_discard(struct blk *b, uint64_t off, uint64_t len)
{
	int ret = qc_discard(b, off, len);

	return ret < 0 ? ret : qc_window(b, 0);
}

static int
qcow2_block_status(struct blk *b, uint64_t off, uint64_t len,
    uint64_t *pnum, uint64_t *host)
{
	enum qc_kind kind;
	uint64_t e;

	if (map(b, off, len, &kind, host, pnum, &e) < 0)
		return -EIO;
	switch (kind) {
	case QC_DATA:
		return BLK_S_DATA;
	case QC_ZERO:
		return BLK_S_ZERO;
	case QC_COMPRESSED:
		return BLK_S_DATA | BLK_S_COMPRESSED;
	default:
		return 0;
	}
}

static bool
overlap(uint64_t a, uint64_t alen, uint64_t c, uint64_t clen)
{
	return a < c + clen && c < a + alen;
}

/* Header fields: bounds and alignment (the spec's "must"s). */
static int
check_header(struct blk *b, const uint8_t *h, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t span, need, l1b, rtb;

	q->cluster_bits = qc_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return vm_err_set(err, -EINVAL, "%s: cluster size 2^%u is "
		    "outside 512 B..2 MiB", b->path, q->cluster_bits);
	q->cs = 1ull << q->cluster_bits;
	q->extl2 = q->version >= 3 &&
	    (qc_be64(h + QH_INCOMPAT) & QC_INCOMPAT_EXTL2);
	q->l2_bits = q->cluster_bits - (q->extl2 ? 4 : 3);
	if (q->extl2 && q->cluster_bits < 14)
		return vm_err_set(err, -EINVAL, "%s: extended L2 entries with "
		    "%llu-byte clusters (subclusters under 512 bytes) are "
		    "invalid", b->path, (unsigned long long)q->cs);
	if (qc_be32(h + 32) != 0)
		return vm_err_set(err, -ENOTSUP, "%s: encrypted images are "
		    "not supported", b->path);
	b->size = qc_be64(h + QH_SIZE);
	if (b->size > (1ull << 62))
		return vm_err_set(err, -EINVAL, "%s: virtual size %llu is "
		    "absurd", b->path, (unsigned long long)b->size);
	q->l1_size = qc_be32(h + QH_L1_SIZE);
	q->l1_off = qc_be64(h + 40);
	span = q->cs << q->l2_bits;
	need = (b->size + span - 1) / span;
	l1b = (uint64_t)q->l1_size * 8;
	if (l1b > QC_MAX_L1_BYTES)
		return vm_err_set(err, -EINVAL, "%s: L1 table of %u entries "
		    "is too large", b->path, q->l1_size);
	if (q->l1_size < need)
		return vm_err_set(err, -EINVAL, "%s: L1 table (%u entries) "
		    "too small for the virtual size", b->path, q->l1_size);
	if (l1b && ((q->l1_off & (q->cs - 1)) || q->l1_off < q->cs ||
	    q->l1_off > q->file_size || l1b > q->file_size - q->l1_off))
		return vm_err_set(err, -EINVAL, "%s: L1 table offset %#llx is "
		    "unaligned or past the end of the file", b->path,
		    (unsigned long long)q->l1_off);
	q->rt_off = qc_be64(h + QH_RT_OFFSET);
	q->rt_clusters = qc_be32(h + 56);
	rtb = (uint64_t)q->rt_clusters << q->cluster_bits;
	if (q->rt_clusters == 0 || rtb > QC_MAX_RT_BYTES)
		return vm_err_set(err, -EINVAL, "%s: refcount table of %u "
		    "clusters is absurd", b->path, q->rt_clusters);
	if ((q->rt_off & (q->cs - 1)) || q->rt_off < q->cs ||
	    q->rt_off > q->file_size || rtb > q->file_size - q->rt_off)
		return vm_err_set(err, -EINVAL, "%s: refcount table offset "
		    "%#llx is unaligned or past the end of the file", b->path,
		    (unsigned long long)q->rt_off);
	if (l1b && overlap(q->l1_off, l1b, q->rt_off, rtb))
		return vm_err_set(err, -EINVAL, "%s: the L1 table and the "
		    "refcount table overlap", b->path);
	q->nb_snapshots = qc_be32(h + 60);
	q->snapshots_off = qc_be64(h + 64);
	if (q->nb_snapshots > 65536 || (q->nb_snapshots &&
	    ((q->snapshots_off & (q->cs - 1)) || q->snapshots_off < q->cs ||
	    q->snapshots_off >= q->file_size)))
		return vm_err_set(err, -EINVAL, "%s: snapshot table is "
		    "invalid", b->path);
	return 0;
}

/* Version 3 fields: features, refcount width, header length, compression. */
static int
check_v3(struct blk *b, const uint8_t *h, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t known = QC_INCOMPAT_DIRTY | QC_INCOMPAT_CORRUPT |
	    QC_INCOMPAT_COMPRESSION | QC_INCOMPAT_EXTL2;

	q->refcount_order = 4;
	q->header_len = 72;
	if (q->version < 3)
		return 0;
	q->incompat = qc_be64(h + QH_INCOMPAT);
	q->compat = qc_be64(h + 80);
	q->autoclear = qc_be64(h + 88);
	q->refcount_order = qc_be32(h + 96);
	q->header_len = qc_be32(h + 100);
	if (q->header_len < 104 || q->header_len > q->cs ||
	    (q->header_len & 7))
		return vm_err_set(err, -EINVAL, "%s: header length %llu is "
		    "invalid", b->path, (unsigned long long)q->header_len);
	if (q->refcount_order > 6)
		return vm_err_set(err, -EINVAL, "%s: refcount order %u is "
		    "invalid", b->path, q->refcount_order);
	if (q->incompat & QC_INCOMPAT_DATA_FILE)
		return vm_err_set(err, -ENOTSUP, "%s: images with an external "
		    "data file are not supported", b->path);
	if (q->incompat & ~known)
		return vm_err_set(err, -ENOTSUP, "%s: unknown incompatible "
		    "features %#llx", b->path,
		    (unsigned long long)(q->incompat & ~known));
	if (q->incompat & QC_INCOMPAT_COMPRESSION) {
		if (q->header_len < 105)
			return vm_err_set(err, -EINVAL, "%s: compression type "
			    "flagged but missing from the header", b->path);
		q->ctype = h[104];
		if (q->ctype > 1)
			return vm_err_set(err, -ENOTSUP, "%s: unknown "
			    "compression type %d", b->path, q->ctype);
	}
	return 0;
}

/* Header extensions and the backing file name, all in cluster 0. */
static int
read_extensions(struct blk *b, const uint8_t *h, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t bo = qc_be64(h + 8), end = q->cs, p = q->header_len;
	uint32_t bl = qc_be32(h + 16), type, len;

	if (bo) {
		if (bl == 0 || bl >= sizeof(b->backing_name) || bo < p ||
		    bo >= q->cs || bl > q->cs - bo)
			return vm_err_set(err, -EINVAL, "%s: backing file name "
			    "is outside the header cluster", b->path);
		if (memchr(h + bo, 0, bl) != NULL)
			return vm_err_set(err, -EINVAL, "%s: backing file name "
			    "contains a NUL byte", b->path);
		memcpy(b->backing_name, h + bo, bl);
		b->backing_name[bl] = '\0';
		end = bo;
	}
	while (end - p >= 8) {
		type = qc_be32(h + p);
		len = qc_be32(h + p + 4);
		p += 8;
		if (type == 0)
			break;
		if (len > end - p)
			return vm_err_set(err, -EINVAL, "%s: header extension "
			    "%#x runs past the header", b->path, type);
		if (type == 0xe2792aca) {
			if (len >= sizeof(b->backing_fmt))
				return vm_err_set(err, -EINVAL, "%s: backing "
				    "format name too long", b->path);
			memcpy(b->backing_fmt, h + p, len);
			b->backing_fmt[len] = '\0';
		}
		p += (len + 7ull) & ~7ull;
	}
	if (b->backing_fmt[0] && blk_driver_find(b->backing_fmt) == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: backing format '%s' is "
		    "not supported", b->path, b->backing_fmt);
	return 0;
}

/* Load a table of n big-endian u64 at off; entries must point inside the
 * file at cluster-aligned offsets.  Refcount table entries (strict) are
 * bare offsets: any other bit set is refused, since the writer uses
 * them as they are. */
static int
load_table(struct blk *b, uint64_t off, uint64_t n, uint64_t **out,
    const char *what, bool strict, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t i, e, a;
	uint8_t *raw;

	*out = calloc(n ? n : 1, 8);
	raw = malloc(n ? n * 8 : 1);
	if (*out == NULL || raw == NULL) {
		free(raw);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	if (qc_read_file(b, raw, (size_t)(n * 8), off) < 0) {
		free(raw);
		*err = b->ioerr;
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		e = qc_be64(raw + i * 8);
		a = e & QC_OFFSET_MASK;
		if ((strict && a != e) ||
		    (a && ((a & (q->cs - 1)) || a >= q->file_size))) {
			free(raw);
			return vm_err_set(err, -EINVAL, "%s: %s entry %llu "
			    "(%#llx) is unaligned or past the end of the file",
			    b->path, what, (unsigned long long)i,
			    (unsigned long long)e);
		}
		(*out)[i] = e;
	}
	free(raw);
	return 0;
}

/* Read-write opening: refuse what we cannot keep consistent. */
static int
check_writable(struct blk *b, unsigned flags, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint8_t z[8] = { 0 };

	if (q->incompat & QC_INCOMPAT_CORRUPT)
		return vm_err_set(err, -EROFS, "%s: image is marked corrupt; "
		    "it can only be opened read-only", b->path);
	if ((q->incompat & QC_INCOMPAT_DIRTY) && !(flags & BLK_F_REPAIR))
		return vm_err_set(err, -EROFS, "%s: image is dirty (its "
		    "refcounts may be stale); run 'vm-disk check -r all' "
		    "first", b->path);
	/* Autoclear features (bitmaps) are not kept up to date by us, so
	 * the spec says to clear them. */
	if (q->version >= 3 && q->autoclear) {
		q->autoclear = 0;
		if (qc_write_file(b, z, 8, 88) < 0) {
			*err = b->ioerr;
			return -EIO;
		}
	}
	return 0;
}

static int
qcow2_open(struct blk *b, int fd, unsigned flags, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	struct stat st;
	uint8_t *h;
	int ret;

	if (fstat(fd, &st) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	q->file_size = (uint64_t)st.st_size;
	h = calloc(1, 1u << 21);
	if (h == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	ret = -EINVAL;
	if (q->file_size < 72 || qc_read_file(b, h, 512, 0) < 0) {
		vm_err_set(err, -EINVAL, "%s: truncated qcow2 header", b->path);
		goto out;
	}
	if (qc_be32(h) != QC_MAGIC) {
		vm_err_set(err, -EINVAL, "%s: not a qcow2 image (bad magic)",
		    b->path);
		goto out;
	}
	q->version = qc_be32(h + 4);
	if (q->version != 2 && q->version != 3) {
		vm_err_set(err, -ENOTSUP, "%s: qcow2 version %u is not "
		    "supported", b->path, q->version);
		goto out;
	}
	if ((ret = check_header(b, h, err)) < 0)
		goto out;
	if (q->version >= 3 && q->file_size < 104) {
		ret = vm_err_set(err, -EINVAL, "%s: truncated qcow2 header",
		    b->path);
		goto out;
	}
	if (qc_read_file(b, h, (size_t)q->cs, 0) < 0) {
		*err = b->ioerr;
		ret = -EIO;
		goto out;
	}
	if ((ret = check_v3(b, h, err)) < 0 ||
	    (ret = read_extensions(b, h, err)) < 0)
		goto out;
	q->rb_entries = (q->cs * 8) >> q->refcount_order;
	q->rt_entries = ((uint64_t)q->rt_clusters << q->cluster_bits) / 8;
	if ((ret = load_table(b, q->l1_off, q->l1_size, &q->l1, "L1",
	    false, err)) < 0 || (ret = load_table(b, q->rt_off, q->rt_entries,
	    &q->rt, "refcount table", true, err)) < 0)
		goto out;
	if ((ret = qc_read_snapshots(b, err)) < 0)
		goto out;
	q->next_free = (q->file_size + q->cs - 1) & ~(q->cs - 1);
	q->free_hint = 0;
	q->freed_lo = UINT64_MAX;
	q->no_reuse = (q->incompat & QC_INCOMPAT_DIRTY) != 0;
	if (cache_init(&q->l2c, q->cs, true) < 0 ||
	    cache_init(&q->rbc, q->cs, false) < 0 ||
	    (q->cbuf = malloc((size_t)(2 * q->cs + 512))) == NULL ||
	    (q->dbuf = malloc((size_t)q->cs)) == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	qc_window_init(q);
	if (!(flags & BLK_F_RDONLY))
		ret = check_writable(b, flags, err);
out:
	free(h);
	if (ret < 0)
		b->drv->close(b);       /* open_ok unset: nothing trimmed */
	else
		q->open_ok = true;
	return ret < 0 ? ret : 0;
}

static void
free_state(struct blk *b)
{
	struct qcow2 *q = b->priv;

	free(q->l1);
	free(q->rt);
	free(q->rb_sorted);
	free(q->l2c.key);
	free(q->l2c.dirty);
	free(q->l2c.mem);
	free(q->rbc.key);
	free(q->rbc.dirty);
	free(q->rbc.mem);
	free(q->cbuf);
	free(q->dbuf);
	free(q->pend);
	free(q->snaps);
	free(q->qsnaps);
	memset(q, 0, sizeof(*q));
}

/* The metadata changed in memory is written back; then freed clusters
 * at the end of the file go (qc_trim_tail).  A failure there only
 * leaves them, as leaks; a failed write-back loses the allocations
 * since the last flush (blk_flush reports it; callers flush first). */
static void
qcow2_close(struct blk *b)
{
	struct qcow2 *q = b->priv;

	if (q->open_ok && qc_meta_flush(b) == 0)
		(void)qc_trim_tail(b);
	free_state(b);
}

/* Read the header and tables again after a change made them stale
 * (what is dirty in memory is written back first). */
int
qc_reopen(struct blk *b, struct vm_err *err)
{
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	free_state(b);         /* not qcow2_close: nothing is trimmed */
	b->backing_name[0] = '\0';
	b->backing_fmt[0] = '\0';
	return b->drv->open(b, b->fd, b->flags, err);
}

/* The guest's or the command's flush: the metadata in memory written
 * back in order, and everything synced. */
static int
qcow2_flush(struct blk *b)
{
	if (qc_meta_flush(b) < 0 || qc_sync(b) < 0)
		return b->ioerr.code ? b->ioerr.code : -EIO;
	return 0;
}

static void
qcow2_info(struct blk *b, struct blk_info *info)
{
	struct qcow2 *q = b->priv;

	info->cluster_size = (uint32_t)q->cs;
	info->compat = (int)q->version;
	info->dirty = q->incompat & QC_INCOMPAT_DIRTY;
	info->corrupt = q->incompat & QC_INCOMPAT_CORRUPT;
	info->lazy_refcounts = q->compat & QC_COMPAT_LAZY;
	info->extended_l2 = q->extl2;
	info->refcount_bits = 1 << q->refcount_order;
	snprintf(info->compression, sizeof(info->compression), "%s",
	    q->ctype ? "zstd" : "zlib");
}

const struct blk_driver blk_qcow2 = {
	.name = "qcow2",
	.priv_size = sizeof(struct qcow2),
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.create = qc_create,
	.preadv = qcow2_preadv,
	.pwritev = qcow2_pwritev,
	.compress = qc_compress,
	.write_compressed = qcow2_write_compressed,
	.flush = qcow2_flush,
	.writeback_idle = qcow2_writeback_idle,
	.discard = qcow2_discard,
	.block_status = qcow2_block_status,
	.info = qcow2_info,
	.check = qc_check,
	.resize = qc_resize,
	.snapshots = qc_snapshots,
	.snapshot_create = qc_snap_create,
	.snapshot_apply = qc_snap_apply,
	.snapshot_delete = qc_snap_delete,
	.snapshot_view = qc_snap_view,
	.set_backing = qc_set_backing,
	.make_empty = qc_make_empty,
};
