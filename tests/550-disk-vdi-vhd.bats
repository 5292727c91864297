#!/usr/bin/env bats
# VDI (VirtualBox) and VHD (qemu's "vpc"; "vhd" is an alias), dynamic
# and fixed, with qemu-img and qemu-io as the judges: images they write
# read byte for byte as qemu reads them; images vm-disk writes pass
# qemu-img check (VDI; qemu has no check for VHD) and compare equal to
# their source; hostile headers and tables are refused naming the file
# and leave it as it was.  Note that qemu-img probes a fixed VHD as raw,
# so it is always told -f vpc here; vm-disk finds it by its footer.

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

# qemu_reads FMT IMAGE: vm-disk cat gives exactly qemu-img's raw bytes,
# and both see the same virtual size.
qemu_reads() {
	qemu-img convert -f "$1" -O raw "$2" "$2.qemu.raw"
	cmp "$2.qemu.raw" <("$VM_DISK" cat "$2")
	rm "$2.qemu.raw"
	same "$("$VM_DISK" info --json "$2" | jq '.["virtual-size"]')" \
		"$(qemu-img info -f "$1" --output=json "$2" | jq '.["virtual-size"]')" "$2: virtual size"
}

# vhd_sum FILE OFF LEN CSUM: store the right checksum for the LEN-byte
# structure at OFF (its checksum field at OFF+CSUM), after a poke.
vhd_sum() {
	local s
	s=$(od -An -v -tu1 -j "$2" -N "$3" "$1" | tr -s ' ' '\n' |
		awk -v c="$4" 'NF { if (i < c || i >= c + 4) s += $1; i++ } END { print s }')
	s=$(( ~s & 0xffffffff ))
	poke "$1" $(( $2 + $4 )) "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
		$(( s >> 24 )) $(( s >> 16 & 255 )) $(( s >> 8 & 255 )) $(( s & 255 )))"
}

@test "qemu-img's VDI and VHD images, dynamic and fixed, several sizes, read byte for byte" {
	for size in 1M 3145728 5000K 100M; do
		for v in "vdi static=off" "vdi static=on" "vpc subformat=dynamic" \
		    "vpc subformat=fixed" "vpc force_size=on"; do
			set -- $v
			qemu-img create -q -f $1 -o $2 img $size
			qemu_reads $1 img
			vsize=$(qemu-img info -f $1 --output=json img | jq '.["virtual-size"]')
			qemu-io -f $1 -c 'write -P 0x61 0 64k' -c "write -P 0x62 $(( vsize / 2 - 1000 )) 200k" \
				-c "write -P 0x64 $(( vsize - 4096 )) 4096" img > /dev/null
			qemu_reads $1 img
			same "$("$VM_DISK" info --json img | jq -r .format)" $1 "$size $2: probed format"
		done
	done
	# converted from data with holes
	qemu-img convert -O vdi src.raw c.vdi
	qemu_reads vdi c.vdi
	qemu-img convert -O vpc src.raw c.vhd
	qemu_reads vpc c.vhd
	qemu-img convert -O vpc -o subformat=fixed src.raw f.vhd
	qemu_reads vpc f.vhd
}

@test "info: qemu-img's layout and JSON for VDI and VHD; -f vhd is vpc" {
	qemu-img create -q -f vdi a.vdi 10M
	qemu-io -f vdi -c 'write -P 1 0 1M' a.vdi > /dev/null
	qemu-img create -q -f vdi -o static=on b.vdi 3M
	qemu-img create -q -f vpc c.vhd 10M
	qemu-img create -q -f vpc -o subformat=fixed d.vhd 10M
	# the human sizes aside (vm-disk rounds as "10.0 MiB" where
	# qemu-img says "10 MiB"; the byte counts are the same)
	human() { sed -E 's/: [0-9.]+ [KMGT]?i?B/: N/'; }
	for f in a.vdi b.vdi c.vhd; do
		diff <(qemu-img info $f | human) <("$VM_DISK" info $f | human)
		same "$("$VM_DISK" info --json $f | jq -cS .)" \
			"$(qemu-img info --output=json $f | jq -cS .)" "$f --json"
	done
	diff <(qemu-img info -f vpc d.vhd | human) <("$VM_DISK" info d.vhd | human)
	same "$("$VM_DISK" info --json -f vhd d.vhd | jq -cS .)" \
		"$(qemu-img info -f vpc --output=json d.vhd | jq -cS .)" "d.vhd --json"
	# content, not names: a fixed VHD called .raw is still found
	cp d.vhd d.raw
	is "$("$VM_DISK" info --json d.raw | jq -r .format)" vpc
	is "$("$VM_DISK" info --json -f raw d.raw | jq '.["virtual-size"]')" 10514944
	run_tool 1 "$VM_DISK" info -f vhd src.raw
	is "$output" 'vm-disk: src.raw: not a VHD image (no "conectix" footer at its start or end)'
	run_tool 1 "$VM_DISK" info -f vdi src.raw
	is "$output" "vm-disk: src.raw: not a VDI image (bad signature)"
}

@test "create: VDI and VHD images qemu-img accepts, with qemu's sizes and CHS geometry" {
	for size in 1M 10M 127M 1000000000 3G 200G; do
		run_tool 0 "$VM_DISK" create -f vdi a.vdi $size
		is "$output" "Formatting 'a.vdi', fmt=vdi size=* static=off"
		qemu_ok a.vdi
		qemu-img create -q -f vdi q.vdi $size
		same "$(stat -c %s a.vdi)" "$(stat -c %s q.vdi)" "$size: vdi file size"
		run qemu-img compare a.vdi q.vdi
		[ "$status" -eq 0 ]
		for sub in dynamic fixed; do
			[ $sub = fixed ] && [ $size = 200G ] && continue
			run_tool 0 "$VM_DISK" create -q -f vhd -o subformat=$sub a.vhd $size
			qemu-img create -q -f vpc -o subformat=$sub q.vhd $size
			same "$(qemu-img info -f vpc --output=json a.vhd | jq '.["virtual-size"]')" \
				"$(qemu-img info -f vpc --output=json q.vhd | jq '.["virtual-size"]')" "$size $sub: virtual size"
			same "$(stat -c %s a.vhd)" "$(stat -c %s q.vhd)" "$size $sub: file size"
			# cylinders, heads, sectors per track: bytes 56..59 of the footer
			same "$(tail -c 512 a.vhd | od -An -tx1 -j56 -N4)" \
				"$(tail -c 512 q.vhd | od -An -tx1 -j56 -N4)" "$size $sub: CHS"
			run qemu-img compare -f vpc -F vpc a.vhd q.vhd
			[ "$status" -eq 0 ]
		done
		run_tool 0 "$VM_DISK" create -q -f vpc -o force_size=on f.vhd $size
		qemu-img create -q -f vpc -o force_size=on qf.vhd $size
		same "$(qemu-img info --output=json f.vhd | jq '.["virtual-size"]')" \
			"$(qemu-img info --output=json qf.vhd | jq '.["virtual-size"]')" "$size force_size"
	done
	run_tool 0 "$VM_DISK" create -q -f vdi -o static=on s.vdi 3000K
	qemu_ok s.vdi
	same "$(stat -c %s s.vdi)" 3146752 "static file size"
	same "$("$VM_DISK" check --json s.vdi | jq -c '[.["allocated-clusters"], .["total-clusters"]]')" '[3,3]' "static: every block"
	run_tool 1 "$VM_DISK" create -q -f vdi big.vdi 65T
	is "$output" "vm-disk: big.vdi: too large for a VDI image (at most 70368744177664 bytes)"
	run_tool 1 "$VM_DISK" create -q -f vhd big.vhd 3T
	is "$output" "vm-disk: big.vhd: too large for a VHD image (at most 2040 GiB)"
	run_tool 1 "$VM_DISK" create -q -f vhd -o subformat=diff x.vhd 1M
	is "$output" "vm-disk: x.vhd: VHD subformat 'diff' is not dynamic or fixed"
	run_tool 1 "$VM_DISK" create -q -f vhd -o static=on x.vhd 1M
	is "$output" "vm-disk: x.vhd: VHD images take subformat=fixed, not static=on"
	run_tool 1 "$VM_DISK" create -q -f vdi -o force_size=on x.vdi 1M
	is "$output" "vm-disk: x.vdi: force_size is a VHD (vpc) option, not a VDI one"
	run_tool 1 "$VM_DISK" create -q -f vdi -b a.vdi x.vdi 1M
	[ ! -e big.vdi ] && [ ! -e big.vhd ] && [ ! -e x.vhd ] && [ ! -e x.vdi ]
}

@test "convert raw and qcow2 (data and holes) -> VDI and VHD: qemu-img check and compare agree" {
	qemu-img convert -f raw -O qcow2 -o cluster_size=4k src.raw src.qcow2
	for in in src.raw src.qcow2; do
		for v in "vdi" "vdi -o static=on" "vhd" "vhd -o subformat=fixed" "vpc -o force_size=on"; do
			run_tool 0 "$VM_DISK" convert -O $v $in out
			f=${v%% *}; [ $f = vhd ] && f=vpc
			[ $f = vdi ] && qemu_ok out
			run qemu-img compare -F $f $in out
			[ "$status" -eq 0 ] || { echo "# $in -> $v: $output" >&3; false; }
			run_tool 0 "$VM_DISK" check out
		done
	done
	# holes stay holes: the 2 MiB hole is no block of a dynamic image
	"$VM_DISK" convert -O vdi src.raw h.vdi
	same "$(qemu-img map -f vdi --output=json h.vdi | jq -c '[.[] | select(.data) | .length] | add')" 4194304 "vdi data"
	truncate -s 9M h.raw
	dd if=rnd of=h.raw bs=1M seek=7 conv=notrunc status=none
	"$VM_DISK" convert -O vhd h.raw h.vhd
	same "$("$VM_DISK" check --json h.vhd | jq -c '[.["allocated-clusters"], .["total-clusters"]]')" '[1,5]' "vhd blocks"
	run qemu-img compare -F vpc h.raw h.vhd
	[ "$status" -eq 0 ]
}

@test "random writes through the block layer read back as qemu-io's same writes" {
	for v in "vdi" "vdi static=on" "vpc" "vpc subformat=fixed"; do
		set -- $v
		"$VM_DISK" create -q -f $1 ${2:+-o $2} w.img 20M
		qemu-img convert -f $1 -O raw w.img w.raw
		run_tool 0 "$BLKWRITE" w.img 0:100000:11 3145000:2000:12 rand:60:17
		echo "$output" | grep -E '^[0-9]+:[0-9]+:[0-9a-f]+$' > ops
		printf '0:100000:11\n3145000:2000:12\n' >> ops
		replay ops w.raw
		run qemu-img compare -f raw -F $1 w.raw w.img
		[ "$status" -eq 0 ] || { echo "# $v: $output" >&3; false; }
		[ $1 = vdi ] && qemu_ok w.img
		run_tool 0 "$VM_DISK" check w.img
		# and qemu-io writes into what vm-disk wrote
		qemu-io -f $1 -c 'write -P 0x77 5M 3M' w.img > /dev/null
		qemu-io -f raw -c 'write -P 0x77 5M 3M' w.raw > /dev/null
		cmp <("$VM_DISK" cat w.img) w.raw
	done
}

@test "round trips raw -> vdi -> vhd -> qcow2 -> raw keep the bytes" {
	run_tool 0 "$VM_DISK" convert -O vdi src.raw a.vdi
	run_tool 0 "$VM_DISK" convert -O vpc -o force_size=on a.vdi b.vhd
	run_tool 0 "$VM_DISK" convert -O qcow2 b.vhd c.qcow2
	run_tool 0 "$VM_DISK" convert -O raw c.qcow2 back.raw
	cmp src.raw back.raw
	# without force_size the VHD rounds up to its CHS size: the bytes
	# are kept and the tail reads zeros
	run_tool 0 "$VM_DISK" convert -O vhd -o subformat=fixed a.vdi d.vhd
	run_tool 0 "$VM_DISK" convert -O vdi d.vhd e.vdi
	run_tool 0 "$VM_DISK" convert e.vdi back2.raw
	n=$(stat -c %s src.raw)
	[ "$(stat -c %s back2.raw)" -gt "$n" ]
	cmp -n "$n" src.raw back2.raw
	cmp <(tail -c +$(( n + 1 )) back2.raw) <(head -c $(( $(stat -c %s back2.raw) - n )) /dev/zero)
}

@test "round trips through every pair of the formats vm-disk writes keep the bytes, qemu-img judging" {
	# name, -O, -o (or -c), qemu-img's name for it
	kinds=("raw|raw||raw" "qcow2|qcow2||qcow2" "qcow2c|qcow2|-c|qcow2"
	    "qcow2v2|qcow2|-o compat=0.10,cluster_size=4k|qcow2"
	    "sparse|vmdk||vmdk" "stream|vmdk|-o subformat=streamOptimized|vmdk"
	    "vdi|vdi||vdi" "vdifixed|vdi|-o static=on|vdi"
	    "vhd|vpc|-o force_size=on|vpc" "vhdfixed|vpc|-o subformat=fixed,force_size=on|vpc")
	for k in "${kinds[@]}"; do
		IFS='|' read -r name fmt opt q <<< "$k"
		run_tool 0 "$VM_DISK" convert -O $fmt $opt src.raw "a.$name"
	done
	for ka in "${kinds[@]}"; do
		IFS='|' read -r a fa oa qa <<< "$ka"
		for kb in "${kinds[@]}"; do
			IFS='|' read -r b fb ob qb <<< "$kb"
			[ "$a" = "$b" ] && continue
			run_tool 0 "$VM_DISK" convert -O $fb $ob "a.$a" "b.$b"
			"$VM_DISK" cat "b.$b" | cmp - src.raw ||
				{ echo "# $a -> $b: vm-disk reads other bytes" >&3; false; }
			run qemu-img compare -f raw -F $qb src.raw "b.$b"
			[ "$status" -eq 0 ] || { echo "# $a -> $b: qemu-img compare: $output" >&3; false; }
			case $qb in qcow2|vdi|vmdk)
				run qemu-img check -f $qb "b.$b"
				[ "$status" -eq 0 ] || { echo "# $a -> $b: qemu-img check: $output" >&3; false; } ;;
			esac
		done
	done
}

@test "resize grows VDI images (the block map moving data when it outgrows its room)" {
	for o in static=off static=on; do
		"$VM_DISK" convert -O vdi -o $o src.raw r.vdi
		cp src.raw r.raw
		for size in 100M 1G +5M; do
			run_tool 0 "$VM_DISK" resize r.vdi $size
			is "$output" "Image resized."
			[ "${size#+}" = "$size" ] && truncate -s $size r.raw || truncate -s $size r.raw
			qemu_ok r.vdi
			run qemu-img compare -f raw r.raw r.vdi
			[ "$status" -eq 0 ] || { echo "# $o $size: $output" >&3; false; }
		done
		"$BLKWRITE" r.vdi 1073000000:1000000:5a > /dev/null
		qemu-io -f raw -c 'write -P 0x5a 1073000000 1000000' r.raw > /dev/null
		qemu_ok r.vdi
		qemu-img compare -f raw r.raw r.vdi
		run_tool 1 "$VM_DISK" resize r.vdi 1M
		is "$output" "vm-disk: r.vdi: shrinking would lose the data past 1048576 bytes; use --shrink to do it anyway"
	done
}

@test "resize --shrink VDI images: blocks past the end let go, the rest moved down, qemu-img agrees; growing again reads zeros" {
	for o in static=off static=on; do
		qemu-img create -q -f vdi -o $o s.vdi 10M
		# guest blocks written from the top down, so the first ones
		# lie at the highest host blocks and must move
		qemu-io -f vdi -c 'write -P 9 9M 1M' -c 'write -P 7 7M 512k' \
			-c 'write -P 5 0 1500k' -c 'write -P 3 2M 1M' s.vdi > /dev/null
		qemu-img convert -O raw s.vdi s.raw
		run_tool 0 "$VM_DISK" resize --shrink s.vdi 3000k
		is "$output" "Image resized."
		truncate -s 3000k s.raw
		qemu_ok s.vdi
		qemu-img compare -q s.raw s.vdi
		is "$(qemu-img info --output=json s.vdi | jq '.["virtual-size"]')" "3072000" "$o: qemu-img's size"
		# two blocks of 2 MiB left, and the file ends after them
		[ "$(stat -c %s s.vdi)" -le $(( 2 * 2097152 + 1048576 )) ]
		run_tool 0 "$VM_DISK" resize s.vdi 10M
		truncate -s 10M s.raw
		qemu_ok s.vdi
		qemu-img compare -q s.raw s.vdi
		run_tool 0 "$VM_DISK" check s.vdi
	done
}

# vhd_size FILE: the virtual size qemu-img reads.
vhd_size() { qemu-img info -f vpc --output=json "$1" | jq '.["virtual-size"]'; }

@test "resize VHD images: dynamic (the BAT grown in place or moved) and fixed (the footer moved), qemu-img agrees" {
	for sub in dynamic fixed; do
		qemu-img create -q -f vpc -o subformat=$sub r.vhd 10M
		qemu-io -f vpc -c 'write -P 5 1M 2M' -c 'write -P 6 9M 1M' r.vhd > /dev/null
		qemu-img convert -f vpc -O raw r.vhd r.raw
		# +100M fits the BAT's sector, 4G does not: it moves to the end
		for size in +100M 4G; do
			run_tool 0 "$VM_DISK" resize r.vhd $size
			is "$output" "Image resized."
			vs=$(vhd_size r.vhd)
			is "$("$VM_DISK" info --json r.vhd | jq '.["virtual-size"]')" "$vs" "$sub $size: vm-disk reads qemu-img's size"
			truncate -s "$vs" r.raw
			qemu-img compare -q -f raw -F vpc r.raw r.vhd
		done
		[ "$vs" -ge 4294967296 ]
		# a size CHS can hold: the next one up, as create picks
		run_tool 0 "$VM_DISK" resize --shrink r.vhd 6M
		vs=$(vhd_size r.vhd)
		[ "$vs" -ge 6291456 ] && [ "$vs" -lt 6815744 ]
		head -c "$vs" r.raw > r6.raw
		qemu-img compare -q -f raw -F vpc r6.raw r.vhd
		[ "$(stat -c %s r.vhd)" -lt 8000000 ] || [ $sub = dynamic ]
		run_tool 0 "$VM_DISK" resize r.vhd 20M
		vs=$(vhd_size r.vhd)
		truncate -s "$vs" r6.raw
		qemu-img compare -q -f raw -F vpc r6.raw r.vhd
		run_tool 0 "$VM_DISK" check r.vhd
		"$BLKWRITE" r.vhd 15000000:1000000:5a > /dev/null
		qemu-io -f raw -c 'write -P 0x5a 15000000 1000000' r6.raw > /dev/null
		qemu-img compare -q -f raw -F vpc r6.raw r.vhd
	done
}

# refused FILE MESSAGE-GLOB [FMT]: every command fails naming FILE, and
# nothing is changed.
refused() {
	cp "$1" bad.orig
	run_tool 1 "$VM_DISK" info ${3:+-f $3} "$1"
	is "$output" "vm-disk: $1: $2" "info $1"
	run_tool 1 "$VM_DISK" cat ${3:+-f $3} "$1"
	run_tool 1 "$VM_DISK" check ${3:+-f $3} "$1"
	run_tool 1 "$VM_DISK" convert ${3:+-f $3} -O raw "$1" out.raw
	[ ! -e out.raw ]
	run_tool 1 "$VM_DISK" resize ${3:+-f $3} "$1" +1M
	run_tool 1 "$BLKWRITE" "$1" 0:512:1
	cmp "$1" bad.orig
}

# corrupt_map FILE MESSAGE-GLOB: the header is sound but the map is not:
# info and check run (check finds corruption, exit 2), reads of the bad
# blocks, writes and resizes are refused, and nothing is changed.
corrupt_map() {
	cp "$1" bad.orig
	run_tool 0 "$VM_DISK" info "$1"
	run_tool 2 "$VM_DISK" check "$1"
	is "$output" "*ERROR: $2*errors were found on the image*" "check $1"
	run_tool 1 "$VM_DISK" convert -O raw "$1" out.raw
	[ ! -e out.raw ]
	run_tool 1 "$VM_DISK" resize "$1" +1M
	run_tool 1 "$BLKWRITE" "$1" 0:512:1
	is "$output" "blkwrite: $1: corrupt * image: $2 (vm-disk check lists every problem)"
	cmp "$1" bad.orig
}

@test "hostile VDI headers and block maps are refused naming the file, and nothing changes" {
	qemu-img create -q -f vdi good.vdi 4M
	qemu-io -f vdi -c 'write -P 5 0 1M' -c 'write -P 6 2M 64k' good.vdi > /dev/null
	t() { cp good.vdi bad.vdi; poke bad.vdi "$1" "$2"; refused bad.vdi "$3"; }
	t $((0x44)) '\x00\x00\x02\x00' "unsupported VDI version 2.0 (only 1.1)"
	t $((0x4c)) '\x05' "unsupported VDI image type 5 (only normal, fixed and differencing images)"
	t $((0x4c)) '\x04' "a differencing VDI image without its parent's UUID"
	t $((0x178)) '\x00\x00\x20\x00' "unsupported VDI layout *"
	t $((0x170)) '\x00\x00\x00\x00\x00\x00\x00\x01' "the disk size 72057594037927936 does not fit in the image's 4 blocks"
	t $((0x180)) '\xff\xff\xff\xff' "absurd VDI block count 4294967295"
	cp good.vdi bad.vdi; poke bad.vdi $((0x180)) '\x00\x00\x10\x00'; poke bad.vdi $((0x158)) '\x00\x00\x50\x00'
	refused bad.vdi "the block map runs past the end of the file (truncated image?)"
	t $((0x154)) '\x00\x01\x00\x00' "block map offset 0x100 or data offset 0x400 is unaligned or overlaps the header or the map"
	t $((0x158)) '\x01\x04\x00\x00' "block map offset 0x200 or data offset 0x401 is unaligned *"
	t $((0x1b8)) '\x01' "a VDI image of type 1 with a parent's UUID"
	t $((0x184)) '\x09' "9 blocks allocated of only 4"
	head -c 300 good.vdi > short.vdi
	refused short.vdi "not a VDI image (shorter than its header)" vdi
	# the map: an entry past the image's blocks, two entries for one
	# block, a count that disagrees; qemu-img check agrees on each
	cp good.vdi bad.vdi; poke bad.vdi 512 '\x07\x00\x00\x00'
	corrupt_map bad.vdi "block map entry 0 names block 7, past the image's 4 blocks"
	run_tool 2 qemu-img check bad.vdi
	run_tool 1 "$VM_DISK" cat bad.vdi
	is "$output" "*bad.vdi: block map entry 0 is corrupt*"
	cp good.vdi bad.vdi; poke bad.vdi 520 '\x00\x00\x00\x00'
	corrupt_map bad.vdi "block map entries 0 and 2 both name block 0"
	run_tool 2 qemu-img check bad.vdi
	# a count that disagrees: every block reads, but no write may go
	# where the count says the next free block is
	cp good.vdi bad.vdi; poke bad.vdi $((0x184)) '\x01'; cp bad.vdi bad.orig
	run_tool 2 "$VM_DISK" check bad.vdi
	is "$output" "*ERROR: the header counts 1 allocated blocks, the block map 2*"
	run_tool 2 qemu-img check bad.vdi
	qemu_reads vdi bad.vdi
	run_tool 1 "$BLKWRITE" bad.vdi 1M:512:1
	is "$output" "blkwrite: bad.vdi: corrupt VDI image: the header counts 1 allocated blocks, the block map 2 (vm-disk check lists every problem)"
	cmp bad.vdi bad.orig
	# that one check -r all corrects (the map is right, the count is not)
	run_tool 0 "$VM_DISK" check -r all bad.vdi
	is "$output" "*found and repaired*1 corruptions*No errors were found on the image.*"
	qemu_ok bad.vdi
	qemu_reads vdi bad.vdi
	# -r leaks does not touch a damaged map (-r all repairs it: see the
	# repair test below)
	cp good.vdi bad.vdi; poke bad.vdi 520 '\x00\x00\x00\x00'; cp bad.vdi bad.orig
	run_tool 2 "$VM_DISK" check -r leaks bad.vdi
	cmp bad.vdi bad.orig
	cp good.vdi bad.vdi; poke bad.vdi 516 '\x02\x00\x00\x00'; poke bad.vdi $((0x184)) '\x03'
	truncate -s $((1024 + 2 * 1048576)) bad.vdi
	corrupt_map bad.vdi "block map entry 1 names block 2, past the end of the file"
}

@test "hostile VHD footers, headers and tables are refused naming the file, and nothing changes" {
	qemu-img create -q -f vpc good.vhd 8M
	qemu-io -f vpc -c 'write -P 5 0 64k' -c 'write -P 6 4M 64k' good.vhd > /dev/null
	t() { cp good.vhd bad.vhd; poke bad.vhd "$1" "$2"; [ -z "$4" ] || vhd_sum bad.vhd $4; refused bad.vhd "$3"; }
	t 48 '\x01' "bad VHD footer checksum (0x*, the footer sums to 0x*)"
	t 512 'X' "not a VHD dynamic header (bad magic)" 
	t 544 '\x00\x00\x00\x03' "bad VHD dynamic header checksum"
	t 60 '\x00\x00\x00\x04' "a differencing VHD image that names no parent" "0 512 64"
	t 60 '\x00\x00\x00\x07' "unknown VHD disk type 7 for a footer at its start" "0 512 64"
	cp good.vhd bad.vhd; poke bad.vhd 56 '\xff\xff\x10\xff'; poke bad.vhd 48 '\x00\x00\x20\x00'; vhd_sum bad.vhd 0 512 64
	refused bad.vhd "the VHD footer claims 351843* bytes, more than the format's 2040 GiB"
	t 16 '\x00\x00\x00\x00\x10\x00\x00\x00' "the VHD dynamic header offset 0x10000000 is outside the file" "0 512 64"
	t 544 '\x00\x00\x00\x03' "unsupported VHD block size 3 (a power of two from 512 bytes to 256 MiB)" "512 1024 36"
	t 540 '\x00\x00\x00\x01' "the VHD block table has 1 entries, 5 are needed for the disk size" "512 1024 36"
	t 540 '\x10\x00\x00\x00' "absurd VHD block table of 268435456 entries" "512 1024 36"
	t 528 '\x00\x00\x00\x00\x10\x00\x00\x00' "the VHD block table at 0x10000000 runs past the end of the file or over the header" "512 1024 36"
	t 528 '\x00\x00\x00\x00\x00\x00\x02\x00' "the VHD block table at 0x200 runs past *" "512 1024 36"
	# fixed: the footer claims more than the file holds
	qemu-img create -q -f vpc -o subformat=fixed f.vhd 5M
	{ head -c 1M f.vhd; tail -c 512 f.vhd; } > bad.vhd
	refused bad.vhd "the VHD footer claims 5257216 bytes, the file holds only 1048576 (truncated image?)" vhd
	# the BAT: a block past the end, over the metadata, over another block
	cp good.vhd bad.vhd; poke bad.vhd 1536 '\x00\x10\x00\x00'
	corrupt_map bad.vhd "BAT entry 0 puts its block at 0x20000000, past the end of the file"
	cp good.vhd bad.vhd; poke bad.vhd 1540 '\x00\x00\x00\x02'
	corrupt_map bad.vhd "BAT entry 1 puts its block at 0x400, over the image's own metadata"
	e0=$(od -An -tu1 -j1536 -N4 good.vhd | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
	cp good.vhd bad.vhd; poke bad.vhd 1544 "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' 0 0 $(( (e0 + 8) >> 8 )) $(( (e0 + 8) & 255 )))"
	corrupt_map bad.vhd "the blocks of BAT entries 0 and 2 overlap"
	run_tool 1 "$VM_DISK" cat bad.vhd
	is "$output" "*bad.vhd: BAT entry 0 is corrupt*"
}

@test "check -r all repairs VDI and VHD block maps: entries past the image or the file, shared blocks; qemu-img reads the result" {
	# VDI: guest blocks 0, 2, 3 hold 5, 6, 7 in host blocks 0, 1, 2
	qemu-img create -q -f vdi good.vdi 4M
	qemu-io -f vdi -c 'write -P 5 0 1M' -c 'write -P 6 2M 64k' -c 'write -P 7 3M 4k' good.vdi > /dev/null
	# entry 2 names host block 0 too: the first guest block keeps it
	cp good.vdi bad.vdi; poke bad.vdi 520 '\x00\x00\x00\x00'
	run_tool 2 qemu-img check bad.vdi
	run_tool 2 "$VM_DISK" check bad.vdi
	run_tool 0 "$VM_DISK" check -r all bad.vdi
	is "$output" "*found and repaired*2 corruptions*No errors were found on the image.*"
	qemu_ok bad.vdi
	qemu_reads vdi bad.vdi
	qemu-io -f vdi -c 'read -P 5 0 1M' -c 'read -P 0 1M 2M' -c 'read -P 7 3M 4k' bad.vdi > /dev/null
	# and it takes writes again, in a block no entry names
	"$BLKWRITE" bad.vdi 1048576:4096:8
	qemu_ok bad.vdi
	qemu-io -f vdi -c 'read -P 5 0 1M' -c 'read -P 8 1M 4k' -c 'read -P 7 3M 4k' bad.vdi > /dev/null
	# entries past the image's blocks and past the end of the file
	cp good.vdi bad.vdi; poke bad.vdi 512 '\x07\x00\x00\x00'
	truncate -s $((1024 + 2 * 1048576)) bad.vdi
	run_tool 2 "$VM_DISK" check bad.vdi
	is "$output" "*block map entry 0 names block 7, past the image's 4 blocks*block map entry 3 names block 2, past the end of the file*"
	run_tool 0 "$VM_DISK" check -r all bad.vdi
	qemu_ok bad.vdi
	qemu_reads vdi bad.vdi
	qemu-io -f vdi -c 'read -P 0 0 2M' -c 'read -P 6 2M 64k' -c 'read -P 0 3M 1M' bad.vdi > /dev/null
	# -r leaks leaves a damaged map alone
	cp good.vdi bad.vdi; poke bad.vdi 520 '\x00\x00\x00\x00'; cp bad.vdi bad.orig
	run_tool 2 "$VM_DISK" check -r leaks bad.vdi
	cmp bad.vdi bad.orig

	# VHD: blocks 0, 1, 2 hold 5, 6, 7; entry 0 goes past the end of
	# the file, entry 2 names entry 1's block
	qemu-img create -q -f vpc good.vhd 8M
	qemu-io -f vpc -c 'write -P 5 0 64k' -c 'write -P 6 2M 64k' -c 'write -P 7 4M 64k' good.vhd > /dev/null
	cp good.vhd bad.vhd
	poke bad.vhd 1536 '\x7f\x00\x00\x00'
	dd if=good.vhd of=bad.vhd bs=1 skip=1540 seek=1544 count=4 conv=notrunc status=none
	run_tool 2 "$VM_DISK" check bad.vhd
	is "$output" "*BAT entry 0 puts its block at 0xfe00000000, past the end of the file*the blocks of BAT entries 1 and 2 overlap*"
	run_tool 0 "$VM_DISK" check -r all bad.vhd
	is "$output" "*found and repaired*2 corruptions*No errors were found on the image.*"
	qemu_reads vpc bad.vhd
	qemu-io -f vpc -c 'read -P 0 0 2M' -c 'read -P 6 2M 64k' -c 'read -P 0 4M 2M' bad.vhd > /dev/null
	"$BLKWRITE" bad.vhd 0:4096:9 4194304:4096:a
	run_tool 0 "$VM_DISK" check bad.vhd
	qemu-io -f vpc -c 'read -P 9 0 4k' -c 'read -P 6 2M 64k' -c 'read -P 10 4M 4k' bad.vhd > /dev/null
	qemu_reads vpc bad.vhd
}

@test "SIGKILL mid-write: the image stays readable and consistent (VDI: at worst a count check -r all corrects)" {
	for seed in 1 2 3; do
		for f in vdi vpc; do
			"$VM_DISK" create -q -f $f k.img 256M
			"$BLKWRITE" k.img rand:1000000:$seed > /dev/null &
			pid=$!
			sleep 0.$((seed * 2))
			kill -9 $pid
			wait $pid || true
			run "$VM_DISK" check k.img
			if [ $f = vdi ] && [ "$status" -eq 2 ]; then
				is "$output" "ERROR: the header counts * allocated blocks, the block map *" "$f seed $seed"
				run_tool 0 "$VM_DISK" check -r all k.img
			fi
			run_tool 0 "$VM_DISK" check k.img
			[ $f = vdi ] && qemu_ok k.img
			run_tool 0 "$BLKWRITE" k.img 0:65536:3 104857600:3145728:4
			qemu-img convert -f $f -O raw k.img k.raw
			cmp k.raw <("$VM_DISK" cat k.img)
			cmp <(head -c 64k k.raw) <(head -c 64k /dev/zero | tr '\0' '\3')
			rm k.raw
		done
	done
}

@test "dbt: a Linux guest reads and writes a dynamic VDI as /dev/vda and a fixed VHD as /dev/vdb" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	qemu-img create -q -f vdi a.vdi 16M
	qemu-io -f vdi -c 'write -P 0x61 3M 64k' a.vdi > /dev/null
	qemu-img create -q -f vpc -o subformat=fixed b.vhd 8M
	qemu-io -f vpc -c 'write -P 0x62 0 13' b.vhd > /dev/null
	run_tool '?' timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" --disk a.vdi --disk b.vhd \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"echo disk=\$(head -c 13 /dev/vdb); \
echo sum=\$(dd if=/dev/vda bs=64k skip=48 count=1 2>/dev/null | md5sum); \
echo from-the-guest | dd of=/dev/vda bs=4096 seek=2560 conv=sync,fsync; \
echo vhd-guest | dd of=/dev/vdb bs=4096 seek=1 conv=sync,fsync\"" </dev/null
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status"
	is "$output" "*disk=bbbbbbbbbbbbb*" "the guest reads the fixed VHD"
	want=$(head -c 65536 /dev/zero | tr '\0' 'a' | md5sum | cut -d' ' -f1)
	is "$output" "*sum=$want*" "a block of the VDI qemu-io wrote"
	qemu_ok a.vdi
	qemu-img convert -f vdi -O raw a.vdi a.raw
	is "$(dd if=a.raw bs=4096 skip=2560 count=1 status=none | head -c 14)" from-the-guest "the guest's VDI write, read by qemu-img"
	qemu-img convert -f vpc -O raw b.vhd b.raw
	is "$(dd if=b.raw bs=4096 skip=1 count=1 status=none | head -c 9)" vhd-guest "the guest's VHD write, read by qemu-img"
	run_tool 0 "$VM_DISK" check b.vhd
}

@test "fuzz: the VDI/VHD libFuzzer harness survives a short run" {
	command -v clang >/dev/null || skip "clang not installed (make deps)"
	make -C "$TOPDIR" --no-print-directory -s fuzz
	fz=$TOPDIR/build/fuzz/vdi-vpc
	# inputs that once broke a driver (a VDI map longer than its disk
	# made resize copy past the new map)
	"$fz" "$TOPDIR"/tests/fuzz/vdi-vpc-regress/*
	mkdir corpus
	# small hand-made images (tests/fuzz/mk-vdi-vpc-seeds.py) and qemu's
	cp "$TOPDIR"/tests/fuzz/vdi-vpc-seeds/* corpus/
	qemu-img create -q -f vdi corpus/vdi 3M
	qemu-img create -q -f vdi -o static=on corpus/vdi-s 1M
	qemu-img create -q -f vpc corpus/vpc 3M
	qemu-io -f vpc -c 'write -P 1 0 8k' corpus/vpc > /dev/null
	qemu-img create -q -f vpc -o subformat=fixed corpus/vpc-f 64k
	run "$fz" -runs=3000 -seed=1 -max_len=32768 corpus
	[ "$status" -eq 0 ] || { echo "$output" | grep -E 'ERROR|SUMMARY|#[0-9]+ ' | head -20 >&3; false; }
}
