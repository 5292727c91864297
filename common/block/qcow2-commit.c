/*
 * qcow2 changes that commit and rebase make: emptying the active layer
 * (after its data went into the backing file) and naming another
 * backing file.
 *
 * Emptying zeroes the active L1 table in one write, then drops the
 * references it held (each L2 table and every cluster it points to); a
 * crash in between leaks.  The backing file name and its format
 * extension live in cluster 0: the new header cluster is built in
 * memory, keeping every other extension as it was, and written in one
 * write.
 */
#include "block/block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/err.h"

#define EXT_BACKING_FMT 0xe2792acau

int
qc_make_empty(struct blk *b, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t *old, i, j, h;
	uint8_t *raw, *t;
	int ret = 0;

	/* The L2 tables are read from the file: what memory changed
	 * first. */
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	old = malloc(q->l1_size ? (size_t)q->l1_size * 8 : 1);
	raw = calloc(1, q->l1_size ? (size_t)q->l1_size * 8 : 1);
	t = malloc((size_t)q->cs);
	if (old == NULL || raw == NULL || t == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(old, q->l1, (size_t)q->l1_size * 8);
	if (qc_write_file(b, raw, (size_t)q->l1_size * 8, q->l1_off) < 0 ||
	    fdatasync(b->fd) < 0) {
		ret = -EIO;
		goto fail;
	}
	memset(q->l1, 0, (size_t)q->l1_size * 8);
	for (i = 0; i < q->l1_size; i++) {
		h = old[i] & QC_OFFSET_MASK;
		if (h == 0)
			continue;
		if ((h & (q->cs - 1)) || h < q->cs || h >= q->file_size) {
			ret = qc_fail(b, "L1 entry %llu is unaligned or past "
			    "the end of the file", (unsigned long long)i);
			goto fail;
		}
		if (qc_read_file(b, t, (size_t)q->cs, h) < 0) {
			ret = -EIO;
			goto fail;
		}
		for (j = 0; j < q->cs; j += q->extl2 ? 16 : 8) {
			if (qc_be64(t + j) == 0)
				continue;
			if (qc_release(b, qc_be64(t + j)) < 0) {
				ret = -EIO;
				goto fail;
			}
		}
		if (qc_refcount_update(b, h, 1, -1) < 0) {
			ret = -EIO;
			goto fail;
		}
	}
	q->dbuf_key = 0;
	goto out;
fail:
	*err = b->ioerr;
out:
	free(old);
	free(raw);
	free(t);
	return ret;
}

static void
put_ext(uint8_t *h, uint64_t *p, uint32_t type, const void *data,
    uint32_t len)
{
	qc_put32(h + *p, type);
	qc_put32(h + *p + 4, len);
	memcpy(h + *p + 8, data, len);
	*p += 8 + ((len + 7ull) & ~7ull);
}

int
qc_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t bo = 0, end = q->cs, p = q->header_len, np, used;
	size_t nlen = name ? strlen(name) : 0, flen = fmt ? strlen(fmt) : 0;
	uint32_t type, len;
	uint8_t *h, *n;
	int ret = 0;

	if (nlen >= sizeof(b->backing_name) || flen >= sizeof(b->backing_fmt))
		return vm_err_set(err, -ENAMETOOLONG, "%s: backing file name "
		    "or format too long", b->path);
	if (qc_meta_flush(b) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	h = calloc(1, (size_t)q->cs);
	n = calloc(1, (size_t)q->cs);
	if (h == NULL || n == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (qc_read_file(b, h, (size_t)q->cs, 0) < 0) {
		*err = b->ioerr;
		ret = -EIO;
		goto out;
	}
	bo = qc_be64(h + 8);
	if (bo)
		end = bo;       /* open checked it lies in this cluster */
	used = bo ? bo + qc_be32(h + 16) : p;
	memcpy(n, h, (size_t)q->header_len);
	np = q->header_len;
	/* Keep every extension but the backing format, then ours. */
	while (end - p >= 8) {
		type = qc_be32(h + p);
		len = qc_be32(h + p + 4);
		if (type == 0)
			break;
		if (type != EXT_BACKING_FMT) {
			if (np + 8 + len + 8 > q->cs)
				goto full;
			put_ext(n, &np, type, h + p + 8, len);
		}
		p += 8 + ((len + 7ull) & ~7ull);
	}
	if (p + 8 > used)
		used = p + 8;
	if (flen) {
		if (np + 8 + flen + 8 > q->cs)
			goto full;
		put_ext(n, &np, EXT_BACKING_FMT, fmt, (uint32_t)flen);
	}
	np += 8;                /* the end marker: zeros */
	if (np + nlen > q->cs)
		goto full;
	memcpy(n + np, name ? name : "", nlen);
	qc_put64(n + 8, nlen ? np : 0);
	qc_put32(n + 16, (uint32_t)nlen);
	np += nlen;
	if (qc_write_file(b, n, (size_t)(np > used ? np : used), 0) < 0 ||
	    fdatasync(b->fd) < 0) {
		*err = b->ioerr;
		ret = -EIO;
		goto out;
	}
	memcpy(b->backing_name, name ? name : "", nlen + 1);
	memcpy(b->backing_fmt, fmt ? fmt : "", flen + 1);
	goto out;
full:
	ret = vm_err_set(err, -ENOSPC, "%s: the backing file name does not "
	    "fit in the header cluster", b->path);
out:
	free(h);
	free(n);
	return ret;
}
