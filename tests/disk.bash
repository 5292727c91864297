# Helpers for the 5NN-disk suites: qemu-img and qemu-io are the judges.

BLKWRITE=$VMKIT_BUILD/tests/blkwrite

disk_setup() {
	command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || \
		skip "qemu-img/qemu-io not installed (make deps)"
	cd "$BATS_TEST_TMPDIR"
}

# same_as_qemu IMAGE: vm-disk cat gives exactly qemu-img's raw bytes.
same_as_qemu() {
	qemu-img convert -O raw "$1" "$1.qemu.raw"
	"$VM_DISK" cat "$1" > "$1.vm.raw"
	cmp "$1.qemu.raw" "$1.vm.raw"
}

# qemu_ok IMAGE: qemu-img check finds nothing wrong (leaks included).
qemu_ok() {
	run qemu-img check "$1"
	if [ "$status" -ne 0 ]; then
		echo "# qemu-img check $1: status $status" >&3
		echo "$output" | sed 's/^/# /' >&3
		false
	fi
}

# replay OPS IMAGE: apply blkwrite's OFF:LEN:BYTE lines with qemu-io.
replay() {
	local o l b args=()
	while IFS=: read -r o l b; do
		args+=(-c "write -P 0x$b $o $l")
	done < "$1"
	qemu-io "${args[@]}" "$2" > /dev/null
}

# poke FILE OFFSET HEXBYTES: overwrite bytes in place ("\x00\x01").
poke() {
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# same ACTUAL EXPECTED WHAT: exact string equality (is() globs, and JSON
# is full of brackets).
same() {
	[ "$1" == "$2" ] && return 0
	echo "# $3:" >&3
	echo "#   expected: $2" >&3
	echo "#   actual:   $1" >&3
	false
}

# bits MAP-JSON: the extents with zero made false where data is true
# (qemu-img map then reports whether the host file has a hole there)
bits() {
	jq -c '[.[] | if .data then .zero = false else . end]'
}

# merged MAP-JSON: map extents as [start, length, data, zero, depth],
# neighbours of one kind joined (qemu-img splits some at cluster edges)
merged() {
	jq -c 'reduce (.[] | [.start, .length, .data, .zero, .depth]) as $e ([];
		if length > 0 and (.[-1][2:] == $e[2:]) and (.[-1][0] + .[-1][1] == $e[0])
		then .[-1][1] += $e[1] else . + [$e] end)'
}
