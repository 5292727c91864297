/*
 * vm-net nat NAME: a shared user-mode NAT on switch NAME (VMware's vmnet8
 * model): one port on the switch, libslirp behind it (common/net/nat.c,
 * the same NAT as vm-run --net nat) with its DHCP server, DNS relay and
 * port forwards.  Every VM on the switch gets its own address from
 * 10.0.2.15 up.  Runs in the foreground until the switch stops or a
 * signal.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "net/dhcpd.h"
#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "vm-net.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net nat [--subnet NET] [--forward RULE]... NAME\n"
	    "  a shared NAT (DHCP from 10.0.2.15, DNS 10.0.2.3, gateway 10.0.2.2)\n"
	    "  on switch NAME, in the foreground\n"
	    "\n"
	    "  -s, --subnet NET    another subnet, a.b.c.d/16 to /27: the gateway is\n"
	    "                      its .2, DNS .3, DHCP from .15\n"
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
		{ "subnet", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct net_params pn = { 0 };
	struct vm_err err = { 0 };
	uint32_t addr;
	uint16_t hp, gp;
	int ch, udp, prefix;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "hf:s:", longopts, NULL)) != -1) {
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
		case 's':
			if (dhcpd_parse_subnet(optarg, &addr, &prefix) < 0 ||
			    prefix > 27) {
				log_warnx("--subnet: '%s' is not a subnet "
				    "a.b.c.d/P with P from 16 to 27", optarg);
				return 2;
			}
			pn.subnet = optarg;
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
	pn.spec = "nat";
	pn.vm_name = argv[optind];
	pn.origin = pn.subnet ? "--subnet" : "nat";
	return bridge_run(argv[optind], &pn, 0, 0);
}
