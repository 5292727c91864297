/* The network back ends' shared parsing: forward rules, MACs, specs. */
#include <arpa/inet.h>
#include <errno.h>

#include "net/net.h"
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
