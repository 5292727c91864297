/*
 * virtio-blk (virtio spec 1.2 section 5.2) on the block layer.
 *
 * arg: const struct cfg_disk * (file, format, readonly).  One request
 * queue of 256 entries; requests are served synchronously on the kicking
 * vCPU's thread.  Features: SEG_MAX, BLK_SIZE, FLUSH, RO for read-only
 * disks, DISCARD and WRITE_ZEROES (one segment each).  Every sector range
 * is checked against the capacity before the block layer sees it; a
 * request whose layout is wrong (no header, no status byte) is answered
 * IOERR when it has a status byte and dropped otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "dev/dev.h"
#include "dev/virtio.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define VIRTIO_ID_BLOCK 2

#define F_SEG_MAX (1ULL << 2)
#define F_RO (1ULL << 5)
#define F_BLK_SIZE (1ULL << 6)
#define F_FLUSH (1ULL << 9)
#define F_DISCARD (1ULL << 13)
#define F_WRITE_ZEROES (1ULL << 14)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13

#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

#define SEG_MAX 126
#define SECTOR 512ULL

struct vblk {
	struct virtio_dev v;
	struct blk *blk;
	char serial[20];
	uint8_t config[64];
};

static uint8_t
do_rw(struct vblk *b, const struct virtq_elem *e, uint64_t sector,
    bool write, uint32_t *written)
{
	struct iovec data[VIRTQ_MAX_SEG];
	uint64_t len;
	size_t got;
	unsigned n;
	int ret;

	if (write) {
		len = 0;
		for (n = 0; n < e->nout; n++)
			len += e->out[n].iov_len;
		len -= 16;
		n = iov_slice(e->out, e->nout, 16, len, data, VIRTQ_MAX_SEG,
		    &got);
	} else {
		len = e->in_len - 1;
		n = iov_slice(e->in, e->nin, 0, len, data, VIRTQ_MAX_SEG,
		    &got);
	}
	if (got != len || len % SECTOR)
		return S_IOERR;
	if (sector > b->blk->size / SECTOR ||
	    len > b->blk->size - sector * SECTOR)
		return S_IOERR;
	if (write) {
		if (b->blk->flags & BLK_F_RDONLY)
			return S_IOERR;
		ret = blk_pwritev(b->blk, data, (int)n, sector * SECTOR);
	} else {
		ret = blk_preadv(b->blk, data, (int)n, sector * SECTOR);
		if (ret == 0)
			*written += (uint32_t)len;
	}
	if (ret < 0) {
		log_warnx("%s: %s at sector %llu: %s", b->blk->path,
		    write ? "write" : "read", (unsigned long long)sector,
		    strerror(-ret));
		return S_IOERR;
	}
	return S_OK;
}

/* DISCARD / WRITE_ZEROES: one segment {sector u64, num u32, flags u32}. */
static uint8_t
do_discard(struct vblk *b, const struct virtq_elem *e, bool zeroes)
{
	uint8_t seg[16];
	uint64_t sector;
	uint32_t num, flags;
	int ret;

	if (iov_to_buf(e->out, e->nout, 16, seg, 16) != 16)
		return S_IOERR;
	memcpy(&sector, seg, 8);
	memcpy(&num, seg + 8, 4);
	memcpy(&flags, seg + 12, 4);
	if (b->blk->flags & BLK_F_RDONLY)
		return S_IOERR;
	if (sector > b->blk->size / SECTOR ||
	    (uint64_t)num > b->blk->size / SECTOR - sector)
		return S_IOERR;
	if (zeroes) {
		static const uint8_t zero[65536];
		uint64_t off = sector * SECTOR, left = num * SECTOR;

		/* Unmap allowed: a hole reads as zeros in a raw file. */
		if ((flags & 1) && strcmp(b->blk->drv->name, "raw") == 0) {
			ret = blk_discard(b->blk, off, left);
			return ret < 0 ? S_IOERR : S_OK;
		}
		while (left > 0) {
			size_t c = left < sizeof(zero) ? left : sizeof(zero);

			if (blk_pwrite(b->blk, zero, c, off) < 0)
				return S_IOERR;
			off += c;
			left -= c;
		}
		return S_OK;
	}
	ret = blk_discard(b->blk, sector * SECTOR, (uint64_t)num * SECTOR);
	return ret < 0 ? S_IOERR : S_OK;
}

static void
vblk_notify(struct virtio_dev *v, unsigned q)
{
	struct vblk *b = v->opaque;
	struct virtq_elem e;
	uint8_t hdr[16], status;
	uint32_t type, written;
	uint64_t sector;
	bool any = false;

	while (virtq_pop(v, q, &e) > 0) {
		any = true;
		written = 0;
		if (e.nin == 0 || e.in[e.nin - 1].iov_len == 0 ||
		    iov_to_buf(e.out, e.nout, 0, hdr, 16) != 16) {
			/* No status byte to answer in: give it back empty. */
			virtq_push(v, q, &e, 0);
			continue;
		}
		memcpy(&type, hdr, 4);
		memcpy(&sector, hdr + 8, 8);
		switch (type) {
		case T_IN:
		case T_OUT:
			status = do_rw(b, &e, sector, type == T_OUT, &written);
			break;
		case T_FLUSH:
			status = blk_flush(b->blk) < 0 ? S_IOERR : S_OK;
			break;
		case T_GET_ID: {
			size_t n = e.in_len - 1 < 20 ? e.in_len - 1 : 20;

			written += (uint32_t)iov_from_buf(e.in, e.nin, 0,
			    b->serial, n);
			status = S_OK;
			break;
		}
		case T_DISCARD:
		case T_WRITE_ZEROES:
			status = do_discard(b, &e, type == T_WRITE_ZEROES);
			break;
		default:
			status = S_UNSUPP;
			break;
		}
		iov_from_buf(e.in, e.nin, e.in_len - 1, &status, 1);
		virtq_push(v, q, &e, written + 1);
	}
	if (any)
		virtq_notify(v, q);
}

static const struct virtio_ops vblk_ops = {
	.notify = vblk_notify,
};

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static int
vblk_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	const struct cfg_disk *cd = arg;
	struct vblk *b = d->priv;
	uint64_t cap, features = F_SEG_MAX | F_BLK_SIZE | F_FLUSH;
	int ret;

	b->blk = blk_open(cd->file, cd->format[0] ? cd->format : NULL,
	    cd->readonly ? BLK_F_RDONLY : 0, err);
	if (b->blk == NULL)
		return err ? err->code : -EIO;
	if (b->blk->size % SECTOR)
		log_warnx("%s: size is not a multiple of 512 bytes; the last "
		    "%llu bytes are not visible to the guest", cd->file,
		    (unsigned long long)(b->blk->size % SECTOR));
	cap = b->blk->size / SECTOR;
	if (cd->readonly)
		features |= F_RO;
	else
		features |= F_DISCARD | F_WRITE_ZEROES;
	/* Config (5.2.4): capacity, size_max, seg_max, geometry, blk_size,
	 * topology, writeback, unused, num_queues, max_discard_sectors,
	 * max_discard_seg, discard_sector_alignment, max_write_zeroes_sectors,
	 * max_write_zeroes_seg, write_zeroes_may_unmap. */
	memcpy(b->config, &cap, 8);
	put32(b->config + 12, SEG_MAX);
	put32(b->config + 20, 512);
	put32(b->config + 36, 0xffffffffu / 512);     /* max discard sectors */
	put32(b->config + 40, 1);                     /* max discard segs */
	put32(b->config + 44, 8);                     /* 4 KiB alignment */
	put32(b->config + 48, 0xffffffffu / 512);
	put32(b->config + 52, 1);
	b->config[56] = 1;
	{
		char id[64];
		size_t n;

		/* GET_ID: up to 20 bytes, NUL-padded when shorter. */
		n = (size_t)snprintf(id, sizeof(id), "vmkit-%s", d->id);
		memset(b->serial, 0, sizeof(b->serial));
		memcpy(b->serial, id, n < sizeof(b->serial) ? n :
		    sizeof(b->serial));
	}
	b->v.opaque = b;
	ret = virtio_pci_init(&b->v, vm, d->id, VIRTIO_ID_BLOCK, 0x018000, 1,
	    256, &vblk_ops, features, b->config, 60, err);
	if (ret < 0) {
		blk_close(b->blk);
		b->blk = NULL;
		return ret;
	}
	return 0;
}

static void
vblk_unrealize(struct dev *d)
{
	struct vblk *b = d->priv;

	virtio_pci_fini(&b->v);
	if (b->blk) {
		blk_flush(b->blk);
		blk_close(b->blk);
	}
}

static struct blk *
vblk_disk(struct dev *d, int n)
{
	struct vblk *b = d->priv;

	return n == 0 ? b->blk : NULL;
}

static void
vblk_set_disk(struct dev *d, int n, struct blk *nb)
{
	struct vblk *b = d->priv;

	if (n == 0)
		b->blk = nb;
}

const struct dev_type virtio_blk_type = {
	.name = "virtio-blk",
	.desc = "virtio block device (PCI)",
	.priv_size = sizeof(struct vblk),
	.realize = vblk_realize,
	.unrealize = vblk_unrealize,
	.state = virtio_dev_state,
	.state_version = 1,
	.post_load = virtio_dev_post_load,
	.load_check = virtio_dev_load_check,
	.disk = vblk_disk,
	.set_disk = vblk_set_disk,
};
