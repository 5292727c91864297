/*
 * VDI: VirtualBox's disk image, header version 1.1, as VirtualBox and
 * qemu write it.  A 512-byte header (little-endian), a block map of one
 * 32-bit entry per 1 MiB guest block, then the data blocks: map entry e
 * puts a guest block at offset_data + e * 1 MiB; 0xffffffff (never
 * written) and 0xfffffffe (discarded) read as zeros.  A dynamic image
 * appends a block the first time a guest block gets data; a fixed
 * ("static") image has every block allocated at create time.
 *
 * Every header field is checked at open, and so is the map: an entry
 * must name one of the image's blocks, start inside the file, and be the
 * only entry naming it.  An image with a bad map opens read-only only
 * (for check and for reading the blocks that are sound); a read of a bad
 * entry fails naming it, and writes are refused at open, so nothing we
 * write can land on another block's data.
 *
 * Allocation writes the whole block (zeros around the data), then the
 * header's count of allocated blocks, then the block's map entry.  A
 * writer killed between the two leaves a count one too high: check
 * reports it (as qemu-img does), and check -r all sets the count from
 * the map; the orphan block is then past the count, where the next
 * allocation reuses it.  check -r all also repairs the map itself (see
 * repair_map).
 */
#include "block/block.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "block/vxio.h"
#include "util/err.h"
#include "util/io.h"
#include "util/track.h"

#define VDI_HDR_SIZE    512
#define VDI_SIGNATURE   0xbeda107fu
#define VDI_VERSION     0x00010001u
#define VDI_BLOCK       (1u << 20)
#define VDI_FREE        0xffffffffu
#define VDI_DISCARDED   0xfffffffeu
/* 64 TiB: a map of 256 MiB, so a hostile (sparse) file cannot make us
 * allocate gigabytes; qemu allows up to 2^30 blocks. */
#define VDI_MAX_BLOCKS  (1u << 26)
#define VDI_DYNAMIC     1
#define VDI_FIXED       2
#define VDI_DIFF        4
#define H_COMMENT       0x54    /* 256 bytes */
#define VDI_COMMENT     256
/* How a differencing image made here names its parent (VirtualBox keeps
 * the name in its media registry, not in the image): in the comment. */
#define PARENT_TAG      "vmkit-parent="

/* Header field offsets. */
#define H_SIGNATURE     0x40
#define H_VERSION       0x44
#define H_HEADER_SIZE   0x48
#define H_TYPE          0x4c
#define H_OFF_BMAP      0x154
#define H_OFF_DATA      0x158
#define H_SECTOR_SIZE   0x168
#define H_DISK_SIZE     0x170
#define H_BLOCK_SIZE    0x178
#define H_BLOCK_EXTRA   0x17c
#define H_BLOCKS        0x180
#define H_ALLOCATED     0x184
#define H_UUID_IMAGE    0x188
#define H_UUID_SNAP     0x198
#define H_UUID_LINK     0x1a8
#define H_UUID_PARENT   0x1b8

struct vdi {
	uint8_t hdr[VDI_HDR_SIZE];
	uint32_t *bmap;         /* guest block -> host block */
	uint8_t *bad;           /* per guest block: its entry is unusable */
	uint8_t *used;          /* per host block: an entry names it */
	uint32_t blocks, allocated, counted, top;
	uint64_t bmap_off, data_off, file_size;
	uint32_t nbad;
	bool diff;              /* differencing: free blocks are the parent's */
	bool orphan;            /* ... and no parent was found */
	bool count_bad;         /* the one problem is the allocated count */
	char why[160];          /* the first problem found in the map */
};

static bool
allocated(uint32_t e)
{
	return e < VDI_DISCARDED;
}

static int
vdi_probe(const uint8_t *hdr, size_t len)
{
	if (len >= H_SIGNATURE + 4 &&
	    vx_le32(hdr + H_SIGNATURE) == VDI_SIGNATURE)
		return 100;
	return 0;
}

static void
problem(struct vdi *s, struct blk_check *res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
problem(struct vdi *s, struct blk_check *res, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->nbad++ == 0)
		snprintf(s->why, sizeof(s->why), "%s", msg);
	if (res) {
		res->corruptions++;
		if (res->note) {
			char line[200];

			snprintf(line, sizeof(line), "ERROR: %s", msg);
			res->note(res->note_ctx, line);
		}
	}
}

/* Check every map entry; marks the bad ones and counts the good. */
static void
scan(struct vdi *s, struct blk_check *res)
{
	uint32_t *owner, g, e;

	s->nbad = 0;
	s->counted = 0;
	s->top = 0;
	memset(s->bad, 0, s->blocks);
	memset(s->used, 0, s->blocks);
	owner = calloc(s->blocks ? s->blocks : 1, sizeof(*owner));
	for (g = 0; g < s->blocks; g++) {
		e = s->bmap[g];
		if (!allocated(e))
			continue;
		if (e >= s->blocks) {
			s->bad[g] = 1;
			problem(s, res, "block map entry %u names block %u, "
			    "past the image's %u blocks", g, e, s->blocks);
		} else if (s->data_off + (uint64_t)e * VDI_BLOCK >=
		    s->file_size) {
			s->bad[g] = 1;
			problem(s, res, "block map entry %u names block %u, "
			    "past the end of the file", g, e);
		} else if (s->used[e]) {
			s->bad[g] = 1;
			if (owner)
				s->bad[owner[e]] = 1;
			problem(s, res, "block map entries %u and %u both "
			    "name block %u", owner ? owner[e] : 0, g, e);
		} else {
			s->used[e] = 1;
			if (owner)
				owner[e] = g;
			s->counted++;
			if (e + 1 > s->top)
				s->top = e + 1;
		}
	}
	free(owner);
	s->count_bad = s->counted != s->allocated && s->nbad == 0;
	if (s->count_bad)
		problem(s, res, "the header counts %u allocated blocks, the "
		    "block map %u", s->allocated, s->counted);
}

static int
check_header(struct blk *b, struct vdi *s, struct vm_err *err)
{
	const uint8_t *h = s->hdr;
	uint64_t disk = vx_le64(h + H_DISK_SIZE), bmap_end;
	uint32_t v = vx_le32(h + H_VERSION), type = vx_le32(h + H_TYPE);
	static const uint8_t nil[16];

	if (vx_le32(h + H_SIGNATURE) != VDI_SIGNATURE)
		return vm_err_set(err, -EINVAL, "%s: not a VDI image (bad "
		    "signature)", b->path);
	if (v != VDI_VERSION)
		return vm_err_set(err, -ENOTSUP, "%s: unsupported VDI version "
		    "%u.%u (only 1.1)", b->path, v >> 16, v & 0xffff);
	if (type != VDI_DYNAMIC && type != VDI_FIXED && type != VDI_DIFF)
		return vm_err_set(err, -ENOTSUP, "%s: unsupported VDI image "
		    "type %u (only normal, fixed and differencing images)",
		    b->path, type);
	if (vx_le32(h + H_SECTOR_SIZE) != 512 ||
	    vx_le32(h + H_BLOCK_SIZE) != VDI_BLOCK ||
	    vx_le32(h + H_BLOCK_EXTRA) != 0)
		return vm_err_set(err, -ENOTSUP, "%s: unsupported VDI layout "
		    "(sector size %u, block size %u, block extra %u; only "
		    "512, 1 MiB, 0)", b->path, vx_le32(h + H_SECTOR_SIZE),
		    vx_le32(h + H_BLOCK_SIZE), vx_le32(h + H_BLOCK_EXTRA));
	s->diff = type == VDI_DIFF;
	if (s->diff && memcmp(h + H_UUID_LINK, nil, 16) == 0)
		return vm_err_set(err, -EINVAL, "%s: a differencing VDI image "
		    "without its parent's UUID", b->path);
	if (!s->diff && (memcmp(h + H_UUID_LINK, nil, 16) != 0 ||
	    memcmp(h + H_UUID_PARENT, nil, 16) != 0))
		return vm_err_set(err, -EINVAL, "%s: a VDI image of type %u "
		    "with a parent's UUID", b->path, type);
	s->blocks = vx_le32(h + H_BLOCKS);
	s->allocated = vx_le32(h + H_ALLOCATED);
	s->bmap_off = vx_le32(h + H_OFF_BMAP);
	s->data_off = vx_le32(h + H_OFF_DATA);
	if (s->blocks > VDI_MAX_BLOCKS)
		return vm_err_set(err, -EINVAL, "%s: absurd VDI block count "
		    "%u", b->path, s->blocks);
	if (disk > (uint64_t)s->blocks * VDI_BLOCK)
		return vm_err_set(err, -EINVAL, "%s: the disk size %llu does "
		    "not fit in the image's %u blocks", b->path,
		    (unsigned long long)disk, s->blocks);
	if (s->allocated > s->blocks)
		return vm_err_set(err, -EINVAL, "%s: %u blocks allocated of "
		    "only %u", b->path, s->allocated, s->blocks);
	bmap_end = s->bmap_off + (uint64_t)s->blocks * 4;
	if (s->bmap_off % 512 || s->data_off % 512 ||
	    s->bmap_off < VDI_HDR_SIZE || s->data_off < bmap_end)
		return vm_err_set(err, -EINVAL, "%s: block map offset %#llx or "
		    "data offset %#llx is unaligned or overlaps the header or "
		    "the map", b->path, (unsigned long long)s->bmap_off,
		    (unsigned long long)s->data_off);
	if (bmap_end > s->file_size)
		return vm_err_set(err, -EINVAL, "%s: the block map runs past "
		    "the end of the file (truncated image?)", b->path);
	b->size = (disk + 511) & ~511ull;
	return 0;
}

static void
unload(struct vdi *s)
{
	free(s->bmap);
	free(s->bad);
	free(s->used);
	s->bmap = NULL;
	s->bad = s->used = NULL;
}

/* Read and check the header and the map. */
static int
load(struct blk *b, struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint32_t g;
	int ret;

	unload(s);
	s->file_size = vx_file_size(b->fd);
	if (s->file_size < VDI_HDR_SIZE)
		return vm_err_set(err, -EINVAL, "%s: not a VDI image (shorter "
		    "than its header)", b->path);
	if (vx_read(b, s->hdr, VDI_HDR_SIZE, 0) < 0) {
		*err = b->ioerr;
		return err->code;
	}
	if ((ret = check_header(b, s, err)) < 0)
		return ret;
	s->bmap = malloc((size_t)s->blocks * 4 + 4);
	s->bad = malloc((size_t)s->blocks + 1);
	s->used = malloc((size_t)s->blocks + 1);
	if (s->bmap == NULL || s->bad == NULL || s->used == NULL)
		return vm_err_set(err, -ENOMEM, "%s: out of memory for the "
		    "block map", b->path);
	if (vx_read(b, s->bmap, (size_t)s->blocks * 4, s->bmap_off) < 0) {
		*err = b->ioerr;
		return err->code;
	}
	for (g = 0; g < s->blocks; g++)
		s->bmap[g] = vx_le32((uint8_t *)&s->bmap[g]);
	scan(s, NULL);
	return 0;
}

static int find_parent(struct blk *b, struct vm_err *err);

static int
vdi_open(struct blk *b, int fd, unsigned flags, struct vm_err *err)
{
	struct vdi *s = b->priv;
	int ret;

	(void)fd;
	if ((ret = load(b, err)) < 0 ||
	    (s->diff && (ret = find_parent(b, err)) < 0 &&
	    !(flags & BLK_F_NOBACKING))) {
		unload(s);
		return ret;
	}
	/* Opened alone (info, check, rebase -u) without a parent found:
	 * what only the parent holds cannot be read. */
	s->orphan = ret < 0;
	if (s->nbad && !(flags & (BLK_F_RDONLY | BLK_F_REPAIR))) {
		unload(s);
		return vm_err_set(err, -EINVAL, "%s: corrupt VDI image: %s "
		    "(vm-disk check lists every problem)", b->path, s->why);
	}
	return 0;
}

static void
vdi_close(struct blk *b)
{
	unload(b->priv);
}

static int
bad_entry(struct blk *b, uint32_t g)
{
	return vx_fail(b, "block map entry %u is corrupt (it names a block "
	    "outside the image or one another entry names)", g);
}

static int
vdi_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vdi *s = b->priv;
	uint64_t in, n;
	uint32_t g, e;
	int ret;

	while (len > 0) {
		g = (uint32_t)(off / VDI_BLOCK);
		in = off % VDI_BLOCK;
		n = VDI_BLOCK - in < len ? VDI_BLOCK - in : len;
		if (g >= s->blocks || s->bad[g])
			return bad_entry(b, g);
		e = s->bmap[g];
		if (s->diff && e == VDI_FREE) {
			if (s->orphan)
				return vx_fail(b, "block %u is the parent's, and "
				    "the parent was not found", g);
			if ((ret = blk_read_backing(b, buf, (size_t)n, off)) < 0)
				return ret;
		} else if (!allocated(e))
			memset(buf, 0, (size_t)n);
		else if ((ret = vx_read(b, buf, (size_t)n, s->data_off +
		    (uint64_t)e * VDI_BLOCK + in)) < 0)
			return ret;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* A host block no entry names: past the highest in use, else the
 * lowest free one. */
static int
free_block(struct vdi *s, uint32_t *idx)
{
	uint32_t i;

	if (s->top < s->blocks) {
		*idx = s->top;
		return 0;
	}
	for (i = 0; i < s->blocks; i++) {
		if (!s->used[i]) {
			*idx = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static int
alloc_block(struct blk *b, uint32_t g, const uint8_t *buf, uint64_t in,
    uint64_t n)
{
	struct vdi *s = b->priv;
	uint64_t host;
	uint8_t le[4];
	uint32_t idx;
	int ret;

	if (free_block(s, &idx) < 0)
		return vx_fail(b, "no free block for guest block %u", g);
	host = s->data_off + (uint64_t)idx * VDI_BLOCK;
	if ((ret = vx_write_zeros(b, in, host)) < 0 ||
	    (ret = vx_write(b, buf, (size_t)n, host + in)) < 0 ||
	    (ret = vx_write_zeros(b, VDI_BLOCK - in - n, host + in + n)) < 0)
		return ret;
	if (host + VDI_BLOCK > s->file_size)
		s->file_size = host + VDI_BLOCK;
	vx_put_le32(s->hdr + H_ALLOCATED, s->allocated + 1);
	if ((ret = vx_write(b, s->hdr + H_ALLOCATED, 4, H_ALLOCATED)) < 0)
		return ret;
	s->allocated++;
	vx_put_le32(le, idx);
	if ((ret = vx_write(b, le, 4, s->bmap_off + (uint64_t)g * 4)) < 0)
		return ret;
	s->bmap[g] = idx;
	s->used[idx] = 1;
	if (idx + 1 > s->top)
		s->top = idx + 1;
	s->counted++;
	return 0;
}

/* A differencing image's new block: the parent's block with the write
 * in it (copy-up: a VDI block has no sector bitmap). */
static int
diff_alloc(struct blk *b, uint32_t g, const uint8_t *buf, uint64_t in,
    uint64_t n)
{
	uint8_t *t = malloc(VDI_BLOCK);
	int ret;

	if (t == NULL)
		return -ENOMEM;
	ret = blk_read_backing(b, t, VDI_BLOCK, (uint64_t)g * VDI_BLOCK);
	if (ret == 0) {
		memcpy(t + in, buf, (size_t)n);
		ret = alloc_block(b, g, t, 0, VDI_BLOCK);
	}
	free(t);
	return ret;
}

static int
vdi_write(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct vdi *s = b->priv;
	uint64_t in, n;
	uint32_t g, e;
	int ret;

	while (len > 0) {
		g = (uint32_t)(off / VDI_BLOCK);
		in = off % VDI_BLOCK;
		n = VDI_BLOCK - in < len ? VDI_BLOCK - in : len;
		if (g >= s->blocks || s->bad[g])
			return bad_entry(b, g);
		e = s->bmap[g];
		if (allocated(e))
			ret = vx_write(b, buf, (size_t)n, s->data_off +
			    (uint64_t)e * VDI_BLOCK + in);
		else if (s->diff && e == VDI_FREE && s->orphan)
			return vx_fail(b, "block %u is the parent's, and the "
			    "parent was not found", g);
		else if (s->diff && e == VDI_FREE)
			ret = diff_alloc(b, g, buf, in, n);
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
vdi_preadv(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return vx_iov(b, iov, iovcnt, off, vdi_read);
}

static int
vdi_pwritev(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return vx_iov(b, iov, iovcnt, off, vdi_write);
}

static int
vdi_flush(struct blk *b)
{
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

/* Runs of blocks alike: allocated and contiguous on the host, or not. */
static int
vdi_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
    uint64_t *host)
{
	struct vdi *s = b->priv;
	uint32_t g = (uint32_t)(off / VDI_BLOCK), e, f, k;
	uint64_t n = VDI_BLOCK - off % VDI_BLOCK;

	if (g >= s->blocks || s->bad[g])
		return bad_entry(b, g);
	e = s->bmap[g];
	for (k = 1; n < len && g + k < s->blocks && !s->bad[g + k]; k++) {
		f = s->bmap[g + k];
		if (allocated(e) != allocated(f) ||
		    (allocated(e) && f != e + k) || (s->diff && e != f &&
		    !allocated(e)))
			break;
		n += VDI_BLOCK;
	}
	*pnum = n < len ? n : len;
	if (!allocated(e)) {
		*host = UINT64_MAX;
		return s->diff && e == VDI_DISCARDED ? BLK_S_ZERO : 0;
	}
	*host = s->data_off + (uint64_t)e * VDI_BLOCK + off % VDI_BLOCK;
	return BLK_S_DATA;
}

static void
vdi_info(struct blk *b, struct blk_info *info)
{
	(void)b;
	info->cluster_size = VDI_BLOCK;
}

/*
 * check -r all: every entry that names a block outside the image or past
 * the end of the file, or a block an entry before it already names,
 * becomes "never written" (so the first guest block of a shared pair
 * keeps it, the others read as zeros); each entry is rewritten on its
 * own.  Then the allocated count, if it disagrees with the map.
 */
static int
repair_map(struct blk *b, uint64_t *fixed)
{
	struct vdi *s = b->priv;
	uint8_t *seen = calloc(s->blocks ? s->blocks : 1, 1), le[4];
	uint32_t g, e;

	if (seen == NULL)
		return -ENOMEM;
	for (g = 0; g < s->blocks; g++) {
		e = s->bmap[g];
		if (!allocated(e))
			continue;
		if (e < s->blocks && s->data_off + (uint64_t)e * VDI_BLOCK <
		    s->file_size && !seen[e]) {
			seen[e] = 1;
			continue;
		}
		vx_put_le32(le, VDI_FREE);
		if (vx_write(b, le, 4, s->bmap_off + (uint64_t)g * 4) < 0) {
			free(seen);
			return -EIO;
		}
		s->bmap[g] = VDI_FREE;
		(*fixed)++;
	}
	free(seen);
	scan(s, NULL);
	return 0;
}

static int
vdi_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint8_t le[4];

	scan(s, res);
	if ((repair & ~BLK_REPAIR_LEAKS) && s->nbad && !s->count_bad &&
	    !(b->flags & BLK_F_RDONLY)) {
		/* scan then flags a count that disagrees with the map */
		if (repair_map(b, &res->corruptions_fixed) < 0) {
			*err = b->ioerr;
			return err->code ? err->code : -EIO;
		}
	}
	if (repair && s->count_bad && !(b->flags & BLK_F_RDONLY)) {
		/* Only the count is wrong: take the map's. */
		vx_put_le32(le, s->counted);
		if (vx_write(b, le, 4, H_ALLOCATED) < 0) {
			*err = b->ioerr;
			return err->code;
		}
		vx_put_le32(s->hdr + H_ALLOCATED, s->counted);
		s->allocated = s->counted;
		res->corruptions_fixed++;
		scan(s, NULL);
	}
	res->total_clusters = s->blocks;
	res->allocated_clusters = s->counted;
	res->image_end = s->file_size;
	return 0;
}

static void
uuid(uint8_t *u)
{
	size_t i;

	if (getrandom(u, 16, 0) != 16)
		for (i = 0; i < 16; i++)
			u[i] = (uint8_t)rand();
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

/* Write the map for blocks [0, n): entry i is map[i] if map, else
 * first + i for a fixed image or VDI_FREE. */
static int
write_map(int fd, uint64_t at, uint32_t n, const uint32_t *map, bool fixed,
    uint32_t first)
{
	uint8_t buf[4096];
	uint32_t i, k, v;
	int ret;

	for (i = 0; i < n; i += k) {
		for (k = 0; k < sizeof(buf) / 4 && i + k < n; k++) {
			v = map ? map[i + k] : fixed ? first + i + k : VDI_FREE;
			vx_put_le32(buf + 4 * k, v);
		}
		if ((ret = io_pwrite_full(fd, buf, 4 * k, at + 4ull * i)) < 0)
			return ret;
	}
	return 0;
}


/* ---- differencing images ---- */

extern const struct blk_driver blk_vdi;

/* The first 512 bytes of path, if it is a VDI image. */
static bool
vdi_header_of(const char *path, uint8_t *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = io_pread_zfill(fd, h, VDI_HDR_SIZE, 0) == 0 &&
	    vx_le32(h + H_SIGNATURE) == VDI_SIGNATURE;
	close(fd);
	return ok;
}

/*
 * The parent of a differencing image: the name a vmkit-made image keeps
 * in its comment, else (VirtualBox's own, whose names live in its media
 * registry) the VDI image in the image's directory or the one above it
 * whose UUID is the image's parent UUID.
 */
static int
find_parent(struct blk *b, struct vm_err *err)
{
	struct vdi *s = b->priv;
	char c[VDI_COMMENT + 1], dir[4096], sub[2][4100], path[8500];
	uint8_t h[VDI_HDR_SIZE];
	struct dirent *de;
	DIR *d;
	int k;

	memcpy(c, s->hdr + H_COMMENT, VDI_COMMENT);
	c[VDI_COMMENT] = '\0';
	if (strncmp(c, PARENT_TAG, strlen(PARENT_TAG)) == 0 &&
	    c[strlen(PARENT_TAG)] != '\0') {
		snprintf(b->backing_name, sizeof(b->backing_name), "%s",
		    c + strlen(PARENT_TAG));
		snprintf(b->backing_fmt, sizeof(b->backing_fmt), "vdi");
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", b->path);
	snprintf(sub[0], sizeof(sub[0]), "%.4000s", strchr(b->path, '/') ?
	    dirname(dir) : ".");
	snprintf(sub[1], sizeof(sub[1]), "%.4000s/..", sub[0]);
	for (k = 0; k < 2; k++) {
		if ((d = opendir(sub[k])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);

			if (n < 5 || strcasecmp(de->d_name + n - 4, ".vdi") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub[k], de->d_name);
			if (!vdi_header_of(path, h) || memcmp(h + H_UUID_IMAGE,
			    s->hdr + H_UUID_LINK, 16) != 0)
				continue;
			snprintf(b->backing_name, sizeof(b->backing_name),
			    "%s%s", k ? "../" : "", de->d_name);
			snprintf(b->backing_fmt, sizeof(b->backing_fmt), "vdi");
			closedir(d);
			return 0;
		}
		closedir(d);
	}
	return vm_err_set(err, -ENOENT, "%s: a differencing VDI image whose "
	    "parent is not named in it and not beside it (no VDI image with "
	    "its parent's UUID); vm-disk rebase -u -b names one", b->path);
}

/* The parent opened must be the image it was made over. */
static int
vdi_backing_opened(struct blk *b, struct vm_err *err)
{
	struct vdi *s = b->priv;
	const struct vdi *ps;

	if (!s->diff)
		return 0;
	if (b->backing->drv != &blk_vdi)
		return vm_err_set(err, -EINVAL, "%s: its parent %s is a %s "
		    "image, not a VDI", b->path, b->backing->path,
		    b->backing->drv->name);
	ps = b->backing->priv;
	if (memcmp(ps->hdr + H_UUID_IMAGE, s->hdr + H_UUID_LINK, 16) != 0)
		return vm_err_set(err, -EINVAL, "%s: its parent %s has another "
		    "UUID than the one it was made over (the parent was "
		    "replaced; vm-disk rebase -u names a new one)", b->path,
		    b->backing->path);
	return 0;
}

/* Header fields naming parent p (name as stored), or none (p NULL). */
static int
put_parent(uint8_t *h, const char *name, const struct vdi *p)
{
	memset(h + H_COMMENT, 0, VDI_COMMENT);
	memset(h + H_UUID_LINK, 0, 32);
	if (p == NULL) {
		vx_put_le32(h + H_TYPE, VDI_DYNAMIC);
		return 0;
	}
	if (strlen(PARENT_TAG) + strlen(name) >= VDI_COMMENT)
		return -ENAMETOOLONG;
	snprintf((char *)h + H_COMMENT, VDI_COMMENT, PARENT_TAG "%s", name);
	memcpy(h + H_UUID_LINK, p->hdr + H_UUID_IMAGE, 16);
	memcpy(h + H_UUID_PARENT, p->hdr + H_UUID_SNAP, 16);
	vx_put_le32(h + H_TYPE, VDI_DIFF);
	return 0;
}

static struct blk *
open_parent(const char *path, const char *name, const char *fmt,
    struct vm_err *err)
{
	char ppath[8192];

	if (fmt && fmt[0] && strcmp(fmt, "vdi") != 0) {
		vm_err_set(err, -EINVAL, "%s: the parent of a differencing VDI "
		    "must be a VDI image, not %s", path, fmt);
		return NULL;
	}
	blk_backing_path(path, name, ppath, sizeof(ppath));
	return blk_open(ppath, "vdi", BLK_F_RDONLY | BLK_F_NOBACKING |
	    BLK_F_NOLOCK, err);
}

/* rebase: the header names another parent, or none (then a dynamic
 * image); one header write. */
static int
vdi_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint8_t h[VDI_HDR_SIZE];
	struct blk *p = NULL;
	int ret;

	if (vx_le32(s->hdr + H_TYPE) == VDI_FIXED)
		return name == NULL ? 0 : vm_err_set(err, -ENOTSUP, "%s: a "
		    "fixed VDI image cannot have a parent", b->path);
	if (name && (p = open_parent(b->path, name, fmt, err)) == NULL)
		return err->code ? err->code : -EINVAL;
	if (p && p->size != b->size) {
		blk_close(p);
		return vm_err_set(err, -EINVAL, "%s: the new parent is %llu "
		    "bytes, this image %llu", b->path,
		    (unsigned long long)p->size, (unsigned long long)b->size);
	}
	memcpy(h, s->hdr, VDI_HDR_SIZE);
	ret = put_parent(h, name, p ? p->priv : NULL);
	blk_close(p);
	if (ret < 0)
		return vm_err_set(err, ret, "%s: the parent's name does not fit "
		    "in the VDI header's comment", b->path);
	if (vx_write(b, h, VDI_HDR_SIZE, 0) < 0 || fdatasync(b->fd) < 0) {
		*err = b->ioerr;
		return -EIO;
	}
	memcpy(s->hdr, h, VDI_HDR_SIZE);
	s->diff = name != NULL;
	s->orphan = false;
	snprintf(b->backing_name, sizeof(b->backing_name), "%s",
	    name ? name : "");
	snprintf(b->backing_fmt, sizeof(b->backing_fmt), "%s",
	    name ? "vdi" : "");
	return 0;
}

/* commit: every entry "never written" (the map, synced), the count 0,
 * the file cut after the map. */
static int
vdi_make_empty(struct blk *b, struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint8_t z[4] = { 0, 0, 0, 0 };
	uint32_t g;
	int ret;

	if (vx_le32(s->hdr + H_TYPE) == VDI_FIXED)
		return vm_err_set(err, -ENOTSUP, "%s: a fixed VDI image cannot "
		    "be emptied", b->path);
	for (g = 0; g < s->blocks; g++)
		s->bmap[g] = VDI_FREE;
	if ((ret = write_map(b->fd, s->bmap_off, s->blocks, s->bmap, false,
	    0)) < 0 || fdatasync(b->fd) < 0 ||
	    vx_write(b, z, 4, H_ALLOCATED) < 0)
		return vm_err_errno(err, ret < 0 ? ret : -EIO, "%s", b->path);
	if (io_ftruncate(b->fd, (off_t)s->data_off) < 0)
		return vm_err_errno(err, -errno, "%s", b->path);
	vx_put_le32(s->hdr + H_ALLOCATED, 0);
	s->allocated = 0;
	s->file_size = s->data_off;
	scan(s, NULL);
	return 0;
}

static int
vdi_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err)
{
	uint64_t size = (o->size + 511) & ~511ull, data_off;
	bool fixed = o->static_img;
	uint8_t h[VDI_HDR_SIZE];
	uint32_t blocks;
	struct blk *p = NULL;
	int ret;

	if (o->backing && (o->static_img || (o->subformat &&
	    strcmp(o->subformat, "fixed") == 0)))
		return vm_err_set(err, -EINVAL, "%s: a fixed VDI image cannot "
		    "have a parent (-b makes a differencing one)", path);
	if (o->cluster_size && o->cluster_size != VDI_BLOCK)
		return vm_err_set(err, -EINVAL, "%s: VDI blocks are 1 MiB "
		    "(no other cluster_size)", path);
	if (o->prealloc && strcmp(o->prealloc, "off") != 0)
		return vm_err_set(err, -EINVAL, "%s: VDI images take "
		    "static=on, not preallocation=%s", path, o->prealloc);
	if (o->force_size)
		return vm_err_set(err, -EINVAL, "%s: force_size is a VHD (vpc) "
		    "option, not a VDI one", path);
	if (o->subformat && strcmp(o->subformat, "fixed") == 0)
		fixed = true;
	else if (o->subformat && strcmp(o->subformat, "dynamic") != 0)
		return vm_err_set(err, -EINVAL, "%s: VDI subformat '%s' is not "
		    "dynamic or fixed", path, o->subformat);
	if ((size + VDI_BLOCK - 1) / VDI_BLOCK > VDI_MAX_BLOCKS)
		return vm_err_set(err, -EFBIG, "%s: too large for a VDI image "
		    "(at most %llu bytes)", path,
		    (unsigned long long)VDI_MAX_BLOCKS * VDI_BLOCK);
	blocks = (uint32_t)((size + VDI_BLOCK - 1) / VDI_BLOCK);
	data_off = VDI_HDR_SIZE + (((uint64_t)blocks * 4 + 511) & ~511ull);
	if (data_off > UINT32_MAX)
		return vm_err_set(err, -EFBIG, "%s: too large for a VDI image",
		    path);
	if (o->backing) {
		if ((p = open_parent(path, o->backing, o->backing_fmt,
		    err)) == NULL)
			return err->code ? err->code : -EINVAL;
		if (o->size && ((o->size + 511) & ~511ull) != p->size) {
			blk_close(p);
			return vm_err_set(err, -EINVAL, "%s: a differencing VDI "
			    "has its parent's size (%llu bytes)", path,
			    (unsigned long long)p->size);
		}
		size = p->size;
		blocks = (uint32_t)((size + VDI_BLOCK - 1) / VDI_BLOCK);
		data_off = VDI_HDR_SIZE + (((uint64_t)blocks * 4 + 511) &
		    ~511ull);
	}
	memset(h, 0, sizeof(h));
	snprintf((char *)h, 0x40, "<<< vmkit VM Virtual Disk Image >>>\n");
	vx_put_le32(h + H_SIGNATURE, VDI_SIGNATURE);
	vx_put_le32(h + H_VERSION, VDI_VERSION);
	vx_put_le32(h + H_HEADER_SIZE, 0x180);
	vx_put_le32(h + H_TYPE, fixed ? VDI_FIXED : VDI_DYNAMIC);
	vx_put_le32(h + H_OFF_BMAP, VDI_HDR_SIZE);
	vx_put_le32(h + H_OFF_DATA, (uint32_t)data_off);
	vx_put_le32(h + H_SECTOR_SIZE, 512);
	vx_put_le64(h + H_DISK_SIZE, size);
	vx_put_le32(h + H_BLOCK_SIZE, VDI_BLOCK);
	vx_put_le32(h + H_BLOCKS, blocks);
	vx_put_le32(h + H_ALLOCATED, fixed ? blocks : 0);
	uuid(h + H_UUID_IMAGE);
	uuid(h + H_UUID_SNAP);
	if (p) {
		ret = put_parent(h, o->backing, p->priv);
		blk_close(p);
		if (ret < 0)
			return vm_err_set(err, ret, "%s: the parent's name does "
			    "not fit in the VDI header's comment", path);
	}
	if ((ret = io_pwrite_full(fd, h, sizeof(h), 0)) < 0 ||
	    (ret = write_map(fd, VDI_HDR_SIZE, blocks, NULL, fixed, 0)) < 0)
		return vm_err_errno(err, ret, "%s", path);
	if (io_ftruncate(fd, (off_t)(data_off + (fixed ? (uint64_t)blocks *
	    VDI_BLOCK : 0))) < 0)
		return vm_err_errno(err, -errno, "%s", path);
	return 0;
}

/*
 * Grow: new map entries, and where the map no longer fits before the
 * data, the first data blocks are copied to the end and the data area
 * starts that many blocks later (every other block keeps its place on
 * the host and its entry drops by the same count).  The copies are made
 * first, beyond the image's end, so a failure there leaves the image as
 * it was; then the map and the header are written.
 */
static int
grow(struct blk *b, uint32_t nb, uint64_t size, struct vm_err *err)
{
	struct vdi *s = b->priv;
	bool fixed = vx_le32(s->hdr + H_TYPE) == VDI_FIXED;
	uint64_t need = s->bmap_off + (uint64_t)nb * 4, new_data, end;
	uint32_t *map, k = 0, base, m = 0, top, g, count = 0;
	uint8_t *blk = NULL;
	int ret = 0;

	if (need > s->data_off)
		k = (uint32_t)((need - s->data_off + VDI_BLOCK - 1) /
		    VDI_BLOCK);
	new_data = s->data_off + (uint64_t)k * VDI_BLOCK;
	if (new_data > UINT32_MAX)
		return vm_err_set(err, -EFBIG, "%s: too large for a VDI image",
		    b->path);
	map = malloc((size_t)nb * 4);
	if (map == NULL || (k && (blk = malloc(VDI_BLOCK)) == NULL)) {
		free(map);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(map, s->bmap, (size_t)s->blocks * 4);
	base = s->top > k ? s->top : k;
	for (g = 0; g < s->blocks && ret == 0; g++) {
		if (!allocated(map[g]) || map[g] >= k)
			continue;
		ret = vx_read(b, blk, VDI_BLOCK, s->data_off +
		    (uint64_t)map[g] * VDI_BLOCK);
		if (ret == 0)
			ret = vx_write(b, blk, VDI_BLOCK, s->data_off +
			    (uint64_t)(base + m) * VDI_BLOCK);
		map[g] = base + m++;
	}
	free(blk);
	if (ret < 0) {
		if (io_ftruncate(b->fd, (off_t)s->file_size) < 0)
			ret = -errno;
		free(map);
		*err = b->ioerr;
		return ret;
	}
	top = (m ? base + m : s->top);
	top = top > k ? top - k : 0;
	for (g = 0; g < s->blocks; g++)
		if (allocated(map[g]))
			map[g] -= k;
	for (g = s->blocks; g < nb; g++)
		map[g] = fixed ? top++ : VDI_FREE;
	for (g = 0; g < nb; g++)
		count += allocated(map[g]);
	end = new_data + (uint64_t)top * VDI_BLOCK;
	if (fixed && end > s->file_size && io_ftruncate(b->fd, (off_t)end) < 0)
		ret = vm_err_errno(err, -errno, "%s", b->path);
	if (ret == 0 && (ret = write_map(b->fd, s->bmap_off, nb, map, false,
	    0)) < 0)
		vm_err_errno(err, ret, "%s: writing the block map", b->path);
	free(map);
	if (ret < 0)
		return ret;
	vx_put_le32(s->hdr + H_OFF_DATA, (uint32_t)new_data);
	vx_put_le32(s->hdr + H_BLOCKS, nb);
	vx_put_le32(s->hdr + H_ALLOCATED, count);
	vx_put_le64(s->hdr + H_DISK_SIZE, size);
	if ((ret = vx_write(b, s->hdr, VDI_HDR_SIZE, 0)) < 0) {
		*err = b->ioerr;
		return ret;
	}
	return 0;
}

/*
 * Shrink to nb blocks: the entries past them let go (the tail of a last
 * partial block zeroed, so that growing again reads zeros), the blocks
 * still used that lie at host index nb or above copied down into free
 * ones (copy, then entry), then the header, then the file cut after the
 * last block in use.  Killed midway, the image reads as the old one cut
 * at the new size, or the new one.
 */
static int
shrink(struct blk *b, uint32_t nb, uint64_t size, struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint8_t le[4], *blk = NULL, *used;
	uint32_t g, e, free_idx = 0, count = 0, top = 0;
	uint64_t in = size % VDI_BLOCK;
	int ret = 0;

	/* size < b->size <= blocks * VDI_BLOCK: its block is in the map */
	if (in && allocated(s->bmap[size / VDI_BLOCK]))
		ret = vx_write_zeros(b, VDI_BLOCK - in, s->data_off +
		    (uint64_t)s->bmap[size / VDI_BLOCK] * VDI_BLOCK + in);
	vx_put_le32(le, VDI_FREE);
	for (g = nb; ret == 0 && g < s->blocks; g++) {
		if (s->bmap[g] == VDI_FREE)
			continue;
		ret = vx_write(b, le, 4, s->bmap_off + 4ull * g);
		s->bmap[g] = VDI_FREE;
	}
	used = calloc(nb ? nb : 1, 1);
	if (used == NULL || (blk = malloc(VDI_BLOCK)) == NULL) {
		free(used);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	for (g = 0; g < nb; g++)
		if (allocated(s->bmap[g]) && s->bmap[g] < nb)
			used[s->bmap[g]] = 1;
	for (g = 0; ret == 0 && g < nb; g++) {
		e = s->bmap[g];
		if (!allocated(e) || e < nb)
			continue;
		while (free_idx < nb && used[free_idx])
			free_idx++;
		if (free_idx == nb) {   /* cannot be: nb slots, < nb users */
			ret = -ENOSPC;
			break;
		}
		if ((ret = vx_read(b, blk, VDI_BLOCK, s->data_off +
		    (uint64_t)e * VDI_BLOCK)) < 0 ||
		    (ret = vx_write(b, blk, VDI_BLOCK, s->data_off +
		    (uint64_t)free_idx * VDI_BLOCK)) < 0 ||
		    fdatasync(b->fd) < 0)
			break;
		vx_put_le32(le, free_idx);
		if ((ret = vx_write(b, le, 4, s->bmap_off + 4ull * g)) < 0)
			break;
		s->bmap[g] = free_idx;
		used[free_idx] = 1;
	}
	free(blk);
	for (g = 0; g < nb; g++) {
		if (!allocated(s->bmap[g]))
			continue;
		count++;
		if (s->bmap[g] + 1 > top)
			top = s->bmap[g] + 1;
	}
	free(used);
	if (ret == 0) {
		vx_put_le32(s->hdr + H_BLOCKS, nb);
		vx_put_le32(s->hdr + H_ALLOCATED, count);
		vx_put_le64(s->hdr + H_DISK_SIZE, size);
		ret = vx_write(b, s->hdr, VDI_HDR_SIZE, 0);
	}
	if (ret == 0 && fdatasync(b->fd) < 0)
		ret = -errno;
	if (ret == 0 && io_ftruncate(b->fd, (off_t)(s->data_off +
	    (uint64_t)top * VDI_BLOCK)) < 0)
		ret = -errno;
	if (ret < 0)
		return vm_err_set(err, ret, "%s", b->ioerr.msg[0] ?
		    b->ioerr.msg : strerror(-ret));
	return 0;
}

static int
vdi_resize(struct blk *b, uint64_t size, struct vm_err *err)
{
	struct vdi *s = b->priv;
	uint64_t nb;
	int ret;

	if (s->diff)
		return vm_err_set(err, -ENOTSUP, "%s: resizing a differencing "
		    "VDI image is not supported (it has its parent's size)",
		    b->path);
	size = (size + 511) & ~511ull;
	nb = (size + VDI_BLOCK - 1) / VDI_BLOCK;
	if (s->nbad == 0 && size < b->size) {
		if ((ret = shrink(b, (uint32_t)nb, size, err)) < 0)
			return ret;
		return load(b, err);
	}
	if (nb < s->blocks)     /* a map longer than the disk needs */
		nb = s->blocks;
	if (nb > VDI_MAX_BLOCKS)
		return vm_err_set(err, -EFBIG, "%s: too large for a VDI image",
		    b->path);
	if (s->nbad)
		return vm_err_set(err, -EINVAL, "%s: corrupt VDI image: %s",
		    b->path, s->why);
	if ((ret = grow(b, (uint32_t)nb, size, err)) < 0)
		return ret;
	if ((ret = load(b, err)) < 0)
		return ret;
	return 0;
}

const struct blk_driver blk_vdi = {
	.name = "vdi",
	.priv_size = sizeof(struct vdi),
	.probe = vdi_probe,
	.open = vdi_open,
	.close = vdi_close,
	.create = vdi_create,
	.preadv = vdi_preadv,
	.pwritev = vdi_pwritev,
	.flush = vdi_flush,
	.block_status = vdi_block_status,
	.info = vdi_info,
	.check = vdi_check,
	.resize = vdi_resize,
	.set_backing = vdi_set_backing,
	.make_empty = vdi_make_empty,
	.backing_opened = vdi_backing_opened,
};
