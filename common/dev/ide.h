/*
 * The PIIX IDE controller (dev/piix-ide.c): two channels in legacy
 * (compatibility) mode, primary at 0x1f0/0x3f6 on IRQ 14, secondary at
 * 0x170/0x376 on IRQ 15, each with a master and a slave ATA disk.
 */
#ifndef VM_DEV_IDE_H
#define VM_DEV_IDE_H

struct cfg_disk;

#define IDE_MAX_DRIVES 4

/* The realize argument: disk[0] primary master, [1] primary slave,
 * [2] secondary master, [3] secondary slave; NULL for none. */
struct ide_args {
	const struct cfg_disk *disk[IDE_MAX_DRIVES];
};

#endif
