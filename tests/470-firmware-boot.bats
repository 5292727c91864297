#!/usr/bin/env bats
# What vm-run tells SeaBIOS through fw_cfg beyond the basics: the boot
# order (the bootorder file from boot.order / --boot-order) and the boot
# menu, a kernel through linuxboot's option ROM, SMBIOS; the PIIX3's PCI
# interrupt routing SeaBIOS programs; memtest86+ from a disk.

load helpers
load firmware

setup() {
	firmware_setup
	BIOS_MEM=64M
}

# exit_code_bin N OUT: real-mode code writing N to the vmkit exit port.
exit_code_bin() {
	printf '.code16\n.globl _start\n_start:\n\tmov $0x5e0, %%dx\n\tmov $%d, %%al\n\tout %%al, %%dx\n\thlt\n' "$1" > "$2.S"
	as --32 -o "$2.o" "$2.S"
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$2" "$2.o"
}

# A bootable disk whose boot sector exits 42 and a bootable CD (El
# Torito, no emulation) whose boot image exits 43.
make_disk_and_cd() {
	command -v xorriso >/dev/null || skip "needs xorriso"
	exit_code_bin 42 disk.bin
	head -c 1048576 /dev/zero > disk.img
	dd if=disk.bin of=disk.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=disk.img bs=1 seek=510 conv=notrunc status=none
	exit_code_bin 43 cd.bin
	mkdir -p cdroot
	head -c 2048 /dev/zero > cdroot/boot.bin
	dd if=cd.bin of=cdroot/boot.bin conv=notrunc status=none
	xorriso -as mkisofs -quiet -o cd.iso -b boot.bin -no-emul-boot \
		-boot-load-size 4 cdroot 2>/dev/null
}

@test "--boot-order picks which of a bootable IDE disk and CD-ROM boots" {
	make_disk_and_cd
	# SeaBIOS's own order (CMOS's, as QEMU's): the disk first.
	run_bios 42 --firmware bios --disk disk.img,if=ide --cdrom cd.iso
	run_bios 43 --firmware bios --disk disk.img,if=ide --cdrom cd.iso --boot-order cdrom,disk
	is "$output" "*Booting from DVD/CD*" "SeaBIOS's message"
	run_bios 42 --firmware bios --disk disk.img,if=ide --cdrom cd.iso --boot-order disk,cdrom
	# A class with nothing bootable in it is passed over.
	run_bios 43 --firmware bios --disk disk.img,if=ide --cdrom cd.iso --boot-order net,cdrom,disk
}

@test "boot.order in vm.yaml, with a virtio disk; the bootorder file names SeaBIOS's device paths" {
	make_disk_and_cd
	printf 'version: 1\nmemory: 64M\nboot:\n  firmware: bios\n  order: [cdrom, disk]\ndisks:\n  - file: disk.img\n  - file: cd.iso\n    interface: ide\n    media: cdrom\n' > vm.yaml
	run_bios 43 vm.yaml --log=boot
	# The IDE function at 01.1 (the PIIX3's), virtio-blk in slot 2.
	is "$output" "*bootorder:
/pci@i0cf8/ide@1,1/drive@0/disk@0
/pci@i0cf8/scsi@2/disk@0,0*" "the bootorder file"
	sed -i 's/order: \[cdrom, disk\]/order: [disk, cdrom]/' vm.yaml
	run_bios 42 vm.yaml
	# --boot-order wins over the file.
	run_bios 43 vm.yaml --boot-order cdrom
}

@test "boot.order and --boot-order refuse unknown and repeated devices" {
	printf 'version: 1\nboot:\n  order: [cdrom, floppy]\n' > vm.yaml
	run_tool 2 "$VM_RUN" --print-config vm.yaml
	is "$output" "*vm.yaml:3:18: boot.order: unknown boot device 'floppy' (expected disk, cdrom, net)*" "error"
	printf 'version: 1\nboot:\n  order: [disk, disk]\n' > vm.yaml
	run_tool 2 "$VM_RUN" --print-config vm.yaml
	is "$output" "*vm.yaml:3:17: boot.order: 'disk' given twice*" "error"
	printf 'version: 1\nboot:\n  order: cdrom\n' > vm.yaml
	run_tool 2 "$VM_RUN" --print-config vm.yaml
	is "$output" "*boot.order: expected a list (such as \[cdrom, disk, net\]), got a value*" "error"
	run_tool 2 "$VM_RUN" --boot-order cdrom,tape --print-config
	is "$output" "*--boot-order: unknown boot device 'tape'*" "error"
	# What parses prints back the same.
	printf 'version: 1\nboot:\n  order: [net, cdrom]\n  menu: true\n' > vm.yaml
	run_tool 0 "$VM_RUN" --print-config vm.yaml
	is "$output" "*boot:
  order: \[net, cdrom\]
  menu: true*" "printed config"
}

@test "--boot-menu (boot.menu) makes SeaBIOS offer its menu" {
	make_disk_and_cd
	run_bios 42 --firmware bios --disk disk.img
	[[ $output != *"Press ESC for boot menu"* ]]
	run_bios 42 --firmware bios --disk disk.img --boot-menu
	is "$output" "*Press ESC for boot menu.*" "the prompt"
}

@test "--firmware bios --kernel --initrd --append: SeaBIOS boots the kit through linuxboot's option ROM, before a bootable disk" {
	[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "no linuxboot_dma.bin (Debian's qemu-system-data)"
	guestkit
	make_disk_and_cd
	run_tool 0 timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--firmware bios --disk disk.img,if=ide \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append 'console=ttyS0 quiet vmkit.run="echo booted-$((6*7)); echo dsdt-oem=$(head -c 16 /sys/firmware/acpi/tables/DSDT | tail -c 6); echo cmdline: $(cat /proc/cmdline)"' </dev/null
	is "$output" "*SeaBIOS (version 1.*Booting from ROM*" "SeaBIOS ran the ROM"
	is "$output" "*booted-42*" "the kit's shell ran the command"
	is "$output" "*dsdt-oem=VMKIT*" "vm-run's ACPI tables, through the firmware"
	is "$output" "*cmdline: console=ttyS0 quiet vmkit.run=*" "the command line"
}

@test "--firmware bios --kernel refuses what is not a bzImage, naming it" {
	[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "no linuxboot_dma.bin (Debian's qemu-system-data)"
	head -c 4096 /dev/zero > notlinux
	run_tool 1 "$VM_RUN" --accel dbt -m 64M --firmware bios --kernel notlinux </dev/null
	is "$output" "*notlinux: not a Linux bzImage*" "error"
	# Shorter than a setup header, with an initrd.
	head -c 100 /dev/zero > tiny
	run_tool 1 "$VM_RUN" --accel dbt -m 64M --firmware bios --kernel tiny --initrd notlinux </dev/null
	is "$output" "*tiny*" "error"
}

# dmi_boot NAME CPUS MEM: the kit through SeaBIOS, printing what Linux's
# DMI code found and the raw tables (base64) for dmidecode on the host.
dmi_boot() {
	[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "no linuxboot_dma.bin (Debian's qemu-system-data)"
	guestkit
	run_tool 0 timeout 300 "$VM_RUN" --accel dbt --no-reboot --name "$1" \
		--cpus "$2" -m "$3" --firmware bios \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append 'console=ttyS0 quiet vmkit.run="cd /sys/class/dmi/id; for f in sys_vendor product_name product_serial product_uuid chassis_vendor bios_vendor; do echo dmi-$f=$(cat $f); done; echo type4=$(ls /sys/firmware/dmi/entries | grep -c ^4-); echo ep-begin; base64 /sys/firmware/dmi/tables/smbios_entry_point; echo ep-end; echo dmi-begin; base64 /sys/firmware/dmi/tables/DMI; echo dmi-end"' </dev/null
}

# dmi_dump OUT: the guest's entry point at offset 0 and its table at the
# address the entry point names, as dmidecode --from-dump reads them.
dmi_dump() {
	local addr
	sed -n '/^ep-begin/,/^ep-end/p' <<<"$output" | sed '1d;$d' | tr -d '\r' | base64 -d > ep.bin
	sed -n '/^dmi-begin/,/^dmi-end/p' <<<"$output" | sed '1d;$d' | tr -d '\r' | base64 -d > dmi.bin
	addr=$(od -An -tu4 -j24 -N4 ep.bin | tr -d ' ')
	cp ep.bin "$1"
	dd if=dmi.bin of="$1" bs=1 seek="$addr" conv=notrunc status=none
}

@test "SMBIOS through fw_cfg: the guest's DMI data names vmkit, the VM, its memory and CPUs; dmidecode agrees" {
	dmi_boot web 2 256M
	is "$output" "*dmi-sys_vendor=vmkit*" "system vendor"
	is "$output" "*dmi-product_name=vmkit virtual machine*" "product"
	is "$output" "*dmi-product_serial=web*" "the VM's name as serial"
	is "$output" "*dmi-chassis_vendor=vmkit*" "chassis"
	is "$output" "*dmi-bios_vendor=vmkit*" "BIOS vendor (vm-run's type 0)"
	is "$output" "*type4=2*" "a processor structure per vCPU"
	uuid_web=$(sed -n 's/^dmi-product_uuid=\([0-9a-f-]*\).*/\1/p' <<<"$output")
	[[ $uuid_web =~ ^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	is "$output" "*Machine UUID $uuid_web*" "SeaBIOS's reading of the UUID"
	# Python's uuid.uuid5(uuid.NAMESPACE_URL, "vmkit:web"), the same for
	# every VM of that name.
	is "$uuid_web" "96f6f4d5-7deb-5749-bad6-cbd6a31cc2c4" "UUID v5 of vmkit:web"
	command -v dmidecode >/dev/null || skip "no dmidecode"
	dmi_dump dump.bin
	run_tool 0 dmidecode --from-dump dump.bin
	is "$output" "*SMBIOS 2.8 present.*" "entry point"
	is "$output" "*System Information
	Manufacturer: vmkit
	Product Name: vmkit virtual machine*" "type 1"
	is "$output" "*UUID: $uuid_web*" "type 1's UUID"
	is "$output" "*Physical Memory Array*Maximum Capacity: 256 MB*" "type 16"
	is "$output" "*Memory Device*Size: 256 MB*Locator: DIMM 0*" "type 17"
	is "$output" "*Memory Array Mapped Address
	Starting Address: 0x00000000000
	Ending Address: 0x0000FFFFFFF
	Range Size: 256 MB*" "type 19"
	is "$(grep -c '^Processor Information' <<<"$output")" 2 "type 4 count"
	is "$output" "*System Boot Information*End Of Table*" "types 32 and 127"
}

@test "SMBIOS: another VM name, another UUID; CPUs and memory follow the VM" {
	dmi_boot db 1 128M
	uuid_db=$(sed -n 's/^dmi-product_uuid=\([0-9a-f-]*\).*/\1/p' <<<"$output")
	is "$output" "*type4=1*" "one vCPU"
	# Python's uuid.uuid5(uuid.NAMESPACE_URL, "vmkit:db").
	is "$uuid_db" "ab399741-910a-5828-89ea-aa2d29e08c9b" "UUID v5 of vmkit:db"
	command -v dmidecode >/dev/null || skip "no dmidecode"
	dmi_dump dump.bin
	run_tool 0 dmidecode --from-dump dump.bin
	is "$output" "*Memory Device*Size: 128 MB*" "type 17"
}

# pirq_boot APPEND: the kit through SeaBIOS with two virtio disks (slots
# 2 and 3; slot 1 is the PIIX3's) and virtio-rng (slot 4), MSI-X off so
# that all use INTx, which SeaBIOS's PIRQ programming puts on ISA IRQ 10
# (PIRQB) for the first disk and 11 for the others (PIRQC, PIRQD).
pirq_boot() {
	[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "no linuxboot_dma.bin (Debian's qemu-system-data)"
	guestkit
	head -c 1048576 /dev/urandom > data.img
	cp data.img data2.img
	run_tool 0 timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--firmware bios --kernel "$KERNEL" --initrd "$INITRD" \
		--disk data.img,format=raw --disk data2.img,format=raw \
		--append "console=ttyS0 quiet pci=nomsi $1 vmkit.run=\"echo rng=\$(head -c 64 /dev/hwrng | wc -c); echo disk=\$(md5sum < /dev/vda); grep virtio /proc/interrupts\"" </dev/null
	is "$output" "*rng=64*" "virtio-rng's requests complete"
	is "$output" "*disk=$(md5sum < data.img | cut -d' ' -f1) *" "the disk reads"
}

@test "PIIX3 PIRQ routing: PCI INTx reaches the PICs on the ISA IRQ SeaBIOS routed it to, shared" {
	# No APIC, no ACPI interrupt routing: Linux routes by SeaBIOS's $PIR
	# table and the router's PIRQ registers.
	pirq_boot "acpi=noirq noapic"
	is "$output" "* 10: * XT-PIC * virtio0*" "the disk on the PIC's IRQ 10"
	is "$output" "* 11: * XT-PIC * virtio1, virtio2*" "the second disk and the RNG sharing 11"
}

@test "PIRQ routing through the MP table's IOAPIC entries (acpi=noirq), and ACPI's _PRT GSIs as before" {
	pirq_boot "acpi=noirq"
	is "$output" "* 10: * IO-APIC * virtio0*" "IOAPIC pin 10, as the MP table says"
	is "$output" "* 11: * IO-APIC * virtio1, virtio2*" "IOAPIC pin 11, shared"
	pirq_boot ""
	is "$output" "* 18: * IO-APIC * virtio0*" "the disk (slot 2) on GSI 18, as the DSDT's _PRT says"
	is "$output" "* 16: * IO-APIC * virtio2*" "the RNG (slot 4) on GSI 16"
}

# The screen memtest86+ draws on the serial console (VT100) while its
# first pass runs; vm-run is stopped after a while (status 124).
check_memtest_screen() {
	is "$output" "*Memtest86+ v6.*" "banner"
	is "$output" "*Memory  :  128MB*" "the RAM it found"
	is "$output" "*vmkit vmkit virtual machine*" "the SMBIOS system it names"
	is "$output" "*#0  \[Address test, walking ones*" "the first test started"
	is "$output" "*Status: Testing*Pass:  0 *Errors: 0*" "the first pass, no errors"
}

@test "memtest86+ (Debian's) boots from a SYSLINUX disk through SeaBIOS and starts its first pass" {
	MT=/boot/memtest86+x64.bin
	[ -r "$MT" ] || skip "no $MT (Debian's memtest86+)"
	SYSLINUX_KERNEL=$MT SYSLINUX_APPEND=console=ttyS0,115200 \
		make_syslinux_disk mt.img
	run_tool 124 timeout 90 "$VM_RUN" --accel dbt -m 128M \
		--firmware bios --disk mt.img </dev/null
	is "$output" "*SYSLINUX 6.*" "boot loader"
	check_memtest_screen
}

@test "memtest86+ as --kernel through SeaBIOS's linuxboot ROM" {
	MT=/boot/memtest86+x64.bin
	[ -r "$MT" ] || skip "no $MT (Debian's memtest86+)"
	[ -r /usr/share/qemu/linuxboot_dma.bin ] || skip "no linuxboot_dma.bin (Debian's qemu-system-data)"
	run_tool 124 timeout 90 "$VM_RUN" --accel dbt -m 128M \
		--firmware bios --kernel "$MT" --append console=ttyS0,115200 </dev/null
	is "$output" "*Booting from ROM*" "linuxboot"
	check_memtest_screen
}

@test "--boot-order net: an e1000 boots iPXE's ROM (Debian's ipxe-qemu), which gets its NAT lease; without a NIC that has a ROM, refused or passed over with a warning" {
	firmware_setup
	[ -r /usr/lib/ipxe/qemu/pxe-e1000.rom ] || skip "no pxe-e1000.rom (Debian's ipxe-qemu)"
	run_bios 0 --firmware bios --net nat,model=e1000 --boot-order net
	output=${output//$'\r'/}
	is "$output" "*iPXE*net0: 10.0.2.15/255.255.255.0 gw 10.0.2.2*" "iPXE's DHCP through the e1000 on NAT"
	is "$output" "*No more network devices*No bootable device.*" "nothing to boot from the network, then SeaBIOS goes on"
	run_bios 1 --firmware bios --boot-order net
	is "$output" "vm-run: boot order net: no NIC with a network boot ROM (e1000 and virtio NICs get iPXE's from Debian's ipxe-qemu, /usr/lib/ipxe/qemu/pxe-e1000.rom and /usr/lib/ipxe/qemu/pxe-virtio.rom)"
	run_bios 0 --firmware bios --net none --boot-order net,disk
	is "$output" "vm-run: boot order net: no NIC with a network boot ROM*passed over*No bootable device.*"
}

@test "network boot for real: --net nat,tftp=DIR,bootfile=FILE serves iPXE a script that loads the guest kit's kernel and initramfs over TFTP, to the guest's shell" {
	firmware_setup
	guestkit
	[ -r /usr/lib/ipxe/qemu/pxe-e1000.rom ] || skip "no pxe-e1000.rom (Debian's ipxe-qemu)"
	mkdir tftp
	cp "$KERNEL" tftp/vmlinuz
	cp "$INITRD" tftp/initrd.gz
	cat > tftp/boot.ipxe <<-'EOF2'
	#!ipxe
	kernel tftp://10.0.2.2/vmlinuz console=ttyS0 panic=-1 quiet vmkit.run="echo netbooted-$((6*7))"
	initrd tftp://10.0.2.2/initrd.gz
	boot
	EOF2
	sum=$(cat tftp/* | md5sum)
	# At 256M: the kernel that iPXE starts once triple-faulted there
	# right after turning paging on (stop 17); this shows it no longer does.
	BIOS_MEM=256M run_bios 0 --firmware bios --net nat,model=e1000,tftp=tftp,bootfile=boot.ipxe --boot-order net
	output=${output//$'\r'/}
	is "$output" "*net0: 10.0.2.15/255.255.255.0 gw 10.0.2.2*" "iPXE's lease"
	is "$output" "*boot.ipxe*vmlinuz*initrd.gz*" "iPXE fetched the script, the kernel and the initramfs"
	is "$output" "*netbooted-42*" "the guest's shell ran its command"
	is "$output" "*reboot: Power down*" "power-off"
	is "$(cat tftp/* | md5sum)" "$sum" "the TFTP folder, read only"
	# The same in vm.yaml (the folder relative to the file); tftp on a
	# switch port is refused.
	printf 'version: 1\nmemory: 1G\nboot:\n  firmware: bios\n  order: [net]\nnetworks:\n  - type: nat\n    model: e1000\n    tftp: tftp\n    bootfile: boot.ipxe\n' > vm.yaml
	BIOS_MEM=1G run_bios 0 vm.yaml
	is "$output" "*netbooted-42*" "vm.yaml's tftp and bootfile"
	# A virtio NIC boots the same, through iPXE's virtio-net ROM.
	if [ -r /usr/lib/ipxe/qemu/pxe-virtio.rom ]; then
		BIOS_MEM=1G run_bios 0 --firmware bios --net nat,tftp=tftp,bootfile=boot.ipxe --boot-order net
		is "$output" "*iPXE*virtio-net*10.0.2.15*netbooted-42*" "a virtio NIC's network boot"
	fi
	run_bios 2 --firmware bios --net switch:lan0,tftp=tftp
	is "$output" "*--net switch:lan0,tftp=tftp: tftp is for nat*" "error"
	run_bios 1 --firmware bios --net nat,model=e1000,tftp=nowhere --boot-order net
	is "$output" "*tftp=nowhere: not a directory*" "error"
}
