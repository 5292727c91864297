/*
 * VMware .vmx reader.  A .vmx is lines of `key = "value"`, '#' comments,
 * keys case-insensitive, values double-quoted with '|' followed by two
 * hex digits standing for a byte ("|22" is a quote); a key given twice
 * means its last value.  The file is read whole (at most 4 MiB, text,
 * every line checked) and the keys this reader knows are mapped: memsize
 * (MiB), numvcpus, guestOS (the OS class), displayName, firmware
 * (efi/bios), the ide/sata/scsi/nvme units (present, fileName,
 * deviceType) and ethernetN (present, connectionType, virtualDev,
 * address/generatedAddress).  Every other key is listed on stderr with
 * its line, so nothing is dropped silently.  Disk paths are relative to
 * the .vmx's folder and must exist.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/err.h"
#include "util/log.h"

#include "create.h"

#define VMX_MAX_FILE (4u << 20)
#define VMX_MAX_KEYS 8192
#define VMX_MAX_UNITS 64

struct kv {
	char key[128];          /* lower case */
	char orig[128];         /* as written, for messages */
	char *val;
	int line;
	bool used;
};

struct vmx {
	const char *path;
	char dir[PATH_MAX];
	struct kv *kv;
	int n;
	struct vm_err *err;
};

/* One storage unit, "ide1:0": the order disks are attached in. */
struct unit {
	int bus, ctl, unit;     /* bus: index in bus_names */
};

static const char *const bus_names[] = { "ide", "sata", "scsi", "nvme" };

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The value after '=' in s (trimmed), decoded in place into out. */
static int
parse_value(struct vmx *x, int line, char *s, char **out)
{
	char *w, *r;
	int hi, lo;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '"') {
		/* Unquoted: VMware writes none, hand-edited files may. */
		r = strchr(s, '#');
		if (r)
			*r = '\0';
		for (r = s + strlen(s); r > s && isspace((unsigned char)r[-1]);)
			*--r = '\0';
		*out = s;
		return 0;
	}
	w = r = ++s;
	for (; *r && *r != '"'; r++) {
		if (*r == '|' && (hi = hexval(r[1])) >= 0 &&
		    (lo = hexval(r[2])) >= 0 && (hi || lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	if (*r != '"')
		return vm_err_set(x->err, -EINVAL, "%s:%d: the value has no "
		    "closing '\"'", x->path, line);
	for (r++; *r == ' ' || *r == '\t'; r++)
		;
	if (*r && *r != '#')
		return vm_err_set(x->err, -EINVAL, "%s:%d: text after the "
		    "quoted value", x->path, line);
	*w = '\0';
	*out = s;
	return 0;
}

static int
parse_line(struct vmx *x, int line, char *s)
{
	char *eq, *k, *e, *val = NULL;
	struct kv *kv;
	size_t i;
	int ret;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (eq == NULL)
		return vm_err_set(x->err, -EINVAL, "%s:%d: expected "
		    "key = \"value\"", x->path, line);
	for (e = eq; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	k = s;
	if (*k == '\0' || strlen(k) >= sizeof(kv->key) ||
	    strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._:-[]") != strlen(k))
		return vm_err_set(x->err, -EINVAL, "%s:%d: '%.40s' is not a "
		    "key", x->path, line, k);
	ret = parse_value(x, line, eq + 1, &val);
	if (ret < 0)
		return ret;
	if (x->n == VMX_MAX_KEYS)
		return vm_err_set(x->err, -EINVAL, "%s: more than %d keys",
		    x->path, VMX_MAX_KEYS);
	kv = &x->kv[x->n++];
	memset(kv, 0, sizeof(*kv));
	strcpy(kv->orig, k);
	for (i = 0; k[i]; i++)
		kv->key[i] = (char)tolower((unsigned char)k[i]);
	kv->val = val;
	kv->line = line;
	return 0;
}

static int
read_whole(struct vmx *x, char **bufp, size_t *lenp)
{
	struct stat sb;
	char *buf;
	size_t n;
	FILE *f;

	f = fopen(x->path, "r");
	if (f == NULL)
		return vm_err_errno(x->err, -errno, "%s", x->path);
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return vm_err_set(x->err, -EINVAL, "%s: not a regular file",
		    x->path);
	}
	buf = malloc(VMX_MAX_FILE + 1);
	if (buf == NULL) {
		fclose(f);
		return vm_err_set(x->err, -ENOMEM, "out of memory");
	}
	n = fread(buf, 1, VMX_MAX_FILE + 1, f);
	fclose(f);
	if (n > VMX_MAX_FILE) {
		free(buf);
		return vm_err_set(x->err, -EINVAL, "%s: too large for a .vmx "
		    "(at most 4 MiB)", x->path);
	}
	if (memchr(buf, '\0', n) != NULL) {
		free(buf);
		return vm_err_set(x->err, -EINVAL, "%s: not a text file (NUL "
		    "byte)", x->path);
	}
	buf[n] = '\0';
	*bufp = buf;
	*lenp = n;
	return 0;
}

static int
parse_file(struct vmx *x, char *buf)
{
	char *s = buf, *nl;
	int line = 0, ret = 0;

	while (ret == 0 && *s) {
		line++;
		nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		if (nl > s && nl[-1] == '\r')
			nl[-1] = '\0';
		ret = parse_line(x, line, s);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return ret;
}

/* The last value of key (lower case), marking every copy used. */
static struct kv *
get(struct vmx *x, const char *key)
{
	struct kv *last = NULL;
	int i;

	for (i = 0; i < x->n; i++)
		if (strcmp(x->kv[i].key, key) == 0) {
			x->kv[i].used = true;
			last = &x->kv[i];
		}
	return last;
}

static bool
get_true(struct vmx *x, const char *key)
{
	struct kv *kv = get(x, key);

	return kv && strcasecmp(kv->val, "true") == 0;
}

static int
get_num(struct vmx *x, const char *key, long min, long max, long *out)
{
	struct kv *kv = get(x, key);
	char *end;
	long v;

	if (kv == NULL)
		return 0;
	errno = 0;
	v = strtol(kv->val, &end, 10);
	if (*kv->val == '\0' || *end || errno || v < min || v > max)
		return vm_err_set(x->err, -EINVAL, "%s:%d: %s: '%.40s' is not "
		    "a number from %ld to %ld", x->path, kv->line, kv->orig,
		    kv->val, min, max);
	*out = v;
	return 1;
}

static enum create_os
os_class(const char *g)
{
	static const char *const linuxes[] = { "linux", "ubuntu", "debian",
		"rhel", "centos", "fedora", "suse", "sles", "mandr", "asianux",
		"turbolinux", "redhat", "almalinux", "rocky", "amazonlinux",
		"vmware-photon", "coreos", NULL };
	int i;

	if (strncasecmp(g, "win", 3) == 0 || strncasecmp(g, "longhorn", 8) == 0)
		return OS_WINDOWS;
	for (i = 0; linuxes[i]; i++)
		if (strcasestr(g, linuxes[i]) != NULL)
			return OS_LINUX;
	return OS_OTHER;
}

static int
read_basics(struct vmx *x, struct vmx_vm *vm)
{
	struct kv *kv;
	long v;
	int ret;

	get(x, ".encoding");
	get(x, "config.version");
	ret = get_num(x, "memsize", 16, 16L << 20, &v);
	if (ret < 0)
		return ret;
	if (ret > 0)
		vm->memory = (uint64_t)v << 20;
	ret = get_num(x, "numvcpus", 1, 64, &v);
	if (ret < 0)
		return ret;
	if (ret > 0)
		vm->cpus = (int)v;
	if ((kv = get(x, "displayname")) != NULL)
		snprintf(vm->display_name, sizeof(vm->display_name), "%s",
		    kv->val);
	if ((kv = get(x, "guestos")) != NULL) {
		vm->have_os = true;
		vm->os = os_class(kv->val);
	}
	if ((kv = get(x, "firmware")) != NULL) {
		if (strcasecmp(kv->val, "efi") == 0)
			strcpy(vm->firmware, "uefi");
		else if (strcasecmp(kv->val, "bios") == 0)
			strcpy(vm->firmware, "bios");
		else
			return vm_err_set(x->err, -EINVAL, "%s:%d: firmware: "
			    "'%.40s' is neither efi nor bios", x->path,
			    kv->line, kv->val);
	}
	return 0;
}

static int
unit_cmp(const void *a, const void *b)
{
	const struct unit *u = a, *v = b;

	if (u->bus != v->bus)
		return u->bus - v->bus;
	if (u->ctl != v->ctl)
		return u->ctl - v->ctl;
	return u->unit - v->unit;
}

/* "ide1:0.present" -> bus 0, ctl 1, unit 0. */
static bool
unit_of(const char *key, struct unit *u)
{
	size_t i, n;
	int used = 0;

	for (i = 0; i < ARRAY_SIZE(bus_names); i++) {
		n = strlen(bus_names[i]);
		if (strncmp(key, bus_names[i], n) == 0 &&
		    sscanf(key + n, "%2d:%2d.%n", &u->ctl, &u->unit,
		    &used) == 2 && used > 0 && u->ctl >= 0 && u->unit >= 0) {
			u->bus = (int)i;
			return true;
		}
	}
	return false;
}

/* The units named in the file, each once, in bus order. */
static int
list_units(struct vmx *x, struct unit *units)
{
	struct unit u;
	int i, j, n = 0;

	for (i = 0; i < x->n; i++) {
		if (!unit_of(x->kv[i].key, &u))
			continue;
		for (j = 0; j < n; j++)
			if (unit_cmp(&units[j], &u) == 0)
				break;
		if (j == n && n < VMX_MAX_UNITS)
			units[n++] = u;
	}
	qsort(units, (size_t)n, sizeof(*units), unit_cmp);
	return n;
}

static int
disk_path(struct vmx *x, const struct kv *kv, char *dst)
{
	char joined[PATH_MAX * 2], buf[PATH_MAX];

	if (kv->val[0] == '\0')
		return vm_err_set(x->err, -EINVAL, "%s:%d: %s: empty file "
		    "name", x->path, kv->line, kv->orig);
	if (kv->val[0] == '/')
		snprintf(joined, sizeof(joined), "%s", kv->val);
	else
		snprintf(joined, sizeof(joined), "%s/%s", x->dir, kv->val);
	if (realpath(joined, buf) == NULL)
		return vm_err_errno(x->err, -errno, "%s:%d: %s: %s", x->path,
		    kv->line, kv->orig, kv->val);
	if (strlen(buf) >= CFG_PATH_MAX)
		return vm_err_set(x->err, -ENAMETOOLONG, "%s:%d: %s: name too "
		    "long", x->path, kv->line, kv->orig);
	strcpy(dst, buf);
	return 0;
}

static int
read_unit(struct vmx *x, const struct unit *u, struct vmx_vm *vm)
{
	static const char *const quiet[] = { "startconnected", "autodetect",
		"clientdevice", "mode", NULL };
	char p[32], k[64];
	struct kv *file, *type;
	bool cdrom;
	int i;

	snprintf(p, sizeof(p), "%s%d:%d", bus_names[u->bus], u->ctl, u->unit);
	for (i = 0; quiet[i]; i++) {
		snprintf(k, sizeof(k), "%s.%s", p, quiet[i]);
		get(x, k);
	}
	snprintf(k, sizeof(k), "%s.present", p);
	if (!get_true(x, k))
		return 0;
	snprintf(k, sizeof(k), "%s.filename", p);
	file = get(x, k);
	snprintf(k, sizeof(k), "%s.devicetype", p);
	type = get(x, k);
	cdrom = type && strncasecmp(type->val, "cdrom", 5) == 0;
	if (type && (strcasecmp(type->val, "atapi-cdrom") == 0 ||
	    strcasecmp(type->val, "cdrom-raw") == 0)) {
		log_warnx("%s:%d: %s: a host CD-ROM drive, left out",
		    x->path, type->line, p);
		return 0;
	}
	if (file == NULL) {
		log_warnx("%s: %s: present but no fileName, left out",
		    x->path, p);
		return 0;
	}
	if (vm->ndisks == CFG_MAX_DISKS)
		return vm_err_set(x->err, -EINVAL, "%s:%d: %s: more than %d "
		    "disks and CD-ROMs", x->path, file->line, p, CFG_MAX_DISKS);
	if (cdrom && disk_path(x, file, vm->disks[vm->ndisks].file) < 0) {
		log_warnx("%s: CD-ROM image left out", x->err->msg);
		return 0;
	}
	if (!cdrom && disk_path(x, file, vm->disks[vm->ndisks].file) < 0)
		return x->err->code;
	vm->disks[vm->ndisks].cdrom = cdrom;
	snprintf(vm->disks[vm->ndisks].bus, sizeof(vm->disks[0].bus), "%s",
	    bus_names[u->bus]);
	vm->ndisks++;
	return 0;
}

static int
read_storage(struct vmx *x, struct vmx_vm *vm)
{
	struct unit units[VMX_MAX_UNITS];
	char k[64];
	int i, c, n, ret;

	/* The controllers themselves: nothing to map, but understood. */
	for (i = 0; i < (int)ARRAY_SIZE(bus_names); i++)
		for (c = 0; c < 4; c++) {
			snprintf(k, sizeof(k), "%s%d.present", bus_names[i], c);
			get(x, k);
			snprintf(k, sizeof(k), "%s%d.virtualdev", bus_names[i],
			    c);
			get(x, k);
		}
	n = list_units(x, units);
	for (i = 0; i < n; i++) {
		ret = read_unit(x, &units[i], vm);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A vnet name ("vmnet2", "/dev/vmnet2") as a switch name. */
static void
switch_name(const char *vnet, char *dst, size_t len)
{
	const char *b = strrchr(vnet, '/');
	size_t i, o = 0;

	b = b ? b + 1 : vnet;
	o = (size_t)snprintf(dst, len, "switch:");
	for (i = 0; b[i] && o + 1 < len && o < 40; i++)
		if (isalnum((unsigned char)b[i]) || strchr("._-", b[i]))
			dst[o++] = b[i];
	dst[o] = '\0';
	if (o == 7)
		snprintf(dst, len, "switch:vmnet");
}

static int
read_nic(struct vmx *x, int idx, struct vmx_vm *vm)
{
	static const char *const quiet[] = { "startconnected",
		"generatedaddressoffset", "wakeonpcktrcv", "pcislotnumber",
		NULL };
	struct vmx_net *n;
	struct kv *ct, *dev, *mac, *at, *vnet, *addr, *gen;
	char p[32], k[64];
	int i;

	snprintf(p, sizeof(p), "ethernet%d", idx);
	for (i = 0; quiet[i]; i++) {
		snprintf(k, sizeof(k), "%s.%s", p, quiet[i]);
		get(x, k);
	}
	snprintf(k, sizeof(k), "%s.present", p);
	if (!get_true(x, k))
		return 0;
	if (vm->nnets == CFG_MAX_NETS) {
		log_warnx("%s: %s: more than %d NICs, left out", x->path, p,
		    CFG_MAX_NETS);
		return 0;
	}
	n = &vm->nets[vm->nnets++];
	snprintf(k, sizeof(k), "%s.connectiontype", p);
	ct = get(x, k);
	snprintf(k, sizeof(k), "%s.vnet", p);
	vnet = get(x, k);
	if (ct == NULL || strcasecmp(ct->val, "bridged") == 0) {
		strcpy(n->spec, "nat");
		log_warnx("%s: %s: bridged networking needs a tap device on "
		    "the host: imported as nat (use --net tap:DEV)", x->path, p);
	} else if (strcasecmp(ct->val, "nat") == 0) {
		strcpy(n->spec, "nat");
	} else if (strcasecmp(ct->val, "hostonly") == 0) {
		strcpy(n->spec, "switch:hostonly");
	} else if (strcasecmp(ct->val, "custom") == 0 && vnet) {
		switch_name(vnet->val, n->spec, sizeof(n->spec));
	} else {
		strcpy(n->spec, "nat");
		log_warnx("%s:%d: %s: connection type '%.40s' imported as nat",
		    x->path, ct->line, p, ct->val);
	}
	snprintf(k, sizeof(k), "%s.virtualdev", p);
	dev = get(x, k);
	if (dev && strncasecmp(dev->val, "e1000", 5) == 0)
		strcpy(n->model, "e1000");
	snprintf(k, sizeof(k), "%s.addresstype", p);
	at = get(x, k);
	snprintf(k, sizeof(k), "%s.address", p);
	addr = get(x, k);
	snprintf(k, sizeof(k), "%s.generatedaddress", p);
	gen = get(x, k);
	mac = at && strcasecmp(at->val, "static") == 0 && addr ? addr :
	    gen ? gen : addr;
	if (mac) {
		unsigned b[6];
		char tail;

		if (strlen(mac->val) == 17 && sscanf(mac->val,
		    "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		    &b[4], &b[5], &tail) == 6 && !(b[0] & 1))
			snprintf(n->mac, sizeof(n->mac), "%s", mac->val);
		else
			log_warnx("%s:%d: %s: '%.40s' is not a unicast MAC "
			    "address, left out", x->path, mac->line, mac->orig,
			    mac->val);
	}
	return 0;
}

static void
list_unknown(struct vmx *x)
{
	int i, j;

	for (i = 0; i < x->n; i++) {
		if (x->kv[i].used)
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(x->kv[j].key, x->kv[i].key) == 0)
				break;
		if (j == i)
			log_warnx("%s:%d: %s: not understood, left out",
			    x->path, x->kv[i].line, x->kv[i].orig);
	}
}

int
vmx_read(const char *path, struct vmx_vm *vm, struct vm_err *err)
{
	struct vmx x = { .path = path, .err = err };
	char *buf = NULL, tmp[PATH_MAX];
	size_t len;
	int i, ret;

	memset(vm, 0, sizeof(*vm));
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(x.dir, sizeof(x.dir), "%s", dirname(tmp));
	ret = read_whole(&x, &buf, &len);
	if (ret < 0)
		return ret;
	x.kv = calloc(VMX_MAX_KEYS, sizeof(*x.kv));
	if (x.kv == NULL) {
		free(buf);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	ret = parse_file(&x, buf);
	if (ret == 0)
		ret = read_basics(&x, vm);
	if (ret == 0)
		ret = read_storage(&x, vm);
	for (i = 0; ret == 0 && i < 10; i++)
		ret = read_nic(&x, i, vm);
	if (ret == 0)
		list_unknown(&x);
	free(x.kv);
	free(buf);
	return ret;
}
