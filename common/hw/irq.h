/*
 * Interrupt lines.  A device raises a GSI (global system interrupt: ISA IRQ
 * n is GSI n, PCI INTx lines are GSI 16..23) and signals MSIs; where they
 * go depends on the back end: KVM's in-kernel irqchip, or the user-space
 * PIC + IOAPIC + LAPICs the DBT uses (hw/intc.c).  Callers hold the VM I/O
 * lock (bus callbacks and event-loop callbacks already do).
 */
#ifndef VM_HW_IRQ_H
#define VM_HW_IRQ_H

#include <stddef.h>
#include <stdint.h>

struct irq_router {
	void (*set_level)(void *opaque, unsigned gsi, int level);
	/* MSI: a 32-bit write of data to address (0xfeeXXXXX). */
	void (*msi)(void *opaque, uint64_t addr, uint32_t data);
	void *opaque;
};

#define IRQ_MAX_GSI 24

/* level 1 asserts, 0 deasserts.  Edge-triggered ISA devices pulse. */
static inline void
irq_set(const struct irq_router *r, unsigned gsi, int level)
{
	if (r != NULL && r->set_level != NULL && gsi < IRQ_MAX_GSI)
		r->set_level(r->opaque, gsi, level);
}

static inline void
irq_pulse(const struct irq_router *r, unsigned gsi)
{
	irq_set(r, gsi, 1);
	irq_set(r, gsi, 0);
}

static inline void
irq_msi(const struct irq_router *r, uint64_t addr, uint32_t data)
{
	if (r != NULL && r->msi != NULL)
		r->msi(r->opaque, addr, data);
}

#endif
