#!/usr/bin/env bats
# vm-net switch and the commands around it.  Ports are played first by
# Python SEQPACKET sockets (learning, flooding, bad frames, a MAC flood, a
# port that dies), then by two guest kit VMs on the DBT that ping each
# other and move a file while vm-net capture records the switch; tshark
# reads the capture.  A QEMU guest joins a switch through vm-net plug.

load helpers
load net

setup() {
	net_rt_setup
}

teardown() {
	net_rt_teardown
}

# ports.py SWITCH: the port checks, one Python script.
ports_py() {
	python3 - "$NETDIR/$1.sock" "$VM_NET" "$1" <<'PY'
import json, socket, subprocess, sys, time
path, vmnet, name = sys.argv[1:4]
def port():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.settimeout(5)
    return s
def status():
    return json.loads(subprocess.run([vmnet, "status", "--json", name],
        capture_output=True, text=True, check=True).stdout)
def quiet(s):
    s.settimeout(0.3)
    try:
        s.recv(70000)
        return False
    except socket.timeout:
        return True
    finally:
        s.settimeout(5)
A, B, C = (bytes.fromhex("5254000000%02x" % i) for i in (1, 2, 3))
BCAST = b"\xff" * 6
a, b, c = port(), port(), port()
for _ in range(100):
    if len(status()["ports"]) == 3:
        break
    time.sleep(0.05)
a.send(BCAST + A + b"\x08\x06" + b"x" * 46)
print("flood", len(b.recv(70000)), len(c.recv(70000)))
b.send(A + B + b"\x08\x00" + b"y" * 46)
print("unicast", len(a.recv(70000)), "c-quiet", quiet(c))
# bad frames from a: too short, too long; then b's next frame still arrives
a.send(b"abc")
a.send(b"z" * 65537)
b.send(A + B + b"\x08\x00" + b"q" * 46)
print("after-bad", len(a.recv(70000)))
# c claims 100 made-up source MACs; a and b stay where they were learned
for i in range(100):
    c.send(BCAST + bytes([2, 0, 0, 0, i // 256, i % 256]) + b"\x08\x06" + b"f" * 46)
for _ in range(100):
    a.recv(70000); b.recv(70000)
c.send(A + C + b"\x08\x00" + b"u" * 46)
print("after-flood", len(a.recv(70000)), "b-quiet", quiet(b))
pa = [p for p in status()["ports"] if "52:54:00:00:00:01" in p["macs"]][0]
pc = [p for p in status()["ports"] if "02:00:00:00:00:00" in p["macs"]][0]
print("a-bad", pa["rx_bad"], "c-refused", pc["macs_refused"] > 0, "c-macs", len(pc["macs"]))
# c dies; a and b go on
c.close()
b.send(A + B + b"\x08\x00" + b"r" * 46)
print("after-death", len(a.recv(70000)))
for _ in range(100):
    if len(status()["ports"]) == 2:
        break
    time.sleep(0.05)
print("ports", len(status()["ports"]))
PY
}

@test "vm-net: usage errors, --help of every command, a switch that is not running" {
	run_tool 2 "$VM_NET"
	is "$output" "usage: vm-net*"
	run_tool 2 "$VM_NET" frobnicate
	is "$output" "vm-net: unknown command 'frobnicate'*"
	for c in switch hostonly list status stop capture plug nat tap vxlan; do
		run_tool 0 "$VM_NET" $c --help
		is "$output" "usage: vm-net $c*"
		run_tool 2 "$VM_NET" $c --no-such-flag
		is "$output" "*usage: vm-net $c*"
	done
	run_tool 2 "$VM_NET" switch ../evil
	is "$output" "*'../evil' is not a switch name*"
	run_tool 1 "$VM_NET" status nosuch
	is "$output" "vm-net: switch nosuch is not running*"
	run_tool 1 "$VM_NET" capture nosuch -w "$BATS_TEST_TMPDIR/x.pcap"
	[ ! -e "$BATS_TEST_TMPDIR/x.pcap" ]
	run_tool 1 "$VM_RUN" --kernel "$GUESTS/hello.elf" --net switch:nosuch </dev/null
	is "$output" "*switch nosuch: cannot connect to*is 'vm-net switch nosuch' running?*"
}

@test "vm-net switch --detach: pidfile, one per name, list, stop removes it all" {
	run_tool 0 "$VM_NET" switch --detach lan0
	pid=$(cat "$NETDIR/lan0.pid")
	kill -0 "$pid"
	run_tool 1 "$VM_NET" switch lan0
	is "$output" "vm-net: switch lan0 is already running*"
	run_tool 0 "$VM_NET" list
	is "$output" "*lan0*$pid*0*"
	run_tool 0 "$VM_NET" list --json
	is "$(jq -r '.[0].name + " " + (.[0].pid|tostring)' <<<"$output")" "lan0 $pid"
	run_tool 0 "$VM_NET" stop lan0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null
	[ ! -e "$NETDIR/lan0.sock" ] && [ ! -e "$NETDIR/lan0.pid" ]
	run_tool 0 "$VM_NET" list
	[[ $output != *lan0* ]]
}

@test "vm-net switch: learning, flooding, bad frames, a MAC flood and a dying port disturb no other port" {
	"$VM_NET" switch -d lan1
	run_tool 0 ports_py lan1
	is "$output" "*flood 60 60*" "a broadcast reaches both other ports"
	is "$output" "*unicast 60 c-quiet True*" "a learned MAC gets its frames alone"
	is "$output" "*after-bad 60*" "bad frames from one port, the others carry on"
	is "$output" "*after-flood 60 b-quiet True*" "a learned MAC survives another port's MAC flood"
	is "$output" "*a-bad 2 c-refused True c-macs 64*" "counters: 2 bad frames, the flooder held to 64 MACs"
	is "$output" "*after-death 60*ports 2*" "a port that dies is removed; the others go on"
	"$VM_NET" stop lan1
}

@test "dbt: two guests on one switch, virtio-net and e1000, ping each other and move a file; tshark reads their ARP and ICMP from vm-net capture" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lan0
	"$VM_NET" capture lan0 -w lan0.pcap 3>&- &
	BG_PIDS="$!"
	# vm1 also serves its /bin over HTTP until vm2 says it is done; vm2
	# fetches busybox from it.
	run1="httpd -p 80 -h /bin; $(ping_peer_cmd 10.0.3.1 10.0.3.2); nc -l -p 9001 </dev/null"
	run2="$(ping_peer_cmd 10.0.3.2 10.0.3.1); wget -q -O - http://10.0.3.1/busybox | md5sum | sed s/^/fetched=/; n=0; until echo done | nc 10.0.3.1 9001 || [ \$n -ge 60 ]; do n=\$((n+1)); sleep 1; done"
	# vm1 has a virtio-net card, vm2 an e1000.
	model1=virtio model2=e1000
	for i in 1 2; do
		eval "cmd=\$run$i model=\$model$i"
		timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M --name vm$i \
			--kernel "$KERNEL" --initrd "$INITRD" --net switch:lan0,model=$model \
			--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000 vmkit.run=\"$cmd\"" \
			</dev/null > vm$i.log 2>&1 3>&- &
		eval "vm${i}_pid=$!"
	done
	wait "$vm1_pid"; s1=$?
	wait "$vm2_pid"; s2=$?
	run_tool 0 "$VM_NET" status --json lan0
	status_json=$output
	"$VM_NET" stop lan0
	wait "$BG_PIDS"
	BG_PIDS=
	is "$s1 $s2" "0 0" "both guests powered off"
	is "$(cat vm1.log)" "*3 packets transmitted, 3 packets received*" "vm1 pings vm2"
	is "$(cat vm2.log)" "*3 packets transmitted, 3 packets received*" "vm2 pings vm1"
	md5=$(md5sum < "$GUESTKIT/busybox" | cut -d' ' -f1)
	is "$(cat vm2.log)" "*fetched=$md5*" "vm2 fetched vm1's busybox over TCP, intact"
	run tshark -r lan0.pcap
	is "$status" 0 "tshark reads the capture"
	is "$output" "*ARP*Who has 10.0.3.2? Tell 10.0.3.1*" "vm1's ARP request"
	is "$output" "*ARP*Who has 10.0.3.1? Tell 10.0.3.2*" "vm2's ARP request"
	is "$output" "*10.0.3.1 → 10.0.3.2*ICMP*Echo (ping) request*" "vm1's echo request"
	is "$output" "*10.0.3.2 → 10.0.3.1*ICMP*Echo (ping) reply*" "vm2's echo reply"
	# Both guests left; their ports are gone and the frames were counted.
	is "$(jq '.ports | length' <<<"$status_json")" 0 "no ports after the VMs exit"
	[ "$(jq .frames <<<"$status_json")" -ge 12 ]
}

@test "vm-net plug: two switches joined through a pipe carry frames both ways; a corrupt stream ends only its plug" {
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d left
	"$VM_NET" switch -d right
	mkfifo back
	"$VM_NET" plug left < back 3>&- | "$VM_NET" plug right > back 3>&- &
	BG_PIDS="$!"
	run_tool 0 python3 - "$NETDIR" "$VM_NET" <<'PY'
import json, socket, subprocess, sys, time
d, vmnet = sys.argv[1:3]
def port(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("%s/%s.sock" % (d, n))
    s.settimeout(5)
    return s
def nports(n):
    return len(json.loads(subprocess.run([vmnet, "status", "--json", n],
        capture_output=True, text=True, check=True).stdout)["ports"])
l, r = port("left"), port("right")
for _ in range(100):
    if nports("left") == 2 and nports("right") == 2:
        break
    time.sleep(0.05)
A, B = bytes.fromhex("525400000001"), bytes.fromhex("525400000002")
l.send(b"\xff" * 6 + A + b"\x08\x06" + b"L" * 46)
f = r.recv(70000)
print("left->right", len(f), f[6:12] == A)
r.send(A + B + b"\x08\x00" + b"R" * 1400)
f = r and l.recv(70000)
print("right->left", len(f), f[14:16] == b"RR")
# a plug whose stdin is not length-prefixed frames
p = subprocess.run([vmnet, "plug", "left"], input=b"\xff\xff\xff\xffjunk",
    capture_output=True)
print("bad-plug", p.returncode, p.stderr.decode().strip())
r.send(A + B + b"\x08\x00" + b"S" * 46)
print("still", len(l.recv(70000)))
PY
	is "$output" "*left->right 60 True*" "a broadcast crosses the plug"
	is "$output" "*right->left 1414 True*" "a unicast comes back"
	is "$output" "*bad-plug 1 vm-net: stdin: a frame length of 4294967295 bytes (not 1 to 65536): not a length-prefixed frame stream*"
	is "$output" "*still 60*" "the pipe between the switches carries on"
	"$VM_NET" stop left
	"$VM_NET" stop right
}

@test "dbt and QEMU: a vm-run guest and a QEMU guest (-netdev stream through vm-net plug) ping each other on one switch" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
	command -v socat >/dev/null || skip "socat is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lanq
	socat UNIX-LISTEN:"$BATS_TEST_TMPDIR/q.sock" EXEC:"$VM_NET plug lanq" 3>&- &
	BG_PIDS="$!"
	for _ in $(seq 50); do [ -S q.sock ] && break; sleep 0.1; done
	timeout 300 qemu-system-x86_64 -accel tcg -M pc -m 256 -nographic -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-netdev stream,id=n0,server=off,addr.type=unix,addr.path="$BATS_TEST_TMPDIR/q.sock" \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:aa:00:01 \
		-append "console=ttyS0 panic=-1 quiet vmkit.run=\"$(ping_peer_cmd 10.0.3.1 10.0.3.2)\"" \
		</dev/null > qemu.log 2>&1 3>&- &
	qpid=$!
	timeout 300 "$VM_RUN" --accel dbt --no-reboot -m 256M --name vmkit \
		--kernel "$KERNEL" --initrd "$INITRD" --net switch:lanq \
		--append "console=ttyS0 panic=-1 quiet vmkit.run=\"$(ping_peer_cmd 10.0.3.2 10.0.3.1)\"" \
		</dev/null > vmkit.log 2>&1 3>&-
	s1=$?
	wait "$qpid"; s2=$?
	"$VM_NET" stop lanq
	is "$s1 $s2" "0 0" "vm-run and QEMU exit 0"
	is "$(tr -d '\r' < qemu.log)" "*3 packets transmitted, 3 packets received*" "QEMU's guest pings vm-run's"
	is "$(cat vmkit.log)" "*3 packets transmitted, 3 packets received*" "vm-run's guest pings QEMU's"
}

@test "dbt: vm-net nat on a switch: a guest on the switch gets 10.0.2.15 by DHCP, reaches the host and is reached through a forward" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	cd "$BATS_TEST_TMPDIR"
	run_tool 2 "$VM_NET" nat --forward tcp:1 lanz
	is "$output" "*--forward: forward 'tcp:1' is not*"
	run_tool 1 "$VM_NET" nat lanz
	is "$output" "*switch lanz: cannot connect*is 'vm-net switch lanz' running?*"
	mkdir www && echo "host-page-$$" > www/index.html
	hport=$(free_port)
	fport=$(free_port)
	python3 -m http.server "$hport" --bind 127.0.0.1 --directory www > http.log 2>&1 3>&- &
	BG_PIDS="$!"
	"$VM_NET" switch -d lanz
	"$VM_NET" nat --forward tcp:$fport:80 lanz 2> nat.log 3>&- &
	natpid=$!
	BG_PIDS="$BG_PIDS $natpid"
	wait_for http.log "Serving HTTP" 20 || true
	guest_bg g1 "$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh
echo addr=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/')
wget -q -O - http://10.0.2.2:$hport/index.html | sed 's/^/got=/'
printf 'HTTP/1.0 200 OK\r\n\r\nguest-page\n' > /r
echo =RE''ADY=
nc -l -p 80 < /r > /dev/null" --net switch:lanz
	wait_for "$BATS_TEST_TMPDIR/g1.log" "=READY=" 200
	got=$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=30).read().decode().strip())' "$fport")
	guest_wait g1
	"$VM_NET" stop lanz
	wait "$natpid"
	is "$?" 0 "vm-net nat ends with its switch"
	is "$status" 0 "the guest powered off"
	is "$output" "*addr=10.0.2.15*" "the shared NAT's DHCP lease"
	is "$output" "*got=host-page-$$*" "the guest reaches the host's loopback through the NAT"
	is "$got" "guest-page" "the host reaches the guest through the forward"
}
