#!/usr/bin/env bats
# vm-snap send | vm-snap receive: a bundle and one snapshot through a pipe
# into a new folder, which vm-snap restore continues.  The guest-kit guest
# writes a file in its RAM and a mark on its qcow2 disk, is saved, writes
# on; the copy restored from the stream prints the file and reads the mark
# of the save's time, its shell counting on from the save.  Bad streams
# are refused with a clear message and leave no folder.  On the DBT.

load helpers
load disk
load snap

GUEST_CMD='echo kept-$((6*7)) >/root/note; i=0; while :; do d=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9); echo count=$i note=$(cat /root/note) disk=$d; echo w$i | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null; i=$((i+1)); sleep 1; done'

setup_file() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	D=$BATS_FILE_TMPDIR
	export XDG_STATE_HOME=$D/state
	mkdir "$D/web"
	qemu-img create -q -f qcow2 "$D/web/d.qcow2" 16M
	printf 'memory: 256M\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: d.qcow2\n' \
		"$KERNEL" "$INITRD" >"$D/web/vm.yaml"
	"$VM_RUN" --accel dbt --no-reboot "$D/web" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$GUEST_CMD\"" \
		</dev/null >"$D/run1.out" 2>"$D/run1.err" &
	local pid=$!
	wait_for "$D/run1.out" 'count=3 ' 300 $pid
	"$VM_SNAP" save "$D/web" s1 >"$D/save.out"
	last_count "$D/run1.out" >"$D/at"
	wait_for "$D/run1.out" "count=$(($(cat "$D/at") + 3)) " 300 $pid
	kill $pid
	wait $pid || true
}

setup() {
	guestkit
	D=$BATS_FILE_TMPDIR
	export XDG_STATE_HOME=$D/state
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	[ -z "${PID:-}" ] || { kill $PID 2>/dev/null; wait $PID 2>/dev/null; } || true
}

# no_leftovers DIR: no DIR and no half-made .DIR.recv-* beside it
no_leftovers() {
	[ ! -e "$1" ] || { echo "# $1 was made" >&3; false; }
	! ls -a "$(dirname "$1")" | grep -q "^\.$(basename "$1")\.recv-" || { echo "# a half-made folder was left: $(ls -a "$(dirname "$1")")" >&3; false; }
}

@test "send | receive: the copy restores where the VM was saved, its file and its disk's mark there, the shell counting on" {
	local at first
	at=$(cat "$D/at")
	run_tool 0 bash -c "'$VM_SNAP' send '$D/web' s1 | '$VM_SNAP' receive '$PWD/web2'"
	is "$output" "$PWD/web2" "the bundle made"
	[ -f web2/vm.yaml ] && [ -f web2/d.qcow2 ] && [ -f web2/snapshots/s1.snap ]
	cmp "$D/web/vm.yaml" web2/vm.yaml
	run qemu-img snapshot -l web2/d.qcow2
	is "$output" "*s1 *" "the copy's disk holds the internal snapshot"
	qemu_ok web2/d.qcow2
	run_tool 0 "$VM_SNAP" list web2
	is "${lines[1]}" "s1 *20[0-9][0-9]-* zstd *-" "listed in the copy"
	# the original is gone: the copy runs on its own files
	mv "$D/web" "$D/web.away"
	"$VM_SNAP" restore web2 s1 </dev/null >run2.out 2>run2.err &
	PID=$!
	wait_for run2.out 'count=' 300 $PID || { echo "# $(cat run2.err)" >&3; mv "$D/web.away" "$D/web"; false; }
	first=$(last_count run2.out)
	wait_for run2.out "count=$((first + 2)) " 300 $PID || { mv "$D/web.away" "$D/web"; false; }
	teardown
	PID=
	mv "$D/web.away" "$D/web"
	[ "$first" -gt "$at" ] && [ "$first" -le $((at + 2)) ] || { echo "# first count in the copy $first, saved at $at" >&3; false; }
	# the guest's file, and the mark of the count before, each time
	run awk '/^count=/ { sub("\r", ""); n = substr($1, 7); if ($2 != "note=kept-42" || $3 != "disk=w" (n - 1)) { print "# " $0; exit 1 } }' run2.out
	[ "$status" -eq 0 ] || { echo "$output" >&3; cat run2.out >&3; false; }
	qemu_ok web2/d.qcow2
}

@test "receive: a truncated or corrupt stream is refused naming the problem, nothing made" {
	local size
	"$VM_SNAP" send "$D/web" s1 >s.stream
	size=$(stat -c %s s.stream)
	head -c $((size / 2)) s.stream >half.stream
	run_tool 1 "$VM_SNAP" receive "$PWD/h" <half.stream
	is "$output" "*stdin: truncated send stream: it ends inside record '*' (instance *)*nothing made*" "a truncated stream"
	no_leftovers "$PWD/h"
	head -c $((size - 10)) s.stream >end.stream
	run_tool 1 "$VM_SNAP" receive "$PWD/e" <end.stream
	is "$output" "*stdin: truncated send stream*" "a stream cut in its end record"
	no_leftovers "$PWD/e"
	cp s.stream flip.stream
	# the byte there, inverted (a byte already 0xff would not change)
	local b
	b=$(od -An -tu1 -j $((size / 3)) -N1 s.stream | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 255)))" | dd of=flip.stream bs=1 seek=$((size / 3)) conv=notrunc status=none
	! cmp -s s.stream flip.stream || { echo "# flip.stream unchanged" >&3; false; }
	run_tool 1 "$VM_SNAP" receive "$PWD/f" <flip.stream
	is "$output" "*stdin: corrupt send stream: *" "a flipped byte"
	no_leftovers "$PWD/f"
	run_tool 1 "$VM_SNAP" receive "$PWD/n" <"$D/web/vm.yaml"
	is "$output" "*stdin: not a vmkit send stream (bad magic)*" "another file"
	no_leftovers "$PWD/n"
	run_tool 1 "$VM_SNAP" receive "$PWD/z" </dev/null
	is "$output" "*stdin: empty*" "nothing"
	mkdir taken
	run_tool 1 "$VM_SNAP" receive "$PWD/taken" <s.stream
	is "$output" "*taken: exists*" "a folder that is there"
	[ -z "$(ls -A taken)" ]
	# the whole stream still makes a bundle
	run_tool 0 "$VM_SNAP" receive "$PWD/ok" <s.stream
	qemu_ok ok/d.qcow2
}

@test "send: a running VM, a missing tag and two disks of one file name are refused" {
	run_tool 1 "$VM_SNAP" send "$D/web" nosuch
	is "$output" "*no snapshot 'nosuch'*" "a missing tag"
	mkdir out other
	qemu-img create -q -f qcow2 other/d.qcow2 1M
	qemu-img create -q -f qcow2 out/d.qcow2 1M
	printf 'memory: 256M\ndisks:\n  - file: d.qcow2\n  - file: %s/other/d.qcow2\n' "$PWD" >out/vm.yaml
	run_tool 0 "$VM_SNAP" save out s0
	run_tool 1 "$VM_SNAP" send out s0
	is "$output" "*disks */out/d.qcow2 and */other/d.qcow2 have one file name: the copy holds its disks in one folder (rename one)" "two disks named alike"
	# a copy of the bundle, running: its disks change, so no send
	cp -r "$D/web" run
	"$VM_RUN" --accel dbt --no-reboot run \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$GUEST_CMD\"" \
		</dev/null >run.out 2>run.err &
	PID=$!
	wait_for run.out 'count=1 ' 300 $PID
	run_tool 1 "$VM_SNAP" send run s1
	is "$output" "*run: the VM is running: stop it before a send*" "a running VM"
}

@test "send | receive: a disk outside the bundle goes into the copy, its vm.yaml and snapshot name the copy's file" {
	mkdir out other
	qemu-img create -q -f qcow2 out/d.qcow2 4M
	qemu-img create -q -f qcow2 other/e.qcow2 4M
	qemu-io -c "write -P 0x11 0 64k" other/e.qcow2 >/dev/null
	printf 'memory: 64M\ndisks:\n  - file: d.qcow2\n  - file: %s/other/e.qcow2\n' "$PWD" >out/vm.yaml
	run_tool 0 "$VM_SNAP" save out s0
	run_tool 0 bash -c "'$VM_SNAP' send out s0 | '$VM_SNAP' receive '$PWD/copy'"
	is "$output" "$PWD/copy" "the bundle made"
	[ -f copy/e.qcow2 ] && qemu_ok copy/e.qcow2
	run grep -c 'file: e.qcow2$' copy/vm.yaml
	is "$output" 1 "the copy's vm.yaml names its own file"
	! grep -q "other\|^name:" copy/vm.yaml || { cat copy/vm.yaml >&3; false; }
	run qemu-img snapshot -l copy/e.qcow2
	is "$output" "*s0 *" "the copy's disk holds the internal snapshot"
	run qemu-io -c "read -P 0x11 0 64k" copy/e.qcow2
	is "$output" "read 65536/65536*" "the contents came"
	# the copy's snapshot reverts the copy's disk, not the original
	qemu-io -c "write -P 0x22 0 64k" copy/e.qcow2 >/dev/null
	run_tool 0 "$VM_SNAP" revert copy s0
	run qemu-io -c "read -P 0x11 0 64k" copy/e.qcow2
	is "$output" "read 65536/65536*" "reverted to the snapshot's contents"
	qemu-io -c "write -P 0x33 0 64k" copy/e.qcow2 >/dev/null
	run qemu-io -c "read -P 0x11 0 64k" other/e.qcow2
	is "$output" "read 65536/65536*" "the original disk untouched"
	qemu_ok other/e.qcow2
}

# disk_at IMAGE TAG OUT: the disk's contents at internal snapshot TAG, raw
# (qemu-img's own reading)
disk_at() {
	qemu-img convert -f qcow2 -O raw -l snapshot.name="$2" "$1" "$3"
}

@test "send --base: a later snapshot as deltas into the copy received with the base; the copy restores it, its disk at both snapshots as the original's" {
	local pid n full delta first
	run_tool 0 bash -c "'$VM_SNAP' send '$D/web' s1 | '$VM_SNAP' receive '$PWD/copy'"
	# a delta needs the bundle with the base
	"$VM_SNAP" restore "$D/web" s1 </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out 'count=' 300 $pid
	n=$(last_count run2.out)
	wait_for run2.out "count=$((n + 2)) " 300 $pid
	"$VM_SNAP" save "$D/web" s2 >/dev/null
	n=$(last_count run2.out)
	wait_for run2.out "count=$((n + 2)) " 300 $pid
	kill $pid
	wait $pid || true
	"$VM_SNAP" send "$D/web" s2 >full.stream
	"$VM_SNAP" send "$D/web" s2 --base s1 >delta.stream
	full=$(stat -c %s full.stream)
	delta=$(stat -c %s delta.stream)
	[ "$delta" -lt "$full" ] || { echo "# delta $delta bytes, full $full" >&3; false; }
	run_tool 1 "$VM_SNAP" receive "$PWD/fresh" <delta.stream
	is "$output" "*fresh: no readable snapshot 's1' (a delta goes into the bundle received with its base)*" "a delta without its base"
	no_leftovers "$PWD/fresh"
	# a folder in the bundle would be lost with the old one: refused
	mkdir copy/notes
	run_tool 1 "$VM_SNAP" receive "$PWD/copy" <delta.stream
	is "$output" "*copy/notes: not a plain file: a delta updates a bundle of files only*" "a folder in the bundle"
	rmdir copy/notes
	cp -r copy before
	head -c $((delta - 100)) delta.stream >cut.stream
	run_tool 1 "$VM_SNAP" receive "$PWD/copy" <cut.stream
	is "$output" "*truncated send stream*" "a cut delta"
	diff -r before copy
	run_tool 0 "$VM_SNAP" receive "$PWD/copy" <delta.stream
	is "$output" "$PWD/copy" "the bundle updated"
	! ls -a . | grep -q '^\.copy\.recv-' || { echo "# left: $(ls -a)" >&3; false; }
	[ -f copy/snapshots/s1.snap ] && [ -f copy/snapshots/s2.snap ]
	qemu_ok copy/d.qcow2
	disk_at "$D/web/d.qcow2" s2 orig-s2.raw
	disk_at copy/d.qcow2 s2 copy-s2.raw
	cmp orig-s2.raw copy-s2.raw
	disk_at "$D/web/d.qcow2" s1 orig-s1.raw
	disk_at copy/d.qcow2 s1 copy-s1.raw
	cmp orig-s1.raw copy-s1.raw
	# the same delta again: s2 is there now
	run_tool 1 "$VM_SNAP" receive "$PWD/copy" <delta.stream
	is "$output" "*copy: has a snapshot 's2' already*" "a delta received twice"
	# the copy continues from s2
	"$VM_SNAP" restore copy s2 </dev/null >run3.out 2>run3.err &
	PID=$!
	wait_for run3.out 'count=' 300 $PID
	first=$(last_count run3.out)
	wait_for run3.out "count=$((first + 2)) " 300 $PID
	teardown
	PID=
	run awk '/^count=/ { sub("\r", ""); n = substr($1, 7); if ($2 != "note=kept-42" || $3 != "disk=w" (n - 1)) { print "# " $0; exit 1 } }' run3.out
	[ "$status" -eq 0 ] || { echo "$output" >&3; false; }
}
