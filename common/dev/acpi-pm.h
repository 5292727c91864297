/* The ACPI PM block's one entry point beyond the bus (acpi-pm.c). */
#ifndef VM_DEV_ACPI_PM_H
#define VM_DEV_ACPI_PM_H

struct dev;

/* Press the power button: PWRBTN_STS is set, an SCI raised if the guest
 * enabled it (PWRBTN_EN).  Call with the I/O lock held. */
void acpi_pm_power_button(struct dev *d);

#endif
