/*
 * The serial console in the terminal (see console.h).
 *
 * Input path: stdin -> ring buffer (64 KiB) -> the UART's pull (read()).
 * When the buffer is full, stdin is no longer watched until the guest
 * drains it, so a pipe's writer simply blocks: back-pressure instead of
 * loss.  EOF on a pipe is not an end of the VM: the guest keeps running
 * (a script typically ends with poweroff).
 * Output path: every byte the guest writes goes to stdout at once with
 * write(2), unbuffered, and to the optional serial log.
 * With console: vga the terminal is the VGA's instead (vga-console.c):
 * the serial output goes only to the log, and keystrokes, once the
 * Ctrl-A escapes are taken out, go to the keyboard.  Detached, the
 * attached client is that terminal.
 */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "hw/chardev.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vga-console.h"
#include "vm/vm.h"

#define RING_SIZE 65536
#define CTRL_A 0x01

static struct {
	struct chardev cd;
	struct vm *vm;
	int in_fd, out_fd;      /* stdin/stdout, or the attached client */
	int listen_fd;          /* detached: the console socket, else -1 */
	uint8_t ring[RING_SIZE];
	size_t head, tail;      /* tail: next to read; head: next to write */
	bool tty;
	bool raw;
	struct termios saved;
	bool escape;
	bool eof;
	bool watching;
	int log_fd;
	bool quiet;
	bool vga;
} con = { .log_fd = -1, .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO,
	.listen_fd = -1 };

static size_t
ring_used(void)
{
	return con.head - con.tail;
}

static void
ring_put(uint8_t b)
{
	if (ring_used() < RING_SIZE)
		con.ring[con.head++ % RING_SIZE] = b;
}

/* All of buf to fd (console.h); the serial path and the VGA console
 * share it. */
void
console_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *buf = data;

	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void client_gone(void);

/* Detached: to the attached client, if any, as much as its socket takes
 * now (a vCPU never waits for a slow terminal; the rest is lost). */
static void
sock_write(const uint8_t *buf, size_t len)
{
	while (len > 0 && con.out_fd >= 0) {
		ssize_t n = send(con.out_fd, buf, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_gone();
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void
con_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	(void)cd;
	if (con.listen_fd >= 0 && !con.vga)
		sock_write(buf, len);
	else if (!con.quiet)
		console_write_all(STDOUT_FILENO, buf, len);
	if (con.log_fd >= 0)
		console_write_all(con.log_fd, buf, len);
}

static void stdin_ready(void *opaque, int fd, unsigned events);

static void
watch_stdin(bool on)
{
	if (con.vm == NULL || con.eof || con.in_fd < 0 || on == con.watching)
		return;
	if (on)
		evloop_add_fd(con.vm->loop, con.in_fd, EV_READ, stdin_ready,
		    NULL);
	else
		evloop_del_fd(con.vm->loop, con.in_fd);
	con.watching = on;
	evloop_wakeup(con.vm->loop);
}

static size_t
con_read(struct chardev *cd, uint8_t *buf, size_t max)
{
	size_t n = 0;

	(void)cd;
	while (n < max && ring_used() > 0)
		buf[n++] = con.ring[con.tail++ % RING_SIZE];
	if (ring_used() < RING_SIZE / 2)
		watch_stdin(true);
	return n;
}

static size_t
con_pending(struct chardev *cd)
{
	(void)cd;
	return ring_used();
}

static void
help(void)
{
	static const char msg[] =
	    "\r\nvm-run console escapes (Ctrl-A then):\r\n"
	    "  x   quit vm-run (the guest is stopped)\r\n"
	    "  h   this help\r\n"
	    "  C-a send Ctrl-A to the guest\r\n";

	console_write_all(STDERR_FILENO, (const uint8_t *)msg, sizeof(msg) - 1);
}

/* A byte for the guest: the UART's, or the keyboard's. */
static void
guest_byte(uint8_t b)
{
	if (con.vga)
		vgacon_input(b);
	else
		ring_put(b);
}

static void
input_byte(uint8_t b)
{
	if (!con.tty) {
		guest_byte(b);
		return;
	}
	if (con.escape) {
		con.escape = false;
		switch (b) {
		case 'x':
		case 'X':
			vm_request_exit(con.vm, VM_EXIT_USER, VM_STATUS_USER_QUIT,
			    "quit from the console (Ctrl-A x)");
			return;
		case CTRL_A:
			guest_byte(CTRL_A);
			return;
		case 'h':
		case 'H':
		case '?':
		default:
			help();
			return;
		}
	}
	if (b == CTRL_A) {
		con.escape = true;
		return;
	}
	guest_byte(b);
}

static void
stdin_ready(void *opaque, int fd, unsigned events)
{
	uint8_t buf[4096];
	size_t room = RING_SIZE - ring_used();
	ssize_t n, i;

	(void)opaque;
	(void)events;
	if (room == 0) {
		watch_stdin(false);
		return;
	}
	n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		n = 0;
	}
	if (n == 0 && con.listen_fd >= 0) {
		/* The attached client left; the next one may come. */
		client_gone();
		return;
	}
	if (n == 0) {
		/* EOF: stop watching; the guest goes on. */
		watch_stdin(false);
		con.eof = true;
		return;
	}
	for (i = 0; i < n; i++)
		input_byte(buf[i]);
	if (con.vga)
		vgacon_input_end();
	if (ring_used() >= RING_SIZE)
		watch_stdin(false);
	chardev_notify(&con.cd);
}

static void
client_gone(void)
{
	int fd = con.in_fd;

	if (fd < 0)
		return;
	watch_stdin(false);
	con.in_fd = con.out_fd = -1;
	if (con.vga)
		vgacon_set_fd(-1);
	close(fd);
}

static void
accept_ready(void *opaque, int fd, unsigned events)
{
	static const char busy[] = "vm-run: another terminal is attached to "
	    "this console\r\n";
	int c;
	ssize_t w;

	(void)opaque;
	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (con.in_fd >= 0) {
		w = send(c, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
		(void)w;
		close(c);
		return;
	}
	con.in_fd = con.out_fd = c;
	con.watching = false;
	if (con.vga)
		vgacon_set_fd(c);
	if (ring_used() < RING_SIZE)
		watch_stdin(true);
}

int
console_init_socket(const char *path, const char *log_path, int mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	con.cd.write = con_write;
	con.cd.read = con_read;
	con.cd.pending = con_pending;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	if (log_path != NULL && *log_path) {
		con.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644);
		if (con.log_fd < 0)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The control socket is ours already: this name is not in use. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 2) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	(void)chmod(path, 0600);
	con.listen_fd = fd;
	con.in_fd = con.out_fd = -1;
	con.tty = false;
	con.vga = mode == CFG_CONSOLE_VGA;
	if (con.vga)
		vgacon_set_fd(-1);      /* nothing drawn until a client comes */
	return 0;
}

void
console_close_socket(const char *path)
{
	client_gone();
	if (con.listen_fd >= 0) {
		close(con.listen_fd);
		con.listen_fd = -1;
		unlink(path);
	}
}

void
console_restore(void)
{
	if (con.raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &con.saved);
		con.raw = false;
	}
}

static void
on_fatal_signal(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int
console_init(const char *log_path, int mode)
{
	struct termios t;
	int fl;

	con.cd.write = con_write;
	con.cd.read = con_read;
	con.cd.pending = con_pending;
	con.quiet = mode != CFG_CONSOLE_SERIAL;
	con.vga = mode == CFG_CONSOLE_VGA;
	if (log_path != NULL && *log_path) {
		con.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644);
		if (con.log_fd < 0)
			return -errno;
	}
	con.tty = isatty(STDIN_FILENO);
	if (con.tty && tcgetattr(STDIN_FILENO, &con.saved) == 0) {
		t = con.saved;
		cfmakeraw(&t);
		t.c_oflag |= OPOST | ONLCR; /* keep our own messages tidy */
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0) {
			con.raw = true;
			atexit(console_restore);
			signal(SIGSEGV, on_fatal_signal);
			signal(SIGABRT, on_fatal_signal);
			signal(SIGBUS, on_fatal_signal);
		}
	}
	fl = fcntl(STDIN_FILENO, F_GETFL);
	if (fl >= 0 && !con.tty)
		fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

struct chardev *
console_chardev(void)
{
	return &con.cd;
}

void
console_attach(struct vm *vm)
{
	con.vm = vm;
	con.watching = false;
	if (con.listen_fd >= 0) {
		evloop_add_fd(vm->loop, con.listen_fd, EV_READ, accept_ready,
		    NULL);
		if (con.in_fd >= 0)
			watch_stdin(true);
	} else if (fcntl(STDIN_FILENO, F_GETFL) >= 0) {
		watch_stdin(true);
	} else {
		con.eof = true;
	}
	if (con.vga)
		vgacon_attach(vm);
}

void
console_detach(void)
{
	if (con.vga)
		vgacon_detach();
	watch_stdin(false);
	if (con.listen_fd >= 0 && con.vm != NULL)
		evloop_del_fd(con.vm->loop, con.listen_fd);
	con.vm = NULL;
}
