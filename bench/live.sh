#!/bin/bash
# Live send (vm-snap send --live | vm-snap receive, through a pipe on this
# host) of a running guest: its downtime, pause to running again.
#
# The guest (guest kit, $BENCH_MEM, default 512M, on the DBT, a qcow2
# disk of $BENCH_DISK, default 16M, all of it written with a pattern on the
# host before the boot) fills 128 MiB of its RAM with random bytes, then
# counts on its console every 0.2 s.  vm-snap send --live reports how many pages
# went, in how many rounds, how long the source stood paused (final pause
# to the stream's end record written, the receiver reading it all) and
# when that pause began, and (since the disks go before the pause) the
# disk bytes sent before it and in it.  Downtime, pause to running: from that moment to
# receive's exit (its snapshot file fsynced, the folder renamed), plus the
# copy's restore to its first guest instruction (vm-run -v's own figure
# from its start); the shell's start of vm-snap restore is not counted.
#
# usage: bench/live.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
MEM=${BENCH_MEM:-512M}
DISK=${BENCH_DISK:-16M}
RUNS=${BENCH_RUNS:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
SCRIPT='dd if=/dev/urandom of=/fill bs=1M count=128 2>/dev/null; echo filled; i=0; while :; do echo count=$i; i=$((i+1)); sleep 0.2; done'
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; kill $(jobs -p) 2>/dev/null' EXIT
export XDG_STATE_HOME=$tmp/state

wait_for() { # FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

echo "live send of a running $MEM guest (128 MiB of it random bytes), a $DISK disk full of data, DBT, through a pipe"
echo
echo "host load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | pages | rounds | disk MiB before / in pause | source paused ms | pause to received ms | restore first insn ms | downtime ms | counts |"
echo "|----:|------:|-------:|---------------------------:|-----------------:|---------------------:|----------------------:|------------:|-------:|"
for ((r = 1; r <= RUNS; r++)); do
	d=$tmp/r$r
	mkdir -p "$d/web"
	qemu-img create -q -f qcow2 "$d/web/d.qcow2" "$DISK"
	qemu-io -f qcow2 -c "write -q -P 0x5a 0 $DISK" "$d/web/d.qcow2" >/dev/null
	printf 'memory: %s\nboot:\n  kernel: %s\n  initrd: %s\ndisks:\n  - file: d.qcow2\n' \
		"$MEM" "$kit/vmlinuz" "$kit/initrd.gz" >"$d/web/vm.yaml"
	"$BUILD/vm-run" --accel dbt "$d/web" --append "console=ttyS0 quiet panic=-1 vmkit.run=\"$SCRIPT\"" \
		</dev/null >"$d/run1.out" 2>"$d/run1.err" &
	pid=$!
	wait_for "$d/run1.out" 'count=5' 600 || { echo "run $r: no boot" >&2; kill $pid; continue; }
	"$BUILD/vm-snap" send --live "$d/web" s1 2>"$d/send.err" | "$BUILD/vm-snap" receive "$d/web2" >/dev/null
	t_recv=$(date +%s.%N)
	wait $pid 2>/dev/null
	line=$(grep 'sent live' "$d/send.err")
	pages=$(sed -n 's/.*sent live: \([0-9]*\) pages.*/\1/p' <<<"$line")
	rounds=$(sed -n 's/.* \([0-9]*\) rounds after.*/\1/p' <<<"$line")
	paused=$(sed -n 's/.*paused \([0-9.]*\) ms.*/\1/p' <<<"$line")
	at=$(sed -n 's/.*(from \([0-9.]*\)).*/\1/p' <<<"$line")
	# a build that sends the disks whole in the pause says nothing of them
	dpre=$(sed -n 's/.*disks: \([0-9]*\) bytes before.*/\1/p' <<<"$line")
	dpause=$(sed -n 's/.*before the pause, \([0-9]*\) in it.*/\1/p' <<<"$line")
	disk="all in the pause"
	[ -n "$dpre" ] && disk="$(echo "scale=1; $dpre / 1048576" | bc) / $(echo "scale=2; $dpause / 1048576" | bc)"
	last=$(tr -d '\r' <"$d/run1.out" | sed -n 's/^count=\([0-9]*\)$/\1/p' | tail -n 1)
	"$BUILD/vm-snap" restore "$d/web2" s1 -v </dev/null >"$d/run2.out" 2>"$d/run2.err" &
	pid=$!
	wait_for "$d/run2.out" "count=$((last + 2))" 600
	kill $pid; wait $pid 2>/dev/null
	first=$(tr -d '\r' <"$d/run2.out" | sed -n 's/^count=\([0-9]*\)$/\1/p' | head -n 1)
	insn=$(sed -n 's/.*first guest instruction \([0-9.]*\) ms.*/\1/p' "$d/run2.err")
	recv_ms=$(echo "($t_recv - $at) * 1000" | bc)
	printf '| %3d | %5s | %6s | %26s | %16s | %20.1f | %21s | %11.1f | %s..%s |\n' "$r" "$pages" "$rounds" "$disk" \
		"$paused" "$recv_ms" "${insn:-NA}" "$(echo "$recv_ms + ${insn:-0}" | bc)" "$last" "$first"
	rm -rf "$d"
done
echo
echo "host load after: $(cut -d' ' -f1-3 /proc/loadavg)"
