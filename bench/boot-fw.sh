#!/bin/bash
# Firmware boot, side by side with QEMU in the same run: Debian's SeaBIOS
# (bios-256k.bin, the same file for both) boots the guest kit from an IDE
# disk (SYSLINUX on a FAT partition) and from an IDE CD-ROM (an isolinux
# ISO made by xorriso), under vm-run --accel dbt and under
# qemu-system-x86_64 -accel tcg.  The guest runs md5sum and powers off.
#
# Figures, as in bench/run.sh: wall time from process start to the guest's
# first userspace line ("vmkit-guest: ready") and to exit, the CPU time
# (user + system) and peak RSS of the whole process (GNU time's); the
# median of $BENCH_RUNS runs (default 3), the rows taking turns, a run of
# each per round.  QEMU's machine is made like
# vm-run's: no VGA (-vga none; vm-run has none with the serial console),
# no NIC (vm-run has none without --net), the disk on IDE and read-only
# for the guest's sake (snapshot=on), the ISO on the secondary master.
#
# usage: bench/boot-fw.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
RUNS=${BENCH_RUNS:-3}
MEM=${BENCH_MEM:-256M}
BIOS=${BENCH_BIOS:-/usr/share/seabios/bios-256k.bin}
top=$(cd "$(dirname "$0")/.." && pwd)
for t in syslinux mcopy sfdisk xorriso; do
	command -v $t >/dev/null || { echo "boot-fw.sh: needs $t" >&2; exit 1; }
done
for f in "$BIOS" /usr/lib/syslinux/mbr/mbr.bin /usr/lib/ISOLINUX/isolinux.bin \
    /usr/lib/syslinux/modules/bios/ldlinux.c32; do
	[ -r "$f" ] || { echo "boot-fw.sh: needs $f" >&2; exit 1; }
done
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
APPEND='console=ttyS0 panic=-1 quiet vmkit.run="md5sum /bin/busybox"'
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cfg() { # the SYSLINUX/ISOLINUX configuration: boot the kit at once
	printf 'SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n'
	printf '  KERNEL %s\n  INITRD %s\n  APPEND %s\n' "$1" "$2" "$APPEND"
}
# The disk: 64 MiB, one FAT partition from 1 MiB with SYSLINUX.
part=$tmp/part disk=$tmp/disk.img
truncate -s 63M "$part"
mformat -i "$part" -T $((63 * 2048)) -h 64 -s 32 -v VMKIT ::
cfg vmlinuz initrd.gz > "$tmp/syslinux.cfg"
mcopy -i "$part" "$K" ::vmlinuz
mcopy -i "$part" "$I" ::initrd.gz
mcopy -i "$part" "$tmp/syslinux.cfg" ::
"$top/tools/syslinux-disk.sh" "$part" "$disk" || exit 1
# The ISO: El Torito, no emulation, isolinux.
root=$tmp/iso iso=$tmp/boot.iso
mkdir -p "$root/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 \
	"$root/isolinux/"
cp "$K" "$root/vmlinuz"; cp "$I" "$root/initrd.gz"
cfg /vmlinuz /initrd.gz > "$root/isolinux/isolinux.cfg"
xorriso -as mkisofs -quiet -o "$iso" -b isolinux/isolinux.bin \
	-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
	-boot-info-table "$root" 2>/dev/null || exit 1

. "$top/bench/lib.sh"
BENCH_NAME_WIDTH=41

echo "vmkit firmware-boot bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "SeaBIOS $BIOS -> SYSLINUX/ISOLINUX -> Debian $(cat "$kit/VERSION") + busybox initramfs, $MEM RAM, runs md5sum and powers off; median of $RUNS"
echo
echo "| configuration                             | to ready s | to exit s | CPU s | peak RSS KiB | ok |"
echo "|-------------------------------------------|-----------:|---------:|------:|------------:|----|"
VR=("$BUILD/vm-run" --accel dbt --no-reboot -m "$MEM" --bios "$BIOS")
names=("vm-run --accel dbt, IDE disk" "vm-run --accel dbt, IDE CD-ROM")
cmds=("${VR[*]} --disk $disk,if=ide,readonly=on" "${VR[*]} --cdrom $iso")
if command -v qemu-system-x86_64 >/dev/null; then
	Q="qemu-system-x86_64 -accel tcg -M pc -m $MEM -bios $BIOS -nographic -vga none -nic none -no-reboot"
	names+=("qemu-system-x86_64 -accel tcg, IDE disk"
		"qemu-system-x86_64 -accel tcg, IDE CD-ROM")
	cmds+=("$Q -drive file=$disk,if=ide,format=raw,snapshot=on"
		"$Q -cdrom $iso")
fi
# The rows take turns, a run of each per round, so a change in the
# host's load falls on all of them alike.  (No word of a command has a
# space: $tmp is mktemp's, the build directory the caller's.)
for r in $(seq "$RUNS"); do
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086
		run_one ${cmds[$i]} >> "$tmp/r$i"
	done
done
for i in "${!cmds[@]}"; do
	row "${names[$i]}" "$tmp/r$i"
done
