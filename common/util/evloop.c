/*
 * A poll(2) loop with an eventfd for cross-thread wake-ups and a small
 * array of timers (a VM has a handful: PIT, RTC, LAPIC timers, console).
 * Timers are scanned linearly; the earliest deadline bounds the poll.
 */
#include "util/evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EV_MAX_FDS 64
#define EV_MAX_TIMERS 64
#define EV_MAX_SOURCES 8
#define EV_MAX_SRC_FDS 256

struct ev_fd {
	int fd;
	unsigned events;
	ev_fd_fn fn;
	void *opaque;
};

struct ev_timer {
	struct evloop *loop;
	ev_timer_fn fn;
	void *opaque;
	_Atomic uint64_t deadline; /* 0 = disarmed */
	bool used;
};

struct ev_source {
	ev_prepare_fn prepare;
	ev_dispatch_fn dispatch;
	void *opaque;
};

struct evloop {
	pthread_mutex_t *lock;
	int wake_fd;
	atomic_bool stop;
	struct ev_fd fds[EV_MAX_FDS];
	int nfds;
	struct ev_timer timers[EV_MAX_TIMERS];
	struct ev_source src[EV_MAX_SOURCES];
	int nsrc;
};

uint64_t
clock_host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The VM clock: the host's CLOCK_MONOTONIC less the time it stood still.
 * stop_at is its value while stopped (0: running), lost the time it
 * stood in all; clock_start stores lost before clearing stop_at, so a
 * reader in between still sees the stopped value, and it never goes back.
 */
static _Atomic uint64_t clock_stop_at;
static _Atomic uint64_t clock_lost;

uint64_t
clock_ns(void)
{
	uint64_t s = atomic_load(&clock_stop_at);

	return s ? s : clock_host_ns() - atomic_load(&clock_lost);
}

void
clock_stop(void)
{
	if (atomic_load(&clock_stop_at) == 0)
		atomic_store(&clock_stop_at, clock_ns());
}

uint64_t
clock_start(void)
{
	uint64_t s = atomic_load(&clock_stop_at), was, lost;

	if (s == 0)
		return 0;
	was = atomic_load(&clock_lost);
	lost = clock_host_ns() - s;
	atomic_store(&clock_lost, lost);
	atomic_store(&clock_stop_at, 0);
	return lost - was;
}

bool
clock_stopped(void)
{
	return atomic_load(&clock_stop_at) != 0;
}

struct evloop *
evloop_new(pthread_mutex_t *lock)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->lock = lock;
	loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_fd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

void
evloop_free(struct evloop *loop)
{
	if (loop == NULL)
		return;
	close(loop->wake_fd);
	free(loop);
}

int
evloop_add_fd(struct evloop *loop, int fd, unsigned events, ev_fd_fn fn,
    void *opaque)
{
	int i;

	for (i = 0; i < loop->nfds; i++)
		if (loop->fds[i].fd == fd)
			break;
	if (i == loop->nfds) {
		if (loop->nfds == EV_MAX_FDS)
			return -ENOSPC;
		loop->nfds++;
	}
	loop->fds[i] = (struct ev_fd){ fd, events, fn, opaque };
	return 0;
}

void
evloop_del_fd(struct evloop *loop, int fd)
{
	int i;

	for (i = 0; i < loop->nfds; i++) {
		if (loop->fds[i].fd == fd) {
			loop->fds[i] = loop->fds[--loop->nfds];
			return;
		}
	}
}

int
evloop_add_source(struct evloop *loop, ev_prepare_fn prepare,
    ev_dispatch_fn dispatch, void *opaque)
{
	if (loop->nsrc == EV_MAX_SOURCES)
		return -ENOSPC;
	loop->src[loop->nsrc++] = (struct ev_source){ prepare, dispatch,
	    opaque };
	evloop_wakeup(loop);
	return 0;
}

void
evloop_del_source(struct evloop *loop, void *opaque)
{
	int i;

	for (i = 0; i < loop->nsrc; i++) {
		if (loop->src[i].opaque == opaque) {
			loop->src[i] = loop->src[--loop->nsrc];
			return;
		}
	}
}

struct ev_timer *
evloop_timer_new(struct evloop *loop, ev_timer_fn fn, void *opaque)
{
	int i;

	for (i = 0; i < EV_MAX_TIMERS; i++) {
		struct ev_timer *t = &loop->timers[i];

		if (!t->used) {
			t->used = true;
			t->loop = loop;
			t->fn = fn;
			t->opaque = opaque;
			atomic_store(&t->deadline, 0);
			return t;
		}
	}
	return NULL;
}

void
evloop_timer_mod(struct ev_timer *t, uint64_t deadline_ns)
{
	if (deadline_ns == 0)
		deadline_ns = 1;
	atomic_store(&t->deadline, deadline_ns);
	evloop_wakeup(t->loop);
}

void
evloop_timer_del(struct ev_timer *t)
{
	if (t != NULL)
		atomic_store(&t->deadline, 0);
}

void
evloop_timer_free(struct ev_timer *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->deadline, 0);
	t->used = false;
}

void
evloop_stop(struct evloop *loop)
{
	atomic_store(&loop->stop, true);
	evloop_wakeup(loop);
}

void
evloop_wakeup(struct evloop *loop)
{
	uint64_t one = 1;
	ssize_t r;

	r = write(loop->wake_fd, &one, sizeof(one));
	(void)r;
}

/* Fire expired timers; return the earliest remaining deadline (0 = none). */
static uint64_t
run_timers(struct evloop *loop)
{
	uint64_t now = clock_ns(), next = 0, d;
	int i;

	for (i = 0; i < EV_MAX_TIMERS; i++) {
		struct ev_timer *t = &loop->timers[i];

		if (!t->used)
			continue;
		d = atomic_load(&t->deadline);
		if (d == 0)
			continue;
		if (d <= now) {
			atomic_store(&t->deadline, 0);
			t->fn(t->opaque);
			d = atomic_load(&t->deadline);
			if (d == 0)
				continue;
		}
		if (next == 0 || d < next)
			next = d;
	}
	return next;
}

/* Let each source add its descriptors after the fixed ones; at[i] is
 * where source i's entries start, cnt[i] how many. */
static int
prepare_sources(struct evloop *loop, struct pollfd *pfd, int used,
    struct ev_source *src, int *at, int *cnt, int *nsrc, int *timeout_ms)
{
	int i, n;

	*nsrc = loop->nsrc;
	for (i = 0; i < loop->nsrc; i++) {
		src[i] = loop->src[i];
		at[i] = used;
		n = src[i].prepare(src[i].opaque, pfd + used,
		    EV_MAX_SRC_FDS - (used - EV_MAX_FDS - 1), timeout_ms);
		cnt[i] = n < 0 ? 0 : n;
		used += cnt[i];
	}
	return used;
}

int
evloop_run(struct evloop *loop)
{
	struct pollfd pfd[EV_MAX_FDS + 1 + EV_MAX_SRC_FDS];
	struct ev_fd snap[EV_MAX_FDS];
	struct ev_source src[EV_MAX_SOURCES];
	int at[EV_MAX_SOURCES], cnt[EV_MAX_SOURCES], nsrc = 0;
	struct timespec ts, *tsp;
	uint64_t next, now, rel, buf;
	int i, n, r, total, tmo;

	while (!atomic_load(&loop->stop)) {
		if (loop->lock)
			pthread_mutex_lock(loop->lock);
		next = run_timers(loop);
		if (clock_stopped())
			next = 0;       /* nothing falls due while it stands */
		n = loop->nfds;
		memcpy(snap, loop->fds, sizeof(snap[0]) * (size_t)n);
		for (i = 0; i < n; i++) {
			pfd[i + 1].fd = snap[i].fd;
			pfd[i + 1].events = (short)(
			    ((snap[i].events & EV_READ) ? POLLIN : 0) |
			    ((snap[i].events & EV_WRITE) ? POLLOUT : 0));
			pfd[i + 1].revents = 0;
		}
		/* Sources' entries go after the fixed array's room, so
		 * their indices stay put whatever n is. */
		tmo = -1;
		total = prepare_sources(loop, pfd, EV_MAX_FDS + 1, src, at, cnt,
		    &nsrc, &tmo);
		if (loop->lock)
			pthread_mutex_unlock(loop->lock);
		if (atomic_load(&loop->stop))
			break;
		/* Close the gap between the fixed entries and the sources'. */
		for (i = n + 1; i < EV_MAX_FDS + 1; i++) {
			pfd[i].fd = -1;
			pfd[i].events = 0;
			pfd[i].revents = 0;
		}

		pfd[0].fd = loop->wake_fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (tmo >= 0) {
			uint64_t d = clock_ns() + (uint64_t)tmo * 1000000ULL;

			if (next == 0 || d < next)
				next = d;
		}
		tsp = NULL;
		if (next) {
			now = clock_ns();
			rel = next <= now ? 0 : next - now;
			ts.tv_sec = (time_t)(rel / 1000000000ULL);
			ts.tv_nsec = (long)(rel % 1000000000ULL);
			tsp = &ts;
		}
		r = ppoll(pfd, (nfds_t)(nsrc ? total : n + 1), tsp, NULL);
		if (r < 0) {
			if (errno != EINTR)
				return -errno;
			for (i = 0; i < total; i++)
				pfd[i].revents = 0;
		}
		if (pfd[0].revents & POLLIN) {
			ssize_t rr = read(loop->wake_fd, &buf, sizeof(buf));
			(void)rr;
		}
		if (loop->lock)
			pthread_mutex_lock(loop->lock);
		for (i = 0; i < n; i++) {
			unsigned ev = 0;

			if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				ev |= EV_READ;
			if (pfd[i + 1].revents & POLLOUT)
				ev |= EV_WRITE;
			if (ev)
				snap[i].fn(snap[i].opaque, snap[i].fd, ev);
		}
		/* A source removed by a callback above is not dispatched. */
		for (i = 0; i < nsrc; i++) {
			int j;

			for (j = 0; j < loop->nsrc; j++)
				if (loop->src[j].opaque == src[i].opaque)
					break;
			if (j < loop->nsrc)
				src[i].dispatch(src[i].opaque, pfd + at[i],
				    cnt[i]);
		}
		if (loop->lock)
			pthread_mutex_unlock(loop->lock);
	}
	return 0;
}
