/*
 * vm-run's client modes, for VMs already running: --cmd (one control
 * socket request, its reply printed), --list (every VM in the runtime
 * directory) and --attach (a terminal on a detached VM's console).
 */
#include "remote.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/size.h"

#define CTRL_A 0x01
#define REPLY_MAX (1u << 20)
#define CALL_TIMEOUT_MS 60000

static char reply[REPLY_MAX];
static struct jsonr rj;

/* One request, its reply parsed into rj; 0, or 1 with the error told. */
static int
call(const char *target, const char *request, bool quiet)
{
	struct vm_err err = { 0 };
	int fd, ret;

	fd = ctl_client_connect(target, &err);
	if (fd < 0) {
		if (!quiet)
			log_warnx("%s", err.msg);
		return 1;
	}
	ret = ctl_client_call(fd, request, reply, sizeof(reply),
	    CALL_TIMEOUT_MS, &err);
	close(fd);
	if (ret < 0) {
		if (!quiet)
			log_warnx("%s: %s", target, err.msg);
		return 1;
	}
	if (jsonr_parse(&rj, reply, strlen(reply)) < 0 ||
	    rj.tok[0].type != JSONR_OBJ) {
		if (!quiet)
			log_warnx("%s: a reply that is not a JSON object: %s",
			    target, rj.err);
		return 1;
	}
	return 0;
}

/* A scalar as a person reads it: RIPs in hex, sizes with units. */
static void
scalar(const char *key, int t, char *buf, size_t len)
{
	uint64_t v;
	char sz[32];

	if (rj.tok[t].type == JSONR_STR) {
		if (jsonr_str(&rj, t, buf, len) < 0)
			snprintf(buf, len, "?");
		return;
	}
	if (jsonr_u64(&rj, t, &v) == 0 && strcmp(key, "rip") == 0) {
		snprintf(buf, len, "0x%llx", (unsigned long long)v);
		return;
	}
	if (jsonr_u64(&rj, t, &v) == 0 && (strcmp(key, "memory") == 0 ||
	    strcmp(key, "size") == 0)) {
		snprintf(buf, len, "%s", size_format(v, sz, sizeof(sz)));
		return;
	}
	if (jsonr_u64(&rj, t, &v) == 0 && strcmp(key, "uptime") == 0) {
		snprintf(buf, len, "%llus", (unsigned long long)v);
		return;
	}
	snprintf(buf, len, "%.*s", (int)(rj.tok[t].end - rj.tok[t].start),
	    rj.s + rj.tok[t].start);
}

/* Row o's cell for column k of a table whose columns are the keys of
 * object first. */
static void
cell(int first, int o, int k, char *val, size_t len)
{
	char key[64];
	int v;

	jsonr_str(&rj, jsonr_key(&rj, first, k), key, sizeof(key));
	v = jsonr_find(&rj, o, key);
	val[0] = '\0';
	if (v >= 0)
		scalar(key, v, val, len);
}

/* An array of objects as a table, the first object's keys as columns. */
static void
table(int arr)
{
	char key[64], val[256];
	int w[16] = { 0 }, ncol, i, k, first = jsonr_elem(&rj, arr, 0);
	size_t j;

	if (first < 0 || rj.tok[first].type != JSONR_OBJ)
		return;
	ncol = rj.tok[first].n < 16 ? rj.tok[first].n : 16;
	for (k = 0; k < ncol; k++) {
		jsonr_str(&rj, jsonr_key(&rj, first, k), key, sizeof(key));
		w[k] = (int)strlen(key);
		for (i = 0; i < rj.tok[arr].n; i++) {
			cell(first, jsonr_elem(&rj, arr, i), k, val,
			    sizeof(val));
			if ((int)strlen(val) > w[k])
				w[k] = (int)strlen(val);
		}
	}
	for (k = 0; k < ncol; k++) {
		jsonr_str(&rj, jsonr_key(&rj, first, k), key, sizeof(key));
		for (j = 0; key[j]; j++)
			if (key[j] >= 'a' && key[j] <= 'z')
				key[j] = (char)(key[j] - 'a' + 'A');
		printf("%-*s%s", k + 1 < ncol ? w[k] : 0, key,
		    k + 1 < ncol ? "  " : "\n");
	}
	for (i = 0; i < rj.tok[arr].n; i++)
		for (k = 0; k < ncol; k++) {
			cell(first, jsonr_elem(&rj, arr, i), k, val,
			    sizeof(val));
			printf("%-*s%s", k + 1 < ncol ? w[k] : 0, val,
			    k + 1 < ncol ? "  " : "\n");
		}
}

static void
print_reply(void)
{
	char key[64], val[512];
	int i, k, v;

	for (i = 0; i < rj.tok[0].n; i++) {
		k = jsonr_key(&rj, 0, i);
		v = k + 1;
		if (jsonr_str(&rj, k, key, sizeof(key)) < 0 ||
		    strcmp(key, "ok") == 0 || strcmp(key, "id") == 0)
			continue;
		if (rj.tok[v].type == JSONR_ARR && rj.tok[v].n == 0) {
			printf("%s: none\n", key);
			continue;
		}
		if (rj.tok[v].type == JSONR_ARR) {
			table(v);
			continue;
		}
		if (rj.tok[v].type == JSONR_OBJ)
			continue;
		scalar(key, v, val, sizeof(val));
		printf("%s: %s\n", key, val);
	}
}

/* KEY=VALUE: a number if it is all digits, true/false, else a string;
 * file=NAME relative to this directory is sent as an absolute path (the
 * VM's own directory may be another). */
static void
arg_member(struct json *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[64], cwd[PATH_MAX], *abs;
	size_t n;

	n = (size_t)(eq - arg) < sizeof(key) ? (size_t)(eq - arg) :
	    sizeof(key) - 1;
	memcpy(key, arg, n);
	key[n] = '\0';
	eq++;
	if (*eq && strspn(eq, "0123456789") == strlen(eq) &&
	    strlen(eq) < 20)
		json_u64(j, key, strtoull(eq, NULL, 10));
	else if (strcmp(eq, "true") == 0 || strcmp(eq, "false") == 0)
		json_bool(j, key, eq[0] == 't');
	else if (strcmp(key, "file") == 0 && eq[0] != '/' && eq[0] != '\0' &&
	    getcwd(cwd, sizeof(cwd)) != NULL &&
	    asprintf(&abs, "%s/%s", cwd, eq) >= 0) {
		json_str(j, key, abs);
		free(abs);
	} else
		json_str(j, key, eq);
}

int
remote_cmd(const char *target, int argc, char **argv, bool json)
{
	struct json j;
	char *req = NULL, err[512];
	size_t len = 0;
	FILE *f;
	bool ok = false;
	int i, ret;

	for (i = 1; i < argc; i++)
		if (strchr(argv[i], '=') == NULL || argv[i][0] == '=') {
			log_warnx("--cmd: '%s' is not KEY=VALUE", argv[i]);
			return 2;
		}
	f = open_memstream(&req, &len);
	if (f == NULL)
		return 1;
	json_init_compact(&j, f);
	json_obj_begin(&j, NULL);
	json_str(&j, "cmd", argv[0]);
	for (i = 1; i < argc; i++)
		arg_member(&j, argv[i]);
	json_obj_end(&j);
	fclose(f);
	ret = call(target, req, false);
	free(req);
	if (ret != 0)
		return ret;
	(void)jsonr_bool(&rj, jsonr_find(&rj, 0, "ok"), &ok);
	if (json) {
		printf("%s\n", reply);
		return ok ? 0 : 1;
	}
	if (!ok) {
		if (jsonr_str(&rj, jsonr_find(&rj, 0, "error"), err,
		    sizeof(err)) < 0)
			snprintf(err, sizeof(err), "failed");
		log_warnx("%s: %s: %s", target, argv[0], err);
		return 1;
	}
	print_reply();
	return 0;
}

int
remote_list(bool json)
{
	static const char *const cols[] = { "name", "state", "backend",
		"cpus", "memory", "pid", "uptime" };
	struct vm_err err = { 0 };
	char dir[160], val[128];
	struct dirent *de;
	bool first = true;
	size_t k;
	DIR *d;

	if (rundir_path("vm", dir, sizeof(dir), 0, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	d = opendir(dir);
	if (json)
		printf("[");
	else
		printf("%-16s %-8s %-7s %4s %10s %8s %8s\n", "NAME", "STATE",
		    "BACKEND", "CPUS", "MEMORY", "PID", "UPTIME");
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!rundir_name_ok(de->d_name))
			continue;
		/* A directory whose VM is gone (only its log) is skipped. */
		if (call(de->d_name, "{\"cmd\":\"status\"}", true) != 0)
			continue;
		if (json) {
			printf("%s%s", first ? "" : ",", reply);
			first = false;
			continue;
		}
		for (k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
			int t = jsonr_find(&rj, 0, cols[k]);
			static const int w[] = { -16, -8, -7, 4, 10, 8, 8 };

			val[0] = '\0';
			if (t >= 0)
				scalar(cols[k], t, val, sizeof(val));
			printf("%*s%s", w[k], val,
			    k + 1 < sizeof(cols) / sizeof(cols[0]) ? " " : "\n");
		}
	}
	if (json)
		printf("]\n");
	if (d != NULL)
		closedir(d);
	return 0;
}

/* The console socket beside target's control socket. */
static int
console_path(const char *target, char *buf, size_t len)
{
	struct vm_err err = { 0 };
	const char *slash = strrchr(target, '/');

	if (slash != NULL) {
		if ((size_t)snprintf(buf, len, "%.*s/console",
		    (int)(slash - target), target) >= len) {
			log_warnx("%s: path too long", target);
			return -1;
		}
		return 0;
	}
	if (ctl_vm_path(target, "console", buf, len, 0, &err) < 0) {
		log_warnx("%s", err.msg);
		return -1;
	}
	return 0;
}

static struct termios saved;
static bool raw;

static void
restore(void)
{
	if (raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	raw = false;
}

static void
say(const char *msg)
{
	ssize_t w = write(STDERR_FILENO, msg, strlen(msg));

	(void)w;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
remote_attach(const char *target)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[sizeof(sa.sun_path) + 64], buf[4096], out[4096];
	struct pollfd p[2];
	bool tty = isatty(STDIN_FILENO), esc = false, in_eof = false;
	struct termios t;
	ssize_t n, i;
	size_t o;
	int fd;

	if (console_path(target, path, sizeof(path)) < 0)
		return 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warnx("%s: too long for a socket's path", path);
		return 1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_warnx("%s: no detached VM is running there (%s: %s)",
		    target, path, strerror(errno));
		return 1;
	}
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		t = saved;
		cfmakeraw(&t);
		t.c_oflag |= OPOST | ONLCR;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0) {
			raw = true;
			atexit(restore);
		}
		say("vm-run: attached (Ctrl-A d detaches, Ctrl-A x stops the "
		    "VM, Ctrl-A h helps)\r\n");
	}
	for (;;) {
		p[0].fd = fd;
		p[0].events = POLLIN;
		p[1].fd = in_eof ? -1 : STDIN_FILENO;
		p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				restore();
				if (tty)
					say("\r\nvm-run: the console closed "
					    "(the VM has stopped)\r\n");
				break;
			}
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (!p[1].revents)
			continue;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n <= 0) {
			/* Nothing more to type; the output goes on. */
			in_eof = true;
			continue;
		}
		if (!tty) {
			if (send_all(fd, buf, (size_t)n) < 0)
				break;
			continue;
		}
		for (i = 0, o = 0; i < n; i++) {
			uint8_t b = (uint8_t)buf[i];

			if (!esc && b == CTRL_A) {
				esc = true;
				continue;
			}
			if (!esc) {
				out[o++] = (char)b;
				continue;
			}
			esc = false;
			if (b == 'd' || b == 'D') {
				send_all(fd, out, o);
				restore();
				fprintf(stderr, "\nvm-run: detached; the VM "
				    "goes on (vm-run --attach %s)\n", target);
				close(fd);
				return 0;
			} else if (b == 'x' || b == 'X') {
				say("\r\nvm-run: stopping the VM\r\n");
				if (call(target, "{\"cmd\":\"stop\"}", false))
					say("vm-run: could not stop it\r\n");
			} else if (b == CTRL_A) {
				out[o++] = (char)CTRL_A;
			} else {
				say("\r\nvm-run console escapes (Ctrl-A "
				    "then):\r\n  d   detach (the VM goes on)\r\n"
				    "  x   stop the VM\r\n  h   this help\r\n"
				    "  C-a send Ctrl-A to the guest\r\n");
			}
		}
		if (o > 0 && send_all(fd, out, o) < 0)
			break;
	}
	restore();
	close(fd);
	return 0;
}
