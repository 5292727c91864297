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

#endif
