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
