/*
 * Ports that end vm-run with a status chosen by the guest:
 *  - QEMU's isa-debug-exit at 0xf4 (4 ports): writing v ends with status
 *    (v << 1) | 1, so test kernels written for QEMU run unchanged;
 *  - vmkit's exit port at 0x5e0 (4 ports): writing v ends with status v
 *    itself, 0 included (values above 255 are truncated, as exit(3) does).
 * Plus the ports that only sink or echo: POST codes at 0x80 (logged under
 * --log=dev) and QEMU's debugcon at 0x402 (bytes go to the console, reads
 * return 0xe9 as QEMU's does, so guests can detect it).
 */
#include <errno.h>
#include <stdio.h>

#include "dev/dev.h"
#include "hw/bus.h"
#include "hw/chardev.h"
#include "hw/pc.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

struct exitp {
	struct vm *vm;
};

static uint64_t
exit_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;
}

static void
qemu_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct exitp *e = opaque;
	char diag[64];
	int status = (int)((((uint32_t)val << 1) | 1) & 0xff);

	(void)off;
	(void)size;
	snprintf(diag, sizeof(diag), "isa-debug-exit 0x%llx",
	    (unsigned long long)val);
	vm_request_exit(e->vm, VM_EXIT_PORT, status, diag);
}

static void
vmkit_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct exitp *e = opaque;
	char diag[64];

	(void)size;
	if (off != 0)
		return;
	snprintf(diag, sizeof(diag), "exit port %llu",
	    (unsigned long long)val);
	vm_request_exit(e->vm, VM_EXIT_PORT, (int)(val & 0xff), diag);
}

static void
post_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	log_debug(LOG_DEV, "POST code 0x%02llx", (unsigned long long)val);
}

static uint64_t
debugcon_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0xe9;
}

static void
debugcon_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct exitp *e = opaque;
	uint8_t b = (uint8_t)val;

	(void)off;
	(void)size;
	/* Firmware writes its debug log here: stderr, with --log=dev. */
	if (e->vm->bios != NULL) {
		if (log_cat_on(LOG_DEV))
			fputc(b, stderr);
		return;
	}
	if (e->vm->console && e->vm->console->write)
		e->vm->console->write(e->vm->console, &b, 1);
}

static const struct io_ops qemu_exit_ops = { exit_read, qemu_exit_write };
static const struct io_ops vmkit_exit_ops = { exit_read, vmkit_exit_write };
static const struct io_ops post_ops = { exit_read, post_write };
static const struct io_ops debugcon_ops = { debugcon_read, debugcon_write };

static int
exitp_realize(struct dev *d, struct vm *vm, const void *arg,
    struct vm_err *err)
{
	struct exitp *e = d->priv;
	int ret;

	(void)arg;
	e->vm = vm;
	ret = bus_map(vm->pio, PC_PORT_DEBUG_EXIT, 4, &qemu_exit_ops, e,
	    "isa-debug-exit", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_VMKIT_EXIT, 4, &vmkit_exit_ops,
		    e, "vmkit-exit", err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_POST, 1, &post_ops, e, "post",
		    err);
	if (ret == 0)
		ret = bus_map(vm->pio, PC_PORT_DEBUGCON, 1, &debugcon_ops, e,
		    "debugcon", err);
	return ret;
}

/* The exit ports hold no state: an empty section says so. */
static int
exitp_state(struct dev *d, struct snap_vis *v)
{
	(void)d;
	return v->failed;
}

const struct dev_type exit_ports_type = {
	.name = "exit-ports",
	.desc = "isa-debug-exit, vmkit exit port, POST and debugcon ports",
	.priv_size = sizeof(struct exitp),
	.realize = exitp_realize,
	.state = exitp_state,
	.state_version = 1,
};
