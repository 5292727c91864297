/* The network back ends' shared parsing: forward rules, MACs, specs. */
#include <arpa/inet.h>
#include <errno.h>

#include "net/net.h"
#include "net/offload.h"
#include "test.h"
#include "util/err.h"

TEST(forward_rules)
{
	struct vm_err err = { 0 };
	uint16_t hp = 0, gp = 0;
	uint32_t addr = 0;
	int udp = -1;

	EXPECT_EQ(net_parse_forward("tcp:8080:80", &udp, &addr, &hp, &gp,
	    &err), 0);
	EXPECT_EQ(udp, 0);
	EXPECT_EQ(addr, htonl(INADDR_LOOPBACK));
	EXPECT_EQ(hp, 8080);
	EXPECT_EQ(gp, 80);
	EXPECT_EQ(net_parse_forward("udp:0.0.0.0:5353:53", &udp, &addr, &hp,
	    &gp, &err), 0);
	EXPECT_EQ(udp, 1);
	EXPECT_EQ(addr, 0);
	EXPECT_EQ(hp, 5353);
	EXPECT_EQ(gp, 53);
}

TEST(forward_rules_refused)
{
	static const char *const bad[] = { "", "tcp", "tcp:80", "tcp:0:80",
		"tcp:80:65536", "tcp:80:8x", "icmp:1:2", "tcp:a.b.c.d:1:2",
		"tcp:1:2:3:4", "tcp::80", "tcp:80:", "TCP:1:2",
		"tcp:1.2.3.4:", "tcp:999999999999:1" };
	struct vm_err err = { 0 };
	uint16_t hp, gp;
	uint32_t addr;
	unsigned i;
	int udp;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.code = 0;
		EXPECT_EQ(net_parse_forward(bad[i], &udp, &addr, &hp, &gp,
		    &err), -EINVAL);
		EXPECT_TRUE(strstr(err.msg, "forward") != NULL);
	}
}

TEST(mac_derived_is_stable_local_unicast)
{
	uint8_t a[6], b[6], c[6];

	net_mac_derive("web", 0, a);
	net_mac_derive("web", 0, b);
	net_mac_derive("web", 1, c);
	EXPECT_EQ(memcmp(a, b, 6), 0);
	EXPECT_TRUE(memcmp(a, c, 6) != 0);
	EXPECT_EQ(a[0], 0x52);
	EXPECT_EQ(a[1], 0x54);
	EXPECT_EQ(a[2], 0x00);
	net_mac_derive("db", 0, b);
	EXPECT_TRUE(memcmp(a, b, 6) != 0);
}

TEST(mac_parse)
{
	uint8_t m[6];

	EXPECT_EQ(net_mac_parse("52:54:00:12:34:ab", m), 0);
	EXPECT_EQ(m[5], 0xab);
	EXPECT_EQ(net_mac_parse("01:00:5e:00:00:01", m), -EINVAL);
	EXPECT_EQ(net_mac_parse("52:54:00:12:34", m), -EINVAL);
	EXPECT_EQ(net_mac_parse("52:54:00:12:34:ab:cd", m), -EINVAL);
	EXPECT_EQ(net_mac_parse("52-54-00-12-34-ab", m), -EINVAL);
}

TEST(specs)
{
	struct vm_err err = { 0 };

	EXPECT_EQ(net_check_spec("nat", &err), 0);
	EXPECT_EQ(net_check_spec("switch:lan0", &err), 0);
	EXPECT_EQ(net_check_spec("switch:", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("nat:x", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("tap:tap0", &err), 0);
	EXPECT_EQ(net_check_spec("tap:", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("tap:a/b", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("tap:abcdefghijklmnop", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("tap:abcdefghijklmno", &err), 0);
	EXPECT_EQ(net_check_spec("bogus", &err), -EINVAL);
	EXPECT_EQ(net_check_spec("", &err), -EINVAL);
}

TEST(rx_queue)
{
	struct net_rxq q = { 0 };
	const struct net_rxq_frame *f;
	uint8_t b[3];
	int i;

	EXPECT_TRUE(net_rxq_peek(&q) == NULL);
	for (i = 0; i < NET_RXQ_MAX; i++) {
		b[0] = (uint8_t)i;
		EXPECT_EQ(net_rxq_push(&q, b, 1 + (size_t)(i % 3)), 0);
	}
	EXPECT_EQ(net_rxq_push(&q, b, 1), -1);
	for (i = 0; i < 10; i++) {
		f = net_rxq_peek(&q);
		EXPECT_TRUE(f != NULL && f->data[0] == i &&
		    f->len == 1 + (size_t)(i % 3));
		net_rxq_pop(&q);
	}
	EXPECT_EQ(net_rxq_push(&q, b, 1), 0);
	EXPECT_EQ((int)q.count, NET_RXQ_MAX - 9);
	net_rxq_clear(&q);
	EXPECT_TRUE(net_rxq_peek(&q) == NULL);
	EXPECT_EQ((int)q.count, 0);
}

TEST(switch_names)
{
	struct vm_err err = { 0 };
	char p[108];

	EXPECT_EQ(net_switch_path("lan-0.a_b", "sock", p, sizeof(p), 0,
	    &err), 0);
	EXPECT_TRUE(strstr(p, "/lan-0.a_b.sock") != NULL);
	EXPECT_EQ(net_switch_path("../x", "sock", p, sizeof(p), 0, &err),
	    -EINVAL);
	EXPECT_EQ(net_switch_path(".hidden", "sock", p, sizeof(p), 0, &err),
	    -EINVAL);
	EXPECT_EQ(net_switch_path("", "sock", p, sizeof(p), 0, &err),
	    -EINVAL);
	EXPECT_EQ(net_switch_path("a/b", "sock", p, sizeof(p), 0, &err),
	    -EINVAL);
}

/* A TCP/IPv4 frame of n payload bytes, 10.0.0.1 -> 10.0.0.2, seq 1000,
 * PSH|ACK|FIN, its checksum field the pseudo-header's sum (no length). */
static size_t
tcp4_frame(uint8_t *f, size_t n)
{
	size_t i;

	memset(f, 0, 54);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((40 + n) >> 8);
	f[17] = (uint8_t)(40 + n);
	f[18] = 0x12;
	f[19] = 0x34;
	f[22] = 64;
	f[23] = 6;
	f[26] = 10, f[29] = 1, f[30] = 10, f[33] = 2;
	f[38] = 0, f[39] = 0, f[40] = 0x03, f[41] = 0xe8;
	f[46] = 5 << 4;
	f[47] = 0x19;
	for (i = 0; i < n; i++)
		f[54 + i] = (uint8_t)(i * 7);
	return 54 + n;
}

struct segs {
	unsigned n;
	size_t len[8];
	uint8_t f[8][1600];
};

static void
collect(void *opaque, const void *frame, size_t len)
{
	struct segs *s = opaque;

	if (s->n < 8 && len <= sizeof(s->f[0])) {
		memcpy(s->f[s->n], frame, len);
		s->len[s->n] = len;
	}
	s->n++;
}

TEST(offload_tso4_segments)
{
	static uint8_t f[4000];
	static struct segs s;
	struct net_vnet_hdr h = { NET_VNET_F_NEEDS_CSUM, NET_GSO_TCPV4, 54,
		1000, 34, 16, 0 };
	struct net_gso_info gi;
	size_t len = tcp4_frame(f, 2500);
	unsigned i;
	uint32_t sum;

	EXPECT_EQ(net_offload_check(&h, f, len, NET_OFF_CSUM | NET_OFF_TSO4,
	    &gi), NET_HDR_OK);
	EXPECT_EQ(net_offload_emit(&h, &gi, f, len, collect, &s), 3);
	EXPECT_EQ(s.n, 3);
	for (i = 0; i < 3; i++) {
		const uint8_t *g = s.f[i];
		size_t pl = i < 2 ? 1000 : 500;

		EXPECT_EQ(s.len[i], 54 + pl);
		EXPECT_EQ((size_t)(g[16] << 8 | g[17]), 40 + pl);
		EXPECT_EQ(g[19], 0x34 + i);
		EXPECT_EQ(net_csum_fold(net_csum_add(0, g + 14, 20)), 0);
		sum = net_csum_add(0, g + 26, 8) + 6 + (uint32_t)(20 + pl);
		EXPECT_EQ(net_csum_fold(net_csum_add(sum, g + 34, 20 + pl)),
		    0);
		EXPECT_EQ((uint32_t)(g[38] << 24 | g[39] << 16 | g[40] << 8 |
		    g[41]), 1000 + 1000 * i);
		EXPECT_EQ(g[47], i < 2 ? 0x10 : 0x19);
		EXPECT_EQ(memcmp(g + 54, f + 54 + 1000 * i, pl), 0);
	}
}

TEST(offload_lies_refused)
{
	static uint8_t f[4000];
	struct net_vnet_hdr h = { NET_VNET_F_NEEDS_CSUM, NET_GSO_TCPV4, 54,
		1000, 34, 16, 0 }, b;
	struct net_gso_info gi;
	size_t len = tcp4_frame(f, 2500);
	unsigned all = NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6;

	b = h, b.gso_size = 10;
	EXPECT_EQ(net_offload_check(&b, f, len, all, &gi), NET_HDR_GSO_SIZE);
	b = h, b.gso_size = 8961;
	EXPECT_EQ(net_offload_check(&b, f, len, all, &gi), NET_HDR_GSO_SIZE);
	b = h, b.gso_size = 8960;
	EXPECT_EQ(net_offload_check(&b, f, len, all, &gi), NET_HDR_OK);
	EXPECT_EQ(net_offload_check(&h, f, len, NET_OFF_CSUM, &gi),
	    NET_HDR_GSO_TYPE);
	b = h, b.csum_offset = 0xffff;
	EXPECT_EQ(net_offload_check(&b, f, len, all, &gi),
	    NET_HDR_CSUM_OFFSET);
	b = h, b.csum_start = (uint16_t)len;
	EXPECT_EQ(net_offload_check(&b, f, len, all, &gi), NET_HDR_CSUM_START);
	/* An IP length one byte past the frame. */
	f[16] = (uint8_t)((len - 14 + 1) >> 8);
	f[17] = (uint8_t)(len - 14 + 1);
	EXPECT_EQ(net_offload_check(&h, f, len, all, &gi), NET_HDR_IP_LEN);
	/* A header cut short: the frame ends inside the TCP header. */
	len = tcp4_frame(f, 0);
	f[17] = 40;
	h.hdr_len = 0;
	EXPECT_EQ(net_offload_check(&h, f, 50, all, &gi),
	    NET_HDR_CSUM_OFFSET);
	EXPECT_EQ(net_offload_check(&h, f, 53, all, &gi), NET_HDR_IP_LEN);
	EXPECT_EQ(net_offload_check(&h, f, 54, all, &gi), NET_HDR_OK);
}
