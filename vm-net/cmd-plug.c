/*
 * vm-net plug NAME: one switch port on stdin and stdout, each frame
 * preceded by its length as 4 bytes, big-endian (the framing of QEMU's
 * -netdev stream and socket back ends), so two hosts' switches join
 * through any byte pipe (ssh, socat) and QEMU can join a switch.
 *
 * A frame of 1 to 13 bytes from stdin is dropped; a length of 0 or more
 * than NET_FRAME_MAX means the stream is not this framing (or has lost
 * its place) and ends the plug with an error.  The plug's port then goes
 * away like a VM's; the switch's other ports notice nothing.
 */
#include <errno.h>
#include <getopt.h>
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

#define LEN_BYTES 4

static uint8_t inbuf[LEN_BYTES + NET_FRAME_MAX];
static uint8_t frame[LEN_BYTES + NET_FRAME_MAX];

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Hand the complete frames in inbuf[0, *have) to the switch; keep the
 * rest.  -1 on a length that cannot be. */
static int
from_stdin(int sfd, size_t *have)
{
	size_t off = 0, len;

	while (*have - off >= LEN_BYTES) {
		const uint8_t *p = inbuf + off;

		len = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
		    (size_t)p[2] << 8 | p[3];
		if (len == 0 || len > NET_FRAME_MAX) {
			log_warnx("stdin: a frame length of %zu bytes (not "
			    "1 to %d): not a length-prefixed frame stream",
			    len, NET_FRAME_MAX);
			return -1;
		}
		if (*have - off < LEN_BYTES + len)
			break;
		if (len >= 14)
			(void)!send(sfd, p + LEN_BYTES, len,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		off += LEN_BYTES + len;
	}
	memmove(inbuf, inbuf + off, *have - off);
	*have -= off;
	return 0;
}

int
cmd_plug(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "trunk", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] =
	    "usage: vm-net plug [--vlan N | --trunk] NAME\n"
	    "  a port on switch NAME on stdin/stdout: frames each after a\n"
	    "  4-byte big-endian length (QEMU's stream framing); join two\n"
	    "  switches with a pipe, ssh or socat\n"
	    "\n"
	    "  -v, --vlan N  an access port on VLAN N (default 1)\n"
	    "  -t, --trunk   a trunk: every VLAN, tagged 802.1Q (VLAN 1\n"
	    "                untagged), to join two switches' VLANs\n"
	    "  -h, --help    show this help and exit\n";
	struct pollfd pfd[2];
	size_t have = 0;
	ssize_t n;
	int ch, sfd, ret = 0, vlan = 0, trunk = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "hv:t", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("%s", usage_line);
			return 0;
		case 'v':
			if (vlan_opt(optarg, &vlan) < 0)
				return 2;
			break;
		case 't':
			trunk = 1;
			break;
		default:
			fprintf(stderr, "%s", usage_line);
			return 2;
		}
	}
	if (argc - optind != 1 || (vlan && trunk)) {
		fprintf(stderr, "%s", usage_line);
		return 2;
	}
	sfd = switch_port_connect(argv[optind], vlan, trunk);
	if (sfd < 0)
		return sfd == -2 ? 2 : 1;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		pfd[0] = (struct pollfd){ 0, POLLIN, 0 };
		pfd[1] = (struct pollfd){ sfd, POLLIN, 0 };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			ret = 1;
			break;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(sfd, frame + LEN_BYTES, NET_FRAME_MAX,
			    MSG_DONTWAIT | MSG_TRUNC);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
			    errno != EINTR))
				break;          /* the switch stopped */
			if (n > 0 && n <= NET_FRAME_MAX) {
				frame[0] = (uint8_t)(n >> 24);
				frame[1] = (uint8_t)(n >> 16);
				frame[2] = (uint8_t)(n >> 8);
				frame[3] = (uint8_t)n;
				if (write_all(1, frame,
				    LEN_BYTES + (size_t)n) < 0) {
					ret = errno == EPIPE ? 0 : 1;
					if (ret)
						log_warn("stdout");
					break;
				}
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(0, inbuf + have, sizeof(inbuf) - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n < 0) {
					log_warn("stdin");
					ret = 1;
				}
				break;
			}
			have += (size_t)n;
			if (from_stdin(sfd, &have) < 0) {
				ret = 1;
				break;
			}
		}
	}
	close(sfd);
	return ret;
}
