/*
 * vm-net nat NAME: a shared user-mode NAT on switch NAME (VMware's vmnet8
 * model): one port on the switch, libslirp behind it (common/net/nat.c,
 * the same NAT as vm-run --net nat) with its DHCP server, DNS relay and
 * port forwards.  Every VM on the switch gets its own address from
 * 10.0.2.15 up.  Runs in the foreground until the switch stops or a
 * signal.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm-net.h"

struct natbr {
	struct evloop *loop;
	struct net_backend *sw, *nat;
};

static struct evloop *nat_loop;

static void
on_signal(int sig)
{
	(void)sig;
	if (nat_loop)
		evloop_stop(nat_loop);
}

static void
to_nat(void *opaque, const void *frame, size_t len)
{
	struct natbr *b = opaque;

	if (b->nat)
		net_send(b->nat, frame, len);
}

static void
to_switch(void *opaque, const void *frame, size_t len)
{
	struct natbr *b = opaque;

	net_send(b->sw, frame, len);
}

static void
switch_gone(void *opaque)
{
	struct natbr *b = opaque;

	evloop_stop(b->loop);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net nat [--forward RULE]... NAME\n"
	    "  a shared NAT (DHCP from 10.0.2.15, DNS 10.0.2.3, gateway 10.0.2.2)\n"
	    "  on switch NAME, in the foreground\n"
	    "\n"
	    "  -f, --forward RULE  tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT to the first\n"
	    "                      guest address, 10.0.2.15 (repeatable)\n"
	    "  -h, --help          show this help and exit\n");
}

int
cmd_nat(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "forward", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct net_params ps = { 0 }, pn = { 0 };
	struct vm_err err = { 0 };
	struct natbr b = { 0 };
	struct sigaction sa;
	char spec[80];
	uint32_t addr;
	uint16_t hp, gp;
	int ch, udp, ret;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "hf:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'f':
			if (pn.nforwards == NET_MAX_FORWARDS) {
				log_warnx("--forward: at most %d rules",
				    NET_MAX_FORWARDS);
				return 2;
			}
			if (net_parse_forward(optarg, &udp, &addr, &hp, &gp,
			    &err) < 0) {
				log_warnx("--forward: %s", err.msg);
				return 2;
			}
			pn.forwards[pn.nforwards++] = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	snprintf(spec, sizeof(spec), "switch:%s", argv[optind]);
	b.loop = evloop_new(NULL);
	if (b.loop == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	ps.spec = spec;
	ps.vm_name = argv[optind];
	ps.origin = spec;
	b.sw = net_open(&ps, b.loop, to_nat, &b, &err);
	if (b.sw == NULL) {
		log_warnx("%s", err.msg);
		evloop_free(b.loop);
		return err.code == -EINVAL ? 2 : 1;
	}
	b.sw->hangup = switch_gone;
	pn.spec = "nat";
	pn.vm_name = argv[optind];
	pn.origin = "nat";
	b.nat = net_open(&pn, b.loop, to_switch, &b, &err);
	if (b.nat == NULL) {
		log_warnx("nat %s: %s", argv[optind], err.msg);
		net_close(b.sw);
		evloop_free(b.loop);
		return 1;
	}
	nat_loop = b.loop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = evloop_run(b.loop);
	nat_loop = NULL;
	net_close(b.nat);
	net_close(b.sw);
	evloop_free(b.loop);
	return ret < 0 ? 1 : 0;
}
