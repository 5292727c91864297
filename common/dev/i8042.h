/*
 * The i8042's keyboard, as vm-run's VGA console feeds it: key presses
 * become the scancodes the guest reads at port 0x60.  Called with the
 * VM I/O lock held (event-loop callbacks).
 */
#ifndef VM_DEV_I8042_H
#define VM_DEV_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/termkey.h"

struct dev;

/* Key down or up on the i8042 device d: its bytes queue for the guest
 * (scan set 2, or set 1 when the controller translates, as BIOSes and
 * Linux have it). */
void i8042_key(struct dev *d, enum term_key key, bool down);
/* Bytes the keyboard and the controller hold that the guest has not
 * read yet. */
size_t i8042_pending(struct dev *d);
/* The bytes key sends going down or up in scan set 1 or 2, in out (at
 * least 4); the count, 0 for an unknown key. */
size_t i8042_scancode(enum term_key key, bool down, int set, uint8_t *out);

#endif
