/*
 * vm.yaml: parsed with libyaml's event API into typed structs, every value
 * validated with file:line:col errors.  Command-line flags are applied on
 * top with cfg_set_* (flags win over the file).  man/vm.yaml.5 documents
 * every key.
 */
#ifndef VM_CFG_CFG_H
#define VM_CFG_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vm_err;

#define CFG_MAX_DISKS 8
#define CFG_MAX_NETS 8
#define CFG_MAX_FORWARDS 16
#define CFG_PATH_MAX 4096

enum cfg_accel { CFG_ACCEL_AUTO, CFG_ACCEL_KVM, CFG_ACCEL_DBT };
enum cfg_console { CFG_CONSOLE_SERIAL, CFG_CONSOLE_NONE, CFG_CONSOLE_VGA };
enum cfg_disk_if { CFG_IF_VIRTIO, CFG_IF_IDE };
enum cfg_media { CFG_MEDIA_DISK, CFG_MEDIA_CDROM };
/* boot.order's device classes. */
enum cfg_boot_dev { CFG_BOOT_DISK, CFG_BOOT_CDROM, CFG_BOOT_NET };
#define CFG_MAX_BOOT 3
/* Who decompresses a bzImage: vm-run where it can (default), or always the
 * kernel itself. */
enum cfg_decompress { CFG_DECOMPRESS_HOST, CFG_DECOMPRESS_GUEST };

struct cfg_disk {
	char file[CFG_PATH_MAX];        /* resolved against the YAML's folder */
	char format[16];                /* "" = probe */
	enum cfg_disk_if interface;
	enum cfg_media media;
	bool readonly;
	char origin[160];               /* "vm.yaml:7:11: disks[0].file" or "--disk" */
};

struct cfg_net {
	char spec[256];                 /* backend spec, e.g. "nat", "switch:lan0" */
	char model[16];                 /* "virtio", "e1000" */
	char mac[18];                   /* "" = derived */
	char forward[CFG_MAX_FORWARDS][64]; /* nat: "tcp:8080:80" */
	int nforward;
	int vlan;                       /* switch: the port's VLAN, 0 = default */
	char tftp[CFG_PATH_MAX];        /* nat: the TFTP server's root, "" none */
	char bootfile[128];             /* nat: the DHCP boot file name */
	char subnet[20];                /* nat: "a.b.c.d/P", "" 10.0.2.0/24 */
	char origin[160];               /* "vm.yaml:9:5: networks[0]" or "--net" */
};

struct vm_config {
	char path[CFG_PATH_MAX];        /* the YAML file, "" when none */
	char name[64];
	bool name_given;                /* name: in the file, not the default */
	uint64_t memory;                /* bytes */
	int cpus;
	enum cfg_accel accel;
	struct {
		char kernel[CFG_PATH_MAX];
		char initrd[CFG_PATH_MAX];
		char cmdline[4096];
		char firmware[CFG_PATH_MAX]; /* "" none, "bios", or a file */
		uint8_t order[CFG_MAX_BOOT]; /* enum cfg_boot_dev */
		int norder;             /* 0: the firmware's own order */
		bool menu;              /* the firmware's boot menu */
		enum cfg_decompress decompress;
		char kernel_origin[160];  /* where kernel was given, for errors */
		char initrd_origin[160];
	} boot;
	struct cfg_disk disks[CFG_MAX_DISKS];
	int ndisks;
	struct cfg_net nets[CFG_MAX_NETS];
	int nnets;
	enum cfg_console console;
	bool rtc_localtime;             /* rtc: localtime (Windows' habit) */
	char serial_log[CFG_PATH_MAX];  /* copy of serial output, "" none */
	char dbt_tier[8];               /* "interp", "jit"; "" default */
	uint64_t dbt_cache;             /* translator code cache, 0 default */
	bool stats;                     /* --stats: count what it prints */
	bool vga;                       /* --screendump: a VGA even when the
	                                 * console is not vga */
};

/* Defaults: 512 MiB, 1 CPU, accel auto, serial console. */
void cfg_defaults(struct vm_config *cfg);
/* Parse path into cfg (on top of defaults).  Errors as
 * "vm.yaml:12:3: memory: '12X' is not a size (use e.g. 512M or 2G)",
 * -EINVAL for content errors, other -errno for I/O. */
int cfg_load(struct vm_config *cfg, const char *path, struct vm_err *err);
/* Parse from a memory buffer; name is used in messages, base_dir resolves
 * relative paths. */
int cfg_parse(struct vm_config *cfg, const char *buf, size_t len,
    const char *name, const char *base_dir, struct vm_err *err);
/* Final checks after flags are applied: files exist, ranges. */
int cfg_validate(const struct vm_config *cfg, struct vm_err *err);

/* Write cfg as vm.yaml to f (keys at defaults left out, paths as held);
 * what names f in errors.  cfg-emit.c. */
int cfg_emit(const struct vm_config *cfg, FILE *f, const char *what,
    struct vm_err *err);

/* Parse "--disk FILE[,format=F][,if=virtio|ide][,readonly=on][,media=cdrom]". */
int cfg_parse_disk_opt(struct cfg_disk *d, const char *opt,
    struct vm_err *err);
/* Parse "--net nat[,forward=RULE]...[,model=M][,mac=MAC]", "switch:NAME[,...]"
 * or "none" (then *none is set and n is untouched). */
int cfg_parse_net_opt(struct cfg_net *n, bool *none, const char *opt,
    struct vm_err *err);
/* "auto", "kvm", "dbt" */
int cfg_parse_accel(const char *s, enum cfg_accel *out);
const char *cfg_accel_name(enum cfg_accel a);
/* "cdrom,disk,net" (each at most once) into cfg->boot.order. */
int cfg_parse_boot_order(struct vm_config *cfg, const char *s,
    struct vm_err *err);
/* "disk", "cdrom", "net" */
const char *cfg_boot_dev_name(enum cfg_boot_dev d);
/* "host", "guest" */
int cfg_parse_decompress(const char *s, enum cfg_decompress *out);

#endif
