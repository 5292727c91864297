/*
 * The architectural state after RESET (Intel SDM vol. 3, 9.1.1, table
 * 9-1): real mode at F000:FFF0 with CS.base 0xFFFF0000, 64 KiB limits,
 * CR0 = 0x60000010, EDX = family/model/stepping, the x87 and SSE control
 * words at their defaults.  The BSP has IA32_APIC_BASE.BSP set.
 */
#include <string.h>

#include "cpu/cpu.h"

static void
real_seg(struct x86_seg *s, uint16_t sel, uint64_t base, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = base;
	s->limit = 0xffff;
	s->type = type;
	s->s = 1;
	s->present = 1;
}

void
cpu_reset_state(struct x86_state *st, int id)
{
	int i;

	memset(st, 0, sizeof(*st));
	st->rip = 0xfff0;
	st->rflags = 0x2;
	real_seg(&st->seg[X86_CS], 0xf000, 0xffff0000ULL, 0xb);
	for (i = 0; i < X86_NSEG; i++) {
		if (i == X86_CS || i == X86_LDTR || i == X86_TR)
			continue;
		real_seg(&st->seg[i], 0, 0, 0x3);
	}
	st->seg[X86_LDTR].limit = 0xffff;
	st->seg[X86_LDTR].type = 0x2;
	st->seg[X86_LDTR].present = 1;
	st->seg[X86_TR].limit = 0xffff;
	st->seg[X86_TR].type = 0xb;
	st->seg[X86_TR].present = 1;
	st->gdtr.limit = 0xffff;
	st->idtr.limit = 0xffff;
	st->cr0 = 0x60000010ULL;
	st->gpr[X86_RDX] = 0x000806f8; /* family 6, as cpuid leaf 1 says */
	st->apic_base = 0xfee00000ULL | (1u << 11) | (id == 0 ? 1u << 8 : 0);
	/* Application processors come out of reset waiting for SIPI. */
	st->sipi_wait = id != 0;
	st->halted = id != 0;
	st->pat = 0x0007040600070406ULL;
	st->xcr0 = 1;
	/* FXSAVE image: FCW 0x037f, MXCSR 0x1f80, MXCSR_MASK 0xffff. */
	st->fxsave[0] = 0x7f;
	st->fxsave[1] = 0x03;
	st->fxsave[24] = 0x80;
	st->fxsave[25] = 0x1f;
	st->fxsave[28] = 0xff;
	st->fxsave[29] = 0xff;
	st->irq_injected = -1;
}
