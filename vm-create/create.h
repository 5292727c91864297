/*
 * vm-create's parts: the plan of a bundle (a vm_config plus what must be
 * made inside it), the bundle builder, the .vmx reader and the NoCloud
 * seed writer.  One thread.
 */
#ifndef VM_CREATE_CREATE_H
#define VM_CREATE_CREATE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "cfg/cfg.h"

struct blk;
struct vm_err;

enum create_os { OS_LINUX, OS_WINDOWS, OS_OTHER };

/* What one disk entry of the plan asks the builder to do. */
enum disk_job {
	JOB_NONE,       /* an existing file, referenced where it is */
	JOB_NEW,        /* a new empty image of size bytes */
	JOB_CONVERT,    /* a copy of src in the bundle's format */
	JOB_SEED,       /* the NoCloud seed ISO */
};

struct plan_disk {
	enum disk_job job;
	uint64_t size;
	char src[CFG_PATH_MAX];         /* JOB_CONVERT: the image copied */
	char src_format[16];
	bool src_in_bundle;             /* src is an OVA member, removed
					 * once copied */
};

/* An OVA's members: every entry's name, and the manifest's digests. */
#define OVA_MAX_FILES 32
struct ova_file {
	char name[256];
	int alg;                        /* 0: no digest, 1: SHA1, 256 */
	uint8_t digest[32];
	bool extract;                   /* a disk the bundle keeps */
};

struct ova {
	char path[CFG_PATH_MAX];        /* "" unless importing an .ova */
	struct ova_file files[OVA_MAX_FILES];
	int nfiles;
};

struct plan {
	struct vm_config cfg;           /* file names relative to the bundle */
	struct plan_disk disks[CFG_MAX_DISKS];
	/* cloud-init: the three files (meta_data "" = made up) */
	char user_data[CFG_PATH_MAX];
	char meta_data[CFG_PATH_MAX];
	char network_config[CFG_PATH_MAX];
	struct ova ova;                 /* members extracted into the bundle */
};

/* What a .vmx or .ovf says, before the template and the flags are applied. */
struct vmx_vm {
	char display_name[128];
	uint64_t memory;                /* 0: not given */
	int cpus;                       /* 0: not given */
	bool have_os;
	enum create_os os;
	char firmware[8];               /* "", "bios", "uefi" */
	struct vmx_disk {
		char file[CFG_PATH_MAX]; /* absolute, or in_bundle */
		bool cdrom;
		bool in_bundle;         /* an OVA member, named in the bundle */
		char bus[8];            /* "ide", "sata", "scsi", "nvme";
					 * "virtio" (OVF) keeps virtio */
	} disks[CFG_MAX_DISKS];
	int ndisks;
	struct vmx_net {
		char spec[64];
		char model[16];         /* "" = the template's */
		char mac[18];
	} nets[CFG_MAX_NETS];
	int nnets;
};

/* Read path into vm; keys not understood and what was left out are
 * reported on stderr.  0, or -errno with err naming the file (and line). */
int vmx_read(const char *path, struct vmx_vm *vm, struct vm_err *err);

/* Read an .ovf (disks referenced where they are, digests checked against
 * a .mf beside it) or an .ova (members checked and the manifest read
 * into ova; the disks are extracted by ova_extract).  0 or -errno. */
int ovf_import(const char *path, struct vmx_vm *vm, struct ova *ova,
    struct vm_err *err);
/* Parse an OVF descriptor held in buf (ovf.c). */
int ovf_parse(const char *name, const char *buf, size_t len,
    struct vmx_vm *vm, struct vm_err *err);
/* Extract the members marked extract into dir, checking digests. */
int ova_extract(const struct ova *ova, const char *dir, struct vm_err *err);

/* Write the bundle at path (a directory or its vm.yaml) as the OVF
 * package out (an .ova; "-": stdout).  export.c.  0 or -errno. */
int ova_export(const char *path, const char *out, struct vm_err *err);

/* SHA1 (alg 1) or SHA256 (alg 256) digests of manifest entries (ova.c). */
struct digest {
	int alg;
	struct sha1_ctx s1;
	struct sha256_ctx s256;
};
void dg_init(struct digest *d, int alg);
void dg_update(struct digest *d, const void *p, size_t n);
/* Finish d into out (20 or 32 bytes). */
void dg_final(struct digest *d, uint8_t *out);
/* n bytes as 2n lowercase hex digits and a NUL into out. */
void dg_hex(const uint8_t *b, size_t n, char *out);

/* Write the seed ISO of plan to path.  0 or -errno with err set. */
int seed_write(const struct plan *p, const char *path, struct vm_err *err);

/* Make the bundle dest from plan: built in a temporary directory beside
 * it and renamed into place; force replaces an existing bundle.  On
 * failure nothing is left and dest is as it was. */
int bundle_make(struct plan *p, const char *dest, bool force,
    struct vm_err *err);

/* Set by vm-create's SIGINT/SIGTERM/SIGHUP handler: the builder stops at
 * its next check and removes what it made. */
extern volatile sig_atomic_t bundle_interrupted;
/* -EINTR with err set if bundle_interrupted, else 0. */
int bundle_check_interrupt(struct vm_err *err);

/* Copy src's guest-visible bytes into the new image dst (reading as
 * zeros), zeros left out; compressed: whole clusters through
 * blk_write_compressed, in order (streamOptimized VMDK).  *stored, if
 * not NULL, gets the guest bytes written.  Flushes dst. */
int bundle_copy_image(struct blk *src, struct blk *dst, bool compressed,
    uint64_t *stored, struct vm_err *err);

/* Remove a directory tree (the bundle builder's own temporary ones). */
int bundle_rmtree(const char *dir);

#endif
