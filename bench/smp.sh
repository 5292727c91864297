#!/bin/bash
# vmkit SMP benchmark: guest throughput at 1, 2 and 4 vCPUs, side by side
# with QEMU's multi-threaded TCG in the same run.
#
# The guest kit boots with --cpus N (QEMU: -smp N, whose TCG runs one host
# thread per vCPU on x86) and runs N workers at once, each summing an
# 8 MiB file (four copies of busybox, in tmpfs) with sha256sum four times;
# busybox's `time` (the guest's clock) takes the wall time of the whole
# set.  Throughput is N * 32 MiB / that time.  On a host with fewer cores
# than vCPUs the extra vCPUs share cores, so the ideal is min(N, cores)
# times the one-vCPU figure.  Each configuration runs $BENCH_RUNS times
# (default 3); the table shows the median time.
#
# usage: bench/smp.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
RUNS=${BENCH_RUNS:-3}
CPUS=${BENCH_SMP_CPUS:-1 2 4}
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# script N: the guest's command line for N workers
script() {
	local s="cat /bin/busybox /bin/busybox /bin/busybox /bin/busybox > /tmp/f;"
	s+=" time sh -c 'for w in \$(seq $1); do"
	s+=" (for r in 1 2 3 4; do sha256sum /tmp/f; done > /dev/null) & done; wait'"
	echo "console=ttyS0 quiet vmkit.run=\"$s\""
}

# seconds OUT: busybox time's "real" line in seconds
seconds() {
	tr -d '\r' < "$1" | awk '/^real/ {
		t = $0; sub(/^real[ \t]*/, "", t); m = 0; s = t
		if (t ~ /m/) { m = t; sub(/m.*/, "", m); s = t; sub(/.*m[ ]*/, "", s) }
		sub(/s.*/, "", s); printf "%.2f\n", m * 60 + s; exit }'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "NA")}'; }

# measure NAME N CMD...
measure() {
	local name=$1 n=$2 r; shift 2
	for r in $(seq "$RUNS"); do
		timeout 900 "$@" < /dev/null > "$tmp/out" 2>&1
		seconds "$tmp/out" >> "$tmp/$name.$n"
	done
}

have_qemu=0
command -v qemu-system-x86_64 >/dev/null && have_qemu=1
for n in $CPUS; do
	mem=$((256 + 64 * n))M
	measure dbt "$n" "$BUILD/vm-run" --accel dbt --cpus "$n" -m "$mem" \
		--kernel "$K" --initrd "$I" --append "$(script "$n")"
	[ $have_qemu = 1 ] && measure tcg "$n" qemu-system-x86_64 -accel tcg \
		-smp "$n" -m "$mem" -nographic -no-reboot -kernel "$K" -initrd "$I" \
		-append "$(script "$n")" -device virtio-rng-pci
done

echo "vmkit SMP bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "guest: Debian $(cat "$kit/VERSION") + busybox; N workers x 4 x sha256sum of 8 MiB; in-guest seconds, median of $RUNS"
echo
echo "| vCPUs | vm-run dbt s | MiB/s | qemu tcg s | MiB/s | dbt/tcg time |"
echo "|------:|-------------:|------:|-----------:|------:|-------------:|"
for n in $CPUS; do
	d=$(median < "$tmp/dbt.$n")
	t=NA; [ -e "$tmp/tcg.$n" ] && t=$(median < "$tmp/tcg.$n")
	rate() { [ "$1" != NA ] && [ -n "$1" ] && awk -v s="$1" -v n="$n" 'BEGIN { if (s > 0) printf "%.1f", n * 32 / s; else print "NA" }' || echo NA; }
	ratio=NA
	[ "$d" != NA ] && [ "$t" != NA ] && ratio=$(awk -v d="$d" -v t="$t" 'BEGIN { if (t > 0) printf "%.2f", d / t; else print "NA" }')
	printf '| %5s | %12s | %5s | %10s | %5s | %12s |\n' "$n" "$d" "$(rate "$d")" "$t" "$(rate "$t")" "$ratio"
done
