#!/usr/bin/env bats
# vm-snap send --live | vm-snap receive: a running guest-kit guest, its
# shell counting on the serial console and writing its qcow2 disk, is
# sent live (RAM pre-copied through the dirty log while it runs, paused
# for the last pages and its state) into a new folder; the source stops,
# and the copy, restored, counts on from where the source stopped: no
# count twice, none missing.  On the DBT.

load helpers
load disk
load snap

GUEST_CMD='i=0; while :; do echo count=$i; echo w$i | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null; i=$((i+1)); sleep 0.2; done'

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	cd "$BATS_TEST_TMPDIR"
	mkdir web
	qemu-img create -q -f qcow2 web/d.qcow2 16M
	printf 'memory: 256M\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: d.qcow2\n' \
		"$KERNEL" "$INITRD" >web/vm.yaml
}

teardown() {
	for p in ${PID1:-} ${PID2:-}; do kill $p 2>/dev/null; wait $p 2>/dev/null; done || true
}

@test "send --live | receive: the source stops, the copy counts on with no count repeated or missing" {
	local last first
	"$VM_RUN" --accel dbt --no-reboot web \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$GUEST_CMD\"" \
		</dev/null >run1.out 2>run1.err &
	PID1=$!
	wait_for run1.out 'count=5$' 300 $PID1
	run_tool 0 bash -c "'$VM_SNAP' send --live web s1 2>send.err | '$VM_SNAP' receive '$PWD/web2'"
	is "$output" "$PWD/web2" "the bundle made"
	run cat send.err
	is "$output" "*: sent live: * pages, * rounds after the first, paused * ms for the last (from *); disks: * bytes before the pause, * in it" "what the send says"
	# the source ends: stopped once its copy was out
	wait $PID1 || true
	PID1=
	last=$(last_count run1.out)
	[ -f web2/vm.yaml ] && [ -f web2/d.qcow2 ] && [ -f web2/snapshots/s1.snap ]
	qemu_ok web2/d.qcow2
	run_tool 0 "$VM_SNAP" list web2
	is "${lines[1]}" "s1 *20[0-9][0-9]-* mapped *-" "listed in the copy, RAM mapped"
	# nothing of the send stays with the source
	run ls -a web/snapshots
	[ -z "$(ls web/snapshots)" ] || { echo "# left: $(ls -a web/snapshots)" >&3; false; }
	"$VM_SNAP" restore web2 s1 </dev/null >run2.out 2>run2.err &
	PID2=$!
	wait_for run2.out "count=$((last + 3))\$" 300 $PID2 || { cat run2.err >&3; false; }
	first=$(counts run2.out | head -n 1)
	# the source printed up to last; the copy goes on with the next one
	# (the line the source was writing when it paused may come again
	# whole, never a count skipped or one before it)
	[ "$first" -eq $((last + 1)) ] || [ "$first" -eq "$last" ] || { echo "# the source ended at $last, the copy began at $first" >&3; false; }
	counts run2.out | consecutive
	{ counts run1.out; counts run2.out | tail -n +$((first == last ? 2 : 1)); } | consecutive
}

@test "send --live of a guest writing its disk all along: the copy's disk has every write, and the pause sends only what was written since the disks went" {
	local line before paused
	# 96 MiB of data on the disk before, for the send to take a while
	qemu-img resize -q web/d.qcow2 256M
	qemu-io -f qcow2 -c 'write -q -P 0x5a 0 96M' web/d.qcow2 >/dev/null
	# blocks of 4 KiB from 128 MiB on, one after the other, each its own
	# random bytes, as fast as the guest goes
	local cmd='i=0; while :; do dd if=/dev/urandom of=/dev/vda bs=4096 seek=$((32768 + i)) count=1 oflag=direct 2>/dev/null; [ $((i % 16)) = 0 ] && echo count=$i; i=$((i+1)); done'
	"$VM_RUN" --accel dbt --no-reboot web \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$cmd\"" \
		</dev/null >run1.out 2>run1.err &
	PID1=$!
	wait_for run1.out 'count=32$' 300 $PID1
	run_tool 0 bash -c "'$VM_SNAP' send --live web s1 2>send.err | '$VM_SNAP' receive '$PWD/web2'"
	wait $PID1 || true
	PID1=
	line=$(cat send.err)
	before=$(sed -n 's/.*disks: \([0-9]*\) bytes before the pause.*/\1/p' <<<"$line")
	paused=$(sed -n 's/.*before the pause, \([0-9]*\) in it.*/\1/p' <<<"$line")
	# the 96 MiB went with the guest running; the pause took the blocks
	# written meanwhile and the internal snapshot's metadata, far less
	[ "$before" -ge $((96 << 20)) ] || { echo "# $line" >&3; false; }
	[ "$paused" -lt $((before / 8)) ] || { echo "# $line" >&3; false; }
	# the guest wrote during the send: counts on after the one it was at
	[ "$(last_count run1.out)" -gt 32 ]
	# the copy holds what the source's disk holds, every write of it
	qemu_ok web2/d.qcow2
	run qemu-img compare web/d.qcow2 web2/d.qcow2
	[ "$status" -eq 0 ] || { echo "# $output" >&3; false; }
	is "$output" "Images are identical." "qemu-img compare"
	run qemu-img snapshot -l web2/d.qcow2
	[[ "$output" == *s1* ]] || { echo "# $output" >&3; false; }
}

@test "send --live into a reader that goes away: refused with the reason, the source runs on with nothing of the send left" {
	local at
	"$VM_RUN" --accel dbt --no-reboot web \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$GUEST_CMD\"" \
		</dev/null >run1.out 2>run1.err &
	PID1=$!
	wait_for run1.out 'count=3$' 300 $PID1
	# the reader takes 1 MiB of the stream and leaves
	run bash -c "'$VM_SNAP' send --live web s1 | head -c 1048576 >/dev/null; exit \${PIPESTATUS[0]}"
	[ "$status" -eq 1 ] || { echo "# status $status: $output" >&3; false; }
	is "$output" "*web: the live send failed, the VM runs on: *" "the sender's message"
	at=$(last_count run1.out)
	wait_for run1.out "count=$((at + 3))\$" 300 $PID1
	[ -z "$(ls -A web/snapshots 2>/dev/null)" ] || { echo "# left: $(ls -A web/snapshots)" >&3; false; }
	run qemu-img snapshot -l web/d.qcow2
	[[ "$output" != *s1* ]] || { echo "# $output" >&3; false; }
}

@test "send --live whose vm-run goes away: the sender says so and fails" {
	"$VM_RUN" --accel dbt --no-reboot web \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$GUEST_CMD\"" \
		</dev/null >run1.out 2>run1.err &
	PID1=$!
	wait_for run1.out 'count=3$' 300 $PID1
	# a reader that takes nothing: the stream's pipe fills, the send
	# stands until vm-run is killed
	mkfifo stream
	sleep 600 <stream &
	PID2=$!
	"$VM_SNAP" send --live web s1 >stream 2>send.err &
	local sp=$!
	n=0
	until "$VM_RUN" --cmd web migrate-status --json 2>/dev/null | grep -q '"state":"active"' || [ $n -ge 300 ]; do
		sleep 0.2; n=$((n + 1))
	done
	kill -KILL $PID1
	wait $PID1 || true
	PID1=
	run wait $sp
	[ "$status" -eq 1 ] || { echo "# status $status: $(cat send.err)" >&3; false; }
	run cat send.err
	is "$output" "*web: the live send failed: the VM's vm-run went away during the send (its control socket: *); the stream on stdout is incomplete, and the VM is not running*" "the sender's message"
}

@test "send --live: a stopped bundle and a VM under KVM (no dirty log) are refused" {
	run_tool 1 "$VM_SNAP" send --live web s1 </dev/null
	is "$output" "*web: not running: --live sends a running VM*" "a stopped bundle"
	usable_accels | grep -qx kvm || skip "KVM is not usable here"
	mkdir kv
	printf 'memory: 16M\nboot:\n  kernel: %s\n' "$GUESTS/ticks.elf" >kv/vm.yaml
	"$VM_RUN" --accel kvm --no-reboot kv </dev/null >kv.out 2>kv.err &
	PID1=$!
	wait_for kv.out '^tick' 60 $PID1
	run bash -c "'$VM_SNAP' send --live kv s1 | cat >/dev/null"
	is "$output" "*kvm: the back end keeps no dirty log: no live send (use --accel dbt)*" "KVM"
	# it runs on
	kill -0 $PID1
}
