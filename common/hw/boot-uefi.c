/*
 * UEFI firmware boot: Debian's OVMF (the ovmf package) as QEMU's pc
 * machine maps it, two CFI flash chips ending at 4 GiB.  The code image
 * (OVMF_CODE_4M.fd, no Secure Boot, no SMM) is the top one and is ROM;
 * the variable store below it is a copy of OVMF_VARS_4M.fd, the VM's
 * own: a bundle's uefi-vars.fd beside its vm.yaml (made from the
 * template on the first run), or, for a VM given by flags alone, a copy
 * in memory that lasts one run.  OVMF's FD base (its PCD) is the
 * variable store's first byte.
 *
 * The store is an Intel/Sharp CFI flash as far as OVMF's
 * QemuFlashFvbServicesRuntimeDxe drives it (byte wide): reads in array
 * mode see the bytes; a write is a command cycle: 0x10/0x40 program the
 * next write's byte (bits can only go from 1 to 0), 0x20 then 0xd0
 * erase the 4 KiB block addressed to 0xff, 0x50 clears the status
 * register, 0x70 reads it, 0xff (and anything unknown) is read-array.
 * Status reads are answered at the address the command went to (the one
 * OVMF reads): that byte shows the status until the next command.  The
 * status is 0x80 (ready) after power-on, a program or an erase, 0 after
 * clear-status; the flash detection of OVMF reads that 0.
 *
 * Every change is written through to the file at once, so a guest's
 * variables outlive vm-run however it ends.
 */
#include "hw/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "hw/pc.h"
#include "mem/mem.h"
#include "util/err.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/vm.h"

#define UEFI_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define UEFI_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define FLASH_BLOCK 0x1000u
#define FLASH_MAX (8u << 20)            /* either chip, as a sanity bound */

enum flash_mode { FL_ARRAY, FL_STATUS, FL_PROGRAM, FL_ERASE };

struct uefi_flash {
	struct vm *vm;
	gpa_t base;
	uint64_t size;
	uint8_t *live;                  /* the guest region's bytes */
	int fd;                         /* the vars file, -1 in memory */
	char path[CFG_PATH_MAX];
	enum flash_mode mode;
	uint8_t status;
	bool patched;                   /* live[at] shows the status */
	uint64_t at;
	uint8_t saved;                  /* live[at]'s array byte */
};

const char *
uefi_code_path(void)
{
	return access(UEFI_CODE, R_OK) == 0 ? UEFI_CODE : NULL;
}

/* The bundle's variable store: uefi-vars.fd in vm.yaml's directory, or
 * "" without a vm.yaml. */
int
uefi_vars_path(const struct vm_config *cfg, char *buf, size_t len)
{
	const char *slash;
	int n;

	if (cfg->path[0] == '\0') {
		buf[0] = '\0';
		return 0;
	}
	slash = strrchr(cfg->path, '/');
	if (slash == NULL)
		n = snprintf(buf, len, "uefi-vars.fd");
	else
		n = snprintf(buf, len, "%.*s/uefi-vars.fd",
		    (int)(slash - cfg->path), cfg->path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void
flash_touch(struct uefi_flash *f, uint64_t off, uint64_t len)
{
	mem_notify_write(&f->vm->mem, f->base + off, len);
}

/* Put the status byte back to the array's. */
static void
flash_unpatch(struct uefi_flash *f)
{
	if (!f->patched)
		return;
	f->live[f->at] = f->saved;
	f->patched = false;
	flash_touch(f, f->at, 1);
}

static void
flash_show_status(struct uefi_flash *f, uint64_t off)
{
	f->mode = FL_STATUS;
	f->at = off;
	f->saved = f->live[off];
	f->live[off] = f->status;
	f->patched = true;
	flash_touch(f, off, 1);
}

static void
flash_persist(struct uefi_flash *f, uint64_t off, uint64_t len)
{
	ssize_t n;

	if (f->fd < 0)
		return;
	n = pwrite(f->fd, f->live + off, len, (off_t)off);
	if (n != (ssize_t)len)
		log_warn("%s: cannot write the UEFI variable store", f->path);
}

static void
flash_write(void *opaque, gpa_t gpa, const void *buf, size_t len)
{
	struct uefi_flash *f = opaque;
	const uint8_t *src = buf;
	uint64_t off = gpa - f->base, blk;
	uint8_t v;

	/* The caller found gpa in the region; still, never trust it. */
	if (gpa < f->base || off >= f->size || len == 0)
		return;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	flash_unpatch(f);
	v = src[0];
	switch (f->mode) {
	case FL_PROGRAM:
		/* Program: bits go from 1 to 0 only (one byte a cycle on
		 * this byte-wide chip; a wider write programs them all). */
		for (size_t i = 0; i < len; i++)
			f->live[off + i] &= src[i];
		flash_touch(f, off, len);
		flash_persist(f, off, len);
		f->status |= 0x80;
		flash_show_status(f, off);
		return;
	case FL_ERASE:
		if (v == 0xd0) {
			blk = off - off % FLASH_BLOCK;
			memset(f->live + blk, 0xff, FLASH_BLOCK);
			flash_touch(f, blk, FLASH_BLOCK);
			flash_persist(f, blk, FLASH_BLOCK);
			f->status |= 0x80;
			flash_show_status(f, off);
			return;
		}
		/* An erase not confirmed: a command sequence error. */
		f->status |= 0x30;
		flash_show_status(f, off);
		return;
	default:
		break;
	}
	switch (v) {
	case 0x10:
	case 0x40:
		f->mode = FL_PROGRAM;
		break;
	case 0x20:
		f->mode = FL_ERASE;
		break;
	case 0x50:
		f->status = 0;
		f->mode = FL_ARRAY;
		break;
	case 0x70:
		flash_show_status(f, off);
		break;
	default:
		/* 0xff read array; the ID and CFI queries are not there. */
		if (v != 0xff)
			log_debug(LOG_BOOT, "UEFI flash: command 0x%02x at "
			    "0x%llx taken as read-array", v,
			    (unsigned long long)gpa);
		f->mode = FL_ARRAY;
		break;
	}
}

/* A variable store of the template's size (a multiple of the block). */
static int
vars_check(const char *path, uint64_t len, uint64_t want, struct vm_err *err)
{
	if (len == 0 || len % FLASH_BLOCK || len > FLASH_MAX)
		return vm_err_set(err, -EINVAL, "%s: a UEFI variable store is "
		    "a multiple of 4 KiB up to 8 MiB, not %llu bytes", path,
		    (unsigned long long)len);
	if (want && len != want)
		return vm_err_set(err, -EINVAL, "%s: %llu bytes, but the "
		    "firmware's variable store (%s) is %llu (remove the file "
		    "to start from a fresh store)", path,
		    (unsigned long long)len, UEFI_VARS,
		    (unsigned long long)want);
	return 0;
}

/* The bundle's store: made from the template when missing (written to a
 * temporary name and renamed, so a failure leaves nothing), opened
 * read-write.  *img receives its bytes. */
static int
vars_open(struct uefi_flash *f, const uint8_t *tmpl, uint64_t tlen,
    uint8_t **img, uint64_t *len, struct vm_err *err)
{
	char tmp[CFG_PATH_MAX + 16];
	int ret, fd;

	if (access(f->path, F_OK) != 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return vm_err_set(err, -errno, "%s: cannot create the "
			    "UEFI variable store: %s", f->path,
			    strerror(errno));
		if (write(fd, tmpl, tlen) != (ssize_t)tlen || fsync(fd) < 0 ||
		    close(fd) < 0 || (errno = -io_rename_durable(tmp,
		    f->path)) != 0) {
			ret = -errno;
			unlink(tmp);
			return vm_err_set(err, ret ? ret : -EIO, "%s: cannot "
			    "write the UEFI variable store", f->path);
		}
		log_info("%s: a new UEFI variable store from %s", f->path,
		    UEFI_VARS);
	}
	ret = boot_read_file(f->path, FLASH_MAX + 1, img, len, err);
	if (ret < 0)
		return ret;
	ret = vars_check(f->path, *len, tlen, err);
	if (ret < 0)
		goto fail;
	f->fd = open(f->path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		ret = vm_err_set(err, -errno, "%s: %s", f->path,
		    strerror(errno));
		goto fail;
	}
	return 0;
fail:
	free(*img);
	*img = NULL;
	return ret;
}

/*
 * Guest memory for a UEFI boot: what bios_init_memory makes for the
 * code image (ROM ending at 4 GiB, its last 128 KiB in the shadow), and
 * the variable store's flash below it.
 */
int
uefi_init_memory(struct vm *vm, uint64_t low, struct vm_err *err)
{
	struct uefi_flash *f;
	uint8_t *tmpl = NULL, *img = NULL;
	uint64_t tlen, len, code_len;
	struct stat st;
	int ret;

	/* A restore reads no code image: its ROM is the snapshot's. */
	if ((vm->restore_fw_len == 0 && uefi_code_path() == NULL) ||
	    access(UEFI_VARS, R_OK) != 0)
		return vm_err_set(err, -ENOENT, "firmware 'uefi': no OVMF in "
		    "/usr/share/OVMF (install the ovmf package)");
	if (vm->restore_fw_len != 0)
		code_len = vm->restore_fw_len;
	else if (stat(UEFI_CODE, &st) < 0 || st.st_size <= 0 ||
	    st.st_size > FLASH_MAX || st.st_size % FLASH_BLOCK)
		return vm_err_set(err, -EINVAL, "%s: not an OVMF code image "
		    "(a multiple of 4 KiB up to 8 MiB)", UEFI_CODE);
	else
		code_len = (uint64_t)st.st_size;
	ret = boot_read_file(UEFI_VARS, FLASH_MAX + 1, &tmpl, &tlen, err);
	if (ret < 0)
		return ret;
	ret = vars_check(UEFI_VARS, tlen, 0, err);
	if (ret < 0)
		goto out;
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	f->vm = vm;
	f->fd = -1;
	f->status = 0x80;
	ret = uefi_vars_path(vm->cfg, f->path, sizeof(f->path));
	if (ret < 0) {
		ret = vm_err_set(err, ret, "%s: path too long", vm->cfg->path);
		free(f);
		goto out;
	}
	if (f->path[0]) {
		ret = vars_open(f, tmpl, tlen, &img, &len, err);
		if (ret < 0) {
			free(f);
			goto out;
		}
	} else {
		img = tmpl;
		len = tlen;
		tmpl = NULL;
		snprintf(f->path, sizeof(f->path), "(in memory)");
	}
	f->size = len;
	f->base = PC_HIGHRAM - code_len - len;
	ret = fw_init_memory(vm, vm->restore_fw_len ? NULL : UEFI_CODE, low,
	    FLASH_BLOCK, err);
	if (ret == 0)
		ret = mem_add_rom(&vm->mem, f->base, len, img, len,
		    "uefi-vars", err);
	if (ret == 0)
		ret = mem_set_rom_write(&vm->mem, f->base, flash_write, f);
	if (ret == 0) {
		f->live = mem_gpa_to_hva(&vm->mem, f->base, len);
		bios_set_flash(vm, f);
		log_debug(LOG_BOOT, "UEFI: code %s at 0x%llx, variables %s "
		    "at 0x%llx", UEFI_CODE,
		    (unsigned long long)(PC_HIGHRAM - code_len), f->path,
		    (unsigned long long)f->base);
	} else {
		uefi_flash_free(f);
	}
	free(img);
out:
	free(tmpl);
	return ret;
}

void
uefi_flash_free(struct uefi_flash *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}
