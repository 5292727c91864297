#!/usr/bin/env bats
# Hostile and awkward kernel files for vm-run's Linux loader: a damaged
# bzImage payload, a vmlinux whose segments cannot be placed, and which
# decompression path the configuration picks.  Nothing here boots: every
# case fails (or is checked) while loading, in about a second, with the
# guest kit's real kernel as the starting point.

load helpers

setup_file() {
	guestkit || return 0
	extract_vmlinux "$KERNEL" "$BATS_FILE_TMPDIR/vmlinux"
}

setup() {
	guestkit
	VMLINUX=$BATS_FILE_TMPDIR/vmlinux
	[ -s "$VMLINUX" ] || skip "no vmlinux could be extracted from $KERNEL"
	cd "$BATS_TEST_TMPDIR"
}

# run_load STATUS ARGS...: vm-run on the DBT, loading only (-m 256M).
run_load() {
	local st=$1; shift
	run_tool "$st" timeout 60 "$VM_RUN" --accel dbt --no-reboot \
		--console none -m 256M "$@" </dev/null
}

# poke FILE OFFSET HEX-BYTES: overwrite bytes in place.
poke() {
	printf "$(sed 's/../\\x&/g' <<<"$3")" |
		dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none
}

payload_start() {
	local ss po
	ss=$(( ($(od -An -tu1 -j $((0x1f1)) -N1 "$1") + 1) * 512 ))
	po=$(od -An -tu4 -j $((0x248)) -N4 "$1")
	echo $((ss + po))
}

@test "a truncated bzImage or payload is refused, naming the file" {
	head -c $(( $(stat -c %s "$KERNEL") - 100000 )) "$KERNEL" > cut
	run_load 1 --kernel cut
	is "$output" "vm-run: cut: truncated*" "message"
	# The file intact, payload_length halved: the stream ends early and
	# its size trailer is read from the middle of the data.
	cp "$KERNEL" half && chmod u+w half
	local pl
	pl=$(od -An -tu4 -j $((0x24c)) -N4 half)
	poke half 0x24c "$(printf '%08x' $((pl / 2)) | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')"
	run_load 1 --kernel half
	is "$output" "vm-run: half: *payload*" "message"
}

@test "payload_offset beyond the file is refused" {
	cp "$KERNEL" k && chmod u+w k
	poke k 0x248 00000080                   # 2 GiB
	run_load 1 --kernel k
	is "$output" "vm-run: k: truncated: the payload (offset 2147483648*runs past the end*" "message"
	# ... and so is a length that runs past it.
	cp "$KERNEL" k2 && chmod u+w k2
	poke k2 0x24c ffffff00
	run_load 1 --kernel k2
	is "$output" "vm-run: k2: truncated: the payload*runs past the end*" "message"
}

@test "a corrupt compressed payload is refused, naming the format" {
	cp "$KERNEL" k && chmod u+w k
	poke k $(( $(payload_start k) + 3000000 )) 00112233445566778899
	run_load 1 --kernel k
	is "$output" "vm-run: k: corrupt * payload*" "message"
}

@test "a payload declaring more than init_size is refused before any allocation" {
	cp "$KERNEL" k && chmod u+w k
	poke k 0x260 00001000                   # init_size 1 MiB
	run_load 1 --kernel k
	# (The loader never takes init_size below the file's own kernel size.)
	is "$output" "vm-run: k: the * payload declares * bytes of kernel; the limit is * (init_size)" "message"
}

@test "a vmlinux with a segment beyond RAM is refused" {
	run_load 1 -m 32M --kernel "$VMLINUX"
	is "$output" "vm-run: $VMLINUX: ELF segment at 0x* is not in usable RAM between 1 MiB and 4 GiB*" "message"
}

@test "a vmlinux with a segment over the loader's boot structures is refused" {
	cp "$VMLINUX" v && chmod u+w v
	# The first program header's p_paddr (ELF64: phoff 64, p_paddr at
	# +24) moved to address 0, over the GDT, boot_params and page tables.
	poke v $((64 + 24)) 0000000000000000
	run_load 1 --kernel v
	is "$output" "vm-run: v: ELF segment at 0x0 * is not in usable RAM between 1 MiB and 4 GiB*" "message"
	# A damaged program header table.
	cp "$VMLINUX" v2 && chmod u+w v2
	poke v2 32 ffffffff00000000             # e_phoff past the end
	run_load 1 --kernel v2
	is "$output" "vm-run: v2: bad ELF program header table" "message"
}

@test "a vmlinux that leaves no room for the initrd above it is refused" {
	local end=0 t off va pa fs ms rest mib
	# The end of the highest segment, from binutils' readelf.
	while read -r t off va pa fs ms rest; do
		[ "$t" = LOAD ] && [ $((pa + ms)) -gt $end ] && end=$((pa + ms))
	done < <(readelf -lW "$VMLINUX")
	[ "$end" -gt 0 ]
	mib=$(( (end >> 20) + 1 ))
	run_load 1 -m "${mib}M" --kernel "$VMLINUX" --initrd "$INITRD"
	is "$output" "vm-run: $INITRD: the initrd (* MiB) does not fit in RAM between the kernel*" "message"
}

@test "--kernel-decompress and boot.decompress pick the path; -v says which" {
	# An initrd too large for the RAM above the kernel stops vm-run right
	# after the kernel is placed, so nothing boots.
	head -c 200M /dev/zero > big.img
	run_load 1 -v --kernel "$KERNEL" --initrd big.img
	is "$output" "*does not fit*" "refused"
	[[ $output != *"host decompression is off"* ]]
	run_load 1 -v --kernel-decompress guest --kernel "$KERNEL" --initrd big.img
	is "$output" "*host decompression is off (--kernel-decompress guest)*" "flag"
	printf 'boot:\n  kernel: %s\n  initrd: big.img\n  decompress: guest\n' "$KERNEL" > vm.yaml
	run_load 1 -v vm.yaml
	is "$output" "*host decompression is off*" "vm.yaml"
	# The flag wins over the file.
	run_load 1 -v --kernel-decompress host vm.yaml
	[[ $output != *"host decompression is off"* ]]
}
