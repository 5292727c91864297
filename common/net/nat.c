/*
 * nat: user-mode NAT on libslirp, inside vm-run, with QEMU's default
 * addressing unless p->subnet says another: the network 10.0.2.0/24, the
 * host (gateway) at 10.0.2.2, DNS at 10.0.2.3 (the host's resolver), DHCP
 * handing out 10.0.2.15 first (the same offsets, .2, .3 and .15, in
 * another subnet).  Forward rules (net_parse_forward) listen on the host,
 * loopback unless an address is given, and connect to the first lease.
 *
 * libslirp is not thread-safe: every call into it is made with the event
 * loop's lock held (the VM-wide I/O lock), from a vCPU thread sending a
 * frame or from the event loop's poll source and timers.  Its sockets
 * change all the time, so they are polled through an evloop source that
 * asks slirp_pollfds_fill before each poll.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net/dhcpd.h"
#include "net/net.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

struct nat {
	struct net_backend *nb;
	Slirp *slirp;
	/* Between prepare and dispatch: the loop's array for this poll. */
	struct pollfd *pfd;
	int npfd, max;
	struct in_addr guest;           /* the first lease, forwards' target */
};

struct nat_timer {
	struct ev_timer *t;
	SlirpTimerCb cb;
	void *cb_opaque;
};

static ssize_t
nat_send_packet(const void *buf, size_t len, void *opaque)
{
	struct nat *n = opaque;

	if (len > NET_FRAME_MAX)
		return (ssize_t)len;
	n->nb->rx_frames++;
	n->nb->rx(n->nb->rx_opaque, buf, len);
	return (ssize_t)len;
}

static void
nat_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_debug(LOG_NET, "nat: guest error: %s", msg);
}

static int64_t
nat_clock(void *opaque)
{
	(void)opaque;
	return (int64_t)clock_ns();
}

static void
nat_timer_fire(void *opaque)
{
	struct nat_timer *t = opaque;

	t->cb(t->cb_opaque);
}

static void *
nat_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct nat *n = opaque;
	struct nat_timer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->t = evloop_timer_new(n->nb->loop, nat_timer_fire, t);
	if (t->t == NULL) {
		log_warnx("nat: out of event-loop timers");
		free(t);
		return NULL;
	}
	return t;
}

static void
nat_timer_free(void *timer, void *opaque)
{
	struct nat_timer *t = timer;

	(void)opaque;
	if (t == NULL)
		return;
	evloop_timer_free(t->t);
	free(t);
}

static void
nat_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct nat_timer *t = timer;

	(void)opaque;
	if (t == NULL)
		return;
	evloop_timer_mod(t->t, expire_ms <= 0 ? 1 :
	    (uint64_t)expire_ms * 1000000ULL);
}

static void
nat_register_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void
nat_notify(void *opaque)
{
	struct nat *n = opaque;

	evloop_wakeup(n->nb->loop);
}

static const SlirpCb nat_cb = {
	.send_packet = nat_send_packet,
	.guest_error = nat_guest_error,
	.clock_get_ns = nat_clock,
	.timer_new = nat_timer_new,
	.timer_free = nat_timer_free,
	.timer_mod = nat_timer_mod,
	.register_poll_fd = nat_register_fd,
	.unregister_poll_fd = nat_register_fd,
	.notify = nat_notify,
};

static int
nat_add_poll(int fd, int events, void *opaque)
{
	struct nat *n = opaque;
	struct pollfd *p;

	if (n->npfd == n->max)
		return -1;
	p = &n->pfd[n->npfd];
	p->fd = fd;
	p->events = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
	    ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
	    ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
	p->revents = 0;
	return n->npfd++;
}

static int
nat_get_revents(int idx, void *opaque)
{
	struct nat *n = opaque;
	short r;

	if (idx < 0 || idx >= n->npfd)
		return 0;
	r = n->pfd[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) |
	    ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	    ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) |
	    ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	    ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static int
nat_prepare(void *opaque, struct pollfd *pfd, int max, int *timeout_ms)
{
	struct nat *n = opaque;
	uint32_t tmo = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;

	n->pfd = pfd;
	n->npfd = 0;
	n->max = max;
	slirp_pollfds_fill(n->slirp, &tmo, nat_add_poll, n);
	if (tmo != UINT32_MAX)
		*timeout_ms = tmo > 1000000 ? 1000000 : (int)tmo;
	return n->npfd;
}

static void
nat_dispatch(void *opaque, struct pollfd *pfd, int npfd)
{
	struct nat *n = opaque;

	n->pfd = pfd;
	n->npfd = npfd;
	slirp_pollfds_poll(n->slirp, 0, nat_get_revents, n);
	n->npfd = 0;
}

static int
nat_forwards(struct nat *n, const struct net_params *p, struct vm_err *err)
{
	uint16_t hport, gport;
	uint32_t haddr;
	struct in_addr h;
	int i, udp;
	char where[64];

	for (i = 0; i < p->nforwards; i++) {
		if (net_parse_forward(p->forwards[i], &udp, &haddr, &hport,
		    &gport, err) < 0)
			return -EINVAL;
		h.s_addr = haddr;
		if (slirp_add_hostfwd(n->slirp, udp, h, hport,
		    n->guest, gport) < 0) {
			inet_ntop(AF_INET, &h, where, sizeof(where));
			return vm_err_set(err, -EADDRINUSE, "forward '%s': "
			    "cannot listen on %s port %u (in use?)",
			    p->forwards[i], where, hport);
		}
	}
	return 0;
}

static struct in_addr
ip4_at(uint32_t net, uint32_t off)
{
	struct in_addr a = { htonl(net + off) };

	return a;
}

static int
nat_open(struct net_backend *nb, const struct net_params *p,
    const char *arg, struct vm_err *err)
{
	SlirpConfig sc;
	struct nat *n;
	uint32_t net = 0x0a000200;      /* 10.0.2.0 */
	int ret, prefix = 24;

	(void)arg;
	/* libslirp's 16 leases from .15 must fit below the broadcast. */
	if (p->subnet && p->subnet[0] &&
	    (dhcpd_parse_subnet(p->subnet, &net, &prefix) < 0 ||
	    prefix > 27))
		return vm_err_set(err, -EINVAL, "%s: subnet '%s' is not "
		    "a.b.c.d/P with P from 16 to 27", p->origin ? p->origin :
		    "nat", p->subnet);
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	n->nb = nb;
	memset(&sc, 0, sizeof(sc));
	sc.version = 1;
	sc.in_enabled = true;
	sc.vnetwork = ip4_at(net, 0);
	sc.vnetmask = ip4_at(~0u << (32 - prefix), 0);
	sc.vhost = ip4_at(net, 2);
	sc.vdhcp_start = ip4_at(net, 15);
	sc.vnameserver = ip4_at(net, 3);
	n->guest = sc.vdhcp_start;
	sc.vhostname = p->vm_name;
	sc.if_mtu = 1500;
	sc.if_mru = 1500;
	/* libslirp's TFTP server (read-only, at the host's 10.0.2.2) and
	 * the boot file name its DHCP offers, for network boot. */
	if (p->tftp && p->tftp[0]) {
		struct stat sb;

		if (stat(p->tftp, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			free(n);
			return vm_err_set(err, -ENOTDIR, "%s: tftp=%s: not a "
			    "directory", p->origin ? p->origin : "nat",
			    p->tftp);
		}
		sc.tftp_path = p->tftp;
	}
	if (p->bootfile && p->bootfile[0])
		sc.bootfile = p->bootfile;
	n->slirp = slirp_new(&sc, &nat_cb, n);
	if (n->slirp == NULL) {
		free(n);
		return vm_err_set(err, -EIO, "nat: libslirp failed to start");
	}
	ret = nat_forwards(n, p, err);
	if (ret == 0)
		ret = evloop_add_source(nb->loop, nat_prepare, nat_dispatch, n);
	if (ret < 0) {
		if (err && err->code == 0)
			vm_err_set(err, ret, "nat: cannot join the event loop");
		slirp_cleanup(n->slirp);
		free(n);
		return ret;
	}
	nb->priv = n;
	nb->rx_csum_valid = 1;
	return 0;
}

static void
nat_send(struct net_backend *nb, const void *frame, size_t len)
{
	struct nat *n = nb->priv;

	if (len < 14 || len > NET_FRAME_MAX) {
		nb->tx_dropped++;
		return;
	}
	slirp_input(n->slirp, frame, (int)len);
	/* New sockets: the loop must ask for the descriptors again. */
	evloop_wakeup(nb->loop);
}

static void
nat_close(struct net_backend *nb)
{
	struct nat *n = nb->priv;

	evloop_del_source(nb->loop, n);
	slirp_cleanup(n->slirp);
	free(n);
}

const struct net_backend_ops net_nat_ops = {
	.name = "nat",
	.open = nat_open,
	.send = nat_send,
	.close = nat_close,
};
