#!/bin/bash
# vmkit CPU benchmark: in-guest work timed by the guest, side by side with
# QEMU in the same run.
#
# The guest kit boots with vmkit.run= a script that builds an 8 MiB file
# from four copies of busybox in tmpfs and times, with busybox's `time`
# (0.01 s resolution, the guest's clock, which follows the host's on every
# configuration measured here), each workload: md5sum, sha256sum and
# gzip -c of the file, a shell loop of 30000 arithmetic iterations, and
# 200 fork+exec of /bin/true.  Each configuration runs $BENCH_RUNS times
# (default 3), the configurations taking turns; the table shows the
# median per workload and the sum of the medians.
#
# With more than one build directory, each further one gets a column of
# its own ("dbt 2", "dbt 3"... in the order given), taking its turn in every round: an A/B of two
# builds of vm-run, side by side with QEMU.  $BENCH_QEMU=0 leaves QEMU out.
#
# usage: bench/cpu.sh BUILD_DIR [OTHER_BUILD_DIR...]
set -uo pipefail
BUILD=${1:-build/rel}
OTHERS=("${@:2}")
QEMU=${BENCH_QEMU:-1}
RUNS=${BENCH_RUNS:-3}
MEM=${BENCH_MEM:-512M}
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
WORKLOADS="md5sum sha256sum gzip loop fork"

script="cat /bin/busybox /bin/busybox /bin/busybox /bin/busybox > /tmp/f;"
script+=" echo W md5sum; time md5sum /tmp/f;"
script+=" echo W sha256sum; time sha256sum /tmp/f;"
script+=" echo W gzip; time gzip -c /tmp/f > /dev/null;"
script+=" echo W loop; time sh -c 'i=0; while [ \$i -lt 30000 ]; do i=\$((i+1)); done';"
script+=" echo W fork; time sh -c 'for i in \$(seq 200); do /bin/true; done'"
APPEND="console=ttyS0 quiet vmkit.run=\"$script\""

# parse OUT: "name seconds" per workload, from "W name" then "real ...".
parse() {
	tr -d '\r' < "$1" | awk '
		/^W / { w = $2 }
		/^real/ && w != "" {
			t = $0; sub(/^real[ \t]*/, "", t)
			m = 0; s = t
			if (t ~ /m/) { m = t; sub(/m.*/, "", m); s = t; sub(/.*m[ ]*/, "", s) }
			sub(/s.*/, "", s)
			printf "%s %.2f\n", w, m * 60 + s; w = ""
		}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "NA")}'; }

# The host's CPU ticks: "steal total" from /proc/stat's cpu line (steal is
# time the hypervisor under this host gave to someone else: on a shared
# host it, not the code measured, can decide a figure).
ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }
steal=()

# run NAME CMD...: one boot of CMD, its figures appended to $tmp/NAME.W
# and the host's steal ticks over it added to NAME's.
declare -A st_steal st_total
run() {
	local name=$1; shift
	local w t0 t1
	t0=$(ticks)
	timeout 600 "$@" < /dev/null > "$tmp/out" 2>&1
	t1=$(ticks)
	parse "$tmp/out" > "$tmp/p"
	for w in $WORKLOADS; do
		awk -v w="$w" '$1 == w {print $2}' "$tmp/p" >> "$tmp/$name.$w"
	done
	read -r a b c d <<<"$t0 $t1"
	st_steal[$name]=$(( ${st_steal[$name]:-0} + c - a ))
	st_total[$name]=$(( ${st_total[$name]:-0} + d - b ))
}

cols=()
declare -A cmd
cols+=("vm-run dbt")
cmd["vm-run dbt"]="$BUILD/vm-run --accel dbt -m $MEM"
n=1
for o in "${OTHERS[@]}"; do
	n=$((n + 1))
	cols+=("dbt $n")
	cmd["dbt $n"]="$o/vm-run --accel dbt -m $MEM"
done
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
	cols+=("vm-run kvm")
	cmd["vm-run kvm"]="$BUILD/vm-run --accel kvm -m $MEM"
fi
if [ "$QEMU" != 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	cols+=("qemu tcg")
	cmd["qemu tcg"]="qemu-system-x86_64 -accel tcg -m $MEM -nographic -no-reboot -device virtio-rng-pci"
fi
# The configurations take turns, round by round, so that a spell of
# load or steal on the host falls on all of them alike rather than on
# whichever ran through it.
for r in $(seq "$RUNS"); do
	for c in "${cols[@]}"; do
		# shellcheck disable=SC2086 # the command's words
		run "$c" ${cmd[$c]} --kernel "$K" --initrd "$I" --append "$APPEND"
	done
done
for c in "${cols[@]}"; do
	steal+=("$(awk -v s="${st_steal[$c]}" -v t="${st_total[$c]}" 'BEGIN {printf "%.0f", (t > 0 ? 100 * s / t : 0)}')")
done

echo "vmkit CPU bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "guest: Debian $(cat "$kit/VERSION") + busybox, $MEM RAM; in-guest seconds, median of $RUNS"
n=1
for o in "${OTHERS[@]}"; do
	n=$((n + 1)); echo "dbt $n: $o/vm-run (vm-run dbt: $BUILD/vm-run)"
done
echo
hdr="| workload  |"; sep="|-----------|"
for c in "${cols[@]}"; do hdr+=$(printf ' %12s |' "$c"); sep+="-------------:|"; done
[ -e "$tmp/qemu tcg.md5sum" ] && { hdr+=" dbt/tcg |"; sep+="--------:|"; }
echo "$hdr"; echo "$sep"
declare -A total val
for w in $WORKLOADS total; do
	line=$(printf '| %-9s |' "$w")
	for c in "${cols[@]}"; do
		if [ "$w" = total ]; then v=${total[$c]:-NA}
		else
			v=$(median < "$tmp/$c.$w" 2>/dev/null)
			[ -n "$v" ] || v=NA
			[ "$v" != NA ] && total[$c]=$(echo "${total[$c]:-0} + $v" | bc)
		fi
		line+=$(printf ' %12s |' "$v")
		val[$c]=$v
	done
	if [ -e "$tmp/qemu tcg.md5sum" ]; then
		d=${val[vm-run dbt]} t=${val[qemu tcg]}
		if [ "$d" != NA ] && [ "$t" != NA ] && [ "$(echo "$t > 0" | bc)" = 1 ]; then
			line+=$(printf ' %7.2f |' "$(echo "scale=3; $d / $t" | bc)")
		else
			line+="      NA |"
		fi
	fi
	echo "$line"
done
echo
# Load and steal only ever add time: the best run of each workload is the
# figure least disturbed by them, given beside the medians.
line="best of $RUNS, summed over the workloads:"
declare -A best
for c in "${cols[@]}"; do
	best[$c]=$(for w in $WORKLOADS; do sort -n "$tmp/$c.$w" 2>/dev/null | head -1; done | awk '{s += $1; n++} END {if (n) printf "%.2f", s; else print "NA"}')
	line+=" ${c} ${best[$c]},"
done
if [ -e "$tmp/qemu tcg.md5sum" ] && [ "${best[vm-run dbt]}" != NA ] && [ "${best[qemu tcg]}" != NA ]; then
	line+=" dbt/tcg $(echo "scale=3; ${best[vm-run dbt]} / ${best[qemu tcg]}" | bc | sed 's/^\./0./')"
fi
echo "${line%,}"
for k in "${!cols[@]}"; do
	echo "steal while ${cols[$k]} ran: ${steal[$k]}% of the host's CPU time"
done
