/*
 * The OVF descriptor (DMTF DSP0243), parsed with expat: namespaces on,
 * elements matched by local name; a DOCTYPE or entity declaration is
 * refused, so no entity expansion can happen.
 *
 * Mapped: VirtualSystem Name (or ovf:id), OperatingSystemSection
 * (vmw:osType or its Description, as the OS class), the firmware (below),
 * and the VirtualHardwareSection Items: CPU (3), memory (4) with its
 * AllocationUnits, Ethernet (10: ResourceSubType E1000*, Connection,
 * Address; a Connection naming one word other than nat or bridged is a
 * vm-net switch of that name), disk (17: HostResource ovf:/disk/ID ->
 * Disk fileRef -> File href; a disk on a VirtioSCSI controller stays
 * virtio, others get the template's interface), CD/DVD (15, 16: an ISO
 * in the package); controllers (5, 6, 20) are understood and need
 * nothing; other Items are listed on stderr.
 *
 * The firmware comes from whichever of three places the exporter wrote:
 * VMware's vmw:Config or vmw:ExtraConfig with vmw:key="firmware" (ovftool
 * and vSphere write the first, older tools the second; value efi or
 * bios), the <Firmware type="EFI|BIOS"/> of the vbox:Machine section a
 * VirtualBox export embeds, or the HVM_boot_params entry of XenServer's
 * VirtualSystemOtherConfigurationData ("order=dc;firmware=uefi").  When
 * two disagree the first one read wins and the other is named on stderr.
 */
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"
#include "util/log.h"

#include "create.h"

#define OVF_MAX_ITEMS 256
#define OVF_MAX_REFS 32
#define OVF_MAX_DEPTH 64
#define OVF_TEXT 1024

struct ovf_item {
	int type;
	char quantity[32], units[64], host[256], subtype[64];
	char connection[128], address[64], name[128];
	char instance[32], parent[32];
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
	char firmware[8];               /* "uefi", "bios" or "" */
	char fw_from[40];               /* where firmware came from */
	char other_name[64];            /* VirtualSystemOtherConfigurationData */
	int machine_depth;              /* depth of vbox:Machine, 0 outside */
};

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

/*
 * A firmware value v (VMware's efi/bios, VirtualBox's EFI, EFI64,
 * EFIDUAL, BIOS, XenServer's uefi/bios) read from where: recorded unless
 * one was read already; a value that names no firmware vm-run has (EFI32:
 * 32-bit UEFI) is named on stderr and left out.
 */
static void
set_firmware(struct ovf *o, const char *v, const char *where)
{
	const char *fw = NULL;
	unsigned long line = (unsigned long)XML_GetCurrentLineNumber(o->xp);

	if (strcasecmp(v, "efi") == 0 || strcasecmp(v, "uefi") == 0 ||
	    strcasecmp(v, "efi64") == 0 || strcasecmp(v, "efidual") == 0)
		fw = "uefi";
	else if (strcasecmp(v, "bios") == 0)
		fw = "bios";
	if (fw == NULL) {
		log_warnx("%s:%lu: %s firmware '%.40s': not one vm-run has "
		    "(efi or bios), left out", o->name, line, where, v);
		return;
	}
	if (o->firmware[0] == '\0') {
		snprintf(o->firmware, sizeof(o->firmware), "%s", fw);
		snprintf(o->fw_from, sizeof(o->fw_from), "%s", where);
	} else if (strcmp(o->firmware, fw) != 0) {
		log_warnx("%s:%lu: %s firmware '%.40s' disagrees with %s's "
		    "(%s), which is kept", o->name, line, where, v,
		    o->fw_from, o->firmware);
	}
}

/* XenServer's HVM_boot_params value: "key=value;..." with firmware=. */
static void
xen_boot_params(struct ovf *o, const char *t)
{
	const char *p = t;
	char v[16];
	size_t n;

	while ((p = strstr(p, "firmware=")) != NULL) {
		if (p == t || p[-1] == ';' || p[-1] == ' ') {
			p += strlen("firmware=");
			n = strcspn(p, "; ");
			snprintf(v, sizeof(v), "%.*s", (int)(n < 15 ? n : 15),
			    p);
			set_firmware(o, v, "HVM_boot_params");
			return;
		}
		p++;
	}
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
	} else if ((strcmp(n, "Config") == 0 ||
	    strcmp(n, "ExtraConfig") == 0) &&
	    (v = attr(atts, "key")) != NULL && strcmp(v, "firmware") == 0 &&
	    (v = attr(atts, "value")) != NULL) {
		set_firmware(o, v, n[0] == 'C' ? "vmw:Config" :
		    "vmw:ExtraConfig");
	} else if (strcmp(n, "Machine") == 0 && o->machine_depth == 0) {
		o->machine_depth = o->depth;
	} else if (strcmp(n, "Firmware") == 0 && o->machine_depth > 0 &&
	    (v = attr(atts, "type")) != NULL) {
		set_firmware(o, v, "vbox:Machine");
	} else if (strcmp(n, "VirtualSystemOtherConfigurationData") == 0) {
		v = attr(atts, "Name");
		snprintf(o->other_name, sizeof(o->other_name), "%s",
		    v ? v : "");
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
		{ "InstanceID", it->instance, sizeof(it->instance) },
		{ "Parent", it->parent, sizeof(it->parent) },
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
	} else if (strcmp(n, "Value") == 0 &&
	    strcmp(parent(o), "VirtualSystemOtherConfigurationData") == 0 &&
	    strcmp(o->other_name, "HVM_boot_params") == 0) {
		xen_boot_params(o, o->text);
	}
	if (o->depth == o->machine_depth)
		o->machine_depth = 0;
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

/* A disk on a virtio-scsi controller (VirtualBox's subtype, and what
 * vm-create --export writes for virtio disks) stays virtio; any other
 * gets the template's interface. */
static bool
on_virtio(const struct ovf *o, const struct ovf_item *it)
{
	int i;

	for (i = 0; it->parent[0] && i < o->nitems; i++)
		if (strcmp(o->items[i].instance, it->parent) == 0)
			return o->items[i].type == 6 &&
			    (strcasecmp(o->items[i].subtype, "VirtioSCSI") == 0 ||
			    strcasecmp(o->items[i].subtype, "virtio-scsi") == 0);
	return false;
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
	if (!cdrom && on_virtio(o, it))
		strcpy(vm->disks[vm->ndisks].bus, "virtio");
	vm->ndisks++;
	return 0;
}

/* A network name that is a vm-net switch's: one word of letters,
 * digits, '.', '_', '-', and not one of VMware's and VirtualBox's words
 * for NAT and bridging ("VM Network" has a space), which get NAT. */
static bool
net_name_ok(const char *s)
{
	static const char *const nat[] = { "nat", "bridged", "bridge",
		"network", "default", NULL };
	int i;

	for (i = 0; nat[i]; i++)
		if (strcasecmp(s, nat[i]) == 0)
			return false;
	return *s && strlen(s) <= 56 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == strlen(s);
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
	else if (net_name_ok(it->connection))
		snprintf(n->spec, sizeof(n->spec), "switch:%.56s",
		    it->connection);
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
	snprintf(vm->firmware, sizeof(vm->firmware), "%s", o->firmware);
	return map_items(o, vm);
}

/*
 * Parse the OVF descriptor buf (name for messages: "x.ova:x.ovf") into
 * vm: disk files as the descriptor's hrefs, unresolved.  Items not
 * understood are listed on stderr.  0, or -EINVAL with err naming the
 * line.
 */
int
ovf_parse(const char *name, const char *buf, size_t len, struct vmx_vm *vm,
    struct vm_err *err)
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
