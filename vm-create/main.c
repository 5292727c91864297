/*
 * vm-create — make a VM bundle: a directory holding vm.yaml and its disk
 * images, from flags, a template per guest OS, a VMware .vmx, and a
 * cloud-init NoCloud seed.
 *
 * Argument parsing and the plan only: the flags, the template and the
 * imported VM become one vm_config (file names relative to the bundle)
 * and a list of images to make; bundle.c makes them, vmx.c reads .vmx
 * files, seed.c writes the seed ISO.  Precedence: flags over the .vmx
 * over the template.  man/vm-create.1 documents it.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/version.h"

#include "create.h"

enum {
	OPT_DISK = 256, OPT_CDROM, OPT_OS, OPT_FIRMWARE, OPT_KERNEL,
	OPT_INITRD, OPT_APPEND, OPT_NET, OPT_FORCE, OPT_PRINT, OPT_IMPORT,
	OPT_CONVERT, OPT_CLOUD_INIT, OPT_META_DATA, OPT_NETWORK_CONFIG,
	OPT_RTC, OPT_EXPORT,
};

struct opts {
	const char *memory, *cpus, *os, *firmware, *rtc;
	const char *kernel, *initrd, *append;
	const char *import, *convert, *export;
	int others;                     /* options other than --export */
	const char *user_data, *meta_data, *network_config;
	const char *disks[CFG_MAX_DISKS], *cdroms[CFG_MAX_DISKS];
	const char *nets[CFG_MAX_NETS];
	int ndisks, ncdroms, nnets;
	bool force, print;
};

/* What a template picks for the devices it adds. */
struct tmpl {
	enum cfg_disk_if disk_if;
	const char *nic;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: vm-create [options] NAME\n"
"       vm-create --import FILE.vmx|FILE.ovf|FILE.ova [--convert FORMAT]\n"
"                 [options] [NAME]\n"
"       vm-create --export NAME OUT.ova|-\n"
"Make the VM bundle NAME: a directory holding vm.yaml and its disks, which\n"
"vm-run NAME runs.  Built beside NAME and renamed into place.\n"
"\n"
"  -m, --memory SIZE       guest RAM, e.g. 512M or 2G (default: the OS's)\n"
"  -c, --cpus N            number of vCPUs (default: the OS's)\n"
"      --disk SIZE[,format=qcow2|raw][,if=virtio|ide]\n"
"                          a new empty disk image (repeatable)\n"
"      --cdrom ISO         attach ISO as a CD-ROM (repeatable)\n"
"      --os OS             linux (default), windows or other: picks the\n"
"                          devices, memory and CPUs\n"
"      --firmware FW       bios, uefi or direct (a kernel, no firmware)\n"
"      --kernel FILE       boot this kernel directly (--firmware direct)\n"
"      --initrd FILE       initial ramdisk for --kernel\n"
"      --append CMDLINE    kernel command line\n"
"      --rtc utc|localtime what the RTC keeps (default: the OS's; Windows\n"
"                          localtime)\n"
"      --net SPEC[,model=virtio|e1000][,mac=MAC][,forward=RULE]...\n"
"                          a NIC on nat, switch:NAME or tap:DEV; none for\n"
"                          no NIC (repeatable; default one on nat);\n"
"                          forward=tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT\n"
"                          (nat only, repeatable) forwards a host port\n"
"      --import FILE       take the VM from a VMware .vmx, an OVF\n"
"                          descriptor (.ovf) or an OVF package (.ova)\n"
"      --export NAME       write the bundle NAME as the OVF package\n"
"                          OUT.ova (- for stdout): an OVF 1.0 descriptor,\n"
"                          its SHA256 manifest and streamOptimized VMDKs\n"
"      --convert FORMAT    copy imported disks into the bundle as qcow2\n"
"                          or raw (default: referenced where they are;\n"
"                          an .ova's are extracted into the bundle)\n"
"      --cloud-init FILE   a NoCloud seed ISO with FILE as user-data,\n"
"                          attached as a CD-ROM\n"
"      --meta-data FILE    its meta-data (default: instance-id and\n"
"                          local-hostname NAME)\n"
"      --network-config FILE\n"
"                          its network-config\n"
"      --force             replace an existing bundle NAME\n"
"      --print             write the vm.yaml to stdout and make nothing\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Exit status: 0 made, 1 failure (nothing is left behind), 2 usage error.\n"
"See vm-create(1).\n");
}

static int
parse_os(const char *s, enum create_os *os)
{
	if (strcmp(s, "linux") == 0)
		*os = OS_LINUX;
	else if (strcmp(s, "windows") == 0)
		*os = OS_WINDOWS;
	else if (strcmp(s, "other") == 0)
		*os = OS_OTHER;
	else
		return -EINVAL;
	return 0;
}

/* The per-OS defaults of issue 8: Linux is fastest on virtio; Windows
 * has drivers for IDE and e1000 out of the box and wants a VGA console
 * and memory; anything else gets the devices every OS knows. */
static void
apply_template(struct vm_config *cfg, enum create_os os, struct tmpl *t)
{
	switch (os) {
	case OS_LINUX:
		cfg->memory = 1ULL << 30;
		cfg->cpus = 1;
		cfg->console = CFG_CONSOLE_SERIAL;
		t->disk_if = CFG_IF_VIRTIO;
		t->nic = "virtio";
		break;
	case OS_WINDOWS:
		cfg->memory = 4ULL << 30;
		cfg->cpus = 2;
		cfg->console = CFG_CONSOLE_VGA;
		cfg->rtc_localtime = true;
		t->disk_if = CFG_IF_IDE;
		t->nic = "e1000";
		break;
	case OS_OTHER:
		cfg->memory = 512ULL << 20;
		cfg->cpus = 1;
		cfg->console = CFG_CONSOLE_SERIAL;
		t->disk_if = CFG_IF_IDE;
		t->nic = "e1000";
		break;
	}
}

static int
abs_path(const char *opt, const char *file, char *dst, struct vm_err *err)
{
	char buf[PATH_MAX];

	if (realpath(file, buf) == NULL)
		return vm_err_errno(err, -errno, "%s: %s", opt, file);
	if (strlen(buf) >= CFG_PATH_MAX)
		return vm_err_set(err, -ENAMETOOLONG, "%s: %s: name too long",
		    opt, file);
	strcpy(dst, buf);
	return 0;
}

static struct cfg_disk *
add_disk(struct plan *p, const char *what, struct vm_err *err)
{
	struct cfg_disk *d;

	if (p->cfg.ndisks == CFG_MAX_DISKS) {
		vm_err_set(err, -EINVAL, "%s: at most %d disks and CD-ROMs",
		    what, CFG_MAX_DISKS);
		return NULL;
	}
	memset(&p->disks[p->cfg.ndisks], 0, sizeof(p->disks[0]));
	d = &p->cfg.disks[p->cfg.ndisks++];
	memset(d, 0, sizeof(*d));
	return d;
}

/* "SIZE[,format=F][,if=I]": a new image, named diskN.FORMAT. */
static int
add_new_disk(struct plan *p, const char *spec, const struct tmpl *t,
    struct vm_err *err)
{
	char buf[256], *tok, *save = NULL;
	struct cfg_disk *d;
	uint64_t size;
	int i;

	if (strlen(spec) >= sizeof(buf))
		return vm_err_set(err, -EINVAL, "--disk %s: too long", spec);
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (tok == NULL || size_parse(tok, &size) < 0 || size == 0)
		return vm_err_set(err, -EINVAL, "--disk %s: '%s' is not a size "
		    "(use e.g. 20G)", spec, tok ? tok : "");
	if (size % 512)
		return vm_err_set(err, -EINVAL, "--disk %s: the size must be a "
		    "multiple of 512 bytes", spec);
	i = p->cfg.ndisks;
	d = add_disk(p, "--disk", err);
	if (d == NULL)
		return -EINVAL;
	p->disks[i].job = JOB_NEW;
	p->disks[i].size = size;
	strcpy(d->format, "qcow2");
	d->interface = t->disk_if;
	snprintf(d->origin, sizeof(d->origin), "--disk");
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		if (strcmp(tok, "format=qcow2") == 0 ||
		    strcmp(tok, "format=raw") == 0)
			snprintf(d->format, sizeof(d->format), "%s", tok + 7);
		else if (strcmp(tok, "if=virtio") == 0)
			d->interface = CFG_IF_VIRTIO;
		else if (strcmp(tok, "if=ide") == 0)
			d->interface = CFG_IF_IDE;
		else
			return vm_err_set(err, -EINVAL, "--disk %s: unknown "
			    "option '%s' (format=qcow2|raw, if=virtio|ide)",
			    spec, tok);
	}
	snprintf(d->file, sizeof(d->file), "disk%d.%s", i,
	    strcmp(d->format, "raw") == 0 ? "raw" : "qcow2");
	return 0;
}

static int
add_cdrom(struct plan *p, const char *what, const char *file, bool abs,
    struct vm_err *err)
{
	struct cfg_disk *d = add_disk(p, what, err);

	if (d == NULL)
		return -EINVAL;
	if (abs) {
		if (abs_path(what, file, d->file, err) < 0) {
			p->cfg.ndisks--;
			return err->code;
		}
	} else {
		snprintf(d->file, sizeof(d->file), "%s", file);
	}
	strcpy(d->format, "raw");
	d->interface = CFG_IF_IDE;
	d->media = CFG_MEDIA_CDROM;
	d->readonly = true;
	return 0;
}

static bool
mac_ok(const char *mac)
{
	unsigned b[6];
	char tail;

	return strlen(mac) == 17 && sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c",
	    &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) == 6 &&
	    !(b[0] & 1);
}

/* nat, none, switch:NAME, tap:DEV */
static bool
net_type_ok(const char *s)
{
	const char *v = NULL;

	if (strcmp(s, "nat") == 0)
		return true;
	if (strncmp(s, "switch:", 7) == 0)
		v = s + 7;
	else if (strncmp(s, "tap:", 4) == 0)
		v = s + 4;
	return v && *v && strlen(v) < 64 &&
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == strlen(v);
}

static int
add_net(struct vm_config *cfg, const char *spec, const struct tmpl *t,
    struct vm_err *err)
{
	char buf[256], *tok, *save = NULL;
	struct cfg_net *n;

	if (strlen(spec) >= sizeof(buf))
		return vm_err_set(err, -EINVAL, "--net %s: too long", spec);
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (tok != NULL && strcmp(tok, "none") == 0 &&
	    strtok_r(NULL, ",", &save) == NULL)
		return 0;
	if (tok == NULL || !net_type_ok(tok))
		return vm_err_set(err, -EINVAL, "--net %s: unknown network "
		    "'%s' (use nat, switch:NAME, tap:DEV or none)", spec,
		    tok ? tok : "");
	if (cfg->nnets == CFG_MAX_NETS)
		return vm_err_set(err, -EINVAL, "--net: at most %d NICs",
		    CFG_MAX_NETS);
	n = &cfg->nets[cfg->nnets++];
	memset(n, 0, sizeof(*n));
	snprintf(n->spec, sizeof(n->spec), "%s", tok);
	snprintf(n->model, sizeof(n->model), "%s", t->nic);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		if (strcmp(tok, "model=virtio") == 0 ||
		    strcmp(tok, "model=e1000") == 0)
			snprintf(n->model, sizeof(n->model), "%s", tok + 6);
		else if (strncmp(tok, "mac=", 4) == 0 && mac_ok(tok + 4))
			snprintf(n->mac, sizeof(n->mac), "%s", tok + 4);
		else if (strncmp(tok, "mac=", 4) == 0)
			return vm_err_set(err, -EINVAL, "--net %s: '%s' is not "
			    "a unicast MAC address (xx:xx:xx:xx:xx:xx)", spec,
			    tok + 4);
		else if (strncmp(tok, "forward=", 8) == 0) {
			struct vm_err e = { 0 };
			uint32_t addr;
			uint16_t hp, gp;
			int udp;

			if (strcmp(n->spec, "nat") != 0)
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "forward rules are for nat networks", spec);
			if (n->nforward == CFG_MAX_FORWARDS)
				return vm_err_set(err, -EINVAL, "--net %s: at "
				    "most %d forwards", spec, CFG_MAX_FORWARDS);
			if (strlen(tok + 8) >= sizeof(n->forward[0]))
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "forward rule too long", spec);
			if (net_parse_forward(tok + 8, &udp, &addr, &hp, &gp,
			    &e) < 0)
				return vm_err_set(err, -EINVAL, "--net %s: %s",
				    spec, e.msg);
			snprintf(n->forward[n->nforward++],
			    sizeof(n->forward[0]), "%s", tok + 8);
		} else
			return vm_err_set(err, -EINVAL, "--net %s: bad option "
			    "'%s' (model=virtio|e1000, mac=MAC, "
			    "forward=RULE)", spec, tok);
	}
	return 0;
}

static int
parse_memory(const char *s, uint64_t *out, struct vm_err *err)
{
	uint64_t v;

	if (size_parse(s, &v) < 0)
		return vm_err_set(err, -EINVAL,
		    "--memory: '%s' is not a size (use e.g. 512M or 2G)", s);
	if (strspn(s, "0123456789") == strlen(s))
		v <<= 20; /* a bare number is MiB, as vm-run reads it */
	if (v < (16ULL << 20))
		return vm_err_set(err, -EINVAL,
		    "--memory: '%s' is too small (at least 16M)", s);
	*out = v;
	return 0;
}

static int
parse_cpus(const char *s, int *out, struct vm_err *err)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || n < 1 || n > 64)
		return vm_err_set(err, -EINVAL,
		    "--cpus: '%s' is not a number from 1 to 64", s);
	*out = (int)n;
	return 0;
}

/* An imported disk's format: VMware's and most OVAs' are VMDK, named so
 * (and never probed: without a VMDK driver a probe would take one for a
 * raw image); anything else is probed by the block layer. */
static const char *
image_format(const char *file)
{
	size_t n = strlen(file);

	if (n > 5 && strcasecmp(file + n - 5, ".vmdk") == 0)
		return "vmdk";
	return "";
}

static bool
ova_has(const struct ova *o, const char *name)
{
	int i;

	for (i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i].name, name) == 0)
			return true;
	return false;
}

/* The imported VM's disks: referenced in place (an OVA's: extracted into
 * the bundle), or copied in the bundle's format (--convert). */
static int
apply_vmx_disks(struct plan *p, const struct vmx_vm *vm, const char *convert,
    const struct tmpl *t, struct vm_err *err)
{
	struct cfg_disk *d;
	int i, k;

	for (i = 0; i < vm->ndisks; i++) {
		if (vm->disks[i].cdrom) {
			if (add_cdrom(p, "--import", vm->disks[i].file, false,
			    err) < 0)
				return err->code;
			continue;
		}
		k = p->cfg.ndisks;
		d = add_disk(p, "--import", err);
		if (d == NULL)
			return -EINVAL;
		/* An IDE disk stays IDE: the guest's drivers, device names
		 * and boot loader were set up for it.  Other buses (SATA,
		 * SCSI, NVMe) have no model here and get the template's. */
		if (strcmp(vm->disks[i].bus, "virtio") == 0)
			d->interface = CFG_IF_VIRTIO;
		else if (strcmp(vm->disks[i].bus, "ide") == 0)
			d->interface = CFG_IF_IDE;
		else
			d->interface = t->disk_if;
		if (convert == NULL) {
			snprintf(d->file, sizeof(d->file), "%s",
			    vm->disks[i].file);
			strcpy(d->format, image_format(vm->disks[i].file));
			continue;
		}
		p->disks[k].job = JOB_CONVERT;
		p->disks[k].src_in_bundle = vm->disks[i].in_bundle;
		snprintf(p->disks[k].src, sizeof(p->disks[k].src), "%s",
		    vm->disks[i].file);
		strcpy(p->disks[k].src_format, image_format(vm->disks[i].file));
		snprintf(d->format, sizeof(d->format), "%s", convert);
		snprintf(d->file, sizeof(d->file), "disk%d.%s", k, convert);
		if (vm->disks[i].in_bundle && ova_has(&p->ova, d->file))
			return vm_err_set(err, -EINVAL, "%s: has a member "
			    "named %s, which the converted disk would "
			    "replace", p->ova.path, d->file);
	}
	return 0;
}

static void
apply_vmx(struct plan *p, const struct vmx_vm *vm, const struct tmpl *t)
{
	struct vm_config *cfg = &p->cfg;
	int i;

	if (vm->memory)
		cfg->memory = vm->memory;
	if (vm->cpus)
		cfg->cpus = vm->cpus;
	if (vm->firmware[0])
		snprintf(cfg->boot.firmware, sizeof(cfg->boot.firmware), "%s",
		    vm->firmware);
	for (i = 0; i < vm->nnets && i < CFG_MAX_NETS; i++) {
		struct cfg_net *n = &cfg->nets[cfg->nnets++];

		memset(n, 0, sizeof(*n));
		snprintf(n->spec, sizeof(n->spec), "%s", vm->nets[i].spec);
		snprintf(n->model, sizeof(n->model), "%s",
		    vm->nets[i].model[0] ? vm->nets[i].model : t->nic);
		snprintf(n->mac, sizeof(n->mac), "%s", vm->nets[i].mac);
	}
}

/* --kernel/--initrd/--append and --firmware into cfg->boot. */
static int
apply_boot(struct vm_config *cfg, const struct opts *o, struct vm_err *err)
{
	if ((o->initrd || o->append) && o->kernel == NULL)
		return vm_err_set(err, -EINVAL, "--initrd and --append need "
		    "--kernel");
	if (o->firmware && strcmp(o->firmware, "bios") &&
	    strcmp(o->firmware, "uefi") && strcmp(o->firmware, "direct"))
		return vm_err_set(err, -EINVAL, "--firmware: unknown firmware "
		    "'%s' (use bios, uefi or direct)", o->firmware);
	if (o->kernel == NULL) {
		if (o->firmware && strcmp(o->firmware, "direct") == 0)
			return vm_err_set(err, -EINVAL, "--firmware direct "
			    "needs --kernel");
		if (o->firmware)
			snprintf(cfg->boot.firmware,
			    sizeof(cfg->boot.firmware), "%s", o->firmware);
		if (cfg->boot.firmware[0] == '\0')
			strcpy(cfg->boot.firmware, "bios");
		return 0;
	}
	if (o->firmware && strcmp(o->firmware, "direct") != 0)
		return vm_err_set(err, -EINVAL, "--kernel boots without "
		    "firmware: drop --firmware %s or --kernel", o->firmware);
	cfg->boot.firmware[0] = '\0';
	if (abs_path("--kernel", o->kernel, cfg->boot.kernel, err) < 0)
		return err->code;
	if (o->initrd &&
	    abs_path("--initrd", o->initrd, cfg->boot.initrd, err) < 0)
		return err->code;
	if (o->append && strlen(o->append) >= sizeof(cfg->boot.cmdline))
		return vm_err_set(err, -EINVAL, "--append: too long");
	if (o->append)
		strcpy(cfg->boot.cmdline, o->append);
	return 0;
}

static int
apply_cloud_init(struct plan *p, const struct opts *o, struct vm_err *err)
{
	int k;

	if (o->user_data == NULL) {
		if (o->meta_data || o->network_config)
			return vm_err_set(err, -EINVAL, "--meta-data and "
			    "--network-config need --cloud-init");
		return 0;
	}
	if (abs_path("--cloud-init", o->user_data, p->user_data, err) < 0 ||
	    (o->meta_data && abs_path("--meta-data", o->meta_data,
	    p->meta_data, err) < 0) ||
	    (o->network_config && abs_path("--network-config",
	    o->network_config, p->network_config, err) < 0))
		return err->code;
	k = p->cfg.ndisks;
	if (add_cdrom(p, "--cloud-init", "seed.iso", false, err) < 0)
		return err->code;
	p->disks[k].job = JOB_SEED;
	return 0;
}

/* Template, then the .vmx, then the flags. */
static int
make_plan(struct plan *p, const struct opts *o, const struct vmx_vm *vm,
    struct vm_err *err)
{
	struct vm_config *cfg = &p->cfg;
	enum create_os os = vm && vm->have_os ? vm->os : OS_LINUX;
	struct tmpl t;
	int i, ret;

	if (o->os && parse_os(o->os, &os) < 0)
		return vm_err_set(err, -EINVAL, "--os: unknown OS '%s' (use "
		    "linux, windows or other)", o->os);
	apply_template(cfg, os, &t);
	if (vm != NULL) {
		apply_vmx(p, vm, &t);
		ret = apply_vmx_disks(p, vm, o->convert, &t, err);
		if (ret < 0)
			return ret;
	}
	if (o->memory && (ret = parse_memory(o->memory, &cfg->memory, err)) < 0)
		return ret;
	if (o->cpus && (ret = parse_cpus(o->cpus, &cfg->cpus, err)) < 0)
		return ret;
	if (o->rtc && strcmp(o->rtc, "utc") && strcmp(o->rtc, "localtime"))
		return vm_err_set(err, -EINVAL, "--rtc: '%s' (use utc or "
		    "localtime)", o->rtc);
	if (o->rtc)
		cfg->rtc_localtime = strcmp(o->rtc, "localtime") == 0;
	ret = apply_boot(cfg, o, err);
	for (i = 0; ret == 0 && i < o->ndisks; i++)
		ret = add_new_disk(p, o->disks[i], &t, err);
	for (i = 0; ret == 0 && i < o->ncdroms; i++)
		ret = add_cdrom(p, "--cdrom", o->cdroms[i], true, err);
	if (ret == 0)
		ret = apply_cloud_init(p, o, err);
	if (ret == 0 && o->nnets > 0)
		cfg->nnets = 0; /* the flags replace the .vmx's NICs */
	for (i = 0; ret == 0 && i < o->nnets; i++)
		ret = add_net(cfg, o->nets[i], &t, err);
	if (ret == 0 && o->nnets == 0 && vm == NULL)
		ret = add_net(cfg, "nat", &t, err);
	return ret;
}

/* The VM's name: NAME's last component, or the .vmx's displayName with
 * what vm.yaml does not allow in a name turned into '-'. */
static int
pick_name(struct vm_config *cfg, const char *dest, const struct vmx_vm *vm,
    struct vm_err *err)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	char buf[CFG_PATH_MAX], *b;
	size_t i;

	if (dest == NULL) {
		snprintf(cfg->name, sizeof(cfg->name), "%.63s",
		    vm && vm->display_name[0] ? vm->display_name : "vm");
		for (i = 0; cfg->name[i]; i++)
			if (strchr(ok, cfg->name[i]) == NULL)
				cfg->name[i] = '-';
		if (cfg->name[0] == '.')
			cfg->name[0] = '-';
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", dest);
	b = basename(buf);
	if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 ||
	    strspn(b, ok) != strlen(b) || b[0] == '.' ||
	    strlen(b) >= sizeof(cfg->name))
		return vm_err_set(err, -EINVAL, "%s: not a valid VM name "
		    "(letters, digits, '.', '_', '-'; not starting with '.'; "
		    "at most %zu)", dest, sizeof(cfg->name) - 1);
	strcpy(cfg->name, b);
	return 0;
}

/* .ova and .ovf go to the OVF reader, anything else is a .vmx. */
static bool
is_ovf(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && (strcasecmp(path + n - 4, ".ova") == 0 ||
	    strcasecmp(path + n - 4, ".ovf") == 0);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "cdrom", required_argument, NULL, OPT_CDROM },
		{ "os", required_argument, NULL, OPT_OS },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "net", required_argument, NULL, OPT_NET },
		{ "rtc", required_argument, NULL, OPT_RTC },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "print", no_argument, NULL, OPT_PRINT },
		{ "import", required_argument, NULL, OPT_IMPORT },
		{ "convert", required_argument, NULL, OPT_CONVERT },
		{ "export", required_argument, NULL, OPT_EXPORT },
		{ "cloud-init", required_argument, NULL, OPT_CLOUD_INIT },
		{ "meta-data", required_argument, NULL, OPT_META_DATA },
		{ "network-config", required_argument, NULL,
		    OPT_NETWORK_CONFIG },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "hVm:c:", longopts, NULL)) !=
	    -1) {
		if (ch != OPT_EXPORT && ch != 'h' && ch != 'V')
			o->others++;
		switch (ch) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("vm-create %s\n", VMKIT_VERSION);
			exit(0);
		case 'm': o->memory = optarg; break;
		case 'c': o->cpus = optarg; break;
		case OPT_OS: o->os = optarg; break;
		case OPT_FIRMWARE: o->firmware = optarg; break;
		case OPT_RTC: o->rtc = optarg; break;
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_INITRD: o->initrd = optarg; break;
		case OPT_APPEND: o->append = optarg; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_PRINT: o->print = true; break;
		case OPT_IMPORT: o->import = optarg; break;
		case OPT_CONVERT: o->convert = optarg; break;
		case OPT_EXPORT: o->export = optarg; break;
		case OPT_CLOUD_INIT: o->user_data = optarg; break;
		case OPT_META_DATA: o->meta_data = optarg; break;
		case OPT_NETWORK_CONFIG: o->network_config = optarg; break;
		case OPT_DISK:
		case OPT_CDROM:
			if (o->ndisks + o->ncdroms == CFG_MAX_DISKS) {
				log_warnx("at most %d disks and CD-ROMs",
				    CFG_MAX_DISKS);
				return -1;
			}
			if (ch == OPT_DISK)
				o->disks[o->ndisks++] = optarg;
			else
				o->cdroms[o->ncdroms++] = optarg;
			break;
		case OPT_NET:
			if (o->nnets == CFG_MAX_NETS) {
				log_warnx("--net: at most %d NICs",
				    CFG_MAX_NETS);
				return -1;
			}
			o->nets[o->nnets++] = optarg;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* What vm.yaml will hold can be written (before anything is made). */
static int
check_yaml(const struct vm_config *cfg, struct vm_err *err)
{
	FILE *f = fopen("/dev/null", "w");
	int ret;

	if (f == NULL)
		return vm_err_errno(err, -errno, "/dev/null");
	ret = cfg_emit(cfg, f, "vm.yaml", err);
	fclose(f);
	return ret;
}

static void
on_signal(int sig)
{
	bundle_interrupted = 1;
}

/* Without SA_RESTART, so a blocked read returns and the builder sees the
 * flag, removes what it made and exits 1. */
static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* vm-create --export NAME OUT: nothing else on the line. */
static int
export_main(const struct opts *o, int argc, char **argv)
{
	struct vm_err err = { 0 };

	if (o->others || argc - optind != 1) {
		log_warnx(o->others ? "--export takes no other options" :
		    "--export NAME needs one OUT.ova (or - for stdout)");
		usage(stderr);
		return 2;
	}
	catch_signals();
	if (ova_export(o->export, argv[optind], &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct plan plan;
	static struct vmx_vm vm;
	struct opts o = { 0 };
	struct vm_err err = { 0 };
	const char *dest;

	log_init(argv[0]);
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.export)
		return export_main(&o, argc, argv);
	if (argc - optind > 1 || (argc == optind && o.import == NULL)) {
		log_warnx(argc == optind ? "no bundle NAME given" :
		    "one bundle NAME at a time");
		usage(stderr);
		return 2;
	}
	dest = optind < argc ? argv[optind] : NULL;
	if (o.convert && (o.import == NULL || (strcmp(o.convert, "qcow2") &&
	    strcmp(o.convert, "raw")))) {
		log_warnx(o.import ? "--convert: unknown format '%s' (use "
		    "qcow2 or raw)" : "--convert needs --import", o.convert);
		return 2;
	}
	if (o.import && (is_ovf(o.import) ?
	    ovf_import(o.import, &vm, &plan.ova, &err) :
	    vmx_read(o.import, &vm, &err)) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	cfg_defaults(&plan.cfg);
	if (pick_name(&plan.cfg, dest, o.import ? &vm : NULL, &err) < 0 ||
	    make_plan(&plan, &o, o.import ? &vm : NULL, &err) < 0) {
		log_warnx("%s", err.msg);
		return err.code == -EINVAL ? 2 : 1;
	}
	if (dest == NULL)
		dest = plan.cfg.name;
	if (o.print)
		return cfg_emit(&plan.cfg, stdout, "vm.yaml", &err) < 0 ?
		    (log_warnx("%s", err.msg), 1) : 0;
	if (check_yaml(&plan.cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	catch_signals();
	if (bundle_make(&plan, dest, o.force, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	return 0;
}
