/*
 * struct x86_state <-> KVM's kvm_regs, kvm_sregs, kvm_fpu, MSRs,
 * kvm_lapic_state, kvm_vcpu_events and mp_state, and nothing else.
 * The x87/SSE state goes through KVM_GET/SET_XSAVE where KVM has them: the
 * first 512 bytes of the XSAVE area are the FXSAVE image the canonical
 * state keeps (SDM vol. 1, 13.4.1).  KVM_GET/SET_FPU is only the fallback,
 * because KVM does not carry MXCSR through it (get returns 0, set ignores
 * the field); kvm_fpu is converted to and from the FXSAVE layout (SDM vol.
 * 1, 10.5.1): FCW 0, FSW 2, abridged FTW 4, FOP 6, FIP 8, FDP 16, MXCSR 24,
 * ST0-7 at 32, XMM0-15 at 160.
 */
#include "kvm/kvm-int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

void
kvm_seg_from(struct kvm_segment *k, const struct x86_seg *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

void
kvm_seg_to(struct x86_seg *s, const struct kvm_segment *k)
{
	memset(s, 0, sizeof(*s));
	s->base = k->base;
	s->limit = k->limit;
	s->sel = k->selector;
	s->type = k->type;
	s->present = k->present;
	s->dpl = k->dpl;
	s->db = k->db;
	s->s = k->s;
	s->l = k->l;
	s->g = k->g;
	s->avl = k->avl;
	s->unusable = k->unusable;
}

static const struct {
	uint32_t index;
	size_t off;
} msr_map[] = {
	{ MSR_IA32_SYSENTER_CS, offsetof(struct x86_state, sysenter_cs) },
	{ MSR_IA32_SYSENTER_ESP, offsetof(struct x86_state, sysenter_esp) },
	{ MSR_IA32_SYSENTER_EIP, offsetof(struct x86_state, sysenter_eip) },
	{ MSR_STAR, offsetof(struct x86_state, star) },
	{ MSR_LSTAR, offsetof(struct x86_state, lstar) },
	{ MSR_CSTAR, offsetof(struct x86_state, cstar) },
	{ MSR_SFMASK, offsetof(struct x86_state, sfmask) },
	{ MSR_KERNEL_GS_BASE, offsetof(struct x86_state, kernel_gs_base) },
	{ MSR_IA32_PAT, offsetof(struct x86_state, pat) },
	{ MSR_IA32_MISC_ENABLE, offsetof(struct x86_state, misc_enable) },
	{ MSR_TSC_AUX, offsetof(struct x86_state, tsc_aux) },
	{ MSR_IA32_TSC, offsetof(struct x86_state, tsc) },
};
#define NMSRS (sizeof(msr_map) / sizeof(msr_map[0]))

struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[NMSRS];
};

static void
fpu_to_fx(uint8_t *fx, const struct kvm_fpu *f)
{
	int i;

	memset(fx, 0, 512);
	memcpy(fx + 0, &f->fcw, 2);
	memcpy(fx + 2, &f->fsw, 2);
	fx[4] = f->ftwx;
	memcpy(fx + 6, &f->last_opcode, 2);
	memcpy(fx + 8, &f->last_ip, 8);
	memcpy(fx + 16, &f->last_dp, 8);
	memcpy(fx + 24, &f->mxcsr, 4);
	for (i = 0; i < 8; i++)
		memcpy(fx + 32 + 16 * i, f->fpr[i], 16);
	for (i = 0; i < 16; i++)
		memcpy(fx + 160 + 16 * i, f->xmm[i], 16);
}

static void
fx_to_fpu(struct kvm_fpu *f, const uint8_t *fx)
{
	int i;

	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, fx + 0, 2);
	memcpy(&f->fsw, fx + 2, 2);
	f->ftwx = fx[4];
	memcpy(&f->last_opcode, fx + 6, 2);
	memcpy(&f->last_ip, fx + 8, 8);
	memcpy(&f->last_dp, fx + 16, 8);
	memcpy(&f->mxcsr, fx + 24, 4);
	for (i = 0; i < 8; i++)
		memcpy(f->fpr[i], fx + 32 + 16 * i, 16);
	for (i = 0; i < 16; i++)
		memcpy(f->xmm[i], fx + 160 + 16 * i, 16);
}

/* XSAVE header: XSTATE_BV at byte 512; bit 0 x87, bit 1 SSE. */
#define XSAVE_BV_OFF 512
#define XSAVE_FP_SSE 3ULL

static bool
get_fx(int fd, uint8_t *fx)
{
	struct kvm_xsave xs;
	struct kvm_fpu f;

	if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0) {
		memcpy(fx, xs.region, 512);
		return true;
	}
	if (ioctl(fd, KVM_GET_FPU, &f) < 0)
		return false;
	fpu_to_fx(fx, &f);
	return true;
}

static int
set_fx(int fd, const uint8_t *fx)
{
	struct kvm_xsave xs;
	struct kvm_fpu f;
	uint64_t bv;

	if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0) {
		/* Keep the other components; mark x87 and SSE as present so
		 * XRSTOR loads them rather than their initial state. */
		memcpy(xs.region, fx, 512);
		memcpy(&bv, (uint8_t *)xs.region + XSAVE_BV_OFF, 8);
		bv |= XSAVE_FP_SSE;
		memcpy((uint8_t *)xs.region + XSAVE_BV_OFF, &bv, 8);
		if (ioctl(fd, KVM_SET_XSAVE, &xs) == 0)
			return 0;
	}
	fx_to_fpu(&f, fx);
	return ioctl(fd, KVM_SET_FPU, &f) < 0 ? -errno : 0;
}

static const int seg_order[X86_NSEG] = { X86_ES, X86_CS, X86_SS, X86_DS,
	X86_FS, X86_GS, X86_LDTR, X86_TR };

static struct kvm_segment *
sreg_seg(struct kvm_sregs *sr, int i)
{
	struct kvm_segment *segs[X86_NSEG] = { &sr->es, &sr->cs, &sr->ss,
		&sr->ds, &sr->fs, &sr->gs, &sr->ldt, &sr->tr };

	return segs[i];
}

int
kvm_get_state(int fd, struct x86_state *st)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct msr_buf m;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	st->gpr[X86_RAX] = r.rax; st->gpr[X86_RBX] = r.rbx;
	st->gpr[X86_RCX] = r.rcx; st->gpr[X86_RDX] = r.rdx;
	st->gpr[X86_RSI] = r.rsi; st->gpr[X86_RDI] = r.rdi;
	st->gpr[X86_RSP] = r.rsp; st->gpr[X86_RBP] = r.rbp;
	st->gpr[X86_R8] = r.r8; st->gpr[X86_R9] = r.r9;
	st->gpr[X86_R10] = r.r10; st->gpr[X86_R11] = r.r11;
	st->gpr[X86_R12] = r.r12; st->gpr[X86_R13] = r.r13;
	st->gpr[X86_R14] = r.r14; st->gpr[X86_R15] = r.r15;
	st->rip = r.rip;
	st->rflags = r.rflags;
	for (i = 0; i < X86_NSEG; i++)
		kvm_seg_to(&st->seg[seg_order[i]], sreg_seg(&sr, (int)i));
	st->gdtr.base = sr.gdt.base;
	st->gdtr.limit = sr.gdt.limit;
	st->idtr.base = sr.idt.base;
	st->idtr.limit = sr.idt.limit;
	st->cr0 = sr.cr0; st->cr2 = sr.cr2; st->cr3 = sr.cr3;
	st->cr4 = sr.cr4; st->cr8 = sr.cr8; st->efer = sr.efer;
	st->apic_base = sr.apic_base;
	(void)get_fx(fd, st->fxsave);
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = NMSRS;
	for (i = 0; i < NMSRS; i++)
		m.e[i].index = msr_map[i].index;
	if (ioctl(fd, KVM_GET_MSRS, &m) == (int)NMSRS)
		for (i = 0; i < NMSRS; i++)
			memcpy((uint8_t *)st + msr_map[i].off, &m.e[i].data, 8);
	/* SPEC_CTRL on its own: KVM has it only where the host does. */
	m.hdr.nmsrs = 1;
	m.e[0].index = 0x48;
	if (ioctl(fd, KVM_GET_MSRS, &m) == 1)
		st->spec_ctrl = m.e[0].data;
	if (ioctl(fd, KVM_GET_LAPIC, &lapic) == 0)
		memcpy(st->lapic, lapic.regs, sizeof(st->lapic));
	st->irq_injected = -1;
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) == 0) {
		st->exc_pending = ev.exception.injected || ev.exception.pending;
		st->exc_vector = ev.exception.nr;
		st->exc_has_error = ev.exception.has_error_code;
		st->exc_error = ev.exception.error_code;
		st->nmi_pending = ev.nmi.pending;
		st->irq_shadow = ev.interrupt.shadow != 0;
		if (ev.interrupt.injected)
			st->irq_injected = ev.interrupt.nr;
	}
	if (ioctl(fd, KVM_GET_MP_STATE, &mp) == 0) {
		st->sipi_wait = mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
		    mp.mp_state == KVM_MP_STATE_INIT_RECEIVED;
		st->halted = mp.mp_state == KVM_MP_STATE_HALTED ||
		    st->sipi_wait;
	}
	return 0;
}

int
kvm_set_state(int fd, const struct x86_state *st, bool with_lapic)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct msr_buf m;
	struct kvm_lapic_state lapic;
	size_t i;
	int ret;

	memset(&r, 0, sizeof(r));
	r.rax = st->gpr[X86_RAX]; r.rbx = st->gpr[X86_RBX];
	r.rcx = st->gpr[X86_RCX]; r.rdx = st->gpr[X86_RDX];
	r.rsi = st->gpr[X86_RSI]; r.rdi = st->gpr[X86_RDI];
	r.rsp = st->gpr[X86_RSP]; r.rbp = st->gpr[X86_RBP];
	r.r8 = st->gpr[X86_R8]; r.r9 = st->gpr[X86_R9];
	r.r10 = st->gpr[X86_R10]; r.r11 = st->gpr[X86_R11];
	r.r12 = st->gpr[X86_R12]; r.r13 = st->gpr[X86_R13];
	r.r14 = st->gpr[X86_R14]; r.r15 = st->gpr[X86_R15];
	r.rip = st->rip;
	r.rflags = st->rflags | 2;
	if (ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	for (i = 0; i < X86_NSEG; i++)
		kvm_seg_from(sreg_seg(&sr, (int)i), &st->seg[seg_order[i]]);
	sr.gdt.base = st->gdtr.base;
	sr.gdt.limit = st->gdtr.limit;
	sr.idt.base = st->idtr.base;
	sr.idt.limit = st->idtr.limit;
	sr.cr0 = st->cr0; sr.cr2 = st->cr2; sr.cr3 = st->cr3;
	sr.cr4 = st->cr4; sr.cr8 = st->cr8; sr.efer = st->efer;
	if (st->apic_base)
		sr.apic_base = st->apic_base;
	memset(sr.interrupt_bitmap, 0, sizeof(sr.interrupt_bitmap));
	if (ioctl(fd, KVM_SET_SREGS, &sr) < 0 || ioctl(fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	ret = set_fx(fd, st->fxsave);
	if (ret < 0)
		return ret;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = NMSRS;
	for (i = 0; i < NMSRS; i++) {
		m.e[i].index = msr_map[i].index;
		memcpy(&m.e[i].data, (const uint8_t *)st + msr_map[i].off, 8);
	}
	(void)ioctl(fd, KVM_SET_MSRS, &m); /* MSRs KVM lacks are skipped */
	m.hdr.nmsrs = 1;
	m.e[0].index = 0x48;
	m.e[0].data = st->spec_ctrl;
	(void)ioctl(fd, KVM_SET_MSRS, &m);
	if (with_lapic) {
		memcpy(lapic.regs, st->lapic, sizeof(lapic.regs));
		if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
			return -errno;
	}
	if (st->irq_injected >= 0) {
		/* a vector taken from the LAPIC or PIC (its ISR bit set) and
		 * on its way in when the state was read: it goes in, or it
		 * would stay in service for ever */
		struct kvm_vcpu_events ev;

		if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			return -errno;
		ev.interrupt.injected = 1;
		ev.interrupt.nr = (uint8_t)st->irq_injected;
		ev.interrupt.soft = 0;
		ev.flags = 0;
		if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
			return -errno;
	}
	return 0;
}
