/*
 * virtio-rng (virtio spec 1.2 section 5.4): the guest's entropy source,
 * filled from the host's getrandom().  One queue; no arg.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "dev/dev.h"
#include "dev/virtio.h"
#include "snap/snap.h"
#include "util/err.h"
#include "vm/vm.h"

#define VIRTIO_ID_ENTROPY 4

struct vrng {
	struct virtio_dev v;
};

static void
vrng_notify(struct virtio_dev *v, unsigned q)
{
	struct virtq_elem e;
	uint8_t buf[4096];
	bool any = false;

	while (virtq_pop(v, q, &e) > 0) {
		size_t want = e.in_len < sizeof(buf) ? e.in_len : sizeof(buf);
		ssize_t got = getrandom(buf, want, GRND_NONBLOCK);

		if (got < 0)
			got = 0;
		iov_from_buf(e.in, e.nin, 0, buf, (size_t)got);
		virtq_push(v, q, &e, (uint32_t)got);
		any = true;
	}
	if (any)
		virtq_notify(v, q);
}

static const struct virtio_ops vrng_ops = {
	.notify = vrng_notify,
};

static int
vrng_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct vrng *r = d->priv;

	(void)arg;
	r->v.opaque = r;
	return virtio_pci_init(&r->v, vm, d->id, VIRTIO_ID_ENTROPY, 0x00ff00,
	    1, 64, &vrng_ops, 0, NULL, 0, err);
}

static void
vrng_unrealize(struct dev *d)
{
	struct vrng *r = d->priv;

	virtio_pci_fini(&r->v);
}

const struct dev_type virtio_rng_type = {
	.name = "virtio-rng",
	.desc = "virtio entropy device (PCI), fed by getrandom()",
	.priv_size = sizeof(struct vrng),
	.realize = vrng_realize,
	.unrealize = vrng_unrealize,
	.state = virtio_dev_state,
	.state_version = 1,
	.post_load = virtio_dev_post_load,
	.load_check = virtio_dev_load_check,
};
