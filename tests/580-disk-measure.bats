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

@test "measure --size with -o refcount_bits and extended_l2: qemu-img's numbers" {
	for s in 1M 1G 100G; do
		for rb in 1 8 64; do
			like --size $s -O qcow2 -o refcount_bits=$rb
			like --size $s -O qcow2 -o refcount_bits=$rb,cluster_size=4k
		done
		like --size $s -O qcow2 -o extended_l2=on
		like --size $s -O qcow2 -o extended_l2=on,cluster_size=16k,refcount_bits=2
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

# exact FILE ARGS...: measure's "required" for a copy of FILE is the size
# of the file convert writes with ARGS, and "fully allocated" that of a
# copy of random bytes of the output's size (a VHD's: CHS-rounded).
exact() {
	local f=$1; shift
	"$VM_DISK" convert "$@" "$f" out.img
	is "$("$VM_DISK" measure --json "$@" "$f" | jq .required)" "$(stat -c %s out.img)" "required, $*"
	head -c "$("$VM_DISK" info --json out.img | jq '."virtual-size"')" /dev/urandom > rnd.raw
	"$VM_DISK" convert "$@" rnd.raw full.img
	is "$("$VM_DISK" measure --json "$@" rnd.raw | jq '."fully-allocated"')" "$(stat -c %s full.img)" "fully allocated, $*"
}

@test "measure -O vdi|vpc|vmdk: the sizes convert writes, which qemu-img does not measure" {
	qemu-img create -q -f qcow2 m.qcow2 30M
	qemu-io -c 'write -P 1 0 3M' -c 'write -P 2 17M 1M' -c 'write -P 3 29M 64k' m.qcow2 > /dev/null
	run qemu-img measure -O vdi m.qcow2
	is "$output" "*does not support size measurement*" "qemu-img has no answer"
	exact m.qcow2 -O vdi
	exact m.qcow2 -O vdi -o static=on
	exact m.qcow2 -O vpc
	exact m.qcow2 -O vpc -o subformat=fixed
	exact m.qcow2 -O vmdk
	# streamOptimized: an upper bound of what convert writes
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized rnd.raw s.vmdk
	[ "$("$VM_DISK" measure --json -O vmdk -o subformat=streamOptimized rnd.raw | jq .required)" -ge "$(stat -c %s s.vmdk)" ]
	# --size: an empty image, the VHD in its CHS size
	qemu-img create -q -f vpc v.vhd 100M
	is "$("$VM_DISK" measure --json -O vpc --size 100M | jq .required)" "$(stat -c %s v.vhd)" "an empty VHD"
	run_tool 1 "$VM_DISK" measure -O vmdk -o subformat=monolithicFlat --size 1M
	is "$output" "vm-disk: measure: vmdk subformat 'monolithicFlat': only monolithicSparse and streamOptimized are measured"
}
