/* Write tracking of whole files (vm-snap send --live's disk pre-copy).
 * Writers on any thread; the tracker's owner reads it with the writers
 * stopped. */
#ifndef VM_UTIL_TRACK_H
#define VM_UTIL_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#define IO_TRACK_GRAIN 65536u   /* a file is tracked in grains of this */

struct io_track;

/* Track the file fd refers to (any fd of it); NULL with errno set. */
struct io_track *io_track_start(int fd);
/* Stop tracking and free t (NULL: nothing). */
void io_track_stop(struct io_track *t);
/* A write of len bytes at off through fd: marked if its file is tracked. */
void io_track_note(int fd, uint64_t off, uint64_t len);
/* ftruncate(2) that marks what a shrink takes away: 0 or -errno. */
int io_ftruncate(int fd, uint64_t size);
/* Whether grain g (offset g * IO_TRACK_GRAIN) was written since start. */
bool io_track_dirty(const struct io_track *t, uint64_t g);

#endif
