/*
 * The ACPI power-management block, PIIX4 style (ACPI 6.4, 4.8 "fixed
 * hardware"), at the port its PCI function's PMBA register holds while
 * PMREGMISC enables it (PC_PORT_PM, or where OVMF programs it), which the
 * FADT publishes:
 *   PM1a_EVT  status (write 1 to clear) and enable, 2 + 2 bytes
 *   PM1a_CNT  SCI_EN, SLP_TYP, SLP_EN: sleeping in S5 powers the VM off
 *   PM_TMR    24-bit free-running counter at 3.579545 MHz
 *   GPE0      status and enable, 2 + 2 bytes
 * plus the reset control port 0xcf9 (the FADT's RESET_REG) and port 0x92
 * (fast A20, always on; bit 0 resets).  The SCI (level) is raised while an
 * enabled status bit is set.  The power button is the fixed-feature one
 * (the FADT's PWR_BUTTON flag clear): acpi_pm_power_button sets its
 * status bit, as pressing it would.
 */
#include <errno.h>

#include "dev/acpi-pm.h"
#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/irq.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/vm.h"

#define PM1_TMR_STS 0x0001u
#define PM1_PWRBTN_STS 0x0100u
#define PM1_WAK_STS 0x8000u
#define PM1_SCI_EN 0x0001u
#define PM1_SLP_EN 0x2000u
#define PM1_SLP_TYP(v) (((v) >> 10) & 7u)

struct pm {
	struct vm *vm;
	struct pci_dev pci;             /* 00:01.3, the PIIX4's PM function */
	bool on_pci;
	uint16_t mapped_at;             /* the block's port, 0 unmapped */
	struct {
		uint16_t sts, en, cnt;
		uint16_t gpe_sts, gpe_en;
		uint8_t port92;
	} r;
	uint64_t t0;
	int level;
};

static void
update_sci(struct pm *p)
{
	int level = ((p->r.sts & p->r.en) || (p->r.gpe_sts & p->r.gpe_en)) &&
	    (p->r.cnt & PM1_SCI_EN);

	if (level != p->level) {
		p->level = level;
		irq_set(&p->vm->irq, PC_IRQ_SCI, level);
	}
}

void
acpi_pm_power_button(struct dev *d)
{
	struct pm *p = d->priv;

	p->r.sts |= PM1_PWRBTN_STS;
	update_sci(p);
}

static uint32_t
pm_timer(struct pm *p)
{
	uint64_t ns = clock_ns() - p->t0;

	return (uint32_t)((unsigned __int128)ns * PC_PM_TMR_HZ /
	    1000000000ULL) & 0xffffff;
}

static uint64_t
read_regs(const uint8_t *bytes, unsigned len, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		if (off + i < len)
			v |= (uint64_t)bytes[off + i] << (8 * i);
	return v;
}

static uint64_t
pm_read(void *opaque, uint64_t off, unsigned size)
{
	struct pm *p = opaque;
	uint8_t regs[12];
	uint32_t t = pm_timer(p);

	regs[0] = (uint8_t)p->r.sts;
	regs[1] = (uint8_t)(p->r.sts >> 8);
	regs[2] = (uint8_t)p->r.en;
	regs[3] = (uint8_t)(p->r.en >> 8);
	regs[4] = (uint8_t)p->r.cnt;
	regs[5] = (uint8_t)(p->r.cnt >> 8);
	regs[6] = regs[7] = 0;
	regs[8] = (uint8_t)t;
	regs[9] = (uint8_t)(t >> 8);
	regs[10] = (uint8_t)(t >> 16);
	regs[11] = 0;
	return read_regs(regs, sizeof(regs), off, size);
}

static void
pm_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pm *p = opaque;
	unsigned i;

	for (i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint16_t b = (uint16_t)((val >> (8 * i)) & 0xff);

		switch (o) {
		case 0:
			p->r.sts &= (uint16_t)~b;
			break;
		case 1:
			p->r.sts &= (uint16_t)~(b << 8);
			break;
		case 2:
			p->r.en = (uint16_t)((p->r.en & 0xff00) | b);
			break;
		case 3:
			p->r.en = (uint16_t)((p->r.en & 0x00ff) | (b << 8));
			break;
		case 4:
			p->r.cnt = (uint16_t)((p->r.cnt & 0xff00) | b);
			break;
		case 5:
			p->r.cnt = (uint16_t)((p->r.cnt & 0x00ff) | (b << 8));
			if (p->r.cnt & PM1_SLP_EN) {
				p->r.cnt &= (uint16_t)~PM1_SLP_EN;
				if (PM1_SLP_TYP(p->r.cnt) == PC_SLP_TYP_S5)
					vm_request_exit(p->vm,
					    VM_EXIT_POWEROFF, 0,
					    "ACPI power off (S5)");
			}
			break;
		}
	}
	update_sci(p);
}

static uint64_t
gpe_read(void *opaque, uint64_t off, unsigned size)
{
	struct pm *p = opaque;
	uint8_t regs[4] = { (uint8_t)p->r.gpe_sts, (uint8_t)(p->r.gpe_sts >> 8),
		(uint8_t)p->r.gpe_en, (uint8_t)(p->r.gpe_en >> 8) };

	return read_regs(regs, sizeof(regs), off, size);
}

static void
gpe_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pm *p = opaque;
	unsigned i;

	for (i = 0; i < size; i++) {
		uint16_t b = (uint16_t)((val >> (8 * i)) & 0xff);

		switch (off + i) {
		case 0:
			p->r.gpe_sts &= (uint16_t)~b;
			break;
		case 1:
			p->r.gpe_sts &= (uint16_t)~(b << 8);
			break;
		case 2:
			p->r.gpe_en = (uint16_t)((p->r.gpe_en & 0xff00) | b);
			break;
		case 3:
			p->r.gpe_en = (uint16_t)((p->r.gpe_en & 0xff) | (b << 8));
			break;
		}
	}
	update_sci(p);
}

static uint64_t
rst_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;
}

static void
rst_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pm *p = opaque;

	(void)size;
	if (off == 0 && (val & 0x04))
		vm_request_exit(p->vm, VM_EXIT_RESET, 0,
		    "reset through port 0xcf9");
}

static uint64_t
p92_read(void *opaque, uint64_t off, unsigned size)
{
	struct pm *p = opaque;

	(void)off;
	(void)size;
	return (p->r.port92 & ~1u) | 0x02; /* A20 on */
}

static void
p92_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pm *p = opaque;

	(void)off;
	(void)size;
	p->r.port92 = (uint8_t)(val | 0x02);
	if (val & 1)
		vm_request_exit(p->vm, VM_EXIT_RESET, 0,
		    "reset through port 0x92");
}

static const struct io_ops pm_ops = { pm_read, pm_write };
static const struct io_ops gpe_ops = { gpe_read, gpe_write };
static const struct io_ops rst_ops = { rst_read, rst_write };
static const struct io_ops p92_ops = { p92_read, p92_write };

static void
pm_reset(struct dev *d)
{
	struct pm *p = d->priv;

	p->r.sts = p->r.en = p->r.gpe_sts = p->r.gpe_en = 0;
	/* SMI_CMD is 0 in the FADT: ACPI mode is always on. */
	p->r.cnt = PM1_SCI_EN;
	p->r.port92 = 0x02;
	update_sci(p);
}

#define PMBA 0x40
#define PMBA_MASK 0xffc0u               /* 64-byte aligned I/O base */
#define PMREGMISC 0x80
#define PMIOSE 0x01                     /* the PM I/O space decodes */

/* Map the block where PMBA and PMREGMISC say, after a write to them (or
 * a load): unmapped while PMIOSE is clear or PMBA is 0; a base the guest
 * chose over another device's ports leaves it unmapped, as a decode
 * conflict on real hardware would leave it unreachable. */
static void
pm_remap(struct pm *p)
{
	uint16_t base = (uint16_t)(pci_get32(&p->pci, PMBA) & PMBA_MASK);
	struct vm_err err;

	if (!(p->pci.cfg[PMREGMISC] & PMIOSE))
		base = 0;
	if (base == p->mapped_at)
		return;
	if (p->mapped_at != 0)
		bus_unmap(p->vm->pio, p->mapped_at);
	p->mapped_at = 0;
	if (base == 0)
		return;
	if (bus_map(p->vm->pio, base, PC_PM_LEN, &pm_ops, p, "acpi-pm",
	    &err) == 0)
		p->mapped_at = base;
	else
		log_debug(LOG_DEV, "acpi-pm: PM base 0x%x not mapped: %s",
		    base, err.msg);
}

static void
pm_cfg_written(struct pci_dev *pd, unsigned off, unsigned size)
{
	if (off < PMBA + 4 && off + size > PMBA)
		pm_remap(pd->opaque);
	else if (off <= PMREGMISC && off + size > PMREGMISC)
		pm_remap(pd->opaque);
}

/*
 * The PCI function firmware and guests look for (8086:7113 at 00:01.3,
 * as QEMU's pc machine): its PM base (PMBA, 0x40, bits 15:6) places the
 * block while PMREGMISC (0x80) bit 0 enables it, set to base here or
 * left for the firmware to program (OVMF does, SeaBIOS writes
 * PC_PORT_PM again); the SMBus base (0x90) keeps what is written, with
 * no SMBus behind it; DEVACTB says the APM port's SMI is on (there is no
 * SMM).  No interrupt pin: the SCI is ISA IRQ 9, as the FADT says.
 * Called once the PCI bus exists.
 */
int
acpi_pm_pci_init(struct dev *d, struct pci_bus *bus, uint16_t base,
    struct vm_err *err)
{
	struct pm *p = d->priv;
	int ret;

	ret = pci_dev_init_fn(bus, &p->pci, "acpi-pm", PC_PCI_ISA_SLOT, 3,
	    0x8086, 0x7113, 0x068000, err);
	if (ret < 0)
		return ret;
	p->on_pci = true;
	p->pci.cfg[PCI_REVISION] = 0x03;
	p->pci.cfg[PCI_INT_PIN] = 0;
	p->pci.cfg[PCI_INT_LINE] = 0;
	p->pci.wmask[PCI_INT_LINE] = 0;
	p->pci.opaque = p;
	p->pci.cfg_written = pm_cfg_written;
	pci_set32(&p->pci, PMBA, (uint32_t)(base & PMBA_MASK) | 1);
	p->pci.wmask[PMBA] = 0xc0;
	p->pci.wmask[PMBA + 1] = 0xff;
	/* DEVACTB (0x58) bit 25, APMC_EN, read-only on: there is no SMM,
	 * and firmware that finds SMI on the APM port enabled already
	 * (SeaBIOS) does not set SMM up and wait for an SMI. */
	p->pci.cfg[0x5b] = 0x02;
	p->pci.cfg[PMREGMISC] = base != 0 ? PMIOSE : 0;
	p->pci.wmask[PMREGMISC] = PMIOSE;
	p->pci.cfg[0x90] = 0x01;
	p->pci.wmask[0x90] = 0xf0;
	p->pci.wmask[0x91] = 0xff;
	pm_remap(p);
	return 0;
}

static int
pm_realize(struct dev *d, struct vm *vm, const void *arg, struct vm_err *err)
{
	struct pm *p = d->priv;
	int ret;

	(void)arg;
	p->vm = vm;
	p->t0 = clock_ns();
	pm_reset(d);
	/* At PC_PORT_PM until its PCI function says otherwise. */
	ret = bus_map(vm->pio, PC_PORT_PM, PC_PM_LEN, &pm_ops, p, "acpi-pm",
	    err);
	if (ret == 0) {
		p->mapped_at = PC_PORT_PM;
		ret = bus_map(vm->pio, PC_GPE0, PC_GPE0_LEN, &gpe_ops, p,
		    "acpi-gpe0", err);
	}
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_RESET, 1, &rst_ops, p,
		    "reset-control", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_A20, 1, &p92_ops, p, "port92",
		    err);
	return ret;
}

static void
pm_unrealize(struct dev *d)
{
	struct pm *p = d->priv;

	if (p->on_pci)
		pci_dev_remove(&p->pci);
	p->on_pci = false;
}

static int
pm_state(struct dev *d, struct snap_vis *v)
{
	struct pm *p = d->priv;

	snap_u16(v, "pm1_sts", &p->r.sts);
	snap_u16(v, "pm1_en", &p->r.en);
	snap_u16(v, "pm1_cnt", &p->r.cnt);
	snap_u16(v, "gpe0_sts", &p->r.gpe_sts);
	snap_u16(v, "gpe0_en", &p->r.gpe_en);
	snap_u8(v, "port92", &p->r.port92);
	snap_time(v, "pm_tmr_t0", &p->t0);
	snap_int(v, "level", &p->level, 0, 1);
	/* Version 2: the PCI function's configuration space (PMBA, the
	 * SMBus base and the other registers firmware and guests write). */
	if (p->on_pci && (!v->load || v->version >= 2)) {
		pci_dev_state(&p->pci, v);
		if (v->load && !v->failed)
			pci_dev_post_load(&p->pci);
	}
	return v->failed;
}

const struct dev_type acpi_pm_type = {
	.name = "acpi-pm",
	.desc = "ACPI PM block, reset control, port 0x92",
	.priv_size = sizeof(struct pm),
	.realize = pm_realize,
	.unrealize = pm_unrealize,
	.reset = pm_reset,
	.state = pm_state,
	.state_version = 2,
};
