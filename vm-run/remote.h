/*
 * vm-run's client modes for running VMs (remote.c).  target is a VM's
 * name or a control socket's path.  Each returns vm-run's exit status.
 */
#ifndef VM_RUN_REMOTE_H
#define VM_RUN_REMOTE_H

#include <stdbool.h>

/* --cmd TARGET CMD [KEY=VALUE...]: argv[0] is CMD. */
int remote_cmd(const char *target, int argc, char **argv, bool json);
/* --list [--json]. */
int remote_list(bool json);
/* --attach TARGET. */
int remote_attach(const char *target);

#endif
