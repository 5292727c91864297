/*
 * The DBT's internal contract, shared by its files (dbt/ only).
 *
 * Shape (shared/DESIGN.md 5):
 *   decode.c      one table-driven decoder: bytes -> struct insn, once per
 *                 translated block, for every mode.
 *   interp*.c     the reference semantics: one handler per instruction,
 *                 void fn(struct dbt_cpu *, const struct insn *).
 *   mmu.c         segmentation + paging + a soft TLB; every guest memory
 *                 access goes through dbt_read* / dbt_write*.
 *   exc.c         exceptions and interrupts: dbt_raise() records the event
 *                 and longjmps to the run loop, which delivers it.
 *   task.c        hardware task switches (TSS, task gates, IRET with NT).
 *   sys.c, seg.c  system instructions, far transfers, call gates,
 *                 virtual-8086 mode; descriptors and segment loads.
 *   block.c       the block cache: decoded blocks keyed by physical address
 *                 and mode; invalidated by writes to their pages (SMC).
 *   dbt.c         the back end ops and the run loop.
 *   The translator tier (later) compiles blocks to host code and calls the
 *   same handlers for whatever it does not translate.
 *
 * Handler contract: on entry c->rip is the instruction's address and
 * c->next_rip = rip + len.  A handler that transfers control sets
 * c->next_rip.  After the handler returns, the loop commits
 * c->rip = c->next_rip.  A fault longjmps out with c->rip still at the
 * faulting instruction and no architectural state changed by it (handlers
 * read all operands and check before writing).
 *
 * Flags: c->rflags always holds the architectural value (no lazy flags in
 * the interpreter).  Arithmetic flags are computed by running the same
 * instruction on the host (guest ISA == host ISA), so even the flags the
 * SDM leaves undefined match the real CPU.
 */
#ifndef VM_DBT_DBT_INT_H
#define VM_DBT_DBT_INT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/x86-state.h"
#include "mem/mem.h"

struct vm;
struct vcpu;
struct dbt_cpu;
struct insn;
struct dbt_block;
struct dbt_hx;
struct dbt_jit;
struct dbt_jit_exit;

typedef void (*dbt_fn)(struct dbt_cpu *c, const struct insn *i);

/* ---- decoded instruction ---------------------------------------------- */

enum insn_map { MAP_1B = 0, MAP_0F = 1, MAP_0F38 = 2, MAP_0F3A = 3,
	/* VEX-encoded (C4/C5): MAP_VEX | VEX.mmmmm, apart from the legacy
	 * maps, so a table line for one never matches the other. */
	MAP_VEX = 4, MAP_VEX_0F = 5, MAP_VEX_0F38 = 6, MAP_VEX_0F3A = 7 };
enum insn_rep { REP_NONE = 0, REP_F3 = 1, REP_F2 = 2 };
#define INSN_BASE_NONE (-1)
#define INSN_BASE_RIP 16    /* RIP-relative: base is next_rip */

struct insn {
	dbt_fn fn;              /* the handler, or dbt_op_ud */
	uint8_t len;            /* 1..15 */
	uint8_t map;            /* enum insn_map */
	uint8_t op;             /* opcode byte within map */
	uint8_t opsize;         /* 2, 4 or 8 (byte forms are implied by op) */
	uint8_t addrsize;       /* 2, 4 or 8 */
	uint8_t seg;            /* enum x86_sreg for the memory operand */
	uint8_t seg_override;   /* 1 if a segment prefix was given */
	uint8_t rep;            /* enum insn_rep (last of F2/F3) */
	uint8_t lock;
	uint8_t pfx66;          /* operand-size prefix present */
	uint8_t rex;            /* the REX byte, 0 if none (VEX: its R X B
	                           W bits, as if from a REX) */
	uint8_t vex;            /* 2 or 3: the VEX prefix's length, 0 none */
	uint8_t vvvv;           /* VEX.vvvv, un-inverted: a GPR number */
	uint8_t vex_l;          /* VEX.L */
	uint8_t has_modrm;
	uint8_t modrm;          /* raw byte */
	uint8_t mod;            /* modrm.mod */
	uint8_t reg;            /* modrm.reg | REX.R<<3 (or opcode ext) */
	uint8_t rm;             /* modrm.rm | REX.B<<3 when mod == 3 */
	uint8_t mem;            /* 1 if the r/m operand is memory */
	int8_t base;            /* GPR number, INSN_BASE_NONE, INSN_BASE_RIP */
	int8_t index;           /* GPR number or INSN_BASE_NONE */
	uint8_t scale;          /* 1, 2, 4, 8 */
	uint8_t opreg;          /* low opcode bits | REX.B<<3 (50+r, B8+r...) */
	int64_t disp;
	uint64_t imm;           /* first immediate, sign-extended as the
	                           opcode defines (Iz to opsize, Ib as needed) */
	uint64_t imm2;          /* second immediate (ENTER, far ptr selector) */
};

/* Decode at most 15 bytes from code[0..avail); mode from c.  Returns the
 * length, or 0 if more bytes are needed than avail (caller fetches across
 * a page), or -1 for an invalid encoding (#UD: i->fn = dbt_op_ud). */
int dbt_decode(const struct dbt_cpu *c, const uint8_t *code, int avail,
    struct insn *i);

/* Handler registration: decode.c asks dbt_lookup(); each interp file
 * contributes a table.  pfx selects mandatory-prefix forms (SSE). */
enum op_pfx { PFX_ANY = 0, PFX_NONE, PFX_66, PFX_F3, PFX_F2 };
#define OP_ANY (-1)
#define OP_MOD_ANY 0
#define OP_MOD_MEM 1
#define OP_MOD_REG 2
struct op_entry {
	uint8_t map, op;
	int8_t pfx;             /* enum op_pfx */
	int8_t reg;             /* modrm.reg (0..7) or OP_ANY */
	int8_t mod;             /* OP_MOD_* */
	int8_t rm;              /* modrm.rm (0..7, with OP_MOD_REG) or OP_ANY */
	dbt_fn fn;
};
extern const struct op_entry dbt_ops_int[];   /* interp-int.c: integer */
extern const struct op_entry dbt_ops_sys[];   /* sys.c: system */
extern const struct op_entry dbt_ops_fpu[];   /* fpu.c, sse.c: x87/SSE */
extern const struct op_entry dbt_ops_sse4[];  /* sse4.c: SSSE3..SSE4.2, AES */
extern const struct op_entry dbt_ops_bit[];   /* interp-bit.c: BMI, ADX... */
/* Each table ends with an entry whose fn is NULL. */
void dbt_ops_init(void);        /* builds the lookup once */
dbt_fn dbt_lookup(const struct insn *i);
/* The mandatory-prefix class of i (F3 over F2 over 66): enum op_pfx. */
int dbt_insn_pfx(const struct insn *i);

/* ---- the vCPU ---------------------------------------------------------- */

#define DBT_TLB_SIZE 1024
#define DBT_TLB_LOG 256
#define DBT_SMAP_LOG 64
#define DBT_TLB_LARGE_BITS 4096
/* IA32_SPEC_CTRL bits the CPU model has: IBRS, BHI_DIS_S. */
#define SPEC_CTRL_BITS (1ULL | 1ULL << 10)

/* The translator's jump cache: linear RIP -> compiled code, for indirect
 * branches, returns and exits to other pages (jit.c).  An entry is valid
 * only in the generation it was made in: any TLB flush, whole or one page,
 * starts a new generation, which empties the cache in O(1). */
#define DBT_JC_SIZE 65536
/* The pages one block lookup keeps pinned (block.c's sync_wait): a block
 * spans at most two and every try of a lookup decodes at the same
 * address, so two slots hold them; a page listed already takes none.  A
 * page past them (a second page remapped between tries) would stay
 * pinned until the next cache flush: slower stores to it, not wrong. */
#define DBT_PINS 2
struct dbt_jc_entry {
	uint64_t lin;
	uint32_t mode_key;
	uint32_t gen;
	void *code;
	struct dbt_block *block;
};
static inline unsigned
dbt_jc_index(uint64_t lin)
{
	return (unsigned)((lin ^ (lin >> 12)) & (DBT_JC_SIZE - 1));
}

/* One soft-TLB entry (32 bytes: the translator indexes by shifting).  A
 * tag is a linear page address, DBT_TLB_EMPTY when not valid. */
struct dbt_tlb_entry {
	uint64_t tag_r;         /* for reads */
	uint64_t tag_w;         /* for writes (absent for code pages, ROM) */
	uint64_t tag_x;         /* for fetches */
	uintptr_t addend;       /* host = linear + addend (RAM only) */
};
#define DBT_TLB_EMPTY (~0ULL)

struct dbt_cpu {
	/* Architectural state (same meaning as struct x86_state). */
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t next_rip;
	uint64_t rflags;
	struct x86_seg seg[X86_NSEG];
	struct x86_dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t dr[8];
	uint64_t efer, xcr0;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t pat, misc_enable, tsc_aux;
	uint64_t spec_ctrl;             /* SPEC_CTRL_BITS of IA32_SPEC_CTRL */
	int64_t tsc_offset;     /* guest TSC = host-derived ticks + offset */
	uint8_t fx[512] __attribute__((aligned(16))); /* FXSAVE layout */
	uint8_t fx_mem[128] __attribute__((aligned(16))); /* hx scratch */
	struct dbt_hx *hx;      /* host-executed x87/SSE stubs (hx.c) */

	/* Mode, recomputed by dbt_update_mode() after CR0/CR4/EFER/CS/SS/
	 * RFLAGS.VM change. */
	uint8_t cpl;
	uint8_t long64;         /* CS.L in long mode: 64-bit code */
	uint8_t code32;         /* CS.D (protected, non-64) */
	uint8_t stack32;        /* SS.B */
	uint8_t pe, pg, lma, v86;
	uint32_t mode_key;      /* block-cache key bits for the above,
	                           DBT_MODE_AC and DBT_MODE_SSE */
	/* The jump cache's generation, never 0.  Right after mode_key, as
	 * in struct dbt_jc_entry: the translator compares both with one
	 * 64-bit load (emit_jc_lookup_miss). */
	uint32_t jc_gen;

	/* Soft TLB (mmu.c): [0] supervisor accesses, [1] user (CPL 3);
	 * tlb_pa: each entry's guest physical page, | 1 if global. */
	/* 64-byte aligned: no entry straddles two cache lines */
	struct dbt_tlb_entry tlb[2][DBT_TLB_SIZE] __attribute__((aligned(64)));
	uint64_t tlb_pa[2][DBT_TLB_SIZE];
	/* Supervisor entries of user pages, filled for explicit accesses
	 * while EFLAGS.AC is set under SMAP (a STAC window): their indexes,
	 * so that they go when AC is clear again (dbt_smap_check); more
	 * than DBT_SMAP_LOG: all such entries.  tlb_none: an entry that
	 * never hits, for implicit accesses while some are there. */
	uint16_t smap_log[DBT_SMAP_LOG];
	unsigned smap_nlog;
	struct dbt_tlb_entry tlb_none;
	/* The entries filled with non-global translations since the last
	 * flush (cls * DBT_TLB_SIZE + index), so that a CR3 load clears
	 * those rather than scanning both TLBs; > DBT_TLB_LOG: overflowed. */
	uint16_t tlb_log[DBT_TLB_LOG];
	unsigned tlb_nlog;
	uint64_t tlb_logged[2 * DBT_TLB_SIZE / 64];
	/* A filter of the 2 MiB regions that entries from large pages
	 * cover, for INVLPG (mmu.c); cleared by a full flush only. */
	uint64_t tlb_large[DBT_TLB_LARGE_BITS / 64];

	/* Events (exc.c). */
	jmp_buf jmp;            /* the run loop's setjmp */
	/* A LOCKed read-modify-write in progress (interp.c, SMP.md M3):
	 * dbt_get_rm_rmw read atom_old at atom_ptr (host) / atom_pa for
	 * atom_insn; dbt_set_rm stores with a compare-and-swap. */
	const struct insn *atom_insn;
	void *atom_ptr;
	uint64_t atom_old, atom_pa;
	/* A LOCKed operand the host cannot update atomically (crossing a
	 * page or a 64-byte line, MMIO, ROM): atom_excl asks the run loop
	 * to run the instruction again alone (dbt_start_exclusive), and
	 * in_excl is set while it does, so the plain path is taken. */
	bool atom_excl, in_excl;
	bool step_one;          /* exec_block: one instruction only */
	bool ss_shadow;         /* MOV SS / POP SS ran: no #DB after it */
	/* Debug registers (mmu.c, dbt_watch_update): the DRn armed as data
	 * breakpoints (R/W 01, 11) and as I/O breakpoints (R/W 10 with
	 * CR4.DE); which of them the current instruction hit; hits held
	 * past a MOV SS; str_one: a string instruction stops after one
	 * iteration (single-step, data breakpoints); watch_trap:
	 * dbt_deliver delivers the #DB for a delivery's own hits. */
	uint8_t watch, io_watch, watch_hits, watch_held;
	bool str_one, watch_trap;
	uint32_t deliveries;    /* events dbt_deliver delivered */
	bool smp_parallel;      /* $VMKIT_DBT_SMP=parallel (dbt.c) */
	bool flush_wanted;      /* the arena is full: flush, alone */
	int exc_vector;         /* pending exception, -1 none */
	uint32_t exc_error;
	bool exc_has_error;
	int exc_depth;          /* for #DF / triple fault */
	bool halted;
	bool irq_shadow;        /* interrupts inhibited for one instruction */
	/* A vector another back end had taken from the interrupt
	 * controller and was delivering when the state was saved (KVM's
	 * vcpu_events interrupt.injected; its ISR bit already set): the DBT
	 * delivers it before anything else, -1 none. */
	int16_t irq_inject;
	bool nmi_blocked;
	bool sipi_wait;         /* an AP after INIT, waiting for SIPI */

	/* Links. */
	struct vm *vm;
	struct vcpu *vcpu;
	int index;              /* vCPU number */
	atomic_int *attention;  /* set by kick / interrupt: leave the block */
	atomic_int attn;        /* what attention points to (jit.c reads it
	                           at a fixed offset) */
	void *blocks;           /* block.c's cache */
	uint64_t icount;        /* instructions retired (stats) */
	struct dbt_jit *jit;    /* the translator's code cache, NULL: off */
	int32_t jit_budget;     /* blocks left in this turn (run lock) */
	struct dbt_jit_exit *jit_pending; /* last direct exit, to link */
	/* The block cache's epoch when this vCPU last passed the top of
	 * its run loop (dbt_blocks_gc, SMP.md M4). */
	atomic_uint_fast64_t qs_epoch;
	/* Write-entry drops (SMP.md M5): another vCPU that dropped this
	 * one's fast write entries for a page gaining code bumps sync_req
	 * and waits until sync_ack reaches it (dbt_sync_ack, at the top of
	 * the run loop: no store that passed its check before the drop is
	 * still to land).  The pages this vCPU keeps marked as holding
	 * code meanwhile (block.c's pins), released at the loop's top. */
	atomic_uint sync_req;
	atomic_uint sync_ack;
	void *pinned[DBT_PINS];
	int npinned;
	uint64_t pin_flushes;   /* the cache's flush count at the pin */
	bool syncing;           /* in block.c's sync_wait (tb_lock) */
	unsigned wdelay_us;     /* $VMKIT_DBT_WRITE_DELAY (testing) */
	struct dbt_jc_entry jc[DBT_JC_SIZE] __attribute__((aligned(64)));
	/* Which jump-cache slots hold blocks on non-global pages (filled
	 * since the last flush), so that a CR3 load drops only those; and
	 * a filter of the linear pages the cache holds code for, so that
	 * an INVLPG of a page without code leaves the cache alone. */
	uint16_t jc_log[DBT_JC_SIZE];
	unsigned jc_nlog;               /* > DBT_JC_SIZE: overflowed */
	uint64_t jc_logged[DBT_JC_SIZE / 64];   /* slots in jc_log */
	uint64_t jc_pages[DBT_JC_SIZE / 64];
	uint64_t tlb_hits, tlb_misses;
	uint64_t tlb_flushes, tlb_flushes_local, tlb_flushes_page;
	uint64_t jc_flushes;
	uint64_t excl_runs;     /* instructions run in exclusive sections */
	uint64_t xmc_syncs;     /* dbt_sync_writers waits */
	bool block_dirty;       /* a write hit the code of the running block */
	uint64_t rip_lin;       /* linear address of rip (CS.base + rip) */
	struct dbt_block *cur_block;
	int exit_reason;        /* enum cpu_exit_reason when leaving run() */
	char diag[256];
	/* FCS and FDS, the last x87 instruction's CS and operand segment
	 * selectors (fpu.c), what FNSTENV, FNSAVE and FXSAVE store in every
	 * mode.  In 64-bit mode fx holds 64-bit FIP and FDP and no
	 * selectors; elsewhere an x87 instruction also writes them into
	 * fx's 32-bit format (which after a switch from 64-bit mode still
	 * holds FIP's upper half there).  Here at the end: put after fx,
	 * they moved every later field 64 bytes against the earlier ones,
	 * and the shell loop took 45% more CPU time (not understood yet:
	 * bench/RESULTS.md, 2026-12-08 morning). */
	uint16_t fcs, fds;
};

/* In mode_key: alignment checking is on (CPL 3, CR0.AM, RFLAGS.AC).  Only
 * block enders change it, and the translator leaves such blocks to the
 * interpreter, whose memory path raises #AC (mmu.c). */
#define DBT_MODE_AC 0x100u
/* In mode_key: SSE instructions may run (CR0.EM and TS clear, CR4.OSFXSR
 * set), so translated SSE code needs no check of its own.  CR0 and CR4
 * change only in block enders (MOV CR, CLTS, LMSW, task switches). */
#define DBT_MODE_SSE 0x200u

/* ---- memory access (mmu.c) --------------------------------------------- */

/* Access kinds for translate(); DBT_ACC_SUPER = an implicit supervisor
 * access (descriptor tables, TSS, IDT) whatever the CPL. */
#define DBT_ACC_READ 0x0
#define DBT_ACC_WRITE 0x1
#define DBT_ACC_EXEC 0x2
#define DBT_ACC_SUPER 0x4

/* Segment-checked accesses: seg + offset -> linear -> physical.  They
 * raise #GP/#SS for limit and type violations and #PF for paging. */
uint8_t dbt_read8(struct dbt_cpu *c, int seg, uint64_t off);
uint16_t dbt_read16(struct dbt_cpu *c, int seg, uint64_t off);
uint32_t dbt_read32(struct dbt_cpu *c, int seg, uint64_t off);
uint64_t dbt_read64(struct dbt_cpu *c, int seg, uint64_t off);
void dbt_write8(struct dbt_cpu *c, int seg, uint64_t off, uint8_t v);
void dbt_write16(struct dbt_cpu *c, int seg, uint64_t off, uint16_t v);
void dbt_write32(struct dbt_cpu *c, int seg, uint64_t off, uint32_t v);
void dbt_write64(struct dbt_cpu *c, int seg, uint64_t off, uint64_t v);
/* n bytes (SSE 16, x87 10, FXSAVE 512...); checks every byte first. */
void dbt_read_bytes(struct dbt_cpu *c, int seg, uint64_t off, void *buf,
    unsigned n);
void dbt_write_bytes(struct dbt_cpu *c, int seg, uint64_t off,
    const void *buf, unsigned n);
/* Check that [off, off+n) is writable (raises the fault now) without
 * writing: for read-modify-write and multi-part stores. */
void dbt_probe_write(struct dbt_cpu *c, int seg, uint64_t off, unsigned n);
/* Linear-address accesses (paging only, acc adds DBT_ACC_SUPER etc.). */
uint64_t dbt_read_lin(struct dbt_cpu *c, uint64_t lin, unsigned size,
    unsigned acc);
void dbt_write_lin(struct dbt_cpu *c, uint64_t lin, unsigned size,
    uint64_t v, unsigned acc);
/* False if a present PAE PDPTE at cr3 has a reserved bit set (then the
 * MOV to CR0/CR3/CR4 that would load it is #GP(0)). */
bool dbt_pae_pdptes_ok(struct dbt_cpu *c, uint64_t cr3);
/* Linear -> physical with a page walk; raises #PF (sets CR2). */
uint64_t dbt_translate(struct dbt_cpu *c, uint64_t lin, unsigned acc);
/* Empty the jump cache (every mapping it was made under is gone). */
/* tb_lock, the writers' lock of the shared translation state (block.c). */
void dbt_tb_lock(struct dbt_cpu *c);
void dbt_tb_unlock(struct dbt_cpu *c);
/* Unlink every direct exit linked to another page (jit.c). */
void dbt_jit_unlink_cross(struct dbt_jit *j);
static inline void
dbt_jc_flush(struct dbt_cpu *c)
{
	/* Links to other (global) pages are valid as long as the jump
	 * cache's entries would be. */
	if (c->jit != NULL) {
		dbt_tb_lock(c);
		dbt_jit_unlink_cross(c->jit);
		dbt_tb_unlock(c);
	}
	if (++c->jc_gen == 0) {
		__builtin_memset(c->jc, 0, sizeof(c->jc));
		c->jc_gen = 1;
	}
	c->jc_nlog = 0;
	__builtin_memset(c->jc_logged, 0, sizeof(c->jc_logged));
	__builtin_memset(c->jc_pages, 0, sizeof(c->jc_pages));
	c->jc_flushes++;
}
/* Flush the soft TLB (CR4/EFER writes, mode change); the non-global
 * entries only (a CR3 load with CR4.PGE: global translations survive, as
 * on hardware); one page (INVLPG). */
/* Drop c's write entries for physical page pa (it now holds code); the
 * same on every vCPU of c's VM (dbt.c). */
bool dbt_tlb_drop_writes(struct dbt_cpu *c, uint64_t pa);
uint64_t dbt_tlb_drop_writes_all(struct dbt_cpu *c, uint64_t pa);
void dbt_sync_writers(struct dbt_cpu *c, uint64_t mask);
void dbt_sync_ack(struct dbt_cpu *c);
/* Guest memory written by a device (dbt.c; block.c's on_write hook). */
void dbt_code_written(struct dbt_cpu *c, uint64_t gpa, uint64_t len);
void dbt_tlb_flush(struct dbt_cpu *c);
void dbt_tlb_flush_local(struct dbt_cpu *c);
void dbt_tlb_drop_all_writes(struct dbt_cpu *c);
/* The TLB holds a global translation of lin for fetches. */
bool dbt_tlb_global(const struct dbt_cpu *c, uint64_t lin);
bool dbt_tlb_fill(struct dbt_cpu *c, uint64_t lin, unsigned size, bool write,
    unsigned cls);
void dbt_tlb_flush_page(struct dbt_cpu *c, uint64_t lin);
void dbt_watch_update(struct dbt_cpu *c);
void dbt_watch_io(struct dbt_cpu *c, uint16_t port, unsigned size);
/* A host pointer to [off, off+size) for an access of kind acc (after every
 * segment, paging and SMC check, dirty bit set for writes), or NULL when
 * the bytes are not plain RAM within one page (MMIO, page crossing): the
 * caller then uses the dbt_read/write functions.  For in-place and LOCKed
 * read-modify-write on host memory. */
void *dbt_mem_ptr(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    unsigned acc, uint64_t *pa);
/* After writing through dbt_mem_ptr's pointer (physical pa): drop the
 * translations of those bytes, if any. */
void dbt_mem_written(struct dbt_cpu *c, uint64_t pa, unsigned size);
/* Instruction fetch at linear address lin: host pointer to the code, the
 * bytes available on that page in *avail, its physical address in *pa.
 * Raises #PF/#GP. */
const uint8_t *dbt_fetch(struct dbt_cpu *c, uint64_t lin, uint64_t *pa,
    int *avail);
/* Linear address of seg:off for an access of size bytes (limit and
 * canonical checks; raises #GP/#SS). */
uint64_t dbt_linear(struct dbt_cpu *c, int seg, uint64_t off, unsigned size,
    unsigned acc);
/* Guest physical memory for DMA-like CPU accesses (page walks). */
uint64_t dbt_phys_read(struct dbt_cpu *c, uint64_t pa, unsigned size);
void dbt_phys_write(struct dbt_cpu *c, uint64_t pa, unsigned size,
    uint64_t v);

/* ---- operands (interp.c) ----------------------------------------------- */

/* Effective address of the modrm memory operand (offset, addrsize-wrapped). */
uint64_t dbt_ea(struct dbt_cpu *c, const struct insn *i);
/* GPR by number and size (1, 2, 4, 8); size 1 honours the no-REX AH..BH
 * encoding.  A 4-byte write zero-extends to 64 bits. */
uint64_t dbt_get_reg(struct dbt_cpu *c, const struct insn *i, int reg,
    unsigned size);
void dbt_set_reg(struct dbt_cpu *c, const struct insn *i, int reg,
    unsigned size, uint64_t v);
/* The r/m operand (register or memory) of size bytes. */
uint64_t dbt_get_rm(struct dbt_cpu *c, const struct insn *i, unsigned size);
void dbt_set_rm(struct dbt_cpu *c, const struct insn *i, unsigned size,
    uint64_t v);
/* The destination of a read-modify-write: as dbt_get_rm, but a memory
 * operand is checked for writing first (faults are reported as writes). */
/* The host pointer of a LOCKed operand of size bytes at seg:ea when it is
 * RAM within one cache line (physical address in *pa), else NULL: for the
 * host's own atomic operations. */
_Noreturn void dbt_atomic_exclusive(struct dbt_cpu *c);
struct dbt_block;
bool dbt_block_in_use(struct dbt_cpu *c, const struct dbt_block *b);
void dbt_start_exclusive(struct dbt_cpu *c);
void dbt_end_exclusive(struct dbt_cpu *c);
void *dbt_atomic_ptr(struct dbt_cpu *c, int seg, uint64_t ea, unsigned size,
    uint64_t *pa);
/* A compare-and-swap that found memory changed: run the instruction
 * again (nothing architectural has changed yet). */
_Noreturn void dbt_atomic_retry(struct dbt_cpu *c);
uint64_t dbt_get_rm_rmw(struct dbt_cpu *c, const struct insn *i,
    unsigned size);
/* Stack: push/pop with the current stack size (SS.B / 64-bit). */
void dbt_push(struct dbt_cpu *c, unsigned size, uint64_t v);
uint64_t dbt_pop(struct dbt_cpu *c, unsigned size);

/* ---- exceptions and system (exc.c, seg.c, sys.c) ----------------------- */

/* Raise a fault/trap: records it and longjmps to the run loop. */
_Noreturn void dbt_raise(struct dbt_cpu *c, int vector, uint32_t error);
_Noreturn void dbt_raise_noerr(struct dbt_cpu *c, int vector);
#define dbt_ud(c) dbt_raise_noerr((c), X86_EXC_UD)
#define dbt_gp0(c) dbt_raise((c), X86_EXC_GP, 0)
/* Stop the VM: an emulator limitation or bug, with a diagnosis (printf
 * format) that names what was not handled.  RIP stays at the instruction. */
_Noreturn void dbt_fail(struct dbt_cpu *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Deliver an exception or interrupt through the IDT/IVT (all modes).
 * sw: INT n / INT3 / INTO (privilege check against the gate DPL, return to
 * next_rip).  Escalates to #DF and triple fault. */
/* Hardware task switches (task.c): to the TSS sel, for a JMP, a CALL, an
 * interrupt or exception through a task gate (with its error code, if
 * has_err), or an IRET with NT; ret is the EIP saved in the old TSS.
 * Sets c->rip and c->next_rip to the new task's EIP, or stops the vCPU
 * with a diagnosis (c->exit_reason) for what is not supported. */
enum dbt_task_reason { DBT_TASK_JMP, DBT_TASK_CALL, DBT_TASK_INT,
	DBT_TASK_IRET };
void dbt_task_switch(struct dbt_cpu *c, uint16_t sel,
    enum dbt_task_reason why, uint64_t ret, bool has_err, uint32_t err);
void dbt_deliver(struct dbt_cpu *c, int vector, bool has_error,
    uint32_t error, bool sw);
/* At a block boundary: take a pending NMI/interrupt if allowed. */
void dbt_check_interrupts(struct dbt_cpu *c);
/* Recompute cpl/long64/code32/... and mode_key. */
void dbt_update_mode(struct dbt_cpu *c);

/* Drop the STAC window's TLB entries once EFLAGS.AC is clear (mmu.c);
 * after every instruction the interpreter or a helper runs. */
void dbt_smap_close(struct dbt_cpu *c);
static inline void
dbt_smap_check(struct dbt_cpu *c)
{
	if (__builtin_expect(c->smap_nlog != 0, 0) && !(c->rflags & X86_AC))
		dbt_smap_close(c);
}
/* Load a segment register in the current mode (descriptor checks). */
void dbt_load_seg(struct dbt_cpu *c, int sreg, uint16_t sel);
/* Port I/O permission (IOPL, TSS bitmap); raises #GP if denied. */
void dbt_check_io(struct dbt_cpu *c, uint16_t port, unsigned size);
/* Port I/O through the bus (and the DBT's own ports). */
uint64_t dbt_port_in(struct dbt_cpu *c, uint16_t port, unsigned size);
void dbt_port_out(struct dbt_cpu *c, uint16_t port, unsigned size,
    uint64_t v);
/* Guest TSC now. */
uint64_t dbt_rdtsc(struct dbt_cpu *c);
/* Write RFLAGS from POPF/IRET-like sources, honouring CPL/IOPL/VM rules. */
void dbt_write_flags(struct dbt_cpu *c, uint64_t val, uint64_t mask);
/* The #UD handler every unknown opcode maps to. */
void dbt_op_ud(struct dbt_cpu *c, const struct insn *i);

/* ---- state (state.c) --------------------------------------------------- */
void dbt_state_get(const struct dbt_cpu *c, struct x86_state *st);
void dbt_state_set(struct dbt_cpu *c, const struct x86_state *st);

/* ---- block cache (block.c) --------------------------------------------- */
void dbt_blocks_init(struct dbt_cpu *c);
void dbt_blocks_fini(struct dbt_cpu *c);
/* Drop every block on the physical page(s) covering [pa, pa+len). */
void dbt_blocks_invalidate(struct dbt_cpu *c, uint64_t pa, uint64_t len);
void dbt_blocks_flush(struct dbt_cpu *c);

#endif
