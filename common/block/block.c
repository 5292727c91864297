/*
 * The block layer's front: open an image (probing its format from content
 * unless one is given) with its backing chain, create images, and the I/O
 * entry points every user calls.  The image is locked against a second
 * writer (flock: exclusive for read-write, shared for read-only), as QEMU
 * does, so two VMs never write the same disk.
 *
 * Backing files are opened read-only, named relative to the directory of
 * the image that names them (as qemu-img does), at most BLK_BACKING_MAX
 * deep; a file met twice in one chain (same device and inode) is a loop
 * and refused.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/io.h"

extern const struct blk_driver blk_raw;
extern const struct blk_driver blk_qcow2;
extern const struct blk_driver blk_vdi;
extern const struct blk_driver blk_vpc;
extern const struct blk_driver blk_vmdk;

static const struct blk_driver *const drivers[] = {
	&blk_qcow2,
	&blk_vdi,
	&blk_vpc,
	&blk_vmdk,
	&blk_raw,
	NULL,
};

const struct blk_driver *
blk_driver_find(const char *name)
{
	size_t i;

	if (strcmp(name, "vhd") == 0)   /* qemu calls VHD "vpc" */
		name = "vpc";
	for (i = 0; drivers[i] != NULL; i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

/* The last (up to) 512 bytes of the file, for probe_tail; their count. */
static size_t
read_tail(int fd, uint8_t *tail)
{
	struct stat st;
	off_t at;
	ssize_t n;

	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		return 0;
	at = st.st_size > 512 ? st.st_size - 512 : 0;
	n = pread(fd, tail, (size_t)(st.st_size - at), at);
	return n > 0 ? (size_t)n : 0;
}

static const struct blk_driver *
probe(const uint8_t *hdr, size_t n, const uint8_t *tail, size_t tn)
{
	const struct blk_driver *best = NULL;
	int score, best_score = -1, ts;
	size_t i;

	for (i = 0; drivers[i] != NULL; i++) {
		score = drivers[i]->probe ? drivers[i]->probe(hdr, n) : 0;
		ts = drivers[i]->probe_tail && tn ?
		    drivers[i]->probe_tail(tail, tn) : 0;
		if (ts > score)
			score = ts;
		if (score > best_score) {
			best_score = score;
			best = drivers[i];
		}
	}
	return best;
}

const struct blk_driver *
blk_probe_fd(int fd)
{
	uint8_t hdr[4096], tail[512];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	size_t tn = read_tail(fd, tail);

	return probe(hdr, n < 0 ? 0 : (size_t)n, tail, tn);
}

const struct blk_driver *
blk_probe_buf(const uint8_t *hdr, size_t len)
{
	return probe(hdr, len, NULL, 0);
}

/* The path of a backing file named by the image at path. */
void
blk_backing_path(const char *path, const char *name, char *out, size_t len)
{
	char dir[4096];

	if (name[0] == '/' || strchr(path, '/') == NULL) {
		snprintf(out, len, "%s", name);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(out, len, "%s/%s", dirname(dir), name);
}

struct chain {
	dev_t dev[BLK_BACKING_MAX + 1];
	ino_t ino[BLK_BACKING_MAX + 1];
	int n;
};

static struct blk *open_one(const char *path, const char *format,
    unsigned flags, struct chain *ch, struct vm_err *err);

static int
open_backing(struct blk *b, struct chain *ch, struct vm_err *err)
{
	char path[4096];
	const char *fmt = b->backing_fmt[0] ? b->backing_fmt : NULL;

	if (ch->n > BLK_BACKING_MAX)
		return vm_err_set(err, -ELOOP, "%s: backing chain deeper than "
		    "%d images", b->path, BLK_BACKING_MAX);
	blk_backing_path(b->path, b->backing_name, path, sizeof(path));
	b->backing = open_one(path, fmt, (b->flags & BLK_F_BACKING_NOLOCK ?
	    BLK_F_NOLOCK | BLK_F_BACKING_NOLOCK : b->flags & BLK_F_NOLOCK) |
	    BLK_F_RDONLY, ch, err);
	if (b->backing == NULL) {
		char msg[VM_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
		return vm_err_set(err, err ? err->code : -EIO, "%s: cannot open "
		    "its backing file: %s", b->path, msg);
	}
	return 0;
}

/*
 * Locks qemu sees.  Beside the flock that keeps vm-disk and vm-run
 * apart, an image is locked the way qemu locks its images (OFD locks
 * on single bytes), so that qemu-img, qemu-io and a running qemu on one
 * side and vmkit's tools on the other refuse an image the other writes:
 * byte 100+p is read-locked by an opener that uses permission p, 200+p
 * by one that does not let others have it (p: 0 consistent read, 1
 * write, 3 resize).  A writer uses 0, 1 and 3 and shares neither 1 nor
 * 3; a reader uses 0 and does not share 1 or 3 (as qemu-img info).  The
 * locks are taken first, then the others' looked for, so two openers at
 * once cannot both miss each other.  -1 with errno EWOULDBLOCK when
 * someone else's locks conflict; a file system without OFD locks gets
 * none (flock still holds).
 */
static int
qemu_lock(int fd, bool ro)
{
	static const int use_w[] = { 100, 101, 103, 201, 203 };
	static const int use_r[] = { 100, 201, 203 };
	/* bytes whose holder another opener must not be: the ones that
	 * mean "does not share what I use" and "uses what I do not share" */
	static const int bad_w[] = { 200, 201, 203, 101, 103 };
	static const int bad_r[] = { 200, 101, 103 };
	const int *use = ro ? use_r : use_w, *bad = ro ? bad_r : bad_w;
	size_t nuse = ro ? 3 : 5, nbad = ro ? 3 : 5, i;
	struct flock l;

	for (i = 0; i < nuse; i++) {
		l = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET,
		    .l_start = use[i], .l_len = 1 };
		if (fcntl(fd, F_OFD_SETLK, &l) < 0)
			return errno == EINVAL || errno == ENOLCK ? 0 : -1;
	}
	for (i = 0; i < nbad; i++) {
		l = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET,
		    .l_start = bad[i], .l_len = 1 };
		if (fcntl(fd, F_OFD_GETLK, &l) < 0)
			return 0;
		if (l.l_type != F_UNLCK) {
			errno = EWOULDBLOCK;
			return -1;
		}
	}
	return 0;
}

/*
 * BLK_F_DIRECT: b->dfd, the same file (inode checked) opened again with
 * O_DIRECT, for the writes blk_write_fd finds aligned.  A convert
 * through the page cache allocates a page for each byte it writes; in
 * a VM whose balloon reports free pages to the host, those pages are
 * mostly ones the host has taken back, and copying into them stalls on
 * the host's faults (bench/RESULTS.md, 2026-12-07 disk7).  Without
 * O_DIRECT (not a regular file, read-only, a file system that refuses
 * it) the flag is dropped and every write takes b->fd.  Crash safety is
 * unchanged: a driver's flush is the same fdatasync either way.
 */
static void
open_direct(struct blk *b, const struct stat *st)
{
	struct stat dst;

	b->dfd = -1;
	if (!S_ISREG(st->st_mode) || (b->flags & BLK_F_RDONLY) ||
	    (b->dfd = open(b->path, O_RDWR | O_DIRECT | O_CLOEXEC)) < 0 ||
	    fstat(b->dfd, &dst) < 0 || dst.st_dev != st->st_dev ||
	    dst.st_ino != st->st_ino)
		blk_direct_off(b);
}

void
blk_direct_off(struct blk *b)
{
	if ((b->flags & BLK_F_DIRECT) && b->dfd >= 0)
		close(b->dfd);
	b->dfd = -1;
	b->flags &= ~BLK_F_DIRECT;
}

int
blk_write_fd(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off)
{
	int k;

	if (!(b->flags & BLK_F_DIRECT) || off % 4096)
		return b->fd;
	for (k = 0; k < iovcnt; k++)
		if ((uintptr_t)iov[k].iov_base % 4096 ||
		    iov[k].iov_len % 4096)
			return b->fd;
	return b->dfd;
}

static struct blk *
open_one(const char *path, const char *format, unsigned flags,
    struct chain *ch, struct vm_err *err)
{
	const struct blk_driver *drv = NULL;
	struct blk *b;
	struct stat st = { 0 };
	bool ro = flags & BLK_F_RDONLY;
	int fd, ret, i;

	if (format != NULL && format[0] != '\0') {
		drv = blk_driver_find(format);
		if (drv == NULL) {
			vm_err_set(err, -EINVAL, "%s: unknown image format "
			    "'%s'", path, format);
			return NULL;
		}
	}
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		vm_err_errno(err, -errno, "%s", path);
		return NULL;
	}
	if (fstat(fd, &st) == 0) {
		for (i = 0; i < ch->n; i++) {
			if (ch->dev[i] == st.st_dev && ch->ino[i] == st.st_ino) {
				vm_err_set(err, -ELOOP, "%s: backing chain loops "
				    "back to an image already in it", path);
				close(fd);
				return NULL;
			}
		}
		ch->dev[ch->n] = st.st_dev;
		ch->ino[ch->n] = st.st_ino;
		ch->n++;
	}
	if (!(flags & BLK_F_NOLOCK) &&
	    (flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 ||
	    qemu_lock(fd, ro) < 0)) {
		if (errno == EWOULDBLOCK)
			vm_err_set(err, -EBUSY, "%s: in use by another "
			    "process (it holds a lock on the image; -U "
			    "inspects it anyway)", path);
		else
			vm_err_errno(err, -errno, "%s: cannot lock", path);
		close(fd);
		return NULL;
	}
	if (drv == NULL)
		drv = blk_probe_fd(fd);
	b = calloc(1, sizeof(*b));
	if (b == NULL || (drv->priv_size &&
	    (b->priv = calloc(1, drv->priv_size)) == NULL)) {
		free(b);
		close(fd);
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	b->drv = drv;
	b->fd = fd;
	b->flags = flags;
	snprintf(b->path, sizeof(b->path), "%s", path);
	if (flags & BLK_F_DIRECT)
		open_direct(b, &st);
	ret = drv->open(b, fd, flags, err);
	if (ret < 0) {
		blk_direct_off(b);
		free(b->priv);
		free(b);
		close(fd);
		return NULL;
	}
	if (b->backing_name[0] && !(flags & BLK_F_NOBACKING) &&
	    (open_backing(b, ch, err) < 0 || (drv->backing_opened &&
	    drv->backing_opened(b, err) < 0))) {
		blk_close(b);
		return NULL;
	}
	return b;
}

struct blk *
blk_open(const char *path, const char *format, unsigned flags,
    struct vm_err *err)
{
	struct chain ch;

	ch.n = 0;
	return open_one(path, format, flags, &ch, err);
}

int
blk_lock_chain(struct blk *b, struct vm_err *err)
{
	struct blk *x;

	for (x = b->backing; x != NULL; x = x->backing) {
		if (!(x->flags & BLK_F_NOLOCK))
			continue;
		if (flock(x->fd, LOCK_SH | LOCK_NB) < 0 ||
		    qemu_lock(x->fd, true) < 0)
			return errno == EWOULDBLOCK ? vm_err_set(err, -EBUSY,
			    "%s: in use by another process (it holds a lock "
			    "on the image)", x->path) :
			    vm_err_errno(err, -errno, "%s: cannot lock",
			    x->path);
		x->flags &= ~(BLK_F_NOLOCK | BLK_F_BACKING_NOLOCK);
	}
	b->flags &= ~BLK_F_BACKING_NOLOCK;
	return 0;
}

void
blk_close(struct blk *b)
{
	if (b == NULL)
		return;
	if (b->drv->close)
		b->drv->close(b);
	if (b->backing)
		blk_close(b->backing);
	blk_direct_off(b);
	close(b->fd);
	free(b->priv);
	free(b);
}

int
blk_create_fd(int fd, const char *path, const char *format,
    const struct blk_create_opts *o, struct vm_err *err)
{
	const struct blk_driver *drv = blk_driver_find(format ? format : "raw");

	if (drv == NULL)
		return vm_err_set(err, -EINVAL, "unknown image format '%s'",
		    format);
	if (drv->create == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: creating %s images is "
		    "not supported", path, drv->name);
	if ((o->refcount_bits || o->extended_l2) &&
	    strcmp(drv->name, "qcow2") != 0)
		return vm_err_set(err, -EINVAL, "%s: %s images have no "
		    "refcount_bits or extended_l2 option", path, drv->name);
	return drv->create(fd, path, o, err);
}

struct blk *
blk_stream_new(int fd, const char *name, const char *format,
    const struct blk_create_opts *o, struct vm_err *err)
{
	const struct blk_driver *drv = blk_driver_find(format ? format : "raw");
	struct blk *b;

	if (drv == NULL || drv->stream_new == NULL) {
		vm_err_set(err, -ESPIPE, "%s: %s images cannot be written to a "
		    "stream (vmdk -o subformat=streamOptimized can)", name,
		    drv ? drv->name : format);
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL || (drv->priv_size &&
	    (b->priv = calloc(1, drv->priv_size)) == NULL)) {
		free(b);
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	b->drv = drv;
	b->fd = fd;
	b->size = o->size;
	snprintf(b->path, sizeof(b->path), "%s", name);
	if (drv->stream_new(b, o, err) < 0) {
		if (drv->close)
			drv->close(b);
		free(b->priv);
		free(b);
		return NULL;
	}
	return b;
}

/*
 * Create an image at path: the new image is written to a temporary file
 * beside it, synced, and renamed over path only when complete (the
 * directory synced after), so a failure leaves whatever was at path
 * untouched and a power cut after the return keeps the new image.
 */
int
blk_create(const char *path, const char *format,
    const struct blk_create_opts *o, struct vm_err *err)
{
	char tmp[4096 + 16];
	mode_t mask;
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s: cannot create", path);
	mask = umask(0);
	umask(mask);
	(void)fchmod(fd, 0666 & ~mask);
	ret = blk_create_fd(fd, path, format, o, err);
	if (ret == 0 && fsync(fd) < 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	close(fd);
	if (ret == 0 && (ret = io_rename_durable(tmp, path)) < 0)
		ret = vm_err_errno(err, ret, "%s", path);
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/* Every request is checked against the virtual size here, so drivers
 * never see one that runs off the end. */
static int
range_ok(const struct blk *b, uint64_t off, uint64_t len)
{
	return off <= b->size && len <= b->size - off;
}

static uint64_t
iov_total(const struct iovec *iov, int n)
{
	uint64_t t = 0;
	int k;

	for (k = 0; k < n; k++)
		t += iov[k].iov_len;
	return t;
}

int
blk_preadv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	if (!range_ok(b, off, iov_total(iov, iovcnt)))
		return -EINVAL;
	return b->drv->preadv(b, iov, iovcnt, off);
}

int
blk_pwritev(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off)
{
	if (b->flags & BLK_F_RDONLY)
		return -EROFS;
	if (!range_ok(b, off, iov_total(iov, iovcnt)))
		return -EINVAL;
	return b->drv->pwritev(b, iov, iovcnt, off);
}

int
blk_pread(struct blk *b, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { buf, len };

	return blk_preadv(b, &iov, 1, off);
}

int
blk_pwrite(struct blk *b, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { (void *)buf, len };

	return blk_pwritev(b, &iov, 1, off);
}

uint32_t
blk_cluster_size(struct blk *b)
{
	struct blk_info in;

	if (b->drv->compress == NULL)
		return 0;
	blk_get_info(b, &in);
	return in.cluster_size;
}

size_t
blk_compress(struct blk *b, const void *in, void *out, size_t cap)
{
	return b->drv->compress ? b->drv->compress(b, in, out, cap) : 0;
}

int
blk_write_compressed_data(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off)
{
	if (b->flags & BLK_F_RDONLY)
		return -EROFS;
	if (b->drv->write_compressed == NULL)
		return -ENOTSUP;
	if (off >= b->size)
		return -EINVAL;
	return b->drv->write_compressed(b, data, n, plain, off);
}

/* One whole cluster (zero-padded past the end of the image), stored
 * compressed where that makes it smaller. */
int
blk_write_compressed(struct blk *b, const void *buf, uint64_t off)
{
	uint32_t cs = blk_cluster_size(b);
	uint8_t *out;
	size_t n;
	int ret;

	if (cs == 0)
		return -ENOTSUP;
	if ((out = malloc(cs)) == NULL)
		return -ENOMEM;
	n = blk_compress(b, buf, out, cs);
	ret = blk_write_compressed_data(b, out, n, buf, off);
	free(out);
	return ret;
}

int
blk_flush(struct blk *b)
{
	if (b->flags & BLK_F_RDONLY)
		return 0;
	return b->drv->flush ? b->drv->flush(b) : 0;
}

uint64_t
blk_writeback_idle(struct blk *b)
{
	if (b->flags & BLK_F_RDONLY)
		return 0;
	return b->drv->writeback_idle ? b->drv->writeback_idle(b) : 0;
}

int
blk_discard(struct blk *b, uint64_t off, uint64_t len)
{
	if (b->flags & BLK_F_RDONLY)
		return -EROFS;
	if (!range_ok(b, off, len))
		return -EINVAL;
	return b->drv->discard ? b->drv->discard(b, off, len) : 0;
}

int
blk_read_backing(struct blk *b, void *buf, size_t len, uint64_t off)
{
	struct blk *bk = b->backing;
	size_t n = 0;

	if (bk != NULL && off < bk->size) {
		n = bk->size - off < len ? (size_t)(bk->size - off) : len;
		if (blk_pread(bk, buf, n, off) < 0) {
			b->ioerr = bk->ioerr;
			return -EIO;
		}
	}
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

int
blk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host, int *depth)
{
	uint64_t n, h;
	int ret, d = 0;

	if (!range_ok(b, off, len) || len == 0)
		return -EINVAL;
	for (;;) {
		if (b->drv->block_status == NULL) {
			*pnum = len;
			*host = off;
			*depth = d;
			return BLK_S_DATA;
		}
		ret = b->drv->block_status(b, off, len, &n, &h);
		if (ret < 0)
			return ret;
		if (n == 0 || n > len)
			return -EIO;
		len = n;
		if (ret & (BLK_S_DATA | BLK_S_ZERO) || b->backing == NULL ||
		    off >= b->backing->size) {
			*pnum = len;
			*host = h;
			*depth = d;
			return ret;
		}
		b = b->backing;
		if (len > b->size - off)
			len = b->size - off;
		d++;
	}
}

void
blk_get_info(struct blk *b, struct blk_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->backing, sizeof(info->backing), "%s", b->backing_name);
	snprintf(info->backing_fmt, sizeof(info->backing_fmt), "%s",
	    b->backing_fmt);
	if (b->drv->info)
		b->drv->info(b, info);
}

int
blk_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err)
{
	void (*fn)(void *, const char *) = res->note;
	void *ctx = res->note_ctx;

	memset(res, 0, sizeof(*res));
	res->note = fn;
	res->note_ctx = ctx;
	if (b->drv->check == NULL)
		return 0;
	res->supported = true;
	return b->drv->check(b, repair, res, err);
}

int
blk_resize(struct blk *b, uint64_t size, struct vm_err *err)
{
	if (b->flags & BLK_F_RDONLY)
		return vm_err_set(err, -EROFS, "%s: opened read-only", b->path);
	if (b->drv->resize == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: resizing %s images is "
		    "not supported", b->path, b->drv->name);
	return b->drv->resize(b, size, err);
}

int
blk_snapshots(struct blk *b, const struct blk_snapshot **list)
{
	*list = NULL;
	return b->drv->snapshots ? b->drv->snapshots(b, list) : 0;
}

static int
need_rw(struct blk *b, bool have, const char *what, struct vm_err *err)
{
	if (b->flags & BLK_F_RDONLY)
		return vm_err_set(err, -EROFS, "%s: opened read-only", b->path);
	if (!have)
		return vm_err_set(err, -ENOTSUP, "%s: %s images have no %s",
		    b->path, b->drv->name, what);
	return 0;
}

int
blk_snapshot_create(struct blk *b, const char *name, struct vm_err *err)
{
	int ret = need_rw(b, b->drv->snapshot_create != NULL,
	    "internal snapshots", err);

	return ret < 0 ? ret : b->drv->snapshot_create(b, name, err);
}

int
blk_snapshot_apply(struct blk *b, const char *name, struct vm_err *err)
{
	int ret = need_rw(b, b->drv->snapshot_apply != NULL,
	    "internal snapshots", err);

	return ret < 0 ? ret : b->drv->snapshot_apply(b, name, err);
}

int
blk_snapshot_view(struct blk *b, const char *name, struct vm_err *err)
{
	if (!(b->flags & BLK_F_RDONLY))
		return vm_err_set(err, -EINVAL, "%s: a snapshot is viewed "
		    "through a read-only handle", b->path);
	if (b->drv->snapshot_view == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: %s images have no "
		    "internal snapshots", b->path, b->drv->name);
	return b->drv->snapshot_view(b, name, err);
}

int
blk_snapshot_delete(struct blk *b, const char *name, struct vm_err *err)
{
	int ret = need_rw(b, b->drv->snapshot_delete != NULL,
	    "internal snapshots", err);

	return ret < 0 ? ret : b->drv->snapshot_delete(b, name, err);
}

int
blk_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err)
{
	int ret = need_rw(b, b->drv->set_backing != NULL,
	    "backing file field", err);

	return ret < 0 ? ret : b->drv->set_backing(b, name, fmt, err);
}

int
blk_make_empty(struct blk *b, struct vm_err *err)
{
	int ret = need_rw(b, b->drv->make_empty != NULL,
	    "way to be emptied", err);

	return ret < 0 ? ret : b->drv->make_empty(b, err);
}

int
blk_fail(struct blk *b, const char *fmt, ...)
{
	char msg[VM_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vm_err_set(&b->ioerr, -EIO, "%s: %s", b->path, msg);
}

/*
 * The crash-consistency tests' hook: with VMKIT_BLOCK_CRASH_AFTER=N in
 * the environment, the process ends with _exit(9), as if killed, just
 * before the Nth write a driver makes to an image through this call
 * (qcow2: every write, data and metadata, and those of create).  The
 * variable is read once; anything but a positive number disables it.
 * Nothing else in common/ ends the process: this exists for tests/515.
 */
void
blk_crash_point(void)
{
	static long left = -1;
	const char *v;
	char *end;

	if (left == -1) {
		v = getenv("VMKIT_BLOCK_CRASH_AFTER");
		left = 0;
		if (v && *v) {
			left = strtol(v, &end, 10);
			if (*end || left < 0)
				left = 0;
		}
	}
	if (left > 0 && --left == 0)
		_exit(9);
}
