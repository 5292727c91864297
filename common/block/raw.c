/*
 * raw: the image is the disk, byte for byte.  Regular files and block
 * devices; holes punched for discard keep sparse files sparse.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

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
	int n, k;
	ssize_t got;

	while (iovcnt > 0) {
		n = iovcnt < 64 ? iovcnt : 64;
		for (k = 0; k < n; k++)
			v[k] = iov[k];
		iov += n;
		iovcnt -= n;
		k = 0;
		while (k < n) {
			got = write ? pwritev(b->fd, v + k, n - k, (off_t)off) :
			    preadv(b->fd, v + k, n - k, (off_t)off);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (got == 0) {
				if (write)
					return -EIO;
				for (; k < n; k++)
					memset(v[k].iov_base, 0, v[k].iov_len);
				break;
			}
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
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)off, (off_t)len) < 0 && errno != EOPNOTSUPP)
		return -errno;
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
};
