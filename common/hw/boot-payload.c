/*
 * Host-side decompression of a bzImage's payload: the compressed vmlinux
 * that the kernel's own decompressor (arch/x86/boot/compressed) would
 * otherwise unpack inside the guest, slowly when the guest CPU is emulated.
 *
 * Design: the format is told by its magic bytes, as the kernel's
 * lib/decompress.c does (gzip, bzip2, lzma, xz, lzo, lz4, zstd).  The
 * kernel build appends the uncompressed length as a 32-bit little-endian
 * word to every payload (for gzip it is the stream's own ISIZE trailer);
 * that length, bounded by the caller's limit (the bzImage's init_size,
 * which the kernel guarantees covers its decompressed image), sizes the one
 * output buffer, so no stream can make us allocate more.  Each library
 * decodes into that buffer in one pass and must produce exactly that many
 * bytes: a shorter or longer result, a bad checksum or a library error is
 * a corrupt payload.  The libraries are the distribution's: zlib (gzip),
 * liblzma (xz and legacy .lzma), libzstd and liblz4's block API; lz4 is the
 * legacy frame the kernel's lz4 uses, parsed here: magic 0x184c2102, then
 * blocks of <compressed length, 32-bit LE><LZ4 block>, each decoding to at
 * most 8 MiB, a repeated magic starting a new frame, the stream ending with
 * the input (lz4 docs, "Legacy frame"; the kernel's lib/decompress_unlz4.c
 * for the size trailer).  bzip2 and lzo are refused with -ENOTSUP: no
 * library for them is linked, and the caller lets the guest decompress.
 * Spec: RFC 1952 (gzip), The .xz File Format 1.1.0, RFC 8878 (zstd), the
 * LZ4 block and frame format descriptions, Documentation/arch/x86/boot.rst
 * (payload_offset, payload_length: "the payload may be compressed").
 * Threads: called once by the loader before any vCPU runs.
 */
#include "hw/boot.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "util/err.h"

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
/* The decoders' own working memory (xz and lzma dictionaries). */
#define LZMA_MEMLIMIT (256ULL << 20)

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static const struct {
	enum boot_zfmt fmt;
	const char *name;
	uint8_t len;
	uint8_t magic[6];
} formats[] = {
	{ BOOT_Z_GZIP, "gzip", 2, { 0x1f, 0x8b } },
	{ BOOT_Z_XZ, "xz", 6, { 0xfd, '7', 'z', 'X', 'Z', 0x00 } },
	{ BOOT_Z_ZSTD, "zstd", 4, { 0x28, 0xb5, 0x2f, 0xfd } },
	{ BOOT_Z_LZ4, "lz4", 4, { 0x02, 0x21, 0x4c, 0x18 } },
	{ BOOT_Z_LZMA, "lzma", 3, { 0x5d, 0x00, 0x00 } },
	{ BOOT_Z_BZIP2, "bzip2", 3, { 'B', 'Z', 'h' } },
	{ BOOT_Z_LZO, "lzo", 4, { 0x89, 'L', 'Z', 'O' } },
};

enum boot_zfmt
boot_payload_format(const uint8_t *p, uint64_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(formats); i++)
		if (len >= formats[i].len &&
		    memcmp(p, formats[i].magic, formats[i].len) == 0)
			return formats[i].fmt;
	return BOOT_Z_UNKNOWN;
}

const char *
boot_payload_format_name(enum boot_zfmt fmt)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(formats); i++)
		if (formats[i].fmt == fmt)
			return formats[i].name;
	return "unknown";
}

/* gzip: the whole payload is the stream (its ISIZE is the trailer). */
static int
unzip_gzip(const char *path, const uint8_t *in, uint64_t inlen,
    uint8_t *out, uint64_t outlen, uint64_t *done, struct vm_err *err)
{
	z_stream zs;
	int zr;

	if (inlen > UINT_MAX || outlen > UINT_MAX)
		return vm_err_set(err, -EFBIG, "%s: gzip payload too large",
		    path);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return vm_err_set(err, -ENOMEM, "%s: zlib: out of memory",
		    path);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)inlen;
	zs.next_out = out;
	zs.avail_out = (uInt)outlen;
	zr = inflate(&zs, Z_FINISH);
	*done = zs.total_out;
	inflateEnd(&zs);
	if (zr == Z_STREAM_END)
		return 0;
	if (zr == Z_BUF_ERROR && zs.avail_out == 0)
		return vm_err_set(err, -EINVAL, "%s: corrupt gzip payload: it "
		    "decompresses to more than the %llu bytes it declares",
		    path, (unsigned long long)outlen);
	return vm_err_set(err, -EINVAL, "%s: corrupt gzip payload (zlib: "
	    "%s)", path, zs.msg ? zs.msg : "truncated stream");
}

static const char *
lzma_why(lzma_ret r)
{
	switch (r) {
	case LZMA_FORMAT_ERROR:
		return "not a valid stream";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "data error";
	case LZMA_BUF_ERROR:
		return "truncated stream";
	case LZMA_MEMLIMIT_ERROR:
		return "needs too much memory to decode";
	case LZMA_MEM_ERROR:
		return "out of memory";
	case LZMA_UNSUPPORTED_CHECK:
		return "unsupported integrity check";
	default:
		return "decoder error";
	}
}

/* xz (one stream, any integrity check liblzma knows) or legacy .lzma. */
static int
unzip_lzma(const char *path, enum boot_zfmt fmt, const uint8_t *in,
    uint64_t inlen, uint8_t *out, uint64_t outlen, uint64_t *done,
    struct vm_err *err)
{
	lzma_stream ls = LZMA_STREAM_INIT;
	const char *name = boot_payload_format_name(fmt);
	lzma_ret r;

	r = fmt == BOOT_Z_XZ ? lzma_stream_decoder(&ls, LZMA_MEMLIMIT, 0) :
	    lzma_alone_decoder(&ls, LZMA_MEMLIMIT);
	if (r != LZMA_OK)
		return vm_err_set(err, -ENOMEM, "%s: liblzma: cannot start "
		    "the %s decoder", path, name);
	ls.next_in = in;
	ls.avail_in = inlen;
	ls.next_out = out;
	ls.avail_out = outlen;
	do
		r = lzma_code(&ls, LZMA_FINISH);
	while (r == LZMA_OK && ls.avail_out > 0);
	*done = ls.total_out;
	lzma_end(&ls);
	if (r == LZMA_STREAM_END)
		return 0;
	if (r == LZMA_OK)
		return vm_err_set(err, -EINVAL, "%s: corrupt %s payload: it "
		    "decompresses to more than the %llu bytes it declares",
		    path, name, (unsigned long long)outlen);
	return vm_err_set(err, r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL,
	    "%s: corrupt %s payload (liblzma: %s)", path, name, lzma_why(r));
}

static int
unzip_zstd(const char *path, const uint8_t *in, uint64_t inlen,
    uint8_t *out, uint64_t outlen, uint64_t *done, struct vm_err *err)
{
	ZSTD_DCtx *z = ZSTD_createDCtx();
	size_t n;

	if (z == NULL)
		return vm_err_set(err, -ENOMEM, "%s: libzstd: out of memory",
		    path);
	/* Single pass into a buffer of known size: no window is kept, so
	 * a frame's window size cannot make libzstd allocate. */
	n = ZSTD_decompressDCtx(z, out, outlen, in, inlen);
	ZSTD_freeDCtx(z);
	if (ZSTD_isError(n))
		return vm_err_set(err, -EINVAL, "%s: corrupt zstd payload "
		    "(libzstd: %s)", path, ZSTD_getErrorName(n));
	*done = n;
	return 0;
}

/* The kernel's lz4: the legacy frame format, parsed here. */
static int
unzip_lz4(const char *path, const uint8_t *in, uint64_t inlen,
    uint8_t *out, uint64_t outlen, uint64_t *done, struct vm_err *err)
{
	uint64_t pos = 4, o = 0;

	if (inlen < 4 || rd32(in) != LZ4_LEGACY_MAGIC)
		return vm_err_set(err, -EINVAL, "%s: corrupt lz4 payload (no "
		    "legacy frame magic)", path);
	while (pos < inlen) {
		uint32_t c;
		uint64_t cap;
		int n;

		if (inlen - pos < 4)
			return vm_err_set(err, -EINVAL, "%s: corrupt lz4 payload "
			    "(truncated block header at %llu)", path,
			    (unsigned long long)pos);
		c = rd32(in + pos);
		pos += 4;
		if (c == LZ4_LEGACY_MAGIC)
			continue;               /* a concatenated frame */
		if (c == 0 || c > inlen - pos ||
		    c > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK))
			return vm_err_set(err, -EINVAL, "%s: corrupt lz4 payload "
			    "(block of %u bytes at %llu)", path, c,
			    (unsigned long long)(pos - 4));
		cap = outlen - o < LZ4_LEGACY_BLOCK ? outlen - o :
		    LZ4_LEGACY_BLOCK;
		if (cap == 0)
			return vm_err_set(err, -EINVAL, "%s: corrupt lz4 payload: "
			    "it decompresses to more than the %llu bytes it "
			    "declares", path, (unsigned long long)outlen);
		n = LZ4_decompress_safe((const char *)in + pos, (char *)out + o,
		    (int)c, (int)cap);
		if (n < 0)
			return vm_err_set(err, -EINVAL, "%s: corrupt lz4 payload "
			    "(bad block at %llu)", path,
			    (unsigned long long)(pos - 4));
		o += (uint64_t)n;
		pos += c;
	}
	*done = o;
	return 0;
}

/*
 * Decompress a bzImage payload (payload_length bytes from payload_offset,
 * size trailer included) into a new malloc'd buffer (*outp, *outlenp: the
 * caller frees it).  limit bounds the output: the declared size must not
 * exceed it.  Returns 0; -ENOTSUP for a format the host does not decode
 * (bzip2, lzo, unknown magic: the guest may still); -EINVAL for a corrupt
 * payload; -EFBIG when the declared size is 0 or over limit; -ENOMEM.
 */
int
boot_payload_decompress(const char *path, const uint8_t *p, uint64_t len,
    uint64_t limit, uint8_t **outp, uint64_t *outlenp, struct vm_err *err)
{
	enum boot_zfmt fmt = boot_payload_format(p, len);
	const char *name = boot_payload_format_name(fmt);
	uint64_t olen, done = 0;
	uint8_t *out;
	int ret;

	if (fmt == BOOT_Z_UNKNOWN)
		return vm_err_set(err, -ENOTSUP, "%s: payload compression not "
		    "recognised (magic %02x %02x)", path, len > 0 ? p[0] : 0,
		    len > 1 ? p[1] : 0);
	if (fmt == BOOT_Z_BZIP2 || fmt == BOOT_Z_LZO)
		return vm_err_set(err, -ENOTSUP, "%s: %s payload: vm-run has "
		    "no %s decoder", path, name, name);
	if (len < 8)
		return vm_err_set(err, -EINVAL, "%s: truncated %s payload (%llu "
		    "bytes)", path, name, (unsigned long long)len);
	olen = rd32(p + len - 4);
	if (olen == 0 || olen > limit)
		return vm_err_set(err, -EFBIG, "%s: the %s payload declares %llu "
		    "bytes of kernel; the limit is %llu (init_size)", path, name,
		    (unsigned long long)olen, (unsigned long long)limit);
	out = malloc(olen);
	if (out == NULL)
		return vm_err_set(err, -ENOMEM, "%s: out of memory for the "
		    "%llu-byte kernel", path, (unsigned long long)olen);
	switch (fmt) {
	case BOOT_Z_GZIP:
		ret = unzip_gzip(path, p, len, out, olen, &done, err);
		break;
	case BOOT_Z_XZ:
	case BOOT_Z_LZMA:
		ret = unzip_lzma(path, fmt, p, len - 4, out, olen, &done, err);
		break;
	case BOOT_Z_ZSTD:
		ret = unzip_zstd(path, p, len - 4, out, olen, &done, err);
		break;
	default:
		ret = unzip_lz4(path, p, len - 4, out, olen, &done, err);
		break;
	}
	if (ret == 0 && done != olen)
		ret = vm_err_set(err, -EINVAL, "%s: corrupt %s payload: it "
		    "decompresses to %llu bytes but declares %llu", path, name,
		    (unsigned long long)done, (unsigned long long)olen);
	if (ret < 0) {
		free(out);
		return ret;
	}
	*outp = out;
	*outlenp = olen;
	return 0;
}
