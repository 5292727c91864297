/*
 * Port-I/O and MMIO buses.  Both CPU back ends deliver every port and MMIO
 * access here, so a device never knows which CPU runs the guest.
 * Dispatch takes the bus lock (the VM-wide I/O lock) around the device
 * callback; callbacks may map and unmap ranges (PCI BAR moves).
 */
#ifndef VM_HW_BUS_H
#define VM_HW_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm_err;

/* off is relative to the mapped base; size is 1, 2, 4 or 8 bytes; values
 * travel in host byte order, zero-extended. */
struct io_ops {
	uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
	void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
};

struct bus;

/* A bus named name ("pio", "mmio"); lock may be NULL. */
struct bus *bus_new(const char *name, pthread_mutex_t *lock);
void bus_free(struct bus *bus);

/* Map [base, base+len) to ops/opaque.  -EINVAL for len 0 or wrap-around,
 * -EEXIST (with the other range's name) for an overlap. */
int bus_map(struct bus *bus, uint64_t base, uint64_t len,
    const struct io_ops *ops, void *opaque, const char *name,
    struct vm_err *err);
/* Remove the range starting at base; -ENOENT if none. */
int bus_unmap(struct bus *bus, uint64_t base);

/* Dispatch one access.  A hole reads all-ones and drops writes; the return
 * value is false then (for logging). */
bool bus_read(struct bus *bus, uint64_t addr, unsigned size, uint64_t *val);
bool bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t val);
/* As above, without taking the lock (caller holds it). */
bool bus_read_locked(struct bus *bus, uint64_t addr, unsigned size,
    uint64_t *val);
bool bus_write_locked(struct bus *bus, uint64_t addr, unsigned size,
    uint64_t val);

#endif
