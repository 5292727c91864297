/*
 * qcow2 internals shared by qcow2*.c only (docs/interop/qcow2.txt in
 * QEMU's tree is the format's spec; field offsets below are from it).
 *
 *   guest offset -> L1 index | L2 index | offset in cluster
 *   L1 entry: bits 9-55 L2 table offset, bit 63 "copied" (refcount 1)
 *   L2 entry: bits 9-55 data offset, bit 0 reads-as-zero (v3),
 *             bit 62 compressed (then a descriptor), bit 63 copied
 *
 * Tables are kept in memory in host byte order (L1, refcount table) or
 * in small direct-mapped caches of on-disk bytes (L2 tables, refcount
 * blocks).  Guest data is written at once; the L2 tables, refcount
 * blocks and L1 entries it changes are written back later, by
 * qc_meta_flush (on a flush, before a refcount drops, when a changed
 * table leaves its cache slot, and at close), in the order that keeps
 * the image consistent if the process dies between two writes: every
 * changed refcount block, a sync, every changed L2 table, a sync, the
 * changed L1 entries.  A drop of a refcount waits (q->pend) until the
 * tables that no longer hold the references it counted are written and
 * synced; qc_meta_flush then makes the drops and writes their refcount
 * blocks.  A crash can leak clusters (refcount > references), never the
 * reverse, and loses at most the allocations since the last flush.
 */
#ifndef VM_BLOCK_QCOW2_INT_H
#define VM_BLOCK_QCOW2_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk;
struct blk_check;
struct blk_create_opts;
struct vm_err;

#define QC_MAGIC          0x514649fbu
#define QC_OFLAG_COPIED   (1ull << 63)
#define QC_OFLAG_COMPRESSED (1ull << 62)
#define QC_OFLAG_ZERO     1ull
#define QC_OFFSET_MASK    0x00fffffffffffe00ull
#define QC_MAX_L1_BYTES   (32u << 20)
#define QC_MAX_RT_BYTES   (8u << 20)

#define QC_INCOMPAT_DIRTY       (1ull << 0)
#define QC_INCOMPAT_CORRUPT     (1ull << 1)
#define QC_INCOMPAT_DATA_FILE   (1ull << 2)
#define QC_INCOMPAT_COMPRESSION (1ull << 3)
#define QC_INCOMPAT_EXTL2       (1ull << 4)
#define QC_COMPAT_LAZY          (1ull << 0)

/* Header field offsets. */
#define QH_SIZE        24
#define QH_L1_SIZE     36
#define QH_RT_OFFSET   48
#define QH_INCOMPAT    72

enum qc_kind { QC_UNALLOC, QC_ZERO, QC_DATA, QC_COMPRESSED };

struct qc_cache {
	unsigned n;             /* entries, a power of two */
	uint64_t *key;          /* host offset of the table; 0: empty */
	uint8_t *mem;           /* n clusters of on-disk bytes */
	bool *dirty;            /* the slot differs from the file */
	unsigned ndirty;        /* slots dirty */
	bool is_l2;             /* L2 tables (else refcount blocks) */
};

/* Where a snapshot table entry and its L1 table are. */
struct qc_snap {
	uint64_t pos, len;      /* the entry, in the file (len padded) */
	uint64_t l1_off;
	uint32_t l1_size;
	uint64_t disk_size;     /* UINT64_MAX: not recorded */
	uint16_t idn, namen;
	uint32_t extra;
};

struct qcow2 {
	uint32_t version;
	unsigned cluster_bits;
	uint64_t cs;
	unsigned l2_bits;
	bool extl2;             /* extended L2: 16-byte entries, the second
				 * half a bitmap of 32 subclusters (low
				 * half allocated, high half zero) */
	uint64_t header_len;
	uint64_t incompat, compat, autoclear;
	int ctype;              /* 0 zlib, 1 zstd */
	unsigned refcount_order;
	uint64_t rb_entries;    /* refcounts per refcount block */

	uint64_t l1_off;
	uint32_t l1_size;
	uint64_t *l1;
	uint64_t l1_dirty_lo;   /* L1 entries [lo, hi) changed in memory */
	uint64_t l1_dirty_hi;   /* only (lo >= hi: none) */
	bool unsynced;          /* written since the last fdatasync */
	bool tables_unsynced;   /* L2 tables or L1 entries among them */
	uint64_t *pend;         /* refcount drops waiting for the tables
				 * that dropped the references: pairs of
				 * (host offset, clusters) */
	size_t npend, pend_cap; /* pairs held, room for */
	bool flushing;          /* qc_meta_flush is running */
	/* The loss window (qc_window): bytes written and the time of the
	 * first change since the tables were last written back, and the
	 * bounds past which they are written back and synced. */
	uint64_t win_bytes, win_start_ns;
	uint64_t win_max_bytes, win_max_ns;
	uint64_t rt_off;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt;
	bool rt_pending;        /* rt is a new table not yet on disk */
	uint64_t *rb_sorted;    /* the refcount blocks' offsets, sorted */
	uint64_t rb_sorted_n;
	bool rb_sorted_ok;      /* false: rt changed since they were */

	uint32_t nb_snapshots;
	uint64_t snapshots_off;
	struct blk_snapshot *snaps;     /* nb_snapshots of them */
	struct qc_snap *qsnaps;         /* and where each one's parts are */
	uint64_t snapshots_len;         /* bytes of the table */

	uint64_t file_size;     /* host file size as we know it */
	uint64_t next_free;     /* the end of the clusters in use or
				 * reserved: appending starts here */
	uint64_t free_hint;     /* first cluster a search for free
				 * clusters looks at (all below are in
				 * use or reserved) */
	uint64_t freed_lo;      /* lowest cluster freed since the last
				 * qc_alloc_rewind (UINT64_MAX: none) */
	bool no_reuse;          /* refcounts not to be trusted (a dirty
				 * image, a repair): append only */
	uint64_t comp_off;      /* packing cursor for compressed clusters */
	bool open_ok;           /* the open succeeded (close may trim) */

	struct qc_cache l2c, rbc;
	uint8_t *cbuf;          /* compressed bytes, 2 clusters + a sector */
	uint8_t *dbuf;          /* one decompressed cluster ... */
	uint64_t dbuf_key;      /* ... of this descriptor (0: none) */
};

/* qcow2.c */
int qc_reopen(struct blk *b, struct vm_err *err);
int qc_read_file(struct blk *b, void *buf, size_t len, uint64_t off);
int qc_write_file(struct blk *b, const void *buf, size_t len, uint64_t off);
uint8_t *qc_cache_get(struct blk *b, struct qc_cache *c, uint64_t off,
    bool fresh);
void qc_cache_dirty(struct blk *b, struct qc_cache *c, uint64_t off);
void qc_cache_drop(struct blk *b, struct qc_cache *c, uint64_t off);
void qc_l1_dirty(struct qcow2 *q, uint64_t l1i);
int qc_sync(struct blk *b);
int qc_meta_flush(struct blk *b);
int qc_window(struct blk *b, uint64_t n);
void qc_window_init(struct qcow2 *q);
int qc_l2_entry(struct blk *b, uint64_t off, uint64_t *entry,
    uint64_t *l2off);
int qc_l2_entry_ext(struct blk *b, uint64_t off, uint64_t *entry,
    uint64_t *bitmap, uint64_t *l2off);
int qc_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off);
void qc_comp_span(const struct qcow2 *q, uint64_t e, uint64_t *host,
    uint64_t *len);
#define qc_fail blk_fail        /* block.h */

/* qcow2-alloc.c */
uint64_t qc_reserve(struct blk *b, uint64_t n);
void qc_alloc_rewind(struct qcow2 *q);
int qc_discard(struct blk *b, uint64_t off, uint64_t len);
int qc_refcount_get(struct blk *b, uint64_t cluster, uint64_t *val);
int qc_trim_tail(struct blk *b);
bool qc_is_metadata(struct blk *b, uint64_t cluster);
int qc_refblock_ensure(struct blk *b, uint64_t cluster);
int qc_refcount_set(struct blk *b, uint64_t cluster, uint64_t val);
int qc_refcount_update(struct blk *b, uint64_t host, uint64_t n, int delta);
int qc_apply_drops(struct blk *b);
int qc_write(struct blk *b, const uint8_t *buf, uint64_t len, uint64_t off);
int qc_release(struct blk *b, uint64_t e);
size_t qc_compress(struct blk *b, const void *in, void *out, size_t cap);
int qc_write_compressed(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off);
int qc_resize(struct blk *b, uint64_t size, struct vm_err *err);
int qc_preallocate(struct blk *b, const char *mode, struct vm_err *err);

/* qcow2-snap.c */
int qc_read_snapshots(struct blk *b, struct vm_err *err);
int qc_snapshots(struct blk *b, const struct blk_snapshot **list);
int qc_snap_create(struct blk *b, const char *name, struct vm_err *err);
int qc_snap_apply(struct blk *b, const char *name, struct vm_err *err);
int qc_snap_delete(struct blk *b, const char *name, struct vm_err *err);
int qc_snap_view(struct blk *b, const char *name, struct vm_err *err);
int qc_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err);
int qc_make_empty(struct blk *b, struct vm_err *err);

/* qcow2-check.c */
int qc_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err);

/* qcow2-create.c */
int qc_create(int fd, const char *path, const struct blk_create_opts *o,
    struct vm_err *err);

static inline uint64_t
qc_be64(const uint8_t *p)
{
	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 |
	    (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
	    (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	    (uint64_t)p[6] << 8 | p[7];
}

static inline uint32_t
qc_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline void
qc_put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void
qc_put32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * Refcount entry i of a refcount block in on-disk bytes, for a width of
 * 1 << order bits (1 to 64): entries of 8 bits and more are big-endian,
 * narrower ones are packed into bytes from the least significant bit.
 */
static inline uint64_t
qc_rc_read(unsigned order, const uint8_t *blk, uint64_t i)
{
	unsigned bits = 1u << order, k;
	uint64_t bit = i * bits, v = 0;

	if (bits >= 8) {
		for (k = 0; k < bits / 8; k++)
			v = v << 8 | blk[bit / 8 + k];
		return v;
	}
	return (blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

static inline void
qc_rc_write(unsigned order, uint8_t *blk, uint64_t i, uint64_t v)
{
	unsigned bits = 1u << order, k;
	uint64_t bit = i * bits;
	uint8_t m;

	if (bits >= 8) {
		for (k = bits / 8; k-- > 0; v >>= 8)
			blk[bit / 8 + k] = (uint8_t)v;
		return;
	}
	m = (uint8_t)(((1u << bits) - 1) << (bit % 8));
	blk[bit / 8] = (uint8_t)((blk[bit / 8] & ~m) |
	    ((v << (bit % 8)) & m));
}

/* The largest refcount a width holds. */
static inline uint64_t
qc_rc_max(unsigned order)
{
	return order >= 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
}

/* The bytes holding entry i: its first byte's offset in the block and
 * how many (narrow entries share a byte). */
static inline uint64_t
qc_rc_byte(unsigned order, uint64_t i)
{
	return (i << order) / 8;
}

static inline size_t
qc_rc_len(unsigned order)
{
	return order >= 3 ? (size_t)1 << (order - 3) : 1;
}

#endif
