/* The DBT's decoder and page walk, on hand-made inputs. */
#include <stdio.h>
#include <string.h>

#include "dbt/dbt-int.h"
#include "mem/mem.h"
#include "test.h"
#include "vm/vm.h"

static struct dbt_cpu cpu;

static void
mode64(struct dbt_cpu *c)
{
	memset(c, 0, sizeof(*c));
	c->cr0 = X86_CR0_PE | X86_CR0_PG;
	c->cr4 = X86_CR4_PAE;
	c->efer = X86_EFER_LME | X86_EFER_LMA;
	c->seg[X86_CS].l = 1;
	dbt_update_mode(c);
}

static int
dec(const char *hex, struct insn *i)
{
	uint8_t b[16];
	int n = 0;

	while (hex[0] && hex[1] && n < 16) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		b[n++] = (uint8_t)v;
		hex += 2;
	}
	return dbt_decode(&cpu, b, n, i);
}

TEST(decode_lengths_64)
{
	struct insn i;

	mode64(&cpu);
	EXPECT_EQ(dec("4801d8", &i), 3);                /* add rax, rbx */
	EXPECT_EQ(i.opsize, 8);
	EXPECT_EQ(dec("48b88877665544332211", &i), 10); /* mov rax, imm64 */
	EXPECT_EQ(i.imm, 0x1122334455667788ULL);
	EXPECT_EQ(dec("8b8424ff000000", &i), 7);        /* mov eax,[rsp+0xff] */
	EXPECT_EQ(i.base, X86_RSP);
	EXPECT_EQ(i.seg, X86_SS);
	EXPECT_EQ(dec("8b0510000000", &i), 6);          /* mov eax,[rip+16] */
	EXPECT_EQ(i.base, INSN_BASE_RIP);
	EXPECT_EQ(dec("66c7400a3412", &i), 6);          /* mov word [rax+10] */
	EXPECT_EQ(i.opsize, 2);
	EXPECT_EQ(dec("e800000000", &i), 5);            /* call rel32 */
	EXPECT_EQ(dec("0f8500010000", &i), 6);          /* jne rel32 */
	EXPECT_EQ(dec("f7c001000000", &i), 6);          /* test eax, imm32 */
	EXPECT_EQ(dec("f7d8", &i), 2);                  /* neg eax */
	EXPECT_EQ(dec("c8100001", &i), 4);              /* enter 16, 1 */
	EXPECT_EQ(dec("06", &i), -1);                   /* push es: #UD */
}

TEST(decode_near_branches_are_64bit)
{
	struct insn i;

	mode64(&cpu);
	/* call [r15], jmp [rax], push [rax]: 64-bit operands (regression:
	 * they were 32-bit and pushed 4 bytes). */
	EXPECT_EQ(dec("41ff17", &i), 3);
	EXPECT_EQ(i.opsize, 8);
	EXPECT_EQ(dec("ff20", &i), 2);
	EXPECT_EQ(i.opsize, 8);
	EXPECT_EQ(dec("ff30", &i), 2);
	EXPECT_EQ(i.opsize, 8);
	EXPECT_EQ(dec("66ff30", &i), 3);
	EXPECT_EQ(i.opsize, 2);
}

TEST(decode_16bit_addressing)
{
	struct insn i;

	memset(&cpu, 0, sizeof(cpu));
	dbt_update_mode(&cpu);
	EXPECT_EQ(dec("8b4602", &i), 3);                /* mov ax, [bp+2] */
	EXPECT_EQ(i.opsize, 2);
	EXPECT_EQ(i.base, X86_RBP);
	EXPECT_EQ(i.seg, X86_SS);
	EXPECT_EQ(dec("8b00", &i), 2);                  /* mov ax, [bx+si] */
	EXPECT_EQ(i.base, X86_RBX);
	EXPECT_EQ(i.index, X86_RSI);
	EXPECT_EQ(dec("ea00100000", &i), 5);            /* jmp 0000:1000 */
}

TEST(decode_too_long)
{
	struct insn i;

	mode64(&cpu);
	EXPECT_EQ(dec("66666666666666666666666666666690", &i), -2);
}

/* VEX (C4/C5): BMI1/2 only, everything else #UD; outside 64-bit mode C4
 * and C5 are LES and LDS unless the next byte's mod is 11. */
TEST(decode_vex)
{
	struct insn i;

	mode64(&cpu);
	EXPECT_EQ(dec("c4e270f2c2", &i), 5);            /* andn eax, ecx, edx */
	EXPECT_EQ(i.map, MAP_VEX_0F38);
	EXPECT_EQ(i.op, 0xf2);
	EXPECT_EQ(i.vvvv, 1);
	EXPECT_EQ(i.reg, 0);
	EXPECT_EQ(i.rm, 2);
	EXPECT_EQ(i.opsize, 4);
	EXPECT_TRUE(i.fn != dbt_op_ud);
	EXPECT_EQ(dec("c442b0f2c2", &i), 5);            /* andn r8, r9, r10 */
	EXPECT_EQ(i.opsize, 8);
	EXPECT_EQ(i.reg, 8);
	EXPECT_EQ(i.vvvv, 9);
	EXPECT_EQ(i.rm, 10);
	EXPECT_EQ(dec("c4e37bf0c105", &i), 6);          /* rorx eax, ecx, 5 */
	EXPECT_EQ(i.imm, 5);
	EXPECT_TRUE(i.fn != dbt_op_ud);
	EXPECT_EQ(dec("c4e274f2c2", &i), 5);            /* VEX.L 1: #UD */
	EXPECT_TRUE(i.fn == dbt_op_ud);
	EXPECT_EQ(dec("c5f877", &i), 3);                /* vzeroupper: #UD */
	EXPECT_TRUE(i.fn == dbt_op_ud);
	EXPECT_EQ(dec("66c4e270f2c2", &i), -1);         /* 66 before VEX */
	EXPECT_EQ(dec("40c4e270f2c2", &i), -1);         /* REX before VEX */
	EXPECT_EQ(dec("c4e070f2c2", &i), -1);           /* no map 0 */
	/* 32-bit protected mode. */
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = X86_CR0_PE;
	cpu.seg[X86_CS].db = 1;
	dbt_update_mode(&cpu);
	EXPECT_EQ(dec("c400", &i), 2);                  /* les eax, [eax] */
	EXPECT_EQ(i.map, MAP_1B);
	EXPECT_EQ(dec("c50500010000", &i), 6);          /* lds eax, [disp32] */
	EXPECT_EQ(dec("c4e270f2c2", &i), 5);            /* andn */
	EXPECT_EQ(i.map, MAP_VEX_0F38);
	EXPECT_TRUE(i.fn != dbt_op_ud);
	/* Real mode: no VEX. */
	memset(&cpu, 0, sizeof(cpu));
	dbt_update_mode(&cpu);
	EXPECT_EQ(dec("c4e270f2c2", &i), -1);
	EXPECT_EQ(dec("c400", &i), 2);                  /* les ax, [bx+si] */
}

/* 4-level page walk to a 4 KiB page and a 2 MiB page. */
TEST(page_walk_4k_and_2m)
{
	static struct vm vm;
	uint64_t *pml4, *pdpt, *pd, *pt;
	uint8_t *ram;

	mem_init(&vm.mem);
	EXPECT_EQ(mem_add_ram(&vm.mem, 0, 16 << 20, "ram", NULL), 0);
	ram = mem_gpa_to_hva(&vm.mem, 0, 16 << 20);
	pml4 = (uint64_t *)(ram + 0x1000);
	pdpt = (uint64_t *)(ram + 0x2000);
	pd = (uint64_t *)(ram + 0x3000);
	pt = (uint64_t *)(ram + 0x4000);
	pml4[0] = 0x2000 | 3;
	pdpt[0] = 0x3000 | 3;
	pd[0] = 0x4000 | 3;                     /* 0-2M via a page table */
	pd[1] = 0x600000 | 0x83;                /* 2M-4M -> 6M, 2 MiB page */
	pt[5] = 0x9000 | 3;                     /* 0x5000 -> 0x9000 */
	mode64(&cpu);
	cpu.vm = &vm;
	cpu.cr3 = 0x1000;
	EXPECT_EQ(dbt_translate(&cpu, 0x5123, DBT_ACC_READ), 0x9123);
	EXPECT_EQ(dbt_translate(&cpu, 0x234567, DBT_ACC_READ), 0x634567);
	/* Accessed bits were set on the way. */
	EXPECT_TRUE(pt[5] & 0x20);
	EXPECT_TRUE(pml4[0] & 0x20);
	mem_fini(&vm.mem);
}
