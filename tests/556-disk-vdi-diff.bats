#!/usr/bin/env bats
# Differencing VDI images (type 4): vm-disk create -f vdi -b, reads
# through the parent, writes, commit and rebase.  qemu-img refuses
# differencing VDIs ("non-NULL link UUID"), so it judges what commit
# leaves in the parent and what rebase -b "" leaves: plain dynamic VDIs
# it checks and reads.  The guest view in between is checked against
# the same writes qemu-io makes on a raw copy.

load helpers
load disk

setup() {
	disk_setup
	qemu-img create -q -f vdi base.vdi 8M
	qemu-io -f vdi -c 'write -P 1 0 3M' -c 'write -P 2 5M 1M' base.vdi > /dev/null
	qemu-img convert -O raw base.vdi base.raw
}

# uuid FILE OFFSET: 16 bytes of the header as hex
uuid() {
	od -An -tx1 -j"$2" -N16 "$1" | tr -d ' \n'
}

@test "create -f vdi -b: the parent's UUID and size, the parent's view; writes copy blocks up" {
	run_tool 0 "$VM_DISK" create -f vdi -b base.vdi top.vdi
	is "$output" "Formatting 'top.vdi', fmt=vdi size=8388608 *backing_file=base.vdi backing_fmt=vdi"
	same "$(od -An -tu4 -j$((0x4c)) -N4 top.vdi | tr -d ' ')" 4 "image type"
	same "$(uuid top.vdi $((0x1a8)))" "$(uuid base.vdi $((0x188)))" "parent UUID"
	same "$(uuid top.vdi $((0x1b8)))" "$(uuid base.vdi $((0x198)))" "parent modification UUID"
	run_tool 1 qemu-img info top.vdi
	is "$output" "*unsupported VDI image (non-NULL link UUID)*"
	"$VM_DISK" cat top.vdi | cmp - base.raw
	same "$("$VM_DISK" info --json top.vdi | jq -c '[.["backing-filename"], .["backing-filename-format"], .["virtual-size"]]')" \
		'["base.vdi","vdi",8388608]' "info --json"
	run_tool 0 "$VM_DISK" info --backing-chain top.vdi
	is "$(echo "$output" | grep '^image: ' | tr '\n' ' ')" "image: top.vdi image: base.vdi "
	cp base.raw ref.raw
	"$BLKWRITE" top.vdi 1000:5000:7 4194304:1048576:8 6291456:4096:z rand:30:6 > ops
	{ echo 1000:5000:7; echo 4194304:1048576:8; cat ops; } > all
	replay all ref.raw
	qemu-io -f raw -c 'write -z 6291456 4096' ref.raw > /dev/null
	"$VM_DISK" cat top.vdi | cmp - ref.raw
	run_tool 0 "$VM_DISK" check top.vdi
	qemu-img compare -q -f vdi -F raw base.vdi base.raw
}

@test "commit into the parent, which qemu-img checks and compares; rebase -b \"\" to a dynamic VDI qemu-img reads" {
	"$VM_DISK" create -q -f vdi -b base.vdi top.vdi
	cp base.raw ref.raw
	"$BLKWRITE" top.vdi 2097152:3145728:3 rand:20:2 > ops
	{ echo 2097152:3145728:3; cat ops; } > all
	replay all ref.raw
	cp top.vdi keep.vdi; cp base.vdi keepbase.vdi
	run_tool 0 "$VM_DISK" commit top.vdi
	is "$output" "Image committed."
	qemu_ok base.vdi
	run qemu-img compare -f vdi -F raw base.vdi ref.raw
	is "$status" 0 "qemu-img compare base.vdi: $output"
	"$VM_DISK" cat top.vdi | cmp - ref.raw
	[ "$(stat -c %s top.vdi)" -le 1024 ]
	# the kept copy: no parent any more, and qemu-img reads it
	cp keepbase.vdi base.vdi; cp keep.vdi top.vdi
	run_tool 0 "$VM_DISK" rebase -b "" top.vdi
	qemu_ok top.vdi
	run qemu-img compare -f vdi -F raw top.vdi ref.raw
	is "$status" 0 "qemu-img compare after rebase -b '': $output"
}

@test "the parent by UUID beside the image (VirtualBox names parents in its registry, not in the image); rebase -u; a replaced parent is refused" {
	mkdir vm vm/Snapshots
	mv base.vdi vm/disk.vdi
	"$VM_DISK" create -q -f vdi -b ../disk.vdi vm/Snapshots/child.vdi
	cp base.raw ref.raw
	"$BLKWRITE" vm/Snapshots/child.vdi 0:4096:9 > /dev/null
	qemu-io -f raw -c 'write -P 9 0 4096' ref.raw > /dev/null
	# no name in the image, as VirtualBox writes them
	poke vm/Snapshots/child.vdi $((0x54)) "$(printf '\\x00%.0s' $(seq 1 64))"
	run_tool 0 "$VM_DISK" info vm/Snapshots/child.vdi
	is "$output" "*backing file: ../disk.vdi*"
	"$VM_DISK" cat vm/Snapshots/child.vdi | cmp - ref.raw
	# rebase -u after a move names it again
	mv vm/disk.vdi moved.vdi
	run_tool 1 "$VM_DISK" cat vm/Snapshots/child.vdi
	is "$output" "*not named in it and not beside it*"
	run_tool 0 "$VM_DISK" rebase -u -F vdi -b ../../moved.vdi vm/Snapshots/child.vdi
	"$VM_DISK" cat vm/Snapshots/child.vdi | cmp - ref.raw
	# a different image under the parent's name: its UUID differs
	cp vm/Snapshots/child.vdi orig.vdi
	qemu-img create -q -f vdi moved.vdi 8M
	run_tool 1 "$VM_DISK" cat vm/Snapshots/child.vdi
	is "$output" "vm-disk: vm/Snapshots/child.vdi: its parent */moved.vdi has another UUID than the one it was made over*"
	run_tool 1 "$BLKWRITE" vm/Snapshots/child.vdi 0:512:1
	run_tool 1 "$VM_DISK" resize vm/Snapshots/child.vdi +1M
	is "$output" "vm-disk: vm/Snapshots/child.vdi: resizing a differencing VDI image is not supported (it has its parent's size)"
	cmp vm/Snapshots/child.vdi orig.vdi
	# parents that are not VDIs, and fixed images, are refused
	qemu-img create -q -f qcow2 q.qcow2 8M
	run_tool 1 "$VM_DISK" create -q -f vdi -b q.qcow2 t.vdi
	is "$output" "vm-disk: t.vdi: the parent of a differencing VDI must be a VDI image, not qcow2"
	[ ! -e t.vdi ]
	run_tool 1 "$VM_DISK" create -q -f vdi -o static=on -b moved.vdi t.vdi
	is "$output" "vm-disk: t.vdi: a fixed VDI image cannot have a parent*"
	[ ! -e t.vdi ]
}
