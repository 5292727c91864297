/*
 * The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), enough for Linux's i8042 and atkbd drivers to find a keyboard
 * and for guests to reset the machine through it (command 0xfe, or the
 * output port's bit 0 through command 0xd1).  The auxiliary (mouse) port
 * is reported absent: its test command fails, so psmouse gives up at once.
 * Keyboard input from the terminal is not wired yet (the serial console is
 * the terminal); i8042_push_scancode is where it would enter.
 */
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

struct kbc {
	struct vm *vm;
	uint8_t cmdbyte;
	uint8_t pending_cmd;    /* controller command awaiting a data byte */
	uint8_t kbd_cmd;        /* keyboard command awaiting a parameter */
	uint8_t status;
	uint8_t q[QLEN];
	int qhead, qlen;
	int level;
};

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

static void
kbd_command(struct kbc *k, uint8_t v)
{
	if (k->kbd_cmd) {
		/* The parameter of LEDs (0xed), typematic (0xf3), scan set
		 * (0xf0): acknowledged; set 0 reads back set 2. */
		if (k->kbd_cmd == 0xf0 && v == 0) {
			push(k, 0xfa);
			push(k, 0x02);
		} else {
			push(k, 0xfa);
		}
		k->kbd_cmd = 0;
		return;
	}
	switch (v) {
	case 0xff: /* reset */
		push(k, 0xfa);
		push(k, 0xaa);
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
