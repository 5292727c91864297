/*
 * The standard VGA with the Bochs VBE extensions (QEMU's "stdvga", PCI
 * 1234:1111), as the board's display.  Besides the guest's side (ports,
 * the legacy window, the linear framebuffer BAR) it offers a read-only
 * view for vm-run's console and screendump: the text screen, the mode,
 * and a change counter.  Callers hold the VM I/O lock (the event loop's
 * callbacks do).
 */
#ifndef VM_DEV_VGA_H
#define VM_DEV_VGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dev;
struct vm_err;

#define VGA_TEXT_MAX_COLS 132
#define VGA_TEXT_MAX_ROWS 60

/* What the guest shows now. */
struct vga_screen {
	bool text;                      /* an alphanumeric mode */
	unsigned cols, rows;            /* text: cells */
	unsigned width, height, bpp;    /* pixels (text: as rendered) */
	bool cursor_on;
	unsigned cursor_col, cursor_row;
	/* text: char in the low byte, attribute in the high byte */
	uint16_t cell[VGA_TEXT_MAX_ROWS * VGA_TEXT_MAX_COLS];
};

/* The number of guest changes so far (registers or display memory). */
uint64_t vga_generation(struct dev *d);
/* Fill s with the current screen. */
void vga_get_screen(struct dev *d, struct vga_screen *s);
/* Render the display as 0xRRGGBB pixels: *px (malloc'ed, caller frees),
 * *w x *h.  Text modes are drawn with the font in plane 2.  0 or -errno
 * with err set (no mode set up, out of memory). */
int vga_render(struct dev *d, uint32_t **px, unsigned *w, unsigned *h,
    struct vm_err *err);
/* vga_render, written to path as a PNG.  0 or -errno with err set. */
int vga_screendump(struct dev *d, const char *path, struct vm_err *err);

#endif
