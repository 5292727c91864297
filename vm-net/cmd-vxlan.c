/*
 * vm-net vxlan NAME --remote ADDR[:PORT] --vni N: one switch port carried
 * over VXLAN (RFC 7348) to one remote tunnel end point, such as a Linux
 * kernel vxlan device: each frame from the switch goes out as one UDP
 * datagram (the 8-byte VXLAN header, I flag set, the VNI, then the
 * frame), to UDP port 4789 unless another is given; datagrams that come
 * back go to the switch as frames.
 *
 * What arrives on the UDP socket is anyone's: a datagram is taken only
 * from the remote's address, with the I flag, the configured VNI and a
 * frame of 14 bytes to NET_FRAME_MAX after the header; everything else
 * is counted and dropped, and never ends the port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "vm-net.h"

#define VXLAN_PORT 4789
#define VXLAN_HLEN 8
#define VXLAN_FLAG_I 0x08
#define UDP_MAX 65507                   /* the largest IPv4 UDP payload */

static uint8_t dgram[VXLAN_HLEN + NET_FRAME_MAX + 1];
static volatile sig_atomic_t stop_sig;

struct vx_counts {
	uint64_t tx, tx_dropped, rx, rx_foreign, rx_bad, rx_other_vni;
};

static void
on_signal(int sig)
{
	stop_sig = sig;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net vxlan [--vlan N | --trunk] --remote ADDR[:PORT] "
	    "--vni N\n"
	    "                    [--local ADDR[:PORT]] NAME\n"
	    "  carry a port of switch NAME over VXLAN (RFC 7348) to one remote\n"
	    "  end point, such as a Linux kernel vxlan device, in the foreground\n"
	    "\n"
	    "  -r, --remote ADDR[:PORT]  the remote end point: IPv4, or IPv6\n"
	    "                            ([ADDR]:PORT with a port; port 4789)\n"
	    "  -n, --vni N               the VXLAN network identifier, 0 to\n"
	    "                            16777215\n"
	    "  -l, --local ADDR[:PORT]   the address and UDP port to listen on\n"
	    "                            (default 0.0.0.0:4789, or [::]:4789)\n"
	    "  -v, --vlan N              the port's VLAN on the switch (default 1)\n"
	    "  -t, --trunk               a trunk port: frames keep 802.1Q tags\n"
	    "  -h, --help                show this help and exit\n");
}

/* "a.b.c.d[:port]", "v6addr" or "[v6addr][:port]" into sa (the port
 * kept when none is given): 0 or -1. */
static int
parse_addr(const char *s, struct sockaddr_storage *sa)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	uint16_t keep = s4->sin_family == AF_INET6 ? s6->sin6_port :
	    s4->sin_port;
	char buf[64], *host = buf, *port = NULL, *end;
	long pn;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (buf[0] == '[') {
		end = strchr(buf, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return -1;
		*end = '\0';
		host = buf + 1;
		if (end[1] == ':')
			port = end + 2;
	} else if ((end = strchr(buf, ':')) != NULL && strchr(end + 1, ':')
	    == NULL) {
		*end = '\0';           /* one colon: IPv4 and a port */
		port = end + 1;
	}
	if (port) {
		if (port[0] < '0' || port[0] > '9')
			return -1;
		pn = strtol(port, &end, 10);
		if (*end || pn < 1 || pn > 65535)
			return -1;
		keep = htons((uint16_t)pn);
	}
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1 && buf[0] != '[') {
		s4->sin_family = AF_INET;
		s4->sin_port = keep;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = keep;
		return 0;
	}
	return -1;
}

static socklen_t
sa_len(const struct sockaddr_storage *sa)
{
	return sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* Is from the remote's address (any port)? */
static int
same_host(const struct sockaddr_storage *from, socklen_t fl,
    const struct sockaddr_storage *remote)
{
	if (fl < sa_len(remote) || from->ss_family != remote->ss_family)
		return 0;
	if (remote->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
		    &((const struct sockaddr_in6 *)remote)->sin6_addr,
		    16) == 0;
	return ((const struct sockaddr_in *)from)->sin_addr.s_addr ==
	    ((const struct sockaddr_in *)remote)->sin_addr.s_addr;
}

/* One datagram from the UDP socket, to the switch if it is one of ours. */
static void
from_udp(int ufd, int sfd, const struct sockaddr_storage *remote,
    uint32_t vni, struct vx_counts *c)
{
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	n = recvfrom(ufd, dgram, sizeof(dgram), MSG_DONTWAIT | MSG_TRUNC,
	    (struct sockaddr *)&from, &fl);
	if (n < 0)
		return;
	if (!same_host(&from, fl, remote)) {
		c->rx_foreign++;
		return;
	}
	if ((size_t)n > sizeof(dgram) - 1 || n < VXLAN_HLEN + 14 ||
	    !(dgram[0] & VXLAN_FLAG_I)) {
		c->rx_bad++;
		return;
	}
	if (((uint32_t)dgram[4] << 16 | (uint32_t)dgram[5] << 8 |
	    dgram[6]) != vni) {
		c->rx_other_vni++;
		return;
	}
	c->rx++;
	(void)!send(sfd, dgram + VXLAN_HLEN, (size_t)n - VXLAN_HLEN,
	    MSG_DONTWAIT | MSG_NOSIGNAL);
}

int
cmd_vxlan(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "remote", required_argument, NULL, 'r' },
		{ "local", required_argument, NULL, 'l' },
		{ "vni", required_argument, NULL, 'n' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "trunk", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage remote = { 0 }, local = { 0 };
	int have_local = 0;
	struct vx_counts c = { 0 };
	struct pollfd pfd[2];
	struct sigaction sa;
	const char *rs = NULL;
	long vni = -1;
	char *end;
	ssize_t n;
	int ch, sfd, ufd, vlan = 0, trunk = 0, ret = 0, one = 1;

	((struct sockaddr_in *)&remote)->sin_family = AF_INET;
	((struct sockaddr_in *)&remote)->sin_port = htons(VXLAN_PORT);
	((struct sockaddr_in *)&local)->sin_family = AF_INET;
	((struct sockaddr_in *)&local)->sin_port = htons(VXLAN_PORT);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "hr:l:n:v:t", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'r':
			rs = optarg;
			if (parse_addr(optarg, &remote) < 0) {
				log_warnx("--remote: '%s' is not ADDR[:PORT] "
				    "(an IPv4 address, or an IPv6 one in "
				    "[brackets] before a port; a port 1 to "
				    "65535)", optarg);
				return 2;
			}
			break;
		case 'l':
			if (parse_addr(optarg, &local) < 0) {
				log_warnx("--local: '%s' is not ADDR[:PORT] "
				    "(an IPv4 address, or an IPv6 one in "
				    "[brackets] before a port; a port 1 to "
				    "65535)", optarg);
				return 2;
			}
			have_local = 1;
			break;
		case 'n':
			vni = strtol(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end ||
			    vni > 0xffffff) {
				log_warnx("--vni: '%s' is not a VNI (0 to "
				    "16777215)", optarg);
				return 2;
			}
			break;
		case 'v':
			if (vlan_opt(optarg, &vlan) < 0)
				return 2;
			break;
		case 't':
			trunk = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || (vlan && trunk)) {
		usage(stderr);
		return 2;
	}
	if (rs == NULL || vni < 0) {
		log_warnx("vxlan: give --remote and --vni");
		usage(stderr);
		return 2;
	}
	if (!have_local) {
		/* The wildcard address of the remote's family, port 4789. */
		uint16_t port = ((struct sockaddr_in *)&local)->sin_port;

		memset(&local, 0, sizeof(local));
		local.ss_family = remote.ss_family;
		if (remote.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&local)->sin6_port = port;
		else
			((struct sockaddr_in *)&local)->sin_port = port;
	} else if (local.ss_family != remote.ss_family) {
		log_warnx("vxlan: --local and --remote are not both IPv4 or "
		    "both IPv6");
		return 2;
	}
	ufd = socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ufd < 0) {
		log_warn("socket");
		return 1;
	}
	setsockopt(ufd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ufd, (struct sockaddr *)&local, sa_len(&local)) < 0) {
		char a[INET6_ADDRSTRLEN];
		unsigned port;

		if (local.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&local)->
			    sin6_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in6 *)&local)->
			    sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&local)->
			    sin_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in *)&local)->sin_port);
		}
		log_warn("vxlan: cannot listen on %s%s%s:%u",
		    local.ss_family == AF_INET6 ? "[" : "", a,
		    local.ss_family == AF_INET6 ? "]" : "", port);
		close(ufd);
		return 1;
	}
	sfd = switch_port_connect(argv[optind], vlan, trunk);
	if (sfd < 0) {
		close(ufd);
		return sfd == -2 ? 2 : 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(dgram, 0, VXLAN_HLEN);
	while (!stop_sig) {
		pfd[0] = (struct pollfd){ sfd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ ufd, POLLIN, 0 };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			ret = 1;
			break;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(sfd, dgram + VXLAN_HLEN, NET_FRAME_MAX + 1,
			    MSG_DONTWAIT | MSG_TRUNC);
			if (n == 0 && (pfd[0].revents & POLLHUP))
				break;          /* the switch stopped */
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (n >= 14 && n <= NET_FRAME_MAX) {
				if (n + VXLAN_HLEN > UDP_MAX) {
					c.tx_dropped++;
				} else {
					dgram[0] = VXLAN_FLAG_I;
					dgram[1] = dgram[2] = dgram[3] = 0;
					dgram[4] = (uint8_t)(vni >> 16);
					dgram[5] = (uint8_t)(vni >> 8);
					dgram[6] = (uint8_t)vni;
					dgram[7] = 0;
					if (sendto(ufd, dgram, (size_t)n +
					    VXLAN_HLEN, MSG_DONTWAIT,
					    (struct sockaddr *)&remote,
					    sa_len(&remote)) < 0)
						c.tx_dropped++;
					else
						c.tx++;
				}
			}
		}
		if (pfd[1].revents & POLLIN)
			from_udp(ufd, sfd, &remote, (uint32_t)vni, &c);
	}
	/* The counts, on stderr as every status line of vm-net. */
	log_warnx("vxlan %s: %llu frames out (%llu dropped), %llu in; "
	    "refused: %llu from other addresses, %llu malformed, %llu of "
	    "other VNIs", argv[optind], (unsigned long long)c.tx,
	    (unsigned long long)c.tx_dropped, (unsigned long long)c.rx,
	    (unsigned long long)c.rx_foreign, (unsigned long long)c.rx_bad,
	    (unsigned long long)c.rx_other_vni);
	close(sfd);
	close(ufd);
	return ret;
}
