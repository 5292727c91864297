/*
 * vm-net — build virtual networks.
 * Not built yet (issue 6): this front end answers --help and --version and
 * otherwise says so and fails, rather than pretend.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/version.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-net [-hV] ...\n"
	    "  build virtual networks (not implemented yet)\n"
	    "\n"
	    "  -h, --help      show this help and exit\n"
	    "  -V, --version   show the version and exit\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
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
	log_warnx("not implemented yet: vm-net is a placeholder in this build");
	return 1;
}
