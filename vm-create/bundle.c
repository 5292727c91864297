/*
 * The bundle builder: a directory NAME holding vm.yaml and the images
 * the plan asks for.  Everything is made in a temporary directory
 * ".NAME.XXXXXX" beside NAME, vm.yaml last, read back with cfg_load and
 * checked with cfg_validate; only then is the directory renamed to NAME
 * (with --force, exchanged with the old bundle by renameat2
 * RENAME_EXCHANGE, and the old one removed).  Any failure removes the
 * temporary directory, so NAME is either the old bundle, untouched, or
 * the complete new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "util/err.h"
#include "util/log.h"

#include "create.h"

#define COPY_CHUNK (1u << 20)

volatile sig_atomic_t bundle_interrupted;

int
bundle_check_interrupt(struct vm_err *err)
{
	if (!bundle_interrupted)
		return 0;
	return vm_err_set(err, -EINTR, "interrupted: nothing was made");
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

int
bundle_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Store buf (guest [off, off+n)) in dst: plainly, or (compressed) one
 * cluster of cs bytes at a time, zero clusters left out; *stored counts
 * the guest bytes written. */
static int
store(struct blk *dst, uint8_t *buf, uint64_t n, uint64_t off, uint32_t cs,
    uint64_t *stored)
{
	uint64_t i, k;
	int ret;

	if (cs == 0) {
		if (all_zero(buf, (size_t)n))
			return 0;
		*stored += n;
		return blk_pwrite(dst, buf, (size_t)n, off);
	}
	if (n % cs)     /* the image's last, partial cluster */
		memset(buf + n, 0, (size_t)(cs - n % cs));
	for (i = 0; i < n; i += cs) {
		k = n - i < cs ? n - i : cs;
		if (all_zero(buf + i, (size_t)k))
			continue;
		if ((ret = blk_write_compressed(dst, buf + i, off + i)) < 0)
			return ret;
		*stored += k;
	}
	return 0;
}

int
bundle_copy_image(struct blk *src, struct blk *dst, bool compressed,
    uint64_t *stored, struct vm_err *err)
{
	uint64_t off = 0, n, host, done = 0;
	uint32_t cs = compressed ? blk_cluster_size(dst) : 0;
	uint8_t *buf;
	int depth, st, ret = 0;

	if (compressed && (cs == 0 || COPY_CHUNK % cs))
		return vm_err_set(err, -ENOTSUP, "%s: cannot store compressed "
		    "clusters", dst->path);
	buf = malloc(COPY_CHUNK);
	if (buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	while (off < src->size) {
		if ((ret = bundle_check_interrupt(err)) < 0)
			break;
		n = src->size - off < COPY_CHUNK ? src->size - off : COPY_CHUNK;
		st = blk_block_status(src, off, n, &n, &host, &depth);
		if (st < 0) {
			ret = src->ioerr.msg[0] ? vm_err_set(err, st, "%s",
			    src->ioerr.msg) : vm_err_errno(err, st, "%s",
			    src->path);
			break;
		}
		if (n == 0 || n > COPY_CHUNK) {
			ret = vm_err_set(err, -EIO, "%s: bad block status",
			    src->path);
			break;
		}
		/* Compressed clusters are stored whole and in order: a zero
		 * extent is skipped only in whole clusters (off stays
		 * aligned), anything else read to the chunk's end. */
		if (cs && (!(st & BLK_S_DATA) || (st & BLK_S_ZERO)) && n >= cs)
			n &= ~(uint64_t)(cs - 1);
		else if (cs)
			n = src->size - off < COPY_CHUNK ? src->size - off :
			    COPY_CHUNK, st = BLK_S_DATA;
		if ((st & BLK_S_DATA) && !(st & BLK_S_ZERO)) {
			ret = blk_pread(src, buf, (size_t)n, off);
			if (ret < 0) {
				ret = vm_err_set(err, ret, "%s", src->ioerr.msg);
				break;
			}
			if ((ret = store(dst, buf, n, off, cs, &done)) < 0) {
				ret = vm_err_set(err, ret, "%s", dst->ioerr.msg);
				break;
			}
		}
		off += n;
	}
	free(buf);
	if (ret == 0 && (ret = blk_flush(dst)) < 0)
		ret = vm_err_errno(err, ret, "%s", dst->path);
	if (stored)
		*stored = done;
	return ret;
}

static int
convert_disk(const struct plan_disk *pd, const struct cfg_disk *d,
    const char *dir, const char *path, struct vm_err *err)
{
	struct blk_create_opts o = { 0 };
	char in[CFG_PATH_MAX * 2];
	struct blk *src, *dst;
	int ret;

	if (pd->src_in_bundle)
		snprintf(in, sizeof(in), "%s/%s", dir, pd->src);
	else
		snprintf(in, sizeof(in), "%s", pd->src);
	src = blk_open(in, pd->src_format[0] ? pd->src_format : NULL,
	    BLK_F_RDONLY, err);
	if (src == NULL)
		return err->code ? err->code : -EIO;
	o.size = src->size;
	ret = blk_create(path, d->format, &o, err);
	if (ret < 0)
		goto out_src;
	dst = blk_open(path, d->format, 0, err);
	if (dst == NULL) {
		ret = err->code ? err->code : -EIO;
		goto out_src;
	}
	ret = bundle_copy_image(src, dst, false, NULL, err);
	blk_close(dst);
out_src:
	blk_close(src);
	if (ret == 0 && pd->src_in_bundle && unlink(in) < 0)
		ret = vm_err_errno(err, -errno, "%s", in);
	return ret;
}

/* Make the images of the plan inside dir. */
static int
make_disks(struct plan *p, const char *dir, struct vm_err *err)
{
	struct blk_create_opts o = { 0 };
	char path[CFG_PATH_MAX + 64];
	int i, ret = 0;

	for (i = 0; ret == 0 && i < p->cfg.ndisks; i++) {
		const struct plan_disk *pd = &p->disks[i];
		const struct cfg_disk *d = &p->cfg.disks[i];

		if ((ret = bundle_check_interrupt(err)) < 0)
			break;
		if (pd->job == JOB_NONE)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->file);
		switch (pd->job) {
		case JOB_NEW:
			o.size = pd->size;
			ret = blk_create(path, d->format, &o, err);
			break;
		case JOB_CONVERT:
			ret = convert_disk(pd, d, dir, path, err);
			break;
		case JOB_SEED:
			ret = seed_write(p, path, err);
			break;
		case JOB_NONE:
			break;
		}
	}
	return ret;
}

/* Write vm.yaml into dir and read it back as vm-run would. */
static int
write_yaml(const struct plan *p, const char *dir, struct vm_err *err)
{
	static struct vm_config check;
	char path[CFG_PATH_MAX + 16];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/vm.yaml", dir);
	f = fopen(path, "wx");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", path);
	ret = cfg_emit(&p->cfg, f, path, err);
	if (ret == 0 && fsync(fileno(f)) < 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	if (fclose(f) != 0 && ret == 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	if (ret < 0)
		return ret;
	cfg_defaults(&check);
	ret = cfg_load(&check, path, err);
	if (ret == 0)
		ret = cfg_validate(&check, err);
	return ret;
}

/* An existing dest may be replaced only if it is a bundle: a directory
 * holding a vm.yaml. */
static int
check_dest(const char *dest, bool force, bool *exists, struct vm_err *err)
{
	char yaml[CFG_PATH_MAX + 16];
	struct stat sb;

	*exists = false;
	if (lstat(dest, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return vm_err_errno(err, -errno, "%s", dest);
	}
	*exists = true;
	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", dest);
	if (!S_ISDIR(sb.st_mode) || lstat(yaml, &sb) < 0 ||
	    !S_ISREG(sb.st_mode))
		return vm_err_set(err, -EEXIST, "%s: exists and is not a VM "
		    "bundle (no vm.yaml): not replaced, even with --force",
		    dest);
	if (!force)
		return vm_err_set(err, -EEXIST, "%s: a bundle of that name "
		    "exists (--force replaces it)", dest);
	return 0;
}

/* Without RENAME_EXCHANGE (a file system that lacks it): the old bundle
 * moved aside to a temporary name, the new one renamed in, the old one
 * removed; put back if the second rename fails. */
static int
replace_slowly(const char *tmp, const char *dest, struct vm_err *err)
{
	char old[CFG_PATH_MAX + 8];

	snprintf(old, sizeof(old), "%s.old", tmp);
	if (rename(dest, old) < 0)
		return vm_err_errno(err, -errno, "%s: cannot replace", dest);
	if (rename(tmp, dest) < 0) {
		int e = errno;

		(void)rename(old, dest);
		return vm_err_errno(err, -e, "%s: cannot replace", dest);
	}
	if (bundle_rmtree(old) < 0)
		log_warn("%s: the old bundle was left here", old);
	return 0;
}

static int
commit(const char *tmp, const char *dest, bool exists, struct vm_err *err)
{
	if (!exists) {
		/* RENAME_NOREPLACE: a bundle made meanwhile is not lost. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return vm_err_errno(err, -errno, "%s", dest);
		if (access(dest, F_OK) == 0)
			return vm_err_set(err, -EEXIST, "%s: made meanwhile by "
			    "someone else", dest);
		if (rename(tmp, dest) < 0)
			return vm_err_errno(err, -errno, "%s", dest);
		return 0;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_EXCHANGE) < 0) {
		if (errno == EINVAL || errno == ENOSYS)
			return replace_slowly(tmp, dest, err);
		return vm_err_errno(err, -errno, "%s: cannot replace", dest);
	}
	/* tmp now holds the old bundle. */
	if (bundle_rmtree(tmp) < 0)
		log_warn("%s: the old bundle was left here", tmp);
	return 0;
}

int
bundle_make(struct plan *p, const char *dest, bool force, struct vm_err *err)
{
	char tmp[CFG_PATH_MAX], d1[CFG_PATH_MAX], d2[CFG_PATH_MAX];
	bool exists;
	mode_t mask;
	int ret;

	ret = check_dest(dest, force, &exists, err);
	if (ret < 0)
		return ret;
	snprintf(d1, sizeof(d1), "%s", dest);
	snprintf(d2, sizeof(d2), "%s", dest);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(d1),
	    basename(d2)) >= sizeof(tmp))
		return vm_err_set(err, -ENAMETOOLONG, "%s: name too long", dest);
	if (mkdtemp(tmp) == NULL)
		return vm_err_errno(err, -errno, "%s: cannot make a temporary "
		    "directory beside it", dest);
	mask = umask(0);
	umask(mask);
	(void)chmod(tmp, 0777 & ~mask);
	ret = p->ova.path[0] ? ova_extract(&p->ova, tmp, err) : 0;
	if (ret == 0)
		ret = make_disks(p, tmp, err);
	if (ret == 0)
		ret = write_yaml(p, tmp, err);
	if (ret == 0)
		ret = bundle_check_interrupt(err);
	if (ret == 0)
		ret = commit(tmp, dest, exists, err);
	if (ret < 0)
		bundle_rmtree(tmp);
	return ret;
}
