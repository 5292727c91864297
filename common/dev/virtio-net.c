/*
 * virtio-net (virtio spec 1.2 section 5.1) on a network back end.
 *
 * arg: const struct net_params * (back end spec, forwards, the MAC).  One
 * queue pair: queue 0 receives, queue 1 transmits; no control queue.
 * Features: MAC (no STATUS: the link is always up), and the offloads
 * CSUM, HOST_TSO4 and HOST_TSO6 (the guest hands over frames with a
 * partial checksum, and TCP frames of up to 64 KiB to cut into
 * segments) and GUEST_CSUM (frames from the NAT come marked DATA_VALID:
 * libslirp made their checksums).  Every buffer carries the 12-byte
 * virtio_net_hdr of VERSION_1 first.
 *
 * A transmitted chain is checked before the back end sees it: its
 * readable bytes must hold the header and a frame of 14 to NET_FRAME_MAX
 * bytes, and the header must tell the truth about the frame
 * (net_offload_check), or it is returned unread and counted as dropped;
 * the first refused header of each kind is logged, and vm-run says at
 * exit how many of each it refused.  The checksum and segmentation a
 * header asks for are done in software (net_send_offload).  Frames for the
 * guest go into the next receive chain (header with num_buffers = 1, then
 * the frame); one that does not fit is dropped.  While the guest has no
 * receive buffer posted, up to NET_RXQ_MAX frames wait and are delivered
 * when it posts some.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/virtio.h"
#include "snap/snap.h"
#include "net/net.h"
#include "net/offload.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define VIRTIO_ID_NET 1

#define F_CSUM (1ULL << 0)
#define F_GUEST_CSUM (1ULL << 1)
#define F_MAC (1ULL << 5)
#define F_GUEST_TSO4 (1ULL << 7)
#define F_GUEST_TSO6 (1ULL << 8)
#define F_HOST_TSO4 (1ULL << 11)
#define F_HOST_TSO6 (1ULL << 12)
#define FEATURES (F_CSUM | F_GUEST_CSUM | F_MAC | F_GUEST_TSO4 | \
	F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6)

#define HDR_LEN NET_VNET_HDR_LEN
#define RXQ 0
#define TXQ 1
struct vnet {
	struct virtio_dev v;
	struct net_backend *nb;
	uint8_t config[12];
	struct net_rxq rxq;
	uint64_t rx_dropped, tx_bad;
	uint64_t hdr_refused[NET_HDR_NFAULTS];
	uint64_t tso_frames, tso_segments;
	uint64_t rx_offload;            /* frames given whole with a header */
	uint8_t txbuf[HDR_LEN + NET_FRAME_MAX];
};

/* Put one frame into the guest's next receive chain, behind vh (a
 * virtio_net_hdr for it, NULL: none to pass on): 1 done, 0 no chain
 * posted (try later), -1 dropped (the chain too small for it). */
static int
rx_one(struct vnet *n, const uint8_t *vh, const void *frame, size_t len)
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
	if (vh) {
		memcpy(hdr, vh, HDR_LEN);
		n->rx_offload++;
	} else if (n->nb->rx_csum_valid &&
	    (n->v.driver_features & F_GUEST_CSUM))
		hdr[0] = NET_VNET_F_DATA_VALID;
	hdr[10] = 1;    /* num_buffers */
	hdr[11] = 0;
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
		r = rx_one(n, p->has_hdr ? p->hdr : NULL, p->data, p->len);
		if (r == 0)
			break;
		any |= r > 0;
		net_rxq_pop(&n->rxq);
	}
	if (any)
		virtq_notify(&n->v, RXQ);
}

/* A frame for the guest, behind vh or not (rx_one). */
static void
rx_frame(struct vnet *n, const uint8_t *vh, const void *frame, size_t len)
{
	int r;

	if (!(n->v.status & VIRTIO_S_DRIVER_OK) || len > NET_FRAME_MAX)
		return;
	if (n->rxq.count == 0) {
		r = rx_one(n, vh, frame, len);
		if (r > 0)
			virtq_notify(&n->v, RXQ);
		if (r != 0)
			return;
	}
	if ((vh ? net_rxq_push_hdr(&n->rxq, vh, frame, len) :
	    net_rxq_push(&n->rxq, frame, len)) < 0)
		n->rx_dropped++;
}

/* The back end's callback: a frame for the guest. */
static void
vnet_rx(void *opaque, const void *frame, size_t len)
{
	rx_frame(opaque, NULL, frame, len);
}

/* The back end's callback for a frame behind a checked header (another
 * guest's TSO frame, a partial checksum): whole to a guest that
 * negotiated that offload, else completed or cut up here. */
static void
vnet_rx_vnet(void *opaque, const struct net_vnet_hdr *h,
    const struct net_gso_info *gi, uint8_t *frame, size_t len)
{
	struct vnet *n = opaque;
	uint64_t f = n->v.driver_features;
	unsigned gso = h->gso_type & ~NET_GSO_ECN;
	struct net_vnet_hdr g = *h;
	uint8_t vh[HDR_LEN];

	if (!(f & F_GUEST_CSUM) ||
	    (gso == NET_GSO_TCPV4 && !(f & F_GUEST_TSO4)) ||
	    (gso == NET_GSO_TCPV6 && !(f & F_GUEST_TSO6))) {
		g.flags &= (uint8_t)~NET_VNET_F_DATA_VALID;
		net_offload_emit(&g, gi, frame, len, vnet_rx, n);
		return;
	}
	g.num_buffers = 1;
	net_vnet_hdr_put(vh, &g);
	rx_frame(n, vh, frame, len);
}

/* What the guest's headers may ask for. */
static unsigned
allowed(const struct vnet *n)
{
	uint64_t f = n->v.driver_features;
	unsigned a = 0;

	if (f & F_CSUM) {
		a |= NET_OFF_CSUM;
		if (f & F_HOST_TSO4)
			a |= NET_OFF_TSO4;
		if (f & F_HOST_TSO6)
			a |= NET_OFF_TSO6;
	}
	return a;
}

/* Check the header of the frame in n->txbuf and send what it asks. */
static void
tx_frame(struct vnet *n, size_t len)
{
	struct net_vnet_hdr h;
	struct net_gso_info gi;
	enum net_hdr_fault f;
	unsigned k;

	net_vnet_hdr_get(n->txbuf, &h);
	f = net_offload_check(&h, n->txbuf + HDR_LEN, len, allowed(n), &gi);
	if (f != NET_HDR_OK) {
		if (n->hdr_refused[f]++ == 0)
			log_warnx("%s: refused a transmit header: %s "
			    "(flags %#x gso_type %#x hdr_len %u gso_size %u "
			    "csum_start %u csum_offset %u, a %zu-byte frame); "
			    "more of this kind are counted, not logged",
			    n->v.pci.name, net_hdr_fault_name(f), h.flags,
			    h.gso_type, h.hdr_len, h.gso_size, h.csum_start,
			    h.csum_offset, len);
		n->tx_bad++;
		return;
	}
	k = net_send_offload(n->nb, &h, &gi, n->txbuf + HDR_LEN, len);
	if ((h.gso_type & ~NET_GSO_ECN) != NET_GSO_NONE) {
		n->tso_frames++;
		n->tso_segments += k;
	}
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
		tx_frame(n, (size_t)len - HDR_LEN);
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
	n->nb->rx_vnet = vnet_rx_vnet;
	ret = virtio_pci_init(&n->v, vm, d->id, VIRTIO_ID_NET, 0x020000, 2,
	    256, &vnet_ops, FEATURES, n->config, sizeof(n->config),
	    err);
	if (ret < 0) {
		net_close(n->nb);
		n->nb = NULL;
		return ret;
	}
	return 0;
}

/* At exit: how many headers of each kind were refused, if any. */
static void
report_refused(const struct vnet *n)
{
	char buf[1024];
	size_t o = 0;
	uint64_t total = 0;
	unsigned f;

	for (f = 1; f < NET_HDR_NFAULTS; f++) {
		if (n->hdr_refused[f] == 0)
			continue;
		total += n->hdr_refused[f];
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s: %llu",
		    o ? "; " : "", net_hdr_fault_name(f),
		    (unsigned long long)n->hdr_refused[f]);
		if (o >= sizeof(buf))
			break;
	}
	if (total)
		log_warnx("%s: refused %llu transmit headers: %s",
		    n->v.pci.name, (unsigned long long)total, buf);
}

static void
vnet_unrealize(struct dev *d)
{
	struct vnet *n = d->priv;

	report_refused(n);

	virtio_pci_fini(&n->v);
	net_close(n->nb);
	net_rxq_clear(&n->rxq);
}

static void
vnet_counters(struct dev *d, struct nic_counters *c)
{
	struct vnet *n = d->priv;
	unsigned f;

	c->tx_frames = n->nb->tx_frames;
	c->rx_frames = n->nb->rx_frames;
	c->tx_dropped = n->tx_bad + n->nb->tx_dropped;
	c->rx_dropped = n->rx_dropped;
	c->tso_frames = n->tso_frames;
	c->tso_segments = n->tso_segments;
	c->rx_offload = n->rx_offload;
	for (f = 1; f < NET_HDR_NFAULTS; f++)
		c->headers_refused += n->hdr_refused[f];
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
	.nic_counters = vnet_counters,
};
