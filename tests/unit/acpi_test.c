/*
 * ACPI tables (hw/acpi.c) and the AML encoder (hw/acpi-aml.c): structure,
 * lengths and checksums decoded here; the DSDT disassembled and recompiled
 * by iasl when it is installed.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "hw/acpi-aml.h"
#include "hw/boot.h"
#include "hw/pc.h"
#include "test.h"
#include "util/err.h"
#include "vm/vm.h"

static struct vm vm;

static void
make_vm(uint64_t ram)
{
	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, ram, "low", NULL), 0);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A table at gpa with signature sig and a valid checksum, or NULL. */
static const uint8_t *
table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = mem_gpa_to_hva(&vm.mem, gpa, 36);
	uint32_t len;

	EXPECT_TRUE(t != NULL);
	if (t == NULL)
		return NULL;
	EXPECT_TRUE(memcmp(t, sig, 4) == 0);
	len = get32(t + 4);
	EXPECT_TRUE(gpa >= PC_BIOS_AREA &&
	    gpa + len <= PC_BIOS_AREA + PC_BIOS_AREA_SIZE);
	EXPECT_EQ(acpi_checksum(t, len), 0);
	return memcmp(t, sig, 4) == 0 ? t : NULL;
}

static bool
contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

struct tables {
	const uint8_t *rsdp, *rsdt, *xsdt, *fadt, *madt, *dsdt, *facs;
};

static void
find_tables(struct tables *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	t->rsdp = mem_gpa_to_hva(&vm.mem, PC_BIOS_AREA, 36);
	EXPECT_TRUE(memcmp(t->rsdp, "RSD PTR ", 8) == 0);
	EXPECT_EQ(t->rsdp[15], 2);
	EXPECT_EQ(get32(t->rsdp + 20), 36);
	EXPECT_EQ(acpi_checksum(t->rsdp, 20), 0);
	EXPECT_EQ(acpi_checksum(t->rsdp, 36), 0);
	t->rsdt = table(get32(t->rsdp + 16), "RSDT");
	t->xsdt = table(get64(t->rsdp + 24), "XSDT");
	if (!t->rsdt || !t->xsdt)
		return;
	EXPECT_EQ(get32(t->xsdt + 4), 36 + 2 * 8);
	EXPECT_EQ(get32(t->rsdt + 4), 36 + 2 * 4);
	for (i = 0; i < 2; i++) {
		uint64_t a = get64(t->xsdt + 36 + 8 * i);
		const uint8_t *p = mem_gpa_to_hva(&vm.mem, a, 4);

		EXPECT_EQ(get32(t->rsdt + 36 + 4 * i), a);
		if (memcmp(p, "FACP", 4) == 0)
			t->fadt = table(a, "FACP");
		else if (memcmp(p, "APIC", 4) == 0)
			t->madt = table(a, "APIC");
	}
	EXPECT_TRUE(t->fadt && t->madt);
	if (!t->fadt)
		return;
	t->dsdt = table(get64(t->fadt + 140), "DSDT");
	EXPECT_EQ(get32(t->fadt + 40), get64(t->fadt + 140));
	/* The FACS through FIRMWARE_CTRL only: X_FIRMWARE_CTRL must be 0
	 * when FIRMWARE_CTRL is set (ACPI 6.0, 5.2.9). */
	EXPECT_EQ(get64(t->fadt + 132), 0);
	t->facs = mem_gpa_to_hva(&vm.mem, get32(t->fadt + 36), 64);
	EXPECT_TRUE(memcmp(t->facs, "FACS", 4) == 0);
	EXPECT_EQ(get32(t->facs + 4), 64);
	EXPECT_EQ(get32(t->fadt + 36) & 63, 0);
}

TEST(tables_and_checksums)
{
	struct vm_err err = { 0 };
	struct tables t;
	uint64_t rsdp = 0;

	make_vm(512ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 4, &rsdp, &err), 0);
	EXPECT_EQ(rsdp, PC_BIOS_AREA);
	find_tables(&t);
}

TEST(fadt_fields)
{
	struct tables t;
	const uint8_t *f;

	make_vm(256ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 1, NULL, NULL), 0);
	find_tables(&t);
	f = t.fadt;
	if (f == NULL)
		return;
	EXPECT_EQ(get32(f + 4), 276);
	EXPECT_EQ(f[8], 6);
	EXPECT_EQ(get16(f + 46), PC_IRQ_SCI);
	EXPECT_EQ(get32(f + 48), 0);                    /* SMI_CMD */
	EXPECT_EQ(get32(f + 56), PC_PM1A_EVT);
	EXPECT_EQ(get32(f + 64), PC_PM1A_CNT);
	EXPECT_EQ(get32(f + 76), PC_PM_TMR);
	EXPECT_EQ(get32(f + 80), PC_GPE0);
	EXPECT_EQ(f[88], 4);
	EXPECT_EQ(f[89], 2);
	EXPECT_EQ(f[91], 4);
	EXPECT_EQ(f[92], 4);
	EXPECT_EQ(get16(f + 109) & 2, 2);               /* 8042 */
	EXPECT_EQ(get32(f + 112), (1u << 0) | (1u << 2) | (1u << 5) |
	    (1u << 10));
	EXPECT_EQ(f[116], 1);                           /* RESET_REG: I/O */
	EXPECT_EQ(f[117], 8);
	EXPECT_EQ(get64(f + 120), PC_PORT_RESET);
	EXPECT_EQ(f[128], PC_RESET_VALUE);
	/* X_ blocks agree with the 32-bit ones. */
	EXPECT_EQ(f[148], 1);
	EXPECT_EQ(f[149], 32);
	EXPECT_EQ(get64(f + 152), PC_PM1A_EVT);
	EXPECT_EQ(f[173], 16);
	EXPECT_EQ(get64(f + 176), PC_PM1A_CNT);
	EXPECT_EQ(f[209], 32);
	EXPECT_EQ(get64(f + 212), PC_PM_TMR);
	EXPECT_EQ(get64(f + 224), PC_GPE0);
}

static void
check_madt(int ncpus)
{
	struct tables t;
	const uint8_t *m, *e;
	uint32_t len;
	int lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	make_vm(64ULL << 20);
	EXPECT_EQ(acpi_build(&vm, ncpus, NULL, NULL), 0);
	find_tables(&t);
	m = t.madt;
	if (m == NULL)
		return;
	len = get32(m + 4);
	EXPECT_EQ(get32(m + 36), PC_LAPIC_BASE);
	EXPECT_EQ(get32(m + 40), 1);                    /* PCAT_COMPAT */
	for (e = m + 44; e < m + len; e += e[1]) {
		EXPECT_TRUE(e[1] >= 2 && e + e[1] <= m + len);
		if (e[1] < 2)
			break;
		switch (e[0]) {
		case 0:
			EXPECT_EQ(e[2], lapics);
			EXPECT_EQ(e[3], lapics);
			EXPECT_EQ(get32(e + 4), 1);
			lapics++;
			break;
		case 1:
			EXPECT_EQ(get32(e + 4), PC_IOAPIC_BASE);
			EXPECT_EQ(get32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			if (e[3] == 0) {
				EXPECT_EQ(get32(e + 4), 2);
			} else {
				EXPECT_EQ(e[3], PC_IRQ_SCI);
				EXPECT_EQ(get32(e + 4), PC_IRQ_SCI);
				EXPECT_EQ(get16(e + 8), 0xd);   /* level, high */
			}
			isos++;
			break;
		case 4:
			EXPECT_EQ(e[2], 0xff);
			EXPECT_EQ(e[5], 1);
			nmis++;
			break;
		default:
			EXPECT_TRUE(0);
		}
	}
	EXPECT_TRUE(e == m + len);
	EXPECT_EQ(lapics, ncpus);
	EXPECT_EQ(ioapics, 1);
	EXPECT_EQ(isos, 2);
	EXPECT_EQ(nmis, 1);
}

TEST(madt_one_cpu)
{
	check_madt(1);
}

TEST(madt_many_cpus)
{
	check_madt(7);
	check_madt(VM_MAX_CPUS);
}

TEST(refuses_bad_input)
{
	struct vm_err err = { 0 };

	make_vm(64ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 0, NULL, &err), -EINVAL);
	EXPECT_EQ(acpi_build(&vm, VM_MAX_CPUS + 1, NULL, &err), -EINVAL);
	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, PC_HIGHMEM, 64ULL << 20, "ext", NULL),
	    0);
	EXPECT_EQ(acpi_build(&vm, 1, NULL, &err), -EFAULT);
	EXPECT_TRUE(strstr(err.msg, "BIOS area") != NULL);
}

TEST(dsdt_content)
{
	/* Package (4) {0x0005FFFF, 2, Zero, 19}: slot 5, INTC -> GSI 19. */
	static const uint8_t prt_5_2[] = { 0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff,
	    0x05, 0x00, 0x0a, 0x02, 0x00, 0x0a, 0x13 };
	/* Package (4) {0xFFFF, Zero, Zero, 16}. */
	static const uint8_t prt_0_0[] = { 0x12, 0x09, 0x04, 0x0b, 0xff, 0xff,
	    0x00, 0x00, 0x0a, 0x10 };
	/* Name (_HID, EisaId ("PNP0A03")) */
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41,
	    0xd0, 0x0a, 0x03 };
	/* Name (\_S5, Package (4) {Zero, Zero, Zero, Zero}) */
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12,
	    0x06, 0x04, 0x00, 0x00, 0x00, 0x00 };
	struct tables t;
	uint32_t len;

	EXPECT_EQ(PC_SLP_TYP_S5, 0);    /* s5[] above spells the value */
	EXPECT_EQ(PC_PCI_GSI(5, 2), 19);
	make_vm(64ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 2, NULL, NULL), 0);
	find_tables(&t);
	if (t.dsdt == NULL)
		return;
	len = get32(t.dsdt + 4);
	EXPECT_EQ(t.dsdt[8], 2);
	EXPECT_TRUE(contains(t.dsdt, len, prt_5_2, sizeof(prt_5_2)));
	EXPECT_TRUE(contains(t.dsdt, len, prt_0_0, sizeof(prt_0_0)));
	EXPECT_TRUE(contains(t.dsdt, len, hid, sizeof(hid)));
	EXPECT_TRUE(contains(t.dsdt, len, s5, sizeof(s5)));
	EXPECT_TRUE(contains(t.dsdt, len, "C001", 4));
	EXPECT_TRUE(!contains(t.dsdt, len, "C002", 4));
}

TEST(dsdt_iasl)
{
	char dir[] = "/tmp/acpi_test.XXXXXX", cmd[512], line[256];
	struct tables t;
	FILE *f, *p;
	int clean = 0;

	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("# iasl not installed: DSDT disassembly not checked\n");
		return;
	}
	make_vm(64ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 3, NULL, NULL), 0);
	find_tables(&t);
	if (t.dsdt == NULL || mkdtemp(dir) == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "%s/dsdt.dat", dir);
	f = fopen(cmd, "wb");
	EXPECT_TRUE(f != NULL);
	if (f == NULL)
		return;
	fwrite(t.dsdt, 1, get32(t.dsdt + 4), f);
	fclose(f);
	/* Disassemble, then compile the result again: both must be clean. */
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >/dev/null 2>&1 "
	    "&& grep -q 'PNP0A03' dsdt.dsl && grep -q '_PRT' dsdt.dsl && "
	    "iasl -tc dsdt.dsl 2>&1", dir);
	p = popen(cmd, "r");
	EXPECT_TRUE(p != NULL);
	while (p && fgets(line, sizeof(line), p))
		if (strstr(line, "0 Errors, 0 Warnings"))
			clean = 1;
	EXPECT_EQ(p ? pclose(p) : -1, 0);
	EXPECT_TRUE(clean);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	EXPECT_EQ(system(cmd), 0);
}

/* --- the encoder -------------------------------------------------------- */

TEST(aml_pkglength)
{
	struct aml a;
	uint8_t body[5000];
	size_t m;

	memset(body, 0x41, sizeof(body));
	/* 62 body bytes + 1 length byte = 63: the one-byte form. */
	aml_init(&a);
	m = aml_scope(&a, "");          /* NullName: 1 byte */
	aml_bytes(&a, body, 61);
	aml_end(&a, m);
	EXPECT_EQ(a.len, 1 + 1 + 62);
	EXPECT_EQ(a.buf[1], 63);
	aml_free(&a);
	/* 63 body bytes: two-byte form, total 65 = 0x41. */
	aml_init(&a);
	m = aml_scope(&a, "");
	aml_bytes(&a, body, 62);
	aml_end(&a, m);
	EXPECT_EQ(a.len, 1 + 2 + 63);
	EXPECT_EQ(a.buf[1], 0x40 | 0x1);
	EXPECT_EQ(a.buf[2], 0x04);
	aml_free(&a);
	/* 4200 body bytes: three-byte form, total 4203 = 0x106b. */
	aml_init(&a);
	m = aml_scope(&a, "");
	aml_bytes(&a, body, 4199);
	aml_end(&a, m);
	EXPECT_EQ(a.buf[1], 0x80 | 0xb);
	EXPECT_EQ(a.buf[2], 0x06);
	EXPECT_EQ(a.buf[3], 0x01);
	EXPECT_EQ(a.error, 0);
	aml_free(&a);
}

TEST(aml_names_and_integers)
{
	static const uint8_t want[] = {
		0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
		0x2f, 0x03, 'A', '_', '_', '_', 'B', 'C', '_', '_', 'D', '_',
		'_', '_',
		0x5e, 'X', 'Y', 'Z', '1',
		0x00, 0x01, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0c, 0x00, 0x00,
		0x01, 0x00, 0x0e, 0, 0, 0, 0, 1, 0, 0, 0,
		0x0d, 'h', 'i', 0x00,
	};
	struct aml a;

	aml_init(&a);
	aml_name_string(&a, "\\_SB.PCI0");
	aml_name_string(&a, "A.BC.D");
	aml_name_string(&a, "^XYZ1");
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 1ULL << 32);
	aml_string(&a, "hi");
	EXPECT_EQ(a.error, 0);
	EXPECT_EQ(a.len, sizeof(want));
	EXPECT_TRUE(a.len == sizeof(want) && memcmp(a.buf, want, a.len) == 0);
	aml_name_string(&a, "TOOLONG");
	EXPECT_EQ(a.error, -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_name_string(&a, "1ABC");
	EXPECT_EQ(a.error, -EINVAL);
	aml_free(&a);
}

TEST(aml_resource_template)
{
	struct aml r;

	aml_init(&r);
	aml_res_io(&r, 0x3f8, 0x3f8, 1, 8);
	aml_res_irq(&r, 4);
	aml_res_end(&r);
	EXPECT_EQ(r.len, 8 + 3 + 2);
	EXPECT_EQ(r.buf[8], 0x22);
	EXPECT_EQ(get16(r.buf + 9), 1u << 4);
	EXPECT_EQ(r.buf[11], 0x79);
	EXPECT_EQ(acpi_checksum(r.buf, r.len), 0);
	aml_free(&r);
}

/*
 * Run the table-loader's commands as a firmware does, the tables file
 * placed at 0x7000000, with one of the two ways the
 * firmwares make an ADD_CHECKSUM result: SeaBIOS subtracts the range's
 * sum from the byte there (ovmf false), OVMF stores the negated sum of
 * the range, the byte itself included (ovmf true).
 */
static void
run_loader(struct acpi_fw_files *f, bool ovmf)
{
	const uint64_t tables_at = 0x7000000;
	uint64_t o, v, i;

	for (o = 0; o + 128 <= f->loader_len; o += 128) {
		const uint8_t *e = f->loader + o;
		bool rsdp = strcmp((const char *)e + 4, "etc/acpi/rsdp") == 0;
		uint8_t *blob = rsdp ? f->rsdp : f->tables;
		uint64_t len = rsdp ? f->rsdp_len : f->tables_len;
		uint32_t at, start, n;

		EXPECT_TRUE(rsdp ||
		    strcmp((const char *)e + 4, "etc/acpi/tables") == 0);
		switch (get32(e)) {
		case 2:         /* ADD_POINTER into the tables file */
			EXPECT_TRUE(strcmp((const char *)e + 60,
			    "etc/acpi/tables") == 0);
			at = get32(e + 116);
			n = e[120];
			EXPECT_TRUE((n == 4 || n == 8) && at + n <= len);
			if (at + n > len)
				break;
			v = n == 4 ? get32(blob + at) : get64(blob + at);
			v += tables_at;
			for (i = 0; i < n; i++)
				blob[at + i] = (uint8_t)(v >> (8 * i));
			break;
		case 3:         /* ADD_CHECKSUM */
			at = get32(e + 60);
			start = get32(e + 64);
			n = get32(e + 68);
			EXPECT_TRUE(start + n <= len && at >= start &&
			    at < start + n);
			if (start + n > len || at < start || at >= start + n)
				break;
			if (ovmf)
				blob[at] = (uint8_t)-acpi_checksum(blob + start,
				    n);
			else
				blob[at] -= acpi_checksum(blob + start, n);
			break;
		default:
			EXPECT_EQ(get32(e), 1);         /* ALLOCATE */
		}
	}
}

/* After either firmware's loader every table the RSDP leads to sums to 0
 * (a checksum byte left non-zero in the file broke the FADT under OVMF),
 * and the FADT names the PM block where that firmware programs it. */
TEST(table_loader_checksums)
{
	int ovmf;

	for (ovmf = 0; ovmf < 2; ovmf++) {
		struct acpi_fw_files f;
		const uint8_t *r, *x, *t;
		uint64_t k, a;

		EXPECT_EQ(acpi_build_fw_cfg(2, ovmf ? PC_PORT_PM_OVMF :
		    PC_PORT_PM, &f, NULL), 0);
		run_loader(&f, ovmf);
		r = f.rsdp;
		EXPECT_EQ(acpi_checksum(r, 20), 0);
		EXPECT_EQ(acpi_checksum(r, f.rsdp_len), 0);
		a = get64(r + 24) - 0x7000000;
		EXPECT_TRUE(a + 36 <= f.tables_len);
		if (a + 36 > f.tables_len)
			goto next;
		x = f.tables + a;
		EXPECT_TRUE(memcmp(x, "XSDT", 4) == 0);
		EXPECT_EQ(acpi_checksum(x, get32(x + 4)), 0);
		for (k = 36; k + 8 <= get32(x + 4); k += 8) {
			a = get64(x + k) - 0x7000000;
			EXPECT_TRUE(a + 36 <= f.tables_len);
			if (a + 36 > f.tables_len)
				continue;
			t = f.tables + a;
			EXPECT_EQ(acpi_checksum(t, get32(t + 4)), 0);
			/* The FADT's PM1a control block is where that
			 * firmware puts the PM block. */
			if (memcmp(t, "FACP", 4) == 0)
				EXPECT_EQ(get32(t + 64), (ovmf ?
				    PC_PORT_PM_OVMF : PC_PORT_PM) + 4);
		}
		a = get32(r + 16) - 0x7000000;
		EXPECT_TRUE(a + 36 <= f.tables_len);
		if (a + 36 <= f.tables_len) {
			t = f.tables + a;
			EXPECT_TRUE(memcmp(t, "RSDT", 4) == 0);
			EXPECT_EQ(acpi_checksum(t, get32(t + 4)), 0);
		}
next:
		acpi_fw_files_free(&f);
	}
}
