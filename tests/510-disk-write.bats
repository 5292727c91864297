#!/usr/bin/env bats
# Images vm-disk writes: qemu-img check finds them clean and qemu-img
# compare finds them equal to their source; writes through the block
# layer match the same writes done by qemu-io; a writer killed with
# SIGKILL leaves at worst leaked clusters.

load helpers
load disk

setup() {
	disk_setup
	head -c 1M /dev/urandom > rnd
	# data, a 2 MiB hole, text, a zero run inside data, data at the end
	{ cat rnd; head -c 2M /dev/zero; yes vmkit | head -c 1M;
	  head -c 100k /dev/zero; head -c 412k rnd; } > src.raw
	truncate -s 6M src.raw
	cat rnd >> src.raw
}

@test "create: qcow2 images qemu-img accepts, with the options asked for" {
	run_tool 0 "$VM_DISK" create -f qcow2 a.qcow2 1G
	is "$output" "Formatting 'a.qcow2', fmt=qcow2 *size=1073741824*"
	qemu_ok a.qcow2
	same "$(qemu-img info --output=json a.qcow2 | jq -c '[.["virtual-size"], .["cluster-size"], .["format-specific"].data.compat]')" \
		'[1073741824,65536,"1.1"]' "a.qcow2"
	run_tool 0 "$VM_DISK" create -q -f qcow2 -o cluster_size=512,compat=0.10 b.qcow2 100M
	qemu_ok b.qcow2
	same "$(qemu-img info --output=json b.qcow2 | jq -c '[.["cluster-size"], .["format-specific"].data.compat]')" '[512,"0.10"]' "b.qcow2"
	run_tool 0 "$VM_DISK" create -q -f qcow2 -o compression_type=zstd,cluster_size=2M c.qcow2 3G
	qemu_ok c.qcow2
	is "$(qemu-img info --output=json c.qcow2 | jq -r '.["format-specific"].data["compression-type"]')" zstd
	for m in metadata falloc full; do
		run_tool 0 "$VM_DISK" create -q -f qcow2 -o preallocation=$m p.qcow2 8M
		qemu_ok p.qcow2
		same "$(qemu-img map --output=json p.qcow2 | jq -c '[.[] | select(.data) | .length] | add')" 8388608 "$m: every cluster allocated"
		used=$(stat -c %b p.qcow2)
		if [ $m = metadata ]; then [ "$used" -lt 2048 ]; else [ "$used" -ge 16384 ]; fi
	done
	run_tool 0 "$VM_DISK" create -q -f raw r.img 1536K
	is "$(stat -c %s r.img)" 1572864
	is "$(stat -c %b r.img)" 0 "blocks allocated by a sparse raw create"
	run_tool 0 "$VM_DISK" create -q -f raw -o preallocation=full f.img 64K
	is "$(qemu-img info --output=json f.img | jq '.["actual-size"]')" 65536
}

@test "create -b: the overlay names its backing file and inherits its size" {
	qemu-img create -q -f qcow2 base.qcow2 5M
	qemu-io -c 'write -P 9 0 1M' base.qcow2 > /dev/null
	mkdir sub && mv base.qcow2 sub/
	run_tool 0 "$VM_DISK" create -q -f qcow2 -b base.qcow2 sub/top.qcow2
	qemu_ok sub/top.qcow2
	same "$(qemu-img info --output=json sub/top.qcow2 | jq -c '[.["virtual-size"], .["backing-filename"], .["backing-filename-format"]]')" \
		'[5242880,"base.qcow2","qcow2"]' "overlay"
	run qemu-img compare sub/top.qcow2 sub/base.qcow2
	is "$status" 0 "qemu-img compare overlay with base"
	run_tool 1 "$VM_DISK" create -q -f qcow2 -b missing.qcow2 top2.qcow2
	is "$output" "vm-disk: missing.qcow2: No such file or directory"
	[ ! -e top2.qcow2 ]
}

@test "convert raw -> qcow2 (v2, v3, every cluster size, zlib, zstd) -> raw keeps every byte" {
	for o in compat=0.10 cluster_size=512 cluster_size=4k cluster_size=64k cluster_size=2M; do
		run_tool 0 "$VM_DISK" convert -O qcow2 -o $o src.raw out.qcow2
		qemu_ok out.qcow2
		run qemu-img compare -f raw src.raw out.qcow2
		is "$status" 0 "qemu-img compare after -o $o: $output"
		run_tool 0 "$VM_DISK" convert -O raw out.qcow2 back.raw
		cmp src.raw back.raw
	done
	for ct in zlib zstd; do
		run_tool 0 "$VM_DISK" convert -c -O qcow2 -o compression_type=$ct,cluster_size=4k src.raw c.qcow2
		qemu_ok c.qcow2
		run qemu-img compare -f raw src.raw c.qcow2
		is "$status" 0 "qemu-img compare -c $ct: $output"
		# compressed: smaller than the data it holds (the text part)
		[ "$(stat -c %s c.qcow2)" -lt 3500000 ]
	done
}

@test "convert skips zeros: holes stay holes, -S 0 writes them" {
	run_tool 0 "$VM_DISK" convert -O qcow2 src.raw out.qcow2
	alloc=$(qemu-img map --output=json out.qcow2 | jq '[.[] | select(.data) | .length] | add')
	[ "$alloc" -le $((3 * 1024 * 1024 + 512 * 1024)) ] || { echo "# $alloc bytes allocated" >&3; false; }
	run_tool 0 "$VM_DISK" convert -O raw out.qcow2 sparse.raw
	[ "$(stat -c %b sparse.raw)" -lt "$(( $(stat -c %s sparse.raw) / 512 ))" ]
	run_tool 0 "$VM_DISK" convert -S 0 -O qcow2 src.raw full.qcow2
	alloc=$(qemu-img map --output=json full.qcow2 | jq '[.[] | select(.data) | .length] | add')
	# -S 0 writes every data extent the source reports, zeros included
	[ "$alloc" -gt $((3 * 1024 * 1024 + 512 * 1024)) ]
	cmp <("$VM_DISK" cat full.qcow2) src.raw
}

@test "convert to - streams raw bytes; qcow2 to - is refused" {
	"$VM_DISK" convert -O qcow2 src.raw out.qcow2
	"$VM_DISK" convert -O raw out.qcow2 - | cmp - src.raw
	run_tool 1 "$VM_DISK" convert -O qcow2 src.raw -
	is "$output" "vm-disk: -: only raw output can be streamed to stdout"
}

@test "writes through the block layer equal qemu-io's: overlay on a chain, compressed, v2" {
	qemu-img create -q -f qcow2 -o compat=0.10 base.qcow2 8M
	qemu-io -c 'write -P 1 0 3M' base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 -o cluster_size=4k mid.qcow2
	qemu-io -c 'write -P 2 1M 1M' -c 'write -z 2500k 100k' mid.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
	qemu-img convert -c -O qcow2 -o cluster_size=4k src.raw comp.qcow2
	for img in top.qcow2 comp.qcow2 base.qcow2; do
		cp "$img" mine.qcow2
		cp "$img" theirs.qcow2
		"$BLKWRITE" mine.qcow2 rand:200:7 > ops
		replay ops theirs.qcow2
		qemu_ok mine.qcow2
		run qemu-img compare mine.qcow2 theirs.qcow2
		is "$status" 0 "compare after writes to $img: $output"
	done
}

@test "refcount table growth: 24 MiB of 512-byte clusters" {
	head -c 24M /dev/urandom > big.raw
	run_tool 0 "$VM_DISK" convert -O qcow2 -o cluster_size=512 big.raw out.qcow2
	qemu_ok out.qcow2
	cmp <("$VM_DISK" cat out.qcow2) big.raw
	run_tool 0 "$VM_DISK" check out.qcow2
}

@test "resize grows qcow2 (past its L1 table) and raw; shrinking needs --shrink" {
	"$VM_DISK" create -q -f qcow2 -o cluster_size=512 g.qcow2 1M
	"$BLKWRITE" g.qcow2 0:4096:aa
	run_tool 0 "$VM_DISK" resize g.qcow2 +2G
	is "$(qemu-img info --output=json g.qcow2 | jq '.["virtual-size"]')" $((2 * 1024 * 1024 * 1024 + 1024 * 1024))
	"$BLKWRITE" g.qcow2 2000000000:100000:bb
	qemu_ok g.qcow2
	qemu-io -c 'read -P 0xaa 0 4096' -c 'read -P 0xbb 2000000000 100000' g.qcow2 | grep -q 'read 100000/100000'
	cp g.qcow2 g.orig
	run_tool 1 "$VM_DISK" resize g.qcow2 1M
	is "$output" "*use --shrink*"
	cmp g.qcow2 g.orig
	"$VM_DISK" create -q r.img 1M
	run_tool 0 "$VM_DISK" resize --shrink r.img 512K
	is "$(stat -c %s r.img)" 524288
}

@test "SIGKILL mid-write: qemu-img check finds no corruption, vm-disk check agrees" {
	for seed in 1 2 3; do
		"$VM_DISK" create -q -f qcow2 -o cluster_size=4k k.qcow2 256M
		"$BLKWRITE" k.qcow2 rand:1000000:$seed > /dev/null &
		pid=$!
		sleep 0.$((seed * 2))
		kill -9 $pid
		wait $pid || true
		run qemu-img check k.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# $output" >&3; false; }
		run "$VM_DISK" check k.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# $output" >&3; false; }
	done
}

@test "SIGKILL during convert: the output is untouched, the partial image has no corruption" {
	yes vmkit | head -c 256M > big.raw
	echo old > out.qcow2
	"$VM_DISK" convert -p -O qcow2 -o cluster_size=4k big.raw out.qcow2 2> progress &
	pid=$!
	# kill it once it reports 5% done (one progress line per percent)
	while ! grep -q '(5.00/100%)' progress && kill -0 $pid 2>/dev/null; do
		sleep 0.01
	done
	if kill -9 $pid 2>/dev/null; then
		wait $pid || true
		is "$(cat out.qcow2)" old "the output named on the command line"
		for f in out.qcow2.*; do
			[ -e "$f" ] || continue
			run qemu-img check "$f"
			[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# $output" >&3; false; }
		done
	else
		# it finished first: then the output is complete
		wait $pid
		qemu_ok out.qcow2
		run qemu-img compare -f raw big.raw out.qcow2
		is "$status" 0 "compare"
	fi
}

@test "convert -B: an overlay that stores only what differs from the backing file, zeros included" {
	qemu-img create -q -f qcow2 base.qcow2 8M
	qemu-io -c 'write -P 0x11 0 4M' base.qcow2 > /dev/null
	qemu-img convert -O raw base.qcow2 new.raw
	# change 64 KiB of data, zero 64 KiB the base has data in
	printf '%65536s' | tr ' ' 'Q' | dd of=new.raw bs=64k seek=10 conv=notrunc status=none
	dd if=/dev/zero of=new.raw bs=64k seek=20 count=1 conv=notrunc status=none
	run_tool 0 "$VM_DISK" convert -O qcow2 -B base.qcow2 new.raw over.qcow2
	qemu_ok over.qcow2
	same "$(qemu-img info --output=json over.qcow2 | jq -r '.["backing-filename"]')" base.qcow2 "backing file"
	run qemu-img compare -f raw new.raw over.qcow2
	is "$status" 0 "overlay reads as the new image: $output"
	# only the two changed clusters live in the overlay
	same "$(qemu-img map --output=json over.qcow2 | jq -c '[.[] | select(.depth == 0 and .present) | [.start, .length]]')" \
		'[[655360,65536],[1310720,65536]]' "extents in the overlay"
}

@test "SIGUSR1 makes convert print its progress as one line" {
	yes vmkit | head -c 512M > big.raw
	"$VM_DISK" convert -O qcow2 -o cluster_size=4k big.raw out.qcow2 2> progress &
	pid=$!
	sleep 0.1
	kill -USR1 $pid 2>/dev/null || skip "convert finished before the signal"
	wait $pid
	is "$(cat progress)" "*(*.00/100%) * of 536870912 bytes*"
}
