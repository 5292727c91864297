/*
 * The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), enough for Linux's i8042 and atkbd drivers to find a keyboard
 * and for guests to reset the machine through it (command 0xfe, or the
 * output port's bit 0 through command 0xd1).  The auxiliary (mouse) port
 * is reported absent: its test command fails, so psmouse gives up at once.
 * Keyboard input (i8042.h) comes from vm-run's VGA console as key
 * presses; the keyboard makes scan set 2 codes (or set 1 if the guest
 * picked it) and the controller translates them to set 1 when its
 * command byte says so (bit 6), which is how SeaBIOS, boot loaders and
 * Linux's atkbd use it.  Keys wait in the keyboard's own buffer and go
 * to the output buffer one byte at a time, as the guest reads them.
 */
#include "dev/i8042.h"

#include <errno.h>

#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/irq.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "vm/vm.h"

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_KEYLOCK 0x10
#define CB_KBD_INT 0x01
#define CB_SYS 0x04
#define CB_KBD_DISABLE 0x10
#define CB_AUX_DISABLE 0x20
#define CB_XLATE 0x40
#define QLEN 16
#define KEYQ 512

/* Scancodes per key: set 1 and set 2 make codes, and whether an E0
 * prefix comes first (IBM PS/2 keyboard technical reference). */
struct scan {
	uint8_t s1, s2, e0;
};

static const struct scan scans[TK_COUNT] = {
	[TK_A] = { 0x1e, 0x1c, 0 }, [TK_B] = { 0x30, 0x32, 0 },
	[TK_C] = { 0x2e, 0x21, 0 }, [TK_D] = { 0x20, 0x23, 0 },
	[TK_E] = { 0x12, 0x24, 0 }, [TK_F] = { 0x21, 0x2b, 0 },
	[TK_G] = { 0x22, 0x34, 0 }, [TK_H] = { 0x23, 0x33, 0 },
	[TK_I] = { 0x17, 0x43, 0 }, [TK_J] = { 0x24, 0x3b, 0 },
	[TK_K] = { 0x25, 0x42, 0 }, [TK_L] = { 0x26, 0x4b, 0 },
	[TK_M] = { 0x32, 0x3a, 0 }, [TK_N] = { 0x31, 0x31, 0 },
	[TK_O] = { 0x18, 0x44, 0 }, [TK_P] = { 0x19, 0x4d, 0 },
	[TK_Q] = { 0x10, 0x15, 0 }, [TK_R] = { 0x13, 0x2d, 0 },
	[TK_S] = { 0x1f, 0x1b, 0 }, [TK_T] = { 0x14, 0x2c, 0 },
	[TK_U] = { 0x16, 0x3c, 0 }, [TK_V] = { 0x2f, 0x2a, 0 },
	[TK_W] = { 0x11, 0x1d, 0 }, [TK_X] = { 0x2d, 0x22, 0 },
	[TK_Y] = { 0x15, 0x35, 0 }, [TK_Z] = { 0x2c, 0x1a, 0 },
	[TK_1] = { 0x02, 0x16, 0 }, [TK_2] = { 0x03, 0x1e, 0 },
	[TK_3] = { 0x04, 0x26, 0 }, [TK_4] = { 0x05, 0x25, 0 },
	[TK_5] = { 0x06, 0x2e, 0 }, [TK_6] = { 0x07, 0x36, 0 },
	[TK_7] = { 0x08, 0x3d, 0 }, [TK_8] = { 0x09, 0x3e, 0 },
	[TK_9] = { 0x0a, 0x46, 0 }, [TK_0] = { 0x0b, 0x45, 0 },
	[TK_MINUS] = { 0x0c, 0x4e, 0 }, [TK_EQUAL] = { 0x0d, 0x55, 0 },
	[TK_LBRACKET] = { 0x1a, 0x54, 0 }, [TK_RBRACKET] = { 0x1b, 0x5b, 0 },
	[TK_BACKSLASH] = { 0x2b, 0x5d, 0 }, [TK_SEMICOLON] = { 0x27, 0x4c, 0 },
	[TK_APOSTROPHE] = { 0x28, 0x52, 0 }, [TK_GRAVE] = { 0x29, 0x0e, 0 },
	[TK_COMMA] = { 0x33, 0x41, 0 }, [TK_DOT] = { 0x34, 0x49, 0 },
	[TK_SLASH] = { 0x35, 0x4a, 0 }, [TK_SPACE] = { 0x39, 0x29, 0 },
	[TK_ENTER] = { 0x1c, 0x5a, 0 }, [TK_BACKSPACE] = { 0x0e, 0x66, 0 },
	[TK_TAB] = { 0x0f, 0x0d, 0 }, [TK_ESC] = { 0x01, 0x76, 0 },
	[TK_UP] = { 0x48, 0x75, 1 }, [TK_DOWN] = { 0x50, 0x72, 1 },
	[TK_LEFT] = { 0x4b, 0x6b, 1 }, [TK_RIGHT] = { 0x4d, 0x74, 1 },
	[TK_HOME] = { 0x47, 0x6c, 1 }, [TK_END] = { 0x4f, 0x69, 1 },
	[TK_PGUP] = { 0x49, 0x7d, 1 }, [TK_PGDN] = { 0x51, 0x7a, 1 },
	[TK_INSERT] = { 0x52, 0x70, 1 }, [TK_DELETE] = { 0x53, 0x71, 1 },
	[TK_F1] = { 0x3b, 0x05, 0 }, [TK_F2] = { 0x3c, 0x06, 0 },
	[TK_F3] = { 0x3d, 0x04, 0 }, [TK_F4] = { 0x3e, 0x0c, 0 },
	[TK_F5] = { 0x3f, 0x03, 0 }, [TK_F6] = { 0x40, 0x0b, 0 },
	[TK_F7] = { 0x41, 0x83, 0 }, [TK_F8] = { 0x42, 0x0a, 0 },
	[TK_F9] = { 0x43, 0x01, 0 }, [TK_F10] = { 0x44, 0x09, 0 },
	[TK_F11] = { 0x57, 0x78, 0 }, [TK_F12] = { 0x58, 0x07, 0 },
	[TK_LSHIFT] = { 0x2a, 0x12, 0 }, [TK_LCTRL] = { 0x1d, 0x14, 0 },
	[TK_LALT] = { 0x38, 0x11, 0 },
};

struct kbc {
	struct vm *vm;
	uint8_t cmdbyte;
	uint8_t pending_cmd;    /* controller command awaiting a data byte */
	uint8_t kbd_cmd;        /* keyboard command awaiting a parameter */
	uint8_t status;
	uint8_t q[QLEN];
	int qhead, qlen;
	int level;
	uint8_t scan_set;       /* the keyboard's: 1 or 2 */
	bool scanning;          /* keyboard enabled (0xf4) */
	uint8_t keyq[KEYQ];     /* the keyboard's bytes not yet sent */
	unsigned khead, klen;
};

size_t
i8042_scancode(enum term_key key, bool down, int set, uint8_t *out)
{
	const struct scan *s;
	size_t n = 0;

	if ((unsigned)key >= TK_COUNT || key == TK_NONE)
		return 0;
	s = &scans[key];
	if (s->s1 == 0)
		return 0;
	if (s->e0)
		out[n++] = 0xe0;
	if (set == 1) {
		out[n++] = (uint8_t)(s->s1 | (down ? 0 : 0x80));
	} else {
		if (!down)
			out[n++] = 0xf0;
		out[n++] = s->s2;
	}
	return n;
}

static void
update_irq(struct kbc *k)
{
	int level = k->qlen > 0 && (k->cmdbyte & CB_KBD_INT);

	if (level != k->level) {
		k->level = level;
		irq_set(&k->vm->irq, PC_IRQ_KBD, level);
	}
}

static void
push(struct kbc *k, uint8_t b)
{
	if (k->qlen == QLEN)
		return;
	k->q[(k->qhead + k->qlen) % QLEN] = b;
	k->qlen++;
	update_irq(k);
}

/* The keyboard sends its next byte when the output buffer is empty and
 * the controller lets it (command byte bit 4 clear). */
static void
kbd_feed(struct kbc *k)
{
	if (k->qlen || k->klen == 0 || (k->cmdbyte & CB_KBD_DISABLE) ||
	    !k->scanning)
		return;
	push(k, k->keyq[k->khead]);
	k->khead = (k->khead + 1) % KEYQ;
	k->klen--;
}

void
i8042_key(struct dev *d, enum term_key key, bool down)
{
	struct kbc *k = d->priv;
	uint8_t b[4];
	int set = (k->cmdbyte & CB_XLATE) ? 1 : k->scan_set;
	size_t n = i8042_scancode(key, down, set, b), i;

	if (KEYQ - k->klen < n)
		return;                 /* the keyboard's buffer overflows */
	for (i = 0; i < n; i++)
		k->keyq[(k->khead + k->klen++) % KEYQ] = b[i];
	kbd_feed(k);
}

size_t
i8042_pending(struct dev *d)
{
	const struct kbc *k = d->priv;

	return k->klen + (size_t)k->qlen;
}

static void
kbd_command(struct kbc *k, uint8_t v)
{
	if (k->kbd_cmd) {
		/* The parameter of LEDs (0xed), typematic (0xf3), scan set
		 * (0xf0): acknowledged; set 0 reads back set 2. */
		if (k->kbd_cmd == 0xf0 && v == 0) {
			push(k, 0xfa);
			push(k, k->scan_set);
		} else if (k->kbd_cmd == 0xf0 && (v == 1 || v == 2)) {
			k->scan_set = v;
			push(k, 0xfa);
		} else {
			push(k, 0xfa);
		}
		k->kbd_cmd = 0;
		return;
	}
	switch (v) {
	case 0xff: /* reset */
		k->scan_set = 2;
		k->scanning = true;
		k->klen = 0;
		push(k, 0xfa);
		push(k, 0xaa);
		break;
	case 0xf4: /* enable scanning */
		k->scanning = true;
		push(k, 0xfa);
		break;
	case 0xf5: /* disable (and defaults) */
		k->scanning = false;
		push(k, 0xfa);
		break;
	case 0xf6: /* defaults */
		k->scan_set = 2;
		push(k, 0xfa);
		break;
	case 0xf2: /* identify */
		push(k, 0xfa);
		push(k, 0xab);
		push(k, 0x83);
		break;
	case 0xed:
	case 0xf3:
	case 0xf0:
		k->kbd_cmd = v;
		push(k, 0xfa);
		break;
	case 0xee: /* echo */
		push(k, 0xee);
		break;
	default: /* enable, disable, defaults, ... */
		push(k, 0xfa);
		break;
	}
}

static uint64_t
status_read(void *opaque, uint64_t off, unsigned size)
{
	struct kbc *k = opaque;

	(void)off;
	(void)size;
	return k->status | (k->qlen ? ST_OBF : 0) | ST_KEYLOCK;
}

static uint64_t
data_read(void *opaque, uint64_t off, unsigned size)
{
	struct kbc *k = opaque;
	uint8_t v;

	(void)off;
	(void)size;
	if (k->qlen == 0)
		return 0;
	v = k->q[k->qhead];
	k->qhead = (k->qhead + 1) % QLEN;
	k->qlen--;
	/* ISA IRQ 1 is edge-triggered and a driver reads one byte per
	 * interrupt: the line drops with each read and rises again for the
	 * next byte, as the controller loads its output buffer anew. */
	if (k->level) {
		k->level = 0;
		irq_set(&k->vm->irq, PC_IRQ_KBD, 0);
	}
	update_irq(k);
	kbd_feed(k);
	return v;
}

static void
kbc_command(struct kbc *k, uint8_t v)
{
	switch (v) {
	case 0x20:
		push(k, k->cmdbyte);
		break;
	case 0x60:
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xd4:
		k->pending_cmd = v;
		break;
	case 0xa7:
		k->cmdbyte |= CB_AUX_DISABLE;
		break;
	case 0xa8:
		k->cmdbyte &= (uint8_t)~CB_AUX_DISABLE;
		break;
	case 0xa9: /* aux interface test: clock line stuck low = absent */
		push(k, 0x01);
		break;
	case 0xaa: /* self test */
		k->status |= ST_SYS;
		push(k, 0x55);
		break;
	case 0xab: /* keyboard interface test */
		push(k, 0x00);
		break;
	case 0xad:
		k->cmdbyte |= CB_KBD_DISABLE;
		break;
	case 0xae:
		k->cmdbyte &= (uint8_t)~CB_KBD_DISABLE;
		kbd_feed(k);
		break;
	case 0xd0:
		push(k, 0x03); /* output port: A20 on, not in reset */
		break;
	case 0xfe:
		vm_request_exit(k->vm, VM_EXIT_RESET, 0,
		    "reset through the keyboard controller");
		break;
	default:
		break;
	}
}

static void
cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct kbc *k = opaque;

	(void)off;
	(void)size;
	k->status |= ST_CMD;
	kbc_command(k, (uint8_t)val);
}

static void
data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct kbc *k = opaque;
	uint8_t v = (uint8_t)val;

	(void)off;
	(void)size;
	k->status &= (uint8_t)~ST_CMD;
	switch (k->pending_cmd) {
	case 0x60:
		k->cmdbyte = v;
		update_irq(k);
		kbd_feed(k);
		break;
	case 0xd1:
		if (!(v & 1))
			vm_request_exit(k->vm, VM_EXIT_RESET, 0,
			    "reset through the keyboard controller");
		break;
	case 0xd2:
		push(k, v);
		break;
	case 0xd3:
	case 0xd4:
		/* No mouse: the aux port does not answer. */
		break;
	default:
		kbd_command(k, v);
		break;
	}
	k->pending_cmd = 0;
}

static const struct io_ops data_ops = { data_read, data_write };
static const struct io_ops cmd_ops = { status_read, cmd_write };

static int
kbc_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct kbc *k = d->priv;

	(void)arg;
	k->vm = vm;
	k->cmdbyte = CB_KBD_INT | CB_SYS | CB_XLATE | CB_AUX_DISABLE;
	k->status = ST_SYS;
	k->scan_set = 2;
	k->scanning = true;
	/* 0x60..0x64 minus 0x61 (port B, the PIT's): map the two ports. */
	if (bus_map(vm->pio, PC_PORT_I8042_DATA, 1, &data_ops, k, "i8042-data",
	    err) < 0)
		return err ? err->code : -EINVAL;
	return bus_map(vm->pio, PC_PORT_I8042_CMD, 1, &cmd_ops, k,
	    "i8042-cmd", err);
}

static int
kbc_state(struct dev *d, struct snap_vis *v)
{
	struct kbc *k = d->priv;

	snap_u8(v, "cmdbyte", &k->cmdbyte);
	snap_u8(v, "pending_cmd", &k->pending_cmd);
	snap_u8(v, "kbd_cmd", &k->kbd_cmd);
	snap_u8(v, "status", &k->status);
	snap_bytes(v, "q", k->q, sizeof(k->q));
	snap_int(v, "qhead", &k->qhead, 0, QLEN - 1);
	snap_int(v, "qlen", &k->qlen, 0, QLEN);
	snap_int(v, "level", &k->level, 0, 1);
	return v->failed;
}

const struct dev_type i8042_type = {
	.name = "i8042",
	.desc = "i8042 keyboard controller",
	.priv_size = sizeof(struct kbc),
	.realize = kbc_realize,
	.state = kbc_state,
	.state_version = 1,
};
