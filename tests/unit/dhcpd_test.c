/* The host-only DHCP server: the exchange, and what it makes of frames
 * that are cut short, lie about their lengths or are noise. */
#include <string.h>

#include "net/dhcpd.h"
#include "test.h"

static const uint8_t srv_mac[6] = { 0x52, 0x54, 0, 0xee, 0xee, 0xee };

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned
get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* A DHCP message of type t from client c (MAC 52:54:00:00:00:c), with
 * the requested address req and server id sid when not 0: its length. */
static size_t
client_msg(uint8_t *f, int t, int c, uint32_t req, uint32_t sid)
{
	uint8_t *ih = f + 14, *uh = ih + 20, *b = uh + 8, *o;
	size_t blen;

	memset(f, 0, 600);
	memset(f, 0xff, 6);
	f[6] = 0x52; f[7] = 0x54; f[11] = (uint8_t)c;
	put16(f + 12, 0x0800);
	b[0] = 1; b[1] = 1; b[2] = 6;
	b[4] = 0xde; b[5] = 0xad; b[6] = 0xbe; b[7] = (uint8_t)c;
	b[28] = 0x52; b[29] = 0x54; b[33] = (uint8_t)c;
	b[236] = 0x63; b[237] = 0x82; b[238] = 0x53; b[239] = 0x63;
	o = b + 240;
	*o++ = 53; *o++ = 1; *o++ = (uint8_t)t;
	if (req) {
		*o++ = 50; *o++ = 4;
		*o++ = (uint8_t)(req >> 24); *o++ = (uint8_t)(req >> 16);
		*o++ = (uint8_t)(req >> 8); *o++ = (uint8_t)req;
	}
	if (sid) {
		*o++ = 54; *o++ = 4;
		*o++ = (uint8_t)(sid >> 24); *o++ = (uint8_t)(sid >> 16);
		*o++ = (uint8_t)(sid >> 8); *o++ = (uint8_t)sid;
	}
	*o++ = 255;
	blen = (size_t)(o - b);
	put16(uh, 68);
	put16(uh + 2, 67);
	put16(uh + 4, (unsigned)(8 + blen));
	ih[0] = 0x45;
	put16(ih + 2, (unsigned)(28 + blen));
	ih[8] = 64;
	ih[9] = 17;
	memset(ih + 16, 0xff, 4);
	return 14 + 28 + blen;
}

/* The DHCP message type of reply r, 0 if none. */
static int
reply_type(const uint8_t *r, size_t n)
{
	size_t i = 14 + 28 + 240;

	while (i + 2 < n && r[i] != 255) {
		if (r[i] == 53)
			return r[i + 2];
		i += 2 + r[i + 1];
	}
	return 0;
}

#define NET 0xc0a83800u                 /* 192.168.56.0 */

TEST(exchange)
{
	static struct dhcpd d;
	uint8_t f[600], r[DHCPD_REPLY_MAX];
	size_t n;

	EXPECT_EQ(dhcpd_init(&d, NET, 24, srv_mac), 0);
	EXPECT_EQ(d.server, NET + 254);
	n = dhcpd_input(&d, f, client_msg(f, 1, 1, 0, 0), r);
	EXPECT_TRUE(n >= 14 + 28 + 300);
	EXPECT_EQ(reply_type(r, n), 2);                 /* OFFER */
	EXPECT_EQ(get32(r + 14 + 28 + 16), NET + 100);  /* yiaddr */
	EXPECT_EQ(get32(r + 14 + 12), NET + 254);       /* IP source */
	EXPECT_EQ(get16(r + 14 + 20 + 2), 68);
	/* the IP header checksum adds up */
	{
		uint32_t sum = 0;
		int i;

		for (i = 0; i < 20; i += 2)
			sum += get16(r + 14 + i);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		EXPECT_EQ(sum, 0xffff);
	}
	n = dhcpd_input(&d, f, client_msg(f, 3, 1, NET + 100, NET + 254), r);
	EXPECT_EQ(reply_type(r, n), 5);                 /* ACK */
	/* a second client gets the next address, the first keeps its own */
	n = dhcpd_input(&d, f, client_msg(f, 1, 2, 0, 0), r);
	EXPECT_EQ(get32(r + 14 + 28 + 16), NET + 101);
	n = dhcpd_input(&d, f, client_msg(f, 1, 1, 0, 0), r);
	EXPECT_EQ(get32(r + 14 + 28 + 16), NET + 100);
	/* asking for another's address: NAK; for another server: silence */
	n = dhcpd_input(&d, f, client_msg(f, 3, 2, NET + 100, 0), r);
	EXPECT_EQ(reply_type(r, n), 6);
	EXPECT_EQ(dhcpd_input(&d, f, client_msg(f, 3, 2, NET + 101,
	    NET + 1), r), 0);
	/* no router (3) and no DNS (6) among the options of an ACK */
	n = dhcpd_input(&d, f, client_msg(f, 3, 2, NET + 101, 0), r);
	EXPECT_EQ(reply_type(r, n), 5);
	{
		size_t i = 14 + 28 + 240;

		while (i + 2 < n && r[i] != 255) {
			EXPECT_TRUE(r[i] != 3 && r[i] != 6);
			i += 2 + r[i + 1];
		}
	}
}

TEST(arp_for_the_server)
{
	static struct dhcpd d;
	uint8_t f[60] = { 0 }, r[DHCPD_REPLY_MAX];

	dhcpd_init(&d, NET, 24, srv_mac);
	memset(f, 0xff, 6);
	f[6] = 0x52; f[11] = 9;
	put16(f + 12, 0x0806);
	put16(f + 14, 1); put16(f + 16, 0x0800); f[18] = 6; f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, f + 6, 6);
	f[28] = 192; f[29] = 168; f[30] = 56; f[31] = 100;
	f[38] = 192; f[39] = 168; f[40] = 56; f[41] = 254;
	EXPECT_EQ(dhcpd_input(&d, f, sizeof(f), r), 60);
	EXPECT_EQ(get16(r + 20), 2);
	EXPECT_TRUE(memcmp(r + 22, srv_mac, 6) == 0);
	EXPECT_TRUE(memcmp(r, f + 6, 6) == 0);
	f[41] = 1;                      /* someone else's address */
	EXPECT_EQ(dhcpd_input(&d, f, sizeof(f), r), 0);
	EXPECT_EQ(dhcpd_input(&d, f, 41, r), 0);
}

TEST(truncated_lying_and_noise)
{
	static struct dhcpd d;
	uint8_t f[600], g[600], r[DHCPD_REPLY_MAX];
	uint32_t x = 12345;
	size_t len, n, i;
	int k;

	dhcpd_init(&d, NET, 24, srv_mac);
	len = client_msg(f, 1, 3, 0, 0);
	/* every cut of a DISCOVER short of the end of its options: no
	 * reply (the IP length then runs past the frame) */
	for (n = 0; n < len; n++)
		EXPECT_EQ(dhcpd_input(&d, f, n, r), 0);
	/* an option that runs past the message */
	client_msg(g, 1, 4, 0, 0);
	g[14 + 28 + 240 + 3] = 50;
	g[14 + 28 + 240 + 4] = 200;
	EXPECT_EQ(dhcpd_input(&d, g, len, r), 0);
	EXPECT_TRUE(d.bad > 0);
	/* a UDP length beyond the IP packet */
	client_msg(g, 1, 4, 0, 0);
	put16(g + 14 + 20 + 4, 2000);
	EXPECT_EQ(dhcpd_input(&d, g, len, r), 0);
	/* a fragment, an IHL of 15 with no options there, a group chaddr */
	client_msg(g, 1, 4, 0, 0);
	put16(g + 14 + 6, 0x2000);
	EXPECT_EQ(dhcpd_input(&d, g, len, r), 0);
	client_msg(g, 1, 4, 0, 0);
	g[14] = 0x4f;
	EXPECT_EQ(dhcpd_input(&d, g, len, r), 0);
	client_msg(g, 1, 4, 0, 0);
	g[14 + 28 + 28] = 0x01;
	EXPECT_EQ(dhcpd_input(&d, g, len, r), 0);
	/* noise, and a valid message with random bytes flipped: whatever
	 * comes back fits the buffer (the sanitizers watch the rest) */
	for (k = 0; k < 20000; k++) {
		memcpy(g, f, len);
		for (i = 0; i < 8; i++) {
			x = x * 1103515245u + 12345u;
			g[(x >> 8) % len] = (uint8_t)(x >> 20);
		}
		n = dhcpd_input(&d, g, (x >> 4) % (len + 1), r);
		EXPECT_TRUE(n <= DHCPD_REPLY_MAX);
	}
	/* the pool runs out: 64 leases, then silence */
	dhcpd_init(&d, NET, 24, srv_mac);
	for (k = 0; k < 70; k++) {
		n = dhcpd_input(&d, f, client_msg(f, 1, 10 + k, 0, 0), r);
		EXPECT_EQ(n != 0, k < DHCPD_LEASES);
	}
}

TEST(subnets)
{
	static struct dhcpd d;
	uint32_t net;
	int p;

	EXPECT_EQ(dhcpd_parse_subnet("192.168.77.9/24", &net, &p), 0);
	EXPECT_EQ(net, 0xc0a84d00u);
	EXPECT_EQ(p, 24);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0.0/8", &net, &p), -1);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0.0/30", &net, &p), -1);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0.0", &net, &p), -1);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0.0/24x", &net, &p), -1);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0/24", &net, &p), -1);
	EXPECT_EQ(dhcpd_parse_subnet("10.0.0.0/", &net, &p), -1);
	dhcpd_init(&d, 0x0a000000u, 29, srv_mac);
	EXPECT_EQ(d.server, 0x0a000006u);
	EXPECT_EQ(d.first, 0x0a000002u);
	EXPECT_EQ(d.pool, 4);
	EXPECT_EQ(dhcpd_init(&d, 0, 30, srv_mac), -1);
}
