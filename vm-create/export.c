/*
 * OVA export: a bundle as an OVF 1.0 package (DMTF DSP0243 1.x).
 *
 * Each disk is first copied into a streamOptimized VMDK in a temporary
 * directory (beside OUT, or in $TMPDIR for stdout), so that every file's
 * size and SHA256 digest are known before the archive is begun.  Then
 * the descriptor NAME.ovf is made (References with each file's size,
 * DiskSection with capacity and populatedSize, NetworkSection, and a
 * VirtualSystem with its OperatingSystemSection and
 * VirtualHardwareSection: CPUs, memory, IDE and SCSI controllers, disks,
 * CD-ROMs, NICs), then the manifest NAME.mf (SHA256 of the descriptor
 * and of each file), and the ustar archive is written through libarchive
 * in the order DSP0243 sets: descriptor, manifest, then the files in
 * References order.  A file OUT is written as a temporary file renamed
 * into place at the end, and the temporary directory removed on every
 * path, so a failed export leaves nothing.
 *
 * The guest OS is not in vm.yaml; it is told from the devices the
 * templates pick (vm-create.1): a VGA console or a local-time RTC is
 * Windows, a virtio disk or NIC Linux, anything else "other".
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "util/err.h"
#include "util/io.h"
#include "util/log.h"
#include "util/version.h"

#include "create.h"

#define VMDK_STREAM_URL "http://www.vmware.com/interfaces/specifications/" \
	"vmdk.html#streamOptimized"
#define IDE_SLOTS 4                     /* two controllers, two units */

/* One file of the package after the descriptor and manifest. */
struct xfile {
	char name[300];                 /* in the package */
	char path[CFG_PATH_MAX + 320];  /* where its bytes are */
	uint64_t size;
	char sha256[65];
	/* disks: */
	bool cdrom;
	uint64_t capacity, populated;
	const struct cfg_disk *d;
};

struct xport {
	const struct vm_config *cfg;
	char tmp[CFG_PATH_MAX];         /* the temporary directory */
	struct xfile files[CFG_MAX_DISKS];
	int nfiles;
	char *ovf;                      /* the descriptor */
	size_t ovf_len;
	char mf[4096];
	struct vm_err *err;
};

/* ---- the files ---------------------------------------------------------- */

static int
hash_file(const char *path, struct xfile *f, struct vm_err *err)
{
	uint8_t buf[65536], out[32];
	struct digest d;
	struct stat sb;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return vm_err_set(err, -EINVAL, "%s: not a regular file", path);
	}
	dg_init(&d, 256);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if ((ret = bundle_check_interrupt(err)) < 0)
			break;
		dg_update(&d, buf, (size_t)n);
	}
	if (ret == 0 && n < 0)
		ret = vm_err_errno(err, -errno, "%s", path);
	close(fd);
	if (ret < 0)
		return ret;
	dg_final(&d, out);
	dg_hex(out, 32, f->sha256);
	f->size = (uint64_t)sb.st_size;
	return 0;
}

/* Disk d as a streamOptimized VMDK at f->path. */
static int
make_vmdk(const struct cfg_disk *d, struct xfile *f, struct vm_err *err)
{
	struct blk_create_opts o = { 0 };
	struct blk *src, *dst;
	int ret;

	src = blk_open(d->file, d->format[0] ? d->format : NULL,
	    BLK_F_RDONLY, err);
	if (src == NULL)
		return err->code ? err->code : -EIO;
	o.size = src->size;
	o.subformat = "streamOptimized";
	f->capacity = src->size;
	ret = blk_create(f->path, "vmdk", &o, err);
	if (ret == 0) {
		dst = blk_open(f->path, "vmdk", 0, err);
		if (dst == NULL) {
			ret = err->code ? err->code : -EIO;
		} else {
			ret = bundle_copy_image(src, dst, true, &f->populated,
			    err);
			blk_close(dst);
		}
	}
	blk_close(src);
	return ret;
}

static int
make_files(struct xport *x)
{
	const struct vm_config *cfg = x->cfg;
	int i, ret = 0, ndisk = 0, ncd = 0;

	for (i = 0; ret == 0 && i < cfg->ndisks; i++) {
		const struct cfg_disk *d = &cfg->disks[i];
		struct xfile *f = &x->files[x->nfiles++];

		memset(f, 0, sizeof(*f));
		f->d = d;
		f->cdrom = d->media == CFG_MEDIA_CDROM;
		if (f->cdrom) {
			snprintf(f->name, sizeof(f->name), "%s-cdrom%d.iso",
			    cfg->name, ++ncd);
			snprintf(f->path, sizeof(f->path), "%s", d->file);
		} else {
			snprintf(f->name, sizeof(f->name), "%s-disk%d.vmdk",
			    cfg->name, ++ndisk);
			snprintf(f->path, sizeof(f->path), "%s/%s-disk%d.vmdk",
			    x->tmp, cfg->name, ndisk);
			ret = make_vmdk(d, f, x->err);
		}
		if (ret == 0)
			ret = hash_file(f->path, f, x->err);
	}
	return ret;
}

/* ---- the descriptor ----------------------------------------------------- */

/* s with &, <, >, " and ' as XML entities. */
static void
xml_str(FILE *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		case '\'': fputs("&apos;", o); break;
		default: fputc(*s, o);
		}
	}
}

static enum create_os
guess_os(const struct vm_config *cfg)
{
	int i;

	if (cfg->console == CFG_CONSOLE_VGA || cfg->rtc_localtime)
		return OS_WINDOWS;
	for (i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].media == CFG_MEDIA_DISK &&
		    cfg->disks[i].interface == CFG_IF_VIRTIO)
			return OS_LINUX;
	for (i = 0; i < cfg->nnets; i++)
		if (strcmp(cfg->nets[i].model, "virtio") == 0)
			return OS_LINUX;
	return OS_OTHER;
}

/* The OVF network a NIC is on: nat, a switch's name, or (a host tap
 * device) "bridged". */
static const char *
net_name(const struct cfg_net *n)
{
	if (strncmp(n->spec, "switch:", 7) == 0)
		return n->spec + 7;
	if (strncmp(n->spec, "tap:", 4) == 0)
		return "bridged";
	return n->spec;
}

static void
rasd(FILE *o, const char *key, const char *val)
{
	fprintf(o, "        <rasd:%s>", key);
	xml_str(o, val);
	fprintf(o, "</rasd:%s>\n", key);
}

static void
rasd_u(FILE *o, const char *key, unsigned long long v)
{
	fprintf(o, "        <rasd:%s>%llu</rasd:%s>\n", key, v, key);
}

static void
ovf_header(FILE *o, const struct xport *x)
{
	const struct vm_config *cfg = x->cfg;
	const char *seen[CFG_MAX_NETS];
	int i, k, nseen = 0, ndisk = 0;

	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!-- written by vm-create %s -->\n"
	    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
	    "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "
	    "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_ResourceAllocationSettingData\" "
	    "xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	    "CIM_VirtualSystemSettingData\" "
	    "xmlns:vmw=\"http://www.vmware.com/schema/ovf\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
	    "  <References>\n", VMKIT_VERSION);
	for (i = 0; i < x->nfiles; i++) {
		fprintf(o, "    <File ovf:href=\"");
		xml_str(o, x->files[i].name);
		fprintf(o, "\" ovf:id=\"file%d\" ovf:size=\"%llu\"/>\n", i + 1,
		    (unsigned long long)x->files[i].size);
	}
	fprintf(o, "  </References>\n  <DiskSection>\n"
	    "    <Info>Virtual disk information</Info>\n");
	for (i = 0; i < x->nfiles; i++) {
		if (x->files[i].cdrom)
			continue;
		fprintf(o, "    <Disk ovf:capacity=\"%llu\" "
		    "ovf:capacityAllocationUnits=\"byte\" "
		    "ovf:diskId=\"vmdisk%d\" ovf:fileRef=\"file%d\" "
		    "ovf:format=\"%s\" ovf:populatedSize=\"%llu\"/>\n",
		    (unsigned long long)x->files[i].capacity, ++ndisk, i + 1,
		    VMDK_STREAM_URL, (unsigned long long)x->files[i].populated);
	}
	fprintf(o, "  </DiskSection>\n");
	if (cfg->nnets == 0)
		return;
	fprintf(o, "  <NetworkSection>\n"
	    "    <Info>The logical networks used</Info>\n");
	for (i = 0; i < cfg->nnets; i++) {
		const char *n = net_name(&cfg->nets[i]);

		for (k = 0; k < nseen && strcmp(seen[k], n) != 0; k++)
			;
		if (k < nseen)
			continue;
		seen[nseen++] = n;
		fprintf(o, "    <Network ovf:name=\"");
		xml_str(o, n);
		fprintf(o, "\">\n      <Description>");
		if (strcmp(cfg->nets[i].spec, "nat") == 0)
			fprintf(o, "user-mode NAT");
		else if (strncmp(cfg->nets[i].spec, "tap:", 4) == 0)
			fprintf(o, "a host tap device");
		else
			fprintf(o, "the vm-net switch %s", n);
		fprintf(o, "</Description>\n    </Network>\n");
	}
	fprintf(o, "  </NetworkSection>\n");
}

static void
ovf_os(FILE *o, const struct vm_config *cfg)
{
	/* CIM_OperatingSystem OsType: 1 Other, 101 Linux 64-Bit, 105
	 * Microsoft Windows Server 2008 64-Bit; vmw:osType as VMware
	 * names its guests. */
	static const struct { int id; const char *vmw, *desc; } os[] = {
		[OS_LINUX] = { 101, "otherLinux64Guest", "Linux 64-Bit" },
		[OS_WINDOWS] = { 105, "windows9_64Guest",
		    "Microsoft Windows 64-Bit" },
		[OS_OTHER] = { 1, "otherGuest", "Other" },
	};
	enum create_os g = guess_os(cfg);

	fprintf(o, "    <OperatingSystemSection ovf:id=\"%d\" "
	    "vmw:osType=\"%s\">\n"
	    "      <Info>The kind of installed guest operating system</Info>\n"
	    "      <Description>%s</Description>\n"
	    "    </OperatingSystemSection>\n", os[g].id, os[g].vmw,
	    os[g].desc);
}

/* The hardware Items; InstanceIDs from 1, controllers before their
 * devices.  -EINVAL if the IDE devices do not fit two controllers. */
static int
ovf_hardware(FILE *o, const struct xport *x)
{
	const struct vm_config *cfg = x->cfg;
	int i, id = 1, nide = 0, nscsi = 0, ide_id = 0, scsi_id = 0;
	int ide_n = 0, scsi_n = 0, ndisk = 0, ncd = 0;
	char buf[64];

	for (i = 0; i < x->nfiles; i++) {
		if (x->files[i].cdrom ||
		    x->files[i].d->interface == CFG_IF_IDE)
			nide++;
		else
			nscsi++;
	}
	if (nide > IDE_SLOTS)
		return vm_err_set(x->err, -EINVAL, "%s: %d IDE disks and "
		    "CD-ROMs: an OVF machine has %d IDE slots", cfg->path,
		    nide, IDE_SLOTS);
	fprintf(o, "    <VirtualHardwareSection>\n"
	    "      <Info>Virtual hardware requirements</Info>\n"
	    "      <System>\n"
	    "        <vssd:ElementName>Virtual Hardware Family"
	    "</vssd:ElementName>\n"
	    "        <vssd:InstanceID>0</vssd:InstanceID>\n"
	    "        <vssd:VirtualSystemIdentifier>");
	xml_str(o, cfg->name);
	fprintf(o, "</vssd:VirtualSystemIdentifier>\n"
	    "        <vssd:VirtualSystemType>vmx-07</vssd:VirtualSystemType>\n"
	    "      </System>\n");
	/* rasd elements in the schema's (alphabetical) order. */
	fprintf(o, "      <Item>\n");
	rasd(o, "AllocationUnits", "hertz * 10^6");
	snprintf(buf, sizeof(buf), "%d virtual CPU(s)", cfg->cpus);
	rasd(o, "ElementName", buf);
	rasd_u(o, "InstanceID", (unsigned)id++);
	rasd_u(o, "ResourceType", 3);
	rasd_u(o, "VirtualQuantity", (unsigned)cfg->cpus);
	fprintf(o, "      </Item>\n      <Item>\n");
	if (cfg->memory % (1ULL << 20) == 0) {
		rasd(o, "AllocationUnits", "byte * 2^20");
		snprintf(buf, sizeof(buf), "%llu MB of memory",
		    (unsigned long long)(cfg->memory >> 20));
	} else {
		rasd(o, "AllocationUnits", "byte");
		snprintf(buf, sizeof(buf), "%llu bytes of memory",
		    (unsigned long long)cfg->memory);
	}
	rasd(o, "ElementName", buf);
	rasd_u(o, "InstanceID", (unsigned)id++);
	rasd_u(o, "ResourceType", 4);
	rasd_u(o, "VirtualQuantity", cfg->memory % (1ULL << 20) == 0 ?
	    cfg->memory >> 20 : cfg->memory);
	fprintf(o, "      </Item>\n");
	for (i = 0; i * 2 < nide; i++) {
		fprintf(o, "      <Item>\n");
		rasd_u(o, "Address", (unsigned)i);
		snprintf(buf, sizeof(buf), "IDE controller %d", i);
		rasd(o, "ElementName", buf);
		if (i == 0)
			ide_id = id;
		rasd_u(o, "InstanceID", (unsigned)id++);
		rasd(o, "ResourceSubType", "PIIX4");
		rasd_u(o, "ResourceType", 5);
		fprintf(o, "      </Item>\n");
	}
	if (nscsi) {
		fprintf(o, "      <Item>\n");
		rasd_u(o, "Address", 0);
		rasd(o, "ElementName", "SCSI controller 0");
		scsi_id = id;
		rasd_u(o, "InstanceID", (unsigned)id++);
		rasd(o, "ResourceSubType", "VirtioSCSI");
		rasd_u(o, "ResourceType", 6);
		fprintf(o, "      </Item>\n");
	}
	for (i = 0; i < x->nfiles; i++) {
		const struct xfile *f = &x->files[i];
		bool ide = f->cdrom || f->d->interface == CFG_IF_IDE;
		int unit = ide ? ide_n++ : scsi_n++;

		fprintf(o, "      <Item>\n");
		rasd_u(o, "AddressOnParent", (unsigned)(ide ? unit % 2 : unit));
		if (f->cdrom) {
			rasd(o, "AutomaticAllocation", "true");
			snprintf(buf, sizeof(buf), "CD-ROM %d", ++ncd);
			rasd(o, "ElementName", buf);
			snprintf(buf, sizeof(buf), "ovf:/file/file%d", i + 1);
		} else {
			snprintf(buf, sizeof(buf), "Hard disk %d", ++ndisk);
			rasd(o, "ElementName", buf);
			snprintf(buf, sizeof(buf), "ovf:/disk/vmdisk%d", ndisk);
		}
		rasd(o, "HostResource", buf);
		rasd_u(o, "InstanceID", (unsigned)id++);
		rasd_u(o, "Parent", (unsigned)(ide ? ide_id + unit / 2 :
		    scsi_id));
		rasd_u(o, "ResourceType", f->cdrom ? 15 : 17);
		fprintf(o, "      </Item>\n");
	}
	for (i = 0; i < cfg->nnets; i++) {
		const struct cfg_net *n = &cfg->nets[i];

		fprintf(o, "      <Item>\n");
		if (n->mac[0])
			rasd(o, "Address", n->mac);
		rasd(o, "AutomaticAllocation", "true");
		rasd(o, "Connection", net_name(n));
		snprintf(buf, sizeof(buf), "Network adapter %d", i + 1);
		rasd(o, "ElementName", buf);
		rasd_u(o, "InstanceID", (unsigned)id++);
		rasd(o, "ResourceSubType", strcmp(n->model, "e1000") == 0 ?
		    "E1000" : "virtio-net");
		rasd_u(o, "ResourceType", 10);
		fprintf(o, "      </Item>\n");
	}
	if (strcmp(cfg->boot.firmware, "uefi") == 0)
		fprintf(o, "      <vmw:Config ovf:required=\"false\" "
		    "vmw:key=\"firmware\" vmw:value=\"efi\"/>\n");
	fprintf(o, "    </VirtualHardwareSection>\n");
	return 0;
}

static int
make_ovf(struct xport *x)
{
	const struct vm_config *cfg = x->cfg;
	FILE *o;
	int ret;

	o = open_memstream(&x->ovf, &x->ovf_len);
	if (o == NULL)
		return vm_err_set(x->err, -ENOMEM, "out of memory");
	ovf_header(o, x);
	fprintf(o, "  <VirtualSystem ovf:id=\"");
	xml_str(o, cfg->name);
	fprintf(o, "\">\n    <Info>A virtual machine</Info>\n    <Name>");
	xml_str(o, cfg->name);
	fprintf(o, "</Name>\n");
	ovf_os(o, cfg);
	ret = ovf_hardware(o, x);
	fprintf(o, "  </VirtualSystem>\n</Envelope>\n");
	if (fclose(o) != 0 && ret == 0)
		ret = vm_err_set(x->err, -ENOMEM, "out of memory");
	return ret;
}

static void
make_mf(struct xport *x)
{
	uint8_t out[32];
	char hex[65];
	struct digest d;
	size_t p;
	int i;

	dg_init(&d, 256);
	dg_update(&d, x->ovf, x->ovf_len);
	dg_final(&d, out);
	dg_hex(out, 32, hex);
	p = (size_t)snprintf(x->mf, sizeof(x->mf), "SHA256(%s.ovf)= %s\n",
	    x->cfg->name, hex);
	for (i = 0; i < x->nfiles && p < sizeof(x->mf); i++)
		p += (size_t)snprintf(x->mf + p, sizeof(x->mf) - p,
		    "SHA256(%s)= %s\n", x->files[i].name, x->files[i].sha256);
}

/* ---- the archive -------------------------------------------------------- */

static int
ar_fail(struct xport *x, struct archive *a, const char *what)
{
	return vm_err_set(x->err, -EIO, "%s: %s", what,
	    archive_error_string(a) ? archive_error_string(a) :
	    "cannot write");
}

static int
ar_header(struct xport *x, struct archive *a, const char *name,
    uint64_t size, const char *out)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (e == NULL)
		return vm_err_set(x->err, -ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : ar_fail(x, a, out);
}

static int
ar_data(struct xport *x, struct archive *a, const void *p, size_t n,
    const char *out)
{
	const char *c = p;
	la_ssize_t w;

	while (n > 0) {
		w = archive_write_data(a, c, n);
		if (w <= 0)
			return ar_fail(x, a, out);
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* f's bytes as the next entry; the file must still be what was hashed. */
static int
ar_file(struct xport *x, struct archive *a, const struct xfile *f,
    const char *out)
{
	static uint8_t buf[1 << 16];
	uint64_t done = 0;
	ssize_t n = 0;
	int fd, ret;

	if ((ret = ar_header(x, a, f->name, f->size, out)) < 0)
		return ret;
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(x->err, -errno, "%s", f->path);
	while (ret == 0 && done < f->size &&
	    (n = read(fd, buf, sizeof(buf))) > 0) {
		if ((uint64_t)n > f->size - done)
			n = (ssize_t)(f->size - done);
		if ((ret = bundle_check_interrupt(x->err)) == 0)
			ret = ar_data(x, a, buf, (size_t)n, out);
		done += (uint64_t)n;
	}
	if (ret == 0 && n < 0)
		ret = vm_err_errno(x->err, -errno, "%s", f->path);
	else if (ret == 0 && done < f->size)
		ret = vm_err_set(x->err, -EIO, "%s: shrank while being "
		    "exported", f->path);
	close(fd);
	return ret;
}

/* The package on fd (out names it in messages). */
static int
write_tar(struct xport *x, int fd, const char *out)
{
	char name[80];
	struct archive *a;
	int i, ret;

	a = archive_write_new();
	if (a == NULL)
		return vm_err_set(x->err, -ENOMEM, "out of memory");
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		ret = ar_fail(x, a, out);
		archive_write_free(a);
		return ret;
	}
	snprintf(name, sizeof(name), "%s.ovf", x->cfg->name);
	ret = ar_header(x, a, name, x->ovf_len, out);
	if (ret == 0)
		ret = ar_data(x, a, x->ovf, x->ovf_len, out);
	snprintf(name, sizeof(name), "%s.mf", x->cfg->name);
	if (ret == 0)
		ret = ar_header(x, a, name, strlen(x->mf), out);
	if (ret == 0)
		ret = ar_data(x, a, x->mf, strlen(x->mf), out);
	for (i = 0; ret == 0 && i < x->nfiles; i++)
		ret = ar_file(x, a, &x->files[i], out);
	if (ret == 0 && archive_write_close(a) != ARCHIVE_OK)
		ret = ar_fail(x, a, out);
	archive_write_free(a);
	return ret;
}

/* ---- the whole -------------------------------------------------------- */

static int
load_bundle(const char *path, struct vm_config *cfg, struct vm_err *err)
{
	char yaml[CFG_PATH_MAX];
	struct stat sb;
	int ret;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if ((size_t)snprintf(yaml, sizeof(yaml), "%s/vm.yaml", path) >=
		    sizeof(yaml))
			return vm_err_set(err, -ENAMETOOLONG, "%s: name too long",
			    path);
	} else {
		snprintf(yaml, sizeof(yaml), "%s", path);
	}
	cfg_defaults(cfg);
	ret = cfg_load(cfg, yaml, err);
	if (ret == 0)
		ret = cfg_validate(cfg, err);
	if (ret == 0 && cfg->name[0] == '\0')
		strcpy(cfg->name, "vm");
	if (ret == 0 && cfg->boot.kernel[0])
		log_warnx("%s: boots a kernel directly; the package holds its "
		    "disks and boots them with firmware", yaml);
	return ret;
}

/* The temporary directory: beside out, or in $TMPDIR for stdout. */
static int
make_tmp(struct xport *x, const char *out)
{
	const char *t = getenv("TMPDIR");
	char d1[CFG_PATH_MAX], d2[CFG_PATH_MAX];
	size_t n;

	if (strcmp(out, "-") == 0)
		n = (size_t)snprintf(x->tmp, sizeof(x->tmp),
		    "%s/vm-create-export.XXXXXX", t && *t ? t : "/tmp");
	else {
		snprintf(d1, sizeof(d1), "%s", out);
		snprintf(d2, sizeof(d2), "%s", out);
		n = (size_t)snprintf(x->tmp, sizeof(x->tmp), "%s/.%s.XXXXXX",
		    dirname(d1), basename(d2));
	}
	if (n >= sizeof(x->tmp))
		return vm_err_set(x->err, -ENAMETOOLONG, "%s: name too long",
		    out);
	if (mkdtemp(x->tmp) == NULL)
		return vm_err_errno(x->err, -errno, "%s: cannot make a "
		    "temporary directory", x->tmp);
	return 0;
}

/* The package into the temporary directory, then renamed to out. */
static int
write_out(struct xport *x, const char *out)
{
	char path[CFG_PATH_MAX + 16];
	mode_t mask;
	int fd, ret;

	if (strcmp(out, "-") == 0)
		return write_tar(x, 1, "stdout");
	snprintf(path, sizeof(path), "%s/package.ova", x->tmp);
	mask = umask(0);
	umask(mask);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0666 & ~mask);
	if (fd < 0)
		return vm_err_errno(x->err, -errno, "%s", path);
	ret = write_tar(x, fd, out);
	if (ret == 0 && fsync(fd) < 0)
		ret = vm_err_errno(x->err, -errno, "%s", out);
	if (close(fd) < 0 && ret == 0)
		ret = vm_err_errno(x->err, -errno, "%s", out);
	if (ret == 0 && (ret = io_rename_durable(path, out)) < 0)
		ret = vm_err_errno(x->err, ret, "%s", out);
	return ret;
}

int
ova_export(const char *path, const char *out, struct vm_err *err)
{
	static struct vm_config cfg;
	static struct xport x;
	int ret;

	memset(&x, 0, sizeof(x));
	x.cfg = &cfg;
	x.err = err;
	if (strcmp(out, "-") == 0 && isatty(1))
		return vm_err_set(err, -EINVAL, "-: stdout is a terminal; "
		    "redirect it to a file or a pipe");
	ret = load_bundle(path, &cfg, err);
	if (ret < 0)
		return ret;
	if ((ret = make_tmp(&x, out)) < 0)
		return ret;
	ret = make_files(&x);
	if (ret == 0)
		ret = make_ovf(&x);
	if (ret == 0) {
		make_mf(&x);
		ret = write_out(&x, out);
	}
	free(x.ovf);
	bundle_rmtree(x.tmp);
	return ret;
}
