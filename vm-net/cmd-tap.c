/*
 * vm-net tap NAME TAPDEV: bridge host tap TAPDEV into switch NAME (VMware's
 * bridged network: put TAPDEV in a host bridge with a real interface, or
 * give it an address for a host-only network).  Every frame the switch
 * floods or sends to a MAC learned on this port goes to the tap, every
 * frame the host sends on the tap to the switch.  TAPDEV is opened as
 * vm-run's tap:DEV is (common/net/tap.c): a persistent tap made for this
 * user, or any (created if missing) as root.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "vm-net.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net tap [--vlan N | --trunk] NAME TAPDEV\n"
	    "  bridge host tap device TAPDEV into switch NAME, in the foreground\n"
	    "  (TAPDEV: a persistent tap made for you, 'ip tuntap add dev TAPDEV\n"
	    "  mode tap user USER', or as root any, created if missing)\n"
	    "\n"
	    "  -v, --vlan N  the tap is an access port on VLAN N (default 1)\n"
	    "  -t, --trunk   the tap is a trunk: every VLAN, tagged 802.1Q\n"
	    "                (VLAN 1 untagged)\n"
	    "  -h, --help    show this help and exit\n");
}

int
cmd_tap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "trunk", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct net_params pt = { 0 };
	struct vm_err err = { 0 };
	char spec[80];
	int ch, vlan = 0, trunk = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "hv:t", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
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
	if (argc - optind != 2 || (vlan && trunk)) {
		usage(stderr);
		return 2;
	}
	if (net_tap_name_check(argv[optind + 1], &err) < 0) {
		log_warnx("%s", err.msg);
		return 2;
	}
	snprintf(spec, sizeof(spec), "tap:%s", argv[optind + 1]);
	pt.spec = spec;
	pt.vm_name = argv[optind];
	pt.origin = "tap";
	return bridge_run(argv[optind], &pt, vlan, trunk);
}
