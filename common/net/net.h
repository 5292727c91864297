/*
 * Network back ends: where a NIC's frames go.  Every back end speaks raw
 * Ethernet frames (no virtio header, no FCS): net_send hands it one frame
 * from the guest; frames for the guest come back through the rx callback,
 * on the event loop's thread or inside net_send, always with the event
 * loop's lock held (the VM-wide I/O lock).  net.c holds the table:
 *   nat          user-mode NAT on libslirp (net/slirp.c)
 *   switch:NAME  a port on a vm-net switch (net/switch-port.c)
 *   tap:DEV      a host tap device (net/tap.c)
 */
#ifndef VM_NET_NET_H
#define VM_NET_NET_H

#include <stddef.h>
#include <stdint.h>

struct evloop;
struct vm_err;

#define NET_MAX_FORWARDS 16
#define NET_FRAME_MAX 65536

typedef void (*net_rx_fn)(void *opaque, const void *frame, size_t len);
struct net_vnet_hdr;
struct net_gso_info;
/* A frame for the guest behind a checked virtio_net_hdr whose offloads
 * are still to do (a TSO frame from another guest or the host, a partial
 * checksum): for a NIC that can hand them on (virtio-net with GUEST_TSO);
 * the NIC completes what its guest did not negotiate (net_offload_emit).
 * h->flags may hold NET_VNET_F_DATA_VALID.  frame is writable. */
typedef void (*net_rx_vnet_fn)(void *opaque, const struct net_vnet_hdr *h,
    const struct net_gso_info *gi, uint8_t *frame, size_t len);

/* What a back end is opened with. */
struct net_params {
	const char *spec;               /* "nat", "switch:lan0" */
	const char *forwards[NET_MAX_FORWARDS]; /* "tcp:8080:80" (nat) */
	int nforwards;
	const char *origin;             /* for messages: "--net", "vm.yaml:9:5" */
	const char *vm_name;
	uint8_t mac[6];                 /* the NIC's */
	int vlan;                       /* switch: access VLAN, 0 = default */
	int trunk;                      /* switch: a trunk port (802.1Q) */
	const char *tftp;               /* nat: TFTP root, NULL or "" none */
	const char *bootfile;           /* nat: DHCP boot file, NULL none */
	const char *subnet;             /* nat: "a.b.c.d/P" (16 to 27), NULL
	                                 * or "" 10.0.2.0/24; the host is .2,
	                                 * DNS .3, DHCP from .15 */
};

/* A switch port may say what it is in its first message, before any
 * frame: NET_HELLO_LEN bytes (too short to be a frame), "VMKP", the
 * access VLAN (2 bytes, big-endian, 1 to 4094), flags (NET_HELLO_TRUNK),
 * a zero byte.  Without one the port is an access port on VLAN 1. */
#define NET_HELLO_LEN 8
#define NET_HELLO_TRUNK 1
/* The port's messages, both ways, are a 12-byte virtio_net_hdr
 * (NET_VNET_HDR_LEN, num_buffers 0) and the frame, so TSO frames and
 * partial checksums cross the switch whole.  Not with NET_HELLO_TRUNK. */
#define NET_HELLO_VNET 2
#define NET_VLAN_DEFAULT 1
#define NET_VLAN_MAX 4094
/* The hello of an access port on vlan (0: the default) or of a trunk;
 * flags: more NET_HELLO_* (NET_HELLO_VNET). */
void net_hello_build(uint8_t h[NET_HELLO_LEN], int vlan, int trunk,
    unsigned flags);

struct net_backend;

struct net_backend_ops {
	const char *name;               /* the spec's word before ':' */
	int (*open)(struct net_backend *nb, const struct net_params *p,
	    const char *arg, struct vm_err *err);
	void (*send)(struct net_backend *nb, const void *frame, size_t len);
	/* (optional) A frame behind its virtio_net_hdr (NET_VNET_HDR_LEN
	 * bytes, checked), offloads still to do: for a back end that passes
	 * them on (a tap with IFF_VNET_HDR).  Used when vnet_hdr is set. */
	void (*send_vnet)(struct net_backend *nb, const uint8_t *hdr,
	    const void *frame, size_t len);
	void (*close)(struct net_backend *nb);
};

struct net_backend {
	const struct net_backend_ops *ops;
	struct evloop *loop;
	net_rx_fn rx;
	/* (optional, set by the NIC after net_open) frames behind their
	 * offload headers; without it net_deliver_vnet completes them. */
	net_rx_vnet_fn rx_vnet;
	void *rx_opaque;
	void *priv;
	uint64_t tx_frames, rx_frames, tx_dropped;
	/* Frames this back end gives the guest have checksums known to be
	 * right (NAT's, which libslirp makes): a NIC may tell the guest so
	 * and spare it the check. */
	int rx_csum_valid;
	/* send_vnet works (the tap took IFF_VNET_HDR). */
	int vnet_hdr;
	/* Called (if set) when the far end goes away for good (a switch
	 * that stops). */
	void (*hangup)(void *opaque);
};

/* Check a spec without opening anything: 0, or -EINVAL with err set. */
int net_check_spec(const char *spec, struct vm_err *err);
/* Open the back end p->spec names on loop; NULL with err set. */
struct net_backend *net_open(const struct net_params *p, struct evloop *loop,
    net_rx_fn rx, void *rx_opaque, struct vm_err *err);
/* A frame from the guest (dropped if the back end cannot take it now). */
void net_send(struct net_backend *nb, const void *frame, size_t len);
void net_close(struct net_backend *nb);
/* A frame from the guest with the offloads its (checked) virtio header
 * asks for: passed on with its header to a back end that takes them
 * (vnet_hdr), else the checksum completed or the frame segmented here
 * (net/offload.h), so that the back end gets real frames.  f may be
 * changed in place.  The number of frames the back end was given. */
unsigned net_send_offload(struct net_backend *nb,
    const struct net_vnet_hdr *h, const struct net_gso_info *gi, uint8_t *f,
    size_t len);

/* For back ends: a frame for the guest behind its virtio_net_hdr (hdr,
 * NET_VNET_HDR_LEN bytes from a peer: not trusted), frame writable.  The
 * header is checked (a lying one drops the frame: 0); the frame goes to
 * nb->rx_vnet whole, or, without one, to nb->rx completed or cut into
 * segments.  The number of frames given to the NIC. */
unsigned net_deliver_vnet(struct net_backend *nb, const uint8_t *hdr,
    uint8_t *frame, size_t len);

/* Parse one NAT forward rule, "tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT". */
int net_parse_forward(const char *rule, int *udp, uint32_t *host_addr,
    uint16_t *host_port, uint16_t *guest_port, struct vm_err *err);
/* A stable locally administered unicast MAC from a name and an index
 * (52:54:00 as QEMU's, then 3 bytes of a hash). */
void net_mac_derive(const char *name, int index, uint8_t mac[6]);
/* The directory of switch sockets, $XDG_RUNTIME_DIR/vmkit/net (or
 * /tmp/vmkit-UID/net without it), created (mode 0700) if mkdir is set;
 * and the socket of switch name in it (name: letters, digits, '.', '_',
 * '-', at most 64).  0 or -errno with err set. */
int net_switch_dir(char *buf, size_t len, int mkdir, struct vm_err *err);
int net_switch_path(const char *name, const char *ext, char *buf, size_t len,
    int mkdir, struct vm_err *err);
/* Is name a network interface name (1..15 characters, no '/', ':',
 * spaces)?  0 or -EINVAL with err set. */
int net_tap_name_check(const char *name, struct vm_err *err);
/* Open tap device name (IFF_TAP | IFF_NO_PI, non-blocking), creating it
 * if it does not exist and we may; its name into actual.  With *vnet
 * set, ask for IFF_VNET_HDR too (12-byte headers, no offloads on what
 * is read) and clear *vnet if the kernel will not.  The fd, or -errno
 * with err set (the message says what to do without CAP_NET_ADMIN). */
int net_tap_open_fd(const char *name, int *vnet, char *actual, size_t len,
    struct vm_err *err);
/* Frames for a guest that has no receive buffer free just now: a NIC
 * keeps up to NET_RXQ_MAX of them, oldest first, and delivers them when
 * the guest posts buffers. */
#define NET_RXQ_MAX 64

struct net_rxq_frame {
	size_t len;
	int has_hdr;                    /* hdr holds a virtio_net_hdr */
	uint8_t hdr[12];                /* NET_VNET_HDR_LEN */
	uint8_t data[];
};

struct net_rxq {
	struct net_rxq_frame *q[NET_RXQ_MAX];
	unsigned head, count;
};

/* Append a copy of frame: 0, or -1 (full, or out of memory: dropped). */
int net_rxq_push(struct net_rxq *q, const void *frame, size_t len);
/* The same, with the virtio_net_hdr the frame goes behind (12 bytes). */
int net_rxq_push_hdr(struct net_rxq *q, const uint8_t *hdr,
    const void *frame, size_t len);
/* The oldest frame, NULL if none; net_rxq_pop frees it. */
const struct net_rxq_frame *net_rxq_peek(const struct net_rxq *q);
void net_rxq_pop(struct net_rxq *q);
void net_rxq_clear(struct net_rxq *q);

/* "xx:xx:xx:xx:xx:xx" -> mac; 0 or -EINVAL. */
int net_mac_parse(const char *s, uint8_t mac[6]);

#endif
