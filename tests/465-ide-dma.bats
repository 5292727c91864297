#!/usr/bin/env bats
# PIIX IDE bus-master DMA: Linux's own ata_piix driver (the kit's module,
# vmkit.modules=ata_piix,...) drives the disk and the CD-ROM by DMA, and
# what it writes is what the host reads from the image; a boot sector
# handing the bus master hostile PRD tables gets error statuses.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# run_kit IMAGE-ARGS... : the kit by direct boot on the DBT with the
# IDE modules, running $GUEST_CMD.
run_kit() {
	guestkit
	run_tool 0 timeout 300 "$VM_RUN" --accel dbt -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 quiet vmkit.modules=$MODS vmkit.run=\"$GUEST_CMD\"" \
		"$@" </dev/null
}

# The pattern: seq's 588895 bytes, written at sector 2000 of the disk.
PATTERN_LEN=588895
GUEST_DISK_CMD='dmesg | grep -o [a]ta1:.PATA.max.*; echo mode=$(cat /sys/class/ata_device/dev1.0/xfer_mode); seq 1 100000 | dd of=/dev/sda bs=512 seek=2000 conv=fsync 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches; echo guest-sum=$(dd if=/dev/sda bs=512 skip=2000 2>/dev/null | head -c 588895 | md5sum)'

check_disk_run() {
	local raw=$1 want
	want=$(seq 1 100000 | md5sum | cut -d' ' -f1)
	is "$output" "*ata1: PATA max MWDMA2 cmd 0x1f0 ctl 0x3f6 bmdma 0x*" "libata: a bus master"
	is "$output" "*mode=XFER_MW_DMA_2*" "the drive's transfer mode"
	is "$output" "*guest-sum=$want *" "what the guest reads back"
	is "$(dd if="$raw" bs=512 skip=2000 status=none | head -c $PATTERN_LEN | md5sum | cut -d' ' -f1)" "$want" "what the host reads"
}

@test "ata_piix writes and reads a raw IDE disk by DMA; the host reads the same bytes" {
	MODS=ata_piix,sd_mod GUEST_CMD=$GUEST_DISK_CMD
	truncate -s 64M disk.img
	run_kit --disk disk.img,if=ide
	check_disk_run disk.img
}

@test "the same on a qcow2 IDE disk; qemu-img checks it" {
	MODS=ata_piix,sd_mod GUEST_CMD=$GUEST_DISK_CMD
	run_tool 0 "$VM_DISK" create -f qcow2 disk.qcow2 64M
	run_kit --disk disk.qcow2,if=ide
	guest=$output
	run_tool 0 qemu-img check disk.qcow2
	run_tool 0 qemu-img convert -O raw disk.qcow2 disk.raw
	output=$guest
	check_disk_run disk.raw
}

@test "an ISO made by xorriso mounts from the IDE CD-ROM (sr_mod, isofs) and reads back by DMA" {
	command -v xorriso >/dev/null || skip "needs xorriso"
	mkdir root
	echo "hello from the iso $((6 * 7))" > root/greeting.txt
	head -c 300000 /dev/urandom > root/big.bin
	xorriso -as mkisofs -quiet -V VMKITCD -o cd.iso root 2>/dev/null
	MODS=ata_piix,sr_mod,isofs
	GUEST_CMD='dmesg | grep -o [A]ttached.*sr0; echo mode=$(cat /sys/class/ata_device/dev1.0/xfer_mode); mkdir -p /cd; mount -t iso9660 -o ro /dev/sr0 /cd && cat /cd/greeting.txt; echo big=$(md5sum < /cd/big.bin)'
	run_kit --cdrom cd.iso
	is "$output" "*Attached scsi CD-ROM sr0*" "sr_mod found the drive"
	is "$output" "*mode=XFER_MW_DMA_2*" "the drive's transfer mode"
	is "$output" "*hello from the iso 42*" "the file"
	is "$output" "*big=$(md5sum < root/big.bin | cut -d' ' -f1) *" "the large file"
}

@test "hostile PRD tables end the DMA command with an error, never a hang" {
	BIOS=/usr/share/seabios/bios-256k.bin
	[ -r "$BIOS" ] || skip "no $BIOS (Debian's seabios package)"
	# A boot sector finding the IDE function on PCI bus 0 (every function
	# of every slot: it is 01.1), turning on
	# bus mastering and running READ DMA of sector 1 (whose first byte the
	# host wrote) four times: a PRD entry outside RAM (bit 0 of the exit
	# status when the bus master says error and the drive ERR), a table
	# that ends after 256 of the 512 bytes (bit 1), a good one whose data
	# is in memory after it (bit 2), a table that is itself outside RAM
	# (bit 3).  Each run waits for the bus master's interrupt bit for a
	# bounded time.
	cat > boot.S <<-'EOF'
	.code16
	.globl _start
	_start:
		cli
		xor %ax, %ax
		mov %ax, %ds
		mov $0x80000000, %ebx
	find:	mov %ebx, %eax
		mov $0xcf8, %dx
		out %eax, %dx
		mov $0xcfc, %dx
		in %dx, %eax
		cmp $0x70108086, %eax
		je found
		add $0x100, %ebx
		cmp $0x80010000, %ebx
		jb find
		mov $0x80, %al
		jmp exit
	found:	mov %ebx, %eax
		or $4, %eax
		mov $0xcf8, %dx
		out %eax, %dx
		mov $0xcfc, %dx
		in %dx, %ax
		or $5, %ax
		out %ax, %dx
		mov %ebx, %eax
		or $0x20, %eax
		mov $0xcf8, %dx
		out %eax, %dx
		mov $0xcfc, %dx
		in %dx, %eax
		and $0xfffc, %ax
		mov %ax, %si
		xor %di, %di
		movl $0xe0000000, 0x600
		movl $0x80000200, 0x604
		mov $0x600, %eax
		call dma
		test $2, %al
		jz 1f
		or $1, %di
	1:	movl $0x8000, 0x600
		movl $0x80000100, 0x604
		mov $0x600, %eax
		call dma
		test $2, %al
		jz 1f
		or $2, %di
	1:	movl $0x80000200, 0x604
		movb $0, 0x8000
		mov $0x600, %eax
		call dma
		test $2, %al
		jnz 1f
		test $4, %al
		jz 1f
		cmpb $0x5a, 0x8000
		jne 1f
		or $4, %di
	1:	mov $0xe0000000, %eax
		call dma
		test $2, %al
		jz 1f
		or $8, %di
	1:	mov %di, %ax
	exit:	mov $0x5e0, %dx
		out %al, %dx
		hlt
	/* dma: PRD table at %eax; READ DMA of sector 1; the bus master's
	 * status in %al, its error bit cleared if the drive did not say ERR. */
	dma:	mov %si, %dx
		add $4, %dx
		out %eax, %dx
		mov %si, %dx
		mov $0x08, %al
		out %al, %dx
		add $2, %dx
		mov $0x06, %al
		out %al, %dx
		mov $0x1f6, %dx
		mov $0xe0, %al
		out %al, %dx
		mov $0x1f2, %dx
		mov $1, %al
		out %al, %dx
		inc %dx
		out %al, %dx
		inc %dx
		xor %al, %al
		out %al, %dx
		inc %dx
		out %al, %dx
		mov $0x1f7, %dx
		mov $0xc8, %al
		out %al, %dx
		mov %si, %dx
		mov $0x09, %al
		out %al, %dx
		add $2, %dx
		mov $0xffff, %cx
	poll:	in %dx, %al
		test $4, %al
		jnz 2f
		loop poll
	2:	mov %al, %bl
		mov %si, %dx
		xor %al, %al
		out %al, %dx
		mov $0x1f7, %dx
		in %dx, %al
		test $1, %al
		jnz 3f
		and $0xfd, %bl
	3:	mov %bl, %al
		ret
	EOF
	as --32 -o boot.o boot.S
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o boot.bin boot.o
	[ "$(stat -c %s boot.bin)" -le 510 ]
	head -c 1048576 /dev/zero > dma.img
	dd if=boot.bin of=dma.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=dma.img bs=1 seek=510 conv=notrunc status=none
	printf '\x5a' | dd of=dma.img bs=1 seek=512 conv=notrunc status=none
	run_tool 15 timeout 120 "$VM_RUN" --accel dbt --no-reboot -m 64M \
		--firmware bios --disk dma.img,if=ide </dev/null
}
