/*
 * qcow2 internal snapshots: the snapshot table, read and validated at
 * open so info can list it (creating, applying and deleting snapshots
 * is not done yet; images that have them are opened read-only).
 *
 *   entry:  0 L1 offset (u64)   8 L1 entries (u32)   12 id length (u16)
 *          14 name length (u16) 16 date s (u32)      20 date ns (u32)
 *          24 VM clock ns (u64) 32 VM state size (u32)
 *          36 extra data length (u32), then the extra data (8: 64-bit
 *          VM state size, 16: virtual size, 24: icount), the id, the
 *          name, and padding to a multiple of 8 bytes.
 */
#include "block/block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-int.h"
#include "util/err.h"

#define SNAP_TABLE_MAX (64u << 20)      /* bytes, as a sanity bound */

/* One entry at *pos: validated, stored in *s, *pos moved past it. */
static int
one(struct blk *b, uint64_t *pos, struct blk_snapshot *s, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint8_t h[40], *rest;
	uint64_t l1, len;
	uint32_t l1n, extra;
	uint16_t idn, namen;

	if (*pos + 40 > q->file_size || *pos - q->snapshots_off > SNAP_TABLE_MAX)
		return vm_err_set(err, -EINVAL, "%s: snapshot table runs past "
		    "the end of the file", b->path);
	if (qc_read_file(b, h, 40, *pos) < 0)
		return -EIO;
	l1 = qc_be64(h);
	l1n = qc_be32(h + 8);
	idn = (uint16_t)(h[12] << 8 | h[13]);
	namen = (uint16_t)(h[14] << 8 | h[15]);
	extra = qc_be32(h + 36);
	if (extra > 1024)
		return vm_err_set(err, -EINVAL, "%s: snapshot extra data of %u "
		    "bytes is absurd", b->path, extra);
	if ((uint64_t)l1n * 8 > QC_MAX_L1_BYTES || (l1n && ((l1 & (q->cs - 1)) ||
	    l1 < q->cs || l1 > q->file_size || l1n * 8ull > q->file_size - l1)))
		return vm_err_set(err, -EINVAL, "%s: a snapshot's L1 table is "
		    "unaligned or past the end of the file", b->path);
	len = 40ull + extra + idn + namen;
	if (*pos + len > q->file_size)
		return vm_err_set(err, -EINVAL, "%s: snapshot table runs past "
		    "the end of the file", b->path);
	if ((rest = malloc((size_t)(len - 40) + 1)) == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (qc_read_file(b, rest, (size_t)(len - 40), *pos + 40) < 0) {
		free(rest);
		return -EIO;
	}
	memset(s, 0, sizeof(*s));
	s->date_sec = qc_be32(h + 16);
	s->date_nsec = qc_be32(h + 20);
	s->vm_clock_nsec = qc_be64(h + 24);
	s->vm_state_size = qc_be32(h + 32);
	s->icount = UINT64_MAX;
	if (extra >= 8)
		s->vm_state_size = qc_be64(rest);
	if (extra >= 24)
		s->icount = qc_be64(rest + 16);
	memcpy(s->id, rest + extra, idn < sizeof(s->id) ? idn :
	    sizeof(s->id) - 1);
	memcpy(s->name, rest + extra + idn, namen < sizeof(s->name) ? namen :
	    sizeof(s->name) - 1);
	free(rest);
	*pos += (len + 7) & ~7ull;
	return 0;
}

int
qc_read_snapshots(struct blk *b, struct vm_err *err)
{
	struct qcow2 *q = b->priv;
	uint64_t pos = q->snapshots_off;
	uint32_t i;
	int ret;

	if (q->nb_snapshots == 0)
		return 0;
	q->snaps = calloc(q->nb_snapshots, sizeof(*q->snaps));
	if (q->snaps == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < q->nb_snapshots; i++) {
		if ((ret = one(b, &pos, &q->snaps[i], err)) < 0) {
			if (ret == -EIO && err)
				*err = b->ioerr;
			return ret;
		}
	}
	return 0;
}

int
qc_snapshots(struct blk *b, const struct blk_snapshot **list)
{
	struct qcow2 *q = b->priv;

	*list = q->snaps;
	return (int)q->nb_snapshots;
}
