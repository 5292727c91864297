/*
 * tap:DEV: a host tap device (Linux's tun driver, IFF_TAP | IFF_NO_PI):
 * each read(2) is one Ethernet frame from the host's stack, each write(2)
 * one frame to it.  DEV is opened by name: a persistent tap made by root
 * (ip tuntap add dev DEV mode tap user USER) opens for that user without
 * privileges; root also gets a new, non-persistent tap when DEV does not
 * exist, which vanishes when vm-run exits.  vm-run then sets it up
 * (IFF_UP) if it may; addresses and bridges are the host's business.
 *
 * The tap is opened with IFF_VNET_HDR where the kernel allows it: every
 * frame then goes behind a 12-byte virtio_net_hdr, so a virtio-net
 * guest's partial checksums and TSO frames pass to the host's stack
 * unsplit (the kernel checks the header once more), and a frame with no
 * offload goes behind a zero header.  The other way, the tap takes
 * TUN_F_CSUM, TUN_F_TSO4 and TUN_F_TSO6, so the host's TCP sends TSO
 * frames and partial checksums: each header is checked like a guest's
 * (net_deliver_vnet) and the frame goes whole to a virtio-net guest that
 * negotiated GUEST_TSO, completed or cut into segments for any other
 * card, or dropped when the header lies.
 * Sends never block: a frame the tap cannot take now (its queue full,
 * the device down) is dropped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include "net/net.h"
#include "net/offload.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

struct tap {
	int fd;
	char name[IFNAMSIZ];
	int vnet;
	uint8_t buf[NET_VNET_HDR_LEN + NET_FRAME_MAX];
};

int
net_tap_name_check(const char *name, struct vm_err *err)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || strchr(name, '/') ||
	    strcspn(name, " \t\n:%") != n || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return vm_err_set(err, -EINVAL, "'%s' is not a network "
		    "interface name (1 to %d characters, no '/', ':' or "
		    "spaces)", name, IFNAMSIZ - 1);
	return 0;
}

int
net_tap_open_fd(const char *name, int *vnet, char *actual, size_t len,
    struct vm_err *err)
{
	struct ifreq ifr;
	int fd, ret, s;

	ret = net_tap_name_check(name, err);
	if (ret < 0)
		return ret;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV)
			return vm_err_set(err, ret, "tap %s: no /dev/net/tun "
			    "(is the tun module loaded?)", name);
		return vm_err_errno(err, ret, "tap %s: /dev/net/tun%s", name,
		    ret == -EACCES || ret == -EPERM ? " (not permitted to "
		    "open it)" : "");
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (*vnet)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ret = ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
	if (ret == -EINVAL && *vnet) {
		*vnet = 0;
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		ret = ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
	}
	if (ret < 0) {
		close(fd);
		if (ret == -EPERM)
			return vm_err_set(err, ret, "tap %s: not permitted "
			    "(without CAP_NET_ADMIN only a persistent tap "
			    "made for this user opens: as root, 'ip tuntap "
			    "add dev %s mode tap user %u')", name, name,
			    (unsigned)getuid());
		if (ret == -EINVAL || ret == -EBUSY)
			return vm_err_set(err, ret, "tap %s: cannot attach "
			    "(is it a tun device, not a tap, or in use by "
			    "another program?)", name);
		return vm_err_errno(err, ret, "tap %s: TUNSETIFF", name);
	}
	if (*vnet) {
		int sz = NET_VNET_HDR_LEN;

		/* The host's stack may hand us partial checksums and TSO
		 * frames (checked and passed on, or completed, by
		 * net_deliver_vnet); a kernel that will not: none. */
		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ||
		    (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM |
		    TUN_F_TSO4 | TUN_F_TSO6)) < 0 &&
		    ioctl(fd, TUNSETOFFLOAD, 0UL) < 0)) {
			log_debug(LOG_NET, "tap %s: no 12-byte vnet headers: "
			    "%s", name, strerror(errno));
			close(fd);
			*vnet = 0;
			return net_tap_open_fd(name, vnet, actual, len, err);
		}
	}
	snprintf(actual, len, "%s", ifr.ifr_name);
	/* Bring it up where we may; a user's persistent tap is the
	 * owner's to configure, so failing here is no error. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
		    !(ifr.ifr_flags & IFF_UP)) {
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
				log_debug(LOG_NET, "tap %s: cannot set it up: "
				    "%s", name, strerror(errno));
		}
		close(s);
	}
	return fd;
}

/* A frame read behind its vnet header: n bytes in t->buf. */
static void
tap_rx_vnet(struct net_backend *nb, size_t n)
{
	struct tap *t = nb->priv;

	if (n < NET_VNET_HDR_LEN + 14)
		return;
	if (net_deliver_vnet(nb, t->buf, t->buf + NET_VNET_HDR_LEN,
	    n - NET_VNET_HDR_LEN) == 0)
		log_debug(LOG_NET, "tap %s: dropped a frame with a bad vnet "
		    "header", t->name);
}

static void
tap_readable(void *opaque, int fd, unsigned events)
{
	struct net_backend *nb = opaque;
	struct tap *t = nb->priv;
	ssize_t n;
	int i;

	(void)events;
	for (i = 0; i < 64; i++) {
		n = read(fd, t->buf, sizeof(t->buf));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				log_warnx("tap %s: read: %s (detached)",
				    t->name, strerror(errno));
				evloop_del_fd(nb->loop, fd);
				if (nb->hangup)
					nb->hangup(nb->rx_opaque);
			}
			return;
		}
		if (t->vnet)
			tap_rx_vnet(nb, (size_t)n);
		else if (n >= 14) {
			nb->rx_frames++;
			nb->rx(nb->rx_opaque, t->buf, (size_t)n);
		}
	}
}

static int
tap_open(struct net_backend *nb, const struct net_params *p, const char *arg,
    struct vm_err *err)
{
	struct tap *t;
	int ret;

	(void)p;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	t->vnet = 1;
	t->fd = net_tap_open_fd(arg, &t->vnet, t->name, sizeof(t->name), err);
	if (t->fd < 0) {
		ret = t->fd;
		free(t);
		return ret;
	}
	nb->priv = t;
	nb->vnet_hdr = t->vnet;
	ret = evloop_add_fd(nb->loop, t->fd, EV_READ, tap_readable, nb);
	if (ret < 0) {
		close(t->fd);
		free(t);
		nb->priv = NULL;
		return vm_err_set(err, ret, "tap %s: cannot watch it", arg);
	}
	return 0;
}

static void
tap_send_vnet(struct net_backend *nb, const uint8_t *hdr, const void *frame,
    size_t len)
{
	struct tap *t = nb->priv;
	struct iovec iov[2] = {
		{ (void *)hdr, NET_VNET_HDR_LEN },
		{ (void *)frame, len },
	};

	if (writev(t->fd, iov, 2) != (ssize_t)(NET_VNET_HDR_LEN + len))
		nb->tx_dropped++;
}

static void
tap_send(struct net_backend *nb, const void *frame, size_t len)
{
	struct tap *t = nb->priv;
	static const uint8_t zero[NET_VNET_HDR_LEN];

	if (t->vnet)
		tap_send_vnet(nb, zero, frame, len);
	else if (write(t->fd, frame, len) != (ssize_t)len)
		nb->tx_dropped++;
}

static void
tap_close(struct net_backend *nb)
{
	struct tap *t = nb->priv;

	if (t == NULL)
		return;
	evloop_del_fd(nb->loop, t->fd);
	close(t->fd);
	free(t);
	nb->priv = NULL;
}

const struct net_backend_ops net_tap_ops = {
	.name = "tap",
	.open = tap_open,
	.send = tap_send,
	.send_vnet = tap_send_vnet,
	.close = tap_close,
};
