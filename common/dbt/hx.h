/*
 * Host execution of guest x87/MMX/SSE instructions (hx.c); used by fpu.c.
 */
#ifndef VM_DBT_HX_H
#define VM_DBT_HX_H

#include <stdint.h>

struct dbt_hx;

/* The stub's view of the general registers; offsets are fixed in hx.c. */
struct hx_regs {
	uint64_t rax;           /* 0: a GPR operand, in and out */
	uint64_t rflags;        /* 8: RFLAGS after the instruction; with
	                           HX_RFLAGS_IN, its CF PF AF ZF SF OF
	                           before it */
	uint32_t mxcsr;         /* 16: the host's, kept across the stub */
	uint32_t pad;
	uint16_t fcw;           /* 24: likewise */
	uint16_t pad2[3];
};

#define HX_GPR 1u               /* load rax before, store it after */
#define HX_RFLAGS 2u            /* capture RFLAGS after */
#define HX_RFLAGS_IN 4u         /* load the arithmetic flags of rflags
                                   before (FCMOVcc reads them) */

struct dbt_hx *dbt_hx_new(void);
void dbt_hx_free(struct dbt_hx *h);
/* Run the encoding enc[0..len) (at most 9 bytes) on the FXSAVE image fx
 * (512 bytes, 16-aligned) with its memory operand at mem (16-aligned).
 * Returns 0, or -1 if the host refused the instruction. */
int dbt_hx_exec(struct dbt_hx *h, const uint8_t *enc, unsigned len,
    unsigned flags, void *fx, void *mem, struct hx_regs *r);
/* The host's MXCSR_MASK: the MXCSR bits LDMXCSR/FXRSTOR may set. */
uint32_t dbt_hx_mxcsr_mask(void);

#endif
