/*
 * Live migration's sending side (vm/live.c): a thread of the running
 * vm-run writing the live send stream (vm/transfer.h) with pre-copy of
 * RAM through the memory map's dirty log.
 */
#ifndef VM_VM_LIVE_H
#define VM_VM_LIVE_H

#include <stdint.h>

struct vm;
struct vm_err;

enum vm_live_state { VM_LIVE_IDLE, VM_LIVE_ACTIVE, VM_LIVE_DONE,
	VM_LIVE_FAILED };

struct vm_live_info {
	enum vm_live_state state;
	uint64_t rounds;        /* rounds of dirty pages after the first */
	uint64_t pages;         /* pages sent, all rounds and the pause */
	uint64_t downtime_ns;   /* the final pause, to the end record */
	uint64_t pause_unix_us; /* when the final pause began (wall clock) */
	uint64_t disk_before;   /* disk bytes sent with the guest running */
	uint64_t disk_pause;    /* and in the final pause (written since) */
	char error[256];        /* VM_LIVE_FAILED: why */
};

/* Start sending vm (of bundle) live to stream, a path opened for writing
 * (a pipe's /proc/PID/fd/N); tag names the copy's snapshot, state the
 * file the RAM-less snapshot is written to on the way (removed after).
 * 0 once the thread runs, or -errno with err set. */
int vm_live_start(struct vm *vm, const char *stream, const char *bundle,
    const char *tag, const char *state, struct vm_err *err);
void vm_live_status(struct vm_live_info *info);
/* vm is going away: a live send of it gives up at its next record (or
 * pause) and is waited for. */
void vm_live_end(struct vm *vm);

#endif
