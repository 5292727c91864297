/*
 * vm-snap send / receive: a bundle and one of its snapshots as a send
 * stream (snap/snap.h, send.c).  The records, in order:
 *
 *   vm                the bundle's name, the snapshot's tag, how many
 *                     disks; with --base the base snapshot's tag and time
 *   vm.yaml           the bundle's vm.yaml as it is
 *   disk (i)          per disk: its file name in the bundle, its size,
 *                     how it is sent: the file, a delta, or kept
 *   disk-data (i)     an offset and up to 1 MiB there, in order: of the
 *                     file (holes and zero runs not sent), or for a delta
 *                     of the disk's contents at the snapshot where they
 *                     differ from the base's
 *   section (k)       per section of the snapshot file: name, instance,
 *                     version, flags, length, alignment
 *   section-data (k)  an offset and up to 1 MiB of its payload, in order
 *   end
 *
 * A live stream (vm/live.c) has after vm, per disk, "disk-pre" and its
 * "disk-pre-data": the file read while the guest runs, its writes
 * tracked (util/track.h); then the RAM records; and in the pause "disk"
 * records of kind DISK_UPDATE, with the pieces of the file written since.
 *
 * A disk goes as its image file, every internal snapshot in it, so the
 * copy's disks go back to the snapshot's point as the original's would;
 * one from outside the bundle lands in the copy's folder by its file
 * name, and the copy's vm.yaml is written anew naming it there.
 * The receiver builds the bundle in a new folder beside the one it is to
 * be and renames it into place only once all of it is in and checked;
 * the snapshot's embedded configuration names the copy's disks.  A delta
 * goes into a bundle received before with the base: the new folder
 * starts as a copy of it, each disk is taken back to the base's internal
 * snapshot, the differences written and the new internal snapshot made,
 * and the two folders are swapped in one rename.
 */
#include "vm/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/track.h"
#include "vm/snapshot.h"

#define CHUNK (1u << 20)
#define PAGE 4096u
#define MAX_FILES (4 * CFG_MAX_DISKS)   /* disks, and their backing files */
#define NAME_MAX_LEN 255u
/* a path in the folder being received: the folder, a name, room */
#define PBUF (PATH_MAX + 2 * NAME_MAX_LEN + 64)

#define DELTA_GRAIN 65536u        /* a delta compares and sends these */
#define RAM_WRITEBACK (16u << 20) /* live RAM: writeback after so much */

struct vm_rec {
	char name[NAME_MAX_LEN + 1];
	char tag[NAME_MAX_LEN + 1];
	uint32_t ndisks;
	char base[NAME_MAX_LEN + 1];    /* "": the disks whole */
	uint64_t base_time;             /* the base snapshot file's time */
	uint64_t time;                  /* the snapshot file's */
};

static void
str_visit(struct snap_vis *v, const char *field, char *s, size_t size)
{
	uint32_t n = (uint32_t)strnlen(s, size - 1);

	snap_blob(v, field, s, &n, (uint32_t)size - 1);
	if (v->load && !v->failed)
		s[n] = '\0';
	snap_check(v, strlen(s) == n, field, "holds a NUL byte");
}

static int
vm_rec_visit(struct snap_vis *v, struct vm_rec *r)
{
	str_visit(v, "name", r->name, sizeof(r->name));
	str_visit(v, "tag", r->tag, sizeof(r->tag));
	snap_u32(v, "ndisks", &r->ndisks);
	snap_check(v, r->ndisks <= MAX_FILES, "ndisks", "too many disks");
	str_visit(v, "base", r->base, sizeof(r->base));
	snap_u64(v, "base_time", &r->base_time);
	snap_u64(v, "time", &r->time);
	return v->failed;
}

/* DISK_UPDATE (live): the file went before the pause as "disk-pre";
 * the records that follow are the parts written since, and the size is
 * its final one. */
enum { DISK_FILE = 0, DISK_DELTA = 1, DISK_KEPT = 2, DISK_UPDATE = 3 };

struct disk_rec {
	char name[NAME_MAX_LEN + 1];
	uint64_t size;
	uint8_t how;            /* DISK_* */
};

static int
disk_rec_visit(struct snap_vis *v, struct disk_rec *r)
{
	str_visit(v, "name", r->name, sizeof(r->name));
	snap_u64(v, "size", &r->size);
	snap_check(v, r->size <= (1ULL << 50), "size", "over 1 PiB");
	snap_u8(v, "how", &r->how);
	snap_check(v, r->how <= DISK_UPDATE, "how", "not a way to send a disk");
	return v->failed;
}

struct sect_rec {
	char name[SNAP_NAME_MAX + 1];
	uint32_t instance, version, flags, align;
	uint64_t len;
};

static int
sect_rec_visit(struct snap_vis *v, struct sect_rec *r)
{
	str_visit(v, "name", r->name, sizeof(r->name));
	snap_u32(v, "instance", &r->instance);
	snap_u32(v, "version", &r->version);
	snap_u32(v, "flags", &r->flags);
	snap_u32(v, "align", &r->align);
	snap_check(v, r->align == 1 || r->align == PAGE, "align",
	    "neither 1 nor a page");
	snap_u64(v, "len", &r->len);
	snap_check(v, r->len <= (1ULL << 50), "len", "over 1 PiB");
	return v->failed;
}

/* A data record: off, then the bytes (at most CHUNK) at data. */
static int
data_visit(struct snap_vis *v, uint64_t *off, void *data, uint32_t *len)
{
	snap_u64(v, "off", off);
	snap_blob(v, "data", data, len, CHUNK);
	return v->failed;
}

/* A file name the bundle may hold: no folder, not hidden, none of ours. */
static bool
plain_name(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL &&
	    strcmp(s, "vm.yaml") != 0 && strcmp(s, "snapshots") != 0;
}

static const char *
base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s != NULL ? s + 1 : p;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* ---- send ----------------------------------------------------------------- */

struct send_list;
struct send_disks;
static int send_rest(struct snap_send *s, const struct send_list *l,
    uint8_t *buf, size_t ylen, const char *tag, const char *base,
    struct snap_reader *rd, struct send_disks *pre, struct vm_err *err);
static ssize_t read_yaml(const char *yaml, uint8_t *buf, struct vm_err *err);

struct send_list {
	char path[MAX_FILES][PATH_MAX];
	bool backing[MAX_FILES];        /* only a backing file of a disk */
	int n;
};

/* Add file rp (resolved; disk, as the configuration names it) to l. */
static int
add_file(struct send_list *l, const char *rp, const char *disk,
    bool backing, const char *babs, const char *what, struct vm_err *err)
{
	char dir[PATH_MAX], in[2 * PATH_MAX];
	struct stat a, b;
	int k;

	{
		snprintf(dir, sizeof(dir), "%s", rp);
		*strrchr(dir, '/') = '\0';
		if (!plain_name(base_name(rp)))
			return vm_err_set(err, -EINVAL, "%s: disk %s: a file "
			    "named '%s' cannot be a disk of the copy (rename "
			    "it)", what, disk, base_name(rp));
		for (k = 0; k < l->n && strcmp(l->path[k], rp) != 0; k++)
			;
		if (k < l->n)
			return 0;
		for (k = 0; k < l->n; k++)
			if (strcmp(base_name(l->path[k]), base_name(rp)) == 0)
				return vm_err_set(err, -EINVAL, "%s: disks %s "
				    "and %s have one file name: the copy holds "
				    "its disks in one folder (rename one)", what,
				    l->path[k], rp);
		snprintf(in, sizeof(in), "%s/%s", babs, base_name(rp));
		if (strcmp(dir, babs) != 0 && stat(in, &b) == 0 &&
		    (stat(rp, &a) < 0 || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev))
			return vm_err_set(err, -EINVAL, "%s: disk %s, outside "
			    "the bundle, has the name of the bundle's file %s: "
			    "the copy holds both in one folder (rename one)",
			    what, rp, in);
		if (l->n == MAX_FILES)
			return vm_err_set(err, -EINVAL, "%s: too many disks",
			    what);
		l->backing[l->n] = backing;
		snprintf(l->path[l->n++], PATH_MAX, "%s", rp);
	}
	return 0;
}

/* Add cfg's disks to l.  A disk outside the bundle folder babs goes too,
 * into the copy's folder under its file name: that name must be free
 * there (no file of the bundle, no other disk by that name).  So does
 * each backing file a disk names by a plain file name (beside it: an
 * overlay's base), so that the copy's chain is whole. */
static int
add_disks(struct send_list *l, const struct vm_config *cfg, const char *babs,
    const char *what, struct vm_err *err)
{
	char rp[PATH_MAX];
	int i, ret;

	for (i = 0; i < cfg->ndisks; i++) {
		const struct cfg_disk *d = &cfg->disks[i];
		struct vm_err e = { 0 };
		struct blk *b, *x;

		if (realpath(d->file, rp) == NULL)
			return vm_err_errno(err, -errno, "%s: disk %s", what,
			    d->file);
		ret = add_file(l, rp, d->file, false, babs, what, err);
		if (ret < 0)
			return ret;
		/* not opened here: sent as the file it is, as before */
		b = blk_open(rp, d->format[0] ? d->format : NULL,
		    BLK_F_RDONLY | BLK_F_NOLOCK, &e);
		for (x = b; ret == 0 && x != NULL && x->backing != NULL;
		    x = x->backing) {
			if (strchr(x->backing_name, '/') != NULL)
				break;
			if (realpath(x->backing->path, rp) == NULL)
				ret = vm_err_errno(err, -errno, "%s: backing "
				    "file %s", what, x->backing->path);
			else
				ret = add_file(l, rp, d->file, true, babs, what,
				    err);
		}
		blk_close(b);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The file's data (holes and zero runs left out) as rec records;
 * *sent counts the bytes. */
static int
send_file_data(struct snap_send *s, int fd, uint32_t inst, uint64_t size,
    const char *what, const char *rec, uint8_t *buf, uint64_t *sent,
    struct vm_err *err)
{
	struct snap_vis v;
	uint64_t off = 0, end;
	int ret;

	while (off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0)
			d = (off_t)off;         /* no SEEK_DATA: all of it */
		h = lseek(fd, d, SEEK_HOLE);
		end = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
		for (off = (uint64_t)d; off < end;) {
			uint32_t n = end - off < CHUNK ? (uint32_t)(end - off) :
			    CHUNK;
			ssize_t got = pread(fd, buf, n, (off_t)off);

			if (got < 0)
				return vm_err_errno(err, -errno, "%s", what);
			if (got == 0)
				return vm_err_set(err, -EIO, "%s: shorter than "
				    "its size while being sent", what);
			n = (uint32_t)got;
			if (!all_zero(buf, n)) {
				snap_vis_begin_save(&v, rec, 1, err);
				data_visit(&v, &off, buf, &n);
				ret = snap_send_vis(s, rec, inst, &v, err);
				if (ret < 0)
					return ret;
				*sent += n;
			}
			off += n;
		}
	}
	return 0;
}

/* The disk's contents at tag where they differ from base's, in grains. */
static int
send_delta(struct snap_send *s, const char *path, uint32_t inst,
    const char *tag, const char *base, uint8_t *buf, struct vm_err *err)
{
	struct blk *a = blk_open(path, NULL, BLK_F_RDONLY, err), *b = NULL;
	struct disk_rec dr = { 0 };
	struct snap_vis v;
	uint8_t *old = malloc(DELTA_GRAIN);
	uint64_t off;
	int ret = a != NULL ? 0 : -EINVAL;

	if (ret == 0)
		b = blk_open(path, NULL, BLK_F_RDONLY, err);
	if (b == NULL || old == NULL)
		ret = old == NULL ? vm_err_set(err, -ENOMEM, "out of memory") :
		    -EINVAL;
	if (ret == 0)
		ret = blk_snapshot_view(a, tag, err);
	if (ret == 0)
		ret = blk_snapshot_view(b, base, err);
	if (ret == 0) {
		snprintf(dr.name, sizeof(dr.name), "%.255s", base_name(path));
		dr.size = a->size;
		dr.how = DISK_DELTA;
		snap_vis_begin_save(&v, "disk", 1, err);
		disk_rec_visit(&v, &dr);
		ret = snap_send_vis(s, "disk", inst, &v, err);
	}
	for (off = 0; ret == 0 && off < dr.size; off += DELTA_GRAIN) {
		uint32_t n = dr.size - off < DELTA_GRAIN ?
		    (uint32_t)(dr.size - off) : DELTA_GRAIN;
		uint32_t nb = off >= b->size ? 0 : b->size - off < n ?
		    (uint32_t)(b->size - off) : n;

		memset(old, 0, n);
		if (blk_pread(a, buf, n, off) < 0 ||
		    (nb > 0 && blk_pread(b, old, nb, off) < 0)) {
			ret = vm_err_set(err, -EIO, "%s: cannot be read at "
			    "%llu", path, (unsigned long long)off);
			break;
		}
		if (memcmp(buf, old, n) == 0)
			continue;
		snap_vis_begin_save(&v, "disk-data", 1, err);
		data_visit(&v, &off, buf, &n);
		ret = snap_send_vis(s, "disk-data", inst, &v, err);
	}
	free(old);
	if (a != NULL)
		blk_close(a);
	if (b != NULL)
		blk_close(b);
	return ret;
}

/* Whether the image at path holds internal snapshot tag. */
static bool
has_snap(const char *path, const char *tag)
{
	struct vm_err e = { 0 };
	struct blk *b = blk_open(path, NULL, BLK_F_RDONLY, &e);
	const struct blk_snapshot *sl;
	int k, n;

	if (b == NULL)
		return false;
	n = b->drv->snapshots ? blk_snapshots(b, &sl) : 0;
	for (k = 0; k < n && strcmp(sl[k].name, tag) != 0; k++)
		;
	blk_close(b);
	return k < n;
}

static int
send_sections(struct snap_send *s, struct snap_reader *rd, uint8_t *buf,
    struct vm_err *err)
{
	struct snap_vis v;
	int k, ret;

	for (k = 0; k < rd->nsect; k++) {
		const struct snap_section *sc = &rd->sect[k];
		struct sect_rec r = { 0 };
		uint64_t off;

		if (strcmp(sc->name, "end") == 0)
			continue;
		snprintf(r.name, sizeof(r.name), "%s", sc->name);
		r.instance = sc->instance;
		r.version = sc->version;
		r.flags = sc->flags;
		r.len = sc->len;
		/* mapped RAM stays page aligned in the copy */
		r.align = (sc->flags & SNAP_SECT_NOCRC) && sc->off % PAGE == 0 ?
		    PAGE : 1;
		snap_vis_begin_save(&v, "section", 1, err);
		sect_rec_visit(&v, &r);
		ret = snap_send_vis(s, "section", (uint32_t)k, &v, err);
		for (off = 0; ret == 0 && off < sc->len;) {
			uint32_t n = sc->len - off < CHUNK ?
			    (uint32_t)(sc->len - off) : CHUNK;

			if (pread(rd->fd, buf, n, (off_t)(sc->off + off)) !=
			    (ssize_t)n)
				return vm_err_set(err, -EIO, "%s: section '%s' "
				    "could not be read", rd->path, sc->name);
			snap_vis_begin_save(&v, "section-data", 1, err);
			data_visit(&v, &off, buf, &n);
			ret = snap_send_vis(s, "section-data", (uint32_t)k, &v,
			    err);
			off += n;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
vm_send(const char *bundle, const char *snap_path, const char *tag,
    const char *base, const char *base_path, int fd, struct vm_err *err)
{
	static struct vm_config bcfg, scfg;
	static struct send_list l;
	char babs[PATH_MAX], yaml[PATH_MAX + 16];
	struct snap_reader rd;
	struct snap_send s;
	struct snap_vis v;
	struct vm_rec vr = { 0 };
	const struct snap_section *cs;
	uint8_t *buf = NULL;
	void *cbuf = NULL;
	size_t ylen = 0;
	int i, ret;

	if (realpath(bundle, babs) == NULL)
		return vm_err_errno(err, -errno, "%s", bundle);
	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", babs);
	cfg_defaults(&bcfg);
	ret = cfg_load(&bcfg, yaml, err);
	if (ret < 0)
		return ret;
	ret = snap_reader_open(&rd, snap_path, err);
	if (ret < 0)
		return ret;
	cs = snap_reader_find(&rd, "config", 0);
	if (cs == NULL) {
		ret = vm_err_set(err, -EINVAL, "%s: the snapshot holds no "
		    "configuration", snap_path);
		goto out;
	}
	ret = snap_reader_load(&rd, cs, &cbuf, err);
	cfg_defaults(&scfg);
	if (ret == 0)
		ret = cfg_parse(&scfg, cbuf, cs->len, snap_path, ".", err);
	l.n = 0;
	if (ret == 0)
		ret = add_disks(&l, &bcfg, babs, yaml, err);
	if (ret == 0)
		ret = add_disks(&l, &scfg, babs, snap_path, err);
	buf = malloc(CHUNK);
	if (ret == 0 && buf == NULL)
		ret = vm_err_set(err, -ENOMEM, "out of memory");
	if (ret < 0)
		goto out;
	{
		ssize_t n = read_yaml(yaml, buf, err);

		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		ylen = (size_t)n;
	}
	snprintf(vr.name, sizeof(vr.name), "%.255s", base_name(babs));
	snprintf(vr.tag, sizeof(vr.tag), "%s", tag);
	vr.ndisks = (uint32_t)l.n;
	vr.time = rd.hdr.time;
	if (base != NULL) {
		struct vm_snap_info in;

		ret = vm_snapshot_info(base_path, &in, err);
		if (ret < 0)
			goto out;
		snprintf(vr.base, sizeof(vr.base), "%s", base);
		vr.base_time = in.time;
		/* a delta of every writable disk (each holds both internal
		 * snapshots); read-only ones stay as the base's */
		for (i = 0; i < l.n; i++) {
			int k;

			for (k = 0; k < scfg.ndisks; k++)
				if (realpath(scfg.disks[k].file, yaml) != NULL &&
				    strcmp(yaml, l.path[i]) == 0)
					break;
			if ((k < scfg.ndisks && scfg.disks[k].readonly) ||
			    l.backing[i])
				continue;       /* as the copy has it */
			if (!has_snap(l.path[i], tag) ||
			    !has_snap(l.path[i], base)) {
				ret = vm_err_set(err, -EINVAL, "%s: no internal "
				    "snapshots '%s' and '%s' to make a delta "
				    "of (send it whole, without --base)",
				    l.path[i], base, tag);
				goto out;
			}
		}
	}
	ret = snap_send_open(&s, fd, "stdout", err);
	if (ret == 0) {
		snap_vis_begin_save(&v, "vm", 1, err);
		vm_rec_visit(&v, &vr);
		ret = snap_send_vis(&s, "vm", 0, &v, err);
	}
	if (ret == 0)
		ret = send_rest(&s, &l, buf, ylen, tag, base, &rd, NULL, err);
out:
	free(cbuf);
	free(buf);
	snap_reader_close(&rd);
	return ret;
}

/* A live send's disks: each file's writes tracked since before it was
 * first read ("disk-pre"), and the bytes sent before and in the pause. */
struct send_disks {
	struct io_track *track[MAX_FILES];
	uint64_t before, pause;
};

/* The grains of the file written since it was tracked, up to its size
 * now, as "disk-data" records (zeros too: the copy holds what was there). */
static int
send_written(struct snap_send *s, int fd, uint32_t inst, uint64_t size,
    const struct io_track *t, const char *what, uint8_t *buf,
    uint64_t *sent, struct vm_err *err)
{
	const uint64_t most = CHUNK / IO_TRACK_GRAIN;
	uint64_t g = 0, run, off;
	struct snap_vis v;
	uint32_t n;
	int ret;

	while (g * IO_TRACK_GRAIN < size) {
		if (!io_track_dirty(t, g)) {
			g++;
			continue;
		}
		for (run = 1; run < most && (g + run) * IO_TRACK_GRAIN < size &&
		    io_track_dirty(t, g + run); run++)
			;
		off = g * IO_TRACK_GRAIN;
		n = (uint32_t)(size - off < run * IO_TRACK_GRAIN ? size - off :
		    run * IO_TRACK_GRAIN);
		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
			return vm_err_set(err, -EIO, "%s: cannot be read at "
			    "%llu", what, (unsigned long long)off);
		snap_vis_begin_save(&v, "disk-data", 1, err);
		data_visit(&v, &off, buf, &n);
		ret = snap_send_vis(s, "disk-data", inst, &v, err);
		if (ret < 0)
			return ret;
		*sent += n;
		g += run;
	}
	return 0;
}

/* vm.yaml (its ylen bytes in buf), the disks of l, the sections of rd,
 * the end; buf is CHUNK bytes of room.  pre: a live send's disks, sent
 * before; only what was written since goes. */
static int
send_rest(struct snap_send *s, const struct send_list *l, uint8_t *buf,
    size_t ylen, const char *tag, const char *base, struct snap_reader *rd,
    struct send_disks *pre, struct vm_err *err)
{
	struct snap_vis v;
	uint64_t whole = 0;
	int i, ret;

	ret = snap_send_record(s, "vm.yaml", 0, buf, ylen, err);
	for (i = 0; ret == 0 && i < l->n; i++) {
		struct disk_rec dr = { 0 };
		struct stat st;
		int dfd;

		if (base != NULL && has_snap(l->path[i], base)) {
			ret = send_delta(s, l->path[i], (uint32_t)i, tag, base,
			    buf, err);
			continue;
		}
		if (base != NULL) {
			snprintf(dr.name, sizeof(dr.name), "%.255s",
			    base_name(l->path[i]));
			dr.how = DISK_KEPT;
			snap_vis_begin_save(&v, "disk", 1, err);
			disk_rec_visit(&v, &dr);
			ret = snap_send_vis(s, "disk", (uint32_t)i, &v, err);
			continue;
		}
		dfd = open(l->path[i], O_RDONLY | O_CLOEXEC);

		if (dfd < 0 || fstat(dfd, &st) < 0) {
			ret = vm_err_errno(err, -errno, "%s", l->path[i]);
			if (dfd >= 0)
				close(dfd);
			break;
		}
		snprintf(dr.name, sizeof(dr.name), "%s", base_name(l->path[i]));
		dr.size = (uint64_t)st.st_size;
		dr.how = pre != NULL ? DISK_UPDATE : DISK_FILE;
		snap_vis_begin_save(&v, "disk", 1, err);
		disk_rec_visit(&v, &dr);
		ret = snap_send_vis(s, "disk", (uint32_t)i, &v, err);
		if (ret == 0 && pre != NULL)
			ret = send_written(s, dfd, (uint32_t)i, dr.size,
			    pre->track[i], l->path[i], buf, &pre->pause, err);
		else if (ret == 0)
			ret = send_file_data(s, dfd, (uint32_t)i, dr.size,
			    l->path[i], "disk-data", buf, &whole, err);
		close(dfd);
	}
	if (ret == 0)
		ret = send_sections(s, rd, buf, err);
	if (ret == 0)
		ret = snap_send_close(s, err);
	return ret;
}

/* ---- send, live (vm/live.c drives it) ------------------------------------ */

struct vm_live_send {
	struct snap_send s;
	struct send_list l;
	struct send_disks d;
	bool pre;               /* the disks went before the pause */
	char yaml[PATH_MAX + 16];
	char tag[NAME_MAX_LEN + 1];
	uint8_t *buf;
};

/* The bundle's vm.yaml into buf (CHUNK bytes); its length or -errno. */
static ssize_t
read_yaml(const char *yaml, uint8_t *buf, struct vm_err *err)
{
	FILE *f = fopen(yaml, "r");
	size_t n = f != NULL ? fread(buf, 1, CHUNK, f) : 0;
	int ret = 0;

	if (f == NULL || ferror(f) || !feof(f))
		ret = f == NULL ? vm_err_errno(err, -errno, "%s", yaml) :
		    vm_err_set(err, -EFBIG, "%s: over 1 MiB", yaml);
	if (f != NULL)
		fclose(f);
	return ret < 0 ? ret : (ssize_t)n;
}

struct vm_live_send *
vm_send_live_begin(const char *bundle, const struct vm_config *running,
    const char *tag, int fd, struct vm_err *err)
{
	static struct vm_config bcfg;
	struct vm_live_send *ls = calloc(1, sizeof(*ls));
	struct vm_rec vr = { 0 };
	struct snap_vis v;
	char babs[PATH_MAX];
	int ret = 0;

	if (ls == NULL || (ls->buf = malloc(CHUNK)) == NULL) {
		free(ls);
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (realpath(bundle, babs) == NULL)
		ret = vm_err_errno(err, -errno, "%s", bundle);
	snprintf(ls->yaml, sizeof(ls->yaml), "%s/vm.yaml", babs);
	cfg_defaults(&bcfg);
	if (ret == 0)
		ret = cfg_load(&bcfg, ls->yaml, err);
	if (ret == 0)
		ret = add_disks(&ls->l, &bcfg, babs, ls->yaml, err);
	if (ret == 0)
		ret = add_disks(&ls->l, running, babs, "the running VM", err);
	if (ret == 0 && read_yaml(ls->yaml, ls->buf, err) < 0)
		ret = err->code ? err->code : -EIO;
	snprintf(ls->tag, sizeof(ls->tag), "%s", tag);
	snprintf(vr.name, sizeof(vr.name), "%.255s", base_name(babs));
	snprintf(vr.tag, sizeof(vr.tag), "%s", tag);
	vr.ndisks = (uint32_t)ls->l.n;
	if (ret == 0)
		ret = snap_send_open(&ls->s, fd, "the stream", err);
	if (ret == 0) {
		snap_vis_begin_save(&v, "vm", 1, err);
		vm_rec_visit(&v, &vr);
		ret = snap_send_vis(&ls->s, "vm", 0, &v, err);
	}
	if (ret < 0) {
		vm_send_live_free(ls);
		return NULL;
	}
	return ls;
}

int
vm_send_live_layout(struct vm_live_send *ls, uint32_t nr,
    const uint64_t *gpa, const uint64_t *size, struct vm_err *err)
{
	struct snap_vis v;
	uint32_t i;

	snap_vis_begin_save(&v, "ram-layout", 1, err);
	snap_u32(&v, "nregions", &nr);
	for (i = 0; i < nr; i++) {
		uint64_t g = gpa[i], z = size[i];

		snap_u64(&v, "gpa", &g);
		snap_u64(&v, "size", &z);
	}
	return snap_send_vis(&ls->s, "ram-layout", 0, &v, err);
}

int
vm_send_live_ram(struct vm_live_send *ls, uint64_t off, const void *data,
    uint32_t len, struct vm_err *err)
{
	struct snap_vis v;

	snap_vis_begin_save(&v, "ram-data", 1, err);
	data_visit(&v, &off, (void *)data, &len);
	return snap_send_vis(&ls->s, "ram-data", 0, &v, err);
}

int
vm_send_live_end(struct vm_live_send *ls, const char *state_path,
    struct vm_err *err)
{
	struct snap_reader rd;
	ssize_t ylen = read_yaml(ls->yaml, ls->buf, err);
	int ret;

	if (ylen < 0)
		return (int)ylen;
	ret = snap_reader_open(&rd, state_path, err);
	if (ret < 0)
		return ret;
	ret = send_rest(&ls->s, &ls->l, ls->buf, (size_t)ylen, ls->tag, NULL,
	    &rd, ls->pre ? &ls->d : NULL, err);
	snap_reader_close(&rd);
	return ret;
}

/*
 * The disks while the guest runs: each file's writes tracked (util/
 * track.h) from before its first byte is read, then the file as it is
 * ("disk-pre" and its "disk-pre-data"), holes and zero runs left out.
 * What the guest writes meanwhile, vm_send_live_end sends in the pause.
 * Before the stream's "ram-layout"; *before the bytes sent.
 */
int
vm_send_live_disks(struct vm_live_send *ls, uint64_t *before,
    struct vm_err *err)
{
	struct snap_vis v;
	int i, ret = 0;

	for (i = 0; ret == 0 && i < ls->l.n; i++) {
		struct disk_rec dr = { 0 };
		struct stat st;
		int fd = open(ls->l.path[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = vm_err_errno(err, -errno, "%s", ls->l.path[i]);
			if (fd >= 0)
				close(fd);
			break;
		}
		ls->d.track[i] = io_track_start(fd);
		if (ls->d.track[i] == NULL) {
			ret = vm_err_errno(err, -errno, "%s: cannot track its "
			    "writes", ls->l.path[i]);
			close(fd);
			break;
		}
		snprintf(dr.name, sizeof(dr.name), "%s", base_name(ls->l.path[i]));
		dr.size = (uint64_t)st.st_size;
		snap_vis_begin_save(&v, "disk-pre", 1, err);
		disk_rec_visit(&v, &dr);
		ret = snap_send_vis(&ls->s, "disk-pre", (uint32_t)i, &v, err);
		if (ret == 0)
			ret = send_file_data(&ls->s, fd, (uint32_t)i, dr.size,
			    ls->l.path[i], "disk-pre-data", ls->buf,
			    &ls->d.before, err);
		close(fd);
	}
	ls->pre = ret == 0;
	*before = ls->d.before;
	return ret;
}

uint64_t
vm_send_live_disk_pause(const struct vm_live_send *ls)
{
	return ls->d.pause;
}

void
vm_send_live_free(struct vm_live_send *ls)
{
	int i;

	if (ls == NULL)
		return;
	for (i = 0; i < MAX_FILES; i++)
		io_track_stop(ls->d.track[i]);
	free(ls->buf);
	free(ls);
}

/* ---- receive -------------------------------------------------------------- */

struct recv_state {
	char tmp[PBUF];                 /* the folder being built */
	char final[PBUF];               /* where it goes, absolute */
	char snap[2 * PBUF];
	struct vm_rec vr;
	/* files made so far in tmp (removed on failure) */
	char files[MAX_FILES + 2][NAME_MAX_LEN + 1];
	int nfiles;
	bool have_yaml, have_snapdir;
	char *yaml;
	size_t ylen;
	/* the disk being received: a file, or a delta through dblk */
	int dfd, ndisk;
	struct blk *dblk;
	struct disk_rec dr;
	/* the snapshot being written */
	struct snap_writer w;
	bool w_open;
	int nsect;
	struct sect_rec sr;
	uint64_t sect_got, payload_off;
	uint32_t sect_crc;
	bool in_sect;
	uint8_t *config;                /* the config section, rewritten */
	/* a live stream's RAM: the "ram" section, open while pages come */
	bool ram_open, ram_done;
	uint32_t ram_nr;
	uint64_t ram_gpa[16], ram_size[16], ram_total, ram_off;
	uint64_t ram_unsynced;          /* bytes since writeback was started */
	uint8_t *ram_bits;              /* non-zero pages, regions in a row */
	/* a live stream's disks sent before its pause ("disk-pre"), open
	 * until their update comes */
	int npre, pre_fd[MAX_FILES];
	struct disk_rec pre[MAX_FILES];
	uint64_t pre_unsynced;          /* bytes since writeback was started */
};

static int
new_file(struct recv_state *st, const char *name, struct vm_err *err)
{
	char p[2 * PBUF];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", st->tmp, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", p);
	snprintf(st->files[st->nfiles++], NAME_MAX_LEN + 1, "%s", name);
	return fd;
}

static int
disk_finish(struct recv_state *st, struct vm_err *err)
{
	int ret = 0;

	if (st->dblk != NULL) {
		ret = blk_flush(st->dblk);
		if (ret < 0)
			vm_err_errno(err, ret, "%s: flush", st->dblk->path);
		else
			ret = blk_snapshot_create(st->dblk, st->vr.tag, err);
		blk_close(st->dblk);
		st->dblk = NULL;
		return ret;
	}
	if (st->dfd < 0)
		return 0;
	if (ftruncate(st->dfd, (off_t)st->dr.size) < 0 || fsync(st->dfd) < 0)
		ret = vm_err_errno(err, -errno, "%s/%s", st->tmp, st->dr.name);
	close(st->dfd);
	st->dfd = -1;
	return ret;
}

/* The embedded configuration with its disks in the copy (final/NAME). */
static int
config_rewrite(struct recv_state *st, struct vm_err *err)
{
	static struct vm_config cfg;
	struct snap_vis v;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;
	int i, k, ret;

	cfg_defaults(&cfg);
	ret = cfg_parse(&cfg, (const char *)st->config, st->sr.len,
	    "the snapshot's configuration", ".", err);
	if (ret < 0)
		return ret;
	for (i = 0; i < cfg.ndisks; i++) {
		char b[NAME_MAX_LEN + 1];

		snprintf(b, sizeof(b), "%.255s", base_name(cfg.disks[i].file));

		for (k = 0; k < st->nfiles && strcmp(st->files[k], b) != 0; k++)
			;
		if (k == st->nfiles || !plain_name(b))
			return vm_err_set(err, -EINVAL, "stdin: the snapshot's "
			    "configuration names disk %s, which was not sent",
			    cfg.disks[i].file);
		if ((size_t)snprintf(cfg.disks[i].file, sizeof(cfg.disks[i].file),
		    "%s/%s", st->final, b) >= sizeof(cfg.disks[i].file))
			return vm_err_set(err, -ENAMETOOLONG, "%s: path too "
			    "long", st->final);
	}
	f = open_memstream(&out, &olen);
	if (f == NULL)
		return vm_err_errno(err, -errno, "memstream");
	ret = cfg_emit(&cfg, f, "the snapshot's configuration", err);
	fclose(f);
	if (ret == 0) {
		snap_vis_begin_save(&v, "config", st->sr.version, err);
		snap_bytes(&v, "yaml", out, olen);
		ret = snap_vis_end(&v);
		if (ret == 0)
			ret = snap_writer_section(&st->w, "config",
			    st->sr.instance, &v, err);
		snap_vis_free(&v);
	}
	free(out);
	return ret;
}

static int
sect_finish(struct recv_state *st, struct vm_err *err)
{
	int ret;

	if (!st->in_sect)
		return 0;
	st->in_sect = false;
	if (st->sect_got != st->sr.len)
		return vm_err_set(err, -EINVAL, "stdin: section '%s' of the "
		    "snapshot: %llu of its %llu bytes sent", st->sr.name,
		    (unsigned long long)st->sect_got,
		    (unsigned long long)st->sr.len);
	if (st->config != NULL) {
		ret = config_rewrite(st, err);
		free(st->config);
		st->config = NULL;
		return ret;
	}
	return st->sr.flags & SNAP_SECT_NOCRC ?
	    snap_writer_end_raw_nocrc(&st->w, st->sr.len, err) :
	    snap_writer_end_raw(&st->w, st->sr.len, st->sect_crc, err);
}

/* Base mode: the copied file of that name goes (the stream's replaces
 * it).  Not in st->files: those are the stream's. */
static void
drop_copy(struct recv_state *st, const char *name)
{
	char p[2 * PBUF];

	if (!st->vr.base[0])
		return;
	snprintf(p, sizeof(p), "%s/%s", st->tmp, name);
	unlink(p);
}

/* A delta or kept disk: the copy of the base bundle's, back at the base's
 * internal snapshot, to take the differences. */
static int
disk_delta_begin(struct recv_state *st, struct vm_err *err)
{
	char p[2 * PBUF];
	struct blk *b;
	int ret;

	snprintf(p, sizeof(p), "%s/%s", st->tmp, st->dr.name);
	if (access(p, F_OK) < 0)
		return vm_err_set(err, -ENOENT, "%s: no disk %s to take the "
		    "delta (the bundle received with '%s' has none)", st->final,
		    st->dr.name, st->vr.base);
	snprintf(st->files[st->nfiles++], NAME_MAX_LEN + 1, "%s", st->dr.name);
	st->ndisk++;
	if (st->dr.how == DISK_KEPT)
		return 0;
	b = blk_open(p, NULL, 0, err);
	if (b == NULL)
		return err->code ? err->code : -EIO;
	ret = blk_snapshot_apply(b, st->vr.base, err);
	if (ret == 0 && b->size != st->dr.size)
		ret = blk_resize(b, st->dr.size, err);
	if (ret < 0) {
		blk_close(b);
		return ret;
	}
	st->dblk = b;
	return 0;
}

static int
recv_vis(struct snap_recv *r, struct snap_vis *v, struct vm_err *err)
{
	snap_vis_begin_load(v, r->name, 1, r->buf, r->len, err);
	return 0;
}

/* A data record's offset and bytes (into data, CHUNK of room). */
static int
recv_data(struct snap_recv *r, uint8_t *data, uint64_t *off, uint32_t *n,
    struct vm_err *err)
{
	struct snap_vis v;

	recv_vis(r, &v, err);
	data_visit(&v, off, data, n);
	return snap_vis_end(&v);
}

/* A live stream's memory regions: the snapshot file opened, its "ram"
 * section begun, for the pages. */
static int
ram_layout(struct recv_state *st, struct snap_recv *r, struct vm_err *err)
{
	struct snap_vis v;
	uint32_t i;
	int ret;

	if (st->ram_open || st->ram_done || st->have_yaml || st->ndisk > 0 ||
	    st->w_open)
		return vm_err_set(err, -EINVAL, "stdin: a 'ram-layout' record "
		    "out of place");
	/* the disks sent before go to the disk now, while the guest runs,
	 * so the fsync in its pause (disk_finish) finds little to write */
	for (i = 0; i < (uint32_t)st->npre; i++)
		if (fdatasync(st->pre_fd[i]) < 0)
			return vm_err_errno(err, -errno, "%s/%s", st->tmp,
			    st->pre[i].name);
	recv_vis(r, &v, err);
	snap_u32(&v, "nregions", &st->ram_nr);
	snap_check(&v, st->ram_nr >= 1 && st->ram_nr <= 16, "nregions",
	    "not 1 to 16");
	for (i = 0; i < st->ram_nr && !v.failed; i++) {
		snap_u64(&v, "gpa", &st->ram_gpa[i]);
		snap_u64(&v, "size", &st->ram_size[i]);
		snap_check(&v, st->ram_size[i] % PAGE == 0 &&
		    st->ram_size[i] <= (1ULL << 46) &&
		    st->ram_total + st->ram_size[i] <= (1ULL << 46), "size",
		    "not a page multiple, or the regions pass 64 TiB");
		st->ram_total += v.failed ? 0 : st->ram_size[i];
	}
	ret = snap_vis_end(&v);
	if (ret < 0)
		return ret;
	st->ram_bits = calloc(1, st->ram_total / PAGE / 8 + 1);
	if (st->ram_bits == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	ret = snap_writer_open(&st->w, st->snap, 0, err);
	if (ret < 0)
		return ret;
	st->w_open = true;
	ret = vm_snapshot_begin_ram(&st->w, &st->ram_off, err);
	if (ret == 0 && ftruncate(st->w.fd, (off_t)(st->ram_off +
	    st->ram_total)) < 0)
		ret = vm_err_errno(err, -errno, "%s", st->snap);
	st->ram_open = ret == 0;
	return ret;
}

/* Pages of a live stream, where they lie in the "ram" section. */
static int
ram_data(struct recv_state *st, struct snap_recv *r, uint8_t *data,
    struct vm_err *err)
{
	uint64_t off = 0, k;
	uint32_t n = 0;
	int ret;

	ret = recv_data(r, data, &off, &n, err);
	if (ret < 0)
		return ret;
	if (!st->ram_open || off % PAGE || n % PAGE || off > st->ram_total ||
	    n > st->ram_total - off)
		return vm_err_set(err, -EINVAL, "stdin: RAM pages at %llu+%u "
		    "outside the memory the stream laid out",
		    (unsigned long long)off, n);
	if (pwrite(st->w.fd, data, n, (off_t)(st->ram_off + off)) !=
	    (ssize_t)n)
		return vm_err_errno(err, -errno, "%s", st->snap);
	/* start writing back as pages come, so the fsync at the end, in
	 * the VM's downtime, finds little left to write */
	st->ram_unsynced += n;
	if (st->ram_unsynced >= RAM_WRITEBACK) {
		(void)sync_file_range(st->w.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		st->ram_unsynced = 0;
	}
	for (k = 0; k < n / PAGE; k++) {
		uint64_t pg = off / PAGE + k;
		const uint8_t *p = data + k * PAGE;
		bool nz = p[0] != 0 || memcmp(p, p + 1, PAGE - 1) != 0;

		if (nz)
			st->ram_bits[pg / 8] |= (uint8_t)(1u << (pg % 8));
		else
			st->ram_bits[pg / 8] &= (uint8_t)~(1u << (pg % 8));
	}
	return 0;
}

/* The pages are all in: the "ram" section closed, "ram-map" written. */
static int
ram_close(struct recv_state *st, struct vm_err *err)
{
	if (!st->ram_open)
		return 0;
	st->ram_open = false;
	st->ram_done = true;
	return vm_snapshot_end_ram(&st->w, st->ram_nr, st->ram_gpa,
	    st->ram_size, st->ram_bits, err);
}

/* A live stream's disk file sent before its pause: made, held open. */
static int
disk_pre(struct recv_state *st, struct snap_recv *r, struct vm_err *err)
{
	struct disk_rec *dr = &st->pre[st->npre < MAX_FILES ? st->npre : 0];
	struct snap_vis v;
	int fd, ret, k;

	if (st->ram_open || st->ram_done || st->have_yaml || st->ndisk > 0 ||
	    st->w_open || st->vr.base[0] || r->instance != (uint32_t)st->npre ||
	    st->npre >= (int)st->vr.ndisks)
		return vm_err_set(err, -EINVAL, "stdin: a 'disk-pre' record "
		    "out of place (disk %u)", r->instance);
	recv_vis(r, &v, err);
	memset(dr, 0, sizeof(*dr));
	disk_rec_visit(&v, dr);
	ret = snap_vis_end(&v);
	if (ret == 0 && (!plain_name(dr->name) || dr->how != DISK_FILE))
		ret = vm_err_set(err, -EINVAL, "stdin: '%s' is not a disk "
		    "file name, or not sent as a file", dr->name);
	for (k = 0; ret == 0 && k < st->npre; k++)
		if (strcmp(st->pre[k].name, dr->name) == 0)
			ret = vm_err_set(err, -EINVAL, "stdin: disk %s sent "
			    "twice", dr->name);
	if (ret < 0)
		return ret;
	fd = new_file(st, dr->name, err);
	if (fd < 0)
		return fd;
	st->pre_fd[st->npre++] = fd;
	return 0;
}

static int
disk_pre_data(struct recv_state *st, struct snap_recv *r, uint8_t *data,
    struct vm_err *err)
{
	uint64_t off = 0;
	uint32_t n = 0;
	int ret;

	ret = recv_data(r, data, &off, &n, err);
	if (ret < 0)
		return ret;
	if (st->npre == 0 || r->instance != (uint32_t)st->npre - 1 ||
	    st->ndisk > 0 || off > st->pre[st->npre - 1].size ||
	    n > st->pre[st->npre - 1].size - off)
		return vm_err_set(err, -EINVAL, "stdin: disk data for disk %u "
		    "at %llu+%u lies outside the disk sent last", r->instance,
		    (unsigned long long)off, n);
	if (pwrite(st->pre_fd[st->npre - 1], data, n, (off_t)off) !=
	    (ssize_t)n)
		return vm_err_errno(err, -errno, "%s/%s", st->tmp,
		    st->pre[st->npre - 1].name);
	st->pre_unsynced += n;
	if (st->pre_unsynced >= RAM_WRITEBACK) {
		(void)sync_file_range(st->pre_fd[st->npre - 1], 0, 0,
		    SYNC_FILE_RANGE_WRITE);
		st->pre_unsynced = 0;
	}
	return 0;
}

/* The update of a disk sent before the pause: its file takes the data
 * records that follow, then its final size. */
static int
disk_update_begin(struct recv_state *st, struct vm_err *err)
{
	int i = st->ndisk;

	if (i >= st->npre || st->pre_fd[i] < 0 ||
	    strcmp(st->pre[i].name, st->dr.name) != 0)
		return vm_err_set(err, -EINVAL, "stdin: disk %s sent as an "
		    "update of a file not sent before", st->dr.name);
	st->dfd = st->pre_fd[i];
	st->pre_fd[i] = -1;
	st->ndisk++;
	return 0;
}

/* One record into the folder; 0 or -errno. */
static int
recv_record(struct recv_state *st, struct snap_recv *r, uint8_t *data,
    struct vm_err *err)
{
	struct snap_vis v;
	uint64_t off = 0;
	uint32_t n = 0;
	int ret;

	if (strcmp(r->name, "disk-pre") == 0)
		return disk_pre(st, r, err);
	if (strcmp(r->name, "disk-pre-data") == 0)
		return disk_pre_data(st, r, data, err);
	if (strcmp(r->name, "ram-layout") == 0)
		return ram_layout(st, r, err);
	if (strcmp(r->name, "ram-data") == 0)
		return ram_data(st, r, data, err);
	ret = ram_close(st, err);
	if (ret < 0)
		return ret;
	if (strcmp(r->name, "vm.yaml") == 0) {
		int fd;

		if (st->have_yaml)
			return vm_err_set(err, -EINVAL, "stdin: two vm.yaml "
			    "records");
		drop_copy(st, "vm.yaml");
		fd = new_file(st, "vm.yaml", err);
		if (fd < 0)
			return fd;
		ret = (size_t)write(fd, r->buf, r->len) == r->len &&
		    fsync(fd) == 0 ? 0 : vm_err_errno(err, -errno, "%s/vm.yaml",
		    st->tmp);
		close(fd);
		st->yaml = malloc(r->len + 1);
		if (ret == 0 && st->yaml == NULL)
			ret = vm_err_set(err, -ENOMEM, "out of memory");
		if (ret == 0) {
			memcpy(st->yaml, r->buf, r->len);
			st->ylen = r->len;
			st->have_yaml = true;
		}
		return ret;
	}
	if (strcmp(r->name, "disk") == 0) {
		int fd;

		ret = disk_finish(st, err);
		if (ret < 0)
			return ret;
		if (r->instance != (uint32_t)st->ndisk ||
		    st->ndisk >= (int)st->vr.ndisks || st->nsect > 0)
			return vm_err_set(err, -EINVAL, "stdin: disk %u out of "
			    "order (%u disks)", r->instance, st->vr.ndisks);
		recv_vis(r, &v, err);
		memset(&st->dr, 0, sizeof(st->dr));
		disk_rec_visit(&v, &st->dr);
		ret = snap_vis_end(&v);
		if (ret == 0 && !plain_name(st->dr.name))
			ret = vm_err_set(err, -EINVAL, "stdin: '%s' is not a "
			    "disk file name", st->dr.name);
		if (ret == 0 && st->dr.how == DISK_UPDATE)
			return disk_update_begin(st, err);
		if (ret == 0 && st->npre > 0)
			ret = vm_err_set(err, -EINVAL, "stdin: disk %s sent "
			    "whole after disks sent before the pause",
			    st->dr.name);
		if (ret == 0 && st->dr.how != DISK_FILE && !st->vr.base[0])
			ret = vm_err_set(err, -EINVAL, "stdin: disk %s sent as "
			    "a delta in a stream without a base", st->dr.name);
		if (ret < 0)
			return ret;
		if (st->dr.how != DISK_FILE)
			return disk_delta_begin(st, err);
		drop_copy(st, st->dr.name);
		fd = new_file(st, st->dr.name, err);
		if (fd < 0)
			return fd;
		st->dfd = fd;
		st->ndisk++;
		return 0;
	}
	if (strcmp(r->name, "disk-data") == 0) {
		ret = recv_data(r, data, &off, &n, err);
		if (ret < 0)
			return ret;
		if ((st->dfd < 0 && st->dblk == NULL) ||
		    r->instance != (uint32_t)st->ndisk - 1 ||
		    off > st->dr.size || n > st->dr.size - off)
			return vm_err_set(err, -EINVAL, "stdin: disk data for "
			    "disk %u at %llu+%u lies outside the disk sent "
			    "last", r->instance, (unsigned long long)off, n);
		if (st->dblk != NULL) {
			ret = blk_pwrite(st->dblk, data, n, off);
			return ret < 0 ? vm_err_errno(err, ret, "%s",
			    st->dblk->path) : 0;
		}
		if (pwrite(st->dfd, data, n, (off_t)off) != (ssize_t)n)
			return vm_err_errno(err, -errno, "%s/%s", st->tmp,
			    st->dr.name);
		return 0;
	}
	if (strcmp(r->name, "section") == 0) {
		ret = disk_finish(st, err);
		if (ret == 0)
			ret = sect_finish(st, err);
		if (ret < 0)
			return ret;
		if (st->ndisk != (int)st->vr.ndisks || !st->have_yaml ||
		    r->instance != (uint32_t)st->nsect)
			return vm_err_set(err, -EINVAL, "stdin: the snapshot's "
			    "section %u out of order", r->instance);
		recv_vis(r, &v, err);
		memset(&st->sr, 0, sizeof(st->sr));
		sect_rec_visit(&v, &st->sr);
		ret = snap_vis_end(&v);
		if (ret < 0)
			return ret;
		/* only mapped RAM goes unchecked by its CRC */
		if ((st->sr.flags & SNAP_SECT_NOCRC) &&
		    strcmp(st->sr.name, "ram") != 0)
			return vm_err_set(err, -EINVAL, "stdin: the snapshot's "
			    "section '%s' claims no CRC (only mapped RAM may)",
			    st->sr.name);
		if (st->ram_done && (strcmp(st->sr.name, "ram") == 0 ||
		    strcmp(st->sr.name, "ram-map") == 0))
			return vm_err_set(err, -EINVAL, "stdin: a section '%s' "
			    "after the live stream's pages", st->sr.name);
		if (!st->w_open) {
			ret = snap_writer_open_time(&st->w, st->snap, 0,
			    st->vr.time, err);
			if (ret < 0)
				return ret;
			st->w_open = true;
		}
		st->nsect++;
		st->in_sect = true;
		st->sect_got = 0;
		st->sect_crc = 0;
		if (strcmp(st->sr.name, "config") == 0) {
			if (st->sr.len > SNAP_SECTION_MEM_MAX)
				return vm_err_set(err, -EINVAL, "stdin: the "
				    "snapshot's configuration is too big");
			st->config = malloc(st->sr.len + 1);
			if (st->config == NULL)
				return vm_err_set(err, -ENOMEM, "out of memory");
			return 0;
		}
		return snap_writer_begin_raw(&st->w, st->sr.name,
		    st->sr.instance, st->sr.version, st->sr.align,
		    &st->payload_off, err);
	}
	if (strcmp(r->name, "section-data") == 0) {
		ret = recv_data(r, data, &off, &n, err);
		if (ret < 0)
			return ret;
		if (!st->in_sect || r->instance != (uint32_t)st->nsect - 1 ||
		    off != st->sect_got || n > st->sr.len - off)
			return vm_err_set(err, -EINVAL, "stdin: data of the "
			    "snapshot's section %u at %llu+%u out of order",
			    r->instance, (unsigned long long)off, n);
		if (st->config != NULL)
			memcpy(st->config + off, data, n);
		else if (pwrite(st->w.fd, data, n,
		    (off_t)(st->payload_off + off)) != (ssize_t)n)
			return vm_err_errno(err, -errno, "%s", st->snap);
		st->sect_crc = snap_crc32(st->sect_crc, data, n);
		st->sect_got += n;
		return 0;
	}
	return vm_err_set(err, -EINVAL, "stdin: a record '%s' this vmkit "
	    "does not know (a newer sender?)", r->name);
}

/* The copy's vm.yaml when the sender's named disks outside its bundle:
 * written anew from cfg (comments and layout are lost), every disk by its
 * file name, relative to the copy's folder. */
static int
yaml_rewrite(struct recv_state *st, struct vm_config *cfg, struct vm_err *err)
{
	char p[2 * PBUF], *out = NULL, *line;
	size_t olen = 0;
	FILE *f;
	int i, fd, ret;

	for (i = 0; i < cfg->ndisks; i++) {
		char b[NAME_MAX_LEN + 1];

		snprintf(b, sizeof(b), "%.255s", base_name(cfg->disks[i].file));
		snprintf(cfg->disks[i].file, sizeof(cfg->disks[i].file), "%s",
		    b);
	}
	snprintf(p, sizeof(p), "%s/vm.yaml", st->tmp);
	f = open_memstream(&out, &olen);
	if (f == NULL)
		return vm_err_errno(err, -errno, "memstream");
	ret = cfg_emit(cfg, f, p, err);
	fclose(f);
	/* a name the sender's vm.yaml did not give stays the folder's */
	line = out;
	if (ret == 0 && !cfg->name_given && strncmp(out, "version:", 8) == 0 &&
	    (line = strstr(out, "\nname: ")) != NULL) {
		char *eol = strchr(line + 1, '\n');

		memmove(line, eol != NULL ? eol : line + strlen(line),
		    strlen(eol != NULL ? eol : line + strlen(line)) + 1);
	}
	fd = ret == 0 ? open(p, O_WRONLY | O_TRUNC | O_CLOEXEC) : -1;
	if (ret == 0 && (fd < 0 || write(fd, out, strlen(out)) !=
	    (ssize_t)strlen(out) || fsync(fd) < 0))
		ret = vm_err_errno(err, -errno, "%s", p);
	if (fd >= 0)
		close(fd);
	free(out);
	return ret;
}

/* All of it in: the snapshot closed and checked as a restore would, the
 * vm.yaml's disks the ones sent. */
static int
recv_finish(struct recv_state *st, struct vm_err *err)
{
	static struct vm_config cfg;
	struct snap_reader rd;
	char yname[PBUF + 16];
	int i, k, ret, outside = 0;

	ret = disk_finish(st, err);
	if (ret == 0)
		ret = sect_finish(st, err);
	if (ret == 0 && st->ram_open)
		ret = vm_err_set(err, -EINVAL, "stdin: incomplete send stream "
		    "(it ends in the live stream's pages)");
	if (ret < 0)
		return ret;
	if (!st->have_yaml || st->ndisk != (int)st->vr.ndisks || !st->w_open)
		return vm_err_set(err, -EINVAL, "stdin: incomplete send stream "
		    "(%s, %d of %u disks, %s)", st->have_yaml ? "vm.yaml" :
		    "no vm.yaml", st->ndisk, st->vr.ndisks, st->w_open ?
		    "the snapshot" : "no snapshot");
	st->w_open = false;
	ret = snap_writer_close(&st->w, err);
	if (ret < 0)
		return ret;
	ret = snap_reader_open(&rd, st->snap, err);
	if (ret < 0)
		return ret;
	snap_reader_close(&rd);
	if (st->ram_done) {
		struct vm_snap_info in;

		/* what a live sender's sections and our RAM make */
		ret = vm_snapshot_info(st->snap, &in, err);
		if (ret < 0)
			return ret;
	}
	snprintf(yname, sizeof(yname), "%s/vm.yaml", st->final);
	cfg_defaults(&cfg);
	ret = cfg_parse(&cfg, st->yaml, st->ylen, yname, st->final, err);
	for (i = 0; ret == 0 && i < cfg.ndisks; i++) {
		const char *f = cfg.disks[i].file;
		size_t fl = strlen(st->final);

		for (k = 0; k < st->nfiles; k++)
			if (strncmp(f, st->final, fl) == 0 && f[fl] == '/' &&
			    strcmp(f + fl + 1, st->files[k]) == 0)
				break;
		if (k < st->nfiles)
			continue;
		/* a disk from outside the sender's bundle: in the copy's
		 * folder now, under its file name */
		for (k = 0; k < st->nfiles; k++)
			if (strcmp(base_name(f), st->files[k]) == 0)
				break;
		if (k == st->nfiles)
			ret = vm_err_set(err, -EINVAL, "stdin: vm.yaml names disk "
			    "%s, not one of the disks sent", f);
		else
			outside++;
	}
	if (ret == 0 && outside > 0)
		ret = yaml_rewrite(st, &cfg, err);
	return ret;
}

/* Remove a folder of ours: its files, those of its snapshots/, both. */
static void
rm_bundle(const char *dir)
{
	char p[2 * PBUF + NAME_MAX_LEN];
	int pass;

	for (pass = 0; pass < 2; pass++) {
		struct dirent *de;
		DIR *d;

		snprintf(p, sizeof(p), "%s%s", dir, pass ? "" : "/snapshots");
		d = opendir(p);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
		rmdir(p);
	}
}

static void
recv_cleanup(struct recv_state *st)
{
	int i;

	if (st->dfd >= 0)
		close(st->dfd);
	for (i = 0; i < st->npre; i++)
		if (st->pre_fd[i] >= 0)
			close(st->pre_fd[i]);
	st->npre = 0;
	if (st->dblk != NULL)
		blk_close(st->dblk);
	st->dblk = NULL;
	if (st->w_open)
		snap_writer_abort(&st->w);
	rm_bundle(st->tmp);
}

/* Copy file from to a new file to (a reflink where the file system
 * makes one; holes and zero runs stay holes). */
static int
copy_file(const char *from, const char *to, uint8_t *buf, struct vm_err *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, ret = 0;
	struct stat st;
	ssize_t n;
	off_t off = 0;

	if (in < 0 || fstat(in, &st) < 0)
		ret = vm_err_errno(err, -errno, "%s", from);
	else if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    st.st_mode & 0777)) < 0)
		ret = vm_err_errno(err, -errno, "%s", to);
	if (ret == 0 && ioctl(out, FICLONE, in) < 0) {
		while ((n = pread(in, buf, CHUNK, off)) > 0) {
			if (!all_zero(buf, (size_t)n) &&
			    pwrite(out, buf, (size_t)n, off) != n)
				break;
			off += n;
		}
		if (n != 0 || ftruncate(out, st.st_size) < 0)
			ret = vm_err_errno(err, -EIO, "%s: copying it", to);
	}
	if (ret == 0 && fsync(out) < 0)
		ret = vm_err_errno(err, -errno, "%s", to);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

/* Base mode: final is the bundle received with the base (its snapshot
 * file of the same time), without the new tag; tmp starts as its copy. */
static int
base_copy(struct recv_state *st, uint8_t *buf, struct vm_err *err)
{
	char a[2 * PBUF + NAME_MAX_LEN], b[2 * PBUF + NAME_MAX_LEN];
	struct vm_snap_info in;
	int pass, ret = 0;

	snprintf(a, sizeof(a), "%s/snapshots/%.63s.snap", st->final,
	    st->vr.base);
	if (vm_snapshot_info(a, &in, err) < 0)
		return vm_err_set(err, -ENOENT, "%s: no readable snapshot '%s' "
		    "(a delta goes into the bundle received with its base)",
		    st->final, st->vr.base);
	if (in.time != st->vr.base_time)
		return vm_err_set(err, -EINVAL, "%s: snapshot '%s' is not the "
		    "sender's (taken at another time)", st->final,
		    st->vr.base);
	snprintf(a, sizeof(a), "%s/snapshots/%.63s.snap", st->final,
	    st->vr.tag);
	if (access(a, F_OK) == 0)
		return vm_err_set(err, -EEXIST, "%s: has a snapshot '%s' "
		    "already", st->final, st->vr.tag);
	for (pass = 0; pass < 2 && ret == 0; pass++) {
		struct dirent *de;
		const char *sub = pass ? "/snapshots" : "";
		DIR *d;

		snprintf(a, sizeof(a), "%s%s", st->final, sub);
		d = opendir(a);
		if (d == NULL)
			return vm_err_errno(err, -errno, "%s", a);
		while (ret == 0 && (de = readdir(d)) != NULL) {
			struct stat s;

			snprintf(a, sizeof(a), "%s%s/%s", st->final, sub,
			    de->d_name);
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 ||
			    (!pass && strcmp(de->d_name, "snapshots") == 0))
				continue;
			/* only files move to the updated copy: anything else
			 * would be lost with the old folder */
			if (stat(a, &s) < 0 || !S_ISREG(s.st_mode)) {
				ret = vm_err_set(err, -EINVAL, "%s: not a plain "
				    "file: a delta updates a bundle of files "
				    "only (move it out of the bundle)", a);
				break;
			}
			snprintf(b, sizeof(b), "%s%s/%s", st->tmp, sub,
			    de->d_name);
			ret = copy_file(a, b, buf, err);
		}
		closedir(d);
	}
	return ret;
}

int
vm_receive(int fd, const char *dir, char *made, size_t made_len,
    struct vm_err *err)
{
	static struct recv_state st;
	struct snap_recv r;
	struct snap_vis v;
	char parent[PATH_MAX], pabs[PATH_MAX], leaf[NAME_MAX_LEN + 1];
	char sdir[2 * PBUF], d[PATH_MAX];
	uint8_t *data = NULL;
	const char *slash;
	int i, ret;

	free(st.yaml);
	memset(&st, 0, sizeof(st));
	st.dfd = -1;
	for (i = 0; i < MAX_FILES; i++)
		st.pre_fd[i] = -1;
	ret = snap_recv_open(&r, fd, "stdin", err);
	if (ret == 0)
		ret = snap_recv_next(&r, err);
	if (ret == 0 || (ret > 0 && strcmp(r.name, "vm") != 0))
		ret = vm_err_set(err, -EINVAL, "stdin: a send stream without "
		    "its 'vm' record first");
	if (ret < 0) {
		snap_recv_close(&r);
		return ret;
	}
	recv_vis(&r, &v, err);
	vm_rec_visit(&v, &st.vr);
	ret = snap_vis_end(&v);
	if (ret == 0 && (!plain_name(st.vr.tag) ||
	    strlen(st.vr.tag) >= 64))
		ret = vm_err_set(err, -EINVAL, "stdin: '%s' is not a snapshot "
		    "tag", st.vr.tag);
	if (ret == 0 && dir == NULL && !plain_name(st.vr.name))
		ret = vm_err_set(err, -EINVAL, "stdin: the VM's name '%s' is "
		    "no folder name: give the folder", st.vr.name);
	if (ret < 0) {
		snap_recv_close(&r);
		return ret;
	}
	/* where it goes: an absolute path (the copy's configuration names
	 * its disks by it), a folder not there yet */
	snprintf(d, sizeof(d), "%s", dir != NULL ? dir : st.vr.name);
	while (strlen(d) > 1 && d[strlen(d) - 1] == '/')
		d[strlen(d) - 1] = '\0';
	dir = d;
	slash = strrchr(d, '/');
	snprintf(leaf, sizeof(leaf), "%.255s", slash ? slash + 1 : d);
	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == d)
		snprintf(parent, sizeof(parent), "/");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - d), d);
	if (leaf[0] == '\0' || strcmp(leaf, ".") == 0 ||
	    strcmp(leaf, "..") == 0 || realpath(parent, pabs) == NULL) {
		snap_recv_close(&r);
		return vm_err_set(err, -EINVAL, "%s: not a folder to make "
		    "(its parent must exist)", dir);
	}
	snprintf(st.final, sizeof(st.final), "%s/%s",
	    strcmp(pabs, "/") == 0 ? "" : pabs, leaf);
	if (!st.vr.base[0] && access(st.final, F_OK) == 0) {
		snap_recv_close(&r);
		return vm_err_set(err, -EEXIST, "%s: exists (receive makes a "
		    "new bundle: give another folder)", st.final);
	}
	snprintf(st.tmp, sizeof(st.tmp), "%s/.%s.recv-XXXXXX",
	    strcmp(pabs, "/") == 0 ? "" : pabs, leaf);
	if (mkdtemp(st.tmp) == NULL) {
		snap_recv_close(&r);
		return vm_err_errno(err, -errno, "%s", st.tmp);
	}
	snprintf(sdir, sizeof(sdir), "%s/snapshots", st.tmp);
	snprintf(st.snap, sizeof(st.snap), "%s/snapshots/%.63s.snap", st.tmp,
	    st.vr.tag);
	data = malloc(CHUNK);
	if (data == NULL)
		ret = vm_err_set(err, -ENOMEM, "out of memory");
	else if (mkdir(sdir, 0755) < 0)
		ret = vm_err_errno(err, -errno, "%s", sdir);
	else
		st.have_snapdir = true;
	if (ret == 0 && st.vr.base[0])
		ret = base_copy(&st, data, err);
	while (ret == 0 && (ret = snap_recv_next(&r, err)) > 0)
		ret = recv_record(&st, &r, data, err);
	if (ret == 0)
		ret = recv_finish(&st, err);
	/* into place: a new folder renamed, or (a delta) the two swapped
	 * at once and the old one removed */
	if (ret == 0 && !st.vr.base[0] && rename(st.tmp, st.final) < 0)
		ret = vm_err_errno(err, -errno, "%s", st.final);
	if (ret == 0 && st.vr.base[0]) {
		if (renameat2(AT_FDCWD, st.tmp, AT_FDCWD, st.final,
		    RENAME_EXCHANGE) < 0)
			ret = vm_err_errno(err, -errno, "%s", st.final);
		else
			rm_bundle(st.tmp);
	}
	if (ret < 0)
		recv_cleanup(&st);
	else if (made != NULL)
		snprintf(made, made_len, "%s", st.final);
	free(st.config);
	st.config = NULL;
	free(st.ram_bits);
	st.ram_bits = NULL;
	free(data);
	snap_recv_close(&r);
	return ret;
}
