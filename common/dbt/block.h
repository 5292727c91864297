/* The block cache (dbt/ only): see block.c. */
#ifndef VM_DBT_BLOCK_H
#define VM_DBT_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "dbt/dbt-int.h"

#define DBT_BLOCK_MAX 64

struct dbt_block;

/* A direct exit of a compiled block (jit.c): a rel32 jump that leads to
 * the dispatcher until it is linked straight to the target's code. */
struct dbt_jit_exit {
	struct dbt_block *from;         /* the block it belongs to */
	struct dbt_block *to;           /* linked target, NULL if none */
	uint64_t target;                /* guest RIP it leads to */
	uint8_t *disp;                  /* the rel32 field to patch */
	uint8_t *stub;                  /* its target while unlinked */
	uint8_t *stub_jc;               /* to another page: through the jump
	                                   cache, once a link is refused */
	struct dbt_jit_exit *in_next;   /* in to->jit_in */
	struct dbt_jit_exit **in_pprev;
	int xidx;                       /* in the translator's list of links
	                                   to other pages, or -1 */
	bool fl_bx;                     /* it leaves the guest flags in rbx
	                                   (LAHF/SETO form), not c->rflags */
	bool fl_host;                   /* ... or in the host's flags: its
	                                   stub and link code save them */
	int8_t rmap[16];                /* guest reg -> host reg holding it
	                                   (clean) as it leaves, or -1 */
	uint8_t *trans;                 /* moves into to's register entry */
	uint8_t *trans_to;              /* the entry those moves lead to */
};

struct dbt_block {
	uint64_t pa;                    /* physical address of the start */
	uint64_t lin;                   /* linear address it was decoded at */
	uint32_t mode_key;
	int n;
	/* Cleared (under tb_lock) when it dies; read without the lock by
	 * lookups, the jump cache and the linker. */
	atomic_bool valid;
	int npages;
	uint64_t page[2];
	struct dbt_block *page_next[2];
	struct dbt_block *hash_next;    /* read without tb_lock: __atomic */
	/* Invalidated: the dead list (never hash_next, which a lookup may
	 * still be following) and the epoch it died in (SMP.md M4). */
	struct dbt_block *dead_next;
	uint64_t dead_epoch;
	/* Translator tier (jit.c). */
	uint8_t *jit_code;              /* entry, NULL if not compiled */
	uint8_t *jit_code_bx;           /* entry with the flags in rbx */
	uint8_t *jit_code_reg;          /* ... and jit_rmap's registers in
	                                   their host registers */
	int8_t jit_rmap[16];            /* guest reg -> host reg, or -1 */
	bool jit_fl_dead;               /* the flags are dead at the register
	                                   entry: it may be entered with them
	                                   in rbx or in the host's flags */
	uint8_t *jit_leave;             /* back to the dispatcher unentered
	                                   (flags in rbx, c->gpr current) */
	bool jit_failed;                /* not compilable: interpret */
	int jit_nexits;
	struct dbt_jit_exit *jit_exit;  /* malloc'd by the compiler */
	struct dbt_jit_exit *jit_in;    /* exits linked into this block */
	uint64_t execs;                 /* times entered from the dispatcher */
	struct insn insns[];
};

struct dbt_cache;

struct dbt_cache *dbt_cache_new(void);
void dbt_cache_free(struct dbt_cache *k);
/* The block at c->rip_lin in the current mode, decoding it if needed;
 * NULL with c->diag set if the code cannot be fetched. Raises #PF. */
struct dbt_block *dbt_block_get(struct dbt_cpu *c);
/* Free invalidated blocks (only when none is executing). */
void dbt_blocks_gc(struct dbt_cpu *c);
uint64_t dbt_blocks_translated(struct dbt_cpu *c);
/* Let go of the pages c keeps marked as holding code (SMP.md M5). */
void dbt_blocks_unpin(struct dbt_cpu *c);
/* Does this handler end a block (control transfer, mode change)? */
bool dbt_fn_ends_block(dbt_fn fn);
/* #GP(0) for over-long instructions. */
void dbt_op_gp0(struct dbt_cpu *c, const struct insn *i);

#endif
