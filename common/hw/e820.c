/*
 * The e820 memory map a direct-booted guest receives (in Linux's
 * boot_params and as multiboot's mmap).
 *
 * Design: start from the RAM regions of vm->mem, cut out the fixed
 * reserved ranges of the pc board, add those ranges as "reserved", then
 * sort and merge neighbours of the same type.  The result mirrors what
 * QEMU's pc machine reports through SeaBIOS: conventional memory up to the
 * EBDA, a reserved band to 1 MiB (BIOS data, VGA hole, our ACPI tables),
 * RAM to the PCI hole, the interrupt controllers, QEMU's KVM TSS pages and
 * the BIOS window below 4 GiB reserved, and RAM above 4 GiB usable.
 * Spec: ACPI 6.0 section 15 (System Address Map Interfaces), the INT 15h
 * E820h address range types.
 */
#include "hw/boot.h"

#include <errno.h>
#include <stdlib.h>

#include "hw/pc.h"
#include "mem/mem.h"
#include "util/err.h"
#include "vm/vm.h"

struct range {
	uint64_t start, end;            /* [start, end) */
};

/* Fixed reserved ranges of the board (ascending, disjoint). */
static const struct range fixed_reserved[] = {
	{ PC_EBDA, PC_HIGHMEM },
	{ PC_IOAPIC_BASE, PC_IOAPIC_BASE + 0x1000 },
	{ PC_LAPIC_BASE, PC_LAPIC_BASE + 0x1000 },
	{ 0xfeffc000ULL, 0xff000000ULL },       /* KVM TSS + identity map */
	{ 0xfffc0000ULL, PC_HIGHRAM },          /* BIOS window */
};

static int
push(struct e820_entry *ents, int *n, int max, uint64_t start, uint64_t end,
    uint32_t type)
{
	if (end <= start)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	ents[*n].addr = start;
	ents[*n].size = end - start;
	ents[*n].type = type;
	(*n)++;
	return 0;
}

/* Add [start, end) as RAM minus every fixed reserved range. */
static int
push_ram(struct e820_entry *ents, int *n, int max, uint64_t start,
    uint64_t end)
{
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(fixed_reserved) && start < end; i++) {
		const struct range *r = &fixed_reserved[i];

		if (r->end <= start || r->start >= end)
			continue;
		ret = push(ents, n, max, start, r->start, E820_RAM);
		if (ret < 0)
			return ret;
		start = r->end;
	}
	if (start < end)
		return push(ents, n, max, start, end, E820_RAM);
	return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

int
e820_build(const struct vm *vm, struct e820_entry *ents, int max)
{
	struct e820_entry tmp[E820_MAX * 2];
	int n = 0, out = 0, i, ret;
	size_t k;

	for (i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];

		if (!(r->flags & MEM_RAM))
			continue;
		ret = push_ram(tmp, &n, (int)ARRAY_SIZE(tmp), r->gpa,
		    r->gpa + r->size);
		if (ret < 0)
			return ret;
	}
	for (k = 0; k < ARRAY_SIZE(fixed_reserved); k++) {
		ret = push(tmp, &n, (int)ARRAY_SIZE(tmp),
		    fixed_reserved[k].start, fixed_reserved[k].end,
		    E820_RESERVED);
		if (ret < 0)
			return ret;
	}
	qsort(tmp, (size_t)n, sizeof(tmp[0]), cmp_entry);
	for (i = 0; i < n; i++) {
		struct e820_entry *last = out ? &ents[out - 1] : NULL;

		if (last && last->type == tmp[i].type &&
		    last->addr + last->size == tmp[i].addr) {
			last->size += tmp[i].size;
			continue;
		}
		if (out >= max)
			return -ENOSPC;
		ents[out++] = tmp[i];
	}
	return out;
}

uint64_t
e820_usable_end(const struct e820_entry *ents, int n, uint64_t addr)
{
	int i;

	for (i = 0; i < n; i++)
		if (ents[i].type == E820_RAM && addr >= ents[i].addr &&
		    addr - ents[i].addr < ents[i].size)
			return ents[i].addr + ents[i].size;
	return 0;
}

void
e820_mem_lower_upper(const struct e820_entry *ents, int n,
    uint32_t *lower_kb, uint32_t *upper_kb)
{
	uint64_t lo = e820_usable_end(ents, n, 0);
	uint64_t hi = e820_usable_end(ents, n, PC_HIGHMEM);

	if (lo > PC_LOWMEM_END)
		lo = PC_LOWMEM_END;
	*lower_kb = (uint32_t)(lo >> 10);
	*upper_kb = hi ? (uint32_t)((hi - PC_HIGHMEM) >> 10) : 0;
}
