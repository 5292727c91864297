/*
 * The VGA console (vga-console.h).
 *
 * Output: a timer on the event loop fires about 30 times a second; when
 * the VGA's change counter moved, the text screen is compared with what
 * the terminal shows and only the changed cells are written (a cursor
 * move where a run breaks, an SGR colour change where the attribute
 * changes, the character as UTF-8 from CP437), then the cursor is put
 * where the guest has it.  A graphics mode is not drawn: a status line
 * names the mode and points to --screendump.
 *
 * Input: termkey.c decodes the bytes into key presses, each sent as
 * modifier downs, the key down and up, modifier ups.  A BIOS keeps the
 * keys its IRQ 1 handler took in a 15-key ring in the BIOS data area
 * (head and tail at 0x41a, the ring's bounds at 0x480), and a boot
 * loader slower than a burst of typing (GRUB's entry editor on the DBT,
 * a pasted line) would lose what overflows it.  So while that ring is
 * there (SeaBIOS's bounds, 0x1e..0x3e, in the BIOS data area), presses
 * wait here and the next goes to the keyboard only when the controller
 * has nothing left for the guest and the ring holds fewer than
 * KEYS_AHEAD keys, checked every PACE_NS.  While the ring stands still
 * that full a press goes through every HOLD_NS (a slow guest still gets
 * its keys), and after STALLS of those the ring is taken for nobody's
 * (the BIOS is gone, its data area left as it was): presses then flow at
 * once until the ring moves again.  Without
 * a BIOS ring (OVMF, a direct boot) presses go to the keyboard at once,
 * into its own 512-byte buffer.
 * Detached, the terminal is the attached client's socket (vgacon_set_fd):
 * drawn whole when it connects, never waited for.
 */
#include "vga-console.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "dev/i8042.h"
#include "dev/vga.h"
#include "mem/mem.h"
#include "util/cp437.h"
#include "util/evloop.h"
#include "util/termkey.h"
#include "vm/vm.h"

#define FRAME_NS (33ULL * 1000 * 1000)
#define OUT_MAX 8192
#define PRESSQ 256                      /* presses waiting for the guest */
#define PACE_NS (2ULL * 1000 * 1000)
#define HOLD_NS (500ULL * 1000 * 1000)
#define STALLS 4
#define KEYS_AHEAD 4
#define BDA_KBD_HEAD 0x41a              /* head, tail: offsets from 0x400 */
#define BDA_KBD_START 0x480             /* the ring's start, end */

static struct {
	struct vm *vm;
	struct dev *vga, *kbd;
	struct ev_timer *timer;
	uint64_t gen;
	bool valid;                     /* shown holds the terminal's screen */
	bool graphics_shown;
	struct vga_screen now, shown;
	int attr;                       /* the terminal's SGR now, -1 unknown */
	unsigned row, col;              /* the terminal's cursor */
	struct term_keys keys;
	char out[OUT_MAX];
	size_t olen;
	int fd;                         /* where it is drawn, -1 nowhere */
	bool sock;                      /* fd is a client's socket */
	struct term_key_ev pq[PRESSQ];  /* presses held back (pacing) */
	unsigned phead, plen;
	struct ev_timer *pace;
	uint64_t held_since;            /* the first press waiting, 0 none */
	uint32_t stale;                 /* a ring nobody reads: head, tail */
	bool stale_set;
	uint32_t last;                  /* the ring's head, tail last seen */
	unsigned stalls;                /* HOLD_NS waits it did not move */
} vc = { .fd = STDOUT_FILENO };

static void frame(void *opaque);
static void pace(void *opaque);

static void
flush_out(void)
{
	size_t off = 0;
	ssize_t n;

	if (!vc.sock) {
		if (vc.fd >= 0)
			console_write_all(vc.fd, vc.out, vc.olen);
		vc.olen = 0;
		return;
	}
	/* A client's socket: never wait for it.  What it cannot take is
	 * dropped; the next frame draws the whole screen again. */
	while (vc.fd >= 0 && off < vc.olen) {
		n = send(vc.fd, vc.out + off, vc.olen - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vc.valid = false;
			vc.graphics_shown = false;
			vc.gen = 0;
			break;
		}
		off += (size_t)n;
	}
	vc.olen = 0;
}

static void
put(const char *s, size_t n)
{
	if (vc.olen + n > sizeof(vc.out))
		flush_out();
	memcpy(vc.out + vc.olen, s, n);
	vc.olen += n;
}

static void
putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
putf(const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A VGA attribute as SGR: the CGA colour order (blue 1, green 2, red 4)
 * is ANSI's with red and blue swapped; intensity is the bright range. */
static void
set_attr(uint8_t a)
{
	static const uint8_t ansi[8] = { 0, 4, 2, 6, 1, 5, 3, 7 };
	unsigned fg = a & 0xf, bg = (a >> 4) & 7;

	if (vc.attr == a)
		return;
	putf("\033[0;%u;%um", (fg & 8 ? 90u : 30u) + ansi[fg & 7],
	    40u + ansi[bg]);
	vc.attr = a;
}

static void
draw_text(void)
{
	const struct vga_screen *s = &vc.now;
	unsigned r, c;
	char u[4];

	if (!vc.valid || vc.shown.cols != s->cols ||
	    vc.shown.rows != s->rows || !vc.shown.text) {
		put("\033[0m\033[H\033[2J", 11);
		vc.attr = -1;
		vc.valid = false;
		vc.row = vc.col = 0;
	}
	for (r = 0; r < s->rows; r++)
		for (c = 0; c < s->cols; c++) {
			uint16_t cell = s->cell[r * s->cols + c];

			if (vc.valid && vc.shown.cell[r * s->cols + c] == cell)
				continue;
			if (vc.row != r || vc.col != c)
				putf("\033[%u;%uH", r + 1, c + 1);
			set_attr((uint8_t)(cell >> 8));
			put(u, cp437_to_utf8((uint8_t)cell, u));
			vc.row = r;
			vc.col = c + 1;
		}
	if (s->cursor_on)
		putf("\033[%u;%uH\033[?25h", s->cursor_row + 1,
		    s->cursor_col + 1);
	else
		put("\033[?25l", 6);
	vc.row = s->cursor_on ? s->cursor_row : ~0u;
	vc.col = s->cursor_on ? s->cursor_col : ~0u;
	memcpy(&vc.shown, s, sizeof(*s));
	vc.valid = true;
	vc.graphics_shown = false;
}

static void
draw_graphics(void)
{
	const struct vga_screen *s = &vc.now;

	if (vc.graphics_shown && vc.shown.width == s->width &&
	    vc.shown.height == s->height && vc.shown.bpp == s->bpp)
		return;
	put("\033[0m\033[H\033[2J", 11);
	putf("[graphics mode %ux%ux%u: use --screendump]\r\n", s->width,
	    s->height, s->bpp);
	memcpy(&vc.shown, s, offsetof(struct vga_screen, cell));
	vc.graphics_shown = true;
	vc.valid = false;
	vc.attr = -1;
}

static void
frame(void *opaque)
{
	uint64_t g = vga_generation(vc.vga);

	(void)opaque;
	/* A change, or nothing shown yet (a new client). */
	if (vc.fd >= 0 && (g != vc.gen || (!vc.valid && !vc.graphics_shown))) {
		vc.gen = g;
		vga_get_screen(vc.vga, &vc.now);
		if (vc.now.text && vc.now.cols >= 8)
			draw_text();
		else if (!vc.now.text && vc.now.width && vc.now.height)
			draw_graphics();
		flush_out();
	}
	if (opaque == NULL)
		return;
	evloop_timer_mod(vc.timer, clock_ns() + FRAME_NS);
}

void
vgacon_set_fd(int fd)
{
	vc.olen = 0;
	vc.fd = fd;
	vc.sock = true;
	vc.valid = false;
	vc.graphics_shown = false;
	vc.gen = 0;
	vc.attr = -1;
	if (fd >= 0 && vc.vga != NULL) {
		put("\033[0m\033[H\033[2J", 11);
		frame(NULL);
	}
}

void
vgacon_attach(struct vm *vm)
{
	vc.vm = vm;
	vc.vga = vm_find_device(vm, "vga");
	vc.kbd = vm_find_device(vm, "i8042");
	vc.valid = false;
	vc.graphics_shown = false;
	vc.gen = 0;
	vc.attr = -1;
	vc.keys.len = 0;
	if (vc.vga == NULL)
		return;
	put("\033[0m\033[H\033[2J", 11);
	flush_out();
	vc.timer = evloop_timer_new(vm->loop, frame, &vc);
	if (vc.timer != NULL)
		evloop_timer_mod(vc.timer, clock_ns() + FRAME_NS);
	vc.plen = 0;
	vc.held_since = 0;
	vc.stale_set = false;
	vc.stalls = 0;
	vc.pace = evloop_timer_new(vm->loop, pace, &vc);
}

void
vgacon_detach(void)
{
	if (vc.timer != NULL) {
		/* The last frame, so the terminal ends as the guest did. */
		frame(NULL);
		evloop_timer_free(vc.timer);
		vc.timer = NULL;
		putf("\033[0m\033[?25h\033[%u;1H\r\n", vc.now.text &&
		    vc.valid ? vc.now.rows : 2);
		flush_out();
	}
	if (vc.pace != NULL) {
		evloop_timer_free(vc.pace);
		vc.pace = NULL;
	}
	vc.plen = 0;
	vc.vm = NULL;
	vc.vga = vc.kbd = NULL;
}

static void
send_press(const struct term_key_ev *ev)
{
	static const struct {
		unsigned mod;
		enum term_key key;
	} mods[] = { { TK_MOD_CTRL, TK_LCTRL }, { TK_MOD_ALT, TK_LALT },
		{ TK_MOD_SHIFT, TK_LSHIFT } };
	size_t i;

	if (vc.kbd == NULL)
		return;
	for (i = 0; i < 3; i++)
		if (ev->mods & mods[i].mod)
			i8042_key(vc.kbd, mods[i].key, true);
	i8042_key(vc.kbd, ev->key, true);
	i8042_key(vc.kbd, ev->key, false);
	for (i = 3; i-- > 0;)
		if (ev->mods & mods[i].mod)
			i8042_key(vc.kbd, mods[i].key, false);
}

/*
 * The keys waiting in the BIOS's ring, with its head and tail in *raw;
 * -1 when the BIOS data area holds no ring of SeaBIOS's shape.
 */
static int
bios_keys(uint32_t *raw)
{
	const uint8_t *p = mem_gpa_to_hva(&vc.vm->mem, BDA_KBD_HEAD, 4);
	const uint8_t *q = mem_gpa_to_hva(&vc.vm->mem, BDA_KBD_START, 4);
	unsigned head, tail, start, end;

	if (p == NULL || q == NULL)
		return -1;
	head = p[0] | (unsigned)p[1] << 8;
	tail = p[2] | (unsigned)p[3] << 8;
	start = q[0] | (unsigned)q[1] << 8;
	end = q[2] | (unsigned)q[3] << 8;
	if (start != 0x1e || end != 0x3e || head < start || head >= end ||
	    tail < start || tail >= end || ((head | tail) & 1))
		return -1;
	*raw = head | tail << 16;
	return (int)((tail + (end - start) - head) % (end - start)) / 2;
}

/* Presses to the keyboard as fast as the guest takes them (above). */
static void
pace(void *opaque)
{
	uint32_t raw = 0;
	uint64_t now;
	int n;
	bool ring;

	(void)opaque;
	while (vc.plen > 0 && vc.kbd != NULL) {
		n = bios_keys(&raw);
		ring = n >= 0 && !(vc.stale_set && raw == vc.stale);
		if (ring && raw != vc.last) {
			vc.last = raw;          /* the guest took or got a key */
			vc.stalls = 0;
			vc.held_since = 0;      /* the wait starts again */
		}
		if (ring && (i8042_pending(vc.kbd) > 0 || n >= KEYS_AHEAD)) {
			now = clock_ns();
			if (vc.held_since == 0)
				vc.held_since = now;
			if (now - vc.held_since < HOLD_NS) {
				evloop_timer_mod(vc.pace, now + PACE_NS);
				return;
			}
			/* One press through for each HOLD_NS the ring stands
			 * still; after STALLS of them it is nobody's. */
			if (++vc.stalls >= STALLS) {
				vc.stale = raw;
				vc.stale_set = true;
			}
		}
		vc.held_since = 0;
		send_press(&vc.pq[vc.phead]);
		vc.phead = (vc.phead + 1) % PRESSQ;
		vc.plen--;
		if (ring && vc.plen > 0) {
			/* The next once the guest has taken this one. */
			evloop_timer_mod(vc.pace, clock_ns() + PACE_NS);
			return;
		}
	}
}

static void
press(const struct term_key_ev *ev)
{
	if (vc.kbd == NULL)
		return;
	if (vc.pace == NULL) {
		send_press(ev);
		return;
	}
	if (vc.plen == PRESSQ)
		return;                 /* typed far ahead of the guest */
	vc.pq[(vc.phead + vc.plen++) % PRESSQ] = *ev;
	if (vc.plen == 1)
		pace(NULL);
}

void
vgacon_input(uint8_t b)
{
	struct term_key_ev ev[2];
	size_t i, n = term_keys_feed(&vc.keys, b, ev);

	for (i = 0; i < n; i++)
		press(&ev[i]);
}

void
vgacon_input_end(void)
{
	struct term_key_ev ev[1];

	if (term_keys_flush(&vc.keys, ev))
		press(&ev[0]);
}
