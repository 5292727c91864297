#!/usr/bin/env bats
# vm-net vxlan against the Linux kernel's own vxlan device, in two network
# namespaces the test makes (joined by a veth pair): a guest kit guest on
# the switch pings the kernel's address behind the vxlan device, and the
# kernel pings the guest; tshark on the veth decodes the VXLAN (RFC 7348)
# datagrams.  Hostile datagrams (short, no I flag, another VNI, from
# another address) are counted and dropped while the tunnel
# carries on.  The same over IPv6, the veth's addresses fd00:66::/64.

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

# arp_port SOCKET MAC IP: a raw port on the switch that answers ARP for
# IP with MAC (hex, no colons), printing "arp-reply N" each time, until
# the switch goes away.  exec: started with &, $! is python itself, which
# the test's teardown kills.
arp_port() {
	exec python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
me = bytes.fromhex(sys.argv[2])
ip = socket.inet_aton(sys.argv[3])
n = 0
while True:
    f = s.recv(70000)
    if not f:
        break
    if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01" and f[38:42] == ip:
        s.send(f[6:12] + me + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02" + me + ip + f[22:32] + b"\x00" * 18)
        n += 1
        print("arp-reply", n, flush=True)
PY
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
	arp_port "$NETDIR/lanx.sock" 525400424202 10.0.42.2 > port.log 2>&1 3>&- &
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

@test "vm-net vxlan over IPv6: the kernel's vxlan device (remote fd00:66::1) and a port of the switch exchange ARP through the tunnel; tshark sees the IPv6 datagrams" {
	command -v tshark >/dev/null || skip "tshark is not installed"
	require_root
	NSA=vmkit-vx6a-$$ NSB=vmkit-vx6b-$$
	ip netns add "$NSA" 2>/dev/null || skip "cannot make a network namespace"
	ip netns add "$NSB"
	ip -n "$NSA" link add vmkxa type veth peer name vmkxb netns "$NSB"
	ip -n "$NSA" addr add fd00:66::1/64 dev vmkxa nodad
	ip -n "$NSA" addr add fd00:66::3/64 dev vmkxa nodad
	ip -n "$NSB" addr add fd00:66::2/64 dev vmkxb nodad
	for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
	ip -n "$NSA" link set vmkxa up
	ip -n "$NSB" link set vmkxb up
	ip -n "$NSB" link add vx6 type vxlan id 43 remote fd00:66::1 local fd00:66::2 \
		dstport 4789 2>/dev/null || skip "the host kernel has no vxlan devices"
	ip -n "$NSB" addr add 10.0.43.1/24 dev vx6
	ip -n "$NSB" link set vx6 up
	cd "$BATS_TEST_TMPDIR"
	ip netns exec "$NSB" tshark -q -i vmkxb -w veth.pcap -f "udp port 4789" > tshark.log 2>&1 3>&- &
	BG_PIDS="$!"
	run_tool 2 "$VM_NET" vxlan --remote fd00:66::2 --local 10.0.0.1 --vni 43 lan6
	is "$output" "vm-net: vxlan: --local and --remote are not both IPv4 or both IPv6"
	run_tool 2 "$VM_NET" vxlan --remote '[fd00:66::2' --vni 43 lan6
	is "$output" "vm-net: --remote: '\[fd00:66::2' is not ADDR\[:PORT\]*"
	"$VM_NET" switch -d lan6
	ip netns exec "$NSA" "$VM_NET" vxlan --remote '[fd00:66::2]:4789' --local '[fd00:66::1]' --vni 43 lan6 \
		2> vxlan.log 3>&- &
	vx=$!
	BG_PIDS="$BG_PIDS $vx"
	arp_port "$NETDIR/lan6.sock" 525400434302 10.0.43.2 > port.log 2>&1 3>&- &
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 50); do
		[ "$("$VM_NET" status --json lan6 | jq '.ports | length')" = 2 ] && break
		sleep 0.1
	done
	wait_for tshark.log "Capturing on" 30 || true
	# A datagram from another IPv6 address is refused.
	run_tool 0 ip netns exec "$NSA" python3 -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("fd00:66::3", 0)); s.sendto(b"\x08\0\0\0\0\0\x2b\0" + b"\xff" * 6 + bytes.fromhex("020000000097") + b"\x08\x06" + b"f" * 46, ("fd00:66::1", 4789))'
	ip netns exec "$NSB" busybox ping -c 1 -W 2 10.0.43.2 > /dev/null 2>&1 || true
	run ip -n "$NSB" neigh show 10.0.43.2 dev vx6
	neigh=$output
	kill "$vx"
	wait "$vx" || true
	sleep 1
	kill_bg
	is "$neigh" "*10.0.43.2 lladdr 52:54:00:43:43:02*" "the kernel learned the port's MAC through the IPv6 tunnel"
	is "$(cat port.log)" "*arp-reply 1*" "the kernel's ARP request reached the switch port"
	is "$(cat vxlan.log)" "*refused: 1 from other addresses, 0 malformed, 0 of other VNIs*" "the stranger's datagram counted"
	tshark -r veth.pcap -Y 'vxlan.vni == 43 && arp' -T fields -e ipv6.src -e ipv6.dst -e udp.dstport -e arp.opcode > f.txt 2>/dev/null
	is "$(cat f.txt)" "*fd00:66::2	fd00:66::1	4789	1*" "the kernel's ARP request in an IPv6 VXLAN datagram"
	is "$(cat f.txt)" "*fd00:66::1	fd00:66::2	4789	2*" "the reply in vm-net's IPv6 datagram, VNI 43 to UDP 4789"
}
