/*
 * Guest physical memory map.  RAM is anonymous mmap (MAP_NORESERVE, so an
 * untouched guest page costs nothing); the array is kept sorted by address
 * and is small enough that a linear scan beats anything clever.
 */
#include "mem/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>

#include "util/err.h"
#include "util/vmem.h"

void
mem_init(struct mem_map *map)
{
	memset(map, 0, sizeof(*map));
}

void
mem_fini(struct mem_map *map)
{
	int i;

	mem_dirty_stop(map);
	for (i = 0; i < map->nr; i++)
		vmem_free(map->regions[i].hva, map->regions[i].size);
	map->nr = 0;
}

int
mem_dirty_start(struct mem_map *map, struct vm_err *err)
{
	int i;

	for (i = 0; i < map->nr; i++) {
		uint64_t words = (map->regions[i].size / 4096 + 63) / 64;

		map->dirty[i] = calloc(words ? words : 1, 8);
		if (map->dirty[i] == NULL) {
			mem_dirty_stop(map);
			return vm_err_set(err, -ENOMEM, "out of memory for the "
			    "dirty log");
		}
	}
	__atomic_store_n(&map->dirty_on, true, __ATOMIC_SEQ_CST);
	return 0;
}

void
mem_dirty_stop(struct mem_map *map)
{
	int i;

	__atomic_store_n(&map->dirty_on, false, __ATOMIC_SEQ_CST);
	for (i = 0; i < MEM_MAX_REGIONS; i++) {
		free(map->dirty[i]);
		map->dirty[i] = NULL;
	}
}

void
mem_dirty_mark_slow(const struct mem_map *map, gpa_t gpa, uint64_t len)
{
	int i;

	if (len == 0)
		return;
	for (i = 0; i < map->nr; i++) {
		const struct mem_region *r = &map->regions[i];
		uint64_t a, b, pg;

		if (gpa + len <= r->gpa || gpa >= r->gpa + r->size ||
		    map->dirty[i] == NULL)
			continue;
		a = (gpa > r->gpa ? gpa - r->gpa : 0) / 4096;
		b = (gpa + len - r->gpa > r->size ? r->size :
		    gpa + len - r->gpa) - 1;
		for (pg = a; pg <= b / 4096; pg++)
			__atomic_fetch_or(&map->dirty[i][pg / 64],
			    1ULL << (pg % 64), __ATOMIC_RELAXED);
	}
}

void
mem_dirty_take(struct mem_map *map, int i, uint64_t *out)
{
	uint64_t k, words = (map->regions[i].size / 4096 + 63) / 64;

	for (k = 0; k < words; k++)
		out[k] = map->dirty[i] == NULL ? ~0ULL :
		    __atomic_exchange_n(&map->dirty[i][k], 0, __ATOMIC_SEQ_CST);
}

static int
add_region(struct mem_map *map, gpa_t gpa, uint64_t size, unsigned flags,
    const char *name, struct vm_err *err)
{
	struct mem_region *r;
	void *p;
	int i;

	if (size == 0 || (gpa & 0xfff) || (size & 0xfff) || gpa + size < gpa)
		return vm_err_set(err, -EINVAL,
		    "memory region %s: bad range 0x%llx+0x%llx", name,
		    (unsigned long long)gpa, (unsigned long long)size);
	if (map->nr == MEM_MAX_REGIONS)
		return vm_err_set(err, -ENOSPC, "too many memory regions");
	for (i = 0; i < map->nr; i++) {
		r = &map->regions[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return vm_err_set(err, -EEXIST,
			    "memory region %s overlaps %s", name, r->name);
	}
	p = vmem_alloc(size, PROT_READ | PROT_WRITE, map->huge_pages);
	if (p == NULL)
		return vm_err_errno(err, -errno,
		    "cannot allocate %llu MiB of guest memory",
		    (unsigned long long)(size >> 20));
	for (i = map->nr; i > 0 && map->regions[i - 1].gpa > gpa; i--)
		map->regions[i] = map->regions[i - 1];
	r = &map->regions[i];
	r->gpa = gpa;
	r->size = size;
	r->hva = p;
	r->flags = flags;
	snprintf(r->name, sizeof(r->name), "%s", name);
	map->nr++;
	return 0;
}

int
mem_add_ram(struct mem_map *map, gpa_t gpa, uint64_t size, const char *name,
    struct vm_err *err)
{
	return add_region(map, gpa, size, MEM_RAM, name, err);
}

int
mem_add_rom(struct mem_map *map, gpa_t gpa, uint64_t size, const void *data,
    size_t len, const char *name, struct vm_err *err)
{
	int ret;

	if (len > size)
		return vm_err_set(err, -EINVAL, "ROM %s: %zu bytes do not fit",
		    name, len);
	ret = add_region(map, gpa, size, MEM_ROM, name, err);
	if (ret < 0)
		return ret;
	memcpy(mem_gpa_to_hva(map, gpa, len ? len : 1), data, len);
	return 0;
}

int
mem_set_rom_write(struct mem_map *map, gpa_t gpa, mem_rom_write_fn fn,
    void *opaque)
{
	int i;

	for (i = 0; i < map->nr; i++) {
		struct mem_region *r = &map->regions[i];

		if (r->gpa == gpa && (r->flags & MEM_ROM)) {
			r->rom_write = fn;
			r->rom_opaque = opaque;
			return 0;
		}
	}
	return -ENOENT;
}

void
mem_rom_write(const struct mem_region *r, gpa_t gpa, const void *buf,
    size_t len)
{
	if (r->rom_write != NULL)
		r->rom_write(r->rom_opaque, gpa, buf, len);
}

const struct mem_region *
mem_lookup(const struct mem_map *map, gpa_t gpa)
{
	int i;

	for (i = 0; i < map->nr; i++) {
		const struct mem_region *r = &map->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *
mem_gpa_to_hva(const struct mem_map *map, gpa_t gpa, uint64_t len)
{
	const struct mem_region *r = mem_lookup(map, gpa);

	if (r == NULL || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

int
mem_read(const struct mem_map *map, gpa_t gpa, void *buf, size_t len)
{
	uint8_t *dst = buf;

	while (len) {
		const struct mem_region *r = mem_lookup(map, gpa);
		uint64_t off, n;

		if (r == NULL)
			return -EFAULT;
		off = gpa - r->gpa;
		n = r->size - off < len ? r->size - off : len;
		memcpy(dst, r->hva + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int
mem_write(const struct mem_map *map, gpa_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	gpa_t start = gpa;
	size_t total = len;

	while (len) {
		const struct mem_region *r = mem_lookup(map, gpa);
		uint64_t off, n;

		if (r == NULL)
			return -EFAULT;
		off = gpa - r->gpa;
		n = r->size - off < len ? r->size - off : len;
		if (r->flags & MEM_RAM)
			memcpy(r->hva + off, src, n);
		else
			mem_rom_write(r, gpa, src, n);
		src += n;
		gpa += n;
		len -= n;
	}
	mem_dirty_mark(map, start, total);
	if (map->on_write)
		map->on_write(map->on_write_opaque, start, total);
	return 0;
}

void
mem_absent_pages(const struct mem_map *map, int i, uint64_t pg, uint64_t n,
    uint64_t *absent)
{
	const struct mem_region *r = &map->regions[i];
	uint64_t ent[512], k, done = 0;
	int fd;

	memset(absent, 0, (n + 63) / 64 * 8);
	if ((r->flags & MEM_FILE) || pg > r->size / 4096 ||
	    n > r->size / 4096 - pg)
		return;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (done < n) {
		uint64_t m = n - done < 512 ? n - done : 512;
		off_t at = (off_t)(((uintptr_t)r->hva / 4096 + pg + done) * 8);

		if (pread(fd, ent, m * 8, at) != (ssize_t)(m * 8)) {
			memset(absent, 0, (n + 63) / 64 * 8);
			break;
		}
		/* bit 63: present, bit 62: swapped */
		for (k = 0; k < m; k++)
			if (!(ent[k] >> 62))
				absent[(done + k) / 64] |= 1ULL << ((done + k) % 64);
		done += m;
	}
	close(fd);
}

uint64_t
mem_ram_size(const struct mem_map *map)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < map->nr; i++)
		if (map->regions[i].flags & MEM_RAM)
			total += map->regions[i].size;
	return total;
}

void
mem_notify_write(const struct mem_map *map, gpa_t gpa, uint64_t len)
{
	mem_dirty_mark(map, gpa, len);
	if (map->on_write)
		map->on_write(map->on_write_opaque, gpa, len);
}
