/*
 * SMBIOS tables (DMTF DSP0134, version 2.8 structures behind a 2.1
 * "_SM_" entry point) describing the VM: BIOS (type 0), system (1, with a
 * UUID stable per VM name), chassis (3), one processor per vCPU (4), the
 * physical memory array (16), one memory device per 16 GiB (17), one
 * mapped address range per RAM region (19), boot status (32) and the end
 * marker (127).
 *
 * The firmware gets them through fw_cfg as QEMU hands them over
 * (etc/smbios/smbios-anchor, etc/smbios/smbios-tables): SeaBIOS copies
 * the tables into its own memory, fills in the table's address and the
 * checksums, and publishes the entry point in the F segment, where
 * Linux's DMI code (/sys/class/dmi/id) and dmidecode find it.
 *
 * The UUID is an RFC 4122 version 5 (SHA-1, name-based) UUID of
 * "vmkit:" and the VM's name in the URL namespace, stored with its first
 * three fields little-endian as SMBIOS 2.6 and later say.
 */
#include "hw/smbios.h"

#include <errno.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "hw/pc.h"
#include "util/err.h"
#include "util/version.h"
#include "vm/vm.h"

#define EP_LEN 31
#define MAX_TABLES 0x8000               /* fits the entry point's u16 */
#define MIB (1ULL << 20)
#define MEMDEV_MIB 16384ULL             /* a type 17 device per 16 GiB */

struct sm {
	uint8_t *buf;
	size_t len;
	unsigned count, max_size;
	size_t start;                   /* of the structure being built */
	unsigned nstr;
	bool full;
};

static void
put(struct sm *s, const void *p, size_t n)
{
	if (s->full || s->len + n > MAX_TABLES) {
		s->full = true;
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
put8(struct sm *s, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(s, &b, 1);
}

static void
put16(struct sm *s, unsigned v)
{
	put8(s, v & 0xff);
	put8(s, (v >> 8) & 0xff);
}

static void
put32(struct sm *s, uint32_t v)
{
	put16(s, v & 0xffff);
	put16(s, v >> 16);
}

static void
put64(struct sm *s, uint64_t v)
{
	put32(s, (uint32_t)v);
	put32(s, (uint32_t)(v >> 32));
}

/* Start a structure: type, length of the formatted part, handle. */
static void
begin(struct sm *s, unsigned type, unsigned len, unsigned handle)
{
	s->start = s->len;
	s->nstr = 0;
	put8(s, type);
	put8(s, len);
	put16(s, handle);
}

/* A string's index for the formatted part; 0 (none) for "". */
static unsigned
str_index(const char *str, char strs[][64], unsigned *n)
{
	if (str == NULL || *str == '\0')
		return 0;
	snprintf(strs[*n], sizeof(strs[0]), "%s", str);
	return ++*n;
}

/* End a structure: its strings, then the double NUL. */
static void
end(struct sm *s, char strs[][64], unsigned n)
{
	unsigned i, size;

	for (i = 0; i < n; i++)
		put(s, strs[i], strlen(strs[i]) + 1);
	if (n == 0)
		put8(s, 0);
	put8(s, 0);
	size = (unsigned)(s->len - s->start);
	if (size > s->max_size)
		s->max_size = size;
	s->count++;
}

/* The byte that makes len bytes at p sum to 0. */
static uint8_t
checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

void
smbios_uuid(const char *name, uint8_t uuid[16])
{
	/* RFC 4122 appendix C: the URL namespace. */
	static const uint8_t ns[16] = { 0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad,
		0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8 };
	uint8_t digest[SHA1_DIGEST_SIZE];
	struct sha1_ctx ctx;

	sha1_init(&ctx);
	sha1_update(&ctx, sizeof(ns), ns);
	sha1_update(&ctx, 6, (const uint8_t *)"vmkit:");
	sha1_update(&ctx, strlen(name), (const uint8_t *)name);
	sha1_digest(&ctx, sizeof(digest), digest);
	memcpy(uuid, digest, 16);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x50);   /* version 5 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
}

/* The BIOS: its version names the firmware that runs, OVMF under
 * boot.firmware uefi, SeaBIOS (Debian's or the --bios image) otherwise. */
static void
type0(struct sm *s, const char *firmware)
{
	char strs[3][64];
	unsigned n = 0, vendor, version, date;

	vendor = str_index("vmkit", strs, &n);
	version = str_index(strcmp(firmware, "uefi") == 0 ?
	    "OVMF (vmkit " VMKIT_VERSION ")" :
	    "SeaBIOS (vmkit " VMKIT_VERSION ")", strs, &n);
	date = str_index("12/01/2026", strs, &n);
	begin(s, 0, 0x18, 0x0000);
	put8(s, vendor);
	put8(s, version);
	put16(s, 0xe800);                       /* starting segment */
	put8(s, date);
	put8(s, 0);                             /* ROM size: 64 KiB */
	put64(s, 0x08);                         /* characteristics: none */
	put8(s, 0x00);
	put8(s, 0x14);                          /* a VM; content distribution */
	put8(s, 0);                             /* BIOS release 0.0 */
	put8(s, 0);
	put8(s, 0xff);                          /* no embedded controller */
	put8(s, 0xff);
	end(s, strs, n);
}

static void
type1(struct sm *s, const char *name)
{
	char strs[5][64];
	unsigned n = 0, man, prod, ver, serial, family;
	uint8_t u[16], le[16];

	man = str_index("vmkit", strs, &n);
	prod = str_index("vmkit virtual machine", strs, &n);
	ver = str_index(VMKIT_VERSION, strs, &n);
	serial = str_index(name, strs, &n);
	family = str_index("Virtual Machine", strs, &n);
	smbios_uuid(name, u);
	/* time_low, time_mid, time_hi_and_version little-endian. */
	memcpy(le, u, 16);
	le[0] = u[3]; le[1] = u[2]; le[2] = u[1]; le[3] = u[0];
	le[4] = u[5]; le[5] = u[4];
	le[6] = u[7]; le[7] = u[6];
	begin(s, 1, 0x1b, 0x0100);
	put8(s, man);
	put8(s, prod);
	put8(s, ver);
	put8(s, serial);
	put(s, le, 16);
	put8(s, 0x06);                          /* woken by the power switch */
	put8(s, 0);                             /* SKU */
	put8(s, family);
	end(s, strs, n);
}

static void
type3(struct sm *s)
{
	char strs[1][64];
	unsigned n = 0, man;

	man = str_index("vmkit", strs, &n);
	begin(s, 3, 0x16, 0x0300);
	put8(s, man);
	put8(s, 0x01);                          /* other */
	put8(s, 0);                             /* version */
	put8(s, 0);                             /* serial */
	put8(s, 0);                             /* asset tag */
	put8(s, 0x03);                          /* boot-up state: safe */
	put8(s, 0x03);                          /* power supply: safe */
	put8(s, 0x03);                          /* thermal: safe */
	put8(s, 0x02);                          /* security: unknown */
	put32(s, 0);                            /* OEM */
	put8(s, 0);                             /* height */
	put8(s, 0);                             /* power cords */
	put8(s, 0);                             /* contained elements */
	put8(s, 0);
	put8(s, 0);                             /* SKU */
	end(s, strs, n);
}

static void
type4(struct sm *s, int cpu)
{
	char strs[2][64], sock[16];
	unsigned n = 0, sd, man;

	snprintf(sock, sizeof(sock), "CPU %d", cpu);
	sd = str_index(sock, strs, &n);
	man = str_index("vmkit", strs, &n);
	begin(s, 4, 0x2a, 0x0400 + (unsigned)cpu);
	put8(s, sd);
	put8(s, 0x03);                          /* central processor */
	put8(s, 0x01);                          /* family: other */
	put8(s, man);
	put64(s, 0);                            /* processor ID */
	put8(s, 0);                             /* version */
	put8(s, 0);                             /* voltage */
	put16(s, 0);                            /* external clock */
	put16(s, 2000);                         /* max speed, MHz */
	put16(s, 2000);                         /* current speed */
	put8(s, 0x41);                          /* populated, enabled */
	put8(s, 0x01);                          /* upgrade: other */
	put16(s, 0xffff);                       /* no cache information */
	put16(s, 0xffff);
	put16(s, 0xffff);
	put8(s, 0);                             /* serial, asset, part */
	put8(s, 0);
	put8(s, 0);
	put8(s, 1);                             /* cores, enabled, threads */
	put8(s, 1);
	put8(s, 1);
	put16(s, 0x02);                         /* characteristics: unknown */
	put16(s, 0x01);                         /* family 2: other */
	end(s, strs, n);
}

static void
type16(struct sm *s, uint64_t ram_mib, unsigned ndev)
{
	uint64_t kib = ram_mib * 1024;

	begin(s, 16, 0x17, 0x1000);
	put8(s, 0x01);                          /* location: other */
	put8(s, 0x03);                          /* system memory */
	put8(s, 0x06);                          /* multi-bit ECC */
	put32(s, kib < 0x80000000ULL ? (uint32_t)kib : 0x80000000u);
	put16(s, 0xfffe);                       /* no error information */
	put16(s, ndev);
	put64(s, kib < 0x80000000ULL ? 0 : kib * 1024);
	end(s, NULL, 0);
}

static void
type17(struct sm *s, unsigned i, uint64_t mib)
{
	char strs[1][64], loc[16];
	unsigned n = 0, dl;

	snprintf(loc, sizeof(loc), "DIMM %u", i);
	dl = str_index(loc, strs, &n);
	begin(s, 17, 0x28, 0x1100 + i);
	put16(s, 0x1000);                       /* the array */
	put16(s, 0xfffe);
	put16(s, 64);                           /* total and data width */
	put16(s, 64);
	put16(s, mib < 0x7fff ? (unsigned)mib : 0x7fff);
	put8(s, 0x09);                          /* DIMM */
	put8(s, 0);                             /* not in a set */
	put8(s, dl);
	put8(s, 0);                             /* bank locator */
	put8(s, 0x07);                          /* RAM */
	put16(s, 0x0002);                       /* type detail: other */
	put16(s, 0);                            /* speed unknown */
	put8(s, 0);                             /* manufacturer ... part */
	put8(s, 0);
	put8(s, 0);
	put8(s, 0);
	put8(s, 0);                             /* attributes */
	put32(s, mib < 0x7fff ? 0 : (uint32_t)mib);     /* extended size */
	put16(s, 0);                            /* configured speed */
	put16(s, 0);                            /* voltages */
	put16(s, 0);
	put16(s, 0);
	end(s, strs, n);
}

static void
type19(struct sm *s, unsigned i, uint64_t start, uint64_t size)
{
	uint64_t sk = start / 1024, ek = (start + size) / 1024 - 1;
	bool ext = ek >= 0xffffffffULL;

	begin(s, 19, 0x1f, 0x1300 + i);
	put32(s, ext ? 0xffffffffu : (uint32_t)sk);
	put32(s, ext ? 0xffffffffu : (uint32_t)ek);
	put16(s, 0x1000);
	put8(s, 1);                             /* partition width */
	put64(s, ext ? start : 0);
	put64(s, ext ? start + size - 1 : 0);
	end(s, NULL, 0);
}

int
smbios_build(const struct vm *vm, uint8_t **anchor, size_t *anchor_len,
    uint8_t **tables, size_t *tables_len, struct vm_err *err)
{
	struct sm s = { 0 };
	uint64_t low = vm->ram_size, high = 0, ram_mib = vm->ram_size / MIB;
	unsigned ndev = (unsigned)((ram_mib + MEMDEV_MIB - 1) / MEMDEV_MIB);
	uint8_t *ep;
	unsigned i;
	int c;

	if (low > PC_PCI_HOLE) {
		high = low - PC_PCI_HOLE;
		low = PC_PCI_HOLE;
	}
	s.buf = malloc(MAX_TABLES);
	ep = calloc(1, EP_LEN);
	if (s.buf == NULL || ep == NULL) {
		free(s.buf);
		free(ep);
		return vm_err_set(err, -ENOMEM, "SMBIOS: out of memory");
	}
	type0(&s, vm->cfg->boot.firmware);
	type1(&s, vm->cfg->name[0] ? vm->cfg->name : "vm");
	type3(&s);
	for (c = 0; c < vm->ncpus; c++)
		type4(&s, c);
	type16(&s, ram_mib, ndev);
	for (i = 0; i < ndev; i++)
		type17(&s, i, i + 1 < ndev ? MEMDEV_MIB :
		    ram_mib - MEMDEV_MIB * (ndev - 1));
	type19(&s, 0, 0, low);
	if (high)
		type19(&s, 1, PC_HIGHRAM, high);
	begin(&s, 32, 0x0b, 0x2000);
	put(&s, "\0\0\0\0\0\0", 6);
	put8(&s, 0);                            /* no errors */
	end(&s, NULL, 0);
	begin(&s, 127, 0x04, 0x7f00);
	end(&s, NULL, 0);
	if (s.full) {
		free(s.buf);
		free(ep);
		return vm_err_set(err, -E2BIG, "SMBIOS: tables too large");
	}
	/* The 2.1 entry point; the firmware sets the address and sums. */
	memcpy(ep, "_SM_", 4);
	ep[5] = EP_LEN;
	ep[6] = 2;
	ep[7] = 8;
	ep[8] = (uint8_t)s.max_size;
	ep[9] = (uint8_t)(s.max_size >> 8);
	memcpy(ep + 0x10, "_DMI_", 5);
	ep[0x16] = (uint8_t)s.len;
	ep[0x17] = (uint8_t)(s.len >> 8);
	ep[0x1c] = (uint8_t)s.count;
	ep[0x1d] = (uint8_t)(s.count >> 8);
	ep[0x1e] = 0x28;                        /* BCD revision 2.8 */
	ep[0x15] = checksum(ep + 0x10, EP_LEN - 0x10);
	ep[4] = checksum(ep, 0x10);
	*anchor = ep;
	*anchor_len = EP_LEN;
	*tables = s.buf;
	*tables_len = s.len;
	return 0;
}
