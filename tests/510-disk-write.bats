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

@test "convert output past the page cache (O_DIRECT where aligned): odd tails, -S 512 runs and a tmpfs output keep every byte" {
	# data with 512-byte zero runs inside it and a size that is no
	# multiple of 4 KiB (1607 sectors): aligned writes go O_DIRECT, the
	# rest buffered
	{ head -c 700k rnd; head -c 512 /dev/zero; head -c 3584 rnd;
	  head -c 1536 /dev/zero; head -c 100352 rnd; } > odd.raw
	qemu-img convert -f raw -O raw odd.raw want.raw
	for S in 4k 512 0; do
		run_tool 0 "$VM_DISK" convert -S $S -O raw odd.raw out.raw
		cmp want.raw out.raw
		for o in cluster_size=512 cluster_size=64k; do
			run_tool 0 "$VM_DISK" convert -S $S -O qcow2 -o $o odd.raw out.qcow2
			qemu_ok out.qcow2
			qemu-img convert -O raw out.qcow2 back.raw
			cmp want.raw back.raw
		done
	done
	if command -v strace >/dev/null; then
		strace -f -e trace=openat -o trace "$VM_DISK" convert -O raw src.raw s.raw
		grep -q 'O_DIRECT' trace || { echo "# no O_DIRECT open" >&3; false; }
		cmp src.raw s.raw
	fi
	# tmpfs (O_DIRECT or not, as the kernel has it)
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		d=$(mktemp -d /dev/shm/vmkit-510.XXXXXX)
		"$VM_DISK" convert -O qcow2 odd.raw "$d/o.qcow2"
		"$VM_DISK" convert -O raw "$d/o.qcow2" "$d/o.raw"
		cmp want.raw "$d/o.raw" && r=0 || r=1
		rm -rf "$d"
		[ $r -eq 0 ]
	fi
}

@test "convert to - streams raw bytes; qcow2 to - is refused" {
	"$VM_DISK" convert -O qcow2 src.raw out.qcow2
	"$VM_DISK" convert -O raw out.qcow2 - | cmp - src.raw
	run_tool 1 "$VM_DISK" convert -O qcow2 src.raw -
	is "$output" "vm-disk: -: only raw and vmdk (-o subformat=streamOptimized) output can be streamed to stdout"
	run_tool 1 "$VM_DISK" convert -O vmdk src.raw -
	is "$output" "vm-disk: stdout: only streamOptimized vmdk images can be written to a stream (-o subformat=streamOptimized)"
}

@test "convert to -: a streamOptimized vmdk through a pipe, which qemu-img checks and compares" {
	qemu-img create -q -f qcow2 src.qcow2 100M
	qemu-io -c 'write -P 0xab 1M 3M' -c 'write -P 0x11 60M 64k' -c 'write -P 0x22 99M 1M' src.qcow2 >/dev/null
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.qcow2 - | cat > out.vmdk
	qemu_ok out.vmdk
	qemu-img compare -q src.qcow2 out.vmdk
	is "$(qemu-img info --output=json out.vmdk | jq -r '.["format-specific"].data["create-type"], .["virtual-size"]' | tr '\n' ' ')" \
		"streamOptimized 104857600 " "qemu-img's view of the stream"
	# the same bytes as the one written to a file
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.qcow2 file.vmdk
	qemu-img compare -q file.vmdk out.vmdk
}

@test "convert from -: raw and streamOptimized vmdk from a pipe, any format from a redirected file; qcow2 from a pipe refused" {
	qemu-img create -q -f qcow2 src.qcow2 100M
	qemu-io -c 'write -P 0xab 1M 3M' -c 'write -P 0x11 60M 64k' -c 'write -P 0x22 99M 1M' src.qcow2 >/dev/null
	qemu-img convert -O raw src.qcow2 src100.raw
	qemu-img convert -O vmdk -o subformat=streamOptimized src.qcow2 q.vmdk
	# qemu-img's stream through a pipe: to qcow2, to raw on stdout, and
	# again to a stream on stdout
	cat q.vmdk | "$VM_DISK" convert -O qcow2 - a.qcow2
	qemu_ok a.qcow2
	qemu-img compare -q src.qcow2 a.qcow2
	cat q.vmdk | "$VM_DISK" convert - - | cmp - src100.raw
	cat q.vmdk | "$VM_DISK" convert -O vmdk -o subformat=streamOptimized - - | cat > b.vmdk
	qemu_ok b.vmdk
	qemu-img compare -q src.qcow2 b.vmdk
	# raw from a pipe: the size is what came, the holes stay holes
	cat src100.raw | "$VM_DISK" convert -O qcow2 - c.qcow2
	qemu_ok c.qcow2
	qemu-img compare -q src100.raw c.qcow2
	is "$(qemu-img info --output=json c.qcow2 | jq '.["virtual-size"]')" "104857600" "the size of the stream"
	cat src100.raw | "$VM_DISK" convert -c -O qcow2 - cz.qcow2
	qemu_ok cz.qcow2
	qemu-img compare -q src100.raw cz.qcow2
	cat src100.raw | "$VM_DISK" convert - c.raw
	cmp src100.raw c.raw
	[ "$(stat -c %b c.raw)" -lt 10000 ]
	head -c 1000 src100.raw | "$VM_DISK" convert -O qcow2 - odd.qcow2
	is "$(qemu-img info --output=json odd.qcow2 | jq '.["virtual-size"]')" "1024" "a size in whole sectors"
	# a file on stdin is opened as an image
	"$VM_DISK" convert -O raw - d.raw < src.qcow2
	cmp src100.raw d.raw
	run_tool 1 "$VM_DISK" convert -O raw - e.raw < <(cat src.qcow2)
	is "$output" "vm-disk: stdin: qcow2 images need seeking (their tables point anywhere in the file): give the file, or redirect it (< FILE), not a pipe"
	qemu-img create -q -f vmdk sparse.vmdk 1M
	run_tool 1 "$VM_DISK" convert -O raw - e.raw < <(cat sparse.vmdk)
	is "$output" "vm-disk: stdin: a VMDK that is not streamOptimized needs seeking: give the file, not a pipe"
	run_tool 1 "$VM_DISK" convert -O vdi - e.vdi < <(cat src100.raw)
	is "$output" "vm-disk: stdin: raw data from a pipe has no size until its end: convert it to raw or qcow2 (or redirect a file)"
	[ ! -e e.raw ] && [ ! -e e.vdi ]
}

@test "convert from -: a cut or hostile stream is refused, nothing is made" {
	qemu-img create -q -f qcow2 src.qcow2 4M
	qemu-io -c 'write -P 0xab 0 1M' src.qcow2 >/dev/null
	qemu-img convert -O vmdk -o subformat=streamOptimized src.qcow2 q.vmdk
	run_tool 1 "$VM_DISK" convert - out.raw < <(head -c 70000 q.vmdk)
	is "$output" "vm-disk: stdin: the stream ends inside *"
	# the first grain marker's length, made huge
	python3 -c 'import sys; d=bytearray(open("q.vmdk","rb").read()); d[65536+8:65536+12]=(10**6).to_bytes(4,"little"); open("big.vmdk","wb").write(d)'
	run_tool 1 "$VM_DISK" convert - out.raw < <(cat big.vmdk)
	is "$output" "vm-disk: stdin: a grain marker at byte 65536 *is out of order, unaligned, past the end or too large"
	# its LBA past the capacity
	python3 -c 'import sys; d=bytearray(open("q.vmdk","rb").read()); d[65536:65544]=(1<<40).to_bytes(8,"little"); open("far.vmdk","wb").write(d)'
	run_tool 1 "$VM_DISK" convert - out.raw < <(cat far.vmdk)
	is "$output" "vm-disk: stdin: a grain marker at byte 65536 *"
	# an unknown marker type in place of vm-disk's end-of-stream marker,
	# the file's last sector (qemu-img pads behind its own)
	"$VM_DISK" convert -O vmdk -o subformat=streamOptimized src.qcow2 v.vmdk
	python3 -c 'import sys; d=bytearray(open("v.vmdk","rb").read()); d[len(d)-512+12]=9; open("mark.vmdk","wb").write(d)'
	run_tool 1 "$VM_DISK" convert - out.raw < <(cat mark.vmdk)
	is "$output" "vm-disk: stdin: unknown marker type 9 at byte *"
	[ ! -e out.raw ]
	is "$(ls -A | grep -c 'out.raw')" "0" "no temporary file left"
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

@test "create and convert -o refcount_bits=1..64: qemu-img checks and compares; compressed, snapshots where the width holds 2, refused where it does not" {
	for rb in 1 2 4 8 16 32 64; do
		rm -f a.qcow2 b.qcow2 c.qcow2
		run_tool 0 "$VM_DISK" create -q -f qcow2 -o refcount_bits=$rb a.qcow2 16M
		qemu_ok a.qcow2
		same "$(qemu-img info --output=json a.qcow2 | jq '.["format-specific"].data["refcount-bits"]')" $rb "create refcount_bits=$rb"
		run_tool 0 "$VM_DISK" convert -O qcow2 -o refcount_bits=$rb,cluster_size=4k src.raw b.qcow2
		qemu_ok b.qcow2
		qemu-img compare src.raw b.qcow2
		# compressed clusters share host clusters, except where one
		# already holds the largest refcount the width has
		run_tool 0 "$VM_DISK" convert -c -O qcow2 -o refcount_bits=$rb src.raw c.qcow2
		qemu_ok c.qcow2
		qemu-img compare src.raw c.qcow2
		run_tool 0 "$VM_DISK" check c.qcow2
		sum=$(md5sum < b.qcow2)
		if [ $rb -eq 1 ]; then
			run_tool 1 "$VM_DISK" snapshot -c s1 b.qcow2
			is "$output" "*b.qcow2: refcount of cluster * would be 2, more than 1-bit refcounts hold*"
			is "$(md5sum < b.qcow2)" "$sum" "the image after the refused snapshot"
			continue
		fi
		run_tool 0 "$VM_DISK" snapshot -c s1 b.qcow2
		run_tool 0 "$BLKWRITE" b.qcow2 0:65536:44 3145728:8192:d
		qemu_ok b.qcow2
		run_tool 0 "$VM_DISK" snapshot -a s1 b.qcow2
		qemu-img compare src.raw b.qcow2
		run_tool 0 "$VM_DISK" snapshot -d s1 b.qcow2
		qemu_ok b.qcow2
	done
	run_tool 1 "$VM_DISK" create -f qcow2 -o refcount_bits=8,compat=0.10 v2.qcow2 1M
	is "$output" "*v2.qcow2: refcount widths other than 16 bits need compat=1.1*"
	run_tool 1 "$VM_DISK" create -f qcow2 -o refcount_bits=3 x.qcow2 1M
	is "$output" "*refcount_bits=3: not a power of two from 1 to 64*"
}

@test "create and convert -o extended_l2=on: qemu-img checks, compares and maps them as its own; compressed, preallocated, a backing file; bad combinations refused" {
	for c in 16k 64k 2M; do
		rm -f a.qcow2 b.qcow2 c.qcow2 q.qcow2
		run_tool 0 "$VM_DISK" create -q -f qcow2 -o extended_l2=on,cluster_size=$c a.qcow2 8M
		qemu_ok a.qcow2
		same "$(qemu-img info --output=json a.qcow2 | jq -c '.["format-specific"].data["extended-l2"]')" true "create extended_l2 $c"
		run_tool 0 "$VM_DISK" convert -O qcow2 -o extended_l2=on,cluster_size=$c src.raw b.qcow2
		qemu_ok b.qcow2
		qemu-img compare src.raw b.qcow2
		qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=$c src.raw q.qcow2
		same "$(qemu-img map --output=json b.qcow2 | bits | merged)" \
		    "$(qemu-img map --output=json q.qcow2 | bits | merged)" "convert extended_l2 $c: map"
		run_tool 0 "$VM_DISK" convert -c -O qcow2 -o extended_l2=on,cluster_size=$c src.raw c.qcow2
		qemu_ok c.qcow2
		qemu-img compare src.raw c.qcow2
		# a compressed cluster written into: copied whole
		run_tool 0 "$BLKWRITE" c.qcow2 1000:10:66
		qemu-io -c 'write -P 0x66 1000 10' q.qcow2 > /dev/null
		qemu_ok c.qcow2
		qemu-img compare q.qcow2 c.qcow2
		for m in metadata falloc full; do
			rm -f p.qcow2 pq.qcow2
			run_tool 0 "$VM_DISK" create -q -f qcow2 -o extended_l2=on,cluster_size=$c,preallocation=$m p.qcow2 8M
			qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=$c,preallocation=$m pq.qcow2 8M
			qemu_ok p.qcow2
			same "$(qemu-img map --output=json p.qcow2 | jq -c .)" "$(qemu-img map --output=json pq.qcow2 | jq -c .)" "preallocation=$m extended_l2 $c: map"
			run_tool 0 "$BLKWRITE" p.qcow2 5000:20000:67
			qemu_ok p.qcow2
			qemu-io -r -c 'read -P 0 0 5000' -c 'read -P 0x67 5000 20000' -c 'read -P 0 25000 1M' p.qcow2 > /dev/null
		done
	done
	# an overlay: subclusters written partly are completed from the
	# backing file
	qemu-img convert -O qcow2 src.raw base.qcow2
	run_tool 0 "$VM_DISK" create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 o.qcow2
	qemu-img create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 oq.qcow2
	run_tool 0 "$BLKWRITE" o.qcow2 100:100:71 3000000:70000:72
	qemu-io -c 'write -P 0x71 100 100' -c 'write -P 0x72 3000000 70000' oq.qcow2 > /dev/null
	qemu_ok o.qcow2
	qemu-img compare oq.qcow2 o.qcow2
	same "$(qemu-img map --output=json o.qcow2 | bits | merged)" \
	    "$(qemu-img map --output=json oq.qcow2 | bits | merged)" "overlay: map"
	sum=$(md5sum < o.qcow2)
	run_tool 1 "$VM_DISK" snapshot -c s o.qcow2
	is "$output" "*o.qcow2: snapshots of images with extended L2 entries (subclusters) are not supported*"
	is "$(md5sum < o.qcow2)" "$sum" "the overlay after the refused snapshot"
	run_tool 1 "$VM_DISK" create -f qcow2 -o extended_l2=on,cluster_size=4k e.qcow2 1M
	is "$output" "*e.qcow2: extended L2 entries need a cluster size of at least 16K*"
	run_tool 1 "$VM_DISK" create -f qcow2 -o extended_l2=on,compat=0.10 e.qcow2 1M
	is "$output" "*e.qcow2: extended L2 entries need compat=1.1*"
	run_tool 1 "$VM_DISK" create -f vdi -o extended_l2=on e.vdi 1M
	is "$output" "*e.vdi: vdi images have no refcount_bits or extended_l2 option*"
	[ ! -e e.qcow2 ] && [ ! -e e.vdi ]
}

# dir_synced TRACE DIR: in an strace log, a rename is followed by an
# fsync of a descriptor opened on directory DIR
dir_synced() {
	awk -v dir="\"$2\"" '
		/rename\(/ && / = 0$/ { renamed = 1 }
		renamed && /openat\(/ && /O_DIRECTORY/ && index($0, dir) {
			fd = $NF; next
		}
		fd != "" && $0 ~ "fsync\\(" fd "\\)" && / = 0$/ { ok = 1 }
		END { exit !ok }' "$1"
}

@test "create and convert sync the directory after renaming the new image into place (strace sees the fsync)" {
	mkdir sub
	strace -f -o c.trace -e trace=rename,openat,fsync "$VM_DISK" create -q -f qcow2 sub/a.qcow2 1M
	dir_synced c.trace sub || { sed 's/^/# /' c.trace | tail -5 >&3; false; }
	for f in qcow2 raw vmdk vdi vpc; do
		strace -f -o v.trace -e trace=rename,openat,fsync "$VM_DISK" convert -O $f src.raw sub/b.$f
		dir_synced v.trace sub || { echo "# convert -O $f" >&3; sed 's/^/# /' v.trace | tail -5 >&3; false; }
		qemu-img compare src.raw sub/b.$f
	done
	# a name with no directory part: the current directory
	strace -f -o d.trace -e trace=rename,openat,fsync "$VM_DISK" convert -O qcow2 src.raw here.qcow2
	dir_synced d.trace . || { sed 's/^/# /' d.trace | tail -5 >&3; false; }
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

@test "resize --shrink qcow2: clusters and L2 tables past the end released, qemu-img agrees; growing again reads zeros" {
	for cs in 512 4k 64k; do
		qemu-img create -q -f qcow2 -o cluster_size=$cs k.qcow2 300M
		qemu-io -c 'write -P 1 0 3M' -c 'write -P 2 100M 1M' -c 'write -P 3 290M 64k' \
			-c 'write -c -P 4 200M 64k' -c 'write -P 5 149000000 2M' k.qcow2 > /dev/null
		qemu-img convert -O raw k.qcow2 k.raw
		before=$(qemu-img check --output=json k.qcow2 | jq '."allocated-clusters"')
		run_tool 0 "$VM_DISK" resize --shrink k.qcow2 150000001
		# the size in whole sectors, as qemu-img reads it
		is "$(qemu-img info --output=json k.qcow2 | jq '."virtual-size"')" 150000128 "$cs: the size"
		is "$("$VM_DISK" info --json k.qcow2 | jq '."virtual-size"')" 150000128 "$cs: vm-disk's size"
		qemu_ok k.qcow2
		after=$(qemu-img check --output=json k.qcow2 | jq '."allocated-clusters"')
		[ "$after" -lt "$before" ]
		truncate -s 150000128 k.raw
		qemu-img compare -q k.raw k.qcow2
		run_tool 0 "$VM_DISK" resize k.qcow2 300M
		truncate -s 300M k.raw
		qemu-img compare -q k.raw k.qcow2
		qemu_ok k.qcow2
		run_tool 0 "$VM_DISK" check k.qcow2
	done
	# not with internal snapshots, which share the clusters
	run_tool 0 "$VM_DISK" snapshot -c s1 k.qcow2
	cp k.qcow2 k.orig
	run_tool 1 "$VM_DISK" resize --shrink k.qcow2 1M
	is "$output" "vm-disk: k.qcow2: has internal snapshots, which share its clusters: delete them (vm-disk snapshot -d) before shrinking"
	cmp k.qcow2 k.orig
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
