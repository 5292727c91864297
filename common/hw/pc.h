/*
 * The "pc" board's fixed layout: every address, port and interrupt line the
 * board code, the devices, the boot loaders and the ACPI tables must agree
 * on.  Modelled on QEMU's i440FX "pc" machine (shared/DESIGN.md 4).
 */
#ifndef VM_HW_PC_H
#define VM_HW_PC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct vm_err;

/* Guest physical memory. */
#define PC_LOWMEM_END 0xa0000ULL        /* conventional RAM ends (640K) */
#define PC_EBDA 0x9fc00ULL              /* e820: reserved from here to 1M */
#define PC_BIOS_AREA 0xe0000ULL         /* ACPI RSDP and tables live here */
#define PC_BIOS_AREA_SIZE 0x20000ULL
#define PC_HIGHMEM 0x100000ULL          /* 1 MiB */
#define PC_PCI_HOLE 0xc0000000ULL       /* RAM above 3 GiB moves to 4 GiB */
#define PC_PCI_MMIO_BASE 0xc0000000ULL  /* 32-bit PCI BAR window */
#define PC_PCI_MMIO_END 0xfebfffffULL
#define PC_PCI_IO_BASE 0xc000           /* PCI I/O BAR window */
#define PC_PCI_IO_END 0xffff
#define PC_IOAPIC_BASE 0xfec00000ULL
#define PC_HPET_BASE 0xfed00000ULL
#define PC_LAPIC_BASE 0xfee00000ULL
#define PC_HIGHRAM 0x100000000ULL       /* 4 GiB */

/* ISA ports. */
#define PC_PORT_PIC1 0x20
#define PC_PORT_PIT 0x40
#define PC_PORT_I8042_DATA 0x60
#define PC_PORT_PORTB 0x61              /* PIT ch2 gate, speaker */
#define PC_PORT_I8042_CMD 0x64
#define PC_PORT_CMOS 0x70
#define PC_PORT_POST 0x80
#define PC_PORT_A20 0x92                /* fast A20 and reset */
#define PC_PORT_PIC2 0xa0
#define PC_PORT_DEBUG_EXIT 0xf4         /* QEMU isa-debug-exit, 4 bytes */
#define PC_PORT_COM2 0x2f8
#define PC_PORT_COM1 0x3f8
#define PC_PORT_DEBUGCON 0x402          /* QEMU debugcon */
#define PC_PORT_ELCR 0x4d0              /* 2 bytes */
#define PC_PORT_VMKIT_EXIT 0x5e0        /* vmkit exit port: status = value */
#define PC_PORT_PM 0x600                /* ACPI PM block (PIIX4 style) */
#define PC_PORT_PM_OVMF 0xb000          /* where OVMF programs it (PMBA) */
#define PC_PM_LEN 0x40
#define PC_PM1A_EVT_OFF 0x00            /* PM1a_STS(2) PM1a_EN(2) */
#define PC_PM1A_CNT_OFF 0x04            /* 2 bytes: SCI_EN, SLP_TYP, SLP_EN */
#define PC_PM_TMR_OFF 0x08              /* 4 bytes, 3.579545 MHz, 24 bit */
#define PC_PM1A_EVT (PC_PORT_PM + PC_PM1A_EVT_OFF)
#define PC_PM1A_CNT (PC_PORT_PM + PC_PM1A_CNT_OFF)
#define PC_PM_TMR (PC_PORT_PM + PC_PM_TMR_OFF)
#define PC_GPE0 0xafe0                  /* GPE0 block, 4 bytes */
#define PC_GPE0_LEN 4
#define PC_PORT_PCI_CONF 0xcf8          /* mechanism 1: 0xcf8 addr, 0xcfc data */
#define PC_PORT_RESET 0xcf9             /* reset control (FADT RESET_REG) */
#define PC_RESET_VALUE 0x06
#define PC_SLP_TYP_S5 0                 /* \_S5 package value */
#define PC_PM_TMR_HZ 3579545

/* Interrupts (GSI = ISA IRQ for 0..15). */
#define PC_IRQ_PIT 0                    /* IOAPIC pin 2 (MADT override) */
#define PC_IRQ_KBD 1
#define PC_IRQ_COM2 3
#define PC_IRQ_COM1 4
#define PC_IRQ_RTC 8
#define PC_IRQ_SCI 9                    /* level, active high */
#define PC_IRQ_MOUSE 12
/* PCI INTx: device slot s, pin p (0 = INTA) drives GSI 16 + ((s + p) & 3).
 * The DSDT's _PRT says the same. */
#define PC_PCI_GSI(slot, pin) (16u + (((unsigned)(slot) + (unsigned)(pin)) & 3u))
/* ... and PIRQ line A + ((s - 1 + p) & 3) of the PIIX3's router, which it
 * sends to the ISA IRQ its PIRQRC register names (PIC mode); the rotation
 * SeaBIOS's interrupt-line values and $PIR table assume. */
#define PC_PCI_PIRQ(slot, pin) (((unsigned)(slot) + 3u + (unsigned)(pin)) & 3u)
/* The PIIX3's slot (01.0 the PCI-to-ISA bridge, 01.1 IDE, 01.3 power
 * management, as QEMU's pc machine has them) and the bridge's PIRQ route control
 * registers PIRQRC[A:D], one byte each (bit 7 disables, bits 3:0 the ISA
 * IRQ); the DSDT's link devices LNKA..LNKD read and write them. */
#define PC_PCI_ISA_SLOT 1
#define PC_PIIX_PIRQRC 0x60

/* Guest RAM: below the PCI hole from 0, the rest from 4 GiB. */
int pc_init_memory(struct vm *vm, struct vm_err *err);
/* The board's devices (fixed chips, PCI devices from the config) and the
 * firmware tables; after the back end's vm_init. */
int pc_init(struct vm *vm, struct vm_err *err);
/* Does the board have the VGA (console: vga, or cfg->vga)?  Its window
 * at 0xa0000-0xbffff is then a hole in RAM. */
bool pc_has_vga(const struct vm_config *cfg);
/* Where the guest's OS finds the PM block: PC_PORT_PM_OVMF under OVMF,
 * which programs the PM function's PMBA there (its shutdown writes that
 * port whatever PMBA holds), else PC_PORT_PM (SeaBIOS programs it
 * there; a direct boot finds it there from the start). */
uint16_t pc_pm_base(const struct vm_config *cfg);

#endif
