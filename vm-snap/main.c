/*
 * vm-snap — snapshots of virtual machines: list, delete, restore, revert;
 * save through the running VM's control socket, or of a stopped bundle's
 * disks only.  Argument parsing and wiring only: the format
 * and the work are common/snap and common/vm/snapshot.c.
 *
 * A VM is a bundle directory (its snapshots in BUNDLE/snapshots/) or a
 * name (in $XDG_STATE_HOME/vmkit/NAME/); a snapshot is TAG.snap there.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "ctl/ctl.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/size.h"
#include "util/version.h"
#include "vm/snapshot.h"
#include "vm/transfer.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vm-snap list VM [--json]\n"
	    "       vm-snap restore VM TAG [VM-RUN-OPTIONS]\n"
	    "       vm-snap delete VM TAG\n"
	    "       vm-snap save VM TAG [--fast-restore]\n"
	    "       vm-snap send VM TAG [--base BASE] > STREAM\n"
	    "       vm-snap send --live VM TAG | vm-snap receive DIR\n"
	    "       vm-snap receive [DIR] < STREAM\n"
	    "Snapshots of virtual machines.  VM is a bundle directory (snapshots\n"
	    "in BUNDLE/snapshots/) or a name ($XDG_STATE_HOME/vmkit/NAME/).\n"
	    "\n"
	    "  list      the snapshot tree: tag, time, size, RAM, parent;\n"
	    "            damaged files listed as such, with the reason\n"
	    "  restore   run the VM from snapshot TAG (vm-run --restore); a\n"
	    "            running VM loads it in place (its control socket);\n"
	    "            an overlay's base: a new overlay on it, vm.yaml\n"
	    "            naming it (the base checked to be as at the save)\n"
	    "  revert    a stopped VM's disks back at snapshot TAG (a raw,\n"
	    "            vmdk, vdi or vhd disk: a new overlay on the base the\n"
	    "            snapshot names; prints the overlays made); the\n"
	    "            overlay left is deleted if nothing needs it\n"
	    "  delete    remove snapshot TAG and its disks' internal snapshots\n"
	    "            (a stopped VM); an overlay's base stays\n"
	    "  save      snapshot the running VM (its control socket):\n"
	    "            paused for the save, then it goes on; prints the file.\n"
	    "            A stopped bundle: its disks only, for revert.  qcow2\n"
	    "            disks: internal snapshots; raw, vmdk, vdi, vhd: the\n"
	    "            file becomes the read-only base of a new qcow2\n"
	    "            overlay, which vm.yaml then names (a running VM\n"
	    "            moves to it in the pause)\n"
	    "  send      write a stopped bundle, its disks and snapshot TAG to\n"
	    "            stdout as one stream, sectioned with checksums;\n"
	    "            --base: the disks as changes since snapshot BASE,\n"
	    "            for the copy received with BASE; --live: the\n"
	    "            running VM, RAM pre-copied while it runs, paused\n"
	    "            for the last pages and its state, then stopped\n"
	    "  receive   make the bundle DIR (default: the VM's name) from a\n"
	    "            stream on stdin; a bad or truncated one leaves nothing\n"
	    "\n"
	    "      --json      list as JSON\n"
	    "      --fast-restore  save RAM uncompressed, mapped at restore\n"
	    "      --base BASE     send: disks as deltas against snapshot BASE\n"
	    "      --live          send: the running VM, live (pre-copy)\n"
	    "  -h, --help      show this help and exit\n"
	    "  -V, --version   show the version and exit\n");
}

/* The snapshot folder of VM into dir. */
static int
snap_dir(const char *vm, char *dir, size_t len, struct vm_err *err)
{
	char yaml[PATH_MAX];
	struct stat st;
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", vm);
	if (stat(yaml, &st) == 0) {
		if ((size_t)snprintf(dir, len, "%s/snapshots", vm) >= len)
			return vm_err_set(err, -ENAMETOOLONG, "%s: path too "
			    "long", vm);
		return 0;
	}
	if (strchr(vm, '/') != NULL || vm[0] == '\0' || vm[0] == '.')
		return vm_err_set(err, -ENOENT, "%s: not a bundle (no vm.yaml) "
		    "nor a VM name", vm);
	if (state != NULL && state[0] != '\0')
		snprintf(dir, len, "%s/vmkit/%s", state, vm);
	else if (home != NULL)
		snprintf(dir, len, "%s/.local/state/vmkit/%s", home, vm);
	else
		return vm_err_set(err, -ENOENT, "neither XDG_STATE_HOME nor HOME "
		    "is set");
	return 0;
}

static int
snap_path(const char *vm, const char *tag, char *path, size_t len,
    struct vm_err *err)
{
	char dir[PATH_MAX];
	int ret = snap_dir(vm, dir, sizeof(dir), err);

	if (ret < 0)
		return ret;
	if (tag[0] == '\0' || strchr(tag, '/') != NULL || tag[0] == '.')
		return vm_err_set(err, -EINVAL, "'%s' is not a snapshot tag",
		    tag);
	if ((size_t)snprintf(path, len, "%s/%s.snap", dir, tag) >= len)
		return vm_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	if (access(path, F_OK) < 0)
		return vm_err_set(err, -ENOENT, "%s: no snapshot '%s' (%s)", vm,
		    tag, path);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct list_info {
	struct vm_snap_info in;
	char tag[256];
	bool bad;
	char why[256];          /* a damaged file: what is wrong with it */
};

/* The snapshot whose tag is tag, or -1. */
static int
snap_index(const struct list_info *in, int n, const char *tag)
{
	int i;

	if (tag[0] == '\0')
		return -1;
	for (i = 0; i < n; i++)
		if (!in[i].bad && strcmp(in[i].tag, tag) == 0)
			return i;
	return -1;
}

/* Appends i and, under it, its children (names are sorted, so they come
 * in name order); depth bounds a cycle of parents. */
static int
tree_walk(const struct list_info *in, int n, int i, int d, int *order,
    int *depth, int norder)
{
	int c;

	if (d > n)
		return norder;
	order[norder] = i;
	depth[norder++] = d;
	for (c = 0; c < n; c++)
		if (c != i && !in[c].bad &&
		    strcmp(in[c].in.parent, in[i].tag) == 0)
			norder = tree_walk(in, n, c, d + 1, order, depth,
			    norder);
	return norder;
}

/* A file that could not be read: its tag, its size, "damaged" and why. */
static void
list_damaged(struct json *j, const struct list_info *li, const char *path)
{
	char sz[32];

	if (j != NULL) {
		json_obj_begin(j, NULL);
		json_str(j, "tag", li->tag);
		json_u64(j, "size", li->in.size);
		json_str(j, "file", path);
		json_bool(j, "damaged", true);
		json_str(j, "error", li->why);
		json_obj_end(j);
		return;
	}
	printf("%-20.200s %-20s %10s %-7s %s\n", li->tag, "-",
	    size_format(li->in.size, sz, sizeof(sz)), "damaged", li->why);
}

static int
cmd_list(const char *vm, bool json)
{
	struct vm_err err = { 0 };
	char dir[PATH_MAX], path[PATH_MAX + 256], when[32], sz[32], tag[256];
	char **names = NULL;
	struct dirent *de;
	struct json j;
	DIR *d;
	struct list_info *infos = NULL;
	int *order = NULL, *depth = NULL;
	int n = 0, i, bad = 0, nbad = 0, norder;

	if (snap_dir(vm, dir, sizeof(dir), &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	d = opendir(dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			size_t l = strlen(de->d_name);
			char **nn;

			if (l <= 5 || strcmp(de->d_name + l - 5, ".snap") != 0)
				continue;
			nn = realloc(names, sizeof(*names) * (size_t)(n + 1));
			if (nn == NULL)
				break;
			names = nn;
			names[n++] = strdup(de->d_name);
		}
		closedir(d);
	} else if (errno != ENOENT) {
		log_warn("%s", dir);
		return 1;
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	if (json) {
		json_init(&j, stdout);
		json_arr_begin(&j, NULL);
	} else {
		printf("%-20s %-20s %10s %-7s %s\n", "TAG", "DATE", "SIZE", "RAM",
		    "PARENT");
	}
	infos = calloc((size_t)n + 1, sizeof(*infos));
	order = calloc((size_t)n + 1, sizeof(*order));
	depth = calloc((size_t)n + 1, sizeof(*depth));
	if (infos == NULL || order == NULL || depth == NULL) {
		log_warnx("out of memory");
		n = 0;
		bad = 1;
	}
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		/* the tag is the file's name; the disks' snapshots carry
		 * the name it was saved under (in.tag) */
		snprintf(infos[i].tag, sizeof(infos[i].tag), "%.*s",
		    (int)(strlen(names[i]) - 5), names[i]);
		if (vm_snapshot_info(path, &infos[i].in, &err) < 0) {
			size_t pl = strlen(path);

			/* the reason without the path the line names */
			snprintf(infos[i].why, sizeof(infos[i].why), "%s",
			    strncmp(err.msg, path, pl) == 0 &&
			    strncmp(err.msg + pl, ": ", 2) == 0 ?
			    err.msg + pl + 2 : err.msg);
			infos[i].bad = true;
			nbad++;
		}
		/* the room it takes (zero pages of mapped RAM are holes) */
		if (stat(path, &st) == 0)
			infos[i].in.size = (uint64_t)st.st_blocks * 512;
	}
	/* every file there damaged: nothing could be listed */
	if (n > 0 && nbad == n)
		bad = 1;
	/* The tree: each snapshot under its parent (a parent that is not
	 * here makes a root), children in name order, depth first. */
	norder = 0;
	for (i = 0; i < n; i++)
		if (!infos[i].bad && snap_index(infos, n,
		    infos[i].in.parent) < 0)
			norder = tree_walk(infos, n, i, 0, order, depth, norder);
	/* parents in a cycle: listed as roots, unindented; then the
	 * damaged files, in name order */
	for (i = 0; i < n; i++) {
		int k;

		for (k = 0; k < norder && order[k] != i; k++)
			;
		if (!infos[i].bad && k == norder) {
			order[norder] = i;
			depth[norder++] = 0;
		}
	}
	for (i = 0; i < n; i++)
		if (infos[i].bad) {
			order[norder] = i;
			depth[norder++] = 0;
		}
	for (int k = 0; k < norder; k++) {
		struct vm_snap_info in = infos[order[k]].in;
		const char *tg = infos[order[k]].tag;
		struct tm tm;
		time_t t;

		i = order[k];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (infos[i].bad) {
			list_damaged(json ? &j : NULL, &infos[i], path);
			continue;
		}
		t = (time_t)in.time;
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (json) {
			json_obj_begin(&j, NULL);
			json_str(&j, "tag", tg);
			json_str(&j, "disk-tag", in.tag);
			json_u64(&j, "time", in.time);
			json_u64(&j, "size", in.size);
			json_bool(&j, "ram", in.ram);
			json_str(&j, "ram-format", !in.ram ? "none" :
			    in.fast_restore ? "mapped" : "zstd");
			json_u64(&j, "ram-pages", in.ram_pages);
			json_u64(&j, "guest-tsc", in.guest_tsc);
			json_u64(&j, "memory", in.memory);
			json_int(&j, "cpus", in.ncpus);
			json_int(&j, "disks", in.ndisks);
			json_str(&j, "parent", in.parent);
			json_int(&j, "depth", depth[k]);
			json_str(&j, "backend", in.backend);
			json_str(&j, "file", path);
			json_bool(&j, "damaged", false);
			json_obj_end(&j);
		} else {
			snprintf(tag, sizeof(tag), "%*s%.200s",
			    depth[k] > 20 ? 40 : 2 * depth[k], "", tg);
			printf("%-20s %-20s %10s %-7s %s\n", tag, when,
			    size_format(in.size, sz, sizeof(sz)),
			    !in.ram ? "none" : in.fast_restore ? "mapped" :
			    "zstd", in.parent[0] ? in.parent : "-");
		}
	}
	free(infos);
	free(order);
	free(depth);
	if (json) {
		json_arr_end(&j);
		json_finish(&j);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return bad;
}

/* The snapshot file, then each disk's internal snapshot of the tag. */
static int
cmd_delete(const char *vm, const char *tag)
{
	static struct vm_config cfg;
	struct vm_err err = { 0 };
	struct vm_snap_info in;
	char path[PATH_MAX];
	int i, bad = 0;

	if (snap_path(vm, tag, path, sizeof(path), &err) < 0 ||
	    vm_snapshot_info(path, &in, &err) < 0 ||
	    vm_snapshot_config(path, &cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	for (i = 0; i < cfg.ndisks; i++) {
		struct blk *b;

		if (cfg.disks[i].readonly)
			continue;
		/* an overlay's base (read-only) stays: overlays read it */
		b = blk_open(cfg.disks[i].file, cfg.disks[i].format[0] ?
		    cfg.disks[i].format : NULL, BLK_F_RDONLY, &err);
		if (b != NULL && vm_disk_external(b)) {
			blk_close(b);
			continue;
		}
		if (b != NULL) {
			blk_close(b);
			b = blk_open(cfg.disks[i].file,
			    cfg.disks[i].format[0] ? cfg.disks[i].format : NULL,
			    0, &err);
		}
		if (b == NULL) {
			log_warnx("%s", err.msg);
			bad = 1;
			continue;
		}
		if (b->drv->snapshot_delete != NULL &&
		    blk_snapshot_delete(b, in.tag, &err) < 0 &&
		    err.code != -ENOENT) {
			log_warnx("%s", err.msg);
			bad = 1;
		}
		blk_close(b);
	}
	if (unlink(path) < 0) {
		log_warn("%s", path);
		return 1;
	}
	return bad;
}

static void running_name(const char *vm, char *name, size_t len);

/* Whether VM's control socket answers. */
static bool
vm_running(const char *vm)
{
	struct vm_err err = { 0 };
	char name[PATH_MAX];
	int fd;

	running_name(vm, name, sizeof(name));
	fd = ctl_client_connect(name, &err);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A stopped VM's writable disks back at snapshot tag: internal
 * snapshots applied, an overlay's base given a new overlay (the bundle's
 * vm.yaml then names it).  Every disk is checked before any is touched. */
static int
cmd_revert(const char *vm, const char *tag)
{
	static struct vm_config cfg;
	struct vm_err err = { 0 };
	struct vm_snap_info in;
	char path[PATH_MAX], yaml[PATH_MAX + 16], made[4096];

	if (snap_path(vm, tag, path, sizeof(path), &err) < 0 ||
	    vm_snapshot_info(path, &in, &err) < 0 ||
	    vm_snapshot_config(path, &cfg, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	if (vm_running(vm)) {
		log_warnx("%s: the VM is running: stop it before a revert "
		    "(or vm-snap restore it)", vm);
		return 1;
	}
	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", vm);
	if (vm_snapshot_revert_disks(path, &cfg, in.tag, access(yaml, F_OK) == 0 ?
	    yaml : NULL, made, sizeof(made), &err) < 0) {
		log_warnx("%s (nothing reverted)", err.msg);
		return 1;
	}
	fputs(made, stdout);
	return 0;
}

/* vm-run --restore PATH [options], from the folder vm-snap is in. */
/* mkdir -p for the snapshot folder (its parents are the user's). */
static int
make_dirs(const char *dir)
{
	char p[PATH_MAX];
	size_t k;

	snprintf(p, sizeof(p), "%s", dir);
	for (k = 1; p[k] != '\0'; k++) {
		if (p[k] != '/')
			continue;
		p[k] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		p[k] = '/';
	}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* The name a running VM of bundle or name vm has (vm-run's rule: the
 * configuration's name, else the bundle directory's). */
static void
running_name(const char *vm, char *name, size_t len)
{
	static struct vm_config cfg;
	struct vm_err err = { 0 };
	char yaml[PATH_MAX], base[PATH_MAX], *slash;

	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", vm);
	snprintf(base, sizeof(base), "%s", vm);
	while (strlen(base) > 1 && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	slash = strrchr(base, '/');
	snprintf(name, len, "%s", slash != NULL ? slash + 1 : base);
	cfg_defaults(&cfg);
	if (access(yaml, F_OK) == 0 && cfg_load(&cfg, yaml, &err) == 0 &&
	    cfg.name_given)
		snprintf(name, len, "%s", cfg.name);
}

static bool
is_bundle(const char *vm)
{
	char yaml[PATH_MAX];

	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", vm);
	return access(yaml, F_OK) == 0;
}

/* save VM TAG of a stopped bundle: its disks only. */
static int
save_disks(const char *vm, const char *dir, const char *tag, bool fast)
{
	static struct vm_config cfg;
	struct vm_err err = { 0 };
	char yaml[PATH_MAX], abs[PATH_MAX], path[PATH_MAX + 64];
	bool existed;
	int ret;

	if (fast) {
		log_warnx("%s: not running: --fast-restore is for a running "
		    "VM's RAM", vm);
		return 2;
	}
	snprintf(yaml, sizeof(yaml), "%s/vm.yaml", vm);
	cfg_defaults(&cfg);
	if (cfg_load(&cfg, yaml, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	existed = access(dir, F_OK) == 0;
	ret = make_dirs(dir);
	if (ret < 0 || realpath(dir, abs) == NULL) {
		log_warnx("%s: %s", dir, strerror(ret < 0 ? -ret : errno));
		return 1;
	}
	/* absolute, as a running VM's save prints it */
	snprintf(path, sizeof(path), "%s/%s.snap", abs, tag);
	if (access(path, F_OK) == 0) {
		log_warnx("%s: snapshot '%s' exists (%s): delete it first", vm,
		    tag, path);
		return 1;
	}
	if (vm_snapshot_save_disks(&cfg, yaml, path, tag, &err) < 0) {
		log_warnx("%s: not running, a disks-only snapshot: %s", vm,
		    err.msg);
		if (!existed)
			(void)rmdir(abs);       /* the folder made for it */
		return 1;
	}
	printf("%s\n", path);
	return 0;
}

/* Send request (a JSON object line) on fd, closed after; 0 if the reply
 * says ok, else 1 with the reason logged. */
static int
ctl_request(int fd, const char *vm, const char *req)
{
	static char reply[65536];
	static struct jsonr rj;
	struct vm_err err = { 0 };
	bool ok = false;
	int ret, t;

	ret = ctl_client_call(fd, req, reply, sizeof(reply), -1, &err);
	close(fd);
	if (ret < 0) {
		log_warnx("%s: %s", vm, err.msg);
		return 1;
	}
	if (jsonr_parse(&rj, reply, strlen(reply)) < 0 ||
	    rj.tok[0].type != JSONR_OBJ) {
		log_warnx("%s: a reply that is not a JSON object", vm);
		return 1;
	}
	t = jsonr_find(&rj, 0, "ok");
	if (t < 0 || jsonr_bool(&rj, t, &ok) < 0 || !ok) {
		t = jsonr_find(&rj, 0, "error");
		if (t < 0 || jsonr_str(&rj, t, reply, sizeof(reply)) < 0)
			snprintf(reply, sizeof(reply), "failed");
		log_warnx("%s: %s", vm, reply);
		return 1;
	}
	return 0;
}

/* save VM TAG: through the running VM's control socket. */
static int
cmd_save(const char *vm, const char *tag, bool fast)
{
	struct vm_err err = { 0 };
	char dir[PATH_MAX], abs[PATH_MAX], path[PATH_MAX + 64], name[PATH_MAX];
	char req[2 * PATH_MAX + 128];
	FILE *f;
	int fd, ret;

	if (tag[0] == '\0' || strchr(tag, '/') != NULL || tag[0] == '.' ||
	    strlen(tag) >= VM_SNAP_TAG_MAX) {
		log_warnx("'%s' is not a snapshot tag", tag);
		return 2;
	}
	if (snap_dir(vm, dir, sizeof(dir), &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	running_name(vm, name, sizeof(name));
	fd = ctl_client_connect(name, &err);
	if (fd < 0 && is_bundle(vm))
		return save_disks(vm, dir, tag, fast);
	if (fd < 0) {
		log_warnx("%s: %s (is it running? vm-run --list)", vm, err.msg);
		return 1;
	}
	ret = make_dirs(dir);
	if (ret < 0 || realpath(dir, abs) == NULL) {
		log_warnx("%s: %s", dir, strerror(ret < 0 ? -ret : errno));
		close(fd);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s.snap", abs, tag);
	if (access(path, F_OK) == 0) {
		log_warnx("%s: snapshot '%s' exists (%s): delete it first", vm,
		    tag, path);
		close(fd);
		return 1;
	}
	f = fmemopen(req, sizeof(req), "w");
	if (f == NULL) {
		close(fd);
		return 1;
	}
	{
		struct json j;

		json_init_compact(&j, f);
		json_obj_begin(&j, NULL);
		json_str(&j, "cmd", "snapshot-save");
		json_str(&j, "file", path);
		json_str(&j, "tag", tag);
		json_bool(&j, "fast-restore", fast);
		json_obj_end(&j);
	}
	fputc('\0', f);
	fclose(f);
	if (ctl_request(fd, vm, req) != 0)
		return 1;
	printf("%s\n", path);
	return 0;
}

/* One request on a new connection to the running VM; the reply in rj. */
static int
ctl_ask(const char *name, const char *req, struct jsonr *rj, char *reply,
    size_t len, struct vm_err *err)
{
	int fd = ctl_client_connect(name, err), ret;

	if (fd < 0)
		return fd;
	ret = ctl_client_call(fd, req, reply, len, -1, err);
	close(fd);
	if (ret == 0 && (jsonr_parse(rj, reply, strlen(reply)) < 0 ||
	    rj->tok[0].type != JSONR_OBJ))
		ret = vm_err_set(err, -EPROTO, "a reply that is not a JSON "
		    "object");
	return ret;
}

/* send --live VM TAG: the running VM writes the stream into our stdout
 * (opened by its /proc path), pre-copying RAM; we wait for the result,
 * then stop the source, which stays paused once its copy is sent. */
static int
send_live(const char *vm, const char *tag, const char *name)
{
	static char reply[65536], state[64];
	static struct jsonr rj;
	struct vm_err err = { 0 };
	char dir[PATH_MAX], abs[PATH_MAX], babs[PATH_MAX], file[PATH_MAX + 80];
	char stream[64], req[4 * PATH_MAX + 256];
	uint64_t rounds = 0, pages = 0, down = 0, at = 0, before = 0, paused = 0;
	struct json j;
	FILE *f;
	int t, ret;

	if (snap_dir(vm, dir, sizeof(dir), &err) < 0 ||
	    realpath(vm, babs) == NULL) {
		log_warnx("%s", err.msg[0] ? err.msg : strerror(errno));
		return 1;
	}
	ret = make_dirs(dir);
	if (ret < 0 || realpath(dir, abs) == NULL) {
		log_warnx("%s: %s", dir, strerror(ret < 0 ? -ret : errno));
		return 1;
	}
	snprintf(file, sizeof(file), "%s/.%s.live", abs, tag);
	snprintf(stream, sizeof(stream), "/proc/%d/fd/%d", (int)getpid(),
	    STDOUT_FILENO);
	f = fmemopen(req, sizeof(req), "w");
	if (f == NULL)
		return 1;
	json_init_compact(&j, f);
	json_obj_begin(&j, NULL);
	json_str(&j, "cmd", "migrate");
	json_str(&j, "stream", stream);
	json_str(&j, "bundle", babs);
	json_str(&j, "tag", tag);
	json_str(&j, "file", file);
	json_obj_end(&j);
	fputc('\0', f);
	fclose(f);
	if (ctl_request(ctl_client_connect(name, &err), vm, req) != 0)
		return 1;
	for (;;) {
		bool ok = false;

		if (ctl_ask(name, "{\"cmd\":\"migrate-status\"}", &rj, reply,
		    sizeof(reply), &err) < 0) {
			/* the migrate was accepted: its vm-run is gone (killed,
			 * crashed) or no longer answers */
			log_warnx("%s: the live send failed: the VM's vm-run "
			    "went away during the send (its control socket: "
			    "%s); the stream on stdout is incomplete, and the "
			    "VM is not running", vm, err.msg);
			return 1;
		}
		t = jsonr_find(&rj, 0, "ok");
		if (t < 0 || jsonr_bool(&rj, t, &ok) < 0 || !ok ||
		    (t = jsonr_find(&rj, 0, "state")) < 0 ||
		    jsonr_str(&rj, t, state, sizeof(state)) < 0) {
			log_warnx("%s: migrate-status failed", vm);
			return 1;
		}
		if (strcmp(state, "active") != 0)
			break;
		usleep(10000);
	}
	if (strcmp(state, "done") != 0) {
		t = jsonr_find(&rj, 0, "error");
		if (t < 0 || jsonr_str(&rj, t, reply, sizeof(reply)) < 0)
			snprintf(reply, sizeof(reply), "%s", state);
		log_warnx("%s: the live send failed, the VM runs on: %s", vm,
		    reply);
		return 1;
	}
	if ((t = jsonr_find(&rj, 0, "rounds")) >= 0)
		jsonr_u64(&rj, t, &rounds);
	if ((t = jsonr_find(&rj, 0, "pages")) >= 0)
		jsonr_u64(&rj, t, &pages);
	if ((t = jsonr_find(&rj, 0, "downtime-us")) >= 0)
		jsonr_u64(&rj, t, &down);
	if ((t = jsonr_find(&rj, 0, "paused-at-us")) >= 0)
		jsonr_u64(&rj, t, &at);
	if ((t = jsonr_find(&rj, 0, "disk-bytes-before")) >= 0)
		jsonr_u64(&rj, t, &before);
	if ((t = jsonr_find(&rj, 0, "disk-bytes-paused")) >= 0)
		jsonr_u64(&rj, t, &paused);
	log_warnx("%s: sent live: %llu pages, %llu rounds after the first, "
	    "paused %llu.%03llu ms for the last (from %llu.%06llu); disks: "
	    "%llu bytes before the pause, %llu in it", vm,
	    (unsigned long long)pages, (unsigned long long)rounds,
	    (unsigned long long)(down / 1000),
	    (unsigned long long)(down % 1000),
	    (unsigned long long)(at / 1000000),
	    (unsigned long long)(at % 1000000),
	    (unsigned long long)before, (unsigned long long)paused);
	/* the copy is out: the source stops (it stays paused till then) */
	if (ctl_ask(name, "{\"cmd\":\"stop\"}", &rj, reply, sizeof(reply),
	    &err) < 0)
		log_warnx("%s: could not stop the source: %s", vm, err.msg);
	return 0;
}

/* send VM TAG: a stopped bundle as a stream on stdout. */
static int
cmd_send(const char *vm, const char *tag, const char *base, bool live)
{
	struct vm_err err = { 0 };
	char path[PATH_MAX], bpath[PATH_MAX];

	if (!is_bundle(vm)) {
		log_warnx("%s: not a bundle (no vm.yaml): send takes a VM's "
		    "folder", vm);
		return 1;
	}
	if (live) {
		char name[PATH_MAX];

		if (base != NULL) {
			log_warnx("--live sends the whole VM: no --base");
			return 2;
		}
		if (tag[0] == '\0' || strchr(tag, '/') != NULL ||
		    tag[0] == '.' || strlen(tag) >= VM_SNAP_TAG_MAX) {
			log_warnx("'%s' is not a snapshot tag", tag);
			return 2;
		}
		if (isatty(STDOUT_FILENO)) {
			log_warnx("stdout is a terminal: send it into a pipe "
			    "(vm-snap send --live VM TAG | vm-snap receive "
			    "DIR)");
			return 2;
		}
		running_name(vm, name, sizeof(name));
		if (!vm_running(vm)) {
			log_warnx("%s: not running: --live sends a running VM "
			    "(send a stopped one's snapshot without it)", vm);
			return 1;
		}
		return send_live(vm, tag, name);
	}
	if (snap_path(vm, tag, path, sizeof(path), &err) < 0 ||
	    (base != NULL &&
	    snap_path(vm, base, bpath, sizeof(bpath), &err) < 0)) {
		log_warnx("%s", err.msg);
		return 1;
	}
	if (base != NULL && strcmp(base, tag) == 0) {
		log_warnx("--base %s: the base is the snapshot sent", base);
		return 2;
	}
	if (vm_running(vm)) {
		log_warnx("%s: the VM is running: stop it before a send (its "
		    "disks would change under the copy)", vm);
		return 1;
	}
	if (isatty(STDOUT_FILENO)) {
		log_warnx("stdout is a terminal: send it into a pipe or a file "
		    "(vm-snap send VM TAG | vm-snap receive DIR)");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (vm_send(vm, path, tag, base, base != NULL ? bpath : NULL,
	    STDOUT_FILENO, &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	return 0;
}

/* receive [DIR]: the bundle from the stream on stdin. */
static int
cmd_receive(const char *dir)
{
	struct vm_err err = { 0 };
	char made[PATH_MAX];

	if (isatty(STDIN_FILENO)) {
		log_warnx("stdin is a terminal: give the stream vm-snap send "
		    "wrote (vm-snap send VM TAG | vm-snap receive DIR)");
		return 2;
	}
	if (vm_receive(STDIN_FILENO, dir, made, sizeof(made), &err) < 0) {
		log_warnx("%s (nothing made)", err.msg);
		return 1;
	}
	printf("%s\n", made);
	return 0;
}

/* restore VM TAG into the running VM: snapshot-load on its socket. */
static int
restore_running(int fd, const char *vm, const char *path, int argc)
{
	char abs[PATH_MAX], req[2 * PATH_MAX + 64];
	struct json j;
	FILE *f;

	if (argc > 0) {
		close(fd);
		log_warnx("%s: the VM is running: the snapshot is loaded into "
		    "it, vm-run options do not apply (stop it first to "
		    "restore with them)", vm);
		return 2;
	}
	if (realpath(path, abs) == NULL) {
		log_warn("%s", path);
		close(fd);
		return 1;
	}
	f = fmemopen(req, sizeof(req), "w");
	if (f == NULL) {
		close(fd);
		return 1;
	}
	json_init_compact(&j, f);
	json_obj_begin(&j, NULL);
	json_str(&j, "cmd", "snapshot-load");
	json_str(&j, "file", abs);
	json_obj_end(&j);
	fputc('\0', f);
	fclose(f);
	return ctl_request(fd, vm, req);
}

static int
cmd_restore(const char *self, const char *vm, const char *tag, int argc,
    char **argv)
{
	struct vm_err err = { 0 };
	char path[PATH_MAX], run[PATH_MAX + 16], exe[PATH_MAX];
	char name[PATH_MAX];
	char **av;
	ssize_t n;
	int i, fd;

	(void)self;
	if (snap_path(vm, tag, path, sizeof(path), &err) < 0) {
		log_warnx("%s", err.msg);
		return 1;
	}
	running_name(vm, name, sizeof(name));
	fd = ctl_client_connect(name, &err);
	if (fd >= 0)
		return restore_running(fd, vm, path, argc);
	snprintf(run, sizeof(run), "vm-run");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(run, sizeof(run), "%s/vm-run", exe);
			if (access(run, X_OK) < 0)
				snprintf(run, sizeof(run), "vm-run");
		}
	}
	av = calloc((size_t)argc + 6, sizeof(*av));
	if (av == NULL)
		return 1;
	av[0] = run;
	av[1] = (char *)"--restore";
	av[2] = path;
	/* the restored VM answers to the name it is restored by (vm-snap
	 * save VM TAG then finds it), unless the options name it */
	for (i = 0; i < argc && strcmp(argv[i], "--name") != 0 &&
	    strncmp(argv[i], "--name=", 7) != 0; i++)
		;
	n = 3;
	if (i == argc) {
		av[n++] = (char *)"--name";
		av[n++] = name;
	}
	for (i = 0; i < argc; i++)
		av[n + i] = argv[i];
	execvp(run, av);
	log_warn("%s", run);
	free(av);
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "fast-restore", no_argument, NULL, 'f' },
		{ "base", required_argument, NULL, 'b' },
		{ "live", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd, *base = NULL;
	bool json = false, fast = false, live = false;
	int ch;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vm-snap %s\n", VMKIT_VERSION);
			return 0;
		case 'j':
			json = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "restore") == 0) {
		if (argc - optind < 2) {
			usage(stderr);
			return 2;
		}
		return cmd_restore(argv[0], argv[optind], argv[optind + 1],
		    argc - optind - 2, argv + optind + 2);
	}
	/* list/delete/save: options may follow the operands; parse the
	 * command's own argv (cmd as its argv[0]) from the start */
	argv += optind - 1;
	argc -= optind - 1;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		if (ch == 'f' && strcmp(cmd, "save") == 0) {
			fast = true;
			continue;
		}
		if (ch == 'b' && strcmp(cmd, "send") == 0) {
			base = optarg;
			continue;
		}
		if (ch == 'l' && strcmp(cmd, "send") == 0) {
			live = true;
			continue;
		}
		if (ch != 'j') {
			usage(stderr);
			return 2;
		}
		json = true;
	}
	if (strcmp(cmd, "list") == 0 && argc - optind == 1)
		return cmd_list(argv[optind], json);
	if (strcmp(cmd, "delete") == 0 && argc - optind == 2)
		return cmd_delete(argv[optind], argv[optind + 1]);
	if (strcmp(cmd, "save") == 0 && argc - optind == 2)
		return cmd_save(argv[optind], argv[optind + 1], fast);
	if (strcmp(cmd, "revert") == 0 && argc - optind == 2)
		return cmd_revert(argv[optind], argv[optind + 1]);
	if (strcmp(cmd, "send") == 0 && argc - optind == 2)
		return cmd_send(argv[optind], argv[optind + 1], base, live);
	if (strcmp(cmd, "receive") == 0 && argc - optind <= 1)
		return cmd_receive(argc - optind == 1 ? argv[optind] : NULL);
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "delete") != 0 &&
	    strcmp(cmd, "save") != 0 && strcmp(cmd, "revert") != 0 &&
	    strcmp(cmd, "send") != 0 && strcmp(cmd, "receive") != 0)
		log_warnx("unknown command '%s'", cmd);
	usage(stderr);
	return 2;
}
