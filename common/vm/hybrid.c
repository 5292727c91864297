/*
 * The two CPUs working as one: when KVM stops on guest code it cannot
 * run (an internal error such as "instruction emulation failed", an
 * entry failure, an exit the KVM back end has no handler for), the vCPU's
 * canonical state moves to a DBT vCPU, which runs the guest past the
 * trouble, and back to KVM.  On this project's KVM-PVM hosts that is the
 * IRET in syslinux's and isolinux's real/protected-mode switch.
 *
 * The DBT runs inside a second struct vm that shares the first one's
 * guest memory (the same host mappings), its port and MMIO buses (so the
 * same devices) and its configuration, but has no interrupt controllers
 * of its own (intc_elsewhere): KVM's in-kernel PIC, IOAPIC, LAPICs and
 * PIT stay the only ones, and an interrupt raised during a stint waits
 * there, latched, until the vCPU is back on KVM.  Device DMA into guest
 * memory reaches the DBT's code cache through the memory map's on_write,
 * whichever back end is running.
 *
 * The rule for going back: a stint is HYBRID_STINT instructions on the
 * DBT's interpreter, or less if the guest halts (HLT waits for an
 * interrupt, which only KVM can deliver) or the VM is stopping.  The
 * code that made KVM fail is a few instructions of mode switching; the
 * budget is there so that the guest is well past it (back in the mode it
 * switched to, usually with its next BIOS call or loop ahead) and short
 * enough that a timer interrupt waits at most a few milliseconds.  A
 * failure of the DBT itself, a triple fault or a reset ends the VM as it
 * would on either back end alone.
 */
#include "vm/hybrid.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define HYBRID_STINT 200000     /* instructions per stint on the DBT */

struct hybrid {
	struct vm dvm;                  /* the DBT's view of the same VM */
	struct vm_config cfg;           /* vm's, on the interpreter tier */
	struct vcpu *vcpus[VM_MAX_CPUS];
	atomic_uint stints;
	atomic_bool said;
};

static pthread_mutex_t hybrid_lock = PTHREAD_MUTEX_INITIALIZER;

bool
hybrid_wanted(const struct vm *vm)
{
#ifdef HAVE_KVM
	return vm->backend == &kvm_backend;
#else
	(void)vm;
	return false;
#endif
}

static struct hybrid *
hybrid_get(struct vm *vm, struct vm_err *err)
{
	pthread_mutexattr_t attr;
	struct hybrid *h;
	struct vm *d;

	pthread_mutex_lock(&hybrid_lock);
	h = vm->hybrid;
	if (h != NULL)
		goto out;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	h->cfg = *vm->cfg;
	/* The interpreter returns to the run loop after every block, so
	 * the stint's budget is kept to the instruction. */
	snprintf(h->cfg.dbt_tier, sizeof(h->cfg.dbt_tier), "interp");
	d = &h->dvm;
	d->cfg = &h->cfg;
	d->backend = &dbt_backend;
	d->ncpus = vm->ncpus;
	d->ram_size = vm->ram_size;
	d->mem = vm->mem;
	d->mem.on_write = NULL;
	d->mem.on_write_opaque = NULL;
	d->pio = vm->pio;
	d->mmio = vm->mmio;
	d->loop = vm->loop;
	d->pci = vm->pci;
	d->bios = vm->bios;
	d->console = vm->console;
	d->intc_elsewhere = true;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&d->io_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&d->pause_lock, NULL);
	pthread_cond_init(&d->pause_cond, NULL);
	if (dbt_backend.vm_init(d, err) < 0) {
		free(h);
		h = NULL;
		goto out;
	}
	vm->hybrid = h;
out:
	pthread_mutex_unlock(&hybrid_lock);
	return h;
}

static struct vcpu *
hybrid_vcpu(struct hybrid *h, struct vm *vm, int id, struct vm_err *err)
{
	struct vcpu *v;

	pthread_mutex_lock(&hybrid_lock);
	v = h->vcpus[id];
	if (v != NULL)
		goto out;
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	v->id = id;
	v->vm = &h->dvm;
	if (dbt_backend.vcpu_init(v, err) < 0) {
		free(v);
		v = NULL;
		goto out;
	}
	h->dvm.vcpus[id] = v;
	h->vcpus[id] = v;
	/* Device DMA reaches the DBT's code cache while KVM runs too. */
	if (vm->mem.on_write == NULL) {
		vm->mem.on_write = h->dvm.mem.on_write;
		vm->mem.on_write_opaque = h->dvm.mem.on_write_opaque;
	}
out:
	pthread_mutex_unlock(&hybrid_lock);
	return v;
}

int
hybrid_run(struct vcpu *v, struct cpu_exit *ex)
{
	struct vm *vm = v->vm;
	struct x86_state st, back;
	struct cpu_exit dex;
	struct vm_err err = { 0 };
	struct hybrid *h;
	struct vcpu *dv;
	uint64_t apic_base;

	h = hybrid_get(vm, &err);
	if (h == NULL || (dv = hybrid_vcpu(h, vm, v->id, &err)) == NULL) {
		log_warnx("vCPU %d: cannot start the DBT to stand in for KVM: "
		    "%s", v->id, err.msg);
		return 1;
	}
	memset(&st, 0, sizeof(st));
	if (vm->backend->get_state(v, &st) < 0)
		return 1;
	if (!atomic_exchange(&h->said, true))
		log_info("vCPU %d: KVM cannot run the guest's code here (%s): "
		    "the DBT runs it past that, %u instructions at a time, "
		    "then KVM again (said once)", v->id, ex->diag,
		    HYBRID_STINT);
	log_debug(LOG_KVM, "cpu%d: KVM to DBT at %04x:%llx (%s)", v->id,
	    st.seg[X86_CS].sel, (unsigned long long)st.rip, ex->diag);
	apic_base = st.apic_base;
	/* The memory map as it is now (the BIOS shadow may have moved). */
	pthread_mutex_lock(&hybrid_lock);
	memcpy(h->dvm.mem.regions, vm->mem.regions,
	    sizeof(h->dvm.mem.regions));
	h->dvm.mem.nr = vm->mem.nr;
	pthread_mutex_unlock(&hybrid_lock);
	dbt_backend.set_state(dv, &st);
	memset(&dex, 0, sizeof(dex));
	dv->insn_budget = HYBRID_STINT;
	dbt_backend.run(dv, &dex);
	atomic_fetch_add(&h->stints, 1);
	switch (dex.reason) {
	case CPU_EXIT_SHUTDOWN:
	case CPU_EXIT_RESET:
	case CPU_EXIT_ERROR:
		*ex = dex;
		return 1;
	default:
		break;
	}
	memset(&back, 0, sizeof(back));
	dbt_backend.get_state(dv, &back);
	/* KVM's LAPIC went on by itself meanwhile: keep it as it is. */
	memset(back.lapic, 0, sizeof(back.lapic));
	back.apic_base = apic_base;
	log_debug(LOG_KVM, "cpu%d: DBT to KVM at %04x:%llx%s", v->id,
	    back.seg[X86_CS].sel, (unsigned long long)back.rip,
	    back.halted ? " (halted)" : "");
	if (vm->backend->set_state(v, &back) < 0) {
		snprintf(ex->diag, sizeof(ex->diag), "cannot give the vCPU's "
		    "state back to KVM after the DBT ran it");
		return 1;
	}
	return 0;
}

unsigned
hybrid_stints(const struct vm *vm)
{
	return vm->hybrid ? atomic_load(&vm->hybrid->stints) : 0;
}

void
hybrid_free(struct vm *vm)
{
	struct hybrid *h = vm->hybrid;
	int i;

	if (h == NULL)
		return;
	if (vm->mem.on_write == h->dvm.mem.on_write &&
	    vm->mem.on_write_opaque == h->dvm.mem.on_write_opaque) {
		vm->mem.on_write = NULL;
		vm->mem.on_write_opaque = NULL;
	}
	for (i = 0; i < VM_MAX_CPUS; i++) {
		if (h->vcpus[i] == NULL)
			continue;
		dbt_backend.vcpu_fini(h->vcpus[i]);
		free(h->vcpus[i]);
	}
	dbt_backend.vm_fini(&h->dvm);
	pthread_mutex_destroy(&h->dvm.io_lock);
	pthread_mutex_destroy(&h->dvm.pause_lock);
	pthread_cond_destroy(&h->dvm.pause_cond);
	free(h);
	vm->hybrid = NULL;
}
