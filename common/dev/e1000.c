/*
 * Intel 82540EM gigabit Ethernet (PCI 8086:100e) on a network back end,
 * as the 8254x family software developer's manual describes it: the NIC
 * Linux's e1000 driver and Windows' in-box drivers know.
 *
 * arg: const struct net_params * (back end spec, forwards, the MAC).
 *
 * BAR0: the 128 KiB register file (MMIO); BAR1: the I/O window (IOADDR at
 * 0 selects a register, IODATA at 4 reads or writes it).  Registers
 * without side effects are plain storage; the ones below act:
 *   CTRL      RST resets the MAC (the EEPROM's MAC back in RAL0/RAH0),
 *             PHY_RST the PHY; SLU going on signals a link change (LSC).
 *   STATUS    always full duplex, 1000 Mb/s, link up.
 *   EECD      the bit-banged Microwire EEPROM (64 words: the MAC in
 *             words 0-2, IDs, a checksum making the sum 0xbaba); EERD
 *             reads a word in one go.
 *   MDIC      the PHY (address 1, a Marvell 88E1011's IDs): link up and
 *             autonegotiation complete; resets and restarts self-clear.
 *   ICR ICS IMS IMC   interrupt cause (read clears) and mask; the PCI
 *             INTx line is (ICR & IMS) != 0.  ITR (interrupt throttling)
 *             holds the line down until ITR * 256 ns after it last rose,
 *             so a busy card interrupts at most that often; the
 *             receive/transmit delay timers are stored but do not delay.
 *   RCTL RDBA RDLEN RDH RDT   receive into legacy descriptors: the
 *             filter (promiscuous, RAL/RAH exact matches, the multicast
 *             table hashed as RCTL.MO says, broadcast), buffer sizes
 *             256..16384, frames spanning descriptors, the FCS appended
 *             unless RCTL.SECRC, VLAN tags stripped when CTRL.VME.
 *   TCTL TDBA TDLEN TDH TDT   transmit legacy, context and data
 *             descriptors; checksum insertion and TCP segmentation (TSO)
 *             are done here in software; VLAN tags inserted.
 *   0x4000-0x40ff   statistics, clear on read.
 *
 * Every guest value is checked: ring bases and lengths, heads and tails
 * beyond the ring (the ring then stalls, as the manual leaves it
 * undefined), descriptor and buffer addresses (outside RAM: a receive
 * descriptor gets the RXE error, a transmit packet is dropped), lengths
 * (a packet beyond TX_MAX is dropped), context offsets (a checksum or
 * segment field outside the packet is skipped).  One TDT write walks the
 * ring at most once; one frame takes at most the ring's descriptors.
 * While the guest has no receive descriptor free, up to NET_RXQ_MAX
 * frames wait and are delivered when it writes RDT.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <zlib.h>

#include "dev/dev.h"
#include "hw/pci.h"
#include "mem/mem.h"
#include "net/net.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/vm.h"

#define REG_SIZE 0x20000
#define IO_SIZE 0x40

/* Register offsets. */
enum {
	CTRL = 0x0000, STATUS = 0x0008, EECD = 0x0010, EERD = 0x0014,
	MDIC = 0x0020, VET = 0x0038, ICR = 0x00c0, ITR = 0x00c4,
	ICS = 0x00c8, IMS = 0x00d0, IMC = 0x00d8, RCTL = 0x0100,
	TCTL = 0x0400, PBA = 0x1000, RDBAL = 0x2800, RDBAH = 0x2804,
	RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818, TDBAL = 0x3800,
	TDBAH = 0x3804, TDLEN = 0x3808, TDH = 0x3810, TDT = 0x3818,
	STATS = 0x4000, STATS_END = 0x4100, MTA = 0x5200, RAL = 0x5400,
};

/* Statistics (offsets from 0x4000). */
enum {
	ST_MPC = 0x10, ST_GPRC = 0x74, ST_BPRC = 0x78, ST_MPRC = 0x7c,
	ST_GPTC = 0x80, ST_GORCL = 0x88, ST_GOTCL = 0x90, ST_TORL = 0xc0,
	ST_TOTL = 0xc8, ST_TPR = 0xd0, ST_TPT = 0xd4, ST_TSCTC = 0xf8,
	ST_TSCTFC = 0xfc,
};

#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define CTRL_VME (1u << 30)
#define CTRL_PHY_RST (1u << 31)

#define STATUS_FD 0x1u
#define STATUS_LU 0x2u
#define STATUS_SPEED_1000 0x80u

#define EECD_SK 0x1u
#define EECD_CS 0x2u
#define EECD_DI 0x4u
#define EECD_DO 0x8u
#define EECD_FWE 0x30u
#define EECD_REQ 0x40u
#define EECD_GNT 0x80u
#define EECD_PRES 0x100u

#define EERD_START 0x1u
#define EERD_DONE 0x10u

#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_INT (1u << 29)
#define MDIC_ERROR (1u << 30)

#define I_TXDW 0x1u
#define I_TXQE 0x2u
#define I_LSC 0x4u
#define I_RXDMT0 0x10u
#define I_RXO 0x40u
#define I_RXT0 0x80u
#define I_MDAC 0x200u

#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_MPE (1u << 4)
#define RCTL_LPE (1u << 5)
#define RCTL_BAM (1u << 15)
#define RCTL_BSEX (1u << 25)
#define RCTL_SECRC (1u << 26)

#define TCTL_EN (1u << 1)

/* Descriptor bits. */
#define RXS_DD 0x01u
#define RXS_EOP 0x02u
#define RXS_IXSM 0x04u
#define RXS_VP 0x08u
#define RXE_RXE 0x80u

#define TXC_EOP 0x01u
#define TXC_IC 0x04u            /* legacy: insert checksum */
#define TXC_TSE 0x04u           /* data: segmentation */
#define TXC_RS 0x08u
#define TXC_DEXT 0x20u
#define TXC_VLE 0x40u
#define TXS_DD 0x01u
#define TUCMD_TCP 0x01u
#define TUCMD_IP 0x02u
#define POPTS_IXSM 0x01u
#define POPTS_TXSM 0x02u

/* PHY registers (IEEE 802.3 clause 22, then the 88E1011's). */
#define PHY_ADDR 1
#define PHY_CTRL 0
#define PHY_STATUS 1
#define PHY_CTRL_RESET 0x8000u
#define PHY_CTRL_RESTART_AN 0x0200u

#define EE_WORDS 64
#define TX_MAX (64 * 1024 + 256)

struct tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
};

struct e1000 {
	struct pci_dev pci;
	struct vm *vm;
	struct net_backend *nb;
	uint8_t mac[6];
	uint32_t reg[REG_SIZE / 4];
	uint32_t ioaddr;
	uint16_t eeprom[EE_WORDS];
	uint16_t phy[32];

	/* The Microwire EEPROM's serial state. */
	uint32_t eecd;                  /* SK, CS, DI, FWE, REQ as written */
	unsigned ee_bits;               /* bits clocked in since CS rose */
	uint32_t ee_in;
	bool ee_reading;
	unsigned ee_addr, ee_pos;
	int ee_do;

	/* Transmit: the context, and the packet being gathered. */
	struct tx_ctx ctx;
	size_t tx_len;
	bool tx_open, tx_bad, tx_ext, tx_tse;
	uint8_t tx_popts, tx_cso, tx_css;
	bool tx_ic;
	uint8_t tx[TX_MAX];
	uint8_t seg[NET_FRAME_MAX];
	uint8_t vbuf[NET_FRAME_MAX + 4];  /* a frame with its tag inserted */

	/* Interrupt throttling: when the line last rose, the timer that
	 * raises it once ITR allows. */
	struct ev_timer *itr_timer;
	uint64_t irq_last;
	bool irq_on, itr_armed;

	/* Receive: frames waiting for descriptors. */
	struct net_rxq rxq;
	uint8_t rx[NET_FRAME_MAX + 64];
	uint64_t rx_dropped, tx_dropped;
	uint64_t tso_frames, tso_segments, tso_failed;
};

#define R(e, off) ((e)->reg[(off) >> 2])

static const uint16_t phy_init[32] = {
	[0] = 0x1140,           /* autoneg on, full duplex, 1000 Mb/s */
	[1] = 0x796d,           /* link up, autoneg complete, abilities */
	[2] = 0x0141, [3] = 0x0c20,     /* 88E1011 */
	[4] = 0x0de1,           /* advertised: pause, 10/100 */
	[5] = 0x45e1,           /* the partner's, acknowledged */
	[6] = 0x0001,
	[9] = 0x0300,           /* 1000BASE-T advertised */
	[10] = 0x3c00,          /* 1000BASE-T: partner capable, rx ok */
	[15] = 0x3000,
	[16] = 0x0068,
	[17] = 0xac00,          /* resolved: 1000 Mb/s full duplex, link */
};

static void
irq_update(struct e1000 *e)
{
	uint64_t gap, now;

	if ((R(e, ICR) & R(e, IMS)) == 0) {
		if (e->irq_on)
			pci_set_intx(&e->pci, false);
		e->irq_on = false;
		return;
	}
	if (e->irq_on)
		return;
	gap = (uint64_t)(R(e, ITR) & 0xffff) * 256;
	now = clock_ns();
	if (gap && now < e->irq_last + gap) {
		if (!e->itr_armed) {
			e->itr_armed = true;
			evloop_timer_mod(e->itr_timer, e->irq_last + gap);
		}
		return;
	}
	e->irq_last = now;
	e->irq_on = true;
	pci_set_intx(&e->pci, true);
}

static void
itr_fire(void *opaque)
{
	struct e1000 *e = opaque;

	e->itr_armed = false;
	irq_update(e);
}

static void
intr(struct e1000 *e, uint32_t cause)
{
	R(e, ICR) |= cause;
	irq_update(e);
}

static void
stat_add(struct e1000 *e, unsigned off, uint32_t v)
{
	uint32_t *r = &e->reg[(STATS + off) >> 2];

	*r = *r + v < *r ? 0xffffffffu : *r + v;
}

/* A 64-bit byte counter: low word at off, high at off + 4. */
static void
stat_add64(struct e1000 *e, unsigned off, uint64_t v)
{
	uint32_t *r = &e->reg[(STATS + off) >> 2];
	uint64_t t = ((uint64_t)r[1] << 32 | r[0]) + v;

	r[0] = (uint32_t)t;
	r[1] = (uint32_t)(t >> 32);
}

/* ---- EEPROM ---- */

static void
eeprom_init(struct e1000 *e)
{
	uint16_t sum = 0;
	int i;

	memset(e->eeprom, 0, sizeof(e->eeprom));
	for (i = 0; i < 3; i++)
		e->eeprom[i] = (uint16_t)(e->mac[2 * i] |
		    e->mac[2 * i + 1] << 8);
	e->eeprom[0x0a] = 0x4408;       /* init control 1: valid, ... */
	e->eeprom[0x0b] = 0x001e;       /* subsystem */
	e->eeprom[0x0c] = 0x8086;       /* subsystem vendor */
	e->eeprom[0x0d] = 0x100e;
	e->eeprom[0x0e] = 0x8086;
	e->eeprom[0x0f] = 0x3040;       /* init control 2: pause */
	for (i = 0; i < EE_WORDS - 1; i++)
		sum = (uint16_t)(sum + e->eeprom[i]);
	e->eeprom[EE_WORDS - 1] = (uint16_t)(0xbaba - sum);
}

/* Microwire: CS high selects; DI is sampled on SK's rising edge; after
 * the start bit, READ (10) and 6 address bits, each rising edge puts the
 * next data bit (MSB first) on DO, the address advancing every 16. */
static void
eecd_write(struct e1000 *e, uint32_t val)
{
	uint32_t old = e->eecd;

	e->eecd = val & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ);
	if (!(val & EECD_CS) || !(old & EECD_CS)) {
		e->ee_bits = 0;
		e->ee_in = 0;
		e->ee_reading = false;
		e->ee_do = 1;
		return;
	}
	if ((old & EECD_SK) || !(val & EECD_SK))
		return;
	if (e->ee_reading) {
		e->ee_do = (e->eeprom[e->ee_addr] >> (15 - e->ee_pos)) & 1;
		if (++e->ee_pos == 16) {
			e->ee_pos = 0;
			e->ee_addr = (e->ee_addr + 1) % EE_WORDS;
		}
		return;
	}
	if (e->ee_bits == 0 && !(val & EECD_DI))
		return;                 /* waiting for the start bit */
	e->ee_in = e->ee_in << 1 | ((val & EECD_DI) ? 1 : 0);
	if (++e->ee_bits == 9) {
		if ((e->ee_in >> 6) == 6) {     /* start, READ */
			e->ee_reading = true;
			e->ee_addr = e->ee_in & 0x3f;
			e->ee_pos = 0;
			e->ee_do = 0;   /* the dummy zero */
		} else {
			e->ee_bits = 0; /* writes and others: ignored */
			e->ee_in = 0;
		}
	}
}

static uint32_t
eecd_read(const struct e1000 *e)
{
	uint32_t v = e->eecd | EECD_PRES;

	if (v & EECD_REQ)
		v |= EECD_GNT;
	if ((e->eecd & EECD_CS) && e->ee_do)
		v |= EECD_DO;
	return v;
}

/* ---- PHY ---- */

static void
mdic_write(struct e1000 *e, uint32_t val)
{
	unsigned reg = (val >> 16) & 0x1f, addr = (val >> 21) & 0x1f;
	uint32_t op = val & (3u << 26);
	uint32_t v = val & ~(MDIC_READY | MDIC_ERROR);

	if (addr != PHY_ADDR || (op != MDIC_OP_READ && op != MDIC_OP_WRITE)) {
		v |= MDIC_ERROR;
	} else if (op == MDIC_OP_READ) {
		v = (v & ~0xffffu) | e->phy[reg];
	} else {
		uint16_t d = (uint16_t)val;

		switch (reg) {
		case PHY_CTRL:
			if (d & PHY_CTRL_RESET)
				memcpy(e->phy, phy_init, sizeof(e->phy));
			e->phy[PHY_CTRL] = d & ~(PHY_CTRL_RESET |
			    PHY_CTRL_RESTART_AN);
			if (d & (PHY_CTRL_RESET | PHY_CTRL_RESTART_AN))
				R(e, ICR) |= I_LSC;
			break;
		case 1: case 2: case 3: case 5: case 6: case 10: case 15:
		case 17:
			break;          /* read-only */
		default:
			e->phy[reg] = d;
		}
	}
	R(e, MDIC) = v | MDIC_READY;
	if (val & MDIC_INT)
		R(e, ICR) |= I_MDAC;
	irq_update(e);
}

/* ---- reset ---- */

static void
mac_reset(struct e1000 *e)
{
	memset(e->reg, 0, sizeof(e->reg));
	if (e->itr_timer)
		evloop_timer_del(e->itr_timer);
	e->itr_armed = false;
	e->irq_last = 0;
	e->irq_on = true;               /* so that irq_update lowers it */
	R(e, CTRL) = CTRL_SLU | 0x1 | (2u << 8);        /* FD, 1000 */
	R(e, STATUS) = STATUS_FD | STATUS_LU | STATUS_SPEED_1000;
	R(e, PBA) = 0x30;
	R(e, VET) = 0x8100;
	R(e, RAL) = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 |
	    (uint32_t)e->mac[2] << 16 | (uint32_t)e->mac[3] << 24;
	R(e, RAL + 4) = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 |
	    1u << 31;           /* AV */
	e->eecd = 0;
	e->ee_bits = 0;
	e->ee_reading = false;
	e->ee_do = 1;
	memset(&e->ctx, 0, sizeof(e->ctx));
	e->tx_len = 0;
	e->tx_open = e->tx_bad = false;
	net_rxq_clear(&e->rxq);
	irq_update(e);
}

static void
full_reset(struct e1000 *e)
{
	memcpy(e->phy, phy_init, sizeof(e->phy));
	e->ioaddr = 0;
	mac_reset(e);
}

/* ---- checksums ---- */

static uint32_t
sum16(const uint8_t *p, size_t len, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t
fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The one's-complement checksum of buf[start..end] (end inclusive, 0 for
 * the packet's end) into buf[at]: skipped if any of it is outside len. */
static void
csum_insert(uint8_t *buf, size_t len, unsigned start, unsigned end,
    unsigned at)
{
	size_t stop = end == 0 || end >= len ? len : (size_t)end + 1;

	if (start >= stop || (size_t)at + 2 > len)
		return;
	put16(buf + at, (uint16_t)~fold(sum16(buf + start, stop - start, 0)));
}

/* ---- transmit ---- */

static void
send_frame(struct e1000 *e, const uint8_t *p, size_t len, bool vle,
    uint16_t tag)
{
	if (len < 14) {
		e->tx_dropped++;
		return;
	}
	if (vle && (R(e, CTRL) & CTRL_VME) && len + 4 <= NET_FRAME_MAX) {
		uint8_t *o = e->vbuf;

		memcpy(o, p, 12);
		put16(o + 12, (uint16_t)R(e, VET));
		put16(o + 14, tag);
		memcpy(o + 16, p + 12, len - 12);
		p = o;
		len += 4;
	}
	stat_add(e, ST_GPTC, 1);
	stat_add(e, ST_TPT, 1);
	stat_add64(e, ST_GOTCL, len + 4);
	stat_add64(e, ST_TOTL, len + 4);
	net_send(e->nb, p, len);
}

/* Checksums a context asks for, into frame f of len bytes. */
static void
ctx_csums(struct e1000 *e, uint8_t *f, size_t len, uint8_t popts)
{
	const struct tx_ctx *c = &e->ctx;

	if ((popts & POPTS_IXSM) && (size_t)c->ipcso + 2 <= len) {
		put16(f + c->ipcso, 0);
		csum_insert(f, len, c->ipcss, c->ipcse, c->ipcso);
	}
	if (popts & POPTS_TXSM)
		csum_insert(f, len, c->tucss, c->tucse, c->tucso);
}

/* TCP segmentation: the gathered packet is a header of ctx.hdrlen bytes
 * and a payload cut into ctx.mss-byte segments, each sent with the header
 * fixed up (IP length and ID, TCP sequence and flags, checksums). */
static void
tso_send(struct e1000 *e, bool vle, uint16_t tag)
{
	const struct tx_ctx *c = &e->ctx;
	size_t hl = c->hdrlen, pay, off, n;
	uint16_t seed = 0, ipid = 0;
	uint32_t seq = 0;
	bool ip4 = c->tucmd & TUCMD_IP, tcp = c->tucmd & TUCMD_TCP;
	unsigned i;

	if (hl > e->tx_len || c->mss == 0 || hl + c->mss > NET_FRAME_MAX ||
	    (size_t)c->tucso + 2 > hl || (size_t)c->tucss + 20 > hl ||
	    (size_t)c->ipcss + 20 > hl) {
		e->tx_dropped++;
		e->tso_failed++;
		stat_add(e, ST_TSCTFC, 1);
		return;
	}
	seed = get16(e->tx + c->tucso);
	ipid = get16(e->tx + c->ipcss + 4);
	if (tcp)
		seq = (uint32_t)get16(e->tx + c->tucss + 4) << 16 |
		    get16(e->tx + c->tucss + 6);
	pay = e->tx_len - hl;
	for (off = 0, i = 0; off < pay || (pay == 0 && i == 0); i++) {
		uint8_t *f = e->seg;
		size_t flen;
		bool last;

		n = pay - off < c->mss ? pay - off : c->mss;
		last = off + n >= pay;
		memcpy(f, e->tx, hl);
		memcpy(f + hl, e->tx + hl + off, n);
		flen = hl + n;
		if (ip4) {
			put16(f + c->ipcss + 2, (uint16_t)(flen - c->ipcss));
			put16(f + c->ipcss + 4, (uint16_t)(ipid + i));
		} else {
			put16(f + c->ipcss + 4,
			    (uint16_t)(flen - c->ipcss - 40));
		}
		if (tcp) {
			uint32_t s = seq + (uint32_t)off;

			put16(f + c->tucss + 4, (uint16_t)(s >> 16));
			put16(f + c->tucss + 6, (uint16_t)s);
			if (!last)
				f[c->tucss + 13] &= (uint8_t)~0x09; /* FIN PSH */
		} else {
			put16(f + c->tucss + 4, (uint16_t)(flen - c->tucss));
		}
		/* The driver seeded the pseudo-header sum without the
		 * length; the segment's L4 length goes in with it. */
		put16(f + c->tucso, fold((uint32_t)seed +
		    (uint32_t)(flen - c->tucss)));
		ctx_csums(e, f, flen, e->tx_popts);
		send_frame(e, f, flen, vle, tag);
		off += n;
	}
	e->tso_frames++;
	e->tso_segments += i;
	stat_add(e, ST_TSCTC, 1);
}

static void
tx_packet_done(struct e1000 *e, bool vle, uint16_t tag)
{
	if (e->tx_bad) {
		e->tx_dropped++;
	} else if (e->tx_ext && e->tx_tse) {
		tso_send(e, vle, tag);
	} else {
		if (e->tx_ext)
			ctx_csums(e, e->tx, e->tx_len, e->tx_popts);
		else if (e->tx_ic)
			csum_insert(e->tx, e->tx_len, e->tx_css, 0,
			    e->tx_cso);
		send_frame(e, e->tx, e->tx_len, vle, tag);
	}
	e->tx_len = 0;
	e->tx_open = e->tx_bad = false;
}

/* Append len bytes at guest address addr to the packet. */
static void
tx_gather(struct e1000 *e, uint64_t addr, size_t len)
{
	if (e->tx_bad)
		return;
	if (len > TX_MAX - e->tx_len ||
	    mem_read(&e->vm->mem, addr, e->tx + e->tx_len, len) < 0) {
		e->tx_bad = true;
		return;
	}
	e->tx_len += len;
}

/* One descriptor; true if it asks for a status write-back. */
static bool
tx_desc(struct e1000 *e, const uint8_t *d)
{
	uint64_t addr;
	uint32_t w2 = (uint32_t)d[8] | (uint32_t)d[9] << 8 |
	    (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
	uint8_t cmd = d[11], dtyp = (d[10] >> 4) & 0xf;
	uint16_t tag = (uint16_t)(d[14] | d[15] << 8);

	memcpy(&addr, d, 8);    /* little-endian host */
	if ((cmd & TXC_DEXT) && dtyp == 0) {            /* context */
		struct tx_ctx *c = &e->ctx;

		c->ipcss = d[0];
		c->ipcso = d[1];
		c->ipcse = (uint16_t)(d[2] | d[3] << 8);
		c->tucss = d[4];
		c->tucso = d[5];
		c->tucse = (uint16_t)(d[6] | d[7] << 8);
		c->tucmd = cmd;
		c->hdrlen = d[13];
		c->mss = (uint16_t)(d[14] | d[15] << 8);
		return cmd & TXC_RS;
	}
	if ((cmd & TXC_DEXT) && dtyp != 1)
		return cmd & TXC_RS;    /* unknown type: skipped */
	if (!e->tx_open) {
		e->tx_open = true;
		e->tx_ext = cmd & TXC_DEXT;
		e->tx_tse = e->tx_ext && (cmd & TXC_TSE);
		e->tx_popts = d[13];
		e->tx_ic = !e->tx_ext && (cmd & TXC_IC);
		e->tx_cso = d[10];
		e->tx_css = d[13];
	}
	tx_gather(e, addr, (cmd & TXC_DEXT) ? (w2 & 0xfffff) :
	    (size_t)(d[8] | d[9] << 8));
	if (cmd & TXC_EOP)
		tx_packet_done(e, (cmd & TXC_VLE) != 0, tag);
	return cmd & TXC_RS;
}

static void
tx_run(struct e1000 *e)
{
	uint64_t base = (uint64_t)R(e, TDBAH) << 32 | (R(e, TDBAL) & ~0xfu);
	uint32_t n = R(e, TDLEN) / 16, head = R(e, TDH), tail = R(e, TDT);
	uint32_t steps;
	uint8_t d[16];
	uint32_t cause = 0;

	if (!(R(e, TCTL) & TCTL_EN) || n == 0 || head >= n || tail >= n ||
	    !pci_master(&e->pci))
		return;
	for (steps = 0; head != tail && steps < n; steps++) {
		uint64_t at = base + (uint64_t)head * 16;

		if (mem_read(&e->vm->mem, at, d, sizeof(d)) < 0) {
			log_debug(LOG_NET, "%s: transmit descriptor at %#llx "
			    "outside RAM", e->pci.name,
			    (unsigned long long)at);
			break;
		}
		if (tx_desc(e, d)) {
			d[12] |= TXS_DD;
			mem_write(&e->vm->mem, at + 12, &d[12], 1);
			cause |= I_TXDW;
		}
		head = (head + 1) % n;
	}
	R(e, TDH) = head;
	if (head == tail)
		cause |= I_TXQE;
	if (cause)
		intr(e, cause);
}

/* ---- receive ---- */

static bool
rx_filter(const struct e1000 *e, const uint8_t *f)
{
	uint32_t rctl = R(e, RCTL);
	unsigned i, h;

	if (f[0] & 1) {
		if (memcmp(f, "\xff\xff\xff\xff\xff\xff", 6) == 0 &&
		    (rctl & RCTL_BAM))
			return true;
		if (rctl & RCTL_MPE)
			return true;
		switch ((rctl >> 12) & 3) {
		case 0: h = f[4] >> 4 | (unsigned)f[5] << 4; break;
		case 1: h = f[4] >> 3 | (unsigned)f[5] << 5; break;
		case 2: h = f[4] >> 2 | (unsigned)f[5] << 6; break;
		default: h = f[4] | (unsigned)f[5] << 8; break;
		}
		h &= 0xfff;
		return (e->reg[(MTA >> 2) + (h >> 5)] >> (h & 31)) & 1;
	}
	if (rctl & RCTL_UPE)
		return true;
	for (i = 0; i < 16; i++) {
		uint32_t lo = e->reg[(RAL >> 2) + 2 * i];
		uint32_t hi = e->reg[(RAL >> 2) + 2 * i + 1];

		if ((hi & (1u << 31)) &&
		    f[0] == (uint8_t)lo && f[1] == (uint8_t)(lo >> 8) &&
		    f[2] == (uint8_t)(lo >> 16) && f[3] == (uint8_t)(lo >> 24) &&
		    f[4] == (uint8_t)hi && f[5] == (uint8_t)(hi >> 8))
			return true;
	}
	return false;
}

static size_t
rx_bufsize(uint32_t rctl)
{
	static const size_t plain[4] = { 2048, 1024, 512, 256 };
	static const size_t ext[4] = { 2048, 16384, 8192, 4096 };
	unsigned b = (rctl >> 16) & 3;

	return (rctl & RCTL_BSEX) ? ext[b] : plain[b];
}

/* One frame into the ring: 1 done (or dropped for good), 0 no room yet. */
static int
rx_one(struct e1000 *e, const uint8_t *frame, size_t len)
{
	uint32_t rctl = R(e, RCTL);
	uint64_t base = (uint64_t)R(e, RDBAH) << 32 | (R(e, RDBAL) & ~0xfu);
	uint32_t n = R(e, RDLEN) / 16, head = R(e, RDH), tail = R(e, RDT);
	uint32_t avail, need, left, thr;
	size_t bs = rx_bufsize(rctl), total, done;
	uint16_t special = 0;
	uint8_t status = RXS_IXSM, *b = e->rx;

	if (len < 14 || len > NET_FRAME_MAX)
		return 1;
	if (!rx_filter(e, frame))
		return 1;
	memcpy(b, frame, len);
	total = len;
	if ((R(e, CTRL) & CTRL_VME) && total >= 18 &&
	    get16(b + 12) == (uint16_t)R(e, VET)) {
		special = get16(b + 14);
		memmove(b + 12, b + 16, total - 16);
		total -= 4;
		status |= RXS_VP;
	}
	if (total < 60) {
		memset(b + total, 0, 60 - total);
		total = 60;
	}
	if (!(rctl & RCTL_SECRC)) {
		uint32_t fcs = (uint32_t)crc32(0L, b, (uInt)total);

		b[total] = (uint8_t)fcs;
		b[total + 1] = (uint8_t)(fcs >> 8);
		b[total + 2] = (uint8_t)(fcs >> 16);
		b[total + 3] = (uint8_t)(fcs >> 24);
		total += 4;
	}
	if (!(rctl & RCTL_LPE) && total > 1522 + 4)
		return 1;               /* a long frame the MAC refuses */
	if (n == 0 || head >= n || tail >= n) {
		stat_add(e, ST_MPC, 1);
		return 1;
	}
	need = (uint32_t)((total + bs - 1) / bs);
	avail = (tail + n - head) % n;
	if (need >= n) {
		stat_add(e, ST_MPC, 1);
		return 1;               /* can never fit */
	}
	if (need > avail)
		return 0;
	for (done = 0; done < total; ) {
		uint64_t at = base + (uint64_t)head * 16;
		uint64_t addr;
		uint8_t d[16];
		size_t chunk = total - done < bs ? total - done : bs;

		if (mem_read(&e->vm->mem, at, d, sizeof(d)) < 0) {
			log_debug(LOG_NET, "%s: receive descriptor at %#llx "
			    "outside RAM", e->pci.name,
			    (unsigned long long)at);
			stat_add(e, ST_MPC, 1);
			return 1;
		}
		memcpy(&addr, d, 8);
		d[13] = 0;
		if (mem_write(&e->vm->mem, addr, b + done, chunk) < 0)
			d[13] = RXE_RXE;
		done += chunk;
		d[8] = (uint8_t)chunk;
		d[9] = (uint8_t)(chunk >> 8);
		d[10] = d[11] = 0;
		d[12] = (uint8_t)(status | RXS_DD | (done == total ? RXS_EOP :
		    0));
		d[14] = (uint8_t)special;
		d[15] = (uint8_t)(special >> 8);
		mem_write(&e->vm->mem, at + 8, d + 8, 8);
		head = (head + 1) % n;
	}
	R(e, RDH) = head;
	stat_add(e, ST_GPRC, 1);
	stat_add(e, ST_TPR, 1);
	if (frame[0] & 1)
		stat_add(e, memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) ?
		    ST_MPRC : ST_BPRC, 1);
	stat_add64(e, ST_GORCL, total);
	stat_add64(e, ST_TORL, total);
	left = (tail + n - head) % n;
	thr = n >> (((rctl >> 8) & 3) + 1);     /* 1/2, 1/4, 1/8 */
	intr(e, I_RXT0 | (left <= thr ? I_RXDMT0 : 0));
	return 1;
}

static bool
rx_ready(const struct e1000 *e)
{
	return (R(e, RCTL) & RCTL_EN) && pci_master(&e->pci);
}

static void
rx_flush(struct e1000 *e)
{
	const struct net_rxq_frame *p;

	while (rx_ready(e) && (p = net_rxq_peek(&e->rxq)) != NULL) {
		if (rx_one(e, p->data, p->len) == 0)
			break;
		net_rxq_pop(&e->rxq);
	}
}

/* The back end's callback: a frame for the guest. */
static void
e1000_rx(void *opaque, const void *frame, size_t len)
{
	struct e1000 *e = opaque;

	if (!rx_ready(e) || len > NET_FRAME_MAX)
		return;
	if (e->rxq.count == 0 && rx_one(e, frame, len))
		return;
	if (net_rxq_push(&e->rxq, frame, len) < 0) {
		e->rx_dropped++;
		stat_add(e, ST_MPC, 1);
		intr(e, I_RXO);
	}
}

/* ---- registers ---- */

static uint32_t
reg_read(struct e1000 *e, uint32_t off)
{
	uint32_t v;

	off &= REG_SIZE - 4;
	switch (off) {
	case EECD:
		return eecd_read(e);
	case ICR:
		v = R(e, ICR);
		R(e, ICR) = 0;
		irq_update(e);
		return v;
	case IMC: case ICS:
		return 0;
	}
	v = R(e, off);
	if (off >= STATS && off < STATS_END)
		R(e, off) = 0;
	return v;
}

static void
reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	uint32_t old;

	off &= REG_SIZE - 4;
	old = R(e, off);
	switch (off) {
	case CTRL:
		if (v & CTRL_RST) {
			mac_reset(e);
			return;
		}
		if (v & CTRL_PHY_RST)
			memcpy(e->phy, phy_init, sizeof(e->phy));
		R(e, CTRL) = v & ~(CTRL_RST | CTRL_PHY_RST);
		if ((v & CTRL_SLU) && !(old & CTRL_SLU))
			intr(e, I_LSC);
		return;
	case STATUS:
		return;
	case EECD:
		eecd_write(e, v);
		return;
	case EERD:
		if (v & EERD_START) {
			unsigned a = (v >> 8) & 0xff;

			R(e, EERD) = EERD_DONE | a << 8 |
			    (uint32_t)(a < EE_WORDS ? e->eeprom[a] : 0) << 16;
		}
		return;
	case MDIC:
		mdic_write(e, v);
		return;
	case ICR:
		R(e, ICR) &= ~v;
		irq_update(e);
		return;
	case ICS:
		intr(e, v);
		return;
	case IMS:
		R(e, IMS) |= v;
		irq_update(e);
		return;
	case IMC:
		R(e, IMS) &= ~v;
		irq_update(e);
		return;
	case RCTL:
		R(e, RCTL) = v;
		rx_flush(e);
		return;
	case RDLEN: case TDLEN:
		R(e, off) = v & 0xfff80;
		return;
	case RDH: case TDH:
		R(e, off) = v & 0xffff;
		return;
	case RDT:
		R(e, RDT) = v & 0xffff;
		rx_flush(e);
		return;
	case TDT:
		R(e, TDT) = v & 0xffff;
		tx_run(e);
		return;
	case TCTL:
		R(e, TCTL) = v;
		tx_run(e);
		return;
	}
	R(e, off) = v;
}

static uint64_t
mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct e1000 *e = opaque;
	uint32_t v;

	if (size == 8)
		return reg_read(e, (uint32_t)off) |
		    (uint64_t)reg_read(e, (uint32_t)off + 4) << 32;
	v = reg_read(e, (uint32_t)off & ~3u);
	v >>= 8 * (off & 3);
	return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void
mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct e1000 *e = opaque;
	uint32_t o = (uint32_t)off & ~3u, v = (uint32_t)val;

	if (size == 8) {
		reg_write(e, o, v);
		reg_write(e, o + 4, (uint32_t)(val >> 32));
		return;
	}
	if (size < 4) {         /* merge into the stored value */
		unsigned sh = 8 * (off & 3);
		uint32_t m = ((1u << (8 * size)) - 1) << sh;

		v = (e->reg[(o & (REG_SIZE - 4)) >> 2] & ~m) |
		    ((uint32_t)(val << sh) & m);
	}
	reg_write(e, o, v);
}

static const struct io_ops mmio_ops = { mmio_read, mmio_write };

static uint64_t
io_read(void *opaque, uint64_t off, unsigned size)
{
	struct e1000 *e = opaque;

	if (size != 4)
		return 0;
	if (off == 0)
		return e->ioaddr;
	if (off == 4)
		return reg_read(e, e->ioaddr);
	return 0;
}

static void
io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct e1000 *e = opaque;

	if (size != 4)
		return;
	if (off == 0)
		e->ioaddr = (uint32_t)val & (REG_SIZE - 4);
	else if (off == 4)
		reg_write(e, e->ioaddr, (uint32_t)val);
}

static const struct io_ops io_ops = { io_read, io_write };

/* ---- device ---- */

static int
e1000_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	const struct net_params *p = arg;
	struct e1000 *e = d->priv;
	int ret;

	if (vm->pci == NULL)
		return vm_err_set(err, -ENODEV, "%s: the board has no PCI bus",
		    d->id);
	e->vm = vm;
	memcpy(e->mac, p->mac, 6);
	e->itr_timer = evloop_timer_new(vm->loop, itr_fire, e);
	if (e->itr_timer == NULL)
		return vm_err_set(err, -ENOMEM, "%s: out of memory", d->id);
	eeprom_init(e);
	ret = pci_dev_init(vm->pci, &e->pci, d->id, -1, 0x8086, 0x100e,
	    0x020000, err);
	if (ret < 0) {
		evloop_timer_free(e->itr_timer);
		return ret;
	}
	e->pci.opaque = e;
	e->pci.cfg[PCI_REVISION] = 3;
	pci_set16(&e->pci, PCI_SUBSYS_VENDOR, 0x8086);
	pci_set16(&e->pci, PCI_SUBSYS_ID, 0x001e);
	pci_bar_init(&e->pci, 0, PCI_BAR_MEM32, REG_SIZE, &mmio_ops, e);
	pci_bar_init(&e->pci, 1, PCI_BAR_IO, IO_SIZE, &io_ops, e);
	full_reset(e);
	e->nb = net_open(p, vm->loop, e1000_rx, e, err);
	if (e->nb == NULL) {
		pci_dev_remove(&e->pci);
		evloop_timer_free(e->itr_timer);
		return err ? err->code : -EIO;
	}
	return 0;
}

static void
e1000_reset(struct dev *d)
{
	full_reset(d->priv);
}

static void
e1000_unrealize(struct dev *d)
{
	struct e1000 *e = d->priv;

	pci_dev_remove(&e->pci);
	net_close(e->nb);
	net_rxq_clear(&e->rxq);
	evloop_timer_free(e->itr_timer);
}

/* Snapshots: the registers (statistics, filters and ring pointers among
 * them), the EEPROM and its serial state, the PHY, the transmit context
 * and a packet gathered from descriptors the guest has already handed
 * over (so TDH stays consistent with what was consumed).  Frames waiting
 * for receive descriptors are not saved: they are lost on the wire. */
static int
e1000_state(struct dev *d, struct snap_vis *v)
{
	struct e1000 *e = d->priv;
	struct tx_ctx *c = &e->ctx;
	uint32_t tx_len = (uint32_t)e->tx_len;

	pci_dev_state(&e->pci, v);
	snap_u32_array(v, "reg", e->reg, REG_SIZE / 4);
	snap_u16_array(v, "eeprom", e->eeprom, EE_WORDS);
	snap_u16_array(v, "phy", e->phy, 32);
	snap_u32(v, "eecd", &e->eecd);
	snap_unsigned(v, "ee_bits", &e->ee_bits, 9);
	snap_u32(v, "ee_in", &e->ee_in);
	snap_bool(v, "ee_reading", &e->ee_reading);
	snap_unsigned(v, "ee_addr", &e->ee_addr, EE_WORDS - 1);
	snap_unsigned(v, "ee_pos", &e->ee_pos, 15);
	snap_int(v, "ee_do", &e->ee_do, 0, 1);
	snap_u8(v, "ctx.ipcss", &c->ipcss);
	snap_u8(v, "ctx.ipcso", &c->ipcso);
	snap_u16(v, "ctx.ipcse", &c->ipcse);
	snap_u8(v, "ctx.tucss", &c->tucss);
	snap_u8(v, "ctx.tucso", &c->tucso);
	snap_u16(v, "ctx.tucse", &c->tucse);
	snap_u8(v, "ctx.tucmd", &c->tucmd);
	snap_u8(v, "ctx.hdrlen", &c->hdrlen);
	snap_u16(v, "ctx.mss", &c->mss);
	snap_bool(v, "tx_open", &e->tx_open);
	snap_bool(v, "tx_bad", &e->tx_bad);
	snap_bool(v, "tx_ext", &e->tx_ext);
	snap_bool(v, "tx_tse", &e->tx_tse);
	snap_u8(v, "tx_popts", &e->tx_popts);
	snap_u8(v, "tx_cso", &e->tx_cso);
	snap_u8(v, "tx_css", &e->tx_css);
	snap_bool(v, "tx_ic", &e->tx_ic);
	snap_blob(v, "tx", e->tx, &tx_len, TX_MAX);
	snap_u64(v, "rx_dropped", &e->rx_dropped);
	snap_u64(v, "tx_dropped", &e->tx_dropped);
	if (v->load && !v->failed)
		e->tx_len = tx_len;
	return v->failed;
}

static int
e1000_post_load(struct dev *d, struct vm_err *err)
{
	struct e1000 *e = d->priv;

	(void)err;
	net_rxq_clear(&e->rxq);
	pci_dev_post_load(&e->pci);
	irq_update(e);
	return 0;
}

static void
e1000_counters(struct dev *d, struct nic_counters *c)
{
	struct e1000 *e = d->priv;

	c->tx_frames = e->nb->tx_frames;
	c->rx_frames = e->nb->rx_frames;
	c->tx_dropped = e->tx_dropped + e->nb->tx_dropped;
	c->rx_dropped = e->rx_dropped;
	c->tso_frames = e->tso_frames;
	c->tso_segments = e->tso_segments;
	c->tso_failed = e->tso_failed;
}

const struct dev_type e1000_type = {
	.name = "e1000",
	.desc = "Intel 82540EM gigabit Ethernet (PCI) on a network back end",
	.priv_size = sizeof(struct e1000),
	.realize = e1000_realize,
	.reset = e1000_reset,
	.unrealize = e1000_unrealize,
	.state = e1000_state,
	.state_version = 1,
	.post_load = e1000_post_load,
	.nic_counters = e1000_counters,
};
