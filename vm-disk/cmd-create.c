/*
 * vm-disk create: a new image, written beside FILE and renamed over it
 * when complete.  With -b and no size, the size is the backing file's;
 * the backing file is named relative to FILE's directory, as qemu-img
 * does, and opened once to check it exists and to probe its format
 * (disk_probe_backing).  "Formatting ..." is printed once the image
 * exists; a failed create prints only the error and leaves no file.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"
#include "util/size.h"

#include "disk.h"

int
cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct blk_create_opts o;
	const char *fmt = "raw";
	char bfmt[32];
	bool quiet = false, unsafe = false;
	uint64_t bsize = 0;
	struct vm_err err;
	int ch;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "hqf:b:F:o:u", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("create", false);
			return 0;
		case 'q':
			quiet = true;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'b':
			o.backing = optarg;
			break;
		case 'F':
			o.backing_fmt = optarg;
			break;
		case 'o':
			if (disk_parse_opts(optarg, &o) < 0)
				return 1;
			break;
		case 'u':
			unsafe = true;
			break;
		default:
			disk_usage("create", true);
			return 2;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		disk_usage("create", true);
		return 2;
	}
	if (blk_driver_find(fmt) == NULL) {
		log_warnx("unknown format '%s' (raw, qcow2, vdi, vpc, vmdk)",
		    fmt);
		return 1;
	}
	if (optind + 1 < argc && size_parse(argv[optind + 1], &o.size) < 0) {
		log_warnx("invalid size '%s' (a number with an optional "
		    "K, M, G, T suffix)", argv[optind + 1]);
		return 1;
	}
	if (o.backing && !unsafe) {
		if (disk_probe_backing(argv[optind], &o, bfmt, sizeof(bfmt),
		    &bsize) < 0)
			return 1;
		if (o.backing_fmt == NULL)
			o.backing_fmt = bfmt;
		if (optind + 1 >= argc)
			o.size = bsize;
	} else if (optind + 1 >= argc) {
		log_warnx("%s: a size is needed (or -b BACKING)", argv[optind]);
		return 1;
	}
	vm_err_clear(&err);
	if (blk_create(argv[optind], fmt, &o, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	/* Said once the image exists, never before a failure. */
	if (!quiet) {
		printf("Formatting '%s', fmt=%s", argv[optind], fmt);
		if (strcmp(fmt, "qcow2") == 0)
			printf(" cluster_size=%u compression_type=%s",
			    o.cluster_size ? o.cluster_size : 65536,
			    o.compression ? o.compression : "zlib");
		if (strcmp(fmt, "vmdk") == 0)
			printf(" subformat=%s", o.subformat ? o.subformat :
			    "monolithicSparse");
		printf(" size=%llu", (unsigned long long)o.size);
		if (strcmp(fmt, "vdi") == 0)
			printf(" static=%s", o.static_img ? "on" : "off");
		if (o.subformat && strcmp(fmt, "vmdk") != 0)
			printf(" subformat=%s", o.subformat);
		if (o.force_size)
			printf(" force_size=on");
		if (o.backing)
			printf(" backing_file=%s backing_fmt=%s", o.backing,
			    o.backing_fmt ? o.backing_fmt : "");
		printf("\n");
		fflush(stdout);
	}
	return 0;
}
