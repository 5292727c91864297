/*
 * The 16550A UART (National Semiconductor PC16550D data sheet): the eight
 * registers with DLAB banking, 16-byte FIFOs with trigger levels, the four
 * interrupt sources in priority order (line status, received data or
 * timeout, THR empty, modem status), loopback, scratch.
 *
 * Input flow control (shared/DESIGN.md 4): bytes are pulled from the
 * chardev only while the RX FIFO has room and only once the guest has
 * receive interrupts enabled, the sign that a driver has the port open
 * for reading.  Linux programs the FIFO, and clears it, when it probes the
 * port, when its boot console starts and each time the tty is opened, all
 * with receive interrupts off, and anything fed then would vanish.  Its
 * probe also sets every IER bit for an instant to see whether the
 * register exists, so a write to IER alone never pulls input: the next
 * access to another register does, or the arrival of input.
 *
 * A guest that polls for input without interrupts (OVMF's console, GRUB's
 * serial terminal) gives another sign: it reads LSR over and over
 * (POLL_READS times) with nothing written to THR, IER or FCR in between,
 * where Linux's polled console output writes THR after each LSR read.
 * While it polls, one byte is pulled each time the FIFO is empty, so at
 * most one byte that the poller saw no more waits there when an OS driver
 * takes the port over and clears the FIFO.
 *
 * Output goes to the chardev as each byte is written: a THR write
 * "transmits" at once, so THRE is always set.
 */
#include "dev/uart16550.h"

#include <errno.h>
#include <string.h>

#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/chardev.h"
#include "hw/irq.h"
#include "snap/snap.h"
#include "util/err.h"
#include "vm/vm.h"

#define FIFO_SIZE 16
#define POLL_READS 16           /* LSR reads in a row: a polling reader */

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct uart {
	struct vm *vm;
	struct chardev *cd;
	unsigned gsi;
	uint16_t base;
	struct {
		uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
		uint16_t divisor;
		uint8_t rx[FIFO_SIZE];
		uint8_t rx_head, rx_count;
		bool thr_pending;       /* THRE interrupt armed */
	} r;
	int level;
	unsigned lsr_polls;     /* LSR reads since THR, IER or FCR was written */
};

static uint8_t
iir(struct uart *u)
{
	uint8_t fifo = (u->r.fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->r.ier & IER_RLSI) && (u->r.lsr & LSR_OE))
		return IIR_RLSI | fifo;
	if ((u->r.ier & IER_RDI) && u->r.rx_count > 0) {
		/* Without a real receive timeout, any data in the FIFO
		 * counts: the guest would otherwise wait for a timeout
		 * interrupt that never comes. */
		return IIR_RDI | fifo;
	}
	if ((u->r.ier & IER_THRI) && u->r.thr_pending)
		return IIR_THRI | fifo;
	if ((u->r.ier & IER_MSI) && (u->r.msr & 0x0f))
		return IIR_MSI | fifo;
	return IIR_NO_INT | fifo;
}

static void
update_irq(struct uart *u)
{
	int level = !(iir(u) & IIR_NO_INT);

	/* On a PC, OUT2 gates the UART's interrupt onto the ISA line. */
	if (!(u->r.mcr & MCR_OUT2))
		level = 0;
	if (level != u->level) {
		u->level = level;
		irq_set(&u->vm->irq, u->gsi, level);
	}
}

/* Pull input into the RX FIFO while there is room. */
static void
fill_rx(struct uart *u)
{
	uint8_t buf[FIFO_SIZE];
	size_t room, n, i;

	if (u->cd == NULL || u->cd->read == NULL || (u->r.mcr & MCR_LOOP))
		return;
	if (u->r.ier & IER_RDI)
		room = (u->r.fcr & FCR_ENABLE) ? FIFO_SIZE - u->r.rx_count :
		    (u->r.rx_count ? 0 : 1);
	else if (u->lsr_polls >= POLL_READS)
		room = u->r.rx_count ? 0 : 1;
	else
		return;
	if (room == 0)
		return;
	n = u->cd->read(u->cd, buf, room);
	for (i = 0; i < n; i++) {
		u->r.rx[(u->r.rx_head + u->r.rx_count) % FIFO_SIZE] = buf[i];
		u->r.rx_count++;
	}
	if (u->r.rx_count)
		u->r.lsr |= LSR_DR;
}

static void
rx_push(struct uart *u, uint8_t b)
{
	if (u->r.rx_count == FIFO_SIZE) {
		u->r.lsr |= LSR_OE;
		return;
	}
	u->r.rx[(u->r.rx_head + u->r.rx_count) % FIFO_SIZE] = b;
	u->r.rx_count++;
	u->r.lsr |= LSR_DR;
}

static void
input_ready(void *opaque)
{
	struct uart *u = opaque;

	fill_rx(u);
	update_irq(u);
}

static uint64_t
uart_read(void *opaque, uint64_t off, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = 0xff;

	if (off == 5 && u->lsr_polls < POLL_READS)
		u->lsr_polls++;
	if (off != 1 || (u->r.lcr & LCR_DLAB))
		fill_rx(u);
	switch (off) {
	case 0:
		if (u->r.lcr & LCR_DLAB) {
			v = (uint8_t)u->r.divisor;
			break;
		}
		v = 0;
		if (u->r.rx_count) {
			v = u->r.rx[u->r.rx_head];
			u->r.rx_head = (u->r.rx_head + 1) % FIFO_SIZE;
			u->r.rx_count--;
		}
		if (u->r.rx_count == 0)
			u->r.lsr &= (uint8_t)~LSR_DR;
		fill_rx(u);
		break;
	case 1:
		v = (u->r.lcr & LCR_DLAB) ? (uint8_t)(u->r.divisor >> 8) :
		    u->r.ier;
		break;
	case 2:
		v = iir(u);
		/* Reading IIR while it reports THRE clears that source. */
		if ((v & 0x0f) == IIR_THRI)
			u->r.thr_pending = false;
		break;
	case 3:
		v = u->r.lcr;
		break;
	case 4:
		v = u->r.mcr;
		break;
	case 5:
		v = u->r.lsr | LSR_THRE | LSR_TEMT;
		u->r.lsr &= (uint8_t)~LSR_OE;
		break;
	case 6:
		if (u->r.mcr & MCR_LOOP) {
			v = (uint8_t)(((u->r.mcr & MCR_RTS) ? MSR_CTS : 0) |
			    ((u->r.mcr & MCR_DTR) ? MSR_DSR : 0) |
			    ((u->r.mcr & MCR_OUT1) ? MSR_RI : 0) |
			    ((u->r.mcr & MCR_OUT2) ? MSR_DCD : 0));
		} else {
			v = MSR_DCD | MSR_DSR | MSR_CTS | (u->r.msr & 0x0f);
		}
		u->r.msr &= 0xf0;
		break;
	case 7:
		v = u->r.scr;
		break;
	}
	update_irq(u);
	(void)size;
	return v;
}

static void
uart_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = (uint8_t)val, b;

	(void)size;
	if (off == 2 || (off < 2 && !(u->r.lcr & LCR_DLAB)))
		u->lsr_polls = 0;       /* THR, IER or FCR */
	switch (off) {
	case 0:
		if (u->r.lcr & LCR_DLAB) {
			u->r.divisor = (uint16_t)((u->r.divisor & 0xff00) | v);
			break;
		}
		if (u->r.mcr & MCR_LOOP) {
			rx_push(u, v);
		} else if (u->cd != NULL && u->cd->write != NULL) {
			b = v;
			u->cd->write(u->cd, &b, 1);
		}
		u->r.thr_pending = true;
		break;
	case 1:
		if (u->r.lcr & LCR_DLAB) {
			u->r.divisor = (uint16_t)((u->r.divisor & 0xff) |
			    (v << 8));
			break;
		}
		/* Enabling THRI with an empty THR raises it at once. */
		if ((v & IER_THRI) && !(u->r.ier & IER_THRI))
			u->r.thr_pending = true;
		u->r.ier = v & 0x0f;
		break;
	case 2:
		if (v & FCR_CLEAR_RX) {
			u->r.rx_count = 0;
			u->r.rx_head = 0;
			u->r.lsr &= (uint8_t)~LSR_DR;
		}
		u->r.fcr = v & 0xc9;
		break;
	case 3:
		u->r.lcr = v;
		break;
	case 4:
		u->r.mcr = v & 0x1f;
		break;
	case 5:
	case 6:
		break;
	case 7:
		u->r.scr = v;
		break;
	}
	if (off != 1 || (u->r.lcr & LCR_DLAB))
		fill_rx(u);
	update_irq(u);
}

static const struct io_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

static void
uart_reset(struct dev *d)
{
	struct uart *u = d->priv;

	memset(&u->r, 0, sizeof(u->r));
	u->lsr_polls = 0;
	u->r.lsr = LSR_THRE | LSR_TEMT;
	u->r.divisor = 12; /* 9600 baud */
	if (u->level) {
		u->level = 0;
		irq_set(&u->vm->irq, u->gsi, 0);
	}
}

static int
uart_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	const struct uart_args *a = arg;
	struct uart *u = d->priv;

	if (a == NULL)
		return vm_err_set(err, -EINVAL, "%s: no configuration", d->id);
	u->vm = vm;
	u->cd = a->cd;
	u->gsi = a->gsi;
	u->base = a->base;
	uart_reset(d);
	if (u->cd != NULL) {
		u->cd->notify = input_ready;
		u->cd->frontend = u;
	}
	return bus_map(vm->pio, a->base, 8, &uart_ops, u, d->id, err);
}

static void
uart_unrealize(struct dev *d)
{
	struct uart *u = d->priv;

	bus_unmap(u->vm->pio, u->base);
	if (u->cd != NULL && u->cd->frontend == u) {
		u->cd->notify = NULL;
		u->cd->frontend = NULL;
	}
}

/* Snapshots: the registers and the RX FIFO (bytes the guest has not read
 * yet); the chardev's own queue stays with vm-run. */
static int
uart_state(struct dev *d, struct snap_vis *v)
{
	struct uart *u = d->priv;

	snap_u8(v, "ier", &u->r.ier);
	snap_u8(v, "lcr", &u->r.lcr);
	snap_u8(v, "mcr", &u->r.mcr);
	snap_u8(v, "lsr", &u->r.lsr);
	snap_u8(v, "msr", &u->r.msr);
	snap_u8(v, "scr", &u->r.scr);
	snap_u8(v, "fcr", &u->r.fcr);
	snap_u16(v, "divisor", &u->r.divisor);
	snap_bytes(v, "rx", u->r.rx, sizeof(u->r.rx));
	snap_u8(v, "rx_head", &u->r.rx_head);
	snap_check(v, u->r.rx_head < FIFO_SIZE, "rx_head", "past the FIFO");
	snap_u8(v, "rx_count", &u->r.rx_count);
	snap_check(v, u->r.rx_count <= FIFO_SIZE, "rx_count",
	    "more than the FIFO holds");
	snap_bool(v, "thr_pending", &u->r.thr_pending);
	snap_int(v, "level", &u->level, 0, 1);
	return v->failed;
}

/* Input that waited while the VM was being restored comes in now. */
static int
uart_post_load(struct dev *d, struct vm_err *err)
{
	(void)err;
	input_ready(d->priv);
	return 0;
}

const struct dev_type uart16550_type = {
	.name = "uart16550",
	.desc = "16550A UART",
	.priv_size = sizeof(struct uart),
	.realize = uart_realize,
	.reset = uart_reset,
	.unrealize = uart_unrealize,
	.state = uart_state,
	.state_version = 1,
	.post_load = uart_post_load,
};
