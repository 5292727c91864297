/*
 * The "pc" board: guest RAM around the PCI hole, the fixed ISA chips at
 * their ports (hw/pc.h), the PCI bus with the configured virtio devices,
 * and the ACPI tables describing it all.  Board assembly is code, not
 * configuration, as in kvmtool and TinyEMU: the config only adds disks,
 * NICs and consoles.
 */
#include "hw/pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "dev/acpi-pm.h"
#include "dev/dev.h"
#include "dev/ide.h"
#include "dev/uart16550.h"
#include "hw/boot.h"
#include "hw/pci.h"
#include "net/net.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

/*
 * The firmware image boot.firmware names: "bios" is Debian's SeaBIOS
 * where the seabios package installs it, "uefi" Debian's OVMF (its two
 * flash images, boot-uefi.c); anything else but "" is a file.  NULL for a firmware-less (direct) boot; "" with err set when
 * the firmware cannot be had.
 */
static const char *
firmware_path(const struct vm_config *cfg, struct vm_err *err)
{
	const char *p;

	if (cfg->boot.firmware[0] == '\0')
		return NULL;
	if (strcmp(cfg->boot.firmware, "uefi") == 0)
		return "uefi";
	if (strcmp(cfg->boot.firmware, "bios") != 0)
		return cfg->boot.firmware;
	p = bios_default_path();
	if (p == NULL) {
		vm_err_set(err, -ENOENT, "firmware 'bios': no SeaBIOS in "
		    "/usr/share/seabios (install the seabios package, or "
		    "give --bios FILE)");
		return "";
	}
	return p;
}

bool
pc_has_vga(const struct vm_config *cfg)
{
	return cfg->console == CFG_CONSOLE_VGA || cfg->vga;
}

uint16_t
pc_pm_base(const struct vm_config *cfg)
{
	return strcmp(cfg->boot.firmware, "uefi") == 0 ? PC_PORT_PM_OVMF :
	    PC_PORT_PM;
}

int
pc_init_memory(struct vm *vm, struct vm_err *err)
{
	uint64_t low = vm->ram_size, high = 0;
	const char *fw;
	int ret;

	/* A restore maps the firmware's ROM from the snapshot: no image is
	 * looked for (NULL: bios_init_memory reads none). */
	if (vm->restore_fw_len != 0 && vm->cfg->boot.firmware[0] != '\0')
		fw = strcmp(vm->cfg->boot.firmware, "uefi") == 0 ? "uefi" :
		    NULL;
	else
		fw = firmware_path(vm->cfg, err);

	if (fw != NULL && fw[0] == '\0')
		return err ? err->code : -ENOENT;
	if (low > PC_PCI_HOLE) {
		high = low - PC_PCI_HOLE;
		low = PC_PCI_HOLE;
	}
	if (fw != NULL && strcmp(fw, "uefi") == 0) {
		ret = uefi_init_memory(vm, low, err);
	} else if (fw != NULL || vm->restore_fw_len != 0) {
		ret = bios_init_memory(vm, fw, low, err);
	} else if (pc_has_vga(vm->cfg)) {
		/* The VGA window 0xa0000-0xbffff is the VGA's. */
		ret = mem_add_ram(&vm->mem, 0, PC_LOWMEM_END, "ram-low", err);
		if (ret == 0)
			ret = mem_add_ram(&vm->mem, PC_LOWMEM_END + 0x20000,
			    low - PC_LOWMEM_END - 0x20000, "ram", err);
	} else {
		ret = mem_add_ram(&vm->mem, 0, low, "ram-low", err);
	}
	if (ret < 0)
		return ret;
	if (high)
		ret = mem_add_ram(&vm->mem, PC_HIGHRAM, high, "ram-high", err);
	return ret;
}

/* The fixed chips every pc has. */
static int
pc_init_devices(struct vm *vm, struct vm_err *err)
{
	struct uart_args com1 = { PC_PORT_COM1, PC_IRQ_COM1, vm->console };
	struct uart_args com2 = { PC_PORT_COM2, PC_IRQ_COM2, NULL };
	static const char *const fixed[] = { "exit-ports", "acpi-pm",
		"mc146818", "i8042" };
	size_t i;

	if (vm_add_device(vm, "uart16550", "com1", &com1, err) == NULL ||
	    vm_add_device(vm, "uart16550", "com2", &com2, err) == NULL)
		return err ? err->code : -EINVAL;
	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (vm_add_device(vm, fixed[i], fixed[i], NULL, err) == NULL)
			return err ? err->code : -EINVAL;
	/* KVM's in-kernel irqchip brings its own PIT. */
	if (!vm->backend->has_irqchip &&
	    vm_add_device(vm, "i8254", "pit", NULL, err) == NULL)
		return err ? err->code : -EINVAL;
	return 0;
}

/* A NIC per network (type none: none), after the other PCI devices so
 * that adding one moves nothing else; MACs derived from the VM's name and
 * the NIC's index unless given. */
static int
pc_init_nics(struct vm *vm, struct vm_err *err)
{
	struct net_params p;
	char id[16];
	int i, j;

	for (i = 0; i < vm->cfg->nnets; i++) {
		const struct cfg_net *cn = &vm->cfg->nets[i];

		if (strcmp(cn->spec, "none") == 0)
			continue;
		memset(&p, 0, sizeof(p));
		p.spec = cn->spec;
		for (j = 0; j < cn->nforward && j < NET_MAX_FORWARDS; j++)
			p.forwards[j] = cn->forward[j];
		p.nforwards = j;
		p.origin = cn->origin;
		p.vm_name = vm->cfg->name;
		p.vlan = cn->vlan;
		p.tftp = cn->tftp;
		p.bootfile = cn->bootfile;
		p.subnet = cn->subnet;
		if (cn->mac[0] == '\0' || net_mac_parse(cn->mac, p.mac) < 0)
			net_mac_derive(vm->cfg->name, i, p.mac);
		snprintf(id, sizeof(id), "net%d", i);
		if (vm_add_device(vm, strcmp(cn->model, "e1000") == 0 ?
		    "e1000" : "virtio-net", id, &p, err) == NULL) {
			char msg[sizeof(err->msg)];

			if (err && err->code) {
				snprintf(msg, sizeof(msg), "%s", err->msg);
				vm_err_set(err, err->code, "%s: %s",
				    cn->origin, msg);
			}
			return err ? err->code : -EIO;
		}
	}
	return 0;
}

/* PCI bus 0: the host bridge, a virtio-blk per virtio disk (in the order
 * given, so the first is /dev/vda), the IDE controller if a disk is on
 * IDE or the machine boots firmware (IDE disks in order: primary master,
 * slave, secondary master, slave), virtio-rng; BARs assigned as firmware
 * would. */
static int
pc_init_pci(struct vm *vm, struct vm_err *err)
{
	struct ide_args ide = { { NULL } };
	struct dev *pm;
	int i, nide = 0;
	char id[16];
	int ret;

	vm->pci = pci_bus_new(vm, err);
	if (vm->pci == NULL)
		return err ? err->code : -ENOMEM;
	/* 00:01.3, the PIIX's power management function: OVMF programs
	 * its PM base itself and finds it unprogrammed, as on QEMU's pc;
	 * elsewhere it decodes at PC_PORT_PM from the start. */
	pm = vm_find_device(vm, "acpi-pm");
	if (pm != NULL && (ret = acpi_pm_pci_init(pm, vm->pci,
	    pc_pm_base(vm->cfg) == PC_PORT_PM ? PC_PORT_PM : 0, err)) < 0)
		return ret;
	for (i = 0; i < vm->cfg->ndisks; i++) {
		const struct cfg_disk *cd = &vm->cfg->disks[i];

		if (cd->media == CFG_MEDIA_CDROM &&
		    cd->interface != CFG_IF_IDE)
			return vm_err_set(err, -ENOTSUP, "%s: a CD-ROM drive "
			    "is on IDE (interface ide)", cd->origin);
		if (cd->interface == CFG_IF_IDE) {
			if (nide == IDE_MAX_DRIVES)
				return vm_err_set(err, -ENOSPC, "%s: more than "
				    "%d IDE drives", cd->origin,
				    IDE_MAX_DRIVES);
			ide.disk[nide++] = cd;
			continue;
		}
		snprintf(id, sizeof(id), "disk%d", i);
		if (vm_add_device(vm, "virtio-blk", id, cd, err) == NULL)
			return err ? err->code : -EIO;
	}
	/* A firmware machine always has the PIIX3's IDE function, as
	 * QEMU's pc does (empty channels when no drive is on them), so its
	 * PCI layout does not depend on its disks. */
	if ((nide || vm->cfg->boot.firmware[0] != '\0') &&
	    vm_add_device(vm, "piix-ide", "ide", &ide, err) == NULL)
		return err ? err->code : -EIO;
	if (vm_add_device(vm, "virtio-rng", "rng0", NULL, err) == NULL)
		return err ? err->code : -EIO;
	ret = pc_init_nics(vm, err);
	if (ret < 0)
		return ret;
	if (pc_has_vga(vm->cfg) &&
	    vm_add_device(vm, "vga", "vga", NULL, err) == NULL)
		return err ? err->code : -EIO;
	/* Firmware assigns BARs itself. */
	if (vm->bios != NULL)
		return 0;
	return pci_assign_bars(vm->pci, err);
}

int
pc_init(struct vm *vm, struct vm_err *err)
{
	uint64_t rsdp;
	int ret;

	ret = pc_init_devices(vm, err);
	if (ret < 0)
		return ret;
	ret = pc_init_pci(vm, err);
	if (ret < 0)
		return ret;
	if (vm->bios != NULL)
		return bios_init_fw_cfg(vm, err);
	ret = acpi_build(vm, vm->ncpus, &rsdp, err);
	if (ret < 0)
		return ret;
	log_debug(LOG_BOOT, "ACPI RSDP at 0x%llx", (unsigned long long)rsdp);
	return 0;
}
