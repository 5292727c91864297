/*
 * The translator tier (dbt/ only): decoded blocks compiled to host x86-64
 * code.  See jit.c for the design.
 *
 * Threads: called from every vCPU thread at once (with
 * $VMKIT_DBT_SMP=serial, from the one holding the run lock), like the
 * rest of the block cache; the shared state is under block.c's tb_lock.
 */
#ifndef VM_DBT_JIT_H
#define VM_DBT_JIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dbt_block;
struct dbt_cpu;
struct dbt_jit;
struct dbt_jit_exit;

/* The per-VM code cache: an arena of cache_size bytes (0: the default).
 * NULL if it cannot be mapped. */
struct dbt_jit *dbt_jit_new(size_t cache_size);
void dbt_jit_free(struct dbt_jit *j);

/* Compile b for c's current mode if it is not compiled yet.  False when
 * the block cannot be compiled (not 64-bit code, or the cache had to be
 * flushed: then b is no longer valid and runs on the interpreter once). */
bool dbt_jit_compile(struct dbt_cpu *c, struct dbt_block *b);
/* Run compiled code from b until it leaves to the dispatcher; c->rip is
 * the next instruction.  Returns the direct exit taken (to be linked to
 * the next block by dbt_jit_link) or NULL.  Faults longjmp as usual. */
struct dbt_jit_exit *dbt_jit_run(struct dbt_cpu *c, struct dbt_block *b);
/* Patch exit x to jump straight into block to, when that is sound (same
 * page, same mode, to compiled).  x->from must still be valid. */
void dbt_jit_link(struct dbt_cpu *c, struct dbt_jit_exit *x,
    struct dbt_block *to);
/* The source block of exit x. */
struct dbt_block *dbt_jit_exit_from(const struct dbt_jit_exit *x);
void dbt_jit_flush_arena(struct dbt_cpu *c);
/* b is being invalidated: undo every link into and out of it and drop
 * it from every vCPU's jump cache. */
void dbt_jit_forget(struct dbt_cpu *c, struct dbt_block *b);
/* c's jump cache is cleaned when blocks die (vCPU start-up). */
void dbt_jit_add_cpu(struct dbt_jit *j, struct dbt_cpu *c);
/* Enter compiled b in c's jump cache (the dispatcher just ran it). */
void dbt_jit_remember(struct dbt_cpu *c, struct dbt_block *b);
/* --stats */
void dbt_jit_stats(struct dbt_jit *j, char *buf, size_t len);

#endif
