/*
 * A bridge between a port on switch NAME and one other back end (the
 * shared NAT of vm-net nat, the host tap of vm-net tap): every frame one
 * side gives goes to the other, on one event loop, in the foreground
 * until the switch stops, the far end goes away, or a signal.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm-net.h"

struct bridge {
	struct evloop *loop;
	struct net_backend *sw, *far;
};

static struct evloop *bridge_loop;

static void
on_signal(int sig)
{
	(void)sig;
	if (bridge_loop)
		evloop_stop(bridge_loop);
}

static void
to_far(void *opaque, const void *frame, size_t len)
{
	struct bridge *b = opaque;

	if (b->far)
		net_send(b->far, frame, len);
}

static void
to_switch(void *opaque, const void *frame, size_t len)
{
	struct bridge *b = opaque;

	net_send(b->sw, frame, len);
}

static void
side_gone(void *opaque)
{
	struct bridge *b = opaque;

	evloop_stop(b->loop);
}

int
vlan_opt(const char *s, int *vlan)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || v < 1 || v > NET_VLAN_MAX) {
		log_warnx("--vlan: '%s' is not a VLAN (1 to %d)", s,
		    NET_VLAN_MAX);
		return -1;
	}
	*vlan = (int)v;
	return 0;
}

int
bridge_run(const char *name, const struct net_params *far, int vlan,
    int trunk)
{
	struct net_params ps = { 0 };
	struct vm_err err = { 0 };
	struct bridge b = { 0 };
	struct sigaction sa;
	char spec[80];
	int ret;

	snprintf(spec, sizeof(spec), "switch:%s", name);
	b.loop = evloop_new(NULL);
	if (b.loop == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	ps.spec = spec;
	ps.vm_name = name;
	ps.origin = spec;
	ps.vlan = vlan;
	ps.trunk = trunk;
	b.sw = net_open(&ps, b.loop, to_far, &b, &err);
	if (b.sw == NULL) {
		log_warnx("%s", err.msg);
		evloop_free(b.loop);
		return err.code == -EINVAL ? 2 : 1;
	}
	b.sw->hangup = side_gone;
	b.far = net_open(far, b.loop, to_switch, &b, &err);
	if (b.far == NULL) {
		log_warnx("%s %s: %s", far->origin, name, err.msg);
		net_close(b.sw);
		evloop_free(b.loop);
		return err.code == -EINVAL ? 2 : 1;
	}
	b.far->hangup = side_gone;
	bridge_loop = b.loop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = evloop_run(b.loop);
	bridge_loop = NULL;
	net_close(b.far);
	net_close(b.sw);
	evloop_free(b.loop);
	return ret < 0 ? 1 : 0;
}

/* A port on switch name (its socket), announcing VLAN vlan or a trunk
 * when asked: the fd, -1 (the switch is not running, a message
 * printed) or -2 (a bad name). */
int
switch_port_connect(const char *name, int vlan, int trunk)
{
	struct vm_err err = { 0 };
	struct sockaddr_un sa;
	uint8_t hello[NET_HELLO_LEN];
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (net_switch_path(name, "sock", sa.sun_path, sizeof(sa.sun_path), 0,
	    &err) < 0) {
		log_warnx("%s", err.msg);
		return -2;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_warnx("switch %s is not running (no %s)", name, sa.sun_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (vlan || trunk) {
		net_hello_build(hello, vlan, trunk, 0);
		if (send(fd, hello, sizeof(hello), MSG_NOSIGNAL) < 0) {
			log_warn("switch %s", name);
			close(fd);
			return -1;
		}
	}
	return fd;
}
