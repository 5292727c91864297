/*
 * VMDK internals shared by vmdk*.c only (VMware's "Virtual Disk Format
 * 1.1" is the spec; QEMU's block/vmdk.c is the peer we must agree with).
 *
 *   a descriptor (text, a file of its own or embedded in a sparse
 *   extent) lists extents: FLAT (raw bytes at an offset in a file),
 *   ZERO (no file), SPARSE (a file with a "KDMV" header);
 *   a sparse extent maps guest grain -> grain directory (GD) entry ->
 *   grain table (GT) entry -> sector of the grain in the extent file
 *   (0: unallocated, the parent answers; 1: reads as zeros);
 *   streamOptimized extents hold deflate-compressed grains, each behind a
 *   12-byte marker (LBA, length), and may keep the GD at the end of the
 *   file behind a footer (the header then says GD_AT_END).
 *
 * All on-disk integers are little-endian.  Offsets in the header, GD and
 * GT are in 512-byte sectors.
 */
#ifndef VM_BLOCK_VMDK_INT_H
#define VM_BLOCK_VMDK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block.h"

#define VD_MAGIC        0x564d444bu     /* "KDMV" */
#define VD_COWD_MAGIC   0x44574f43u     /* "COWD": VMFS sparse, unsupported */
#define VD_GD_AT_END    UINT64_MAX
#define VD_FLAG_NL      0x1u
#define VD_FLAG_RGD     0x2u
#define VD_FLAG_ZERO_GTE 0x4u
#define VD_FLAG_COMP    0x10000u
#define VD_FLAG_MARKERS 0x20000u
#define VD_MARKER_EOS   0
#define VD_MARKER_GT    1
#define VD_MARKER_GD    2
#define VD_MARKER_FOOTER 3
#define VD_MAX_GRAIN    2048u           /* sectors (1 MiB) */
#define VD_MAX_GTES     65536u
#define VD_MAX_GD_BYTES (64u << 20)
#define VD_MAX_DESC     (1u << 20)
#define VD_MAX_EXTENTS  1024
#define VD_DESC_SECTORS 20              /* embedded descriptor room */
#define VD_SPLIT_BYTES  (2ull << 30)    /* twoGbMaxExtent* extent size */

/* Header field offsets. */
#define VH_VERSION      4
#define VH_FLAGS        8
#define VH_CAPACITY     12
#define VH_GRAIN        20
#define VH_DESC_OFF     28
#define VH_DESC_SIZE    36
#define VH_NGTE         44
#define VH_RGD_OFF      48
#define VH_GD_OFF       56
#define VH_OVERHEAD     64
#define VH_UNCLEAN      72
#define VH_COMP_ALGO    77

enum vx_type { VX_FLAT, VX_ZERO, VX_SPARSE };
enum vx_kind { VK_UNALLOC, VK_ZERO, VK_DATA, VK_COMP };

struct vx {
	enum vx_type type;
	char tname[12];         /* the descriptor's word for the type */
	int fd;                 /* -1: none (ZERO) */
	bool own_fd;            /* false: the image's own fd */
	bool rdonly;
	char path[4096];        /* as opened */
	uint64_t start, len;    /* guest bytes */
	uint64_t flat_off;      /* FLAT: byte offset in the file */
	uint64_t file_size;
	/* SPARSE */
	uint8_t hdr[512];
	uint32_t version, flags;
	uint64_t capacity;      /* sectors, from the header */
	uint64_t grain;         /* bytes */
	unsigned grain_bits;
	uint32_t ngte, ngt;
	uint64_t gd_off, rgd_off, overhead;     /* sectors */
	uint32_t *gd, *rgd;     /* sectors (rgd NULL: none) */
	bool compressed, markers;
	uint32_t *gt;           /* the last GT read ... */
	uint32_t gt_idx;        /* ... its GD index (UINT32_MAX: none) */
	uint64_t next;          /* where a new grain goes (bytes) */
	/* streamOptimized writing: every GT in memory, grains appended */
	uint32_t *sgt;
	bool stream, dirty;
	uint64_t last_grain;    /* next grain index allowed (in order) */
	bool seq;               /* fd is a stream (a pipe): written once, in
				 * order, from seq_pos */
	uint64_t seq_pos;
};

struct vmdk {
	struct vx *ext;
	int n;
	uint32_t cid, parent_cid;
	char create_type[32];
	struct blk_extent *info;
	uint64_t max_grain;
	uint8_t *gbuf;          /* one grain, for partial writes */
	uint8_t *cbuf;          /* a compressed grain with its marker */
	size_t cbuf_len;
	uint8_t *dbuf;          /* one decompressed grain ... */
	const struct vx *dext;  /* ... of this extent ... */
	uint64_t dkey;          /* ... at this host offset (0: none) */
};

/* vmdk.c */
#define vd_fail blk_fail        /* block.h */
int vd_read_file(struct blk *b, struct vx *x, void *buf, size_t len,
    uint64_t off);
int vd_write_file(struct blk *b, struct vx *x, const void *buf, size_t len,
    uint64_t off);
bool vd_gt_ok(const struct vx *x, uint64_t sector);
int vd_finish_open(struct blk *b, unsigned flags, struct vm_err *err);
int vd_lookup(struct blk *b, struct vx *x, uint64_t off, enum vx_kind *kind,
    uint64_t *host, uint32_t **gtp);

/* vmdk-write.c */
int vd_stream_open(struct blk *b, struct vx *x, struct vm_err *err);
int vd_stream_new(struct blk *b, const struct blk_create_opts *o,
    struct vm_err *err);
int vd_pwritev(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
size_t vd_compress(struct blk *b, const void *in, void *out, size_t cap);
int vd_write_compressed(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off);
int vd_flush(struct blk *b);
int vd_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err);

/* vmdk-check.c */
int vd_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err);

static inline uint32_t
vd_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
vd_le64(const uint8_t *p)
{
	return (uint64_t)vd_le32(p) | (uint64_t)vd_le32(p + 4) << 32;
}

static inline void
vd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
vd_put64(uint8_t *p, uint64_t v)
{
	vd_put32(p, (uint32_t)v);
	vd_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
