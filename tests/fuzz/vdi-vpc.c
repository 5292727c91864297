/*
 * libFuzzer harness for the VDI and VHD ("vpc") drivers (make fuzz; a
 * short run is part of make check through tests/550-disk-vdi-vhd.bats).
 * Each input is an image file, opened as VDI and as VHD in turn: read
 * only, every extent's status and some bytes are read and the image is
 * checked; then read-write, it is written at its start, middle and end
 * (allocating blocks over whatever the tables claim), grown (a VDI
 * moves data blocks when its map outgrows its room, a VHD its BAT) and
 * shrunk (a VDI moving the blocks still used down).  The file
 * lives in a memfd, so an input cannot reach outside itself.  Any
 * sanitizer report is a bug.
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
scribble(struct blk *b, uint8_t *buf)
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
	/* grown (VDI and VHD), then shrunk below where it was */
	if (b->size < (64u << 20) &&
	    blk_resize(b, b->size + (3u << 20), &err) == 0)
		blk_pwrite(b, buf, 4096, b->size - 4096);
	if (b->size > (1u << 20) && b->size < (64u << 20) &&
	    blk_resize(b, b->size / 3 + 1000, &err) == 0 && b->size >= 4096)
		blk_pwrite(b, buf, 4096, b->size - 4096);
	memset(&res, 0, sizeof(res));
	blk_check(b, 0, &res, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fmts[] = { "vdi", "vpc" };
	static uint8_t buf[65536];
	char path[64];
	struct vm_err err;
	struct blk *b;
	size_t i;
	int fd;

	for (i = 0; i < 2; i++) {
		if ((fd = memfd_create("vdi-vpc-fuzz", 0)) < 0)
			return 0;
		if (write(fd, data, size) != (ssize_t)size) {
			close(fd);
			return 0;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		b = blk_open(path, fmts[i], BLK_F_RDONLY | BLK_F_NOBACKING |
		    BLK_F_NOLOCK, &err);
		if (b != NULL) {
			inspect(b, buf);
			blk_close(b);
			b = blk_open(path, fmts[i], BLK_F_NOBACKING |
			    BLK_F_NOLOCK, &err);
			if (b != NULL) {
				scribble(b, buf);
				blk_close(b);
			}
		}
		close(fd);
	}
	return 0;
}
