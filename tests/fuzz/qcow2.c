/*
 * libFuzzer harness for the qcow2 driver (make fuzz; a short run is part
 * of make check through tests/520-disk-bad.bats).  Each input is an
 * image file: it is opened read-only and everything a user can ask of it
 * is done (block status over the whole disk, reads, check), then it is
 * opened read-write and written, which drives allocation, refcount
 * updates and copy-on-write over whatever the tables claim, discarded and
 * written again (reusing what the refcounts call free), shrunk, and
 * internal snapshots are made, applied and deleted.  The file
 * lives in a memfd; backing files are not opened (BLK_F_NOBACKING), so
 * an input cannot reach outside itself.  Any sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inspect(struct blk *b, uint8_t *buf)
{
	uint64_t off = 0, n, host;
	struct blk_check res;
	struct blk_info in;
	struct vm_err err;
	int depth, k;

	blk_get_info(b, &in);
	for (k = 0; k < 2000 && off < b->size; k++) {
		if (blk_block_status(b, off, b->size - off, &n, &host,
		    &depth) < 0)
			break;
		if (n > 65536 || k < 64)
			blk_pread(b, buf, n < 65536 ? (size_t)n : 65536, off);
		off += n;
	}
	memset(&res, 0, sizeof(res));
	blk_check(b, 0, &res, &err);
}

static void
scribble(struct blk *b, uint8_t *buf, bool shrink)
{
	uint64_t offs[4] = { 0, b->size / 2, b->size > 70000 ?
	    b->size - 70000 : 0, 12345 };
	struct blk_check res;
	struct vm_err err;
	int k;

	memset(buf, 0x5a, 65536);
	for (k = 0; k < 4; k++)
		if (offs[k] < b->size)
			blk_pwrite(b, buf, b->size - offs[k] < 65536 ?
			    (size_t)(b->size - offs[k]) : 65536, offs[k]);
	if (b->size >= 65536)
		blk_write_compressed(b, buf, 0);
	/* discarded and written again: the freed clusters (wherever the
	 * refcounts say free ones are) take the new data */
	blk_discard(b, 0, b->size < (1u << 20) ? b->size : (1u << 20));
	for (k = 0; k < 4; k++)
		if (offs[k] < b->size)
			blk_pwrite(b, buf, b->size - offs[k] < 65536 ?
			    (size_t)(b->size - offs[k]) : 65536, offs[k]);
	/* shrunk (its clusters and tables past the end released), then
	 * written at its new end: every other input, to keep runs short */
	if (shrink && b->size > 65536 && b->size < (16u << 20) &&
	    blk_resize(b, b->size / 2 + 1000, &err) == 0)
		blk_pwrite(b, buf, 4096, b->size - 4096);
	memset(&res, 0, sizeof(res));
	blk_check(b, BLK_REPAIR_ALL, &res, &err);
}

/* Internal snapshots: make one, go back to the image's first one, delete
 * what was made (each builds new tables from whatever the old ones say). */
static void
snapshots(struct blk *b, uint8_t *buf)
{
	const struct blk_snapshot *list;
	struct blk_check res;
	struct vm_err err;
	char first[64];

	blk_snapshot_create(b, "fz", &err);
	if (blk_snapshots(b, &list) > 0) {
		snprintf(first, sizeof(first), "%s", list[0].id);
		blk_snapshot_apply(b, first, &err);
	}
	memset(buf, 0xa5, 4096);
	if (b->size >= 4096)
		blk_pwrite(b, buf, 4096, 0);
	blk_snapshot_delete(b, "fz", &err);
	memset(&res, 0, sizeof(res));
	blk_check(b, 0, &res, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536];
	char path[64];
	struct vm_err err;
	struct blk *b;
	int fd = memfd_create("qcow2-fuzz", 0);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	b = blk_open(path, "qcow2", BLK_F_RDONLY | BLK_F_NOBACKING |
	    BLK_F_NOLOCK, &err);
	if (b != NULL) {
		inspect(b, buf);
		blk_close(b);
		b = blk_open(path, "qcow2", BLK_F_NOBACKING | BLK_F_NOLOCK |
		    BLK_F_REPAIR, &err);
		if (b != NULL) {
			scribble(b, buf, size > 0 && (data[size - 1] & 1));
			snapshots(b, buf);
			blk_close(b);
		}
	}
	close(fd);
	return 0;
}
