/*
 * The virtio_net_hdr checked against its frame, and software checksum
 * completion and TCP segmentation (net/offload.h).
 */
#include "net/offload.h"

#include <string.h>

#include "net/net.h"

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define IPPROTO_TCP_ 6
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static const char *const fault_names[NET_HDR_NFAULTS] = {
	[NET_HDR_OK] = "no fault",
	[NET_HDR_FLAGS] = "flags other than NEEDS_CSUM",
	[NET_HDR_CSUM_UNASKED] = "NEEDS_CSUM without the CSUM feature",
	[NET_HDR_CSUM_START] = "csum_start outside the frame's payload",
	[NET_HDR_CSUM_OFFSET] = "csum_offset past the frame's end",
	[NET_HDR_GSO_TYPE] = "a gso_type not negotiated",
	[NET_HDR_GSO_NO_CSUM] = "segmentation without NEEDS_CSUM",
	[NET_HDR_GSO_SIZE] = "gso_size out of range",
	[NET_HDR_HDR_LEN] = "hdr_len past the frame's end",
	[NET_HDR_L3_TYPE] = "an EtherType that is not the gso_type's IP",
	[NET_HDR_IP_HDR] = "a bad IP header",
	[NET_HDR_IP_LEN] = "an IP length that does not fit the frame",
	[NET_HDR_L4_PROTO] = "segmentation of something other than TCP",
	[NET_HDR_L4_START] = "csum_start/csum_offset not at TCP's checksum",
	[NET_HDR_TCP_HDR] = "a bad TCP header",
};

const char *
net_hdr_fault_name(enum net_hdr_fault f)
{
	if ((unsigned)f >= NET_HDR_NFAULTS)
		return "an unknown fault";
	return fault_names[f];
}

static uint16_t
get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void
put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t
get16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
net_vnet_hdr_get(const uint8_t *b, struct net_vnet_hdr *h)
{
	h->flags = b[0];
	h->gso_type = b[1];
	h->hdr_len = get16le(b + 2);
	h->gso_size = get16le(b + 4);
	h->csum_start = get16le(b + 6);
	h->csum_offset = get16le(b + 8);
	h->num_buffers = get16le(b + 10);
}

void
net_vnet_hdr_put(uint8_t *b, const struct net_vnet_hdr *h)
{
	b[0] = h->flags;
	b[1] = h->gso_type;
	put16le(b + 2, h->hdr_len);
	put16le(b + 4, h->gso_size);
	put16le(b + 6, h->csum_start);
	put16le(b + 8, h->csum_offset);
	put16le(b + 10, h->num_buffers);
}

uint32_t
net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t
net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The IP header of a TSO frame: its offsets in gi, or the fault. */
static enum net_hdr_fault
check_ip(const uint8_t *f, size_t len, int want_v6, struct net_gso_info *gi)
{
	size_t l3 = ETH_HLEN, iphl, iplen;
	uint16_t type = get16be(f + 12);

	if (type == ETHERTYPE_VLAN) {
		if (len < ETH_HLEN + 4)
			return NET_HDR_L3_TYPE;
		type = get16be(f + 16);
		l3 += 4;
	}
	if (type != (want_v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4))
		return NET_HDR_L3_TYPE;
	gi->l3 = l3;
	gi->v6 = want_v6;
	if (!want_v6) {
		if (len < l3 + 20 || f[l3] >> 4 != 4 || (f[l3] & 15) < 5)
			return NET_HDR_IP_HDR;
		iphl = (size_t)(f[l3] & 15) * 4;
		if (len < l3 + iphl)
			return NET_HDR_IP_HDR;
		iplen = get16be(f + l3 + 2);
		if (iplen < iphl + 20 || len < l3 + iplen)
			return NET_HDR_IP_LEN;
		if (f[l3 + 9] != IPPROTO_TCP_ ||
		    (get16be(f + l3 + 6) & 0x3fff) != 0)
			return NET_HDR_L4_PROTO;
	} else {
		if (len < l3 + 40 || f[l3] >> 4 != 6)
			return NET_HDR_IP_HDR;
		iphl = 40;
		iplen = 40 + (size_t)get16be(f + l3 + 4);
		if (iplen < iphl + 20 || len < l3 + iplen)
			return NET_HDR_IP_LEN;
		if (f[l3 + 6] != IPPROTO_TCP_)
			return NET_HDR_L4_PROTO;
	}
	gi->l4 = l3 + iphl;
	gi->end = l3 + iplen;
	return NET_HDR_OK;
}

enum net_hdr_fault
net_offload_check(const struct net_vnet_hdr *h, const uint8_t *f, size_t len,
    unsigned allowed, struct net_gso_info *gi)
{
	unsigned gso = h->gso_type & ~NET_GSO_ECN;
	enum net_hdr_fault r;
	size_t doff;

	memset(gi, 0, sizeof(*gi));
	if (len < ETH_HLEN || len > NET_FRAME_MAX)
		return NET_HDR_IP_LEN;
	if (h->flags & ~NET_VNET_F_NEEDS_CSUM)
		return NET_HDR_FLAGS;
	if ((h->gso_type & NET_GSO_ECN) ||
	    (gso != NET_GSO_NONE && gso != NET_GSO_TCPV4 &&
	    gso != NET_GSO_TCPV6) ||
	    (gso == NET_GSO_TCPV4 && !(allowed & NET_OFF_TSO4)) ||
	    (gso == NET_GSO_TCPV6 && !(allowed & NET_OFF_TSO6)))
		return NET_HDR_GSO_TYPE;
	if (h->hdr_len > len)
		return NET_HDR_HDR_LEN;
	if (h->flags & NET_VNET_F_NEEDS_CSUM) {
		if (!(allowed & NET_OFF_CSUM))
			return NET_HDR_CSUM_UNASKED;
		if (h->csum_start < ETH_HLEN || h->csum_start >= len)
			return NET_HDR_CSUM_START;
		if ((size_t)h->csum_start + h->csum_offset + 2 > len)
			return NET_HDR_CSUM_OFFSET;
	}
	if (gso == NET_GSO_NONE)
		return NET_HDR_OK;
	if (!(h->flags & NET_VNET_F_NEEDS_CSUM))
		return NET_HDR_GSO_NO_CSUM;
	if (h->gso_size < NET_GSO_SIZE_MIN)
		return NET_HDR_GSO_SIZE;
	r = check_ip(f, len, gso == NET_GSO_TCPV6, gi);
	if (r != NET_HDR_OK)
		return r;
	if (h->csum_start != gi->l4 || h->csum_offset != 16)
		return NET_HDR_L4_START;
	doff = (size_t)(f[gi->l4 + 12] >> 4) * 4;
	if (doff < 20 || gi->l4 + doff > gi->end)
		return NET_HDR_TCP_HDR;
	gi->hdrs = gi->l4 + doff;
	if (gi->hdrs - gi->l3 + h->gso_size > NET_GSO_MTU_MAX)
		return NET_HDR_GSO_SIZE;
	return NET_HDR_OK;
}

/* The TCP checksum of the segment seg (headers as gi says, tcplen bytes
 * from gi->l4), with its pseudo-header. */
static void
tcp_csum(uint8_t *seg, const struct net_gso_info *gi, size_t tcplen)
{
	uint8_t *ip = seg + gi->l3, *tcp = seg + gi->l4;
	uint32_t sum;

	if (gi->v6) {
		sum = net_csum_add(0, ip + 8, 32);
		sum += (uint32_t)(tcplen >> 16) + (uint32_t)(tcplen & 0xffff);
	} else {
		sum = net_csum_add(0, ip + 12, 8);
		sum += (uint32_t)tcplen;
	}
	sum += IPPROTO_TCP_;
	put16be(tcp + 16, 0);
	sum = net_csum_add(sum, tcp, tcplen);
	put16be(tcp + 16, net_csum_fold(sum));
}

static unsigned
segment(const struct net_vnet_hdr *h, const struct net_gso_info *gi,
    const uint8_t *f, net_frame_fn out, void *opaque)
{
	uint8_t seg[NET_GSO_MTU_MAX + 32];
	size_t payload = gi->end - gi->hdrs, off = 0, n;
	uint32_t seq = (uint32_t)get16be(f + gi->l4 + 4) << 16 |
	    get16be(f + gi->l4 + 6);
	uint16_t id = gi->v6 ? 0 : get16be(f + gi->l3 + 4);
	uint8_t tflags = f[gi->l4 + 13];
	unsigned i = 0;
	uint8_t *ip, *tcp;

	do {
		n = payload - off < h->gso_size ? payload - off : h->gso_size;
		memcpy(seg, f, gi->hdrs);
		memcpy(seg + gi->hdrs, f + gi->hdrs + off, n);
		ip = seg + gi->l3;
		tcp = seg + gi->l4;
		if (gi->v6) {
			put16be(ip + 4, (uint16_t)(gi->hdrs - gi->l4 + n));
		} else {
			put16be(ip + 2, (uint16_t)(gi->hdrs - gi->l3 + n));
			put16be(ip + 4, (uint16_t)(id + i));
			put16be(ip + 10, 0);
			put16be(ip + 10, net_csum_fold(net_csum_add(0, ip,
			    gi->l4 - gi->l3)));
		}
		put16be(tcp + 4, (uint16_t)((seq + off) >> 16));
		put16be(tcp + 6, (uint16_t)(seq + off));
		tcp[13] = tflags;
		if (off + n < payload)
			tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (i > 0)
			tcp[13] &= (uint8_t)~TCP_CWR;
		tcp_csum(seg, gi, gi->hdrs - gi->l4 + n);
		out(opaque, seg, gi->hdrs + n);
		off += n;
		i++;
	} while (off < payload);
	return i;
}

unsigned
net_offload_emit(const struct net_vnet_hdr *h, const struct net_gso_info *gi,
    uint8_t *f, size_t len, net_frame_fn out, void *opaque)
{
	uint16_t c;

	if ((h->gso_type & ~NET_GSO_ECN) != NET_GSO_NONE)
		return segment(h, gi, f, out, opaque);
	if (h->flags & NET_VNET_F_NEEDS_CSUM) {
		/* The field holds the pseudo-header's sum already. */
		c = net_csum_fold(net_csum_add(0, f + h->csum_start,
		    len - h->csum_start));
		put16be(f + h->csum_start + h->csum_offset, c ? c : 0xffff);
	}
	out(opaque, f, len);
	return 1;
}
