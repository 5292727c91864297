/*
 * vm-disk cat: the guest-visible bytes to stdout, as the VM would read
 * them (through the backing chain, decompressed, zeros for holes).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "util/log.h"

#include "disk.h"

#define CHUNK (2u << 20)

int
cmd_cat(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY, 0 };
	uint64_t off = 0, n;
	uint8_t *buf;
	struct blk *b;
	ssize_t w;
	size_t k;
	int ch, ret, rc = 0;

	while ((ch = getopt_long(argc, argv, "hf:U", lo, NULL)) != -1) {
		if (disk_common_opt(ch, optarg, &o) == 0) {
			disk_usage("cat", ch != 'h');
			return ch == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 1) {
		disk_usage("cat", true);
		return 2;
	}
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	if ((buf = malloc(CHUNK)) == NULL) {
		log_warnx("out of memory");
		blk_close(b);
		return 1;
	}
	while (off < b->size && rc == 0) {
		n = b->size - off < CHUNK ? b->size - off : CHUNK;
		if ((ret = disk_read(b, buf, n, off)) < 0) {
			disk_ioerr(b, ret, "read");
			rc = 1;
			break;
		}
		for (k = 0; k < n; k += (size_t)w) {
			w = write(1, buf + k, (size_t)n - k);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				if (errno != EPIPE)
					log_warn("stdout");
				rc = 1;
				break;
			}
		}
		off += n;
	}
	free(buf);
	blk_close(b);
	return rc;
}
