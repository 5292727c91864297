/*
 * KVM's in-kernel PICs, IOAPIC and PIT to and from the canonical form the
 * DBT's devices keep (hw/irqchip.h), field by field: KVM_GET/SET_IRQCHIP
 * and KVM_GET/SET_PIT2.  The LAPICs travel in each vCPU's state
 * (KVM_GET/SET_LAPIC, regs.c).  KVM's PIT counts from CLOCK_MONOTONIC
 * times (ktime); the canonical form's are the VM clock's, so a load time
 * is moved by the difference between the two clocks now.
 */
#include "kvm/kvm-int.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu/cpu.h"
#include "hw/irqchip.h"
#include "util/evloop.h"
#include "vm/vm.h"

/* KVM's PIC init_state counts 0 (ready), 1..3 (ICW2..4 expected);
 * the canonical step is 0 or 2..4. */
static void
pic_from_kvm(struct pc_pic_regs *r, const struct kvm_pic_state *k)
{
	r->irr = k->irr; r->isr = k->isr; r->imr = k->imr;
	r->base = k->irq_base; r->elcr = k->elcr; r->lines = k->last_irr;
	r->step = k->init_state >= 1 && k->init_state <= 3 ?
	    (uint8_t)(k->init_state + 1) : 0;
	r->icw4 = k->init4; r->single = false;
	r->auto_eoi = k->auto_eoi; r->read_isr = k->read_reg_select;
}

static void
pic_to_kvm(struct kvm_pic_state *k, const struct pc_pic_regs *r, int n)
{
	k->irr = r->irr; k->isr = r->isr; k->imr = r->imr;
	k->irq_base = r->base; k->elcr = r->elcr; k->last_irr = r->lines;
	k->init_state = r->step >= 2 ? (uint8_t)(r->step - 1) : 0;
	k->init4 = r->icw4; k->auto_eoi = r->auto_eoi;
	k->read_reg_select = r->read_isr;
	k->elcr_mask = n == 0 ? 0xf8 : 0xde;
}

/* KVM's read_state/write_state: 1 LSB, 2 MSB, 3 word (LSB next),
 * 4 word (MSB next).  KVM keeps no "loaded" flag: its reset sets a
 * channel's mode to 0xff, a control word to 0..5, so a mode is a channel
 * programmed.  Its count_load_time may be 0 on a running channel (so on
 * this project's host, kernel 6.x under KVM-PVM): the channel then counts
 * from now, its phase within one period lost -- no tick missed or added.
 * now: the VM clock's. */
static void
pit_from_kvm(struct pc_pit_ch *c, const struct kvm_pit_channel_state *k,
    int64_t shift, uint64_t now)
{
	c->mode = k->mode <= 5 ? k->mode : 0;
	c->rw = k->rw_mode <= 3 ? k->rw_mode : 3;
	c->bcd = k->bcd;
	c->reload = k->count >= 1 && k->count <= 65536 ? k->count : 65536;
	c->loaded = k->mode <= 5;
	c->start = !c->loaded ? 0 : k->count_load_time != 0 &&
	    k->count_load_time + shift > 0 &&
	    (uint64_t)(k->count_load_time + shift) <= now ?
	    (uint64_t)(k->count_load_time + shift) : now;
	c->latched = k->count_latched != 0;
	c->latch = k->latched_count;
	c->lsb_next = k->read_state != 4;
	c->wlsb_next = k->write_state != 4;
	c->wlow = k->write_latch;
	c->gate = k->gate;
	c->status_latched = k->status_latched;
	c->status = k->status;
}

static void
pit_to_kvm(struct kvm_pit_channel_state *k, const struct pc_pit_ch *c,
    int64_t shift)
{
	k->mode = c->mode;
	k->rw_mode = c->rw;
	k->bcd = c->bcd;
	k->count = c->reload;
	k->count_load_time = c->loaded ? (int64_t)c->start - shift : 0;
	k->count_latched = c->latched ? c->rw : 0;
	k->latched_count = c->latch;
	k->read_state = c->rw == 3 ? (c->lsb_next ? 3 : 4) : c->rw;
	k->write_state = c->rw == 3 ? (c->wlsb_next ? 3 : 4) : c->rw;
	k->write_latch = c->wlow;
	k->gate = c->gate;
	k->status_latched = c->status_latched;
	k->status = c->status;
}

int
kvm_irqchip_get(struct vm *vm, struct pc_irqchip *c)
{
	struct kvm_vm *k = vm->backend_priv;
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	uint64_t now = clock_ns();
	int64_t shift = (int64_t)now - (int64_t)clock_host_ns();
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 2; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = (uint32_t)i;
		if (ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return -errno;
		pic_from_kvm(&c->pic[i], &chip.chip.pic);
	}
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	c->io_id = (chip.chip.ioapic.id & 0x0f) << 24;
	c->io_sel = (uint8_t)chip.chip.ioapic.ioregsel;
	for (i = 0; i < 24; i++)
		c->io_redir[i] = chip.chip.ioapic.redirtbl[i].bits;
	c->io_lines = chip.chip.ioapic.irr & 0xffffffu;
	memset(&pit, 0, sizeof(pit));
	if (ioctl(k->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	for (i = 0; i < 3; i++)
		pit_from_kvm(&c->pit[i], &pit.channels[i], shift, now);
	c->portb = pit.channels[2].gate ? 1 : 0;
	return 0;
}

int
kvm_irqchip_set(struct vm *vm, const struct pc_irqchip *c)
{
	struct kvm_vm *k = vm->backend_priv;
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	int64_t shift = (int64_t)clock_ns() - (int64_t)clock_host_ns();
	int i;

	for (i = 0; i < 2; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = (uint32_t)i;
		if (ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return -errno;
		pic_to_kvm(&chip.chip.pic, &c->pic[i], i);
		if (ioctl(k->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return -errno;
	}
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	chip.chip.ioapic.id = (c->io_id >> 24) & 0x0f;
	chip.chip.ioapic.ioregsel = c->io_sel;
	for (i = 0; i < 24; i++)
		chip.chip.ioapic.redirtbl[i].bits = c->io_redir[i];
	chip.chip.ioapic.irr = c->io_lines;
	if (ioctl(k->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return -errno;
	memset(&pit, 0, sizeof(pit));
	if (ioctl(k->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	for (i = 0; i < 3; i++)
		pit_to_kvm(&pit.channels[i], &c->pit[i], shift);
	if (ioctl(k->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return -errno;
	return 0;
}
