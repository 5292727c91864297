/*
 * Bus-master IDE DMA of the PIIX IDE function (Intel 82371SB PIIX3
 * datasheet, section 2.7 "Bus Master IDE registers", and the SFF-8038i
 * Bus Master Programming Interface): BAR4 is 16 bytes of I/O, 8 a
 * channel, each a command register (+0: start/stop, direction), a status
 * register (+2: active, error and interrupt, the last two cleared by
 * writing 1; the firmware's two "drive DMA capable" bits) and the
 * physical address of the channel's PRD table (+4, dword aligned).
 *
 * A PRD table entry is 8 bytes: a 32-bit memory address (bit 0 zero), a
 * 16-bit byte count (bit 0 zero; 0 stands for 64 KiB) and a word whose
 * bit 15 marks the last entry.  A DMA command (READ/WRITE DMA and their
 * EXT forms, an ATAPI PACKET with the DMA feature bit) waits until the
 * bus master is started, in either order, then runs at once: every byte
 * moves through mem_read/mem_write, so an entry naming memory that is
 * not RAM, a table that is not in RAM, or a table that ends (its last
 * entry, or the 8192 entries of the 64 KiB the datasheet lets it span)
 * before the command's data is all moved ends the command with the
 * status register's error bit, an aborted command on the drive, and the
 * interrupt.  The bus master writes memory only for a read (the
 * direction bit must agree with the command), and only when the PCI
 * command register allows bus mastering.
 */
#include "dev/ide-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "hw/bus.h"
#include "hw/pci.h"
#include "mem/mem.h"
#include "util/log.h"
#include "vm/vm.h"

#define PRD_EOT 0x8000
#define PRD_MAX 8192                    /* 64 KiB of 8-byte entries */

/* Load the next PRD entry; -EFAULT past the end or out of RAM. */
static int
prd_load(struct chan *c)
{
	uint8_t e[8];
	uint32_t n;

	if (c->prd_eot || c->prd_next >= PRD_MAX)
		return -EFAULT;
	if (mem_read(&c->ide->vm->mem, (uint64_t)c->bm_prd + 8ULL *
	    c->prd_next, e, sizeof(e)) < 0)
		return -EFAULT;
	c->prd_next++;
	c->prd_addr = (uint32_t)(e[0] | e[1] << 8 | e[2] << 16 |
	    (uint32_t)e[3] << 24) & ~1u;
	n = (uint32_t)(e[4] | e[5] << 8) & ~1u;
	c->prd_len = n ? n : 0x10000;
	c->prd_eot = e[7] & (PRD_EOT >> 8);
	return 0;
}

int
bmdma_move(struct chan *c, void *buf, uint32_t len, bool to_mem)
{
	struct mem_map *m = &c->ide->vm->mem;
	uint8_t *p = buf;

	while (len) {
		uint32_t n;
		int ret;

		if (c->prd_len == 0 && prd_load(c) < 0)
			return -EFAULT;
		n = len < c->prd_len ? len : c->prd_len;
		ret = to_mem ? mem_write(m, c->prd_addr, p, n) :
		    mem_read(m, c->prd_addr, p, n);
		if (ret < 0)
			return -EFAULT;
		c->prd_addr += n;
		c->prd_len -= n;
		p += n;
		len -= n;
	}
	return 0;
}

/* An ATA READ/WRITE DMA (EXT): c->lba and c->left + 1 sectors. */
static int
ata_xfer(struct chan *c, struct drive *d, bool write)
{
	uint64_t left = (uint64_t)c->left + 1;
	uint8_t *buf = c->ide->dmabuf;

	while (left) {
		uint32_t n = left < DMA_BUF / SECTOR ? (uint32_t)left :
		    DMA_BUF / SECTOR;
		uint32_t bytes = n * SECTOR;
		uint64_t off = c->lba * SECTOR;

		if (write) {
			if (bmdma_move(c, buf, bytes, false) < 0)
				return -EFAULT;
			if (blk_pwrite(d->blk, buf, bytes, off) < 0)
				return -EIO;
		} else {
			if (blk_pread(d->blk, buf, bytes, off) < 0)
				return -EIO;
			if (bmdma_move(c, buf, bytes, true) < 0)
				return -EFAULT;
		}
		c->lba += n;
		left -= n;
	}
	return 0;
}

/* The command and the started bus master are both there: transfer. */
static void
run(struct chan *c)
{
	struct drive *d = ide_cur(c);
	enum dma_op op = c->dma;
	bool to_mem = op != DMA_ATA_WRITE;
	int ret;

	c->dma = DMA_NONE;
	c->prd_next = 0;
	c->prd_len = 0;
	c->prd_eot = false;
	if (d == NULL)
		ret = -EFAULT;
	else if (!pci_master(&c->ide->pci) ||
	    !(c->bm_cmd & BM_CMD_TO_MEM) != !to_mem)
		ret = -EFAULT;
	else if (op == DMA_ATAPI)
		ret = atapi_dma_xfer(c, d);
	else
		ret = ata_xfer(c, d, op == DMA_ATA_WRITE);
	if (ret == -EFAULT)
		log_debug(LOG_DEV, "ide: DMA at PRD table 0x%x entry %u failed",
		    c->bm_prd, c->prd_next);
	else if (ret < 0 && d != NULL)
		log_debug(LOG_DEV, "%s: DMA I/O at sector %llu failed",
		    d->name, (unsigned long long)c->lba);
	c->bm_status = (uint8_t)((c->bm_status & ~BM_ST_ACTIVE) | BM_ST_INT |
	    (ret == -EFAULT ? BM_ST_ERR : 0));
	if (op == DMA_ATAPI)
		atapi_dma_done(c, ret);
	else
		ide_done(c, ret == 0 ? 0 : ret == -EIO ? ER_UNC | ER_ABRT :
		    ER_ABRT);
}

void
bmdma_request(struct chan *c)
{
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	if (c->bm_cmd & BM_CMD_START)
		run(c);
}

static uint8_t
reg_read(struct chan *c, unsigned r)
{
	switch (r) {
	case 0: return c->bm_cmd;
	case 2: return c->bm_status;
	case 4: case 5: case 6: case 7:
		return (uint8_t)(c->bm_prd >> (8 * (r - 4)));
	default: return 0;
	}
}

static void
reg_write(struct chan *c, unsigned r, uint8_t v)
{
	switch (r) {
	case 0: {
		uint8_t old = c->bm_cmd;

		c->bm_cmd = v & (BM_CMD_START | BM_CMD_TO_MEM);
		if (!(v & BM_CMD_START)) {
			c->bm_status &= (uint8_t)~BM_ST_ACTIVE;
		} else if (!(old & BM_CMD_START)) {
			c->bm_status |= BM_ST_ACTIVE;
			if (c->dma != DMA_NONE)
				run(c);
		}
		break;
	}
	case 2:
		c->bm_status = (uint8_t)((c->bm_status & ~(v & (BM_ST_ERR |
		    BM_ST_INT)) & ~BM_ST_CAPABLE) | (v & BM_ST_CAPABLE));
		break;
	case 4: case 5: case 6: case 7: {
		unsigned sh = 8 * (r - 4);

		c->bm_prd = (c->bm_prd & ~(0xffu << sh)) | (uint32_t)v << sh;
		c->bm_prd &= ~3u;
		break;
	}
	default:
		break;
	}
}

static uint64_t
bm_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_ide *s = opaque;
	uint64_t v = 0;
	unsigned k;

	for (k = 0; k < size && off + k < 16; k++)
		v |= (uint64_t)reg_read(&s->ch[(off + k) / 8],
		    (unsigned)(off + k) % 8) << (8 * k);
	return v;
}

static void
bm_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct piix_ide *s = opaque;
	unsigned k;

	for (k = 0; k < size && off + k < 16; k++)
		reg_write(&s->ch[(off + k) / 8], (unsigned)(off + k) % 8,
		    (uint8_t)(val >> (8 * k)));
}

static const struct io_ops bm_ops = { bm_read, bm_write };

int
bmdma_init(struct piix_ide *s)
{
	int i, k;

	s->dmabuf = malloc(DMA_BUF);
	if (s->dmabuf == NULL)
		return -ENOMEM;
	pci_bar_init(&s->pci, 4, PCI_BAR_IO, 16, &bm_ops, s);
	/* What firmware would say: which drives can do DMA. */
	for (i = 0; i < 2; i++)
		for (k = 0; k < 2; k++)
			if (s->ch[i].drv[k].blk)
				s->ch[i].bm_status |= (uint8_t)(0x20 << k);
	return 0;
}

void
bmdma_fini(struct piix_ide *s)
{
	free(s->dmabuf);
	s->dmabuf = NULL;
}
