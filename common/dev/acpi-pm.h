/* The ACPI PM block's entry points beyond the bus (acpi-pm.c). */
#ifndef VM_DEV_ACPI_PM_H
#define VM_DEV_ACPI_PM_H

struct dev;
struct pci_bus;
struct vm_err;

/* Press the power button: PWRBTN_STS is set, an SCI raised if the guest
 * enabled it (PWRBTN_EN).  Call with the I/O lock held. */
void acpi_pm_power_button(struct dev *d);

/* Put its PCI function at 00:01.3 on bus (after the PIIX3's 01.0).
 * 0 or -errno with err set. */
int acpi_pm_pci_init(struct dev *d, struct pci_bus *bus, struct vm_err *err);

#endif
