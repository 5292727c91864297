/*
 * raw: the image is the disk, byte for byte.  Regular files and block
 * devices; holes punched for discard keep sparse files sparse.  Opened
 * BLK_F_DIRECT (convert's output), aligned writes bypass the page cache.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/io.h"
#include "util/track.h"

static int
raw_probe(const uint8_t *hdr, size_t len)
{
	(void)hdr;
	(void)len;
	return 1;       /* anything is a raw image; every other format wins */
}

static int
raw_open(struct blk *b, int fd, unsigned flags, struct vm_err *err)
{
	struct stat st;
	uint64_t size;

	(void)flags;
	if (fstat(fd, &st) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return vm_err_errno(err, -errno, "%s: cannot get the "
			    "device size", b->path);
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		return vm_err_set(err, -EINVAL, "%s: not a file or block "
		    "device", b->path);
	}
	b->size = size;
	return 0;
}

/* Full transfers: loop over short reads and writes; reads past the end of
 * a file that shrank under us give zeros. */
static int
raw_rw(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off,
    bool write)
{
	struct iovec v[64];
	int n, k, fd;
	ssize_t got;

	while (iovcnt > 0) {
		n = iovcnt < 64 ? iovcnt : 64;
		for (k = 0; k < n; k++)
			v[k] = iov[k];
		iov += n;
		iovcnt -= n;
		k = 0;
		while (k < n) {
			fd = write ? blk_write_fd(b, v + k, n - k, off) : b->fd;
			got = write ? pwritev(fd, v + k, n - k, (off_t)off) :
			    preadv(fd, v + k, n - k, (off_t)off);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EINVAL && fd != b->fd) {
					blk_direct_off(b);
					continue;
				}
				return -errno;
			}
			if (got == 0) {
				if (write)
					return -EIO;
				for (; k < n; k++)
					memset(v[k].iov_base, 0, v[k].iov_len);
				break;
			}
			if (write)
				io_track_note(fd, off, (uint64_t)got);
			off += (uint64_t)got;
			while (k < n && (size_t)got >= v[k].iov_len) {
				got -= (ssize_t)v[k].iov_len;
				k++;
			}
			if (k < n) {
				v[k].iov_base = (uint8_t *)v[k].iov_base + got;
				v[k].iov_len -= (size_t)got;
			}
		}
	}
	return 0;
}

static int
raw_preadv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return raw_rw(b, iov, iovcnt, off, false);
}

static int
raw_pwritev(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return raw_rw(b, iov, iovcnt, off, true);
}

static int
raw_flush(struct blk *b)
{
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

static int
raw_discard(struct blk *b, uint64_t off, uint64_t len)
{
	io_track_note(b->fd, off, len);
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)off, (off_t)len) < 0 && errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

/* Holes (SEEK_HOLE) read as zeros; everything else is data. */
static int
raw_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host)
{
	off_t d, h;

	*host = off;
	d = lseek(b->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno == ENXIO) {
		*pnum = len;    /* a hole to the end of the file */
		return BLK_S_ZERO;
	}
	if (d < 0) {
		*pnum = len;
		return BLK_S_DATA;
	}
	if ((uint64_t)d > off) {
		*pnum = (uint64_t)d - off < len ? (uint64_t)d - off : len;
		return BLK_S_ZERO;
	}
	h = lseek(b->fd, (off_t)off, SEEK_HOLE);
	if (h < 0 || (uint64_t)h <= off || (uint64_t)h - off > len)
		*pnum = len;
	else
		*pnum = (uint64_t)h - off;
	return BLK_S_DATA;
}

static int
fill(int fd, uint64_t size, const char *path, struct vm_err *err)
{
	static const uint8_t zero[65536];
	uint64_t off;
	size_t c;
	int ret;

	for (off = 0; off < size; off += c) {
		c = size - off < sizeof(zero) ? size - off : sizeof(zero);
		if ((ret = io_pwrite_full(fd, zero, c, off)) < 0)
			return vm_err_errno(err, ret, "%s", path);
	}
	return 0;
}

/* preallocation: off (a sparse file), falloc (blocks reserved), full
 * (zeros written). */
static int
raw_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	const char *pa = o->prealloc ? o->prealloc : "off";

	if (o->backing)
		return vm_err_set(err, -EINVAL, "%s: raw images have no "
		    "backing file", path);
	if (io_ftruncate(fd, (off_t)o->size) < 0)
		return vm_err_errno(err, -errno, "%s", path);
	if (strcmp(pa, "off") == 0)
		return 0;
	if (strcmp(pa, "falloc") == 0) {
		int r = o->size ? posix_fallocate(fd, 0, (off_t)o->size) : 0;

		return r ? vm_err_errno(err, -r, "%s: preallocation", path) : 0;
	}
	if (strcmp(pa, "full") == 0)
		return fill(fd, o->size, path, err);
	return vm_err_set(err, -EINVAL, "%s: preallocation '%s' is not one of "
	    "off, falloc, full", path, pa);
}

static int
raw_resize(struct blk *b, uint64_t size, struct vm_err *err)
{
	if (io_ftruncate(b->fd, (off_t)size) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	b->size = size;
	return 0;
}

const struct blk_driver blk_raw = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.discard = raw_discard,
	.create = raw_create,
	.block_status = raw_block_status,
	.resize = raw_resize,
};
