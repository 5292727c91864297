/*
 * The block layer: one interface over every image format.  I/O is in byte
 * offsets with no short reads or writes (0 or -errno).  Drivers are listed
 * in block.c's table; the format is probed from content unless given.
 * Threads: one blk is used by one thread at a time.
 */
#ifndef VM_BLOCK_BLOCK_H
#define VM_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm_err;
struct blk;

#define BLK_F_RDONLY 0x1u

struct blk_driver {
	const char *name;
	size_t priv_size;
	/* 0..100: how sure the driver is that hdr is its format. */
	int (*probe)(const uint8_t *hdr, size_t len);
	int (*open)(struct blk *b, int fd, unsigned flags, struct vm_err *err);
	void (*close)(struct blk *b);
	int (*preadv)(struct blk *b, const struct iovec *iov, int iovcnt,
	    uint64_t off);
	int (*pwritev)(struct blk *b, const struct iovec *iov, int iovcnt,
	    uint64_t off);
	int (*flush)(struct blk *b);
	int (*discard)(struct blk *b, uint64_t off, uint64_t len);
};

struct blk {
	const struct blk_driver *drv;
	char path[4096];
	int fd;
	unsigned flags;
	uint64_t size;          /* virtual size in bytes */
	void *priv;
	struct blk *backing;
};

/* Open path; format NULL probes.  NULL with err set on failure. */
struct blk *blk_open(const char *path, const char *format, unsigned flags,
    struct vm_err *err);
void blk_close(struct blk *b);
int blk_pread(struct blk *b, void *buf, size_t len, uint64_t off);
int blk_pwrite(struct blk *b, const void *buf, size_t len, uint64_t off);
int blk_preadv(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
int blk_pwritev(struct blk *b, const struct iovec *iov, int iovcnt,
    uint64_t off);
int blk_flush(struct blk *b);
int blk_discard(struct blk *b, uint64_t off, uint64_t len);
const struct blk_driver *blk_driver_find(const char *name);

#endif
