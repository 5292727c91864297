/*
 * The block layer's front: open an image (probing its format from content
 * unless one is given), and the I/O entry points every user calls.  The
 * image is locked against a second writer (flock: exclusive for
 * read-write, shared for read-only), as QEMU does, so two VMs never write
 * the same disk.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/err.h"

extern const struct blk_driver blk_raw;

static const struct blk_driver *const drivers[] = {
	&blk_raw,
	NULL,
};

const struct blk_driver *
blk_driver_find(const char *name)
{
	size_t i;

	for (i = 0; drivers[i] != NULL; i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

static const struct blk_driver *
probe(int fd)
{
	uint8_t hdr[4096];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	const struct blk_driver *best = NULL;
	int score, best_score = -1;
	size_t i;

	if (n < 0)
		n = 0;
	for (i = 0; drivers[i] != NULL; i++) {
		score = drivers[i]->probe ? drivers[i]->probe(hdr, (size_t)n) :
		    0;
		if (score > best_score) {
			best_score = score;
			best = drivers[i];
		}
	}
	return best;
}

struct blk *
blk_open(const char *path, const char *format, unsigned flags,
    struct vm_err *err)
{
	const struct blk_driver *drv = NULL;
	struct blk *b;
	bool ro = flags & BLK_F_RDONLY;
	int fd, ret;

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
	if (flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			vm_err_set(err, -EBUSY, "%s: in use by another "
			    "process (it holds a lock on the image)", path);
		else
			vm_err_errno(err, -errno, "%s: cannot lock", path);
		close(fd);
		return NULL;
	}
	if (drv == NULL)
		drv = probe(fd);
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
	ret = drv->open(b, fd, flags, err);
	if (ret < 0) {
		free(b->priv);
		free(b);
		close(fd);
		return NULL;
	}
	return b;
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
	close(b->fd);
	free(b->priv);
	free(b);
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

int
blk_flush(struct blk *b)
{
	if (b->flags & BLK_F_RDONLY)
		return 0;
	return b->drv->flush ? b->drv->flush(b) : 0;
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
