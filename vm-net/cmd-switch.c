/*
 * vm-net switch NAME: a learning Ethernet switch.
 *
 * Ports are SOCK_SEQPACKET connections to NAME.sock in the runtime
 * directory (net_switch_path), one frame per message.  A frame from a port
 * is checked (14 to NET_FRAME_MAX bytes; anything else is counted as bad
 * on that port and dropped), its source MAC learned for that port (at most
 * PORT_MACS per port, so one port flooding made-up addresses cannot push
 * the others out of the table), and it goes to the port its destination
 * was learned on, or to every other port when the destination is a group
 * address or unknown.  Sends never block: a port that cannot take a frame
 * now loses that frame (counted), never stalls the others.  A port that
 * hangs up is removed and its MACs forgotten.
 *
 * NAME.ctl is a stream socket for one-line commands from vm-net itself:
 * "summary", "status", "status json", "stop", "capture".  Replies and the
 * capture stream (pcap, every frame the switch accepts) go through a
 * bounded buffer per client; a capture reader too slow to keep up loses
 * whole records, never part of one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/dhcpd.h"
#include "net/net.h"
#include "net/offload.h"
#include "net/pcap.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "vm-net.h"

#define MAX_PORTS 64
#define MAX_CLIENTS 16
#define MAC_TABLE 1024
#define PORT_MACS 64
#define CLIENT_BUF (1u << 20)

struct port {
	int fd;
	int id;
	pid_t pid;
	int nmacs;
	bool dead;
	bool trunk;                     /* frames tagged 802.1Q */
	bool vnet;                      /* NET_HELLO_VNET: virtio_net_hdr first */
	uint16_t vlan;                  /* an access port's VLAN */
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	uint64_t tx_dropped, rx_bad, macs_refused, vlan_dropped;
	uint64_t tx_offload;            /* frames sent whole, header and all */
};

struct client {
	int fd;
	bool capture, closing;
	char in[128];
	size_t inlen;
	uint8_t *out;
	size_t outlen;
	uint64_t dropped;
};

struct mac_entry {
	uint8_t mac[6];
	uint16_t vlan;                  /* each VLAN learns on its own */
	int port;                       /* port id; 0 = free */
};

struct sw {
	const char *name;
	char sock_path[108], ctl_path[108], pid_path[160];
	int lfd, cfd;
	struct port ports[MAX_PORTS];
	int nports, next_id;
	struct client clients[MAX_CLIENTS];
	int nclients;
	struct mac_entry macs[MAC_TABLE];
	uint64_t frames, flooded;
	/* hostonly: the DHCP server, a port of the switch's own */
	bool dhcp_on;
	struct dhcpd dhcpd;
	struct port dhcp_port;
	char leases_path[160];          /* NAME.leases, kept across runs */
	bool leases_failed;             /* a save failed (said once) */
	uint8_t buf[NET_VNET_HDR_LEN + NET_FRAME_MAX];
	uint8_t ubuf[NET_FRAME_MAX];    /* a frame from a trunk, untagged */
	uint8_t tbuf[NET_FRAME_MAX + 4];        /* a frame for trunks */
	uint8_t dbuf[DHCPD_REPLY_MAX];  /* the DHCP server's reply */
};

static volatile sig_atomic_t stop_sig;

static void
on_signal(int sig)
{
	stop_sig = sig;
}

static void
usage_hostonly(FILE *f)
{
	fprintf(f,
	    "usage: vm-net hostonly [-d] [--subnet ADDR/PREFIX] [--pidfile FILE] "
	    "NAME\n"
	    "  run a host-only network: a switch (as vm-net switch) with a DHCP\n"
	    "  server that leases addresses of one subnet and offers no router\n"
	    "  and no DNS, so the guests on it reach each other and nothing else;\n"
	    "  its leases are kept in NAME.leases beside the socket, so a\n"
	    "  restarted network hands the same addresses back\n"
	    "\n"
	    "  -d, --detach        go to the background once the switch is ready\n"
	    "  -s, --subnet NET    the subnet, a.b.c.d/16 to /29 (default\n"
	    "                      192.168.56.0/24: server .254, leases from .100)\n"
	    "      --pidfile FILE  write the pid here (default NAME.pid beside the\n"
	    "                      socket)\n"
	    "  -h, --help          show this help and exit\n");
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net switch [-d] [--pidfile FILE] NAME\n"
	    "  run a learning Ethernet switch on a Unix socket under\n"
	    "  $XDG_RUNTIME_DIR/vmkit/net/ (VMs join with vm-run --net switch:NAME)\n"
	    "\n"
	    "  -d, --detach        go to the background once the switch is ready\n"
	    "      --pidfile FILE  write the pid here (default NAME.pid beside the\n"
	    "                      socket)\n"
	    "  -h, --help          show this help and exit\n");
}

static struct port *
port_by_id(struct sw *s, int id)
{
	int i;

	for (i = 0; i < s->nports; i++)
		if (s->ports[i].id == id)
			return &s->ports[i];
	return NULL;
}

static void
forget_port(struct sw *s, int id)
{
	int i;

	for (i = 0; i < MAC_TABLE; i++)
		if (s->macs[i].port == id)
			s->macs[i].port = 0;
}

static unsigned
mac_hash(const uint8_t *m, uint16_t vlan)
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 6; i++)
		h = (h ^ m[i]) * 16777619u;
	h = (h ^ (vlan & 0xff)) * 16777619u;
	h = (h ^ (vlan >> 8)) * 16777619u;
	return h % MAC_TABLE;
}

/* The table slot holding mac on vlan, or NULL. */
static struct mac_entry *
mac_find(struct sw *s, const uint8_t *m, uint16_t vlan)
{
	unsigned h = mac_hash(m, vlan), i;

	for (i = 0; i < 16; i++) {
		struct mac_entry *e = &s->macs[(h + i) % MAC_TABLE];

		if (e->port && e->vlan == vlan && memcmp(e->mac, m, 6) == 0)
			return e;
	}
	return NULL;
}

static void
learn(struct sw *s, struct port *p, const uint8_t *m, uint16_t vlan)
{
	struct mac_entry *e = mac_find(s, m, vlan);
	unsigned h, i;

	if (m[0] & 1)
		return;                 /* a group address is never a source */
	if (e) {
		if (e->port != p->id) {
			struct port *old = port_by_id(s, e->port);

			if (p->nmacs >= PORT_MACS) {
				p->macs_refused++;
				return;
			}
			if (old)
				old->nmacs--;
			e->port = p->id;
			p->nmacs++;
		}
		return;
	}
	if (p->nmacs >= PORT_MACS) {
		p->macs_refused++;
		return;
	}
	h = mac_hash(m, vlan);
	for (i = 0; i < 16; i++) {
		e = &s->macs[(h + i) % MAC_TABLE];
		if (e->port == 0) {
			memcpy(e->mac, m, 6);
			e->vlan = vlan;
			e->port = p->id;
			p->nmacs++;
			return;
		}
	}
	p->macs_refused++;              /* that neighbourhood is full */
}

static void
client_queue(struct client *c, const void *a, size_t alen, const void *b,
    size_t blen)
{
	if (c->closing)
		return;
	if (c->outlen + alen + blen > CLIENT_BUF) {
		c->dropped++;
		return;
	}
	memcpy(c->out + c->outlen, a, alen);
	if (blen)
		memcpy(c->out + c->outlen + alen, b, blen);
	c->outlen += alen + blen;
}

static void
capture(struct sw *s, const uint8_t *f, size_t len)
{
	struct timespec ts;
	uint8_t rec[PCAP_REC_LEN];
	size_t incl;
	int i;

	for (i = 0; i < s->nclients; i++) {
		if (!s->clients[i].capture)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		incl = pcap_rec_header(rec, (uint64_t)ts.tv_sec * 1000000000ULL +
		    (uint64_t)ts.tv_nsec, len);
		client_queue(&s->clients[i], rec, sizeof(rec), f, incl);
	}
}

/* Send frame f to port p, behind hdr (NET_VNET_HDR_LEN bytes; NULL: a
 * zero header) if p takes headers. */
static void
port_send_hdr(struct port *p, const uint8_t *hdr, const uint8_t *f,
    size_t len)
{
	static const uint8_t zero[NET_VNET_HDR_LEN];
	struct iovec iov[2] = {
		{ (void *)(hdr ? hdr : zero), NET_VNET_HDR_LEN },
		{ (void *)f, len },
	};
	struct msghdr m = { .msg_iov = iov + !p->vnet,
		.msg_iovlen = p->vnet ? 2 : 1 };

	if (p->dead || p->fd < 0)
		return;
	if (sendmsg(p->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		p->tx_dropped++;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			p->dead = true;
		return;
	}
	p->tx_frames++;
	p->tx_bytes += len;
}

static void
port_send(struct port *p, const uint8_t *f, size_t len)
{
	port_send_hdr(p, NULL, f, len);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The frame (untagged, f/len) on vlan as a trunk carries it: tagged in
 * s->tbuf, or f itself on the default VLAN; NULL when the tag would make
 * it too long. */
static const uint8_t *
trunk_form(struct sw *s, const uint8_t *f, size_t len, uint16_t vlan,
    size_t *tlen)
{
	if (vlan == NET_VLAN_DEFAULT) {
		*tlen = len;
		return f;
	}
	if (len + 4 > NET_FRAME_MAX)
		return NULL;
	memcpy(s->tbuf, f, 12);
	s->tbuf[12] = 0x81;
	s->tbuf[13] = 0x00;
	s->tbuf[14] = (uint8_t)(vlan >> 8);
	s->tbuf[15] = (uint8_t)vlan;
	memcpy(s->tbuf + 16, f + 12, len - 12);
	*tlen = len + 4;
	return s->tbuf;
}

/* Send the untagged frame f on vlan to port p, as p takes it. */
static void
send_on(struct sw *s, struct port *p, const uint8_t *f, size_t len,
    uint16_t vlan, const uint8_t **tf, size_t *tlen)
{
	if (!p->trunk) {
		if (p->vlan == vlan)
			port_send(p, f, len);
		return;
	}
	if (*tf == NULL)
		*tf = trunk_form(s, f, len, vlan, tlen);
	if (*tf == NULL) {
		p->tx_dropped++;
		return;
	}
	port_send(p, *tf, *tlen);
}

/* The host-only network's leases to NAME.leases, after each change; a
 * failure is said once (the leases still work, only a restart forgets
 * them). */
static void
leases_save(struct sw *s)
{
	struct vm_err err = { 0 };

	if (dhcpd_leases_save(&s->dhcpd, s->leases_path, &err) < 0) {
		if (!s->leases_failed)
			log_warnx("switch %s: cannot keep the leases: %s",
			    s->name, err.msg);
		s->leases_failed = true;
		return;
	}
	s->leases_failed = false;
}

/* A frame from port from: its VLAN found (and its tag taken off), its
 * source learned, and it goes where its destination is. */
static void
forward(struct sw *s, struct port *from, const uint8_t *f, size_t len)
{
	const uint8_t *tf = NULL;
	struct mac_entry *e;
	struct port *to;
	uint16_t vlan = from->vlan;
	size_t tlen = 0, n;
	int i;
	__typeof__(s->dhcpd.lease) before;

	if (get16(f + 12) == 0x8100) {
		uint16_t vid = len >= 18 ? get16(f + 14) & 0xfff : 0xfff;

		/* A tag on an access port, a frame too short for its tag,
		 * the reserved VID 4095: dropped.  VID 0 (priority only)
		 * means the port's own VLAN. */
		if (!from->trunk || vid == 0xfff || len < 18) {
			from->vlan_dropped++;
			return;
		}
		if (vid != 0)
			vlan = vid;
		memcpy(s->ubuf, f, 12);
		memcpy(s->ubuf + 12, f + 16, len - 16);
		f = s->ubuf;
		len -= 4;
	}
	learn(s, from, f + 6, vlan);
	s->frames++;
	tf = trunk_form(s, f, len, vlan, &tlen);
	if (tf)
		capture(s, tf, tlen);
	e = (f[0] & 1) ? NULL : mac_find(s, f, vlan);
	if (e) {
		to = port_by_id(s, e->port);
		if (to && to != from)
			send_on(s, to, f, len, vlan, &tf, &tlen);
	} else {
		s->flooded++;
		for (i = 0; i < s->nports; i++)
			if (&s->ports[i] != from)
				send_on(s, &s->ports[i], f, len, vlan, &tf,
				    &tlen);
	}
	/* The DHCP server of a host-only switch is a port on the default
	 * VLAN; its reply goes out like any port's frame. */
	if (s->dhcp_on && from != &s->dhcp_port &&
	    vlan == s->dhcp_port.vlan &&
	    ((f[0] & 1) || memcmp(f, s->dhcpd.mac, 6) == 0)) {
		memcpy(before, s->dhcpd.lease, sizeof(before));
		n = dhcpd_input(&s->dhcpd, f, len, s->dbuf);
		if (memcmp(s->dhcpd.lease, before, sizeof(before)) != 0)
			leases_save(s);
		if (n > 0) {
			s->dhcp_port.rx_frames++;
			forward(s, &s->dhcp_port, s->dbuf, n);
		}
	}
}

static bool
capturing(const struct sw *s)
{
	int i;

	for (i = 0; i < s->nclients; i++)
		if (s->clients[i].capture)
			return true;
	return false;
}

struct seg_ctx {
	struct sw *s;
	struct port *from;
};

static void
forward_seg(void *opaque, const void *frame, size_t len)
{
	struct seg_ctx *c = opaque;

	forward(c->s, c->from, frame, len);
}

/* A frame behind its virtio_net_hdr hb from port from (which takes
 * headers): a frame with no offload is forwarded as any; one whose header
 * lies is bad; a TSO frame or partial checksum goes whole to a known
 * unicast destination that takes headers on the same VLAN, and to anyone
 * else (other ports, a flood, a capture) as the real frames it stands
 * for. */
static void
forward_vnet(struct sw *s, struct port *from, const uint8_t *hb, uint8_t *f,
    size_t len)
{
	struct net_vnet_hdr h;
	struct net_gso_info gi;
	struct seg_ctx c = { s, from };
	struct mac_entry *e;
	struct port *to;

	net_vnet_hdr_get(hb, &h);
	if (h.flags == 0 && h.gso_type == NET_GSO_NONE) {
		forward(s, from, f, len);
		return;
	}
	if (net_offload_check(&h, f, len, NET_OFF_CSUM | NET_OFF_TSO4 |
	    NET_OFF_TSO6, &gi) != NET_HDR_OK) {
		from->rx_bad++;
		return;
	}
	if (!(f[0] & 1) && get16(f + 12) != 0x8100 && !capturing(s)) {
		e = mac_find(s, f, from->vlan);
		to = e ? port_by_id(s, e->port) : NULL;
		if (to && to != from && to->vnet && to->vlan == from->vlan) {
			learn(s, from, f + 6, from->vlan);
			s->frames++;
			port_send_hdr(to, hb, f, len);
			to->tx_offload++;
			return;
		}
	}
	net_offload_emit(&h, &gi, f, len, forward_seg, &c);
}

/* A port's first message may say its VLAN (NET_HELLO_LEN): true when this
 * was one (taken or refused). */
static bool
port_hello(struct sw *s, struct port *p, const uint8_t *m, size_t n)
{
	uint16_t v;

	if (n != NET_HELLO_LEN || memcmp(m, "VMKP", 4) != 0)
		return false;
	v = get16(m + 4);
	if (p->rx_frames != 1 || v < 1 || v > NET_VLAN_MAX ||
	    (m[6] & ~(NET_HELLO_TRUNK | NET_HELLO_VNET)) || m[7] ||
	    ((m[6] & NET_HELLO_TRUNK) && (v != NET_VLAN_DEFAULT ||
	    (m[6] & NET_HELLO_VNET)))) {
		log_warnx("switch %s: port %d: a bad port hello (VLAN %u); "
		    "closing it", s->name, p->id, v);
		p->rx_bad++;
		p->dead = true;
		return true;
	}
	p->vlan = v;
	p->trunk = (m[6] & NET_HELLO_TRUNK) != 0;
	p->vnet = (m[6] & NET_HELLO_VNET) != 0;
	log_info("switch %s: port %d: %s VLAN %u%s", s->name, p->id,
	    p->trunk ? "trunk, native" : "access", v,
	    p->vnet ? ", offload headers" : "");
	return true;
}

/* A SEQPACKET recv of 0 bytes is either an empty message (a bad frame)
 * or the peer hanging up; only poll tells which. */
static bool
peer_gone(int fd)
{
	struct pollfd q = { fd, POLLIN | POLLRDHUP, 0 };

	return poll(&q, 1, 0) > 0 && (q.revents & (POLLHUP | POLLRDHUP |
	    POLLERR));
}

static void
port_readable(struct sw *s, struct port *p)
{
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = recv(p->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				p->dead = true;
			return;
		}
		if (n == 0 && peer_gone(p->fd)) {
			p->dead = true;
			return;
		}
		p->rx_frames++;
		p->rx_bytes += (uint64_t)n;
		if (port_hello(s, p, s->buf, (size_t)n)) {
			if (p->dead)
				return;
			continue;
		}
		if (p->vnet) {
			if (n < NET_VNET_HDR_LEN + 14 ||
			    (size_t)n > sizeof(s->buf)) {
				p->rx_bad++;
				continue;
			}
			forward_vnet(s, p, s->buf, s->buf + NET_VNET_HDR_LEN,
			    (size_t)n - NET_VNET_HDR_LEN);
			continue;
		}
		if (n < 14 || (size_t)n > NET_FRAME_MAX) {
			p->rx_bad++;
			continue;
		}
		forward(s, p, s->buf, (size_t)n);
	}
}

/* 0 when a port was added (try for another), -1 when none waits. */
static int
accept_port(struct sw *s)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct port *p;
	int fd, sz = 1 << 20;

	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	if (s->nports == MAX_PORTS) {
		log_warnx("switch %s: all %d ports in use; refusing one",
		    s->name, MAX_PORTS);
		close(fd);
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	p = &s->ports[s->nports++];
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->id = ++s->next_id;
	p->vlan = NET_VLAN_DEFAULT;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
		p->pid = cr.pid;
	log_info("switch %s: port %d up (pid %d)", s->name, p->id,
	    (int)p->pid);
	return 0;
}

static void
reap_ports(struct sw *s)
{
	int i;

	for (i = 0; i < s->nports; ) {
		struct port *p = &s->ports[i];

		if (!p->dead) {
			i++;
			continue;
		}
		log_info("switch %s: port %d down", s->name, p->id);
		forget_port(s, p->id);
		close(p->fd);
		s->ports[i] = s->ports[--s->nports];
	}
}

static void
mac_str(const uint8_t *m, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
	    m[3], m[4], m[5]);
}

static void
status_json(struct sw *s, FILE *f)
{
	struct json j;
	char mac[18];
	int i, k, ncap = 0;

	for (i = 0; i < s->nclients; i++)
		ncap += s->clients[i].capture;
	json_init(&j, f);
	json_obj_begin(&j, NULL);
	json_str(&j, "name", s->name);
	json_int(&j, "pid", getpid());
	json_str(&j, "socket", s->sock_path);
	json_u64(&j, "frames", s->frames);
	json_u64(&j, "flooded", s->flooded);
	json_int(&j, "captures", ncap);
	if (s->dhcp_on) {
		char a[INET_ADDRSTRLEN];
		struct in_addr in;

		json_obj_begin(&j, "dhcp");
		in.s_addr = htonl(s->dhcpd.server);
		inet_ntop(AF_INET, &in, a, sizeof(a));
		json_str(&j, "server", a);
		json_arr_begin(&j, "leases");
		for (k = 0; k < s->dhcpd.pool; k++) {
			if (!s->dhcpd.lease[k].used)
				continue;
			json_obj_begin(&j, NULL);
			mac_str(s->dhcpd.lease[k].mac, mac);
			json_str(&j, "mac", mac);
			in.s_addr = htonl(s->dhcpd.first + (uint32_t)k);
			inet_ntop(AF_INET, &in, a, sizeof(a));
			json_str(&j, "addr", a);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_u64(&j, "offers", s->dhcpd.offers);
		json_u64(&j, "acks", s->dhcpd.acks);
		json_u64(&j, "naks", s->dhcpd.naks);
		json_u64(&j, "bad", s->dhcpd.bad);
		json_obj_end(&j);
	}
	json_arr_begin(&j, "ports");
	for (i = 0; i < s->nports; i++) {
		struct port *p = &s->ports[i];

		json_obj_begin(&j, NULL);
		json_int(&j, "port", p->id);
		json_int(&j, "pid", p->pid);
		json_int(&j, "vlan", p->vlan);
		json_bool(&j, "trunk", p->trunk);
		json_bool(&j, "offload_headers", p->vnet);
		json_arr_begin(&j, "macs");
		for (k = 0; k < MAC_TABLE; k++) {
			if (s->macs[k].port != p->id)
				continue;
			mac_str(s->macs[k].mac, mac);
			json_str(&j, NULL, mac);
		}
		json_arr_end(&j);
		json_u64(&j, "rx_frames", p->rx_frames);
		json_u64(&j, "rx_bytes", p->rx_bytes);
		json_u64(&j, "rx_bad", p->rx_bad);
		json_u64(&j, "tx_frames", p->tx_frames);
		json_u64(&j, "tx_bytes", p->tx_bytes);
		json_u64(&j, "tx_dropped", p->tx_dropped);
		json_u64(&j, "tx_offload", p->tx_offload);
		json_u64(&j, "macs_refused", p->macs_refused);
		json_u64(&j, "vlan_dropped", p->vlan_dropped);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	json_finish(&j);
}

static void
status_text(struct sw *s, FILE *f)
{
	char mac[18];
	int i, k, shown;

	fprintf(f, "switch %s (pid %d): %d port%s, %llu frames\n", s->name,
	    (int)getpid(), s->nports, s->nports == 1 ? "" : "s",
	    (unsigned long long)s->frames);
	if (s->nports == 0)
		return;
	fprintf(f, "%-5s %-8s %-5s %-17s %10s %12s %10s %12s %8s %6s\n",
	    "PORT", "PID", "VLAN", "MAC", "RX-FRAMES", "RX-BYTES", "TX-FRAMES",
	    "TX-BYTES", "DROPPED", "BAD");
	for (i = 0; i < s->nports; i++) {
		struct port *p = &s->ports[i];
		char vl[8];

		strcpy(mac, "-");
		for (k = 0, shown = 0; k < MAC_TABLE && !shown; k++)
			if (s->macs[k].port == p->id) {
				mac_str(s->macs[k].mac, mac);
				shown = 1;
			}
		if (p->trunk)
			strcpy(vl, "trunk");
		else
			snprintf(vl, sizeof(vl), "%u", p->vlan);
		fprintf(f, "%-5d %-8d %-5s %-17s %10llu %12llu %10llu %12llu "
		    "%8llu %6llu\n", p->id, (int)p->pid, vl, mac,
		    (unsigned long long)p->rx_frames,
		    (unsigned long long)p->rx_bytes,
		    (unsigned long long)p->tx_frames,
		    (unsigned long long)p->tx_bytes,
		    (unsigned long long)p->tx_dropped,
		    (unsigned long long)p->rx_bad);
	}
}

/* Run one command line; returns true when the switch should stop. */
static bool
client_command(struct sw *s, struct client *c, const char *line)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (strcmp(line, "capture") == 0) {
		uint8_t hdr[PCAP_HDR_LEN];

		pcap_file_header(hdr);
		c->capture = true;
		client_queue(c, hdr, sizeof(hdr), NULL, 0);
		return false;
	}
	if (strcmp(line, "stop") == 0) {
		client_queue(c, "stopping\n", 9, NULL, 0);
		c->closing = true;
		return true;
	}
	f = open_memstream(&text, &len);
	if (f == NULL) {
		c->closing = true;
		return false;
	}
	if (strcmp(line, "summary") == 0)
		fprintf(f, "%s %d %d %llu\n", s->name, (int)getpid(), s->nports,
		    (unsigned long long)s->frames);
	else if (strcmp(line, "status json") == 0)
		status_json(s, f);
	else if (strcmp(line, "status") == 0)
		status_text(s, f);
	else
		fprintf(f, "error: unknown command\n");
	fclose(f);
	client_queue(c, text, len, NULL, 0);
	free(text);
	c->closing = true;
	return false;
}

static bool
client_readable(struct sw *s, struct client *c)
{
	ssize_t n;
	char *nl;

	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
	    MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->closing = true;
			c->outlen = 0;
		}
		return false;
	}
	if (c->capture)
		return false;           /* nothing more to say once capturing */
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	nl = strchr(c->in, '\n');
	if (nl == NULL) {
		if (c->inlen == sizeof(c->in) - 1)
			c->closing = true;
		return false;
	}
	*nl = '\0';
	c->inlen = 0;
	return client_command(s, c, c->in);
}

static void
client_flush(struct client *c)
{
	ssize_t n;

	if (c->outlen == 0)
		return;
	n = send(c->fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->outlen = 0;
			c->closing = true;
			c->capture = false;
		}
		return;
	}
	memmove(c->out, c->out + n, c->outlen - (size_t)n);
	c->outlen -= (size_t)n;
}

static int
accept_client(struct sw *s)
{
	struct client *c;
	int fd;

	fd = accept4(s->cfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	if (s->nclients == MAX_CLIENTS) {
		close(fd);
		return 0;
	}
	c = &s->clients[s->nclients];
	memset(c, 0, sizeof(*c));
	c->out = malloc(CLIENT_BUF);
	if (c->out == NULL) {
		close(fd);
		return 0;
	}
	c->fd = fd;
	s->nclients++;
	return 0;
}

static void
reap_clients(struct sw *s, bool all)
{
	int i;

	for (i = 0; i < s->nclients; ) {
		struct client *c = &s->clients[i];

		if (!all && !(c->closing && c->outlen == 0)) {
			i++;
			continue;
		}
		if (all && c->outlen) {
			struct timeval tv = { 1, 0 };
			int fl = fcntl(c->fd, F_GETFL);

			/* A last flush of what is queued, a second at most. */
			fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
			setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			    sizeof(tv));
			(void)!write(c->fd, c->out, c->outlen);
		}
		close(c->fd);
		free(c->out);
		s->clients[i] = s->clients[--s->nclients];
	}
}

static int
listen_on(const char *path, int type, struct vm_err *err)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vm_err_errno(err, -errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		int e = -errno;

		close(fd);
		return vm_err_errno(err, e, "%s", path);
	}
	return fd;
}

/* Refuse a running switch of the same name; clear a dead one's files. */
static int
claim_name(struct sw *s, struct vm_err *err)
{
	int fd = ctl_connect(s->name, 1);

	if (fd >= 0) {
		close(fd);
		return vm_err_set(err, -EEXIST, "switch %s is already running "
		    "(%s)", s->name, s->ctl_path);
	}
	unlink(s->sock_path);
	unlink(s->ctl_path);
	return 0;
}

static int
write_pidfile(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "%d\n", (int)pid);
	return fclose(f);
}

static int
sw_loop(struct sw *s)
{
	struct pollfd pfd[2 + MAX_PORTS + MAX_CLIENTS];
	int i, n, np, nc;
	bool stop = false;

	while (!stop && !stop_sig) {
		pfd[0] = (struct pollfd){ s->lfd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->cfd, POLLIN, 0 };
		np = s->nports;
		nc = s->nclients;
		for (i = 0; i < np; i++)
			pfd[2 + i] = (struct pollfd){ s->ports[i].fd, POLLIN, 0 };
		for (i = 0; i < nc; i++)
			pfd[2 + np + i] = (struct pollfd){ s->clients[i].fd,
			    (short)(POLLIN | (s->clients[i].outlen ? POLLOUT : 0)),
			    0 };
		n = poll(pfd, (nfds_t)(2 + np + nc), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("switch %s: poll", s->name);
			return 1;
		}
		for (i = 0; i < np; i++)
			if (pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
				port_readable(s, &s->ports[i]);
		for (i = 0; i < nc; i++) {
			short r = pfd[2 + np + i].revents;

			if (r & (POLLIN | POLLHUP | POLLERR))
				stop |= client_readable(s, &s->clients[i]);
			if (r & POLLOUT)
				client_flush(&s->clients[i]);
		}
		for (i = 0; i < s->nclients; i++)
			client_flush(&s->clients[i]);
		reap_ports(s);
		reap_clients(s, false);
		if (pfd[0].revents & POLLIN)
			while (accept_port(s) == 0)
				;
		if (pfd[1].revents & POLLIN)
			while (accept_client(s) == 0)
				;
	}
	return 0;
}

static int
switch_main(int argc, char **argv, bool hostonly)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "subnet", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sw s;
	void (*use)(FILE *) = hostonly ? usage_hostonly : usage;
	struct vm_err err = { 0 };
	const char *pidfile = NULL, *subnet = "192.168.56.0/24";
	struct sigaction sa;
	bool detach = false;
	uint32_t net;
	int ch, ret, i, prefix;

	optind = 0;
	while ((ch = getopt_long(argc, argv, hostonly ? "hds:" : "hd",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			use(stdout);
			return 0;
		case 'd':
			detach = true;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 's':
			if (hostonly) {
				subnet = optarg;
				break;
			}
			/* fall through */
		default:
			use(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		use(stderr);
		return 2;
	}
	s.name = argv[optind];
	if (hostonly) {
		uint8_t mac[6];
		char key[80];

		if (dhcpd_parse_subnet(subnet, &net, &prefix) < 0) {
			log_warnx("--subnet: '%s' is not a subnet a.b.c.d/P "
			    "with P from 16 to 29", subnet);
			return 2;
		}
		snprintf(key, sizeof(key), "hostonly:%s", s.name);
		net_mac_derive(key, 0, mac);
		dhcpd_init(&s.dhcpd, net, prefix, mac);
		s.dhcp_on = true;
		s.dhcp_port.fd = -1;
		s.dhcp_port.id = INT32_MAX;
		s.dhcp_port.vlan = NET_VLAN_DEFAULT;
	}
	if (net_switch_path(s.name, "sock", s.sock_path, sizeof(s.sock_path),
	    1, &err) < 0 ||
	    net_switch_path(s.name, "ctl", s.ctl_path, sizeof(s.ctl_path), 1,
	    &err) < 0 ||
	    net_switch_path(s.name, "pid", s.pid_path, sizeof(s.pid_path), 1,
	    &err) < 0) {
		log_warnx("%s", err.msg);
		return err.code == -EINVAL ? 2 : 1;
	}
	if (pidfile)
		snprintf(s.pid_path, sizeof(s.pid_path), "%s", pidfile);
	if (claim_name(&s, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	if (hostonly &&
	    (net_switch_path(s.name, "leases", s.leases_path,
	    sizeof(s.leases_path), 1, &err) < 0 ||
	    dhcpd_leases_load(&s.dhcpd, s.leases_path, &err) < 0)) {
		log_warnx("hostonly %s: %s (remove the file to forget the "
		    "leases)", s.name, err.msg);
		return 1;
	}
	s.lfd = listen_on(s.sock_path, SOCK_SEQPACKET, &err);
	if (s.lfd < 0) {
		log_warnx("switch %s: %s", s.name, err.msg);
		return 1;
	}
	s.cfd = listen_on(s.ctl_path, SOCK_STREAM, &err);
	if (s.cfd < 0) {
		log_warnx("switch %s: %s", s.name, err.msg);
		close(s.lfd);
		unlink(s.sock_path);
		return 1;
	}
	if (detach) {
		pid_t pid = fork();

		if (pid < 0) {
			log_warn("switch %s: fork", s.name);
			return 1;
		}
		if (pid > 0) {
			/* The pidfile before the parent returns, so that a
			 * script can read it at once. */
			if (write_pidfile(s.pid_path, pid) < 0) {
				log_warn("%s", s.pid_path);
				kill(pid, SIGTERM);
				return 1;
			}
			_exit(0);
		}
		setsid();
		i = open("/dev/null", O_RDWR);
		if (i >= 0) {
			dup2(i, 0);
			dup2(i, 1);
			dup2(i, 2);
			if (i > 2)
				close(i);
		}
	}
	if (!detach && write_pidfile(s.pid_path, getpid()) < 0)
		log_warn("%s", s.pid_path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!detach)
		log_info("switch %s: listening on %s", s.name, s.sock_path);

	ret = sw_loop(&s);

	close(s.lfd);
	close(s.cfd);
	unlink(s.sock_path);
	unlink(s.ctl_path);
	unlink(s.pid_path);
	for (i = 0; i < s.nports; i++)
		close(s.ports[i].fd);
	reap_clients(&s, true);
	return ret;
}

int
cmd_switch(int argc, char **argv)
{
	return switch_main(argc, argv, false);
}

int
cmd_hostonly(int argc, char **argv)
{
	return switch_main(argc, argv, true);
}
