/*
 * Snapshots of a whole VM (vm/snapshot.c): its configuration, every vCPU,
 * the interrupt controllers, every device, RAM and the disks' point in
 * time, in one state stream (snap/snap.h).
 */
#ifndef VM_VM_SNAPSHOT_H
#define VM_VM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk;
struct vm;
struct snap_vis;
struct snap_writer;
struct vm_config;
struct vm_err;

#define VM_SNAP_TAG_MAX 64
#define PATH_MAX_SNAP 4096       /* PATH_MAX, without limits.h */

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
/* The configuration section of the snapshot rd reads, into cfg. */
struct snap_reader;
int vm_snapshot_read_config(struct snap_reader *rd, struct vm_config *cfg,
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
 * configuration, with the disks' files as absolute paths, and no state).
 * A qcow2 disk gets an internal snapshot tag; a disk of a format without
 * them (raw, vmdk, vdi, vpc) becomes the read-only base of a new qcow2
 * overlay beside it (vm_overlay_create), and the bundle's vm.yaml (yaml;
 * NULL: no bundle, such disks refused) points at the overlay, so that the
 * snapshot's configuration names the base.  Every disk is checked first
 * (tag free); on failure nothing is left behind and vm.yaml is as it was. */
int vm_snapshot_save_disks(const struct vm_config *cfg, const char *yaml,
    const char *path, const char *tag, struct vm_err *err);
/* A stopped VM's writable disks back at the disks-only or full snapshot
 * whose configuration is scfg and disk tag tag: a qcow2 disk's internal
 * snapshot applied, an overlay's base (the file the snapshot names, of a
 * format without internal snapshots) given a new overlay, so the snapshot
 * can be gone back to again; the bundle's vm.yaml (yaml, or NULL) then
 * names the files the snapshot's disks are in.  Everything is checked,
 * the overlays and the new vm.yaml made, before a disk changes; *made
 * (len bytes) lists the overlays made, one a line.  snap: the snapshot's
 * file, whose record of each base (section "base") is checked; an overlay
 * replaced in vm.yaml that nothing needs any more is deleted
 * (vm_overlay_drop). */
int vm_snapshot_revert_disks(const char *snap, const struct vm_config *scfg,
    const char *tag, const char *yaml, char *made, size_t len,
    struct vm_err *err);

/* vm/overlay.c.  Whether b's format has no internal snapshots (so its
 * snapshot is an overlay). */
bool vm_disk_external(const struct blk *b);
/* Whether paths a and b (either may be NULL) are one file. */
bool vm_same_file(const char *a, const char *b);
/* A new, empty qcow2 image beside base's file, backed by it (its file
 * name and format recorded, as qemu-img create -b -F does): named
 * STEM.TAG.qcow2 (STEM.TAG-N.qcow2 when taken), its path in out. */
int vm_overlay_create(struct blk *base, const char *tag, char *out,
    size_t len, struct vm_err *err);
/* vm.yaml at yaml with its writable disk that is the file old[j] given
 * file files[j] of format fmts[j], for each j < n where files[j] is not
 * NULL, written to a new file beside it (its name in tmp) and read back
 * as vm-run would; the caller renames it over yaml.  Paths in the folder
 * are written relative to it; a name the file did not give is not added. */
int vm_yaml_set_disks(const char *yaml, const char *const *old,
    const char *const *files, const char *const *fmts, int n, char *tmp,
    size_t tmplen, struct vm_err *err);

/* What a snapshot records of an overlay's base (section "base", instance:
 * the disk's index in the configuration): its size and a CRC-32 of its
 * first and last 64 KiB (every format's header, a VHD's footer, a raw
 * disk's partition tables).  A restore or revert onto a base that is
 * missing or differs is refused; a base is read-only (its write
 * permissions taken away) and locked while a VM runs on it, so nothing
 * of vmkit's writes it. */
struct vm_base_rec {
	uint64_t size;
	uint32_t crc;
};
int vm_base_measure(const char *path, struct vm_base_rec *r,
    struct vm_err *err);
int vm_base_rec_visit(struct snap_vis *v, struct vm_base_rec *r);
/* 0 if the base at path is as r recorded it, else an error naming it. */
int vm_base_check(const char *path, const struct vm_base_rec *r,
    struct vm_err *err);
/* old, a VM's disk file, has been replaced by a new overlay on base:
 * delete old if it is an overlay vmkit made on base (STEM.*.qcow2 beside
 * it, backed by it) that no snapshot needs (no internal snapshot in it,
 * no snapshot file in folder snapdir naming it) and nothing has open.
 * base NULL: whatever old's backing file is.  1 if deleted, 0 if kept. */
int vm_overlay_drop(const char *old, const char *base, const char *snapdir);

/* A restore's disks (vm-run --restore): for each disk whose snapshot is
 * an overlay's base, a new overlay made on the base (checked against its
 * record), cfg pointed at it, and the bundle's vm.yaml (yaml; NULL: none)
 * written anew beside it; nothing else changes until commit (after the
 * load succeeded: vm.yaml replaced, the overlays replaced dropped) or
 * abort (the overlays and the new vm.yaml deleted). */
struct vm_restore_disks {
	int n;
	char ovl[16][PATH_MAX_SNAP];
	char old[16][PATH_MAX_SNAP];    /* what vm.yaml named ("" none) */
	char base[16][PATH_MAX_SNAP];
	char yaml[PATH_MAX_SNAP];       /* "": no bundle */
	char tmp[PATH_MAX_SNAP + 32];
};
int vm_restore_disks_prepare(const char *snap, struct vm_config *cfg,
    const char *yaml, struct vm_restore_disks *rd, struct vm_err *err);
int vm_restore_disks_commit(struct vm_restore_disks *rd,
    struct vm_err *err);
void vm_restore_disks_abort(struct vm_restore_disks *rd);

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
