/*
 * Large anonymous mappings (guest RAM, the translator's code cache),
 * aligned to 2 MiB and offered to the kernel's transparent huge pages:
 * fewer host TLB misses on every guest access and every jump between
 * translated blocks.  VMKIT_NO_THP=1 in the environment turns the advice
 * off (for measuring it).
 */
#ifndef VM_UTIL_VMEM_H
#define VM_UTIL_VMEM_H

#include <stddef.h>

/* size bytes, zero-filled, with protection prot (PROT_*), not reserved
 * against swap (MAP_NORESERVE); NULL with errno set on failure. */
void *vmem_alloc(size_t size, int prot);
void vmem_free(void *p, size_t size);

#endif
