/*
 * Snapshots of a whole VM.  The stream (snap/snap.h) holds, in order:
 *
 *   config      the VM's vm.yaml (cfg_emit), so a snapshot restores alone
 *   vm          memory size, vCPU count, tag, disks, RAM mode, back end
 *   cpu         one per vCPU (instance = index): the canonical x86 state
 *   intc        the user-space PICs, IOAPIC and LAPICs
 *   pci-host    the host bridge's config space (the PAM registers)
 *   bios        a firmware VM's shadow RAM state: each 0xC0000-0xFFFFF
 *               segment's PAM mode, the RAM hidden behind ROM
 *   dev:ID      one per device, through its dev_type.state walk
 *   ram-map     the memory regions, a bitmap of their non-zero pages
 *   ram         the non-zero pages: zstd chunks, or (--fast-restore) the
 *               regions' bytes uncompressed and page aligned, zero pages
 *               left as holes, so a restore maps them MAP_PRIVATE
 *   base        one per disk that went to an overlay at the save (instance:
 *               its index in the configuration): the base's size and a
 *               CRC-32 of its first and last 64 KiB; a restore checks the
 *               base and puts the disk on a new overlay on it
 *
 * Loading goes into a VM built for the restore: every check runs before it
 * starts, and a refused snapshot leaves the caller a VM to throw away, with
 * the disks untouched (their snapshots are applied last).
 */
#include "vm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "block/block.h"
#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "dev/dev.h"
#include "dev/i8254.h"
#include "hw/boot.h"
#include "hw/intc.h"
#include "hw/irqchip.h"
#include "hw/pc.h"
#include "hw/pci.h"
#include "snap/snap.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vm/vm.h"

#define PAGE 4096u
#define CHUNK_PAGES 256u        /* 1 MiB of pages per zstd frame */
#define BATCH 8                 /* chunks compressed at once, on 2 threads */
#define ZSTD_LEVEL 1
#define ABSENT_PAGES 4096u      /* pages looked up in pagemap at once */

/* RAM_NONE: a disks-only snapshot of a stopped VM (no cpu, device or RAM
 * sections). */
enum { RAM_ZSTD = 0, RAM_MAPPED = 1, RAM_NONE = 2 };

#define MAX_DISKS 16

struct vm_sect {
	uint64_t memory;
	int ncpus;
	char tag[VM_SNAP_TAG_MAX];
	char parent[VM_SNAP_TAG_MAX];
	char backend[16];
	uint32_t ndisks;
	uint8_t ram_mode;
};

static int
vm_sect_visit(struct snap_vis *v, struct vm_sect *s)
{
	uint32_t n;

	snap_u64(v, "memory", &s->memory);
	snap_int(v, "ncpus", &s->ncpus, 1, VM_MAX_CPUS);
	n = (uint32_t)strnlen(s->tag, sizeof(s->tag) - 1);
	snap_blob(v, "tag", s->tag, &n, sizeof(s->tag) - 1);
	if (v->load)
		s->tag[n] = '\0';
	n = (uint32_t)strnlen(s->parent, sizeof(s->parent) - 1);
	snap_blob(v, "parent", s->parent, &n, sizeof(s->parent) - 1);
	if (v->load)
		s->parent[n] = '\0';
	n = (uint32_t)strnlen(s->backend, sizeof(s->backend) - 1);
	snap_blob(v, "backend", s->backend, &n, sizeof(s->backend) - 1);
	if (v->load)
		s->backend[n] = '\0';
	snap_u32(v, "ndisks", &s->ndisks);
	snap_check(v, s->ndisks <= MAX_DISKS, "ndisks", "too many disks");
	snap_u8(v, "ram_mode", &s->ram_mode);
	snap_check(v, s->ram_mode <= RAM_NONE, "ram_mode",
	    "not a RAM layout this vmkit knows");
	return v->failed;
}

/* ---- RAM ------------------------------------------------------------------ */

struct ram_region {
	uint64_t gpa, size, data_off;
	uint8_t *bitmap;
	uint32_t bmlen;
};

struct ram_map {
	uint32_t nr;
	struct ram_region r[MEM_MAX_REGIONS];
	uint64_t pages;         /* non-zero pages */
};

static void
ram_map_free(struct ram_map *m)
{
	uint32_t i;

	for (i = 0; i < m->nr; i++)
		free(m->r[i].bitmap);
	memset(m, 0, sizeof(*m));
}

static int
ram_map_visit(struct snap_vis *v, struct ram_map *m)
{
	uint32_t i;

	snap_u32(v, "nregions", &m->nr);
	snap_check(v, m->nr <= MEM_MAX_REGIONS, "nregions", "too many");
	for (i = 0; i < m->nr && !v->failed; i++) {
		struct ram_region *r = &m->r[i];
		uint32_t want;

		snap_u64(v, "gpa", &r->gpa);
		snap_u64(v, "size", &r->size);
		snap_check(v, r->size % PAGE == 0 && r->size <= (1ULL << 46),
		    "size", "not a page multiple below 64 TiB");
		snap_u64(v, "data_off", &r->data_off);
		snap_check(v, r->data_off % PAGE == 0, "data_off",
		    "not page aligned");
		if (v->failed)
			break;
		want = (uint32_t)((r->size / PAGE + 7) / 8);
		if (v->load) {
			r->bitmap = calloc(1, want ? want : 1);
			if (r->bitmap == NULL)
				return snap_fail(v, -ENOMEM, "out of memory");
		}
		r->bmlen = want;
		snap_blob(v, "bitmap", r->bitmap, &r->bmlen, want);
		snap_check(v, r->bmlen == want, "bitmap",
		    "does not match the region's size");
	}
	if (v->load && !v->failed) {
		m->pages = 0;
		for (i = 0; i < m->nr; i++) {
			uint32_t k;

			for (k = 0; k < m->r[i].bmlen; k++)
				m->pages += (uint64_t)__builtin_popcount(
				    m->r[i].bitmap[k]);
		}
	}
	return v->failed;
}

bool
vm_page_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		if (q[i] != 0)
			return false;
	return true;
}

static int
ram_map_build(struct vm *vm, struct ram_map *m, struct vm_err *err)
{
	uint64_t off = 0;
	int i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *mr = &vm->mem.regions[i];
		struct ram_region *r = &m->r[m->nr];
		uint64_t pg, n = mr->size / PAGE, absent[ABSENT_PAGES / 64];

		r->gpa = mr->gpa;
		r->size = mr->size;
		r->data_off = off;
		off += mr->size;
		r->bmlen = (uint32_t)((n + 7) / 8);
		r->bitmap = calloc(1, r->bmlen ? r->bmlen : 1);
		if (r->bitmap == NULL) {
			ram_map_free(m);
			return vm_err_set(err, -ENOMEM, "out of memory");
		}
		m->nr++;
		for (pg = 0; pg < n; pg++) {
			/* pages with nothing behind them are zero: not read
			 * (a 4 GiB guest's untouched RAM costs no faults) */
			if (pg % ABSENT_PAGES == 0)
				mem_absent_pages(&vm->mem, i, pg,
				    n - pg < ABSENT_PAGES ? n - pg : ABSENT_PAGES,
				    absent);
			if ((absent[pg % ABSENT_PAGES / 64] >>
			    (pg % 64)) & 1)
				continue;
			if (!vm_page_zero(mr->hva + pg * PAGE)) {
				r->bitmap[pg / 8] |= (uint8_t)(1u << (pg % 8));
				m->pages++;
			}
		}
	}
	return 0;
}

static bool
bit(const struct ram_region *r, uint64_t pg)
{
	return r->bitmap[pg / 8] & (1u << (pg % 8));
}

/* Walks the non-zero pages of all regions in order. */
struct page_iter {
	const struct ram_map *m;
	uint32_t ri;
	uint64_t pg;
};

static uint8_t *
next_page(struct page_iter *it, struct vm *vm)
{
	while (it->ri < it->m->nr) {
		const struct ram_region *r = &it->m->r[it->ri];

		while (it->pg < r->size / PAGE) {
			uint64_t pg = it->pg++;

			if (bit(r, pg))
				return vm->mem.regions[it->ri].hva + pg * PAGE;
		}
		it->ri++;
		it->pg = 0;
	}
	return NULL;
}

struct zjob {
	uint8_t *src, *dst;
	size_t srclen, dstcap, dstlen;
	int err;
};

struct zwork {
	struct zjob *jobs;
	int njobs, first;
};

static void *
zworker(void *arg)
{
	struct zwork *w = arg;
	int i;

	for (i = w->first; i < w->njobs; i += 2) {
		struct zjob *j = &w->jobs[i];
		size_t n = ZSTD_compress(j->dst, j->dstcap, j->src, j->srclen,
		    ZSTD_LEVEL);

		if (ZSTD_isError(n))
			j->err = -EIO;
		else
			j->dstlen = n;
	}
	return NULL;
}

static int
ram_write_zstd(struct vm *vm, struct snap_writer *w, const struct ram_map *m,
    uint64_t off, uint64_t *len, uint32_t *crc, struct vm_err *err)
{
	struct zjob jobs[BATCH];
	struct page_iter it = { m, 0, 0 };
	uint64_t left = m->pages, pos = off;
	uint32_t c = 0;
	int i, ret = 0;

	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < BATCH; i++) {
		jobs[i].src = malloc(CHUNK_PAGES * PAGE);
		jobs[i].dstcap = ZSTD_compressBound(CHUNK_PAGES * PAGE);
		jobs[i].dst = malloc(jobs[i].dstcap);
		if (jobs[i].src == NULL || jobs[i].dst == NULL) {
			ret = vm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	while (left > 0) {
		struct zwork wk[2];
		pthread_t tid;
		int nj = 0;
		bool threaded;

		for (nj = 0; nj < BATCH && left > 0; nj++) {
			uint64_t n = left < CHUNK_PAGES ? left : CHUNK_PAGES, k;

			for (k = 0; k < n; k++)
				memcpy(jobs[nj].src + k * PAGE,
				    next_page(&it, vm), PAGE);
			jobs[nj].srclen = n * PAGE;
			jobs[nj].err = 0;
			left -= n;
		}
		wk[0] = (struct zwork){ jobs, nj, 0 };
		wk[1] = (struct zwork){ jobs, nj, 1 };
		threaded = nj > 1 &&
		    pthread_create(&tid, NULL, zworker, &wk[1]) == 0;
		zworker(&wk[0]);
		if (threaded)
			pthread_join(tid, NULL);
		else if (nj > 1)
			zworker(&wk[1]);
		for (i = 0; i < nj; i++) {
			uint32_t cl = (uint32_t)jobs[i].dstlen;

			if (jobs[i].err) {
				ret = vm_err_set(err, -EIO, "RAM: zstd failed");
				goto out;
			}
			if (pwrite(w->fd, &cl, 4, (off_t)pos) != 4 ||
			    pwrite(w->fd, jobs[i].dst, cl, (off_t)pos + 4) !=
			    (ssize_t)cl) {
				ret = vm_err_errno(err, -errno, "%s: RAM",
				    w->path);
				goto out;
			}
			c = snap_crc32(c, &cl, 4);
			c = snap_crc32(c, jobs[i].dst, cl);
			pos += 4 + cl;
		}
	}
	*len = pos - off;
	*crc = c;
out:
	for (i = 0; i < BATCH; i++) {
		free(jobs[i].src);
		free(jobs[i].dst);
	}
	return ret;
}

/* Runs of non-zero pages written where they lie; zero pages stay holes. */
static int
ram_write_mapped(struct vm *vm, struct snap_writer *w,
    const struct ram_map *m, uint64_t off, uint64_t *len,
    struct vm_err *err)
{
	/* Guest RAM is page aligned and so is its place in the file: written
	 * around the page cache (O_DIRECT), the pause copies no page into it
	 * and leaves no dirty pages for the kernel to throttle the next
	 * write on (bench/RESULTS.md, 2026-12-07 late); buffered where the
	 * file system refuses it. */
	int dfd = open(w->path, O_WRONLY | O_DIRECT | O_CLOEXEC), fd;
	uint32_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < m->nr; i++) {
		const struct ram_region *r = &m->r[i];
		const uint8_t *hva = vm->mem.regions[i].hva;
		uint64_t n = r->size / PAGE, pg = 0, run;

		while (pg < n) {
			if (!bit(r, pg)) {
				pg++;
				continue;
			}
			for (run = 1; pg + run < n && bit(r, pg + run); run++)
				;
			{
				uint64_t at = off + r->data_off + pg * PAGE;
				size_t todo = run * PAGE;
				const uint8_t *p = hva + pg * PAGE;

				while (todo > 0) {
					ssize_t k;

					fd = dfd >= 0 ? dfd : w->fd;
					k = pwrite(fd, p, todo, (off_t)at);
					if (k < 0 && errno == EINVAL &&
					    dfd >= 0) {
						close(dfd);
						dfd = -1;
						continue;
					}
					if (k <= 0) {
						ret = vm_err_errno(err,
						    k < 0 ? -errno : -EIO,
						    "%s: RAM", w->path);
						break;
					}
					p += k;
					at += (uint64_t)k;
					todo -= (size_t)k;
				}
			}
			if (ret < 0)
				break;
			pg += run;
		}
		*len = r->data_off + r->size;
	}
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* The VM's regions must be the snapshot's, one for one. */
static int
ram_check_layout(struct vm *vm, const struct ram_map *m, struct vm_err *err)
{
	uint32_t i;

	if (m->nr != (uint32_t)vm->mem.nr)
		return vm_err_set(err, -EINVAL, "section 'ram-map': %u memory "
		    "regions, this VM has %d (a different memory size or "
		    "board)", m->nr, vm->mem.nr);
	for (i = 0; i < m->nr; i++)
		if (m->r[i].gpa != vm->mem.regions[i].gpa ||
		    m->r[i].size != vm->mem.regions[i].size)
			return vm_err_set(err, -EINVAL, "section 'ram-map': "
			    "region %u is 0x%llx+0x%llx, this VM's %s is "
			    "0x%llx+0x%llx (a different memory size)", i,
			    (unsigned long long)m->r[i].gpa,
			    (unsigned long long)m->r[i].size,
			    vm->mem.regions[i].name,
			    (unsigned long long)vm->mem.regions[i].gpa,
			    (unsigned long long)vm->mem.regions[i].size);
	return 0;
}

/* The pages a zstd snapshot does not store were zero at the save: make
 * them zero again (a running VM's RAM written since, a new VM's ROM
 * regions holding their initial bytes).  Every region is anonymous
 * memory, so MADV_DONTNEED gives zero pages back without touching them
 * (nothing is allocated in a new VM's untouched RAM). */
static void
ram_zero_unstored(struct vm *vm, const struct ram_map *m)
{
	uint32_t i;

	for (i = 0; i < m->nr; i++) {
		const struct ram_region *r = &m->r[i];
		uint8_t *hva = vm->mem.regions[i].hva;
		uint64_t pg = 0, n = r->size / PAGE, run;

		while (pg < n) {
			if (bit(r, pg)) {
				pg++;
				continue;
			}
			for (run = pg; run < n && !bit(r, run); run++)
				;
			/* a file mapping (a --fast-restore restore) would
			 * give the file's bytes back: those are zeroed */
			if ((vm->mem.regions[i].flags & MEM_FILE) ||
			    madvise(hva + pg * PAGE, (run - pg) * PAGE,
			    MADV_DONTNEED) < 0)
				memset(hva + pg * PAGE, 0, (run - pg) * PAGE);
			pg = run;
		}
	}
}

/* dry: decompress every chunk and check it, store nothing (a load into a
 * running VM checks the RAM before it overwrites any). */
static int
ram_load_zstd(struct vm *vm, struct snap_reader *rd,
    const struct snap_section *s, const struct ram_map *m, bool dry,
    struct vm_err *err)
{
	size_t cap = ZSTD_compressBound(CHUNK_PAGES * PAGE);
	uint8_t *in = malloc(cap), *out = malloc(CHUNK_PAGES * PAGE);
	struct page_iter it = { m, 0, 0 };
	uint64_t left = m->pages, pos = s->off, end = s->off + s->len;
	int ret = 0;

	if (in == NULL || out == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (left > 0) {
		uint64_t n = left < CHUNK_PAGES ? left : CHUNK_PAGES, k;
		uint32_t cl;
		size_t got;

		if (end - pos < 4 || pread(rd->fd, &cl, 4, (off_t)pos) != 4 ||
		    cl > cap || cl > end - pos - 4 ||
		    pread(rd->fd, in, cl, (off_t)pos + 4) != (ssize_t)cl) {
			ret = vm_err_set(err, -EINVAL, "section 'ram': chunk at "
			    "offset %llu is truncated or too big",
			    (unsigned long long)(pos - s->off));
			goto out;
		}
		got = ZSTD_decompress(out, n * PAGE, in, cl);
		if (ZSTD_isError(got) || got != n * PAGE) {
			ret = vm_err_set(err, -EINVAL, "section 'ram': chunk at "
			    "offset %llu does not decompress to its %llu pages",
			    (unsigned long long)(pos - s->off),
			    (unsigned long long)n);
			goto out;
		}
		for (k = 0; k < n && !dry; k++)
			memcpy(next_page(&it, vm), out + k * PAGE, PAGE);
		pos += 4 + cl;
		left -= n;
	}
	if (pos != end)
		ret = vm_err_set(err, -EINVAL, "section 'ram': %llu bytes "
		    "after the last chunk", (unsigned long long)(end - pos));
	if (ret == 0 && !dry)
		ram_zero_unstored(vm, m);
out:
	free(in);
	free(out);
	return ret;
}

static int
ram_load_mapped(struct vm *vm, struct snap_reader *rd,
    const struct snap_section *s, const struct ram_map *m,
    struct vm_err *err)
{
	uint32_t i;

	if (s->off % PAGE)
		return vm_err_set(err, -EINVAL, "section 'ram': not page "
		    "aligned in the file");
	for (i = 0; i < m->nr; i++)
		if (m->r[i].data_off > s->len ||
		    m->r[i].size > s->len - m->r[i].data_off)
			return vm_err_set(err, -EINVAL, "section 'ram': region "
			    "%u lies past the section's end", i);
	for (i = 0; i < m->nr; i++) {
		const struct ram_region *r = &m->r[i];
		void *p;

		p = mmap(vm->mem.regions[i].hva, r->size,
		    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED |
		    MAP_NORESERVE, rd->fd, (off_t)(s->off + r->data_off));
		if (p == MAP_FAILED)
			return vm_err_errno(err, -errno, "%s: cannot map RAM",
			    rd->path);
		vm->mem.regions[i].flags |= MEM_FILE;
	}
	return 0;
}

/* ---- save ----------------------------------------------------------------- */

static int
put_section(struct snap_writer *w, const char *name, uint32_t inst,
    struct snap_vis *v, struct vm_err *err)
{
	int ret = snap_vis_end(v);

	if (ret == 0)
		ret = snap_writer_section(w, name, inst, v, err);
	snap_vis_free(v);
	return ret;
}

/* Channel 0's next IRQ, ns of the VM clock (0: none), from its mode,
 * reload and start, as the i8254 device keeps it. */
static uint64_t
pit_next(const struct pc_pit_ch *c, uint64_t now)
{
	uint64_t period = (uint64_t)c->reload * 1000000000ULL / 1193182ULL;

	if (!c->loaded || period == 0)
		return 0;
	if (c->mode == 2 || c->mode == 3)
		return now < c->start ? c->start + period :
		    c->start + ((now - c->start) / period + 1) * period;
	return c->start + period > now ? c->start + period : 0;
}

/*
 * A back end with its own irqchip (KVM): its PICs, IOAPIC and PIT, and
 * the LAPIC pages in the vCPUs' states, saved as the sections the DBT's
 * devices write ("intc" and "dev:pit"), through the same walks.
 */
static int
put_irqchip(struct vm *vm, struct snap_writer *w, uint64_t now,
    struct vm_err *err)
{
	struct pc_irqchip c;
	struct snap_vis v;
	struct intc *ic;
	uint64_t next;
	int i, ret;

	ret = vm->backend->irqchip_get(vm, &c);
	if (ret < 0)
		return vm_err_set(err, ret, "%s: cannot read the in-kernel "
		    "interrupt controllers: %s", vm->backend->name,
		    strerror(-ret));
	ic = intc_new_staging(vm, vm->ncpus, err);
	if (ic == NULL)
		return -ENOMEM;
	intc_import(ic, &c);
	for (i = 0; i < vm->ncpus; i++) {
		struct x86_state st;

		memset(&st, 0, sizeof(st));
		ret = vm->backend->get_state(vm->vcpus[i], &st);
		if (ret < 0) {
			intc_free(ic);
			return vm_err_set(err, ret, "vCPU %d: cannot read its "
			    "state", i);
		}
		lapic_import(ic, i, st.lapic, st.apic_base, now);
	}
	snap_vis_begin_save(&v, "intc", 1, err);
	v.now = now;
	intc_state(ic, &v);
	ret = put_section(w, "intc", 0, &v, err);
	intc_free(ic);
	if (ret < 0)
		return ret;
	next = pit_next(&c.pit[0], now);
	snap_vis_begin_save(&v, "dev:pit", 1, err);
	v.now = now;
	i8254_state_walk(c.pit, &c.portb, &next, &v);
	return put_section(w, "dev:pit", 0, &v, err);
}

static int
dev_sect_name(const struct dev *d, char *buf, size_t len, struct vm_err *err)
{
	if ((size_t)snprintf(buf, len, "dev:%s", d->id) >= len)
		return vm_err_set(err, -ENAMETOOLONG, "device %s: id too long "
		    "for a snapshot section", d->id);
	return 0;
}

/* The disks snapshots take along: every writable one. */
static int
collect_disks(struct vm *vm, struct blk **out, struct vm_err *err)
{
	struct dev *d;
	int n = 0, k;

	for (d = vm->devs; d; d = d->next) {
		struct blk *b;

		if (d->type->disk == NULL)
			continue;
		for (k = 0; (b = d->type->disk(d, k)) != NULL; k++) {
			if (b->flags & BLK_F_RDONLY)
				continue;
			if (n == MAX_DISKS)
				return vm_err_set(err, -E2BIG, "more than %d "
				    "disks", MAX_DISKS);
			out[n++] = b;
		}
	}
	return n;
}

/* The device holding disk b, and b's number there; NULL if none. */
static struct dev *
disk_dev(struct vm *vm, struct blk *b, int *n)
{
	struct dev *d;
	struct blk *x;
	int k;

	for (d = vm->devs; d; d = d->next)
		for (k = 0; d->type->disk != NULL &&
		    (x = d->type->disk(d, k)) != NULL; k++)
			if (x == b) {
				*n = k;
				return d;
			}
	return NULL;
}

static bool
can_swap(struct vm *vm, struct blk *b)
{
	int k;
	struct dev *d = disk_dev(vm, b, &k);

	return d != NULL && d->type->set_disk != NULL;
}

static void
swap_disk(struct vm *vm, struct blk *old, struct blk *nb)
{
	int k;
	struct dev *d = disk_dev(vm, old, &k);

	if (d != NULL && d->type->set_disk != NULL)
		d->type->set_disk(d, k, nb);
}

/* The running VM's configuration names the overlay where it named file
 * (so that the next snapshot records the overlay). */
static void
set_cfg_disk(struct vm_config *cfg, const char *file, const char *ovl)
{
	int i;

	for (i = 0; i < cfg->ndisks; i++)
		if (strcmp(cfg->disks[i].file, file) == 0) {
			snprintf(cfg->disks[i].file, sizeof(cfg->disks[i].file),
			    "%s", ovl);
			snprintf(cfg->disks[i].format,
			    sizeof(cfg->disks[i].format), "qcow2");
			return;
		}
}

/* The index in cfg of the disk whose file is file (as the VM opened
 * it), or -1. */
static int
cfg_index(const struct vm_config *cfg, const char *file)
{
	int i;

	for (i = 0; i < cfg->ndisks; i++)
		if (strcmp(cfg->disks[i].file, file) == 0)
			return i;
	return -1;
}

/* Section "base" (instance k, the disk's index in the configuration):
 * the record of the overlay's base at path, as it is now. */
static int
put_base(struct snap_writer *w, int k, const char *path, struct vm_err *err)
{
	struct vm_base_rec r;
	struct snap_vis v;
	int ret;

	if (k < 0)
		return vm_err_set(err, -ENOENT, "%s: not in the VM's "
		    "configuration", path);
	ret = vm_base_measure(path, &r, err);
	if (ret < 0)
		return ret;
	snap_vis_begin_save(&v, "base", 1, err);
	vm_base_rec_visit(&v, &r);
	return put_section(w, "base", (uint32_t)k, &v, err);
}

static int abs_disks(const struct vm_config *cfg, struct vm_config *rec,
    struct vm_err *err);
static int yaml_commit(const char *tmp, const char *yaml,
    struct vm_err *err);

int
vm_snapshot_save(struct vm *vm, const char *path,
    const struct vm_snap_opts *opts, struct vm_err *err)
{
	static struct vm_config rec;
	static char ovl[MAX_DISKS][PATH_MAX];
	struct blk *disks[MAX_DISKS], *nb[MAX_DISKS];
	struct snap_writer w;
	struct snap_vis v;
	struct vm_sect vs = { 0 };
	struct ram_map m = { 0 };
	struct dev *d;
	bool external = false;
	char *yaml = NULL, name[SNAP_NAME_MAX + 8], tmp[PATH_MAX + 32] = "";
	size_t ylen = 0;
	uint64_t now = clock_ns(), off, len = 0;
	uint32_t crc = 0;
	FILE *f;
	int i, nd, done = 0, ret;

	/* Everything that could refuse, before a byte is written. */
	if (opts->tag == NULL || opts->tag[0] == '\0' ||
	    strlen(opts->tag) >= VM_SNAP_TAG_MAX)
		return vm_err_set(err, -EINVAL, "snapshot tag: give 1 to %d "
		    "characters", VM_SNAP_TAG_MAX - 1);
	if (vm->backend->has_irqchip && vm->backend->irqchip_get == NULL)
		return vm_err_set(err, -ENOTSUP, "%s: the in-kernel interrupt "
		    "controllers cannot be saved (use --accel dbt)",
		    vm->backend->name);
	if (opts->no_ram && !opts->fast_restore)
		return vm_err_set(err, -EINVAL, "a snapshot without its RAM "
		    "is for mapped RAM (fast_restore)");
	for (d = vm->devs; d; d = d->next) {
		if (d->type->state == NULL)
			return vm_err_set(err, -ENOTSUP, "device %s (%s) cannot "
			    "be saved in a snapshot", d->id, d->type->name);
		ret = dev_sect_name(d, name, SNAP_NAME_MAX + 1, err);
		if (ret < 0)
			return ret;
	}
	nd = collect_disks(vm, disks, err);
	if (nd < 0)
		return nd;
	for (i = 0; i < nd; i++) {
		ovl[i][0] = '\0';
		nb[i] = NULL;
		if (!vm_disk_external(disks[i]))
			continue;
		external = true;
		if (opts->no_ram || vm->cfg->path[0] == '\0' ||
		    !can_swap(vm, disks[i]))
			return vm_err_set(err, -ENOTSUP, "%s: %s images have no "
			    "internal snapshots, and %s (convert it to qcow2: "
			    "vm-disk convert -O qcow2)", disks[i]->path,
			    disks[i]->drv->name, opts->no_ram ? "a live send "
			    "copies the disk itself" : vm->cfg->path[0] == '\0' ?
			    "the VM has no vm.yaml to point at an overlay "
			    "(run it from a bundle)" : "its device cannot move "
			    "to an overlay");
	}
	if (external)
		ret = abs_disks(vm->cfg, &rec, err);
	else
		ret = 0;
	if (ret < 0)
		return ret;

	f = open_memstream(&yaml, &ylen);
	if (f == NULL)
		return vm_err_errno(err, -errno, "config");
	/* with overlays: the disks' files by absolute path, so that the
	 * snapshot names the bases wherever it is read from */
	ret = cfg_emit(external ? &rec : vm->cfg, f, "snapshot config", err);
	fclose(f);
	if (ret < 0) {
		free(yaml);
		return ret;
	}
	ret = snap_writer_open(&w, path, 0, err);
	if (ret < 0) {
		free(yaml);
		return ret;
	}
	pthread_mutex_lock(&vm->io_lock);

	snap_vis_begin_save(&v, "config", 1, err);
	snap_bytes(&v, "yaml", yaml, ylen);
	ret = put_section(&w, "config", 0, &v, err);

	vs.memory = vm->ram_size;
	vs.ncpus = vm->ncpus;
	snprintf(vs.tag, sizeof(vs.tag), "%s", opts->tag);
	snprintf(vs.parent, sizeof(vs.parent), "%s",
	    opts->parent ? opts->parent : "");
	snprintf(vs.backend, sizeof(vs.backend), "%s", vm->backend->name);
	vs.ndisks = (uint32_t)nd;
	vs.ram_mode = opts->fast_restore ? RAM_MAPPED : RAM_ZSTD;
	if (ret == 0) {
		snap_vis_begin_save(&v, "vm", 1, err);
		vm_sect_visit(&v, &vs);
		ret = put_section(&w, "vm", 0, &v, err);
	}
	for (i = 0; ret == 0 && i < vm->ncpus; i++) {
		struct x86_state st;

		memset(&st, 0, sizeof(st));
		ret = vm->backend->get_state(vm->vcpus[i], &st);
		if (ret < 0) {
			vm_err_set(err, ret, "vCPU %d: cannot read its state", i);
			break;
		}
		snap_vis_begin_save(&v, "cpu", X86_STATE_VERSION, err);
		x86_state_visit(&st, &v);
		ret = put_section(&w, "cpu", (uint32_t)i, &v, err);
	}
	if (ret == 0 && vm->intc) {
		snap_vis_begin_save(&v, "intc", 1, err);
		v.now = now;
		intc_state(vm->intc, &v);
		ret = put_section(&w, "intc", 0, &v, err);
	}
	if (ret == 0 && vm->backend->has_irqchip)
		ret = put_irqchip(vm, &w, now, err);
	if (ret == 0 && vm->pci) {
		snap_vis_begin_save(&v, "pci-host", 1, err);
		pci_dev_state(pci_host_bridge(vm->pci), &v);
		ret = put_section(&w, "pci-host", 0, &v, err);
	}
	if (ret == 0 && vm->bios) {
		snap_vis_begin_save(&v, "bios", 1, err);
		bios_state(vm->bios, &v);
		ret = put_section(&w, "bios", 0, &v, err);
	}
	for (d = vm->devs; ret == 0 && d; d = d->next) {
		dev_sect_name(d, name, sizeof(name), err);
		snap_vis_begin_save(&v, name, d->type->state_version, err);
		v.now = now;
		d->type->state(d, &v);
		ret = put_section(&w, name, 0, &v, err);
	}
	if (ret == 0 && !opts->no_ram)
		ret = ram_map_build(vm, &m, err);
	if (ret == 0 && !opts->no_ram) {
		snap_vis_begin_save(&v, "ram-map", 1, err);
		ram_map_visit(&v, &m);
		ret = put_section(&w, "ram-map", 0, &v, err);
	}
	if (ret == 0 && !opts->no_ram)
		ret = snap_writer_begin_raw(&w, "ram", 0, 1,
		    opts->fast_restore ? PAGE : 1, &off, err);
	if (ret == 0 && !opts->no_ram)
		ret = opts->fast_restore ?
		    ram_write_mapped(vm, &w, &m, off, &len, err) :
		    ram_write_zstd(vm, &w, &m, off, &len, &crc, err);
	if (ret == 0 && !opts->no_ram)
		ret = opts->fast_restore ?
		    snap_writer_end_raw_nocrc(&w, len, err) :
		    snap_writer_end_raw(&w, len, crc, err);
	ram_map_free(&m);
	/* The disks last: a failure before leaves them untouched.  A disk
	 * without internal snapshots: flushed, an overlay made on its file
	 * and opened (the base read through a descriptor of its own, after
	 * the flush), put in its place below once all is written. */
	for (i = 0; ret == 0 && i < nd; i++) {
		ret = blk_flush(disks[i]);
		if (ret < 0)
			vm_err_errno(err, ret, "%s: flush", disks[i]->path);
		else if (vm_disk_external(disks[i])) {
			/* what the base is at this point, for the restore */
			ret = put_base(&w, cfg_index(vm->cfg, disks[i]->path),
			    disks[i]->path, err);
			if (ret == 0)
				ret = vm_overlay_create(disks[i], opts->tag,
				    ovl[i], sizeof(ovl[i]), err);
			if (ret == 0) {
				nb[i] = blk_open(ovl[i], "qcow2",
				    BLK_F_BACKING_NOLOCK, err);
				if (nb[i] == NULL) {
					ret = err->code ? err->code : -EIO;
					unlink(ovl[i]);
					ovl[i][0] = '\0';
				}
			}
		} else
			ret = blk_snapshot_create(disks[i], opts->tag, err);
		if (ret == 0)
			done++;
	}
	if (ret == 0 && external) {
		const char *old[MAX_DISKS], *files[MAX_DISKS];
		const char *fmts[MAX_DISKS];

		for (i = 0; i < nd; i++) {
			old[i] = disks[i]->path;
			files[i] = ovl[i][0] ? ovl[i] : NULL;
			fmts[i] = "qcow2";
		}
		ret = vm_yaml_set_disks(vm->cfg->path, old, files, fmts, nd, tmp,
		    sizeof(tmp), err);
	}
	free(yaml);
	if (ret == 0)
		ret = snap_writer_close(&w, err);
	else
		snap_writer_abort(&w);
	if (ret == 0 && external) {
		ret = yaml_commit(tmp, vm->cfg->path, err);
		if (ret < 0)
			unlink(path);
		tmp[0] = '\0';
	}
	/* Committed: the overlays in the disks' places, still paused. */
	for (i = 0; ret == 0 && i < nd; i++) {
		if (nb[i] == NULL)
			continue;
		swap_disk(vm, disks[i], nb[i]);
		/* vm-run's own configuration, which the VM holds const */
		set_cfg_disk((struct vm_config *)(uintptr_t)vm->cfg,
		    disks[i]->path, ovl[i]);
		{
			struct stat st;

			if (stat(disks[i]->path, &st) == 0)
				(void)chmod(disks[i]->path, st.st_mode & 07555);
		}
		blk_close(disks[i]);
		/* the base read-only now, locked so as its own file was */
		if (blk_lock_chain(nb[i], err) < 0)
			log_warnx("%s", err->msg);
		nb[i] = NULL;
	}
	pthread_mutex_unlock(&vm->io_lock);
	if (ret < 0) {
		if (tmp[0] != '\0')
			unlink(tmp);
		for (i = 0; i < done; i++) {
			if (nb[i] != NULL) {
				blk_close(nb[i]);
				unlink(ovl[i]);
			} else if (!vm_disk_external(disks[i]))
				blk_snapshot_delete(disks[i], opts->tag, NULL);
		}
	}
	return ret;
}

int
vm_snapshot_begin_ram(struct snap_writer *w, uint64_t *off,
    struct vm_err *err)
{
	return snap_writer_begin_raw(w, "ram", 0, 1, PAGE, off, err);
}

int
vm_snapshot_end_ram(struct snap_writer *w, uint32_t nr, const uint64_t *gpa,
    const uint64_t *size, const uint8_t *bits, struct vm_err *err)
{
	struct ram_map m = { 0 };
	struct snap_vis v;
	uint64_t off = 0, pg0 = 0, pg;
	uint32_t i;
	int ret;

	if (nr > MEM_MAX_REGIONS)
		return vm_err_set(err, -EINVAL, "too many memory regions");
	for (i = 0; i < nr; i++) {
		struct ram_region *r = &m.r[i];
		uint64_t n = size[i] / PAGE;

		r->gpa = gpa[i];
		r->size = size[i];
		r->data_off = off;
		off += size[i];
		r->bmlen = (uint32_t)((n + 7) / 8);
		r->bitmap = calloc(1, r->bmlen ? r->bmlen : 1);
		m.nr = i + 1;
		if (r->bitmap == NULL) {
			ram_map_free(&m);
			return vm_err_set(err, -ENOMEM, "out of memory");
		}
		for (pg = 0; pg < n; pg++)
			if (bits[(pg0 + pg) / 8] & (1u << ((pg0 + pg) % 8)))
				r->bitmap[pg / 8] |= (uint8_t)(1u << (pg % 8));
		pg0 += n;
	}
	ret = snap_writer_end_raw_nocrc(w, off, err);
	if (ret == 0) {
		snap_vis_begin_save(&v, "ram-map", 1, err);
		ram_map_visit(&v, &m);
		ret = put_section(w, "ram-map", 0, &v, err);
	}
	ram_map_free(&m);
	return ret;
}

void
vm_snapshot_drop_disks(struct vm *vm, const char *tag)
{
	struct blk *disks[MAX_DISKS];
	int i, nd = collect_disks(vm, disks, NULL);

	for (i = 0; i < nd; i++)
		if (disks[i]->drv->snapshot_delete != NULL)
			blk_snapshot_delete(disks[i], tag, NULL);
}

/* ---- load ----------------------------------------------------------------- */

/* Read and visit one section with fn; version above max is refused. */
static int
get_section(struct snap_reader *rd, const char *name, uint32_t inst,
    uint32_t max_version, int (*fn)(struct snap_vis *, void *), void *arg,
    uint64_t now, bool dry, struct vm_err *err)
{
	const struct snap_section *s = snap_reader_find(rd, name, inst);
	struct snap_vis v;
	void *buf;
	int ret;

	if (s == NULL)
		return vm_err_set(err, -EINVAL, "%s: no section '%s' (instance "
		    "%u): the snapshot is of a different VM", rd->path, name,
		    inst);
	if (s->version > max_version)
		return vm_err_set(err, -EINVAL, "%s: section '%s' is version "
		    "%u, newer than this vmkit reads (%u)", rd->path, name,
		    s->version, max_version);
	ret = snap_reader_load(rd, s, &buf, err);
	if (ret < 0)
		return ret;
	snap_vis_begin_load(&v, name, s->version, buf, s->len, err);
	v.now = now;
	v.dry = dry;
	fn(&v, arg);
	ret = snap_vis_end(&v);
	free(buf);
	return ret;
}

static int
visit_vm(struct snap_vis *v, void *a)
{
	return vm_sect_visit(v, a);
}

static int
visit_cpu(struct snap_vis *v, void *a)
{
	return x86_state_visit(a, v);
}

static int
visit_intc(struct snap_vis *v, void *a)
{
	return intc_state(a, v);
}

static int
visit_pci(struct snap_vis *v, void *a)
{
	return pci_dev_state(a, v);
}

static int
visit_bios(struct snap_vis *v, void *a)
{
	return bios_state(a, v);
}

static int
visit_intc_dry(struct snap_vis *v, void *a)
{
	return intc_state_dry(a, v);
}

struct pit_sect {
	struct pc_irqchip *c;
	uint64_t next;
};

static int
visit_pit(struct snap_vis *v, void *a)
{
	struct pit_sect *p = a;

	return i8254_state_walk(p->c->pit, &p->c->portb, &p->next, v);
}

/*
 * A back end with its own irqchip: the "intc" and "dev:pit" sections
 * (whichever back end wrote them) loaded into a staging copy and checked,
 * the canonical form for irqchip_set in *c, each vCPU's LAPIC page (with
 * its timer's current count) into its state for set_state.
 */
static int
get_irqchip(struct vm *vm, struct snap_reader *rd, struct x86_state *st,
    struct pc_irqchip *c, struct intc **icp, uint64_t now,
    struct vm_err *err)
{
	struct pit_sect p = { c, 0 };
	struct intc *ic;
	int i, ret;

	memset(c, 0, sizeof(*c));
	ic = intc_new_staging(vm, vm->ncpus, err);
	if (ic == NULL)
		return -ENOMEM;
	*icp = ic;
	ret = get_section(rd, "intc", 0, 1, visit_intc, ic, now, false, err);
	if (ret == 0)
		ret = get_section(rd, "dev:pit", 0, 1, visit_pit, &p, now,
		    false, err);
	if (ret < 0)
		return ret;
	intc_export(ic, c);
	for (i = 0; i < vm->ncpus; i++) {
		lapic_export_page(ic, i, st[i].lapic);
		st[i].apic_base = lapic_get_base(ic, i);
	}
	return 0;
}

static int
visit_dev(struct snap_vis *v, void *a)
{
	struct dev *d = a;

	return d->type->state(d, v);
}

static int
visit_ram_map(struct snap_vis *v, void *a)
{
	return ram_map_visit(v, a);
}

static bool
known_section(struct vm *vm, const struct snap_section *s)
{
	static const char *const fixed[] = {
		"config", "vm", "cpu", "intc", "pci-host", "bios", "ram-map",
		"ram", "base", "end",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (strcmp(s->name, fixed[i]) == 0)
			return true;
	(void)vm;
	return false;
}

/*
 * One read of the file for a restore: vm_snapshot_config keeps the reader
 * it opened (and validated: header, every section's CRC), and the load
 * that follows takes it over if the path names the same file unchanged
 * (device, inode, size, modification time), instead of reading it again.
 */
static struct {
	bool valid;
	char path[4096];
	struct snap_reader rd;
	struct stat st;
} kept;

static void
kept_drop(void)
{
	if (kept.valid)
		snap_reader_close(&kept.rd);
	kept.valid = false;
}

static void
kept_put(struct snap_reader *rd, const char *path)
{
	kept_drop();
	if (strlen(path) >= sizeof(kept.path) || fstat(rd->fd, &kept.st) < 0) {
		snap_reader_close(rd);
		return;
	}
	snprintf(kept.path, sizeof(kept.path), "%s", path);
	kept.rd = *rd;
	kept.valid = true;
}

static int
reader_get(struct snap_reader *rd, const char *path, struct vm_err *err)
{
	struct stat st;

	if (kept.valid && strcmp(kept.path, path) == 0 &&
	    stat(path, &st) == 0 && st.st_dev == kept.st.st_dev &&
	    st.st_ino == kept.st.st_ino && st.st_size == kept.st.st_size &&
	    st.st_mtim.tv_sec == kept.st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == kept.st.st_mtim.tv_nsec) {
		*rd = kept.rd;
		rd->path = path;
		kept.valid = false;
		return 0;
	}
	kept_drop();
	return snap_reader_open(rd, path, err);
}

int
vm_snapshot_read_config(struct snap_reader *rd, struct vm_config *cfg,
    struct vm_err *err)
{
	const struct snap_section *s = snap_reader_find(rd, "config", 0);
	void *buf;
	int ret;

	if (s == NULL)
		return vm_err_set(err, -EINVAL, "%s: the snapshot holds no "
		    "configuration", rd->path);
	ret = snap_reader_load(rd, s, &buf, err);
	if (ret < 0)
		return ret;
	cfg_defaults(cfg);
	ret = cfg_parse(cfg, buf, s->len, rd->path, ".", err);
	free(buf);
	return ret;
}

static int
visit_base(struct snap_vis *v, void *a)
{
	return vm_base_rec_visit(v, a);
}

/* Whether the snapshot rd reads recorded disk k (its index in the
 * configuration) as an overlay's base: *has, and the base (scfg's file)
 * checked against the record. */
static int
check_base(struct snap_reader *rd, const struct vm_config *scfg, int k,
    bool *has, struct vm_err *err)
{
	struct vm_base_rec r = { 0 };
	int ret;

	*has = k >= 0 && snap_reader_find(rd, "base", (uint32_t)k) != NULL;
	if (!*has)
		return 0;
	if (k >= scfg->ndisks)
		return vm_err_set(err, -EINVAL, "%s: section 'base' (instance "
		    "%d): the snapshot's configuration has %d disks", rd->path,
		    k, scfg->ndisks);
	ret = get_section(rd, "base", (uint32_t)k, 1, visit_base, &r, 0,
	    false, err);
	if (ret == 0)
		ret = vm_base_check(scfg->disks[k].file, &r, err);
	return ret;
}

/* The bundle's snapshot folder beside vm.yaml yaml, into out. */
static void
snap_dir_of(const char *yaml, char *out, size_t len)
{
	const char *sl = strrchr(yaml, '/');

	if (sl == NULL)
		snprintf(out, len, "snapshots");
	else
		snprintf(out, len, "%.*s/snapshots", (int)(sl - yaml), yaml);
}

static int
snapshot_load(struct vm *vm, const char *path, bool live, bool *damaged,
    struct vm_err *err)
{
	/* a disk whose snapshot is an overlay's base: based; a running
	 * VM's (live) gets a new overlay nb on the base, made here and put
	 * in its place when the load commits */
	static struct vm_config scfg;
	static char ovl[MAX_DISKS][PATH_MAX], oldp[MAX_DISKS][PATH_MAX];
	struct blk *nb[MAX_DISKS] = { 0 };
	bool based[MAX_DISKS] = { 0 };
	char tmp[PATH_MAX + 32] = "";
	struct x86_state *st = NULL;
	struct pci_dev *host = NULL;
	struct dev_staged { struct dev d; } *stg = NULL;
	struct pc_irqchip chip;
	struct intc *kic = NULL;        /* has_irqchip: staging */
	int ndev = 0, di;
	struct snap_reader rd;
	struct blk *disks[MAX_DISKS];
	struct vm_sect vs = { 0 };
	struct ram_map m = { 0 };
	struct dev *d;
	char name[SNAP_NAME_MAX + 8];
	uint64_t now = clock_ns();
	const struct snap_section *s;
	int i, nd, ret;

	ret = reader_get(&rd, path, err);
	if (ret < 0)
		return ret;
	ret = get_section(&rd, "vm", 0, 1, visit_vm, &vs, now, false, err);
	if (ret < 0)
		goto out;
	if (vs.ram_mode == RAM_NONE) {
		ret = vm_err_set(err, -EINVAL, "%s: " VM_SNAP_NO_STATE, path);
		goto out;
	}
	if (vs.memory != vm->ram_size || vs.ncpus != vm->ncpus) {
		ret = vm_err_set(err, -EINVAL, "%s: section 'vm': the snapshot "
		    "is of a VM with %llu MiB and %d vCPUs, this one has %llu "
		    "MiB and %d",
		    path, (unsigned long long)(vs.memory >> 20), vs.ncpus,
		    (unsigned long long)(vm->ram_size >> 20), vm->ncpus);
		goto out;
	}
	if (vm->backend->has_irqchip && vm->backend->irqchip_set == NULL) {
		ret = vm_err_set(err, -ENOTSUP, "%s: the in-kernel interrupt "
		    "controllers cannot be restored (use --accel dbt)",
		    vm->backend->name);
		goto out;
	}
	/* Devices: the same set, each with a walk. */
	for (d = vm->devs; d; d = d->next) {
		if (d->type->state == NULL) {
			ret = vm_err_set(err, -ENOTSUP, "device %s (%s) cannot "
			    "be restored from a snapshot", d->id,
			    d->type->name);
			goto out;
		}
		ret = dev_sect_name(d, name, SNAP_NAME_MAX + 1, err);
		if (ret < 0)
			goto out;
		if (snap_reader_find(&rd, name, 0) == NULL) {
			ret = vm_err_set(err, -EINVAL, "%s: the snapshot has no "
			    "device %s (%s): it is of a VM with other devices",
			    path, d->id, d->type->name);
			goto out;
		}
	}
	for (i = 0; i < rd.nsect; i++) {
		s = &rd.sect[i];
		if (strcmp(s->name, "dev:pit") == 0 &&
		    vm->backend->has_irqchip)
			continue;       /* the in-kernel PIT's */
		if (strncmp(s->name, "dev:", 4) == 0) {
			for (d = vm->devs; d; d = d->next)
				if (strcmp(d->id, s->name + 4) == 0)
					break;
			if (d == NULL) {
				ret = vm_err_set(err, -EINVAL, "%s: the snapshot "
				    "has device %s, this VM has none: it is of "
				    "a VM with other devices", path,
				    s->name + 4);
				goto out;
			}
		} else if (!known_section(vm, s))
			log_warnx("%s: skipping section '%s' (not known to "
			    "this vmkit)", path, s->name);
	}
	nd = collect_disks(vm, disks, err);
	if (nd < 0) {
		ret = nd;
		goto out;
	}
	if ((uint32_t)nd != vs.ndisks) {
		ret = vm_err_set(err, -EINVAL, "%s: the snapshot took %u disks "
		    "along, this VM has %d writable ones", path, vs.ndisks, nd);
		goto out;
	}
	/* the configuration names the bases (a snapshot with none need
	 * not hold one) */
	cfg_defaults(&scfg);
	for (i = 0; ret == 0 && i < rd.nsect; i++)
		if (strcmp(rd.sect[i].name, "base") == 0) {
			ret = vm_snapshot_read_config(&rd, &scfg, err);
			break;
		}
	if (ret < 0)
		goto out;
	for (i = 0; i < nd; i++) {
		const struct blk_snapshot *list;
		int k, n = blk_snapshots(disks[i], &list);
		int ci = cfg_index(vm->cfg, disks[i]->path);

		ovl[i][0] = '\0';
		ret = check_base(&rd, &scfg, ci, &based[i], err);
		if (ret < 0)
			goto out;
		if (based[i] && live) {
			/* a new overlay on the base, opened (the base read
			 * shared, as the VM's overlay on it reads it) */
			const struct cfg_disk *sd = &scfg.disks[ci];
			struct blk *bb = blk_open(sd->file, sd->format[0] ?
			    sd->format : NULL, BLK_F_RDONLY, err);

			if (bb == NULL) {
				ret = err->code ? err->code : -EIO;
				goto out;
			}
			ret = vm_overlay_create(bb, vs.tag, ovl[i],
			    sizeof(ovl[i]), err);
			blk_close(bb);
			if (ret == 0 && (nb[i] = blk_open(ovl[i], "qcow2", 0,
			    err)) == NULL)
				ret = err->code ? err->code : -EIO;
			if (ret < 0)
				goto out;
			snprintf(oldp[i], sizeof(oldp[i]), "%s",
			    disks[i]->path);
			continue;
		}
		if (based[i]) {
			/* vm-run --restore made it (vm_restore_disks_prepare) */
			if (disks[i]->backing == NULL || !vm_same_file(
			    disks[i]->backing->path, scfg.disks[ci].file)) {
				ret = vm_err_set(err, -EINVAL, "%s: not an "
				    "overlay on the snapshot's base %s",
				    disks[i]->path, scfg.disks[ci].file);
				goto out;
			}
			continue;
		}
		if (vm_disk_external(disks[i])) {
			ret = vm_err_set(err, -ENOTSUP, "%s: the snapshot "
			    "holds no record of this disk as an overlay's base "
			    "(saved by an older vmkit): it is not restored "
			    "onto it (stop the VM; vm-snap revert VM TAG puts "
			    "its disks back at the snapshot)", disks[i]->path);
			goto out;
		}

		for (k = 0; k < n; k++)
			if (strcmp(list[k].name, vs.tag) == 0)
				break;
		if (k >= n) {
			ret = vm_err_set(err, -ENOENT, "%s: no internal snapshot "
			    "'%s' (the disk has changed since the save)",
			    disks[i]->path, vs.tag);
			goto out;
		}
	}

	if (live && vm->cfg->path[0] != '\0') {
		const char *old[MAX_DISKS], *files[MAX_DISKS];
		const char *fmts[MAX_DISKS];
		bool any = false;

		for (i = 0; i < nd; i++) {
			old[i] = disks[i]->path;
			files[i] = nb[i] != NULL ? ovl[i] : NULL;
			fmts[i] = "qcow2";
			any |= nb[i] != NULL;
		}
		if (any)
			ret = vm_yaml_set_disks(vm->cfg->path, old, files, fmts,
			    nd, tmp, sizeof(tmp), err);
		if (ret < 0)
			goto out;
	}
	/* Everything else decoded and checked before anything changes:
	 * the RAM (a running VM's: every chunk decompressed), each vCPU into
	 * staging, the interrupt controllers, the host bridge and each
	 * device through a dry walk on a copy of its state, then the
	 * device's own check of that copy. */
	ret = get_section(&rd, "ram-map", 0, 1, visit_ram_map, &m, now, false,
	    err);
	if (ret == 0)
		ret = ram_check_layout(vm, &m, err);
	s = snap_reader_find(&rd, "ram", 0);
	if (ret == 0 && s == NULL)
		ret = vm_err_set(err, -EINVAL, "%s: no section 'ram'", path);
	if (ret == 0 && s->version > 1)
		ret = vm_err_set(err, -EINVAL, "%s: section 'ram' is version "
		    "%u, newer than this vmkit reads (1)", path, s->version);
	if (ret == 0 && live && vs.ram_mode != RAM_MAPPED)
		ret = ram_load_zstd(vm, &rd, s, &m, true, err);
	if (ret < 0)
		goto out;
	st = calloc((size_t)vm->ncpus, sizeof(*st));
	for (d = vm->devs; d; d = d->next)
		ndev++;
	stg = calloc((size_t)ndev + 1, sizeof(*stg));
	if (st == NULL || stg == NULL) {
		ret = vm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; ret == 0 && i < vm->ncpus; i++)
		ret = get_section(&rd, "cpu", (uint32_t)i, X86_STATE_VERSION,
		    visit_cpu, &st[i], now, false, err);
	if (ret == 0 && vm->intc)
		ret = get_section(&rd, "intc", 0, 1, visit_intc_dry, vm->intc,
		    now, true, err);
	if (ret == 0 && vm->backend->has_irqchip)
		ret = get_irqchip(vm, &rd, st, &chip, &kic, now, err);
	if (ret == 0 && vm->pci) {
		host = malloc(sizeof(*host));
		if (host == NULL)
			ret = vm_err_set(err, -ENOMEM, "out of memory");
		else {
			memcpy(host, pci_host_bridge(vm->pci), sizeof(*host));
			ret = get_section(&rd, "pci-host", 0, 1, visit_pci,
			    host, now, true, err);
		}
	}
	if (ret == 0 && vm->bios)
		ret = get_section(&rd, "bios", 0, 1, visit_bios, vm->bios, now,
		    true, err);
	for (d = vm->devs, di = 0; ret == 0 && d; d = d->next, di++) {
		struct dev *sd = &stg[di].d;

		*sd = *d;
		sd->priv = malloc(d->type->priv_size ? d->type->priv_size : 1);
		if (sd->priv == NULL) {
			ret = vm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		memcpy(sd->priv, d->priv, d->type->priv_size);
		dev_sect_name(d, name, sizeof(name), err);
		ret = get_section(&rd, name, 0, d->type->state_version,
		    visit_dev, sd, now, true, err);
		if (ret == 0 && d->type->load_check)
			ret = d->type->load_check(sd, err);
	}
	if (ret < 0)
		goto out;

	/* Commit: nothing below refuses the file (it was all checked);
	 * only the host can fail now (I/O, memory).  The disks first. */
	if (damaged != NULL)
		*damaged = true;
	pthread_mutex_lock(&vm->io_lock);
	for (i = 0; ret == 0 && i < nd; i++) {
		if (nb[i] != NULL) {
			/* the device on its new overlay: the old one flushed
			 * (the guest's writes since the save stay in it) */
			ret = blk_flush(disks[i]);
			if (ret < 0) {
				vm_err_errno(err, ret, "%s: flush",
				    disks[i]->path);
				break;
			}
			swap_disk(vm, disks[i], nb[i]);
			set_cfg_disk((struct vm_config *)(uintptr_t)vm->cfg,
			    disks[i]->path, ovl[i]);
			blk_close(disks[i]);
			disks[i] = nb[i];
			nb[i] = NULL;
			ovl[i][0] = '\0';      /* in use: kept */
		} else if (!based[i])
			ret = blk_snapshot_apply(disks[i], vs.tag, err);
	}
	if (ret == 0 && tmp[0] != '\0') {
		ret = yaml_commit(tmp, vm->cfg->path, err);
		tmp[0] = '\0';
	}
	if (ret == 0)
		ret = vs.ram_mode == RAM_MAPPED ?
		    ram_load_mapped(vm, &rd, s, &m, err) :
		    ram_load_zstd(vm, &rd, s, &m, false, err);
	if (ret == 0)
		for (i = 0; i < vm->mem.nr; i++)
			mem_notify_write(&vm->mem, vm->mem.regions[i].gpa,
			    vm->mem.regions[i].size);
	if (ret == 0 && kic != NULL) {
		ret = vm->backend->irqchip_set(vm, &chip);
		if (ret < 0)
			vm_err_set(err, ret, "%s: the in-kernel interrupt "
			    "controllers refused the state: %s",
			    vm->backend->name, strerror(-ret));
	}
	for (i = 0; ret == 0 && i < vm->ncpus; i++)
		if (vm->backend->set_state(vm->vcpus[i], &st[i]) < 0)
			ret = vm_err_set(err, -EINVAL, "section 'cpu' "
			    "(instance %d): the back end refused the state", i);
	if (ret == 0 && vm->intc) {
		ret = get_section(&rd, "intc", 0, 1, visit_intc, vm->intc, now,
		    false, err);
		if (ret == 0)
			intc_post_load(vm->intc);
	}
	/* The shadow's modes before the host bridge's PAM is applied, so
	 * that the PAM finds them as they were (no bytes swapped); its ROM
	 * from the image's region, the snapshot's bytes. */
	if (ret == 0 && vm->bios) {
		ret = get_section(&rd, "bios", 0, 1, visit_bios, vm->bios, now,
		    false, err);
		bios_post_load(vm);
	}
	if (ret == 0 && vm->pci) {
		ret = get_section(&rd, "pci-host", 0, 1, visit_pci,
		    pci_host_bridge(vm->pci), now, false, err);
		if (ret == 0)
			pci_dev_post_load(pci_host_bridge(vm->pci));
	}
	for (d = vm->devs; ret == 0 && d; d = d->next) {
		dev_sect_name(d, name, sizeof(name), err);
		ret = get_section(&rd, name, 0, d->type->state_version,
		    visit_dev, d, now, false, err);
	}
	for (d = vm->devs; ret == 0 && d; d = d->next)
		if (d->type->post_load)
			ret = d->type->post_load(d, err);
	pthread_mutex_unlock(&vm->io_lock);
	if (ret == 0 && damaged != NULL)
		*damaged = false;
	/* the overlays left no one needs any more */
	for (i = 0; ret == 0 && live && i < nd; i++)
		if (oldp[i][0] != '\0' && based[i]) {
			char sd[PATH_MAX + 16];
			int ci = cfg_index(vm->cfg, disks[i]->path);

			snap_dir_of(vm->cfg->path, sd, sizeof(sd));
			if (ci >= 0 && vm->cfg->path[0] != '\0')
				(void)vm_overlay_drop(oldp[i],
				    scfg.disks[ci].file, sd);
			oldp[i][0] = '\0';
		}
out:
	for (i = 0; i < MAX_DISKS; i++) {
		if (nb[i] != NULL)
			blk_close(nb[i]);
		if (nb[i] != NULL || (ret < 0 && ovl[i][0] != '\0'))
			unlink(ovl[i]);
		ovl[i][0] = oldp[i][0] = '\0';
	}
	if (tmp[0] != '\0')
		unlink(tmp);
	ram_map_free(&m);
	if (stg != NULL)
		for (di = 0; di < ndev; di++)
			free(stg[di].d.priv);
	free(stg);
	free(host);
	free(st);
	intc_free(kic);
	snap_reader_close(&rd);
	return ret;
}

int
vm_snapshot_load(struct vm *vm, const char *path, struct vm_err *err)
{
	return snapshot_load(vm, path, false, NULL, err);
}

int
vm_snapshot_load_live(struct vm *vm, const char *path, bool *damaged,
    struct vm_err *err)
{
	*damaged = false;
	return snapshot_load(vm, path, true, damaged, err);
}

/* ---- offline -------------------------------------------------------------- */

int
vm_snapshot_fw_len(const char *path, uint64_t *len, struct vm_err *err)
{
	struct snap_reader rd;
	struct ram_map m = { 0 };
	uint32_t i;
	int ret;

	*len = 0;
	ret = reader_get(&rd, path, err);
	if (ret < 0)
		return ret;
	ret = get_section(&rd, "ram-map", 0, 1, visit_ram_map, &m, 0, false,
	    err);
	for (i = 0; ret == 0 && i < m.nr; i++)
		if (m.r[i].gpa < PC_HIGHRAM && m.r[i].size ==
		    PC_HIGHRAM - m.r[i].gpa)
			*len = m.r[i].size;
	ram_map_free(&m);
	if (ret < 0)
		snap_reader_close(&rd);
	else
		kept_put(&rd, path);    /* for the load that follows */
	return ret;
}

int
vm_snapshot_config(const char *path, struct vm_config *cfg,
    struct vm_err *err)
{
	struct snap_reader rd;
	int ret;

	ret = snap_reader_open(&rd, path, err);
	if (ret < 0)
		return ret;
	ret = vm_snapshot_read_config(&rd, cfg, err);
	if (ret < 0)
		snap_reader_close(&rd);
	else
		kept_put(&rd, path);    /* for the load that follows */
	return ret;
}

int
vm_snapshot_info(const char *path, struct vm_snap_info *info,
    struct vm_err *err)
{
	struct snap_reader rd;
	struct vm_sect vs = { 0 };
	struct ram_map m = { 0 };
	int ret;

	memset(info, 0, sizeof(*info));
	ret = snap_reader_open(&rd, path, err);
	if (ret < 0)
		return ret;
	ret = get_section(&rd, "vm", 0, 1, visit_vm, &vs, 0, false, err);
	if (ret == 0 && vs.ram_mode != RAM_NONE)
		ret = get_section(&rd, "ram-map", 0, 1, visit_ram_map, &m, 0,
		    false, err);
	if (ret == 0 && vs.ram_mode != RAM_NONE) {
		/* the guest's clock: its TSC, as the vCPU state holds it */
		struct x86_state *st = calloc(1, sizeof(*st));

		ret = st == NULL ? vm_err_set(err, -ENOMEM, "out of memory") :
		    get_section(&rd, "cpu", 0, X86_STATE_VERSION, visit_cpu, st,
		    0, false, err);
		if (ret == 0)
			info->guest_tsc = st->tsc;
		free(st);
	}
	if (ret == 0) {
		info->ram = vs.ram_mode != RAM_NONE;
		snprintf(info->tag, sizeof(info->tag), "%s", vs.tag);
		snprintf(info->parent, sizeof(info->parent), "%s", vs.parent);
		snprintf(info->backend, sizeof(info->backend), "%s",
		    vs.backend);
		snprintf(info->vmkit_version, sizeof(info->vmkit_version), "%s",
		    rd.hdr.vmkit_version);
		info->time = rd.hdr.time;
		info->size = rd.size;
		info->memory = vs.memory;
		info->ncpus = vs.ncpus;
		info->ndisks = (int)vs.ndisks;
		info->fast_restore = vs.ram_mode == RAM_MAPPED;
		info->ram_pages = m.pages;
	}
	ram_map_free(&m);
	snap_reader_close(&rd);
	return ret;
}

/* ---- a stopped VM --------------------------------------------------------- */

/* Open cfg's writable disks (locked: a running VM holding one refuses). */
static int
open_cfg_disks(const struct vm_config *cfg, struct blk **out,
    struct vm_err *err)
{
	int i, n = 0;

	for (i = 0; i < cfg->ndisks; i++) {
		if (cfg->disks[i].readonly)
			continue;
		if (n == MAX_DISKS) {
			vm_err_set(err, -E2BIG, "more than %d disks", MAX_DISKS);
			break;
		}
		out[n] = blk_open(cfg->disks[i].file, cfg->disks[i].format[0] ?
		    cfg->disks[i].format : NULL, 0, err);
		if (out[n] == NULL)
			break;
		n++;
	}
	if (i < cfg->ndisks) {
		while (n > 0)
			blk_close(out[--n]);
		return err->code ? err->code : -EIO;
	}
	return n;
}

static bool
has_snapshot(struct blk *b, const char *tag)
{
	const struct blk_snapshot *list;
	int k, n = blk_snapshots(b, &list);

	for (k = 0; k < n; k++)
		if (strcmp(list[k].name, tag) == 0)
			return true;
	return false;
}

/* For the snapshot's configuration: cfg with its disks' files absolute,
 * so that the snapshot names them wherever it is read from. */
static int
abs_disks(const struct vm_config *cfg, struct vm_config *rec,
    struct vm_err *err)
{
	char rp[PATH_MAX];
	int i;

	*rec = *cfg;
	for (i = 0; i < rec->ndisks; i++) {
		if (realpath(cfg->disks[i].file, rp) == NULL)
			return vm_err_errno(err, -errno, "%s",
			    cfg->disks[i].file);
		if (strlen(rp) >= sizeof(rec->disks[i].file))
			return vm_err_set(err, -ENAMETOOLONG, "%s: path too "
			    "long", rp);
		snprintf(rec->disks[i].file, sizeof(rec->disks[i].file), "%s",
		    rp);
	}
	return 0;
}

/* Commit a new vm.yaml (tmp, made by vm_yaml_set_disks) over yaml. */
static int
yaml_commit(const char *tmp, const char *yaml, struct vm_err *err)
{
	if (rename(tmp, yaml) < 0) {
		int e = errno;

		unlink(tmp);
		return vm_err_errno(err, -e, "%s: cannot replace it", yaml);
	}
	return 0;
}

int
vm_snapshot_save_disks(const struct vm_config *cfg, const char *yaml,
    const char *path, const char *tag, struct vm_err *err)
{
	static struct vm_config rec;
	static char ovl[MAX_DISKS][PATH_MAX];
	const char *files[MAX_DISKS] = { 0 }, *fmts[MAX_DISKS] = { 0 };
	struct blk *disks[MAX_DISKS];
	struct snap_writer w;
	struct snap_vis v;
	struct vm_sect vs = { 0 };
	char *yaml_text = NULL, tmp[PATH_MAX + 32] = "";
	size_t ylen = 0;
	bool external = false, opened = false;
	FILE *f;
	int i, k, nd, done = 0, ret;

	if (tag == NULL || tag[0] == '\0' || strlen(tag) >= VM_SNAP_TAG_MAX)
		return vm_err_set(err, -EINVAL, "snapshot tag: give 1 to %d "
		    "characters", VM_SNAP_TAG_MAX - 1);
	nd = open_cfg_disks(cfg, disks, err);
	if (nd < 0)
		return nd;
	ret = 0;
	if (nd == 0)
		ret = vm_err_set(err, -EINVAL, "no writable disk: a stopped "
		    "VM's snapshot is of its disks only");
	for (i = 0; ret == 0 && i < nd; i++) {
		ovl[i][0] = '\0';
		if (vm_disk_external(disks[i])) {
			external = true;
			if (yaml == NULL)
				ret = vm_err_set(err, -ENOTSUP, "%s: %s images "
				    "have no internal snapshots, and a VM "
				    "without a bundle has no vm.yaml to point "
				    "at an overlay (convert it to qcow2: "
				    "vm-disk convert -O qcow2)", disks[i]->path,
				    disks[i]->drv->name);
		} else if (has_snapshot(disks[i], tag))
			ret = vm_err_set(err, -EEXIST, "%s: it has an internal "
			    "snapshot '%s' already", disks[i]->path, tag);
	}
	if (ret == 0)
		ret = abs_disks(cfg, &rec, err);
	if (ret == 0) {
		f = open_memstream(&yaml_text, &ylen);
		if (f == NULL)
			ret = vm_err_errno(err, -errno, "config");
		else {
			ret = cfg_emit(&rec, f, "snapshot config", err);
			fclose(f);
		}
	}
	if (ret == 0)
		ret = snap_writer_open(&w, path, 0, err);
	if (ret < 0)
		goto out;
	opened = true;
	snap_vis_begin_save(&v, "config", 1, err);
	snap_bytes(&v, "yaml", yaml_text, ylen);
	ret = put_section(&w, "config", 0, &v, err);
	vs.memory = cfg->memory;
	vs.ncpus = cfg->cpus;
	snprintf(vs.tag, sizeof(vs.tag), "%s", tag);
	vs.ndisks = (uint32_t)nd;
	vs.ram_mode = RAM_NONE;
	if (ret == 0) {
		snap_vis_begin_save(&v, "vm", 1, err);
		vm_sect_visit(&v, &vs);
		ret = put_section(&w, "vm", 0, &v, err);
	}
	for (i = 0; ret == 0 && i < nd; i++)
		if (vm_disk_external(disks[i]))
			ret = put_base(&w, cfg_index(cfg, disks[i]->path),
			    disks[i]->path, err);
	/* The disks last; a failure takes back the ones made.  An overlay
	 * is a new file: the base is not written. */
	for (done = 0; ret == 0 && done < nd; done++) {
		if (vm_disk_external(disks[done])) {
			ret = vm_overlay_create(disks[done], tag, ovl[done],
			    sizeof(ovl[done]), err);
			files[done] = ovl[done];
			fmts[done] = "qcow2";
		} else
			ret = blk_snapshot_create(disks[done], tag, err);
		if (ret < 0)
			break;
	}
	if (ret == 0 && external) {
		const char *old[MAX_DISKS];

		for (k = 0; k < nd; k++)
			old[k] = disks[k]->path;
		ret = vm_yaml_set_disks(yaml, old, files, fmts, nd, tmp,
		    sizeof(tmp), err);
	}
	if (ret == 0)
		ret = snap_writer_close(&w, err);
	else
		snap_writer_abort(&w);
	opened = false;
	if (ret == 0 && external) {
		ret = yaml_commit(tmp, yaml, err);
		if (ret < 0)
			unlink(path);
	}
	if (ret < 0) {
		if (tmp[0] != '\0')
			unlink(tmp);
		for (k = 0; k < done; k++) {
			if (ovl[k][0] != '\0')
				unlink(ovl[k]);
			else if (!vm_disk_external(disks[k]))
				blk_snapshot_delete(disks[k], tag, NULL);
		}
	}
	/* the base is read from only now: written, it would change what
	 * its overlays read */
	for (i = 0; ret == 0 && i < nd; i++) {
		struct stat st;

		if (ovl[i][0] != '\0' && stat(disks[i]->path, &st) == 0)
			(void)chmod(disks[i]->path, st.st_mode & 07555);
	}
out:
	if (opened)
		snap_writer_abort(&w);
	free(yaml_text);
	for (i = 0; i < nd; i++)
		blk_close(disks[i]);
	return ret;
}

/* The file the current vm.yaml gives writable disk j (resolved), or NULL. */
static const char *
cfg_disk_file(const struct vm_config *c, int j)
{
	int i, n = 0;

	for (i = 0; i < c->ndisks; i++)
		if (!c->disks[i].readonly && n++ == j)
			return c->disks[i].file;
	return NULL;
}

int
vm_snapshot_revert_disks(const char *snap, const struct vm_config *scfg,
    const char *tag, const char *yaml, char *made, size_t len,
    struct vm_err *err)
{
	static struct vm_config cur;
	static char ovl[MAX_DISKS][PATH_MAX], oldp[MAX_DISKS][PATH_MAX];
	struct snap_reader r;
	const char *files[MAX_DISKS] = { 0 }, *fmts[MAX_DISKS] = { 0 };
	struct blk *b[MAX_DISKS];
	char tmp[PATH_MAX + 32] = "";
	bool rewrite = false;
	size_t ml = 0;
	int i, n = 0, ret = 0;

	if (len > 0)
		made[0] = '\0';
	if (yaml != NULL) {
		cfg_defaults(&cur);
		ret = cfg_load(&cur, yaml, err);
		if (ret < 0)
			return ret;
	}
	ret = snap_reader_open(&r, snap, err);
	if (ret < 0)
		return ret;
	/* Open each disk the snapshot names: a base read-only (its overlay
	 * is made beside it), a qcow2 one to write, holding the tag. */
	for (i = 0; ret == 0 && i < scfg->ndisks; i++) {
		const struct cfg_disk *d = &scfg->disks[i];
		const char *fmt = d->format[0] ? d->format : NULL;

		if (d->readonly)
			continue;
		if (n == MAX_DISKS) {
			ret = vm_err_set(err, -E2BIG, "more than %d disks",
			    MAX_DISKS);
			break;
		}
		ovl[n][0] = oldp[n][0] = '\0';
		b[n] = blk_open(d->file, fmt, BLK_F_RDONLY, err);
		if (b[n] != NULL && !vm_disk_external(b[n])) {
			blk_close(b[n]);
			b[n] = blk_open(d->file, fmt, 0, err);
		}
		if (b[n] == NULL) {
			ret = err->code ? err->code : -EIO;
			break;
		}
		n++;
		if (vm_disk_external(b[n - 1])) {
			bool has;

			/* the base as it was at the save */
			ret = check_base(&r, scfg, i, &has, err);
			if (ret < 0)
				break;
			if (yaml == NULL)
				ret = vm_err_set(err, -ENOTSUP, "%s: the base of "
				    "an overlay, and the VM has no bundle "
				    "(vm.yaml) to point at a new one",
				    d->file);
			rewrite = true;
		} else if (!has_snapshot(b[n - 1], tag))
			ret = vm_err_set(err, -ENOENT, "%s: no internal "
			    "snapshot '%s' (nothing reverted)", d->file, tag);
		else if (yaml != NULL && !vm_same_file(d->file,
		    cfg_disk_file(&cur, n - 1))) {
			/* the VM has moved to another file since (an
			 * overlay): back to the snapshot's */
			files[n - 1] = d->file;
			fmts[n - 1] = b[n - 1]->drv->name;
			rewrite = true;
		}
	}
	for (i = 0; ret == 0 && i < n; i++)
		if (vm_disk_external(b[i])) {
			ret = vm_overlay_create(b[i], tag, ovl[i],
			    sizeof(ovl[i]), err);
			files[i] = ovl[i];
			fmts[i] = "qcow2";
		}
	if (ret == 0 && rewrite) {
		const char *old[MAX_DISKS];

		for (i = 0; i < n; i++) {
			old[i] = cfg_disk_file(&cur, i);
			if (old[i] != NULL && files[i] != NULL &&
			    !vm_same_file(old[i], files[i]))
				snprintf(oldp[i], sizeof(oldp[i]), "%s", old[i]);
		}
		ret = vm_yaml_set_disks(yaml, old, files, fmts, n, tmp,
		    sizeof(tmp), err);
	}
	/* Nothing has changed yet; now the disks. */
	for (i = 0; ret == 0 && i < n; i++)
		if (!vm_disk_external(b[i]))
			ret = blk_snapshot_apply(b[i], tag, err);
	if (ret == 0 && rewrite)
		ret = yaml_commit(tmp, yaml, err);
	if (ret < 0 && tmp[0] != '\0')
		unlink(tmp);
	snap_reader_close(&r);
	/* the overlays replaced, if nothing needs them any more */
	for (i = 0; ret == 0 && i < n; i++)
		if (oldp[i][0] != '\0') {
			char sd[PATH_MAX + 16];

			snap_dir_of(yaml, sd, sizeof(sd));
			(void)vm_overlay_drop(oldp[i], NULL, sd);
		}
	for (i = 0; i < n; i++) {
		if (ret < 0 && ovl[i][0] != '\0')
			unlink(ovl[i]);
		else if (ovl[i][0] != '\0' && ml < len)
			ml += (size_t)snprintf(made + ml, len - ml, "%s\n",
			    ovl[i]);
		blk_close(b[i]);
	}
	return ret;
}

/* ---- a restore's disks ---------------------------------------------------- */

int
vm_restore_disks_prepare(const char *snap, struct vm_config *cfg,
    const char *yaml, struct vm_restore_disks *rd, struct vm_err *err)
{
	static struct vm_config scfg, cur;
	const char *old[CFG_MAX_DISKS] = { 0 }, *files[CFG_MAX_DISKS] = { 0 };
	const char *fmts[CFG_MAX_DISKS] = { 0 };
	struct snap_reader r;
	struct vm_sect vs = { 0 };
	bool has;
	int k, ret;

	memset(rd, 0, sizeof(*rd));
	if (yaml != NULL)
		snprintf(rd->yaml, sizeof(rd->yaml), "%s", yaml);
	ret = reader_get(&r, snap, err);
	if (ret < 0)
		return ret;
	ret = get_section(&r, "vm", 0, 1, visit_vm, &vs, 0, false, err);
	if (ret == 0)
		ret = vm_snapshot_read_config(&r, &scfg, err);
	if (ret == 0 && yaml != NULL) {
		cfg_defaults(&cur);
		ret = cfg_load(&cur, yaml, err);
	}
	for (k = 0; ret == 0 && k < cfg->ndisks && k < CFG_MAX_DISKS; k++) {
		const struct cfg_disk *sd;
		struct blk *bb;
		char *o;

		if (cfg->disks[k].readonly)
			continue;
		ret = check_base(&r, &scfg, k, &has, err);
		if (ret < 0 || !has)
			continue;
		if (rd->n == (int)ARRAY_SIZE(rd->ovl)) {
			ret = vm_err_set(err, -E2BIG, "more than %d disks",
			    rd->n);
			break;
		}
		sd = &scfg.disks[k];
		bb = blk_open(sd->file, sd->format[0] ? sd->format : NULL,
		    BLK_F_RDONLY, err);
		if (bb == NULL) {
			ret = err->code ? err->code : -EIO;
			break;
		}
		o = rd->ovl[rd->n];
		ret = vm_overlay_create(bb, vs.tag, o, sizeof(rd->ovl[0]), err);
		blk_close(bb);
		if (ret < 0)
			break;
		snprintf(rd->base[rd->n], sizeof(rd->base[0]), "%s", sd->file);
		if (yaml != NULL) {
			if (k >= cur.ndisks || cur.disks[k].readonly) {
				rd->n++;
				ret = vm_err_set(err, -EINVAL, "%s: no writable "
				    "disk %d: vm.yaml has changed since the "
				    "snapshot", yaml, k + 1);
				break;
			}
			snprintf(rd->old[rd->n], sizeof(rd->old[0]), "%s",
			    cur.disks[k].file);
			old[k] = rd->old[rd->n];
			files[k] = o;
			fmts[k] = "qcow2";
		}
		snprintf(cfg->disks[k].file, sizeof(cfg->disks[k].file), "%s",
		    o);
		snprintf(cfg->disks[k].format, sizeof(cfg->disks[k].format),
		    "qcow2");
		rd->n++;
	}
	if (ret == 0 && yaml != NULL && rd->n > 0)
		ret = vm_yaml_set_disks(yaml, old, files, fmts, cfg->ndisks,
		    rd->tmp, sizeof(rd->tmp), err);
	kept_put(&r, snap);     /* for the load that follows */
	if (ret < 0)
		vm_restore_disks_abort(rd);
	return ret;
}

int
vm_restore_disks_commit(struct vm_restore_disks *rd, struct vm_err *err)
{
	char sd[PATH_MAX + 16];
	int i, ret = 0;

	if (rd->tmp[0] != '\0') {
		ret = yaml_commit(rd->tmp, rd->yaml, err);
		rd->tmp[0] = '\0';
		if (ret < 0) {
			vm_restore_disks_abort(rd);
			return ret;
		}
		snap_dir_of(rd->yaml, sd, sizeof(sd));
		for (i = 0; i < rd->n; i++)
			(void)vm_overlay_drop(rd->old[i], rd->base[i], sd);
	}
	rd->n = 0;
	return 0;
}

void
vm_restore_disks_abort(struct vm_restore_disks *rd)
{
	int i;

	if (rd->tmp[0] != '\0')
		unlink(rd->tmp);
	rd->tmp[0] = '\0';
	for (i = 0; i < rd->n; i++)
		unlink(rd->ovl[i]);
	rd->n = 0;
}
