/*
 * The state stream and the field visitor: a struct walked for save and
 * load comes back equal; truncated, corrupt, trailing and out-of-range
 * input is refused naming the section and field; a container file with a
 * flipped byte or cut short is refused before any section is handed out;
 * the canonical vCPU state survives visit and the DBT's set/get.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "snap/snap.h"
#include "test.h"
#include "util/err.h"
#include "vm/vm.h"

struct sample {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	int16_t e;
	int64_t f;
	bool g;
	int h;
	unsigned i;
	uint8_t bytes[5];
	uint32_t arr[3];
	uint64_t t;
	char blob[16];
	uint32_t blen;
};

static int
walk(struct snap_vis *v, struct sample *s)
{
	snap_u8(v, "a", &s->a);
	snap_u16(v, "b", &s->b);
	snap_u32(v, "c", &s->c);
	snap_u64(v, "d", &s->d);
	snap_i16(v, "e", &s->e);
	snap_i64(v, "f", &s->f);
	snap_bool(v, "g", &s->g);
	snap_int(v, "h", &s->h, -10, 10);
	snap_unsigned(v, "i", &s->i, 100);
	snap_bytes(v, "bytes", s->bytes, sizeof(s->bytes));
	snap_u32_array(v, "arr", s->arr, 3);
	snap_time(v, "t", &s->t);
	snap_blob(v, "blob", s->blob, &s->blen, sizeof(s->blob));
	return v->failed;
}

static const struct sample ref = {
	0x12, 0x3456, 0x789abcde, 0x0123456789abcdefULL, -2, -3, true, -7, 99,
	{ 1, 2, 3, 4, 5 }, { 7, 8, 9 }, 5000, "hello", 5,
};

static void
save(struct snap_vis *v, struct vm_err *err)
{
	struct sample s = ref;

	snap_vis_begin_save(v, "sample", 1, err);
	v->now = 1000;
	walk(v, &s);
	snap_vis_end(v);
}

TEST(visitor_round_trip)
{
	struct vm_err err = { 0 };
	struct snap_vis v, l;
	struct sample out;

	save(&v, &err);
	EXPECT_EQ(v.failed, 0);
	memset(&out, 0, sizeof(out));
	snap_vis_begin_load(&l, "sample", 1, v.buf, v.len, &err);
	l.now = 2000;   /* the restore's clock: times move with it */
	walk(&l, &out);
	EXPECT_EQ(snap_vis_end(&l), 0);
	EXPECT_EQ(out.a, ref.a);
	EXPECT_EQ(out.b, ref.b);
	EXPECT_EQ(out.c, ref.c);
	EXPECT_TRUE(out.d == ref.d);
	EXPECT_EQ(out.e, ref.e);
	EXPECT_EQ(out.f, ref.f);
	EXPECT_EQ(out.g, ref.g);
	EXPECT_EQ(out.h, ref.h);
	EXPECT_EQ(out.i, ref.i);
	EXPECT_TRUE(memcmp(out.bytes, ref.bytes, 5) == 0);
	EXPECT_TRUE(memcmp(out.arr, ref.arr, sizeof(ref.arr)) == 0);
	EXPECT_EQ(out.t, 6000);
	EXPECT_EQ(out.blen, 5);
	EXPECT_TRUE(memcmp(out.blob, "hello", 5) == 0);
	snap_vis_free(&v);
}

TEST(visitor_truncated_names_the_field)
{
	struct vm_err err = { 0 };
	struct snap_vis v, l;
	struct sample out = { 0 };

	save(&v, &err);
	/* cut inside d (offset 1+2+4 = 7, 8 bytes) */
	snap_vis_begin_load(&l, "sample", 1, v.buf, 10, &err);
	walk(&l, &out);
	EXPECT_TRUE(l.failed < 0);
	EXPECT_STREQ(err.msg, "section 'sample': field 'd': truncated "
	    "(8 bytes wanted, 3 left)");
	snap_vis_free(&v);
}

TEST(visitor_refuses_bad_values_and_trailing_bytes)
{
	struct vm_err err = { 0 };
	struct snap_vis v, l;
	struct sample out = { 0 };
	uint8_t *copy;

	save(&v, &err);
	copy = malloc(v.len + 1);
	memcpy(copy, v.buf, v.len);
	copy[1 + 2 + 4 + 8 + 2 + 8] = 2;        /* g: not a boolean */
	snap_vis_begin_load(&l, "sample", 1, copy, v.len, &err);
	walk(&l, &out);
	EXPECT_STREQ(err.msg, "section 'sample': field 'g': 2 is not a "
	    "boolean");
	memcpy(copy, v.buf, v.len);
	{
		int32_t h = 11;                 /* h: out of [-10, 10] */

		memcpy(copy + 1 + 2 + 4 + 8 + 2 + 8 + 1, &h, 4);
	}
	snap_vis_begin_load(&l, "sample", 1, copy, v.len, &err);
	walk(&l, &out);
	EXPECT_STREQ(err.msg, "section 'sample': field 'h': 11 is out of "
	    "range [-10, 10]");
	memcpy(copy, v.buf, v.len);
	copy[v.len] = 0;
	snap_vis_begin_load(&l, "sample", 1, copy, v.len + 1, &err);
	walk(&l, &out);
	EXPECT_TRUE(snap_vis_end(&l) < 0);
	EXPECT_TRUE(strstr(err.msg, "1 bytes left after its last field") !=
	    NULL);
	free(copy);
	snap_vis_free(&v);
}

static char tmpl[64];

static const char *
write_file(void)
{
	struct vm_err err = { 0 };
	struct snap_writer w;
	struct snap_vis v;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/snap-unit-XXXXXX");
	fd = mkstemp(tmpl);
	close(fd);
	unlink(tmpl);
	EXPECT_EQ(snap_writer_open(&w, tmpl, 0, &err), 0);
	save(&v, &err);
	EXPECT_EQ(snap_writer_section(&w, "sample", 0, &v, &err), 0);
	EXPECT_EQ(snap_writer_section(&w, "other", 3, &v, &err), 0);
	snap_vis_free(&v);
	EXPECT_EQ(snap_writer_close(&w, &err), 0);
	return tmpl;
}

TEST(container_round_trip)
{
	struct vm_err err = { 0 };
	struct snap_reader r;
	const struct snap_section *s;
	struct snap_vis l;
	struct sample out = { 0 };
	const char *path = write_file();
	void *buf;

	EXPECT_EQ(snap_reader_open(&r, path, &err), 0);
	EXPECT_EQ(r.hdr.format, SNAP_FORMAT_VERSION);
	EXPECT_EQ(r.nsect, 3);
	s = snap_reader_find(&r, "other", 3);
	EXPECT_TRUE(s != NULL);
	EXPECT_TRUE(snap_reader_find(&r, "other", 0) == NULL);
	if (s != NULL && snap_reader_load(&r, s, &buf, &err) == 0) {
		snap_vis_begin_load(&l, s->name, s->version, buf, s->len, &err);
		walk(&l, &out);
		EXPECT_EQ(snap_vis_end(&l), 0);
		EXPECT_TRUE(out.d == ref.d);
		free(buf);
	}
	snap_reader_close(&r);
	unlink(path);
}

static void
flip(const char *path, off_t off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	fseeko(f, off, SEEK_SET);
	c = fgetc(f);
	fseeko(f, off, SEEK_SET);
	fputc(c ^ 0x01, f);
	fclose(f);
}

TEST(container_refuses_flipped_bytes_and_truncation)
{
	struct vm_err err = { 0 };
	struct snap_reader r;
	const char *path;
	off_t size, off;

	/* every byte of the file, flipped in turn, is caught */
	path = write_file();
	size = 0;
	{
		FILE *f = fopen(path, "rb");

		fseeko(f, 0, SEEK_END);
		size = ftello(f);
		fclose(f);
	}
	for (off = 0; off < size; off++) {
		flip(path, off);
		vm_err_clear(&err);
		if (snap_reader_open(&r, path, &err) == 0) {
			printf("#   a flip at %lld went unnoticed\n",
			    (long long)off);
			test_failed_now = 1;
			snap_reader_close(&r);
		}
		flip(path, off);
	}
	EXPECT_EQ(snap_reader_open(&r, path, &err), 0);
	snap_reader_close(&r);
	/* every shorter length too */
	for (off = size - 1; off >= 0; off--) {
		EXPECT_EQ(truncate(path, off), 0);
		if (snap_reader_open(&r, path, &err) == 0) {
			printf("#   cut at %lld went unnoticed\n",
			    (long long)off);
			test_failed_now = 1;
			snap_reader_close(&r);
		}
	}
	unlink(path);
}

TEST(container_refuses_a_newer_format)
{
	struct vm_err err = { 0 };
	struct snap_reader r;
	const char *path = write_file();
	uint8_t h[60];
	uint32_t v = SNAP_FORMAT_VERSION + 1, crc;
	FILE *f = fopen(path, "r+b");

	EXPECT_EQ(fread(h, 1, 60, f), 60);
	memcpy(h + 8, &v, 4);
	crc = snap_crc32(0, h, 56);
	memcpy(h + 56, &crc, 4);
	fseeko(f, 0, SEEK_SET);
	fwrite(h, 1, 60, f);
	fclose(f);
	EXPECT_TRUE(snap_reader_open(&r, path, &err) < 0);
	EXPECT_TRUE(strstr(err.msg, "snapshot format 2 is newer than this "
	    "vmkit reads (1") != NULL);
	unlink(path);
}

static void
fill_state(struct x86_state *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	cpu_reset_state(st, 0);
	for (i = 0; i < 16; i++)
		st->gpr[i] = 0x1111111111111111ULL * (i + 1);
	st->rip = 0xffffffff81000123ULL;
	st->rflags = 0x246;
	st->cr0 = 0x80050033;
	st->cr3 = 0x1234000;
	st->cr4 = 0x6f0;
	st->efer = 0xd01;
	st->star = 0x23001000000000ULL;
	st->lstar = 0xffffffff81a00000ULL;
	st->kernel_gs_base = 0xffff888000000000ULL;
	st->seg[X86_CS].sel = 0x10;
	st->seg[X86_CS].l = 1;
	st->seg[X86_CS].db = 0;
	st->gdtr.base = 0xfffffe0000001000ULL;
	st->gdtr.limit = 0x7f;
	for (i = 0; i < 512; i++)
		st->fxsave[i] = (uint8_t)(i * 7);
	st->fxsave[24] = 0x80;  /* MXCSR 0x1f80 */
	st->fxsave[25] = 0x1f;
	st->fxsave[28] = st->fxsave[29] = 0xff;
	st->fxsave[30] = st->fxsave[31] = 0;
	st->fpu_cs = 0x33;
	st->fpu_ds = 0x2b;
}

TEST(cpu_state_visit_and_dbt_set_get)
{
	struct vm_err err = { 0 };
	struct vm_config cfg;
	struct x86_state a, b, c;
	struct snap_vis v, l;
	struct vm *vm;

	fill_state(&a);
	/* A version 1 section (before FCS/FDS) saves and loads without
	 * them: they come back 0, the rest as it was. */
	snap_vis_begin_save(&v, "cpu", 1, &err);
	x86_state_visit(&a, &v);
	EXPECT_EQ(snap_vis_end(&v), 0);
	memset(&b, 0, sizeof(b));
	snap_vis_begin_load(&l, "cpu", 1, v.buf, v.len, &err);
	x86_state_visit(&b, &l);
	EXPECT_EQ(snap_vis_end(&l), 0);
	EXPECT_TRUE(b.fpu_cs == 0 && b.fpu_ds == 0);
	b.fpu_cs = a.fpu_cs;
	b.fpu_ds = a.fpu_ds;
	EXPECT_TRUE(memcmp(&a, &b, sizeof(a)) == 0);
	snap_vis_free(&v);
	/* The current version: everything. */
	snap_vis_begin_save(&v, "cpu", X86_STATE_VERSION, &err);
	x86_state_visit(&a, &v);
	EXPECT_EQ(snap_vis_end(&v), 0);
	memset(&b, 0, sizeof(b));
	snap_vis_begin_load(&l, "cpu", X86_STATE_VERSION, v.buf, v.len, &err);
	x86_state_visit(&b, &l);
	EXPECT_EQ(snap_vis_end(&l), 0);
	EXPECT_TRUE(memcmp(&a, &b, sizeof(a)) == 0);
	snap_vis_free(&v);

	/* through the DBT: set_state then get_state gives the same */
	cfg_defaults(&cfg);
	cfg.memory = 16 << 20;
	cfg.cpus = 1;
	vm = vm_create_bare(&cfg, &dbt_backend, &err);
	EXPECT_TRUE(vm != NULL);
	if (vm == NULL)
		return;
	EXPECT_EQ(dbt_backend.set_state(vm->vcpus[0], &b), 0);
	memset(&c, 0, sizeof(c));
	EXPECT_EQ(dbt_backend.get_state(vm->vcpus[0], &c), 0);
	EXPECT_TRUE(memcmp(c.gpr, a.gpr, sizeof(a.gpr)) == 0);
	EXPECT_TRUE(c.rip == a.rip);
	EXPECT_TRUE(c.rflags == a.rflags);
	EXPECT_TRUE(memcmp(c.seg, a.seg, sizeof(a.seg)) == 0);
	EXPECT_TRUE(c.gdtr.base == a.gdtr.base && c.gdtr.limit == a.gdtr.limit);
	EXPECT_TRUE(c.cr0 == a.cr0 && c.cr3 == a.cr3 && c.cr4 == a.cr4);
	EXPECT_TRUE(c.efer == a.efer && c.star == a.star &&
	    c.lstar == a.lstar && c.kernel_gs_base == a.kernel_gs_base);
	EXPECT_TRUE(memcmp(c.fxsave, a.fxsave, sizeof(a.fxsave)) == 0);
	EXPECT_TRUE(c.fpu_cs == a.fpu_cs && c.fpu_ds == a.fpu_ds);
	/* the TSC goes on from the value set, it does not restart */
	EXPECT_TRUE(c.tsc >= a.tsc);
	vm_destroy(vm);
}

/* A raw section's CRC is checked whatever its value, 0 included; only
 * one ended as mapped RAM (end_raw_nocrc) goes unchecked. */
TEST(container_checks_a_crc_of_zero)
{
	struct vm_err err = { 0 };
	struct snap_writer w;
	struct snap_reader r;
	uint64_t off;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/snap-unit-XXXXXX");
	fd = mkstemp(tmpl);
	close(fd);
	unlink(tmpl);
	EXPECT_EQ(snap_writer_open(&w, tmpl, 0, &err), 0);
	EXPECT_EQ(snap_writer_begin_raw(&w, "blob", 0, 1, 1, &off, &err), 0);
	EXPECT_EQ(pwrite(w.fd, "abc", 3, (off_t)off), 3);
	/* "abc"'s CRC32 is not 0: the header's 0 must not pass */
	EXPECT_TRUE(snap_crc32(0, "abc", 3) != 0);
	EXPECT_EQ(snap_writer_end_raw(&w, 3, 0, &err), 0);
	EXPECT_EQ(snap_writer_close(&w, &err), 0);
	EXPECT_TRUE(snap_reader_open(&r, tmpl, &err) < 0);
	EXPECT_TRUE(strstr(err.msg, "section 'blob' (instance 0) fails its "
	    "CRC32 check") != NULL);
	unlink(tmpl);

	EXPECT_EQ(snap_writer_open(&w, tmpl, 0, &err), 0);
	EXPECT_EQ(snap_writer_begin_raw(&w, "ram", 0, 1, 4096, &off, &err), 0);
	EXPECT_EQ(pwrite(w.fd, "abc", 3, (off_t)off), 3);
	EXPECT_EQ(snap_writer_end_raw_nocrc(&w, 3, &err), 0);
	EXPECT_EQ(snap_writer_close(&w, &err), 0);
	EXPECT_EQ(snap_reader_open(&r, tmpl, &err), 0);
	snap_reader_close(&r);
	unlink(tmpl);
}
