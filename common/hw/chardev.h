/*
 * A character stream between a device (a UART) and vm-run's console or a
 * file.  Output is pushed; input is pulled: the backend buffers what the
 * user types and calls notify when bytes are waiting; the device takes them
 * with read() only as fast as the guest drains its FIFO, so nothing a pipe
 * gives is ever dropped.  Called with the VM I/O lock held.
 */
#ifndef VM_HW_CHARDEV_H
#define VM_HW_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct chardev {
	/* Backend side, set by the owner of the terminal or file. */
	void (*write)(struct chardev *cd, const uint8_t *buf, size_t len);
	size_t (*read)(struct chardev *cd, uint8_t *buf, size_t max);
	size_t (*pending)(struct chardev *cd); /* bytes read() would give */
	void *backend;
	/* Frontend side, set by the device: "input is waiting". */
	void (*notify)(void *opaque);
	void *frontend;
};

static inline void
chardev_notify(struct chardev *cd)
{
	if (cd->notify)
		cd->notify(cd->frontend);
}

#endif
