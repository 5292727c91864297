/*
 * vm-run's VGA console: the guest's VGA text screen drawn in this
 * terminal with ANSI colours and UTF-8, and the terminal's keystrokes
 * sent to the guest's PS/2 keyboard.  Runs on the event loop's thread.
 */
#ifndef VM_RUN_VGA_CONSOLE_H
#define VM_RUN_VGA_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Start drawing vm's VGA (a frame timer on its loop); clears the screen. */
void vgacon_attach(struct vm *vm);
/* Stop drawing; the cursor goes below the last frame. */
void vgacon_detach(void);
/* Where the console is drawn: fd (STDOUT_FILENO unless set), a socket
 * written without waiting (what it cannot take now is dropped and the
 * whole screen drawn again next frame), or -1 for nowhere.  A new fd
 * gets the whole screen. */
void vgacon_set_fd(int fd);
/* A byte typed at the terminal (Ctrl-A escapes already taken out). */
void vgacon_input(uint8_t b);
/* The end of one read from the terminal: a lone ESC is the Esc key. */
void vgacon_input_end(void);

#endif
