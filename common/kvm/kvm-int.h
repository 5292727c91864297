/* The KVM back end's private state (kvm/ only). */
#ifndef VM_KVM_KVM_INT_H
#define VM_KVM_KVM_INT_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cpu/x86-state.h"

struct kvm_vm {
	int sys_fd;             /* /dev/kvm */
	int vm_fd;
	int run_size;
};

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	atomic_bool have_thread;
};

/* regs.c: x86_state <-> KVM's register structures. */
int kvm_get_state(int vcpu_fd, struct x86_state *st);
int kvm_set_state(int vcpu_fd, const struct x86_state *st, bool with_lapic);
void kvm_seg_from(struct kvm_segment *k, const struct x86_seg *s);
void kvm_seg_to(struct x86_seg *s, const struct kvm_segment *k);

struct pc_irqchip;
struct vm;
/* The in-kernel PICs, IOAPIC and PIT in canonical form (irqchip.c). */
int kvm_irqchip_get(struct vm *vm, struct pc_irqchip *c);
int kvm_irqchip_set(struct vm *vm, const struct pc_irqchip *c);

#endif
