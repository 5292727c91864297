/* Descriptors (dbt/ only): see seg.c. */
#ifndef VM_DBT_SEG_H
#define VM_DBT_SEG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dbt/dbt-int.h"

/* Read the 8-byte (or 16-byte system, wide) descriptor of sel; -1 if
 * outside the table. */
int dbt_read_desc(struct dbt_cpu *c, uint16_t sel, uint64_t d[2], bool wide);
void dbt_desc_to_seg(struct x86_seg *s, uint16_t sel, const uint64_t d[2],
    bool wide);
void dbt_desc_set_accessed(struct dbt_cpu *c, uint16_t sel, uint64_t lo);
/* SS:ESP for inner privilege level dpl from the TSS, checked (exc.c);
 * ext is the EXT bit of the error codes it raises. */
void dbt_inner_stack(struct dbt_cpu *c, unsigned dpl, uint32_t ext,
    uint64_t *sp, struct x86_seg *ss);
/* RSPn of the 64-bit TSS for level dpl (exc.c; #TS past its limit). */
uint64_t dbt_tss_rsp64(struct dbt_cpu *c, unsigned dpl);
/* Null the data segment registers the new CPL may not use (SDM vol. 3A
 * 5.8.6; RET and IRET to an outer level). */
void dbt_null_outer_segs(struct dbt_cpu *c);

#endif
