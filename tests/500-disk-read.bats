#!/usr/bin/env bats
# vm-disk reads what qemu-img writes: every guest byte the same as
# qemu-img convert -O raw, and info/map/check agreeing with qemu-img.

load helpers
load disk

setup() { disk_setup; }

# A pattern qemu-io writes: data at the start, a zero cluster, data past
# a gap, data at the very end.
fill() {
	qemu-io -c 'write -P 0xa1 0 300k' -c 'write -z 64k 64k' \
		-c 'write -P 0x5c 3000k 7k' -c 'write -P 0xee 4092k 4k' "$1" > /dev/null
}

@test "qcow2 v2 and v3 at cluster sizes 512 B to 2 MiB read as qemu-img reads them" {
	for compat in 0.10 1.1; do
		for cs in 512 4k 64k 2M; do
			qemu-img create -q -f qcow2 -o compat=$compat,cluster_size=$cs i.qcow2 4M
			fill i.qcow2
			same_as_qemu i.qcow2 || { echo "# compat=$compat cluster_size=$cs" >&3; false; }
		done
	done
}

@test "qcow2 option combinations qemu-img writes (preallocation, lazy refcounts, v2 with backing, compressed zstd at 2 MiB) read byte for byte, check clean" {
	qemu-img create -q -f qcow2 -o compat=0.10 b.qcow2 4M
	qemu-io -c 'write -P 0x42 0 4M' b.qcow2 > /dev/null
	for o in preallocation=metadata preallocation=falloc preallocation=full \
	    cluster_size=2M,preallocation=metadata lazy_refcounts=on \
	    lazy_refcounts=on,cluster_size=4k compat=0.10,cluster_size=1k \
	    "compat=0.10,backing_file=b.qcow2,backing_fmt=qcow2" \
	    "cluster_size=2M,backing_file=b.qcow2,backing_fmt=qcow2"; do
		rm -f i.qcow2
		qemu-img create -q -f qcow2 -o $o i.qcow2 4M
		fill i.qcow2
		same_as_qemu i.qcow2 || { echo "# -o $o" >&3; false; }
		run_tool 0 "$VM_DISK" check i.qcow2
	done
	head -c 1M /dev/urandom > r.raw
	yes vmkit | head -c 3M >> r.raw
	for ct in zlib zstd; do
		qemu-img convert -c -O qcow2 -o compression_type=$ct,cluster_size=2M r.raw c.qcow2
		same_as_qemu c.qcow2 || { echo "# -c $ct 2M" >&3; false; }
	done
}

@test "refcount widths 1 to 64 bits: qemu-img's images read and check clean; writes to them match qemu-io's and check clean" {
	for rb in 1 2 4 8 16 32 64; do
		rm -f i.qcow2 q.qcow2
		qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4k i.qcow2 4M
		fill i.qcow2
		same_as_qemu i.qcow2 || { echo "# refcount_bits=$rb" >&3; false; }
		run_tool 0 "$VM_DISK" check i.qcow2
		cp i.qcow2 q.qcow2
		# new clusters (and refcount blocks: 4 KiB ones hold 32768
		# 1-bit refcounts but only 64 64-bit ones), overwrites, a
		# discard
		run_tool 0 "$BLKWRITE" i.qcow2 0:307200:31 1048576:8192:d 2097152:2097152:32 102400:5120:33
		qemu-io -c 'write -P 0x31 0 300k' -c 'discard 1M 8k' \
		    -c 'write -P 0x32 2M 2M' -c 'write -P 0x33 100k 5k' q.qcow2 > /dev/null
		qemu_ok i.qcow2
		run_tool 0 "$VM_DISK" check i.qcow2
		qemu-img compare q.qcow2 i.qcow2 || { echo "# refcount_bits=$rb" >&3; false; }
		same "$(qemu-img info --output=json i.qcow2 | jq '.["format-specific"].data["refcount-bits"]')" $rb "width kept"
	done
}

@test "extended L2 (subclusters): qemu-img's images read byte for byte, with a backing file, compressed, every subcluster kind; map and check agree" {
	head -c 3M /dev/urandom > r.raw
	truncate -s 8M r.raw
	qemu-img create -q -f qcow2 -o cluster_size=64k base.qcow2 8M
	qemu-io -c 'write -P 0x99 0 8M' base.qcow2 > /dev/null
	for o in cluster_size=16k cluster_size=64k cluster_size=2M compression_type=zstd; do
		for top in plain backed compressed; do
			rm -f x.qcow2
			case $top in
			plain) qemu-img convert -O qcow2 -o extended_l2=on,$o r.raw x.qcow2 ;;
			backed) qemu-img create -q -f qcow2 -o extended_l2=on,$o -b base.qcow2 -F qcow2 x.qcow2 ;;
			compressed) qemu-img convert -c -O qcow2 -o extended_l2=on,$o r.raw x.qcow2 ;;
			esac
			# subclusters allocated, zero and unallocated within
			# one cluster, a discard, data past the random part
			qemu-io -c 'write -z 64k 64k' -c 'write -P 7 4M 100k' 			    -c 'write -P 5 6000k 3k' -c 'write -z 6100k 2k' 			    -c 'discard 7M 8k' -c 'write -P 3 1030k 1k' x.qcow2 > /dev/null
			same_as_qemu x.qcow2 || { echo "# extended_l2 $o $top" >&3; false; }
			run_tool 0 "$VM_DISK" check x.qcow2
			same "$("$VM_DISK" map --output=json x.qcow2 | merged)" \
			    "$(qemu-img map --output=json x.qcow2 | merged)" "map of extended_l2 $o $top"
		done
	done
	run_tool 0 "$VM_DISK" info --output=json x.qcow2
	same "$(jq -c '.["format-specific"].data["extended-l2"]' <<< "$output")" true "info extended-l2"
	# converted to a plain qcow2, which qemu-img finds equal
	run_tool 0 "$VM_DISK" convert -O qcow2 x.qcow2 plain.qcow2
	qemu_ok plain.qcow2
	qemu-img compare x.qcow2 plain.qcow2
}

@test "extended L2: writes to qemu-img's images (plain, over a backing file, compressed, with a qemu-img snapshot) match qemu-io's, subcluster by subcluster in map but for the snapshot's copies" {
	head -c 3M /dev/urandom > r.raw
	truncate -s 8M r.raw
	qemu-img create -q -f qcow2 -o cluster_size=64k base.qcow2 8M
	qemu-io -c 'write -P 0x99 0 8M' base.qcow2 > /dev/null
	for o in cluster_size=16k cluster_size=64k cluster_size=2M; do
		for top in plain backed compressed snapshot; do
			rm -f x.qcow2 q.qcow2
			case $top in
			plain|snapshot) qemu-img convert -O qcow2 -o extended_l2=on,$o r.raw x.qcow2 ;;
			backed) qemu-img create -q -f qcow2 -o extended_l2=on,$o -b base.qcow2 -F qcow2 x.qcow2 ;;
			compressed) qemu-img convert -c -O qcow2 -o extended_l2=on,$o r.raw x.qcow2 ;;
			esac
			qemu-io -c 'write -z 64k 64k' -c 'write -P 5 6000k 3k' x.qcow2 > /dev/null
			[ $top = snapshot ] && qemu-img snapshot -c s x.qcow2
			cp x.qcow2 q.qcow2
			# parts of subclusters (completed from what they read
			# as), whole ones, across clusters, over zero
			# subclusters, a discard, data and zeros past 3M
			run_tool 0 "$BLKWRITE" x.qcow2 1000:3000:21 70000:70000:22 \
			    1048576:65536:23 6000000:7000:24 7340032:1048576:d \
			    4194304:1000:z 3145000:5000:25
			qemu-io -c 'write -P 0x21 1000 3000' -c 'write -P 0x22 70000 70000' \
			    -c 'write -P 0x23 1M 64k' -c 'write -P 0x24 6000000 7000' \
			    -c 'discard 7M 1M' -c 'write -P 0 4M 1000' \
			    -c 'write -P 0x25 3145000 5000' q.qcow2 > /dev/null
			qemu_ok x.qcow2
			run_tool 0 "$VM_DISK" check x.qcow2
			qemu-img compare q.qcow2 x.qcow2 || { echo "# extended_l2 $o $top" >&3; false; }
			same_as_qemu x.qcow2
			# (for data, qemu-img map's zero says whether the host
			# file has a hole there: not a subcluster bit).  A
			# shared cluster's copy keeps its unwritten
			# subclusters' bits here, where qemu may mark some
			# allocated: the same bytes, compared above.
			[ $top = snapshot ] ||
			same "$(qemu-img map --output=json x.qcow2 | bits | merged)" \
			    "$(qemu-img map --output=json q.qcow2 | bits | merged)" "map after the writes, extended_l2 $o $top"
			if [ $top = snapshot ]; then
				qemu-img snapshot -a s x.qcow2
				qemu-img snapshot -a s q.qcow2
				qemu-img compare q.qcow2 x.qcow2
			fi
		done
	done
}

@test "zero clusters (write -z) read as zeros over a backing file that has data" {
	qemu-img create -q -f qcow2 base.qcow2 2M
	qemu-io -c 'write -P 0x77 0 2M' base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
	qemu-io -c 'write -z 512k 256k' top.qcow2 > /dev/null
	same_as_qemu top.qcow2
	# and the bytes there really are zeros, not the backing file's
	run sh -c "'$VM_DISK' cat top.qcow2 | tail -c +$((512*1024+1)) | head -c 262144 | tr -d '\\0' | wc -c"
	is "$output" "0" "non-zero bytes in the zeroed range"
}

@test "a three-deep backing chain (v2 base, different cluster sizes) reads through" {
	qemu-img create -q -f qcow2 -o compat=0.10 base.qcow2 8M
	qemu-io -c 'write -P 1 0 3M' base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 -o cluster_size=4k mid.qcow2
	qemu-io -c 'write -P 2 1M 1M' -c 'write -z 2500k 100k' mid.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 -o cluster_size=512 top.qcow2 10M
	qemu-io -c 'write -P 3 1536k 3k' -c 'write -P 4 9M 1k' top.qcow2 > /dev/null
	same_as_qemu top.qcow2
	run_tool 0 "$VM_DISK" info --backing-chain --output=json top.qcow2
	is "$(echo "$output" | jq -r '.[].filename' | tr '\n' ' ')" "top.qcow2 mid.qcow2 base.qcow2 " "chain"
	is "$(echo "$output" | jq -r '.[0]["backing-filename"]')" "mid.qcow2"
	is "$(echo "$output" | jq -r '.[0]["virtual-size"]')" "10485760"
}

@test "compressed clusters: zlib and zstd, as qemu-img convert -c writes them" {
	head -c 1M /dev/urandom > rnd
	{ yes vmkit | head -c 3M; cat rnd; } > src.raw
	for ct in zlib zstd; do
		for cs in 4k 64k; do
			qemu-img convert -c -O qcow2 -o compression_type=$ct,cluster_size=$cs src.raw c.qcow2
			same_as_qemu c.qcow2 || { echo "# $ct $cs" >&3; false; }
			cmp src.raw c.qcow2.vm.raw
		done
	done
	run_tool 0 "$VM_DISK" info --json c.qcow2
	is "$(echo "$output" | jq -r '.["format-specific"].data["compression-type"]')" "zstd"
}

@test "info --json has qemu-img's keys and values" {
	qemu-img create -q -f qcow2 -o cluster_size=4k base.qcow2 3M
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
	for k in virtual-size filename format cluster-size backing-filename backing-filename-format dirty-flag; do
		want=$(qemu-img info --output=json top.qcow2 | jq -c ".[\"$k\"]")
		got=$("$VM_DISK" info --json top.qcow2 | jq -c ".[\"$k\"]")
		same "$got" "$want" "info key $k"
	done
	want=$(qemu-img info --output=json top.qcow2 | jq -c '.["format-specific"].data | {compat, "refcount-bits", corrupt, "lazy-refcounts"}')
	got=$("$VM_DISK" info --json top.qcow2 | jq -c '.["format-specific"].data | {compat, "refcount-bits", corrupt, "lazy-refcounts"}')
	same "$got" "$want" "format-specific"
	run_tool 0 "$VM_DISK" info top.qcow2
	is "$output" "*virtual size: 3 MiB (3145728 bytes)*"
	is "$output" "*backing file: base.qcow2*"
}

@test "info prints sizes in qemu-img's words: three digits, the unit from 1000 of it up" {
	for n in 512 1536 197632 999424 1000448 1023488 1024000 4215296 1047552000 3221225472; do
		qemu-img create -q -f qcow2 "s$n.qcow2" "$n"
		same "$("$VM_DISK" info "s$n.qcow2" | grep '^virtual size')" \
			"$(qemu-img info "s$n.qcow2" | grep '^virtual size')" "the size line of $n bytes"
	done
}

@test "map --json agrees with qemu-img map on data, zero and backing extents" {
	qemu-img create -q -f qcow2 base.qcow2 4M
	qemu-io -c 'write -P 1 0 1M' base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
	qemu-io -c 'write -P 2 512k 64k' -c 'write -z 2M 128k' top.qcow2 > /dev/null
	keys='[.[] | {start, length, depth, present, zero, data, offset}]'
	want=$(qemu-img map --output=json top.qcow2 | jq -c "$keys")
	got=$("$VM_DISK" map --json top.qcow2 | jq -c "$keys")
	same "$got" "$want" "map"
	want=$(qemu-img map top.qcow2)
	got=$("$VM_DISK" map top.qcow2)
	same "$got" "$want" "human map"
	# qemu-img's spellings: --output FMT and --output=FMT, json or human
	same "$("$VM_DISK" map --output json top.qcow2 | jq -c "$keys")" \
		"$(qemu-img map --output json top.qcow2 | jq -c "$keys")" "map --output json"
	same "$("$VM_DISK" map --output=human top.qcow2)" "$want" "map --output=human"
	for c in info check measure; do
		same "$("$VM_DISK" $c --output json top.qcow2 | jq -c 'keys')" \
			"$("$VM_DISK" $c --json top.qcow2 | jq -c 'keys')" "$c --output json"
	done
	run_tool 2 "$VM_DISK" map --output=xml top.qcow2
	is "$output" "vm-disk: --output=xml: expected human or json"
}

@test "map of preallocated qcow2 images (metadata, falloc, full), partly written: exactly qemu-img's, JSON and table (data over a hole of the file says zero)" {
	keys='[.[] | {start, length, depth, present, zero, data, offset}]'
	for o in preallocation=metadata preallocation=metadata,cluster_size=4k \
	    preallocation=falloc preallocation=full; do
		rm -f p.qcow2
		qemu-img create -q -f qcow2 -o $o p.qcow2 4M
		qemu-io -c 'write -P 1 1M 64k' -c 'write -P 2 3000k 5k' p.qcow2 > /dev/null
		same "$("$VM_DISK" map --json p.qcow2 | jq -c "$keys")" \
		    "$(qemu-img map --output=json p.qcow2 | jq -c "$keys")" "map $o"
		same "$("$VM_DISK" map p.qcow2)" "$(qemu-img map p.qcow2)" "human map $o"
	done
}

@test "check: a clean qemu-img image is clean (exit 0) in human and JSON form" {
	qemu-img create -q -f qcow2 -o cluster_size=4k i.qcow2 8M
	fill i.qcow2
	run_tool 0 "$VM_DISK" check i.qcow2
	is "$output" "No errors were found on the image.*"
	run_tool 0 "$VM_DISK" check --output=json i.qcow2
	want=$(qemu-img check --output=json i.qcow2 | jq -c '{"image-end-offset", "total-clusters", "allocated-clusters"}')
	got=$(echo "$output" | jq -c '{"image-end-offset", "total-clusters", "allocated-clusters"}')
	same "$got" "$want" "check JSON"
}

@test "the format is probed from content, never from the file name" {
	qemu-img create -q -f qcow2 disk.raw 1M
	run_tool 0 "$VM_DISK" info disk.raw
	is "$output" "*file format: qcow2*"
	head -c 65536 /dev/zero > disk.qcow2
	run_tool 0 "$VM_DISK" info disk.qcow2
	is "$output" "*file format: raw*"
	run_tool 1 "$VM_DISK" info -f qcow2 disk.qcow2
	is "$output" "vm-disk: disk.qcow2: not a qcow2 image (bad magic)"
}

@test "internal snapshots: info lists them as qemu-img does; the image reads its current state; check counts them" {
	qemu-img create -q -f qcow2 sn.qcow2 4M
	qemu-io -c 'write -P 1 0 64k' sn.qcow2 > /dev/null
	qemu-img snapshot -c first sn.qcow2
	qemu-io -c 'write -P 2 0 64k' sn.qcow2 > /dev/null
	qemu-img snapshot -c second-one sn.qcow2
	same "$("$VM_DISK" info sn.qcow2)" "$(qemu-img info sn.qcow2)" "human info"
	same "$("$VM_DISK" info --json sn.qcow2 | jq -c .snapshots)" \
		"$(qemu-img info --output=json sn.qcow2 | jq -c .snapshots)" "snapshots in JSON"
	same "$("$VM_DISK" snapshot -l sn.qcow2)" "$(qemu-img snapshot -l sn.qcow2)" "snapshot -l"
	same_as_qemu sn.qcow2
	cp sn.qcow2 sn.orig
	run_tool 0 "$VM_DISK" check sn.qcow2
	is "$output" "No errors were found on the image.*"
	cmp sn.qcow2 sn.orig
}

@test "human info is qemu-img's, line for line, with and without a backing file" {
	qemu-img create -q -f qcow2 -o cluster_size=4k base.qcow2 3M
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
	qemu-io -c 'write -P 1 0 100k' top.qcow2 > /dev/null
	for i in base.qcow2 top.qcow2; do
		same "$("$VM_DISK" info $i)" "$(qemu-img info $i)" "info $i"
	done
}
