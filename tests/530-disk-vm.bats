#!/usr/bin/env bats
# A guest on a qcow2 copy-on-write overlay: it reads its backing file's
# bytes through the overlay, its writes land in the overlay only, and
# qemu-img finds the overlay clean after the VM exits.  Two boots, on the
# DBT (the back end every host has), with the guest kit.  A vm-run killed
# with SIGKILL leaves the disk consistent, with what the guest flushed.

load helpers
load disk

setup() {
	disk_setup
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

@test "dbt: a Linux guest boots with a qcow2 overlay on a qcow2 base as /dev/vda" {
	qemu-img create -q -f qcow2 base.qcow2 64M
	qemu-io -c 'write -P 0x61 1M 64k' base.qcow2 > /dev/null
	# 13 bytes 'b' at offset 0 of the base, by vm-disk's own writer
	"$BLKWRITE" base.qcow2 0:13:62
	cp base.qcow2 base.orig
	"$VM_DISK" create -q -f qcow2 -b base.qcow2 top.qcow2
	run_tool '?' timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" --disk top.qcow2 \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"echo disk=\$(head -c 13 /dev/vda); \
echo from-the-guest | dd of=/dev/vda bs=4096 seek=1 conv=sync,fsync; \
echo sum=\$(dd if=/dev/vda bs=64k skip=16 count=1 2>/dev/null | md5sum)\"" </dev/null
	output=${output//$'\r'/}
	is "$status" 0 "vm-run's exit status"
	is "$output" "*disk=bbbbbbbbbbbbb*" "the guest reads the base through the overlay"
	want=$(head -c 65536 /dev/zero | tr '\0' 'a' | md5sum | cut -d' ' -f1)
	is "$output" "*sum=$want*" "a 64 KiB data cluster of the base"
	qemu_ok top.qcow2
	cmp base.qcow2 base.orig
	qemu-img convert -O raw top.qcow2 top.raw
	is "$(dd if=top.raw bs=4096 skip=1 count=1 status=none | head -c 14)" from-the-guest "the guest's write, read by qemu-img"
}

@test "dbt: vm-run killed with SIGKILL after the guest's flush: the qcow2 disk is consistent and holds what the guest flushed" {
	"$VM_DISK" create -q -f qcow2 d.qcow2 64M
	# a flushed write (dd conv=fsync: the guest kernel sends a FLUSH),
	# then one that allocates another cluster and is never flushed
	# (no timeout wrapper: $! must be vm-run itself; the wait below is
	# bounded instead)
	"$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" --disk d.qcow2 \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"echo flushed-data | dd of=/dev/vda bs=65536 seek=2 conv=sync,fsync 2>/dev/null; \
echo mark-flushed; echo later | dd of=/dev/vda bs=65536 seek=40 conv=sync 2>/dev/null; echo mark-written; sleep 600\"" \
		< /dev/null > console 2>&1 &
	pid=$!
	for ((i = 0; i < 1500; i++)); do
		grep -q mark-written console || ! kill -0 $pid 2>/dev/null && break
		sleep 0.2
	done
	kill -9 $pid 2>/dev/null || { cat console | sed 's/^/# /' >&3; false; }
	wait $pid || true
	grep -q mark-flushed console
	run qemu-img check d.qcow2
	[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# qemu-img check: $output" >&3; false; }
	run_tool '?' "$VM_DISK" check d.qcow2
	[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# vm-disk check: $output" >&3; false; }
	qemu-img convert -O raw d.qcow2 d.raw
	is "$(dd if=d.raw bs=65536 skip=2 count=1 status=none | head -c 12)" flushed-data "the flushed write, read by qemu-img"
}

@test "dbt: a guest that writes without flushing and then writes nothing more: vm-run writes the qcow2 tables back within VMKIT_BLOCK_WRITEBACK's seconds, a SIGKILL after keeps the data" {
	"$VM_DISK" create -q -f qcow2 w.qcow2 64M
	# oflag=direct: the write reaches the disk at once, with no FLUSH;
	# then the guest only sleeps, so no later write looks at the time
	VMKIT_BLOCK_WRITEBACK=0,2 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--kernel "$KERNEL" --initrd "$INITRD" --disk w.qcow2 \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"yes idle-data | dd of=/dev/vda bs=65536 seek=40 count=1 iflag=fullblock oflag=direct 2>/dev/null; echo mark-written; sleep 600\"" \
		< /dev/null > console 2>&1 &
	pid=$!
	for ((i = 0; i < 1500; i++)); do
		grep -q mark-written console || ! kill -0 $pid 2>/dev/null && break
		sleep 0.2
	done
	grep -q mark-written console || { sed 's/^/# /' console >&3; kill -9 $pid; false; }
	# past the 2-second bound (and the once-a-second look at it)
	sleep 5
	kill -9 $pid
	wait $pid || true
	qemu_ok w.qcow2
	qemu-io -r -c 'read -v 2621440 10' w.qcow2 | grep -q 'idle.data.' ||
		{ qemu-io -r -c 'read -v 2621440 16' w.qcow2 | sed 's/^/# /' >&3; false; }
}
