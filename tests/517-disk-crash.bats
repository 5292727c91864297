#!/usr/bin/env bats
# qcow2 crash consistency at every write.  VMKIT_BLOCK_CRASH_AFTER=N ends
# the writer (exit 9, as a kill would) just before its Nth write to the
# image; N runs from 1 until the writer finishes, so every point between
# two writes is tried once, metadata write-back included.  After each
# crash qemu-img check and vm-disk check must find at worst leaks (exit
# 0 or 3), never corruption; what a finished flush made durable, and
# what a snapshot keeps, must still read back.

load helpers
load disk

setup() {
	disk_setup
}

# crash_ok IMAGE WHAT: both checkers find at worst leaked clusters.
crash_ok() {
	run qemu-img check "$1"
	[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# qemu-img check, $2: $output" >&3; false; }
	run "$VM_DISK" check "$1"
	[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# vm-disk check, $2: $output" >&3; false; }
}

# has_header FILE: the first four bytes are qcow2's magic
has_header() {
	[ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' ')" = 514649fb ]
}

@test "a convert to qcow2 ended before each of its writes: the output untouched, the partial image at worst leaks" {
	truncate -s 6M src.raw
	yes crash | head -c 1M | dd of=src.raw conv=notrunc status=none
	head -c 1M /dev/urandom | dd of=src.raw bs=1M seek=5 conv=notrunc status=none
	printf 'middle' | dd of=src.raw bs=1 seek=$((2560 * 1024)) conv=notrunc status=none
	n=1
	while :; do
		rm -f out.qcow2*
		echo old > out.qcow2
		run env VMKIT_BLOCK_CRASH_AFTER=$n "$VM_DISK" convert -O qcow2 -o cluster_size=4k src.raw out.qcow2
		[ "$status" -ne 9 ] && break
		is "$(cat out.qcow2)" old "the output named on the command line, crash at write $n"
		for f in out.qcow2.*; do
			[ -e "$f" ] || continue
			# before its header is written the file is no image yet
			has_header "$f" || continue
			crash_ok "$f" "convert ended at write $n"
		done
		n=$((n + 1))
	done
	is "$status" 0 "convert with no crash point left (after $n)"
	# the hook really ended it before writes: header, tables, data
	[ "$n" -gt 8 ] || { echo "# only $n write points" >&3; false; }
	qemu_ok out.qcow2
	qemu-img compare -f raw src.raw out.qcow2
}

@test "a guest-like workload on an image with a snapshot ended before each write: at worst leaks, flushed writes and the snapshot intact" {
	qemu-img create -q -f qcow2 -o cluster_size=4k k.qcow2 8M
	qemu-io -c 'write -P 4 0 4M' k.qcow2 > /dev/null
	qemu-img snapshot -c keep k.qcow2
	# random writes, then: overwrite clusters the snapshot shares (copy
	# of L2 tables and data, refcount drops), flush, discard, allocate
	# new tables, flush, more
	ops="rand:6:3 0:262144:5 flush 1048576:131072:d 3145728:2097152:6 7340032:4096:7 flush 6291456:65536:8 2097152:8192:d"
	n=1
	while :; do
		cp k.qcow2 t.qcow2
		run env VMKIT_BLOCK_CRASH_AFTER=$n "$BLKWRITE" t.qcow2 $ops
		[ "$status" -ne 9 ] && break
		crash_ok t.qcow2 "ended at write $n"
		flushed=$(grep -c '^flushed' <<< "$output" || true)
		if [ "$flushed" -ge 1 ]; then
			qemu-io -r -c 'read -P 5 0 256k' t.qcow2 > /dev/null ||
				{ echo "# write $n: the first flush's data lost" >&3; false; }
		fi
		if [ "$flushed" -ge 2 ]; then
			qemu-io -r -c 'read -P 0 1M 128k' -c 'read -P 6 3M 2M' \
			    -c 'read -P 7 7M 4k' t.qcow2 > /dev/null ||
				{ echo "# write $n: the second flush's data lost" >&3; false; }
		fi
		# the snapshot shares clusters with what was overwritten
		qemu-img snapshot -a keep t.qcow2
		qemu-io -r -c 'read -P 4 0 4M' t.qcow2 > /dev/null ||
			{ echo "# write $n: the snapshot's data changed" >&3; false; }
		n=$((n + 1))
	done
	is "$status" 0 "the workload with no crash point left (after $n)"
	printed=$output
	[ "$n" -gt 20 ] || { echo "# only $n write points" >&3; false; }
	qemu_ok t.qcow2
	# the same operations through qemu-io give the same bytes
	args=()
	for op in $ops; do
		case $op in
		flush) ;;
		rand:*)
			while IFS=: read -r o l b; do
				args+=(-c "write -P 0x$b $o $l")
			done < <(grep -v '^flushed' <<< "$printed") ;;
		*:d)
			IFS=: read -r o l b <<< "$op"
			args+=(-c "discard $o $l") ;;
		*)
			IFS=: read -r o l b <<< "$op"
			args+=(-c "write -P 0x$b $o $l") ;;
		esac
	done
	cp k.qcow2 q.qcow2
	qemu-io "${args[@]}" q.qcow2 > /dev/null
	qemu-img compare q.qcow2 t.qcow2
}

@test "snapshot -a and -d ended before each write (the second layout that shrinks the file included): the old image or the new one" {
	qemu-img create -q -f qcow2 -o cluster_size=4k a.qcow2 8M
	qemu-io -c 'write -P 4 0 2M' a.qcow2 > /dev/null
	qemu-img snapshot -c keep a.qcow2
	qemu-io -c 'write -P 5 4M 2M' a.qcow2 > /dev/null
	# d.qcow2: the 2 MiB at the end held by the snapshot "later" alone
	cp a.qcow2 d.qcow2
	qemu-img snapshot -c later d.qcow2
	"$VM_DISK" snapshot -a keep d.qcow2
	for op in "-a keep a" "-d later d"; do
		set -- $op
		n=1
		while :; do
			cp $3.qcow2 t.qcow2
			run env VMKIT_BLOCK_CRASH_AFTER=$n "$VM_DISK" snapshot $1 $2 t.qcow2
			[ "$status" -ne 9 ] && break
			crash_ok t.qcow2 "snapshot $1 $2 ended at write $n"
			qemu-io -r -c 'read -P 4 0 2M' t.qcow2 > /dev/null ||
				{ echo "# $1 $2, write $n: the data both keep" >&3; false; }
			n=$((n + 1))
		done
		is "$status" 0 "snapshot $1 $2 with no crash point left (after $n)"
		[ "$n" -gt 5 ]
		qemu_ok t.qcow2
		qemu-io -r -c 'read -P 4 0 2M' -c 'read -P 0 4M 2M' t.qcow2 > /dev/null
		# the 2 MiB it let go of are given back
		[ "$(stat -c %s t.qcow2)" -lt $(( $(stat -c %s $3.qcow2) - 1048576 )) ] ||
			{ echo "# $1 $2: $(stat -c %s t.qcow2) bytes, $(stat -c %s $3.qcow2) before" >&3; false; }
	done
}

@test "a writer that never flushes, ended before each of its writes, loses at most VMKIT_BLOCK_WRITEBACK's window" {
	qemu-img create -q -f qcow2 -o cluster_size=64k w.qcow2 16M
	# 128 writes of one cluster each, in order, no flush among them
	ops=() ; : > exp.raw
	for ((i = 0; i < 128; i++)); do
		b=$(printf %02x $((i % 250 + 1)))
		ops+=("$((i * 65536)):65536:$b")
		head -c 64k /dev/zero | tr '\0' "\\$(printf %03o $((16#$b)))" >> exp.raw
	done
	truncate -s 16M exp.raw
	n=1
	while :; do
		cp w.qcow2 t.qcow2
		run env VMKIT_BLOCK_CRASH_AFTER=$n VMKIT_BLOCK_WRITEBACK=1,0 "$BLKWRITE" t.qcow2 "${ops[@]}"
		[ "$status" -ne 9 ] && break
		crash_ok t.qcow2 "ended at write $n"
		# what reads back: the first p writes, then nothing
		qemu-img convert -O raw t.qcow2 got.raw
		d=$(cmp got.raw exp.raw | sed -n 's/.*differ: byte \([0-9]*\),.*/\1/p')
		p=$(( d ? (d - 1) / 65536 : 128 ))
		head -c $((p * 65536)) exp.raw > pre.raw
		truncate -s 16M pre.raw
		cmp got.raw pre.raw || { echo "# write $n: more than a prefix of $p writes" >&3; false; }
		# n - 1 writes were made: data, and at each 1 MiB (16 writes)
		# a write-back of at most 3 tables (refcount block, L2, L1);
		# all but the last window's 16 (and the one under way) read back
		want=$(( (n - 1) - 3 * ((n - 1) / 16 + 1) - 17 ))
		[ "$p" -ge "$want" ] || { echo "# write $n: only $p of the writes read back, want $want" >&3; false; }
		n=$((n + 3))
	done
	is "$status" 0 "the writer with no crash point left (after $n)"
	[ "$n" -gt 128 ] || { echo "# only $n write points" >&3; false; }
	qemu-img convert -O raw t.qcow2 got.raw
	cmp got.raw exp.raw
}

@test "the loss window's time bound: a writer that pauses past it has what it wrote before written back" {
	qemu-img create -q -f qcow2 -o cluster_size=64k w.qcow2 4M
	# writes 1 and 2 are data; the second comes after the 1 s bound,
	# so the tables follow it (writes 3-5); ended before the third
	# cluster's data (write 6), the first two must read back
	run env VMKIT_BLOCK_CRASH_AFTER=6 VMKIT_BLOCK_WRITEBACK=0,1 "$BLKWRITE" w.qcow2 \
	    0:65536:11 sleep:1500 65536:65536:22 131072:65536:33
	is "$status" 9 "the writer ended at write 6"
	crash_ok w.qcow2 "ended at write 6"
	qemu-io -r -c 'read -P 0x11 0 64k' -c 'read -P 0x22 64k 64k' -c 'read -P 0 128k 64k' w.qcow2 > /dev/null ||
		{ echo "# the writes before the bound are lost" >&3; false; }
	# with the time bound off as well, they are lost: the window is
	# what kept them
	qemu-img create -q -f qcow2 -o cluster_size=64k v.qcow2 4M
	run env VMKIT_BLOCK_CRASH_AFTER=3 VMKIT_BLOCK_WRITEBACK=0,0 "$BLKWRITE" v.qcow2 \
	    0:65536:11 sleep:1500 65536:65536:22 131072:65536:33
	is "$status" 9 "the writer ended at write 3"
	qemu-io -r -c 'read -P 0 0 192k' v.qcow2 > /dev/null
}

# crash_each WHAT OPS READ...: blkwrite OPS on copies of k.qcow2, ended
# before its 1st, 2nd, ... write until it finishes (in t.qcow2); each
# crash leaves at worst leaks, and once "flushed" is printed the
# qemu-io READ commands (-c arguments) succeed.  More than 8 points.
crash_each() {
	local what=$1 ops=$2 n=1 flushed
	shift 2
	while :; do
		cp k.qcow2 t.qcow2
		run env VMKIT_BLOCK_CRASH_AFTER=$n "$BLKWRITE" t.qcow2 $ops
		[ "$status" -ne 9 ] && break
		crash_ok t.qcow2 "$what, ended at write $n"
		flushed=$(grep -c '^flushed' <<< "$output" || true)
		if [ "$flushed" -ge 1 ]; then
			qemu-io -r "$@" t.qcow2 > /dev/null ||
				{ echo "# $what, write $n: the first flush's data lost" >&3; false; }
		fi
		n=$((n + 1))
	done
	is "$status" 0 "$what with no crash point left (after $n)"
	[ "$n" -gt 8 ] || { echo "# $what: only $n write points" >&3; false; }
	qemu_ok t.qcow2
}

@test "writes to images with 1-, 4- and 64-bit refcounts ended before each write: at worst leaks, flushed data there" {
	for rb in 1 4 64; do
		rm -f k.qcow2
		qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4k k.qcow2 8M
		qemu-io -c 'write -P 4 0 1M' k.qcow2 > /dev/null
		# new clusters past several refcount blocks (64 refcounts in a
		# 4 KiB block of 64-bit ones), a flush, a discard, reuse
		crash_each "refcount_bits=$rb" \
		    "0:65536:5 2097152:1048576:6 flush 524288:131072:d 6291456:262144:7 flush 7340032:4096:8" \
		    -c 'read -P 5 0 64k' -c 'read -P 6 2M 1M'
		cp k.qcow2 q.qcow2
		qemu-io -c 'write -P 5 0 64k' -c 'write -P 6 2M 1M' -c 'discard 512k 128k' \
		    -c 'write -P 7 6M 256k' -c 'write -P 8 7M 4k' q.qcow2 > /dev/null
		qemu-img compare q.qcow2 t.qcow2
	done
}

@test "writes to an extended L2 image (over a backing file, with a compressed cluster) ended before each write: at worst leaks, flushed data there" {
	qemu-img create -q -f qcow2 base.qcow2 8M
	qemu-io -c 'write -P 3 0 8M' base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k -b base.qcow2 -F qcow2 k.qcow2
	qemu-io -c 'write -P 4 0 64k' -c 'write -z 1M 32k' k.qcow2 > /dev/null
	qemu-io -c 'write -c -P 9 2M 16k' k.qcow2 > /dev/null
	# parts of subclusters, whole ones, into the compressed cluster, a
	# flush, a discard, new L2 tables (2 MiB each here), a flush
	crash_each "extended L2" \
	    "1000:3000:5 1048576:20000:6 flush 2097152:100:7 65536:32768:d 4194304:1048576:8 flush 7340032:512:9" \
	    -c 'read -P 4 0 1000' -c 'read -P 5 1000 3000' -c 'read -P 4 4000 61536' \
	    -c 'read -P 6 1M 20000' -c 'read -P 0 1068576 12192'
	cp k.qcow2 q.qcow2
	qemu-io -c 'write -P 5 1000 3000' -c 'write -P 6 1M 20000' -c 'write -P 7 2M 100' \
	    -c 'discard 64k 32k' -c 'write -P 8 4M 1M' -c 'write -P 9 7M 512' q.qcow2 > /dev/null
	qemu-img compare q.qcow2 t.qcow2
}
