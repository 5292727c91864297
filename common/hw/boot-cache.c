/*
 * A cache of decompressed kernel payloads, so that booting the same
 * bzImage again skips its decompression (xz: most of a second for
 * Debian's kernel, a fifth of the boot on the DBT).
 *
 * Design: one file per payload in $XDG_CACHE_HOME/vmkit/kernels (else
 * ~/.cache/vmkit/kernels), named by the payload's format, compressed
 * length and CRC-32.  A file is a 32-byte header -- magic "VMKITKC1", the
 * compressed length, the decompressed length, the CRC-32 of the
 * compressed payload and of the decompressed bytes -- then the bytes.  A
 * hit must match the name's key and the header, and its bytes their
 * CRC-32, else it is a miss (a damaged entry is simply rewritten).
 * Entries are written to a temporary file and renamed into place, so a
 * reader never sees half of one; failures to write are not errors (the
 * cache is an optimisation).  VMKIT_KERNEL_CACHE=0 turns it off.  At most
 * KC_KEEP entries are kept: the oldest are removed when one is added.
 * Threads: the loader's, before any vCPU runs.
 */
#include "hw/boot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/log.h"

#define KC_MAGIC "VMKITKC1"
#define KC_HDR 32
#define KC_KEEP 4

static uint32_t
crc_of(const uint8_t *p, uint64_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

static void
put64(uint8_t *p, uint64_t v)
{
	int k;

	for (k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int k;

	for (k = 7; k >= 0; k--)
		v = v << 8 | p[k];
	return v;
}

/* The cache directory into dir (created when make); false if none. */
static bool
cache_dir(char *dir, size_t size, bool make)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	const char *off = getenv("VMKIT_KERNEL_CACHE");
	char base[PATH_MAX];
	int n;

	if (off != NULL && strcmp(off, "0") == 0)
		return false;
	if (x != NULL && x[0] == '/')
		n = snprintf(base, sizeof(base), "%s", x);
	else if (home != NULL && home[0] == '/')
		n = snprintf(base, sizeof(base), "%s/.cache", home);
	else
		return false;
	if (n < 0 || (size_t)n >= sizeof(base))
		return false;
	n = snprintf(dir, size, "%s/vmkit/kernels", base);
	if (n < 0 || (size_t)n >= size)
		return false;
	if (make) {
		char sub[PATH_MAX + 8];

		(void)mkdir(base, 0700);
		snprintf(sub, sizeof(sub), "%s/vmkit", base);
		(void)mkdir(sub, 0700);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return false;
	}
	return true;
}

static bool
entry_path(char *path, size_t size, const char *dir, enum boot_zfmt fmt,
    uint64_t len, uint32_t crc)
{
	int n = snprintf(path, size, "%s/%s-%llu-%08x", dir,
	    boot_payload_format_name(fmt), (unsigned long long)len, crc);

	return n > 0 && (size_t)n < size;
}

int
boot_cache_get(const uint8_t *p, uint64_t len, uint64_t limit,
    uint8_t **outp, uint64_t *outlenp)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t hdr[KC_HDR], *out;
	uint32_t crc;
	uint64_t olen;
	ssize_t got;
	int fd;

	if (!cache_dir(dir, sizeof(dir), false))
		return -ENOENT;
	crc = crc_of(p, len);
	if (!entry_path(path, sizeof(path), dir, boot_payload_format(p, len),
	    len, crc))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (read(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, KC_MAGIC, 8) != 0 || get64(hdr + 8) != len ||
	    (uint32_t)get64(hdr + 24) != crc) {
		close(fd);
		return -ENOENT;
	}
	olen = get64(hdr + 16);
	if (olen == 0 || olen > limit || (out = malloc(olen)) == NULL) {
		close(fd);
		return -ENOENT;
	}
	got = pread(fd, out, olen, KC_HDR);
	close(fd);
	if (got != (ssize_t)olen ||
	    crc_of(out, olen) != (uint32_t)(get64(hdr + 24) >> 32)) {
		log_debug(LOG_BOOT, "%s: damaged, not used", path);
		free(out);
		return -ENOENT;
	}
	*outp = out;
	*outlenp = olen;
	return 0;
}

static bool
write_all(int fd, const uint8_t *p, uint64_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (uint64_t)n;
	}
	return true;
}

/* Keep the KC_KEEP newest entries of dir. */
static void
prune(const char *dir)
{
	char oldest[PATH_MAX] = "", path[PATH_MAX];
	time_t t_old = 0;
	struct dirent *d;
	struct stat st;
	int count = 0;
	DIR *dp;

	for (;;) {
		if ((dp = opendir(dir)) == NULL)
			return;
		count = 0;
		oldest[0] = '\0';
		while ((d = readdir(dp)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			    d->d_name) >= (int)sizeof(path) ||
			    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			count++;
			if (oldest[0] == '\0' || st.st_mtime < t_old) {
				t_old = st.st_mtime;
				snprintf(oldest, sizeof(oldest), "%s", path);
			}
		}
		closedir(dp);
		if (count <= KC_KEEP || oldest[0] == '\0' ||
		    unlink(oldest) < 0)
			return;
	}
}

void
boot_cache_put(const uint8_t *p, uint64_t len, const uint8_t *out,
    uint64_t olen)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 16];
	uint8_t hdr[KC_HDR];
	uint32_t crc;
	bool ok;
	int fd;

	if (!cache_dir(dir, sizeof(dir), true))
		return;
	crc = crc_of(p, len);
	if (!entry_path(path, sizeof(path), dir, boot_payload_format(p, len),
	    len, crc))
		return;
	memcpy(hdr, KC_MAGIC, 8);
	put64(hdr + 8, len);
	put64(hdr + 16, olen);
	put64(hdr + 24, (uint64_t)crc_of(out, olen) << 32 | crc);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	ok = write_all(fd, hdr, sizeof(hdr)) && write_all(fd, out, olen);
	if (close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		log_debug(LOG_BOOT, "%s: not cached: %s", path,
		    strerror(errno));
		(void)unlink(tmp);
		return;
	}
	prune(dir);
}
