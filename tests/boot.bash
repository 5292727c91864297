# Boot media the firmware suites (450, 460) build from Debian packages.

# isolinux_iso ISO < isolinux.cfg: an El Torito (no emulation) ISO made
# by xorriso with Debian's isolinux and the guest kit's kernel and
# initramfs (/vmlinuz, /initrd.gz), booting as the config on stdin says.
isolinux_iso() {
	local root=$BATS_TEST_TMPDIR/isoroot
	command -v xorriso >/dev/null && [ -r /usr/lib/ISOLINUX/isolinux.bin ] &&
		[ -r /usr/lib/syslinux/modules/bios/ldlinux.c32 ] ||
		skip "needs xorriso, isolinux and syslinux-common"
	mkdir -p "$root/isolinux"
	cp /usr/lib/ISOLINUX/isolinux.bin \
		/usr/lib/syslinux/modules/bios/ldlinux.c32 "$root/isolinux/"
	cp "$KERNEL" "$root/vmlinuz"
	cp "$INITRD" "$root/initrd.gz"
	cat > "$root/isolinux/isolinux.cfg"
	xorriso -as mkisofs -quiet -o "$1" -b isolinux/isolinux.bin \
		-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
		-boot-info-table "$root" 2>/dev/null
}

# boot_sector_disk IMG SOURCE.S: a 1 MiB raw disk whose boot sector is
# SOURCE.S (16-bit code at 0:7c00, at most 510 bytes) with the 0x55aa
# signature.
boot_sector_disk() {
	local obj=$BATS_TEST_TMPDIR/bootsect
	as --32 -o "$obj.o" "$2"
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$obj.bin" "$obj.o"
	[ "$(stat -c %s "$obj.bin")" -le 510 ] || { echo "# $2: over 510 bytes"; return 1; }
	head -c 1048576 /dev/zero > "$1"
	dd if="$obj.bin" of="$1" conv=notrunc status=none
	printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
}
