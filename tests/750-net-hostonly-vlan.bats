#!/usr/bin/env bats
# vm-net hostonly (a switch with a DHCP server and no way out) and VLANs
# on switch ports.  Judges: the guest kit's udhcpc, ping and wget; tshark
# reading the DHCP exchange and the 802.1Q tags.  Raw ports (Python
# SEQPACKET sockets) send the malformed tags and hellos.  (The Linux
# kernel's VLAN devices would be the better judge of the tags on a trunk
# tap, but this host's kernel has neither 8021q nor bridge VLAN
# filtering.)

load helpers
load net

setup() {
	net_rt_setup
}

teardown() {
	net_rt_teardown
}

need_dbt() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

@test "hostonly and VLAN options: usage errors and refusals name the problem" {
	run_tool 0 "$VM_NET" hostonly --help
	is "$output" "usage: vm-net hostonly*--subnet*"
	run_tool 2 "$VM_NET" hostonly --subnet 10.0.0.0/8 h0
	is "$output" "vm-net: --subnet: '10.0.0.0/8' is not a subnet a.b.c.d/P with P from 16 to 29"
	run_tool 2 "$VM_NET" hostonly --subnet nonsense h0
	is "$output" "*'nonsense' is not a subnet*"
	run_tool 2 "$VM_NET" plug --vlan 4095 lan0
	is "$output" "vm-net: --vlan: '4095' is not a VLAN (1 to 4094)"
	run_tool 2 "$VM_NET" tap --vlan 0 lan0 tap0
	is "$output" "vm-net: --vlan: '0' is not a VLAN (1 to 4094)"
	run_tool 2 "$VM_NET" plug --vlan 5 --trunk lan0
	is "$output" "usage: vm-net plug*"
	run_tool 2 "$VM_RUN" --kernel /nonexistent --net switch:lan0,vlan=4095
	is "$output" "*--net switch:lan0,vlan=4095: VLAN '4095' is not a number from 1 to 4094*"
	run_tool 2 "$VM_RUN" --kernel /nonexistent --net nat,vlan=5
	is "$output" "*--net nat,vlan=5: a VLAN is for a switch port (switch:NAME)*"
	cd "$BATS_TEST_TMPDIR"
	printf 'networks:\n  - type: nat\n    vlan: 7\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "*vm.yaml:3:11: networks\[0\].vlan: a VLAN is for a switch port (type: switch:NAME), not 'nat'*"
	printf 'networks:\n  - type: switch:lan0\n    vlan: 5000\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "*vm.yaml:3:11: networks\[0\].vlan: 5000 is out of range (1..4094)*"
}

@test "vm-net switch VLANs: access ports of one VLAN only, trunks tagged 802.1Q; bad tags and hellos disturb no one" {
	"$VM_NET" switch -d lanv
	run_tool 0 python3 - "$NETDIR/lanv.sock" "$VM_NET" <<'PY'
import json, socket, struct, subprocess, sys, time
path, vmnet = sys.argv[1:3]
def port(vlan=None, trunk=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.settimeout(5)
    if vlan is not None or trunk:
        s.send(b"VMKP" + struct.pack(">HBB", vlan or 1, 1 if trunk else 0, 0))
    return s
def status():
    return json.loads(subprocess.run([vmnet, "status", "--json", "lanv"],
        capture_output=True, text=True, check=True).stdout)
def got(s):
    s.settimeout(0.3)
    try:
        return s.recv(70000)
    except socket.timeout:
        return None
    finally:
        s.settimeout(5)
BC = b"\xff" * 6
M = [bytes.fromhex("5254000001%02x" % i) for i in range(8)]
a10, b10, c20, d1, t = port(10), port(10), port(20), port(), port(trunk=True)
for _ in range(100):
    if len(status()["ports"]) == 5:
        break
    time.sleep(0.05)
a10.send(BC + M[0] + b"\x08\x06" + b"a" * 46)
f = got(t)
print("a10-bcast b10", len(got(b10) or b""), "c20", got(c20), "d1", got(d1),
      "trunk", f[12:16].hex() if f else None, len(f or b""))
t.send(BC + M[4] + b"\x81\x00\x00\x14" + b"\x08\x06" + b"t" * 46)
print("trunk-vlan20 c20", len(got(c20) or b""), "a10", got(a10), "b10", got(b10), "d1", got(d1))
t.send(BC + M[4] + b"\x08\x06" + b"u" * 46)
print("trunk-untagged d1", len(got(d1) or b""), "a10", got(a10), "c20", got(c20))
# unicast to a learned MAC on another VLAN does not cross
c20.send(M[0] + M[2] + b"\x08\x00" + b"x" * 46)
print("c20-to-a10-mac a10", got(a10), "b10", got(b10))
# bad tags: on an access port, VID 4095, a frame too short for its tag
a10.send(BC + M[0] + b"\x81\x00\x00\x14" + b"\x08\x06" + b"v" * 46)
t.send(BC + M[4] + b"\x81\x00\x0f\xff" + b"\x08\x06" + b"w" * 46)
t.send(BC + M[4] + b"\x81\x00\x00")
print("bad-tags c20", got(c20), "b10", got(b10))
# a hello after frames, and a bad one: those ports are closed
a10.send(b"VMKP\x00\x0a\x00\x00")
bad = port()
bad.send(b"VMKP\x10\x00\x00\x00")
time.sleep(0.3)
st = status()
print("ports", len(st["ports"]))
pt = [p for p in st["ports"] if p["trunk"]][0]
pc = [p for p in st["ports"] if p["vlan"] == 20][0]
print("trunk-dropped", pt["vlan_dropped"], "c20-vlan", pc["vlan"])
while got(t):
    pass
b10.send(M[7] + M[1] + b"\x08\x00")   # b10 still here after all that
f = got(t)
print("still b10->trunk", f[12:16].hex() if f else None)
PY
	is "$output" "*a10-bcast b10 60 c20 None d1 None trunk 8100000a 64*" "an access port's broadcast stays in its VLAN; the trunk gets it tagged 10"
	is "$output" "*trunk-vlan20 c20 60 a10 None b10 None d1 None*" "a frame tagged 20 on the trunk reaches VLAN 20 only, untagged"
	is "$output" "*trunk-untagged d1 60 a10 None c20 None*" "an untagged frame on the trunk is on VLAN 1"
	is "$output" "*c20-to-a10-mac a10 None b10 None*" "a MAC learned on VLAN 10 is not reached from VLAN 20"
	is "$output" "*bad-tags c20 None b10 None*" "bad tags are dropped"
	is "$output" "*ports 4*" "a late hello and a bad hello close only their ports"
	is "$output" "*trunk-dropped 2 c20-vlan 20*" "the trunk counted its 2 bad tags"
	is "$output" "*still b10->trunk 8100000a*" "the switch goes on"
	"$VM_NET" stop lanv
}

@test "dbt: vm-net hostonly: two guests get leases by DHCP and ping each other, with no route anywhere else; tshark reads the DHCP" {
	need_dbt
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" hostonly -d --subnet 192.168.77.0/24 ho0
	"$VM_NET" capture ho0 -w ho0.pcap 3>&- &
	BG_PIDS="$!"
	script="$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh 2>/dev/null
me=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/')
echo addr=\$me
for a in 192.168.77.100 192.168.77.101; do [ \$a = \$me ] && continue; n=0; until ping -c 1 -W 1 \$a >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done; ping -c 3 \$a; done
echo routes=\$(ip route | grep -c default)
ping -c 1 -W 2 10.0.2.2 2>&1 | sed 's/^/out=/'
sleep 6"
	guest_bg h1 "$script" --net switch:ho0
	guest_bg h2 "$script" --net switch:ho0,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	guest_wait h1
	s1=$status o1=$output
	guest_wait h2
	s2=$status o2=$output
	run_tool 0 "$VM_NET" status --json ho0
	st=$output
	"$VM_NET" stop ho0
	is "$s1 $s2" "0 0" "both guests powered off"
	is "$o1$o2" "*addr=192.168.77.10[01]*addr=192.168.77.10[01]*" "both guests got a lease"
	[[ $o1 != *"$(grep -o 'addr=[0-9.]*' <<<"$o2")"* ]]
	is "$o1" "*3 packets transmitted, 3 packets received*" "h1 pings h2"
	is "$o2" "*3 packets transmitted, 3 packets received*" "h2 pings h1"
	is "$o1" "*routes=0*" "no default route from the host-only DHCP"
	is "$o1" "*out=*Network is unreachable*" "the host's side is out of reach"
	is "$(jq -r '.dhcp.server + " " + (.dhcp.leases | length | tostring)' <<<"$st")" "192.168.77.254 2"
	run tshark -r ho0.pcap -Y dhcp
	is "$status" 0 "tshark reads the capture"
	is "$output" "*192.168.77.254 → 255.255.255.255*DHCP*Offer*" "the server's offer"
	is "$output" "*DHCP*ACK*" "the server's ACK"
	run tshark -r ho0.pcap -Y dhcp -V
	[[ $output != *"Option: (3) Router"* ]]
}

@test "dbt: VLANs: guests on VLAN 10 of two switches joined by a trunk plug reach each other, not the guest on VLAN 20; tshark sees the tags" {
	need_dbt
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lana
	"$VM_NET" switch -d lanb
	mkfifo back
	"$VM_NET" plug --trunk lana < back 3>&- | "$VM_NET" plug --trunk lanb > back 3>&- &
	BG_PIDS="$!"
	"$VM_NET" capture lana -w lana.pcap 3>&- &
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 50); do
		[ "$("$VM_NET" status --json lanb | jq '.ports | length')" = 1 ] && break
		sleep 0.1
	done
	# One subnet for all three, so only the VLANs keep g20 apart.
	reach='for a in $PEERS; do n=0; until ping -c 1 -W 1 $a >/dev/null 2>&1 || [ $n -ge 60 ]; do n=$((n+1)); done; ping -c 2 -W 1 $a | grep transmitted | sed "s/^/to-$a: /"; done
for a in $OTHERS; do ping -c 2 -W 1 $a | grep transmitted | sed "s/^/to-$a: /"; done
sleep 6'
	guest_bg ga "ip addr add 10.0.10.1/24 dev eth0; ip link set eth0 up
PEERS=10.0.10.2 OTHERS=10.0.10.3
$reach" --net switch:lana,vlan=10
	printf 'name: gb\nnetworks:\n  - type: switch:lanb\n    model: e1000\n    vlan: 10\n' > gb.yaml
	guest_bg gb "ip addr add 10.0.10.2/24 dev eth0; ip link set eth0 up
PEERS=10.0.10.1 OTHERS=10.0.10.3
$reach" --append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000" gb.yaml
	guest_bg gc "ip addr add 10.0.10.3/24 dev eth0; ip link set eth0 up
PEERS= OTHERS='10.0.10.1 10.0.10.2'
$reach" --net switch:lana,vlan=20
	wait_for gc.log "to-10.0.10.1:" 250
	run_tool 0 "$VM_NET" status --json lana
	st=$output
	guest_wait ga
	sa=$status oa=$output
	guest_wait gb
	sb=$status ob=$output
	guest_wait gc
	sc=$status oc=$output
	"$VM_NET" stop lana
	"$VM_NET" stop lanb
	kill_bg
	is "$sa $sb $sc" "0 0 0" "the three guests powered off"
	is "$oa" "*to-10.0.10.2: 2 packets transmitted, 2 packets received*" "VLAN 10 on lana reaches VLAN 10 on lanb through the trunk"
	is "$ob" "*to-10.0.10.1: 2 packets transmitted, 2 packets received*" "and back"
	is "$oa" "*to-10.0.10.3: 2 packets transmitted, 0 packets received*" "not the guest on VLAN 20 of its own switch"
	is "$ob" "*to-10.0.10.3: 2 packets transmitted, 0 packets received*" "nor across the trunk"
	is "$oc" "*to-10.0.10.1: 2 packets transmitted, 0 packets received*" "VLAN 20 does not reach VLAN 10"
	is "$oc" "*to-10.0.10.2: 2 packets transmitted, 0 packets received*" "nor across the trunk"
	is "$(jq -r '[.ports[] | "\(.vlan):\(.trunk)"] | sort | join(" ")' <<<"$st")" "10:false 1:true 20:false" "lana's ports: VLAN 10, VLAN 20, the trunk"
	run tshark -r lana.pcap -Y 'vlan.id == 10 && icmp.type == 0' -T fields -e vlan.id -e ip.src -e ip.dst
	is "$output" "*10	10.0.10.2	10.0.10.1*" "gb's echo replies, tagged 10"
	run tshark -r lana.pcap -Y 'vlan.id == 20 && arp.opcode == 1' -T fields -e vlan.id -e arp.src.proto_ipv4 -e arp.dst.proto_ipv4
	is "$output" "*20	10.0.10.3	10.0.10.1*" "gc's ARP requests, tagged 20"
	is "$(tshark -r lana.pcap -Y 'vlan.id == 20 && arp.opcode == 2' 2>/dev/null)" "" "nobody answers on VLAN 20"
	is "$(tshark -r lana.pcap -Y '!vlan && (arp || icmp)' 2>/dev/null)" "" "no guest frame untagged in the capture, a trunk's view"
}

@test "dbt: vm-net hostonly keeps its leases in NAME.leases: restarted, it hands the same address back; a damaged file is refused by its line and kept" {
	need_dbt
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" hostonly -d --subnet 192.168.78.0/24 ho1
	guest_bg l1 "$UDHCPC_SCRIPT
for i in eth0 eth1; do ip link set \$i up; udhcpc -i \$i -n -q -s /dhcp.sh 2>/dev/null >/dev/null; echo \$i=\$(ip -4 -o addr show \$i | sed 's/.*inet \([0-9.]*\).*/\1/'); done" \
		--net switch:ho1,mac=52:54:00:78:00:01 --net switch:ho1,mac=52:54:00:78:00:02
	guest_wait l1
	is "$status" 0 "the first guest powered off"
	is "$output" "*eth0=192.168.78.100*eth1=192.168.78.101*" "the first run's leases, in order"
	"$VM_NET" stop ho1
	leases=$NETDIR/ho1.leases
	is "$(grep -v '^#' "$leases")" "52:54:00:78:00:01 192.168.78.100
52:54:00:78:00:02 192.168.78.101" "the leases kept after the stop"
	"$VM_NET" hostonly -d --subnet 192.168.78.0/24 ho1
	# The second MAC alone: a fresh server would give it .100.
	guest_bg l2 "$UDHCPC_SCRIPT
ip link set eth0 up; udhcpc -i eth0 -n -q -s /dhcp.sh 2>/dev/null >/dev/null
echo eth0=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/')" \
		--net switch:ho1,mac=52:54:00:78:00:02
	guest_wait l2
	is "$status" 0 "the second guest powered off"
	is "$output" "*eth0=192.168.78.101*" "the restarted network hands the same address back"
	"$VM_NET" stop ho1
	echo "52:54:00:78:00:03 not-an-address" >> "$leases"
	cp "$leases" before
	run_tool 1 "$VM_NET" hostonly --subnet 192.168.78.0/24 ho1
	is "$output" "vm-net: hostonly ho1: $leases:4: not 'MAC ADDRESS' (a unicast MAC, an IPv4 address) (remove the file to forget the leases)"
	cmp before "$leases"
	run_tool 1 "$VM_NET" status ho1
}
