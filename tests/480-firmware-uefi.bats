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
load net

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

# type_at STATUS PATTERN TEXT VM-RUN-ARGS...: vm-run on the DBT, its
# console in out.log; once PATTERN is there, TEXT is typed on the serial
# console; the run's status must be STATUS; $output is the console.
type_at() {
	local want=$1 pat=$2 text=$3 st=0 pid; shift 3
	rm -f in; mkfifo in
	timeout 400 "$VM_RUN" --accel dbt --no-reboot "$@" <in >out.log 2>&1 &
	pid=$!
	exec 4>in
	wait_for out.log "$pat" 300 || { kill $pid; exec 4>&-; false; }
	printf "$text" >&4
	wait $pid || st=$?
	exec 4>&-
	output=$(cat out.log)
	[ "$st" = "$want" ] || { echo "# status $st, not $want" >&3; false; }
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

@test "Linux after OVMF has ACPI from the table-loader (FADT, DSDT), and poweroff -f goes through ACPI S5" {
	guestkit
	# efi=noruntime: no EFI ResetSystem for the kernel to fall back on,
	# so only the FADT's PM1a control block powers the VM off.
	run_bios 0 -v --firmware uefi --kernel "$KERNEL" --initrd "$INITRD" \
		--append 'console=ttyS0 panic=-1 quiet efi=noruntime vmkit.run="echo tables: $(ls /sys/firmware/acpi/tables) end; dmesg | grep -e ACPI: -e ACPI.Error | grep -e Unable -e supports -e Error"'
	is "$output" "*vmkit-guest: ready*" "the kit's shell"
	is "$output" "*tables: APIC DSDT FACP FACS *end*" "the tables Linux found"
	is "$output" "*ACPI: PM: (supports S0 S5)*" "ACPI's sleep states"
	[[ $output != *"ACPI: Unable to"* ]]
	[[ $output != *"ACPI Error"* ]]
	is "$output" "*reboot: Power down*vm-run: ACPI power off (S5)*" "the power-off"
}

@test "OVMF's reset -s powers the VM off through the PM block OVMF placed (PMBA 0xb000); the shell's countdown and stall run" {
	make_esp esp.img 'echo before-stall' 'stall 1000000' 'echo after-stall' 'reset -s'
	run_bios 0 -v --firmware uefi --disk esp.img
	# The countdown ticks on OVMF's APIC timer, stall on the PM timer.
	is "$output" "*in 5 seconds*in 1 seconds*" "the startup.nsh countdown"
	is "$output" "*before-stall*stall 1000000*after-stall*" "stall returned"
	is "$output" "*reset -s*vm-run: ACPI power off (S5)*" "the power-off"
}

@test "keys typed on the serial console reach OVMF's shell, which polls the UART" {
	make_esp esp.img 'echo no-startup-script'
	# OVMF drops what it read before its prompt: type at the prompt.
	type_at 44 'Shell> ' 'set -v vk typed\recho got-%%vk%%\rmm 5e0 2c -IO -w 1 -n\r' \
		-m 256M --firmware uefi --disk esp.img
	is "$output" "*got-typed*" "the shell's echo of the variable set"
}

@test "OVMF boots GRUB (Debian's grub-efi-amd64-bin) from an ESP's \\EFI\\BOOT\\BOOTX64.EFI, and GRUB the guest kit's kernel and initramfs" {
	[ -d /usr/lib/grub/x86_64-efi ] && command -v grub-mkimage >/dev/null ||
		skip "needs grub-efi-amd64-bin and grub-common"
	guestkit
	grub-mkimage -O x86_64-efi -o BOOTX64.EFI -p /EFI/BOOT \
		part_msdos fat normal linux echo
	cat > grub.cfg <<-'EOF'
	set timeout=0
	echo "grub: loading the kit"
	linux /vmlinuz console=ttyS0 panic=-1 quiet
	initrd /initrd.gz
	boot
	EOF
	truncate -s 63M esp.part
	mformat -i esp.part -F ::
	mmd -i esp.part ::/EFI ::/EFI/BOOT
	mcopy -i esp.part BOOTX64.EFI grub.cfg ::/EFI/BOOT/
	mcopy -i esp.part "$KERNEL" ::/vmlinuz
	mcopy -i esp.part "$INITRD" ::/initrd.gz
	truncate -s 64M esp.img
	echo 'start=2048, type=ef' | sfdisk -q esp.img
	dd if=esp.part of=esp.img bs=1M seek=1 conv=notrunc status=none
	# GRUB 2.06 runs out of memory loading the kernel at 256M, under
	# QEMU 7.2's TCG with its OVMF.fd too; both load it at 288M.  (GRUB
	# escapes the quotes of a vmkit.run=, so the commands are typed.)
	type_at 0 'vmkit-guest: ready' 'echo grub-booted-efi$(cat /sys/firmware/efi/fw_platform_size); cat /proc/cmdline; poweroff -f\n' \
		-m 1G --firmware uefi --disk esp.img
	is "$output" "*BdsDxe: starting Boot0001 \"UEFI Misc Device\"*" "OVMF's removable-media boot"
	is "$output" "*grub: loading the kit*" "GRUB's grub.cfg"
	is "$output" "*vmkit-guest: ready*" "the kit's shell"
	is "$output" "*grub-booted-efi64*" "Linux on 64-bit UEFI"
	is "$output" "*BOOT_IMAGE=/vmlinuz console=ttyS0*" "the command line GRUB gave"
}

@test "a VMware .vmx with firmware = \"efi\", imported by vm-create, runs under OVMF, which boots its VMDK's ESP" {
	command -v qemu-img >/dev/null || skip "needs qemu-img"
	make_esp esp.img 'echo vmx-ran' 'mm 5e0 6 -IO -w 1 -n'
	mkdir vmw
	qemu-img convert -f raw -O vmdk esp.img vmw/esp.vmdk
	printf '%s\n' '.encoding = "UTF-8"' 'displayName = "efi box"' \
		'guestOS = "debian11-64"' 'memsize = "256"' 'numvcpus = "1"' \
		'firmware = "efi"' 'scsi0.present = "TRUE"' \
		'scsi0:0.present = "TRUE"' 'scsi0:0.fileName = "esp.vmdk"' \
		> vmw/box.vmx
	run_tool 0 "$VM_CREATE" --import vmw/box.vmx box
	is "$(cat box/vm.yaml)" "*firmware: uefi*" "boot.firmware"
	run_bios 6 box
	is "$output" "*vmx-ran*" "startup.nsh ran"
	[ -s box/uefi-vars.fd ]
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
