/*
 * PIIX IDE: an Intel 82371SB (PIIX3) IDE function, 8086:7010, with ATA
 * disks on the block layer, programmed I/O and bus-master DMA
 * (ide-bmdma.c, BAR4).
 *
 * arg: const struct ide_args * (dev/ide.h).  Both channels sit at their
 * legacy ports, with or without drives, as on QEMU's pc.  Each channel
 * has one task file shared by its two drives, as on the cable; the
 * device bit of the device register selects the drive, and a selected
 * drive that is absent reads status and error 0 (BSY clear: a probe
 * waits for nothing) and ignores commands.  A channel with no drive at
 * all reads 0 in every register, the device register too, so its
 * signature is neither ATA's nor ATAPI's and its sector count does not
 * keep what was written: firmware and drivers find nothing there at
 * once.  (A channel that is not decoded would read 0xff, BSY set, and
 * OVMF waits 35 s for each of its four drives to clear it.)
 *
 * Commands (ATA/ATAPI-7 vol. 1): IDENTIFY DEVICE; READ/WRITE SECTORS
 * (LBA28 and CHS, the BIOS's translation of 16 heads and 63 sectors),
 * READ/WRITE DMA and the EXT forms of both (LBA48, with the high-order
 * bytes the HOB bit of device control reads back); READ VERIFY; FLUSH
 * CACHE (EXT); SET FEATURES (the transfer mode it sets, PIO 0-4,
 * multiword DMA 0-2 or Ultra DMA 0-5, is what IDENTIFY then reports as
 * selected; other subcommands are accepted), INITIALIZE DEVICE
 * PARAMETERS, power and seek commands (accepted); EXECUTE DEVICE DIAGNOSTIC and software reset (SRST),
 * which leave the ATA signature.  Anything else, and IDENTIFY PACKET
 * DEVICE (these are not ATAPI devices), aborts.  A transfer moves one
 * 512-byte sector per DRQ block through the data port (16- or 32-bit
 * accesses), with an interrupt for each block of a read and after each
 * block of a write, unless nIEN masks it.  Sectors past the end of the
 * disk give IDNF; a failed read or write gives UNC; no guest value
 * reaches the block layer unchecked.
 *
 * Configuration space: class 01.01.80 (both channels in compatibility
 * mode, a bus master), the IDE timing registers 0x40-0x4f writable, with
 * the decode-enable bits of both channels (0x41 and 0x43, bit 7) set as
 * firmware leaves them (Linux's ata_piix ignores a channel without).
 */
#include "dev/ide.h"
#include "dev/ide-int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/irq.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

struct drive *
ide_cur(struct chan *c)
{
	struct drive *d = &c->drv[(c->dev & DEV_DRV) ? 1 : 0];

	return d->blk ? d : NULL;
}

static void
irq_update(struct chan *c)
{
	irq_set(&c->ide->vm->irq, c->irqno,
	    c->irq && !(c->devctl & CTL_NIEN));
}

void
ide_irq_raise(struct chan *c)
{
	c->irq = true;
	irq_update(c);
}

void
ide_done(struct chan *c, uint8_t err)
{
	c->xfer = XFER_NONE;
	c->err = err;
	c->status = ST_DRDY | ST_DSC | (err ? ST_ERR : 0);
	ide_irq_raise(c);
}

/* The ATA signature: what reset and diagnostics leave. */
static void
signature(struct chan *c)
{
	c->nsect[0] = 1;
	c->lbal[0] = 1;
	c->lbam[0] = 0;
	c->lbah[0] = 0;
	c->dev = 0;
	c->err = 1;                     /* diagnostics passed */
	c->status = c->drv[0].blk ? ST_DRDY | ST_DSC : 0;
	c->xfer = XFER_NONE;
	c->packet = false;
	c->dma = DMA_NONE;
	if (c->drv[0].cdrom)
		atapi_signature(c);
}

/* "ABC" into ATA string words: two characters per word, first high. */
void
ide_id_string(uint16_t *w, unsigned nwords, const char *s)
{
	unsigned i;
	size_t n = strlen(s);

	for (i = 0; i < nwords * 2; i++) {
		uint8_t ch = i < n ? (uint8_t)s[i] : ' ';

		if (i % 2 == 0)
			w[i / 2] = (uint16_t)(ch << 8);
		else
			w[i / 2] |= ch;
	}
}

static void
identify(struct chan *c, struct drive *d)
{
	uint16_t w[256] = { 0 };
	uint64_t chs = d->sectors / (HEADS * SPT), lba28;
	char serial[48];

	if (chs > 16383)
		chs = 16383;
	lba28 = d->sectors > 0x0fffffff ? 0x0fffffff : d->sectors;
	snprintf(serial, sizeof(serial), "VMKIT%s", d->name);
	w[0] = 0x0040;                          /* fixed disk */
	w[1] = (uint16_t)chs;
	w[3] = HEADS;
	w[6] = SPT;
	ide_id_string(&w[10], 10, serial);
	ide_id_string(&w[23], 4, "1.0");
	ide_id_string(&w[27], 20, "VMKIT HARDDISK");
	w[47] = 0x8000;                         /* no READ MULTIPLE */
	w[49] = 0x0300;                         /* LBA, DMA */
	w[50] = 0x4000;
	w[53] = 0x0007;                         /* words 54-58, 64-70, 88 */
	w[54] = (uint16_t)chs;
	w[55] = HEADS;
	w[56] = SPT;
	w[57] = (uint16_t)(chs * HEADS * SPT);
	w[58] = (uint16_t)((chs * HEADS * SPT) >> 16);
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	ide_id_modes(w, d);
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x00f0;                         /* ATA/ATAPI-4 to -7 */
	w[82] = 0x4000;
	w[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400;      /* FLUSH (EXT), LBA48 */
	w[84] = 0x4000;
	w[85] = 0x4000;
	w[86] = 0x2000 | 0x1000 | 0x0400;
	w[87] = 0x4000;
	w[100] = (uint16_t)d->sectors;
	w[101] = (uint16_t)(d->sectors >> 16);
	w[102] = (uint16_t)(d->sectors >> 32);
	w[103] = (uint16_t)(d->sectors >> 48);
	w[93] = 0x4000 | 0x0001;                /* device 0's reset result */
	memcpy(c->buf, w, sizeof(w));           /* little-endian host */
	c->pos = 0;
	c->left = 0;
	c->xfer = XFER_IN;
	c->err = 0;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_irq_raise(c);
}

/* The DMA and PIO modes of IDENTIFY (words 62-68, 88): multiword DMA 0-2,
 * Ultra DMA 0-5 and PIO 3-4 supported, the mode SET FEATURES chose
 * marked selected. */
void
ide_id_modes(uint16_t *w, const struct drive *d)
{
	w[63] = 0x0007;
	w[88] = 0x003f;
	if ((d->mode & 0xf8) == 0x20)
		w[63] |= (uint16_t)(0x100 << (d->mode & 7));
	else if ((d->mode & 0xf8) == 0x40)
		w[88] |= (uint16_t)(0x100 << (d->mode & 7));
	w[64] = 0x0003;                         /* PIO modes 3 and 4 */
}

/* SET FEATURES: subcommand 03h sets the transfer mode (the sector
 * count's value); the rest are accepted. */
static void
set_features(struct chan *c, struct drive *d)
{
	uint8_t m = c->nsect[0];

	if (c->feature == 0x03) {
		if (m > 0x0c && !(m >= 0x20 && m <= 0x22) &&
		    !(m >= 0x40 && m <= 0x45)) {
			ide_done(c, ER_ABRT);
			return;
		}
		d->mode = m;
	}
	ide_done(c, 0);
}

/* The command's starting sector and count; false if out of the disk. */
static bool
range(struct chan *c, struct drive *d, bool ext, uint64_t *lba,
    uint32_t *count)
{
	if (ext) {
		*lba = (uint64_t)c->lbal[0] | (uint64_t)c->lbam[0] << 8 |
		    (uint64_t)c->lbah[0] << 16 | (uint64_t)c->lbal[1] << 24 |
		    (uint64_t)c->lbam[1] << 32 | (uint64_t)c->lbah[1] << 40;
		*count = (uint32_t)c->nsect[0] | (uint32_t)c->nsect[1] << 8;
		if (*count == 0)
			*count = 65536;
	} else {
		if (c->dev & DEV_LBA) {
			*lba = (uint64_t)c->lbal[0] | (uint64_t)c->lbam[0] << 8 |
			    (uint64_t)c->lbah[0] << 16 |
			    (uint64_t)(c->dev & 0xf) << 24;
		} else {
			uint64_t cyl = c->lbam[0] | (unsigned)c->lbah[0] << 8;

			if (c->lbal[0] == 0 || c->lbal[0] > SPT ||
			    (c->dev & 0xf) >= HEADS)
				return false;
			*lba = (cyl * HEADS + (c->dev & 0xf)) * SPT +
			    c->lbal[0] - 1;
		}
		*count = c->nsect[0] ? c->nsect[0] : 256;
	}
	return *lba < d->sectors && *count <= d->sectors - *lba;
}

/* Read the next sector into buf and offer it (DRQ, interrupt). */
static void
read_next(struct chan *c, struct drive *d)
{
	if (blk_pread(d->blk, c->buf, SECTOR, c->lba * SECTOR) < 0) {
		log_debug(LOG_DEV, "%s: read of sector %llu failed", d->name,
		    (unsigned long long)c->lba);
		ide_done(c, ER_UNC | ER_ABRT);
		return;
	}
	c->pos = 0;
	c->xfer = XFER_IN;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_irq_raise(c);
}

static void
rw_start(struct chan *c, struct drive *d, bool ext, bool write, bool dma)
{
	uint64_t lba;
	uint32_t count;

	if (!range(c, d, ext, &lba, &count)) {
		ide_done(c, ER_IDNF | ER_ABRT);
		return;
	}
	if (write && d->readonly) {
		ide_done(c, ER_ABRT);
		return;
	}
	c->lba = lba;
	c->left = count - 1;
	c->err = 0;
	if (dma) {
		c->dma = write ? DMA_ATA_WRITE : DMA_ATA_READ;
		bmdma_request(c);
		return;
	}
	if (!write) {
		read_next(c, d);
		return;
	}
	c->pos = 0;
	c->xfer = XFER_OUT;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;  /* no interrupt yet */
}

/* The ATA commands of a packet device. */
static void
atapi_command(struct chan *c, struct drive *d, uint8_t cmd)
{
	switch (cmd) {
	case 0xa1:
		atapi_identify(c, d);
		return;
	case 0xa0:
		atapi_packet(c);
		return;
	case 0x08:                      /* DEVICE RESET */
	case 0x90:
		signature(c);
		atapi_signature(c);
		if (cmd == 0x90)
			ide_irq_raise(c);
		return;
	case 0xef:
		set_features(c, d);
		return;
	case 0xe5: case 0xe0: case 0xe1: case 0xe2: case 0xe3:
		ide_done(c, 0);
		return;
	default:
		/* IDENTIFY DEVICE among them: the signature says ATAPI. */
		atapi_signature(c);
		ide_done(c, ER_ABRT);
	}
}

static void
command(struct chan *c, uint8_t cmd)
{
	struct drive *d = ide_cur(c);

	if (d == NULL)
		return;                 /* nobody answers */
	c->irq = false;
	c->dma = DMA_NONE;
	if (d->cdrom) {
		atapi_command(c, d, cmd);
		return;
	}
	switch (cmd) {
	case 0xec:
		identify(c, d);
		return;
	case 0x20: case 0x21:
		rw_start(c, d, false, false, false);
		return;
	case 0x24:
		rw_start(c, d, true, false, false);
		return;
	case 0x30: case 0x31:
		rw_start(c, d, false, true, false);
		return;
	case 0x34:
		rw_start(c, d, true, true, false);
		return;
	case 0xc8: case 0xc9:           /* READ DMA */
		rw_start(c, d, false, false, true);
		return;
	case 0x25:                      /* READ DMA EXT */
		rw_start(c, d, true, false, true);
		return;
	case 0xca: case 0xcb:           /* WRITE DMA */
		rw_start(c, d, false, true, true);
		return;
	case 0x35:                      /* WRITE DMA EXT */
		rw_start(c, d, true, true, true);
		return;
	case 0xef:
		set_features(c, d);
		return;
	case 0x40: case 0x41: case 0x42: {
		uint64_t lba;
		uint32_t n;

		ide_done(c, range(c, d, cmd == 0x42, &lba, &n) ? 0 :
		    ER_IDNF | ER_ABRT);
		return;
	}
	case 0xe7: case 0xea:
		ide_done(c, blk_flush(d->blk) < 0 ? ER_ABRT : 0);
		return;
	case 0x90:
		signature(c);
		ide_irq_raise(c);
		return;
	case 0xe5:                      /* CHECK POWER MODE: active */
		c->nsect[0] = 0xff;
		ide_done(c, 0);
		return;
	case 0x91: case 0x70:
	case 0xe0: case 0xe1: case 0xe2: case 0xe3:
		ide_done(c, 0);
		return;
	default:
		if (cmd >= 0x10 && cmd <= 0x1f) {       /* RECALIBRATE */
			ide_done(c, 0);
			return;
		}
		log_debug(LOG_DEV, "%s: ATA command 0x%02x aborted", d->name,
		    cmd);
		ide_done(c, ER_ABRT);
	}
}

/* One 16- or 32-bit piece of the data port. */
static uint64_t
data_read(struct chan *c, unsigned size)
{
	struct drive *d = ide_cur(c);
	uint64_t v = 0;

	if (d != NULL && d->cdrom)
		return atapi_data_read(c, d, size);
	if (d == NULL || c->xfer != XFER_IN || c->pos + size > SECTOR)
		return 0;
	memcpy(&v, c->buf + c->pos, size);
	c->pos += size;
	if (c->pos < SECTOR)
		return v;
	if (c->left == 0) {
		c->xfer = XFER_NONE;
		c->status = ST_DRDY | ST_DSC;
		return v;
	}
	c->left--;
	c->lba++;
	read_next(c, d);
	return v;
}

static void
data_write(struct chan *c, uint64_t v, unsigned size)
{
	struct drive *d = ide_cur(c);

	if (d != NULL && d->cdrom) {
		atapi_data_write(c, d, v, size);
		return;
	}
	if (d == NULL || c->xfer != XFER_OUT || c->pos + size > SECTOR)
		return;
	memcpy(c->buf + c->pos, &v, size);
	c->pos += size;
	if (c->pos < SECTOR)
		return;
	if (blk_pwrite(d->blk, c->buf, SECTOR, c->lba * SECTOR) < 0) {
		log_debug(LOG_DEV, "%s: write of sector %llu failed", d->name,
		    (unsigned long long)c->lba);
		ide_done(c, ER_UNC | ER_ABRT);
		return;
	}
	if (c->left == 0) {
		ide_done(c, 0);
		return;
	}
	c->left--;
	c->lba++;
	c->pos = 0;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_irq_raise(c);
}

static uint8_t
status_of(struct chan *c)
{
	return ide_cur(c) ? c->status : 0;
}

static uint64_t
cmd_read(void *opaque, uint64_t off, unsigned size)
{
	struct chan *c = opaque;
	int h = (c->devctl & CTL_HOB) ? 1 : 0;

	if (off == 0)
		return size == 1 ? 0xff : data_read(c, size);
	if (!c->drv[0].blk && !c->drv[1].blk)
		return 0;               /* an empty channel */
	if (ide_cur(c) == NULL && off != 6)
		return 0;
	switch (off) {
	case 1: return c->err;
	case 2: return c->nsect[h];
	case 3: return c->lbal[h];
	case 4: return c->lbam[h];
	case 5: return c->lbah[h];
	case 6: return c->dev | 0xa0;
	default:
		c->irq = false;
		irq_update(c);
		return status_of(c);
	}
}

static void
shift(uint8_t *r, uint8_t v)
{
	r[1] = r[0];
	r[0] = v;
}

static void
cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct chan *c = opaque;
	uint8_t v = (uint8_t)val;

	if (off == 0) {
		if (size != 1)
			data_write(c, val, size);
		return;
	}
	c->devctl &= (uint8_t)~CTL_HOB;
	switch (off) {
	case 1: c->feature = v; break;
	case 2: shift(c->nsect, v); break;
	case 3: shift(c->lbal, v); break;
	case 4: shift(c->lbam, v); break;
	case 5: shift(c->lbah, v); break;
	case 6: c->dev = v & 0x5f; break;
	default: command(c, v); break;
	}
}

static uint64_t
ctl_read(void *opaque, uint64_t off, unsigned size)
{
	(void)size;
	return off == 0 ? status_of(opaque) : 0xff;
}

static void
ctl_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct chan *c = opaque;
	uint8_t v = (uint8_t)val;

	(void)size;
	if (off != 0)
		return;
	if ((v & CTL_SRST) && !(c->devctl & CTL_SRST)) {
		c->status = ST_BSY;
		c->irq = false;
	} else if (!(v & CTL_SRST) && (c->devctl & CTL_SRST)) {
		signature(c);
	}
	c->devctl = v;
	irq_update(c);
}

static const struct io_ops cmd_ops = { cmd_read, cmd_write };
static const struct io_ops ctl_ops = { ctl_read, ctl_write };

static int
open_drive(struct drive *d, const struct cfg_disk *cd, const char *name,
    struct vm_err *err)
{
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->blk = blk_open(cd->file, cd->format[0] ? cd->format : NULL,
	    cd->readonly || cd->media == CFG_MEDIA_CDROM ? BLK_F_RDONLY : 0,
	    err);
	if (d->blk == NULL)
		return err ? err->code : -EIO;
	d->cdrom = cd->media == CFG_MEDIA_CDROM;
	d->sectors = d->blk->size / (d->cdrom ? CD_SECTOR : SECTOR);
	d->readonly = cd->readonly || d->cdrom;
	return 0;
}

static void
ide_unrealize(struct dev *dv)
{
	struct piix_ide *s = dv->priv;
	int i, k;

	for (i = 0; i < 2; i++) {
		s->ch[i].dma = DMA_NONE;
		if (s->ch[i].mapped) {
			bus_unmap(s->vm->pio, s->ch[i].base);
			bus_unmap(s->vm->pio, s->ch[i].ctl_port);
			s->ch[i].mapped = false;
		}
		for (k = 0; k < 2; k++) {
			if (s->ch[i].drv[k].blk == NULL)
				continue;
			blk_flush(s->ch[i].drv[k].blk);
			blk_close(s->ch[i].drv[k].blk);
			s->ch[i].drv[k].blk = NULL;
		}
	}
	pci_dev_remove(&s->pci);
	bmdma_fini(s);
}

static int
ide_realize(struct dev *dv, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	static const unsigned base[2] = { 0x1f0, 0x170 };
	static const unsigned ctl[2] = { 0x3f6, 0x376 };
	static const unsigned irqno[2] = { 14, 15 };
	static const char *const names[IDE_MAX_DRIVES] = { "hda", "hdb",
		"hdc", "hdd" };
	const struct ide_args *a = arg;
	struct piix_ide *s = dv->priv;
	int i, ret;

	s->vm = vm;
	/* Function 1 of the PIIX3 (00:01.1), as on QEMU's pc machine. */
	ret = pci_dev_init_fn(vm->pci, &s->pci, dv->id, PC_PCI_ISA_SLOT, 1,
	    0x8086, 0x7010, 0x010180, err);
	if (ret < 0)
		return ret;
	s->pci.cfg[PCI_INT_PIN] = 0;            /* legacy IRQs 14 and 15 */
	memset(&s->pci.wmask[0x40], 0xff, 16);  /* IDE timing */
	s->pci.cfg[0x41] = s->pci.cfg[0x43] = 0x80;     /* decode enabled */
	for (i = 0; ret == 0 && i < 2; i++) {
		struct chan *c = &s->ch[i];

		c->ide = s;
		c->base = base[i];
		c->ctl_port = ctl[i];
		c->irqno = irqno[i];
		if (a->disk[2 * i])
			ret = open_drive(&c->drv[0], a->disk[2 * i],
			    names[2 * i], err);
		if (ret == 0 && a->disk[2 * i + 1])
			ret = open_drive(&c->drv[1], a->disk[2 * i + 1],
			    names[2 * i + 1], err);
		if (ret < 0)
			continue;
		signature(c);
		ret = bus_map(vm->pio, c->base, 8, &cmd_ops, c, "ide", err);
		if (ret < 0)
			break;
		ret = bus_map(vm->pio, c->ctl_port, 1, &ctl_ops, c,
		    "ide-ctl", err);
		if (ret < 0)
			bus_unmap(vm->pio, c->base);
		else
			c->mapped = true;
	}
	if (ret == 0 && bmdma_init(s) < 0)
		ret = vm_err_set(err, -ENOMEM, "ide: out of memory");
	if (ret < 0)
		ide_unrealize(dv);
	return ret;
}

/* Both channels' task files and the transfer in progress; the drives
 * themselves follow from the configuration. */
static int
ide_state(struct dev *dv, struct snap_vis *v)
{
	struct piix_ide *s = dv->priv;
	char n[48];
	int i;

	pci_dev_state(&s->pci, v);
	for (i = 0; i < 2; i++) {
		struct chan *c = &s->ch[i];
		unsigned xfer = c->xfer;

#define F(f) (snprintf(n, sizeof(n), "ch%d.%s", i, f), n)
		snap_u8(v, F("feature"), &c->feature);
		snap_u8(v, F("err"), &c->err);
		snap_u8(v, F("status"), &c->status);
		snap_u8(v, F("devctl"), &c->devctl);
		snap_u8(v, F("dev"), &c->dev);
		snap_bytes(v, F("nsect"), c->nsect, 2);
		snap_bytes(v, F("lbal"), c->lbal, 2);
		snap_bytes(v, F("lbam"), c->lbam, 2);
		snap_bytes(v, F("lbah"), c->lbah, 2);
		snap_bool(v, F("irq"), &c->irq);
		snap_unsigned(v, F("xfer"), &xfer, XFER_OUT);
		c->xfer = (enum xfer)xfer;
		snap_bytes(v, F("buf"), c->buf, sizeof(c->buf));
		snap_unsigned(v, F("pos"), &c->pos, sizeof(c->buf));
		snap_u64(v, F("lba"), &c->lba);
		snap_u32(v, F("left"), &c->left);
		snap_bool(v, F("packet"), &c->packet);
		snap_bytes(v, F("pkt"), c->pkt, sizeof(c->pkt));
		snap_unsigned(v, F("buf_len"), &c->buf_len, sizeof(c->buf));
		snap_u32(v, F("xfer_left"), &c->xfer_left);
		snap_u32(v, F("chunk_left"), &c->chunk_left);
		snap_u16(v, F("limit"), &c->limit);
		snap_u8(v, F("sense_key"), &c->sense_key);
		snap_u8(v, F("asc"), &c->asc);
#undef F
	}
	return v->failed;
}

static int
ide_post_load(struct dev *dv, struct vm_err *err)
{
	struct piix_ide *s = dv->priv;

	(void)err;
	pci_dev_post_load(&s->pci);
	return 0;
}

static struct blk *
ide_disk(struct dev *dv, int n)
{
	struct piix_ide *s = dv->priv;
	int i;

	for (i = 0; i < 4; i++) {
		struct drive *d = &s->ch[i / 2].drv[i % 2];

		if (d->blk != NULL && !d->cdrom && n-- == 0)
			return d->blk;
	}
	return NULL;
}

static void
ide_set_disk(struct dev *dv, int n, struct blk *b)
{
	struct piix_ide *s = dv->priv;
	int i;

	for (i = 0; i < 4; i++) {
		struct drive *d = &s->ch[i / 2].drv[i % 2];

		if (d->blk != NULL && !d->cdrom && n-- == 0) {
			d->blk = b;
			return;
		}
	}
}

const struct dev_type piix_ide_type = {
	.name = "piix-ide",
	.desc = "PIIX3 IDE controller: ATA disks and ATAPI CD-ROMs, PIO and DMA",
	.priv_size = sizeof(struct piix_ide),
	.realize = ide_realize,
	.unrealize = ide_unrealize,
	.state = ide_state,
	.state_version = 1,
	.post_load = ide_post_load,
	.disk = ide_disk,
	.set_disk = ide_set_disk,
};
