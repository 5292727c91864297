#!/usr/bin/env bats
# qcow2 space freed by discard, snapshot deletion, shrinking and commit
# is used again by the next writes instead of growing the file; discard
# itself reads back as qemu-io says it should; a writer killed with
# SIGKILL while it reuses freed clusters leaves at worst leaks; and an
# image whose refcounts wrongly call its own tables free does not get
# them overwritten; a guest's blkdiscard through virtio-blk frees clusters
# its next writes take.  qemu-img check and qemu-io are the judges.

load helpers
load disk

setup() {
	disk_setup
}

size() {
	stat -c %s "$1"
}

@test "discard then rewrite: the file does not grow, qemu-img check is clean, the data is what was written" {
	for o in cluster_size=512 cluster_size=4k compat=0.10 cluster_size=64k cluster_size=2M; do
		rm -f a.qcow2
		qemu-img create -q -f qcow2 -o $o a.qcow2 16M
		"$BLKWRITE" a.qcow2 0:16777216:5
		full=$(size a.qcow2)
		"$BLKWRITE" a.qcow2 0:16777216:d
		qemu_ok a.qcow2
		# every guest cluster unallocated again, reading as zeros
		same "$(qemu-img map --output=json a.qcow2 | jq -c '[.[] | select(.data)] | length')" 0 "$o: map after discard"
		qemu-io -c 'read -P 0 0 16M' a.qcow2 > /dev/null
		"$BLKWRITE" a.qcow2 0:16777216:7
		qemu_ok a.qcow2
		qemu-io -c 'read -P 7 0 16M' a.qcow2 > /dev/null
		[ "$(size a.qcow2)" -le "$full" ] || { echo "# $o: $(size a.qcow2) > $full" >&3; false; }
	done
}

@test "a mixed discard and write workload: the same bytes as qemu-io's, and never more clusters than the disk has" {
	qemu-img create -q -f qcow2 -o cluster_size=4k a.qcow2 16M
	qemu-img create -q -f raw ref.raw 16M
	"$BLKWRITE" a.qcow2 0:16777216:1
	qemu-io -f raw -c 'write -P 1 0 16M' ref.raw > /dev/null
	full=$(size a.qcow2)
	RANDOM=7
	for i in $(seq 1 40); do
		o=$(( (RANDOM * 32768 + RANDOM) % (16 << 20) ))
		l=$(( RANDOM % (2 << 20) + 1 ))
		[ $((o + l)) -le $((16 << 20)) ] || l=$(( (16 << 20) - o ))
		if [ $((i % 2)) -eq 0 ]; then
			"$BLKWRITE" a.qcow2 $o:$l:d
			# whole clusters inside the range read as zeros; the
			# partial ones at its ends keep their data
			s=$(( (o + 4095) / 4096 * 4096 )) e=$(( (o + l) / 4096 * 4096 ))
			[ $((o + l)) -lt $((16 << 20)) ] || e=$((16 << 20))
			[ $e -le $s ] || qemu-io -f raw -c "write -z $s $((e - s))" ref.raw > /dev/null
		else
			b=$(printf %x $((i + 16)))
			"$BLKWRITE" a.qcow2 $o:$l:$b
			qemu-io -f raw -c "write -P 0x$b $o $l" ref.raw > /dev/null
		fi
	done
	qemu_ok a.qcow2
	run qemu-img compare -f qcow2 -F raw a.qcow2 ref.raw
	is "$status" 0 "qemu-img compare with the same ops on raw: $output"
	[ "$(size a.qcow2)" -le "$full" ] || { echo "# $(size a.qcow2) > $full" >&3; false; }
}

@test "discard over a backing file: version 3 reads zeros, version 2 the backing file; a snapshot keeps its data" {
	qemu-img create -q -f qcow2 base.qcow2 4M
	qemu-io -c 'write -P 9 0 4M' base.qcow2 > /dev/null
	for c in 1.1 0.10; do
		rm -f top.qcow2
		qemu-img create -q -f qcow2 -o compat=$c -b base.qcow2 -F qcow2 top.qcow2
		"$BLKWRITE" top.qcow2 0:4194304:3
		qemu-img snapshot -c s top.qcow2
		"$BLKWRITE" top.qcow2 1048576:2097152:d
		qemu_ok top.qcow2
		if [ $c = 1.1 ]; then p=0; else p=9; fi
		qemu-io -c 'read -P 3 0 1M' -c "read -P $p 1M 2M" -c 'read -P 3 3M 1M' top.qcow2 > /dev/null
		qemu-img snapshot -a s top.qcow2
		qemu-io -c 'read -P 3 0 4M' top.qcow2 > /dev/null
	done
}

@test "clusters qemu-io discarded are written again by vm-disk instead of new ones" {
	qemu-img create -q -f qcow2 a.qcow2 16M
	qemu-io -c 'write -P 1 0 16M' -c 'discard 0 16M' a.qcow2 > /dev/null
	before=$(size a.qcow2)
	"$BLKWRITE" a.qcow2 0:16777216:2
	qemu_ok a.qcow2
	qemu-io -c 'read -P 2 0 16M' a.qcow2 > /dev/null
	is "$(size a.qcow2)" "$before"
}

@test "after snapshot -d, shrink and commit the freed clusters take the next writes" {
	# snapshot: the clusters only the deleted snapshot held
	qemu-img create -q -f qcow2 a.qcow2 32M
	"$BLKWRITE" a.qcow2 0:16777216:1
	run_tool 0 "$VM_DISK" snapshot -c s a.qcow2
	"$BLKWRITE" a.qcow2 0:16777216:2
	run_tool 0 "$VM_DISK" snapshot -d s a.qcow2
	before=$(size a.qcow2)
	"$BLKWRITE" a.qcow2 16777216:16777216:3
	qemu_ok a.qcow2
	qemu-io -c 'read -P 2 0 16M' -c 'read -P 3 16M 16M' a.qcow2 > /dev/null
	[ "$(size a.qcow2)" -le "$before" ] || { echo "# snapshot: $(size a.qcow2) > $before" >&3; false; }

	# shrink: the clusters past the new end
	rm -f a.qcow2
	qemu-img create -q -f qcow2 a.qcow2 32M
	"$BLKWRITE" a.qcow2 0:33554432:1
	before=$(size a.qcow2)
	run_tool 0 "$VM_DISK" resize --shrink a.qcow2 16M
	run_tool 0 "$VM_DISK" resize a.qcow2 32M
	"$BLKWRITE" a.qcow2 16777216:16777216:4
	qemu_ok a.qcow2
	qemu-io -c 'read -P 1 0 16M' -c 'read -P 4 16M 16M' a.qcow2 > /dev/null
	is "$(size a.qcow2)" "$before" "size after shrink, grow and rewrite"

	# commit: the overlay's clusters, once its data is in the base
	qemu-img create -q -f qcow2 base.qcow2 16M
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
	"$BLKWRITE" top.qcow2 0:8388608:5
	before=$(size top.qcow2)
	run_tool 0 "$VM_DISK" commit top.qcow2
	"$BLKWRITE" top.qcow2 8388608:8388608:6
	qemu_ok top.qcow2
	qemu_ok base.qcow2
	qemu-io -c 'read -P 5 0 8M' -c 'read -P 6 8M 8M' top.qcow2 > /dev/null
	is "$(size top.qcow2)" "$before" "overlay size after commit and rewrite"
}

# killed_at N CMD...: run CMD with a SIGKILL at its Nth write, truncate
# or sync (strace's fault injection: an exact point, no timing).
killed_at() {
	local n=$1; shift
	strace -o /dev/null -e trace=pwrite64,ftruncate,fdatasync \
		-e inject=pwrite64,ftruncate,fdatasync:signal=SIGKILL:when=$n "$@" 2>/dev/null || true
}

points() {
	strace -o calls -e trace=pwrite64,ftruncate,fdatasync "$@" > /dev/null
	grep -c '^[a-z]' calls
}

@test "SIGKILL at any point of a discard and rewrite: at worst leaks, and what it did not touch is intact" {
	command -v strace > /dev/null || skip "strace not installed (fault injection)"
	qemu-img create -q -f qcow2 -o cluster_size=4k k.qcow2 16M
	qemu-io -c 'write -P 4 0 16M' k.qcow2 > /dev/null
	qemu-img snapshot -c keep k.qcow2
	qemu-io -c 'write -P 5 0 6M' -c 'discard 2M 2M' k.qcow2 > /dev/null
	ops="0:4194304:d 0:2097152:7 rand:30:5 4194304:2097152:d 1048576:3145728:8"
	cp k.qcow2 t.qcow2
	total=$(points "$BLKWRITE" t.qcow2 $ops)
	[ "$total" -gt 100 ]
	for n in 1 2 3 5 8 13 21 34 55 89 $((total / 5)) $((total / 3)) $((total / 2)) \
	    $((total * 2 / 3)) $((total - 2)) $((total - 1)) $total; do
		cp k.qcow2 t.qcow2
		killed_at $n "$BLKWRITE" t.qcow2 $ops
		run qemu-img check t.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# killed at $n of $total: $output" >&3; false; }
		run_tool '?' "$VM_DISK" check t.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# vm-disk check, killed at $n of $total: $output" >&3; false; }
		# the snapshot shares clusters with what was freed and written
		qemu-img snapshot -a keep t.qcow2
		qemu-io -c 'read -P 4 0 16M' t.qcow2 > /dev/null
	done
	# the whole run, unkilled, leaves the image clean
	cp k.qcow2 t.qcow2
	"$BLKWRITE" t.qcow2 $ops > /dev/null
	qemu_ok t.qcow2
}

@test "refcounts that call the L1 table free: a write goes elsewhere and the L1 table survives" {
	qemu-img create -q -f qcow2 a.qcow2 16M
	qemu-io -c 'write -P 1 0 64k' a.qcow2 > /dev/null
	l1=$(od -An -tu8 --endian=big -j40 -N8 a.qcow2 | tr -d ' ')
	rt=$(od -An -tu8 --endian=big -j48 -N8 a.qcow2 | tr -d ' ')
	rb=$(od -An -tu8 --endian=big -j"$rt" -N8 a.qcow2 | tr -d ' ')
	poke a.qcow2 $((rb + l1 / 65536 * 2)) '\x00\x00'
	"$BLKWRITE" a.qcow2 1048576:65536:2
	is "$(od -An -tu8 --endian=big -j40 -N8 a.qcow2 | tr -d ' ')" "$l1"
	qemu-io -r -c 'read -P 1 0 64k' -c 'read -P 2 1M 64k' -c 'read -P 0 64k 960k' a.qcow2 > /dev/null
	# the damage is reported as before, and repaired
	run qemu-img check a.qcow2
	is "$status" 2 "qemu-img check finds the refcount of the L1 table: $output"
	run_tool 0 "$VM_DISK" check -r all a.qcow2
	qemu_ok a.qcow2
	qemu-io -c 'read -P 1 0 64k' -c 'read -P 2 1M 64k' a.qcow2 > /dev/null
}

@test "dbt: a guest that writes, discards (blkdiscard through virtio-blk) and writes elsewhere does not grow its qcow2 disk" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	qemu-img create -q -f qcow2 d.qcow2 32M
	run_tool '?' timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" --disk d.qcow2 \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"yes A | dd of=/dev/vda bs=1M count=16 iflag=fullblock conv=fsync 2>/dev/null; \
blkdiscard /dev/vda && echo discarded; \
yes B | dd of=/dev/vda bs=1M seek=16 count=16 iflag=fullblock conv=fsync 2>/dev/null; echo done\"" </dev/null
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status"
	is "$output" "*discarded*done*" "the guest's blkdiscard"
	qemu_ok d.qcow2
	yes B | head -c 16M > b.raw
	qemu-img convert -O raw d.qcow2 d.raw
	cmp -n 16777216 d.raw /dev/zero
	cmp -i 16777216:0 d.raw b.raw
	# 16 MiB of data live at the end; without reuse the file would
	# hold both 16 MiB regions
	size=$(stat -c %s d.qcow2)
	[ "$size" -lt $((20 << 20)) ] || { echo "# d.qcow2 is $size bytes" >&3; false; }
}

@test "check -r all of an image missing a refcount block writes its new tables past the end, never over data the refcounts call free" {
	qemu-img create -q -f qcow2 -o cluster_size=512 a.qcow2 1M
	qemu-io -c 'write -P 3 0 1M' a.qcow2 > /dev/null
	# the refcount table's fourth entry (clusters 768..1023) cleared:
	# those clusters, all in use, now have refcount 0
	rt=$(od -An -tu8 --endian=big -j48 -N8 a.qcow2 | tr -d ' ')
	poke a.qcow2 $((rt + 24)) '\x00\x00\x00\x00\x00\x00\x00\x00'
	run_tool 2 qemu-img check a.qcow2
	run_tool 0 "$VM_DISK" check -r all a.qcow2
	qemu-io -c 'read -P 3 0 1M' a.qcow2 > /dev/null
	# one repair is enough: qemu-img finds nothing left to do
	qemu_ok a.qcow2
	qemu-img check -q -r all a.qcow2
	qemu-io -c 'read -P 3 0 1M' a.qcow2 > /dev/null
}

@test "freed clusters at the end of the file are given back on close: discard and check -r leaks shrink it to a fresh image's size" {
	# what 4 MiB of data takes in a fresh image, written by qemu-io
	qemu-img create -q -f qcow2 ref.qcow2 64M
	qemu-io -c 'write -P 5 0 4M' ref.qcow2 > /dev/null
	want=$(size ref.qcow2)
	# 8 MiB written, the last 4 MiB discarded: the file shrinks
	qemu-img create -q -f qcow2 d.qcow2 64M
	"$BLKWRITE" d.qcow2 0:8388608:5
	[ "$(size d.qcow2)" -gt "$want" ]
	"$BLKWRITE" d.qcow2 4194304:4194304:d
	same "$(size d.qcow2)" "$want" "size after discarding the tail"
	qemu_ok d.qcow2
	qemu-io -r -c 'read -P 5 0 4M' -c 'read -P 0 4M 60M' d.qcow2 > /dev/null
	# 4 leaked clusters appended: check -r leaks reclaims and drops them
	cp ref.qcow2 l.qcow2
	n=$(( want / 65536 ))
	truncate -s $(( (n + 4) * 65536 )) l.qcow2
	rt=$(od -An -tu8 --endian=big -j48 -N8 l.qcow2 | tr -d ' ')
	rb=$(od -An -tu8 --endian=big -j "$rt" -N8 l.qcow2 | tr -d ' ')
	for i in 0 1 2 3; do poke l.qcow2 $((rb + 2 * (n + i))) '\x00\x01'; done
	run_tool 3 qemu-img check l.qcow2
	run_tool 0 "$VM_DISK" check -r leaks l.qcow2
	same "$(size l.qcow2)" "$want" "size after check -r leaks"
	qemu_ok l.qcow2
	qemu-io -r -c 'read -P 5 0 4M' l.qcow2 > /dev/null
	# a read-only look (-U, info, check) never truncates
	truncate -s $(( (n + 4) * 65536 )) l.qcow2
	"$VM_DISK" info l.qcow2 > /dev/null
	"$VM_DISK" check l.qcow2 > /dev/null
	same "$(size l.qcow2)" $(( (n + 4) * 65536 )) "size after info and check"
}

@test "SIGKILL at every point of a discard that shrinks the file: at worst leaks, the rest intact" {
	command -v strace > /dev/null || skip "strace not installed (fault injection)"
	# (64k clusters: with 4k ones the second refcount block would be the
	# last cluster, and nothing could be given back)
	qemu-img create -q -f qcow2 k.qcow2 16M
	qemu-io -c 'write -P 4 0 8M' k.qcow2 > /dev/null
	ops="6291456:2097152:d"
	cp k.qcow2 t.qcow2
	total=$(points "$BLKWRITE" t.qcow2 $ops)
	grep -q '^ftruncate' calls
	n=1
	while [ $n -le "$total" ]; do
		cp k.qcow2 t.qcow2
		killed_at $n "$BLKWRITE" t.qcow2 $ops
		run qemu-img check t.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# killed at $n of $total: $output" >&3; false; }
		run_tool '?' "$VM_DISK" check t.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# vm-disk check, killed at $n of $total: $output" >&3; false; }
		qemu-io -r -c 'read -P 4 0 6M' t.qcow2 > /dev/null
		# whatever was left, a leak repair makes it clean
		"$VM_DISK" check -q -r leaks t.qcow2 || true
		qemu_ok t.qcow2
		n=$(( n < 40 ? n + 1 : n + total / 20 ))
	done
}
