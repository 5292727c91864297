/*
 * TEMPORARY: weak placeholders for the DBT's and the interrupt
 * controllers' functions while their parts are built in parallel branches.
 * Every real definition overrides these (tools link the library whole).
 * Each placeholder stops the program with a clear message if reached.
 * This file is deleted once every part has landed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "dbt/dbt-int.h"
#include "hw/intc.h"
#include "util/err.h"

#define WEAK __attribute__((weak))

static void
missing(const char *fn)
{
	fprintf(stderr, "vmkit: %s is not implemented in this build\n", fn);
	abort();
}

WEAK int
dbt_decode(const struct dbt_cpu *c, const uint8_t *code, int avail, struct insn *i)
{
	missing(__func__); return 0;
}

WEAK void
dbt_ops_init(void)
{
	missing(__func__);
}

WEAK dbt_fn
dbt_lookup(const struct insn *i)
{
	missing(__func__); return 0;
}

WEAK uint8_t
dbt_read8(struct dbt_cpu *c, int seg, uint64_t off)
{
	missing(__func__); return 0;
}

WEAK uint16_t
dbt_read16(struct dbt_cpu *c, int seg, uint64_t off)
{
	missing(__func__); return 0;
}

WEAK uint32_t
dbt_read32(struct dbt_cpu *c, int seg, uint64_t off)
{
	missing(__func__); return 0;
}

WEAK uint64_t
dbt_read64(struct dbt_cpu *c, int seg, uint64_t off)
{
	missing(__func__); return 0;
}

WEAK void
dbt_write8(struct dbt_cpu *c, int seg, uint64_t off, uint8_t v)
{
	missing(__func__);
}

WEAK void
dbt_write16(struct dbt_cpu *c, int seg, uint64_t off, uint16_t v)
{
	missing(__func__);
}

WEAK void
dbt_write32(struct dbt_cpu *c, int seg, uint64_t off, uint32_t v)
{
	missing(__func__);
}

WEAK void
dbt_write64(struct dbt_cpu *c, int seg, uint64_t off, uint64_t v)
{
	missing(__func__);
}

WEAK void
dbt_read_bytes(struct dbt_cpu *c, int seg, uint64_t off, void *buf, unsigned n)
{
	missing(__func__);
}

WEAK void
dbt_write_bytes(struct dbt_cpu *c, int seg, uint64_t off, const void *buf, unsigned n)
{
	missing(__func__);
}

WEAK void
dbt_probe_write(struct dbt_cpu *c, int seg, uint64_t off, unsigned n)
{
	missing(__func__);
}

WEAK uint64_t
dbt_read_lin(struct dbt_cpu *c, uint64_t lin, unsigned size, unsigned acc)
{
	missing(__func__); return 0;
}

WEAK void
dbt_write_lin(struct dbt_cpu *c, uint64_t lin, unsigned size, uint64_t v, unsigned acc)
{
	missing(__func__);
}

WEAK uint64_t
dbt_translate(struct dbt_cpu *c, uint64_t lin, unsigned acc)
{
	missing(__func__); return 0;
}

WEAK void
dbt_tlb_flush(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK void
dbt_tlb_flush_page(struct dbt_cpu *c, uint64_t lin)
{
	missing(__func__);
}

WEAK uint64_t
dbt_phys_read(struct dbt_cpu *c, uint64_t pa, unsigned size)
{
	missing(__func__); return 0;
}

WEAK void
dbt_phys_write(struct dbt_cpu *c, uint64_t pa, unsigned size, uint64_t v)
{
	missing(__func__);
}

WEAK uint64_t
dbt_ea(struct dbt_cpu *c, const struct insn *i)
{
	missing(__func__); return 0;
}

WEAK uint64_t
dbt_get_reg(struct dbt_cpu *c, const struct insn *i, int reg, unsigned size)
{
	missing(__func__); return 0;
}

WEAK void
dbt_set_reg(struct dbt_cpu *c, const struct insn *i, int reg, unsigned size, uint64_t v)
{
	missing(__func__);
}

WEAK uint64_t
dbt_get_rm(struct dbt_cpu *c, const struct insn *i, unsigned size)
{
	missing(__func__); return 0;
}

WEAK void
dbt_set_rm(struct dbt_cpu *c, const struct insn *i, unsigned size, uint64_t v)
{
	missing(__func__);
}

WEAK void
dbt_push(struct dbt_cpu *c, unsigned size, uint64_t v)
{
	missing(__func__);
}

WEAK uint64_t
dbt_pop(struct dbt_cpu *c, unsigned size)
{
	missing(__func__); return 0;
}

WEAK void
dbt_raise(struct dbt_cpu *c, int vector, uint32_t error)
{
	missing(__func__);
	abort();
}

WEAK void
dbt_raise_noerr(struct dbt_cpu *c, int vector)
{
	missing(__func__);
	abort();
}

WEAK void
dbt_deliver(struct dbt_cpu *c, int vector, bool has_error, uint32_t error, bool sw)
{
	missing(__func__);
}

WEAK void
dbt_check_interrupts(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK void
dbt_update_mode(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK void
dbt_load_seg(struct dbt_cpu *c, int sreg, uint16_t sel)
{
	missing(__func__);
}

WEAK void
dbt_check_io(struct dbt_cpu *c, uint16_t port, unsigned size)
{
	missing(__func__);
}

WEAK uint64_t
dbt_port_in(struct dbt_cpu *c, uint16_t port, unsigned size)
{
	missing(__func__); return 0;
}

WEAK void
dbt_port_out(struct dbt_cpu *c, uint16_t port, unsigned size, uint64_t v)
{
	missing(__func__);
}

WEAK uint64_t
dbt_rdtsc(struct dbt_cpu *c)
{
	missing(__func__); return 0;
}

WEAK void
dbt_write_flags(struct dbt_cpu *c, uint64_t val, uint64_t mask)
{
	missing(__func__);
}

WEAK void
dbt_op_ud(struct dbt_cpu *c, const struct insn *i)
{
	missing(__func__);
}

WEAK void
dbt_state_get(const struct dbt_cpu *c, struct x86_state *st)
{
	missing(__func__);
}

WEAK void
dbt_state_set(struct dbt_cpu *c, const struct x86_state *st)
{
	missing(__func__);
}

WEAK void
dbt_blocks_init(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK void
dbt_blocks_fini(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK void
dbt_blocks_invalidate(struct dbt_cpu *c, uint64_t pa, uint64_t len)
{
	missing(__func__);
}

WEAK void
dbt_blocks_flush(struct dbt_cpu *c)
{
	missing(__func__);
}

WEAK struct intc *
intc_new(struct vm *vm, int ncpus, intc_kick_fn kick, void *kick_opaque, struct vm_err *err)
{
	missing(__func__); return 0;
}

WEAK void
intc_free(struct intc *ic)
{
	missing(__func__);
}

WEAK void
intc_set_irq(struct intc *ic, unsigned gsi, int level)
{
	missing(__func__);
}

WEAK void
intc_msi(struct intc *ic, uint64_t addr, uint32_t data)
{
	missing(__func__);
}

WEAK bool
intc_has_interrupt(struct intc *ic, int cpu)
{
	missing(__func__); return 0;
}

WEAK int
intc_ack(struct intc *ic, int cpu)
{
	missing(__func__); return 0;
}

WEAK bool
intc_take_nmi(struct intc *ic, int cpu)
{
	missing(__func__); return 0;
}

WEAK int
intc_take_init_sipi(struct intc *ic, int cpu, uint8_t *vec)
{
	missing(__func__); return 0;
}

WEAK uint32_t
lapic_mmio_read(struct intc *ic, int cpu, uint32_t off)
{
	missing(__func__); return 0;
}

WEAK void
lapic_mmio_write(struct intc *ic, int cpu, uint32_t off, uint32_t val)
{
	missing(__func__);
}

WEAK int
lapic_msr_read(struct intc *ic, int cpu, uint32_t msr, uint64_t *val)
{
	missing(__func__); return 0;
}

WEAK int
lapic_msr_write(struct intc *ic, int cpu, uint32_t msr, uint64_t val)
{
	missing(__func__); return 0;
}

WEAK uint64_t
lapic_get_base(struct intc *ic, int cpu)
{
	missing(__func__); return 0;
}

WEAK void
lapic_set_base(struct intc *ic, int cpu, uint64_t val)
{
	missing(__func__);
}

WEAK uint8_t
lapic_get_cr8(struct intc *ic, int cpu)
{
	missing(__func__); return 0;
}

WEAK void
lapic_set_cr8(struct intc *ic, int cpu, uint8_t cr8)
{
	missing(__func__);
}

WEAK void
intc_set_tsc_fn(struct intc *ic, uint64_t (*tsc)(void *), void *opaque)
{
	missing(__func__);
}

WEAK void
lapic_get_page(struct intc *ic, int cpu, uint8_t page[1024])
{
	missing(__func__);
}

WEAK void
lapic_set_page(struct intc *ic, int cpu, const uint8_t page[1024])
{
	missing(__func__);
}

WEAK void
cpu_cpuid(uint32_t leaf, uint32_t subleaf, int cpu_index, int ncpus, uint32_t out[4])
{
	missing(__func__);
}

WEAK int
cpu_cpuid_table(int cpu_index, int ncpus, struct cpuid_entry *tab, int max)
{
	missing(__func__); return 0;
}

WEAK uint64_t
cpu_tsc_hz(void)
{
	missing(__func__); return 0;
}

WEAK void
cpu_reset_state(struct x86_state *st, int id)
{
	missing(__func__);
}

WEAK const struct op_entry dbt_ops_int[] = { { 0 } };
WEAK const struct op_entry dbt_ops_sys[] = { { 0 } };
WEAK const struct op_entry dbt_ops_fpu[] = { { 0 } };

static int
pending_probe(struct vm_err *err)
{
	return vm_err_set(err, -ENOSYS, "this back end is not built yet");
}

WEAK const struct cpu_backend_ops dbt_backend = {
	.name = "dbt",
	.probe = pending_probe,
};
#ifdef HAVE_KVM
WEAK const struct cpu_backend_ops kvm_backend = {
	.name = "kvm",
	.probe = pending_probe,
};
#endif
