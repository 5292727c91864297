/*
 * Helpers every vm-disk subcommand shares: opening an image and printing
 * why it failed, -o option lists, --output, and reading guest bytes with
 * holes skipped rather than read.
 */
#include "disk.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/log.h"
#include "util/size.h"

struct blk *
disk_open(const char *path, const char *fmt, unsigned flags)
{
	struct vm_err err;
	struct blk *b;

	vm_err_clear(&err);
	b = blk_open(path, fmt, flags, &err);
	if (b == NULL)
		log_warnx("%s", err.msg[0] ? err.msg : path);
	return b;
}

int
disk_probe_backing(const char *file, struct blk_create_opts *o, char *fmt,
    size_t fmtlen, uint64_t *size)
{
	char dir[4096], path[8192];
	struct blk *b;

	snprintf(dir, sizeof(dir), "%s", file);
	if (o->backing[0] == '/' || strchr(file, '/') == NULL)
		snprintf(path, sizeof(path), "%s", o->backing);
	else
		snprintf(path, sizeof(path), "%s/%s", dirname(dir), o->backing);
	b = disk_open(path, o->backing_fmt, BLK_F_RDONLY | BLK_F_NOLOCK);
	if (b == NULL)
		return -1;
	*size = b->size;
	snprintf(fmt, fmtlen, "%s", b->drv->name);
	blk_close(b);
	return 0;
}

void
disk_ioerr(struct blk *b, int ret, const char *what)
{
	struct blk *l;

	for (l = b; l != NULL; l = l->backing) {
		if (l->ioerr.msg[0]) {
			log_warnx("%s: %s", what, l->ioerr.msg);
			return;
		}
	}
	log_warnx("%s: %s: %s", b->path, what, strerror(ret < 0 ? -ret : EIO));
}

/* Accepts qemu-img's names for the options we implement. */
int
disk_parse_opts(char *s, struct blk_create_opts *o)
{
	char *kv, *v, *save = NULL;
	uint64_t n;

	for (kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		v = strchr(kv, '=');
		if (v == NULL) {
			log_warnx("-o %s: expected key=value", kv);
			return -1;
		}
		*v++ = '\0';
		if (strcmp(kv, "cluster_size") == 0) {
			if (size_parse(v, &n) < 0 || n > (2u << 20)) {
				log_warnx("-o cluster_size=%s: not a size "
				    "from 512 to 2M", v);
				return -1;
			}
			o->cluster_size = (uint32_t)n;
		} else if (strcmp(kv, "compression_type") == 0) {
			o->compression = v;
		} else if (strcmp(kv, "preallocation") == 0) {
			o->prealloc = v;
		} else if (strcmp(kv, "compat") == 0) {
			if (strcmp(v, "0.10") == 0 || strcmp(v, "v2") == 0)
				o->compat = 2;
			else if (strcmp(v, "1.1") == 0 || strcmp(v, "v3") == 0)
				o->compat = 3;
			else {
				log_warnx("-o compat=%s: expected 0.10 or 1.1",
				    v);
				return -1;
			}
		} else if (strcmp(kv, "subformat") == 0) {
			o->subformat = v;
		} else if (strcmp(kv, "static") == 0 ||
		    strcmp(kv, "force_size") == 0) {
			if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
				log_warnx("-o %s=%s: expected on or off", kv,
				    v);
				return -1;
			}
			if (kv[0] == 's')
				o->static_img = strcmp(v, "on") == 0;
			else
				o->force_size = strcmp(v, "on") == 0;
		} else if (strcmp(kv, "backing_file") == 0) {
			o->backing = v;
		} else if (strcmp(kv, "backing_fmt") == 0) {
			o->backing_fmt = v;
		} else if (strcmp(kv, "refcount_bits") == 0) {
			if (size_parse(v, &n) < 0 || n < 1 || n > 64 ||
			    (n & (n - 1)) != 0) {
				log_warnx("-o refcount_bits=%s: not a power "
				    "of two from 1 to 64", v);
				return -1;
			}
			o->refcount_bits = (int)n;
		} else if (strcmp(kv, "extended_l2") == 0) {
			if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
				log_warnx("-o %s=%s: expected on or off", kv,
				    v);
				return -1;
			}
			o->extended_l2 = strcmp(v, "on") == 0;
		} else if (strcmp(kv, "lazy_refcounts") == 0) {
			if (strcmp(v, "off") != 0) {
				log_warnx("-o %s=%s: not supported (only the "
				    "default)", kv, v);
				return -1;
			}
		} else {
			log_warnx("-o %s: unknown option (cluster_size, "
			    "compression_type, preallocation, compat, "
			    "backing_file, backing_fmt, subformat, static, "
			    "force_size, refcount_bits, extended_l2)", kv);
			return -1;
		}
	}
	return 0;
}

int
disk_common_opt(int ch, const char *arg, struct disk_opts *o)
{
	switch (ch) {
	case 'f':
		o->fmt = arg;
		return 1;
	case 'U':
		o->flags |= BLK_F_NOLOCK;
		return 1;
	case DISK_OPT_OUTPUT:
		o->json = disk_output(arg);
		return o->json < 0 ? -1 : 1;
	case DISK_OPT_JSON:
		o->json = 1;
		return 1;
	default:
		return 0;
	}
}

int
disk_output(const char *s)
{
	if (strcmp(s, "json") == 0)
		return 1;
	if (strcmp(s, "human") == 0)
		return 0;
	log_warnx("--output=%s: expected human or json", s);
	return -1;
}

bool
disk_is_zero(const uint8_t *p, uint64_t len)
{
	static const uint8_t z[64];

	while (len >= 64) {
		if (memcmp(p, z, 64) != 0)
			return false;
		p += 64;
		len -= 64;
	}
	return len == 0 || memcmp(p, z, (size_t)len) == 0;
}

int
disk_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t n, host;
	int st, depth, ret;

	while (len > 0) {
		st = blk_block_status(b, off, len, &n, &host, &depth);
		if (st < 0)
			return st;
		if (st & BLK_S_DATA) {
			if ((ret = blk_pread(b, buf, (size_t)n, off)) < 0)
				return ret;
		} else {
			memset(buf, 0, (size_t)n);
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}
