#!/usr/bin/env bats
# One `vm-disk check -r all` repairs qcow2 damage for good: afterwards
# both vm-disk check and qemu-img check find nothing (leaks included),
# and qemu-io reads the data that survived.  The damage is done by hand
# with dd: a lost refcount block, leaked clusters, refcounts too high and
# too low, a cluster two L2 entries share, an L2 entry past the end.

load helpers
load disk

setup() {
	disk_setup
}

# u64 FILE OFFSET: a big-endian 64-bit field.
u64() {
	od -An -tu8 --endian=big -j "$2" -N 8 "$1" | tr -d ' '
}

# img NAME [OPTS]: 1 MiB of pattern 1 at 0 in a fresh 64 MiB qcow2.
img() {
	rm -f "$1"
	qemu-img create -q -f qcow2 ${2:+-o "$2"} "$1" 64M
	qemu-io -c 'write -P 1 0 1M' "$1" > /dev/null
}

# repaired IMAGE: one check -r all, then both checkers clean.
repaired() {
	run_tool '?' "$VM_DISK" check -r all "$1"
	[ "$status" -eq 0 ] || { echo "# check -r all $1: $status: $output" >&3; false; }
	run_tool 0 "$VM_DISK" check "$1"
	is "$output" "No errors were found on the image.*"
	qemu_ok "$1"
}

# l2 IMAGE: host offset of the first L2 table.
l2() {
	echo $(( $(u64 "$1" "$(u64 "$1" 40)") & 0x00fffffffffffe00 ))
}

@test "a lost refcount block: one check -r all, and both checkers are clean" {
	for o in cluster_size=64k cluster_size=512 compat=0.10; do
		img a.qcow2 $o
		# refcount table entry 0 (the header, tables and data) cleared
		poke a.qcow2 "$(u64 a.qcow2 48)" '\x00\x00\x00\x00\x00\x00\x00\x00'
		run_tool 2 qemu-img check a.qcow2
		run_tool 2 "$VM_DISK" check a.qcow2
		repaired a.qcow2
		qemu-io -c 'read -P 1 0 1M' -c 'read -P 0 1M 63M' a.qcow2 > /dev/null
		# and the image takes writes afterwards
		qemu-io -c 'write -P 2 32M 1M' a.qcow2 > /dev/null
		qemu_ok a.qcow2
	done
}

@test "leaked clusters, refcounts too high and too low: one repair, both checkers clean" {
	img good.qcow2
	rb=$(u64 good.qcow2 "$(u64 good.qcow2 48)")
	# a cluster appended to the file with refcount 1 and no reference
	cp good.qcow2 leak.qcow2
	n=$(( $(stat -c %s leak.qcow2) / 65536 ))
	truncate -s $(( (n + 1) * 65536 )) leak.qcow2
	poke leak.qcow2 $((rb + 2 * n)) '\x00\x01'
	run_tool 3 qemu-img check leak.qcow2
	repaired leak.qcow2
	# cluster 6 (data) refcount 1 -> 5: a leak, and its L2 entry's
	# copied flag is wrong now, for both
	cp good.qcow2 high.qcow2
	poke high.qcow2 $((rb + 12)) '\x00\x05'
	run_tool 2 qemu-img check high.qcow2
	run_tool 2 "$VM_DISK" check high.qcow2
	repaired high.qcow2
	# cluster 6 refcount 1 -> 0
	cp good.qcow2 low.qcow2
	poke low.qcow2 $((rb + 12)) '\x00\x00'
	run_tool 2 qemu-img check low.qcow2
	repaired low.qcow2
	for f in leak high low; do
		qemu-io -r -c 'read -P 1 0 1M' $f.qcow2 > /dev/null
	done
}

@test "a cluster two L2 entries share: refcount 2 and both copied flags cleared" {
	img a.qcow2
	l2=$(l2 a.qcow2)
	# entry 1 made to point at entry 0's cluster (cluster 1's own one leaks)
	e0=$(od -An -tx1 -j "$l2" -N 8 a.qcow2 | tr -d ' ' | sed 's/../\\x&/g')
	poke a.qcow2 $((l2 + 8)) "$e0"
	run_tool 2 qemu-img check a.qcow2
	repaired a.qcow2
	# neither entry may claim the cluster alone any more
	[ $(( $(u64 a.qcow2 "$l2") >> 63 )) -eq 0 ]
	[ $(( $(u64 a.qcow2 $((l2 + 8))) >> 63 )) -eq 0 ]
	qemu-io -r -c 'read -P 1 0 1M' a.qcow2 > /dev/null
	# a write to guest cluster 1 copies it: cluster 0 keeps its bytes
	"$BLKWRITE" a.qcow2 65536:65536:9
	qemu-io -r -c 'read -P 1 0 64k' -c 'read -P 9 64k 64k' -c 'read -P 1 128k 896k' a.qcow2 > /dev/null
}

@test "an L2 entry past the end of the file: cleared by one repair (qemu-img's own repair leaves it)" {
	img a.qcow2
	l2=$(l2 a.qcow2)
	poke a.qcow2 $((l2 + 8)) '\x80\x00\x00\x00\x10\x00\x00\x00'
	cp a.qcow2 q.qcow2
	run_tool 2 "$VM_DISK" check a.qcow2
	is "$output" "*past the end of the file*"
	repaired a.qcow2
	# the lost cluster reads as unallocated, the rest as written
	qemu-io -r -c 'read -P 1 0 64k' -c 'read -P 0 64k 64k' -c 'read -P 1 128k 896k' a.qcow2 > /dev/null
	# what qemu-img makes of the same damage, for the record
	run qemu-img check -r all q.qcow2
	echo "# qemu-img check -r all: status $status" >&3
}

@test "refcount widths 1 to 64: a lost refcount block, then a leaked cluster, each repaired by one check, both checkers clean" {
	for rb in 1 2 4 8 32 64; do
		img a.qcow2 refcount_bits=$rb
		rt=$(u64 a.qcow2 48)
		blk=$(u64 a.qcow2 "$rt")
		poke a.qcow2 "$rt" '\x00\x00\x00\x00\x00\x00\x00\x00'
		run_tool 2 qemu-img check a.qcow2
		run_tool 2 "$VM_DISK" check a.qcow2
		repaired a.qcow2
		same "$(qemu-img info --output=json a.qcow2 | jq '.["format-specific"].data["refcount-bits"]')" $rb "width kept"
		qemu-io -c 'read -P 1 0 1M' -c 'read -P 0 1M 63M' a.qcow2 > /dev/null
		# a cluster appended to the file with refcount 1 and no
		# reference: a leak (narrow refcounts pack into bytes from
		# the low bit)
		c=$(( $(stat -c %s a.qcow2) / 65536 ))
		truncate -s $(( (c + 1) * 65536 )) a.qcow2
		rt=$(u64 a.qcow2 48)
		blk=$(u64 a.qcow2 "$rt")
		at=$((blk + c * rb / 8)) bit=0
		if [ $rb -lt 8 ]; then bit=$((c * rb % 8)); else at=$((at + rb / 8 - 1)); fi
		cur=$(od -An -tu1 -j $at -N 1 a.qcow2 | tr -d ' ')
		poke a.qcow2 $at "$(printf '\\x%02x' $((cur | 1 << bit)))"
		run_tool 3 qemu-img check a.qcow2
		run_tool 3 "$VM_DISK" check a.qcow2
		run_tool 0 "$VM_DISK" check -r leaks a.qcow2
		qemu_ok a.qcow2
		qemu-io -c 'write -P 2 32M 1M' a.qcow2 > /dev/null
		qemu_ok a.qcow2
	done
}
