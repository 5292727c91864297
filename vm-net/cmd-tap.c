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
	    "usage: vm-net tap NAME TAPDEV\n"
	    "  bridge host tap device TAPDEV into switch NAME, in the foreground\n"
	    "  (TAPDEV: a persistent tap made for you, 'ip tuntap add dev TAPDEV\n"
	    "  mode tap user USER', or as root any, created if missing)\n"
	    "\n"
	    "  -h, --help  show this help and exit\n");
}

int
cmd_tap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct net_params pt = { 0 };
	struct vm_err err = { 0 };
	char spec[80];
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
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
	return bridge_run(argv[optind], &pt);
}
