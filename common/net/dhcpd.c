/*
 * The host-only network's DHCP server: DISCOVER gets an OFFER, REQUEST an
 * ACK (or a NAK for an address that is not the client's), RELEASE frees
 * the lease; ARP requests for the server's address get a reply.  Replies
 * go to the Ethernet and IP broadcast addresses, which every client
 * accepts before it has an address (RFC 2131 4.1).  Leases are by client
 * hardware address and last as long as the server.
 */
#include "net/dhcpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "util/err.h"
#include "util/log.h"

#define ETH_HLEN 14
#define BOOTP_FIXED 236
#define BOOTP_MIN 300                   /* RFC 1542's minimum message */
#define DHCP_MAGIC 0x63825363u

enum {
	DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6,
	RELEASE = 7,
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
dhcpd_init(struct dhcpd *d, uint32_t net, int prefix, const uint8_t mac[6])
{
	uint32_t size;

	if (prefix < 16 || prefix > 29)
		return -1;
	memset(d, 0, sizeof(*d));
	d->mask = ~0u << (32 - prefix);
	d->net = net & d->mask;
	size = ~d->mask + 1;            /* addresses in the subnet */
	d->server = d->net + size - 2;  /* the last usable one */
	d->first = d->net + (size >= 128 ? 100 : 2);
	if (d->first >= d->server)
		d->first = d->net + 1;
	d->pool = (int)(d->server - d->first);
	if (d->pool > DHCPD_LEASES)
		d->pool = DHCPD_LEASES;
	memcpy(d->mac, mac, 6);
	return 0;
}

int
dhcpd_parse_subnet(const char *s, uint32_t *net, int *prefix)
{
	char addr[32];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	char *end;
	long p;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return -1;
	if (slash[1] < '0' || slash[1] > '9')
		return -1;
	p = strtol(slash + 1, &end, 10);
	if (*end != '\0' || p < 16 || p > 29)
		return -1;
	*prefix = (int)p;
	*net = ntohl(in.s_addr) & (~0u << (32 - p));
	return 0;
}

static int
lease_find(struct dhcpd *d, const uint8_t *mac)
{
	int i;

	for (i = 0; i < d->pool; i++)
		if (d->lease[i].used && memcmp(d->lease[i].mac, mac, 6) == 0)
			return i;
	return -1;
}

static int
lease_new(struct dhcpd *d, const uint8_t *mac)
{
	int i = lease_find(d, mac);

	if (i >= 0)
		return i;
	for (i = 0; i < d->pool; i++)
		if (!d->lease[i].used) {
			d->lease[i].used = true;
			memcpy(d->lease[i].mac, mac, 6);
			return i;
		}
	return -1;
}

static uint16_t
ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t
arp_input(struct dhcpd *d, const uint8_t *f, size_t len, uint8_t *out)
{
	const uint8_t *a = f + ETH_HLEN;

	if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != 0x0800 ||
	    a[4] != 6 || a[5] != 4 || get16(a + 6) != 1 ||
	    get32(a + 24) != d->server || (a[8] & 1))
		return 0;
	memcpy(out, a + 8, 6);
	memcpy(out + 6, d->mac, 6);
	put16(out + 12, 0x0806);
	put16(out + 14, 1);
	put16(out + 16, 0x0800);
	out[18] = 6;
	out[19] = 4;
	put16(out + 20, 2);
	memcpy(out + 22, d->mac, 6);
	put32(out + 28, d->server);
	memcpy(out + 32, a + 8, 10);    /* the asker's MAC and address */
	memset(out + 42, 0, 18);        /* padded to the 60-byte minimum */
	return 60;
}

/* Build the reply of type t (yiaddr ip) to the BOOTP message b. */
static size_t
reply(struct dhcpd *d, const uint8_t *b, int t, uint32_t ip, uint8_t *out)
{
	uint8_t *ih = out + ETH_HLEN, *uh = ih + 20, *r = uh + 8, *o;
	size_t blen, ulen;

	memset(out, 0, ETH_HLEN + 20 + 8 + BOOTP_MIN);
	memset(out, 0xff, 6);
	memcpy(out + 6, d->mac, 6);
	put16(out + 12, 0x0800);
	r[0] = 2;                       /* BOOTREPLY */
	r[1] = 1;
	r[2] = 6;
	memcpy(r + 4, b + 4, 4);        /* xid */
	memcpy(r + 10, b + 10, 2);      /* flags */
	put32(r + 16, ip);              /* yiaddr */
	put32(r + 20, t == NAK ? 0 : d->server); /* siaddr */
	memcpy(r + 24, b + 24, 4);      /* giaddr */
	memcpy(r + 28, b + 28, 16);     /* chaddr */
	put32(r + BOOTP_FIXED, DHCP_MAGIC);
	o = r + BOOTP_FIXED + 4;
	*o++ = 53; *o++ = 1; *o++ = (uint8_t)t;
	*o++ = 54; *o++ = 4; put32(o, d->server); o += 4;
	if (t != NAK) {
		*o++ = 51; *o++ = 4; put32(o, DHCPD_LEASE_SECS); o += 4;
		*o++ = 1; *o++ = 4; put32(o, d->mask); o += 4;
	}
	*o++ = 255;
	blen = (size_t)(o - r);
	if (blen < BOOTP_MIN)
		blen = BOOTP_MIN;
	ulen = 8 + blen;
	put16(uh, 67);
	put16(uh + 2, 68);
	put16(uh + 4, (uint16_t)ulen);  /* checksum 0: none (RFC 768) */
	ih[0] = 0x45;
	put16(ih + 2, (uint16_t)(20 + ulen));
	ih[8] = 64;
	ih[9] = 17;
	put32(ih + 12, d->server);
	put32(ih + 16, 0xffffffffu);
	put16(ih + 10, ip_csum(ih, 20));
	if (t == OFFER)
		d->offers++;
	else if (t == ACK)
		d->acks++;
	else
		d->naks++;
	return ETH_HLEN + 20 + ulen;
}

size_t
dhcpd_input(struct dhcpd *d, const uint8_t *f, size_t len, uint8_t *out)
{
	const uint8_t *ih, *uh, *b, *opt;
	size_t ihl, tot, ulen, blen, i;
	uint32_t req = 0, sid = 0;
	int type = 0, l;

	if (len < ETH_HLEN)
		return 0;
	if (get16(f + 12) == 0x0806)
		return arp_input(d, f, len, out);
	if (get16(f + 12) != 0x0800 || len < ETH_HLEN + 20 + 8)
		return 0;
	ih = f + ETH_HLEN;
	ihl = (size_t)(ih[0] & 15) * 4;
	tot = get16(ih + 2);
	if ((ih[0] >> 4) != 4 || ihl < 20 || tot < ihl + 8 ||
	    tot > len - ETH_HLEN || ih[9] != 17 ||
	    (get16(ih + 6) & 0x3fff) != 0)
		return 0;               /* not IPv4/UDP, or a fragment */
	uh = ih + ihl;
	if (get16(uh + 2) != 67)
		return 0;
	ulen = get16(uh + 4);
	if (ulen < 8 || ulen > tot - ihl) {
		d->bad++;
		return 0;
	}
	b = uh + 8;
	blen = ulen - 8;
	if (blen < BOOTP_FIXED + 4 || b[0] != 1 || b[1] != 1 || b[2] != 6 ||
	    get32(b + BOOTP_FIXED) != DHCP_MAGIC || (b[28] & 1)) {
		d->bad++;
		return 0;
	}
	opt = b + BOOTP_FIXED + 4;
	blen -= BOOTP_FIXED + 4;
	for (i = 0; i < blen; ) {
		if (opt[i] == 0) {
			i++;
			continue;
		}
		if (opt[i] == 255)
			break;
		if (i + 2 > blen || i + 2 + opt[i + 1] > blen) {
			d->bad++;
			return 0;       /* an option runs past the end */
		}
		l = opt[i + 1];
		if (opt[i] == 53 && l == 1)
			type = opt[i + 2];
		else if (opt[i] == 50 && l == 4)
			req = get32(opt + i + 2);
		else if (opt[i] == 54 && l == 4)
			sid = get32(opt + i + 2);
		i += 2 + (size_t)l;
	}
	switch (type) {
	case DISCOVER:
		l = lease_new(d, b + 28);
		if (l < 0)
			return 0;       /* the pool is used up */
		return reply(d, b, OFFER, d->first + (uint32_t)l, out);
	case REQUEST:
		if (sid != 0 && sid != d->server)
			return 0;       /* the client took another offer */
		if (req == 0)
			req = get32(b + 12);    /* renewing: ciaddr */
		l = lease_new(d, b + 28);
		if (l >= 0 && req == d->first + (uint32_t)l)
			return reply(d, b, ACK, req, out);
		return reply(d, b, NAK, 0, out);
	case RELEASE:
		l = lease_find(d, b + 28);
		if (l >= 0 && get32(b + 12) == d->first + (uint32_t)l)
			d->lease[l].used = false;
		return 0;
	case DECLINE:
	default:
		return 0;
	}
}

int
dhcpd_leases_load(struct dhcpd *d, const char *path, struct vm_err *err)
{
	struct dhcpd tmp = *d;
	char line[128], macs[32], addrs[32], extra;
	struct in_addr in;
	uint8_t mac[6];
	uint32_t a;
	FILE *f;
	int n = 0, i, fields, ret = 0;

	f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 :
		    vm_err_errno(err, -errno, "%s", path);
	for (i = 0; i < tmp.pool; i++)
		tmp.lease[i].used = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ret = vm_err_set(err, -EINVAL, "%s:%d: a line longer "
			    "than %zu bytes", path, n, sizeof(line) - 2);
			goto out;
		}
		if (line[strspn(line, " \t\n")] == '\0' ||
		    line[strspn(line, " \t")] == '#')
			continue;
		fields = sscanf(line, "%31s %31s %c", macs, addrs, &extra);
		if (fields != 2 || net_mac_parse(macs, mac) < 0 ||
		    inet_pton(AF_INET, addrs, &in) != 1) {
			ret = vm_err_set(err, -EINVAL, "%s:%d: not 'MAC "
			    "ADDRESS' (a unicast MAC, an IPv4 address)", path,
			    n);
			goto out;
		}
		a = ntohl(in.s_addr);
		if (a < tmp.first || a - tmp.first >= (uint32_t)tmp.pool) {
			log_warnx("%s:%d: %s is outside this network's leases "
			    "(a new --subnet?): forgotten", path, n, addrs);
			continue;
		}
		i = (int)(a - tmp.first);
		if (tmp.lease[i].used || lease_find(&tmp, mac) >= 0) {
			ret = vm_err_set(err, -EINVAL, "%s:%d: %s or %s is "
			    "leased twice", path, n, macs, addrs);
			goto out;
		}
		tmp.lease[i].used = true;
		memcpy(tmp.lease[i].mac, mac, 6);
	}
	if (ferror(f))
		ret = vm_err_errno(err, -EIO, "%s: read", path);
	else
		*d = tmp;
out:
	fclose(f);
	return ret;
}

int
dhcpd_leases_save(const struct dhcpd *d, const char *path,
    struct vm_err *err)
{
	char tmp[4096];
	struct in_addr in;
	const uint8_t *m;
	FILE *f;
	int i, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return vm_err_set(err, -ENAMETOOLONG, "%s: name too long",
		    path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", tmp);
	fprintf(f, "# vm-net hostonly leases: MAC ADDRESS\n");
	for (i = 0; i < d->pool; i++) {
		if (!d->lease[i].used)
			continue;
		m = d->lease[i].mac;
		in.s_addr = htonl(d->first + (uint32_t)i);
		fprintf(f, "%02x:%02x:%02x:%02x:%02x:%02x %s\n", m[0], m[1],
		    m[2], m[3], m[4], m[5], inet_ntoa(in));
	}
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
		ret = vm_err_errno(err, -errno, "%s", tmp);
		fclose(f);
		unlink(tmp);
		return ret;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		ret = vm_err_errno(err, -errno, "%s", path);
		unlink(tmp);
		return ret;
	}
	return 0;
}
