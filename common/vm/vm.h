/*
 * struct vm ties the parts of one virtual machine together: config, guest
 * memory, the two buses, devices, vCPUs and the CPU back end.  It is the
 * only module that knows them all.  Devices use the public fields below;
 * vm-run drives the lifecycle.
 */
#ifndef VM_VM_VM_H
#define VM_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/irq.h"
#include "mem/mem.h"

struct bus;
struct chardev;
struct cpu_backend_ops;
struct dev;
struct evloop;
struct ev_timer;
struct pc_bios;
struct pci_bus;
struct vcpu;
struct vm_config;
struct vm_err;

#define VM_MAX_CPUS 64

/* Why the VM stopped (vm->exit_reason). */
enum vm_exit_reason {
	VM_RUNNING = 0,
	VM_EXIT_POWEROFF,       /* ACPI S5 or similar: status 0 */
	VM_EXIT_PORT,           /* an exit port: status given by the guest */
	VM_EXIT_RESET,          /* guest reboot */
	VM_EXIT_SHUTDOWN,       /* triple fault */
	VM_EXIT_ERROR,          /* emulation failure, KVM error */
	VM_EXIT_USER,           /* Ctrl-A x, signal, control socket */
};

/* vm-run exit codes (documented in vm-run.1 and vmkit.7). */
#define VM_STATUS_TRIPLE_FAULT 125
#define VM_STATUS_EMU_ERROR 124
#define VM_STATUS_USER_QUIT 0

struct vm {
	const struct vm_config *cfg;
	struct mem_map mem;
	uint64_t ram_size;              /* bytes of guest RAM */
	struct bus *pio;
	struct bus *mmio;
	pthread_mutex_t io_lock;        /* the VM-wide I/O lock (recursive) */
	struct evloop *loop;
	struct ev_timer *wb_timer;      /* the disks' loss window (vm_run) */
	struct irq_router irq;
	struct pci_bus *pci;
	struct pc_bios *bios;           /* firmware boot: the BIOS shadow */
	/* vm_create_restore: the firmware ROM's size, from the snapshot
	 * that fills it (no image read); 0 when building to boot. */
	uint64_t restore_fw_len;
	bool restoring;                 /* built by vm_create_restore */
	struct chardev *console;        /* COM1's stream */
	struct dev *devs;
	/* The tag of the snapshot this run was restored from ("" none):
	 * the parent of the snapshots it saves. */
	char snap_parent[64];

	const struct cpu_backend_ops *backend;
	void *backend_priv;
	struct vcpu *vcpus[VM_MAX_CPUS];
	int ncpus;
	void *intc;                     /* user-space PIC/IOAPIC/LAPICs (DBT) */
	/* The interrupt controllers are another back end's (a DBT standing
	 * in for KVM, vm/hybrid.c): the back end makes none of its own. */
	bool intc_elsewhere;
	/* vm/hybrid.c: the DBT that runs what KVM cannot (NULL: none yet). */
	struct hybrid *hybrid;

	atomic_int exit_reason;         /* enum vm_exit_reason */
	int exit_status;
	char exit_diag[256];

	/* vm_pause / vm_resume: vCPU threads park on pause_cond. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_int pause_req;           /* vCPUs are to park */
	int parked;                     /* vCPU threads parked (pause_lock) */
	int active;                     /* vCPU threads in their loop (pause_lock) */
	bool paused;                    /* vm_pause returned, no vm_resume yet */
};

/* Build a VM for cfg on backend: memory, buses, back end, board and
 * devices, vCPUs, and the boot loader's initial state.  NULL with err set
 * on failure (nothing left behind).  console may be NULL. */
struct vm *vm_create(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct chardev *console,
    struct vm_err *err);
/* vm_create with flags: VM_CREATE_NO_BOOT builds the machine without a
 * boot loader (no kernel, initrd or multiboot image read; the vCPUs at
 * their reset state). */
#define VM_CREATE_NO_BOOT 1u
struct vm *vm_create_ex(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct chardev *console,
    unsigned flags, struct vm_err *err);
/* The machine of cfg for the snapshot at path to fill (vm_snapshot_load
 * follows): no boot loader and no firmware image read either (a firmware
 * VM's ROM regions are made the sizes the snapshot holds, its RAM
 * brings their bytes; the option ROMs and linuxboot files the firmware
 * read at boot are left out). */
struct vm *vm_create_restore(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct chardev *console,
    const char *path, struct vm_err *err);
/* Run until the guest or the user stops it: vCPU threads plus the event
 * loop on the calling thread.  Returns the exit reason; status and diag
 * are in vm->exit_status / vm->exit_diag. */
enum vm_exit_reason vm_run(struct vm *vm);
/* RAM, buses and vCPUs on backend only: no devices, no boot; the caller
 * sets state and drives backend->run itself (test harnesses). */
struct vm *vm_create_bare(const struct vm_config *cfg,
    const struct cpu_backend_ops *backend, struct vm_err *err);
void vm_destroy(struct vm *vm);

/* Ask the VM to stop with reason and status (any thread, lock held or not).
 * The first request wins. */
void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, int status,
    const char *diag);
/*
 * Pause the VM: every vCPU leaves guest code at an instruction boundary
 * and parks on its thread, its state consistent (get_state / set_state
 * may be used on it, as a snapshot does), and the guest's clock stands
 * still (clock_ns: the PIT, LAPIC timers, ACPI PM timer; the DBT's TSC).
 * The event loop goes on: sockets, the console and device callbacks are
 * served, and interrupts raised meanwhile wait for vm_resume.  Returns
 * once every vCPU is parked: 0, -EALREADY if already paused, -ESHUTDOWN
 * if the VM is stopping.  Call from the event loop's thread (a callback,
 * the I/O lock held: it is released while waiting) or from a thread that
 * holds no VM lock; never from a vCPU thread.
 */
int vm_pause(struct vm *vm);
/* Let a paused VM go on (the guest's clock too); -EALREADY if running. */
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* Press the ACPI power button (the guest's OS decides what follows);
 * -ENODEV if the board has no ACPI PM block.  I/O lock held. */
int vm_power_button(struct vm *vm);

/* Create and realize a device of type name with arg; added to vm->devs. */
struct dev *vm_add_device(struct vm *vm, const char *type, const char *id,
    const void *arg, struct vm_err *err);
/* The device with this id, or NULL. */
struct dev *vm_find_device(struct vm *vm, const char *id);

#endif
