/*
 * vm-disk measure: how large a file an image of --size N, or a copy of an
 * existing image, takes in the output format, as qemu-img measure
 * computes it.  "fully allocated" counts every cluster and all metadata
 * for the virtual size; "required" drops the data clusters a copy would
 * not write (zeros and holes of the input, unless it is preallocated or
 * given a backing file).  qcow2 metadata: a header cluster, the L2 and L1
 * tables, and the refcount blocks and table, found as the fixed point
 * where they count themselves too.
 *
 * vdi, vpc and vmdk (qemu-img measures none of them): the metadata is
 * that of an empty image of the size, made for real in a memory file by
 * the format's own create, so it cannot drift from what create and
 * convert write; the data is a block's bytes (and vpc's sector bitmap)
 * per block, every block when fully allocated, or those with data in
 * the input.  A streamOptimized vmdk counts each grain at its deflate
 * bound behind its marker, and a grain table per 512 grains: an upper
 * bound, since compression makes it smaller.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "block/block.h"
#include "util/log.h"
#include "util/size.h"

#include "disk.h"

#define OPT_SIZE 0x200

static uint64_t
round_up(uint64_t a, uint64_t m)
{
	return (a + m - 1) / m * m;
}

static uint64_t
div_up(uint64_t a, uint64_t m)
{
	return (a + m - 1) / m;
}

/* Bytes of refcount blocks and table for clusters host clusters, with
 * refcounts of rcb bits. */
static uint64_t
refcount_bytes(uint64_t clusters, uint64_t cs, unsigned rcb)
{
	uint64_t per_block = cs * 8 / rcb, per_table = cs / 8;
	uint64_t blocks = 0, table = 0, n = 0, last;

	do {
		last = n;
		blocks = div_up(clusters + table + blocks, per_block);
		table = div_up(blocks, per_table);
		n = clusters + blocks + table;
	} while (n != last);
	return (blocks + table) * cs;
}

/* Every cluster of a virtual size (cluster aligned) and its metadata:
 * L2 entries of 16 bytes with extended L2, refcounts of -o
 * refcount_bits (16 by default). */
static uint64_t
qcow2_full(uint64_t size, uint64_t cs, const struct blk_create_opts *co)
{
	uint64_t meta = cs, l2e, l1e, es = co->extended_l2 ? 16 : 8;

	l2e = round_up(size / cs, cs / es);
	meta += l2e * es;
	l1e = round_up(l2e * es / cs, cs / 8);
	meta += l1e * 8;
	meta += refcount_bytes((meta + size) / cs, cs,
	    co->refcount_bits ? (unsigned)co->refcount_bits : 16);
	return meta + size;
}

/* The next extent at or after *off that holds data in the input (its
 * length in *n): 1, 0 at the end, -1 printed. */
static int
next_data(struct blk *b, uint64_t *off, uint64_t *n)
{
	uint64_t host;
	int st, depth;

	for (; *off < b->size; *off += *n) {
		st = blk_block_status(b, *off, b->size - *off, n, &host, &depth);
		if (st < 0) {
			disk_ioerr(b, st, "measure");
			return -1;
		}
		if (*n == 0)
			break;
		if (!(st & BLK_S_ZERO) && (st & BLK_S_DATA))
			return 1;
	}
	return 0;
}

/* Bytes of the input's clusters (cs of them) that hold data. */
static int
data_bytes(struct blk *b, uint64_t cs, uint64_t *out)
{
	uint64_t off = 0, n = 0;
	int r;

	*out = 0;
	while ((r = next_data(b, &off, &n)) > 0) {
		/* to the end of its cluster, as qemu-img counts */
		n = round_up(off + n, cs) - off;
		*out += off % cs + n;
		off += n;
	}
	return r;
}

/* Blocks of bs bytes of the input that hold data. */
static int
data_blocks(struct blk *b, uint64_t bs, uint64_t *count)
{
	uint64_t off = 0, n = 0, first, last, next = 0;
	int r;

	*count = 0;
	while ((r = next_data(b, &off, &n)) > 0) {
		first = off / bs > next ? off / bs : next;
		last = (off + n - 1) / bs;
		if (last >= first)
			*count += last - first + 1;
		next = last + 1;
		off += n;
	}
	return r;
}

/* The file size of an empty image of size bytes in ofmt, made in memory
 * by create, and (vsize not NULL) the virtual size it got; -1 printed. */
static int
empty_size(const char *ofmt, const struct blk_create_opts *co,
    uint64_t size, uint64_t *out, uint64_t *vsize)
{
	struct blk_create_opts o = *co;
	struct vm_err err;
	char path[64];
	struct stat st;
	struct blk *b;
	int fd, ret;

	o.size = size;
	fd = memfd_create("vm-disk-measure", MFD_CLOEXEC);
	if (fd < 0) {
		log_warn("measure: memfd_create");
		return -1;
	}
	vm_err_clear(&err);
	ret = blk_create_fd(fd, "measure.img", ofmt, &o, &err);
	if (ret == 0 && fstat(fd, &st) < 0)
		ret = -errno;
	if (ret == 0 && vsize) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		b = blk_open(path, ofmt, BLK_F_RDONLY | BLK_F_NOLOCK, &err);
		ret = b ? 0 : -EIO;
		*vsize = b ? b->size : 0;
		blk_close(b);
	}
	close(fd);
	if (ret < 0) {
		log_warnx("measure: %s", err.msg[0] ? err.msg : strerror(-ret));
		return -1;
	}
	*out = (uint64_t)st.st_size;
	return 0;
}

/* vdi, vpc, vmdk: what an image of size takes (b: a copy of b). */
static int
measure_blocks(const char *ofmt, const struct blk_create_opts *co,
    uint64_t size, struct blk *b, uint64_t *req, uint64_t *full)
{
	const char *sub = co->subformat;
	uint64_t meta, bs, per, n, used = 0;
	bool stream = false;

	if (strcmp(ofmt, "vdi") == 0) {
		bs = per = 1u << 20;
		if (co->static_img || (sub && strcmp(sub, "fixed") == 0))
			return empty_size(ofmt, co, size, full, NULL) < 0 ? -1 :
			    (*req = *full, 0);
	} else if (strcmp(ofmt, "vpc") == 0 || strcmp(ofmt, "vhd") == 0) {
		bs = 2u << 20;
		per = bs + 512;
		if (sub && strcmp(sub, "fixed") == 0)
			return empty_size(ofmt, co, size, full, NULL) < 0 ? -1 :
			    (*req = *full, 0);
	} else {
		if (sub && strcmp(sub, "monolithicSparse") != 0 &&
		    strcmp(sub, "streamOptimized") != 0) {
			log_warnx("measure: vmdk subformat '%s': only "
			    "monolithicSparse and streamOptimized are measured",
			    sub);
			return -1;
		}
		bs = per = 65536;
		stream = sub && strcmp(sub, "streamOptimized") == 0;
		if (stream)
			per = round_up(12 + compressBound(65536), 512);
	}
	/* the size the format gives it (vpc: CHS), in whole blocks */
	if (empty_size(ofmt, co, size, &meta, &size) < 0)
		return -1;
	n = div_up(size, bs);
	if (b && data_blocks(b, bs, &used) < 0)
		return -1;
	if (!b)
		used = 0;
	*full = meta + n * per;
	*req = meta + used * per;
	if (stream) {   /* a grain table, behind its marker, per 512 grains */
		*full += div_up(n, 512) * (512 + 2048);
		*req += div_up(used, 512) * (512 + 2048);
	}
	return 0;
}

static int
usage_err(const char *msg)
{
	log_warnx("measure: %s", msg);
	return 2;
}

int
cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {
		DISK_LONGOPTS,
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY, 0 };
	struct blk_create_opts co;
	const char *ofmt = "raw", *size_arg = NULL;
	uint64_t size = 0, cs, vsize, req = 0, full;
	bool bitmaps = false, qcow2, blocks;
	struct blk_info info;
	struct blk *b = NULL;
	int ch, r;

	memset(&co, 0, sizeof(co));
	while ((ch = getopt_long(argc, argv, "hf:UO:o:q", lo, NULL)) != -1) {
		if ((r = disk_common_opt(ch, optarg, &o)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (ch) {
		case 'h':
			disk_usage("measure", false);
			return 0;
		case 'O':
			ofmt = optarg;
			break;
		case 'o':
			if (disk_parse_opts(optarg, &co) < 0)
				return 1;
			break;
		case 'q':
			break;
		case OPT_SIZE:
			size_arg = optarg;
			break;
		default:
			disk_usage("measure", true);
			return 2;
		}
	}
	if (size_arg && argc - optind != 0)
		return usage_err("--size N cannot be used together with a "
		    "filename");
	if (!size_arg && argc - optind != 1)
		return usage_err("either --size N or one filename must be "
		    "given");
	qcow2 = strcmp(ofmt, "qcow2") == 0;
	blocks = strcmp(ofmt, "vdi") == 0 || strcmp(ofmt, "vpc") == 0 ||
	    strcmp(ofmt, "vhd") == 0 || strcmp(ofmt, "vmdk") == 0;
	if (!qcow2 && !blocks && strcmp(ofmt, "raw") != 0) {
		log_warnx("measure: output format '%s' is not supported "
		    "(raw, qcow2, vdi, vpc, vmdk)", ofmt);
		return 1;
	}
	if (!qcow2 && !blocks && (co.cluster_size || co.compat ||
	    co.compression || co.backing)) {
		log_warnx("measure: -o: raw has no such options");
		return 1;
	}
	if (size_arg && (size_parse(size_arg, &size) < 0 ||
	    size > (1ull << 62))) {
		log_warnx("measure: invalid size '%s'", size_arg);
		return 1;
	}
	if (co.prealloc && strcmp(co.prealloc, "off") != 0 &&
	    strcmp(co.prealloc, "metadata") != 0 &&
	    strcmp(co.prealloc, "falloc") != 0 &&
	    strcmp(co.prealloc, "full") != 0) {
		log_warnx("measure: -o preallocation=%s: expected off, "
		    "metadata, falloc or full", co.prealloc);
		return 1;
	}
	cs = co.cluster_size ? co.cluster_size : 65536;
	if (qcow2 && (cs < 512 || (cs & (cs - 1)))) {
		log_warnx("measure: cluster size %llu is not a power of two "
		    "from 512 to 2M", (unsigned long long)cs);
		return 1;
	}
	if (!size_arg) {
		if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
			return 1;
		size = b->size;
	}
	if (blocks) {
		if (measure_blocks(ofmt, &co, size_arg ? round_up(size, 512) :
		    size, b, &req, &full) < 0) {
			blk_close(b);
			return 1;
		}
	} else if (!qcow2) {
		req = full = size_arg ? round_up(size, 512) : size;
	} else {
		vsize = round_up(size, cs);
		if (div_up(vsize / cs, cs / 8) * 8 > (32u << 20)) {
			log_warnx("measure: the image size is too large (try "
			    "using a larger cluster size)");
			if (b)
				blk_close(b);
			return 1;
		}
		if (b && co.backing)
			req = vsize;
		else if (b && data_bytes(b, cs, &req) < 0) {
			blk_close(b);
			return 1;
		}
		if (co.prealloc && (strcmp(co.prealloc, "full") == 0 ||
		    strcmp(co.prealloc, "falloc") == 0))
			req = vsize;
		full = qcow2_full(vsize, cs, &co);
		req = full - vsize + req;
		if (b && co.compat != 2 && strcmp(b->drv->name, "qcow2") == 0) {
			blk_get_info(b, &info);
			bitmaps = info.compat >= 3;
		}
	}
	if (b)
		blk_close(b);
	if (o.json) {
		printf("{\n");
		if (bitmaps)
			printf("    \"bitmaps\": 0,\n");
		printf("    \"required\": %llu,\n    \"fully-allocated\": %llu\n"
		    "}\n", (unsigned long long)req, (unsigned long long)full);
	} else {
		printf("required size: %llu\nfully allocated size: %llu\n",
		    (unsigned long long)req, (unsigned long long)full);
		if (bitmaps)
			printf("bitmaps size: 0\n");
	}
	return 0;
}
