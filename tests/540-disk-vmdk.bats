#!/usr/bin/env bats
# VMDK, interchangeable with qemu-img: images qemu-img makes in every
# subformat (and hand-written descriptors) are read byte for byte as
# qemu-img reads them; images vm-disk makes pass qemu-img check and
# compare; hostile headers, descriptors and grain tables are refused with
# the file named and left unchanged.

load helpers
load disk

SUBFORMATS="monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized"

setup() {
	disk_setup
	head -c 1M /dev/urandom > rnd
	# data, a 2 MiB hole, text, a zero run inside data, data at the end
	{ cat rnd; head -c 2M /dev/zero; yes vmkit | head -c 1M;
	  head -c 100k /dev/zero; head -c 412k rnd; } > src.raw
	truncate -s 6M src.raw
	cat rnd >> src.raw
}

# le OFFSET BYTES FILE: an unsigned little-endian integer from FILE
le() {
	od -An -t u"$2" -j "$1" -N "$2" "$3" | tr -d ' '
}

@test "read: every subformat qemu-img creates, written by qemu-io, reads as qemu-img reads it" {
	for sf in $SUBFORMATS; do
		# 2304 MiB: the twoGbMaxExtent kinds get two extents
		qemu-img create -q -f vmdk -o subformat=$sf q-$sf.vmdk 2304M
		ops=(-c 'write -P 7 0 100k' -c 'write -P 9 2147483000 200k'
			-c 'write -z 4M 64k' -c 'write -P 3 2300M 64k')
		# a stream takes whole grains, in order
		[ $sf = streamOptimized ] && ops=(-c 'write -P 7 0 128k'
			-c 'write -P 9 2G 192k' -c 'write -P 3 2300M 64k')
		qemu-io "${ops[@]}" q-$sf.vmdk > /dev/null
		qemu-img convert -O raw q-$sf.vmdk q.raw
		"$VM_DISK" cat q-$sf.vmdk | cmp - q.raw || { echo "# $sf differs" >&3; false; }
		same "$("$VM_DISK" info --output=json q-$sf.vmdk | jq -cS '.["format-specific"]')" \
			"$(qemu-img info --output=json q-$sf.vmdk | jq -cS '.["format-specific"]')" "$sf info"
		same "$("$VM_DISK" info --output=json q-$sf.vmdk | jq -c '[.format, .["virtual-size"], .["cluster-size"]]')" \
			"$(qemu-img info --output=json q-$sf.vmdk | jq -c '[.format, .["virtual-size"], .["cluster-size"]]')" "$sf info"
		run_tool 0 "$VM_DISK" check q-$sf.vmdk
		rm -f q.raw
	done
	# a stream qemu-img converts (compressed grains behind markers)
	qemu-img convert -O vmdk -o subformat=streamOptimized src.raw qs.vmdk
	same_as_qemu qs.vmdk
}

@test "read: a descriptor with several extents (flat at an offset, vmfs, sparse, one in ../; zero and read-only ones)" {
	mkdir d
	head -c 300k rnd > d/a.bin
	yes extent | head -c 64k > b-flat.bin
	qemu-img create -q -f vmdk d/s.vmdk 1M
	qemu-io -c 'write -P 0x44 4096 70000' d/s.vmdk > /dev/null
	cat > d/multi.vmdk <<-'EOF'
	# Disk DescriptorFile
	version=1
	CID=12345678
	parentCID=ffffffff
	createType="vmfs"

	# Extent description
	RW 200 FLAT "a.bin" 100
	RW 0 FLAT "a.bin" 0
	RW 128 VMFS "../b-flat.bin"
	RW 2048 SPARSE "s.vmdk"
	EOF
	qemu-img convert -O raw d/multi.vmdk q.raw
	is "$(stat -c %s q.raw)" $(((200 + 128 + 2048) * 512))
	"$VM_DISK" cat d/multi.vmdk | cmp - q.raw
	same "$("$VM_DISK" info --output=json d/multi.vmdk | jq -cS '.["format-specific"]')" \
		"$(qemu-img info --output=json d/multi.vmdk | jq -cS '.["format-specific"]')" "extents"
	# VMware's ZERO and RDONLY extents (qemu-img skips those lines and
	# so reads a shorter disk): zeros, and data that cannot be written
	sed 's/^RW 128 VMFS/RDONLY 64 ZERO\nRDONLY 128 VMFS/' d/multi.vmdk > d/z.vmdk
	{ head -c $((200 * 512)) q.raw; head -c 32k /dev/zero; tail -c +$((200 * 512 + 1)) q.raw; } > z.raw
	"$VM_DISK" cat d/z.vmdk | cmp - z.raw
	run_tool 1 "$BLKWRITE" d/z.vmdk $((200 * 512)):512:1
	is "$output" "blkwrite: d/z.vmdk: extent ZERO is read-only"
	# an extent that is a FIFO is refused, not waited on
	mkfifo d/fifo
	sed 's/"a.bin" 100/"fifo"/' d/multi.vmdk > d/fifo.vmdk
	run_tool 1 timeout 10 "$VM_DISK" cat d/fifo.vmdk
	is "$output" "vm-disk: d/fifo.vmdk: extent d/fifo is not a file or block device"
}

@test "read: a parent link (parentCID, parentFileNameHint) is the backing file" {
	qemu-img create -q -f vmdk base.vmdk 8M
	qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 3M 1M' base.vmdk > /dev/null
	qemu-img create -q -f vmdk -b base.vmdk -F vmdk top.vmdk
	qemu-io -c 'write -P 5 512k 1M' -c 'write -P 6 3200k 8k' top.vmdk > /dev/null
	same_as_qemu top.vmdk
	same "$("$VM_DISK" info --output=json top.vmdk | jq -c '[.["backing-filename"], .["backing-filename-format"], .["format-specific"].data["parent-cid"]]')" \
		"$(qemu-img info --output=json top.vmdk | jq -c '[.["backing-filename"], .["backing-filename-format"], .["format-specific"].data["parent-cid"]]')" "parent"
	# vm-disk's own overlay: qemu-img reads it the same
	run_tool 0 "$VM_DISK" create -q -f vmdk -b base.vmdk mine.vmdk
	qemu_ok mine.vmdk
	"$BLKWRITE" mine.vmdk 100000:5000:ab 3145728:100:cd > /dev/null
	qemu-img create -q -f vmdk -b base.vmdk -F vmdk theirs.vmdk
	qemu-io -c 'write -P 0xab 100000 5000' -c 'write -P 0xcd 3M 100' theirs.vmdk > /dev/null
	run qemu-img compare mine.vmdk theirs.vmdk
	is "$status" 0 "overlay: $output"
	same_as_qemu mine.vmdk
	run_tool 1 "$VM_DISK" create -q -f vmdk -b src.raw -F raw bad.vmdk
	is "$output" "vm-disk: bad.vmdk: the backing file of a vmdk image must be vmdk, not raw"
}

@test "write: every subformat vm-disk creates and converts to passes qemu-img check and compare" {
	for sf in $SUBFORMATS; do
		run_tool 0 "$VM_DISK" create -f vmdk -o subformat=$sf c-$sf.vmdk 3G
		is "$output" "Formatting 'c-$sf.vmdk', fmt=vmdk subformat=$sf size=3221225472"
		qemu_ok c-$sf.vmdk
		same "$(qemu-img info --output=json c-$sf.vmdk | jq -c '[.["virtual-size"], .["format-specific"].data["create-type"]]')" \
			"[3221225472,\"$sf\"]" "$sf create"
		run_tool 0 "$VM_DISK" convert -O vmdk -o subformat=$sf src.raw o-$sf.vmdk
		qemu_ok o-$sf.vmdk
		run qemu-img compare src.raw o-$sf.vmdk
		is "$status" 0 "compare $sf: $output"
	done
	# streamOptimized keeps its grains compressed, the GD at the end
	is "$(le 56 8 o-streamOptimized.vmdk)" 18446744073709551615 "GD_AT_END in the header"
	[ "$(stat -c %s o-streamOptimized.vmdk)" -lt 3000000 ]
	run_tool 1 "$VM_DISK" create -f vmdk -o subformat=fancy x.vmdk 1M
	is "$output" "*subformat 'fancy' is not one of monolithicSparse, *"
	[ ! -e x.vmdk ]
}

@test "write: random writes to sparse and flat images match qemu-io's on raw; the redundant GT stays in step" {
	for sf in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat; do
		rm -f img* ref.raw
		"$VM_DISK" convert -O vmdk -o subformat=$sf src.raw img.vmdk
		cp src.raw ref.raw
		"$BLKWRITE" img.vmdk rand:200:11 > ops
		replay ops ref.raw
		qemu_ok img.vmdk
		run qemu-img compare img.vmdk ref.raw
		is "$status" 0 "$sf after writes: $output"
		"$VM_DISK" cat img.vmdk | cmp - ref.raw
	done
	# monolithicSparse: the GTs behind the redundant GD equal the GTs
	"$VM_DISK" create -q -f vmdk m.vmdk 100M
	"$BLKWRITE" m.vmdk rand:100:3 > /dev/null
	rgd=$(le 48 8 m.vmdk) gd=$(le 56 8 m.vmdk)
	rgt=$(le $((rgd * 512)) 4 m.vmdk) gt=$(le $((gd * 512)) 4 m.vmdk)
	cmp <(dd if=m.vmdk bs=512 skip=$rgt count=16 status=none) \
		<(dd if=m.vmdk bs=512 skip=$gt count=16 status=none)
	[ "$(dd if=m.vmdk bs=512 skip=$gt count=16 status=none | tr -d '\0' | wc -c)" -gt 0 ]
	# a stream is written once: writes to a finished one are refused
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.raw s.vmdk
	cp s.vmdk s.orig
	run_tool 1 "$BLKWRITE" s.vmdk 0:512:1
	is "$output" "*streamOptimized images are written once*"
	cmp s.vmdk s.orig
}

@test "round trip: qcow2 -> vmdk streamOptimized -> raw keeps the bytes; the stream compresses" {
	qemu-img convert -O qcow2 src.raw src.qcow2
	run_tool 0 "$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.qcow2 s.vmdk
	qemu_ok s.vmdk
	run_tool 0 "$VM_DISK" convert -O raw s.vmdk back.raw
	cmp back.raw src.raw
	qemu-img convert -O raw s.vmdk q.raw
	cmp q.raw src.raw
	# -c says the same; compressed grains are counted by check
	run_tool 0 "$VM_DISK" convert -c -O vmdk -o subformat=streamOptimized src.raw c.vmdk
	run qemu-img compare c.vmdk src.raw
	is "$status" 0 "-c"
	run_tool 0 "$VM_DISK" check --output=json c.vmdk
	[ "$(jq '.["compressed-clusters"]' <<<"$output")" -gt 0 ]
	run_tool 1 "$VM_DISK" convert -c -O vmdk src.raw m.vmdk
	is "$output" "*compressed only with -o subformat=streamOptimized*"
	# qemu-img's own stream, vm-disk to monolithicSparse and back
	qemu-img convert -O vmdk -o subformat=streamOptimized src.raw qs.vmdk
	run_tool 0 "$VM_DISK" convert -O vmdk qs.vmdk ms.vmdk
	run qemu-img compare ms.vmdk src.raw
	is "$status" 0 "qemu stream -> monolithicSparse"
}

# vmdk_refused IMAGE MESSAGE-GLOB [-f vmdk]: every command fails cleanly
# and nothing changes (a write too, unless -f is needed to call it vmdk).
vmdk_refused() {
	local img=$1 msg=$2
	shift 2
	cp "$img" "$img.orig"
	run_tool 1 "$VM_DISK" info "$@" "$img"
	is "$output" "vm-disk: $img: $msg" "info"
	run_tool 1 "$VM_DISK" cat "$@" "$img"
	run_tool 1 "$VM_DISK" convert "$@" -O raw "$img" out.raw
	[ ! -e out.raw ]
	[ $# -gt 0 ] || run_tool 1 "$BLKWRITE" "$img" 0:512:1
	cmp "$img" "$img.orig"
}

@test "bad input: hostile headers and descriptors are refused and the files are unchanged" {
	"$VM_DISK" create -q -f vmdk g.vmdk 4M
	cp g.vmdk b.vmdk; poke b.vmdk 0 'XDMV'
	vmdk_refused b.vmdk "not a VMDK image (bad magic, and no descriptor)" -f vmdk
	cp g.vmdk b.vmdk; poke b.vmdk 4 '\x09'
	vmdk_refused b.vmdk "VMDK version 9 is not supported"
	cp g.vmdk b.vmdk; poke b.vmdk 20 '\x03'
	vmdk_refused b.vmdk "grain size of 3 sectors is not a power of two up to 2048"
	cp g.vmdk b.vmdk; poke b.vmdk 12 '\x00\x00\x00\x00\x00\x00\x00\x7f'
	vmdk_refused b.vmdk "capacity of * sectors is absurd"
	cp g.vmdk b.vmdk; poke b.vmdk 44 '\x00\x00\x00\x80'
	vmdk_refused b.vmdk "2147483648 entries per grain table is absurd"
	cp g.vmdk b.vmdk; poke b.vmdk 56 '\x00\x00\x00\x01'
	vmdk_refused b.vmdk "grain directory at sector 16777216 is past the end of the file"
	cp g.vmdk b.vmdk; poke b.vmdk 28 '\x00\x00\x00\x10'
	vmdk_refused b.vmdk "embedded descriptor is past the end of the file"
	# stream footers
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.raw s.vmdk
	sz=$(stat -c %s s.vmdk)
	cp s.vmdk b.vmdk; poke b.vmdk $((sz - 512 + 12)) '\x05'
	vmdk_refused b.vmdk "bad footer (the markers at the end of the stream are missing)"
	cp s.vmdk b.vmdk; truncate -s 70000 b.vmdk
	vmdk_refused b.vmdk "bad footer (the markers at the end of the stream are missing)"
	# descriptors
	printf '# Disk DescriptorFile\nversion=1\nRW 99999999999999999999 FLAT "x"\n' > b.vmdk
	vmdk_refused b.vmdk "descriptor line 3: bad extent size '99999999999999999999'"
	printf '# Disk DescriptorFile\nversion=1\nRW 100 FLAT x\n' > b.vmdk
	vmdk_refused b.vmdk "descriptor line 3: the extent's file name is not quoted"
	printf '# Disk DescriptorFile\nversion=1\nRW 100 SESPARSE "x"\n' > b.vmdk
	vmdk_refused b.vmdk "descriptor line 3: extent type SESPARSE is not supported"
	printf '# Disk DescriptorFile\nversion=1\n' > b.vmdk
	vmdk_refused b.vmdk "descriptor lists no extents"
	printf '# Disk DescriptorFile\nversion=1\nRW 100 FLAT "missing.bin"\n' > b.vmdk
	vmdk_refused b.vmdk "extent missing.bin: No such file or directory"
	printf '# Disk DescriptorFile\nversion=1\nRW 100 SPARSE "src.raw"\n' > b.vmdk
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: src.raw: not a sparse VMDK extent (bad magic)"
}

@test "bad input: grain tables past the end, overlaps, compressed lengths and inflation bombs" {
	"$VM_DISK" convert -O vmdk src.raw g.vmdk
	gd=$(le 56 8 g.vmdk)
	gt=$(le $((gd * 512)) 4 g.vmdk)
	# GT entry 0 past the end of the file: reads fail, check says corrupt
	cp g.vmdk b.vmdk; poke b.vmdk $((gt * 512)) '\x00\x00\x00\x70'
	cp b.vmdk b.orig
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: read: b.vmdk: GT entry for guest offset 0 points past the end of b.vmdk (sector 1879048192)"
	run_tool 2 "$VM_DISK" check b.vmdk
	is "$output" "*GT entry for guest offset 0 points past the end*"
	run qemu-img check b.vmdk
	[ "$status" -ne 0 ]
	run_tool 1 "$BLKWRITE" b.vmdk 0:512:1
	cmp b.vmdk b.orig
	# a GD entry past the end: its GT is not read; check says corrupt
	cp g.vmdk b.vmdk; poke b.vmdk $((gd * 512)) '\x00\x00\x00\x10'
	cp b.vmdk b.orig
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: read: b.vmdk: grain directory entry 0 of b.vmdk (sector 268435456) points past the end of the file"
	run_tool 2 "$VM_DISK" check b.vmdk
	is "$output" "*grain directory entry 0 (sector 268435456) points past the end of the file*"
	run_tool 1 "$BLKWRITE" b.vmdk 0:512:1
	cmp b.vmdk b.orig
	# GT entries 0 and 1 naming one grain: overlap
	cp g.vmdk b.vmdk
	dd if=g.vmdk of=b.vmdk bs=1 skip=$((gt * 512)) seek=$((gt * 512 + 4)) count=4 conv=notrunc status=none
	run_tool 2 "$VM_DISK" check b.vmdk
	is "$output" "*grains or grain tables overlap*"
	# compressed grains: a length past the end, and a grain that
	# inflates past its size (the header's grain made 4 KiB)
	yes vmkit | head -c 1M > t.raw
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized t.raw s.vmdk
	cp s.vmdk b.vmdk; poke b.vmdk $((65536 + 8)) '\xff\xff\xff\x7f'
	cp b.vmdk b.orig
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: read: b.vmdk: compressed grain at 0x10000: length 2147483647 runs past the end of b.vmdk"
	run_tool 2 "$VM_DISK" check b.vmdk
	cmp b.vmdk b.orig
	sz=$(stat -c %s s.vmdk)
	cp s.vmdk b.vmdk; poke b.vmdk $((sz - 1024 + 20)) '\x08'
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: read: b.vmdk: compressed grain at 0x10000 inflates to more than a grain"
	cp s.vmdk b.vmdk; poke b.vmdk $((65536 + 12 + 2)) '\xde\xad\xbe\xef'
	run_tool 1 "$VM_DISK" cat b.vmdk
	is "$output" "vm-disk: read: b.vmdk: bad deflate data in the compressed grain at 0x10000"
}

@test "fuzz: the vmdk libFuzzer harness survives a short run" {
	command -v clang >/dev/null || skip "clang not installed (make deps)"
	make -C "$TOPDIR" --no-print-directory -s build/fuzz/vmdk
	fz=$TOPDIR/build/fuzz/vmdk
	mkdir corpus
	"$VM_DISK" create -q -f vmdk corpus/e.vmdk 1M
	"$VM_DISK" convert -O vmdk src.raw corpus/d.vmdk
	truncate -s 1M t.raw; yes vm | head -c 100k | dd of=t.raw conv=notrunc status=none
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized t.raw corpus/s.vmdk
	qemu-img convert -O vmdk -o subformat=streamOptimized t.raw corpus/q.vmdk
	printf '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\nRW 64 ZERO\nRDONLY 8 ZERO\n' > corpus/desc.vmdk
	for f in corpus/*; do truncate -s "<64K" "$f"; done
	run "$fz" -runs=3000 -seed=1 -max_len=65536 corpus
	[ "$status" -eq 0 ] || { echo "$output" | grep -E 'ERROR|SUMMARY|#[0-9]+ ' | head -20 >&3; false; }
}
