/*
 * The block layer: one interface over every image format.  I/O is in byte
 * offsets with no short reads or writes (0 or -errno).  Drivers are listed
 * in block.c's table; the format is probed from content unless given.
 * Drivers stack: an image with a backing file has b->backing open on it,
 * and the driver reads through it where the image has nothing.
 * Threads: one blk is used by one thread at a time.
 */
#ifndef VM_BLOCK_BLOCK_H
#define VM_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/err.h"

struct blk;

#define BLK_F_RDONLY    0x1u
#define BLK_F_NOBACKING 0x2u    /* do not open the backing chain */
#define BLK_F_NOLOCK    0x4u    /* -U: inspect an image another holds */
#define BLK_F_REPAIR    0x8u    /* open a dirty image read-write to repair */
#define BLK_F_BACKING_NOLOCK 0x10u /* lock this image, not its backing chain
                                    * (commit opens its base again, to write) */
#define BLK_F_DIRECT    0x20u   /* written once, not read back (convert's
                                 * output): writes aligned to 4 KiB bypass
                                 * the page cache (blk_write_fd) */

/* block_status flags for one extent of one layer. */
#define BLK_S_DATA      0x1u    /* this layer holds data for it */
#define BLK_S_ZERO      0x2u    /* it reads as zeros */
#define BLK_S_COMPRESSED 0x4u   /* the data is stored compressed */
/* Neither DATA nor ZERO: unallocated here, read from the backing file. */

#define BLK_BACKING_MAX 256     /* deepest chain opened */

struct blk_create_opts {
	uint64_t size;
	const char *backing;        /* name stored in the image, or NULL */
	const char *backing_fmt;
	uint32_t cluster_size;      /* 0: the format's default */
	int compat;                 /* qcow2: 2 or 3 (0: 3) */
	const char *compression;    /* "zlib", "zstd" or NULL */
	const char *prealloc;       /* "off", "metadata", "falloc", "full" */
	const char *subformat;      /* -o subformat=: vpc dynamic|fixed; vmdk
	                               monolithicSparse (NULL), ... */
	bool static_img;            /* vdi: -o static=on (every block now) */
	bool force_size;            /* vpc: the size as given, not CHS */
	int refcount_bits;          /* qcow2: 1, 2, 4 ... 64 (0: 16) */
	bool extended_l2;           /* qcow2: subclusters */
};

/* One extent of a multi-extent image (vmdk), as info lists it. */
struct blk_extent {
	char filename[4096];
	char format[16];            /* "SPARSE", "FLAT", "ZERO", "" (itself) */
	uint64_t size;              /* bytes of the virtual disk */
	uint32_t cluster_size;      /* grain size; 0 for flat and zero */
	bool compressed;
};

/* What info reports beyond size and format; drivers fill their part. */
struct blk_info {
	uint32_t cluster_size;      /* 0: not a clustered format */
	char backing[1024];
	char backing_fmt[32];
	bool dirty;
	bool corrupt;
	int compat;                 /* qcow2 version */
	char compression[8];
	int refcount_bits;
	bool extended_l2;
	bool lazy_refcounts;
	/* vmdk: the descriptor's fields and the extents (nextents of
	 * them, owned by the driver, valid until close). */
	char create_type[32];
	uint32_t cid, parent_cid;
	int nextents;
	const struct blk_extent *extents;
};

struct blk_check {
	uint64_t corruptions, leaks;
	uint64_t corruptions_fixed, leaks_fixed;
	uint64_t total_clusters, allocated_clusters;
	uint64_t fragmented_clusters, compressed_clusters;
	uint64_t image_end;
	bool supported;             /* false: the format has no check */
	/* Called with one line per problem found, if set (kept by
	 * blk_check, which clears the rest). */
	void (*note)(void *ctx, const char *msg);
	void *note_ctx;
};

/* An internal snapshot (qcow2), as info lists it. */
struct blk_snapshot {
	char id[64];
	char name[256];             /* cut at 255 bytes for display */
	uint64_t vm_state_size;
	uint64_t vm_clock_nsec;
	uint64_t icount;            /* UINT64_MAX: not recorded */
	uint32_t date_sec, date_nsec;
};

#define BLK_REPAIR_LEAKS 0x1
#define BLK_REPAIR_ALL   0x3

struct blk_driver {
	const char *name;
	size_t priv_size;
	/* 0..100: how sure the driver is that hdr is its format. */
	int (*probe)(const uint8_t *hdr, size_t len);
	int (*open)(struct blk *b, int fd, unsigned flags, struct vm_err *err);
	void (*close)(struct blk *b);
	/* Make a new image on fd (empty, owned by the caller). */
	int (*create)(int fd, const char *path,
	    const struct blk_create_opts *o, struct vm_err *err);
	int (*preadv)(struct blk *b, const struct iovec *iov, int iovcnt,
	    uint64_t off);
	int (*pwritev)(struct blk *b, const struct iovec *iov, int iovcnt,
	    uint64_t off);
	/* Compress one cluster (thread-safe: no state touched); the size,
	 * or 0 when it does not shrink enough to be worth storing so. */
	size_t (*compress)(struct blk *b, const void *in, void *out,
	    size_t cap);
	/* Store one cluster at a cluster-aligned off: data (n bytes from
	 * compress), or plain uncompressed when n is 0. */
	int (*write_compressed)(struct blk *b, const void *data, size_t n,
	    const void *plain, uint64_t off);
	int (*flush)(struct blk *b);
	/* The loss window's time bound while no write comes (optional):
	 * write back what is due; when it is next due (CLOCK_MONOTONIC
	 * ns), 0 if nothing waits. */
	uint64_t (*writeback_idle)(struct blk *b);
	int (*discard)(struct blk *b, uint64_t off, uint64_t len);
	/* Status of [off, off+len) in this layer only: *pnum bytes from
	 * off share the returned BLK_S_* flags (and, for data, a host
	 * offset in *host, or UINT64_MAX if there is none). */
	int (*block_status)(struct blk *b, uint64_t off, uint64_t len,
	    uint64_t *pnum, uint64_t *host);
	void (*info)(struct blk *b, struct blk_info *info);
	int (*check)(struct blk *b, int repair, struct blk_check *res,
	    struct vm_err *err);
	int (*resize)(struct blk *b, uint64_t size, struct vm_err *err);
	/* The internal snapshots: their count, the list in *list (owned
	 * by the driver, valid until close). */
	int (*snapshots)(struct blk *b, const struct blk_snapshot **list);
	/* Internal snapshots by id or name: make one of the current
	 * state, return to one, delete one.  All or nothing. */
	int (*snapshot_create)(struct blk *b, const char *name,
	    struct vm_err *err);
	int (*snapshot_apply)(struct blk *b, const char *name,
	    struct vm_err *err);
	int (*snapshot_delete)(struct blk *b, const char *name,
	    struct vm_err *err);
	/* A read-only handle reads the snapshot's contents from now on
	 * (its size too); the file is not touched. */
	int (*snapshot_view)(struct blk *b, const char *name,
	    struct vm_err *err);
	/* Name another backing file (NULL: none) in the header only. */
	int (*set_backing)(struct blk *b, const char *name, const char *fmt,
	    struct vm_err *err);
	/* Drop everything this layer holds: it reads as its backing. */
	int (*make_empty)(struct blk *b, struct vm_err *err);
	/* A new image of o->size on b->fd, which need not seek (a pipe):
	 * written once, in order, through write_compressed and a last
	 * flush.  Formats that can be streamed have it. */
	int (*stream_new)(struct blk *b, const struct blk_create_opts *o,
	    struct vm_err *err);
	/* 0..100, like probe, from the file's last bytes (tail, len of
	 * them, at most 512) for formats whose signature is at the end. */
	int (*probe_tail)(const uint8_t *tail, size_t len);
	/* b->backing is open: refuse it if it is not the parent b was
	 * made over (a differencing VHD records its parent's UUID). */
	int (*backing_opened)(struct blk *b, struct vm_err *err);
};

struct blk {
	const struct blk_driver *drv;
	char path[4096];
	int fd;
	int dfd;                /* BLK_F_DIRECT: fd again, with O_DIRECT */
	unsigned flags;
	uint64_t size;          /* virtual size in bytes */
	void *priv;
	struct blk *backing;
	/* Set by the driver when open finds a backing file. */
	char backing_name[1024];
	char backing_fmt[32];
	/* Why the last failed I/O failed, naming the file. */
	struct vm_err ioerr;
};

/* Open path and its backing chain; format NULL probes.  NULL with err set
 * on failure. */
struct blk *blk_open(const char *path, const char *format, unsigned flags,
    struct vm_err *err);
void blk_close(struct blk *b);
/* b's backing chain, opened BLK_F_BACKING_NOLOCK, locked now as it would
 * have been (shared: read-only), once the writer that held it is gone. */
int blk_lock_chain(struct blk *b, struct vm_err *err);
/* Create an image at path (replacing what is there only on success). */
int blk_create(const char *path, const char *format,
    const struct blk_create_opts *o, struct vm_err *err);
int blk_create_fd(int fd, const char *path, const char *format,
    const struct blk_create_opts *o, struct vm_err *err);
/* A new image written to the stream fd (a pipe; name for messages),
 * once and in order: whole clusters through blk_write_compressed*, in
 * ascending order, then blk_flush once.  vmdk streamOptimized only.
 * blk_close closes fd.  NULL with err set (fd left open) on failure. */
struct blk *blk_stream_new(int fd, const char *name, const char *format,
    const struct blk_create_opts *o, struct vm_err *err);
int blk_pread(struct blk *b, void *buf, size_t len, uint64_t off);
int blk_pwrite(struct blk *b, const void *buf, size_t len, uint64_t off);
int blk_preadv(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
int blk_pwritev(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
int blk_write_compressed(struct blk *b, const void *buf, uint64_t off);
/* The two halves of blk_write_compressed, so callers can compress on
 * several threads and store in order on one.  blk_cluster_size is the
 * unit (0: the format cannot store compressed data). */
uint32_t blk_cluster_size(struct blk *b);
size_t blk_compress(struct blk *b, const void *in, void *out, size_t cap);
int blk_write_compressed_data(struct blk *b, const void *data, size_t n,
    const void *plain, uint64_t off);
int blk_flush(struct blk *b);
/* For a writer's event loop while the image gets no writes: metadata a
 * format keeps in memory is written back and synced once the loss
 * window's time bound (VMKIT_BLOCK_WRITEBACK) has passed, as the next
 * write would do.  Returns the CLOCK_MONOTONIC time (ns) at which that
 * is next due, 0 if nothing waits.  Same thread rules as a write. */
uint64_t blk_writeback_idle(struct blk *b);
int blk_discard(struct blk *b, uint64_t off, uint64_t len);
/* Status through the chain: flags of the first layer that has the range
 * (0 if none: reads as zeros), its depth (0 = this image) in *depth. */
int blk_block_status(struct blk *b, uint64_t off, uint64_t len,
    uint64_t *pnum, uint64_t *host, int *depth);
void blk_get_info(struct blk *b, struct blk_info *info);
/* For drivers: record "path: message" in b->ioerr (what vm-disk reports
 * when an operation fails); returns -EIO. */
int blk_fail(struct blk *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Test hook: VMKIT_BLOCK_CRASH_AFTER=N ends the process before its Nth
 * image write (block.c says which writes count). */
void blk_crash_point(void);
/* The descriptor a driver writes iov at file offset off through: b->dfd
 * (O_DIRECT) for an image opened BLK_F_DIRECT when the offset and every
 * buffer and length are 4 KiB aligned, b->fd otherwise. */
int blk_write_fd(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
/* A write through b->dfd failed with EINVAL (the file system wants
 * another alignment, or no O_DIRECT at all): write through b->fd from
 * now on. */
void blk_direct_off(struct blk *b);
int blk_check(struct blk *b, int repair, struct blk_check *res,
    struct vm_err *err);
int blk_resize(struct blk *b, uint64_t size, struct vm_err *err);
/* The image's internal snapshots (0 and *list NULL for none). */
int blk_snapshots(struct blk *b, const struct blk_snapshot **list);
/* Internal snapshots by id or name (qemu-img snapshot -c, -a, -d). */
int blk_snapshot_create(struct blk *b, const char *name, struct vm_err *err);
int blk_snapshot_apply(struct blk *b, const char *name, struct vm_err *err);
int blk_snapshot_delete(struct blk *b, const char *name, struct vm_err *err);
/* A handle opened BLK_F_RDONLY reads internal snapshot name's contents
 * from now on (vm-snap send --base compares two of them). */
int blk_snapshot_view(struct blk *b, const char *name, struct vm_err *err);
/* Rewrite the backing file name and format (NULL name: none). */
int blk_set_backing(struct blk *b, const char *name, const char *fmt,
    struct vm_err *err);
/* Empty the image's own layer (commit does, unless -d). */
int blk_make_empty(struct blk *b, struct vm_err *err);
/* The path of the backing file name names for the image at path: name
 * relative to path's directory unless it is absolute. */
void blk_backing_path(const char *path, const char *name, char *out,
    size_t len);
/* Read from the backing chain below b, zeros past its end or without one. */
int blk_read_backing(struct blk *b, void *buf, size_t len, uint64_t off);
const struct blk_driver *blk_driver_find(const char *name);
/* The driver that best recognises the image on fd. */
const struct blk_driver *blk_probe_fd(int fd);
/* ... from its first len bytes alone (no tail: a stream). */
const struct blk_driver *blk_probe_buf(const uint8_t *hdr, size_t len);

/*
 * An image read from a stream (a pipe), once, in order (sread.c): raw,
 * or a streamOptimized vmdk; other formats need seeking and are refused
 * (-ESPIPE).  format NULL probes the first bytes.  blk_sread_next gives
 * the next extent that may hold data, ascending, in *data (valid until
 * the next call): 1, 0 at the end, or -errno with blk_sread_error set.
 * What lies between extents reads as zeros.  The size is known from the
 * start for vmdk, at the end (UINT64_MAX before) for raw.
 */
struct blk_sread;
struct blk_sread *blk_sread_open(int fd, const char *name,
    const char *format, struct vm_err *err);
int blk_sread_next(struct blk_sread *s, const uint8_t **data,
    uint64_t *off, uint64_t *len);
uint64_t blk_sread_size(const struct blk_sread *s);
const char *blk_sread_format(const struct blk_sread *s);
const struct vm_err *blk_sread_error(const struct blk_sread *s);
void blk_sread_close(struct blk_sread *s);

#endif
