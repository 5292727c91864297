/*
 * The user-space interrupt controllers the DBT uses (KVM brings its own):
 * the two cascaded 8259A PICs (ports 0x20/0xa0, ELCR 0x4d0/0x4d1), the
 * 82093AA IOAPIC (MMIO 0xfec00000, 24 pins) and one local APIC per vCPU
 * (MMIO 0xfee00000 per CPU, the x2APIC MSRs, the APIC timer incl.
 * TSC-deadline mode).  ISA IRQ n drives PIC pin n and IOAPIC pin n, except
 * IRQ 0 which drives IOAPIC pin 2 (the MADT says so).  MSIs go to LAPICs.
 *
 * Callers hold the VM I/O lock, except intc_has_interrupt, which is a
 * lock-free peek the CPU may do at every block boundary.
 */
#ifndef VM_HW_INTC_H
#define VM_HW_INTC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_err;
struct intc;

#define LAPIC_BASE 0xfee00000ULL
#define IOAPIC_BASE 0xfec00000ULL

/* Called (lock held) when cpu may have a new interrupt or INIT/SIPI; the
 * back end wakes that vCPU. */
typedef void (*intc_kick_fn)(void *opaque, int cpu);

/* Map the PIC and IOAPIC on vm's buses; LAPICs for ncpus vCPUs. */
struct intc *intc_new(struct vm *vm, int ncpus, intc_kick_fn kick,
    void *kick_opaque, struct vm_err *err);
void intc_free(struct intc *ic);

void intc_set_irq(struct intc *ic, unsigned gsi, int level);
void intc_msi(struct intc *ic, uint64_t addr, uint32_t data);

/* Is a maskable interrupt deliverable to cpu (if its IF allows)? */
bool intc_has_interrupt(struct intc *ic, int cpu);
/* The byte intc_has_interrupt reads for cpu (nonzero: an interrupt may be
 * deliverable), for generated code to read itself; NULL for no such cpu.
 * Valid while ic lives. */
const void *intc_pending_hint(struct intc *ic, int cpu);
/* An NMI, INIT or SIPI is pending (these wake a CPU whatever its IF). */
bool intc_has_event(struct intc *ic, int cpu);
/* Acknowledge: the vector to deliver (IRR -> ISR), or -1 if it vanished. */
int intc_ack(struct intc *ic, int cpu);
/* NMI pending for cpu (taken and cleared by the call). */
bool intc_take_nmi(struct intc *ic, int cpu);
/* INIT / SIPI for an AP: returns 0 none, 1 INIT, 2 SIPI (vector in *vec). */
int intc_take_init_sipi(struct intc *ic, int cpu, uint8_t *vec);

/* Per-CPU LAPIC access: MMIO offset (0..0xfff) and x2APIC MSRs. */
uint32_t lapic_mmio_read(struct intc *ic, int cpu, uint32_t off);
void lapic_mmio_write(struct intc *ic, int cpu, uint32_t off, uint32_t val);
/* 0 ok, -1 if the MSR is not an APIC MSR (the caller raises #GP). */
int lapic_msr_read(struct intc *ic, int cpu, uint32_t msr, uint64_t *val);
int lapic_msr_write(struct intc *ic, int cpu, uint32_t msr, uint64_t val);
uint64_t lapic_get_base(struct intc *ic, int cpu);
void lapic_set_base(struct intc *ic, int cpu, uint64_t val);
/* TPR as CR8 (bits 3:0 = TPR[7:4]). */
uint8_t lapic_get_cr8(struct intc *ic, int cpu);
void lapic_set_cr8(struct intc *ic, int cpu, uint8_t cr8);
/* Guest TSC (for TSC-deadline); the CPU back end provides it. */
void intc_set_tsc_fn(struct intc *ic, uint64_t (*tsc)(void *), void *opaque);
/* The register page, for struct x86_state.lapic. */
void lapic_get_page(struct intc *ic, int cpu, uint8_t page[1024]);
void lapic_set_page(struct intc *ic, int cpu, const uint8_t page[1024]);

struct snap_vis;
/* Snapshots: visit the PICs, IOAPIC and LAPICs; post_load re-arms the
 * LAPIC timers and re-evaluates pending interrupts. */
int intc_state(struct intc *ic, struct snap_vis *v);
/* The same walk as a load, on a copy: every check, nothing changed. */
int intc_state_dry(const struct intc *ic, struct snap_vis *v);
void intc_post_load(struct intc *ic);

/* The canonical form (hw/irqchip.h), for a back end with its own irqchip:
 * the PICs and IOAPIC, and a LAPIC's register page with its timer. */
struct pc_irqchip;
struct intc *intc_new_staging(struct vm *vm, int ncpus, struct vm_err *err);
void intc_export(const struct intc *ic, struct pc_irqchip *c);
void intc_import(struct intc *ic, const struct pc_irqchip *c);
void lapic_import(struct intc *ic, int cpu, const uint8_t page[1024],
    uint64_t base, uint64_t now);
void lapic_export_page(struct intc *ic, int cpu, uint8_t page[1024]);

#endif
