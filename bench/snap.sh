#!/bin/bash
# Snapshot save and restore of a running guest, beside QEMU's
# migrate-to-file in the same run.
#
# The guest (guest kit, $BENCH_MEM, default 512M, on the DBT) fills 128 MiB
# of its RAM with random bytes (a file in its initramfs), then idles.
# vm-run --save-on-usr1 saves it (zstd, and --fast-restore); the save time is
# the one vm-run logs (pause to resume).  Restore: vm-run --restore's own
# figure for applying the snapshot (checks, RAM, devices, vCPUs) and the
# wall time from starting vm-run to the guest's first console line after
# the restore.  QEMU (TCG): "migrate file:" on the monitor, its reported
# total time; -incoming exec:cat FILE until the guest's first console line
# (QEMU 7.2 has no file: transport).  "first insn": vm-run -v's figure
# from its own start to the vCPUs starting on the snapshot's state (no
# kernel read, the file checked and applied), BENCH_RUNS restores each.
#
# usage: bench/snap.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
MEM=${BENCH_MEM:-512M}
QEMU=${BENCH_QEMU:-1}
RUNS=${BENCH_RUNS:-3}           # restores per case (first-instruction times)
ONLY_FAST=${BENCH_ONLY_FAST:-0} # 1: the --fast-restore case only
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
SCRIPT='dd if=/dev/urandom of=/fill bs=1M count=128 2>/dev/null; echo filled; i=0; while :; do echo tick=$i; i=$((i+1)); sleep 1; done'
APPEND="console=ttyS0 quiet panic=-1 vmkit.run=\"$SCRIPT\""
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; kill $(jobs -p) 2>/dev/null' EXIT

wait_for() { # FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

now() { date +%s.%N; }

vmkit_case() { # NAME [--fast-restore]
	local name=$1 snap=$tmp/$1.snap pid save_ms rest_ms t0 t1 n size
	shift
	"$BUILD/vm-run" -v --accel dbt -m "$MEM" --kernel "$K" --initrd "$I" \
		--save-on-usr1 "$snap" "$@" --append "$APPEND" \
		</dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	wait_for "$tmp/$name.out" filled 600 || { echo "$name: no boot" >&2; kill $pid; return; }
	kill -USR1 $pid
	wait_for "$tmp/$name.err" "saved in" 600
	save_ms=$(sed -n 's/.*saved in \([0-9]*\) ms.*/\1/p' "$tmp/$name.err")
	kill $pid; wait $pid 2>/dev/null
	n=$(grep -c tick= "$tmp/$name.out")
	first=""
	for ((r = 0; r < RUNS; r++)); do
		# the files go first: the shell truncates them in the child it
		# forks, and a wait_for that runs before that finds the last
		# restore's tick at once (how the third 4 GiB restore "failed")
		rm -f "$tmp/$name.r.out" "$tmp/$name.r.err"
		t0=$(now)
		"$BUILD/vm-run" -v --restore "$snap" </dev/null >"$tmp/$name.r.out" 2>"$tmp/$name.r.err" &
		pid=$!
		wait_for "$tmp/$name.r.out" tick= 600 || echo "$name: restore $((r + 1)) printed no tick" >&2
		t1=$(now)
		kill $pid; wait $pid 2>/dev/null
		# vm-run -v: from its start to the vCPUs starting on the
		# snapshot's state (kernel not loaded, file checked)
		first="$first $(sed -n 's/.*first guest instruction \([0-9.]*\) ms.*/\1/p' "$tmp/$name.r.err")"
	done
	rest_ms=$(sed -n 's/.*restored .* in \([0-9]*\) ms.*/\1/p' "$tmp/$name.r.err")
	size=$(( $(stat -c %b "$snap") * 512 >> 20 ))
	printf '| %-28s | %8s | %11s | %-22s | %14.0f | %9s |\n' "$name" "$save_ms" \
		"$rest_ms" "${first# }" "$(echo "($t1 - $t0) * 1000" | bc)" "$size MiB"
}

qemu_case() {
	local mon=$tmp/mon pid t0 t1 ms size
	qemu-system-x86_64 -accel tcg -m "$MEM" -kernel "$K" -initrd "$I" \
		-append "$APPEND" -nographic -serial file:"$tmp/q.out" \
		-monitor unix:"$mon",server,nowait -display none -nodefaults \
		</dev/null >/dev/null 2>&1 &
	pid=$!
	wait_for "$tmp/q.out" filled 600 || { echo "qemu: no boot" >&2; kill $pid; return; }
	echo "migrate \"exec:cat > $tmp/q.mig\"" | socat - UNIX-CONNECT:"$mon" >/dev/null
	for _ in $(seq 600); do
		echo "info migrate" | socat - UNIX-CONNECT:"$mon" >"$tmp/q.info"
		grep -q 'completed' "$tmp/q.info" && break
		sleep 0.1
	done
	ms=$(sed -n 's/.*[Tt]otal time: \([0-9]*\) ms.*/\1/p' "$tmp/q.info" | head -1)
	kill $pid; wait $pid 2>/dev/null
	size=$(( $(stat -c %b "$tmp/q.mig") * 512 >> 20 ))
	rm -f "$mon" "$tmp/q2.out"
	t0=$(now)
	qemu-system-x86_64 -accel tcg -m "$MEM" -kernel "$K" -initrd "$I" \
		-append "$APPEND" -nographic -serial file:"$tmp/q2.out" \
		-monitor unix:"$mon",server,nowait -display none -nodefaults \
		-incoming "exec:cat $tmp/q.mig" </dev/null >/dev/null 2>&1 &
	pid=$!
	wait_for "$tmp/q2.out" tick= 600
	t1=$(now)
	kill $pid; wait $pid 2>/dev/null
	printf '| %-28s | %8s | %11s | %-22s | %14.0f | %9s |\n' "qemu tcg, migrate exec:cat" \
		"${ms:-NA}" "-" "-" "$(echo "($t1 - $t0) * 1000" | bc)" "$size MiB"
}

echo "snapshot of a running $MEM guest (128 MiB of it random bytes)"
echo
echo "host load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| configuration                | save ms  | apply ms    | first insn ms (each run) | to first line ms | file size |"
echo "|------------------------------|---------:|------------:|------------------------|---------------:|----------:|"
[ "$ONLY_FAST" = 1 ] || vmkit_case "vm-run dbt, zstd"
vmkit_case "vm-run dbt, --fast-restore" --fast-restore
echo
echo "host load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$QEMU" != 0 ] && [ "$ONLY_FAST" != 1 ] && command -v qemu-system-x86_64 >/dev/null; then
	qemu_case
fi
