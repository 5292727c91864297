/*
 * The uncompressed Linux kernel, vmlinux: a 64-bit x86 ELF executable,
 * either given to vm-run directly or decompressed on the host from a
 * bzImage's payload (hw/boot-payload.c).
 *
 * Design: boot_vmlinux_parse reads only the ELF header and the program
 * headers, each field checked against the buffer before use, and keeps the
 * PT_LOAD segments with their physical addresses (p_paddr), as the kernel's
 * decompressor does (arch/x86/boot/compressed/misc.c, parse_elf: each
 * segment's file bytes go to its p_paddr, relative to the link-time
 * LOAD_PHYSICAL_ADDR).  Physical, not virtual, because the per-CPU segment
 * of an SMP x86-64 kernel is linked at virtual address 0.  The segments
 * must not overlap, must end below 4 GiB (the boot page tables map that
 * much) and the entry point must lie in one of them (e_entry is the
 * physical address of startup_64; a virtual one is translated through its
 * segment).  Anything after the ELF's own data, such as the relocation
 * table the kernel build appends, is ignored: see boot-linux.c for why it
 * is not needed.  boot_vmlinux_load copies the segments into guest RAM and
 * zeroes their tails (p_memsz beyond p_filesz).  Where the segments may go
 * is the caller's decision.
 * Spec: System V ABI, ELF-64 object file format (file header, program
 * header); Documentation/arch/x86/boot.rst ("64-bit Boot Protocol").
 * Threads: called once by the loader before any vCPU runs.
 */
#include "hw/boot.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "mem/mem.h"
#include "util/err.h"
#include "vm/vm.h"

#define LOW_4G 0x100000000ULL

bool
boot_is_elf(const uint8_t *buf, uint64_t len)
{
	return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

/* The physical address of e_entry: as given if it falls in a segment's
 * physical range, else through the segment whose virtual range holds it. */
static int
find_entry(const uint8_t *buf, const Elf64_Ehdr *eh,
    struct boot_vmlinux *v)
{
	int i;

	for (i = 0; i < v->nseg; i++)
		if (eh->e_entry >= v->seg[i].paddr &&
		    eh->e_entry - v->seg[i].paddr < v->seg[i].memsz) {
			v->entry = eh->e_entry;
			return 0;
		}
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh->e_phoff + (uint64_t)i * sizeof(ph),
		    sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz &&
		    eh->e_entry >= ph.p_vaddr &&
		    eh->e_entry - ph.p_vaddr < ph.p_memsz) {
			v->entry = ph.p_paddr + (eh->e_entry - ph.p_vaddr);
			return 0;
		}
	}
	return -1;
}

static int
add_segment(const char *path, const Elf64_Phdr *ph, uint64_t len,
    struct boot_vmlinux *v, struct vm_err *err)
{
	struct boot_vmlinux_seg *s;
	int i;

	if (ph->p_filesz > ph->p_memsz)
		return vm_err_set(err, -EINVAL, "%s: ELF segment at 0x%llx has "
		    "more file bytes than memory bytes", path,
		    (unsigned long long)ph->p_paddr);
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
		return vm_err_set(err, -EINVAL, "%s: truncated: ELF segment at "
		    "0x%llx needs file bytes %llu-%llu, the file has %llu",
		    path, (unsigned long long)ph->p_paddr,
		    (unsigned long long)ph->p_offset,
		    (unsigned long long)(ph->p_offset + ph->p_filesz),
		    (unsigned long long)len);
	if (ph->p_paddr >= LOW_4G || ph->p_memsz > LOW_4G - ph->p_paddr)
		return vm_err_set(err, -EINVAL, "%s: ELF segment at 0x%llx "
		    "(0x%llx bytes) does not end below 4 GiB", path,
		    (unsigned long long)ph->p_paddr,
		    (unsigned long long)ph->p_memsz);
	for (i = 0; i < v->nseg; i++)
		if (ph->p_paddr < v->seg[i].paddr + v->seg[i].memsz &&
		    v->seg[i].paddr < ph->p_paddr + ph->p_memsz)
			return vm_err_set(err, -EINVAL, "%s: ELF segments at "
			    "0x%llx and 0x%llx overlap", path,
			    (unsigned long long)v->seg[i].paddr,
			    (unsigned long long)ph->p_paddr);
	if (v->nseg == BOOT_VMLINUX_MAX_SEGS)
		return vm_err_set(err, -EINVAL, "%s: more than %d loadable ELF "
		    "segments", path, BOOT_VMLINUX_MAX_SEGS);
	s = &v->seg[v->nseg++];
	s->offset = ph->p_offset;
	s->paddr = ph->p_paddr;
	s->filesz = ph->p_filesz;
	s->memsz = ph->p_memsz;
	if (v->nseg == 1 || s->paddr < v->lo)
		v->lo = s->paddr;
	if (v->nseg == 1 || s->paddr + s->memsz > v->hi)
		v->hi = s->paddr + s->memsz;
	return 0;
}

/*
 * Parse a vmlinux held in buf (len bytes; path names it in messages).
 * Returns 0 with *v filled; -ENOTSUP for a well-formed ELF that is not a
 * 64-bit x86 executable (an i386 kernel, another machine); -EINVAL for a
 * malformed one, with "<path>: what is wrong".
 */
int
boot_vmlinux_parse(const char *path, const uint8_t *buf, uint64_t len,
    struct boot_vmlinux *v, struct vm_err *err)
{
	Elf64_Ehdr eh;
	int i, ret;

	memset(v, 0, sizeof(*v));
	if (!boot_is_elf(buf, len))
		return vm_err_set(err, -EINVAL, "%s: not an ELF file", path);
	if (len < sizeof(eh))
		return vm_err_set(err, -EINVAL, "%s: truncated ELF header",
		    path);
	if (buf[EI_CLASS] != ELFCLASS64)
		return vm_err_set(err, -ENOTSUP, "%s: not a 64-bit ELF kernel; "
		    "only 64-bit x86 kernels are loaded as ELF", path);
	memcpy(&eh, buf, sizeof(eh));
	if (buf[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return vm_err_set(err, -ENOTSUP, "%s: ELF file is not for "
		    "x86-64", path);
	if (eh.e_type != ET_EXEC)
		return vm_err_set(err, -EINVAL, "%s: ELF file is not an "
		    "executable (type %u)", path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum == PN_XNUM || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return vm_err_set(err, -EINVAL, "%s: bad ELF program header "
		    "table", path);
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph),
		    sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		ret = add_segment(path, &ph, len, v, err);
		if (ret < 0)
			return ret;
	}
	if (v->nseg == 0)
		return vm_err_set(err, -EINVAL, "%s: no loadable ELF segments",
		    path);
	if (find_entry(buf, &eh, v) < 0)
		return vm_err_set(err, -EINVAL, "%s: the ELF entry point 0x%llx "
		    "is in no loaded segment", path,
		    (unsigned long long)eh.e_entry);
	return 0;
}

/* Copy v's segments from buf into guest RAM at their physical addresses
 * and zero what lies past their file bytes.  The caller has checked that
 * every segment is in RAM; -EFAULT (with err) if one is not. */
int
boot_vmlinux_load(struct vm *vm, const char *path, const uint8_t *buf,
    const struct boot_vmlinux *v, struct vm_err *err)
{
	int i;

	for (i = 0; i < v->nseg; i++) {
		const struct boot_vmlinux_seg *s = &v->seg[i];
		uint8_t *dst = mem_gpa_to_hva(&vm->mem, s->paddr, s->memsz);

		if (dst == NULL)
			return vm_err_set(err, -EFAULT, "%s: no RAM for the ELF "
			    "segment at 0x%llx", path,
			    (unsigned long long)s->paddr);
		memcpy(dst, buf + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		mem_notify_write(&vm->mem, s->paddr, s->memsz);
	}
	return 0;
}
