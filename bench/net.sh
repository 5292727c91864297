#!/bin/bash
# vmkit network benchmark: TCP throughput from guest to host through
# user-mode NAT, virtio-net and e1000, side by side with QEMU's user
# networking (the same libslirp) in the same run.
#
# The guest kit boots with vmkit.run= a script that sets 10.0.2.15/24 on
# eth0 and sends $BENCH_NET_MB MiB of zeros (dd | busybox nc) to a Python
# sink listening on the host's 127.0.0.1, reached as 10.0.2.2.  The sink
# times from its first byte to end of stream, so boot time is not in the
# figure.  Each configuration runs $BENCH_RUNS times (default 3); the
# table shows the median MiB/s, and the guest's interrupts from the card
# per MiB sent (from its /proc/interrupts after the transfer), a figure
# the host's load does not move much.  $BENCH_NET_MODELS (default
# "virtio e1000" when unset) picks vmkit's cards; set but empty, it runs
# none of them (QEMU's rows only).  BENCH_NET_QEMU=no leaves QEMU out.
#
# First, guest to guest (the "g2g" rows): two guest kits on a vm-net
# switch (10.0.3.1 sends $BENCH_NET_MB MiB to 10.0.3.2's nc), beside two
# QEMU TCG guests joined by -netdev socket,listen=/connect= on loopback.
# The sender times its own stream (see g2g below); QEMU's sender starts
# once its receiver listens.  BENCH_NET_G2G=no or
# BENCH_NET_NAT=no leaves one half out.
#
# Then HTTP (the "http" rows, BENCH_NET_HTTP=no leaves them out), with
# busybox httpd in the guest serving $BENCH_NET_MB MiB of random bytes
# from its tmpfs: "http nat" is curl on the host fetching it through a
# NAT forward (guest to host), "http g2g" a second guest's wget through a
# vm-net switch (guest to guest).  curl times its own transfer; the
# client guest times wget from /proc/uptime.  These are the rows that
# show virtio-net's offloads (TSO: the guest hands over 64 KiB frames);
# for a before/after, run the bench on two builds, with
# BENCH_NET_LABEL naming each in its rows.
#
# usage: bench/net.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build/rel}
RUNS=${BENCH_RUNS:-3}
MB=${BENCH_NET_MB:-32}
MEM=${BENCH_MEM:-256M}
# "-", not ":-": an empty BENCH_NET_MODELS means no vmkit cards, not both.
MODELS=${BENCH_NET_MODELS-virtio e1000}
for model in $MODELS; do
	case $model in
	virtio | e1000) ;;
	*) echo "bench/net.sh: BENCH_NET_MODELS: unknown model '$model' (virtio, e1000)" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir) || exit 1
K=$kit/vmlinuz I=$kit/initrd.gz
tmp=$(mktemp -d /tmp/vmkit-bench-net.XXXXXX); trap 'rm -rf "$tmp"' EXIT
# A runtime directory of our own, so that the VMs' control sockets do not
# meet other VMs called 'vm' on this host.
export XDG_RUNTIME_DIR=$tmp/rt
mkdir -m 700 "$XDG_RUNTIME_DIR"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# sink PORT OUT: one connection; "BYTES SECONDS" into OUT.
sink() {
	python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(600)
c, _ = s.accept(); n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    n += len(b)
open(sys.argv[2], "w").write("%d %.3f\n" % (n, time.monotonic() - (t0 or 0)))' "$@"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "NA")}'; }

# measure NAME CMD...: CMD gets the guest command line as its last word.
measure() {
	local name=$1; shift
	local r port app
	: > "$tmp/$name"
	: > "$tmp/$name.irq"
	for r in $(seq "$RUNS"); do
		port=$(free_port)
		sink "$port" "$tmp/res" &
		local spid=$!
		sleep 0.3
		app="console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ip route add default via 10.0.2.2; sleep 1; dd if=/dev/zero bs=65536 count=$((MB * 16)) 2>/dev/null | nc 10.0.2.2 $port; grep -E 'eth0|virtio.-(input|output)' /proc/interrupts | sed 's/^/irq: /'\""
		timeout 600 "$@" "$app" < /dev/null > "$tmp/out" 2>&1
		# A VM that never connected leaves the sink waiting: 10 s, then
		# the run is lost (and said so).
		local n=100
		while kill -0 "$spid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
		if kill -0 "$spid" 2>/dev/null; then
			kill "$spid"
			echo "bench/net.sh: $name: run $r failed: $(tail -1 "$tmp/out")" >&2
		fi
		wait "$spid" 2>/dev/null
		awk -v mb="$MB" '$1 == mb * 1048576 && $2 > 0 {printf "%.1f\n", $1 / 1048576 / $2}' \
			"$tmp/res" >> "$tmp/$name" 2>/dev/null
		awk -v mb="$MB" '/^irq: / {s += $3} END {if (s) printf "%d\n", s / mb}' \
			"$tmp/out" >> "$tmp/$name.irq"
		rm -f "$tmp/res"
	done
	cols+=("$name")
}

# g2g NAME RECV-CMD... -- SEND-CMD...: two guests on one network, the
# receiver started first; each command gets its guest command line as its
# last word.  The sender times (from /proc/uptime, 10 ms steps) from the
# start of its stream to nc's exit, which comes after the receiver has
# read the end of stream and closed: the whole transfer, not boot.
g2g() {
	local name=$1; shift
	local recv=() send=() r rpid a b
	while [ "$1" != -- ]; do recv+=("$1"); shift; done
	shift; send=("$@")
	: > "$tmp/$name"
	: > "$tmp/$name.irq"
	for r in $(seq "$RUNS"); do
		timeout 600 "${recv[@]}" "console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.3.2/24 dev eth0; ip link set eth0 up; nc -l -p 5001 >/dev/null; echo recv-done\"" \
			< /dev/null > "$tmp/recv.out" 2>&1 &
		rpid=$!
		# QEMU's -netdev socket,connect= that finds nobody listening
		# runs on unconnected (the cause of the lost e1000 runs of
		# 12-03): wait for the receiver's listen socket.
		if [ -n "${G2G_LISTEN:-}" ]; then
			local w=600
			until ss -Hltn "sport = :$G2G_LISTEN" | grep -q . || [ $w -le 0 ] ||
			    ! kill -0 "$rpid" 2>/dev/null; do
				sleep 0.1; w=$((w - 1))
			done
		fi
		timeout 600 "${send[@]}" "console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.3.1/24 dev eth0; ip link set eth0 up; n=0; until ping -c 1 -W 1 10.0.3.2 >/dev/null 2>&1 || [ \$n -ge 300 ]; do n=\$((n+1)); done; sleep 2; a=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero bs=65536 count=$((MB * 16)) 2>/dev/null | nc 10.0.3.2 5001; echo g2g \$a \$(cut -d' ' -f1 /proc/uptime); grep -E 'eth0|virtio.-(input|output)' /proc/interrupts | sed 's/^/irq: /'\"" \
			< /dev/null > "$tmp/send.out" 2>&1
		wait "$rpid" 2>/dev/null
		if ! grep -q recv-done "$tmp/recv.out" || ! grep -q '^g2g ' "$tmp/send.out"; then
			echo "bench/net.sh: $name: run $r failed: $(tail -1 "$tmp/send.out" | tr -d '\r')" >&2
			continue
		fi
		tr -d '\r' < "$tmp/send.out" | awk -v mb="$MB" '/^g2g / && $3 > $2 {printf "%.1f\n", mb / ($3 - $2)}' >> "$tmp/$name"
		tr -d '\r' < "$tmp/send.out" | awk -v mb="$MB" '/^irq: / {s += $3} END {if (s) printf "%d\n", s / mb}' >> "$tmp/$name.irq"
	done
	cols+=("$name")
}

LABEL=${BENCH_NET_LABEL:+$BENCH_NET_LABEL }
HTTP_SERVE="mkdir /www; dd if=/dev/urandom of=/www/f bs=1M count=$MB 2>/dev/null; httpd -p 80 -h /www; echo http-ready"

# http_nat NAME CMD...: the guest serves, curl on the host fetches through
# a forward; CMD gets --net and the guest command line as its last words.
http_nat() {
	local name=$1; shift
	local r fport pid n
	: > "$tmp/$name"
	: > "$tmp/$name.irq"
	for r in $(seq "$RUNS"); do
		fport=$(free_port)
		timeout 600 "$@" "nat,model=$model,forward=tcp:127.0.0.1:$fport:80" --append \
			"console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ip route add default via 10.0.2.2; $HTTP_SERVE; sleep 600\"" \
			< /dev/null > "$tmp/out" 2>&1 &
		pid=$!
		n=3000
		until grep -q http-ready "$tmp/out" || [ $n -le 0 ] || ! kill -0 $pid 2>/dev/null; do
			sleep 0.1; n=$((n - 1))
		done
		curl -s --max-time 300 -o /dev/null -w '%{size_download} %{speed_download}\n' \
			"http://127.0.0.1:$fport/f" > "$tmp/res" 2>/dev/null
		kill $pid 2>/dev/null; wait $pid 2>/dev/null
		awk -v mb="$MB" '$1 == mb * 1048576 && $2 > 0 {printf "%.1f\n", $2 / 1048576}' \
			"$tmp/res" >> "$tmp/$name"
		grep -q . "$tmp/res" && awk -v mb="$MB" '$1 == mb * 1048576 {ok=1} END {exit !ok}' "$tmp/res" ||
			echo "bench/net.sh: $name: run $r failed: $(tail -1 "$tmp/out" | tr -d '\r')" >&2
	done
	cols+=("$name")
}

# http_g2g NAME SWITCH CMD...: guest 10.0.3.1 serves, 10.0.3.2 fetches.
http_g2g() {
	local name=$1 sw=$2; shift 2
	local r spid
	: > "$tmp/$name"
	: > "$tmp/$name.irq"
	for r in $(seq "$RUNS"); do
		timeout 600 "$@" --name http-a --net "switch:$sw,model=$model,mac=52:54:00:00:04:01" --append \
			"console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.3.1/24 dev eth0; ip link set eth0 up; $HTTP_SERVE; sleep 600\"" \
			< /dev/null > "$tmp/srv.out" 2>&1 &
		spid=$!
		timeout 600 "$@" --name http-b --net "switch:$sw,model=$model,mac=52:54:00:00:04:02" --append \
			"console=ttyS0 quiet vmkit.modules=e1000 vmkit.run=\"ip addr add 10.0.3.2/24 dev eth0; ip link set eth0 up; n=0; until wget -q -O /dev/null http://10.0.3.1/none 2>&1 | grep -q 404 || [ \$n -ge 600 ]; do n=\$((n+1)); sleep 1; done; a=\$(cut -d' ' -f1 /proc/uptime); wget -q -O - http://10.0.3.1/f | wc -c | sed 's/^/bytes=/'; echo http \$a \$(cut -d' ' -f1 /proc/uptime)\"" \
			< /dev/null > "$tmp/cli.out" 2>&1
		kill $spid 2>/dev/null; wait $spid 2>/dev/null
		if ! tr -d '\r' < "$tmp/cli.out" | grep -q "bytes=$((MB * 1048576))"; then
			echo "bench/net.sh: $name: run $r failed: $(tail -1 "$tmp/cli.out" | tr -d '\r')" >&2
			continue
		fi
		tr -d '\r' < "$tmp/cli.out" | awk -v mb="$MB" '/^http / && $3 > $2 {printf "%.1f\n", mb / ($3 - $2)}' >> "$tmp/$name"
	done
	cols+=("$name")
}

cols=()
if [ "${BENCH_NET_HTTP:-yes}" != no ]; then
	for model in $MODELS; do
		[ "${BENCH_NET_NAT:-yes}" != no ] &&
			http_nat "${LABEL}http nat $model" "$BUILD/vm-run" --accel dbt -m "$MEM" \
				--no-reboot --kernel "$K" --initrd "$I" --net
		if [ "${BENCH_NET_G2G:-yes}" != no ]; then
			sw=benchh$$
			"$BUILD/vm-net" switch -d "$sw" || exit 1
			http_g2g "${LABEL}http g2g $model" "$sw" "$BUILD/vm-run" --accel dbt -m "$MEM" \
				--no-reboot --kernel "$K" --initrd "$I"
			"$BUILD/vm-net" stop "$sw" >/dev/null
		fi
	done
fi
[ "${BENCH_NET_TCP:-yes}" != no ] &&
if [ "${BENCH_NET_G2G:-yes}" != no ]; then
	for model in $MODELS; do
		sw=bench$$
		"$BUILD/vm-net" switch -d "$sw" || exit 1
		g2g "g2g vm-net switch $model" \
			"$BUILD/vm-run" --accel dbt -m "$MEM" --no-reboot --name g2g-b \
			--kernel "$K" --initrd "$I" --net "switch:$sw,model=$model,mac=52:54:00:00:03:02" --append -- \
			"$BUILD/vm-run" --accel dbt -m "$MEM" --no-reboot --name g2g-a \
			--kernel "$K" --initrd "$I" --net "switch:$sw,model=$model,mac=52:54:00:00:03:01" --append
		"$BUILD/vm-net" stop "$sw" >/dev/null
	done
	if [ "${BENCH_NET_QEMU:-yes}" != no ] && command -v qemu-system-x86_64 >/dev/null; then
		for dev in virtio-net-pci e1000; do
			qport=$(free_port)
			G2G_LISTEN=$qport g2g "g2g qemu socket ${dev%-net-pci}" \
				qemu-system-x86_64 -accel tcg -m "$MEM" -nographic -no-reboot \
				-kernel "$K" -initrd "$I" -netdev "socket,id=n0,listen=127.0.0.1:$qport" \
				-device "$dev,netdev=n0,mac=52:54:00:00:03:02" -append -- \
				qemu-system-x86_64 -accel tcg -m "$MEM" -nographic -no-reboot \
				-kernel "$K" -initrd "$I" -netdev "socket,id=n0,connect=127.0.0.1:$qport" \
				-device "$dev,netdev=n0,mac=52:54:00:00:03:01" -append
		done
	fi
fi
[ "${BENCH_NET_TCP:-yes}" != no ] && [ "${BENCH_NET_NAT:-yes}" != no ] &&
for model in $MODELS; do
	measure "vm-run dbt $model" "$BUILD/vm-run" --accel dbt -m "$MEM" --no-reboot \
		--kernel "$K" --initrd "$I" --net nat,model=$model --append
done
if [ "${BENCH_NET_TCP:-yes}" != no ] && [ "${BENCH_NET_NAT:-yes}" != no ] &&
    [ "${BENCH_NET_QEMU:-yes}" != no ] &&
    command -v qemu-system-x86_64 >/dev/null; then
	for dev in virtio-net-pci e1000; do
		measure "qemu tcg ${dev%-net-pci}" qemu-system-x86_64 -accel tcg -m "$MEM" \
			-nographic -no-reboot -kernel "$K" -initrd "$I" \
			-netdev user,id=n0 -device "$dev,netdev=n0" -append
	done
fi

echo "vmkit network bench: $(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "guest: Debian $(cat "$kit/VERSION") + busybox, $MEM RAM; TCP, $MB MiB, MiB/s, median of $RUNS;"
echo "g2g: guest to guest (vm-net switch, or QEMU's -netdev socket); others: guest to host through NAT"
echo "http: busybox httpd in the guest, curl on the host (nat) or wget in a second guest (g2g)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| %-26s | %8s | %9s | %s\n' "configuration" "MiB/s" "irqs/MiB" "runs (MiB/s; irqs/MiB)"
printf '|%s|%s|%s|%s\n' "----------------------------" "---------:" "----------:" "------"
for c in "${cols[@]}"; do
	printf '| %-26s | %8s | %9s | %s; %s\n' "$c" "$(median < "$tmp/$c")" \
		"$(median < "$tmp/$c.irq")" "$(tr '\n' ' ' < "$tmp/$c")" \
		"$(tr '\n' ' ' < "$tmp/$c.irq")"
done
