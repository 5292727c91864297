/*
 * QEMU's firmware configuration device (fw_cfg), as firmware built for
 * QEMU's pc machine expects it: a 16-bit selector at 0x510, a byte-wide
 * data port at 0x511 and the DMA address register at 0x514.  The board
 * fills its items before the guest runs.
 */
#ifndef VM_DEV_FW_CFG_H
#define VM_DEV_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

struct dev;
struct vm_err;

#define FW_CFG_PORT 0x510               /* selector (2), data (1) */
#define FW_CFG_PORT_DMA 0x514           /* 8 bytes, big-endian address */

/* Item keys (QEMU's docs/specs/fw_cfg.rst). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_KERNEL_ADDR 0x07         /* its size is the next key */
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_FILES 32

/* Add item key with a copy of len bytes; 0 or -errno (err set). */
int fw_cfg_add(struct dev *d, uint16_t key, const void *data, size_t len,
    struct vm_err *err);
/* Add a named file (at most 55 characters) with a copy of its bytes. */
int fw_cfg_add_file(struct dev *d, const char *name, const void *data,
    size_t len, struct vm_err *err);

#endif
