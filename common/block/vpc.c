/*
 * VHD, the Virtual PC / Hyper-V disk image (qemu's "vpc"; "vhd" is an
 * alias): fixed and dynamic images, as the VHD specification lays them
 * out.  Every field is big-endian.
 *
 *   fixed    the guest bytes, then a 512-byte footer: the only metadata
 *            is at the end, so the format is found by probe_tail
 *   dynamic  a copy of the footer at 0, a 1 KiB dynamic header, the
 *            block allocation table (one 32-bit sector number per block,
 *            0xffffffff for none), then data blocks, each a sector bitmap
 *            followed by the block (2 MiB by default), and the footer
 *
 * The footer and the dynamic header carry checksums (the one's
 * complement of the byte sum) and both are checked.  The virtual size
 * follows qemu: the CHS geometry's size, unless the creator is one that
 * uses current_size (Hyper-V, Disk2vhd, XenServer, qemu's force_size)
 * or the geometry is the largest possible.  Reads of a dynamic image
 * ignore the sector bitmaps, as qemu does; a new block gets an all-ones
 * bitmap.
 *
 *   differencing  a dynamic image (type 4) over a parent VHD: the dynamic
 *            header names the parent (its UUID, a UTF-16BE file name and
 *            up to 8 "locators": W2ru a relative Windows path, W2ku an
 *            absolute one, both UTF-16LE, MacX a file:// URL), and a
 *            sector whose bitmap bit is clear, or in a block with no
 *            BAT entry, reads from the parent.  The parent's footer UUID
 *            must be the one the header records.  A new block is filled
 *            from the parent first (copy-up) and gets an all-ones bitmap;
 *            writing into a block other tools left partly clear sets the
 *            bits after the data is written.
 *
 * Every BAT entry is checked at open: its block must lie inside the
 * file, clear of the footer, the header, the table and the parent
 * locators, and overlap no other block.  An image with a bad table opens
 * read-only only (and for check -r all, which frees the bad entries:
 * see repair_bat); reads of a bad block fail naming it.
 */
#include "block/block.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "block/vxio.h"
#include "util/err.h"
#include "util/io.h"
#include "util/track.h"

#define VPC_FOOTER      512
#define VPC_DYN         1024
#define VPC_FIXED       2
#define VPC_DYNAMIC     3
#define VPC_DIFF        4
#define VPC_FREE        0xffffffffu
#define VPC_BLOCK       (2u << 20)
#define VPC_BLOCK_MAX   (256u << 20)
/* A 64 MiB table: 2040 GiB in blocks of 128 KiB or more (qemu-img and
 * Hyper-V make 2 MiB blocks: 1 Mi entries at most). */
#define VPC_MAX_ENTRIES (1u << 24)
#define VPC_MAX_SECTORS 0xff000000ull           /* 2040 GiB */
#define VPC_MAX_CHS     (65535ull * 16 * 255)
#define VPC_TIME_BASE   946684800               /* 2000-01-01 UTC */

/* Footer fields. */
#define F_FEATURES      8
#define F_VERSION       12
#define F_DATA_OFF      16
#define F_TIMESTAMP     24
#define F_APP           28
#define F_APP_VER       32
#define F_OS            36
#define F_ORIG_SIZE     40
#define F_CUR_SIZE      48
#define F_CYLS          56
#define F_HEADS         58
#define F_SECS          59
#define F_TYPE          60
#define F_CHECKSUM      64
#define F_UUID          68

/* Dynamic header fields. */
#define D_DATA_OFF      8
#define D_TABLE_OFF     16
#define D_VERSION       24
#define D_ENTRIES       28
#define D_BLOCK_SIZE    32
#define D_CHECKSUM      36
#define D_PARENT_UUID   40
#define D_PARENT_TIME   56
#define D_PARENT_NAME   64      /* 512 bytes of UTF-16BE */
#define D_LOCATORS      576     /* 8 entries of 24 bytes */
#define VPC_LOCATORS    8
#define VPC_LOC_MAX     8192    /* bytes of one locator we read */
#define VPC_LOC_SPACE   2048    /* bytes each locator we write gets */
#define VPC_NAME_MAX    1023

struct vpc_loc {
	uint32_t code;          /* 0: unused */
	uint32_t len;           /* bytes of data */
	uint64_t off;
	uint64_t cap;           /* bytes it may take when rewritten */
};

struct vpc {
	uint8_t footer[VPC_FOOTER];
	bool fixed;
	uint32_t *bat;          /* block -> sector of its bitmap */
	uint8_t *bad;           /* per block: its entry is unusable */
	uint32_t entries, block_size, bitmap_size;
	uint64_t dyn_off, bat_off, free_off, file_size;
	uint32_t nbad, counted;
	char why[160];
	bool diff;              /* differencing: reads fall to the parent */
	uint8_t parent_uuid[16];
	struct vpc_loc loc[VPC_LOCATORS];
};

static uint32_t
checksum(const uint8_t *p, size_t len, size_t at)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (i < at || i >= at + 4)
			sum += p[i];
	return ~sum;
}

static bool
is_footer(const uint8_t *p, size_t len)
{
	return len >= VPC_FOOTER && memcmp(p, "conectix", 8) == 0;
}

static int
vpc_probe(const uint8_t *hdr, size_t len)
{
	return is_footer(hdr, len) ? 100 : 0;
}

/* A fixed image: a footer with a good checksum at the very end. */
static int
vpc_probe_tail(const uint8_t *tail, size_t len)
{
	if (!is_footer(tail, len) || vx_be32(tail + F_TYPE) != VPC_FIXED ||
	    vx_be32(tail + F_CHECKSUM) != checksum(tail, VPC_FOOTER,
	    F_CHECKSUM))
		return 0;
	return 100;
}

static void
problem(struct vpc *s, struct blk_check *res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
problem(struct vpc *s, struct blk_check *res, const char *fmt, ...)
{
	char msg[160], line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->nbad++ == 0)
		snprintf(s->why, sizeof(s->why), "%s", msg);
	if (res) {
		res->corruptions++;
		if (res->note) {
			snprintf(line, sizeof(line), "ERROR: %s", msg);
			res->note(res->note_ctx, line);
		}
	}
}

static bool
overlap(uint64_t a, uint64_t alen, uint64_t c, uint64_t clen)
{
	return a < c + clen && c < a + alen;
}

static uint64_t
span(const struct vpc *s)
{
	return (uint64_t)s->bitmap_size + s->block_size;
}

/* Sort keys: a block's host sector above its index, so blocks come in
 * the order they sit on the host. */
static int
by_host(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

static bool
over_locator(const struct vpc *s, uint64_t h, uint64_t len)
{
	unsigned i;

	for (i = 0; i < VPC_LOCATORS; i++)
		if (s->loc[i].code && overlap(h, len, s->loc[i].off,
		    s->loc[i].cap))
			return true;
	return false;
}

static void
scan(struct vpc *s, struct blk_check *res)
{
	uint64_t h, bat_len = (uint64_t)s->entries * 4, end, *order;
	uint32_t n = 0, i, g, a, c;

	s->nbad = 0;
	s->counted = 0;
	memset(s->bad, 0, s->entries);
	s->free_off = s->bat_off + bat_len;
	if (s->dyn_off + VPC_DYN > s->free_off)
		s->free_off = s->dyn_off + VPC_DYN;
	for (i = 0; i < VPC_LOCATORS; i++)
		if (s->loc[i].code && s->loc[i].off + s->loc[i].cap > s->free_off)
			s->free_off = s->loc[i].off + s->loc[i].cap;
	s->free_off = (s->free_off + 511) & ~511ull;
	order = malloc((size_t)s->entries * 8 + 8);
	for (g = 0; g < s->entries; g++) {
		if (s->bat[g] == VPC_FREE)
			continue;
		h = (uint64_t)s->bat[g] * 512;
		if (h + span(s) > s->file_size) {
			s->bad[g] = 1;
			problem(s, res, "BAT entry %u puts its block at %#llx, "
			    "past the end of the file", g,
			    (unsigned long long)h);
		} else if (overlap(h, span(s), 0, VPC_FOOTER) ||
		    overlap(h, span(s), s->dyn_off, VPC_DYN) ||
		    overlap(h, span(s), s->bat_off, bat_len) ||
		    over_locator(s, h, span(s))) {
			s->bad[g] = 1;
			problem(s, res, "BAT entry %u puts its block at %#llx, "
			    "over the image's own metadata", g,
			    (unsigned long long)h);
		} else if (order) {
			order[n++] = (uint64_t)s->bat[g] << 32 | g;
		}
	}
	if (order) {
		qsort(order, n, sizeof(*order), by_host);
		for (i = 0; i + 1 < n; i++) {
			a = (uint32_t)order[i];
			c = (uint32_t)order[i + 1];
			h = (uint64_t)s->bat[a] * 512;
			if (h + span(s) > (uint64_t)s->bat[c] * 512) {
				s->bad[a] = s->bad[c] = 1;
				problem(s, res, "the blocks of BAT entries %u "
				    "and %u overlap", a < c ? a : c,
				    a < c ? c : a);
			}
		}
		for (i = 0; i < n; i++) {
			g = (uint32_t)order[i];
			if (s->bad[g])
				continue;
			s->counted++;
			end = (uint64_t)s->bat[g] * 512 + span(s);
			if (end > s->free_off)
				s->free_off = end;
		}
	}
	free(order);
	if (order == NULL && s->entries)
		problem(s, res, "out of memory checking the BAT");
}

/* The guest size as qemu computes it from the footer, in bytes. */
/* Whether the size is the footer's current_size rather than its CHS. */
static bool
cur_size_rules(const uint8_t *f)
{
	static const char *const cur[] = { "win ", "qem2", "d2v ", "CTXS" };
	uint64_t chs = (uint64_t)vx_be16(f + F_CYLS) * f[F_HEADS] * f[F_SECS];
	bool use_chs = memcmp(f + F_APP, "tap", 4) != 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cur); i++)
		if (memcmp(f + F_APP, cur[i], 4) == 0)
			use_chs = false;
	return !use_chs || chs == VPC_MAX_CHS;
}

static uint64_t
footer_size(const uint8_t *f)
{
	if (cur_size_rules(f))
		return vx_be64(f + F_CUR_SIZE) / 512 * 512;
	return (uint64_t)vx_be16(f + F_CYLS) * f[F_HEADS] * f[F_SECS] * 512;
}

/* Find the footer: at 0 for a dynamic image, else at the end. */
static int
read_footer(struct blk *b, struct vpc *s, struct vm_err *err)
{
	uint8_t *f = s->footer;
	uint32_t type;

	if (vx_read(b, f, VPC_FOOTER, 0) < 0)
		goto ioerr;
	type = vx_be32(f + F_TYPE);
	if (is_footer(f, VPC_FOOTER) && type != VPC_FIXED) {
		s->fixed = false;
	} else {
		if (vx_read(b, f, VPC_FOOTER, s->file_size - VPC_FOOTER) < 0)
			goto ioerr;
		if (!is_footer(f, VPC_FOOTER))
			return vm_err_set(err, -EINVAL, "%s: not a VHD image "
			    "(no \"conectix\" footer at its start or end)",
			    b->path);
		s->fixed = true;
	}
	if (vx_be32(f + F_CHECKSUM) != checksum(f, VPC_FOOTER, F_CHECKSUM))
		return vm_err_set(err, -EINVAL, "%s: bad VHD footer checksum "
		    "(%#x, the footer sums to %#x)", b->path,
		    vx_be32(f + F_CHECKSUM), checksum(f, VPC_FOOTER,
		    F_CHECKSUM));
	type = vx_be32(f + F_TYPE);
	s->diff = type == VPC_DIFF && !s->fixed;
	if (type != (s->fixed ? VPC_FIXED : VPC_DYNAMIC) && !s->diff)
		return vm_err_set(err, -EINVAL, "%s: unknown VHD disk type %u "
		    "for a footer at its %s", b->path, type,
		    s->fixed ? "end" : "start");
	return 0;
ioerr:
	*err = b->ioerr;
	return err->code;
}


/* ---- the parent of a differencing image ---- */

/* UTF-16 (le: little-endian) of n bytes to UTF-8 in out (cap bytes),
 * up to a NUL; false if it is not valid or does not fit. */
static bool
from_utf16(const uint8_t *p, size_t n, bool le, char *out, size_t cap)
{
	size_t i, o = 0;
	uint32_t c, d;

	for (i = 0; i + 1 < n; i += 2) {
		c = le ? (uint32_t)(p[i] | p[i + 1] << 8) :
		    (uint32_t)(p[i] << 8 | p[i + 1]);
		if (c == 0)
			break;
		if (c >= 0xd800 && c < 0xdc00) {
			if (i + 3 >= n)
				return false;
			d = le ? (uint32_t)(p[i + 2] | p[i + 3] << 8) :
			    (uint32_t)(p[i + 2] << 8 | p[i + 3]);
			if (d < 0xdc00 || d >= 0xe000)
				return false;
			c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
			i += 2;
		} else if (c >= 0xdc00 && c < 0xe000) {
			return false;
		}
		if (o + 5 > cap)
			return false;
		if (c < 0x80) {
			out[o++] = (char)c;
		} else if (c < 0x800) {
			out[o++] = (char)(0xc0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[o++] = (char)(0xe0 | c >> 12);
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | c >> 18);
			out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = '\0';
	return o > 0;
}

/* UTF-8 s to UTF-16 in out (cap bytes); its byte length, or 0 if s is
 * not valid UTF-8 or does not fit. */
static size_t
to_utf16(const char *str, bool le, uint8_t *out, size_t cap)
{
	const uint8_t *p = (const uint8_t *)str;
	size_t o = 0;
	uint32_t c, u[2];
	int k, m, j;

	while (*p) {
		if (*p < 0x80) {
			c = *p++;
		} else {
			m = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : -1;
			if (m < 0 || *p >= 0xf8)
				return 0;
			c = *p++ & (0x3fu >> m);
			for (k = 0; k < m; k++, p++) {
				if ((*p & 0xc0) != 0x80)
					return 0;
				c = c << 6 | (*p & 0x3f);
			}
			if (c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
				return 0;
		}
		k = 1;
		u[0] = c;
		if (c >= 0x10000) {
			u[0] = 0xd800 + ((c - 0x10000) >> 10);
			u[1] = 0xdc00 + ((c - 0x10000) & 0x3ff);
			k = 2;
		}
		for (j = 0; j < k; j++) {
			if (o + 2 > cap)
				return 0;
			out[o + (le ? 0 : 1)] = (uint8_t)u[j];
			out[o + (le ? 1 : 0)] = (uint8_t)(u[j] >> 8);
			o += 2;
		}
	}
	return o;
}

/* A locator's bytes as a path in out, or false. */
static bool
locator_path(struct blk *b, const struct vpc_loc *l, char *out, size_t cap)
{
	uint8_t raw[VPC_LOC_MAX + 2];
	char tmp[VPC_LOC_MAX], *p, *q;
	size_t i;

	memset(raw, 0, sizeof(raw));
	if (vx_read(b, raw, l->len, l->off) < 0)
		return false;
	if (l->code == 0x4d616358) {            /* MacX: file:// URL, UTF-8 */
		raw[l->len] = 0;
		p = (char *)raw;
		if (strncmp(p, "file://", 7) != 0)
			return false;
		p += 7;
		if (strncmp(p, "localhost/", 10) == 0)
			p += 9;
		for (q = tmp; *p && q < tmp + sizeof(tmp) - 1; q++) {
			if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
			    isxdigit((unsigned char)p[2])) {
				char h[3] = { p[1], p[2], 0 };

				*q = (char)strtol(h, NULL, 16);
				p += 3;
			} else {
				*q = *p++;
			}
		}
		*q = '\0';
		if (tmp[0] != '/' || strlen(tmp) >= cap)
			return false;
		snprintf(out, cap, "%s", tmp);
		return true;
	}
	if (!from_utf16(raw, l->len, true, tmp, sizeof(tmp)))
		return false;
	for (i = 0; tmp[i]; i++)
		if (tmp[i] == '\\')
			tmp[i] = '/';
	p = tmp;
	if (l->code == 0x57326b75) {            /* W2ku: C:\dir\name */
		if ((q = strrchr(p, '/')) != NULL)
			p = q + 1;
	} else {                                /* W2ru: .\name */
		while (strncmp(p, "./", 2) == 0)
			p += 2;
	}
	if (*p == '\0' || strlen(p) >= cap)
		return false;
	snprintf(out, cap, "%s", p);
	return true;
}

/*
 * The parent fields of a differencing image's dynamic header d: every
 * locator must lie inside the file, clear of the footer, header and
 * table; the parent's name is the first of W2ru, MacX, W2ku that reads
 * as a path, else the header's parent name.
 */
static int
read_parent(struct blk *b, struct vpc *s, const uint8_t *d,
    struct vm_err *err)
{
	static const uint32_t pref[] = { 0x57327275, 0x4d616358, 0x57326b75 };
	uint64_t bat_len = (uint64_t)s->entries * 4;
	const uint8_t *e;
	struct vpc_loc *l;
	char name[VPC_NAME_MAX + 1];
	unsigned i, k;
	uint32_t space;

	memcpy(s->parent_uuid, d + D_PARENT_UUID, 16);
	for (i = 0; i < VPC_LOCATORS; i++) {
		e = d + D_LOCATORS + 24 * i;
		l = &s->loc[i];
		l->code = vx_be32(e);
		space = vx_be32(e + 4);
		l->len = vx_be32(e + 8);
		l->off = vx_be64(e + 16);
		if (l->code == 0 || l->len == 0) {
			l->code = 0;
			continue;
		}
		if (l->len > VPC_LOC_MAX || l->off < VPC_FOOTER ||
		    l->off > s->file_size || l->len > s->file_size - l->off ||
		    overlap(l->off, l->len, s->dyn_off, VPC_DYN) ||
		    overlap(l->off, l->len, s->bat_off, bat_len))
			return vm_err_set(err, -EINVAL, "%s: parent locator %u "
			    "(%u bytes at %#llx) lies outside the file or over "
			    "the header", b->path, i, l->len,
			    (unsigned long long)l->off);
		/* The space is in bytes (Windows) or sectors (the spec). */
		l->cap = space >= l->len ? space : (uint64_t)space * 512;
		if (l->cap < l->len)
			l->cap = l->len;
		if (l->cap > s->file_size - l->off)
			l->cap = s->file_size - l->off;
	}
	name[0] = '\0';
	for (k = 0; k < ARRAY_SIZE(pref) && name[0] == '\0'; k++)
		for (i = 0; i < VPC_LOCATORS && name[0] == '\0'; i++)
			if (s->loc[i].code == pref[k] &&
			    !locator_path(b, &s->loc[i], name, sizeof(name)))
				name[0] = '\0';
	if (name[0] == '\0' && !from_utf16(d + D_PARENT_NAME, 512, false,
	    name, sizeof(name)))
		return vm_err_set(err, -EINVAL, "%s: a differencing VHD image "
		    "that names no parent", b->path);
	if (strlen(name) >= sizeof(b->backing_name))
		return vm_err_set(err, -EINVAL, "%s: parent name too long",
		    b->path);
	snprintf(b->backing_name, sizeof(b->backing_name), "%s", name);
	snprintf(b->backing_fmt, sizeof(b->backing_fmt), "vpc");
	return 0;
}

static int
read_dynamic(struct blk *b, struct vpc *s, struct vm_err *err)
{
	uint8_t d[VPC_DYN];
	uint64_t bat_len, need;
	uint32_t g;
	int ret;

	s->dyn_off = vx_be64(s->footer + F_DATA_OFF);
	if (s->dyn_off < VPC_FOOTER || s->dyn_off > s->file_size ||
	    s->file_size - s->dyn_off < VPC_DYN)
		return vm_err_set(err, -EINVAL, "%s: the VHD dynamic header "
		    "offset %#llx is outside the file", b->path,
		    (unsigned long long)s->dyn_off);
	if (vx_read(b, d, VPC_DYN, s->dyn_off) < 0) {
		*err = b->ioerr;
		return err->code;
	}
	if (memcmp(d, "cxsparse", 8) != 0)
		return vm_err_set(err, -EINVAL, "%s: not a VHD dynamic header "
		    "(bad magic)", b->path);
	if (vx_be32(d + D_CHECKSUM) != checksum(d, VPC_DYN, D_CHECKSUM))
		return vm_err_set(err, -EINVAL, "%s: bad VHD dynamic header "
		    "checksum", b->path);
	s->bat_off = vx_be64(d + D_TABLE_OFF);
	s->entries = vx_be32(d + D_ENTRIES);
	s->block_size = vx_be32(d + D_BLOCK_SIZE);
	if (s->block_size < 512 || s->block_size > VPC_BLOCK_MAX ||
	    (s->block_size & (s->block_size - 1)))
		return vm_err_set(err, -EINVAL, "%s: unsupported VHD block "
		    "size %u (a power of two from 512 bytes to 256 MiB)", b->path,
		    s->block_size);
	s->bitmap_size = ((s->block_size / 4096) + 511) & ~511u;
	need = (b->size + s->block_size - 1) / s->block_size;
	if (need > s->entries)
		return vm_err_set(err, -EINVAL, "%s: the VHD block table has "
		    "%u entries, %llu are needed for the disk size", b->path,
		    s->entries, (unsigned long long)need);
	if (s->entries > VPC_MAX_ENTRIES)
		return vm_err_set(err, -EINVAL, "%s: absurd VHD block table of "
		    "%u entries", b->path, s->entries);
	bat_len = (uint64_t)s->entries * 4;
	if (s->bat_off < VPC_FOOTER || s->bat_off > s->file_size ||
	    s->file_size - s->bat_off < bat_len ||
	    overlap(s->bat_off, bat_len, s->dyn_off, VPC_DYN))
		return vm_err_set(err, -EINVAL, "%s: the VHD block table at "
		    "%#llx runs past the end of the file or over the header",
		    b->path, (unsigned long long)s->bat_off);
	s->bat = malloc((size_t)bat_len + 4);
	s->bad = malloc((size_t)s->entries + 1);
	if (s->bat == NULL || s->bad == NULL)
		return vm_err_set(err, -ENOMEM, "%s: out of memory for the "
		    "block table", b->path);
	if (vx_read(b, s->bat, (size_t)bat_len, s->bat_off) < 0) {
		*err = b->ioerr;
		return err->code;
	}
	for (g = 0; g < s->entries; g++)
		s->bat[g] = vx_be32((uint8_t *)&s->bat[g]);
	if (s->diff && (ret = read_parent(b, s, d, err)) < 0)
		return ret;
	scan(s, NULL);
	return 0;
}

static void
unload(struct vpc *s)
{
	free(s->bat);
	free(s->bad);
	s->bat = NULL;
	s->bad = NULL;
}

static int
vpc_open(struct blk *b, int fd, unsigned flags, struct vm_err *err)
{
	struct vpc *s = b->priv;
	int ret;

	s->file_size = vx_file_size(fd);
	if (s->file_size < VPC_FOOTER)
		return vm_err_set(err, -EINVAL, "%s: not a VHD image (shorter "
		    "than its footer)", b->path);
	if ((ret = read_footer(b, s, err)) < 0)
		return ret;
	b->size = footer_size(s->footer);
	if (b->size / 512 > VPC_MAX_SECTORS)
		return vm_err_set(err, -EFBIG, "%s: the VHD footer claims %llu "
		    "bytes, more than the format's 2040 GiB", b->path,
		    (unsigned long long)b->size);
	if (s->fixed) {
		if (b->size > s->file_size - VPC_FOOTER)
			return vm_err_set(err, -EINVAL, "%s: the VHD footer "
			    "claims %llu bytes, the file holds only %llu "
			    "(truncated image?)", b->path,
			    (unsigned long long)b->size,
			    (unsigned long long)(s->file_size - VPC_FOOTER));
		return 0;
	}
	if ((ret = read_dynamic(b, s, err)) < 0) {
		unload(s);
		return ret;
	}
	if (s->nbad && !(flags & (BLK_F_RDONLY | BLK_F_REPAIR))) {
		unload(s);
		return vm_err_set(err, -EINVAL, "%s: corrupt VHD image: %s "
		    "(vm-disk check lists every problem)", b->path, s->why);
	}
	return 0;
}

static void
vpc_close(struct blk *b)
{
	unload(b->priv);
}

static int
bad_entry(struct blk *b, uint32_t g)
{
	return vx_fail(b, "BAT entry %u is corrupt (its block lies outside "
	    "the file, over metadata or over another block)", g);
}

/* The sector bitmap of block g (s->bitmap_size bytes at bm). */
static int
read_bitmap(struct blk *b, uint32_t g, uint8_t *bm)
{
	struct vpc *s = b->priv;

	return vx_read(b, bm, s->bitmap_size, (uint64_t)s->bat[g] * 512);
}

static bool
bit(const uint8_t *bm, uint64_t sector)
{
	return bm[sector / 8] & (0x80u >> (sector % 8));
}

/* How many bytes from in (inside block g, at most n) share sector in's
 * bitmap bit, which goes in *set. */
static uint64_t
bit_run(const struct vpc *s, const uint8_t *bm, uint64_t in, uint64_t n,
    bool *set)
{
	uint64_t sec = in / 512, end = in + n, at;

	*set = bit(bm, sec);
	for (at = (sec + 1) * 512; at < end && bit(bm, at / 512) == *set;
	    at += 512)
		;
	(void)s;
	return (at < end ? at : end) - in;
}

/* A differencing image's part of one block: clear bits (or no block)
 * from the parent. */
static int
diff_read(struct blk *b, uint32_t g, uint8_t *buf, uint64_t in, uint64_t n)
{
	struct vpc *s = b->priv;
	uint64_t base = (uint64_t)g * s->block_size, k;
	uint8_t *bm;
	bool set;
	int ret = 0;

	if (s->bat[g] == VPC_FREE)
		return blk_read_backing(b, buf, (size_t)n, base + in);
	if ((bm = malloc(s->bitmap_size)) == NULL)
		return -ENOMEM;
	if ((ret = read_bitmap(b, g, bm)) < 0)
		goto out;
	while (n > 0) {
		k = bit_run(s, bm, in, n, &set);
		ret = set ? vx_read(b, buf, (size_t)k, (uint64_t)s->bat[g] *
		    512 + s->bitmap_size + in) :
		    blk_read_backing(b, buf, (size_t)k, base + in);
		if (ret < 0)
			goto out;
		buf += k;
		in += k;
		n -= k;
	}
out:
	free(bm);
	return ret;
}

static int
vpc_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vpc *s = b->priv;
	uint64_t in, n;
	uint32_t g;
	int ret;

	if (s->fixed)
		return vx_read(b, buf, (size_t)len, off);
	while (len > 0) {
		g = (uint32_t)(off / s->block_size);
		in = off % s->block_size;
		n = s->block_size - in < len ? s->block_size - in : len;
		if (s->bad[g])
			return bad_entry(b, g);
		if (s->diff) {
			if ((ret = diff_read(b, g, buf, in, n)) < 0)
				return ret;
		} else if (s->bat[g] == VPC_FREE) {
			memset(buf, 0, (size_t)n);
		} else if ((ret = vx_read(b, buf, (size_t)n,
		    (uint64_t)s->bat[g] * 512 + s->bitmap_size + in)) < 0) {
			return ret;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Zeros in [off, off+len) that the file holds (past its end it reads
 * zeros already). */
static int
zero_in_file(struct blk *b, uint64_t len, uint64_t off)
{
	struct vpc *s = b->priv;

	if (off >= s->file_size)
		return 0;
	if (len > s->file_size - off)
		len = s->file_size - off;
	return vx_write_zeros(b, len, off);
}

/*
 * A new block at the end: its bitmap (all ones) and the data (zeros
 * around it), the footer after it, then the BAT entry.  Killed before
 * the entry is written, the image has only a block nobody uses.
 */
static int
alloc_block(struct blk *b, uint32_t g, const uint8_t *buf, uint64_t in,
    uint64_t n)
{
	struct vpc *s = b->priv;
	uint64_t host = s->free_off, data = host + s->bitmap_size;
	uint8_t *bm, be[4];
	int ret;

	if (host / 512 >= VPC_FREE)
		return vx_fail(b, "full (no room for a block below 2 TiB)");
	if ((bm = malloc(s->bitmap_size)) == NULL)
		return -ENOMEM;
	memset(bm, 0xff, s->bitmap_size);
	ret = vx_write(b, bm, s->bitmap_size, host);
	free(bm);
	if (ret < 0 || (ret = zero_in_file(b, in, data)) < 0 ||
	    (ret = vx_write(b, buf, (size_t)n, data + in)) < 0 ||
	    (ret = zero_in_file(b, s->block_size - in - n, data + in +
	    n)) < 0 ||
	    (ret = vx_write(b, s->footer, VPC_FOOTER, data +
	    s->block_size)) < 0)
		return ret;
	s->free_off = data + s->block_size;
	if (s->free_off + VPC_FOOTER > s->file_size)
		s->file_size = s->free_off + VPC_FOOTER;
	vx_put_be32(be, (uint32_t)(host / 512));
	if ((ret = vx_write(b, be, 4, s->bat_off + 4ull * g)) < 0)
		return ret;
	s->bat[g] = (uint32_t)(host / 512);
	s->counted++;
	return 0;
}

/* A differencing image's new block: the parent's data with the write
 * in it, all of it this image's (copy-up). */
static int
diff_alloc(struct blk *b, uint32_t g, const uint8_t *buf, uint64_t in,
    uint64_t n)
{
	struct vpc *s = b->priv;
	uint8_t *t = malloc(s->block_size);
	int ret;

	if (t == NULL)
		return -ENOMEM;
	ret = blk_read_backing(b, t, s->block_size, (uint64_t)g *
	    s->block_size);
	if (ret == 0) {
		memcpy(t + in, buf, (size_t)n);
		ret = alloc_block(b, g, t, 0, s->block_size);
	}
	free(t);
	return ret;
}

/* A write into a block of a differencing image whose bitmap may have
 * clear bits: whole sectors (the parent's bytes around the write), then
 * the bits. */
static int
diff_write(struct blk *b, uint32_t g, const uint8_t *buf, uint64_t in,
    uint64_t n)
{
	struct vpc *s = b->priv;
	uint64_t s0 = in / 512, s1 = (in + n + 511) / 512, i, host;
	uint8_t *bm, *t = NULL;
	bool all = true;
	int ret;

	host = (uint64_t)s->bat[g] * 512;
	if ((bm = malloc(s->bitmap_size)) == NULL)
		return -ENOMEM;
	if ((ret = read_bitmap(b, g, bm)) < 0)
		goto out;
	for (i = s0; i < s1; i++)
		all = all && bit(bm, i);
	if (all) {
		ret = vx_write(b, buf, (size_t)n, host + s->bitmap_size + in);
		goto out;
	}
	if ((t = malloc((size_t)((s1 - s0) * 512))) == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = diff_read(b, g, t, s0 * 512, (s1 - s0) * 512)) < 0)
		goto out;
	memcpy(t + (in - s0 * 512), buf, (size_t)n);
	if ((ret = vx_write(b, t, (size_t)((s1 - s0) * 512), host +
	    s->bitmap_size + s0 * 512)) < 0)
		goto out;
	for (i = s0; i < s1; i++)
		bm[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	ret = vx_write(b, bm + s0 / 8, (size_t)((s1 - 1) / 8 - s0 / 8 + 1),
	    host + s0 / 8);
out:
	free(t);
	free(bm);
	return ret;
}

static int
vpc_write(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vpc *s = b->priv;
	uint64_t in, n;
	uint32_t g;
	int ret;

	if (s->fixed)
		return vx_write(b, buf, (size_t)len, off);
	while (len > 0) {
		g = (uint32_t)(off / s->block_size);
		in = off % s->block_size;
		n = s->block_size - in < len ? s->block_size - in : len;
		if (s->bad[g])
			return bad_entry(b, g);
		if (s->diff)
			ret = s->bat[g] != VPC_FREE ? diff_write(b, g, buf, in,
			    n) : diff_alloc(b, g, buf, in, n);
		else if (s->bat[g] != VPC_FREE)
			ret = vx_write(b, buf, (size_t)n, (uint64_t)s->bat[g] *
			    512 + s->bitmap_size + in);
		else if (vx_is_zero(buf, n))
			ret = 0;
		else
			ret = alloc_block(b, g, buf, in, n);
		if (ret < 0)
			return ret;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int
vpc_preadv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return vx_iov(b, iov, iovcnt, off, vpc_read);
}

static int
vpc_pwritev(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return vx_iov(b, iov, iovcnt, off, vpc_write);
}

static int
vpc_flush(struct blk *b)
{
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

/* Block status inside an allocated block of a differencing image: the
 * run of sectors with the same bitmap bit. */
static int
diff_status(struct blk *b, uint32_t g, uint64_t in, uint64_t n,
    uint64_t *pnum, uint64_t *host)
{
	struct vpc *s = b->priv;
	uint8_t *bm = malloc(s->bitmap_size);
	bool set;
	int ret;

	if (bm == NULL)
		return -ENOMEM;
	if ((ret = read_bitmap(b, g, bm)) < 0) {
		free(bm);
		return ret;
	}
	*pnum = bit_run(s, bm, in, n, &set);
	free(bm);
	*host = set ? (uint64_t)s->bat[g] * 512 + s->bitmap_size + in :
	    UINT64_MAX;
	return set ? BLK_S_DATA : 0;
}

static int
vpc_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host)
{
	struct vpc *s = b->priv;
	uint32_t g, e, f, k;
	uint64_t n;

	if (s->fixed) {
		*pnum = len;
		*host = off;
		return BLK_S_DATA;
	}
	g = (uint32_t)(off / s->block_size);
	n = s->block_size - off % s->block_size;
	if (s->bad[g])
		return bad_entry(b, g);
	e = s->bat[g];
	if (s->diff && e != VPC_FREE)
		return diff_status(b, g, off % s->block_size, n < len ? n : len,
		    pnum, host);
	for (k = 1; n < len && g + k < s->entries && !s->bad[g + k]; k++) {
		f = s->bat[g + k];
		if ((e == VPC_FREE) != (f == VPC_FREE) || (e != VPC_FREE &&
		    (uint64_t)f * 512 != (uint64_t)e * 512 + k * span(s)))
			break;
		n += s->block_size;
	}
	*pnum = n < len ? n : len;
	if (e == VPC_FREE) {
		*host = UINT64_MAX;
		return 0;
	}
	*host = (uint64_t)e * 512 + s->bitmap_size + off % s->block_size;
	return BLK_S_DATA;
}

static void
vpc_info(struct blk *b, struct blk_info *info)
{
	struct vpc *s = b->priv;

	info->cluster_size = s->fixed ? 0 : s->block_size;
}

/*
 * check -r all: every BAT entry whose block lies past the end of the
 * file or over the image's metadata becomes free, and of blocks that
 * overlap, the one of the lowest guest block stays and the others become
 * free (they read as zeros, or as the parent).  Each entry is rewritten
 * on its own; the BAT in memory is scanned again after.
 */
static int
repair_bat(struct blk *b, uint64_t *fixed)
{
	struct vpc *s = b->priv;
	uint64_t *order = malloc((size_t)s->entries * 8 + 8), h, end = 0;
	uint32_t n = 0, g, i, keep = VPC_FREE;
	uint8_t be[4] = { 0xff, 0xff, 0xff, 0xff }, *drop;
	int ret = 0;

	drop = calloc(s->entries ? s->entries : 1, 1);
	if (order == NULL || drop == NULL) {
		free(order);
		free(drop);
		return -ENOMEM;
	}
	for (g = 0; g < s->entries; g++) {
		if (s->bat[g] == VPC_FREE)
			continue;
		h = (uint64_t)s->bat[g] * 512;
		if (h + span(s) > s->file_size ||
		    overlap(h, span(s), 0, VPC_FOOTER) ||
		    overlap(h, span(s), s->dyn_off, VPC_DYN) ||
		    overlap(h, span(s), s->bat_off, (uint64_t)s->entries * 4) ||
		    over_locator(s, h, span(s)))
			drop[g] = 1;
		else
			order[n++] = (uint64_t)s->bat[g] << 32 | g;
	}
	qsort(order, n, sizeof(*order), by_host);
	for (i = 0; i < n; i++) {
		g = (uint32_t)order[i];
		h = (uint64_t)s->bat[g] * 512;
		if (keep != VPC_FREE && h < end) {
			/* overlaps the block kept last: the lower guest
			 * block wins */
			if (g < keep) {
				drop[keep] = 1;
				keep = g;
				end = h + span(s);
			} else {
				drop[g] = 1;
			}
			continue;
		}
		keep = g;
		end = h + span(s);
	}
	for (g = 0; g < s->entries && ret == 0; g++) {
		if (!drop[g])
			continue;
		if ((ret = vx_write(b, be, 4, s->bat_off + 4ull * g)) == 0) {
			s->bat[g] = VPC_FREE;
			(*fixed)++;
		}
	}
	free(order);
	free(drop);
	scan(s, NULL);
	return ret;
}

static int
vpc_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err)
{
	struct vpc *s = b->priv;

	if (repair && s->fixed)
		return vm_err_set(err, -ENOTSUP, "%s: fixed VHD images have "
		    "nothing to repair", b->path);
	res->image_end = s->file_size;
	if (s->fixed)
		return 0;
	scan(s, res);
	if ((repair & ~BLK_REPAIR_LEAKS) && s->nbad &&
	    !(b->flags & BLK_F_RDONLY) &&
	    repair_bat(b, &res->corruptions_fixed) < 0) {
		*err = b->ioerr;
		return err->code ? err->code : -EIO;
	}
	res->total_clusters = (b->size + s->block_size - 1) / s->block_size;
	res->allocated_clusters = s->counted;
	return 0;
}

/* The VHD specification's CHS for a sector count, as qemu computes it. */
static void
geometry(uint64_t sectors, uint16_t *cyls, uint8_t *heads, uint8_t *secs)
{
	uint64_t cth;

	if (sectors > VPC_MAX_CHS)
		sectors = VPC_MAX_CHS;
	if (sectors >= 65535ull * 16 * 63) {
		*secs = 255;
		*heads = 16;
		cth = sectors / 255;
	} else {
		*secs = 17;
		cth = sectors / 17;
		*heads = (uint8_t)((cth + 1023) / 1024 < 4 ? 4 :
		    (cth + 1023) / 1024 > 16 ? 17 : (cth + 1023) / 1024);
		if (cth >= *heads * 1024u || *heads > 16) {
			*secs = 31;
			*heads = 16;
			cth = sectors / 31;
		}
		if (cth >= *heads * 1024u) {
			*secs = 63;
			*heads = 16;
			cth = sectors / 63;
		}
	}
	*cyls = (uint16_t)(cth / *heads);
}

/* The size and geometry a new image gets: the smallest CHS at least
 * as large as asked, or the size as given with the largest geometry
 * (force_size, or sizes CHS cannot express). */
static int
new_size(const struct blk_create_opts *o, const char *path, uint64_t *size,
    uint8_t *f, struct vm_err *err)
{
	uint64_t want = (o->size + 511) / 512, sec = want, i;
	uint16_t c = 65535;
	uint8_t h = 16, s = 255;

	if (!o->force_size) {
		c = 0;
		h = s = 0;
		if (sec > VPC_MAX_CHS)
			sec = VPC_MAX_CHS;
		for (i = 0; sec > (uint64_t)c * h * s; i++)
			geometry(sec + i, &c, &h, &s);
	}
	if ((uint64_t)c * h * s == VPC_MAX_CHS)
		sec = want;
	else
		sec = (uint64_t)c * h * s;
	if (sec > VPC_MAX_SECTORS)
		return vm_err_set(err, -EFBIG, "%s: too large for a VHD image "
		    "(at most 2040 GiB)", path);
	*size = sec * 512;
	vx_put_be16(f + F_CYLS, c);
	f[F_HEADS] = h;
	f[F_SECS] = s;
	return 0;
}

static void
make_footer(uint8_t *f, uint64_t size, uint32_t type)
{
	size_t i;

	memcpy(f, "conectix", 8);
	vx_put_be32(f + F_FEATURES, 2);
	vx_put_be32(f + F_VERSION, 0x00010000);
	vx_put_be64(f + F_DATA_OFF, type == VPC_FIXED ? UINT64_MAX :
	    VPC_FOOTER);
	vx_put_be32(f + F_TIMESTAMP, (uint32_t)(time(NULL) - VPC_TIME_BASE));
	memcpy(f + F_APP, "vmkt", 4);
	vx_put_be32(f + F_APP_VER, 0x00010000);
	memcpy(f + F_OS, "Wi2k", 4);
	vx_put_be64(f + F_ORIG_SIZE, size);
	vx_put_be64(f + F_CUR_SIZE, size);
	vx_put_be32(f + F_TYPE, type);
	if (getrandom(f + F_UUID, 16, 0) != 16)
		for (i = 0; i < 16; i++)
			f[F_UUID + i] = (uint8_t)rand();
	f[F_UUID + 6] = (uint8_t)((f[F_UUID + 6] & 0x0f) | 0x40);
	f[F_UUID + 8] = (uint8_t)((f[F_UUID + 8] & 0x3f) | 0x80);
	vx_put_be32(f + F_CHECKSUM, checksum(f, VPC_FOOTER, F_CHECKSUM));
}

/* Footer, dynamic header, an empty BAT, and the footer again. */
static int
create_dynamic(int fd, const uint8_t *f, uint64_t size)
{
	uint64_t n = (size + VPC_BLOCK - 1) / VPC_BLOCK;
	uint64_t bat = (n * 4 + 511) & ~511ull, off;
	uint8_t d[VPC_DYN], ff[512];
	int ret;

	memset(d, 0, sizeof(d));
	memcpy(d, "cxsparse", 8);
	vx_put_be64(d + D_DATA_OFF, UINT64_MAX);
	vx_put_be64(d + D_TABLE_OFF, 3 * 512);
	vx_put_be32(d + D_VERSION, 0x00010000);
	vx_put_be32(d + D_ENTRIES, (uint32_t)n);
	vx_put_be32(d + D_BLOCK_SIZE, VPC_BLOCK);
	vx_put_be32(d + D_CHECKSUM, checksum(d, VPC_DYN, D_CHECKSUM));
	memset(ff, 0xff, sizeof(ff));
	if ((ret = io_pwrite_full(fd, f, VPC_FOOTER, 0)) < 0 ||
	    (ret = io_pwrite_full(fd, d, VPC_DYN, VPC_FOOTER)) < 0)
		return ret;
	for (off = 0; off < bat; off += 512)
		if ((ret = io_pwrite_full(fd, ff, 512, 3 * 512 + off)) < 0)
			return ret;
	return io_pwrite_full(fd, f, VPC_FOOTER, 3 * 512 + bat);
}

static int put_bat(struct blk *b, uint64_t off, uint32_t n);

/* ---- differencing images: the parent's fields ---- */

extern const struct blk_driver blk_vpc;

/* The parent VHD that name names for the image at path, opened read-only
 * alone; NULL with err set if it is not a dynamic, fixed or differencing
 * VHD. */
static struct blk *
open_parent(const char *path, const char *name, const char *fmt,
    char *ppath, size_t plen, struct vm_err *err)
{
	struct blk *p;

	blk_backing_path(path, name, ppath, plen);
	if (fmt && fmt[0] && strcmp(fmt, "vpc") != 0 && strcmp(fmt, "vhd") != 0) {
		vm_err_set(err, -EINVAL, "%s: the parent of a differencing VHD "
		    "must be a VHD image, not %s", path, fmt);
		return NULL;
	}
	p = blk_open(ppath, "vpc", BLK_F_RDONLY | BLK_F_NOBACKING |
	    BLK_F_NOLOCK, err);
	return p;
}

/* Percent-encode a path into a file:// URL. */
static bool
file_url(const char *abs, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t o;

	o = (size_t)snprintf(out, cap, "file://");
	for (p = (const unsigned char *)abs; *p; p++) {
		if (o + 4 > cap)
			return false;
		if (isalnum(*p) || strchr("/-._~", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return true;
}

/*
 * Fill the parent fields of dynamic header d for a parent named name
 * (as stored, relative to the image) at ppath with footer pf, its
 * locators' data in loc[0..1] (VPC_LOC_SPACE bytes each) for the
 * offsets off[0..1].  -ENAMETOOLONG if a name does not fit.
 */
static int
fill_parent(uint8_t *d, const char *name, const char *ppath,
    const uint8_t *pf, uint8_t loc[2][VPC_LOC_SPACE], const uint64_t *off)
{
	char abs[4096], url[VPC_LOC_SPACE], rel[VPC_NAME_MAX + 3];
	const char *base = strrchr(name, '/');
	uint32_t len[2] = { 0, 0 }, code[2];
	size_t i, n;
	int k = 0;

	memset(d + D_PARENT_UUID, 0, VPC_DYN - D_PARENT_UUID);
	memcpy(d + D_PARENT_UUID, pf + F_UUID, 16);
	memcpy(d + D_PARENT_TIME, pf + F_TIMESTAMP, 4);
	if (strlen(name) > VPC_NAME_MAX)
		return -ENAMETOOLONG;
	/* the name field takes the file name alone, as Windows writes it */
	to_utf16(base ? base + 1 : name, false, d + D_PARENT_NAME, 510);
	memset(loc, 0, 2 * VPC_LOC_SPACE);
	if (name[0] != '/') {
		snprintf(rel, sizeof(rel), "%s%s", strncmp(name, "../", 3) == 0 ?
		    "" : "./", name);
		for (i = 0; rel[i]; i++)
			if (rel[i] == '/')
				rel[i] = '\\';
		n = to_utf16(rel, true, loc[k], VPC_LOC_SPACE);
		if (n == 0)
			return -ENAMETOOLONG;
		len[k] = (uint32_t)n;
		code[k++] = 0x57327275;         /* W2ru */
	}
	if (realpath(ppath, abs) != NULL && file_url(abs, url, sizeof(url))) {
		n = strlen(url);
		memcpy(loc[k], url, n);
		len[k] = (uint32_t)n;
		code[k++] = 0x4d616358;         /* MacX */
	}
	for (i = 0; i < (size_t)k; i++) {
		uint8_t *e = d + D_LOCATORS + 24 * i;

		vx_put_be32(e, code[i]);
		vx_put_be32(e + 4, VPC_LOC_SPACE);
		vx_put_be32(e + 8, len[i]);
		vx_put_be64(e + 16, off[i]);
	}
	return k ? 0 : -ENAMETOOLONG;
}

/*
 * A differencing image over the VHD that o->backing names: the parent's
 * size and geometry (its size kept exactly: the largest geometry when
 * the parent's size is not its CHS size), our own UUID; footer, dynamic
 * header, an empty BAT, two locators, and the footer again.
 */
static int
create_diff(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	char ppath[8192];
	uint8_t f[VPC_FOOTER], d[VPC_DYN], loc[2][VPC_LOC_SPACE], ff[512];
	const struct vpc *ps;
	uint64_t size, n, bat, off[2], at;
	struct blk *p;
	int ret;

	if ((p = open_parent(path, o->backing, o->backing_fmt, ppath,
	    sizeof(ppath), err)) == NULL)
		return err->code ? err->code : -EINVAL;
	ps = p->priv;
	size = p->size;
	if (o->size && o->size != size) {
		blk_close(p);
		return vm_err_set(err, -EINVAL, "%s: a differencing VHD has its "
		    "parent's size (%llu bytes, not %llu)", path,
		    (unsigned long long)size, (unsigned long long)o->size);
	}
	memset(f, 0, sizeof(f));
	make_footer(f, size, VPC_DIFF);
	if (cur_size_rules(ps->footer) && (uint64_t)vx_be16(ps->footer +
	    F_CYLS) * ps->footer[F_HEADS] * ps->footer[F_SECS] * 512 != size) {
		vx_put_be16(f + F_CYLS, 65535);
		f[F_HEADS] = 16;
		f[F_SECS] = 255;
	} else {
		memcpy(f + F_CYLS, ps->footer + F_CYLS, 4);
	}
	vx_put_be32(f + F_CHECKSUM, checksum(f, VPC_FOOTER, F_CHECKSUM));
	n = (size + VPC_BLOCK - 1) / VPC_BLOCK;
	bat = (n * 4 + 511) & ~511ull;
	off[0] = 3 * 512 + bat;
	off[1] = off[0] + VPC_LOC_SPACE;
	memset(d, 0, sizeof(d));
	memcpy(d, "cxsparse", 8);
	vx_put_be64(d + D_DATA_OFF, UINT64_MAX);
	vx_put_be64(d + D_TABLE_OFF, 3 * 512);
	vx_put_be32(d + D_VERSION, 0x00010000);
	vx_put_be32(d + D_ENTRIES, (uint32_t)n);
	vx_put_be32(d + D_BLOCK_SIZE, VPC_BLOCK);
	ret = fill_parent(d, o->backing, ppath, ps->footer, loc, off);
	blk_close(p);
	if (ret < 0)
		return vm_err_set(err, ret, "%s: the parent's name does not fit "
		    "in a VHD parent locator", path);
	vx_put_be32(d + D_CHECKSUM, checksum(d, VPC_DYN, D_CHECKSUM));
	memset(ff, 0xff, sizeof(ff));
	if ((ret = io_pwrite_full(fd, f, VPC_FOOTER, 0)) < 0 ||
	    (ret = io_pwrite_full(fd, d, VPC_DYN, VPC_FOOTER)) < 0)
		return vm_err_errno(err, ret, "%s", path);
	for (at = 0; at < bat; at += 512)
		if ((ret = io_pwrite_full(fd, ff, 512, 3 * 512 + at)) < 0)
			return vm_err_errno(err, ret, "%s", path);
	if ((ret = io_pwrite_full(fd, loc, sizeof(loc), off[0])) < 0 ||
	    (ret = io_pwrite_full(fd, f, VPC_FOOTER, off[1] +
	    VPC_LOC_SPACE)) < 0)
		return vm_err_errno(err, ret, "%s", path);
	return 0;
}

/* The parent opened under a differencing image must be the one it was
 * made over. */
static int
vpc_backing_opened(struct blk *b, struct vm_err *err)
{
	struct vpc *s = b->priv;
	const struct vpc *ps;

	if (!s->diff)
		return 0;
	if (b->backing->drv != &blk_vpc)
		return vm_err_set(err, -EINVAL, "%s: its parent %s is a %s "
		    "image, not a VHD", b->path, b->backing->path,
		    b->backing->drv->name);
	ps = b->backing->priv;
	if (memcmp(ps->footer + F_UUID, s->parent_uuid, 16) != 0)
		return vm_err_set(err, -EINVAL, "%s: its parent %s has another "
		    "UUID than the one it was made over (the parent was "
		    "replaced or rewritten; vm-disk rebase -u names a new "
		    "one)", b->path, b->backing->path);
	return 0;
}

/*
 * rebase: the parent's fields name another VHD (its UUID, time stamp,
 * name and locators, in the locator space the image has), or none (the
 * image becomes a plain dynamic one).  Locator data is written first,
 * then the dynamic header in one write; the type change of a removed
 * parent goes in the footer copies last.
 */
static int
vpc_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err)
{
	struct vpc *s = b->priv;
	uint8_t d[VPC_DYN], loc[2][VPC_LOC_SPACE], f[VPC_FOOTER];
	char ppath[8192];
	uint64_t off[2] = { 0, 0 };
	struct blk *p;
	unsigned i, k = 0;
	int ret;

	if (s->fixed || (!s->diff && name == NULL))
		return name == NULL ? 0 : vm_err_set(err, -ENOTSUP, "%s: a "
		    "fixed VHD image cannot have a parent", b->path);
	if (vx_read(b, d, VPC_DYN, s->dyn_off) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	memcpy(f, s->footer, VPC_FOOTER);
	if (name == NULL) {
		memset(d + D_PARENT_UUID, 0, VPC_DYN - D_PARENT_UUID);
		vx_put_be32(f + F_TYPE, VPC_DYNAMIC);
	} else {
		/* two locator regions of ours: the image's own, if large
		 * enough, else none */
		for (i = 0; i < VPC_LOCATORS && k < 2; i++)
			if (s->loc[i].code && s->loc[i].cap >= VPC_LOC_SPACE)
				off[k++] = s->loc[i].off;
		if (k < 2)
			return vm_err_set(err, -ENOSPC, "%s: the image has no "
			    "room for new parent locators", b->path);
		if ((p = open_parent(b->path, name, fmt, ppath, sizeof(ppath),
		    err)) == NULL)
			return err->code ? err->code : -EINVAL;
		if (p->size != b->size) {
			blk_close(p);
			return vm_err_set(err, -EINVAL, "%s: the new parent %s "
			    "is %llu bytes, this image %llu", b->path, ppath,
			    (unsigned long long)p->size,
			    (unsigned long long)b->size);
		}
		ret = fill_parent(d, name, ppath,
		    ((const struct vpc *)p->priv)->footer, loc, off);
		blk_close(p);
		if (ret < 0)
			return vm_err_set(err, ret, "%s: the parent's name does "
			    "not fit in a VHD parent locator", b->path);
		if (vx_write(b, loc, sizeof(loc[0]), off[0]) < 0 ||
		    vx_write(b, loc[1], sizeof(loc[1]), off[1]) < 0 ||
		    fdatasync(b->fd) < 0)
			goto ioerr;
		vx_put_be32(f + F_TYPE, VPC_DIFF);
	}
	vx_put_be32(d + D_CHECKSUM, checksum(d, VPC_DYN, D_CHECKSUM));
	vx_put_be32(f + F_CHECKSUM, checksum(f, VPC_FOOTER, F_CHECKSUM));
	if (vx_write(b, d, VPC_DYN, s->dyn_off) < 0 ||
	    vx_write(b, f, VPC_FOOTER, s->file_size - VPC_FOOTER) < 0 ||
	    vx_write(b, f, VPC_FOOTER, 0) < 0 || fdatasync(b->fd) < 0)
		goto ioerr;
	memcpy(s->footer, f, VPC_FOOTER);
	s->diff = name != NULL;
	memcpy(s->parent_uuid, d + D_PARENT_UUID, 16);
	if (name == NULL)
		memset(s->loc, 0, sizeof(s->loc));
	else
		for (i = 0; i < VPC_LOCATORS; i++) {
			const uint8_t *e = d + D_LOCATORS + 24 * i;

			s->loc[i].code = vx_be32(e);
			s->loc[i].len = vx_be32(e + 8);
			s->loc[i].off = vx_be64(e + 16);
			s->loc[i].cap = s->loc[i].code ? VPC_LOC_SPACE : 0;
		}
	snprintf(b->backing_name, sizeof(b->backing_name), "%s",
	    name ? name : "");
	snprintf(b->backing_fmt, sizeof(b->backing_fmt), "%s",
	    name ? "vpc" : "");
	return 0;
ioerr:
	*err = b->ioerr;
	return -EIO;
}

/* commit: every block let go (the BAT written in one go and synced),
 * then the footer after the metadata and the file cut there. */
static int
vpc_make_empty(struct blk *b, struct vm_err *err)
{
	struct vpc *s = b->priv;
	uint32_t g;

	if (s->fixed)
		return vm_err_set(err, -ENOTSUP, "%s: a fixed VHD image cannot "
		    "be emptied", b->path);
	for (g = 0; g < s->entries; g++)
		s->bat[g] = VPC_FREE;
	if (put_bat(b, s->bat_off, s->entries) < 0 || fdatasync(b->fd) < 0)
		goto ioerr;
	scan(s, NULL);
	if (vx_write(b, s->footer, VPC_FOOTER, s->free_off) < 0)
		goto ioerr;
	if (io_ftruncate(b->fd, (off_t)(s->free_off + VPC_FOOTER)) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	s->file_size = s->free_off + VPC_FOOTER;
	return 0;
ioerr:
	*err = b->ioerr;
	return -EIO;
}

static int
vpc_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	const char *sub = o->subformat ? o->subformat : "dynamic";
	bool fixed = strcmp(sub, "fixed") == 0;
	uint8_t f[VPC_FOOTER];
	uint64_t size = 0;
	int ret;

	if (o->backing && fixed)
		return vm_err_set(err, -EINVAL, "%s: a fixed VHD image cannot "
		    "have a parent (-b makes a differencing one)", path);
	if (!fixed && strcmp(sub, "dynamic") != 0)
		return vm_err_set(err, -EINVAL, "%s: VHD subformat '%s' is not "
		    "dynamic or fixed", path, sub);
	if (o->cluster_size)
		return vm_err_set(err, -EINVAL, "%s: VHD images have no "
		    "cluster_size option", path);
	if (o->static_img)
		return vm_err_set(err, -EINVAL, "%s: VHD images take "
		    "subformat=fixed, not static=on", path);
	if (o->prealloc && strcmp(o->prealloc, "off") != 0)
		return vm_err_set(err, -EINVAL, "%s: VHD images take "
		    "subformat=fixed, not preallocation=%s", path, o->prealloc);
	if (o->backing)
		return create_diff(fd, path, o, err);
	memset(f, 0, sizeof(f));
	if ((ret = new_size(o, path, &size, f, err)) < 0)
		return ret;
	make_footer(f, size, fixed ? VPC_FIXED : VPC_DYNAMIC);
	if (fixed) {
		if (io_ftruncate(fd, (off_t)size) < 0)
			return vm_err_errno(err, -errno, "%s", path);
		ret = io_pwrite_full(fd, f, VPC_FOOTER, size);
	} else {
		ret = create_dynamic(fd, f, size);
	}
	return ret < 0 ? vm_err_errno(err, ret, "%s", path) : 0;
}

/* ---- resize ---- */

/* Fixed: the footer moves to the new end; grown, the old footer's
 * sector (now guest data) is zeroed after the new one is in place. */
static int
resize_fixed(struct blk *b, const uint8_t *f, uint64_t size)
{
	struct vpc *s = b->priv;
	int ret;

	if ((ret = vx_write(b, f, VPC_FOOTER, size)) < 0)
		return ret;
	if (size > b->size && (ret = vx_write_zeros(b, VPC_FOOTER,
	    b->size)) < 0)
		return ret;
	if (size < b->size && io_ftruncate(b->fd, (off_t)(size + VPC_FOOTER)) < 0)
		return vx_fail(b, "cannot truncate: %s", strerror(errno));
	s->file_size = size + VPC_FOOTER;
	return 0;
}

/* The dynamic header with its table at off holding n entries. */
static int
put_dyn_header(struct blk *b, uint64_t off, uint32_t n)
{
	struct vpc *s = b->priv;
	uint8_t d[VPC_DYN];
	int ret;

	if ((ret = vx_read(b, d, VPC_DYN, s->dyn_off)) < 0)
		return ret;
	vx_put_be64(d + D_TABLE_OFF, off);
	vx_put_be32(d + D_ENTRIES, n);
	vx_put_be32(d + D_CHECKSUM, checksum(d, VPC_DYN, D_CHECKSUM));
	return vx_write(b, d, VPC_DYN, s->dyn_off);
}

/* n BAT entries from the in-memory table (FREE past s->entries) at off,
 * padded with FREE to a sector. */
static int
put_bat(struct blk *b, uint64_t off, uint32_t n)
{
	struct vpc *s = b->priv;
	uint64_t len = ((uint64_t)n * 4 + 511) & ~511ull, i;
	uint8_t *t = malloc((size_t)len);
	int ret;

	if (t == NULL)
		return -ENOMEM;
	memset(t, 0xff, (size_t)len);
	for (i = 0; i < n && i < s->entries; i++)
		vx_put_be32(t + 4 * i, s->bat[i]);
	ret = vx_write(b, t, (size_t)len, off);
	free(t);
	return ret;
}

/*
 * Dynamic, grown: a table with more entries, in place if the sectors it
 * has hold them, else written after the last block and named by the
 * dynamic header (the old one is left unused).  The header is switched
 * last, so a crash leaves the old table in force.
 */
static int
grow_bat(struct blk *b, uint32_t need)
{
	struct vpc *s = b->priv;
	uint64_t limit = (s->bat_off + (uint64_t)s->entries * 4 + 511) &
	    ~511ull, off = s->bat_off, h;
	uint32_t *bat, g;
	uint8_t *bad;
	int ret;

	for (g = 0; g < s->entries; g++) {
		h = (uint64_t)s->bat[g] * 512;
		if (s->bat[g] != VPC_FREE && h >= s->bat_off && h < limit)
			limit = h;
	}
	if (s->dyn_off >= s->bat_off && s->dyn_off < limit)
		limit = s->dyn_off;
	if (s->bat_off + (uint64_t)need * 4 > limit) {
		off = s->free_off;
		if ((ret = put_bat(b, off, need)) < 0 ||
		    (ret = vx_write(b, s->footer, VPC_FOOTER, off +
		    (((uint64_t)need * 4 + 511) & ~511ull))) < 0)
			return ret;
		if (fdatasync(b->fd) < 0)
			return vx_fail(b, "sync: %s", strerror(errno));
	} else if ((ret = put_bat(b, off, need)) < 0) {
		return ret;
	}
	if ((ret = put_dyn_header(b, off, need)) < 0)
		return ret;
	bat = realloc(s->bat, (size_t)need * 4 + 4);
	if (bat != NULL)
		s->bat = bat;
	bad = realloc(s->bad, (size_t)need + 1);
	if (bad != NULL)
		s->bad = bad;
	if (bat == NULL || bad == NULL)
		return -ENOMEM;
	for (g = s->entries; g < need; g++)
		s->bat[g] = VPC_FREE;
	s->entries = need;
	s->bat_off = off;
	s->file_size = vx_file_size(b->fd);
	return 0;
}

/* Dynamic, shrunk: the blocks past the new end are let go, and the tail
 * of the last one zeroed, so that growing again reads zeros there. */
static int
drop_blocks(struct blk *b, uint64_t size)
{
	struct vpc *s = b->priv;
	uint32_t g = (uint32_t)((size + s->block_size - 1) / s->block_size);
	uint64_t in = size % s->block_size;
	uint8_t be[4] = { 0xff, 0xff, 0xff, 0xff };
	int ret;

	if (in && s->bat[size / s->block_size] != VPC_FREE &&
	    (ret = zero_in_file(b, s->block_size - in,
	    (uint64_t)s->bat[size / s->block_size] * 512 + s->bitmap_size +
	    in)) < 0)
		return ret;
	for (; g < s->entries; g++) {
		if (s->bat[g] == VPC_FREE)
			continue;
		if ((ret = vx_write(b, be, 4, s->bat_off + 4ull * g)) < 0)
			return ret;
		s->bat[g] = VPC_FREE;
	}
	return 0;
}

static int
vpc_resize(struct blk *b, uint64_t size, struct vm_err *err)
{
	struct blk_create_opts o = { .size = size };
	struct vpc *s = b->priv;
	uint8_t f[VPC_FOOTER];
	uint64_t nsize, need;
	int ret;

	if (s->diff)
		return vm_err_set(err, -ENOTSUP, "%s: resizing a differencing "
		    "VHD image is not supported (it has its parent's size)",
		    b->path);
	memcpy(f, s->footer, VPC_FOOTER);
	o.force_size = cur_size_rules(f);
	if ((ret = new_size(&o, b->path, &nsize, f, err)) < 0)
		return ret;
	vx_put_be64(f + F_CUR_SIZE, nsize);
	vx_put_be32(f + F_CHECKSUM, checksum(f, VPC_FOOTER, F_CHECKSUM));
	if (s->fixed) {
		ret = resize_fixed(b, f, nsize);
	} else {
		need = (nsize + s->block_size - 1) / s->block_size;
		if (need > VPC_MAX_ENTRIES)
			return vm_err_set(err, -EFBIG, "%s: %llu blocks are "
			    "more than a VHD block table holds here", b->path,
			    (unsigned long long)need);
		ret = need > s->entries ? grow_bat(b, (uint32_t)need) :
		    nsize < b->size ? drop_blocks(b, nsize) : 0;
		if (ret == 0) {
			scan(s, NULL);
			/* the footer's copies: at the end (the file cut
			 * there), then at the start */
			ret = vx_write(b, f, VPC_FOOTER, s->free_off);
		}
		if (ret == 0 && io_ftruncate(b->fd, (off_t)(s->free_off +
		    VPC_FOOTER)) < 0)
			ret = vx_fail(b, "cannot truncate: %s", strerror(errno));
		if (ret == 0)
			ret = vx_write(b, f, VPC_FOOTER, 0);
		s->file_size = s->free_off + VPC_FOOTER;
	}
	if (ret == 0 && fdatasync(b->fd) < 0)
		ret = vx_fail(b, "sync: %s", strerror(errno));
	if (ret < 0)
		return vm_err_set(err, ret, "%s", b->ioerr.msg);
	memcpy(s->footer, f, VPC_FOOTER);
	b->size = nsize;
	return 0;
}

const struct blk_driver blk_vpc = {
	.name = "vpc",
	.priv_size = sizeof(struct vpc),
	.probe = vpc_probe,
	.probe_tail = vpc_probe_tail,
	.open = vpc_open,
	.close = vpc_close,
	.create = vpc_create,
	.preadv = vpc_preadv,
	.pwritev = vpc_pwritev,
	.flush = vpc_flush,
	.block_status = vpc_block_status,
	.info = vpc_info,
	.check = vpc_check,
	.resize = vpc_resize,
	.set_backing = vpc_set_backing,
	.make_empty = vpc_make_empty,
	.backing_opened = vpc_backing_opened,
};
