/*
 * vm-disk — create, inspect, convert and check disk images, with
 * qemu-img's subcommands, options and exit statuses so scripts carry
 * over.  Each subcommand is one cmd-*.c; this file holds the table and
 * the help text (which man/vm-disk.1 mirrors).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/version.h"

#include "disk.h"

struct subcmd {
	const char *name;
	int (*fn)(int, char **);
	const char *synopsis;
	const char *help;
};

static const struct subcmd cmds[] = {
	{ "create", cmd_create,
	  "create [-q] [-f FMT] [-b BACKING [-F FMT]] [-o OPTS] FILE [SIZE]",
	  "make a new image; -o cluster_size=,compression_type=zlib|zstd,"
	  "\n\tpreallocation=off|metadata (qcow2)|falloc|full,compat=0.10|1.1,"
	  "\n\trefcount_bits=1..64,extended_l2=on (qcow2),"
	  "\n\tstatic=on (vdi), subformat=dynamic|fixed,force_size=on (vpc)"
	  "\n\tsubformat=monolithicSparse|monolithicFlat|twoGbMaxExtentSparse|"
	  "\n\ttwoGbMaxExtentFlat|streamOptimized (vmdk);"
	  "\n\t-b: a qcow2 or vmdk overlay, a differencing vpc or vdi over\n"
	  "\tone of its format; \"Formatting ...\" once the image is made\n"
	  "\t(a failed create leaves no file)" },
	{ "info", cmd_info,
	  "info [-U] [-f FMT] [--output=json] [--json] [--backing-chain] FILE",
	  "describe an image (and with --backing-chain, every image below)" },
	{ "convert", cmd_convert,
	  "convert [-p] [-q] [-c] [-U] [-f FMT] [-O FMT] [-B BACKING] [-o OPTS]\n"
	  "\t\t[-S SIZE] IN OUT",
	  "copy the guest-visible contents into a new image (OUT - is stdout:\n"
	  "\traw or a streamOptimized vmdk; IN - is stdin: a redirected file of\n"
	  "\tany format, or from a pipe raw or a streamOptimized vmdk; -B: an\n"
	  "\toverlay holding only what differs from BACKING;\n"
	  "\t-O vmdk -o subformat=streamOptimized compresses, as -c does)" },
	{ "check", cmd_check,
	  "check [-q] [-U] [-f FMT] [-r leaks|all] [--output=json] [--json] FILE",
	  "check metadata: exit 0 clean, 2 corrupt, 3 leaks only, 63 no checks;\n"
	  "\t-r leaks lowers refcounts that are too high; -r all also fixes\n"
	  "\tthose too low, missing refcount blocks, qcow2 copied flags and\n"
	  "\tL2 entries past the end, and repairs vdi/vpc block maps" },
	{ "compare", cmd_compare,
	  "compare [-q] [-s] [-U] [-f FMT] [-F FMT] FILE1 FILE2",
	  "compare guest contents: exit 0 identical, 1 different, 2 error" },
	{ "map", cmd_map,
	  "map [-U] [-f FMT] [--output=json] [--json] FILE",
	  "list extents: data, zero, which layer, host offset" },
	{ "resize", cmd_resize,
	  "resize [-q] [-f FMT] [--shrink] FILE [+|-]SIZE",
	  "change the virtual size (shrinking needs --shrink)" },
	{ "commit", cmd_commit,
	  "commit [-q] [-p] [-d] [-f FMT] [-b BASE] FILE",
	  "write an overlay's data into its backing file (or BASE, deeper in\n"
	  "\tthe chain), then empty the overlay (qcow2, differencing vpc/vdi;\n"
	  "\t-d, or -b: keep it)" },
	{ "rebase", cmd_rebase,
	  "rebase [-q] [-p] [-u] [-f FMT] [-F FMT] -b BACKING FILE",
	  "point an overlay at another backing file (\"\": none), copying in\n"
	  "\twhat differs so the guest sees the same bytes (-u: header only)" },
	{ "snapshot", cmd_snapshot,
	  "snapshot [-q] [-U] [-f FMT] -l | -c NAME | -a NAME | -d NAME FILE",
	  "list, create, apply (revert to) or delete internal snapshots\n"
	  "\t(qcow2; NAME is a snapshot's id or name; the new tables go in\n"
	  "\tfreed clusters first)" },
	{ "measure", cmd_measure,
	  "measure [-U] [-f FMT] [-O raw|qcow2|vdi|vpc|vmdk] [-o OPTS]\n"
	  "\t\t[--output=json] [--json]\n"
	  "\t\t--size SIZE | FILE",
	  "the file size an image of SIZE, or a copy of FILE, needs in the\n"
	  "\toutput format (qemu-img's \"required\" and \"fully allocated\")" },
	{ "cat", cmd_cat,
	  "cat [-U] [-f FMT] FILE",
	  "write the guest-visible bytes to stdout" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: vm-disk [-hV] COMMAND [ARGS...]\n"
	    "  create, inspect, convert and check disk images\n"
	    "  (raw, qcow2, vdi, vpc, vmdk; vhd is another name for vpc)\n"
	    "  (a qcow2 file written to loses the freed clusters at its end\n"
	    "  when closed: discard, commit and check -r leaks shrink it)\n"
	    "\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  vm-disk %s\n", cmds[i].synopsis);
	fprintf(f,
	    "\n"
	    "  -h, --help      show this help and exit (COMMAND --help: its own)\n"
	    "  -V, --version   show the version and exit\n"
	    "  -f FMT          the image's format (default: probed from content)\n"
	    "  -U              inspect an image another process has open\n");
}

void
disk_usage(const char *cmd, bool err)
{
	FILE *f = err ? stderr : stdout;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, cmd) == 0) {
			fprintf(f, "usage: vm-disk %s\n  %s\n",
			    cmds[i].synopsis, cmds[i].help);
			return;
		}
	}
	usage(f);
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
			printf("vm-disk %s\n", VMKIT_VERSION);
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
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, argv[optind]) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0;     /* GNU: restart getopt for the command */
			return cmds[i].fn(argc, argv);
		}
	}
	log_warnx("unknown command '%s' (vm-disk --help lists them)",
	    argv[optind]);
	return 2;
}
