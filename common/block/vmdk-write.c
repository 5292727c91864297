/*
 * vmdk writing: guest writes to flat and sparse extents, the
 * streamOptimized writer, and create for every subformat qemu-img makes.
 *
 * Sparse extents: a write to an unallocated grain appends a whole grain
 * (the rest filled from the parent or zeros) at the end of the extent
 * file, then points the redundant GT entry and then the GT entry at it,
 * so a crash leaves at worst a grain nothing points to.  The GTs must
 * exist already (every writer, qemu-img and ours included, preallocates
 * them).
 *
 * streamOptimized is written once, in order, as convert does: each grain
 * deflated (zlib) behind its marker, appended; the GTs are kept in memory
 * and written at flush with their markers, then the GD, the footer (a
 * copy of the header that says where the GD is) and the end-of-stream
 * marker.  The header itself says "GD at the end", so the file is a
 * stream a reader can take from a pipe.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "block/vmdk-int.h"
#include "util/err.h"
#include "util/io.h"
#include "util/track.h"

#define GRAIN_SECTORS 128u
#define NGTE 512u
#define GT_SECTORS (NGTE * 4 / 512)

static uint64_t
div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* ---- streamOptimized ---- */

/* Only a stream with nothing in it yet (as create leaves it) is opened
 * for writing; it is then rewritten from the end of its header. */
int
vd_stream_open(struct blk *b, struct vx *x, struct vm_err *err)
{
	uint32_t i;

	for (i = 0; i < x->ngt && x->gd[i] == 0; i++)
		;
	if (vd_le64(x->hdr + VH_GD_OFF) != VD_GD_AT_END || i < x->ngt ||
	    x->overhead == 0 || x->overhead > x->file_size / 512 ||
	    x->fd != b->fd)
		return vm_err_set(err, -EROFS, "%s: streamOptimized images are "
		    "written once, in order, by create and convert; convert "
		    "it to another subformat to change it", b->path);
	x->sgt = calloc((size_t)x->ngt * x->ngte + 1, 4);
	if (x->sgt == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	x->stream = true;
	x->next = x->overhead * 512;
	return 0;
}

/* A write at byte at: positioned, or (seq not NULL: a stream at *seq)
 * in order. */
static int
out(int fd, uint64_t *seq, const void *buf, size_t len, uint64_t at)
{
	return seq ? io_seq_write(fd, seq, buf, len, at) :
	    io_pwrite_full(fd, buf, len, at);
}

static int
put_marker(int fd, uint64_t *seq, uint64_t val, uint32_t type, uint64_t at)
{
	uint8_t s[512] = { 0 };

	vd_put64(s, val);
	vd_put32(s + 12, type);
	return out(fd, seq, s, 512, at);
}

/* A table of n LE u32 at at, zero-padded to a sector. */
static int
put_table(int fd, uint64_t *seq, const uint32_t *t, uint64_t n, uint64_t at)
{
	uint8_t buf[4096];
	uint64_t i = 0, k, c;
	int ret;

	while (i < n || i == 0) {
		c = n - i < 1024 ? n - i : 1024;
		memset(buf, 0, sizeof(buf));
		for (k = 0; k < c; k++)
			vd_put32(buf + k * 4, t ? t[i + k] : 0);
		if ((ret = out(fd, seq, buf, (size_t)((c * 4 + 511) &
		    ~511ull), at + i * 4)) < 0)
			return ret;
		i += c;
		if (n == 0)
			break;
	}
	return 0;
}

/*
 * Write a stream's tail at byte pos: the GTs that have entries (each
 * behind a GT marker), the GD behind its marker, the footer marker and
 * footer, the end-of-stream marker.  *end is where the file ends.  seq
 * not NULL: fd is a stream at *seq (nothing truncated).
 */
static int
put_trailer(int fd, uint64_t *seq, const uint8_t *hdr, const uint32_t *sgt,
    uint32_t ngt, uint32_t ngte, uint64_t pos, uint64_t *end)
{
	uint64_t gts = div_up((uint64_t)ngte * 4, 512);
	uint64_t gds = div_up((uint64_t)ngt * 4, 512);
	uint32_t *gd = calloc(ngt ? ngt : 1, 4), i, k;
	uint8_t foot[512];
	int ret = 0;

	if (gd == NULL)
		return -ENOMEM;
	for (i = 0; i < ngt && ret == 0; i++) {
		const uint32_t *t = sgt ? sgt + (uint64_t)i * ngte : NULL;

		for (k = 0; t && k < ngte && t[k] == 0; k++)
			;
		if (t == NULL || k == ngte)
			continue;
		if ((ret = put_marker(fd, seq, gts, VD_MARKER_GT, pos)) < 0 ||
		    (ret = put_table(fd, seq, t, ngte, pos + 512)) < 0)
			break;
		gd[i] = (uint32_t)(pos / 512 + 1);
		pos += 512 + gts * 512;
	}
	if (ret == 0 && (ret = put_marker(fd, seq, gds, VD_MARKER_GD, pos)) == 0)
		ret = put_table(fd, seq, gd, ngt, pos + 512);
	memcpy(foot, hdr, 512);
	vd_put64(foot + VH_GD_OFF, pos / 512 + 1);
	pos += 512 + gds * 512;
	if (ret == 0 && (ret = put_marker(fd, seq, 1, VD_MARKER_FOOTER,
	    pos)) == 0 && (ret = out(fd, seq, foot, 512, pos + 512)) == 0)
		ret = put_marker(fd, seq, 0, VD_MARKER_EOS, pos + 1024);
	free(gd);
	*end = pos + 1536;
	if (ret == 0 && seq == NULL && io_ftruncate(fd, (off_t)*end) < 0)
		ret = -errno;
	return ret;
}

static struct vx *
stream_extent(struct blk *b)
{
	struct vmdk *m = b->priv;

	return m->n == 1 && m->ext[0].stream ? &m->ext[0] : NULL;
}

size_t
vd_compress(struct blk *b, const void *in, void *out, size_t cap)
{
	struct vx *x = stream_extent(b);
	z_stream z;
	size_t n;

	if (x == NULL)
		return 0;
	memset(&z, 0, sizeof(z));
	if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
		return 0;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)x->grain;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	n = deflate(&z, Z_FINISH) == Z_STREAM_END ? cap - z.avail_out : 0;
	deflateEnd(&z);
	return n;
}

/*
 * Append the grain at guest offset off: n deflated bytes, or when n is 0
 * (it did not shrink) plain stored in deflate's uncompressed blocks,
 * which every reader accepts and costs no time to make.
 */
int
vd_write_compressed(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off)
{
	struct vmdk *m = b->priv;
	struct vx *x = stream_extent(b);
	uint64_t gi, len;
	z_stream z;
	int ret;

	if (x == NULL)
		return vd_fail(b, "compressed grains are only written to "
		    "streamOptimized images");
	gi = off >> x->grain_bits;
	if (off & (x->grain - 1) || gi < x->last_grain ||
	    gi >= (uint64_t)x->ngt * x->ngte)
		return vd_fail(b, "streamOptimized grain at %#llx written out "
		    "of order", (unsigned long long)off);
	if (n == 0) {
		memset(&z, 0, sizeof(z));
		if (deflateInit(&z, Z_NO_COMPRESSION) != Z_OK)
			return -ENOMEM;
		z.next_in = (Bytef *)plain;
		z.avail_in = (uInt)x->grain;
		z.next_out = m->cbuf + 12;
		z.avail_out = (uInt)(m->cbuf_len - 12);
		ret = deflate(&z, Z_FINISH);
		n = m->cbuf_len - 12 - z.avail_out;
		deflateEnd(&z);
		if (ret != Z_STREAM_END)
			return vd_fail(b, "cannot store the grain at %#llx",
			    (unsigned long long)off);
	} else if (n > m->cbuf_len - 12) {
		return -EINVAL;
	} else {
		memcpy(m->cbuf + 12, data, n);
	}
	vd_put64(m->cbuf, off / 512);
	vd_put32(m->cbuf + 8, (uint32_t)n);
	len = (12 + n + 511) & ~511ull;
	memset(m->cbuf + 12 + n, 0, (size_t)(len - 12 - n));
	if (vd_write_file(b, x, m->cbuf, (size_t)len, x->next) < 0)
		return -EIO;
	x->sgt[gi] = (uint32_t)(x->next / 512);
	x->next += len;
	x->last_grain = gi + 1;
	x->dirty = true;
	return 0;
}

int
vd_flush(struct blk *b)
{
	struct vmdk *m = b->priv;
	struct vx *x;
	uint64_t end;
	int i, ret;

	for (i = 0; i < m->n; i++) {
		x = &m->ext[i];
		if (x->stream && x->dirty) {
			ret = put_trailer(x->fd, x->seq ? &x->seq_pos : NULL,
			    x->hdr, x->sgt, x->ngt, x->ngte, x->next, &end);
			if (ret < 0)
				return vm_err_errno(&b->ioerr, ret, "%s: writing "
				    "the end of the stream", x->path);
			x->file_size = end;
			x->dirty = false;
		}
		if (x->fd >= 0 && !x->rdonly && !x->seq && fdatasync(x->fd) < 0)
			return vm_err_errno(&b->ioerr, -errno, "%s", x->path);
	}
	return 0;
}

/* ---- guest writes ---- */

static int
set_gte(struct blk *b, struct vx *x, uint64_t gi, uint32_t *gte,
    uint32_t sector)
{
	uint64_t gdi = gi / x->ngte, k = gi % x->ngte;
	uint8_t e[4];

	vd_put32(e, sector);
	if (x->rgd && x->rgd[gdi] && !vd_gt_ok(x, x->rgd[gdi]))
		return vd_fail(b, "redundant grain directory entry %llu points "
		    "past the end of the file", (unsigned long long)gdi);
	if (x->rgd && x->rgd[gdi] && vd_write_file(b, x, e, 4,
	    (uint64_t)x->rgd[gdi] * 512 + k * 4) < 0)
		return -EIO;
	if (vd_write_file(b, x, e, 4, (uint64_t)x->gd[gdi] * 512 + k * 4) < 0)
		return -EIO;
	*gte = sector;
	return 0;
}

/* Write n bytes (within one grain) at extent offset in. */
static int
write_grain(struct blk *b, struct vx *x, const uint8_t *buf, uint64_t n,
    uint64_t in)
{
	struct vmdk *m = b->priv;
	uint64_t gs = in & ~(x->grain - 1), host;
	enum vx_kind kind;
	uint32_t *gte;
	const uint8_t *src = buf;

	if (vd_lookup(b, x, in, &kind, &host, &gte) < 0)
		return -EIO;
	if (kind == VK_DATA)
		return vd_write_file(b, x, buf, (size_t)n, host + (in - gs));
	if (gte == NULL)
		return vd_fail(b, "the grain directory has no grain table for "
		    "guest offset %#llx; writing there is not supported",
		    (unsigned long long)(x->start + in));
	if (x->next / 512 > UINT32_MAX - x->grain / 512)
		return vd_fail(b, "%s is full (grain offsets past 2 TiB)",
		    x->path);
	if (n < x->grain) {
		if (kind == VK_ZERO)
			memset(m->gbuf, 0, (size_t)x->grain);
		else if (blk_read_backing(b, m->gbuf, (size_t)x->grain,
		    x->start + gs) < 0)
			return -EIO;
		memcpy(m->gbuf + (in - gs), buf, (size_t)n);
		src = m->gbuf;
	}
	if (vd_write_file(b, x, src, (size_t)x->grain, x->next) < 0)
		return -EIO;
	x->next += x->grain;
	return set_gte(b, x, in >> x->grain_bits, gte,
	    (uint32_t)((x->next - x->grain) / 512));
}

static int
vd_write(struct blk *b, const uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vmdk *m = b->priv;
	uint64_t in, n;
	struct vx *x;
	int i;

	while (len > 0) {
		for (i = m->n - 1; i > 0 && m->ext[i].start > off; i--)
			;
		x = &m->ext[i];
		in = off - x->start;
		n = x->len - in < len ? x->len - in : len;
		if (x->type == VX_ZERO || x->rdonly)
			return vd_fail(b, "extent %s is read-only", x->type ==
			    VX_ZERO ? "ZERO" : x->path);
		if (x->compressed)
			return vd_fail(b, "streamOptimized images take only "
			    "compressed grains, in order (vm-disk convert)");
		if (x->type == VX_SPARSE) {
			uint64_t g = x->grain - (in & (x->grain - 1));

			n = n < g ? n : g;
			if (write_grain(b, x, buf, n, in) < 0)
				return -EIO;
		} else if (vd_write_file(b, x, buf, (size_t)n,
		    x->flat_off + in) < 0) {
			return -EIO;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

int
vd_pwritev(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct vmdk *m = b->priv;
	int k;

	for (k = 0; k < iovcnt; k++) {
		if (vd_write(b, iov[k].iov_base, iov[k].iov_len, off) < 0)
			return -EIO;
		off += iov[k].iov_len;
	}
	m->dext = NULL;
	return 0;
}

/* ---- create ---- */

struct cext {
	char name[1024];
	uint64_t sectors;
	bool sparse;
};

struct cdesc {
	uint32_t cid, pcid;
	const char *type;
	const char *parent;
	struct cext *ext;
	int n;
};

static int
desc_text(char *buf, size_t cap, const struct cdesc *d)
{
	uint64_t total = 0, cyl;
	size_t p;
	int i;

	p = (size_t)snprintf(buf, cap, "# Disk DescriptorFile\nversion=1\n"
	    "CID=%08x\nparentCID=%08x\ncreateType=\"%s\"\n", d->cid, d->pcid,
	    d->type);
	if (d->parent && p < cap)
		p += (size_t)snprintf(buf + p, cap - p,
		    "parentFileNameHint=\"%s\"\n", d->parent);
	if (p < cap)
		p += (size_t)snprintf(buf + p, cap - p, "\n# Extent "
		    "description\n");
	for (i = 0; i < d->n && p < cap; i++) {
		total += d->ext[i].sectors;
		p += (size_t)snprintf(buf + p, cap - p, "RW %llu %s \"%s\"%s\n",
		    (unsigned long long)d->ext[i].sectors,
		    d->ext[i].sparse ? "SPARSE" : "FLAT", d->ext[i].name,
		    d->ext[i].sparse ? "" : " 0");
	}
	cyl = total / (16 * 63);
	if (cyl > 65535)
		cyl = 65535;
	if (p < cap)
		p += (size_t)snprintf(buf + p, cap - p, "\n# The Disk Data "
		    "Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n"
		    "ddb.geometry.cylinders = \"%llu\"\nddb.geometry.heads = "
		    "\"16\"\nddb.geometry.sectors = \"63\"\n"
		    "ddb.adapterType = \"ide\"\n", (unsigned long long)cyl);
	return p < cap ? (int)p : -ENAMETOOLONG;
}

static void
header(uint8_t *h, uint64_t sectors, bool stream)
{
	memset(h, 0, 512);
	vd_put32(h, VD_MAGIC);
	vd_put32(h + VH_VERSION, stream ? 3 : 1);
	vd_put32(h + VH_FLAGS, stream ? VD_FLAG_NL | VD_FLAG_COMP |
	    VD_FLAG_MARKERS : VD_FLAG_NL | VD_FLAG_RGD);
	vd_put64(h + VH_CAPACITY, sectors);
	vd_put64(h + VH_GRAIN, GRAIN_SECTORS);
	vd_put64(h + VH_DESC_OFF, 1);
	vd_put64(h + VH_DESC_SIZE, VD_DESC_SECTORS);
	vd_put32(h + VH_NGTE, NGTE);
	h[VH_UNCLEAN + 1] = '\n';
	h[VH_UNCLEAN + 2] = ' ';
	h[VH_UNCLEAN + 3] = '\r';
	h[VH_UNCLEAN + 4] = '\n';
	if (stream)
		h[VH_COMP_ALGO] = 1;
}

/*
 * A sparse extent on fd: header, the descriptor text (if any) at sector
 * 1, then (as qemu-img lays it out) the redundant GD and its GTs, the GD
 * and its GTs, data from the next grain boundary.  A stream has only the
 * header and descriptor, then an empty tail.
 */
static int
write_sparse(int fd, uint64_t sectors, const char *text, bool stream)
{
	uint64_t ngt = div_up(sectors, (uint64_t)GRAIN_SECTORS * NGTE);
	uint64_t gds = div_up(ngt * 4, 512), rgd = 1 + VD_DESC_SECTORS;
	uint64_t gd = rgd + gds + ngt * GT_SECTORS, over, end, i;
	uint32_t *t;
	uint8_t h[512], d[VD_DESC_SECTORS * 512] = { 0 };
	int ret;

	header(h, sectors, stream);
	if (text)
		memcpy(d, text, strlen(text));
	if (stream) {
		vd_put64(h + VH_GD_OFF, VD_GD_AT_END);
		vd_put64(h + VH_OVERHEAD, GRAIN_SECTORS);
		if ((ret = io_pwrite_full(fd, h, 512, 0)) < 0 ||
		    (ret = io_pwrite_full(fd, d, sizeof(d), 512)) < 0)
			return ret;
		return put_trailer(fd, NULL, h, NULL, (uint32_t)ngt, NGTE,
		    GRAIN_SECTORS * 512, &end);
	}
	over = div_up(gd + gds + ngt * GT_SECTORS, GRAIN_SECTORS) *
	    GRAIN_SECTORS;
	vd_put64(h + VH_RGD_OFF, rgd);
	vd_put64(h + VH_GD_OFF, gd);
	vd_put64(h + VH_OVERHEAD, over);
	if ((t = calloc(ngt ? ngt : 1, 4)) == NULL)
		return -ENOMEM;
	if ((ret = io_pwrite_full(fd, h, 512, 0)) < 0 ||
	    (ret = io_pwrite_full(fd, d, sizeof(d), 512)) < 0)
		goto out;
	for (i = 0; i < ngt; i++)
		t[i] = (uint32_t)(rgd + gds + i * GT_SECTORS);
	if ((ret = put_table(fd, NULL, t, ngt, rgd * 512)) < 0)
		goto out;
	for (i = 0; i < ngt; i++)
		t[i] = (uint32_t)(gd + gds + i * GT_SECTORS);
	if ((ret = put_table(fd, NULL, t, ngt, gd * 512)) < 0)
		goto out;
	if (io_ftruncate(fd, (off_t)(over * 512)) < 0)
		ret = -errno;
out:
	free(t);
	return ret;
}

static uint32_t
new_cid(void)
{
	uint32_t c;

	if (getrandom(&c, sizeof(c), 0) != sizeof(c))
		c = (uint32_t)time(NULL) ^ (uint32_t)getpid() * 2654435761u;
	return c >= 0xfffffffeu ? c - 2 : c;
}

/* The parent's CID, which the new image records (the parent must be a
 * vmdk, as qemu-img requires). */
static int
parent_cid(const char *path, const struct blk_create_opts *o, uint32_t *cid,
    struct vm_err *err)
{
	char dir[4096], bp[8192];
	struct blk_info in;
	struct blk *p;

	if (o->backing_fmt && strcmp(o->backing_fmt, "vmdk") != 0)
		return vm_err_set(err, -EINVAL, "%s: the backing file of a vmdk "
		    "image must be vmdk, not %s", path, o->backing_fmt);
	snprintf(dir, sizeof(dir), "%s", path);
	if (o->backing[0] == '/' || strchr(path, '/') == NULL)
		snprintf(bp, sizeof(bp), "%s", o->backing);
	else
		snprintf(bp, sizeof(bp), "%s/%s", dirname(dir), o->backing);
	p = blk_open(bp, NULL, BLK_F_RDONLY | BLK_F_NOBACKING | BLK_F_NOLOCK,
	    err);
	if (p == NULL)
		return -EINVAL;
	if (strcmp(p->drv->name, "vmdk") != 0) {
		blk_close(p);
		return vm_err_set(err, -EINVAL, "%s: the backing file of a vmdk "
		    "image must be vmdk, not %s", path, p->drv->name);
	}
	blk_get_info(p, &in);
	*cid = in.cid;
	blk_close(p);
	return 0;
}

static int
subformat(const char *s, bool *sparse, bool *split, bool *stream)
{
	*sparse = *split = *stream = false;
	if (s == NULL || strcmp(s, "monolithicSparse") == 0)
		*sparse = true;
	else if (strcmp(s, "monolithicFlat") == 0)
		;
	else if (strcmp(s, "twoGbMaxExtentSparse") == 0)
		*sparse = *split = true;
	else if (strcmp(s, "twoGbMaxExtentFlat") == 0)
		*split = true;
	else if (strcmp(s, "streamOptimized") == 0)
		*sparse = *stream = true;
	else
		return -1;
	return 0;
}

/* The extent files of a descriptor-file image, each made beside path. */
static int
make_extents(const char *path, struct cdesc *d, struct vm_err *err)
{
	char dir[4096], p[8192];
	int i, fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	for (i = 0; i < d->n && ret == 0; i++) {
		if (strchr(path, '/'))
			snprintf(p, sizeof(p), "%s/%s", dirname(dir), d->ext[i].name);
		else
			snprintf(p, sizeof(p), "%s", d->ext[i].name);
		snprintf(dir, sizeof(dir), "%s", path);
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0) {
			ret = vm_err_errno(err, -errno, "%s", p);
			break;
		}
		ret = d->ext[i].sparse ? write_sparse(fd, d->ext[i].sectors,
		    NULL, false) : io_ftruncate(fd, (off_t)(d->ext[i].sectors *
		    512)) < 0 ? -errno : 0;
		if (ret == 0 && fsync(fd) < 0)
			ret = -errno;
		close(fd);
		if (ret < 0) {
			vm_err_errno(err, ret, "%s", p);
			unlink(p);
		}
	}
	while (ret < 0 && --i >= 0) {
		if (strchr(path, '/'))
			snprintf(p, sizeof(p), "%s/%s", dirname(dir), d->ext[i].name);
		else
			snprintf(p, sizeof(p), "%s", d->ext[i].name);
		snprintf(dir, sizeof(dir), "%s", path);
		unlink(p);
	}
	return ret;
}

static int
create_files(int fd, const char *path, uint64_t sectors, struct cdesc *d,
    bool sparse, bool split, bool stream, struct vm_err *err)
{
	char base[4096], stem[4096], text[VD_DESC_SECTORS * 512];
	uint64_t per = VD_SPLIT_BYTES / 512, left;
	size_t l;
	int n, ret;

	snprintf(base, sizeof(base), "%s", path);
	snprintf(stem, sizeof(stem), "%s", basename(base));
	l = strlen(stem);
	if (l > 5 && strcmp(stem + l - 5, ".vmdk") == 0)
		stem[l - 5] = '\0';
	n = split ? (int)div_up(sectors ? sectors : 1, per) : 1;
	if (n > VD_MAX_EXTENTS)
		return vm_err_set(err, -EINVAL, "%s: too large for %d extents",
		    path, VD_MAX_EXTENTS);
	d->ext = calloc((size_t)n, sizeof(*d->ext));
	if (d->ext == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	d->n = n;
	for (int i = 0; i < n; i++) {
		left = sectors - (uint64_t)i * per;
		d->ext[i].sectors = split && left > per ? per : left;
		d->ext[i].sparse = sparse;
		if (!split && sparse)
			snprintf(d->ext[i].name, sizeof(d->ext[i].name), "%s",
			    basename(base));
		else if (!split)
			snprintf(d->ext[i].name, sizeof(d->ext[i].name),
			    "%.1000s-flat.vmdk", stem);
		else
			snprintf(d->ext[i].name, sizeof(d->ext[i].name),
			    "%.1000s-%c%03d.vmdk", stem, sparse ? 's' : 'f',
			    i + 1);
	}
	if (desc_text(text, sizeof(text), d) < 0)
		return vm_err_set(err, -EINVAL, "%s: descriptor too long", path);
	if (sparse && !split) {
		ret = write_sparse(fd, sectors, text, stream);
		return ret < 0 ? vm_err_errno(err, ret, "%s", path) : 0;
	}
	if ((ret = make_extents(path, d, err)) < 0)
		return ret;
	if ((ret = io_pwrite_full(fd, text, strlen(text), 0)) < 0)
		return vm_err_errno(err, ret, "%s", path);
	return 0;
}

int
vd_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	bool sparse, split, stream;
	uint64_t sectors = (o->size + 511) / 512;
	struct cdesc d = { new_cid(), 0xffffffffu, NULL, NULL, NULL, 0 };
	int ret;

	if (subformat(o->subformat, &sparse, &split, &stream) < 0)
		return vm_err_set(err, -EINVAL, "%s: subformat '%s' is not one of "
		    "monolithicSparse, monolithicFlat, twoGbMaxExtentSparse, "
		    "twoGbMaxExtentFlat, streamOptimized", path, o->subformat);
	if (o->prealloc && strcmp(o->prealloc, "off") != 0)
		return vm_err_set(err, -ENOTSUP, "%s: vmdk preallocation '%s' "
		    "is not supported (only off)", path, o->prealloc);
	if (o->cluster_size && o->cluster_size != GRAIN_SECTORS * 512)
		return vm_err_set(err, -ENOTSUP, "%s: vmdk grains are 64 KiB; "
		    "cluster_size cannot be changed", path);
	if (o->compat || o->compression)
		return vm_err_set(err, -EINVAL, "%s: compat and "
		    "compression_type are qcow2 options", path);
	if (sectors > (1ull << 40))
		return vm_err_set(err, -EINVAL, "%s: vmdk images are limited "
		    "to 512 TiB", path);
	if (o->backing && (!sparse || stream))
		return vm_err_set(err, -EINVAL, "%s: %s images cannot have a "
		    "backing file", path, o->subformat);
	d.type = o->subformat ? o->subformat : "monolithicSparse";
	if (o->backing) {
		if ((ret = parent_cid(path, o, &d.pcid, err)) < 0)
			return ret;
		d.parent = o->backing;
	}
	ret = create_files(fd, path, sectors, &d, sparse, split, stream, err);
	free(d.ext);
	return ret;
}

/*
 * A streamOptimized image written to b->fd, which need not seek (a
 * pipe): the header and descriptor now, then grains in order, the tail
 * at flush, every byte once and in order.
 */
int
vd_stream_new(struct blk *b, const struct blk_create_opts *o,
    struct vm_err *err)
{
	struct vmdk *m = b->priv;
	uint64_t sectors = (o->size + 511) / 512;
	struct cext ext = { "", sectors, true };
	struct cdesc d = { new_cid(), 0xffffffffu, "streamOptimized", NULL,
		&ext, 1 };
	char text[VD_DESC_SECTORS * 512] = { 0 };
	struct vx *x;

	if (o->subformat == NULL || strcmp(o->subformat, "streamOptimized"))
		return vm_err_set(err, -ESPIPE, "%s: only streamOptimized vmdk "
		    "images can be written to a stream (-o "
		    "subformat=streamOptimized)", b->path);
	if (o->backing || sectors > (1ull << 40))
		return vm_err_set(err, -EINVAL, "%s: no backing file, and at "
		    "most 512 TiB, in a streamOptimized image", b->path);
	snprintf(ext.name, sizeof(ext.name), "%s", basename(b->path));
	if (desc_text(text, sizeof(text), &d) < 0)
		return vm_err_set(err, -EINVAL, "%s: name too long", b->path);
	if ((m->ext = calloc(1, sizeof(*m->ext))) == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	m->n = 1;
	m->cid = d.cid;
	m->parent_cid = UINT32_MAX;
	strcpy(m->create_type, "streamOptimized");
	x = &m->ext[0];
	x->type = VX_SPARSE;
	x->fd = b->fd;
	x->seq = true;
	snprintf(x->path, sizeof(x->path), "%s", b->path);
	header(x->hdr, sectors, true);
	vd_put64(x->hdr + VH_GD_OFF, VD_GD_AT_END);
	vd_put64(x->hdr + VH_OVERHEAD, GRAIN_SECTORS);
	x->version = 3;
	x->flags = vd_le32(x->hdr + VH_FLAGS);
	x->capacity = sectors;
	x->grain = GRAIN_SECTORS * 512;
	x->grain_bits = 16;
	x->ngte = NGTE;
	x->ngt = (uint32_t)div_up(sectors, (uint64_t)GRAIN_SECTORS * NGTE);
	x->overhead = GRAIN_SECTORS;
	x->compressed = x->markers = true;
	x->len = sectors * 512;
	x->gt_idx = UINT32_MAX;
	x->gd = calloc(x->ngt ? x->ngt : 1, 4);
	if (x->gd == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (vd_write_file(b, x, x->hdr, 512, 0) < 0 ||
	    vd_write_file(b, x, text, sizeof(text), 512) < 0)
		return vm_err_set(err, -EIO, "%s", b->ioerr.msg);
	x->file_size = x->overhead * 512;
	return vd_finish_open(b, 0, err);
}
