#!/usr/bin/env bats
# Switches under stress and across hosts, with guest kit guests on the DBT
# and the Linux kernel of a network namespace as the peers:
# - two "hosts" (two network namespaces joined by a veth pair, each with
#   its own runtime directory and switch) whose switches are joined by
#   vm-net plug through a TCP connection (socat): a guest on each side
#   pings the other and fetches a file from it;
# - a guest killed in the middle of a transfer, frames of bad length and a
#   port flooding made-up MACs, while the kernel of a namespace (bridged in
#   with vm-net tap) keeps pinging and fetching from another guest.

load helpers
load net

setup() {
	net_rt_setup
	NSA= NSB= RTA= RTB=
}

teardown() {
	net_rt_teardown
	local d f
	for d in "$RTA" "$RTB"; do
		[ -n "$d" ] || continue
		for f in "$d"/vmkit/net/*.pid; do
			[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
		done
		rm -rf "$d"
	done
	for d in "$NSA" "$NSB"; do
		[ -n "$d" ] && ip netns del "$d" 2>/dev/null
	done
	true
}

need_guests() {
	require_root
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

# in_ns NS RUNDIR CMD...: CMD in namespace NS with RUNDIR as its
# XDG_RUNTIME_DIR (another host's switches).
in_ns() {
	local ns=$1 rt=$2; shift 2
	ip netns exec "$ns" env XDG_RUNTIME_DIR="$rt" "$@"
}

# nports RUNDIR NAME: how many ports switch NAME has.
nports() {
	XDG_RUNTIME_DIR=$1 "$VM_NET" status --json "$2" | jq '.ports | length'
}

@test "dbt: two hosts (namespaces) whose switches are joined by vm-net plug over TCP: their guests ping each other and move a file" {
	need_guests
	command -v socat >/dev/null || skip "socat is not installed"
	cd "$BATS_TEST_TMPDIR"
	NSA=vmkit-la-$$ NSB=vmkit-lb-$$
	ip netns add "$NSA" 2>/dev/null || skip "cannot make a network namespace"
	ip netns add "$NSB"
	ip -n "$NSA" link add vmkla type veth peer name vmklb netns "$NSB"
	ip -n "$NSA" addr add 10.0.77.1/24 dev vmkla
	ip -n "$NSB" addr add 10.0.77.2/24 dev vmklb
	for ns in "$NSA" "$NSB"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NSA" link set vmkla up
	ip -n "$NSB" link set vmklb up
	RTA=$(mktemp -d /tmp/vmkit-rta.XXXXXX)
	RTB=$(mktemp -d /tmp/vmkit-rtb.XXXXXX)
	in_ns "$NSA" "$RTA" "$VM_NET" switch -d left
	in_ns "$NSB" "$RTB" "$VM_NET" switch -d right
	in_ns "$NSB" "$RTB" socat TCP-LISTEN:4790,bind=10.0.77.2,reuseaddr \
		EXEC:"$VM_NET plug right" 2> socat-b.log 3>&- &
	BG_PIDS="$!"
	for _ in $(seq 50); do
		ip netns exec "$NSB" ss -ltn | grep -q 10.0.77.2:4790 && break
		sleep 0.1
	done
	in_ns "$NSA" "$RTA" socat TCP:10.0.77.2:4790 EXEC:"$VM_NET plug left" \
		2> socat-a.log 3>&- &
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 50); do
		[ "$(nports "$RTA" left)" = 1 ] && [ "$(nports "$RTB" right)" = 1 ] && break
		sleep 0.1
	done
	run1="httpd -p 80 -h /bin; $(ping_peer_cmd 10.0.3.1 10.0.3.2); nc -l -p 9001 </dev/null"
	run2="$(ping_peer_cmd 10.0.3.2 10.0.3.1); wget -q -O - http://10.0.3.1/busybox | md5sum | sed s/^/fetched=/; n=0; until echo done | nc 10.0.3.1 9001 || [ \$n -ge 60 ]; do n=\$((n+1)); sleep 1; done"
	i=0
	for side in "$NSA $RTA left" "$NSB $RTB right"; do
		set -- $side
		i=$((i + 1))
		eval "cmd=\$run$i"
		timeout 300 ip netns exec "$1" env XDG_RUNTIME_DIR="$2" "$VM_RUN" \
			--accel dbt --no-reboot -m 256M --name vm$i \
			--kernel "$KERNEL" --initrd "$INITRD" --net switch:$3 \
			--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$cmd\"" \
			</dev/null > vm$i.log 2>&1 3>&- &
		eval "vm${i}_pid=$!"
	done
	wait "$vm1_pid"; s1=$?
	wait "$vm2_pid"; s2=$?
	left_json=$(XDG_RUNTIME_DIR=$RTA "$VM_NET" status --json left)
	is "$s1 $s2" "0 0" "both guests powered off"
	is "$(cat vm1.log)" "*3 packets transmitted, 3 packets received*" "the guest on host A pings the one on host B"
	is "$(cat vm2.log)" "*3 packets transmitted, 3 packets received*" "the guest on host B pings the one on host A"
	md5=$(md5sum < "$GUESTKIT/busybox" | cut -d' ' -f1)
	is "$(cat vm2.log)" "*fetched=$md5*" "host B's guest fetched host A's busybox through the plug, intact"
	# The only way between the two switches is the plug: its port on the
	# left switch carried the frames.
	is "$(jq '.ports | length' <<<"$left_json")" 1 "only the plug is left on host A's switch"
	[ "$(jq '.ports[0].tx_bytes' <<<"$left_json")" -gt 1000000 ]
	# From host B: its pings and ping replies, ARP, the TCP handshakes and
	# the ACKs of the transfer (how many ACKs depends on how many segments
	# the receiving guest's GRO merges, so only a floor is certain).
	[ "$(jq '.ports[0].rx_frames' <<<"$left_json")" -gt 10 ]
}

@test "dbt: a guest killed mid-transfer, bad frames and a MAC flood: the namespace's kernel still pings and fetches from another guest" {
	need_guests
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	cd "$BATS_TEST_TMPDIR"
	NSA=vmkit-lk-$$
	ip netns add "$NSA" 2>/dev/null || skip "cannot make a network namespace"
	ip -n "$NSA" link set lo up
	ip -n "$NSA" tuntap add dev vmklt mode tap
	ip -n "$NSA" addr add 10.0.3.9/24 dev vmklt
	ip -n "$NSA" link set vmklt up
	"$VM_NET" switch -d lank
	ip netns exec "$NSA" "$VM_NET" tap lank vmklt > tap.log 2>&1 3>&- &
	BG_PIDS="$!"
	guest_bg srv "ip addr add 10.0.3.1/24 dev eth0; ip link set eth0 up
httpd -p 80 -h /bin
echo =UP''=
nc -l -p 9001 </dev/null" --net switch:lank
	wait_for srv.log "=UP=" 250
	# The victim fetches busybox from srv over and over until it is killed.
	printf '%s\n' "stty -echo" "ip addr add 10.0.3.2/24 dev eth0; ip link set eth0 up" \
		"while :; do wget -q -O /dev/null http://10.0.3.1/busybox && echo =GOT''=; done" \
		> victim.in
	"$VM_RUN" --accel dbt --no-reboot -m 256M --name victim \
		--kernel "$KERNEL" --initrd "$INITRD" --net switch:lank \
		--append "console=ttyS0 panic=-1 quiet" < victim.in > victim.log 2>&1 3>&- &
	victim=$!
	BG_PIDS="$BG_PIDS $victim"
	wait_for victim.log "=GOT=" 250
	# Mid-transfer: the guest's port is busy when it dies.
	before=$(grep -c =GOT= victim.log)
	for _ in $(seq 100); do
		[ "$(grep -c =GOT= victim.log)" -gt "$before" ] && break
		sleep 0.05
	done
	kill -9 "$victim"
	wait "$victim" || true
	# A port that sends frames of bad length and floods made-up MACs.
	run_tool 0 python3 - "$NETDIR/lank.sock" "$VM_NET" <<'PY'
import json, os, socket, subprocess, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"abc")
s.send(b"")
s.send(b"z" * 65537)
for i in range(300):
    s.send(b"\xff" * 6 + bytes([2, 0, 0, 1, i // 256, i % 256]) + b"\x08\x06" + b"f" * 46)
s.send(b"abc")
s.send(b"\x01" * 13)
st = json.loads(subprocess.run([sys.argv[2], "status", "--json", "lank"],
    capture_output=True, text=True, check=True).stdout)
me = [p for p in st["ports"] if p["pid"] == os.getpid()][0]
print("bad", me["rx_bad"], "macs", len(me["macs"]), "refused", me["macs_refused"])
PY
	is "$output" "bad 5 macs 64 refused 236" "the switch counted the bad frames and held the flooder to 64 MACs"
	run ip netns exec "$NSA" busybox ping -c 3 -W 5 10.0.3.1
	ping_out=$output
	got=$(ip netns exec "$NSA" curl -s --max-time 60 http://10.0.3.1/busybox | md5sum | cut -d' ' -f1)
	run_tool 0 "$VM_NET" status --json lank
	status_json=$output
	ip netns exec "$NSA" python3 -c 'import socket; socket.create_connection(("10.0.3.1", 9001), 10).send(b"done\n")' || true
	guest_wait srv
	srv_status=$status
	is "$ping_out" "*3 packets transmitted, 3 packets received*" "the namespace pings srv after the victim died"
	is "$got" "$(md5sum < "$GUESTKIT/busybox" | cut -d' ' -f1)" "the namespace fetches busybox from srv, intact"
	is "$(jq '.ports | length' <<<"$status_json")" 2 "the victim's and the bad port's ports are gone; srv and the tap remain"
	is "$srv_status" 0 "srv powered off normally"
	"$VM_NET" stop lank
}
