/*
 * vm-disk rebase: give an overlay another backing file, as qemu-img
 * rebase does.  Safe mode (the default) keeps what the guest sees: every
 * cluster the overlay does not hold itself is read from the old chain
 * and from the new backing file (zeros past either's end), and where
 * they differ the old bytes are written into the overlay; then the
 * header names the new file.  -u (unsafe) only rewrites the header.
 * -b "" removes the backing file (safe mode copies all of it in first).
 * The new name is stored as given, relative to the overlay's directory.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"
#include "util/progress.h"

#include "disk.h"

/* The new backing file as the overlay at path will find it. */
static void
resolve(const char *path, const char *name, char *out, size_t len)
{
	char dir[4096];

	if (name[0] == '/' || strchr(path, '/') == NULL) {
		snprintf(out, len, "%s", name);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(out, len, "%s/%s", dirname(dir), name);
}

/* Read len guest bytes at off of nb (NULL: zeros), zeros past its end. */
static int
read_new(struct blk *nb, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t n = 0;

	if (nb != NULL && off < nb->size) {
		n = nb->size - off < len ? nb->size - off : len;
		if (disk_read(nb, buf, n, off) < 0) {
			disk_ioerr(nb, -5, "rebase");
			return -1;
		}
	}
	memset(buf + n, 0, (size_t)(len - n));
	return 0;
}

/* Copy into top every cluster it lacks whose old and new views differ. */
static int
copy_diff(struct blk *top, struct blk *nb, bool prog)
{
	uint64_t cs = blk_cluster_size(top), off, n, host, len, k;
	uint8_t *a, *b;
	struct progress pr;
	int st, depth, ret = 0;

	if (cs == 0 || cs > (2u << 20))
		cs = 65536;
	a = malloc((size_t)cs);
	b = malloc((size_t)cs);
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		log_warnx("out of memory");
		return -1;
	}
	progress_init(&pr, prog, top->size);
	for (off = 0; off < top->size && ret == 0; off += n) {
		st = blk_block_status(top, off, top->size - off, &n, &host,
		    &depth);
		if (st < 0) {
			disk_ioerr(top, st, "rebase");
			ret = -1;
			break;
		}
		if ((st & (BLK_S_DATA | BLK_S_ZERO)) && depth == 0)
			continue;
		for (k = off; k < off + n && ret == 0; k += len) {
			len = cs - k % cs;
			if (len > off + n - k)
				len = off + n - k;
			if (blk_read_backing(top, a, (size_t)len, k) < 0) {
				disk_ioerr(top, -5, "rebase");
				ret = -1;
			} else if ((ret = read_new(nb, b, len, k)) == 0 &&
			    memcmp(a, b, (size_t)len) != 0 &&
			    (ret = blk_pwrite(top, a, (size_t)len, k)) < 0) {
				disk_ioerr(top, ret, "rebase");
			}
			progress_update(&pr, k + len);
		}
	}
	progress_end(&pr);
	free(a);
	free(b);
	return ret < 0 ? -1 : 0;
}

int
cmd_rebase(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *bfmt = NULL, *name = NULL;
	bool unsafe = false, prog = false, quiet = false;
	struct blk *top, *nb = NULL;
	char path[8192];
	struct vm_err err;
	int ch, ret = 0;

	while ((ch = getopt_long(argc, argv, "hf:F:b:upqUt:T:", lo,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("rebase", false);
			return 0;
		case 'f':
			fmt = optarg;
			break;
		case 'F':
			bfmt = optarg;
			break;
		case 'b':
			name = optarg;
			break;
		case 'u':
			unsafe = true;
			break;
		case 'p':
			prog = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
		case 't':
		case 'T':
			break;          /* qemu-img's: no meaning here */
		default:
			disk_usage("rebase", true);
			return 2;
		}
	}
	if (name == NULL || argc - optind != 1) {
		disk_usage("rebase", true);
		return 2;
	}
	if (bfmt && blk_driver_find(bfmt) == NULL) {
		log_warnx("rebase: unknown backing format '%s'", bfmt);
		return 1;
	}
	progress_on_sigusr1();
	top = disk_open(argv[optind], fmt, unsafe ? BLK_F_NOBACKING : 0);
	if (top == NULL)
		return 1;
	if (top->drv->set_backing == NULL) {
		log_warnx("%s: %s images have no backing file", top->path,
		    top->drv->name);
		blk_close(top);
		return 1;
	}
	if (name[0]) {
		resolve(top->path, name, path, sizeof(path));
		/* Unsafe mode needs the file only to learn its format. */
		if (!unsafe || bfmt == NULL) {
			nb = disk_open(path, bfmt, BLK_F_RDONLY |
			    (unsafe ? BLK_F_NOLOCK : 0));
			if (nb == NULL) {
				if (unsafe)
					log_warnx("rebase -u: without -F the "
					    "new backing file must exist (its "
					    "format is probed)");
				blk_close(top);
				return 1;
			}
			if (bfmt == NULL)
				bfmt = nb->drv->name;
		}
	}
	if (!unsafe)
		ret = copy_diff(top, nb, prog && !quiet);
	if (ret == 0 && (ret = blk_flush(top)) < 0)
		disk_ioerr(top, ret, "flush");
	vm_err_clear(&err);
	if (ret == 0 && blk_set_backing(top, name[0] ? name : NULL,
	    name[0] ? bfmt : NULL, &err) < 0) {
		log_warnx("%s", err.msg);
		ret = -1;
	}
	if (nb)
		blk_close(nb);
	blk_close(top);
	return ret < 0 ? 1 : 0;
}
