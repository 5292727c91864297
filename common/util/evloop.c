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

struct evloop {
	pthread_mutex_t *lock;
	int wake_fd;
	atomic_bool stop;
	struct ev_fd fds[EV_MAX_FDS];
	int nfds;
	struct ev_timer timers[EV_MAX_TIMERS];
};

uint64_t
clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
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

int
evloop_run(struct evloop *loop)
{
	struct pollfd pfd[EV_MAX_FDS + 1];
	struct ev_fd snap[EV_MAX_FDS];
	struct timespec ts, *tsp;
	uint64_t next, now, rel, buf;
	int i, n, r;

	while (!atomic_load(&loop->stop)) {
		if (loop->lock)
			pthread_mutex_lock(loop->lock);
		next = run_timers(loop);
		n = loop->nfds;
		memcpy(snap, loop->fds, sizeof(snap[0]) * (size_t)n);
		if (loop->lock)
			pthread_mutex_unlock(loop->lock);
		if (atomic_load(&loop->stop))
			break;

		pfd[0].fd = loop->wake_fd;
		pfd[0].events = POLLIN;
		for (i = 0; i < n; i++) {
			pfd[i + 1].fd = snap[i].fd;
			pfd[i + 1].events = (short)(
			    ((snap[i].events & EV_READ) ? POLLIN : 0) |
			    ((snap[i].events & EV_WRITE) ? POLLOUT : 0));
			pfd[i + 1].revents = 0;
		}
		tsp = NULL;
		if (next) {
			now = clock_ns();
			rel = next <= now ? 0 : next - now;
			ts.tv_sec = (time_t)(rel / 1000000000ULL);
			ts.tv_nsec = (long)(rel % 1000000000ULL);
			tsp = &ts;
		}
		r = ppoll(pfd, (nfds_t)n + 1, tsp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
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
		if (loop->lock)
			pthread_mutex_unlock(loop->lock);
	}
	return 0;
}
