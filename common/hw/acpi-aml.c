/*
 * A tiny AML byte-code encoder (see acpi-aml.h).
 *
 * Design: one growable byte array.  Constructs that carry a PkgLength
 * (scope, device, package, buffer) record where the length belongs and
 * insert it when closed, once the body's size is known; the encoding
 * needs 1 to 4 bytes and counts itself.  Besides the static objects:
 * methods, If/Else, operation regions and fields, enough for the PCI
 * interrupt link devices; the callers emit the opcodes of the method
 * bodies (acpi-aml.h names them).
 * Spec: ACPI 6.0 section 20.2 (AML grammar: NameString, PkgLength,
 * ComputationalData, DefScope, DefDevice, DefPackage, DefBuffer,
 * DefMethod, DefIfElse, DefOpRegion, DefField) and
 * section 6.4 (small and large resource data types).
 */
#include "hw/acpi-aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_OP 0x5b
#define AML_DEVICE_OP 0x82              /* after AML_EXT_OP */
#define AML_OPREGION_OP 0x80            /* after AML_EXT_OP */
#define AML_FIELD_OP 0x81               /* after AML_EXT_OP */
#define AML_METHOD_OP 0x14
#define AML_IF_OP 0xa0
#define AML_ELSE_OP 0xa1
#define AML_ROOT_CHAR 0x5c
#define AML_PARENT_PREFIX 0x5e
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f

void
aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void
aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

static int
reserve(struct aml *a, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (a->error)
		return -1;
	if (a->len + n <= a->cap)
		return 0;
	cap = a->cap ? a->cap * 2 : 256;
	while (cap < a->len + n)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (p == NULL) {
		a->error = -ENOMEM;
		return -1;
	}
	a->buf = p;
	a->cap = cap;
	return 0;
}

void
aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (reserve(a, n) < 0)
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void
aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void
le(struct aml *a, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

static int
seg_char_ok(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' ||
	    (!first && c >= '0' && c <= '9');
}

void
aml_name_string(struct aml *a, const char *path)
{
	const char *p = path, *q;
	char segs[255][4];
	int nseg = 0, i, k;

	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p) {
		q = p;
		while (*q && *q != '.')
			q++;
		if (q == p || q - p > 4 || nseg == 255) {
			a->error = a->error ? a->error : -EINVAL;
			return;
		}
		for (k = 0; k < 4; k++) {
			char c = p + k < q ? p[k] : '_';

			if (!seg_char_ok(c, k == 0)) {
				a->error = a->error ? a->error : -EINVAL;
				return;
			}
			segs[nseg][k] = c;
		}
		nseg++;
		p = *q ? q + 1 : q;
	}
	if (nseg == 0) {
		aml_byte(a, 0x00);              /* NullName */
		return;
	}
	if (nseg == 2)
		aml_byte(a, AML_DUAL_NAME);
	else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	for (i = 0; i < nseg; i++)
		aml_bytes(a, segs[i], 4);
}

void
aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		le(a, v, 2);
	} else if (v <= 0xffffffffu) {
		aml_byte(a, AML_DWORD_PREFIX);
		le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		le(a, v, 8);
	}
}

void
aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;
	int i, d[4];

	/* Three letters (5 bits each, 'A' = 1) then four hex digits; the
	 * bytes of the DWord in memory read as a big-endian 32-bit value. */
	if (strlen(id) != 7) {
		a->error = a->error ? a->error : -EINVAL;
		return;
	}
	for (i = 0; i < 3; i++)
		if (id[i] < 'A' || id[i] > 'Z') {
			a->error = a->error ? a->error : -EINVAL;
			return;
		}
	for (i = 0; i < 4; i++)
		if ((d[i] = hexval(id[3 + i])) < 0) {
			a->error = a->error ? a->error : -EINVAL;
			return;
		}
	v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
	    (uint32_t)(id[2] - 0x40) << 16 | (uint32_t)d[0] << 12 |
	    (uint32_t)d[1] << 8 | (uint32_t)d[2] << 4 | (uint32_t)d[3];
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
}

size_t
aml_scope(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_name_string(a, name);
	return mark;
}

size_t
aml_device(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_DEVICE_OP);
	mark = a->len;
	aml_name_string(a, name);
	return mark;
}

size_t
aml_package(struct aml *a, unsigned nelems)
{
	size_t mark;

	if (nelems > 255)
		a->error = a->error ? a->error : -EINVAL;
	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

void
aml_end(struct aml *a, size_t mark)
{
	size_t body, total;
	uint8_t enc[4];
	int n, i;

	if (a->error || mark > a->len)
		return;
	body = a->len - mark;
	if (body + 1 <= 0x3f)
		n = 1;
	else if (body + 2 < (1u << 12))
		n = 2;
	else if (body + 3 < (1u << 20))
		n = 3;
	else if (body + 4 < (1u << 28))
		n = 4;
	else {
		a->error = -E2BIG;
		return;
	}
	total = body + (size_t)n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		/* Byte 0: count of following bytes in bits 7-6, the low
		 * nibble of the length in bits 3-0; then 8 bits each. */
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (reserve(a, (size_t)n) < 0)
		return;
	memmove(a->buf + mark + n, a->buf + mark, body);
	memcpy(a->buf + mark, enc, (size_t)n);
	a->len += (size_t)n;
}

void
aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

void
aml_buffer(struct aml *a, const void *data, size_t len)
{
	size_t mark;

	aml_byte(a, AML_BUFFER_OP);
	mark = a->len;
	aml_integer(a, len);
	aml_bytes(a, data, len);
	aml_end(a, mark);
}

/* --- resource descriptors (ACPI 6.0 6.4) -------------------------------- */

#define RES_FLAGS_FIXED 0x0c    /* _MAF | _MIF, positive decode, producer */

static void
word_addr(struct aml *a, uint8_t type, uint8_t tflags, uint16_t min,
    uint16_t max)
{
	aml_byte(a, 0x88);                      /* Word Address Space */
	le(a, 13, 2);
	aml_byte(a, type);
	aml_byte(a, RES_FLAGS_FIXED);
	aml_byte(a, tflags);
	le(a, 0, 2);                            /* granularity */
	le(a, min, 2);
	le(a, max, 2);
	le(a, 0, 2);                            /* translation */
	le(a, (uint32_t)max - min + 1, 2);
}

void
aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	word_addr(a, 2, 0, min, max);
}

void
aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	word_addr(a, 1, 0x3, min, max);         /* _RNG: entire range */
}

void
aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, int cacheable)
{
	aml_byte(a, 0x87);                      /* DWord Address Space */
	le(a, 23, 2);
	aml_byte(a, 0);                         /* memory */
	aml_byte(a, RES_FLAGS_FIXED);
	aml_byte(a, cacheable ? 0x3 : 0x1);     /* _MEM, _RW = read/write */
	le(a, 0, 4);
	le(a, min, 4);
	le(a, max, 4);
	le(a, 0, 4);
	le(a, (uint64_t)max - min + 1, 4);
}

void
aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
    uint8_t len)
{
	aml_byte(a, 0x47);                      /* I/O port, small item */
	aml_byte(a, 0x01);                      /* 16-bit decode */
	le(a, min, 2);
	le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void
aml_res_irq(struct aml *a, unsigned irq)
{
	aml_byte(a, 0x22);                      /* IRQ, no flags byte */
	le(a, 1u << (irq & 15), 2);
}

void
aml_res_end(struct aml *a)
{
	uint8_t sum = 0;
	size_t i;

	aml_byte(a, 0x79);
	if (a->error)
		return;
	for (i = 0; i < a->len; i++)
		sum = (uint8_t)(sum + a->buf[i]);
	aml_byte(a, (uint8_t)-sum);
}

/* --- methods, control flow, regions (ACPI 6.0 20.2.5) ------------------- */

size_t
aml_method(struct aml *a, const char *name, unsigned nargs)
{
	size_t mark;

	aml_byte(a, AML_METHOD_OP);
	mark = a->len;
	aml_name_string(a, name);
	aml_byte(a, (uint8_t)(nargs & 7));      /* NotSerialized */
	return mark;
}

size_t
aml_if(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	return a->len;
}

size_t
aml_else(struct aml *a)
{
	aml_byte(a, AML_ELSE_OP);
	return a->len;
}

void
aml_opregion(struct aml *a, const char *name, uint8_t space, uint64_t off,
    uint64_t len)
{
	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_OPREGION_OP);
	aml_name_string(a, name);
	aml_byte(a, space);
	aml_integer(a, off);
	aml_integer(a, len);
}

void
aml_field(struct aml *a, const char *region, uint8_t flags,
    const char *const *names, const uint8_t *bits, unsigned n)
{
	size_t mark;
	unsigned i;

	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_FIELD_OP);
	mark = a->len;
	aml_name_string(a, region);
	aml_byte(a, flags);
	for (i = 0; i < n; i++) {
		/* NamedField: a NameSeg of exactly 4 characters, then its
		 * width in bits as a one-byte PkgLength (below 64). */
		if (strlen(names[i]) != 4 || bits[i] == 0 || bits[i] > 63) {
			a->error = -EINVAL;
			return;
		}
		aml_bytes(a, names[i], 4);
		aml_byte(a, bits[i]);
	}
	aml_end(a, mark);
}

void
aml_res_irq_flags(struct aml *a, uint16_t mask, uint8_t flags)
{
	aml_byte(a, 0x23);                      /* IRQ with a flags byte */
	le(a, mask, 2);
	aml_byte(a, flags);
}
