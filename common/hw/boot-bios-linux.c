/*
 * Linux through the firmware (--firmware bios --kernel K [--initrd I]
 * [--append C]): the kernel, initrd and command line as QEMU's fw_cfg
 * items for them (QEMU's docs/specs/fw_cfg.rst), which an option ROM run
 * by SeaBIOS copies into place and enters.
 *
 * The option ROM is QEMU's linuxboot_dma.bin as Debian's qemu-system-data
 * package installs it (/usr/share/qemu); SeaBIOS's own package has none.
 * vm-run hands it to SeaBIOS as the fw_cfg file genroms/linuxboot_dma.bin,
 * which SeaBIOS runs like a PCI option ROM and whose boot entry the
 * bootorder file puts first ("/rom@genroms/linuxboot_dma.bin").  The ROM
 * reads the SETUP, CMDLINE, KERNEL and INITRD address/size/data items,
 * copies each to its address, and jumps to the real-mode setup code at
 * its segment + 0x20, as the x86 boot protocol (the kernel's
 * Documentation/arch/x86/boot.rst) has a boot loader do.
 *
 * So vm-run plays that boot loader's part in the setup header before it
 * goes out: a bzImage of boot protocol 2.02 or later, loaded high, its
 * real-mode part at 0x10000, the command line at 0x20000 (heap_end_ptr
 * just below it), the protected-mode kernel at 1 MiB, the initrd page
 * aligned as high as initrd_addr_max and RAM allow, 1 MiB below the top
 * of low RAM left for the firmware's own tables.
 */
#include "hw/boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "dev/fw-cfg.h"
#include "hw/pc.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define LINUXBOOT_ROM "/usr/share/qemu/linuxboot_dma.bin"
#define ROM_MAX (1u << 20)
#define KERNEL_MAX (256ULL << 20)

#define REAL_ADDR 0x10000u
#define CMDLINE_ADDR 0x20000u
#define PROT_ADDR 0x100000u
#define FW_RESERVE 0x100000u            /* below the top of low RAM */

/* Setup header fields (boot protocol). */
#define H_SETUP_SECTS 0x1f1
#define H_MAGIC 0x202
#define H_VERSION 0x206
#define H_LOADER 0x210
#define H_LOADFLAGS 0x211
#define H_RAMDISK 0x218
#define H_RAMDISK_SIZE 0x21c
#define H_HEAP_END 0x224
#define H_CMDLINE 0x228
#define H_INITRD_MAX 0x22c
#define H_CMDLINE_SIZE 0x238
#define LF_LOADED_HIGH 0x01
#define LF_CAN_USE_HEAP 0x80

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* An address/size item pair and its data item. */
static int
add_blob(struct dev *fw, uint16_t key_addr, uint32_t addr, uint16_t key_data,
    const void *data, uint32_t len, struct vm_err *err)
{
	int ret = fw_cfg_add(fw, key_addr, &addr, 4, err);

	if (ret == 0)
		ret = fw_cfg_add(fw, (uint16_t)(key_addr + 1), &len, 4, err);
	if (ret == 0)
		ret = fw_cfg_add(fw, key_data, data, len, err);
	return ret;
}

/* Check the bzImage's header (before anything reads it) and fill in the
 * boot loader's fields but the initrd's; *setup gets the size of its
 * real-mode part. */
static int
patch_header(const char *path, uint8_t *k, uint64_t klen, uint32_t cmdlen,
    uint32_t *setup, struct vm_err *err)
{
	unsigned proto, sects;

	if (klen < 0x300 || memcmp(k + H_MAGIC, "HdrS", 4) != 0)
		return vm_err_set(err, -EINVAL, "%s: not a Linux bzImage (a "
		    "firmware boot takes a bzImage as --kernel)", path);
	proto = (unsigned)(k[H_VERSION] | k[H_VERSION + 1] << 8);
	if (proto < 0x202 || !(k[H_LOADFLAGS] & LF_LOADED_HIGH))
		return vm_err_set(err, -EINVAL, "%s: boot protocol %u.%02u "
		    "or a low-loaded zImage: a firmware boot needs a "
		    "bzImage of protocol 2.02 or later", path, proto >> 8,
		    proto & 0xff);
	if (proto >= 0x206 && cmdlen > le32(k + H_CMDLINE_SIZE) + 1u)
		return vm_err_set(err, -E2BIG, "%s: the command line is "
		    "longer than the kernel's %u bytes", path,
		    le32(k + H_CMDLINE_SIZE));
	sects = k[H_SETUP_SECTS] ? k[H_SETUP_SECTS] : 4;
	*setup = (sects + 1) * 512;
	if (*setup >= klen || *setup > CMDLINE_ADDR - REAL_ADDR - 0x200)
		return vm_err_set(err, -EINVAL, "%s: %u setup sectors do not "
		    "fit the file or the real-mode area", path, sects);
	k[H_LOADER] = 0xff;                     /* a loader without an ID */
	k[H_LOADFLAGS] |= LF_CAN_USE_HEAP;
	k[H_HEAP_END] = (uint8_t)(CMDLINE_ADDR - REAL_ADDR - 0x200);
	k[H_HEAP_END + 1] = (uint8_t)((CMDLINE_ADDR - REAL_ADDR - 0x200) >> 8);
	put_le32(k + H_CMDLINE, CMDLINE_ADDR);
	put_le32(k + H_RAMDISK, 0);
	put_le32(k + H_RAMDISK_SIZE, 0);
	return 0;
}

/* RAM below the PCI hole. */
static uint64_t
low_ram(const struct vm *vm)
{
	return vm->ram_size < PC_PCI_HOLE ? vm->ram_size : PC_PCI_HOLE;
}

/* Where the initrd goes: page aligned below both the kernel's limit and
 * the firmware's reserve at the top of low RAM. */
static int
initrd_place(const struct vm *vm, const uint8_t *k, uint64_t rdlen,
    uint32_t *addr, struct vm_err *err)
{
	unsigned proto = (unsigned)(k[H_VERSION] | k[H_VERSION + 1] << 8);
	uint64_t max = proto >= 0x203 ? le32(k + H_INITRD_MAX) : 0x37ffffff;
	uint64_t low = low_ram(vm);

	if (max > low - FW_RESERVE - 1)
		max = low - FW_RESERVE - 1;
	/* Leave at least 16 MiB above 1 MiB for the kernel to unpack in. */
	if (rdlen + PROT_ADDR + (16u << 20) > max)
		return vm_err_set(err, -E2BIG, "the initrd (%llu bytes) does "
		    "not fit below 0x%llx with the kernel: give the VM more "
		    "memory", (unsigned long long)rdlen,
		    (unsigned long long)max);
	*addr = (uint32_t)((max + 1 - rdlen) & ~0xfffULL);
	return 0;
}

int
bios_add_linux(struct vm *vm, struct dev *fw, bool *rom_added,
    struct vm_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	uint8_t *k = NULL, *rd = NULL, *rom = NULL;
	uint64_t klen = 0, rdlen = 0, romlen = 0;
	uint32_t setup = 0, rd_addr = 0;
	uint32_t cmdlen = (uint32_t)strlen(cfg->boot.cmdline) + 1;
	int ret;

	*rom_added = false;
	if (cfg->boot.kernel[0] == '\0')
		return 0;
	ret = boot_read_file(LINUXBOOT_ROM, ROM_MAX, &rom, &romlen, NULL);
	if (ret < 0)
		return vm_err_set(err, ret, "--kernel with firmware needs "
		    "%s (Debian's qemu-system-data package)", LINUXBOOT_ROM);
	ret = boot_read_file(cfg->boot.kernel, KERNEL_MAX, &k, &klen, err);
	if (ret == 0 && cfg->boot.initrd[0])
		ret = boot_read_file(cfg->boot.initrd, KERNEL_MAX, &rd, &rdlen,
		    err);
	if (ret == 0)
		ret = patch_header(cfg->boot.kernel, k, klen, cmdlen, &setup,
		    err);
	if (ret == 0 && rd != NULL) {
		ret = initrd_place(vm, k, rdlen, &rd_addr, err);
		put_le32(k + H_RAMDISK, rd_addr);
		put_le32(k + H_RAMDISK_SIZE, (uint32_t)rdlen);
	}
	if (ret == 0 && PROT_ADDR + (klen - setup) > (rd != NULL ? rd_addr :
	    low_ram(vm) - FW_RESERVE))
		ret = vm_err_set(err, -E2BIG, "%s: the kernel (%llu bytes) "
		    "does not fit in RAM below the initrd", cfg->boot.kernel,
		    (unsigned long long)klen);
	if (ret == 0)
		ret = add_blob(fw, FW_CFG_SETUP_ADDR, REAL_ADDR,
		    FW_CFG_SETUP_DATA, k, setup, err);
	if (ret == 0)
		ret = add_blob(fw, FW_CFG_KERNEL_ADDR, PROT_ADDR,
		    FW_CFG_KERNEL_DATA, k + setup, (uint32_t)(klen - setup),
		    err);
	if (ret == 0)
		ret = add_blob(fw, FW_CFG_CMDLINE_ADDR, CMDLINE_ADDR,
		    FW_CFG_CMDLINE_DATA, cfg->boot.cmdline, cmdlen, err);
	if (ret == 0 && rd != NULL)
		ret = add_blob(fw, FW_CFG_INITRD_ADDR, rd_addr,
		    FW_CFG_INITRD_DATA, rd, (uint32_t)rdlen, err);
	if (ret == 0)
		ret = fw_cfg_add_file(fw, "genroms/linuxboot_dma.bin", rom,
		    romlen, err);
	if (ret == 0) {
		*rom_added = true;
		log_debug(LOG_BOOT, "linuxboot: setup %u bytes at 0x%x, "
		    "kernel %llu at 0x%x, initrd %llu at 0x%x", setup,
		    REAL_ADDR, (unsigned long long)(klen - setup), PROT_ADDR,
		    (unsigned long long)rdlen, rd_addr);
	}
	free(k);
	free(rd);
	free(rom);
	return ret;
}
