#!/usr/bin/env bats
# The stock Debian kernel and busybox on vm-run, from the guest kit
# (tests/guestkit/build.sh: linux-image-amd64 + busybox-static).  Every
# test runs on each back end that can boot Linux here: the DBT always, KVM
# where the host has hardware virtualization (skipped with the reason
# otherwise: /dev/kvm on KVM-PVM cannot run a guest kernel).  The bzImage
# is decompressed by vm-run on the host unless a test says otherwise; one
# test keeps the kernel's own decompressor, one boots the bare vmlinux.

load helpers

setup() {
	guestkit
}

# linux_boot ACCEL ARGS...: boot the kit, the serial console on stdin and
# stdout; output without the tty's carriage returns in $output.
linux_boot() {
	local accel=$1; shift
	case $accel in
	dbt) "$VM_RUN" --accel help | grep -q '^dbt: usable' ||
		skip "the DBT is not usable here" ;;
	kvm) require_hw_kvm ;;
	esac
	run_tool '?' timeout 900 "$VM_RUN" --accel "$accel" --no-reboot \
		-m 256M --kernel "$KERNEL" --initrd "$INITRD" "$@"
	output=${output//$'\r'/}
}

# The text between the lines ending in =BEGIN= (after the shell's prompt)
# and =END= the guest printed.
between_markers() {
	sed -n '/=BEGIN=$/,/^=END=$/p' <<<"$output" | sed '1d;$d'
}

shell_session() {
	local accel=$1 bb=$GUESTKIT/busybox; shift
	local md5 sha
	md5=$(md5sum <"$bb" | cut -d' ' -f1)
	sha=$(sha256sum <"$bb" | cut -d' ' -f1)
	# The markers are computed by the guest's shell, so the echo of the
	# typed command line never matches them.
	linux_boot "$accel" -v "$@" --append "console=ttyS0 panic=-1 quiet" <<-'EOF'
	stty -echo
	echo "sum=$((6*7)) kernel=$(uname -r)"
	echo "simd=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'pclmulqdq|ssse3|sse4_1|sse4_2|aes' | tr '\n' ' ')"
	for f in $(grep -m1 ^flags /proc/cpuinfo); do case $f in abm|adx|bmi1|bmi2|movbe|popcnt|rdrand|rdseed) isa="$isa $f";; esac; done; echo "isa:$isa"
	md5sum /bin/busybox
	sha256sum /bin/busybox
	gzip -c /bin/busybox | gzip -dc | md5sum | sed 's/-$/roundtrip/'
	echo "=$((0))BEGIN=" | tr -d 0; gzip -9c /init | base64; echo "=$((0))END=" | tr -d 0
	poweroff -f
	EOF
	is "$status" 0 "exit status after the guest's poweroff"
	is "$output" "*payload decompressed on the host*" "host decompression is the default"
	is "$output" "*sum=42 kernel=$(cat "$GUESTKIT/VERSION")*" "shell arithmetic, uname"
	# The CPU model's SSSE3..SSE4.2, AES-NI and PCLMULQDQ (cpuid.c), which
	# glibc's string functions in busybox then use.
	is "$output" "*simd=pclmulqdq ssse3 sse4_1 sse4_2 aes *" "the CPU model's SIMD flags"
	# The CPU model's general-purpose extensions, as Linux sees them.
	is "$output" "*isa: movbe popcnt rdrand abm bmi1 bmi2 rdseed adx*" \
		"/proc/cpuinfo flags"
	is "$output" "*$md5  /bin/busybox*" "guest md5sum equals the host's"
	is "$output" "*$sha  /bin/busybox*" "guest sha256sum equals the host's"
	is "$output" "*$md5  roundtrip*" "gzip | gzip -d in the guest"
	# The host's gunzip judges what the guest's gzip wrote.
	between_markers | base64 -d | gunzip | cmp - "$TOPDIR/tests/guestkit/init"
}

smp_disk_exit_port() {
	local accel=$1 img=$BATS_TEST_TMPDIR/disk.img
	truncate -s 64M "$img"
	printf 'from-the-host' | dd of="$img" conv=notrunc status=none
	# The guest reads the host's bytes from /dev/vda, writes its own at
	# 4 KiB, then ends vm-run through the exit port: 0x5e0 = 1504, which
	# the guest's /dev/port reaches.  The report goes to a /dev/ttyS0 of
	# its own, whose close waits until the UART has sent it (the exit
	# port would otherwise end vm-run with it still in the guest's tty
	# buffer).
	linux_boot "$accel" --cpus 2 --disk "$img" --append "console=ttyS0 \
panic=-1 quiet vmkit.run=\"{ echo cpus=\$(nproc); echo disk=\$(head -c 13 /dev/vda); } >/dev/ttyS0; \
echo from-the-guest | dd of=/dev/vda bs=4096 seek=1 conv=sync,fsync 2>/dev/null; \
printf '\\052' | dd of=/dev/port bs=1 seek=1504\"" </dev/null
	is "$status" 42 "exit status = the byte written to port 0x5e0"
	is "$output" "*vmkit-guest: ready (2 cpus)*" "two CPUs online"
	is "$output" "*cpus=2*" "nproc in the guest"
	is "$output" "*disk=from-the-host*" "the guest reads the host file"
	is "$(dd if="$img" bs=4096 skip=1 count=1 status=none | head -c 14)" \
		"from-the-guest" "the guest's write is in the host file"
}

# The kernel's own decompressor, as before host decompression: slow on
# the DBT (the xz decompression is most of a minute), so one short run.
guest_decompress() {
	local accel=$1
	linux_boot "$accel" -v --kernel-decompress guest --append "console=ttyS0 \
panic=-1 quiet vmkit.run=\"echo unpacked-by=\$((6*7))\"" </dev/null
	is "$status" 0 "exit status after the guest's poweroff"
	is "$output" "*host decompression is off*" "-v names the path"
	is "$output" "*the kernel decompresses itself, entry 0x*" "bzImage entry"
	is "$output" "*vmkit-guest: ready*" "/init runs"
	is "$output" "*unpacked-by=42*" "the command ran"
}

# The vmlinux inside the kit's bzImage, unpacked by the distribution's
# decompressor (not vm-run's), booted as --kernel with the kit's initrd.
vmlinux_boot() {
	local accel=$1 vml=$BATS_TEST_TMPDIR/vmlinux
	[ "$accel" = kvm ] && require_hw_kvm
	extract_vmlinux "$KERNEL" "$vml"
	KERNEL=$vml linux_boot "$accel" -v --append "console=ttyS0 panic=-1 \
quiet vmkit.run=\"echo kernel=\$(uname -r) cmdline-ok=\$(grep -c vmkit.run /proc/cmdline)\"" </dev/null
	is "$status" 0 "exit status after the guest's poweroff"
	is "$output" "*: ELF vmlinux, * segments at 0x*entry 0x*" "-v names the path"
	is "$output" "*vmkit-guest: ready*" "/init runs from the initrd"
	is "$output" "*kernel=$(cat "$GUESTKIT/VERSION") cmdline-ok=1*" "uname, command line"
}

# The i8042: Linux's atkbd gets the keyboard's three-byte ID (one
# interrupt per byte) and registers it.
ps2_devices() {
	linux_boot "$1" --append "console=ttyS0 panic=-1 quiet \
vmkit.run=\"sleep 1; cat /proc/bus/input/devices /sys/bus/serio/devices/*/description\"" </dev/null
	is "$status" 0 "exit status"
	is "$output" "*N: Name=\"AT Translated Set 2 keyboard\"*" "the keyboard is an input device"
	is "$output" "*i8042 KBD port*" "the keyboard's serio port"
}

@test "dbt: the guest finds the PS/2 keyboard" {
	ps2_devices dbt
}

@test "kvm: the guest finds the PS/2 keyboard" {
	ps2_devices kvm
}

@test "dbt: shell commands piped through stdin; md5sum, sha256sum, gzip agree with the host; poweroff exits 0" {
	shell_session dbt
}

@test "kvm: shell commands piped through stdin; md5sum, sha256sum, gzip agree with the host; poweroff exits 0" {
	shell_session kvm
}

@test "dbt: --cpus 2 brings up two CPUs; --disk is /dev/vda both ways; the exit port's value is the exit status" {
	smp_disk_exit_port dbt
}

@test "kvm: --cpus 2 brings up two CPUs; --disk is /dev/vda both ways; the exit port's value is the exit status" {
	smp_disk_exit_port kvm
}

# Four CPU-bound processes at once on four vCPUs (host threads): each
# sums the busybox binary five times (SHA-256 and MD5 through a pipe, so
# the page cache, the pipe and the scheduler are shared); every sum must
# be the host's, and every vCPU must have run user code (/proc/stat).
four_workers() {
	local bb=$GUESTKIT/busybox md5 sha k
	md5=$(md5sum <"$bb" | cut -d' ' -f1)
	sha=$(sha256sum <"$bb" | cut -d' ' -f1)
	linux_boot dbt --cpus 4 -m 512M --append "console=ttyS0 panic=-1 quiet \
vmkit.run=\"for w in 1 2 3 4; do (for r in 1 2 3 4 5; do cat /bin/busybox | sha256sum; \
cat /bin/busybox | md5sum; done > /tmp/w\$w) & done; wait; \
for w in 1 2 3 4; do while read l; do echo w\$w \$l; done < /tmp/w\$w; done; \
grep '^cpu[0-9]' /proc/stat\"" </dev/null
	is "$status" 0 "exit status after the guest's poweroff"
	is "$output" "*vmkit-guest: ready (4 cpus)*" "four CPUs online"
	for k in 1 2 3 4; do
		is "$(grep -c "^w$k $sha " <<<"$output")" 5 "worker $k: SHA-256 sums equal to the host's"
		is "$(grep -c "^w$k $md5 " <<<"$output")" 5 "worker $k: MD5 sums equal to the host's"
	done
	is "$(grep -c '^w[1-4] ' <<<"$output")" 40 "no other lines from the workers"
	for k in 0 1 2 3; do
		# user time (jiffies) of cpuK above zero
		[ "$(awk -v c="cpu$k" '$1 == c {print $2}' <<<"$output")" -gt 0 ] ||
			{ echo "# cpu$k ran no user code: $(grep "^cpu$k " <<<"$output")"; false; }
	done
}
# On four host threads at once, the default (the issue's proof: four
# guest processes really in parallel, their results still right).
@test "dbt: --cpus 4 runs four CPU-bound processes at once, every result the host's, every vCPU busy" {
	four_workers
}
# The same with the vCPUs taking turns on the run lock (serial, the
# debugging fallback).
@test "dbt VMKIT_DBT_SMP=serial: --cpus 4 runs four CPU-bound processes, every result the host's, every vCPU busy" {
	VMKIT_DBT_SMP=serial four_workers
}

# The vCPUs on host threads at once (parallel, no run lock),
# on the translator: both CPUs online in /proc/cpuinfo and
# /sys/devices/system/cpu/online, two CPU-bound workers whose sums are the
# host's, and user time on both vCPUs in /proc/stat.
@test "dbt: --cpus 2 boots with both CPUs online, two workers' sums the host's, both vCPUs busy" {
	local bb=$GUESTKIT/busybox md5 sha k
	md5=$(md5sum <"$bb" | cut -d' ' -f1)
	sha=$(sha256sum <"$bb" | cut -d' ' -f1)
	linux_boot dbt --cpus 2 --dbt-tier jit \
		--append "console=ttyS0 panic=-1 quiet \
vmkit.run=\"echo processors=\$(grep -c ^processor /proc/cpuinfo) \
online=\$(cat /sys/devices/system/cpu/online); \
for w in 1 2; do (for r in 1 2 3; do cat /bin/busybox | sha256sum; \
cat /bin/busybox | md5sum; done > /tmp/w\$w) & done; wait; \
for w in 1 2; do while read l; do echo w\$w \$l; done < /tmp/w\$w; done; \
grep '^cpu[0-9]' /proc/stat\"" </dev/null
	is "$status" 0 "exit status after the guest's poweroff"
	is "$output" "*vmkit-guest: ready (2 cpus)*" "two CPUs online"
	is "$output" "*processors=2 online=0-1*" "/proc/cpuinfo and the online mask"
	for k in 1 2; do
		is "$(grep -c "^w$k $sha " <<<"$output")" 3 "worker $k: SHA-256 sums equal to the host's"
		is "$(grep -c "^w$k $md5 " <<<"$output")" 3 "worker $k: MD5 sums equal to the host's"
	done
	is "$(grep -c '^w[12] ' <<<"$output")" 12 "no other lines from the workers"
	for k in 0 1; do
		[ "$(awk -v c="cpu$k" '$1 == c {print $2}' <<<"$output")" -gt 0 ] ||
			{ echo "# cpu$k ran no user code: $(grep "^cpu$k " <<<"$output")"; false; }
	done
}

# The same session on the DBT's interpreter alone: the translator's
# results above are judged against it (and against the host).
@test "dbt --dbt-tier interp: the same shell session gives the same results" {
	shell_session dbt --dbt-tier interp
}

@test "dbt: --kernel-decompress guest: the kernel's own decompressor still boots it" {
	guest_decompress dbt
}

@test "kvm: --kernel-decompress guest: the kernel's own decompressor still boots it" {
	guest_decompress kvm
}

@test "dbt: the vmlinux extracted from the kit's bzImage boots as --kernel" {
	vmlinux_boot dbt
}

@test "kvm: the vmlinux extracted from the kit's bzImage boots as --kernel" {
	vmlinux_boot kvm
}

# The cache of decompressed payloads: the first boot fills it, the
# second boots from it, a damaged entry is not used but rewritten, and
# VMKIT_KERNEL_CACHE=0 leaves it alone.
@test "dbt: a kernel's decompressed payload is cached, a damaged entry is not used" {
	local dir=$BATS_TEST_TMPDIR/xdg f
	cache_boot() {
		XDG_CACHE_HOME=$dir linux_boot dbt -v --append "console=ttyS0 \
panic=-1 quiet vmkit.run=\"echo booted-\$((6*7))\"" </dev/null
		is "$status" 0 "exit status"
		is "$output" "*booted-42*" "the guest ran"
	}
	cache_boot
	is "$output" "*payload decompressed on the host: *" "first boot: decompressed"
	f=$(ls "$dir"/vmkit/kernels/*)
	[ -s "$f" ] || { echo "# no cache entry" >&3; false; }
	cache_boot
	is "$output" "*payload decompressed on the host (from the cache): *" "second boot: from the cache"
	# A flipped byte in the middle of the kernel's bytes.
	printf '\377' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") / 2 )) conv=notrunc status=none
	cache_boot
	is "$output" "*payload decompressed on the host: *" "damaged entry: decompressed again"
	cache_boot
	is "$output" "*(from the cache)*" "rewritten entry used"
	rm -rf "$dir"
	VMKIT_KERNEL_CACHE=0 cache_boot
	[ ! -e "$dir/vmkit" ] || { echo "# VMKIT_KERNEL_CACHE=0 wrote a cache" >&3; false; }
}

# A code cache far too small for the boot: the translator flushes it
# thousands of times, always from the dispatcher, and the guest computes
# the same as ever.
@test "dbt --dbt-cache 1M: constant cache flushes, the same md5sum" {
	local md5; md5=$(md5sum <"$GUESTKIT/busybox" | cut -d' ' -f1)
	linux_boot dbt --stats --dbt-cache 1M --append "console=ttyS0 panic=-1 quiet vmkit.run=\"md5sum /bin/busybox\"" </dev/null
	is "$status" 0 "exit status"
	is "$output" "*$md5  /bin/busybox*" "guest md5sum equals the host's"
	[[ $output =~ \(([0-9]+)\ flushes\) ]] || { echo "# no flush count in --stats" >&3; false; }
	[ "${BASH_REMATCH[1]}" -gt 10 ] || { echo "# only ${BASH_REMATCH[1]} flushes" >&3; false; }
}
