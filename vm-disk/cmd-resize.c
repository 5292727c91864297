/*
 * vm-disk resize: a new virtual size, absolute or relative (+1G, -512M).
 * Shrinking loses data past the new end, so it needs --shrink.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"
#include "util/size.h"

#include "disk.h"

int
cmd_resize(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "shrink", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *arg;
	bool shrink = false, quiet = false;
	uint64_t size, n;
	struct vm_err err;
	struct blk *b;
	int ch, sign = 0;

	while ((ch = getopt_long(argc, argv, "hf:q", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("resize", false);
			return 0;
		case 'f':
			fmt = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'S':
			shrink = true;
			break;
		default:
			disk_usage("resize", true);
			return 2;
		}
	}
	/* "-1G" would look like an option: it comes after "--" or last. */
	if (argc - optind != 2) {
		disk_usage("resize", true);
		return 2;
	}
	arg = argv[optind + 1];
	if (arg[0] == '+' || arg[0] == '-')
		sign = *arg++ == '+' ? 1 : -1;
	if (size_parse(arg, &n) < 0) {
		log_warnx("invalid size '%s'", argv[optind + 1]);
		return 1;
	}
	if ((b = disk_open(argv[optind], fmt, BLK_F_NOBACKING)) == NULL)
		return 1;
	if (sign < 0 && n > b->size) {
		log_warnx("%s: cannot shrink below 0 bytes", b->path);
		blk_close(b);
		return 1;
	}
	size = sign > 0 ? b->size + n : sign < 0 ? b->size - n : n;
	if (size < b->size && !shrink) {
		log_warnx("%s: shrinking would lose the data past %llu bytes; "
		    "use --shrink to do it anyway", b->path,
		    (unsigned long long)size);
		blk_close(b);
		return 1;
	}
	vm_err_clear(&err);
	if (blk_resize(b, size, &err) < 0) {
		log_warnx("%s", err.msg);
		blk_close(b);
		return 1;
	}
	blk_close(b);
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}
