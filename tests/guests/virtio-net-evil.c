/*
 * virtio-net-evil: a guest that drives the virtio-net device (1af4:1041)
 * itself and sends frames whose virtio_net_hdr lies about them, between
 * frames whose header tells the truth.  Run with -m 32M and
 * --net ...,mac=52:54:00:12:34:56 on a network with a NAT (the gateway
 * 10.0.2.2 answers ARP).  It sends, in order:
 *   - one lying header of each kind the device must refuse (see bad[]),
 *     several ways for some kinds; none of them may reach the wire
 *   - a UDP/IPv4 frame with NEEDS_CSUM: on the wire with a right checksum
 *   - a TSO/IPv4 frame, 3000 bytes of TCP payload, gso_size 1000: three
 *     segments on the wire
 *   - a TSO/IPv6 frame, 2500 bytes of TCP payload, gso_size 1200: three
 *     segments on the wire
 *   - after a device reset, without the CSUM feature: a NEEDS_CSUM frame
 *     (refused) and an ARP request for 10.0.2.2, whose reply must come
 *     back into the receive queue
 * Exit status: 0 when the ARP reply came, else the number of the failed
 * step: 1 no device, 2 no usable common configuration or notification
 * capability, 3 features refused, 4 a transmit buffer not returned, 5 no
 * ARP reply.
 *
 * The common configuration and the notification area are found as a
 * virtio driver finds them (virtio 1.2, 4.1.4): through the vendor
 * capabilities in PCI configuration space, each naming a BAR, an offset
 * and a length (and the notification's offset multiplier), so nothing of
 * vmkit's own BAR layout is assumed.
 */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

__asm__(
	".section .multiboot, \"a\"\n"
	".align 4\n"
	".long 0x1BADB002\n"
	".long 0x00000003\n"
	".long -(0x1BADB002 + 0x00000003)\n"
	".text\n"
	".globl _start\n"
	"_start:\n"
	"movl $0x200000, %esp\n"
	"call main\n"
	"movw $0x5e0, %dx\n"
	"outl %eax, %dx\n"
	"1: hlt\n"
	"jmp 1b\n");

int main(void);

void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);

void *
memcpy(void *d, const void *s, unsigned long n)
{
	u8 *dp = d;
	const u8 *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *
memset(void *d, int c, unsigned long n)
{
	u8 *dp = d;

	while (n--)
		*dp++ = (u8)c;
	return d;
}

static void
outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static u32
inl(u16 port)
{
	u32 v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void
outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static void
puts(const char *s)
{
	while (*s)
		outb(0x3f8, (u8)*s++);
}

#define R8(a) (*(volatile u8 *)(a))
#define R16(a) (*(volatile u16 *)(a))
#define R32(a) (*(volatile u32 *)(a))

/* Common configuration (virtio 1.2, 4.1.4.3). */
#define DFSEL 0x00
#define DF 0x04
#define GFSEL 0x08
#define GF 0x0c
#define STATUS 0x14
#define QSEL 0x16
#define QSIZE 0x18
#define QENABLE 0x1c
#define QNOTIFYOFF 0x1e
#define QDESC 0x20
#define QDRIVER 0x28
#define QDEVICE 0x30

#define QN 16
#define RING_RX 0x300000
#define RING_TX 0x310000
#define BUF_RX 0x400000
#define BUF_TX 0x500000

static u32 cc;                  /* the common configuration */
static u32 notify_base, notify_mult, notify_len;

struct desc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

struct queue {
	u32 base;
	u16 avail, used;        /* the driver's view */
	u32 notify;
};

static struct queue rxq, txq;

/* 0, or -1 when the queue's notification address is outside the
 * notification area. */
static int
queue_init(struct queue *q, unsigned n, u32 base)
{
	u32 qoff;

	R16(cc + QSEL) = (u16)n;
	R16(cc + QSIZE) = QN;
	memset((void *)base, 0, 0x4000);
	R32(cc + QDESC) = base;
	R32(cc + QDESC + 4) = 0;
	R32(cc + QDRIVER) = base + 0x1000;
	R32(cc + QDRIVER + 4) = 0;
	R32(cc + QDEVICE) = base + 0x2000;
	R32(cc + QDEVICE + 4) = 0;
	q->base = base;
	q->avail = q->used = 0;
	qoff = R16(cc + QNOTIFYOFF);
	if (notify_mult != 0 && qoff > (notify_len - 2) / notify_mult)
		return -1;
	q->notify = notify_base + notify_mult * qoff;
	R16(cc + QENABLE) = 1;
	return 0;
}

/* Post one buffer (write: device-writable) and kick. */
static void
queue_post(struct queue *q, u32 buf, u32 len, int write, unsigned qn)
{
	struct desc *d = (struct desc *)q->base + (q->avail % QN);
	volatile u16 *avail = (volatile u16 *)(q->base + 0x1000);

	d->addr = buf;
	d->len = len;
	d->flags = write ? 2 : 0;
	d->next = 0;
	avail[2 + q->avail % QN] = (u16)(q->avail % QN);
	__asm__ volatile("" ::: "memory");
	q->avail++;
	avail[1] = q->avail;
	R16(q->notify) = (u16)qn;
}

/* Wait until the device has returned everything posted: 0, or -1. */
static int
queue_drain(struct queue *q, unsigned long tries)
{
	volatile u16 *used = (volatile u16 *)(q->base + 0x2000);

	while (used[1] != q->avail && tries--)
		outb(0x80, 0);
	if (used[1] != q->avail)
		return -1;
	q->used = q->avail;
	return 0;
}

static int
dev_init(u32 features)
{
	R8(cc + STATUS) = 0;
	while (R8(cc + STATUS) != 0)
		;
	R8(cc + STATUS) = 1;
	R8(cc + STATUS) = 1 | 2;
	R32(cc + GFSEL) = 0;
	R32(cc + GF) = features;
	R32(cc + GFSEL) = 1;
	R32(cc + GF) = 1;      /* VERSION_1 */
	R8(cc + STATUS) = 1 | 2 | 8;
	if (!(R8(cc + STATUS) & 8))
		return -1;
	if (queue_init(&rxq, 0, RING_RX) < 0 ||
	    queue_init(&txq, 1, RING_TX) < 0)
		return -1;
	R8(cc + STATUS) = 1 | 2 | 4 | 8;
	queue_post(&rxq, BUF_RX, 2048, 1, 0);
	return 0;
}

/* ---- frames ---------------------------------------------------------- */

static const u8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const u8 peer[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
static const u8 ip_me[4] = { 10, 0, 2, 15 }, ip_gw[4] = { 10, 0, 2, 2 };

struct hdr {
	u8 flags, gso_type;
	u16 hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

static u8 frame[65536];
static unsigned flen;

static void
put16(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static u32
sum16(u32 s, const u8 *p, unsigned n)
{
	unsigned i;

	for (i = 0; i + 1 < n; i += 2)
		s += (u32)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (u32)p[n - 1] << 8;
	return s;
}

static u16
fold(u32 s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)s;
}

static void
eth(u16 type)
{
	memcpy(frame, peer, 6);
	memcpy(frame + 6, mac, 6);
	put16(frame + 12, type);
}

/* IPv4 header at 14, protocol proto, payload of len bytes after it. */
static void
ipv4(u8 proto, unsigned len)
{
	u8 *ip = frame + 14;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, 20 + len);
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, ip_me, 4);
	memcpy(ip + 16, ip_gw, 4);
	put16(ip + 10, (u16)~fold(sum16(0, ip, 20)));
}

/* A UDP/IPv4 frame of n payload bytes, its checksum field holding the
 * pseudo-header's sum, as a driver with NEEDS_CSUM leaves it. */
static void
udp4(unsigned n)
{
	u8 *u = frame + 34;
	unsigned i;
	u32 s;

	eth(0x0800);
	ipv4(17, 8 + n);
	put16(u, 40000);
	put16(u + 2, 9);        /* discard */
	put16(u + 4, 8 + n);
	for (i = 0; i < n; i++)
		u[8 + i] = (u8)('a' + i % 26);
	s = sum16(0, frame + 26, 8) + 17 + 8 + n;
	put16(u + 6, fold(s));
	flen = 34 + 8 + n;
}

static void
tcp(u8 *t, unsigned n)
{
	unsigned i;

	memset(t, 0, 20);
	put16(t, 40001);
	put16(t + 2, 9);
	put16(t + 4, 0x1000);   /* seq 0x10000000 */
	t[12] = 5 << 4;
	t[13] = 0x18;           /* PSH|ACK */
	put16(t + 14, 64240);
	for (i = 0; i < n; i++)
		t[20 + i] = (u8)('A' + i % 26);
}

static void
tcp4(unsigned n)
{
	eth(0x0800);
	ipv4(6, 20 + n);
	tcp(frame + 34, n);
	/* The pseudo-header's sum without the length, as Linux does. */
	put16(frame + 34 + 16, fold(sum16(0, frame + 26, 8) + 6));
	flen = 34 + 20 + n;
}

static void
tcp6(unsigned n)
{
	u8 *ip = frame + 14;

	eth(0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, 20 + n);
	ip[6] = 6;
	ip[7] = 64;
	ip[8] = 0xfd;
	ip[23] = 0x15;
	ip[24] = 0xfd;
	ip[39] = 0x02;
	tcp(frame + 54, n);
	put16(frame + 54 + 16, fold(sum16(0, ip + 8, 32) + 6));
	flen = 54 + 20 + n;
}

static void
arp(void)
{
	u8 *a = frame + 14;

	eth(0x0806);
	memset(frame, 0xff, 6);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, ip_me, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, ip_gw, 4);
	memset(a + 28, 0, 18);
	flen = 60;
}

static int sent_bad;

/* Send the frame in frame[] behind h: 0, or -1 (buffer not returned). */
static int
send(const struct hdr *h)
{
	u8 *b = (u8 *)BUF_TX;

	memcpy(b, h, 12);
	memcpy(b + 12, frame, flen);
	queue_post(&txq, BUF_TX, 12 + flen, 0, 1);
	return queue_drain(&txq, 10000000);
}

static struct hdr
partial(u8 gso, u16 gso_size, u16 start, u16 off)
{
	struct hdr h = { 1, gso, 0, gso_size, start, off, 0 };

	return h;
}

enum frame_kind { UDP4, TCP4, TCP6 };

/* One lying header, or a truthful header over a lying frame. */
struct lie {
	const char *what;
	enum frame_kind kind;
	struct hdr h;
	unsigned at, val, width;  /* poke val into frame[at] (width 0: none) */
};

static const struct lie bad[] = {
	{ "flags: DATA_VALID", UDP4, { 3, 0, 0, 0, 34, 6, 0 }, 0, 0, 0 },
	{ "flags: unknown bit", UDP4, { 0x81, 0, 0, 0, 34, 6, 0 }, 0, 0, 0 },
	{ "csum_start in the Ethernet header", UDP4,
	    { 1, 0, 0, 0, 4, 6, 0 }, 0, 0, 0 },
	{ "csum_start past the frame", UDP4,
	    { 1, 0, 0, 0, 5000, 6, 0 }, 0, 0, 0 },
	{ "csum_offset past the frame", UDP4,
	    { 1, 0, 0, 0, 34, 60000, 0 }, 0, 0, 0 },
	{ "gso_type UDP", TCP4, { 1, 3, 54, 1000, 34, 16, 0 }, 0, 0, 0 },
	{ "gso_type ECN", TCP4, { 1, 0x81, 54, 1000, 34, 16, 0 }, 0, 0, 0 },
	{ "gso_type 7", TCP4, { 1, 7, 54, 1000, 34, 16, 0 }, 0, 0, 0 },
	{ "TSO without NEEDS_CSUM", TCP4, { 0, 1, 54, 1000, 34, 16, 0 },
	    0, 0, 0 },
	{ "gso_size 0", TCP4, { 1, 1, 54, 0, 34, 16, 0 }, 0, 0, 0 },
	{ "gso_size 60000", TCP4, { 1, 1, 54, 60000, 34, 16, 0 }, 0, 0, 0 },
	{ "hdr_len past the frame", TCP4, { 1, 1, 60000, 1000, 34, 16, 0 },
	    0, 0, 0 },
	{ "TCPV4 over IPv6", TCP6, { 1, 1, 74, 1000, 54, 16, 0 }, 0, 0, 0 },
	{ "TCPV6 over IPv4", TCP4, { 1, 4, 54, 1000, 34, 16, 0 }, 0, 0, 0 },
	{ "IHL 3", TCP4, { 1, 1, 54, 1000, 34, 16, 0 }, 14, 0x43, 1 },
	{ "IP version 5", TCP4, { 1, 1, 54, 1000, 34, 16, 0 }, 14, 0x55, 1 },
	{ "IP length past the frame", TCP4, { 1, 1, 54, 1000, 34, 16, 0 },
	    16, 60000, 2 },
	{ "IP length below the headers", TCP4,
	    { 1, 1, 54, 1000, 34, 16, 0 }, 16, 30, 2 },
	{ "IPv6 payload length past the frame", TCP6,
	    { 1, 4, 74, 1000, 54, 16, 0 }, 18, 60000, 2 },
	{ "TSO of UDP", TCP4, { 1, 1, 54, 1000, 34, 16, 0 }, 23, 17, 1 },
	{ "TSO of a fragment", TCP4, { 1, 1, 54, 1000, 34, 16, 0 },
	    20, 0x2000, 2 },
	{ "csum_start not at TCP", TCP4, { 1, 1, 54, 1000, 30, 16, 0 },
	    0, 0, 0 },
	{ "csum_offset not TCP's", TCP4, { 1, 1, 54, 1000, 34, 6, 0 },
	    0, 0, 0 },
	{ "TCP data offset 2", TCP4, { 1, 1, 54, 1000, 34, 16, 0 },
	    46, 0x20, 1 },
};

static void
build(enum frame_kind k)
{
	if (k == UDP4)
		udp4(100);
	else if (k == TCP4)
		tcp4(3000);
	else
		tcp6(2500);
}

/* ---- finding the device's structures --------------------------------- */

static u32
cfg32(unsigned slot, unsigned off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	return inl(0xcfc);
}

static u8
cfg8(unsigned slot, unsigned off)
{
	return (u8)(cfg32(slot, off) >> (8 * (off & 3)));
}

/* The address of BAR b plus off, for a structure of len bytes: 0 if the
 * BAR is not a memory BAR below 4 GiB, is unassigned, or too small. */
static u32
bar_addr(unsigned slot, unsigned b, u32 off, u32 len)
{
	u32 lo, size, hi = 0;

	if (b > 5)
		return 0;
	lo = cfg32(slot, 0x10 + 4 * b);
	if (lo & 1)
		return 0;               /* an I/O BAR */
	if ((lo & 6) == 4) {
		if (b == 5)
			return 0;
		hi = cfg32(slot, 0x14 + 4 * b);
	}
	/* Its size: all ones written, the mask read back, the base put back. */
	outl(0xcf8, 0x80000000u | slot << 11 | (0x10 + 4 * b));
	outl(0xcfc, 0xffffffffu);
	size = ~(inl(0xcfc) & ~0xfu) + 1;
	outl(0xcfc, lo);
	lo &= ~0xfu;
	if (hi != 0 || lo == 0 || off > size || len > size - off ||
	    lo + off < lo)
		return 0;
	return lo + off;
}

/* Walk the capability list for the common configuration (type 1) and the
 * notification area (type 2): 0, or -1 when either is missing or bad. */
static int
find_caps(unsigned slot)
{
	unsigned pos, n, type;
	u32 off, len;

	if (!(cfg32(slot, 0x04) >> 16 & 0x10))
		return -1;              /* no capability list */
	pos = cfg8(slot, 0x34) & 0xfc;
	for (n = 0; pos >= 0x40 && n < 48; n++) {
		if (cfg8(slot, pos) == 0x09 && cfg8(slot, pos + 2) >= 16) {
			type = cfg8(slot, pos + 3);
			off = cfg32(slot, pos + 8);
			len = cfg32(slot, pos + 12);
			if (type == 1 && cc == 0 && len >= 0x38)
				cc = bar_addr(slot, cfg8(slot, pos + 4), off,
				    0x38);
			if (type == 2 && notify_base == 0 &&
			    cfg8(slot, pos + 2) >= 20) {
				notify_mult = cfg32(slot, pos + 16);
				notify_len = len;
				if (len >= 2)
					notify_base = bar_addr(slot,
					    cfg8(slot, pos + 4), off, len);
			}
		}
		pos = cfg8(slot, pos + 1) & 0xfc;
	}
	return cc && notify_base ? 0 : -1;
}

int
main(void)
{
	volatile u16 *rxused = (volatile u16 *)(RING_RX + 0x2000);
	const u8 *r = (const u8 *)(BUF_RX + 12);
	struct hdr h;
	unsigned slot, i;
	unsigned long n;

	for (slot = 0; slot < 32; slot++) {
		outl(0xcf8, 0x80000000u | slot << 11);
		if (inl(0xcfc) == 0x10411af4)
			break;
	}
	if (slot == 32)
		return 1;
	if (find_caps(slot) < 0)
		return 2;
	outl(0xcf8, 0x80000000u | slot << 11 | 0x04);
	outl(0xcfc, 6);         /* memory space, bus master */

	/* CSUM, MAC, HOST_TSO4, HOST_TSO6 */
	if (dev_init(1u << 0 | 1u << 5 | 1u << 11 | 1u << 12) < 0)
		return 3;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build(bad[i].kind);
		if (bad[i].width == 1)
			frame[bad[i].at] = (u8)bad[i].val;
		else if (bad[i].width == 2)
			put16(frame + bad[i].at, bad[i].val);
		puts("virtio-net-evil: lie: ");
		puts(bad[i].what);
		puts("\n");
		if (send(&bad[i].h) < 0)
			return 4;
		sent_bad++;
	}
	puts("virtio-net-evil: truthful frames\n");
	udp4(100);
	h = partial(0, 0, 34, 6);
	if (send(&h) < 0)
		return 4;
	tcp4(3000);
	h = partial(1, 1000, 34, 16);
	h.hdr_len = 54;
	if (send(&h) < 0)
		return 4;
	tcp6(2500);
	h = partial(4, 1200, 54, 16);
	h.hdr_len = 74;
	if (send(&h) < 0)
		return 4;

	puts("virtio-net-evil: reset, without CSUM\n");
	if (dev_init(1u << 5) < 0)
		return 3;
	udp4(100);
	h = partial(0, 0, 34, 6);
	if (send(&h) < 0)
		return 4;
	arp();
	memset(&h, 0, sizeof(h));
	if (send(&h) < 0)
		return 4;
	for (n = 0; n < 50000000; n++) {
		if (rxused[1] != rxq.used) {
			if (r[12] == 0x08 && r[13] == 0x06 && r[21] == 2 &&
			    r[28] == 10 && r[31] == 2) {
				puts("virtio-net-evil: ARP reply from "
				    "10.0.2.2\n");
				return 0;
			}
			/* Something else: give the buffer back. */
			rxq.used++;
			queue_post(&rxq, BUF_RX, 2048, 1, 0);
		}
		outb(0x80, 0);
	}
	return 5;
}
