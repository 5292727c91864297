/*
 * The snapshot container.  Layout (all integers little-endian):
 *
 *   file header  "VMKSNAP\0", u32 format, u32 flags, u64 time,
 *                char vmkit_version[32], u32 CRC32 of the bytes before it
 *   sections     "SECT", char name[32], u32 instance, u32 version,
 *                u32 flags, u32 pad, u64 len, u32 payload CRC32,
 *                u32 CRC32 of this header's bytes before it;
 *                then pad bytes (zero), then len bytes of payload
 *   end          a section named "end" with no payload
 *
 * The reader checks the whole file before anyone applies a byte of it.
 */
#include "snap/snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/err.h"
#include "util/version.h"

#define FILE_HDR 60
#define SECT_HDR 68

uint32_t
snap_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
snap_writer_open(struct snap_writer *w, const char *path, uint32_t flags,
    struct vm_err *err)
{
	return snap_writer_open_time(w, path, flags, (uint64_t)time(NULL), err);
}

int
snap_writer_open_time(struct snap_writer *w, const char *path,
    uint32_t flags, uint64_t when, struct vm_err *err)
{
	uint8_t h[FILE_HDR] = { 0 };
	int ret;

	memset(w, 0, sizeof(*w));
	w->path = path;
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	memcpy(h, SNAP_MAGIC, 8);
	put32(h + 8, SNAP_FORMAT_VERSION);
	put32(h + 12, flags);
	put64(h + 16, when);
	snprintf((char *)h + 24, 32, "%s", VMKIT_VERSION);
	put32(h + 56, snap_crc32(0, h, 56));
	ret = pwrite_all(w->fd, h, sizeof(h), 0);
	if (ret < 0) {
		snap_writer_abort(w);
		return vm_err_errno(err, ret, "%s", path);
	}
	w->off = FILE_HDR;
	return 0;
}

static void
sect_header(uint8_t *h, const char *name, uint32_t instance,
    uint32_t version, uint32_t flags, uint32_t pad, uint64_t len,
    uint32_t crc)
{
	memset(h, 0, SECT_HDR);
	memcpy(h, "SECT", 4);
	memcpy(h + 4, name, strnlen(name, SNAP_NAME_MAX));
	put32(h + 36, instance);
	put32(h + 40, version);
	put32(h + 44, flags);
	put32(h + 48, pad);
	put64(h + 52, len);
	put32(h + 60, crc);
	put32(h + 64, snap_crc32(0, h, 64));
}

int
snap_writer_section(struct snap_writer *w, const char *name,
    uint32_t instance, const struct snap_vis *v, struct vm_err *err)
{
	uint8_t h[SECT_HDR];
	int ret;

	sect_header(h, name, instance, v->version, 0, 0, v->len,
	    snap_crc32(0, v->buf, v->len));
	ret = pwrite_all(w->fd, h, sizeof(h), w->off);
	if (ret == 0)
		ret = pwrite_all(w->fd, v->buf, v->len, w->off + SECT_HDR);
	if (ret < 0)
		return vm_err_errno(err, ret, "%s: section '%s'", w->path,
		    name);
	w->off += SECT_HDR + v->len;
	return 0;
}

/* The raw section being written. */
static struct {
	char name[SNAP_NAME_MAX + 1];
	uint32_t instance, version, pad;
	uint64_t hdr_off;
} raw;

int
snap_writer_begin_raw(struct snap_writer *w, const char *name,
    uint32_t instance, uint32_t version, uint64_t align,
    uint64_t *payload_off, struct vm_err *err)
{
	uint64_t start = w->off + SECT_HDR;

	if (align > 1)
		start = (start + align - 1) & ~(align - 1);
	snprintf(raw.name, sizeof(raw.name), "%s", name);
	raw.instance = instance;
	raw.version = version;
	raw.pad = (uint32_t)(start - w->off - SECT_HDR);
	raw.hdr_off = w->off;
	*payload_off = start;
	return 0;
}

static int
end_raw(struct snap_writer *w, uint64_t len, uint32_t crc, uint32_t flags,
    struct vm_err *err)
{
	uint8_t h[SECT_HDR];
	int ret;

	sect_header(h, raw.name, raw.instance, raw.version, flags, raw.pad,
	    len, crc);
	ret = pwrite_all(w->fd, h, sizeof(h), raw.hdr_off);
	if (ret < 0)
		return vm_err_errno(err, ret, "%s: section '%s'", w->path,
		    raw.name);
	w->off = raw.hdr_off + SECT_HDR + raw.pad + len;
	/* The file ends where the payload does, holes included. */
	if (ftruncate(w->fd, (off_t)w->off) < 0)
		return vm_err_errno(err, -errno, "%s", w->path);
	return 0;
}

int
snap_writer_end_raw(struct snap_writer *w, uint64_t len, uint32_t crc,
    struct vm_err *err)
{
	return end_raw(w, len, crc, 0, err);
}

int
snap_writer_end_raw_nocrc(struct snap_writer *w, uint64_t len,
    struct vm_err *err)
{
	return end_raw(w, len, 0, SNAP_SECT_NOCRC, err);
}

int
snap_writer_close(struct snap_writer *w, struct vm_err *err)
{
	struct snap_vis v;
	int ret;

	snap_vis_begin_save(&v, "end", 1, err);
	ret = snap_writer_section(w, "end", 0, &v, err);
	if (ret == 0 && fsync(w->fd) < 0)
		ret = vm_err_errno(err, -errno, "%s", w->path);
	if (close(w->fd) < 0 && ret == 0)
		ret = vm_err_errno(err, -errno, "%s", w->path);
	w->fd = -1;
	if (ret < 0)
		unlink(w->path);
	return ret;
}

void
snap_writer_abort(struct snap_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	unlink(w->path);
}

static int
crc_range(int fd, uint64_t off, uint64_t len, uint32_t *crc)
{
	static uint8_t buf[1 << 20];
	uint32_t c = 0;
	int ret;

	while (len > 0) {
		size_t n = len > sizeof(buf) ? sizeof(buf) : (size_t)len;

		ret = pread_all(fd, buf, n, off);
		if (ret < 0)
			return ret;
		c = snap_crc32(c, buf, n);
		off += n;
		len -= n;
	}
	*crc = c;
	return 0;
}

/* small: only sections up to SNAP_SECTION_MEM_MAX have their CRC checked. */
static int
reader_open(struct snap_reader *r, const char *path, bool small,
    struct vm_err *err)
{
	uint8_t h[SECT_HDR];
	struct stat st;
	uint64_t off;
	bool ended = false;
	int ret;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(r->fd, &st) < 0) {
		ret = vm_err_errno(err, -errno, "%s", path);
		goto fail;
	}
	r->size = (uint64_t)st.st_size;
	if (r->size < FILE_HDR || pread_all(r->fd, h, FILE_HDR, 0) < 0 ||
	    memcmp(h, SNAP_MAGIC, 8) != 0) {
		ret = vm_err_set(err, -EINVAL, "%s: not a vmkit snapshot "
		    "(bad magic)", path);
		goto fail;
	}
	if (get32(h + 56) != snap_crc32(0, h, 56)) {
		ret = vm_err_set(err, -EINVAL, "%s: corrupt snapshot: the file "
		    "header's checksum does not match", path);
		goto fail;
	}
	r->hdr.format = get32(h + 8);
	r->hdr.flags = get32(h + 12);
	r->hdr.time = get64(h + 16);
	memcpy(r->hdr.vmkit_version, h + 24, 32);
	r->hdr.vmkit_version[31] = '\0';
	if (r->hdr.format > SNAP_FORMAT_VERSION) {
		ret = vm_err_set(err, -EINVAL, "%s: snapshot format %u is "
		    "newer than this vmkit reads (%u; made by vmkit %s)", path,
		    r->hdr.format, SNAP_FORMAT_VERSION, r->hdr.vmkit_version);
		goto fail;
	}
	for (off = FILE_HDR; !ended;) {
		struct snap_section s = { 0 }, *ns;
		const char *prev = r->nsect ?
		    r->sect[r->nsect - 1].name : "(file header)";

		if (off + SECT_HDR > r->size) {
			ret = vm_err_set(err, -EINVAL, "%s: truncated snapshot: "
			    "it ends after section '%s' (no end marker)", path,
			    prev);
			goto fail;
		}
		ret = pread_all(r->fd, h, SECT_HDR, off);
		if (ret < 0) {
			vm_err_errno(err, ret, "%s", path);
			goto fail;
		}
		if (memcmp(h, "SECT", 4) != 0 ||
		    get32(h + 64) != snap_crc32(0, h, 64)) {
			ret = vm_err_set(err, -EINVAL, "%s: corrupt snapshot: "
			    "the section header after '%s' is damaged", path,
			    prev);
			goto fail;
		}
		memcpy(s.name, h + 4, SNAP_NAME_MAX);
		s.instance = get32(h + 36);
		s.version = get32(h + 40);
		s.flags = get32(h + 44);
		s.off = off + SECT_HDR + get32(h + 48);
		s.len = get64(h + 52);
		s.crc = get32(h + 60);
		if (s.off > r->size || s.len > r->size - s.off) {
			ret = vm_err_set(err, -EINVAL, "%s: truncated snapshot: "
			    "section '%s' (instance %u) ends past the end of "
			    "the file", path, s.name, s.instance);
			goto fail;
		}
		if (!(s.flags & SNAP_SECT_NOCRC) &&
		    (!small || s.len <= SNAP_SECTION_MEM_MAX)) {
			uint32_t c;

			ret = crc_range(r->fd, s.off, s.len, &c);
			if (ret < 0) {
				vm_err_errno(err, ret, "%s", path);
				goto fail;
			}
			if (c != s.crc) {
				ret = vm_err_set(err, -EINVAL, "%s: corrupt "
				    "snapshot: section '%s' (instance %u) "
				    "fails its CRC32 check", path, s.name,
				    s.instance);
				goto fail;
			}
		}
		ns = realloc(r->sect, (size_t)(r->nsect + 1) * sizeof(*ns));
		if (ns == NULL) {
			ret = vm_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		r->sect = ns;
		r->sect[r->nsect++] = s;
		off = s.off + s.len;
		ended = strcmp(s.name, "end") == 0;
	}
	return 0;

fail:
	snap_reader_close(r);
	return ret;
}

int
snap_reader_open(struct snap_reader *r, const char *path, struct vm_err *err)
{
	return reader_open(r, path, false, err);
}

int
snap_reader_open_small(struct snap_reader *r, const char *path,
    struct vm_err *err)
{
	return reader_open(r, path, true, err);
}

const struct snap_section *
snap_reader_find(const struct snap_reader *r, const char *name,
    uint32_t instance)
{
	int i;

	for (i = 0; i < r->nsect; i++)
		if (strcmp(r->sect[i].name, name) == 0 &&
		    r->sect[i].instance == instance)
			return &r->sect[i];
	return NULL;
}

int
snap_reader_load(struct snap_reader *r, const struct snap_section *s,
    void **out, struct vm_err *err)
{
	void *buf;
	int ret;

	if (s->len > SNAP_SECTION_MEM_MAX)
		return vm_err_set(err, -EINVAL, "%s: section '%s' is too big "
		    "(%llu bytes)", r->path, s->name,
		    (unsigned long long)s->len);
	buf = malloc(s->len ? s->len : 1);
	if (buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	ret = pread_all(r->fd, buf, s->len, s->off);
	if (ret < 0) {
		free(buf);
		return vm_err_errno(err, ret, "%s: section '%s'", r->path,
		    s->name);
	}
	*out = buf;
	return 0;
}

void
snap_reader_close(struct snap_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->sect);
	r->sect = NULL;
	r->nsect = 0;
}
