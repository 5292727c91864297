/*
 * External overlays (vm/overlay.c): the snapshot of a disk whose format
 * has no internal snapshots (raw, vmdk, vdi, vpc).  The disk's file stays
 * as it is, the read-only base of a new qcow2 image beside it that names
 * it as its backing file (by its file name, relative to the overlay's
 * folder, with its format, as qemu-img create -b -F records it); the
 * bundle's vm.yaml then points the disk at the overlay.  No disk data is
 * copied.  Going back to the snapshot is one more overlay on the same
 * base, so that the snapshot can be gone back to again.
 */
#include "vm/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "snap/snap.h"
#include "util/err.h"

bool
vm_disk_external(const struct blk *b)
{
	return b->drv->snapshot_create == NULL;
}

/* The last component of p (p itself when it has no '/'). */
static const char *
last_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s != NULL ? s + 1 : p;
}

int
vm_overlay_create(struct blk *base, const char *tag, char *out, size_t len,
    struct vm_err *err)
{
	struct blk_create_opts o = { 0 };
	char dir[PATH_MAX], tmp[PATH_MAX], stem[NAME_MAX + 1], *dot;
	const char *name = last_name(base->path);
	int fd = -1, n, ret;

	if (strlen(base->path) >= sizeof(dir))
		return vm_err_set(err, -ENAMETOOLONG, "%s: path too long",
		    base->path);
	snprintf(tmp, sizeof(tmp), "%s", base->path);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	snprintf(stem, sizeof(stem), "%s", name);
	dot = strrchr(stem, '.');
	if (dot != NULL && dot != stem)
		*dot = '\0';
	/* STEM.TAG.qcow2 beside the base, or STEM.TAG-N.qcow2 when that
	 * name is taken (a revert makes another on the same base) */
	for (n = 1; n < 1000; n++) {
		if ((n == 1 ? (size_t)snprintf(out, len, "%s/%s.%s.qcow2", dir,
		    stem, tag) : (size_t)snprintf(out, len, "%s/%s.%s-%d.qcow2",
		    dir, stem, tag, n)) >= len)
			return vm_err_set(err, -ENAMETOOLONG, "%s: path too long "
			    "for an overlay", base->path);
		fd = open(out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0 && errno == ENAMETOOLONG)
		return vm_err_set(err, -ENAMETOOLONG, "%.40s...: the name of "
		    "its overlay (its own with .%s.qcow2) would be too long: "
		    "give the disk a shorter file name", name, tag);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s: cannot make the overlay "
		    "for the snapshot", out);
	o.size = base->size;
	o.backing = name;
	o.backing_fmt = base->drv->name;
	ret = blk_create_fd(fd, out, "qcow2", &o, err);
	if (ret == 0 && fsync(fd) < 0)
		ret = vm_err_errno(err, -errno, "%s", out);
	close(fd);
	if (ret < 0)
		unlink(out);
	return ret;
}

/* file as vm.yaml in folder ydir names it: relative to ydir when it is
 * in it, else absolute. */
static int
yaml_path(const char *ydir, const char *file, char *out, size_t len,
    struct vm_err *err)
{
	char d[PATH_MAX], rd[PATH_MAX], ry[PATH_MAX];
	size_t yl, n;

	snprintf(d, sizeof(d), "%s", file);
	if (realpath(dirname(d), rd) == NULL || realpath(ydir, ry) == NULL)
		return vm_err_errno(err, -errno, "%s", file);
	yl = strlen(ry);
	if (strcmp(rd, ry) == 0)
		n = (size_t)snprintf(out, len, "%s", last_name(file));
	else if (strncmp(rd, ry, yl) == 0 && rd[yl] == '/')
		n = (size_t)snprintf(out, len, "%s/%s", rd + yl + 1,
		    last_name(file));
	else
		n = (size_t)snprintf(out, len, "%s/%s", rd, last_name(file));
	if (n >= len)
		return vm_err_set(err, -ENAMETOOLONG, "%s: path too long",
		    file);
	return 0;
}

bool
vm_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a != NULL && b != NULL && stat(a, &sa) == 0 &&
	    stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino;
}

int
vm_yaml_set_disks(const char *yaml, const char *const *old,
    const char *const *files, const char *const *fmts, int n, char *tmp,
    size_t tmplen, struct vm_err *err)
{
	static struct vm_config c, check;
	char ydir[PATH_MAX], yp[PATH_MAX], *buf = NULL, *out = NULL, *line;
	size_t blen = 0, olen = 0;
	FILE *f;
	int i, j, fd = -1, ret = 0;

	tmp[0] = '\0';
	f = fopen(yaml, "re");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", yaml);
	{
		FILE *m = open_memstream(&buf, &blen);
		char chunk[4096];
		size_t k;

		if (m == NULL) {
			fclose(f);
			return vm_err_errno(err, -errno, "memstream");
		}
		while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, k, m);
		ret = ferror(f) ? vm_err_errno(err, -EIO, "%s", yaml) : 0;
		fclose(m);
		fclose(f);
		if (ret < 0) {
			free(buf);
			return ret;
		}
	}
	snprintf(yp, sizeof(yp), "%s", yaml);
	snprintf(ydir, sizeof(ydir), "%s", dirname(yp));
	/* parsed with no folder: the paths as the file writes them */
	cfg_defaults(&c);
	ret = cfg_parse(&c, buf, blen, yaml, NULL, err);
	free(buf);
	(void)j;
	/* each disk old[j] names, by the file it is */
	for (j = 0; ret == 0 && j < n; j++) {
		if (files[j] == NULL)
			continue;
		for (i = 0; i < c.ndisks; i++) {
			char rp[2 * PATH_MAX];

			if (c.disks[i].file[0] == '/')
				snprintf(rp, sizeof(rp), "%s", c.disks[i].file);
			else
				snprintf(rp, sizeof(rp), "%s/%s", ydir,
				    c.disks[i].file);
			if (!c.disks[i].readonly && vm_same_file(rp, old[j]))
				break;
		}
		if (i == c.ndisks) {
			ret = vm_err_set(err, -ENOENT, "%s: no writable disk "
			    "%s in it: vm.yaml has changed since the VM read "
			    "it", yaml, old[j] != NULL ? old[j] : "(none)");
			break;
		}
		ret = yaml_path(ydir, files[j], c.disks[i].file,
		    sizeof(c.disks[i].file), err);
		snprintf(c.disks[i].format, sizeof(c.disks[i].format), "%s",
		    fmts[j]);
	}
	if (ret < 0)
		return ret;
	f = open_memstream(&out, &olen);
	if (f == NULL)
		return vm_err_errno(err, -errno, "memstream");
	ret = cfg_emit(&c, f, yaml, err);
	fclose(f);
	/* a name the file did not give stays the folder's */
	if (ret == 0 && !c.name_given &&
	    (line = strstr(out, "\nname: ")) != NULL) {
		char *eol = strchr(line + 1, '\n');

		if (eol != NULL)
			memmove(line, eol, strlen(eol) + 1);
	}
	if (ret == 0 && (size_t)snprintf(tmp, tmplen, "%s.vm-snap-new",
	    yaml) >= tmplen)
		ret = vm_err_set(err, -ENAMETOOLONG, "%s: path too long", yaml);
	if (ret == 0) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, out, strlen(out)) !=
		    (ssize_t)strlen(out) || fsync(fd) < 0)
			ret = vm_err_errno(err, -errno, "%s", tmp);
		if (fd >= 0)
			close(fd);
	}
	free(out);
	/* read back as vm-run would */
	if (ret == 0) {
		cfg_defaults(&check);
		ret = cfg_load(&check, tmp, err);
	}
	if (ret < 0 && tmp[0] != '\0') {
		unlink(tmp);
		tmp[0] = '\0';
	}
	return ret;
}

/* ---- the base's record ---------------------------------------------------- */

#define BASE_EDGE 65536u        /* bytes of the head and of the tail */

int
vm_base_measure(const char *path, struct vm_base_rec *r, struct vm_err *err)
{
	static uint8_t buf[BASE_EDGE];
	struct stat st;
	uint64_t n, at;
	ssize_t k;
	int fd;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s: the base of the "
		    "snapshot's overlay", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return vm_err_errno(err, -errno, "%s", path);
	}
	r->size = (uint64_t)st.st_size;
	/* the head (every format's header), then the tail (a VHD's
	 * footer, a raw disk's backup GPT) */
	for (at = 0; ; at = r->size - BASE_EDGE) {
		n = r->size - at < BASE_EDGE ? r->size - at : BASE_EDGE;
		k = pread(fd, buf, (size_t)n, (off_t)at);
		if (k != (ssize_t)n) {
			close(fd);
			return vm_err_errno(err, k < 0 ? -errno : -EIO, "%s: "
			    "cannot read it", path);
		}
		r->crc = snap_crc32(r->crc, buf, (size_t)n);
		if (r->size <= BASE_EDGE || at != 0)
			break;
	}
	close(fd);
	return 0;
}

int
vm_base_rec_visit(struct snap_vis *v, struct vm_base_rec *r)
{
	snap_u64(v, "size", &r->size);
	snap_u32(v, "crc", &r->crc);
	return v->failed;
}

int
vm_base_check(const char *path, const struct vm_base_rec *want,
    struct vm_err *err)
{
	struct vm_base_rec now;
	int ret = vm_base_measure(path, &now, err);

	if (ret < 0)
		return ret;
	if (now.size != want->size)
		return vm_err_set(err, -ESTALE, "%s: the base of the "
		    "snapshot's overlay has changed since the save (%llu "
		    "bytes, %llu then): its point in time is lost", path,
		    (unsigned long long)now.size,
		    (unsigned long long)want->size);
	if (now.crc != want->crc)
		return vm_err_set(err, -ESTALE, "%s: the base of the "
		    "snapshot's overlay has changed since the save (its "
		    "first or last 64 KiB differ): its point in time is lost",
		    path);
	return 0;
}

/* ---- overlays no one needs ------------------------------------------------ */

/* Whether a snapshot file in folder dir names file as a disk. */
static bool
named_by_snapshot(const char *dir, const char *file)
{
	static struct vm_config c;
	struct vm_err e = { 0 };
	struct snap_reader rd;
	char p[2 * PATH_MAX];
	int ret;
	struct dirent *de;
	DIR *d = opendir(dir);
	bool found = false;
	size_t l;
	int i;

	if (d == NULL)
		return errno != ENOENT;         /* unsure: kept */
	while (!found && (de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".snap") != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		/* its RAM not read (this may run in a VM's pause) */
		if (snap_reader_open_small(&rd, p, &e) < 0) {
			found = true;           /* unreadable: kept */
			break;
		}
		ret = vm_snapshot_read_config(&rd, &c, &e);
		snap_reader_close(&rd);
		if (ret < 0) {
			found = true;
			break;
		}
		for (i = 0; i < c.ndisks; i++)
			if (vm_same_file(c.disks[i].file, file))
				found = true;
	}
	closedir(d);
	return found;
}

int
vm_overlay_drop(const char *old, const char *base, const char *snapdir)
{
	struct vm_err e = { 0 };
	char bdir[PATH_MAX], odir[PATH_MAX], t[PATH_MAX], stem[NAME_MAX + 1];
	const struct blk_snapshot *list;
	const char *name, *bp;
	struct blk *b;
	char *dot;
	bool drop = false;

	if (old == NULL || strlen(old) >= sizeof(t))
		return 0;
	/* held to write (a running VM has it open: refused), its chain
	 * read-only (the base is another's too) */
	b = blk_open(old, "qcow2", BLK_F_BACKING_NOLOCK, &e);
	if (b == NULL)
		return 0;
	if (b->backing == NULL || (base != NULL &&
	    !vm_same_file(b->backing->path, base)))
		goto out;
	/* one vmkit made: STEM.*.qcow2 in its base's folder */
	bp = b->backing->path;
	name = last_name(old);
	snprintf(stem, sizeof(stem), "%.*s", NAME_MAX, last_name(bp));
	dot = strrchr(stem, '.');
	if (dot != NULL && dot != stem)
		*dot = '\0';
	snprintf(t, sizeof(t), "%s", bp);
	if (realpath(dirname(t), bdir) == NULL)
		goto out;
	snprintf(t, sizeof(t), "%s", old);
	if (realpath(dirname(t), odir) == NULL || strcmp(odir, bdir) != 0 ||
	    strncmp(name, stem, strlen(stem)) != 0 ||
	    name[strlen(stem)] != '.' || strlen(name) < 7 ||
	    strcmp(name + strlen(name) - 6, ".qcow2") != 0)
		goto out;
	drop = blk_snapshots(b, &list) == 0 &&
	    !named_by_snapshot(snapdir, old) && unlink(old) == 0;
out:
	blk_close(b);
	return drop ? 1 : 0;
}
