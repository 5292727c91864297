/*
 * qcow2 create: a new image with no data clusters.
 *
 *   cluster 0          header, extensions (backing format, end), backing name
 *   then               refcount table (rt clusters)
 *   then               refcount blocks covering all of the above and the L1
 *   then               L1 table (zeros)
 *
 * The counts depend on each other (more L1 clusters may need another
 * refcount block, which may need a larger table), so they are computed
 * until they stop changing.  Version 3 headers are 112 bytes (with the
 * compression type field); version 2 headers are 72.  Preallocation
 * (metadata, falloc, full) then allocates every cluster through the
 * driver's own allocator (qc_preallocate).
 */
#include "block/block.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/err.h"
#include "util/io.h"
#include "util/track.h"

static int
put(int fd, const void *buf, size_t len, uint64_t off, const char *path,
    struct vm_err *err)
{
	int ret;

	blk_crash_point();
	ret = io_pwrite_full(fd, buf, len, off);
	return ret < 0 ? vm_err_errno(err, ret, "%s", path) : 0;
}

static int
parse_opts(const char *path, const struct blk_create_opts *o,
    unsigned *bits, int *ctype, struct vm_err *err)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536;

	for (*bits = 9; *bits <= 21 && (1u << *bits) != cs; (*bits)++)
		;
	if (*bits > 21)
		return vm_err_set(err, -EINVAL, "%s: cluster size %u is not a "
		    "power of two from 512 to 2M", path, cs);
	*ctype = 0;
	if (o->compression && strcmp(o->compression, "zstd") == 0)
		*ctype = 1;
	else if (o->compression && strcmp(o->compression, "zlib") != 0)
		return vm_err_set(err, -EINVAL, "%s: compression type '%s' is "
		    "not zlib or zstd", path, o->compression);
	if (*ctype && o->compat == 2)
		return vm_err_set(err, -EINVAL, "%s: zstd compression needs "
		    "compat=1.1 (version 3)", path);
	if (o->prealloc && strcmp(o->prealloc, "off") != 0 &&
	    strcmp(o->prealloc, "metadata") != 0 &&
	    strcmp(o->prealloc, "falloc") != 0 &&
	    strcmp(o->prealloc, "full") != 0)
		return vm_err_set(err, -EINVAL, "%s: preallocation '%s' is not "
		    "one of off, metadata, falloc, full", path, o->prealloc);
	if (o->refcount_bits != 0 && o->refcount_bits != 16 && o->compat == 2)
		return vm_err_set(err, -EINVAL, "%s: refcount widths other "
		    "than 16 bits need compat=1.1 (version 3)", path);
	if (o->extended_l2 && o->compat == 2)
		return vm_err_set(err, -EINVAL, "%s: extended L2 entries need "
		    "compat=1.1 (version 3)", path);
	if (o->extended_l2 && *bits < 14)
		return vm_err_set(err, -EINVAL, "%s: extended L2 entries need "
		    "a cluster size of at least 16K", path);
	if (o->backing && strlen(o->backing) > 1023)
		return vm_err_set(err, -EINVAL, "%s: backing file name too "
		    "long", path);
	return 0;
}

/* log2 of the refcount width (-o refcount_bits, checked by the caller
 * to be a power of two from 1 to 64; 16 by default). */
static unsigned
rc_order(const struct blk_create_opts *o)
{
	unsigned order = 0;

	while (order < 6 && (1u << order) < (o->refcount_bits ?
	    (unsigned)o->refcount_bits : 16u))
		order++;
	return order;
}

/* The header cluster's bytes for the given layout. */
static void
fill_header(uint8_t *h, const struct blk_create_opts *o, unsigned bits,
    int ctype, uint64_t l1_entries, uint64_t l1_off, uint64_t rt_off,
    uint64_t rt_cl)
{
	int v = o->compat == 2 ? 2 : 3;
	uint64_t p = v == 3 ? 112 : 72;
	size_t fl;

	qc_put32(h, QC_MAGIC);
	qc_put32(h + 4, (uint32_t)v);
	qc_put32(h + 20, bits);
	qc_put64(h + QH_SIZE, o->size);
	qc_put32(h + QH_L1_SIZE, (uint32_t)l1_entries);
	qc_put64(h + 40, l1_off);
	qc_put64(h + QH_RT_OFFSET, rt_off);
	qc_put32(h + 56, (uint32_t)rt_cl);
	if (v == 3) {
		qc_put64(h + QH_INCOMPAT, (ctype ? QC_INCOMPAT_COMPRESSION : 0) |
		    (o->extended_l2 ? QC_INCOMPAT_EXTL2 : 0));
		qc_put32(h + 96, rc_order(o));
		qc_put32(h + 100, 112);
		h[104] = (uint8_t)ctype;
	}
	if (o->backing_fmt && o->backing) {
		fl = strlen(o->backing_fmt);
		qc_put32(h + p, 0xe2792aca);
		qc_put32(h + p + 4, (uint32_t)fl);
		memcpy(h + p + 8, o->backing_fmt, fl);
		p += 8 + ((fl + 7) & ~7ul);
	}
	p += 8;         /* end-of-extensions marker: zeros */
	if (o->backing) {
		fl = strlen(o->backing);
		qc_put64(h + 8, p);
		qc_put32(h + 16, (uint32_t)fl);
		memcpy(h + p, o->backing, fl);
	}
}

extern const struct blk_driver blk_qcow2;


/* Open the new image on fd as the driver does and preallocate it. */
static int
preallocate(int fd, const char *path, const char *mode, struct vm_err *err)
{
	struct blk *b = calloc(1, sizeof(*b));
	int ret;

	if (b == NULL || (b->priv = calloc(1, blk_qcow2.priv_size)) == NULL) {
		free(b);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	b->drv = &blk_qcow2;
	b->fd = fd;
	snprintf(b->path, sizeof(b->path), "%s", path);
	ret = blk_qcow2.open(b, fd, 0, err);
	if (ret == 0) {
		memset(((struct qcow2 *)b->priv)->dbuf, 0,
		    (size_t)((struct qcow2 *)b->priv)->cs);
		ret = qc_preallocate(b, mode, err);
		blk_qcow2.close(b);
	}
	free(b->priv);
	free(b);
	return ret;
}

int
qc_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	unsigned bits = 16;
	int ctype = 0, ret;
	uint64_t cs, span, l1e, l1c, rbe, rbc = 1, rtc = 1, total, prev = 0;
	uint64_t i, rt_off, rb_off, l1_off;
	uint8_t *buf;

	if ((ret = parse_opts(path, o, &bits, &ctype, err)) < 0)
		return ret;
	cs = 1ull << bits;
	span = cs << (bits - (o->extended_l2 ? 4 : 3));
	l1e = (o->size + span - 1) / span;
	if (l1e * 8 > QC_MAX_L1_BYTES || o->size > (1ull << 62))
		return vm_err_set(err, -EFBIG, "%s: %llu bytes is too large "
		    "for %llu-byte clusters", path,
		    (unsigned long long)o->size, (unsigned long long)cs);
	if (o->backing && strlen(o->backing) + 8 + 112 + 48 > cs)
		return vm_err_set(err, -EINVAL, "%s: backing file name does "
		    "not fit in one cluster", path);
	l1c = (l1e * 8 + cs - 1) / cs;
	rbe = (cs * 8) >> rc_order(o);
	for (;;) {
		total = 1 + rtc + rbc + l1c;
		rbc = (total + rbe - 1) / rbe;
		rtc = (rbc * 8 + cs - 1) / cs;
		if (total == prev)
			break;
		prev = total;
	}
	rt_off = cs;
	rb_off = rt_off + rtc * cs;
	l1_off = rb_off + rbc * cs;
	buf = calloc(1, (size_t)cs);
	if (buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (io_ftruncate(fd, (off_t)(l1_off + l1c * cs)) < 0) {
		free(buf);
		return vm_err_errno(err, -errno, "%s", path);
	}
	/* The refcount blocks, then the refcount table pointing to them,
	 * then the header pointing to that: a file cut short at any
	 * write has no header, or one whose tables are all there. */
	ret = 0;
	for (i = 0; ret == 0 && i < rbc; i++) {
		uint64_t k, first = i * rbe;

		memset(buf, 0, (size_t)cs);
		for (k = 0; k < rbe && first + k < total; k++)
			qc_rc_write(rc_order(o), buf, k, 1);
		ret = put(fd, buf, (size_t)cs, rb_off + i * cs, path, err);
	}
	memset(buf, 0, (size_t)cs);
	for (i = 0; ret == 0 && i < rbc; i++) {
		qc_put64(buf + (i * 8) % cs, rb_off + i * cs);
		if ((i + 1) * 8 % cs == 0 || i + 1 == rbc) {
			ret = put(fd, buf, (size_t)(((i * 8) % cs) + 8),
			    rt_off + i * 8 - (i * 8) % cs, path, err);
			memset(buf, 0, (size_t)cs);
		}
	}
	if (ret == 0) {
		memset(buf, 0, (size_t)cs);
		fill_header(buf, o, bits, ctype, l1e, l1e ? l1_off : 0, rt_off,
		    rtc);
		ret = put(fd, buf, (size_t)cs, 0, path, err);
	}
	free(buf);
	if (ret == 0 && o->prealloc && strcmp(o->prealloc, "off") != 0)
		ret = preallocate(fd, path, o->prealloc, err);
	return ret;
}
