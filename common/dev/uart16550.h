/* 16550A UART: realize argument. */
#ifndef VM_DEV_UART16550_H
#define VM_DEV_UART16550_H

#include <stdint.h>

struct chardev;

struct uart_args {
	uint16_t base;          /* I/O port base (8 ports) */
	unsigned gsi;           /* interrupt line */
	struct chardev *cd;     /* NULL: output discarded, no input */
};

#endif
