/*
 * PNG output (png.h).  The file is the signature, IHDR (width, height,
 * depth 8, colour type 2 = RGB), one IDAT holding the zlib stream of
 * the filtered rows (filter 0, none, before each row) and IEND; every
 * chunk is length, type, data and the CRC-32 of type and data (PNG 1.2,
 * 3.2 and 4.1), which zlib computes.  It is written beside its name
 * (NAME.XXXXXX) and renamed into place, so a failed write leaves any
 * older file of that name as it was and no partial one; a name that is
 * not a regular file (a device, a FIFO, a link) is written through.
 */
#include "util/png.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/err.h"

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int
chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
	uint8_t hdr[8], tail[4];
	uLong crc = crc32(0, (const Bytef *)type, 4);

	put32(hdr, len);
	memcpy(hdr + 4, type, 4);
	if (len)
		crc = crc32(crc, data, len);
	put32(tail, (uint32_t)crc);
	if (fwrite(hdr, 1, 8, f) != 8 ||
	    (len && fwrite(data, 1, len, f) != len) ||
	    fwrite(tail, 1, 4, f) != 4)
		return -EIO;
	return 0;
}

int
png_write_rgb(const char *path, const uint32_t *px, unsigned w, unsigned h,
    struct vm_err *err)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	uint8_t ihdr[13] = { 0 };
	size_t stride = (size_t)w * 3 + 1, rawlen = stride * h;
	uint8_t *raw, *z;
	uLongf zlen;
	unsigned x, y;
	char tmp[4096];
	struct stat st;
	mode_t mask;
	bool direct;
	FILE *f;
	int fd, ret;

	if (w == 0 || h == 0 || w > 16384 || h > 16384)
		return vm_err_set(err, -EINVAL, "%s: no picture of %ux%u",
		    path, w, h);
	raw = malloc(rawlen);
	zlen = compressBound((uLong)rawlen);
	z = malloc(zlen);
	if (raw == NULL || z == NULL) {
		free(raw);
		free(z);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	for (y = 0; y < h; y++) {
		uint8_t *row = raw + y * stride;

		row[0] = 0;
		for (x = 0; x < w; x++) {
			uint32_t p = px[(size_t)y * w + x];

			row[1 + 3 * x] = (uint8_t)(p >> 16);
			row[2 + 3 * x] = (uint8_t)(p >> 8);
			row[3 + 3 * x] = (uint8_t)p;
		}
	}
	ret = compress2(z, &zlen, raw, (uLong)rawlen, 6) == Z_OK ? 0 : -ENOMEM;
	free(raw);
	if (ret < 0) {
		free(z);
		return vm_err_set(err, ret, "%s: zlib failed", path);
	}
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		free(z);
		return vm_err_set(err, -ENAMETOOLONG, "%s: name too long", path);
	}
	/* Anything but a regular file (a device, a FIFO, a symbolic link)
	 * is written through, not replaced. */
	direct = lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
	fd = direct ? open(path, O_WRONLY | O_TRUNC | O_CLOEXEC) :
	    mkstemp(tmp);
	if (fd < 0 || (f = fdopen(fd, "wb")) == NULL) {
		ret = -errno;
		if (fd >= 0) {
			close(fd);
			if (!direct)
				unlink(tmp);
		}
		free(z);
		return vm_err_set(err, ret, "%s: %s", path, strerror(-ret));
	}
	if (!direct) {
		mask = umask(0);
		umask(mask);
		(void)fchmod(fd, 0666 & ~mask);
	}
	put32(ihdr, w);
	put32(ihdr + 4, h);
	ihdr[8] = 8;
	ihdr[9] = 2;
	if (fwrite(sig, 1, 8, f) != 8 || chunk(f, "IHDR", ihdr, 13) < 0 ||
	    chunk(f, "IDAT", z, (uint32_t)zlen) < 0 ||
	    chunk(f, "IEND", NULL, 0) < 0)
		ret = -EIO;
	free(z);
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && !direct && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		if (!direct)
			unlink(tmp);
		return vm_err_set(err, ret, "%s: %s", path, ret == -EIO ?
		    "write failed" : strerror(-ret));
	}
	return 0;
}
