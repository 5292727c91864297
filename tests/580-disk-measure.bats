#!/usr/bin/env bats
# vm-disk measure prints what qemu-img measure prints: the same numbers
# for --size N in qcow2 (every cluster size, v2 and v3, preallocation)
# and raw, and for existing images (raw with holes, qcow2 with zero and
# compressed clusters, overlays), human and JSON.

load helpers
load disk

setup() {
	disk_setup
}

# like ARGS...: vm-disk measure and qemu-img measure agree exactly.
like() {
	local want got
	want=$(qemu-img measure "$@")
	got=$("$VM_DISK" measure "$@")
	same "$got" "$want" "measure $*"
}

@test "measure --size: qemu-img's numbers for every cluster size and size" {
	for s in 0 1 512 1000 1M 1G 100G 3T; do
		like --size $s
		like --size $s -O raw --output=json
		for c in 512 4k 64k 2M; do
			[ $s = 3T ] && [ $c = 512 ] && continue
			like --size $s -O qcow2 -o cluster_size=$c
		done
		like --size $s -O qcow2 --output=json
		like --size $s -O qcow2 -o compat=0.10,preallocation=full
		like --size $s -O qcow2 -o preallocation=metadata
	done
}

@test "measure FILE: qemu-img's numbers for raw and qcow2 inputs, overlays and backing files" {
	head -c 3M /dev/urandom > r.raw
	truncate -s 20M r.raw
	echo x | dd of=r.raw bs=1 seek=10000000 conv=notrunc status=none
	qemu-img convert -O qcow2 -o cluster_size=4k r.raw r4k.qcow2
	qemu-img convert -O qcow2 -o compat=0.10 r.raw rv2.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=512 z.qcow2 16M
	qemu-io -c 'write -P 1 0 3M' -c 'write -z 1M 64k' -c 'write -c -P 3 4M 2M' z.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b z.qcow2 -F qcow2 top.qcow2
	qemu-io -c 'write -P 2 8M 100k' top.qcow2 > /dev/null
	for f in r.raw r4k.qcow2 rv2.qcow2 z.qcow2 top.qcow2; do
		like $f
		like --output=json $f
		for c in 512 4k 64k 2M; do
			like -O qcow2 -o cluster_size=$c $f
			like -O qcow2 -o cluster_size=$c,preallocation=falloc $f
			like -O qcow2 --output=json -o cluster_size=$c,compat=0.10 $f
		done
		like -O qcow2 --output=json $f
		like -O qcow2 -o backing_file=other.qcow2 $f
	done
}

@test "measure: bad arguments are refused" {
	run_tool 2 "$VM_DISK" measure
	is "$output" "vm-disk: measure: either --size N or one filename must be given"
	run_tool 2 "$VM_DISK" measure --size 1G x.qcow2
	is "$output" "vm-disk: measure: --size N cannot be used together with a filename"
	run_tool 1 "$VM_DISK" measure --size 10T -O qcow2 -o cluster_size=4k
	is "$output" "vm-disk: measure: the image size is too large (try using a larger cluster size)"
	run qemu-img measure --size 10T -O qcow2 -o cluster_size=4k
	is "$status" 1 "qemu-img refuses it too"
	run_tool 1 "$VM_DISK" measure --size 1G -O raw -o cluster_size=4k
	is "$output" "vm-disk: measure: -o: raw has no such options"
	run_tool 1 "$VM_DISK" measure --size 1x
	is "$output" "vm-disk: measure: invalid size '1x'"
	run_tool 1 "$VM_DISK" measure missing.qcow2
	is "$output" "vm-disk: missing.qcow2: No such file or directory"
}
