/*
 * Direct Linux boot: the x86 boot protocol for bzImage kernels, without
 * firmware and without running the kernel's real-mode setup code.
 *
 * Design: the whole image is read and its setup header validated field by
 * field (every offset is checked against the file's length before use).
 * The protected-mode kernel goes to pref_address (protocol 2.10+) or 1 MiB,
 * where init_size bytes of RAM must be free; the initrd goes as high as the
 * kernel allows below 4 GiB; boot_params (the "zero page") gets a copy of
 * the file's setup header, our loader fields and the e820 map.  The BSP
 * starts at the 64-bit entry (load address + 0x200) with the first 4 GiB
 * identity-mapped by 2 MiB pages, or, for kernels without XLF_KERNEL_64,
 * at the 32-bit entry with paging off.
 * Host decompression (the default): rather than have the guest run the
 * bzImage's own decompressor, slow under emulation, the payload the
 * header points at (payload_offset, payload_length; protocol 2.08+) is
 * decompressed here (hw/boot-payload.c), the resulting ELF vmlinux's
 * segments are put at their link-time physical addresses inside the
 * init_size region at pref_address (hw/boot-vmlinux.c), and the BSP
 * enters startup_64 with the same 64-bit state, page tables and
 * boot_params, as the decompressor leaves it; host_decompress says why no
 * relocation is needed and when it falls back to the guest.  An ELF
 * vmlinux given directly is loaded the same way, with the setup header
 * fields the kernel reads written by us.  The PVH entry (a Xen ELF note,
 * 32-bit, hvm_start_info) is not used: the 64-bit boot_params entry works
 * for every 64-bit kernel, PVH-capable or not, and shares this path.
 * Spec: Documentation/arch/x86/boot.rst ("The Linux/x86 Boot Protocol")
 * and Documentation/arch/x86/zero-page.rst in the Linux tree; Intel SDM
 * vol. 3A 4.5 (4-level paging) and 3.4.5 (segment descriptors).
 */
#include "hw/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/x86-state.h"
#include "hw/pc.h"
#include "mem/mem.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/vm.h"

/* Setup header offsets (in the file and in boot_params alike). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290       /* boot_params: edd_mbr_sig_buffer follows */

/* boot_params (zero page) fields outside the setup header. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 0x1000
/* boot_params.screen_info (Linux's uapi screen_info.h). */
#define SI_VIDEO_MODE 0x06
#define SI_VIDEO_COLS 0x07
#define SI_VIDEO_LINES 0x0e
#define SI_VIDEO_IS_VGA 0x0f
#define SI_VIDEO_POINTS 0x10
#define SI_VIDEO_TYPE_VGAC 0x22

#define LOADED_HIGH 0x01
#define KASLR_FLAG 0x02
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

#define KERNEL_FILE_MAX (512ULL << 20)
#define LOW_4G 0x100000000ULL

/* Host decompression: never more output than this, whatever init_size. */
#define VMLINUX_MAX (1ULL << 30)
/* For a vmlinux without a setup header: x86-64's MIN_KERNEL_ALIGN, the
 * protocol whose fields we fill, the initrd limit and command line size
 * every 64-bit kernel's header declares (COMMAND_LINE_SIZE is 2048). */
#define VMLINUX_ALIGN 0x200000ULL
#define VMLINUX_PROTOCOL 0x20f
#define VMLINUX_INITRD_MAX 0x7fffffffULL
#define VMLINUX_CMDLINE_SIZE 2047u

/* --- helpers shared with boot-multiboot.c --------------------------------- */

int
boot_read_file(const char *path, uint64_t max, uint8_t **bufp, uint64_t *lenp,
    struct vm_err *err)
{
	struct stat st;
	uint8_t *buf;
	uint64_t done = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fd, &st) < 0) {
		ret = vm_err_errno(err, -errno, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = vm_err_set(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = vm_err_set(err, -EFBIG, "%s: too large (%llu bytes)",
		    path, (unsigned long long)st.st_size);
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		ret = vm_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (done < (uint64_t)st.st_size) {
		ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done,
		    (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? vm_err_errno(err, -errno, "%s", path) :
			    vm_err_set(err, -EIO, "%s: file shrank while "
			    "reading", path);
			free(buf);
			goto out;
		}
		done += (uint64_t)n;
	}
	*bufp = buf;
	*lenp = done;
	ret = 0;
out:
	close(fd);
	return ret;
}

static void
set_flat(struct x86_seg *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffffu;
	s->sel = sel;
	s->type = type;
	s->s = 1;
	s->present = 1;
	s->l = code64;
	s->db = !code64;
	s->g = 1;
}

int
boot_setup_segments(struct vm *vm, struct x86_state *st, bool long_mode,
    struct vm_err *err)
{
	/* Descriptor encodings: SDM vol. 3A 3.4.5.  G=1, limit 0xfffff,
	 * P=1, DPL=0, S=1; code type 0xb (exec/read, accessed) with L=1 or
	 * D=1; data type 0x3 (read/write, accessed) with B=1. */
	uint64_t gdt[BOOT_GDT_ENTRIES] = {
		0, 0,
		long_mode ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL,
		0x00cf93000000ffffULL,
	};
	int i;

	if (mem_write(&vm->mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)) < 0)
		return vm_err_set(err, -EFAULT, "boot: no RAM for the GDT at "
		    "0x%llx", BOOT_GDT_ADDR);
	for (i = 0; i < X86_NSEG; i++) {
		if (i == X86_LDTR || i == X86_TR)
			continue;
		set_flat(&st->seg[i], BOOT_SEL_DS, 0x3, false);
	}
	set_flat(&st->seg[X86_CS], BOOT_SEL_CS, 0xb, long_mode);
	memset(&st->seg[X86_LDTR], 0, sizeof(st->seg[X86_LDTR]));
	st->seg[X86_LDTR].type = 0x2;
	st->seg[X86_LDTR].limit = 0xffff;
	st->seg[X86_LDTR].unusable = 1;
	/* No TSS of our own: a busy 32/64-bit TSS type at base 0 keeps
	 * VMX's guest-state checks happy until the kernel loads its own. */
	memset(&st->seg[X86_TR], 0, sizeof(st->seg[X86_TR]));
	st->seg[X86_TR].type = 0xb;
	st->seg[X86_TR].limit = 0xffff;
	st->seg[X86_TR].present = 1;
	st->gdtr.base = BOOT_GDT_ADDR;
	st->gdtr.limit = sizeof(gdt) - 1;
	st->idtr.base = 0;
	st->idtr.limit = 0;
	return 0;
}

/* --- the bzImage ---------------------------------------------------------- */

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

static void
wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* The parsed and checked facts of one bzImage. */
struct bzimage {
	const char *path;
	const uint8_t *file;
	uint64_t len;
	uint16_t version;
	uint64_t setup_size;            /* real-mode part, bytes */
	uint64_t hdr_end;               /* setup header ends here */
	uint64_t kernel_size;           /* protected-mode part, bytes */
	uint64_t init_size;             /* RAM the kernel needs */
	uint64_t align;
	bool relocatable;
	bool entry64;
	uint64_t pref;
	uint64_t initrd_max;            /* highest initrd byte address */
	uint32_t cmdline_size;
};

static int
parse_bzimage(struct bzimage *k, struct vm_err *err)
{
	const uint8_t *f = k->file;
	unsigned sects;
	uint64_t sys;

	if (k->len < HDR_MAGIC + 4 + 2)
		return vm_err_set(err, -EINVAL, "%s: not a Linux kernel image "
		    "(only %llu bytes)", k->path, (unsigned long long)k->len);
	if (memcmp(f + HDR_MAGIC, "HdrS", 4) != 0)
		return vm_err_set(err, -EINVAL, "%s: not a Linux kernel image "
		    "(no HdrS signature)", k->path);
	if (rd16(f + HDR_BOOT_FLAG) != 0xaa55)
		return vm_err_set(err, -EINVAL, "%s: not a Linux kernel image "
		    "(boot_flag is 0x%04x, not 0xaa55)", k->path,
		    rd16(f + HDR_BOOT_FLAG));
	k->version = rd16(f + HDR_VERSION);
	if (k->version < 0x206)
		return vm_err_set(err, -EINVAL, "%s: boot protocol %u.%02u is "
		    "too old (vm-run needs 2.06 or later, Linux 2.6.22+)",
		    k->path, k->version >> 8, k->version & 0xff);
	/* The header's length: the jump at 0x200 skips over it. */
	k->hdr_end = HDR_MAGIC + (uint64_t)f[HDR_JUMP + 1];
	if (k->hdr_end < HDR_INIT_SIZE + 4 && k->version >= 0x20a)
		return vm_err_set(err, -EINVAL, "%s: setup header is too short "
		    "(%llu bytes) for protocol %u.%02u", k->path,
		    (unsigned long long)(k->hdr_end - HDR_SETUP_SECTS),
		    k->version >> 8, k->version & 0xff);
	if (k->hdr_end < HDR_CMDLINE_SIZE + 4)
		return vm_err_set(err, -EINVAL, "%s: setup header is too short "
		    "(%llu bytes)", k->path,
		    (unsigned long long)(k->hdr_end - HDR_SETUP_SECTS));
	if (k->hdr_end > HDR_END_MAX)
		k->hdr_end = HDR_END_MAX;       /* newer fields we don't know */
	sects = f[HDR_SETUP_SECTS] ? f[HDR_SETUP_SECTS] : 4;
	k->setup_size = ((uint64_t)sects + 1) * 512;
	if (k->hdr_end > k->len || k->setup_size >= k->len)
		return vm_err_set(err, -EINVAL, "%s: truncated: the setup code "
		    "(%llu bytes) does not fit in the file (%llu bytes)",
		    k->path, (unsigned long long)k->setup_size,
		    (unsigned long long)k->len);
	if (k->hdr_end > k->setup_size)
		return vm_err_set(err, -EINVAL, "%s: setup header runs past the "
		    "setup code", k->path);
	if (!(f[HDR_LOADFLAGS] & LOADED_HIGH))
		return vm_err_set(err, -EINVAL, "%s: a zImage (not loaded high) "
		    "is not supported; use a bzImage", k->path);
	k->kernel_size = k->len - k->setup_size;
	sys = (uint64_t)rd32(f + HDR_SYSSIZE) * 16;
	if (sys > k->kernel_size)
		return vm_err_set(err, -EINVAL, "%s: truncated: the header says "
		    "%llu bytes of kernel, the file holds %llu", k->path,
		    (unsigned long long)sys,
		    (unsigned long long)k->kernel_size);
	k->initrd_max = rd32(f + HDR_INITRD_ADDR_MAX);
	k->align = rd32(f + HDR_KERNEL_ALIGNMENT);
	k->relocatable = f[HDR_RELOCATABLE] != 0;
	k->cmdline_size = rd32(f + HDR_CMDLINE_SIZE);
	k->entry64 = k->version >= 0x20c &&
	    (rd16(f + HDR_XLOADFLAGS) & XLF_KERNEL_64);
	if (k->version >= 0x20a) {
		k->pref = rd64(f + HDR_PREF_ADDRESS);
		k->init_size = rd32(f + HDR_INIT_SIZE);
	}
	if (k->init_size < k->kernel_size)
		k->init_size = k->kernel_size;
	if (k->relocatable && (k->align == 0 || (k->align & (k->align - 1)) ||
	    k->align > (1ULL << 30)))
		return vm_err_set(err, -EINVAL, "%s: bad kernel_alignment "
		    "0x%llx", k->path, (unsigned long long)k->align);
	return 0;
}

static bool
fits(const struct e820_entry *map, int n, uint64_t addr, uint64_t size)
{
	uint64_t end = e820_usable_end(map, n, addr);

	return addr >= PC_HIGHMEM && end && addr + size >= addr &&
	    addr + size <= end && addr + size <= LOW_4G;
}

/* Where the protected-mode kernel goes: pref_address (or 1 MiB), else for
 * a relocatable kernel the lowest aligned address where it fits. */
static int
place_kernel(const struct bzimage *k, const struct e820_entry *map, int n,
    uint64_t *addr, struct vm_err *err)
{
	uint64_t want = k->pref ? k->pref : PC_HIGHMEM;
	int i;

	if (fits(map, n, want, k->init_size)) {
		*addr = want;
		return 0;
	}
	if (k->relocatable) {
		for (i = 0; i < n; i++) {
			uint64_t a = map[i].addr < PC_HIGHMEM ? PC_HIGHMEM :
			    map[i].addr;

			a = (a + k->align - 1) & ~(k->align - 1);
			if (map[i].type == E820_RAM &&
			    fits(map, n, a, k->init_size)) {
				*addr = a;
				return 0;
			}
		}
	}
	return vm_err_set(err, -ENOMEM, "%s: the kernel needs %llu MiB of RAM "
	    "from 0x%llx (init_size) below 4 GiB; give the VM more memory",
	    k->path, (unsigned long long)((k->init_size + 0xfffff) >> 20),
	    (unsigned long long)want);
}

static int
load_initrd(struct vm *vm, const struct bzimage *k, const char *path,
    const struct e820_entry *map, int n, uint64_t kernel_end,
    uint64_t *addr, uint64_t *size, struct vm_err *err)
{
	struct stat st;
	uint64_t top, a, done = 0;
	uint8_t *dst;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	if (fstat(fd, &st) < 0) {
		ret = vm_err_errno(err, -errno, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = vm_err_set(err, -EINVAL, "%s: not a regular, non-empty "
		    "file", path);
		goto out;
	}
	/* Top of the RAM run above 1 MiB, capped by initrd_addr_max. */
	top = e820_usable_end(map, n, PC_HIGHMEM);
	if (top > LOW_4G)
		top = LOW_4G;
	if (k->initrd_max && top > k->initrd_max + 1)
		top = k->initrd_max + 1;
	if ((uint64_t)st.st_size > top ||
	    ((top - (uint64_t)st.st_size) & ~0xfffULL) < kernel_end) {
		ret = vm_err_set(err, -ENOMEM, "%s: the initrd (%llu MiB) does "
		    "not fit in RAM between the kernel (ends at 0x%llx) and "
		    "0x%llx; give the VM more memory", path,
		    (unsigned long long)(st.st_size >> 20),
		    (unsigned long long)kernel_end, (unsigned long long)top);
		goto out;
	}
	a = (top - (uint64_t)st.st_size) & ~0xfffULL;
	dst = mem_gpa_to_hva(&vm->mem, a, (uint64_t)st.st_size);
	if (dst == NULL) {
		ret = vm_err_set(err, -EFAULT, "%s: no RAM at 0x%llx", path,
		    (unsigned long long)a);
		goto out;
	}
	while (done < (uint64_t)st.st_size) {
		ssize_t r = pread(fd, dst + done, (size_t)st.st_size - done,
		    (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? vm_err_errno(err, -errno, "%s", path) :
			    vm_err_set(err, -EIO, "%s: file shrank while "
			    "reading", path);
			goto out;
		}
		done += (uint64_t)r;
	}
	mem_notify_write(&vm->mem, a, done);
	*addr = a;
	*size = done;
out:
	close(fd);
	return ret;
}

/* Identity-map [0, 4 GiB) with 2 MiB pages: PML4 -> PDPT -> 4 PDs. */
static int
write_page_tables(struct vm *vm, struct vm_err *err)
{
	uint64_t *pt = mem_gpa_to_hva(&vm->mem, BOOT_PT_ADDR,
	    BOOT_PT_END - BOOT_PT_ADDR);
	uint64_t pdpt = BOOT_PT_ADDR + 0x1000, pd = BOOT_PT_ADDR + 0x2000;
	int i;

	if (pt == NULL)
		return vm_err_set(err, -EFAULT, "boot: no RAM for page tables "
		    "at 0x%llx", BOOT_PT_ADDR);
	memset(pt, 0, BOOT_PT_END - BOOT_PT_ADDR);
	pt[0] = pdpt | 0x3;                             /* P | RW */
	for (i = 0; i < 4; i++)
		pt[512 + i] = (pd + 0x1000 * (uint64_t)i) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pt[1024 + i] = ((uint64_t)i << 21) | 0x83;  /* P|RW|PS */
	mem_notify_write(&vm->mem, BOOT_PT_ADDR, BOOT_PT_END - BOOT_PT_ADDR);
	return 0;
}

static uint64_t
find_rsdp(struct vm *vm)
{
	char sig[8];

	if (mem_read(&vm->mem, PC_BIOS_AREA, sig, sizeof(sig)) == 0 &&
	    memcmp(sig, "RSD PTR ", 8) == 0)
		return PC_BIOS_AREA;
	return 0;
}

/* The kernel as it will be loaded and entered. */
struct linux_load {
	enum boot_linux_how how;
	uint64_t kaddr;                 /* bzImage kernel, or vmlinux's lo */
	uint64_t size;                  /* bytes loaded from kaddr */
	uint64_t kernel_end;            /* the initrd must go above */
	uint64_t entry;                 /* the BSP's RIP */
	bool entry64;
	const uint8_t *elf;             /* the vmlinux: the file or elf_buf */
	uint8_t *elf_buf;               /* malloc'd by host decompression */
	uint64_t elf_len;
	struct boot_vmlinux v;
	enum boot_zfmt zfmt;
	uint64_t zsize, us;
	bool cached;                    /* from the payload cache */
};

/* Every segment in usable RAM from 1 MiB, below 4 GiB. */
static int
check_segments(const char *path, const struct boot_vmlinux *v,
    const struct e820_entry *map, int n, struct vm_err *err)
{
	int i;

	for (i = 0; i < v->nseg; i++)
		if (!fits(map, n, v->seg[i].paddr, v->seg[i].memsz))
			return vm_err_set(err, -ENOMEM, "%s: ELF segment at "
			    "0x%llx (0x%llx bytes) is not in usable RAM between "
			    "1 MiB and 4 GiB; give the VM more memory if it is "
			    "past the end", path,
			    (unsigned long long)v->seg[i].paddr,
			    (unsigned long long)v->seg[i].memsz);
	return 0;
}

/*
 * Decompress a bzImage's payload on the host and prepare to enter the
 * vmlinux as the kernel's decompressor would (arch/x86/boot/compressed:
 * extract_kernel, parse_elf, then a jump to startup_64 in 64-bit mode
 * with RSI = boot_params).  The decompressor would also apply the
 * relocation table appended to the vmlinux (handle_relocations); on x86-64
 * it does so only when KASLR moved the kernel's *virtual* base, the delta
 * being virt_addr - LOAD_PHYSICAL_ADDR.  A physical load offset needs no
 * relocation either: startup_64 measures where it runs and fixes its own
 * page tables.  Without KASLR and with the segments at their link-time
 * physical addresses (the lowest p_paddr is LOAD_PHYSICAL_ADDR, which the
 * setup header publishes as pref_address), both deltas are zero and the
 * relocations would change nothing, so they are skipped.  When that does
 * not hold (pref_address not free, a segment outside the init_size region
 * at pref_address, a 32-bit kernel, a format we cannot decode) this
 * returns 0 with ld->how left at BOOT_HOW_BZIMAGE, after a log_info: the
 * guest then decompresses itself.  A malformed payload or vmlinux is an
 * error, as it would be for the kernel's decompressor.
 */
static int
host_decompress(const struct bzimage *k, const struct e820_entry *map,
    int n, struct linux_load *ld, struct vm_err *err)
{
	const char *path = k->path;
	const uint8_t *pl;
	struct vm_err why = { 0 };
	uint64_t off, len, limit, t0;
	int ret;

	if (!k->entry64) {
		log_info("%s: no 64-bit entry point (XLF_KERNEL_64): the kernel "
		    "decompresses itself", path);
		return 0;
	}
	off = rd32(k->file + HDR_PAYLOAD_OFFSET);
	len = rd32(k->file + HDR_PAYLOAD_LENGTH);
	if (len == 0) {
		log_info("%s: the setup header describes no payload: the "
		    "kernel decompresses itself", path);
		return 0;
	}
	if (off > k->kernel_size || len > k->kernel_size - off)
		return vm_err_set(err, -EINVAL, "%s: truncated: the payload "
		    "(offset %llu, length %llu) runs past the end of the "
		    "kernel (%llu bytes)", path, (unsigned long long)off,
		    (unsigned long long)len,
		    (unsigned long long)k->kernel_size);
	pl = k->file + k->setup_size + off;
	ld->zfmt = boot_payload_format(pl, len);
	ld->zsize = len;
	if (ld->kaddr != k->pref) {
		log_info("%s: not loaded at its link-time address 0x%llx: the "
		    "kernel decompresses itself", path,
		    (unsigned long long)k->pref);
		return 0;
	}
	limit = k->init_size < VMLINUX_MAX ? k->init_size : VMLINUX_MAX;
	t0 = clock_ns();
	if (boot_cache_get(pl, len, limit, &ld->elf_buf, &ld->elf_len) == 0) {
		ld->cached = true;
		ret = 0;
	} else {
		ret = boot_payload_decompress(path, pl, len, limit,
		    &ld->elf_buf, &ld->elf_len, &why);
		if (ret == 0)
			boot_cache_put(pl, len, ld->elf_buf, ld->elf_len);
	}
	ld->us = (clock_ns() - t0) / 1000;
	if (ret == -ENOTSUP) {
		log_info("%s; the kernel decompresses itself", why.msg);
		return 0;
	}
	if (ret < 0) {
		if (err)
			*err = why;
		return ret;
	}
	ret = boot_vmlinux_parse(path, ld->elf_buf, ld->elf_len, &ld->v, &why);
	if (ret == -ENOTSUP) {
		log_info("%s (the decompressed payload); the kernel decompresses "
		    "itself", why.msg);
		goto fallback;
	}
	if (ret < 0) {
		vm_err_set(err, ret, "%s (in the decompressed %s payload)",
		    why.msg, boot_payload_format_name(ld->zfmt));
		goto fail;
	}
	if (ld->v.lo != k->pref || (ld->v.lo & (VMLINUX_ALIGN - 1)) ||
	    ld->v.hi - ld->v.lo > k->init_size ||
	    check_segments(path, &ld->v, map, n, NULL) < 0) {
		log_info("%s: the vmlinux's segments (0x%llx-0x%llx) are not "
		    "within init_size at its link-time address 0x%llx: the "
		    "kernel decompresses itself", path,
		    (unsigned long long)ld->v.lo, (unsigned long long)ld->v.hi,
		    (unsigned long long)k->pref);
		goto fallback;
	}
	ld->how = BOOT_HOW_HOST_DECOMPRESS;
	ld->elf = ld->elf_buf;
	ld->size = ld->v.hi - ld->v.lo;
	ld->entry = ld->v.entry;
	ld->entry64 = true;
	return 0;
fallback:
	ret = 0;
fail:
	free(ld->elf_buf);
	ld->elf_buf = NULL;
	return ret;
}

/* An ELF vmlinux given directly: the facts a setup header would give. */
static int
prepare_vmlinux(struct bzimage *k, const struct e820_entry *map, int n,
    struct linux_load *ld, struct vm_err *err)
{
	int ret;

	ret = boot_vmlinux_parse(k->path, k->file, k->len, &ld->v, err);
	if (ret < 0)
		return ret == -ENOTSUP ? -EINVAL : ret;
	/* startup_64 runs only from a 2 MiB-aligned physical address. */
	if (ld->v.lo & (VMLINUX_ALIGN - 1))
		return vm_err_set(err, -EINVAL, "%s: the kernel's first segment "
		    "(0x%llx) is not 2 MiB aligned", k->path,
		    (unsigned long long)ld->v.lo);
	ret = check_segments(k->path, &ld->v, map, n, err);
	if (ret < 0)
		return ret;
	k->version = VMLINUX_PROTOCOL;
	k->entry64 = true;
	k->pref = ld->v.lo;
	k->init_size = ld->v.hi - ld->v.lo;
	k->align = VMLINUX_ALIGN;
	k->initrd_max = VMLINUX_INITRD_MAX;
	k->cmdline_size = VMLINUX_CMDLINE_SIZE;
	ld->how = BOOT_HOW_VMLINUX;
	ld->elf = k->file;
	ld->elf_len = k->len;
	ld->kaddr = ld->v.lo;
	ld->size = ld->v.hi - ld->v.lo;
	ld->kernel_end = (ld->v.hi + 0xfff) & ~0xfffULL;
	ld->entry = ld->v.entry;
	ld->entry64 = true;
	return 0;
}

/* The setup header fields of a vmlinux, which has none of its own; the
 * ones the kernel reads (boot.rst, "The Real-Mode Kernel Header"). */
static void
vmlinux_header(uint8_t *bp, const struct bzimage *k)
{
	wr16(bp + HDR_BOOT_FLAG, 0xaa55);
	memcpy(bp + HDR_MAGIC, "HdrS", 4);
	wr16(bp + HDR_VERSION, k->version);
	bp[HDR_LOADFLAGS] = LOADED_HIGH;
	wr32(bp + HDR_INITRD_ADDR_MAX, (uint32_t)k->initrd_max);
	wr32(bp + HDR_KERNEL_ALIGNMENT, (uint32_t)k->align);
	wr16(bp + HDR_XLOADFLAGS, XLF_KERNEL_64);
	wr32(bp + HDR_CMDLINE_SIZE, k->cmdline_size);
	wr64(bp + HDR_PREF_ADDRESS, k->pref);
	wr32(bp + HDR_INIT_SIZE, (uint32_t)k->init_size);
}

static void
log_load(const struct bzimage *k, const struct linux_load *ld)
{
	switch (ld->how) {
	case BOOT_HOW_HOST_DECOMPRESS:
		log_info("%s: %s payload decompressed on the host%s: %.1f MiB "
		    "-> %.1f MiB in %.3f s; vmlinux at 0x%llx-0x%llx "
		    "(link-time address, no KASLR), entry 0x%llx (64-bit)",
		    k->path, boot_payload_format_name(ld->zfmt),
		    ld->cached ? " (from the cache)" : "",
		    ld->zsize / 1048576.0, ld->elf_len / 1048576.0,
		    ld->us / 1e6, (unsigned long long)ld->v.lo,
		    (unsigned long long)ld->v.hi,
		    (unsigned long long)ld->entry);
		break;
	case BOOT_HOW_VMLINUX:
		log_info("%s: ELF vmlinux, %d segments at 0x%llx-0x%llx, entry "
		    "0x%llx (64-bit, boot_params in RSI)", k->path, ld->v.nseg,
		    (unsigned long long)ld->v.lo, (unsigned long long)ld->v.hi,
		    (unsigned long long)ld->entry);
		break;
	default:
		log_info("%s: bzImage (protocol %u.%02u) at 0x%llx; the kernel "
		    "decompresses itself, entry 0x%llx (%s)", k->path,
		    k->version >> 8, k->version & 0xff,
		    (unsigned long long)ld->kaddr,
		    (unsigned long long)ld->entry,
		    ld->entry64 ? "64-bit" : "32-bit");
		break;
	}
}

int
boot_linux_ex(struct vm *vm, const char *kernel_path, const char *initrd_path,
    const char *cmdline, unsigned flags, struct x86_state *bsp,
    struct boot_linux_info *info, struct vm_err *err)
{
	struct bzimage k = { .path = kernel_path };
	struct linux_load ld = { 0 };
	struct e820_entry map[E820_MAX];
	uint8_t *file = NULL, *bp = NULL;
	uint64_t rd_addr = 0, rd_size = 0, rsdp;
	size_t clen;
	int n, i, ret;

	if (cmdline == NULL)
		cmdline = "";
	ret = boot_read_file(kernel_path, KERNEL_FILE_MAX, &file, &k.len,
	    err);
	if (ret < 0)
		return ret;
	k.file = file;
	n = e820_build(vm, map, E820_MAX);
	if (n < 0) {
		ret = vm_err_set(err, n, "boot: memory map has too many "
		    "entries");
		goto out;
	}
	if (boot_is_elf(file, k.len)) {
		ret = prepare_vmlinux(&k, map, n, &ld, err);
		if (ret < 0)
			goto out;
	} else {
		ret = parse_bzimage(&k, err);
		if (ret < 0)
			goto out;
		ret = place_kernel(&k, map, n, &ld.kaddr, err);
		if (ret < 0)
			goto out;
		ld.size = k.kernel_size;
		ld.kernel_end = ld.kaddr + k.init_size;
		ld.entry64 = k.entry64;
		ld.entry = k.entry64 ? ld.kaddr + 0x200 : ld.kaddr;
		if (flags & BOOT_LINUX_GUEST_DECOMPRESS)
			log_info("%s: host decompression is off "
			    "(--kernel-decompress guest)", kernel_path);
		else if ((ret = host_decompress(&k, map, n, &ld, err)) < 0)
			goto out;
	}
	clen = strlen(cmdline);
	if (clen > k.cmdline_size || clen >= BOOT_CMDLINE_MAX) {
		ret = vm_err_set(err, -E2BIG, "%s: the command line is %zu "
		    "bytes; this kernel takes at most %u", kernel_path, clen,
		    k.cmdline_size < BOOT_CMDLINE_MAX - 1 ? k.cmdline_size :
		    BOOT_CMDLINE_MAX - 1);
		goto out;
	}
	if (initrd_path && *initrd_path) {
		ret = load_initrd(vm, &k, initrd_path, map, n, ld.kernel_end,
		    &rd_addr, &rd_size, err);
		if (ret < 0)
			goto out;
	}
	if (ld.how == BOOT_HOW_BZIMAGE)
		ret = mem_write(&vm->mem, ld.kaddr, file + k.setup_size,
		    k.kernel_size) < 0 ? -EFAULT : 0;
	else
		ret = boot_vmlinux_load(vm, kernel_path, ld.elf, &ld.v, err);
	if (ret < 0 || mem_write(&vm->mem, BOOT_CMDLINE_ADDR, cmdline,
	    clen + 1) < 0) {
		ret = vm_err_set(err, -EFAULT, "%s: no RAM to load the kernel",
		    kernel_path);
		goto out;
	}

	/* boot_params: the file's setup header plus what the loader fills. */
	bp = calloc(1, BP_SIZE);
	if (bp == NULL) {
		ret = vm_err_set(err, -ENOMEM, "boot: out of memory");
		goto out;
	}
	if (ld.how == BOOT_HOW_VMLINUX)
		vmlinux_header(bp, &k);
	else
		memcpy(bp + HDR_SETUP_SECTS, file + HDR_SETUP_SECTS,
		    k.hdr_end - HDR_SETUP_SECTS);
	/* KASLR_FLAG is the decompressor's report that it randomised the
	 * kernel's placement; when it does not run, nothing was. */
	if (ld.how != BOOT_HOW_BZIMAGE)
		bp[HDR_LOADFLAGS] &= (uint8_t)~KASLR_FLAG;
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	/* Only meaningful to real-mode setup code, which we do not run. */
	wr16(bp + HDR_HEAP_END_PTR, 0xfe00);
	wr32(bp + HDR_CODE32_START, (uint32_t)ld.kaddr);
	wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)rd_addr);
	wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)rd_size);
	rsdp = find_rsdp(vm);
	if (k.version >= 0x20e)
		wr64(bp + BP_ACPI_RSDP_ADDR, rsdp);
	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;

		wr64(e, map[i].addr);
		wr64(e + 8, map[i].size);
		wr32(e + 16, map[i].type);
	}
	/* A VGA (which starts in text mode 3 when no firmware runs): what
	 * a BIOS boot's setup code would say, so Linux's vgacon takes it. */
	if (vm->cfg != NULL && pc_has_vga(vm->cfg)) {
		bp[SI_VIDEO_MODE] = 3;
		bp[SI_VIDEO_COLS] = 80;
		bp[SI_VIDEO_LINES] = 25;
		bp[SI_VIDEO_IS_VGA] = SI_VIDEO_TYPE_VGAC;
		wr16(bp + SI_VIDEO_POINTS, 16);
	}
	if (mem_write(&vm->mem, BOOT_PARAMS_ADDR, bp, BP_SIZE) < 0) {
		ret = vm_err_set(err, -EFAULT, "boot: no RAM for boot_params "
		    "at 0x%llx", BOOT_PARAMS_ADDR);
		goto out;
	}

	/* The BSP (boot.rst, "32-bit Boot Protocol" / "64-bit Boot
	 * Protocol"; the decompressor leaves the same state at startup_64:
	 * long mode, identity-mapped, interrupts off, RSI = boot_params). */
	ret = boot_setup_segments(vm, bsp, ld.entry64, err);
	if (ret < 0)
		goto out;
	memset(bsp->gpr, 0, sizeof(bsp->gpr));
	bsp->gpr[X86_RSI] = BOOT_PARAMS_ADDR;
	bsp->gpr[X86_RSP] = BOOT_STACK_TOP;
	bsp->rflags = 0x2;
	bsp->rip = ld.entry;
	if (ld.entry64) {
		ret = write_page_tables(vm, err);
		if (ret < 0)
			goto out;
		bsp->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		bsp->cr3 = BOOT_PT_ADDR;
		bsp->cr4 = X86_CR4_PAE;
		bsp->efer = X86_EFER_LME | X86_EFER_LMA;
	} else {
		bsp->cr0 = X86_CR0_PE | X86_CR0_ET;
		bsp->cr3 = 0;
		bsp->cr4 = 0;
		bsp->efer = 0;
	}
	log_load(&k, &ld);
	log_debug(LOG_BOOT, "%s: protocol %u.%02u, kernel at 0x%llx "
	    "(init_size 0x%llx), initrd 0x%llx+0x%llx, %s entry 0x%llx",
	    kernel_path, k.version >> 8, k.version & 0xff,
	    (unsigned long long)ld.kaddr, (unsigned long long)k.init_size,
	    (unsigned long long)rd_addr, (unsigned long long)rd_size,
	    ld.entry64 ? "64-bit" : "32-bit", (unsigned long long)bsp->rip);
	if (info) {
		memset(info, 0, sizeof(*info));
		info->how = ld.how;
		info->version = k.version;
		info->entry64 = ld.entry64;
		info->kernel_addr = ld.kaddr;
		info->kernel_size = ld.size;
		info->init_size = k.init_size;
		info->entry = ld.entry;
		info->initrd_addr = rd_addr;
		info->initrd_size = rd_size;
		info->rsdp_addr = rsdp;
		info->payload_format = (int)ld.zfmt;
		info->payload_size = ld.zsize;
		info->vmlinux_size = ld.how == BOOT_HOW_BZIMAGE ? 0 : ld.elf_len;
		info->decompress_us = ld.us;
	}
	ret = 0;
out:
	free(ld.elf_buf);
	free(bp);
	free(file);
	return ret;
}

int
boot_linux(struct vm *vm, const char *kernel_path, const char *initrd_path,
    const char *cmdline, struct x86_state *bsp, struct vm_err *err)
{
	return boot_linux_ex(vm, kernel_path, initrd_path, cmdline, 0, bsp,
	    NULL, err);
}
