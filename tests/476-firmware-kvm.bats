#!/usr/bin/env bats
# Firmware boot under --accel kvm, where KVM cannot run all of the boot
# loader's code: on KVM-PVM, KVM stops with "instruction emulation
# failed" on the IRET in ISOLINUX's and SYSLINUX's real/protected-mode
# switch (QEMU's KVM mode stops there for good).  vm-run hands the vCPU
# to the DBT for a stint and back (common/vm/hybrid.c), so the loader
# goes on, reads the kernel and the initramfs through the BIOS and starts
# the kernel.  KVM-PVM emulates all guest kernel-mode code, so the kernel
# itself gets only slowly further: the suite waits for the loader's own
# words, and on hardware virtualization for the guest's shell.

load helpers
load firmware
load boot

GUEST_CMD='echo booted-$((6*7))'

setup() {
	firmware_setup
	require_kvm
}

teardown() {
	if [ -s vm.pid ]; then
		kill "$(cat vm.pid)" 2>/dev/null || true
		wait_gone "$(cat vm.pid)"
	fi
}

wait_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
}

# start_kvm ARGS...: vm-run -v --accel kvm in the background, its output
# in out, its status in rc when it ends.
start_kvm() {
	rm -f rc out
	( "$VM_RUN" -v --accel kvm --no-reboot -m 256M "$@" </dev/null >out 2>&1
	  echo $? > rc ) &
	sleep 0.1
	pgrep -n -f -- "$VM_RUN -v --accel kvm" > vm.pid || true
}

# wait_out TEXT [SECONDS]: until out holds TEXT (a fixed string) or
# vm-run ended.
wait_out() {
	local i
	for ((i = 0; i < ${2:-300} * 5; i++)); do
		grep -qF -- "$1" out && return 0
		[ -s rc ] && break
		sleep 0.2
	done
	grep -qF -- "$1" out && return 0
	echo "# no '$1' in vm-run's output:"; sed 's/^/# | /' out | tail -40
	return 1
}

handover_said() {
	if [ -d /sys/module/kvm_pvm ]; then
		run grep -c "KVM cannot run the guest's code here" out
		is "$output" 1 "the hand-over said once (--verbose)"
		is "$(cat out)" "*instruction emulation failed*the DBT runs it past that*" "why"
	fi
	[ ! -s rc ] || is "$(cat rc)" 0 "vm-run's status"
}

@test "--accel kvm: ISOLINUX gets past the IRET KVM cannot run and loads the kernel and the initramfs" {
	guestkit
	isolinux_iso boot.iso <<-EOF
	SERIAL 0 115200
	DEFAULT linux
	PROMPT 0
	TIMEOUT 0
	LABEL linux
	  KERNEL /vmlinuz
	  INITRD /initrd.gz
	  APPEND console=ttyS0 panic=-1 vmkit.run="$GUEST_CMD"
	EOF
	start_kvm --firmware bios --cdrom boot.iso
	wait_out "Booting from DVD/CD..."
	# The banner's second half is printed after the first mode switch.
	wait_out "Copyright (C) 1994-2015 H. Peter Anvin"
	wait_out "Loading /vmlinuz..."
	wait_out "Loading /initrd.gz..."
	# The kernel's own real-mode setup code, started by ISOLINUX.
	wait_out "Probing EDD (edd=off to disable)..."
	if have_hw_kvm; then
		wait_out "booted-42"
	fi
	handover_said
}

@test "--accel kvm: SYSLINUX from an IDE disk gets past the mode switch, loads the kernel and starts it" {
	guestkit
	# Without "quiet" SYSLINUX says what it loads, and the kernel's setup
	# code probes EDD aloud.
	SYSLINUX_KERNEL=$KERNEL SYSLINUX_APPEND="console=ttyS0 panic=-1" \
		make_syslinux_disk disk.img
	start_kvm --firmware bios --disk disk.img,if=ide
	wait_out "SYSLINUX 6."
	wait_out "Copyright (C) 1994-2015 H. Peter Anvin"
	wait_out "Loading other.krn..."
	wait_out "Probing EDD (edd=off to disable)..."
	handover_said
}
