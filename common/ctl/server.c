/*
 * The control socket's server (ctl.h): a listening Unix socket and up to
 * CTL_CLIENTS_MAX clients, all watched by the VM's event loop, so every
 * request runs on vm-run's main thread with the I/O lock held, between
 * device callbacks.  Input is cut into lines in a per-client buffer of
 * CTL_LINE_MAX bytes; a longer line is answered with an error and skipped
 * up to its newline.  Replies are queued per client and written as the
 * socket takes them; a client that reads nothing while its queue passes
 * CTL_OUT_MAX is dropped, so none can make vm-run hold unbounded memory.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/vm.h"

#define CTL_OUT_MAX (4u << 20)

struct conn {
	int fd;
	char in[CTL_LINE_MAX];
	size_t inlen;
	bool skipping;          /* inside a line that was too long */
	char *out;
	size_t outlen, outcap;
};

struct ctl_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[RUNDIR_NAME_MAX + 1];
	char console[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	struct vm *vm;
	struct conn *conns[CTL_CLIENTS_MAX];
	uint64_t started;
};

int
ctl_fail(struct ctl_req *req, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->err, sizeof(req->err), fmt, ap);
	va_end(ap);
	return code < 0 ? code : -EINVAL;
}

static int
sock_addr(const char *path, struct sockaddr_un *sa, struct vm_err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return vm_err_set(err, -ENAMETOOLONG, "%s: too long for a "
		    "socket's path (at most %zu bytes)", path,
		    sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* Does something accept connections on path? */
static bool
socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

struct ctl_server *
ctl_server_open(const char *path, const char *name, struct vm_err *err)
{
	struct ctl_server *s;
	struct sockaddr_un sa;
	int fd, tries;

	if (sock_addr(path, &sa, err) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->started = clock_host_ns();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		vm_err_errno(err, -errno, "socket");
		free(s);
		return NULL;
	}
	for (tries = 0; ; tries++) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno != EADDRINUSE || tries > 0) {
			vm_err_errno(err, -errno, "%s", path);
			goto fail;
		}
		if (socket_alive(&sa)) {
			vm_err_set(err, -EADDRINUSE, "%s: a VM called '%s' is "
			    "running (its control socket answers); give "
			    "another --name", path, name);
			goto fail;
		}
		/* Left by a vm-run that died: take its place. */
		if (unlink(path) < 0 && errno != ENOENT) {
			vm_err_errno(err, -errno, "%s", path);
			goto fail;
		}
	}
	(void)chmod(path, 0600);
	if (listen(fd, 8) < 0) {
		vm_err_errno(err, -errno, "%s: listen", path);
		unlink(path);
		goto fail;
	}
	s->lfd = fd;
	return s;
fail:
	close(fd);
	free(s);
	return NULL;
}

static void conn_ready(void *opaque, int fd, unsigned events);

static void
conn_watch(struct ctl_server *s, struct conn *c)
{
	if (s->vm == NULL)
		return;
	evloop_add_fd(s->vm->loop, c->fd, EV_READ | (c->outlen ? EV_WRITE : 0),
	    conn_ready, s);
}

static void
conn_close(struct ctl_server *s, struct conn *c)
{
	int i;

	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	if (s->vm != NULL)
		evloop_del_fd(s->vm->loop, c->fd);
	close(c->fd);
	free(c->out);
	free(c);
}

/* Write what the socket takes; -1 if the client is gone. */
static int
conn_flush(struct conn *c)
{
	while (c->outlen > 0) {
		ssize_t n = write(c->fd, c->out, c->outlen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

/* Queue a reply line and send what can go now; -1: client dropped. */
static int
conn_send(struct ctl_server *s, struct conn *c, const char *text,
    size_t len)
{
	size_t was = c->outlen;

	if (c->outlen + len > CTL_OUT_MAX) {
		log_warnx("control socket: a client reads no replies; "
		    "dropping it");
		conn_close(s, c);
		return -1;
	}
	if (c->outlen + len > c->outcap) {
		size_t cap = (c->outlen + len) * 2;
		char *p = realloc(c->out, cap);

		if (p == NULL) {
			conn_close(s, c);
			return -1;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, text, len);
	c->outlen += len;
	if (conn_flush(c) < 0) {
		conn_close(s, c);
		return -1;
	}
	if ((was == 0) != (c->outlen == 0))
		conn_watch(s, c);
	return 0;
}

/* The request's "id", as its JSON text, copied into the reply. */
static void
reply_id(struct json *j, const struct jsonr *r)
{
	int t = jsonr_find(r, 0, "id");
	unsigned a, b;

	if (t < 0)
		return;
	a = r->tok[t].start;
	b = r->tok[t].end;
	if (r->tok[t].type == JSONR_STR) {
		a--;            /* the quotes */
		b++;
	}
	json_raw(j, "id", r->s + a, b - a);
}

static const struct ctl_cmd *
find_cmd(const struct jsonr *r, int t)
{
	const struct ctl_cmd *c;

	for (c = ctl_cmds; c->name != NULL; c++)
		if (jsonr_str_eq(r, t, c->name))
			return c;
	return NULL;
}

/* Build the reply to one request line: ok with the handler's members, or
 * the error.  A malloc'd line (with its newline) in *out. */
static void
build_reply(struct ctl_server *s, const char *line, size_t n, char **out,
    size_t *outlen)
{
	static struct jsonr r;  /* big; the loop's thread only */
	struct ctl_req req = { .srv = s, .vm = s->vm, .rq = &r };
	const struct ctl_cmd *cmd = NULL;
	struct json j;
	FILE *f;
	int t, ret = 0;

	f = open_memstream(out, outlen);
	if (f == NULL) {
		*out = NULL;
		return;
	}
	json_init_compact(&j, f);
	req.out = &j;
	if (jsonr_parse(&r, line, n) < 0) {
		ret = ctl_fail(&req, -EINVAL, "malformed request: %s", r.err);
		r.ntok = 0;
	} else if (r.tok[0].type != JSONR_OBJ) {
		ret = ctl_fail(&req, -EINVAL, "a request is a JSON object, "
		    "{\"cmd\":\"NAME\"}");
	} else if ((t = jsonr_find(&r, 0, "cmd")) < 0 ||
	    r.tok[t].type != JSONR_STR) {
		ret = ctl_fail(&req, -EINVAL, "the request has no \"cmd\" "
		    "string");
	} else if ((cmd = find_cmd(&r, t)) == NULL) {
		char name[64];

		if (jsonr_str(&r, t, name, sizeof(name)) < 0)
			ret = ctl_fail(&req, -ENOENT, "unknown command (its "
			    "name is too long or holds a NUL)");
		else
			ret = ctl_fail(&req, -ENOENT, "unknown command '%s' "
			    "(\"help\" lists them)", name);
	} else if (s->vm == NULL) {
		ret = ctl_fail(&req, -EAGAIN, "the VM is restarting");
	}
	json_obj_begin(&j, NULL);
	json_bool(&j, "ok", true);
	if (r.ntok > 0 && r.tok[0].type == JSONR_OBJ)
		reply_id(&j, &r);
	if (ret == 0) {
		req.err[0] = '\0';
		ret = cmd->fn(&req);
		if (ret < 0 && req.err[0] == '\0')
			ctl_fail(&req, ret, "%s failed", cmd->name);
	}
	if (ret < 0) {
		/* Start again: only ok, id and the error. */
		fclose(f);
		free(*out);
		f = open_memstream(out, outlen);
		if (f == NULL) {
			*out = NULL;
			return;
		}
		json_init_compact(&j, f);
		json_obj_begin(&j, NULL);
		json_bool(&j, "ok", false);
		if (r.ntok > 0 && r.tok[0].type == JSONR_OBJ)
			reply_id(&j, &r);
		json_str(&j, "error", req.err);
	}
	json_obj_end(&j);
	json_finish(&j);
	fclose(f);
}

static int
serve_line(struct ctl_server *s, struct conn *c, const char *line,
    size_t n)
{
	char *reply;
	size_t len;
	int ret;

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
	    line[n - 1] == '\t'))
		n--;
	if (strspn(line, " \t") >= n)
		return 0;       /* a blank line: nothing asked */
	build_reply(s, line, n, &reply, &len);
	if (reply == NULL)
		return conn_send(s, c, "{\"ok\":false,\"error\":\"out of "
		    "memory\"}\n", 37);
	ret = conn_send(s, c, reply, len);
	free(reply);
	return ret;
}

static void
conn_read(struct ctl_server *s, struct conn *c)
{
	static const char too_long[] = "{\"ok\":false,\"error\":\"request "
	    "longer than 65536 bytes\"}\n";
	ssize_t n;
	size_t i, from;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(s, c);
		return;
	}
	from = 0;
	for (i = c->inlen; i < c->inlen + (size_t)n; i++) {
		if (c->in[i] != '\n')
			continue;
		if (!c->skipping &&
		    serve_line(s, c, c->in + from, i - from) < 0)
			return;         /* dropped */
		c->skipping = false;
		from = i + 1;
	}
	c->inlen += (size_t)n;
	memmove(c->in, c->in + from, c->inlen - from);
	c->inlen -= from;
	if (c->inlen == sizeof(c->in)) {
		c->inlen = 0;
		if (!c->skipping &&
		    conn_send(s, c, too_long, sizeof(too_long) - 1) < 0)
			return;
		c->skipping = true;
	}
}

static void
conn_ready(void *opaque, int fd, unsigned events)
{
	struct ctl_server *s = opaque;
	struct conn *c = NULL;
	size_t was;
	int i;

	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (s->conns[i] != NULL && s->conns[i]->fd == fd)
			c = s->conns[i];
	if (c == NULL)
		return;
	if (events & EV_WRITE) {
		was = c->outlen;
		if (conn_flush(c) < 0) {
			conn_close(s, c);
			return;
		}
		if (was && c->outlen == 0)
			conn_watch(s, c);
	}
	if (events & EV_READ)
		conn_read(s, c);
}

static void
accept_ready(void *opaque, int fd, unsigned events)
{
	static const char busy[] = "{\"ok\":false,\"error\":\"too many "
	    "clients\"}\n";
	struct ctl_server *s = opaque;
	struct conn *c;
	int cfd, i;
	ssize_t w;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (s->conns[i] == NULL)
			break;
	c = i < CTL_CLIENTS_MAX ? calloc(1, sizeof(*c)) : NULL;
	if (c == NULL) {
		w = write(cfd, busy, sizeof(busy) - 1);
		(void)w;
		close(cfd);
		return;
	}
	c->fd = cfd;
	s->conns[i] = c;
	conn_watch(s, c);
}

void
ctl_server_attach(struct ctl_server *s, struct vm *vm)
{
	int i;

	s->vm = vm;
	evloop_add_fd(vm->loop, s->lfd, EV_READ, accept_ready, s);
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (s->conns[i] != NULL)
			conn_watch(s, s->conns[i]);
}

void
ctl_server_detach(struct ctl_server *s)
{
	int i;

	if (s == NULL || s->vm == NULL)
		return;
	evloop_del_fd(s->vm->loop, s->lfd);
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (s->conns[i] != NULL)
			evloop_del_fd(s->vm->loop, s->conns[i]->fd);
	s->vm = NULL;
}

void
ctl_server_close(struct ctl_server *s)
{
	struct pollfd p;
	int i, waits;

	if (s == NULL)
		return;
	ctl_server_detach(s);
	for (i = 0; i < CTL_CLIENTS_MAX; i++) {
		struct conn *c = s->conns[i];

		if (c == NULL)
			continue;
		/* The last reply (to "stop") should reach its client. */
		for (waits = 0; c->outlen > 0 && waits < 10; waits++) {
			p.fd = c->fd;
			p.events = POLLOUT;
			if (poll(&p, 1, 100) <= 0 || conn_flush(c) < 0)
				break;
		}
		conn_close(s, c);
	}
	unlink(s->path);
	close(s->lfd);
	free(s);
}

const char *
ctl_server_name(const struct ctl_server *s)
{
	return s->name;
}

void
ctl_server_set_console(struct ctl_server *s, const char *path)
{
	snprintf(s->console, sizeof(s->console), "%s", path ? path : "");
}

const char *
ctl_server_console(const struct ctl_server *s)
{
	return s->console;
}

uint64_t
ctl_server_started(const struct ctl_server *s)
{
	return s->started;
}
