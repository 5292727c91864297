/*
 * switch:NAME: one port on a vm-net switch.  The switch listens on a
 * SOCK_SEQPACKET Unix socket (net_switch_path(NAME, "sock")); each message
 * either way is one Ethernet frame, so no framing can be lost or forged.
 * Sends never block: a frame the socket cannot take now is dropped and
 * counted, as a real switch port under load would.  A port with a VLAN
 * or a trunk port says so first (NET_HELLO_LEN in net.h).
 *
 * An access port asks for NET_HELLO_VNET in its hello: every message then
 * carries a virtio_net_hdr before the frame, so a virtio-net guest's TSO
 * frames and partial checksums reach another guest's NIC whole (the
 * switch cuts them up only for ports that did not ask).  Headers coming
 * in are checked again here (net_deliver_vnet): the switch is another
 * process, not trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "net/offload.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

struct swport {
	int fd;
	int vnet;                       /* NET_HELLO_VNET: headers both ways */
	char name[80];
	uint8_t buf[NET_VNET_HDR_LEN + NET_FRAME_MAX];
};

static void
swport_readable(void *opaque, int fd, unsigned events)
{
	struct net_backend *nb = opaque;
	struct swport *s = nb->priv;
	ssize_t n;
	int i;

	(void)events;
	for (i = 0; i < 64; i++) {
		n = recv(fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0)
			return;
		if (n == 0) {
			log_warnx("switch %s: the switch went away", s->name);
			evloop_del_fd(nb->loop, fd);
			if (nb->hangup)
				nb->hangup(nb->rx_opaque);
			return;
		}
		if (!s->vnet) {
			if ((size_t)n > NET_FRAME_MAX || n < 14)
				continue;
			nb->rx_frames++;
			nb->rx(nb->rx_opaque, s->buf, (size_t)n);
			continue;
		}
		if ((size_t)n > sizeof(s->buf) ||
		    n < NET_VNET_HDR_LEN + 14)
			continue;
		if (net_deliver_vnet(nb, s->buf, s->buf + NET_VNET_HDR_LEN,
		    (size_t)n - NET_VNET_HDR_LEN) == 0)
			log_debug(LOG_NET, "switch %s: dropped a frame with a "
			    "bad vnet header", s->name);
	}
}

static int
swport_open(struct net_backend *nb, const struct net_params *p,
    const char *arg, struct vm_err *err)
{
	struct sockaddr_un sa;
	struct swport *s;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ret = net_switch_path(arg, "sock", sa.sun_path, sizeof(sa.sun_path), 0,
	    err);
	if (ret < 0)
		return ret;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	snprintf(s->name, sizeof(s->name), "%s", arg);
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (s->fd < 0) {
		ret = vm_err_errno(err, -errno, "switch %s: socket", arg);
		free(s);
		return ret;
	}
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = vm_err_errno(err, -errno, "switch %s: cannot connect to "
		    "%s (is 'vm-net switch %s' running?)", arg, sa.sun_path,
		    arg);
		close(s->fd);
		free(s);
		return ret;
	}
	{
		uint8_t h[NET_HELLO_LEN];

		if (p->vlan < 0 || p->vlan > NET_VLAN_MAX ||
		    (p->trunk && p->vlan)) {
			close(s->fd);
			free(s);
			return vm_err_set(err, -EINVAL, "switch %s: VLAN %d is "
			    "not 1 to %d%s", arg, p->vlan, NET_VLAN_MAX,
			    p->trunk ? " (or a trunk)" : "");
		}
		/* A trunk carries plain tagged frames. */
		s->vnet = !p->trunk;
		net_hello_build(h, p->vlan, p->trunk,
		    s->vnet ? NET_HELLO_VNET : 0);
		if (send(s->fd, h, sizeof(h), MSG_NOSIGNAL) < 0) {
			ret = vm_err_errno(err, -errno, "switch %s: cannot "
			    "join", arg);
			close(s->fd);
			free(s);
			return ret;
		}
	}
	nb->vnet_hdr = s->vnet;
	nb->priv = s;
	ret = evloop_add_fd(nb->loop, s->fd, EV_READ, swport_readable, nb);
	if (ret < 0) {
		close(s->fd);
		free(s);
		return vm_err_set(err, ret, "switch %s: event loop full", arg);
	}
	return 0;
}

static void
swport_send_vnet(struct net_backend *nb, const uint8_t *hdr,
    const void *frame, size_t len)
{
	struct swport *s = nb->priv;
	struct iovec iov[2] = {
		{ (void *)hdr, NET_VNET_HDR_LEN }, { (void *)frame, len },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		nb->tx_dropped++;
}

static void
swport_send(struct net_backend *nb, const void *frame, size_t len)
{
	static const uint8_t zero[NET_VNET_HDR_LEN];
	struct swport *s = nb->priv;

	if (s->vnet) {
		swport_send_vnet(nb, zero, frame, len);
		return;
	}
	if (send(s->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		nb->tx_dropped++;
}

static void
swport_close(struct net_backend *nb)
{
	struct swport *s = nb->priv;

	evloop_del_fd(nb->loop, s->fd);
	close(s->fd);
	free(s);
}

const struct net_backend_ops net_switch_ops = {
	.name = "switch",
	.open = swport_open,
	.send = swport_send,
	.send_vnet = swport_send_vnet,
	.close = swport_close,
};
