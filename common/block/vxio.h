/*
 * Helpers the VDI and VHD drivers share: whole-buffer file I/O that
 * records why it failed in b->ioerr, little- and big-endian fields, and
 * the walk over an I/O vector one linear piece at a time.
 */
#ifndef VM_BLOCK_VXIO_H
#define VM_BLOCK_VXIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

/* Read len bytes at off; what lies past the end of the file reads as
 * zeros.  0 or -errno. */
int vx_read(struct blk *b, void *buf, size_t len, uint64_t off);
/* Write len bytes at off.  0 or -errno. */
int vx_write(struct blk *b, const void *buf, size_t len, uint64_t off);
/* Write len zero bytes at off. */
int vx_write_zeros(struct blk *b, uint64_t len, uint64_t off);
#define vx_fail blk_fail        /* block.h */
/* The file's size, or 0 if fstat fails. */
uint64_t vx_file_size(int fd);
/* Call fn on each piece of the vector in turn; stops at the first error. */
int vx_iov(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t off,
    int (*fn)(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off));
bool vx_is_zero(const uint8_t *p, uint64_t len);

static inline uint16_t vx_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vx_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vx_be64(const uint8_t *p)
{
	return (uint64_t)vx_be32(p) << 32 | vx_be32(p + 4);
}

static inline void vx_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void vx_put_be32(uint8_t *p, uint32_t v)
{
	vx_put_be16(p, (uint16_t)(v >> 16));
	vx_put_be16(p + 2, (uint16_t)v);
}

static inline void vx_put_be64(uint8_t *p, uint64_t v)
{
	vx_put_be32(p, (uint32_t)(v >> 32));
	vx_put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t vx_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t vx_le64(const uint8_t *p)
{
	return (uint64_t)vx_le32(p + 4) << 32 | vx_le32(p);
}

static inline void vx_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void vx_put_le64(uint8_t *p, uint64_t v)
{
	vx_put_le32(p, (uint32_t)v);
	vx_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
