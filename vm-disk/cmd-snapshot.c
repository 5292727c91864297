/*
 * vm-disk snapshot: internal snapshots, as qemu-img snapshot does them.
 * -l lists them; -c NAME makes one of the current state, -a NAME (an id
 * or a name) returns the image to one, -d NAME deletes one.  Each change
 * is all or nothing: the image switches to the new state in one header
 * write.
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
	struct disk_opts o = { NULL, BLK_F_NOBACKING, 0 };
	const char *name = NULL;
	struct vm_err err;
	struct blk *b;
	int ch, op = 0, ret;

	while ((ch = getopt_long(argc, argv, "hf:Ulc:a:d:q", lo, NULL)) != -1) {
		if (disk_common_opt(ch, optarg, &o) != 0)
			continue;
		switch (ch) {
		case 'h':
			disk_usage("snapshot", false);
			return 0;
		case 'q':
			break;
		case 'l':
		case 'c':
		case 'a':
		case 'd':
			if (op && op != ch) {
				log_warnx("snapshot: -l, -c, -a and -d are "
				    "one at a time");
				return 2;
			}
			op = ch;
			name = optarg;
			break;
		default:
			disk_usage("snapshot", true);
			return 2;
		}
	}
	if (op == 0 || argc - optind != 1) {
		disk_usage("snapshot", true);
		return 2;
	}
	if (op == 'l')
		o.flags |= BLK_F_RDONLY;
	else if (o.flags & BLK_F_NOLOCK) {
		log_warnx("snapshot -%c: -U is only for -l", op);
		return 2;
	}
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	vm_err_clear(&err);
	switch (op) {
	case 'c':
		ret = blk_snapshot_create(b, name, &err);
		break;
	case 'a':
		ret = blk_snapshot_apply(b, name, &err);
		break;
	case 'd':
		ret = blk_snapshot_delete(b, name, &err);
		break;
	default:
		disk_print_snapshots(b);
		ret = 0;
	}
	if (ret < 0)
		log_warnx("%s", err.msg[0] ? err.msg : "snapshot failed");
	blk_close(b);
	return ret < 0 ? 1 : 0;
}
