#!/usr/bin/env bats
# UEFI firmware boot: Debian's OVMF (the ovmf package: OVMF_CODE_4M.fd
# as ROM at the top of 4 GiB, the VM's own copy of OVMF_VARS_4M.fd as
# CFI flash below it) on the DBT.  The judges: OVMF's own shell (it runs
# startup.nsh from an EFI system partition that mtools made, and its
# dmpstore reads back what its setvar wrote in an earlier run) and the
# guest kit's Debian kernel, loaded by OVMF from fw_cfg.  The shell's
# `mm 5e0 N -IO` writes vmkit's exit port: vm-run's status is N.

load helpers
load firmware

G=5d3c1f3a-7b2e-4c21-9a57-766d6b697421

setup() {
	[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] &&
		[ -r /usr/share/OVMF/OVMF_VARS_4M.fd ] ||
		skip "no /usr/share/OVMF (Debian's ovmf package)"
	command -v mcopy >/dev/null && command -v sfdisk >/dev/null ||
		skip "needs mtools and fdisk"
	cd "$BATS_TEST_TMPDIR"
}

# make_esp IMG SCRIPT: a 34 MiB raw disk, one EFI system partition (type
# ef) from 1 MiB, FAT holding startup.nsh with SCRIPT's lines.
make_esp() {
	local img=$1 part=$1.part
	rm -f "$part" "$img"
	truncate -s 33M "$part"
	mformat -i "$part" -F ::
	printf '%s\r\n' "${@:2}" > startup.nsh
	mcopy -i "$part" startup.nsh ::
	truncate -s 34M "$img"
	echo 'start=2048, type=ef' | sfdisk -q "$img"
	dd if="$part" of="$img" bs=1M seek=1 conv=notrunc status=none
	rm -f "$part"
}

@test "OVMF boots to its shell, which runs startup.nsh from a virtio disk's EFI system partition" {
	make_esp esp.img 'echo shell-ran' 'pci' 'mm 5e0 2a -IO -w 1 -n'
	run_bios 42 --firmware uefi --disk esp.img
	is "$output" "*UEFI Interactive Shell v2.*" "OVMF's shell"
	is "$output" "*FS0:*Alias(s):*PciRoot(0x0)/Pci(0x2,0x0)/HD(1,MBR,*" "the ESP mapped as FS0"
	is "$output" "*shell-ran*" "startup.nsh ran"
	# The PIIX3's IDE function is there with no disk on IDE (as on
	# QEMU's pc), and OVMF finds its empty channels empty: no block
	# device of its own in the mapping table.
	is "$output" "*00   00   01    01 ==> *IDE controller*Vendor 8086 Device 7010 Prog Interface 80*" "the IDE function in the shell's pci list"
	map=$(sed -n '/Mapping table/,/startup.nsh/p' <<<"$output")
	is "$map" "*BLK0:*" "the mapping table"
	[[ $map != *"Pci(0x1,0x1)"* ]]
}

@test "OVMF boots an EFI system partition on an IDE disk (primary master; the slave and the secondary channel empty)" {
	make_esp esp.img 'echo ide-ran' 'mm 5e0 2b -IO -w 1 -n'
	run_bios 43 --firmware uefi --disk esp.img,if=ide
	is "$output" "*FS0:*Alias(s):*PciRoot(0x0)/Pci(0x1,0x1)/Ata(0x0)/HD(1,MBR,*" "the ESP on the IDE master as FS0"
	is "$output" "*ide-ran*" "startup.nsh ran"
	# One ATA device: OVMF saw no drive on the three empty places.
	map=$(sed -n '/Mapping table/,/startup.nsh/p' <<<"$output")
	[[ $map != *"BLK2:"* ]] && [[ $map != *"Ata(0x1)"* ]]
}

@test "--firmware uefi --kernel: OVMF's fw_cfg loader boots the guest kit's kernel to its shell; ata_piix finds the empty IDE channels" {
	guestkit
	run_bios 0 --firmware uefi --kernel "$KERNEL" --initrd "$INITRD" \
		--append 'console=ttyS0 panic=-1 quiet vmkit.modules=ata_piix vmkit.run="echo booted-$((6*7)); echo efi-bits=$(cat /sys/firmware/efi/fw_platform_size); echo ports: $(ls /sys/class/ata_port); echo blocks: $(ls /sys/block) end; echo bios=$(cat /sys/class/dmi/id/bios_version)"'
	is "$output" "*vmkit-guest: ready*" "the kit's shell"
	is "$output" "*booted-42*" "guest command"
	is "$output" "*efi-bits=64*" "booted by 64-bit UEFI"
	# ata_piix drives the IDE function's two channels and finds no disk.
	is "$output" "*ports: ata1 ata2*" "the two IDE channels"
	is "$output" "*blocks: end*" "no disk on them"
	# SMBIOS's BIOS structure names the firmware that ran.
	is "$output" "*bios=OVMF (vmkit *)*" "the DMI BIOS version"
}

@test "a bundle's variable store: made from the template, and a variable the guest sets is there the next run" {
	mkdir b
	printf 'memory: 256M\nboot:\n  firmware: uefi\ndisks:\n  - file: esp.img\n' > b/vm.yaml
	make_esp b/esp.img "setvar VmkitTest -guid $G -nv -bs -rt =L\"kept\"" \
		'mm 5e0 1 -IO -w 1 -n'
	run_bios 1 b
	[ "$(stat -c %s b/uefi-vars.fd)" = "$(stat -c %s /usr/share/OVMF/OVMF_VARS_4M.fd)" ]
	! cmp -s b/uefi-vars.fd /usr/share/OVMF/OVMF_VARS_4M.fd
	make_esp b/esp.img "dmpstore VmkitTest -guid $G" 'mm 5e0 2 -IO -w 1 -n'
	run_bios 2 b
	is "$output" "*Variable*NV+RT+BS*'*${G^^}*:*VmkitTest*' DataSize = 0x08*" "dmpstore"
	is "$output" "*k.e.p.t.*" "the value"
	# Without a vm.yaml the store lives in memory for one run.
	make_esp esp.img "dmpstore VmkitTest -guid $G" 'mm 5e0 3 -IO -w 1 -n'
	run_bios 3 --firmware uefi --disk esp.img
	is "$output" "*No matching variables found*" "a fresh store"
}

@test "a variable store of the wrong size is refused, naming the file, and left as it was" {
	mkdir b
	printf 'boot:\n  firmware: uefi\n' > b/vm.yaml
	head -c 8192 /dev/urandom > b/uefi-vars.fd
	cp b/uefi-vars.fd before.fd
	run_bios 1 b
	is "$output" "*b/uefi-vars.fd: 8192 bytes, but the firmware's variable store*is 540672*" "error"
	cmp b/uefi-vars.fd before.fd
	head -c 1000 /dev/zero > b/uefi-vars.fd
	run_bios 1 b
	is "$output" "*uefi-vars.fd: a UEFI variable store is a multiple of 4 KiB*1000 bytes*" "error"
}

@test "a vm-create --firmware uefi bundle runs: OVMF boots its qcow2 disk's ESP and the bundle gets its store" {
	command -v qemu-img >/dev/null || skip "needs qemu-img"
	run_tool 0 "$VM_CREATE" b --firmware uefi --memory 256M --disk 64M --net none
	make_esp esp.img 'echo bundle-ran' 'mm 5e0 5 -IO -w 1 -n'
	qemu-img convert -f raw -O qcow2 esp.img b/disk0.qcow2
	run_bios 5 b
	is "$output" "*bundle-ran*" "startup.nsh ran"
	[ -s b/uefi-vars.fd ]
}
