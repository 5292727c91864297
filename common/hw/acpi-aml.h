/*
 * A tiny AML (ACPI Machine Language) encoder for the DSDT acpi.c builds:
 * names, integers, strings, packages, buffers, scopes, devices and the
 * resource-template descriptors a PCI host bridge and ISA devices need.
 * Errors (bad name, out of memory) are sticky in struct aml's error and
 * checked once at the end.  Spec: ACPI 6.0 sections 19.6 (ASL resource
 * descriptor macros), 6.4 (resource data types) and 20 (AML grammar).
 */
#ifndef VM_HW_ACPI_AML_H
#define VM_HW_ACPI_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	int error;                      /* 0 or sticky -errno */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
/* A NameString: "\\_SB.PCI0", "_HID", "^FOO"; segments padded with '_'. */
void aml_name_string(struct aml *a, const char *path);
/* The shortest integer encoding (ZeroOp, OneOp, Byte/Word/DWord/QWord). */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EisaId("PNP0A03") as a DWord integer. */
void aml_eisaid(struct aml *a, const char *id);

/* Open a construct with a PkgLength; returns a mark for aml_end(). */
size_t aml_scope(struct aml *a, const char *name);
size_t aml_device(struct aml *a, const char *name);
size_t aml_package(struct aml *a, unsigned nelems);
/* Close the innermost open construct: insert its PkgLength. */
void aml_end(struct aml *a, size_t mark);
/* Name(name, ...): the caller emits the value next. */
void aml_name(struct aml *a, const char *name);
/* Buffer() {bytes}. */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Resource descriptors, appended to a (a byte list for aml_buffer). */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max,
    int cacheable);
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
    uint8_t len);
void aml_res_irq(struct aml *a, unsigned irq);
/* End tag with the checksum that makes the template sum to zero. */
void aml_res_end(struct aml *a);

#endif
