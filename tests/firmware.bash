# Helpers of the firmware suites (450, 470): Debian's SeaBIOS, bootable
# media.

# firmware_setup: skip without SeaBIOS; work in the test's directory.
firmware_setup() {
	BIOS=/usr/share/seabios/bios-256k.bin
	[ -r "$BIOS" ] || skip "no $BIOS (Debian's seabios package)"
	cd "$BATS_TEST_TMPDIR"
}

# run_bios STATUS ARGS...: vm-run on the DBT through firmware, with
# BIOS_MEM of RAM (default 256M).
run_bios() {
	local st=$1; shift
	run_tool "$st" timeout 120 "$VM_RUN" --accel dbt --no-reboot \
		-m "${BIOS_MEM:-256M}" "$@" </dev/null
}

# make_syslinux_disk IMG: a 64 MiB raw disk, one FAT partition from 1 MiB
# with SYSLINUX installed (Debian's syslinux, mtools, sfdisk; no root),
# the guest kit's kernel and initramfs and a syslinux.cfg booting them on
# the serial console (SYSLINUX_CONSOLE=tty0: the VGA) with
# vmkit.run=$GUEST_CMD and SYSLINUX_MORE's words.  SYSLINUX_KERNEL (with
# SYSLINUX_APPEND, and no initrd) boots another kernel instead.
make_syslinux_disk() {
	local img=$1 part=$1.part
	command -v syslinux >/dev/null && command -v mcopy >/dev/null &&
		command -v sfdisk >/dev/null &&
		[ -r /usr/lib/syslinux/mbr/mbr.bin ] ||
		skip "needs syslinux, syslinux-common, mtools and fdisk"
	rm -f "$part" "$img"
	truncate -s 63M "$part"
	mformat -i "$part" -T $((63 * 2048)) -h 64 -s 32 -v VMKIT ::
	if [ -n "${SYSLINUX_KERNEL:-}" ]; then
		cat > "$BATS_TEST_TMPDIR/syslinux.cfg" <<-EOF
		SERIAL 0 115200
		DEFAULT other
		PROMPT 0
		TIMEOUT 0
		LABEL other
		  LINUX other.krn
		  APPEND $SYSLINUX_APPEND
		EOF
		mcopy -i "$part" "$SYSLINUX_KERNEL" ::other.krn
		mcopy -i "$part" "$BATS_TEST_TMPDIR/syslinux.cfg" ::
	else
		cat > "$BATS_TEST_TMPDIR/syslinux.cfg" <<-EOF
		SERIAL 0 115200
		DEFAULT linux
		PROMPT 0
		TIMEOUT 0
		LABEL linux
		  KERNEL vmlinuz
		  INITRD initrd.gz
		  APPEND console=${SYSLINUX_CONSOLE:-ttyS0} panic=-1 quiet ${SYSLINUX_MORE:-} vmkit.run="$GUEST_CMD"
		EOF
		mcopy -i "$part" "$KERNEL" "$INITRD" "$BATS_TEST_TMPDIR/syslinux.cfg" ::
	fi
	"$TOPDIR/tools/syslinux-disk.sh" "$part" "$img"
}
