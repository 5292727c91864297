/*
 * The i8254 programmable interval timer (Intel 82C54 data sheet) at ports
 * 0x40-0x43, and port 0x61 (port B: channel 2 gate and output, speaker,
 * the refresh toggle).  Counters are computed from the host clock at
 * 1.193182 MHz rather than ticked: reading a count is arithmetic on the
 * time elapsed since it was loaded.  Channel 0 raises IRQ 0 from an
 * event-loop timer: periodically in modes 2 and 3 (deadline by deadline,
 * so it does not drift), once in modes 0, 1, 4 and 5.  Channel 2's output
 * is what Linux reads through port 0x61 bit 5 to calibrate its clocks.
 * Used with the DBT; KVM has its own in-kernel PIT.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/i8254.h"
#include "hw/bus.h"
#include "hw/irqchip.h"
#include "hw/irq.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "vm/vm.h"

#define PIT_HZ 1193182ULL

struct pit {
	struct vm *vm;
	struct pc_pit_ch ch[3];
	uint8_t portb;
	struct ev_timer *timer;
	uint64_t next;          /* ns of channel 0's next IRQ */
};

static uint64_t
ticks_since(const struct pc_pit_ch *c, uint64_t now)
{
	return (uint64_t)((unsigned __int128)(now - c->start) * PIT_HZ /
	    1000000000ULL);
}

static uint64_t
ns_for(uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000000ULL / PIT_HZ);
}

static uint16_t
count_of(const struct pc_pit_ch *c, uint64_t now)
{
	uint64_t t;

	if (!c->loaded)
		return 0;
	t = ticks_since(c, now);
	switch (c->mode) {
	case 2:
	case 3:
		return (uint16_t)(c->reload - t % c->reload);
	default:
		return (uint16_t)((c->reload - t) & 0xffff);
	}
}

static bool
out_of(const struct pc_pit_ch *c, uint64_t now)
{
	uint64_t t;

	if (!c->loaded)
		return c->mode != 0;
	t = ticks_since(c, now);
	switch (c->mode) {
	case 0:
		return t >= c->reload;
	case 2:
		return t % c->reload != c->reload - 1;
	case 3:
		return t % c->reload < (c->reload + 1) / 2;
	default:
		return t != c->reload;
	}
}

static void
arm(struct pit *p)
{
	struct pc_pit_ch *c = &p->ch[0];

	if (!c->loaded) {
		evloop_timer_del(p->timer);
		return;
	}
	p->next = c->start + ns_for(c->reload);
	evloop_timer_mod(p->timer, p->next);
}

static void
fire(void *opaque)
{
	struct pit *p = opaque;
	struct pc_pit_ch *c = &p->ch[0];
	uint64_t now = clock_ns();

	if (!c->loaded)
		return;
	irq_pulse(&p->vm->irq, PC_IRQ_PIT);
	if (c->mode == 2 || c->mode == 3) {
		p->next += ns_for(c->reload);
		if (p->next + 100000000ULL < now)
			p->next = now + ns_for(c->reload); /* fell behind */
		evloop_timer_mod(p->timer, p->next);
	}
}

static void
load(struct pit *p, int n, uint32_t v)
{
	struct pc_pit_ch *c = &p->ch[n];

	c->reload = v ? v : 65536;
	c->start = clock_ns();
	c->loaded = true;
	if (n == 0)
		arm(p);
}

static uint64_t
pit_read(void *opaque, uint64_t off, unsigned size)
{
	struct pit *p = opaque;
	struct pc_pit_ch *c;
	uint16_t v;
	uint8_t r;

	(void)size;
	if (off > 2)
		return 0xff;
	c = &p->ch[off];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	v = c->latched ? c->latch : count_of(c, clock_ns());
	switch (c->rw) {
	case 1:
		c->latched = false;
		return v & 0xff;
	case 2:
		c->latched = false;
		return v >> 8;
	default:
		r = c->lsb_next ? (uint8_t)(v >> 8) : (uint8_t)v;
		if (c->lsb_next)
			c->latched = false;
		c->lsb_next = !c->lsb_next;
		return r;
	}
}

static void
pit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pit *p = opaque;
	uint8_t v = (uint8_t)val;
	struct pc_pit_ch *c;
	int n, k;

	(void)size;
	if (off == 3) {
		n = v >> 6;
		if (n == 3) { /* read-back */
			for (k = 0; k < 3; k++) {
				if (!(v & (2u << k)))
					continue;
				c = &p->ch[k];
				if (!(v & 0x20) && !c->latched) {
					c->latch = count_of(c, clock_ns());
					c->latched = true;
				}
				if (!(v & 0x10)) {
					c->status = (uint8_t)((out_of(c,
					    clock_ns()) ? 0x80 : 0) |
					    (c->rw << 4) | (c->mode << 1) |
					    c->bcd);
					c->status_latched = true;
				}
			}
			return;
		}
		c = &p->ch[n];
		if (((v >> 4) & 3) == 0) { /* counter latch */
			if (!c->latched) {
				c->latch = count_of(c, clock_ns());
				c->latched = true;
				c->lsb_next = false;
			}
			return;
		}
		c->rw = (v >> 4) & 3;
		c->mode = (v >> 1) & 7;
		if (c->mode > 5)
			c->mode -= 4;
		c->bcd = v & 1;
		c->loaded = false;
		c->latched = false;
		c->lsb_next = false;
		c->wlsb_next = false;
		if (n == 0)
			evloop_timer_del(p->timer);
		return;
	}
	c = &p->ch[off];
	switch (c->rw) {
	case 1:
		load(p, (int)off, v);
		break;
	case 2:
		load(p, (int)off, (uint32_t)v << 8);
		break;
	default:
		if (!c->wlsb_next) {
			c->wlow = v;
			c->wlsb_next = true;
		} else {
			c->wlsb_next = false;
			load(p, (int)off, c->wlow | ((uint32_t)v << 8));
		}
		break;
	}
}

static uint64_t
portb_read(void *opaque, uint64_t off, unsigned size)
{
	struct pit *p = opaque;
	uint64_t now = clock_ns();
	uint8_t v = p->portb & 0x0f;

	(void)off;
	(void)size;
	if (out_of(&p->ch[2], now))
		v |= 0x20;
	/* Refresh request toggles every 15 us. */
	if ((now / 15000) & 1)
		v |= 0x10;
	return v;
}

static void
portb_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pit *p = opaque;
	bool gate = val & 1;

	(void)off;
	(void)size;
	if (gate && !p->ch[2].gate && p->ch[2].loaded)
		p->ch[2].start = clock_ns(); /* rising gate restarts it */
	p->ch[2].gate = gate;
	p->portb = (uint8_t)val & 0x0f;
}

static const struct io_ops pit_ops = { pit_read, pit_write };
static const struct io_ops portb_ops = { portb_read, portb_write };

static int
pit_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct pit *p = d->priv;
	int ret;

	(void)arg;
	p->vm = vm;
	p->timer = evloop_timer_new(vm->loop, fire, p);
	if (p->timer == NULL)
		return vm_err_set(err, -ENOMEM, "%s: no timer", d->id);
	ret = bus_map(vm->pio, PC_PORT_PIT, 4, &pit_ops, p, "pit", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_PORTB, 1, &portb_ops, p,
		    "port-b", err);
	return ret;
}

static void
pit_unrealize(struct dev *d)
{
	struct pit *p = d->priv;

	evloop_timer_free(p->timer);
}

/* The walk of the PIT's section: the three channels, port B, channel 0's
 * next IRQ (also how a back end with an in-kernel PIT saves one). */
int
i8254_state_walk(struct pc_pit_ch ch[3], uint8_t *portb, uint64_t *next,
    struct snap_vis *v)
{
	char n[48];
	int i;

	for (i = 0; i < 3; i++) {
		struct pc_pit_ch *c = &ch[i];

#define F(f) (snprintf(n, sizeof(n), "ch%d.%s", i, f), n)
		snap_u8(v, F("mode"), &c->mode);
		snap_check(v, c->mode <= 5, n, "not a PIT mode");
		snap_u8(v, F("rw"), &c->rw);
		snap_check(v, c->rw <= 3, n, "not an access mode");
		snap_u8(v, F("bcd"), &c->bcd);
		snap_u32(v, F("reload"), &c->reload);
		snap_check(v, c->reload <= 65536 &&
		    (c->reload >= 1 || !c->loaded), n,
		    "outside 1..65536 on a loaded channel");
		snap_time(v, F("start"), &c->start);
		snap_bool(v, F("loaded"), &c->loaded);
		snap_bool(v, F("latched"), &c->latched);
		snap_u16(v, F("latch"), &c->latch);
		snap_bool(v, F("lsb_next"), &c->lsb_next);
		snap_bool(v, F("wlsb_next"), &c->wlsb_next);
		snap_u8(v, F("wlow"), &c->wlow);
		snap_bool(v, F("gate"), &c->gate);
		snap_bool(v, F("status_latched"), &c->status_latched);
		snap_u8(v, F("status"), &c->status);
#undef F
	}
	snap_u8(v, "portb", portb);
	snap_time(v, "next", next);
	return v->failed;
}

static int
pit_state(struct dev *d, struct snap_vis *v)
{
	struct pit *p = d->priv;

	return i8254_state_walk(p->ch, &p->portb, &p->next, v);
}

/* Channel 0's timer from the restored times. */
static int
pit_post_load(struct dev *d, struct vm_err *err)
{
	struct pit *p = d->priv;

	(void)err;
	if (p->ch[0].loaded && p->next != 0)
		evloop_timer_mod(p->timer, p->next);
	else
		evloop_timer_del(p->timer);
	return 0;
}

const struct dev_type i8254_type = {
	.name = "i8254",
	.desc = "i8254 PIT and port B",
	.priv_size = sizeof(struct pit),
	.realize = pit_realize,
	.unrealize = pit_unrealize,
	.state = pit_state,
	.state_version = 1,
	.post_load = pit_post_load,
};
