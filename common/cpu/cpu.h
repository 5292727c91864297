/*
 * The CPU back-end contract shared by the DBT (dbt/) and KVM (kvm/).
 * vm/ drives vCPUs only through these ops.  A back end calls bus_read /
 * bus_write itself for port and MMIO accesses; run() returns only for
 * events the core must handle (see enum cpu_exit_reason).
 * Threads: run() is called on the vCPU's thread; kick() from any thread.
 */
#ifndef VM_CPU_CPU_H
#define VM_CPU_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/x86-state.h"

struct pc_irqchip;
struct snap_vis;
struct vm;
struct vm_err;

enum cpu_exit_reason {
	CPU_EXIT_NONE,
	CPU_EXIT_HLT,           /* halted with interrupts off: nothing will wake it */
	CPU_EXIT_SHUTDOWN,      /* triple fault */
	CPU_EXIT_RESET,         /* guest asked for a reset */
	CPU_EXIT_KICKED,        /* kick() or a VM stop request */
	CPU_EXIT_DEBUG,
	CPU_EXIT_ERROR,         /* emulation failure / KVM internal error */
};

struct cpu_exit {
	enum cpu_exit_reason reason;
	char diag[256];         /* one-line diagnosis for CPU_EXIT_ERROR/SHUTDOWN */
};

struct vcpu {
	int id;
	struct vm *vm;
	void *priv;             /* the back end's per-vCPU state */
	atomic_int kicked;
	/* run() returns CPU_EXIT_KICKED once this many instructions have
	 * retired in it (0: no limit); the DBT only (vm/hybrid.c). */
	uint64_t insn_budget;
};

struct cpu_backend_ops {
	const char *name;
	/* 0 if usable here; else -errno and why in err. */
	int (*probe)(struct vm_err *err);
	/* Does the back end bring its own PIC/IOAPIC/LAPIC/PIT (KVM irqchip)? */
	bool has_irqchip;
	/* Is guest RAM better on transparent huge pages?  (Yes where the
	 * hardware walks the guest's memory through its own page tables.) */
	bool huge_ram;
	int (*vm_init)(struct vm *vm, struct vm_err *err);
	void (*vm_fini)(struct vm *vm);
	int (*vcpu_init)(struct vcpu *vcpu, struct vm_err *err);
	void (*vcpu_fini)(struct vcpu *vcpu);
	/* Run until an exit the core must handle; fills *exit. */
	int (*run)(struct vcpu *vcpu, struct cpu_exit *exit);
	/* Make run() return CPU_EXIT_KICKED soon. */
	void (*kick)(struct vcpu *vcpu);
	int (*get_state)(struct vcpu *vcpu, struct x86_state *st);
	int (*set_state)(struct vcpu *vcpu, const struct x86_state *st);
	/* Route interrupts (the vm's irq_router points here). */
	void (*set_irq)(struct vm *vm, unsigned gsi, int level);
	void (*msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* The VM stood paused for ns of the VM clock: hold the guest's
	 * time-stamp counter back by as much (vm_resume); optional. */
	void (*clock_stood)(struct vcpu *vcpu, uint64_t ns);
	/* The memory map's dirty log was taken (mem.h), the vCPU paused:
	 * make its next write to every page mark that page again.  NULL:
	 * the back end keeps no dirty log (no live migration). */
	void (*dirty_log_sync)(struct vcpu *vcpu);
	/* has_irqchip: the in-kernel PICs, IOAPIC and PIT to and from the
	 * canonical form (hw/irqchip.h), the VM paused; -errno. */
	int (*irqchip_get)(struct vm *vm, struct pc_irqchip *c);
	int (*irqchip_set)(struct vm *vm, const struct pc_irqchip *c);
	/* Print statistics at exit (--stats); optional. */
	void (*print_stats)(struct vm *vm);
};

extern const struct cpu_backend_ops dbt_backend;
#ifdef HAVE_KVM
extern const struct cpu_backend_ops kvm_backend;
#endif

/* Pick a back end: "dbt", "kvm" or "auto"; why (for --verbose) in why. */
const struct cpu_backend_ops *cpu_backend_select(const char *accel,
    char *why, unsigned whylen, struct vm_err *err);
/* Is /dev/kvm backed by hardware virtualization (vmx/svm), not KVM-PVM? */
bool cpu_host_has_hw_virt(void);

/* The CPU model both back ends present (cpu/cpuid.c). */
/* Its physical-address width, MAXPHYADDR (CPUID 80000008h:EAX[7:0]). */
#define CPU_PHYS_BITS 40
struct cpuid_entry {
	uint32_t leaf, subleaf;
	bool has_subleaf;
	uint32_t eax, ebx, ecx, edx;
};
/* CPUID result for vCPU cpu_index of ncpus; unknown leaves give the
 * values of the highest basic leaf, as Intel CPUs do. */
void cpu_cpuid(uint32_t leaf, uint32_t subleaf, int cpu_index, int ncpus,
    uint32_t out[4]);
/* The whole table (for KVM_SET_CPUID2); returns the number of entries. */
int cpu_cpuid_table(int cpu_index, int ncpus, struct cpuid_entry *tab,
    int max);
/* IA32_ARCH_CAPABILITIES (MSR 0x10a) of the model. */
uint64_t cpu_arch_capabilities(void);
/* Guest TSC frequency in Hz the model advertises. */
uint64_t cpu_tsc_hz(void);

/* Reset state of an x86 CPU (SDM vol. 3, 9.1.1), for vCPU id. */
void cpu_reset_state(struct x86_state *st, int id);

/* Visit every field of st for a snapshot (cpu/state-snap.c). */
int x86_state_visit(struct x86_state *st, struct snap_vis *v);
/* The "cpu" section's version: 2 added fpu_cs and fpu_ds. */
#define X86_STATE_VERSION 2u

#endif
