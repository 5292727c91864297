/*
 * libFuzzer harness for the vmdk driver (make fuzz; a short run is part
 * of make check through tests/540-disk-vmdk.bats).  Each input is an
 * image: a sparse extent (header, embedded descriptor, GD, GTs, grains,
 * maybe compressed with markers and a footer) or a text descriptor.  It
 * is opened read-only and inspected (block status, reads, check); a
 * sparse one is then opened read-write and written.  The file is
 * img.vmdk in an empty directory of its own (not the working directory,
 * where libFuzzer reads its corpus), and descriptor inputs with
 * a '/' are skipped, so the extents an input names can only be missing
 * or itself: nothing outside is read or written.  Backing files are not
 * opened.  A sparse input is also read as a stream (blk_sread, what
 * vm-disk convert - does with a pipe).  Any sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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

/* The input read once, in order, as vm-disk convert reads a pipe. */
static void
stream(const char *path)
{
	const uint8_t *d;
	uint64_t off, len;
	struct blk_sread *s;
	struct vm_err err;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	s = blk_sread_open(fd, "img", "vmdk", &err);
	while (s && blk_sread_next(s, &d, &off, &len) > 0)
		if (len == 0 || off + len > blk_sread_size(s))
			abort();
	blk_sread_close(s);
	close(fd);
}

static void
scribble(struct blk *b, uint8_t *buf)
{
	uint64_t offs[4] = { 0, b->size / 2, b->size > 70000 ?
	    b->size - 70000 : 0, 12345 };
	int k;

	memset(buf, 0x5a, 65536);
	for (k = 0; k < 4; k++)
		if (offs[k] < b->size)
			blk_pwrite(b, buf, b->size - offs[k] < 65536 ?
			    (size_t)(b->size - offs[k]) : 65536, offs[k]);
	if (b->size >= 65536)
		blk_write_compressed(b, buf, 0);
	blk_flush(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[65536];
	static char dir[64], path[96];
	bool sparse = size >= 4 && memcmp(data, "KDMV", 4) == 0;
	struct vm_err err;
	struct blk *b;
	int fd;

	if (!sparse && memchr(data, '/', size) != NULL)
		return 0;
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/vmdk-fuzz.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/img.vmdk", dir);
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (sparse)
		stream(path);
	b = blk_open(path, "vmdk", BLK_F_RDONLY | BLK_F_NOBACKING |
	    BLK_F_NOLOCK, &err);
	if (b != NULL) {
		inspect(b, buf);
		blk_close(b);
		b = sparse ? blk_open(path, "vmdk", BLK_F_NOBACKING |
		    BLK_F_NOLOCK, &err) : NULL;
		if (b != NULL) {
			scribble(b, buf);
			blk_close(b);
		}
	}
	unlink(path);
	return 0;
}
