/*
 * Large anonymous mappings (guest RAM, the translator's code cache),
 * aligned to 2 MiB so that they can be offered to the kernel's
 * transparent huge pages.  Huge pages save host TLB misses, but every
 * first touch of one zeroes 2 MiB, and on a nested host whose own memory
 * is backed lazily that first touch is slow: there (measured in
 * bench/RESULTS.md) guest RAM on huge pages cost the DBT more host system
 * and steal time than it saved.  So each caller says whether it wants
 * them; VMKIT_THP=0 or VMKIT_THP=1 in the environment turns the advice
 * off or on for every mapping.
 */
#ifndef VM_UTIL_VMEM_H
#define VM_UTIL_VMEM_H

#include <stdbool.h>
#include <stddef.h>

/* size bytes, zero-filled, with protection prot (PROT_*), not reserved
 * against swap (MAP_NORESERVE), on huge pages if huge (unless VMKIT_THP
 * says otherwise); NULL with errno set on failure. */
void *vmem_alloc(size_t size, int prot, bool huge);
void vmem_free(void *p, size_t size);

#endif
