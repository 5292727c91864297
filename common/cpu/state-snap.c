/*
 * The canonical vCPU state as a snapshot section: every field of struct
 * x86_state visited by name, so the section means the same whichever back
 * end produced it (get_state) or will consume it (set_state).
 */
#include "cpu/cpu.h"

#include <stdio.h>

#include "snap/snap.h"

static const char *const seg_names[X86_NSEG] = {
	"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr",
};

static void
seg(struct snap_vis *v, const char *s, struct x86_seg *g)
{
	char n[24];

#define F(f) (snprintf(n, sizeof(n), "%s.%s", s, f), n)
	snap_u64(v, F("base"), &g->base);
	snap_u32(v, F("limit"), &g->limit);
	snap_u16(v, F("sel"), &g->sel);
	snap_u8(v, F("type"), &g->type);
	snap_check(v, g->type < 16, n, "not a 4-bit descriptor type");
	snap_u8(v, F("s"), &g->s);
	snap_u8(v, F("dpl"), &g->dpl);
	snap_check(v, g->dpl < 4, n, "not a privilege level");
	snap_u8(v, F("present"), &g->present);
	snap_u8(v, F("avl"), &g->avl);
	snap_u8(v, F("l"), &g->l);
	snap_u8(v, F("db"), &g->db);
	snap_u8(v, F("g"), &g->g);
	snap_u8(v, F("unusable"), &g->unusable);
#undef F
}

int
x86_state_visit(struct x86_state *st, struct snap_vis *v)
{
	int i;

	snap_u64_array(v, "gpr", st->gpr, 16);
	snap_u64(v, "rip", &st->rip);
	snap_u64(v, "rflags", &st->rflags);
	for (i = 0; i < X86_NSEG; i++)
		seg(v, seg_names[i], &st->seg[i]);
	snap_u64(v, "gdtr.base", &st->gdtr.base);
	snap_u16(v, "gdtr.limit", &st->gdtr.limit);
	snap_u64(v, "idtr.base", &st->idtr.base);
	snap_u16(v, "idtr.limit", &st->idtr.limit);
	snap_u64(v, "cr0", &st->cr0);
	snap_u64(v, "cr2", &st->cr2);
	snap_u64(v, "cr3", &st->cr3);
	snap_u64(v, "cr4", &st->cr4);
	snap_u64(v, "cr8", &st->cr8);
	snap_check(v, st->cr8 < 16, "cr8", "more than 4 bits");
	snap_u64_array(v, "dr", st->dr, 8);
	snap_u64(v, "efer", &st->efer);
	snap_u64(v, "xcr0", &st->xcr0);
	snap_u64(v, "tsc", &st->tsc);
	snap_u64(v, "apic_base", &st->apic_base);
	snap_u64(v, "sysenter_cs", &st->sysenter_cs);
	snap_u64(v, "sysenter_esp", &st->sysenter_esp);
	snap_u64(v, "sysenter_eip", &st->sysenter_eip);
	snap_u64(v, "star", &st->star);
	snap_u64(v, "lstar", &st->lstar);
	snap_u64(v, "cstar", &st->cstar);
	snap_u64(v, "sfmask", &st->sfmask);
	snap_u64(v, "kernel_gs_base", &st->kernel_gs_base);
	snap_u64(v, "pat", &st->pat);
	snap_u64(v, "misc_enable", &st->misc_enable);
	snap_u64(v, "tsc_aux", &st->tsc_aux);
	snap_u64(v, "spec_ctrl", &st->spec_ctrl);
	snap_bytes(v, "fxsave", st->fxsave, sizeof(st->fxsave));
	/* Version 2: FCS and FDS apart from the image (x86-state.h).  A
	 * version 1 section has neither, saved or loaded: 0, and the DBT
	 * takes them from a 32-bit image. */
	if (v->version >= 2) {
		snap_u16(v, "fpu_cs", &st->fpu_cs);
		snap_u16(v, "fpu_ds", &st->fpu_ds);
	}
	snap_bytes(v, "lapic", st->lapic, sizeof(st->lapic));
	snap_bool(v, "halted", &st->halted);
	snap_bool(v, "sipi_wait", &st->sipi_wait);
	snap_bool(v, "irq_shadow", &st->irq_shadow);
	snap_bool(v, "nmi_pending", &st->nmi_pending);
	snap_bool(v, "exc_pending", &st->exc_pending);
	snap_u8(v, "exc_vector", &st->exc_vector);
	snap_check(v, st->exc_vector < 32, "exc_vector", "not an exception");
	snap_bool(v, "exc_has_error", &st->exc_has_error);
	snap_u32(v, "exc_error", &st->exc_error);
	snap_i16(v, "irq_injected", &st->irq_injected);
	snap_check(v, st->irq_injected >= -1 && st->irq_injected < 256,
	    "irq_injected", "not a vector");
	return v->failed;
}
