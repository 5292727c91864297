#!/bin/bash
# vmkit SMP benchmark: guest throughput at 1, 2 and 4 vCPUs under the DBT
# with its vCPUs taking turns (VMKIT_DBT_SMP=serial, the default) and on
# their host threads at once (parallel), side by side with QEMU's
# multi-threaded TCG in the same run.
#
# The guest kit boots with --cpus N (QEMU: -smp N, whose TCG runs one host
# thread per vCPU on x86) and runs N workers at once, each summing an
# 8 MiB file (four copies of busybox, in tmpfs) with sha256sum four times;
# busybox's `time` (the guest's clock) takes the wall time of the whole
# set.  Throughput is N * 32 MiB / that time.  On a host with fewer cores
# than vCPUs the extra vCPUs share cores, so the ideal is min(N, cores)
# times the one-vCPU figure.  Each configuration runs $BENCH_RUNS times
# (default 3); the table shows the median time.  The configurations take
# turns run by run (serial, parallel, QEMU, then again), so a change in
# the host's load falls on all of them alike.  BENCH_SMP_CPUS picks the
# vCPU counts (default "1 2 4"), BENCH_SMP_QEMU=0 leaves QEMU out.  Never
# run it under SCHED_FIFO (chrt): QEMU's threads starve each other there.
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

# measure NAME N CMD...: one run, its in-guest seconds added to NAME.N
measure() {
	local name=$1 n=$2; shift 2
	timeout 900 "$@" < /dev/null > "$tmp/out" 2>&1
	seconds "$tmp/out" >> "$tmp/$name.$n"
}

have_qemu=0
[ "${BENCH_SMP_QEMU:-1}" != 0 ] && command -v qemu-system-x86_64 >/dev/null &&
	have_qemu=1
for r in $(seq "$RUNS"); do
	for n in $CPUS; do
		mem=$((256 + 64 * n))M
		for mode in serial parallel; do
			VMKIT_DBT_SMP=$mode measure "$mode" "$n" "$BUILD/vm-run" \
				--accel dbt --cpus "$n" -m "$mem" --kernel "$K" \
				--initrd "$I" --append "$(script "$n")"
		done
		[ $have_qemu = 1 ] && measure tcg "$n" qemu-system-x86_64 \
			-accel tcg -smp "$n" -m "$mem" -nographic -no-reboot \
			-kernel "$K" -initrd "$I" -append "$(script "$n")" \
			-device virtio-rng-pci
	done
done

echo "vmkit SMP bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "guest: Debian $(cat "$kit/VERSION") + busybox; N workers x 4 x sha256sum of 8 MiB; in-guest seconds, median of $RUNS"
echo
echo "| vCPUs | dbt serial s | MiB/s | dbt parallel s | MiB/s | parallel/serial time | qemu tcg s | MiB/s | parallel/tcg time |"
echo "|------:|-------------:|------:|---------------:|------:|---------------------:|-----------:|------:|------------------:|"
# rate S N: N * 32 MiB in S seconds
rate() {
	[ "$1" != NA ] && [ -n "$1" ] &&
		awk -v s="$1" -v n="$2" 'BEGIN { if (s > 0) printf "%.1f", n * 32 / s; else print "NA" }' ||
		echo NA
}
# ratio A B: A / B
ratio() {
	[ "$1" != NA ] && [ "$2" != NA ] && [ -n "$1" ] && [ -n "$2" ] &&
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "NA" }' ||
		echo NA
}
for n in $CPUS; do
	s=NA p=NA t=NA
	[ -e "$tmp/serial.$n" ] && s=$(median < "$tmp/serial.$n")
	[ -e "$tmp/parallel.$n" ] && p=$(median < "$tmp/parallel.$n")
	[ -e "$tmp/tcg.$n" ] && t=$(median < "$tmp/tcg.$n")
	printf '| %5s | %12s | %5s | %14s | %5s | %20s | %10s | %5s | %17s |\n' "$n" \
		"$s" "$(rate "$s" "$n")" "$p" "$(rate "$p" "$n")" "$(ratio "$p" "$s")" \
		"$t" "$(rate "$t" "$n")" "$(ratio "$p" "$t")"
done
echo
echo "every run, in the order run (in-guest seconds; a missing one failed):"
for n in $CPUS; do
	for name in serial parallel tcg; do
		[ -e "$tmp/$name.$n" ] && echo "  $name, $n vCPUs: $(tr '\n' ' ' < "$tmp/$name.$n")"
	done
done
