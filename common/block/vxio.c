/*
 * File I/O for the VDI and VHD drivers (see vxio.h).  Every failure is
 * recorded in b->ioerr naming the file, so vm-disk can say what broke.
 */
#include "block/vxio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/io.h"

int
vx_read(struct blk *b, void *buf, size_t len, uint64_t off)
{
	int ret = io_pread_zfill(b->fd, buf, len, off);

	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: read at %#llx",
		    b->path, (unsigned long long)off);
	return 0;
}

int
vx_write(struct blk *b, const void *buf, size_t len, uint64_t off)
{
	int ret = io_pwrite_full(b->fd, buf, len, off);

	if (ret < 0)
		return vm_err_errno(&b->ioerr, ret, "%s: write at %#llx",
		    b->path, (unsigned long long)off);
	return 0;
}

int
vx_write_zeros(struct blk *b, uint64_t len, uint64_t off)
{
	static const uint8_t zero[65536];
	size_t n;
	int ret;

	while (len > 0) {
		n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
		if ((ret = vx_write(b, zero, n, off)) < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

uint64_t
vx_file_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size :
	    0;
}

int
vx_iov(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off,
    int (*fn)(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off))
{
	int k, ret;

	for (k = 0; k < iovcnt; k++) {
		if (iov[k].iov_len == 0)
			continue;
		ret = fn(b, iov[k].iov_base, iov[k].iov_len, off);
		if (ret < 0)
			return ret;
		off += iov[k].iov_len;
	}
	return 0;
}

bool
vx_is_zero(const uint8_t *p, uint64_t len)
{
	static const uint8_t z[256];

	while (len >= sizeof(z)) {
		if (memcmp(p, z, sizeof(z)) != 0)
			return false;
		p += sizeof(z);
		len -= sizeof(z);
	}
	return len == 0 || memcmp(p, z, (size_t)len) == 0;
}
