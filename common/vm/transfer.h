/*
 * A bundle and one of its snapshots as one stream (vm/transfer.c): what
 * vm-snap send writes and vm-snap receive reads, framed and checked by
 * snap/snap.h's send stream.
 */
#ifndef VM_VM_TRANSFER_H
#define VM_VM_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

struct vm_config;
struct vm_err;
struct vm_live_send;

/* Write bundle (a stopped VM's folder), its vm.yaml, its disk image files
 * and the snapshot file snap_path (of tag) to fd.  A disk the bundle's
 * vm.yaml or the snapshot names outside the bundle goes under its file
 * name, which must be free in the bundle and among the disks (the
 * receiver names it there in the copy's vm.yaml).  base (NULL:
 * none), whose snapshot file is base_path: each writable disk as its
 * contents at tag where they differ from base's (each holds both internal
 * snapshots), for a receive into the bundle received with base.
 * 0/-errno; what was written is of no use on failure. */
int vm_send(const char *bundle, const char *snap_path, const char *tag,
    const char *base, const char *base_path, int fd, struct vm_err *err);
/* Read a stream from fd and make the bundle dir (NULL: the sent VM's
 * name in the current folder), which must not exist: built in a new
 * folder beside it and renamed into place once complete and checked, so
 * a refused stream leaves nothing.  A delta (send --base) goes into the
 * bundle dir received with its base: the new folder starts as a copy of
 * it and takes its place in one rename.  made: the bundle's absolute
 * path. */
int vm_receive(int fd, const char *dir, char *made, size_t made_len,
    struct vm_err *err);

/*
 * The live form (vm-snap send --live, written by the running vm-run,
 * vm/live.c): the vm record, then a "ram-layout" record (the memory
 * regions) and "ram-data" records (an offset in the regions laid end to
 * end and whole pages there), round after round, a page sent again each
 * time it was written meanwhile; then what vm_send sends, the snapshot's
 * sections without RAM (the receiver writes the "ram" section from the
 * pages, mapped, and "ram-map").  begin checks that every disk of the
 * bundle and of the running configuration is a file of the bundle and
 * writes the header and the vm record to fd; disks, before the layout,
 * sends each disk file while the guest runs ("disk-pre" and
 * "disk-pre-data" records), its writes tracked from then on; end sends
 * vm.yaml, the disks (the VM paused, flushed: after disks, only the
 * parts of each file written since, as a "disk" record of kind update
 * and its "disk-data"; without, the files whole) and the sections of
 * state_path.  disk_pause: the disk bytes end sent.
 */
struct vm_live_send *vm_send_live_begin(const char *bundle,
    const struct vm_config *running, const char *tag, int fd,
    struct vm_err *err);
int vm_send_live_disks(struct vm_live_send *ls, uint64_t *before,
    struct vm_err *err);
int vm_send_live_layout(struct vm_live_send *ls, uint32_t nr,
    const uint64_t *gpa, const uint64_t *size, struct vm_err *err);
int vm_send_live_ram(struct vm_live_send *ls, uint64_t off,
    const void *data, uint32_t len, struct vm_err *err);
int vm_send_live_end(struct vm_live_send *ls, const char *state_path,
    struct vm_err *err);
uint64_t vm_send_live_disk_pause(const struct vm_live_send *ls);
void vm_send_live_free(struct vm_live_send *ls);

#endif
