/*
 * Write tracking of whole files.  vm-snap send --live copies a running
 * VM's disk images while the guest writes them, then, paused, only the
 * parts written since: this records which.  The block drivers write an
 * image through several fds (b->fd, the O_DIRECT twin, a second handle
 * for an internal snapshot), so a tracked file is named by its device
 * and inode, and each write through io_pwrite_full, raw's pwritev or
 * io_ftruncate looks its fd's up with fstat -- only while something is
 * tracked (one atomic load otherwise).
 *
 * A grain is marked when any byte of it is written.  A shrink marks what
 * it cut off (a later growth reads back zeros there, not what the copy
 * holds); a growth marks nothing: the copy's final truncation to the
 * file's size gives the same zeros.  Bitmaps grow with the file, under
 * one mutex.
 */
#include "util/track.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRACK_MAX 32

struct io_track {
	dev_t dev;
	ino_t ino;
	uint64_t *bits;
	uint64_t words;         /* of bits */
	bool all;               /* a bitmap could not grow: all written */
};

static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static struct io_track *tracked[TRACK_MAX];
static atomic_int ntracked;

struct io_track *
io_track_start(int fd)
{
	struct io_track *t;
	struct stat st;
	int i;

	if (fstat(fd, &st) < 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	pthread_mutex_lock(&track_lock);
	for (i = 0; i < TRACK_MAX && tracked[i] != NULL; i++)
		;
	if (i < TRACK_MAX) {
		tracked[i] = t;
		atomic_fetch_add(&ntracked, 1);
	}
	pthread_mutex_unlock(&track_lock);
	if (i == TRACK_MAX) {
		free(t);
		errno = EBUSY;
		return NULL;
	}
	return t;
}

void
io_track_stop(struct io_track *t)
{
	int i;

	if (t == NULL)
		return;
	pthread_mutex_lock(&track_lock);
	for (i = 0; i < TRACK_MAX; i++)
		if (tracked[i] == t) {
			tracked[i] = NULL;
			atomic_fetch_sub(&ntracked, 1);
		}
	pthread_mutex_unlock(&track_lock);
	free(t->bits);
	free(t);
}

/* Mark grains [g0, g1) of t; the bitmap grown to hold them.  Under the
 * lock.  Out of memory: the file is taken as written all over. */
static void
mark(struct io_track *t, uint64_t g0, uint64_t g1)
{
	uint64_t need = (g1 + 63) / 64, g;

	if (need > t->words) {
		uint64_t n = need * 2, *nb = realloc(t->bits, n * 8);

		if (nb == NULL) {
			t->all = true;
			return;
		}
		memset(nb + t->words, 0, (n - t->words) * 8);
		t->bits = nb;
		t->words = n;
	}
	for (g = g0; g < g1; g++)
		t->bits[g / 64] |= 1ULL << (g % 64);
}

void
io_track_note(int fd, uint64_t off, uint64_t len)
{
	struct stat st;
	int i;

	if (atomic_load(&ntracked) == 0 || len == 0 || fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&track_lock);
	for (i = 0; i < TRACK_MAX; i++)
		if (tracked[i] != NULL && tracked[i]->dev == st.st_dev &&
		    tracked[i]->ino == st.st_ino)
			mark(tracked[i], off / IO_TRACK_GRAIN,
			    (off + len + IO_TRACK_GRAIN - 1) / IO_TRACK_GRAIN);
	pthread_mutex_unlock(&track_lock);
}

int
io_ftruncate(int fd, uint64_t size)
{
	struct stat st;

	if (atomic_load(&ntracked) > 0 && fstat(fd, &st) == 0 &&
	    (uint64_t)st.st_size > size)
		io_track_note(fd, size, (uint64_t)st.st_size - size);
	return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

bool
io_track_dirty(const struct io_track *t, uint64_t g)
{
	bool d;

	pthread_mutex_lock(&track_lock);
	d = t->all || (g / 64 < t->words && ((t->bits[g / 64] >> (g % 64)) & 1));
	pthread_mutex_unlock(&track_lock);
	return d;
}
