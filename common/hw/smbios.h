/*
 * SMBIOS (DMTF DSP0134) tables describing the VM, for the firmware to
 * publish (hw/smbios.c).
 */
#ifndef VM_HW_SMBIOS_H
#define VM_HW_SMBIOS_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_err;

/* The 2.1 entry point (31 bytes, table address 0) and the structures,
 * both malloc'ed for the caller to free.  0 or -errno. */
int smbios_build(const struct vm *vm, uint8_t **anchor, size_t *anchor_len,
    uint8_t **tables, size_t *tables_len, struct vm_err *err);
/* The VM's system UUID (type 1), big-endian as written in text: a
 * version 5 UUID of "vmkit:NAME" in the URL namespace. */
void smbios_uuid(const char *name, uint8_t uuid[16]);

#endif
