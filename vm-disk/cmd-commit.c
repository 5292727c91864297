/*
 * vm-disk commit: write what an overlay holds into its backing file, as
 * qemu-img commit does.  Every extent some image above the base holds
 * (data or zeros) is read through the top image and written into the
 * base, which grows first if it is smaller.  The top image is then
 * emptied (it reads as its backing file again) unless -d keeps it; with
 * -b BASE deeper in the chain the images between are left as they were,
 * no longer meaningful, so -b implies -d as in qemu-img.
 *
 * The chain is opened with the top image locked for writing and the
 * images below unlocked; the base is opened a second time, with its own
 * chain below it, to be written.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "util/log.h"
#include "util/progress.h"

#include "disk.h"

#define CHUNK (1u << 20)

/* Depth of BASE in top's chain (1 = its backing file); -1 printed. */
static int
find_base(struct blk *top, const char *base)
{
	struct stat want, st;
	struct blk *l;
	int d;

	if (base == NULL) {
		if (top->backing == NULL) {
			log_warnx("%s: the image has no backing file to commit "
			    "into", top->path);
			return -1;
		}
		return 1;
	}
	if (stat(base, &want) < 0) {
		log_warnx("%s: not found in the backing chain of %s", base,
		    top->path);
		return -1;
	}
	for (l = top->backing, d = 1; l != NULL; l = l->backing, d++)
		if (stat(l->path, &st) == 0 && st.st_dev == want.st_dev &&
		    st.st_ino == want.st_ino)
			return d;
	log_warnx("%s: not found in the backing chain of %s", base, top->path);
	return -1;
}

static struct blk *
layer(struct blk *b, int depth)
{
	while (depth-- > 0)
		b = b->backing;
	return b;
}

/* Copy every extent above depth bd from top into base. */
static int
copy_down(struct blk *top, struct blk *base, int bd, bool prog)
{
	uint64_t off, n, host, k;
	struct progress pr;
	uint8_t *buf;
	int st, depth, ret = 0;

	if ((buf = malloc(CHUNK)) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	progress_init(&pr, prog, top->size);
	for (off = 0; off < top->size && ret == 0; off += n) {
		st = blk_block_status(top, off, top->size - off, &n, &host,
		    &depth);
		if (st < 0) {
			disk_ioerr(top, st, "commit");
			ret = -1;
			break;
		}
		if (!(st & (BLK_S_DATA | BLK_S_ZERO)) || depth >= bd)
			continue;
		for (k = 0; k < n && ret == 0; k += CHUNK) {
			size_t len = n - k < CHUNK ? (size_t)(n - k) : CHUNK;

			if ((ret = blk_pread(top, buf, len, off + k)) < 0)
				disk_ioerr(top, ret, "commit");
			else if ((ret = blk_pwrite(base, buf, len,
			    off + k)) < 0)
				disk_ioerr(base, ret, "commit");
			progress_update(&pr, off + k + len);
		}
	}
	progress_end(&pr);
	free(buf);
	return ret < 0 ? -1 : 0;
}

int
cmd_commit(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *basename = NULL;
	bool keep = false, quiet = false, prog = false;
	struct blk *top, *base;
	struct vm_err err;
	int ch, bd, ret;

	while ((ch = getopt_long(argc, argv, "hf:b:dpqt:", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("commit", false);
			return 0;
		case 'f':
			fmt = optarg;
			break;
		case 'b':
			basename = optarg;
			keep = true;
			break;
		case 'd':
			keep = true;
			break;
		case 'p':
			prog = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 't':
			break;          /* qemu-img's cache mode: no meaning here */
		default:
			disk_usage("commit", true);
			return 2;
		}
	}
	if (argc - optind != 1) {
		disk_usage("commit", true);
		return 2;
	}
	progress_on_sigusr1();
	top = disk_open(argv[optind], fmt, (keep ? BLK_F_RDONLY : 0) |
	    BLK_F_BACKING_NOLOCK);
	if (top == NULL)
		return 1;
	if ((bd = find_base(top, basename)) < 0) {
		blk_close(top);
		return 1;
	}
	if (!keep && top->drv->make_empty == NULL) {
		log_warnx("%s: %s images cannot be emptied after the commit; "
		    "use -d to keep it", top->path, top->drv->name);
		blk_close(top);
		return 1;
	}
	base = disk_open(layer(top, bd)->path, layer(top, bd)->drv->name, 0);
	if (base == NULL) {
		blk_close(top);
		return 1;
	}
	vm_err_clear(&err);
	ret = 0;
	if (base->size < top->size && blk_resize(base, top->size, &err) < 0) {
		log_warnx("%s", err.msg);
		ret = -1;
	}
	if (ret == 0)
		ret = copy_down(top, base, bd, prog && !quiet);
	if (ret == 0 && (ret = blk_flush(base)) < 0)
		disk_ioerr(base, ret, "flush");
	blk_close(base);
	if (ret == 0 && !keep && blk_make_empty(top, &err) < 0) {
		log_warnx("%s", err.msg);
		ret = -1;
	}
	blk_close(top);
	if (ret < 0)
		return 1;
	if (!quiet)
		printf("Image committed.\n");
	return 0;
}
