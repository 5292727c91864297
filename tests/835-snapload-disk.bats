#!/usr/bin/env bats
# snapshot-load into a running VM takes its qcow2 disks back too: the
# guest's writes made after the save are gone, and the guest reads back
# what its disk held when the snapshot was taken.  The guest reads sector
# 0 of its disk each second (direct I/O: from the disk, not its page
# cache), prints the count and what it read, then writes "w<count>"
# there; so every line it prints reads the previous count's mark, before
# the load and after it, only if the load dropped the later writes.  On
# the DBT.

load helpers
load disk
load snap

COUNTER='i=0; while :; do d=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9); echo count=$i disk=$d; echo w$i | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null; i=$((i+1)); sleep 1; done'

setup_file() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

setup() {
	guestkit
	cd "$BATS_TEST_TMPDIR"
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
}

teardown() {
	kill $PID 2>/dev/null || true
	wait $PID 2>/dev/null || true
}

# lines_of FILE: "count disk" pairs of what the guest printed
lines_of() {
	tr -d '\r' <"$1" | sed -n 's/^count=\([0-9]*\) disk=\([a-z0-9]*\)$/\1 \2/p'
}

@test "snapshot-load: the qcow2 disk's writes after the save are gone, the guest reads what it held at the save" {
	local at first n
	qemu-img create -q -f qcow2 d.qcow2 16M
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name diskvm \
		--disk "$BATS_TEST_TMPDIR/d.qcow2" \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$COUNTER\"" \
		</dev/null >run.out 2>run.err &
	PID=$!
	wait_for run.out 'count=3 ' 300
	run_tool 0 "$VM_SNAP" save diskvm t1
	at=$(last_count run.out)
	# the guest writes on: marks of counts well past the save
	wait_for run.out "count=$((at + 4)) " 300
	run_tool 0 "$VM_SNAP" restore diskvm t1
	n=$(last_count run.out)
	wait_for run.out "count=$((n + 1)) " 300
	lines_of run.out >pairs
	# the count went back to just after the save's
	first=$(awk 'NR > 1 && $1 < p { print $1; exit } { p = $1 }' pairs)
	[ -n "$first" ] || { echo "# no drop in the count after the load: $(tr '\n' ' ' <pairs)" >&3; false; }
	[ "$first" -gt "$at" ] && [ "$first" -le $((at + 2)) ] || { echo "# first count after the load $first, saved at $at" >&3; false; }
	# every read, before and after the load, found the mark of the count
	# before it: after the load that is the mark of the save's time, not
	# the later ones (count 0 found the new disk's zeros)
	run awk 'NR == 1 { if ($0 != "0 ") { print "# " $0; exit 1 } next }
		$2 != "w" ($1 - 1) { print "# count " $1 " read " $2; exit 1 }' pairs
	[ "$status" -eq 0 ] || { echo "$output" >&3; echo "# $(tr '\n' ' ' <pairs)" >&3; false; }
	# the disk keeps its snapshot and is clean for qemu-img
	teardown
	run qemu-img snapshot -l d.qcow2
	is "$output" "*t1 *" "the disk's internal snapshot"
	qemu_ok d.qcow2
}
