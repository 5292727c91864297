/*
 * PCI bus 0, configuration mechanism 1, BARs, INTx and MSI-X (pci.h).
 *
 * Ports: a dword write to 0xcf8 latches the address (enable bit 31, bus,
 * device, function, register); 0xcfc-0xcff then read or write that
 * register.  0xcf9, a byte inside the address port, is the PIIX reset
 * control register and belongs to acpi-pm; other narrow accesses to
 * 0xcf8-0xcfb are ignored, as on the chipset.
 *
 * Every guest-written value is masked by the device's wmask before it
 * lands, so read-only identity and capability fields stay what the model
 * set; BAR addresses are masked to the BAR's size and type.
 *
 * Functions: up to 8 per slot, by devfn; a slot's other functions answer
 * only beside function 0, whose header type then has the multi-function
 * bit.  Slot 1 is the PIIX3's, as on QEMU's pc machine and the real
 * i440FX boards: the PCI-to-ISA bridge 01.0 (8086:7000), the IDE
 * controller 01.1 (piix-ide.c) and the PIIX4-style power management
 * 01.3 (acpi-pm.c).
 *
 * INTx: slot s's INTA drives the IOAPIC's GSI PC_PCI_GSI(s, 0), as the
 * DSDT's _PRT says, and PIRQ line PC_PCI_PIRQ(s, 0) of the PIIX3
 * PCI-to-ISA bridge (01.0), whose route control
 * registers PIRQRC[A:D] (config 0x60-0x63; PIIX3 datasheet 2.2.7: bit 7
 * disables, bits 3:0 the ISA IRQ) also send it to that ISA IRQ of the
 * PICs, as on the PC in PIC mode; that is the routing SeaBIOS assumes
 * when it programs the registers and writes the devices' interrupt line
 * (and its $PIR and MP tables).  A line is asserted while any device on
 * it asserts its pin (shared lines are or-ed).
 */
#include "hw/pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/boot.h"
#include "hw/irq.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

struct pci_bus {
	struct vm *vm;
	uint32_t addr;                  /* the 0xcf8 latch */
	struct pci_dev *fn[PCI_MAX_SLOTS * 8];  /* by devfn: slot << 3 | fn */
	struct pci_dev host;            /* 00.0: the host bridge */
	struct pci_dev isa;             /* the PIIX3 PCI-to-ISA bridge */
	uint32_t gsi_up, isa_up;        /* lines asserted: bit per GSI, IRQ */
};

#define ISA_SLOT PC_PCI_ISA_SLOT
#define PIIX_PIRQRC PC_PIIX_PIRQRC
#define PIRQ_DISABLE 0x80
/* The ISA IRQs a PIRQ may be routed to (3-7, 9-12, 14, 15). */
#define PIRQ_IRQS 0xdef8u

#define MSIX_TABLE 0x000
#define MSIX_PBA 0x800

/* ---- BAR mapping ------------------------------------------------------- */

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size);
static void msix_write(void *opaque, uint64_t off, uint64_t val,
    unsigned size);
static const struct io_ops msix_ops = { msix_read, msix_write };

static uint64_t
bar_addr(const struct pci_dev *d, int n)
{
	const struct pci_bar *b = &d->bar[n];
	uint64_t a = pci_get32(d, PCI_BAR0 + 4 * (unsigned)n);

	if (b->kind == PCI_BAR_IO)
		return a & ~3ULL;
	a &= ~0xfULL;
	if (b->kind == PCI_BAR_MEM64)
		a |= (uint64_t)pci_get32(d, PCI_BAR0 + 4 * (unsigned)n + 4) <<
		    32;
	return a;
}

static void
bar_update(struct pci_dev *d, int n)
{
	struct pci_bar *b = &d->bar[n];
	uint16_t cmd = pci_get16(d, PCI_COMMAND);
	bool io = b->kind == PCI_BAR_IO;
	bool on = io ? (cmd & PCI_CMD_IO) : (cmd & PCI_CMD_MEM);
	struct bus *bus = io ? d->vm->pio : d->vm->mmio;
	uint64_t a = bar_addr(d, n);
	struct vm_err err;

	if (b->kind == PCI_BAR_NONE)
		return;
	/* Unprogrammed, or beyond what the address space can hold. */
	if (a == 0 || (io && a + b->size > 0x10000) || a + b->size < a)
		on = false;
	if (b->mapped && (!on || b->mapped_at != a)) {
		bus_unmap(bus, b->mapped_at);
		b->mapped = false;
	}
	if (on && !b->mapped) {
		if (bus_map(bus, a, b->size, b->ops ? b->ops : &msix_ops,
		    b->ops ? b->opaque : d, d->name, &err) == 0) {
			b->mapped = true;
			b->mapped_at = a;
		} else {
			log_debug(LOG_DEV, "%s: BAR%d at 0x%llx not mapped: %s",
			    d->name, n, (unsigned long long)a, err.msg);
		}
	}
}

static void
bars_update(struct pci_dev *d)
{
	int n;

	for (n = 0; n < 6; n++)
		bar_update(d, n);
}

/* ---- INTx and MSI-X ---------------------------------------------------- */

/* Does d assert its INTx pin? */
static bool
intx_asserted(const struct pci_dev *d)
{
	return d->cfg[PCI_INT_PIN] && d->intx &&
	    !(pci_get16(d, PCI_COMMAND) & PCI_CMD_INTX_DISABLE) &&
	    !pci_msix_enabled(d);
}

/* Recompute every PCI interrupt line from the devices' pins and the
 * PIRQ routing, and move the lines that changed. */
static void
route_update(struct pci_bus *bus)
{
	uint32_t gsi = 0, isa = 0, diff;
	unsigned s, n;

	for (s = 0; s < PCI_MAX_SLOTS * 8; s++) {
		const struct pci_dev *d = bus->fn[s];
		uint8_t r;

		if (d == NULL || !intx_asserted(d))
			continue;
		if (d->gsi < 32)
			gsi |= 1u << d->gsi;
		r = bus->isa.cfg[PIIX_PIRQRC +
		    PC_PCI_PIRQ(d->slot, d->cfg[PCI_INT_PIN] - 1u)];
		if (!(r & PIRQ_DISABLE) && (PIRQ_IRQS >> (r & 0xf) & 1))
			isa |= 1u << (r & 0xf);
	}
	diff = gsi ^ bus->gsi_up;
	bus->gsi_up = gsi;
	for (n = 0; n < 32; n++)
		if (diff >> n & 1)
			irq_set(&bus->vm->irq, n, (int)(gsi >> n & 1));
	diff = isa ^ bus->isa_up;
	bus->isa_up = isa;
	for (n = 0; n < 16; n++)
		if (diff >> n & 1)
			irq_set(&bus->vm->irq, n, (int)(isa >> n & 1));
}

static void
intx_update(struct pci_dev *d)
{
	uint16_t st = pci_get16(d, PCI_STATUS) & ~PCI_STATUS_INTX;

	if (d->intx)
		st |= PCI_STATUS_INTX;
	pci_set16(d, PCI_STATUS, st);
	if (d->bus != NULL)
		route_update(d->bus);
}

void
pci_set_intx(struct pci_dev *d, int level)
{
	d->intx = level != 0;
	intx_update(d);
}

bool
pci_master(const struct pci_dev *d)
{
	return pci_get16(d, PCI_COMMAND) & PCI_CMD_MASTER;
}

bool
pci_msix_enabled(const struct pci_dev *d)
{
	return d->msix_cap && (pci_get16(d, d->msix_cap + 2) & 0x8000);
}

static bool
msix_masked(const struct pci_dev *d, unsigned v)
{
	return (pci_get16(d, d->msix_cap + 2) & 0x4000) ||
	    (d->msix[v].ctrl & 1);
}

static void
msix_send(struct pci_dev *d, unsigned v)
{
	const struct pci_msix_entry *e = &d->msix[v];

	irq_msi(&d->vm->irq, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

void
pci_msix_notify(struct pci_dev *d, unsigned v)
{
	if (!pci_msix_enabled(d) || v >= d->msix_n)
		return;
	if (msix_masked(d, v)) {
		d->msix_pba[v / 64] |= 1ULL << (v % 64);
		return;
	}
	msix_send(d, v);
}

/* Deliver what became unmasked. */
static void
msix_flush_pending(struct pci_dev *d)
{
	unsigned v;

	if (!pci_msix_enabled(d))
		return;
	for (v = 0; v < d->msix_n; v++)
		if ((d->msix_pba[v / 64] >> (v % 64) & 1) &&
		    !msix_masked(d, v)) {
			d->msix_pba[v / 64] &= ~(1ULL << (v % 64));
			msix_send(d, v);
		}
}

static uint64_t
msix_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_dev *d = opaque;
	uint64_t v = 0;
	unsigned k;

	/* 4- and 8-byte accesses only, naturally aligned (PCI 3.0 6.8.2). */
	if ((size != 4 && size != 8) || (off & (size - 1)))
		return 0;
	for (k = 0; k < size; k += 4) {
		uint64_t o = off + k;
		uint32_t w = 0;

		if (o < MSIX_TABLE + 16ULL * d->msix_n) {
			const struct pci_msix_entry *e = &d->msix[o / 16];

			switch (o % 16) {
			case 0: w = e->addr_lo; break;
			case 4: w = e->addr_hi; break;
			case 8: w = e->data; break;
			case 12: w = e->ctrl; break;
			}
		} else if (o >= MSIX_PBA && o < MSIX_PBA + sizeof(d->msix_pba)) {
			w = (uint32_t)(d->msix_pba[(o - MSIX_PBA) / 8] >>
			    ((o - MSIX_PBA) % 8 * 8));
		}
		v |= (uint64_t)w << (8 * k);
	}
	return v;
}

static void
msix_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_dev *d = opaque;
	unsigned k;

	if ((size != 4 && size != 8) || (off & (size - 1)))
		return;
	for (k = 0; k < size; k += 4) {
		uint64_t o = off + k;
		uint32_t w = (uint32_t)(val >> (8 * k));
		struct pci_msix_entry *e;

		if (o >= MSIX_TABLE + 16ULL * d->msix_n)
			continue;       /* the PBA is read-only */
		e = &d->msix[o / 16];
		switch (o % 16) {
		case 0: e->addr_lo = w & ~3u; break;
		case 4: e->addr_hi = w; break;
		case 8: e->data = w; break;
		case 12: e->ctrl = w & 1; break;
		}
	}
	msix_flush_pending(d);
}

int
pci_msix_init(struct pci_dev *d, int bar, unsigned n)
{
	uint8_t cap;
	unsigned v;

	/* The table must end before the PBA at 0x800. */
	if (n == 0 || n > MSIX_PBA / 16 || bar < 0 || bar > 5)
		return -EINVAL;
	d->msix = calloc(n, sizeof(*d->msix));
	if (d->msix == NULL)
		return -ENOMEM;
	cap = pci_cap_add(d, PCI_CAP_MSIX, 12);
	if (cap == 0) {
		free(d->msix);
		d->msix = NULL;
		return -ENOSPC;
	}
	for (v = 0; v < n; v++)
		d->msix[v].ctrl = 1;    /* masked at reset */
	d->msix_n = n;
	d->msix_bar = bar;
	d->msix_cap = cap;
	pci_set16(d, cap + 2, (uint16_t)(n - 1));
	d->wmask[cap + 3] = 0xc0;       /* enable, function mask */
	pci_set32(d, cap + 4, MSIX_TABLE | (uint32_t)bar);
	pci_set32(d, cap + 8, MSIX_PBA | (uint32_t)bar);
	pci_bar_init(d, bar, PCI_BAR_MEM32, 0x1000, NULL, NULL);
	return 0;
}

/* ---- configuration space ------------------------------------------------ */

uint8_t
pci_cap_add(struct pci_dev *d, uint8_t id, uint8_t len)
{
	uint8_t off = d->cap_next;

	if (off < 0x40 || (unsigned)off + len > PCI_CFG_SIZE)
		return 0;
	if (d->cap_last_ptr == NULL) {
		d->cfg[PCI_CAP_PTR] = off;
		pci_set16(d, PCI_STATUS, pci_get16(d, PCI_STATUS) |
		    PCI_STATUS_CAP);
	} else {
		*d->cap_last_ptr = off;
	}
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	d->cap_last_ptr = &d->cfg[off + 1];
	d->cap_next = (uint8_t)((off + len + 3) & ~3u);
	if (d->cap_next < off)          /* wrapped: the space is full */
		d->cap_next = 0;
	return off;
}

void
pci_bar_init(struct pci_dev *d, int n, enum pci_bar_kind kind,
    uint64_t size, const struct io_ops *ops, void *opaque)
{
	struct pci_bar *b = &d->bar[n];
	unsigned off = PCI_BAR0 + 4 * (unsigned)n;
	uint64_t mask = ~(size - 1);

	b->kind = kind;
	b->size = size;
	b->ops = ops;
	b->opaque = opaque;
	switch (kind) {
	case PCI_BAR_IO:
		pci_set32(d, off, 1);
		mask &= ~3ULL;
		break;
	case PCI_BAR_MEM32:
		pci_set32(d, off, 0);
		mask &= 0xfffffff0ULL;
		break;
	case PCI_BAR_MEM64:
		pci_set32(d, off, 4);
		pci_set32(d, off + 4, 0);
		mask &= ~0xfULL;
		d->wmask[off + 4] = (uint8_t)(mask >> 32);
		d->wmask[off + 5] = (uint8_t)(mask >> 40);
		d->wmask[off + 6] = (uint8_t)(mask >> 48);
		d->wmask[off + 7] = (uint8_t)(mask >> 56);
		break;
	case PCI_BAR_NONE:
		return;
	}
	d->wmask[off] = (uint8_t)mask;
	d->wmask[off + 1] = (uint8_t)(mask >> 8);
	d->wmask[off + 2] = (uint8_t)(mask >> 16);
	d->wmask[off + 3] = (uint8_t)(mask >> 24);
}

static void
cfg_init_common(struct pci_dev *d, uint16_t vendor, uint16_t device,
    uint32_t class_code)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	pci_set16(d, PCI_VENDOR_ID, vendor);
	pci_set16(d, PCI_DEVICE_ID, device);
	d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	/* Command: I/O, memory, bus master, INTx disable are the guest's. */
	d->wmask[PCI_COMMAND] = PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER;
	d->wmask[PCI_COMMAND + 1] = PCI_CMD_INTX_DISABLE >> 8;
	d->wmask[PCI_INT_LINE] = 0xff;
	d->cap_next = 0x40;
	d->cap_last_ptr = NULL;
	d->msix_bar = -1;
}

static bool
slot_used(const struct pci_bus *bus, int s)
{
	int f;

	for (f = 0; f < 8; f++)
		if (bus->fn[s << 3 | f] != NULL)
			return true;
	return false;
}

int
pci_dev_init(struct pci_bus *bus, struct pci_dev *d, const char *name,
    int slot, uint16_t vendor, uint16_t device, uint32_t class_code,
    struct vm_err *err)
{
	return pci_dev_init_fn(bus, d, name, slot, 0, vendor, device,
	    class_code, err);
}

int
pci_dev_init_fn(struct pci_bus *bus, struct pci_dev *d, const char *name,
    int slot, int fn, uint16_t vendor, uint16_t device, uint32_t class_code,
    struct vm_err *err)
{
	struct pci_dev *f0;
	int s;

	if (fn < 0 || fn > 7 || (fn > 0 && slot < 0))
		return vm_err_set(err, -EINVAL, "%s: bad PCI function %d",
		    name, fn);
	if (slot < 0) {
		for (s = 1; s < PCI_MAX_SLOTS && slot_used(bus, s); s++)
			;
	} else {
		s = slot;
	}
	if (s >= PCI_MAX_SLOTS || bus->fn[s << 3 | fn] != NULL)
		return vm_err_set(err, -ENOSPC, "%s: no free PCI slot", name);
	/* A function other than 0 needs function 0 of its slot, which
	 * then says it is a multi-function device (header type bit 7). */
	f0 = bus->fn[s << 3];
	if (fn > 0 && f0 == NULL)
		return vm_err_set(err, -EINVAL, "%s: PCI function %d of slot "
		    "%d without function 0", name, fn, s);
	memset(d, 0, sizeof(*d));
	d->bus = bus;
	d->vm = bus->vm;
	d->slot = (uint8_t)s;
	d->fn = (uint8_t)fn;
	snprintf(d->name, sizeof(d->name), "%s", name);
	cfg_init_common(d, vendor, device, class_code);
	d->gsi = PC_PCI_GSI(s, 0);
	d->cfg[PCI_INT_PIN] = 1;        /* INTA */
	d->cfg[PCI_INT_LINE] = (uint8_t)d->gsi;
	bus->fn[s << 3 | fn] = d;
	if (fn > 0)
		f0->cfg[PCI_HEADER_TYPE] |= 0x80;
	return 0;
}

void
pci_dev_remove(struct pci_dev *d)
{
	int n;

	if (d->bus == NULL)
		return;
	pci_set16(d, PCI_COMMAND, 0);
	for (n = 0; n < 6; n++)
		bar_update(d, n);
	free(d->msix);
	d->msix = NULL;
	d->bus->fn[d->slot << 3 | d->fn] = NULL;
	route_update(d->bus);
	d->bus = NULL;
}

int
pci_slot_of(const struct pci_bus *bus, const char *name)
{
	int s;

	for (s = 0; s < PCI_MAX_SLOTS * 8; s++)
		if (bus->fn[s] && strcmp(bus->fn[s]->name, name) == 0)
			return s >> 3;
	return -1;
}

int
pci_fn_of(const struct pci_bus *bus, const char *name)
{
	int s;

	for (s = 0; s < PCI_MAX_SLOTS * 8; s++)
		if (bus->fn[s] && strcmp(bus->fn[s]->name, name) == 0)
			return s & 7;
	return -1;
}

static uint32_t
cfg_read(struct pci_dev *d, unsigned off, unsigned size)
{
	uint32_t v = 0;
	unsigned k;

	for (k = 0; k < size && off + k < PCI_CFG_SIZE; k++)
		v |= (uint32_t)d->cfg[off + k] << (8 * k);
	return v;
}

static void
cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
	uint16_t old_cmd = pci_get16(d, PCI_COMMAND);
	bool old_msix = pci_msix_enabled(d), bars = false, msix = false;
	unsigned k;

	for (k = 0; k < size && off + k < PCI_CFG_SIZE; k++) {
		unsigned o = off + k;
		uint8_t m = d->wmask[o], b = (uint8_t)(val >> (8 * k));

		d->cfg[o] = (uint8_t)((d->cfg[o] & ~m) | (b & m));
		if (o >= PCI_BAR0 && o < PCI_BAR0 + 24)
			bars = true;
		if (d->msix_cap && o >= d->msix_cap && o < d->msix_cap + 4u)
			msix = true;
	}
	if (bars || pci_get16(d, PCI_COMMAND) != old_cmd)
		bars_update(d);
	if (pci_get16(d, PCI_COMMAND) != old_cmd || msix ||
	    old_msix != pci_msix_enabled(d))
		intx_update(d);
	if (msix)
		msix_flush_pending(d);
	if (d->cfg_written)
		d->cfg_written(d, off, size);
}

/* ---- ports 0xcf8 / 0xcfc ----------------------------------------------- */

static struct pci_dev *
addressed(struct pci_bus *bus)
{
	uint32_t a = bus->addr;

	unsigned devfn = (a >> 8) & 0xff;

	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0)
		return NULL;
	/* Functions of a slot without function 0 are not there. */
	if (bus->fn[devfn & ~7u] == NULL)
		return NULL;
	return bus->fn[devfn];
}

static uint64_t
addr_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_bus *bus = opaque;

	return off == 0 && size == 4 ? bus->addr : ~0ULL;
}

static void
addr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_bus *bus = opaque;

	if (off == 0 && size == 4)
		bus->addr = (uint32_t)val & 0x80fffffcu;
}

static uint64_t
data_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *d = addressed(bus);

	if (d == NULL || off + size > 4)
		return ~0ULL;
	return cfg_read(d, (bus->addr & 0xfc) + (unsigned)off, size);
}

static void
data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *d = addressed(bus);

	if (d == NULL || off + size > 4)
		return;
	cfg_write(d, (bus->addr & 0xfc) + (unsigned)off, size, (uint32_t)val);
}

static uint64_t
none_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return ~0ULL;
}

static void
none_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)val;
	(void)size;
}

#define I440FX_PAM0 0x59
#define I440FX_NPAM 7

static void
host_cfg_written(struct pci_dev *d, unsigned off, unsigned size)
{
	if (off + size > I440FX_PAM0 && off < I440FX_PAM0 + I440FX_NPAM)
		bios_pam_update(d->vm, &d->cfg[I440FX_PAM0]);
}

static void
isa_cfg_written(struct pci_dev *d, unsigned off, unsigned size)
{
	if (off + size > PIIX_PIRQRC && off < PIIX_PIRQRC + 4)
		route_update(d->bus);
}

static const struct io_ops addr_ops = { addr_read, addr_write };
static const struct io_ops data_ops = { data_read, data_write };
static const struct io_ops none_ops = { none_read, none_write };

struct pci_bus *
pci_bus_new(struct vm *vm, struct vm_err *err)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	int ret;

	if (bus == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	bus->vm = vm;
	ret = bus_map(vm->pio, PC_PORT_PCI_CONF, 1, &addr_ops, bus,
	    "pci-conf-addr", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_PCI_CONF + 2, 2, &none_ops, bus,
		    "pci-conf-addr", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_PCI_CONF + 4, 4, &data_ops, bus,
		    "pci-conf-data", err);
	if (ret < 0) {
		pci_bus_free(bus);
		return NULL;
	}
	/* 00.0: an i440FX host bridge, what QEMU's pc machine shows. */
	pci_dev_init(bus, &bus->host, "host-bridge", 0, 0x8086, 0x1237,
	    0x060000, NULL);
	bus->host.cfg[PCI_INT_PIN] = 0;
	bus->host.cfg[PCI_INT_LINE] = 0;
	bus->host.wmask[PCI_INT_LINE] = 0;
	bus->host.cfg[PCI_REVISION] = 0x02;
	pci_set16(&bus->host, PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM);
	/* QEMU's subsystem IDs, by which SeaBIOS knows it runs on QEMU's
	 * board (and takes its tables from fw_cfg). */
	pci_set16(&bus->host, PCI_SUBSYS_VENDOR, 0x1af4);
	pci_set16(&bus->host, PCI_SUBSYS_ID, 0x1100);
	/* PAM0-PAM6: the BIOS shadow's read/write enables. */
	bus->host.wmask[I440FX_PAM0] = 0x30;
	memset(&bus->host.wmask[I440FX_PAM0 + 1], 0x33, I440FX_NPAM - 1);
	bus->host.cfg_written = host_cfg_written;
	/* The PIIX3 function 0, the PCI-to-ISA bridge: its PIRQ routing
	 * (disabled until firmware programs it). */
	pci_dev_init(bus, &bus->isa, "isa-bridge", ISA_SLOT, 0x8086, 0x7000,
	    0x060100, NULL);
	bus->isa.cfg[PCI_INT_PIN] = 0;
	bus->isa.cfg[PCI_INT_LINE] = 0;
	bus->isa.wmask[PCI_INT_LINE] = 0;
	pci_set16(&bus->isa, PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM |
	    PCI_CMD_MASTER);
	memset(&bus->isa.cfg[PIIX_PIRQRC], PIRQ_DISABLE, 4);
	memset(&bus->isa.wmask[PIIX_PIRQRC], PIRQ_DISABLE | 0x0f, 4);
	bus->isa.cfg_written = isa_cfg_written;
	return bus;
}

void
pci_bus_free(struct pci_bus *bus)
{
	if (bus == NULL)
		return;
	bus_unmap(bus->vm->pio, PC_PORT_PCI_CONF);
	bus_unmap(bus->vm->pio, PC_PORT_PCI_CONF + 2);
	bus_unmap(bus->vm->pio, PC_PORT_PCI_CONF + 4);
	free(bus);
}

int
pci_assign_bars(struct pci_bus *bus, struct vm_err *err)
{
	uint64_t mem = PC_PCI_MMIO_BASE, io = PC_PCI_IO_BASE;
	int s, n;

	for (s = 8; s < PCI_MAX_SLOTS * 8; s++) {
		struct pci_dev *d = bus->fn[s];
		uint16_t cmd = 0;

		if (d == NULL)
			continue;
		for (n = 0; n < 6; n++) {
			struct pci_bar *b = &d->bar[n];
			unsigned off = PCI_BAR0 + 4 * (unsigned)n;
			uint64_t *next = b->kind == PCI_BAR_IO ? &io : &mem;
			uint64_t a, end = b->kind == PCI_BAR_IO ?
			    PC_PCI_IO_END : PC_PCI_MMIO_END;

			if (b->kind == PCI_BAR_NONE)
				continue;
			a = (*next + b->size - 1) & ~(b->size - 1);
			if (a + b->size - 1 > end)
				return vm_err_set(err, -ENOSPC, "%s: no room "
				    "for BAR%d (%llu bytes) in the PCI window",
				    d->name, n, (unsigned long long)b->size);
			*next = a + b->size;
			pci_set32(d, off, (pci_get32(d, off) &
			    (b->kind == PCI_BAR_IO ? 3u : 0xfu)) |
			    (uint32_t)a);
			if (b->kind == PCI_BAR_MEM64)
				pci_set32(d, off + 4, (uint32_t)(a >> 32));
			cmd |= b->kind == PCI_BAR_IO ? PCI_CMD_IO :
			    PCI_CMD_MEM;
		}
		pci_set16(d, PCI_COMMAND, pci_get16(d, PCI_COMMAND) | cmd);
		bars_update(d);
	}
	return 0;
}

/* ---- snapshots ---------------------------------------------------------- */

/*
 * One function's configuration space, INTx line and MSI-X table.  Loading
 * applies the saved bytes only through the writable-bit mask, as a guest's
 * writes would land, so a snapshot cannot change a device's IDs, BAR sizes
 * or capability layout; the MSI-X table size must match the device's.
 */
int
pci_dev_state(struct pci_dev *d, struct snap_vis *v)
{
	uint8_t cfg[PCI_CFG_SIZE];
	unsigned n = d->msix_n, i, o;
	int intx = d->intx;

	memcpy(cfg, d->cfg, sizeof(cfg));
	snap_bytes(v, "pci.cfg", cfg, sizeof(cfg));
	snap_int(v, "pci.intx", &intx, 0, 1);
	snap_unsigned(v, "pci.msix_n", &n, 256);
	snap_check(v, n == d->msix_n, "pci.msix_n",
	    "the device has a different MSI-X table size");
	if (v->failed)
		return v->failed;
	for (i = 0; i < n; i++) {
		/* the table is shared with a staging copy: a dry load
		 * reads into scratch */
		struct pci_msix_entry scratch, *e = v->dry ? &scratch :
		    &d->msix[i];

		snap_u32(v, "pci.msix.addr_lo", &e->addr_lo);
		snap_u32(v, "pci.msix.addr_hi", &e->addr_hi);
		snap_u32(v, "pci.msix.data", &e->data);
		snap_u32(v, "pci.msix.ctrl", &e->ctrl);
	}
	snap_u64_array(v, "pci.msix_pba", d->msix_pba, 4);
	if (v->load && !v->failed) {
		for (o = 0; o < PCI_CFG_SIZE; o++)
			d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) |
			    (cfg[o] & d->wmask[o]));
		d->intx = intx;
	}
	return v->failed;
}

/* After pci_dev_state loaded: BAR mappings, the INTx line, the board's
 * reaction to its registers (the host bridge's PAM), as after writes. */
void
pci_dev_post_load(struct pci_dev *d)
{
	bars_update(d);
	intx_update(d);
	if (d->cfg_written)
		d->cfg_written(d, 0, PCI_CFG_SIZE);
}

struct pci_dev *
pci_host_bridge(struct pci_bus *bus)
{
	return &bus->host;
}
