/*
 * Reading an image from a stream (a pipe), once and in order, for
 * vm-disk convert -: raw bytes, or a streamOptimized VMDK, whose grains
 * come in ascending order each behind its marker (VMware's "Virtual Disk
 * Format 1.1", the stream-optimized layout), so no seek is needed.
 * Formats whose metadata points anywhere in the file (qcow2, VDI, VHD,
 * other VMDKs) are refused: they need a file.
 *
 * Every marker is checked before it is used: grain sizes and LBAs
 * against the header's grain and capacity, grains in ascending order,
 * table markers against the header's sizes.
 */
#include "block/block.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "block/vmdk-int.h"
#include "util/err.h"
#include "util/io.h"

#define SR_CHUNK (2u << 20)             /* raw: bytes per extent */
#define SR_PEEK 4096u                   /* bytes probed */
#define SR_MAX_OVERHEAD (1u << 21)      /* sectors before the first grain */

struct blk_sread {
	int fd;
	char name[256];
	bool vmdk;
	uint64_t size;                  /* UINT64_MAX: raw, not known yet */
	uint64_t pos;                   /* bytes consumed from the stream */
	uint8_t peek[SR_PEEK];          /* the first bytes, read to probe */
	size_t npeek, peek_at;
	uint8_t *buf;                   /* one extent's bytes */
	uint8_t *zbuf;                  /* a compressed grain */
	size_t zcap;
	uint64_t grain;                 /* vmdk: bytes */
	uint64_t next_lba;              /* vmdk: no grain below this */
	bool footer, done;
	struct vm_err err;
};

/* Up to n bytes, the peeked ones first; *got < n only at the end. */
static int
sr_read(struct blk_sread *s, void *buf, size_t n, size_t *got)
{
	size_t k = 0, g;
	int ret;

	if (s->peek_at < s->npeek) {
		k = s->npeek - s->peek_at < n ? s->npeek - s->peek_at : n;
		memcpy(buf, s->peek + s->peek_at, k);
		s->peek_at += k;
	}
	ret = k < n ? io_read_full(s->fd, (uint8_t *)buf + k, n - k, &g) : 0;
	if (ret < 0)
		return vm_err_errno(&s->err, ret, "%s: read", s->name);
	*got = k + (k < n ? g : 0);
	s->pos += *got;
	return 0;
}

/* Exactly n bytes (what: for the message when the stream ends first). */
static int
sr_need(struct blk_sread *s, void *buf, size_t n, const char *what)
{
	size_t got;
	int ret = sr_read(s, buf, n, &got);

	if (ret == 0 && got < n)
		ret = vm_err_set(&s->err, -EINVAL, "%s: the stream ends inside "
		    "%s (at byte %llu)", s->name, what,
		    (unsigned long long)s->pos);
	return ret;
}

static int
sr_skip(struct blk_sread *s, uint64_t n, const char *what)
{
	size_t k;
	int ret;

	while (n > 0) {
		k = n < SR_CHUNK ? (size_t)n : SR_CHUNK;
		if ((ret = sr_need(s, s->buf, k, what)) < 0)
			return ret;
		n -= k;
	}
	return 0;
}

static int
vmdk_header(struct blk_sread *s)
{
	const uint8_t *h = s->peek;
	uint32_t flags = vd_le32(h + VH_FLAGS);
	uint64_t cap = vd_le64(h + VH_CAPACITY), grain = vd_le64(h + VH_GRAIN);
	uint64_t over = vd_le64(h + VH_OVERHEAD);

	if (s->npeek < 512)
		return vm_err_set(&s->err, -EINVAL, "%s: a VMDK header cut "
		    "short", s->name);
	if (!(flags & VD_FLAG_COMP) || !(flags & VD_FLAG_MARKERS) ||
	    h[VH_COMP_ALGO] != 1)
		return vm_err_set(&s->err, -ESPIPE, "%s: a VMDK that is not "
		    "streamOptimized needs seeking: give the file, not a "
		    "pipe", s->name);
	if (grain < 8 || grain > VD_MAX_GRAIN || (grain & (grain - 1)))
		return vm_err_set(&s->err, -EINVAL, "%s: grain of %llu sectors "
		    "(a power of two from 8 to %u)", s->name,
		    (unsigned long long)grain, VD_MAX_GRAIN);
	if (cap > (1ull << 40))
		return vm_err_set(&s->err, -EINVAL, "%s: capacity of %llu "
		    "sectors (at most 2^40)", s->name, (unsigned long long)cap);
	if (over == 0 || over > SR_MAX_OVERHEAD)
		return vm_err_set(&s->err, -EINVAL, "%s: %llu sectors before "
		    "the first grain", s->name, (unsigned long long)over);
	s->vmdk = true;
	s->size = cap * 512;
	s->grain = grain * 512;
	s->zcap = (size_t)(2 * s->grain + 1024);
	s->zbuf = malloc(s->zcap);
	if (s->zbuf == NULL)
		return vm_err_set(&s->err, -ENOMEM, "out of memory");
	return sr_skip(s, over * 512, "the header");
}

struct blk_sread *
blk_sread_open(int fd, const char *name, const char *format,
    struct vm_err *err)
{
	const struct blk_driver *drv;
	struct blk_sread *s = calloc(1, sizeof(*s));
	int ret;

	if (s == NULL || (s->buf = malloc(SR_CHUNK)) == NULL) {
		free(s);
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	s->fd = fd;
	s->size = UINT64_MAX;
	snprintf(s->name, sizeof(s->name), "%s", name);
	ret = io_read_full(fd, s->peek, SR_PEEK, &s->npeek);
	if (ret < 0) {
		vm_err_errno(err, ret, "%s: read", name);
		blk_sread_close(s);
		return NULL;
	}
	drv = format && *format ? blk_driver_find(format) :
	    blk_probe_buf(s->peek, s->npeek);
	if (drv == NULL)
		ret = vm_err_set(&s->err, -EINVAL, "%s: unknown image format "
		    "'%s'", name, format);
	else if (strcmp(drv->name, "vmdk") == 0)
		ret = s->npeek >= 4 && vd_le32(s->peek) == VD_MAGIC ?
		    vmdk_header(s) : vm_err_set(&s->err, -ESPIPE, "%s: a VMDK "
		    "descriptor file names its extents: give the file, not "
		    "a pipe", name);
	else if (strcmp(drv->name, "raw") != 0)
		ret = vm_err_set(&s->err, -ESPIPE, "%s: %s images need seeking "
		    "(their tables point anywhere in the file): give the "
		    "file, or redirect it (< FILE), not a pipe", name,
		    drv->name);
	if (ret < 0) {
		*err = s->err;
		blk_sread_close(s);
		return NULL;
	}
	return s;
}

uint64_t
blk_sread_size(const struct blk_sread *s)
{
	return s->size;
}

const char *
blk_sread_format(const struct blk_sread *s)
{
	return s->vmdk ? "vmdk" : "raw";
}

const struct vm_err *
blk_sread_error(const struct blk_sread *s)
{
	return &s->err;
}

static int
raw_next(struct blk_sread *s, const uint8_t **data, uint64_t *off,
    uint64_t *len)
{
	size_t got;
	int ret;

	while (!s->done) {
		*off = s->pos;
		if ((ret = sr_read(s, s->buf, SR_CHUNK, &got)) < 0)
			return ret;
		if (got < SR_CHUNK) {
			s->done = true;
			s->size = s->pos;
		}
		if (got == 0 || (s->buf[0] == 0 &&
		    memcmp(s->buf, s->buf + 1, got - 1) == 0))
			continue;
		*data = s->buf;
		*len = got;
		return 1;
	}
	return 0;
}

/* Inflate n bytes of s->zbuf into s->buf: the grain at lba. */
static int
inflate_grain(struct blk_sread *s, size_t n, uint64_t lba, uint64_t *len)
{
	uint64_t want = s->size - lba * 512;
	z_stream z;
	int r;

	if (want > s->grain)
		want = s->grain;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return vm_err_set(&s->err, -ENOMEM, "out of memory");
	z.next_in = s->zbuf;
	z.avail_in = (uInt)n;
	z.next_out = s->buf;
	z.avail_out = (uInt)s->grain;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (r != Z_STREAM_END || s->grain - z.avail_out > want)
		return vm_err_set(&s->err, -EINVAL, "%s: the grain at sector "
		    "%llu does not inflate to at most %llu bytes", s->name,
		    (unsigned long long)lba, (unsigned long long)want);
	memset(s->buf + (s->grain - z.avail_out), 0, z.avail_out);
	*len = want;
	return 0;
}

static int
vmdk_next(struct blk_sread *s, const uint8_t **data, uint64_t *off,
    uint64_t *len)
{
	uint8_t m[512];
	uint64_t lba, val, rest;
	uint32_t size, type;
	size_t got;
	int ret;

	while (!s->done) {
		if ((ret = sr_read(s, m, 512, &got)) < 0)
			return ret;
		if (got == 0 && s->footer) {    /* no end-of-stream marker */
			s->done = true;
			break;
		}
		if (got < 512)
			return vm_err_set(&s->err, -EINVAL, "%s: the stream ends "
			    "inside a marker (at byte %llu)", s->name,
			    (unsigned long long)s->pos);
		val = lba = vd_le64(m);
		size = vd_le32(m + 8);
		type = vd_le32(m + 12);
		if (size == 0) {
			if (type == VD_MARKER_EOS) {
				s->done = true;
			} else if (type == VD_MARKER_GT || type ==
			    VD_MARKER_GD || type == VD_MARKER_FOOTER) {
				if (val > (VD_MAX_GD_BYTES / 512))
					return vm_err_set(&s->err, -EINVAL, "%s: a "
					    "table marker of %llu sectors",
					    s->name, (unsigned long long)val);
				s->footer |= type == VD_MARKER_FOOTER;
				if ((ret = sr_skip(s, val * 512, "a table")) < 0)
					return ret;
			} else {
				return vm_err_set(&s->err, -EINVAL, "%s: unknown "
				    "marker type %u at byte %llu", s->name,
				    type, (unsigned long long)(s->pos - 512));
			}
			continue;
		}
		if (size > s->zcap - 512 || lba % (s->grain / 512) ||
		    lba >= s->size / 512 || lba < s->next_lba)
			return vm_err_set(&s->err, -EINVAL, "%s: a grain marker "
			    "at byte %llu (sector %llu, %u bytes) is out of "
			    "order, unaligned, past the end or too large",
			    s->name, (unsigned long long)(s->pos - 512),
			    (unsigned long long)lba, size);
		memcpy(s->zbuf, m + 12, 500);
		rest = ((12 + (uint64_t)size + 511) & ~511ull) - 512;
		if (rest && (ret = sr_need(s, s->zbuf + 500, (size_t)rest,
		    "a grain")) < 0)
			return ret;
		if ((ret = inflate_grain(s, size, lba, len)) < 0)
			return ret;
		s->next_lba = lba + s->grain / 512;
		*off = lba * 512;
		*data = s->buf;
		return 1;
	}
	return 0;
}

int
blk_sread_next(struct blk_sread *s, const uint8_t **data, uint64_t *off,
    uint64_t *len)
{
	return s->vmdk ? vmdk_next(s, data, off, len) :
	    raw_next(s, data, off, len);
}

void
blk_sread_close(struct blk_sread *s)
{
	if (s == NULL)
		return;
	free(s->buf);
	free(s->zbuf);
	free(s);
}
