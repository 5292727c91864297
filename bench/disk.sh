#!/bin/bash
# Disk image convert throughput, vm-disk and qemu-img side by side in the
# same run, on one source image: $BENCH_DISK_MIB MiB (default 4096, the
# issue's 4 GiB), half data (incompressible and text, alternating 32 MiB
# runs) and half holes.  $BENCH_DISK_ROWS=issue runs only the issue's
# three conversions (raw -> qcow2, qcow2 -> raw, qcow2 -> streamOptimized
# VMDK); plain only the first two; the default, all, adds compressed
# qcow2 output.
# Each conversion runs $BENCH_RUNS times (default 3), vm-disk and
# qemu-img taking turns, each after a sync; the table shows the median
# wall time and the throughput over the virtual size.  The output
# is synced before the clock stops (vm-disk syncs; qemu-img runs with -t
# writeback and a sync after), and the page cache holds the source.
#
# A second build directory, BASE, adds a column: its vm-disk, taking
# turns with the other two.
#
# usage: bench/disk.sh BUILD_DIR [BASE_BUILD_DIR]
set -uo pipefail
BUILD=${1:-build/rel}
RUNS=${BENCH_RUNS:-3}
MIB=${BENCH_DISK_MIB:-4096}
ROWS=${BENCH_DISK_ROWS:-all}
VD=$BUILD/vm-disk
BASE=${2:-}
command -v qemu-img >/dev/null || { echo "qemu-img not installed" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/vmkit-bench.XXXXXX"); trap 'rm -rf "$tmp"' EXIT

# the source: 32 MiB of data, 32 MiB hole, repeated; data alternates
# random bytes and text
head -c 32M /dev/urandom > "$tmp/rnd"
yes 'vmkit disk benchmark line of text 0123456789' | head -c 32M > "$tmp/txt"
truncate -s ${MIB}M "$tmp/src.raw"
for ((i = 0; i < MIB / 64; i++)); do
	f=$tmp/rnd; [ $((i % 2)) -eq 1 ] && f=$tmp/txt
	dd if="$f" of="$tmp/src.raw" bs=1M seek=$((i * 64)) conv=notrunc status=none
done
qemu-img convert -O qcow2 "$tmp/src.raw" "$tmp/src.qcow2"
sync     # the source written back before the clock runs

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_it CMD...: wall seconds of CMD followed by sync of the output
time_it() {
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; echo 0; return; }
	sync
	e=$(date +%s.%N)
	echo "$e - $s" | bc
}

row() { # name, then the two commands as strings; the runs take turns
	local name=$1 vm=$2 q=$3 tv tq tb r
	: > "$tmp/tv"; : > "$tmp/tq"; : > "$tmp/tb"
	for ((r = 0; r < RUNS; r++)); do
		rm -f "$tmp/out"; sync; time_it sh -c "$vm" >> "$tmp/tv"
		rm -f "$tmp/out"; sync; time_it sh -c "$q" >> "$tmp/tq"
		[ -n "$BASE" ] || continue
		rm -f "$tmp/out"; sync; time_it sh -c "${vm/#$VD/$BASE/vm-disk}" >> "$tmp/tb"
	done
	tv=$(median < "$tmp/tv"); tq=$(median < "$tmp/tq")
	printf '| %s | %.2f s (%.0f MiB/s) | %.2f s (%.0f MiB/s) |' "$name" \
		"$tv" "$(echo "$MIB / $tv" | bc -l)" "$tq" "$(echo "$MIB / $tq" | bc -l)"
	if [ -n "$BASE" ]; then
		tb=$(median < "$tmp/tb")
		printf ' %.2f s (%.0f MiB/s) |' "$tb" "$(echo "$MIB / $tb" | bc -l)"
	fi
	echo
	echo "  vm-disk: $(tr '\n' ' ' < "$tmp/tv"); qemu-img: $(tr '\n' ' ' < "$tmp/tq")${BASE:+; base: $(tr '\n' ' ' < "$tmp/tb")}" >&2
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if [ -n "$BASE" ]; then
	echo "| convert ($MIB MiB virtual, half data, half holes) | vm-disk | qemu-img | vm-disk $BASE |"
	echo "|---|---:|---:|---:|"
else
	echo "| convert ($MIB MiB virtual, half data, half holes) | vm-disk | qemu-img |"
	echo "|---|---:|---:|"
fi
S=$tmp/src.raw Q=$tmp/src.qcow2 O=$tmp/out
row "raw -> qcow2" "$VD convert -O qcow2 $S $O" "qemu-img convert -t writeback -O qcow2 $S $O"
row "qcow2 -> raw" "$VD convert -O raw $Q $O" "qemu-img convert -t writeback -O raw $Q $O"
[ "$ROWS" = plain ] && exit 0
if [ "$ROWS" = all ]; then
row "raw -> qcow2 -c (zlib)" "$VD convert -c -O qcow2 $S $O" "qemu-img convert -t writeback -c -O qcow2 $S $O"
row "raw -> qcow2 -c (zstd)" "$VD convert -c -O qcow2 -o compression_type=zstd $S $O" "qemu-img convert -t writeback -c -O qcow2 -o compression_type=zstd $S $O"
fi
row "qcow2 -> vmdk streamOptimized" "$VD convert -O vmdk -o subformat=streamOptimized $Q $O" "qemu-img convert -t writeback -O vmdk -o subformat=streamOptimized $Q $O"
