/*
 * The direct-boot loaders (hw/boot-linux.c, hw/boot-multiboot.c): a
 * synthetic bzImage and a.out-kludge kernel built here, the multiboot ELF
 * test guest from the build, and hostile images that must fail cleanly.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu/x86-state.h"
#include "hw/boot.h"
#include "hw/pc.h"
#include "test.h"
#include "util/err.h"
#include "vm/vm.h"

static struct vm vm;
static struct x86_state st;
static char tmpdir[64];

static void
make_vm(uint64_t ram)
{
	uint64_t low = ram < PC_PCI_HOLE ? ram : PC_PCI_HOLE;

	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, low, "low", NULL), 0);
	if (ram > low)
		EXPECT_EQ(mem_add_ram(&vm.mem, PC_HIGHRAM, ram - low, "high",
		    NULL), 0);
	memset(&st, 0, sizeof(st));
}

static const char *
tmp_path(const char *name)
{
	static char buf[8][128];
	static int k;
	char *p = buf[k++ & 7];

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/boot_test.XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			abort();
	}
	snprintf(p, 128, "%s/%s", tmpdir, name);
	return p;
}

static const char *
write_file(const char *name, const void *data, size_t len)
{
	const char *p = tmp_path(name);
	FILE *f = fopen(p, "wb");

	if (f == NULL)
		abort();
	if (len && fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
	return p;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define KSIZE 0x10000
#define IMG_SIZE (SETUP_SIZE + KSIZE)
#define PREF 0x1000000u
#define INIT_SIZE 0x800000u

/* A bzImage with protocol version ver; 64-bit entry when k64. */
static uint8_t *
make_bzimage(uint16_t ver, int k64)
{
	uint8_t *b = calloc(1, IMG_SIZE);
	int i;

	b[0x1f1] = SETUP_SECTS;
	put32(b + 0x1f4, KSIZE / 16);           /* syssize */
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a;                        /* header ends at 0x26c */
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, ver);
	b[0x211] = 0x01;                        /* LOADED_HIGH */
	put32(b + 0x22c, 0x7fffffff);           /* initrd_addr_max */
	put32(b + 0x230, 0x200000);             /* kernel_alignment */
	b[0x234] = 1;                           /* relocatable */
	put16(b + 0x236, k64 ? 0x3 : 0);        /* xloadflags */
	put32(b + 0x238, 255);                  /* cmdline_size */
	put32(b + 0x258, PREF);                 /* pref_address */
	put32(b + 0x260, INIT_SIZE);
	for (i = 0; i < KSIZE; i++)
		b[SETUP_SIZE + i] = (uint8_t)(i * 7 + 3);
	return b;
}

TEST(bzimage_64bit_entry)
{
	uint8_t *img = make_bzimage(0x20f, 1), rd[10000], *bp, *k, gdt[32];
	const char *kp = write_file("bzImage", img, IMG_SIZE);
	const char *rp;
	struct boot_linux_info info;
	struct vm_err err = { 0 };
	uint64_t rsdp, rdi, rds;
	size_t i;

	for (i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i ^ 0x5a);
	rp = write_file("initrd", rd, sizeof(rd));
	make_vm(128ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 2, &rsdp, &err), 0);
	EXPECT_EQ(boot_linux_ex(&vm, kp, rp, "console=ttyS0 quiet", 0, &st, &info,
	    &err), 0);
	EXPECT_TRUE(info.entry64);
	EXPECT_EQ(info.kernel_addr, PREF);

	/* CPU state (boot.rst, 64-bit boot protocol). */
	EXPECT_EQ(st.rip, PREF + 0x200);
	EXPECT_EQ(st.gpr[X86_RSI], BOOT_PARAMS_ADDR);
	EXPECT_EQ(st.rflags, 2);
	EXPECT_EQ(st.cr0, X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG);
	EXPECT_EQ(st.cr4, X86_CR4_PAE);
	EXPECT_EQ(st.cr3, BOOT_PT_ADDR);
	EXPECT_EQ(st.efer, X86_EFER_LME | X86_EFER_LMA);
	EXPECT_EQ(st.seg[X86_CS].sel, 0x10);
	EXPECT_EQ(st.seg[X86_CS].l, 1);
	EXPECT_EQ(st.seg[X86_CS].db, 0);
	EXPECT_EQ(st.seg[X86_DS].sel, 0x18);
	EXPECT_EQ(st.seg[X86_SS].sel, 0x18);
	EXPECT_EQ(st.seg[X86_ES].limit, 0xffffffffu);
	EXPECT_EQ(st.gdtr.base, BOOT_GDT_ADDR);
	EXPECT_EQ(mem_read(&vm.mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)), 0);
	EXPECT_EQ(get64(gdt + 0x10), 0x00af9b000000ffffULL);
	EXPECT_EQ(get64(gdt + 0x18), 0x00cf93000000ffffULL);

	/* Page tables: 4 GiB identity map, 2 MiB pages. */
	EXPECT_EQ(get64(mem_gpa_to_hva(&vm.mem, BOOT_PT_ADDR, 8)),
	    BOOT_PT_ADDR + 0x1000 + 3);
	EXPECT_EQ(get64(mem_gpa_to_hva(&vm.mem, BOOT_PT_ADDR + 0x1000 + 24, 8)),
	    BOOT_PT_ADDR + 0x5000 + 3);
	EXPECT_EQ(get64(mem_gpa_to_hva(&vm.mem, BOOT_PT_ADDR + 0x5000 +
	    511 * 8, 8)), 0xffe00000ULL | 0x83);

	/* The kernel, the command line, the initrd. */
	k = mem_gpa_to_hva(&vm.mem, PREF, KSIZE);
	EXPECT_TRUE(k && memcmp(k, img + SETUP_SIZE, KSIZE) == 0);
	EXPECT_STREQ((char *)mem_gpa_to_hva(&vm.mem, BOOT_CMDLINE_ADDR, 32),
	    "console=ttyS0 quiet");
	bp = mem_gpa_to_hva(&vm.mem, BOOT_PARAMS_ADDR, 4096);
	rdi = get32(bp + 0x218);
	rds = get32(bp + 0x21c);
	EXPECT_EQ(rds, sizeof(rd));
	EXPECT_EQ(rdi & 0xfff, 0);
	EXPECT_TRUE(rdi >= PREF + INIT_SIZE);
	EXPECT_TRUE(rdi + rds <= 128ULL << 20);
	EXPECT_TRUE(rdi + rds > (128ULL << 20) - 0x1000);  /* as high as can be */
	EXPECT_TRUE(memcmp(mem_gpa_to_hva(&vm.mem, rdi, rds), rd, rds) == 0);

	/* boot_params. */
	EXPECT_EQ(bp[0x210], 0xff);                     /* type_of_loader */
	EXPECT_EQ(get32(bp + 0x228), BOOT_CMDLINE_ADDR);
	EXPECT_EQ(get32(bp + 0x202), get32((const uint8_t *)"HdrS"));
	EXPECT_EQ(get32(bp + 0x230), 0x200000);         /* copied header */
	EXPECT_EQ(get32(bp + 0x214), PREF);             /* code32_start */
	EXPECT_EQ(get64(bp + 0x070), PC_BIOS_AREA);     /* acpi_rsdp_addr */
	EXPECT_EQ(bp[0x1e8], 7);                        /* e820_entries */
	EXPECT_EQ(get64(bp + 0x2d0 + 2 * 20), PC_HIGHMEM);
	EXPECT_EQ(get64(bp + 0x2d0 + 2 * 20 + 8), (127ULL << 20));
	EXPECT_EQ(get32(bp + 0x2d0 + 2 * 20 + 16), E820_RAM);
	EXPECT_EQ(bp[0x1ef], 0);                        /* sentinel */
	free(img);
}

TEST(bzimage_32bit_entry)
{
	uint8_t *img = make_bzimage(0x20a, 0);
	const char *kp = write_file("bz32", img, IMG_SIZE);
	struct vm_err err = { 0 };
	uint8_t *bp;

	make_vm(64ULL << 20);
	EXPECT_EQ(boot_linux(&vm, kp, NULL, NULL, &st, &err), 0);
	EXPECT_EQ(st.rip, PREF);
	EXPECT_EQ(st.cr0, X86_CR0_PE | X86_CR0_ET);
	EXPECT_EQ(st.efer, 0);
	EXPECT_EQ(st.seg[X86_CS].l, 0);
	EXPECT_EQ(st.seg[X86_CS].db, 1);
	EXPECT_EQ(st.gpr[X86_RSI], BOOT_PARAMS_ADDR);
	EXPECT_EQ(st.gpr[X86_RBX], 0);
	bp = mem_gpa_to_hva(&vm.mem, BOOT_PARAMS_ADDR, 4096);
	EXPECT_EQ(get32(bp + 0x218), 0);                /* no initrd */
	EXPECT_EQ(get64(bp + 0x070), 0);                /* 2.10: no field */
	free(img);
}

/* The error must name the file and say what is wrong. */
static void
expect_refused(const char *kp, int code, const char *what)
{
	struct vm_err err = { 0 };

	EXPECT_EQ(boot_linux(&vm, kp, NULL, "", &st, &err), code);
	EXPECT_TRUE(strncmp(err.msg, kp, strlen(kp)) == 0);
	if (strstr(err.msg, what) == NULL)
		printf("#   message: %s\n", err.msg);
	EXPECT_TRUE(strstr(err.msg, what) != NULL);
}

TEST(bzimage_refused)
{
	uint8_t *img = make_bzimage(0x20f, 1), junk[4096];
	size_t i;

	make_vm(64ULL << 20);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	expect_refused(write_file("junk", junk, sizeof(junk)), -EINVAL,
	    "not a Linux kernel image (no HdrS signature)");
	expect_refused(write_file("tiny", junk, 10), -EINVAL,
	    "not a Linux kernel image");
	expect_refused(write_file("empty", junk, 0), -EINVAL,
	    "not a Linux kernel image");
	expect_refused(write_file("cut1", img, 1500), -EINVAL, "truncated");
	expect_refused(write_file("cut2", img, IMG_SIZE - 100), -EINVAL,
	    "truncated");
	put16(img + 0x206, 0x205);
	expect_refused(write_file("old", img, IMG_SIZE), -EINVAL, "too old");
	put16(img + 0x206, 0x20f);
	img[0x211] = 0;
	expect_refused(write_file("zimage", img, IMG_SIZE), -EINVAL, "zImage");
	img[0x211] = 1;
	put32(img + 0x230, 0x3000);
	expect_refused(write_file("align", img, IMG_SIZE), -EINVAL,
	    "kernel_alignment");
	put32(img + 0x230, 0x200000);
	expect_refused(tmp_path("missing"), -ENOENT, "No such file");

	/* Too little RAM for init_size at pref_address or anywhere. */
	make_vm(8ULL << 20);
	expect_refused(write_file("ok", img, IMG_SIZE), -ENOMEM,
	    "more memory");
	free(img);
}

TEST(bzimage_cmdline_and_initrd_limits)
{
	uint8_t *img = make_bzimage(0x20f, 1);
	const char *kp = write_file("bzl", img, IMG_SIZE);
	struct vm_err err = { 0 };
	char line[300];
	uint8_t *rd;

	make_vm(64ULL << 20);
	memset(line, 'x', 256);
	line[256] = '\0';
	EXPECT_EQ(boot_linux(&vm, kp, NULL, line, &st, &err), -E2BIG);
	EXPECT_TRUE(strstr(err.msg, "at most 255") != NULL);
	line[255] = '\0';
	EXPECT_EQ(boot_linux(&vm, kp, NULL, line, &st, &err), 0);
	/* An initrd that cannot fit between the kernel and the RAM top. */
	make_vm(32ULL << 20);
	rd = calloc(1, 9 << 20);
	EXPECT_EQ(boot_linux(&vm, kp, write_file("bigrd", rd, 9 << 20), "",
	    &st, &err), -ENOMEM);
	EXPECT_TRUE(strstr(err.msg, "bigrd: the initrd") != NULL);
	free(rd);
	free(img);
}

/* Random corruption of the header and random truncation never crash and
 * always either load or explain. */
TEST(bzimage_fuzz)
{
	uint8_t *img = make_bzimage(0x20f, 1), *mut = malloc(IMG_SIZE);
	struct vm_err err;
	unsigned seed = 12345;
	int iter, ok = 0, bad = 0;

	make_vm(64ULL << 20);
	for (iter = 0; iter < 300; iter++) {
		size_t len = IMG_SIZE, j;
		int r;

		memcpy(mut, img, IMG_SIZE);
		for (j = 0; j < 4; j++) {
			seed = seed * 1103515245u + 12345u;
			mut[0x1f1 + (seed >> 8) % 0x80] = (uint8_t)(seed >> 20);
		}
		if (iter % 3 == 0) {
			seed = seed * 1103515245u + 12345u;
			len = (seed >> 4) % IMG_SIZE;
		}
		vm_err_clear(&err);
		r = boot_linux(&vm, write_file("fuzz", mut, len), NULL, "",
		    &st, &err);
		if (r == 0) {
			ok++;
		} else {
			bad++;
			EXPECT_TRUE(r < 0 && err.msg[0] != '\0');
		}
	}
	EXPECT_TRUE(ok > 0 && bad > 0);
	free(mut);
	free(img);
}

/* --- multiboot ---------------------------------------------------------- */

static const char *
hello_path(void)
{
	static char p[512];
	const char *b = getenv("VMKIT_BUILD");

	snprintf(p, sizeof(p), "%s/guests/hello.elf", b ? b : "build/dbg");
	return p;
}

TEST(multiboot_elf_hello)
{
	const char *hp = hello_path();
	struct vm_err err = { 0 };
	uint8_t *file, *mbi, *mm;
	uint64_t len;
	Elf32_Ehdr eh;
	Elf32_Phdr ph;
	uint32_t flags;
	char want[600];
	int i, n;

	EXPECT_EQ(boot_read_file(hp, 1 << 24, &file, &len, &err), 0);
	if (err.code) {
		printf("#   %s (build the test guests first)\n", err.msg);
		return;
	}
	EXPECT_TRUE(boot_is_multiboot(hp));
	EXPECT_EQ(boot_probe(hp, NULL), BOOT_KIND_MULTIBOOT);
	make_vm(64ULL << 20);
	/* Garbage where the kernel's bss will be: loading must zero it. */
	memset(mem_gpa_to_hva(&vm.mem, 0x100000, 0x100000), 0xcc, 0x100000);
	EXPECT_EQ(boot_multiboot(&vm, hp, "a=1 b", &st, &err), 0);
	memcpy(&eh, file, sizeof(eh));
	EXPECT_EQ(st.rip, eh.e_entry);
	EXPECT_EQ(st.gpr[X86_RAX], 0x2badb002);
	EXPECT_EQ(st.gpr[X86_RBX], BOOT_MBI_ADDR);
	EXPECT_EQ(st.rflags, 2);
	EXPECT_EQ(st.cr0, X86_CR0_PE | X86_CR0_ET);
	EXPECT_EQ(st.efer, 0);
	EXPECT_EQ(st.seg[X86_CS].db, 1);
	EXPECT_EQ(st.seg[X86_CS].l, 0);
	EXPECT_EQ(st.seg[X86_CS].limit, 0xffffffffu);
	EXPECT_EQ(st.seg[X86_DS].type, 3);
	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, file + eh.e_phoff + i * eh.e_phentsize, sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		EXPECT_TRUE(memcmp(mem_gpa_to_hva(&vm.mem, ph.p_paddr,
		    ph.p_filesz), file + ph.p_offset, ph.p_filesz) == 0);
		if (ph.p_memsz > ph.p_filesz)
			EXPECT_EQ(*(uint8_t *)mem_gpa_to_hva(&vm.mem,
			    ph.p_paddr + ph.p_memsz - 1, 1), 0);
	}
	mbi = mem_gpa_to_hva(&vm.mem, BOOT_MBI_ADDR, 120);
	flags = get32(mbi);
	EXPECT_EQ(flags & 0x245, 0x245);        /* mem, cmdline, mmap, name */
	EXPECT_EQ(get32(mbi + 4), 639);
	EXPECT_EQ(get32(mbi + 8), 63 * 1024);
	snprintf(want, sizeof(want), "%s a=1 b", hp);
	EXPECT_STREQ((char *)mem_gpa_to_hva(&vm.mem, get32(mbi + 16), 1),
	    want);
	EXPECT_STREQ((char *)mem_gpa_to_hva(&vm.mem, get32(mbi + 64), 1),
	    "vmkit");
	n = (int)get32(mbi + 44) / 24;
	EXPECT_EQ(n, 7);
	mm = mem_gpa_to_hva(&vm.mem, get32(mbi + 48), (uint64_t)n * 24);
	EXPECT_EQ(get32(mm), 20);
	EXPECT_EQ(get64(mm + 4), 0);
	EXPECT_EQ(get64(mm + 12), PC_EBDA);
	EXPECT_EQ(get32(mm + 20), E820_RAM);
	EXPECT_EQ(get64(mm + 2 * 24 + 4), PC_HIGHMEM);
	free(file);
}

/* An a.out-kludge image: the header sits 16 bytes into the text. */
static uint8_t *
make_aout(size_t *lenp, uint32_t load, uint32_t flags)
{
	size_t len = 0x3000;
	uint8_t *b = calloc(1, len);
	uint32_t hdr = 16;

	put32(b + hdr, 0x1badb002);
	put32(b + hdr + 4, flags);
	put32(b + hdr + 8, (uint32_t)-(0x1badb002u + flags));
	put32(b + hdr + 12, load + hdr);                /* header_addr */
	put32(b + hdr + 16, load);                      /* load_addr */
	put32(b + hdr + 20, load + 0x2000);             /* load_end_addr */
	put32(b + hdr + 24, load + 0x5000);             /* bss_end_addr */
	put32(b + hdr + 28, load + 0x100);              /* entry_addr */
	memset(b + 0x100, 0x90, 0x1f00);
	memset(b + 0x2000, 0xee, 0x1000);               /* past load_end */
	*lenp = len;
	return b;
}

TEST(multiboot_aout_kludge)
{
	struct vm_err err = { 0 };
	size_t len;
	uint8_t *img = make_aout(&len, 0x200000, 0x10003), *p;
	const char *kp = write_file("aout", img, len);

	make_vm(16ULL << 20);
	memset(mem_gpa_to_hva(&vm.mem, 0x200000, 0x10000), 0xcc, 0x10000);
	EXPECT_EQ(boot_probe(kp, NULL), BOOT_KIND_MULTIBOOT);
	EXPECT_EQ(boot_multiboot(&vm, kp, NULL, &st, &err), 0);
	EXPECT_EQ(st.rip, 0x200100);
	p = mem_gpa_to_hva(&vm.mem, 0x200000, 0x6000);
	EXPECT_TRUE(memcmp(p, img, 0x2000) == 0);
	EXPECT_EQ(p[0x2000], 0);                        /* bss zeroed */
	EXPECT_EQ(p[0x4fff], 0);
	EXPECT_EQ(p[0x5000], 0xcc);                     /* beyond bss_end */
	free(img);
}

static void
expect_mb_refused(const char *kp, const char *what)
{
	struct vm_err err = { 0 };

	EXPECT_EQ(boot_multiboot(&vm, kp, "", &st, &err), -EINVAL);
	EXPECT_TRUE(strncmp(err.msg, kp, strlen(kp)) == 0);
	if (strstr(err.msg, what) == NULL)
		printf("#   message: %s\n", err.msg);
	EXPECT_TRUE(strstr(err.msg, what) != NULL);
}

TEST(multiboot_refused)
{
	size_t len;
	uint8_t *img;

	make_vm(16ULL << 20);
	img = make_aout(&len, 0x200000, 0x10003);
	img[16 + 8] ^= 1;
	expect_mb_refused(write_file("badsum", img, len), "bad checksum");
	EXPECT_TRUE(!boot_is_multiboot(tmp_path("badsum")));
	free(img);
	img = make_aout(&len, 0x200000, 0x10003 | 0x8);
	expect_mb_refused(write_file("feat", img, len), "requires features");
	free(img);
	img = make_aout(&len, 0x10000, 0x10003);        /* over our data */
	expect_mb_refused(write_file("low", img, len), "not in usable RAM");
	free(img);
	img = make_aout(&len, 0x2000000, 0x10003);      /* past RAM */
	expect_mb_refused(write_file("high", img, len), "not in usable RAM");
	free(img);
	img = make_aout(&len, 0x200000, 0x10003);
	put32(img + 16 + 12, 0x100000);                 /* header < load */
	expect_mb_refused(write_file("order", img, len), "header_addr");
	free(img);
	img = make_aout(&len, 0x200000, 0x10003);
	put32(img + 16 + 20, 0x300000);                 /* past the file */
	expect_mb_refused(write_file("end", img, len), "load_end_addr");
	free(img);
	img = make_aout(&len, 0x200000, 0x00003);       /* no kludge, no ELF */
	expect_mb_refused(write_file("noelf", img, len), "not ELF");
	free(img);
	img = calloc(1, 9000);
	put32(img + 8192, 0x1badb002);                  /* beyond 8 KiB */
	put32(img + 8196, 0);
	put32(img + 8200, (uint32_t)-0x1badb002u);
	expect_mb_refused(write_file("far", img, 9000), "not a multiboot");
	EXPECT_EQ(boot_probe(tmp_path("far"), NULL), BOOT_KIND_UNKNOWN);
	free(img);
}

TEST(probe_kinds)
{
	uint8_t *img = make_bzimage(0x20f, 1);
	struct vm_err err = { 0 };

	EXPECT_EQ(boot_probe(write_file("pk", img, IMG_SIZE), NULL),
	    BOOT_KIND_LINUX);
	EXPECT_EQ(boot_probe(tmp_path("nonexistent"), &err), -ENOENT);
	EXPECT_TRUE(strstr(err.msg, "nonexistent") != NULL);
	free(img);
}

TEST(zz_cleanup)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	EXPECT_EQ(tmpdir[0] ? system(cmd) : 0, 0);
}
