#!/usr/bin/env bats
# vm-net vxlan against the Linux kernel's own vxlan device, in two network
# namespaces the test makes (joined by a veth pair): a guest kit guest on
# the switch pings the kernel's address behind the vxlan device, and the
# kernel pings the guest; tshark on the veth decodes the VXLAN (RFC 7348)
# datagrams.  Hostile datagrams (short, no I flag, another VNI, from
# another address) are counted and dropped while the tunnel
# carries on.

load helpers
load net

setup() {
	net_rt_setup
	NSA= NSB=
}

teardown() {
	net_rt_teardown
	local d
	for d in "$NSA" "$NSB"; do
		[ -n "$d" ] && ip netns del "$d" 2>/dev/null
	done
	true
}

# Namespace A (vm-net vxlan, 10.0.66.1 and 10.0.66.3) and B (the kernel's
# vx0 device, VNI 42, 10.0.42.1 behind it), joined by a veth pair.
vxlan_netns() {
	require_root
	NSA=vmkit-vxa-$$ NSB=vmkit-vxb-$$
	ip netns add "$NSA" 2>/dev/null || skip "cannot make a network namespace"
	ip netns add "$NSB"
	ip -n "$NSA" link add vmkxa type veth peer name vmkxb netns "$NSB"
	ip -n "$NSA" addr add 10.0.66.1/24 dev vmkxa
	ip -n "$NSA" addr add 10.0.66.3/24 dev vmkxa
	ip -n "$NSB" addr add 10.0.66.2/24 dev vmkxb
	for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
	ip -n "$NSA" link set vmkxa up
	ip -n "$NSB" link set vmkxb up
	ip -n "$NSB" link add vx0 type vxlan id 42 remote 10.0.66.1 local 10.0.66.2 \
		dstport 4789 2>/dev/null || skip "the host kernel has no vxlan devices"
	ip -n "$NSB" addr add 10.0.42.1/24 dev vx0
	ip -n "$NSB" link set vx0 up
}

@test "vm-net vxlan: usage errors name the option and the problem" {
	run_tool 0 "$VM_NET" vxlan --help
	is "$output" "usage: vm-net vxlan*--remote ADDR*--vni N*"
	run_tool 2 "$VM_NET" vxlan --vni 1 lan0
	is "$output" "vm-net: vxlan: give --remote and --vni*"
	run_tool 2 "$VM_NET" vxlan --remote 10.0.0.1 lan0
	is "$output" "vm-net: vxlan: give --remote and --vni*"
	run_tool 2 "$VM_NET" vxlan --remote 10.0.0.1 --vni 16777216 lan0
	is "$output" "vm-net: --vni: '16777216' is not a VNI (0 to 16777215)"
	run_tool 2 "$VM_NET" vxlan --remote host.example --vni 1 lan0
	is "$output" "vm-net: --remote: 'host.example' is not ADDR\[:PORT\]*"
	run_tool 2 "$VM_NET" vxlan --remote 10.0.0.1:0 --vni 1 lan0
	is "$output" "vm-net: --remote: '10.0.0.1:0' is not ADDR\[:PORT\]*"
	run_tool 2 "$VM_NET" vxlan --remote 10.0.0.1 --local 10.0.0.2:99999 --vni 1 lan0
	is "$output" "vm-net: --local: '10.0.0.2:99999' is not ADDR\[:PORT\]*"
	run_tool 1 "$VM_NET" vxlan --remote 127.0.0.1 --local 127.0.0.1:$(free_port) --vni 1 nosuch
	is "$output" "vm-net: switch nosuch is not running*"
}

@test "vm-net vxlan: hostile datagrams are refused and counted; the kernel's vxlan device still reaches a port of the switch" {
	vxlan_netns
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lanx
	ip netns exec "$NSA" "$VM_NET" vxlan --remote 10.0.66.2 --local 10.0.66.1 --vni 42 lanx \
		2> vxlan.log 3>&- &
	vx=$!
	BG_PIDS="$vx"
	for _ in $(seq 50); do
		[ "$("$VM_NET" status --json lanx | jq '.ports | length')" = 1 ] && break
		sleep 0.1
	done
	# A raw port on the switch answers the kernel's ARP for 10.0.42.2, and
	# counts the frames it is given.
	python3 - "$NETDIR/lanx.sock" > port.log 2>&1 3>&- <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
me = bytes.fromhex("525400424202")
ip = bytes([10, 0, 42, 2])
n = 0
while True:
    f = s.recv(70000)
    if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01" and f[38:42] == ip:
        s.send(f[6:12] + me + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02" + me + ip + f[22:32] + b"\x00" * 18)
        n += 1
        print("arp-reply", n, flush=True)
PY
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 50); do
		[ "$("$VM_NET" status --json lanx | jq '.ports | length')" = 2 ] && break
		sleep 0.1
	done
	# Hostile datagrams at vm-net vxlan's socket: from the remote, too
	# short, without the I flag, of another VNI, a frame too short, an
	# empty one; from an address that is not the remote, a good one.
	run_tool 0 ip netns exec "$NSB" python3 - <<'PY'
import socket
eth = b"\xff" * 6 + bytes.fromhex("020000000099") + b"\x08\x06" + b"h" * 46
good = b"\x08\x00\x00\x00\x00\x00\x2a\x00"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.66.2", 0))
for d in (b"\x08", b"", good[:7], b"\x00" * 8 + eth, b"\x08\x00\x00\x00\x00\x00\x2b\x00" + eth,
          good + b"x" * 13):
    s.sendto(d, ("10.0.66.1", 4789))
print("sent")
PY
	run_tool 0 ip netns exec "$NSA" python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.66.3", 0))
s.sendto(b"\x08\x00\x00\x00\x00\x00\x2a\x00" + b"\xff" * 6 + bytes.fromhex("020000000098") + b"\x08\x06" + b"f" * 46,
         ("10.0.66.1", 4789))
PY
	# The kernel asks for 10.0.42.2 through vx0; the raw port answers.
	ip netns exec "$NSB" busybox ping -c 1 -W 2 10.0.42.2 > /dev/null 2>&1 || true
	run ip -n "$NSB" neigh show 10.0.42.2 dev vx0
	neigh=$output
	run_tool 0 "$VM_NET" status --json lanx
	st=$output
	kill "$vx"
	wait "$vx" || true
	BG_PIDS=${BG_PIDS#"$vx"}
	is "$neigh" "*10.0.42.2 lladdr 52:54:00:42:42:02*" "the kernel learned the raw port's MAC through the tunnel"
	is "$(cat port.log)" "*arp-reply 1*" "the kernel's ARP request reached the switch port"
	is "$(cat vxlan.log)" "*refused: 1 from other addresses, 5 malformed, 1 of other VNIs*" "the hostile datagrams counted"
	# No made-up source MAC from the hostile datagrams was learned.
	[[ $(jq -r '[.ports[].macs[]] | join(" ")' <<<"$st") != *02:00:00:00:00:9* ]]
}

@test "dbt: a guest on a vm-net switch and the kernel's vxlan device in a namespace ping each other; tshark decodes VNI 42" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	command -v tshark >/dev/null || skip "tshark is not installed"
	vxlan_netns
	cd "$BATS_TEST_TMPDIR"
	ip netns exec "$NSB" tshark -q -i vmkxb -w veth.pcap -f "udp port 4789" > tshark.log 2>&1 3>&- &
	BG_PIDS="$!"
	"$VM_NET" switch -d lanx
	ip netns exec "$NSA" "$VM_NET" vxlan --remote 10.0.66.2 --local 10.0.66.1 --vni 42 lanx \
		2> vxlan.log 3>&- &
	BG_PIDS="$BG_PIDS $!"
	wait_for tshark.log "Capturing on" 30 || true
	guest_bg vg "ip addr add 10.0.42.2/24 dev eth0; ip link set eth0 up
n=0; until ping -c 1 -W 1 10.0.42.1 >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done
ping -c 3 10.0.42.1
echo =PING''ED=
sleep 20" --net switch:lanx,model=e1000 --append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	wait_for vg.log "=PINGED=" 250
	run ip netns exec "$NSB" busybox ping -c 3 -W 5 10.0.42.2
	back=$output
	kill_bg
	sleep 1
	is "$(tr -d '\r' < vg.log)" "*3 packets transmitted, 3 packets received*" "the guest pings the kernel's side of the tunnel"
	is "$back" "*3 packets transmitted, 3 packets received*" "the kernel pings the guest through the tunnel"
	run tshark -r veth.pcap -Y 'vxlan.vni == 42 && icmp.type == 8' -T fields -e ip.src -e ip.dst -e udp.dstport
	# (ip.src and ip.dst: the outer address, then the inner one)
	is "$output" "*10.0.66.1,10.0.42.2	10.0.66.2,10.0.42.1	4789*" "the guest's echo requests in vm-net's datagrams: VXLAN VNI 42 to UDP 4789"
	is "$output" "*10.0.66.2,10.0.42.1	10.0.66.1,10.0.42.2	4789*" "the kernel's echo requests, the same way back"
}
