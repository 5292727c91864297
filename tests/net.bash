# Helpers for the network suites: free ports, background guests.

# free_port: a TCP port on 127.0.0.1 nobody listens on just now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN [SECONDS]: until FILE has a line matching PATTERN.
wait_for() {
	local f=$1 pat=$2 n=$((${3:-120} * 5))
	while [ $n -gt 0 ]; do
		grep -q -- "$pat" "$f" 2>/dev/null && return 0
		sleep 0.2
		n=$((n - 1))
	done
	echo "# no '$pat' in $f after ${3:-120} s:" >&3
	sed 's/^/#   /' "$f" | tail -20 >&3
	return 1
}

# guest_bg NAME SCRIPT VM-RUN-ARGS...: boot the guest kit on the DBT in
# the background, SCRIPT's lines typed at its shell; the console goes to
# $BATS_TEST_TMPDIR/NAME.log, the pid to $NAME_pid (killed in teardown).
guest_bg() {
	local name=$1 script=$2; shift 2
	printf '%s\n' "stty -echo" "$script" "poweroff -f" > "$BATS_TEST_TMPDIR/$name.in"
	timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M --name "$name" \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet" "$@" \
		< "$BATS_TEST_TMPDIR/$name.in" > "$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- &
	eval "${name}_pid=$!"
	BG_PIDS="${BG_PIDS:-} $!"
}

# guest_wait NAME: its exit status in $status, its console in $output.
guest_wait() {
	local pid
	eval "pid=\$${1}_pid"
	status=0
	wait "$pid" || status=$?
	output=$(tr -d '\r' < "$BATS_TEST_TMPDIR/$1.log")
}

kill_bg() {
	local p
	for p in ${BG_PIDS:-}; do
		kill "$p" 2>/dev/null || true
	done
	BG_PIDS=
}

# The udhcpc script the guest kit lacks: configure the lease it got.
UDHCPC_SCRIPT='printf "#!/bin/sh\n[ \$1 = bound ] || exit 0\nifconfig \$interface \$ip netmask \$subnet\nroute add default gw \$router\n" > /dhcp.sh; chmod +x /dhcp.sh'

# ping_peer_cmd ADDR PEER: a vmkit.run= command (no double quotes) that
# sets ADDR/24 on eth0, waits until PEER answers (100 tries at most),
# pings it 3 times and stays up 5 s more for the peer's own pings.
ping_peer_cmd() {
	printf '%s' "ip addr add $1/24 dev eth0; ip link set eth0 up; n=0; until ping -c 1 -W 1 $2 >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done; ping -c 3 $2; sleep 5"
}

# net_rt_setup: a runtime directory of the test's own, for switch sockets
# ($NETDIR).
net_rt_setup() {
	XDG_RUNTIME_DIR=$(mktemp -d /tmp/vmkit-rt.XXXXXX)
	export XDG_RUNTIME_DIR
	NETDIR=$XDG_RUNTIME_DIR/vmkit/net
}

# net_rt_teardown: background jobs killed, the switches in $NETDIR
# stopped, the runtime directory removed.
net_rt_teardown() {
	kill_bg
	local f
	for f in "$NETDIR"/*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$XDG_RUNTIME_DIR"
}
