/*
 * vm-disk snapshot: internal snapshots.  -l lists them as qemu-img
 * snapshot -l does; creating, applying and deleting (-c, -a, -d) are
 * not done yet and say so.
 */
#include <getopt.h>
#include <stdio.h>

#include "block/block.h"
#include "util/log.h"

#include "disk.h"

int
cmd_snapshot(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY | BLK_F_NOBACKING, 0 };
	bool list = false;
	struct blk *b;
	int ch;

	while ((ch = getopt_long(argc, argv, "hf:Ulc:a:d:q", lo, NULL)) != -1) {
		if (disk_common_opt(ch, optarg, &o) != 0)
			continue;
		switch (ch) {
		case 'h':
			disk_usage("snapshot", false);
			return 0;
		case 'l':
			list = true;
			break;
		case 'q':
			break;
		case 'c':
		case 'a':
		case 'd':
			log_warnx("snapshot -%c: not supported yet (only -l)",
			    ch);
			return 1;
		default:
			disk_usage("snapshot", true);
			return 2;
		}
	}
	if (!list || argc - optind != 1) {
		disk_usage("snapshot", true);
		return 2;
	}
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	disk_print_snapshots(b);
	blk_close(b);
	return 0;
}
