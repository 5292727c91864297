/*
 * blkwrite: write patterns into an image through the block layer, for
 * the disk tests (qemu-io applies the same writes to a copy, and
 * qemu-img compare judges).  Each argument after the image is
 * OFFSET:LENGTH:BYTE (BYTE in hex, "z" for zeros, "d" to discard the
 * range instead, as a guest's TRIM does); "rand:N:SEED" does N
 * pseudo-random writes of up to 64 KiB (printing each as a plain
 * OFFSET:LENGTH:BYTE line, so a script can replay them with qemu-io);
 * "flush" flushes the image, as a guest's FLUSH does, and prints
 * "flushed" once it returned; "sleep:MS" waits MS milliseconds (a
 * writer that pauses, for the loss window's time bound).  The image is flushed and closed at the
 * end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"

static int
one(struct blk *b, uint64_t off, uint64_t len, int byte)
{
	uint8_t *buf = malloc(len ? len : 1);
	int ret;

	if (buf == NULL)
		return -1;
	memset(buf, byte, len);
	ret = blk_pwrite(b, buf, len, off);
	free(buf);
	if (ret < 0) {
		fprintf(stderr, "blkwrite: %s\n", b->ioerr.msg[0] ?
		    b->ioerr.msg : "write failed");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long long off, len, n, i;
	unsigned seed, byte;
	struct vm_err err;
	struct blk *b;
	int k, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: blkwrite IMAGE OFF:LEN:BYTE|z|d... | "
		    "rand:N:SEED | flush | sleep:MS\n");
		return 2;
	}
	vm_err_clear(&err);
	b = blk_open(argv[1], NULL, 0, &err);
	if (b == NULL) {
		fprintf(stderr, "blkwrite: %s\n", err.msg);
		return 1;
	}
	for (k = 2; k < argc && rc == 0; k++) {
		if (strcmp(argv[k], "flush") == 0) {
			if (blk_flush(b) < 0) {
				fprintf(stderr, "blkwrite: flush failed\n");
				rc = -1;
			} else {
				printf("flushed\n");
				fflush(stdout);
			}
		} else if (sscanf(argv[k], "sleep:%llu", &n) == 1) {
			struct timespec ts = { (time_t)(n / 1000),
			    (long)(n % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		} else if (sscanf(argv[k], "rand:%llu:%u", &n, &seed) == 2) {
			srand(seed);
			for (i = 0; i < n && rc == 0; i++) {
				len = (unsigned long long)(rand() % 65536) + 1;
				off = ((unsigned long long)rand() << 16 ^
				    (unsigned long long)rand()) %
				    (b->size - len);
				byte = (unsigned)(rand() % 255) + 1;
				printf("%llu:%llu:%x\n", off, len, byte);
				fflush(stdout);
				rc = one(b, off, len, (int)byte);
			}
		} else if (sscanf(argv[k], "%llu:%llu:", &off, &len) == 2 &&
		    strcmp(strrchr(argv[k], ':'), ":d") == 0) {
			if (blk_discard(b, off, len) < 0) {
				fprintf(stderr, "blkwrite: %s\n",
				    b->ioerr.msg[0] ? b->ioerr.msg :
				    "discard failed");
				rc = -1;
			}
		} else if (sscanf(argv[k], "%llu:%llu:z", &off, &len) == 2 &&
		    strchr(argv[k], 'z')) {
			rc = one(b, off, len, 0);
		} else if (sscanf(argv[k], "%llu:%llu:%x", &off, &len,
		    &byte) == 3) {
			rc = one(b, off, len, (int)byte);
		} else {
			fprintf(stderr, "blkwrite: bad argument '%s'\n",
			    argv[k]);
			rc = -1;
		}
	}
	if (rc == 0 && blk_flush(b) < 0)
		rc = -1;
	blk_close(b);
	return rc < 0 ? 1 : 0;
}
