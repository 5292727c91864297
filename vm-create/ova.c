/*
 * OVF 1.x/2.0 import: an .ovf descriptor with its files beside it, or an
 * .ova, the same files in one tar with the descriptor first (DMTF DSP0243
 * section 5).  The tar is read with libarchive; every entry must be a
 * regular file with a plain relative name (no absolute path, no "..", no
 * links or devices), or the whole archive is refused.  The descriptor is
 * parsed with expat (namespaces on, elements matched by local name; a
 * DOCTYPE or entity declaration is refused, so no entity expansion can
 * happen).  The manifest (NAME.mf: "SHA256(file)= hex" or SHA1 lines) is
 * checked for the descriptor and every disk; a mismatch is an error.
 *
 * Mapped: VirtualSystem Name (or ovf:id), OperatingSystemSection
 * (vmw:osType or its Description, as the OS class), vmw:Config firmware,
 * and the VirtualHardwareSection Items: CPU (3), memory (4) with its
 * AllocationUnits, Ethernet (10: ResourceSubType E1000*, Connection,
 * Address), disk (17: HostResource ovf:/disk/ID -> Disk fileRef -> File
 * href), CD/DVD (15, 16: an ISO in the package); controllers (5, 6, 20)
 * are understood and need nothing; other Items are listed on stderr.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"

#include "create.h"

#define OVF_MAX_XML (4u << 20)
#define OVF_MAX_MF (1u << 20)
#define OVF_MAX_ITEMS 256
#define OVF_MAX_REFS 32
#define OVF_MAX_DEPTH 64
#define OVF_TEXT 1024

struct ovf_item {
	int type;
	char quantity[32], units[64], host[256], subtype[64];
	char connection[128], address[64], name[128];
	int line;
};

struct ovf_ref {
	char id[128], href[256];
};

struct ovf {
	const char *name;               /* for messages */
	XML_Parser xp;
	struct vm_err *err;
	int failed;
	char stack[OVF_MAX_DEPTH][64];
	int depth;
	char text[OVF_TEXT];
	size_t ntext;
	struct ovf_item *items;
	int nitems;
	struct ovf_item cur;
	bool in_item;
	struct ovf_ref files[OVF_MAX_REFS], disks[OVF_MAX_REFS];
	int nfiles, ndisks;
	char os_type[128], os_desc[128], sys_name[128], sys_id[128];
	char firmware[16];
};

/* ---- digests ------------------------------------------------------------ */

struct digest {
	int alg;
	struct sha1_ctx s1;
	struct sha256_ctx s256;
};

static void
dg_init(struct digest *d, int alg)
{
	d->alg = alg;
	if (alg == 1)
		sha1_init(&d->s1);
	else if (alg == 256)
		sha256_init(&d->s256);
}

static void
dg_update(struct digest *d, const void *p, size_t n)
{
	if (d->alg == 1)
		sha1_update(&d->s1, n, p);
	else if (d->alg == 256)
		sha256_update(&d->s256, n, p);
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Finish d and compare with f's digest; the error names pkg and f. */
static int
dg_check(struct digest *d, const struct ova_file *f, const char *pkg,
    struct vm_err *err)
{
	char want[65], got[65];
	uint8_t out[32];
	size_t n = d->alg == 1 ? 20 : 32;

	if (d->alg == 0)
		return 0;
	if (d->alg == 1)
		sha1_digest(&d->s1, 20, out);
	else
		sha256_digest(&d->s256, 32, out);
	if (memcmp(out, f->digest, n) == 0)
		return 0;
	hex(f->digest, n, want);
	hex(out, n, got);
	return vm_err_set(err, -EINVAL, "%s: %s: %s digest mismatch (the "
	    "manifest says %.16s..., the file has %.16s...)", pkg, f->name,
	    d->alg == 1 ? "SHA1" : "SHA256", want, got);
}

static struct ova_file *
find_file(struct ova *o, const char *name)
{
	int i;

	for (i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i].name, name) == 0)
			return &o->files[i];
	return NULL;
}

/* "SHA256(disk.vmdk)= 0123..." lines into the digests of o's files
 * (which must already be listed); a line for no such file is an error
 * when strict (an OVA, whose members are all listed), skipped if not. */
static int
parse_manifest(struct ova *o, char *buf, const char *mf, bool strict,
    struct vm_err *err)
{
	char *line, *save = NULL, *close, *p;
	struct ova_file *f;
	int ln = 0, alg;
	size_t i, n;

	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		ln++;
		line[strcspn(line, "\r")] = '\0';
		if (*line == '\0')
			continue;
		if (strncmp(line, "SHA1(", 5) == 0)
			alg = 1, p = line + 5;
		else if (strncmp(line, "SHA256(", 7) == 0)
			alg = 256, p = line + 7;
		else
			return vm_err_set(err, -EINVAL, "%s:%d: not a SHA1 or "
			    "SHA256 line", mf, ln);
		close = strstr(p, ")=");
		if (close == NULL)
			return vm_err_set(err, -EINVAL, "%s:%d: expected "
			    "ALG(file)= digest", mf, ln);
		*close = '\0';
		f = find_file(o, p);
		if (f == NULL && !strict)
			continue;
		if (f == NULL)
			return vm_err_set(err, -EINVAL, "%s:%d: '%.60s' is not "
			    "in the package", mf, ln, p);
		for (p = close + 2; *p == ' '; p++)
			;
		n = alg == 1 ? 20 : 32;
		if (strlen(p) != 2 * n || strspn(p, "0123456789abcdefABCDEF") !=
		    2 * n)
			return vm_err_set(err, -EINVAL, "%s:%d: not a %s digest",
			    mf, ln, alg == 1 ? "SHA1" : "SHA256");
		for (i = 0; i < n; i++) {
			unsigned v;

			sscanf(p + 2 * i, "%2x", &v);
			f->digest[i] = (uint8_t)v;
		}
		f->alg = alg;
	}
	return 0;
}

/* ---- the descriptor ------------------------------------------------------ */

static const char *
local(const char *name)
{
	const char *s = strrchr(name, ' ');

	return s ? s + 1 : name;
}

static const char *
attr(const char **atts, const char *want)
{
	int i;

	for (i = 0; atts[i]; i += 2)
		if (strcmp(local(atts[i]), want) == 0)
			return atts[i + 1];
	return NULL;
}

static void
ovf_fail(struct ovf *o, const char *msg)
{
	if (o->failed)
		return;
	vm_err_set(o->err, -EINVAL, "%s:%lu: %s", o->name,
	    (unsigned long)XML_GetCurrentLineNumber(o->xp), msg);
	o->failed = 1;
	XML_StopParser(o->xp, XML_FALSE);
}

static const char *
parent(const struct ovf *o)
{
	return o->depth >= 2 ? o->stack[o->depth - 2] : "";
}

static void
add_ref(struct ovf *o, struct ovf_ref *list, int *n, const char *id,
    const char *val, const char *what)
{
	if (id == NULL || val == NULL) {
		ovf_fail(o, what[0] == 'F' ? "a File without ovf:id or "
		    "ovf:href" : "a Disk without ovf:diskId or ovf:fileRef");
		return;
	}
	if (*n == OVF_MAX_REFS || strlen(id) >= sizeof(list->id) ||
	    strlen(val) >= sizeof(list->href)) {
		ovf_fail(o, "too many or too long File or Disk entries");
		return;
	}
	snprintf(list[*n].id, sizeof(list->id), "%s", id);
	snprintf(list[*n].href, sizeof(list->href), "%s", val);
	(*n)++;
}

static void XMLCALL
on_start(void *ud, const char *name, const char **atts)
{
	struct ovf *o = ud;
	const char *n = local(name), *v;

	if (o->depth == OVF_MAX_DEPTH) {
		ovf_fail(o, "nested too deeply");
		return;
	}
	snprintf(o->stack[o->depth++], sizeof(o->stack[0]), "%s", n);
	o->ntext = 0;
	if (strcmp(n, "File") == 0 && strcmp(parent(o), "References") == 0)
		add_ref(o, o->files, &o->nfiles, attr(atts, "id"),
		    attr(atts, "href"), "File");
	else if (strcmp(n, "Disk") == 0 &&
	    strcmp(parent(o), "DiskSection") == 0)
		add_ref(o, o->disks, &o->ndisks, attr(atts, "diskId"),
		    attr(atts, "fileRef"), "Disk");
	else if ((strcmp(n, "Item") == 0 || strcmp(n, "StorageItem") == 0 ||
	    strcmp(n, "EthernetPortItem") == 0) &&
	    strcmp(parent(o), "VirtualHardwareSection") == 0) {
		memset(&o->cur, 0, sizeof(o->cur));
		o->cur.line = (int)XML_GetCurrentLineNumber(o->xp);
		o->in_item = true;
	} else if (strcmp(n, "OperatingSystemSection") == 0 &&
	    (v = attr(atts, "osType")) != NULL) {
		snprintf(o->os_type, sizeof(o->os_type), "%s", v);
	} else if (strcmp(n, "VirtualSystem") == 0 &&
	    (v = attr(atts, "id")) != NULL) {
		snprintf(o->sys_id, sizeof(o->sys_id), "%s", v);
	} else if (strcmp(n, "Config") == 0 &&
	    (v = attr(atts, "key")) != NULL && strcmp(v, "firmware") == 0 &&
	    (v = attr(atts, "value")) != NULL) {
		snprintf(o->firmware, sizeof(o->firmware), "%s", v);
	}
}

static void
item_field(struct ovf *o, const char *n, const char *t)
{
	struct ovf_item *it = &o->cur;
	struct { const char *name; char *dst; size_t len; } f[] = {
		{ "VirtualQuantity", it->quantity, sizeof(it->quantity) },
		{ "AllocationUnits", it->units, sizeof(it->units) },
		{ "HostResource", it->host, sizeof(it->host) },
		{ "ResourceSubType", it->subtype, sizeof(it->subtype) },
		{ "Connection", it->connection, sizeof(it->connection) },
		{ "Address", it->address, sizeof(it->address) },
		{ "ElementName", it->name, sizeof(it->name) },
	};
	size_t i;

	if (strcmp(n, "ResourceType") == 0) {
		it->type = atoi(t);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(f); i++)
		if (strcmp(n, f[i].name) == 0)
			snprintf(f[i].dst, f[i].len, "%s", t);
}

static void XMLCALL
on_end(void *ud, const char *name)
{
	struct ovf *o = ud;
	const char *n = local(name);

	o->text[o->ntext < OVF_TEXT ? o->ntext : OVF_TEXT - 1] = '\0';
	if (o->in_item && (strcmp(n, "Item") == 0 ||
	    strcmp(n, "StorageItem") == 0 ||
	    strcmp(n, "EthernetPortItem") == 0)) {
		o->in_item = false;
		if (o->nitems == OVF_MAX_ITEMS)
			ovf_fail(o, "too many Items");
		else
			o->items[o->nitems++] = o->cur;
	} else if (o->in_item) {
		item_field(o, n, o->text);
	} else if (strcmp(n, "Name") == 0 &&
	    strcmp(parent(o), "VirtualSystem") == 0) {
		snprintf(o->sys_name, sizeof(o->sys_name), "%.127s",
		    o->text);
	} else if (strcmp(n, "Description") == 0 &&
	    strcmp(parent(o), "OperatingSystemSection") == 0) {
		snprintf(o->os_desc, sizeof(o->os_desc), "%.127s",
		    o->text);
	}
	o->ntext = 0;
	if (o->depth > 0)
		o->depth--;
}

static void XMLCALL
on_text(void *ud, const char *s, int len)
{
	struct ovf *o = ud;
	size_t n = (size_t)len;

	if (o->ntext + n >= OVF_TEXT)
		n = OVF_TEXT - 1 - o->ntext;
	memcpy(o->text + o->ntext, s, n);
	o->ntext += n;
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int internal)
{
	ovf_fail(ud, "a DOCTYPE is not allowed in an OVF descriptor");
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *v, int vl,
    const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
    const XML_Char *notation)
{
	ovf_fail(ud, "entity declarations are not allowed");
}

static int
parse_xml(struct ovf *o, const char *buf, size_t len)
{
	int ret = 0;

	o->xp = XML_ParserCreateNS(NULL, ' ');
	o->items = calloc(OVF_MAX_ITEMS, sizeof(*o->items));
	if (o->xp == NULL || o->items == NULL) {
		ret = vm_err_set(o->err, -ENOMEM, "out of memory");
		goto out;
	}
	XML_SetUserData(o->xp, o);
	XML_SetElementHandler(o->xp, on_start, on_end);
	XML_SetCharacterDataHandler(o->xp, on_text);
	XML_SetStartDoctypeDeclHandler(o->xp, on_doctype);
	XML_SetEntityDeclHandler(o->xp, on_entity);
	if (XML_Parse(o->xp, buf, (int)len, XML_TRUE) == XML_STATUS_ERROR &&
	    !o->failed)
		ret = vm_err_set(o->err, -EINVAL, "%s:%lu:%lu: malformed XML: "
		    "%s", o->name,
		    (unsigned long)XML_GetCurrentLineNumber(o->xp),
		    (unsigned long)XML_GetCurrentColumnNumber(o->xp) + 1,
		    XML_ErrorString(XML_GetErrorCode(o->xp)));
	if (o->failed)
		ret = o->err->code;
out:
	if (o->xp)
		XML_ParserFree(o->xp);
	return ret;
}

/* "byte * 2^20", "MegaBytes", ... as a shift; -1 if not understood. */
static int
units_shift(const char *u)
{
	int p;

	if (*u == '\0' || strcasecmp(u, "MegaBytes") == 0 ||
	    strcasecmp(u, "MB") == 0)
		return 20;
	if (strcasecmp(u, "GigaBytes") == 0 || strcasecmp(u, "GB") == 0)
		return 30;
	if (strcasecmp(u, "KiloBytes") == 0 || strcasecmp(u, "KB") == 0)
		return 10;
	if (strcasecmp(u, "byte") == 0 || strcasecmp(u, "bytes") == 0)
		return 0;
	if (sscanf(u, "byte * 2^%d", &p) == 1 && p >= 0 && p <= 40)
		return p;
	return -1;
}

static const struct ovf_ref *
ref_by_id(const struct ovf_ref *list, int n, const char *id)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i].id, id) == 0)
			return &list[i];
	return NULL;
}

/* The File a HostResource ("ovf:/disk/ID", "ovf:/file/ID") names. */
static const char *
host_file(const struct ovf *o, const char *host)
{
	const struct ovf_ref *d, *f;
	const char *p;

	if ((p = strstr(host, "/disk/")) != NULL) {
		d = ref_by_id(o->disks, o->ndisks, p + 6);
		if (d == NULL)
			return NULL;
		f = ref_by_id(o->files, o->nfiles, d->href);
	} else if ((p = strstr(host, "/file/")) != NULL) {
		f = ref_by_id(o->files, o->nfiles, p + 6);
	} else {
		return NULL;
	}
	return f ? f->href : NULL;
}

static enum create_os
ovf_os(const struct ovf *o)
{
	const char *s = o->os_type[0] ? o->os_type : o->os_desc;
	static const char *const linuxes[] = { "linux", "ubuntu", "debian",
		"rhel", "centos", "fedora", "suse", "sles", "redhat", "oracle",
		"rocky", "alma", NULL };
	int i;

	if (strcasestr(s, "win") != NULL)
		return OS_WINDOWS;
	for (i = 0; linuxes[i]; i++)
		if (strcasestr(s, linuxes[i]) != NULL)
			return OS_LINUX;
	return OS_OTHER;
}

static int
map_disk(struct ovf *o, const struct ovf_item *it, struct vmx_vm *vm,
    bool cdrom)
{
	const char *href = host_file(o, it->host);

	if (href == NULL) {
		if (cdrom)
			return 0; /* an empty drive */
		return vm_err_set(o->err, -EINVAL, "%s:%d: disk '%.60s' names "
		    "no File in References", o->name, it->line, it->host);
	}
	if (vm->ndisks == CFG_MAX_DISKS)
		return vm_err_set(o->err, -EINVAL, "%s: more than %d disks",
		    o->name, CFG_MAX_DISKS);
	snprintf(vm->disks[vm->ndisks].file, sizeof(vm->disks[0].file), "%s",
	    href);
	vm->disks[vm->ndisks].cdrom = cdrom;
	vm->ndisks++;
	return 0;
}

static void
map_nic(struct ovf *o, const struct ovf_item *it, struct vmx_vm *vm)
{
	struct vmx_net *n;
	unsigned b[6];
	char tail;

	if (vm->nnets == CFG_MAX_NETS)
		return;
	n = &vm->nets[vm->nnets++];
	if (strcasestr(it->connection, "host") != NULL)
		strcpy(n->spec, "switch:hostonly");
	else
		strcpy(n->spec, "nat");
	if (strncasecmp(it->subtype, "e1000", 5) == 0)
		strcpy(n->model, "e1000");
	if (strlen(it->address) == 17 && sscanf(it->address,
	    "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
	    &b[5], &tail) == 6 && !(b[0] & 1))
		snprintf(n->mac, sizeof(n->mac), "%.17s", it->address);
}

static int
map_items(struct ovf *o, struct vmx_vm *vm)
{
	int i, sh, ret = 0;
	long long q;
	char *end;

	for (i = 0; ret == 0 && i < o->nitems; i++) {
		const struct ovf_item *it = &o->items[i];

		q = strtoll(it->quantity, &end, 10);
		switch (it->type) {
		case 3:
			if (*end || q < 1 || q > 64)
				return vm_err_set(o->err, -EINVAL, "%s:%d: CPUs: "
				    "'%s' is not from 1 to 64", o->name,
				    it->line, it->quantity);
			vm->cpus = (int)q;
			break;
		case 4:
			sh = units_shift(it->units);
			if (*end || sh < 0 || q <= 0 || q > (1LL << 40) >> sh ||
			    ((uint64_t)q << sh) < (16ULL << 20))
				return vm_err_set(o->err, -EINVAL, "%s:%d: "
				    "memory: '%s' '%s' is not a size from 16M "
				    "to 1T", o->name, it->line, it->quantity,
				    it->units);
			vm->memory = (uint64_t)q << sh;
			break;
		case 5: case 6: case 20:
			break;
		case 10:
			map_nic(o, it, vm);
			break;
		case 15: case 16: case 17:
			ret = map_disk(o, it, vm, it->type != 17);
			break;
		default:
			log_warnx("%s:%d: Item '%s' (ResourceType %d): not "
			    "understood, left out", o->name, it->line,
			    it->name, it->type);
		}
	}
	return ret;
}

static int
ovf_map(struct ovf *o, struct vmx_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->display_name, sizeof(vm->display_name), "%s",
	    o->sys_name[0] ? o->sys_name : o->sys_id);
	if (o->os_type[0] || o->os_desc[0]) {
		vm->have_os = true;
		vm->os = ovf_os(o);
	}
	if (strcasecmp(o->firmware, "efi") == 0)
		strcpy(vm->firmware, "uefi");
	else if (strcasecmp(o->firmware, "bios") == 0)
		strcpy(vm->firmware, "bios");
	return map_items(o, vm);
}

static int
parse_descriptor(const char *name, const char *buf, size_t len,
    struct vmx_vm *vm, struct vm_err *err)
{
	static struct ovf o;
	int ret;

	memset(&o, 0, sizeof(o));
	o.name = name;
	o.err = err;
	ret = parse_xml(&o, buf, len);
	if (ret == 0)
		ret = ovf_map(&o, vm);
	free(o.items);
	return ret;
}

/* ---- .ovf with its files beside it -------------------------------------- */

static int
read_file(const char *path, size_t max, char **bufp, size_t *lenp,
    struct vm_err *err)
{
	struct stat sb;
	char *buf;
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return vm_err_set(err, -EINVAL, "%s: not a regular file", path);
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		return vm_err_set(err, -EINVAL, "%s: too large", path);
	}
	buf[n] = '\0';
	*bufp = buf;
	*lenp = n;
	return 0;
}

/* A name inside a package: relative, no "..", no empty component. */
static bool
name_ok(const char *n)
{
	const char *p = n;

	if (*n == '\0' || *n == '/' || strlen(n) >= 256)
		return false;
	while (*p) {
		size_t l = strcspn(p, "/");

		if (l == 0 || (l == 2 && strncmp(p, "..", 2) == 0))
			return false;
		p += l;
		if (*p == '/')
			p++;
	}
	return true;
}

static int
hash_path(const char *path, struct ova_file *f, const char *pkg,
    struct vm_err *err)
{
	struct digest d;
	char buf[65536];
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	dg_init(&d, f->alg);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dg_update(&d, buf, (size_t)n);
	ret = n < 0 ? vm_err_errno(err, -errno, "%s", path) : 0;
	close(fd);
	return ret ? ret : dg_check(&d, f, pkg, err);
}

static int
import_ovf(const char *path, struct vmx_vm *vm, struct vm_err *err)
{
	static struct ova files;
	char dir[PATH_MAX], mf[PATH_MAX + 8], full[PATH_MAX * 2], *buf, *mbuf;
	char tmp[PATH_MAX];
	size_t len, mlen;
	struct digest d;
	int i, ret;

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	ret = read_file(path, OVF_MAX_XML, &buf, &len, err);
	if (ret < 0)
		return ret;
	ret = parse_descriptor(path, buf, len, vm, err);
	for (i = 0; ret == 0 && i < vm->ndisks; i++) {
		if (!name_ok(vm->disks[i].file)) {
			ret = vm_err_set(err, -EINVAL, "%s: '%.60s' is not a "
			    "relative file name", path, vm->disks[i].file);
			break;
		}
		snprintf(full, sizeof(full), "%s/%s", dir, vm->disks[i].file);
		if (realpath(full, vm->disks[i].file) == NULL)
			ret = vm_err_errno(err, -errno, "%s: %s", path, full);
	}
	/* The manifest beside it, NAME.mf, if there is one. */
	snprintf(mf, sizeof(mf), "%.*s.mf", (int)(strlen(path) -
	    (strlen(path) > 4 ? 4 : 0)), path);
	if (ret == 0 && access(mf, F_OK) == 0) {
		memset(&files, 0, sizeof(files));
		snprintf(tmp, sizeof(tmp), "%s", path);
		snprintf(files.files[0].name, sizeof(files.files[0].name), "%s",
		    basename(tmp));
		files.nfiles = 1;
		for (i = 0; i < vm->ndisks && files.nfiles < OVA_MAX_FILES; i++)
			snprintf(files.files[files.nfiles++].name, 256, "%s",
			    basename(strcpy(tmp, vm->disks[i].file)));
		ret = read_file(mf, OVF_MAX_MF, &mbuf, &mlen, err);
		if (ret == 0) {
			ret = parse_manifest(&files, mbuf, mf, false, err);
			free(mbuf);
		}
		if (ret == 0) {
			dg_init(&d, files.files[0].alg);
			dg_update(&d, buf, len);
			ret = dg_check(&d, &files.files[0], mf, err);
		}
		for (i = 0; ret == 0 && i < vm->ndisks; i++)
			ret = hash_path(vm->disks[i].file, &files.files[i + 1],
			    mf, err);
	}
	free(buf);
	return ret;
}

/* ---- .ova ---------------------------------------------------------------- */

static struct archive *
open_tar(const char *path, struct vm_err *err)
{
	struct archive *a = archive_read_new();

	if (a == NULL) {
		vm_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		vm_err_set(err, -EINVAL, "%s: %s", path,
		    archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static int
check_entry(struct archive_entry *e, const char *pkg, struct vm_err *err)
{
	const char *n = archive_entry_pathname(e);

	if (n == NULL || !name_ok(n))
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is an "
		    "absolute name or leaves the package (..): refused", pkg,
		    n ? n : "");
	if (archive_entry_hardlink(e) || archive_entry_symlink(e) ||
	    archive_entry_filetype(e) != AE_IFREG)
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is not a "
		    "regular file (a link, directory or device): refused", pkg,
		    n);
	if (strchr(n, '/') != NULL)
		return vm_err_set(err, -EINVAL, "%s: entry '%.80s' is in a "
		    "folder: OVA members are plain names", pkg, n);
	return 0;
}

/* Read up to max bytes of the current entry into a new buffer. */
static int
read_entry(struct archive *a, struct archive_entry *e, size_t max,
    const char *pkg, char **bufp, size_t *lenp, struct vm_err *err)
{
	la_int64_t size = archive_entry_size(e);
	la_ssize_t n;
	char *buf;

	if (size < 0 || (uint64_t)size > max)
		return vm_err_set(err, -EINVAL, "%s: %s: too large", pkg,
		    archive_entry_pathname(e));
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		return vm_err_set(err, -ENOMEM, "out of memory");
	n = archive_read_data(a, buf, (size_t)size);
	if (n != size) {
		free(buf);
		return vm_err_set(err, -EIO, "%s: %s: %s", pkg,
		    archive_entry_pathname(e), n < 0 ?
		    archive_error_string(a) : "truncated");
	}
	buf[size] = '\0';
	*bufp = buf;
	*lenp = (size_t)size;
	return 0;
}

/* Pass one: every entry checked and listed, the descriptor (first) and
 * the manifest read. */
static int
scan_ova(const char *path, struct ova *o, char **ovf, size_t *ovf_len,
    char **mf, size_t *mf_len, struct vm_err *err)
{
	struct archive_entry *e;
	struct archive *a;
	const char *n;
	int r, ret = 0;

	a = open_tar(path, err);
	if (a == NULL)
		return err->code;
	while (ret == 0 && (r = archive_read_next_header(a, &e)) ==
	    ARCHIVE_OK) {
		ret = check_entry(e, path, err);
		if (ret < 0)
			break;
		n = archive_entry_pathname(e);
		if (find_file(o, n) != NULL)
			ret = vm_err_set(err, -EINVAL, "%s: '%s' is in it "
			    "twice", path, n);
		else if (o->nfiles == OVA_MAX_FILES)
			ret = vm_err_set(err, -EINVAL, "%s: more than %d "
			    "files", path, OVA_MAX_FILES);
		if (ret < 0)
			break;
		snprintf(o->files[o->nfiles++].name, 256, "%s", n);
		if (o->nfiles == 1) {
			if (strlen(n) < 5 || strcasecmp(n + strlen(n) - 4,
			    ".ovf") != 0)
				ret = vm_err_set(err, -EINVAL, "%s: the first "
				    "entry, '%.60s', is not the .ovf "
				    "descriptor", path, n);
			else
				ret = read_entry(a, e, OVF_MAX_XML, path, ovf,
				    ovf_len, err);
		} else if (*mf == NULL && strlen(n) > 3 &&
		    strcasecmp(n + strlen(n) - 3, ".mf") == 0) {
			ret = read_entry(a, e, OVF_MAX_MF, path, mf, mf_len,
			    err);
		}
	}
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = vm_err_set(err, -EINVAL, "%s: %s", path,
		    archive_error_string(a));
	if (ret == 0 && o->nfiles == 0)
		ret = vm_err_set(err, -EINVAL, "%s: an empty archive", path);
	archive_read_free(a);
	return ret;
}

static int
import_ova(const char *path, struct vmx_vm *vm, struct ova *o,
    struct vm_err *err)
{
	char *ovf = NULL, *mf = NULL, name[300];
	size_t ovf_len = 0, mf_len = 0;
	struct ova_file *f;
	struct digest d;
	int i, ret;

	memset(o, 0, sizeof(*o));
	snprintf(o->path, sizeof(o->path), "%s", path);
	ret = scan_ova(path, o, &ovf, &ovf_len, &mf, &mf_len, err);
	for (i = 1; ret == 0 && mf && i < o->nfiles; i++) {
		size_t l = strlen(o->files[i].name);

		if (l > 3 && strcasecmp(o->files[i].name + l - 3, ".mf") == 0) {
			snprintf(name, sizeof(name), "%s:%s", path,
			    o->files[i].name);
			ret = parse_manifest(o, mf, name, true, err);
			break;
		}
	}
	if (ret == 0) {
		dg_init(&d, o->files[0].alg);
		dg_update(&d, ovf, ovf_len);
		ret = dg_check(&d, &o->files[0], path, err);
	}
	if (ret == 0) {
		snprintf(name, sizeof(name), "%s:%s", path, o->files[0].name);
		ret = parse_descriptor(name, ovf, ovf_len, vm, err);
	}
	for (i = 0; ret == 0 && i < vm->ndisks; i++) {
		f = find_file(o, vm->disks[i].file);
		if (f == NULL) {
			ret = vm_err_set(err, -ENOENT, "%s: disk '%.60s' is "
			    "not in the package", path, vm->disks[i].file);
			break;
		}
		if (mf && f->alg == 0)
			log_warnx("%s: %s: not in the manifest, not checked",
			    path, f->name);
		f->extract = true;
		vm->disks[i].in_bundle = true;
	}
	free(ovf);
	free(mf);
	return ret;
}

int
ovf_import(const char *path, struct vmx_vm *vm, struct ova *ova,
    struct vm_err *err)
{
	size_t n = strlen(path);

	if (n > 4 && strcasecmp(path + n - 4, ".ova") == 0)
		return import_ova(path, vm, ova, err);
	return import_ovf(path, vm, err);
}

static int
put(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
extract_one(struct archive *a, const struct ova_file *f, const char *dir,
    const char *pkg, struct vm_err *err)
{
	char path[CFG_PATH_MAX + 300], buf[65536];
	struct digest d;
	la_ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	dg_init(&d, f->alg);
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if ((ret = bundle_check_interrupt(err)) < 0)
			break;
		dg_update(&d, buf, (size_t)n);
		if ((ret = put(fd, buf, (size_t)n)) < 0) {
			ret = vm_err_errno(err, ret, "%s", path);
			break;
		}
	}
	if (ret == 0 && n < 0 && (ret = bundle_check_interrupt(err)) == 0)
		ret = vm_err_set(err, -EIO, "%s: %s: %s", pkg, f->name,
		    archive_error_string(a));
	if (ret == 0 && fsync(fd) < 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	close(fd);
	return ret ? ret : dg_check(&d, f, pkg, err);
}

int
ova_extract(const struct ova *o, const char *dir, struct vm_err *err)
{
	struct archive_entry *e;
	const struct ova_file *f;
	struct archive *a;
	int r, ret = 0;

	a = open_tar(o->path, err);
	if (a == NULL)
		return err->code;
	while (ret == 0 && (r = archive_read_next_header(a, &e)) ==
	    ARCHIVE_OK) {
		/* The archive may have changed since it was scanned. */
		ret = check_entry(e, o->path, err);
		if (ret < 0)
			break;
		f = find_file((struct ova *)o, archive_entry_pathname(e));
		if (f && f->extract)
			ret = extract_one(a, f, dir, o->path, err);
	}
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = vm_err_set(err, -EINVAL, "%s: %s", o->path,
		    archive_error_string(a));
	archive_read_free(a);
	return ret;
}
