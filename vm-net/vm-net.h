/*
 * vm-net's commands (one file each) and what they share.
 */
#ifndef VM_NET_TOOL_H
#define VM_NET_TOOL_H

#include <stdio.h>

int cmd_switch(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_plug(int argc, char **argv);
int cmd_nat(int argc, char **argv);
int cmd_tap(int argc, char **argv);
int cmd_hostonly(int argc, char **argv);
int cmd_vxlan(int argc, char **argv);

struct net_params;
/* Bridge a port on switch name and the back end far names until either
 * side goes away or a signal: the exit status (2 for a bad name). */
int bridge_run(const char *name, const struct net_params *far, int vlan,
    int trunk);
/* --vlan N: 0, or -1 with a message printed (a usage error). */
int vlan_opt(const char *s, int *vlan);
/* A port on switch name, announcing VLAN vlan (or a trunk): the fd, -1
 * (not running, a message printed) or -2 (a bad name, usage). */
int switch_port_connect(const char *name, int vlan, int trunk);

/* Connect to switch name's control socket: the fd, or -1 with a message
 * printed ("switch lan0 is not running"). */
int ctl_connect(const char *name, int quiet);
/* Send one command line; 0 or -1 with a message printed. */
int ctl_send(int fd, const char *name, const char *line);

#endif
