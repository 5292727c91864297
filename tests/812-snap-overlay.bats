#!/usr/bin/env bats
# Full snapshots of a VM whose disk has no internal snapshots (raw, vmdk,
# vdi, vhd): the disk becomes the read-only base of a qcow2 overlay at the
# save; a restore (vm-snap restore, vm-run --restore, snapshot-load into
# the running VM) puts the disk on a new overlay on that base and the
# guest goes on from the save, the disk as it was then.  The base is
# checked against what the snapshot recorded of it, and locked while a VM
# reads it; overlays no snapshot needs any more are deleted when they are
# replaced.  On the DBT.

load helpers
load disk
load snap

# Each second: read the disk's first sector, print the count and what was
# read, write "w<count>" there (direct I/O: the disk, not the page cache).
COUNTER='i=0; while :; do d=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z0-9); echo count=$i disk=$d; echo w$i | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null; i=$((i+1)); sleep 1; done'

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	cd "$BATS_TEST_TMPDIR"
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state
}

teardown() {
	[ -z "${PID:-}" ] || { kill $PID 2>/dev/null; wait $PID 2>/dev/null; } || true
}

# bundle DIR FILE FORMAT: a bundle whose one disk is FILE (in DIR)
bundle() {
	printf 'memory: 256M\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: %s\n    format: %s\n' \
		"$KERNEL" "$INITRD" "$2" "$3" >"$1/vm.yaml"
}

# the disk file vm.yaml in DIR names
yaml_disk() {
	sed -n 's/^  - file: //p' "$1/vm.yaml"
}

# run_bundle DIR: vm-run DIR in the background, the counter as its
# guest, its console in run1.out; until it has printed count=3
run_bundle() {
	"$VM_RUN" --accel dbt --no-reboot "$1" \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$COUNTER\"" \
		</dev/null >run1.out 2>run1.err &
	pid=$!
	PID=$pid
	wait_for run1.out 'count=3 ' 300 $pid || { kill $pid; return 1; }
}

# restored OUT SAVED RUN1: the console OUT of a restore goes on from the
# save: its first count is none printed before the save was asked for
# (SAVED, the console then), run 1 (RUN1) printed the one before it, the
# counts go on by one, and the disk read first holds the write of the
# count before (the save's), not run 1's later ones.  Sets first.
restored() {
	local out saved
	out=$(tr -d '\r' <"$1")
	saved=$(last_count "$2")
	first=$(sed -n 's/^count=\([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
	[ -n "$first" ] && [ "$first" -gt "$saved" ] || { echo "# first restored count '$first', $saved printed before the save" >&3; false; }
	tr -d '\r' <"$3" | grep -qx "count=$((first - 1)) disk=.*" || { echo "# run 1 never printed count=$((first - 1))" >&3; false; }
	sed -n 's/^count=\([0-9]*\) .*/\1/p' <<<"$out" | consecutive
	is "$out" "*count=$first disk=w$((first - 1))*" "the disk as it was at the save"
	[ "$(last_count "$3")" -gt "$first" ] || { echo "# run 1 wrote nothing after the save" >&3; false; }
	disk_follows "$1"
}

# run_restore OUT COUNT-AFTER-FIRST CMD...: run a restore until it has
# printed a few counts, then kill it
run_restore() {
	local out=$1 n=$2 pid
	shift 2
	"$@" </dev/null >"$out" 2>"${out%.out}.err" &
	pid=$!
	PID=$pid
	wait_for "$out" 'count=' 300 $pid || { kill $pid; return 1; }
	first=$(tr -d '\r' <"$out" | sed -n 's/^count=\([0-9]*\).*/\1/p' | head -n 1)
	wait_for "$out" "count=$((first + n)) " 300 $pid || { kill $pid; return 1; }
	kill $pid
	wait $pid || true
	PID=
}

@test "a running raw-disk VM saved with its RAM: vm-snap restore goes on from the save, twice, each time on a new overlay, the base unchanged; a changed or missing base is refused by name" {
	local pid ovl1 ovl2 ovl3 n
	mkdir lb
	truncate -s 16M lb/r.img
	bundle lb r.img raw
	run_bundle lb
	cp run1.out saved.out
	run_tool 0 "$VM_SNAP" save lb s1
	cp lb/r.img r.copy
	ovl1=$(yaml_disk lb)
	is "$ovl1" "r.s1.qcow2" "vm.yaml names the overlay"
	# the VM reads the base now: locked as a read-only backing file is
	# (write permission given back: root could write it anyway)
	chmod u+w lb/r.img
	run_tool 1 "$VM_DISK" resize -f raw lb/r.img 32M
	is "$output" "*lb/r.img: in use by another process*" "vm-disk resize refused"
	run qemu-img resize -f raw lb/r.img 32M
	[ "$status" -ne 0 ] || { echo "# qemu-img resized the base" >&3; false; }
	is "$output" "*lock*" "qemu-img refused by the lock"
	run_tool 0 "$VM_DISK" info lb/r.img
	chmod a-w lb/r.img
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 3)) " 300 $pid || { kill $pid; false; }
	kill $pid
	wait $pid || true
	PID=
	disk_follows run1.out
	cmp lb/r.img r.copy
	qemu_ok "lb/$ovl1"

	# restore 1: a new overlay, the old one (no snapshot in it) gone
	run_restore run2.out 3 "$VM_SNAP" restore lb s1
	run cat run2.err
	is "$output" "" "the restore's messages"
	restored run2.out saved.out run1.out
	ovl2=$(yaml_disk lb)
	[ -n "$ovl2" ] && [ "$ovl2" != r.img ] || { cat lb/vm.yaml >&3; false; }
	grep -qx '    format: qcow2' lb/vm.yaml
	qemu_ok "lb/$ovl2"
	run qemu-img info --backing-chain "lb/$ovl2"
	is "$output" "*backing file: r.img*backing file format: raw*image: *r.img*file format: raw*" "the chain"
	cmp lb/r.img r.copy
	ls lb >files.after1
	[ "$(grep -c qcow2 files.after1)" -eq 1 ] || { echo "# overlays left:" >&3; cat files.after1 >&3; false; }

	# restore 2 from the same snapshot, by vm-run --restore: the same
	# point again (the bundle is the one the snapshot is in)
	mv run2.out run2a.out
	run_restore run2.out 3 "$VM_RUN" --accel dbt --restore lb/snapshots/s1.snap
	run cat run2.err
	is "$output" "" "vm-run's messages"
	restored run2.out saved.out run1.out
	is "$first" "$(sed -n 's/^count=\([0-9]*\).*/\1/p' run2a.out | head -n 1)" "the same first count"
	ovl3=$(yaml_disk lb)
	[ "$ovl3" != "$ovl2" ] && [ ! -e "lb/$ovl2" ] || { echo "# $ovl2 then $ovl3" >&3; ls lb >&3; false; }
	qemu_ok "lb/$ovl3"
	run qemu-img info --backing-chain "lb/$ovl3"
	is "$output" "*backing file: r.img*" "the chain"
	cmp lb/r.img r.copy
	run_tool 0 "$VM_SNAP" list lb
	is "$output" "*s1 *zstd*" "listed"

	# the base changed since the save: refused by name, nothing changed
	restore_refused "a changed head"
	run_tool 1 "$VM_SNAP" revert lb s1
	is "$output" "*lb/r.img: the base of the snapshot's overlay has changed since the save*" "revert refused too"
	cmp lb/vm.yaml yaml.before
	cp r.copy lb/r.img
	truncate -s +1M lb/r.img
	run_tool 1 "$VM_RUN" --accel dbt --restore lb/snapshots/s1.snap
	is "$output" "*lb/r.img: the base of the snapshot's overlay has changed since the save (17825792 bytes, 16777216 then)*" "a changed size"
	cmp lb/vm.yaml yaml.before
	ls lb | cmp - files.before
	rm lb/r.img
	run_tool 2 "$VM_SNAP" restore lb s1
	is "$output" "*lb/r.img: No such file or directory*" "a missing base"
	run_tool 1 "$VM_SNAP" revert lb s1
	is "$output" "*lb/r.img: No such file or directory*" "revert: a missing base"
	cmp lb/vm.yaml yaml.before
	cp r.copy lb/r.img
	ls lb | cmp - files.before
}

@test "vm-snap restore into the running raw-disk VM (snapshot-load): paused, the disk moves to a new overlay on the base, the guest goes on from the save reading the save's disk; the overlay left is deleted, the base stays locked" {
	local pid n first ovl
	mkdir lb
	truncate -s 16M lb/r.img
	bundle lb r.img raw
	run_bundle lb
	cp run1.out saved.out
	run_tool 0 "$VM_SNAP" save lb s1
	cp lb/r.img r.copy
	is "$(yaml_disk lb)" "r.s1.qcow2" "the save's overlay"
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 4)) " 300 $pid || { kill $pid; false; }
	# the base changed under the running VM (root ignores the lock and
	# the mode; the guest reads sector 0 from the overlay by now): the
	# load is refused by name, the VM goes on as it was
	restore_refused "refused"
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 1)) " 300 $pid || { kill $pid; false; }
	cp r.copy lb/r.img
	chmod a-w lb/r.img
	run_tool 0 "$VM_SNAP" restore lb s1
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 2)) " 300 $pid || { kill $pid; false; }
	# the count went back to just after the save's
	first=$(tr -d '\r' <run1.out | sed -n 's/^count=\([0-9]*\) .*/\1/p' | awk 'NR > 1 && $1 < p { print $1; exit } { p = $1 }')
	[ -n "$first" ] && [ "$first" -gt "$(last_count saved.out)" ] || { echo "# first count after the load '$first'" >&3; false; }
	# every read, before and after the load, found the write before it
	# (after the load: the save's, not the ones made since)
	disk_follows run1.out
	ovl=$(yaml_disk lb)
	[ "$ovl" != r.s1.qcow2 ] && [ -e "lb/$ovl" ] || { cat lb/vm.yaml >&3; false; }
	[ ! -e lb/r.s1.qcow2 ] || { echo "# the overlay left (nothing needs it) is still there" >&3; false; }
	chmod u+w lb/r.img
	run_tool 1 "$VM_DISK" resize -f raw lb/r.img 32M
	is "$output" "*lb/r.img: in use by another process*" "the base locked"
	chmod a-w lb/r.img
	kill $pid
	wait $pid || true
	PID=
	qemu_ok "lb/$ovl"
	run qemu-img info --backing-chain "lb/$ovl"
	is "$output" "*backing file: r.img*image: *r.img*" "the chain"
	cmp lb/r.img r.copy
	run cat run1.err
	is "$output" "" "vm-run's messages"
}

# vm_boot BUNDLE SCRIPT: boot the bundle, run SCRIPT, its console in boot.out
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

# restore_refused WHAT: a byte of lb's base changed, vm-snap restore lb s1
# is refused naming it, vm.yaml and the folder left as they were
restore_refused() {
	cp lb/vm.yaml yaml.before
	ls lb >files.before
	chmod u+w lb/r.img
	printf 'X' | dd of=lb/r.img bs=1 seek=100 conv=notrunc status=none
	run_tool 1 "$VM_SNAP" restore lb s1
	is "$output" "*lb/r.img: the base of the snapshot's overlay has changed since the save*" "$1"
	cmp lb/vm.yaml yaml.before
	ls lb | cmp - files.before
}

READ0='echo at0=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | tr -dc a-z | head -c 8)=; poweroff -f'

@test "vmdk, vdi and vhd disks of a stopped bundle: the save puts a qcow2 overlay on the file, the base unchanged, revert brings the save's disk back" {
	local f fmt ovl
	for fmt in vmdk vdi vpc; do
		mkdir "b-$fmt"
		f=b-$fmt/d.$fmt
		run_tool 0 "$VM_DISK" create -q -f "$fmt" "$f" 16M
		qemu-io -f "$fmt" -c 'write -P 0x66 0 512' "$f" >/dev/null
		# vm.yaml calls it vhd, qemu-img vpc
		bundle "b-$fmt" "d.$fmt" "$([ "$fmt" = vpc ] && echo vhd || echo "$fmt")"
		run_tool 0 "$VM_SNAP" save "b-$fmt" s1
		cp "$f" base.copy
		is "$(yaml_disk "b-$fmt")" "d.s1.qcow2" "$fmt: vm.yaml names the overlay"
		run qemu-img info --backing-chain --output=json "b-$fmt/d.s1.qcow2"
		is "$output" "*\"backing-filename-format\": \"$fmt\"*\"backing-filename\": \"d.$fmt\"*" "$fmt: the backing file"
		qemu_ok "b-$fmt/d.s1.qcow2"
		# written after the save: into the overlay
		qemu-io -f qcow2 -c 'write -P 0x67 0 512' "b-$fmt/d.s1.qcow2" >/dev/null
		cmp "$f" base.copy
		run_tool 0 "$VM_SNAP" revert "b-$fmt" s1
		ovl=$(yaml_disk "b-$fmt")
		is "$output" "$PWD/b-$fmt/$ovl" "$fmt: the new overlay printed"
		[ ! -e "b-$fmt/d.s1.qcow2" ] || { echo "# $fmt: the overlay replaced is left" >&3; false; }
		qemu_ok "b-$fmt/$ovl"
		vm_boot "b-$fmt" "$READ0"
		is "$(cat boot.out)" "*at0=ffffffff=*" "$fmt: the guest reads the save's disk"
		cmp "$f" base.copy
		if [ "$fmt" = vmdk ] || [ "$fmt" = vdi ]; then
			run qemu-img check -f "$fmt" "$f"
			is "$status" 0 "$fmt: qemu-img check of the base"
		fi
	done
}

@test "send | receive of a bundle on an overlay chain: with a full snapshot the copy's guest goes on from the save; with a disks-only one the copy reverts to it; qemu-img check clean, the chain in the copy" {
	local n
	mkdir lb
	truncate -s 16M lb/r.img
	bundle lb r.img raw
	run_bundle lb
	cp run1.out saved.out
	run_tool 0 "$VM_SNAP" save lb s1
	n=$(last_count run1.out)
	wait_for run1.out "count=$((n + 3)) " 300 $pid || { kill $pid; false; }
	kill $pid
	wait $pid || true
	PID=
	run_tool 0 bash -c "'$VM_SNAP' send lb s1 | '$VM_SNAP' receive '$PWD/cp'"
	is "$output" "$PWD/cp" "the bundle made"
	cmp cp/r.img lb/r.img
	qemu_ok cp/r.s1.qcow2
	run qemu-img info --backing-chain cp/r.s1.qcow2
	is "$output" "*backing file: r.img*image: cp/r.img*" "the copy's chain"
	# the original away: the copy runs on its own files
	mv lb lb.away
	run_restore run2.out 3 "$VM_SNAP" restore cp s1
	mv lb.away lb
	run cat run2.err
	is "$output" "" "the restore's messages"
	restored run2.out saved.out run1.out
	qemu_ok "cp/$(yaml_disk cp)"
	run qemu-img info --backing-chain "cp/$(yaml_disk cp)"
	is "$output" "*backing file: r.img*image: cp/r.img*" "the restored copy's chain"
	cmp cp/r.img lb/r.img

	# a disks-only snapshot of a stopped bundle on its raw disk
	mkdir sb
	truncate -s 16M sb/r.img
	printf 'ffffffff' | dd of=sb/r.img conv=notrunc status=none
	bundle sb r.img raw
	run_tool 0 "$VM_SNAP" save sb s0
	qemu-io -f qcow2 -c 'write -P 0x67 0 512' sb/r.s0.qcow2 >/dev/null
	run_tool 0 bash -c "'$VM_SNAP' send sb s0 | '$VM_SNAP' receive '$PWD/cp2'"
	qemu_ok cp2/r.s0.qcow2
	is "$(sector cp2/r.s0.qcow2 0)" "ggg*" "the overlay's write in the copy"
	run_tool 0 "$VM_SNAP" revert cp2 s0
	qemu_ok "cp2/$(yaml_disk cp2)"
	run qemu-img info --backing-chain "cp2/$(yaml_disk cp2)"
	is "$output" "*backing file: r.img*image: cp2/r.img*" "the copy's chain"
	vm_boot cp2 "$READ0"
	is "$(cat boot.out)" "*at0=ffffffff=*" "the copy's guest reads the snapshot's disk"
	cmp cp2/r.img sb/r.img

	# a later snapshot, internal in the overlay, names the overlay only:
	# its base goes along, so the copy's chain is whole
	run_tool 0 "$VM_SNAP" save sb s2
	run_tool 0 bash -c "'$VM_SNAP' send sb s2 | '$VM_SNAP' receive '$PWD/cp3'"
	cmp cp3/r.img sb/r.img
	qemu_ok cp3/r.s0.qcow2
	run qemu-img info --backing-chain cp3/r.s0.qcow2
	is "$output" "*backing file: r.img*image: cp3/r.img*" "the copy's chain"
	run_tool 0 "$VM_SNAP" revert cp3 s2
	is "$(sector cp3/r.s0.qcow2 0)" "ggg*" "s2's disk in the copy"
	vm_boot cp3 "$READ0"
	is "$(cat boot.out)" "*at0=gggggggg=*" "the copy's guest reads it"
}

@test "revert keeps an overlay it replaces while a snapshot file names it, even with no internal snapshot left in it, and deletes one nothing needs" {
	mkdir kb
	truncate -s 1M kb/r.img
	bundle kb r.img raw
	run_tool 0 "$VM_SNAP" save kb s1
	run_tool 0 "$VM_SNAP" save kb s2
	run qemu-img snapshot -l kb/r.s1.qcow2
	is "$output" "*s2 *" "s2 inside the overlay"
	qemu-img snapshot -d s2 kb/r.s1.qcow2
	run_tool 0 "$VM_SNAP" revert kb s1
	is "$output" "$PWD/kb/r.s1-2.qcow2" "a new overlay"
	[ -e kb/r.s1.qcow2 ] || { echo "# the overlay s2.snap names was deleted" >&3; false; }
	qemu_ok kb/r.s1.qcow2
	run_tool 0 "$VM_SNAP" revert kb s1
	is "$output" "$PWD/kb/r.s1-3.qcow2" "another"
	[ ! -e kb/r.s1-2.qcow2 ] || { echo "# the overlay nothing needs is left" >&3; false; }
	run_tool 0 "$VM_SNAP" list kb
	is "$output" "*s1 *s2 *" "both listed"
}
