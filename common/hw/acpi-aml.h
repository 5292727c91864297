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
/* IRQ(...) {mask} with its flags byte (AML_IRQ_*). */
void aml_res_irq_flags(struct aml *a, uint16_t mask, uint8_t flags);
#define AML_IRQ_EDGE 0x01
#define AML_IRQ_ACTIVE_LOW 0x08
#define AML_IRQ_SHARED 0x10
/* End tag with the checksum that makes the template sum to zero. */
void aml_res_end(struct aml *a);

/* Method(name, nargs, NotSerialized) { ... }: close with aml_end(). */
size_t aml_method(struct aml *a, const char *name, unsigned nargs);
/* If (predicate) { ... } and Else { ... }: the caller emits the
 * predicate after aml_if(), then the body; aml_end() closes each. */
size_t aml_if(struct aml *a);
size_t aml_else(struct aml *a);
/* OperationRegion(name, space, off, len). */
#define AML_SPACE_PCI_CONFIG 0x02
void aml_opregion(struct aml *a, const char *name, uint8_t space,
    uint64_t off, uint64_t len);
/* Field(region, flags) { names[i], bits[i] ... }: each name exactly four
 * characters, each width 1 to 63 bits. */
#define AML_FIELD_BYTE_ACC 0x01         /* NoLock, Preserve */
void aml_field(struct aml *a, const char *region, uint8_t flags,
    const char *const *names, const uint8_t *bits, unsigned n);

/* Opcodes of method bodies (ACPI 6.0 20.2.5.4, 20.2.6). */
#define AML_OP_ZERO 0x00                /* also NullName: no target */
#define AML_OP_ONE 0x01
#define AML_OP_LOCAL0 0x60
#define AML_OP_ARG0 0x68
#define AML_OP_STORE 0x70               /* Store(TermArg, SuperName) */
#define AML_OP_DECREMENT 0x76           /* Decrement(SuperName) */
#define AML_OP_SHIFT_LEFT 0x79          /* (Operand, Count, Target) */
#define AML_OP_AND 0x7b                 /* (Operand, Operand, Target) */
#define AML_OP_OR 0x7d                  /* (Operand, Operand, Target) */
#define AML_OP_FIND_SET_RIGHT_BIT 0x82  /* (Operand, Target) */
#define AML_OP_CREATE_WORD_FIELD 0x8b   /* (Buffer, Index, NameString) */
#define AML_OP_RETURN 0xa4

#endif
