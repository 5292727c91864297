/*
 * virtio-net (virtio spec 1.2 section 5.1) on a network back end.
 *
 * arg: const struct net_params * (back end spec, forwards, the MAC).  One
 * queue pair: queue 0 receives, queue 1 transmits; no control queue, no
 * offloads.  Features: MAC (no STATUS: the link is always up).  Every
 * buffer carries the 12-byte virtio_net_hdr of VERSION_1 first.
 *
 * A transmitted chain is checked before the back end sees it: its
 * readable bytes must hold the header and a frame of 14 to NET_FRAME_MAX
 * bytes, or it is returned unread and counted as dropped.  Frames for the
 * guest go into the next receive chain (header with num_buffers = 1, then
 * the frame); one that does not fit is dropped.  While the guest has no
 * receive buffer posted, up to NET_RXQ_MAX frames wait and are delivered
 * when it posts some.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/virtio.h"
#include "snap/snap.h"
#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define VIRTIO_ID_NET 1

#define F_MAC (1ULL << 5)

#define HDR_LEN 12
#define RXQ 0
#define TXQ 1
struct vnet {
	struct virtio_dev v;
	struct net_backend *nb;
	uint8_t config[12];
	struct net_rxq rxq;
	uint64_t rx_dropped, tx_bad;
	uint8_t txbuf[HDR_LEN + NET_FRAME_MAX];
};

/* Put one frame into the guest's next receive chain: 1 done, 0 no chain
 * posted (try later), -1 dropped. */
static int
rx_one(struct vnet *n, const void *frame, size_t len)
{
	struct virtq_elem e;
	uint8_t hdr[HDR_LEN] = { 0 };
	int r;

	r = virtq_pop(&n->v, RXQ, &e);
	if (r <= 0)
		return r < 0 ? -1 : 0;
	if (e.in_len < HDR_LEN + len) {
		n->rx_dropped++;
		virtq_push(&n->v, RXQ, &e, 0);
		return -1;
	}
	hdr[10] = 1;    /* num_buffers */
	iov_from_buf(e.in, e.nin, 0, hdr, HDR_LEN);
	iov_from_buf(e.in, e.nin, HDR_LEN, frame, len);
	virtq_push(&n->v, RXQ, &e, (uint32_t)(HDR_LEN + len));
	return 1;
}

static void
rx_flush(struct vnet *n)
{
	const struct net_rxq_frame *p;
	bool any = false;
	int r;

	while ((p = net_rxq_peek(&n->rxq)) != NULL) {
		r = rx_one(n, p->data, p->len);
		if (r == 0)
			break;
		any |= r > 0;
		net_rxq_pop(&n->rxq);
	}
	if (any)
		virtq_notify(&n->v, RXQ);
}

/* The back end's callback: a frame for the guest. */
static void
vnet_rx(void *opaque, const void *frame, size_t len)
{
	struct vnet *n = opaque;
	int r;

	if (!(n->v.status & VIRTIO_S_DRIVER_OK) || len > NET_FRAME_MAX)
		return;
	if (n->rxq.count == 0) {
		r = rx_one(n, frame, len);
		if (r > 0)
			virtq_notify(&n->v, RXQ);
		if (r != 0)
			return;
	}
	if (net_rxq_push(&n->rxq, frame, len) < 0)
		n->rx_dropped++;
}

static void
tx(struct vnet *n)
{
	struct virtq_elem e;
	uint64_t len;
	unsigned i;
	bool any = false;

	while (virtq_pop(&n->v, TXQ, &e) > 0) {
		any = true;
		for (len = 0, i = 0; i < e.nout; i++)
			len += e.out[i].iov_len;
		if (len < HDR_LEN + 14 || len > sizeof(n->txbuf)) {
			n->tx_bad++;
			log_debug(LOG_NET, "%s: dropped a %llu-byte transmit "
			    "buffer", n->v.pci.name,
			    (unsigned long long)len);
			virtq_push(&n->v, TXQ, &e, 0);
			continue;
		}
		iov_to_buf(e.out, e.nout, 0, n->txbuf, (size_t)len);
		virtq_push(&n->v, TXQ, &e, 0);
		net_send(n->nb, n->txbuf + HDR_LEN, (size_t)len - HDR_LEN);
	}
	if (any)
		virtq_notify(&n->v, TXQ);
}

static void
vnet_notify(struct virtio_dev *v, unsigned q)
{
	struct vnet *n = v->opaque;

	if (q == TXQ)
		tx(n);
	else if (q == RXQ)
		rx_flush(n);
}

static void
vnet_reset(struct virtio_dev *v)
{
	struct vnet *n = v->opaque;

	net_rxq_clear(&n->rxq);
}

static const struct virtio_ops vnet_ops = {
	.notify = vnet_notify,
	.reset = vnet_reset,
};

static int
vnet_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	const struct net_params *p = arg;
	struct vnet *n = d->priv;
	int ret;

	/* Config (5.1.4): mac, status, max_virtqueue_pairs, mtu. */
	memcpy(n->config, p->mac, 6);
	n->config[6] = 1;               /* VIRTIO_NET_S_LINK_UP */
	n->config[8] = 1;
	n->config[10] = 1500 & 0xff;
	n->config[11] = 1500 >> 8;
	n->v.opaque = n;
	n->nb = net_open(p, vm->loop, vnet_rx, n, err);
	if (n->nb == NULL)
		return err ? err->code : -EIO;
	ret = virtio_pci_init(&n->v, vm, d->id, VIRTIO_ID_NET, 0x020000, 2,
	    256, &vnet_ops, F_MAC, n->config, sizeof(n->config),
	    err);
	if (ret < 0) {
		net_close(n->nb);
		n->nb = NULL;
		return ret;
	}
	return 0;
}

static void
vnet_unrealize(struct dev *d)
{
	struct vnet *n = d->priv;

	virtio_pci_fini(&n->v);
	net_close(n->nb);
	net_rxq_clear(&n->rxq);
}

/* Frames waiting for RX buffers are not saved: a restored guest sees them
 * as lost on the wire, which its protocols already handle. */
static int
vnet_state(struct dev *d, struct snap_vis *v)
{
	struct vnet *n = d->priv;

	return virtio_state(&n->v, v);
}

static int
vnet_post_load(struct dev *d, struct vm_err *err)
{
	struct vnet *n = d->priv;

	net_rxq_clear(&n->rxq);
	return virtio_post_load(&n->v, d->id, err);
}

static int
vnet_load_check(struct dev *d, struct vm_err *err)
{
	struct vnet *n = d->priv;

	return virtio_load_check(&n->v, d->id, err);
}

const struct dev_type virtio_net_type = {
	.name = "virtio-net",
	.desc = "virtio network device (PCI) on a network back end",
	.priv_size = sizeof(struct vnet),
	.realize = vnet_realize,
	.unrealize = vnet_unrealize,
	.state = vnet_state,
	.state_version = 1,
	.post_load = vnet_post_load,
	.load_check = vnet_load_check,
};
