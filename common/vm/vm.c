/*
 * struct vm: the lifecycle of one virtual machine.
 *
 * vm_create builds, in order: guest RAM (pc_init_memory), the back end's
 * per-VM state (KVM: the VM fd, memory slots, in-kernel irqchip; DBT: the
 * user-space interrupt controllers), the board's devices (pc_init), the
 * vCPUs, and the boot loader's initial vCPU state.  vm_run starts one host
 * thread per vCPU and runs the event loop (console, timers) on the calling
 * thread until something asks the VM to stop; vm_request_exit is that
 * request, from any thread: the first reason wins, every vCPU is kicked
 * and the event loop returns.  vm_pause kicks every vCPU too, but its
 * thread then parks on pause_cond (outside run(), so at an instruction
 * boundary with no back-end lock held) until vm_resume; the VM clock
 * stands meanwhile (util/evloop.h).  vm_create_bare stops after the RAM, the
 * back end and the vCPUs, for harnesses that build the guest themselves.
 */
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "dev/acpi-pm.h"
#include "dev/dev.h"
#include "hw/boot.h"
#include "hw/bus.h"
#include "hw/pci.h"
#include "hw/pc.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/hybrid.h"
#include "vm/live.h"
#include "vm/snapshot.h"

struct vcpu_thread {
	pthread_t tid;
	struct vcpu *vcpu;
	bool started;
};

static struct vcpu_thread threads[VM_MAX_CPUS];

static void kick_all(struct vm *vm);

void
vm_request_exit(struct vm *vm, enum vm_exit_reason reason, int status,
    const char *diag)
{
	int expected = VM_RUNNING;

	if (!atomic_compare_exchange_strong(&vm->exit_reason, &expected,
	    (int)reason))
		return;
	vm->exit_status = status;
	snprintf(vm->exit_diag, sizeof(vm->exit_diag), "%s",
	    diag ? diag : "");
	kick_all(vm);
	if (vm->loop)
		evloop_stop(vm->loop);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void
kick_all(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i] == NULL)
			continue;
		atomic_store(&vm->vcpus[i]->kicked, 1);
		if (vm->backend && vm->backend->kick)
			vm->backend->kick(vm->vcpus[i]);
	}
}

int
vm_pause(struct vm *vm)
{
	int depth = 0;

	if (atomic_load(&vm->exit_reason) != VM_RUNNING)
		return -ESHUTDOWN;
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused || atomic_load(&vm->pause_req)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return -EALREADY;
	}
	atomic_store(&vm->pause_req, 1);
	pthread_mutex_unlock(&vm->pause_lock);
	/* pause_req is set before kicked: a vCPU clears kicked, then looks
	 * at pause_req (vcpu_main), so it cannot miss both. */
	kick_all(vm);
	/* A vCPU may be waiting for the I/O lock inside run(): give it up
	 * (all of it: it is recursive; unlocking one not held fails). */
	while (pthread_mutex_unlock(&vm->io_lock) == 0)
		depth++;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < vm->active &&
	    atomic_load(&vm->exit_reason) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	if (atomic_load(&vm->exit_reason) == VM_RUNNING) {
		clock_stop();
		vm->paused = true;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	while (depth-- > 0)
		pthread_mutex_lock(&vm->io_lock);
	return vm->paused ? 0 : -ESHUTDOWN;
}

/* The VM is gone or going: its clock must not stay stopped for the next
 * one (a reboot builds a new VM in the same process). */
static void
pause_end(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused)
		clock_start();
	vm->paused = false;
	atomic_store(&vm->pause_req, 0);
	pthread_mutex_unlock(&vm->pause_lock);
}

int
vm_resume(struct vm *vm)
{
	uint64_t stood;
	int i;

	pthread_mutex_lock(&vm->pause_lock);
	if (!vm->paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return -EALREADY;
	}
	stood = clock_start();
	for (i = 0; i < vm->ncpus && stood; i++)
		if (vm->vcpus[i] != NULL && vm->backend->clock_stood)
			vm->backend->clock_stood(vm->vcpus[i], stood);
	vm->paused = false;
	atomic_store(&vm->pause_req, 0);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (vm->loop)
		evloop_wakeup(vm->loop);
	return 0;
}

bool
vm_is_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->pause_lock);
	p = vm->paused;
	pthread_mutex_unlock(&vm->pause_lock);
	return p;
}

/* A vCPU thread between two run() calls: park while a pause is asked. */
static void
vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) &&
	    atomic_load(&vm->exit_reason) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Look a device up by its id (vm-run's console finds "vga", "i8042"). */
struct dev *
vm_find_device(struct vm *vm, const char *id)
{
	struct dev *d;

	for (d = vm->devs; d != NULL; d = d->next)
		if (strcmp(d->id, id) == 0)
			return d;
	return NULL;
}

int
vm_power_button(struct vm *vm)
{
	struct dev *d;

	for (d = vm->devs; d != NULL; d = d->next)
		if (strcmp(d->type->name, "acpi-pm") == 0) {
			acpi_pm_power_button(d);
			return 0;
		}
	return -ENODEV;
}

struct dev *
vm_add_device(struct vm *vm, const char *type, const char *id,
    const void *arg, struct vm_err *err)
{
	const struct dev_type *t = dev_type_find(type);
	struct dev *d;
	int ret;

	if (t == NULL) {
		vm_err_set(err, -ENOENT, "no device type '%s'", type);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		vm_err_set(err, -ENOMEM, "%s: out of memory", id);
		return NULL;
	}
	d->type = t;
	d->vm = vm;
	snprintf(d->id, sizeof(d->id), "%s", id);
	if (t->priv_size) {
		d->priv = calloc(1, t->priv_size);
		if (d->priv == NULL) {
			free(d);
			vm_err_set(err, -ENOMEM, "%s: out of memory", id);
			return NULL;
		}
	}
	ret = t->realize(d, vm, arg, err);
	if (ret < 0) {
		free(d->priv);
		free(d);
		return NULL;
	}
	d->next = vm->devs;
	vm->devs = d;
	return d;
}

static void
irq_set_level(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;

	vm->backend->set_irq(vm, gsi, level);
}

static void
irq_send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct vm *vm = opaque;

	vm->backend->msi(vm, addr, data);
}

static int
vm_boot(struct vm *vm, struct vm_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	struct x86_state st;
	int i, ret;

	for (i = 0; i < vm->ncpus; i++) {
		memset(&st, 0, sizeof(st));
		cpu_reset_state(&st, i);
		if (i > 0) {
			/* APs wait for INIT/SIPI from the BSP. */
			ret = vm->backend->set_state(vm->vcpus[i], &st);
			if (ret < 0)
				return vm_err_set(err, ret,
				    "vCPU %d: cannot set its initial state", i);
			continue;
		}
		if (cfg->boot.firmware[0] != '\0') {
			/* The reset vector: the state cpu_reset_state gave. */
			ret = 0;
		} else if (cfg->boot.kernel[0] == '\0')
			return vm_err_set(err, -EINVAL,
			    "nothing to boot: give a kernel (--kernel or "
			    "boot.kernel)");
		else if (boot_is_multiboot(cfg->boot.kernel))
			ret = boot_multiboot(vm, cfg->boot.kernel,
			    cfg->boot.cmdline, &st, err);
		else
			ret = boot_linux_ex(vm, cfg->boot.kernel,
			    cfg->boot.initrd[0] ? cfg->boot.initrd : NULL,
			    cfg->boot.cmdline,
			    cfg->boot.decompress == CFG_DECOMPRESS_GUEST ?
			    BOOT_LINUX_GUEST_DECOMPRESS : 0, &st, NULL, err);
		if (ret < 0)
			return ret;
		ret = vm->backend->set_state(vm->vcpus[0], &st);
		if (ret < 0)
			return vm_err_set(err, ret,
			    "cannot set the boot vCPU's state");
	}
	return 0;
}

/* The parts every VM has: RAM, buses, the back end's per-VM state. */
static struct vm *
vm_new(const struct vm_config *cfg, const struct cpu_backend_ops *backend,
    struct chardev *console, uint64_t restore_fw_len, bool restoring,
    struct vm_err *err)
{
	pthread_mutexattr_t attr;
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (vm == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	vm->cfg = cfg;
	vm->backend = backend;
	vm->console = console;
	vm->ncpus = cfg->cpus;
	vm->ram_size = cfg->memory;
	vm->restore_fw_len = restore_fw_len;
	vm->restoring = restoring;
	mem_init(&vm->mem);
	vm->mem.huge_pages = backend->huge_ram;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&vm->io_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->pio = bus_new("pio", &vm->io_lock);
	vm->mmio = bus_new("mmio", &vm->io_lock);
	vm->loop = evloop_new(&vm->io_lock);
	if (vm->pio == NULL || vm->mmio == NULL || vm->loop == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		goto err_free;
	}
	vm->irq.set_level = irq_set_level;
	vm->irq.msi = irq_send_msi;
	vm->irq.opaque = vm;

	ret = pc_init_memory(vm, err);
	if (ret < 0)
		goto err_free;
	ret = backend->vm_init(vm, err);
	if (ret < 0)
		goto err_free;
	return vm;

err_free:
	vm_destroy(vm);
	return NULL;
}

static int
vm_add_vcpus(struct vm *vm, struct vm_err *err)
{
	int i, ret;

	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = calloc(1, sizeof(*v));

		if (v == NULL)
			return vm_err_set(err, -ENOMEM, "out of memory");
		v->id = i;
		v->vm = vm;
		vm->vcpus[i] = v;
		ret = vm->backend->vcpu_init(v, err);
		if (ret < 0) {
			vm->vcpus[i] = NULL;
			free(v);
			return ret;
		}
	}
	return 0;
}

struct vm *
vm_create(const struct vm_config *cfg, const struct cpu_backend_ops *backend,
    struct chardev *console, struct vm_err *err)
{
	return vm_create_ex(cfg, backend, console, 0, err);
}

/* Every vCPU at its reset state, nothing loaded: a snapshot replaces it. */
static int
vm_boot_none(struct vm *vm, struct vm_err *err)
{
	struct x86_state st;
	int i, ret;

	for (i = 0; i < vm->ncpus; i++) {
		memset(&st, 0, sizeof(st));
		cpu_reset_state(&st, i);
		ret = vm->backend->set_state(vm->vcpus[i], &st);
		if (ret < 0)
			return vm_err_set(err, ret,
			    "vCPU %d: cannot set its initial state", i);
	}
	return 0;
}

static struct vm *
vm_build(const struct vm_config *cfg, const struct cpu_backend_ops *backend,
    struct chardev *console, unsigned flags, uint64_t restore_fw_len,
    bool restoring, struct vm_err *err)
{
	struct vm *vm;
	int ret;

	vm = vm_new(cfg, backend, console, restore_fw_len, restoring, err);
	if (vm == NULL)
		return NULL;
	/* The back end may have replaced the router (KVM); keep ours if not. */
	ret = pc_init(vm, err);
	if (ret < 0)
		goto err_destroy;
	ret = vm_add_vcpus(vm, err);
	if (ret < 0)
		goto err_destroy;
	ret = flags & VM_CREATE_NO_BOOT ? vm_boot_none(vm, err) :
	    vm_boot(vm, err);
	if (ret < 0)
		goto err_destroy;
	return vm;

err_destroy:
	vm_destroy(vm);
	return NULL;
}

struct vm *
vm_create_ex(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct chardev *console,
    unsigned flags, struct vm_err *err)
{
	return vm_build(cfg, backend, console, flags, 0, false, err);
}

struct vm *
vm_create_restore(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct chardev *console,
    const char *path, struct vm_err *err)
{
	uint64_t fw_len = 0;

	if (cfg->boot.firmware[0] != '\0') {
		if (vm_snapshot_fw_len(path, &fw_len, err) < 0)
			return NULL;
		if (fw_len == 0) {
			vm_err_set(err, -EINVAL, "%s: the snapshot has no "
			    "firmware ROM: it is of a VM booted without "
			    "firmware (the configuration names %s)", path,
			    cfg->boot.firmware);
			return NULL;
		}
	}
	return vm_build(cfg, backend, console, VM_CREATE_NO_BOOT, fw_len,
	    true, err);
}

/*
 * A VM with guest RAM (cfg->memory bytes from address 0, as pc lays it
 * out), the two empty buses and cfg->cpus vCPUs on backend, and nothing
 * else: no board devices, no firmware tables, no boot loader.  The vCPUs
 * are in their reset state.  The caller writes guest memory (mem_write,
 * or the host pointers in vm->mem followed by mem_notify_write), maps its
 * own handlers with bus_map, sets vCPU state with backend->set_state and
 * calls backend->run itself, on one thread; vm_run is not for such a VM.
 * A handler that wants run() to return sets the vCPU's kicked flag and
 * calls backend->kick (the caller clears kicked afterwards).  For test
 * harnesses (tests/prog/difftest.c).  Returns NULL with err set on
 * failure, leaving nothing behind; cfg must outlive the VM.
 */
struct vm *
vm_create_bare(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct vm_err *err)
{
	struct vm *vm;

	vm = vm_new(cfg, backend, NULL, 0, false, err);
	if (vm == NULL)
		return NULL;
	if (vm_add_vcpus(vm, err) < 0) {
		vm_destroy(vm);
		return NULL;
	}
	return vm;
}

static void *
vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct cpu_exit ex;
	char diag[300];

	for (;;) {
		memset(&ex, 0, sizeof(ex));
		if (atomic_load(&vm->pause_req))
			vcpu_park(vm);
		if (atomic_load(&vm->exit_reason) != VM_RUNNING)
			break;
		if (vm->backend->run(v, &ex) < 0 && ex.reason == CPU_EXIT_NONE)
			ex.reason = CPU_EXIT_ERROR;
		/* What KVM cannot run, the DBT runs for a while (hybrid.c). */
		if (ex.reason == CPU_EXIT_ERROR && hybrid_wanted(vm) &&
		    atomic_load(&vm->exit_reason) == VM_RUNNING &&
		    hybrid_run(v, &ex) == 0)
			continue;
		switch (ex.reason) {
		case CPU_EXIT_NONE:
		case CPU_EXIT_KICKED:
			/* Cleared before the loop's pause_req check. */
			atomic_store(&v->kicked, 0);
			continue;
		case CPU_EXIT_HLT:
			snprintf(diag, sizeof(diag),
			    "vCPU %d halted with interrupts disabled", v->id);
			vm_request_exit(vm, VM_EXIT_POWEROFF, 0, diag);
			break;
		case CPU_EXIT_SHUTDOWN:
			snprintf(diag, sizeof(diag), "vCPU %d: triple fault%s%s",
			    v->id, ex.diag[0] ? ": " : "", ex.diag);
			vm_request_exit(vm, VM_EXIT_SHUTDOWN,
			    VM_STATUS_TRIPLE_FAULT, diag);
			break;
		case CPU_EXIT_RESET:
			vm_request_exit(vm, VM_EXIT_RESET, 0, "guest reset");
			break;
		case CPU_EXIT_DEBUG:
			continue;
		case CPU_EXIT_ERROR:
			snprintf(diag, sizeof(diag), "vCPU %d: %s", v->id,
			    ex.diag[0] ? ex.diag : "emulation failure");
			vm_request_exit(vm, VM_EXIT_ERROR, VM_STATUS_EMU_ERROR,
			    diag);
			break;
		}
		break;
	}
	pthread_mutex_lock(&vm->pause_lock);
	vm->active--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return NULL;
}

/*
 * The disks' loss window while the guest does not write: each writable
 * disk is asked (blk_writeback_idle) at least once a second, and again
 * when the time bound of the window it has open runs out, so that what
 * a guest wrote and never flushed is written back and synced within
 * VMKIT_BLOCK_WRITEBACK's seconds even if no other write comes.  Runs
 * on the event loop's thread with the I/O lock held, as device I/O does.
 */
#define WRITEBACK_POLL_NS 1000000000ull

static void
writeback_fire(void *opaque)
{
	struct vm *vm = opaque;
	uint64_t next = 0, due, host, delay = WRITEBACK_POLL_NS;
	struct dev *d;
	struct blk *b;
	int k;

	for (d = vm->devs; d; d = d->next) {
		if (d->type->disk == NULL)
			continue;
		for (k = 0; (b = d->type->disk(d, k)) != NULL; k++) {
			due = blk_writeback_idle(b);
			if (due && (next == 0 || due < next))
				next = due;
		}
	}
	host = clock_host_ns();
	if (next)
		delay = next <= host ? 1 : next - host < delay ? next - host :
		    delay;
	evloop_timer_mod(vm->wb_timer, clock_ns() + delay);
}

enum vm_exit_reason
vm_run(struct vm *vm)
{
	int i, ret;

	for (i = 0; i < vm->ncpus; i++) {
		threads[i].vcpu = vm->vcpus[i];
		pthread_mutex_lock(&vm->pause_lock);
		vm->active++;
		pthread_mutex_unlock(&vm->pause_lock);
		ret = pthread_create(&threads[i].tid, NULL, vcpu_main,
		    vm->vcpus[i]);
		if (ret != 0) {
			pthread_mutex_lock(&vm->pause_lock);
			vm->active--;
			pthread_mutex_unlock(&vm->pause_lock);
			vm_request_exit(vm, VM_EXIT_ERROR, 1,
			    "cannot start a vCPU thread");
			break;
		}
		threads[i].started = true;
	}
	vm->wb_timer = evloop_timer_new(vm->loop, writeback_fire, vm);
	if (vm->wb_timer)
		evloop_timer_mod(vm->wb_timer, clock_ns() + WRITEBACK_POLL_NS);
	if (atomic_load(&vm->exit_reason) == VM_RUNNING) {
		ret = evloop_run(vm->loop);
		if (ret < 0)
			vm_request_exit(vm, VM_EXIT_ERROR, 1,
			    "event loop failed");
		/* Stopped from outside (a signal): stop the vCPUs too. */
		vm_request_exit(vm, VM_EXIT_USER, 0, "stopped by a signal");
	}
	for (i = 0; i < vm->ncpus; i++) {
		if (!threads[i].started)
			continue;
		pthread_join(threads[i].tid, NULL);
		threads[i].started = false;
	}
	if (vm->wb_timer) {
		evloop_timer_free(vm->wb_timer);
		vm->wb_timer = NULL;
	}
	pause_end(vm);
	return (enum vm_exit_reason)atomic_load(&vm->exit_reason);
}

void
vm_destroy(struct vm *vm)
{
	struct dev *d, *next;
	int i;

	if (vm == NULL)
		return;
	vm_live_end(vm);        /* a live send reads RAM and devices */
	for (d = vm->devs; d; d = next) {
		next = d->next;
		if (d->type->unrealize)
			d->type->unrealize(d);
		free(d->priv);
		free(d);
	}
	hybrid_free(vm);
	pci_bus_free(vm->pci);
	bios_free(vm->bios);
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i] == NULL)
			continue;
		if (vm->backend->vcpu_fini)
			vm->backend->vcpu_fini(vm->vcpus[i]);
		free(vm->vcpus[i]);
	}
	if (vm->backend && vm->backend->vm_fini && vm->backend_priv)
		vm->backend->vm_fini(vm);
	evloop_free(vm->loop);
	bus_free(vm->pio);
	bus_free(vm->mmio);
	mem_fini(&vm->mem);
	pause_end(vm);
	pthread_mutex_destroy(&vm->io_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
	free(vm);
}
