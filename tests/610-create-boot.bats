#!/usr/bin/env bats
# Bundles vm-create makes for firmware boot, run by vm-run as they are:
# the windows template (IDE disk, e1000 on NAT, VGA console, 2 CPUs,
# 4G) with a bootable SYSLINUX disk from tests/firmware.bash as its
# system disk, driven on the VGA console through tmux; the linux
# (virtio disk) and other (IDE) templates' bundles with that disk on the
# serial console; a VMware .vmx
# whose IDE disk is a VMDK qemu-img converted from such a disk,
# imported in place and converted to qcow2.  SeaBIOS on the DBT in each.

load helpers
load firmware
load vga

setup() {
	firmware_setup
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	TM="vmkit-create-$$-$BATS_TEST_NUMBER"
}

@test "windows template: SeaBIOS boots its IDE disk to the guest kit's shell on the VGA console; 2 CPUs, the disk on ata_piix, e1000 with a NAT lease" {
	[ -r /usr/share/seabios/vgabios-stdvga.bin ] ||
		skip "no vgabios-stdvga.bin (Debian's seabios package)"
	command -v tmux >/dev/null || skip "needs tmux"
	run_tool 0 "$VM_CREATE" --os windows win --disk 64M,format=raw
	# The bootable disk takes the place of the template's empty one.
	SYSLINUX_CONSOLE=tty0 SYSLINUX_MORE=vmkit.modules=e1000,ata_piix,sd_mod \
		make_syslinux_disk boot.img
	cp boot.img win/disk0.raw
	tmux_run --accel dbt --no-reboot win
	wait_screen "SeaBIOS (version 1."
	wait_screen "~ #" 300
	tm send-keys 'echo cpus=$(nproc)-sda=$(cat /sys/block/sda/size)-$(basename $(readlink /sys/class/net/eth0/device/driver))' Enter
	wait_screen "cpus=2-sda=131072-e1000"
	# Up, then DHCP once the link has its carrier.
	tm send-keys 'ip link set eth0 up; until grep -q 1 /sys/class/net/eth0/carrier; do sleep 0.2; done' Enter
	tm send-keys 'udhcpc -i eth0 -n -q -s /bin/true 2>&1 | grep -o "lease of [0-9.]*"' Enter
	wait_screen "lease of 10.0.2.15" 120
	tm send-keys 'dd if=/dev/sda bs=512 count=1 2>/dev/null | md5sum' Enter
	wait_screen "$(head -c 512 boot.img | md5sum | cut -d' ' -f1)"
	tm send-keys 'poweroff -f' Enter
	wait_exit 0 120
	cmp boot.img win/disk0.raw
}

@test "linux and other templates without a kernel: SeaBIOS boots the bundle's disk (virtio for linux, IDE for other) to the guest shell" {
	GUEST_CMD='echo disks=$(ls /sys/block) sum=$((6*7))' \
	SYSLINUX_MORE=vmkit.modules=ata_piix,sd_mod make_syslinux_disk boot.img
	run_tool 0 "$VM_CREATE" lin --disk 64M,format=raw
	run_tool 0 "$VM_CREATE" --os other oth --disk 64M,format=raw
	for b in lin oth; do cp boot.img $b/disk0.raw; done
	run_tool 0 "$VM_RUN" --print-config lin
	is "$output" "*firmware: bios*interface: virtio*" "the linux template: BIOS, a virtio disk"
	run_bios 0 lin
	is "$output" "*SeaBIOS (version 1.*SYSLINUX 6.*disks=vda sum=42*" "the linux bundle: SeaBIOS boots its virtio disk"
	run_tool 0 "$VM_RUN" --print-config oth
	is "$output" "*firmware: bios*interface: ide*model: e1000*" "the other template: BIOS, IDE, e1000"
	run_bios 0 oth
	is "$output" "*SeaBIOS (version 1.*SYSLINUX 6.*disks=sda sum=42*" "the other bundle: SeaBIOS boots its IDE disk"
	cmp boot.img lin/disk0.raw
}

# vmx_of DIR DISK: a VMware Workstation .vmx (a Linux guest) with DISK as
# its IDE disk ide0:0 and a NAT e1000.
vmx_of() {
	cat > "$1/vm.vmx" <<-EOF
	.encoding = "UTF-8"
	config.version = "8"
	displayName = "oldbox"
	guestOS = "debian11-64"
	memsize = "512"
	numvcpus = "1"
	ide0:0.present = "TRUE"
	ide0:0.fileName = "$2"
	ethernet0.present = "TRUE"
	ethernet0.connectionType = "nat"
	ethernet0.virtualDev = "e1000"
	EOF
}

@test "a .vmx whose IDE disk is a VMDK qemu-img converted from a bootable disk imports and boots to the guest shell, in place and --convert qcow2" {
	command -v qemu-img >/dev/null || skip "needs qemu-img"
	GUEST_CMD='echo sda=$(cat /sys/block/sda/size) sum=$((6*7))' \
	SYSLINUX_MORE=vmkit.modules=ata_piix,sd_mod make_syslinux_disk boot.img
	mkdir vmw
	qemu-img convert -O vmdk boot.img vmw/oldbox.vmdk
	vmx_of vmw oldbox.vmdk
	sum=$(md5sum < vmw/oldbox.vmdk)
	run_tool 0 "$VM_CREATE" --import vmw/vm.vmx
	run_tool 0 "$VM_RUN" --print-config oldbox
	is "$output" "*firmware: bios*format: vmdk*interface: ide*model: e1000*" "BIOS, the VMDK on IDE as in the .vmx, an e1000"
	run_bios 0 oldbox
	is "$output" "*SeaBIOS (version 1.*SYSLINUX 6.*sda=131072 sum=42*" "SeaBIOS, SYSLINUX, the guest's command"
	is "$(md5sum < vmw/oldbox.vmdk)" "$sum" "the VMDK as it was"
	qemu-img check -q vmw/oldbox.vmdk
	run_tool 0 "$VM_CREATE" --import vmw/vm.vmx --convert qcow2 conv
	qemu-img compare -q boot.img conv/disk0.qcow2
	run_bios 0 conv
	is "$output" "*SYSLINUX 6.*sda=131072 sum=42*" "the converted disk boots too"
}
