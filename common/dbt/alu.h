/*
 * Arithmetic on the host with the guest's flags (dbt/ only).  Guest and
 * host share the instruction set, so each operation runs as the same host
 * instruction with the guest's arithmetic flags loaded into RFLAGS, and
 * the flags come back exactly as the real CPU sets them, the ones the SDM
 * calls undefined included.  The 128-byte red zone below RSP is stepped
 * over before pushing.
 */
#ifndef VM_DBT_ALU_H
#define VM_DBT_ALU_H

#include <stdint.h>

#include "cpu/x86-state.h"

enum alu_op {
	ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP,
	ALU_TEST,
};
enum shift_op {
	SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR,
};
enum unary_op { UN_INC, UN_DEC, UN_NEG, UN_NOT };
enum bt_op { BT_BT, BT_BTS, BT_BTR, BT_BTC };

/* Flags in: the guest RFLAGS (only the arithmetic bits are used).
 * Returns the result; *fl gets the new arithmetic flags merged in. */
uint64_t alu_bin(enum alu_op op, unsigned size, uint64_t a, uint64_t b,
    uint64_t *fl);
uint64_t alu_shift(enum shift_op op, unsigned size, uint64_t a,
    uint8_t count, uint64_t *fl);
uint64_t alu_unary(enum unary_op op, unsigned size, uint64_t a,
    uint64_t *fl);
/* SHLD (left=1) / SHRD. */
uint64_t alu_shd(int left, unsigned size, uint64_t dst, uint64_t src,
    uint8_t count, uint64_t *fl);
/* BT family on a register-sized value; bit already reduced mod size*8. */
uint64_t alu_bt(enum bt_op op, unsigned size, uint64_t a, uint64_t bit,
    uint64_t *fl);
/* BSF (rev=0) / BSR (rev=1); dst is kept when src is 0. */
uint64_t alu_bsf(int rev, unsigned size, uint64_t dst, uint64_t src,
    uint64_t *fl);
/* Two- and three-operand IMUL: the low half; flags. */
uint64_t alu_imul2(unsigned size, uint64_t a, uint64_t b, uint64_t *fl);
/* One-operand MUL/IMUL: rdx:rax (or dx:ax, ah:al) = rax * src. */
void alu_mul1(int sign, unsigned size, uint64_t *rax, uint64_t *rdx,
    uint64_t src, uint64_t *fl);
/* DIV/IDIV: 0, or -1 for #DE (nothing changed). */
int alu_div(int sign, unsigned size, uint64_t *rax, uint64_t *rdx,
    uint64_t src, uint64_t *fl);

#endif
