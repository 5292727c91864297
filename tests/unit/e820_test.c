/* The e820 map built from the VM's RAM regions (hw/e820.c). */
#include <errno.h>

#include "hw/boot.h"
#include "hw/pc.h"
#include "test.h"
#include "util/err.h"
#include "vm/vm.h"

static struct vm vm;

/* RAM as the pc board lays it out: up to 3 GiB low, the rest from 4 GiB. */
static void
make_vm(uint64_t ram)
{
	uint64_t low = ram < PC_PCI_HOLE ? ram : PC_PCI_HOLE;

	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, low, "low", NULL), 0);
	if (ram > low)
		EXPECT_EQ(mem_add_ram(&vm.mem, PC_HIGHRAM, ram - low, "high",
		    NULL), 0);
	vm.ram_size = ram;
}

static void
expect_entry(const struct e820_entry *e, uint64_t addr, uint64_t size,
    uint32_t type)
{
	EXPECT_EQ(e->addr, addr);
	EXPECT_EQ(e->size, size);
	EXPECT_EQ(e->type, type);
}

/* Sorted, non-overlapping, no two touching entries of one type. */
static void
expect_well_formed(const struct e820_entry *e, int n)
{
	int i;

	for (i = 1; i < n; i++) {
		EXPECT_TRUE(e[i - 1].addr + e[i - 1].size <= e[i].addr);
		EXPECT_TRUE(!(e[i - 1].addr + e[i - 1].size == e[i].addr &&
		    e[i - 1].type == e[i].type));
	}
}

static void
expect_fixed_tail(const struct e820_entry *e)
{
	expect_entry(&e[0], PC_IOAPIC_BASE, 0x1000, E820_RESERVED);
	expect_entry(&e[1], PC_LAPIC_BASE, 0x1000, E820_RESERVED);
	expect_entry(&e[2], 0xfeffc000, 0x4000, E820_RESERVED);
	expect_entry(&e[3], 0xfffc0000, 0x40000, E820_RESERVED);
}

TEST(map_512m)
{
	struct e820_entry e[E820_MAX];
	uint32_t lo, hi;
	int n;

	make_vm(512ULL << 20);
	n = e820_build(&vm, e, E820_MAX);
	EXPECT_EQ(n, 7);
	expect_entry(&e[0], 0, PC_EBDA, E820_RAM);
	expect_entry(&e[1], PC_EBDA, PC_HIGHMEM - PC_EBDA, E820_RESERVED);
	expect_entry(&e[2], PC_HIGHMEM, (512ULL << 20) - PC_HIGHMEM, E820_RAM);
	expect_fixed_tail(&e[3]);
	expect_well_formed(e, n);
	e820_mem_lower_upper(e, n, &lo, &hi);
	EXPECT_EQ(lo, 639);
	EXPECT_EQ(hi, (512 - 1) * 1024);
	EXPECT_EQ(e820_usable_end(e, n, 0x200000), 512ULL << 20);
	EXPECT_EQ(e820_usable_end(e, n, 0xa0000), 0);
	EXPECT_EQ(e820_usable_end(e, n, 512ULL << 20), 0);
}

TEST(map_3_5g)
{
	struct e820_entry e[E820_MAX];
	int n;

	make_vm(3584ULL << 20);
	n = e820_build(&vm, e, E820_MAX);
	EXPECT_EQ(n, 8);
	expect_entry(&e[2], PC_HIGHMEM, PC_PCI_HOLE - PC_HIGHMEM, E820_RAM);
	expect_fixed_tail(&e[3]);
	expect_entry(&e[7], PC_HIGHRAM, 512ULL << 20, E820_RAM);
	expect_well_formed(e, n);
}

TEST(map_5g)
{
	struct e820_entry e[E820_MAX];
	uint64_t usable = 0;
	int n, i;

	make_vm(5ULL << 30);
	n = e820_build(&vm, e, E820_MAX);
	EXPECT_EQ(n, 8);
	expect_entry(&e[7], PC_HIGHRAM, 2ULL << 30, E820_RAM);
	for (i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			usable += e[i].size;
	/* All RAM but the reserved band from the EBDA to 1 MiB. */
	EXPECT_EQ(usable, (5ULL << 30) - (PC_HIGHMEM - PC_EBDA));
	expect_well_formed(e, n);
}

TEST(too_small_a_table)
{
	struct e820_entry e[3];

	make_vm(512ULL << 20);
	EXPECT_EQ(e820_build(&vm, e, 3), -ENOSPC);
}

TEST(split_low_regions)
{
	struct e820_entry e[E820_MAX];
	int n;

	/* The board may map conventional memory and the rest separately. */
	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, 0xa0000, "conv", NULL), 0);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0xe0000, 0x20000, "bios", NULL), 0);
	EXPECT_EQ(mem_add_ram(&vm.mem, PC_HIGHMEM, 63ULL << 20, "ext",
	    NULL), 0);
	n = e820_build(&vm, e, E820_MAX);
	EXPECT_EQ(n, 7);
	expect_entry(&e[0], 0, PC_EBDA, E820_RAM);
	expect_entry(&e[1], PC_EBDA, PC_HIGHMEM - PC_EBDA, E820_RESERVED);
	expect_entry(&e[2], PC_HIGHMEM, 63ULL << 20, E820_RAM);
	expect_well_formed(e, n);
}
