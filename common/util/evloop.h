/*
 * The event loop: file descriptors and timers, run on vm-run's main thread.
 * Every callback runs with the loop's lock held (the VM-wide I/O lock), so
 * device code called from a callback is serialised with bus dispatch.
 * evloop_timer_mod and evloop_wakeup may be called from any thread.
 */
#ifndef VM_UTIL_EVLOOP_H
#define VM_UTIL_EVLOOP_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct ev_timer;

typedef void (*ev_fd_fn)(void *opaque, int fd, unsigned events);
typedef void (*ev_timer_fn)(void *opaque);

#define EV_READ 1u
#define EV_WRITE 2u

/* lock may be NULL (callbacks then run unlocked). */
struct evloop *evloop_new(pthread_mutex_t *lock);
void evloop_free(struct evloop *loop);

/* Watch fd for events; replaces an earlier watch of the same fd. */
int evloop_add_fd(struct evloop *loop, int fd, unsigned events, ev_fd_fn fn,
    void *opaque);
void evloop_del_fd(struct evloop *loop, int fd);

/*
 * A source whose descriptors change from one poll to the next (libslirp's
 * sockets).  Before each poll, prepare writes up to max entries of pfd and
 * returns how many, lowering *timeout_ms (-1 = none) if it wants to be
 * called back sooner; after the poll, dispatch sees the same entries with
 * their revents (all zero after a timeout).  Both run with the lock held,
 * every iteration.  Call evloop_wakeup after changing what prepare would
 * return from another thread.
 */
typedef int (*ev_prepare_fn)(void *opaque, struct pollfd *pfd, int max,
    int *timeout_ms);
typedef void (*ev_dispatch_fn)(void *opaque, struct pollfd *pfd, int n);

int evloop_add_source(struct evloop *loop, ev_prepare_fn prepare,
    ev_dispatch_fn dispatch, void *opaque);
void evloop_del_source(struct evloop *loop, void *opaque);

/* Timers: one-shot at an absolute CLOCK_MONOTONIC time in ns. */
struct ev_timer *evloop_timer_new(struct evloop *loop, ev_timer_fn fn,
    void *opaque);
void evloop_timer_mod(struct ev_timer *t, uint64_t deadline_ns);
void evloop_timer_del(struct ev_timer *t); /* disarm */
void evloop_timer_free(struct ev_timer *t);

/* Run until evloop_stop; 0, or -errno on a poll failure. */
int evloop_run(struct evloop *loop);
/* Stop the loop (any thread, async-signal-safe). */
void evloop_stop(struct evloop *loop);
/* Make a blocked poll return (any thread). */
void evloop_wakeup(struct evloop *loop);

/*
 * The VM clock in ns: CLOCK_MONOTONIC less the time it was stopped, so
 * the guest's timers (PIT, LAPIC, ACPI PM) and the timers of this loop
 * stand still while a VM is paused.  clock_stop freezes it (no timer
 * falls due until clock_start), clock_start lets it go on and returns how
 * long it stood.  One VM per process: the clock is the process's.
 */
uint64_t clock_ns(void);
void clock_stop(void);
uint64_t clock_start(void);
bool clock_stopped(void);
/* CLOCK_MONOTONIC in ns, never stopped (uptimes, wall-clock waits). */
uint64_t clock_host_ns(void);

#endif
