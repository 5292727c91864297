/*
 * The field visitor: one walk of a struct's fields serves save (append,
 * little-endian) and load (read back, bounds-checked).  The first error
 * sticks: later visits do nothing, so a walk needs no error handling in
 * the middle and reports the first field that went wrong.
 */
#include "snap/snap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void
snap_vis_begin_save(struct snap_vis *v, const char *section,
    uint32_t version, struct vm_err *err)
{
	memset(v, 0, sizeof(*v));
	v->section = section;
	v->version = version;
	v->err = err;
}

void
snap_vis_begin_load(struct snap_vis *v, const char *section,
    uint32_t version, const void *payload, size_t len, struct vm_err *err)
{
	memset(v, 0, sizeof(*v));
	v->load = true;
	v->section = section;
	v->version = version;
	v->in = payload;
	v->in_len = len;
	v->err = err;
}

int
snap_fail(struct snap_vis *v, int code, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (v->failed)
		return v->failed;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->failed = code;
	vm_err_set(v->err, code, "section '%s': %s", v->section, msg);
	return code;
}

int
snap_vis_end(struct snap_vis *v)
{
	if (!v->failed && v->load && v->pos != v->in_len)
		snap_fail(v, -EINVAL, "%zu bytes left after its last field "
		    "(a different layout: corrupt, or from another version)",
		    v->in_len - v->pos);
	return v->failed;
}

void
snap_vis_free(struct snap_vis *v)
{
	free(v->buf);
	v->buf = NULL;
	v->len = v->cap = 0;
}

/* Move len bytes between the stream and p (host order little-endian:
 * x86-64 only, as the whole toolkit). */
static int
move(struct snap_vis *v, const char *name, void *p, size_t len)
{
	if (v->failed)
		return v->failed;
	if (v->load) {
		if (len > v->in_len - v->pos)
			return snap_fail(v, -EINVAL, "field '%s': truncated "
			    "(%zu bytes wanted, %zu left)", name, len,
			    v->in_len - v->pos);
		memcpy(p, v->in + v->pos, len);
		v->pos += len;
		return 0;
	}
	if (v->len + len > v->cap) {
		size_t ncap = v->cap ? v->cap : 256;
		uint8_t *nb;

		while (ncap < v->len + len)
			ncap *= 2;
		nb = realloc(v->buf, ncap);
		if (nb == NULL)
			return snap_fail(v, -ENOMEM, "field '%s': out of memory",
			    name);
		v->buf = nb;
		v->cap = ncap;
	}
	memcpy(v->buf + v->len, p, len);
	v->len += len;
	return 0;
}

int snap_u8(struct snap_vis *v, const char *n, uint8_t *p) { return move(v, n, p, 1); }
int snap_u16(struct snap_vis *v, const char *n, uint16_t *p) { return move(v, n, p, 2); }
int snap_u32(struct snap_vis *v, const char *n, uint32_t *p) { return move(v, n, p, 4); }
int snap_u64(struct snap_vis *v, const char *n, uint64_t *p) { return move(v, n, p, 8); }
int snap_i16(struct snap_vis *v, const char *n, int16_t *p) { return move(v, n, p, 2); }
int snap_i32(struct snap_vis *v, const char *n, int32_t *p) { return move(v, n, p, 4); }
int snap_i64(struct snap_vis *v, const char *n, int64_t *p) { return move(v, n, p, 8); }

int
snap_bool(struct snap_vis *v, const char *name, bool *p)
{
	uint8_t b = *p ? 1 : 0;

	if (move(v, name, &b, 1) < 0)
		return v->failed;
	if (v->load) {
		if (b > 1)
			return snap_fail(v, -EINVAL, "field '%s': %u is not a "
			    "boolean", name, b);
		*p = b;
	}
	return 0;
}

int
snap_int(struct snap_vis *v, const char *name, int *p, int lo, int hi)
{
	int32_t x = *p;

	if (move(v, name, &x, 4) < 0)
		return v->failed;
	if (v->load) {
		if (x < lo || x > hi)
			return snap_fail(v, -EINVAL, "field '%s': %d is out of "
			    "range [%d, %d]", name, x, lo, hi);
		*p = x;
	}
	return 0;
}

int
snap_unsigned(struct snap_vis *v, const char *name, unsigned *p,
    unsigned hi)
{
	uint32_t x = *p;

	if (move(v, name, &x, 4) < 0)
		return v->failed;
	if (v->load) {
		if (x > hi)
			return snap_fail(v, -EINVAL, "field '%s': %u is more "
			    "than %u", name, x, hi);
		*p = x;
	}
	return 0;
}

int
snap_bytes(struct snap_vis *v, const char *name, void *p, size_t len)
{
	return move(v, name, p, len);
}

int
snap_u16_array(struct snap_vis *v, const char *name, uint16_t *p, size_t n)
{
	return move(v, name, p, n * sizeof(*p));
}

int
snap_u32_array(struct snap_vis *v, const char *name, uint32_t *p, size_t n)
{
	return move(v, name, p, n * sizeof(*p));
}

int
snap_u64_array(struct snap_vis *v, const char *name, uint64_t *p, size_t n)
{
	return move(v, name, p, n * sizeof(*p));
}

int
snap_blob(struct snap_vis *v, const char *name, void *p, uint32_t *len,
    uint32_t max)
{
	uint32_t n = *len;

	if (move(v, name, &n, 4) < 0)
		return v->failed;
	if (n > max)
		return snap_fail(v, -EINVAL, "field '%s': %u bytes, at most %u "
		    "fit", name, n, max);
	*len = n;
	return move(v, name, p, n);
}

int
snap_check(struct snap_vis *v, bool ok, const char *name, const char *why)
{
	if (v->failed || !v->load || ok)
		return v->failed;
	return snap_fail(v, -EINVAL, "field '%s': %s", name, why);
}

int
snap_time(struct snap_vis *v, const char *name, uint64_t *ns)
{
	bool set = *ns != 0;
	int64_t d = set ? (int64_t)(*ns - v->now) : 0;

	snap_bool(v, name, &set);
	snap_i64(v, name, &d);
	if (v->load && !v->failed)
		*ns = set ? v->now + (uint64_t)d : 0;
	return v->failed;
}
