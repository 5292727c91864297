/*
 * Checksum and segmentation offloads: the virtio_net_hdr a guest puts
 * before a frame (virtio spec 1.2 section 5.1.6), checked against the
 * frame, and the work it asks for done in software for back ends that
 * carry only real frames (NAT, a switch port, a plain tap).
 *
 * net_offload_check trusts nothing in the header: every offset and
 * length is compared with the frame and with the headers in it, and a
 * header that lies is refused with the kind of lie (enum
 * net_hdr_fault), never acted on.  net_offload_emit then completes the
 * checksum (NEEDS_CSUM) or cuts a TSO frame into MTU-sized TCP segments,
 * each with its own IP length, IPv4 id and checksum, TCP sequence number
 * and checksum, and hands each to a callback.
 */
#ifndef VM_NET_OFFLOAD_H
#define VM_NET_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#define NET_VNET_HDR_LEN 12             /* VERSION_1: with num_buffers */

#define NET_VNET_F_NEEDS_CSUM 1
#define NET_VNET_F_DATA_VALID 2
#define NET_GSO_NONE 0
#define NET_GSO_TCPV4 1
#define NET_GSO_UDP 3
#define NET_GSO_TCPV6 4
#define NET_GSO_ECN 0x80

/* The largest IP packet a TSO segment may make (jumbo frames). */
#define NET_GSO_MTU_MAX 9000
/* The smallest gso_size (Linux never sends a smaller MSS). */
#define NET_GSO_SIZE_MIN 48

/* What the guest negotiated, so what its headers may ask for. */
#define NET_OFF_CSUM 1u
#define NET_OFF_TSO4 2u
#define NET_OFF_TSO6 4u

struct net_vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

/* Why a header was refused. */
enum net_hdr_fault {
	NET_HDR_OK,
	NET_HDR_FLAGS,          /* unknown flags, or DATA_VALID on transmit */
	NET_HDR_CSUM_UNASKED,   /* NEEDS_CSUM without the CSUM feature */
	NET_HDR_CSUM_START,     /* csum_start inside Ethernet or past the frame */
	NET_HDR_CSUM_OFFSET,    /* the checksum field past the frame */
	NET_HDR_GSO_TYPE,       /* unknown, UDP, ECN or not negotiated */
	NET_HDR_GSO_NO_CSUM,    /* TSO without NEEDS_CSUM */
	NET_HDR_GSO_SIZE,       /* gso_size too small, or segments too big */
	NET_HDR_HDR_LEN,        /* hdr_len past the frame */
	NET_HDR_L3_TYPE,        /* the EtherType is not the gso_type's IP */
	NET_HDR_IP_HDR,         /* bad IP version/IHL, or header past frame */
	NET_HDR_IP_LEN,         /* IP length past the frame or below headers */
	NET_HDR_L4_PROTO,       /* not TCP (no extension headers), or a fragment */
	NET_HDR_L4_START,       /* csum_start/offset not TCP's checksum */
	NET_HDR_TCP_HDR,        /* bad data offset, or TCP header past the IP */
	NET_HDR_NFAULTS
};

/* A short phrase for a fault ("csum_start outside the frame"). */
const char *net_hdr_fault_name(enum net_hdr_fault f);

/* The little-endian header at b (NET_VNET_HDR_LEN bytes). */
void net_vnet_hdr_get(const uint8_t *b, struct net_vnet_hdr *h);
void net_vnet_hdr_put(uint8_t *b, const struct net_vnet_hdr *h);

/* Where the headers of a checked TSO frame are. */
struct net_gso_info {
	size_t l3, l4, hdrs;    /* IP header, TCP header, payload offsets */
	size_t end;             /* the end of the IP packet (<= frame len) */
	int v6;
};

/* Check h against the frame f of len bytes (14 <= len <= NET_FRAME_MAX)
 * for a guest that negotiated allowed (NET_OFF_*): NET_HDR_OK and gi
 * filled in, or the fault. */
enum net_hdr_fault net_offload_check(const struct net_vnet_hdr *h,
    const uint8_t *f, size_t len, unsigned allowed, struct net_gso_info *gi);

typedef void (*net_frame_fn)(void *opaque, const void *frame, size_t len);

/* Do what a checked header asks: f (writable) goes to out as it is, with
 * its checksum completed, or as TSO segments.  The number of frames. */
unsigned net_offload_emit(const struct net_vnet_hdr *h,
    const struct net_gso_info *gi, uint8_t *f, size_t len,
    net_frame_fn out, void *opaque);

/* The ones' complement sum of len bytes at p added to sum (not folded,
 * not inverted), and the folded, inverted checksum of a sum. */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t net_csum_fold(uint32_t sum);

#endif
