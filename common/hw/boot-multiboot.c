/*
 * Multiboot v1 kernels (test kernels, hobby OSes, Xen-style loaders) and
 * the probe that tells vm-run which loader a kernel file needs.
 *
 * Design: find the multiboot header in the first 8 KiB, refuse required
 * features we cannot give, then load either by the header's address fields
 * (the "a.out kludge", flag 16, which wins when present) or from the ELF
 * program headers (ELF32 or ELF64, PT_LOAD at physical addresses).  Every
 * segment must land in usable RAM above the loader's own low-memory area
 * and below 4 GiB.  The multiboot information structure, its memory map
 * (the e820 map) and the loader name go at BOOT_MBI_ADDR, the command line
 * ("<kernel> <args>", as GRUB and QEMU pass it) at BOOT_CMDLINE_ADDR.
 * Spec: The Multiboot Specification version 0.6.96, sections 3.1 (OS
 * image format), 3.2 (machine state) and 3.3 (boot information format);
 * System V ABI / ELF for the program headers.
 */
#include "hw/boot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/x86-state.h"
#include "hw/pc.h"
#include "mem/mem.h"
#include "util/err.h"
#include "util/log.h"
#include "vm/vm.h"

#define MB_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH 8192
#define MB_HDR_LEN 12
#define MB_AOUT_HDR_LEN 32
#define MB_F_PAGE_ALIGN (1u << 0)
#define MB_F_MEMINFO (1u << 1)
#define MB_F_VIDEO (1u << 2)
#define MB_F_AOUT_KLUDGE (1u << 16)
#define MB_F_REQUIRED_MASK 0xffffu

/* Multiboot information (spec 3.3). */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME 64
#define MBI_SIZE 120
#define MBI_HAS_MEM (1u << 0)
#define MBI_HAS_CMDLINE (1u << 2)
#define MBI_HAS_MMAP (1u << 6)
#define MBI_HAS_LOADER_NAME (1u << 9)
#define MBI_MMAP_OFF 0x100              /* within the MBI page */
#define MBI_NAME_OFF 0xf00
#define MMAP_ENTRY 24

#define KERNEL_FILE_MAX (512ULL << 20)
#define LOW_4G 0x100000000ULL

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Offset of a valid header in buf, -1 if none; *bad_sum set if a magic
 * with a wrong checksum was seen. */
static long
find_header(const uint8_t *buf, uint64_t len, bool *bad_sum)
{
	uint64_t off, lim = len < MB_SEARCH ? len : MB_SEARCH;

	*bad_sum = false;
	for (off = 0; off + MB_HDR_LEN <= lim; off += 4) {
		uint32_t magic = rd32(buf + off);

		if (magic != MB_MAGIC)
			continue;
		if ((uint32_t)(magic + rd32(buf + off + 4) +
		    rd32(buf + off + 8)) == 0)
			return (long)off;
		*bad_sum = true;
	}
	return -1;
}

static int
probe_buf(const uint8_t *buf, uint64_t len)
{
	bool bad;

	if (len >= 0x206 && memcmp(buf + 0x202, "HdrS", 4) == 0)
		return BOOT_KIND_LINUX;
	if (find_header(buf, len, &bad) >= 0)
		return BOOT_KIND_MULTIBOOT;
	if (boot_is_elf(buf, len))
		return BOOT_KIND_ELF;
	return BOOT_KIND_UNKNOWN;
}

int
boot_probe(const char *path, struct vm_err *err)
{
	uint8_t buf[MB_SEARCH];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_err_errno(err, -errno, "%s", path);
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return vm_err_errno(err, e, "%s", path);
	}
	close(fd);
	return probe_buf(buf, (uint64_t)n);
}

bool
boot_is_multiboot(const char *path)
{
	return boot_probe(path, NULL) == BOOT_KIND_MULTIBOOT;
}

/* Load filesz bytes from src to guest dst and zero up to memsz. */
static int
load_segment(struct vm *vm, const char *path, const struct e820_entry *map,
    int n, uint64_t dst, const uint8_t *src, uint64_t filesz, uint64_t memsz,
    struct vm_err *err)
{
	uint64_t end = e820_usable_end(map, n, dst);
	uint8_t *p;

	if (memsz == 0)
		return 0;
	if (filesz > memsz)
		return vm_err_set(err, -EINVAL, "%s: segment at 0x%llx has more "
		    "file bytes (0x%llx) than memory bytes (0x%llx)", path,
		    (unsigned long long)dst, (unsigned long long)filesz,
		    (unsigned long long)memsz);
	if (dst < BOOT_LOW_END || dst + memsz < dst || dst + memsz > LOW_4G ||
	    end == 0 || dst + memsz > end)
		return vm_err_set(err, -EINVAL, "%s: segment 0x%llx-0x%llx is "
		    "not in usable RAM between 0x%llx and 4 GiB (more memory?)",
		    path, (unsigned long long)dst,
		    (unsigned long long)(dst + memsz - 1),
		    (unsigned long long)BOOT_LOW_END);
	p = mem_gpa_to_hva(&vm->mem, dst, memsz);
	if (p == NULL)
		return vm_err_set(err, -EFAULT, "%s: no RAM at 0x%llx", path,
		    (unsigned long long)dst);
	memcpy(p, src, filesz);
	memset(p + filesz, 0, memsz - filesz);
	mem_notify_write(&vm->mem, dst, memsz);
	return 0;
}

static int
load_aout(struct vm *vm, const char *path, const uint8_t *f, uint64_t len,
    uint64_t hoff, const struct e820_entry *map, int n, uint64_t *entry,
    struct vm_err *err)
{
	const uint8_t *h = f + hoff;
	uint32_t header_addr, load_addr, load_end, bss_end;
	uint64_t foff, filesz, memsz;

	if (hoff + MB_AOUT_HDR_LEN > len)
		return vm_err_set(err, -EINVAL, "%s: truncated multiboot header",
		    path);
	header_addr = rd32(h + 12);
	load_addr = rd32(h + 16);
	load_end = rd32(h + 20);
	bss_end = rd32(h + 24);
	if (load_addr > header_addr || header_addr - load_addr > hoff)
		return vm_err_set(err, -EINVAL, "%s: multiboot load_addr 0x%x "
		    "and header_addr 0x%x do not match the header's place in "
		    "the file", path, load_addr, header_addr);
	foff = hoff - (header_addr - load_addr);
	if (load_end == 0) {
		filesz = len - foff;
	} else {
		if (load_end < load_addr || load_end - load_addr > len - foff)
			return vm_err_set(err, -EINVAL, "%s: multiboot "
			    "load_end_addr 0x%x is outside the file", path,
			    load_end);
		filesz = load_end - load_addr;
	}
	memsz = filesz;
	if (bss_end) {
		if (bss_end < load_addr + filesz)
			return vm_err_set(err, -EINVAL, "%s: multiboot "
			    "bss_end_addr 0x%x is below load_end", path,
			    bss_end);
		memsz = bss_end - load_addr;
	}
	*entry = rd32(h + 28);
	return load_segment(vm, path, map, n, load_addr, f + foff, filesz,
	    memsz, err);
}

/* One program header, widened to 64 bits. */
struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static int
load_elf(struct vm *vm, const char *path, const uint8_t *f, uint64_t len,
    const struct e820_entry *map, int n, uint64_t *entry,
    struct vm_err *err)
{
	bool is64;
	uint64_t phoff, entsz, e;
	unsigned phnum, i, nload = 0;
	int ret;

	if (len < EI_NIDENT || memcmp(f, ELFMAG, SELFMAG) != 0)
		return vm_err_set(err, -EINVAL, "%s: multiboot kernel is not ELF "
		    "and has no load addresses (header flag 16)", path);
	if (f[EI_DATA] != ELFDATA2LSB || (f[EI_CLASS] != ELFCLASS32 &&
	    f[EI_CLASS] != ELFCLASS64))
		return vm_err_set(err, -EINVAL, "%s: not a little-endian ELF32 "
		    "or ELF64 file", path);
	is64 = f[EI_CLASS] == ELFCLASS64;
	if (is64) {
		Elf64_Ehdr h;

		if (len < sizeof(h))
			goto trunc;
		memcpy(&h, f, sizeof(h));
		if (h.e_machine != EM_X86_64 && h.e_machine != EM_386)
			goto machine;
		e = h.e_entry;
		phoff = h.e_phoff;
		entsz = h.e_phentsize;
		phnum = h.e_phnum;
		if (entsz < sizeof(Elf64_Phdr))
			goto bad_ph;
	} else {
		Elf32_Ehdr h;

		if (len < sizeof(h))
			goto trunc;
		memcpy(&h, f, sizeof(h));
		if (h.e_machine != EM_386)
			goto machine;
		e = h.e_entry;
		phoff = h.e_phoff;
		entsz = h.e_phentsize;
		phnum = h.e_phnum;
		if (entsz < sizeof(Elf32_Phdr))
			goto bad_ph;
	}
	if (phnum == 0 || phoff > len || (uint64_t)phnum * entsz > len - phoff)
		goto bad_ph;
	*entry = e;
	for (i = 0; i < phnum; i++) {
		const uint8_t *p = f + phoff + (uint64_t)i * entsz;
		struct phdr ph;

		if (is64) {
			Elf64_Phdr x;

			memcpy(&x, p, sizeof(x));
			ph = (struct phdr){ x.p_type, x.p_offset, x.p_vaddr,
			    x.p_paddr, x.p_filesz, x.p_memsz };
		} else {
			Elf32_Phdr x;

			memcpy(&x, p, sizeof(x));
			ph = (struct phdr){ x.p_type, x.p_offset, x.p_vaddr,
			    x.p_paddr, x.p_filesz, x.p_memsz };
		}
		if (ph.type != PT_LOAD)
			continue;
		if (ph.offset > len || ph.filesz > len - ph.offset)
			return vm_err_set(err, -EINVAL, "%s: truncated: program "
			    "header %u points past the end of the file", path,
			    i);
		ret = load_segment(vm, path, map, n, ph.paddr, f + ph.offset,
		    ph.filesz, ph.memsz, err);
		if (ret < 0)
			return ret;
		nload++;
		/* A virtual entry point inside this segment: make it
		 * physical, as GRUB does. */
		if (ph.vaddr != ph.paddr && e >= ph.vaddr &&
		    e - ph.vaddr < ph.memsz)
			*entry = e - ph.vaddr + ph.paddr;
	}
	if (nload == 0)
		return vm_err_set(err, -EINVAL, "%s: no loadable segments",
		    path);
	return 0;
trunc:
	return vm_err_set(err, -EINVAL, "%s: truncated ELF header", path);
machine:
	return vm_err_set(err, -EINVAL, "%s: ELF file is not for x86", path);
bad_ph:
	return vm_err_set(err, -EINVAL, "%s: bad ELF program header table",
	    path);
}

static int
write_mbi(struct vm *vm, const char *path, const char *cmdline,
    const struct e820_entry *map, int n, struct vm_err *err)
{
	uint8_t page[0x1000] = { 0 };
	uint32_t lower, upper;
	size_t plen = strlen(path), clen = strlen(cmdline);
	char *line;
	int i;

	if (plen + 1 + clen >= BOOT_CMDLINE_MAX)
		return vm_err_set(err, -E2BIG, "%s: command line too long "
		    "(%zu bytes)", path, clen);
	if ((size_t)n * MMAP_ENTRY > MBI_NAME_OFF - MBI_MMAP_OFF)
		return vm_err_set(err, -ENOSPC, "boot: memory map too large");
	line = malloc(plen + clen + 2);
	if (line == NULL)
		return vm_err_set(err, -ENOMEM, "boot: out of memory");
	memcpy(line, path, plen);
	line[plen] = ' ';
	memcpy(line + plen + 1, cmdline, clen + 1);
	if (clen == 0)
		line[plen] = '\0';
	if (mem_write(&vm->mem, BOOT_CMDLINE_ADDR, line, plen + clen + 2) <
	    0) {
		free(line);
		return vm_err_set(err, -EFAULT, "boot: no RAM at 0x%llx",
		    BOOT_CMDLINE_ADDR);
	}
	free(line);

	e820_mem_lower_upper(map, n, &lower, &upper);
	wr32(page + MBI_FLAGS, MBI_HAS_MEM | MBI_HAS_CMDLINE | MBI_HAS_MMAP |
	    MBI_HAS_LOADER_NAME);
	wr32(page + MBI_MEM_LOWER, lower);
	wr32(page + MBI_MEM_UPPER, upper);
	wr32(page + MBI_CMDLINE, (uint32_t)BOOT_CMDLINE_ADDR);
	wr32(page + MBI_MMAP_LENGTH, (uint32_t)(n * MMAP_ENTRY));
	wr32(page + MBI_MMAP_ADDR, (uint32_t)(BOOT_MBI_ADDR + MBI_MMAP_OFF));
	wr32(page + MBI_LOADER_NAME, (uint32_t)(BOOT_MBI_ADDR + MBI_NAME_OFF));
	for (i = 0; i < n; i++) {
		uint8_t *e = page + MBI_MMAP_OFF + MMAP_ENTRY * i;

		/* size (of the rest), base_addr, length, type */
		wr32(e, MMAP_ENTRY - 4);
		wr32(e + 4, (uint32_t)map[i].addr);
		wr32(e + 8, (uint32_t)(map[i].addr >> 32));
		wr32(e + 12, (uint32_t)map[i].size);
		wr32(e + 16, (uint32_t)(map[i].size >> 32));
		wr32(e + 20, map[i].type);
	}
	memcpy(page + MBI_NAME_OFF, "vmkit", 6);
	if (mem_write(&vm->mem, BOOT_MBI_ADDR, page, sizeof(page)) < 0)
		return vm_err_set(err, -EFAULT, "boot: no RAM at 0x%llx",
		    BOOT_MBI_ADDR);
	return 0;
}

int
boot_multiboot(struct vm *vm, const char *kernel_path, const char *cmdline,
    struct x86_state *bsp, struct vm_err *err)
{
	struct e820_entry map[E820_MAX];
	uint8_t *file = NULL;
	uint64_t len, entry = 0;
	uint32_t flags;
	bool bad_sum;
	long hoff;
	int n, ret;

	if (cmdline == NULL)
		cmdline = "";
	ret = boot_read_file(kernel_path, KERNEL_FILE_MAX, &file, &len, err);
	if (ret < 0)
		return ret;
	hoff = find_header(file, len, &bad_sum);
	if (hoff < 0) {
		ret = vm_err_set(err, -EINVAL, bad_sum ?
		    "%s: multiboot header has a bad checksum" :
		    "%s: not a multiboot kernel (no header in the first 8 KiB)",
		    kernel_path);
		goto out;
	}
	flags = rd32(file + hoff + 4);
	if (flags & MB_F_REQUIRED_MASK & ~(MB_F_PAGE_ALIGN | MB_F_MEMINFO |
	    MB_F_VIDEO)) {
		ret = vm_err_set(err, -EINVAL, "%s: multiboot kernel requires "
		    "features vm-run does not provide (flags 0x%08x)",
		    kernel_path, flags);
		goto out;
	}
	if (flags & MB_F_VIDEO)
		log_warnx("%s: the kernel asks for a video mode; it keeps the "
		    "text console", kernel_path);
	n = e820_build(vm, map, E820_MAX);
	if (n < 0) {
		ret = vm_err_set(err, n, "boot: memory map has too many "
		    "entries");
		goto out;
	}
	if (flags & MB_F_AOUT_KLUDGE)
		ret = load_aout(vm, kernel_path, file, len, (uint64_t)hoff, map,
		    n, &entry, err);
	else
		ret = load_elf(vm, kernel_path, file, len, map, n, &entry, err);
	if (ret < 0)
		goto out;
	if (entry >= LOW_4G) {
		ret = vm_err_set(err, -EINVAL, "%s: entry point 0x%llx is above "
		    "4 GiB", kernel_path, (unsigned long long)entry);
		goto out;
	}
	ret = write_mbi(vm, kernel_path, cmdline, map, n, err);
	if (ret < 0)
		goto out;

	/* Machine state (spec 3.2). */
	ret = boot_setup_segments(vm, bsp, false, err);
	if (ret < 0)
		goto out;
	memset(bsp->gpr, 0, sizeof(bsp->gpr));
	bsp->gpr[X86_RAX] = MB_BOOT_MAGIC;
	bsp->gpr[X86_RBX] = BOOT_MBI_ADDR;
	bsp->rip = entry;
	bsp->rflags = 0x2;
	bsp->cr0 = X86_CR0_PE | X86_CR0_ET;
	bsp->cr3 = 0;
	bsp->cr4 = 0;
	bsp->efer = 0;
	log_debug(LOG_BOOT, "%s: multiboot%s, entry 0x%llx", kernel_path,
	    (flags & MB_F_AOUT_KLUDGE) ? " (a.out kludge)" : " ELF",
	    (unsigned long long)entry);
	ret = 0;
out:
	free(file);
	return ret;
}
