#!/usr/bin/env bats
# Snapshots of a running VM: a guest-kit guest counts on its serial console
# and writes each count to its qcow2 disk (direct I/O, so reads come from
# the disk, not the guest's page cache); SIGUSR1 with --save-on-usr1 saves
# it while it runs; the VM is killed; vm-run --restore continues it: the
# count goes on from where it was, the disk writes made after the save are
# gone, qemu-img finds the image clean.  Damaged snapshots are refused and
# leave the disk as it was.  On the DBT, the back end every host has.

load helpers
load disk
load snap

# Each second: read the disk's first sector, print the count and what was
# read, write "w<count>" to the disk.
COUNTER='i=0; while :; do d=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9); echo count=$i disk=$d; echo w$i | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null; i=$((i+1)); sleep 1; done'
PLAIN_COUNTER='i=0; while :; do echo count=$i; i=$((i+1)); sleep 1; done'

# boot_and_save DIR SNAPSHOT SCRIPT [vm-run options]: boot, wait for
# count=3, SIGUSR1, wait for 3 counts more, kill.  Leaves DIR/run1.out (all
# of run 1), DIR/at-save.out (the console when the signal was sent).
boot_and_save() {
	local dir=$1 snap=$2 script=$3 pid n
	shift 3
	"$VM_RUN" --accel dbt --no-reboot -m 256M --kernel "$KERNEL" \
		--initrd "$INITRD" --save-on-usr1 "$snap" "$@" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$script\"" \
		</dev/null >"$dir/run1.out" 2>"$dir/run1.err" &
	pid=$!
	wait_for "$dir/run1.out" 'count=3' 300 || { kill $pid; return 1; }
	cp "$dir/run1.out" "$dir/at-save.out"
	kill -USR1 $pid
	n=$(last_count "$dir/at-save.out")
	wait_for "$dir/run1.out" "count=$((n + 3))" 300 || { kill $pid; return 1; }
	kill $pid
	wait $pid || true
}

setup_file() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	D=$BATS_FILE_TMPDIR
	qemu-img create -q -f qcow2 "$D/disk.qcow2" 16M
	boot_and_save "$D" "$D/s1.snap" "$COUNTER" --disk "$D/disk.qcow2"
}

setup() {
	guestkit
	D=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	[ -z "${PID:-}" ] || { kill $PID 2>/dev/null; wait $PID 2>/dev/null; } || true
}

@test "save: the snapshot file and the qcow2 internal snapshot of the same tag" {
	[ -s "$D/s1.snap" ]
	run cat "$D/run1.err"
	is "$output" "" "run 1's messages"
	run qemu-img snapshot -l "$D/disk.qcow2"
	is "$output" "*s1 *" "qemu-img lists the disk snapshot"
	qemu_ok "$D/disk.qcow2"
}

@test "restore: the count goes on where it was, later disk writes are gone" {
	local at first last
	cp "$D/disk.qcow2" disk.before
	"$VM_RUN" --restore "$D/s1.snap" </dev/null >run2.out 2>run2.err &
	pid=$!
	at=$(last_count "$D/at-save.out")
	wait_for run2.out "count=$((at + 4))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	run cat run2.err
	is "$output" "" "the restore's messages"
	out=$(tr -d '\r' <run2.out)
	first=$(sed -n 's/^count=\([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
	# no repeat: nothing printed before the save comes again; no gap:
	# the count before the first one restored was printed by run 1
	[ "$first" -gt "$at" ] || { echo "# first restored count $first, $at printed before the save" >&3; false; }
	tr -d '\r' <"$D/run1.out" | grep -qx "count=$((first - 1)) disk=.*"
	# counting on by one, no line twice
	run bash -c "sed -n 's/^count=\([0-9]*\).*/\1/p' <<<'$out' | awk 'NR > 1 && \$1 != p + 1 { exit 1 } { p = \$1 }'"
	is "$status" 0 "consecutive counts after the restore"
	# the disk as it was at the save: run 1's later writes vanished
	is "$out" "*count=$first disk=w$((first - 1))*" "the disk read after the restore"
	last=$(last_count "$D/run1.out")
	[ "$last" -gt "$first" ]
	qemu_ok "$D/disk.qcow2"
	run qemu-img snapshot -l "$D/disk.qcow2"
	is "$output" "*s1 *" "the disk snapshot is kept"
}

# A "cpu" section of version 1 (before fpu_cs and fpu_ds, the 4 bytes
# before the LAPIC page and the 13 bytes of run state) still restores.
@test "restore: a snapshot whose cpu section is version 1 (no x87 FCS/FDS) restores, the count goes on" {
	local at
	python3 "$BATS_TEST_DIRNAME/snapedit.py" "$D/s1.snap" old.snap cut,cpu,-1041,4 version,cpu,1
	"$VM_RUN" --restore old.snap </dev/null >old.out 2>old.err &
	pid=$!
	at=$(last_count "$D/at-save.out")
	wait_for old.out "count=$((at + 4))" 300 $pid || { kill $pid; false; }
	kill $pid
	wait $pid || true
	run cat old.err
	is "$output" "" "the restore's messages"
}

@test "restore: a truncated snapshot is refused, the disk left as it was" {
	local size
	size=$(stat -c %s "$D/s1.snap")
	head -c $((size - 1000)) "$D/s1.snap" >t.snap
	cp "$D/disk.qcow2" disk.before
	run_tool 1 timeout 60 "$VM_RUN" --restore t.snap </dev/null
	is "$output" "*t.snap: truncated snapshot: *section 'ram'*" "the message"
	cmp "$D/disk.qcow2" disk.before
	head -c 40 "$D/s1.snap" >h.snap
	run_tool 1 "$VM_RUN" --restore h.snap </dev/null
	is "$output" "*h.snap: not a vmkit snapshot*" "a bare header"
}

@test "restore: a snapshot with one byte flipped is refused, the disk left as it was" {
	local size off b
	cp "$D/s1.snap" c.snap
	cp "$D/disk.qcow2" disk.before
	size=$(stat -c %s c.snap)
	off=$((size / 2))
	b=$(od -An -tu1 -j $off -N1 c.snap | tr -d ' ')
	printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of=c.snap bs=1 seek=$off conv=notrunc status=none
	! cmp -s c.snap "$D/s1.snap"
	run_tool 1 timeout 60 "$VM_RUN" --restore c.snap </dev/null
	is "$output" "*c.snap: corrupt snapshot: section 'ram' (instance 0) fails its CRC32 check*" "the message"
	cmp "$D/disk.qcow2" disk.before
	cp "$D/s1.snap" c2.snap
	printf 'X' | dd of=c2.snap bs=1 seek=70 conv=notrunc status=none
	run_tool 1 timeout 60 "$VM_RUN" --restore c2.snap </dev/null
	is "$output" "*c2.snap: corrupt snapshot: the section header after '(file header)' is damaged*" "a damaged section header"
}

@test "restore: a snapshot of a VM with another memory size is refused" {
	run_tool 1 timeout 60 "$VM_RUN" --restore "$D/s1.snap" -m 512M </dev/null
	is "$output" "*the snapshot is of a VM with 256 MiB and 1 vCPUs, this one has 512 MiB*" "the message"
}

@test "restore: a snapshot from a newer format, a section of a newer version, or one of a VM with other devices is refused by name, the disk left as it was" {
	local dev
	cp "$D/disk.qcow2" disk.before
	python3 "$BATS_TEST_DIRNAME/snapedit.py" "$D/s1.snap" f.snap format,99
	run_tool 1 timeout 60 "$VM_RUN" --restore f.snap </dev/null
	is "$output" "*f.snap: snapshot format 99 is newer than this vmkit reads (1; made by vmkit *)*" "a format from the future"
	python3 "$BATS_TEST_DIRNAME/snapedit.py" "$D/s1.snap" v.snap version,dev:pit,7
	run_tool 1 timeout 60 "$VM_RUN" --restore v.snap </dev/null
	is "$output" "*v.snap: section 'dev:pit' is version 7, newer than this vmkit reads (1)*" "a section version from the future"
	# a device's section under another device's name: a VM without it
	dev=$(python3 "$BATS_TEST_DIRNAME/snapedit.py" "$D/s1.snap" /dev/null list | awk '$1 ~ /^dev:/ && $1 != "dev:pit" { print $1; exit }')
	python3 "$BATS_TEST_DIRNAME/snapedit.py" "$D/s1.snap" o.snap "rename,$dev,dev:elsewhere"
	run_tool 1 timeout 60 "$VM_RUN" --restore o.snap </dev/null
	is "$output" "*o.snap: the snapshot has no device ${dev#dev:} (*): it is of a VM with other devices*" "other devices"
	cmp "$D/disk.qcow2" disk.before
	qemu_ok "$D/disk.qcow2"
}

@test "--fast-restore: RAM mapped from the file, the count goes on" {
	local at first
	boot_and_save "$BATS_TEST_TMPDIR" fast.snap "$PLAIN_COUNTER" --fast-restore
	# zero pages are holes: the file takes less room than the guest's RAM
	[ $(($(stat -c %b fast.snap) * 512)) -lt $((256 << 20)) ]
	[ "$(stat -c %s fast.snap)" -gt $((256 << 20)) ]
	# through vm-snap, from a bundle's snapshots/ folder
	mkdir -p b/snapshots
	echo "memory: 256M" >b/vm.yaml
	mv fast.snap b/snapshots/
	"$VM_SNAP" restore b fast </dev/null >run2.out 2>run2.err &
	pid=$!
	at=$(last_count at-save.out)
	wait_for run2.out "count=$((at + 3))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	first=$(tr -d '\r' <run2.out | sed -n 's/^count=\([0-9]*\).*/\1/p' | head -n 1)
	[ "$first" -gt "$at" ]
	tr -d '\r' <run1.out | grep -qx "count=$((first - 1))"
}

@test "save: a raw disk is refused by name, no snapshot file left, the VM goes on" {
	truncate -s 16M raw.img
	boot_and_save "$BATS_TEST_TMPDIR" raw.snap "$PLAIN_COUNTER" --disk raw.img,format=raw
	run cat run1.err
	is "$output" "*snapshot raw.snap: raw.img: raw images have no internal snapshots, and the VM has no vm.yaml to point at an overlay (run it from a bundle)*" "the message"
	[ ! -e raw.snap ]
}

@test "vm-snap list and delete: a bundle's snapshots, the disk's internal snapshot goes too" {
	mkdir -p b/snapshots
	echo "memory: 256M" >b/vm.yaml
	cp "$D/s1.snap" b/snapshots/s1.snap
	run_tool 0 "$VM_SNAP" list b
	is "${lines[0]}" "TAG *DATE *SIZE *RAM *PARENT" "the header"
	is "${lines[1]}" "s1 *20[0-9][0-9]-* MiB zstd *-" "the snapshot's line"
	run_tool 0 "$VM_SNAP" list b --json
	is "$output" '*"tag": "s1"*"ram-format": "zstd"*"disks": 1*' "JSON"
	run_tool 1 "$VM_SNAP" delete b s2
	is "$output" "*no snapshot 's2'*" "an unknown tag"
	run_tool 0 "$VM_SNAP" delete b s1
	[ ! -e b/snapshots/s1.snap ]
	run qemu-img snapshot -l "$D/disk.qcow2"
	[[ $output != *s1* ]] || { echo "# $output" >&3; false; }
	qemu_ok "$D/disk.qcow2"
	# not running: a bundle's disks only, and this one has none
	run_tool 1 "$VM_SNAP" save b s1
	is "$output" "*b: not running, a disks-only snapshot: no writable disk*" "save of a stopped bundle without disks"
	[ ! -e b/snapshots/s1.snap ]
	mkdir c
	echo "memory: 256M" >c/vm.yaml
	run_tool 1 "$VM_SNAP" save c s1
	[ ! -e c/snapshots ] || { echo "# a snapshot folder was left: $(ls -la c)" >&3; false; }
	run_tool 1 "$VM_SNAP" save nosuchvm s1
	is "$output" "*nosuchvm: *is it running?*" "save with no such VM running"
}

@test "vm-snap list: damaged files are listed as damaged with the reason, exit 1 only if none could be read" {
	local size off b
	mkdir -p b/snapshots
	echo "memory: 256M" >b/vm.yaml
	cp "$D/s1.snap" b/snapshots/s1.snap
	size=$(stat -c %s "$D/s1.snap")
	head -c $((size / 2)) "$D/s1.snap" >b/snapshots/half.snap
	cp "$D/s1.snap" b/snapshots/flip.snap
	off=$((size - 4096))
	b=$(od -An -tu1 -j $off -N1 b/snapshots/flip.snap | tr -d ' ')
	printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of=b/snapshots/flip.snap bs=1 seek=$off conv=notrunc status=none
	run_tool 0 "$VM_SNAP" list b
	is "${lines[1]}" "s1 *20[0-9][0-9]-* MiB zstd *-" "the good snapshot first"
	is "${lines[2]}" "flip *- * damaged corrupt snapshot: section '*' (instance *) fails its CRC32 check" "the flipped byte, with the reason"
	is "${lines[3]}" "half *- * damaged truncated snapshot: *" "the truncated file, with the reason"
	[ "${#lines[@]}" -eq 4 ] || { echo "# $output" >&3; false; }
	"$VM_SNAP" list b --json >list.json
	run python3 -c 'import json, sys; print(" ".join("%s:%s:%s" % (s["tag"], s["damaged"], s.get("error", "-").split(":")[0]) for s in json.load(open(sys.argv[1]))))' list.json
	is "$output" "s1:False:- flip:True:corrupt snapshot half:True:truncated snapshot" "the JSON's damaged flags and reasons"
	# nothing readable: listed, and exit 1
	rm b/snapshots/s1.snap
	run_tool 1 "$VM_SNAP" list b
	is "${lines[1]}" "flip *damaged corrupt snapshot: *" "still listed"
	# no snapshots at all is no failure
	rm b/snapshots/*.snap
	run_tool 0 "$VM_SNAP" list b
	[ "${#lines[@]}" -eq 1 ] || { echo "# $output" >&3; false; }
}

@test "vm-snap save of a stopped bundle: its disks only; revert brings their bytes back, restore refuses it" {
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	mkdir off
	qemu-img create -q -f qcow2 off/d.qcow2 16M
	printf 'memory: 256M\ndisks:\n  - file: d.qcow2\n' > off/vm.yaml
	qemu-io -c 'write -P 0xaa 0 64k' off/d.qcow2 >/dev/null
	run_tool 0 "$VM_SNAP" save off o1
	is "$output" "*/off/snapshots/o1.snap" "the file printed"
	run_tool 0 "$VM_SNAP" list off
	is "${lines[1]}" "o1 *20[0-9][0-9]-* none *-" "listed with no RAM"
	run_tool 1 "$VM_SNAP" save off o1
	is "$output" "*snapshot 'o1' exists*" "a tag taken"
	qemu-io -c 'write -P 0xbb 0 64k' off/d.qcow2 >/dev/null
	run_tool 0 "$VM_SNAP" revert off o1
	run qemu-io -c 'read -P 0xaa 0 64k' off/d.qcow2
	is "$output" "*read 65536/65536 bytes*" "the bytes of the snapshot's time (qemu-io)"
	[[ $output != *"Pattern verification failed"* ]] || { echo "# $output" >&3; false; }
	qemu_ok off/d.qcow2
	run_tool 1 "$VM_RUN" --accel dbt --restore off/snapshots/o1.snap </dev/null
	is "$output" "*a disks-only snapshot (of a stopped VM): no state to restore*" "restore refuses it"
	# a raw disk beside the qcow2 one: an overlay for it, an internal
	# snapshot in the other, one snapshot file
	truncate -s 1M off/r.img
	printf 'memory: 256M\ndisks:\n  - file: d.qcow2\n  - file: r.img\n    format: raw\n' > off/vm.yaml
	run_tool 0 "$VM_SNAP" save off o2
	run qemu-img snapshot -l off/d.qcow2
	is "$output" "*o2 *" "the qcow2 disk's internal snapshot"
	run qemu-img info --output=json off/r.o2.qcow2
	is "$output" '*"backing-filename": "r.img"*' "the raw disk's overlay"
	grep -qx '  - file: r.o2.qcow2' off/vm.yaml || { cat off/vm.yaml >&3; false; }
}

# vm_boot BUNDLE SCRIPT: run the bundle's guest on the DBT until SCRIPT
# (which ends with poweroff -f) is done; its console in boot.out.
vm_boot() {
	run_tool 0 "$VM_RUN" --accel dbt --no-reboot "$1" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$2\"" </dev/null
	printf '%s\n' "$output" | tr -d '\r' >boot.out
}

# sector N of the image FILE (through its backing chain), letters and digits
sector() {
	rm -f flat.raw
	qemu-img convert -U -O raw "$1" flat.raw
	dd if=flat.raw bs=512 skip="$2" count=1 status=none | tr -dc a-z0-9
}

@test "vm-snap save of a stopped bundle with a raw disk: a qcow2 overlay on it; revert drops the writes since, keeps those before, the base byte for byte as it was" {
	local w
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	mkdir rb
	truncate -s 16M rb/r.img
	printf 'memory: 256M\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: r.img\n    format: raw\n' \
		"$KERNEL" "$INITRD" >rb/vm.yaml
	w='dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null'
	vm_boot rb "echo first | $w; echo early | $w seek=8; poweroff -f"
	cp rb/r.img r.copy
	run_tool 0 "$VM_SNAP" save rb s1
	is "$output" "$PWD/rb/snapshots/s1.snap" "the file printed"
	# the overlay as qemu-img sees it: relative backing file, its format
	run qemu-img info --backing-chain --output=json rb/r.s1.qcow2
	is "$output" '*"backing-filename-format": "raw"*' "the backing format recorded"
	is "$output" '*"backing-filename": "r.img"*"filename": "rb/r.img"*' "the backing file by its name, found beside the overlay"
	qemu_ok rb/r.s1.qcow2
	grep -qx '  - file: r.s1.qcow2' rb/vm.yaml && grep -qx '    format: qcow2' rb/vm.yaml || { cat rb/vm.yaml >&3; false; }
	! grep -q '^name:' rb/vm.yaml || { echo "# a name was added" >&3; false; }
	# the snapshot names the file the disk was in
	run_tool 0 "$VM_SNAP" list rb --json
	is "$output" '*"tag": "s1"*"ram": false*"disks": 1*' "listed, disks only"
	# the guest writes more: into the overlay, the base as it was
	vm_boot rb "echo second | $w; echo late | $w seek=16; poweroff -f"
	cmp rb/r.img r.copy
	is "$(sector rb/r.s1.qcow2 0)" "second" "the later write, in the overlay"
	qemu_ok rb/r.s1.qcow2
	run_tool 0 "$VM_SNAP" revert rb s1
	is "$output" "$PWD/rb/r.s1-2.qcow2" "a new overlay on the base"
	grep -qx '  - file: r.s1-2.qcow2' rb/vm.yaml || { cat rb/vm.yaml >&3; false; }
	qemu_ok rb/r.s1-2.qcow2
	# the guest finds the earlier writes and not the later
	vm_boot rb 'for s in 0 8 16; do echo at$s=$(dd if=/dev/vda bs=512 skip=$s count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9)=; done; poweroff -f'
	is "$(cat boot.out)" "*at0=first=*at8=early=*at16==*" "the guest reads the snapshot's disk"
	cmp rb/r.img r.copy
	# the snapshot goes on being one to go back to; the overlay it
	# replaces, which no snapshot needs, is deleted (so is the first)
	[ ! -e rb/r.s1.qcow2 ] || { echo "# the save's overlay is left" >&3; false; }
	vm_boot rb "echo third | $w; poweroff -f"
	run_tool 0 "$VM_SNAP" revert rb s1
	is "$output" "$PWD/rb/r.s1.qcow2" "another overlay"
	is "$(sector rb/r.s1.qcow2 0)" "first" "the snapshot's bytes again"
	[ ! -e rb/r.s1-2.qcow2 ] || { echo "# the overlay replaced is left" >&3; false; }
	# a second snapshot on the overlay (qcow2: internal), revert to it:
	# vm.yaml names that overlay again; the overlay s1 made is gone,
	# the one holding s2 stays
	vm_boot rb "echo fourth | $w; poweroff -f"
	run_tool 0 "$VM_SNAP" save rb s2
	run qemu-img snapshot -l rb/r.s1.qcow2
	is "$output" "*s2 *" "an internal snapshot in the overlay"
	run_tool 0 "$VM_SNAP" revert rb s1
	is "$output" "$PWD/rb/r.s1-2.qcow2" "a new overlay"
	[ -e rb/r.s1.qcow2 ] || { echo "# the overlay holding s2 was deleted" >&3; false; }
	run_tool 0 "$VM_SNAP" revert rb s2
	grep -qx '  - file: r.s1.qcow2' rb/vm.yaml || { cat rb/vm.yaml >&3; false; }
	is "$(sector rb/r.s1.qcow2 0)" "fourth" "s2's bytes"
	[ ! -e rb/r.s1-2.qcow2 ] || { echo "# the overlay replaced is left" >&3; false; }
	# every snapshot listed is one to go back to
	run_tool 0 "$VM_SNAP" list rb
	is "$output" "*s1 *none*s2 *none*" "both listed"
	run_tool 0 "$VM_SNAP" revert rb s1
	is "$(sector "rb/$(sed -n 's/^  - file: //p' rb/vm.yaml)" 0)" "first" "s1 again"
	run_tool 0 "$VM_SNAP" revert rb s2
	is "$(sector rb/r.s1.qcow2 0)" "fourth" "s2 again"
	# delete s1: its base stays, the overlays on it whole
	run_tool 0 "$VM_SNAP" delete rb s1
	[ ! -e rb/snapshots/s1.snap ] && [ -e rb/r.img ]
	cmp rb/r.img r.copy
	for f in rb/r.s1*.qcow2; do qemu_ok "$f"; done
	run qemu-img info --backing-chain rb/r.s1.qcow2
	is "$output" "*backing file: r.img*" "the chain as it was"
}

@test "vm-snap save of a running bundle with a raw disk: paused, vm-run moves the disk to an overlay; no write lost, the base as it was at the save; revert drops the later writes" {
	local pid base at n
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	mkdir lb
	truncate -s 16M lb/r.img
	printf 'memory: 256M\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: r.img\n    format: raw\n' \
		"$KERNEL" "$INITRD" >lb/vm.yaml
	cp lb/vm.yaml yaml.before
	"$VM_RUN" --accel dbt --no-reboot lb \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	PID=$pid
	wait_for run1.out 'count=3 ' 300 $pid || { kill $pid; false; }
	# a failure midway (vm.yaml cannot be written anew): the VM goes on
	# on its disk, vm.yaml and the folder as they were
	mkdir lb/vm.yaml.vm-snap-new
	run_tool 1 "$VM_SNAP" save lb s1
	is "$output" "*vm.yaml.vm-snap-new: Is a directory*" "the file named"
	cmp lb/vm.yaml yaml.before
	[ ! -e lb/r.s1.qcow2 ] && [ ! -e lb/snapshots/s1.snap ] || { ls -l lb >&3; kill $pid; false; }
	rmdir lb/vm.yaml.vm-snap-new
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 2)) " 300 $pid || { kill $pid; false; }
	is "$(sector lb/r.img 0)" "w*" "the guest still writes the raw file"
	run_tool 0 "$VM_SNAP" save lb s1
	cp lb/r.img r.copy
	base=$(sector lb/r.img 0)
	at=$(last_count run1.out)
	wait_for run1.out "count=$((at + 3)) " 300 $pid || { kill $pid; false; }
	kill $pid
	wait $pid || true
	# every read found the write before it, across the switch
	disk_follows run1.out
	cmp lb/r.img r.copy
	grep -qx '  - file: r.s1.qcow2' lb/vm.yaml && grep -qx '    format: qcow2' lb/vm.yaml || { cat lb/vm.yaml >&3; false; }
	run qemu-img info --backing-chain --output=json lb/r.s1.qcow2
	is "$output" '*"backing-filename-format": "raw"*"backing-filename": "r.img"*' "the overlay's backing file"
	qemu_ok lb/r.s1.qcow2
	[ "$(sector lb/r.s1.qcow2 0)" != "$base" ] || { echo "# the overlay holds no later write" >&3; false; }
	run_tool 0 "$VM_SNAP" revert lb s1
	is "$output" "$PWD/lb/r.s1-2.qcow2" "a new overlay on the base"
	qemu_ok lb/r.s1-2.qcow2
	vm_boot lb 'echo at0=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9)=; poweroff -f'
	is "$(cat boot.out)" "*at0=$base=*" "the disk as it was at the save"
	cmp lb/r.img r.copy
}

@test "vm-snap save of a stopped bundle with a raw disk: a failure in the middle leaves vm.yaml, the disks and the folder as they were" {
	local long
	mkdir fb
	qemu-img create -q -f qcow2 fb/d.qcow2 16M
	truncate -s 1M fb/r.img
	printf '# a comment\nmemory: 256M\ndisks:\n  - file: d.qcow2\n  - file: r.img\n    format: raw\n' >fb/vm.yaml
	cp fb/vm.yaml yaml.before
	# vm.yaml cannot be written anew (its new file's name is a folder)
	mkdir fb/vm.yaml.vm-snap-new
	run_tool 1 "$VM_SNAP" save fb s1
	is "$output" "*fb/vm.yaml.vm-snap-new: Is a directory*" "the file named"
	cmp fb/vm.yaml yaml.before
	[ ! -e fb/snapshots/s1.snap ] && [ ! -e fb/r.s1.qcow2 ] || { ls -l fb fb/snapshots >&3; false; }
	run qemu-img snapshot -l fb/d.qcow2
	[[ $output != *s1* ]] || { echo "# $output" >&3; false; }
	[ -w fb/r.img ] || { echo "# the raw disk was made read-only" >&3; false; }
	rmdir fb/vm.yaml.vm-snap-new
	# the overlay cannot be made: its name would be too long
	long=$(printf 'x%.0s' $(seq 250))
	mv fb/r.img "fb/$long.img"
	printf 'memory: 256M\ndisks:\n  - file: d.qcow2\n  - file: %s.img\n    format: raw\n' "$long" >fb/vm.yaml
	cp fb/vm.yaml yaml.before
	run_tool 1 "$VM_SNAP" save fb s1
	is "$output" "*: xxxxxxxxxx*...: the name of its overlay (its own with .s1.qcow2) would be too long*" "the disk named"
	cmp fb/vm.yaml yaml.before
	[ ! -e fb/snapshots/s1.snap ]
	run qemu-img snapshot -l fb/d.qcow2
	[[ $output != *s1* ]] || { echo "# $output" >&3; false; }
	# not root: a folder the overlay cannot be made in
	if [ "$(id -u)" -ne 0 ]; then
		mv "fb/$long.img" fb/r.img
		mkdir ro && mv fb/r.img ro/ && chmod a-w ro
		printf 'memory: 256M\ndisks:\n  - file: ../ro/r.img\n    format: raw\n' >fb/vm.yaml
		run_tool 1 "$VM_SNAP" save fb s1
		is "$output" "*ro/r.s1.qcow2: cannot make the overlay for the snapshot: Permission denied*" "the folder refused"
		chmod u+w ro
	fi
}

@test "vm-snap save through the control socket: the VM goes on, the snapshot restores where it was" {
	local pid at first path
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name snapme \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$PLAIN_COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=3' 300 || { kill $pid; false; }
	run_tool 0 "$VM_SNAP" save snapme t1
	path=$output
	is "$path" "$XDG_STATE_HOME/vmkit/snapme/t1.snap" "the file it prints"
	at=$(last_count run1.out)
	# the VM goes on after the save
	wait_for run1.out "count=$((at + 2))" 300 || { kill $pid; false; }
	run_tool 1 "$VM_SNAP" save snapme t1
	is "$output" "*snapshot 't1' exists*" "a tag taken already"
	kill $pid
	wait $pid || true
	run_tool 0 "$VM_SNAP" list snapme
	is "${lines[1]}" "t1 *20[0-9][0-9]-* MiB zstd *-" "listed"
	"$VM_SNAP" restore snapme t1 </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out "count=$((at + 3))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	# it goes on from the save: its first count came after what was
	# printed when the save was asked for, and run 1 printed the one
	# before it
	first=$(tr -d '\r' <run2.out | sed -n 's/^count=\([0-9]*\).*/\1/p' | head -n 1)
	[ "$first" -ge "$at" ] || { echo "# first restored $first, saved at $at" >&3; false; }
	tr -d '\r' <run1.out | grep -qx "count=$((first - 1))"
}

# An e1000 guest on NAT pings the gateway each second; saved while it
# runs, restored: the pings keep being answered through the restored card.
@test "e1000 on NAT: saved while pinging the gateway, the restored guest's pings are answered" {
	local pid at
	local script='ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; i=0; while :; do if ping -c 1 -W 2 10.0.2.2 >/dev/null 2>&1; then r=ok; else r=lost; fi; echo count=$i ping=$r; i=$((i+1)); sleep 1; done'
	"$VM_RUN" --accel dbt --no-reboot -m 256M --kernel "$KERNEL" \
		--initrd "$INITRD" --save-on-usr1 net.snap \
		--net nat,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000 vmkit.run=\"$script\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=2 ping=ok' 300 || { kill $pid; false; }
	kill -USR1 $pid
	at=$(last_count run1.out)
	wait_for run1.out "count=$((at + 2)) ping=ok" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	[ -s net.snap ]
	"$VM_RUN" --restore net.snap </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out "count=$((at + 4)) ping=ok" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	run cat run2.err
	is "$output" "" "the restore's messages"
	# every ping after the first restored count is answered
	run bash -c "tr -d '\r' <run2.out | grep '^count=' | tail -n +2 | grep -v 'ping=ok'"
	is "$output" "" "pings lost after the restore"
}

# The VGA (given by --screendump) in text mode 3 with a line Linux's vgacon
# wrote on tty1: the screen the restored VM shows is the one it was saved
# with, pixel for pixel.
@test "VGA: a text screen saved with the VM is the same after the restore" {
	local pid at
	local script='echo vga-mark-$((6*7)) >/dev/tty1; i=0; while :; do echo count=$i; i=$((i+1)); sleep 1; done'
	"$VM_RUN" --accel dbt --no-reboot -m 256M --kernel "$KERNEL" \
		--initrd "$INITRD" --save-on-usr1 vga.snap --screendump run1.png \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$script\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=2' 300 || { kill $pid; false; }
	kill -USR1 $pid
	at=$(last_count run1.out)
	wait_for run1.out "count=$((at + 2))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	[ -s vga.snap ]
	[ -s run1.png ]
	"$VM_RUN" --restore vga.snap --screendump run2.png </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out "count=$((at + 4))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	run cat run2.err
	is "$output" "" "the restore's messages"
	# not a black screen: the image data has non-zero bytes
	run python3 -c 'import sys, struct, zlib
d = open(sys.argv[1], "rb").read(); p, z = 8, b""
while p < len(d):
    n, t = struct.unpack(">I4s", d[p:p + 8])
    z += d[p + 8:p + 8 + n] if t == b"IDAT" else b""
    p += 12 + n
print(sum(1 for b in zlib.decompress(z) if b))' run1.png
	[ "$output" -gt 200 ] || { echo "# $output non-zero bytes in run 1's screen" >&3; false; }
	cmp run1.png run2.png
}

# Snapshots saved through the control socket by a VM restored from t1 have
# t1 as their parent; vm-snap list shows them under it.
@test "vm-snap save in a restored VM: the parent is the snapshot it was restored from, list shows the tree" {
	local pid
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name treevm \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$PLAIN_COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=2' 300 || { kill $pid; false; }
	run_tool 0 "$VM_SNAP" save treevm t1
	kill $pid
	wait $pid || true
	"$VM_SNAP" restore treevm t1 </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out 'count=' 300 || { kill $pid; false; }
	run_tool 0 "$VM_SNAP" save treevm t3
	run_tool 0 "$VM_SNAP" save treevm t2
	kill $pid
	wait $pid || true
	run_tool 0 "$VM_SNAP" list treevm
	is "${lines[1]}" "t1 *20[0-9][0-9]-* -" "the root first, no parent"
	is "${lines[2]}" "  t2 *20[0-9][0-9]-* t1" "a child under it, indented"
	is "${lines[3]}" "  t3 *20[0-9][0-9]-* t1" "its sibling, in name order"
	"$VM_SNAP" list treevm --json >list.json
	run python3 -c 'import json, sys; print(" ".join("%s:%s:%d" % (s["tag"], s["parent"], s["depth"]) for s in json.load(open(sys.argv[1]))))' list.json
	is "$output" "t1::0 t2:t1:1 t3:t1:1" "the JSON's tags, parents and depths"
	# the guest's clock at each save: on from t1 through the restore,
	# t3 saved before t2
	run python3 -c 'import json, sys; c = {s["tag"]: s["guest-tsc"] for s in json.load(open(sys.argv[1]))}; print("ordered" if 0 < c["t1"] < c["t3"] < c["t2"] else c)' list.json
	is "$output" "ordered" "the guest clocks"
}

# sector0 IMAGE: the number N of the "wN" the counter wrote in sector 0
sector0() {
	qemu-img dd -f qcow2 -O raw if="$1" of=sector0.raw bs=512 count=1 >/dev/null
	tr -dc a-z0-9 <sector0.raw | sed -n 's/^w\([0-9]*\)$/\1/p'
}

@test "vm-snap revert: a stopped VM's disk writes after the snapshot vanish, and stay without it" {
	local pid at before after
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	qemu-img create -q -f qcow2 rdisk.qcow2 16M
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name revvm \
		--kernel "$KERNEL" --initrd "$INITRD" --disk "$PWD/rdisk.qcow2" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=3' 300 || { kill $pid; false; }
	run_tool 0 "$VM_SNAP" save revvm r1
	at=$(last_count run1.out)
	wait_for run1.out "count=$((at + 3))" 300 || { kill $pid; false; }
	kill $pid
	wait $pid || true
	# without a revert the later writes stay
	before=$(sector0 rdisk.qcow2)
	[ "$before" -ge $((at + 2)) ] || { echo "# sector 0 has w$before, saved at $at" >&3; false; }
	run_tool 0 "$VM_SNAP" revert revvm r1
	is "$output" "" "revert's messages"
	after=$(sector0 rdisk.qcow2)
	[ -n "$after" ] && [ "$after" -le "$at" ] || { echo "# sector 0 has w$after after the revert, saved at $at" >&3; false; }
	qemu_ok rdisk.qcow2
	run qemu-img snapshot -l rdisk.qcow2
	is "$output" "*r1 *" "the disk snapshot is kept"
	# a tag the disk lacks: refused by name, the disk untouched
	run_tool 1 "$VM_SNAP" revert revvm nosuch
	is "$output" "*nosuch*" "the missing snapshot named"
	is "$(sector0 rdisk.qcow2)" "$after" "the disk after a refused revert"
}

# The ACPI PM block (PM1 status, enable and control, the timer, the PM
# function's configuration space) comes back with the VM: the restored
# guest's acpid still hears the power button.
@test "powerdown after a restore: the restored guest's acpid powers it off, vm-run exits 0" {
	local pid at status
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name pwr \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$PLAIN_COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	wait_for run1.out 'count=3' 300 || { kill $pid; false; }
	run_tool 0 "$VM_SNAP" save pwr p1
	kill $pid
	wait $pid || true
	at=$(last_count run1.out)
	"$VM_SNAP" restore pwr p1 </dev/null >run2.out 2>run2.err &
	pid=$!
	wait_for run2.out "count=$((at + 2))" 300 || { kill $pid; false; }
	run_tool 0 "$VM_RUN" --cmd pwr powerdown --json
	is "$output" '{"ok":true}'
	status=0
	wait "$pid" || status=$?
	is "$status" 0 "the restored vm-run's exit status"
	is "$(tr -d '\r' <run2.out)" "*vmkit-guest: power button: powering off*reboot: Power down*" "the guest's power-off"
}
