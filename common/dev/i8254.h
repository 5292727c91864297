/*
 * The i8254 PIT's snapshot walk over the canonical channel state, for a
 * back end that keeps the PIT itself (KVM's in-kernel PIT) to save and
 * load the same "dev:pit" section the device does.
 */
#ifndef VMKIT_DEV_I8254_H
#define VMKIT_DEV_I8254_H

#include <stdint.h>

#include "hw/irqchip.h"

struct snap_vis;

/* Walk (save or load) the three channels, port B and channel 0's next
 * IRQ time; returns v->failed. */
int i8254_state_walk(struct pc_pit_ch ch[3], uint8_t *portb, uint64_t *next,
    struct snap_vis *v);

#endif
