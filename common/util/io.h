/* Whole-buffer I/O: loops over short transfers and EINTR. */
#ifndef VM_UTIL_IO_H
#define VM_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>

/* Write all len bytes at off: 0 or -errno (-EIO if nothing was written). */
int io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Read all len bytes at off; what lies past the end of the file reads as
 * zeros (image formats whose files may end before their last cluster).
 * 0 or -errno. */
int io_pread_zfill(int fd, void *buf, size_t len, uint64_t off);

/* Write all len bytes at the fd's position (a pipe): 0 or -errno. */
int io_write_full(int fd, const void *buf, size_t len);
/* A positioned write on a stream: *pos is where the stream is; the gap up
 * to off is written as zeros, then buf.  -ESPIPE if off is behind *pos. */
int io_seq_write(int fd, uint64_t *pos, const void *buf, size_t len,
    uint64_t off);
/* Read up to len bytes, stopping only at the end of the stream; *got
 * says how many came.  0 or -errno. */
int io_read_full(int fd, void *buf, size_t len, size_t *got);
/* Rename tmp over path, then fsync the directory holding path, so that
 * the new name survives a power cut as the file's contents (synced by
 * the caller before) do.  0 or -errno (the rename done or not). */
int io_rename_durable(const char *tmp, const char *path);

#endif
