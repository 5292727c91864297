/*
 * difftest: the differential tester, the oracle for the DBT CPU
 * (shared/DESIGN.md 5.5).  It generates random but reproducible sequences
 * of user-mode (CPL3) x86 instructions, runs each from the same initial
 * state on KVM (the real CPU) and on the DBT, and compares what they did:
 * every GPR, RIP, RFLAGS, the XMM registers and MXCSR, CR2, the segment
 * selectors, the guest's pages, and for an exception its vector and the
 * frame the CPU pushed on the RSP0 stack.
 *
 * The guest.  One VM per back end for the whole run (vm_create_bare: RAM,
 * buses, one vCPU, no devices), identity-mapped by 4-level paging, in
 * long mode.  Sequences run at CPL3 in 64-bit mode or in compatibility
 * mode (a 32-bit code segment); compatibility mode is the 32-bit mode
 * hardware KVM runs on the CPU (see "What KVM can judge" below), and the
 * one the native oracle runs (below).  The
 * layout (guest physical == linear) is the G_* table below.  Every IDT
 * vector has a CPL0 stub that only does "out %al, $(0xc0 + vector)" and
 * spins, so an exception ends the run at the harness's port without
 * guest kernel code beyond that one instruction (no IRET: KVM-PVM cannot
 * run IRET in guest kernel mode).  A sequence ends with "out %al, $0xe0"
 * (RFLAGS.IOPL = 3), or, where this KVM does not give CPL3 port access,
 * with INT3 through a DPL3 gate; the start-up probe decides per mode.
 * Between sequences the harness rewrites the code, data and stack pages
 * and sets the whole vCPU state with the back end's set_state; the page
 * tables never change (they are preset with A and D bits, so neither CPU
 * writes them, and KVM's shadow MMU never sees them change under it).
 *
 * The generator.  A sequence is 1..K "units" drawn from a table of
 * instruction classes: each unit is one instruction, or a short group
 * with its set-up (mov ecx + lea rsi/rdi before a REP string op, a zeroed
 * or sign-extended RDX before DIV/IDIV, mov cl before a 16-bit SHLD/SHRD
 * by CL, ...).  Encodings come from a small assembler here, in every
 * operand size (8/16/32/64: 66 and REX.W), with and without (redundant)
 * REX, with memory operands in every ModRM/SIB form: [base+disp8/32],
 * [base+index*scale+disp], RIP-relative, absolute disp32, index without
 * base, 32-bit addressing under 67, segment overrides (FS/GS with non-zero
 * bases in 64-bit mode).  Each sequence reserves a base register B
 * holding an address in the data page, and often an index register X
 * holding a small value; generated code never writes them, so memory
 * operands land where the generator meant: in the data page mostly, and
 * on purpose sometimes across its end into a hole, into the read-only,
 * code or supervisor pages, or through a register with a random value
 * (non-canonical, unmapped) to provoke #PF, #GP and #SS.  Jumps only go
 * forward: a jump stays open until a later unit boundary (or the end)
 * takes it, within rel8 reach for short forms, so sequences terminate.
 * Every encoding is checked with Zydis (length and validity) as it is
 * made, so a generator bug cannot pass for a CPU difference.
 *
 * Undefined flags.  The SDM leaves some arithmetic flags undefined; a real
 * CPU and the DBT (which computes flags by running the same instruction on
 * the host) usually agree on them anyway, but that is no promise.  The
 * generator tracks, along every path, which flags are undefined at each
 * instruction; flags undefined at the point where a sequence ends (or at
 * the faulting instruction, for an exception) are masked out of RFLAGS
 * and of the frame's RFLAGS, and counted apart (agreed / differed).  No
 * instruction that reads an undefined flag (ADC, RCL, Jcc, SETcc, CMOVcc,
 * LAHF, LOOPE...) is generated, so undefined flags never leak into
 * registers, memory or control flow.  The table follows the SDM vol. 2
 * "Flags Affected" sections:
 *   AND OR XOR TEST          OF CF cleared, SF ZF PF set, AF undefined
 *   MUL IMUL (all forms)     OF CF set, SF ZF AF PF undefined
 *   DIV IDIV                 all six undefined
 *   SHL SHR SAR              count 0: none; CF set (undefined for SHL/SHR
 *                            when count >= width), OF set for count 1
 *                            else undefined, SF ZF PF set, AF undefined
 *   ROL ROR RCL RCR          count 0: none; CF set, OF set for count 1
 *                            else undefined
 *   SHLD SHRD                count 0: none; CF SF ZF PF set, OF set for
 *                            count 1 else undefined, AF undefined; counts
 *                            above a 16-bit width are never generated (the
 *                            result itself is undefined there)
 *   BT BTS BTR BTC           CF set, OF SF AF PF undefined, ZF unchanged
 *   BSF BSR                  ZF set, CF OF SF AF PF undefined
 *   AAA AAS / AAM AAD / DAA DAS  OF SF ZF PF / OF AF CF / OF undefined
 * A count in CL the generator does not know counts as every count.
 *
 * What KVM can judge.  /dev/kvm on this project's machines is KVM-PVM:
 * guest CPL3 code runs natively, guest CPL0 is emulated, and every
 * exception is delivered by that emulation.  A start-up probe asks KVM
 * per mode and the generator and comparison follow its answers (printed
 * in the first lines of output); on hardware KVM every probe passes.
 * What it finds on KVM-PVM:
 *   - 64-bit CPL3 code runs on the CPU, with IOPL forced to 0: OUT from
 *     CPL3 faults, so 64-bit sequences end with INT3 (IOPL 0) instead;
 *   - INT n (CD ib) gives #UD instead of #GP or the gate: not generated;
 *   - a user-mode #GP goes through the host kernel's instruction
 *     emulator, which answers #UD for what it does not know (POPCNT,
 *     most SSE): for those classes memory operands stay canonical and
 *     aligned (a misaligned MOVAPS is still #GP, but the class is judged
 *     as a whole), so their #GP is not compared here; #PF, #AC and all
 *     results are;
 *   - its delivery clears RFLAGS.AC in the handler (the CPU does not:
 *     SDM vol. 2, INT n; hence Linux's CLAC at every entry): the
 *     handler's AC is left out, the frame's RFLAGS (all of it) is not;
 *   - compatibility-mode code is not run on the CPU at all but by the
 *     host kernel's emulator (a 200000-iteration loop takes ~200 ms
 *     against 0.1 ms in 64-bit mode; INT3 and INTO give #UD there, no
 *     #AC): it is no oracle, so the native oracle judges 32-bit mode
 *     instead (below; with --oracle kvm the mode is reported as not
 *     compared and skipped, exit 77 when it was the only mode asked for).
 *     --accept-emulated compares it against that emulator anyway, and
 *     says so: a second opinion, not the CPU's (the emulator has no ARPL,
 *     DAA, AAA, AAS, INTO or #AC, ignores LOCK on registers and takes
 *     AAM's flags from EAX, so expect differences that are its own).
 * Five more probes find where the host's CPU is not the model (the DBT
 * presents an Intel CPU; on AMD hosts both differ):
 *   - a misaligned MOVUPS with RFLAGS.AC set at CPL3 takes #AC on AMD, not
 *     on Intel: then SSE memory operands stay aligned in sequences that
 *     start with AC set;
 *   - a REP CMPS/SCAS faulting after some iterations shows their flags on
 *     AMD and the flags from before the instruction on Intel: then the
 *     arithmetic flags are not compared where one faults;
 *   - MOVSXD with a 16-bit operand size reads a dword on AMD, a word on
 *     Intel: then that form is not generated;
 *   - a REP MOVS/STOS with a 32-bit address size (67) that faults in its
 *     first iteration or has a zero count has cleared the upper halves of
 *     RSI/RDI on Intel, not on AMD: then only their low halves are
 *     compared after one;
 *   - CMPS reads ES:rDI first on Intel, DS:rSI first on AMD: then where
 *     both operands fault (the harness works out from the prefixes, RSI,
 *     RDI and RFLAGS.AC at the fault whether each would: not canonical,
 *     not a user-readable page, misaligned under AC), each CPU reports
 *     its first operand's fault, and the vector, CR2 and the error code
 *     are not compared (counted as explained in the summary; the SDM
 *     gives no order for an instruction's memory accesses).
 * Where the probe sees no #AC, alignment checking is not generated; after
 * compatibility-mode code only the low halves of the GPRs are compared
 * (the upper ones are undefined: SDM vol. 1, 3.4.1.1).
 *
 * x87 (class "x87", its state from a stream of its own: FCW with every
 * rounding and precision control and sometimes an exception unmasked,
 * FSW with TOP and sometimes a pending exception, random tags and 80-bit
 * values of every kind): every documented form but FCMOVcc where its
 * flags are undefined; compared: FCW, FSW, FTW, ST0-7, and FOP, FIP and
 * FDP (where the host's FXSAVE stores them, see the probes).  Two more
 * probes: AMD's FXSAVE stores FOP/FIP/FDP only with FSW.ES set (compared
 * only then); FNSTENV's FCS and FDS are compared where the CPU stores
 * the guest's CS and DS (KVM-PVM stores the host's user DS as FDS: that
 * word is overwritten right after by the generator).  Where FLDENV,
 * FNSTENV, FRSTOR or FNSAVE take #PF, CR2 is not compared (which byte the CPU touches first
 * is its own: AMD reports the last).
 * SSSE3 to SSE4.2, AES-NI, PCLMULQDQ (classes "ssse3", "sse41" with
 * SSE4.2's PCMPGTQ, "sse42-string", "aes", "pclmul"): every form, the
 * SSSE3 ones on MMX registers too (so the x87 TOP and tags are compared
 * after them); the string compares get set-up that makes their cases
 * likely (a PSRLDQ leaving null elements, small lengths of either sign
 * in EAX and EDX, with and without REX.W).
 * MMX (class "mmx", u_mmx), FXSAVE/FXRSTOR (class "fxsave", u_fxsave)
 * and ENTER/LEAVE (class "enter/leave", u_enter) say at their unit
 * builders what they generate and what is masked.  String instructions
 * take every segment override (FS and GS with the harness's non-zero
 * bases: WRFSBASE at CPL3 needs FSGSBASE, which the model does not
 * advertise) and every REP form.
 * Not generated, and why: CPUID, RDTSC(P), RDPID, RDRAND (host-dependent
 * or time-dependent; KVM-PVM user code sees the host's CPUID, not the
 * model); LZCNT, TZCNT, MOVBE, ADX, BMI, AVX and later (the DBT's CPU
 * model does not advertise them, while the real CPU under KVM-PVM runs
 * them, and F3 0F BC/BD mean BSF/BSR to a CPU without them; 62, C4, C5
 * are EVEX/VEX prefixes in 64-bit mode); SGDT, SIDT, SLDT, STR, SMSW
 * (they show the host's tables on KVM-PVM); POPF, CLI/STI with IOPL 3,
 * SYSCALL, far transfers,
 * CALL/RET and segment loads other than LES/LDS (they leave CPL3, need
 * guest kernel code or backward control flow, or would change this
 * process's FS under the native oracle); IN/OUT only to
 * unassigned ports 0x90-0xbf (the in-kernel PIC/PIT of KVM are not the
 * DBT's devices).
 *
 * The native oracle (--oracle native, and the default for 32-bit mode
 * where KVM cannot judge it): the host CPU runs the 32-bit sequence in
 * this process, in Linux's 32-bit user code segment, with the user pages
 * at the guest's addresses; exceptions come back as signals.  What it
 * cannot judge is listed at nat_run's section below (the delivery itself,
 * FS, the P bit for supervisor pages, IOPL 3, a null selector's RPL, FCS
 * and FDS in the x87 state).
 * 32-bit-only classes: bcd, arpl, pusha/popa, bound, into, les/lds (with
 * the user selectors both GDTs share), and 16-bit addressing (67) through
 * random registers; xlat and maskmov (MASKMOVQ, MASKMOVDQU) in both modes,
 * rBX and rDI set up to point into the data page.
 *
 * Exit status: 0 no mismatch; 1 mismatches (or a harness failure); 2
 * usage; 77 no requested mode comparable here (KVM not usable for 64-bit
 * mode, no oracle for 32-bit mode; the reason on stderr: the bats test
 * skips with it).
 */
#include <Zydis/Zydis.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "cpu/cpu.h"
#include "hw/bus.h"
#include "mem/mem.h"
#include "util/err.h"
#include "vm/vm.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the guest's fixed layout (guest physical == linear) ----------------- */

#define G_RAM_SIZE      0x200000ULL     /* 2 MiB: one page table */
#define G_PML4          0x1000ULL
#define G_PDPT          0x2000ULL
#define G_PD            0x3000ULL
#define G_PT            0x4000ULL
#define G_GDT           0x5000ULL
#define G_IDT           0x6000ULL
#define G_TSS           0x7000ULL
#define G_STUBS         0x8000ULL       /* CPL0 exception stubs */
#define G_KSTACK        0x9000ULL       /* the RSP0 stack page */
#define G_KSTACK_TOP    0xa000ULL
#define G_CODE          0x10000ULL      /* user code, read/execute */
#define G_CODE_SIZE     0x2000ULL
#define G_RO            0x1f000ULL      /* user read-only, below data */
#define G_DATA          0x20000ULL      /* user read/write */
#define G_HOLE          0x21000ULL      /* not present, above data */
#define G_STACK         0x30000ULL      /* user stack page */
#define G_STACK_INIT    (G_STACK + 0x800)
#define G_SUPER         0x40000ULL      /* supervisor-only data */
#define G_IMAGE_END     0x41000ULL

/* The user selectors are Linux's on x86-64 (its __USER32_CS, __USER_DS
 * and __USER_CS), so a sequence run natively in this process (the native
 * oracle, below) sees the same selector values as the guest. */
#define SEL_KCODE       0x08
#define SEL_KDATA       0x10
#define SEL_UCODE32     0x23
#define SEL_UDATA       0x2b
#define SEL_UCODE64     0x33
#define SEL_TSS         0x38
#define GDT_LIMIT       0x47

/* 64-bit mode segment bases for FS and GS overrides. */
#define FS_BASE         0x1000ULL
#define GS_BASE         0x3000ULL

#define PORT_BASE       0xc0            /* + vector, from the stubs */
#define PORT_END        0x20            /* offset: "out %al, $0xe0" */
#define PORT_COUNT      0x21

/* Where the frame's RFLAGS lies on the RSP0 stack (64-bit frames are
 * 16-byte aligned: SS, RSP, RFLAGS, CS, RIP [, error code]). */
#define FRAME_RFLAGS    (G_KSTACK_TOP - 24)

#define PTE_P   0x001ULL
#define PTE_W   0x002ULL
#define PTE_U   0x004ULL
#define PTE_A   0x020ULL
#define PTE_D   0x040ULL
#define PTE_NX  (1ULL << 63)

#define MAX_INSNS 72            /* per sequence, set-up included */
#define RUN_TIMEOUT_NS 3000000000LL

enum { M64, M32, NMODES };
static const char *const mode_name[NMODES] = { "64-bit", "32-bit" };

/* The pristine image of guest memory below G_IMAGE_END. */
static uint8_t image[G_IMAGE_END];

/* ---- random numbers: xoshiro256** seeded by splitmix64 ------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
	int k;

	for (k = 0; k < 4; k++)
		r->s[k] = splitmix(&x);
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = s[3] << 45 | s[3] >> 19;
	return res;
}

/* Uniform in [0, n). */
static unsigned
rng_below(struct rng *r, unsigned n)
{
	return n ? (unsigned)(((rng_next(r) >> 32) * n) >> 32) : 0;
}

/* True with probability pct percent. */
static bool
rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

/* A register value with edge cases well represented. */
static uint64_t
rand_value(struct rng *r)
{
	static const uint64_t special[] = { 0, 1, 2, 3, 0x7f, 0x80, 0xff,
		0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
		0x80000000, 0xffffffff, 0x100000000ULL, 0x7fffffffffffffffULL,
		0x8000000000000000ULL, ~0ULL, ~1ULL, 0x8000000080000000ULL };

	switch (rng_below(r, 10)) {
	case 0:
	case 1:
		return special[rng_below(r, ARRAY_LEN(special))];
	case 2:
		return rng_next(r) & 0xff;
	case 3:
		return (uint64_t)(int64_t)(int8_t)rng_next(r);
	case 4:
		return rng_next(r) & 0xffff;
	case 5:
		return rng_next(r) & 0xffffffff;
	case 6:
		return (uint64_t)(int64_t)(int32_t)rng_next(r);
	default:
		return rng_next(r);
	}
}

/* A 32-bit float with specials (zeros, infinities, NaNs, denormals). */
static uint32_t
rand_f32(struct rng *r)
{
	static const uint32_t special[] = { 0, 0x80000000, 0x3f800000,
		0xbf800000, 0x3f000000, 0x7f800000, 0xff800000, 0x7fc00000,
		0xffc00000, 0x7f800001, 0x7fa00000, 0x00000001, 0x807fffff,
		0x00800000, 0x7f7fffff, 0x4b000000, 0xcf000000, 0x4f000000 };
	uint32_t v = (uint32_t)rng_next(r);

	switch (rng_below(r, 6)) {
	case 0:
		return special[rng_below(r, ARRAY_LEN(special))];
	case 1:
		return v;
	default:
		/* A normal number of moderate size. */
		return (v & 0x807fffff) | ((uint32_t)(110 + rng_below(r, 40))
		    << 23);
	}
}

static uint64_t
rand_f64(struct rng *r)
{
	static const uint64_t special[] = { 0, 0x8000000000000000ULL,
		0x3ff0000000000000ULL, 0xbff0000000000000ULL,
		0x7ff0000000000000ULL, 0xfff0000000000000ULL,
		0x7ff8000000000000ULL, 0x7ff0000000000001ULL, 1,
		0x000fffffffffffffULL, 0x0010000000000000ULL,
		0x7fefffffffffffffULL, 0x41e0000000000000ULL,
		0xc3e0000000000000ULL, 0x43e0000000000000ULL };
	uint64_t v = rng_next(r);

	switch (rng_below(r, 6)) {
	case 0:
		return special[rng_below(r, ARRAY_LEN(special))];
	case 1:
		return v;
	default:
		return (v & 0x800fffffffffffffULL) |
		    ((uint64_t)(1000 + rng_below(r, 48)) << 52);
	}
}

/* ---- the guest image ----------------------------------------------------- */

static void
put64(uint64_t gpa, uint64_t v)
{
	memcpy(image + gpa, &v, 8);
}

static void
map_page(uint64_t a, uint64_t flags)
{
	put64(G_PT + (a >> 12) * 8, a | PTE_P | PTE_A | flags);
}

/* A flat code descriptor (SDM vol. 3, 3.4.5), accessed already. */
static uint64_t
code_desc(int dpl, int l)
{
	return 0x000f00000000ffffULL | (0xbULL << 40) | (1ULL << 44) |
	    ((uint64_t)dpl << 45) | (1ULL << 47) |
	    (l ? 1ULL << 53 : 1ULL << 54) | (1ULL << 55);
}

static uint64_t
data_desc(int dpl)
{
	return 0x000f00000000ffffULL | (0x3ULL << 40) | (1ULL << 44) |
	    ((uint64_t)dpl << 45) | (1ULL << 47) | (1ULL << 54) |
	    (1ULL << 55);
}

/*
 * Page tables, GDT, IDT, TSS and stubs.  Only the pages named in the
 * layout are present; the user pages have U, the system ones do not.
 * IDT gates are 64-bit interrupt gates to CPL0 stubs; vector 3 (INT3)
 * and 4 (INTO) have DPL 3 so software can raise them from CPL3.
 */
static void
build_image(void)
{
	uint64_t a, tss = G_TSS;
	int v;

	memset(image, 0, sizeof(image));
	put64(G_PML4, G_PDPT | PTE_P | PTE_W | PTE_U | PTE_A);
	put64(G_PDPT, G_PD | PTE_P | PTE_W | PTE_U | PTE_A);
	put64(G_PD, G_PT | PTE_P | PTE_W | PTE_U | PTE_A);
	for (a = G_PML4; a < G_CODE; a += 0x1000)
		map_page(a, PTE_W | PTE_D);
	for (a = G_CODE; a < G_CODE + G_CODE_SIZE; a += 0x1000)
		map_page(a, PTE_U);
	map_page(G_RO, PTE_U | PTE_NX);
	map_page(G_DATA, PTE_W | PTE_U | PTE_D | PTE_NX);
	map_page(G_STACK, PTE_W | PTE_U | PTE_D | PTE_NX);
	map_page(G_SUPER, PTE_W | PTE_D | PTE_NX);

	put64(G_GDT + SEL_KCODE, code_desc(0, 1));
	put64(G_GDT + SEL_KDATA, data_desc(0));
	put64(G_GDT + (SEL_UCODE32 & ~3), code_desc(3, 0));
	put64(G_GDT + (SEL_UDATA & ~3), data_desc(3));
	put64(G_GDT + (SEL_UCODE64 & ~3), code_desc(3, 1));
	/* The 64-bit TSS, busy (type 0xb) since TR is loaded; no I/O
	 * bitmap (its offset is past the limit). */
	put64(G_GDT + SEL_TSS, 0x67 | ((tss & 0xffffff) << 16) |
	    (0xbULL << 40) | (1ULL << 47) | ((tss >> 24) << 56));
	put64(G_GDT + SEL_TSS + 8, tss >> 32);
	put64(G_TSS + 4, G_KSTACK_TOP);
	image[G_TSS + 0x66] = 0x68;

	for (v = 0; v < 32; v++) {
		uint64_t off = G_STUBS + 16 * (uint64_t)v;
		int dpl = (v == 3 || v == 4) ? 3 : 0;

		put64(G_IDT + 16 * (uint64_t)v, (off & 0xffff) |
		    ((uint64_t)SEL_KCODE << 16) | (0xeULL << 40) |
		    ((uint64_t)dpl << 45) | (1ULL << 47) |
		    ((off >> 16) << 48));
		put64(G_IDT + 16 * (uint64_t)v + 8, off >> 32);
		image[off] = 0xe6;              /* out %al, $port */
		image[off + 1] = (uint8_t)(PORT_BASE + v);
		image[off + 2] = 0xeb;          /* jmp . */
		image[off + 3] = 0xfe;
	}
}

static void
seg_flat(struct x86_seg *s, uint16_t sel, int code, int l)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->limit = 0xffffffff;
	s->type = code ? 0xb : 0x3;
	s->s = 1;
	s->dpl = (uint8_t)(sel & 3);
	s->present = 1;
	s->l = (uint8_t)l;
	s->db = l ? 0 : 1;
	s->g = 1;
}

/* The CPL3 state every sequence starts from, before randomization. */
static void
base_state(struct x86_state *st, int mode)
{
	int i;

	cpu_reset_state(st, 0);
	st->rflags = 0x2 | X86_IF;
	seg_flat(&st->seg[X86_CS], mode == M64 ? SEL_UCODE64 : SEL_UCODE32,
	    1, mode == M64);
	for (i = 0; i < X86_NSEG; i++)
		if (i != X86_CS && i != X86_LDTR && i != X86_TR)
			seg_flat(&st->seg[i], SEL_UDATA, 0, 0);
	/* In compatibility mode FS is null: the native oracle's FS is this
	 * process's (glibc's thread pointer, a null selector with a 64-bit
	 * base), so FS is never used there. */
	if (mode == M32) {
		memset(&st->seg[X86_FS], 0, sizeof(st->seg[X86_FS]));
		st->seg[X86_FS].unusable = 1;
	}
	if (mode == M64) {
		st->seg[X86_FS].base = FS_BASE;
		st->seg[X86_GS].base = GS_BASE;
	}
	memset(&st->seg[X86_LDTR], 0, sizeof(st->seg[X86_LDTR]));
	st->seg[X86_LDTR].unusable = 1;
	memset(&st->seg[X86_TR], 0, sizeof(st->seg[X86_TR]));
	st->seg[X86_TR].sel = SEL_TSS;
	st->seg[X86_TR].base = G_TSS;
	st->seg[X86_TR].limit = 0x67;
	st->seg[X86_TR].type = 0xb;
	st->seg[X86_TR].present = 1;
	st->gdtr.base = G_GDT;
	st->gdtr.limit = GDT_LIMIT;
	st->idtr.base = G_IDT;
	st->idtr.limit = 0xfff;
	st->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
	    X86_CR0_WP | X86_CR0_AM | X86_CR0_PG;
	st->cr3 = G_PML4;
	st->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	st->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | X86_EFER_SCE;
	st->halted = false;
	st->sipi_wait = false;
	st->apic_base = 0;      /* leave the back end's LAPIC alone */
	st->rip = G_CODE;
	st->gpr[X86_RSP] = G_STACK_INIT;
}

/* ---- one back end -------------------------------------------------------- */

struct side {
	const char *name;
	const struct cpu_backend_ops *be;
	struct vm_config cfg;
	struct vm *vm;
	struct vcpu *vcpu;
	uint8_t *ram;
	int port;               /* harness port written first, -1 none */
	double ns;              /* time spent in it */
	uint64_t runs;
	bool native;            /* the native oracle: no VM (nat_run) */
};

/* What one run ended with. */
struct result {
	struct x86_state st;
	int port;               /* vector, PORT_END, or -1 */
	enum cpu_exit_reason reason;
	char diag[256];
	bool timeout;
	const uint8_t *mem;     /* the side's guest RAM, valid until its next
	                           run */
};

static struct {
	pthread_mutex_t lock;
	struct side *running;
	struct timespec deadline;
	bool fired;
} watchdog = { PTHREAD_MUTEX_INITIALIZER, NULL, { 0, 0 }, false };

static uint64_t
port_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;
}

/* The harness's ports: record the first one and make run() return. */
static void
port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct side *s = opaque;

	(void)val;
	(void)size;
	if (s->port < 0)
		s->port = (int)off;
	atomic_store(&s->vcpu->kicked, 1);
	s->be->kick(s->vcpu);
}

static const struct io_ops port_ops = { port_read, port_write };

static int64_t
ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Kicks a vCPU whose run has gone on too long (a DBT bug that loops). */
static void *
watchdog_main(void *arg)
{
	struct timespec now;

	(void)arg;
	for (;;) {
		usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&watchdog.lock);
		if (watchdog.running != NULL && !watchdog.fired &&
		    ts_ns(&now) > ts_ns(&watchdog.deadline)) {
			struct side *s = watchdog.running;

			watchdog.fired = true;
			atomic_store(&s->vcpu->kicked, 1);
			s->be->kick(s->vcpu);
		}
		pthread_mutex_unlock(&watchdog.lock);
	}
	return NULL;
}

static int
side_init(struct side *s, const char *name, const struct cpu_backend_ops *be,
    char *why, size_t whylen)
{
	struct vm_err err = { 0 };
	const struct mem_region *r;

	s->name = name;
	s->be = be;
	cfg_defaults(&s->cfg);
	s->cfg.memory = G_RAM_SIZE;
	s->cfg.cpus = 1;
	if (be->probe(&err) < 0) {
		snprintf(why, whylen, "%s", err.msg);
		return -1;
	}
	s->vm = vm_create_bare(&s->cfg, be, &err);
	if (s->vm == NULL) {
		snprintf(why, whylen, "%s", err.msg);
		return -1;
	}
	s->vcpu = s->vm->vcpus[0];
	r = mem_lookup(&s->vm->mem, 0);
	if (r == NULL || r->size < G_RAM_SIZE) {
		snprintf(why, whylen, "no RAM at 0");
		return -1;
	}
	s->ram = r->hva;
	if (bus_map(s->vm->pio, PORT_BASE, PORT_COUNT, &port_ops, s,
	    "difftest", &err) < 0) {
		snprintf(why, whylen, "%s", err.msg);
		return -1;
	}
	memcpy(s->ram, image, sizeof(image));
	mem_notify_write(&s->vm->mem, 0, sizeof(image));
	return 0;
}

/*
 * Load the sequence's memory and state, run until the harness's port is
 * written (or the watchdog fires, or the back end stops on its own), and
 * collect the state; res->mem is the guest memory itself, valid until
 * side_clean.
 */
/* After a comparison: restore system pages a run changed (which no CPL3
 * code may do), so the next run starts clean whatever happened. */
static void
side_clean(struct side *s)
{
	if (s->native)
		return;
	if (memcmp(s->ram + G_PML4, image + G_PML4, G_KSTACK - G_PML4) ||
	    memcmp(s->ram + G_RO, image + G_RO, 0x1000) ||
	    memcmp(s->ram + G_SUPER, image + G_SUPER, 0x1000)) {
		memcpy(s->ram + G_PML4, image + G_PML4, G_KSTACK - G_PML4);
		memcpy(s->ram + G_RO, image + G_RO, 0x1000);
		memcpy(s->ram + G_SUPER, image + G_SUPER, 0x1000);
		mem_notify_write(&s->vm->mem, 0, G_IMAGE_END);
	}
}

static int nat_run(struct side *s, const uint8_t *code, const uint8_t *data,
    const uint8_t *stack, const struct x86_state *st, struct result *res);

static int
side_run(struct side *s, const uint8_t *code, const uint8_t *data,
    const uint8_t *stack, const struct x86_state *st, struct result *res)
{
	struct cpu_exit ex;
	struct timespec a, b;
	int ret;

	if (s->native)
		return nat_run(s, code, data, stack, st, res);
	clock_gettime(CLOCK_MONOTONIC, &a);
	memcpy(s->ram + G_CODE, code, G_CODE_SIZE);
	memcpy(s->ram + G_DATA, data, 4096);
	memcpy(s->ram + G_STACK, stack, 4096);
	memset(s->ram + G_KSTACK, 0, 4096);
	mem_notify_write(&s->vm->mem, G_CODE, G_CODE_SIZE);
	mem_notify_write(&s->vm->mem, G_DATA, 4096);
	mem_notify_write(&s->vm->mem, G_STACK, 4096);
	mem_notify_write(&s->vm->mem, G_KSTACK, 4096);
	s->port = -1;
	ret = s->be->set_state(s->vcpu, st);
	if (ret < 0)
		return ret;
	memset(&ex, 0, sizeof(ex));
	atomic_store(&s->vcpu->kicked, 0);
	pthread_mutex_lock(&watchdog.lock);
	watchdog.running = s;
	watchdog.fired = false;
	watchdog.deadline = a;
	watchdog.deadline.tv_sec += RUN_TIMEOUT_NS / 1000000000LL;
	pthread_mutex_unlock(&watchdog.lock);
	s->be->run(s->vcpu, &ex);
	pthread_mutex_lock(&watchdog.lock);
	watchdog.running = NULL;
	res->timeout = watchdog.fired && s->port < 0;
	pthread_mutex_unlock(&watchdog.lock);
	atomic_store(&s->vcpu->kicked, 0);
	res->port = s->port;
	res->reason = ex.reason;
	snprintf(res->diag, sizeof(res->diag), "%s", ex.diag);
	ret = s->be->get_state(s->vcpu, &res->st);
	res->mem = s->ram;
	clock_gettime(CLOCK_MONOTONIC, &b);
	s->ns += (double)(ts_ns(&b) - ts_ns(&a));
	s->runs++;
	return ret;
}

/* ---- the native oracle: compatibility mode in this process --------------- */

/*
 * A second real CPU for 32-bit (compatibility) mode that needs no KVM:
 * the sequence runs on the host CPU itself, in this process, in the 32-bit
 * user code segment every x86-64 Linux process has (selector 0x23, data
 * 0x2b; the guest's GDT uses the same values).  The user pages sit at the
 * guest's own addresses (code read/execute at G_CODE through a second,
 * writable mapping of the same memfd; G_RO read-only; G_DATA and G_STACK
 * read/write); nothing else of this process may lie below 4 GiB (checked
 * in /proc/self/maps), so any other 32-bit address faults as it does in
 * the guest.  A far JMP enters the code with the sequence's GPRs, RFLAGS,
 * DS, ES, GS and FXSAVE image loaded; the end marker (INT3) or an
 * exception comes back as a signal on an alternate stack, whose 64-bit
 * ucontext gives the GPRs, RIP, RFLAGS, CS, SS, the vector (trapno), the
 * error code and CR2, and whose XSAVE image the x87/SSE state; the
 * handler reads DS, ES and GS live and jumps back (siglongjmp).  The
 * result is then made as the guest's delivery would make it: the 64-bit
 * frame on the RSP0 stack (error code, RIP, CS, RFLAGS, RSP, SS), the
 * handler's CS, SS, RSP, RIP and RFLAGS (SDM vol. 3, 6.14).  Hence what
 * it cannot judge, each left out on purpose:
 *   - the delivery itself: frame layout and the handler's state are the
 *     SDM's, computed here, not observed;
 *   - FS: this process's FS holds glibc's thread pointer, so in
 *     compatibility mode FS is null on both sides and never used;
 *   - supervisor pages: a user access to the guest's system pages
 *     (0x1000-0xffff, G_SUPER) is a not-present fault natively; its
 *     error code's P bit is set from the guest's page tables;
 *   - IOPL is 0 at CPL3 (Linux gives no IOPL 3), so OUT ends nothing and
 *     CLI/STI/IN/OUT always fault; INT 0x80 (a system call) is never
 *     generated; vectors the kernel gives no signal for cannot be seen
 *     (#DB, #NM: not generated);
 *   - a null selector's RPL in DS, ES or GS (LDS/LES of selector 1-3):
 *     the kernel's return to user mode on the way to the handler reloads
 *     it as 0, so null selectors compare equal whatever their RPL;
 *   - FCS and FDS in the x87 state: the kernel's XSAVE64 image has 64-bit
 *     FIP and FDP and no selectors, so only their offsets are compared
 *     (FNSTENV, FNSAVE and FXSAVE in the sequence store them to memory,
 *     which is compared);
 *   - x87 pointers above 4 GiB: 32-bit sequences start with 32-bit FIP
 *     and FDP (the kernel's image shows no more of them);
 *   - the kernel's own fix-ups on the way: none apply to these sequences
 *     (UMIP emulation is for SGDT/SIDT/SLDT/SMSW/STR, not generated; the
 *     IOPL emulation needs iopl(3), not called), and context switches
 *     save and restore the state exactly, except that AMD's FXSAVE leak
 *     workaround may change FOP/FIP/FDP while FSW.ES is clear, where they
 *     are not compared anyway (GEN_FX_PTR_ES).
 */
#define NAT_CS32 0x23

static bool vec_has_error(int v);

/* Is 32-bit mode judged by the native oracle? */
static bool native_m32;

struct nat_ctx {
	uint64_t gpr[16];       /* 0 */
	uint64_t rflags;        /* 128 */
	uint16_t ds, es, gs;    /* 136, 138, 140 */
	uint8_t pad[18];
	uint8_t fx[512];        /* 160 */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct nat_ctx, rflags) == 128, "nat_ctx");
_Static_assert(offsetof(struct nat_ctx, ds) == 136, "nat_ctx");
_Static_assert(offsetof(struct nat_ctx, fx) == 160, "nat_ctx");

/* The far pointer (m16:32) the entry jumps through. */
extern struct { uint32_t off; uint16_t sel; } __attribute__((packed))
    difftest_nat_far;
void difftest_nat_enter(struct nat_ctx *c) __attribute__((noreturn));

/* rdi = the context; loads everything and jumps; never returns. */
__asm__(
"	.pushsection .data\n"
"	.balign 8\n"
"	.globl difftest_nat_far\n"
"	.hidden difftest_nat_far\n"
"difftest_nat_far:\n"
"	.long 0\n"
"	.word 0x23\n"
"	.popsection\n"
"	.text\n"
"	.globl difftest_nat_enter\n"
"	.hidden difftest_nat_enter\n"
"	.type difftest_nat_enter, @function\n"
"difftest_nat_enter:\n"
"	fxrstor64 160(%rdi)\n"
"	movw 136(%rdi), %ax\n"
"	movw %ax, %ds\n"
"	movw 138(%rdi), %ax\n"
"	movw %ax, %es\n"
"	movw 140(%rdi), %ax\n"
"	movw %ax, %gs\n"
"	pushq 128(%rdi)\n"
"	popfq\n"
"	movq 0(%rdi), %rax\n"
"	movq 8(%rdi), %rcx\n"
"	movq 16(%rdi), %rdx\n"
"	movq 24(%rdi), %rbx\n"
"	movq 40(%rdi), %rbp\n"
"	movq 48(%rdi), %rsi\n"
"	movq 64(%rdi), %r8\n"
"	movq 72(%rdi), %r9\n"
"	movq 80(%rdi), %r10\n"
"	movq 88(%rdi), %r11\n"
"	movq 96(%rdi), %r12\n"
"	movq 104(%rdi), %r13\n"
"	movq 112(%rdi), %r14\n"
"	movq 120(%rdi), %r15\n"
"	movq 32(%rdi), %rsp\n"
"	movq 56(%rdi), %rdi\n"
"	ljmpl *difftest_nat_far(%rip)\n"
"	.size difftest_nat_enter, .-difftest_nat_enter\n");

static struct {
	sigjmp_buf jb;
	volatile sig_atomic_t active;
	volatile int sig;
	volatile bool timeout;
	greg_t gregs[NGREG];
	uint8_t fp[1024] __attribute__((aligned(64)));
	bool xstate;
	uint16_t ds, es, gs;
	uint8_t *code_rw;       /* the writable view of the code pages */
	uint8_t mem[G_IMAGE_END]; /* the result's "guest memory" */
} nat;

static void
nat_signal(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint16_t ds, es, gs;

	/* The kernel leaves the sequence's RFLAGS.AC set in the handler. */
	__asm__ volatile("pushfq; andl $~0x40000, (%%rsp); popfq" ::: "cc",
	    "memory");
	(void)si;
	if (!nat.active) {
		/* Not from a sequence: this program's own fault. */
		signal(sig, SIG_DFL);
		if (sig == SIGALRM)
			return;
		raise(sig);
		return;
	}
	__asm__ volatile("movw %%ds, %0; movw %%es, %1; movw %%gs, %2" :
	    "=r"(ds), "=r"(es), "=r"(gs));
	nat.ds = ds;
	nat.es = es;
	nat.gs = gs;
	nat.sig = sig;
	nat.timeout = sig == SIGALRM;
	memcpy(nat.gregs, uc->uc_mcontext.gregs, sizeof(nat.gregs));
	nat.xstate = (uc->uc_flags & 1) != 0;   /* UC_FP_XSTATE */
	if (uc->uc_mcontext.fpregs != NULL)
		memcpy(nat.fp, uc->uc_mcontext.fpregs, nat.xstate ? 576 : 512);
	else
		memset(nat.fp, 0, sizeof(nat.fp));
	nat.active = 0;
	siglongjmp(nat.jb, 1);
}

/* Is anything but our own pages mapped below 4 GiB? */
static bool
nat_low_maps_clear(char *why, size_t whylen)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool ok = true;

	if (f == NULL) {
		snprintf(why, whylen, "/proc/self/maps: %s", strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
		    lo >= 0x100000000UL)
			continue;
		if ((lo >= G_CODE && hi <= G_CODE + G_CODE_SIZE) ||
		    (lo >= G_RO && hi <= G_RO + 0x1000) ||
		    (lo >= G_DATA && hi <= G_DATA + 0x1000) ||
		    (lo >= G_STACK && hi <= G_STACK + 0x1000))
			continue;
		snprintf(why, whylen, "this process has a mapping below 4 "
		    "GiB (%.60s), where 32-bit code could reach it",
		    strtok(line, "\n"));
		ok = false;
		break;
	}
	fclose(f);
	return ok;
}

static int
nat_init(struct side *s, char *why, size_t whylen)
{
	static const struct { uint64_t a; int prot; } pg[] = {
		{ G_RO, PROT_READ }, { G_DATA, PROT_READ | PROT_WRITE },
		{ G_STACK, PROT_READ | PROT_WRITE },
	};
	struct sigaction sa;
	stack_t ss;
	size_t k;
	int fd;

	memset(s, 0, sizeof(*s));
	s->name = "native";
	s->native = true;
	fd = memfd_create("difftest-code", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, G_CODE_SIZE) < 0) {
		snprintf(why, whylen, "memfd: %s", strerror(errno));
		return -1;
	}
	nat.code_rw = mmap(NULL, G_CODE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (nat.code_rw == MAP_FAILED || mmap((void *)G_CODE, G_CODE_SIZE,
	    PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0) !=
	    (void *)G_CODE) {
		snprintf(why, whylen, "cannot map the code pages at %#llx: "
		    "%s", G_CODE, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	for (k = 0; k < ARRAY_LEN(pg); k++)
		if (mmap((void *)pg[k].a, 4096, pg[k].prot, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
		    (void *)pg[k].a) {
			snprintf(why, whylen, "cannot map a page at %#" PRIx64
			    ": %s", pg[k].a, strerror(errno));
			return -1;
		}
	if (!nat_low_maps_clear(why, whylen))
		return -1;
	ss.ss_sp = malloc(1 << 16);
	ss.ss_size = 1 << 16;
	ss.ss_flags = 0;
	if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) < 0) {
		snprintf(why, whylen, "sigaltstack: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = nat_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0 ||
	    sigaction(SIGBUS, &sa, NULL) < 0 ||
	    sigaction(SIGFPE, &sa, NULL) < 0 ||
	    sigaction(SIGILL, &sa, NULL) < 0 ||
	    sigaction(SIGTRAP, &sa, NULL) < 0 ||
	    sigaction(SIGALRM, &sa, NULL) < 0) {
		snprintf(why, whylen, "sigaction: %s", strerror(errno));
		return -1;
	}
	memcpy(nat.mem, image, sizeof(nat.mem));
	return 0;
}

/* Is the guest's page at a present (a supervisor page, which the native
 * side cannot have)? */
static bool
nat_guest_super(uint64_t a)
{
	a &= 0xffffffffULL;
	return (a >= G_PML4 && a < G_CODE) ||
	    (a >= G_SUPER && a < G_SUPER + 0x1000);
}

/* The x87/SSE state from the signal's XSAVE image: components in their
 * initial configuration (XSTATE_BV clear) are not written by XSAVE. */
static void
nat_fxsave(uint8_t *fx)
{
	uint64_t bv = 3;

	memcpy(fx, nat.fp, 512);
	if (nat.xstate)
		memcpy(&bv, nat.fp + 512, 8);
	if (!(bv & 1)) {
		memset(fx, 0, 24);
		fx[0] = 0x7f;           /* FCW 0x037f */
		fx[1] = 0x03;
		memset(fx + 32, 0, 128);
	}
	if (!(bv & 2))
		memset(fx + 160, 0, 256);
	memset(fx + 464, 0, 48);        /* the kernel's software area */
}

static int
nat_run(struct side *s, const uint8_t *code, const uint8_t *data,
    const uint8_t *stack, const struct x86_state *st, struct result *res)
{
	static const int map[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX,
		REG_RSP, REG_RBP, REG_RSI, REG_RDI, REG_R8, REG_R9, REG_R10,
		REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };
	static struct nat_ctx ctx;
	struct itimerval it = { { 0, 0 }, { RUN_TIMEOUT_NS / 1000000000LL,
		0 } }, off = { { 0, 0 }, { 0, 0 } };
	struct timespec a, b;
	uint64_t csgsfs, top, flags, err = 0;
	int v, k;

	clock_gettime(CLOCK_MONOTONIC, &a);
	memcpy(nat.code_rw, code, G_CODE_SIZE);
	memcpy((void *)G_DATA, data, 4096);
	memcpy((void *)G_STACK, stack, 4096);
	for (k = 0; k < 16; k++)
		ctx.gpr[k] = st->gpr[k] & 0xffffffffULL;
	for (k = 8; k < 16; k++)
		ctx.gpr[k] = st->gpr[k];
	ctx.rflags = st->rflags;
	ctx.ds = st->seg[X86_DS].sel;
	ctx.es = st->seg[X86_ES].sel;
	ctx.gs = st->seg[X86_GS].sel;
	memcpy(ctx.fx, st->fxsave, 512);
	memset(ctx.fx + 464, 0, 48);
	difftest_nat_far.off = (uint32_t)st->rip;
	difftest_nat_far.sel = NAT_CS32;
	nat.sig = 0;
	nat.timeout = false;
	if (sigsetjmp(nat.jb, 0) == 0) {
		nat.active = 1;
		setitimer(ITIMER_REAL, &it, NULL);
		difftest_nat_enter(&ctx);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	__asm__ volatile("movw %w0, %%ds; movw %w0, %%es; movw %w0, %%gs" ::
	    "r"(0));

	memset(res, 0, sizeof(*res));
	res->st = *st;
	res->port = -1;
	res->reason = CPU_EXIT_ERROR;
	memcpy(nat.mem + G_CODE, code, G_CODE_SIZE);
	memcpy(nat.mem + G_DATA, (void *)G_DATA, 4096);
	memcpy(nat.mem + G_STACK, (void *)G_STACK, 4096);
	memcpy(nat.mem + G_RO, (void *)G_RO, 4096);
	memset(nat.mem + G_KSTACK, 0, 4096);
	res->mem = nat.mem;
	clock_gettime(CLOCK_MONOTONIC, &b);
	s->ns += (double)(ts_ns(&b) - ts_ns(&a));
	s->runs++;
	csgsfs = (uint64_t)nat.gregs[REG_CSGSFS];
	if (nat.timeout) {
		res->timeout = true;
		res->st.rip = (uint64_t)nat.gregs[REG_RIP];
		return 0;
	}
	if ((csgsfs & 0xffff) != NAT_CS32) {
		snprintf(res->diag, sizeof(res->diag), "signal %d outside the "
		    "32-bit code (cs %#x rip %#llx)", nat.sig,
		    (unsigned)(csgsfs & 0xffff),
		    (unsigned long long)nat.gregs[REG_RIP]);
		return 0;
	}
	v = (int)nat.gregs[REG_TRAPNO];
	if (v < 0 || v >= 32) {
		snprintf(res->diag, sizeof(res->diag), "signal %d with trap "
		    "number %d", nat.sig, v);
		return 0;
	}
	for (k = 0; k < 16; k++)
		res->st.gpr[k] = (uint64_t)nat.gregs[map[k]];
	flags = (uint64_t)nat.gregs[REG_EFL];
	res->st.seg[X86_DS].sel = nat.ds;
	res->st.seg[X86_ES].sel = nat.es;
	res->st.seg[X86_GS].sel = nat.gs;
	res->st.seg[X86_FS].sel = (uint16_t)(csgsfs >> 32);
	nat_fxsave(res->st.fxsave);
	if (vec_has_error(v)) {
		err = (uint64_t)nat.gregs[REG_ERR];
		if (v == X86_EXC_PF && !(err & 1) &&
		    nat_guest_super((uint64_t)nat.gregs[REG_CR2]))
			err |= 1;
	}
	if (v == X86_EXC_PF)
		res->st.cr2 = (uint64_t)nat.gregs[REG_CR2] & 0xffffffffULL;
	/* The 64-bit delivery through the guest's IDT (SDM vol. 3, 6.14):
	 * RSP0, the frame, the CPL0 stub. */
	top = G_KSTACK_TOP;
	{
		uint64_t f[6] = { err, (uint64_t)nat.gregs[REG_RIP],
			csgsfs & 0xffff, flags, res->st.gpr[X86_RSP],
			(csgsfs >> 48) & 0xffff };

		memcpy(nat.mem + top - 48, f, 48);
		if (!vec_has_error(v))
			memset(nat.mem + top - 48, 0, 8);
	}
	res->st.gpr[X86_RSP] = top - (vec_has_error(v) ? 48 : 40);
	res->st.rip = G_STUBS + 16 * (uint64_t)v + 2;
	res->st.rflags = flags & ~(uint64_t)(X86_TF | X86_NT | X86_RF |
	    X86_VM | X86_IF);
	seg_flat(&res->st.seg[X86_CS], SEL_KCODE, 1, 1);
	memset(&res->st.seg[X86_SS], 0, sizeof(res->st.seg[X86_SS]));
	res->st.seg[X86_SS].unusable = 1;
	res->port = v;
	res->reason = CPU_EXIT_KICKED;
	return 0;
}

/* ---- the generated sequence ---------------------------------------------- */

enum iclass {
	C_ALU, C_INCDEC, C_NEGNOT, C_SHIFT, C_ROT, C_RCX, C_SHXD, C_MUL,
	C_DIV, C_BT, C_BSX, C_POPCNT, C_BSWAP, C_MOVX, C_LEA, C_MOV, C_XCHG,
	C_CMPXCHG, C_CMOV, C_SETCC, C_JCC, C_LOOP, C_STACK, C_CONV, C_FLAGOP,
	C_STRING, C_BCD, C_SSEMOV, C_SSEFP, C_SSEINT, C_SSECVT, C_MXCSR,
	C_FAULT, C_X87, C_SSSE3, C_SSE41, C_SSE42S, C_AES, C_PCLMUL,
	C_BMI1, C_BMI2, C_ADX, C_MOVBE, C_CRC32, C_RDRAND,
	C_MMX, C_FXSR, C_ENTER, C_ARPL, C_PUSHA, C_BOUND, C_INTO, C_LESLDS,
	C_XLAT, C_MASKMOV, C_SETUP, C_END, NCLASS
};

/* Sets of classes are uint64_t bit masks (there are more than 32). */
#define CLS(c) (1ULL << (c))
#define SSE_CLASSES (CLS(C_SSEMOV) | CLS(C_SSEFP) | CLS(C_SSEINT) | \
	CLS(C_SSECVT) | CLS(C_MXCSR) | CLS(C_SSSE3) | CLS(C_SSE41) | \
	CLS(C_SSE42S) | CLS(C_AES) | CLS(C_PCLMUL))

static const char *const class_name[NCLASS] = {
	"alu", "incdec", "negnot", "shift", "rotate", "rcl/rcr", "shld/shrd",
	"mul", "div", "bt", "bsf/bsr", "popcnt", "bswap", "movzx/sx", "lea",
	"mov", "xchg/xadd", "cmpxchg", "cmov", "setcc", "jcc/jmp", "loop",
	"push/pop", "cbw/cwd", "flag-ops", "string", "bcd", "sse-mov",
	"sse-fp", "sse-int", "sse-cvt", "mxcsr", "faults", "x87", "ssse3",
	"sse41", "sse42-string", "aes", "pclmul", "bmi1", "bmi2", "adx",
	"movbe", "crc32", "rdrand", "mmx", "fxsave", "enter/leave",
	"arpl", "pusha/popa", "bound", "into", "les/lds", "xlat", "maskmov",
	"set-up", "end",
};

enum { END_OUT, END_INT3 };

struct ginsn {
	uint8_t b[15];
	uint8_t len;
	uint16_t off;           /* from G_CODE */
	uint8_t cls;            /* enum iclass */
	bool invalid;           /* meant to be #UD: Zydis may reject it */
	int8_t rel_at;          /* open jump: where its displacement is */
	uint8_t rel_size;
	uint32_t undef_in;      /* flags undefined before it */
	bool multi;             /* FLDENV, FNSTENV, FRSTOR, FNSAVE: many
	                           accesses in an order of its own */
};

struct seq {
	int mode;
	uint64_t iter;
	struct ginsn in[MAX_INSNS + 1];
	int n;                  /* instructions, the end marker last */
	uint32_t undef_end;     /* flags undefined at the end marker */
	uint32_t undef_all;     /* union along the whole sequence */
	uint64_t end_rip;
	int end_kind;
	int breg, xreg;         /* the reserved registers (xreg -1: none) */
	uint64_t bval, xval;
	struct x86_state init;
	uint8_t code[G_CODE_SIZE];
	uint8_t data[4096];
	uint8_t stack[4096];
};

/* What is known at a point of the sequence, merged where paths join. */
struct flow {
	uint32_t undef;         /* arithmetic flags undefined here */
	bool rsp_known;
	int32_t rsp;            /* RSP - G_STACK_INIT, when known */
};

#define GEN_INTN 0x1            /* INT n is judged right by this KVM */
#define GEN_INT3 0x2            /* INT3 is */
#define GEN_AC 0x4              /* and #AC (alignment checking) */
#define GEN_REP_PARTIAL 0x10    /* a faulting REP CMPS/SCAS shows its
                                   completed iterations' flags (AMD) */
#define GEN_MOVSXD16 0x20       /* MOVSXD r16, m reads a word as on Intel
                                   (AMD reads a dword): generated */
#define GEN_REP32_UPPER 0x40    /* a 67 REP MOVS/STOS faulting at once
                                   keeps RSI/RDI's upper halves (AMD) */
#define GEN_CMPS_SRC_FIRST 0x80  /* REP CMPS reads DS:rSI first (AMD) */
#define GEN_FX_PTR_ES 0x200     /* FXSAVE stores FOP, FIP and FDP only
                                   with FSW.ES set (AMD) */
#define GEN_FCS_HOST 0x400      /* FNSTENV stores a host selector as FCS
                                   (and FDS) */
#define GEN_POPA_PARTIAL 0x2000  /* a POPA that faults part-way has
                                   loaded the registers before (AMD) */
#define GEN_FDS_HOST 0x1000     /* only its FDS is a host selector
                                   (KVM-PVM: the host's user DS, 0) */
#define GEN_WRAP4G 0x800        /* an x87 environment access across 4 GiB
                                   takes #PF before the limit fault (AMD) */
#define GEN_SSE_AC 0x8          /* the CPU checks SSE operands' alignment
                                   under RFLAGS.AC (AMD; not the model) */

struct gen {
	struct rng r;
	struct seq *s;
	int mode;
	bool m64;
	unsigned opts;          /* GEN_* */
	uint64_t nogp_mask;     /* classes whose #GP this KVM cannot judge */
	uint16_t rsv;           /* GPRs the code must not write */
	int iopl;
	struct flow cur;
	bool reach;             /* the current point can be reached */
	struct {
		int insn;
		struct flow fl;
	} open[32];
	int nopen;
	unsigned off;           /* code bytes so far */
	uint64_t last_t;        /* linear target of the last gen_mem, 0 wild */
	bool nogp;              /* the unit being made is of such a class */
	bool align_all;         /* its memory operands are all aligned */
	bool canonical;         /* its memory operand is never MT_WILD */
	uint64_t only;          /* classes allowed (--only), 0 = all */
};

/* An instruction being assembled. */
struct enc {
	uint8_t pfx[6];
	int npfx;
	bool shuffle;           /* legacy prefixes may be reordered */
	uint8_t rex;            /* W R X B */
	bool rex_on;            /* emit a REX byte even if rex == 0 */
	bool no_rex;            /* byte registers AH..BH: no REX possible */
	uint8_t op[3];
	int nop;
	bool has_modrm;
	uint8_t mod, reg, rm;   /* 3-bit fields; REX bits are in rex */
	bool has_sib;
	uint8_t scale, index, base;
	int dsz;
	uint32_t disp;
	int isz;
	uint64_t imm;
	bool riprel;
	uint64_t rip_target;    /* the EA a RIP-relative disp must reach */
	bool invalid;
	/* A VEX prefix (C4) instead of REX: map (1 0F, 2 0F38, 3 0F3A),
	 * pp (0 none, 1 66, 2 F3, 3 F2), the vvvv register, L; W R X B
	 * come from rex. */
	bool vex;
	uint8_t vmap, vpp, vvvv, vl;
};

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

#define ARITH (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

static ZydisDecoder zdec[NMODES];

static void
enc_init(struct enc *e)
{
	memset(e, 0, sizeof(*e));
	e->shuffle = true;
}

static void
add_pfx(struct enc *e, uint8_t p)
{
	if (e->npfx < (int)sizeof(e->pfx))
		e->pfx[e->npfx++] = p;
}

static void
set_op(struct enc *e, int n, uint8_t a, uint8_t b, uint8_t c)
{
	e->nop = n;
	e->op[0] = a;
	e->op[1] = b;
	e->op[2] = c;
}

/* The ModRM.reg field is register r (0..15). */
static void
enc_reg(struct enc *e, int r)
{
	e->has_modrm = true;
	e->reg = (uint8_t)(r & 7);
	if (r & 8)
		e->rex |= REX_R;
}

/* The ModRM.rm field is register r (mod 3). */
static void
enc_rm_reg(struct enc *e, int r)
{
	e->has_modrm = true;
	e->mod = 3;
	e->rm = (uint8_t)(r & 7);
	if (r & 8)
		e->rex |= REX_B;
}

/* A register in the low bits of the last opcode byte (50+r, B8+r...). */
static void
enc_opreg(struct enc *e, int r)
{
	e->op[e->nop - 1] = (uint8_t)(e->op[e->nop - 1] + (r & 7));
	if (r & 8)
		e->rex |= REX_B;
}

static bool
rex_present(const struct enc *e)
{
	return e->rex != 0 || e->rex_on;
}

/*
 * Assemble e at guest address addr into out; returns the length, or -1
 * if the constraints were violated (a generator bug).
 */
static int
emit(const struct gen *g, struct enc *e, uint8_t *out, uint64_t addr)
{
	uint8_t pfx[6];
	int n = 0, k, disp_at = -1;

	memcpy(pfx, e->pfx, sizeof(pfx));
	if (e->shuffle && e->npfx > 1) {
		for (k = e->npfx - 1; k > 0; k--) {
			int j = (int)((addr * 2654435761u >> 7) %
			    (uint64_t)(k + 1));
			uint8_t t = pfx[k];

			pfx[k] = pfx[j];
			pfx[j] = t;
		}
	}
	for (k = 0; k < e->npfx; k++)
		out[n++] = pfx[k];
	if (e->vex) {
		if (!g->m64 && ((e->rex & (REX_R | REX_X | REX_B)) ||
		    e->vvvv >= 8 || e->rex_on))
			return -1;
		out[n++] = 0xc4;
		out[n++] = (uint8_t)((e->rex & REX_R ? 0 : 0x80) |
		    (e->rex & REX_X ? 0 : 0x40) | (e->rex & REX_B ? 0 : 0x20) |
		    e->vmap);
		out[n++] = (uint8_t)((e->rex & REX_W ? 0x80 : 0) |
		    (~e->vvvv & 15) << 3 | e->vl << 2 | e->vpp);
	} else if (rex_present(e)) {
		if (!g->m64 || e->no_rex)
			return -1;
		out[n++] = (uint8_t)(0x40 | e->rex);
	}
	for (k = 0; k < e->nop; k++)
		out[n++] = e->op[k];
	if (e->has_modrm)
		out[n++] = (uint8_t)(e->mod << 6 | e->reg << 3 | e->rm);
	if (e->has_sib)
		out[n++] = (uint8_t)(e->scale << 6 | e->index << 3 | e->base);
	if (e->dsz) {
		disp_at = n;
		memcpy(out + n, &e->disp, (size_t)e->dsz);
		n += e->dsz;
	}
	if (e->isz) {
		memcpy(out + n, &e->imm, (size_t)e->isz);
		n += e->isz;
	}
	if (e->riprel) {
		uint32_t d = (uint32_t)(e->rip_target - (addr + (uint64_t)n));

		memcpy(out + disp_at, &d, 4);
	}
	return n;
}

/*
 * Append e as the next instruction, with its effect on the flags: written
 * (defined) w, left undefined u.  Checks the encoding with Zydis.
 */
static bool
commit(struct gen *g, struct enc *e, int cls, uint32_t w, uint32_t u)
{
	struct seq *s = g->s;
	struct ginsn *in;
	ZydisDecodedInstruction zi;
	uint8_t buf[40];
	int len;

	if (s->n >= MAX_INSNS || g->off + 16 > G_CODE_SIZE - 64)
		return false;
	in = &s->in[s->n];
	memset(in, 0, sizeof(*in));
	len = emit(g, e, buf, G_CODE + g->off);
	/* Redundant prefixes (66 with REX.W, a segment, 67, LOCK) can make
	 * a long form 16 bytes: dropped (seen once in 38,000 sequences). */
	if (len > 15)
		return false;
	if (len > 0)
		memcpy(in->b, buf, (size_t)len);
	if (len < 0) {
		fprintf(stderr, "difftest: generator bug: bad encoding for "
		    "class %s\n", class_name[cls]);
		abort();
	}
	if (!e->invalid) {
		ZyanStatus zs = ZydisDecoderDecodeInstruction(&zdec[g->mode],
		    NULL, in->b, (ZyanUSize)len, &zi);

		if (!ZYAN_SUCCESS(zs) || zi.length != len) {
			char hex[64] = "";
			int k;

			for (k = 0; k < len; k++)
				snprintf(hex + 3 * k, 4, "%02x ", in->b[k]);
			fprintf(stderr, "difftest: generator bug: %s made "
			    "%s(%d bytes), Zydis %s\n", class_name[cls], hex,
			    len, ZYAN_SUCCESS(zs) ? "decodes another length" :
			    "finds it invalid");
			abort();
		}
	}
	in->len = (uint8_t)len;
	in->off = (uint16_t)g->off;
	in->cls = (uint8_t)cls;
	in->invalid = e->invalid;
	in->rel_at = -1;
	in->undef_in = g->cur.undef;
	s->undef_all |= g->cur.undef;
	g->cur.undef = (g->cur.undef & ~w) | u;
	g->off += (unsigned)len;
	s->n++;
	return true;
}

static bool
flags_ok(const struct gen *g, uint32_t read)
{
	return (g->cur.undef & read) == 0;
}

/* The flags condition code cc reads. */
static uint32_t
cc_flags(int cc)
{
	static const uint32_t t[8] = { X86_OF, X86_CF, X86_ZF,
		X86_CF | X86_ZF, X86_SF, X86_PF, X86_SF | X86_OF,
		X86_ZF | X86_SF | X86_OF };

	return t[(cc >> 1) & 7];
}

/* A condition whose flags are all defined here, or -1. */
static int
pick_cc(struct gen *g)
{
	int k, cc;

	for (k = 0; k < 8; k++) {
		cc = (int)rng_below(&g->r, 16);
		if (flags_ok(g, cc_flags(cc)))
			return cc;
	}
	return -1;
}

/* ---- registers ----------------------------------------------------------- */

/* Byte registers: REX (SPL..DIL, R8B..) or none (AH..BH) for this one. */
static void
byte_mode(struct gen *g, struct enc *e)
{
	if (g->m64 && (e->rex || rng_below(&g->r, 2)))
		e->rex_on = true;
	else
		e->no_rex = true;
}

static int
nregs(const struct gen *g, const struct enc *e)
{
	return g->m64 && !e->no_rex ? 16 : 8;
}

/* The GPR that encoding r of size sz names (AH..BH are 4..7 without
 * REX and live in RAX..RBX). */
static int
phys(const struct gen *g, const struct enc *e, int r, int sz)
{
	if (sz == 1 && r >= 4 && r < 8 && (!g->m64 || e->no_rex))
		return r - 4;
	return r;
}

static bool
writable(const struct gen *g, int p)
{
	return p != X86_RSP && !(g->rsv & (1u << p));
}

/* A register to write, of size sz, or -1. */
static int
pick_dst(struct gen *g, const struct enc *e, int sz)
{
	int k, r;

	for (k = 0; k < 16; k++) {
		r = (int)rng_below(&g->r, (unsigned)nregs(g, e));
		if (writable(g, phys(g, e, r, sz)))
			return r;
	}
	return -1;
}

static int
pick_src(struct gen *g, const struct enc *e)
{
	return (int)rng_below(&g->r, (unsigned)nregs(g, e));
}

/* Operand size from allowed (bits 2: 16, 4: 32, 8: 64); sets 66/REX.W. */
static int
pick_osz(struct gen *g, struct enc *e, unsigned allowed)
{
	int sz;

	if (!g->m64)
		allowed &= ~8u;
	if (e->no_rex)
		allowed &= ~8u;
	if (allowed == 0)
		return 0;
	do {
		sz = 2 << rng_below(&g->r, 3);
	} while (!(allowed & (unsigned)sz));
	if (sz == 2)
		add_pfx(e, 0x66);
	if (sz == 8) {
		e->rex |= REX_W;
		if (rng_pct(&g->r, 8))
			add_pfx(e, 0x66);       /* REX.W wins */
	}
	return sz;
}

/* A redundant REX (0x40) now and then on instructions without byte
 * registers. */
static void
maybe_rex(struct gen *g, struct enc *e)
{
	if (g->m64 && !e->no_rex && rng_pct(&g->r, 10))
		e->rex_on = true;
}

static int64_t
sext(uint64_t v, int sz)
{
	switch (sz) {
	case 1: return (int8_t)v;
	case 2: return (int16_t)v;
	case 4: return (int32_t)v;
	default: return (int64_t)v;
	}
}

/* ---- memory operands ----------------------------------------------------- */

enum {
	MT_DATA, MT_STACK, MT_CROSS, MT_RO, MT_CODE, MT_SUPER, MT_HOLE,
	MT_NULL, MT_WILD
};

static int
pick_target(struct gen *g)
{
	unsigned x = rng_below(&g->r, g->nogp ? 975 : g->canonical ? 980 :
	    1000);

	if (x < 840)
		return MT_DATA;
	if (x < 900)
		return MT_STACK;
	if (x < 925)
		return MT_CROSS;
	if (x < 945)
		return MT_RO;
	if (x < 955)
		return MT_CODE;
	if (x < 965)
		return MT_SUPER;
	if (x < 975)
		return MT_HOLE;
	if (x < 980)
		return MT_NULL;
	return MT_WILD;
}

static uint64_t
aligned_off(struct gen *g, unsigned span, unsigned sz, unsigned align)
{
	uint64_t off = rng_below(&g->r, span - sz + 1);
	unsigned a = align ? align : (sz >= 16 ? 16 : sz);

	/* Where KVM cannot judge #GP for the class, operands that must be
	 * aligned always are. */
	if (g->align_all ||
	    (align ? rng_pct(&g->r, g->nogp ? 100 : 88) : rng_pct(&g->r, 60)))
		off &= ~(uint64_t)(a - 1);
	return off;
}

/* Encode the displacement d: 0, 8 or 32 bits as the form allows. */
static void
set_disp(struct gen *g, struct enc *e, int64_t d, int basereg)
{
	bool bp = (basereg & 7) == 5;

	if (d == 0 && !bp && rng_pct(&g->r, 60)) {
		e->mod = 0;
		e->dsz = 0;
	} else if (d >= -128 && d <= 127 && rng_pct(&g->r, 80)) {
		e->mod = 1;
		e->dsz = 1;
		e->disp = (uint32_t)(uint8_t)(int8_t)d;
	} else {
		e->mod = 2;
		e->dsz = 4;
		e->disp = (uint32_t)d;
	}
}

/* [base + index * 2^scale + disp]; index < 0 for none. */
static void
enc_sib_or_rm(struct gen *g, struct enc *e, int base, int index, int scale,
    int64_t d)
{
	e->has_modrm = true;
	set_disp(g, e, d, base);
	if (base & 8)
		e->rex |= REX_B;
	if (index < 0 && (base & 7) != 4 && rng_pct(&g->r, 85)) {
		e->rm = (uint8_t)(base & 7);
		return;
	}
	e->rm = 4;
	e->has_sib = true;
	e->base = (uint8_t)(base & 7);
	if (index < 0) {
		e->index = 4;
		e->scale = (uint8_t)rng_below(&g->r, 4);
	} else {
		e->index = (uint8_t)(index & 7);
		e->scale = (uint8_t)scale;
		if (index & 8)
			e->rex |= REX_X;
	}
}

static int
seg_override(struct gen *g, struct enc *e, uint64_t *segbase)
{
	static const uint8_t pfx[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
	int k;

	*segbase = 0;
	if (!rng_pct(&g->r, 12))
		return -1;
	k = (int)rng_below(&g->r, 6);
	if (!g->m64 && k == 4)
		k = 3;                  /* FS is null (base_state) */
	add_pfx(e, pfx[k]);
	if (g->m64 && k == 4)
		*segbase = FS_BASE;
	if (g->m64 && k == 5)
		*segbase = GS_BASE;
	return k;
}

/*
 * A memory operand of sz bytes into e's ModRM (and SIB, displacement,
 * 67 and segment prefixes).  Mostly in the data or stack page, where the
 * reserved base register B (and index X) point; sometimes elsewhere on
 * purpose (see pick_target).  align 16 asks for 16-byte alignment most of
 * the time.  False if no form fits e's constraints.
 */
static bool
gen_mem(struct gen *g, struct enc *e, unsigned sz, unsigned align)
{
	struct seq *s = g->s;
	int kind = pick_target(g), form, scale = 0;
	int base, idx = -1;

	/* More random pointers in 32-bit mode, where half of them use
	 * 16-bit addressing (below). */
	if (!g->m64 && kind == MT_DATA && !g->nogp && !g->canonical &&
	    rng_pct(&g->r, 3))
		kind = MT_WILD;

	/* An aligned operand across a page end is misaligned: #GP. */
	if (((g->nogp && align) || g->align_all) && kind == MT_CROSS)
		kind = MT_HOLE;
	/* A random pointer may be misaligned too (32-bit mode, where
	 * addresses are never non-canonical). */
	if (g->align_all && kind == MT_WILD)
		kind = MT_HOLE;
	uint64_t t = 0, segbase, ea;
	bool a32 = false;
	int64_t d;

	switch (kind) {
	case MT_DATA:
		t = G_DATA + aligned_off(g, 4096, sz, align);
		break;
	case MT_STACK:
		t = G_STACK + 0x400 + aligned_off(g, 0x800, sz, align);
		break;
	case MT_CROSS:
		t = G_DATA + 4096 - (sz > 1 ? 1 + rng_below(&g->r, sz - 1) :
		    0);
		break;
	case MT_RO:
		t = G_RO + aligned_off(g, 4096, sz, align);
		break;
	case MT_CODE:
		t = G_CODE + aligned_off(g, G_CODE_SIZE, sz, align);
		break;
	case MT_SUPER:
		t = G_SUPER + aligned_off(g, 4096, sz, align);
		break;
	case MT_HOLE:
		t = G_HOLE + aligned_off(g, 4096, sz, align);
		break;
	case MT_NULL:
		t = aligned_off(g, 4096, sz, align);
		break;
	default:
		break;
	}
	e->has_modrm = true;
	g->last_t = t;
	seg_override(g, e, &segbase);
	ea = t - segbase;
	if (kind == MT_WILD && !g->m64 && rng_pct(&g->r, 50)) {
		/* 16-bit addressing (67): rm 0..7 = BX+SI, BX+DI, BP+SI,
		 * BP+DI, SI, DI, BP (disp16 with mod 0), BX, with whatever
		 * values they have.  The offset wraps at 64 KiB, so it lands
		 * below G_CODE: a #PF whose CR2 is the computed address. */
		add_pfx(e, 0x67);
		e->rm = (uint8_t)rng_below(&g->r, 8);
		e->mod = (uint8_t)rng_below(&g->r, 3);
		e->dsz = e->mod == 1 ? 1 : e->mod == 2 ? 2 : 0;
		if (e->mod == 0 && e->rm == 6)
			e->dsz = 2;
		e->disp = (uint32_t)rng_next(&g->r);
		return true;
	}
	if (kind == MT_WILD) {
		/* Through a register with whatever value it has. */
		base = pick_src(g, e);
		if (rng_pct(&g->r, 30)) {
			idx = pick_src(g, e);
			if (idx == X86_RSP)
				idx = -1;
		}
		enc_sib_or_rm(g, e, base, idx, (int)rng_below(&g->r, 4),
		    sext(rng_next(&g->r), rng_pct(&g->r, 50) ? 1 : 4));
		return true;
	}
	/* Forms: 0 [B (+X*s) + d], 1 RIP-relative, 2 absolute, 3 [X*s + d],
	 * 4 [RSP + d] (when RSP is known), 5 as 0 under 67 (64-bit mode). */
	for (;;) {
		form = (int)rng_below(&g->r, 11);
		if (form < 6)
			form = 0;
		else
			form -= 5;
		if ((form == 1 || form == 5) && !g->m64)
			continue;
		if (form == 3 && s->xreg < 0)
			continue;
		if (form == 4 && (!g->cur.rsp_known || (g->nogp && align) ||
		    g->align_all))
			continue;
		if (e->no_rex && (form == 0 || form == 5) && s->breg >= 8)
			continue;
		if (e->no_rex && form == 3 && s->xreg >= 8)
			continue;
		break;
	}
	if (form == 5) {
		a32 = true;
		add_pfx(e, 0x67);
		form = 0;
	}
	switch (form) {
	case 0:
		base = s->breg;
		if (s->xreg >= 0 && !(e->no_rex && s->xreg >= 8) &&
		    rng_pct(&g->r, 50)) {
			idx = s->xreg;
			scale = (int)rng_below(&g->r, 4);
		}
		d = (int64_t)(ea - s->bval - (idx >= 0 ? s->xval << scale :
		    0));
		if (a32)
			d = (int32_t)(uint32_t)d;
		enc_sib_or_rm(g, e, base, idx, scale, d);
		break;
	case 1:
		e->mod = 0;
		e->rm = 5;
		e->dsz = 4;
		e->riprel = true;
		e->rip_target = ea;
		break;
	case 2:
		e->mod = 0;
		e->dsz = 4;
		e->disp = (uint32_t)ea;
		if (g->m64) {
			e->rm = 4;
			e->has_sib = true;
			e->base = 5;
			e->index = 4;
			e->scale = (uint8_t)rng_below(&g->r, 4);
		} else {
			e->rm = 5;
		}
		break;
	case 3:
		scale = (int)rng_below(&g->r, 4);
		e->mod = 0;
		e->rm = 4;
		e->has_sib = true;
		e->base = 5;
		e->index = (uint8_t)(s->xreg & 7);
		e->scale = (uint8_t)scale;
		if (s->xreg & 8)
			e->rex |= REX_X;
		e->dsz = 4;
		e->disp = (uint32_t)(ea - (s->xval << scale));
		break;
	case 4:
		/* Near the current stack pointer (its exact value matters
		 * little: the whole stack page is compared). */
		d = (int64_t)(G_STACK + 0x200 + rng_below(&g->r, 0xc00) -
		    segbase - (G_STACK_INIT + (int64_t)g->cur.rsp));
		if (kind != MT_STACK)
			d = (int64_t)(ea - (G_STACK_INIT +
			    (int64_t)g->cur.rsp));
		g->last_t = (uint64_t)((int64_t)G_STACK_INIT + g->cur.rsp + d) +
		    segbase;
		enc_sib_or_rm(g, e, X86_RSP, -1, 0, d);
		break;
	}
	return true;
}

/* The r/m operand: memory (mem_pct percent of the time) or a register;
 * dst: it is written.  *mem tells which. */
static bool
gen_rm(struct gen *g, struct enc *e, int sz, bool dst, unsigned mem_pct,
    bool *mem)
{
	int r;

	*mem = rng_pct(&g->r, mem_pct);
	if (*mem)
		return gen_mem(g, e, (unsigned)sz, 0);
	r = dst ? pick_dst(g, e, sz) : pick_src(g, e);
	if (r < 0)
		return false;
	enc_rm_reg(e, r);
	return true;
}

/* The ModRM.reg operand as a GPR. */
static bool
gen_reg(struct gen *g, struct enc *e, int sz, bool dst)
{
	int r = dst ? pick_dst(g, e, sz) : pick_src(g, e);

	if (r < 0)
		return false;
	enc_reg(e, r);
	return true;
}

static void
set_imm(struct enc *e, int size, uint64_t v)
{
	e->isz = size;
	e->imm = v;
}

/* An immediate of size bytes with edge cases. */
static uint64_t
rand_imm(struct gen *g)
{
	return rand_value(&g->r);
}

/* LOCK: on lockable memory forms now and then; on others rarely, which
 * is #UD. */
static void
maybe_lock(struct gen *g, struct enc *e, bool lockable)
{
	if (lockable && rng_pct(&g->r, 15)) {
		add_pfx(e, 0xf0);
	} else if (!lockable && rng_pct(&g->r, 1)) {
		add_pfx(e, 0xf0);
		e->invalid = true;
	}
}

/* ---- control flow: forward jumps stay open until a unit boundary --------- */

static void
flow_merge(struct flow *a, const struct flow *b)
{
	a->undef |= b->undef;
	if (!a->rsp_known || !b->rsp_known || a->rsp != b->rsp)
		a->rsp_known = false;
}

/* Land open jump k here: patch its displacement, merge its flow. */
static void
land(struct gen *g, int k)
{
	struct ginsn *j = &g->s->in[g->open[k].insn];
	int64_t d = (int64_t)g->off - (j->off + j->len);

	if (j->rel_size == 1)
		j->b[j->rel_at] = (uint8_t)(int8_t)d;
	else
		memcpy(j->b + j->rel_at, &(int32_t){ (int32_t)d }, 4);
	if (!g->reach) {
		g->cur = g->open[k].fl;
		g->reach = true;
	} else {
		flow_merge(&g->cur, &g->open[k].fl);
	}
	g->open[k] = g->open[--g->nopen];
}

/* At a unit boundary: land each open jump with some probability, and
 * every short one that could not reach past the next unit. */
static void
land_some(struct gen *g, bool all)
{
	int k = 0;

	while (k < g->nopen) {
		struct ginsn *j = &g->s->in[g->open[k].insn];
		unsigned dist = g->off - (j->off + j->len);

		if (all || (j->rel_size == 1 && dist > 127 - 72) ||
		    rng_pct(&g->r, 30))
			land(g, k);
		else
			k++;
	}
}

/* The instruction just committed is a jump with a rel of size at its end. */
static void
open_jump(struct gen *g, int size, bool cond)
{
	struct ginsn *in = &g->s->in[g->s->n - 1];

	in->rel_at = (int8_t)(in->len - size);
	in->rel_size = (uint8_t)size;
	g->open[g->nopen].insn = g->s->n - 1;
	g->open[g->nopen].fl = g->cur;
	g->nopen++;
	if (!cond)
		g->reach = false;
}

/* ---- unit builders: integer ---------------------------------------------- */

/* Set-up: mov reg, imm (sign-extended to sz), keeping the flags. */
static bool
setup_mov_imm(struct gen *g, int r, int sz, uint64_t v)
{
	struct enc e;

	if (!writable(g, r))
		return false;
	enc_init(&e);
	if (sz == 8 && (int64_t)v == (int32_t)v) {
		e.rex = REX_W;
		set_op(&e, 1, 0xc7, 0, 0);
		enc_rm_reg(&e, r);
		e.reg = 0;
		set_imm(&e, 4, v);
	} else if (sz == 1) {
		set_op(&e, 1, 0xb0, 0, 0);
		if (r >= 4)
			e.rex_on = true;
		enc_opreg(&e, r);
		set_imm(&e, 1, v);
	} else {
		set_op(&e, 1, 0xb8, 0, 0);
		enc_opreg(&e, r);
		if (sz == 8)
			e.rex |= REX_W;
		set_imm(&e, sz == 8 ? 8 : 4, v);
	}
	return commit(g, &e, C_SETUP, 0, 0);
}

/* Set-up: lea r, [B + (target - B)]: r = target. */
static bool
setup_lea(struct gen *g, int r, uint64_t target)
{
	struct enc e;
	int64_t d = (int64_t)(target - g->s->bval);

	if (!writable(g, r))
		return false;
	enc_init(&e);
	if (g->m64)
		e.rex |= REX_W;
	set_op(&e, 1, 0x8d, 0, 0);
	enc_reg(&e, r);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, d);
	return commit(g, &e, C_SETUP, 0, 0);
}

static bool
u_alu(struct gen *g)
{
	static const uint8_t grp[4] = { 0x80, 0x81, 0x83, 0x82 };
	struct enc e;
	int op = (int)rng_below(&g->r, 8), form, sz;
	bool logic = op == 1 || op == 4 || op == 6, mem = false;
	bool dstw = op != 7, byte;
	uint32_t u = logic ? X86_AF : 0;

	if ((op == 2 || op == 3) && !flags_ok(g, X86_CF))
		return false;
	enc_init(&e);
	form = (int)rng_below(&g->r, 4);
	byte = rng_pct(&g->r, 30);
	if (form == 3 && rng_pct(&g->r, 25) && g->mode == M32)
		byte = true;            /* 82: an alias of 80 outside 64-bit */
	if (byte) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	switch (form) {
	case 0: /* op r/m, reg */
		set_op(&e, 1, (uint8_t)(op * 8 + (sz > 1)), 0, 0);
		if (!gen_reg(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, dstw, 40, &mem))
			return false;
		break;
	case 1: /* op reg, r/m */
		set_op(&e, 1, (uint8_t)(op * 8 + 2 + (sz > 1)), 0, 0);
		if (!gen_reg(g, &e, sz, dstw) ||
		    !gen_rm(g, &e, sz, false, 40, &mem))
			return false;
		break;
	case 2: /* op al/eax, imm */
		if (dstw && !writable(g, X86_RAX))
			return false;
		set_op(&e, 1, (uint8_t)(op * 8 + 4 + (sz > 1)), 0, 0);
		set_imm(&e, sz == 1 ? 1 : sz == 2 ? 2 : 4, rand_imm(g));
		break;
	default: { /* 80/81/83 (/82 in 32-bit mode) /op r/m, imm */
		int k = sz == 1 ? (g->mode == M32 && rng_pct(&g->r, 20) ? 3 :
		    0) : 1 + (int)rng_below(&g->r, 2);

		set_op(&e, 1, grp[k], 0, 0);
		if (!gen_rm(g, &e, sz, dstw, 40, &mem))
			return false;
		e.reg = (uint8_t)op;
		set_imm(&e, k != 1 ? 1 : sz == 2 ? 2 : 4, rand_imm(g));
		break;
	}
	}
	maybe_lock(g, &e, mem && dstw && form != 1);
	return commit(g, &e, C_ALU, ARITH & ~u, u);
}

static bool
u_test(struct gen *g)
{
	struct enc e;
	int sz, form = (int)rng_below(&g->r, 3);
	bool mem = false;

	enc_init(&e);
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
	}
	if (form == 0) {
		set_op(&e, 1, (uint8_t)(0x84 + (sz > 1)), 0, 0);
		if (!gen_reg(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, false, 40, &mem))
			return false;
	} else if (form == 1) {
		set_op(&e, 1, (uint8_t)(0xa8 + (sz > 1)), 0, 0);
		set_imm(&e, sz == 1 ? 1 : sz == 2 ? 2 : 4, rand_imm(g));
	} else {
		set_op(&e, 1, (uint8_t)(0xf6 + (sz > 1)), 0, 0);
		if (!gen_rm(g, &e, sz, false, 40, &mem))
			return false;
		e.reg = (uint8_t)rng_below(&g->r, 2);   /* /1 aliases /0 */
		set_imm(&e, sz == 1 ? 1 : sz == 2 ? 2 : 4, rand_imm(g));
	}
	return commit(g, &e, C_ALU, ARITH & ~X86_AF, X86_AF);
}

static bool
u_incdec(struct gen *g)
{
	struct enc e;
	int sz, r;
	bool mem = false;
	uint32_t w = ARITH & ~X86_CF;

	enc_init(&e);
	if (g->mode == M32 && rng_pct(&g->r, 30)) {
		/* 40+r / 48+r: INC/DEC r16/r32 outside 64-bit mode. */
		sz = pick_osz(g, &e, 2 | 4);
		r = pick_dst(g, &e, sz);
		if (r < 0)
			return false;
		set_op(&e, 1, (uint8_t)(rng_below(&g->r, 2) ? 0x48 : 0x40), 0,
		    0);
		enc_opreg(&e, r);
		return commit(g, &e, C_INCDEC, w, 0);
	}
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	set_op(&e, 1, (uint8_t)(0xfe + (sz > 1)), 0, 0);
	if (!gen_rm(g, &e, sz, true, 40, &mem))
		return false;
	e.reg = (uint8_t)rng_below(&g->r, 2);
	maybe_lock(g, &e, mem);
	return commit(g, &e, C_INCDEC, w, 0);
}

static bool
u_negnot(struct gen *g)
{
	struct enc e;
	int sz;
	bool mem = false, neg = rng_below(&g->r, 2);

	enc_init(&e);
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	set_op(&e, 1, (uint8_t)(0xf6 + (sz > 1)), 0, 0);
	if (!gen_rm(g, &e, sz, true, 40, &mem))
		return false;
	e.reg = neg ? 3 : 2;
	maybe_lock(g, &e, mem);
	return commit(g, &e, C_NEGNOT, neg ? ARITH : 0, 0);
}

/* A shift count with the edges well represented. */
static unsigned
rand_count(struct gen *g, int width)
{
	static const int edge[] = { 0, 1, 2, -1, 0, 1, 31, 32, 33, 63, 64,
		65 };
	int k = (int)rng_below(&g->r, ARRAY_LEN(edge) + 4);

	if (k >= (int)ARRAY_LEN(edge))
		return rng_below(&g->r, 256);
	if (edge[k] < 0)
		return (unsigned)(width - 1 + (int)rng_below(&g->r, 3));
	return (unsigned)edge[k];
}

/*
 * The flags a shift or rotate (kind = ModRM.reg: 0 ROL 1 ROR 2 RCL 3 RCR
 * 4 SHL 5 SHR 6 SAL 7 SAR) of width bits by count leaves written (*w) and
 * undefined (*u); count < 0: not known.  SDM vol. 2, SAL/SAR/SHL/SHR and
 * RCL/RCR/ROL/ROR, "Flags Affected".
 */
static void
shift_flags(int kind, int width, int count, uint32_t *w, uint32_t *u)
{
	bool rot = kind < 4, shlr = kind == 4 || kind == 5 || kind == 6;
	int c;

	*w = 0;
	if (count < 0) {
		*u = X86_OF | (rot ? 0 : X86_AF) |
		    (shlr && width <= 16 ? X86_CF : 0);
		return;
	}
	c = count & (width == 64 ? 63 : 31);
	*u = 0;
	if (c == 0)
		return;
	if (c != 1)
		*u |= X86_OF;
	if (rot) {
		*w = (X86_CF | X86_OF) & ~*u;
		return;
	}
	*u |= X86_AF;
	if (shlr && c >= width)
		*u |= X86_CF;
	*w = ARITH & ~*u;
}

static bool
u_shift(struct gen *g, int cls)
{
	struct enc e;
	int kind, sz, form = (int)rng_below(&g->r, 3), count = -1;
	bool mem = false;
	uint32_t w, u;

	if (cls == C_ROT)
		kind = (int)rng_below(&g->r, 2);
	else if (cls == C_RCX)
		kind = 2 + (int)rng_below(&g->r, 2);
	else
		kind = rng_pct(&g->r, 4) ? 6 : 4 + (int)rng_below(&g->r, 4);
	if (kind == 6 && cls == C_SHIFT && rng_below(&g->r, 2))
		kind = 7;
	if (cls == C_RCX && !flags_ok(g, X86_CF))
		return false;
	enc_init(&e);
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	if (form == 2) {
		/* By CL: sometimes set CL first, so the count is known. */
		if (g->s->xreg == X86_RCX) {
			count = (int)(g->s->xval & 0xff);
		} else if (rng_pct(&g->r, 50) && writable(g, X86_RCX)) {
			unsigned c = rand_count(g, sz * 8);

			if (!setup_mov_imm(g, X86_RCX, 1, c))
				return false;
			count = (int)c;
		}
	}
	switch (form) {
	case 0:
		set_op(&e, 1, (uint8_t)(0xd0 + (sz > 1)), 0, 0);
		count = 1;
		break;
	case 1:
		set_op(&e, 1, (uint8_t)(0xc0 + (sz > 1)), 0, 0);
		count = (int)rand_count(g, sz * 8);
		set_imm(&e, 1, (uint64_t)count);
		break;
	default:
		set_op(&e, 1, (uint8_t)(0xd2 + (sz > 1)), 0, 0);
		break;
	}
	if (!gen_rm(g, &e, sz, true, 35, &mem))
		return false;
	e.reg = (uint8_t)kind;
	shift_flags(kind, sz * 8, count, &w, &u);
	return commit(g, &e, cls, w, u);
}

static bool
u_shxd(struct gen *g)
{
	struct enc e;
	int sz, count = -1, width;
	bool cl = rng_below(&g->r, 2), left = rng_below(&g->r, 2), mem;
	uint32_t w, u;

	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	width = sz * 8;
	if (cl) {
		if (g->s->xreg == X86_RCX) {
			count = (int)(g->s->xval & 0xff);
		} else if ((sz == 2 || rng_pct(&g->r, 50)) &&
		    writable(g, X86_RCX)) {
			unsigned c = rand_count(g, width);

			if (sz == 2 && (c & 31) > 16)
				c &= 15;
			if (!setup_mov_imm(g, X86_RCX, 1, c))
				return false;
			count = (int)c;
		}
		/* A 16-bit count above 16 leaves the result undefined. */
		if (sz == 2 && (count < 0 || (count & 31) > 16))
			return false;
		set_op(&e, 2, 0x0f, left ? 0xa5 : 0xad, 0);
	} else {
		count = (int)rand_count(g, width);
		if (sz == 2 && (count & 31) > 16)
			count &= 15;
		set_op(&e, 2, 0x0f, left ? 0xa4 : 0xac, 0);
		set_imm(&e, 1, (uint64_t)count);
	}
	if (!gen_reg(g, &e, sz, false) || !gen_rm(g, &e, sz, true, 35, &mem))
		return false;
	if (count < 0) {
		w = 0;
		u = X86_OF | X86_AF;
	} else {
		int c = count & (width == 64 ? 63 : 31);

		w = 0;
		u = 0;
		if (c) {
			u = X86_AF | (c != 1 ? X86_OF : 0);
			w = ARITH & ~u;
		}
	}
	return commit(g, &e, C_SHXD, w, u);
}

static bool
u_mul(struct gen *g)
{
	struct enc e;
	int sz, form = (int)rng_below(&g->r, 4);
	bool mem;
	const uint32_t w = X86_CF | X86_OF, u = X86_SF | X86_ZF | X86_AF |
	    X86_PF;

	enc_init(&e);
	if (form <= 1) {
		/* MUL / IMUL r/m: rDX:rAX (AX for bytes). */
		if (rng_pct(&g->r, 25)) {
			byte_mode(g, &e);
			sz = 1;
		} else {
			sz = pick_osz(g, &e, 2 | 4 | 8);
			maybe_rex(g, &e);
		}
		if (!writable(g, X86_RAX) ||
		    (sz > 1 && !writable(g, X86_RDX)))
			return false;
		set_op(&e, 1, (uint8_t)(0xf6 + (sz > 1)), 0, 0);
		if (!gen_rm(g, &e, sz, false, 35, &mem))
			return false;
		e.reg = (uint8_t)(4 + form);
		return commit(g, &e, C_MUL, w, u);
	}
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	if (form == 2) {
		set_op(&e, 2, 0x0f, 0xaf, 0);
	} else if (rng_below(&g->r, 2)) {
		set_op(&e, 1, 0x69, 0, 0);
		set_imm(&e, sz == 2 ? 2 : 4, rand_imm(g));
	} else {
		set_op(&e, 1, 0x6b, 0, 0);
		set_imm(&e, 1, rand_imm(g));
	}
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, false, 35, &mem))
		return false;
	return commit(g, &e, C_MUL, w, u);
}

static bool
u_div(struct gen *g)
{
	struct enc e, p;
	int sz, r;
	bool sgn = rng_below(&g->r, 2), mem;

	enc_init(&e);
	if (rng_pct(&g->r, 25)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	if (!writable(g, X86_RAX) || (sz > 1 && !writable(g, X86_RDX)))
		return false;
	/* Mostly set up the high half so the quotient fits (#DE stays the
	 * exception, not the rule). */
	if (rng_pct(&g->r, 70)) {
		enc_init(&p);
		if (sgn) {
			/* CBW / CWD / CDQ / CQO */
			set_op(&p, 1, sz == 1 ? 0x98 : 0x99, 0, 0);
			if (sz <= 2)
				add_pfx(&p, 0x66);
			if (sz == 8)
				p.rex = REX_W;
			if (!commit(g, &p, C_SETUP, 0, 0))
				return false;
		} else if (sz == 1) {
			set_op(&p, 1, 0xb4, 0, 0);      /* mov ah, 0 */
			set_imm(&p, 1, 0);
			if (!commit(g, &p, C_SETUP, 0, 0))
				return false;
		} else {
			set_op(&p, 1, 0x31, 0, 0);      /* xor edx, edx */
			enc_reg(&p, X86_RDX);
			enc_rm_reg(&p, X86_RDX);
			if (!commit(g, &p, C_SETUP, ARITH & ~X86_AF, X86_AF))
				return false;
		}
	}
	set_op(&e, 1, (uint8_t)(0xf6 + (sz > 1)), 0, 0);
	if (rng_pct(&g->r, 5) && sz > 1) {
		/* A zero divisor. */
		r = pick_dst(g, &e, sz);
		if (r < 0 || r == X86_RAX || r == X86_RDX)
			return false;
		if (!setup_mov_imm(g, r, 4, 0))
			return false;
		enc_rm_reg(&e, r);
	} else if (!gen_rm(g, &e, sz, false, 35, &mem)) {
		return false;
	}
	e.reg = (uint8_t)(6 + sgn);
	return commit(g, &e, C_DIV, 0, ARITH);
}

static bool
u_bt(struct gen *g)
{
	struct enc e;
	int sz, op = (int)rng_below(&g->r, 4);  /* BT BTS BTR BTC */
	bool mem, imm = rng_below(&g->r, 2);
	const uint32_t u = X86_OF | X86_SF | X86_AF | X86_PF;

	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	if (imm) {
		set_op(&e, 2, 0x0f, 0xba, 0);
		if (!gen_rm(g, &e, sz, op != 0, 40, &mem))
			return false;
		e.reg = (uint8_t)(4 + op);
		set_imm(&e, 1, rng_below(&g->r, 256));
	} else {
		static const uint8_t ops[4] = { 0xa3, 0xab, 0xb3, 0xbb };
		int r;

		set_op(&e, 2, 0x0f, ops[op], 0);
		mem = rng_pct(&g->r, 50);
		if (mem) {
			/* The bit offset register addresses memory too: keep
			 * it small (X is small), or set it. */
			if (g->s->xreg >= 0 && !(e.no_rex && g->s->xreg >= 8) &&
			    rng_below(&g->r, 2)) {
				r = g->s->xreg;
			} else {
				r = pick_dst(g, &e, sz);
				if (r < 0 || !setup_mov_imm(g, r, sz == 8 ? 8 :
				    4, (uint64_t)(int64_t)((int)rng_below(
				    &g->r, 4096) - 2048)))
					return false;
			}
			enc_reg(&e, r);
			if (!gen_mem(g, &e, (unsigned)sz, 0))
				return false;
		} else {
			if (!gen_reg(g, &e, sz, false) ||
			    !gen_rm(g, &e, sz, op != 0, 0, &mem))
				return false;
		}
	}
	maybe_lock(g, &e, mem && op != 0);
	return commit(g, &e, C_BT, X86_CF, u);
}

static bool
u_bsx(struct gen *g)
{
	struct enc e;
	int sz;
	bool mem;

	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, rng_below(&g->r, 2) ? 0xbc : 0xbd, 0);
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, false, 30, &mem))
		return false;
	return commit(g, &e, C_BSX, X86_ZF, ARITH & ~X86_ZF);
}

static bool
u_popcnt(struct gen *g)
{
	struct enc e;
	int sz;
	bool mem;

	enc_init(&e);
	e.shuffle = false;
	sz = pick_osz(g, &e, 2 | 4 | 8);
	add_pfx(&e, 0xf3);
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, 0xb8, 0);
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, false, 30, &mem))
		return false;
	return commit(g, &e, C_POPCNT, ARITH, 0);
}

/* ---- the general-purpose extensions: BMI1/2, ADX, MOVBE, CRC32, RDRAND -- */

/* A VEX-encoded GPR instruction (map 0F38 or 0F3A, pp, 32 or 64 bits by
 * W); rarely an invalid form: VEX.L 1, or a 66 or REX before it. */
static int
vex_init(struct gen *g, struct enc *e, unsigned map, unsigned pp)
{
	int sz;

	enc_init(e);
	e->shuffle = false;
	e->vex = true;
	e->vmap = (uint8_t)map;
	e->vpp = (uint8_t)pp;
	sz = g->m64 && rng_below(&g->r, 2) ? 8 : 4;
	if (sz == 8)
		e->rex |= REX_W;
	if (rng_pct(&g->r, 1)) {
		switch (rng_below(&g->r, 3)) {
		case 0: e->vl = 1; break;
		case 1: add_pfx(e, 0x66); break;
		default:
			if (g->m64)
				add_pfx(e, 0x40);
			else
				e->vl = 1;
			break;
		}
		e->invalid = true;
	}
	return sz;
}

/* The vvvv operand: a source (dst false) or a register to write. */
static bool
gen_vvvv(struct gen *g, struct enc *e, int sz, bool dst)
{
	int r = dst ? pick_dst(g, e, sz) : pick_src(g, e);

	if (r < 0)
		return false;
	e->vvvv = (uint8_t)r;
	return true;
}

/* A bit-field control in a register now and then (BEXTR, BZHI): start
 * and length, or an index, mostly within the operand. */
static bool
gen_ctl(struct gen *g, struct enc *e, int sz, bool two)
{
	int r;
	uint64_t v;

	if (!rng_pct(&g->r, 70))
		return gen_vvvv(g, e, sz, false);
	r = pick_dst(g, e, sz);
	if (r < 0)
		return false;
	v = rng_below(&g->r, 72);
	if (two)
		v |= (uint64_t)rng_below(&g->r, 72) << 8;
	if (rng_pct(&g->r, 20))
		v |= rng_next(&g->r) << 16;
	if (!setup_mov_imm(g, r, g->m64 ? 8 : 4, v))
		return false;
	e->vvvv = (uint8_t)r;
	return true;
}

/* BMI1: ANDN BEXTR BLSI BLSMSK BLSR (VEX), TZCNT LZCNT (F3 0F BC/BD). */
static bool
u_bmi1(struct gen *g)
{
	struct enc e;
	int sz, k = (int)rng_below(&g->r, 7);
	bool mem;

	if (k >= 5) {
		enc_init(&e);
		e.shuffle = false;
		sz = pick_osz(g, &e, 2 | 4 | 8);
		add_pfx(&e, 0xf3);
		maybe_rex(g, &e);
		set_op(&e, 2, 0x0f, k == 5 ? 0xbc : 0xbd, 0);
		if (!gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI1, X86_CF | X86_ZF,
		    X86_OF | X86_SF | X86_AF | X86_PF);
	}
	sz = vex_init(g, &e, 2, 0);
	switch (k) {
	case 0:                                 /* ANDN r, v, r/m */
		set_op(&e, 1, 0xf2, 0, 0);
		if (!gen_reg(g, &e, sz, true) || !gen_vvvv(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI1, ARITH & ~(X86_AF | X86_PF),
		    X86_AF | X86_PF);
	case 1:                                 /* BEXTR r, r/m, v */
		set_op(&e, 1, 0xf7, 0, 0);
		if (!gen_ctl(g, &e, sz, true) || !gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI1, X86_ZF | X86_CF | X86_OF,
		    X86_AF | X86_SF | X86_PF);
	default:                                /* BLSR /1 BLSMSK /2 BLSI /3 */
		set_op(&e, 1, 0xf3, 0, 0);
		if (!gen_vvvv(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		e.reg = (uint8_t)(k - 1);
		if (rng_pct(&g->r, 1)) {
			e.reg = rng_below(&g->r, 2) ? 0 : (uint8_t)(4 +
			    rng_below(&g->r, 4));
			e.invalid = true;
		}
		return commit(g, &e, C_BMI1, ARITH & ~(X86_AF | X86_PF),
		    X86_AF | X86_PF);
	}
}

/* BMI2: BZHI MULX PDEP PEXT RORX SARX SHLX SHRX (VEX). */
static bool
u_bmi2(struct gen *g)
{
	static const uint8_t shx_pp[3] = { 1, 2, 3 };  /* SHLX SARX SHRX */
	struct enc e;
	int sz, k = (int)rng_below(&g->r, 6);
	bool mem;

	switch (k) {
	case 0:                                 /* BZHI r, r/m, v */
		sz = vex_init(g, &e, 2, 0);
		set_op(&e, 1, 0xf5, 0, 0);
		if (!gen_ctl(g, &e, sz, false) || !gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI2, ARITH & ~(X86_AF | X86_PF),
		    X86_AF | X86_PF);
	case 1:                                 /* MULX hi, lo, r/m (rDX) */
		sz = vex_init(g, &e, 2, 3);
		set_op(&e, 1, 0xf6, 0, 0);
		if (!gen_reg(g, &e, sz, true) || !gen_vvvv(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI2, 0, 0);
	case 2:                                 /* PDEP (F2), PEXT (F3) */
		sz = vex_init(g, &e, 2, rng_below(&g->r, 2) ? 3 : 2);
		set_op(&e, 1, 0xf5, 0, 0);
		if (!gen_reg(g, &e, sz, true) || !gen_vvvv(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI2, 0, 0);
	case 3:                                 /* RORX r, r/m, imm8 */
		sz = vex_init(g, &e, 3, 3);
		set_op(&e, 1, 0xf0, 0, 0);
		if (!gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		set_imm(&e, 1, rng_below(&g->r, 256));
		if (rng_pct(&g->r, 1)) {        /* vvvv is reserved */
			e.vvvv = (uint8_t)(1 + rng_below(&g->r, 7));
			e.invalid = true;
		}
		return commit(g, &e, C_BMI2, 0, 0);
	default:                                /* SHLX SARX SHRX r, r/m, v */
		sz = vex_init(g, &e, 2, shx_pp[k - 3]);
		set_op(&e, 1, 0xf7, 0, 0);
		if (!gen_reg(g, &e, sz, true) || !gen_vvvv(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, false, 30, &mem))
			return false;
		return commit(g, &e, C_BMI2, 0, 0);
	}
}

/* ADCX (66) / ADOX (F3) 0F38 F6: read and write CF or OF only. */
static bool
u_adx(struct gen *g)
{
	struct enc e;
	bool ox = rng_below(&g->r, 2), mem;
	uint32_t f = ox ? X86_OF : X86_CF;
	int sz;

	if (!flags_ok(g, f))
		return false;
	enc_init(&e);
	e.shuffle = false;
	add_pfx(&e, ox ? 0xf3 : 0x66);
	sz = g->m64 && rng_below(&g->r, 2) ? 8 : 4;
	if (sz == 8)
		e.rex |= REX_W;
	maybe_rex(g, &e);
	set_op(&e, 3, 0x0f, 0x38, 0xf6);
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, false, 30, &mem))
		return false;
	maybe_lock(g, &e, false);
	return commit(g, &e, C_ADX, f, 0);
}

/* MOVBE r, m (0F38 F0) / m, r (F1); no register form. */
static bool
u_movbe(struct gen *g)
{
	struct enc e;
	bool st = rng_below(&g->r, 2);
	int sz;

	enc_init(&e);
	e.shuffle = false;
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	set_op(&e, 3, 0x0f, 0x38, st ? 0xf1 : 0xf0);
	if (!gen_reg(g, &e, sz, !st) || !gen_mem(g, &e, (unsigned)sz, 0))
		return false;
	maybe_lock(g, &e, false);
	return commit(g, &e, C_MOVBE, 0, 0);
}

/* CRC32 r32/r64, r/m8 (F2 0F38 F0) or r/m16/32/64 (F1). */
static bool
u_crc32(struct gen *g)
{
	struct enc e;
	bool byte = rng_below(&g->r, 3) == 0, mem;
	int sz;

	enc_init(&e);
	e.shuffle = false;
	if (byte) {
		sz = 1;
		byte_mode(g, &e);
		if (e.rex_on && rng_pct(&g->r, 30))
			e.rex |= REX_W;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	add_pfx(&e, 0xf2);
	set_op(&e, 3, 0x0f, 0x38, byte ? 0xf0 : 0xf1);
	if (!gen_reg(g, &e, 4, true) || !gen_rm(g, &e, sz, false, 30, &mem))
		return false;
	maybe_lock(g, &e, false);
	return commit(g, &e, C_CRC32, 0, 0);
}

/*
 * RDRAND / RDSEED r (0F C7 /6, /7).  The value is random, so the unit
 * keeps its flags and reduces the register to what both CPUs must agree
 * on: the bits it keeps (16-bit form), or that it was written (from a
 * known value, the difference is -1 after SUB, NEG, SBB):
 *   mov r, K; rdrand r; pushf; [and byte [rsp], 0xfe]; <reduce r>; popf
 * RDSEED may fail on the real CPU when the host's entropy runs dry (CF 0,
 * a zero result), so its CF is cleared in the saved flags; every other
 * flag is compared.  PUSHF could fault where RSP is not known to be
 * 8-aligned within the stack page (#AC, #PF) and show the random value:
 * there the flags are left to the reduction, not saved.
 */
static bool
u_rdrand(struct gen *g)
{
	static const uint64_t k_val = 0x5a5a5a5a;
	struct enc e;
	bool seed = rng_below(&g->r, 2), save;
	int sz, r;

	enc_init(&e);
	e.shuffle = false;
	sz = pick_osz(g, &e, 2 | 4 | 8);
	r = pick_dst(g, &e, sz);
	if (r < 0 || !setup_mov_imm(g, r, g->m64 ? 8 : 4, k_val))
		return false;
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, 0xc7, 0);
	enc_rm_reg(&e, r);
	e.reg = seed ? 7 : 6;
	/* No LOCK: the CPU gives #UD for it, but on KVM-PVM a user-mode
	 * #UD goes through the host kernel's emulator, which runs it. */
	if (!commit(g, &e, C_RDRAND, ARITH, 0))
		return false;
	save = g->cur.rsp_known && (g->cur.rsp & 7) == 0 &&
	    g->cur.rsp > -0x600 && g->cur.rsp < 0x600;
	enc_init(&e);
	set_op(&e, 1, 0x9c, 0, 0);                      /* pushf */
	if (save && !commit(g, &e, C_RDRAND, 0, 0))
		return false;
	if (save && seed) {
		enc_init(&e);                           /* and byte [rsp] */
		set_op(&e, 1, 0x80, 0, 0);
		e.has_modrm = e.has_sib = true;
		e.reg = 4;
		e.rm = 4;
		e.index = 4;
		e.base = 4;
		set_imm(&e, 1, 0xfe);
		if (!commit(g, &e, C_RDRAND, ARITH, 0))
			return false;
	}
	enc_init(&e);
	e.rex = sz == 8 || (sz == 2 && g->m64) ? REX_W : 0;
	set_op(&e, 1, 0x81, 0, 0);
	enc_rm_reg(&e, r);
	if (sz == 2) {                  /* and r, ~0xffff: the upper bits */
		e.reg = 4;
		set_imm(&e, 4, 0xffff0000u);
		if (!commit(g, &e, C_RDRAND, ARITH, 0))
			return false;
	} else {
		e.reg = 5;                      /* sub r, K */
		set_imm(&e, 4, (uint32_t)k_val);
		if (!commit(g, &e, C_RDRAND, ARITH, 0))
			return false;
		enc_init(&e);                   /* neg r */
		e.rex = sz == 8 ? REX_W : 0;
		set_op(&e, 1, 0xf7, 0, 0);
		enc_rm_reg(&e, r);
		e.reg = 3;
		if (!commit(g, &e, C_RDRAND, ARITH, 0))
			return false;
		enc_init(&e);                   /* sbb r, r */
		e.rex = sz == 8 ? REX_W : 0;
		set_op(&e, 1, 0x1b, 0, 0);
		enc_rm_reg(&e, r);
		enc_reg(&e, r);
		if (!commit(g, &e, C_RDRAND, ARITH, 0))
			return false;
	}
	if (!save)
		return true;
	enc_init(&e);
	set_op(&e, 1, 0x9d, 0, 0);                      /* popf */
	return commit(g, &e, C_RDRAND, ARITH, 0);
}

static bool
u_bswap(struct gen *g)
{
	struct enc e;
	int sz, r;

	enc_init(&e);
	sz = pick_osz(g, &e, 4 | 8);
	maybe_rex(g, &e);
	r = pick_dst(g, &e, sz);
	if (r < 0)
		return false;
	set_op(&e, 2, 0x0f, 0xc8, 0);
	enc_opreg(&e, r);
	return commit(g, &e, C_BSWAP, 0, 0);
}

static bool
u_movx(struct gen *g)
{
	struct enc e;
	int sz, ssz;
	bool mem;
	unsigned k = rng_below(&g->r, g->m64 ? 5 : 4);

	enc_init(&e);
	if (k == 4) {
		/* MOVSXD r, r/m32 (r/m16 with 66, on Intel). */
		sz = pick_osz(g, &e, (g->opts & GEN_MOVSXD16) ? 2 | 4 | 8 :
		    4 | 8);
		maybe_rex(g, &e);
		set_op(&e, 1, 0x63, 0, 0);
		if (!gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz == 2 ? 2 : 4, false, 40, &mem))
			return false;
		return commit(g, &e, C_MOVX, 0, 0);
	}
	/* B6 movzx Gv,Eb  B7 movzx Gv,Ew  BE movsx Gv,Eb  BF movsx Gv,Ew */
	ssz = (k & 1) ? 2 : 1;
	sz = pick_osz(g, &e, ssz == 1 ? 2 | 4 | 8 : 2 | 4 | 8);
	if (ssz == 1)
		byte_mode(g, &e);
	else
		maybe_rex(g, &e);
	if (e.no_rex && sz == 8)
		return false;
	set_op(&e, 2, 0x0f, (uint8_t)((k & 2 ? 0xbe : 0xb6) + (k & 1)), 0);
	if (!gen_reg(g, &e, sz, true) ||
	    !gen_rm(g, &e, ssz, false, 40, &mem))
		return false;
	return commit(g, &e, C_MOVX, 0, 0);
}

/* ARPL r/m16, r16 (63 outside 64-bit mode): ZF. */
static bool
u_arpl(struct gen *g)
{
	struct enc e;
	bool mem;

	enc_init(&e);
	set_op(&e, 1, 0x63, 0, 0);
	if (!gen_reg(g, &e, 2, false) || !gen_rm(g, &e, 2, true, 40, &mem))
		return false;
	return commit(g, &e, C_ARPL, X86_ZF, 0);
}

/* LEA with every addressing form: any registers (nothing is accessed),
 * RIP-relative, no base, 32-bit addressing (67) in 64-bit mode and
 * 16-bit addressing (67) in 32-bit mode. */
static bool
u_lea(struct gen *g)
{
	struct enc e;
	int sz, r, base, idx;

	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	set_op(&e, 1, 0x8d, 0, 0);
	r = pick_dst(g, &e, sz);
	if (r < 0)
		return false;
	enc_reg(&e, r);
	if (rng_pct(&g->r, 1)) {
		enc_rm_reg(&e, pick_src(g, &e));        /* #UD */
		e.invalid = true;
		return commit(g, &e, C_LEA, 0, 0);
	}
	if (rng_pct(&g->r, 20))
		add_pfx(&e, 0x67);
	if (!g->m64 && e.npfx && e.pfx[e.npfx - 1] == 0x67) {
		/* 16-bit addressing: rm 0..7 = BX+SI, BX+DI, BP+SI, BP+DI,
		 * SI, DI, BP (disp16 with mod 0), BX. */
		e.rm = (uint8_t)rng_below(&g->r, 8);
		e.mod = (uint8_t)rng_below(&g->r, 3);
		e.dsz = e.mod == 1 ? 1 : e.mod == 2 ? 2 : 0;
		if (e.mod == 0 && e.rm == 6)
			e.dsz = 2;
		e.disp = (uint32_t)rng_next(&g->r);
		return commit(g, &e, C_LEA, 0, 0);
	}
	switch (rng_below(&g->r, 6)) {
	case 0: /* RIP-relative (64), absolute (32) */
		e.mod = 0;
		e.rm = 5;
		e.dsz = 4;
		e.disp = (uint32_t)rand_value(&g->r);
		break;
	case 1: /* no base: [index*s + disp32] */
		idx = pick_src(g, &e);
		e.mod = 0;
		e.rm = 4;
		e.has_sib = true;
		e.base = 5;
		e.index = (uint8_t)(idx & 7);
		if (idx & 8)
			e.rex |= REX_X;
		e.scale = (uint8_t)rng_below(&g->r, 4);
		e.dsz = 4;
		e.disp = (uint32_t)rand_value(&g->r);
		break;
	default:
		base = pick_src(g, &e);
		idx = rng_pct(&g->r, 50) ? pick_src(g, &e) : -1;
		if (idx == X86_RSP)
			idx = -1;
		enc_sib_or_rm(g, &e, base, idx, (int)rng_below(&g->r, 4),
		    sext(rand_value(&g->r), rng_pct(&g->r, 50) ? 1 : 4));
		break;
	}
	return commit(g, &e, C_LEA, 0, 0);
}

static bool
u_mov(struct gen *g)
{
	struct enc e;
	int sz, r, form = (int)rng_below(&g->r, 5);
	bool byte = rng_pct(&g->r, 30), mem;

	enc_init(&e);
	if (byte) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	switch (form) {
	case 0: /* 88/89: store (or reg to reg) */
		set_op(&e, 1, (uint8_t)(0x88 + (sz > 1)), 0, 0);
		if (!gen_reg(g, &e, sz, false) ||
		    !gen_rm(g, &e, sz, true, 60, &mem))
			return false;
		break;
	case 1: /* 8A/8B: load */
		set_op(&e, 1, (uint8_t)(0x8a + (sz > 1)), 0, 0);
		if (!gen_reg(g, &e, sz, true) ||
		    !gen_rm(g, &e, sz, false, 60, &mem))
			return false;
		break;
	case 2: /* C6/C7 /0 imm */
		set_op(&e, 1, (uint8_t)(0xc6 + (sz > 1)), 0, 0);
		if (!gen_rm(g, &e, sz, true, 50, &mem))
			return false;
		e.reg = 0;
		set_imm(&e, sz == 1 ? 1 : sz == 2 ? 2 : 4, rand_imm(g));
		break;
	case 3: /* B0+r / B8+r imm (imm64 with REX.W) */
		r = pick_dst(g, &e, sz);
		if (r < 0)
			return false;
		set_op(&e, 1, sz == 1 ? 0xb0 : 0xb8, 0, 0);
		enc_opreg(&e, r);
		set_imm(&e, sz, rand_imm(g));
		break;
	default: { /* A0-A3: moffs */
		bool load = rng_below(&g->r, 2);
		uint64_t t;

		if (load && !writable(g, X86_RAX))
			return false;
		set_op(&e, 1, (uint8_t)((load ? 0xa0 : 0xa2) + (sz > 1)), 0,
		    0);
		switch (rng_below(&g->r, 8)) {
		case 0:
			t = rand_value(&g->r);
			break;
		case 1:
			t = G_RO + rng_below(&g->r, 4096);
			break;
		default:
			t = G_DATA + rng_below(&g->r, 4096 - (unsigned)sz + 1);
			break;
		}
		if (g->m64 && rng_pct(&g->r, 20)) {
			add_pfx(&e, 0x67);
			set_imm(&e, 4, t);
		} else {
			set_imm(&e, g->m64 ? 8 : 4, t);
		}
		break;
	}
	}
	return commit(g, &e, C_MOV, 0, 0);
}

static bool
u_xchg(struct gen *g)
{
	struct enc e;
	int sz, r;
	bool mem, xadd = rng_pct(&g->r, 35);

	enc_init(&e);
	if (!xadd && rng_pct(&g->r, 25)) {
		/* 90+r: xchg eAX, r (with REX.B, r8..r15). */
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
		r = pick_dst(g, &e, sz);
		if (r < 0 || r == 0 || !writable(g, X86_RAX))
			return false;
		set_op(&e, 1, 0x90, 0, 0);
		enc_opreg(&e, r);
		return commit(g, &e, C_XCHG, 0, 0);
	}
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	if (xadd)
		set_op(&e, 2, 0x0f, (uint8_t)(0xc0 + (sz > 1)), 0);
	else
		set_op(&e, 1, (uint8_t)(0x86 + (sz > 1)), 0, 0);
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, true, 50, &mem))
		return false;
	maybe_lock(g, &e, mem);
	return commit(g, &e, C_XCHG, xadd ? ARITH : 0, 0);
}

static bool
u_cmpxchg(struct gen *g)
{
	struct enc e;
	int sz;
	bool mem;

	if (!writable(g, X86_RAX))
		return false;
	enc_init(&e);
	if (rng_pct(&g->r, 20)) {
		/* CMPXCHG8B m64 / CMPXCHG16B m128 (16-byte aligned). */
		bool x16 = g->m64 && rng_below(&g->r, 2);

		if (!writable(g, X86_RDX))
			return false;
		if (x16)
			e.rex |= REX_W;
		maybe_rex(g, &e);
		set_op(&e, 2, 0x0f, 0xc7, 0);
		/*
		 * CMPXCHG16B's operand is never through a register with a
		 * random value (MT_WILD), the one kind that can be both
		 * misaligned and non-canonical.  There the CPU gives #GP(0)
		 * for the alignment first (run natively on this AMD host,
		 * and so does the DBT); KVM-PVM sends a user-mode #GP
		 * through the host kernel's instruction emulator, which
		 * looks at the address first and reports #SS(0) through
		 * RSP, so it is no judge of it.  Misaligned operands
		 * across the data page's end, and aligned ones in every
		 * page, are still generated; CMPXCHG8B keeps MT_WILD.
		 */
		g->canonical = x16;
		if (!gen_mem(g, &e, x16 ? 16 : 8, x16 ? 16 : 0)) {
			g->canonical = false;
			return false;
		}
		g->canonical = false;
		e.reg = 1;
		maybe_lock(g, &e, true);
		return commit(g, &e, C_CMPXCHG, X86_ZF, 0);
	}
	if (rng_pct(&g->r, 30)) {
		byte_mode(g, &e);
		sz = 1;
	} else {
		sz = pick_osz(g, &e, 2 | 4 | 8);
		maybe_rex(g, &e);
	}
	set_op(&e, 2, 0x0f, (uint8_t)(0xb0 + (sz > 1)), 0);
	if (!gen_reg(g, &e, sz, false) || !gen_rm(g, &e, sz, true, 50, &mem))
		return false;
	maybe_lock(g, &e, mem);
	return commit(g, &e, C_CMPXCHG, ARITH, 0);
}

static bool
u_cmov(struct gen *g)
{
	struct enc e;
	int sz, cc = pick_cc(g);
	bool mem;

	if (cc < 0)
		return false;
	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, (uint8_t)(0x40 + cc), 0);
	if (!gen_reg(g, &e, sz, true) || !gen_rm(g, &e, sz, false, 40, &mem))
		return false;
	return commit(g, &e, C_CMOV, 0, 0);
}

static bool
u_setcc(struct gen *g)
{
	struct enc e;
	int cc = pick_cc(g);
	bool mem;

	if (cc < 0)
		return false;
	enc_init(&e);
	byte_mode(g, &e);
	set_op(&e, 2, 0x0f, (uint8_t)(0x90 + cc), 0);
	if (!gen_rm(g, &e, 1, true, 40, &mem))
		return false;
	e.reg = (uint8_t)rng_below(&g->r, 8);   /* ignored */
	return commit(g, &e, C_SETCC, 0, 0);
}

static bool
u_jcc(struct gen *g)
{
	struct enc e;
	int cc = -1, kind = (int)rng_below(&g->r, 4);
	bool cond = kind < 3;

	if (g->nopen >= (int)ARRAY_LEN(g->open))
		return false;
	if (cond && (cc = pick_cc(g)) < 0)
		return false;
	enc_init(&e);
	if (cond && kind < 2) {
		set_op(&e, 1, (uint8_t)(0x70 + cc), 0, 0);
		set_imm(&e, 1, 0);
	} else if (cond) {
		set_op(&e, 2, 0x0f, (uint8_t)(0x80 + cc), 0);
		set_imm(&e, 4, 0);
	} else if (rng_below(&g->r, 2)) {
		set_op(&e, 1, 0xeb, 0, 0);
		set_imm(&e, 1, 0);
	} else {
		set_op(&e, 1, 0xe9, 0, 0);
		set_imm(&e, 4, 0);
	}
	if (!commit(g, &e, C_JCC, 0, 0))
		return false;
	open_jump(g, e.isz, cond);
	return true;
}

static bool
u_loop(struct gen *g)
{
	struct enc e;
	int op = (int)rng_below(&g->r, 4);      /* E0 loopne E1 loope E2 E3 */

	if (g->nopen >= (int)ARRAY_LEN(g->open))
		return false;
	if (op < 3 && !writable(g, X86_RCX))
		return false;
	if (op < 2 && !flags_ok(g, X86_ZF))
		return false;
	enc_init(&e);
	if (rng_pct(&g->r, 20))
		add_pfx(&e, 0x67);      /* ECX (64-bit), CX (32-bit) */
	set_op(&e, 1, (uint8_t)(0xe0 + op), 0, 0);
	set_imm(&e, 1, 0);
	if (!commit(g, &e, C_LOOP, 0, 0))
		return false;
	open_jump(g, 1, true);
	return true;
}

static bool
u_stack(struct gen *g)
{
	struct enc e;
	int sz, r, k = (int)rng_below(&g->r, 6);
	bool mem;
	int delta;

	if (g->cur.rsp_known && (g->cur.rsp < -0x600 || g->cur.rsp > 0x600))
		return false;
	enc_init(&e);
	/* 16-bit or the mode's natural size (64 in 64-bit mode). */
	if (rng_pct(&g->r, 15)) {
		add_pfx(&e, 0x66);
		sz = 2;
	} else {
		sz = g->m64 ? 8 : 4;
	}
	maybe_rex(g, &e);
	delta = sz;
	switch (k) {
	case 0: /* push r */
		r = pick_src(g, &e);
		set_op(&e, 1, 0x50, 0, 0);
		enc_opreg(&e, r);
		delta = -sz;
		break;
	case 1: /* pop r */
		r = pick_dst(g, &e, sz);
		if (r < 0)
			return false;
		set_op(&e, 1, 0x58, 0, 0);
		enc_opreg(&e, r);
		break;
	case 2: /* push imm8 / imm */
		if (rng_below(&g->r, 2)) {
			set_op(&e, 1, 0x6a, 0, 0);
			set_imm(&e, 1, rand_imm(g));
		} else {
			set_op(&e, 1, 0x68, 0, 0);
			set_imm(&e, sz == 2 ? 2 : 4, rand_imm(g));
		}
		delta = -sz;
		break;
	case 3: /* push r/m */
		set_op(&e, 1, 0xff, 0, 0);
		if (!gen_rm(g, &e, sz, false, 60, &mem))
			return false;
		e.reg = 6;
		delta = -sz;
		break;
	case 4: /* pop r/m */
		set_op(&e, 1, 0x8f, 0, 0);
		if (!gen_rm(g, &e, sz, true, 60, &mem))
			return false;
		e.reg = 0;
		break;
	default: /* push r (again: pushes are the more useful half) */
		r = pick_src(g, &e);
		set_op(&e, 1, 0x50, 0, 0);
		enc_opreg(&e, r);
		delta = -sz;
		break;
	}
	if (!commit(g, &e, C_STACK, 0, 0))
		return false;
	g->cur.rsp += delta;
	return true;
}

static bool
u_conv(struct gen *g)
{
	struct enc e;
	bool cwd = rng_below(&g->r, 2);
	int sz;

	if (!writable(g, cwd ? X86_RDX : X86_RAX))
		return false;
	enc_init(&e);
	sz = pick_osz(g, &e, 2 | 4 | 8);
	maybe_rex(g, &e);
	(void)sz;
	set_op(&e, 1, cwd ? 0x99 : 0x98, 0, 0);
	return commit(g, &e, C_CONV, 0, 0);
}

static bool
u_flagop(struct gen *g)
{
	struct enc e;
	const uint32_t five = X86_SF | X86_ZF | X86_AF | X86_PF | X86_CF;

	enc_init(&e);
	switch (rng_below(&g->r, 7)) {
	case 0:
		if (!writable(g, X86_RAX) || !flags_ok(g, five))
			return false;
		set_op(&e, 1, 0x9f, 0, 0);      /* lahf */
		return commit(g, &e, C_FLAGOP, 0, 0);
	case 1:
		set_op(&e, 1, 0x9e, 0, 0);      /* sahf */
		return commit(g, &e, C_FLAGOP, five, 0);
	case 2:
		set_op(&e, 1, 0xf8, 0, 0);      /* clc */
		return commit(g, &e, C_FLAGOP, X86_CF, 0);
	case 3:
		set_op(&e, 1, 0xf9, 0, 0);      /* stc */
		return commit(g, &e, C_FLAGOP, X86_CF, 0);
	case 4:
		if (!flags_ok(g, X86_CF))
			return false;
		set_op(&e, 1, 0xf5, 0, 0);      /* cmc */
		return commit(g, &e, C_FLAGOP, X86_CF, 0);
	case 5:
		set_op(&e, 1, 0xfc, 0, 0);      /* cld */
		return commit(g, &e, C_FLAGOP, 0, 0);
	default:
		set_op(&e, 1, 0xfd, 0, 0);      /* std */
		return commit(g, &e, C_FLAGOP, 0, 0);
	}
}

/*
 * A string instruction with its set-up: RCX (count 0..8 under a REP
 * prefix), RSI and RDI pointing into the data page far enough from its
 * edges for the count in either direction (or, now and then, not).
 */
static bool
u_string(struct gen *g)
{
	static const uint8_t ops[5] = { 0xa4, 0xaa, 0xac, 0xae, 0xa6 };
	struct enc e;
	int k = (int)rng_below(&g->r, 5), sz, rep = 0, n = 1;
	bool src = k == 0 || k == 2 || k == 4, dst = k != 2;
	bool cmp = k >= 3;
	uint64_t segbase = 0;
	unsigned span;

	if (rng_pct(&g->r, 30)) {
		sz = 1;
	} else {
		sz = 2 << rng_below(&g->r, g->m64 ? 3 : 2);
	}
	/* Every REP form: F3 (REP, REPE) and F2 (REPNE, which MOVS, STOS
	 * and LODS take as REP) on each of them. */
	if (rng_pct(&g->r, 60)) {
		rep = rng_below(&g->r, 2) ? 0xf2 : 0xf3;
		n = (int)rng_below(&g->r, 9);
	}
	if ((rep && !writable(g, X86_RCX)) || (src && !writable(g, X86_RSI)) ||
	    (dst && !writable(g, X86_RDI)) || (k == 2 && !writable(g, X86_RAX)))
		return false;
	enc_init(&e);
	/* DS:RSI may be overridden (not ES:RDI), by any of the six (FS and
	 * GS with their bases; seg_override); an override on STOS and SCAS,
	 * which have no DS operand, is ignored by the CPU. */
	if (rng_pct(&g->r, src ? 40 : 10)) {
		static const uint8_t pfx[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64,
			0x65 };
		int o = (int)rng_below(&g->r, 6);

		if (!g->m64 && o == 4)
			o = 3;          /* FS is null (base_state) */
		add_pfx(&e, pfx[o]);
		if (src && g->m64 && o >= 4)
			segbase = o == 4 ? FS_BASE : GS_BASE;
	}
	span = (unsigned)(n * sz);
	if (rep && !setup_mov_imm(g, X86_RCX, 4, (uint64_t)n))
		return false;
	if (src && rng_pct(&g->r, 97) && !setup_lea(g, X86_RSI, G_DATA + 16 +
	    span + rng_below(&g->r, 4096 - 32 - 2 * span) - segbase))
		return false;
	if (dst && rng_pct(&g->r, 97) && !setup_lea(g, X86_RDI, (rng_pct(
	    &g->r, 10) ? G_DATA + 4096 - span / 2 : G_DATA + 16 + span +
	    rng_below(&g->r, 4096 - 32 - 2 * span))))
		return false;
	if (rep)
		add_pfx(&e, (uint8_t)rep);
	if (sz == 2)
		add_pfx(&e, 0x66);
	if (sz == 8)
		e.rex |= REX_W;
	if (g->m64 && rng_pct(&g->r, 10))
		add_pfx(&e, 0x67);
	maybe_rex(g, &e);
	set_op(&e, 1, (uint8_t)(ops[k] + (sz > 1)), 0, 0);
	return commit(g, &e, C_STRING, cmp && (!rep || n > 0) ? ARITH : 0, 0);
}

/* DAA DAS AAA AAS AAM AAD (outside 64-bit mode). */
static bool
u_bcd(struct gen *g)
{
	struct enc e;
	int k = (int)rng_below(&g->r, 6);

	if (!writable(g, X86_RAX))
		return false;
	enc_init(&e);
	switch (k) {
	case 0:
	case 1:
		if (!flags_ok(g, X86_AF | X86_CF))
			return false;
		set_op(&e, 1, k ? 0x2f : 0x27, 0, 0);
		return commit(g, &e, C_BCD, ARITH & ~X86_OF, X86_OF);
	case 2:
	case 3:
		if (!flags_ok(g, X86_AF))
			return false;
		set_op(&e, 1, k == 3 ? 0x3f : 0x37, 0, 0);
		return commit(g, &e, C_BCD, X86_AF | X86_CF,
		    X86_OF | X86_SF | X86_ZF | X86_PF);
	default:
		set_op(&e, 1, k == 4 ? 0xd4 : 0xd5, 0, 0);
		set_imm(&e, 1, rng_pct(&g->r, 50) ? 10 : rng_below(&g->r, 256));
		return commit(g, &e, C_BCD, X86_SF | X86_ZF | X86_PF,
		    X86_OF | X86_AF | X86_CF);
	}
}

/*
 * Instructions that must fault at CPL3 (or are invalid): #UD, #GP,
 * traps.  Only what this KVM has been seen to judge right (gen->opts).
 */
static bool
u_fault(struct gen *g)
{
	static const uint8_t inval64[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e,
		0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0xce, 0xd6 };
	struct enc e;
	unsigned k = rng_below(&g->r, 14);

	enc_init(&e);
	switch (k) {
	case 0:
		set_op(&e, 2, 0x0f, 0x0b, 0);   /* ud2 */
		break;
	case 1:
		set_op(&e, 1, 0xf4, 0, 0);      /* hlt: #GP(0) */
		break;
	case 2:
		set_op(&e, 2, 0x0f, 0x20, 0);   /* mov r, crN */
		enc_rm_reg(&e, pick_src(g, &e));
		e.reg = (uint8_t)(rng_below(&g->r, 2) ? 0 : 3);
		break;
	case 3:
		set_op(&e, 2, 0x0f, 0x22, 0);   /* mov crN, r */
		enc_rm_reg(&e, pick_src(g, &e));
		e.reg = (uint8_t)(rng_below(&g->r, 2) ? 0 : 4);
		break;
	case 4:
		set_op(&e, 2, 0x0f, rng_below(&g->r, 2) ? 0x32 : 0x30, 0);
		break;                          /* rdmsr / wrmsr */
	case 5:
		set_op(&e, 2, 0x0f, (uint8_t)(rng_below(&g->r, 2) ? 0x06 :
		    0x09), 0);                  /* clts / wbinvd */
		break;
	case 6:
		set_op(&e, 2, 0x0f, 0x01, 0);   /* lgdt / lidt / invlpg m */
		if (!gen_mem(g, &e, 10, 0))
			return false;
		e.reg = (uint8_t)(rng_below(&g->r, 2) ? 2 + rng_below(&g->r,
		    2) : 7);
		break;
	case 7:
		/* IN / OUT imm8: #GP with IOPL 0, a bus hole with 3. */
		set_op(&e, 1, (uint8_t)(0xe4 + rng_below(&g->r, 4)), 0, 0);
		if ((e.op[0] & 2) == 0 && !writable(g, X86_RAX))
			return false;
		set_imm(&e, 1, 0x90 + rng_below(&g->r, 0x30));
		break;
	case 8:
		if (g->iopl == 3)
			return false;
		set_op(&e, 1, rng_below(&g->r, 2) ? 0xfa : 0xfb, 0, 0);
		break;                          /* cli / sti: #GP */
	case 9:
		if (!(g->opts & GEN_INT3))
			return false;
		set_op(&e, 1, 0xcc, 0, 0);      /* int3: a trap */
		break;
	case 10:
		if (!(g->opts & GEN_INTN))
			return false;
		set_op(&e, 1, 0xcd, 0, 0);      /* int n: #GP or a gate */
		{
			unsigned v = rng_pct(&g->r, 30) ? 3 + rng_below(&g->r,
			    2) : rng_below(&g->r, 256);

			/* Linux's INT 0x80 is a DPL3 gate: a system call
			 * under the native oracle. */
			if (!g->m64 && v == 0x80)
				v = 0x81;
			set_imm(&e, 1, v);
		}
		break;
	case 11:
		if (g->m64) {
			set_op(&e, 1, inval64[rng_below(&g->r,
			    ARRAY_LEN(inval64))], 0, 0);
			e.invalid = true;
			break;
		}
		if (!flags_ok(g, X86_OF))
			return false;
		set_op(&e, 1, 0xce, 0, 0);      /* into */
		break;
	case 12:
		/* BOUND (#BR); in 64-bit mode 62 is the EVEX prefix, not
		 * generated (the host CPU would run AVX-512). */
		if (g->m64)
			return false;
		set_op(&e, 1, 0x62, 0, 0);
		if (!gen_reg(g, &e, 4, false) || !gen_mem(g, &e, 8, 0))
			return false;
		break;
	default:
		/* LOCK on what cannot be locked: #UD. */
		add_pfx(&e, 0xf0);
		e.invalid = true;
		if (rng_below(&g->r, 2)) {
			set_op(&e, 1, 0x90, 0, 0);
		} else {
			set_op(&e, 1, 0x8b, 0, 0);
			if (!gen_reg(g, &e, 4, true) || !gen_mem(g, &e, 4, 0))
				return false;
		}
		break;
	}
	return commit(g, &e, C_FAULT, 0, 0);
}

/* ---- unit builders: SSE, SSE2, SSE3 on XMM registers --------------------- */

enum {
	SK_XXM,                 /* xmm, xmm/m */
	SK_XMX,                 /* xmm/m, xmm (store) */
	SK_XGM,                 /* xmm, r/m32 (r/m64 with REX.W) */
	SK_GMX,                 /* r/m32 (r/m64), xmm */
	SK_GXM,                 /* r32 (r64), xmm/m */
	SK_XI,                  /* xmm, imm8 (shift groups, ModRM.reg = ext) */
	SK_MG,                  /* m32 (m64), r32 (r64): movnti */
	SK_M32,                 /* m32: ldmxcsr / stmxcsr */
	SK_MMM,                 /* mm, mm/m64 (SSSE3's MMX forms) */
};

#define SF_A16  0x01            /* a memory operand must be 16-aligned */
#define SF_IMM  0x02            /* imm8 follows */
#define SF_MEM  0x04            /* memory form only */
#define SF_REG  0x08            /* register form only */
#define SF_W    0x10            /* REX.W selects the 64-bit GPR / m64 */
#define SF_FL   0x20            /* sets ZF PF CF, clears OF SF AF */

struct sse_op {
	uint8_t pfx, op, kind, msz, f;
	int8_t ext;
	uint8_t cls;
	uint8_t map;            /* 0: 0F, 0x38: 0F 38, 0x3a: 0F 3A */
};

#define SX(p, o, k, m, f, c) { p, o, k, m, f, -1, c }
#define ARITH4(o, f)                                                      \
	SX(0, o, SK_XXM, 16, SF_A16 | (f), C_SSEFP),                      \
	SX(0x66, o, SK_XXM, 16, SF_A16 | (f), C_SSEFP),                   \
	SX(0xf3, o, SK_XXM, 4, (f), C_SSEFP),                             \
	SX(0xf2, o, SK_XXM, 8, (f), C_SSEFP)
#define PS_PD(o, f, c)                                                    \
	SX(0, o, SK_XXM, 16, SF_A16 | (f), c),                            \
	SX(0x66, o, SK_XXM, 16, SF_A16 | (f), c)
#define INT66(o) SX(0x66, o, SK_XXM, 16, SF_A16, C_SSEINT)
#define X38(p, o, k, m, f, c) { p, o, k, m, f, -1, c, 0x38 }
#define X3A(p, o, k, m, f, c) { p, o, k, m, f, -1, c, 0x3a }
#define S3(o) X38(0, o, SK_MMM, 8, 0, C_SSSE3),                           \
	X38(0x66, o, SK_XXM, 16, SF_A16, C_SSSE3)

/* What common/dbt/fpu.c runs for SSE, SSE2 and SSE3, minus the MMX forms
 * and MASKMOVDQU; sse4_ops below is what sse4.c (and fpu.c's 0F3A part)
 * runs for SSSE3 (with its MMX forms), SSE4.1, SSE4.2, AES-NI and
 * PCLMULQDQ. */
static const struct sse_op sse_ops[] = {
	SX(0, 0x10, SK_XXM, 16, 0, C_SSEMOV),
	SX(0x66, 0x10, SK_XXM, 16, 0, C_SSEMOV),
	SX(0xf3, 0x10, SK_XXM, 4, 0, C_SSEMOV),
	SX(0xf2, 0x10, SK_XXM, 8, 0, C_SSEMOV),
	SX(0, 0x11, SK_XMX, 16, 0, C_SSEMOV),
	SX(0x66, 0x11, SK_XMX, 16, 0, C_SSEMOV),
	SX(0xf3, 0x11, SK_XMX, 4, 0, C_SSEMOV),
	SX(0xf2, 0x11, SK_XMX, 8, 0, C_SSEMOV),
	SX(0, 0x12, SK_XXM, 8, 0, C_SSEMOV),            /* movlps/movhlps */
	SX(0x66, 0x12, SK_XXM, 8, SF_MEM, C_SSEMOV),    /* movlpd */
	SX(0xf3, 0x12, SK_XXM, 16, SF_A16, C_SSEMOV),   /* movsldup */
	SX(0xf2, 0x12, SK_XXM, 8, 0, C_SSEMOV),         /* movddup */
	SX(0, 0x13, SK_XMX, 8, SF_MEM, C_SSEMOV),
	SX(0x66, 0x13, SK_XMX, 8, SF_MEM, C_SSEMOV),
	SX(0, 0x16, SK_XXM, 8, 0, C_SSEMOV),            /* movhps/movlhps */
	SX(0x66, 0x16, SK_XXM, 8, SF_MEM, C_SSEMOV),    /* movhpd */
	SX(0xf3, 0x16, SK_XXM, 16, SF_A16, C_SSEMOV),   /* movshdup */
	SX(0, 0x17, SK_XMX, 8, SF_MEM, C_SSEMOV),
	SX(0x66, 0x17, SK_XMX, 8, SF_MEM, C_SSEMOV),
	SX(0, 0x28, SK_XXM, 16, SF_A16, C_SSEMOV),
	SX(0x66, 0x28, SK_XXM, 16, SF_A16, C_SSEMOV),
	SX(0, 0x29, SK_XMX, 16, SF_A16, C_SSEMOV),
	SX(0x66, 0x29, SK_XMX, 16, SF_A16, C_SSEMOV),
	SX(0, 0x2b, SK_XMX, 16, SF_A16 | SF_MEM, C_SSEMOV),
	SX(0x66, 0x2b, SK_XMX, 16, SF_A16 | SF_MEM, C_SSEMOV),
	SX(0x66, 0x6f, SK_XXM, 16, SF_A16, C_SSEMOV),   /* movdqa */
	SX(0xf3, 0x6f, SK_XXM, 16, 0, C_SSEMOV),        /* movdqu */
	SX(0x66, 0x7f, SK_XMX, 16, SF_A16, C_SSEMOV),
	SX(0xf3, 0x7f, SK_XMX, 16, 0, C_SSEMOV),
	SX(0x66, 0x6e, SK_XGM, 4, SF_W, C_SSEMOV),      /* movd/movq */
	SX(0x66, 0x7e, SK_GMX, 4, SF_W, C_SSEMOV),
	SX(0xf3, 0x7e, SK_XXM, 8, 0, C_SSEMOV),         /* movq */
	SX(0x66, 0xd6, SK_XMX, 8, 0, C_SSEMOV),
	SX(0x66, 0xe7, SK_XMX, 16, SF_A16 | SF_MEM, C_SSEMOV), /* movntdq */
	SX(0xf2, 0xf0, SK_XXM, 16, SF_MEM, C_SSEMOV),   /* lddqu */
	SX(0, 0x50, SK_GXM, 0, SF_REG, C_SSEMOV),       /* movmskps */
	SX(0x66, 0x50, SK_GXM, 0, SF_REG, C_SSEMOV),
	SX(0x66, 0xd7, SK_GXM, 0, SF_REG, C_SSEMOV),    /* pmovmskb */
	SX(0, 0xc3, SK_MG, 4, SF_W | SF_MEM, C_SSEMOV), /* movnti */
	SX(0x66, 0xc4, SK_XGM, 2, SF_IMM, C_SSEINT),    /* pinsrw */
	SX(0x66, 0xc5, SK_GXM, 0, SF_REG | SF_IMM, C_SSEINT), /* pextrw */
	ARITH4(0x51, 0), ARITH4(0x58, 0), ARITH4(0x59, 0), ARITH4(0x5c, 0),
	ARITH4(0x5d, 0), ARITH4(0x5e, 0), ARITH4(0x5f, 0),
	ARITH4(0xc2, SF_IMM),
	SX(0, 0x52, SK_XXM, 16, SF_A16, C_SSEFP),
	SX(0xf3, 0x52, SK_XXM, 4, 0, C_SSEFP),
	SX(0, 0x53, SK_XXM, 16, SF_A16, C_SSEFP),
	SX(0xf3, 0x53, SK_XXM, 4, 0, C_SSEFP),
	PS_PD(0x54, 0, C_SSEFP), PS_PD(0x55, 0, C_SSEFP),
	PS_PD(0x56, 0, C_SSEFP), PS_PD(0x57, 0, C_SSEFP),
	PS_PD(0x14, 0, C_SSEFP), PS_PD(0x15, 0, C_SSEFP),
	PS_PD(0xc6, SF_IMM, C_SSEFP),
	SX(0, 0x2e, SK_XXM, 4, SF_FL, C_SSEFP),         /* ucomiss */
	SX(0x66, 0x2e, SK_XXM, 8, SF_FL, C_SSEFP),
	SX(0, 0x2f, SK_XXM, 4, SF_FL, C_SSEFP),         /* comiss */
	SX(0x66, 0x2f, SK_XXM, 8, SF_FL, C_SSEFP),
	SX(0x66, 0x7c, SK_XXM, 16, SF_A16, C_SSEFP),    /* haddpd */
	SX(0xf2, 0x7c, SK_XXM, 16, SF_A16, C_SSEFP),
	SX(0x66, 0x7d, SK_XXM, 16, SF_A16, C_SSEFP),    /* hsubpd */
	SX(0xf2, 0x7d, SK_XXM, 16, SF_A16, C_SSEFP),
	SX(0x66, 0xd0, SK_XXM, 16, SF_A16, C_SSEFP),    /* addsubpd */
	SX(0xf2, 0xd0, SK_XXM, 16, SF_A16, C_SSEFP),
	SX(0, 0x5a, SK_XXM, 8, 0, C_SSECVT),            /* cvtps2pd */
	SX(0x66, 0x5a, SK_XXM, 16, SF_A16, C_SSECVT),
	SX(0xf3, 0x5a, SK_XXM, 4, 0, C_SSECVT),
	SX(0xf2, 0x5a, SK_XXM, 8, 0, C_SSECVT),
	SX(0, 0x5b, SK_XXM, 16, SF_A16, C_SSECVT),      /* cvtdq2ps */
	SX(0x66, 0x5b, SK_XXM, 16, SF_A16, C_SSECVT),
	SX(0xf3, 0x5b, SK_XXM, 16, SF_A16, C_SSECVT),
	SX(0x66, 0xe6, SK_XXM, 16, SF_A16, C_SSECVT),   /* cvttpd2dq */
	SX(0xf3, 0xe6, SK_XXM, 8, 0, C_SSECVT),
	SX(0xf2, 0xe6, SK_XXM, 16, SF_A16, C_SSECVT),
	SX(0xf3, 0x2a, SK_XGM, 4, SF_W, C_SSECVT),      /* cvtsi2ss */
	SX(0xf2, 0x2a, SK_XGM, 4, SF_W, C_SSECVT),
	SX(0xf3, 0x2c, SK_GXM, 4, SF_W, C_SSECVT),      /* cvttss2si */
	SX(0xf2, 0x2c, SK_GXM, 8, SF_W, C_SSECVT),
	SX(0xf3, 0x2d, SK_GXM, 4, SF_W, C_SSECVT),
	SX(0xf2, 0x2d, SK_GXM, 8, SF_W, C_SSECVT),
	INT66(0x60), INT66(0x61), INT66(0x62), INT66(0x63), INT66(0x64),
	INT66(0x65), INT66(0x66), INT66(0x67), INT66(0x68), INT66(0x69),
	INT66(0x6a), INT66(0x6b), INT66(0x6c), INT66(0x6d), INT66(0x74),
	INT66(0x75), INT66(0x76), INT66(0xd1), INT66(0xd2), INT66(0xd3),
	INT66(0xd4), INT66(0xd5), INT66(0xd8), INT66(0xd9), INT66(0xda),
	INT66(0xdb), INT66(0xdc), INT66(0xdd), INT66(0xde), INT66(0xdf),
	INT66(0xe0), INT66(0xe1), INT66(0xe2), INT66(0xe3), INT66(0xe4),
	INT66(0xe5), INT66(0xe8), INT66(0xe9), INT66(0xea), INT66(0xeb),
	INT66(0xec), INT66(0xed), INT66(0xee), INT66(0xef), INT66(0xf1),
	INT66(0xf2), INT66(0xf3), INT66(0xf4), INT66(0xf5), INT66(0xf6),
	INT66(0xf8), INT66(0xf9), INT66(0xfa), INT66(0xfb), INT66(0xfc),
	INT66(0xfd), INT66(0xfe),
	SX(0x66, 0x70, SK_XXM, 16, SF_A16 | SF_IMM, C_SSEINT), /* pshufd */
	SX(0xf3, 0x70, SK_XXM, 16, SF_A16 | SF_IMM, C_SSEINT),
	SX(0xf2, 0x70, SK_XXM, 16, SF_A16 | SF_IMM, C_SSEINT),
	{ 0x66, 0x71, SK_XI, 0, SF_REG | SF_IMM, 2, C_SSEINT },
	{ 0x66, 0x71, SK_XI, 0, SF_REG | SF_IMM, 4, C_SSEINT },
	{ 0x66, 0x71, SK_XI, 0, SF_REG | SF_IMM, 6, C_SSEINT },
	{ 0x66, 0x72, SK_XI, 0, SF_REG | SF_IMM, 2, C_SSEINT },
	{ 0x66, 0x72, SK_XI, 0, SF_REG | SF_IMM, 4, C_SSEINT },
	{ 0x66, 0x72, SK_XI, 0, SF_REG | SF_IMM, 6, C_SSEINT },
	{ 0x66, 0x73, SK_XI, 0, SF_REG | SF_IMM, 2, C_SSEINT },
	{ 0x66, 0x73, SK_XI, 0, SF_REG | SF_IMM, 3, C_SSEINT },
	{ 0x66, 0x73, SK_XI, 0, SF_REG | SF_IMM, 6, C_SSEINT },
	{ 0x66, 0x73, SK_XI, 0, SF_REG | SF_IMM, 7, C_SSEINT },
	{ 0, 0xae, SK_M32, 4, SF_MEM, 2, C_MXCSR },     /* ldmxcsr */
	{ 0, 0xae, SK_M32, 4, SF_MEM, 3, C_MXCSR },     /* stmxcsr */
};

/* A table of their own, so that adding them left the SSE classes'
 * sequences as they were. */
static const struct sse_op sse4_ops[] = {
	/* SSSE3 (0F 38 00-0B, 1C-1E; 0F 3A 0F), MMX and XMM forms. */
	S3(0x00), S3(0x01), S3(0x02), S3(0x03), S3(0x04), S3(0x05),
	S3(0x06), S3(0x07), S3(0x08), S3(0x09), S3(0x0a), S3(0x0b),
	S3(0x1c), S3(0x1d), S3(0x1e),
	X3A(0, 0x0f, SK_MMM, 8, SF_IMM, C_SSSE3),
	X3A(0x66, 0x0f, SK_XXM, 16, SF_A16 | SF_IMM, C_SSSE3),
	/* SSE4.1, and SSE4.2's PCMPGTQ. */
	X38(0x66, 0x10, SK_XXM, 16, SF_A16, C_SSE41),   /* pblendvb */
	X38(0x66, 0x14, SK_XXM, 16, SF_A16, C_SSE41),   /* blendvps */
	X38(0x66, 0x15, SK_XXM, 16, SF_A16, C_SSE41),   /* blendvpd */
	X38(0x66, 0x17, SK_XXM, 16, SF_A16 | SF_FL, C_SSE41), /* ptest */
	X38(0x66, 0x20, SK_XXM, 8, 0, C_SSE41),         /* pmovsxbw */
	X38(0x66, 0x21, SK_XXM, 4, 0, C_SSE41),
	X38(0x66, 0x22, SK_XXM, 2, 0, C_SSE41),
	X38(0x66, 0x23, SK_XXM, 8, 0, C_SSE41),
	X38(0x66, 0x24, SK_XXM, 4, 0, C_SSE41),
	X38(0x66, 0x25, SK_XXM, 8, 0, C_SSE41),
	X38(0x66, 0x28, SK_XXM, 16, SF_A16, C_SSE41),   /* pmuldq */
	X38(0x66, 0x29, SK_XXM, 16, SF_A16, C_SSE41),   /* pcmpeqq */
	X38(0x66, 0x2a, SK_XXM, 16, SF_A16 | SF_MEM, C_SSE41), /* movntdqa */
	X38(0x66, 0x2b, SK_XXM, 16, SF_A16, C_SSE41),   /* packusdw */
	X38(0x66, 0x30, SK_XXM, 8, 0, C_SSE41),         /* pmovzxbw */
	X38(0x66, 0x31, SK_XXM, 4, 0, C_SSE41),
	X38(0x66, 0x32, SK_XXM, 2, 0, C_SSE41),
	X38(0x66, 0x33, SK_XXM, 8, 0, C_SSE41),
	X38(0x66, 0x34, SK_XXM, 4, 0, C_SSE41),
	X38(0x66, 0x35, SK_XXM, 8, 0, C_SSE41),
	X38(0x66, 0x37, SK_XXM, 16, SF_A16, C_SSE41),   /* pcmpgtq */
	X38(0x66, 0x38, SK_XXM, 16, SF_A16, C_SSE41),   /* pmin/pmax */
	X38(0x66, 0x39, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3a, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3b, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3c, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3d, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3e, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x3f, SK_XXM, 16, SF_A16, C_SSE41),
	X38(0x66, 0x40, SK_XXM, 16, SF_A16, C_SSE41),   /* pmulld */
	X38(0x66, 0x41, SK_XXM, 16, SF_A16, C_SSE41),   /* phminposuw */
	X3A(0x66, 0x08, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* roundps */
	X3A(0x66, 0x09, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41),
	X3A(0x66, 0x0a, SK_XXM, 4, SF_IMM, C_SSE41),    /* roundss */
	X3A(0x66, 0x0b, SK_XXM, 8, SF_IMM, C_SSE41),
	X3A(0x66, 0x0c, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* blendps */
	X3A(0x66, 0x0d, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41),
	X3A(0x66, 0x0e, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* pblendw */
	X3A(0x66, 0x14, SK_GMX, 1, SF_IMM, C_SSE41),    /* pextrb */
	X3A(0x66, 0x15, SK_GMX, 2, SF_IMM, C_SSE41),    /* pextrw */
	X3A(0x66, 0x16, SK_GMX, 4, SF_IMM | SF_W, C_SSE41), /* pextrd/q */
	X3A(0x66, 0x17, SK_GMX, 4, SF_IMM, C_SSE41),    /* extractps */
	X3A(0x66, 0x20, SK_XGM, 1, SF_IMM, C_SSE41),    /* pinsrb */
	X3A(0x66, 0x21, SK_XXM, 4, SF_IMM, C_SSE41),    /* insertps */
	X3A(0x66, 0x22, SK_XGM, 4, SF_IMM | SF_W, C_SSE41), /* pinsrd/q */
	X3A(0x66, 0x40, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* dpps */
	X3A(0x66, 0x41, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* dppd */
	X3A(0x66, 0x42, SK_XXM, 16, SF_A16 | SF_IMM, C_SSE41), /* mpsadbw */
	/* SSE4.2 string compares: no alignment, any imm8. */
	X3A(0x66, 0x60, SK_XXM, 16, SF_IMM | SF_FL | SF_W, C_SSE42S),
	X3A(0x66, 0x61, SK_XXM, 16, SF_IMM | SF_FL | SF_W, C_SSE42S),
	X3A(0x66, 0x62, SK_XXM, 16, SF_IMM | SF_FL, C_SSE42S),
	X3A(0x66, 0x63, SK_XXM, 16, SF_IMM | SF_FL, C_SSE42S),
	/* AES-NI, PCLMULQDQ. */
	X38(0x66, 0xdb, SK_XXM, 16, SF_A16, C_AES),
	X38(0x66, 0xdc, SK_XXM, 16, SF_A16, C_AES),
	X38(0x66, 0xdd, SK_XXM, 16, SF_A16, C_AES),
	X38(0x66, 0xde, SK_XXM, 16, SF_A16, C_AES),
	X38(0x66, 0xdf, SK_XXM, 16, SF_A16, C_AES),
	X3A(0x66, 0xdf, SK_XXM, 16, SF_A16 | SF_IMM, C_AES),
	X3A(0x66, 0x44, SK_XXM, 16, SF_A16 | SF_IMM, C_PCLMUL),
};

#undef SX
#undef ARITH4
#undef PS_PD
#undef INT66
#undef X38
#undef X3A
#undef S3

static int
pick_xmm(struct gen *g)
{
	return (int)rng_below(&g->r, g->m64 ? 16 : 8);
}

/* A valid MXCSR value for LDMXCSR to find at offset off of the data page
 * (most of the time: the rest is whatever is there, often #GP). */
static void
plant_mxcsr(struct gen *g, uint64_t t)
{
	uint32_t v;

	if (t < G_DATA || t + 4 > G_DATA + 4096 || !rng_pct(&g->r, 75))
		return;
	v = 0x1f80;
	if (rng_pct(&g->r, 40))
		v = (v & ~0x6000u) | (rng_below(&g->r, 4) << 13);
	if (rng_pct(&g->r, 15))
		v |= 0x8040;                    /* FTZ, DAZ */
	if (rng_pct(&g->r, 10))
		v &= ~(0x80u << rng_below(&g->r, 6));   /* unmask one */
	v |= (uint32_t)rng_below(&g->r, 64);    /* sticky flags */
	memcpy(g->s->data + (t - G_DATA), &v, 4);
}

/*
 * LDMXCSR of a valid value stored just before it (mov dword [B+d], imm
 * then ldmxcsr [B+d]): a bad value is #GP(0), which not every KVM can
 * judge, and a value planted in the initial data page may be overwritten
 * by the time LDMXCSR runs.
 */
static bool
u_ldmxcsr_valid(struct gen *g)
{
	struct enc e;
	uint64_t t = G_DATA + (rng_below(&g->r, 1020) << 2);
	int64_t d = (int64_t)(t - g->s->bval);
	uint32_t v = 0x1f80;

	if (rng_pct(&g->r, 40))
		v = (v & ~0x6000u) | (rng_below(&g->r, 4) << 13);
	if (rng_pct(&g->r, 15))
		v |= 0x8040;                    /* FTZ, DAZ */
	if (rng_pct(&g->r, 10))
		v &= ~(0x80u << rng_below(&g->r, 6));   /* unmask one */
	v |= (uint32_t)rng_below(&g->r, 64);    /* sticky flags */
	enc_init(&e);
	set_op(&e, 1, 0xc7, 0, 0);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, d);
	e.reg = 0;
	set_imm(&e, 4, v);
	if (!commit(g, &e, C_SETUP, 0, 0))
		return false;
	enc_init(&e);
	set_op(&e, 2, 0x0f, 0xae, 0);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, d);
	e.reg = 2;
	return commit(g, &e, C_MXCSR, 0, 0);
}

static bool
u_sse(struct gen *g, int cls)
{
	const struct sse_op *o, *t = sse_ops;
	unsigned nt = ARRAY_LEN(sse_ops);
	struct enc e;
	bool mem = false, w = false;
	int k, r;

	if (cls >= C_SSSE3 && cls <= C_PCLMUL) {
		t = sse4_ops;
		nt = ARRAY_LEN(sse4_ops);
	}
	for (k = 0; k < 64; k++) {
		o = &t[rng_below(&g->r, nt)];
		if (o->cls == cls)
			break;
	}
	if (o->cls != cls)
		return false;
	if (o->kind == SK_M32 && o->ext == 2 && (g->nogp ||
	    rng_pct(&g->r, 30)))
		return u_ldmxcsr_valid(g);
	enc_init(&e);
	e.shuffle = false;
	if (o->pfx)
		add_pfx(&e, o->pfx);
	if ((o->f & SF_W) && g->m64 && rng_below(&g->r, 2)) {
		e.rex |= REX_W;
		w = true;
	}
	maybe_rex(g, &e);
	if (o->map)
		set_op(&e, 3, 0x0f, o->map, o->op);
	else
		set_op(&e, 2, 0x0f, o->op, 0);
	if (o->f & SF_MEM)
		mem = true;
	else if (!(o->f & SF_REG))
		mem = rng_pct(&g->r, 40);
	switch (o->kind) {
	case SK_XXM:
	case SK_XMX:
		enc_reg(&e, pick_xmm(g));
		if (mem) {
			if (!gen_mem(g, &e, o->msz, o->f & SF_A16 ? 16 : 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_xmm(g));
		}
		break;
	case SK_XGM:
		enc_reg(&e, pick_xmm(g));
		if (mem) {
			if (!gen_mem(g, &e, w ? 8 : o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_src(g, &e));
		}
		break;
	case SK_GMX:
		enc_reg(&e, pick_xmm(g));
		if (mem) {
			if (!gen_mem(g, &e, w ? 8 : o->msz, 0))
				return false;
		} else {
			r = pick_dst(g, &e, 4);
			if (r < 0)
				return false;
			enc_rm_reg(&e, r);
		}
		break;
	case SK_GXM:
		r = pick_dst(g, &e, 4);
		if (r < 0)
			return false;
		enc_reg(&e, r);
		if (mem) {
			if (!gen_mem(g, &e, o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_xmm(g));
		}
		break;
	case SK_XI:
		enc_rm_reg(&e, pick_xmm(g));
		e.reg = (uint8_t)o->ext;
		break;
	case SK_MG:
		enc_reg(&e, pick_src(g, &e));
		if (!gen_mem(g, &e, w ? 8 : 4, 0))
			return false;
		break;
	case SK_MMM:
		enc_reg(&e, (int)rng_below(&g->r, 8));
		if (mem) {
			if (!gen_mem(g, &e, o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, (int)rng_below(&g->r, 8));
		}
		break;
	default: /* SK_M32 */
		if (!gen_mem(g, &e, 4, 0))
			return false;
		e.reg = (uint8_t)o->ext;
		break;
	}
	if (o->f & SF_IMM)
		set_imm(&e, 1, o->op == 0xc2 && rng_pct(&g->r, 80) ?
		    rng_below(&g->r, 8) : rng_below(&g->r, 256));
	g->last_t = mem ? g->last_t : 0;
	if (!commit(g, &e, cls, o->f & SF_FL ? ARITH : 0, 0))
		return false;
	if (o->kind == SK_M32 && o->ext == 2)
		plant_mxcsr(g, g->last_t);
	return true;
}

/*
 * An SSE4.2 string compare, with set-up that makes its cases likely: a
 * PSRLDQ that leaves null elements at the top of an operand (implicit
 * lengths), and small lengths in EAX and EDX (explicit ones, of either
 * sign).  PCMPxSTRI writes ECX, PCMPxSTRM XMM0.
 */
static bool
u_sse42s(struct gen *g)
{
	const struct sse_op *o;
	struct enc e;
	int k, xr = pick_xmm(g), xm = pick_xmm(g);
	bool mem = rng_pct(&g->r, 40);

	for (k = 0; k < 64; k++) {
		o = &sse4_ops[rng_below(&g->r, ARRAY_LEN(sse4_ops))];
		if (o->cls == C_SSE42S)
			break;
	}
	if (o->cls != C_SSE42S)
		return false;
	if ((o->op & 1) && !writable(g, X86_RCX))
		return false;
	for (k = 0; k < 2; k++) {
		if (!rng_pct(&g->r, 50))
			continue;
		enc_init(&e);
		add_pfx(&e, 0x66);
		set_op(&e, 2, 0x0f, 0x73, 0);
		enc_rm_reg(&e, k ? xm : xr);
		e.reg = 3;
		set_imm(&e, 1, rng_below(&g->r, 16));
		if (!commit(g, &e, C_SETUP, 0, 0))
			return false;
	}
	for (k = 0; o->op < 0x62 && k < 2; k++) {
		int r = k ? X86_RDX : X86_RAX;

		if (!writable(g, r) || !rng_pct(&g->r, 70))
			continue;
		enc_init(&e);
		if (g->m64 && rng_pct(&g->r, 30))
			e.rex |= REX_W;
		set_op(&e, 1, 0xc7, 0, 0);
		enc_rm_reg(&e, r);
		e.reg = 0;
		set_imm(&e, 4, (uint64_t)(int64_t)((int)rng_below(&g->r, 41) -
		    20));
		if (!commit(g, &e, C_SETUP, 0, 0))
			return false;
	}
	enc_init(&e);
	e.shuffle = false;
	add_pfx(&e, 0x66);
	if ((o->f & SF_W) && g->m64 && rng_below(&g->r, 2))
		e.rex |= REX_W;
	maybe_rex(g, &e);
	set_op(&e, 3, 0x0f, 0x3a, o->op);
	enc_reg(&e, xr);
	if (mem) {
		if (!gen_mem(g, &e, 16, 0))
			return false;
	} else {
		enc_rm_reg(&e, xm);
	}
	set_imm(&e, 1, rng_below(&g->r, 256));
	g->last_t = mem ? g->last_t : 0;
	return commit(g, &e, C_SSE42S, ARITH, 0);
}

/* ---- x87 ----------------------------------------------------------------- */

/* An 80-bit value: normals of every size, zeros, denormals and
 * pseudo-denormals, infinities, NaNs, and the encodings the 387 and later
 * reject (unnormals, pseudo-NaNs and pseudo-infinities). */
static void
rand_f80(struct rng *r, uint8_t *out)
{
	uint64_t m = rng_next(r) | 1ULL << 63;
	uint16_t se = (uint16_t)(rng_next(r) & 0x8000);

	switch (rng_below(r, 16)) {
	case 0:
		m = 0;                                  /* zero */
		break;
	case 1:
		m &= ~(1ULL << 63);                     /* denormal */
		break;
	case 2:
		break;                                  /* pseudo-denormal */
	case 3:
		se |= 0x7fff;
		m = 1ULL << 63;                         /* infinity */
		break;
	case 4:
		se |= 0x7fff;                           /* NaN */
		if (rng_pct(r, 50))
			m |= 1ULL << 62;
		else if (!(m & ~(3ULL << 62)))
			m |= 1;
		break;
	case 5:
		se |= (uint16_t)(1 + rng_below(r, 0x7ffe));
		if (rng_pct(r, 50))
			m &= ~(1ULL << 63);             /* unnormal */
		else
			se |= 0x7fff, m &= ~(1ULL << 63);   /* pseudo-NaN/inf */
		break;
	case 6:
		se |= (uint16_t)(1 + rng_below(r, 0x7ffe));
		break;                                  /* any size */
	case 7:
		m = (rng_next(r) & 0xffffffffffULL) << 24 | 1ULL << 63;
		se |= (uint16_t)(0x3fff + rng_below(r, 64));    /* an integer */
		break;
	default:
		se |= (uint16_t)(0x3fff - 40 + rng_below(r, 80));
		break;
	}
	memcpy(out, &m, 8);
	memcpy(out + 8, &se, 2);
}

/* The x87 state: FCW (rounding, precision, sometimes an exception
 * unmasked), FSW (TOP, condition codes, sometimes a pending unmasked
 * exception), which registers are valid and their values.  From its own
 * stream, so that adding it left the other classes' sequences as they
 * were. */
static void
gen_x87_state(struct rng *r, struct x86_state *st)
{
	static const uint16_t pc[3] = { 0x000, 0x200, 0x300 };
	uint16_t fcw = 0x037f, fsw, ftw = 0;
	int k;

	if (rng_pct(r, 40))
		fcw = (uint16_t)((fcw & ~0x0c00) | rng_below(r, 4) << 10);
	if (rng_pct(r, 30))
		fcw = (uint16_t)((fcw & ~0x0300) | pc[rng_below(r, 3)]);
	if (rng_pct(r, 8))
		fcw &= (uint16_t)~(1u << rng_below(r, 6));
	fsw = (uint16_t)(rng_below(r, 8) << 11 | (rng_next(r) & 0x4700));
	if (rng_pct(r, 10))
		fsw |= (uint16_t)(rng_next(r) & 0x3f & fcw);    /* masked */
	if (rng_pct(r, 3) && (~fcw & 0x3f)) {
		/* An unmasked exception pending: #MF at the next waiting
		 * x87 instruction. */
		fsw |= (uint16_t)((~fcw & 0x3f) | 0x8080);
	}
	for (k = 0; k < 8; k++)
		if (rng_pct(r, 60))
			ftw |= (uint16_t)(1u << k);
	if (rng_pct(r, 10))
		ftw = rng_pct(r, 50) ? 0 : 0xff;
	memcpy(st->fxsave, &fcw, 2);
	memcpy(st->fxsave + 2, &fsw, 2);
	st->fxsave[4] = (uint8_t)ftw;
	memset(st->fxsave + 6, 0, 18);          /* FOP, FIP, FDP */
	for (k = 0; k < 8; k++) {
		memset(st->fxsave + 32 + 16 * k, 0, 16);
		rand_f80(r, st->fxsave + 32 + 16 * k);
	}
}

/* x87 memory forms by (opcode D8..DF, ModRM.reg): operand size, 0 if
 * none; E = FLDENV/FNSTENV (14 or 28 bytes), S = FNSAVE/FRSTOR (94 or
 * 108). */
#define X87_E 200
#define X87_S 201
static const uint8_t x87_msize[8][8] = {
	{ 4, 4, 4, 4, 4, 4, 4, 4 },             /* D8: m32fp arith */
	{ 4, 0, 4, 4, X87_E, 2, X87_E, 2 },     /* D9 */
	{ 4, 4, 4, 4, 4, 4, 4, 4 },             /* DA: m32int arith */
	{ 4, 4, 4, 4, 0, 10, 0, 10 },           /* DB */
	{ 8, 8, 8, 8, 8, 8, 8, 8 },             /* DC: m64fp arith */
	{ 8, 8, 8, 8, X87_S, 0, X87_S, 2 },     /* DD */
	{ 2, 2, 2, 2, 2, 2, 2, 2 },             /* DE: m16int arith */
	{ 2, 2, 2, 2, 10, 8, 10, 8 },           /* DF */
};

/* Is ModRM m (mod 3) after opcode D8+op a documented x87 register form?
 * FCMOVcc (DA/DB C0-DF) is left to u_x87's caller: it reads flags. */
static bool
x87_reg_ok(int op, unsigned m)
{
	switch (op) {
	case 0:
		return true;
	case 1:
		return m <= 0xd0 && (m <= 0xcf || m == 0xd0) ? true :
		    m == 0xe0 || m == 0xe1 || m == 0xe4 || m == 0xe5 ||
		    (m >= 0xe8 && m <= 0xee) || m >= 0xf0;
	case 2:
		return m <= 0xdf || m == 0xe9;
	case 3:
		return m <= 0xdf || m == 0xe2 || m == 0xe3 ||
		    (m >= 0xe8 && m <= 0xf7);
	case 4:
		return m <= 0xcf || m >= 0xe0;
	case 5:
		return m <= 0xc7 || (m >= 0xd0 && m <= 0xef);
	case 6:
		return m <= 0xcf || m == 0xd9 || m >= 0xe0;
	default:
		return m == 0xe0 || (m >= 0xe8 && m <= 0xf7);
	}
}

/* Is [t, t + sz) in the user data or stack page? */
static bool
user_rw(uint64_t t, unsigned sz)
{
	return (t >= G_DATA && t + sz <= G_DATA + 4096) ||
	    (t >= G_STACK && t + sz <= G_STACK + 4096);
}

/* mov word [B + d], 0 at linear address t: where KVM-PVM stores a host
 * selector as an environment's FCS or FDS (GEN_FCS_HOST), the guest's
 * copy is cleared at once, so it is neither compared nor read later. */
static bool
x87_clear_sel(struct gen *g, uint64_t t)
{
	struct enc e;

	enc_init(&e);
	add_pfx(&e, 0x66);
	set_op(&e, 1, 0xc7, 0, 0);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, (int64_t)(t -
	    g->s->bval));
	set_imm(&e, 2, 0);
	return commit(g, &e, C_SETUP, 0, 0);
}

/* One x87 instruction, any form, or FWAIT.  FCOMI and its kind write ZF
 * PF CF and clear OF SF AF; FCMOVcc reads CF, ZF or PF; FNSTSW AX
 * writes AX. */
static bool
u_x87(struct gen *g)
{
	struct enc e;
	int op, k;
	unsigned m;
	uint32_t w = 0;
	uint64_t t;
	bool env;

	enc_init(&e);
	if (rng_pct(&g->r, 3)) {
		set_op(&e, 1, 0x9b, 0, 0);              /* fwait */
		return commit(g, &e, C_X87, 0, 0);
	}
	op = (int)rng_below(&g->r, 8);
	if (rng_pct(&g->r, 45)) {
		unsigned sz;
		int reg = (int)rng_below(&g->r, 8);

		sz = x87_msize[op][reg];
		if (sz == 0)
			return false;
		if (sz == X87_E || sz == X87_S) {
			bool o16 = rng_pct(&g->r, 30);

			if (o16)
				add_pfx(&e, 0x66);
			sz = sz == X87_E ? (o16 ? 14 : 28) : (o16 ? 94 : 108);
		}
		maybe_rex(g, &e);
		set_op(&e, 1, (uint8_t)(0xd8 + op), 0, 0);
		e.reg = (uint8_t)reg;
		if (!gen_mem(g, &e, sz, 0))
			return false;
		env = reg == 6 && (op == 1 || op == 5);     /* fnstenv, fnsave */
		t = g->last_t;
		if (env && (g->opts & (GEN_FCS_HOST | GEN_FDS_HOST)) &&
		    !user_rw(t, sz))
			return false;
		if (!commit(g, &e, C_X87, 0, 0))
			return false;
		g->s->in[g->s->n - 1].multi = sz >= 14;
		if (env && (g->opts & (GEN_FCS_HOST | GEN_FDS_HOST))) {
			/* Overwrite the selectors it stored that are the
			 * host's, not the guest's: FDS, and FCS too with
			 * GEN_FCS_HOST. */
			unsigned o16 = sz == 14 || sz == 94;

			if ((g->opts & GEN_FCS_HOST) &&
			    !x87_clear_sel(g, t + (o16 ? 8 : 16)))
				return false;
			return x87_clear_sel(g, t + (o16 ? 12 : 24));
		}
		return true;
	}
	for (k = 0; k < 16; k++) {
		m = 0xc0 + rng_below(&g->r, 64);
		if (x87_reg_ok(op, m))
			break;
	}
	if (!x87_reg_ok(op, m))
		return false;
	if ((op == 2 || op == 3) && m <= 0xdf) {
		/* FCMOVcc: B/NB CF, E/NE ZF, BE/NBE CF ZF, U/NU PF */
		static const uint32_t rd[4] = { X86_CF, X86_ZF,
			X86_CF | X86_ZF, X86_PF };

		if (!flags_ok(g, rd[(m >> 3) & 3]))
			return false;
	}
	if ((op == 3 || op == 7) && m >= 0xe8 && m <= 0xf7)
		w = ARITH;                              /* fcomi family */
	if (op == 7 && m == 0xe0 && !writable(g, X86_RAX))
		return false;                           /* fnstsw ax */
	set_op(&e, 2, (uint8_t)(0xd8 + op), (uint8_t)m, 0);
	return commit(g, &e, C_X87, w, 0);
}

/* ---- MMX ------------------------------------------------------------------ */

/*
 * MMX (class "mmx"): the 0F forms without a mandatory prefix on MM0-MM7,
 * SSE's MMX additions (PSHUFW, PINSRW, PEXTRW, PMOVMSKB, PAVG*, PMIN*,
 * PMAX*, PSADBW, PMULHUW, PMULUDQ, PADDQ, PSUBQ, MOVNTQ), the conversions
 * between MMX and XMM registers, and EMMS.  An MM register is the low 64
 * bits of an x87 register; the x87 state is random (gen_x87_state) and
 * compared whole, so every result is checked as the register's 80 bits
 * with FTW and TOP: an MMX instruction but EMMS sets TOP to 0 and every
 * tag valid, a write sets the register's exponent bits to all ones, EMMS
 * empties every tag (SDM vol. 1, 9.5.1).  A pending unmasked x87
 * exception makes them #MF.  ModRM's REX.R and REX.B bits are ignored
 * for an MM register, so they are set at random.
 */
enum {
	MK_MM,          /* mm, mm/m */
	MK_MS,          /* mm/m, mm (store) */
	MK_MG,          /* mm, r/m32 (r/m64 with REX.W) */
	MK_GM,          /* r/m32 (r/m64), mm */
	MK_RM,          /* r32, mm (register only) */
	MK_MI,          /* mm, imm8 (shift groups, ModRM.reg = ext) */
	MK_XM,          /* xmm, mm/m */
	MK_MX,          /* mm, xmm/m */
	MK_NONE,        /* emms */
};

struct mmx_op {
	uint8_t pfx, op, kind, msz, f;
	int8_t ext;
};

#define MX(o) { 0, o, MK_MM, 8, 0, -1 }
static const struct mmx_op mmx_ops[] = {
	{ 0, 0x60, MK_MM, 4, 0, -1 }, { 0, 0x61, MK_MM, 4, 0, -1 },
	{ 0, 0x62, MK_MM, 4, 0, -1 },   /* punpckl*: m32 */
	MX(0x63), MX(0x64), MX(0x65), MX(0x66), MX(0x67), MX(0x68),
	MX(0x69), MX(0x6a), MX(0x6b), MX(0x74), MX(0x75), MX(0x76),
	MX(0xd1), MX(0xd2), MX(0xd3), MX(0xd4), MX(0xd5), MX(0xd8),
	MX(0xd9), MX(0xda), MX(0xdb), MX(0xdc), MX(0xdd), MX(0xde),
	MX(0xdf), MX(0xe0), MX(0xe1), MX(0xe2), MX(0xe3), MX(0xe4),
	MX(0xe5), MX(0xe8), MX(0xe9), MX(0xea), MX(0xeb), MX(0xec),
	MX(0xed), MX(0xee), MX(0xef), MX(0xf1), MX(0xf2), MX(0xf3),
	MX(0xf4), MX(0xf5), MX(0xf6), MX(0xf8), MX(0xf9), MX(0xfa),
	MX(0xfb), MX(0xfc), MX(0xfd), MX(0xfe),
	MX(0xf5), MX(0xe5), MX(0xd5),   /* pmaddwd, pmulhw, pmullw again */
	{ 0, 0x6f, MK_MM, 8, 0, -1 },                   /* movq mm, mm/m */
	{ 0, 0x7f, MK_MS, 8, 0, -1 },                   /* movq mm/m, mm */
	{ 0, 0x6e, MK_MG, 4, SF_W, -1 },                /* movd/movq */
	{ 0, 0x7e, MK_GM, 4, SF_W, -1 },
	{ 0, 0x6e, MK_MG, 4, SF_W, -1 },
	{ 0, 0x7e, MK_GM, 4, SF_W, -1 },
	{ 0, 0xe7, MK_MS, 8, SF_MEM, -1 },              /* movntq */
	{ 0, 0x70, MK_MM, 8, SF_IMM, -1 },              /* pshufw */
	{ 0, 0xc4, MK_MG, 2, SF_IMM, -1 },              /* pinsrw */
	{ 0, 0xc5, MK_RM, 0, SF_IMM, -1 },              /* pextrw */
	{ 0, 0xd7, MK_RM, 0, 0, -1 },                   /* pmovmskb */
	{ 0, 0x71, MK_MI, 0, SF_IMM, 2 }, { 0, 0x71, MK_MI, 0, SF_IMM, 4 },
	{ 0, 0x71, MK_MI, 0, SF_IMM, 6 }, { 0, 0x72, MK_MI, 0, SF_IMM, 2 },
	{ 0, 0x72, MK_MI, 0, SF_IMM, 4 }, { 0, 0x72, MK_MI, 0, SF_IMM, 6 },
	{ 0, 0x73, MK_MI, 0, SF_IMM, 2 }, { 0, 0x73, MK_MI, 0, SF_IMM, 6 },
	{ 0, 0x2a, MK_XM, 8, 0, -1 },                   /* cvtpi2ps */
	{ 0x66, 0x2a, MK_XM, 8, 0, -1 },                /* cvtpi2pd */
	{ 0, 0x2c, MK_MX, 8, 0, -1 },                   /* cvttps2pi */
	{ 0, 0x2d, MK_MX, 8, 0, -1 },                   /* cvtps2pi */
	{ 0x66, 0x2c, MK_MX, 16, SF_A16, -1 },          /* cvttpd2pi */
	{ 0x66, 0x2d, MK_MX, 16, SF_A16, -1 },          /* cvtpd2pi */
	{ 0xf3, 0xd6, MK_XM, 0, SF_REG, -1 },           /* movq2dq */
	{ 0xf2, 0xd6, MK_MX, 0, SF_REG, -1 },           /* movdq2q */
	{ 0, 0x77, MK_NONE, 0, 0, -1 },                 /* emms */
	{ 0, 0x77, MK_NONE, 0, 0, -1 },
};
#undef MX

/* An MM register number for ModRM, with REX.R or REX.B (ignored for MM
 * registers) now and then in 64-bit mode. */
static int
pick_mm(struct gen *g)
{
	int r = (int)rng_below(&g->r, 8);

	if (g->m64 && rng_pct(&g->r, 15))
		r |= 8;
	return r;
}

static bool
u_mmx(struct gen *g)
{
	const struct mmx_op *o = &mmx_ops[rng_below(&g->r,
	    ARRAY_LEN(mmx_ops))];
	struct enc e;
	bool mem = false, w = false;
	int r;

	enc_init(&e);
	e.shuffle = false;
	if (o->pfx)
		add_pfx(&e, o->pfx);
	if ((o->f & SF_W) && g->m64 && rng_below(&g->r, 2)) {
		e.rex |= REX_W;
		w = true;
	}
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, o->op, 0);
	if (o->f & SF_MEM)
		mem = true;
	else if (!(o->f & SF_REG) && o->kind != MK_RM && o->kind != MK_MI &&
	    o->kind != MK_NONE)
		mem = rng_pct(&g->r, 40);
	switch (o->kind) {
	case MK_MM:
	case MK_MS:
		enc_reg(&e, pick_mm(g));
		if (mem) {
			if (!gen_mem(g, &e, o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_mm(g));
		}
		break;
	case MK_MG:
		enc_reg(&e, pick_mm(g));
		if (mem) {
			if (!gen_mem(g, &e, w ? 8 : o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_src(g, &e));
		}
		break;
	case MK_GM:
		enc_reg(&e, pick_mm(g));
		if (mem) {
			if (!gen_mem(g, &e, w ? 8 : o->msz, 0))
				return false;
		} else {
			r = pick_dst(g, &e, w ? 8 : 4);
			if (r < 0)
				return false;
			enc_rm_reg(&e, r);
		}
		break;
	case MK_RM:
		r = pick_dst(g, &e, 4);
		if (r < 0)
			return false;
		enc_reg(&e, r);
		enc_rm_reg(&e, pick_mm(g));
		break;
	case MK_MI:
		enc_rm_reg(&e, pick_mm(g));
		e.reg = (uint8_t)o->ext;
		break;
	case MK_XM:
		enc_reg(&e, pick_xmm(g));
		if (mem) {
			if (!gen_mem(g, &e, o->msz, 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_mm(g));
		}
		break;
	case MK_MX:
		enc_reg(&e, pick_mm(g));
		if (mem) {
			if (!gen_mem(g, &e, o->msz, o->f & SF_A16 ? 16 : 0))
				return false;
		} else {
			enc_rm_reg(&e, pick_xmm(g));
		}
		break;
	default:
		break;
	}
	if (o->f & SF_IMM)
		set_imm(&e, 1, rng_below(&g->r, 256));
	return commit(g, &e, C_MMX, 0, 0);
}

/* ---- ENTER and LEAVE ------------------------------------------------------ */

/*
 * ENTER imm16, imm8 with every nesting level 0-31 (and an imm8 above 31
 * now and then: the level is imm8 mod 32), and LEAVE, in each operand
 * size the mode has: 64 and 16 bits in 64-bit mode (66; there is no
 * 32-bit form there), 32 and 16 outside it.  RBP mostly points into the
 * stack or data page first (lea), so a nested level's frame pointers are
 * read from there; else it keeps its random value (#SS, #PF).  ENTER
 * pushes RBP and level frame pointers (the last is the new frame's own)
 * and then subtracts imm16 from RSP; LEAVE loads RSP from RBP and pops
 * RBP.  The stack pointer stays known only where it follows from the
 * code: after ENTER, and after an ENTER LEAVE pair of the natural size.
 */
static bool
u_enter(struct gen *g)
{
	struct enc e;
	int sz = g->m64 ? 8 : 4, level, k = (int)rng_below(&g->r, 4);
	unsigned frame;
	uint8_t imm8;

	if (!writable(g, X86_RBP))
		return false;
	if (g->cur.rsp_known && (g->cur.rsp < -0x600 || g->cur.rsp > 0x600))
		return false;
	if (k == 3) {
		/* LEAVE alone: RSP takes whatever RBP holds. */
		enc_init(&e);
		if (rng_pct(&g->r, 15))
			add_pfx(&e, 0x66);
		maybe_rex(g, &e);
		set_op(&e, 1, 0xc9, 0, 0);
		if (!commit(g, &e, C_ENTER, 0, 0))
			return false;
		g->cur.rsp_known = false;
		return true;
	}
	if (rng_pct(&g->r, 85) && !setup_lea(g, X86_RBP, rng_pct(&g->r, 70) ?
	    G_STACK + 0x100 + rng_below(&g->r, 0xe00) :
	    G_DATA + 0x100 + rng_below(&g->r, 0xf00)))
		return false;
	level = rng_pct(&g->r, 40) ? (int)rng_below(&g->r, 4) :
	    (int)rng_below(&g->r, 32);
	imm8 = (uint8_t)level;
	if (rng_pct(&g->r, 5))
		imm8 = (uint8_t)(level | (rng_below(&g->r, 8) << 5));
	frame = rng_pct(&g->r, 70) ? (unsigned)rng_below(&g->r, 0x80) :
	    rng_pct(&g->r, 80) ? (unsigned)rng_below(&g->r, 0x400) :
	    (unsigned)rng_below(&g->r, 0x10000);
	enc_init(&e);
	if (rng_pct(&g->r, 25)) {
		add_pfx(&e, 0x66);
		sz = 2;
	}
	maybe_rex(g, &e);
	set_op(&e, 1, 0xc8, 0, 0);
	set_imm(&e, 3, frame | (uint64_t)imm8 << 16);   /* imm16, imm8 */
	if (!commit(g, &e, C_ENTER, 0, 0))
		return false;
	g->cur.rsp -= (int64_t)(sz * (1 + level)) + (int64_t)frame;
	if (frame >= 0x400)
		g->cur.rsp_known = false;
	if (k == 2) {
		/* LEAVE in the same size: back where ENTER started. */
		enc_init(&e);
		if (sz == 2)
			add_pfx(&e, 0x66);
		maybe_rex(g, &e);
		set_op(&e, 1, 0xc9, 0, 0);
		if (!commit(g, &e, C_ENTER, 0, 0))
			return false;
		g->cur.rsp += (int64_t)(sz * (1 + level)) + (int64_t)frame;
		/* A 16-bit ENTER wrote BP alone: RSP = RBP is not known. */
		if (sz == 2 && g->m64)
			g->cur.rsp_known = false;
	}
	return true;
}

/* ---- FXSAVE and FXRSTOR --------------------------------------------------- */

/*
 * FXSAVE and FXRSTOR (and their REX.W forms, FXSAVE64 and FXRSTOR64, with
 * 64-bit FIP and FDP), 512 bytes, 16-byte aligned (#GP if not).  The saved
 * image is compared with the rest of memory; the bytes the SDM (vol. 1,
 * 10.5.1, table 10-2) leaves reserved are overwritten right after (byte
 * 5, FOP to FDS 6-23 whose upper halves and selectors are reserved or
 * the host's, see below, the six bytes after each ST register, 416-463),
 * so they are neither compared nor read later; 464-511, which the CPU
 * never writes, are compared.  FOP, FIP and FDP themselves are compared
 * in the x87 state where the host stores them.  FXRSTOR mostly loads an
 * image with a valid MXCSR stored just before it (a reserved bit set is
 * #GP(0)); the x87 registers, tags and the rest are random.
 */
static bool
fx_store(struct gen *g, uint64_t t, int size, uint32_t v)
{
	struct enc e;
	int64_t d = (int64_t)(t - g->s->bval);

	if (size == 8 && !g->m64)       /* no REX.W: two dwords */
		return fx_store(g, t, 4, v) && fx_store(g, t + 4, 4, 0);
	enc_init(&e);
	if (size == 2)
		add_pfx(&e, 0x66);
	if (size == 8)
		e.rex |= REX_W;
	set_op(&e, 1, size == 1 ? 0xc6 : 0xc7, 0, 0);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, d);
	e.reg = 0;
	set_imm(&e, size == 1 ? 1 : size == 2 ? 2 : 4, v);
	return commit(g, &e, C_SETUP, 0, 0);
}

static bool
fx_clear(struct gen *g, uint64_t t, int size)
{
	return fx_store(g, t, size, 0);
}

static bool
u_fxsave(struct gen *g)
{
	struct enc e;
	bool save = rng_pct(&g->r, 55), w = g->m64 && rng_below(&g->r, 2);
	bool known = !rng_pct(&g->r, 20);
	uint64_t t = G_DATA + 16 * rng_below(&g->r, (4096 - 512) / 16);
	int k;

	/* Room for FXSAVE and its 26 stores (at most 12 bytes each). */
	if (g->s->n + 28 > MAX_INSNS || g->off + 28 * 12 > G_CODE_SIZE - 80)
		save = false;
	/* Such a unit is longer than land_some allows for (72 bytes): the
	 * open jumps land before it, or a short one could not reach. */
	if (save)
		land_some(g, true);
	if (!save && known && w) {
		/* FXRSTOR64's FIP and FDP canonical: the CPU makes them so
		 * to its own linear-address width (57 bits on this host's
		 * Zen 5, where the model has 48), which the SDM leaves to
		 * it. */
		if (!fx_store(g, t + 8, 8, (uint32_t)rand_value(&g->r)) ||
		    !fx_store(g, t + 16, 8, (uint32_t)rand_value(&g->r)))
			return false;
	}
	if (!save && known) {
		uint32_t v = 0x1f80;

		if (rng_pct(&g->r, 40))
			v = (v & ~0x6000u) | (rng_below(&g->r, 4) << 13);
		if (rng_pct(&g->r, 15))
			v |= 0x8040;
		if (rng_pct(&g->r, 10))
			v &= ~(0x80u << rng_below(&g->r, 6));
		v |= (uint32_t)rng_below(&g->r, 64);
		enc_init(&e);
		set_op(&e, 1, 0xc7, 0, 0);
		enc_sib_or_rm(g, &e, g->s->breg, -1, 0, (int64_t)(t + 24 -
		    g->s->bval));
		e.reg = 0;
		set_imm(&e, 4, v);
		if (!commit(g, &e, C_SETUP, 0, 0))
			return false;
	}
	enc_init(&e);
	if (w)
		e.rex |= REX_W;
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, 0xae, 0);
	if (known) {
		enc_sib_or_rm(g, &e, g->s->breg, -1, 0, (int64_t)(t -
		    g->s->bval));
	} else {
		if (!gen_mem(g, &e, 512, 16))
			return false;
		t = g->last_t;
		/* FXRSTOR through a random operand only where it faults
		 * (#PF, or #GP where this KVM judges it): an image it could
		 * load would have a random MXCSR (#GP(0) for a reserved bit)
		 * and random pointers. */
		if (!save && (user_rw(t, 512) || (t >= G_RO && t < G_RO +
		    4096) || (t >= G_CODE && t < G_CODE + G_CODE_SIZE)))
			return false;
		/* A misaligned operand where it would also fault on paging
		 * (or a random pointer): #PF first on this AMD host in 32-bit
		 * mode, #GP(0) first on the model; not generated there. */
		if (!g->m64 && (t == 0 || ((t & 15) && !user_rw(t, 512))))
			return false;
	}
	e.reg = save ? 0 : 1;
	if (!commit(g, &e, C_FXSR, 0, 0))
		return false;
	g->s->in[g->s->n - 1].multi = true;
	if (!save || !user_rw(t, 512))
		return true;
	/* Mask the reserved bytes (see above). */
	if (!fx_clear(g, t + 5, 1) || !fx_clear(g, t + 6, 2) ||
	    !fx_clear(g, t + 8, 8) || !fx_clear(g, t + 16, 8))
		return false;
	for (k = 0; k < 8; k++)
		if (!fx_clear(g, t + 32 + 16 * k + 10, 2) ||
		    !fx_clear(g, t + 32 + 16 * k + 12, 4))
			return false;
	for (k = 416; k < 464; k += 8)
		if (!fx_clear(g, t + (uint64_t)k, 8))
			return false;
	return true;
}

/* ---- unit builders: 32-bit-only forms, XLAT, MASKMOVQ/MASKMOVDQU --------- */

/* mov esp, v (set-up): RSP for a unit that needs it somewhere else. */
static bool
setup_esp(struct gen *g, uint32_t v)
{
	struct enc e;

	enc_init(&e);
	set_op(&e, 1, 0xb8, 0, 0);
	enc_opreg(&e, X86_RSP);
	set_imm(&e, 4, v);
	if (!commit(g, &e, C_SETUP, 0, 0))
		return false;
	g->cur.rsp_known = true;
	g->cur.rsp = (int32_t)(v - (uint32_t)G_STACK_INIT);
	return true;
}

/*
 * PUSHA/POPA (60, 61; 66 for PUSHAW/POPAW; invalid in 64-bit mode):
 * PUSHA alone, or PUSHA then POPA, which loads back what PUSHA stored,
 * so the reserved registers keep their values (POPA skips ESP's slot).
 * A third of the time at the edge of the stack page, so that they fault
 * (#PF: the pages below and above it are not mapped): ESP set just
 * above the page's start for PUSHA (d bytes, 0 to 8 slots: it faults
 * unless all 8 fit), or POPA alone just below its end (always faulting:
 * a POPA that completed would load the reserved registers), any
 * alignment; ESP goes back where it was after a PUSHA that fit.
 */
static bool
u_pusha(struct gen *g)
{
	struct enc e;
	int sz = rng_pct(&g->r, 25) ? 2 : 4;
	bool pair = rng_pct(&g->r, 60), edge = rng_pct(&g->r, 33);
	bool top = edge && rng_pct(&g->r, 40);
	int32_t rsp0 = g->cur.rsp_known ? g->cur.rsp : 0;

	if (g->m64 || (!edge && g->cur.rsp_known && (g->cur.rsp < -0x600 ||
	    g->cur.rsp > 0x600)))
		return false;
	if (top) {
		if (!setup_esp(g, (uint32_t)(G_STACK + 4096 - 1 -
		    rng_below(&g->r, (unsigned)(8 * sz - 1)))))
			return false;
		enc_init(&e);
		if (sz == 2)
			add_pfx(&e, 0x66);
		set_op(&e, 1, 0x61, 0, 0);
		return commit(g, &e, C_PUSHA, 0, 0);
	}
	if (edge && !setup_esp(g, (uint32_t)(G_STACK +
	    rng_below(&g->r, (unsigned)(8 * sz + 1)))))
		return false;
	enc_init(&e);
	if (sz == 2)
		add_pfx(&e, 0x66);
	set_op(&e, 1, 0x60, 0, 0);
	if (!commit(g, &e, C_PUSHA, 0, 0))
		return false;
	g->cur.rsp -= 8 * sz;
	if (pair) {
		enc_init(&e);
		if (sz == 2)
			add_pfx(&e, 0x66);
		set_op(&e, 1, 0x61, 0, 0);
		if (!commit(g, &e, C_PUSHA, 0, 0))
			return false;
		g->cur.rsp += 8 * sz;
	}
	return !edge || setup_esp(g, (uint32_t)(G_STACK_INIT + rsp0));
}

/*
 * BOUND r, m (62; 66 for words; EVEX in 64-bit mode): the bounds stored
 * just before at a known place in the data page (or whatever memory a
 * random operand finds), the index set to a value inside, at or outside
 * them; #BR when outside (SDM vol. 2, BOUND: signed comparisons).
 */
static bool
u_bound(struct gen *g)
{
	struct enc e;
	int sz = rng_pct(&g->r, 25) ? 2 : 4, r = -1, k;
	uint64_t t = G_DATA + 8 * rng_below(&g->r, 4096 / 8 - 1);
	int64_t lo = sext(rand_value(&g->r), sz), hi = sext(rand_value(&g->r),
	    sz), v;

	if (g->m64)
		return false;
	enc_init(&e);
	if (rng_pct(&g->r, 70) && lo > hi) {
		v = lo;
		lo = hi;
		hi = v;
	}
	for (k = 0; k < 4 && r < 0; k++) {
		r = (int)rng_below(&g->r, 8);
		if (r == X86_RSP || !writable(g, r))
			r = -1;
	}
	if (r >= 0) {
		switch (rng_below(&g->r, 5)) {
		case 0:
			v = lo;
			break;
		case 1:
			v = hi;
			break;
		case 2:
			v = lo - 1 - (int64_t)rng_below(&g->r, 3);
			break;
		case 3:
			v = hi + 1 + (int64_t)rng_below(&g->r, 3);
			break;
		default:
			v = hi >= lo ? lo + (int64_t)(rng_next(&g->r) %
			    (uint64_t)(hi - lo + 1)) : lo;
			break;
		}
		if (!setup_mov_imm(g, r, 4, (uint64_t)v & 0xffffffffULL))
			return false;
	} else {
		r = pick_src(g, &e);
	}
	if (rng_pct(&g->r, 85)) {
		if (!fx_store(g, t, sz, (uint32_t)lo) ||
		    !fx_store(g, t + (uint64_t)sz, sz, (uint32_t)hi))
			return false;
	}
	enc_init(&e);
	if (sz == 2)
		add_pfx(&e, 0x66);
	set_op(&e, 1, 0x62, 0, 0);
	enc_reg(&e, r);
	if (rng_pct(&g->r, 90))
		enc_sib_or_rm(g, &e, g->s->breg, -1, 0, (int64_t)(t -
		    g->s->bval));
	else if (!gen_mem(g, &e, 2 * (unsigned)sz, 0))
		return false;
	return commit(g, &e, C_BOUND, 0, 0);
}

/* INTO (CE; invalid in 64-bit mode): #OF, a trap, where OF is set. */
static bool
u_into(struct gen *g)
{
	struct enc e;

	if (g->m64 || !flags_ok(g, X86_OF))
		return false;
	enc_init(&e);
	set_op(&e, 1, 0xce, 0, 0);
	return commit(g, &e, C_INTO, 0, 0);
}

/*
 * LES/LDS r, m16:32 (C4, C5; m16:16 with 66; VEX in 64-bit mode and
 * with ModRM.mod 11): a far pointer stored just before in the data page,
 * its selector one of the user selectors both CPUs have (Linux's and the
 * guest's GDT agree on them: 0x23 and 0x33 are readable code, 0x2b data;
 * with RPL 0 to 3), null (a later use of the register is #GP(0)), or a
 * DPL-0 one (#GP(selector)).  Selectors past the guest's GDT limit are
 * not generated: the two GDTs differ there.
 */
static bool
u_lesl(struct gen *g)
{
	static const uint16_t sels[] = { 0x2b, 0x2b, 0x2b, 0x2b, 0x2b, 0x23,
		0x33, 0x28, 0x29, 0x2a, 0x20, 0x31, 0, 1, 3, 0x08, 0x10, 0x13,
		0x1b };
	struct enc e;
	int sz = rng_pct(&g->r, 25) ? 2 : 4, r;
	uint64_t t = G_DATA + rng_below(&g->r, 4096 - 8);
	uint16_t sel = sels[rng_below(&g->r, ARRAY_LEN(sels))];

	if (g->m64)
		return false;
	if (rng_pct(&g->r, 70))
		t &= ~7ULL;
	enc_init(&e);
	if (sz == 2)
		add_pfx(&e, 0x66);
	set_op(&e, 1, rng_below(&g->r, 2) ? 0xc5 : 0xc4, 0, 0);
	r = pick_dst(g, &e, sz);
	if (r < 0)
		return false;
	if (!fx_store(g, t, sz, (uint32_t)rand_value(&g->r)) ||
	    !fx_store(g, t + (uint64_t)sz, 2, sel))
		return false;
	enc_reg(&e, r);
	enc_sib_or_rm(g, &e, g->s->breg, -1, 0, (int64_t)(t - g->s->bval));
	return commit(g, &e, C_LESLDS, 0, 0);
}

/* A segment override for an implicit DS operand (no FS in 32-bit mode:
 * base_state; FS and GS move it by their bases in 64-bit mode). */
static void
ds_override(struct gen *g, struct enc *e)
{
	static const uint8_t pfx[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
	unsigned k;

	if (!rng_pct(&g->r, 15))
		return;
	k = rng_below(&g->r, g->m64 ? 6 : 4);
	add_pfx(e, pfx[k]);
}

/*
 * XLAT (D7): AL = DS:[rBX + AL] (67: EBX in 64-bit, BX in 32-bit mode).
 * rBX is set up to point into the data page (near its end sometimes, so
 * that AL reaches the hole) unless it is the reserved base register.
 */
static bool
u_xlat(struct gen *g)
{
	struct enc e;

	if (!writable(g, X86_RAX))
		return false;
	if (g->s->breg != X86_RBX) {
		uint64_t t = G_DATA + (rng_pct(&g->r, 15) ? 4096 - 1 -
		    rng_below(&g->r, 64) : rng_below(&g->r, 4096 - 256));

		if (!writable(g, X86_RBX) || !setup_lea(g, X86_RBX, t))
			return false;
	}
	enc_init(&e);
	ds_override(g, &e);
	if (rng_pct(&g->r, 10))
		add_pfx(&e, 0x67);
	if (g->m64 && rng_pct(&g->r, 20))
		e.rex |= REX_W;
	maybe_rex(g, &e);
	set_op(&e, 1, 0xd7, 0, 0);
	return commit(g, &e, C_XLAT, 0, 0);
}

/*
 * MASKMOVQ mm, mm (0F F7) and MASKMOVDQU xmm, xmm (66 0F F7): the bytes
 * whose mask byte has bit 7 set are stored to DS:[rDI] (67: EDI, DI).
 * rDI is set up to point into the data page (across its end into the
 * hole sometimes) unless it is the reserved base register; with AC set
 * where this CPU checks SSE alignment (GEN_SSE_AC), it is 16-aligned.
 * MASKMOVQ is an MMX instruction: the x87 state (TOP, tags) is compared
 * after it, and a pending x87 exception gives #MF.
 */
static bool
u_maskmov(struct gen *g)
{
	struct enc e;
	bool x = rng_below(&g->r, 2);
	bool al = (g->opts & GEN_SSE_AC) && (g->s->init.rflags & X86_AC);

	if (g->s->breg != X86_RDI) {
		uint64_t t = G_DATA + (rng_pct(&g->r, 10) ? 4096 - 16 +
		    rng_below(&g->r, 16) : rng_below(&g->r, 4096 - 16));

		if (al)
			t &= ~15ULL;
		if (!writable(g, X86_RDI) || !setup_lea(g, X86_RDI, t))
			return false;
	} else if (al && (g->s->bval & 15)) {
		return false;
	}
	enc_init(&e);
	e.shuffle = false;
	ds_override(g, &e);
	if (rng_pct(&g->r, 10) && !(al && !g->m64))
		add_pfx(&e, 0x67);
	if (x)
		add_pfx(&e, 0x66);
	maybe_rex(g, &e);
	set_op(&e, 2, 0x0f, 0xf7, 0);
	if (x) {
		enc_reg(&e, pick_xmm(g));
		enc_rm_reg(&e, pick_xmm(g));
	} else {
		enc_reg(&e, pick_mm(g));
		enc_rm_reg(&e, pick_mm(g));
	}
	return commit(g, &e, C_MASKMOV, 0, 0);
}

/* ---- units and sequences ------------------------------------------------- */

static bool u_shift_s(struct gen *g) { return u_shift(g, C_SHIFT); }
static bool u_shift_r(struct gen *g) { return u_shift(g, C_ROT); }
static bool u_shift_c(struct gen *g) { return u_shift(g, C_RCX); }
static bool u_ssemov(struct gen *g) { return u_sse(g, C_SSEMOV); }
static bool u_ssefp(struct gen *g) { return u_sse(g, C_SSEFP); }
static bool u_sseint(struct gen *g) { return u_sse(g, C_SSEINT); }
static bool u_ssecvt(struct gen *g) { return u_sse(g, C_SSECVT); }
static bool u_mxcsr(struct gen *g) { return u_sse(g, C_MXCSR); }
static bool u_ssse3(struct gen *g) { return u_sse(g, C_SSSE3); }
static bool u_sse41(struct gen *g) { return u_sse(g, C_SSE41); }
static bool u_aes(struct gen *g) { return u_sse(g, C_AES); }
static bool u_pclmul(struct gen *g) { return u_sse(g, C_PCLMUL); }

#define UM_64 1
#define UM_32 2
#define UM_ALL 3

static const struct unit {
	bool (*fn)(struct gen *g);
	uint8_t cls;
	uint8_t weight;
	uint8_t modes;
} units[] = {
	{ u_alu, C_ALU, 14, UM_ALL },
	{ u_test, C_ALU, 3, UM_ALL },
	{ u_incdec, C_INCDEC, 3, UM_ALL },
	{ u_negnot, C_NEGNOT, 3, UM_ALL },
	{ u_shift_s, C_SHIFT, 6, UM_ALL },
	{ u_shift_r, C_ROT, 3, UM_ALL },
	{ u_shift_c, C_RCX, 2, UM_ALL },
	{ u_shxd, C_SHXD, 3, UM_ALL },
	{ u_mul, C_MUL, 4, UM_ALL },
	{ u_div, C_DIV, 4, UM_ALL },
	{ u_bt, C_BT, 4, UM_ALL },
	{ u_bsx, C_BSX, 3, UM_ALL },
	{ u_popcnt, C_POPCNT, 1, UM_ALL },
	{ u_bswap, C_BSWAP, 1, UM_ALL },
	{ u_movx, C_MOVX, 3, UM_ALL },
	{ u_arpl, C_ARPL, 2, UM_32 },
	{ u_lea, C_LEA, 4, UM_ALL },
	{ u_mov, C_MOV, 5, UM_ALL },
	{ u_xchg, C_XCHG, 3, UM_ALL },
	{ u_cmpxchg, C_CMPXCHG, 2, UM_ALL },
	{ u_cmov, C_CMOV, 3, UM_ALL },
	{ u_setcc, C_SETCC, 2, UM_ALL },
	{ u_jcc, C_JCC, 5, UM_ALL },
	{ u_loop, C_LOOP, 2, UM_ALL },
	{ u_stack, C_STACK, 4, UM_ALL },
	{ u_conv, C_CONV, 2, UM_ALL },
	{ u_flagop, C_FLAGOP, 3, UM_ALL },
	{ u_string, C_STRING, 5, UM_ALL },
	{ u_bcd, C_BCD, 2, UM_32 },
	{ u_ssemov, C_SSEMOV, 5, UM_ALL },
	{ u_ssefp, C_SSEFP, 6, UM_ALL },
	{ u_sseint, C_SSEINT, 5, UM_ALL },
	{ u_ssecvt, C_SSECVT, 3, UM_ALL },
	{ u_mxcsr, C_MXCSR, 1, UM_ALL },
	{ u_fault, C_FAULT, 2, UM_ALL },
	{ u_x87, C_X87, 6, UM_ALL },
	{ u_ssse3, C_SSSE3, 3, UM_ALL },
	{ u_sse41, C_SSE41, 4, UM_ALL },
	{ u_sse42s, C_SSE42S, 2, UM_ALL },
	{ u_aes, C_AES, 1, UM_ALL },
	{ u_pclmul, C_PCLMUL, 1, UM_ALL },
	{ u_bmi1, C_BMI1, 3, UM_ALL },
	{ u_bmi2, C_BMI2, 3, UM_ALL },
	{ u_adx, C_ADX, 1, UM_ALL },
	{ u_movbe, C_MOVBE, 1, UM_ALL },
	{ u_crc32, C_CRC32, 1, UM_ALL },
	{ u_rdrand, C_RDRAND, 1, UM_ALL },
	{ u_mmx, C_MMX, 5, UM_ALL },
	{ u_fxsave, C_FXSR, 1, UM_ALL },
	{ u_enter, C_ENTER, 2, UM_ALL },
	{ u_pusha, C_PUSHA, 2, UM_32 },
	{ u_bound, C_BOUND, 2, UM_32 },
	{ u_into, C_INTO, 1, UM_32 },
	{ u_lesl, C_LESLDS, 2, UM_32 },
	{ u_xlat, C_XLAT, 1, UM_ALL },
	{ u_maskmov, C_MASKMOV, 1, UM_ALL },
};

static const struct unit *
pick_unit(struct gen *g)
{
	unsigned total = 0, x, k;

	for (k = 0; k < ARRAY_LEN(units); k++)
		if ((units[k].modes & (1u << g->mode)) &&
		    (!g->only || (g->only & CLS(units[k].cls))))
			total += units[k].weight;
	if (total == 0)
		return NULL;
	x = rng_below(&g->r, total);
	for (k = 0; k < ARRAY_LEN(units); k++) {
		if (!(units[k].modes & (1u << g->mode)) ||
		    (g->only && !(g->only & CLS(units[k].cls))))
			continue;
		if (x < units[k].weight)
			return &units[k];
		x -= units[k].weight;
	}
	return NULL;
}

/* The initial state: random GPRs (B and X excepted), flags, XMM, MXCSR. */
static void
gen_state(struct gen *g, int iopl)
{
	struct seq *s = g->s;
	struct x86_state *st = &s->init;
	uint32_t mx = 0x1f80;
	int k, j;

	base_state(st, g->mode);
	for (k = 0; k < 16; k++)
		st->gpr[k] = rand_value(&g->r);
	st->gpr[X86_RSP] = G_STACK_INIT;
	st->gpr[s->breg] = s->bval;
	if (s->xreg >= 0)
		st->gpr[s->xreg] = s->xval;
	st->rflags = 0x2 | X86_IF | ((uint64_t)iopl << 12) |
	    (rng_next(&g->r) & ARITH);
	if (rng_pct(&g->r, 30))
		st->rflags |= X86_DF;
	if ((g->opts & GEN_AC) && rng_pct(&g->r, 4))
		st->rflags |= X86_AC;
	for (k = 0; k < 16; k++) {
		uint8_t *x = st->fxsave + 160 + 16 * k;
		unsigned how = rng_below(&g->r, 10);

		for (j = 0; j < 4; j++) {
			if (how < 4) {
				uint32_t v = rand_f32(&g->r);

				memcpy(x + 4 * j, &v, 4);
			} else if (how < 7 && !(j & 1)) {
				uint64_t v = rand_f64(&g->r);

				memcpy(x + 4 * j, &v, 8);
			} else if (how >= 7) {
				uint32_t v = (uint32_t)rand_value(&g->r);

				memcpy(x + 4 * j, &v, 4);
			}
		}
		if (k && rng_pct(&g->r, 8))
			memcpy(x, st->fxsave + 160 + 16 * rng_below(&g->r,
			    (unsigned)k), 16);
	}
	if (rng_pct(&g->r, 30))
		mx = (mx & ~0x6000u) | (rng_below(&g->r, 4) << 13);
	if (rng_pct(&g->r, 10))
		mx |= 0x8000;                   /* FTZ */
	if (rng_pct(&g->r, 10))
		mx |= 0x0040;                   /* DAZ */
	if (rng_pct(&g->r, 6))
		mx &= ~(0x80u << rng_below(&g->r, 6));  /* unmask one */
	if (rng_pct(&g->r, 20))
		mx |= (uint32_t)rng_below(&g->r, 64);
	memcpy(st->fxsave + 24, &mx, 4);
	/* Memory: random bytes with interesting values sprinkled in. */
	for (k = 0; k < 4096; k += 8) {
		uint64_t v;

		switch (rng_below(&g->r, 8)) {
		case 0:
			v = rand_value(&g->r);
			break;
		case 1:
			v = rand_f64(&g->r);
			break;
		case 2:
			v = (uint64_t)rand_f32(&g->r) << 32 | rand_f32(&g->r);
			break;
		default:
			v = rng_next(&g->r);
			break;
		}
		memcpy(s->data + k, &v, 8);
		v = rng_next(&g->r);
		memcpy(s->stack + k, &v, 8);
	}
}

/*
 * Generate sequence number iter of the run with seed: the reserved
 * registers, the initial state, 1..maxu units and the end marker.  The
 * same (seed, iter, mode) always gives the same sequence.
 */
static void
gen_seq(struct seq *s, uint64_t seed, uint64_t iter, int mode, int maxu,
    int end_kind, unsigned opts, uint64_t nogp, uint64_t only)
{
	static struct gen gg;
	struct gen *g = &gg;
	int units_left, tries, k;

	memset(g, 0, sizeof(*g));
	memset(s, 0, offsetof(struct seq, init));
	rng_seed(&g->r, seed, iter * 2 + (uint64_t)mode);
	g->s = s;
	g->mode = mode;
	g->m64 = mode == M64;
	g->opts = opts;
	g->nogp_mask = nogp;
	g->only = only;
	g->iopl = end_kind == END_OUT ? 3 : 0;
	s->mode = mode;
	s->iter = iter;
	s->end_kind = end_kind;
	/* B: any GPR but RSP, pointing into the data page; X: small. */
	do {
		s->breg = (int)rng_below(&g->r, g->m64 ? 16 : 8);
	} while (s->breg == X86_RSP);
	s->bval = G_DATA + rng_below(&g->r, 4096);
	if (rng_pct(&g->r, 50))
		s->bval &= ~15ULL;
	s->xreg = -1;
	if (rng_pct(&g->r, g->m64 ? 70 : 40)) {
		do {
			s->xreg = (int)rng_below(&g->r, g->m64 ? 16 : 8);
		} while (s->xreg == X86_RSP || s->xreg == s->breg);
		s->xval = (uint64_t)(int64_t)((int)rng_below(&g->r, 129) -
		    64);
		if (rng_pct(&g->r, 20))
			s->xval = 0;
		if (!g->m64)
			s->xval &= 0xffffffffULL;
	}
	g->rsv = (uint16_t)(1u << s->breg);
	if (s->xreg >= 0)
		g->rsv |= (uint16_t)(1u << s->xreg);
	gen_state(g, g->iopl);
	{
		struct rng xr;

		rng_seed(&xr, seed ^ 0x8787878787878787ULL, iter * 2 +
		    (uint64_t)mode);
		gen_x87_state(&xr, &s->init);
	}
	/* 32-bit code leaves 32-bit x87 instruction and data pointers (the
	 * CPU keeps no more of them there). */
	if (mode == M32) {
		memset(s->init.fxsave + 12, 0, 4);
		memset(s->init.fxsave + 20, 0, 4);
	}
	g->cur.undef = 0;
	g->cur.rsp_known = true;
	g->cur.rsp = 0;
	g->reach = true;
	units_left = 1 + (int)rng_below(&g->r, (unsigned)maxu);
	while (units_left > 0 && s->n < MAX_INSNS - 8 &&
	    g->off < G_CODE_SIZE - 256) {
		const struct unit *u;

		for (tries = 0; tries < 50; tries++) {
			/* A failed unit may have committed its set-up (it is
			 * harmless); the boundary after it is a unit's. */
			land_some(g, false);
			u = pick_unit(g);
			if (u == NULL)
				break;
			g->nogp = (g->nogp_mask >> u->cls) & 1;
			/* Where the CPU (unlike the model) checks SSE
			 * alignment under AC, such operands stay aligned. */
			g->align_all = (g->opts & GEN_SSE_AC) &&
			    (s->init.rflags & X86_AC) &&
			    (CLS(u->cls) & (SSE_CLASSES | CLS(C_FXSR)));
			if (u->fn(g))
				break;
		}
		units_left--;
	}
	land_some(g, true);
	/* The end marker. */
	s->end_rip = G_CODE + g->off;
	s->undef_end = g->cur.undef;
	s->undef_all |= g->cur.undef;
	{
		struct ginsn *in = &s->in[s->n++];

		memset(in, 0, sizeof(*in));
		in->off = (uint16_t)g->off;
		in->cls = C_END;
		in->rel_at = -1;
		in->undef_in = g->cur.undef;
		if (end_kind == END_OUT) {
			static const uint8_t b[4] = { 0xe6, PORT_BASE +
				PORT_END, 0xeb, 0xfe };

			memcpy(in->b, b, 4);
			in->len = 4;
		} else {
			in->b[0] = 0xcc;
			in->len = 1;
		}
	}
	memset(s->code, 0xf4, sizeof(s->code));
	for (k = 0; k < s->n; k++)
		memcpy(s->code + s->in[k].off, s->in[k].b, s->in[k].len);
}

/* ---- comparing and reporting --------------------------------------------- */

static const char *const gpr_name[16] = { "rax", "rcx", "rdx", "rbx",
	"rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
	"r14", "r15" };

struct stats {
	uint64_t seqs, mismatches, exceptions, unjudged, timeouts;
	uint64_t undef_seqs, undef_agreed, undef_differed;
	uint64_t cmps_either;   /* CMPS faults explained by operand order */
	uint64_t wrap4g;        /* 4 GiB wrap-around faults explained */
	uint64_t per_mode[NMODES];
	uint64_t cls_insns[NCLASS], cls_bad[NCLASS], cls_exc[NCLASS];
	uint64_t vec[32];
	unsigned reported, max_reports;
	bool verbose, quiet;
};

/* Does vector v push an error code (SDM vol. 3, table 6-1)? */
static bool
vec_has_error(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

static const char *
vec_name(int v)
{
	static const char *const n[32] = { "#DE", "#DB", "NMI", "#BP", "#OF",
		"#BR", "#UD", "#NM", "#DF", "9", "#TS", "#NP", "#SS", "#GP",
		"#PF", "15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP" };

	return v >= 0 && v < 32 && n[v] ? n[v] : "?";
}

/* The frame on the RSP0 stack: err (if any), RIP, CS, RFLAGS, RSP, SS. */
static void
frame_of(const struct result *r, int v, uint64_t f[6])
{
	memset(f, 0, 6 * sizeof(f[0]));
	if (vec_has_error(v))
		memcpy(f, r->mem + G_KSTACK_TOP - 48, 48);
	else
		memcpy(f + 1, r->mem + G_KSTACK_TOP - 40, 40);
}

enum { OUT_END, OUT_EXC, OUT_STOP, OUT_TIMEOUT };

static int
outcome(const struct seq *s, const struct result *r)
{
	uint64_t f[6];

	if (r->timeout)
		return OUT_TIMEOUT;
	if (r->port < 0)
		return OUT_STOP;
	if (r->port == PORT_END)
		return OUT_END;
	if (s->end_kind == END_INT3 && r->port == X86_EXC_BP) {
		frame_of(r, X86_EXC_BP, f);
		if (f[1] == s->end_rip + 1)
			return OUT_END;
	}
	return OUT_EXC;
}

static void
describe(const struct seq *s, const struct result *r, char *buf, size_t len)
{
	uint64_t f[6];

	switch (outcome(s, r)) {
	case OUT_END:
		snprintf(buf, len, "reached the end");
		break;
	case OUT_TIMEOUT:
		snprintf(buf, len, "did not finish in %lld s (RIP %#" PRIx64
		    ")", RUN_TIMEOUT_NS / 1000000000LL, r->st.rip);
		break;
	case OUT_STOP:
		snprintf(buf, len, "stopped without reaching the harness "
		    "(exit %d: %.150s)", r->reason, r->diag[0] ? r->diag :
		    "no diagnosis");
		break;
	default:
		frame_of(r, r->port, f);
		if (vec_has_error(r->port))
			snprintf(buf, len, "exception %s (vector %d) error %#"
			    PRIx64 " at RIP %#" PRIx64 "%s", vec_name(r->port),
			    r->port, f[0], f[1], r->port == X86_EXC_PF ? "" :
			    "");
		else
			snprintf(buf, len, "exception %s (vector %d) at RIP %#"
			    PRIx64, vec_name(r->port), r->port, f[1]);
		if (r->port == X86_EXC_PF) {
			size_t n = strlen(buf);

			snprintf(buf + n, len - n, ", CR2 %#" PRIx64,
			    r->st.cr2);
		}
		break;
	}
}

/* Is in a REP CMPS or REP SCAS (after any prefixes)? */
static bool
is_rep_cmps_scas(const struct ginsn *in, bool m64)
{
	bool rep = false;
	int k;

	for (k = 0; k < in->len; k++) {
		uint8_t b = in->b[k];

		if (b == 0xf2 || b == 0xf3)
			rep = true;
		else if (!(b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e ||
		    b == 0x64 || b == 0x65 || b == 0x66 || b == 0x67 ||
		    (m64 && (b & 0xf0) == 0x40)))
			return rep && (b == 0xa6 || b == 0xa7 || b == 0xae ||
			    b == 0xaf);
	}
	return false;
}

/* The registers not compared where the reference run stopped on a
 * POPA's fault and the CPU loads POPA's registers one by one (AMD,
 * GEN_POPA_PARTIAL; the model, as the SDM's fault rule, vol. 3A 6.5, has
 * them as before the instruction): all but ESP, which both keep. */
static uint16_t
popa_skip_regs(const struct seq *s, const struct result *ref, bool partial)
{
	uint64_t f[6];
	int k, j;

	if (!partial || outcome(s, ref) != OUT_EXC)
		return 0;
	frame_of(ref, ref->port, f);
	for (k = 0; k < s->n; k++) {
		const struct ginsn *in = &s->in[k];

		if (G_CODE + in->off != f[1] || in->cls != C_PUSHA)
			continue;
		for (j = 0; j < in->len && in->b[j] == 0x66; j++)
			;
		if (j < in->len && in->b[j] == 0x61)
			return (uint16_t)(0xff & ~(1u << X86_RSP));
	}
	return 0;
}

/* Is in a REP MOVS or REP STOS with a 32-bit address size (67)? */
static bool
is_a32_rep_movs_stos(const struct ginsn *in)
{
	bool rep = false, a32 = false;
	int k;

	for (k = 0; k < in->len; k++) {
		uint8_t b = in->b[k];

		if (b == 0xf2 || b == 0xf3)
			rep = true;
		else if (b == 0x67)
			a32 = true;
		else if (!(b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e ||
		    b == 0x64 || b == 0x65 || b == 0x66 || (b & 0xf0) == 0x40))
			return rep && a32 && (b == 0xa4 || b == 0xa5 ||
			    b == 0xaa || b == 0xab);
	}
	return false;
}

/* The GPRs compared in their low halves only: RSI and RDI after a 67 REP
 * MOVS/STOS where the CPU keeps their upper halves when it faults at once
 * or has nothing to do (AMD) and the model (Intel) clears them. */
static uint16_t
low_half_regs(const struct seq *s, bool upper)
{
	int k;

	if (!upper)
		return 0;
	for (k = 0; k < s->n; k++)
		if (is_a32_rep_movs_stos(&s->in[k]))
			return (uint16_t)(1u << X86_RSI | 1u << X86_RDI);
	return 0;
}

/* Would a CPL3 read of size bytes at linear address a fault here (not
 * canonical, on a page that is not user-readable, or misaligned with
 * RFLAGS.AC set)?  The user-readable pages are the code pages, G_RO,
 * G_DATA and G_STACK (build_image). */
static bool
user_read_faults(uint64_t a, unsigned size, bool ac)
{
	uint64_t e = a + size - 1, p;

	if ((uint64_t)((int64_t)(a << 16) >> 16) != a ||
	    (uint64_t)((int64_t)(e << 16) >> 16) != e || e < a)
		return true;
	if (ac && (a & (size - 1)))
		return true;
	for (p = a & ~0xfffULL; p <= e; p += 0x1000)
		if (!((p >= G_CODE && p < G_CODE + G_CODE_SIZE) ||
		    p == G_RO || p == G_DATA || p == G_STACK))
			return true;
	return false;
}

/*
 * Where the CPU reads a CMPS's DS:rSI operand first (AMD) and the model
 * (Intel, and so the DBT) reads ES:rDI first, and both operands fault at
 * the faulting iteration, the two CPUs report different faults, each its
 * first operand's: then the vector, the handler's RIP, CR2 and the error
 * code are not compared (everything else is).  Judged from the
 * instruction's prefixes and KVM's RSI, RDI and frame RFLAGS at the fault;
 * both runs must have faulted at that CMPS with #GP, #SS, #PF or #AC.  The
 * SDM gives no order for an instruction's memory accesses.
 */
static bool
is_addr_fault(int v)
{
	return v == X86_EXC_GP || v == X86_EXC_SS || v == X86_EXC_PF ||
	    v == X86_EXC_AC;
}

static bool
cmps_either(const struct seq *s, const struct result *k,
    const struct result *b, bool src_first)
{
	bool m64 = s->mode == M64, o16 = false, a67 = false, w = false;
	uint64_t fk[6], fb[6], base = 0, si, di, rfl;
	unsigned size = 0;
	int n, j, sreg = X86_DS;
	bool ac;

	if (!src_first || outcome(s, k) != OUT_EXC || outcome(s, b) !=
	    OUT_EXC || !is_addr_fault(k->port) || !is_addr_fault(b->port))
		return false;
	frame_of(k, k->port, fk);
	frame_of(b, b->port, fb);
	if (fk[1] != fb[1])
		return false;
	for (n = 0; n < s->n && G_CODE + s->in[n].off != fk[1]; n++)
		;
	if (n == s->n)
		return false;
	for (j = 0; j < s->in[n].len && !size; j++) {
		uint8_t c = s->in[n].b[j];

		if (c == 0x66)
			o16 = true;
		else if (c == 0x67)
			a67 = true;
		else if (c == 0x64 || c == 0x65)
			base = m64 ? (c == 0x64 ? FS_BASE : GS_BASE) : 0,
			sreg = c == 0x64 ? X86_FS : X86_GS;
		else if (c == 0x26 || c == 0x2e || c == 0x36 || c == 0x3e)
			base = 0, sreg = c == 0x26 ? X86_ES : c == 0x2e ?
			    X86_CS : c == 0x36 ? X86_SS : X86_DS;
		else if (c == 0xf2 || c == 0xf3)
			;
		else if (m64 && (c & 0xf0) == 0x40)
			w = (c & 8) != 0;
		else if (c == 0xa6)
			size = 1;
		else if (c == 0xa7)
			size = w ? 8 : o16 ? 2 : 4;
		else
			return false;
	}
	if (!size)
		return false;
	/* Outside 64-bit mode a null DS or ES (LDS, LES) faults too. */
	if (!m64 && (k->st.seg[sreg].sel & ~3) == 0 &&
	    (k->st.seg[X86_ES].sel & ~3) == 0)
		return true;
	si = k->st.gpr[X86_RSI];
	di = k->st.gpr[X86_RDI];
	if (m64 ? a67 : true) {
		uint64_t am = (!m64 && a67) ? 0xffff : 0xffffffffULL;

		si &= am;
		di &= am;
	}
	memcpy(&rfl, k->mem + FRAME_RFLAGS, 8);
	ac = (rfl & X86_AC) != 0;
	return (user_read_faults(base + si, size, ac) || (!m64 &&
	    (k->st.seg[sreg].sel & ~3) == 0)) && (user_read_faults(di, size,
	    ac) || (!m64 && (k->st.seg[X86_ES].sel & ~3) == 0));
}

/*
 * Where the CPU (AMD: GEN_WRAP4G) accesses an x87 environment or state
 * (FLDENV, FNSTENV, FRSTOR, FNSAVE: ginsn.multi) across 4 GiB in a flat
 * 32-bit segment piece by piece, taking the #PF of its first bytes on
 * the last page, and the DBT takes the limit fault of the whole operand
 * first (SDM vol. 3, 5.3; the SDM gives no order for the pieces): the
 * CPU's #PF in the last page against the DBT's #GP(0) or #SS(0) at the
 * same instruction.  Then the vector, CR2 and the error code are not
 * compared (everything else is).
 */
static bool
wrap4g(const struct seq *s, const struct result *k, const struct result *b)
{
	uint64_t fk[6], fb[6];
	int n;

	if (s->mode != M32 || outcome(s, k) != OUT_EXC || outcome(s, b) !=
	    OUT_EXC || k->port != X86_EXC_PF || (b->port != X86_EXC_GP &&
	    b->port != X86_EXC_SS) || k->st.cr2 < 0xfffff000ULL)
		return false;
	frame_of(k, k->port, fk);
	frame_of(b, b->port, fb);
	if (fk[1] != fb[1] || fb[0] != 0)
		return false;
	for (n = 0; n < s->n; n++)
		if (G_CODE + s->in[n].off == fk[1])
			return s->in[n].multi;
	return false;
}

/* Both runs took #PF at an x87 environment or state load or store
 * (FLDENV, FNSTENV, FRSTOR, FNSAVE) crossing into a page it may not
 * touch: which of its bytes the CPU accessed first is its own (AMD
 * reports the operand's last byte; the SDM gives no order), so CR2 is not
 * compared (the error code and everything else are). */
static bool
multi_pf(const struct seq *s, const struct result *k, const struct result *b)
{
	uint64_t f[6];
	int n;

	if (outcome(s, k) != OUT_EXC || outcome(s, b) != OUT_EXC ||
	    k->port != X86_EXC_PF || b->port != X86_EXC_PF)
		return false;
	frame_of(k, k->port, f);
	for (n = 0; n < s->n; n++)
		if (G_CODE + s->in[n].off == f[1])
			return s->in[n].multi;
	return false;
}

/* The flags undefined where the reference run stopped.  rep_partial: the
 * CPU shows the flags of a faulting REP CMPS/SCAS's completed iterations
 * (AMD), where the model (Intel) leaves them as before the instruction:
 * they are not compared there. */
static uint32_t
undef_mask(const struct seq *s, const struct result *ref, bool rep_partial)
{
	uint64_t f[6];
	int k;

	switch (outcome(s, ref)) {
	case OUT_END:
		return s->undef_end;
	case OUT_EXC:
		frame_of(ref, ref->port, f);
		for (k = 0; k < s->n; k++)
			if (G_CODE + s->in[k].off == f[1])
				return s->in[k].undef_in | (rep_partial &&
				    is_rep_cmps_scas(&s->in[k], s->mode ==
				    M64) ? ARITH : 0);
		if (f[1] == s->end_rip + 1)
			return s->undef_end;
		return s->undef_all;
	default:
		return s->undef_all;
	}
}

struct diffs {
	char buf[16384];
	size_t len;
	int n;
};

static void
diff_add(struct diffs *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
diff_add(struct diffs *d, const char *fmt, ...)
{
	va_list ap;

	d->n++;
	if (d->len + 200 >= sizeof(d->buf))
		return;
	va_start(ap, fmt);
	d->len += (size_t)vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len,
	    fmt, ap);
	va_end(ap);
}

static void
diff_u64(struct diffs *d, const char *what, uint64_t a, uint64_t b)
{
	if (a != b)
		diff_add(d, "    %-8s kvm %#018" PRIx64 "  dbt %#018" PRIx64
		    "\n", what, a, b);
}

/* Compare [lo, hi) of both memories, except the 8 bytes at skip (if
 * not 0), listing differing runs of bytes. */
static bool
skipped(uint64_t p, uint64_t skip, unsigned skiplen)
{
	return skip && p >= skip && p < skip + skiplen;
}

static void
diff_mem(struct diffs *d, const char *what, uint64_t lo, uint64_t hi,
    uint64_t skip, unsigned skiplen, uint64_t skip2,
    const struct result *a, const struct result *b)
{
	uint64_t p = lo, q;
	int runs = 0;

	while (p < hi) {
		if (skipped(p, skip, skiplen) || skipped(p, skip2, 4) ||
		    a->mem[p] == b->mem[p]) {
			p++;
			continue;
		}
		for (q = p; q < hi && q < p + 16 && a->mem[q] != b->mem[q] &&
		    !skipped(q, skip, skiplen) && !skipped(q, skip2, 4); q++)
			;
		if (runs++ < 8) {
			char ka[64] = "", kb[64] = "";
			uint64_t k;

			for (k = p; k < q; k++) {
				snprintf(ka + 3 * (k - p), 4, "%02x ",
				    a->mem[k]);
				snprintf(kb + 3 * (k - p), 4, "%02x ",
				    b->mem[k]);
			}
			diff_add(d, "    %s+%#" PRIx64 ": kvm %s dbt %s\n",
			    what, p - lo, ka, kb);
		} else {
			d->n++;
		}
		p = q;
	}
}

/*
 * Everything the two runs must agree on.  mask: the flags undefined
 * where the sequence stopped, left out of RFLAGS and the frame's RFLAGS;
 * *udiff says whether they differed anyway.
 */
static void
compare(const struct seq *s, const struct result *k, const struct result *b,
    uint32_t mask, uint64_t fin_mask, uint16_t low, uint16_t skip,
    bool either, bool fx_ptr_es, struct diffs *d, bool *udiff)
{
	static const int segs[6] = { X86_CS, X86_SS, X86_DS, X86_ES, X86_FS,
		X86_GS };
	static const char *const segn[6] = { "cs", "ss", "ds", "es", "fs",
		"gs" };
	int ok = outcome(s, k), ob = outcome(s, b), i;
	uint64_t fa, fb;
	char da[256], db[256];

	*udiff = false;
	if (ok != ob || (ok == OUT_EXC && k->port != b->port && !either)) {
		describe(s, k, da, sizeof(da));
		describe(s, b, db, sizeof(db));
		diff_add(d, "    outcome  kvm %s\n             dbt %s\n", da,
		    db);
	}
	/* After compatibility-mode code the upper halves of the GPRs are
	 * undefined (SDM vol. 1, 3.4.1.1; AMD APM vol. 1, 3.1.2): only the
	 * low halves are compared then, except for the RSP an exception
	 * delivery set up. */
	for (i = 0; i < 16; i++) {
		uint64_t m = (s->mode == M32 && !(i == X86_RSP &&
		    k->st.seg[X86_CS].sel == SEL_KCODE)) || ((low >> i) & 1) ?
		    0xffffffffULL : ~0ULL;

		if ((skip >> i) & 1)
			continue;
		diff_u64(d, gpr_name[i], k->st.gpr[i] & m, b->st.gpr[i] & m);
	}
	if (!either)    /* else each vector's stub */
		diff_u64(d, "rip", k->st.rip, b->st.rip);
	if ((k->st.rflags ^ b->st.rflags) & ~((uint64_t)mask | fin_mask))
		diff_add(d, "    rflags   kvm %#018" PRIx64 "  dbt %#018" PRIx64
		    " (not compared: %#" PRIx64 ")\n", k->st.rflags,
		    b->st.rflags, (uint64_t)mask | fin_mask);
	if ((k->st.rflags ^ b->st.rflags) & mask)
		*udiff = true;
	if (!either && !multi_pf(s, k, b))
		diff_u64(d, "cr2", k->st.cr2, b->st.cr2);
	for (i = 0; i < 6; i++)
		if (k->st.seg[segs[i]].sel != b->st.seg[segs[i]].sel &&
		    !(s->mode == M32 && native_m32 &&
		    (k->st.seg[segs[i]].sel | b->st.seg[segs[i]].sel) < 4))
			diff_add(d, "    %-8s kvm %#06x  dbt %#06x\n", segn[i],
			    k->st.seg[segs[i]].sel, b->st.seg[segs[i]].sel);
	{
		uint32_t ma, mb;

		memcpy(&ma, k->st.fxsave + 24, 4);
		memcpy(&mb, b->st.fxsave + 24, 4);
		if (ma != mb)
			diff_add(d, "    mxcsr    kvm %#010x  dbt %#010x\n", ma,
			    mb);
	}
	/* x87: FCW, FSW, FTW (abridged), FOP, FIP, FDP and the registers'
	 * 80 bits. */
	/* (A null selector's RPL is not seen natively: the kernel's return
	 * to user mode on the way to the signal handler reloads it as 0.)
	 * The native oracle's image is the kernel's XSAVE64: 64-bit FIP and
	 * FDP, no FCS or FDS (the DBT's 32-bit format has them in the upper
	 * halves): only the offsets are compared. */
	uint8_t fxa[24], fxb[24];

	memcpy(fxa, k->st.fxsave, 24);
	memcpy(fxb, b->st.fxsave, 24);
	if (s->mode == M32 && native_m32) {
		memset(fxa + 12, 0, 4);
		memset(fxa + 20, 0, 4);
		memset(fxb + 12, 0, 4);
		memset(fxb + 20, 0, 4);
	}
	if (memcmp(fxa, fxb, fx_ptr_es && !(k->st.fxsave[2] & 0x80) ? 6 :
	    24)) {
		const uint8_t *xa = k->st.fxsave, *xb = b->st.fxsave;
		uint16_t wa[4], wb[4];
		uint64_t pa[2], pb[2];

		memcpy(wa, xa, 8);
		memcpy(wb, xb, 8);
		memcpy(pa, xa + 8, 16);
		memcpy(pb, xb + 8, 16);
		diff_add(d, "    x87      kvm fcw %04x fsw %04x ftw %02x fop "
		    "%04x fip %" PRIx64 " fdp %" PRIx64 "\n"
		    "             dbt fcw %04x fsw %04x ftw %02x fop %04x fip %"
		    PRIx64 " fdp %" PRIx64 "\n", wa[0], wa[1], wa[2] & 0xff,
		    wa[3], pa[0], pa[1], wb[0], wb[1], wb[2] & 0xff, wb[3],
		    pb[0], pb[1]);
	}
	for (i = 0; i < 8; i++) {
		const uint8_t *xa = k->st.fxsave + 32 + 16 * i;
		const uint8_t *xb = b->st.fxsave + 32 + 16 * i;
		uint64_t ma, mb;
		uint16_t ea, eb;

		if (!memcmp(xa, xb, 10))
			continue;
		memcpy(&ma, xa, 8);
		memcpy(&mb, xb, 8);
		memcpy(&ea, xa + 8, 2);
		memcpy(&eb, xb + 8, 2);
		diff_add(d, "    st%-6d kvm %04x_%016" PRIx64 "  dbt %04x_%016"
		    PRIx64 "\n", i, ea, ma, eb, mb);
	}
	for (i = 0; i < 16; i++) {
		const uint8_t *xa = k->st.fxsave + 160 + 16 * i;
		const uint8_t *xb = b->st.fxsave + 160 + 16 * i;
		uint64_t a[2], c[2];

		if (!memcmp(xa, xb, 16))
			continue;
		memcpy(a, xa, 16);
		memcpy(c, xb, 16);
		diff_add(d, "    xmm%-5d kvm %016" PRIx64 "_%016" PRIx64
		    "  dbt %016" PRIx64 "_%016" PRIx64 "\n", i, a[1], a[0],
		    c[1], c[0]);
	}
	/* The frame's RFLAGS is compared masked, the rest of the page as
	 * bytes. */
	memcpy(&fa, k->mem + FRAME_RFLAGS, 8);
	memcpy(&fb, b->mem + FRAME_RFLAGS, 8);
	if ((fa ^ fb) & ~(uint64_t)mask)
		diff_add(d, "    frame rflags kvm %#" PRIx64 " dbt %#" PRIx64
		    "\n", fa, fb);
	if ((fa ^ fb) & mask)
		*udiff = true;
	diff_mem(d, "system", G_PML4, G_KSTACK, 0, 0, 0, k, b);
	/* The frame's saved RSP: its upper half too is undefined after
	 * compatibility-mode code.  Where either CMPS operand's fault is
	 * right, the error code is left out. */
	if (either) {
		diff_mem(d, "kstack", G_KSTACK, G_KSTACK_TOP - 48, 0, 0, 0, k,
		    b);
		diff_mem(d, "frame", G_KSTACK_TOP - 40, G_KSTACK_TOP,
		    FRAME_RFLAGS, 8, s->mode == M32 ? G_KSTACK_TOP - 12 : 0, k,
		    b);
	} else {
		diff_mem(d, "kstack", G_KSTACK, G_KSTACK_TOP, FRAME_RFLAGS, 8,
		    s->mode == M32 ? G_KSTACK_TOP - 12 : 0, k, b);
	}
	diff_mem(d, "code", G_CODE, G_CODE + G_CODE_SIZE, 0, 0, 0, k, b);
	diff_mem(d, "ro", G_RO, G_RO + 4096, 0, 0, 0, k, b);
	diff_mem(d, "data", G_DATA, G_DATA + 4096, 0, 0, 0, k, b);
	diff_mem(d, "stack", G_STACK, G_STACK + 4096, 0, 0, 0, k, b);
	diff_mem(d, "super", G_SUPER, G_SUPER + 4096, 0, 0, 0, k, b);
}

static void
print_flags(FILE *f, uint32_t m)
{
	static const struct {
		uint32_t bit;
		const char *n;
	} t[] = { { X86_CF, "CF" }, { X86_PF, "PF" }, { X86_AF, "AF" },
		{ X86_ZF, "ZF" }, { X86_SF, "SF" }, { X86_OF, "OF" } };
	size_t k;

	for (k = 0; k < ARRAY_LEN(t); k++)
		if (m & t[k].bit)
			fprintf(f, " %s", t[k].n);
}

static void
print_seq(FILE *f, const struct seq *s)
{
	int k, j;

	fprintf(f, "  sequence (%s, %d instructions at %#" PRIx64 "):\n",
	    mode_name[s->mode], s->n, (uint64_t)G_CODE);
	for (k = 0; k < s->n; k++) {
		const struct ginsn *in = &s->in[k];
		ZydisDisassembledInstruction zi;
		char hex[48] = "";

		for (j = 0; j < in->len; j++)
			snprintf(hex + 3 * j, 4, "%02x ", in->b[j]);
		if (!ZYAN_SUCCESS(ZydisDisassembleIntel(s->mode == M64 ?
		    ZYDIS_MACHINE_MODE_LONG_64 :
		    ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
		    G_CODE + in->off, in->b, in->len, &zi)))
			snprintf(zi.text, sizeof(zi.text), "(invalid)");
		fprintf(f, "    %#7" PRIx64 ": %-45s %-40s %s",
		    (uint64_t)(G_CODE + in->off), hex, zi.text,
		    class_name[in->cls]);
		if (in->undef_in) {
			fprintf(f, " [undefined before:");
			print_flags(f, in->undef_in);
			fprintf(f, "]");
		}
		fputc('\n', f);
	}
}

static void
print_state(FILE *f, const struct seq *s)
{
	const struct x86_state *st = &s->init;
	uint32_t mx;
	int k;

	fprintf(f, "  initial state: base register %s = %#" PRIx64,
	    gpr_name[s->breg], s->bval);
	if (s->xreg >= 0)
		fprintf(f, ", index register %s = %#" PRIx64,
		    gpr_name[s->xreg], s->xval);
	fprintf(f, "; data and stack pages random (seed)\n");
	for (k = 0; k < 16; k++)
		fprintf(f, "%s%-3s %016" PRIx64 "%s", k % 4 ? "  " : "    ",
		    gpr_name[k], st->gpr[k], k % 4 == 3 ? "\n" : "");
	memcpy(&mx, st->fxsave + 24, 4);
	fprintf(f, "    rflags %#" PRIx64 "  mxcsr %#x\n", st->rflags, mx);
	{
		uint16_t w[3];

		memcpy(w, st->fxsave, 6);
		fprintf(f, "    x87 fcw %#06x fsw %#06x ftw %#04x (TOP %d):",
		    w[0], w[1], w[2] & 0xff, (w[1] >> 11) & 7);
		for (k = 0; k < 8; k++) {
			uint64_t mm;
			uint16_t se;

			memcpy(&mm, st->fxsave + 32 + 16 * k, 8);
			memcpy(&se, st->fxsave + 40 + 16 * k, 2);
			fprintf(f, "%sst%d %04x_%016" PRIx64, k % 3 ? "  " :
			    "\n     ", k, se, mm);
		}
		fputc('\n', f);
	}
	for (k = 0; k < 16; k++) {
		uint64_t x[2];

		memcpy(x, st->fxsave + 160 + 16 * k, 16);
		fprintf(f, "%sxmm%-2d %016" PRIx64 "_%016" PRIx64 "%s",
		    k % 2 ? "  " : "    ", k, x[1], x[0], k % 2 ? "\n" : "");
	}
}

/* ---- the start-up probe -------------------------------------------------- */

struct mode_info {
	bool usable;
	int end_kind;
	unsigned opts;
	uint64_t nogp;          /* classes whose #GP KVM gets wrong */
	bool ac_cleared;        /* KVM's delivery clears RFLAGS.AC */
	char why[4096];         /* why not usable, or notes */
};

static void
note(struct mode_info *mi, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append a note to mi->why. */
static void
note(struct mode_info *mi, const char *fmt, ...)
{
	size_t n = strlen(mi->why);
	va_list ap;

	if (n + 4 >= sizeof(mi->why))
		return;
	if (n)
		n += (size_t)snprintf(mi->why + n, sizeof(mi->why) - n, "; ");
	va_start(ap, fmt);
	vsnprintf(mi->why + n, sizeof(mi->why) - n, fmt, ap);
	va_end(ap);
}

/* A hand-made sequence for the probe: code at G_CODE, flat state. */
static void
probe_seq(struct seq *s, int mode, const uint8_t *code, size_t len, int iopl)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->breg = X86_RBX;
	s->xreg = -1;
	base_state(&s->init, mode);
	s->init.rflags |= (uint64_t)iopl << 12;
	s->init.gpr[X86_RBX] = G_DATA;
	/* Non-canonical pointers for the #GP probes. */
	s->init.gpr[X86_RAX] = 0x8000000000000000ULL;
	s->init.gpr[X86_RSI] = 0x8000000000000000ULL;
	s->init.gpr[X86_RDI] = 0x8000000000000000ULL;
	memset(s->code, 0xf4, sizeof(s->code));
	memcpy(s->code, code, len);
}

static int
probe_run(struct side *kvm, const struct seq *s, struct result *r)
{
	int ret = side_run(kvm, s->code, s->data, s->stack, &s->init, r);

	side_clean(kvm);
	return ret;
}

/*
 * #GP(0) from a memory operand, for a representative of each class: a
 * non-canonical address through RAX, RSI or RDI (or, for SSE, a
 * misaligned one through RBX).  KVM-PVM sends a user-mode #GP through the
 * host kernel's instruction emulator, and what that emulator does not
 * know comes back as #UD; for such classes the generator keeps memory
 * operands canonical and aligned (their #PF and every other outcome are
 * still compared).
 */
static void
probe_gp(struct side *kvm, int m, struct mode_info *mi)
{
	static const struct {
		uint8_t cls, len, b[6];
	} t[] = {
		{ C_ALU, 2, { 0x01, 0x00 } },                   /* add [rax] */
		{ C_ALU, 2, { 0x85, 0x00 } },                   /* test */
		{ C_INCDEC, 2, { 0xff, 0x00 } },
		{ C_NEGNOT, 2, { 0xf7, 0x18 } },
		{ C_SHIFT, 2, { 0xd1, 0x20 } },
		{ C_ROT, 2, { 0xd1, 0x00 } },
		{ C_RCX, 2, { 0xd1, 0x10 } },
		{ C_SHXD, 4, { 0x0f, 0xa4, 0x00, 0x01 } },
		{ C_MUL, 2, { 0xf7, 0x20 } },
		{ C_MUL, 3, { 0x0f, 0xaf, 0x00 } },
		{ C_DIV, 2, { 0xf7, 0x30 } },
		{ C_BT, 3, { 0x0f, 0xa3, 0x00 } },
		{ C_BT, 4, { 0x0f, 0xba, 0x28, 0x01 } },
		{ C_BSX, 3, { 0x0f, 0xbc, 0x00 } },
		{ C_POPCNT, 4, { 0xf3, 0x0f, 0xb8, 0x00 } },
		{ C_MOVX, 3, { 0x0f, 0xb6, 0x00 } },
		{ C_MOVX, 3, { 0x48, 0x63, 0x00 } },
		{ C_MOV, 2, { 0x8b, 0x00 } },
		{ C_MOV, 2, { 0x89, 0x00 } },
		{ C_XCHG, 2, { 0x87, 0x00 } },
		{ C_XCHG, 3, { 0x0f, 0xc1, 0x00 } },
		{ C_CMPXCHG, 3, { 0x0f, 0xb1, 0x00 } },
		{ C_CMPXCHG, 3, { 0x0f, 0xc7, 0x08 } },
		{ C_CMPXCHG, 5, { 0x48, 0x0f, 0xc7, 0x4b, 0x01 } }, /* 16b */
		{ C_CMOV, 3, { 0x0f, 0x44, 0x00 } },
		{ C_SETCC, 3, { 0x0f, 0x94, 0x00 } },
		{ C_STACK, 2, { 0xff, 0x30 } },
		{ C_STACK, 2, { 0x8f, 0x00 } },
		{ C_STRING, 1, { 0xa4 } },
		{ C_STRING, 1, { 0xaa } },
		{ C_STRING, 1, { 0xa6 } },
		{ C_SSEMOV, 4, { 0x0f, 0x28, 0x43, 0x01 } },    /* movaps */
		{ C_SSEMOV, 3, { 0x0f, 0x10, 0x00 } },          /* movups */
		{ C_SSEMOV, 4, { 0xf3, 0x0f, 0x12, 0x00 } },    /* movsldup */
		{ C_SSEMOV, 4, { 0xf2, 0x0f, 0x10, 0x00 } },    /* movsd */
		{ C_SSEFP, 4, { 0x0f, 0x58, 0x43, 0x01 } },     /* addps */
		{ C_SSEINT, 5, { 0x66, 0x0f, 0x74, 0x43, 0x01 } },
		{ C_SSECVT, 4, { 0x0f, 0x5b, 0x43, 0x01 } },
		{ C_MXCSR, 3, { 0x0f, 0xae, 0x10 } },
		{ C_X87, 2, { 0xd9, 0x00 } },                   /* fld m32 */
		{ C_BMI1, 4, { 0xf3, 0x0f, 0xbc, 0x00 } },      /* tzcnt */
		{ C_BMI1, 5, { 0xc4, 0xe2, 0x78, 0xf2, 0x00 } }, /* andn */
		{ C_BMI1, 5, { 0xc4, 0xe2, 0x78, 0xf3, 0x18 } }, /* blsi */
		{ C_BMI2, 5, { 0xc4, 0xe2, 0x78, 0xf5, 0x00 } }, /* bzhi */
		{ C_BMI2, 5, { 0xc4, 0xe2, 0x7b, 0xf6, 0x00 } }, /* mulx */
		{ C_BMI2, 5, { 0xc4, 0xe2, 0x79, 0xf7, 0x00 } }, /* shlx */
		{ C_BMI2, 6, { 0xc4, 0xe3, 0x7b, 0xf0, 0x00, 0x01 } },
		{ C_ADX, 5, { 0x66, 0x0f, 0x38, 0xf6, 0x00 } },
		{ C_MOVBE, 4, { 0x0f, 0x38, 0xf0, 0x00 } },
		{ C_MOVBE, 4, { 0x0f, 0x38, 0xf1, 0x00 } },
		{ C_CRC32, 5, { 0xf2, 0x0f, 0x38, 0xf1, 0x00 } },
		{ C_MMX, 3, { 0x0f, 0x6f, 0x00 } },             /* movq mm0 */
		{ C_MMX, 3, { 0x0f, 0xfc, 0x00 } },             /* paddb */
		{ C_FXSR, 3, { 0x0f, 0xae, 0x06 } },            /* fxsave */
	};
	static struct seq s;
	static struct result r;
	char list[512] = "";
	size_t k, n = 0;

	/* Outside 64-bit mode addresses wrap at 4 GiB: no canonical #GP. */
	if (m != M64)
		return;
	for (k = 0; k < ARRAY_LEN(t); k++) {
		uint8_t code[16];

		if (mi->nogp & CLS(t[k].cls))
			continue;
		memcpy(code, t[k].b, t[k].len);
		if (mi->end_kind == END_OUT)
			memcpy(code + t[k].len, "\xe6\xe0\xeb\xfe", 4);
		else
			code[t[k].len] = 0xcc;
		probe_seq(&s, m, code, t[k].len + 4, mi->end_kind == END_OUT ?
		    3 : 0);
		if (probe_run(kvm, &s, &r) == 0 && r.port == X86_EXC_GP)
			continue;
		mi->nogp |= CLS(t[k].cls);
	}
	/* What the emulator knows is per instruction, not per class: the
	 * SSE classes count as one. */
	if (mi->nogp & SSE_CLASSES)
		mi->nogp |= SSE_CLASSES;
	for (k = 0; k < NCLASS; k++)
		if (mi->nogp & CLS(k))
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    "%s%s", n ? ", " : "", class_name[k]);
	if (mi->nogp)
		note(mi, "#GP(0) from a memory operand comes back as #UD for "
		    "%s (a user-mode #GP goes through the host kernel's "
		    "instruction emulator): their memory operands are kept "
		    "canonical and aligned", list);
}

/* Run code (len bytes) then the mode's end marker on KVM, with rflags_or
 * added to the probe's RFLAGS. */
static int
probe_code(struct side *kvm, int m, const struct mode_info *mi,
    const uint8_t *code, size_t len, uint64_t rflags_or, struct seq *s,
    struct result *r)
{
	probe_seq(s, m, code, len, mi->end_kind == END_OUT ? 3 : 0);
	s->init.rflags |= rflags_or;
	if (mi->end_kind == END_OUT) {
		s->code[len] = 0xe6;
		s->code[len + 1] = PORT_BASE + PORT_END;
		s->code[len + 2] = 0xeb;
		s->code[len + 3] = 0xfe;
	} else {
		s->code[len] = 0xcc;
	}
	return probe_run(kvm, s, r);
}

/*
 * What this KVM can judge in mode m: how a sequence can end (OUT at CPL3
 * or INT3), whether the code runs on the CPU at all (a tight loop must
 * not take emulation time), and whether INT3 and INT n are delivered as
 * the SDM says.
 */
static void
probe_mode(struct side *kvm, int m, struct mode_info *mi, bool emulated_ok)
{
	static const uint8_t out_end[] = { 0x90, 0xe6, PORT_BASE + PORT_END,
		0xeb, 0xfe };
	static const uint8_t int3_end[] = { 0x90, 0xcc };
	/* mov ecx, 200000; 1: dec ecx; jnz 1b; then the end marker */
	uint8_t loop[16] = { 0xb9, 0x40, 0x0d, 0x03, 0x00, 0xff, 0xc9, 0x75,
		0xfc };
	static const uint8_t intn[] = { 0xcd, 0x21 };
	static const uint8_t ac_load[] = { 0x8b, 0x43, 0x01 };
	static const uint8_t ac_sse[] = { 0x0f, 0x10, 0x43, 0x01 };
	/* lea edi, [ebx + 0xff8]; mov ecx, 4; mov eax, 0; repe scasd: two
	 * iterations match (ZF=1), the third faults on G_HOLE. */
	static const uint8_t rep_fault[] = { 0x8d, 0xbb, 0xf8, 0x0f, 0x00,
		0x00, 0xb9, 0x04, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x00,
		0x00, 0xf3, 0xaf };
	/* mov ecx, 1; mov rdi, 0x100000000 + G_HOLE; rep stosb (67): a
	 * fault at G_HOLE */
	static const uint8_t rep32[] = { 0xb9, 0x01, 0x00, 0x00, 0x00, 0x48,
		0xbf, 0x00, 0x10, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x67,
		0xf3, 0xaa };
	/* mov ecx, 1; mov esi, 0x70000000 (not mapped); mov edi, G_HOLE;
	 * repe cmpsb */
	static const uint8_t cmps2[] = { 0xb9, 0x01, 0x00, 0x00, 0x00, 0xbe,
		0x00, 0x00, 0x00, 0x70, 0xbf, 0x00, 0x10, 0x02, 0x00, 0xf3,
		0xa6 };
	/* movsxd ax, [rbx + 0xffe]: the word before G_HOLE */
	static const uint8_t fld1[] = { 0xd9, 0xe8 };
	/* fld dword [rbx + 0x40]; fnstenv [rbx] */
	static const uint8_t fnstenv[] = { 0xd9, 0x43, 0x40, 0xd9, 0x33 };
	/* mov edi, 0x5a5a5a5a; mov esp, G_STACK + 0xff4; popad: EBX's slot
	 * is past the stack page */
	static const uint8_t popa_top[] = { 0xbf, 0x5a, 0x5a, 0x5a, 0x5a,
		0xbc, 0xf4, 0x0f, 0x03, 0x00, 0x61 };
	static const uint8_t movsxd16[] = { 0x66, 0x63, 0x83, 0xfe, 0x0f, 0x00,
		0x00 };
	static struct seq s;
	static struct result r;
	uint64_t f[6];
	double best = 1e30;
	int k;

	memset(mi, 0, sizeof(*mi));
	probe_seq(&s, m, out_end, sizeof(out_end), 3);
	if (probe_run(kvm, &s, &r) == 0 && r.port == PORT_END &&
	    r.st.rip == G_CODE + 3 && (r.st.rflags & X86_IOPL) == X86_IOPL) {
		mi->end_kind = END_OUT;
	} else {
		probe_seq(&s, m, int3_end, sizeof(int3_end), 0);
		if (probe_run(kvm, &s, &r) < 0 || r.port != X86_EXC_BP ||
		    (frame_of(&r, X86_EXC_BP, f), f[1] != G_CODE + 2)) {
			snprintf(mi->why, sizeof(mi->why), "KVM cannot end a "
			    "CPL3 sequence (neither OUT nor INT3 reaches the "
			    "harness: port %d, %.150s)", r.port, r.diag);
			return;
		}
		mi->end_kind = END_INT3;
		snprintf(mi->why, sizeof(mi->why), "CPL3 port I/O does not "
		    "reach the VMM (IOPL reads back 0): sequences end with "
		    "INT3");
	}
	/* Native or emulated?  200000 iterations of dec/jnz take well
	 * under a millisecond on the CPU, about 200 ms in an emulator. */
	for (k = 0; k < 3; k++) {
		struct timespec a, b;
		double ms;

		if (mi->end_kind == END_OUT)
			memcpy(loop + 9, out_end + 1, 4);
		else
			loop[9] = 0xcc;
		probe_seq(&s, m, loop, sizeof(loop), mi->end_kind == END_OUT ?
		    3 : 0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (probe_run(kvm, &s, &r) < 0 || (r.port != X86_EXC_BP &&
		    r.port != PORT_END)) {
			snprintf(mi->why, sizeof(mi->why), "KVM did not run a "
			    "simple loop (port %d, %s)", r.port, r.diag);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (double)(ts_ns(&b) - ts_ns(&a)) / 1e6;
		if (ms < best)
			best = ms;
		if (best < 20)
			break;
	}
	if (best >= 20 && !emulated_ok) {
		snprintf(mi->why, sizeof(mi->why), "KVM does not run %s CPL3 "
		    "code on the CPU here: a 400000-instruction loop took "
		    "%.0f ms (the host kernel emulates it%s), so it is no "
		    "oracle", mode_name[m], best, access("/sys/module/kvm_pvm",
		    F_OK) == 0 ? ": KVM-PVM" : "");
		return;
	}
	if (best >= 20)
		note(mi, "JUDGED BY THE HOST KERNEL'S EMULATOR, NOT THE CPU "
		    "(--accept-emulated: a 400000-instruction loop took %.0f "
		    "ms): a difference may be the emulator's", best);
	mi->usable = true;
	if (mi->end_kind == END_INT3) {
		mi->opts |= GEN_INT3;
	} else {
		probe_seq(&s, m, int3_end, sizeof(int3_end), 3);
		if (probe_run(kvm, &s, &r) == 0 && r.port == X86_EXC_BP &&
		    (frame_of(&r, X86_EXC_BP, f), f[1] == G_CODE + 2))
			mi->opts |= GEN_INT3;
	}
	probe_seq(&s, m, intn, sizeof(intn), mi->end_kind == END_OUT ? 3 : 0);
	if (probe_run(kvm, &s, &r) == 0 && r.port == X86_EXC_GP &&
	    (frame_of(&r, X86_EXC_GP, f), f[0] == 0x21 * 8 + 2))
		mi->opts |= GEN_INTN;
	else
		note(mi, "INT n is not delivered as the SDM says (gave %s): "
		    "not generated", r.port >= 0 && r.port < 32 ?
		    vec_name(r.port) : "no exception");
	probe_gp(kvm, m, mi);
	/* #AC: a misaligned load at CPL3 with AC set. */
	probe_seq(&s, m, ac_load, sizeof(ac_load), mi->end_kind == END_OUT ?
	    3 : 0);
	s.init.rflags |= X86_AC;
	if (mi->end_kind == END_OUT)
		memcpy(s.code + 3, out_end + 1, 4);
	else
		s.code[3] = 0xcc;
	if (probe_run(kvm, &s, &r) == 0 && r.port == X86_EXC_AC)
		mi->opts |= GEN_AC;
	else
		note(mi, "no #AC for a misaligned load with RFLAGS.AC set "
		    "(got %s): alignment checking is not generated",
		    r.port >= 0 && r.port < 32 ? vec_name(r.port) :
		    "no exception");
	/* A misaligned MOVUPS with AC set: no #AC on Intel CPUs, which the
	 * DBT's model follows; AMD's check it. */
	if (mi->opts & GEN_AC) {
		if (probe_code(kvm, m, mi, ac_sse, sizeof(ac_sse), X86_AC, &s,
		    &r) == 0 && r.port == X86_EXC_AC) {
			mi->opts |= GEN_SSE_AC;
			note(mi, "a misaligned MOVUPS with RFLAGS.AC set takes "
			    "#AC (AMD; the model's Intel CPU does not): SSE "
			    "memory operands are aligned when AC is set");
		}
	}
	/* A REP SCAS faulting in its third iteration: Intel leaves the
	 * flags as they were before it, AMD shows the second's. */
	if (probe_code(kvm, m, mi, rep_fault, sizeof(rep_fault), 0, &s,
	    &r) == 0 && r.port == X86_EXC_PF &&
	    (frame_of(&r, X86_EXC_PF, f), f[1] == G_CODE + 16) &&
	    (f[3] & X86_ZF)) {
		mi->opts |= GEN_REP_PARTIAL;
		note(mi, "a REP CMPS/SCAS that faults shows the flags of its "
		    "completed iterations (AMD; the model's Intel CPU keeps "
		    "them as before it): its flags are not compared");
	}
	/* A REP STOS with a 32-bit address size that faults in its first
	 * iteration: Intel has cleared RDI's upper half, AMD has not. */
	if (m == M64) {
		if (probe_code(kvm, m, mi, rep32, sizeof(rep32), 0, &s,
		    &r) == 0 && r.port == X86_EXC_PF &&
		    (r.st.gpr[X86_RDI] >> 32) != 0) {
			mi->opts |= GEN_REP32_UPPER;
			note(mi, "a REP MOVS/STOS with a 32-bit address size "
			    "that faults at once keeps RSI/RDI's upper halves "
			    "(AMD; the model's Intel CPU clears them): only "
			    "their low halves are compared there");
		}
	}
	/* REP CMPS with both operands on pages not present: Intel faults on
	 * ES:rDI's first, AMD on DS:rSI's. */
	if (probe_code(kvm, m, mi, cmps2, sizeof(cmps2), 0, &s, &r) == 0 &&
	    r.port == X86_EXC_PF && r.st.cr2 == 0x70000000ULL) {
		mi->opts |= GEN_CMPS_SRC_FIRST;
		note(mi, "CMPS reads DS:rSI before ES:rDI (AMD; the "
		    "model's Intel CPU reads ES:rDI first): where both "
		    "operands fault, the vector, CR2 and the error code are "
		    "not compared");
	}
	/* fld1: Intel's FXSAVE stores its FOP and FIP, AMD's only where
	 * an unmasked exception is pending (FSW.ES). */
	if (probe_code(kvm, m, mi, fld1, sizeof(fld1), 0, &s, &r) == 0 &&
	    (r.port == PORT_END || r.port == X86_EXC_BP) &&
	    !(r.st.fxsave[2] & 0x80) &&
	    !memcmp(r.st.fxsave + 6, "\0\0\0\0\0\0\0\0\0\0", 10)) {
		mi->opts |= GEN_FX_PTR_ES;
		note(mi, "FXSAVE stores the x87 FOP, FIP and FDP only with "
		    "FSW.ES set (AMD; the model's Intel CPU always): they are "
		    "compared only where KVM's FSW.ES is set");
	}
	/* fld dword [rbx + 0x40]; fnstenv [rbx]: FCS is the CS of the FLD
	 * and FDS its operand's DS (the model's CPU, without CPUID.(EAX=7,
	 * ECX=0):EBX[13], stores both in every mode), or 0 where the CPU
	 * deprecates them.  KVM-PVM stores the selectors the hardware holds
	 * while it runs guest user code; the guest's are the host's (0x33,
	 * 0x2b), so they are the guest's too and are compared.  Only where
	 * they are neither (another KVM, another host) does the generator
	 * overwrite those two words right after each FNSTENV and FNSAVE. */
	if (probe_code(kvm, m, mi, fnstenv, sizeof(fnstenv), 0, &s, &r) == 0 &&
	    (r.port == PORT_END || r.port == X86_EXC_BP)) {
		uint16_t fcs, fds;

		memcpy(&fcs, r.mem + G_DATA + 16, 2);
		memcpy(&fds, r.mem + G_DATA + 24, 2);
		if (fcs != s.init.seg[X86_CS].sel) {
			mi->opts |= GEN_FCS_HOST;
			note(mi, "FNSTENV and FNSAVE store FCS %#x, not the "
			    "guest's CS %#x: a stored environment's FCS and "
			    "FDS are overwritten right after, not compared",
			    fcs, s.init.seg[X86_CS].sel);
		} else if (fds != s.init.seg[X86_DS].sel) {
			mi->opts |= GEN_FDS_HOST;
			note(mi, "FNSTENV and FNSAVE store FDS %#x, not the "
			    "guest's DS %#x (KVM-PVM: the host's user DS; FCS "
			    "is the guest's CS and is compared): a stored "
			    "environment's FDS is overwritten right after, not "
			    "compared", fds, s.init.seg[X86_DS].sel);
		}
	}
	/* fldenv [0xfffffff6]: its last bytes are above a flat 32-bit
	 * segment's limit (SDM vol. 3, 5.3), but its first are on the
	 * unmapped last page: AMD reads the environment piece by piece and
	 * takes that #PF first (a plain MOV there is #GP(0)); the DBT checks
	 * the whole operand's limit first. */
	if (m == M32) {
		static const uint8_t wrap[] = { 0xd9, 0x25, 0xf6, 0xff, 0xff,
			0xff };

		if (probe_code(kvm, m, mi, wrap, sizeof(wrap), 0, &s, &r) ==
		    0 && r.port == X86_EXC_PF) {
			mi->opts |= GEN_WRAP4G;
			note(mi, "FLDENV/FRSTOR/FNSTENV/FNSAVE across 4 GiB "
			    "take the #PF of their first bytes before the limit "
			    "fault (AMD; the DBT checks the limit first): where "
			    "the CPU's #PF in the last page meets the DBT's "
			    "#GP(0)/#SS(0) there, the vector, CR2 and error code "
			    "are not compared");
		}
	}
	/* MOVSXD with a 16-bit operand size reads a word on Intel, a dword
	 * on AMD (which then faults on G_HOLE here). */
	if (m == M64) {
		if (probe_code(kvm, m, mi, movsxd16, sizeof(movsxd16), 0, &s,
		    &r) == 0 && r.port == X86_EXC_PF)
			note(mi, "MOVSXD r16, m reads a dword (AMD; the "
			    "model's Intel CPU reads a word): its 16-bit form "
			    "is not generated");
		else
			mi->opts |= GEN_MOVSXD16;
	}
	/* POPA faulting on EBX's slot: the model (the SDM's fault rule,
	 * vol. 3A 6.5) leaves EDI as it was; this AMD has loaded it. */
	if (m == M32 && probe_code(kvm, m, mi, popa_top, sizeof(popa_top), 0,
	    &s, &r) == 0 && r.port == X86_EXC_PF &&
	    (uint32_t)r.st.gpr[X86_RDI] != 0x5a5a5a5a) {
		mi->opts |= GEN_POPA_PARTIAL;
		note(mi, "a POPA that faults part-way has loaded the registers "
		    "before the faulting slot (AMD; the model's CPU leaves "
		    "them as before it, as the SDM's rule for faults has it): "
		    "there, only ESP of the general registers is compared");
	}
	/* RFLAGS.AC survives delivery (SDM vol. 2, INT n; it is why Linux
	 * does CLAC at every entry). */
	if (mi->opts & GEN_INT3) {
		probe_seq(&s, m, int3_end, sizeof(int3_end),
		    mi->end_kind == END_OUT ? 3 : 0);
		s.init.rflags |= X86_AC;
		if (probe_run(kvm, &s, &r) == 0 && r.port == X86_EXC_BP &&
		    (frame_of(&r, X86_EXC_BP, f), (f[3] & X86_AC)) &&
		    !(r.st.rflags & X86_AC)) {
			mi->ac_cleared = true;
			note(mi, "its exception delivery clears RFLAGS.AC "
			    "(the CPU does not): AC is left out of the "
			    "handler's RFLAGS (the frame's is compared)");
		}
	}
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: difftest [options]\n"
"Run random CPL3 instruction sequences on the real CPU (KVM, or for 32-bit\n"
"mode the host CPU itself) and on the DBT from the same state and compare\n"
"registers, flags, XMM, MXCSR, memory and exceptions (vector and frame).\n"
"  --iterations N     sequences to run (default 1000)\n"
"  --seed N           random seed (default 1)\n"
"  --start N          number of the first sequence (default 0); with\n"
"                     --iterations 1, reruns one reported sequence\n"
"  --max-insns K      1..K instruction units per sequence (default 10)\n"
"  --mode M           64, 32 (compatibility mode) or both (default)\n"
"  --tier T           the DBT tier, interp or jit: sets VMKIT_DBT_TIER\n"
"                     before the DBT VM is made (default: the DBT's own)\n"
"  --only C,...       generate only these instruction classes\n"
"  --list-classes     list the instruction classes\n"
"  --stop-on-first    stop at the first mismatch\n"
"  --oracle O         what judges 32-bit mode: kvm; native (the host CPU\n"
"                     runs the sequence in difftest's own 32-bit code\n"
"                     segment, no KVM needed); auto (default: KVM where it\n"
"                     runs 32-bit code on the CPU, else native)\n"
"  --accept-emulated  compare a mode even where KVM emulates it in the host\n"
"                     kernel instead of running it (then the emulator, not\n"
"                     the CPU, is the judge; KVM-PVM's 32-bit mode; with\n"
"                     --oracle auto it keeps KVM for 32-bit mode)\n"
"  --max-reports N    report at most N mismatches in full (default 20)\n"
"  -v, --verbose      print every sequence and how it ended\n"
"  -q, --quiet        print only mismatches and the summary\n"
"  -h, --help         this text\n"
"Exit status: 0 no mismatch, 1 mismatches (or a harness failure), 2 usage,\n"
"77 no requested mode comparable here: KVM not usable for 64-bit mode, no\n"
"oracle for 32-bit mode (why on stderr).\n");
}

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && *s && *end == '\0';
}

static bool
parse_classes(const char *arg, uint64_t *only)
{
	char buf[512], *tok, *save = NULL;
	int k;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < C_SETUP; k++)
			if (strcmp(tok, class_name[k]) == 0)
				break;
		if (k == C_SETUP) {
			fprintf(stderr, "difftest: --only: no class '%s' (see "
			    "--list-classes)\n", tok);
			return false;
		}
		*only |= CLS(k);
	}
	return true;
}

/* The options that shape a sequence, for the command that reruns one. */
static char repro_opts[600];

static void
report(struct stats *st, const struct seq *s, const struct result *k,
    const struct result *b, struct diffs *d, uint64_t seed)
{
	char da[256], db[256];

	st->reported++;
	if (st->reported > st->max_reports) {
		if (st->reported == st->max_reports + 1)
			printf("(more mismatches: not printed in full)\n");
		printf("MISMATCH seed %" PRIu64 " iteration %" PRIu64 " (%s)\n",
		    seed, s->iter, mode_name[s->mode]);
		return;
	}
	describe(s, k, da, sizeof(da));
	describe(s, b, db, sizeof(db));
	printf("MISMATCH seed %" PRIu64 " iteration %" PRIu64 " (%s): "
	    "difftest --seed %" PRIu64 " --start %" PRIu64 " --iterations 1 "
	    "--mode %s%s\n", seed, s->iter, mode_name[s->mode], seed, s->iter,
	    s->mode == M64 ? "64" : "32", repro_opts);
	print_seq(stdout, s);
	print_state(stdout, s);
	if (s->mode == M32 && native_m32) {
		char *p;

		/* The differences name the oracle "kvm": "nat" here. */
		for (p = strstr(d->buf, "kvm "); p; p = strstr(p + 4, "kvm "))
			memcpy(p, "nat", 3);
		printf("  nat (the native oracle): %s\n", da);
	} else {
		printf("  kvm: %s\n", da);
	}
	printf("  dbt: %s\n  differences (%d):\n%s", db, d->n, d->buf);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "start", required_argument, NULL, 'S' },
		{ "max-insns", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		{ "tier", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "list-classes", no_argument, NULL, 'L' },
		{ "stop-on-first", no_argument, NULL, 'x' },
		{ "max-reports", required_argument, NULL, 'R' },
		{ "self-test", no_argument, NULL, 'T' },
		{ "accept-emulated", no_argument, NULL, 'E' },
		{ "oracle", required_argument, NULL, 'O' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct side kvm, dbt, native;
	struct side *orc[NMODES] = { &kvm, &kvm };
	bool kvm_ok = false;
	int oracle = 0;         /* 0 auto, 1 kvm, 2 native */
	static struct seq s;
	static struct result rk, rb;
	static struct stats st;
	struct mode_info mi[NMODES];
	uint64_t iterations = 1000, seed = 1, start = 0, maxu = 10, i, v;
	bool want[NMODES] = { true, true }, stop_first = false;
	bool self_test = false, self_done = false, emulated_ok = false;
	uint64_t only = 0;
	const char *tier = NULL, *only_arg = NULL;
	char why[320];
	pthread_t wd;
	int c, m, nmodes = 0, usable[NMODES];
	struct timespec t0, t1;
	double secs;

	st.max_reports = 20;
	while ((c = getopt_long(argc, argv, "vqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, &iterations))
				goto bad;
			break;
		case 's':
			if (!parse_u64(optarg, &seed))
				goto bad;
			break;
		case 'S':
			if (!parse_u64(optarg, &start))
				goto bad;
			break;
		case 'k':
			if (!parse_u64(optarg, &maxu) || maxu < 1 || maxu > 40)
				goto bad;
			break;
		case 'm':
			if (strcmp(optarg, "64") == 0) {
				want[M32] = false;
			} else if (strcmp(optarg, "32") == 0) {
				want[M64] = false;
			} else if (strcmp(optarg, "both") != 0) {
				goto bad;
			}
			break;
		case 't':
			if (strcmp(optarg, "interp") && strcmp(optarg, "jit"))
				goto bad;
			tier = optarg;
			break;
		case 'o':
			if (!parse_classes(optarg, &only))
				return 2;
			only_arg = optarg;
			break;
		case 'L':
			for (c = 0; c < C_SETUP; c++)
				printf("%s\n", class_name[c]);
			return 0;
		case 'x':
			stop_first = true;
			break;
		case 'R':
			if (!parse_u64(optarg, &v))
				goto bad;
			st.max_reports = (unsigned)v;
			break;
		case 'T':
			self_test = true;
			break;
		case 'E':
			emulated_ok = true;
			break;
		case 'O':
			if (strcmp(optarg, "kvm") == 0)
				oracle = 1;
			else if (strcmp(optarg, "native") == 0)
				oracle = 2;
			else if (strcmp(optarg, "auto") == 0)
				oracle = 0;
			else
				goto bad;
			break;
		case 'v':
			st.verbose = true;
			break;
		case 'q':
			st.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
bad:
		fprintf(stderr, "difftest: bad arguments (see --help)\n");
		return 2;
	}

	if (maxu != 10)
		snprintf(repro_opts, sizeof(repro_opts), " --max-insns %" PRIu64,
		    maxu);
	if (only_arg != NULL)
		snprintf(repro_opts + strlen(repro_opts), sizeof(repro_opts) -
		    strlen(repro_opts), " --only %.400s", only_arg);
	if (tier != NULL)
		snprintf(repro_opts + strlen(repro_opts), sizeof(repro_opts) -
		    strlen(repro_opts), " --tier %s", tier);
	build_image();
	ZydisDecoderInit(&zdec[M64], ZYDIS_MACHINE_MODE_LONG_64,
	    ZYDIS_STACK_WIDTH_64);
	ZydisDecoderInit(&zdec[M32], ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
	    ZYDIS_STACK_WIDTH_32);
	pthread_create(&wd, NULL, watchdog_main, NULL);
	pthread_detach(wd);
	if (oracle == 2 && !want[M32]) {
		fprintf(stderr, "difftest: --oracle native judges 32-bit mode "
		    "only (--mode 32 or both)\n");
		return 2;
	}
#ifdef HAVE_KVM
	kvm_ok = side_init(&kvm, "kvm", &kvm_backend, why, sizeof(why)) == 0;
#else
	snprintf(why, sizeof(why), "built without KVM");
#endif
	/* Without KVM only the native oracle's 32-bit mode is left. */
	if (!kvm_ok && (oracle == 1 || !want[M32])) {
		fprintf(stderr, "difftest: KVM not usable: %s\n", why);
		return 77;
	}
	if (tier != NULL)
		setenv("VMKIT_DBT_TIER", tier, 1);
	if (side_init(&dbt, "dbt", &dbt_backend, why, sizeof(why)) < 0) {
		fprintf(stderr, "difftest: the DBT cannot run: %s\n", why);
		return 1;
	}
	for (m = 0; m < NMODES; m++) {
		if (!want[m]) {
			mi[m].usable = false;
			continue;
		}
		if (m == M64 && !kvm_ok) {
			mi[m].usable = false;
			snprintf(mi[m].why, sizeof(mi[m].why), "KVM not usable: "
			    "%.200s", why);
		} else if (m == M32 && oracle != 1) {
			bool use = oracle == 2 || !kvm_ok;

			if (!use) {
				/* auto: KVM where it runs 32-bit code on the
				 * CPU (or --accept-emulated), else native. */
				probe_mode(&kvm, m, &mi[m], emulated_ok);
				use = !mi[m].usable;
			}
			if (use && nat_init(&native, why, sizeof(why)) < 0) {
				mi[m].usable = false;
				snprintf(mi[m].why, sizeof(mi[m].why), "the "
				    "native oracle cannot run: %.200s", why);
			} else if (use) {
				orc[m] = &native;
				native_m32 = true;
				probe_mode(&native, m, &mi[m], false);
				note(&mi[m], "JUDGED BY THIS HOST'S CPU RUNNING "
				    "THE SEQUENCE IN THIS PROCESS (the native "
				    "oracle; the delivery of an exception is "
				    "the SDM's, computed)");
			}
		} else {
			probe_mode(&kvm, m, &mi[m], emulated_ok);
		}
		if (!mi[m].usable)
			fprintf(stderr, "difftest: %s: NOT COMPARED: %s\n",
			    mode_name[m], mi[m].why);
		else if (!st.quiet)
			printf("difftest: %s: compared%s%s\n", mode_name[m],
			    mi[m].why[0] ? "; " : "", mi[m].why);
		if (mi[m].usable)
			usable[nmodes++] = m;
	}
	fflush(stdout);
	if (nmodes == 0) {
		fprintf(stderr, "difftest: no requested mode can be compared "
		    "on this KVM\n");
		return 77;
	}
	if (!st.quiet)
		printf("difftest: seed %" PRIu64 ", %" PRIu64 " sequences of "
		    "1..%" PRIu64 " units, DBT tier %s\n", seed, iterations,
		    maxu, getenv("VMKIT_DBT_TIER") ?
		    getenv("VMKIT_DBT_TIER") : "default");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < iterations; i++) {
		uint64_t it = start + i;
		struct diffs d;
		uint32_t mask;
		bool udiff, either, wrap;
		int o, k;

		m = usable[nmodes == 2 ? (int)(it & 1) : 0];
		gen_seq(&s, seed, it, m, (int)maxu, mi[m].end_kind,
		    mi[m].opts, mi[m].nogp, only);
		if (side_run(orc[m], s.code, s.data, s.stack, &s.init, &rk) < 0 ||
		    side_run(&dbt, s.code, s.data, s.stack, &s.init, &rb) < 0) {
			fprintf(stderr, "difftest: cannot set or get a vCPU's "
			    "state\n");
			return 1;
		}
		st.seqs++;
		st.per_mode[m]++;
		for (k = 0; k < s.n; k++)
			st.cls_insns[s.in[k].cls]++;
		o = outcome(&s, &rk);
		if (o == OUT_STOP || o == OUT_TIMEOUT) {
			char da[256];

			describe(&s, &rk, da, sizeof(da));
			if (st.unjudged++ < 5) {
				printf("difftest: iteration %" PRIu64 ": KVM "
				    "%s: not compared\n", it, da);
				if (st.verbose)
					print_seq(stdout, &s);
			}
			side_clean(orc[m]);
			side_clean(&dbt);
			continue;
		}
		if (self_test && !self_done) {
			rb.st.gpr[X86_RBX] ^= 1;        /* must be caught */
			self_done = true;
		}
		if (o == OUT_EXC) {
			uint64_t f[6];

			st.exceptions++;
			st.vec[rk.port & 31]++;
			frame_of(&rk, rk.port, f);
			for (k = 0; k < s.n; k++)
				if (G_CODE + s.in[k].off == f[1])
					st.cls_exc[s.in[k].cls]++;
		}
		mask = undef_mask(&s, &rk, (mi[m].opts & GEN_REP_PARTIAL) != 0);
		either = cmps_either(&s, &rk, &rb,
		    (mi[m].opts & GEN_CMPS_SRC_FIRST) != 0);
		wrap = !either && (mi[m].opts & GEN_WRAP4G) &&
		    wrap4g(&s, &rk, &rb);
		either = either || wrap;
		memset(&d, 0, sizeof(d));
		compare(&s, &rk, &rb, mask, mi[m].ac_cleared && (o == OUT_EXC ||
		    s.end_kind == END_INT3) ? X86_AC : 0, low_half_regs(&s,
		    (mi[m].opts & GEN_REP32_UPPER) != 0), popa_skip_regs(&s,
		    &rk, (mi[m].opts & GEN_POPA_PARTIAL) != 0), either,
		    (mi[m].opts & GEN_FX_PTR_ES) != 0, &d, &udiff);
		if (mask) {
			st.undef_seqs++;
			if (udiff)
				st.undef_differed++;
			else
				st.undef_agreed++;
		}
		if (wrap && !d.n)
			st.wrap4g++;
		else if (either && !d.n && (rk.port != rb.port ||
		    rk.st.cr2 != rb.st.cr2 || memcmp(rk.mem + G_KSTACK_TOP -
		    48, rb.mem + G_KSTACK_TOP - 48, 8)))
			st.cmps_either++;
		if (d.n) {
			st.mismatches++;
			for (k = 0; k < s.n; k++)
				st.cls_bad[s.in[k].cls]++;
			report(&st, &s, &rk, &rb, &d, seed);
		} else if (st.verbose) {
			char da[256];
			uint64_t fa, fb;

			describe(&s, &rk, da, sizeof(da));
			memcpy(&fa, rk.mem + FRAME_RFLAGS, 8);
			memcpy(&fb, rb.mem + FRAME_RFLAGS, 8);
			printf("iteration %" PRIu64 ": agreed: %s", it, da);
			if (udiff)
				printf(" (undefined flags %#x differed: rflags "
				    "kvm %#" PRIx64 " dbt %#" PRIx64 ", frame kvm "
				    "%#" PRIx64 " dbt %#" PRIx64 ")", mask,
				    rk.st.rflags, rb.st.rflags, fa, fb);
			printf("\n");
			print_seq(stdout, &s);
		}
		side_clean(orc[m]);
		side_clean(&dbt);
		if (d.n && stop_first)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(ts_ns(&t1) - ts_ns(&t0)) / 1e9;

	printf("difftest: %" PRIu64 " sequences, %" PRIu64 " mismatches, %"
	    PRIu64 " exceptions compared", st.seqs, st.mismatches,
	    st.exceptions);
	if (st.unjudged)
		printf(", %" PRIu64 " not run by KVM", st.unjudged);
	printf("; undefined flags masked in %" PRIu64 " (%" PRIu64 " agreed, %"
	    PRIu64 " differed)", st.undef_seqs, st.undef_agreed,
	    st.undef_differed);
	if (st.cmps_either)
		printf("; %" PRIu64 " CMPS faults differed by operand order "
		    "(explained)", st.cmps_either);
	if (st.wrap4g)
		printf("; %" PRIu64 " faults differed by the 4 GiB wrap-around "
		    "(explained)", st.wrap4g);
	printf("\n");
	if (!st.quiet) {
		printf("difftest: by mode:");
		for (m = 0; m < NMODES; m++)
			printf(" %s %" PRIu64, mode_name[m], st.per_mode[m]);
		printf("\ndifftest: exceptions:");
		for (c = 0; c < 32; c++)
			if (st.vec[c])
				printf(" %s %" PRIu64, vec_name(c), st.vec[c]);
		printf("\ndifftest: instructions by class (mismatching "
		    "sequences in parentheses):");
		for (c = 0; c < NCLASS; c++) {
			if (!st.cls_insns[c])
				continue;
			printf(" %s %" PRIu64, class_name[c], st.cls_insns[c]);
			if (st.cls_bad[c])
				printf(" (%" PRIu64 ")", st.cls_bad[c]);
		}
		printf("\ndifftest: exceptions by the faulting instruction's "
		    "class:");
		for (c = 0; c < NCLASS; c++)
			if (st.cls_exc[c])
				printf(" %s %" PRIu64, class_name[c],
				    st.cls_exc[c]);
		printf("\ndifftest: %.2f s: oracle %.0f sequences/s, dbt %.0f "
		    "sequences/s\n", secs, kvm.runs + native.runs ? 1e9 *
		    (double)(kvm.runs + native.runs) / (kvm.ns + native.ns) :
		    0.0, dbt.runs ? 1e9 * (double)dbt.runs / dbt.ns :
		    0.0);
	}
	return st.mismatches ? 1 : 0;
}
