/*
 * Host execution of guest x87, MMX and SSE instructions.
 *
 * Guest and host share the instruction set, so the exact semantics of a
 * floating-point or vector instruction (rounding, NaN propagation, the
 * flags the SDM leaves to the implementation) are had by running the
 * instruction itself on the host, on the guest's FPU state:
 *
 *     fnstcw/stmxcsr (host's, kept)   fxrstor64 [guest image]
 *     [mov rax, gpr]   INSN   [mov gpr, rax] [pushfq]
 *     fxsave64 [guest image]          fninit, host FCW and MXCSR back
 *
 * INSN is the guest instruction re-encoded by fpu.c: its memory operand
 * (if any) becomes [rsi], a 128-byte scratch buffer the caller fills from
 * guest memory before and copies to guest memory after, and a general
 * register operand becomes rax.  Only encodings on fpu.c's whitelists are
 * ever built, so the host sees no instruction that could touch anything
 * but the image, the scratch buffer and rax.
 *
 * Stubs are generated once per distinct encoding into a per-vCPU
 * executable arena and found again by a hash of the encoding; the arena is
 * simply emptied when full.  A safety net: if a stub ever faults on the
 * host (SIGILL, SIGFPE: a whitelist mistake), the signal handler resumes
 * at a landing pad that restores the host's FPU control state and returns
 * -1, and the guest stops with a diagnosis instead of the process dying.
 */
#include "dbt/dbt-int.h"
#include "dbt/hx.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define HX_ARENA (256 * 1024)
#define HX_SLOTS 4096           /* power of two */
#define HX_STUB_MAX 64

struct hx_slot {
	uint64_t k0, k1;        /* encoding bytes 0-7; byte 8, length, flags */
	uint32_t off;           /* stub offset in the arena + 1; 0 = empty */
};

struct dbt_hx {
	uint8_t *code;
	size_t used;
	unsigned nslots;
	struct hx_slot slot[HX_SLOTS];
};

/* The faulting thread's arena, for the signal handler. */
static __thread uintptr_t hx_lo, hx_hi;
static uint32_t hx_mxcsr_mask = 0xffbf;
static pthread_once_t hx_once = PTHREAD_ONCE_INIT;

/* Landing pad: what a stub would do after the instruction, then -1. */
static const uint8_t hx_land[] = {
	0xdb, 0xe3,                     /* fninit */
	0xd9, 0x6a, 0x18,               /* fldcw [rdx+24] */
	0x0f, 0xae, 0x52, 0x10,         /* ldmxcsr [rdx+16] */
	0xb8, 0xff, 0xff, 0xff, 0xff,   /* mov eax, -1 */
	0xc3,                           /* ret */
};

static void
hx_signal(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];

	(void)si;
	if (hx_lo != 0 && pc >= hx_lo && pc < hx_hi) {
		/* The arena starts with the landing pad. */
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)hx_lo;
		return;
	}
	/* Not ours: die of it the ordinary way. */
	signal(sig, SIG_DFL);
}

static void
hx_global_init(void)
{
	struct sigaction sa;
	uint8_t img[512] __attribute__((aligned(16)));
	uint32_t m;

	memset(img, 0, sizeof(img));
	__asm__ volatile("fxsave64 %0" : "=m"(img));
	memcpy(&m, img + 28, 4);
	hx_mxcsr_mask = m ? m : 0xffbf;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = hx_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
}

uint32_t
dbt_hx_mxcsr_mask(void)
{
	pthread_once(&hx_once, hx_global_init);
	return hx_mxcsr_mask;
}

struct dbt_hx *
dbt_hx_new(void)
{
	struct dbt_hx *h;

	pthread_once(&hx_once, hx_global_init);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->code = mmap(NULL, HX_ARENA, PROT_READ | PROT_WRITE | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->code == MAP_FAILED) {
		free(h);
		return NULL;
	}
	memcpy(h->code, hx_land, sizeof(hx_land));
	h->used = 32;
	return h;
}

void
dbt_hx_free(struct dbt_hx *h)
{
	if (h == NULL)
		return;
	munmap(h->code, HX_ARENA);
	free(h);
}

static void
hx_reset(struct dbt_hx *h)
{
	memset(h->slot, 0, sizeof(h->slot));
	h->nslots = 0;
	h->used = 32;
}

static size_t
put(uint8_t *p, size_t n, const void *bytes, size_t len)
{
	memcpy(p + n, bytes, len);
	return n + len;
}

/* Build the stub for enc[0..len) with flags; returns its entry. */
static uint8_t *
hx_build(struct dbt_hx *h, const uint8_t *enc, unsigned len, unsigned flags)
{
	static const uint8_t pro[] = {
		0x0f, 0xae, 0x5a, 0x10,         /* stmxcsr [rdx+16] */
		0xd9, 0x7a, 0x18,               /* fnstcw [rdx+24] */
		0x48, 0x0f, 0xae, 0x0f,         /* fxrstor64 [rdi] */
	};
	static const uint8_t ld_rax[] = { 0x48, 0x8b, 0x02 };
	static const uint8_t st_rax[] = { 0x48, 0x89, 0x02 };
	static const uint8_t flg_in[] = {
		0x48, 0x8b, 0x4a, 0x08,         /* mov rcx, [rdx+8] */
		0x48, 0x81, 0xe1, 0xd5, 0x08, 0x00, 0x00, /* and rcx, 0x8d5 */
		0x51, 0x9d,                     /* push rcx; popfq */
	};
	static const uint8_t flg[] = {
		0x9c, 0x59,                     /* pushfq; pop rcx */
		0x48, 0x89, 0x4a, 0x08,         /* mov [rdx+8], rcx */
	};
	static const uint8_t epi[] = {
		0x48, 0x0f, 0xae, 0x07,         /* fxsave64 [rdi] */
		0xdb, 0xe3,                     /* fninit */
		0xd9, 0x6a, 0x18,               /* fldcw [rdx+24] */
		0x0f, 0xae, 0x52, 0x10,         /* ldmxcsr [rdx+16] */
		0x31, 0xc0,                     /* xor eax, eax */
		0xc3,                           /* ret */
	};
	uint8_t *p;
	size_t n = 0;

	if (h->used + HX_STUB_MAX > HX_ARENA || h->nslots >= HX_SLOTS / 2)
		hx_reset(h);
	p = h->code + h->used;
	n = put(p, n, pro, sizeof(pro));
	if (flags & HX_GPR)
		n = put(p, n, ld_rax, sizeof(ld_rax));
	if (flags & HX_RFLAGS_IN)
		n = put(p, n, flg_in, sizeof(flg_in));
	n = put(p, n, enc, len);
	if (flags & HX_GPR)
		n = put(p, n, st_rax, sizeof(st_rax));
	if (flags & HX_RFLAGS)
		n = put(p, n, flg, sizeof(flg));
	n = put(p, n, epi, sizeof(epi));
	h->used += (n + 15) & ~(size_t)15;
	return p;
}

int
dbt_hx_exec(struct dbt_hx *h, const uint8_t *enc, unsigned len,
    unsigned flags, void *fx, void *mem, struct hx_regs *r)
{
	uint64_t k0 = 0, k1;
	unsigned idx, probes;
	struct hx_slot *s;
	uint8_t *fn = NULL;
	uint32_t mx;

	if (len == 0 || len > 9)
		return -1;
	memcpy(&k0, enc, len < 8 ? len : 8);
	k1 = (len > 8 ? enc[8] : 0) | (uint64_t)len << 8 |
	    (uint64_t)flags << 16;
	idx = (unsigned)((k0 * 0x9e3779b97f4a7c15ULL) >> 40 ^ k1 * 31u) &
	    (HX_SLOTS - 1);
	for (probes = 0; probes < HX_SLOTS; probes++) {
		s = &h->slot[(idx + probes) & (HX_SLOTS - 1)];
		if (s->off == 0)
			break;
		if (s->k0 == k0 && s->k1 == k1) {
			fn = h->code + s->off - 1;
			break;
		}
	}
	if (fn == NULL) {
		fn = hx_build(h, enc, len, flags);
		if (h->nslots == 0) {
			/* The arena was just emptied: probe afresh. */
			for (probes = 0;; probes++) {
				s = &h->slot[(idx + probes) & (HX_SLOTS - 1)];
				if (s->off == 0)
					break;
			}
		}
		s->k0 = k0;
		s->k1 = k1;
		s->off = (uint32_t)(fn - h->code) + 1;
		h->nslots++;
	}
	/* An MXCSR the host would refuse (#GP in fxrstor) never reaches it;
	 * fpu.c keeps the image valid, this is the belt to its braces. */
	memcpy(&mx, (uint8_t *)fx + 24, 4);
	if (mx & ~hx_mxcsr_mask) {
		mx &= hx_mxcsr_mask;
		memcpy((uint8_t *)fx + 24, &mx, 4);
	}
	hx_lo = (uintptr_t)h->code;
	hx_hi = (uintptr_t)h->code + HX_ARENA;
	return ((int (*)(void *, void *, struct hx_regs *))(void *)fn)(fx, mem,
	    r);
}
