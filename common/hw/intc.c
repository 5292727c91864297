/*
 * User-space interrupt controllers for the DBT (hw/intc.h): two cascaded
 * 8259A PICs (Intel 8259A data sheet), the 82093AA IOAPIC (its data
 * sheet; version 0x20 with 24 pins) and one local APIC per vCPU (Intel SDM
 * vol. 3, chapter 11: xAPIC registers, LVT, timer in one-shot, periodic
 * and TSC-deadline modes, IPIs with INIT/SIPI).
 *
 * Routing: ISA IRQ n drives PIC pin n and IOAPIC pin n (IRQ 0: pin 2);
 * GSIs 16..23 drive the IOAPIC only.  PIC output reaches CPU 0 when its
 * LAPIC is disabled or LINT0 is unmasked in ExtINT mode (virtual wire).
 * The IOAPIC treats "level" as "asserted", whatever the polarity bit says,
 * as QEMU's does: devices assert with 1.
 *
 * The APIC timer counts at the crystal clock CPUID leaf 0x15 announces
 * (1 GHz, as KVM's and QEMU's APIC timers count), so Linux takes its
 * period from CPUID and needs no calibration, and firmware that assumes
 * QEMU's rate (OVMF's 10 ms tick is 10,000,000 counts) ticks on time.
 * Locking: everything runs under the VM I/O lock; each LAPIC keeps an
 * atomic "may have an interrupt" summary for the CPU's lock-free peek.
 */
#include "hw/intc.h"

#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "hw/bus.h"
#include "hw/irqchip.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "vm/vm.h"

#define APIC_HZ 1000000000ULL   /* CPUID 0x15 crystal */

/* LAPIC register indexes (offset >> 4). */
#define R_ID 0x02
#define R_VER 0x03
#define R_TPR 0x08
#define R_PPR 0x0a
#define R_EOI 0x0b
#define R_LDR 0x0d
#define R_DFR 0x0e
#define R_SVR 0x0f
#define R_ISR 0x10
#define R_TMR 0x18
#define R_IRR 0x20
#define R_ESR 0x28
#define R_ICR_LO 0x30
#define R_ICR_HI 0x31
#define R_LVT_TIMER 0x32
#define R_LVT_THERM 0x33
#define R_LVT_PERF 0x34
#define R_LINT0 0x35
#define R_LINT1 0x36
#define R_LVT_ERR 0x37
#define R_TMICT 0x38
#define R_TMCCT 0x39
#define R_TDCR 0x3e
#define LVT_MASK (1u << 16)

struct pic {
	struct intc *ic;
	uint8_t irr, isr, imr, base, elcr, lines;
	uint8_t step;           /* 0 = ready, 2..4 = expecting ICW2..4 */
	bool icw4, single, auto_eoi, read_isr;
};

struct lapic {
	struct intc *ic;
	int cpu;
	uint32_t reg[64];
	uint64_t base;          /* IA32_APIC_BASE */
	uint64_t timer_start;   /* ns */
	uint64_t timer_next;    /* ns of the next expiry, 0 = idle */
	uint64_t tsc_deadline;
	struct ev_timer *timer;
	atomic_bool maybe;      /* an interrupt may be deliverable */
	atomic_bool nmi;
	int init_sipi;          /* 0, 1 INIT, 2 SIPI */
	bool sipi_after_init;   /* a SIPI came while INIT was pending */
	uint8_t sipi_vec;
};

struct intc {
	struct vm *vm;
	int ncpus;
	struct pic pic[2];
	struct {
		uint32_t id;
		uint8_t sel;
		uint64_t redir[24];
		uint32_t lines;
	} io;
	struct lapic *lapic;
	intc_kick_fn kick;
	void *kick_opaque;
	uint64_t (*tsc)(void *);
	void *tsc_opaque;
};

/* ---- bit vectors -------------------------------------------------------- */

static bool
vtest(const uint32_t *r, unsigned v)
{
	return (r[v >> 5] >> (v & 31)) & 1;
}

static void
vset(uint32_t *r, unsigned v)
{
	r[v >> 5] |= 1u << (v & 31);
}

static void
vclr(uint32_t *r, unsigned v)
{
	r[v >> 5] &= ~(1u << (v & 31));
}

/* Highest set vector in a 256-bit register (ISR, TMR, IRR: eight
 * consecutive 32-bit registers of reg[]), or -1. */
static int
vhigh(const uint32_t *r)
{
	int k;

	for (k = 7; k >= 0; k--)
		if (r[k])
			return k * 32 + 31 - __builtin_clz(r[k]);
	return -1;
}

/* ---- LAPIC -------------------------------------------------------------- */

static bool
lapic_enabled(const struct lapic *l)
{
	return (l->base & (1u << 11)) && (l->reg[R_SVR] & 0x100);
}

static unsigned
ppr(const struct lapic *l)
{
	int isrv = vhigh(&l->reg[R_ISR]);
	unsigned tpr = l->reg[R_TPR] & 0xff;

	if (isrv < 0 || (tpr & 0xf0) >= ((unsigned)isrv & 0xf0))
		return tpr;
	return (unsigned)isrv & 0xf0;
}

static int pic_output(struct intc *ic);

static bool
extint_route(struct intc *ic, struct lapic *l)
{
	if (l->cpu != 0)
		return false;
	if (!(l->base & (1u << 11)) || !(l->reg[R_SVR] & 0x100))
		return true;
	return !(l->reg[R_LINT0] & LVT_MASK) &&
	    ((l->reg[R_LINT0] >> 8) & 7) == 7;
}

static int
lapic_deliverable(struct lapic *l)
{
	int irrv = vhigh(&l->reg[R_IRR]);

	if (irrv >= 0 && ((unsigned)irrv & 0xf0) > (ppr(l) & 0xf0))
		return irrv;
	return -1;
}

static void
update(struct lapic *l)
{
	struct intc *ic = l->ic;
	bool m = lapic_deliverable(l) >= 0 ||
	    (extint_route(ic, l) && pic_output(ic) >= 0) ||
	    atomic_load(&l->nmi) || l->init_sipi;

	atomic_store(&l->maybe, m);
	if (m && ic->kick)
		ic->kick(ic->kick_opaque, l->cpu);
}

static void
lapic_accept(struct lapic *l, unsigned vec, bool level)
{
	if (vec < 16)
		return;
	vset(&l->reg[R_IRR], vec);
	if (level)
		vset(&l->reg[R_TMR], vec);
	else
		vclr(&l->reg[R_TMR], vec);
	update(l);
}

static void ioapic_eoi(struct intc *ic, unsigned vec);

static void
lapic_eoi(struct lapic *l)
{
	int v = vhigh(&l->reg[R_ISR]);

	if (v < 0)
		return;
	vclr(&l->reg[R_ISR], (unsigned)v);
	if (vtest(&l->reg[R_TMR], (unsigned)v))
		ioapic_eoi(l->ic, (unsigned)v);
	update(l);
}

static uint64_t
timer_period_ns(const struct lapic *l)
{
	uint32_t d = l->reg[R_TDCR];
	unsigned k = ((d >> 1) & 4) | (d & 3);
	uint64_t div = k == 7 ? 1 : 2ULL << k;

	return (uint64_t)l->reg[R_TMICT] * div * (1000000000ULL / APIC_HZ);
}

static unsigned
timer_mode(const struct lapic *l)
{
	return (l->reg[R_LVT_TIMER] >> 17) & 3;
}

static void
timer_fire(void *opaque)
{
	struct lapic *l = opaque;
	uint32_t lvt = l->reg[R_LVT_TIMER];
	uint64_t period;

	if (!(lvt & LVT_MASK) && lapic_enabled(l))
		lapic_accept(l, lvt & 0xff, false);
	if (timer_mode(l) == 1 && (period = timer_period_ns(l)) > 0) {
		uint64_t now = clock_ns();

		l->timer_next += period;
		if (l->timer_next < now)
			l->timer_next = now + period;
		evloop_timer_mod(l->timer, l->timer_next);
	} else {
		l->timer_next = 0;
		if (timer_mode(l) == 2)
			l->tsc_deadline = 0;
	}
}

static void
timer_start(struct lapic *l)
{
	uint64_t period = timer_period_ns(l);

	l->timer_start = clock_ns();
	if (period == 0 || timer_mode(l) == 2) {
		l->timer_next = 0;
		evloop_timer_del(l->timer);
		return;
	}
	l->timer_next = l->timer_start + period;
	evloop_timer_mod(l->timer, l->timer_next);
}

static uint32_t
timer_current(const struct lapic *l)
{
	uint64_t period = timer_period_ns(l), el;

	if (period == 0 || l->timer_next == 0 || timer_mode(l) == 2)
		return 0;
	el = clock_ns() - l->timer_start;
	if (timer_mode(l) == 1)
		el %= period;
	else if (el >= period)
		return 0;
	return (uint32_t)((unsigned __int128)(period - el) *
	    l->reg[R_TMICT] / period);
}

static bool
dest_match(struct intc *ic, struct lapic *l, uint32_t dest, bool logical)
{
	(void)ic;
	if (!logical)
		return dest == 0xff || dest == (l->reg[R_ID] >> 24);
	if ((l->reg[R_DFR] >> 28) == 0xf) /* flat */
		return (dest & (l->reg[R_LDR] >> 24)) != 0;
	/* cluster */
	return ((dest >> 4) == (l->reg[R_LDR] >> 28)) &&
	    (dest & (l->reg[R_LDR] >> 24) & 0xf);
}

/* Deliver to the LAPICs a message selects (IOAPIC, MSI, IPI). */
static void
deliver(struct intc *ic, uint32_t dest, bool logical, unsigned mode,
    unsigned vec, bool level, int self, int shorthand)
{
	int k;
	bool lowest = mode == 1;

	for (k = 0; k < ic->ncpus; k++) {
		struct lapic *l = &ic->lapic[k];

		if (shorthand == 1 && k != self)
			continue;
		if (shorthand == 3 && k == self)
			continue;
		if (shorthand == 0 && !dest_match(ic, l, dest, logical))
			continue;
		switch (mode) {
		case 0:
		case 1:
			if (lapic_enabled(l))
				lapic_accept(l, vec, level);
			break;
		case 4:
			atomic_store(&l->nmi, true);
			update(l);
			break;
		case 5:
			l->init_sipi = 1;
			l->sipi_after_init = false;
			update(l);
			break;
		case 6:
			/* INIT and SIPI sent back to back (Linux without its
			 * INIT delay, SeaBIOS) both count: the CPU takes the
			 * INIT, then the SIPI. */
			if (l->init_sipi == 1)
				l->sipi_after_init = true;
			else
				l->init_sipi = 2;
			l->sipi_vec = (uint8_t)vec;
			update(l);
			break;
		}
		if (lowest)
			break;
	}
}

static void
send_ipi(struct lapic *l)
{
	uint32_t lo = l->reg[R_ICR_LO];
	unsigned mode = (lo >> 8) & 7, sh = (lo >> 18) & 3;

	/* INIT level de-assert is a no-op. */
	if (mode == 5 && !(lo & (1u << 14)))
		return;
	deliver(l->ic, l->reg[R_ICR_HI] >> 24, (lo >> 11) & 1, mode,
	    lo & 0xff, false, l->cpu, (int)sh);
}

uint32_t
lapic_mmio_read(struct intc *ic, int cpu, uint32_t off)
{
	struct lapic *l;
	unsigned r = (off >> 4) & 63;

	if (ic == NULL || cpu < 0 || cpu >= ic->ncpus || (off & 0xf))
		return 0;
	l = &ic->lapic[cpu];
	switch (r) {
	case R_PPR:
		return ppr(l);
	case R_TMCCT:
		return timer_current(l);
	case R_EOI:
		return 0;
	}
	return l->reg[r];
}

void
lapic_mmio_write(struct intc *ic, int cpu, uint32_t off, uint32_t v)
{
	struct lapic *l;
	unsigned r = (off >> 4) & 63;

	if (ic == NULL || cpu < 0 || cpu >= ic->ncpus || (off & 0xf))
		return;
	l = &ic->lapic[cpu];
	switch (r) {
	case R_ID:
		l->reg[R_ID] = v & 0xff000000u;
		break;
	case R_TPR:
		l->reg[R_TPR] = v & 0xff;
		update(l);
		break;
	case R_EOI:
		lapic_eoi(l);
		break;
	case R_LDR:
		l->reg[R_LDR] = v & 0xff000000u;
		break;
	case R_DFR:
		l->reg[R_DFR] = v | 0x0fffffffu;
		break;
	case R_SVR:
		l->reg[R_SVR] = v & 0x13ff;
		if (!(v & 0x100)) {
			int k;

			for (k = R_LVT_TIMER; k <= R_LVT_ERR; k++)
				l->reg[k] |= LVT_MASK;
		}
		update(l);
		break;
	case R_ESR:
		l->reg[R_ESR] = 0;
		break;
	case R_ICR_LO:
		l->reg[R_ICR_LO] = v & ~(1u << 12);
		send_ipi(l);
		break;
	case R_ICR_HI:
		l->reg[R_ICR_HI] = v & 0xff000000u;
		break;
	case R_LVT_TIMER:
	case R_LVT_THERM:
	case R_LVT_PERF:
	case R_LINT0:
	case R_LINT1:
	case R_LVT_ERR:
		if (!(l->reg[R_SVR] & 0x100))
			v |= LVT_MASK;
		if (r == R_LVT_TIMER && ((v >> 17) & 3) != timer_mode(l)) {
			l->reg[r] = v;
			l->reg[R_TMICT] = 0;
			l->tsc_deadline = 0;
			l->timer_next = 0;
			evloop_timer_del(l->timer);
		}
		l->reg[r] = v;
		update(l);
		break;
	case R_TMICT:
		if (timer_mode(l) == 2)
			break;
		l->reg[R_TMICT] = v;
		timer_start(l);
		break;
	case R_TDCR:
		l->reg[R_TDCR] = v & 0xb;
		break;
	}
}

int
lapic_msr_read(struct intc *ic, int cpu, uint32_t msr, uint64_t *val)
{
	if (msr == 0x6e0 && cpu >= 0 && cpu < ic->ncpus) {
		*val = ic->lapic[cpu].tsc_deadline;
		return 0;
	}
	return -1;
}

int
lapic_msr_write(struct intc *ic, int cpu, uint32_t msr, uint64_t val)
{
	struct lapic *l;
	uint64_t now_tsc, hz, ns;

	if (msr != 0x6e0 || cpu < 0 || cpu >= ic->ncpus)
		return -1;
	l = &ic->lapic[cpu];
	if (timer_mode(l) != 2)
		return 0;
	l->tsc_deadline = val;
	if (val == 0) {
		evloop_timer_del(l->timer);
		return 0;
	}
	now_tsc = ic->tsc ? ic->tsc(ic->tsc_opaque) : 0;
	hz = cpu_tsc_hz();
	ns = val > now_tsc ? (uint64_t)((unsigned __int128)(val - now_tsc) *
	    1000000000ULL / hz) : 0;
	evloop_timer_mod(l->timer, clock_ns() + ns);
	return 0;
}

uint64_t
lapic_get_base(struct intc *ic, int cpu)
{
	return ic->lapic[cpu].base;
}

void
lapic_set_base(struct intc *ic, int cpu, uint64_t val)
{
	struct lapic *l = &ic->lapic[cpu];

	l->base = (val & ~0x6ffULL & 0xfffff000ULL) | (val & 0x900);
	l->base = (l->base & ~0xfffff000ULL) | LAPIC_BASE;
	update(l);
}

uint8_t
lapic_get_cr8(struct intc *ic, int cpu)
{
	return (uint8_t)((ic->lapic[cpu].reg[R_TPR] >> 4) & 0xf);
}

void
lapic_set_cr8(struct intc *ic, int cpu, uint8_t cr8)
{
	ic->lapic[cpu].reg[R_TPR] = (uint32_t)(cr8 & 0xf) << 4;
	update(&ic->lapic[cpu]);
}

void
lapic_get_page(struct intc *ic, int cpu, uint8_t page[1024])
{
	int k;

	memset(page, 0, 1024);
	for (k = 0; k < 64; k++)
		memcpy(page + k * 16, &ic->lapic[cpu].reg[k], 4);
}

void
lapic_set_page(struct intc *ic, int cpu, const uint8_t page[1024])
{
	int k;

	for (k = 0; k < 64; k++)
		memcpy(&ic->lapic[cpu].reg[k], page + k * 16, 4);
	update(&ic->lapic[cpu]);
}

static void
lapic_reset(struct lapic *l)
{
	int k;

	memset(l->reg, 0, sizeof(l->reg));
	l->reg[R_ID] = (uint32_t)l->cpu << 24;
	l->reg[R_VER] = 0x00050014;
	l->reg[R_DFR] = 0xffffffff;
	l->reg[R_SVR] = 0xff;
	for (k = R_LVT_TIMER; k <= R_LVT_ERR; k++)
		l->reg[k] = LVT_MASK;
	l->base = LAPIC_BASE | (1u << 11) | (l->cpu == 0 ? 1u << 8 : 0);
}

/* ---- PIC ---------------------------------------------------------------- */

static int
pic_pending(const struct pic *p)
{
	uint8_t req = p->irr & ~p->imr;
	int k;

	for (k = 0; k < 8; k++) {
		if (p->isr & (1u << k))
			return -1;      /* a higher or equal one is in service */
		if (req & (1u << k))
			return k;
	}
	return -1;
}

static void pic_update(struct intc *ic);

static int
pic_output(struct intc *ic)
{
	return pic_pending(&ic->pic[0]);
}

static void
pic_set_line(struct intc *ic, int n, unsigned pin, int level)
{
	struct pic *p = &ic->pic[n];
	uint8_t bit = (uint8_t)(1u << pin);
	bool was = p->lines & bit;

	if (level)
		p->lines |= bit;
	else
		p->lines &= (uint8_t)~bit;
	if (p->elcr & bit) {
		if (level)
			p->irr |= bit;
		else
			p->irr &= (uint8_t)~bit;
	} else if (level && !was) {
		p->irr |= bit;
	}
}

static void
pic_update(struct intc *ic)
{
	/* The slave's output is master pin 2 (level). */
	pic_set_line(ic, 0, 2, pic_pending(&ic->pic[1]) >= 0);
	if (ic->lapic != NULL)
		update(&ic->lapic[0]);
}

static int
pic_ack(struct intc *ic)
{
	struct pic *m = &ic->pic[0], *s = &ic->pic[1];
	int n = pic_pending(m), k, vec;

	if (n < 0)
		return m->base | 7; /* spurious */
	if (!(m->elcr & (1u << n)))
		m->irr &= (uint8_t)~(1u << n);
	if (!m->auto_eoi)
		m->isr |= (uint8_t)(1u << n);
	if (n == 2) {
		k = pic_pending(s);
		if (k < 0) {
			vec = s->base | 7;
		} else {
			if (!(s->elcr & (1u << k)))
				s->irr &= (uint8_t)~(1u << k);
			if (!s->auto_eoi)
				s->isr |= (uint8_t)(1u << k);
			vec = s->base | k;
		}
	} else {
		vec = m->base | n;
	}
	pic_update(ic);
	return vec;
}

static uint64_t
pic_read(void *opaque, uint64_t off, unsigned size)
{
	struct pic *p = opaque;

	(void)size;
	if (off == 1)
		return p->imr;
	return p->read_isr ? p->isr : p->irr;
}

static struct intc *pic_owner(struct pic *p);

static void
pic_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pic *p = opaque;
	uint8_t v = (uint8_t)val;
	int k;

	(void)size;
	if (off == 0) {
		if (v & 0x10) { /* ICW1 */
			p->step = 2;
			p->icw4 = v & 1;
			p->single = v & 2;
			p->imr = 0;
			p->isr = 0;
			p->irr = 0;
			p->read_isr = false;
			p->auto_eoi = false;
		} else if (v & 0x08) { /* OCW3 */
			if (v & 2)
				p->read_isr = v & 1;
		} else { /* OCW2 */
			unsigned cmd = v >> 5;

			if (cmd == 1 || cmd == 5) {
				for (k = 0; k < 8; k++)
					if (p->isr & (1u << k)) {
						p->isr &= (uint8_t)~(1u << k);
						break;
					}
			} else if (cmd == 3 || cmd == 7) {
				p->isr &= (uint8_t)~(1u << (v & 7));
			}
		}
	} else {
		switch (p->step) {
		case 2:
			p->base = v & 0xf8;
			p->step = p->single ? (p->icw4 ? 4 : 0) : 3;
			break;
		case 3:
			p->step = p->icw4 ? 4 : 0;
			break;
		case 4:
			p->auto_eoi = v & 2;
			p->step = 0;
			break;
		default:
			p->imr = v;
			break;
		}
	}
	pic_update(pic_owner(p));
}

static uint64_t
elcr_read(void *opaque, uint64_t off, unsigned size)
{
	struct intc *ic = opaque;

	(void)size;
	return ic->pic[off & 1].elcr;
}

static void
elcr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct intc *ic = opaque;

	(void)size;
	/* IRQ 0, 1, 2, 8, 13 are always edge. */
	ic->pic[off & 1].elcr = (uint8_t)val & (off & 1 ? 0xde : 0xf8);
}

static struct intc *
pic_owner(struct pic *p)
{
	return p->ic;
}

/* ---- IOAPIC ------------------------------------------------------------- */

static void
ioapic_service(struct intc *ic, unsigned pin)
{
	uint64_t e = ic->io.redir[pin];
	bool level = (e >> 15) & 1;

	if ((e >> 16) & 1)
		return;
	if (!((ic->io.lines >> pin) & 1))
		return;
	if (level) {
		if (e & (1u << 14))
			return; /* remote IRR: wait for EOI */
		ic->io.redir[pin] |= 1u << 14;
	}
	deliver(ic, (uint32_t)(e >> 56), (e >> 11) & 1, (e >> 8) & 7,
	    e & 0xff, level, -1, 0);
}

static void
ioapic_eoi(struct intc *ic, unsigned vec)
{
	unsigned pin;

	for (pin = 0; pin < 24; pin++) {
		uint64_t e = ic->io.redir[pin];

		if ((e & 0xff) == vec && ((e >> 15) & 1) &&
		    (e & (1u << 14))) {
			ic->io.redir[pin] &= ~(1ULL << 14);
			ioapic_service(ic, pin);
		}
	}
}

static void
ioapic_set(struct intc *ic, unsigned pin, int level)
{
	uint32_t bit = 1u << pin;
	bool was = ic->io.lines & bit;

	if (level)
		ic->io.lines |= bit;
	else
		ic->io.lines &= ~bit;
	if (level && (!was || ((ic->io.redir[pin] >> 15) & 1)))
		ioapic_service(ic, pin);
}

static uint64_t
ioapic_read(void *opaque, uint64_t off, unsigned size)
{
	struct intc *ic = opaque;
	unsigned r = ic->io.sel;

	(void)size;
	if (off == 0)
		return ic->io.sel;
	if (off != 0x10)
		return 0;
	if (r == 0)
		return ic->io.id;
	if (r == 1)
		return 0x00170020;
	if (r == 2)
		return ic->io.id;
	if (r >= 0x10 && r < 0x10 + 48) {
		uint64_t e = ic->io.redir[(r - 0x10) / 2];

		return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void
ioapic_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct intc *ic = opaque;
	unsigned r = ic->io.sel, pin;
	uint64_t *e;

	(void)size;
	if (off == 0) {
		ic->io.sel = (uint8_t)val;
		return;
	}
	if (off == 0x40) { /* EOI register (version 0x20) */
		ioapic_eoi(ic, (unsigned)val & 0xff);
		return;
	}
	if (off != 0x10)
		return;
	if (r == 0) {
		ic->io.id = (uint32_t)val & 0x0f000000u;
		return;
	}
	if (r < 0x10 || r >= 0x10 + 48)
		return;
	pin = (r - 0x10) / 2;
	e = &ic->io.redir[pin];
	if (r & 1) {
		*e = (*e & 0xffffffffULL) | ((uint64_t)(uint32_t)val << 32);
	} else {
		/* Delivery status and remote IRR are read-only. */
		*e = (*e & 0xffffffff00000000ULL) |
		    (((uint32_t)val & ~0x5000u) | ((uint32_t)*e & 0x5000u));
	}
	ioapic_service(ic, pin);
}

/* ---- public ------------------------------------------------------------- */

static const struct io_ops pic_ops = { pic_read, pic_write };
static const struct io_ops elcr_ops = { elcr_read, elcr_write };
static const struct io_ops ioapic_ops = { ioapic_read, ioapic_write };

/* The controllers' state, no ports or timers (intc_new adds those). */
static struct intc *
intc_alloc(struct vm *vm, int ncpus, struct vm_err *err)
{
	struct intc *ic = calloc(1, sizeof(*ic));
	int k;

	if (ic == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	ic->vm = vm;
	ic->ncpus = ncpus;
	ic->lapic = calloc((size_t)ncpus, sizeof(*ic->lapic));
	if (ic->lapic == NULL) {
		free(ic);
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	for (k = 0; k < 24; k++)
		ic->io.redir[k] = 1ULL << 16;
	for (k = 0; k < ncpus; k++) {
		struct lapic *l = &ic->lapic[k];

		l->ic = ic;
		l->cpu = k;
		lapic_reset(l);
	}
	ic->pic[0].ic = ic;
	ic->pic[1].ic = ic;
	return ic;
}

/* A staging copy for a back end with its own irqchip: its state in the
 * canonical form (intc_import, lapic_import), saved as the "intc" section
 * or loaded from it; no ports, no timers, nothing delivered. */
struct intc *
intc_new_staging(struct vm *vm, int ncpus, struct vm_err *err)
{
	return intc_alloc(vm, ncpus, err);
}

struct intc *
intc_new(struct vm *vm, int ncpus, intc_kick_fn kick, void *kick_opaque,
    struct vm_err *err)
{
	struct intc *ic = intc_alloc(vm, ncpus, err);
	int k, ret;

	if (ic == NULL)
		return NULL;
	ic->kick = kick;
	ic->kick_opaque = kick_opaque;
	for (k = 0; k < ncpus; k++)
		ic->lapic[k].timer = evloop_timer_new(vm->loop, timer_fire,
		    &ic->lapic[k]);
	ret = bus_map(vm->pio, PC_PORT_PIC1, 2, &pic_ops, &ic->pic[0],
	    "pic-master", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_PIC2, 2, &pic_ops, &ic->pic[1],
		    "pic-slave", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_ELCR, 2, &elcr_ops, ic, "elcr",
		    err);
	if (ret == 0)
		ret = bus_map(vm->mmio, IOAPIC_BASE, 0x1000, &ioapic_ops, ic,
		    "ioapic", err);
	if (ret < 0) {
		intc_free(ic);
		return NULL;
	}
	return ic;
}

void
intc_free(struct intc *ic)
{
	int k;

	if (ic == NULL)
		return;
	for (k = 0; k < ic->ncpus; k++)
		if (ic->lapic[k].timer != NULL)
			evloop_timer_free(ic->lapic[k].timer);
	free(ic->lapic);
	free(ic);
}

void
intc_set_irq(struct intc *ic, unsigned gsi, int level)
{
	if (gsi < 16) {
		pic_set_line(ic, gsi >= 8, gsi & 7, level);
		pic_update(ic);
		ioapic_set(ic, gsi == 0 ? 2 : gsi, level);
	} else if (gsi < 24) {
		ioapic_set(ic, gsi, level);
	}
}

void
intc_msi(struct intc *ic, uint64_t addr, uint32_t data)
{
	if ((addr & 0xfff00000ULL) != 0xfee00000ULL)
		return;
	deliver(ic, (uint32_t)(addr >> 12) & 0xff, (addr >> 2) & 1,
	    (data >> 8) & 7, data & 0xff, (data >> 15) & 1, -1, 0);
}

bool
intc_has_interrupt(struct intc *ic, int cpu)
{
	return cpu >= 0 && cpu < ic->ncpus &&
	    atomic_load(&ic->lapic[cpu].maybe);
}

const void *
intc_pending_hint(struct intc *ic, int cpu)
{
	_Static_assert(sizeof(atomic_bool) == 1, "the hint is one byte");
	if (cpu < 0 || cpu >= ic->ncpus)
		return NULL;
	return &ic->lapic[cpu].maybe;
}

int
intc_ack(struct intc *ic, int cpu)
{
	struct lapic *l = &ic->lapic[cpu];
	int v = lapic_enabled(l) ? lapic_deliverable(l) : -1;

	if (v >= 0) {
		vclr(&l->reg[R_IRR], (unsigned)v);
		vset(&l->reg[R_ISR], (unsigned)v);
		update(l);
		return v;
	}
	if (extint_route(ic, l) && pic_output(ic) >= 0) {
		v = pic_ack(ic);
		update(l);
		return v;
	}
	update(l);
	return -1;
}

bool
intc_has_event(struct intc *ic, int cpu)
{
	struct lapic *l;

	if (cpu < 0 || cpu >= ic->ncpus)
		return false;
	l = &ic->lapic[cpu];
	return atomic_load(&l->nmi) || l->init_sipi;
}

bool
intc_take_nmi(struct intc *ic, int cpu)
{
	bool taken = atomic_exchange(&ic->lapic[cpu].nmi, false);

	if (taken)
		update(&ic->lapic[cpu]);
	return taken;
}

int
intc_take_init_sipi(struct intc *ic, int cpu, uint8_t *vec)
{
	struct lapic *l = &ic->lapic[cpu];
	int k = l->init_sipi;

	if (k == 0)
		return 0;
	l->init_sipi = 0;
	*vec = l->sipi_vec;
	if (k == 1) {
		uint64_t base = l->base;
		uint8_t sv = l->sipi_vec;
		bool sipi = l->sipi_after_init;

		lapic_reset(l);
		l->base = base;
		l->sipi_after_init = false;
		if (sipi) {
			l->init_sipi = 2;
			l->sipi_vec = sv;
		}
	}
	update(l);
	return k;
}

void
intc_set_tsc_fn(struct intc *ic, uint64_t (*tsc)(void *), void *opaque)
{
	ic->tsc = tsc;
	ic->tsc_opaque = opaque;
}

/* ---- snapshots ------------------------------------------------------------ */

static void
pic_state(struct pic *p, struct snap_vis *v, int n)
{
	char b[48];

#define F(f) (snprintf(b, sizeof(b), "pic%d.%s", n, f), b)
	snap_u8(v, F("irr"), &p->irr);
	snap_u8(v, F("isr"), &p->isr);
	snap_u8(v, F("imr"), &p->imr);
	snap_u8(v, F("base"), &p->base);
	snap_u8(v, F("elcr"), &p->elcr);
	snap_u8(v, F("lines"), &p->lines);
	snap_u8(v, F("step"), &p->step);
	snap_check(v, p->step <= 4, b, "not an initialisation step");
	snap_bool(v, F("icw4"), &p->icw4);
	snap_bool(v, F("single"), &p->single);
	snap_bool(v, F("auto_eoi"), &p->auto_eoi);
	snap_bool(v, F("read_isr"), &p->read_isr);
#undef F
}

/*
 * The PICs, the IOAPIC and every LAPIC: registers, timers (relative to the
 * snapshot's clock), pending INIT/SIPI.  The vCPU count must match.
 */
int
intc_state(struct intc *ic, struct snap_vis *v)
{
	char b[48];
	int ncpus = ic->ncpus, i;

	pic_state(&ic->pic[0], v, 0);
	pic_state(&ic->pic[1], v, 1);
	snap_u32(v, "ioapic.id", &ic->io.id);
	snap_u8(v, "ioapic.sel", &ic->io.sel);
	snap_u64_array(v, "ioapic.redir", ic->io.redir, 24);
	snap_u32(v, "ioapic.lines", &ic->io.lines);
	snap_int(v, "ncpus", &ncpus, 1, 4096);
	snap_check(v, ncpus == ic->ncpus, "ncpus",
	    "the snapshot has a different number of LAPICs");
	for (i = 0; i < ic->ncpus && !v->failed; i++) {
		struct lapic scratch, *l = &ic->lapic[i];
		bool nmi = atomic_load(&l->nmi);

		/* a dry load (intc_state_dry) leaves the LAPICs alone */
		if (v->dry) {
			memcpy(&scratch, l, sizeof(scratch));
			l = &scratch;
		}

#define F(f) (snprintf(b, sizeof(b), "lapic%d.%s", i, f), b)
		snap_u32_array(v, F("reg"), l->reg, 64);
		snap_u64(v, F("base"), &l->base);
		snap_time(v, F("timer_start"), &l->timer_start);
		snap_time(v, F("timer_next"), &l->timer_next);
		snap_u64(v, F("tsc_deadline"), &l->tsc_deadline);
		snap_bool(v, F("nmi"), &nmi);
		snap_int(v, F("init_sipi"), &l->init_sipi, 0, 2);
		snap_bool(v, F("sipi_after_init"), &l->sipi_after_init);
		snap_u8(v, F("sipi_vec"), &l->sipi_vec);
#undef F
		if (v->load && !v->failed) {
			atomic_store(&l->nmi, nmi);
			/* The ID follows the vCPU, as on reset. */
			l->reg[R_ID] = (l->reg[R_ID] & 0x00ffffffu) |
			    (uint32_t)l->cpu << 24;
		}
	}
	return v->failed;
}

int
intc_state_dry(const struct intc *ic, struct snap_vis *v)
{
	static struct intc copy;        /* the loop's thread only */

	memcpy(&copy, ic, sizeof(copy));
	v->dry = true;
	return intc_state(&copy, v);
}

/* After intc_state loaded (and the vCPUs' TSCs): the LAPIC timers armed
 * again, interrupt state re-evaluated, the PIC output re-driven. */
void
intc_post_load(struct intc *ic)
{
	int i;

	for (i = 0; i < ic->ncpus; i++) {
		struct lapic *l = &ic->lapic[i];

		if (timer_mode(l) == 2 && l->tsc_deadline != 0)
			lapic_msr_write(ic, i, 0x6e0, l->tsc_deadline);
		else if (l->timer_next != 0)
			evloop_timer_mod(l->timer, l->timer_next);
		else
			evloop_timer_del(l->timer);
		lapic_set_base(ic, i, l->base);
		update(l);
	}
	pic_update(ic);
}

/* ---- the canonical form (hw/irqchip.h) ------------------------------------ */

static void
pic_to(const struct pic *p, struct pc_pic_regs *r)
{
	r->irr = p->irr; r->isr = p->isr; r->imr = p->imr; r->base = p->base;
	r->elcr = p->elcr; r->lines = p->lines; r->step = p->step;
	r->icw4 = p->icw4; r->single = p->single; r->auto_eoi = p->auto_eoi;
	r->read_isr = p->read_isr;
}

static void
pic_from(struct pic *p, const struct pc_pic_regs *r)
{
	p->irr = r->irr; p->isr = r->isr; p->imr = r->imr; p->base = r->base;
	p->elcr = r->elcr; p->lines = r->lines; p->step = r->step;
	p->icw4 = r->icw4; p->single = r->single; p->auto_eoi = r->auto_eoi;
	p->read_isr = r->read_isr;
}

/* The PICs and the IOAPIC to and from the canonical form (c->pit and
 * c->portb are the PIT's, left alone).  Fields only: no interrupt is
 * delivered, no timer armed (intc_post_load does that). */
void
intc_export(const struct intc *ic, struct pc_irqchip *c)
{
	pic_to(&ic->pic[0], &c->pic[0]);
	pic_to(&ic->pic[1], &c->pic[1]);
	c->io_id = ic->io.id;
	c->io_sel = ic->io.sel;
	memcpy(c->io_redir, ic->io.redir, sizeof(c->io_redir));
	c->io_lines = ic->io.lines;
}

void
intc_import(struct intc *ic, const struct pc_irqchip *c)
{
	pic_from(&ic->pic[0], &c->pic[0]);
	pic_from(&ic->pic[1], &c->pic[1]);
	ic->io.id = c->io_id & 0x0f000000u;
	ic->io.sel = c->io_sel;
	memcpy(ic->io.redir, c->io_redir, sizeof(ic->io.redir));
	ic->io.lines = c->io_lines & 0xffffffu;
}

/* A LAPIC's register page (as KVM_GET_LAPIC has it: 64 registers, 16
 * bytes apart), its APIC base MSR, and the timer from the page's current
 * count (TMCCT): the next expiry that far after now. */
void
lapic_import(struct intc *ic, int cpu, const uint8_t page[1024],
    uint64_t base, uint64_t now)
{
	struct lapic *l = &ic->lapic[cpu];
	uint64_t period;
	int k;

	for (k = 0; k < 64; k++)
		memcpy(&l->reg[k], page + k * 16, 4);
	l->base = base;
	l->timer_next = 0;
	l->timer_start = now;
	period = timer_period_ns(l);
	if (period != 0 && timer_mode(l) != 2 && l->reg[R_TMCCT] != 0 &&
	    l->reg[R_TMCCT] <= l->reg[R_TMICT]) {
		uint64_t left = (uint64_t)((unsigned __int128)period *
		    l->reg[R_TMCCT] / l->reg[R_TMICT]);

		l->timer_next = now + left;
		l->timer_start = l->timer_next - period;
	}
	l->reg[R_TMCCT] = 0;
}

/* The page for a back end's own LAPIC: the registers, TMCCT the timer's
 * current count. */
void
lapic_export_page(struct intc *ic, int cpu, uint8_t page[1024])
{
	uint32_t cur = timer_current(&ic->lapic[cpu]);

	lapic_get_page(ic, cpu, page);
	memcpy(page + R_TMCCT * 16, &cur, 4);
}
