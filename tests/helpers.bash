# Shared helpers for the bats suites (podman's idioms: run_tool, is).

VMKIT_BUILD=${VMKIT_BUILD:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/dbg}
VM_RUN=$VMKIT_BUILD/vm-run
VM_CREATE=$VMKIT_BUILD/vm-create
VM_DISK=$VMKIT_BUILD/vm-disk
VM_NET=$VMKIT_BUILD/vm-net
VM_SNAP=$VMKIT_BUILD/vm-snap
GUESTS=$VMKIT_BUILD/guests
TOPDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# vm-run's cache of decompressed kernels: one for the whole suite, in the
# build tree, never the user's.
export XDG_CACHE_HOME=$TOPDIR/build/test-cache

# The runtime directory (VMs' control sockets, vm-net's switches): one
# per bats run, outside the tests' own directories, so that suites running
# at once on a shared machine never meet over a VM's name.
if [ -n "${BATS_RUN_TMPDIR:-}" ] && [ -d "$BATS_RUN_TMPDIR" ]; then
	export XDG_RUNTIME_DIR=$BATS_RUN_TMPDIR/xdg-run
	mkdir -p "$XDG_RUNTIME_DIR"
fi

# run_tool EXPECTED_STATUS TOOL ARGS... ('?' accepts any status)
run_tool() {
	local expect=$1; shift
	run "$@"
	if [ "$expect" != '?' ] && [ "$status" -ne "$expect" ]; then
		echo "# command: $*" >&3
		echo "# expected status $expect, got $status" >&3
		echo "# output: $output" >&3
		false
	fi
}

# is ACTUAL EXPECTED [WHAT]: glob match, both printed on mismatch.
is() {
	local actual=$1 expected=$2 what=${3:-value}
	# shellcheck disable=SC2053
	if [[ $actual == $expected ]]; then return 0; fi
	echo "# $what:" >&3
	echo "#   expected: $expected" >&3
	# every line marked, so that a log that keeps only the '#' lines
	# (tests/run-all.sh, CI) still shows all of a multi-line value; a
	# long one by its last 60 lines
	if [ "$(wc -l <<<"$actual")" -gt 60 ]; then
		echo "#   actual (its last 60 lines):" >&3
	else
		echo "#   actual:" >&3
	fi
	tail -n 60 <<<"$actual" | sed 's/^/#   | /' >&3
	false
}

# A /dev/kvm we can open read-write (any KVM, KVM-PVM included).
have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
require_kvm() { have_kvm || skip "no usable /dev/kvm"; }
# KVM with hardware virtualization (vmx/svm): needed to run guest kernels.
have_hw_kvm() { have_kvm && grep -qwE 'vmx|svm' /proc/cpuinfo; }
require_hw_kvm() {
	have_hw_kvm || skip "needs hardware virtualization (/dev/kvm here is $( [ -d /sys/module/kvm_pvm ] && echo KVM-PVM || echo missing or software-only))"
}
require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

# The guest kit (Debian kernel + busybox initramfs), built and cached by
# tests/guestkit/build.sh.
guestkit() {
	GUESTKIT=$("$TOPDIR/tests/guestkit/build.sh" --print-dir) || \
		skip "guest kit could not be built"
	KERNEL=$GUESTKIT/vmlinuz
	INITRD=$GUESTKIT/initrd.gz
}

# The CPU back ends vm-run can use here (from vm-run --accel help).
usable_accels() {
	"$VM_RUN" --accel help | sed -n 's/^\([a-z]*\): usable$/\1/p'
}
# Back ends that can boot a full Linux guest in test time: the DBT when it
# is usable, KVM only with hardware virtualization.
linux_accels() {
	local a
	for a in $(usable_accels); do
		case $a in
		dbt) echo dbt ;;
		kvm) have_hw_kvm && echo kvm ;;
		esac
	done
	return 0
}

# extract_vmlinux BZIMAGE OUT: the ELF vmlinux inside a bzImage, unpacked
# by the distribution's own tools (xz, zstd, gzip, lz4) from the payload
# the setup header points at (payload_offset at 0x248, payload_length at
# 0x24c, after the setup sectors), without the kernel build's 4-byte size
# trailer (part of the stream itself for gzip).  An oracle independent of
# vm-run's decompressor, in the spirit of the kernel's extract-vmlinux.
extract_vmlinux() {
	local k=$1 out=$2 ss po pl magic strip=4 dec
	ss=$(( ($(od -An -tu1 -j $((0x1f1)) -N1 "$k") + 1) * 512 ))
	po=$(od -An -tu4 -j $((0x248)) -N4 "$k")
	pl=$(od -An -tu4 -j $((0x24c)) -N4 "$k")
	magic=$(tail -c +$((ss + po + 1)) "$k" | head -c 4 | od -An -tx1 | tr -d ' \n')
	case $magic in
	fd377a58) dec="xz -dc" ;;
	28b52ffd) dec="zstd -dcq" ;;
	1f8b*) dec="gzip -dc" strip=0 ;;
	02214c18) dec="lz4 -dc" ;;
	*) echo "extract_vmlinux: $k: payload magic $magic not handled" >&2; return 1 ;;
	esac
	tail -c +$((ss + po + 1)) "$k" | head -c $((pl - strip)) | $dec > "$out"
}

# hold_lock FILE SECONDS: another process holds an exclusive flock on
# FILE for SECONDS, from before this returns (on a loaded host a fixed
# sleep after starting it is no guarantee); its pid in $LOCK_PID.
hold_lock() {
	local f=$1 secs=$2 flag n=500
	flag=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/lock.XXXXXX")
	rm -f "$flag"
	flock -x "$f" sh -c 'touch "$1"; sleep "$2"' sh "$flag" "$secs" 3>&- &
	LOCK_PID=$!
	while [ ! -e "$flag" ] && [ $n -gt 0 ]; do sleep 0.02; n=$((n - 1)); done
	[ -e "$flag" ]
}
