#!/usr/bin/env bats
# snapshot-load into a running VM (the control socket; vm-snap restore of a
# running VM uses it).  The counting guest of 810: a file refused by the
# load leaves the VM as it was, so its count goes on by one with no gap
# and no repeat; a good file loaded into it continues from the snapshot's
# count.  Damage that keeps every CRC right (the CRCs are recomputed) is
# refused by the semantic checks, naming the section.  On the DBT.

load helpers
load disk
load snap

PLAIN_COUNTER='i=0; while :; do echo count=$i; i=$((i+1)); sleep 1; done'

setup_file() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

setup() {
	guestkit
	cd "$BATS_TEST_TMPDIR"
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	# an e1000 (net0), the VGA (--screendump) and a qcow2 disk beside
	# the board's devices, so that their sections are in the snapshot
	qemu-img create -q -f qcow2 "$BATS_TEST_TMPDIR/d.qcow2" 16M
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name loadvm \
		--disk "$BATS_TEST_TMPDIR/d.qcow2" \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--net nat,model=e1000 --screendump "$BATS_TEST_TMPDIR/run.png" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$PLAIN_COUNTER\"" \
		</dev/null >run.out 2>run.err &
	PID=$!
	wait_for run.out 'count=3' 300
	run_tool 0 "$VM_SNAP" save loadvm t1
	SNAP=$output
	AT=$(last_count run.out)
	wait_for run.out "count=$((AT + 3))" 300
}

teardown() {
	kill $PID 2>/dev/null || true
	wait $PID 2>/dev/null || true
}

# refused NAME MESSAGE-PATTERN: vm-snap restore loadvm NAME fails with the
# message, and the VM goes on counting by one, no gap, no repeat
refused() {
	local n
	run_tool 1 "$VM_SNAP" restore loadvm "$1"
	is "$output" "$2" "the message"
	n=$(last_count run.out)
	wait_for run.out "count=$((n + 2))" 300
	run bash -c "$(declare -f counts consecutive); counts run.out | consecutive"
	is "$status" 0 "the count went on by one across the refused load: $output"
	kill -0 $PID
}

@test "snapshot-load: a corrupt file is refused, the VM goes on; a good one continues from its count" {
	local off b size first n
	cp "$SNAP" "$XDG_STATE_HOME/vmkit/loadvm/bad.snap"
	size=$(stat -c %s "$SNAP")
	off=$((size / 2))
	b=$(od -An -tu1 -j $off -N1 "$SNAP" | tr -d ' ')
	printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of="$XDG_STATE_HOME/vmkit/loadvm/bad.snap" bs=1 seek=$off conv=notrunc status=none
	refused bad "*bad.snap: corrupt snapshot: section 'ram' (instance 0) fails its CRC32 check*"
	# the good one, through vm-snap restore of the running VM
	run_tool 0 "$VM_SNAP" restore loadvm t1
	is "$output" "" "restore's messages"
	wait_for run.out "count=$((AT + 4))" 300
	n=$(last_count run.out)
	wait_for run.out "count=$((n + 1))" 300
	# after the load the count drops back to just after the save's (the
	# refused load before made no drop: checked above)
	first=$(counts run.out | awk 'NR > 1 && $1 < p { print; exit } { p = $1 }')
	[ -n "$first" ] || { echo "# no drop in the count after the load: $(counts run.out | tr '\n' ' ')" >&3; false; }
	[ "$first" -gt "$AT" ] && [ "$first" -le $((AT + 2)) ] || { echo "# first count after the load $first, saved at $AT" >&3; false; }
	run bash -c "$(declare -f counts consecutive); counts run.out | awk -v f=$first 'go || (NR > 1 && \$1 < p) { go = 1; print } { p = \$1 }' | consecutive"
	is "$status" 0 "consecutive counts after the load: $output"
	# the socket answers, the VM runs, and a snapshot saved now has t1 as parent
	run_tool 0 "$VM_SNAP" save loadvm t2
	rm "$XDG_STATE_HOME/vmkit/loadvm/bad.snap"
	# the disk went back to t1's internal snapshot in the running VM:
	# qemu-img (-U: the running vm-run holds the image's locks, as QEMU
	# would) finds it clean and keeps both snapshots
	run qemu-img snapshot -U -l d.qcow2
	is "$output" "*t1 *t2 *" "the disk's internal snapshots"
	teardown
	qemu_ok d.qcow2
	run_tool 0 "$VM_SNAP" list loadvm --json
	is "$output" '*"tag": "t2"*"parent": "t1"*' "t2's parent"
}

# edit NAME EDIT...: the snapshot t1 edited into NAME.snap beside it, every
# CRC made right again (tests/snapedit.py)
edit() {
	local name=$1
	shift
	python3 "$TOPDIR/tests/snapedit.py" "$SNAP" "$XDG_STATE_HOME/vmkit/loadvm/$name.snap" "$@"
}

@test "snapshot-load: damage the CRCs cannot see is refused naming the section, the VM goes on" {
	local at vga vq pe
	# an e1000 transmit packet claiming 4 GiB
	at=$(python3 "$TOPDIR/tests/snapedit.py" "$SNAP" - find-blob-end,dev:net0,16)
	edit tx4g u32,dev:net0,$at,0xffffffff
	refused tx4g "*section 'dev:net0': field 'tx': 4294967295 bytes, at most * fit*"
	# a VBE mode of 65535x65535 at 32 bpp, enabled
	pe=$(python3 "$TOPDIR/tests/snapedit.py" "$SNAP" - pci-end,dev:vga)
	vga=$((pe + 875))
	edit vbe u16,dev:vga,$((vga + 2)),65535 u16,dev:vga,$((vga + 4)),65535 \
		u16,dev:vga,$((vga + 6)),32 u16,dev:vga,$((vga + 8)),0x41
	refused vbe "*section 'dev:vga': field 'dispi': the VBE mode is not one the card takes*"
	# virtio-rng's queue 0 having taken more buffers than its ring holds
	pe=$(python3 "$TOPDIR/tests/snapedit.py" "$SNAP" - pci-end,dev:rng0)
	vq=$((pe + 27))
	edit vqidx u16,dev:rng0,$((vq + 30)),60000 u16,dev:rng0,$((vq + 32)),0
	refused vqidx "*section 'dev:rng0': field 'vq0.used_idx': more buffers in flight than the ring holds*"
	# a RAM region 64 MiB larger than the VM's
	edit bigram grow-ram,0x4000000
	refused bigram "*section 'ram-map': region * is 0x*, this VM's * is 0x* (a different memory size)*"
	# two vCPUs where the VM has one
	edit cpus2 u32,vm,8,2
	refused cpus2 "*section 'vm': the snapshot is of a VM with 256 MiB and 2 vCPUs, this one has 256 MiB and 1*"
	# and the VM still loads the good one
	run_tool 0 "$VM_SNAP" restore loadvm t1
}
