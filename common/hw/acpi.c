/*
 * ACPI tables for the "pc" board, for direct boot without firmware.
 *
 * Design: the tables are assembled in a host buffer laid out as they will
 * sit in the BIOS area (PC_BIOS_AREA): the RSDP first (16-byte aligned, so
 * the kernel's scan of 0xE0000-0xFFFFF finds it), the FACS (64-byte
 * aligned), then DSDT, FADT, MADT, XSDT and RSDT, each checksummed once
 * complete, and the whole is copied into guest memory in one go.  ACPI is
 * always enabled (SMI_CMD = 0), so the PM block needs no enable handshake.
 * The DSDT is AML from acpi-aml.c: \_S5 for power-off, \_PIC, the PCI root
 * bridge with its windows and a _PRT routing every slot and pin straight to
 * a GSI (PC_PCI_GSI) in APIC mode or, in PIC mode, to the link device
 * LNKA..LNKD of its PIIX3 PIRQ line (PC_PCI_PIRQ), whose methods read and
 * program the PIIX3's route control registers; the legacy devices, and
 * one processor device per CPU.
 * Spec: ACPI 6.0, sections 5.2.5 (RSDP), 5.2.6 (headers), 5.2.7/5.2.8
 * (RSDT/XSDT), 5.2.9 (FADT), 5.2.10 (FACS), 5.2.12 (MADT), 5.2.3.2
 * (Generic Address Structure), 6.2.13 (_PRT), 7.3.4 (\_Sx).
 */
#include "hw/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/acpi-aml.h"
#include "hw/pc.h"
#include "mem/mem.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define OEM_ID "VMKIT "                 /* 6 bytes */
#define OEM_REV 1
#define CREATOR_ID "VMKT"
#define CREATOR_REV 1

#define HDR_LEN 36
#define RSDP_LEN 36
#define FACS_LEN 64
#define FADT_LEN 276                    /* revision 6 */
#define FADT_REV 6

/* FADT flags (5.2.9, table 5-35). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
/* IA-PC boot architecture flags. */
#define FADT_ARCH_LEGACY_DEVICES (1u << 0)
#define FADT_ARCH_8042 (1u << 1)

/* Generic Address Structure. */
#define GAS_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* MADT structure types and flags (5.2.12). */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MADT_PCAT_COMPAT 1u
#define MADT_POL_HIGH 0x1
#define MADT_TRIG_EDGE 0x4
#define MADT_TRIG_LEVEL 0xc

#define MADT_IOAPIC_ID 0

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

uint8_t
acpi_checksum(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return sum;
}

static void
header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	char table_id[9];

	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	snprintf(table_id, sizeof(table_id), "VMKIT%.3s", sig);
	memcpy(t + 16, table_id, 8);
	put32(t + 24, OEM_REV);
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, CREATOR_REV);
}

static void
finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = (uint8_t)-acpi_checksum(t, len);
}

static void
gas_io(uint8_t *g, uint16_t port, unsigned bytes, uint8_t access)
{
	g[0] = GAS_IO;
	g[1] = (uint8_t)(bytes * 8);
	g[2] = 0;
	g[3] = access;
	put64(g + 4, port);
}

static void
crs_legacy(struct aml *a, const uint16_t *ports, const uint8_t *lens,
    int nports, int irq)
{
	struct aml r;
	int i;

	aml_init(&r);
	for (i = 0; i < nports; i++)
		aml_res_io(&r, ports[i], ports[i], 1, lens[i]);
	if (irq >= 0)
		aml_res_irq(&r, (unsigned)irq);
	aml_res_end(&r);
	if (r.error)
		a->error = r.error;
	aml_name(a, "_CRS");
	aml_buffer(a, r.buf, r.len);
	aml_free(&r);
}

static void
legacy_device(struct aml *a, const char *name, const char *hid, int uid,
    const uint16_t *ports, const uint8_t *lens, int nports, int irq)
{
	size_t dev = aml_device(a, name);

	aml_name(a, "_HID");
	aml_eisaid(a, hid);
	if (uid >= 0) {
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)uid);
	}
	crs_legacy(a, ports, lens, nports, irq);
	aml_end(a, dev);
}

static void
pci_root(struct aml *a)
{
	static const char *const prq[] = { "PRQA", "PRQB", "PRQC", "PRQD" };
	static const uint8_t prq_bits[] = { 8, 8, 8, 8 };
	struct aml r;
	size_t dev, prt, e, isa, m, c;
	unsigned slot, pin, k;
	char lnk[16];

	dev = aml_device(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A03");
	/* No _ADR: a device has _HID or _ADR, not both (ACPI 6.0 6.1). */
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);

	aml_init(&r);
	aml_res_word_bus(&r, 0x00, 0xff);
	aml_res_io(&r, PC_PORT_PCI_CONF, PC_PORT_PCI_CONF, 1, 8);
	aml_res_word_io(&r, 0x0000, PC_PORT_PCI_CONF - 1);
	aml_res_word_io(&r, PC_PORT_PCI_CONF + 8, 0xffff);
	aml_res_dword_mem(&r, 0x000a0000, 0x000bffff, 1);
	aml_res_dword_mem(&r, (uint32_t)PC_PCI_MMIO_BASE,
	    (uint32_t)PC_PCI_MMIO_END, 0);
	aml_res_end(&r);
	if (r.error)
		a->error = r.error;
	aml_name(a, "_CRS");
	aml_buffer(a, r.buf, r.len);
	aml_free(&r);

	/* The PIIX3's ISA bridge, for its PIRQ route control registers. */
	isa = aml_device(a, "ISA");
	aml_name(a, "_ADR");
	aml_integer(a, (uint64_t)PC_PCI_ISA_SLOT << 16);
	aml_opregion(a, "PIRQ", AML_SPACE_PCI_CONFIG, PC_PIIX_PIRQRC, 4);
	aml_field(a, "PIRQ", AML_FIELD_BYTE_ACC, prq, prq_bits, 4);
	aml_end(a, isa);

	/* _PRT: {Address (slot << 16 | 0xffff), Pin, Source, Index}: in
	 * APIC mode (PICF set by \_PIC) Source 0 and the GSI as Index; in
	 * PIC mode the link device of the PIIX3's PIRQ line the pin is
	 * wired to, Index 0. */
	for (k = 0; k < 2; k++) {
		aml_name(a, k ? "PRTA" : "PRTP");
		prt = aml_package(a, 32 * 4);
		for (slot = 0; slot < 32; slot++) {
			for (pin = 0; pin < 4; pin++) {
				e = aml_package(a, 4);
				aml_integer(a, (uint64_t)slot << 16 | 0xffff);
				aml_integer(a, pin);
				if (k) {
					aml_integer(a, 0);
					aml_integer(a, PC_PCI_GSI(slot, pin));
				} else {
					snprintf(lnk, sizeof(lnk), "\\_SB.LNK%c",
					    'A' + PC_PCI_PIRQ(slot, pin));
					aml_name_string(a, lnk);
					aml_integer(a, 0);
				}
				aml_end(a, e);
			}
		}
		aml_end(a, prt);
	}
	/* Method (_PRT) { If (\PICF) { Return (PRTA) } Return (PRTP) } */
	m = aml_method(a, "_PRT", 0);
	c = aml_if(a);
	aml_name_string(a, "\\PICF");
	aml_byte(a, AML_OP_RETURN);
	aml_name_string(a, "PRTA");
	aml_end(a, c);
	aml_byte(a, AML_OP_RETURN);
	aml_name_string(a, "PRTP");
	aml_end(a, m);
	aml_end(a, dev);
}

/*
 * The PCI interrupt link devices LNKA..LNKD (PNP0C0F), one per PIRQ line
 * of the PIIX3, for an OS routing PCI interrupts through the PICs (ACPI
 * PIC mode): each reads and writes its route control register through
 * the ISA bridge's PCI configuration space, so what the OS chooses
 * (_SRS) is what the board does.
 *   _STA: 0x0b (present, enabled, functioning) or 0x09 when bit 7
 *         (disable) is set.
 *   _PRS: IRQ (Level, ActiveLow, Shared) {5, 10, 11}, as QEMU's board.
 *   _CRS: the same descriptor with the routed IRQ's bit.
 *   _SRS: the lowest IRQ bit of the descriptor given, into the register.
 *   _DIS: sets bit 7.
 */
static void
pci_links(struct aml *a)
{
	static const uint8_t crs_tmpl[] = { 0x23, 0, 0, 0x18, 0x79, 0 };
	struct aml r;
	char name[8], reg[24];
	size_t dev, m, c;
	int i;

	aml_init(&r);
	aml_res_irq_flags(&r, 1u << 5 | 1u << 10 | 1u << 11,
	    AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED);
	aml_res_end(&r);
	if (r.error)
		a->error = r.error;
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "LNK%c", 'A' + i);
		snprintf(reg, sizeof(reg), "\\_SB.PCI0.ISA.PRQ%c", 'A' + i);
		dev = aml_device(a, name);
		aml_name(a, "_HID");
		aml_eisaid(a, "PNP0C0F");
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)i + 1);
		aml_name(a, "_PRS");
		aml_buffer(a, r.buf, r.len);

		/* _STA: If (And (PRQx, 0x80)) { Return (9) } Return (0x0b) */
		m = aml_method(a, "_STA", 0);
		c = aml_if(a);
		aml_byte(a, AML_OP_AND);
		aml_name_string(a, reg);
		aml_integer(a, 0x80);
		aml_byte(a, AML_OP_ZERO);
		aml_byte(a, AML_OP_RETURN);
		aml_integer(a, 0x09);
		aml_end(a, c);
		aml_byte(a, AML_OP_RETURN);
		aml_integer(a, 0x0b);
		aml_end(a, m);

		/* _DIS: Or (PRQx, 0x80, PRQx) */
		m = aml_method(a, "_DIS", 0);
		aml_byte(a, AML_OP_OR);
		aml_name_string(a, reg);
		aml_integer(a, 0x80);
		aml_name_string(a, reg);
		aml_end(a, m);

		/* _CRS: Store (Buffer {IRQ(){}, End}, Local0)
		 *       CreateWordField (Local0, 1, IRQV)
		 *       ShiftLeft (One, And (PRQx, 0x0f), IRQV)
		 *       Return (Local0) */
		m = aml_method(a, "_CRS", 0);
		aml_byte(a, AML_OP_STORE);
		aml_buffer(a, crs_tmpl, sizeof(crs_tmpl));
		aml_byte(a, AML_OP_LOCAL0);
		aml_byte(a, AML_OP_CREATE_WORD_FIELD);
		aml_byte(a, AML_OP_LOCAL0);
		aml_integer(a, 1);
		aml_name_string(a, "IRQV");
		aml_byte(a, AML_OP_SHIFT_LEFT);
		aml_byte(a, AML_OP_ONE);
		aml_byte(a, AML_OP_AND);
		aml_name_string(a, reg);
		aml_integer(a, 0x0f);
		aml_byte(a, AML_OP_ZERO);
		aml_name_string(a, "IRQV");
		aml_byte(a, AML_OP_RETURN);
		aml_byte(a, AML_OP_LOCAL0);
		aml_end(a, m);

		/* _SRS (Arg0): CreateWordField (Arg0, 1, IRQW)
		 *              FindSetRightBit (IRQW, Local0)
		 *              Decrement (Local0)
		 *              Store (Local0, PRQx) */
		m = aml_method(a, "_SRS", 1);
		aml_byte(a, AML_OP_CREATE_WORD_FIELD);
		aml_byte(a, AML_OP_ARG0);
		aml_integer(a, 1);
		aml_name_string(a, "IRQW");
		aml_byte(a, AML_OP_FIND_SET_RIGHT_BIT);
		aml_name_string(a, "IRQW");
		aml_byte(a, AML_OP_LOCAL0);
		aml_byte(a, AML_OP_DECREMENT);
		aml_byte(a, AML_OP_LOCAL0);
		aml_byte(a, AML_OP_STORE);
		aml_byte(a, AML_OP_LOCAL0);
		aml_name_string(a, reg);
		aml_end(a, m);
		aml_end(a, dev);
	}
	aml_free(&r);
}

/* The DSDT's AML body (after the header). */
static int
build_dsdt_aml(struct aml *a, int ncpus)
{
	static const uint16_t com1_port[] = { PC_PORT_COM1 };
	static const uint8_t com1_len[] = { 8 };
	static const uint16_t kbd_port[] = { PC_PORT_I8042_DATA,
	    PC_PORT_I8042_CMD };
	static const uint8_t kbd_len[] = { 1, 1 };
	static const uint16_t rtc_port[] = { PC_PORT_CMOS };
	static const uint8_t rtc_len[] = { 2 };
	size_t pkg, sb, dev, m;
	char name[8];
	int i;

	/* Name (\_S5, Package () { SLP_TYPa, SLP_TYPb, 0, 0 }) */
	aml_name(a, "\\_S5");
	pkg = aml_package(a, 4);
	aml_integer(a, PC_SLP_TYP_S5);
	aml_integer(a, PC_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);

	/* Name (PICF, 0); Method (\_PIC, 1) { Store (Arg0, PICF) }: the
	 * interrupt model the OS chose (0 PIC, 1 APIC), for _PRT. */
	aml_name(a, "\\PICF");
	aml_integer(a, 0);
	m = aml_method(a, "\\_PIC", 1);
	aml_byte(a, AML_OP_STORE);
	aml_byte(a, AML_OP_ARG0);
	aml_name_string(a, "\\PICF");
	aml_end(a, m);

	sb = aml_scope(a, "\\_SB");
	pci_root(a);
	pci_links(a);
	legacy_device(a, "COM1", "PNP0501", 1, com1_port, com1_len, 1,
	    PC_IRQ_COM1);
	legacy_device(a, "KBD", "PNP0303", -1, kbd_port, kbd_len, 2,
	    PC_IRQ_KBD);
	/* No PS/2 mouse (PNP0F13) until the i8042 has one: declaring it
	 * makes Linux probe the aux port, and its loopback test then waits
	 * half a second for an answer that never comes. */
	legacy_device(a, "RTC", "PNP0B00", -1, rtc_port, rtc_len, 1,
	    PC_IRQ_RTC);
	/* Processor devices; _UID matches the MADT's ACPI Processor UID. */
	for (i = 0; i < ncpus; i++) {
		snprintf(name, sizeof(name), "C%03X", (unsigned)i & 0xfffu);
		dev = aml_device(a, name);
		aml_name(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)i);
		aml_end(a, dev);
	}
	aml_end(a, sb);
	return a->error;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Where acpi_assemble put each table, as offsets in its buffer. */
struct acpi_layout {
	uint64_t facs, dsdt, fadt, madt, xsdt, rsdt, end;
};

/*
 * Assemble every table in a malloc'd buffer (*bufp) as it will sit at
 * guest address base: the RSDP at offset 0, then FACS, DSDT, FADT, MADT,
 * XSDT and RSDT at the offsets *lo records, each checksummed; the FADT
 * names the PM block at port pm.
 */
static int
acpi_assemble(int ncpus, uint64_t base, uint16_t pm, uint8_t **bufp,
    struct acpi_layout *lo, struct vm_err *err)
{
	uint64_t off_facs, off_dsdt, off_fadt, off_madt, off_xsdt, off_rsdt;
	uint64_t end, madt_len;
	struct aml dsdt;
	uint8_t *buf = NULL, *t;
	int i, ret;

	*bufp = NULL;
	if (ncpus < 1 || ncpus > VM_MAX_CPUS)
		return vm_err_set(err, -EINVAL, "ACPI: %d CPUs (1 to %d "
		    "supported)", ncpus, VM_MAX_CPUS);
	aml_init(&dsdt);
	ret = build_dsdt_aml(&dsdt, ncpus);
	if (ret < 0) {
		vm_err_set(err, ret, "ACPI: cannot encode the DSDT");
		goto out;
	}
	madt_len = 44 + 8 * (uint64_t)ncpus + 12 + 2 * 10 + 6;

	off_facs = align_up(RSDP_LEN, 64);
	off_dsdt = off_facs + FACS_LEN;
	off_fadt = align_up(off_dsdt + HDR_LEN + dsdt.len, 16);
	off_madt = align_up(off_fadt + FADT_LEN, 16);
	off_xsdt = align_up(off_madt + madt_len, 16);
	off_rsdt = off_xsdt + HDR_LEN + 2 * 8;
	end = off_rsdt + HDR_LEN + 2 * 4;
	buf = calloc(1, end);
	if (buf == NULL) {
		ret = vm_err_set(err, -ENOMEM, "ACPI: out of memory");
		goto out;
	}
	/* FACS: no checksum; firmware waking vector unused. */
	t = buf + off_facs;
	memcpy(t, "FACS", 4);
	put32(t + 4, FACS_LEN);
	t[32] = 2;                              /* version */

	/* DSDT, revision 2: integers are 64 bits. */
	t = buf + off_dsdt;
	header(t, "DSDT", (uint32_t)(HDR_LEN + dsdt.len), 2);
	memcpy(t + HDR_LEN, dsdt.buf, dsdt.len);
	finish(t, (uint32_t)(HDR_LEN + dsdt.len));

	/* FADT. */
	t = buf + off_fadt;
	header(t, "FACP", FADT_LEN, FADT_REV);
	put32(t + 36, (uint32_t)(base + off_facs));     /* FIRMWARE_CTRL */
	put32(t + 40, (uint32_t)(base + off_dsdt));     /* DSDT */
	t[45] = 0;                              /* PM profile: unspecified */
	put16(t + 46, PC_IRQ_SCI);
	put32(t + 48, 0);                       /* SMI_CMD: always in ACPI */
	put32(t + 56, pm + PC_PM1A_EVT_OFF);
	put32(t + 64, pm + PC_PM1A_CNT_OFF);
	put32(t + 76, pm + PC_PM_TMR_OFF);
	put32(t + 80, PC_GPE0);
	t[88] = 4;                              /* PM1_EVT_LEN */
	t[89] = 2;                              /* PM1_CNT_LEN */
	t[91] = 4;                              /* PM_TMR_LEN */
	t[92] = PC_GPE0_LEN;
	put16(t + 96, 0xfff);                   /* P_LVL2_LAT: no C2 */
	put16(t + 98, 0xfff);                   /* P_LVL3_LAT: no C3 */
	put16(t + 109, FADT_ARCH_LEGACY_DEVICES | FADT_ARCH_8042);
	put32(t + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
	    FADT_F_RESET_REG_SUP);
	gas_io(t + 116, PC_PORT_RESET, 1, GAS_ACCESS_BYTE);     /* RESET_REG */
	t[128] = PC_RESET_VALUE;
	t[131] = 0;                             /* FADT minor version */
	/* X_FIRMWARE_CTRL stays 0: FIRMWARE_CTRL holds the FACS, which is
	 * below 4 GiB, and the two must not both be set (ACPI 6.0, 5.2.9;
	 * OVMF's ACPI table driver drops such a FADT). */
	put64(t + 140, base + off_dsdt);        /* X_DSDT */
	gas_io(t + 148, pm + PC_PM1A_EVT_OFF, 4, GAS_ACCESS_WORD);
	gas_io(t + 172, pm + PC_PM1A_CNT_OFF, 2, GAS_ACCESS_WORD);
	gas_io(t + 208, pm + PC_PM_TMR_OFF, 4, GAS_ACCESS_DWORD);
	gas_io(t + 220, PC_GPE0, PC_GPE0_LEN, GAS_ACCESS_BYTE);
	finish(t, FADT_LEN);

	/* MADT. */
	t = buf + off_madt;
	header(t, "APIC", (uint32_t)madt_len, 3);
	put32(t + 36, (uint32_t)PC_LAPIC_BASE);
	put32(t + 40, MADT_PCAT_COMPAT);
	{
		uint8_t *e = t + 44;

		for (i = 0; i < ncpus; i++, e += 8) {
			e[0] = MADT_LAPIC;
			e[1] = 8;
			e[2] = (uint8_t)i;              /* ACPI Processor UID */
			e[3] = (uint8_t)i;              /* APIC ID */
			put32(e + 4, 1);                /* enabled */
		}
		e[0] = MADT_IOAPIC;
		e[1] = 12;
		e[2] = MADT_IOAPIC_ID;
		put32(e + 4, (uint32_t)PC_IOAPIC_BASE);
		put32(e + 8, 0);                        /* GSI base */
		e += 12;
		e[0] = MADT_ISO;                        /* IRQ0 -> GSI 2 */
		e[1] = 10;
		e[2] = 0;                               /* ISA */
		e[3] = PC_IRQ_PIT;
		put32(e + 4, 2);
		put16(e + 8, MADT_POL_HIGH | MADT_TRIG_EDGE);
		e += 10;
		e[0] = MADT_ISO;                        /* SCI: level, high */
		e[1] = 10;
		e[2] = 0;
		e[3] = PC_IRQ_SCI;
		put32(e + 4, PC_IRQ_SCI);
		put16(e + 8, MADT_POL_HIGH | MADT_TRIG_LEVEL);
		e += 10;
		e[0] = MADT_LAPIC_NMI;                  /* LINT1 = NMI, all */
		e[1] = 6;
		e[2] = 0xff;
		put16(e + 3, 0);
		e[5] = 1;
	}
	finish(t, (uint32_t)madt_len);

	/* XSDT and RSDT: FADT, MADT. */
	t = buf + off_xsdt;
	header(t, "XSDT", HDR_LEN + 16, 1);
	put64(t + HDR_LEN, base + off_fadt);
	put64(t + HDR_LEN + 8, base + off_madt);
	finish(t, HDR_LEN + 16);
	t = buf + off_rsdt;
	header(t, "RSDT", HDR_LEN + 8, 1);
	put32(t + HDR_LEN, (uint32_t)(base + off_fadt));
	put32(t + HDR_LEN + 4, (uint32_t)(base + off_madt));
	finish(t, HDR_LEN + 8);

	/* RSDP, revision 2: checksum over 20 bytes, extended over 36. */
	t = buf;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, OEM_ID, 6);
	t[15] = 2;
	put32(t + 16, (uint32_t)(base + off_rsdt));
	put32(t + 20, RSDP_LEN);
	put64(t + 24, base + off_xsdt);
	t[8] = (uint8_t)-acpi_checksum(t, 20);
	t[32] = (uint8_t)-acpi_checksum(t, RSDP_LEN);

	lo->facs = off_facs;
	lo->dsdt = off_dsdt;
	lo->fadt = off_fadt;
	lo->madt = off_madt;
	lo->xsdt = off_xsdt;
	lo->rsdt = off_rsdt;
	lo->end = end;
	log_debug(LOG_BOOT, "ACPI: %llu bytes of tables for 0x%llx, DSDT %zu "
	    "bytes of AML, %d CPUs", (unsigned long long)end,
	    (unsigned long long)base, dsdt.len, ncpus);
	*bufp = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	aml_free(&dsdt);
	return ret;
}

int
acpi_build(struct vm *vm, int ncpus, uint64_t *rsdp_addr, struct vm_err *err)
{
	const uint64_t base = PC_BIOS_AREA;
	struct acpi_layout lo = { 0 };
	uint8_t *buf, *hva;
	int ret;

	ret = acpi_assemble(ncpus, base, PC_PORT_PM, &buf, &lo, err);
	if (ret < 0)
		return ret;
	if (lo.end > PC_BIOS_AREA_SIZE) {
		ret = vm_err_set(err, -ENOSPC, "ACPI: tables (%llu bytes) do "
		    "not fit in the BIOS area", (unsigned long long)lo.end);
		goto out;
	}
	hva = mem_gpa_to_hva(&vm->mem, base, lo.end);
	if (hva == NULL) {
		ret = vm_err_set(err, -EFAULT, "ACPI: no RAM at the BIOS area "
		    "0x%llx", (unsigned long long)base);
		goto out;
	}
	memcpy(hva, buf, lo.end);
	mem_notify_write(&vm->mem, base, lo.end);
	if (rsdp_addr)
		*rsdp_addr = base;
out:
	free(buf);
	return ret;
}

/* ---- the same tables for firmware (QEMU's table-loader) ----------------- */

#define LOADER_ENTRY 128
#define LOADER_ALLOCATE 1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2
#define LOADER_FILE_LEN 56
#define RSDP_FILE "etc/acpi/rsdp"
#define TABLES_FILE "etc/acpi/tables"

static uint8_t *
loader_entry(struct acpi_fw_files *f, uint32_t cmd)
{
	uint8_t *e = f->loader + f->loader_len;

	f->loader_len += LOADER_ENTRY;
	put32(e, cmd);
	return e + 4;
}

static void
loader_alloc(struct acpi_fw_files *f, const char *file, uint32_t align,
    uint8_t zone)
{
	uint8_t *e = loader_entry(f, LOADER_ALLOCATE);

	memcpy(e, file, strlen(file));
	put32(e + LOADER_FILE_LEN, align);
	e[LOADER_FILE_LEN + 4] = zone;
}

static void
loader_pointer(struct acpi_fw_files *f, const char *dst, uint64_t off,
    uint8_t size)
{
	uint8_t *e = loader_entry(f, LOADER_ADD_POINTER);

	memcpy(e, dst, strlen(dst));
	memcpy(e + LOADER_FILE_LEN, TABLES_FILE, strlen(TABLES_FILE));
	put32(e + 2 * LOADER_FILE_LEN, (uint32_t)off);
	e[2 * LOADER_FILE_LEN + 4] = size;
}

/*
 * An ADD_CHECKSUM command for the range start..start+len of file (whose
 * bytes are blob), the result at start+cksum_off.  The result byte is
 * zeroed in the blob: SeaBIOS subtracts the range's sum from whatever
 * the byte holds, but OVMF stores the negated sum of the whole range,
 * the byte itself included, so a byte left holding the checksum made for
 * the unpatched table would make the patched table's sum that value
 * instead of 0 (Linux then refused the FADT under OVMF).
 */
static void
loader_checksum(struct acpi_fw_files *f, const char *file, uint8_t *blob,
    uint64_t start, uint64_t len, uint64_t cksum_off)
{
	uint8_t *e = loader_entry(f, LOADER_ADD_CHECKSUM);

	blob[start + cksum_off] = 0;
	memcpy(e, file, strlen(file));
	put32(e + LOADER_FILE_LEN, (uint32_t)(start + cksum_off));
	put32(e + LOADER_FILE_LEN + 4, (uint32_t)start);
	put32(e + LOADER_FILE_LEN + 8, (uint32_t)len);
}

/*
 * The tables acpi_build writes for a direct boot, as three fw_cfg files
 * for firmware that runs QEMU's table-loader (SeaBIOS, OVMF):
 * "etc/acpi/rsdp" (placed in the F segment, where the legacy scan finds
 * it), "etc/acpi/tables" (FACS to RSDT, placed in high RAM) and
 * "etc/table-loader", the commands that place them and patch each
 * pointer and checksum.  The tables are assembled for base -FACS offset,
 * so every pointer holds its target's offset in the tables file; the
 * loader adds the address the firmware chose.  The FADT names the PM
 * block at port pm, where that firmware programs it.
 */
int
acpi_build_fw_cfg(int ncpus, uint16_t pm, struct acpi_fw_files *f,
    struct vm_err *err)
{
	struct acpi_layout lo = { 0 };
	uint8_t *buf;
	uint64_t t0;
	int ret;

	memset(f, 0, sizeof(*f));
	ret = acpi_assemble(ncpus, 0, pm, &buf, &lo, err);
	if (ret < 0)
		return ret;
	free(buf);
	t0 = lo.facs;
	ret = acpi_assemble(ncpus, (uint64_t)0 - t0, pm, &buf, &lo, err);
	if (ret < 0)
		return ret;
	f->rsdp = malloc(RSDP_LEN);
	f->tables_len = lo.end - t0;
	f->tables = malloc(f->tables_len);
	f->loader = calloc(20, LOADER_ENTRY);
	if (f->rsdp == NULL || f->tables == NULL || f->loader == NULL) {
		free(buf);
		acpi_fw_files_free(f);
		return vm_err_set(err, -ENOMEM, "ACPI: out of memory");
	}
	memcpy(f->rsdp, buf, RSDP_LEN);
	f->rsdp_len = RSDP_LEN;
	memcpy(f->tables, buf + t0, f->tables_len);
	free(buf);

	loader_alloc(f, RSDP_FILE, 16, LOADER_ZONE_FSEG);
	loader_alloc(f, TABLES_FILE, 64, LOADER_ZONE_HIGH);
	loader_pointer(f, TABLES_FILE, lo.fadt - t0 + 36, 4);
	loader_pointer(f, TABLES_FILE, lo.fadt - t0 + 40, 4);
	loader_pointer(f, TABLES_FILE, lo.fadt - t0 + 140, 8);
	loader_pointer(f, TABLES_FILE, lo.xsdt - t0 + HDR_LEN, 8);
	loader_pointer(f, TABLES_FILE, lo.xsdt - t0 + HDR_LEN + 8, 8);
	loader_pointer(f, TABLES_FILE, lo.rsdt - t0 + HDR_LEN, 4);
	loader_pointer(f, TABLES_FILE, lo.rsdt - t0 + HDR_LEN + 4, 4);
	loader_pointer(f, RSDP_FILE, 16, 4);
	loader_pointer(f, RSDP_FILE, 24, 8);
	loader_checksum(f, TABLES_FILE, f->tables, lo.fadt - t0, FADT_LEN, 9);
	loader_checksum(f, TABLES_FILE, f->tables, lo.xsdt - t0, HDR_LEN + 16,
	    9);
	loader_checksum(f, TABLES_FILE, f->tables, lo.rsdt - t0, HDR_LEN + 8,
	    9);
	loader_checksum(f, RSDP_FILE, f->rsdp, 0, 20, 8);
	loader_checksum(f, RSDP_FILE, f->rsdp, 0, RSDP_LEN, 32);
	return 0;
}

void
acpi_fw_files_free(struct acpi_fw_files *f)
{
	free(f->rsdp);
	free(f->tables);
	free(f->loader);
	memset(f, 0, sizeof(*f));
}
