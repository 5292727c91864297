/*
 * vm-disk map: the image's extents, merged where neighbours agree.  JSON
 * keys are qemu-img map's: start, length, depth (0 = this image), present
 * (some layer has it), zero, data, compressed, offset (host offset in that
 * layer's file, for uncompressed data).  The human table lists the data
 * extents and the file each lives in.  As in qemu-img, data over a hole
 * of the host file (a preallocation=metadata cluster not yet written)
 * says zero, and the table leaves it out (qcow2 images whose file is
 * much sparser than its clusters: sparse_prealloc).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/*
 * The run of [host, host+len) in fd that is all hole or all data
 * (SEEK_HOLE/SEEK_DATA): its length, and in *hole which.  A file system
 * without them has data everywhere.
 */
static uint64_t
host_run(int fd, uint64_t host, uint64_t len, bool *hole)
{
	off_t d = lseek(fd, (off_t)host, SEEK_DATA), h;
	uint64_t n;

	*hole = false;
	if (d < 0) {
		*hole = errno == ENXIO;         /* a hole to the end */
		return len;
	}
	if ((uint64_t)d > host) {
		*hole = true;
		n = (uint64_t)d - host;
	} else {
		h = lseek(fd, (off_t)host, SEEK_HOLE);
		n = h < 0 || (uint64_t)h <= host ? len : (uint64_t)h - host;
	}
	return n < len ? n : len;
}

/*
 * Whether the file of a qcow2 layer looks preallocated with metadata
 * only: it spans many more clusters than it has blocks allocated (a
 * tenth more, or two), the test qemu makes before it looks at the host
 * file's holes under data clusters.
 */
static bool
sparse_prealloc(struct blk *b)
{
	struct stat st;
	uint64_t cs = blk_cluster_size(b), real, spans, thr;

	if (cs == 0 || fstat(b->fd, &st) < 0)
		return false;
	real = (uint64_t)st.st_blocks * 512 / cs;
	spans = ((uint64_t)st.st_size + cs - 1) / cs;
	thr = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
	return spans >= thr;
}

static void
emit(struct json *j, struct blk *b, const struct ext *e, bool as_json)
{
	bool data = e->st & BLK_S_DATA, present = e->st & (BLK_S_DATA |
	    BLK_S_ZERO), comp = e->st & BLK_S_COMPRESSED;
	bool zero = !data || (e->st & BLK_S_ZERO);

	if (!as_json) {
		if (data && !comp && !zero)
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
	json_bool(j, "zero", zero);
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
		/* qcow2 only: other formats' host offsets may lie in
		 * extent files other than the one opened */
		if ((st & BLK_S_DATA) && !(st & BLK_S_COMPRESSED) &&
		    host != UINT64_MAX &&
		    strcmp(layer(b, depth)->drv->name, "qcow2") == 0 &&
		    sparse_prealloc(layer(b, depth))) {
			bool hole;

			n = host_run(layer(b, depth)->fd, host, n, &hole);
			if (hole)
				st |= BLK_S_ZERO;
		}
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
