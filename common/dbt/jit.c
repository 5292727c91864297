/*
 * The translator tier: decoded blocks compiled to host x86-64 code
 * (shared/DESIGN.md 5, step 4).
 *
 * Guest and host share the instruction set, so most integer instructions
 * are emitted as themselves, re-encoded with host registers in their
 * ModRM fields.  Within a block the guest registers live in a register
 * cache, r8-r15 (loaded on first use, evicted least recently used,
 * written back to c->gpr before anything that reads it there: helper
 * calls, slow paths, block exits).  The guest's arithmetic flags are the
 * host's flags: an instruction that reads them finds them in the host
 * flags register.  The emitter tracks, instruction by instruction,
 * whether the host flags hold the guest's (FLS_HOST), c->rflags does
 * (FLS_MEM), or rbx holds them as LAHF/SETO left them (FLS_BX: a TLB
 * probe had to clobber the host flags; two instructions instead of a
 * read-modify-write of c->rflags, and only a slow path merges them).
 * A probe saves nothing when the flags come from an ADD, SUB, CMP, TEST
 * or logical op on registers just before it (a Jcc between allowed) and
 * its instruction overwrites every flag without reading one, or touches
 * none and writes none of that op's registers: its slow path, which
 * needs them only to fault precisely, makes them again from those
 * registers (FLS_REPLAY), and so does the fast path after an instruction
 * that keeps them.  An instruction that reads the flags only to pass
 * them on (INC and DEC keep CF, rotates SF, ZF, AF and PF) finds them
 * wherever they are when the next one overwrites all six; a shift by a
 * constant writes all six on a host where the result keeps none of them
 * (shift_flags_probe).
 * A block goes on past a Jcc along its fall-through path; the taken side
 * leaves through a side exit that writes back flags and registers.
 *
 * Memory operands become an inline probe of the soft TLB (mmu.c): the
 * entry for the linear page is compared with the page of the access's
 * last byte, so a page-crossing access misses; a hit gives the host
 * address and the instruction runs on host memory.  A miss runs the whole
 * instruction through its interpreter handler (an out-of-line slow path),
 * which walks the page tables, fills the TLB, reaches MMIO, sets A/D bits,
 * invalidates translations written to and raises faults with the state
 * exactly as before the instruction: the fast path changes nothing before
 * its probe succeeds.  Write entries exist only for dirty RAM pages
 * holding no translated code, so self-modifying code always takes the
 * slow path.  Everything the emitter does not know is compiled as a call
 * to the interpreter's handler for that one instruction, so coverage is
 * the interpreter's.
 *
 * A run of PUSH r64 (or POP r64) shares one probe for all its bytes;
 * when they are not on one mapped page its slow path runs them one by
 * one.  STI at CPL 0 is compiled: with an interrupt pending it leaves for
 * the run loop with the interrupt shadow set, otherwise it links on.
 *
 * Only 64-bit code is compiled (where a Linux guest spends its time);
 * other modes, and CPL 3 code with alignment checking on, stay on the
 * interpreter.  Registers in the generated code:
 *   rbp  the struct dbt_cpu      rax, rdi, rsi  probe, address and flags
 *   r8-r15  the register cache   rbx  the flags across a probe
 *   rcx, rdx  scratch operands (rcx also CL for shifts, AH..BH forms)
 * Blocks are entered through a trampoline that saves the host's
 * callee-saved registers and leaves through jit_exit, returning the
 * direct exit taken (or NULL) to the dispatcher in dbt.c.  A block has
 * three entries: from the dispatcher (the flags in c->rflags), with the
 * flags in rbx (the jump cache's, so that a return or an indirect jump
 * leaves them in a register), and with both the flags in rbx and
 * the registers it uses first already in host registers (the register
 * entry).  The first two load those registers and check the vCPU's
 * attention flag (and, with several vCPUs, a budget of blocks); linked
 * exits take the register entry through moves made at link time that
 * hand over what the exit leaves in host registers, and make the
 * attention check there when they go backwards, so every loop of chained
 * code still takes interrupts and yields the run lock.  An exit leaves
 * the flags where they are, most often in the host's flags register;
 * its link code saves them into rbx only for a target that needs them
 * before it overwrites them (jit_fl_dead, flags_dead_at_entry), and its
 * attention check then uses MOV and JRCXZ, which leave them alone.  Direct exits
 * are patched to jump straight into their
 * target's code when the target is on the same guest page (the page's
 * mapping is the one the source was looked up under) and in the same
 * mode; invalidating a block unpatches every jump into it.  Returns,
 * indirect branches and exits to other pages go through a per-vCPU jump
 * cache keyed by linear RIP and mode, emptied by every TLB flush.
 *
 * The arena is one RWX mapping per VM; when it is full every block is
 * flushed and compilation starts over (only from the dispatcher, never
 * while generated code is on the stack).
 * Encodings: Intel SDM vol. 2, chapter 2 (ModRM, SIB, REX) and the
 * instruction pages.
 */
#include "dbt/jit.h"

#include <cpuid.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "dbt/block.h"
#include "dbt/dbt-int.h"
#include "dbt/fpu.h"
#include "hw/intc.h"
#include "cfg/cfg.h"
#include "util/vmem.h"
#include "vm/vm.h"

#define JIT_DEFAULT_CACHE (128u << 20)
#define JIT_BLOCK_ROOM (48u << 10)      /* worst case for one block */
#define JIT_FILL_SIZES 17               /* access sizes with a fill thunk */
#define DBT_JIT_MAX_CPUS 64
/* Slow paths a block may have: REP MOVS has two, so a block of them has
 * twice as many as instructions; more than this and the block stays on
 * the interpreter (emit.slow_full). */
#define JIT_SLOW_MAX (2 * DBT_BLOCK_MAX + 8)

/* Host registers. */
enum { AX = 0, CX = 1, DX = 2, BX = 3, SP = 4, BP = 5, SI = 6, DI = 7 };

struct dbt_jit {
	uint8_t *base;
	size_t size, used, head;
	uint8_t *enter;         /* void enter(struct dbt_cpu *, void *code) */
	uint8_t *exit;          /* rax = exit record; back to enter's caller */
	uint8_t *exit_null;     /* c->rip already set: rax = 0 */
	uint8_t *exit_null_bx;  /* the same with the flags in rbx */
	uint8_t *exit_jc_miss;  /* the same with the guest RIP in rcx */
	/* dbt_tlb_fill for a slow path, by access size, write, TLB class:
	 * lin in rsi, the result in dil, the caller-saved registers kept
	 * (emit_fill_thunks). */
	uint8_t *fill[JIT_FILL_SIZES][2][2];
	/* jit_helper_at(c, rsi, edx); leaves through exit_null when it
	 * returns nonzero (emit_call_helper). */
	uint8_t *helper;
	/* For cold code (emit_cold_thunks): flags_merge_ax, flags_load
	 * and the FLS_BX join of a slow path, each with a ret; an exit
	 * stub's way out, rax = its exit record, flags in c->rflags or
	 * in rbx. */
	uint8_t *merge_ax, *load_fl, *load_bx, *exit_x, *exit_x_bx;
	uint64_t compiled, failed, links, flushes, helper_insns, native_insns;
	uint64_t probes, probes_replay; /* probes, those saving no flags */
	uint64_t ns;            /* time spent compiling */
	long max_native;        /* VMKIT_JIT_MAX_NATIVE, -1: no limit */
	struct dbt_cpu *cpus[DBT_JIT_MAX_CPUS]; /* whose jump caches to clean */
	int ncpus;
	uint64_t jc_fills, jc_conflicts;
	/* Exits linked to a block on another page, which is global: all
	 * unlinked when any vCPU flushes its jump cache. */
	struct dbt_jit_exit **xlinks;
	size_t nxlinks, capxlinks;
	uint64_t xlinks_made;
	uint64_t reg_links, trans_made;  /* links into register entries */
	uint64_t links_flhost;          /* ... carrying the flags in the host's */
	bool bmi2;              /* the host has RORX */
	uint8_t sse4;           /* the host's JS4_* (emit_sse4) */
	unsigned isa;           /* ISA_*: the extensions the host has */
	uint64_t *profile;      /* VMKIT_JIT_PROFILE: helper calls by opcode */
	FILE *perfmap;          /* VMKIT_JIT_PERFMAP: /tmp/perf-PID.map */
	FILE *dump;             /* VMKIT_JIT_DUMP: every block's code */
};

/* ---- byte emitter ------------------------------------------------------ */

struct slow_path {
	uint8_t *jcc;           /* rel32 of the probe's jne */
	uint8_t *extra[6];      /* other jumps to it (SSE, string checks) */
	int nextra;
	const struct insn *i;
	uint64_t rip;
	int fl_probe;           /* where the flags are at the probe (FLS_*) */
	int fl_join;            /* and where the fast path has them after */
	uint8_t *resume;
	uint8_t *retry;         /* the probe, to run again after a TLB fill */
	unsigned size;          /* its access */
	bool write;
	int8_t rc_host[16];     /* register cache at the probe: guest -> host */
	bool rc_dirty[16];
	uint8_t replay[32];     /* FLS_REPLAY: code that makes the flags again */
	bool rcx_rip;           /* the fast path goes on with c->rip in rcx */
	int nreplay;
	int count;              /* instructions from i the handlers run (0: 1) */
};

/*
 * The last flag-writing instruction compiled on registers alone, kept so
 * that the probe of the next one need not save the flags (see
 * flags_replay): its host code, and the host registers it reads, which
 * must still cache the same guest registers at the probe.
 */
struct flag_src {
	int at;                 /* e->insn_no of the instruction, or -1 */
	uint8_t code[32];       /* undo and redo: the flags it made */
	int n;
	int8_t host[2], guest[2];
	uint16_t wgen[2];       /* e->rc_wgen of guest[] when recorded */
};

/* A taken Jcc inside a block: out of line, the flags and the dirty
 * cached registers go back to c->rflags and c->gpr, then a direct exit. */
struct side_exit {
	uint8_t *jcc;           /* rel32 of the jcc */
	uint64_t target;
	int8_t rc_host[16];
	bool rc_dirty[16];
};

struct emit {
	uint8_t *p, *start;
	struct dbt_jit *j;
	struct dbt_cpu *c;
	struct dbt_block *b;
	int fl;                 /* where the guest's flags are: FLS_* */
	/* The register cache: guest registers held in r8-r15 within the
	 * block, written back before anything that reads c->gpr. */
	int8_t rc_host[16];     /* guest reg -> host reg, -1 */
	int8_t rc_owner[16];    /* host reg -> guest reg, -1 */
	bool rc_dirty[16];      /* by guest reg */
	bool rc_pin[16];        /* by host reg: used by this instruction */
	uint16_t rc_wgen[16];   /* by guest reg: writes so far (rc_dirty) */
	unsigned rc_lru[16], rc_tick;
	int insn_no;            /* of the instruction being compiled */
	struct flag_src fsrc;
	bool replay_ok;         /* this probe's instruction writes all flags */
	bool probe_sib;         /* this probe's user addresses [rdi + rsi] */
	int nslow, nside;
	bool slow_full;         /* slow[] ran out: the block is refused */
	/* Last, and not cleared before a compilation (emit_init): each
	 * entry is set up when it is handed out. */
	struct slow_path slow[JIT_SLOW_MAX];
	struct side_exit side[DBT_BLOCK_MAX];
};

/* Everything before the slow paths and side exits zeroed (some 30 KB
 * less to clear per block). */
static void
emit_init(struct emit *e)
{
	memset(e, 0, offsetof(struct emit, slow));
}

static void
b1(struct emit *e, unsigned v)
{
	*e->p++ = (uint8_t)v;
}

static void
b4(struct emit *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static void
b8(struct emit *e, uint64_t v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

static bool
fits8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static bool
fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* ModRM (+disp) for [rbp + disp] with reg field r. */
static void
m_bp(struct emit *e, int r, int32_t disp)
{
	if (fits8(disp)) {
		b1(e, 0x45 | (r & 7) << 3);
		b1(e, (uint8_t)disp);
	} else {
		b1(e, 0x85 | (r & 7) << 3);
		b4(e, (uint32_t)disp);
	}
}

/* The probe indexes the TLB by shifting. */
_Static_assert(sizeof(struct dbt_tlb_entry) == 32, "TLB entry size");

/* ModRM + SIB + disp32 for [rbp + rax + disp]. */
static void
m_bp_ax1(struct emit *e, int r, int32_t disp)
{
	b1(e, 0x84 | (r & 7) << 3);
	b1(e, 0x05);
	b4(e, (uint32_t)disp);
}

/* A rel32 jump target: write it at field (4 bytes, relative to field+4). */
static void
set_rel32(uint8_t *field, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (field + 4));

	memcpy(field, &rel, 4);
}

/*
 * A block exit's jmp rel32, which linking and unlinking rewrite while
 * other vCPUs may be running it (SMP.md M7): a NOP first so that the
 * displacement is 4-aligned, which puts it in one cache line, and the
 * rewrite is one aligned 4-byte store (patch_rel32): a vCPU jumping
 * through it sees the old target or the new one, both valid code.
 */
static uint8_t *
jmp32_patchable(struct emit *e)
{
	/* One NOP of the length needed, not up to three (executed on
	 * every exit): 66 90, and 0F 1F 00 (NOP dword [rax]). */
	switch (3 - ((uintptr_t)e->p & 3)) {
	case 1:
		b1(e, 0x90);
		break;
	case 2:
		b1(e, 0x66); b1(e, 0x90);
		break;
	case 3:
		b1(e, 0x0f); b1(e, 0x1f); b1(e, 0x00);
		break;
	default:
		break;
	}
	b1(e, 0xe9);
	b4(e, 0);
	return e->p - 4;
}

static void
patch_rel32(uint8_t *field, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (field + 4));

	__atomic_store_n((int32_t *)(void *)field, rel, __ATOMIC_RELEASE);
}

static uint8_t *
jmp32(struct emit *e, const uint8_t *target)
{
	uint8_t *f;

	b1(e, 0xe9);
	f = e->p;
	b4(e, 0);
	if (target != NULL)
		set_rel32(f, target);
	return f;
}

/* jcc rel32 with condition code cc (0..15). */
static uint8_t *
jcc32(struct emit *e, unsigned cc, const uint8_t *target)
{
	uint8_t *f;

	b1(e, 0x0f);
	b1(e, 0x80 | cc);
	f = e->p;
	b4(e, 0);
	if (target != NULL)
		set_rel32(f, target);
	return f;
}

#define OFF(field) ((int32_t)offsetof(struct dbt_cpu, field))
#define GPR(r) (OFF(gpr) + 8 * (int32_t)(r))

/* mov r64, [rbp + off] and back; r may be r8-r15. */
static void
ld64(struct emit *e, int r, int32_t off)
{
	b1(e, 0x48 | (r >= 8 ? 4 : 0));
	b1(e, 0x8b);
	m_bp(e, r, off);
}

static void
st64(struct emit *e, int r, int32_t off)
{
	b1(e, 0x48 | (r >= 8 ? 4 : 0));
	b1(e, 0x89);
	m_bp(e, r, off);
}

/* mov dst, src (64-bit, any registers). */
static void
mov_rr(struct emit *e, int dst, int src)
{
	if (dst == src)
		return;
	b1(e, 0x48 | (src >= 8 ? 4 : 0) | (dst >= 8 ? 1 : 0));
	b1(e, 0x89);
	b1(e, 0xc0 | (unsigned)(src & 7) << 3 | (unsigned)(dst & 7));
}

/* lea dst, [base + disp] with a SIB byte, so r12/r13 need no care. */
static void
lea_disp(struct emit *e, int dst, int base, int32_t disp)
{
	b1(e, 0x48 | (dst >= 8 ? 4 : 0) | (base >= 8 ? 1 : 0));
	b1(e, 0x8d);
	b1(e, 0x84 | (unsigned)(dst & 7) << 3);
	b1(e, 0x20 | (unsigned)(base & 7));
	b4(e, (uint32_t)disp);
}

static void
mov_imm64(struct emit *e, int r, uint64_t v)
{
	if (v <= 0xffffffffULL) {
		b1(e, 0xb8 + r);                /* mov r32, imm32 */
		b4(e, (uint32_t)v);
	} else if (fits32((int64_t)v)) {
		b1(e, 0x48);                    /* mov r64, simm32 */
		b1(e, 0xc7);
		b1(e, 0xc0 + r);
		b4(e, (uint32_t)v);
	} else {
		b1(e, 0x48);
		b1(e, 0xb8 + r);
		b8(e, v);
	}
}

/* c->rip = v */
static void
set_rip(struct emit *e, uint64_t v)
{
	if (fits32((int64_t)v)) {
		b1(e, 0x48);
		b1(e, 0xc7);
		m_bp(e, 0, OFF(rip));
		b4(e, (uint32_t)v);
	} else {
		mov_imm64(e, AX, v);
		st64(e, AX, OFF(rip));
	}
}

/* ---- flags -------------------------------------------------------------- */

/* FLS_REPLAY: only at a probe, the flags are nowhere but a slow path can
 * make them again (struct flag_src). */
enum { FLS_MEM, FLS_HOST, FLS_BX, FLS_REPLAY };

/* Host flags -> c->rflags (SF ZF AF PF CF in the low byte, OF bit 11).
 * Clobbers rax and the host flags. */
static void
flags_save(struct emit *e)
{
	b1(e, 0x9f);                            /* lahf */
	b1(e, 0x0f); b1(e, 0x90); b1(e, 0xc0);  /* seto al */
	b1(e, 0x88); m_bp(e, 4, OFF(rflags));   /* mov [rflags], ah */
	b1(e, 0xc0); b1(e, 0xe0); b1(e, 3);     /* shl al, 3 */
	b1(e, 0x80); m_bp(e, 4, OFF(rflags) + 1); b1(e, 0xf7); /* and */
	b1(e, 0x08); m_bp(e, 0, OFF(rflags) + 1);  /* or [rflags+1], al */
}

static void flags_merge_ax(struct emit *e);
static bool flags_dead_after(const struct emit *e, const struct insn *i);
static int hop_plain(const struct insn *i);

/* c->rflags -> host flags.  Clobbers rax. */
static void
flags_load(struct emit *e)
{
	b1(e, 0x0f); b1(e, 0xb7); m_bp(e, 0, OFF(rflags)); /* movzx eax,w */
	b1(e, 0x66); b1(e, 0xc1); b1(e, 0xc0); b1(e, 8);   /* rol ax, 8 */
	b1(e, 0x24); b1(e, 0x08);               /* and al, 8 (OF) */
	b1(e, 0x04); b1(e, 0x78);               /* add al, 0x78: OF */
	b1(e, 0x9e);                            /* sahf */
}

/* ah/al (LAHF, SETO) -> c->rflags.  Clobbers al and the host flags. */
static void
flags_merge_ax(struct emit *e)
{
	b1(e, 0x88); m_bp(e, 4, OFF(rflags));   /* mov [rflags], ah */
	b1(e, 0xc0); b1(e, 0xe0); b1(e, 3);     /* shl al, 3 */
	b1(e, 0x80); m_bp(e, 4, OFF(rflags) + 1); b1(e, 0xf7); /* and */
	b1(e, 0x08); m_bp(e, 0, OFF(rflags) + 1);  /* or [rflags+1], al */
}

/* Before glue that clobbers the host flags, or a block exit. */
static void
flags_to_mem(struct emit *e)
{
	if (e->fl == FLS_HOST) {
		flags_save(e);
	} else if (e->fl == FLS_BX) {
		b1(e, 0x89); b1(e, 0xd8);       /* mov eax, ebx */
		flags_merge_ax(e);
	}
	e->fl = FLS_MEM;
}

/* Before an instruction that reads the guest flags. */
static void
flags_to_host(struct emit *e)
{
	if (e->fl == FLS_MEM) {
		flags_load(e);
	} else if (e->fl == FLS_BX) {
		b1(e, 0x89); b1(e, 0xd8);       /* mov eax, ebx */
		b1(e, 0x04); b1(e, 0x7f);       /* add al, 0x7f: OF */
		b1(e, 0x9e);                    /* sahf */
	}
	e->fl = FLS_HOST;
}

/* c->rflags into rbx in LAHF/SETO form.  Clobbers rax and the host
 * flags. */
static void
flags_mem_to_bx(struct emit *e)
{
	b1(e, 0x0f); b1(e, 0xb7); m_bp(e, 0, OFF(rflags)); /* movzx eax,w */
	b1(e, 0x66); b1(e, 0xc1); b1(e, 0xc0); b1(e, 8);   /* rol ax, 8 */
	b1(e, 0x24); b1(e, 0x08);               /* and al, 8 (OF) */
	b1(e, 0xc0); b1(e, 0xe8); b1(e, 3);     /* shr al, 3 */
	b1(e, 0x89); b1(e, 0xc3);               /* mov ebx, eax */
}

/* Before a TLB probe: keep host flags in rbx (rax is the probe's). */
static void
flags_to_bx(struct emit *e)
{
	if (e->fl == FLS_HOST) {
		b1(e, 0x9f);                            /* lahf */
		b1(e, 0x0f); b1(e, 0x90); b1(e, 0xc0);  /* seto al */
		b1(e, 0x89); b1(e, 0xc3);               /* mov ebx, eax */
		e->fl = FLS_BX;
	}
}

/* Before a jump through the jump cache, whose entries take the flags in
 * rbx: from wherever they are. */
static void
flags_all_to_bx(struct emit *e)
{
	if (e->fl == FLS_MEM)
		flags_mem_to_bx(e);
	else if (e->fl == FLS_HOST)
		flags_to_bx(e);
	e->fl = FLS_BX;
}

/* ---- the register cache ------------------------------------------------- */

static void
rc_init(struct emit *e)
{
	int g;

	for (g = 0; g < 16; g++)
		e->rc_wgen[g]++;        /* as in rc_sync_one */
	memset(e->rc_host, -1, sizeof(e->rc_host));
	memset(e->rc_owner, -1, sizeof(e->rc_owner));
	memset(e->rc_dirty, 0, sizeof(e->rc_dirty));
	memset(e->rc_pin, 0, sizeof(e->rc_pin));
}

/* A host register for guest register g, loaded unless def (the caller
 * writes all 64 bits).  Pinned until the next instruction. */
static int
rc_take(struct emit *e, int g, bool def)
{
	int h = e->rc_host[g], k, og;

	if (h < 0) {
		for (k = 8; k < 16 && h < 0; k++)
			if (e->rc_owner[k] < 0)
				h = k;
		if (h < 0) {
			for (k = 8; k < 16; k++)
				if (!e->rc_pin[k] && (h < 0 ||
				    e->rc_lru[k] < e->rc_lru[h]))
					h = k;
			og = e->rc_owner[h];
			if (e->rc_dirty[og])
				st64(e, h, GPR(og));
			e->rc_host[og] = -1;
			e->rc_dirty[og] = false;
		}
		if (!def)
			ld64(e, h, GPR(g));
		e->rc_owner[h] = (int8_t)g;
		e->rc_host[g] = (int8_t)h;
	}
	e->rc_pin[h] = true;
	e->rc_lru[h] = ++e->rc_tick;
	return h;
}

static int
rc_get(struct emit *e, int g)
{
	return rc_take(e, g, false);
}

static void
rc_dirty(struct emit *e, int g)
{
	e->rc_dirty[g] = true;
	e->rc_wgen[g]++;
}

/* Write every dirty cached register back to c->gpr (flag-neutral). */
static void
rc_flush(struct emit *e)
{
	int g;

	for (g = 0; g < 16; g++)
		if (e->rc_host[g] >= 0 && e->rc_dirty[g]) {
			st64(e, e->rc_host[g], GPR(g));
			e->rc_dirty[g] = false;
		}
}

/* Forget the cache (after code that may have changed c->gpr). */
static void
rc_drop(struct emit *e)
{
	rc_init(e);
}

/* Guest register g back in c->gpr and out of the cache. */
static void
rc_sync_one(struct emit *e, int g)
{
	int h = e->rc_host[g];

	if (h < 0)
		return;
	if (e->rc_dirty[g])
		st64(e, h, GPR(g));
	e->rc_host[g] = -1;
	e->rc_owner[h] = -1;
	e->rc_dirty[g] = false;
	e->rc_wgen[g]++;        /* c->gpr may be written now (flags_src_carry) */
}

static void
rc_sync_all(struct emit *e)
{
	rc_flush(e);
	rc_drop(e);
}

/* ---- helpers called from generated code ----------------------------------- */

/*
 * Run one instruction through its interpreter handler.  Returns nonzero
 * when the compiled block must be left: 2 when control went elsewhere
 * (IRET, a far transfer), which the jump cache may find; 1 when the
 * block was invalidated under us, an interrupt shadow began, the vCPU
 * halted or must leave for the run loop.  c->rip is then the next
 * instruction.
 */
static uint64_t
jit_helper(struct dbt_cpu *c, const struct insn *i, uint64_t rip,
    struct dbt_block *b)
{
	uint64_t next = rip + i->len;

	if (c->jit->profile != NULL)
		c->jit->profile[((i->map & 3) << 8 | i->op) << 3 |
		    (i->has_modrm ? (i->reg & 7) : 0)]++;
	c->rip = rip;
	c->next_rip = next;
	c->cur_block = b;
	c->block_dirty = false;
	c->irq_shadow = false;
	i->fn(c, i);
	dbt_smap_check(c);
	c->rip = c->next_rip;
	c->cur_block = NULL;
	if (c->block_dirty || c->irq_shadow || c->halted ||
	    c->exit_reason != CPU_EXIT_NONE)
		return 1;
	if (c->next_rip == next)
		return 0;
	/* An interrupt held back while IF was clear goes to the run loop,
	 * which delivers it once the IRET has set IF again (the jump
	 * cache's targets only look at the attention flag). */
	return c->vm->intc != NULL &&
	    intc_has_interrupt(c->vm->intc, c->index) ? 1 : 2;
}

/* jit_helper for instruction k of b at b->lin + off, at = k | off << 8:
 * what the helper thunk calls (emit_call_helper). */
static uint64_t
jit_helper_at(struct dbt_cpu *c, struct dbt_block *b, uint32_t at)
{
	return jit_helper(c, &b->insns[at & 0xff], b->lin + (at >> 8), b);
}

/*
 * The handler of i (at rip) on the guest state in c: through the helper
 * thunk, with the block in rsi and where i is in it in edx (20 bytes of
 * code; 53 with the arguments in full, which is the way left for an
 * instruction the packing cannot name).
 */
static void
emit_call_helper(struct emit *e, const struct insn *i, uint64_t rip)
{
	ptrdiff_t k = i - e->b->insns;
	uint64_t off = rip - e->b->lin;

	if (e->j->helper != NULL && k >= 0 && k < e->b->n && k < 256 &&
	    off < (1u << 24)) {
		b1(e, 0x48); b1(e, 0xbe); b8(e, (uint64_t)(uintptr_t)e->b);
		b1(e, 0xba); b4(e, (uint32_t)k | (uint32_t)off << 8);
		b1(e, 0xe8);                    /* call helper */
		set_rel32(e->p, e->j->helper);
		e->p += 4;
		return;
	}
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xef);  /* mov rdi, rbp */
	b1(e, 0x48); b1(e, 0xbe); b8(e, (uint64_t)(uintptr_t)i);
	mov_imm64(e, DX, rip);
	b1(e, 0x48); b1(e, 0xb9); b8(e, (uint64_t)(uintptr_t)e->b);
	b1(e, 0x48); b1(e, 0xb8); b8(e, (uint64_t)(uintptr_t)jit_helper);
	b1(e, 0xff); b1(e, 0xd0);               /* call rax */
	b1(e, 0x85); b1(e, 0xc0);               /* test eax, eax */
	jcc32(e, 0x5, e->j->exit_null);         /* jnz exit */
}

/* An instruction the emitter does not compile. */
static void
emit_helper_insn(struct emit *e, const struct insn *i, uint64_t rip)
{
	flags_to_mem(e);
	rc_sync_all(e);
	emit_call_helper(e, i, rip);
	e->j->helper_insns++;
}

/* ---- memory operands ----------------------------------------------------- */

/* A new slow path.  When there is no room left the last one is handed
 * out again and the block is refused once emitted (slow_full), so that
 * no guest code can make the emitter write past slow[]. */
static struct slow_path *
slow_alloc(struct emit *e)
{
	struct slow_path *s;

	if (e->nslow == JIT_SLOW_MAX) {
		e->slow_full = true;
		s = &e->slow[JIT_SLOW_MAX - 1];
	} else {
		s = &e->slow[e->nslow++];
	}
	memset(s, 0, sizeof(*s));
	return s;
}

/* A slow path entered by jumps other than a probe's (checks that send the
 * instruction to its handler), with the register cache as it is now. */
static struct slow_path *
new_slow(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s = slow_alloc(e);

	s->i = i;
	s->rip = rip;
	memcpy(s->rc_host, e->rc_host, sizeof(s->rc_host));
	memcpy(s->rc_dirty, e->rc_dirty, sizeof(s->rc_dirty));
	return s;
}

/*
 * rsi = the effective address of i's memory operand (64-bit mode), with
 * the FS/GS base when seg.  Base and index come from the register cache
 * (pinned) when cached, else from c->gpr through rsi and rax.
 * Flag-neutral; clobbers rax.
 */
static void
emit_ea_from(struct emit *e, const struct insn *i, uint64_t next_rip,
    bool seg, bool cached)
{
	static const uint8_t ss[9] = { 0, 0, 1, 0, 2, 0, 0, 0, 3 };
	int hb = -1, hx = -1;

	if (i->base == INSN_BASE_RIP) {
		uint64_t a = next_rip + (uint64_t)i->disp;

		mov_imm64(e, SI, i->addrsize == 4 ? a & 0xffffffffULL : a);
	} else {
		if (i->base >= 0) {
			hb = cached ? rc_get(e, i->base) : SI;
			if (!cached)
				ld64(e, SI, GPR(i->base));
		}
		if (i->index >= 0) {
			hx = cached ? rc_get(e, i->index) : AX;
			if (!cached)
				ld64(e, AX, GPR(i->index));
		}
		if (hb < 0 && hx < 0) {
			mov_imm64(e, SI, (uint64_t)i->disp);
		} else if (hx < 0 && i->disp == 0) {
			mov_rr(e, SI, hb);
		} else if (hb < 0) {
			/* lea rsi, [hx*scale + disp32] */
			b1(e, 0x48 | (hx >= 8 ? 2 : 0));
			b1(e, 0x8d);
			b1(e, 0x34);
			b1(e, (unsigned)ss[i->scale & 15] << 6 |
			    (unsigned)(hx & 7) << 3 | 5);
			b4(e, (uint32_t)i->disp);
		} else {
			/* lea rsi, [hb + hx*scale + disp]: the shortest
			 * displacement (rbp and r13 as base need one) */
			unsigned mod = i->disp == 0 && (hb & 7) != BP ? 0 :
			    fits8(i->disp) ? 1 : 2;

			b1(e, 0x48 | (hx >= 8 ? 2 : 0) | (hb >= 8 ? 1 : 0));
			b1(e, 0x8d);
			if (hx < 0 && (hb & 7) != SP) {
				b1(e, mod << 6 | SI << 3 | (hb & 7));
			} else {
				b1(e, mod << 6 | SI << 3 | 4);
				b1(e, (hx >= 0 ? (unsigned)ss[i->scale & 15] :
				    0) << 6 | (unsigned)(hx >= 0 ? hx & 7 : 4)
				    << 3 | (unsigned)(hb & 7));
			}
			if (mod == 1)
				b1(e, (uint8_t)i->disp);
			else if (mod == 2)
				b4(e, (uint32_t)i->disp);
		}
		if (i->addrsize == 4) {
			b1(e, 0x89); b1(e, 0xf6);       /* mov esi, esi */
		}
	}
	if (seg && (i->seg == X86_FS || i->seg == X86_GS)) {
		ld64(e, AX, OFF(seg) + (int32_t)(i->seg *
		    sizeof(struct x86_seg)) + (int32_t)offsetof(struct x86_seg,
		    base));
		b1(e, 0x48); b1(e, 0x8d); b1(e, 0x34); b1(e, 0x06); /* lea */
	}
}

static void
emit_ea_rc(struct emit *e, const struct insn *i, uint64_t next_rip, bool seg)
{
	emit_ea_from(e, i, next_rip, seg, true);
}

/* The same from c->gpr, for code that keeps those registers there. */
static void
emit_ea(struct emit *e, const struct insn *i, uint64_t next_rip, bool seg)
{
	emit_ea_from(e, i, next_rip, seg, false);
}

/*
 * TLB probe for an access of size bytes at linear rsi: rdi = host address
 * on a hit; a miss jumps to a slow path that runs i in the interpreter.
 * Clobbers rax and the host flags (the caller saved them).  The slow path
 * is finished by probe_done() once the fast path's end is known.
 */
/*
 * A LOCKed operand (or XCHG's) that crosses a 64-byte line goes to the
 * slow path, which runs it in an exclusive section (SMP.md M3): natively
 * it would be a host split lock, which Linux throttles or kills on hosts
 * that detect them.  The guest's offset in the line is the host's (RAM
 * is mapped page for page).  rsi: the guest address; rdi is free.
 */
static void
emit_split_lock_check(struct emit *e, struct slow_path *s,
    const struct insn *i, unsigned size)
{
	bool locked = i->lock || (i->map == 0 && i->mem &&
	    (i->op == 0x86 || i->op == 0x87));

	if (!locked || size < 2 || s->nextra >= 6)
		return;
	b1(e, 0x89); b1(e, 0xf7);                       /* mov edi, esi */
	b1(e, 0x83); b1(e, 0xe7); b1(e, 63);            /* and edi, 63 */
	b1(e, 0x83); b1(e, 0xff); b1(e, 64 - size);     /* cmp edi, 64-n */
	s->extra[s->nextra++] = jcc32(e, 0x7, NULL);    /* ja slow */
}

/*
 * Keep what it takes to make again the flags of an instruction just
 * compiled at start (up to e->p) on host registers alone: ADD and SUB
 * (undone, then done again: the destination ends as it was), CMP and
 * TEST (done again), AND, OR and XOR (TEST of the result, which sets the
 * same flags: CF, OF and AF clear on this host, as alu.c notes).  hr/gr
 * and hm/gm: its reg and r/m operands (host register, guest register).
 */
static void
flags_src_record(struct emit *e, const uint8_t *start, unsigned size,
    int hr, int gr, int hm, int gm)
{
	struct flag_src *f = &e->fsrc;
	const uint8_t *q = start;
	int n = (int)(e->p - start), pre, ext, dst = -1, k;
	bool undo = false, test = false;
	uint8_t o, m, *w = f->code;

	f->at = -1;
	if (n <= 0 || n > 12)
		return;
	if (*q == 0x66)
		q++;
	if ((*q & 0xf0) == 0x40)
		q++;
	pre = (int)(q - start);
	if (pre + 2 > n)
		return;
	o = q[0];
	m = q[1];
	ext = (m >> 3) & 7;
	if ((m >> 6) != 3)
		return;
	if (o <= 0x03 || (o >= 0x28 && o <= 0x2b)) {
		undo = true;
		if (hr == hm)
			return;                 /* ADD r, r: not undone */
	} else if ((o >= 0x38 && o <= 0x3b) || o == 0x84 || o == 0x85 ||
	    ((o == 0xf6 || o == 0xf7) && ext == 0) ||
	    ((o == 0x80 || o == 0x81 || o == 0x83) && ext == 7)) {
		/* done again as it is */
	} else if ((o >= 0x08 && o <= 0x0b) || (o >= 0x20 && o <= 0x23) ||
	    (o >= 0x30 && o <= 0x33)) {
		test = true;
		dst = (o & 2) ? hr : hm;
	} else if (o == 0x80 || o == 0x81 || o == 0x83) {
		if (ext == 0 || ext == 5)
			undo = true;
		else if (ext == 1 || ext == 4 || ext == 6)
			test = true, dst = hm;
		else
			return;
	} else {
		return;
	}
	if (test) {
		unsigned rex = (size == 8 ? 8u : 0) | (dst >= 8 ? 5u : 0);

		if (dst < 0)
			return;
		if (size == 2)
			*w++ = 0x66;
		if (rex || (size == 1 && dst >= 4))
			*w++ = (uint8_t)(0x40 | rex);
		*w++ = size == 1 ? 0x84 : 0x85;
		*w++ = (uint8_t)(0xc0 | (dst & 7) << 3 | (dst & 7));
	} else {
		if (undo) {
			memcpy(w, start, (size_t)n);
			if (o <= 0x03)
				w[pre] = (uint8_t)(o + 0x28);
			else if (o >= 0x28 && o <= 0x2b)
				w[pre] = (uint8_t)(o - 0x28);
			else
				w[pre + 1] = (uint8_t)(m ^ (5 << 3));
			w += n;
		}
		memcpy(w, start, (size_t)n);
		w += n;
	}
	f->n = (int)(w - f->code);
	f->host[0] = (int8_t)hr;
	f->guest[0] = (int8_t)gr;
	f->host[1] = (int8_t)hm;
	f->guest[1] = (int8_t)gm;
	for (k = 0; k < 2; k++) {
		if ((f->host[k] < 0) != (f->guest[k] < 0))
			return;
		f->wgen[k] = f->guest[k] >= 0 ? e->rc_wgen[f->guest[k]] : 0;
	}
	f->at = e->insn_no;
}

/*
 * After instruction e->insn_no, which wrote no flags: the recorded flags
 * are still the guest's if they were before it and it wrote none of the
 * registers they were made from.  Probes after it can then make them
 * again rather than save them (LEA, MOV and SSE moves between a CMP and
 * a load are common).
 */
static void
flags_src_carry(struct emit *e)
{
	struct flag_src *f = &e->fsrc;
	int k;

	if (f->at < 0 || f->at != e->insn_no - 1)
		return;
	for (k = 0; k < 2; k++)
		if (f->guest[k] >= 0 && e->rc_wgen[f->guest[k]] != f->wgen[k])
			return;
	f->at = e->insn_no;
}

/* Is guest register g one the recorded flags were made from? */
static bool
flags_src_uses(const struct emit *e, int g)
{
	return g >= 0 && (e->fsrc.guest[0] == g || e->fsrc.guest[1] == g);
}

/*
 * Can slow path s make the flags of the instruction before this one
 * again?  Only if that one was recorded and the host registers it read
 * still cache the same guest registers (this instruction has changed
 * none yet: its probe comes before it).  Then s keeps the code.
 */
static bool
flags_replay(struct emit *e, struct slow_path *s)
{
	const struct flag_src *f = &e->fsrc;
	int k;

	if (f->at < 0 || f->at != e->insn_no - 1)
		return false;
	for (k = 0; k < 2; k++) {
		int h = f->host[k], g = f->guest[k];

		if (h >= 0 && (e->rc_owner[h] != g || e->rc_host[g] != h))
			return false;
	}
	memcpy(s->replay, f->code, (size_t)f->n);
	s->nreplay = f->n;
	return true;
}

static struct slow_path *
emit_probe(struct emit *e, const struct insn *i, uint64_t rip,
    unsigned size, bool write)
{
	struct slow_path *s = e->nslow > 0 &&
	    e->slow[e->nslow - 1].jcc == NULL &&
	    e->slow[e->nslow - 1].i == i ? &e->slow[e->nslow - 1] :
	    slow_alloc(e);
	int32_t tlb = OFF(tlb) + (e->c->cpl == 3 ?
	    (int32_t)sizeof(e->c->tlb[0]) : 0);

	s->nreplay = 0;
	e->j->probes++;
	if (e->fl == FLS_HOST && e->replay_ok && flags_replay(e, s)) {
		e->j->probes_replay++;
		/* The probe clobbers the flags; the instruction then writes
		 * them whole, or emit_hop makes them again after it; the
		 * slow path makes them again if it needs them. */
		s->fl_probe = FLS_REPLAY;
	} else {
		flags_to_bx(e);
		s->fl_probe = e->fl;
	}
	s->retry = e->p;
	s->size = size;
	s->write = write;
	emit_split_lock_check(e, s, i, size);

	/* rax = index * 32: bits 12.. of the address, shifted by 7 */
	if (e->j->bmi2) {
		/* rorx eax, esi, 7: one instruction for the two */
		b1(e, 0xc4); b1(e, 0xe3); b1(e, 0x7b); b1(e, 0xf0);
		b1(e, 0xc6); b1(e, 12 - 5);
	} else {
		b1(e, 0x89); b1(e, 0xf0);               /* mov eax, esi */
		b1(e, 0xc1); b1(e, 0xe8); b1(e, 12 - 5); /* shr eax, 7 */
	}
	b1(e, 0x25); b4(e, (DBT_TLB_SIZE - 1) << 5);    /* and eax, mask */
	if (size > 1) {
		/* the page of the last byte: a crossing access misses */
		b1(e, 0x48); b1(e, 0x8d); b1(e, 0x7e); b1(e, size - 1);
	} else {
		b1(e, 0x48); b1(e, 0x89); b1(e, 0xf7);  /* mov rdi, rsi */
	}
	b1(e, 0x48); b1(e, 0x81); b1(e, 0xe7); b4(e, 0xfffff000u);
	b1(e, 0x48); b1(e, 0x3b);                       /* cmp rdi, tag_? */
	m_bp_ax1(e, DI, tlb + (write ?
	    (int32_t)offsetof(struct dbt_tlb_entry, tag_w) :
	    (int32_t)offsetof(struct dbt_tlb_entry, tag_r)));
	s->jcc = jcc32(e, 0x5, NULL);                   /* jne slow */
	b1(e, 0x48); b1(e, 0x8b);                       /* mov rdi, addend */
	m_bp_ax1(e, DI, tlb + (int32_t)offsetof(struct dbt_tlb_entry,
	    addend));
	/* rdi = host address, unless the instruction takes [rdi + rsi]
	 * (emit_hop: one instruction less on every hit) */
	if (!e->probe_sib) {
		b1(e, 0x48); b1(e, 0x01); b1(e, 0xf7);  /* add rdi, rsi */
	}
	s->i = i;
	s->rip = rip;
	memcpy(s->rc_host, e->rc_host, sizeof(s->rc_host));
	memcpy(s->rc_dirty, e->rc_dirty, sizeof(s->rc_dirty));
	return s;
}

static void
probe_done(struct emit *e, struct slow_path *s)
{
	s->resume = e->p;
	s->fl_join = e->fl;
}

/*
 * dil = dbt_tlb_fill(c, rsi, size, write, cls), keeping the registers the
 * call may clobber (rdi excepted).  Stack: rsp is 16-aligned at the
 * first push in block code, and 8 off in a fill thunk after its call.
 */
static void
emit_fill_call(struct emit *e, unsigned size, bool write, unsigned cls)
{
	static const uint8_t keep[] = { AX, CX, DX, SI, 8, 9, 10, 11 };
	int n;

	for (n = 0; n < 8; n++) {
		if (keep[n] >= 8)
			b1(e, 0x41);
		b1(e, 0x50 + (keep[n] & 7));            /* push */
	}
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xef);          /* mov rdi, rbp */
	b1(e, 0xba); b4(e, size);                       /* mov edx, size */
	b1(e, 0xb9); b4(e, write);                      /* mov ecx, w */
	b1(e, 0x41); b1(e, 0xb8); b4(e, cls);           /* mov r8d, cls */
	b1(e, 0x48); b1(e, 0xb8);
	b8(e, (uint64_t)(uintptr_t)dbt_tlb_fill);
	b1(e, 0xff); b1(e, 0xd0);                       /* call rax */
	b1(e, 0x89); b1(e, 0xc7);                       /* mov edi, eax */
	for (n = 7; n >= 0; n--) {
		if (keep[n] >= 8)
			b1(e, 0x41);
		b1(e, 0x58 + (keep[n] & 7));            /* pop */
	}
}

/* The fill thunks, shared by every slow path whose access size has one
 * (saving some 50 bytes of code a TLB probe). */
static void
emit_fill_thunks(struct emit *e)
{
	unsigned size, w, cls;

	for (size = 0; size < JIT_FILL_SIZES; size++) {
		for (w = 0; w < 2; w++) {
			for (cls = 0; cls < 2; cls++) {
				e->j->fill[size][w][cls] = e->p;
				/* sub rsp, 8: aligned again for the call */
				b1(e, 0x48); b1(e, 0x83); b1(e, 0xec); b1(e, 8);
				emit_fill_call(e, size, w != 0, cls);
				b1(e, 0x48); b1(e, 0x83); b1(e, 0xc4); b1(e, 8);
				b1(e, 0xc3);                    /* ret */
			}
		}
	}
}

static void emit_jc_lookup(struct emit *e);

/* The helper thunk (emit_call_helper), after the exits it jumps to. */
static void
emit_helper_thunk(struct emit *e)
{
	uint8_t *out;

	e->j->helper = e->p;
	b1(e, 0x48); b1(e, 0x83); b1(e, 0xec); b1(e, 8); /* sub rsp, 8 */
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xef);          /* mov rdi, rbp */
	b1(e, 0x48); b1(e, 0xb8); b8(e, (uint64_t)(uintptr_t)jit_helper_at);
	b1(e, 0xff); b1(e, 0xd0);                       /* call rax */
	b1(e, 0x48); b1(e, 0x83); b1(e, 0xc4); b1(e, 8); /* add rsp, 8 */
	b1(e, 0x85); b1(e, 0xc0);                       /* test eax, eax */
	out = jcc32(e, 0x5, NULL);                      /* jnz out */
	b1(e, 0xc3);                                    /* ret */
	set_rel32(out, e->p);
	/* the return address goes: the block's own stack is exit's */
	b1(e, 0x48); b1(e, 0x83); b1(e, 0xc4); b1(e, 8); /* add rsp, 8 */
	b1(e, 0x83); b1(e, 0xf8); b1(e, 2);             /* cmp eax, 2 */
	jcc32(e, 0x5, e->j->exit_null);                 /* jne exit */
	/* Control went elsewhere (an IRET): the jump cache, as a RET
	 * would, instead of the dispatcher.  The flags from c->rflags,
	 * into rbx as its entries take them; a miss merges them back. */
	flags_mem_to_bx(e);
	ld64(e, CX, OFF(rip));
	emit_jc_lookup(e);
}

/* call target (a thunk in the arena's head) */
static void
call_thunk(struct emit *e, const uint8_t *target)
{
	b1(e, 0xe8);
	set_rel32(e->p, target);
	e->p += 4;
}

/*
 * The sequences slow paths and exit stubs share, called rather than
 * repeated in each (a slow path is some 40 bytes shorter, an exit stub
 * 30): code run on a TLB miss or until an exit is linked.
 */
static void
emit_cold_thunks(struct emit *e)
{
	struct dbt_jit *j = e->j;

	j->merge_ax = e->p;
	flags_merge_ax(e);
	b1(e, 0xc3);
	j->load_fl = e->p;
	flags_load(e);
	b1(e, 0xc3);                    /* ret: the flags stay */
	j->load_bx = e->p;
	flags_mem_to_bx(e);
	b1(e, 0xc3);
	/* rax = the exit record: c->rip = its target, to exit */
	j->exit_x_bx = e->p;
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xc1);          /* mov rcx, rax */
	b1(e, 0x89); b1(e, 0xd8);                       /* mov eax, ebx */
	flags_merge_ax(e);
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xc8);          /* mov rax, rcx */
	j->exit_x = e->p;
	_Static_assert(offsetof(struct dbt_jit_exit, target) < 128,
	    "exit_x reads the target with a disp8");
	b1(e, 0x48); b1(e, 0x8b); b1(e, 0x48);          /* mov rcx, target */
	b1(e, (uint8_t)offsetof(struct dbt_jit_exit, target));
	st64(e, CX, OFF(rip));
	jmp32(e, j->exit);
}

/* The out-of-line slow paths, after the block's body. */
static void
emit_slow_paths(struct emit *e)
{
	int k, g;

	for (k = 0; k < e->nslow; k++) {
		struct slow_path *s = &e->slow[k];
		bool fill = s->nextra == 0 && s->retry != NULL;

		if (s->jcc != NULL)
			set_rel32(s->jcc, e->p);
		while (s->nextra > 0)
			set_rel32(s->extra[--s->nextra], e->p);
		if (fill) {
			/* Most misses are of pages the access may use: a TLB
			 * fill (dbt_tlb_fill, which needs none of the guest's
			 * state and changes none of it) and the probe again. */
			if (s->size < JIT_FILL_SIZES) {
				b1(e, 0xe8);                    /* call fill */
				set_rel32(e->p, e->j->fill[s->size][s->write]
				    [e->c->cpl == 3]);
				e->p += 4;
			} else {
				emit_fill_call(e, s->size, s->write,
				    e->c->cpl == 3);
			}
			b1(e, 0x40); b1(e, 0x84); b1(e, 0xff); /* test dil, dil */
			jcc32(e, 0x5, s->retry);               /* jnz retry */
		}
		/* The handler needs the flags in c->rflags and the cached
		 * registers in c->gpr; the fast path finds both where it
		 * keeps them at the join. */
		if (s->fl_probe == FLS_BX) {
			b1(e, 0x89); b1(e, 0xd8);       /* mov eax, ebx */
			call_thunk(e, e->j->merge_ax);
		} else if (s->fl_probe == FLS_REPLAY) {
			memcpy(e->p, s->replay, (size_t)s->nreplay);
			e->p += s->nreplay;
			b1(e, 0x9f);                    /* lahf */
			b1(e, 0x0f); b1(e, 0x90); b1(e, 0xc0); /* seto al */
			call_thunk(e, e->j->merge_ax);
		}
		for (g = 0; g < 16; g++)
			if (s->rc_host[g] >= 0 && s->rc_dirty[g])
				st64(e, s->rc_host[g], GPR(g));
		{
			const struct insn *hi = s->i;
			uint64_t hrip = s->rip;
			int n;

			for (n = 0; n < (s->count > 1 ? s->count : 1); n++) {
				emit_call_helper(e, hi, hrip);
				hrip += hi->len;
				hi++;
			}
		}
		for (g = 0; g < 16; g++)
			if (s->rc_host[g] >= 0)
				ld64(e, s->rc_host[g], GPR(g));
		if (s->fl_join == FLS_HOST)
			call_thunk(e, e->j->load_fl);
		else if (s->fl_join == FLS_BX)  /* LAHF/SETO form in rbx */
			call_thunk(e, e->j->load_bx);
		if (s->rcx_rip)
			ld64(e, CX, OFF(rip));
		jmp32(e, s->resume);
	}
}

/* ---- operand plumbing ------------------------------------------------------ */

enum {
	FL_NONE = 0,
	FL_W = 1,               /* writes all six arithmetic flags */
	FL_R = 2,               /* reads them, or writes only some */
};

enum { IMM_NONE, IMM_8, IMM_Z, IMM_64 };

enum {
	ISA_BMI1 = 1, ISA_BMI2 = 2, ISA_LZCNT = 4, ISA_POPCNT = 8,
	ISA_MOVBE = 16, ISA_CRC32 = 32, ISA_ADX = 64, ISA_RDRAND = 128,
	ISA_RDSEED = 256,
};

/* A guest instruction re-encoded on host scratch registers. */
struct hop {
	uint8_t opc[3];
	int nopc;
	unsigned size;          /* operand size for the 66 / REX.W prefixes */
	int reg;                /* guest register in ModRM.reg, -1: ext */
	int ext;                /* ModRM.reg when reg < 0 */
	bool reg_byte, rm_byte; /* 8-bit operands (AH..BH rules) */
	bool reg_w;             /* the reg operand is written */
	bool rm_r, rm_w;        /* the r/m operand is read / written */
	int rm_force;           /* r/m is this guest register (AL, imm forms) */
	int flags;              /* FL_* */
	int imm;                /* IMM_* */
	unsigned mem_size;      /* bytes of the memory access */
	bool cl;                /* guest RCX in host rcx (shift counts) */
	bool lockable;          /* LOCK is valid with a memory operand */
	bool reg_nr;            /* the reg operand is written whole, not read */
	uint8_t mpfx;           /* a mandatory prefix (F2, F3, 66) before REX */
	bool dx;                /* guest RDX in host rdx (MULX) */
	bool vex;               /* a VEX prefix, not REX (select_hop_isa) */
	uint8_t vmap, vpp;      /* VEX.mmmmm, VEX.pp */
	int vreg;               /* guest register in VEX.vvvv, -1: none */
	bool vreg_w;            /* it is written (whole), not read */
	bool fl_keep;           /* FL_R only for flags it leaves as they
	                         * were: no result depends on them */
};

/* Guest register g as a byte operand: which slot holds it and whether it
 * is the slot's bits 8-15 (AH, CH, DH, BH without REX). */
static int
byte_slot(const struct insn *i, int g, bool *hi)
{
	*hi = !i->rex && g >= 4 && g < 8;
	return *hi ? g - 4 : g;
}

/* A three-byte VEX prefix for host registers reg, rm (or [rdi + rsi]) and
 * vvvv (-1: none, 1111b); W from the operand size. */
static void
emit_vex3(struct emit *e, const struct hop *h, int hr, int hm, int hv)
{
	b1(e, 0xc4);
	b1(e, (hr >= 8 ? 0u : 0x80u) | 0x40u | (hm >= 8 ? 0u : 0x20u) |
	    h->vmap);
	b1(e, (h->size == 8 ? 0x80u : 0u) |
	    (~(unsigned)(hv >= 0 ? hv : 0) & 15) << 3 | h->vpp);
}

/*
 * The form for AH, CH, DH, BH (no REX): scratch registers rcx/rdx loaded
 * from c->gpr, which the caller made current (rc_sync_one).
 */
static bool
emit_hop_mem(struct emit *e, const struct insn *i, uint64_t rip,
    const struct hop *h)
{
	bool mem = i->mem && h->rm_force < 0;
	int regenc = 0, rmenc = 0, rslot = -1, mslot = -1, k;
	struct slow_path *s = NULL;
	bool hi;

	if (mem) {
		emit_ea(e, i, rip + i->len, true);
		e->probe_sib = true;
		s = emit_probe(e, i, rip, h->mem_size, h->rm_w);
		e->probe_sib = false;
	}
	if (h->flags & FL_R)
		flags_to_host(e);
	/* The reg operand in rcx (or the shift count in cl). */
	if (h->cl)
		ld64(e, CX, GPR(X86_RCX));
	if (h->reg >= 0) {
		rslot = h->reg_byte ? byte_slot(i, h->reg, &hi) : h->reg;
		regenc = CX + (h->reg_byte && hi ? 4 : 0);
		ld64(e, CX, GPR(rslot));
	} else {
		regenc = h->ext;
	}
	if (!mem) {
		int g = h->rm_force >= 0 ? h->rm_force : i->rm;

		mslot = h->rm_byte ? byte_slot(i, g, &hi) : g;
		rmenc = DX + (h->rm_byte && hi ? 4 : 0);
		ld64(e, DX, GPR(mslot));
	}
	if (i->lock && mem)
		b1(e, 0xf0);
	if (h->size == 2)
		b1(e, 0x66);
	if (h->size == 8)
		b1(e, 0x48);
	for (k = 0; k < h->nopc; k++)
		b1(e, h->opc[k]);
	if (mem) {
		b1(e, (unsigned)(regenc & 7) << 3 | 4);         /* SIB: */
		b1(e, SI << 3 | DI);                            /* [rdi+rsi] */
	} else
		b1(e, 0xc0 | (unsigned)(regenc & 7) << 3 | (unsigned)rmenc);
	switch (h->imm) {
	case IMM_8:
		b1(e, (uint8_t)i->imm);
		break;
	case IMM_Z:
		if (h->size == 2) {
			b1(e, (uint8_t)i->imm);
			b1(e, (uint8_t)(i->imm >> 8));
		} else {
			b4(e, (uint32_t)i->imm);
		}
		break;
	default:
		break;
	}
	if (h->reg_w && rslot >= 0)
		st64(e, CX, GPR(rslot));
	if (h->rm_w && mslot >= 0)
		st64(e, DX, GPR(mslot));
	if (h->flags & FL_W)
		e->fl = FLS_HOST;
	if (h->flags & FL_R)
		e->fl = FLS_HOST;
	if (s != NULL)
		probe_done(e, s);
	return true;
}

/*
 * A guest instruction on the register cache: its register operands are
 * the host registers caching them (r8-r15), its memory operand
 * [rdi + rsi] after the probe.  High-byte registers cannot be encoded
 * with the REX prefix r8-r15 need: those go through emit_hop_mem.
 */
static bool
emit_hop(struct emit *e, const struct insn *i, uint64_t rip,
    const struct hop *h)
{
	bool mem = i->mem && h->rm_force < 0, hi_r = false, hi_m = false;
	int gr = -1, gm = -1, hr = -1, hm = -1, hc = -1, k;
	int hd = -1, hv = -1;
	struct slow_path *s = NULL;
	const uint8_t *start;
	unsigned rex;

	if (h->reg >= 0)
		gr = h->reg_byte ? byte_slot(i, h->reg, &hi_r) : h->reg;
	if (!mem) {
		int g = h->rm_force >= 0 ? h->rm_force : i->rm;

		gm = h->rm_byte ? byte_slot(i, g, &hi_m) : g;
	}
	if (hi_r || hi_m) {
		if (gr >= 0 && gm >= 0 && gr == gm && h->reg_w && h->rm_w)
			return false;   /* XCHG AH, AL: the handler */
		if (gr >= 0)
			rc_sync_one(e, gr);
		if (gm >= 0)
			rc_sync_one(e, gm);
		if (h->cl)
			rc_sync_one(e, X86_RCX);
		if (mem || h->cl) {
			/* emit_hop_mem reads these from c->gpr too. */
			if (i->base >= 0 && i->base < 16)
				rc_sync_one(e, i->base);
			if (i->index >= 0)
				rc_sync_one(e, i->index);
		}
		return emit_hop_mem(e, i, rip, h);
	}
	/* Every register first (loads are flag-neutral), then the probe:
	 * nothing is allocated between the probe and its join. */
	if (mem)
		emit_ea_rc(e, i, rip + i->len, true);
	if (h->cl)
		hc = rc_get(e, X86_RCX);
	if (h->dx)
		hd = rc_get(e, X86_RDX);
	if (h->vex && h->vreg >= 0)
		hv = rc_take(e, h->vreg, h->vreg_w && h->vreg != gm);
	/* Nor need an r/m register written whole and not read (MOV r/m32,
	 * r32 included: a 32-bit write clears the upper half). */
	if (gm >= 0)
		hm = rc_take(e, gm, h->rm_w && !h->rm_r && h->size >= 4 &&
		    gm != gr);
	/* A reg operand written whole need not be loaded, unless it is the
	 * r/m operand too (MOV EAX, EAX). */
	if (gr >= 0)
		hr = rc_take(e, gr, h->reg_nr && gr != gm);
	if (mem) {
		/* Flags the instruction overwrites, or leaves alone without
		 * writing a register they were made from, need no saving
		 * if they can be made again (flags_replay). */
		e->replay_ok = !h->cl && !h->vex && (h->flags & FL_R) == 0 &&
		    ((h->flags & FL_W) || (!flags_src_uses(e, h->reg_w ?
		    gr : -1) && !flags_src_uses(e, h->rm_w ? gm : -1)));
		e->probe_sib = true;
		s = emit_probe(e, i, rip, h->mem_size, h->rm_w);
		e->probe_sib = false;
		e->replay_ok = false;
	}
	/* Flags an instruction only passes on (INC's CF) need not be put
	 * back in the host's register when the next one overwrites them
	 * all: the host's are then the guest's but for flags no one reads. */
	if ((h->flags & FL_R) && !(h->fl_keep && flags_dead_after(e, i)))
		flags_to_host(e);
	if (h->cl)
		mov_rr(e, CX, hc);
	if (h->dx)
		mov_rr(e, DX, hd);
	start = e->p;
	if (i->lock && mem)
		b1(e, 0xf0);
	if (h->size == 2)
		b1(e, 0x66);
	if (h->mpfx)
		b1(e, h->mpfx);
	rex = (h->size == 8 ? 8u : 0) | (hr >= 8 ? 4u : 0) |
	    (hm >= 8 ? 1u : 0);
	if (h->vex)
		emit_vex3(e, h, hr, hm, hv);
	else if (rex || (h->size == 1 && (hr >= 4 || hm >= 4)))
		b1(e, 0x40 | rex);
	for (k = 0; k < h->nopc; k++)
		b1(e, h->opc[k]);
	if (mem) {
		b1(e, (unsigned)((hr >= 0 ? hr : h->ext) & 7) << 3 | 4);
		b1(e, SI << 3 | DI);                    /* [rdi + rsi] */
	} else
		b1(e, 0xc0 | (unsigned)((hr >= 0 ? hr : h->ext) & 7) << 3 |
		    (unsigned)(hm & 7));
	switch (h->imm) {
	case IMM_8:
		b1(e, (uint8_t)i->imm);
		break;
	case IMM_Z:
		if (h->size == 2) {
			b1(e, (uint8_t)i->imm);
			b1(e, (uint8_t)(i->imm >> 8));
		} else {
			b4(e, (uint32_t)i->imm);
		}
		break;
	default:
		break;
	}
	if (h->reg_w && gr >= 0)
		rc_dirty(e, gr);
	if (h->rm_w && gm >= 0)
		rc_dirty(e, gm);
	if (h->vex && h->vreg_w)
		rc_dirty(e, h->vreg);
	if (h->flags & (FL_W | FL_R))
		e->fl = FLS_HOST;
	if (s != NULL && s->fl_probe == FLS_REPLAY && !(h->flags & FL_W)) {
		/* The probe clobbered flags this instruction keeps: made
		 * again, from registers it did not write, unless the next
		 * instruction overwrites them. */
		if (!flags_dead_after(e, i)) {
			memcpy(e->p, s->replay, (size_t)s->nreplay);
			e->p += s->nreplay;
		}
		e->fsrc.at = e->insn_no;
	}
	if (!mem && (h->flags & (FL_W | FL_R)) == FL_W && !h->cl)
		flags_src_record(e, start, h->size, hr, gr, hm, gm);
	if (s != NULL)
		probe_done(e, s);
	return true;
}

static void
hop_init(struct hop *h, const struct insn *i, unsigned size, int nopc,
    unsigned o0, unsigned o1)
{
	memset(h, 0, sizeof(*h));
	h->opc[0] = (uint8_t)o0;
	h->opc[1] = (uint8_t)o1;
	h->nopc = nopc;
	h->size = size;
	h->reg = -1;
	h->rm_force = -1;
	h->rm_byte = size == 1;
	h->mem_size = size;
	(void)i;
}

/* ---- instruction selection --------------------------------------------------- */

/*
 * Do SHL, SHR and SAR by a count other than zero leave every arithmetic
 * flag independent of the flags before them on this host?  The SDM
 * leaves AF (and OF past a count of 1) undefined, so a CPU may keep them;
 * this one is the guest's CPU, and where it keeps none a shift by a
 * constant writes all six (FL_W).  Found once (dbt_jit_new).
 */
static bool host_shift_flags_whole;

/* (past the red zone, which the pushes would clobber, as alu.c does) */
#define SHIFT_TRY(insn, fl, v, out)                                     \
	__asm__ volatile("sub $128, %%rsp; push %1; popfq; " insn "; "   \
	    "pushfq; pop %0; add $128, %%rsp"                           \
	    : "=&r"(out), "+r"(fl), "+r"(v) : : "cc", "memory")

static bool
shift_flags_probe(void)
{
	static const uint64_t vals[] = { 0, 1, 0x10, 0x7f, 0x80, 0xff,
	    0x1234, 0x8000000000000001ULL, ~0ULL };
	const uint64_t arith = 0x8d5;   /* OF SF ZF AF PF CF */
	unsigned k, t;

	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++)
		for (t = 0; t < 8; t++) {
			uint64_t out[2], fl, v;
			int w;

			for (w = 0; w < 2; w++) {
				fl = w ? 0x2 | arith : 0x2;
				v = vals[k];
				switch (t) {
				case 0: SHIFT_TRY("shl $1, %2", fl, v, out[w]); break;
				case 1: SHIFT_TRY("shl $3, %2", fl, v, out[w]); break;
				case 2: SHIFT_TRY("shr $1, %2", fl, v, out[w]); break;
				case 3: SHIFT_TRY("shr $5, %k2", fl, v, out[w]); break;
				case 4: SHIFT_TRY("sar $1, %2", fl, v, out[w]); break;
				case 5: SHIFT_TRY("sar $7, %w2", fl, v, out[w]); break;
				case 6: SHIFT_TRY("shlb $9, %b2", fl, v, out[w]); break;
				default: SHIFT_TRY("shrw $17, %w2", fl, v, out[w]); break;
				}
			}
			if ((out[0] ^ out[1]) & arith)
				return false;
		}
	return true;
}

/* FL_* of C0, C1, D0-D3 /r (a shift or rotate, r its ModRM.reg). */
static int
shift_flags(const struct insn *i, unsigned op, unsigned r)
{
	unsigned mask = i->opsize == 8 && (op & 1) ? 63 : 31;

	if (!host_shift_flags_whole || (r != 4 && r != 5 && r != 7))
		return FL_W | FL_R;
	if (op == 0xd0 || op == 0xd1)
		return FL_W;
	if ((op == 0xc0 || op == 0xc1) && ((unsigned)i->imm & mask) != 0)
		return FL_W;
	return FL_W | FL_R;     /* by CL, or by 0: the flags stay */
}

/*
 * Fill h for the integer instructions compiled as themselves; false for
 * everything else (the helper runs it).  64-bit mode only.
 */
static bool
select_hop(const struct insn *i, struct hop *h)
{
	unsigned op = i->op, os = i->opsize, r = i->reg & 7;
	unsigned alu;

	if (i->map == MAP_1B && op < 0x40 && (op & 7) < 6) {
		unsigned form = op & 7, size;

		alu = (op >> 3) & 7;
		size = (form & 1) ? os : 1;
		if (form >= 4) {
			/* AL/eAX, imm: as 80/81 /alu on RAX. */
			hop_init(h, i, size, 1, form == 4 ? 0x80 : 0x81, 0);
			h->ext = (int)alu;
			h->rm_force = X86_RAX;
			h->rm_r = true;
			h->rm_w = alu != 7;
			h->imm = form == 4 ? IMM_8 : IMM_Z;
		} else {
			hop_init(h, i, size, 1, op, 0);
			h->reg = i->reg;
			h->reg_byte = size == 1;
			if (form < 2) {
				h->rm_r = true;
				h->rm_w = alu != 7;
				h->lockable = alu != 7;
			} else {
				h->rm_r = true;
				h->reg_w = alu != 7;
			}
		}
		h->flags = (alu == 2 || alu == 3) ? FL_W | FL_R : FL_W;
		return true;
	}
	if (i->map == MAP_1B) {
		switch (op) {
		case 0x80: case 0x81: case 0x83:
			hop_init(h, i, op == 0x80 ? 1 : os, 1, op, 0);
			h->ext = (int)r;
			h->rm_r = true;
			h->rm_w = r != 7;
			h->lockable = r != 7;
			h->imm = op == 0x81 ? IMM_Z : IMM_8;
			h->flags = (r == 2 || r == 3) ? FL_W | FL_R : FL_W;
			return true;
		case 0x84: case 0x85:
			hop_init(h, i, op == 0x84 ? 1 : os, 1, op, 0);
			h->reg = i->reg;
			h->reg_byte = op == 0x84;
			h->rm_r = true;
			h->flags = FL_W;
			return true;
		case 0xa8: case 0xa9:
			hop_init(h, i, op == 0xa8 ? 1 : os, 1,
			    op == 0xa8 ? 0xf6 : 0xf7, 0);
			h->ext = 0;
			h->rm_force = X86_RAX;
			h->rm_r = true;
			h->imm = op == 0xa8 ? IMM_8 : IMM_Z;
			h->flags = FL_W;
			return true;
		case 0xf6: case 0xf7:
			if (r > 3 || r == 1)
				return false;
			hop_init(h, i, op == 0xf6 ? 1 : os, 1, op, 0);
			h->ext = (int)r;
			h->rm_r = true;
			h->rm_w = r != 0;
			h->lockable = r != 0;
			h->imm = r == 0 ? (op == 0xf6 ? IMM_8 : IMM_Z) :
			    IMM_NONE;
			h->flags = r == 2 ? FL_NONE : FL_W;
			return true;
		case 0xfe: case 0xff:
			if (r > 1)
				return false;
			hop_init(h, i, op == 0xfe ? 1 : os, 1, op, 0);
			h->ext = (int)r;
			h->rm_r = h->rm_w = true;
			h->lockable = true;
			h->flags = FL_W | FL_R;         /* CF kept */
			h->fl_keep = true;
			return true;
		case 0x88: case 0x89:
			hop_init(h, i, op == 0x88 ? 1 : os, 1, op, 0);
			h->reg = i->reg;
			h->reg_byte = op == 0x88;
			h->rm_w = true;
			return true;
		case 0x8a: case 0x8b:
			hop_init(h, i, op == 0x8a ? 1 : os, 1, op, 0);
			h->reg = i->reg;
			h->reg_byte = op == 0x8a;
			h->reg_w = true;
			h->reg_nr = op == 0x8b && os >= 4;
			h->rm_r = true;
			return true;
		case 0xc6: case 0xc7:
			if (r != 0)
				return false;
			hop_init(h, i, op == 0xc6 ? 1 : os, 1, op, 0);
			h->ext = 0;
			h->rm_w = true;
			h->imm = op == 0xc6 ? IMM_8 : IMM_Z;
			return true;
		case 0x86: case 0x87:
			hop_init(h, i, op == 0x86 ? 1 : os, 1, op, 0);
			h->reg = i->reg;
			h->reg_byte = op == 0x86;
			h->reg_w = true;
			h->rm_r = h->rm_w = true;
			h->lockable = true;
			return true;
		case 0x63:
			hop_init(h, i, os, 1, op, 0);
			h->reg = i->reg;
			h->reg_w = true;
			h->reg_nr = os >= 4;
			h->rm_r = true;
			h->mem_size = 4;
			return true;
		case 0x69: case 0x6b:
			hop_init(h, i, os, 1, op, 0);
			h->reg = i->reg;
			h->reg_w = true;
			h->reg_nr = os >= 4;
			h->rm_r = true;
			h->imm = op == 0x69 ? IMM_Z : IMM_8;
			h->flags = FL_W | FL_R;
			h->fl_keep = true;      /* SF, ZF, AF, PF kept here */
			return true;
		case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2:
		case 0xd3:
			if (r == 6)
				return false;
			hop_init(h, i, (op & 1) ? os : 1, 1, op, 0);
			h->ext = (int)r;
			h->rm_r = h->rm_w = true;
			h->imm = op <= 0xc1 ? IMM_8 : IMM_NONE;
			h->cl = op >= 0xd2;
			h->flags = shift_flags(i, op, r);
			h->fl_keep = r != 2 && r != 3;  /* not RCL, RCR */
			return true;
		default:
			return false;
		}
	}
	if (i->map == MAP_0F) {
		if (op >= 0x40 && op <= 0x4f) {         /* CMOVcc */
			hop_init(h, i, os, 2, 0x0f, op);
			h->reg = i->reg;
			h->reg_w = true;
			h->rm_r = true;
			h->flags = FL_R;
			return true;
		}
		if (op >= 0x90 && op <= 0x9f) {         /* SETcc */
			hop_init(h, i, 1, 2, 0x0f, op);
			h->ext = 0;
			h->rm_w = true;
			h->flags = FL_R;
			return true;
		}
		switch (op) {
		case 0xb6: case 0xbe: case 0xb7: case 0xbf:
			hop_init(h, i, os, 2, 0x0f, op);
			h->reg = i->reg;
			h->reg_w = true;
			h->reg_nr = os >= 4;
			h->rm_r = true;
			h->rm_byte = op == 0xb6 || op == 0xbe;
			h->mem_size = h->rm_byte ? 1 : 2;
			return true;
		case 0xaf:
			hop_init(h, i, os, 2, 0x0f, op);
			h->reg = i->reg;
			h->reg_w = true;
			h->rm_r = true;
			h->flags = FL_W | FL_R;
			h->fl_keep = true;
			return true;
		case 0xbc: case 0xbd:                   /* BSF, BSR */
			hop_init(h, i, os, 2, 0x0f, op);
			h->reg = i->reg;
			h->reg_w = true;
			h->rm_r = true;
			h->flags = FL_W | FL_R;
			return true;
		case 0xa3:                              /* BT r/m, r */
		case 0xab: case 0xb3: case 0xbb:
			if (i->mem)             /* bit strings beyond r/m */
				return false;
			hop_init(h, i, os, 2, 0x0f, op);
			h->reg = i->reg;
			h->rm_r = true;
			h->rm_w = op != 0xa3;
			h->lockable = op != 0xa3;
			h->flags = FL_W | FL_R;
			return true;
		case 0xba:
			if (r < 4)
				return false;
			hop_init(h, i, os, 2, 0x0f, op);
			h->ext = (int)r;
			h->rm_r = true;
			h->rm_w = r != 4;
			h->lockable = r != 4;
			h->imm = IMM_8;
			h->flags = FL_W | FL_R;
			return true;
		case 0xc0: case 0xc1:                   /* XADD */
			hop_init(h, i, op == 0xc0 ? 1 : os, 2, 0x0f, op);
			h->reg = i->reg;
			h->reg_byte = op == 0xc0;
			h->reg_w = true;
			h->rm_r = h->rm_w = true;
			h->lockable = true;
			h->flags = FL_W;
			return true;
		default:
			return false;
		}
	}
	return false;
}

/*
 * The general-purpose extensions (interp-bit.c) compiled as themselves
 * where the host has them (j->isa, from its CPUID at start-up; else the
 * handler runs them): TZCNT, LZCNT, POPCNT, MOVBE, CRC32, ADCX, ADOX,
 * RDRAND, RDSEED and the VEX-encoded BMI1/BMI2.  Their flags are the
 * host's; the interpreter's are this host's too (interp-bit.c).
 */
static bool
select_hop_isa(const struct insn *i, struct hop *h, unsigned isa)
{
	unsigned op = i->op, os = i->opsize, r = i->reg & 7;
	int pfx = dbt_insn_pfx(i);
	bool hi;

	if (i->lock || i->fn == dbt_op_ud)
		return false;
	if (i->map == MAP_0F && (op == 0xbc || op == 0xbd || op == 0xb8) &&
	    pfx == PFX_F3) {
		if (!(isa & (op == 0xb8 ? ISA_POPCNT : op == 0xbc ? ISA_BMI1 :
		    ISA_LZCNT)))
			return false;
		hop_init(h, i, os, 2, 0x0f, op);
		h->mpfx = 0xf3;
		h->reg = i->reg;
		h->reg_w = true;
		h->rm_r = true;
		/* TZCNT and LZCNT keep OF on this host: read. */
		h->flags = op == 0xb8 ? FL_W : FL_W | FL_R;
		return true;
	}
	if (i->map == MAP_0F && op == 0xc7 && !i->mem && (r == 6 || r == 7) &&
	    (pfx == PFX_NONE || pfx == PFX_66)) {
		if (!(isa & (r == 6 ? ISA_RDRAND : ISA_RDSEED)))
			return false;
		hop_init(h, i, os, 2, 0x0f, op);
		h->ext = (int)r;
		h->rm_w = true;
		h->flags = FL_W;
		return true;
	}
	if (i->map == MAP_0F38 && (op == 0xf0 || op == 0xf1)) {
		if (pfx == PFX_F2) {                    /* CRC32 */
			unsigned sz = op == 0xf0 ? 1 : os;

			if (!(isa & ISA_CRC32))
				return false;
			if (sz == 1 && !i->mem && byte_slot(i, i->rm, &hi) >= 0
			    && hi)
				return false;           /* AH..BH */
			hop_init(h, i, sz, 3, 0x0f, 0x38);
			h->opc[2] = (uint8_t)op;
			h->mpfx = 0xf2;
			h->reg = i->reg;
			h->reg_w = true;
			h->rm_r = true;
			return true;
		}
		if (!(isa & ISA_MOVBE) || !i->mem ||
		    (pfx != PFX_NONE && pfx != PFX_66))
			return false;
		hop_init(h, i, os, 3, 0x0f, 0x38);      /* MOVBE */
		h->opc[2] = (uint8_t)op;
		h->reg = i->reg;
		if (op == 0xf0) {
			h->reg_w = true;
			h->reg_nr = os >= 4;
			h->rm_r = true;
		} else {
			h->rm_w = true;
		}
		return true;
	}
	if (i->map == MAP_0F38 && op == 0xf6 &&
	    (pfx == PFX_66 || pfx == PFX_F3)) {         /* ADCX, ADOX */
		if (!(isa & ISA_ADX))
			return false;
		hop_init(h, i, (i->rex & 8) ? 8 : 4, 3, 0x0f, 0x38);
		h->opc[2] = 0xf6;
		h->mpfx = pfx == PFX_66 ? 0x66 : 0xf3;
		h->reg = i->reg;
		h->reg_w = true;
		h->rm_r = true;
		h->flags = FL_W | FL_R;
		return true;
	}
	if (i->map != MAP_VEX_0F38 && i->map != MAP_VEX_0F3A)
		return false;
	hop_init(h, i, os, 1, op, 0);
	h->vex = true;
	h->vmap = (uint8_t)(i->map & 3);
	h->vpp = (uint8_t)(pfx == PFX_66 ? 1 : pfx == PFX_F3 ? 2 :
	    pfx == PFX_F2 ? 3 : 0);
	h->vreg = i->vvvv;
	h->reg = i->reg;
	h->reg_w = true;
	/* Written whole unless it is the vvvv source too. */
	h->reg_nr = i->reg != i->vvvv;
	h->rm_r = true;
	if (i->map == MAP_VEX_0F3A) {                   /* RORX */
		if (op != 0xf0 || !(isa & ISA_BMI2) || i->vvvv != 0)
			return false;
		h->vreg = -1;
		h->imm = IMM_8;
		return true;
	}
	switch (op) {
	case 0xf2:                                      /* ANDN */
	case 0xf7:                      /* BEXTR; SHLX SARX SHRX */
		if (!(isa & (op == 0xf2 || pfx == PFX_NONE ? ISA_BMI1 :
		    ISA_BMI2)))
			return false;
		h->flags = pfx == PFX_NONE ? FL_W : FL_NONE;
		return true;
	case 0xf3:                      /* BLSR, BLSMSK, BLSI: vvvv = f(rm) */
		if (!(isa & ISA_BMI1))
			return false;
		h->reg = -1;
		h->ext = (int)r;
		h->reg_w = h->reg_nr = false;
		h->vreg_w = true;
		h->flags = FL_W;
		return true;
	case 0xf5:                      /* BZHI; PDEP, PEXT */
		if (!(isa & ISA_BMI2))
			return false;
		h->flags = pfx == PFX_NONE ? FL_W : FL_NONE;
		return true;
	case 0xf6:                      /* MULX hi:reg, lo:vvvv = rDX * rm */
		if (!(isa & ISA_BMI2))
			return false;
		h->dx = true;
		h->reg_nr = true;
		h->vreg_w = true;
		return true;
	}
	return false;
}

/* The extensions of select_hop_isa the host has (CPUID). */
static unsigned
host_isa(void)
{
	unsigned a, b, c, d, isa = 0;

	if (__get_cpuid(1, &a, &b, &c, &d)) {
		isa |= (c & 1u << 20 ? ISA_CRC32 : 0) |
		    (c & 1u << 22 ? ISA_MOVBE : 0) |
		    (c & 1u << 23 ? ISA_POPCNT : 0) |
		    (c & 1u << 30 ? ISA_RDRAND : 0);
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		isa |= (b & 1u << 3 ? ISA_BMI1 : 0) |
		    (b & 1u << 8 ? ISA_BMI2 : 0) |
		    (b & 1u << 18 ? ISA_RDSEED : 0) |
		    (b & 1u << 19 ? ISA_ADX : 0);
	}
	if (__get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & 1u << 5))
		isa |= ISA_LZCNT;
	return isa;
}

/* Both operands written and held in one guest register (XCHG AH, AL):
 * the two stores would clobber each other. */
static bool
hop_same_slot(const struct insn *i, const struct hop *h)
{
	bool hi;
	int rs, ms, g = h->rm_force >= 0 ? h->rm_force : i->rm;

	if (h->reg < 0 || !h->reg_w || !h->rm_w)
		return false;
	rs = h->reg_byte ? byte_slot(i, h->reg, &hi) : h->reg;
	ms = h->rm_byte ? byte_slot(i, g, &hi) : g;
	return rs == ms;
}

/* ---- whole instructions ------------------------------------------------------- */

static void
emit_lea(struct emit *e, const struct insn *i, uint64_t rip)
{
	unsigned os = i->opsize;
	int hd;

	emit_ea_rc(e, i, rip + i->len, false);
	hd = rc_take(e, i->reg, os >= 4);
	if (os == 2)
		b1(e, 0x66);
	/* mov hd, rsi (64 or 32 bits: the 32-bit form zero-extends) */
	b1(e, (os == 8 ? 0x48 : 0x40) | (hd >= 8 ? 1 : 0));
	b1(e, 0x89);
	b1(e, 0xc0 | SI << 3 | (unsigned)(hd & 7));
	rc_dirty(e, i->reg);
}

/* MOV r, imm (B0-BF). */
static void
emit_mov_imm(struct emit *e, const struct insn *i)
{
	int g = i->opreg, hd;

	if (i->op < 0xb8) {
		bool hi;
		int slot = byte_slot(i, g, &hi);

		if (hi) {
			rc_sync_one(e, slot);
			b1(e, 0xc6); m_bp(e, 0, GPR(slot) + 1);
			b1(e, (uint8_t)i->imm);
			return;
		}
		hd = rc_get(e, slot);
		b1(e, 0x40 | (hd >= 8 ? 1 : 0));
		b1(e, 0xb0 + (hd & 7));
		b1(e, (uint8_t)i->imm);
		rc_dirty(e, slot);
	} else if (i->opsize == 2) {
		hd = rc_get(e, g);
		b1(e, 0x66);
		b1(e, 0x40 | (hd >= 8 ? 1 : 0));
		b1(e, 0xb8 + (hd & 7));
		b1(e, (uint8_t)i->imm);
		b1(e, (uint8_t)(i->imm >> 8));
		rc_dirty(e, g);
	} else {
		uint64_t v = i->opsize == 4 ? i->imm & 0xffffffffULL : i->imm;

		hd = rc_take(e, g, true);
		if (v <= 0xffffffffULL) {
			b1(e, 0x40 | (hd >= 8 ? 1 : 0));   /* mov r32, imm32 */
			b1(e, 0xb8 + (hd & 7));
			b4(e, (uint32_t)v);
		} else if (fits32((int64_t)v)) {
			b1(e, 0x48 | (hd >= 8 ? 1 : 0));   /* mov r64, simm32 */
			b1(e, 0xc7);
			b1(e, 0xc0 + (hd & 7));
			b4(e, (uint32_t)v);
		} else {
			b1(e, 0x48 | (hd >= 8 ? 1 : 0));
			b1(e, 0xb8 + (hd & 7));
			b8(e, v);
		}
		rc_dirty(e, g);
	}
}

/* mov [rdi], r64 and mov r64, [rdi]. */
static void
st_rdi(struct emit *e, int r)
{
	b1(e, 0x48 | (r >= 8 ? 4 : 0)); b1(e, 0x89);
	b1(e, (unsigned)(r & 7) << 3 | DI);
}

static void
ld_rdi(struct emit *e, int r)
{
	b1(e, 0x48 | (r >= 8 ? 4 : 0)); b1(e, 0x8b);
	b1(e, (unsigned)(r & 7) << 3 | DI);
}

/* PUSH r64 / imm (64-bit stack; SS has base 0 in 64-bit mode). */
static void
emit_push(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	int hs, hv = -1;

	hs = rc_get(e, X86_RSP);
	if (i->op >= 0x50 && i->op <= 0x57)
		hv = rc_get(e, i->opreg);
	lea_disp(e, SI, hs, -8);
	s = emit_probe(e, i, rip, 8, true);
	if (hv < 0) {
		mov_imm64(e, CX, i->imm);       /* 68 / 6A: sign-extended */
		hv = CX;
	}
	st_rdi(e, hv);                          /* old RSP for PUSH RSP */
	mov_rr(e, hs, SI);
	rc_dirty(e, X86_RSP);
	probe_done(e, s);
}

/*
 * PUSH r/m64 from memory (FF /6; the kernel's entry code pushes per-CPU
 * values through GS): two probes, the load's and the store's, before
 * anything changes, so that either slow path can run the whole
 * instruction.  The address is computed with the RSP of before the push.
 */
static void
emit_push_mem(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *ld, *st;
	int hs = rc_get(e, X86_RSP);

	emit_ea_rc(e, i, rip + i->len, true);
	ld = emit_probe(e, i, rip, 8, false);
	ld_rdi(e, CX);
	lea_disp(e, SI, hs, -8);
	st = emit_probe(e, i, rip, 8, true);
	st_rdi(e, CX);
	mov_rr(e, hs, SI);
	rc_dirty(e, X86_RSP);
	probe_done(e, ld);
	probe_done(e, st);
}

/* Is i a PUSH r64 (pop: POP r64) a run of them can take, RSP aside? */
static bool
stack_run_insn(const struct insn *i, bool pop)
{
	unsigned base = pop ? 0x58 : 0x50;

	return i->map == MAP_1B && i->op >= base && i->op <= base + 7 &&
	    i->opsize == 8 && i->rep == REP_NONE && !i->lock &&
	    i->opreg != X86_RSP;
}

/* How many instructions from b->insns[k] make a run of PUSHes or POPs
 * (at most 6: their registers and RSP stay pinned). */
static int
stack_run(const struct dbt_block *b, int k, bool *pop)
{
	int n;

	*pop = b->insns[k].op >= 0x58;
	for (n = 0; k + n < b->n && n < 6; n++)
		if (!stack_run_insn(&b->insns[k + n], *pop))
			break;
	return n;
}

/*
 * n PUSH r64 (or POP r64) in a row, the prologue and epilogue of most
 * functions: one probe for the 8n bytes instead of one each.  When they
 * are not all on one mapped page the slow path runs the n instructions
 * one by one through their handlers, so faults stay precise.
 */
static void
emit_stack_run(struct emit *e, int k, int n, bool pop)
{
	const struct insn *i = &e->b->insns[k];
	struct slow_path *s;
	int hs, hr[6], j;
	uint64_t rip = e->b->lin;

	for (j = 0; j < k; j++)
		rip += e->b->insns[j].len;
	memset(e->rc_pin, 0, sizeof(e->rc_pin));
	e->insn_no += n;
	hs = rc_get(e, X86_RSP);
	for (j = 0; j < n; j++)
		hr[j] = pop ? rc_take(e, i[j].opreg, true) :
		    rc_get(e, i[j].opreg);
	if (pop)
		mov_rr(e, SI, hs);
	else
		lea_disp(e, SI, hs, -8 * n);
	s = emit_probe(e, i, rip, 8u * (unsigned)n, !pop);
	s->count = n;
	for (j = 0; j < n; j++) {
		/* push j goes to 8 (n - 1 - j) above the new RSP; pop j
		 * reads 8 j above the old one. */
		int32_t off = 8 * (pop ? j : n - 1 - j);
		int r = hr[j];

		b1(e, 0x48 | (r >= 8 ? 4 : 0)); b1(e, pop ? 0x8b : 0x89);
		if (off == 0) {
			b1(e, (unsigned)(r & 7) << 3 | DI);
		} else {
			b1(e, 0x40 | (unsigned)(r & 7) << 3 | DI);
			b1(e, (uint8_t)off);
		}
	}
	if (pop)
		lea_disp(e, hs, SI, 8 * n);
	else
		mov_rr(e, hs, SI);
	rc_dirty(e, X86_RSP);
	for (j = 0; j < n; j++)
		if (pop)
			rc_dirty(e, i[j].opreg);
	probe_done(e, s);
	e->j->native_insns += (uint64_t)n;
}

static void
emit_pop(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	int hs, hd;

	hs = rc_get(e, X86_RSP);
	hd = rc_take(e, i->opreg, true);
	mov_rr(e, SI, hs);
	s = emit_probe(e, i, rip, 8, false);
	ld_rdi(e, CX);
	lea_disp(e, hs, SI, 8);
	mov_rr(e, hd, CX);                      /* after RSP: POP RSP */
	rc_dirty(e, X86_RSP);
	rc_dirty(e, i->opreg);
	probe_done(e, s);
}

/*
 * Indirect branch to the guest RIP in rcx (already stored in c->rip):
 * through the jump cache straight into the target's code, or to the
 * dispatcher on a miss.  Only for transfers that keep the mode and the
 * mapping (RET, near indirect JMP/CALL, a direct exit not linked).
 * miss: where the three rel32 fields of the miss jumps go (NULL: to the
 * dispatcher with c->rip set).
 */
static void
emit_jc_lookup_miss(struct emit *e, uint8_t **miss)
{
	int32_t jc = OFF(jc);
	uint8_t *to = miss != NULL ? NULL : e->j->exit_jc_miss;
	uint8_t *f[3];

	if (e->j->bmi2) {
		/* rorx rax, rcx, 12: its low bits are those of rcx >> 12,
		 * the only ones the mask keeps */
		b1(e, 0xc4); b1(e, 0xe3); b1(e, 0xfb); b1(e, 0xf0);
		b1(e, 0xc1); b1(e, 12);
	} else {
		b1(e, 0x48); b1(e, 0x89); b1(e, 0xc8);  /* mov rax, rcx */
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe8); b1(e, 12); /* shr */
	}
	b1(e, 0x31); b1(e, 0xc8);                       /* xor eax, ecx */
	_Static_assert(DBT_JC_SIZE == 65536, "jc mask is movzx's");
	b1(e, 0x0f); b1(e, 0xb7); b1(e, 0xc0);          /* movzx eax, ax */
	b1(e, 0xc1); b1(e, 0xe0); b1(e, 5);             /* shl eax, 5 */
	/* cmp rcx, [rbp + rax + jc + lin] */
	b1(e, 0x48); b1(e, 0x3b); b1(e, 0x8c); b1(e, 0x05);
	b4(e, (uint32_t)(jc + (int32_t)offsetof(struct dbt_jc_entry, lin)));
	f[0] = jcc32(e, 0x5, to);
	/* The mode and the generation, in one: mov rdi, [rbp + mode_key]
	 * (jc_gen follows it, as gen follows mode_key in an entry); cmp
	 * rdi, [rbp + rax + jc + mode_key].  The vCPU's mode is the
	 * block's: whatever changes it ends the block. */
	_Static_assert(offsetof(struct dbt_cpu, jc_gen) ==
	    offsetof(struct dbt_cpu, mode_key) + 4, "mode_key, jc_gen");
	_Static_assert(offsetof(struct dbt_jc_entry, gen) ==
	    offsetof(struct dbt_jc_entry, mode_key) + 4, "mode_key, gen");
	b1(e, 0x48); b1(e, 0x8b); m_bp(e, DI, OFF(mode_key));
	b1(e, 0x48); b1(e, 0x3b); b1(e, 0xbc); b1(e, 0x05);
	b4(e, (uint32_t)(jc + (int32_t)offsetof(struct dbt_jc_entry,
	    mode_key)));
	f[1] = jcc32(e, 0x5, to);
	f[2] = f[1];            /* (callers patch three) */
	/* jmp [rbp + rax + jc + code] */
	b1(e, 0xff); b1(e, 0xa4); b1(e, 0x05);
	b4(e, (uint32_t)(jc + (int32_t)offsetof(struct dbt_jc_entry, code)));
	if (miss != NULL)
		memcpy(miss, f, sizeof(f));
}

static void
emit_jc_lookup(struct emit *e)
{
	emit_jc_lookup_miss(e, NULL);
}

/* A direct exit to guest target: a patchable jmp (or jcc) whose stub
 * stores RIP and returns the exit record to the dispatcher. */
static struct dbt_jit_exit *
new_exit(struct emit *e, uint64_t target)
{
	struct dbt_jit_exit *x = &e->b->jit_exit[e->b->jit_nexits++];

	memset(x, 0, sizeof(*x));
	x->from = e->b;
	x->target = target;
	x->xidx = -1;
	memset(x->rmap, -1, sizeof(x->rmap));
	return x;
}

/*
 * While x is not linked: back to the dispatcher with the record, which
 * links the target if it can.  A target on another page that cannot be
 * linked (its page is not global) is then reached through the jump
 * cache, by a second stub the refusal points x at: linking is tried
 * first, so an exit whose target is already in the jump cache still
 * gets its link when there is one to make.
 */
static void
emit_stub_part(struct emit *e, struct dbt_jit_exit *x, bool jc)
{
	uint8_t *miss[3];
	int k;

	if (x->fl_host) {
		b1(e, 0x9f);                            /* lahf */
		b1(e, 0x0f); b1(e, 0x90); b1(e, 0xc0);  /* seto al */
		b1(e, 0x89); b1(e, 0xc3);               /* mov ebx, eax */
	}
	if (jc) {
		set_rip(e, x->target);
		/* The jump cache's entries take the flags in rbx. */
		if (!x->fl_bx && !x->fl_host)
			flags_mem_to_bx(e);
		mov_imm64(e, CX, x->target);
		emit_jc_lookup_miss(e, miss);
		for (k = 0; k < 3; k++)
			set_rel32(miss[k], e->p);
	}
	/* Unlinked: RIP and the flags go where the dispatcher looks for
	 * them (exit_x_bx merges them from rbx). */
	b1(e, 0x48); b1(e, 0xb8); b8(e, (uint64_t)(uintptr_t)x);
	jmp32(e, x->fl_bx || x->fl_host || jc ? e->j->exit_x_bx :
	    e->j->exit_x);
}

static void
emit_stub(struct emit *e, struct dbt_jit_exit *x)
{
	x->stub = e->p;
	set_rel32(x->disp, x->stub);
	emit_stub_part(e, x, false);
	if ((x->target ^ e->b->lin) & ~0xfffULL) {
		x->stub_jc = e->p;
		emit_stub_part(e, x, true);
	}
}

static void
emit_jmp_exit(struct emit *e, uint64_t target)
{
	struct dbt_jit_exit *x;

	/* Flags left where they are: in the host's flags register, the
	 * stub or the link code saves them if the target needs them
	 * (link_entry); rbx or c->rflags otherwise. */
	rc_flush(e);
	x = new_exit(e, target);
	x->fl_host = e->fl == FLS_HOST;
	x->fl_bx = e->fl == FLS_BX;
	memcpy(x->rmap, e->rc_host, sizeof(x->rmap));
	x->disp = jmp32_patchable(e);
	emit_stub(e, x);
}

/*
 * Jcc.  A block goes on along the fall-through path, with the flags still
 * in the host and the registers still cached; the taken side leaves
 * through a side exit emitted after the body (emit_side_exits).
 */
/*
 * Does i write all six flags so that a zero result leaves ZF and PF set
 * and the rest clear?  CMP and SUB (equal operands: no borrow, no
 * overflow, AF clear) and TEST (CF, OF clear; AF clear on this host, as
 * flags_src_record takes it too).
 */
static bool
flags_zero_on_equal(const struct insn *i)
{
	unsigned ext = i->reg & 7;

	if (i->lock)
		return false;
	if (i->map != MAP_1B)
		return false;
	if ((i->op >= 0x38 && i->op <= 0x3d) || (i->op >= 0x28 &&
	    i->op <= 0x2d) || i->op == 0x84 || i->op == 0x85 ||
	    i->op == 0xa8 || i->op == 0xa9)
		return true;
	if (i->op >= 0x80 && i->op <= 0x83 && i->op != 0x82)
		return ext == 7 || ext == 5;
	return (i->op == 0xf6 || i->op == 0xf7) && ext <= 1;
}

static void
emit_jcc(struct emit *e, const struct insn *i, uint64_t rip, bool last)
{
	uint64_t next = rip + i->len;
	struct side_exit *x = &e->side[e->nside++];

	flags_to_host(e);
	x->target = next + i->imm;
	memcpy(x->rc_host, e->rc_host, sizeof(x->rc_host));
	memcpy(x->rc_dirty, e->rc_dirty, sizeof(x->rc_dirty));
	x->jcc = jcc32(e, i->op & 0xf, NULL);
	if (last)
		emit_jmp_exit(e, next);
	/* A Jcc changes no register: the flags it read can still be made
	 * again after it (CMP, JNE, then a probe). */
	if (e->fsrc.at == e->insn_no - 1)
		e->fsrc.at = e->insn_no;
	/* Past a JNE that follows a CMP, SUB or TEST the result was zero:
	 * the flags are those of CMP EAX, EAX whatever the operands, a
	 * memory one included. */
	if (!last && (i->op & 0xf) == 5 && i > e->b->insns &&
	    flags_zero_on_equal(i - 1)) {
		static const uint8_t cmp_eax[2] = { 0x39, 0xc0 };

		memcpy(e->fsrc.code, cmp_eax, sizeof(cmp_eax));
		e->fsrc.n = (int)sizeof(cmp_eax);
		memset(e->fsrc.host, -1, sizeof(e->fsrc.host));
		memset(e->fsrc.guest, -1, sizeof(e->fsrc.guest));
		e->fsrc.at = e->insn_no;
	}
}

static void
emit_side_exits(struct emit *e)
{
	struct dbt_jit_exit *xe;
	int k, g;

	for (k = 0; k < e->nside; k++) {
		struct side_exit *x = &e->side[k];

		set_rel32(x->jcc, e->p);
		/* The Jcc had the flags in the host: they stay there. */
		for (g = 0; g < 16; g++)
			if (x->rc_host[g] >= 0 && x->rc_dirty[g])
				st64(e, x->rc_host[g], GPR(g));
		xe = new_exit(e, x->target);
		xe->fl_host = true;
		memcpy(xe->rmap, x->rc_host, sizeof(xe->rmap));
		xe->disp = jmp32_patchable(e);
		emit_stub(e, xe);
	}
}

static void
emit_call_rel(struct emit *e, const struct insn *i, uint64_t rip)
{
	uint64_t next = rip + i->len;
	struct slow_path *s;
	int hs = rc_get(e, X86_RSP);

	lea_disp(e, SI, hs, -8);
	s = emit_probe(e, i, rip, 8, true);
	mov_imm64(e, CX, next);
	st_rdi(e, CX);
	mov_rr(e, hs, SI);
	rc_dirty(e, X86_RSP);
	probe_done(e, s);
	/* The slow path ran the whole CALL: it leaves through exit_null
	 * unless the target is the next instruction, which this is too. */
	emit_jmp_exit(e, next + i->imm);
}

/* RET (C3, C2 iw): pop the target, on through the jump cache. */
static void
emit_ret(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	int hs = rc_get(e, X86_RSP);

	mov_rr(e, SI, hs);
	s = emit_probe(e, i, rip, 8, false);
	ld_rdi(e, CX);
	lea_disp(e, hs, SI, 8 + (int32_t)(i->op == 0xc2 ?
	    (i->imm & 0xffff) : 0));
	rc_dirty(e, X86_RSP);
	/* The target stays in rcx (a miss stores it in c->rip); a slow
	 * path that comes back has run the RET and loads it from there. */
	s->rcx_rip = true;
	probe_done(e, s);
	flags_all_to_bx(e);
	rc_flush(e);
	emit_jc_lookup(e);
}

/*
 * Near indirect CALL and JMP (FF /2, FF /4) in 64-bit mode: the target
 * from a register or memory, CALL's return address pushed, then on
 * through the jump cache.  Either probe's slow path runs the whole
 * instruction; nothing of the guest's changes before the last probe.
 */
static void
emit_ind(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s1 = NULL, *s2 = NULL;
	bool call = (i->reg & 7) == 2;
	int hs;

	if (i->mem) {
		emit_ea_rc(e, i, rip + i->len, true);
		s1 = emit_probe(e, i, rip, 8, false);
		ld_rdi(e, CX);
	} else {
		mov_rr(e, CX, rc_get(e, i->rm));
	}
	if (call) {
		hs = rc_get(e, X86_RSP);
		lea_disp(e, SI, hs, -8);
		s2 = emit_probe(e, i, rip, 8, true);
		mov_imm64(e, AX, rip + i->len);
		st_rdi(e, AX);
		mov_rr(e, hs, SI);
		rc_dirty(e, X86_RSP);
	}
	/* The target stays in rcx, as in emit_ret. */
	if (s1 != NULL) {
		s1->rcx_rip = true;
		probe_done(e, s1);
	}
	if (s2 != NULL) {
		s2->rcx_rip = true;
		probe_done(e, s2);
	}
	flags_all_to_bx(e);
	rc_flush(e);
	emit_jc_lookup(e);
}

/* ---- instructions with implicit registers --------------------------------- */

/* RDTSC: the host's TSC plus the vCPU's offset, as dbt_rdtsc(); CR4.TSD
 * at CPL > 0 goes to the handler for its #GP. */
static void
emit_rdtsc(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s = NULL;

	flags_to_mem(e);
	rc_sync_one(e, X86_RAX);
	rc_sync_one(e, X86_RDX);
	if (e->c->cpl != 0) {
		s = new_slow(e, i, rip);
		b1(e, 0xf6); m_bp(e, 0, OFF(cr4)); b1(e, X86_CR4_TSD);
		s->extra[s->nextra++] = jcc32(e, 0x5, NULL);
	}
	b1(e, 0x0f); b1(e, 0x31);                       /* rdtsc */
	b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, 32); /* shl rdx, 32 */
	b1(e, 0x48); b1(e, 0x09); b1(e, 0xd0);          /* or rax, rdx */
	b1(e, 0x48); b1(e, 0x03); m_bp(e, AX, OFF(tsc_offset)); /* add */
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xc2);          /* mov rdx, rax */
	b1(e, 0x48); b1(e, 0xc1); b1(e, 0xea); b1(e, 32); /* shr rdx, 32 */
	b1(e, 0x89); b1(e, 0xc0);                       /* mov eax, eax */
	st64(e, AX, GPR(X86_RAX));
	st64(e, DX, GPR(X86_RDX));
	if (s != NULL)
		probe_done(e, s);
}

/* LEAVE (C9) with a 64-bit operand size: RSP = RBP + 8, RBP = [RBP]. */
static void
emit_leave(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	int hb = rc_get(e, X86_RBP), hs = rc_take(e, X86_RSP, true);

	mov_rr(e, SI, hb);
	s = emit_probe(e, i, rip, 8, false);
	ld_rdi(e, CX);
	lea_disp(e, hs, SI, 8);
	mov_rr(e, hb, CX);
	rc_dirty(e, X86_RSP);
	rc_dirty(e, X86_RBP);
	probe_done(e, s);
}

/* MOV r32/r64, Sreg (8C, register form): the selector, zero-extended. */
static void
emit_mov_from_sreg(struct emit *e, const struct insn *i)
{
	int hd = rc_take(e, i->rm, true);

	/* movzx eax, word [rbp + seg[n].sel] */
	b1(e, 0x0f); b1(e, 0xb7);
	m_bp(e, AX, OFF(seg) + (int32_t)((i->reg & 7) *
	    sizeof(struct x86_seg)) + (int32_t)offsetof(struct x86_seg, sel));
	mov_rr(e, hd, AX);
	rc_dirty(e, i->rm);
}

/* CLI at CPL 0: clear RFLAGS.IF (bit 1 of its second byte). */
static void
emit_cli(struct emit *e)
{
	flags_to_bx(e);
	b1(e, 0x80); m_bp(e, 4, OFF(rflags) + 1);
	b1(e, (uint8_t)~(X86_IF >> 8));                 /* and byte [], ~2 */
}

/*
 * STI at CPL 0, the last instruction of its block (it ends blocks).  When
 * IF was set already it does nothing and the block leaves by a direct
 * exit like any other.  Otherwise it sets IF and the interrupt shadow:
 * with an interrupt pending, back to the run loop, which runs the next
 * instruction on the interpreter and then delivers it; with none, the
 * direct exit, whose linked target has no attention check at its entry,
 * so the next instruction runs before anything raised meanwhile is
 * taken.  The shadow flag then stays set until the next helper or run
 * loop visit, which at worst runs one more instruction first.
 */
static void
emit_sti(struct emit *e, const struct insn *i, uint64_t rip)
{
	uint64_t next = rip + i->len;
	const void *hint = e->c->vm->intc == NULL ? NULL :
	    intc_pending_hint(e->c->vm->intc, e->c->index);
	uint8_t *was_set, *pending = NULL;

	flags_to_bx(e);
	rc_flush(e);
	b1(e, 0xf6); m_bp(e, 0, OFF(rflags) + 1); b1(e, X86_IF >> 8); /* test */
	was_set = jcc32(e, 0x5, NULL);                  /* jnz */
	b1(e, 0x80); m_bp(e, 1, OFF(rflags) + 1); b1(e, X86_IF >> 8); /* or */
	b1(e, 0xc6); m_bp(e, 0, OFF(irq_shadow)); b1(e, 1); /* mov byte */
	if (hint != NULL) {
		mov_imm64(e, AX, (uint64_t)(uintptr_t)hint);
		b1(e, 0x80); b1(e, 0x38); b1(e, 0);     /* cmp byte [rax], 0 */
		pending = jcc32(e, 0x5, NULL);          /* jnz */
	}
	set_rel32(was_set, e->p);
	emit_jmp_exit(e, next);
	if (pending != NULL) {
		set_rel32(pending, e->p);
		set_rip(e, next);
		jmp32(e, e->fl == FLS_BX ? e->j->exit_null_bx :
		    e->j->exit_null);
	}
}

/* CLD, STD: RFLAGS.DF is bit 2 of its second byte (string instructions
 * read it there). */
static void
emit_cld_std(struct emit *e, const struct insn *i)
{
	flags_to_bx(e);
	if (i->op == 0xfc) {
		b1(e, 0x80); m_bp(e, 4, OFF(rflags) + 1);
		b1(e, (uint8_t)~(X86_DF >> 8));         /* and byte [], ~4 */
	} else {
		b1(e, 0x80); m_bp(e, 1, OFF(rflags) + 1);
		b1(e, X86_DF >> 8);                     /* or byte [], 4 */
	}
}

/* PUSHF with a 64-bit operand size: RFLAGS without VM and RF. */
static void
emit_pushf(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	int hs;

	flags_to_mem(e);
	hs = rc_get(e, X86_RSP);
	lea_disp(e, SI, hs, -8);
	s = emit_probe(e, i, rip, 8, true);
	ld64(e, AX, OFF(rflags));
	b1(e, 0x48); b1(e, 0x25);                       /* and rax, imm32 */
	b4(e, (uint32_t)~(X86_VM | X86_RF));
	st_rdi(e, AX);
	mov_rr(e, hs, SI);
	rc_dirty(e, X86_RSP);
	probe_done(e, s);
}

/* Jump to slow path s if the n bytes at linear rsi cross a page (rax). */
static void
str_page_check(struct emit *e, struct slow_path *s)
{
	b1(e, 0x89); b1(e, 0xf0);                       /* mov eax, esi */
	b1(e, 0x25); b4(e, 0xfff);                      /* and eax, 0xfff */
	b1(e, 0x48); b1(e, 0x01); b1(e, 0xd0);          /* add rax, rdx */
	b1(e, 0x48); b1(e, 0x3d); b4(e, 4096);          /* cmp rax, 4096 */
	s->extra[s->nextra++] = jcc32(e, 0x7, NULL);    /* ja slow */
}

/*
 * REP STOS and REP MOVS (64-bit addressing, no FS/GS override, DF clear)
 * within one page of RAM each: the host's own REP STOS/MOVS on the host
 * pages, which has the guest's semantics, overlap included.  Anything
 * else (DF set, a count beyond a page, a page crossed, a TLB miss, MMIO,
 * a page holding code) goes to the handler, which does it in chunks.
 */
static void
emit_rep_str(struct emit *e, const struct insn *i, uint64_t rip)
{
	bool movs = (i->op & 0xfe) == 0xa4;
	unsigned size = (i->op & 1) ? i->opsize : 1;
	int shift = size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
	struct slow_path *s, *s1, *s2;
	uint8_t *done;

	flags_to_mem(e);
	rc_sync_all(e);
	s = new_slow(e, i, rip);
	b1(e, 0xf6); m_bp(e, 0, OFF(rflags) + 1); b1(e, X86_DF >> 8);
	s->extra[s->nextra++] = jcc32(e, 0x5, NULL);    /* DF: slow */
	ld64(e, CX, GPR(X86_RCX));
	b1(e, 0x48); b1(e, 0x85); b1(e, 0xc9);          /* test rcx, rcx */
	done = jcc32(e, 0x4, NULL);                     /* none: done */
	b1(e, 0x48); b1(e, 0x81); b1(e, 0xf9); b4(e, 4096u >> shift);
	s->extra[s->nextra++] = jcc32(e, 0x7, NULL);    /* ja slow */
	b1(e, 0x48); b1(e, 0x89); b1(e, 0xca);          /* mov rdx, rcx */
	if (shift) {
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, (uint8_t)shift);
	}
	s1 = s;
	if (movs) {
		/* The source first: its faults come before the
		 * destination's. */
		ld64(e, SI, GPR(X86_RSI));
		str_page_check(e, s);
		s1 = emit_probe(e, i, rip, 1, false);   /* takes over s */
		b1(e, 0x48); b1(e, 0x89); b1(e, 0xfb);  /* mov rbx, rdi */
	}
	ld64(e, SI, GPR(X86_RDI));
	str_page_check(e, s);
	s2 = emit_probe(e, i, rip, 1, true);
	if (movs) {
		b1(e, 0x48); b1(e, 0x89); b1(e, 0xde);  /* mov rsi, rbx */
	} else {
		ld64(e, AX, GPR(X86_RAX));
	}
	if (size == 2)
		b1(e, 0x66);
	b1(e, 0xf3);
	if (size == 8)
		b1(e, 0x48);
	b1(e, (uint8_t)(i->op));                        /* rep movs/stos */
	if (movs) {
		b1(e, 0x48); b1(e, 0x01); m_bp(e, DX, GPR(X86_RSI));
	}
	b1(e, 0x48); b1(e, 0x01); m_bp(e, DX, GPR(X86_RDI));
	b1(e, 0x48); b1(e, 0xc7); m_bp(e, 0, GPR(X86_RCX)); b4(e, 0);
	set_rel32(done, e->p);
	e->fl = FLS_MEM;
	if (s1 != s)
		probe_done(e, s1);
	probe_done(e, s);
	if (s2 != s && s2 != s1)
		probe_done(e, s2);
}

/*
 * BT, BTS, BTR, BTC m, r (0F A3/AB/B3/BB) with a 32- or 64-bit operand:
 * a bit string, so the element the offset register selects is probed,
 * and the host's instruction runs on a base moved back by the same
 * amount, so that its own offset arithmetic lands on that element.  ZF
 * (unchanged by BT) comes from the guest's flags.
 */
static void
emit_bt_mem(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s;
	bool w = i->opsize == 8;
	int hr;

	emit_ea_rc(e, i, rip + i->len, true);
	flags_to_bx(e);
	hr = rc_get(e, i->reg);
	/* rdx = (offset >> log2(bits)) * bytes, the offset signed */
	if (w) {
		mov_rr(e, DX, hr);
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xfa); b1(e, 6); /* sar rdx,6 */
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, 3); /* shl rdx,3 */
	} else {
		/* movsxd rdx, hr32 */
		b1(e, 0x48 | (hr >= 8 ? 1 : 0)); b1(e, 0x63);
		b1(e, 0xd0 | (hr & 7));
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xfa); b1(e, 5); /* sar rdx,5 */
		b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, 2); /* shl rdx,2 */
	}
	b1(e, 0x48); b1(e, 0x01); b1(e, 0xd6);          /* add rsi, rdx */
	s = emit_probe(e, i, rip, i->opsize, i->op != 0xa3);
	b1(e, 0x48); b1(e, 0x29); b1(e, 0xd7);          /* sub rdi, rdx */
	flags_to_host(e);
	if (i->lock)
		b1(e, 0xf0);
	b1(e, 0x40 | (w ? 8 : 0) | (hr >= 8 ? 4 : 0));
	b1(e, 0x0f); b1(e, i->op);
	b1(e, (unsigned)(hr & 7) << 3 | DI);            /* [rdi], hr */
	e->fl = FLS_HOST;
	probe_done(e, s);
}

/*
 * CMPXCHG8B / CMPXCHG16B m (0F C7 /1): the host's, LOCKed, on the guest's
 * RDX:RAX and RCX:RBX in the host's; a misaligned CMPXCHG16B goes to the
 * handler for its #GP.  Only ZF changes among the flags.
 */
static void
emit_cmpxchg_wide(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s = NULL, *s2;
	bool w = i->opsize == 8;

	flags_to_mem(e);
	rc_sync_all(e);
	emit_ea(e, i, rip + i->len, true);
	if (w) {
		s = new_slow(e, i, rip);
		b1(e, 0x40); b1(e, 0xf6); b1(e, 0xc6); b1(e, 15); /* test sil */
		s->extra[s->nextra++] = jcc32(e, 0x5, NULL);
	}
	s2 = emit_probe(e, i, rip, w ? 16 : 8, true);
	flags_load(e);
	ld64(e, AX, GPR(X86_RAX));
	ld64(e, DX, GPR(X86_RDX));
	ld64(e, CX, GPR(X86_RCX));
	ld64(e, BX, GPR(X86_RBX));
	b1(e, 0xf0);
	if (w)
		b1(e, 0x48);
	b1(e, 0x0f); b1(e, 0xc7); b1(e, 0x0f);          /* cmpxchg [rdi] */
	st64(e, AX, GPR(X86_RAX));
	st64(e, DX, GPR(X86_RDX));
	e->fl = FLS_HOST;
	if (s != NULL && s != s2)
		probe_done(e, s);
	probe_done(e, s2);
}

/* SWAPGS at CPL 0: GS.base and IA32_KERNEL_GS_BASE trade places. */
static void
emit_swapgs(struct emit *e)
{
	int32_t gs = OFF(seg) + (int32_t)(X86_GS * sizeof(struct x86_seg)) +
	    (int32_t)offsetof(struct x86_seg, base);

	ld64(e, AX, gs);
	ld64(e, DX, OFF(kernel_gs_base));
	st64(e, DX, gs);
	st64(e, AX, OFF(kernel_gs_base));
}

/* BSWAP r32/r64 (0F C8+r) on the cached register. */
static void
emit_bswap(struct emit *e, const struct insn *i)
{
	int hd = rc_get(e, i->opreg);

	b1(e, 0x40 | (i->opsize == 8 ? 8 : 0) | (hd >= 8 ? 1 : 0));
	b1(e, 0x0f);
	b1(e, 0xc8 + (hd & 7));
	rc_dirty(e, i->opreg);
}

/* CBW/CWDE/CDQE (98), CWD/CDQ/CQO (99) on the host's rax/rdx. */
static void
emit_cbw(struct emit *e, const struct insn *i)
{
	rc_sync_one(e, X86_RAX);
	rc_sync_one(e, X86_RDX);
	ld64(e, AX, GPR(X86_RAX));
	if (i->op == 0x99)
		ld64(e, DX, GPR(X86_RDX));
	if (i->opsize == 2)
		b1(e, 0x66);
	else if (i->opsize == 8)
		b1(e, 0x48);
	b1(e, i->op);
	st64(e, AX, GPR(X86_RAX));
	if (i->op == 0x99)
		st64(e, DX, GPR(X86_RDX));
}

/*
 * F6/F7 /4 /5 (MUL, IMUL with one operand) and 0F B0/B1 (CMPXCHG): the
 * guest's RAX (and RDX) in the host's, the r/m operand in rbx (MUL) or
 * rdx (CMPXCHG), the CMPXCHG source in rcx.
 */
static void
emit_acc_op(struct emit *e, const struct insn *i, uint64_t rip)
{
	bool cx = i->map == MAP_0F, byte = i->op == 0xf6 || i->op == 0xb0;
	unsigned size = byte ? 1 : i->opsize;
	struct slow_path *s = NULL;
	int rslot = -1, mslot = -1, tmp = cx ? DX : BX, enc;
	bool hi = false;

	rc_sync_all(e);
	if (i->mem) {
		emit_ea(e, i, rip + i->len, true);
		s = emit_probe(e, i, rip, size, cx);
	}
	if (!cx)
		flags_to_host(e);       /* SF ZF AF PF: undefined, as the host */
	ld64(e, AX, GPR(X86_RAX));
	if (!cx)
		ld64(e, DX, GPR(X86_RDX));
	if (cx) {
		rslot = byte ? byte_slot(i, i->reg, &hi) : i->reg;
		enc = CX + (byte && hi ? 4 : 0);
		ld64(e, CX, GPR(rslot));
	} else {
		enc = i->reg & 7;
	}
	if (!i->mem) {
		mslot = byte ? byte_slot(i, i->rm, &hi) : i->rm;
		ld64(e, tmp, GPR(mslot));
	}
	if (i->lock && i->mem)
		b1(e, 0xf0);
	if (size == 2)
		b1(e, 0x66);
	else if (size == 8)
		b1(e, 0x48);
	if (cx)
		b1(e, 0x0f);
	b1(e, i->op);
	if (i->mem)
		b1(e, (unsigned)(enc & 7) << 3 | DI);
	else
		b1(e, 0xc0 | (unsigned)(enc & 7) << 3 |
		    (unsigned)(tmp + (byte && hi ? 4 : 0)));
	st64(e, AX, GPR(X86_RAX));
	if (!cx && !byte)
		st64(e, DX, GPR(X86_RDX));
	if (cx && mslot >= 0)
		st64(e, DX, GPR(mslot));
	e->fl = FLS_HOST;
	if (s != NULL)
		probe_done(e, s);
}

/*
 * DIV r/m32, r/m64 (F7 /6): the host's DIV on rdx:rax, after a check that
 * it cannot fault (RDX below the divisor: the quotient fits and the
 * divisor is not zero); otherwise the handler raises #DE.  The flags are
 * undefined after DIV and left as the host's DIV leaves them.
 */
static void
emit_div(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s = NULL, *chk;
	bool w = i->opsize == 8;

	flags_to_mem(e);
	rc_sync_all(e);
	if (i->mem) {
		emit_ea(e, i, rip + i->len, true);
		s = emit_probe(e, i, rip, i->opsize, false);
		if (w)
			b1(e, 0x48);
		b1(e, 0x8b); b1(e, 0x1f);               /* mov rbx, [rdi] */
	} else {
		ld64(e, BX, GPR(i->rm));
	}
	ld64(e, AX, GPR(X86_RAX));
	ld64(e, DX, GPR(X86_RDX));
	chk = new_slow(e, i, rip);
	if (w)
		b1(e, 0x48);
	b1(e, 0x39); b1(e, 0xda);                       /* cmp rdx, rbx */
	chk->extra[chk->nextra++] = jcc32(e, 0x3, NULL); /* jae */
	if (w)
		b1(e, 0x48);
	b1(e, 0xf7); b1(e, 0xf3);                       /* div rbx */
	st64(e, AX, GPR(X86_RAX));
	st64(e, DX, GPR(X86_RDX));
	e->fl = FLS_HOST;
	probe_done(e, chk);
	if (s != NULL)
		probe_done(e, s);
}

/* ---- SSE ------------------------------------------------------------------ */

/*
 * SSE instructions whose results do not depend on MXCSR: moves, logic,
 * shuffles, integer SIMD.  These run natively on xmm0/xmm1 (the guest's
 * registers are loaded from and stored to its FXSAVE image); arithmetic,
 * compares and conversions, which depend on the guest's rounding and
 * exception masks, stay with fpu.c.  MMX forms touch the x87 state and
 * stay there too.
 */
static bool
sse_mxcsr_free(unsigned op, int pfx)
{
	switch (op) {
	case 0x10: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15:
	case 0x16: case 0x17: case 0x28: case 0x29: case 0x2b: case 0x50:
	case 0x54: case 0x55: case 0x56: case 0x57: case 0xc6:
	case 0x6e: case 0x6f: case 0x7e: case 0x7f: case 0xd6: case 0xe7:
	case 0xf0: case 0xc4: case 0xc5: case 0x70: case 0x71: case 0x72:
	case 0x73:
		return true;
	default:
		break;
	}
	if (pfx != PFX_66)
		return false;
	return (op >= 0x60 && op <= 0x6d) || (op >= 0x74 && op <= 0x76) ||
	    (op >= 0xd1 && op <= 0xd5) || (op >= 0xd7 && op <= 0xe5) ||
	    (op >= 0xe8 && op <= 0xef) || (op >= 0xf1 && op <= 0xf6) ||
	    (op >= 0xf8 && op <= 0xfe);
}

#define XMM(n) (OFF(fx) + 160 + 16 * (int32_t)(n))

static void
movdqu_ld(struct emit *e, int x, int32_t off)
{
	b1(e, 0xf3); b1(e, 0x0f); b1(e, 0x6f); m_bp(e, x, off);
}

static void
movdqu_st(struct emit *e, int x, int32_t off)
{
	b1(e, 0xf3); b1(e, 0x0f); b1(e, 0x7f); m_bp(e, x, off);
}

static bool
emit_sse(struct emit *e, const struct insn *i, uint64_t rip)
{
	const struct sse_op *d = dbt_sse_lookup(i);
	int pfx = dbt_insn_pfx(i);
	bool greg, grm, shift, st;
	struct slow_path *s = NULL;
	unsigned size, regf, rmf;

	/* Without DBT_MODE_SSE (CR0.EM or TS set, or CR4.OSFXSR clear)
	 * fpu.c raises the #UD or #NM. */
	if (d == NULL || i->lock || (d->f & (S_MMX | S_FLAGS | S_NOMODRM)) ||
	    !sse_mxcsr_free(i->op, pfx) || e->b == NULL ||
	    !(e->b->mode_key & DBT_MODE_SSE))
		return false;
	greg = (d->f & S_GREG) != 0;
	grm = (d->f & S_GRM) && !i->mem;
	shift = i->op >= 0x71 && i->op <= 0x73;     /* ModRM.reg: /ext */
	st = (d->f & S_ST) != 0;
	size = ((d->f & S_W8) && (i->rex & 8)) ? 8 : d->size;
	/* A general-register operand is read and written in c->gpr. */
	if (greg)
		rc_sync_one(e, i->reg);
	if (grm)
		rc_sync_one(e, i->rm);
	/* Register forms leave the host flags alone.  A memory operand's
	 * probe makes them again if it can (the instruction writes none,
	 * nor a register), else keeps them in rbx, as the alignment
	 * check does. */
	if (i->mem) {
		emit_ea_rc(e, i, rip + i->len, true);
		if ((d->f & S_A16) && size == 16) {
			flags_to_bx(e);
			s = new_slow(e, i, rip);
			b1(e, 0x40); b1(e, 0xf6); b1(e, 0xc6); b1(e, 15);
			s->extra[s->nextra++] = jcc32(e, 0x5, NULL);
		}
		e->replay_ok = !greg;
		s = emit_probe(e, i, rip, size, st);
		e->replay_ok = false;
	}
	/* Operands: xmm0 = ModRM.reg, xmm1 = ModRM.rm, rcx = a GPR. */
	if (greg)
		ld64(e, CX, GPR(i->reg));
	else if (!shift)
		movdqu_ld(e, 0, XMM(i->reg));
	if (grm)
		ld64(e, CX, GPR(i->rm));
	else if (!i->mem)
		movdqu_ld(e, 1, XMM(i->rm));
	regf = greg ? CX : shift ? (i->reg & 7u) : 0;
	rmf = i->mem ? DI : grm ? CX : 1;
	if (pfx == PFX_66)
		b1(e, 0x66);
	else if (pfx == PFX_F3)
		b1(e, 0xf3);
	else if (pfx == PFX_F2)
		b1(e, 0xf2);
	if (i->rex & 8)
		b1(e, 0x48);
	b1(e, 0x0f);
	b1(e, i->op);
	if (i->mem)
		b1(e, regf << 3 | DI);
	else
		b1(e, 0xc0 | regf << 3 | rmf);
	if (d->f & S_IMM)
		b1(e, (uint8_t)i->imm);
	/* Results: the register operands the instruction writes. */
	if (st || shift) {
		if (grm)
			st64(e, CX, GPR(i->rm));
		else if (!i->mem)
			movdqu_st(e, 1, XMM(i->rm));
	} else if (greg) {
		st64(e, CX, GPR(i->reg));
	} else {
		movdqu_st(e, 0, XMM(i->reg));
	}
	if (s != NULL && s->fl_probe == FLS_REPLAY) {
		/* the flags the probe clobbered, made again (as emit_hop) */
		if (!flags_dead_after(e, i)) {
			memcpy(e->p, s->replay, (size_t)s->nreplay);
			e->p += s->nreplay;
		}
		e->fsrc.at = e->insn_no;
	}
	if (i->mem)
		probe_done(e, s);
	return true;
}

/*
 * SSSE3, SSE4.1, SSE4.2, AES-NI and PCLMULQDQ (sse4.c's table): the XMM
 * forms that neither read MXCSR nor use an implicit general register run
 * natively where the host has the feature, on xmm1 (ModRM.reg), xmm2
 * (ModRM.rm) and xmm0 (the guest's XMM0, BLENDV's mask).  PTEST leaves
 * its flags, all six, in the host's.  PCMPxSTRx (emit_pcmpstr) reads
 * RAX and RDX and writes RCX or XMM0 and the flags.  The MMX forms (x87
 * state) stay with sse4.c.
 */
enum { JS4_SSSE3 = 1, JS4_SSE41 = 2, JS4_SSE42 = 4, JS4_AES = 8,
	JS4_PCLMUL = 16 };

static uint8_t
sse4_host(void)
{
	uint8_t f = 0;

	if (getenv("VMKIT_JIT_NO_SSE4") != NULL)
		return 0;
	if (__builtin_cpu_supports("ssse3"))
		f |= JS4_SSSE3;
	if (__builtin_cpu_supports("sse4.1"))
		f |= JS4_SSE41;
	if (__builtin_cpu_supports("sse4.2"))
		f |= JS4_SSE42;
	if (__builtin_cpu_supports("aes"))
		f |= JS4_AES;
	if (__builtin_cpu_supports("pclmul"))
		f |= JS4_PCLMUL;
	return f;
}

/* The feature i needs; 0: not emitted natively. */
static unsigned
sse4_feature(const struct insn *i)
{
	unsigned op = i->op;

	if (i->map == MAP_0F38) {
		if (op <= 0x0b || (op >= 0x1c && op <= 0x1e))
			return JS4_SSSE3;
		if (op == 0x37)
			return JS4_SSE42;
		if (op >= 0xdb && op <= 0xdf)
			return JS4_AES;
		return JS4_SSE41;
	}
	if (op == 0x0f)
		return JS4_SSSE3;
	if (op == 0x44)
		return JS4_PCLMUL;
	if (op == 0xdf)
		return JS4_AES;
	if (op >= 0x60 && op <= 0x63)
		return JS4_SSE42;               /* PCMPxSTRx */
	return JS4_SSE41;
}

/* PCMPESTRM/I, PCMPISTRM/I: the guest's RAX and RDX in the host's for
 * the explicit lengths, ECX or XMM0 and the flags back. */
static void
emit_pcmpstr(struct emit *e, const struct insn *i, uint64_t rip)
{
	struct slow_path *s = NULL;

	flags_to_mem(e);
	rc_sync_all(e);
	if (i->mem) {
		emit_ea(e, i, rip + i->len, true);
		s = emit_probe(e, i, rip, 16, false);
	}
	movdqu_ld(e, 1, XMM(i->reg));
	if (!i->mem)
		movdqu_ld(e, 2, XMM(i->rm));
	if (i->op < 0x62) {
		ld64(e, AX, GPR(X86_RAX));
		ld64(e, DX, GPR(X86_RDX));
	}
	b1(e, 0x66);
	if (i->rex & 8)
		b1(e, 0x48);
	b1(e, 0x0f); b1(e, 0x3a); b1(e, i->op);
	b1(e, i->mem ? 1 << 3 | DI : 0xc0 | 1 << 3 | 2);
	b1(e, (uint8_t)i->imm);
	if (i->op & 1)
		st64(e, CX, GPR(X86_RCX));
	else
		movdqu_st(e, 0, XMM(0));
	e->fl = FLS_HOST;
	if (s != NULL)
		probe_done(e, s);
}

static bool
emit_sse4(struct emit *e, const struct insn *i, uint64_t rip)
{
	const struct sse_op *d = dbt_sse4_lookup(i);
	struct slow_path *s = NULL;
	unsigned need, size, rmf;
	bool grm, st, fl;

	/* Without DBT_MODE_SSE (CR0.EM or TS set, or CR4.OSFXSR clear)
	 * sse4.c raises the #UD or #NM. */
	if (d == NULL || i->lock || (d->f & S_MMX) || e->b == NULL ||
	    !(e->b->mode_key & DBT_MODE_SSE))
		return false;
	need = sse4_feature(i);
	if (need == 0 || !(e->j->sse4 & need))
		return false;
	if (i->map == MAP_0F3A && i->op >= 0x60 && i->op <= 0x63) {
		emit_pcmpstr(e, i, rip);
		return true;
	}
	grm = (d->f & S_GRM) && !i->mem;
	st = (d->f & S_ST) != 0;
	fl = (d->f & S_FLAGS) != 0;
	size = ((d->f & S_W8) && (i->rex & 8)) ? 8 : d->size;
	/* Register forms leave the host flags alone (PTEST overwrites
	 * them all); a memory operand's checks and probe keep them in rbx,
	 * as emit_sse's do. */
	if (grm)
		rc_sync_one(e, i->rm);
	if (i->mem) {
		flags_to_bx(e);
		emit_ea_rc(e, i, rip + i->len, true);
		if ((d->f & S_A16) && size == 16) {
			s = new_slow(e, i, rip);
			b1(e, 0x40); b1(e, 0xf6); b1(e, 0xc6); b1(e, 15);
			s->extra[s->nextra++] = jcc32(e, 0x5, NULL);
		}
		s = emit_probe(e, i, rip, size, st);
	}
	movdqu_ld(e, 1, XMM(i->reg));
	if (grm)
		ld64(e, CX, GPR(i->rm));
	else if (!i->mem)
		movdqu_ld(e, 2, XMM(i->rm));
	if (i->map == MAP_0F38 && (i->op == 0x10 || i->op == 0x14 ||
	    i->op == 0x15))
		movdqu_ld(e, 0, XMM(0));
	rmf = i->mem ? DI : grm ? CX : 2;
	b1(e, 0x66);
	if (i->rex & 8)
		b1(e, 0x48);
	b1(e, 0x0f);
	b1(e, i->map == MAP_0F38 ? 0x38 : 0x3a);
	b1(e, i->op);
	if (i->mem)
		b1(e, 1 << 3 | DI);
	else
		b1(e, 0xc0 | 1 << 3 | rmf);
	if (d->f & S_IMM)
		b1(e, (uint8_t)i->imm);
	if (st) {
		if (grm)
			st64(e, CX, GPR(i->rm));
	} else if (fl) {
		e->fl = FLS_HOST;
	} else {
		movdqu_st(e, 1, XMM(i->reg));
	}
	if (s != NULL)
		probe_done(e, s);
	return true;
}

/* ---- one block ------------------------------------------------------------ */

static bool
bnd_ok(const struct insn *i)
{
	/* F2 before a branch is the MPX BND prefix, a no-op here. */
	return i->rep == REP_NONE || i->rep == REP_F2;
}

/* Emit instruction k of the block; false once the block has ended. */
static bool
emit_insn(struct emit *e, const struct insn *i, uint64_t rip, bool last)
{
	struct hop h;

	memset(e->rc_pin, 0, sizeof(e->rc_pin));
	e->insn_no++;
	if (i->fn == dbt_op_ud || i->fn == dbt_op_gp0)
		goto helper;
	/* Bisecting aid: VMKIT_JIT_MAX_NATIVE=N compiles only the first N
	 * instructions natively, the rest through their handlers. */
	if (e->j->max_native >= 0 &&
	    e->j->native_insns >= (uint64_t)e->j->max_native)
		goto helper;
	if (i->map == MAP_1B) {
		switch (i->op) {
		case 0xeb: case 0xe9:
			if (i->opsize != 8 || !bnd_ok(i))
				goto helper;
			emit_jmp_exit(e, rip + i->len + i->imm);
			e->j->native_insns++;
			return false;
		case 0xe8:
			if (i->opsize != 8 || !bnd_ok(i))
				goto helper;
			emit_call_rel(e, i, rip);
			e->j->native_insns++;
			return false;
		case 0xc3: case 0xc2:
			if (i->opsize != 8 || !bnd_ok(i))
				goto helper;
			emit_ret(e, i, rip);
			e->j->native_insns++;
			return false;
		default:
			break;
		}
		if ((i->op >= 0x70 && i->op <= 0x7f)) {
			if (!bnd_ok(i))
				goto helper;
			emit_jcc(e, i, rip, last);
			e->j->native_insns++;
			return !last;
		}
	}
	if (i->map == MAP_0F && i->op >= 0x80 && i->op <= 0x8f) {
		if (!bnd_ok(i))
			goto helper;
		emit_jcc(e, i, rip, last);
		e->j->native_insns++;
		return !last;
	}
	/* SSE takes its mandatory prefix from F2/F3/66. */
	if (i->map == MAP_0F && emit_sse(e, i, rip))
		goto carry;
	if ((i->map == MAP_0F38 || i->map == MAP_0F3A) && emit_sse4(e, i, rip))
		goto native;
	if (i->map == MAP_1B && i->op == 0xff && i->opsize == 8 &&
	    ((i->reg & 7) == 2 || (i->reg & 7) == 4) && bnd_ok(i) &&
	    !i->lock) {
		emit_ind(e, i, rip);
		e->j->native_insns++;
		return false;
	}
	if (i->rep != REP_NONE && i->map == MAP_1B && i->addrsize == 8 &&
	    (i->op == 0xaa || i->op == 0xab || i->op == 0xa4 ||
	    i->op == 0xa5) && i->seg != X86_FS && i->seg != X86_GS) {
		emit_rep_str(e, i, rip);
		goto native;
	}
	if (select_hop_isa(i, &h, e->j->isa)) {
		emit_hop(e, i, rip, &h);
		goto native;
	}
	if (i->rep != REP_NONE && !(i->map == MAP_1B && i->op == 0x90))
		goto helper;
	if (i->map == MAP_1B) {
		if (i->op == 0x8d && i->mem) {
			emit_lea(e, i, rip);
			goto carry;
		}
		if (i->op >= 0xb0 && i->op <= 0xbf) {
			emit_mov_imm(e, i);
			goto carry;
		}
		/* NOP; PAUSE too with one vCPU (with several, its handler
		 * ends the turn on the run lock). */
		if (i->op == 0x90 && !(i->rex & 1) &&
		    (i->rep != REP_F3 || e->c->vm->ncpus == 1))
			goto native;
		if (i->opsize == 8 && ((i->op >= 0x50 && i->op <= 0x57) ||
		    i->op == 0x68 || i->op == 0x6a)) {
			emit_push(e, i, rip);
			goto native;
		}
		if (i->opsize == 8 && i->op >= 0x58 && i->op <= 0x5f) {
			emit_pop(e, i, rip);
			goto native;
		}
		if (i->op == 0xff && (i->reg & 7) == 6 && i->opsize == 8 &&
		    i->mem && !i->lock) {
			emit_push_mem(e, i, rip);
			goto native;
		}
	}
	if (i->map == MAP_0F && i->op == 0x1f)
		goto native;                            /* NOP r/m */
	if (i->map == MAP_1B && i->op == 0xc9 && i->opsize == 8) {
		emit_leave(e, i, rip);
		goto native;
	}
	if (i->map == MAP_1B && i->op == 0x8c && !i->mem &&
	    (i->reg & 7) <= X86_GS && i->opsize >= 4) {
		emit_mov_from_sreg(e, i);
		goto native;
	}
	if (i->map == MAP_1B && i->op == 0xfa && e->c->cpl == 0) {
		emit_cli(e);
		goto native;
	}
	if (i->map == MAP_1B && i->op == 0xfb && e->c->cpl == 0 && last) {
		emit_sti(e, i, rip);
		e->j->native_insns++;
		return false;
	}
	if (i->map == MAP_1B && (i->op == 0xfc || i->op == 0xfd)) {
		emit_cld_std(e, i);
		goto native;
	}
	if (i->map == MAP_1B && i->op == 0x9c && i->opsize == 8) {
		emit_pushf(e, i, rip);
		goto native;
	}
	if (i->map == MAP_0F && i->op == 0x18 && i->mem &&
	    (i->reg & 7) < 4)
		goto native;            /* PREFETCHh: a hint, never faults */
	if (i->map == MAP_0F && i->mem && i->opsize >= 4 &&
	    (i->op == 0xa3 || i->op == 0xab || i->op == 0xb3 ||
	    i->op == 0xbb) && (!i->lock || i->op != 0xa3)) {
		emit_bt_mem(e, i, rip);
		goto native;
	}
	if (i->map == MAP_0F && i->op == 0xc7 && i->mem &&
	    (i->reg & 7) == 1 && i->rep == REP_NONE) {
		emit_cmpxchg_wide(e, i, rip);
		goto native;
	}
	if (i->map == MAP_0F && i->op == 0x01 && i->modrm == 0xf8 &&
	    e->c->cpl == 0) {
		emit_swapgs(e);
		goto native;
	}
	if (i->map == MAP_0F && i->op >= 0xc8 && i->op <= 0xcf &&
	    i->opsize != 2) {
		emit_bswap(e, i);       /* (16-bit BSWAP is undefined) */
		goto native;
	}
	if (i->map == MAP_0F && i->op == 0xae && !i->mem &&
	    (i->reg & 7) >= 5) {
		/* LFENCE, MFENCE, SFENCE: the host's own. */
		b1(e, 0x0f); b1(e, 0xae); b1(e, i->modrm | 0xc0);
		goto native;
	}
	if (i->map == MAP_0F && i->op == 0x31) {
		emit_rdtsc(e, i, rip);
		goto native;
	}
	if (i->map == MAP_1B && (i->op == 0x98 || i->op == 0x99)) {
		emit_cbw(e, i);
		goto native;
	}
	if (i->map == MAP_1B && i->op == 0xf7 && (i->reg & 7) == 6 &&
	    i->opsize >= 4 && !i->lock) {
		emit_div(e, i, rip);
		goto native;
	}
	if ((i->map == MAP_1B && (i->op == 0xf6 || i->op == 0xf7) &&
	    ((i->reg & 7) == 4 || (i->reg & 7) == 5)) ||
	    (i->map == MAP_0F && (i->op == 0xb0 || i->op == 0xb1))) {
		bool hi;

		/* CMPXCHG AH, ... style same-slot forms: the handler. */
		if (i->map == MAP_0F && !i->mem &&
		    (i->op == 0xb0 ? byte_slot(i, i->rm, &hi) : i->rm) ==
		    X86_RAX)
			goto helper;
		if (i->map == MAP_1B && i->lock)
			goto helper;
		emit_acc_op(e, i, rip);
		goto native;
	}
	if (select_hop(i, &h)) {
		/* LOCK only with a memory destination (else #UD, which the
		 * decoder's handler choice already says). */
		if (i->lock && (!i->mem || !h.lockable))
			goto helper;
		if (!i->mem && hop_same_slot(i, &h))
			goto helper;
		emit_hop(e, i, rip, &h);
		if ((h.flags & (FL_W | FL_R)) == 0 && !h.cl)
			goto carry;
		goto native;
	}
helper:
	emit_helper_insn(e, i, rip);
	if (i->map == MAP_1B && i->op == 0xff && i->opsize == 8 &&
	    ((i->reg & 7) == 2 || (i->reg & 7) == 4)) {
		/* Near indirect CALL/JMP: the handler set c->rip. */
		flags_mem_to_bx(e);
		ld64(e, CX, OFF(rip));
		emit_jc_lookup(e);
		return false;
	}
	if (dbt_fn_ends_block(i->fn)) {
		/* It may have changed the mode or the mapping: back to the
		 * dispatcher (c->rip is set), never a chained jump. */
		jmp32(e, e->j->exit_null);
		return false;
	}
	return true;
carry:
	/* It wrote no flags: the flags' source may still serve. */
	flags_src_carry(e);
native:
	e->j->native_insns++;
	return true;
}

/* if (c->attn) leave; with several vCPUs taking turns, if
 * (c->jit_budget-- == 0) leave (their turn on the run lock).  exit0[0..1]: the two jumps out. */
static void
emit_attn_check(struct emit *e, uint8_t **exit0)
{
	b1(e, 0x83); m_bp(e, 7, OFF(attn)); b1(e, 0);   /* cmp dword [], 0 */
	exit0[0] = jcc32(e, 0x5, NULL);
	exit0[1] = NULL;
	if (e->c->vm->ncpus > 1 && !e->c->smp_parallel) {
		b1(e, 0x83); m_bp(e, 5, OFF(jit_budget)); b1(e, 1);
		exit0[1] = jcc32(e, 0x2, NULL);         /* jb */
	}
}

/* Instructions retired, counted only for --stats (a read-modify-write
 * of memory in every block otherwise). */
static void
emit_icount(struct emit *e)
{
	if (!e->c->vm->cfg->stats)
		return;
	/* Without touching the host flags: a linked exit may bring the
	 * guest's there (jit_fl_dead). */
	b1(e, 0x48); b1(e, 0x8b); m_bp(e, AX, OFF(icount)); /* mov rax */
	b1(e, 0x48); b1(e, 0x8d); b1(e, 0x40);          /* lea rax, [rax+n] */
	b1(e, (uint8_t)e->b->n);
	b1(e, 0x48); b1(e, 0x89); m_bp(e, AX, OFF(icount)); /* mov [], rax */
}

/*
 * Whether the guest flags are dead where b's register entry starts: the
 * first instruction doing anything with them overwrites all six without
 * reading one, and what comes before it is compiled as itself without
 * touching the host flags (register moves, MOVZX/MOVSX, LEA, MOV imm: no
 * probe, which would save them for its slow path, no helper, no exit).
 * Then a linked exit that holds the flags in the host's flags register
 * enters b without saving them: they stay there until b overwrites them.
 * Anything else, or anything this does not recognize, is "live", which
 * costs the exit a save and nothing more.  It must agree with the order
 * in which emit_insn picks emitters: instructions it takes before
 * select_hop are refused here unless listed.
 */
static bool
flags_dead_at_entry(const struct dbt_block *b)
{
	int k, f;

	for (k = 0; k < b->n; k++) {
		const struct insn *i = &b->insns[k];

		if (i->map == MAP_1B && ((i->op == 0x8d && i->mem) ||
		    (i->op >= 0xb0 && i->op <= 0xbf)) && i->rep == REP_NONE &&
		    !i->lock && i->fn != dbt_op_ud && i->fn != dbt_op_gp0)
			continue;               /* emit_lea, emit_mov_imm */
		f = hop_plain(i);
		if (f == FL_W)
			return true;
		if (f != FL_NONE)
			return false;
	}
	return false;
}

/*
 * The FL_* of i if emit_insn compiles it as a register-only hop on host
 * registers (no probe, no helper, no exit, the host flags touched only
 * as the guest's), else -1.  It must agree with the order in which
 * emit_insn picks emitters: instructions it takes before select_hop are
 * refused here.
 */
static int
hop_plain(const struct insn *i)
{
	struct hop h;
	bool hi = false;

	if (i->fn == dbt_op_ud || i->fn == dbt_op_gp0 ||
	    i->rep != REP_NONE || i->lock)
		return -1;
	if (i->map == MAP_1B && ((i->op == 0x8d && i->mem) ||
	    (i->op >= 0xb0 && i->op <= 0xbf)))
		return -1;                      /* emit_lea, emit_mov_imm */
	if (i->map == MAP_1B && (i->op == 0xf6 || i->op == 0xf7) &&
	    (i->reg & 7) >= 4)
		return -1;                      /* emit_acc_op, emit_div */
	if (i->map == MAP_0F && i->op != 0xb6 && i->op != 0xb7 &&
	    i->op != 0xbe && i->op != 0xbf)
		return -1;                      /* SSE and the rest */
	if (i->map != MAP_1B && i->map != MAP_0F)
		return -1;
	if (!select_hop(i, &h) || hop_same_slot(i, &h) || h.cl)
		return -1;
	if (i->mem && h.rm_force < 0)
		return -1;                      /* a probe */
	if (h.reg >= 0 && h.reg_byte)
		(void)byte_slot(i, h.reg, &hi);
	if (!hi && h.rm_byte)
		(void)byte_slot(i, h.rm_force >= 0 ? h.rm_force : i->rm, &hi);
	if (hi)
		return -1;                      /* emit_hop_mem */
	return h.flags;
}

/*
 * Are the flags dead right after i, which writes none: the next
 * instruction of the block overwrites all six without reading one and
 * with nothing before that (hop_plain)?  Then what a probe of i
 * clobbered need not be made again in the fast path.
 */
static bool
flags_dead_after(const struct emit *e, const struct insn *i)
{
	/* (and the block goes on to it: not past half its room, where
	 * dbt_jit_compile leaves it with an exit) */
	return e->b != NULL && i >= e->b->insns &&
	    i + 1 < e->b->insns + e->b->n && e->j->max_native < 0 &&
	    (size_t)(e->p - e->start) <= JIT_BLOCK_ROOM / 2 &&
	    hop_plain(i + 1) == FL_W;
}

/*
 * The guest registers a block reads before it writes them, in order of
 * first use, up to its first conditional branch (past it, the taken side
 * often leaves).  They are loaded at the block's entry, so that a linked
 * exit can hand them over in host registers (dbt_jit_link) instead of
 * through c->gpr, a store and a load on the path of every value carried
 * from block to block.  Only a guess: a register loaded and not used
 * costs a load, one used and not loaded is loaded where it is used.
 */
static int
preload_scan(const struct dbt_block *b, int8_t *regs, int max)
{
	bool seen[16] = { false };
	int n = 0, k, u;

	for (k = 0; k < b->n && n < max; k++) {
		const struct insn *i = &b->insns[k];
		int use[6], nu = 0, def = -1;
		bool rm3 = i->has_modrm && i->mod == 3, bytes = false;
		bool stop = false, full = i->opsize >= 4;
		unsigned op = i->op;

		if (i->mem && i->base >= 0 && i->base < 16)
			use[nu++] = i->base;
		if (i->mem && i->index >= 0 && i->index < 16)
			use[nu++] = i->index;
		if (i->map == MAP_1B) {
			if ((op < 0x40 && (op & 7) < 4) ||
			    (op >= 0x84 && op <= 0x88) || op == 0x8a) {
				bytes = (op & 1) == 0;
				use[nu++] = i->reg;
				if (rm3)
					use[nu++] = i->rm;
			} else if (op < 0x40 && (op & 7) < 6) {
				use[nu++] = X86_RAX;    /* op al/eax, imm */
			} else if (op == 0x89) {
				use[nu++] = i->reg;
				if (rm3 && full)
					def = i->rm;
				else if (rm3)
					use[nu++] = i->rm;
			} else if (op == 0x8b || op == 0x63 || op == 0x69 ||
			    op == 0x6b) {
				if (rm3)
					use[nu++] = i->rm;
				if (full)
					def = i->reg;
				else
					use[nu++] = i->reg;
			} else if (op == 0x8d) {
				def = full ? i->reg : -1;
			} else if ((op >= 0x80 && op <= 0x83) || op == 0xc0 ||
			    op == 0xc1 || (op >= 0xd0 && op <= 0xd3) ||
			    op == 0xf6 || op == 0xf7 || op == 0xfe ||
			    op == 0xff || op == 0xc6 || op == 0xc7) {
				bytes = (op & 1) == 0;
				if (rm3 && op == 0xc7 && full)
					def = i->rm;
				else if (rm3)
					use[nu++] = i->rm;
				if (op == 0xd2 || op == 0xd3)
					use[nu++] = X86_RCX;
				if ((op == 0xff && (i->reg & 7) == 2) ||
				    ((op == 0xf6 || op == 0xf7) &&
				    (i->reg & 7) >= 4))
					use[nu++] = (op == 0xff) ? X86_RSP :
					    X86_RAX;
			} else if (op >= 0x50 && op <= 0x57) {
				use[nu++] = i->opreg;
				use[nu++] = X86_RSP;
			} else if (op >= 0x58 && op <= 0x5f) {
				use[nu++] = X86_RSP;
				def = i->opreg;
			} else if (op >= 0xb8 && op <= 0xbf) {
				if (full)
					def = i->opreg;
			} else if (op == 0xe8 || op == 0xc3 || op == 0xc2 ||
			    op == 0x68 || op == 0x6a) {
				use[nu++] = X86_RSP;
			} else if (op >= 0x70 && op <= 0x7f) {
				stop = true;
			}
		} else if (i->map == MAP_0F) {
			if (op == 0xb6 || op == 0xb7 || op == 0xbe ||
			    op == 0xbf) {
				bytes = op == 0xb6 || op == 0xbe;
				if (rm3)
					use[nu++] = i->rm;
				if (full)
					def = i->reg;
			} else if ((op >= 0x40 && op <= 0x4f) || op == 0xaf ||
			    op == 0xa3 || op == 0xab || op == 0xb3 ||
			    op == 0xbb || op == 0xbc || op == 0xbd ||
			    op == 0xc0 || op == 0xc1 || op == 0xb1) {
				use[nu++] = i->reg;
				if (rm3)
					use[nu++] = i->rm;
			} else if (op >= 0x80 && op <= 0x8f) {
				stop = true;
			}
		}
		for (u = 0; u < nu && n < max; u++) {
			int g = use[u] & 15;

			/* AH..BH are bits 8-15 of RAX..RBX */
			if (bytes && !i->rex && g >= 4 && g < 8)
				g -= 4;
			if (!seen[g]) {
				seen[g] = true;
				regs[n++] = (int8_t)g;
			}
		}
		if (def >= 0)
			seen[def & 15] = true;
		if (stop)
			break;
	}
	return n;
}

static uint8_t *
alloc_code(struct dbt_jit *j, size_t need)
{
	if (j->used + need > j->size)
		return NULL;
	return j->base + j->used;
}

/*
 * Tell the tools about code just made: VMKIT_JIT_DUMP gets a text line
 * and the bytes (tools/jit-dump.py reads them), VMKIT_JIT_PERFMAP a
 * line of /tmp/perf-PID.map.  A block is named by its guest RIP; the
 * moves of a link (link_entry) by its source block's, with bit 63 set
 * in the dump and "link_" in the map.
 */
static void
jit_note_code(struct dbt_jit *j, const uint8_t *start, const uint8_t *end,
    uint64_t lin, const struct dbt_block *link_from)
{
	uint64_t key = link_from != NULL ? link_from->lin | 1ULL << 63 : lin;

	if (j->dump != NULL) {
		fprintf(j->dump, "block %llx %llx %llx\n",
		    (unsigned long long)key,
		    (unsigned long long)(uintptr_t)start,
		    (unsigned long long)(end - start));
		fwrite(start, 1, (size_t)(end - start), j->dump);
		fputc('\n', j->dump);
	}
	if (j->perfmap != NULL && link_from != NULL)
		fprintf(j->perfmap, "%llx %llx link_%llx_%llx\n",
		    (unsigned long long)(uintptr_t)start,
		    (unsigned long long)(end - start),
		    (unsigned long long)link_from->lin,
		    (unsigned long long)lin);
	else if (j->perfmap != NULL)
		fprintf(j->perfmap, "%llx %llx guest_%llx\n",
		    (unsigned long long)(uintptr_t)start,
		    (unsigned long long)(end - start),
		    (unsigned long long)lin);
}

bool
dbt_jit_compile(struct dbt_cpu *c, struct dbt_block *b)
{
	struct dbt_jit *j = c->jit;
	struct emit e;
	uint8_t *exit0[2], *code_bx, *code_reg;
	struct dbt_jit_exit *x;
	struct timespec t0, t1;
	uint64_t rip = b->lin;
	int8_t pre[16];
	int k, n, npre;
	bool pop;

	if (b->jit_code != NULL)
		return true;
	/* Alignment checking (DBT_MODE_AC) needs the interpreter's memory
	 * path: the inline TLB probe does not check alignment. */
	if (j == NULL || b->jit_failed || !c->long64 ||
	    (b->mode_key & DBT_MODE_AC))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	emit_init(&e);
	e.start = alloc_code(j, JIT_BLOCK_ROOM);
	if (e.start == NULL) {
		/* Full: start over.  b is flushed with the rest.  With the
		 * vCPUs in parallel the run loop does it, alone. */
		if (c->smp_parallel) {
			c->flush_wanted = true;
			return false;
		}
		dbt_blocks_flush(c);
		j->used = j->head;
		j->flushes++;
		return false;
	}
	e.p = e.start;
	e.j = j;
	e.c = c;
	e.b = b;
	b->jit_nexits = 0;
	if (b->jit_exit == NULL)
		b->jit_exit = calloc((size_t)b->n + 1, sizeof(*b->jit_exit));
	if (b->jit_exit == NULL) {
		b->jit_failed = true;
		return false;
	}
	rc_init(&e);
	e.fsrc.at = -1;
	/* The entry from the dispatcher: c->rflags into rbx; linked exits
	 * and the jump cache, which have the flags in rbx, enter after it. */
	flags_mem_to_bx(&e);
	code_bx = e.p;
	e.fl = FLS_BX;
	/* Then the registers preload_scan picked, in r8 up: linked exits
	 * that hand them over in host registers enter after the loads. */
	memset(b->jit_rmap, -1, sizeof(b->jit_rmap));
	npre = preload_scan(b, pre, 6);
	/* Where the exit that brought us here (linked to this block next)
	 * holds them: that link then needs no moves, and a forward one no
	 * code of its own (link_entry). */
	x = c->jit_pending;
	if (x != NULL && x->target == b->lin)
		for (k = 0; k < npre; k++) {
			int h = x->rmap[pre[k]];

			if (h >= 8 && h < 16 && e.rc_owner[h] < 0) {
				e.rc_owner[h] = pre[k];
				e.rc_host[pre[k]] = (int8_t)h;
				ld64(&e, h, GPR(pre[k]));
			}
		}
	for (k = 0; k < npre; k++) {
		int h = rc_get(&e, pre[k]);

		b->jit_rmap[pre[k]] = (int8_t)h;
	}
	/* The attention check: linked exits enter after it, and make it
	 * themselves where they go back (link_entry), which every loop of
	 * linked blocks does somewhere. */
	emit_attn_check(&e, exit0);
	code_reg = e.p;
	emit_icount(&e);
	for (k = 0; k < b->n; k++) {
		const struct insn *i = &b->insns[k];
		bool last = k == b->n - 1;

		if ((size_t)(e.p - e.start) > JIT_BLOCK_ROOM / 2) {
			/* Half the room is body: the rest is for the slow
			 * paths and side exits.  The block's other
			 * instructions run from a block of their own. */
			emit_jmp_exit(&e, rip);
			break;
		}
		if (j->max_native < 0 && (n = stack_run(b, k, &pop)) >= 2) {
			emit_stack_run(&e, k, n, pop);
			for (; n > 0; n--, k++)
				rip += b->insns[k].len;
			k--;
			if (k == b->n - 1)
				emit_jmp_exit(&e, rip);
			continue;
		}
		if (!emit_insn(&e, i, rip, last))
			break;
		rip += i->len;
		if (last) {
			/* Fell off the end (page end, size limit). */
			emit_jmp_exit(&e, rip);
		}
	}
	emit_slow_paths(&e);
	emit_side_exits(&e);
	/* Not entered (attention, budget): RIP is the block's start. */
	b->jit_leave = e.p;
	set_rel32(exit0[0], e.p);
	if (exit0[1] != NULL)
		set_rel32(exit0[1], e.p);
	b1(&e, 0x89); b1(&e, 0xd8);                     /* mov eax, ebx */
	flags_merge_ax(&e);
	set_rip(&e, b->lin);
	jmp32(&e, j->exit_null);
	if ((size_t)(e.p - e.start) > JIT_BLOCK_ROOM || e.slow_full) {
		/* Not expected with the body cut at half the room; refuse
		 * rather than trust memory past the reservation. */
		b->jit_failed = true;
		return false;
	}
	j->used += (size_t)(e.p - e.start);
	j->used = (j->used + 15) & ~(size_t)15;
	b->jit_code = e.start;
	b->jit_code_bx = code_bx;
	b->jit_code_reg = code_reg;
	b->jit_fl_dead = j->max_native < 0 && flags_dead_at_entry(b);
	j->compiled++;
	jit_note_code(j, e.start, e.p, b->lin, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
	    (t1.tv_nsec - t0.tv_nsec));
	return true;
}

/* ---- entering and leaving ------------------------------------------------- */

typedef struct dbt_jit_exit *(*jit_enter_fn)(struct dbt_cpu *c, void *code);

struct dbt_jit_exit *
dbt_jit_run(struct dbt_cpu *c, struct dbt_block *b)
{
	jit_enter_fn enter = (jit_enter_fn)(void *)c->jit->enter;

	return enter(c, b->jit_code);
}

void
dbt_jit_add_cpu(struct dbt_jit *j, struct dbt_cpu *c)
{
	if (j != NULL && j->ncpus < DBT_JIT_MAX_CPUS)
		j->cpus[j->ncpus++] = c;
}

void
dbt_jit_remember(struct dbt_cpu *c, struct dbt_block *b)
{
	unsigned idx = dbt_jc_index(b->lin);
	struct dbt_jc_entry *x = &c->jc[idx];
	int k;

	if (b->jit_code == NULL || !b->valid ||
	    (x->block == b && x->gen == c->jc_gen))
		return;
	if (x->gen == c->jc_gen)
		c->jit->jc_conflicts++;
	x->lin = b->lin;
	x->mode_key = b->mode_key;
	x->gen = c->jc_gen;
	x->code = b->jit_code_bx;       /* the flags come in rbx */
	x->block = b;
	c->jit->jc_fills++;
	for (k = 0; k < b->npages; k++) {
		unsigned bit = (unsigned)((b->lin >> 12) + (unsigned)k) %
		    DBT_JC_SIZE;

		c->jc_pages[bit / 64] |= 1ULL << (bit % 64);
	}
	/* A slot a CR3 load must empty: unless the block lies in one page
	 * whose translation (still in the TLB from the fetch) is global. */
	if ((b->npages != 1 || !dbt_tlb_global(c, b->lin)) &&
	    !(c->jc_logged[idx / 64] & (1ULL << (idx % 64))) &&
	    c->jc_nlog <= DBT_JC_SIZE) {
		if (c->jc_nlog < DBT_JC_SIZE)
			c->jc_log[c->jc_nlog] = (uint16_t)idx;
		c->jc_nlog++;
		c->jc_logged[idx / 64] |= 1ULL << (idx % 64);
	}
}

struct dbt_block *
dbt_jit_exit_from(const struct dbt_jit_exit *x)
{
	return x->from;
}

/*
 * Where a linked exit x enters `to`: its register entry, through a few
 * moves, made here once per exit and target and kept in the arena, that
 * put the registers x leaves in host registers where `to` expects them
 * (a parallel move: rax breaks cycles) and load the rest from c->gpr,
 * which x left current.  NULL: no room, enter the ordinary way.
 */
static uint8_t *
link_entry(struct dbt_cpu *c, struct dbt_jit_exit *x, struct dbt_block *to)
{
	struct dbt_jit *j = c->jit;
	int from[16], memg[16], g, h, h2;
	bool back = to->lin <= x->from->lin;
	/* Flags in the host's flags register that to needs in rbx: saved
	 * here.  Those to overwrites first stay where they are. */
	bool save = x->fl_host && !to->jit_fl_dead;
	bool fl_host = x->fl_host && to->jit_fl_dead;
	bool need = (!x->fl_bx && !x->fl_host) || save || back;
	bool pending, blocked, progress;
	struct emit e;
	uint8_t *leave[2], *nf_leave = NULL;

	if (to->jit_code_reg == NULL)
		return NULL;
	if (x->trans != NULL && x->trans_to == to->jit_code_reg) {
		j->reg_links++;
		return x->trans;
	}
	if (fl_host)
		j->links_flhost++;
	/* from[h]: the host register whose value goes to h, -1 for
	 * c->gpr[memg[h]], -2 for nothing to do */
	for (h = 0; h < 16; h++)
		from[h] = -2;
	for (g = 0; g < 16; g++) {
		h = to->jit_rmap[g];
		if (h < 0 || x->rmap[g] == h)
			continue;
		from[h] = x->rmap[g] >= 0 ? x->rmap[g] : -1;
		memg[h] = g;
		need = true;
	}
	j->reg_links++;
	if (!need)
		return to->jit_code_reg;
	if (j->used + 256 > j->size)
		return NULL;
	emit_init(&e);
	e.start = e.p = j->base + j->used;
	e.j = j;
	e.c = c;
	if (back && fl_host && e.c->vm->ncpus > 1 && !e.c->smp_parallel) {
		/* The turn budget's check below clobbers them. */
		save = true;
		fl_host = false;
	}
	if (save) {
		b1(&e, 0x9f);                           /* lahf */
		b1(&e, 0x0f); b1(&e, 0x90); b1(&e, 0xc0); /* seto al */
		b1(&e, 0x89); b1(&e, 0xc3);             /* mov ebx, eax */
	} else if (!x->fl_bx && !x->fl_host) {
		/* the flags from c->rflags into rbx, as the entry does */
		b1(&e, 0x0f); b1(&e, 0xb7); m_bp(&e, 0, OFF(rflags));
		b1(&e, 0x66); b1(&e, 0xc1); b1(&e, 0xc0); b1(&e, 8);
		b1(&e, 0x24); b1(&e, 0x08);
		b1(&e, 0xc0); b1(&e, 0xe8); b1(&e, 3);
		b1(&e, 0x89); b1(&e, 0xc3);
	}
	if (back && fl_host) {
		/* A way back: the attention check the entry skips, here
		 * without touching the flags (mov ecx, [attn]; jrcxz), and
		 * out through a save of them into rbx (nf_leave, below). */
		b1(&e, 0x8b); m_bp(&e, CX, OFF(attn));
		b1(&e, 0xe3); b1(&e, 5);                /* jrcxz +5 */
		b1(&e, 0xe9); nf_leave = e.p; b4(&e, 0); /* jmp nf_leave */
	} else if (back) {
		/* A way back: the attention check the entry skips.  The
		 * registers are all in c->gpr: leave through to's own. */
		emit_attn_check(&e, leave);
		set_rel32(leave[0], to->jit_leave);
		if (leave[1] != NULL)
			set_rel32(leave[1], to->jit_leave);
	}
	for (;;) {
		pending = progress = false;
		for (h = 8; h < 16; h++) {
			if (from[h] < 0)
				continue;
			pending = true;
			blocked = false;
			for (h2 = 8; h2 < 16; h2++)
				if (h2 != h && from[h2] == h)
					blocked = true;
			if (!blocked) {
				mov_rr(&e, h, from[h]);
				from[h] = -2;
				progress = true;
			}
		}
		if (!pending)
			break;
		if (!progress) {
			/* every move waits for another: a cycle */
			for (h = 8; from[h] < 0; h++)
				;
			mov_rr(&e, AX, h);
			for (h2 = 8; h2 < 16; h2++)
				if (from[h2] == h)
					from[h2] = AX;
		}
	}
	for (h = 8; h < 16; h++)
		if (from[h] == -1)
			ld64(&e, h, GPR(memg[h]));
	jmp32(&e, to->jit_code_reg);
	if (nf_leave != NULL) {
		set_rel32(nf_leave, e.p);
		b1(&e, 0x9f);                           /* lahf */
		b1(&e, 0x0f); b1(&e, 0x90); b1(&e, 0xc0); /* seto al */
		b1(&e, 0x89); b1(&e, 0xc3);             /* mov ebx, eax */
		jmp32(&e, to->jit_leave);
	}
	jit_note_code(j, e.start, e.p, to->lin, x->from);
	j->used += (size_t)(e.p - e.start);
	j->used = (j->used + 15) & ~(size_t)15;
	x->trans = e.start;
	x->trans_to = to->jit_code_reg;
	j->trans_made++;
	return e.start;
}

void
dbt_jit_link(struct dbt_cpu *c, struct dbt_jit_exit *x, struct dbt_block *to)
{
	struct dbt_block *from = x->from;

	struct dbt_jit *j = c->jit;
	bool cross = ((to->lin ^ from->lin) & ~0xfffULL) != 0;
	uint8_t *entry;

	if (x->to != NULL || to->jit_code == NULL || !to->valid ||
	    !from->valid || to->lin != x->target ||
	    to->mode_key != from->mode_key)
		return;
	/* To another page only where its translation is global (kernel
	 * code): that holds until a flush that also empties the jump
	 * cache, which unlinks these (dbt_jc_flush).  This assumes, as
	 * every OS arranges, that a global page maps the same on all vCPUs
	 * (a guest that breaks it runs its own other code, no one else's). */
	if (cross) {
		if (to->npages != 1 || !dbt_tlb_global(c, to->lin)) {
			if (x->stub_jc != NULL)
				patch_rel32(x->disp, x->stub_jc);
			return;
		}
		if (j->nxlinks == j->capxlinks) {
			size_t cap = j->capxlinks ? 2 * j->capxlinks : 1024;
			struct dbt_jit_exit **n = realloc(j->xlinks,
			    cap * sizeof(*n));

			if (n == NULL)
				return;
			j->xlinks = n;
			j->capxlinks = cap;
		}
		x->xidx = (int)j->nxlinks;
		j->xlinks[j->nxlinks++] = x;
		j->xlinks_made++;
	}
	entry = link_entry(c, x, to);
	if (entry == NULL && x->fl_host) {
		/* No room for the code that saves the flags: not linked (the
		 * arena is about to be flushed anyway). */
		if (x->xidx >= 0) {
			j->nxlinks--;
			x->xidx = -1;
		}
		return;
	}
	patch_rel32(x->disp, entry != NULL ? entry :
	    x->fl_bx ? to->jit_code_bx : to->jit_code);
	x->to = to;
	x->in_next = to->jit_in;
	x->in_pprev = &to->jit_in;
	if (to->jit_in != NULL)
		to->jit_in->in_pprev = &x->in_next;
	to->jit_in = x;
	c->jit->links++;
}

static void
unlink_exit(struct dbt_jit *j, struct dbt_jit_exit *x)
{
	if (x->to == NULL)
		return;
	if (x->xidx >= 0) {
		struct dbt_jit_exit *last = j->xlinks[--j->nxlinks];

		j->xlinks[x->xidx] = last;
		last->xidx = x->xidx;
		x->xidx = -1;
	}
	*x->in_pprev = x->in_next;
	if (x->in_next != NULL)
		x->in_next->in_pprev = x->in_pprev;
	patch_rel32(x->disp, x->stub);
	x->to = NULL;
	x->in_next = NULL;
	x->in_pprev = NULL;
}

void
dbt_jit_unlink_cross(struct dbt_jit *j)
{
	while (j->nxlinks > 0)
		unlink_exit(j, j->xlinks[j->nxlinks - 1]);
}

/* The deferred arena-full flush (parallel vCPUs), in an exclusive
 * section, under tb_lock. */
void
dbt_jit_flush_arena(struct dbt_cpu *c)
{
	struct dbt_jit *j = c->jit;

	if (j == NULL)
		return;
	dbt_blocks_flush(c);
	j->used = j->head;
	j->flushes++;
}

void
dbt_jit_forget(struct dbt_cpu *c, struct dbt_block *b)
{
	struct dbt_jit *j = c->jit;
	unsigned idx = dbt_jc_index(b->lin);
	int k;

	for (k = 0; j != NULL && k < j->ncpus; k++) {
		struct dbt_jc_entry *x = &j->cpus[k]->jc[idx];

		/* Only the generation (SMP.md M8): one 4-byte store, so a
		 * vCPU reading the slot meanwhile misses or finds the old,
		 * still mapped code, never a torn entry. */
		if (x->block == b)
			__atomic_store_n(&x->gen, 0, __ATOMIC_RELEASE);
	}
	while (b->jit_in != NULL)
		unlink_exit(j, b->jit_in);
	for (k = 0; k < b->jit_nexits; k++)
		unlink_exit(j, &b->jit_exit[k]);
}

/*
 * The trampoline: enter(c, code) saves rbp, rbx, r12-r15, aligns the
 * stack for helper calls, sets rbp = c and jumps to code; exit restores
 * them and returns rax.
 */
static void
emit_trampoline(struct dbt_jit *j)
{
	struct emit e;

	emit_init(&e);
	e.p = e.start = j->base;
	e.j = j;
	j->enter = e.p;
	b1(&e, 0x55);                           /* push rbp */
	b1(&e, 0x53);                           /* push rbx */
	b1(&e, 0x41); b1(&e, 0x54);             /* push r12 */
	b1(&e, 0x41); b1(&e, 0x55);             /* push r13 */
	b1(&e, 0x41); b1(&e, 0x56);             /* push r14 */
	b1(&e, 0x41); b1(&e, 0x57);             /* push r15 */
	b1(&e, 0x48); b1(&e, 0x83); b1(&e, 0xec); b1(&e, 8); /* sub rsp, 8 */
	b1(&e, 0x48); b1(&e, 0x89); b1(&e, 0xfd);        /* mov rbp, rdi */
	b1(&e, 0xff); b1(&e, 0xe6);                      /* jmp rsi */
	e.p = (uint8_t *)(((uintptr_t)e.p + 15) & ~(uintptr_t)15);
	/* A jump-cache miss: the target in rcx becomes c->rip here, so
	 * that RET and indirect jumps need not store it on every hit. */
	j->exit_jc_miss = e.p;
	st64(&e, CX, OFF(rip));
	j->exit_null_bx = e.p;
	b1(&e, 0x89); b1(&e, 0xd8);                      /* mov eax, ebx */
	flags_merge_ax(&e);
	j->exit_null = e.p;
	b1(&e, 0x31); b1(&e, 0xc0);                      /* xor eax, eax */
	j->exit = e.p;
	b1(&e, 0x48); b1(&e, 0x83); b1(&e, 0xc4); b1(&e, 8); /* add rsp, 8 */
	b1(&e, 0x41); b1(&e, 0x5f);
	b1(&e, 0x41); b1(&e, 0x5e);
	b1(&e, 0x41); b1(&e, 0x5d);
	b1(&e, 0x41); b1(&e, 0x5c);
	b1(&e, 0x5b);
	b1(&e, 0x5d);
	b1(&e, 0xc3);
	emit_fill_thunks(&e);
	emit_helper_thunk(&e);
	emit_cold_thunks(&e);
	j->head = (size_t)(((uintptr_t)e.p + 63 - (uintptr_t)j->base) &
	    ~(uintptr_t)63);
	j->used = j->head;
}

struct dbt_jit *
dbt_jit_new(size_t cache_size)
{
	struct dbt_jit *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->size = cache_size ? cache_size : JIT_DEFAULT_CACHE;
	if (j->size < 4 * JIT_BLOCK_ROOM)
		j->size = 4 * JIT_BLOCK_ROOM;
	/* Not on huge pages (unless VMKIT_THP=1): the arena is written
	 * front to back as blocks are compiled, and a 2 MiB page zeroed
	 * (and compacted for) at its first write cost 0.3-0.9 s of host
	 * system time a boot on the nested host, more than its TLB gain. */
	j->base = vmem_alloc(j->size, PROT_READ | PROT_WRITE | PROT_EXEC,
	    false);
	if (j->base == NULL) {
		free(j);
		return NULL;
	}
	emit_trampoline(j);
	j->bmi2 = __builtin_cpu_supports("bmi2") &&
	    getenv("VMKIT_JIT_NO_BMI2") == NULL;
	j->sse4 = sse4_host();
	host_shift_flags_whole = shift_flags_probe();
	/* VMKIT_JIT_NO_ISA=1: the guest's extensions through their
	 * handlers (for comparison and the difftest). */
	j->isa = getenv("VMKIT_JIT_NO_ISA") == NULL ? host_isa() : 0;
	if (getenv("VMKIT_JIT_PERFMAP") != NULL) {
		char path[64];

		/* perf's convention for JIT symbols: it names samples in
		 * generated code by the guest RIP of their block. */
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
		j->perfmap = fopen(path, "w");
		if (j->perfmap != NULL)
			setvbuf(j->perfmap, NULL, _IOLBF, 0);
	}
	if (getenv("VMKIT_JIT_DUMP") != NULL)
		j->dump = fopen(getenv("VMKIT_JIT_DUMP"), "w");
	if (getenv("VMKIT_JIT_PROFILE") != NULL)
		j->profile = calloc(4 * 256 * 8, sizeof(*j->profile));
	j->max_native = getenv("VMKIT_JIT_MAX_NATIVE") ?
	    atol(getenv("VMKIT_JIT_MAX_NATIVE")) : -1;
	return j;
}

void
dbt_jit_free(struct dbt_jit *j)
{
	if (j == NULL)
		return;
	vmem_free(j->base, j->size);
	if (j->perfmap != NULL)
		fclose(j->perfmap);
	if (j->dump != NULL)
		fclose(j->dump);
	free(j->profile);
	free(j->xlinks);
	free(j);
}

void
dbt_jit_stats(struct dbt_jit *j, char *buf, size_t len)
{
	if (j == NULL) {
		snprintf(buf, len, "translator off");
		return;
	}
	snprintf(buf, len, "%llu blocks compiled in %.1f ms, code cache "
	    "%.1f of %.0f MiB (%llu flushes), %llu links (%llu to global "
	    "pages, %llu handing registers over, %llu through moves made for it, %llu with the flags left in the host's), %llu jump-cache fills (%llu replacing another block), "
	    "%llu instructions native, %llu through the interpreter, "
	    "%llu TLB probes (%llu saving no flags)",
	    (unsigned long long)j->compiled, (double)j->ns / 1e6,
	    (double)j->used / 1048576.0, (double)j->size / 1048576.0,
	    (unsigned long long)j->flushes, (unsigned long long)j->links,
	    (unsigned long long)j->xlinks_made,
	    (unsigned long long)j->reg_links,
	    (unsigned long long)j->trans_made,
	    (unsigned long long)j->links_flhost,
	    (unsigned long long)j->jc_fills,
	    (unsigned long long)j->jc_conflicts,
	    (unsigned long long)j->native_insns,
	    (unsigned long long)j->helper_insns,
	    (unsigned long long)j->probes,
	    (unsigned long long)j->probes_replay);
	if (j->profile != NULL) {
		size_t n = strlen(buf);
		int k, m, best;

		/* The ten opcodes (and ModRM.reg, as /N) run most often
		 * through the interpreter. */
		for (m = 0; m < 10 && n < len; m++) {
			best = -1;
			for (k = 0; k < 4 * 256 * 8; k++)
				if (j->profile[k] && (best < 0 ||
				    j->profile[k] > j->profile[best]))
					best = k;
			if (best < 0)
				break;
			n += (size_t)snprintf(buf + n, len - n,
			    "%s%s%02x/%d:%llu",
			    m ? " " : "; through the interpreter: ",
			    (best >> 11) == 0 ? "" : (best >> 11) == 1 ? "0f" :
			    (best >> 11) == 2 ? "0f38" : "0f3a",
			    (best >> 3) & 0xff, best & 7,
			    (unsigned long long)j->profile[best]);
			j->profile[best] = 0;
		}
	}
}
