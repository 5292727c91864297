/*
 * The KVM back end: the hardware fast path (VT-x / AMD-V through
 * /dev/kvm), in the shape of kvmtool's kvm-cpu.c.  One VM fd; a memory
 * slot per RAM/ROM region of vm->mem; the in-kernel irqchip (PIC, IOAPIC,
 * LAPICs) and PIT, so vm->irq routes to KVM_IRQ_LINE / KVM_SIGNAL_MSI;
 * one vCPU fd per vCPU, run on its own thread.  Port and MMIO exits go to
 * the same buses the DBT uses.
 *
 * Kicks: kick() sets kvm_run.immediate_exit and sends SIGUSR1 to the vCPU
 * thread; the handler does nothing, but the signal makes a running KVM_RUN
 * return -EINTR, and immediate_exit closes the race with a thread that is
 * about to enter it.
 *
 * On KVM-PVM hosts (software nested virtualization, no vmx/svm), this
 * back end works for guest user mode and small test kernels; guest kernel
 * code is emulated by the host kernel at microseconds per instruction.
 * --accel auto does not choose it there (cpu/cpu.c).
 *
 * The device is /dev/kvm, or $VMKIT_KVM_DEVICE (for tests of the error
 * path).  CPUID is the shared CPU model of cpu/cpuid.c, so both back ends
 * present the same CPU.
 */
#include "kvm/kvm-int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "hw/bus.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define KVM_TSS_ADDR 0xfeffd000ULL      /* 3 pages, reserved in e820 */
#define KVM_IDMAP_ADDR 0xfeffc000ULL

static const char *
kvm_path(void)
{
	const char *p = getenv("VMKIT_KVM_DEVICE");

	return p && *p ? p : "/dev/kvm";
}

static int
kvm_open(struct vm_err *err)
{
	int fd = open(kvm_path(), O_RDWR | O_CLOEXEC), ver;

	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", kvm_path());
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		close(fd);
		return vm_err_set(err, -ENOTSUP,
		    "%s: KVM API version %d, need %d", kvm_path(), ver,
		    KVM_API_VERSION);
	}
	return fd;
}

static int
need_cap(int fd, int cap, const char *name, struct vm_err *err)
{
	if (ioctl(fd, KVM_CHECK_EXTENSION, cap) <= 0)
		return vm_err_set(err, -ENOTSUP, "%s: missing capability %s",
		    kvm_path(), name);
	return 0;
}

static int
kvm_probe(struct vm_err *err)
{
	int fd = kvm_open(err), ret;

	if (fd < 0)
		return fd;
	ret = need_cap(fd, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", err);
	if (ret == 0)
		ret = need_cap(fd, KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", err);
	if (ret == 0)
		ret = need_cap(fd, KVM_CAP_IMMEDIATE_EXIT,
		    "KVM_CAP_IMMEDIATE_EXIT", err);
	close(fd);
	return ret;
}

static void
kvm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_vm *k = vm->backend_priv;
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	if (ioctl(k->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_debug(LOG_KVM, "KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static void
kvm_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_vm *k = vm->backend_priv;
	struct kvm_msi m = { .address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32), .data = data };

	if (ioctl(k->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
		log_debug(LOG_KVM, "KVM_SIGNAL_MSI: %s", strerror(errno));
}

static void
on_kick(int sig)
{
	(void)sig;
}

static int
kvm_vm_init(struct vm *vm, struct vm_err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct sigaction sa;
	struct kvm_vm *k;
	int i, ret;

	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	k->vm_fd = -1;
	k->sys_fd = kvm_open(err);
	if (k->sys_fd < 0) {
		ret = k->sys_fd;
		goto err_free;
	}
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			vm_err_set(err, ret, "%s: busy: another hypervisor "
			    "holds the virtualization extensions", kvm_path());
		else
			vm_err_errno(err, ret, "%s: cannot create a VM",
			    kvm_path());
		goto err_close;
	}
	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size <= 0) {
		ret = vm_err_errno(err, -errno, "KVM_GET_VCPU_MMAP_SIZE");
		goto err_close;
	}
	(void)ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR,
	    &(uint64_t){ KVM_IDMAP_ADDR });
	(void)ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	for (i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};

		if (r->flags & MEM_ROM)
			slot.flags = KVM_MEM_READONLY;
		if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			ret = vm_err_errno(err, -errno,
			    "KVM: cannot map memory region %s", r->name);
			goto err_close;
		}
	}
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		ret = vm_err_errno(err, -errno, "KVM_CREATE_IRQCHIP");
		goto err_close;
	}
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = vm_err_errno(err, -errno, "KVM_CREATE_PIT2");
		goto err_close;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	sigaction(SIGUSR1, &sa, NULL);
	vm->backend_priv = k;
	return 0;

err_close:
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	close(k->sys_fd);
err_free:
	free(k);
	return ret;
}

static void
kvm_vm_fini(struct vm *vm)
{
	struct kvm_vm *k = vm->backend_priv;

	if (k == NULL)
		return;
	close(k->vm_fd);
	close(k->sys_fd);
	free(k);
	vm->backend_priv = NULL;
}

/* KVM's own answer for CPUID leaf/subleaf register reg (0 EAX .. 3 EDX),
 * 0 if none. */
static uint32_t
kvm_supported(struct kvm_vm *k, uint32_t leaf, uint32_t subleaf, int reg)
{
	static struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} sup;
	static int have = -1;
	uint32_t i;

	if (have < 0) {
		sup.c.nent = 256;
		have = ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, &sup) == 0;
	}
	for (i = 0; have > 0 && i < sup.c.nent; i++)
		if (sup.e[i].function == leaf && sup.e[i].index == subleaf)
			return reg == 0 ? sup.e[i].eax : reg == 1 ?
			    sup.e[i].ebx : reg == 2 ? sup.e[i].ecx :
			    sup.e[i].edx;
	return 0;
}

static uint32_t
kvm_supported_edx(struct kvm_vm *k, uint32_t leaf, uint32_t subleaf)
{
	return kvm_supported(k, leaf, subleaf, 3);
}

/*
 * IA32_ARCH_CAPABILITIES as the model says, as far as KVM can present it
 * (its feature-MSR value), and the speculation-control CPUID bits only if
 * KVM emulates the MSRs behind them: a guest must not be told of an MSR
 * whose write then faults.  On KVM-capable hosts from 2019 on, the model
 * and the DBT's are then the same.
 */
static void
spec_cpuid(struct kvm_vm *k, struct kvm_cpuid_entry2 *e, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (e[i].function == 7 && e[i].index == 0)
			e[i].edx &= kvm_supported_edx(k, 7, 0) |
			    ~(uint32_t)(1u << 26);
		if (e[i].function == 7 && e[i].index == 2)
			e[i].edx &= kvm_supported_edx(k, 7, 2) |
			    ~(uint32_t)(1u << 4);
	}
}

/*
 * The general-purpose extensions of the model (MOVBE, RDRAND; BMI1,
 * BMI2, RDSEED, ADX; LZCNT) only where the host's KVM has them: the
 * guest runs them on the CPU, which would give #UD for a missing one.
 * SMEP, SMAP and UMIP the same: the CR4 bits of a feature KVM lacks are
 * refused.
 */
static void
isa_cpuid(struct kvm_vm *k, struct kvm_cpuid_entry2 *e, int n)
{
	const uint32_t l1c = 1u << 22 | 1u << 30;
	const uint32_t l7b = 1u << 3 | 1u << 8 | 1u << 18 | 1u << 19 |
	    1u << 7 | 1u << 20;
	const uint32_t l7c = 1u << 2;
	const uint32_t x1c = 1u << 5;
	int i;

	for (i = 0; i < n; i++) {
		if (e[i].function == 1)
			e[i].ecx &= kvm_supported(k, 1, 0, 2) | ~l1c;
		if (e[i].function == 7 && e[i].index == 0) {
			e[i].ebx &= kvm_supported(k, 7, 0, 1) | ~l7b;
			e[i].ecx &= kvm_supported(k, 7, 0, 2) | ~l7c;
		}
		if (e[i].function == 0x80000001u)
			e[i].ecx &= kvm_supported(k, 0x80000001u, 0, 2) | ~x1c;
	}
}

static void
spec_arch_cap(struct kvm_vm *k, int fd)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry m;
	} msr;
	uint64_t cap = cpu_arch_capabilities();

	memset(&msr, 0, sizeof(msr));
	msr.h.nmsrs = 1;
	msr.m.index = 0x10a;
	if (ioctl(k->sys_fd, KVM_GET_MSRS, &msr) == 1)
		cap &= msr.m.data;
	msr.m.data = cap;
	(void)ioctl(fd, KVM_SET_MSRS, &msr);
}

/* The CPU model of cpu/cpuid.c, the same the DBT presents. */
static int
set_cpuid(struct kvm_vm *k, int fd, int id, int ncpus, struct vm_err *err)
{
	struct cpuid_entry tab[64];
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[64];
	} cp;
	int n, i;

	memset(&cp, 0, sizeof(cp));
	n = cpu_cpuid_table(id, ncpus, tab, 64);
	for (i = 0; i < n; i++) {
		cp.e[i].function = tab[i].leaf;
		cp.e[i].index = tab[i].subleaf;
		cp.e[i].flags = tab[i].has_subleaf ?
		    KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
		cp.e[i].eax = tab[i].eax;
		cp.e[i].ebx = tab[i].ebx;
		cp.e[i].ecx = tab[i].ecx;
		cp.e[i].edx = tab[i].edx;
	}
	cp.c.nent = (uint32_t)n;
	spec_cpuid(k, cp.e, n);
	isa_cpuid(k, cp.e, n);
	if (ioctl(fd, KVM_SET_CPUID2, &cp) < 0)
		return vm_err_errno(err, -errno, "KVM_SET_CPUID2");
	spec_arch_cap(k, fd);
	return 0;
}

static int
kvm_vcpu_init(struct vcpu *v, struct vm_err *err)
{
	struct kvm_vm *k = v->vm->backend_priv;
	struct kvm_vcpu *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	c->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	if (c->fd < 0) {
		ret = vm_err_errno(err, -errno, "KVM_CREATE_VCPU %d", v->id);
		free(c);
		return ret;
	}
	c->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		ret = vm_err_errno(err, -errno, "mmap of the vCPU %d run area",
		    v->id);
		close(c->fd);
		free(c);
		return ret;
	}
	ret = set_cpuid(k, c->fd, v->id, v->vm->ncpus, err);
	if (ret < 0) {
		munmap(c->run, (size_t)k->run_size);
		close(c->fd);
		free(c);
		return ret;
	}
	v->priv = c;
	return 0;
}

static void
kvm_vcpu_fini(struct vcpu *v)
{
	struct kvm_vm *k = v->vm->backend_priv;
	struct kvm_vcpu *c = v->priv;

	if (c == NULL)
		return;
	munmap(c->run, (size_t)k->run_size);
	close(c->fd);
	free(c);
	v->priv = NULL;
}

static uint64_t
read_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, p, size > 8 ? 8 : size);
	return v;
}

static void
write_le(uint8_t *p, unsigned size, uint64_t v)
{
	memcpy(p, &v, size > 8 ? 8 : size);
}

static void
exit_diag(struct kvm_vcpu *c, struct cpu_exit *ex, const char *what)
{
	struct kvm_regs r;
	unsigned long long rip = 0;

	if (ioctl(c->fd, KVM_GET_REGS, &r) == 0)
		rip = r.rip;
	snprintf(ex->diag, sizeof(ex->diag), "KVM: %s at RIP 0x%llx", what,
	    rip);
}

static int
kvm_run_vcpu(struct vcpu *v, struct cpu_exit *ex)
{
	struct kvm_vcpu *c = v->priv;
	struct kvm_run *run = c->run;
	struct vm *vm = v->vm;
	char what[160];
	bool io_done = false;
	uint32_t i;

	if (!atomic_load(&c->have_thread)) {
		c->thread = pthread_self();
		atomic_store(&c->have_thread, true);
	}
	for (;;) {
		if (atomic_load(&v->kicked) ||
		    atomic_load(&vm->exit_reason) != VM_RUNNING) {
			/* A port or MMIO access handled here is finished
			 * by the next KVM_RUN, before it looks at
			 * immediate_exit: finish it, so the state the
			 * caller may read (a pause, a snapshot) is at an
			 * instruction boundary. */
			if (io_done) {
				run->immediate_exit = 1;
				(void)ioctl(c->fd, KVM_RUN, 0);
				run->immediate_exit = 0;
			}
			ex->reason = CPU_EXIT_KICKED;
			return 0;
		}
		io_done = false;
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			ex->reason = CPU_EXIT_ERROR;
			snprintf(ex->diag, sizeof(ex->diag), "KVM_RUN: %s",
			    strerror(errno));
			return 0;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)run + run->io.data_offset;

			io_done = true;

			for (i = 0; i < run->io.count; i++) {
				uint64_t val;

				if (run->io.direction == KVM_EXIT_IO_OUT) {
					bus_write(vm->pio, run->io.port,
					    run->io.size,
					    read_le(d, run->io.size));
				} else {
					bus_read(vm->pio, run->io.port,
					    run->io.size, &val);
					write_le(d, run->io.size, val);
				}
				d += run->io.size;
			}
			break;
		}
		case KVM_EXIT_MMIO: {
			uint64_t val;
			unsigned len = run->mmio.len;

			io_done = true;
			if (len > 8)
				len = 8;
			if (run->mmio.is_write &&
			    mem_lookup(&vm->mem, run->mmio.phys_addr)) {
				/* A write to a read-only slot: ROM. */
				mem_rom_write(mem_lookup(&vm->mem,
				    run->mmio.phys_addr), run->mmio.phys_addr,
				    run->mmio.data, len);
			} else if (run->mmio.is_write) {
				bus_write(vm->mmio, run->mmio.phys_addr, len,
				    read_le(run->mmio.data, len));
			} else {
				bus_read(vm->mmio, run->mmio.phys_addr, len,
				    &val);
				write_le(run->mmio.data, len, val);
			}
			break;
		}
		case KVM_EXIT_HLT:
			ex->reason = CPU_EXIT_HLT;
			return 0;
		case KVM_EXIT_SHUTDOWN:
			ex->reason = CPU_EXIT_SHUTDOWN;
			exit_diag(c, ex, "shutdown (triple fault)");
			return 0;
		case KVM_EXIT_SYSTEM_EVENT:
			ex->reason = run->system_event.type ==
			    KVM_SYSTEM_EVENT_RESET ? CPU_EXIT_RESET :
			    CPU_EXIT_SHUTDOWN;
			exit_diag(c, ex, "system event");
			return 0;
		case KVM_EXIT_INTERNAL_ERROR:
			ex->reason = CPU_EXIT_ERROR;
			snprintf(what, sizeof(what),
			    "internal error, suberror %u%s",
			    run->internal.suberror,
			    run->internal.suberror ==
			    KVM_INTERNAL_ERROR_EMULATION ?
			    " (instruction emulation failed)" : "");
			exit_diag(c, ex, what);
			return 0;
		case KVM_EXIT_FAIL_ENTRY:
			ex->reason = CPU_EXIT_ERROR;
			snprintf(what, sizeof(what),
			    "entry failed, hardware reason 0x%llx",
			    (unsigned long long)
			    run->fail_entry.hardware_entry_failure_reason);
			exit_diag(c, ex, what);
			return 0;
		case KVM_EXIT_INTR:
			break;
		default:
			ex->reason = CPU_EXIT_ERROR;
			snprintf(what, sizeof(what), "unexpected exit %u",
			    run->exit_reason);
			exit_diag(c, ex, what);
			return 0;
		}
	}
}

static void
kvm_kick(struct vcpu *v)
{
	struct kvm_vcpu *c = v->priv;

	if (c == NULL)
		return;
	c->run->immediate_exit = 1;
	if (atomic_load(&c->have_thread))
		pthread_kill(c->thread, SIGUSR1);
}

static int
kvm_get(struct vcpu *v, struct x86_state *st)
{
	struct kvm_vcpu *c = v->priv;

	return kvm_get_state(c->fd, st);
}

static int
kvm_set(struct vcpu *v, const struct x86_state *st)
{
	struct kvm_vcpu *c = v->priv;
	bool lapic = false;
	size_t i;

	for (i = 0; i < sizeof(st->lapic); i++)
		if (st->lapic[i]) {
			lapic = true;
			break;
		}
	return kvm_set_state(c->fd, st, lapic);
}

const struct cpu_backend_ops kvm_backend = {
	.name = "kvm",
	.probe = kvm_probe,
	.has_irqchip = true,
	.huge_ram = true,
	.vm_init = kvm_vm_init,
	.vm_fini = kvm_vm_fini,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_fini = kvm_vcpu_fini,
	.run = kvm_run_vcpu,
	.kick = kvm_kick,
	.get_state = kvm_get,
	.set_state = kvm_set,
	.set_irq = kvm_set_irq,
	.msi = kvm_msi,
	.irqchip_get = kvm_irqchip_get,
	.irqchip_set = kvm_irqchip_set,
};
