/*
 * The cloud-init NoCloud seed: an ISO 9660 image with the volume label
 * "cidata" holding user-data, meta-data and, if given, network-config in
 * its root (cloud-init's NoCloud datasource documentation names these).
 * Written with libarchive's ISO 9660 writer, Rock Ridge and Joliet on,
 * so the names keep their lower case and hyphens.  meta-data, when not
 * given, says instance-id and local-hostname: the VM's name.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#include "create.h"

#define SEED_MAX_FILE (16u << 20)

/* Read a whole regular file of at most SEED_MAX_FILE bytes. */
static int
slurp(const char *path, const char *opt, char **bufp, size_t *lenp,
    struct vm_err *err)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s: %s", opt, path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > (off_t)SEED_MAX_FILE) {
		close(fd);
		return vm_err_set(err, -EINVAL, "%s: %s: not a regular file of "
		    "at most 16 MiB", opt, path);
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		free(buf);
		return vm_err_set(err, -EIO, "%s: %s: short read", opt, path);
	}
	*bufp = buf;
	*lenp = (size_t)n;
	return 0;
}

static int
add_file(struct archive *a, const char *name, const char *data, size_t len,
    const char *iso, struct vm_err *err)
{
	struct archive_entry *e = archive_entry_new();
	int ret = 0;

	if (e == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		ret = vm_err_set(err, -EIO, "%s: %s", iso,
		    archive_error_string(a));
	archive_entry_free(e);
	return ret;
}

static int
add_path(struct archive *a, const char *name, const char *path,
    const char *opt, const char *iso, struct vm_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = slurp(path, opt, &buf, &len, err);
	if (ret < 0)
		return ret;
	ret = add_file(a, name, buf, len, iso, err);
	free(buf);
	return ret;
}

int
seed_write(const struct plan *p, const char *path, struct vm_err *err)
{
	char meta[256];
	struct archive *a;
	int ret;

	a = archive_write_new();
	if (a == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "volume-id", "cidata") !=
	    ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "rockridge", "1") !=
	    ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "joliet", "1") !=
	    ARCHIVE_OK ||
	    archive_write_open_filename(a, path) != ARCHIVE_OK) {
		ret = vm_err_set(err, -EIO, "%s: %s", path,
		    archive_error_string(a));
		archive_write_free(a);
		return ret;
	}
	ret = add_path(a, "user-data", p->user_data, "--cloud-init", path, err);
	if (ret == 0 && p->meta_data[0])
		ret = add_path(a, "meta-data", p->meta_data, "--meta-data",
		    path, err);
	else if (ret == 0) {
		snprintf(meta, sizeof(meta), "instance-id: %s\n"
		    "local-hostname: %s\n", p->cfg.name, p->cfg.name);
		ret = add_file(a, "meta-data", meta, strlen(meta), path, err);
	}
	if (ret == 0 && p->network_config[0])
		ret = add_path(a, "network-config", p->network_config,
		    "--network-config", path, err);
	if (archive_write_close(a) != ARCHIVE_OK && ret == 0)
		ret = vm_err_set(err, -EIO, "%s: %s", path,
		    archive_error_string(a));
	archive_write_free(a);
	return ret;
}
