/*
 * The DBT standing in for KVM where KVM cannot run the guest's code
 * (vm/hybrid.c has the rule).  vm.c's vCPU loop is the only user.
 */
#ifndef VM_VM_HYBRID_H
#define VM_VM_HYBRID_H

#include <stdbool.h>

struct cpu_exit;
struct vcpu;
struct vm;

/* Does this VM's back end hand failures to the DBT (KVM)? */
bool hybrid_wanted(const struct vm *vm);
/* KVM stopped v with ex (CPU_EXIT_ERROR): run it on the DBT for a stint
 * and hand it back.  0: go on on KVM; 1: the VM ends with *ex (the DBT's
 * own exit, or KVM's if the hand-over could not be made). */
int hybrid_run(struct vcpu *v, struct cpu_exit *ex);
/* Stints run so far (--stats). */
unsigned hybrid_stints(const struct vm *vm);
void hybrid_free(struct vm *vm);

#endif
