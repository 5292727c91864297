/*
 * vmkit's per-user runtime directory: $XDG_RUNTIME_DIR/vmkit/SUB, or
 * /tmp/vmkit-UID/SUB without it (vm-net's switches in net/, running VMs
 * in vm/NAME/), and the names that may go in it.
 */
#ifndef VM_UTIL_RUNDIR_H
#define VM_UTIL_RUNDIR_H

#include <stddef.h>

struct vm_err;

/* Longest name (of a VM, a switch) in the runtime directory. */
#define RUNDIR_NAME_MAX 64

/* The directory SUB in it, created (mode 0700, with its parents) if mk
 * is set; its path must leave room for a socket name.  0 or -errno with
 * err set. */
int rundir_path(const char *sub, char *buf, size_t len, int mk,
    struct vm_err *err);
/* mkdir -p with mode 0700; 0 or -errno with err set. */
int rundir_mkdir_p(const char *dir, struct vm_err *err);
/* Is name usable: letters, digits, '.', '_', '-', not starting with '.',
 * at most RUNDIR_NAME_MAX? */
int rundir_name_ok(const char *name);

#endif
