/*
 * The PC's interrupt controllers and PIT in canonical form: the fields the
 * DBT's devices (hw/intc.c, dev/i8254.c) keep and save, which a back end
 * with its own in-kernel irqchip (KVM) converts its state to and from, so
 * that a snapshot's "intc" and "dev:pit" sections are the same whichever
 * back end wrote them.  Times are ns of the VM clock (clock_ns).
 */
#ifndef VMKIT_HW_IRQCHIP_H
#define VMKIT_HW_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

struct pc_pic_regs {
	uint8_t irr, isr, imr, base, elcr, lines;
	uint8_t step;           /* 0 = ready, 2..4 = expecting ICW2..4 */
	bool icw4, single, auto_eoi, read_isr;
};

struct pc_pit_ch {
	uint8_t mode, rw, bcd;
	uint32_t reload;        /* 1..65536 */
	uint64_t start;         /* ns when loaded (or gated on) */
	bool loaded;
	bool latched;
	uint16_t latch;
	bool lsb_next;          /* byte toggle for rw = 3 reads */
	bool wlsb_next;         /* and writes */
	uint8_t wlow;
	bool gate;
	bool status_latched;
	uint8_t status;
};

struct pc_irqchip {
	struct pc_pic_regs pic[2];
	uint32_t io_id;         /* the IOAPIC ID register (ID in 27:24) */
	uint8_t io_sel;
	uint64_t io_redir[24];
	uint32_t io_lines;
	struct pc_pit_ch pit[3];
	uint8_t portb;          /* port 0x61's gate and speaker bits */
};

#endif
