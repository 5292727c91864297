/*
 * vm-run — run one virtual machine in the foreground.
 *
 * Argument parsing and wiring only: the configuration comes from a vm.yaml
 * (or a bundle directory holding one) with command-line flags on top, the
 * back end from --accel, and everything else from common/.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "console.h"
#include "cpu/cpu.h"
#include "ctl/ctl.h"
#include "dev/vga.h"
#include "net/net.h"
#include "remote.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/size.h"
#include "util/version.h"
#include "vm/hybrid.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_DISK, OPT_ACCEL,
	OPT_CONSOLE, OPT_SERIAL_LOG, OPT_NO_REBOOT, OPT_STATS, OPT_LOG,
	OPT_NAME, OPT_KERNEL_DECOMPRESS, OPT_FIRMWARE, OPT_BIOS, OPT_CDROM,
	OPT_DBT_TIER,
	OPT_DBT_CACHE,
	OPT_PRINT_CONFIG,
	OPT_NET,
	OPT_CTL, OPT_DETACH, OPT_ATTACH, OPT_CMD, OPT_LIST, OPT_JSON,
	OPT_RESTORE,
	OPT_SAVE_ON_USR1,
	OPT_FAST_RESTORE,
	OPT_SCREENDUMP,
	OPT_BOOT_ORDER, OPT_BOOT_MENU,
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: vm-run [options] [VM.yaml | BUNDLE-DIR]\n"
"       vm-run --kernel BZIMAGE|VMLINUX [--initrd FILE] [--append CMDLINE]\n"
"       vm-run --firmware bios|uefi|--bios FILE [--disk FILE]\n"
"              [options]\n"
"       vm-run --attach NAME | --cmd NAME CMD [KEY=VALUE...] | --list\n"
"Run a virtual machine in the foreground; its serial console is this\n"
"terminal (Ctrl-A x quits, Ctrl-A h helps).  Or in the background\n"
"(--detach), or talk to running ones through their control sockets.\n"
"\n"
"  -m, --memory SIZE       guest RAM, e.g. 512M or 2G (default 512M)\n"
"  -c, --cpus N            number of vCPUs (default 1)\n"
"      --kernel FILE       boot this Linux bzImage, vmlinux (ELF) or\n"
"                          multiboot kernel\n"
"      --kernel-decompress WHO\n"
"                          who unpacks a bzImage: host (default, where it\n"
"                          can) or guest (the kernel's own decompressor)\n"
"      --initrd FILE       initial ramdisk for --kernel\n"
"      --firmware NAME     boot through firmware: bios (Debian's SeaBIOS\n"
"                          from the seabios package), uefi (Debian's\n"
"                          OVMF from the ovmf package; a bundle keeps its\n"
"                          variables in uefi-vars.fd), or none\n"
"      --bios FILE         boot through this BIOS image instead\n"
"      --boot-order LIST   the firmware's boot order: cdrom,disk,net in\n"
"                          any order (default: disk, then CD-ROM); net\n"
"                          needs an e1000 NIC (iPXE's ROM)\n"
"      --boot-menu         let the firmware offer its boot menu\n"
"      --append CMDLINE    kernel command line\n"
"      --disk SPEC         add a disk: FILE[,format=raw|qcow2][,if=virtio|ide]\n"
"                          [,readonly=on][,media=cdrom] (repeatable)\n"
"      --cdrom FILE        add an IDE CD-ROM drive holding this ISO image\n"
"      --net SPEC          add a NIC: nat[,forward=tcp:HOSTPORT:GUESTPORT]...\n"
"                          [,tftp=DIR][,bootfile=FILE][,subnet=A.B.C.D/P]\n"
"                          (user-mode NAT, 10.0.2.15 by DHCP, DIR served by\n"
"                          TFTP and FILE offered for network boot; the\n"
"                          subnet's .15, .2 and .3 instead of 10.0.2.x),\n"
"                          switch:NAME\n"
"                          (a vm-net switch, [,vlan=1..4094]), tap:DEV (a\n"
"                          host tap) or none;\n"
"                          [,model=virtio|e1000]\n"
"                          [,mac=52:54:00:..] (repeatable; replaces the\n"
"                          config's networks)\n"
"      --accel WHICH       auto (default), kvm or dbt; help lists them;\n"
"                          under kvm the DBT runs what KVM cannot, then\n"
"                          hands the vCPU back\n"
"      --dbt-tier TIER     jit (default: the translator) or interp\n"
"      --dbt-cache SIZE    the translator's code cache (default 128M)\n"
"      --console WHICH     serial (default), vga (the VGA text screen in\n"
"                          this terminal, the keyboard on PS/2) or none\n"
"      --serial-log FILE   also write the serial output to FILE\n"
"      --screendump FILE   at exit, save the VGA display as a PNG\n"
"      --name NAME         the VM's name (default: the config's, the\n"
"                          bundle directory's, or vm-PID)\n"
"      --ctl PATH|none     the control socket (default\n"
"                          $XDG_RUNTIME_DIR/vmkit/vm/NAME/ctl)\n"
"      --detach            run in the background once started: console\n"
"                          on a socket beside ctl, a pidfile, stderr to\n"
"                          a log there\n"
"      --no-reboot         exit (status 0) when the guest reboots\n"
"      --stats             print CPU statistics at exit\n"
"      --restore SNAPSHOT  continue the VM saved in SNAPSHOT (its embedded\n"
"                          configuration, unless VM.yaml or BUNDLE is given;\n"
"                          no kernel or firmware image is read)\n"
"      --save-on-usr1 FILE on SIGUSR1: pause, save a snapshot to FILE\n"
"                          (tag: FILE's name), resume\n"
"      --fast-restore      save RAM uncompressed, for a mapped restore\n"
"      --print-config      check the configuration, print it as vm.yaml\n"
"                          (flags applied, paths resolved) and exit\n"
"\n"
"Running VMs (NAME, or a control socket's PATH):\n"
"      --attach NAME       this terminal on a detached VM's console, its\n"
"                          VGA console with console: vga (Ctrl-A d\n"
"                          detaches, Ctrl-A x stops the VM)\n"
"      --cmd NAME CMD [KEY=VALUE...]\n"
"                          send a command (status, pause, resume, stop,\n"
"                          powerdown, reset, query-cpus, query-disks,\n"
"                          screendump file=PNG, help) and print the reply\n"
"      --list              the running VMs\n"
"      --json              --cmd and --list print JSON\n"
"\n"
"  -v, --verbose           say more (repeat for debug output)\n"
"      --log CATS          debug categories: cpu,dbt,kvm,io,dev,boot,...\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Exit status: the guest's (power-off 0, the vmkit exit port's value,\n"
"isa-debug-exit (v<<1)|1), 1 failure, 2 usage or configuration error,\n"
"124 emulation failure, 125 triple fault.  See vm-run(1).\n");
}

static volatile sig_atomic_t got_signal;
static struct vm *running_vm;

static int usr1_pipe[2] = { -1, -1 };

/* SIGUSR1: the event loop does the work (save_on_usr1). */
static void
on_usr1(int sig)
{
	int e = errno;

	(void)sig;
	if (usr1_pipe[1] >= 0 && write(usr1_pipe[1], "s", 1) < 0) {
		/* full: a save is already due */
	}
	errno = e;
}

/* The tag of a snapshot file: its name without directory or ".snap". */
static void
snap_tag(const char *path, char *tag, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b ? b + 1 : path;
	n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".snap") == 0)
		n -= 5;
	snprintf(tag, len, "%.*s", (int)n, b);
}

struct usr1_save {
	struct vm *vm;
	const char *path, *parent;
	bool fast;
};

/* SIGUSR1 with --save-on-usr1 (an event loop callback): pause, save,
 * resume. */
static void
save_on_usr1(void *opaque, int fd, unsigned events)
{
	struct usr1_save *u = opaque;
	struct vm_snap_opts o = { 0 };
	struct vm_err err = { 0 };
	char tag[VM_SNAP_TAG_MAX], buf[16];
	uint64_t t0 = clock_host_ns();
	int ret;

	(void)events;
	if (read(fd, buf, sizeof(buf)) <= 0)
		return;
	snap_tag(u->path, tag, sizeof(tag));
	o.tag = tag;
	o.fast_restore = u->fast;
	o.parent = u->parent;
	ret = vm_pause(u->vm);
	if (ret < 0 && ret != -EALREADY) {
		log_warnx("snapshot %s: cannot pause the VM", u->path);
		return;
	}
	if (vm_snapshot_save(u->vm, u->path, &o, &err) < 0)
		log_warnx("snapshot %s: %s", u->path, err.msg);
	else
		log_info("snapshot %s saved in %llu ms", u->path,
		    (unsigned long long)((clock_host_ns() - t0) / 1000000));
	if (ret == 0)
		vm_resume(u->vm);
}

static void
on_signal(int sig)
{
	got_signal = sig;
	if (running_vm != NULL)
		evloop_stop(running_vm->loop);
}

/* Physical RAM of the host in bytes (0 if unknown). */
static uint64_t
host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

struct flags {
	const char *memory, *cpus, *kernel, *initrd, *append, *accel;
	const char *console, *serial_log, *name, *decompress;
	const char *dbt_tier, *dbt_cache, *firmware, *bios_file;
	const char *screendump;
	const char *boot_order;
	bool boot_menu;
	const char *disks[CFG_MAX_DISKS];
	bool cdrom[CFG_MAX_DISKS];      /* disks[i] came from --cdrom */
	int ndisks;
	const char *nets[CFG_MAX_NETS];
	int nnets;
	bool no_reboot, stats, fast_restore;
	const char *restore, *save_on_usr1;
	const char *ctl;        /* --ctl PATH, "none" */
	bool detach;
};

/* The VM's control socket and, detached, its other runtime files. */
static struct {
	char name[RUNDIR_NAME_MAX + 1];
	char dir[160];
	char ctl[160], console[176], pid[176], log[176];
	struct ctl_server *srv;
	bool detached;
	bool wrote_pid;         /* the pidfile is ours to remove */
	int ready_fd;           /* detached: tells the parent it started */
} rt = { .ready_fd = -1 };

/* A name for the runtime directory from any text: the characters it
 * cannot hold become '_'. */
static void
name_from(const char *src, char *out, size_t len)
{
	size_t i, n = 0;

	for (i = 0; src[i] && n + 1 < len && n < RUNDIR_NAME_MAX; i++) {
		char c = src[i];

		out[n++] = (strchr("._-", c) || (c >= '0' && c <= '9') ||
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) ? c : '_';
	}
	out[n] = '\0';
	if (out[0] == '.')
		out[0] = '_';
}

/*
 * The VM's name: --name or the config's, else the bundle directory's,
 * else vm-PID; and its runtime files' paths.  2 (usage) or 1 on error.
 */
static int
runtime_paths(const struct vm_config *cfg, const struct flags *fl,
    const char *arg)
{
	struct vm_err err = { 0 };
	char base[CFG_PATH_MAX], *slash;

	if (fl->name != NULL && !rundir_name_ok(fl->name)) {
		log_warnx("--name: '%s' is not a VM name (letters, digits, "
		    "'.', '_', '-'; at most %d)", fl->name, RUNDIR_NAME_MAX);
		return 2;
	}
	/* Only a chosen name must be unique: two unnamed VMs never meet. */
	if (fl->name != NULL || cfg->name_given) {
		name_from(cfg->name, rt.name, sizeof(rt.name));
	} else if (arg != NULL) {
		struct stat sb;

		snprintf(base, sizeof(base), "%s", arg);
		while (strlen(base) > 1 && base[strlen(base) - 1] == '/')
			base[strlen(base) - 1] = '\0';
		slash = strrchr(base, '/');
		if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode))
			name_from(slash ? slash + 1 : base, rt.name,
			    sizeof(rt.name));
	}
	if (rt.name[0] == '\0')
		snprintf(rt.name, sizeof(rt.name), "vm-%d", (int)getpid());
	if (fl->ctl != NULL && strcmp(fl->ctl, "none") == 0)
		return 0;
	if (fl->ctl != NULL) {
		snprintf(rt.ctl, sizeof(rt.ctl), "%s", fl->ctl);
		snprintf(rt.dir, sizeof(rt.dir), "%s", fl->ctl);
		slash = strrchr(rt.dir, '/');
		if (slash == NULL)
			snprintf(rt.dir, sizeof(rt.dir), ".");
		else if (slash == rt.dir)
			rt.dir[1] = '\0';
		else
			*slash = '\0';
	} else if (ctl_vm_path(rt.name, NULL, rt.dir, sizeof(rt.dir), 1,
	    &err) < 0 || ctl_vm_path(rt.name, "ctl", rt.ctl, sizeof(rt.ctl),
	    0, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	snprintf(rt.console, sizeof(rt.console), "%s/console", rt.dir);
	snprintf(rt.pid, sizeof(rt.pid), "%s/pid", rt.dir);
	snprintf(rt.log, sizeof(rt.log), "%s/log", rt.dir);
	return 0;
}

/*
 * --detach: fork; the parent waits until the child says the VM started
 * (then exits 0) or the child exits (with its status: its errors went to
 * this terminal).  Returns -1 in the child.
 */
static int
detach_fork(void)
{
	int p[2], st;
	char buf[8];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("pipe");
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		log_warn("fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		rt.ready_fd = p[1];
		setsid();
		return -1;
	}
	close(p[1]);
	if (read(p[0], buf, 1) == 1) {
		fprintf(stderr, "vm-run: %s: running detached (pid %d); "
		    "vm-run --attach %s\n", rt.name, (int)pid, rt.name);
		return 0;
	}
	if (waitpid(pid, &st, 0) < 0)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* The detached VM has started: pidfile, stdio away from the terminal
 * (stderr to the log), and the parent told. */
static void
detach_ready(void)
{
	FILE *f;
	int fd;

	if (rt.ready_fd < 0)
		return;
	f = fopen(rt.pid, "w");
	if (f != NULL) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		rt.wrote_pid = true;
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	fd = open(rt.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (write(rt.ready_fd, "R", 1) < 0)
		log_warn("telling the parent");
	close(rt.ready_fd);
	rt.ready_fd = -1;
}

/* Take the runtime files away (the log stays, for a detached VM). */
static void
runtime_cleanup(void)
{
	ctl_server_close(rt.srv);
	rt.srv = NULL;
	if (rt.detached)
		console_close_socket(rt.console);
	if (rt.wrote_pid)
		unlink(rt.pid);
	if (rt.dir[0] != '\0' && strcmp(rt.dir, ".") != 0)
		(void)rmdir(rt.dir);    /* if empty */
}

/* Each network's type and forward rules, with where they were given. */
static int
check_nets(const struct vm_config *cfg, struct vm_err *err)
{
	struct vm_err e = { 0 };
	uint32_t addr;
	uint16_t hp, gp;
	int i, j, udp;

	for (i = 0; i < cfg->nnets; i++) {
		const struct cfg_net *n = &cfg->nets[i];

		if (strcmp(n->spec, "none") == 0)
			continue;
		if (net_check_spec(n->spec, &e) < 0)
			return vm_err_set(err, -EINVAL, "%s: %s", n->origin,
			    e.msg);
		if (n->nforward > 0 && strcmp(n->spec, "nat") != 0)
			return vm_err_set(err, -EINVAL, "%s: forward rules "
			    "are for nat networks", n->origin);
		for (j = 0; j < n->nforward; j++)
			if (net_parse_forward(n->forward[j], &udp, &addr, &hp,
			    &gp, &e) < 0)
				return vm_err_set(err, -EINVAL, "%s: %s",
				    n->origin, e.msg);
	}
	return 0;
}

static int
apply_flags(struct vm_config *cfg, const struct flags *fl,
    struct vm_err *err)
{
	uint64_t v;
	char *end;
	long n;
	int i, ret;

	if (fl->memory) {
		if (size_parse(fl->memory, &v) < 0)
			return vm_err_set(err, -EINVAL,
			    "--memory: '%s' is not a size (use e.g. 512M or 2G)",
			    fl->memory);
		if (strspn(fl->memory, "0123456789") == strlen(fl->memory))
			v <<= 20; /* a bare number is MiB, as with QEMU's -m */
		cfg->memory = v;
	}
	if (fl->cpus) {
		n = strtol(fl->cpus, &end, 10);
		if (*fl->cpus == '\0' || *end != '\0' || n < 1 ||
		    n > VM_MAX_CPUS)
			return vm_err_set(err, -EINVAL,
			    "--cpus: '%s' is not a number from 1 to %d",
			    fl->cpus, VM_MAX_CPUS);
		cfg->cpus = (int)n;
	}
	if (fl->kernel) {
		snprintf(cfg->boot.kernel, sizeof(cfg->boot.kernel), "%s",
		    fl->kernel);
		cfg->boot.kernel_origin[0] = '\0';
	}
	if (fl->firmware) {
		if (strcmp(fl->firmware, "none") == 0)
			cfg->boot.firmware[0] = '\0';
		else if (strcmp(fl->firmware, "bios") == 0 ||
		    strcmp(fl->firmware, "uefi") == 0 ||
		    fl->firmware == fl->bios_file)
			snprintf(cfg->boot.firmware,
			    sizeof(cfg->boot.firmware), "%s", fl->firmware);
		else
			return vm_err_set(err, -EINVAL, "--firmware: unknown "
			    "firmware '%s' (use bios, uefi or none; --bios FILE "
			    "for an image)", fl->firmware);
	}
	if (fl->boot_order && cfg_parse_boot_order(cfg, fl->boot_order,
	    err) < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		return vm_err_set(err, -EINVAL, "--boot-order: %s", msg);
	}
	if (fl->boot_menu)
		cfg->boot.menu = true;
	if (fl->initrd) {
		snprintf(cfg->boot.initrd, sizeof(cfg->boot.initrd), "%s",
		    fl->initrd);
		cfg->boot.initrd_origin[0] = '\0';
	}
	if (fl->append)
		snprintf(cfg->boot.cmdline, sizeof(cfg->boot.cmdline), "%s",
		    fl->append);
	if (fl->dbt_tier) {
		if (strcmp(fl->dbt_tier, "jit") != 0 &&
		    strcmp(fl->dbt_tier, "interp") != 0)
			return vm_err_set(err, -EINVAL, "--dbt-tier: unknown "
			    "tier '%s' (use jit or interp)", fl->dbt_tier);
		snprintf(cfg->dbt_tier, sizeof(cfg->dbt_tier), "%s",
		    fl->dbt_tier);
	}
	if (fl->dbt_cache) {
		if (size_parse(fl->dbt_cache, &v) < 0 || v < (1u << 20) ||
		    v > (1ULL << 30))
			return vm_err_set(err, -EINVAL, "--dbt-cache: '%s' is "
			    "not a size from 1M to 1G", fl->dbt_cache);
		cfg->dbt_cache = v;
	}
	if (fl->decompress &&
	    cfg_parse_decompress(fl->decompress, &cfg->boot.decompress) < 0)
		return vm_err_set(err, -EINVAL,
		    "--kernel-decompress: unknown value '%s' (use host or "
		    "guest)", fl->decompress);
	if (fl->accel && cfg_parse_accel(fl->accel, &cfg->accel) < 0)
		return vm_err_set(err, -EINVAL,
		    "--accel: unknown accelerator '%s' (use auto, kvm or dbt)",
		    fl->accel);
	if (fl->console) {
		if (strcmp(fl->console, "serial") == 0)
			cfg->console = CFG_CONSOLE_SERIAL;
		else if (strcmp(fl->console, "none") == 0)
			cfg->console = CFG_CONSOLE_NONE;
		else if (strcmp(fl->console, "vga") == 0)
			cfg->console = CFG_CONSOLE_VGA;
		else
			return vm_err_set(err, -EINVAL,
			    "--console: unknown console '%s' (use serial, vga "
			    "or none)", fl->console);
	}
	if (fl->screendump)
		cfg->vga = true;
	if (fl->serial_log)
		snprintf(cfg->serial_log, sizeof(cfg->serial_log), "%s",
		    fl->serial_log);
	if (fl->name)
		snprintf(cfg->name, sizeof(cfg->name), "%s", fl->name);
	for (i = 0; i < fl->ndisks; i++) {
		if (cfg->ndisks == CFG_MAX_DISKS)
			return vm_err_set(err, -EINVAL,
			    "--disk: at most %d disks", CFG_MAX_DISKS);
		ret = cfg_parse_disk_opt(&cfg->disks[cfg->ndisks], fl->disks[i],
		    err);
		if (ret < 0)
			return ret;
		if (fl->cdrom[i]) {
			struct cfg_disk *d = &cfg->disks[cfg->ndisks];

			d->interface = CFG_IF_IDE;
			d->media = CFG_MEDIA_CDROM;
			d->readonly = true;
			snprintf(d->origin, sizeof(d->origin), "--cdrom");
		}
		cfg->ndisks++;
	}
	if (fl->nnets > 0)
		cfg->nnets = 0;
	for (i = 0; i < fl->nnets; i++) {
		bool none;

		ret = cfg_parse_net_opt(&cfg->nets[cfg->nnets], &none,
		    fl->nets[i], err);
		if (ret < 0)
			return ret;
		if (!none)
			cfg->nnets++;
	}
	return check_nets(cfg, err);
}

static int
load_config(struct vm_config *cfg, const char *arg, struct vm_err *err)
{
	char path[CFG_PATH_MAX];
	struct stat sb;

	if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if ((size_t)snprintf(path, sizeof(path), "%s/vm.yaml", arg) >=
		    sizeof(path))
			return vm_err_set(err, -ENAMETOOLONG, "%s: path too long",
			    arg);
	} else {
		snprintf(path, sizeof(path), "%s", arg);
	}
	return cfg_load(cfg, path, err);
}

/* The bundle a snapshot at snap is in (BUNDLE/snapshots/TAG.snap, with
 * BUNDLE/vm.yaml): its vm.yaml into yaml; false if none. */
static bool
snap_bundle_yaml(const char *snap, char *yaml, size_t len)
{
	char rp[PATH_MAX], *sl;

	if (realpath(snap, rp) == NULL || (sl = strrchr(rp, '/')) == NULL)
		return false;
	*sl = '\0';
	sl = strrchr(rp, '/');
	if (sl == NULL || strcmp(sl, "/snapshots") != 0)
		return false;
	*sl = '\0';
	return (size_t)snprintf(yaml, len, "%s/vm.yaml", rp) < len &&
	    access(yaml, F_OK) == 0;
}

/* --accel help: each back end and whether it can run here. */
static int
list_accels(void)
{
	const struct cpu_backend_ops *b[] = {
		&dbt_backend,
#ifdef HAVE_KVM
		&kvm_backend,
#endif
	};
	struct vm_err err = { 0 };
	char why[256];
	const struct cpu_backend_ops *chosen;
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		vm_err_clear(&err);
		if (b[i]->probe(&err) == 0)
			printf("%s: usable\n", b[i]->name);
		else
			printf("%s: not usable: %s\n", b[i]->name, err.msg);
	}
	chosen = cpu_backend_select("auto", why, sizeof(why), &err);
	if (chosen != NULL)
		printf("auto: %s\n", why);
	return 0;
}

/* --screendump: the VGA's display as it is when the VM stops. */
static void
screendump(struct vm *vm, const char *path)
{
	struct vm_err err = { 0 };
	struct dev *d = vm_find_device(vm, "vga");

	if (d == NULL || vga_screendump(d, path, &err) < 0)
		log_warnx("--screendump: %s", d ? err.msg : "no VGA");
}

static int
exit_status(struct vm *vm, enum vm_exit_reason r)
{
	switch (r) {
	case VM_EXIT_POWEROFF:
		if (vm->exit_diag[0])
			log_info("%s", vm->exit_diag);
		return 0;
	case VM_EXIT_PORT:
		return vm->exit_status;
	case VM_EXIT_RESET:
		return 0;
	case VM_EXIT_SHUTDOWN:
	case VM_EXIT_ERROR:
		console_restore();
		log_warnx("%s", vm->exit_diag);
		return vm->exit_status ? vm->exit_status : 1;
	case VM_EXIT_USER:
		if (got_signal)
			return 128 + got_signal;
		return 0;
	case VM_RUNNING:
		break;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "kernel-decompress", required_argument, NULL,
		    OPT_KERNEL_DECOMPRESS },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "bios", required_argument, NULL, OPT_BIOS },
		{ "cdrom", required_argument, NULL, OPT_CDROM },
		{ "boot-order", required_argument, NULL, OPT_BOOT_ORDER },
		{ "boot-menu", no_argument, NULL, OPT_BOOT_MENU },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "dbt-tier", required_argument, NULL, OPT_DBT_TIER },
		{ "dbt-cache", required_argument, NULL, OPT_DBT_CACHE },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "screendump", required_argument, NULL, OPT_SCREENDUMP },
		{ "serial-log", required_argument, NULL, OPT_SERIAL_LOG },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "attach", required_argument, NULL, OPT_ATTACH },
		{ "cmd", required_argument, NULL, OPT_CMD },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "save-on-usr1", required_argument, NULL, OPT_SAVE_ON_USR1 },
		{ "fast-restore", no_argument, NULL, OPT_FAST_RESTORE },
		{ NULL, 0, NULL, 0 },
	};
	static struct vm_config cfg;
	static struct vm_restore_disks rdisks;
	struct flags fl = { 0 };
	struct vm_err err = { 0 };
	const struct cpu_backend_ops *backend;
	enum vm_exit_reason reason;
	struct sigaction sa;
	char why[256], parent[VM_SNAP_TAG_MAX] = "";
	struct usr1_save usr1 = { 0 };
	struct vm *vm;
	int ret;
	int ch, verbose = 0, status;
	uint64_t t_start;
	bool print_config = false, list = false, json = false, restored = false;
	const char *attach = NULL, *cmd = NULL;

	t_start = clock_host_ns();
	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "hVvm:c:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vm-run %s\n", VMKIT_VERSION);
			return 0;
		case 'v':
			log_set_verbose(++verbose);
			break;
		case 'm':
			fl.memory = optarg;
			break;
		case 'c':
			fl.cpus = optarg;
			break;
		case OPT_KERNEL:
			fl.kernel = optarg;
			break;
		case OPT_KERNEL_DECOMPRESS:
			fl.decompress = optarg;
			break;
		case OPT_INITRD:
			fl.initrd = optarg;
			break;
		case OPT_FIRMWARE:
			fl.firmware = optarg;
			break;
		case OPT_BIOS:
			fl.firmware = fl.bios_file = optarg;
			break;
		case OPT_APPEND:
			fl.append = optarg;
			break;
		case OPT_BOOT_ORDER:
			fl.boot_order = optarg;
			break;
		case OPT_BOOT_MENU:
			fl.boot_menu = true;
			break;
		case OPT_DISK:
			if (fl.ndisks == CFG_MAX_DISKS) {
				log_warnx("--disk: at most %d disks",
				    CFG_MAX_DISKS);
				return 2;
			}
			fl.disks[fl.ndisks++] = optarg;
			break;
		case OPT_CDROM:
			if (fl.ndisks == CFG_MAX_DISKS) {
				log_warnx("--cdrom: at most %d disks",
				    CFG_MAX_DISKS);
				return 2;
			}
			fl.cdrom[fl.ndisks] = true;
			fl.disks[fl.ndisks++] = optarg;
			break;
		case OPT_NET:
			if (fl.nnets == CFG_MAX_NETS) {
				log_warnx("--net: at most %d networks",
				    CFG_MAX_NETS);
				return 2;
			}
			fl.nets[fl.nnets++] = optarg;
			break;
		case OPT_ACCEL:
			fl.accel = optarg;
			break;
		case OPT_DBT_TIER:
			fl.dbt_tier = optarg;
			break;
		case OPT_DBT_CACHE:
			fl.dbt_cache = optarg;
			break;
		case OPT_CONSOLE:
			fl.console = optarg;
			break;
		case OPT_SCREENDUMP:
			fl.screendump = optarg;
			break;
		case OPT_SERIAL_LOG:
			fl.serial_log = optarg;
			break;
		case OPT_NAME:
			fl.name = optarg;
			break;
		case OPT_NO_REBOOT:
			fl.no_reboot = true;
			break;
		case OPT_STATS:
			fl.stats = true;
			break;
		case OPT_PRINT_CONFIG:
			print_config = true;
			break;
		case OPT_CTL:
			fl.ctl = optarg;
			break;
		case OPT_DETACH:
			fl.detach = true;
			break;
		case OPT_ATTACH:
			attach = optarg;
			break;
		case OPT_CMD:
			cmd = optarg;
			break;
		case OPT_LIST:
			list = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_RESTORE:
			fl.restore = optarg;
			break;
		case OPT_SAVE_ON_USR1:
			fl.save_on_usr1 = optarg;
			break;
		case OPT_FAST_RESTORE:
			fl.fast_restore = true;
			break;
		case OPT_LOG:
			if (log_set_cats(optarg) < 0) {
				log_warnx("--log: unknown category in '%s'",
				    optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (fl.accel != NULL && strcmp(fl.accel, "help") == 0)
		return list_accels();
	if ((attach != NULL) + (cmd != NULL) + list > 1) {
		log_warnx("--attach, --cmd and --list go alone");
		return 2;
	}
	if (attach != NULL || list) {
		if (optind < argc) {
			log_warnx("%s takes no VM file", list ? "--list" :
			    "--attach");
			return 2;
		}
		return list ? remote_list(json) : remote_attach(attach);
	}
	if (cmd != NULL) {
		if (optind >= argc) {
			log_warnx("--cmd %s: which command? (help lists them)",
			    cmd);
			return 2;
		}
		return remote_cmd(cmd, argc - optind, argv + optind, json);
	}
	if (fl.detach && fl.ctl != NULL && strcmp(fl.ctl, "none") == 0) {
		log_warnx("--detach needs the control socket (not --ctl none)");
		return 2;
	}
	if (argc - optind > 1) {
		log_warnx("one VM at a time: give one vm.yaml or bundle");
		usage(stderr);
		return 2;
	}

	cfg_defaults(&cfg);
	if (optind < argc && load_config(&cfg, argv[optind], &err) < 0) {
		log_warnx("%s", err.msg);
		return err.code == -EINVAL ? 2 : 1;
	}
	if (optind == argc && fl.restore &&
	    vm_snapshot_config(fl.restore, &cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	/* restored from a bundle's snapshot: the VM is that bundle's (a
	 * disk put on a new overlay is named in its vm.yaml) */
	if (optind == argc && fl.restore && snap_bundle_yaml(fl.restore,
	    cfg.path, sizeof(cfg.path)) == false)
		cfg.path[0] = '\0';
	/* (a stopped VM's disks-only snapshot, with nothing to run, is
	 * refused by the load, before the VM runs) */
	if (fl.restore)
		snap_tag(fl.restore, parent, sizeof(parent));
	cfg.stats = fl.stats;
	if (apply_flags(&cfg, &fl, &err) < 0 ||
	    cfg_validate(&cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return 2;
	}
	if (print_config)
		return cfg_emit(&cfg, stdout, "stdout", &err) < 0 ?
		    (log_warnx("%s", err.msg), 1) : 0;
	if (host_ram() && cfg.memory > host_ram()) {
		char a[32], b[32];

		log_warnx("memory: %s is more than this host has (%s)",
		    size_format(cfg.memory, a, sizeof(a)),
		    size_format(host_ram(), b, sizeof(b)));
		return 1;
	}

	backend = cpu_backend_select(cfg_accel_name(cfg.accel), why,
	    sizeof(why), &err);
	if (backend == NULL) {
		log_warnx("%s", err.msg);
		return 1;
	}
	log_info("accelerator %s", why);

	status = runtime_paths(&cfg, &fl, optind < argc ? argv[optind] : NULL);
	if (status != 0)
		return status;
	if (fl.detach) {
		status = detach_fork();
		if (status >= 0)
			return status;
		rt.detached = true;
	}
	if (rt.ctl[0] != '\0') {
		rt.srv = ctl_server_open(rt.ctl, rt.name, &err);
		if (rt.srv == NULL) {
			log_warnx("%s", err.msg);
			runtime_cleanup();
			return 1;
		}
		log_info("control socket %s", rt.ctl);
	}
	if (rt.detached) {
		ret = console_init_socket(rt.console,
		    cfg.serial_log[0] ? cfg.serial_log : NULL, cfg.console);
		if (ret < 0) {
			log_warnx("%s: %s", rt.console, strerror(-ret));
			runtime_cleanup();
			return 1;
		}
		ctl_server_set_console(rt.srv, rt.console);
	} else if (console_init(cfg.serial_log[0] ? cfg.serial_log : NULL,
	    cfg.console) < 0) {
		log_warn("%s", cfg.serial_log);
		runtime_cleanup();
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (fl.save_on_usr1) {
		if (pipe2(usr1_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
			log_warn("--save-on-usr1: pipe");
			runtime_cleanup();
			return 1;
		}
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
	}

	for (;;) {
		/* a disk whose snapshot is an overlay's base: on a new
		 * overlay on it, committed once the load has succeeded */
		if (fl.restore && vm_restore_disks_prepare(fl.restore, &cfg,
		    cfg.path[0] ? cfg.path : NULL, &rdisks, &err) < 0) {
			console_restore();
			log_warnx("%s", err.msg);
			runtime_cleanup();
			return 1;
		}
		/* a restore reads no kernel and no firmware image: the
		 * snapshot replaces RAM, ROM included */
		vm = fl.restore ? vm_create_restore(&cfg, backend,
		    console_chardev(), fl.restore, &err) :
		    vm_create_ex(&cfg, backend, console_chardev(), 0, &err);
		if (vm == NULL) {
			vm_restore_disks_abort(&rdisks);
			console_restore();
			log_warnx("%s", err.msg);
			runtime_cleanup();
			return 1;
		}
		if (fl.restore) {
			uint64_t t0 = clock_host_ns();

			if (vm_snapshot_load(vm, fl.restore, &err) < 0 ||
			    vm_restore_disks_commit(&rdisks, &err) < 0) {
				vm_restore_disks_abort(&rdisks);
				vm_destroy(vm);
				console_restore();
				log_warnx("%s", err.msg);
				runtime_cleanup();
				return 1;
			}
			snprintf(vm->snap_parent, sizeof(vm->snap_parent),
			    "%s", parent);
			log_info("restored %s in %llu ms", fl.restore,
			    (unsigned long long)((clock_host_ns() - t0) /
			    1000000));
			restored = true;
			fl.restore = NULL;      /* a guest reboot boots afresh */
		}
		running_vm = vm;
		console_attach(vm);
		if (rt.srv != NULL)
			ctl_server_attach(rt.srv, vm);
		detach_ready();
		if (got_signal)
			vm_request_exit(vm, VM_EXIT_USER, 0, "signal");
		if (fl.save_on_usr1) {
			usr1.vm = vm;
			usr1.path = fl.save_on_usr1;
			usr1.parent = parent[0] ? parent : NULL;
			usr1.fast = fl.fast_restore;
			evloop_add_fd(vm->loop, usr1_pipe[0], EV_READ,
			    save_on_usr1, &usr1);
		}
		if (restored) {
			/* vm_run starts the vCPUs on the snapshot's state
			 * at once: the time to the first guest instruction,
			 * from vm-run's start (bench/snap.sh reads it) */
			log_info("restore: first guest instruction %.3f ms after "
			    "vm-run started", (double)(clock_host_ns() -
			    t_start) / 1e6);
			restored = false;
		}
		reason = vm_run(vm);
		ctl_server_detach(rt.srv);
		console_detach();
		running_vm = NULL;
		if (fl.stats && backend->print_stats)
			backend->print_stats(vm);
		if (fl.stats && hybrid_stints(vm))
			fprintf(stderr, "hybrid: %u stints on the DBT for KVM\n",
			    hybrid_stints(vm));
		if (fl.screendump)
			screendump(vm, fl.screendump);
		status = exit_status(vm, reason);
		vm_destroy(vm);
		if (reason == VM_EXIT_RESET && !fl.no_reboot && !got_signal) {
			log_info("guest reset: restarting");
			continue;
		}
		break;
	}
	console_restore();
	if (rt.detached)
		fprintf(stderr, "vm-run: %s: exit status %d\n", rt.name,
		    status);
	runtime_cleanup();
	return status;
}
