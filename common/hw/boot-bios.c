/*
 * Firmware boot: a BIOS image (Debian's SeaBIOS) at the top of 4 GiB, its
 * last 128 KiB also at 0xE0000 behind the i440FX's shadow-RAM switches
 * (PAM), and the fw_cfg items it reads.  The vCPU starts at the reset
 * vector, as after power-on.
 *
 * The shadow: 0xC0000-0xFFFFF is one guest region of sixteen 16 KiB
 * segments (the F segment is four of them, switched together).  Each
 * segment's PAM field (i440FX datasheet, 3.2.18: bit 0 reads from RAM,
 * bit 1 writes to RAM) picks where reads and writes go.  The region's
 * bytes are what reads see: the RAM's contents for a segment that reads
 * RAM, the ROM's (the BIOS's last 128 KiB at 0xE0000, 0xff below) for one
 * that reads ROM, whose RAM contents wait in ram[].  The region is ROM
 * for the CPU back ends, so every write comes to shadow_write, which puts
 * it where PAM says: in the region (reads RAM, writes RAM), in ram[]
 * (reads ROM, writes RAM) or nowhere.  A PAM change swaps the affected
 * segments' bytes and tells the DBT its translations there are stale.
 *
 * A snapshot holds the regions' bytes as RAM (the image's ROM too) and,
 * in its "bios" section (bios_state), each segment's mode and the ram[]
 * of those reading ROM.  A restore reads no image: the ROM regions are
 * made the sizes the snapshot's were, its RAM fills them, and
 * bios_post_load takes rom[] from the image's region again.
 */
#include "hw/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "dev/dev.h"
#include "dev/fw-cfg.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "hw/smbios.h"
#include "mem/mem.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define SHADOW_BASE 0xc0000ULL
#define SHADOW_SIZE 0x40000ULL
#define SEG_SIZE 0x4000ULL
#define NSEG 16
#define ISA_BIOS_SIZE 0x20000ULL        /* the ROM seen at 0xE0000 */
#define BIOS_MAX (16ULL << 20)
/* After "No bootable device": reset after this long. */
#define BIOS_BOOT_FAIL_WAIT_MS 5000
#define PAM_READ 0x1
#define PAM_WRITE 0x2

struct pc_bios {
	struct vm *vm;
	uint8_t *live;                  /* the guest region's bytes */
	uint8_t ram[SHADOW_SIZE];       /* RAM of segments reading ROM */
	uint8_t rom[SHADOW_SIZE];
	uint8_t mode[NSEG];             /* PAM_READ | PAM_WRITE */
	struct uefi_flash *flash;       /* UEFI: the variable store */
};

const char *
bios_default_path(void)
{
	static const char *const paths[] = {
		"/usr/share/seabios/bios-256k.bin",
		"/usr/share/seabios/bios.bin",
	};
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

static void
shadow_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
	struct pc_bios *b = opaque;
	const uint8_t *src = buf;

	while (len) {
		uint64_t off = gpa - SHADOW_BASE;
		unsigned s = (unsigned)(off / SEG_SIZE);
		size_t n = SEG_SIZE - off % SEG_SIZE;

		if (off >= SHADOW_SIZE)
			return;
		if (n > len)
			n = len;
		/* Into what reads see: the writer (the DBT's memory path,
		 * mem_write) drops translations of it. */
		if ((b->mode[s] & PAM_WRITE) && (b->mode[s] & PAM_READ)) {
			memcpy(b->live + off, src, n);
		} else if (b->mode[s] & PAM_WRITE) {
			memcpy(b->ram + off, src, n);
		}
		gpa += n;
		src += n;
		len -= n;
	}
}

/*
 * The PAM registers changed: pam[0..6] are the host bridge's config bytes
 * 0x59-0x5f.  Segments whose read source changed swap their bytes.
 */
void
bios_pam_update(struct vm *vm, const uint8_t *pam)
{
	struct pc_bios *b = vm->bios;
	unsigned s;

	if (b == NULL)
		return;
	for (s = 0; s < NSEG; s++) {
		uint8_t m;
		uint64_t off = s * SEG_SIZE;

		if (s >= 12)
			m = (uint8_t)(pam[0] >> 4);
		else
			m = (uint8_t)(pam[1 + s / 2] >> (4 * (s % 2)));
		m &= PAM_READ | PAM_WRITE;
		if ((m ^ b->mode[s]) & PAM_READ) {
			if (m & PAM_READ) {
				memcpy(b->live + off, b->ram + off, SEG_SIZE);
			} else {
				memcpy(b->ram + off, b->live + off, SEG_SIZE);
				memcpy(b->live + off, b->rom + off, SEG_SIZE);
			}
			mem_notify_write(&vm->mem, SHADOW_BASE + off, SEG_SIZE);
		}
		b->mode[s] = m;
	}
	log_debug(LOG_BOOT, "PAM %02x %02x %02x %02x %02x %02x %02x", pam[0],
	    pam[1], pam[2], pam[3], pam[4], pam[5], pam[6]);
}

/*
 * Guest memory for a firmware boot: RAM below 0xC0000, the shadow
 * region, RAM from 1 MiB (and from 4 GiB past the PCI hole), and the
 * firmware image as ROM ending at 4 GiB.  The image is the file path:
 * a multiple of 64 KiB (a BIOS; 4 KiB for UEFI's code, whose flash has
 * 4 KiB blocks), at most 16 MiB.  path NULL (a restore): no file, a ROM
 * of vm->restore_fw_len bytes of 0xff for the snapshot to fill.
 */
int
bios_init_memory(struct vm *vm, const char *path, uint64_t low,
    struct vm_err *err)
{
	return fw_init_memory(vm, path, low, 0x10000, err);
}

int
fw_init_memory(struct vm *vm, const char *path, uint64_t low, uint64_t unit,
    struct vm_err *err)
{
	struct pc_bios *b;
	uint8_t *img = NULL;
	uint64_t len, isa;
	int ret;

	if (low < (2ULL << 20))
		return vm_err_set(err, -EINVAL, "firmware boot needs at "
		    "least 2 MiB of memory");
	if (path != NULL) {
		ret = boot_read_file(path, BIOS_MAX + 1, &img, &len, err);
		if (ret < 0)
			return ret;
	} else {
		len = vm->restore_fw_len;
		img = len > 0 && len <= BIOS_MAX ? malloc(len) : NULL;
		if (img != NULL)
			memset(img, 0xff, len);
		else if (len > 0 && len <= BIOS_MAX)
			return vm_err_set(err, -ENOMEM, "out of memory");
	}
	if (len == 0 || len % unit || len > BIOS_MAX) {
		free(img);
		return vm_err_set(err, -EINVAL, "%s: a firmware image is a "
		    "multiple of %llu KiB up to 16 MiB, not %llu bytes",
		    path != NULL ? path : "the snapshot's firmware ROM",
		    (unsigned long long)(unit >> 10), (unsigned long long)len);
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		free(img);
		return vm_err_set(err, -ENOMEM, "out of memory");
	}
	b->vm = vm;
	isa = len < ISA_BIOS_SIZE ? len : ISA_BIOS_SIZE;
	memset(b->rom, 0xff, sizeof(b->rom));
	memcpy(b->rom + SHADOW_SIZE - isa, img + len - isa, isa);
	vm->bios = b;
	/* With a VGA, its window 0xa0000-0xbffff is no RAM. */
	ret = mem_add_ram(&vm->mem, 0, pc_has_vga(vm->cfg) ? PC_LOWMEM_END :
	    SHADOW_BASE, "ram-low", err);
	if (ret == 0)
		ret = mem_add_rom(&vm->mem, SHADOW_BASE, SHADOW_SIZE, b->rom,
		    SHADOW_SIZE, "bios-shadow", err);
	if (ret == 0)
		ret = mem_add_ram(&vm->mem, PC_HIGHMEM, low - PC_HIGHMEM,
		    "ram", err);
	if (ret == 0)
		ret = mem_add_rom(&vm->mem, PC_HIGHRAM - len, len, img, len,
		    "bios", err);
	free(img);
	if (ret < 0)
		return ret;
	b->live = mem_gpa_to_hva(&vm->mem, SHADOW_BASE, SHADOW_SIZE);
	return mem_set_rom_write(&vm->mem, SHADOW_BASE, shadow_write, b);
}

/*
 * The shadow's state: each segment's PAM mode and the RAM of the
 * segments reading ROM (the others' RAM is the region's bytes, saved
 * with the RAM).  A dry walk (v->dry) checks into scratch.
 */
int
bios_state(struct pc_bios *b, struct snap_vis *v)
{
	static uint8_t scratch[SHADOW_SIZE];
	uint8_t mode[NSEG], *ram = v->dry ? scratch : b->ram;
	char name[16];
	unsigned s;

	memcpy(mode, b->mode, sizeof(mode));
	snap_bytes(v, "mode", mode, sizeof(mode));
	for (s = 0; s < NSEG; s++)
		snap_check(v, mode[s] <= (PAM_READ | PAM_WRITE), "mode",
		    "not a PAM setting");
	for (s = 0; s < NSEG && !v->failed; s++) {
		if (mode[s] & PAM_READ)
			continue;
		snprintf(name, sizeof(name), "ram%u", s);
		snap_bytes(v, name, ram + s * SEG_SIZE, SEG_SIZE);
	}
	if (v->load && !v->dry && !v->failed)
		memcpy(b->mode, mode, sizeof(mode));
	return v->failed;
}

/* After a snapshot's RAM: rom[] is the image's last 128 KiB again, from
 * the ROM region ending at 4 GiB (the snapshot's bytes of the image). */
void
bios_post_load(struct vm *vm)
{
	struct pc_bios *b = vm->bios;
	const struct mem_region *r = NULL;
	uint64_t isa;
	int i;

	if (b == NULL)
		return;
	for (i = 0; i < vm->mem.nr; i++)
		if (vm->mem.regions[i].gpa + vm->mem.regions[i].size ==
		    PC_HIGHRAM)
			r = &vm->mem.regions[i];
	if (r == NULL)
		return;
	isa = r->size < ISA_BIOS_SIZE ? r->size : ISA_BIOS_SIZE;
	memset(b->rom, 0xff, sizeof(b->rom));
	memcpy(b->rom + SHADOW_SIZE - isa, r->hva + r->size - isa, isa);
}

void
bios_set_flash(struct vm *vm, struct uefi_flash *f)
{
	if (vm->bios != NULL)
		vm->bios->flash = f;
}

void
bios_free(struct pc_bios *b)
{
	if (b != NULL)
		uefi_flash_free(b->flash);
	free(b);
}

/* QEMU's "etc/e820": 20-byte entries {addr, len, type}, RAM only. */
static int
add_e820(struct vm *vm, struct dev *fw, struct vm_err *err)
{
	uint8_t buf[2 * 20] = { 0 };
	uint64_t low = vm->ram_size, high = 0;
	size_t n = 20;

	if (low > PC_PCI_HOLE) {
		high = low - PC_PCI_HOLE;
		low = PC_PCI_HOLE;
	}
	memcpy(buf + 8, &low, 8);
	buf[16] = E820_RAM;
	if (high) {
		uint64_t a = PC_HIGHRAM;

		memcpy(buf + 20, &a, 8);
		memcpy(buf + 28, &high, 8);
		buf[36] = E820_RAM;
		n += 20;
	}
	return fw_cfg_add_file(fw, "etc/e820", buf, n, err);
}

#define IPXE_E1000_ROM "/usr/lib/ipxe/qemu/pxe-e1000.rom"
#define IPXE_VIRTIO_ROM "/usr/lib/ipxe/qemu/pxe-virtio.rom"

/* The ROM file at path as fw_cfg's name (a PCI device's romfile). */
static int
add_rom_file(struct dev *fw, const char *path, const char *name,
    struct vm_err *err)
{
	uint8_t *rom = NULL;
	uint64_t len;
	int ret;

	ret = boot_read_file(path, 1u << 20, &rom, &len, err);
	if (ret < 0)
		return ret;
	ret = fw_cfg_add_file(fw, name, rom, len, err);
	free(rom);
	return ret;
}

/* Debian's VGA BIOS for the stdvga, as "pci1234,1111.rom": SeaBIOS
 * runs a VGA device's romfile, telling it the device's PCI address. */
static int
add_vga_rom(struct dev *fw, struct vm_err *err)
{
	return add_rom_file(fw, "/usr/share/seabios/vgabios-stdvga.bin",
	    "pci1234,1111.rom", err);
}

/*
 * Network boot: NICs get iPXE's option ROMs from Debian's ipxe-qemu, an
 * e1000 the 82540EM's as "pci8086,100e.rom", a virtio NIC (1af4:1041,
 * virtio 1.x) iPXE's virtio-net ROM (built for 1af4:1000; its driver
 * takes the modern device too) as "pci1af4,1041.rom".  SeaBIOS runs a
 * PCI device's romfile; iPXE adds itself as a boot device of that NIC.
 * A boot order that names only the network with no such NIC is refused;
 * one that names it beside other classes gets a warning.
 */
static int
add_nic_roms(struct vm *vm, struct dev *fw, struct vm_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	bool e1000 = false, virtio = false, want_net = false;
	bool only_net = cfg->boot.norder > 0, have = false;
	int i, ret;

	for (i = 0; i < cfg->nnets; i++) {
		if (strcmp(cfg->nets[i].spec, "none") == 0)
			continue;
		if (strcmp(cfg->nets[i].model, "e1000") == 0)
			e1000 = true;
		else
			virtio = true;
	}
	for (i = 0; i < cfg->boot.norder; i++) {
		if (cfg->boot.order[i] == CFG_BOOT_NET)
			want_net = true;
		else
			only_net = false;
	}
	if (e1000 && access(IPXE_E1000_ROM, R_OK) == 0) {
		ret = add_rom_file(fw, IPXE_E1000_ROM, "pci8086,100e.rom", err);
		if (ret < 0)
			return ret;
		have = true;
	}
	if (virtio && access(IPXE_VIRTIO_ROM, R_OK) == 0) {
		ret = add_rom_file(fw, IPXE_VIRTIO_ROM, "pci1af4,1041.rom",
		    err);
		if (ret < 0)
			return ret;
		have = true;
	}
	if (have || !want_net)
		return 0;
	if (only_net)
		return vm_err_set(err, -ENOENT, "boot order net: no NIC with a "
		    "network boot ROM (e1000 and virtio NICs get iPXE's from "
		    "Debian's ipxe-qemu, %s and %s)", IPXE_E1000_ROM,
		    IPXE_VIRTIO_ROM);
	log_warnx("boot order net: no NIC with a network boot ROM (e1000 and "
	    "virtio NICs get iPXE's from Debian's ipxe-qemu); the network is "
	    "passed over");
	return 0;
}

/* The SMBIOS tables as QEMU hands them to SeaBIOS. */
static int
add_smbios(struct vm *vm, struct dev *fw, struct vm_err *err)
{
	uint8_t *anchor, *tables;
	size_t alen, tlen;
	int ret = smbios_build(vm, &anchor, &alen, &tables, &tlen, err);

	if (ret < 0)
		return ret;
	ret = fw_cfg_add_file(fw, "etc/smbios/smbios-tables", tables, tlen,
	    err);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "etc/smbios/smbios-anchor", anchor,
		    alen, err);
	free(anchor);
	free(tables);
	return ret;
}

/*
 * "bootorder": the firmware paths (Open Firmware style, as QEMU writes
 * them and SeaBIOS's boot.c matches them against its own device paths,
 * a PCI function as "/pci@i0cf8/NAME@SLOT") of the devices of each class
 * boot.order names, in that order, one a line: an IDE drive as
 * ".../ide@S/drive@CHANNEL/disk@UNIT", a virtio disk ".../scsi@S/disk@0,0",
 * a NIC ".../ethernet@S".  Devices of classes not named boot after them,
 * in the firmware's own order.  With a kernel, linuxboot's option ROM
 * comes before them all.
 */
static int
add_bootorder(struct vm *vm, struct dev *fw, bool rom, struct vm_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	char buf[1024], id[16];         /* 16 lines of < 48 bytes at most */
	size_t n = 0;
	int k, i, slot, fn;

	/* A kernel given with the firmware: its option ROM boots first. */
	if (rom)
		n += (size_t)snprintf(buf, sizeof(buf),
		    "/rom@genroms/linuxboot_dma.bin\n");
	for (k = 0; k < cfg->boot.norder; k++) {
		int nide = 0;

		for (i = 0; i < cfg->ndisks; i++) {
			const struct cfg_disk *cd = &cfg->disks[i];
			bool cd_rom = cd->media == CFG_MEDIA_CDROM;
			bool want = cfg->boot.order[k] == (cd_rom ?
			    CFG_BOOT_CDROM : CFG_BOOT_DISK);

			if (cd->interface == CFG_IF_IDE) {
				/* ide@1,1: slot and function, as SeaBIOS
				 * names a function other than 0. */
				slot = pci_slot_of(vm->pci, "ide");
				fn = pci_fn_of(vm->pci, "ide");
				if (want && slot >= 0 && fn > 0)
					n += (size_t)snprintf(buf + n,
					    sizeof(buf) - n, "/pci@i0cf8/ide@%x,%x"
					    "/drive@%x/disk@%x\n", slot, fn,
					    nide / 2, nide % 2);
				else if (want && slot >= 0)
					n += (size_t)snprintf(buf + n,
					    sizeof(buf) - n, "/pci@i0cf8/ide@%x"
					    "/drive@%x/disk@%x\n", slot,
					    nide / 2, nide % 2);
				nide++;
				continue;
			}
			snprintf(id, sizeof(id), "disk%d", i);
			slot = pci_slot_of(vm->pci, id);
			if (want && slot >= 0)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				    "/pci@i0cf8/scsi@%x/disk@0,0\n", slot);
		}
		for (i = 0; cfg->boot.order[k] == CFG_BOOT_NET &&
		    i < cfg->nnets; i++) {
			snprintf(id, sizeof(id), "net%d", i);
			slot = pci_slot_of(vm->pci, id);
			if (slot >= 0)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				    "/pci@i0cf8/ethernet@%x\n", slot);
		}
		if (n >= sizeof(buf))
			return vm_err_set(err, -ENOSPC, "boot order too long");
	}
	if (n == 0)
		return 0;
	log_debug(LOG_BOOT, "bootorder:\n%.*s", (int)n, buf);
	return fw_cfg_add_file(fw, "bootorder", buf, n, err);
}

/*
 * The fw_cfg device and its items for SeaBIOS: RAM size, CPU counts, the
 * e820 map, the board's ACPI tables through the table-loader, the SMBIOS
 * tables (hw/smbios.c), the boot
 * order (boot.order's bootorder file; without one CMOS's, as QEMU's
 * default: disk, floppy, CD) and whether to offer the boot menu, a reset
 * BIOS_BOOT_FAIL_WAIT_MS after no device booted (QEMU's default waits
 * for ever) and, there being no VGA, the serial port SeaBIOS's screen
 * output goes to (etc/sercon-port).
 */
int
bios_init_fw_cfg(struct vm *vm, struct vm_err *err)
{
	struct acpi_fw_files af;
	uint16_t ncpus = (uint16_t)vm->ncpus, sercon = PC_PORT_COM1;
	uint32_t fail_wait = BIOS_BOOT_FAIL_WAIT_MS;
	/* The boot menu when asked for, and always on the VGA console,
	 * where the keyboard is (as QEMU's -boot menu=on). */
	uint16_t menu = vm->cfg->boot.menu ||
	    vm->cfg->console == CFG_CONSOLE_VGA;
	bool rom = false;
	uint64_t ram = vm->ram_size;
	struct dev *fw;
	int ret;

	fw = vm_add_device(vm, "fw-cfg", "fw-cfg", NULL, err);
	if (fw == NULL)
		return err ? err->code : -EINVAL;
	ret = fw_cfg_add(fw, FW_CFG_RAM_SIZE, &ram, sizeof(ram), err);
	if (ret == 0)
		ret = fw_cfg_add(fw, FW_CFG_NB_CPUS, &ncpus, 2, err);
	if (ret == 0)
		ret = fw_cfg_add(fw, FW_CFG_MAX_CPUS, &ncpus, 2, err);
	if (ret == 0)
		ret = fw_cfg_add(fw, FW_CFG_BOOT_MENU, &menu, 2, err);
	if (ret == 0)
		ret = add_e820(vm, fw, err);
	if (ret == 0)
		ret = add_smbios(vm, fw, err);
	/* A restored VM's firmware has run: the files it read at boot (the
	 * linuxboot kernel, option ROMs) are not read again. */
	if (ret == 0 && !vm->restoring)
		ret = bios_add_linux(vm, fw, &rom, err);
	if (ret == 0)
		ret = add_bootorder(vm, fw, rom, err);
	/* With a VGA its BIOS draws the screen (SeaBIOS finds the ROM as
	 * the PCI device's romfile).  SeaBIOS's screen goes to COM1 too
	 * unless the console is the VGA's. */
	if (ret == 0 && pc_has_vga(vm->cfg) && !vm->restoring)
		ret = add_vga_rom(fw, err);
	if (ret == 0 && !vm->restoring)
		ret = add_nic_roms(vm, fw, err);
	if (ret == 0 && vm->cfg->console != CFG_CONSOLE_VGA)
		ret = fw_cfg_add_file(fw, "etc/sercon-port", &sercon, 2, err);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "etc/boot-fail-wait", &fail_wait, 4,
		    err);
	if (ret < 0)
		return ret;
	ret = acpi_build_fw_cfg(vm->ncpus, pc_pm_base(vm->cfg), &af, err);
	if (ret < 0)
		return ret;
	ret = fw_cfg_add_file(fw, "etc/acpi/rsdp", af.rsdp, af.rsdp_len, err);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "etc/acpi/tables", af.tables,
		    af.tables_len, err);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "etc/table-loader", af.loader,
		    af.loader_len, err);
	acpi_fw_files_free(&af);
	return ret;
}
