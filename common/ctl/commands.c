/*
 * The control socket's commands: one table entry (name, handler, summary)
 * each.  Handlers run on the event loop's thread with the I/O lock held
 * (server.c); they read the request through req->rq and add their reply's
 * members to req->out.  Those that read vCPU state pause the VM for the
 * moment it takes, unless it is paused already.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "dev/dev.h"
#include "dev/vga.h"
#include "util/err.h"
#include "util/evloop.h"
#include "vm/live.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

static const char *
state_name(struct vm *vm)
{
	if (atomic_load(&vm->exit_reason) != VM_RUNNING)
		return "stopping";
	return vm_is_paused(vm) ? "paused" : "running";
}

static int
cmd_status(struct ctl_req *req)
{
	struct vm *vm = req->vm;
	struct json *j = req->out;
	const char *con = ctl_server_console(req->srv);

	json_str(j, "name", ctl_server_name(req->srv));
	json_str(j, "state", state_name(vm));
	json_str(j, "backend", vm->backend->name);
	json_int(j, "cpus", vm->ncpus);
	json_u64(j, "memory", vm->ram_size);
	json_u64(j, "uptime", (clock_host_ns() -
	    ctl_server_started(req->srv)) / 1000000000ULL);
	json_int(j, "pid", (int64_t)getpid());
	if (con[0] != '\0')
		json_str(j, "console", con);
	return 0;
}

static int
cmd_pause(struct ctl_req *req)
{
	int ret = vm_pause(req->vm);

	if (ret == -EALREADY)
		return ctl_fail(req, ret, "the VM is paused already");
	if (ret < 0)
		return ctl_fail(req, ret, "the VM is stopping");
	json_str(req->out, "state", "paused");
	return 0;
}

static int
cmd_resume(struct ctl_req *req)
{
	if (vm_resume(req->vm) < 0)
		return ctl_fail(req, -EALREADY, "the VM is not paused");
	json_str(req->out, "state", "running");
	return 0;
}

static int
cmd_stop(struct ctl_req *req)
{
	vm_request_exit(req->vm, VM_EXIT_USER, VM_STATUS_USER_QUIT,
	    "stopped through the control socket");
	json_str(req->out, "state", "stopping");
	return 0;
}

static int
cmd_powerdown(struct ctl_req *req)
{
	if (vm_is_paused(req->vm))
		return ctl_fail(req, -EAGAIN, "the VM is paused: resume it, "
		    "so that the guest sees the power button");
	if (vm_power_button(req->vm) < 0)
		return ctl_fail(req, -ENODEV, "this machine has no ACPI "
		    "power button");
	return 0;
}

static int
cmd_reset(struct ctl_req *req)
{
	vm_request_exit(req->vm, VM_EXIT_RESET, 0,
	    "reset through the control socket");
	return 0;
}

static const char *
cpu_mode(const struct x86_state *st)
{
	if (!(st->cr0 & X86_CR0_PE))
		return "real";
	if (st->efer & X86_EFER_LMA)
		return st->seg[X86_CS].l ? "long" : "compat";
	if (st->rflags & X86_VM)
		return "v8086";
	return "protected";
}

static int
cmd_query_cpus(struct ctl_req *req)
{
	static struct x86_state st;     /* big; the loop's thread only */
	struct vm *vm = req->vm;
	bool paused_here = false;
	int i, ret = 0;

	if (!vm_is_paused(vm)) {
		ret = vm_pause(vm);
		if (ret < 0)
			return ctl_fail(req, ret, "the VM is stopping");
		paused_here = true;
	}
	json_arr_begin(req->out, "cpus");
	for (i = 0; i < vm->ncpus; i++) {
		memset(&st, 0, sizeof(st));
		ret = vm->backend->get_state(vm->vcpus[i], &st);
		if (ret < 0) {
			ctl_fail(req, ret, "vCPU %d: cannot read its state",
			    i);
			break;
		}
		json_obj_begin(req->out, NULL);
		json_int(req->out, "index", i);
		json_u64(req->out, "rip", st.rip);
		json_str(req->out, "mode", cpu_mode(&st));
		json_bool(req->out, "halted", st.halted || st.sipi_wait);
		json_obj_end(req->out);
	}
	json_arr_end(req->out);
	if (paused_here)
		vm_resume(vm);
	return ret < 0 ? ret : 0;
}

static int
cmd_query_disks(struct ctl_req *req)
{
	const struct vm_config *cfg = req->vm->cfg;
	struct vm_err e = { 0 };
	char dev[16];
	int i, nide = 0;

	json_arr_begin(req->out, "disks");
	for (i = 0; i < cfg->ndisks; i++) {
		const struct cfg_disk *d = &cfg->disks[i];
		struct blk *b;

		/* The names the board gives them (hw/pc.c, dev/piix-ide.c). */
		if (d->interface == CFG_IF_IDE)
			snprintf(dev, sizeof(dev), "hd%c", 'a' + nide++);
		else
			snprintf(dev, sizeof(dev), "disk%d", i);
		json_obj_begin(req->out, NULL);
		json_str(req->out, "device", dev);
		json_str(req->out, "interface",
		    d->interface == CFG_IF_IDE ? "ide" : "virtio");
		json_str(req->out, "media",
		    d->media == CFG_MEDIA_CDROM ? "cdrom" : "disk");
		json_str(req->out, "file", d->file);
		/* Format and size as the image's header says, read beside
		 * the device's own handle (which holds the lock). */
		vm_err_clear(&e);
		b = blk_open(d->file, d->format[0] ? d->format : NULL,
		    BLK_F_RDONLY | BLK_F_NOLOCK | BLK_F_NOBACKING, &e);
		json_str(req->out, "format", b ? b->drv->name : d->format);
		json_bool(req->out, "read-only",
		    d->readonly || d->media == CFG_MEDIA_CDROM);
		if (b != NULL) {
			json_u64(req->out, "size", b->size);
			blk_close(b);
		} else {
			json_str(req->out, "size-error", e.msg);
		}
		json_obj_end(req->out);
	}
	json_arr_end(req->out);
	return 0;
}

/* query-nics: each network card's counters, in the order of --net. */
static int
cmd_query_nics(struct ctl_req *req)
{
	struct dev *d, *nics[64];
	struct nic_counters c;
	int n = 0;

	/* vm->devs is newest first. */
	for (d = req->vm->devs; d != NULL && n < 64; d = d->next)
		if (d->type->nic_counters != NULL)
			nics[n++] = d;
	json_arr_begin(req->out, "nics");
	while (n-- > 0) {
		d = nics[n];
		memset(&c, 0, sizeof(c));
		d->type->nic_counters(d, &c);
		json_obj_begin(req->out, NULL);
		json_str(req->out, "device", d->id);
		json_str(req->out, "model", d->type->name);
		json_u64(req->out, "tx_frames", c.tx_frames);
		json_u64(req->out, "rx_frames", c.rx_frames);
		json_u64(req->out, "tx_dropped", c.tx_dropped);
		json_u64(req->out, "rx_dropped", c.rx_dropped);
		json_u64(req->out, "tso_frames", c.tso_frames);
		json_u64(req->out, "tso_segments", c.tso_segments);
		json_u64(req->out, "rx_offload", c.rx_offload);
		json_u64(req->out, "tso_failed", c.tso_failed);
		json_u64(req->out, "headers_refused", c.headers_refused);
		json_obj_end(req->out);
	}
	json_arr_end(req->out);
	return 0;
}

/*
 * snapshot-save: {"file": ABSOLUTE-PATH, "tag": TAG, "fast-restore": bool}.
 * The VM is paused for the save (and resumed unless it was paused), so
 * CPU, devices, RAM and the disks' internal snapshots TAG are one point.
 */
static int
cmd_snapshot_save(struct ctl_req *req)
{
	char file[4096], tag[VM_SNAP_TAG_MAX];
	struct vm_snap_opts o = { 0 };
	struct vm_err err = { 0 };
	uint64_t t0 = clock_host_ns();
	bool fast = false;
	int t, ret, paused;

	t = jsonr_find(req->rq, 0, "file");
	if (t < 0 || jsonr_str(req->rq, t, file, sizeof(file)) < 0 ||
	    file[0] != '/')
		return ctl_fail(req, -EINVAL, "snapshot-save needs \"file\", "
		    "an absolute path");
	t = jsonr_find(req->rq, 0, "tag");
	if (t < 0 || jsonr_str(req->rq, t, tag, sizeof(tag)) < 0 ||
	    tag[0] == '\0')
		return ctl_fail(req, -EINVAL, "snapshot-save needs \"tag\", "
		    "at most %d characters", VM_SNAP_TAG_MAX - 1);
	t = jsonr_find(req->rq, 0, "fast-restore");
	if (t >= 0 && jsonr_bool(req->rq, t, &fast) < 0)
		return ctl_fail(req, -EINVAL, "\"fast-restore\" is true or "
		    "false");
	o.tag = tag;
	o.fast_restore = fast;
	o.parent = req->vm->snap_parent[0] ? req->vm->snap_parent : NULL;
	paused = vm_pause(req->vm);
	if (paused < 0 && paused != -EALREADY)
		return ctl_fail(req, paused, "the VM is stopping");
	ret = vm_snapshot_save(req->vm, file, &o, &err);
	if (paused == 0)
		vm_resume(req->vm);
	if (ret < 0)
		return ctl_fail(req, ret, "%s", err.msg);
	json_str(req->out, "file", file);
	json_str(req->out, "tag", tag);
	json_u64(req->out, "ms", (clock_host_ns() - t0) / 1000000);
	return 0;
}

/*
 * migrate: {"stream": PATH, "bundle": ABSOLUTE-PATH, "tag": TAG, "file":
 * ABSOLUTE-PATH}.  Starts the live send (vm/live.c) of this VM, of bundle
 * bundle, into stream (a pipe, opened by its path, as /proc/PID/fd/1),
 * the copy's snapshot named tag, file the RAM-less snapshot on the way;
 * the reply comes at once, migrate-status tells how it goes.
 */
static int
cmd_migrate(struct ctl_req *req)
{
	static char stream[4096], bundle[4096], file[4096];
	char tag[VM_SNAP_TAG_MAX];
	struct vm_err err = { 0 };
	int t;

	t = jsonr_find(req->rq, 0, "stream");
	if (t < 0 || jsonr_str(req->rq, t, stream, sizeof(stream)) < 0 ||
	    stream[0] != '/')
		return ctl_fail(req, -EINVAL, "migrate needs \"stream\", "
		    "an absolute path");
	t = jsonr_find(req->rq, 0, "bundle");
	if (t < 0 || jsonr_str(req->rq, t, bundle, sizeof(bundle)) < 0 ||
	    bundle[0] != '/')
		return ctl_fail(req, -EINVAL, "migrate needs \"bundle\", "
		    "an absolute path");
	t = jsonr_find(req->rq, 0, "file");
	if (t < 0 || jsonr_str(req->rq, t, file, sizeof(file)) < 0 ||
	    file[0] != '/')
		return ctl_fail(req, -EINVAL, "migrate needs \"file\", "
		    "an absolute path");
	t = jsonr_find(req->rq, 0, "tag");
	if (t < 0 || jsonr_str(req->rq, t, tag, sizeof(tag)) < 0 ||
	    tag[0] == '\0')
		return ctl_fail(req, -EINVAL, "migrate needs \"tag\", "
		    "at most %d characters", VM_SNAP_TAG_MAX - 1);
	if (vm_live_start(req->vm, stream, bundle, tag, file, &err) < 0)
		return ctl_fail(req, err.code, "%s", err.msg);
	json_str(req->out, "state", "active");
	return 0;
}

/* migrate-status: {} -> state (idle, active, done, failed), rounds,
 * pages, downtime-us, paused-at-us, disk-bytes-before, disk-bytes-paused,
 * error. */
static int
cmd_migrate_status(struct ctl_req *req)
{
	static const char *const names[] = { "idle", "active", "done",
		"failed" };
	struct vm_live_info in;

	vm_live_status(&in);
	json_str(req->out, "state", names[in.state]);
	json_u64(req->out, "rounds", in.rounds);
	json_u64(req->out, "pages", in.pages);
	json_u64(req->out, "downtime-us", in.downtime_ns / 1000);
	json_u64(req->out, "paused-at-us", in.pause_unix_us);
	json_u64(req->out, "disk-bytes-before", in.disk_before);
	json_u64(req->out, "disk-bytes-paused", in.disk_pause);
	if (in.state == VM_LIVE_FAILED)
		json_str(req->out, "error", in.error);
	return 0;
}

/*
 * screendump: {"file": ABSOLUTE-PATH}.  The VGA's display as it is now,
 * as the PNG --screendump writes at exit; the VM runs on meanwhile.
 */
static int
cmd_screendump(struct ctl_req *req)
{
	static struct vga_screen scr;   /* big; the loop's thread only */
	struct vm_err err = { 0 };
	char file[4096];
	struct dev *d;
	int t;

	t = jsonr_find(req->rq, 0, "file");
	if (t < 0 || jsonr_str(req->rq, t, file, sizeof(file)) < 0 ||
	    file[0] != '/')
		return ctl_fail(req, -EINVAL, "screendump needs \"file\", "
		    "an absolute path");
	d = vm_find_device(req->vm, "vga");
	if (d == NULL)
		return ctl_fail(req, -ENODEV, "this VM has no VGA (console: "
		    "vga, or --screendump when it starts, gives it one)");
	if (vga_screendump(d, file, &err) < 0)
		return ctl_fail(req, err.code, "%s", err.msg);
	vga_get_screen(d, &scr);
	json_str(req->out, "file", file);
	json_str(req->out, "mode", scr.text ? "text" : "graphics");
	json_int(req->out, "width", scr.width);
	json_int(req->out, "height", scr.height);
	return 0;
}

/*
 * snapshot-load: {"file": ABSOLUTE-PATH}.  Into this running VM: paused,
 * the whole file checked and decoded before anything changes (a refused
 * file leaves the VM as it was, and it goes on), then disks, CPU, devices
 * and RAM at the snapshot's point; resumed unless it was paused.
 */
static int
cmd_snapshot_load(struct ctl_req *req)
{
	char file[4096];
	const char *base, *dot;
	struct vm_err err = { 0 };
	uint64_t t0 = clock_host_ns();
	bool damaged = false;
	int t, ret, paused;

	t = jsonr_find(req->rq, 0, "file");
	if (t < 0 || jsonr_str(req->rq, t, file, sizeof(file)) < 0 ||
	    file[0] != '/')
		return ctl_fail(req, -EINVAL, "snapshot-load needs \"file\", "
		    "an absolute path");
	paused = vm_pause(req->vm);
	if (paused < 0 && paused != -EALREADY)
		return ctl_fail(req, paused, "the VM is stopping");
	ret = vm_snapshot_load_live(req->vm, file, &damaged, &err);
	if (ret < 0 && damaged) {
		vm_request_exit(req->vm, VM_EXIT_ERROR, VM_STATUS_EMU_ERROR,
		    "snapshot-load failed half-way");
		if (paused == 0)
			vm_resume(req->vm);
		return ctl_fail(req, ret, "%s (the VM was half-loaded and "
		    "stops)", err.msg);
	}
	if (ret == 0) {
		/* the parent of what it saves next: the file's tag */
		base = strrchr(file, '/') + 1;
		dot = strrchr(base, '.');
		snprintf(req->vm->snap_parent, sizeof(req->vm->snap_parent),
		    "%.*s", dot && strcmp(dot, ".snap") == 0 ?
		    (int)(dot - base) : (int)strlen(base), base);
	}
	if (paused == 0)
		vm_resume(req->vm);
	if (ret < 0)
		return ctl_fail(req, ret, "%s", err.msg);
	json_str(req->out, "file", file);
	json_u64(req->out, "ms", (clock_host_ns() - t0) / 1000000);
	return 0;
}

static int
cmd_help(struct ctl_req *req)
{
	const struct ctl_cmd *c;

	json_arr_begin(req->out, "commands");
	for (c = ctl_cmds; c->name != NULL; c++) {
		json_obj_begin(req->out, NULL);
		json_str(req->out, "name", c->name);
		json_str(req->out, "summary", c->summary);
		json_obj_end(req->out);
	}
	json_arr_end(req->out);
	return 0;
}

const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status, "name, state, backend, cpus, memory, "
	    "uptime, pid" },
	{ "pause", cmd_pause, "stop every vCPU and the guest's clock" },
	{ "resume", cmd_resume, "let a paused VM go on" },
	{ "stop", cmd_stop, "end vm-run at once, as Ctrl-A x does" },
	{ "powerdown", cmd_powerdown, "press the ACPI power button" },
	{ "reset", cmd_reset, "reset the machine, as its reset button" },
	{ "query-cpus", cmd_query_cpus, "each vCPU's RIP, mode, halted" },
	{ "query-disks", cmd_query_disks, "each disk's file, format, size" },
	{ "query-nics", cmd_query_nics, "each network card's frames, drops, "
	    "TSO frames and segments, refused headers" },
	{ "snapshot-save", cmd_snapshot_save, "pause, save CPU, devices, "
	    "RAM and disk snapshots to a file, resume" },
	{ "screendump", cmd_screendump, "save the VGA display as a PNG "
	    "file" },
	{ "snapshot-load", cmd_snapshot_load, "pause, check the whole "
	    "file, load disks, CPU, devices and RAM from it, resume" },
	{ "migrate", cmd_migrate, "send the running VM live into a pipe "
	    "(vm-snap send --live)" },
	{ "migrate-status", cmd_migrate_status, "how the live send goes: "
	    "state, rounds, pages, downtime" },
	{ "help", cmd_help, "the commands" },
	{ NULL, NULL, NULL },
};
