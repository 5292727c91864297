/*
 * The runtime directory (see rundir.h).  Unix socket paths are short
 * (108 bytes), so the directory is refused beyond 100.
 */
#include "util/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

int
rundir_mkdir_p(const char *dir, struct vm_err *err)
{
	char tmp[256];
	size_t i;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return vm_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return vm_err_errno(err, -errno, "%s", tmp);
		tmp[i] = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return vm_err_errno(err, -errno, "%s", tmp);
	return 0;
}

int
rundir_path(const char *sub, char *buf, size_t len, int mk,
    struct vm_err *err)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int n;

	if (rt && rt[0] == '/')
		n = snprintf(buf, len, "%s/vmkit/%s", rt, sub);
	else
		n = snprintf(buf, len, "/tmp/vmkit-%u/%s", (unsigned)getuid(),
		    sub);
	if (n < 0 || (size_t)n >= len || (size_t)n > 100)
		return vm_err_set(err, -ENAMETOOLONG, "%s: the runtime "
		    "directory's path is too long for a socket", buf);
	return mk ? rundir_mkdir_p(buf, err) : 0;
}

int
rundir_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= RUNDIR_NAME_MAX && name[0] != '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}
