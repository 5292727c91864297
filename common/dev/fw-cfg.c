/*
 * fw_cfg: QEMU's firmware configuration interface (QEMU's
 * docs/specs/fw_cfg.rst), the way SeaBIOS learns about the machine.
 *
 * An item is a key and a byte string.  Writing a key to the selector
 * (0x510, 16 bits) selects it and rewinds; each read of the data port
 * (0x511) returns the next byte, 0 past the end or for an unknown key.
 * Named files get keys from FW_CFG_FILE_FIRST up; the directory item
 * (FW_CFG_FILE_DIR) lists them: a big-endian count, then per file a
 * big-endian size, key, reserved word and a 56-byte name.
 *
 * DMA (ID bit 1): the guest writes the guest-physical address of a
 * 16-byte control block, big-endian, to 0x514 (high half) and 0x518 (low
 * half; this write starts the transfer).  The block holds control (bits:
 * 0 error, 1 read, 2 skip, 3 select with the key in bits 16-31, 4
 * write), length and address, all big-endian.  The transfer runs before
 * the port write returns; control is then written back as 0, or with
 * the error bit when any part of it failed (a block or buffer outside
 * guest RAM, a write: every item here is read-only).  Reading 0x514
 * returns "QEMU CFG".
 */
#include "dev/fw-cfg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "hw/bus.h"
#include "mem/mem.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define DMA_CTL_ERROR 0x01u
#define DMA_CTL_READ 0x02u
#define DMA_CTL_SKIP 0x04u
#define DMA_CTL_SELECT 0x08u
#define DMA_CTL_WRITE 0x10u
#define DMA_SIGNATURE "QEMU CFG"

#define MAX_ITEMS 48
#define FILE_NAME_LEN 56

struct item {
	uint16_t key;
	uint8_t *data;
	uint32_t len;
	char name[FILE_NAME_LEN];       /* files only */
};

struct fwcfg {
	struct vm *vm;
	struct item items[MAX_ITEMS];
	int nitems, nfiles;
	uint8_t *dir;                   /* FW_CFG_FILE_DIR's bytes */
	uint16_t sel;
	uint32_t off;
	uint32_t dma_hi;
};

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static struct item *
find(struct fwcfg *f, uint16_t key)
{
	int i;

	for (i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

/* The bytes of the selected item from off on: *len of them. */
static const uint8_t *
cur(struct fwcfg *f, uint32_t *len)
{
	struct item *it = find(f, f->sel);

	if (it == NULL || f->off >= it->len) {
		*len = 0;
		return NULL;
	}
	*len = it->len - f->off;
	return it->data + f->off;
}

static int
add_item(struct fwcfg *f, uint16_t key, const void *data, size_t len,
    const char *name, struct vm_err *err)
{
	struct item *it = find(f, key);

	if (len > UINT32_MAX)
		return vm_err_set(err, -EFBIG, "fw_cfg: item 0x%x too large",
		    key);
	if (it == NULL) {
		if (f->nitems == MAX_ITEMS)
			return vm_err_set(err, -ENOSPC, "fw_cfg: too many "
			    "items");
		it = &f->items[f->nitems++];
		it->key = key;
	}
	free(it->data);
	it->data = malloc(len ? len : 1);
	if (it->data == NULL) {
		it->len = 0;
		return vm_err_set(err, -ENOMEM, "fw_cfg: out of memory");
	}
	memcpy(it->data, data, len);
	it->len = (uint32_t)len;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	return 0;
}

int
fw_cfg_add(struct dev *d, uint16_t key, const void *data, size_t len,
    struct vm_err *err)
{
	return add_item(d->priv, key, data, len, NULL, err);
}

/* Rebuild the directory item from the files. */
static int
update_dir(struct fwcfg *f, struct vm_err *err)
{
	size_t len = 4 + (size_t)f->nfiles * 64;
	uint8_t *dir = calloc(1, len);
	int i, n = 0, ret;

	if (dir == NULL)
		return vm_err_set(err, -ENOMEM, "fw_cfg: out of memory");
	put_be32(dir, (uint32_t)f->nfiles);
	for (i = 0; i < f->nitems; i++) {
		const struct item *it = &f->items[i];
		uint8_t *e = dir + 4 + 64 * n;

		if (it->key < FW_CFG_FILE_FIRST || it->name[0] == '\0')
			continue;
		put_be32(e, it->len);
		put_be16(e + 4, it->key);
		memcpy(e + 8, it->name, strlen(it->name));
		n++;
	}
	ret = add_item(f, FW_CFG_FILE_DIR, dir, len, NULL, err);
	free(dir);
	return ret;
}

int
fw_cfg_add_file(struct dev *d, const char *name, const void *data,
    size_t len, struct vm_err *err)
{
	struct fwcfg *f = d->priv;
	int i, ret;

	if (strlen(name) >= FILE_NAME_LEN)
		return vm_err_set(err, -ENAMETOOLONG, "fw_cfg: file name "
		    "'%s' too long", name);
	for (i = 0; i < f->nitems; i++)
		if (strcmp(f->items[i].name, name) == 0)
			return vm_err_set(err, -EEXIST, "fw_cfg: file '%s' "
			    "added twice", name);
	if (f->nfiles == FW_CFG_MAX_FILES)
		return vm_err_set(err, -ENOSPC, "fw_cfg: too many files");
	ret = add_item(f, (uint16_t)(FW_CFG_FILE_FIRST + f->nfiles), data,
	    len, name, err);
	if (ret < 0)
		return ret;
	f->nfiles++;
	return update_dir(f, err);
}

/* ---- the ports ---------------------------------------------------------- */

static uint64_t
port_read(void *opaque, uint64_t off, unsigned size)
{
	struct fwcfg *f = opaque;
	const uint8_t *p;
	uint32_t len;

	if (off != 1 || size != 1)
		return off == 0 ? f->sel : ~0ULL;
	p = cur(f, &len);
	if (p == NULL)
		return 0;
	f->off++;
	return *p;
}

static void
port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct fwcfg *f = opaque;

	if (off == 0 && size == 2) {
		f->sel = (uint16_t)val;
		f->off = 0;
	}
}

/* Run the DMA transfer whose control block is at gpa; returns the
 * control word to write back. */
static uint32_t
dma_run(struct fwcfg *f, uint64_t gpa)
{
	struct mem_map *m = &f->vm->mem;
	uint8_t blk[16];
	uint32_t ctl, len, avail, n;
	uint64_t addr;
	const uint8_t *p;

	if (mem_read(m, gpa, blk, sizeof(blk)) < 0)
		return DMA_CTL_ERROR;
	ctl = get_be32(blk);
	len = get_be32(blk + 4);
	addr = (uint64_t)get_be32(blk + 8) << 32 | get_be32(blk + 12);
	if (ctl & DMA_CTL_SELECT) {
		f->sel = (uint16_t)(ctl >> 16);
		f->off = 0;
	}
	if (ctl & DMA_CTL_WRITE)
		return DMA_CTL_ERROR;
	if (!(ctl & (DMA_CTL_READ | DMA_CTL_SKIP)))
		return 0;
	p = cur(f, &avail);
	n = len < avail ? len : avail;
	if (ctl & DMA_CTL_READ) {
		static const uint8_t zero[256];
		uint32_t done = n;

		if (n && mem_write(m, addr, p, n) < 0)
			return DMA_CTL_ERROR;
		/* Past the end of the item: zeros, as QEMU gives. */
		while (done < len) {
			uint32_t k = len - done < sizeof(zero) ? len - done :
			    (uint32_t)sizeof(zero);

			if (mem_write(m, addr + done, zero, k) < 0)
				return DMA_CTL_ERROR;
			done += k;
		}
	}
	f->off += n;
	return 0;
}

static uint64_t
dma_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	(void)opaque;
	if (off + size > 8)
		return ~0ULL;
	memcpy(&v, DMA_SIGNATURE + off, size);
	return v;
}

static void
dma_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct fwcfg *f = opaque;
	uint8_t ctl[4];
	uint64_t gpa;

	/* The guest stored the address big-endian: swap the port value. */
	if (size != 4 || (off != 0 && off != 4))
		return;
	val = __builtin_bswap32((uint32_t)val);
	if (off == 0) {
		f->dma_hi = (uint32_t)val;
		return;
	}
	gpa = (uint64_t)f->dma_hi << 32 | (uint32_t)val;
	f->dma_hi = 0;
	put_be32(ctl, dma_run(f, gpa));
	if (mem_write(&f->vm->mem, gpa, ctl, sizeof(ctl)) < 0)
		log_debug(LOG_DEV, "fw_cfg: DMA block at 0x%llx is not in "
		    "RAM", (unsigned long long)gpa);
}

static const struct io_ops port_ops = { port_read, port_write };
static const struct io_ops dma_ops = { dma_read, dma_write };

static int
fwcfg_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct fwcfg *f = d->priv;
	uint32_t id = 3;                /* traditional interface and DMA */
	int ret;

	(void)arg;
	f->vm = vm;
	ret = add_item(f, FW_CFG_SIGNATURE, "QEMU", 4, NULL, err);
	if (ret == 0)
		ret = add_item(f, FW_CFG_ID, &id, 4, NULL, err);
	if (ret == 0)
		ret = update_dir(f, err);
	if (ret == 0)
		ret = bus_map(vm->pio, FW_CFG_PORT, 2, &port_ops, f, "fw_cfg",
		    err);
	if (ret == 0)
		ret = bus_map(vm->pio, FW_CFG_PORT_DMA, 8, &dma_ops, f,
		    "fw_cfg-dma", err);
	return ret;
}

static void
fwcfg_unrealize(struct dev *d)
{
	struct fwcfg *f = d->priv;
	int i;

	bus_unmap(f->vm->pio, FW_CFG_PORT);
	bus_unmap(f->vm->pio, FW_CFG_PORT_DMA);
	for (i = 0; i < f->nitems; i++)
		free(f->items[i].data);
}

/* The items follow from the configuration; the guest's cursor into them
 * is the state (checked at every access, as it is after a guest write). */
static int
fwcfg_state(struct dev *d, struct snap_vis *v)
{
	struct fwcfg *f = d->priv;

	snap_u16(v, "sel", &f->sel);
	snap_u32(v, "off", &f->off);
	snap_u32(v, "dma_hi", &f->dma_hi);
	return v->failed;
}

const struct dev_type fw_cfg_type = {
	.name = "fw-cfg",
	.desc = "QEMU firmware configuration interface",
	.priv_size = sizeof(struct fwcfg),
	.realize = fwcfg_realize,
	.unrealize = fwcfg_unrealize,
	.state = fwcfg_state,
	.state_version = 1,
};
