/*
 * A small DHCP server (RFC 2131, IPv4 over Ethernet) for a host-only
 * network: it leases addresses of one subnet by client MAC and offers no
 * router and no DNS server, so its clients reach each other and nothing
 * else.  It also answers ARP for its own address.  Pure: a frame in, at
 * most one frame out; every field of the frame is checked before use.
 */
#ifndef VM_NET_DHCPD_H
#define VM_NET_DHCPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCPD_LEASES 64
#define DHCPD_LEASE_SECS 86400u
/* A reply never needs more than this. */
#define DHCPD_REPLY_MAX 400

struct dhcpd {
	uint32_t net, mask, server;     /* host byte order */
	uint32_t first;                 /* the first address leased */
	int pool;                       /* how many from first */
	uint8_t mac[6];                 /* the server's */
	struct {
		uint8_t mac[6];
		bool used;
	} lease[DHCPD_LEASES];
	uint64_t offers, acks, naks, bad;
};

/* net/prefix: the subnet (prefix 16 to 29); the server takes its last
 * usable address and leases from the 100th (or the 2nd, in a small one).
 * 0, or -1 when prefix is out of range. */
int dhcpd_init(struct dhcpd *d, uint32_t net, int prefix,
    const uint8_t mac[6]);
/* One Ethernet frame seen on the network: the length of the reply built
 * in out (at least DHCPD_REPLY_MAX bytes), or 0 when there is none. */
size_t dhcpd_input(struct dhcpd *d, const uint8_t *f, size_t len,
    uint8_t *out);
struct vm_err;
/* The leases kept in path across restarts: lines "MAC ADDRESS" (and
 * '#' comments).  dhcpd_leases_load takes them into d (a missing file
 * is no lease; an address outside d's pool, after a change of subnet, is
 * forgotten with a warning): 0, or -errno with err naming path:line and
 * what is wrong (d unchanged).  dhcpd_leases_save writes d's leases to a
 * temporary file renamed over path: 0 or -errno with err set. */
int dhcpd_leases_load(struct dhcpd *d, const char *path, struct vm_err *err);
int dhcpd_leases_save(const struct dhcpd *d, const char *path,
    struct vm_err *err);

/* "a.b.c.d/p" into net (host order, host bits cleared) and prefix: 0 or
 * -1. */
int dhcpd_parse_subnet(const char *s, uint32_t *net, int *prefix);

#endif
