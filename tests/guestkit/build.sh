#!/bin/bash
# Build (or reuse) the guest kit: Debian's stock amd64 kernel and an
# initramfs of busybox-static with the kernel's virtio modules, from the
# distribution's package archive only.  The result is cached in
# tests/guestkit/cache/<kernel-version>/ (or $VMKIT_GUESTKIT_CACHE):
#   vmlinuz     the kernel (bzImage) as Debian ships it
#   initrd.gz   newc cpio + gzip: /init (tests/guestkit/init), busybox,
#               the virtio modules and the ACPI power button's (button,
#               evdev: busybox acpid reads its key) in dependency order
#               (modules.order, loaded at boot) and the extra modules a test asks for with
#               vmkit.modules=NAME,... (each one's load order, its
#               dependencies first, in /lib/modules/NAME.load)
#   busybox     the same busybox binary, for host-side comparisons
#
# usage: build.sh [--print-dir] [--force]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${VMKIT_GUESTKIT_CACHE:-$here/cache}
print_dir=0 force=0
for a in "$@"; do
	case $a in
	--print-dir) print_dir=1 ;;
	--force) force=1 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "build.sh: unknown option $a" >&2; exit 2 ;;
	esac
done

log() { [ $print_dir -eq 1 ] && echo "guestkit: $*" >&2 || echo "guestkit: $*"; }

# The kernel package linux-image-amd64 points at today.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || { echo "guestkit: cannot resolve linux-image-amd64" >&2; exit 1; }
kver=${kpkg#linux-image-}
out=$cache_root/$kver

# The kit is current when it was made from this init and this script:
# compared by content, not by file times, so that a fresh checkout or a
# git worktree (whose files are all newer) reuses a kit made from the same.
inputs=$(cat "$here/init" "$0" | sha256sum | cut -d' ' -f1)
if [ $force -eq 0 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] &&
   [ "$(cat "$out/INPUTS" 2>/dev/null)" = "$inputs" ]; then
	[ $print_dir -eq 1 ] && echo "$out"
	exit 0
fi

log "building for kernel $kver"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$kpkg" busybox-static >/dev/null 2>&1) || {
	apt-get update -qq >/dev/null 2>&1 || true
	(cd "$work" && apt-get download "$kpkg" busybox-static >/dev/null)
}
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"

moddir="$work/k/lib/modules/$kver"
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,mnt,root}
cp "$work/bb/bin/busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"

# Modules the kit loads at boot, and the extra ones a test may ask for,
# with their dependencies (the depends= field of each module's .modinfo
# section), leaves last.
want="virtio_pci virtio_blk virtio-rng virtio_net button evdev"
extra="e1000 ata_piix sd_mod sr_mod isofs"
declare -A path seen
while IFS= read -r f; do
	n=$(basename "$f" .ko); path[$n]=$f; path[${n//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko')
order=()
deps_of() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
visit() {
	local n=$1 d
	[ -n "${seen[$n]:-}" ] && return
	seen[$n]=1
	[ -n "${path[$n]:-}" ] || { echo "guestkit: module $n not found" >&2; exit 1; }
	for d in $(deps_of "${path[$n]}"); do visit "$d"; done
	order+=("$n")
}
for m in $want; do visit "$m"; done
: > "$root/modules.order"
for n in "${order[@]}"; do
	cp "${path[$n]}" "$root/lib/modules/"
	echo "$(basename "${path[$n]}")" >> "$root/modules.order"
done
boot=("${order[@]}")
# Each extra module's closure, the boot modules excluded (loaded already).
for m in $extra; do
	unset seen; declare -A seen
	for n in "${boot[@]}"; do seen[$n]=1; done
	order=()
	visit "$m"
	: > "$root/lib/modules/${m//-/_}.load"
	for n in "${order[@]}"; do
		cp "${path[$n]}" "$root/lib/modules/"
		echo "$(basename "${path[$n]}")" >> "$root/lib/modules/${m//-/_}.load"
	done
done
order=("${boot[@]}")

mkdir -p "$out.tmp"
cp "$work/k/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
cp "$work/bb/bin/busybox" "$out.tmp/busybox"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
	gzip -9 > "$out.tmp/initrd.gz"
echo "$kver" > "$out.tmp/VERSION"
echo "$inputs" > "$out.tmp/INPUTS"
rm -rf "$out"
mv "$out.tmp" "$out"
log "ready in $out ($(du -sh "$out" | cut -f1)): modules ${order[*]}"
[ $print_dir -eq 1 ] && echo "$out"
exit 0
