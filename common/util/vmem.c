/* Huge-page-friendly anonymous mappings: see vmem.h. */
#include "util/vmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_ALIGN (2u << 20)

void *
vmem_alloc(size_t size, int prot, bool huge)
{
	const char *thp = getenv("VMKIT_THP");
	size_t len = size + HUGE_ALIGN;
	uintptr_t raw, start;
	void *p;

	if (len < size)
		return NULL;
	p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keep the 2 MiB-aligned part: huge pages need aligned ranges. */
	raw = (uintptr_t)p;
	start = (raw + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
	if (start > raw)
		munmap(p, start - raw);
	if (raw + len > start + size)
		munmap((void *)(start + size), raw + len - (start + size));
	if (thp != NULL && thp[0] != '\0')
		huge = thp[0] != '0';
	if (huge)
		(void)madvise((void *)start, size, MADV_HUGEPAGE);
	return (void *)start;
}

void
vmem_free(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, size);
}
