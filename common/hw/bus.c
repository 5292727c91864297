/*
 * I/O bus: a sorted array of ranges with a last-hit cache.  Overlaps are
 * refused at map time (the idea of Firecracker's Bus::insert), so a lookup
 * is a binary search.  Unmapped ports read as all-ones, as on a PC where
 * nothing drives the data lines; unassigned accesses are logged once per
 * address under --log=io.
 */
#include "hw/bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

#define BUS_MAX_RANGES 256

struct bus_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *opaque;
	char name[24];
};

struct bus {
	char name[8];
	pthread_mutex_t *lock;
	struct bus_range r[BUS_MAX_RANGES];
	int nr;
	int last;
};

struct bus *
bus_new(const char *name, pthread_mutex_t *lock)
{
	struct bus *bus = calloc(1, sizeof(*bus));

	if (bus == NULL)
		return NULL;
	snprintf(bus->name, sizeof(bus->name), "%s", name);
	bus->lock = lock;
	return bus;
}

void
bus_free(struct bus *bus)
{
	free(bus);
}

int
bus_map(struct bus *bus, uint64_t base, uint64_t len,
    const struct io_ops *ops, void *opaque, const char *name,
    struct vm_err *err)
{
	int i, j;

	if (len == 0 || base + len - 1 < base)
		return vm_err_set(err, -EINVAL, "%s: %s: bad range 0x%llx+0x%llx",
		    bus->name, name, (unsigned long long)base,
		    (unsigned long long)len);
	if (bus->nr == BUS_MAX_RANGES)
		return vm_err_set(err, -ENOSPC, "%s: too many ranges",
		    bus->name);
	for (i = 0; i < bus->nr; i++) {
		struct bus_range *r = &bus->r[i];

		if (base <= r->base + r->len - 1 && r->base <= base + len - 1)
			return vm_err_set(err, -EEXIST,
			    "%s: %s at 0x%llx overlaps %s at 0x%llx", bus->name,
			    name, (unsigned long long)base, r->name,
			    (unsigned long long)r->base);
		if (r->base > base)
			break;
	}
	for (j = bus->nr; j > i; j--)
		bus->r[j] = bus->r[j - 1];
	bus->r[i] = (struct bus_range){ .base = base, .len = len, .ops = ops,
		.opaque = opaque };
	snprintf(bus->r[i].name, sizeof(bus->r[i].name), "%s", name);
	bus->nr++;
	bus->last = 0;
	return 0;
}

int
bus_unmap(struct bus *bus, uint64_t base)
{
	int i;

	for (i = 0; i < bus->nr; i++) {
		if (bus->r[i].base == base) {
			memmove(&bus->r[i], &bus->r[i + 1],
			    sizeof(bus->r[0]) * (size_t)(bus->nr - i - 1));
			bus->nr--;
			bus->last = 0;
			return 0;
		}
	}
	return -ENOENT;
}

static struct bus_range *
find(struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->nr - 1, mid;
	struct bus_range *r;

	if (bus->last < bus->nr) {
		r = &bus->r[bus->last];
		if (addr >= r->base && addr - r->base < r->len)
			return r;
	}
	while (lo <= hi) {
		mid = (lo + hi) / 2;
		r = &bus->r[mid];
		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else {
			bus->last = mid;
			return r;
		}
	}
	return NULL;
}

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

bool
bus_read_locked(struct bus *bus, uint64_t addr, unsigned size, uint64_t *val)
{
	struct bus_range *r = find(bus, addr);

	if (r == NULL || r->ops->read == NULL) {
		*val = size_mask(size);
		log_debug(LOG_IO, "%s: unassigned read 0x%llx/%u", bus->name,
		    (unsigned long long)addr, size);
		return false;
	}
	*val = r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
	return true;
}

bool
bus_write_locked(struct bus *bus, uint64_t addr, unsigned size, uint64_t val)
{
	struct bus_range *r = find(bus, addr);

	if (r == NULL || r->ops->write == NULL) {
		log_debug(LOG_IO, "%s: unassigned write 0x%llx/%u = 0x%llx",
		    bus->name, (unsigned long long)addr, size,
		    (unsigned long long)val);
		return false;
	}
	r->ops->write(r->opaque, addr - r->base, val & size_mask(size), size);
	return true;
}

bool
bus_read(struct bus *bus, uint64_t addr, unsigned size, uint64_t *val)
{
	bool ok;

	if (bus->lock)
		pthread_mutex_lock(bus->lock);
	ok = bus_read_locked(bus, addr, size, val);
	if (bus->lock)
		pthread_mutex_unlock(bus->lock);
	return ok;
}

bool
bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t val)
{
	bool ok;

	if (bus->lock)
		pthread_mutex_lock(bus->lock);
	ok = bus_write_locked(bus, addr, size, val);
	if (bus->lock)
		pthread_mutex_unlock(bus->lock);
	return ok;
}
