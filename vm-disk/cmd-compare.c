/*
 * vm-disk compare: are two images' guest contents the same?  Exit 0
 * identical, 1 different (the first differing offset printed), 2 error,
 * as qemu-img compare.  Images of different sizes compare equal when the
 * larger one's extra bytes are zeros, unless -s (strict).  Extents that
 * both images report as zeros are not read.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"

#include "disk.h"

#define CHUNK (1u << 20)

/* Status of [off, off+len) as "zero" (true) or "maybe data". */
static int
zero_ext(struct blk *b, uint64_t off, uint64_t len, uint64_t *n, bool *zero)
{
	uint64_t host;
	int depth, st = blk_block_status(b, off, len, n, &host, &depth);

	if (st < 0)
		return st;
	*zero = !(st & BLK_S_DATA);
	return 0;
}

static int
first_diff(const uint8_t *a, const uint8_t *b, uint64_t n, uint64_t *at)
{
	uint64_t i;

	if (memcmp(a, b, (size_t)n) == 0)
		return 0;
	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	*at = i;
	return 1;
}

static int
compare(struct blk *x, struct blk *y, uint8_t *bx, uint8_t *by,
    uint64_t *at)
{
	uint64_t off = 0, end = x->size < y->size ? x->size : y->size, n, m, i;
	bool zx, zy;
	int ret;

	while (off < end) {
		n = end - off < CHUNK ? end - off : CHUNK;
		if ((ret = zero_ext(x, off, n, &n, &zx)) < 0 ||
		    (ret = zero_ext(y, off, n, &m, &zy)) < 0) {
			disk_ioerr(ret == 0 ? y : x, ret, "read");
			return -1;
		}
		n = m < n ? m : n;
		if (!(zx && zy)) {
			if ((ret = disk_read(x, bx, n, off)) < 0) {
				disk_ioerr(x, ret, "read");
				return -1;
			}
			if ((ret = disk_read(y, by, n, off)) < 0) {
				disk_ioerr(y, ret, "read");
				return -1;
			}
			if (first_diff(bx, by, n, &i)) {
				*at = off + i;
				return 1;
			}
		}
		off += n;
	}
	/* The longer image's tail must read as zeros. */
	if (x->size < y->size) {
		struct blk *t = x;

		x = y;
		y = t;
	}
	memset(by, 0, CHUNK);
	while (off < x->size) {
		n = x->size - off < CHUNK ? x->size - off : CHUNK;
		if ((ret = disk_read(x, bx, n, off)) < 0) {
			disk_ioerr(x, ret, "read");
			return -1;
		}
		if (first_diff(bx, by, n, &i)) {
			*at = off + i;
			return 1;
		}
		off += n;
	}
	return 0;
}

int
cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *f1 = NULL, *f2 = NULL;
	unsigned flags = BLK_F_RDONLY;
	bool strict = false, quiet = false;
	struct blk *x, *y = NULL;
	uint8_t *bx, *by;
	uint64_t at = 0;
	int ch, rc = 2;

	while ((ch = getopt_long(argc, argv, "hf:F:sqpU", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("compare", false);
			return 0;
		case 'f':
			f1 = optarg;
			break;
		case 'F':
			f2 = optarg;
			break;
		case 's':
			strict = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'p':
			break;
		case 'U':
			flags |= BLK_F_NOLOCK;
			break;
		default:
			disk_usage("compare", true);
			return 2;
		}
	}
	if (argc - optind != 2) {
		disk_usage("compare", true);
		return 2;
	}
	if (f2 == NULL)
		f2 = f1;
	if ((x = disk_open(argv[optind], f1, flags)) == NULL ||
	    (y = disk_open(argv[optind + 1], f2, flags)) == NULL) {
		blk_close(x);
		return 2;
	}
	bx = malloc(CHUNK);
	by = malloc(CHUNK);
	if (bx == NULL || by == NULL) {
		log_warnx("out of memory");
		goto out;
	}
	if (x->size != y->size) {
		if (strict) {
			if (!quiet)
				printf("Strict mode: Image size mismatch!\n");
			rc = 1;
			goto out;
		}
		if (!quiet)
			fprintf(stderr, "Warning: Image size mismatch!\n");
	}
	switch (compare(x, y, bx, by, &at)) {
	case 0:
		if (!quiet)
			printf("Images are identical.\n");
		rc = 0;
		break;
	case 1:
		if (!quiet)
			printf("Content mismatch at offset %llu!\n",
			    (unsigned long long)at);
		rc = 1;
		break;
	default:
		rc = 2;
	}
out:
	free(bx);
	free(by);
	blk_close(x);
	blk_close(y);
	return rc;
}
