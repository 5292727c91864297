/*
 * vm-disk convert: copy an image's guest-visible bytes into a new image.
 *
 * The output is built in a temporary file beside OUT and renamed over it
 * only when complete and synced, so a failed or killed convert leaves
 * OUT as it was.  Extents the input's block status says read as zeros
 * are skipped; within data, runs of at least -S bytes of zeros (default
 * 4 KiB, 0 to write everything) are skipped too, leaving holes or
 * unallocated clusters.  -c writes each non-zero cluster compressed, as
 * does streamOptimized vmdk output (which has nothing but compressed
 * grains).
 * OUT "-" streams raw bytes to stdout, zeros included, or a
 * streamOptimized vmdk (blk_stream_new), written once and in order.
 * IN "-" is stdin: a file redirected is opened as any image; a pipe is
 * read once, in order (blk_sread: raw or streamOptimized vmdk), through
 * a window of one chunk; raw from a pipe has no size until its end, so
 * the output (raw or qcow2) is grown as the data comes.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "util/io.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/size.h"

#include "disk.h"

#define CHUNK (2u << 20)
#define BUF_ALIGN 4096  /* chunk buffers, for the output's O_DIRECT writes */
#define CONV_THREADS 8

struct conv {
	struct blk *in, *out;
	struct blk_sread *sin;  /* IN "-" a pipe: read in order */
	bool grow;              /* its size is known at the end (raw) */
	struct blk *base;       /* -B: the output's backing file */
	uint64_t sparse;        /* -S; 0: write zeros too */
	bool compress;
	struct progress pr;
	uint8_t *buf;
	/* -c: compressed clusters of one chunk and their sizes
	 * (SIZE_MAX: all zeros, skipped; 0: stored uncompressed) */
	uint8_t *zbuf;
	size_t zlen[CHUNK / 512];
	unsigned nthreads;
};

/* A block the output need not store: zeros, or with -B what the
 * backing file already says. */
static bool
skippable(const struct conv *c, const uint8_t *buf, const uint8_t *ref,
    uint64_t i, uint64_t n)
{
	if (ref)
		return memcmp(buf + i, ref + i, (size_t)n) == 0;
	return c->sparse && disk_is_zero(buf + i, n);
}

/* Write buf (guest [off, off+len)) skipping runs of c->sparse bytes that
 * are zeros (ref NULL) or equal to ref (the backing file's bytes). */
static int
write_sparse(struct conv *c, const uint8_t *buf, const uint8_t *ref,
    uint64_t len, uint64_t off)
{
	uint64_t g = c->sparse ? c->sparse : 512, i = 0, j, n;
	int ret;

	if (!ref && !c->sparse)
		g = len;
	while (i < len) {
		n = g < len - i ? g : len - i;
		if (skippable(c, buf, ref, i, n)) {
			i += n;
			continue;
		}
		for (j = i + n; j < len; j += n) {
			n = g < len - j ? g : len - j;
			if (skippable(c, buf, ref, j, n))
				break;
		}
		if ((ret = blk_pwrite(c->out, buf + i, (size_t)(j - i),
		    off + i)) < 0)
			return ret;
		i = j;
	}
	return 0;
}

/* Compression of one chunk, shared out between threads by cluster
 * index: thread t takes the clusters i with i % nthreads == t. */
struct zjob {
	struct conv *c;
	const uint8_t *buf;
	uint64_t len, cs;
	unsigned t, nthreads;
};

static void *
compress_part(void *arg)
{
	struct zjob *j = arg;
	struct conv *c = j->c;
	uint64_t k, i;

	for (k = j->t; k * j->cs < j->len; k += j->nthreads) {
		i = k * j->cs;
		if (disk_is_zero(j->buf + i, j->cs))
			c->zlen[k] = SIZE_MAX;
		else
			c->zlen[k] = blk_compress(c->out, j->buf + i,
			    c->zbuf + i, (size_t)j->cs);
	}
	return NULL;
}

/*
 * Compress a chunk's clusters on every core, then store them in order
 * (the image's metadata is written by this thread alone).
 */
static int
write_compressed(struct conv *c, uint8_t *buf, uint64_t len, uint64_t off,
    uint64_t cs)
{
	struct zjob jobs[CONV_THREADS];
	pthread_t tid[CONV_THREADS];
	bool started[CONV_THREADS] = { false };
	uint64_t k, i;
	unsigned t;
	int ret = 0;

	if (len % cs)   /* the image's last, partial cluster */
		memset(buf + len, 0, (size_t)(cs - len % cs));
	for (t = 0; t < c->nthreads; t++) {
		jobs[t] = (struct zjob){ c, buf, len, cs, t, c->nthreads };
		if (t > 0)
			started[t] = pthread_create(&tid[t], NULL,
			    compress_part, &jobs[t]) == 0;
		if (t > 0 && !started[t])
			compress_part(&jobs[t]);
	}
	compress_part(&jobs[0]);
	for (t = 1; t < c->nthreads; t++)
		if (started[t])
			pthread_join(tid[t], NULL);
	for (k = 0; k * cs < len && ret == 0; k++) {
		i = k * cs;
		if (c->zlen[k] == SIZE_MAX)
			continue;
		ret = blk_write_compressed_data(c->out, c->zbuf + i,
		    c->zlen[k], buf + i, off + i);
	}
	return ret;
}

/* -B: write what differs from the backing file (zeros past its end). */
static int
write_over_base(struct conv *c, uint64_t n, uint64_t off)
{
	uint64_t m = off < c->base->size ? c->base->size - off : 0;
	int ret;

	if (m > n)
		m = n;
	memset(c->zbuf + m, 0, (size_t)(n - m));
	if (m && (ret = disk_read(c->base, c->zbuf, m, off)) < 0) {
		disk_ioerr(c->base, ret, "read");
		return ret;
	}
	return write_sparse(c, c->buf, c->zbuf, n, off);
}

/*
 * The extent of the input at off, at most a chunk: its length in *n and
 * its block status in *st (BLK_S_DATA: to be read and stored).  With -c
 * it is whole clusters, so that off stays cluster aligned: whole zero
 * clusters are skipped, the rest read.  A negative errno on a read
 * error (c->in's ioerr says why).
 */
static int
next_extent(struct conv *c, uint64_t off, uint64_t cs, uint64_t *n, int *st)
{
	uint64_t want = c->in->size - off < CHUNK ? c->in->size - off : CHUNK;
	uint64_t host;
	int depth;

	*st = blk_block_status(c->in, off, want, n, &host, &depth);
	if (*st < 0)
		return *st;
	if (c->compress) {
		if (!(*st & BLK_S_DATA) && *n >= cs)
			*n &= ~(cs - 1);
		else
			*n = want, *st |= BLK_S_DATA;
	}
	return 0;
}

/* Store the extent [off, off+n) of status st, its bytes in buf when it
 * has data (buf holds a chunk: -c pads the last cluster in it). */
static int
store(struct conv *c, int stream_fd, uint8_t *buf, uint64_t n, uint64_t off,
    int st, uint64_t cs)
{
	int ret;

	if (!(st & BLK_S_DATA)) {
		if (stream_fd < 0)
			return 0;
		memset(buf, 0, (size_t)n);
		ret = io_write_full(stream_fd, buf, (size_t)n);
	} else if (stream_fd >= 0) {
		ret = io_write_full(stream_fd, buf, (size_t)n);
	} else if (c->compress) {
		ret = write_compressed(c, buf, n, off, cs);
	} else if (c->base) {
		ret = write_over_base(c, n, off);
	} else {
		ret = write_sparse(c, buf, NULL, n, off);
	}
	if (ret < 0) {
		if (stream_fd >= 0)
			log_warnx("stdout: %s", strerror(-ret));
		else
			disk_ioerr(c->out, ret, "write");
		return -1;
	}
	return 0;
}

/* In this thread, one extent after the other (with -B, whose backing
 * file the output's writes read too). */
static int
copy_sync(struct conv *c, int stream_fd, uint64_t cs)
{
	uint64_t off = 0, size = c->in->size, n, host;
	int st, depth, ret;

	while (off < size) {
		if ((ret = next_extent(c, off, cs, &n, &st)) < 0) {
			disk_ioerr(c->in, ret, "read");
			return -1;
		}
		if (c->base && !(st & BLK_S_DATA) && off < c->base->size) {
			/* Zeros over a backing file with data must be written. */
			int bst = blk_block_status(c->base, off, n <
			    c->base->size - off ? n : c->base->size - off, &n,
			    &host, &depth);

			if (bst < 0) {
				disk_ioerr(c->base, bst, "read");
				return -1;
			}
			st |= bst & BLK_S_DATA;
		}
		if ((st & BLK_S_DATA) &&
		    (ret = disk_read(c->in, c->buf, n, off)) < 0) {
			disk_ioerr(c->in, ret, "read");
			return -1;
		}
		if (store(c, stream_fd, c->buf, n, off, st, cs) < 0)
			return -1;
		off += n;
		progress_update(&c->pr, off);
	}
	return 0;
}

/*
 * Read-ahead: a reader thread maps and reads the input into a ring of
 * RA_SLOTS chunk buffers while this thread writes the output, so the
 * two overlap (decompressing a compressed input, a cold page cache).
 * The input is the reader's alone from its start to its join; the
 * output and everything it reads (its backing file) this thread's.
 * Slots tail..head-1 (counted modulo RA_SLOTS) are full; mu guards the
 * counters and flags.
 */
#define RA_SLOTS 4

struct ra {
	struct conv *c;
	uint64_t cs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *buf[RA_SLOTS];
	uint64_t off[RA_SLOTS], n[RA_SLOTS];
	int st[RA_SLOTS];
	unsigned head, tail;
	int err;                /* the reader's error, 0 for none */
	bool done;              /* the reader has ended */
	bool stop;              /* the writer asks it to end */
};

static void *
ra_reader(void *arg)
{
	struct ra *r = arg;
	uint64_t off = 0, n;
	unsigned k;
	bool stop;
	int st, ret;

	while (off < r->c->in->size) {
		pthread_mutex_lock(&r->mu);
		while (r->head - r->tail == RA_SLOTS && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		k = r->head % RA_SLOTS;
		stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		ret = next_extent(r->c, off, r->cs, &n, &st);
		if (ret == 0 && (st & BLK_S_DATA))
			ret = disk_read(r->c->in, r->buf[k], n, off);
		pthread_mutex_lock(&r->mu);
		if (ret < 0) {
			r->err = ret;
		} else {
			r->off[k] = off;
			r->n[k] = n;
			r->st[k] = st;
			r->head++;
		}
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (ret < 0)
			break;
		off += n;
	}
	pthread_mutex_lock(&r->mu);
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Write what the reader thread read, in order.  1 when the thread or its
 * buffers could not be had (then copy_sync does the work). */
static int
copy_ra(struct conv *c, int stream_fd, uint64_t cs)
{
	struct ra r = { .c = c, .cs = cs };
	pthread_t tid;
	unsigned i, k;
	int ret = 0;

	for (i = 0; i < RA_SLOTS; i++)
		if ((r.buf[i] = aligned_alloc(BUF_ALIGN, CHUNK)) == NULL)
			ret = 1;
	if (ret == 0 && (pthread_mutex_init(&r.mu, NULL) != 0 ||
	    pthread_cond_init(&r.cv, NULL) != 0 ||
	    pthread_create(&tid, NULL, ra_reader, &r) != 0))
		ret = 1;        /* (a mutex or condvar init cannot fail here) */
	if (ret) {
		for (i = 0; i < RA_SLOTS; i++)
			free(r.buf[i]);
		return 1;
	}
	for (;;) {
		pthread_mutex_lock(&r.mu);
		while (r.head == r.tail && !r.done && !r.err)
			pthread_cond_wait(&r.cv, &r.mu);
		if (r.err || r.head == r.tail) {
			pthread_mutex_unlock(&r.mu);
			break;
		}
		k = r.tail % RA_SLOTS;
		pthread_mutex_unlock(&r.mu);
		ret = store(c, stream_fd, r.buf[k], r.n[k], r.off[k], r.st[k],
		    cs);
		if (ret == 0)
			progress_update(&c->pr, r.off[k] + r.n[k]);
		pthread_mutex_lock(&r.mu);
		r.tail++;
		pthread_cond_broadcast(&r.cv);
		pthread_mutex_unlock(&r.mu);
		if (ret < 0)
			break;
	}
	pthread_mutex_lock(&r.mu);
	r.stop = true;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	pthread_join(tid, NULL);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	for (i = 0; i < RA_SLOTS; i++)
		free(r.buf[i]);
	if (ret == 0 && r.err) {
		disk_ioerr(c->in, r.err, "read");
		ret = -1;
	}
	return ret;
}

static int
copy(struct conv *c, int stream_fd)
{
	uint64_t cs = CHUNK;
	int ret;

	if (c->compress) {
		cs = blk_cluster_size(c->out);
		if (cs == 0 || CHUNK % cs) {
			log_warnx("%s: cannot store compressed clusters",
			    c->out->path);
			return -1;
		}
	}
	if (c->base == NULL && (ret = copy_ra(c, stream_fd, cs)) <= 0)
		return ret;
	return copy_sync(c, stream_fd, cs);
}

/* Grow the output of an input without a size to hold size bytes (in
 * whole sectors but for raw). */
static int
grow_to(struct conv *c, uint64_t size)
{
	struct vm_err err;

	if (strcmp(c->out->drv->name, "raw") != 0)
		size = (size + 511) & ~511ull;
	vm_err_clear(&err);
	if (!c->grow || c->out->size >= size)
		return 0;
	if (blk_resize(c->out, size, &err) < 0) {
		log_warnx("%s", err.msg);
		return -1;
	}
	return 0;
}

/* One chunk-aligned window of a streamed input, [ws, ws+len), stored
 * (the output grown to hold it first, if its size is not known). */
static int
put_window(struct conv *c, uint64_t ws, uint64_t len, uint64_t cs)
{
	int ret;

	if (grow_to(c, ws + len) < 0)
		return -1;
	ret = c->compress ? write_compressed(c, c->buf, len, ws, cs) :
	    write_sparse(c, c->buf, NULL, len, ws);
	if (ret < 0) {
		disk_ioerr(c->out, ret, "write");
		return -1;
	}
	return 0;
}

/* Copy a streamed input: its extents gathered into chunk windows for
 * the output image, or written in order to stream_fd (raw). */
static int
copy_seq(struct conv *c, int stream_fd)
{
	uint64_t off, len, n, pos = 0, ws = 0, size, cs = CHUNK;
	const uint8_t *data;
	bool dirty = false;
	int r, ret;

	if (c->compress && ((cs = blk_cluster_size(c->out)) == 0 ||
	    CHUNK % cs)) {
		log_warnx("%s: cannot store compressed clusters", c->out->path);
		return -1;
	}
	while ((r = blk_sread_next(c->sin, &data, &off, &len)) > 0) {
		if (stream_fd >= 0) {
			if ((ret = io_seq_write(stream_fd, &pos, data,
			    (size_t)len, off)) < 0) {
				log_warnx("stdout: %s", strerror(-ret));
				return -1;
			}
			len = 0;
		}
		while (len > 0) {
			if (dirty && off >= ws + CHUNK) {
				if (put_window(c, ws, CHUNK, cs) < 0)
					return -1;
				dirty = false;
			}
			if (!dirty) {
				ws = off & ~(uint64_t)(CHUNK - 1);
				memset(c->buf, 0, CHUNK);
				dirty = true;
			}
			n = ws + CHUNK - off < len ? ws + CHUNK - off : len;
			memcpy(c->buf + (off - ws), data, (size_t)n);
			data += n;
			off += n;
			len -= n;
		}
		progress_update(&c->pr, off);
	}
	if (r < 0) {
		log_warnx("%s", blk_sread_error(c->sin)->msg);
		return -1;
	}
	size = blk_sread_size(c->sin);
	if (stream_fd >= 0) {
		if ((ret = io_seq_write(stream_fd, &pos, "", 0, size)) < 0) {
			log_warnx("stdout: %s", strerror(-ret));
			return -1;
		}
		return 0;
	}
	if (dirty && put_window(c, ws, size - ws < CHUNK ? size - ws : CHUNK,
	    cs) < 0)
		return -1;
	return grow_to(c, size);
}

static int
copy_any(struct conv *c, int stream_fd)
{
	return c->sin ? copy_seq(c, stream_fd) : copy(c, stream_fd);
}

/* OUT "-" as a streamOptimized vmdk. */
static int
to_stream(struct conv *c, const char *ofmt, struct blk_create_opts *o)
{
	struct vm_err err;
	int fd = dup(1), ret;

	vm_err_clear(&err);
	if (fd < 0) {
		log_warn("stdout");
		return 1;
	}
	c->out = blk_stream_new(fd, "stdout", ofmt, o, &err);
	if (c->out == NULL) {
		log_warnx("%s", err.msg);
		close(fd);
		return 1;
	}
	ret = copy_any(c, -1);
	if (ret == 0 && (ret = blk_flush(c->out)) < 0)
		disk_ioerr(c->out, ret, "write");
	blk_close(c->out);
	return ret < 0 ? 1 : 0;
}

/* Build OUT in a temporary file and rename it into place. */
static int
to_file(struct conv *c, const char *out, const char *ofmt,
    struct blk_create_opts *o)
{
	char tmp[4096 + 16];
	struct vm_err err;
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);
	fd = mkstemp(tmp);
	if (fd < 0) {
		log_warn("%s", out);
		return 1;
	}
	(void)fchmod(fd, 0644);
	vm_err_clear(&err);
	ret = blk_create_fd(fd, out, ofmt, o, &err);
	close(fd);
	if (ret < 0) {
		log_warnx("%s", err.msg);
		unlink(tmp);
		return 1;
	}
	c->out = disk_open(tmp, ofmt, BLK_F_DIRECT);
	if (c->out == NULL) {
		unlink(tmp);
		return 1;
	}
	c->base = c->out->backing;
	ret = copy_any(c, -1);
	if (ret == 0 && (ret = blk_flush(c->out)) < 0)
		disk_ioerr(c->out, ret, "sync");
	blk_close(c->out);
	if (ret == 0 && (ret = io_rename_durable(tmp, out)) < 0) {
		log_warnx("%s: %s", out, strerror(-ret));
		ret = -1;
	}
	if (ret < 0) {
		unlink(tmp);
		return 1;
	}
	return 0;
}

/* IN "-": stdin redirected from a file is an image like any other; a
 * pipe is read in order, raw or streamOptimized vmdk only.  -1 printed. */
static int
open_stdin(struct conv *c, const char *ifmt, unsigned flags,
    const char *ofmt, const struct blk_create_opts *o)
{
	struct vm_err err;
	struct stat st;

	if (fstat(0, &st) == 0 && (S_ISREG(st.st_mode) ||
	    S_ISBLK(st.st_mode)))
		return (c->in = disk_open("/dev/stdin", ifmt, flags)) ?
		    0 : -1;
	if (o->backing) {
		log_warnx("-B: not with an input read from a pipe");
		return -1;
	}
	vm_err_clear(&err);
	c->sin = blk_sread_open(0, "stdin", ifmt, &err);
	if (c->sin == NULL) {
		log_warnx("%s", err.msg);
		return -1;
	}
	c->grow = blk_sread_size(c->sin) == UINT64_MAX;
	if (c->grow && strcmp(ofmt, "raw") != 0 && strcmp(ofmt, "qcow2")) {
		log_warnx("stdin: raw data from a pipe has no size until its "
		    "end: convert it to raw or qcow2 (or redirect a file)");
		blk_sread_close(c->sin);
		c->sin = NULL;
		return -1;
	}
	return 0;
}

int
cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct blk_create_opts o;
	const char *ifmt = NULL, *ofmt = "raw";
	unsigned flags = BLK_F_RDONLY;
	bool prog = false;
	struct conv c;
	char bfmt[32];
	uint64_t bsize;
	int ch, rc;

	progress_on_sigusr1();  /* first, so an early signal is no kill */
	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	c.sparse = 4096;
	while ((ch = getopt_long(argc, argv, "hf:O:B:co:S:pqU", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			disk_usage("convert", false);
			return 0;
		case 'f':
			ifmt = optarg;
			break;
		case 'O':
			ofmt = optarg;
			break;
		case 'c':
			c.compress = true;
			break;
		case 'B':
			o.backing = optarg;
			break;
		case 'o':
			if (disk_parse_opts(optarg, &o) < 0)
				return 1;
			break;
		case 'S':
			if (size_parse(optarg, &c.sparse) < 0) {
				log_warnx("-S %s: not a size", optarg);
				return 2;
			}
			break;
		case 'p':
			prog = true;
			break;
		case 'q':
			prog = false;
			break;
		case 'U':
			flags |= BLK_F_NOLOCK;
			break;
		default:
			disk_usage("convert", true);
			return 2;
		}
	}
	if (argc - optind != 2) {
		disk_usage("convert", true);
		return 2;
	}
	if (blk_driver_find(ofmt) == NULL) {
		log_warnx("unknown output format '%s' (raw, qcow2, vdi, vpc, "
		    "vmdk)", ofmt);
		return 1;
	}
	/* streamOptimized vmdk holds compressed grains only. */
	if (strcmp(ofmt, "vmdk") == 0 && o.subformat &&
	    strcmp(o.subformat, "streamOptimized") == 0)
		c.compress = true;
	else if (c.compress && strcmp(ofmt, "vmdk") == 0) {
		log_warnx("-c: vmdk output is compressed only with -o "
		    "subformat=streamOptimized");
		return 1;
	}
	if (c.compress && strcmp(ofmt, "qcow2") != 0 &&
	    strcmp(ofmt, "vmdk") != 0) {
		log_warnx("-c: the %s format cannot store compressed data",
		    ofmt);
		return 1;
	}
	if (o.backing && (c.compress || strcmp(ofmt, "qcow2") != 0)) {
		log_warnx("-B: needs qcow2 output without -c (-c with -B is "
		    "not supported yet)");
		return 1;
	}
	if (o.backing && strcmp(argv[optind + 1], "-") != 0 &&
	    disk_probe_backing(argv[optind + 1], &o, bfmt, sizeof(bfmt),
	    &bsize) < 0)
		return 1;
	if (o.backing && o.backing_fmt == NULL)
		o.backing_fmt = bfmt;
	if (strcmp(argv[optind + 1], "-") == 0 && strcmp(ofmt, "raw") != 0 &&
	    strcmp(ofmt, "vmdk") != 0) {
		log_warnx("-: only raw and vmdk (-o subformat=streamOptimized) "
		    "output can be streamed to stdout");
		return 1;
	}
	if (strcmp(argv[optind], "-") == 0 && open_stdin(&c, ifmt, flags,
	    ofmt, &o) < 0)
		return 1;
	if (c.in == NULL && c.sin == NULL &&
	    (c.in = disk_open(argv[optind], ifmt, flags)) == NULL)
		return 1;
	o.size = c.in ? c.in->size : c.grow ? 0 : blk_sread_size(c.sin);
	c.buf = aligned_alloc(BUF_ALIGN, CHUNK);
	c.zbuf = c.compress || o.backing ? malloc(CHUNK) : NULL;
	c.nthreads = 1;
	if (c.compress) {
		long np = sysconf(_SC_NPROCESSORS_ONLN);

		c.nthreads = np < 1 ? 1 : np > CONV_THREADS ? CONV_THREADS :
		    (unsigned)np;
	}
	if (c.buf == NULL || ((c.compress || o.backing) && c.zbuf == NULL)) {
		free(c.zbuf);
		log_warnx("out of memory");
		blk_close(c.in);
		blk_sread_close(c.sin);
		return 1;
	}
	progress_init(&c.pr, prog && !c.grow, o.size);
	if (strcmp(argv[optind + 1], "-") == 0 && strcmp(ofmt, "raw") != 0)
		rc = to_stream(&c, ofmt, &o);
	else if (strcmp(argv[optind + 1], "-") == 0)
		rc = copy_any(&c, 1) < 0 ? 1 : 0;
	else
		rc = to_file(&c, argv[optind + 1], ofmt, &o);
	if (rc == 0)
		progress_end(&c.pr);
	free(c.buf);
	free(c.zbuf);
	blk_close(c.in);
	blk_sread_close(c.sin);
	return rc;
}
