/*
 * The standard VGA with the Bochs VBE ("DISPI") extensions, PCI 1234:1111
 * like QEMU's stdvga, so Debian's vgabios-stdvga.bin (SeaBIOS's VGA BIOS)
 * drives it: the ISA registers at 0x3b4/0x3ba and 0x3c0-0x3df, the legacy
 * window 0xa0000-0xbffff, the DISPI index/data ports 0x1ce/0x1cf and a
 * 16 MiB linear framebuffer in BAR 0.  arg: none.
 *
 * Display memory is one 16 MiB array.  The four VGA planes interleave in
 * its first 256 KiB: byte b of plane p is vram[b * 4 + p], so a chain-4
 * (mode 13h) address is the vram offset itself, the odd/even text layout
 * puts cell i's character at vram[i * 4] and its attribute at
 * vram[i * 4 + 1], and the font is plane 2.  VBE modes use vram linearly,
 * through the LFB or a 64 KiB bank at 0xa0000.
 *
 * The CPU-side memory path follows the VGA register reference (IBM VGA
 * Technical Reference, "Graphics Controller" and "Sequencer"): memory
 * map select, chain-4, odd/even, write modes 0-3 with set/reset, rotate,
 * logical function and bit mask, read modes 0 and 1 with the latches.
 * Every index the guest writes is masked to its register file; every
 * offset is checked against the array.
 */
#include "dev/vga.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "hw/boot.h"
#include "hw/bus.h"
#include "hw/pci.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "util/png.h"
#include "vm/vm.h"

#define VRAM_SIZE (16u << 20)
#define PLANES_SIZE (256u << 10)        /* 4 x 64 KiB */
#define WIN_BASE 0xa0000ULL
#define WIN_SIZE 0x20000ULL

/* Bochs VBE (DISPI) registers, as the Bochs and QEMU VBE BIOS use them. */
#define DISPI_ID 0
#define DISPI_XRES 1
#define DISPI_YRES 2
#define DISPI_BPP 3
#define DISPI_ENABLE 4
#define DISPI_BANK 5
#define DISPI_VIRT_WIDTH 6
#define DISPI_VIRT_HEIGHT 7
#define DISPI_X_OFFSET 8
#define DISPI_Y_OFFSET 9
#define DISPI_VMEM_64K 10
#define DISPI_NREGS 11
#define DISPI_ID0 0xb0c0
#define DISPI_ID5 0xb0c5
#define DISPI_ENABLED 0x01
#define DISPI_GETCAPS 0x02
#define DISPI_8BIT_DAC 0x20
#define DISPI_LFB 0x40
#define DISPI_NOCLEARMEM 0x80
#define DISPI_MAX_XRES 2560
#define DISPI_MAX_YRES 1600

struct vga {
	struct vm *vm;
	struct pci_dev pci;
	uint8_t *vram;
	uint64_t gen;

	uint8_t misc;
	uint8_t sr_idx, sr[8];
	uint8_t gr_idx, gr[16];
	uint8_t cr_idx, cr[32];
	uint8_t ar_idx, ar[32];
	bool ar_flip;                   /* next 0x3c0 write is data */
	uint8_t dac[256][3];
	uint8_t dac_widx, dac_ridx, dac_sub, dac_state, dac_mask;
	uint8_t latch[4];
	uint8_t st1;                    /* input status 1 toggles */
	uint8_t feature;

	uint16_t dispi_idx, dispi[DISPI_NREGS];
};

static bool
dispi_on(const struct vga *v)
{
	return v->dispi[DISPI_ENABLE] & DISPI_ENABLED;
}

/* ---- the ISA registers -------------------------------------------------- */

static bool
crtc_port_ok(const struct vga *v, uint16_t port)
{
	/* Misc bit 0 selects the colour (0x3dx) or mono (0x3bx) ports. */
	return ((port & 0xf0) == 0xd0) == ((v->misc & 1) != 0);
}

static uint8_t
reg_read(struct vga *v, uint16_t port)
{
	uint8_t r;

	switch (port) {
	case 0x3c0:
		return v->ar_idx;
	case 0x3c1:
		return v->ar[v->ar_idx & 0x1f];
	case 0x3c2:
		return 0x10;            /* input status 0: switch sense */
	case 0x3c4:
		return v->sr_idx;
	case 0x3c5:
		return v->sr[v->sr_idx & 7];
	case 0x3c6:
		return v->dac_mask;
	case 0x3c7:
		return v->dac_state;
	case 0x3c8:
		return v->dac_widx;
	case 0x3c9:
		r = v->dac[v->dac_ridx][v->dac_sub];
		if (++v->dac_sub == 3) {
			v->dac_sub = 0;
			v->dac_ridx++;
		}
		return r;
	case 0x3ca:
		return v->feature;
	case 0x3cc:
		return v->misc;
	case 0x3ce:
		return v->gr_idx;
	case 0x3cf:
		return v->gr[v->gr_idx & 0xf];
	case 0x3b4:
	case 0x3d4:
		return crtc_port_ok(v, port) ? v->cr_idx : 0xff;
	case 0x3b5:
	case 0x3d5:
		return crtc_port_ok(v, port) ? v->cr[v->cr_idx & 0x1f] : 0xff;
	case 0x3ba:
	case 0x3da:
		if (!crtc_port_ok(v, port))
			return 0xff;
		/* Display enable and vertical retrace toggle on every read,
		 * so a loop waiting for either ends. */
		v->ar_flip = false;
		v->st1 ^= 0x09;
		return v->st1;
	default:
		return 0xff;
	}
}

static void
reg_write(struct vga *v, uint16_t port, uint8_t val)
{
	v->gen++;
	switch (port) {
	case 0x3c0:
		if (!v->ar_flip)
			v->ar_idx = val & 0x3f;
		else if ((v->ar_idx & 0x1f) <= 0x14)
			v->ar[v->ar_idx & 0x1f] = val;
		v->ar_flip = !v->ar_flip;
		break;
	case 0x3c2:
		v->misc = val;
		break;
	case 0x3c4:
		v->sr_idx = val & 7;
		break;
	case 0x3c5:
		v->sr[v->sr_idx & 7] = val;
		break;
	case 0x3c6:
		v->dac_mask = val;
		break;
	case 0x3c7:
		v->dac_ridx = val;
		v->dac_sub = 0;
		v->dac_state = 0;
		break;
	case 0x3c8:
		v->dac_widx = val;
		v->dac_sub = 0;
		v->dac_state = 3;
		break;
	case 0x3c9:
		v->dac[v->dac_widx][v->dac_sub] =
		    (v->dispi[DISPI_ENABLE] & DISPI_8BIT_DAC) ? val : val & 0x3f;
		if (++v->dac_sub == 3) {
			v->dac_sub = 0;
			v->dac_widx++;
		}
		break;
	case 0x3ba:
	case 0x3da:
		if (crtc_port_ok(v, port))
			v->feature = val;
		break;
	case 0x3ce:
		v->gr_idx = val & 0xf;
		break;
	case 0x3cf:
		v->gr[v->gr_idx & 0xf] = val;
		break;
	case 0x3b4:
	case 0x3d4:
		if (crtc_port_ok(v, port))
			v->cr_idx = val & 0x1f;
		break;
	case 0x3b5:
	case 0x3d5:
		if (!crtc_port_ok(v, port))
			break;
		/* CR11 bit 7 protects CR0-CR7 (but CR7's line compare bit). */
		if ((v->cr[0x11] & 0x80) && v->cr_idx <= 7) {
			if (v->cr_idx == 7)
				v->cr[7] = (uint8_t)((v->cr[7] & ~0x10) |
				    (val & 0x10));
			break;
		}
		v->cr[v->cr_idx & 0x1f] = val;
		break;
	default:
		break;
	}
}

/* Word and dword accesses are consecutive byte ports (out dx, ax to
 * 0x3c4 writes the index and then the data). */
static uint64_t
isa_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *v = opaque;
	uint64_t val = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		val |= (uint64_t)reg_read(v, (uint16_t)(0x3b0 + off + i)) <<
		    (8 * i);
	return val;
}

static void
isa_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	unsigned i;

	for (i = 0; i < size; i++)
		reg_write(v, (uint16_t)(0x3b0 + off + i),
		    (uint8_t)(val >> (8 * i)));
}

/* ---- Bochs VBE ---------------------------------------------------------- */

static uint64_t
dispi_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *v = opaque;
	unsigned i = v->dispi_idx;

	(void)size;
	if (off == 0)
		return v->dispi_idx;
	if (i >= DISPI_NREGS)
		return 0;
	if (v->dispi[DISPI_ENABLE] & DISPI_GETCAPS) {
		if (i == DISPI_XRES)
			return DISPI_MAX_XRES;
		if (i == DISPI_YRES)
			return DISPI_MAX_YRES;
		if (i == DISPI_BPP)
			return 32;
	}
	if (i == DISPI_VMEM_64K)
		return VRAM_SIZE >> 16;
	return v->dispi[i];
}

static unsigned
dispi_bytepp(const struct vga *v)
{
	return (v->dispi[DISPI_BPP] + 7u) / 8u;
}

static void
dispi_enable(struct vga *v, uint16_t val)
{
	unsigned bpp = v->dispi[DISPI_BPP];
	uint64_t need;

	if (!(val & DISPI_ENABLED)) {
		v->dispi[DISPI_ENABLE] = val;
		return;
	}
	if (bpp != 4 && bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 &&
	    bpp != 32)
		bpp = v->dispi[DISPI_BPP] = 8;
	if (v->dispi[DISPI_XRES] == 0 || v->dispi[DISPI_YRES] == 0 ||
	    v->dispi[DISPI_XRES] > DISPI_MAX_XRES ||
	    v->dispi[DISPI_YRES] > DISPI_MAX_YRES) {
		v->dispi[DISPI_XRES] = 640;
		v->dispi[DISPI_YRES] = 480;
	}
	v->dispi[DISPI_VIRT_WIDTH] = v->dispi[DISPI_XRES];
	v->dispi[DISPI_VIRT_HEIGHT] = v->dispi[DISPI_YRES];
	v->dispi[DISPI_X_OFFSET] = v->dispi[DISPI_Y_OFFSET] = 0;
	need = (uint64_t)v->dispi[DISPI_XRES] * v->dispi[DISPI_YRES] *
	    dispi_bytepp(v);
	if (need > VRAM_SIZE) {
		log_debug(LOG_DEV, "vga: VBE mode %ux%ux%u does not fit",
		    v->dispi[DISPI_XRES], v->dispi[DISPI_YRES], bpp);
		return;
	}
	if (!(val & DISPI_NOCLEARMEM))
		memset(v->vram, 0, need);
	v->dispi[DISPI_ENABLE] = val;
	/* Graphics, chain-4 through the window, as the VBE BIOS expects. */
	v->gr[6] = (uint8_t)((v->gr[6] & ~0x0c) | 0x05);
	v->sr[4] |= 0x08;
}

static void
dispi_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	uint16_t x = (uint16_t)val;

	(void)size;
	v->gen++;
	if (off == 0) {
		v->dispi_idx = x;
		return;
	}
	switch (v->dispi_idx) {
	case DISPI_ID:
		if (x >= DISPI_ID0 && x <= DISPI_ID5)
			v->dispi[DISPI_ID] = x;
		break;
	case DISPI_XRES:
	case DISPI_YRES:
	case DISPI_BPP:
		if (!dispi_on(v))
			v->dispi[v->dispi_idx] = x;
		break;
	case DISPI_ENABLE:
		dispi_enable(v, x);
		break;
	case DISPI_BANK:
		if ((uint32_t)x << 16 < VRAM_SIZE)
			v->dispi[DISPI_BANK] = x;
		break;
	case DISPI_VIRT_WIDTH:
	case DISPI_VIRT_HEIGHT:
	case DISPI_X_OFFSET:
	case DISPI_Y_OFFSET:
		v->dispi[v->dispi_idx] = x;
		break;
	default:
		break;
	}
}

/* ---- the legacy window -------------------------------------------------- */

/* The window offset for guest address 0xa0000 + off, or -1 when the
 * memory map select (GR6 bits 2-3) does not decode it. */
static long
win_offset(const struct vga *v, uint64_t off)
{
	switch ((v->gr[6] >> 2) & 3) {
	case 0:
		return (long)off;
	case 1:
		return off < 0x10000 ? (long)off : -1;
	case 2:
		return off >= 0x10000 && off < 0x18000 ?
		    (long)(off - 0x10000) : -1;
	default:
		return off >= 0x18000 ? (long)(off - 0x18000) : -1;
	}
}

static bool
odd_even(const struct vga *v)
{
	return !(v->sr[4] & 0x04) || (v->gr[5] & 0x10);
}

static uint8_t
mem_readb(struct vga *v, uint64_t woff)
{
	long a = win_offset(v, woff);
	uint32_t p;
	uint8_t r = 0;
	int i;

	if (a < 0)
		return 0xff;
	if (dispi_on(v)) {
		p = ((uint32_t)v->dispi[DISPI_BANK] << 16) + (uint32_t)a;
		return a < 0x10000 && p < VRAM_SIZE ? v->vram[p] : 0xff;
	}
	if (v->sr[4] & 0x08)
		return (uint32_t)a < PLANES_SIZE ? v->vram[a] : 0xff;
	if (odd_even(v)) {
		p = (((uint32_t)a & ~1u) << 1) | ((uint32_t)a & 1) |
		    (v->gr[4] & 2);
		return p < PLANES_SIZE ? v->vram[p] : 0xff;
	}
	if ((uint32_t)a >= PLANES_SIZE / 4)
		return 0xff;
	memcpy(v->latch, v->vram + a * 4, 4);
	if (!(v->gr[5] & 0x08))
		return v->latch[v->gr[4] & 3];
	/* Read mode 1: a bit is set where every plane that colour don't
	 * care (GR7) names matches its colour compare (GR2) bit. */
	r = 0xff;
	for (i = 0; i < 4; i++)
		if ((v->gr[7] >> i) & 1)
			r &= (uint8_t)~(v->latch[i] ^
			    ((v->gr[2] >> i) & 1 ? 0xff : 0));
	return r;
}

static uint8_t
alu(const struct vga *v, uint8_t x, int plane)
{
	uint8_t l = v->latch[plane];

	switch ((v->gr[3] >> 3) & 3) {
	case 1:
		return x & l;
	case 2:
		return x | l;
	case 3:
		return x ^ l;
	default:
		return x;
	}
}

static void
planar_write(struct vga *v, uint32_t a, uint8_t val)
{
	uint8_t mask = v->gr[8], rot = v->gr[3] & 7, x[4];
	uint8_t r = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7)));
	int i;

	if (a >= PLANES_SIZE / 4)
		return;
	for (i = 0; i < 4; i++) {
		uint8_t sr = (v->gr[0] >> i) & 1 ? 0xff : 0;

		switch (v->gr[5] & 3) {
		case 0:
			x[i] = (v->gr[1] >> i) & 1 ? sr : r;
			x[i] = alu(v, x[i], i);
			x[i] = (uint8_t)((x[i] & mask) | (v->latch[i] & ~mask));
			break;
		case 1:
			x[i] = v->latch[i];
			break;
		case 2:
			x[i] = (val >> i) & 1 ? 0xff : 0;
			x[i] = alu(v, x[i], i);
			x[i] = (uint8_t)((x[i] & mask) | (v->latch[i] & ~mask));
			break;
		default: {
			uint8_t m = r & mask;

			x[i] = alu(v, sr, i);
			x[i] = (uint8_t)((x[i] & m) | (v->latch[i] & ~m));
			break;
		}
		}
	}
	for (i = 0; i < 4; i++)
		if ((v->sr[2] >> i) & 1)
			v->vram[a * 4 + (uint32_t)i] = x[i];
}

static void
mem_writeb(struct vga *v, uint64_t woff, uint8_t val)
{
	long a = win_offset(v, woff);
	uint32_t p;

	if (a < 0)
		return;
	v->gen++;
	if (dispi_on(v)) {
		p = ((uint32_t)v->dispi[DISPI_BANK] << 16) + (uint32_t)a;
		if (a < 0x10000 && p < VRAM_SIZE)
			v->vram[p] = val;
		return;
	}
	if (v->sr[4] & 0x08) {
		if ((uint32_t)a < PLANES_SIZE && ((v->sr[2] >> (a & 3)) & 1))
			v->vram[a] = val;
		return;
	}
	if (odd_even(v)) {
		unsigned plane = ((uint32_t)a & 1) | (v->gr[4] & 2);

		p = (((uint32_t)a & ~1u) << 1) | plane;
		if (p < PLANES_SIZE && ((v->sr[2] >> (a & 1)) & 1))
			v->vram[p] = val;
		return;
	}
	planar_write(v, (uint32_t)a, val);
}

static uint64_t
win_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *v = opaque;
	uint64_t val = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		val |= (uint64_t)mem_readb(v, off + i) << (8 * i);
	return val;
}

static void
win_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	unsigned i;

	for (i = 0; i < size; i++)
		mem_writeb(v, off + i, (uint8_t)(val >> (8 * i)));
}

/* The LFB BAR: vram as it is. */
static uint64_t
lfb_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *v = opaque;
	uint64_t val = 0;

	if (off >= VRAM_SIZE || size > 8 || VRAM_SIZE - off < size)
		return ~0ULL;
	memcpy(&val, v->vram + off, size);
	return val;
}

static void
lfb_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;

	if (off >= VRAM_SIZE || size > 8 || VRAM_SIZE - off < size)
		return;
	v->gen++;
	memcpy(v->vram + off, &val, size);
}

static const struct io_ops isa_ops = { isa_read, isa_write };
static const struct io_ops dispi_ops = { dispi_read, dispi_write };
static const struct io_ops win_ops = { win_read, win_write };
static const struct io_ops lfb_ops = { lfb_read, lfb_write };

/* ---- what the guest shows ----------------------------------------------- */

static unsigned
vde_lines(const struct vga *v)
{
	return (v->cr[0x12] | ((v->cr[7] & 0x02) << 7) |
	    ((v->cr[7] & 0x40) << 3)) + 1u;
}

static unsigned
char_height(const struct vga *v)
{
	return (v->cr[9] & 0x1fu) + 1u;
}

static unsigned
char_width(const struct vga *v)
{
	return (v->sr[1] & 1) ? 8 : 9;
}

uint64_t
vga_generation(struct dev *d)
{
	struct vga *v = d->priv;

	return v->gen;
}

static void
text_screen(const struct vga *v, struct vga_screen *s)
{
	unsigned start = (unsigned)v->cr[0xc] << 8 | v->cr[0xd];
	unsigned cur = (unsigned)v->cr[0xe] << 8 | v->cr[0xf];
	unsigned i, n;

	s->cols = v->cr[1] + 1u;
	s->rows = vde_lines(v) / char_height(v);
	if (s->cols > VGA_TEXT_MAX_COLS)
		s->cols = VGA_TEXT_MAX_COLS;
	if (s->rows > VGA_TEXT_MAX_ROWS)
		s->rows = VGA_TEXT_MAX_ROWS;
	if (s->rows == 0)
		s->rows = 1;
	s->width = s->cols * char_width(v);
	s->height = s->rows * char_height(v);
	s->bpp = 4;
	n = s->cols * s->rows;
	for (i = 0; i < n; i++) {
		uint32_t a = ((start + i) & 0xffffu) * 4u;

		s->cell[i] = (uint16_t)(v->vram[a] | v->vram[a + 1] << 8);
	}
	s->cursor_on = !(v->cr[0xa] & 0x20) && cur >= start &&
	    cur - start < n;
	if (s->cursor_on) {
		s->cursor_col = (cur - start) % s->cols;
		s->cursor_row = (cur - start) / s->cols;
	}
}

void
vga_get_screen(struct dev *d, struct vga_screen *s)
{
	struct vga *v = d->priv;

	memset(s, 0, offsetof(struct vga_screen, cell));
	if (dispi_on(v)) {
		s->width = v->dispi[DISPI_XRES];
		s->height = v->dispi[DISPI_YRES];
		s->bpp = v->dispi[DISPI_BPP];
		return;
	}
	if (!(v->gr[6] & 1)) {
		s->text = true;
		text_screen(v, s);
		return;
	}
	s->height = vde_lines(v);
	if (v->cr[9] & 0x80)
		s->height /= 2;
	if (v->sr[4] & 0x08) {          /* mode 13h style: 8 bpp */
		s->width = (v->cr[1] + 1u) * 4;
		s->bpp = 8;
		if ((v->cr[9] & 0x1f) == 1)
			s->height /= 2;
	} else {
		s->width = (v->cr[1] + 1u) * 8;
		s->bpp = 4;
	}
}

static uint32_t
dac_rgb(const struct vga *v, uint8_t i)
{
	const uint8_t *c = v->dac[i];

	if (v->dispi[DISPI_ENABLE] & DISPI_8BIT_DAC)
		return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
	return (uint32_t)((c[0] << 2) | (c[0] >> 4)) << 16 |
	    (uint32_t)((c[1] << 2) | (c[1] >> 4)) << 8 |
	    (uint32_t)((c[2] << 2) | (c[2] >> 4));
}

/* An attribute-controller colour (0-15) through the palette to RGB. */
static uint32_t
attr_rgb(const struct vga *v, unsigned c)
{
	uint8_t i = v->ar[c & 0xf] & 0x3f;

	if (v->ar[0x10] & 0x80)
		i = (uint8_t)((i & 0x0f) | ((v->ar[0x14] & 0x0f) << 4));
	else
		i = (uint8_t)(i | ((v->ar[0x14] & 0x0c) << 4));
	return dac_rgb(v, i);
}

static void
render_text(const struct vga *v, const struct vga_screen *s, uint32_t *px)
{
	static const uint32_t font_map[8] = { 0x0000, 0x4000, 0x8000, 0xc000,
		0x2000, 0x6000, 0xa000, 0xe000 };
	unsigned cw = char_width(v), ch = char_height(v), r, c, y, x;
	uint32_t font = font_map[(v->sr[3] & 3) | ((v->sr[3] >> 2) & 4)];
	bool blink = v->ar[0x10] & 0x08;

	for (r = 0; r < s->rows; r++)
		for (c = 0; c < s->cols; c++) {
			uint16_t cell = s->cell[r * s->cols + c];
			uint8_t chr = (uint8_t)cell, at = (uint8_t)(cell >> 8);
			uint32_t fg = attr_rgb(v, at & 0xf);
			uint32_t bg = attr_rgb(v, blink ? (at >> 4) & 7 :
			    at >> 4);
			bool cur = s->cursor_on && r == s->cursor_row &&
			    c == s->cursor_col;

			for (y = 0; y < ch; y++) {
				uint32_t fa = (font + chr * 32u + y) * 4u + 2u;
				uint8_t bits = fa < PLANES_SIZE ? v->vram[fa] : 0;
				unsigned cs = v->cr[0xa] & 0x1f;
				unsigned ce = v->cr[0xb] & 0x1f;
				uint32_t *row = px + ((size_t)(r * ch + y) *
				    s->width) + c * cw;

				if (cur && y >= cs && y <= ce)
					bits = 0xff;
				for (x = 0; x < cw; x++) {
					bool on = x < 8 ? (bits >> (7 - x)) & 1 :
					    (chr >= 0xc0 && chr <= 0xdf &&
					    (v->ar[0x10] & 0x04) && (bits & 1));

					row[x] = on ? fg : bg;
				}
			}
		}
}

static void
render_graphics(const struct vga *v, const struct vga_screen *s,
    uint32_t *px)
{
	unsigned x, y, w = s->width, h = s->height;

	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++) {
			uint32_t p = 0;
			uint64_t o;

			if (dispi_on(v)) {
				unsigned bpp = dispi_bytepp(v);
				uint16_t p16;

				o = ((uint64_t)y * v->dispi[DISPI_VIRT_WIDTH] +
				    x) * bpp;
				if (v->dispi[DISPI_BPP] == 4)
					o = ((uint64_t)y *
					    v->dispi[DISPI_VIRT_WIDTH] + x) / 2;
				if (o + bpp > VRAM_SIZE)
					continue;
				switch (v->dispi[DISPI_BPP]) {
				case 32:
				case 24:
					p = (uint32_t)v->vram[o + 2] << 16 |
					    (uint32_t)v->vram[o + 1] << 8 |
					    v->vram[o];
					break;
				case 16:
					memcpy(&p16, v->vram + o, 2);
					p = (uint32_t)((p16 >> 11) * 255 / 31)
					    << 16 | (uint32_t)(((p16 >> 5) &
					    63) * 255 / 63) << 8 |
					    (uint32_t)((p16 & 31) * 255 / 31);
					break;
				case 15:
					memcpy(&p16, v->vram + o, 2);
					p = (uint32_t)(((p16 >> 10) & 31) *
					    255 / 31) << 16 |
					    (uint32_t)(((p16 >> 5) & 31) *
					    255 / 31) << 8 |
					    (uint32_t)((p16 & 31) * 255 / 31);
					break;
				default:
					p = dac_rgb(v, v->vram[o]);
					break;
				}
			} else if (s->bpp == 8) {
				o = (uint64_t)y * w + x;
				if (o < PLANES_SIZE)
					p = dac_rgb(v, v->vram[o]);
			} else {
				unsigned c = 0, i;

				o = ((uint64_t)y * (w / 8) + x / 8) * 4;
				if (o + 4 > PLANES_SIZE)
					continue;
				for (i = 0; i < 4; i++)
					c |= ((v->vram[o + i] >> (7 - x % 8)) &
					    1u) << i;
				p = attr_rgb(v, c);
			}
			px[(size_t)y * w + x] = p;
		}
}

int
vga_render(struct dev *d, uint32_t **px, unsigned *w, unsigned *h,
    struct vm_err *err)
{
	struct vga *v = d->priv;
	struct vga_screen *s = malloc(sizeof(*s));
	uint32_t *buf;

	if (s == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	vga_get_screen(d, s);
	if (s->width == 0 || s->height == 0 || s->width > 4096 ||
	    s->height > 4096) {
		free(s);
		return vm_err_set(err, -ENODATA, "the display is not set up "
		    "(no video mode)");
	}
	buf = calloc((size_t)s->width * s->height, sizeof(*buf));
	if (buf == NULL) {
		free(s);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	if (s->text)
		render_text(v, s, buf);
	else
		render_graphics(v, s, buf);
	*px = buf;
	*w = s->width;
	*h = s->height;
	free(s);
	return 0;
}

int
vga_screendump(struct dev *d, const char *path, struct vm_err *err)
{
	uint32_t *px;
	unsigned w, h;
	int ret = vga_render(d, &px, &w, &h, err);

	if (ret < 0)
		return ret;
	ret = png_write_rgb(path, px, w, h, err);
	free(px);
	return ret;
}

/* ---- text mode 3 without a BIOS ------------------------------------------ */

/* The standard register values of mode 3 (80x25 text, 9x16 cells), as
 * the IBM VGA BIOS's parameter table has them, and the EGA-compatible
 * 64-colour DAC: each index's bits are r g b R G B (2/3 and 1/3 of full
 * intensity). */
static void
set_mode3(struct vga *v)
{
	static const uint8_t sr[5] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
	static const uint8_t cr[25] = { 0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81,
		0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00,
		0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff };
	static const uint8_t gr[9] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
		0x0e, 0x00, 0xff };
	static const uint8_t ar[21] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
		0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
		0x0c, 0x00, 0x0f, 0x08, 0x00 };
	unsigned i;

	v->misc = 0x67;
	memcpy(v->sr, sr, sizeof(sr));
	memcpy(v->cr, cr, sizeof(cr));
	memcpy(v->gr, gr, sizeof(gr));
	memcpy(v->ar, ar, sizeof(ar));
	v->ar_idx = 0x20;
	for (i = 0; i < 64; i++) {
		v->dac[i][0] = (uint8_t)(((i >> 2) & 1) * 0x2a +
		    ((i >> 5) & 1) * 0x15);
		v->dac[i][1] = (uint8_t)(((i >> 1) & 1) * 0x2a +
		    ((i >> 4) & 1) * 0x15);
		v->dac[i][2] = (uint8_t)((i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
	}
	for (i = 0; i < 80 * 25; i++) {
		v->vram[i * 4] = ' ';
		v->vram[i * 4 + 1] = 0x07;
	}
}

/*
 * The 8x16 font for plane 2 when no BIOS loads one: the VGA BIOS file's
 * own, found by the IBM font's "A" (char 0x41, 16 bytes), which the
 * whole 256-glyph table surrounds.  Without it the glyphs stay blank
 * (the terminal console does not need them; a screendump does).
 */
static void
load_rom_font(struct vga *v)
{
	static const uint8_t glyph_a[16] = { 0x00, 0x00, 0x10, 0x38, 0x6c,
		0xc6, 0xc6, 0xfe, 0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00,
		0x00 };
	uint8_t *rom = NULL, *p;
	uint64_t len;
	size_t off;
	unsigned c, y;

	if (boot_read_file("/usr/share/seabios/vgabios-stdvga.bin", 1u << 20,
	    &rom, &len, NULL) < 0)
		return;
	p = memmem(rom, len, glyph_a, sizeof(glyph_a));
	off = p ? (size_t)(p - rom) : 0;
	if (p != NULL && off >= 0x41 * 16 && off - 0x41 * 16 + 4096 <= len) {
		off -= 0x41 * 16;
		for (c = 0; c < 256; c++)
			for (y = 0; y < 16; y++)
				v->vram[(c * 32 + y) * 4 + 2] =
				    rom[off + c * 16 + y];
	}
	free(rom);
}

/* ---- the device ----------------------------------------------------------- */

static void
vga_reset(struct dev *d)
{
	struct vga *v = d->priv;

	v->misc = 0x01;                 /* colour ports until the BIOS says */
	memset(v->sr, 0, sizeof(v->sr));
	memset(v->gr, 0, sizeof(v->gr));
	memset(v->cr, 0, sizeof(v->cr));
	memset(v->ar, 0, sizeof(v->ar));
	memset(v->dispi, 0, sizeof(v->dispi));
	v->dispi[DISPI_ID] = DISPI_ID5;
	v->dac_mask = 0xff;
	v->gen++;
}

static int
vga_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct vga *v = d->priv;
	int ret;

	(void)arg;
	v->vm = vm;
	if (vm->pci == NULL)
		return vm_err_set(err, -EINVAL, "vga: the board has no PCI");
	v->vram = calloc(1, VRAM_SIZE);
	if (v->vram == NULL)
		return vm_err_set(err, -ENOMEM, "vga: out of memory");
	vga_reset(d);
	/* No firmware to set a mode (a direct kernel boot): text mode 3,
	 * as a BIOS would leave it. */
	if (vm->bios == NULL) {
		set_mode3(v);
		load_rom_font(v);
	}
	ret = pci_dev_init(vm->pci, &v->pci, "vga", -1, 0x1234, 0x1111,
	    0x030000, err);
	if (ret < 0)
		return ret;
	v->pci.opaque = v;
	pci_bar_init(&v->pci, 0, PCI_BAR_MEM32, VRAM_SIZE, &lfb_ops, v);
	/* 0x3b0-0x3df as one range; 0x3b0-0x3b3 and the rest read 0xff. */
	ret = bus_map(vm->pio, 0x3b0, 0x30, &isa_ops, v, "vga", err);
	if (ret == 0)
		ret = bus_map(vm->pio, 0x1ce, 3, &dispi_ops, v, "vga-vbe",
		    err);
	if (ret == 0)
		ret = bus_map(vm->mmio, WIN_BASE, WIN_SIZE, &win_ops, v,
		    "vga-window", err);
	return ret;
}

static void
vga_unrealize(struct dev *d)
{
	struct vga *v = d->priv;

	if (v->pci.bus != NULL)
		pci_dev_remove(&v->pci);
	free(v->vram);
	v->vram = NULL;
}

/*
 * Snapshots: the registers, the DAC, the latches, the VBE registers, and
 * VRAM as a bitmap of its non-zero 4 KiB pages followed by those pages
 * (a text screen is a few pages of 4096).  A loaded VBE mode is checked
 * as a guest's write of it would be.
 */
#define VRAM_PAGE 4096u
#define VRAM_PAGES (VRAM_SIZE / VRAM_PAGE)

static bool
vram_page_zero(const uint8_t *p)
{
	static const uint8_t zero[256];
	unsigned i;

	for (i = 0; i < VRAM_PAGE; i += sizeof(zero))
		if (memcmp(p + i, zero, sizeof(zero)) != 0)
			return false;
	return true;
}

static int
vga_state(struct dev *d, struct snap_vis *vis)
{
	struct vga *v = d->priv;
	uint8_t map[VRAM_PAGES / 8];
	unsigned i, bpp;
	uint64_t need;

	pci_dev_state(&v->pci, vis);
	snap_u8(vis, "misc", &v->misc);
	snap_u8(vis, "sr_idx", &v->sr_idx);
	snap_bytes(vis, "sr", v->sr, sizeof(v->sr));
	snap_u8(vis, "gr_idx", &v->gr_idx);
	snap_bytes(vis, "gr", v->gr, sizeof(v->gr));
	snap_u8(vis, "cr_idx", &v->cr_idx);
	snap_bytes(vis, "cr", v->cr, sizeof(v->cr));
	snap_u8(vis, "ar_idx", &v->ar_idx);
	snap_bytes(vis, "ar", v->ar, sizeof(v->ar));
	snap_bool(vis, "ar_flip", &v->ar_flip);
	snap_bytes(vis, "dac", v->dac, sizeof(v->dac));
	snap_u8(vis, "dac_widx", &v->dac_widx);
	snap_u8(vis, "dac_ridx", &v->dac_ridx);
	snap_u8(vis, "dac_sub", &v->dac_sub);
	snap_check(vis, v->dac_sub < 3, "dac_sub", "past a DAC entry's 3 colours");
	snap_u8(vis, "dac_state", &v->dac_state);
	snap_u8(vis, "dac_mask", &v->dac_mask);
	snap_bytes(vis, "latch", v->latch, sizeof(v->latch));
	snap_u8(vis, "st1", &v->st1);
	snap_u8(vis, "feature", &v->feature);
	snap_u16(vis, "dispi_idx", &v->dispi_idx);
	snap_u16_array(vis, "dispi", v->dispi, DISPI_NREGS);
	if (vis->load && !vis->failed) {
		snap_check(vis, (uint32_t)v->dispi[DISPI_BANK] << 16 < VRAM_SIZE,
		    "dispi", "the VBE bank is past VRAM");
		bpp = v->dispi[DISPI_BPP];
		need = (uint64_t)v->dispi[DISPI_XRES] * v->dispi[DISPI_YRES] *
		    dispi_bytepp(v);
		if (dispi_on(v))
			snap_check(vis, (bpp == 4 || bpp == 8 || bpp == 15 ||
			    bpp == 16 || bpp == 24 || bpp == 32) &&
			    v->dispi[DISPI_XRES] != 0 &&
			    v->dispi[DISPI_YRES] != 0 &&
			    v->dispi[DISPI_XRES] <= DISPI_MAX_XRES &&
			    v->dispi[DISPI_YRES] <= DISPI_MAX_YRES &&
			    need <= VRAM_SIZE, "dispi",
			    "the VBE mode is not one the card takes");
	}
	memset(map, 0, sizeof(map));
	if (!vis->load)
		for (i = 0; i < VRAM_PAGES; i++)
			if (!vram_page_zero(v->vram + (size_t)i * VRAM_PAGE))
				map[i / 8] |= (uint8_t)(1u << (i % 8));
	snap_bytes(vis, "vram_map", map, sizeof(map));
	for (i = 0; i < VRAM_PAGES && !vis->failed; i++) {
		static uint8_t scratch[VRAM_PAGE];      /* a dry load's */
		uint8_t *pg = vis->dry ? scratch :
		    v->vram + (size_t)i * VRAM_PAGE;

		if (map[i / 8] & (1u << (i % 8)))
			snap_bytes(vis, "vram", pg, VRAM_PAGE);
		else if (vis->load && !vis->dry)
			memset(pg, 0, VRAM_PAGE);
	}
	if (vis->load && !vis->failed && !vis->dry)
		v->gen++;
	return vis->failed;
}

static int
vga_post_load(struct dev *d, struct vm_err *err)
{
	struct vga *v = d->priv;

	(void)err;
	pci_dev_post_load(&v->pci);
	v->gen++;
	return 0;
}

const struct dev_type vga_type = {
	.name = "vga",
	.desc = "standard VGA with Bochs VBE (PCI 1234:1111)",
	.priv_size = sizeof(struct vga),
	.realize = vga_realize,
	.reset = vga_reset,
	.unrealize = vga_unrealize,
	.state = vga_state,
	.state_version = 1,
	.post_load = vga_post_load,
};
