/*
 * Device types and instances.  A type is a const table of ops; an instance
 * carries the type's private state.  devices.c lists every type.  A device
 * sees the VM through struct vm's buses, memory, IRQ router and event loop,
 * never the CPU.
 */
#ifndef VM_DEV_DEV_H
#define VM_DEV_DEV_H

#include <stddef.h>
#include <stdint.h>

struct blk;
struct dev;
struct snap_vis;
struct vm;
struct vm_err;

/* What a network card has done, for query-nics. */
struct nic_counters {
	uint64_t tx_frames, rx_frames;  /* to and from the back end */
	uint64_t tx_dropped, rx_dropped;
	uint64_t tso_frames;            /* TSO frames (contexts) the guest sent */
	uint64_t tso_segments;          /* the frames made of them */
	uint64_t tso_failed;            /* TSO frames refused */
	uint64_t headers_refused;       /* virtio-net: lying headers */
	uint64_t rx_offload;            /* virtio-net: TSO frames and partial
	                                 * checksums given to the guest whole */
};

struct dev_type {
	const char *name;
	const char *desc;
	size_t priv_size;
	/* Map ranges, claim IRQs, open backends.  arg is type-specific
	 * (documented in the device's file); 0 or -errno with err set. */
	int (*realize)(struct dev *d, struct vm *vm, const void *arg,
	    struct vm_err *err);
	void (*reset)(struct dev *d);
	void (*unrealize)(struct dev *d);
	/* Snapshots (snap/snap.h): visit the guest-visible state, one walk
	 * for save and load, with the VM paused.  NULL: the device cannot
	 * be saved, and a snapshot of a VM holding one fails naming it. */
	int (*state)(struct dev *d, struct snap_vis *v);
	uint32_t state_version;
	/* After a load: re-derive host-side state (BAR mappings, queue
	 * pointers, timers) and re-check every guest-controlled value as if
	 * the guest had just written it; 0 or -errno with err set. */
	int (*post_load)(struct dev *d, struct vm_err *err);
	/* Loading into a running VM, everything is checked before anything
	 * changes: state runs first on a staging copy of priv (a dry walk,
	 * snap.h), then load_check on that copy must find every reason
	 * post_load could refuse it, without side effects.  NULL: post_load
	 * never refuses. */
	int (*load_check)(struct dev *staged, struct vm_err *err);
	/* The n-th disk the device holds (snapshots take them along), NULL
	 * past the last; NULL op: none. */
	struct blk *(*disk)(struct dev *d, int n);
	/* Put b in the place of the n-th disk (a snapshot's overlay: the
	 * same size), the VM paused and the I/O lock held; the old one is
	 * the caller's to close.  NULL op: the disks cannot be replaced. */
	void (*set_disk)(struct dev *d, int n, struct blk *b);
	/* A network card's counters; NULL op: not a network card. */
	void (*nic_counters)(struct dev *d, struct nic_counters *c);
};

struct dev {
	const struct dev_type *type;
	char id[32];
	struct vm *vm;
	void *priv;
	struct dev *next;
};

/* Find a type by name; NULL if none. */
const struct dev_type *dev_type_find(const char *name);
/* The table, NULL-terminated. */
extern const struct dev_type *const dev_types[];

#endif
