/*
 * Host-side kernel decompression and the vmlinux loader (hw/boot-payload.c,
 * hw/boot-vmlinux.c, and their use in hw/boot-linux.c): payloads made here
 * with each library's encoder, a small vmlinux ELF built here, bzImages
 * that carry it, and hostile variants of each that must fail cleanly.
 */
#include <elf.h>
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

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
	mem_fini(&vm.mem);
	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, ram, "low", NULL), 0);
	vm.ram_size = ram;
	memset(&st, 0, sizeof(st));
}

static const char *
write_file(const char *name, const void *data, size_t len)
{
	static char buf[8][128];
	static int k;
	char *p = buf[k++ & 7];
	FILE *f;

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/vmlinux_test.XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			abort();
	}
	snprintf(p, 128, "%s/%s", tmpdir, name);
	f = fopen(p, "wb");
	if (f == NULL || (len && fwrite(data, 1, len, f) != len))
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

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	/* Compressible but not trivially: runs of a few patterns. */
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i / 64 * seed) ^ (i % 7));
}

/* --- a vmlinux ----------------------------------------------------------- */

#define LINK 0x1000000ULL               /* LOAD_PHYSICAL_ADDR, pref_address */
#define VMAP 0xffffffff80000000ULL      /* __START_KERNEL_map */
#define TEXT_SZ 0x3000
#define DATA_SZ 0x1800
#define DATA_MEM 0x5000                 /* with bss */
#define DATA_PA (LINK + 0x200000)
#define ELF_LEN 0x6000

struct seg {
	uint64_t off, paddr, vaddr, filesz, memsz;
};

/* An ELF64 x86-64 executable with the given segments and entry; the file
 * data is a pattern.  nseg <= 4. */
static uint8_t *
make_elf_segs(const struct seg *s, int nseg, uint64_t entry, size_t len)
{
	uint8_t *b = calloc(1, len);
	Elf64_Ehdr eh = { 0 };
	int i;

	fill(b, len, 5);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)(nseg + 1);
	memcpy(b, &eh, sizeof(eh));
	for (i = 0; i <= nseg; i++) {
		Elf64_Phdr ph = { 0 };

		if (i == nseg) {
			ph.p_type = PT_NOTE;    /* ignored */
			ph.p_offset = 0x7fffffff;
			ph.p_filesz = 0x1000;
		} else {
			ph.p_type = PT_LOAD;
			ph.p_flags = PF_R | PF_W | PF_X;
			ph.p_offset = s[i].off;
			ph.p_paddr = s[i].paddr;
			ph.p_vaddr = s[i].vaddr;
			ph.p_filesz = s[i].filesz;
			ph.p_memsz = s[i].memsz;
			ph.p_align = 0x200000;
		}
		memcpy(b + sizeof(eh) + (size_t)i * sizeof(ph), &ph,
		    sizeof(ph));
	}
	return b;
}

/* Text at LINK, data+bss 2 MiB above, a per-CPU-like segment at virtual 0;
 * entry is startup_64's physical address. */
static uint8_t *
make_vmlinux(uint64_t link)
{
	struct seg s[3] = {
		{ 0x1000, link, VMAP + link, TEXT_SZ, TEXT_SZ },
		{ 0x4000, link + 0x200000, VMAP + link + 0x200000, DATA_SZ,
		    DATA_MEM },
		{ 0x5800, link + 0x300000, 0, 0x800, 0x800 },
	};

	return make_elf_segs(s, 3, link + 0x40, ELF_LEN);
}

static void
set_phdr(uint8_t *elf, int i, size_t field, uint64_t v)
{
	uint8_t *p = elf + sizeof(Elf64_Ehdr) + (size_t)i * sizeof(Elf64_Phdr) +
	    field;

	memcpy(p, &v, 8);
}

TEST(elf_parse)
{
	uint8_t *e = make_vmlinux(LINK);
	struct boot_vmlinux v;
	struct vm_err err = { 0 };

	EXPECT_TRUE(boot_is_elf(e, ELF_LEN));
	EXPECT_EQ(boot_vmlinux_parse("vmlinux", e, ELF_LEN, &v, &err), 0);
	EXPECT_EQ(v.nseg, 3);
	EXPECT_EQ(v.lo, LINK);
	EXPECT_EQ(v.hi, LINK + 0x300800);
	EXPECT_EQ(v.entry, LINK + 0x40);
	EXPECT_EQ(v.seg[1].paddr, DATA_PA);
	EXPECT_EQ(v.seg[1].filesz, DATA_SZ);
	EXPECT_EQ(v.seg[1].memsz, DATA_MEM);
	EXPECT_EQ(v.seg[2].offset, 0x5800);
	/* A virtual e_entry is translated through its segment. */
	put32(e + offsetof(Elf64_Ehdr, e_entry), (uint32_t)(VMAP + LINK +
	    0x80));
	put32(e + offsetof(Elf64_Ehdr, e_entry) + 4,
	    (uint32_t)((VMAP + LINK) >> 32));
	EXPECT_EQ(boot_vmlinux_parse("vmlinux", e, ELF_LEN, &v, &err), 0);
	EXPECT_EQ(v.entry, LINK + 0x80);
	free(e);
}

static void
expect_elf_refused(const uint8_t *e, size_t len, int code, const char *what)
{
	struct boot_vmlinux v;
	struct vm_err err = { 0 };

	EXPECT_EQ(boot_vmlinux_parse("bad.elf", e, len, &v, &err), code);
	if (err.code != code)
		printf("#   expected \"%s\"\n", what);
	EXPECT_TRUE(strncmp(err.msg, "bad.elf: ", 9) == 0);
	if (strstr(err.msg, what) == NULL)
		printf("#   message: %s\n", err.msg);
	EXPECT_TRUE(strstr(err.msg, what) != NULL);
}

TEST(elf_refused)
{
	uint8_t *e = make_vmlinux(LINK), *m = malloc(ELF_LEN);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m;

	expect_elf_refused(e, 40, -EINVAL, "truncated ELF header");
	memcpy(m, e, ELF_LEN);
	m[EI_CLASS] = ELFCLASS32;
	expect_elf_refused(m, ELF_LEN, -ENOTSUP, "64-bit");
	memcpy(m, e, ELF_LEN);
	eh->e_machine = EM_386;
	expect_elf_refused(m, ELF_LEN, -ENOTSUP, "not for x86-64");
	memcpy(m, e, ELF_LEN);
	eh->e_type = ET_DYN;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "not an executable");
	memcpy(m, e, ELF_LEN);
	eh->e_phoff = ELF_LEN - 100;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "program header table");
	memcpy(m, e, ELF_LEN);
	eh->e_phoff = ~0ULL - 10;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "program header table");
	memcpy(m, e, ELF_LEN);
	eh->e_phentsize = 32;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "program header table");
	memcpy(m, e, ELF_LEN);
	eh->e_phnum = 0;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "program header table");
	/* Segment data past the end of the file, by offset or size. */
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 1, offsetof(Elf64_Phdr, p_offset), ELF_LEN - 0x100);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "truncated");
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 1, offsetof(Elf64_Phdr, p_offset), ~0ULL - 0x10);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "truncated");
	expect_elf_refused(e, 0x3000, -EINVAL, "truncated");
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 1, offsetof(Elf64_Phdr, p_memsz), DATA_SZ - 1);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "more file bytes");
	/* Overlap, past 4 GiB, wrapping. */
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 1, offsetof(Elf64_Phdr, p_paddr), LINK + 0x2000);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "overlap");
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 2, offsetof(Elf64_Phdr, p_paddr), 0xfffffc00ULL);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "below 4 GiB");
	memcpy(m, e, ELF_LEN);
	set_phdr(m, 2, offsetof(Elf64_Phdr, p_paddr), ~0ULL - 0x100);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "below 4 GiB");
	/* The entry point must be in a loaded segment. */
	memcpy(m, e, ELF_LEN);
	eh->e_entry = LINK + 0x100000;
	expect_elf_refused(m, ELF_LEN, -EINVAL, "entry point");
	/* No PT_LOAD at all. */
	memcpy(m, e, ELF_LEN);
	eh->e_phnum = 1;
	set_phdr(m, 0, offsetof(Elf64_Phdr, p_type), PT_NOTE);
	expect_elf_refused(m, ELF_LEN, -EINVAL, "no loadable");
	free(m);
	free(e);
}

/* Random corruption of the headers never crashes, and a success always
 * describes segments inside the buffer. */
TEST(elf_fuzz)
{
	uint8_t *e = make_vmlinux(LINK), *m = malloc(ELF_LEN);
	unsigned seed = 777;
	int iter, ok = 0, bad = 0, i;

	for (iter = 0; iter < 2000; iter++) {
		struct boot_vmlinux v;
		struct vm_err err = { 0 };
		size_t j, len = ELF_LEN;

		memcpy(m, e, ELF_LEN);
		for (j = 0; j < 3; j++) {
			seed = seed * 1103515245u + 12345u;
			m[(seed >> 8) % 0x140] ^= (uint8_t)(1u << (seed >> 28));
		}
		if (iter % 5 == 0)
			len = (seed >> 3) % ELF_LEN;
		if (boot_vmlinux_parse("f", m, len, &v, &err) == 0) {
			ok++;
			for (i = 0; i < v.nseg; i++)
				EXPECT_TRUE(v.seg[i].offset + v.seg[i].filesz <=
				    len && v.seg[i].filesz <= v.seg[i].memsz);
		} else {
			bad++;
			EXPECT_TRUE(err.msg[0] != '\0');
		}
	}
	EXPECT_TRUE(ok > 0 && bad > 0);
	free(m);
	free(e);
}

/* --- payloads ------------------------------------------------------------ */

/* Append the kernel build's 32-bit little-endian size trailer. */
static size_t
add_trailer(uint8_t *out, size_t n, size_t orig)
{
	put32(out + n, (uint32_t)orig);
	return n + 4;
}

static uint8_t *
enc_gzip(const uint8_t *in, size_t len, size_t *outlen)
{
	z_stream zs;
	uint8_t *out = malloc(len + 1024);

	memset(&zs, 0, sizeof(zs));
	EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)(len + 1024);
	EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;         /* ISIZE is the trailer */
	deflateEnd(&zs);
	return out;
}

static uint8_t *
enc_xz(const uint8_t *in, size_t len, size_t *outlen)
{
	uint8_t *out = malloc(len + 1024);
	size_t pos = 0;

	EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len,
	    out, &pos, len + 1020), LZMA_OK);
	*outlen = add_trailer(out, pos, len);
	return out;
}

static uint8_t *
enc_lzma(const uint8_t *in, size_t len, size_t *outlen)
{
	lzma_stream ls = LZMA_STREAM_INIT;
	lzma_options_lzma opt;
	uint8_t *out = malloc(len + 1024);

	lzma_lzma_preset(&opt, 6);
	EXPECT_EQ(lzma_alone_encoder(&ls, &opt), LZMA_OK);
	ls.next_in = in;
	ls.avail_in = len;
	ls.next_out = out;
	ls.avail_out = len + 1020;
	while (lzma_code(&ls, LZMA_FINISH) == LZMA_OK)
		;
	*outlen = add_trailer(out, ls.total_out, len);
	lzma_end(&ls);
	return out;
}

static uint8_t *
enc_zstd(const uint8_t *in, size_t len, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(len) + 4, n;
	uint8_t *out = malloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();

	/* With a content checksum, as the zstd tool (and so the kernel
	 * build) writes by default. */
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	n = ZSTD_compress2(c, out, cap - 4, in, len);
	ZSTD_freeCCtx(c);
	EXPECT_TRUE(!ZSTD_isError(n));
	*outlen = add_trailer(out, n, len);
	return out;
}

/* lz4's legacy frame: magic, then <LE32 size><block> per 8 MiB; a second
 * magic in the middle when split (concatenated frames, as lz4 -l can
 * write). */
static uint8_t *
enc_lz4(const uint8_t *in, size_t len, size_t *outlen)
{
	size_t cap = 16 + len + len / 128 + 1024, pos = 4, done = 0;
	uint8_t *out = malloc(cap);
	int blocks = 0;

	put32(out, 0x184c2102);
	while (done < len) {
		size_t chunk = len - done < (8u << 20) ? len - done : 8u << 20;
		int n;

		if (blocks++ == 1) {
			put32(out + pos, 0x184c2102);
			pos += 4;
		}
		n = LZ4_compress_default((const char *)in + done,
		    (char *)out + pos + 4, (int)chunk, (int)(cap - pos - 8));
		EXPECT_TRUE(n > 0);
		put32(out + pos, (uint32_t)n);
		pos += 4 + (size_t)n;
		done += chunk;
	}
	*outlen = add_trailer(out, pos, len);
	return out;
}

typedef uint8_t *(*enc_fn)(const uint8_t *, size_t, size_t *);

static const struct {
	const char *name;
	enum boot_zfmt fmt;
	enc_fn enc;
} codecs[] = {
	{ "gzip", BOOT_Z_GZIP, enc_gzip },
	{ "xz", BOOT_Z_XZ, enc_xz },
	{ "lzma", BOOT_Z_LZMA, enc_lzma },
	{ "zstd", BOOT_Z_ZSTD, enc_zstd },
	{ "lz4", BOOT_Z_LZ4, enc_lz4 },
};

TEST(payload_round_trip)
{
	size_t len = (9u << 20) + 12345, zl, i;     /* lz4: two blocks */
	uint8_t *in = malloc(len), *z, *out;
	struct vm_err err = { 0 };
	uint64_t ol;

	fill(in, len, 3);
	for (i = 0; i < ARRAY_SIZE(codecs); i++) {
		z = codecs[i].enc(in, len, &zl);
		EXPECT_EQ(boot_payload_format(z, zl), codecs[i].fmt);
		EXPECT_STREQ(boot_payload_format_name(codecs[i].fmt),
		    codecs[i].name);
		out = NULL;
		vm_err_clear(&err);
		EXPECT_EQ(boot_payload_decompress("k", z, zl, len, &out, &ol,
		    &err), 0);
		if (err.code)
			printf("#   %s: %s\n", codecs[i].name, err.msg);
		EXPECT_EQ(ol, len);
		EXPECT_TRUE(out && memcmp(out, in, len) == 0);
		free(out);
		/* The limit is enforced before anything is allocated. */
		EXPECT_EQ(boot_payload_decompress("k", z, zl, len - 1, &out,
		    &ol, &err), -EFBIG);
		EXPECT_TRUE(strstr(err.msg, "limit") != NULL);
		free(z);
	}
	free(in);
}

static void
expect_payload_refused(const uint8_t *z, size_t zl, uint64_t limit, int code,
    const char *what)
{
	struct vm_err err = { 0 };
	uint8_t *out = NULL;
	uint64_t ol = 0;

	EXPECT_EQ(boot_payload_decompress("vmlinuz", z, zl, limit, &out, &ol,
	    &err), code);
	if (err.code != code)
		printf("#   expected \"%s\"\n", what);
	EXPECT_TRUE(out == NULL);
	EXPECT_TRUE(strncmp(err.msg, "vmlinuz: ", 9) == 0);
	if (strstr(err.msg, what) == NULL)
		printf("#   message: %s\n", err.msg);
	EXPECT_TRUE(strstr(err.msg, what) != NULL);
}

TEST(payload_refused)
{
	size_t len = 200000, zl, i;
	uint8_t *in = malloc(len), *z, *m;
	char what[64];

	fill(in, len, 11);
	expect_payload_refused((const uint8_t *)"BZh91AY&SY", 10, len,
	    -ENOTSUP, "no bzip2 decoder");
	expect_payload_refused((const uint8_t *)"\x89LZO\0\r\n\x1a\n", 9,
	    len, -ENOTSUP, "no lzo decoder");
	expect_payload_refused((const uint8_t *)"hello world", 11, len,
	    -ENOTSUP, "not recognised");
	expect_payload_refused((const uint8_t *)"\x1f\x8b", 2, len, -EINVAL,
	    "truncated gzip");
	for (i = 0; i < ARRAY_SIZE(codecs); i++) {
		z = codecs[i].enc(in, len, &zl);
		m = malloc(zl);
		snprintf(what, sizeof(what), "corrupt %s payload",
		    codecs[i].name);
		/* The declared size is wrong either way. */
		memcpy(m, z, zl);
		put32(m + zl - 4, (uint32_t)len + 1);
		if (codecs[i].fmt != BOOT_Z_GZIP)  /* gzip: the CRC catches it */
			expect_payload_refused(m, zl, len + 1, -EINVAL,
			    "declares");
		put32(m + zl - 4, (uint32_t)len - 1);
		expect_payload_refused(m, zl, len, -EINVAL, what);
		put32(m + zl - 4, 0);
		expect_payload_refused(m, zl, len, -EFBIG, "declares 0 bytes");
		/* Bytes flipped in the middle of the stream. */
		memcpy(m, z, zl);
		m[zl / 2] ^= 0x55;
		m[zl / 2 + 1] ^= 0xaa;
		m[zl / 2 + 7] ^= 0x0f;
		expect_payload_refused(m, zl, len, -EINVAL, what);
		/* Cut in half, the trailer kept. */
		memcpy(m, z, zl / 2);
		memcpy(m + zl / 2, z + zl - 4, 4);
		expect_payload_refused(m, zl / 2 + 4, len, -EINVAL, what);
		free(m);
		free(z);
	}
	free(in);
}

/* Random damage to every format: never a crash or an out-of-bounds read
 * (the asan build checks), always either the exact size or a message. */
TEST(payload_fuzz)
{
	size_t len = 65536, zl, i;
	uint8_t *in = malloc(len), *z, *m;
	unsigned seed = 4242;
	int iter, bad = 0;

	fill(in, len, 7);
	for (i = 0; i < ARRAY_SIZE(codecs); i++) {
		z = codecs[i].enc(in, len, &zl);
		m = malloc(zl);
		for (iter = 0; iter < 150; iter++) {
			struct vm_err err = { 0 };
			uint8_t *out = NULL;
			uint64_t ol = 0;
			size_t ml = zl, j;
			int r;

			memcpy(m, z, zl);
			for (j = 0; j < 4; j++) {
				seed = seed * 1103515245u + 12345u;
				m[(seed >> 4) % zl] ^= (uint8_t)(seed >> 24);
			}
			if (iter % 4 == 0)
				ml = (seed >> 6) % zl;
			r = boot_payload_decompress("f", m, ml, len, &out, &ol,
			    &err);
			if (r == 0) {
				EXPECT_TRUE(ol <= len && out != NULL);
				free(out);
			} else {
				bad++;
				EXPECT_TRUE(out == NULL && err.msg[0] != '\0');
			}
		}
		free(m);
		free(z);
	}
	EXPECT_TRUE(bad > 0);
	free(in);
}

/* --- bzImages carrying a vmlinux, and vmlinux files, through boot_linux - */

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define PM_HEAD 0x400                   /* decompressor stand-in */
#define INIT_SIZE 0x800000u

/* A bzImage (protocol 2.15, 64-bit, relocatable) whose payload is z. */
static uint8_t *
make_bzimage(const uint8_t *z, size_t zl, size_t *lenp)
{
	size_t len = SETUP_SIZE + PM_HEAD + zl + 16;
	uint8_t *b = calloc(1, len);

	b[0x1f1] = SETUP_SECTS;
	put32(b + 0x1f4, (uint32_t)((len - SETUP_SIZE) / 16));
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a;
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, 0x20f);
	b[0x211] = 0x01 | 0x02;         /* LOADED_HIGH, a stale KASLR_FLAG */
	put32(b + 0x22c, 0x7fffffff);
	put32(b + 0x230, 0x200000);
	b[0x234] = 1;
	put16(b + 0x236, 0x3);
	put32(b + 0x238, 2047);
	put32(b + 0x248, PM_HEAD);      /* payload_offset */
	put32(b + 0x24c, (uint32_t)zl); /* payload_length */
	put32(b + 0x258, (uint32_t)LINK);
	put32(b + 0x260, INIT_SIZE);
	memset(b + SETUP_SIZE, 0x90, PM_HEAD);
	memcpy(b + SETUP_SIZE + PM_HEAD, z, zl);
	*lenp = len;
	return b;
}

static const char *
bzimage_with(const char *name, const uint8_t *elf, size_t elen, enc_fn enc)
{
	size_t zl, bl;
	uint8_t *z = enc(elf, elen, &zl), *b = make_bzimage(z, zl, &bl);
	const char *p = write_file(name, b, bl);

	free(b);
	free(z);
	return p;
}

/* The vmlinux's segments are in guest RAM; the bss tail is zero. */
static void
expect_loaded(const uint8_t *e, uint64_t link)
{
	uint8_t *t = mem_gpa_to_hva(&vm.mem, link, TEXT_SZ);
	uint8_t *d = mem_gpa_to_hva(&vm.mem, link + 0x200000, DATA_MEM);
	uint8_t zero[DATA_MEM - DATA_SZ] = { 0 };

	EXPECT_TRUE(t && memcmp(t, e + 0x1000, TEXT_SZ) == 0);
	EXPECT_TRUE(d && memcmp(d, e + 0x4000, DATA_SZ) == 0);
	EXPECT_TRUE(d && memcmp(d + DATA_SZ, zero, sizeof(zero)) == 0);
	EXPECT_TRUE(memcmp(mem_gpa_to_hva(&vm.mem, link + 0x300000, 0x800),
	    e + 0x5800, 0x800) == 0);
}

static void
expect_entry64(uint64_t rip)
{
	EXPECT_EQ(st.rip, rip);
	EXPECT_EQ(st.gpr[X86_RSI], BOOT_PARAMS_ADDR);
	EXPECT_EQ(st.rflags, 2);
	EXPECT_EQ(st.cr0, X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG);
	EXPECT_EQ(st.cr3, BOOT_PT_ADDR);
	EXPECT_EQ(st.cr4, X86_CR4_PAE);
	EXPECT_EQ(st.efer, X86_EFER_LME | X86_EFER_LMA);
	EXPECT_EQ(st.seg[X86_CS].l, 1);
}

TEST(host_decompress_boot)
{
	uint8_t *e = make_vmlinux(LINK), rd[5000], *bp;
	struct boot_linux_info info;
	struct vm_err err = { 0 };
	const char *rp;
	size_t i;

	memset(rd, 0x42, sizeof(rd));
	rp = write_file("initrd", rd, sizeof(rd));
	for (i = 0; i < ARRAY_SIZE(codecs); i++) {
		const char *kp = bzimage_with("bz", e, ELF_LEN, codecs[i].enc);

		make_vm(64ULL << 20);
		/* Garbage where the bss goes: loading must zero it. */
		memset(mem_gpa_to_hva(&vm.mem, LINK, 0x400000), 0xcc,
		    0x400000);
		EXPECT_EQ(boot_linux_ex(&vm, kp, rp, "quiet", 0, &st, &info,
		    &err), 0);
		if (err.code)
			printf("#   %s: %s\n", codecs[i].name, err.msg);
		EXPECT_EQ(info.how, BOOT_HOW_HOST_DECOMPRESS);
		EXPECT_EQ(info.payload_format, codecs[i].fmt);
		EXPECT_EQ(info.vmlinux_size, ELF_LEN);
		EXPECT_EQ(info.kernel_addr, LINK);
		expect_entry64(LINK + 0x40);
		expect_loaded(e, LINK);
		bp = mem_gpa_to_hva(&vm.mem, BOOT_PARAMS_ADDR, 4096);
		EXPECT_EQ(bp[0x211] & 0x02, 0);         /* KASLR_FLAG clear */
		EXPECT_EQ(bp[0x210], 0xff);
		EXPECT_EQ(get32(bp + 0x214), LINK);     /* code32_start */
		EXPECT_EQ(get32(bp + 0x260), INIT_SIZE);  /* the file's */
		EXPECT_EQ(get32(bp + 0x21c), sizeof(rd));
		EXPECT_TRUE(get32(bp + 0x218) >= LINK + INIT_SIZE);
	}
	free(e);
}

TEST(guest_decompress_when_asked_or_needed)
{
	uint8_t *e = make_vmlinux(LINK), *e2 = make_vmlinux(LINK + 0x400000);
	const char *kp = bzimage_with("bzg", e, ELF_LEN, enc_xz);
	struct boot_linux_info info;
	struct vm_err err = { 0 };
	uint8_t bz2[64] = "BZh91AY&SY", *b;
	size_t bl;

	make_vm(64ULL << 20);
	EXPECT_EQ(boot_linux_ex(&vm, kp, NULL, "", BOOT_LINUX_GUEST_DECOMPRESS,
	    &st, &info, &err), 0);
	EXPECT_EQ(info.how, BOOT_HOW_BZIMAGE);
	expect_entry64(LINK + 0x200);
	/* Linked elsewhere than pref_address: the guest must relocate. */
	kp = bzimage_with("bzr", e2, ELF_LEN, enc_gzip);
	EXPECT_EQ(boot_linux_ex(&vm, kp, NULL, "", 0, &st, &info, &err), 0);
	EXPECT_EQ(info.how, BOOT_HOW_BZIMAGE);
	EXPECT_EQ(st.rip, LINK + 0x200);
	/* A format without a decoder here. */
	put32(bz2 + 60, 1000);
	b = make_bzimage(bz2, sizeof(bz2), &bl);
	EXPECT_EQ(boot_linux_ex(&vm, write_file("bzb", b, bl), NULL, "", 0,
	    &st, &info, &err), 0);
	EXPECT_EQ(info.how, BOOT_HOW_BZIMAGE);
	free(b);
	/* pref_address not usable: the kernel goes elsewhere and relocates
	 * itself. */
	make_vm(16ULL << 20);
	EXPECT_EQ(boot_linux_ex(&vm, kp, NULL, "", 0, &st, &info, &err), 0);
	EXPECT_EQ(info.how, BOOT_HOW_BZIMAGE);
	EXPECT_TRUE(info.kernel_addr != LINK);
	free(e2);
	free(e);
}

static void
expect_boot_refused(const char *kp, const char *rp, int code,
    const char *what)
{
	struct vm_err err = { 0 };

	EXPECT_EQ(boot_linux_ex(&vm, kp, rp, "", 0, &st, NULL, &err), code);
	EXPECT_TRUE(strncmp(err.msg, kp, strlen(kp)) == 0 ||
	    (rp && strncmp(err.msg, rp, strlen(rp)) == 0));
	if (strstr(err.msg, what) == NULL)
		printf("#   message: %s\n", err.msg);
	EXPECT_TRUE(strstr(err.msg, what) != NULL);
}

TEST(host_decompress_refused)
{
	uint8_t *e = make_vmlinux(LINK), *z, *b, *big;
	size_t zl, bl;

	make_vm(64ULL << 20);
	z = enc_xz(e, ELF_LEN, &zl);
	b = make_bzimage(z, zl, &bl);
	/* payload_offset or payload_length beyond the file. */
	put32(b + 0x248, (uint32_t)bl);
	expect_boot_refused(write_file("off", b, bl), NULL, -EINVAL,
	    "runs past the end");
	put32(b + 0x248, PM_HEAD);
	put32(b + 0x24c, 0xfffffff0u);
	expect_boot_refused(write_file("plen", b, bl), NULL, -EINVAL,
	    "runs past the end");
	put32(b + 0x24c, (uint32_t)zl);
	/* A corrupt xz stream. */
	b[SETUP_SIZE + PM_HEAD + zl / 2] ^= 0xff;
	expect_boot_refused(write_file("corrupt", b, bl), NULL, -EINVAL,
	    "corrupt xz payload");
	b[SETUP_SIZE + PM_HEAD + zl / 2] ^= 0xff;
	/* More output declared than init_size allows. */
	put32(b + 0x260, ELF_LEN - 1);
	expect_boot_refused(write_file("init", b, bl), NULL, -EFBIG,
	    "init_size");
	free(b);
	free(z);
	/* The payload is not an ELF file. */
	big = calloc(1, ELF_LEN);
	fill(big, ELF_LEN, 9);
	z = enc_gzip(big, ELF_LEN, &zl);
	b = make_bzimage(z, zl, &bl);
	expect_boot_refused(write_file("notelf", b, bl), NULL, -EINVAL,
	    "not an ELF file");
	free(b);
	free(z);
	free(big);
	free(e);
}

TEST(vmlinux_boot)
{
	uint8_t *e = make_vmlinux(LINK), rd[3000], *bp;
	const char *kp = write_file("vmlinux", e, ELF_LEN), *rp;
	struct boot_linux_info info;
	struct vm_err err = { 0 };
	uint64_t rsdp;

	memset(rd, 0x17, sizeof(rd));
	rp = write_file("rd", rd, sizeof(rd));
	make_vm(64ULL << 20);
	EXPECT_EQ(acpi_build(&vm, 1, &rsdp, &err), 0);
	EXPECT_EQ(boot_probe(kp, NULL), BOOT_KIND_ELF);
	EXPECT_EQ(boot_linux_ex(&vm, kp, rp, "console=ttyS0", 0, &st, &info,
	    &err), 0);
	EXPECT_EQ(info.how, BOOT_HOW_VMLINUX);
	expect_entry64(LINK + 0x40);
	expect_loaded(e, LINK);
	/* The setup header we wrote for it. */
	bp = mem_gpa_to_hva(&vm.mem, BOOT_PARAMS_ADDR, 4096);
	EXPECT_EQ(bp[0x1fe] | bp[0x1ff] << 8, 0xaa55);
	EXPECT_TRUE(memcmp(bp + 0x202, "HdrS", 4) == 0);
	EXPECT_EQ(bp[0x206] | bp[0x207] << 8, 0x20f);
	EXPECT_EQ(bp[0x210], 0xff);
	EXPECT_EQ(bp[0x211], 0x81);             /* LOADED_HIGH|CAN_USE_HEAP */
	EXPECT_EQ(bp[0x236] & 1, 1);            /* XLF_KERNEL_64 */
	EXPECT_EQ(get32(bp + 0x228), BOOT_CMDLINE_ADDR);
	EXPECT_STREQ((char *)mem_gpa_to_hva(&vm.mem, BOOT_CMDLINE_ADDR, 16),
	    "console=ttyS0");
	EXPECT_EQ(get32(bp + 0x21c), sizeof(rd));
	EXPECT_TRUE(get32(bp + 0x218) >= LINK + 0x300800);
	EXPECT_TRUE(memcmp(mem_gpa_to_hva(&vm.mem, get32(bp + 0x218),
	    sizeof(rd)), rd, sizeof(rd)) == 0);
	EXPECT_EQ(get64(bp + 0x070), rsdp);
	EXPECT_EQ(get64(bp + 0x258), LINK);
	EXPECT_EQ(get32(bp + 0x260), 0x300800);
	EXPECT_TRUE(bp[0x1e8] > 0);             /* e820 */
	free(e);
}

TEST(vmlinux_refused)
{
	struct seg low[1] = { { 0x1000, 0, 0, 0x1000, 0x1000 } };
	struct seg odd[1] = { { 0x1000, 0x300000, 0, 0x1000, 0x1000 } };
	struct seg top[1] = { { 0x1000, 0x200000, 0, 0x1000,
	    (32ULL << 20) - 0x1000 - 0x200000 } };
	uint8_t *e = make_vmlinux(LINK), *m, rd[0x4000] = { 0 };

	/* A segment past the end of RAM. */
	make_vm(16ULL << 20);
	expect_boot_refused(write_file("vm-high", e, ELF_LEN), NULL, -ENOMEM,
	    "not in usable RAM");
	/* Over the loader's own structures (GDT, boot_params, page tables,
	 * command line: all below 1 MiB). */
	make_vm(64ULL << 20);
	m = make_elf_segs(low, 1, 0x10, 0x2000);
	expect_boot_refused(write_file("vm-low", m, 0x2000), NULL, -ENOMEM,
	    "not in usable RAM");
	free(m);
	m = make_elf_segs(odd, 1, 0x300010, 0x2000);
	expect_boot_refused(write_file("vm-odd", m, 0x2000), NULL, -EINVAL,
	    "2 MiB aligned");
	free(m);
	/* A kernel reaching so high that the initrd cannot go above it. */
	make_vm(32ULL << 20);
	m = make_elf_segs(top, 1, 0x200010, 0x2000);
	expect_boot_refused(write_file("vm-top", m, 0x2000),
	    write_file("rd2", rd, sizeof(rd)), -ENOMEM, "does not fit");
	free(m);
	/* A 32-bit ELF is refused outright (no fallback for a vmlinux). */
	e[EI_CLASS] = ELFCLASS32;
	expect_boot_refused(write_file("vm-32", e, ELF_LEN), NULL, -EINVAL,
	    "64-bit");
	free(e);
}

TEST(zz_cleanup)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	EXPECT_EQ(tmpdir[0] ? system(cmd) : 0, 0);
}
