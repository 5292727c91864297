/*
 * OVF 1.x/2.0 import: an .ovf descriptor with its files beside it, or an
 * .ova, the same files in one tar with the descriptor first (DMTF DSP0243
 * section 5).  The tar is read with libarchive; every entry must be a
 * regular file with a plain relative name (no absolute path, no "..", no
 * links or devices), or the whole archive is refused.  The manifest
 * (NAME.mf: "SHA256(file)= hex" or SHA1 lines) is checked for the
 * descriptor and every disk; a mismatch is an error.  The descriptor
 * itself is read by ovf.c.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/io.h"
#include "util/log.h"

#include "create.h"

#define OVF_MAX_XML (4u << 20)
#define OVF_MAX_MF (1u << 20)

/* ---- digests ------------------------------------------------------------ */

void
dg_init(struct digest *d, int alg)
{
	d->alg = alg;
	if (alg == 1)
		sha1_init(&d->s1);
	else if (alg == 256)
		sha256_init(&d->s256);
}

void
dg_update(struct digest *d, const void *p, size_t n)
{
	if (d->alg == 1)
		sha1_update(&d->s1, n, p);
	else if (d->alg == 256)
		sha256_update(&d->s256, n, p);
}

void
dg_final(struct digest *d, uint8_t *out)
{
	if (d->alg == 1)
		sha1_digest(&d->s1, 20, out);
	else if (d->alg == 256)
		sha256_digest(&d->s256, 32, out);
}

void
dg_hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

/* Finish d and compare with f's digest; the error names pkg and f. */
static int
dg_check(struct digest *d, const struct ova_file *f, const char *pkg,
    struct vm_err *err)
{
	char want[65], got[65];
	uint8_t out[32];
	size_t n = d->alg == 1 ? 20 : 32;

	if (d->alg == 0)
		return 0;
	dg_final(d, out);
	if (memcmp(out, f->digest, n) == 0)
		return 0;
	dg_hex(f->digest, n, want);
	dg_hex(out, n, got);
	return vm_err_set(err, -EINVAL, "%s: %s: %s digest mismatch (the "
	    "manifest says %.16s..., the file has %.16s...)", pkg, f->name,
	    d->alg == 1 ? "SHA1" : "SHA256", want, got);
}

static struct ova_file *
find_file(struct ova *o, const char *name)
{
	int i;

	for (i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i].name, name) == 0)
			return &o->files[i];
	return NULL;
}

/* "SHA256(disk.vmdk)= 0123..." lines into the digests of o's files
 * (which must already be listed); a line for no such file is an error
 * when strict (an OVA, whose members are all listed), skipped if not. */
static int
parse_manifest(struct ova *o, char *buf, const char *mf, bool strict,
    struct vm_err *err)
{
	char *line, *save = NULL, *close, *p;
	struct ova_file *f;
	int ln = 0, alg;
	size_t i, n;

	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		ln++;
		line[strcspn(line, "\r")] = '\0';
		if (*line == '\0')
			continue;
		if (strncmp(line, "SHA1(", 5) == 0)
			alg = 1, p = line + 5;
		else if (strncmp(line, "SHA256(", 7) == 0)
			alg = 256, p = line + 7;
		else
			return vm_err_set(err, -EINVAL, "%s:%d: not a SHA1 or "
			    "SHA256 line", mf, ln);
		close = strstr(p, ")=");
		if (close == NULL)
			return vm_err_set(err, -EINVAL, "%s:%d: expected "
			    "ALG(file)= digest", mf, ln);
		*close = '\0';
		f = find_file(o, p);
		if (f == NULL && !strict)
			continue;
		if (f == NULL)
			return vm_err_set(err, -EINVAL, "%s:%d: '%.60s' is not "
			    "in the package", mf, ln, p);
		for (p = close + 2; *p == ' '; p++)
			;
		n = alg == 1 ? 20 : 32;
		if (strlen(p) != 2 * n || strspn(p, "0123456789abcdefABCDEF") !=
		    2 * n)
			return vm_err_set(err, -EINVAL, "%s:%d: not a %s digest",
			    mf, ln, alg == 1 ? "SHA1" : "SHA256");
		for (i = 0; i < n; i++) {
			unsigned v;

			sscanf(p + 2 * i, "%2x", &v);
			f->digest[i] = (uint8_t)v;
		}
		f->alg = alg;
	}
	return 0;
}

/* ---- .ovf with its files beside it -------------------------------------- */

static int
read_file(const char *path, size_t max, char **bufp, size_t *lenp,
    struct vm_err *err)
{
	struct stat sb;
	char *buf;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return vm_err_set(err, -EINVAL, "%s: not a regular file", path);
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		return vm_err_set(err, -EINVAL, "%s: too large", path);
	}
	buf[n] = '\0';
	*bufp = buf;
	*lenp = n;
	return 0;
}

/* A name inside a package: relative, no "..", no empty component. */
static bool
name_ok(const char *n)
{
	const char *p = n;

	if (*n == '\0' || *n == '/' || strlen(n) >= 256)
		return false;
	while (*p) {
		size_t l = strcspn(p, "/");

		if (l == 0 || (l == 2 && strncmp(p, "..", 2) == 0))
			return false;
		p += l;
		if (*p == '/')
			p++;
	}
	return true;
}

static int
hash_path(const char *path, struct ova_file *f, const char *pkg,
    struct vm_err *err)
{
	struct digest d;
	char buf[65536];
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	dg_init(&d, f->alg);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dg_update(&d, buf, (size_t)n);
	ret = n < 0 ? vm_err_errno(err, -errno, "%s", path) : 0;
	close(fd);
	return ret ? ret : dg_check(&d, f, pkg, err);
}

static int
import_ovf(const char *path, struct vmx_vm *vm, struct vm_err *err)
{
	static struct ova files;
	char dir[PATH_MAX], mf[PATH_MAX + 8], full[PATH_MAX * 2], *buf, *mbuf;
	char tmp[PATH_MAX];
	size_t len, mlen;
	struct digest d;
	int i, ret;

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	ret = read_file(path, OVF_MAX_XML, &buf, &len, err);
	if (ret < 0)
		return ret;
	ret = ovf_parse(path, buf, len, vm, err);
	for (i = 0; ret == 0 && i < vm->ndisks; i++) {
		if (!name_ok(vm->disks[i].file)) {
			ret = vm_err_set(err, -EINVAL, "%s: '%.60s' is not a "
			    "relative file name", path, vm->disks[i].file);
			break;
		}
		snprintf(full, sizeof(full), "%s/%s", dir, vm->disks[i].file);
		if (realpath(full, vm->disks[i].file) == NULL)
			ret = vm_err_errno(err, -errno, "%s: %s", path, full);
	}
	/* The manifest beside it, NAME.mf, if there is one. */
	snprintf(mf, sizeof(mf), "%.*s.mf", (int)(strlen(path) -
	    (strlen(path) > 4 ? 4 : 0)), path);
	if (ret == 0 && access(mf, F_OK) == 0) {
		memset(&files, 0, sizeof(files));
		snprintf(tmp, sizeof(tmp), "%s", path);
		snprintf(files.files[0].name, sizeof(files.files[0].name), "%s",
		    basename(tmp));
		files.nfiles = 1;
		for (i = 0; i < vm->ndisks && files.nfiles < OVA_MAX_FILES; i++)
			snprintf(files.files[files.nfiles++].name, 256, "%s",
			    basename(strcpy(tmp, vm->disks[i].file)));
		ret = read_file(mf, OVF_MAX_MF, &mbuf, &mlen, err);
		if (ret == 0) {
			ret = parse_manifest(&files, mbuf, mf, false, err);
			free(mbuf);
		}
		if (ret == 0) {
			dg_init(&d, files.files[0].alg);
			dg_update(&d, buf, len);
			ret = dg_check(&d, &files.files[0], mf, err);
		}
		for (i = 0; ret == 0 && i < vm->ndisks; i++)
			ret = hash_path(vm->disks[i].file, &files.files[i + 1],
			    mf, err);
	}
	free(buf);
	return ret;
}

/* ---- .ova ---------------------------------------------------------------- */

static struct archive *
open_tar(const char *path, struct vm_err *err)
{
	struct archive *a = archive_read_new();

	if (a == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		vm_err_set(err, -EINVAL, "%s: %s", path,
		    archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int
check_entry(struct archive_entry *e, const char *pkg, struct vm_err *err)
{
	const char *n = archive_entry_pathname(e);

	if (n == NULL || !name_ok(n))
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is an "
		    "absolute name or leaves the package (..): refused", pkg,
		    n ? n : "");
	if (archive_entry_hardlink(e) || archive_entry_symlink(e) ||
	    archive_entry_filetype(e) != AE_IFREG)
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is not a "
		    "regular file (a link, directory or device): refused", pkg,
		    n);
	if (strchr(n, '/') != NULL)
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is in a "
		    "folder: OVA members are plain names", pkg, n);
	return 0;
}

/* Read up to max bytes of the current entry into a new buffer. */
static int
read_entry(struct archive *a, struct archive_entry *e, size_t max,
    const char *pkg, char **bufp, size_t *lenp, struct vm_err *err)
{
	la_int64_t size = archive_entry_size(e);
	la_ssize_t n;
	char *buf;

	if (size < 0 || (uint64_t)size > max)
		return vm_err_set(err, -EINVAL, "%s: %s: too large", pkg,
		    archive_entry_pathname(e));
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	n = archive_read_data(a, buf, (size_t)size);
	if (n != size) {
		free(buf);
		return vm_err_set(err, -EIO, "%s: %s: %s", pkg,
		    archive_entry_pathname(e), n < 0 ?
		    archive_error_string(a) : "truncated");
	}
	buf[size] = '\0';
	*bufp = buf;
	*lenp = (size_t)size;
	return 0;
}

/* Pass one: every entry checked and listed, the descriptor (first) and
 * the manifest read. */
static int
scan_ova(const char *path, struct ova *o, char **ovf, size_t *ovf_len,
    char **mf, size_t *mf_len, struct vm_err *err)
{
	struct archive_entry *e;
	struct archive *a;
	const char *n;
	int r, ret = 0;

	a = open_tar(path, err);
	if (a == NULL)
		return err->code;
	while (ret == 0 && (r = archive_read_next_header(a, &e)) ==
	    ARCHIVE_OK) {
		ret = check_entry(e, path, err);
		if (ret < 0)
			break;
		n = archive_entry_pathname(e);
		if (find_file(o, n) != NULL)
			ret = vm_err_set(err, -EINVAL, "%s: '%s' is in it "
			    "twice", path, n);
		else if (o->nfiles == OVA_MAX_FILES)
			ret = vm_err_set(err, -EINVAL, "%s: more than %d "
			    "files", path, OVA_MAX_FILES);
		if (ret < 0)
			break;
		snprintf(o->files[o->nfiles++].name, 256, "%s", n);
		if (o->nfiles == 1) {
			if (strlen(n) < 5 || strcasecmp(n + strlen(n) - 4,
			    ".ovf") != 0)
				ret = vm_err_set(err, -EINVAL, "%s: the first "
				    "entry, '%.60s', is not the .ovf "
				    "descriptor", path, n);
			else
				ret = read_entry(a, e, OVF_MAX_XML, path, ovf,
				    ovf_len, err);
		} else if (*mf == NULL && strlen(n) > 3 &&
		    strcasecmp(n + strlen(n) - 3, ".mf") == 0) {
			ret = read_entry(a, e, OVF_MAX_MF, path, mf, mf_len,
			    err);
		}
	}
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = vm_err_set(err, -EINVAL, "%s: %s", path,
		    archive_error_string(a));
	if (ret == 0 && o->nfiles == 0)
		ret = vm_err_set(err, -EINVAL, "%s: an empty archive", path);
	archive_read_free(a);
	return ret;
}

static int
import_ova(const char *path, struct vmx_vm *vm, struct ova *o,
    struct vm_err *err)
{
	char *ovf = NULL, *mf = NULL, name[300];
	size_t ovf_len = 0, mf_len = 0;
	struct ova_file *f;
	struct digest d;
	int i, ret;

	memset(o, 0, sizeof(*o));
	snprintf(o->path, sizeof(o->path), "%s", path);
	ret = scan_ova(path, o, &ovf, &ovf_len, &mf, &mf_len, err);
	for (i = 1; ret == 0 && mf && i < o->nfiles; i++) {
		size_t l = strlen(o->files[i].name);

		if (l > 3 && strcasecmp(o->files[i].name + l - 3, ".mf") == 0) {
			snprintf(name, sizeof(name), "%s:%s", path,
			    o->files[i].name);
			ret = parse_manifest(o, mf, name, true, err);
			break;
		}
	}
	if (ret == 0) {
		dg_init(&d, o->files[0].alg);
		dg_update(&d, ovf, ovf_len);
		ret = dg_check(&d, &o->files[0], path, err);
	}
	if (ret == 0) {
		snprintf(name, sizeof(name), "%s:%s", path, o->files[0].name);
		ret = ovf_parse(name, ovf, ovf_len, vm, err);
	}
	for (i = 0; ret == 0 && i < vm->ndisks; i++) {
		f = find_file(o, vm->disks[i].file);
		if (f == NULL) {
			ret = vm_err_set(err, -ENOENT, "%s: disk '%.60s' is "
			    "not in the package", path, vm->disks[i].file);
			break;
		}
		if (mf && f->alg == 0)
			log_warnx("%s: %s: not in the manifest, not checked",
			    path, f->name);
		f->extract = true;
		vm->disks[i].in_bundle = true;
	}
	free(ovf);
	free(mf);
	return ret;
}

int
ovf_import(const char *path, struct vmx_vm *vm, struct ova *ova,
    struct vm_err *err)
{
	size_t n = strlen(path);

	if (n > 4 && strcasecmp(path + n - 4, ".ova") == 0)
		return import_ova(path, vm, ova, err);
	return import_ovf(path, vm, err);
}

static int
extract_one(struct archive *a, const struct ova_file *f, const char *dir,
    const char *pkg, struct vm_err *err)
{
	char path[CFG_PATH_MAX + 300], buf[65536];
	struct digest d;
	la_ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	dg_init(&d, f->alg);
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if ((ret = bundle_check_interrupt(err)) < 0)
			break;
		dg_update(&d, buf, (size_t)n);
		if ((ret = io_write_full(fd, buf, (size_t)n)) < 0) {
			ret = vm_err_errno(err, ret, "%s", path);
			break;
		}
	}
	if (ret == 0 && n < 0 && (ret = bundle_check_interrupt(err)) == 0)
		ret = vm_err_set(err, -EIO, "%s: %s: %s", pkg, f->name,
		    archive_error_string(a));
	if (ret == 0 && fsync(fd) < 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	close(fd);
	return ret ? ret : dg_check(&d, f, pkg, err);
}

int
ova_extract(const struct ova *o, const char *dir, struct vm_err *err)
{
	struct archive_entry *e;
	const struct ova_file *f;
	struct archive *a;
	int r, ret = 0;

	a = open_tar(o->path, err);
	if (a == NULL)
		return err->code;
	while (ret == 0 && (r = archive_read_next_header(a, &e)) ==
	    ARCHIVE_OK) {
		/* The archive may have changed since it was scanned. */
		ret = check_entry(e, o->path, err);
		if (ret < 0)
			break;
		f = find_file((struct ova *)o, archive_entry_pathname(e));
		if (f && f->extract)
			ret = extract_one(a, f, dir, o->path, err);
	}
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = vm_err_set(err, -EINVAL, "%s: %s", o->path,
		    archive_error_string(a));
	archive_read_free(a);
	return ret;
}
