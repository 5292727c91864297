/*
 * vm-run's terminal: the guest's serial console on stdin/stdout.  On a
 * terminal, stdin goes to raw mode (restored on every exit path) and
 * Ctrl-A is an escape prefix (x quits, h helps, Ctrl-A sends Ctrl-A); in a
 * pipe, bytes pass through untouched.  Input waits in a buffer until the
 * UART takes it, so nothing a pipe gives is lost.
 */
#ifndef VM_RUN_CONSOLE_H
#define VM_RUN_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct chardev;
struct evloop;
struct vm;

/* Set up the console on fds 0/1 for mode (enum cfg_console: serial,
 * none, vga); log_path (may be NULL) gets a copy of the serial output,
 * which reaches stdout only in serial mode.  In vga mode the terminal
 * shows the VGA screen and keystrokes go to the PS/2 keyboard
 * (vga-console.h).  0 or -errno. */
int console_init(const char *log_path, int mode);
/* Detached (vm-run --detach): the console is the Unix socket path, one
 * client at a time, bytes both ways untouched (the client, vm-run
 * --attach, handles the escapes); output with no client attached goes
 * only to log_path.  In vga mode the client gets the VGA console (the
 * text screen redrawn whole when it connects) and its bytes are keys;
 * the serial output goes only to log_path.  0 or -errno. */
int console_init_socket(const char *path, const char *log_path, int mode);
void console_close_socket(const char *path);
struct chardev *console_chardev(void);
/* Attach to a VM's event loop (stdin watch) for this run. */
void console_attach(struct vm *vm);
void console_detach(void);
/* write(2) all of buf to fd, riding out EINTR and EAGAIN (a
 * non-blocking terminal); gives up on other errors. */
void console_write_all(int fd, const void *buf, size_t len);
/* Restore the terminal (idempotent; async-signal-safe). */
void console_restore(void);

#endif
