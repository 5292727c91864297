/*
 * PCI: one bus (0) behind a host bridge reached through configuration
 * mechanism 1 (ports 0xcf8/0xcfc, PCI Local Bus 3.0 section 3.2.2.3.2).
 *
 * A device is a struct pci_dev with its 256-byte configuration space and a
 * mask of the bits the guest may write; pci.c does the rest of the generic
 * work: BAR sizing, mapping the BARs on the buses when the command register
 * enables decoding, INTx on the GSI the board's _PRT names, MSI-X (the
 * table and PBA live in a BAR pci.c serves itself), capability chains.
 * vm-run assigns every BAR at start (as firmware would), so a directly
 * booted kernel finds them programmed.
 *
 * Locking: everything here runs with the VM I/O lock held (bus callbacks
 * and device code called from them).
 */
#ifndef VM_HW_PCI_H
#define VM_HW_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

struct vm;
struct vm_err;
struct pci_bus;

#define PCI_CFG_SIZE 256
#define PCI_MAX_SLOTS 32

/* Configuration header offsets (type 0). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_ROM 0x30
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN 0x3d

#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS_CAP 0x10
#define PCI_STATUS_INTX 0x08

#define PCI_CAP_MSIX 0x11
#define PCI_CAP_VENDOR 0x09

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_kind kind;
	uint64_t size;                  /* power of two */
	uint64_t addr;                  /* as programmed */
	bool mapped;
	uint64_t mapped_at;
	const struct io_ops *ops;       /* NULL: pci.c serves it (MSI-X) */
	void *opaque;
};

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_dev {
	struct pci_bus *bus;
	struct vm *vm;
	char name[32];
	uint8_t slot;                   /* device number on bus 0 */
	uint8_t fn;                     /* function number, 0-7 */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];    /* writable bits */
	struct pci_bar bar[6];
	uint8_t cap_next;               /* where the next capability goes */
	uint8_t *cap_last_ptr;          /* the pointer to patch */

	/* INTx. */
	unsigned gsi;
	int intx;                       /* the device's line, before disable */

	/* MSI-X (pci_msix_init). */
	int msix_bar;                   /* -1 none */
	uint8_t msix_cap;
	unsigned msix_n;
	struct pci_msix_entry *msix;
	uint64_t msix_pba[4];           /* up to 256 vectors */

	void *opaque;                   /* the device model */
	/* Optional: device-specific config space, after pci.c's handling. */
	void (*cfg_written)(struct pci_dev *d, unsigned off, unsigned size);
};

struct snap_vis;
/* Snapshots: visit one function's config space, INTx and MSI-X state
 * (applied through the writable-bit mask on load); then post_load maps
 * its BARs and re-drives its line as after guest writes. */
int pci_dev_state(struct pci_dev *d, struct snap_vis *v);
void pci_dev_post_load(struct pci_dev *d);
/* 00.0, the host bridge (PAM registers). */
struct pci_dev *pci_host_bridge(struct pci_bus *bus);

struct pci_bus *pci_bus_new(struct vm *vm, struct vm_err *err);
void pci_bus_free(struct pci_bus *bus);

/* Initialise d (vendor, device, class = base<<16|sub<<8|prog) and claim a
 * free slot on bus 0 (slot < 0: the next free).  0 or -errno. */
int pci_dev_init(struct pci_bus *bus, struct pci_dev *d, const char *name,
    int slot, uint16_t vendor, uint16_t device, uint32_t class_code,
    struct vm_err *err);
/* The same as function fn (0-7) of slot (not < 0 for fn > 0), whose
 * function 0 must exist already (it becomes multi-function). */
int pci_dev_init_fn(struct pci_bus *bus, struct pci_dev *d, const char *name,
    int slot, int fn, uint16_t vendor, uint16_t device, uint32_t class_code,
    struct vm_err *err);
void pci_dev_remove(struct pci_dev *d);
/* The slot and the function of the device named name (its device id),
 * or -1. */
int pci_slot_of(const struct pci_bus *bus, const char *name);
int pci_fn_of(const struct pci_bus *bus, const char *name);
/* Declare BAR n (size a power of two; a MEM64 BAR takes n and n+1);
 * ops NULL makes it the MSI-X BAR served by pci.c. */
void pci_bar_init(struct pci_dev *d, int n, enum pci_bar_kind kind,
    uint64_t size, const struct io_ops *ops, void *opaque);
/* Append a capability of len bytes (id at +0, next at +1 filled in);
 * returns its offset in config space, 0 if no room. */
uint8_t pci_cap_add(struct pci_dev *d, uint8_t id, uint8_t len);
/* MSI-X with n vectors, table at offset 0 and PBA at 0x800 of BAR bar. */
int pci_msix_init(struct pci_dev *d, int bar, unsigned n);
bool pci_msix_enabled(const struct pci_dev *d);
/* Signal vector v (MSI-X) or, without MSI-X, assert/deassert INTx. */
void pci_msix_notify(struct pci_dev *d, unsigned v);
void pci_set_intx(struct pci_dev *d, int level);
/* Is bus mastering (DMA) enabled? */
bool pci_master(const struct pci_dev *d);

/* Give every declared BAR an address in the board's windows and enable
 * decoding, as firmware does before a direct kernel boot. */
int pci_assign_bars(struct pci_bus *bus, struct vm_err *err);

/* Little-endian config helpers. */
static inline void
pci_set8(struct pci_dev *d, unsigned off, uint8_t v)
{
	d->cfg[off] = v;
}

static inline void
pci_set16(struct pci_dev *d, unsigned off, uint16_t v)
{
	d->cfg[off] = (uint8_t)v;
	d->cfg[off + 1] = (uint8_t)(v >> 8);
}

static inline void
pci_set32(struct pci_dev *d, unsigned off, uint32_t v)
{
	pci_set16(d, off, (uint16_t)v);
	pci_set16(d, off + 2, (uint16_t)(v >> 16));
}

static inline uint16_t
pci_get16(const struct pci_dev *d, unsigned off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

static inline uint32_t
pci_get32(const struct pci_dev *d, unsigned off)
{
	return pci_get16(d, off) | (uint32_t)pci_get16(d, off + 2) << 16;
}

#endif
