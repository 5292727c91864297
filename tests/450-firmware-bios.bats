#!/usr/bin/env bats
# Firmware boot: Debian's SeaBIOS (the seabios package) at the reset
# vector on the DBT, with fw_cfg, the i440FX shadow RAM (PAM) and the
# board's own ACPI tables handed over through QEMU's table-loader.  With
# no disk SeaBIOS says so on the serial console, waits 5 seconds and
# resets; --no-reboot makes that reset end vm-run with status 0.

load helpers
load firmware
load boot

# What the guest runs: proof it booted, and whose ACPI tables it has (the
# DSDT's OEM ID is vm-run's "VMKIT", SeaBIOS's own would say "BOCHS").
GUEST_CMD='echo booted-$((6*7)); echo dsdt-oem=$(head -c 16 /sys/firmware/acpi/tables/DSDT | tail -c 6); echo cpus=$(nproc)'

setup() {
	firmware_setup
}

@test "SeaBIOS prints its banner and 'No bootable device' on COM1" {
	run_bios 0 --firmware bios
	is "$output" "*SeaBIOS (version 1.*" "banner"
	is "$output" "*Booting from Hard Disk...*" "disk probe"
	is "$output" "*No bootable device.*" "boot failure"
}

@test "SeaBIOS boots a virtio disk's MBR: its code's exit-port value is vm-run's status" {
	# A 1 MiB raw disk whose boot sector, run at 0:7c00 in real mode,
	# writes 42 to the vmkit exit port (mov dx,0x5e0; mov al,42; out
	# dx,al; then hlt for ever) and carries the 0x55aa signature.
	head -c 1048576 /dev/zero > mbr.img
	printf '\xba\xe0\x05\xb0\x2a\xee\xf4\xeb\xfd' |
		dd of=mbr.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=mbr.img bs=1 seek=510 conv=notrunc status=none
	run_bios 42 --firmware bios --disk mbr.img
	is "$output" "*SeaBIOS (version 1.*Booting from Hard Disk*" "output"
	# Without the signature it is not a boot disk.
	printf '\0\0' | dd of=mbr.img bs=1 seek=510 conv=notrunc status=none
	run_bios 0 --firmware bios --disk mbr.img
	is "$output" "*No bootable device.*" "output"
}

@test "SeaBIOS boots SYSLINUX from a virtio disk, which boots Linux with vm-run's ACPI tables and both CPUs" {
	guestkit
	make_syslinux_disk disk.img
	run_bios 0 --firmware bios --cpus 2 --disk disk.img
	is "$output" "*SeaBIOS (version 1.*SYSLINUX 6.*" "firmware and loader"
	is "$output" "*booted-42*" "guest command"
	is "$output" "*dsdt-oem=VMKIT*" "the guest's DSDT"
	# The AP SeaBIOS parked (CLI; HLT) starts again for Linux's INIT/SIPI.
	is "$output" "*cpus=2*" "the guest's CPUs"
	is "$output" "*reboot: Power down*" "power-off"
}

@test "SeaBIOS boots SYSLINUX and Linux from an IDE disk (--disk FILE,if=ide)" {
	guestkit
	make_syslinux_disk disk.img
	run_bios 0 --firmware bios --disk disk.img,if=ide --log=dev
	is "$output" "*ata0-0: VMKIT HARDDISK ATA-7 Hard-Disk (64 MiBytes)*" "SeaBIOS's ATA probe"
	is "$output" "*SYSLINUX 6.*" "boot loader"
	is "$output" "*booted-42*" "guest command"
	is "$output" "*dsdt-oem=VMKIT*" "the guest's DSDT"
}

@test "the PIIX3 IDE function is there whatever the disks: the guest's PCI list is the same with a virtio disk as with an IDE disk" {
	guestkit
	# Each function as Linux lists it: address, vendor:device, class.
	GUEST_CMD='for d in /sys/bus/pci/devices/*; do echo pci=${d##*/}:$(cat $d/vendor):$(cat $d/device):$(cat $d/class); done'
	make_syslinux_disk disk.img
	run_bios 0 --firmware bios --disk disk.img
	virtio=$(grep -o 'pci=[^[:space:]]*' <<<"$output" | grep -v 0x1af4)
	is "$virtio" "*pci=0000:00:01.1:0x8086:0x7010:0x010180*" "the IDE function beside a virtio disk"
	run_bios 0 --firmware bios --disk disk.img,if=ide
	ide=$(grep -o 'pci=[^[:space:]]*' <<<"$output" | grep -v 0x1af4)
	# The virtio disk's own function aside, the two lists are the same.
	is "$ide" "$virtio" "the PCI functions with an IDE disk"
}

@test "an IDE disk in vm.yaml (interface: ide), as a qcow2 overlay on a raw base" {
	guestkit
	make_syslinux_disk base.img
	run_tool 0 "$VM_DISK" create -f qcow2 -b base.img -F raw top.qcow2
	sum=$(md5sum < base.img)
	printf 'version: 1\nmemory: 256M\nboot:\n  firmware: bios\ndisks:\n  - file: top.qcow2\n    interface: ide\n' > vm.yaml
	run_bios 0 vm.yaml
	is "$output" "*booted-42*" "guest command"
	is "$(md5sum < base.img)" "$sum" "the base image"
	run_tool 0 qemu-img check top.qcow2
}

@test "IDE: a boot sector reads the disk's last sector with LBA48 and one past it fails" {
	# A real-mode boot sector driving the ATA registers itself: READ
	# SECTORS EXT of the last sector (2047 of a 1 MiB disk), whose first
	# byte the host wrote, then of sector 2048, which must fail with ERR;
	# it exits with the byte it read, or 1 on any surprise.
	head -c 1048576 /dev/zero > ata.img
	printf '\x5a' | dd of=ata.img bs=1 seek=$((2047 * 512)) conv=notrunc status=none
	# mov dx,0x1f6; mov al,0x40; out   (LBA, master)
	# for each of HOB then current: count, lba0..2 via 0x1f2..0x1f5
	# command 0x24 at 0x1f7; poll status; read data; exit port 0x5e0.
	cat > boot.S <<-'EOF'
	.code16
	.globl _start
	_start:
		mov $0x1f6, %dx
		mov $0x40, %al
		out %al, %dx
		mov $0x07ff, %bx
		call rd
		test $0x01, %al
		jnz bad
		test $0x08, %al
		jz bad
		mov $0x1f0, %dx
		in %dx, %ax
		mov %al, %cl
		mov $255, %bp
	drain:	in %dx, %ax
		dec %bp
		jnz drain
		mov $0x0800, %bx
		call rd
		test $0x01, %al
		jz bad
		mov %cl, %al
		jmp out
	bad:	mov $1, %al
	out:	mov $0x5e0, %dx
		out %al, %dx
		hlt
	rd:	mov $0x1f2, %dx
		xor %al, %al
		out %al, %dx
		inc %dx
		out %al, %dx
		inc %dx
		out %al, %dx
		inc %dx
		out %al, %dx
		mov $0x1f2, %dx
		mov $1, %al
		out %al, %dx
		inc %dx
		mov %bl, %al
		out %al, %dx
		inc %dx
		mov %bh, %al
		out %al, %dx
		inc %dx
		xor %al, %al
		out %al, %dx
		mov $0x1f7, %dx
		mov $0x24, %al
		out %al, %dx
	poll:	in %dx, %al
		test $0x80, %al
		jnz poll
		ret
	EOF
	as --32 -o boot.o boot.S
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o boot.bin boot.o
	dd if=boot.bin of=ata.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=ata.img bs=1 seek=510 conv=notrunc status=none
	run_bios 90 --firmware bios --disk ata.img,if=ide
}

# make_isolinux_iso ISO: an El Torito (no emulation) ISO made by xorriso
# with Debian's isolinux, booting the guest kit with vmkit.run=$GUEST_CMD.
make_isolinux_iso() {
	isolinux_iso "$1" <<-EOF
	SERIAL 0 115200
	DEFAULT linux
	PROMPT 0
	TIMEOUT 0
	LABEL linux
	  KERNEL /vmlinuz
	  INITRD /initrd.gz
	  APPEND console=ttyS0 panic=-1 quiet vmkit.run="$GUEST_CMD"
	EOF
}

@test "SeaBIOS boots an isolinux ISO from an IDE CD-ROM drive (--cdrom FILE)" {
	guestkit
	make_isolinux_iso boot.iso
	sum=$(md5sum < boot.iso)
	run_bios 0 --firmware bios --cdrom boot.iso
	is "$output" "*Booting from DVD/CD...*ISOLINUX 6.*" "El Torito boot"
	is "$output" "*booted-42*" "guest command"
	is "$output" "*dsdt-oem=VMKIT*" "the guest's DSDT"
	is "$(md5sum < boot.iso)" "$sum" "the ISO"
}

@test "a CD-ROM drive in vm.yaml (media: cdrom) beside an empty IDE disk; one on virtio is refused" {
	guestkit
	make_isolinux_iso boot.iso
	head -c 1048576 /dev/zero > blank.img
	printf 'version: 1\nmemory: 256M\nboot:\n  firmware: bios\ndisks:\n  - file: blank.img\n    interface: ide\n  - file: boot.iso\n    interface: ide\n    media: cdrom\n' > vm.yaml
	run_bios 0 vm.yaml
	is "$output" "*Booting from DVD/CD...*booted-42*" "boot from the slave drive"
	run_bios 1 --firmware bios --disk boot.iso,media=cdrom
	is "$output" "*a CD-ROM drive is on IDE (interface ide)*" "error"
}

@test "the same disk as a qcow2 overlay: the guest's writes stay in the overlay" {
	guestkit
	# The guest writes a sector near the end of the disk.
	GUEST_CMD='echo overlay-hello | dd of=/dev/vda bs=512 seek=131000 conv=fsync 2>/dev/null && echo wrote-$((6*7))'
	make_syslinux_disk base.img
	run_tool 0 "$VM_DISK" create -f qcow2 -b base.img -F raw top.qcow2
	sum=$(md5sum < base.img)
	run_bios 0 --firmware bios --disk top.qcow2
	is "$output" "*wrote-42*" "guest command"
	is "$(md5sum < base.img)" "$sum" "the base image"
	run_tool 0 qemu-img check top.qcow2
	run_tool 0 qemu-io -r -c "read -v 67072000 13" top.qcow2
	is "$output" "*6f 76 65 72 6c 61 79 2d 68 65 6c 6c 6f*" "the sector as qemu-io reads it"
}

@test "fw_cfg DMA: a buffer outside RAM gets the error bit, one in RAM the item" {
	# A boot sector driving fw_cfg's DMA interface itself: reading the
	# signature item to 0xe0000000 (no RAM) must come back with the
	# error bit (1) in the control word, to 0x700 without it and with
	# "QEMU" there (0x40): exit status 0x41.
	cat > dma.S <<-'EOF'
	.code16
	.globl _start
	_start:
		xor %ax, %ax
		mov %ax, %ds
		/* control block at 0x600: select key 0 (signature), read, 4 bytes,
		 * to 0xe0000000 (no RAM there): the device must say error. */
		movl $0x0a000000, 0x600		/* BE 0x0000000a: key 0, SELECT|READ */
		movl $0x04000000, 0x604		/* BE length 4 */
		movl $0x00000000, 0x608		/* BE address high 0 */
		movl $0x000000e0, 0x60c		/* BE address low 0xe0000000 */
		mov $0x514, %dx
		xor %eax, %eax
		out %eax, %dx
		mov $0x518, %dx
		mov $0x00060000, %eax		/* BE of 0x600 */
		out %eax, %dx
		mov 0x603, %al			/* control's low byte */
		mov %al, %bl
		/* the same read into RAM at 0x700: no error, "QEMU" there */
		movl $0x0a000000, 0x600
		movl $0x00070000, 0x60c		/* BE 0x00000700 */
		mov $0x518, %dx
		mov $0x00060000, %eax
		out %eax, %dx
		mov 0x603, %al
		shl $4, %al
		or %bl, %al
		cmpl $0x554d4551, 0x700		/* "QEMU" */
		jne 1f
		or $0x40, %al
	1:	mov $0x5e0, %dx
		out %al, %dx
		hlt
	EOF
	as --32 -o dma.o dma.S
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o dma.bin dma.o
	head -c 1048576 /dev/zero > dma.img
	dd if=dma.bin of=dma.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=dma.img bs=1 seek=510 conv=notrunc status=none
	run_bios 65 --firmware bios --disk dma.img
}

@test "--bios FILE: the 128 KiB bios.bin boots the same way" {
	[ -r /usr/share/seabios/bios.bin ] || skip "no bios.bin"
	cp /usr/share/seabios/bios.bin mybios.bin
	run_bios 0 --bios mybios.bin
	is "$output" "*SeaBIOS (version 1.*No bootable device.*" "output"
}

@test "vm.yaml boot.firmware: bios, or an image relative to the file" {
	printf 'version: 1\nmemory: 128M\nboot:\n  firmware: bios\n' > vm.yaml
	run_bios 0 vm.yaml
	is "$output" "*SeaBIOS (version 1.*No bootable device.*" "output"
	mkdir vmdir
	cp "$BIOS" vmdir/my.bin
	printf 'version: 1\nmemory: 128M\nboot:\n  firmware: my.bin\n' > vmdir/vm.yaml
	run_bios 0 vmdir/vm.yaml
	is "$output" "*SeaBIOS (version 1.*No bootable device.*" "output"
}

@test "SeaBIOS installs the board's ACPI tables from etc/table-loader" {
	# SeaBIOS's own debug log (debugcon, on stderr with --log=dev) says
	# where it found the FADT and DSDT.  Without the loader it builds
	# tables of its own, which have no XSDT (it would say "via rsdt").
	run_bios 0 --firmware bios --cpus 2 --log=dev
	is "$output" "*Found QEMU fw_cfg*DMA interface supported*" "fw_cfg"
	is "$output" "*qemu/e820: addr 0x0000000000000000 len 0x0000000010000000 \[RAM\]*" "e820"
	# SeaBIOS starts the APs with INIT and SIPI back to back and spins
	# (with PAUSE) until each has checked in.
	is "$output" "*Found 2 cpu(s) max supported 2 cpu(s)*" "CPU count"
	is "$output" "*table(50434146)=* (via xsdt)*" "FADT through the XSDT"
	is "$output" "*ACPI: parse DSDT at *" "DSDT"
}

@test "a firmware image of the wrong size is refused, naming the file" {
	head -c 1000 /dev/zero > short.bin
	run_bios 1 --bios short.bin
	is "$output" "*short.bin: a firmware image is a multiple of 64 KiB*1000 bytes*" "error"
	run_bios 1 --bios missing.bin
	is "$output" "*missing.bin*" "error"
}

@test "--firmware takes bios or none" {
	run_bios 2 --firmware coreboot
	is "$output" "*--firmware: unknown firmware 'coreboot'*" "error"
}
