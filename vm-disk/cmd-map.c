/*
 * vm-disk map: the image's extents, merged where neighbours agree.  JSON
 * keys are qemu-img map's: start, length, depth (0 = this image), present
 * (some layer has it), zero, data, compressed, offset (host offset in that
 * layer's file, for uncompressed data).  The human table lists the data
 * extents and the file each lives in.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/json.h"
#include "util/log.h"

#include "disk.h"

struct ext {
	uint64_t start, len, host;
	int st, depth;
};

static struct blk *
layer(struct blk *b, int depth)
{
	while (depth-- > 0 && b->backing)
		b = b->backing;
	return b;
}

static void
emit(struct json *j, struct blk *b, const struct ext *e, bool as_json)
{
	bool data = e->st & BLK_S_DATA, present = e->st & (BLK_S_DATA |
	    BLK_S_ZERO), comp = e->st & BLK_S_COMPRESSED;

	if (!as_json) {
		if (data && !comp)
			printf("%#-16llx%#-16llx%#-16llx%s\n",
			    (unsigned long long)e->start,
			    (unsigned long long)e->len,
			    (unsigned long long)e->host,
			    layer(b, e->depth)->path);
		return;
	}
	json_obj_begin(j, NULL);
	json_u64(j, "start", e->start);
	json_u64(j, "length", e->len);
	json_int(j, "depth", e->depth);
	json_bool(j, "present", present);
	json_bool(j, "zero", !data);
	json_bool(j, "data", data);
	json_bool(j, "compressed", comp);
	if (data && !comp && e->host != UINT64_MAX)
		json_u64(j, "offset", e->host);
	json_obj_end(j);
}

int
cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {
		DISK_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY, 0 };
	int ch, st, depth, rc = 0;
	uint64_t off = 0, n, host;
	struct ext cur = { 0, 0, 0, -1, 0 };
	struct blk *b;
	struct json j;

	while ((ch = getopt_long(argc, argv, "hf:U", lo, NULL)) != -1) {
		if ((rc = disk_common_opt(ch, optarg, &o)) < 0)
			return 2;
		if (rc == 0) {
			disk_usage("map", ch != 'h');
			return ch == 'h' ? 0 : 2;
		}
	}
	rc = 0;
	if (argc - optind != 1) {
		disk_usage("map", true);
		return 2;
	}
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	json_init(&j, stdout);
	if (o.json)
		json_arr_begin(&j, NULL);
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		    "File");
	while (off < b->size) {
		st = blk_block_status(b, off, b->size - off, &n, &host, &depth);
		if (st < 0) {
			disk_ioerr(b, st, "map");
			rc = 1;
			break;
		}
		if (!(st & BLK_S_DATA))
			host = UINT64_MAX;
		if (cur.st == st && cur.depth == depth &&
		    (host == UINT64_MAX ? cur.host == UINT64_MAX :
		    cur.host + cur.len == host) && !(st & BLK_S_COMPRESSED)) {
			cur.len += n;
		} else {
			if (cur.st >= 0)
				emit(&j, b, &cur, o.json);
			cur.start = off;
			cur.len = n;
			cur.host = host;
			cur.st = st;
			cur.depth = depth;
		}
		off += n;
	}
	if (rc == 0 && cur.st >= 0)
		emit(&j, b, &cur, o.json);
	if (o.json) {
		json_arr_end(&j);
		json_finish(&j);
	}
	blk_close(b);
	return rc;
}
