/*
 * Virtio PCI transport and split virtqueues (virtio.h).
 *
 * BAR 4 (64-bit memory, 16 KiB) holds the four structures the vendor
 * capabilities point at: common configuration at 0x0000, ISR status at
 * 0x1000, device configuration at 0x2000, notifications at 0x3000 (queue
 * q at 4*q).  BAR 1 holds the MSI-X table and PBA (pci.c).
 *
 * Guest memory is read through host pointers checked once per access
 * against the RAM map (mem_gpa_to_hva with the exact length); ring indexes
 * the driver writes are loaded once and used from the local copy, and
 * every descriptor is copied before it is checked, so a driver changing
 * them under the device's feet cannot make it step outside guest RAM.
 */
#include "dev/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dev/dev.h"
#include "mem/mem.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define BAR_VIRTIO 4
#define BAR_MSIX 1
#define OFF_COMMON 0x0000
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define NOTIFY_MULT 4

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI 5

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4
#define AVAIL_F_NO_INTERRUPT 1
#define NO_VECTOR 0xffff

/* ---- iovec helpers ------------------------------------------------------ */

static size_t
iov_copy(const struct iovec *iov, unsigned n, size_t skip, void *buf,
    size_t len, bool to_buf)
{
	size_t done = 0;
	unsigned k;

	for (k = 0; k < n && done < len; k++) {
		size_t l = iov[k].iov_len, c;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p = (uint8_t *)iov[k].iov_base + skip;
		c = l - skip < len - done ? l - skip : len - done;
		if (to_buf)
			memcpy((uint8_t *)buf + done, p, c);
		else
			memcpy(p, (uint8_t *)buf + done, c);
		done += c;
		skip = 0;
	}
	return done;
}

size_t
iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf,
    size_t len)
{
	return iov_copy(iov, n, skip, buf, len, true);
}

size_t
iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
    const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (void *)buf, len, false);
}

unsigned
iov_slice(const struct iovec *src, unsigned n, size_t skip, size_t len,
    struct iovec *dst, unsigned max, size_t *got)
{
	unsigned k, m = 0;
	size_t done = 0;

	for (k = 0; k < n && done < len && m < max; k++) {
		size_t l = src[k].iov_len, c;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = l - skip < len - done ? l - skip : len - done;
		dst[m].iov_base = (uint8_t *)src[k].iov_base + skip;
		dst[m].iov_len = c;
		m++;
		done += c;
		skip = 0;
	}
	*got = done;
	return m;
}

/* ---- rings --------------------------------------------------------------- */

static uint16_t
ld16(volatile const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, (const void *)p, 2);
	return v;
}

static void
mark_broken(struct virtio_dev *v, struct virtq *q, const char *why)
{
	if (!q->broken)
		log_warnx("%s: queue %u: %s; the device needs a reset",
		    v->pci.name, (unsigned)(q - v->vq), why);
	q->broken = true;
	v->status |= VIRTIO_S_NEEDS_RESET;
	virtio_config_changed(v);
}

/* Map [gpa, gpa+len) of guest RAM; NULL if any of it is not RAM. */
static void *
guest_ptr(struct virtio_dev *v, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len < gpa)
		return NULL;
	return mem_gpa_to_hva(&v->vm->mem, gpa, len);
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void
load_desc(volatile const uint8_t *table, unsigned i, struct desc *d)
{
	memcpy(d, (const void *)(table + 16 * (size_t)i), sizeof(*d));
}

/* Add one buffer to e; false if it is not guest RAM or e is full. */
static bool
add_buf(struct virtio_dev *v, struct virtq_elem *e, const struct desc *d)
{
	void *p;

	if (d->len == 0)
		return true;
	if (e->nin + e->nout >= VIRTQ_MAX_SEG)
		return false;
	p = guest_ptr(v, d->addr, d->len);
	if (p == NULL)
		return false;
	if (d->flags & DESC_F_WRITE) {
		e->in[e->nin].iov_base = p;
		e->in[e->nin].iov_len = d->len;
		e->in_gpa[e->nin] = d->addr;
		e->in_len += d->len;
		e->nin++;
	} else {
		/* Readable buffers come before writable ones. */
		if (e->nin > 0)
			return false;
		e->out[e->nout].iov_base = p;
		e->out[e->nout].iov_len = d->len;
		e->nout++;
	}
	return true;
}

int
virtq_pop(struct virtio_dev *v, unsigned qi, struct virtq_elem *e)
{
	struct virtq *q;
	uint16_t avail_idx, head;
	struct desc d;
	unsigned i, seen = 0;
	volatile const uint8_t *table;
	unsigned tsize;

	if (qi >= v->nq)
		return -1;
	q = &v->vq[qi];
	if (!q->enabled || q->broken ||
	    !(v->status & VIRTIO_S_DRIVER_OK))
		return q->broken ? -1 : 0;
	avail_idx = __atomic_load_n((volatile uint16_t *)(q->avail_p + 2),
	    __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
		mark_broken(v, q, "available index moved too far");
		return -1;
	}
	head = ld16(q->avail_p + 4 + 2 * (q->last_avail % q->size));
	if (head >= q->size) {
		mark_broken(v, q, "descriptor index out of range");
		return -1;
	}
	q->last_avail++;
	e->head = head;
	e->nin = e->nout = 0;
	e->in_len = 0;
	table = q->desc_p;
	tsize = q->size;
	i = head;
	for (;;) {
		load_desc(table, i, &d);
		if (++seen > VIRTQ_MAX_SEG) {
			mark_broken(v, q, "descriptor chain too long or "
			    "looping");
			return -1;
		}
		if (d.flags & DESC_F_INDIRECT) {
			/* Only in the main table, alone, a whole number of
			 * descriptors (2.7.5.3.1). */
			if (table != q->desc_p || (d.flags & DESC_F_NEXT) ||
			    !(v->driver_features & VIRTIO_F_INDIRECT_DESC) ||
			    d.len == 0 || d.len % 16 ||
			    d.len / 16 > VIRTQ_MAX_SEG) {
				mark_broken(v, q, "bad indirect descriptor");
				return -1;
			}
			table = guest_ptr(v, d.addr, d.len);
			if (table == NULL) {
				mark_broken(v, q, "indirect table outside "
				    "RAM");
				return -1;
			}
			tsize = d.len / 16;
			i = 0;
			seen = 0;
			continue;
		}
		if (!add_buf(v, e, &d)) {
			mark_broken(v, q, "buffer outside guest RAM or "
			    "misordered");
			return -1;
		}
		if (!(d.flags & DESC_F_NEXT))
			break;
		if (d.next >= tsize) {
			mark_broken(v, q, "next descriptor out of range");
			return -1;
		}
		i = d.next;
	}
	return 1;
}

void
virtq_push(struct virtio_dev *v, unsigned qi, const struct virtq_elem *e,
    uint32_t len)
{
	struct virtq *q = &v->vq[qi];
	volatile uint8_t *slot;
	uint32_t id = e->head;
	uint64_t left = len;
	unsigned k;

	if (qi >= v->nq || !q->enabled || q->broken)
		return;
	/* What the device wrote may be code the DBT translated. */
	for (k = 0; k < e->nin && left > 0; k++) {
		uint64_t l = e->in[k].iov_len < left ? e->in[k].iov_len : left;

		mem_notify_write(&v->vm->mem, e->in_gpa[k], l);
		left -= l;
	}
	slot = q->used_p + 4 + 8 * (size_t)(q->used_idx % q->size);
	memcpy((void *)slot, &id, 4);
	memcpy((void *)(slot + 4), &len, 4);
	q->used_idx++;
	__atomic_store_n((volatile uint16_t *)(q->used_p + 2), q->used_idx,
	    __ATOMIC_RELEASE);
	mem_notify_write(&v->vm->mem, q->used, 6 + 8ULL * q->size);
}

static void
interrupt(struct virtio_dev *v, uint16_t vector, uint8_t isr_bit)
{
	if (pci_msix_enabled(&v->pci)) {
		if (vector != NO_VECTOR)
			pci_msix_notify(&v->pci, vector);
		return;
	}
	v->isr |= isr_bit;
	pci_set_intx(&v->pci, 1);
}

void
virtq_notify(struct virtio_dev *v, unsigned qi)
{
	struct virtq *q = &v->vq[qi];

	if (qi >= v->nq || !q->enabled)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ld16(q->avail_p) & AVAIL_F_NO_INTERRUPT)
		return;
	interrupt(v, q->msix_vector, 1);
}

void
virtio_config_changed(struct virtio_dev *v)
{
	v->config_gen++;
	if (v->status & VIRTIO_S_DRIVER_OK)
		interrupt(v, v->config_msix, 2);
}

/* ---- the queue a driver enables ----------------------------------------- */

static void
queue_enable(struct virtio_dev *v, struct virtq *q)
{
	uint64_t n = q->size;

	if (n == 0 || n > q->max || (n & (n - 1)) || (q->desc & 15) ||
	    (q->avail & 1) || (q->used & 3)) {
		mark_broken(v, q, "bad queue size or ring alignment");
		return;
	}
	q->desc_p = guest_ptr(v, q->desc, 16 * n);
	q->avail_p = guest_ptr(v, q->avail, 6 + 2 * n);
	q->used_p = guest_ptr(v, q->used, 6 + 8 * n);
	if (q->desc_p == NULL || q->avail_p == NULL || q->used_p == NULL) {
		mark_broken(v, q, "ring outside guest RAM");
		return;
	}
	q->last_avail = 0;
	q->used_idx = 0;
	q->enabled = true;
}

static void
device_reset(struct virtio_dev *v)
{
	unsigned k;

	v->status = 0;
	v->driver_features = 0;
	v->dfsel = v->gfsel = 0;
	v->isr = 0;
	v->config_msix = NO_VECTOR;
	v->qsel = 0;
	for (k = 0; k < v->nq; k++) {
		struct virtq *q = &v->vq[k];
		uint16_t max = q->max;

		memset(q, 0, sizeof(*q));
		q->max = max;
		q->size = max;
		q->msix_vector = NO_VECTOR;
	}
	pci_set_intx(&v->pci, 0);
	if (v->ops->reset)
		v->ops->reset(v);
}

/* ---- BAR 4 ---------------------------------------------------------------- */

/* The common configuration structure as bytes (4.1.4.3). */
static void
common_image(struct virtio_dev *v, uint8_t img[64])
{
	struct virtq *q = v->qsel < v->nq ? &v->vq[v->qsel] : NULL;
	uint32_t f = v->dfsel == 0 ? (uint32_t)v->features :
	    v->dfsel == 1 ? (uint32_t)(v->features >> 32) : 0;
	uint32_t g = v->gfsel == 0 ? (uint32_t)v->driver_features :
	    v->gfsel == 1 ? (uint32_t)(v->driver_features >> 32) : 0;
	uint16_t nq = (uint16_t)v->nq;

	memset(img, 0, 64);
	memcpy(img + 0, &v->dfsel, 4);
	memcpy(img + 4, &f, 4);
	memcpy(img + 8, &v->gfsel, 4);
	memcpy(img + 12, &g, 4);
	memcpy(img + 16, &v->config_msix, 2);
	memcpy(img + 18, &nq, 2);
	img[20] = v->status;
	img[21] = v->config_gen;
	memcpy(img + 22, &v->qsel, 2);
	if (q != NULL) {
		uint16_t en = q->enabled, noff = (uint16_t)(q - v->vq);

		memcpy(img + 24, &q->size, 2);
		memcpy(img + 26, &q->msix_vector, 2);
		memcpy(img + 28, &en, 2);
		memcpy(img + 30, &noff, 2);
		memcpy(img + 32, &q->desc, 8);
		memcpy(img + 40, &q->avail, 8);
		memcpy(img + 48, &q->used, 8);
	}
}

static void
status_write(struct virtio_dev *v, uint8_t s)
{
	if (s == 0) {
		device_reset(v);
		return;
	}
	if ((s & VIRTIO_S_FEATURES_OK) && !(v->status & VIRTIO_S_FEATURES_OK)) {
		/* Accept only what was offered, and only modern drivers. */
		if ((v->driver_features & ~v->features) ||
		    !(v->driver_features & VIRTIO_F_VERSION_1))
			s &= (uint8_t)~VIRTIO_S_FEATURES_OK;
	}
	v->status = (uint8_t)(s | (v->status & VIRTIO_S_NEEDS_RESET));
}

static void
common_write(struct virtio_dev *v, unsigned off, unsigned size, uint64_t val)
{
	struct virtq *q = v->qsel < v->nq ? &v->vq[v->qsel] : NULL;
	uint32_t w = (uint32_t)val;

	switch (off) {
	case 0: v->dfsel = w; return;
	case 8: v->gfsel = w; return;
	case 12:
		if (v->status & VIRTIO_S_FEATURES_OK)
			return;         /* fixed once accepted */
		if (v->gfsel == 0)
			v->driver_features = (v->driver_features &
			    ~0xffffffffULL) | w;
		else if (v->gfsel == 1)
			v->driver_features = (v->driver_features &
			    0xffffffffULL) | (uint64_t)w << 32;
		return;
	case 16:
		if (size == 2)
			v->config_msix = (uint16_t)w < v->pci.msix_n ?
			    (uint16_t)w : NO_VECTOR;
		return;
	case 20: status_write(v, (uint8_t)w); return;
	case 22: v->qsel = (uint16_t)w; return;
	}
	if (q == NULL || q->enabled)
		return;         /* the queue fields are frozen once enabled */
	switch (off) {
	case 24: q->size = (uint16_t)w; return;
	case 26:
		q->msix_vector = (uint16_t)w < v->pci.msix_n ? (uint16_t)w :
		    NO_VECTOR;
		return;
	case 28:
		if ((uint16_t)w == 1)
			queue_enable(v, q);
		return;
	case 32: case 40: case 48: case 36: case 44: case 52: {
		uint64_t *p = off < 40 ? &q->desc : off < 48 ? &q->avail :
		    &q->used;

		if (size == 8)
			*p = val;
		else if (off % 8 == 0)
			*p = (*p & ~0xffffffffULL) | w;
		else
			*p = (*p & 0xffffffffULL) | (uint64_t)w << 32;
		return;
	}
	}
}

/* Device config: the model's bytes, read-only unless it says otherwise. */
static uint64_t
bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *v = opaque;
	uint8_t img[64];
	uint64_t r = 0;

	if (size > 8)
		return 0;
	if (off + size <= OFF_COMMON + 56) {
		common_image(v, img);
		memcpy(&r, img + off, size);
	} else if (off == OFF_ISR) {
		r = v->isr;
		v->isr = 0;
		pci_set_intx(&v->pci, 0);
	} else if (off >= OFF_DEVICE && off + size <= OFF_DEVICE +
	    (uint64_t)v->config_len) {
		memcpy(&r, v->config + (off - OFF_DEVICE), size);
	}
	return r;
}

static void
bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct virtio_dev *v = opaque;

	if (size > 8)
		return;
	if (off + size <= OFF_COMMON + 56) {
		common_write(v, (unsigned)off, size, val);
	} else if (off >= OFF_NOTIFY &&
	    off < OFF_NOTIFY + (uint64_t)NOTIFY_MULT * v->nq) {
		unsigned q = (unsigned)(off - OFF_NOTIFY) / NOTIFY_MULT;

		if ((v->status & VIRTIO_S_DRIVER_OK) && v->vq[q].enabled &&
		    !v->vq[q].broken && pci_master(&v->pci))
			v->ops->notify(v, q);
	} else if (off >= OFF_DEVICE && off + size <= OFF_DEVICE +
	    (uint64_t)v->config_len && v->ops->config_written) {
		v->ops->config_written(v, (unsigned)(off - OFF_DEVICE), size);
	}
}

static const struct io_ops bar_ops = { bar_read, bar_write };

static void
add_cap(struct virtio_dev *v, uint8_t type, uint32_t off, uint32_t len,
    uint8_t caplen)
{
	uint8_t c = pci_cap_add(&v->pci, PCI_CAP_VENDOR, caplen);

	if (c == 0)
		return;
	v->pci.cfg[c + 2] = caplen;
	v->pci.cfg[c + 3] = type;
	v->pci.cfg[c + 4] = type == CAP_PCI ? 0 : BAR_VIRTIO;
	pci_set32(&v->pci, c + 8, off);
	pci_set32(&v->pci, c + 12, len);
	if (type == CAP_NOTIFY)
		pci_set32(&v->pci, c + 16, NOTIFY_MULT);
	if (type == CAP_PCI) {
		/* The window's bar, offset, length and data are the
		 * driver's; accesses through it are not implemented (Linux
		 * does not use them) and read as zero. */
		memset(v->pci.wmask + c + 4, 0xff, 1);
		memset(v->pci.wmask + c + 8, 0xff, 12);
	}
}

int
virtio_pci_init(struct virtio_dev *v, struct vm *vm, const char *name,
    unsigned type, uint32_t class_code, unsigned nq, uint16_t qmax,
    const struct virtio_ops *ops, uint64_t features, uint8_t *config,
    unsigned config_len, struct vm_err *err)
{
	int ret;

	if (nq == 0 || nq > VIRTIO_MAX_QUEUES || qmax > VIRTQ_MAX_SIZE ||
	    config_len > 0x1000)
		return vm_err_set(err, -EINVAL, "%s: bad virtio geometry",
		    name);
	if (vm->pci == NULL)
		return vm_err_set(err, -ENODEV, "%s: the board has no PCI bus",
		    name);
	v->vm = vm;
	v->ops = ops;
	v->nq = nq;
	v->features = features | VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC;
	v->config = config;
	v->config_len = config_len;
	ret = pci_dev_init(vm->pci, &v->pci, name, -1,
	    0x1af4, (uint16_t)(0x1040 + type), class_code, err);
	if (ret < 0)
		return ret;
	v->pci.opaque = v;
	v->pci.cfg[PCI_REVISION] = 1;
	pci_set16(&v->pci, PCI_SUBSYS_VENDOR, 0x1af4);
	pci_set16(&v->pci, PCI_SUBSYS_ID, 0x1100);
	pci_bar_init(&v->pci, BAR_VIRTIO, PCI_BAR_MEM64, 0x4000, &bar_ops, v);
	add_cap(v, CAP_COMMON, OFF_COMMON, 56, 16);
	add_cap(v, CAP_ISR, OFF_ISR, 1, 16);
	add_cap(v, CAP_DEVICE, OFF_DEVICE, config_len ? config_len : 1, 16);
	add_cap(v, CAP_NOTIFY, OFF_NOTIFY, NOTIFY_MULT * nq, 20);
	add_cap(v, CAP_PCI, 0, 0, 20);
	ret = pci_msix_init(&v->pci, BAR_MSIX, nq + 1);
	if (ret < 0) {
		pci_dev_remove(&v->pci);
		return vm_err_set(err, ret, "%s: MSI-X set-up failed", name);
	}
	{
		unsigned k;

		for (k = 0; k < nq; k++)
			v->vq[k].max = qmax;
	}
	device_reset(v);
	return 0;
}

void
virtio_pci_fini(struct virtio_dev *v)
{
	pci_dev_remove(&v->pci);
}

/* ---- snapshots ------------------------------------------------------------ */

/*
 * The transport and every queue.  The device-specific config bytes are not
 * saved: they follow from the VM's configuration (capacity, MAC), which a
 * restore rebuilds the same.
 */
int
virtio_state(struct virtio_dev *v, struct snap_vis *vis)
{
	unsigned nq = v->nq, k;
	char n[32];

	pci_dev_state(&v->pci, vis);
	snap_u64(vis, "driver_features", &v->driver_features);
	snap_check(vis, !(v->driver_features & ~v->features),
	    "driver_features", "features the device does not offer");
	snap_u32(vis, "dfsel", &v->dfsel);
	snap_u32(vis, "gfsel", &v->gfsel);
	snap_u8(vis, "status", &v->status);
	snap_u8(vis, "config_gen", &v->config_gen);
	snap_u8(vis, "isr", &v->isr);
	snap_u16(vis, "config_msix", &v->config_msix);
	snap_check(vis, v->config_msix == NO_VECTOR ||
	    v->config_msix < v->pci.msix_n, "config_msix",
	    "no such MSI-X vector");
	snap_u16(vis, "qsel", &v->qsel);
	snap_unsigned(vis, "nq", &nq, VIRTIO_MAX_QUEUES);
	snap_check(vis, nq == v->nq, "nq",
	    "the device has a different number of queues");
	for (k = 0; k < v->nq && !vis->failed; k++) {
		struct virtq *q = &v->vq[k];

#define F(f) (snprintf(n, sizeof(n), "vq%u.%s", k, f), n)
		snap_u16(vis, F("size"), &q->size);
		snap_check(vis, q->size <= q->max, n, "bigger than the queue's "
		    "maximum");
		snap_bool(vis, F("enabled"), &q->enabled);
		snap_bool(vis, F("broken"), &q->broken);
		snap_u16(vis, F("msix_vector"), &q->msix_vector);
		snap_check(vis, q->msix_vector == NO_VECTOR ||
		    q->msix_vector < v->pci.msix_n, n, "no such MSI-X vector");
		snap_u64(vis, F("desc"), &q->desc);
		snap_u64(vis, F("avail"), &q->avail);
		snap_u64(vis, F("used"), &q->used);
		snap_u16(vis, F("last_avail"), &q->last_avail);
		snap_u16(vis, F("used_idx"), &q->used_idx);
		/* The indices run free (mod 2^16), but the device cannot
		 * have taken more buffers than the ring holds without
		 * returning them. */
		snap_check(vis, (uint16_t)(q->last_avail - q->used_idx) <=
		    q->size, n, "more buffers in flight than the ring holds");
#undef F
	}
	return vis->failed;
}

/* Map the BARs, then enable each enabled queue again as if the driver had
 * just written its addresses: size and alignment checked, the rings looked
 * up in guest RAM; its indices are then the saved ones. */
int
virtio_post_load(struct virtio_dev *v, const char *id, struct vm_err *err)
{
	unsigned k;

	pci_dev_post_load(&v->pci);
	for (k = 0; k < v->nq; k++) {
		struct virtq *q = &v->vq[k];
		uint16_t la = q->last_avail, ui = q->used_idx;

		q->desc_p = q->avail_p = q->used_p = NULL;
		if (!q->enabled)
			continue;
		q->enabled = false;
		queue_enable(v, q);
		if (!q->enabled)
			return vm_err_set(err, -EINVAL, "%s: queue %u: bad "
			    "size or ring address in the snapshot", id, k);
		q->last_avail = la;
		q->used_idx = ui;
	}
	return 0;
}

/* What virtio_post_load would refuse, found on a staged copy with no
 * side effect: an enabled queue that queue_enable would break. */
int
virtio_load_check(const struct virtio_dev *v, const char *id,
    struct vm_err *err)
{
	unsigned k;

	for (k = 0; k < v->nq; k++) {
		const struct virtq *q = &v->vq[k];
		uint64_t n = q->size;

		if (!q->enabled)
			continue;
		if (n == 0 || n > q->max || (n & (n - 1)) || (q->desc & 15) ||
		    (q->avail & 1) || (q->used & 3) ||
		    guest_ptr((struct virtio_dev *)v, q->desc, 16 * n) == NULL ||
		    guest_ptr((struct virtio_dev *)v, q->avail, 6 + 2 * n) ==
		    NULL ||
		    guest_ptr((struct virtio_dev *)v, q->used, 6 + 8 * n) == NULL)
			return vm_err_set(err, -EINVAL, "section 'dev:%s': "
			    "queue %u: bad size or ring address", id, k);
	}
	return 0;
}

int
virtio_dev_load_check(struct dev *d, struct vm_err *err)
{
	return virtio_load_check(d->priv, d->id, err);
}

/* For devices whose private state starts with their struct virtio_dev
 * (and that save nothing else): dev_type.state and .post_load. */
int
virtio_dev_state(struct dev *d, struct snap_vis *vis)
{
	return virtio_state(d->priv, vis);
}

int
virtio_dev_post_load(struct dev *d, struct vm_err *err)
{
	return virtio_post_load(d->priv, d->id, err);
}
