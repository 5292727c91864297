/*
 * vm-net — virtual networks: a learning Ethernet switch daemon that VMs
 * join with vm-run --net switch:NAME, the commands that look into one
 * (list, status, capture) or stop it, a port on a byte stream (plug) and
 * a shared NAT on a switch (nat), a host tap bridged into one (tap), a
 * switch with a DHCP server (hostonly), a port over VXLAN (vxlan).
 * Argument dispatch only; each command is in its own file.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/version.h"
#include "vm-net.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} cmds[] = {
	{ "switch", cmd_switch },
	{ "list", cmd_list },
	{ "status", cmd_status },
	{ "stop", cmd_stop },
	{ "capture", cmd_capture },
	{ "plug", cmd_plug },
	{ "nat", cmd_nat },
	{ "tap", cmd_tap },
	{ "hostonly", cmd_hostonly },
	{ "vxlan", cmd_vxlan },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net [-hV] COMMAND [ARGS]\n"
	    "Virtual networks for vm-run (sockets under $XDG_RUNTIME_DIR/vmkit/net/).\n"
	    "\n"
	    "  switch [-d] NAME          run a learning Ethernet switch\n"
	    "  hostonly [-d] NAME        a switch with a DHCP server and no way out\n"
	    "  list [--json]             the switches running\n"
	    "  status [--json] NAME      a switch's ports, MACs and counters\n"
	    "  stop NAME                 stop a switch\n"
	    "  capture NAME [-w FILE|-]  every frame on a switch, as pcap\n"
	    "  plug NAME                 a port on stdin/stdout (length-prefixed)\n"
	    "  nat [-f RULE]... NAME     a shared NAT with DHCP on a switch\n"
	    "  tap NAME TAPDEV           bridge a host tap device into a switch\n"
	    "  vxlan --remote ADDR --vni N NAME\n"
	    "                            a switch port over VXLAN (RFC 7348)\n"
	    "\n"
	    "  -h, --help      show this help and exit\n"
	    "  -V, --version   show the version and exit\n"
	    "'vm-net COMMAND --help' tells more; see vm-net(1).\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int ch;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vm-net %s\n", VMKIT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0)
			return cmds[i].fn(argc - optind, argv + optind);
	log_warnx("unknown command '%s'", argv[optind]);
	usage(stderr);
	return 2;
}
