/*
 * ATAPI CD-ROM drives on the PIIX IDE channels: the PACKET protocol
 * (ATA/ATAPI-7 vol. 2, PIO data-in) and the MMC commands that SeaBIOS,
 * isolinux (through the BIOS) and Linux's sr driver send.
 *
 * After PACKET the drive asks for the 12 command bytes (interrupt reason
 * CoD); the command then runs.  Data for the host goes out in DRQ
 * blocks of at most the byte count limit the host wrote to the
 * cylinder registers, each announced by an interrupt with the block's
 * size in those registers and reason IO; the end is reason IO|CoD with
 * status DRDY, or ERR with the sense key in the error register (a CHECK
 * CONDITION; REQUEST SENSE then returns the sense data).  READ(10) and
 * READ(12) read 2048-byte sectors of the image through the block layer,
 * one sector at a time; the disc is a single data track (READ TOC) that
 * is always there.  A packet whose features register has the DMA bit
 * moves its data through the bus master instead (ide-bmdma.c): the
 * whole transfer at once, then the same ending.  Commands (MMC-5 and SPC-3): TEST UNIT READY,
 * REQUEST SENSE, INQUIRY, READ CAPACITY, READ(10), READ(12), READ TOC
 * (formats 0 and 1, LBA or MSF), MODE SENSE(6/10) (pages 01h, 2Ah, 3Fh),
 * GET CONFIGURATION (the current profile), GET EVENT STATUS
 * NOTIFICATION (polled, media class), and START STOP UNIT, PREVENT
 * ALLOW MEDIUM REMOVAL, SEEK and SET CD SPEED, which succeed.  Every
 * other opcode and any out-of-range field is ILLEGAL REQUEST.
 */
#include "dev/ide-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"

#define SK_NONE 0x00
#define SK_MEDIUM_ERROR 0x03
#define SK_ILLEGAL_REQUEST 0x05
#define SK_ABORTED_COMMAND 0x0b
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_READ_ERROR 0x11

/* Interrupt reason (the sector count register). */
#define IR_COD 0x01
#define IR_IO 0x02

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v & 0xffff);
}

void
atapi_signature(struct chan *c)
{
	c->nsect[0] = 1;
	c->lbal[0] = 1;
	c->lbam[0] = 0x14;
	c->lbah[0] = 0xeb;
}

void
atapi_identify(struct chan *c, struct drive *d)
{
	uint16_t w[256] = { 0 };
	char serial[48];

	snprintf(serial, sizeof(serial), "VMKIT%s", d->name);
	w[0] = 0x85c0;          /* ATAPI, CD-ROM, removable, 12-byte packets */
	ide_id_string(&w[10], 10, serial);
	ide_id_string(&w[23], 4, "1.0");
	ide_id_string(&w[27], 20, "VMKIT CD-ROM");
	w[49] = 0x0300;                         /* LBA, DMA */
	w[53] = 0x0007;
	ide_id_modes(w, d);
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x00f0;
	w[82] = 0x0010;                         /* PACKET feature set */
	w[83] = 0x4000;
	w[84] = 0x4000;
	w[85] = 0x0010;
	w[87] = 0x4000;
	memcpy(c->buf, w, sizeof(w));
	c->pos = 0;
	c->left = 0;
	c->packet = false;
	c->xfer_left = c->chunk_left = 0;
	c->xfer = XFER_IN;
	c->err = 0;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_irq_raise(c);
}

void
atapi_packet(struct chan *c)
{
	c->limit = (uint16_t)(c->lbam[0] | c->lbah[0] << 8);
	c->pkt_dma = c->feature & 0x01;
	c->packet = true;
	c->pos = 0;
	c->xfer = XFER_OUT;
	c->nsect[0] = IR_COD;
	c->err = 0;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
}

/* The command is over: good, or CHECK CONDITION with this sense. */
static void
finish(struct chan *c, uint8_t key, uint8_t asc)
{
	c->sense_key = key;
	c->asc = asc;
	c->xfer = XFER_NONE;
	c->xfer_left = c->chunk_left = 0;
	c->nsect[0] = IR_IO | IR_COD;
	c->err = (uint8_t)(key << 4);
	c->status = ST_DRDY | ST_DSC | (key ? ST_ERR : 0);
	ide_irq_raise(c);
}

/* Offer the next DRQ block, refilling buf from the image for a read. */
static void
next_chunk(struct chan *c, struct drive *d)
{
	uint32_t n, limit = c->limit;

	if (c->xfer_left == 0) {
		finish(c, SK_NONE, 0);
		return;
	}
	if (c->pos >= c->buf_len) {
		if (blk_pread(d->blk, c->buf, CD_SECTOR, c->lba * CD_SECTOR) <
		    0) {
			log_debug(LOG_DEV, "%s: read of sector %llu failed",
			    d->name, (unsigned long long)c->lba);
			finish(c, SK_MEDIUM_ERROR, ASC_READ_ERROR);
			return;
		}
		c->lba++;
		c->pos = 0;
		c->buf_len = CD_SECTOR;
	}
	if (limit == 0 || limit == 0xffff)
		limit = 0xfffe;
	limit &= ~1u;
	if (limit == 0)
		limit = 2;
	n = c->buf_len - c->pos;
	if (n > c->xfer_left)
		n = c->xfer_left;
	if (n > limit)
		n = limit;
	c->chunk_left = n;
	c->lbam[0] = (uint8_t)n;
	c->lbah[0] = (uint8_t)(n >> 8);
	c->nsect[0] = IR_IO;
	c->xfer = XFER_IN;
	c->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_irq_raise(c);
}

/* The data phase: PIO blocks, or the bus master for a DMA packet. */
static void
start_data(struct chan *c, struct drive *d)
{
	if (!c->pkt_dma || c->xfer_left == 0) {
		next_chunk(c, d);
		return;
	}
	c->dma = DMA_ATAPI;
	bmdma_request(c);
}

int
atapi_dma_xfer(struct chan *c, struct drive *d)
{
	while (c->xfer_left) {
		uint32_t n;

		if (c->pos >= c->buf_len) {
			if (blk_pread(d->blk, c->buf, CD_SECTOR,
			    c->lba * CD_SECTOR) < 0)
				return -EIO;
			c->lba++;
			c->pos = 0;
			c->buf_len = CD_SECTOR;
		}
		n = c->buf_len - c->pos;
		if (n > c->xfer_left)
			n = c->xfer_left;
		if (bmdma_move(c, c->buf + c->pos, n, true) < 0)
			return -EFAULT;
		c->pos += n;
		c->xfer_left -= n;
	}
	return 0;
}

void
atapi_dma_done(struct chan *c, int ret)
{
	if (ret == -EIO)
		finish(c, SK_MEDIUM_ERROR, ASC_READ_ERROR);
	else if (ret < 0)
		finish(c, SK_ABORTED_COMMAND, 0);
	else
		finish(c, SK_NONE, 0);
}

/* Answer with len bytes of data (at most alloc go out). */
static void
reply(struct chan *c, struct drive *d, const void *data, uint32_t len,
    uint32_t alloc)
{
	if (len > alloc)
		len = alloc;
	if (len > sizeof(c->buf))
		len = sizeof(c->buf);
	memcpy(c->buf, data, len);
	c->pos = 0;
	c->buf_len = len;
	c->xfer_left = len;
	start_data(c, d);
}

static void
read_cmd(struct chan *c, struct drive *d, uint64_t lba, uint32_t count)
{
	if (lba > d->sectors || count > d->sectors - lba) {
		finish(c, SK_ILLEGAL_REQUEST, ASC_LBA_RANGE);
		return;
	}
	if ((uint64_t)count * CD_SECTOR > UINT32_MAX) {
		finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	c->lba = lba;
	c->pos = c->buf_len = 0;
	c->xfer_left = count * CD_SECTOR;
	start_data(c, d);
}

/* LBA to MSF (the 150-sector pregap of track 1) at p: 0, M, S, F. */
static void
put_addr(uint8_t *p, uint32_t lba, bool msf)
{
	if (!msf) {
		put_be32(p, lba);
		return;
	}
	lba += 150;
	p[0] = 0;
	p[1] = (uint8_t)(lba / (60 * 75));
	p[2] = (uint8_t)(lba / 75 % 60);
	p[3] = (uint8_t)(lba % 75);
}

static void
read_toc(struct chan *c, struct drive *d, const uint8_t *p)
{
	uint8_t r[20] = { 0 };
	bool msf = p[1] & 0x02;
	unsigned fmt = p[2] & 0x0f;
	uint32_t end = d->sectors > UINT32_MAX - 150 ? UINT32_MAX - 150 :
	    (uint32_t)d->sectors;

	if (fmt == 0 && (p[6] == 0 || p[6] == 1 || p[6] == 0xaa)) {
		unsigned n = 4;

		r[2] = r[3] = 1;
		if (p[6] <= 1) {
			r[n + 1] = 0x14;        /* ADR 1, data track */
			r[n + 2] = 1;
			put_addr(r + n + 4, 0, msf);
			n += 8;
		}
		r[n + 1] = 0x14;
		r[n + 2] = 0xaa;                /* lead-out */
		put_addr(r + n + 4, end, msf);
		n += 8;
		put_be16(r, n - 2);
		reply(c, d, r, n, be16(p + 7));
	} else if (fmt == 1) {
		put_be16(r, 10);
		r[2] = r[3] = 1;
		r[5] = 0x14;
		r[6] = 1;
		put_addr(r + 8, 0, msf);
		reply(c, d, r, 12, be16(p + 7));
	} else {
		finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	}
}

/* MODE SENSE(6) (hdr 4) or (10) (hdr 8). */
static void
mode_sense(struct chan *c, struct drive *d, const uint8_t *p, bool ten)
{
	uint8_t r[64] = { 0 };
	unsigned page = p[2] & 0x3f, h = ten ? 8 : 4, n = h;
	uint32_t alloc = ten ? be16(p + 7) : p[4];

	if (page == 0x01 || page == 0x3f) {
		r[n] = 0x01;                    /* read error recovery */
		r[n + 1] = 0x0a;
		n += 12;
	}
	if (page == 0x2a || page == 0x3f) {
		r[n] = 0x2a;                    /* capabilities */
		r[n + 1] = 0x12;
		r[n + 2] = 0x03;                /* reads CD-R, CD-RW */
		r[n + 6] = 0x29;                /* lock, eject, tray */
		put_be16(r + n + 8, 706);       /* 4x, in kB/s */
		put_be16(r + n + 10, 255);      /* volume levels */
		put_be16(r + n + 12, 2048);     /* buffer, KiB */
		put_be16(r + n + 14, 706);
		n += 20;
	}
	if (n == h) {
		finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	if (ten) {
		put_be16(r, n - 2);
		r[2] = 0x70;                    /* medium: 120 mm data */
	} else {
		r[0] = (uint8_t)(n - 1);
		r[1] = 0x70;
	}
	reply(c, d, r, n, alloc);
}

static void
execute(struct chan *c, struct drive *d)
{
	const uint8_t *p = c->pkt;
	uint8_t r[40] = { 0 };

	switch (p[0]) {
	case 0x00:                      /* TEST UNIT READY */
	case 0x1b:                      /* START STOP UNIT */
	case 0x1e:                      /* PREVENT ALLOW MEDIUM REMOVAL */
	case 0x2b:                      /* SEEK(10) */
	case 0xbb:                      /* SET CD SPEED */
		finish(c, SK_NONE, 0);
		return;
	case 0x03:                      /* REQUEST SENSE */
		r[0] = 0x70;
		r[2] = c->sense_key;
		r[7] = 10;
		r[12] = c->asc;
		c->sense_key = c->asc = 0;
		reply(c, d, r, 18, p[4]);
		return;
	case 0x12:                      /* INQUIRY */
		if (p[1] & 0x01) {      /* vital product data pages: none */
			finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		r[0] = 0x05;                    /* CD/DVD */
		r[1] = 0x80;                    /* removable */
		r[2] = 0x05;
		r[3] = 0x32;
		r[4] = 31;
		memcpy(r + 8, "VMKIT   ", 8);
		memcpy(r + 16, "VMKIT CD-ROM    ", 16);
		memcpy(r + 32, "1.0 ", 4);
		reply(c, d, r, 36, be16(p + 3));
		return;
	case 0x25:                      /* READ CAPACITY */
		put_be32(r, d->sectors ? (uint32_t)(d->sectors - 1) : 0);
		put_be32(r + 4, CD_SECTOR);
		reply(c, d, r, 8, 8);
		return;
	case 0x28:                      /* READ(10) */
		read_cmd(c, d, be32(p + 2), be16(p + 7));
		return;
	case 0xa8:                      /* READ(12) */
		read_cmd(c, d, be32(p + 2), be32(p + 6));
		return;
	case 0x43:
		read_toc(c, d, p);
		return;
	case 0x1a:
		mode_sense(c, d, p, false);
		return;
	case 0x5a:
		mode_sense(c, d, p, true);
		return;
	case 0x46:                      /* GET CONFIGURATION */
		put_be32(r, 4);
		put_be16(r + 6, 0x0008);        /* current profile: CD-ROM */
		reply(c, d, r, 8, be16(p + 7));
		return;
	case 0x4a:                      /* GET EVENT STATUS NOTIFICATION */
		if (!(p[1] & 0x01)) {
			finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		put_be16(r, 6);
		r[2] = 0x04;                    /* media class */
		r[3] = 0x10;                    /* supported: media */
		r[5] = 0x02;                    /* media present */
		reply(c, d, r, 8, be16(p + 7));
		return;
	default:
		log_debug(LOG_DEV, "%s: MMC command 0x%02x refused", d->name,
		    p[0]);
		finish(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
	}
}

uint64_t
atapi_data_read(struct chan *c, struct drive *d, unsigned size)
{
	uint64_t v = 0;

	/* IDENTIFY PACKET DEVICE's 512 bytes, like an ATA IDENTIFY. */
	if (c->xfer == XFER_IN && c->xfer_left == 0 && !c->packet) {
		if (c->pos + size > SECTOR)
			return 0;
		memcpy(&v, c->buf + c->pos, size);
		c->pos += size;
		if (c->pos == SECTOR) {
			c->xfer = XFER_NONE;
			c->status = ST_DRDY | ST_DSC;
		}
		return v;
	}
	if (c->xfer != XFER_IN || size > c->chunk_left ||
	    c->pos + size > c->buf_len)
		return 0;
	memcpy(&v, c->buf + c->pos, size);
	c->pos += size;
	c->chunk_left -= size;
	c->xfer_left -= size;
	if (c->chunk_left == 0)
		next_chunk(c, d);
	return v;
}

void
atapi_data_write(struct chan *c, struct drive *d, uint64_t v,
    unsigned size)
{
	if (!c->packet || c->xfer != XFER_OUT || c->pos + size > 12)
		return;
	memcpy(c->pkt + c->pos, &v, size);
	c->pos += size;
	if (c->pos < 12)
		return;
	c->packet = false;
	c->pos = 0;
	c->status = ST_DRDY | ST_DSC | ST_BSY;
	execute(c, d);
}
