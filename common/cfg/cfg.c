/*
 * vm.yaml: libyaml's event stream is built into a small tree of nodes
 * (mapping, sequence, scalar), each remembering its line and column; the
 * tree is then walked against the schema below, so every message can say
 * "vm.yaml:12:3: memory: ...".  Unknown keys are errors (a typo must not
 * silently become a default) and come with the closest known key.
 * Aliases are refused: a config needs none, and refusing them closes the
 * door on alias bombs.  Documented in man/vm.yaml.5.
 */
#include "cfg/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util/err.h"
#include "util/size.h"

#define CFG_MAX_DEPTH 16
#define CFG_MAX_NODES 4096
#define CFG_MAX_FILE (1 << 20)

enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum node_kind kind;
	int line, col;                  /* 1-based */
	char *value;                    /* scalar text */
	struct node **kids;             /* map: key, value, key, value... */
	int nkids;
};

struct parse {
	const char *name;               /* file name for messages */
	const char *base_dir;
	struct vm_err *err;
	int nnodes;
};

static void
node_free(struct node *n)
{
	int i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static int
perr(struct parse *p, const struct node *n, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
perr(struct parse *p, const struct node *n, const char *path,
    const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vm_err_set(p->err, -EINVAL, "%s:%d:%d: %s%s%s", p->name,
	    n ? n->line : 1, n ? n->col : 1, path ? path : "",
	    path && *path ? ": " : "", msg);
}

static struct node *
node_new(struct parse *p, enum node_kind kind, const yaml_mark_t *m)
{
	struct node *n;

	if (++p->nnodes > CFG_MAX_NODES)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static int
node_add(struct node *parent, struct node *kid)
{
	struct node **k = realloc(parent->kids,
	    sizeof(*k) * (size_t)(parent->nkids + 1));

	if (k == NULL)
		return -ENOMEM;
	parent->kids = k;
	k[parent->nkids++] = kid;
	return 0;
}

static const char *
kind_name(enum node_kind k)
{
	return k == N_MAP ? "a mapping" : k == N_SEQ ? "a list" : "a value";
}

/* Build the tree of one node from the event stream (ev already read). */
static int build(struct parse *p, yaml_parser_t *y, yaml_event_t *ev,
    struct node **out, int depth);

static int
next_event(struct parse *p, yaml_parser_t *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(y, ev)) {
		struct node at = { .line = (int)y->problem_mark.line + 1,
			.col = (int)y->problem_mark.column + 1 };

		return perr(p, &at, NULL, "YAML syntax error: %s%s%s",
		    y->problem ? y->problem : "unknown problem",
		    y->context ? " " : "", y->context ? y->context : "");
	}
	return 0;
}

static int
build(struct parse *p, yaml_parser_t *y, yaml_event_t *ev, struct node **out,
    int depth)
{
	struct node *n = NULL, *kid;
	yaml_event_t e;
	int ret;

	*out = NULL;
	if (depth > CFG_MAX_DEPTH) {
		struct node at = { .line = (int)ev->start_mark.line + 1,
			.col = (int)ev->start_mark.column + 1 };
		return perr(p, &at, NULL, "nested too deeply");
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		struct node at = { .line = (int)ev->start_mark.line + 1,
			.col = (int)ev->start_mark.column + 1 };
		return perr(p, &at, NULL,
		    "YAML aliases are not supported in vm.yaml");
	}
	case YAML_SCALAR_EVENT:
		n = node_new(p, N_SCALAR, &ev->start_mark);
		if (n == NULL)
			return vm_err_set(p->err, -ENOMEM, "%s: too large",
			    p->name);
		n->value = strndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (n->value == NULL) {
			free(n);
			return -ENOMEM;
		}
		*out = n;
		return 0;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(p, ev->type == YAML_MAPPING_START_EVENT ? N_MAP :
		    N_SEQ, &ev->start_mark);
		if (n == NULL)
			return vm_err_set(p->err, -ENOMEM, "%s: too large",
			    p->name);
		for (;;) {
			ret = next_event(p, y, &e);
			if (ret < 0)
				goto fail;
			if (e.type == YAML_MAPPING_END_EVENT ||
			    e.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&e);
				break;
			}
			ret = build(p, y, &e, &kid, depth + 1);
			yaml_event_delete(&e);
			if (ret < 0)
				goto fail;
			if (node_add(n, kid) < 0) {
				node_free(kid);
				ret = -ENOMEM;
				goto fail;
			}
		}
		*out = n;
		return 0;
	default: {
		struct node at = { .line = (int)ev->start_mark.line + 1,
			.col = (int)ev->start_mark.column + 1 };
		return perr(p, &at, NULL, "unexpected YAML content");
	}
	}
fail:
	node_free(n);
	return ret;
}

/* Parse a whole document into a tree; an empty document gives NULL. */
static int
parse_tree(struct parse *p, const char *buf, size_t len, struct node **root)
{
	yaml_parser_t y;
	yaml_event_t ev;
	int ret = 0, docs = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&y))
		return vm_err_set(p->err, -ENOMEM, "%s: out of memory", p->name);
	yaml_parser_set_input_string(&y, (const unsigned char *)buf, len);
	for (;;) {
		ret = next_event(p, &y, &ev);
		if (ret < 0)
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (++docs > 1) {
				struct node at = {
					.line = (int)ev.start_mark.line + 1,
					.col = (int)ev.start_mark.column + 1 };
				yaml_event_delete(&ev);
				ret = perr(p, &at, NULL,
				    "only one YAML document is allowed");
				break;
			}
		} else if (ev.type != YAML_STREAM_START_EVENT &&
		    ev.type != YAML_DOCUMENT_END_EVENT) {
			if (*root != NULL) {
				yaml_event_delete(&ev);
				ret = -EINVAL;
				break;
			}
			ret = build(p, &y, &ev, root, 0);
			if (ret < 0) {
				yaml_event_delete(&ev);
				break;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&y);
	if (ret < 0) {
		node_free(*root);
		*root = NULL;
	}
	return ret;
}

/* ---- typed getters ------------------------------------------------------ */

static int
want_scalar(struct parse *p, const struct node *n, const char *path,
    const char *what)
{
	if (n->kind != N_SCALAR)
		return perr(p, n, path, "expected %s, got %s", what,
		    kind_name(n->kind));
	return 0;
}

static int
get_str(struct parse *p, const struct node *n, const char *path, char *dst,
    size_t len)
{
	int ret = want_scalar(p, n, path, "a string");

	if (ret < 0)
		return ret;
	if (strlen(n->value) >= len)
		return perr(p, n, path, "too long (at most %zu characters)",
		    len - 1);
	strcpy(dst, n->value);
	return 0;
}

static int
get_int(struct parse *p, const struct node *n, const char *path, long min,
    long max, int *out)
{
	char *end;
	long v;
	int ret = want_scalar(p, n, path, "an integer");

	if (ret < 0)
		return ret;
	errno = 0;
	v = strtol(n->value, &end, 10);
	if (*n->value == '\0' || *end != '\0' || errno)
		return perr(p, n, path, "expected an integer, got '%s'",
		    n->value);
	if (v < min || v > max)
		return perr(p, n, path, "%ld is out of range (%ld..%ld)", v,
		    min, max);
	*out = (int)v;
	return 0;
}

static int
get_bool(struct parse *p, const struct node *n, const char *path, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "Yes",
		"On", "TRUE", "YES", "ON" };
	static const char *const no[] = { "false", "no", "off", "False", "No",
		"Off", "FALSE", "NO", "OFF" };
	size_t i;
	int ret = want_scalar(p, n, path, "true or false");

	if (ret < 0)
		return ret;
	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(n->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return perr(p, n, path, "expected true or false, got '%s'", n->value);
}

static int
get_enum(struct parse *p, const struct node *n, const char *path,
    const char *what, const char *const *names, int *out)
{
	char list[160] = "";
	int i, ret = want_scalar(p, n, path, "a name");

	if (ret < 0)
		return ret;
	for (i = 0; names[i]; i++) {
		if (strcmp(n->value, names[i]) == 0) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i ? ", " : "", names[i]);
	}
	return perr(p, n, path, "unknown %s '%s' (expected %s)", what,
	    n->value, list);
}

static int
get_path(struct parse *p, const struct node *n, const char *path, char *dst,
    size_t len)
{
	int ret = want_scalar(p, n, path, "a file name");

	if (ret < 0)
		return ret;
	if (*n->value == '\0')
		return perr(p, n, path, "empty file name");
	if (n->value[0] == '/' || p->base_dir == NULL || !*p->base_dir ||
	    strcmp(p->base_dir, ".") == 0)
		ret = snprintf(dst, len, "%s", n->value);
	else
		ret = snprintf(dst, len, "%s/%s", p->base_dir, n->value);
	if (ret < 0 || (size_t)ret >= len)
		return perr(p, n, path, "file name too long");
	return 0;
}

static int
get_size(struct parse *p, const struct node *n, const char *path,
    uint64_t *out)
{
	uint64_t v;
	int ret = want_scalar(p, n, path, "a size");

	if (ret < 0)
		return ret;
	if (size_parse(n->value, &v) < 0)
		return perr(p, n, path,
		    "'%s' is not a size (use e.g. 512M or 2G)", n->value);
	if (strspn(n->value, "0123456789") == strlen(n->value))
		v <<= 20; /* a bare number means MiB, as QEMU's -m */
	*out = v;
	return 0;
}

/* Levenshtein distance, for "did you mean". */
static int
edit_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b), i, j;
	int d[32][32];

	if (la > 30 || lb > 30)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

static int
unknown_key(struct parse *p, const struct node *key, const char *prefix,
    const char *const *known)
{
	const char *best = NULL;
	char path[128];
	int i, bd = 99, dd;

	for (i = 0; known[i]; i++) {
		dd = edit_distance(key->value, known[i]);
		if (dd < bd) {
			bd = dd;
			best = known[i];
		}
	}
	snprintf(path, sizeof(path), "%s%s", prefix, key->value);
	if (best && bd <= 2)
		return perr(p, key, path, "unknown key (did you mean '%s'?)",
		    best);
	return perr(p, key, path, "unknown key");
}

/* Check a mapping's keys: scalars, known, not repeated. */
static int
check_keys(struct parse *p, const struct node *map, const char *path,
    const char *prefix, const char *const *known)
{
	int i, j, k;

	if (map->kind != N_MAP)
		return perr(p, map, path, "expected a mapping, got %s",
		    kind_name(map->kind));
	for (i = 0; i + 1 < map->nkids; i += 2) {
		const struct node *key = map->kids[i];

		if (key->kind != N_SCALAR)
			return perr(p, key, path, "keys must be plain names");
		for (k = 0; known[k]; k++)
			if (strcmp(key->value, known[k]) == 0)
				break;
		if (known[k] == NULL)
			return unknown_key(p, key, prefix, known);
		for (j = 0; j < i; j += 2)
			if (strcmp(map->kids[j]->value, key->value) == 0) {
				char kp[128];

				snprintf(kp, sizeof(kp), "%s%s", prefix,
				    key->value);
				return perr(p, key, kp,
				    "given twice (first at line %d)",
				    map->kids[j]->line);
			}
	}
	return 0;
}

/* ---- the schema --------------------------------------------------------- */

static const char *const top_keys[] = { "version", "name", "memory", "cpus",
	"accel", "boot", "disks", "networks", "console", "serial", "rtc",
	NULL };
static const char *const boot_keys[] = { "kernel", "initrd", "cmdline",
	"firmware", "order", "menu", "decompress", NULL };
static const char *const boot_dev_names[] = { "disk", "cdrom", "net",
	NULL };
static const char *const disk_keys[] = { "file", "format", "interface",
	"media", "readonly", NULL };
static const char *const net_keys[] = { "type", "model", "mac", "forward",
	"vlan", "tftp", "bootfile", "subnet", NULL };
static const char *const accel_names[] = { "auto", "kvm", "dbt", NULL };
static const char *const decompress_names[] = { "host", "guest", NULL };
static const char *const console_names[] = { "serial", "none", "vga",
	NULL };
static const char *const format_names[] = { "raw", "qcow2", "vmdk", "vdi",
	"vhd", NULL };
static const char *const if_names[] = { "virtio", "ide", NULL };
static const char *const media_names[] = { "disk", "cdrom", NULL };
static const char *const rtc_names[] = { "utc", "localtime", NULL };
static const char *const model_names[] = { "virtio", "e1000", NULL };

static void
origin(struct parse *p, const struct node *n, const char *path, char *dst,
    size_t len)
{
	snprintf(dst, len, "%s:%d:%d: %s", p->name, n->line, n->col, path);
}

/* Add device class d to the boot order; false if it is there already. */
static bool
order_add(struct vm_config *cfg, int d)
{
	int i;

	for (i = 0; i < cfg->boot.norder; i++)
		if (cfg->boot.order[i] == d)
			return false;
	cfg->boot.order[cfg->boot.norder++] = (uint8_t)d;
	return true;
}

/* boot.order: a list of device classes, each at most once. */
static int
parse_order(struct parse *p, const struct node *n, struct vm_config *cfg)
{
	int j, d, ret = 0;

	if (n->kind != N_SEQ)
		return perr(p, n, "boot.order", "expected a list (such as "
		    "[cdrom, disk, net]), got %s", kind_name(n->kind));
	cfg->boot.norder = 0;
	for (j = 0; ret == 0 && j < n->nkids; j++) {
		ret = get_enum(p, n->kids[j], "boot.order", "boot device",
		    boot_dev_names, &d);
		if (ret == 0 && !order_add(cfg, d))
			ret = perr(p, n->kids[j], "boot.order", "'%s' given "
			    "twice", boot_dev_names[d]);
	}
	return ret;
}

static int
parse_boot(struct parse *p, const struct node *map, struct vm_config *cfg)
{
	int i, ret = check_keys(p, map, "boot", "boot.", boot_keys);

	for (i = 0; ret == 0 && i + 1 < map->nkids; i += 2) {
		const char *k = map->kids[i]->value;
		const struct node *v = map->kids[i + 1];

		if (strcmp(k, "kernel") == 0) {
			ret = get_path(p, v, "boot.kernel", cfg->boot.kernel,
			    sizeof(cfg->boot.kernel));
			origin(p, v, "boot.kernel", cfg->boot.kernel_origin,
			    sizeof(cfg->boot.kernel_origin));
		} else if (strcmp(k, "initrd") == 0) {
			ret = get_path(p, v, "boot.initrd", cfg->boot.initrd,
			    sizeof(cfg->boot.initrd));
			origin(p, v, "boot.initrd", cfg->boot.initrd_origin,
			    sizeof(cfg->boot.initrd_origin));
		} else if (strcmp(k, "cmdline") == 0) {
			ret = get_str(p, v, "boot.cmdline", cfg->boot.cmdline,
			    sizeof(cfg->boot.cmdline));
		} else if (strcmp(k, "firmware") == 0) {
			/* A keyword, or an image relative to the file. */
			ret = get_str(p, v, "boot.firmware", cfg->boot.firmware,
			    sizeof(cfg->boot.firmware));
			if (ret == 0 && strcmp(cfg->boot.firmware, "bios") &&
			    strcmp(cfg->boot.firmware, "uefi") &&
			    cfg->boot.firmware[0] != '\0')
				ret = get_path(p, v, "boot.firmware",
				    cfg->boot.firmware,
				    sizeof(cfg->boot.firmware));
		} else if (strcmp(k, "order") == 0) {
			ret = parse_order(p, v, cfg);
		} else if (strcmp(k, "menu") == 0) {
			ret = get_bool(p, v, "boot.menu", &cfg->boot.menu);
		} else if (strcmp(k, "decompress") == 0) {
			int d = 0;

			ret = get_enum(p, v, "boot.decompress", "decompressor",
			    decompress_names, &d);
			cfg->boot.decompress = (enum cfg_decompress)d;
		}
	}
	return ret;
}

static int
parse_disk(struct parse *p, const struct node *map, int idx,
    struct cfg_disk *d)
{
	char path[64], prefix[64], kp[96];
	bool have_file = false;
	int i, v, ret;

	snprintf(path, sizeof(path), "disks[%d]", idx);
	snprintf(prefix, sizeof(prefix), "disks[%d].", idx);
	ret = check_keys(p, map, path, prefix, disk_keys);
	for (i = 0; ret == 0 && i + 1 < map->nkids; i += 2) {
		const char *k = map->kids[i]->value;
		const struct node *n = map->kids[i + 1];

		snprintf(kp, sizeof(kp), "%s%s", prefix, k);
		if (strcmp(k, "file") == 0) {
			ret = get_path(p, n, kp, d->file, sizeof(d->file));
			origin(p, n, kp, d->origin, sizeof(d->origin));
			have_file = true;
		} else if (strcmp(k, "format") == 0) {
			ret = get_enum(p, n, kp, "format", format_names, &v);
			if (ret == 0)
				strcpy(d->format, format_names[v]);
		} else if (strcmp(k, "interface") == 0) {
			ret = get_enum(p, n, kp, "interface", if_names, &v);
			d->interface = (enum cfg_disk_if)v;
		} else if (strcmp(k, "media") == 0) {
			ret = get_enum(p, n, kp, "media", media_names, &v);
			d->media = (enum cfg_media)v;
		} else if (strcmp(k, "readonly") == 0) {
			ret = get_bool(p, n, kp, &d->readonly);
		}
	}
	if (ret == 0 && !have_file)
		ret = perr(p, map, path, "a disk needs a 'file'");
	return ret;
}

static int
parse_net(struct parse *p, const struct node *map, int idx,
    struct cfg_net *nt)
{
	char path[64], prefix[64], kp[96];
	const struct node *vlan_node = NULL, *nat_node = NULL;
	char vlan_path[96];
	int i, j, v, ret;

	snprintf(path, sizeof(path), "networks[%d]", idx);
	snprintf(prefix, sizeof(prefix), "networks[%d].", idx);
	snprintf(vlan_path, sizeof(vlan_path), "%svlan", prefix);
	ret = check_keys(p, map, path, prefix, net_keys);
	origin(p, map, path, nt->origin, sizeof(nt->origin));
	strcpy(nt->spec, "nat");
	strcpy(nt->model, "virtio");
	for (i = 0; ret == 0 && i + 1 < map->nkids; i += 2) {
		const char *k = map->kids[i]->value;
		const struct node *n = map->kids[i + 1];

		snprintf(kp, sizeof(kp), "%s%s", prefix, k);
		if (strcmp(k, "type") == 0) {
			ret = get_str(p, n, kp, nt->spec, sizeof(nt->spec));
		} else if (strcmp(k, "model") == 0) {
			ret = get_enum(p, n, kp, "model", model_names, &v);
			if (ret == 0)
				strcpy(nt->model, model_names[v]);
		} else if (strcmp(k, "mac") == 0) {
			unsigned b[6];
			char tail;

			ret = get_str(p, n, kp, nt->mac, sizeof(nt->mac));
			if (ret == 0 && (sscanf(nt->mac,
			    "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
			    &b[3], &b[4], &b[5], &tail) != 6 || (b[0] & 1)))
				ret = perr(p, n, kp,
				    "'%s' is not a unicast MAC address "
				    "(xx:xx:xx:xx:xx:xx)", nt->mac);
		} else if (strcmp(k, "forward") == 0) {
			if (n->kind != N_SEQ)
				ret = perr(p, n, kp, "expected a list, got %s",
				    kind_name(n->kind));
			if (ret == 0 && n->nkids > CFG_MAX_FORWARDS)
				ret = perr(p, n, kp, "at most %d rules",
				    CFG_MAX_FORWARDS);
			for (j = 0; ret == 0 && j < n->nkids; j++) {
				ret = want_scalar(p, n->kids[j], kp,
				    "a forward rule");
				if (ret == 0)
					ret = get_str(p, n->kids[j], kp,
					    nt->forward[j],
					    sizeof(nt->forward[j]));
			}
			if (ret == 0)
				nt->nforward = n->nkids;
		} else if (strcmp(k, "vlan") == 0) {
			ret = get_int(p, n, kp, 1, 4094, &nt->vlan);
			vlan_node = n;
		} else if (strcmp(k, "tftp") == 0) {
			ret = get_path(p, n, kp, nt->tftp, sizeof(nt->tftp));
			nat_node = n;
		} else if (strcmp(k, "bootfile") == 0) {
			ret = get_str(p, n, kp, nt->bootfile,
			    sizeof(nt->bootfile));
			nat_node = n;
		} else if (strcmp(k, "subnet") == 0) {
			ret = get_str(p, n, kp, nt->subnet,
			    sizeof(nt->subnet));
			nat_node = n;
		}
	}
	if (ret == 0 && vlan_node && strncmp(nt->spec, "switch:", 7) != 0)
		ret = perr(p, vlan_node, vlan_path, "a VLAN is for a switch port "
		    "(type: switch:NAME), not '%s'", nt->spec);
	if (ret == 0 && nat_node && strcmp(nt->spec, "nat") != 0)
		ret = perr(p, nat_node, path, "tftp, bootfile and subnet "
		    "are for type nat, not '%s'", nt->spec);
	return ret;
}

static int
parse_list(struct parse *p, const struct node *seq, const char *path,
    struct vm_config *cfg, bool disks)
{
	int i, ret = 0, max = disks ? CFG_MAX_DISKS : CFG_MAX_NETS;

	if (seq->kind != N_SEQ)
		return perr(p, seq, path, "expected a list, got %s",
		    kind_name(seq->kind));
	if (seq->nkids > max)
		return perr(p, seq, path, "at most %d entries", max);
	for (i = 0; ret == 0 && i < seq->nkids; i++) {
		if (disks) {
			memset(&cfg->disks[i], 0, sizeof(cfg->disks[i]));
			ret = parse_disk(p, seq->kids[i], i, &cfg->disks[i]);
		} else {
			memset(&cfg->nets[i], 0, sizeof(cfg->nets[i]));
			ret = parse_net(p, seq->kids[i], i, &cfg->nets[i]);
		}
	}
	if (ret == 0) {
		if (disks)
			cfg->ndisks = seq->nkids;
		else
			cfg->nnets = seq->nkids;
	}
	return ret;
}

static int
parse_top(struct parse *p, const struct node *root, struct vm_config *cfg)
{
	int i, v, ret;

	if (root == NULL)
		return 0; /* an empty file: all defaults */
	if (root->kind != N_MAP)
		return perr(p, root, NULL,
		    "the top level must be a mapping of keys (name:, memory:...)");
	ret = check_keys(p, root, "", "", top_keys);
	for (i = 0; ret == 0 && i + 1 < root->nkids; i += 2) {
		const char *k = root->kids[i]->value;
		const struct node *n = root->kids[i + 1];

		if (strcmp(k, "version") == 0) {
			ret = get_int(p, n, k, 0, 1000000, &v);
			if (ret == 0 && v != 1)
				ret = perr(p, n, k, v > 1 ?
				    "%d is newer than this vm-run understands (1)" :
				    "%d is not a version (use 1)", v);
		} else if (strcmp(k, "name") == 0) {
			ret = get_str(p, n, k, cfg->name, sizeof(cfg->name));
			cfg->name_given = true;
			if (ret == 0 && (cfg->name[0] == '\0' ||
			    strspn(cfg->name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			    strlen(cfg->name)))
				ret = perr(p, n, k, "'%s' is not a valid name "
				    "(letters, digits, '.', '_', '-')",
				    cfg->name);
		} else if (strcmp(k, "memory") == 0) {
			ret = get_size(p, n, k, &cfg->memory);
			if (ret == 0 && cfg->memory < (16ULL << 20))
				ret = perr(p, n, k, "'%s' is too small "
				    "(at least 16M)", n->value);
		} else if (strcmp(k, "cpus") == 0) {
			ret = get_int(p, n, k, 1, 64, &cfg->cpus);
		} else if (strcmp(k, "accel") == 0) {
			ret = get_enum(p, n, k, "accelerator", accel_names, &v);
			cfg->accel = (enum cfg_accel)v;
		} else if (strcmp(k, "boot") == 0) {
			ret = parse_boot(p, n, cfg);
		} else if (strcmp(k, "disks") == 0) {
			ret = parse_list(p, n, k, cfg, true);
		} else if (strcmp(k, "networks") == 0) {
			ret = parse_list(p, n, k, cfg, false);
		} else if (strcmp(k, "console") == 0) {
			ret = get_enum(p, n, k, "console", console_names, &v);
			cfg->console = (enum cfg_console)v;
		} else if (strcmp(k, "serial") == 0) {
			ret = get_path(p, n, k, cfg->serial_log,
			    sizeof(cfg->serial_log));
		} else if (strcmp(k, "rtc") == 0) {
			ret = get_enum(p, n, k, "RTC time", rtc_names, &v);
			cfg->rtc_localtime = v == 1;
		}
	}
	return ret;
}

/* ---- public ------------------------------------------------------------- */

void
cfg_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "vm");
	cfg->memory = 512ULL << 20;
	cfg->cpus = 1;
	cfg->accel = CFG_ACCEL_AUTO;
	cfg->console = CFG_CONSOLE_SERIAL;
}

int
cfg_parse(struct vm_config *cfg, const char *buf, size_t len,
    const char *name, const char *base_dir, struct vm_err *err)
{
	struct parse p = { .name = name, .base_dir = base_dir, .err = err };
	struct node *root;
	size_t i;
	int ret;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\0')
			return vm_err_set(err, -EINVAL,
			    "%s: not a text file (NUL byte at offset %zu)", name,
			    i);
	}
	ret = parse_tree(&p, buf, len, &root);
	if (ret < 0)
		return ret;
	ret = parse_top(&p, root, cfg);
	node_free(root);
	return ret;
}

int
cfg_load(struct vm_config *cfg, const char *path, struct vm_err *err)
{
	char dir[CFG_PATH_MAX], *buf;
	struct stat sb;
	size_t n;
	FILE *f;
	int ret;

	f = fopen(path, "r");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(f);
		return vm_err_set(err, -EISDIR, "%s: is a directory", path);
	}
	buf = malloc(CFG_MAX_FILE + 1);
	if (buf == NULL) {
		fclose(f);
		return vm_err_set(err, -ENOMEM, "%s: out of memory", path);
	}
	n = fread(buf, 1, CFG_MAX_FILE + 1, f);
	fclose(f);
	if (n > CFG_MAX_FILE) {
		free(buf);
		return vm_err_set(err, -EINVAL, "%s: too large for a vm.yaml",
		    path);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	ret = cfg_parse(cfg, buf, n, path, dirname(dir), err);
	free(buf);
	return ret;
}

static int
check_file(const char *file, const char *origin, const char *fallback,
    struct vm_err *err)
{
	if (access(file, R_OK) == 0)
		return 0;
	return vm_err_errno(err, -errno, "%s: %s",
	    origin && *origin ? origin : fallback, file);
}

int
cfg_validate(const struct vm_config *cfg, struct vm_err *err)
{
	int i, ret;

	if (cfg->boot.kernel[0]) {
		ret = check_file(cfg->boot.kernel, cfg->boot.kernel_origin,
		    "--kernel", err);
		if (ret < 0)
			return ret;
	}
	if (cfg->boot.initrd[0]) {
		if (cfg->boot.kernel[0] == '\0')
			return vm_err_set(err, -EINVAL,
			    "an initrd needs a kernel (--kernel or boot.kernel)");
		ret = check_file(cfg->boot.initrd, cfg->boot.initrd_origin,
		    "--initrd", err);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < cfg->ndisks; i++) {
		ret = check_file(cfg->disks[i].file, cfg->disks[i].origin,
		    "--disk", err);
		if (ret < 0)
			return ret;
	}
	if (cfg->memory < (16ULL << 20))
		return vm_err_set(err, -EINVAL,
		    "memory: at least 16M is needed");
	if (cfg->cpus < 1 || cfg->cpus > 64)
		return vm_err_set(err, -EINVAL, "cpus: %d is out of range "
		    "(1..64)", cfg->cpus);
	return 0;
}

int
cfg_parse_accel(const char *s, enum cfg_accel *out)
{
	int i;

	for (i = 0; accel_names[i]; i++)
		if (strcmp(s, accel_names[i]) == 0) {
			*out = (enum cfg_accel)i;
			return 0;
		}
	return -EINVAL;
}

const char *
cfg_accel_name(enum cfg_accel a)
{
	return (unsigned)a < 3 ? accel_names[a] : "auto";
}

int
cfg_parse_boot_order(struct vm_config *cfg, const char *s,
    struct vm_err *err)
{
	char buf[64], *tok, *save = NULL;
	int d;

	if (strlen(s) >= sizeof(buf))
		return vm_err_set(err, -EINVAL, "boot order '%s' too long", s);
	strcpy(buf, s);
	cfg->boot.norder = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		for (d = 0; boot_dev_names[d]; d++)
			if (strcmp(tok, boot_dev_names[d]) == 0)
				break;
		if (boot_dev_names[d] == NULL)
			return vm_err_set(err, -EINVAL, "unknown boot device "
			    "'%s' (expected disk, cdrom, net)", tok);
		if (!order_add(cfg, d))
			return vm_err_set(err, -EINVAL, "boot device '%s' "
			    "given twice", tok);
	}
	if (cfg->boot.norder == 0)
		return vm_err_set(err, -EINVAL, "empty boot order (expected "
		    "a list such as cdrom,disk)");
	return 0;
}

const char *
cfg_boot_dev_name(enum cfg_boot_dev d)
{
	return (unsigned)d < CFG_MAX_BOOT ? boot_dev_names[d] : "?";
}

int
cfg_parse_decompress(const char *s, enum cfg_decompress *out)
{
	int i;

	for (i = 0; decompress_names[i]; i++)
		if (strcmp(s, decompress_names[i]) == 0) {
			*out = (enum cfg_decompress)i;
			return 0;
		}
	return -EINVAL;
}

static int
opt_value(const char *opt, const char *val, const char *const *names,
    const char *what, int *out, struct vm_err *err)
{
	int i;

	for (i = 0; names[i]; i++)
		if (strcmp(val, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return vm_err_set(err, -EINVAL, "--disk %s: unknown %s '%s'", opt,
	    what, val);
}

int
cfg_parse_disk_opt(struct cfg_disk *d, const char *opt, struct vm_err *err)
{
	const char *s = opt;
	char key[32], val[CFG_PATH_MAX];
	size_t n = 0;
	int v = 0, ret;

	memset(d, 0, sizeof(*d));
	snprintf(d->origin, sizeof(d->origin), "--disk");
	/* The file name: up to the first single comma; ",," is a comma. */
	while (*s) {
		if (*s == ',' && s[1] == ',') {
			s += 2;
			if (n + 1 < sizeof(d->file))
				d->file[n++] = ',';
			continue;
		}
		if (*s == ',')
			break;
		if (n + 1 < sizeof(d->file))
			d->file[n++] = *s;
		s++;
	}
	d->file[n] = '\0';
	if (n == 0)
		return vm_err_set(err, -EINVAL, "--disk %s: no file name", opt);
	while (*s == ',') {
		const char *eq, *end;

		s++;
		eq = strchr(s, '=');
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		if (eq == NULL || eq > end || (size_t)(eq - s) >= sizeof(key) ||
		    (size_t)(end - eq - 1) >= sizeof(val))
			return vm_err_set(err, -EINVAL,
			    "--disk %s: expected key=value after the file name",
			    opt);
		memcpy(key, s, (size_t)(eq - s));
		key[eq - s] = '\0';
		memcpy(val, eq + 1, (size_t)(end - eq - 1));
		val[end - eq - 1] = '\0';
		s = end;
		if (strcmp(key, "format") == 0) {
			ret = opt_value(opt, val, format_names, "format", &v, err);
			if (ret == 0)
				strcpy(d->format, format_names[v]);
		} else if (strcmp(key, "if") == 0 ||
		    strcmp(key, "interface") == 0) {
			ret = opt_value(opt, val, if_names, "interface", &v, err);
			d->interface = (enum cfg_disk_if)v;
		} else if (strcmp(key, "media") == 0) {
			ret = opt_value(opt, val, media_names, "media", &v, err);
			d->media = (enum cfg_media)v;
		} else if (strcmp(key, "readonly") == 0) {
			if (strcmp(val, "on") == 0 || strcmp(val, "true") == 0)
				d->readonly = true;
			else if (strcmp(val, "off") == 0 ||
			    strcmp(val, "false") == 0)
				d->readonly = false;
			else
				return vm_err_set(err, -EINVAL,
				    "--disk %s: readonly=%s (use on or off)",
				    opt, val);
			ret = 0;
		} else {
			return vm_err_set(err, -EINVAL,
			    "--disk %s: unknown option '%s' (format, if, media, "
			    "readonly)", opt, key);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
cfg_parse_net_opt(struct cfg_net *nt, bool *none, const char *opt,
    struct vm_err *err)
{
	const char *s = opt, *end, *eq;
	char key[32], val[CFG_PATH_MAX];
	size_t n;
	int i;

	*none = false;
	end = strchr(s, ',');
	n = end ? (size_t)(end - s) : strlen(s);
	if (n == 0)
		return vm_err_set(err, -EINVAL, "--net %s: no network type "
		    "(nat, switch:NAME, tap:DEV or none)", opt);
	if (n >= sizeof(nt->spec))
		return vm_err_set(err, -EINVAL, "--net %s: type too long", opt);
	if (n == 4 && strncmp(s, "none", 4) == 0) {
		if (end)
			return vm_err_set(err, -EINVAL, "--net %s: 'none' "
			    "takes no options", opt);
		*none = true;
		return 0;
	}
	memset(nt, 0, sizeof(*nt));
	snprintf(nt->origin, sizeof(nt->origin), "--net %s", opt);
	memcpy(nt->spec, s, n);
	nt->spec[n] = '\0';
	strcpy(nt->model, "virtio");
	s += n;
	while (*s == ',') {
		s++;
		eq = strchr(s, '=');
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		if (eq == NULL || eq > end || (size_t)(eq - s) >= sizeof(key) ||
		    (size_t)(end - eq - 1) >= sizeof(val))
			return vm_err_set(err, -EINVAL, "--net %s: expected "
			    "key=value after the type", opt);
		memcpy(key, s, (size_t)(eq - s));
		key[eq - s] = '\0';
		memcpy(val, eq + 1, (size_t)(end - eq - 1));
		val[end - eq - 1] = '\0';
		s = end;
		if (strcmp(key, "forward") == 0) {
			if (nt->nforward == CFG_MAX_FORWARDS)
				return vm_err_set(err, -EINVAL, "--net %s: at "
				    "most %d forwards", opt, CFG_MAX_FORWARDS);
			if (strlen(val) >= sizeof(nt->forward[0]))
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "forward rule too long", opt);
			strcpy(nt->forward[nt->nforward++], val);
		} else if (strcmp(key, "model") == 0) {
			for (i = 0; model_names[i]; i++)
				if (strcmp(val, model_names[i]) == 0)
					break;
			if (model_names[i] == NULL)
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "unknown model '%s' (virtio or e1000)", opt,
				    val);
			strcpy(nt->model, val);
		} else if (strcmp(key, "mac") == 0) {
			unsigned b[6];
			char tail;

			if (strlen(val) != 17 || sscanf(val,
			    "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
			    &b[3], &b[4], &b[5], &tail) != 6 || (b[0] & 1))
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "'%s' is not a unicast MAC address "
				    "(xx:xx:xx:xx:xx:xx)", opt, val);
			strcpy(nt->mac, val);
		} else if (strcmp(key, "tftp") == 0 ||
		    strcmp(key, "bootfile") == 0 ||
		    strcmp(key, "subnet") == 0) {
			if (strcmp(nt->spec, "nat") != 0)
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "%s is for nat", opt, key);
			if (key[0] == 's') {
				if (strlen(val) >= sizeof(nt->subnet))
					return vm_err_set(err, -EINVAL,
					    "--net %s: '%s' is not a subnet "
					    "a.b.c.d/P", opt, val);
				strcpy(nt->subnet, val);
			} else if (key[0] == 't')
				memcpy(nt->tftp, val, sizeof(nt->tftp));
			else if (strlen(val) >= sizeof(nt->bootfile))
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "bootfile too long", opt);
			else
				strcpy(nt->bootfile, val);
		} else if (strcmp(key, "vlan") == 0) {
			char *e;
			long v = strtol(val, &e, 10);

			if (val[0] < '0' || val[0] > '9' || *e || v < 1 ||
			    v > 4094)
				return vm_err_set(err, -EINVAL, "--net %s: "
				    "VLAN '%s' is not a number from 1 to 4094",
				    opt, val);
			if (strncmp(nt->spec, "switch:", 7) != 0)
				return vm_err_set(err, -EINVAL, "--net %s: a "
				    "VLAN is for a switch port (switch:NAME)",
				    opt);
			nt->vlan = (int)v;
		} else {
			return vm_err_set(err, -EINVAL, "--net %s: unknown "
			    "option '%s' (forward, model, mac, vlan, tftp, bootfile, subnet)", opt,
			    key);
		}
	}
	return 0;
}
