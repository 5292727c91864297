/*
 * The DBT back end: struct cpu_backend_ops for vmkit's own x86 CPU, and
 * its run loop (shared/DESIGN.md 5; the shape of QEMU's cpu_exec and
 * Blink's Actor).
 *
 * run() loops: deliver a pending exception, take an interrupt if one is
 * allowed, look up (or decode) the block at CS:RIP, run its instructions
 * through their handlers.  Faults longjmp back to the single setjmp here
 * with RIP still at the faulting instruction.  Between blocks the loop
 * checks the vCPU's attention flag (kick, VM stop).
 *
 * vCPUs each have a host thread and run guest code at once (parallel,
 * the default; what that takes: common/dbt/SMP.md).  With
 * $VMKIT_DBT_SMP=serial they take turns: the per-VM run lock is held
 * while guest code executes and released every DBT_SLICE blocks and
 * while halted.  A halted vCPU sleeps on the VM's condition variable until
 * an interrupt may be pending (the interrupt controllers call kick) or a
 * kick.  HLT with interrupts disabled and nothing to wake it returns
 * CPU_EXIT_HLT.
 */
#include "dbt/dbt-int.h"
#include "dbt/hx.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu.h"
#include "cfg/cfg.h"
#include "dbt/block.h"
#include "dbt/jit.h"
#include "hw/intc.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define DBT_SLICE 4096          /* blocks between lock releases */

struct dbt_vm {
	/* parallel, the default: the vCPUs run at once, no run lock
	 * (SMP.md).  $VMKIT_DBT_SMP=serial: one at a time under run_lock,
	 * kept for debugging. */
	bool parallel;
	unsigned wdelay_us;     /* $VMKIT_DBT_WRITE_DELAY */
	pthread_mutex_t run_lock;
	atomic_int run_waiters;         /* vCPU threads waiting for it */
	atomic_uint run_takes;          /* times it was taken */
	pthread_mutex_t wait_lock;
	pthread_cond_t wake;
	struct dbt_cache *cache;
	struct dbt_jit *jit;    /* NULL: interpreter only */
	struct dbt_cpu *cpus[VM_MAX_CPUS];
	atomic_int stopped;     /* vCPUs halted with interrupts off */
	/* Guest memory written by a thread that does not hold the run
	 * lock (devices' DMA from the I/O thread): the ranges whose
	 * translations a vCPU drops before it runs guest code again. */
	pthread_mutex_t dma_lock;
	atomic_int dma_pending;
	int ndma;
	struct { uint64_t lo, hi; } dma[16];
	/* Exclusive sections (SMP.md M6): excl_pending while one is asked
	 * for or runs; running[i] while vCPU i may touch guest memory
	 * (false when it waits for the run lock, sleeps in HLT, or is
	 * outside dbt_run). */
	pthread_mutex_t excl_lock;
	pthread_cond_t excl_cond;
	atomic_int excl_pending;
	atomic_bool running[VM_MAX_CPUS];
};

/* c's pending link (its last direct exit): only c writes it, other
 * vCPUs' gc reads it (dbt_block_in_use). */
static inline void
set_pending(struct dbt_cpu *c, struct dbt_jit_exit *x)
{
	__atomic_store_n(&c->jit_pending, x, __ATOMIC_RELEASE);
}

/* The vCPU this thread runs guest code for, while it holds the run lock
 * (inside dbt_run); NULL on every other thread. */
static __thread struct dbt_cpu *run_holder;

/* Take the run lock, counted, so a vCPU giving it up can see a taker. */
static void
run_lock(struct dbt_vm *d)
{
	if (d->parallel)
		return;
	atomic_fetch_add(&d->run_waiters, 1);
	pthread_mutex_lock(&d->run_lock);
	atomic_fetch_sub(&d->run_waiters, 1);
	atomic_fetch_add(&d->run_takes, 1);
}

/*
 * The end of a slice: let a waiting vCPU run.  A mutex is not fair, and
 * an unlock followed at once by a lock mostly wins it back, so with a
 * waiter the lock is handed over: this thread yields until the waiter
 * has taken it (a bounded wait).  Without it a vCPU spinning on a lock
 * held by another that waits here (SeaBIOS's CPU start-up) never ends.
 */
static void set_running(struct dbt_vm *d, struct dbt_cpu *c, bool on);

static void
run_unlock(struct dbt_vm *d)
{
	if (!d->parallel)
		pthread_mutex_unlock(&d->run_lock);
}

static void
run_lock_pass(struct dbt_vm *d, struct dbt_cpu *c)
{
	unsigned taken = atomic_load(&d->run_takes);
	int i;

	if (d->parallel)
		return;
	set_running(d, c, false);
	pthread_mutex_unlock(&d->run_lock);
	for (i = 0; i < 1000 && atomic_load(&d->run_waiters) > 0 &&
	    atomic_load(&d->run_takes) == taken; i++)
		sched_yield();
	run_lock(d);
	atomic_store(&d->running[c->index], true);
}

/* vCPU c stops or starts touching guest memory; a stop wakes a vCPU
 * waiting to start an exclusive section. */
static void
set_running(struct dbt_vm *d, struct dbt_cpu *c, bool on)
{
	atomic_store(&d->running[c->index], on);
	if (!on && atomic_load(&d->excl_pending)) {
		pthread_mutex_lock(&d->excl_lock);
		pthread_cond_broadcast(&d->excl_cond);
		pthread_mutex_unlock(&d->excl_lock);
	}
}

static bool
others_running(struct dbt_vm *d, const struct dbt_cpu *c)
{
	int k;

	for (k = 0; k < c->vm->ncpus; k++)
		if (k != c->index && atomic_load(&d->running[k]))
			return true;
	return false;
}

/* A deadline 1 ms from now, for waits that also poll. */
static void
soon(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += 1000 * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Stop every other vCPU at its next quiescent point (the top of its run
 * loop, a HLT, the run lock) and return when none runs guest code: the
 * caller then owns guest memory, for an access the host cannot make
 * atomic (SMP.md M3, M6).  With the run lock no other vCPU runs anyway
 * and this returns at once.  Others asking at the same time go one
 * after the other; one waiting here is itself quiescent.
 */
void
dbt_start_exclusive(struct dbt_cpu *c)
{
	struct dbt_vm *d = c->vm->backend_priv;
	struct timespec ts;
	int k;

	set_running(d, c, false);
	pthread_mutex_lock(&d->excl_lock);
	while (atomic_load(&d->excl_pending)) {
		soon(&ts);
		pthread_cond_timedwait(&d->excl_cond, &d->excl_lock, &ts);
	}
	atomic_store(&d->excl_pending, 1);
	atomic_store(&d->running[c->index], true);
	/* The kick again at every wake-up: a vCPU that had just looked
	 * (excl_idle) and then cleared its attention for a kick of its own
	 * would otherwise run on in compiled code, never looking again. */
	while (others_running(d, c)) {
		dbt_sync_ack(c);
		for (k = 0; k < c->vm->ncpus; k++)
			if (k != c->index && d->cpus[k] != NULL &&
			    atomic_load(&d->running[k]))
				atomic_store(&d->cpus[k]->attn, 1);
		soon(&ts);
		pthread_cond_timedwait(&d->excl_cond, &d->excl_lock, &ts);
	}
	pthread_mutex_unlock(&d->excl_lock);
}

void
dbt_end_exclusive(struct dbt_cpu *c)
{
	struct dbt_vm *d = c->vm->backend_priv;

	pthread_mutex_lock(&d->excl_lock);
	atomic_store(&d->excl_pending, 0);
	pthread_cond_broadcast(&d->excl_cond);
	pthread_mutex_unlock(&d->excl_lock);
}

/*
 * Whether dead block b may still be in use (SMP.md M4): some vCPU's
 * pending link starts in it, or a running vCPU other than c has not
 * passed a quiescent point since b died.  A vCPU that is not running
 * (waiting for the run lock, in HLT, outside dbt_run) is in no block.
 * Under tb_lock.
 */
bool
dbt_block_in_use(struct dbt_cpu *c, const struct dbt_block *b)
{
	struct dbt_vm *d = c->vm->backend_priv;
	struct dbt_jit_exit *pend;
	int k;

	if (d == NULL)
		return c->jit_pending != NULL &&
		    dbt_jit_exit_from(c->jit_pending) == b;
	for (k = 0; k < VM_MAX_CPUS; k++) {
		struct dbt_cpu *o = d->cpus[k];

		if (o == NULL)
			continue;
		pend = __atomic_load_n(&o->jit_pending, __ATOMIC_ACQUIRE);
		if (pend != NULL && dbt_jit_exit_from(pend) == b)
			return true;
		if (o != c && atomic_load(&d->running[k]) &&
		    atomic_load(&o->qs_epoch) < b->dead_epoch)
			return true;
	}
	return false;
}

/* A quiescent point: if an exclusive section is asked for or runs,
 * wait until it has ended. */
static void
excl_idle(struct dbt_vm *d, struct dbt_cpu *c)
{
	struct timespec ts;

	if (!atomic_load(&d->excl_pending))
		return;
	set_running(d, c, false);
	pthread_mutex_lock(&d->excl_lock);
	while (atomic_load(&d->excl_pending)) {
		soon(&ts);
		pthread_cond_timedwait(&d->excl_cond, &d->excl_lock, &ts);
	}
	atomic_store(&d->running[c->index], true);
	pthread_mutex_unlock(&d->excl_lock);
}

/*
 * c runs again after a wait in which it was not running (HLT): running
 * is set first, then an exclusive section looked for, the mirror of
 * dbt_start_exclusive's order (it sets pending, then looks at running),
 * so that one of the two sees the other.  Without the second look a
 * vCPU woken from HLT would take its interrupt, writing guest memory,
 * inside another's exclusive section.
 */
static void
resume_running(struct dbt_vm *d, struct dbt_cpu *c)
{
	atomic_store(&d->running[c->index], true);
	if (atomic_load(&d->excl_pending))
		excl_idle(d, c);
}

/*
 * A page that gains translated code loses its fast write entries in every
 * vCPU's TLB, not only in the translating one's: another vCPU that wrote
 * it as data would otherwise go on writing it past the invalidation of
 * what was translated (cross-modifying code, SDM vol. 3A 8.1.3).  Returns
 * the other vCPUs that had one and may be running guest code (parallel
 * mode): a store of theirs that passed its check before the drop may not
 * have landed yet (dbt_sync_writers).  Under the run lock none is running.
 */
uint64_t
dbt_tlb_drop_writes_all(struct dbt_cpu *c, uint64_t pa)
{
	struct dbt_vm *d = c->vm->backend_priv;
	uint64_t mask = 0;
	int i;

	if (d == NULL) {
		dbt_tlb_drop_writes(c, pa);
		return 0;
	}
	for (i = 0; i < VM_MAX_CPUS; i++)
		if (d->cpus[i] != NULL && dbt_tlb_drop_writes(d->cpus[i], pa) &&
		    d->parallel && d->cpus[i] != c)
			mask |= 1ULL << i;
	return mask;
}

/*
 * c passes a point where it is in no store (SMP.md M5): between guest
 * instructions, outside compiled code, or waiting.  A vCPU that asked
 * (sync_req) since the last time learns that every store this one
 * checked against a write entry before that request has landed: those
 * stores come before this release store, and any check after the
 * acquire load below sees the drop that came before the request.
 */
void
dbt_sync_ack(struct dbt_cpu *c)
{
	unsigned q = atomic_load_explicit(&c->sync_req, memory_order_acquire);

	if (q != atomic_load_explicit(&c->sync_ack, memory_order_relaxed))
		atomic_store_explicit(&c->sync_ack, q, memory_order_release);
}

/*
 * After dropping the write entries of the vCPUs in mask (a page gained
 * code): wait until each has passed dbt_sync_ack or stopped running, so
 * that no store through a dropped entry lands after the translator
 * compares the guest's bytes with what it decoded.  Called with no lock
 * held; it acknowledges others' requests while it waits, so two vCPUs
 * waiting for each other both go on.
 */
void
dbt_sync_writers(struct dbt_cpu *c, uint64_t mask)
{
	struct dbt_vm *d = c->vm->backend_priv;
	unsigned want[VM_MAX_CPUS];
	int k;

	for (k = 0; k < VM_MAX_CPUS; k++)
		if (mask & (1ULL << k))
			want[k] = atomic_fetch_add(&d->cpus[k]->sync_req, 1) + 1;
	while (mask != 0) {
		for (k = 0; k < VM_MAX_CPUS; k++) {
			struct dbt_cpu *o = d->cpus[k];

			if (!(mask & (1ULL << k)))
				continue;
			if (!atomic_load(&d->running[k]) ||
			    (int)(atomic_load_explicit(&o->sync_ack,
			    memory_order_acquire) - want[k]) >= 0) {
				mask &= ~(1ULL << k);
				continue;
			}
			/* Out of compiled code to the loop's top; again on
			 * every turn, as dbt_start_exclusive kicks. */
			atomic_store(&o->attn, 1);
		}
		if (mask == 0)
			break;
		dbt_sync_ack(c);
		sched_yield();
	}
	c->xmc_syncs++;
}

/*
 * Guest memory [gpa, gpa + len) was written behind the CPU's back (mem.c's
 * on_write: device DMA, and the DBT's own writes through the memory map).
 * On a thread that holds the run lock the translations of those pages go
 * now.  Any other thread (the I/O thread's network and disk completions)
 * must not touch the block cache while a vCPU runs: it queues the range
 * and sets every vCPU's attention, and the next vCPU to reach its run
 * loop drops the translations before it runs guest code (dbt_dma_drain).
 * The guest learns of a DMA only after it (a used ring, an interrupt),
 * and what it then reads is the bytes the device wrote.
 */
void
dbt_code_written(struct dbt_cpu *c0, uint64_t gpa, uint64_t len)
{
	struct dbt_vm *d = c0->vm->backend_priv;
	int i, n;

	if (run_holder != NULL || d == NULL) {
		dbt_blocks_invalidate(run_holder ? run_holder : c0, gpa, len);
		return;
	}
	if (len == 0)
		return;
	pthread_mutex_lock(&d->dma_lock);
	n = d->ndma;
	for (i = 0; i < n; i++)
		if (gpa <= d->dma[i].hi && gpa + len >= d->dma[i].lo)
			break;
	if (i == n && n < (int)(sizeof(d->dma) / sizeof(d->dma[0]))) {
		d->dma[i].lo = gpa;
		d->dma[i].hi = gpa + len;
		d->ndma = n + 1;
	} else {
		/* touching one, or no room: merge (a larger range to drop) */
		if (i == n)
			i = n - 1;
		if (gpa < d->dma[i].lo)
			d->dma[i].lo = gpa;
		if (gpa + len > d->dma[i].hi)
			d->dma[i].hi = gpa + len;
	}
	atomic_store(&d->dma_pending, 1);
	pthread_mutex_unlock(&d->dma_lock);
	for (i = 0; i < VM_MAX_CPUS; i++)
		if (d->cpus[i] != NULL)
			atomic_store(d->cpus[i]->attention, 1);
}

/* The ranges dbt_code_written queued: their translations go (run lock). */
static void
dbt_dma_drain(struct dbt_cpu *c, struct dbt_vm *d)
{
	struct { uint64_t lo, hi; } r[sizeof(d->dma) / sizeof(d->dma[0])];
	int i, n;

	if (!atomic_load(&d->dma_pending))
		return;
	pthread_mutex_lock(&d->dma_lock);
	n = d->ndma;
	memcpy(r, d->dma, (size_t)n * sizeof(r[0]));
	d->ndma = 0;
	atomic_store(&d->dma_pending, 0);
	pthread_mutex_unlock(&d->dma_lock);
	for (i = 0; i < n; i++)
		dbt_blocks_invalidate(c, r[i].lo, r[i].hi - r[i].lo);
}

extern const dbt_fn dbt_enders_int[];
extern const dbt_fn dbt_enders_sys[];

bool
dbt_fn_ends_block(dbt_fn fn)
{
	const dbt_fn *t;

	if (fn == dbt_op_ud || fn == dbt_op_gp0)
		return true;
	for (t = dbt_enders_int; *t; t++)
		if (*t == fn)
			return true;
	for (t = dbt_enders_sys; *t; t++)
		if (*t == fn)
			return true;
	return false;
}

void
dbt_op_gp0(struct dbt_cpu *c, const struct insn *i)
{
	(void)i;
	dbt_gp0(c);
}

static int
dbt_probe(struct vm_err *err)
{
	(void)err;
	return 0;
}

static void
kick_cpu(void *opaque, int cpu)
{
	struct vm *vm = opaque;
	struct dbt_vm *d = vm->backend_priv;

	if (d == NULL || cpu < 0 || cpu >= vm->ncpus)
		return;
	if (d->cpus[cpu] == NULL)
		return;         /* not started: nothing to interrupt */
	atomic_store(&d->cpus[cpu]->attn, 1);
	pthread_mutex_lock(&d->wait_lock);
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->wait_lock);
}

static void
dbt_set_irq(struct vm *vm, unsigned gsi, int level)
{
	if (vm->intc != NULL)
		intc_set_irq(vm->intc, gsi, level);
}

static void
dbt_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if (vm->intc != NULL)
		intc_msi(vm->intc, addr, data);
}

static uint64_t
guest_tsc(void *opaque)
{
	struct dbt_cpu *c = opaque;

	return c ? dbt_rdtsc(c) : 0;
}

/* The tier: vm.yaml/--dbt-tier, else $VMKIT_DBT_TIER, else the
 * translator. */
static bool
dbt_tier_jit(const struct vm *vm)
{
	const char *t = vm->cfg ? vm->cfg->dbt_tier : "";

	if (t[0] == '\0')
		t = getenv("VMKIT_DBT_TIER");
	return t == NULL || t[0] == '\0' || strcmp(t, "interp") != 0;
}

static int
dbt_vm_init(struct vm *vm, struct vm_err *err)
{
	struct dbt_vm *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&d->run_lock, NULL);
	pthread_mutex_init(&d->wait_lock, NULL);
	pthread_mutex_init(&d->dma_lock, NULL);
	pthread_mutex_init(&d->excl_lock, NULL);
	pthread_cond_init(&d->excl_cond, NULL);
	pthread_cond_init(&d->wake, NULL);
	{
		const char *m = getenv("VMKIT_DBT_SMP");

		d->parallel = true;
		if (m != NULL && m[0] != '\0' && strcmp(m, "parallel") != 0) {
			if (strcmp(m, "serial") != 0) {
				free(d);
				return vm_err_set(err, -EINVAL, "VMKIT_DBT_SMP="
				    "%s: want serial or parallel", m);
			}
			d->parallel = false;
		}
	}
	{
		/* Testing: every store through a fast write entry on the
		 * interpreter's side sleeps this many microseconds between
		 * its check and the store (SMP.md M5's window, widened). */
		const char *w = getenv("VMKIT_DBT_WRITE_DELAY");
		char *end;

		if (w != NULL && w[0] != '\0') {
			unsigned long us = strtoul(w, &end, 10);

			if (*end != '\0' || us > 100000) {
				free(d);
				return vm_err_set(err, -EINVAL,
				    "VMKIT_DBT_WRITE_DELAY=%s: want a number "
				    "of microseconds, at most 100000", w);
			}
			d->wdelay_us = (unsigned)us;
		}
	}
	d->cache = dbt_cache_new();
	if (d->cache == NULL) {
		free(d);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	dbt_ops_init();
	if (dbt_tier_jit(vm)) {
		d->jit = dbt_jit_new(vm->cfg ? vm->cfg->dbt_cache : 0);
		if (d->jit == NULL)
			log_warnx("cannot map the translator's code cache: "
			    "running on the interpreter");
	}
	vm->backend_priv = d;
	if (vm->intc_elsewhere)
		return 0;
	vm->intc = intc_new(vm, vm->ncpus, kick_cpu, vm, err);
	if (vm->intc == NULL) {
		dbt_cache_free(d->cache);
		free(d);
		vm->backend_priv = NULL;
		return err ? err->code : -ENOMEM;
	}
	return 0;
}

static void
dbt_vm_fini(struct vm *vm)
{
	struct dbt_vm *d = vm->backend_priv;

	if (d == NULL)
		return;
	if (vm->intc != NULL) {
		intc_free(vm->intc);
		vm->intc = NULL;
	}
	dbt_cache_free(d->cache);
	dbt_jit_free(d->jit);
	free(d);
	vm->backend_priv = NULL;
}

static int
dbt_vcpu_init(struct vcpu *v, struct vm_err *err)
{
	struct dbt_vm *d = v->vm->backend_priv;
	struct dbt_cpu *c;
	struct x86_state st;

	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (c == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	memset(c, 0, sizeof(*c));
	memset(&c->tlb_none, 0xff, sizeof(c->tlb_none));  /* never hits */
	c->hx = dbt_hx_new();
	if (c->hx == NULL) {
		free(c);
		return vm_err_set(err, -ENOMEM, "cannot map the DBT's code "
		    "arena");
	}
	c->vm = v->vm;
	c->vcpu = v;
	c->index = v->id;
	c->attention = &c->attn;
	c->smp_parallel = d->parallel;
	c->wdelay_us = d->wdelay_us;
	c->blocks = d->cache;
	c->jit = d->jit;
	dbt_jit_add_cpu(d->jit, c);
	c->jc_gen = 1;
	c->exc_vector = -1;
	d->cpus[v->id] = c;
	cpu_reset_state(&st, v->id);
	dbt_state_set(c, &st);
	dbt_blocks_init(c);
	if (v->id == 0 && v->vm->intc != NULL)
		intc_set_tsc_fn(v->vm->intc, guest_tsc, c);
	v->priv = c;
	return 0;
}

static void
dbt_vcpu_fini(struct vcpu *v)
{
	struct dbt_cpu *c = v->priv;

	if (c == NULL)
		return;
	dbt_blocks_fini(c);
	dbt_hx_free(c->hx);
	free(c);
	v->priv = NULL;
}

/* Fetch the code at RIP without letting a fault escape. */
static const uint8_t *
try_fetch(struct dbt_cpu *c, int *avail)
{
	const uint8_t *volatile code = NULL;
	jmp_buf save;
	uint64_t pa;

	memcpy(save, c->jmp, sizeof(save));
	if (setjmp(c->jmp) == 0)
		code = dbt_fetch(c, c->rip_lin, &pa, avail);
	memcpy(c->jmp, save, sizeof(save));
	return code;
}

static void
diag_here(struct dbt_cpu *c, const char *what)
{
	char bytes[64] = "";
	int avail = 0, k, n = 0;
	const uint8_t *code = try_fetch(c, &avail);

	for (k = 0; code && k < 15 && k < avail; k++)
		n += snprintf(bytes + n, sizeof(bytes) - (size_t)n, "%s%02x",
		    k ? " " : "", code[k]);
	snprintf(c->diag, sizeof(c->diag),
	    "DBT: %s in %s mode at CS:RIP %04x:%016llx (bytes %s)", what,
	    c->long64 ? "64-bit" : c->code32 ? "32-bit protected" :
	    c->pe ? (c->v86 ? "virtual-8086" : "16-bit protected") : "real",
	    c->seg[X86_CS].sel, (unsigned long long)c->rip,
	    bytes[0] ? bytes : "unreadable");
}

/* --log dbt: one line per block executed, with its first bytes. */
static void
trace_block(struct dbt_cpu *c, const struct dbt_block *b)
{
	char bytes[3 * 48 + 1] = "";
	int avail = 0, k, n = 0;
	const uint8_t *code = try_fetch(c, &avail);

	for (k = 0; code && k < 48 && k < avail; k++)
		n += snprintf(bytes + n, sizeof(bytes) - (size_t)n, "%02x",
		    code[k]);
	log_debug(LOG_DBT, "cpu%d %04x:%016llx %s n=%d rax=%llx rsp=%llx "
	    "fl=%llx %s", c->index, c->seg[X86_CS].sel,
	    (unsigned long long)c->rip, c->long64 ? "64" : c->code32 ? "32" :
	    "16", b->n, (unsigned long long)c->gpr[0],
	    (unsigned long long)c->gpr[4], (unsigned long long)c->rflags,
	    bytes);
}

static uint64_t
ip_mask(const struct dbt_cpu *c)
{
	return c->long64 ? ~0ULL : c->code32 ? 0xffffffffULL : 0xffffULL;
}

/*
 * Wait while halted.  A vCPU halted with interrupts off (or waiting for a
 * SIPI) wakes only for INIT, SIPI or NMI; when every vCPU is halted with
 * interrupts off nothing can ever wake them, and the answer is false (the
 * VM ends as if powered off).  That is how Linux leaves the other CPUs
 * when it stops, so one of them doing it says nothing by itself.
 */
static bool
wait_halted(struct dbt_cpu *c, struct dbt_vm *d)
{
	struct timespec ts;
	bool stopped = false;
	int ncpus = c->vm->ncpus;

	while (c->halted && !atomic_load(c->attention) &&
	    atomic_load(&c->vm->exit_reason) == VM_RUNNING) {
		bool irq_ok = (c->rflags & X86_IF) && !c->sipi_wait;

		if (c->vm->intc == NULL)
			return false;
		/* Waiting for a SIPI counts: only a running CPU sends one. */
		if (!irq_ok && !stopped) {
			stopped = true;
			if (atomic_fetch_add(&d->stopped, 1) + 1 >= ncpus) {
				atomic_fetch_sub(&d->stopped, 1);
				return false;
			}
		}
		/* Something for this vCPU: an interrupt it can take, or an
		 * event (NMI, INIT, SIPI) that check_interrupts handles. */
		if (intc_has_interrupt(c->vm->intc, c->index)) {
			bool ev;

			if (irq_ok)
				break;
			pthread_mutex_lock(&c->vm->io_lock);
			ev = intc_has_event(c->vm->intc, c->index);
			pthread_mutex_unlock(&c->vm->io_lock);
			if (ev)
				break;
		}
		set_running(d, c, false);
		run_unlock(d);
		pthread_mutex_lock(&d->wait_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!atomic_load(c->attention))
			pthread_cond_timedwait(&d->wake, &d->wait_lock, &ts);
		pthread_mutex_unlock(&d->wait_lock);
		run_lock(d);
		resume_running(d, c);
		if (atomic_load(c->attention) &&
		    !atomic_load(&c->vcpu->kicked))
			atomic_store(c->attention, 0);
	}
	if (stopped)
		atomic_fetch_sub(&d->stopped, 1);
	return true;
}

static void
exec_block(struct dbt_cpu *c, struct dbt_block *b)
{
	uint64_t mask = ip_mask(c);
	int k;

	c->cur_block = b;
	c->block_dirty = false;
	for (k = 0; k < b->n; k++) {
		const struct insn *i = &b->insns[k];
		bool shadow = c->irq_shadow;
		uint64_t seq = (c->rip + i->len) & mask;

		c->irq_shadow = false;
		c->next_rip = seq;
		i->fn(c, i);
		dbt_smap_check(c);
		c->rip = c->next_rip;
		c->icount++;
		/* A taken branch inside the block (Jcc) leaves it. */
		if (c->next_rip != seq)
			break;
		/* The instruction after STI / MOV SS ends the block so a
		 * pending interrupt is taken right after it. */
		if (c->block_dirty || shadow || c->halted || c->step_one)
			break;
	}
	c->cur_block = NULL;
}

/*
 * One instruction of b with RFLAGS.TF set or a breakpoint armed in DR7
 * (SDM vol. 3A, 17.2 and 17.3), on the interpreter:
 * - an instruction breakpoint (DRn with Ln or Gn set, R/Wn 00) on its
 *   address is a fault before it, unless RF is set: #DB with the DRn's
 *   B bit set in DR6 (DR6's bits are sticky: the handler clears them);
 * - with TF set when it began, a trap after it: #DB with DR6.BS set and
 *   the next instruction's address pushed.  Not after the POPF or IRET
 *   that set TF (it was clear when they began), not after a MOV SS or
 *   POP SS (it comes after the next instruction, 6.8.3), not after one
 *   that delivered an interrupt or exception (the handler runs with TF
 *   clear; the IRET back restores it).
 * - a data breakpoint (R/Wn 01 writes, 11 reads and writes) or an I/O
 *   breakpoint (R/Wn 10, CR4.DE) the instruction hit (mmu.c,
 *   dbt_watch_update): a trap after it with the DRn's B bit, and BS as
 *   well when TF was set (17.2.4, 17.3.1.2); held past a MOV SS with
 *   the single-step trap (6.8.3).
 * A REP string instruction does one iteration per step: each its own
 * trap, with RIP still on the instruction and RF in the pushed EFLAGS
 * until the last (17.3.1.1).  DR7.GD is sys.c's (op_mov_dr).  A data
 * breakpoint an event delivery's own pushes hit is dbt_deliver's.
 */
/* #DB, with DR7.GD cleared for its handler (17.2.4). */
static _Noreturn void
raise_db(struct dbt_cpu *c)
{
	c->dr[7] &= ~(uint64_t)(1u << 13);
	dbt_raise_noerr(c, X86_EXC_DB);
}

static void
debug_step(struct dbt_cpu *c, struct dbt_block *b)
{
	bool tf = (c->rflags & X86_TF) != 0;
	uint32_t dr7 = (uint32_t)c->dr[7], hit = 0, delivered;
	int n;

	if (!(c->rflags & X86_RF))
		for (n = 0; n < 4; n++)
			if (((dr7 >> (2 * n)) & 3) != 0 &&
			    ((dr7 >> (16 + 4 * n)) & 3) == 0 &&
			    c->dr[n] == c->rip_lin)
				hit |= 1u << n;
	if (hit != 0) {
		c->dr[6] |= hit;
		raise_db(c);
	}
	c->rflags &= ~(uint64_t)X86_RF;
	set_pending(c, NULL);
	c->ss_shadow = false;
	delivered = c->deliveries;
	c->jit_budget--;
	c->step_one = true;
	c->str_one = tf || c->watch != 0 || c->io_watch != 0;
	c->watch_hits = 0;
	exec_block(c, b);
	c->step_one = false;
	c->str_one = false;
	hit = c->watch_hits | c->watch_held;
	c->watch_hits = c->watch_held = 0;
	if (c->ss_shadow) {
		c->watch_held = (uint8_t)hit;
	} else if ((tf || hit != 0) && c->deliveries == delivered &&
	    c->exit_reason == CPU_EXIT_NONE) {
		c->dr[6] |= hit | (tf ? 1u << 14 : 0);  /* B0-B3, BS */
		raise_db(c);    /* RF: op_string's */
	}
	c->ss_shadow = false;
}

/*
 * The compiled block at c->rip_lin from the jump cache, if it has one:
 * the translator's own lookup, which every TLB flush empties, so it is
 * valid under the current mappings without a fetch through the TLB.
 */
static struct dbt_block *
jc_block(struct dbt_cpu *c)
{
	const struct dbt_jc_entry *x = &c->jc[dbt_jc_index(c->rip_lin)];

	/* gen: another vCPU's dbt_jit_forget may clear it (SMP.md M8). */
	if (c->jit == NULL ||
	    __atomic_load_n(&x->gen, __ATOMIC_ACQUIRE) != c->jc_gen ||
	    x->lin != c->rip_lin ||
	    x->mode_key != c->mode_key || x->block == NULL ||
	    !x->block->valid)
		return NULL;
	return x->block;
}

/*
 * Run block b: compiled code where the translator takes it, else the
 * interpreter.  The instruction after an interrupt shadow (STI, MOV SS)
 * always runs on the interpreter, which ends the block right after it.
 * A direct exit the compiled code left by is linked to the next block
 * once that is known (run loop).
 */
static void
run_block(struct dbt_cpu *c, struct dbt_block *b)
{
	dbt_smap_check(c);      /* after an exception or interrupt */
	/* A statistic every vCPU bumps: lost counts are fine, a locked
	 * add on every dispatch is not. */
	__atomic_store_n(&b->execs, __atomic_load_n(&b->execs,
	    __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
	if (c->jit != NULL && !c->irq_shadow) {
		bool ok;

		/* Compiling, linking and the jump cache's entry change the
		 * shared translation state: tb_lock (SMP.md, M1). */
		dbt_tb_lock(c);
		ok = dbt_jit_compile(c, b) && b->valid;
		if (ok) {
			if (c->jit_pending != NULL)
				dbt_jit_link(c, c->jit_pending, b);
			dbt_jit_remember(c, b);
		}
		dbt_tb_unlock(c);
		if (ok) {
			set_pending(c, dbt_jit_run(c, b));
			return;
		}
	}
	set_pending(c, NULL);
	c->jit_budget--;
	exec_block(c, b);
}

/*
 * The instruction at c->rip, whose LOCKed operand the host cannot update
 * atomically, run by the interpreter while no other vCPU runs, and with
 * io_lock held so that a device sees its read and write as one (SMP.md
 * M3).  A fault inside returns through the run loop's setjmp, which
 * ends the section.  False if the code cannot be fetched.
 */
static bool
run_exclusive(struct dbt_cpu *c)
{
	struct dbt_block *b;

	set_pending(c, NULL);
	dbt_start_exclusive(c);
	pthread_mutex_lock(&c->vm->io_lock);
	c->in_excl = true;
	/* The block is looked up inside the section: one found before it
	 * could be freed by the vCPU that had the section first (an arena
	 * flush).  A fault in the fetch ends the section (run loop). */
	c->rip_lin = c->long64 ? c->rip :
	    (c->seg[X86_CS].base + c->rip) & 0xffffffffULL;
	b = dbt_block_get(c);
	if (b == NULL) {
		c->in_excl = false;
		pthread_mutex_unlock(&c->vm->io_lock);
		dbt_end_exclusive(c);
		if (c->diag[0] == '\0')
			diag_here(c, "cannot fetch code");
		c->exit_reason = CPU_EXIT_ERROR;
		return false;
	}
	c->step_one = true;
	c->excl_runs++;
	c->rflags &= ~(uint64_t)X86_RF;
	exec_block(c, b);
	c->in_excl = false;
	c->step_one = false;
	pthread_mutex_unlock(&c->vm->io_lock);
	dbt_end_exclusive(c);
	return c->exit_reason == CPU_EXIT_NONE;
}

static int
dbt_run(struct vcpu *v, struct cpu_exit *ex)
{
	struct dbt_cpu *c = v->priv;
	struct dbt_vm *d = v->vm->backend_priv;
	struct dbt_block *b;
	bool trace = log_cat_on(LOG_DBT);
	uint64_t stop_at = v->insn_budget ? 0 : UINT64_MAX;

	run_lock(d);
	atomic_store(&d->running[c->index], true);
	if (v->insn_budget)
		stop_at = c->icount + v->insn_budget;
	run_holder = c;
	c->diag[0] = '\0';
	c->exit_reason = CPU_EXIT_NONE;
	c->jit_budget = DBT_SLICE;
	set_pending(c, NULL);
	if (setjmp(c->jmp) != 0) {
		/* A fault or trap was raised: deliver it. */
		c->cur_block = NULL;
		set_pending(c, NULL);
		if (c->in_excl) {
			/* It faulted, or ended: the others run again. */
			c->in_excl = false;
			c->step_one = false;
			pthread_mutex_unlock(&c->vm->io_lock);
			dbt_end_exclusive(c);
		}
		if (c->atom_excl) {
			c->atom_excl = false;
			if (!run_exclusive(c))
				goto out;
		}
		if (c->exc_vector >= 0) {
			int vec = c->exc_vector;

			if (log_cat_on(LOG_CPU))
				log_debug(LOG_CPU, "cpu%d exception %d (%#x) "
				    "at %llx cr2 %llx", c->index, vec,
				    c->exc_error, (unsigned long long)c->rip,
				    (unsigned long long)c->cr2);

			c->exc_vector = -1;
			dbt_deliver(c, vec, c->exc_has_error, c->exc_error,
			    false);
		}
		if (c->exit_reason != CPU_EXIT_NONE)
			goto out;
	}
	for (;;) {
		dbt_sync_ack(c);
		if (c->npinned != 0)
			dbt_blocks_unpin(c);
		excl_idle(d, c);
		if (c->flush_wanted) {
			c->flush_wanted = false;
			set_pending(c, NULL);
			dbt_start_exclusive(c);
			dbt_tb_lock(c);
			dbt_jit_flush_arena(c);
			dbt_tb_unlock(c);
			dbt_end_exclusive(c);
		}
		if (atomic_load(c->attention)) {
			atomic_store(c->attention, 0);
			if (atomic_load(&v->kicked) ||
			    atomic_load(&v->vm->exit_reason) != VM_RUNNING) {
				ex->reason = CPU_EXIT_KICKED;
				break;
			}
		}
		if (c->halted) {
			/* A sleeping vCPU holds no block (dbt_block_in_use):
			 * the link it would make is not worth keeping one. */
			set_pending(c, NULL);
			if (!wait_halted(c, d)) {
				ex->reason = CPU_EXIT_HLT;
				break;
			}
			if (atomic_load(&v->kicked) ||
			    atomic_load(&v->vm->exit_reason) != VM_RUNNING) {
				ex->reason = CPU_EXIT_KICKED;
				break;
			}
		}
		c->exc_depth = 0;
		/* Devices' writes queued by other threads (while this vCPU
		 * ran, or slept), before any guest code runs. */
		dbt_dma_drain(c, d);
		if (c->vm->intc != NULL)
			dbt_check_interrupts(c);
		if (c->halted)
			continue;
		/* The pending link's source must outlive the gc below. */
		if (c->jit_pending != NULL &&
		    !dbt_jit_exit_from(c->jit_pending)->valid)
			set_pending(c, NULL);
		dbt_blocks_gc(c);
		c->rip_lin = c->long64 ? c->rip :
		    (c->seg[X86_CS].base + c->rip) & 0xffffffffULL;
		b = trace ? NULL : jc_block(c);
		if (b == NULL)
			b = dbt_block_get(c);
		if (b == NULL) {
			if (c->diag[0] == '\0')
				diag_here(c, "cannot fetch code");
			c->exit_reason = CPU_EXIT_ERROR;
			goto out;
		}
		/* Single-stepping or a breakpoint armed: one instruction at
		 * a time, on the interpreter. */
		if ((c->rflags & X86_TF) || (c->dr[7] & 0xff)) {
			debug_step(c, b);
			goto next;
		}
		/* RF (restored by an IRET from a fault frame, or set by a
		 * REP string instruction stopped between iterations) lasts
		 * for one instruction; both end a block.
		 * All it suppresses is an instruction breakpoint, which
		 * debug_step looks for: it goes before the block. */
		c->rflags &= ~(uint64_t)X86_RF;
		if (trace) {
			trace_block(c, b);
			set_pending(c, NULL);
			c->jit_budget--;
			exec_block(c, b);
		} else {
			run_block(c, b);
		}
next:
		if (c->exit_reason != CPU_EXIT_NONE)
			goto out;
		if (c->icount >= stop_at) {
			ex->reason = CPU_EXIT_KICKED;
			break;
		}
		if (c->jit_budget <= 0) {
			c->jit_budget = DBT_SLICE;
			set_pending(c, NULL);
			run_lock_pass(d, c);
		}
	}
	set_pending(c, NULL);
	run_holder = NULL;
	set_running(d, c, false);
	run_unlock(d);
	return 0;
out:
	set_pending(c, NULL);
	ex->reason = (enum cpu_exit_reason)c->exit_reason;
	if (ex->reason == CPU_EXIT_ERROR && c->diag[0] == '\0')
		diag_here(c, "emulation failure");
	snprintf(ex->diag, sizeof(ex->diag), "%s", c->diag);
	c->exit_reason = CPU_EXIT_NONE;
	run_holder = NULL;
	set_running(d, c, false);
	run_unlock(d);
	return 0;
}

static void
dbt_kick(struct vcpu *v)
{
	kick_cpu(v->vm, v->id);
}

/* The dirty log was taken, the vCPU parked (vm_pause). */
static void
dbt_dirty_log_sync(struct vcpu *v)
{
	struct dbt_cpu *c = v->priv;

	if (c != NULL)
		dbt_tlb_drop_all_writes(c);
}

/* The guest TSC is the host's plus an offset: take the pause out. */
static void
dbt_clock_stood(struct vcpu *v, uint64_t ns)
{
	struct dbt_cpu *c = v->priv;
	unsigned __int128 ticks = (unsigned __int128)ns * cpu_tsc_hz() /
	    1000000000u;

	if (c != NULL)
		c->tsc_offset -= (int64_t)ticks;
}

static int
dbt_get(struct vcpu *v, struct x86_state *st)
{
	dbt_state_get(v->priv, st);
	return 0;
}

static int
dbt_set(struct vcpu *v, const struct x86_state *st)
{
	dbt_state_set(v->priv, st);
	return 0;
}

static void
dbt_stats(struct vm *vm)
{
	struct dbt_vm *d = vm->backend_priv;
	uint64_t icount = 0, hits = 0, misses = 0, fl = 0, fll = 0, flp = 0;
	uint64_t jcf = 0, excl = 0, syncs = 0;
	int i;

	if (d == NULL)
		return;
	for (i = 0; i < vm->ncpus; i++) {
		if (d->cpus[i] == NULL)
			continue;
		icount += d->cpus[i]->icount;
		hits += d->cpus[i]->tlb_hits;
		misses += d->cpus[i]->tlb_misses;
		fl += d->cpus[i]->tlb_flushes;
		fll += d->cpus[i]->tlb_flushes_local;
		flp += d->cpus[i]->tlb_flushes_page;
		jcf += d->cpus[i]->jc_flushes;
		excl += d->cpus[i]->excl_runs;
		syncs += d->cpus[i]->xmc_syncs;
	}
	fprintf(stderr, "dbt: %d vCPU%s, %s\n", vm->ncpus,
	    vm->ncpus == 1 ? "" : "s", d->parallel ? "running at once "
	    "(parallel)" : "taking turns (VMKIT_DBT_SMP=serial)");
	/* Hits counted here are the C paths' only: the translator's inline
	 * probes do not count theirs. */
	fprintf(stderr, "dbt: %llu instructions retired, %llu blocks "
	    "translated, TLB %llu misses (%.2f%% of the slow-path lookups), "
	    "flushes: %llu full, %llu non-global, %llu pages; %llu jump-cache "
	    "flushes; %llu LOCKed accesses run exclusively; %llu waits for "
	    "other vCPUs' stores to a page gaining code\n",
	    (unsigned long long)icount,
	    (unsigned long long)(d->cpus[0] ?
	    dbt_blocks_translated(d->cpus[0]) : 0),
	    (unsigned long long)misses,
	    hits + misses ? 100.0 * (double)misses / (double)(hits + misses) :
	    0.0, (unsigned long long)fl, (unsigned long long)fll,
	    (unsigned long long)flp, (unsigned long long)jcf,
	    (unsigned long long)excl, (unsigned long long)syncs);
	{
		char buf[1024];

		dbt_jit_stats(d->jit, buf, sizeof(buf));
		fprintf(stderr, "dbt: %s\n", buf);
	}
}

const struct cpu_backend_ops dbt_backend = {
	.name = "dbt",
	.probe = dbt_probe,
	.has_irqchip = false,
	.vm_init = dbt_vm_init,
	.vm_fini = dbt_vm_fini,
	.vcpu_init = dbt_vcpu_init,
	.vcpu_fini = dbt_vcpu_fini,
	.run = dbt_run,
	.kick = dbt_kick,
	.get_state = dbt_get,
	.set_state = dbt_set,
	.clock_stood = dbt_clock_stood,
	.dirty_log_sync = dbt_dirty_log_sync,
	.set_irq = dbt_set_irq,
	.msi = dbt_msi,
	.print_stats = dbt_stats,
};
