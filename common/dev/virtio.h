/*
 * Virtio 1.x over PCI (the "modern" transport, virtio spec 1.2 section
 * 4.1) and split virtqueues (section 2.7), shared by virtio-blk, virtio-rng
 * and later virtio-net.
 *
 * A device model embeds struct virtio_dev, fills in its ops, features and
 * config bytes and calls virtio_pci_init().  It consumes requests with
 * virtq_pop() (one descriptor chain as host iovecs, every address checked
 * to lie in guest RAM, chains bounded and loop-free), completes them with
 * virtq_push() and signals with virtq_notify().  A guest that breaks the
 * rules (bad addresses, loops, overlong chains) gets the device marked
 * DEVICE_NEEDS_RESET and no more service from that queue; vm-run carries
 * on.
 *
 * Everything runs with the VM I/O lock held: a queue notify is a bus
 * write, so requests are processed on the notifying vCPU's thread.
 */
#ifndef VM_DEV_VIRTIO_H
#define VM_DEV_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hw/pci.h"

struct vm;
struct vm_err;

#define VIRTIO_MAX_QUEUES 8
#define VIRTQ_MAX_SIZE 256
#define VIRTQ_MAX_SEG VIRTQ_MAX_SIZE

/* Device status bits. */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 64
#define VIRTIO_S_FAILED 128

/* Transport features. */
#define VIRTIO_F_INDIRECT_DESC (1ULL << 28)
#define VIRTIO_F_VERSION_1 (1ULL << 32)

struct virtq {
	uint16_t size, max;
	bool enabled, broken;
	uint16_t msix_vector;
	uint64_t desc, avail, used;     /* guest physical */
	/* Host views, checked at enable. */
	volatile uint8_t *desc_p, *avail_p, *used_p;
	uint16_t last_avail;
	uint16_t used_idx;
};

/* One descriptor chain: out = device-readable, in = device-writable. */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	uint64_t in_len;                /* total device-writable bytes */
	struct iovec out[VIRTQ_MAX_SEG];
	struct iovec in[VIRTQ_MAX_SEG];
	uint64_t in_gpa[VIRTQ_MAX_SEG];
};

struct virtio_dev;

struct virtio_ops {
	/* A driver kicked queue q. */
	void (*notify)(struct virtio_dev *v, unsigned q);
	/* The driver wrote device config bytes [off, off+len) (optional). */
	void (*config_written)(struct virtio_dev *v, unsigned off,
	    unsigned len);
	/* Device reset (status 0), after the transport's own (optional). */
	void (*reset)(struct virtio_dev *v);
};

struct virtio_dev {
	struct pci_dev pci;
	struct vm *vm;
	const struct virtio_ops *ops;
	uint64_t features;              /* offered (transport bits added) */
	uint64_t driver_features;
	uint32_t dfsel, gfsel;
	uint8_t status;
	uint8_t config_gen;
	uint8_t isr;
	uint16_t config_msix;
	uint16_t qsel;
	unsigned nq;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint8_t *config;                /* device-specific config bytes */
	unsigned config_len;
	void *opaque;                   /* the device model */
};

/* Set up the PCI function for virtio device type (1 net, 2 block,
 * 4 entropy...) with nq queues of at most qmax entries. */
int virtio_pci_init(struct virtio_dev *v, struct vm *vm, const char *name,
    unsigned type, uint32_t class_code, unsigned nq, uint16_t qmax,
    const struct virtio_ops *ops, uint64_t features, uint8_t *config,
    unsigned config_len, struct vm_err *err);
void virtio_pci_fini(struct virtio_dev *v);

/* Take the next available chain of queue q: 1 and *e filled, 0 if none,
 * -1 if the queue is broken (the device is marked as needing a reset). */
int virtq_pop(struct virtio_dev *v, unsigned q, struct virtq_elem *e);
/* Return e to the driver with len bytes written to its in buffers. */
void virtq_push(struct virtio_dev *v, unsigned q, const struct virtq_elem *e,
    uint32_t len);
/* Interrupt the driver for queue q unless it asked not to be. */
void virtq_notify(struct virtio_dev *v, unsigned q);
/* Interrupt for a device configuration change. */
void virtio_config_changed(struct virtio_dev *v);

/* Copy between iovecs and a flat buffer; return the bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip,
    void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
    const void *buf, size_t len);
/* dst = the bytes [skip, skip+len) of src as iovecs; returns the count
 * (at most max), and the bytes covered in *got. */
unsigned iov_slice(const struct iovec *src, unsigned n, size_t skip,
    size_t len, struct iovec *dst, unsigned max, size_t *got);

struct snap_vis;
/* Snapshots: the transport's and the queues' state (virtio.c); post_load
 * re-checks each enabled queue as a driver's enable would. */
int virtio_state(struct virtio_dev *v, struct snap_vis *vis);
int virtio_post_load(struct virtio_dev *v, const char *id,
    struct vm_err *err);
/* The same as dev_type ops, for a device whose priv starts with its
 * struct virtio_dev and holds no other state. */
struct dev;
int virtio_dev_state(struct dev *d, struct snap_vis *vis);
int virtio_dev_post_load(struct dev *d, struct vm_err *err);
/* What post_load would refuse, checked on a staged copy (dev.h). */
int virtio_load_check(const struct virtio_dev *v, const char *id,
    struct vm_err *err);
int virtio_dev_load_check(struct dev *d, struct vm_err *err);

#endif
