/*
 * The control socket: JSON lines on a Unix stream socket, served by a
 * running vm-run from its event loop, and the client side other commands
 * use.  Each request is one line holding one JSON object, {"cmd":"NAME",
 * ...}; each reply one line, {"ok":true,...} or {"ok":false,"error":"..."},
 * in order, with the request's "id" (any JSON value) copied into it.
 * The protocol, every command and its fields, is documented in vmkit(7).
 */
#ifndef VM_CTL_CTL_H
#define VM_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"
#include "util/rundir.h"

struct ctl_server;
struct vm;
struct vm_err;

/* The longest request line; longer ones are refused (and skipped). */
#define CTL_LINE_MAX 65536
/* Clients at once; one more is told so and closed. */
#define CTL_CLIENTS_MAX 16

/* One request being served. */
struct ctl_req {
	struct ctl_server *srv;
	struct vm *vm;
	const struct jsonr *rq;         /* token 0 is the request object */
	struct json *out;               /* the reply object, open: add members */
	char err[256];                  /* why it failed */
};

/* A command: name and handler.  The handler adds its reply's members to
 * req->out and returns 0, or returns ctl_fail(...). */
struct ctl_cmd {
	const char *name;
	int (*fn)(struct ctl_req *req);
	const char *summary;            /* one line, for "help" */
};
/* The table (commands.c), NULL-terminated: a new command is an entry. */
extern const struct ctl_cmd ctl_cmds[];

/* Record why req failed; returns code (-errno). */
int ctl_fail(struct ctl_req *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Listen on path for the VM called name.  A live server on path (one that
 * accepts a connection) is refused with -EADDRINUSE; a stale socket is
 * replaced.  NULL with err set on failure.
 */
struct ctl_server *ctl_server_open(const char *path, const char *name,
    struct vm_err *err);
/* Serve on vm's event loop (each VM vm-run builds: a reboot makes one);
 * detach before the VM is destroyed.  Clients stay connected across. */
void ctl_server_attach(struct ctl_server *s, struct vm *vm);
void ctl_server_detach(struct ctl_server *s);
/* Flush what replies are pending (briefly), close every client, remove
 * the socket. */
void ctl_server_close(struct ctl_server *s);
const char *ctl_server_name(const struct ctl_server *s);
/* Extra facts status reports: the console socket of a detached VM. */
void ctl_server_set_console(struct ctl_server *s, const char *path);
const char *ctl_server_console(const struct ctl_server *s);
uint64_t ctl_server_started(const struct ctl_server *s); /* clock_host_ns */

/*
 * Where VM name's files live: $XDG_RUNTIME_DIR/vmkit/vm/NAME (or
 * /tmp/vmkit-UID/vm/NAME), created if mk; file is "ctl", "console",
 * "pid", "log" or NULL for the directory itself.
 */
int ctl_vm_path(const char *name, const char *file, char *buf, size_t len,
    int mk, struct vm_err *err);

/* The client side.  target is a VM's name, or a control socket's path
 * (anything with a '/').  A connected fd, or -errno with err set. */
int ctl_client_connect(const char *target, struct vm_err *err);
/* Send one request line (a JSON object, no newline) and read its reply
 * line into buf (NUL-terminated, without the newline), waiting at most
 * timeout_ms (-1: for ever).  0 or -errno with err set. */
int ctl_client_call(int fd, const char *request, char *buf, size_t len,
    int timeout_ms, struct vm_err *err);

#endif
