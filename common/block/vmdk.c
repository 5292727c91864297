/*
 * vmdk: VMware's disk format, every kind qemu-img writes.  This file
 * opens an image (a sparse extent with its embedded descriptor, or a text
 * descriptor naming extent files relative to its own directory), checks
 * every header field, descriptor line and grain directory entry before
 * use, and reads: guest offsets go to the extent that holds them, then
 * (sparse) through the GD and GT to a grain, plain or compressed.  A
 * parent link (parentCID and parentFileNameHint) is the backing file.
 * Writing and create are in vmdk-write.c, check in vmdk-check.c.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "block/vmdk-int.h"
#include "util/err.h"
#include "util/io.h"

static bool
is_descriptor(const uint8_t *h, size_t len)
{
	static const char sig[] = "# Disk DescriptorFile";

	return len >= sizeof(sig) - 1 && memcmp(h, sig, sizeof(sig) - 1) == 0;
}

static int
vmdk_probe(const uint8_t *hdr, size_t len)
{
	if (len >= 4 && vd_le32(hdr) == VD_MAGIC)
		return 100;
	return is_descriptor(hdr, len) ? 100 : 0;
}

/* Read from an extent file; past its end reads zeros. */
int
vd_read_file(struct blk *b, struct vx *x, void *buf, size_t len, uint64_t off)
{
	int ret = io_pread_zfill(x->fd, buf, len, off);

	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: read at %#llx",
		    x->path, (unsigned long long)off);
	return 0;
}

int
vd_write_file(struct blk *b, struct vx *x, const void *buf, size_t len,
    uint64_t off)
{
	int ret = x->seq ? io_seq_write(x->fd, &x->seq_pos, buf, len, off) :
	    io_pwrite_full(x->fd, buf, len, off);

	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: write at %#llx",
		    x->path, (unsigned long long)off);
	if (off + len > x->file_size)
		x->file_size = off + len;
	return 0;
}

/* A GD entry (sector) names a whole GT inside the file. */
bool
vd_gt_ok(const struct vx *x, uint64_t sector)
{
	uint64_t gtb = (uint64_t)x->ngte * 4;

	return sector <= x->file_size / 512 && gtb <= x->file_size - sector * 512;
}

/*
 * The grain holding extent offset off: its kind and host byte offset (of
 * the grain, or of its marker when compressed).  *gtp, if asked, points
 * at the GT entry (NULL when the GD has no table there).
 */
int
vd_lookup(struct blk *b, struct vx *x, uint64_t off, enum vx_kind *kind,
    uint64_t *host, uint32_t **gtp)
{
	uint64_t gi = off >> x->grain_bits, gdi = gi / x->ngte, e;
	uint32_t *gt;
	uint8_t raw[4 * 1024];
	uint32_t k, c;

	*kind = VK_UNALLOC;
	*host = UINT64_MAX;
	if (gtp)
		*gtp = NULL;
	if (gdi >= x->ngt)
		return 0;
	if (x->sgt) {
		gt = x->sgt + gdi * x->ngte;
	} else {
		if (x->gd[gdi] == 0)
			return 0;
		if (!vd_gt_ok(x, x->gd[gdi]))
			return vd_fail(b, "grain directory entry %llu of %s (sector "
			    "%u) points past the end of the file",
			    (unsigned long long)gdi, x->path, x->gd[gdi]);
		if (x->gt_idx != gdi) {
			x->gt_idx = UINT32_MAX;
			for (k = 0; k < x->ngte; k += c) {
				c = x->ngte - k < 1024 ? x->ngte - k : 1024;
				if (vd_read_file(b, x, raw, c * 4,
				    (uint64_t)x->gd[gdi] * 512 + k * 4) < 0)
					return -EIO;
				for (uint32_t i = 0; i < c; i++)
					x->gt[k + i] = vd_le32(raw + i * 4);
			}
			x->gt_idx = (uint32_t)gdi;
		}
		gt = x->gt;
	}
	if (gtp)
		*gtp = gt + gi % x->ngte;
	e = gt[gi % x->ngte];
	if (e == 0)
		return 0;
	if (e == 1) {
		*kind = VK_ZERO;
		return 0;
	}
	if (e * 512 >= x->file_size)
		return vd_fail(b, "GT entry for guest offset %#llx points past "
		    "the end of %s (sector %llu)", (unsigned long long)
		    (x->start + off), x->path, (unsigned long long)e);
	*host = e * 512;
	*kind = x->compressed ? VK_COMP : VK_DATA;
	return 0;
}

/* Inflate the compressed grain at host into m->dbuf (bounded by the
 * grain size: more output than that is refused, not produced). */
static int
decompress(struct blk *b, struct vx *x, uint64_t host)
{
	struct vmdk *m = b->priv;
	uint64_t len, at = host;
	uint8_t mk[12];
	z_stream z;
	int ret;

	if (m->dext == x && m->dkey == host)
		return 0;
	if (x->markers) {
		if (vd_read_file(b, x, mk, 12, host) < 0)
			return -EIO;
		len = vd_le32(mk + 8);
		at = host + 12;
		if (len == 0 || len > m->cbuf_len || at > x->file_size ||
		    len > x->file_size - at)
			return vd_fail(b, "compressed grain at %#llx: length %llu "
			    "runs past the end of %s", (unsigned long long)host,
			    (unsigned long long)len, x->path);
	} else {
		len = x->file_size - host;
		if (len > m->cbuf_len)
			len = m->cbuf_len;
	}
	if (vd_read_file(b, x, m->cbuf, (size_t)len, at) < 0)
		return -EIO;
	m->dext = NULL;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return -ENOMEM;
	z.next_in = m->cbuf;
	z.avail_in = (uInt)len;
	z.next_out = m->dbuf;
	z.avail_out = (uInt)x->grain;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (ret == Z_BUF_ERROR && z.avail_out == 0)
		return vd_fail(b, "compressed grain at %#llx inflates to more "
		    "than a grain", (unsigned long long)host);
	if (ret != Z_STREAM_END)
		return vd_fail(b, "bad deflate data in the compressed grain at "
		    "%#llx", (unsigned long long)host);
	memset(m->dbuf + (x->grain - z.avail_out), 0, z.avail_out);
	m->dext = x;
	m->dkey = host;
	return 0;
}

/* The extent holding guest offset off (binary search: sorted, adjacent). */
static struct vx *
find_extent(struct vmdk *m, uint64_t off)
{
	int lo = 0, hi = m->n - 1, mid;

	while (lo < hi) {
		mid = (lo + hi + 1) / 2;
		if (m->ext[mid].start <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return &m->ext[lo];
}

/*
 * The run at guest offset off (at most len) of one kind in one extent:
 * *pnum bytes, BLK_S_* flags, host offset of data (UINT64_MAX if none).
 */
static int
map(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host, struct vx **xp, enum vx_kind *kindp)
{
	struct vx *x = find_extent(b->priv, off);
	uint64_t in = off - x->start, n, h, h2, span, gdi;
	enum vx_kind kind, k2;

	*xp = x;
	if (len > x->len - in)
		len = x->len - in;
	*host = UINT64_MAX;
	if (x->type != VX_SPARSE) {
		*pnum = len;
		*kindp = x->type == VX_FLAT ? VK_DATA : VK_ZERO;
		if (x->type == VX_FLAT)
			*host = x->flat_off + in;
		return 0;
	}
	/* One GT's span at most; all of it at once where there is no GT. */
	span = x->grain * x->ngte;
	gdi = in / span;
	if (len > span - in % span)
		len = span - in % span;
	if (!x->sgt && (gdi >= x->ngt || x->gd[gdi] == 0)) {
		*pnum = len;
		*kindp = VK_UNALLOC;
		return 0;
	}
	if (vd_lookup(b, x, in, &kind, &h, NULL) < 0)
		return -EIO;
	*kindp = kind;
	n = x->grain - (in & (x->grain - 1));
	if (kind == VK_COMP) {
		*pnum = n < len ? n : len;
		*host = h;
		return 0;
	}
	if (kind == VK_DATA)
		*host = h + (in & (x->grain - 1));
	while (n < len) {
		if (vd_lookup(b, x, in + n, &k2, &h2, NULL) < 0)
			return -EIO;
		if (k2 != kind || (kind == VK_DATA &&
		    h2 != h + ((in + n) & ~(x->grain - 1)) -
		    (in & ~(x->grain - 1))))
			break;
		n += x->grain;
	}
	*pnum = n < len ? n : len;
	return 0;
}

static int
vd_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vmdk *m = b->priv;
	enum vx_kind kind;
	uint64_t n, host;
	struct vx *x;

	while (len > 0) {
		if (map(b, off, len, &n, &host, &x, &kind) < 0)
			return -EIO;
		switch (kind) {
		case VK_DATA:
			if (vd_read_file(b, x, buf, (size_t)n, host) < 0)
				return -EIO;
			break;
		case VK_ZERO:
			memset(buf, 0, (size_t)n);
			break;
		case VK_COMP:
			if (decompress(b, x, host) < 0)
				return -EIO;
			memcpy(buf, m->dbuf + ((off - x->start) &
			    (x->grain - 1)), (size_t)n);
			break;
		case VK_UNALLOC:
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

static int
vmdk_preadv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int k;

	for (k = 0; k < iovcnt; k++) {
		if (vd_read(b, iov[k].iov_base, iov[k].iov_len, off) < 0)
			return -EIO;
		off += iov[k].iov_len;
	}
	return 0;
}

static int
vmdk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host)
{
	enum vx_kind kind;
	struct vx *x;

	if (map(b, off, len, pnum, host, &x, &kind) < 0)
		return -EIO;
	switch (kind) {
	case VK_DATA:
		return BLK_S_DATA;
	case VK_ZERO:
		return BLK_S_ZERO;
	case VK_COMP:
		*host = UINT64_MAX;
		return BLK_S_DATA | BLK_S_COMPRESSED;
	default:
		return 0;
	}
}

/* ---- opening: sparse extent headers ---- */

/* A table of n LE u32 sector offsets at sector off.  Its entries are
 * checked when used (vd_gt_ok), so check can count the bad ones. */
static int
load_gd(struct blk *b, struct vx *x, uint64_t off, uint32_t **out,
    const char *what, struct vm_err *err)
{
	uint64_t bytes = (uint64_t)x->ngt * 4;
	uint8_t *raw;
	uint32_t i;

	if (off == 0 || off > x->file_size / 512 ||
	    bytes > x->file_size - off * 512)
		return vm_err_set(err, -EINVAL, "%s: %s at sector %llu is past "
		    "the end of the file", x->path, what,
		    (unsigned long long)off);
	*out = calloc(x->ngt ? x->ngt : 1, 4);
	raw = malloc(bytes ? bytes : 1);
	if (*out == NULL || raw == NULL) {
		free(raw);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	if (vd_read_file(b, x, raw, (size_t)bytes, off * 512) < 0) {
		free(raw);
		*err = b->ioerr;
		return -EIO;
	}
	for (i = 0; i < x->ngt; i++)
		(*out)[i] = vd_le32(raw + i * 4);
	free(raw);
	return 0;
}

/* streamOptimized with the GD at the end: the footer's copy of the
 * header (one sector before the end-of-stream marker) is the real one. */
static int
read_footer(struct blk *b, struct vx *x, uint8_t *h, struct vm_err *err)
{
	uint8_t f[1536];

	if (x->file_size < 2048 || vd_read_file(b, x, f, sizeof(f),
	    x->file_size - 1536) < 0)
		return vm_err_set(err, -EINVAL, "%s: the header says the grain "
		    "directory is at the end, but there is no footer", x->path);
	if (vd_le32(f + 8) != 0 || vd_le32(f + 12) != VD_MARKER_FOOTER ||
	    vd_le32(f + 512) != VD_MAGIC || vd_le64(f + 1024) != 0 ||
	    vd_le32(f + 1024 + 8) != 0 ||
	    vd_le32(f + 1024 + 12) != VD_MARKER_EOS)
		return vm_err_set(err, -EINVAL, "%s: bad footer (the markers "
		    "at the end of the stream are missing)", x->path);
	memcpy(h, f + 512, 512);
	if (vd_le64(h + VH_GD_OFF) == VD_GD_AT_END)
		return vm_err_set(err, -EINVAL, "%s: the footer does not say "
		    "where the grain directory is", x->path);
	return 0;
}

static int
parse_header(struct blk *b, struct vx *x, const uint8_t *h,
    struct vm_err *err)
{
	uint64_t g, span;
	uint32_t algo;

	x->version = vd_le32(h + VH_VERSION);
	x->flags = vd_le32(h + VH_FLAGS);
	if (x->version < 1 || x->version > 3)
		return vm_err_set(err, -ENOTSUP, "%s: VMDK version %u is not "
		    "supported", x->path, x->version);
	x->capacity = vd_le64(h + VH_CAPACITY);
	g = vd_le64(h + VH_GRAIN);
	if (g == 0 || g > VD_MAX_GRAIN || (g & (g - 1)))
		return vm_err_set(err, -EINVAL, "%s: grain size of %llu "
		    "sectors is not a power of two up to %u", x->path,
		    (unsigned long long)g, VD_MAX_GRAIN);
	x->grain = g * 512;
	for (x->grain_bits = 9; (1ull << x->grain_bits) < x->grain;)
		x->grain_bits++;
	x->ngte = vd_le32(h + VH_NGTE);
	if (x->ngte == 0 || x->ngte > VD_MAX_GTES)
		return vm_err_set(err, -EINVAL, "%s: %u entries per grain "
		    "table is absurd", x->path, x->ngte);
	if (x->capacity > (1ull << 53))
		return vm_err_set(err, -EINVAL, "%s: capacity of %llu sectors "
		    "is absurd", x->path, (unsigned long long)x->capacity);
	span = g * x->ngte;
	if ((x->capacity + span - 1) / span * 4 > VD_MAX_GD_BYTES)
		return vm_err_set(err, -EINVAL, "%s: grain directory too large",
		    x->path);
	x->ngt = (uint32_t)((x->capacity + span - 1) / span);
	algo = (uint32_t)h[VH_COMP_ALGO] | (uint32_t)h[VH_COMP_ALGO + 1] << 8;
	if ((x->flags & VD_FLAG_COMP) && algo > 1)
		return vm_err_set(err, -ENOTSUP, "%s: compression algorithm %u "
		    "is not supported", x->path, algo);
	x->compressed = (x->flags & VD_FLAG_COMP) && algo == 1;
	x->markers = x->flags & VD_FLAG_MARKERS;
	x->gd_off = vd_le64(h + VH_GD_OFF);
	x->rgd_off = (x->flags & VD_FLAG_RGD) ? vd_le64(h + VH_RGD_OFF) : 0;
	x->overhead = vd_le64(h + VH_OVERHEAD);
	return 0;
}

/* Open the sparse extent x (its fd set): header, footer, GD, RGD. */
static int
open_sparse(struct blk *b, struct vx *x, struct vm_err *err)
{
	uint8_t h[512];
	int ret;

	if (x->file_size < 512 || vd_read_file(b, x, h, 512, 0) < 0)
		return vm_err_set(err, -EINVAL, "%s: truncated VMDK header",
		    x->path);
	if (vd_le32(h) == VD_COWD_MAGIC)
		return vm_err_set(err, -ENOTSUP, "%s: VMFS sparse (COWD) "
		    "extents are not supported", x->path);
	if (vd_le32(h) != VD_MAGIC)
		return vm_err_set(err, -EINVAL, "%s: not a sparse VMDK extent "
		    "(bad magic)", x->path);
	memcpy(x->hdr, h, 512);
	if (vd_le64(h + VH_GD_OFF) == VD_GD_AT_END &&
	    (ret = read_footer(b, x, h, err)) < 0)
		return ret;
	if ((ret = parse_header(b, x, h, err)) < 0)
		return ret;
	if ((ret = load_gd(b, x, x->gd_off, &x->gd, "grain directory",
	    err)) < 0)
		return ret;
	if (x->rgd_off && (ret = load_gd(b, x, x->rgd_off, &x->rgd,
	    "redundant grain directory", err)) < 0)
		return ret;
	x->gt = calloc(x->ngte, 4);
	if (x->gt == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	x->gt_idx = UINT32_MAX;
	x->next = (x->file_size + 511) & ~511ull;
	return 0;
}

/* ---- opening: descriptors ---- */

static void
desc_value(char *out, size_t cap, const char *v)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '"')
		v++;
	snprintf(out, cap, "%s", v);
	n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\t' ||
	    out[n - 1] == '\r'))
		n--;
	if (n && out[n - 1] == '"')
		n--;
	out[n] = '\0';
}

static void
extent_path(const char *desc, const char *name, char *out, size_t len)
{
	char dir[4096];

	if (name[0] == '/' || strchr(desc, '/') == NULL) {
		snprintf(out, len, "%s", name);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", desc);
	snprintf(out, len, "%s/%s", dirname(dir), name);
}

/* Open an extent file: a regular file or block device only (a FIFO or
 * a terminal named by a hostile descriptor must not hang us). */
static int
open_extent_file(struct blk *b, struct vx *x, struct vm_err *err)
{
	struct stat st;

	x->fd = open(x->path, (x->rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
	    O_NONBLOCK | O_NOCTTY);
	if (x->fd < 0)
		return vm_err_errno(err, -errno, "%s: extent %s", b->path,
		    x->path);
	x->own_fd = true;
	if (fstat(x->fd, &st) < 0)
		return vm_err_errno(err, -errno, "%s", x->path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return vm_err_set(err, -EINVAL, "%s: extent %s is not a file or "
		    "block device", b->path, x->path);
	(void)fcntl(x->fd, F_SETFL, 0);
	x->file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size :
	    (uint64_t)lseek(x->fd, 0, SEEK_END);
	return 0;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || (*end != '\0' && *end != ' ' && *end != '\t' &&
	    *end != '\r') ? -1 : 0;
}

/* One extent line: ACCESS SECTORS TYPE ["FILE" [OFFSET]]. */
static int
parse_extent(struct blk *b, char *line, unsigned flags, bool embedded,
    int lineno, struct vm_err *err)
{
	struct vmdk *m = b->priv;
	char *tok[3], *save = NULL, *q, *name, *rest;
	uint64_t sectors, off = 0, start;
	struct vx *x;
	int i;

	for (i = 0, q = line; i < 3; i++, q = NULL)
		if ((tok[i] = strtok_r(q, " \t", &save)) == NULL)
			return vm_err_set(err, -EINVAL, "%s: descriptor line "
			    "%d: incomplete extent", b->path, lineno);
	rest = save ? save : (char *)"";
	if (parse_u64(tok[1], &sectors) < 0 || sectors > (1ull << 53))
		return vm_err_set(err, -EINVAL, "%s: descriptor line %d: bad "
		    "extent size '%s'", b->path, lineno, tok[1]);
	if (m->n >= VD_MAX_EXTENTS)
		return vm_err_set(err, -EINVAL, "%s: more than %d extents",
		    b->path, VD_MAX_EXTENTS);
	start = m->n ? m->ext[m->n - 1].start + m->ext[m->n - 1].len : 0;
	if (start + sectors * 512 > (1ull << 62))
		return vm_err_set(err, -EINVAL, "%s: extents add up to an "
		    "absurd size", b->path);
	if (embedded || sectors == 0)   /* this file, or nothing (as qemu) */
		return 0;
	x = &m->ext[m->n];
	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->start = start;
	x->len = sectors * 512;
	x->rdonly = (flags & BLK_F_RDONLY) || strcmp(tok[0], "RW") != 0;
	snprintf(x->tname, sizeof(x->tname), "%s", tok[2]);
	if (strcmp(tok[2], "ZERO") == 0) {
		x->type = VX_ZERO;
		m->n++;
		return 0;
	}
	if (strcmp(tok[2], "FLAT") == 0 || strcmp(tok[2], "VMFS") == 0)
		x->type = VX_FLAT;
	else if (strcmp(tok[2], "SPARSE") == 0)
		x->type = VX_SPARSE;
	else
		return vm_err_set(err, -ENOTSUP, "%s: descriptor line %d: "
		    "extent type %s is not supported", b->path, lineno, tok[2]);
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest != '"' || (q = strchr(rest + 1, '"')) == NULL ||
	    q == rest + 1)
		return vm_err_set(err, -EINVAL, "%s: descriptor line %d: the "
		    "extent's file name is not quoted", b->path, lineno);
	name = rest + 1;
	*q++ = '\0';
	while (*q == ' ' || *q == '\t')
		q++;
	if (*q && *q != '\r' && parse_u64(q, &off) < 0)
		return vm_err_set(err, -EINVAL, "%s: descriptor line %d: bad "
		    "extent offset", b->path, lineno);
	if (off > (1ull << 53))
		return vm_err_set(err, -EINVAL, "%s: descriptor line %d: bad "
		    "extent offset", b->path, lineno);
	x->flat_off = off * 512;
	extent_path(b->path, name, x->path, sizeof(x->path));
	m->n++;
	if (open_extent_file(b, x, err) < 0)
		return -EINVAL;
	if (x->type == VX_SPARSE)
		return open_sparse(b, x, err);
	return 0;
}

/* Parse descriptor text (NUL-terminated, modified in place).  embedded:
 * it lives in the sparse extent b itself, whose extent line is not
 * opened again. */
static int
parse_desc(struct blk *b, char *text, unsigned flags, bool embedded,
    struct vm_err *err)
{
	struct vmdk *m = b->priv;
	char *line, *save = NULL, *eq, val[1024];
	bool version = false, parent = false;
	int lineno = 0, ret;

	m->parent_cid = UINT32_MAX;
	for (line = strtok_r(text, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0' || *line == '\r')
			continue;
		if (strncmp(line, "RW ", 3) == 0 ||
		    strncmp(line, "RDONLY ", 7) == 0 ||
		    strncmp(line, "NOACCESS ", 9) == 0) {
			if ((ret = parse_extent(b, line, flags, embedded, lineno,
			    err)) < 0)
				return ret;
			continue;
		}
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		desc_value(val, sizeof(val), eq + 1);
		for (char *e = eq; e > line && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		if (strcmp(line, "version") == 0) {
			version = true;
		} else if (strcmp(line, "CID") == 0) {
			m->cid = (uint32_t)strtoul(val, NULL, 16);
		} else if (strcmp(line, "parentCID") == 0) {
			m->parent_cid = (uint32_t)strtoul(val, NULL, 16);
		} else if (strcmp(line, "createType") == 0) {
			/* longer than any type: cut, then refused as unknown */
			snprintf(m->create_type, sizeof(m->create_type), "%.*s",
			    (int)sizeof(m->create_type) - 1, val);
		} else if (strcmp(line, "parentFileNameHint") == 0) {
			if (strlen(val) >= sizeof(b->backing_name))
				return vm_err_set(err, -EINVAL, "%s: parent "
				    "file name too long", b->path);
			snprintf(b->backing_name, sizeof(b->backing_name), "%s",
			    val);
			parent = true;
		}
	}
	if (!version && !embedded)
		return vm_err_set(err, -EINVAL, "%s: descriptor has no version "
		    "line", b->path);
	if (!embedded && m->n == 0)
		return vm_err_set(err, -EINVAL, "%s: descriptor lists no "
		    "extents", b->path);
	if (!parent || m->parent_cid == UINT32_MAX || !b->backing_name[0])
		b->backing_name[0] = '\0';
	return 0;
}

static int
read_text(struct blk *b, struct vx *x, uint64_t off, uint64_t len,
    char **out, struct vm_err *err)
{
	char *t = malloc(len + 1);

	if (t == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (vd_read_file(b, x, t, (size_t)len, off) < 0) {
		free(t);
		*err = b->ioerr;
		return -EIO;
	}
	t[len] = '\0';
	*out = t;
	return 0;
}

/* A sparse file opened directly: itself the one extent, plus its
 * embedded descriptor for the CID and parent. */
static int
open_monolithic(struct blk *b, unsigned flags, struct vm_err *err)
{
	struct vmdk *m = b->priv;
	struct vx *x = &m->ext[0];
	uint64_t doff, dsize;
	char *text;
	int ret;

	x->type = VX_SPARSE;
	x->fd = b->fd;
	x->rdonly = flags & BLK_F_RDONLY;
	snprintf(x->path, sizeof(x->path), "%s", b->path);
	m->n = 1;
	m->parent_cid = UINT32_MAX;
	if ((ret = open_sparse(b, x, err)) < 0)
		return ret;
	x->len = x->capacity * 512;
	doff = vd_le64(x->hdr + VH_DESC_OFF);
	dsize = vd_le64(x->hdr + VH_DESC_SIZE);
	snprintf(m->create_type, sizeof(m->create_type), "%s",
	    x->compressed ? "streamOptimized" : "monolithicSparse");
	if (doff == 0 || dsize == 0)
		return 0;
	if (dsize > VD_MAX_DESC / 512 || doff > x->file_size / 512 ||
	    dsize * 512 > x->file_size - doff * 512)
		return vm_err_set(err, -EINVAL, "%s: embedded descriptor is "
		    "past the end of the file", b->path);
	if ((ret = read_text(b, x, doff * 512, dsize * 512, &text, err)) < 0)
		return ret;
	ret = parse_desc(b, text, flags, true, err);
	free(text);
	return ret;
}

static int
open_descriptor(struct blk *b, uint64_t size, unsigned flags,
    struct vm_err *err)
{
	struct vx self = { .fd = b->fd, .file_size = size };
	char *text;
	int ret;

	snprintf(self.path, sizeof(self.path), "%s", b->path);
	if (size > VD_MAX_DESC)
		return vm_err_set(err, -EINVAL, "%s: descriptor file larger "
		    "than 1 MiB", b->path);
	if ((ret = read_text(b, &self, 0, size, &text, err)) < 0)
		return ret;
	/* qemu-img pads the text with NULs to a sector: it ends there. */
	ret = parse_desc(b, text, flags, false, err);
	free(text);
	return ret;
}

static void
vmdk_close(struct blk *b)
{
	struct vmdk *m = b->priv;
	int i;

	for (i = 0; m->ext && i < m->n; i++) {
		if (m->ext[i].own_fd && m->ext[i].fd >= 0)
			close(m->ext[i].fd);
		free(m->ext[i].gd);
		free(m->ext[i].rgd);
		free(m->ext[i].gt);
		free(m->ext[i].sgt);
	}
	free(m->ext);
	free(m->info);
	free(m->gbuf);
	free(m->cbuf);
	free(m->dbuf);
	memset(m, 0, sizeof(*m));
}

/* Buffers, the info list, and the checks that need every extent. */
int
vd_finish_open(struct blk *b, unsigned flags, struct vm_err *err)
{
	struct vmdk *m = b->priv;
	struct vx *x;
	int i;

	b->size = 0;
	for (i = 0; i < m->n; i++) {
		x = &m->ext[i];
		x->start = b->size;
		b->size += x->len;
		if (x->type == VX_SPARSE && x->grain > m->max_grain)
			m->max_grain = x->grain;
		if (x->type == VX_SPARSE && x->compressed && !x->rdonly) {
			int ret = vd_stream_open(b, x, err);

			if (ret < 0)
				return ret;
		}
	}
	m->info = calloc((size_t)m->n, sizeof(*m->info));
	m->cbuf_len = (size_t)(2 * m->max_grain + 1024);
	if (m->info == NULL || (m->max_grain &&
	    ((m->gbuf = malloc((size_t)m->max_grain)) == NULL ||
	    (m->dbuf = malloc((size_t)m->max_grain)) == NULL ||
	    (m->cbuf = malloc(m->cbuf_len + 512)) == NULL)))
		return vm_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < m->n; i++) {
		struct blk_extent *e = &m->info[i];

		x = &m->ext[i];
		snprintf(e->filename, sizeof(e->filename), "%s",
		    x->type == VX_ZERO ? "" : x->path);
		snprintf(e->format, sizeof(e->format), "%s",
		    x->fd == b->fd ? "" : x->tname);
		e->size = x->len;
		e->cluster_size = x->type == VX_SPARSE ? (uint32_t)x->grain : 0;
		e->compressed = x->compressed;
	}
	(void)flags;
	return 0;
}

static int
vmdk_open(struct blk *b, int fd, unsigned flags, struct vm_err *err)
{
	struct vmdk *m = b->priv;
	uint8_t h[32];
	struct stat st;
	ssize_t n;
	int ret;

	if (fstat(fd, &st) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	m->ext = calloc(VD_MAX_EXTENTS, sizeof(*m->ext));
	if (m->ext == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	n = pread(fd, h, sizeof(h), 0);
	if (n >= 4 && vd_le32(h) == VD_MAGIC) {
		m->ext[0].file_size = (uint64_t)st.st_size;
		ret = open_monolithic(b, flags, err);
	} else if (n >= 4 && vd_le32(h) == VD_COWD_MAGIC) {
		ret = vm_err_set(err, -ENOTSUP, "%s: VMDK3 (COWD) sparse images "
		    "are not supported", b->path);
	} else if (n > 0 && is_descriptor(h, (size_t)n)) {
		ret = open_descriptor(b, (uint64_t)st.st_size, flags, err);
	} else {
		ret = vm_err_set(err, -EINVAL, "%s: not a VMDK image (bad "
		    "magic, and no descriptor)", b->path);
	}
	if (ret == 0)
		ret = vd_finish_open(b, flags, err);
	if (ret < 0)
		vmdk_close(b);
	else if (b->backing_name[0])
		snprintf(b->backing_fmt, sizeof(b->backing_fmt), "vmdk");
	return ret < 0 ? ret : 0;
}

static void
vmdk_info(struct blk *b, struct blk_info *info)
{
	struct vmdk *m = b->priv;

	if (m->n && m->ext[0].type == VX_SPARSE)
		info->cluster_size = (uint32_t)m->ext[0].grain;
	snprintf(info->create_type, sizeof(info->create_type), "%s",
	    m->create_type);
	info->cid = m->cid;
	info->parent_cid = m->parent_cid;
	info->nextents = m->n;
	info->extents = m->info;
}

const struct blk_driver blk_vmdk = {
	.name = "vmdk",
	.priv_size = sizeof(struct vmdk),
	.probe = vmdk_probe,
	.open = vmdk_open,
	.close = vmdk_close,
	.create = vd_create,
	.stream_new = vd_stream_new,
	.preadv = vmdk_preadv,
	.pwritev = vd_pwritev,
	.compress = vd_compress,
	.write_compressed = vd_write_compressed,
	.flush = vd_flush,
	.block_status = vmdk_block_status,
	.info = vmdk_info,
	.check = vd_check,
};
