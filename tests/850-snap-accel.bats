#!/usr/bin/env bats
# Snapshots across the CPU back ends: the multiboot test guest count.elf
# (it runs under KVM-PVM too, where the guest kit's Linux does not boot in
# test time) prints count=0, 1, ... on its serial line; it is paused
# through the control socket, the console so far kept, saved, stopped;
# vm-run --restore on a back end continues it.  The console before the
# save followed by the restored run's must count up from 0 with no repeat
# and no gap.  DBT to DBT, KVM to DBT, DBT to KVM and KVM to KVM, each
# where its back ends are usable (the skip says why not).  KVM's in-kernel
# PICs, IOAPIC, LAPICs and PIT travel in the DBT devices' sections.

load helpers
load snap

setup() {
	VMDIR=$XDG_RUNTIME_DIR/vmkit/vm
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	local f
	for f in "$VMDIR"/*/pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	return 0
}

usable() { "$VM_RUN" --accel help | grep -q "^$1: usable"; }

# save_on ACCEL NAME: count.elf detached on ACCEL, paused after count=5,
# the console so far in NAME.before, saved to NAME.snap, stopped.  Fails
# with snapshot-save's reply in $output if it was refused.
save_on() {
	local accel=$1 name=$2 pid
	run_tool 0 timeout 60 "$VM_RUN" --accel "$accel" -m 64M --name "$name" \
		--detach --serial-log "$name.serial" --kernel "$GUESTS/count.elf"
	pid=$(cat "$VMDIR/$name/pid")
	wait_for "$name.serial" '^count=5$' 120 "$pid"
	run_tool '?' "$VM_RUN" --cmd "$name" pause --json
	is "$output" '{"ok":true,"state":"paused"}' "$accel: pause"
	cp "$name.serial" "$name.before"
	run_tool '?' "$VM_RUN" --cmd "$name" snapshot-save \
		file="$PWD/$name.snap" tag=t --json
	local reply=$output
	run_tool '?' "$VM_RUN" --cmd "$name" stop --json
	n=600
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.2; n=$((n - 1)); done
	output=$reply
	[[ $reply == '{"ok":true,'* ]]
}

# restore_on ACCEL NAME: NAME.snap restored on ACCEL until 5 counts more
# than the console had at the save, that console in NAME.after.  Returns
# 1 with vm-run's messages in $output if it did not get there.
restore_on() {
	local accel=$1 name=$2 pid at
	at=$(last_count "$name.before")
	"$VM_RUN" --accel "$accel" --restore "$name.snap" </dev/null \
		>"$name.after" 2>"$name.err" &
	pid=$!
	if ! wait_for "$name.after" "^count=$((at + 5))\$" 120 "$pid"; then
		kill $pid 2>/dev/null; wait $pid
		output=$(cat "$name.err")
		return 1
	fi
	kill $pid; wait $pid || true
}

# goes_on NAME: the counts before the save and after the restore, joined
# at the byte the console stood at (a line may be cut there), are 0, 1, ...
goes_on() {
	local name=$1
	run cat "$name.err"
	is "$output" "" "$name: the restore's messages"
	cat "$name.before" "$name.after" | tr -d '\r' | grep -v '^vm-run' >joined
	is "$(sed -n 's/^count=\([0-9]*\)$/\1/p' joined | head -n 1)" 0 "$name: the first count"
	sed -n 's/^count=\([0-9]*\)$/\1/p' joined | consecutive
	[ "$(last_count joined)" -ge $(($(last_count "$name.before") + 5)) ]
}

@test "count.elf saved on the DBT goes on restored on the DBT" {
	usable dbt || skip "the DBT is not usable here"
	save_on dbt dd
	restore_on dbt dd
	goes_on dd
}

@test "count.elf saved on KVM goes on restored on the DBT" {
	usable kvm || skip "KVM is not usable here"
	usable dbt || skip "the DBT is not usable here"
	save_on kvm kd
	restore_on dbt kd
	goes_on kd
}

@test "count.elf saved on the DBT goes on restored on KVM" {
	usable kvm || skip "KVM is not usable here"
	usable dbt || skip "the DBT is not usable here"
	save_on dbt dk
	restore_on kvm dk
	goes_on dk
}

@test "count.elf saved on KVM goes on restored on KVM" {
	usable kvm || skip "KVM is not usable here"
	save_on kvm kk
	restore_on kvm kk
	goes_on kk
	# the snapshot has the DBT devices' sections for the in-kernel ones
	grep -qa 'intc' kk.snap
	grep -qa 'dev:pit' kk.snap
}
