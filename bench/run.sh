#!/bin/bash
# vmkit benchmarks, side by side with QEMU in the same run.
#
# Boot: wall time from process start to the guest's first userspace output
# ("vmkit-guest: ready" from the guest kit's /init) and to exit (the guest
# runs one command and powers off), the CPU time (user + system) and the
# peak RSS of the whole process (GNU time's).  CPU time is the figure to
# trust on a busy host, where the wall times stretch.  Each configuration runs
# $BENCH_RUNS times (default 3); the table shows the median.
#
# The DBT runs once per bzImage decompression path in $BENCH_DECOMPRESS
# (default "host guest": vm-run --kernel-decompress host, the default,
# once with its cache of decompressed kernels off and once with it filled,
# and guest, the kernel's own decompressor); $BENCH_QEMU=0 leaves QEMU out.
#
# usage: bench/run.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
RUNS=${BENCH_RUNS:-3}
MEM=${BENCH_MEM:-512M}
DECOMPRESS=${BENCH_DECOMPRESS:-host guest}
QEMU=${BENCH_QEMU:-1}
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
APPEND='console=ttyS0 quiet vmkit.run="md5sum /bin/busybox"'
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

. "$top/bench/lib.sh"

echo "vmkit bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "guest: Debian $(cat "$kit/VERSION") + busybox initramfs, $MEM RAM, runs md5sum and powers off; median of $RUNS"
echo
echo "| configuration                                | to ready s | to exit s | CPU s | peak RSS KiB | ok |"
echo "|----------------------------------------------|-----------:|---------:|------:|------------:|----|"
# vm-run's cache of decompressed kernels: a private one, so that the
# "cached" row is cached and the other host row is not.
export XDG_CACHE_HOME=$tmp/cache
for d in $DECOMPRESS; do
	if [ "$d" = host ]; then
		bench "vm-run --accel dbt, host decomp., no cache" env \
			VMKIT_KERNEL_CACHE=0 "$BUILD/vm-run" --accel dbt \
			--kernel-decompress host -m "$MEM" --kernel "$K" \
			--initrd "$I" --append "$APPEND"
		"$BUILD/vm-run" --accel dbt --console none -m "$MEM" \
			--kernel "$K" --initrd "$I" --append "$APPEND" \
			</dev/null >/dev/null 2>&1      # fills the cache
		bench "vm-run --accel dbt, host decomp., cached" \
			"$BUILD/vm-run" --accel dbt --kernel-decompress host \
			-m "$MEM" --kernel "$K" --initrd "$I" --append "$APPEND"
		continue
	fi
	bench "vm-run --accel dbt, $d decompression" "$BUILD/vm-run" \
		--accel dbt --kernel-decompress "$d" -m "$MEM" \
		--kernel "$K" --initrd "$I" --append "$APPEND"
done
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
	bench "vm-run --accel kvm" "$BUILD/vm-run" --accel kvm -m "$MEM" \
		--kernel "$K" --initrd "$I" --append "$APPEND"
fi
if [ "$QEMU" != 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	bench "qemu-system-x86_64 -accel tcg" qemu-system-x86_64 -accel tcg \
		-m "$MEM" -nographic -no-reboot -kernel "$K" -initrd "$I" \
		-append "$APPEND" -device virtio-rng-pci
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
		bench "qemu-system-x86_64 -M microvm kvm" qemu-system-x86_64 \
			-M microvm -accel kvm -m "$MEM" -nographic -no-reboot \
			-kernel "$K" -initrd "$I" -append "$APPEND"
	fi
fi
