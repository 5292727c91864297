#!/bin/sh
# Install the Debian packages vmkit needs to build and test, if missing.
# Run by `make deps`, which `make check`, `make demo` and `make bench` call first.
set -e
PKGS="build-essential libyaml-dev zlib1g-dev libzstd-dev libarchive-dev liblzma-dev
 libexpat1-dev nettle-dev
 liblz4-dev libzydis-dev bats cpio xz-utils zstd mandoc socat qemu-utils
 qemu-system-x86 seabios busybox-static time bc acpica-tools jq clang xorriso
 syslinux syslinux-common extlinux mtools fdisk isolinux tmux
 libslirp-dev tshark python3"
# libxml2-utils: xmllint judges the OVF descriptors vm-create --export writes.
PKGS="$PKGS libxml2-utils"
# iproute2: ip for the network tests' namespaces, ss for bench/net.sh
# (QEMU's socket sender waits for its receiver's listen socket).
PKGS="$PKGS iproute2"
# strace: the disk crash tests kill a writer at chosen writes with its
# fault injection (they skip without it).
PKGS="$PKGS strace"
# qemu-system-data: linuxboot_dma.bin, the option ROM through which SeaBIOS
# boots --kernel with --firmware bios (qemu-system-x86 pulls it in too).
PKGS="$PKGS qemu-system-data"
# dmidecode: the judge of the SMBIOS tables a guest got (tests/470).
PKGS="$PKGS dmidecode"
# memtest86+: booted through SeaBIOS by tests/470.
PKGS="$PKGS memtest86+"
# python3-libvhdi: libvhdi reads differencing VHDs with their parents
# (qemu-img reads them without), the judge of tests/555.
PKGS="$PKGS python3-libvhdi"
# libvhdi-utils: vhdiinfo, which tests/555 reads a differencing VHD's
# parent name and identifier with.
PKGS="$PKGS libvhdi-utils"
# grub-pc-bin, grub-common: a BIOS GRUB rescue ISO (grub-mkrescue) whose
# menu tests/460 drives through the VGA console.
PKGS="$PKGS grub-pc-bin grub-common"
# ovmf: the UEFI firmware vm-run --firmware uefi boots (OVMF_CODE_4M.fd,
# OVMF_VARS_4M.fd; tests/480).
PKGS="$PKGS ovmf"
# grub-efi-amd64-bin: the x86_64-efi GRUB that tests/480 puts on an EFI
# system partition (grub-mkimage) for OVMF to boot the guest kit with.
PKGS="$PKGS grub-efi-amd64-bin"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
