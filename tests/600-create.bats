#!/usr/bin/env bats
# vm-create: bundles for each --os template that vm-run reads back
# (vm-run --print-config), a direct-boot bundle that boots the guest kit
# to its shell, a VMware .vmx with VMDKs made by qemu-img, a cloud-init
# seed ISO read by xorriso and blkid, and bad input that gets its error,
# exit 1 or 2, and leaves nothing behind.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The directory listing, hidden entries included: what "nothing left
# behind" is checked against.
listing() { ls -A "${1:-.}" | sort | tr '\n' ' '; }

# yaml_of BUNDLE: the bundle's configuration as vm-run reads it.
yaml_of() {
	run_tool 0 "$VM_RUN" --print-config "$1"
}

@test "linux template: a qcow2 disk qemu-img checks, virtio devices, one NAT NIC" {
	run_tool 0 "$VM_CREATE" web --disk 64M
	[ -f web/vm.yaml ]
	is "$(listing)" "web " "only the bundle is made"
	yaml_of web
	is "$output" "*name: web*" "name from NAME"
	is "$output" "*memory: 1G*cpus: 1*" "the Linux template's memory and CPUs"
	is "$output" "*firmware: bios*" "BIOS without a kernel"
	is "$output" "*file: web/disk0.qcow2*format: qcow2*interface: virtio*" "the disk"
	is "$output" "*type: nat*model: virtio*" "a virtio NIC on NAT"
	[[ $output != *console:* ]]
	qemu-img check -q web/disk0.qcow2
	is "$(qemu-img info --output=json web/disk0.qcow2 | jq -r '.format, ."virtual-size"' | tr '\n' ' ')" \
		"qcow2 67108864 " "qemu-img's view of the new disk"
}

@test "windows template: IDE disks, e1000, VGA console, 4G and 2 CPUs" {
	run_tool 0 "$VM_CREATE" --os windows win --disk 1G,format=raw --disk 2M
	yaml_of win
	is "$output" "*memory: 4G*cpus: 2*" "memory and CPUs"
	is "$output" "*file: win/disk0.raw*format: raw*interface: ide*" "the raw system disk"
	is "$output" "*file: win/disk1.qcow2*format: qcow2*interface: ide*" "the second disk"
	is "$output" "*model: e1000*" "an e1000 NIC"
	is "$output" "*console: vga*" "the VGA console"
	is "$output" "*rtc: localtime*" "the RTC in local time"
	is "$(qemu-img info --output=json win/disk0.raw | jq -r '.format, ."virtual-size"' | tr '\n' ' ')" \
		"raw 1073741824 " "qemu-img's view of the raw disk"
	qemu-img check -q win/disk1.qcow2
}

@test "other template, and flags win over any template" {
	run_tool 0 "$VM_CREATE" --os other box --firmware uefi
	yaml_of box
	is "$output" "*memory: 512M*cpus: 1*firmware: uefi*model: e1000*" "the other template"
	run_tool 0 "$VM_CREATE" --os windows w2 -m 2G -c 3 --disk 8M,if=virtio \
		--net switch:lan0,model=virtio,mac=52:54:00:00:00:07 --net nat
	yaml_of w2
	is "$output" "*memory: 2G*cpus: 3*" "--memory and --cpus"
	is "$output" "*interface: virtio*" "if=virtio"
	is "$output" "*switch:lan0*model: virtio*52:54:00:00:00:07*nat*model: e1000*" "both NICs as given"
	# A tap NIC is written as asked and vm-run reads it back.
	run_tool 0 "$VM_CREATE" t1 --net tap:tap9
	grep -q 'tap:tap9' t1/vm.yaml
	run_tool 0 "$VM_RUN" --print-config t1
	is "$output" "*type: \"tap:tap9\"*" "vm-run takes the tap network"
	run_tool 0 "$VM_CREATE" nonet --net none
	yaml_of nonet
	[[ $output != *networks:* ]]
}

@test "--print writes the YAML and makes nothing; vm-run reads what it printed" {
	run_tool 0 "$VM_CREATE" --print solo --memory 64M --kernel "$GUESTS/hello.elf" --append 'a="b c" #d'
	is "$(listing)" "" "nothing made"
	printf '%s\n' "$output" > solo.yaml
	yaml_of solo.yaml
	is "$output" "*memory: 64M*kernel: $GUESTS/hello.elf*" "memory and the kernel, absolute"
	grep -qF 'cmdline: "a=\"b c\" #d"' solo.yaml
}

@test "a bundle runs under vm-run NAME: a multiboot kernel" {
	ACCEL=$(usable_accels | head -1)
	[ -n "$ACCEL" ] || skip "no usable CPU back end"
	run_tool 0 "$VM_CREATE" hello --memory 16M --kernel "$GUESTS/hello.elf" --net none
	run_tool 0 timeout 20 "$VM_RUN" --accel "$ACCEL" hello
	is "$output" "*hello from a multiboot guest*"
}

@test "a Makefile builds the bundle from its kernel, boots it, and remakes it only when the kernel changes" {
	ACCEL=$(usable_accels | head -1)
	[ -n "$ACCEL" ] || skip "no usable CPU back end"
	cp "$GUESTS/hello.elf" kernel.elf
	touch -d '-10 min' kernel.elf
	# As in vm-create(1)'s EXAMPLES, with the multiboot test guest.
	printf '%s\n' 'vm/vm.yaml: kernel.elf' \
		'	$(VM_CREATE) vm --force --memory 16M --kernel kernel.elf --net none' \
		'boot: vm/vm.yaml' \
		"	\$(VM_RUN) --accel $ACCEL vm" \
		'.PHONY: boot' > Makefile
	run_tool 0 make -s boot VM_CREATE="$VM_CREATE" VM_RUN="$VM_RUN"
	is "$output" "*hello from a multiboot guest*" "the guest ran"
	run_tool 0 make -q vm/vm.yaml VM_CREATE="$VM_CREATE"
	touch kernel.elf
	run_tool 1 make -q vm/vm.yaml VM_CREATE="$VM_CREATE"
	run_tool 0 make -s vm/vm.yaml VM_CREATE="$VM_CREATE"
	run_tool 0 make -q vm/vm.yaml VM_CREATE="$VM_CREATE"
	is "$(listing)" "Makefile kernel.elf vm " "no leftovers from --force"
}

@test "dbt: a direct-boot bundle boots the guest kit to its shell, its new disk as /dev/vda" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	run_tool 0 "$VM_CREATE" kit -m 256M --kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet" --disk 48M
	run_tool '?' timeout 900 "$VM_RUN" --accel dbt --no-reboot kit <<-'EOF'
	stty -echo
	echo "sectors=$(cat /sys/block/vda/size) sum=$((6*7))"
	echo from-the-guest | dd of=/dev/vda bs=4096 seek=2 conv=sync,fsync 2>/dev/null
	poweroff -f
	EOF
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*sectors=98304 sum=42*" "the shell ran; the 48M disk is /dev/vda"
	qemu-img check -q kit/disk0.qcow2
	qemu-img convert -O raw kit/disk0.qcow2 disk.raw
	is "$(dd if=disk.raw bs=4096 skip=2 count=1 status=none | head -c 14)" \
		from-the-guest "the guest's write, read by qemu-img"
}

@test "--rtc localtime: the guest's RTC keeps the host's local time; UTC otherwise" {
	ACCEL=$(usable_accels | head -1)
	[ -n "$ACCEL" ] || skip "no usable CPU back end"
	run_tool 0 "$VM_CREATE" loc --memory 16M --kernel "$GUESTS/rtc-hour.elf" --rtc localtime
	run_tool 0 "$VM_CREATE" utc --memory 16M --kernel "$GUESTS/rtc-hour.elf"
	# The guest exits with the RTC's BCD hours; TZ puts the host 5 hours
	# east of UTC.  Either of two hours, in case the hour turns meanwhile.
	bcd() { echo $(( 0x$(printf '%02d' $(( ($1) % 24 ))) )); }
	h=$(date -u +%-H)
	TZ=Etc/GMT-5 run_tool '?' timeout 20 "$VM_RUN" --accel "$ACCEL" loc
	[ "$status" -eq "$(bcd $h+5)" ] || [ "$status" -eq "$(bcd $h+6)" ] ||
		{ echo "# local: status $status, UTC hour $h" >&3; false; }
	TZ=Etc/GMT-5 run_tool '?' timeout 20 "$VM_RUN" --accel "$ACCEL" utc
	[ "$status" -eq "$(bcd $h)" ] || [ "$status" -eq "$(bcd $h+1)" ] ||
		{ echo "# utc: status $status, UTC hour $h" >&3; false; }
}

@test "an existing bundle is refused byte for byte unless --force; --force never replaces a non-bundle" {
	run_tool 0 "$VM_CREATE" web --disk 1M
	before=$(cd web && md5sum vm.yaml disk0.qcow2)
	run_tool 1 "$VM_CREATE" web --disk 2M --os windows
	is "$output" "vm-create: web: a bundle of that name exists (--force replaces it)"
	is "$(cd web && md5sum vm.yaml disk0.qcow2)" "$before" "the old bundle untouched"
	is "$(listing)" "web " "nothing else left"
	echo keep > web/notes.txt
	run_tool 0 "$VM_CREATE" web --force --os windows --disk 2M
	yaml_of web
	is "$output" "*memory: 4G*" "the new bundle"
	is "$(listing web)" "disk0.qcow2 vm.yaml " "the old bundle's files are gone"
	is "$(listing)" "web " "no temporary or old directory left"
	mkdir mine && echo precious > mine/file
	run_tool 1 "$VM_CREATE" --force mine
	is "$output" "*mine: exists and is not a VM bundle (no vm.yaml): not replaced, even with --force"
	is "$(cat mine/file)" precious
	: > plainfile
	run_tool 1 "$VM_CREATE" --force plainfile
	is "$output" "*plainfile: exists and is not a VM bundle*"
}

@test "bad flags and missing files: a clear error, status 2 or 1, nothing left" {
	run_tool 2 "$VM_CREATE"
	is "$output" "vm-create: no bundle NAME given*"
	run_tool 2 "$VM_CREATE" a b
	run_tool 2 "$VM_CREATE" t --disk 12X
	is "$output" "vm-create: --disk 12X: '12X' is not a size (use e.g. 20G)"
	run_tool 2 "$VM_CREATE" t --disk 1000
	is "$output" "*must be a multiple of 512 bytes"
	run_tool 2 "$VM_CREATE" t --disk 1G,format=vdi
	is "$output" "*unknown option 'format=vdi'*"
	run_tool 2 "$VM_CREATE" t --memory 8M
	is "$output" "*--memory: '8M' is too small (at least 16M)"
	run_tool 2 "$VM_CREATE" t --cpus 0
	run_tool 2 "$VM_CREATE" t --os beos
	is "$output" "*--os: unknown OS 'beos' (use linux, windows or other)"
	run_tool 2 "$VM_CREATE" t --firmware direct
	is "$output" "*--firmware direct needs --kernel"
	run_tool 2 "$VM_CREATE" t --firmware bios --kernel "$GUESTS/hello.elf"
	is "$output" "*--kernel boots without firmware*"
	run_tool 2 "$VM_CREATE" t --initrd x
	run_tool 2 "$VM_CREATE" t --net bridge:br0
	is "$output" "*unknown network 'bridge:br0'*"
	run_tool 2 "$VM_CREATE" t --net nat,mac=01:00:00:00:00:01
	is "$output" "*'01:00:00:00:00:01' is not a unicast MAC address*"
	run_tool 2 "$VM_CREATE" 'two words'
	is "$output" "*two words: not a valid VM name*"
	run_tool 2 "$VM_CREATE" .hidden
	run_tool 1 "$VM_CREATE" t --kernel missing.bz
	is "$output" "vm-create: --kernel: missing.bz: No such file or directory"
	run_tool 1 "$VM_CREATE" t --cdrom missing.iso
	is "$output" "vm-create: --cdrom: missing.iso: No such file or directory"
	run_tool 1 "$VM_CREATE" t --cloud-init missing-user-data
	is "$output" "vm-create: --cloud-init: missing-user-data: No such file or directory"
	run_tool 1 "$VM_CREATE" t --kernel "$GUESTS/hello.elf" --append "$(printf 'a\xffb')"
	is "$output" "vm-create: vm.yaml: boot.cmdline: not valid UTF-8 (YAML files are UTF-8)"
	is "$(listing)" "" "nothing left behind"
}

@test "a failure after the temporary bundle exists leaves nothing behind" {
	mkdir ud
	run_tool 1 "$VM_CREATE" t --disk 1M --cloud-init ud
	is "$output" "*--cloud-init: */ud: not a regular file*"
	is "$(listing)" "ud " "the half-made bundle is gone"
}

@test "interrupted (SIGINT) while building: the half-made bundle is removed, status 1" {
	mkfifo ud
	# The seed's user-data is a FIFO nobody writes: vm-create waits in
	# open() with its temporary bundle made.
	"$VM_CREATE" t --disk 1M --cloud-init ud 2> err &
	pid=$!
	for i in $(seq 100); do
		compgen -G '.t.*' > /dev/null && break
		sleep 0.1
	done
	compgen -G '.t.*' > /dev/null
	kill -INT $pid
	status=0
	wait $pid || status=$?
	is "$status" 1 "exit status"
	# in open() ("Interrupted system call") or at the next check
	is "$(cat err)" "vm-create: *nterrupted*" "the message"
	is "$(listing)" "err ud " "nothing left behind"
}

# A VMware VM as Workstation writes it, with qemu-img's VMDKs.
write_vmx() {
	mkdir -p vmw
	qemu-img create -q -f vmdk vmw/web-disk1.vmdk 64M
	qemu-io -c 'write -P 0x5a 1M 64k' vmw/web-disk1.vmdk > /dev/null
	qemu-img create -q -f vmdk vmw/data.vmdk 16M
	: > vmw/install.iso
	cat > vmw/web.vmx <<-'EOF'
	.encoding = "UTF-8"
	config.version = "8"
	virtualHW.version = "19"
	displayName = "Web |22one|22"
	guestOS = "debian11-64"
	memsize = "2048"
	numvcpus = "2"
	firmware = "efi"
	scsi0.present = "TRUE"
	scsi0.virtualDev = "pvscsi"
	scsi0:0.present = "TRUE"
	scsi0:0.fileName = "web-disk1.vmdk"
	sata0.present = "TRUE"
	sata0:1.present = "TRUE"
	sata0:1.deviceType = "cdrom-image"
	sata0:1.fileName = "install.iso"
	scsi0:1.present = "TRUE"
	scsi0:1.fileName = "data.vmdk"
	ide1:0.present = "FALSE"
	ide1:0.fileName = "gone.vmdk"
	ethernet0.present = "TRUE"
	ethernet0.connectionType = "nat"
	ethernet0.virtualDev = "e1000e"
	ethernet0.addressType = "generated"
	ethernet0.generatedAddress = "00:0c:29:ab:cd:ef"
	ethernet1.present = "TRUE"
	ethernet1.connectionType = "custom"
	ethernet1.vnet = "/dev/vmnet3"
	ethernet2.present = "TRUE"
	ethernet2.connectionType = "hostonly"
	ethernet3.present = "TRUE"
	ethernet3.connectionType = "bridged"
	# a comment
	tools.syncTime = "FALSE"
	sound.present = "TRUE"
	EOF
}

@test "--import FILE.vmx: memory, CPUs, firmware, disks in place, CD-ROM, NICs; unknown keys listed" {
	write_vmx
	sum=$(md5sum < vmw/web-disk1.vmdk)
	run_tool 0 "$VM_CREATE" --import vmw/web.vmx imp
	is "$output" "*vmw/web.vmx:3: virtualHW.version: not understood, left out*" "an unknown key, with its line"
	is "$output" "*vmw/web.vmx:34: tools.syncTime: not understood*vmw/web.vmx:35: sound.present: not understood*"
	is "$output" "*vmw/web.vmx: ethernet3: bridged networking needs a tap device on the host: imported as nat (use --net tap:DEV)*" "bridged, said so"
	[[ $output != *memsize* && $output != *ethernet0* && $output != *gone.vmdk* ]]
	yaml_of imp
	d=$(cd vmw && pwd -P)
	is "$output" "*memory: 2G*cpus: 2*firmware: uefi*" "memsize, numvcpus, firmware"
	is "$output" "*file: $d/install.iso*media: cdrom*file: $d/web-disk1.vmdk*format: vmdk*interface: virtio*file: $d/data.vmdk*" \
		"the CD-ROM, then the SCSI disks in unit order, referenced where they are"
	is "$output" "*type: nat*model: e1000*mac: \"00:0c:29:ab:cd:ef\"*type: \"switch:vmnet3\"*model: virtio*type: \"switch:hostonly\"*type: nat*" "the NICs: nat, custom vmnet3, hostonly, bridged"
	is "$(listing imp)" "vm.yaml " "nothing copied"
	is "$(md5sum < vmw/web-disk1.vmdk)" "$sum" "the VMDK untouched"
	qemu-img check -q vmw/web-disk1.vmdk
	# no NAME: the displayName, made a valid name
	run_tool 0 "$VM_CREATE" --import vmw/web.vmx --os windows
	[ -f Web--one-/vm.yaml ]
	yaml_of Web--one-
	is "$output" "*interface: ide*console: vga*" "--os wins over guestOS"
}

@test "--import --convert qcow2: the VMDKs copied into the bundle, qemu-img compare calls them equal" {
	write_vmx
	"$VM_DISK" info -f vmdk vmw/data.vmdk >/dev/null 2>&1 ||
		skip "the block layer cannot open VMDK yet ($("$VM_DISK" info -f vmdk vmw/data.vmdk 2>&1))"
	run_tool 0 "$VM_CREATE" --import vmw/web.vmx --convert qcow2 conv
	qemu-img check -q conv/disk1.qcow2
	qemu-img compare -q vmw/web-disk1.vmdk conv/disk1.qcow2
	qemu-img compare -q vmw/data.vmdk conv/disk2.qcow2
}

@test "--import --convert: a disk the block layer cannot read fails and leaves nothing" {
	write_vmx
	"$VM_DISK" info -f vmdk vmw/data.vmdk >/dev/null 2>&1 && \
		printf 'not a vmdk' > vmw/web-disk1.vmdk
	run_tool 1 "$VM_CREATE" --import vmw/web.vmx --convert qcow2 conv
	is "$output" "*vm-create: */vmw/web-disk1.vmdk: *" "the error names the disk"
	is "$(listing)" "vmw " "nothing left behind"
}

@test "bad .vmx files: the file and line, status 1, nothing left" {
	mkdir vmw
	bad() { # CONTENT EXPECTED-MESSAGE
		printf '%b' "$1" > vmw/bad.vmx
		run_tool 1 "$VM_CREATE" --import vmw/bad.vmx out
		is "$output" "$2"
		is "$(listing)" "vmw " "nothing left behind"
	}
	bad 'memsize = "1024"\nnumvcpus = "2\n' "vm-create: vmw/bad.vmx:2: the value has no closing '\"'"
	bad 'memsize "1024"\n' "vm-create: vmw/bad.vmx:1: expected key = \"value\""
	bad 'memsize = "1024" x\n' "vm-create: vmw/bad.vmx:1: text after the quoted value"
	bad 'mem size = "1"\n' "vm-create: vmw/bad.vmx:1: 'mem size' is not a key"
	bad 'memsize = "lots"\n' "vm-create: vmw/bad.vmx:1: memsize: 'lots' is not a number from 16 to 16777216"
	bad 'numvcpus = "1000"\n' "vm-create: vmw/bad.vmx:1: numvcpus: '1000' is not a number from 1 to 64"
	bad 'firmware = "coreboot"\n' "vm-create: vmw/bad.vmx:1: firmware: 'coreboot' is neither efi nor bios"
	bad 'a = "b"\0\n' "vm-create: vmw/bad.vmx: not a text file (NUL byte)"
	bad 'scsi0:0.present = "TRUE"\nscsi0:0.fileName = "nope.vmdk"\n' \
		"vm-create: vmw/bad.vmx:2: scsi0:0.fileName: nope.vmdk: No such file or directory"
	run_tool 1 "$VM_CREATE" --import vmw/missing.vmx out
	is "$output" "vm-create: vmw/missing.vmx: No such file or directory"
	run_tool 1 "$VM_CREATE" --import vmw out
	is "$output" "vm-create: vmw: not a regular file"
	head -c 5M /dev/zero | tr '\0' '#' > vmw/big.vmx
	run_tool 1 "$VM_CREATE" --import vmw/big.vmx out
	is "$output" "*too large for a .vmx*"
	run_tool 2 "$VM_CREATE" --convert vdi --import vmw/big.vmx out
	run_tool 2 "$VM_CREATE" --convert qcow2 out
	is "$output" "vm-create: --convert needs --import"
}

@test "--cloud-init: a seed ISO labelled cidata with user-data and meta-data, attached as a CD-ROM" {
	command -v xorriso >/dev/null || skip "xorriso is not installed"
	printf '#cloud-config\npassword: x\nchpasswd: { expire: false }\n' > user-data
	run_tool 0 "$VM_CREATE" ci --disk 1M --cloud-init user-data
	yaml_of ci
	is "$output" "*file: ci/seed.iso*format: raw*interface: ide*media: cdrom*readonly: true*" "the seed is a CD-ROM"
	run xorriso -indev ci/seed.iso -pvd_info
	is "$output" "*Volume Id    : CIDATA*" "the ISO 9660 volume id (d-characters)"
	is "$(blkid -o value -s LABEL ci/seed.iso)" cidata "the label blkid (and so cloud-init) reads"
	xorriso -osirrox on -indev ci/seed.iso -extract / out 2>/dev/null
	is "$(listing out)" "meta-data user-data " "both files, names as cloud-init wants them"
	cmp user-data out/user-data
	is "$(cat out/meta-data)" "instance-id: ci"$'\n'"local-hostname: ci" "made-up meta-data"
}

@test "--cloud-init with --meta-data and --network-config: all three files" {
	command -v xorriso >/dev/null || skip "xorriso is not installed"
	printf '#cloud-config\n' > ud
	printf 'instance-id: i-1\n' > md
	printf 'version: 2\nethernets: {}\n' > nc
	run_tool 0 "$VM_CREATE" ci --cloud-init ud --meta-data md --network-config nc
	xorriso -osirrox on -indev ci/seed.iso -extract / out 2>/dev/null
	is "$(listing out)" "meta-data network-config user-data "
	cmp md out/meta-data
	cmp nc out/network-config
	run_tool 2 "$VM_CREATE" ci2 --meta-data md
	is "$output" "*--meta-data and --network-config need --cloud-init"
}

# write_ovf DIR: a VMware-style OVF 1.0 descriptor web.ovf in DIR with a
# streamOptimized VMDK made by qemu-img, and its SHA256 manifest web.mf.
write_ovf() {
	local d=$1 f
	mkdir -p "$d"
	qemu-img create -q -f vmdk -o subformat=streamOptimized "$d/web-disk1.vmdk" 64M
	cat > "$d/web.ovf" <<-'EOF'
	<?xml version="1.0" encoding="UTF-8"?>
	<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
	  <References>
	    <File ovf:href="web-disk1.vmdk" ovf:id="file1"/>
	  </References>
	  <DiskSection>
	    <Info>Virtual disk information</Info>
	    <Disk ovf:capacity="64" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
	  </DiskSection>
	  <VirtualSystem ovf:id="web-appliance">
	    <Info>A virtual machine</Info>
	    <OperatingSystemSection ovf:id="36" vmw:osType="windows9_64Guest">
	      <Info>The guest OS</Info>
	    </OperatingSystemSection>
	    <VirtualHardwareSection>
	      <Info>Virtual hardware requirements</Info>
	      <Item>
	        <rasd:ElementName>3 virtual CPUs</rasd:ElementName>
	        <rasd:InstanceID>1</rasd:InstanceID>
	        <rasd:ResourceType>3</rasd:ResourceType>
	        <rasd:VirtualQuantity>3</rasd:VirtualQuantity>
	      </Item>
	      <Item>
	        <rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits>
	        <rasd:ElementName>3 GB of memory</rasd:ElementName>
	        <rasd:InstanceID>2</rasd:InstanceID>
	        <rasd:ResourceType>4</rasd:ResourceType>
	        <rasd:VirtualQuantity>3</rasd:VirtualQuantity>
	      </Item>
	      <Item>
	        <rasd:ElementName>SATA controller 0</rasd:ElementName>
	        <rasd:InstanceID>3</rasd:InstanceID>
	        <rasd:ResourceType>20</rasd:ResourceType>
	      </Item>
	      <Item>
	        <rasd:ElementName>Hard disk 1</rasd:ElementName>
	        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
	        <rasd:InstanceID>4</rasd:InstanceID>
	        <rasd:Parent>3</rasd:Parent>
	        <rasd:ResourceType>17</rasd:ResourceType>
	      </Item>
	      <Item>
	        <rasd:Address>00:50:56:01:02:03</rasd:Address>
	        <rasd:Connection>VM Network</rasd:Connection>
	        <rasd:ElementName>Network adapter 1</rasd:ElementName>
	        <rasd:InstanceID>5</rasd:InstanceID>
	        <rasd:ResourceSubType>E1000e</rasd:ResourceSubType>
	        <rasd:ResourceType>10</rasd:ResourceType>
	      </Item>
	      <Item ovf:required="false">
	        <rasd:ElementName>Sound card</rasd:ElementName>
	        <rasd:InstanceID>6</rasd:InstanceID>
	        <rasd:ResourceType>35</rasd:ResourceType>
	      </Item>
	      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
	    </VirtualHardwareSection>
	  </VirtualSystem>
	</Envelope>
	EOF
	for f in web.ovf web-disk1.vmdk; do
		echo "SHA256($f)= $(sha256sum < "$d/$f" | cut -d' ' -f1)"
	done > "$d/web.mf"
}

# make_ova OUT DIR FILES...: a tar of DIR's FILES in that order.
make_ova() {
	local out=$1 d=$2; shift 2
	tar --format=ustar -C "$d" -cf "$out" "$@"
}

@test "--import FILE.ova: digests checked, the VMDK extracted into the bundle, the VM mapped" {
	write_ovf src
	make_ova web.ova src web.ovf web.mf web-disk1.vmdk
	run_tool 0 "$VM_CREATE" --import web.ova
	is "$output" "*web.ova:web.ovf:*: Item 'Sound card' (ResourceType 35): not understood, left out*" "unknown Items listed"
	yaml_of web-appliance
	is "$output" "*memory: 3G*cpus: 3*firmware: uefi*" "CPUs, memory in GiB units, firmware"
	is "$output" "*file: web-appliance/web-disk1.vmdk*format: vmdk*interface: ide*" "the VMDK kept, on the Windows template's IDE"
	is "$output" "*model: e1000*mac: \"00:50:56:01:02:03\"*console: vga*" "the NIC and the Windows console"
	cmp src/web-disk1.vmdk web-appliance/web-disk1.vmdk
	qemu-img check -q web-appliance/web-disk1.vmdk
	is "$(listing web-appliance)" "vm.yaml web-disk1.vmdk " "only the disk and vm.yaml"
}

@test "--import FILE.ova --convert qcow2: the VMDK extracted, converted, and not kept" {
	write_ovf src
	make_ova web.ova src web.ovf web.mf web-disk1.vmdk
	if ! "$VM_DISK" info -f vmdk src/web-disk1.vmdk >/dev/null 2>&1; then
		run_tool 1 "$VM_CREATE" --import web.ova --convert qcow2 conv
		is "$output" "*vm-create: ./.conv.*/web-disk1.vmdk: *" "the block layer's refusal"
		is "$(listing)" "src web.ova " "nothing left behind"
		skip "the block layer cannot open VMDK yet ($("$VM_DISK" info -f vmdk src/web-disk1.vmdk 2>&1))"
	fi
	run_tool 0 "$VM_CREATE" --import web.ova --convert qcow2 conv
	is "$(listing conv)" "disk0.qcow2 vm.yaml " "the VMDK is not kept"
	qemu-img check -q conv/disk0.qcow2
	qemu-img compare -q src/web-disk1.vmdk conv/disk0.qcow2
}

@test "--import FILE.ova --convert qcow2 with a VHD disk: converted through the block layer, qemu-img compare agrees" {
	write_ovf src
	rm src/web-disk1.vmdk
	qemu-img create -q -f vpc src/web-disk1.vhd 64M
	qemu-io -f vpc -c 'write -P 0x5a 1M 64k' -c 'write -P 0x33 60M 4k' src/web-disk1.vhd > /dev/null
	"$VM_DISK" info src/web-disk1.vhd >/dev/null 2>&1 || skip "the block layer cannot read VHD"
	sed -i 's/web-disk1.vmdk/web-disk1.vhd/' src/web.ovf
	for f in web.ovf web-disk1.vhd; do
		echo "SHA1($f)= $(sha1sum < "src/$f" | cut -d' ' -f1)"
	done > src/web.mf
	make_ova web.ova src web.ovf web.mf web-disk1.vhd
	run_tool 0 "$VM_CREATE" --import web.ova --convert qcow2 conv
	is "$(listing conv)" "disk0.qcow2 vm.yaml " "the VHD is not kept"
	yaml_of conv
	is "$output" "*file: conv/disk0.qcow2*format: qcow2*" "the converted disk"
	qemu-img check -q conv/disk0.qcow2
	qemu-img compare -q -f vpc src/web-disk1.vhd conv/disk0.qcow2
}

@test "--import FILE.ovf: disks referenced beside it, its manifest checked" {
	write_ovf src
	run_tool 0 "$VM_CREATE" --import src/web.ovf --os linux web
	yaml_of web
	is "$output" "*file: $(cd src && pwd -P)/web-disk1.vmdk*interface: virtio*" "referenced in place; --os wins"
	echo tampered >> src/web-disk1.vmdk
	run_tool 1 "$VM_CREATE" --import src/web.ovf web2
	is "$output" "*vm-create: src/web.mf: web-disk1.vmdk: SHA256 digest mismatch*"
	[ ! -e web2 ]
}

@test "bad OVA and OVF packages: refused with the reason, nothing left" {
	write_ovf src
	mkdir pkgs
	ova_bad() { # OVA MESSAGE
		run_tool 1 "$VM_CREATE" --import "pkgs/$1" out
		is "$output" "$2" "$1"
		is "$(listing)" "pkgs src " "nothing left behind by $1"
	}
	# a digest mismatch in the disk, found while extracting it
	cp -r src bad
	{ head -1 src/web.mf; echo "SHA256(web-disk1.vmdk)= $(echo other | sha256sum | cut -d' ' -f1)"; } > bad/web.mf
	make_ova pkgs/digest.ova bad web.ovf web.mf web-disk1.vmdk
	rm -r bad
	ova_bad digest.ova "*vm-create: pkgs/digest.ova: web-disk1.vmdk: SHA256 digest mismatch (the manifest says *"
	tar --format=ustar -C src -cf pkgs/dotdot.ova web.ovf --transform 's,^web.mf,../web.mf,' web.mf
	ova_bad dotdot.ova "vm-create: pkgs/dotdot.ova: entry '../web.mf' is an absolute name or leaves the package (..): refused"
	tar --format=ustar -cPf pkgs/abs.ova -C src web.ovf "$PWD/src/web.mf" 2>/dev/null
	ova_bad abs.ova "vm-create: pkgs/abs.ova: entry '$PWD/src/web.mf' is an absolute name*refused"
	ln -s /etc/passwd src/link
	make_ova pkgs/link.ova src web.ovf link
	ova_bad link.ova "vm-create: pkgs/link.ova: entry 'link' is not a regular file (a link, directory or device): refused"
	rm src/link
	make_ova pkgs/nodisk.ova src web.ovf web.mf
	ova_bad nodisk.ova "*vm-create: pkgs/nodisk.ova:web.mf:2: 'web-disk1.vmdk' is not in the package*"
	make_ova pkgs/nodisk2.ova src web.ovf
	ova_bad nodisk2.ova "*vm-create: pkgs/nodisk2.ova: disk 'web-disk1.vmdk' is not in the package"
	make_ova pkgs/order.ova src web.mf web.ovf web-disk1.vmdk
	ova_bad order.ova "vm-create: pkgs/order.ova: the first entry, 'web.mf', is not the .ovf descriptor"
	printf 'not a tar' > pkgs/junk.ova
	ova_bad junk.ova "vm-create: pkgs/junk.ova: *"
	mkdir pkgs/xml
	head -n -1 src/web.ovf > pkgs/xml/web.ovf
	make_ova pkgs/xml.ova pkgs/xml web.ovf
	ova_bad xml.ova "vm-create: pkgs/xml.ova:web.ovf:*: malformed XML: *"
	printf '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY a "aaaa">]>\n<Envelope/>\n' > pkgs/xml/web.ovf
	make_ova pkgs/dtd.ova pkgs/xml web.ovf
	ova_bad dtd.ova "vm-create: pkgs/dtd.ova:web.ovf:2: a DOCTYPE is not allowed in an OVF descriptor"
	run_tool 1 "$VM_CREATE" --import pkgs/xml/web.ovf out
	is "$output" "vm-create: pkgs/xml/web.ovf:2: a DOCTYPE is not allowed in an OVF descriptor"
}

# write_vbox_ovf DIR FIRMWARE: an OVF 1.0 descriptor box.ovf in DIR
# shaped as VBoxManage export writes one (MegaBytes units, a PIIX4 IDE
# controller, "/disk/vmdisk1" host resources, the vbox:Machine section
# with the machine's own settings), its firmware only in that section's
# <Firmware type=FIRMWARE/>, and a streamOptimized VMDK.
write_vbox_ovf() {
	local d=$1 fw=$2
	mkdir -p "$d"
	qemu-img create -q -f vmdk -o subformat=streamOptimized "$d/box-disk001.vmdk" 32M
	cat > "$d/box.ovf" <<-EOF
	<?xml version="1.0"?>
	<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
	  <References>
	    <File ovf:id="file1" ovf:href="box-disk001.vmdk"/>
	  </References>
	  <DiskSection>
	    <Info>List of the virtual disks used in the package</Info>
	    <Disk ovf:capacity="33554432" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" vbox:uuid="6f1d2a3b-0000-4000-8000-000000000001"/>
	  </DiskSection>
	  <NetworkSection>
	    <Info>Logical networks used in the package</Info>
	    <Network ovf:name="NAT">
	      <Description>Logical network used by this appliance.</Description>
	    </Network>
	  </NetworkSection>
	  <VirtualSystem ovf:id="box">
	    <Info>A virtual machine</Info>
	    <OperatingSystemSection ovf:id="96">
	      <Info>The kind of installed guest operating system</Info>
	      <Description>Debian_64</Description>
	      <vbox:OSType ovf:required="false">Debian_64</vbox:OSType>
	    </OperatingSystemSection>
	    <VirtualHardwareSection>
	      <Info>Virtual hardware requirements for a virtual machine</Info>
	      <System>
	        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
	        <vssd:InstanceID>0</vssd:InstanceID>
	        <vssd:VirtualSystemIdentifier>box</vssd:VirtualSystemIdentifier>
	        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
	      </System>
	      <Item>
	        <rasd:Caption>2 virtual CPU</rasd:Caption>
	        <rasd:Description>Number of virtual CPUs</rasd:Description>
	        <rasd:ElementName>2 virtual CPU</rasd:ElementName>
	        <rasd:InstanceID>1</rasd:InstanceID>
	        <rasd:ResourceType>3</rasd:ResourceType>
	        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
	      </Item>
	      <Item>
	        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
	        <rasd:Caption>1024 MB of memory</rasd:Caption>
	        <rasd:Description>Memory Size</rasd:Description>
	        <rasd:ElementName>1024 MB of memory</rasd:ElementName>
	        <rasd:InstanceID>2</rasd:InstanceID>
	        <rasd:ResourceType>4</rasd:ResourceType>
	        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity>
	      </Item>
	      <Item>
	        <rasd:Address>0</rasd:Address>
	        <rasd:Caption>ideController0</rasd:Caption>
	        <rasd:Description>IDE Controller</rasd:Description>
	        <rasd:ElementName>ideController0</rasd:ElementName>
	        <rasd:InstanceID>3</rasd:InstanceID>
	        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
	        <rasd:ResourceType>5</rasd:ResourceType>
	      </Item>
	      <Item>
	        <rasd:AddressOnParent>0</rasd:AddressOnParent>
	        <rasd:Caption>disk1</rasd:Caption>
	        <rasd:Description>Disk Image</rasd:Description>
	        <rasd:ElementName>disk1</rasd:ElementName>
	        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
	        <rasd:InstanceID>4</rasd:InstanceID>
	        <rasd:Parent>3</rasd:Parent>
	        <rasd:ResourceType>17</rasd:ResourceType>
	      </Item>
	      <Item>
	        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
	        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
	        <rasd:Connection>NAT</rasd:Connection>
	        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
	        <rasd:InstanceID>5</rasd:InstanceID>
	        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
	        <rasd:ResourceType>10</rasd:ResourceType>
	      </Item>
	    </VirtualHardwareSection>
	    <vbox:Machine ovf:required="false" version="1.16-linux" uuid="{6f1d2a3b-0000-4000-8000-000000000002}" name="box" OSType="Debian_64" snapshotFolder="Snapshots">
	      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>
	      <Description>a machine of the test</Description>
	      <Hardware>
	        <CPU count="2">
	          <PAE enabled="true"/>
	          <LongMode enabled="true"/>
	        </CPU>
	        <Memory RAMSize="1024"/>
	        <Firmware type="$fw"/>
	        <Boot>
	          <Order position="1" device="HardDisk"/>
	        </Boot>
	        <BIOS>
	          <IOAPIC enabled="true"/>
	        </BIOS>
	        <Network>
	          <Adapter slot="0" enabled="true" MACAddress="080027A1B2C3" type="82540EM">
	            <NAT/>
	          </Adapter>
	        </Network>
	      </Hardware>
	      <StorageControllers>
	        <StorageController name="IDE" type="PIIX4" PortCount="2" useHostIOCache="true" Bootable="true">
	          <AttachedDevice type="HardDisk" hotpluggable="false" port="0" device="0">
	            <Image uuid="{6f1d2a3b-0000-4000-8000-000000000001}"/>
	          </AttachedDevice>
	        </StorageController>
	      </StorageControllers>
	    </vbox:Machine>
	  </VirtualSystem>
	</Envelope>
	EOF
}

@test "a VirtualBox export: the vbox:Machine section's <Firmware type=\"EFI\"/> gives UEFI; BIOS and EFI64 too, EFI32 is named and left out" {
	write_vbox_ovf src EFI
	run_tool 0 "$VM_CREATE" --import src/box.ovf box
	yaml_of box
	is "$output" "*memory: 1G*cpus: 2*firmware: uefi*" "CPUs, memory in MegaBytes, the firmware from vbox:Machine"
	is "$output" "*box-disk001.vmdk*interface: virtio*model: e1000*" "the Debian template's disk, the export's E1000"
	write_vbox_ovf bios BIOS
	run_tool 0 "$VM_CREATE" --import bios/box.ovf boxb
	yaml_of boxb
	is "$output" "*firmware: bios*" "BIOS"
	write_vbox_ovf e64 EFI64
	run_tool 0 "$VM_CREATE" --import e64/box.ovf box64
	yaml_of box64
	is "$output" "*firmware: uefi*" "EFI64"
	write_vbox_ovf e32 EFI32
	run_tool 0 "$VM_CREATE" --import e32/box.ovf box32
	is "$output" "*e32/box.ovf:*: vbox:Machine firmware 'EFI32': not one vm-run has (efi or bios), left out*"
	yaml_of box32
	is "$output" "*firmware: bios*" "BIOS"
}

@test "VMware's vmw:ExtraConfig spelling of firmware=efi, and a vmw:Config that disagrees with vbox:Machine: the first kept, the other named" {
	write_ovf src
	sed -i 's/<vmw:Config ovf:required="false" vmw:key="firmware"/<vmw:ExtraConfig ovf:required="false" vmw:key="firmware"/' src/web.ovf
	grep -q 'vmw:ExtraConfig' src/web.ovf
	rm src/web.mf
	run_tool 0 "$VM_CREATE" --import src/web.ovf web
	yaml_of web
	is "$output" "*firmware: uefi*" "vmw:ExtraConfig"
	write_vbox_ovf box EFI
	sed -i 's|    </VirtualHardwareSection>|      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>\n    </VirtualHardwareSection>|; s|xmlns:vbox=|xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vbox=|' box/box.ovf
	run_tool 0 "$VM_CREATE" --import box/box.ovf both
	is "$output" "*box/box.ovf:*: vbox:Machine firmware 'EFI' disagrees with vmw:Config's (bios), which is kept*"
	yaml_of both
	is "$output" "*firmware: bios*" "BIOS"
}

@test "XenServer's VirtualSystemOtherConfigurationData HVM_boot_params firmware=uefi gives UEFI" {
	write_ovf src
	sed -i -e '/vmw:Config/d' -e 's|    </VirtualHardwareSection>|      <xenovf:VirtualSystemOtherConfigurationData Name="HVM_boot_policy"><xenovf:Value>BIOS order</xenovf:Value></xenovf:VirtualSystemOtherConfigurationData>\n      <xenovf:VirtualSystemOtherConfigurationData Name="HVM_boot_params"><xenovf:Value>order=dc;firmware=uefi</xenovf:Value></xenovf:VirtualSystemOtherConfigurationData>\n    </VirtualHardwareSection>|' \
		-e 's|xmlns:vmw=|xmlns:xenovf="http://schemas.citrix.com/ovf/envelope/1" xmlns:vmw=|' src/web.ovf
	xmllint --noout src/web.ovf
	rm src/web.mf
	run_tool 0 "$VM_CREATE" --import src/web.ovf web
	yaml_of web
	is "$output" "*firmware: uefi*" "HVM_boot_params"
}

# config_of BUNDLE: vm-run's view of it with the bundle's own name and
# folder taken out, for comparing two bundles.
config_of() {
	"$VM_RUN" --print-config "$1" | sed -e "s,$1/,,g" -e "/^name:/d"
}

@test "--export NAME OUT.ova: descriptor first, manifest digests, VMDKs qemu-img accepts; --import gives the VM back" {
	run_tool 0 "$VM_CREATE" web -m 768M -c 3 --disk 64M \
		--net switch:lan0,mac=52:54:00:00:00:07 --net nat
	qemu-io -c 'write -P 0xab 1M 3M' -c 'write -P 0x11 60M 64k' web/disk0.qcow2 >/dev/null
	run_tool 0 "$VM_CREATE" --export web web.ova
	is "$(listing)" "web web.ova " "only the package is made"
	is "$(tar tf web.ova | tr '\n' ' ')" "web.ovf web.mf web-disk1.vmdk " \
		"the descriptor first, the manifest after it, then the disk"
	mkdir x && tar -C x -xf web.ova
	xmllint --noout x/web.ovf
	(cd x && for f in web.ovf web-disk1.vmdk; do
		echo "SHA256($f)= $(sha256sum < "$f" | cut -d' ' -f1)"; done) > want.mf
	diff want.mf x/web.mf
	qemu-img check -q x/web-disk1.vmdk
	qemu-img compare -q web/disk0.qcow2 x/web-disk1.vmdk
	is "$(qemu-img info --output=json x/web-disk1.vmdk | jq -r '."virtual-size", ."format-specific".data."create-type"' | tr '\n' ' ')" \
		"67108864 streamOptimized " "qemu-img's view of the VMDK"
	# what the descriptor says of the disk and the VM
	xml() { xmllint --xpath "$1" x/web.ovf; }
	is "$(xml 'string(//*[local-name()="File"]/@*[local-name()="size"])')" "$(stat -c %s x/web-disk1.vmdk)" "References: the file's size"
	is "$(xml 'string(//*[local-name()="Disk"]/@*[local-name()="capacity"])')" "67108864" "DiskSection: the capacity"
	is "$(xml 'string(//*[local-name()="Disk"]/@*[local-name()="populatedSize"])')" "$((3 * 1048576 + 65536))" "DiskSection: the bytes of data"
	is "$(xml 'string(//*[local-name()="Network"][1]/@*[local-name()="name"])')" "lan0" "NetworkSection"
	is "$(xml 'count(//*[local-name()="OperatingSystemSection"])')" "1" "an OperatingSystemSection"
	run_tool 0 "$VM_CREATE" --import web.ova back
	is "$(config_of back)" "$(config_of web | sed 's,disk0.qcow2,web-disk1.vmdk,; s,format: qcow2,format: vmdk,')" \
		"memory, CPUs, disks and NICs come back"
	run_tool 0 "$VM_DISK" compare web/disk0.qcow2 back/web-disk1.vmdk
}

@test "--export NAME -: a Windows bundle with a virtio disk, a seed ISO and UEFI, to stdout, comes back the same" {
	echo '#cloud-config' > ud
	run_tool 0 "$VM_CREATE" --os windows win --disk 32M --disk 8M,format=raw,if=virtio \
		--cloud-init ud --firmware uefi
	printf 'raw disk data' | dd of=win/disk1.raw conv=notrunc seek=100 2>/dev/null
	"$VM_CREATE" --export win - | cat > win.ova
	is "$(tar tf win.ova | tr '\n' ' ')" "win.ovf win.mf win-disk1.vmdk win-disk2.vmdk win-cdrom1.iso "
	tar -xOf win.ova win.ovf | xmllint --noout -
	run_tool 0 "$VM_CREATE" --import win.ova win2
	is "$(config_of win2)" "$(config_of win | sed 's,disk0.qcow2,win-disk1.vmdk,; s,disk1.raw,win-disk2.vmdk,; s,format: qcow2,format: vmdk,; 0,/format: raw/s//format: vmdk/; s,seed.iso,win-cdrom1.iso,')" \
		"IDE and virtio disks, the CD-ROM, UEFI, the Windows devices"
	run_tool 0 "$VM_DISK" compare win/disk1.raw win2/win-disk2.vmdk
	cmp win/seed.iso win2/win-cdrom1.iso
}

@test "--export: bad input and a failing disk leave nothing behind" {
	run_tool 0 "$VM_CREATE" web --disk 1M --disk 1M
	qemu-io -c 'write -P 1 0 64k' web/disk0.qcow2 >/dev/null
	qemu-io -c 'write -P 1 0 64k' web/disk1.qcow2 >/dev/null
	# the second disk's L2 entry for cluster 0, made unaligned
	printf '\x80\x00\x00\x00\x00\x05\x02\x00' | dd of=web/disk1.qcow2 bs=1 seek=$((0x40000)) conv=notrunc 2>/dev/null
	run_tool 1 "$VM_CREATE" --export web web.ova
	is "$output" "*web/disk1.qcow2*unaligned*" "the read error, naming the disk"
	is "$(listing)" "web " "no package and no temporary directory"
	run_tool 1 "$VM_CREATE" --export nosuch out.ova
	is "$output" "vm-create: nosuch*" "not a bundle"
	run_tool 2 "$VM_CREATE" --export web
	is "$output" "*--export NAME needs one OUT.ova*"
	run_tool 2 "$VM_CREATE" --export web -m 1G out.ova
	is "$output" "*--export takes no other options*"
	is "$(listing)" "web " "nothing made"
}
