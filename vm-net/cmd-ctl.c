/*
 * The commands that talk to a running switch through its control socket
 * (NAME.ctl, see cmd-switch.c): list, status, stop, capture.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "vm-net.h"

int
ctl_connect(const char *name, int quiet)
{
	struct vm_err err = { 0 };
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (net_switch_path(name, "ctl", sa.sun_path, sizeof(sa.sun_path), 0,
	    &err) < 0) {
		if (!quiet)
			log_warnx("%s", err.msg);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (!quiet)
			log_warn("socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!quiet)
			log_warnx("switch %s is not running (no %s)", name,
			    sa.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

int
ctl_send(int fd, const char *name, const char *line)
{
	size_t len = strlen(line);

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		log_warn("switch %s", name);
		return -1;
	}
	return 0;
}

/* Copy everything the switch says to out until it hangs up. */
static int
ctl_copy(int fd, int out)
{
	char buf[65536];
	ssize_t n, w, off;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			return 1;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				return -1;
		}
	}
}

/* One command, its whole reply in a malloc'ed string (NULL on failure). */
static char *
ctl_ask(const char *name, const char *cmd, int quiet)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = ctl_connect(name, quiet);

	if (fd < 0)
		return NULL;
	if (ctl_send(fd, name, cmd) < 0) {
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL)
				break;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Options and nargs operands: -1 to go on, else the exit status. */
static int
one_name(int argc, char **argv, const char *usage_line, bool *json,
    int nargs)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("%s", usage_line);
			return 0;
		case 'j':
			if (json) {
				*json = true;
				break;
			}
			/* fallthrough */
		default:
			fprintf(stderr, "%s", usage_line);
			return 2;
		}
	}
	if (argc - optind != nargs) {
		fprintf(stderr, "%s", usage_line);
		return 2;
	}
	return -1;
}

int
cmd_status(int argc, char **argv)
{
	bool json = false;
	char *r;
	int ret = one_name(argc, argv,
	    "usage: vm-net status [--json] NAME\n"
	    "  a running switch's ports, their MACs and counters\n", &json, 1);

	if (ret >= 0)
		return ret;
	r = ctl_ask(argv[optind], json ? "status json" : "status", 0);
	if (r == NULL)
		return 1;
	fputs(r, stdout);
	free(r);
	return 0;
}

int
cmd_stop(int argc, char **argv)
{
	char *r;
	int ret = one_name(argc, argv,
	    "usage: vm-net stop NAME\n"
	    "  stop a running switch (its ports see it hang up)\n", NULL, 1);

	if (ret >= 0)
		return ret;
	/* The reply comes as the switch closes: after it, it is gone. */
	r = ctl_ask(argv[optind], "stop", 0);
	if (r == NULL)
		return 1;
	free(r);
	return 0;
}

static volatile sig_atomic_t cap_stop;

static void
on_cap_signal(int sig)
{
	cap_stop = sig;
}

int
cmd_capture(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage_line[] =
	    "usage: vm-net capture NAME [-w FILE|-]\n"
	    "  every frame on a switch, as pcap (to stdout by default), until\n"
	    "  the switch stops or a signal\n"
	    "\n"
	    "  -w FILE   write to FILE ('-' is stdout)\n";
	const char *file = "-";
	struct sigaction sa;
	int ch, fd, out, ret;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "hw:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("%s", usage_line);
			return 0;
		case 'w':
			file = optarg;
			break;
		default:
			fprintf(stderr, "%s", usage_line);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s", usage_line);
		return 2;
	}
	/* The switch first: a capture that cannot start touches no file. */
	fd = ctl_connect(argv[optind], 0);
	if (fd < 0)
		return 1;
	if (strcmp(file, "-") == 0) {
		out = 1;
		if (isatty(1)) {
			log_warnx("capture: not writing pcap to a terminal (use "
			    "-w FILE or a pipe)");
			close(fd);
			return 2;
		}
	} else {
		out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0) {
			log_warn("%s", file);
			close(fd);
			return 1;
		}
	}
	if (ctl_send(fd, argv[optind], "capture") < 0) {
		close(fd);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cap_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = ctl_copy(fd, out);
	close(fd);
	if (out != 1 && close(out) < 0) {
		log_warn("%s", file);
		return 1;
	}
	if (ret < 0 && !cap_stop) {
		log_warn("capture %s", file);
		return 1;
	}
	return 0;
}

int
cmd_list(int argc, char **argv)
{
	struct vm_err err = { 0 };
	char dir[160], name[80], *r;
	struct dirent *de;
	struct json j;
	bool json = false;
	int ret, pid, ports;
	unsigned long long frames;
	DIR *d;

	ret = one_name(argc, argv, "usage: vm-net list [--json]\n"
	    "  the switches running (for this user)\n", &json, 0);
	if (ret >= 0)
		return ret;
	if (net_switch_dir(dir, sizeof(dir), 0, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	if (json) {
		json_init(&j, stdout);
		json_arr_begin(&j, NULL);
	} else {
		printf("%-20s %-8s %6s %12s\n", "NAME", "PID", "PORTS", "FRAMES");
	}
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 5 || n - 4 >= sizeof(name) ||
		    strcmp(de->d_name + n - 4, ".ctl") != 0)
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		r = ctl_ask(name, "summary", 1);
		if (r == NULL)
			continue;       /* a dead switch's leftover */
		if (sscanf(r, "%*s %d %d %llu", &pid, &ports, &frames) == 3) {
			if (json) {
				json_obj_begin(&j, NULL);
				json_str(&j, "name", name);
				json_int(&j, "pid", pid);
				json_int(&j, "ports", ports);
				json_u64(&j, "frames", frames);
				json_obj_end(&j);
			} else {
				printf("%-20s %-8d %6d %12llu\n", name, pid,
				    ports, frames);
			}
		}
		free(r);
	}
	if (d)
		closedir(d);
	if (json) {
		json_arr_end(&j);
		json_finish(&j);
	}
	return 0;
}
