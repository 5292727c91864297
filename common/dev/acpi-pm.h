/* The ACPI PM block's entry points beyond the bus (acpi-pm.c). */
#ifndef VM_DEV_ACPI_PM_H
#define VM_DEV_ACPI_PM_H

#include <stdint.h>

struct dev;
struct pci_bus;
struct vm_err;

/* Press the power button: PWRBTN_STS is set, an SCI raised if the guest
 * enabled it (PWRBTN_EN).  Call with the I/O lock held. */
void acpi_pm_power_button(struct dev *d);

/* Put its PCI function at 00:01.3 on bus (after the PIIX3's 01.0), its
 * PM base (PMBA) programmed to base and decoding there, or, base 0,
 * unprogrammed and off until the firmware programs it.  0 or -errno
 * with err set. */
int acpi_pm_pci_init(struct dev *d, struct pci_bus *bus, uint16_t base,
    struct vm_err *err);

#endif
