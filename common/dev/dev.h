/*
 * Device types and instances.  A type is a const table of ops; an instance
 * carries the type's private state.  devices.c lists every type.  A device
 * sees the VM through struct vm's buses, memory, IRQ router and event loop,
 * never the CPU.
 */
#ifndef VM_DEV_DEV_H
#define VM_DEV_DEV_H

#include <stddef.h>

struct vm;
struct vm_err;
struct dev;

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
