/*
 * Direct boot without firmware: the e820 memory map, the Linux x86 boot
 * protocol (bzImage, with host-side decompression of its payload, or an
 * ELF vmlinux), multiboot v1 kernels and the ACPI tables that tell a
 * guest about the "pc" board of hw/pc.h.
 *
 * The loaders write the kernel, its data structures and the BSP's initial
 * register state.  Callers pass in *bsp the vCPU's power-on state
 * (cpu_reset_state); a loader overwrites only what its protocol defines:
 * GPRs, RIP, RFLAGS, the segment registers, GDTR/IDTR, CR0/CR3/CR4 and EFER.
 *
 * Low memory used by the loaders (all below PC_EBDA, in usable RAM that the
 * kernel may reclaim once it has read its boot data):
 *   0x00500 GDT (BOOT_GDT_ENTRIES descriptors)
 *   0x07000 Linux boot_params ("zero page"), 4 KiB
 *   0x08000 multiboot information, memory map and loader name, 4 KiB
 *   0x09000 Linux 64-bit entry page tables: PML4, PDPT, 4 PDs (to 0xf000)
 *   0x20000 kernel command line, up to BOOT_CMDLINE_MAX bytes
 * ACPI tables live in the BIOS area (PC_BIOS_AREA), reserved in e820.
 * Threads: called once by vm-run before any vCPU runs.
 */
#ifndef VM_HW_BOOT_H
#define VM_HW_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_err;
struct x86_state;

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_GDT_ENTRIES 4
#define BOOT_PARAMS_ADDR 0x7000ULL
#define BOOT_MBI_ADDR 0x8000ULL
#define BOOT_PT_ADDR 0x9000ULL          /* PML4; PDPT +0x1000; PDs +0x2000 */
#define BOOT_PT_END 0xf000ULL
#define BOOT_STACK_TOP 0x7000ULL        /* grows down towards the GDT */
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000u
#define BOOT_LOW_END 0x30000ULL         /* kernels must not load below */

/* Flat selectors in the loaders' GDT (the Linux protocol's __BOOT_CS/DS). */
#define BOOT_SEL_CS 0x10
#define BOOT_SEL_DS 0x18

/* --- e820 ---------------------------------------------------------------- */

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define E820_MAX 32

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * The guest's memory map, sorted and merged, from vm->mem's RAM regions:
 * RAM is usable except [PC_EBDA, 1 MiB), which is reserved (BIOS data,
 * VGA hole, ACPI tables); the IOAPIC and LAPIC pages, QEMU's KVM TSS pages
 * and the top-of-4G BIOS window are reserved as on QEMU's pc.
 * Returns the number of entries written (at most max) or -ENOSPC.
 */
int e820_build(const struct vm *vm, struct e820_entry *ents, int max);
/* Bytes of usable RAM from 0 (mem_lower) and from 1 MiB up to the first
 * hole (mem_upper), as multiboot reports them, in KiB. */
void e820_mem_lower_upper(const struct e820_entry *ents, int n,
    uint32_t *lower_kb, uint32_t *upper_kb);
/* The end of the usable RAM run containing addr, or 0 if addr is not
 * usable RAM. */
uint64_t e820_usable_end(const struct e820_entry *ents, int n, uint64_t addr);

/* --- Linux x86 boot protocol ---------------------------------------------- */

/*
 * Load a Linux kernel, optional initrd and command line, and set *bsp.
 * The kernel is a bzImage (boot protocol 2.06 or later) or an uncompressed
 * 64-bit ELF vmlinux.  A bzImage whose payload the host can decompress
 * (protocol 2.08+, gzip, xz, lzma, zstd or lz4, a 64-bit kernel that fits
 * at its link-time address) is decompressed here and its vmlinux entered
 * at startup_64, as the kernel's own decompressor would, unless flags has
 * BOOT_LINUX_GUEST_DECOMPRESS; otherwise the BSP starts at the bzImage's
 * 64-bit entry (XLF_KERNEL_64) or its 32-bit protected-mode entry.  ACPI
 * tables should be built first: the RSDP address found at PC_BIOS_AREA
 * goes in boot_params.  Every header and ELF field is bounds-checked; a
 * bad image gives -EINVAL (or -EFBIG, -ENOMEM) and "<file>: what is wrong".
 */
int boot_linux(struct vm *vm, const char *kernel_path,
    const char *initrd_path, const char *cmdline, struct x86_state *bsp,
    struct vm_err *err);

#define BOOT_LINUX_GUEST_DECOMPRESS 0x1u  /* never decompress on the host */

enum boot_linux_how {
	BOOT_HOW_BZIMAGE = 0,           /* the kernel decompresses itself */
	BOOT_HOW_HOST_DECOMPRESS,       /* vm-run decompressed the payload */
	BOOT_HOW_VMLINUX,               /* an ELF vmlinux was given */
};

/* Where boot_linux put things (for -v output and tests). */
struct boot_linux_info {
	enum boot_linux_how how;
	uint16_t version;               /* boot protocol version */
	bool entry64;
	uint64_t kernel_addr;           /* protected-mode kernel or vmlinux */
	uint64_t kernel_size;           /* bytes loaded there */
	uint64_t init_size;             /* bytes the kernel needs there */
	uint64_t entry;                 /* the BSP's RIP */
	uint64_t initrd_addr, initrd_size;
	uint64_t rsdp_addr;             /* 0 if no RSDP was found */
	int payload_format;             /* enum boot_zfmt; host decompression */
	uint64_t payload_size;          /* compressed bytes */
	uint64_t vmlinux_size;          /* decompressed bytes */
	uint64_t decompress_us;         /* host time spent decompressing */
};
int boot_linux_ex(struct vm *vm, const char *kernel_path,
    const char *initrd_path, const char *cmdline, unsigned flags,
    struct x86_state *bsp, struct boot_linux_info *info, struct vm_err *err);

/* --- bzImage payloads (boot-payload.c) ----------------------------------- */

enum boot_zfmt {
	BOOT_Z_UNKNOWN = 0,
	BOOT_Z_GZIP,
	BOOT_Z_XZ,
	BOOT_Z_ZSTD,
	BOOT_Z_LZ4,                     /* lz4's legacy frame, as Linux uses */
	BOOT_Z_LZMA,                    /* legacy .lzma ("lzma alone") */
	BOOT_Z_BZIP2,                   /* recognised, not decoded */
	BOOT_Z_LZO,                     /* recognised, not decoded */
};

/* The compression format of a payload, by its magic bytes. */
enum boot_zfmt boot_payload_format(const uint8_t *p, uint64_t len);
const char *boot_payload_format_name(enum boot_zfmt fmt);
/* Decompress a payload (with the kernel build's 4-byte size trailer) into
 * a malloc'd buffer of the declared size, at most limit bytes.  -ENOTSUP
 * for bzip2, lzo or an unknown magic; -EINVAL corrupt; -EFBIG too large. */
int boot_payload_decompress(const char *path, const uint8_t *p,
    uint64_t len, uint64_t limit, uint8_t **out, uint64_t *out_len,
    struct vm_err *err);
/* The cache of decompressed payloads (boot-cache.c): the bytes payload p
 * (len bytes) decompresses to, when a cached copy of at most limit bytes
 * is there (0, *outp malloc'd) or -ENOENT; and store them after a
 * decompression (failures ignored). */
int boot_cache_get(const uint8_t *p, uint64_t len, uint64_t limit,
    uint8_t **outp, uint64_t *outlenp);
void boot_cache_put(const uint8_t *p, uint64_t len, const uint8_t *out,
    uint64_t olen);

/* --- vmlinux ELF (boot-vmlinux.c) ---------------------------------------- */

#define BOOT_VMLINUX_MAX_SEGS 16

struct boot_vmlinux_seg {
	uint64_t offset;                /* in the file */
	uint64_t paddr;
	uint64_t filesz, memsz;
};

struct boot_vmlinux {
	uint64_t entry;                 /* physical address of startup_64 */
	uint64_t lo, hi;                /* physical span of the segments */
	int nseg;
	struct boot_vmlinux_seg seg[BOOT_VMLINUX_MAX_SEGS];
};

/* Whether buf starts with the ELF magic. */
bool boot_is_elf(const uint8_t *buf, uint64_t len);
/* Parse a 64-bit x86 ELF executable's loadable segments and entry point.
 * -ENOTSUP: a valid ELF of another class or machine; -EINVAL: malformed. */
int boot_vmlinux_parse(const char *path, const uint8_t *buf, uint64_t len,
    struct boot_vmlinux *v, struct vm_err *err);
/* Copy the segments into guest RAM at their physical addresses, zeroing
 * each one's memory beyond its file bytes. */
int boot_vmlinux_load(struct vm *vm, const char *path, const uint8_t *buf,
    const struct boot_vmlinux *v, struct vm_err *err);

/* --- multiboot v1 ----------------------------------------------------------- */

/*
 * Load a multiboot v1 kernel (ELF32/ELF64 or the a.out kludge, spec 0.6.96)
 * and set *bsp: 32-bit protected mode, flat segments, paging off,
 * EAX = 0x2BADB002, EBX = the multiboot information at BOOT_MBI_ADDR.
 */
int boot_multiboot(struct vm *vm, const char *kernel_path,
    const char *cmdline, struct x86_state *bsp, struct vm_err *err);

/* --- firmware (boot-bios.c) ---------------------------------------------- */

struct dev;
struct pc_bios;

/* Debian's SeaBIOS where it is installed (bios-256k.bin, else bios.bin),
 * or NULL. */
const char *bios_default_path(void);
/* Guest memory for a firmware boot with low bytes of RAM below 4 GiB:
 * RAM, the 0xC0000-0xFFFFF shadow (PAM) and the image at path as ROM
 * ending at 4 GiB; sets vm->bios.  path NULL: a restore's, no file read
 * (a ROM of vm->restore_fw_len bytes for the snapshot to fill). */
int bios_init_memory(struct vm *vm, const char *path, uint64_t low,
    struct vm_err *err);
/* The same with the image a multiple of unit bytes. */
int fw_init_memory(struct vm *vm, const char *path, uint64_t low,
    uint64_t unit, struct vm_err *err);
/* The i440FX PAM registers (config bytes 0x59-0x5f) now hold pam[0..6]. */
void bios_pam_update(struct vm *vm, const uint8_t *pam);
/* A snapshot's "bios" section: the shadow's PAM modes and hidden RAM
 * (a dry load checks only). */
struct snap_vis;
int bios_state(struct pc_bios *b, struct snap_vis *v);
/* After a snapshot's RAM is in: the shadow's ROM from the image's region
 * (no file is read). */
void bios_post_load(struct vm *vm);
/* The fw_cfg device with the items SeaBIOS reads (ACPI, e820, CPUs). */
int bios_init_fw_cfg(struct vm *vm, struct vm_err *err);
/* The config's kernel, initrd and command line as fw_cfg's linuxboot
 * items and option ROM (boot-bios-linux.c); *rom_added when there is a
 * kernel.  0 or -errno. */
int bios_add_linux(struct vm *vm, struct dev *fw, bool *rom_added,
    struct vm_err *err);
void bios_free(struct pc_bios *b);

/* --- UEFI firmware (boot-uefi.c) ---------------------------------------- */

struct uefi_flash;
struct vm_config;

/* Debian's OVMF code image (OVMF_CODE_4M.fd) where installed, or NULL. */
const char *uefi_code_path(void);
/* Where cfg's VM keeps its UEFI variables: uefi-vars.fd beside its
 * vm.yaml, "" without one (a store in memory).  0 or -ENAMETOOLONG. */
int uefi_vars_path(const struct vm_config *cfg, char *buf, size_t len);
/* Guest memory for a UEFI boot: OVMF's code as ROM ending at 4 GiB and
 * the VM's variable store as CFI flash below it (made from
 * OVMF_VARS_4M.fd when missing); sets vm->bios. */
int uefi_init_memory(struct vm *vm, uint64_t low, struct vm_err *err);
/* The variable store's flash belongs to vm->bios from now on. */
void bios_set_flash(struct vm *vm, struct uefi_flash *f);
void uefi_flash_free(struct uefi_flash *f);

/* --- probing ------------------------------------------------------------ */

enum boot_kind {
	BOOT_KIND_UNKNOWN = 0,
	BOOT_KIND_LINUX,                /* bzImage ("HdrS" at 0x202) */
	BOOT_KIND_MULTIBOOT,            /* multiboot v1 header in 8 KiB */
	BOOT_KIND_ELF,                  /* other ELF: a Linux vmlinux */
};

/* What kind of kernel path holds; -errno (with err) if unreadable. */
int boot_probe(const char *path, struct vm_err *err);
bool boot_is_multiboot(const char *path);

/* --- ACPI --------------------------------------------------------------- */

/*
 * Build ACPI 6.0 tables for ncpus CPUs in the BIOS area: RSDP (at
 * PC_BIOS_AREA, where the legacy scan finds it), RSDT, XSDT, FADT, FACS,
 * MADT and DSDT.  *rsdp_addr receives the RSDP's address.
 */
int acpi_build(struct vm *vm, int ncpus, uint64_t *rsdp_addr,
    struct vm_err *err);
/* The same tables as fw_cfg files for firmware (QEMU's table-loader):
 * "etc/acpi/rsdp", "etc/acpi/tables" and "etc/table-loader", the FADT
 * naming the PM block at port pm (where that firmware puts it). */
struct acpi_fw_files {
	uint8_t *rsdp, *tables, *loader;
	uint64_t rsdp_len, tables_len, loader_len;
};
int acpi_build_fw_cfg(int ncpus, uint16_t pm, struct acpi_fw_files *f,
    struct vm_err *err);
void acpi_fw_files_free(struct acpi_fw_files *f);
/* Sum of len bytes (a table is valid when the sum is 0 mod 256). */
uint8_t acpi_checksum(const void *p, uint64_t len);

/* --- helpers shared by the loaders (boot-linux.c, boot-multiboot.c) ---- */

/* Read all of path (at most max bytes) into a malloc'd buffer. */
int boot_read_file(const char *path, uint64_t max, uint8_t **buf,
    uint64_t *len, struct vm_err *err);
/* Write the loaders' GDT at BOOT_GDT_ADDR with a 64-bit (long) or 32-bit
 * flat code segment at BOOT_SEL_CS and a flat data segment at BOOT_SEL_DS,
 * and load the matching hidden segment state, GDTR and IDTR into *st. */
int boot_setup_segments(struct vm *vm, struct x86_state *st, bool long_mode,
    struct vm_err *err);

#endif
