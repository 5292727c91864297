/*
 * The CPU model vmkit presents (CPUID, Intel SDM vol. 2, CPUID): a plain
 * x86-64 Intel family-6 CPU with what the DBT implements today and nothing
 * more, so software never picks a code path the DBT cannot run:
 *   leaf 1 EDX: FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA
 *               CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 (+HTT with >1 CPU)
 *   leaf 1 ECX: SSE3 PCLMULQDQ SSSE3 CX16 SSE4.1 SSE4.2 (with CRC32)
 *               MOVBE POPCNT AES RDRAND, hypervisor
 *   leaf 7 EBX: BMI1 BMI2 RDSEED ADX (the VEX-encoded general-purpose
 *               instructions; no AVX, so VEX is #UD for all else), SMEP
 *               SMAP; ECX: UMIP
 *   80000001:   SYSCALL NX LM (EDX), LAHF-SAHF ABM/LZCNT (ECX)
 *   leaf 7 EDX: ARCH_CAPABILITIES, whose MSR says the CPU is not subject
 *               to Meltdown, MDS, TAA, L1TF, MMIO stale data, GDS, RFDS,
 *               BHI or ITS (true of a DBT, which has no such
 *               speculation), so Linux turns off page-table isolation
 *               and buffer clearing, which would only slow the guest;
 *               and IBRS/IBPB, with IBRS_ALL in that MSR and BHI_CTRL in
 *               leaf 7.2 EDX: "enhanced IBRS", so Linux uses plain
 *               indirect branches, not retpolines (which cost a DBT a
 *               mispredicted return each) nor BHB-clearing loops.  KVM
 *               shows these where it emulates the MSRs (kvm.c)
 * SSSE3 to SSE4.2, AES and PCLMULQDQ are plain C in the DBT (sse4.c),
 * except ROUNDxx, DPPS and DPPD, which fpu.c runs on the host's SSE4.1
 * as it runs SSE/SSE2 arithmetic on the host's.  CRC32 is SSE4.2's
 * (leaf 1 ECX bit 20).
 * No AVX/XSAVE, x2APIC, PCID, FSGSBASE, 1 GiB pages.  Under KVM, MOVBE,
 * RDRAND, BMI1/2, RDSEED, ADX, LZCNT, SMEP, SMAP and UMIP are cleared
 * where the host's KVM does not support them (kvm.c); the DBT runs them
 * on any host.  Leaf 0xB gives the topology, 0x15/0x16 the TSC frequency
 * (so Linux needs no calibration), 0x40000000 the hypervisor signature
 * "vmkitvmkitvm".
 */
#include "cpu/cpu.h"

#include <string.h>
#include <time.h>
#include <x86intrin.h>

#define MAX_BASIC 0x16
#define MAX_EXT 0x80000008u

static uint64_t tsc_hz;

uint64_t
cpu_arch_capabilities(void)
{
	/* RDCL_NO, IBRS_ALL, SKIP_L1DFL_VMENTRY, SSB_NO, MDS_NO,
	 * PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, BHI_NO,
	 * PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO. */
	return 1ULL << 0 | 1ULL << 1 | 1ULL << 3 | 1ULL << 4 | 1ULL << 5 |
	    1ULL << 6 |
	    1ULL << 8 | 1ULL << 13 | 1ULL << 14 | 1ULL << 15 | 1ULL << 20 |
	    1ULL << 24 | 1ULL << 26 | 1ULL << 27 | 1ULL << 62;
}

/* The host TSC frequency, measured once (the guest TSC is the host's). */
uint64_t
cpu_tsc_hz(void)
{
	struct timespec a, b;
	uint64_t t0, t1, ns;

	if (tsc_hz)
		return tsc_hz;
	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL +
		    (uint64_t)(b.tv_nsec - a.tv_nsec);
	} while (ns < 20000000ULL);
	t1 = __rdtsc();
	/* Round to 1 MHz. */
	tsc_hz = ((t1 - t0) * 1000000000ULL / ns + 500000) / 1000000 *
	    1000000;
	return tsc_hz;
}

static void
str4(uint32_t *r, const char *s)
{
	memcpy(r, s, 4);
}

void
cpu_cpuid(uint32_t leaf, uint32_t sub, int cpu, int ncpus, uint32_t out[4])
{
	static const char brand[48] = "vmkit virtual CPU";
	uint32_t *a = &out[0], *b = &out[1], *c = &out[2], *d = &out[3];

	memset(out, 0, 4 * sizeof(uint32_t));
	if (leaf >= 0x40000000u && leaf <= 0x400000ffu) {
		if (leaf == 0x40000000u) {
			*a = 0x40000000u;
			str4(b, "vmki");
			str4(c, "tvmk");
			str4(d, "itvm");
		}
		return;
	}
	if (leaf > MAX_BASIC && leaf < 0x80000000u)
		leaf = MAX_BASIC;
	if (leaf > MAX_EXT)
		leaf = MAX_BASIC;
	switch (leaf) {
	case 0:
		*a = MAX_BASIC;
		str4(b, "Genu");
		str4(d, "ineI");
		str4(c, "ntel");
		break;
	case 1:
		*a = 0x000806f8; /* family 6, model 0x8f, stepping 8 */
		*b = (uint32_t)cpu << 24 | (uint32_t)(ncpus > 255 ? 255 :
		    ncpus) << 16 | 8 << 8;
		/* SSE3 PCLMULQDQ SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT AES
		 * RDRAND, hypervisor */
		*c = (1u << 0) | (1u << 1) | (1u << 9) | (1u << 13) |
		    (1u << 19) | (1u << 20) | (1u << 22) | (1u << 23) |
		    (1u << 25) | (1u << 30) | (1u << 31);
		*d = 0x078bfbffu; /* FPU..SSE2 as listed above */
		if (ncpus > 1)
			*d |= 1u << 28;
		break;
	case 2:
		*a = 0x00feff01; /* no descriptors: see leaf 4 */
		break;
	case 4:
		switch (sub) {
		case 0: /* L1d 48K */
			*a = 0x121 | (uint32_t)(ncpus - 1) << 26;
			*b = (12u - 1) << 22 | 63;
			*c = 63;
			break;
		case 1: /* L1i 32K */
			*a = 0x122 | (uint32_t)(ncpus - 1) << 26;
			*b = (8u - 1) << 22 | 63;
			*c = 63;
			break;
		case 2: /* L2 2M */
			*a = 0x143 | (uint32_t)(ncpus - 1) << 26;
			*b = (16u - 1) << 22 | 63;
			*c = 2047;
			break;
		}
		break;
	case 6:
		*a = 1u << 2; /* ARAT: the APIC timer always runs */
		break;
	case 7:
		if (sub == 0) {
			*a = 2;         /* subleaves 1 and 2 */
			/* BMI1, BMI2, RDSEED, ADX; SMEP, SMAP */
			*b = 1u << 3 | 1u << 8 | 1u << 18 | 1u << 19 |
			    1u << 7 | 1u << 20;
			*c = 1u << 2;   /* UMIP */
			/* IBRS/IBPB (SPEC_CTRL), ARCH_CAPABILITIES */
			*d = 1u << 26 | 1u << 29;
		} else if (sub == 2) {
			*d = 1u << 4;   /* BHI_CTRL: SPEC_CTRL.BHI_DIS_S */
		}
		break;
	case 0xb:
		*d = (uint32_t)cpu;
		if (sub == 0) {
			*a = 0;
			*b = 1;
			*c = 1u << 8;
		} else if (sub == 1) {
			*a = 32 - (uint32_t)__builtin_clz((unsigned)ncpus |
			    1);
			*b = (uint32_t)ncpus;
			*c = 2u << 8 | 1;
		} else {
			*c = sub;
		}
		break;
	case 0x15:
		/* A 1 GHz crystal, the APIC timer's clock (hw/intc.c, and
		 * KVM's in-kernel APIC's); TSC = crystal * EBX / EAX. */
		*a = 1000;
		*b = (uint32_t)(cpu_tsc_hz() / 1000000);
		*c = 1000000000;
		break;
	case 0x16:
		*a = (uint32_t)(cpu_tsc_hz() / 1000000);
		*b = *a;
		*c = 100;
		break;
	case 0x80000000u:
		*a = MAX_EXT;
		break;
	case 0x80000001u:
		*c = 1u << 0 | 1u << 5;         /* LAHF-SAHF, ABM (LZCNT) */
		*d = (1u << 11) | (1u << 20) | (1u << 29);
		break;
	case 0x80000002u:
	case 0x80000003u:
	case 0x80000004u:
		memcpy(out, brand + 16 * (leaf - 0x80000002u), 16);
		break;
	case 0x80000006u:
		*c = 2048u << 16 | 8u << 12 | 64;
		break;
	case 0x80000008u:
		*a = 48u << 8 | CPU_PHYS_BITS;
		break;
	}
}

int
cpu_cpuid_table(int cpu, int ncpus, struct cpuid_entry *tab, int max)
{
	static const uint32_t leaves[] = { 0, 1, 2, 6, 0x15, 0x16,
		0x40000000u, 0x80000000u, 0x80000001u, 0x80000002u,
		0x80000003u, 0x80000004u, 0x80000006u, 0x80000008u };
	uint32_t out[4];
	int n = 0;
	unsigned k, sub;

	for (k = 0; k < sizeof(leaves) / sizeof(leaves[0]) && n < max; k++) {
		cpu_cpuid(leaves[k], 0, cpu, ncpus, out);
		tab[n++] = (struct cpuid_entry){ leaves[k], 0, false, out[0],
			out[1], out[2], out[3] };
	}
	for (sub = 0; sub < 4 && n < max; sub++) {
		cpu_cpuid(4, sub, cpu, ncpus, out);
		tab[n++] = (struct cpuid_entry){ 4, sub, true, out[0], out[1],
			out[2], out[3] };
	}
	for (sub = 0; sub < 3 && n < max; sub++) {
		cpu_cpuid(0xb, sub, cpu, ncpus, out);
		tab[n++] = (struct cpuid_entry){ 0xb, sub, true, out[0],
			out[1], out[2], out[3] };
	}
	for (sub = 0; sub < 3 && n < max; sub++) {
		cpu_cpuid(7, sub, cpu, ncpus, out);
		tab[n++] = (struct cpuid_entry){ 7, sub, true, out[0], out[1],
			out[2], out[3] };
	}
	return n;
}
