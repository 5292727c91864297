/*
 * Positioned reads and writes that finish: pread and pwrite may move less
 * than asked (a signal, a full pipe-like device), so every caller that
 * needs all the bytes goes through these loops.
 */
#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/track.h"

int
io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	io_track_note(fd, off, len);
	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_pread_zfill(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_seq_write(int fd, uint64_t *pos, const void *buf, size_t len,
    uint64_t off)
{
	static const uint8_t zeros[4096];
	size_t n;
	int ret;

	if (off < *pos)
		return -ESPIPE;
	while (*pos < off) {
		n = off - *pos < sizeof(zeros) ? (size_t)(off - *pos) :
		    sizeof(zeros);
		if ((ret = io_write_full(fd, zeros, n)) < 0)
			return ret;
		*pos += n;
	}
	if ((ret = io_write_full(fd, buf, len)) < 0)
		return ret;
	*pos += len;
	return 0;
}

int
io_read_full(int fd, void *buf, size_t len, size_t *got)
{
	uint8_t *p = buf;
	ssize_t n;

	*got = 0;
	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		p += n;
		*got += (size_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A rename is a change to the directory, which fsync of the file does
 * not write: without the directory's fsync a crash can bring back the
 * old name (or no file) over contents that were synced.
 */
int
io_rename_durable(const char *tmp, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (rename(tmp, path) < 0)
		return -errno;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Some file systems cannot sync a directory: nothing to make
	 * durable there. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		ret = -errno;
	close(fd);
	return ret;
}
