/*
 * vmdk check: every sparse extent's GTs and grains must lie inside the
 * file, past the header's metadata, and no two may overlap.  A GT entry
 * past the end of the file or two users of one sector are corruption (as
 * qemu-img check reports the first).  Nothing is repaired.
 */
#include "block/block.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/vmdk-int.h"
#include "util/err.h"

struct span {
	uint64_t start, len;
};

struct walk {
	struct blk_check *res;
	struct span *s;
	size_t n, cap;
	bool nomem;
};

static void
note(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(struct walk *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	w->res->corruptions++;
	if (w->res->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->res->note(w->res->note_ctx, msg);
}

static void
add(struct walk *w, uint64_t start, uint64_t len)
{
	struct span *t;

	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 1024;
		t = realloc(w->s, w->cap * sizeof(*t));
		if (t == NULL) {
			w->nomem = true;
			w->cap = w->n;
			return;
		}
		w->s = t;
	}
	w->s[w->n].start = start;
	w->s[w->n].len = len;
	w->n++;
}

static int
by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The bytes a compressed grain takes (its marker included). */
static uint64_t
comp_len(struct blk *b, struct vx *x, uint64_t host)
{
	uint8_t mk[12];

	if (!x->markers || vd_read_file(b, x, mk, 12, host) < 0)
		return 512;
	return (12 + (uint64_t)vd_le32(mk + 8) + 511) & ~511ull;
}

static int
check_extent(struct blk *b, struct vx *x, struct walk *w)
{
	uint64_t gi, ng = (x->capacity * 512 + x->grain - 1) >> x->grain_bits;
	uint64_t gtb = ((uint64_t)x->ngte * 4 + 511) & ~511ull, host, len;
	enum vx_kind kind;
	uint32_t i;

	w->n = 0;
	for (i = 0; i < x->ngt; i++) {
		if (x->gd[i] && !vd_gt_ok(x, x->gd[i]))
			note(w, "ERROR: %s: grain directory entry %u (sector %u) "
			    "points past the end of the file", x->path, i,
			    x->gd[i]);
		else if (x->gd[i])
			add(w, (uint64_t)x->gd[i] * 512, gtb);
		if (x->rgd && x->rgd[i] && !vd_gt_ok(x, x->rgd[i]))
			note(w, "ERROR: %s: redundant grain directory entry %u "
			    "(sector %u) points past the end of the file",
			    x->path, i, x->rgd[i]);
		else if (x->rgd && x->rgd[i])
			add(w, (uint64_t)x->rgd[i] * 512, gtb);
	}
	w->res->total_clusters += ng;
	for (gi = 0; gi < ng; gi++) {
		if (!x->sgt && x->gd[gi / x->ngte] &&
		    !vd_gt_ok(x, x->gd[gi / x->ngte]))
			continue;
		if (vd_lookup(b, x, gi << x->grain_bits, &kind, &host,
		    NULL) < 0) {
			note(w, "ERROR: %s", b->ioerr.msg);
			vm_err_clear(&b->ioerr);
			continue;
		}
		if (kind != VK_DATA && kind != VK_COMP)
			continue;
		w->res->allocated_clusters++;
		len = kind == VK_COMP ? comp_len(b, x, host) : x->grain;
		if (kind == VK_COMP) {
			w->res->compressed_clusters++;
			if (host + len > x->file_size)
				note(w, "ERROR: %s: compressed grain for guest "
				    "offset %#llx runs past the end of the file",
				    x->path, (unsigned long long)(x->start +
				    (gi << x->grain_bits)));
		}
		if (!x->compressed && host < x->overhead * 512)
			note(w, "ERROR: %s: grain for guest offset %#llx is "
			    "inside the header's metadata", x->path,
			    (unsigned long long)(x->start + (gi << x->grain_bits)));
		add(w, host, len);
	}
	if (w->nomem)
		return -ENOMEM;
	if (w->n > 1)
		qsort(w->s, w->n, sizeof(*w->s), by_start);
	for (size_t k = 1; k < w->n; k++)
		if (w->s[k].start < w->s[k - 1].start + w->s[k - 1].len)
			note(w, "ERROR: %s: grains or grain tables overlap at "
			    "%#llx", x->path, (unsigned long long)w->s[k].start);
	return 0;
}

int
vd_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err)
{
	struct vmdk *m = b->priv;
	struct walk w = { res, NULL, 0, 0, false };
	int i, ret = 0;

	(void)repair;
	for (i = 0; i < m->n && ret == 0; i++)
		if (m->ext[i].type == VX_SPARSE)
			ret = check_extent(b, &m->ext[i], &w);
	for (i = 0; i < m->n; i++)
		if (m->ext[i].fd == b->fd)
			res->image_end = m->ext[i].file_size;
	free(w.s);
	if (ret < 0)
		return vm_err_set(err, ret, "out of memory");
	return 0;
}
