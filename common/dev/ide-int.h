/*
 * The PIIX IDE model's insides, shared by its ATA part (piix-ide.c) and
 * its ATAPI part (atapi.c); nothing outside dev/ includes this.
 */
#ifndef VM_DEV_IDE_INT_H
#define VM_DEV_IDE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"

struct blk;
struct vm;

#define SECTOR 512
#define CD_SECTOR 2048
#define HEADS 16
#define SPT 63

/* Status and error bits. */
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define ER_UNC 0x40
/* Device control. */
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80
/* Device register. */
#define DEV_DRV 0x10
#define DEV_LBA 0x40

enum xfer { XFER_NONE, XFER_IN, XFER_OUT };
/* A DMA command waiting for (or running on) the bus master. */
enum dma_op { DMA_NONE, DMA_ATA_READ, DMA_ATA_WRITE, DMA_ATAPI };

/* Bus-master IDE registers (BAR4, 8 bytes a channel). */
#define BM_CMD_START 0x01
#define BM_CMD_TO_MEM 0x08              /* the bus master writes memory */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERR 0x02
#define BM_ST_INT 0x04
#define BM_ST_CAPABLE 0x60              /* drive 0/1 DMA capable (firmware's) */

struct drive {
	struct blk *blk;                /* NULL: no drive */
	uint64_t sectors;               /* of SECTOR (CD: CD_SECTOR) bytes */
	bool readonly;
	bool cdrom;                     /* an ATAPI CD-ROM drive */
	uint8_t mode;                   /* SET FEATURES transfer mode, 0 none */
	char name[32];
};

struct chan {
	struct piix_ide *ide;
	struct drive drv[2];
	unsigned base, ctl_port, irqno;
	uint8_t feature, err, status, devctl, dev;
	uint8_t nsect[2], lbal[2], lbam[2], lbah[2];    /* [1]: HOB */
	bool irq;
	bool mapped;                    /* its ports are on the bus */
	enum xfer xfer;
	uint8_t buf[CD_SECTOR];
	unsigned pos;
	uint64_t lba;                   /* of the sector in buf */
	uint32_t left;                  /* sectors after it */
	/* ATAPI: the packet being received, then the data going out. */
	bool packet;                    /* receiving a packet (XFER_OUT) */
	uint8_t pkt[12];
	unsigned buf_len;               /* valid bytes in buf */
	uint32_t xfer_left;             /* bytes still to send, buf's too */
	uint32_t chunk_left;            /* bytes left in this DRQ block */
	uint16_t limit;                 /* the byte count limit */
	uint8_t sense_key, asc;
	bool pkt_dma;                   /* this packet's data go by DMA */
	/* Bus master (ide-bmdma.c). */
	enum dma_op dma;
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;                /* the PRD table's address */
	uint32_t prd_next;              /* the next entry's index */
	uint64_t prd_addr;              /* the current entry's rest */
	uint32_t prd_len;
	bool prd_eot;
};

struct piix_ide {
	struct vm *vm;
	struct pci_dev pci;
	struct chan ch[2];
	uint8_t *dmabuf;                /* DMA_BUF bytes */
};

#define DMA_BUF 0x10000


/* piix-ide.c */
/* s into nwords ATA string words (two characters a word, first high). */
void ide_id_string(uint16_t *w, unsigned nwords, const char *s);
/* IDENTIFY's transfer-mode words (63, 64, 88) for drive d. */
void ide_id_modes(uint16_t *w, const struct drive *d);
void ide_irq_raise(struct chan *c);
/* The selected drive, NULL if absent. */
struct drive *ide_cur(struct chan *c);
/* End the command: status DRDY (with ERR and the error register err if
 * err is not 0) and an interrupt. */
void ide_done(struct chan *c, uint8_t err);
/* ide-bmdma.c */
/* BAR4 and the DMA buffer; 0 or -ENOMEM. */
int bmdma_init(struct piix_ide *s);
void bmdma_fini(struct piix_ide *s);
/* The drive set c->dma: start the transfer if the bus master is on. */
void bmdma_request(struct chan *c);
/* Move len bytes between buf and the memory the PRD table names (to_mem:
 * into guest memory).  0, or -EFAULT when the table ends first or names
 * memory that is not RAM. */
int bmdma_move(struct chan *c, void *buf, uint32_t len, bool to_mem);
/* atapi.c */
/* A DMA packet command's data through the bus master: 0, -EFAULT (the
 * PRD table failed) or -EIO (the image); then atapi_dma_done with it. */
int atapi_dma_xfer(struct chan *c, struct drive *d);
void atapi_dma_done(struct chan *c, int ret);
void atapi_identify(struct chan *c, struct drive *d);
/* PACKET: wait for the 12 command bytes. */
void atapi_packet(struct chan *c);
/* A data-port access during a packet command. */
uint64_t atapi_data_read(struct chan *c, struct drive *d, unsigned size);
void atapi_data_write(struct chan *c, struct drive *d, uint64_t v,
    unsigned size);
/* Set the task file to the ATAPI signature. */
void atapi_signature(struct chan *c);

#endif
