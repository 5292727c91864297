/*
 * Live migration, the sending side (vm-snap send --live): a thread of the
 * running vm-run writes the live send stream (vm/transfer.h) while the
 * guest runs.  Pre-copy, as QEMU's migrate does it:
 *
 *   0. the disk files, the guest running, their writes tracked from
 *      before the first byte read (util/track.h);
 *   1. pause a moment, turn the memory map's dirty log on (mem.h), make
 *      the back end forget its write permissions, resume;
 *   2. send every non-zero page, the guest running;
 *   3. rounds: pause a moment, take the log and make the back end forget
 *      again, resume, send the pages written since the last take; until
 *      a round finds at most LIVE_LAST pages, or LIVE_ROUNDS rounds;
 *   4. pause for good (the I/O lock held, so no device writes either):
 *      the last pages, then a snapshot without RAM (CPU, devices, the
 *      disks' internal snapshots) to a file beside the bundle's, then
 *      vm.yaml, the parts of the disk files written since step 0 (the
 *      internal snapshots' metadata among them) and that snapshot's
 *      sections.  So the pause does not grow with the disks' size, only
 *      with what the guest wrote during the send.
 *
 * The source then stays paused (QEMU's "postmigrate"); vm-snap stops it
 * once it has seen the result.  A failure (the reader went away) resumes
 * the VM where it was.  The downtime reported is step 4's length, from
 * the pause to the end record written.
 */
#include "vm/live.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/snapshot.h"
#include "vm/transfer.h"
#include "vm/vm.h"

#define PAGE 4096u
#define RUN_PAGES 256u          /* 1 MiB: a ram-data record at most */
#define LIVE_LAST 256u          /* pages left for the pause */
#define LIVE_ROUNDS 30
#define ABSENT_PAGES 4096u

static struct {
	pthread_mutex_t lock;
	bool busy;              /* a thread started and not joined */
	pthread_t tid;
	struct vm_live_info info;
	struct vm *vm;
	int fd;
	char bundle[4096], tag[VM_SNAP_TAG_MAX], state[4096 + 64];
	uint64_t *bits[MEM_MAX_REGIONS];
	/* wanted()'s look at pagemap: chunk achunk of region aregion */
	uint64_t absent[ABSENT_PAGES / 64], achunk;
	int aregion;
	atomic_bool abort;      /* vm_live_end: give up */
} L = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
set_state(enum vm_live_state s, const char *why)
{
	pthread_mutex_lock(&L.lock);
	L.info.state = s;
	if (why != NULL)
		snprintf(L.info.error, sizeof(L.info.error), "%s", why);
	pthread_mutex_unlock(&L.lock);
}

/* Pause unless paused already (by the user); *mine: we did. */
static int
pause_vm(struct vm *vm, bool *mine)
{
	int ret = vm_pause(vm);

	*mine = ret == 0;
	return ret == -EALREADY ? 0 : ret;
}

static void
sync_backend(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] != NULL)
			vm->backend->dirty_log_sync(vm->vcpus[i]);
}

/* Take the log into L.bits (the vCPUs paused); how many pages. */
static uint64_t
take(struct vm *vm)
{
	uint64_t n = 0, k;
	int i;

	for (i = 0; i < vm->mem.nr; i++) {
		uint64_t words = (vm->mem.regions[i].size / PAGE + 63) / 64;

		mem_dirty_take(&vm->mem, i, L.bits[i]);
		for (k = 0; k < words; k++)
			n += (uint64_t)__builtin_popcountll(L.bits[i][k]);
	}
	sync_backend(vm);
	return n;
}

/* Whether page pg of region i goes: written since the last take, or
 * (all) not zero; pages with nothing behind them (mem_absent_pages) are
 * zero without a look, in chunks of ABSENT_PAGES. */
static bool
wanted(struct vm *vm, int i, uint64_t pg, bool all)
{
	uint64_t n = vm->mem.regions[i].size / PAGE, c = pg / ABSENT_PAGES;

	if (!all)
		return (L.bits[i][pg / 64] >> (pg % 64)) & 1;
	if (L.aregion != i || L.achunk != c) {
		mem_absent_pages(&vm->mem, i, c * ABSENT_PAGES,
		    n - c * ABSENT_PAGES < ABSENT_PAGES ? n - c * ABSENT_PAGES :
		    ABSENT_PAGES, L.absent);
		L.aregion = i;
		L.achunk = c;
	}
	if ((L.absent[pg % ABSENT_PAGES / 64] >> (pg % 64)) & 1)
		return false;
	return !vm_page_zero(vm->mem.regions[i].hva + pg * PAGE);
}

/* Send the pages of L.bits (all != NULL) or, all, every non-zero page,
 * in runs of up to RUN_PAGES, each copied before it goes (the guest may
 * write on; a page written meanwhile is in the next take). */
static int
send_pages(struct vm *vm, struct vm_live_send *ls, uint8_t *buf, bool all,
    struct vm_err *err)
{
	uint64_t off = 0;
	int i, ret;

	L.aregion = -1;
	for (i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		uint64_t n = r->size / PAGE, pg = 0, run;

		while (pg < n) {
			if (!wanted(vm, i, pg, all)) {
				pg++;
				continue;
			}
			for (run = 0; pg + run < n && run < RUN_PAGES; run++) {
				const uint8_t *p = r->hva + (pg + run) * PAGE;

				if (run > 0 && !wanted(vm, i, pg + run, all))
					break;
				memcpy(buf + run * PAGE, p, PAGE);
			}
			if (atomic_load(&L.abort))
				return vm_err_set(err, -ECANCELED, "the VM "
				    "stopped");
			ret = vm_send_live_ram(ls, off + pg * PAGE, buf,
			    (uint32_t)(run * PAGE), err);
			if (ret < 0)
				return ret;
			L.info.pages += run;
			pg += run;
		}
		off += r->size;
	}
	return 0;
}

static void *
live_main(void *arg)
{
	struct vm *vm = arg;
	struct vm_err err = { 0 };
	struct vm_live_send *ls = NULL;
	struct vm_snap_opts o = { 0 };
	uint64_t gpa[MEM_MAX_REGIONS], size[MEM_MAX_REGIONS], n, t0 = 0;
	uint8_t *buf = malloc(RUN_PAGES * PAGE);
	bool mine = false, logging = false, saved = false;
	sigset_t ss;
	int i, ret = 0;

	/* a reader gone makes write fail with EPIPE, not kill vm-run */
	sigemptyset(&ss);
	sigaddset(&ss, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	for (i = 0; i < vm->mem.nr; i++) {
		gpa[i] = vm->mem.regions[i].gpa;
		size[i] = vm->mem.regions[i].size;
		L.bits[i] = calloc((size[i] / PAGE + 63) / 64 + 1, 8);
		if (L.bits[i] == NULL)
			ret = vm_err_set(&err, -ENOMEM, "out of memory");
	}
	if (buf == NULL)
		ret = vm_err_set(&err, -ENOMEM, "out of memory");
	if (ret == 0) {
		ls = vm_send_live_begin(L.bundle, vm->cfg, L.tag, L.fd, &err);
		ret = ls == NULL ? (err.code ? err.code : -EIO) : 0;
	}
	/* 0 */
	if (ret == 0)
		ret = vm_send_live_disks(ls, &L.info.disk_before, &err);
	if (ret == 0)
		ret = vm_send_live_layout(ls, (uint32_t)vm->mem.nr, gpa, size,
		    &err);
	/* 1, 2 */
	if (ret == 0 && (ret = pause_vm(vm, &mine)) < 0)
		vm_err_set(&err, ret, "the VM is stopping");
	if (ret == 0) {
		ret = mem_dirty_start(&vm->mem, &err);
		logging = ret == 0;
		if (ret == 0)
			sync_backend(vm);
		if (mine)
			vm_resume(vm);
	}
	if (ret == 0)
		ret = send_pages(vm, ls, buf, true, &err);
	/* 3 */
	for (n = ~0ULL; ret == 0 && n > LIVE_LAST &&
	    L.info.rounds < LIVE_ROUNDS; L.info.rounds++) {
		if ((ret = pause_vm(vm, &mine)) < 0) {
			vm_err_set(&err, ret, "the VM is stopping");
			break;
		}
		n = take(vm);
		if (mine)
			vm_resume(vm);
		if (n > LIVE_LAST || L.info.rounds + 1 == LIVE_ROUNDS)
			ret = send_pages(vm, ls, buf, false, &err);
		else
			break;  /* the pages taken go in the pause */
	}
	/* 4: the pages of the last take and of everything since */
	if (ret == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		L.info.pause_unix_us = (uint64_t)ts.tv_sec * 1000000u +
		    (uint64_t)ts.tv_nsec / 1000u;
		t0 = clock_host_ns();
		if ((ret = pause_vm(vm, &mine)) < 0)
			vm_err_set(&err, ret, "the VM is stopping");
	}
	if (ret == 0) {
		uint64_t *keep[MEM_MAX_REGIONS];
		uint64_t k;

		pthread_mutex_lock(&vm->io_lock);
		/* or the two takes: the last round's, not sent, and now */
		for (i = 0; i < vm->mem.nr; i++) {
			uint64_t words = (size[i] / PAGE + 63) / 64;

			keep[i] = malloc(words * 8 + 8);
			if (keep[i] == NULL) {
				ret = vm_err_set(&err, -ENOMEM, "out of memory");
				continue;
			}
			memcpy(keep[i], L.bits[i], words * 8);
		}
		take(vm);
		for (i = 0; i < vm->mem.nr; i++) {
			uint64_t words = (size[i] / PAGE + 63) / 64;

			if (keep[i] == NULL)
				continue;
			for (k = 0; k < words; k++)
				L.bits[i][k] |= keep[i][k];
			free(keep[i]);
		}
		/* the bitmaps' tails past a region's pages are never read */
		if (ret == 0)
			ret = send_pages(vm, ls, buf, false, &err);
		mem_dirty_stop(&vm->mem);
		logging = false;
		o.tag = L.tag;
		o.fast_restore = true;
		o.no_ram = true;
		o.parent = vm->snap_parent[0] ? vm->snap_parent : NULL;
		if (ret == 0)
			ret = vm_snapshot_save(vm, L.state, &o, &err);
		saved = ret == 0;
		if (ret == 0)
			ret = vm_send_live_end(ls, L.state, &err);
		L.info.disk_pause = vm_send_live_disk_pause(ls);
		pthread_mutex_unlock(&vm->io_lock);
		L.info.downtime_ns = clock_host_ns() - t0;
	}
	if (logging)
		mem_dirty_stop(&vm->mem);
	if (saved) {
		/* the copy has them; the source keeps nothing of the send */
		unlink(L.state);
		vm_snapshot_drop_disks(vm, L.tag);
	}
	if (ret < 0 && mine)
		vm_resume(vm);          /* failed: the VM goes on here */
	vm_send_live_free(ls);
	close(L.fd);
	free(buf);
	for (i = 0; i < MEM_MAX_REGIONS; i++) {
		free(L.bits[i]);
		L.bits[i] = NULL;
	}
	if (ret < 0) {
		log_warnx("live send: %s", err.msg);
		set_state(VM_LIVE_FAILED, err.msg);
	} else {
		set_state(VM_LIVE_DONE, NULL);
	}
	return NULL;
}

int
vm_live_start(struct vm *vm, const char *stream, const char *bundle,
    const char *tag, const char *state, struct vm_err *err)
{
	int fd;

	if (vm->backend->dirty_log_sync == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: the back end keeps no "
		    "dirty log: no live send (use --accel dbt)",
		    vm->backend->name);
	pthread_mutex_lock(&L.lock);
	if (L.busy && L.info.state == VM_LIVE_ACTIVE) {
		pthread_mutex_unlock(&L.lock);
		return vm_err_set(err, -EBUSY, "a live send is under way");
	}
	if (L.busy)
		pthread_join(L.tid, NULL);
	L.busy = false;
	pthread_mutex_unlock(&L.lock);
	if (strlen(bundle) >= sizeof(L.bundle) ||
	    strlen(tag) >= sizeof(L.tag) || strlen(state) >= sizeof(L.state))
		return vm_err_set(err, -ENAMETOOLONG, "path too long");
	fd = open(stream, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s (the stream: a pipe or a "
		    "file)", stream);
	memset(&L.info, 0, sizeof(L.info));
	atomic_store(&L.abort, false);
	L.info.state = VM_LIVE_ACTIVE;
	L.vm = vm;
	L.fd = fd;
	snprintf(L.bundle, sizeof(L.bundle), "%s", bundle);
	snprintf(L.tag, sizeof(L.tag), "%s", tag);
	snprintf(L.state, sizeof(L.state), "%s", state);
	if (pthread_create(&L.tid, NULL, live_main, vm) != 0) {
		close(fd);
		L.info.state = VM_LIVE_IDLE;
		return vm_err_set(err, -EAGAIN, "cannot start a thread");
	}
	L.busy = true;
	return 0;
}

void
vm_live_end(struct vm *vm)
{
	bool busy;

	pthread_mutex_lock(&L.lock);
	busy = L.busy && L.vm == vm;
	pthread_mutex_unlock(&L.lock);
	if (!busy)
		return;
	atomic_store(&L.abort, true);
	pthread_join(L.tid, NULL);
	pthread_mutex_lock(&L.lock);
	L.busy = false;
	pthread_mutex_unlock(&L.lock);
}

void
vm_live_status(struct vm_live_info *info)
{
	pthread_mutex_lock(&L.lock);
	*info = L.info;
	pthread_mutex_unlock(&L.lock);
}
