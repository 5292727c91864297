/*
 * The table of network back ends, and what they share: spec parsing,
 * forward rules, MAC addresses.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "net/offload.h"
#include "util/err.h"
#include "util/rundir.h"

extern const struct net_backend_ops net_nat_ops;
extern const struct net_backend_ops net_switch_ops;
extern const struct net_backend_ops net_tap_ops;

static const struct net_backend_ops *const backends[] = {
	&net_nat_ops,
	&net_switch_ops,
	&net_tap_ops,
	NULL,
};

/* The ops for spec's first word; *arg = what follows ':' ("" if none). */
static const struct net_backend_ops *
find(const char *spec, const char **arg)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	int i;

	*arg = colon ? colon + 1 : "";
	for (i = 0; backends[i] != NULL; i++)
		if (strlen(backends[i]->name) == n &&
		    strncmp(backends[i]->name, spec, n) == 0)
			return backends[i];
	return NULL;
}

int
net_check_spec(const char *spec, struct vm_err *err)
{
	const struct net_backend_ops *ops;
	const char *arg;

	ops = find(spec, &arg);
	if (ops == NULL)
		return vm_err_set(err, -EINVAL, "'%s' is not a network (use "
		    "nat, switch:NAME, tap:DEV or none)", spec);
	if (ops == &net_tap_ops) {
		if (arg[0] == '\0')
			return vm_err_set(err, -EINVAL, "'%s': name the tap "
			    "device (tap:DEV)", spec);
		return net_tap_name_check(arg, err);
	}
	if (ops == &net_switch_ops && arg[0] == '\0')
		return vm_err_set(err, -EINVAL, "'%s': name the switch "
		    "(switch:NAME)", spec);
	if (ops == &net_nat_ops && strchr(spec, ':'))
		return vm_err_set(err, -EINVAL, "'%s': nat takes no name",
		    spec);
	return 0;
}

struct net_backend *
net_open(const struct net_params *p, struct evloop *loop, net_rx_fn rx,
    void *rx_opaque, struct vm_err *err)
{
	const struct net_backend_ops *ops;
	struct net_backend *nb;
	const char *arg;

	if (net_check_spec(p->spec, err) < 0)
		return NULL;
	ops = find(p->spec, &arg);
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	nb->ops = ops;
	nb->loop = loop;
	nb->rx = rx;
	nb->rx_opaque = rx_opaque;
	if (ops->open(nb, p, arg, err) < 0) {
		free(nb);
		return NULL;
	}
	return nb;
}

void
net_send(struct net_backend *nb, const void *frame, size_t len)
{
	nb->tx_frames++;
	nb->ops->send(nb, frame, len);
}

static void
send_one(void *opaque, const void *frame, size_t len)
{
	net_send(opaque, frame, len);
}

unsigned
net_send_offload(struct net_backend *nb, const struct net_vnet_hdr *h,
    const struct net_gso_info *gi, uint8_t *f, size_t len)
{
	uint8_t b[NET_VNET_HDR_LEN];
	struct net_vnet_hdr v = *h;

	if (nb->vnet_hdr && nb->ops->send_vnet) {
		v.num_buffers = 0;
		net_vnet_hdr_put(b, &v);
		nb->tx_frames++;
		nb->ops->send_vnet(nb, b, f, len);
		return 1;
	}
	return net_offload_emit(h, gi, f, len, send_one, nb);
}

void
net_close(struct net_backend *nb)
{
	if (nb == NULL)
		return;
	nb->ops->close(nb);
	free(nb);
}

static int
port_parse(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
net_parse_forward(const char *rule, int *udp, uint32_t *host_addr,
    uint16_t *host_port, uint16_t *guest_port, struct vm_err *err)
{
	const char *f[4], *p;
	size_t len[4];
	char addr[64];
	struct in_addr in;
	int n = 0;

	for (p = rule; n < 4; n++) {
		const char *c = strchr(p, ':');

		f[n] = p;
		len[n] = c ? (size_t)(c - p) : strlen(p);
		if (c == NULL) {
			n++;
			break;
		}
		p = c + 1;
	}
	if ((n != 3 && n != 4) || strchr(f[n - 1], ':'))
		goto bad;
	if (len[0] == 3 && strncmp(f[0], "tcp", 3) == 0)
		*udp = 0;
	else if (len[0] == 3 && strncmp(f[0], "udp", 3) == 0)
		*udp = 1;
	else
		goto bad;
	*host_addr = htonl(INADDR_LOOPBACK);
	if (n == 4) {
		if (len[1] >= sizeof(addr))
			goto bad;
		memcpy(addr, f[1], len[1]);
		addr[len[1]] = '\0';
		if (inet_pton(AF_INET, addr, &in) != 1)
			return vm_err_set(err, -EINVAL, "forward '%s': '%s' is "
			    "not an IPv4 address", rule, addr);
		*host_addr = in.s_addr;
	}
	if (port_parse(f[n - 2], len[n - 2], host_port) < 0 ||
	    port_parse(f[n - 1], len[n - 1], guest_port) < 0)
		return vm_err_set(err, -EINVAL, "forward '%s': ports are "
		    "numbers from 1 to 65535", rule);
	return 0;
bad:
	return vm_err_set(err, -EINVAL, "forward '%s' is not "
	    "tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT", rule);
}

void
net_mac_derive(const char *name, int index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;       /* FNV-1a */
	const char *s;

	for (s = name; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	h = (h ^ (uint8_t)index) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

int
net_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
	    &b[3], &b[4], &b[5], &tail) != 6 || strlen(s) != 17 || (b[0] & 1))
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int
net_switch_dir(char *buf, size_t len, int mk, struct vm_err *err)
{
	return rundir_path("net", buf, len, mk, err);
}

int
net_switch_path(const char *name, const char *ext, char *buf, size_t len,
    int mk, struct vm_err *err)
{
	char dir[160];
	int ret;

	if (!rundir_name_ok(name))
		return vm_err_set(err, -EINVAL, "'%s' is not a switch name "
		    "(letters, digits, '.', '_', '-'; at most 64)", name);
	ret = net_switch_dir(dir, sizeof(dir), mk, err);
	if (ret < 0)
		return ret;
	snprintf(buf, len, "%s/%s.%s", dir, name, ext);
	return 0;
}

void
net_hello_build(uint8_t h[NET_HELLO_LEN], int vlan, int trunk,
    unsigned flags)
{
	int v = vlan ? vlan : NET_VLAN_DEFAULT;

	memcpy(h, "VMKP", 4);
	h[4] = (uint8_t)(v >> 8);
	h[5] = (uint8_t)v;
	h[6] = (uint8_t)((trunk ? NET_HELLO_TRUNK : 0) | flags);
	h[7] = 0;
}

static void
deliver_one(void *opaque, const void *frame, size_t len)
{
	struct net_backend *nb = opaque;

	nb->rx_frames++;
	nb->rx(nb->rx_opaque, frame, len);
}

unsigned
net_deliver_vnet(struct net_backend *nb, const uint8_t *hdr, uint8_t *frame,
    size_t len)
{
	struct net_vnet_hdr h;
	struct net_gso_info gi;
	uint8_t valid;

	if (len < 14 || len > NET_FRAME_MAX)
		return 0;
	net_vnet_hdr_get(hdr, &h);
	h.num_buffers = 0;
	/* DATA_VALID: the peer checked the frame's checksums. */
	valid = h.flags & NET_VNET_F_DATA_VALID;
	h.flags &= (uint8_t)~NET_VNET_F_DATA_VALID;
	if (net_offload_check(&h, frame, len, NET_OFF_CSUM | NET_OFF_TSO4 |
	    NET_OFF_TSO6, &gi) != NET_HDR_OK)
		return 0;
	if (nb->rx_vnet == NULL)
		return net_offload_emit(&h, &gi, frame, len, deliver_one, nb);
	h.flags |= valid;
	nb->rx_frames++;
	nb->rx_vnet(nb->rx_opaque, &h, &gi, frame, len);
	return 1;
}

_Static_assert(sizeof(((struct net_rxq_frame *)0)->hdr) == NET_VNET_HDR_LEN,
    "net_rxq_frame holds a virtio_net_hdr");

static int
rxq_add(struct net_rxq *q, const uint8_t *hdr, const void *frame, size_t len)
{
	struct net_rxq_frame *f;

	if (q->count == NET_RXQ_MAX)
		return -1;
	f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return -1;
	f->len = len;
	f->has_hdr = hdr != NULL;
	if (hdr)
		memcpy(f->hdr, hdr, sizeof(f->hdr));
	memcpy(f->data, frame, len);
	q->q[(q->head + q->count) % NET_RXQ_MAX] = f;
	q->count++;
	return 0;
}

int
net_rxq_push(struct net_rxq *q, const void *frame, size_t len)
{
	return rxq_add(q, NULL, frame, len);
}

int
net_rxq_push_hdr(struct net_rxq *q, const uint8_t *hdr, const void *frame,
    size_t len)
{
	return rxq_add(q, hdr, frame, len);
}

const struct net_rxq_frame *
net_rxq_peek(const struct net_rxq *q)
{
	return q->count ? q->q[q->head] : NULL;
}

void
net_rxq_pop(struct net_rxq *q)
{
	if (q->count == 0)
		return;
	free(q->q[q->head]);
	q->q[q->head] = NULL;
	q->head = (q->head + 1) % NET_RXQ_MAX;
	q->count--;
}

void
net_rxq_clear(struct net_rxq *q)
{
	while (q->count > 0)
		net_rxq_pop(q);
}
