/*
 * The MC146818 RTC and CMOS memory (Motorola MC146818A data sheet) at
 * ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data).  The time is the
 * host's clock in UTC (or in the host's local time zone with vm.yaml's
 * rtc: localtime, as Windows wants), read when the guest reads a time
 * register, in BCD or
 * binary and 12- or 24-hour form as register B asks.  The update-in-
 * progress bit of register A is set for the last 244 us of each second,
 * as on the chip, so guests that wait for its falling edge finish.
 * Register C reports the update-ended flag once a second; the periodic and
 * alarm interrupts are not generated yet (Linux does not need them with
 * an HPET-less ACPI PC: it uses the LAPIC timer).
 * CMOS bytes 0x15-0x18, 0x30-0x31, 0x34-0x35 and 0x5b-0x5d carry the
 * memory size as SeaBIOS and old loaders read it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cfg/cfg.h"
#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "vm/vm.h"

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define B_24H 0x02
#define B_BIN 0x04

struct rtc {
	struct vm *vm;
	uint8_t index;
	uint8_t cmos[128];
	int64_t last_sec;
};

static uint8_t
enc(struct rtc *r, unsigned v)
{
	if (r->cmos[REG_B] & B_BIN)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t
time_reg(struct rtc *r, unsigned idx)
{
	struct timespec ts;
	struct tm tm;
	unsigned h;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (r->vm->cfg != NULL && r->vm->cfg->rtc_localtime)
		localtime_r(&ts.tv_sec, &tm);
	else
		gmtime_r(&ts.tv_sec, &tm);
	switch (idx) {
	case 0x00:
		return enc(r, (unsigned)tm.tm_sec);
	case 0x02:
		return enc(r, (unsigned)tm.tm_min);
	case 0x04:
		h = (unsigned)tm.tm_hour;
		if (r->cmos[REG_B] & B_24H)
			return enc(r, h);
		return (uint8_t)(enc(r, h % 12 == 0 ? 12 : h % 12) |
		    (h >= 12 ? 0x80 : 0));
	case 0x06:
		return enc(r, (unsigned)tm.tm_wday + 1);
	case 0x07:
		return enc(r, (unsigned)tm.tm_mday);
	case 0x08:
		return enc(r, (unsigned)tm.tm_mon + 1);
	case 0x09:
		return enc(r, (unsigned)tm.tm_year % 100);
	case 0x32:
		return enc(r, (unsigned)(tm.tm_year + 1900) / 100);
	case REG_A: {
		/* UIP during the last 244 us of each second. */
		uint8_t uip = ts.tv_nsec >= 1000000000L - 244000L ? 0x80 : 0;

		return (uint8_t)((r->cmos[REG_A] & 0x7f) | uip);
	}
	case REG_C: {
		uint8_t v = 0;

		if (ts.tv_sec != r->last_sec) {
			v = 0x10; /* UF: an update ended since the last read */
			r->last_sec = ts.tv_sec;
		}
		return v;
	}
	case REG_D:
		return 0x80; /* valid RAM and time */
	}
	return r->cmos[idx & 0x7f];
}

static uint64_t
rtc_read(void *opaque, uint64_t off, unsigned size)
{
	struct rtc *r = opaque;

	(void)size;
	if (off == 0)
		return 0xff;
	return time_reg(r, r->index & 0x7f);
}

static void
rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct rtc *r = opaque;
	unsigned idx = r->index & 0x7f;

	(void)size;
	if (off == 0) {
		r->index = (uint8_t)val;
		return;
	}
	switch (idx) {
	case 0x00: case 0x02: case 0x04: case 0x06: case 0x07: case 0x08:
	case 0x09: case 0x32: case REG_C: case REG_D:
		/* The clock follows the host; setting it is ignored. */
		return;
	case REG_A:
		r->cmos[REG_A] = (uint8_t)(val & 0x7f);
		return;
	}
	r->cmos[idx] = (uint8_t)val;
}

static const struct io_ops rtc_ops = { rtc_read, rtc_write };

static void
set_mem_sizes(struct rtc *r, uint64_t ram)
{
	uint64_t ext_kb, above16, above4g;

	r->cmos[0x15] = 0x80; /* 640 KiB base memory */
	r->cmos[0x16] = 0x02;
	ext_kb = ram > (1ULL << 20) ? (ram - (1ULL << 20)) >> 10 : 0;
	if (ext_kb > 0xfc00)
		ext_kb = 0xfc00;
	r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext_kb;
	r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext_kb >> 8);
	above16 = ram > (16ULL << 20) ? (ram < PC_PCI_HOLE ? ram :
	    PC_PCI_HOLE) - (16ULL << 20) : 0;
	above16 >>= 16;
	if (above16 > 0xffff)
		above16 = 0xffff;
	r->cmos[0x34] = (uint8_t)above16;
	r->cmos[0x35] = (uint8_t)(above16 >> 8);
	above4g = ram > PC_PCI_HOLE ? (ram - PC_PCI_HOLE) >> 16 : 0;
	r->cmos[0x5b] = (uint8_t)above4g;
	r->cmos[0x5c] = (uint8_t)(above4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above4g >> 16);
	r->cmos[0x14] = 0x06; /* equipment: FPU, VGA/EGA */
	/* Boot order for firmware, as QEMU's default: disk, floppy, CD. */
	r->cmos[0x3d] = 0x12;
	r->cmos[0x38] = 0x30;
}

static int
rtc_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct rtc *r = d->priv;

	(void)arg;
	r->vm = vm;
	r->cmos[REG_A] = 0x26; /* 32.768 kHz, 1024 Hz periodic rate */
	r->cmos[REG_B] = B_24H;
	set_mem_sizes(r, vm->ram_size);
	r->cmos[0x5f] = (uint8_t)(vm->ncpus - 1); /* CPUs, for firmware */
	return bus_map(vm->pio, PC_PORT_CMOS, 2, &rtc_ops, r, "rtc", err);
}

/* The clock itself follows the host (see rtc_read); the CMOS bytes and
 * the index are the state. */
static int
rtc_state(struct dev *d, struct snap_vis *v)
{
	struct rtc *r = d->priv;

	snap_u8(v, "index", &r->index);
	snap_bytes(v, "cmos", r->cmos, sizeof(r->cmos));
	snap_i64(v, "last_sec", &r->last_sec);
	return v->failed;
}

const struct dev_type mc146818_type = {
	.name = "mc146818",
	.desc = "MC146818 RTC and CMOS memory",
	.priv_size = sizeof(struct rtc),
	.realize = rtc_realize,
	.state = rtc_state,
	.state_version = 1,
};
