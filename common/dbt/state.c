/*
 * struct x86_state <-> struct dbt_cpu.  The DBT keeps the architectural
 * state in the same terms (FXSAVE layout included), so this is copying,
 * plus the mode cache and TLB refresh after a load.
 */
#include "dbt/dbt-int.h"

#include <string.h>
#include <x86intrin.h>

#include "hw/intc.h"
#include "vm/vm.h"

void
dbt_state_get(const struct dbt_cpu *c, struct x86_state *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->gpr, c->gpr, sizeof(st->gpr));
	st->rip = c->rip;
	st->rflags = c->rflags;
	memcpy(st->seg, c->seg, sizeof(st->seg));
	st->gdtr = c->gdtr;
	st->idtr = c->idtr;
	st->cr0 = c->cr0;
	st->cr2 = c->cr2;
	st->cr3 = c->cr3;
	st->cr4 = c->cr4;
	st->cr8 = c->cr8;
	memcpy(st->dr, c->dr, sizeof(st->dr));
	st->efer = c->efer;
	st->xcr0 = c->xcr0;
	st->tsc = (uint64_t)((int64_t)__rdtsc() + c->tsc_offset);
	st->sysenter_cs = c->sysenter_cs;
	st->sysenter_esp = c->sysenter_esp;
	st->sysenter_eip = c->sysenter_eip;
	st->star = c->star;
	st->lstar = c->lstar;
	st->cstar = c->cstar;
	st->sfmask = c->sfmask;
	st->kernel_gs_base = c->kernel_gs_base;
	st->pat = c->pat;
	st->misc_enable = c->misc_enable;
	st->tsc_aux = c->tsc_aux;
	st->spec_ctrl = c->spec_ctrl;
	memcpy(st->fxsave, c->fx, sizeof(st->fxsave));
	st->fpu_cs = c->fcs;
	st->fpu_ds = c->fds;
	st->halted = c->halted;
	st->sipi_wait = c->sipi_wait;
	st->irq_shadow = c->irq_shadow;
	st->irq_injected = c->irq_inject;
	if (c->vm != NULL && c->vm->intc != NULL) {
		pthread_mutex_lock(&c->vm->io_lock);
		st->apic_base = lapic_get_base(c->vm->intc, c->index);
		lapic_get_page(c->vm->intc, c->index, st->lapic);
		pthread_mutex_unlock(&c->vm->io_lock);
	}
}

void
dbt_state_set(struct dbt_cpu *c, const struct x86_state *st)
{
	memcpy(c->gpr, st->gpr, sizeof(c->gpr));
	c->rip = st->rip;
	c->rflags = st->rflags | 2;
	memcpy(c->seg, st->seg, sizeof(c->seg));
	c->gdtr = st->gdtr;
	c->idtr = st->idtr;
	c->cr0 = st->cr0;
	c->cr2 = st->cr2;
	c->cr3 = st->cr3;
	c->cr4 = st->cr4;
	c->cr8 = st->cr8;
	memcpy(c->dr, st->dr, sizeof(c->dr));
	c->watch = 0;           /* dbt_watch_update below */
	c->watch_hits = c->watch_held = 0;
	c->efer = st->efer;
	c->xcr0 = st->xcr0;
	c->tsc_offset = (int64_t)st->tsc - (int64_t)__rdtsc();
	c->sysenter_cs = st->sysenter_cs;
	c->sysenter_esp = st->sysenter_esp;
	c->sysenter_eip = st->sysenter_eip;
	c->star = st->star;
	c->lstar = st->lstar;
	c->cstar = st->cstar;
	c->sfmask = st->sfmask;
	c->kernel_gs_base = st->kernel_gs_base;
	c->pat = st->pat;
	c->misc_enable = st->misc_enable;
	c->tsc_aux = st->tsc_aux;
	c->spec_ctrl = st->spec_ctrl & SPEC_CTRL_BITS;
	memcpy(c->fx, st->fxsave, sizeof(c->fx));
	c->halted = st->halted;
	c->sipi_wait = st->sipi_wait;
	c->irq_shadow = st->irq_shadow;
	c->exc_vector = -1;
	c->irq_inject = st->irq_injected;
	if (c->irq_inject >= 0)
		c->halted = false;      /* it was running into the handler */
	if (c->vm != NULL && c->vm->intc != NULL) {
		pthread_mutex_lock(&c->vm->io_lock);
		if (st->apic_base)
			lapic_set_base(c->vm->intc, c->index, st->apic_base);
		pthread_mutex_unlock(&c->vm->io_lock);
	}
	dbt_update_mode(c);
	/* A state with neither (a snapshot from before fpu_cs/fpu_ds, or
	 * KVM's) outside 64-bit mode: the image's 32-bit format has them. */
	c->fcs = st->fpu_cs;
	c->fds = st->fpu_ds;
	if (!c->long64 && c->fcs == 0 && c->fds == 0) {
		memcpy(&c->fcs, c->fx + 12, 2);
		memcpy(&c->fds, c->fx + 20, 2);
	}
	dbt_tlb_flush(c);
	dbt_watch_update(c);
}
