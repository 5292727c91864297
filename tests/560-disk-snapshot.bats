#!/usr/bin/env bats
# qcow2 internal snapshots: vm-disk snapshot -c/-a/-d/-l against qemu-img
# snapshot on the same images.  Snapshots either tool makes are listed
# and applied by the other with the data checked byte for byte, qemu-img
# check is clean after every operation, writes after a snapshot leave
# the snapshot's data alone, bad names leave the file unchanged, and a
# SIGKILL in the middle of an operation leaves the old or the new image.

load helpers
load disk

setup() {
	disk_setup
}

# pattern IMG: the same mix of data in every image the tests start from
# (plain data, a zero cluster, a compressed cluster, a hole).
pattern() {
	qemu-io -c 'write -P 1 0 3M' -c 'write -z 1M 64k' \
		-c 'write -c -P 3 4M 2M' "$1" > /dev/null
}

@test "snapshots vm-disk makes: qemu-img lists and applies them, data byte-exact, check clean after each step" {
	for o in compat=1.1 compat=0.10 cluster_size=512 cluster_size=2M; do
		rm -f a.qcow2
		qemu-img create -q -f qcow2 -o $o a.qcow2 16M
		pattern a.qcow2
		qemu-img convert -O raw a.qcow2 s1.raw
		run_tool 0 "$VM_DISK" snapshot -c s1 a.qcow2
		is "$output" ""
		qemu_ok a.qcow2
		"$BLKWRITE" a.qcow2 512:100000:5 4194304:1:6 12582912:65536:7
		qemu_ok a.qcow2
		qemu-img convert -O raw a.qcow2 s2.raw
		run_tool 0 "$VM_DISK" snapshot -c second a.qcow2
		qemu_ok a.qcow2
		same "$("$VM_DISK" snapshot -l a.qcow2)" "$(qemu-img snapshot -l a.qcow2)" "-l after -c ($o)"
		same "$("$VM_DISK" info a.qcow2 | grep -v '^disk size')" \
			"$(qemu-img info a.qcow2 | grep -v '^disk size')" "info after -c ($o)"
		same "$("$VM_DISK" info --json a.qcow2 | jq -c .snapshots)" \
			"$(qemu-img info --output=json a.qcow2 | jq -c .snapshots)" "info --json after -c ($o)"
		same "$(qemu-img snapshot -l a.qcow2 | awk 'NR > 2 { print $1, $2, $3 $4 }' | tr '\n' ' ')" \
			"1 s1 0B 2 second 0B " "ids, names, VM state sizes ($o)"
		same "$(qemu-img info --output=json a.qcow2 | jq -c '[.snapshots[] | .["vm-clock-sec"], .["vm-state-size"], .icount]')" \
			"[0,0,0,0,0,0]" "VM clock, state and icount ($o)"
		# qemu-img applies ours ...
		cp a.qcow2 q.qcow2
		qemu-img snapshot -a s1 q.qcow2
		qemu-img convert -O raw q.qcow2 q.raw
		cmp q.raw s1.raw
		# ... and so does vm-disk, by name and by id
		run_tool 0 "$VM_DISK" snapshot -a s1 a.qcow2
		qemu_ok a.qcow2
		"$VM_DISK" cat a.qcow2 | cmp - s1.raw
		run_tool 0 "$VM_DISK" snapshot -a 2 a.qcow2
		qemu_ok a.qcow2
		"$VM_DISK" cat a.qcow2 | cmp - s2.raw
		qemu-io -c 'read -P 5 512 100000' -c 'read -P 1 1M 0' a.qcow2 > /dev/null
		run_tool 0 "$VM_DISK" check a.qcow2
		is "$output" "No errors were found on the image.*"
		run_tool 0 "$VM_DISK" snapshot -d s1 a.qcow2
		qemu_ok a.qcow2
		same "$(qemu-img snapshot -l a.qcow2 | awk 'NR > 2 { print $1, $2 }')" "2 second" "after -d ($o)"
		run_tool 0 "$VM_DISK" snapshot -d second a.qcow2
		qemu_ok a.qcow2
		same "$(qemu-img info --output=json a.qcow2 | jq -c '.snapshots')" "null" "no snapshots left ($o)"
		"$VM_DISK" cat a.qcow2 | cmp - s2.raw
	done
}

@test "snapshots qemu-img makes: vm-disk applies and deletes them; writes copy the shared L2 tables and clusters" {
	qemu-img create -q -f qcow2 -o cluster_size=4k a.qcow2 16M
	pattern a.qcow2
	qemu-img convert -O raw a.qcow2 s1.raw
	qemu-img snapshot -c q1 a.qcow2
	cp a.qcow2 b.qcow2
	# the same writes through vm-disk's block layer and through qemu-io
	"$BLKWRITE" a.qcow2 rand:300:7 > ops
	replay ops b.qcow2
	qemu_ok a.qcow2
	run qemu-img compare a.qcow2 b.qcow2
	is "$status" 0 "after writes: $output"
	qemu-img convert -O raw a.qcow2 now.raw
	run_tool 0 "$VM_DISK" snapshot -c mine a.qcow2
	qemu_ok a.qcow2
	same "$("$VM_DISK" snapshot -l a.qcow2 | awk 'NR > 2 { print $1, $2 }' | tr '\n' ' ')" "1 q1 2 mine " "ids"
	# the snapshot qemu made still holds the data from before the writes
	run_tool 0 "$VM_DISK" snapshot -a q1 a.qcow2
	qemu_ok a.qcow2
	"$VM_DISK" cat a.qcow2 | cmp - s1.raw
	qemu-img snapshot -a mine a.qcow2
	qemu-img convert -O raw a.qcow2 back.raw
	cmp back.raw now.raw
	run_tool 0 "$VM_DISK" snapshot -d q1 a.qcow2
	qemu_ok a.qcow2
	qemu-img snapshot -d mine a.qcow2
	qemu_ok a.qcow2
	run_tool 0 "$VM_DISK" check a.qcow2
	"$VM_DISK" cat a.qcow2 | cmp - now.raw
}

@test "apply restores the virtual size the snapshot had" {
	qemu-img create -q -f qcow2 a.qcow2 4M
	qemu-io -c 'write -P 9 0 4M' a.qcow2 > /dev/null
	run_tool 0 "$VM_DISK" snapshot -c small a.qcow2
	run_tool 0 "$VM_DISK" resize a.qcow2 1G
	"$BLKWRITE" a.qcow2 1000000000:4096:a
	qemu_ok a.qcow2
	run_tool 0 "$VM_DISK" snapshot -c big a.qcow2
	run_tool 0 "$VM_DISK" snapshot -a small a.qcow2
	qemu_ok a.qcow2
	is "$(qemu-img info --output=json a.qcow2 | jq '.["virtual-size"]')" 4194304
	qemu-io -c 'read -P 9 0 4M' a.qcow2 > /dev/null
	qemu-img snapshot -a big a.qcow2
	is "$(qemu-img info --output=json a.qcow2 | jq '.["virtual-size"]')" 1073741824
	qemu-io -c 'read -P 0xa 1000000000 4096' a.qcow2 > /dev/null
}

@test "bad names and ids: a clear error, exit 1, the file byte for byte unchanged" {
	qemu-img create -q -f qcow2 a.qcow2 8M
	pattern a.qcow2
	qemu-img snapshot -c one a.qcow2
	cp a.qcow2 orig.qcow2
	run_tool 1 "$VM_DISK" snapshot -c one a.qcow2
	is "$output" "vm-disk: a.qcow2: a snapshot with id or name 'one' already exists"
	run_tool 1 "$VM_DISK" snapshot -c 1 a.qcow2
	is "$output" "vm-disk: a.qcow2: a snapshot with id or name '1' already exists"
	run_tool 1 "$VM_DISK" snapshot -c '' a.qcow2
	is "$output" "vm-disk: a.qcow2: a snapshot name must not be empty"
	run_tool 1 "$VM_DISK" snapshot -c "$(printf 'a\tb')" a.qcow2
	is "$output" "vm-disk: a.qcow2: snapshot name contains a control character"
	run_tool 1 "$VM_DISK" snapshot -c "$(head -c 256 /dev/zero | tr '\0' x)" a.qcow2
	is "$output" "vm-disk: a.qcow2: snapshot name longer than 255 bytes"
	for op in -a -d; do
		run_tool 1 "$VM_DISK" snapshot $op two a.qcow2
		is "$output" "vm-disk: a.qcow2: no snapshot with id or name 'two'"
		run_tool 1 "$VM_DISK" snapshot $op 2 a.qcow2
		is "$output" "vm-disk: a.qcow2: no snapshot with id or name '2'"
	done
	cmp a.qcow2 orig.qcow2
	run_tool 2 "$VM_DISK" snapshot -c x -d one a.qcow2
	run_tool 2 "$VM_DISK" snapshot a.qcow2
	cmp a.qcow2 orig.qcow2
	qemu-img create -q -f raw r.img 1M
	run_tool 1 "$VM_DISK" snapshot -c x r.img
	is "$output" "vm-disk: r.img: raw images have no internal snapshots"
	# a snapshot whose L1 table points past the end of the file
	qemu-img create -q -f qcow2 -o cluster_size=512 c.qcow2 64k
	qemu-img snapshot -c s c.qcow2
	off=$(qemu-img info --output=json c.qcow2 >/dev/null; od -An -tu8 --endian=big -j64 -N8 c.qcow2 | tr -d ' ')
	poke c.qcow2 "$off" '\x00\x00\x00\x00\x7f\x00\x00\x00'
	cp c.qcow2 c.orig
	run_tool 1 "$VM_DISK" snapshot -a s c.qcow2
	is "$output" "vm-disk: c.qcow2: a snapshot's L1 table is unaligned or past the end of the file"
	cmp c.qcow2 c.orig
}

@test "a corrupt image is refused and left as it was" {
	qemu-img create -q -f qcow2 -o cluster_size=512 a.qcow2 1M
	qemu-io -c 'write -P 1 0 64k' a.qcow2 > /dev/null
	# the first L2 entry now points past the end of the file
	l1=$(od -An -tu8 --endian=big -j40 -N8 a.qcow2 | tr -d ' ')
	l2=$(( $(od -An -tu8 --endian=big -j"$l1" -N8 a.qcow2 | tr -d ' ') & 0xffffffffffffff ))
	poke a.qcow2 "$l2" '\x80\x00\x00\x00\x7f\x00\x00\x00'
	cp a.qcow2 orig.qcow2
	run_tool 1 "$VM_DISK" snapshot -c s a.qcow2
	is "$output" "vm-disk: a.qcow2: data cluster at 0x7f000000 is outside the file"
	cmp a.qcow2 orig.qcow2
}

# killed_at N CMD...: run CMD with a SIGKILL at its Nth write, truncate
# or sync (strace's fault injection: an exact point, no timing).
killed_at() {
	local n=$1; shift
	strace -o /dev/null -e trace=pwrite64,ftruncate,fdatasync \
		-e inject=pwrite64,ftruncate,fdatasync:signal=SIGKILL:when=$n "$@" 2>/dev/null || true
}

# points CMD...: how many writes, truncates and syncs CMD makes (on a copy).
points() {
	strace -o calls -e trace=pwrite64,ftruncate,fdatasync "$@" > /dev/null
	grep -c '^[a-z]' calls
}

@test "SIGKILL at any write of snapshot create, apply or delete: the old image or the new one, never corrupt" {
	command -v strace > /dev/null || skip "strace not installed (fault injection)"
	qemu-img create -q -f qcow2 -o cluster_size=512 k.qcow2 16M
	qemu-io -c 'write -P 4 0 16M' k.qcow2 > /dev/null
	qemu-img snapshot -c keep k.qcow2
	qemu-io -c 'write -P 5 0 8M' k.qcow2 > /dev/null
	for op in "-c new" "-d keep" "-a keep"; do
		cp k.qcow2 t.qcow2
		total=$(points "$VM_DISK" snapshot $op t.qcow2)
		[ "$total" -gt 100 ]
		for n in 1 2 3 $((total / 4)) $((total / 2)) $((total - 4)) \
		    $((total - 3)) $((total - 2)) $((total - 1)) $total; do
			cp k.qcow2 t.qcow2
			killed_at $n "$VM_DISK" snapshot $op t.qcow2
			run qemu-img check t.qcow2
			[ "$status" -eq 0 ] || { echo "# $op, killed at $n of $total: $output" >&3; false; }
			run_tool 0 "$VM_DISK" check t.qcow2
			snaps=$(qemu-img snapshot -l t.qcow2 | awk 'NR > 2 { print $2 }' | tr '\n' ' ')
			case "$op" in
			-c*)	[ "$snaps" = "keep " ] || [ "$snaps" = "keep new " ]
				qemu-io -c 'read -P 5 0 8M' -c 'read -P 4 8M 8M' t.qcow2 > /dev/null ;;
			-d*)	[ "$snaps" = "keep " ] || [ "$snaps" = "" ]
				qemu-io -c 'read -P 5 0 8M' -c 'read -P 4 8M 8M' t.qcow2 > /dev/null ;;
			-a*)	[ "$snaps" = "keep " ]
				qemu-io -c 'read -P 4 8M 8M' t.qcow2 > /dev/null
				qemu-io -c 'read -P 5 0 8M' t.qcow2 > /dev/null ||
					qemu-io -c 'read -P 4 0 8M' t.qcow2 > /dev/null ;;
			esac
		done
		# the last point is the sync after the header switched
		[ "$n" -eq "$total" ]
		case "$op" in
		-c*)	[ "$snaps" = "keep new " ] ;;
		-d*)	[ "$snaps" = "" ] ;;
		-a*)	qemu-io -c 'read -P 4 0 16M' t.qcow2 > /dev/null ;;
		esac
	done
}

@test "SIGKILL while writing over shared clusters: at worst leaks, and the snapshot keeps its data" {
	command -v strace > /dev/null || skip "strace not installed (fault injection)"
	qemu-img create -q -f qcow2 -o cluster_size=4k k.qcow2 16M
	qemu-io -c 'write -P 4 0 16M' k.qcow2 > /dev/null
	qemu-img snapshot -c keep k.qcow2
	cp k.qcow2 t.qcow2
	total=$(points "$BLKWRITE" t.qcow2 rand:100:3)
	for n in 1 2 3 5 8 13 $((total / 3)) $((total / 2)) $((total - 1)); do
		cp k.qcow2 t.qcow2
		killed_at $n "$BLKWRITE" t.qcow2 rand:100:3
		run qemu-img check t.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# killed at $n of $total: $output" >&3; false; }
		qemu-img snapshot -a keep t.qcow2
		qemu-io -c 'read -P 4 0 16M' t.qcow2 > /dev/null
	done
}

@test "repeated snapshot create and delete reuse freed clusters: the file stops growing, qemu-img check clean" {
	qemu-img create -q -f qcow2 a.qcow2 64M
	qemu-io -c 'write -P 1 0 4M' a.qcow2 > /dev/null
	"$VM_DISK" snapshot -c t a.qcow2
	"$VM_DISK" snapshot -d t a.qcow2
	first=$(stat -c %s a.qcow2)
	for i in $(seq 1 25); do
		"$VM_DISK" snapshot -c t a.qcow2
		"$VM_DISK" snapshot -d t a.qcow2
	done
	# (it may shrink: a delete whose tables went past the end lays the
	# image out again in the freed clusters)
	[ "$(stat -c %s a.qcow2)" -le "$first" ] ||
		{ echo "# size after 25 more create/delete cycles: $(stat -c %s a.qcow2), first $first" >&3; false; }
	qemu_ok a.qcow2
	# with snapshots kept, the new tables still land in freed space
	for i in $(seq 1 10); do "$VM_DISK" snapshot -c k$i a.qcow2; done
	# (one cycle first: the table of 11 entries may need a cluster more)
	"$VM_DISK" snapshot -c t a.qcow2
	"$VM_DISK" snapshot -d t a.qcow2
	kept=$(stat -c %s a.qcow2)
	for i in $(seq 1 20); do
		"$VM_DISK" snapshot -c t a.qcow2
		"$VM_DISK" snapshot -d t a.qcow2
	done
	same "$(stat -c %s a.qcow2)" "$kept" "size with 10 snapshots kept"
	qemu_ok a.qcow2
	run qemu-img snapshot -l a.qcow2
	is "$output" "*k10*"
	qemu-img snapshot -a k5 a.qcow2
	qemu-io -r -c 'read -P 1 0 4M' -c 'read -P 0 4M 60M' a.qcow2 > /dev/null
}

@test "snapshot -a and -d give the file's free tail back: the size it had before the writes they undo, qemu-img check clean" {
	"$VM_DISK" create -q -f qcow2 a.qcow2 64M
	qemu-io -c 'write -P 1 0 8M' a.qcow2 > /dev/null
	run_tool 0 "$VM_DISK" snapshot -c s1 a.qcow2
	before=$(stat -c %s a.qcow2)
	qemu-io -c 'write -P 2 16M 8M' a.qcow2 > /dev/null
	grown=$(stat -c %s a.qcow2)
	cp a.qcow2 b.qcow2
	# apply: the 8 MiB written after s1 are free at the end of the file
	run_tool 0 "$VM_DISK" snapshot -a s1 a.qcow2
	qemu_ok a.qcow2
	qemu-io -r -c 'read -P 1 0 8M' -c 'read -P 0 8M 56M' a.qcow2 > /dev/null
	[ "$(stat -c %s a.qcow2)" -le $((before + 4 * 65536)) ] ||
		{ echo "# apply: $(stat -c %s a.qcow2) bytes, $before before the writes, $grown after" >&3; false; }
	# delete: s2 alone holds the 8 MiB once the active image is s1's
	run_tool 0 "$VM_DISK" snapshot -c s2 b.qcow2
	run_tool 0 "$VM_DISK" snapshot -a s1 b.qcow2
	[ "$(stat -c %s b.qcow2)" -gt "$grown" ]
	run_tool 0 "$VM_DISK" snapshot -d s2 b.qcow2
	qemu_ok b.qcow2
	is "$(qemu-img snapshot -l b.qcow2 | awk 'NR > 2 { print $2 }')" s1 "the snapshots left"
	qemu-io -r -c 'read -P 1 0 8M' -c 'read -P 0 8M 56M' b.qcow2 > /dev/null
	[ "$(stat -c %s b.qcow2)" -le $((before + 4 * 65536)) ] ||
		{ echo "# delete: $(stat -c %s b.qcow2) bytes, $before before the writes" >&3; false; }
	# qemu-img applies the snapshot the shrunk file still has
	qemu-img snapshot -a s1 b.qcow2
	qemu-io -r -c 'read -P 1 0 8M' b.qcow2 > /dev/null
}

# rt_entries FILE CLUSTER_SIZE: the refcount table's non-zero entries,
# one a line, read from the header and the table as the spec lays them
rt_entries() {
	local off n
	off=$(od -An -v -tu8 --endian=big -j 48 -N 8 "$1" | tr -d ' ')
	n=$(od -An -v -tu4 --endian=big -j 56 -N 4 "$1" | tr -d ' ')
	od -An -v -tu8 -w8 --endian=big -j "$off" -N $((n * $2)) "$1" | tr -d ' ' | grep -v '^0$'
}

@test "snapshot -c writes only the refcount blocks that change: those of clusters only an older snapshot holds stay where they were" {
	qemu-img create -q -f qcow2 -o cluster_size=512 k.qcow2 16M
	qemu-io -c 'write -P 4 0 8M' k.qcow2 > /dev/null
	qemu-img snapshot -c s0 k.qcow2
	# the active image lets go of s0's 8 MiB and writes elsewhere
	qemu-io -c 'discard 0 8M' -c 'write -P 5 12M 256k' k.qcow2 > /dev/null
	rt_entries k.qcow2 512 > before
	run_tool 0 "$VM_DISK" snapshot -c new k.qcow2
	qemu_ok k.qcow2
	rt_entries k.qcow2 512 > after
	kept=$(comm -12 <(sort before) <(sort after) | wc -l)
	# 8 MiB of 512-byte clusters: 16384 refcounts, 64 blocks of 256
	[ "$kept" -ge 60 ] || { echo "# $kept of $(wc -l < before) refcount blocks kept" >&3; false; }
	qemu-io -r -c 'read -P 5 12M 256k' k.qcow2 > /dev/null
	qemu-img snapshot -a s0 k.qcow2
	qemu-io -r -c 'read -P 4 0 8M' k.qcow2 > /dev/null
}
