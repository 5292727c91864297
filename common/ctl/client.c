/*
 * The control socket's client side (ctl.h) and where a VM's runtime files
 * live: one request line out, one reply line back.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/err.h"
#include "util/evloop.h"

int
ctl_vm_path(const char *name, const char *file, char *buf, size_t len,
    int mk, struct vm_err *err)
{
	char dir[160];
	int ret;

	if (!rundir_name_ok(name))
		return vm_err_set(err, -EINVAL, "'%s' is not a VM name "
		    "(letters, digits, '.', '_', '-'; at most %d)", name,
		    RUNDIR_NAME_MAX);
	ret = rundir_path("vm", dir, sizeof(dir), mk, err);
	if (ret < 0)
		return ret;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return vm_err_set(err, -ENAMETOOLONG, "%s/%s: path too long",
		    dir, name);
	if (mk && (ret = rundir_mkdir_p(buf, err)) < 0)
		return ret;
	if (file != NULL && (size_t)snprintf(buf, len, "%s/%s/%s", dir, name,
	    file) >= len)
		return vm_err_set(err, -ENAMETOOLONG, "%s/%s/%s: path too "
		    "long", dir, name, file);
	return 0;
}

int
ctl_client_connect(const char *target, struct vm_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[sizeof(sa.sun_path) + 64];
	int fd, ret;

	if (strchr(target, '/') != NULL) {
		snprintf(path, sizeof(path), "%s", target);
	} else {
		ret = ctl_vm_path(target, "ctl", path, sizeof(path), 0, err);
		if (ret < 0)
			return ret;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return vm_err_set(err, -ENAMETOOLONG, "%s: too long for a "
		    "socket's path", path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vm_err_errno(err, -errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			return vm_err_set(err, ret, "%s: no VM is running "
			    "there (%s)", strchr(target, '/') ? path : target,
			    ret == -ENOENT ? "no control socket" :
			    "its control socket is stale");
		return vm_err_errno(err, ret, "%s", path);
	}
	return fd;
}

int
ctl_client_call(int fd, const char *request, char *buf, size_t len,
    int timeout_ms, struct vm_err *err)
{
	size_t n = strlen(request), off = 0, got = 0;
	uint64_t until = clock_host_ns() + (uint64_t)timeout_ms * 1000000ULL;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t w;
	char *nl;

	if (len == 0)
		return vm_err_set(err, -EINVAL, "no room for a reply");
	while (off <= n) {
		/* The request, then its newline. */
		w = off < n ? write(fd, request + off, n - off) :
		    write(fd, "\n", 1);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return vm_err_errno(err, -errno, "control socket");
		}
		off += (size_t)w;
		if (off == n + 1)
			break;
	}
	for (;;) {
		int tmo = -1;

		if (timeout_ms >= 0) {
			uint64_t now = clock_host_ns();

			if (now >= until)
				return vm_err_set(err, -ETIMEDOUT, "no reply "
				    "from the control socket");
			tmo = (int)((until - now) / 1000000ULL) + 1;
		}
		if (poll(&p, 1, tmo) < 0) {
			if (errno == EINTR)
				continue;
			return vm_err_errno(err, -errno, "poll");
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		w = read(fd, buf + got, len - 1 - got);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return vm_err_errno(err, -errno, "control socket");
		}
		if (w == 0)
			return vm_err_set(err, -ECONNRESET, "the VM closed "
			    "its control socket without a reply");
		got += (size_t)w;
		buf[got] = '\0';
		nl = memchr(buf, '\n', got);
		if (nl != NULL) {
			*nl = '\0';
			return 0;
		}
		if (got == len - 1)
			return vm_err_set(err, -E2BIG, "reply too long");
	}
}
