/*
 * The send stream (vm-snap send / receive): a VM's bundle as one stream
 * through a pipe, read and written in order, never seeked.  Layout (all
 * integers little-endian):
 *
 *   header   "VMKSEND\0", u32 format, u32 flags, u32 CRC32 of the 16
 *            bytes before it
 *   records  "SREC", char name[32], u32 instance, u32 len (at most
 *            SNAP_SEND_REC_MAX), u32 payload CRC32, u32 CRC32 of this
 *            header's bytes before it; then len bytes of payload
 *   end      a record named "end" with no payload
 *
 * What the records hold is vm/transfer.c's; this file frames and checks.
 */
#include "snap/snap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

#define SEND_HDR 20
#define REC_HDR 52

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* len bytes, or how many came before the end of the stream (*got). */
static int
read_all(int fd, void *buf, size_t len, size_t *got)
{
	uint8_t *p = buf;

	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, p + *got, len - *got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		*got += (size_t)n;
	}
	return 0;
}

int
snap_send_open(struct snap_send *s, int fd, const char *what,
    struct vm_err *err)
{
	uint8_t h[SEND_HDR] = { 0 };
	int ret;

	s->fd = fd;
	s->what = what;
	memcpy(h, SNAP_SEND_MAGIC, 8);
	put32(h + 8, SNAP_SEND_VERSION);
	put32(h + 12, 0);
	put32(h + 16, snap_crc32(0, h, 16));
	ret = write_all(fd, h, sizeof(h));
	return ret < 0 ? vm_err_errno(err, ret, "%s", what) : 0;
}

int
snap_send_record(struct snap_send *s, const char *name, uint32_t instance,
    const void *buf, size_t len, struct vm_err *err)
{
	uint8_t h[REC_HDR] = { 0 };
	int ret;

	if (len > SNAP_SEND_REC_MAX || strlen(name) > SNAP_NAME_MAX)
		return vm_err_set(err, -EINVAL, "%s: record '%s' too big", s->what,
		    name);
	memcpy(h, "SREC", 4);
	memcpy(h + 4, name, strlen(name));
	put32(h + 36, instance);
	put32(h + 40, (uint32_t)len);
	put32(h + 44, snap_crc32(0, buf, len));
	put32(h + 48, snap_crc32(0, h, 48));
	ret = write_all(s->fd, h, sizeof(h));
	if (ret == 0 && len > 0)
		ret = write_all(s->fd, buf, len);
	return ret < 0 ? vm_err_errno(err, ret, "%s: record '%s'", s->what,
	    name) : 0;
}

int
snap_send_vis(struct snap_send *s, const char *name, uint32_t instance,
    struct snap_vis *v, struct vm_err *err)
{
	int ret = snap_vis_end(v);

	if (ret == 0)
		ret = snap_send_record(s, name, instance, v->buf, v->len, err);
	snap_vis_free(v);
	return ret;
}

int
snap_send_close(struct snap_send *s, struct vm_err *err)
{
	return snap_send_record(s, "end", 0, NULL, 0, err);
}

int
snap_recv_open(struct snap_recv *r, int fd, const char *what,
    struct vm_err *err)
{
	uint8_t h[SEND_HDR];
	size_t got;
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->what = what;
	snprintf(r->name, sizeof(r->name), "(stream header)");
	r->buf = malloc(SNAP_SEND_REC_MAX);
	if (r->buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	ret = read_all(fd, h, sizeof(h), &got);
	if (ret == -EPIPE && got == 0)
		return vm_err_set(err, -EINVAL, "%s: empty: no send stream "
		    "(vm-snap send VM TAG | vm-snap receive)", what);
	if (ret < 0 && ret != -EPIPE)
		return vm_err_errno(err, ret, "%s", what);
	if (ret == -EPIPE || memcmp(h, SNAP_SEND_MAGIC, 8) != 0)
		return vm_err_set(err, -EINVAL, "%s: not a vmkit send stream "
		    "(bad magic)", what);
	if (get32(h + 16) != snap_crc32(0, h, 16))
		return vm_err_set(err, -EINVAL, "%s: corrupt send stream: the "
		    "header's checksum does not match", what);
	if (get32(h + 8) > SNAP_SEND_VERSION)
		return vm_err_set(err, -EINVAL, "%s: send stream format %u is "
		    "newer than this vmkit reads (%u)", what, get32(h + 8),
		    SNAP_SEND_VERSION);
	return 0;
}

int
snap_recv_next(struct snap_recv *r, struct vm_err *err)
{
	uint8_t h[REC_HDR];
	char prev[SNAP_NAME_MAX + 16];
	size_t got;
	int ret;

	snprintf(prev, sizeof(prev), "%s", r->name);
	ret = read_all(r->fd, h, sizeof(h), &got);
	if (ret == -EPIPE)
		return vm_err_set(err, -EINVAL, "%s: truncated send stream: it "
		    "ends after record '%s' (no end record)", r->what, prev);
	if (ret < 0)
		return vm_err_errno(err, ret, "%s", r->what);
	if (memcmp(h, "SREC", 4) != 0 || get32(h + 48) != snap_crc32(0, h, 48))
		return vm_err_set(err, -EINVAL, "%s: corrupt send stream: the "
		    "record header after '%s' is damaged", r->what, prev);
	memcpy(r->name, h + 4, SNAP_NAME_MAX);
	r->name[SNAP_NAME_MAX] = '\0';
	r->instance = get32(h + 36);
	r->len = get32(h + 40);
	if (r->len > SNAP_SEND_REC_MAX)
		return vm_err_set(err, -EINVAL, "%s: corrupt send stream: "
		    "record '%s' claims %zu bytes (at most %u)", r->what,
		    r->name, r->len, SNAP_SEND_REC_MAX);
	ret = read_all(r->fd, r->buf, r->len, &got);
	if (ret == -EPIPE)
		return vm_err_set(err, -EINVAL, "%s: truncated send stream: it "
		    "ends inside record '%s' (instance %u, %zu of its %zu "
		    "bytes)", r->what, r->name, r->instance, got, r->len);
	if (ret < 0)
		return vm_err_errno(err, ret, "%s", r->what);
	if (snap_crc32(0, r->buf, r->len) != get32(h + 44))
		return vm_err_set(err, -EINVAL, "%s: corrupt send stream: "
		    "record '%s' (instance %u) fails its CRC32 check", r->what,
		    r->name, r->instance);
	return strcmp(r->name, "end") == 0 ? 0 : 1;
}

void
snap_recv_close(struct snap_recv *r)
{
	free(r->buf);
	r->buf = NULL;
}
