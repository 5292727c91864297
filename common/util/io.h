/* Whole-buffer positioned I/O: loops over short transfers and EINTR. */
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

#endif
