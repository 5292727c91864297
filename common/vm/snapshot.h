/*
 * Snapshots of a whole VM (vm/snapshot.c): its configuration, every vCPU,
 * the interrupt controllers, every device, RAM and the disks' point in
 * time, in one state stream (snap/snap.h).
 */
#ifndef VM_VM_SNAPSHOT_H
#define VM_VM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct snap_writer;
struct vm_config;
struct vm_err;

#define VM_SNAP_TAG_MAX 64

struct vm_snap_opts {
	const char *tag;        /* the disks' internal snapshot name */
	bool fast_restore;      /* RAM uncompressed, page aligned: mapped */
	const char *parent;     /* the snapshot this run was restored from */
	/* No ram-map and ram sections (with fast_restore): the RAM goes
	 * its own way, a live migration's pages (vm/live.c), and the
	 * receiver writes those two sections (vm_snapshot_put_ram). */
	bool no_ram;
};

struct vm_snap_info {
	char tag[VM_SNAP_TAG_MAX];
	char parent[VM_SNAP_TAG_MAX];   /* "" = none */
	char vmkit_version[32];
	uint64_t time;                  /* seconds since the epoch */
	uint64_t size;                  /* bytes of the file */
	uint64_t memory;                /* guest RAM */
	uint64_t ram_pages;             /* non-zero pages stored */
	uint64_t guest_tsc;             /* vCPU 0's TSC at the save (RAM) */
	int ncpus;
	int ndisks;                     /* disk snapshots taken */
	bool fast_restore;
	bool ram;                       /* false: disks only (a stopped VM) */
	char backend[16];
};

/* Save vm to path (a new file), with the vCPUs stopped (not in run()).
 * Disks: an internal snapshot named opts->tag on every qcow2 disk; other
 * formats are refused.  On failure nothing is left behind. */
int vm_snapshot_save(struct vm *vm, const char *path,
    const struct vm_snap_opts *opts, struct vm_err *err);
/* Load path into vm, a VM just built (vm_create) from the configuration
 * the snapshot embeds or one with the same memory and devices; the
 * vCPUs not started.  The whole file is checked first; a refused load
 * leaves the disks as they were (they are reverted last) and the caller
 * throws the VM away. */
int vm_snapshot_load(struct vm *vm, const char *path, struct vm_err *err);
/* Load path into a running VM, paused (vm_pause) by the caller, on the
 * event loop's thread.  Two phases: everything is decoded and checked
 * first (every section's CRC, the versions, memory layout, device list,
 * the disks' snapshots, every zstd chunk of RAM, each vCPU's state, and
 * each device's through a dry walk on a staging copy plus its own
 * load_check), so that a refused file leaves the VM exactly as it was;
 * then the disks go back to the snapshot's point and CPU, devices and RAM
 * are replaced.  The caller resumes the VM.  *damaged: the failure came
 * after the VM began to change (the host failed: I/O, memory), and the
 * VM cannot go on. */
int vm_snapshot_load_live(struct vm *vm, const char *path, bool *damaged,
    struct vm_err *err);
/* The size of the firmware ROM a snapshot holds (the region ending at
 * 4 GiB; 0 for a VM booted without firmware), for vm_create_restore. */
int vm_snapshot_fw_len(const char *path, uint64_t *len,
    struct vm_err *err);
/* The configuration a snapshot embeds (on top of cfg_defaults). */
int vm_snapshot_config(const char *path, struct vm_config *cfg,
    struct vm_err *err);
#define VM_SNAP_NO_STATE "a disks-only snapshot (of a stopped VM): no " \
	"state to restore; vm-snap revert rolls the disks back"
/* What a snapshot holds, checked as a load would check it. */
int vm_snapshot_info(const char *path, struct vm_snap_info *info,
    struct vm_err *err);

/* A stopped VM of configuration cfg: a disks-only snapshot at path (its
 * configuration and a qcow2 internal snapshot tag on every writable
 * disk, no state).  Every disk is checked first (qcow2, tag free); on
 * failure nothing is left behind. */
int vm_snapshot_save_disks(const struct vm_config *cfg, const char *path,
    const char *tag, struct vm_err *err);

/* Of a VM saved with no_ram: the "ram" section (at *off, page aligned:
 * the caller writes the regions' bytes there, region after region) for
 * nr regions of gpa[i], size[i]; then vm_snapshot_end_ram with the
 * bitmap of their non-zero pages (a bit per page, regions one after the
 * other), which closes it and writes the "ram-map" section. */
int vm_snapshot_begin_ram(struct snap_writer *w, uint64_t *off,
    struct vm_err *err);
int vm_snapshot_end_ram(struct snap_writer *w, uint32_t nr,
    const uint64_t *gpa, const uint64_t *size, const uint8_t *bits,
    struct vm_err *err);
/* Whether the 4 KiB page at p is all zero bytes. */
bool vm_page_zero(const uint8_t *p);
/* Drop the disks' internal snapshots tag of a running VM (what a live
 * migration made for the copy). */
void vm_snapshot_drop_disks(struct vm *vm, const char *tag);

#endif
