/*
 * vm.yaml writer: the inverse of cfg.c's parser for the keys a config
 * holds.  Block style, two-space indents, one key per line; a value is
 * written plain only when the YAML 1.1 rules cannot read it as anything
 * but that string (no booleans, nulls, numbers where a string is meant,
 * indicators, leading or trailing blanks), otherwise double-quoted with
 * escapes (YAML 1.1 section 5.7).  Keys at their defaults are left out,
 * so a written file says only what differs.  Paths are written as the
 * config holds them: the caller makes them relative to the file's folder
 * where it wants that.  Tested by tests/unit/cfg_emit_test.c, which
 * parses back what it writes.
 */
#include "cfg/cfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

/* Words a YAML 1.1 reader may take for a boolean or null. */
static const char *const special_words[] = { "y", "n", "yes", "no", "true",
	"false", "on", "off", "null", "~", NULL };

static bool
plain_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0)
		return false;
	for (i = 0; special_words[i]; i++)
		if (strcasecmp(s, special_words[i]) == 0)
			return false;
	/* Letters, digits and a few punctuation marks that are never
	 * indicators inside a plain scalar; the first character must not
	 * be one that starts another kind of node. */
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._/-+=,") != n)
		return false;
	if (strchr("-+.0123456789", s[0]) != NULL &&
	    strspn(s, "0123456789.-+eExXoO_abcdefABCDEF:") == n)
		return false; /* would read as a number */
	return s[0] != '-' || n > 1;
}

static void
emit_scalar(FILE *f, const char *s)
{
	const unsigned char *p;

	if (plain_ok(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
emit_kv(FILE *f, const char *indent, const char *key, const char *val)
{
	fprintf(f, "%s%s: ", indent, key);
	emit_scalar(f, val);
	fputc('\n', f);
}

/* A size with the largest binary suffix that divides it: the parser
 * reads a bare number as MiB, so a suffix is always written. */
static void
emit_size(FILE *f, const char *key, uint64_t v)
{
	static const char units[] = "TGMK";
	int i;

	for (i = 0; i < 4; i++) {
		unsigned shift = (unsigned)(40 - 10 * i);

		if (v != 0 && (v & ((1ULL << shift) - 1)) == 0) {
			fprintf(f, "%s: %llu%c\n", key,
			    (unsigned long long)(v >> shift), units[i]);
			return;
		}
	}
	fprintf(f, "%s: %lluB\n", key, (unsigned long long)v);
}

static void
emit_boot(FILE *f, const struct vm_config *cfg)
{
	const char *in = "  ";

	if (!cfg->boot.kernel[0] && !cfg->boot.initrd[0] &&
	    !cfg->boot.cmdline[0] && !cfg->boot.firmware[0] &&
	    !cfg->boot.norder && !cfg->boot.menu &&
	    cfg->boot.decompress == CFG_DECOMPRESS_HOST)
		return;
	fputs("boot:\n", f);
	if (cfg->boot.firmware[0])
		emit_kv(f, in, "firmware", cfg->boot.firmware);
	if (cfg->boot.kernel[0])
		emit_kv(f, in, "kernel", cfg->boot.kernel);
	if (cfg->boot.initrd[0])
		emit_kv(f, in, "initrd", cfg->boot.initrd);
	if (cfg->boot.cmdline[0])
		emit_kv(f, in, "cmdline", cfg->boot.cmdline);
	if (cfg->boot.norder) {
		int i;

		fprintf(f, "%sorder: [", in);
		for (i = 0; i < cfg->boot.norder; i++)
			fprintf(f, "%s%s", i ? ", " : "",
			    cfg_boot_dev_name(cfg->boot.order[i]));
		fputs("]\n", f);
	}
	if (cfg->boot.menu)
		fprintf(f, "%smenu: true\n", in);
	if (cfg->boot.decompress == CFG_DECOMPRESS_GUEST)
		emit_kv(f, in, "decompress", "guest");
}

static void
emit_disks(FILE *f, const struct vm_config *cfg)
{
	const char *in = "    ";
	int i;

	if (cfg->ndisks == 0)
		return;
	fputs("disks:\n", f);
	for (i = 0; i < cfg->ndisks; i++) {
		const struct cfg_disk *d = &cfg->disks[i];

		emit_kv(f, "  - ", "file", d->file);
		if (d->format[0])
			emit_kv(f, in, "format", d->format);
		emit_kv(f, in, "interface",
		    d->interface == CFG_IF_IDE ? "ide" : "virtio");
		if (d->media == CFG_MEDIA_CDROM)
			emit_kv(f, in, "media", "cdrom");
		if (d->readonly)
			fprintf(f, "%sreadonly: true\n", in);
	}
}

static void
emit_nets(FILE *f, const struct vm_config *cfg)
{
	const char *in = "    ";
	int i;

	if (cfg->nnets == 0)
		return;
	fputs("networks:\n", f);
	for (i = 0; i < cfg->nnets; i++) {
		const struct cfg_net *n = &cfg->nets[i];

		emit_kv(f, "  - ", "type", n->spec[0] ? n->spec : "nat");
		if (n->model[0])
			emit_kv(f, in, "model", n->model);
		if (n->mac[0])
			emit_kv(f, in, "mac", n->mac);
		if (n->nforward > 0) {
			int j;

			fprintf(f, "%sforward:\n", in);
			for (j = 0; j < n->nforward && j < CFG_MAX_FORWARDS;
			    j++) {
				fprintf(f, "%s  - ", in);
				emit_scalar(f, n->forward[j]);
				fputc('\n', f);
			}
		}
		if (n->tftp[0])
			emit_kv(f, in, "tftp", n->tftp);
		if (n->bootfile[0])
			emit_kv(f, in, "bootfile", n->bootfile);
		if (n->subnet[0])
			emit_kv(f, in, "subnet", n->subnet);
		if (n->vlan)
			fprintf(f, "%svlan: %d\n", in, n->vlan);
	}
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), which a YAML reader requires. */
static bool
utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c, n, i, min;

	while (*s) {
		c = *s++;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, c &= 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, c &= 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, c &= 0x07, min = 0x10000;
		else
			return false;
		for (i = 0; i < n; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			c = c << 6 | (*s & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
	}
	return true;
}

static int
check_strings(const struct vm_config *cfg, const char *what,
    struct vm_err *err)
{
	const char *bad = NULL;
	int i;

	if (!utf8_ok(cfg->name))
		bad = "name";
	else if (!utf8_ok(cfg->boot.kernel))
		bad = "boot.kernel";
	else if (!utf8_ok(cfg->boot.initrd))
		bad = "boot.initrd";
	else if (!utf8_ok(cfg->boot.cmdline))
		bad = "boot.cmdline";
	else if (!utf8_ok(cfg->boot.firmware))
		bad = "boot";
	else if (!utf8_ok(cfg->serial_log))
		bad = "serial";
	for (i = 0; !bad && i < cfg->ndisks; i++)
		if (!utf8_ok(cfg->disks[i].file))
			bad = "disks";
	for (i = 0; !bad && i < cfg->nnets; i++) {
		const struct cfg_net *n = &cfg->nets[i];
		int j;

		if (!utf8_ok(n->spec) || !utf8_ok(n->mac) ||
		    !utf8_ok(n->tftp) || !utf8_ok(n->bootfile))
			bad = "networks";
		for (j = 0; !bad && j < n->nforward && j < CFG_MAX_FORWARDS;
		    j++)
			if (!utf8_ok(n->forward[j]))
				bad = "networks";
	}
	if (bad)
		return vm_err_set(err, -EINVAL, "%s: %s: not valid UTF-8 "
		    "(YAML files are UTF-8)", what, bad);
	return 0;
}

/*
 * Write cfg as a vm.yaml document to f.  Returns 0; -EINVAL with err set
 * (naming what, the output's name for messages) and nothing written when
 * a string is not valid UTF-8; -EIO when f reports a write error.  Does
 * not close f.
 */
int
cfg_emit(const struct vm_config *cfg, FILE *f, const char *what,
    struct vm_err *err)
{
	static const char *const consoles[] = { "serial", "none", "vga" };
	int ret = check_strings(cfg, what, err);

	if (ret < 0)
		return ret;

	fputs("version: 1\n", f);
	emit_kv(f, "", "name", cfg->name);
	emit_size(f, "memory", cfg->memory);
	fprintf(f, "cpus: %d\n", cfg->cpus);
	if (cfg->accel != CFG_ACCEL_AUTO)
		emit_kv(f, "", "accel", cfg_accel_name(cfg->accel));
	emit_boot(f, cfg);
	emit_disks(f, cfg);
	emit_nets(f, cfg);
	if (cfg->console != CFG_CONSOLE_SERIAL &&
	    (unsigned)cfg->console < ARRAY_SIZE(consoles))
		emit_kv(f, "", "console", consoles[cfg->console]);
	if (cfg->rtc_localtime)
		fputs("rtc: localtime\n", f);
	if (cfg->serial_log[0])
		emit_kv(f, "", "serial", cfg->serial_log);
	if (fflush(f) != 0 || ferror(f))
		return vm_err_errno(err, -EIO, "%s: cannot write", what);
	return 0;
}
