/*
 * The SSE/MMX whitelist of fpu.c, shared with the translator (dbt/ only):
 * which (opcode, mandatory prefix, ModRM form) is an instruction of an
 * advertised feature, and how its operands look.
 */
#ifndef VM_DBT_FPU_H
#define VM_DBT_FPU_H

#include <stdint.h>

struct insn;

/* Descriptor flags of the SSE/MMX whitelist. */
enum {
	S_ST = 1 << 0,          /* the memory operand is the destination */
	S_A16 = 1 << 1,         /* a memory operand must be 16-byte aligned */
	S_REG = 1 << 2,         /* register form only */
	S_MEM = 1 << 3,         /* memory form only */
	S_GREG = 1 << 4,        /* ModRM.reg is a general register */
	S_GRM = 1 << 5,         /* ModRM.rm is a general register (mod 3) */
	S_W8 = 1 << 6,          /* the memory operand is 8 bytes with REX.W */
	S_MMX = 1 << 7,         /* touches MMX registers (x87 state) */
	S_FLAGS = 1 << 8,       /* writes the arithmetic flags */
	S_IMM = 1 << 9,         /* imm8 follows */
	S_NOMODRM = 1 << 10,    /* no ModRM (EMMS) */
};

struct sse_op {
	uint8_t op, pfx, size;  /* 0F map opcode, enum op_pfx, memory bytes */
	uint8_t regmask;        /* allowed ModRM.reg (groups), 0 = any */
	uint16_t f;
};

/* i's whitelist entry, ModRM constraints checked; NULL: #UD. */
const struct sse_op *dbt_sse_lookup(const struct insn *i);
/* The same for sse4.c's 0F38/0F3A instructions (SSSE3..PCLMULQDQ). */
const struct sse_op *dbt_sse4_lookup(const struct insn *i);

#endif
