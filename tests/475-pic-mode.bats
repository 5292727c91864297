#!/usr/bin/env bats
# The PIIX3 functions where QEMU and the i440FX boards have them, and PCI
# interrupts for a guest in PIC mode: Linux booted with noapic (ACPI
# PIC mode: \_PIC(0), the _PRT through the interrupt link devices
# LNKA..LNKD, their _SRS programming the PIIX3's PIRQ routing) and
# pci=nomsi (so virtio cannot go around INTx with MSI-X), on the DBT.
# The guest kit's virtio disk reads what the host wrote and its e1000
# gets a lease on NAT, with the interrupts counted on XT-PIC lines;
# iasl disassembles the DSDT the guest read and compiles it back without
# an error or warning.  Direct
# boot (the links start disabled) and through SeaBIOS (which programs
# PIRQRC first).

load helpers
load firmware

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	cd "$BATS_TEST_TMPDIR"
	head -c 409600 /dev/urandom > data.img
	SUM=$(md5sum < data.img | cut -d' ' -f1)
}

# What the guest prints: the data disk's checksum, the lease, the
# interrupt lines of virtio and eth0, the links Linux enabled (no double
# quotes: it goes into a syslinux.cfg's vmkit.run="...").
CHECK=$(cat <<'EOF'
dd if=/dev/vda bs=4k count=100 2>/dev/null | md5sum | sed s/^/vda=/
ip link set eth0 up
until grep -q 1 /sys/class/net/eth0/carrier; do sleep 0.2; done
udhcpc -i eth0 -n -q -s /bin/true 2>&1 | grep -o 'lease of [0-9.]*'
grep -E 'virtio0|eth0' /proc/interrupts | sed 's/^ *[0-9]*: *[0-9]* */irq=/'
dmesg | grep -o -E 'LNK.(: Enabled at| configured for) IRQ [0-9]*'
EOF
)

@test "noapic pci=nomsi, direct boot: the virtio disk and the e1000 work on XT-PIC lines through the link devices; iasl reads the DSDT" {
	command -v iasl >/dev/null || skip "needs iasl (acpica-tools)"
	run_tool '?' timeout 600 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet noapic pci=nomsi vmkit.modules=e1000" \
		--disk data.img,readonly=on --net nat,model=e1000 <<-EOF
	stty -echo
	$CHECK
	echo =DSDT=; base64 /sys/firmware/acpi/tables/DSDT; echo =END=
	poweroff -f
	EOF
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status"
	is "$output" "*vda=$SUM*" "the virtio disk's data"
	is "$output" "*lease of 10.0.2.15*" "the e1000's DHCP lease"
	is "$output" "*irq=XT-PIC*virtio0*" "virtio on the PIC"
	is "$output" "*irq=XT-PIC*eth0*" "the e1000 on the PIC"
	is "$output" "*LNKA configured for IRQ 0*" "the links start disabled (_STA)"
	is "$output" "*LNK?: Enabled at IRQ 1[01]*" "Linux enabled a link (its _SRS)"
	[[ $output != *"ACPI Error"* && $output != *"ACPI BIOS Error"* ]]
	awk '/^=END=$/ {f = 0} f {print} /=DSDT=$/ {f = 1}' <<<"$output" |
		base64 -d > dsdt.aml
	# iasl disassembles it and compiles the result back cleanly.
	run_tool 0 iasl -d dsdt.aml
	run_tool 0 iasl -p again dsdt.dsl
	is "$output" "*Compilation successful. 0 Errors, 0 Warnings*" "iasl's compile of the disassembly"
	run cat dsdt.dsl
	is "$output" "*Device (LNKA)*PNP0C0F*Method (_SRS, 1*" "LNKA with _SRS"
	is "$output" "*Method (_PRT*PICF*" "_PRT picks by the interrupt model"
}

@test "noapic pci=nomsi through SeaBIOS: the links as SeaBIOS programmed them, the virtio disk and the e1000 work" {
	firmware_setup
	GUEST_CMD="$(tr '\n' ';' <<<"$CHECK" | sed 's/;$//')" \
	SYSLINUX_MORE="noapic pci=nomsi vmkit.modules=e1000" \
		make_syslinux_disk boot.img
	run_bios 0 --firmware bios --disk boot.img,if=ide --disk data.img,readonly=on \
		--net nat,model=e1000
	output=${output//$'\r'/}
	is "$output" "*SYSLINUX 6.*" "SeaBIOS booted the disk"
	is "$output" "*LNK? configured for IRQ 1[01]*" "a link as SeaBIOS routed it (_CRS)"
	is "$output" "*vda=$SUM*" "the virtio disk's data"
	is "$output" "*lease of 10.0.2.15*" "the e1000's DHCP lease"
	is "$output" "*irq=XT-PIC*virtio0*" "virtio on the PIC"
	is "$output" "*irq=XT-PIC*eth0*" "the e1000 on the PIC"
	[[ $output != *"ACPI Error"* && $output != *"ACPI BIOS Error"* ]]
}

@test "the PCI layout of QEMU's pc machine and real i440FX boards: 00.0 host bridge, 01.0 PIIX3 ISA (multi-function), 01.1 IDE, 01.3 PM" {
	head -c 1048576 /dev/zero > ide.img
	run_tool '?' timeout 600 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=ata_piix,sd_mod" \
		--disk ide.img,if=ide --disk data.img,readonly=on <<-'EOF'
	stty -echo
	cd /sys/bus/pci/devices
	for d in *; do echo "pci $d $(cat $d/vendor):$(cat $d/device) $(cat $d/class)"; done
	echo "hdr $(dd if=0000:00:01.0/config bs=1 skip=14 count=1 2>/dev/null | od -An -tx1)"
	echo "ide $(basename $(readlink 0000:00:01.1/driver)) sda=$(cat /sys/block/sda/size)"
	dmesg | grep -o 'claimed by PIIX4 ACPI'
	poweroff -f
	EOF
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status"
	is "$output" "*pci 0000:00:00.0 0x8086:0x1237 0x060000
pci 0000:00:01.0 0x8086:0x7000 0x060100
pci 0000:00:01.1 0x8086:0x7010 0x010180
pci 0000:00:01.3 0x8086:0x7113 0x068000
pci 0000:00:02.0 0x1af4:0x1042*" "the functions, then the disks from slot 2"
	is "$output" "*hdr  80*" "01.0 is a multi-function device"
	is "$output" "*ide ata_piix sda=2048*" "Linux's ata_piix drives the IDE function"
	is "$output" "*claimed by PIIX4 ACPI*" "Linux finds the PM block through 01.3's PMBA"
}
