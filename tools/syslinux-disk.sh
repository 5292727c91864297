#!/bin/bash
# syslinux-disk.sh PART DISK: installs SYSLINUX on PART (a FAT file system
# image of at most 63 MiB, its files already copied in) and makes DISK, a
# 64 MiB disk with an MBR boot sector and PART as its one bootable
# partition from 1 MiB.  PART is removed.  Used by tests/firmware.bash and
# bench/boot-fw.sh.
set -euo pipefail
part=$1 disk=$2
syslinux --install "$part"
rm -f "$disk"
truncate -s 64M "$disk"
echo 'start=2048, type=6, bootable' | sfdisk -q "$disk"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" conv=notrunc status=none
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc status=none
rm -f "$part"
