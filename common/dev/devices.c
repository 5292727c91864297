/*
 * The one table of device types.  Adding a device is one line here plus
 * its file.
 */
#include "dev/dev.h"

#include <stddef.h>
#include <string.h>

const struct dev_type *const dev_types[] = {
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
