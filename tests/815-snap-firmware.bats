#!/usr/bin/env bats
# Snapshots of a VM booted through firmware: SeaBIOS, SYSLINUX on a qcow2
# disk, the guest kit's Linux counting on its serial console and printing
# a hash of what it reads of the BIOS area (0xC0000-0xFFFFF, the i440FX
# shadow RAM, through /dev/mem).  vm-run --restore takes the RAM, the
# shadow and the firmware's ROM from the snapshot and reads no firmware
# image: the VM restores with --bios naming a file that is not there, the
# count goes on and the BIOS area reads the same.  On the DBT.

load helpers
load firmware
load disk
load snap

GUEST_CMD='i=0; while :; do echo count=$i bios=$(dd if=/dev/mem bs=4096 skip=192 count=64 2>/dev/null | md5sum | cut -c1-16); i=$((i+1)); sleep 1; done'

setup() {
	firmware_setup
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

teardown() {
	[ -z "${PID:-}" ] || { kill $PID 2>/dev/null; wait $PID 2>/dev/null; } || true
}

# bios_hashes FILE: the distinct bios= hashes the guest printed
bios_hashes() {
	tr -d '\r' <"$1" | sed -n 's/^count=[0-9]* bios=\([0-9a-f]*\)$/\1/p' | sort -u
}

@test "--restore of a SeaBIOS-booted VM reads no firmware image: --bios names a missing file, the count goes on, the BIOS area reads the same" {
	local at first hash
	cp "$BIOS" bios.bin
	make_syslinux_disk disk.img
	qemu-img convert -O qcow2 disk.img d.qcow2
	rm disk.img
	"$VM_RUN" --accel dbt --no-reboot -m 256M --bios "$PWD/bios.bin" \
		--disk "$PWD/d.qcow2" --save-on-usr1 "$PWD/s.snap" \
		</dev/null >run1.out 2>run1.err &
	PID=$!
	wait_for run1.out 'count=3 ' 600 $PID
	kill -USR1 $PID
	wait_for run1.out 'count=6 ' 300 $PID
	at=$(last_count run1.out)
	teardown
	PID=
	[ -s s.snap ] || { echo "# no snapshot: $(cat run1.err)" >&3; false; }
	run bios_hashes run1.out
	[ "${#lines[@]}" -eq 1 ] || { echo "# the BIOS area changed while it ran: $output" >&3; false; }
	hash=$output
	# no firmware file anywhere: the one it booted with is gone too
	rm bios.bin
	"$VM_RUN" --accel dbt --no-reboot --restore "$PWD/s.snap" \
		--bios "$PWD/no-such-bios.bin" </dev/null >run2.out 2>run2.err &
	PID=$!
	wait_for run2.out 'count=' 300 $PID || { echo "# $(cat run2.err)" >&3; false; }
	first=$(tr -d "\r" <run2.out | sed -n "s/^count=\([0-9]*\) .*/\1/p" | head -n 1)
	wait_for run2.out "count=$((first + 2)) " 300 $PID
	# the count goes on from the save's (3 to 6 when it was saved)
	[ "$first" -ge 3 ] && [ "$first" -le "$at" ] || { echo "# first count after the restore $first, saved between 3 and $at" >&3; false; }
	run bios_hashes run2.out
	is "$output" "$hash" "the BIOS area's hash after the restore"
	run cat run2.err
	[[ $output != *no-such-bios* ]] || { echo "# $output" >&3; false; }
	teardown
	qemu_ok d.qcow2
}
