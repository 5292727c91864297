/*
 * Guest physical memory: a sorted list of RAM and ROM regions backed by host
 * mappings.  Addresses in no region belong to the MMIO bus.  Every backend
 * and every DMA-capable device translates guest physical addresses here.
 * Thread safety: regions are added before vCPUs start; lookups are lock-free.
 */
#ifndef VM_MEM_MEM_H
#define VM_MEM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm_err;

typedef uint64_t gpa_t; /* guest physical address */
typedef uint64_t gva_t; /* guest linear (virtual) address */

/* A guest write to a ROM region that has a filter (the PC's BIOS shadow,
 * whose 16 KiB segments switch between ROM and RAM): the filter decides
 * where the bytes go. */
typedef void (*mem_rom_write_fn)(void *opaque, gpa_t gpa, const void *buf,
    size_t len);

#define MEM_RAM 0x1u
#define MEM_ROM 0x2u     /* guest writes are dropped */
#define MEM_FILE 0x4u    /* mapped from a file (a --fast-restore restore):
                          * a page not in memory is not zero */
#define MEM_MAX_REGIONS 16

struct mem_region {
	gpa_t gpa;
	uint64_t size;
	uint8_t *hva;
	unsigned flags;
	char name[24];
	mem_rom_write_fn rom_write;     /* NULL: writes are dropped */
	void *rom_opaque;
};

/* Called after a device (DMA) or the loader writes guest memory, so the DBT
 * can drop translations of code in that range. */
typedef void (*mem_write_fn)(void *opaque, gpa_t gpa, uint64_t len);

struct mem_map {
	struct mem_region regions[MEM_MAX_REGIONS];
	int nr;
	mem_write_fn on_write;
	/* RAM added from now on goes on transparent huge pages (vmem.h). */
	bool huge_pages;
	void *on_write_opaque;
	/* The dirty log (mem_dirty_start): a bit per 4 KiB page of each
	 * region, set by every write while it is on. */
	uint64_t *dirty[MEM_MAX_REGIONS];
	bool dirty_on;
};

void mem_init(struct mem_map *map);
/* Free every mapping. */
void mem_fini(struct mem_map *map);

/* Map size bytes of anonymous zeroed RAM at gpa (page aligned); 0/-errno. */
int mem_add_ram(struct mem_map *map, gpa_t gpa, uint64_t size,
    const char *name, struct vm_err *err);
/* Map a ROM region of size bytes initialised from data (len <= size). */
int mem_add_rom(struct mem_map *map, gpa_t gpa, uint64_t size,
    const void *data, size_t len, const char *name, struct vm_err *err);

/* Give the ROM region at gpa a write filter; -ENOENT if there is none. */
int mem_set_rom_write(struct mem_map *map, gpa_t gpa, mem_rom_write_fn fn,
    void *opaque);
/* A guest write of len bytes at gpa that landed in ROM region r: hand it
 * to r's filter, if it has one (else it is dropped).  The caller drops
 * any translations of the bytes (mem_write calls on_write). */
void mem_rom_write(const struct mem_region *r, gpa_t gpa, const void *buf,
    size_t len);

/* The region holding gpa, or NULL (an MMIO hole). */
const struct mem_region *mem_lookup(const struct mem_map *map, gpa_t gpa);
/* Host pointer for [gpa, gpa+len) if it lies wholly in one RAM/ROM region,
 * else NULL.  Every guest-supplied address (DMA, descriptors) goes here. */
void *mem_gpa_to_hva(const struct mem_map *map, gpa_t gpa, uint64_t len);
/* Copy between guest memory and a buffer; -EFAULT if any byte is outside
 * RAM/ROM.  mem_write skips ROM and calls on_write. */
int mem_read(const struct mem_map *map, gpa_t gpa, void *buf, size_t len);
int mem_write(const struct mem_map *map, gpa_t gpa, const void *buf,
    size_t len);
/* A device wrote [gpa, gpa+len) through a host pointer: tell on_write. */
void mem_notify_write(const struct mem_map *map, gpa_t gpa, uint64_t len);
/*
 * The dirty log, for live migration (vm/live.c): while it is on, every
 * write to guest memory marks its page.  mem_write, mem_notify_write and
 * mem_rom_write mark theirs (loaders, device DMA); a CPU back end marks
 * the pages its vCPUs write (the DBT when it gives a page a write TLB
 * entry, and in its direct writes) and forgets those entries when told
 * the log was taken (cpu_backend_ops.dirty_log_sync), so the next write
 * marks again.  Start and take with the vCPUs paused.
 */
int mem_dirty_start(struct mem_map *map, struct vm_err *err);
void mem_dirty_stop(struct mem_map *map);
void mem_dirty_mark_slow(const struct mem_map *map, gpa_t gpa, uint64_t len);
static inline void
mem_dirty_mark(const struct mem_map *map, gpa_t gpa, uint64_t len)
{
	if (__builtin_expect(map->dirty_on, 0))
		mem_dirty_mark_slow(map, gpa, len);
}
/* Region i's bitmap (a bit per page, (size/4096+63)/64 words) into out,
 * cleared in the log. */
void mem_dirty_take(struct mem_map *map, int i, uint64_t *out);

/* For pages [pg, pg+n) of region i, set bit k of absent (n bits, zeroed
 * first) when page pg+k is anonymous memory with no page behind it (never
 * written, or given back, and not swapped out): it reads as zero, and
 * looking at it would fault one in.  Nothing is set for a MEM_FILE region
 * or where /proc/self/pagemap cannot be read. */
void mem_absent_pages(const struct mem_map *map, int i, uint64_t pg,
    uint64_t n, uint64_t *absent);

/* Total RAM bytes (ROM excluded). */
uint64_t mem_ram_size(const struct mem_map *map);

#endif
