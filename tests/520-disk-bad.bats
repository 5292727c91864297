#!/usr/bin/env bats
# Bad input: broken or hostile images are refused with exit 1 and a
# message naming the file and the problem, and are left byte for byte as
# they were; check tells leaks (3) from corruption (2) as qemu-img does.

load helpers
load disk

setup() {
	disk_setup
	qemu-img create -q -f qcow2 good.qcow2 4M
	qemu-io -c 'write -P 5 0 256k' good.qcow2 > /dev/null
}

# refused FIELD-OFFSET BYTES MESSAGE-GLOB: poke good.qcow2's header (or
# $GOOD's), then info, cat, check, convert and a write all fail cleanly
# and change nothing.
refused() {
	cp "${GOOD:-good.qcow2}" bad.qcow2
	poke bad.qcow2 "$1" "$2"
	cp bad.qcow2 bad.orig
	run_tool 1 "$VM_DISK" info bad.qcow2
	is "$output" "vm-disk: bad.qcow2: $3" "info at offset $1"
	run_tool 1 "$VM_DISK" cat bad.qcow2
	run_tool 1 "$VM_DISK" check bad.qcow2
	run_tool 1 "$VM_DISK" check -r all bad.qcow2
	run_tool 1 "$VM_DISK" convert -O raw bad.qcow2 out.raw
	[ ! -e out.raw ]
	run_tool 1 "$BLKWRITE" bad.qcow2 0:512:1
	cmp bad.qcow2 bad.orig
}

@test "header fields out of range are refused and the file is unchanged" {
	refused 4 '\x00\x00\x00\x04' "qcow2 version 4 is not supported"
	refused 20 '\x00\x00\x00\x1e' "cluster size 2^30 is outside 512 B..2 MiB"
	refused 24 '\x7f\x00\x00\x00\x00\x00\x00\x00' "virtual size * is absurd"
	refused 36 '\xff\xff\xff\xff' "L1 table of 4294967295 entries is too large"
	refused 36 '\x00\x00\x00\x00' "L1 table (0 entries) too small for the virtual size"
	refused 40 '\x00\x00\x00\x10\x00\x00\x00\x00' "L1 table offset 0x1000000000 is unaligned or past the end of the file"
	refused 48 '\x00\x00\x00\x00\x00\x01\x00\x08' "refcount table offset 0x10008 is unaligned or past the end of the file"
	refused 56 '\x00\x01\x00\x00' "refcount table of 65536 clusters is absurd"
	refused 48 '\x00\x00\x00\x00\x00\x03\x00\x00' "the L1 table and the refcount table overlap"
	refused 72 '\x00\x00\x00\x00\x00\x00\x01\x00' "unknown incompatible features 0x100"
	# extended L2 (read, not written) needs clusters of 16 KiB or more
	cp good.qcow2 ext.qcow2
	poke ext.qcow2 72 '\x00\x00\x00\x00\x00\x00\x00\x10'
	GOOD=ext.qcow2 refused 20 '\x00\x00\x00\x0d' "extended L2 entries with 8192-byte clusters (subclusters under 512 bytes) are invalid"
	refused 32 '\x00\x00\x00\x01' "encrypted images are not supported"
	refused 100 '\x00\x00\x00\x05' "header length 5 is invalid"
	refused 8 '\x00\x00\x00\x00\x00\x00\xff\xf0\x00\x00\x00\x40' "backing file name is outside the header cluster"
}

@test "a truncated image is refused" {
	head -c 100 good.qcow2 > t.qcow2
	cp t.qcow2 t.orig
	run_tool 1 "$VM_DISK" info t.qcow2
	is "$output" "vm-disk: t.qcow2: *past the end of the file"
	head -c 40 good.qcow2 > t2.qcow2
	run_tool 1 "$VM_DISK" info -f qcow2 t2.qcow2
	is "$output" "vm-disk: t2.qcow2: truncated qcow2 header"
	cmp t.qcow2 t.orig
}

@test "an L2 entry pointing past the end of the file: read fails with the reason, check says corrupt" {
	cp good.qcow2 bad.qcow2
	l2=$(od -An -tx8 --endian=big -j $((0x30000)) -N 8 good.qcow2 | tr -d ' ')
	l2=$(( 0x$l2 & 0x00fffffffffffe00 ))
	poke bad.qcow2 $l2 '\x80\x00\x00\x00\x10\x00\x00\x00'
	cp bad.qcow2 bad.orig
	run_tool 1 "$VM_DISK" cat bad.qcow2
	is "$output" "*bad.qcow2: L2 entry for guest offset 0 points past the end of the file (0x10000000)*"
	run_tool 2 "$VM_DISK" check bad.qcow2
	run qemu-img check bad.qcow2
	is "$status" 2 "qemu-img agrees it is corrupt"
	run_tool 1 "$BLKWRITE" bad.qcow2 0:512:1
	cmp bad.qcow2 bad.orig
}

@test "a backing chain that loops is refused" {
	qemu-img create -q -f qcow2 a.qcow2 1M
	qemu-img create -q -f qcow2 -u -b a.qcow2 -F qcow2 b.qcow2 1M
	qemu-img rebase -q -u -b b.qcow2 -F qcow2 a.qcow2
	run_tool 1 "$VM_DISK" cat a.qcow2
	is "$output" "*backing chain loops back to an image already in it"
}

@test "check: leaks exit 3 and -r leaks repairs them; corruption exits 2" {
	cp good.qcow2 lk.qcow2
	rt=$(od -An -tx8 --endian=big -j 48 -N 8 good.qcow2 | tr -d ' ')
	rb=$(od -An -tx8 --endian=big -j $((0x$rt)) -N 8 good.qcow2 | tr -d ' ')
	# cluster 2's refcount 1 -> 2: a leak
	poke lk.qcow2 $((0x$rb + 4)) '\x00\x02'
	run_tool 3 "$VM_DISK" check lk.qcow2
	is "$output" "*1 leaked clusters were found on the image.*"
	run qemu-img check lk.qcow2
	is "$status" 3 "qemu-img sees the leak too"
	run_tool 0 "$VM_DISK" check -r leaks lk.qcow2
	is "$output" "*1 leaked clusters*"
	qemu_ok lk.qcow2
	# cluster 5 (data) refcount 1 -> 0: corruption
	cp good.qcow2 cr.qcow2
	poke cr.qcow2 $((0x$rb + 10)) '\x00\x00'
	run_tool 2 "$VM_DISK" check cr.qcow2
	is "$output" "*ERROR cluster 5 refcount=0 reference=1*"
	run_tool 2 "$VM_DISK" check --json cr.qcow2
	is "$(echo "$output" | jq .corruptions)" 2
	run_tool 0 "$VM_DISK" check -r all cr.qcow2
	qemu_ok cr.qcow2
	run_tool 63 "$VM_DISK" check -f raw good.qcow2
}

@test "compare: 0 identical, 1 different with the offset, sizes differing only by zeros" {
	head -c 3M /dev/urandom > a.raw
	"$VM_DISK" convert -O qcow2 a.raw a.qcow2
	run_tool 0 "$VM_DISK" compare a.raw a.qcow2
	is "$output" "Images are identical."
	cp a.raw b.raw
	printf 'X' | dd of=b.raw bs=1 seek=1234567 conv=notrunc status=none
	cmp -s a.raw b.raw && skip "the random byte was already X"
	run_tool 1 "$VM_DISK" compare a.qcow2 b.raw
	is "$output" "Content mismatch at offset 1234567!"
	cp a.raw c.raw
	truncate -s 4M c.raw
	run_tool 0 "$VM_DISK" compare a.qcow2 c.raw
	run_tool 1 "$VM_DISK" compare -s a.qcow2 c.raw
	run_tool 2 "$VM_DISK" compare a.qcow2 nothere.raw
}

@test "a failed create leaves the existing file alone; a locked image is refused" {
	echo precious > x.qcow2
	run_tool 1 "$VM_DISK" create -q -f qcow2 -o cluster_size=3000 x.qcow2 1M
	is "$output" "vm-disk: x.qcow2: cluster size 3000 is not a power of two from 512 to 2M"
	is "$(cat x.qcow2)" precious
	run_tool 1 "$VM_DISK" create -q -f qcow2 -o compression_type=lz4 x.qcow2 1M
	is "$output" "vm-disk: x.qcow2: compression type 'lz4' is not zlib or zstd"
	is "$(cat x.qcow2)" precious
	# without -q: no "Formatting" line for an image never made, and no
	# file left behind, in any format
	for f in qcow2:cluster_size=3000 vmdk:subformat=bogus vpc:subformat=bogus vdi:static=maybe; do
		run_tool 1 "$VM_DISK" create -f ${f%%:*} -o ${f#*:} new.img 1M
		[[ "$output" != *Formatting* ]] || { echo "# $f: $output" >&3; false; }
		is "$output" "vm-disk: *"
		run ls new.img*
		is "$status" 2 "no new.img* files after a failed $f create"
	done
	run_tool 1 "$VM_DISK" create -f qcow2 -b nosuch.qcow2 new.img
	[[ "$output" != *Formatting* ]]
	[ ! -e new.img ]
	# a create that works says so once
	run_tool 0 "$VM_DISK" create -f qcow2 new.img 1M
	is "$output" "Formatting 'new.img', fmt=qcow2 *size=1048576*"
	# a writer holds good.qcow2: a second writer is refused, -U inspects
	hold_lock good.qcow2 5
	holder=$LOCK_PID
	run_tool 1 "$BLKWRITE" good.qcow2 0:1:1
	is "$output" "*in use by another process*"
	run_tool 0 "$VM_DISK" info -U good.qcow2
	kill $holder || true
}

@test "random damage to qcow2 metadata never crashes vm-disk ($DISK_MUTANTS mutants, default 150, seed 42)" {
	qemu-img create -q -f qcow2 -o cluster_size=4k base.qcow2 2M
	qemu-io -c 'write -P 1 0 1M' base.qcow2 > /dev/null
	{ yes vmkit | head -c 512k; head -c 64k /dev/urandom; } > src.raw
	qemu-img convert -c -O qcow2 -o cluster_size=4k src.raw m.qcow2
	qemu-img rebase -q -u -b base.qcow2 -F qcow2 m.qcow2
	qemu-io -c 'write -P 2 100k 20k' -c 'write -z 300k 64k' m.qcow2 > /dev/null
	size=$(stat -c %s m.qcow2)
	RANDOM=42
	for i in $(seq "${DISK_MUTANTS:-150}"); do
		cp m.qcow2 x.qcow2
		for j in 1 2 3; do
			# mostly the metadata clusters at the start of the file
			if [ $((RANDOM % 4)) -eq 0 ]; then off=$((RANDOM % 128))
			else off=$(( (RANDOM * 32768 + RANDOM) % (size < 65536 ? size : 65536) )); fi
			poke x.qcow2 $off "\\x$(printf %02x $((RANDOM % 256)))"
		done
		for cmd in "info --json" "cat" "check" "map --json" "compare m.qcow2"; do
			run $VM_DISK $cmd x.qcow2
			[ "$status" -lt 4 ] || [ "$status" -eq 63 ] || {
				echo "# mutant $i: vm-disk $cmd: status $status" >&3
				echo "# $output" | head -3 >&3
				cp x.qcow2 "$BATS_TEST_TMPDIR/crash-$i.qcow2"
				false
			}
		done
		run "$BLKWRITE" x.qcow2 rand:5:$i
		[ "$status" -lt 2 ] || { echo "# mutant $i: blkwrite status $status" >&3; false; }
	done
}

@test "fuzz: the qcow2 libFuzzer harness survives its regression inputs and a short run" {
	command -v clang >/dev/null || skip "clang not installed (make deps)"
	make -C "$TOPDIR" --no-print-directory -s fuzz
	fz=$TOPDIR/build/fuzz/qcow2
	# inputs that once broke the driver (a refcount table entry with
	# flag bits set made the writer address 2^62)
	"$fz" "$TOPDIR"/tests/fuzz/qcow2-regress/*
	mkdir corpus
	for cs in 512 4k; do
		qemu-img create -q -f qcow2 -o cluster_size=$cs corpus/e$cs 1M
		cp corpus/e$cs corpus/d$cs
		qemu-io -c 'write -P 1 0 8k' -c 'write -z 16k 4k' corpus/d$cs > /dev/null
		yes vm | head -c 16k > s.raw
		qemu-img convert -c -O qcow2 -o cluster_size=$cs,compression_type=zstd s.raw corpus/z$cs
	done
	qemu-img create -q -f qcow2 -o cluster_size=512 corpus/snap 64k
	qemu-img snapshot -c s1 corpus/snap
	run "$fz" -runs=3000 -seed=1 -max_len=32768 corpus
	[ "$status" -eq 0 ] || { echo "$output" | grep -E 'ERROR|SUMMARY|#[0-9]+ ' | head -20 >&3; false; }
}

@test "a dirty image (lazy refcounts, writer aborted): read-only use works, writes are refused until check -r all" {
	ulimit -c 0
	qemu-img create -q -f qcow2 -o lazy_refcounts=on lz.qcow2 16M
	qemu-io -c 'write -P 7 0 3M' -c 'write -P 8 8M 64k' -c abort lz.qcow2 > /dev/null 2>&1 || true
	same "$("$VM_DISK" info --json lz.qcow2 | jq '.["dirty-flag"]')" true "dirty flag"
	run_tool 0 "$VM_DISK" compare lz.qcow2 lz.qcow2
	cmp <("$VM_DISK" cat lz.qcow2 | head -c 3M) <(head -c 3M /dev/zero | tr '\0' '\7')
	cp lz.qcow2 lz.orig
	run_tool 1 "$BLKWRITE" lz.qcow2 0:1:1
	is "$output" "*lz.qcow2: image is dirty (its refcounts may be stale); run 'vm-disk check -r all' first"
	cmp lz.qcow2 lz.orig
	run_tool 2 "$VM_DISK" check lz.qcow2
	run_tool 0 "$VM_DISK" check -r all lz.qcow2
	same "$(qemu-img info --output=json lz.qcow2 | jq '.["dirty-flag"]')" false "dirty flag after repair"
	qemu_ok lz.qcow2
	run_tool 0 "$BLKWRITE" lz.qcow2 0:1:1
}

# wait_locked CMD...: until CMD fails (the other side has its locks), at
# most 10 s
wait_locked() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$@" > /dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

@test "locks qemu sees: an image qemu-io has open is refused by vm-disk, and qemu refuses one vm-disk reads or writes" {
	qemu-img create -q -f qcow2 l.qcow2 8M
	qemu-io -c 'write -P 3 0 8M' l.qcow2 > /dev/null
	# qemu-io holds it for writing until its stdin says quit
	mkfifo in
	qemu-io l.qcow2 < in > /dev/null 2>&1 &
	exec 5> in
	wait_locked qemu-img info l.qcow2
	sum=$(md5sum < l.qcow2)
	run_tool 1 "$VM_DISK" info l.qcow2
	is "$output" "*l.qcow2: in use by another process*"
	run_tool 1 "$BLKWRITE" l.qcow2 0:512:1
	is "$output" "*l.qcow2: in use by another process*"
	run_tool 0 "$VM_DISK" info -U l.qcow2
	echo quit >&5
	exec 5>&-
	wait
	is "$(md5sum < l.qcow2)" "$sum" "the image qemu-io held"
	# vm-disk cat blocked on a full pipe holds it for reading: qemu may
	# read it too but not write it
	mkfifo out
	exec 6<> out
	"$VM_DISK" cat l.qcow2 > out &
	pid=$!
	wait_locked qemu-io -c 'write 0 512' l.qcow2
	run qemu-io -c 'write 0 512' l.qcow2
	is "$output" "*Failed to get \"write\" lock*"
	qemu-img info l.qcow2 > /dev/null
	kill $pid; wait $pid || true
	exec 6<&-
	# blkwrite blocked printing its writes holds it for writing: qemu
	# may not even read it (without -U)
	exec 6<> out
	"$BLKWRITE" l.qcow2 rand:100000:1 > out &
	pid=$!
	wait_locked qemu-img info l.qcow2
	run qemu-img info l.qcow2
	is "$output" "*Failed to get shared \"write\" lock*"
	qemu-img info -U l.qcow2 > /dev/null
	kill -9 $pid; wait $pid || true
	exec 6<&-
	qemu_ok l.qcow2
	run_tool 0 "$BLKWRITE" l.qcow2 0:512:1
}
