/*
 * The one table of device types.  Adding a device is one line here plus
 * its file.
 */
#include "dev/dev.h"

#include <stddef.h>
#include <string.h>

extern const struct dev_type uart16550_type;
extern const struct dev_type exit_ports_type;
extern const struct dev_type acpi_pm_type;
extern const struct dev_type mc146818_type;
extern const struct dev_type i8042_type;
extern const struct dev_type i8254_type;
extern const struct dev_type virtio_blk_type;
extern const struct dev_type virtio_rng_type;
extern const struct dev_type fw_cfg_type;
extern const struct dev_type piix_ide_type;
extern const struct dev_type virtio_net_type;
extern const struct dev_type vga_type;
extern const struct dev_type e1000_type;

const struct dev_type *const dev_types[] = {
	&uart16550_type,
	&exit_ports_type,
	&acpi_pm_type,
	&mc146818_type,
	&i8042_type,
	&i8254_type,
	&virtio_blk_type,
	&virtio_rng_type,
	&fw_cfg_type,
	&piix_ide_type,
	&virtio_net_type,
	&vga_type,
	&e1000_type,
	NULL,
};

const struct dev_type *
dev_type_find(const char *name)
{
	size_t i;

	for (i = 0; dev_types[i] != NULL; i++)
		if (strcmp(dev_types[i]->name, name) == 0)
			return dev_types[i];
	return NULL;
}
